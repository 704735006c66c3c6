/*
 * The query behind GET /v1/contacts: one page of a helpline's contacts, newest first by
 * (started_at, id), with keyset pagination (the page after a position starts strictly below
 * it, so contacts added meanwhile never shift a page: no duplicates, no gaps).
 *
 * Only metadata columns are read: no sealed column appears in the SQL, so a list can never
 * carry a sealed field, and lists are not audited. Categories are the given and mapped ones
 * (suggested categories await confirmation, as in the statistics), aggregated in the same
 * query. The linked case comes from case_contacts (migrations/0007_cases.sql).
 */
#ifndef HL_CONTACT_LIST_H
#define HL_CONTACT_LIST_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "crypto.h"
#include "contacts/record.h"

#define HL_CONTACT_LIST_MAX_CODES 64 /* a top-level category and its subcategories */

/* A category filter finds the page from the category's rows when it has fewer than this many
 * (in every helpline), else by walking the helpline's contacts newest first; see fetch. */
#define HL_CONTACT_LIST_DRIVE_MAX 4000

typedef enum {
    HL_CONTACT_LIST_CASE_ANY = 0,
    HL_CONTACT_LIST_CASE_NONE,
    HL_CONTACT_LIST_CASE_ID
} hl_contact_list_case_t;

/* Every filter is optional (NULL / false: not applied); all of them combine with AND. */
typedef struct hl_contact_list_query {
    int64_t helpline_id;
    const char *counsellor;
    bool has_from, has_to;
    int64_t from_us, to_us;                       /* started_at >= from_us, started_at < to_us */
    const char *codes[HL_CONTACT_LIST_MAX_CODES]; /* a category among these codes */
    size_t n_codes;
    unsigned drive_max; /* HL_CONTACT_LIST_DRIVE_MAX; 0: always walk (tests compare both ways) */
    const char *channel, *contact_type, *urgency;
    hl_contact_list_case_t case_mode;
    const char *case_id; /* HL_CONTACT_LIST_CASE_ID: the case's id (text) */
    bool has_phone;
    uint8_t phone_bidx[HL_CRYPTO_BLIND_INDEX_BYTES]; /* caller_of: this blind index */
    unsigned limit;                                  /* 1..200 */
    bool has_after;                                  /* a cursor: start below this position */
    int64_t after_us;
    uint8_t after_id[HL_RECORD_ID_BYTES];
} hl_contact_list_query_t;

/* The page: ITEMS (api.md's item objects), and when MORE, the position of its last item. */
typedef struct hl_contact_list_page {
    json_t *items;
    bool more;
    int64_t last_us;
    uint8_t last_id[HL_RECORD_ID_BYTES];
} hl_contact_list_page_t;

/* Runs Q on CONN. HL_EDB, HL_ENOMEM. Release OUT->items with json_decref. */
int hl_contact_list_fetch(PGconn *conn, const hl_contact_list_query_t *q,
                          hl_contact_list_page_t *out) HL_MUSTCHECK;

/*
 * The phone number of contact ID (text) of HELPLINE_ID, for caller_of: *HAS_PHONE and BIDX its
 * blind index (never the number), *COUNSELLOR its counsellor (a malloc'd copy, NULL when none).
 * HL_ENOTFOUND (no such contact in the helpline), HL_EDB, HL_ENOMEM.
 */
int hl_contact_list_phone_of(PGconn *conn, int64_t helpline_id, const char *id, bool *has_phone,
                             uint8_t bidx[HL_CRYPTO_BLIND_INDEX_BYTES], char **counsellor) HL_MUSTCHECK;

#endif
