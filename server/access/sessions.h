/*
 * Web sessions (api.md "Web application and sessions"; docs/http-api.md "Sessions").
 *
 * A browser logs in with a user name, a helpline and a password (an Argon2id string in
 * users.password_hash, lib/crypto) and gets a session token in a cookie. The token has an access
 * token's form (selector "." verifier, docs/keys.md section 6); the sessions table keeps its
 * selector and a keyed hash of its verifier, never the token. Every request with the cookie looks
 * the session up (no cache: a logout, a new password or a revocation ends it at once), compares the
 * hash in constant time, and ends it when it has been unused for session_idle or has lived for
 * session_max. last_used_at is written when it is HL_SESSIONS_TOUCH_SECONDS old or more (not on
 * every request), so a session may end up to that much before session_idle after its last use.
 *
 * The CSRF token of a session is a MAC of its selector (lib/crypto): nothing to store, the same
 * for the session's life, unknown to anyone without the daemon's master key.
 */
#ifndef HL_SESSIONS_H
#define HL_SESSIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "crypto.h"
#include "db/dbpool.h"
#include "http/http.h"

#define HL_SESSIONS_TOUCH_SECONDS 15

typedef struct hl_sessions hl_sessions_t;

typedef struct hl_sessions_opts {
    unsigned idle_seconds; /* session_idle */
    unsigned max_seconds;  /* session_max */
} hl_sessions_opts_t;

int hl_sessions_new(hl_crypto_keyring_t *kr, hl_dbpool_t *pool, const hl_sessions_opts_t *opts,
                    hl_sessions_t **out) HL_MUSTCHECK;
void hl_sessions_free(hl_sessions_t *s);

unsigned hl_sessions_max_seconds(const hl_sessions_t *s);

/* Has a session AGE seconds old, unused for IDLE seconds, ended under the limits IDLE_MAX and MAX? */
bool hl_sessions_expired(int64_t age, int64_t idle, unsigned idle_max, unsigned max);

/*
 * The session of cookie value COOKIE: 0 and *OUT (with session_id set); HL_ENOTFOUND when there is
 * none (malformed, unknown, ended, its user revoked); HL_EPERM when it is valid but NEED_CSRF and
 * CSRF (the X-CSRF-Token header, NULL when absent) is not its CSRF token; HL_EDB.
 */
int hl_sessions_check(hl_sessions_t *s, const char *cookie, const char *csrf, bool need_csrf,
                      hl_principal_t *out) HL_MUSTCHECK;

/* The CSRF token of the session in COOKIE (checked already). */
int hl_sessions_csrf(hl_sessions_t *s, const char *cookie, char out[HL_CRYPTO_CSRF_LEN + 1]) HL_MUSTCHECK;

/* How many helplines the daemon serves, and the code of the first (by code): the login's default
 * when there is one. Asked of the database at most every 30 s. */
int hl_sessions_helplines(hl_sessions_t *s, int *n, char code[33]) HL_MUSTCHECK;

/* A login that succeeded: who, the session token for the cookie and its CSRF token. */
typedef struct hl_sessions_login {
    hl_principal_t who;
    char token[HL_CRYPTO_TOKEN_TEXT_LEN + 1];
    char csrf[HL_CRYPTO_CSRF_LEN + 1];
} hl_sessions_login_t;

/*
 * Checks USER's password PW (LEN bytes) in helpline CODE and opens a session, with a `login` audit
 * row: 0 and *OUT (wipe it after use). HL_ECRYPTO for an unknown, revoked or frontend user, one
 * without a password, or a wrong password: the same Argon2id work in every case; OUT->who then
 * holds only the user's user_id and helpline_id when the name is a user's (0 otherwise), for the
 * audit. HL_EDB, HL_ENOMEM. Slow (Argon2id): run it on the hasher (access/hasher.h). Holds no
 * database connection while it hashes. A password stored with an older cost is hashed again with
 * today's.
 */
int hl_sessions_login(hl_sessions_t *s, const char *user, const char *code, const char *pw, size_t len,
                      hl_sessions_login_t *out) HL_MUSTCHECK;

/* Ends WHO's session (logout), with a `logout` audit row. */
int hl_sessions_end(hl_sessions_t *s, const hl_principal_t *who) HL_MUSTCHECK;

#endif
