/*
 * Bearer-token authentication for the HTTP API: token -> principal (user, role, helpline).
 * Tokens are split tokens (docs/keys.md); the check is server/access/users.c's.
 *
 * A cache keyed by the token's selector keeps the database out of the hot path. A cached entry
 * still compares the verifier's keyed hash (constant time) on every request, and is trusted for
 * at most cache_seconds (HL_AUTH_CACHE_SECONDS, config token_cache_seconds) after the database
 * last confirmed it; then the database is asked again, so a revocation reaches the daemon
 * within that time. A token the database refuses is dropped from every list here.
 *
 * While the database cannot be reached, an entry past its time is refused (HL_EDB: 503),
 * with one exception: frontend tokens, which may only post contacts (they go to the spool) and
 * read the taxonomy (routes.c), keep working from a separate list of the frontend tokens the
 * database confirmed in the last HL_TOKENFILE_MAX_AGE. That list is kept in spool_dir
 * (server/contacts/tokenfile.h), so it also serves a daemon restarted during an outage, and a thread
 * re-checks it against the database every cache_seconds, dropping revoked tokens. So every
 * revocation reaches a daemon that can reach the database within cache_seconds; only a
 * revocation made less than cache_seconds before the daemon lost the database can be missed,
 * and then only for frontend intake until the database is back (docs/keys.md section 6).
 *
 * Failed attempts are counted per client address; a burst writes one audit row.
 */
#ifndef HL_AUTH_H
#define HL_AUTH_H

#include "crypto.h"
#include "db/dbpool.h"
#include "http/http.h"

#define HL_AUTH_CACHE_SECONDS  30 /* the default and the largest cache_seconds */
#define HL_AUTH_BURST_FAILURES 10 /* failures from one address within a minute that make a burst */

typedef struct hl_auth hl_auth_t;

typedef struct hl_auth_opts {
    const char *state_dir;  /* where the frontend-tokens file lives (spool_dir); NULL: not kept */
    unsigned cache_seconds; /* 1..HL_AUTH_CACHE_SECONDS; 0: HL_AUTH_CACHE_SECONDS */
} hl_auth_opts_t;

/* Loads the frontend-tokens file from OPTS->state_dir (a missing or unusable one is logged and
 * left out) and starts the thread that re-checks it. */
int hl_auth_new(hl_crypto_keyring_t *kr, hl_dbpool_t *pool, const hl_auth_opts_t *opts,
                hl_auth_t **out) HL_MUSTCHECK;
void hl_auth_free(hl_auth_t *auth);

/* 0 and *OUT; HL_ENOTFOUND for a malformed, unknown, altered or revoked token; HL_EDB when
 * the database cannot be asked (and the token is not one that may be used without it). */
int hl_auth_check(hl_auth_t *auth, const char *token, const char *client_ip,
                  hl_principal_t *out) HL_MUSTCHECK;

/* Forgets every token of user USER_ID this daemon trusts (cache and frontend list): a user revoked
 * through this daemon (DELETE /v1/users/{name}) is refused here at once, not token_cache_seconds
 * later. Other daemons still take up to that long. */
void hl_auth_forget_user(hl_auth_t *auth, int64_t user_id);

#endif
