/*
 * Users and their access tokens (split tokens, docs/keys.md). The token is shown once when
 * the user is added; the users table keeps only its selector and a keyed BLAKE2b hash of
 * its verifier, so a copy of the database (or a backup) holds no usable token.
 */
#ifndef HL_USERS_H
#define HL_USERS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "crypto.h"
#include "util.h"

#define HL_USERS_NAME_MAX 64
#define HL_USERS_CODE_MAX 32

typedef struct hl_user {
    int64_t id;
    int64_t helpline_id;
    char helpline_code[HL_USERS_CODE_MAX + 1];
    char name[HL_USERS_NAME_MAX + 1];
    char role[16]; /* frontend counsellor supervisor network admin */
} hl_user_t;

/* One of the five roles. */
bool hl_users_role_valid(const char *role);

/* 1..64 of [A-Za-z0-9._-], starting with a letter or digit (the users table's check). */
bool hl_users_name_valid(const char *name);

/*
 * Adds user NAME with ROLE to helpline HELPLINE_CODE and writes its new token (shown to no
 * one else, stored nowhere) to TOKEN. *USER_ID (may be NULL) gets the new id.
 * HL_EINVAL bad name or role, HL_ENOTFOUND no such helpline, HL_EEXIST the name is taken
 * in that helpline, HL_EDB.
 */
int hl_users_add(PGconn *conn, hl_crypto_keyring_t *kr, const char *helpline_code, const char *name,
                 const char *role, char token[HL_CRYPTO_TOKEN_TEXT_LEN + 1], int64_t *user_id) HL_MUSTCHECK;

/*
 * Revokes user NAME (in HELPLINE_CODE, or NULL when the name is in one helpline only): its token,
 * its web password and its sessions, in one statement. HL_ENOTFOUND no such user, HL_ECONFLICT
 * the name is in several helplines and no code was given, HL_EDB. Revoking twice is fine:
 * *ALREADY (may be NULL) tells. *USER_ID (may be NULL) gets the user's id.
 */
int hl_users_revoke(PGconn *conn, const char *name, const char *helpline_code, bool *already,
                    int64_t *user_id) HL_MUSTCHECK;

/*
 * Sets the web password of user NAME (HELPLINE_CODE as for revoke) to HASH, an Argon2id string
 * (hl_crypto_password_hash), and ends the user's sessions but session KEEP_SESSION (0: all), in
 * one statement. HL_ENOTFOUND no such user or revoked, HL_ECONFLICT several helplines and no
 * code, HL_EPERM a frontend user (machines have tokens, not passwords), HL_EDB. *USER_ID and
 * *HELPLINE_ID (may be NULL) get the user's ids.
 */
int hl_users_set_password(PGconn *conn, const char *name, const char *helpline_code, const char *hash,
                          int64_t keep_session, int64_t *user_id, int64_t *helpline_id) HL_MUSTCHECK;

/* One user of a helpline as the admin API lists it: never a hash or a token. */
typedef struct hl_user_info {
    char name[HL_USERS_NAME_MAX + 1];
    char role[16];
    char created_at[32]; /* RFC 3339, UTC */
    bool revoked;
    bool has_password;
} hl_user_info_t;

/* Every user of helpline HELPLINE_ID by name: *OUT (free()) and *N. HL_EDB, HL_ENOMEM. */
int hl_users_list(PGconn *conn, int64_t helpline_id, hl_user_info_t **out, size_t *n) HL_MUSTCHECK;

/*
 * Checks a bearer token: the selector finds the row, the verifier's keyed hash is compared
 * in constant time. Missing, malformed, unknown, altered and revoked tokens all give the
 * same HL_ECRYPTO (and are counted); HL_EDB when the database cannot answer.
 */
int hl_users_authenticate(PGconn *conn, hl_crypto_keyring_t *kr, const char *token,
                          hl_user_t *out) HL_MUSTCHECK;

/*
 * Which of N tokens, given by SELECTORS and keyed verifier HASHES (as the users table stores
 * them), still belong to an unrevoked frontend user: LIVE[i] is set to true or false for each.
 * One query (N <= HL_USERS_CONFIRM_MAX). HL_EDB when the database cannot answer (LIVE is then
 * left alone).
 */
#define HL_USERS_CONFIRM_MAX 4096
int hl_users_frontends_live(PGconn *conn, const uint8_t (*selectors)[HL_CRYPTO_TOKEN_SELECTOR_BYTES],
                            const uint8_t (*hashes)[HL_CRYPTO_TOKEN_HASH_BYTES], size_t n,
                            bool *live) HL_MUSTCHECK;

#endif
