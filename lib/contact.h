/*
 * The contact record and its strict JSON codec (api.md "POST /v1/contacts", "PATCH").
 *
 * This module knows nothing about HTTP, the database, the taxonomy or crypto: it turns a
 * request body into an hl_contact_t (or a precise error naming the JSON Pointer of the
 * first bad field) and an hl_contact_t back into the api.md JSON shape. Category codes are
 * checked for syntax only; the taxonomy module checks that they exist.
 *
 * Sensitive fields (child.name, caller.name, caller.phone, summary, transcript) are held in
 * plaintext in the struct; hl_contact_free wipes every string with sodium_memzero before
 * freeing it. docs/contact-format.md has the full format, limits, error order and what the
 * codec can and cannot wipe.
 *
 * Ownership: hl_contact_parse* and hl_contact_new give the caller an hl_contact_t to free
 * with hl_contact_free. hl_contact_to_json gives a new json_t reference: release it with
 * hl_contact_json_free when it holds sensitive fields. Enum name helpers return static
 * strings. Everything here is thread-safe (no global state).
 */
#ifndef HL_CONTACT_H
#define HL_CONTACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"

/* Limits. "chars" are Unicode code points; summary/transcript limits are bytes of UTF-8. */
#define HL_CONTACT_SOURCE_SYSTEM_MAX    64  /* chars, at least 1 */
#define HL_CONTACT_SOURCE_ID_MAX        128 /* chars, at least 1 */
#define HL_CONTACT_COUNSELLOR_MAX       64  /* chars, at least 1: [A-Za-z0-9._-] */
#define HL_CONTACT_NAME_MAX             200 /* chars, at least 1: child.name, caller.name */
#define HL_CONTACT_PHONE_MIN            3   /* chars */
#define HL_CONTACT_PHONE_MAX            32  /* chars: digits, space, + - ( ) . ; >= 3 digits */
#define HL_CONTACT_AGE_MAX              25  /* child.age 0..25 */
#define HL_CONTACT_MAX_CATEGORIES       8
#define HL_CONTACT_CODE_MAX             128 /* bytes of one category code */
#define HL_CONTACT_MAX_LOCAL_CATEGORIES 8
#define HL_CONTACT_LOCAL_CATEGORY_MAX   200 /* chars, at least 1 */
#define HL_CONTACT_MAX_ACTIONS          16
#define HL_CONTACT_SUMMARY_MAX          65536   /* bytes (64 KiB), may be empty */
#define HL_CONTACT_TRANSCRIPT_MAX       1048576 /* bytes (1 MiB), may be empty */

/* Error codes (api.md). hl_contact_error_t.code points at one of these static strings. */
#define HL_CONTACT_ERR_BAD_JSON      "bad_json"
#define HL_CONTACT_ERR_UNKNOWN_FIELD "unknown_field"
#define HL_CONTACT_ERR_INVALID_FIELD "invalid_field"
#define HL_CONTACT_ERR_MISSING_FIELD "missing_field"

#define HL_CONTACT_ERR_MESSAGE_LEN 320
#define HL_CONTACT_ERR_FIELD_LEN   256

/*
 * What went wrong with a request body. The message names the field and the rule, never
 * the submitted value. field is an RFC 6901 JSON Pointer into the request ("" is the whole
 * body; has_field is false for JSON syntax errors, where no field applies). A pointer
 * longer than HL_CONTACT_ERR_FIELD_LEN - 1 bytes (only possible for a long unknown key) is
 * cut at a UTF-8 character boundary; an unknown key is cut at an embedded NUL.
 */
typedef struct hl_contact_error {
    const char *code; /* HL_CONTACT_ERR_* */
    char message[HL_CONTACT_ERR_MESSAGE_LEN];
    char field[HL_CONTACT_ERR_FIELD_LEN];
    bool has_field;
} hl_contact_error_t;

/* Whether an optional field was in the JSON: absent (PATCH: leave it), null, or a value. */
typedef enum { HL_CONTACT_ABSENT = 0, HL_CONTACT_NULL = 1, HL_CONTACT_SET = 2 } hl_contact_presence_t;

typedef enum {
    HL_CONTACT_CHANNEL_PHONE = 0,
    HL_CONTACT_CHANNEL_SMS,
    HL_CONTACT_CHANNEL_CHAT,
    HL_CONTACT_CHANNEL_MESSAGING_APP,
    HL_CONTACT_CHANNEL_SOCIAL_MEDIA,
    HL_CONTACT_CHANNEL_EMAIL,
    HL_CONTACT_CHANNEL_WALK_IN,
    HL_CONTACT_CHANNEL_LETTER,
    HL_CONTACT_CHANNEL_OTHER,
    HL_CONTACT_N_CHANNELS
} hl_channel_t;

/* The first three are counselling contacts, the rest non-counselling. */
typedef enum {
    HL_CONTACT_TYPE_COUNSELLING = 0,
    HL_CONTACT_TYPE_INFORMATION,
    HL_CONTACT_TYPE_REFERRAL,
    HL_CONTACT_TYPE_SILENT,
    HL_CONTACT_TYPE_HANG_UP,
    HL_CONTACT_TYPE_MISSED,
    HL_CONTACT_TYPE_ABUSIVE,
    HL_CONTACT_TYPE_PRANK,
    HL_CONTACT_TYPE_WRONG_NUMBER,
    HL_CONTACT_TYPE_THANK_YOU,
    HL_CONTACT_TYPE_OTHER,
    HL_CONTACT_N_TYPES
} hl_contact_type_t;

typedef enum {
    HL_CONTACT_GENDER_GIRL = 0,
    HL_CONTACT_GENDER_BOY,
    HL_CONTACT_GENDER_NON_BINARY,
    HL_CONTACT_GENDER_UNKNOWN,
    HL_CONTACT_N_GENDERS
} hl_gender_t;

typedef enum {
    HL_CONTACT_REGION_URBAN = 0,
    HL_CONTACT_REGION_TOWN,
    HL_CONTACT_REGION_RURAL,
    HL_CONTACT_REGION_UNKNOWN,
    HL_CONTACT_N_REGIONS
} hl_region_t;

typedef enum {
    HL_CONTACT_REL_SELF = 0,
    HL_CONTACT_REL_PARENT,
    HL_CONTACT_REL_CAREGIVER,
    HL_CONTACT_REL_RELATIVE,
    HL_CONTACT_REL_SIBLING,
    HL_CONTACT_REL_FRIEND,
    HL_CONTACT_REL_PARTNER,
    HL_CONTACT_REL_TEACHER,
    HL_CONTACT_REL_PROFESSIONAL,
    HL_CONTACT_REL_NEIGHBOUR,
    HL_CONTACT_REL_STRANGER,
    HL_CONTACT_REL_OTHER,
    HL_CONTACT_REL_UNKNOWN,
    HL_CONTACT_N_RELATIONSHIPS
} hl_relationship_t;

/*
 * Action taken, from the CHI "Action taken / intervention" list (taxonomy.md §B.3):
 *   direct_intervention          Direct interventions by the child helpline
 *   resources_recommended        Recommendations of resources
 *   referral.child_protection    Referrals to child protection agencies
 *   referral.healthcare          Referrals to general healthcare services
 *   referral.law_enforcement     Referrals to law enforcement agencies
 *   referral.mental_health       Referrals to mental health services
 *   referral.other_organisation  Referrals to other organisations
 *   referral.school_counsellor   Referrals to school counsellors
 *   report.csam                  Reports of child sexual abuse material
 *   other                        Other
 */
typedef enum {
    HL_CONTACT_ACTION_DIRECT_INTERVENTION = 0,
    HL_CONTACT_ACTION_RESOURCES_RECOMMENDED,
    HL_CONTACT_ACTION_REFERRAL_CHILD_PROTECTION,
    HL_CONTACT_ACTION_REFERRAL_HEALTHCARE,
    HL_CONTACT_ACTION_REFERRAL_LAW_ENFORCEMENT,
    HL_CONTACT_ACTION_REFERRAL_MENTAL_HEALTH,
    HL_CONTACT_ACTION_REFERRAL_OTHER_ORGANISATION,
    HL_CONTACT_ACTION_REFERRAL_SCHOOL_COUNSELLOR,
    HL_CONTACT_ACTION_REPORT_CSAM,
    HL_CONTACT_ACTION_OTHER,
    HL_CONTACT_N_ACTIONS
} hl_action_t;

typedef enum {
    HL_CONTACT_URGENCY_NON_CRITICAL = 0,
    HL_CONTACT_URGENCY_URGENT,
    HL_CONTACT_URGENCY_CRITICAL,
    HL_CONTACT_N_URGENCIES
} hl_urgency_t;

/* Statistics age bands (api.md): 0-6 7-9 10-12 13-15 16-17 18-25 unknown. */
typedef enum {
    HL_CONTACT_AGE_0_6 = 0,
    HL_CONTACT_AGE_7_9,
    HL_CONTACT_AGE_10_12,
    HL_CONTACT_AGE_13_15,
    HL_CONTACT_AGE_16_17,
    HL_CONTACT_AGE_18_25,
    HL_CONTACT_AGE_UNKNOWN,
    HL_CONTACT_N_AGE_BANDS
} hl_age_band_t;

/*
 * A contact. Each has_X says whether X was in the JSON; the value is meaningful only when
 * has_X == HL_CONTACT_SET (strings are then non-NULL, NUL-terminated, owned by the struct).
 * After hl_contact_parse the required fields (source, channel, contact_type, started_at)
 * are always SET. After hl_contact_parse_patch only the fields in the PATCH body are
 * non-ABSENT, and source/channel/started_at/ended_at/counsellor/transcript are ABSENT.
 * Timestamps are microseconds since 1970-01-01T00:00:00Z.
 */
typedef struct hl_contact {
    hl_contact_presence_t has_source;
    struct {
        char *system; /* 1..64 chars */
        char *id;     /* 1..128 chars */
    } source;
    hl_contact_presence_t has_channel;
    hl_channel_t channel;
    hl_contact_presence_t has_contact_type;
    hl_contact_type_t contact_type;
    hl_contact_presence_t has_started_at;
    int64_t started_at;
    hl_contact_presence_t has_ended_at;
    int64_t ended_at; /* >= started_at */
    hl_contact_presence_t has_counsellor;
    char *counsellor;

    hl_contact_presence_t has_child;
    struct {
        hl_contact_presence_t has_age;
        int age; /* 0..25 */
        hl_contact_presence_t has_gender;
        hl_gender_t gender;
        hl_contact_presence_t has_region;
        hl_region_t region;
        hl_contact_presence_t has_name;
        char *name; /* sensitive */
    } child;

    hl_contact_presence_t has_caller;
    struct {
        hl_contact_presence_t has_relationship;
        hl_relationship_t relationship;
        hl_contact_presence_t has_phone;
        char *phone; /* sensitive */
        hl_contact_presence_t has_name;
        char *name; /* sensitive */
    } caller;

    hl_contact_presence_t has_categories;
    size_t n_categories;
    char *categories[HL_CONTACT_MAX_CATEGORIES]; /* syntactically valid codes, no repeats */
    hl_contact_presence_t has_local_categories;
    size_t n_local_categories;
    char *local_categories[HL_CONTACT_MAX_LOCAL_CATEGORIES]; /* no repeats */
    hl_contact_presence_t has_actions;
    size_t n_actions;
    hl_action_t actions[HL_CONTACT_MAX_ACTIONS]; /* in request order, no repeats */
    hl_contact_presence_t has_urgency;
    hl_urgency_t urgency;
    hl_contact_presence_t has_summary;
    char *summary; /* sensitive */
    hl_contact_presence_t has_transcript;
    char *transcript; /* sensitive */

    hl_contact_presence_t has_confirm_suggested; /* PATCH only; never NULL */
    bool confirm_suggested;                      /* {"confirm_suggested": true} */
} hl_contact_t;

/* A zeroed contact (every field ABSENT), to fill by hand. HL_ENOMEM or 0. */
int hl_contact_new(hl_contact_t **out) HL_MUSTCHECK;

/* Wipes every string the contact owns (sodium_memzero), frees them and C. NULL: no-op. */
void hl_contact_free(hl_contact_t *c);

/*
 * Parses a POST /v1/contacts body (LEN bytes, need not be NUL-terminated). Returns 0 and
 * *OUT on success; HL_EINVAL with *ERR filled (when ERR is not NULL) for bad input;
 * HL_ENOMEM when memory ran out (ERR untouched). The first error in the documented order
 * wins (docs/contact-format.md "Error order").
 */
int hl_contact_parse(const char *body, size_t len, hl_contact_t **out, hl_contact_error_t *err) HL_MUSTCHECK;

/*
 * Parses a PATCH /v1/contacts/{id} body: any of categories local_categories child caller
 * actions urgency summary contact_type, and confirm_suggested (a boolean). Other POST fields
 * are rejected as unknown_field ("cannot be changed"); an empty object is missing_field at
 * "". A given child or caller object replaces the stored one as a whole; null clears a
 * field. Same return values as hl_contact_parse.
 */
int hl_contact_parse_patch(const char *body, size_t len, hl_contact_t **out,
                           hl_contact_error_t *err) HL_MUSTCHECK;

/*
 * The api.md JSON of C (a new reference): SET fields with their value, NULL fields as null,
 * ABSENT fields left out; without INCLUDE_SENSITIVE, child.name, caller.name, caller.phone,
 * summary and transcript are left out. Timestamps are RFC 3339 UTC with "Z": seconds, or
 * six fraction digits when the microseconds are not zero. confirm_suggested appears when
 * SET (a parsed PATCH). NULL when out of memory or when C holds an out-of-range enum, timestamp or
 * count, or a string jansson refuses (invalid UTF-8).
 */
json_t *hl_contact_to_json(const hl_contact_t *c, bool include_sensitive);

/* Overwrites every string value inside J with zeros (J must be yours alone). NULL: no-op. */
void hl_contact_json_wipe(json_t *j);

/* hl_contact_json_wipe then json_decref. NULL: no-op. */
void hl_contact_json_free(json_t *j);

/* Field-by-field equality, presence included (values of non-SET fields are ignored). */
bool hl_contact_equal(const hl_contact_t *a, const hl_contact_t *b);

/* RFC 3339 timestamp with offset -> microseconds since the epoch (UTC). false if invalid. */
bool hl_contact_time_parse(const char *s, size_t len, int64_t *out_us) HL_MUSTCHECK;

#define HL_CONTACT_TIME_LEN 28 /* "YYYY-MM-DDTHH:MM:SS.ffffffZ" + NUL */
/* Microseconds since the epoch -> RFC 3339 UTC ("Z"). false outside years 0001..9999. */
bool hl_contact_time_format(int64_t us, char buf[HL_CONTACT_TIME_LEN]) HL_MUSTCHECK;

/*
 * Vocabulary helpers: *_name gives the api.md string (static) or NULL when out of range;
 * *_parse maps an exact api.md string to the enum (false when unknown; *OUT untouched).
 */
const char *hl_contact_channel_name(hl_channel_t v);
bool hl_contact_channel_parse(const char *s, hl_channel_t *out) HL_MUSTCHECK;
const char *hl_contact_type_name(hl_contact_type_t v);
bool hl_contact_type_parse(const char *s, hl_contact_type_t *out) HL_MUSTCHECK;
const char *hl_contact_gender_name(hl_gender_t v);
bool hl_contact_gender_parse(const char *s, hl_gender_t *out) HL_MUSTCHECK;
const char *hl_contact_region_name(hl_region_t v);
bool hl_contact_region_parse(const char *s, hl_region_t *out) HL_MUSTCHECK;
const char *hl_contact_relationship_name(hl_relationship_t v);
bool hl_contact_relationship_parse(const char *s, hl_relationship_t *out) HL_MUSTCHECK;
const char *hl_contact_action_name(hl_action_t v);
bool hl_contact_action_parse(const char *s, hl_action_t *out) HL_MUSTCHECK;
const char *hl_contact_urgency_name(hl_urgency_t v);
bool hl_contact_urgency_parse(const char *s, hl_urgency_t *out) HL_MUSTCHECK;
const char *hl_contact_age_band_name(hl_age_band_t v);
bool hl_contact_age_band_parse(const char *s, hl_age_band_t *out) HL_MUSTCHECK;

/* counselling, information, referral: true; the non-counselling types: false. */
bool hl_contact_type_is_counselling(hl_contact_type_t t);

/* The statistics band of an age; anything outside 0..25 (pass -1 for unknown) is UNKNOWN. */
hl_age_band_t hl_contact_age_band(int age);

/* The band of C's child: UNKNOWN unless child and child.age are SET. */
hl_age_band_t hl_contact_child_age_band(const hl_contact_t *c);

#endif
