/*
 * Bearer-token authentication for the HTTP API: token -> principal (user, role, helpline).
 * Tokens are split tokens (docs/keys.md); the check is server/users.c's. A short-lived cache
 * keyed by the token's selector keeps the database out of the hot path: a cached entry
 * still verifies the verifier (constant time) on every request, and lives at most
 * HL_AUTH_CACHE_SECONDS, so a revoked token stops working within that time. While the
 * database cannot be reached, an expired entry is still accepted (revocations cannot arrive
 * then), so front ends go on posting into the spool through an outage; a token never seen
 * before gets HL_EDB (503).
 * Failed attempts are counted per client address; a burst writes one audit row.
 */
#ifndef HL_AUTH_H
#define HL_AUTH_H

#include "crypto.h"
#include "dbpool.h"
#include "http.h"

#define HL_AUTH_CACHE_SECONDS  30
#define HL_AUTH_BURST_FAILURES 10 /* failures from one address within a minute that make a burst */

typedef struct hl_auth hl_auth_t;

int hl_auth_new(hl_crypto_keyring_t *kr, hl_dbpool_t *pool, hl_auth_t **out) HL_MUSTCHECK;
void hl_auth_free(hl_auth_t *auth);

/* 0 and *OUT; HL_ENOTFOUND for a malformed, unknown, altered or revoked token; HL_EDB when
 * the database cannot be asked. */
int hl_auth_check(hl_auth_t *auth, const char *token, const char *client_ip,
                  hl_principal_t *out) HL_MUSTCHECK;

#endif
