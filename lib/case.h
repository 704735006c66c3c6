/*
 * Cases (api.md "Cases"): their vocabularies, the status machine, and the strict JSON codec of
 * the request bodies (POST and PATCH /v1/cases, notes, referrals, referral states).
 *
 * Like lib/contact, this module knows nothing about HTTP, the database or crypto. A parse
 * gives a struct or the first error, naming its field with a JSON Pointer (the contact codec's
 * hl_contact_error_t and codes); messages never quote a submitted value. The free text
 * (label, summary, note text, referral organisation and details) is sensitive:
 * hl_case_input_free wipes it.
 */
#ifndef HL_CASE_H
#define HL_CASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "contact.h"
#include "util.h"

#define HL_CASE_LABEL_MAX        200   /* characters, at least 1, one line */
#define HL_CASE_SUMMARY_MAX      65536 /* bytes, may be empty */
#define HL_CASE_NOTE_MAX         65536 /* bytes, at least 1 */
#define HL_CASE_ORGANISATION_MAX 200   /* characters, at least 1, one line */
#define HL_CASE_DETAILS_MAX      65536 /* bytes, may be empty */
#define HL_CASE_MAX_CONTACTS     100   /* contacts linked by one POST /v1/cases */
#define HL_CASE_UUID_LEN         36

/* 409 codes (api.md). */
#define HL_CASE_ERR_INVALID_TRANSITION "invalid_transition"
#define HL_CASE_ERR_ALREADY_LINKED     "already_linked"

typedef enum { HL_CASE_OPEN = 0, HL_CASE_IN_PROGRESS, HL_CASE_CLOSED, HL_CASE_N_STATUSES } hl_case_status_t;

typedef enum {
    HL_CASE_PRIORITY_LOW = 0,
    HL_CASE_PRIORITY_NORMAL,
    HL_CASE_PRIORITY_HIGH,
    HL_CASE_PRIORITY_CRITICAL,
    HL_CASE_N_PRIORITIES
} hl_case_priority_t;

typedef enum {
    HL_REFERRAL_MADE = 0,
    HL_REFERRAL_ACCEPTED,
    HL_REFERRAL_DECLINED,
    HL_REFERRAL_COMPLETED,
    HL_REFERRAL_N_STATES
} hl_referral_state_t;

typedef enum {
    HL_CASE_ENTRY_CONTACT = 0,
    HL_CASE_ENTRY_NOTE,
    HL_CASE_ENTRY_REFERRAL,
    HL_CASE_ENTRY_STATUS,
    HL_CASE_N_ENTRY_KINDS
} hl_case_entry_kind_t;

/* api.md names (static strings; NULL out of range) and back (false: unknown, *OUT untouched). */
const char *hl_case_status_name(hl_case_status_t v);
bool hl_case_status_parse(const char *s, hl_case_status_t *out) HL_MUSTCHECK;
const char *hl_case_priority_name(hl_case_priority_t v);
bool hl_case_priority_parse(const char *s, hl_case_priority_t *out) HL_MUSTCHECK;
const char *hl_referral_state_name(hl_referral_state_t v);
bool hl_referral_state_parse(const char *s, hl_referral_state_t *out) HL_MUSTCHECK;
const char *hl_case_entry_kind_name(hl_case_entry_kind_t v);
bool hl_case_entry_kind_parse(const char *s, hl_case_entry_kind_t *out) HL_MUSTCHECK;

/* Whether action A is one of the referral.* codes a referral may go to. */
bool hl_case_is_referral(hl_action_t a);

/* The status machine: open -> in_progress -> closed, open -> closed, closed -> in_progress
 * (reopen). Anything else, staying put included, is a forbidden move (409). */
bool hl_case_transition_ok(hl_case_status_t from, hl_case_status_t to);

/* A referral's state may change to any other state (an agency's answer is recorded as it
 * comes, and a mistake is corrected by a further change); the same state again is refused. */
bool hl_referral_change_ok(hl_referral_state_t from, hl_referral_state_t to);

/* Which request body a parse reads. */
typedef enum {
    HL_CASE_BODY_CREATE = 0,    /* POST /v1/cases */
    HL_CASE_BODY_PATCH,         /* PATCH /v1/cases/{id} */
    HL_CASE_BODY_NOTE,          /* POST /v1/cases/{id}/notes */
    HL_CASE_BODY_REFERRAL,      /* POST /v1/cases/{id}/referrals */
    HL_CASE_BODY_REFERRAL_STATE /* PATCH /v1/cases/{id}/referrals/{rid} */
} hl_case_body_t;

/*
 * A parsed body: each has_X says whether X was in it (ABSENT, NULL or SET); values are
 * meaningful when SET. Strings are NUL-terminated and owned by the struct.
 *   CREATE: label (required), summary, priority, follow_up_at, assigned_to, contacts.
 *   PATCH:  label, summary, priority, follow_up_at, assigned_to, status; at least one.
 *   NOTE:   text (required).
 *   REFERRAL: to (required), organisation, details, state.
 *   REFERRAL_STATE: state (required).
 * label, priority, status, text, to and state cannot be null; the others can (null clears).
 */
typedef struct hl_case_input {
    hl_contact_presence_t has_label;
    char *label; /* sensitive */
    hl_contact_presence_t has_summary;
    char *summary; /* sensitive */
    hl_contact_presence_t has_priority;
    hl_case_priority_t priority;
    hl_contact_presence_t has_follow_up_at;
    int64_t follow_up_at; /* microseconds since the epoch */
    hl_contact_presence_t has_assigned_to;
    char *assigned_to; /* a user name */
    hl_contact_presence_t has_status;
    hl_case_status_t status;
    size_t n_contacts; /* distinct contact ids, lower case */
    char contacts[HL_CASE_MAX_CONTACTS][HL_CASE_UUID_LEN + 1];

    char *text; /* note, sensitive */

    hl_action_t to; /* a referral.* action */
    hl_contact_presence_t has_organisation;
    char *organisation; /* sensitive */
    hl_contact_presence_t has_details;
    char *details; /* sensitive */
    hl_contact_presence_t has_state;
    hl_referral_state_t state;
} hl_case_input_t;

/* Parses BODY (LEN bytes) as KIND: 0 and *OUT; HL_EINVAL with *ERR for bad input; HL_ENOMEM. */
int hl_case_parse(hl_case_body_t kind, const char *body, size_t len, hl_case_input_t **out,
                  hl_contact_error_t *err) HL_MUSTCHECK;

/* Wipes the strings and frees IN; NULL is a no-op. */
void hl_case_input_free(hl_case_input_t *in);

/* Whether S is a UUID in text form (8-4-4-4-12 hex digits, either case). */
bool hl_case_uuid_valid(const char *s, size_t len);

#endif
