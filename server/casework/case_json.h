/*
 * The JSON of a case and of its timeline entries (api.md "Cases"), for what the reader may see:
 * HL_CASE_VIEW_METADATA (another counsellor of the helpline; list items), HL_CASE_VIEW_PLAIN
 * (supervisors: everything but sealed fields) or HL_CASE_VIEW_SEALED (the case's creator or
 * assignee, admins: sealed fields opened). Opening is the caller's audit row's business: call
 * these with HL_CASE_VIEW_SEALED only after it was written.
 */
#ifndef HL_CASE_JSON_H
#define HL_CASE_JSON_H

#include <jansson.h>

#include "casework/cases.h"

typedef enum { HL_CASE_VIEW_METADATA = 0, HL_CASE_VIEW_PLAIN, HL_CASE_VIEW_SEALED } hl_case_view_t;

/* The case's fields (id status priority follow_up_at assigned_to created_by created_at updated_at
 * closed_at contacts_count, and label and summary in the sealed view). *OUT is a new object;
 * HL_ECRYPTO when a sealed field does not open, HL_ENOMEM. */
int hl_case_json(hl_crypto_keyring_t *kr, const hl_case_row_t *c, hl_case_view_t view,
                 json_t **out) HL_MUSTCHECK;

/* The reply of GET /v1/cases/{id}: the fields of hl_case_json and "timeline", the N entries E
 * of case C in an array, each with its id kind at by and, in the plain and sealed views, the
 * fields of its kind. Written as compact JSON text into *OUT (*LEN bytes and a NUL), not built
 * as jansson objects: a 200-entry timeline is about 126 kB, and jansson took most of the
 * request's CPU time in helplined. Release it with hl_crypto_wipe_free(*OUT, *LEN). Same
 * errors, and HL_EIO for text that is not UTF-8. */
int hl_case_reply_text(hl_crypto_keyring_t *kr, const hl_case_row_t *c, const hl_case_entry_t *e, size_t n,
                       hl_case_view_t view, char **out, size_t *len) HL_MUSTCHECK;

/* A time in microseconds as an RFC 3339 string (null when !SET). */
json_t *hl_case_time_json(bool set, int64_t us);

#endif
