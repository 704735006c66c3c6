/*
 * The audit log: who read or changed which contact or case, when. Rows hold ids and an action
 * name, never the data (design.md invariant 1). The table is append-only (migration 0002).
 */
#ifndef HL_AUDIT_H
#define HL_AUDIT_H

#include <libpq-fe.h>
#include <stdint.h>

#include "util.h"

#define HL_AUDIT_READ_SENSITIVE "read_sensitive"
#define HL_AUDIT_READ           "read"
#define HL_AUDIT_UPDATE         "update"
#define HL_AUDIT_LOGIN_FAILURES "login_failure_burst"
#define HL_AUDIT_UNLINK         "unlink" /* a contact taken out of a case */
/* Web sessions and the users admin API (docs/http-api.md "Sessions", "Users"). */
#define HL_AUDIT_LOGIN           "login"
#define HL_AUDIT_LOGOUT          "logout"
#define HL_AUDIT_LOGIN_THROTTLED "login_throttled" /* a login name or an address first slowed down */
#define HL_AUDIT_USER_ADD        "user_add"        /* detail: the new user's id and role */
#define HL_AUDIT_USER_REVOKE     "user_revoke"     /* detail: the user's id */
#define HL_AUDIT_PASSWORD_SET    "password_set"    /* detail: the user's id */

/* Appends one row; CONTACT_ID (text UUID) and DETAIL may be NULL, HELPLINE_ID/USER_ID 0 for none.
 * DETAIL must never hold personal data (counts, ids, an IP address of a machine at most). */
int hl_audit_write(PGconn *conn, int64_t helpline_id, int64_t user_id, const char *action,
                   const char *contact_id, const char *detail) HL_MUSTCHECK;

/* The same about case CASE_ID (text UUID; audit_log.case_id, migration 0007), and one of its
 * contacts when CONTACT_ID is not NULL. */
int hl_audit_write_case(PGconn *conn, int64_t helpline_id, int64_t user_id, const char *action,
                        const char *case_id, const char *contact_id, const char *detail) HL_MUSTCHECK;

#endif
