/*
 * Shared secrets for webhook front ends (migration 0004, docs/front-ends.md): a random
 * 256-bit secret per helpline and system, shown once when set; the table keeps only its
 * keyed hash (lib/crypto's token hash). A presented secret is hashed and looked up by its
 * hash, then compared in constant time.
 */
#ifndef HL_INGEST_SECRETS_H
#define HL_INGEST_SECRETS_H

#include <libpq-fe.h>
#include <stdint.h>

#include "crypto.h"
#include "util.h"

#define HL_INGEST_SECRET_LEN 43 /* base64url of 32 bytes, no padding */
#define HL_INGEST_SYSTEM_MAX 64
#define HL_INGEST_CODE_MAX   32

/* [a-z0-9_-]{1,64}: the systems the daemon has an ingest endpoint for are "rocketchat". */
bool hl_ingest_system_valid(const char *system);

/*
 * Sets (or replaces) the secret of HELPLINE_CODE for SYSTEM and writes the new secret to
 * SECRET (shown once, stored nowhere). HL_ENOTFOUND no such helpline, HL_EINVAL bad system,
 * HL_EDB.
 */
int hl_ingest_secret_set(PGconn *conn, hl_crypto_keyring_t *kr, const char *helpline_code, const char *system,
                         char secret[HL_INGEST_SECRET_LEN + 1]) HL_MUSTCHECK;

/* Removes the secret of HELPLINE_CODE for SYSTEM: 0, HL_ENOTFOUND (none), HL_EDB. */
int hl_ingest_secret_remove(PGconn *conn, const char *helpline_code, const char *system) HL_MUSTCHECK;

/*
 * Which helpline PRESENTED (the header value, NULL when missing) is the SYSTEM secret of:
 * 0 with *HELPLINE_ID and CODE; HL_ECRYPTO for a missing, malformed or unknown secret (all
 * the same work and answer, counted as token failures); HL_EDB.
 */
int hl_ingest_secret_check(PGconn *conn, hl_crypto_keyring_t *kr, const char *system, const char *presented,
                           int64_t *helpline_id, char code[HL_INGEST_CODE_MAX + 1]) HL_MUSTCHECK;

#endif
