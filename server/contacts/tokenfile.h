/*
 * The frontend-tokens file: what a daemon needs to accept front ends' contacts (which go to
 * the spool) after a restart while PostgreSQL is unreachable (server/access/auth.c, docs/keys.md
 * section 6). One file per daemon, in spool_dir. For each frontend token the daemon has
 * checked against the database it holds the token's selector, the keyed hash of its verifier
 * exactly as the users table stores it (never the token or the verifier), the principal, and
 * when the database last confirmed the token.
 *
 * The whole list is one sealed envelope (lib/crypto, AD "auth" / "frontend-tokens" / format
 * version), so without the keys the file can be neither read nor changed: nobody can add a
 * token, move one to another helpline or make an old one look fresh. It is written whole: a
 * temporary file (mode 0600), fsync, rename, fsync of the directory.
 */
#ifndef HL_TOKENFILE_H
#define HL_TOKENFILE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "http/http.h"

#define HL_TOKENFILE_NAME        "frontend-tokens"
#define HL_TOKENFILE_MAX_ENTRIES 1024
#define HL_TOKENFILE_MAX_AGE     (7 * 24 * 3600) /* seconds after the last confirmation */

typedef struct hl_tokenfile_entry {
    uint8_t selector[HL_CRYPTO_TOKEN_SELECTOR_BYTES];
    uint8_t hash[HL_CRYPTO_TOKEN_HASH_BYTES]; /* the users table's token_hash */
    int64_t validated_at;                     /* seconds since the epoch */
    hl_principal_t principal;                 /* role frontend */
} hl_tokenfile_entry_t;

/*
 * Replaces DIR/frontend-tokens with the N (<= HL_TOKENFILE_MAX_ENTRIES) ENTRIES, each of role
 * frontend (else HL_EINVAL), sealed under KR's current key. 0 once the new file and its
 * directory entry are fsync'd; HL_EIO (logged) otherwise, the old file then stays.
 */
int hl_tokenfile_save(const char *dir, hl_crypto_keyring_t *kr, const hl_tokenfile_entry_t *entries,
                      size_t n) HL_MUSTCHECK;

/*
 * Reads DIR/frontend-tokens into *OUT (malloc'd, *N entries; free with free()), leaving out
 * entries confirmed more than HL_TOKENFILE_MAX_AGE before NOW or dated more than a day after
 * it. HL_ENOTFOUND when there is no file, HL_ECRYPTO when it does not open with KR (altered,
 * or sealed under a key that is gone), HL_EINVAL when it is malformed, HL_EIO, HL_ENOMEM.
 */
int hl_tokenfile_load(const char *dir, hl_crypto_keyring_t *kr, int64_t now, hl_tokenfile_entry_t **out,
                      size_t *n) HL_MUSTCHECK;

#endif
