/*
 * A sealed contact record: everything the writer stores for one contact, with every
 * sensitive field already sealed (lib/crypto envelopes) and the phone number reduced to
 * its blind index. This is what crosses from the HTTP handlers to the writer, and what
 * the spool keeps on disk while PostgreSQL is unreachable: it holds no plaintext
 * sensitive field, ever (design.md invariant 1).
 *
 * Ownership: a record and everything it points to belong to whoever holds it; hl_writer_submit
 * takes it over. hl_record_free(NULL) is a no-op.
 */
#ifndef HL_RECORD_H
#define HL_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "contact.h"
#include "util.h"

#define HL_RECORD_ID_BYTES       16 /* a UUID (version 4, random) */
#define HL_RECORD_UUID_LEN       36 /* text form, without the NUL */
#define HL_RECORD_BIDX_BYTES     16 /* = HL_CRYPTO_BLIND_INDEX_BYTES */
#define HL_RECORD_MAX_CATEGORIES 32 /* given + mapped + suggested, after de-duplication */
#define HL_RECORD_MAX_TERMS      64
#define HL_RECORD_CODE_MAX       128
#define HL_RECORD_TERM_MAX       64
#define HL_RECORD_VERSION_MAX    32

typedef enum {
    HL_CATEGORY_GIVEN = 0,    /* in the request's categories */
    HL_CATEGORY_MAPPED = 1,   /* from a local label through the helpline's mapping */
    HL_CATEGORY_SUGGESTED = 2 /* from terms found in the text; not counted until confirmed */
} hl_category_source_t;

typedef enum { HL_TERM_IN_SUMMARY = 0, HL_TERM_IN_TRANSCRIPT = 1 } hl_term_field_t;

typedef struct hl_record_category {
    char code[HL_RECORD_CODE_MAX];
    hl_category_source_t source;
} hl_record_category_t;

typedef struct hl_record_term {
    char term_id[HL_RECORD_TERM_MAX];
    hl_term_field_t field;
    uint32_t occurrences;
} hl_record_term_t;

/* A sealed envelope; data NULL means the field is absent (SQL NULL). */
typedef struct hl_sealed {
    uint8_t *data;
    size_t len;
} hl_sealed_t;

typedef struct hl_record {
    uint8_t id[HL_RECORD_ID_BYTES];
    int64_t helpline_id;
    int64_t created_by; /* users.id of the poster; 0 when unknown (replayed before users existed) */
    char *source_system;
    char *source_id;
    hl_channel_t channel;
    hl_contact_type_t contact_type;
    int64_t started_at; /* microseconds since the epoch */
    bool has_ended_at;
    int64_t ended_at;
    char *counsellor; /* NULL: none */

    int child_age;           /* -1: none */
    int child_gender;        /* hl_gender_t, -1: none */
    int child_region;        /* hl_region_t, -1: none */
    int caller_relationship; /* hl_relationship_t, -1: none */
    int urgency;             /* hl_urgency_t, -1: none */
    size_t n_actions;
    hl_action_t actions[HL_CONTACT_MAX_ACTIONS];
    size_t n_local_categories;
    char *local_categories[HL_CONTACT_MAX_LOCAL_CATEGORIES];

    hl_sealed_t child_name;
    hl_sealed_t caller_name;
    hl_sealed_t caller_phone;
    hl_sealed_t summary;
    hl_sealed_t transcript;
    bool has_phone_bidx;
    uint8_t phone_bidx[HL_RECORD_BIDX_BYTES];

    char taxonomy_version[HL_RECORD_VERSION_MAX];
    size_t n_categories;
    hl_record_category_t categories[HL_RECORD_MAX_CATEGORIES];
    size_t n_terms;
    hl_record_term_t terms[HL_RECORD_MAX_TERMS];
} hl_record_t;

/* A zeroed record with every optional field "none" (-1 / NULL). */
int hl_record_new(hl_record_t **out) HL_MUSTCHECK;
void hl_record_free(hl_record_t *rec);

/* A new random (version 4) id, and the text form of an id ("xxxxxxxx-xxxx-...", NUL-terminated). */
void hl_record_new_id(uint8_t id[HL_RECORD_ID_BYTES]);
void hl_record_id_to_text(const uint8_t id[HL_RECORD_ID_BYTES], char out[HL_RECORD_UUID_LEN + 1]);
bool hl_record_id_from_text(const char *text, uint8_t id[HL_RECORD_ID_BYTES]) HL_MUSTCHECK;

/* Whether REC is well formed: required strings present, enums and counts in range, fixed-size
 * strings NUL-terminated, child_age -1 or 0..HL_CONTACT_AGE_MAX, timestamps in years 0001..9999. Encode
 * refuses, and decode never returns, a record that is not. (Database rules such as string lengths are not
 * checked.) */
bool hl_record_valid(const hl_record_t *rec) HL_MUSTCHECK;

/* The spool's byte form of a record (versioned, self-delimiting, checked on decode), and back.
 * *OUT is malloc'd; decode refuses anything malformed with HL_EINVAL. */
int hl_record_encode(const hl_record_t *rec, uint8_t **out, size_t *outlen) HL_MUSTCHECK;
int hl_record_decode(const uint8_t *buf, size_t len, hl_record_t **out) HL_MUSTCHECK;

#endif
