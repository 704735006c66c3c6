/*
 * The case store (migrations/0007_cases.sql): cases, their timelines, referrals and linked
 * contacts, with sealed fields as binary bytea, through hl_dbpool_exec: statements run on their
 * own (a GET's, a note's) are prepared once per session. Every write but a note runs inside the
 * caller's transaction; the handlers (handlers_cases.c) make each request one transaction.
 *
 * Sealing: every sealed case field is a lib/crypto envelope whose associated data is
 * (table, column, record id) with the record id "<case id>" for the case's own fields and
 * "<case id>/<entry or referral id>" for the others (docs/keys.md, "Case fields"). So a note
 * copied onto another entry, another case or another column does not open. The ids are the
 * lower-case text UUIDs PostgreSQL prints.
 */
#ifndef HL_CASES_H
#define HL_CASES_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "case.h"
#include "crypto.h"
#include "contacts/record.h"

#define HL_CASES_NAME_MAX 64 /* a user name */

/* The sealed columns: table and column of each, as the AD names them. */
#define HL_CASES_TABLE     "cases"
#define HL_CASES_ENTRIES   "case_entries"
#define HL_CASES_REFERRALS "referrals"

/* One case row; label and summary are the envelopes as stored (data NULL: none, or not read). */
typedef struct hl_case_row {
    char id[HL_RECORD_UUID_LEN + 1];
    int64_t helpline_id;
    int64_t created_by;
    char created_by_name[HL_CASES_NAME_MAX + 1];
    int64_t assigned_to; /* 0: nobody */
    char assigned_to_name[HL_CASES_NAME_MAX + 1];
    hl_case_status_t status;
    hl_case_priority_t priority;
    bool has_follow_up;
    int64_t follow_up_at; /* microseconds since the epoch, like every time here */
    int64_t created_at, updated_at;
    bool has_closed;
    int64_t closed_at;
    int64_t contacts_count;
    hl_sealed_t label, summary;
} hl_case_row_t;

void hl_case_row_clear(hl_case_row_t *c);

/* Seals PT (NULL: *OUT becomes "none") for TABLE.COLUMN of case CASE_ID and SUB_ID (an entry
 * or referral id; NULL for the case's own fields). */
int hl_cases_seal(hl_crypto_keyring_t *kr, const char *table, const char *column, const char *case_id,
                  const char *sub_id, const char *pt, hl_sealed_t *out) HL_MUSTCHECK;

/* Opens CT (data NULL: *PT NULL) sealed by hl_cases_seal with the same names. HL_ECRYPTO when it
 * does not open (logged with the ids). Release *PT with hl_crypto_wipe_free(*PT, *PTLEN). */
int hl_cases_open(hl_crypto_keyring_t *kr, const char *table, const char *column, const char *case_id,
                  const char *sub_id, const hl_sealed_t *ct, char **pt, size_t *ptlen) HL_MUSTCHECK;

/* Case ID of HELPLINE_ID (FOR UPDATE when asked), with its sealed fields when WITH_SEALED.
 * HL_ENOTFOUND: no such case in that helpline. */
int hl_cases_load(PGconn *conn, int64_t helpline_id, const char *id, bool for_update, bool with_sealed,
                  hl_case_row_t *out) HL_MUSTCHECK;

/* The caller of a case request, and which cases it may write (handlers_cases.c, is_writer): an
 * admin every case of its helpline, a counsellor those it created or is assigned. */
typedef struct hl_case_caller {
    int64_t helpline_id; /* cases of other helplines are not found */
    int64_t user_id;     /* users.id: the audit row's, the entry's author */
    bool any_case;       /* writes every case of the helpline (an admin) */
    int64_t writer_id;   /* writes the cases it created or is assigned (a counsellor's id); 0: none */
} hl_case_caller_t;

/* Case ID of WHO's helpline with its sealed fields, not locked, and, when WHO writes it, in the
 * same statement and transaction (committed before the row is returned) the audit row of
 * AUDIT_ACTION for WHO's read (*AUDITED). HL_ENOTFOUND: no such case in that helpline. */
int hl_cases_read(PGconn *conn, const hl_case_caller_t *who, const char *id, const char *audit_action,
                  hl_case_row_t *out, bool *audited) HL_MUSTCHECK;

/* A user of HELPLINE_ID by name (revoked ones too): *ID, *ROLE ("counsellor", ...) and whether
 * it is *REVOKED. HL_ENOTFOUND when there is none. */
int hl_cases_user(PGconn *conn, int64_t helpline_id, const char *name, int64_t *id, char role[16],
                  bool *revoked) HL_MUSTCHECK;

/* Contact CONTACT_ID of HELPLINE_ID: its counsellor's name into COUNSELLOR ("" when none).
 * HL_ENOTFOUND: no such contact in that helpline. */
int hl_cases_contact(PGconn *conn, int64_t helpline_id, const char *contact_id,
                     char counsellor[HL_CASES_NAME_MAX + 1]) HL_MUSTCHECK;

/* Inserts C (id, helpline_id, created_by, assigned_to, priority, follow-up, label, summary);
 * status open. */
int hl_cases_insert(PGconn *conn, const hl_case_row_t *c) HL_MUSTCHECK;

/* What hl_cases_update writes. */
enum {
    HL_CASES_LABEL = 1 << 0,
    HL_CASES_SUMMARY = 1 << 1,
    HL_CASES_PRIORITY = 1 << 2,
    HL_CASES_FOLLOW_UP = 1 << 3,
    HL_CASES_ASSIGNED = 1 << 4,
    HL_CASES_STATUS = 1 << 5 /* and closed_at: now() when closed, NULL otherwise */
};

/* Writes the CHANGED columns of C and stamps updated_at (CHANGED 0: only updated_at). */
int hl_cases_update(PGconn *conn, const hl_case_row_t *c, unsigned changed) HL_MUSTCHECK;

/* A timeline entry to append (the fields of its kind) or one read back. */
typedef struct hl_case_entry {
    char id[HL_RECORD_UUID_LEN + 1];
    hl_case_entry_kind_t kind;
    int64_t at;
    int64_t seq;                         /* read back only: the order of entries of one time */
    int64_t by;                          /* users.id */
    char by_name[HL_CASES_NAME_MAX + 1]; /* read back only */
    hl_sealed_t text;                    /* note */
    char contact_id[HL_RECORD_UUID_LEN + 1];
    bool unlinked;
    int channel, contact_type; /* read back: the linked contact's, -1 when unknown */
    char *categories_json;     /* read back: its counted category codes, a JSON array */
    char referral_id[HL_RECORD_UUID_LEN + 1];
    hl_action_t referral_to;
    hl_referral_state_t referral_state;
    hl_sealed_t organisation, details; /* read back: the referral's */
    int status_from;                   /* -1: none (the entry of a new case) */
    hl_case_status_t status_to;
} hl_case_entry_t;

/* Appends E (a new id) to case CASE_ID; E->at gets its time. */
int hl_cases_add_entry(PGconn *conn, const char *case_id, hl_case_entry_t *e) HL_MUSTCHECK;

/* A note to append: E (a new id, its sealed text, its author E->by) to case CASE_ID of WHO's
 * helpline, when WHO writes the case. RC: HL_OK (E->at has its time), HL_EPERM (WHO does not
 * write it) or HL_ENOTFOUND (no such case in that helpline); nothing is written for those. */
typedef struct hl_case_note {
    const hl_case_caller_t *who;
    const char *case_id;
    hl_case_entry_t *e;
    int rc;
} hl_case_note_t;

#define HL_CASES_NOTES_MAX 32

/* Appends the N notes NOTES (1..HL_CASES_NOTES_MAX) in their order, and stamps the updated_at
 * of each case written, in one statement of its own (autocommit: call it outside a transaction)
 * and so one commit; each note's RC. Whether a caller writes a case is decided on the case row
 * as it is once locked. Any other error is the whole batch's, and nothing is written. */
int hl_cases_add_notes(PGconn *conn, hl_case_note_t *notes, size_t n) HL_MUSTCHECK;

/* The timeline of CASE_ID ordered by (at, seq): *OUT (free with hl_case_entries_free), *N.
 * Outside a transaction it runs as a prepared statement. */
int hl_cases_timeline(PGconn *conn, const char *case_id, hl_case_entry_t **out, size_t *n) HL_MUSTCHECK;
void hl_case_entries_free(hl_case_entry_t *e, size_t n);

/* Links CONTACT_ID to CASE_ID by USER_ID. *LINKED: a new link; otherwise HOLDER gets the case
 * that already holds the contact (CASE_ID itself, or another one: already_linked). */
int hl_cases_link(PGconn *conn, const char *case_id, const char *contact_id, int64_t user_id, bool *linked,
                  char holder[HL_RECORD_UUID_LEN + 1]) HL_MUSTCHECK;

/* Unlinks CONTACT_ID from CASE_ID; HL_ENOTFOUND when it is not linked to that case. */
int hl_cases_unlink(PGconn *conn, const char *case_id, const char *contact_id) HL_MUSTCHECK;

/* A referral of a case. */
typedef struct hl_referral_row {
    char id[HL_RECORD_UUID_LEN + 1];
    hl_action_t to;
    hl_referral_state_t state;
    hl_sealed_t organisation, details;
    int64_t created_by;
} hl_referral_row_t;

int hl_cases_add_referral(PGconn *conn, const char *case_id, const hl_referral_row_t *r) HL_MUSTCHECK;

/* Referral RID of case CASE_ID, locked FOR UPDATE (sealed fields not read). HL_ENOTFOUND. */
int hl_cases_lock_referral(PGconn *conn, const char *case_id, const char *rid,
                           hl_referral_row_t *out) HL_MUSTCHECK;

int hl_cases_set_referral_state(PGconn *conn, const char *rid, hl_referral_state_t state) HL_MUSTCHECK;

/* GET /v1/cases: the filters of one page. */
typedef struct hl_case_filter {
    int64_t helpline_id;
    int status;   /* hl_case_status_t, -1: any */
    int priority; /* hl_case_priority_t, -1: any */
    enum { HL_CASES_ANYONE = 0, HL_CASES_ASSIGNED_TO, HL_CASES_UNASSIGNED } assigned;
    int64_t assigned_to;
    bool has_follow_up_before;
    int64_t follow_up_before; /* follow_up_at < this */
    bool has_after;           /* the page starts after (after_created, after_id) */
    int64_t after_created;
    uint8_t after_id[HL_RECORD_ID_BYTES];
    int limit; /* rows to read */
} hl_case_filter_t;

/* Newest first by (created_at, id), without sealed fields: *OUT (clear each and free), *N. */
int hl_cases_list(PGconn *conn, const hl_case_filter_t *f, hl_case_row_t **out, size_t *n) HL_MUSTCHECK;

#endif
