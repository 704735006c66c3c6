/*
 * Field encryption, keys, blind indexes, report signatures and access tokens.
 *
 * The only module that includes <sodium.h> (other modules may use sodium_memzero and
 * sodium_memcmp). The formats are specified in docs/keys.md; every format has a
 * known-answer test in tests/unit/test_crypto.c, so changing one breaks a test.
 *
 * Keys live in sodium_malloc memory that is PROT_NONE when idle and read-only while in
 * use (a reader count: the first user makes it readable, the last one makes it
 * inaccessible again; hl_crypto_keyring_pin keeps it readable for a serving daemon).
 * Every function here is thread-safe unless it says otherwise.
 *
 * A failed open or verify returns HL_ECRYPTO and nothing else: the caller never learns
 * whether the key id, the tag, the length or the associated data was wrong. Each failure
 * is counted (hl_crypto_failures) for /metrics.
 */
#ifndef HL_CRYPTO_H
#define HL_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define HL_CRYPTO_KEY_BYTES 32 /* master key files, rotated key files, signing seed files */

/* Sealed field envelope: version(1) || key_id(u32 LE) || nonce(24) || ciphertext || tag(16). */
#define HL_CRYPTO_ENVELOPE_VERSION  1
#define HL_CRYPTO_NONCE_BYTES       24
#define HL_CRYPTO_HEADER_BYTES      (1 + 4 + HL_CRYPTO_NONCE_BYTES)
#define HL_CRYPTO_TAG_BYTES         16
#define HL_CRYPTO_OVERHEAD          (HL_CRYPTO_HEADER_BYTES + HL_CRYPTO_TAG_BYTES) /* 45 */
#define HL_CRYPTO_MAX_PLAINTEXT     (1024u * 1024u)                                /* 1 MiB per field */
#define HL_CRYPTO_SEALED_LEN(ptlen) ((size_t)(ptlen) + HL_CRYPTO_OVERHEAD)
#define HL_CRYPTO_AD_PART_MAX       255 /* longest table, column or record id */

#define HL_CRYPTO_BLIND_INDEX_BYTES 16 /* truncated keyed BLAKE2b; see docs/keys.md */
#define HL_CRYPTO_PHONE_DIGITS_MAX  15 /* E.164 */

#define HL_CRYPTO_SIGN_PK_BYTES   32 /* Ed25519 */
#define HL_CRYPTO_SIGN_BYTES      64
#define HL_CRYPTO_SIGN_KEY_ID_LEN 16 /* hex of the first 8 bytes of BLAKE2b-256(pk) */
#define HL_CRYPTO_SIGN_PK_B64_LEN 44 /* standard base64 with padding, without the NUL */
#define HL_CRYPTO_SIGN_B64_LEN    88

#define HL_CRYPTO_TOKEN_SELECTOR_BYTES 16
#define HL_CRYPTO_TOKEN_VERIFIER_BYTES 32
#define HL_CRYPTO_TOKEN_HASH_BYTES     32
#define HL_CRYPTO_TOKEN_TEXT_LEN       66 /* base64url(selector) "." base64url(verifier), no padding */

/* ---- library ---------------------------------------------------------------------------- */

/* Initialises libsodium; call it before anything else (it is idempotent). HL_ECRYPTO when
 * the library cannot initialise (no entropy source). */
int hl_crypto_init(void) HL_MUSTCHECK;

/* Sets RLIMIT_CORE to 0 so no core dump can hold key material. Loading a key does it. */
int hl_crypto_disable_core_dumps(void) HL_MUSTCHECK;

typedef enum {
    HL_CRYPTO_FAIL_OPEN = 0, /* a sealed field did not open */
    HL_CRYPTO_FAIL_SIGNATURE = 1,
    HL_CRYPTO_FAIL_TOKEN = 2,    /* access and session tokens, CSRF tokens */
    HL_CRYPTO_FAIL_PASSWORD = 3, /* web passwords */
    HL_CRYPTO_FAIL_KINDS = 4
} hl_crypto_failure_t;

/* Failed opens/verifies since start: one kind, or all of them with HL_CRYPTO_FAIL_KINDS. */
uint64_t hl_crypto_failures(hl_crypto_failure_t kind);

/* Standard base64 with padding (URL false) or base64url without padding (URL true).
 * Encode writes a NUL-terminated string; OUT needs hl_crypto_b64_len(N, URL) + 1 bytes.
 * Decode is strict: no whitespace, no trailing data; *OUTLEN gets the decoded length. */
size_t hl_crypto_b64_len(size_t n, bool url);
int hl_crypto_b64_encode(const uint8_t *in, size_t n, bool url, char *out, size_t outcap) HL_MUSTCHECK;
int hl_crypto_b64_decode(const char *in, size_t inlen, bool url, uint8_t *out, size_t outcap,
                         size_t *outlen) HL_MUSTCHECK;

/* ---- key files ------------------------------------------------------------------------ */

/* Writes 32 random bytes to PATH with mode 0400. Refuses an existing file (HL_EEXIST). */
int hl_crypto_keygen_file(const char *path) HL_MUSTCHECK;

/* Reads a 32-byte key file into OUT (sodium_malloc memory of HL_CRYPTO_KEY_BYTES, which
 * the caller releases with hl_crypto_secret_free). Refuses a file that is not regular,
 * not exactly 32 bytes, or readable/writable by group or others (HL_EPERM), with a
 * message naming the file and its mode. Disables core dumps. */
int hl_crypto_read_key_file(const char *path, uint8_t **out) HL_MUSTCHECK;
void hl_crypto_secret_free(uint8_t *secret);

/* ---- keyring ---------------------------------------------------------------------------- */

/*
 * The master key (key_file, key id 1) and the rotated field keys in the directory
 * "<key_file>.d" (NNNNNNNN.key files of 32 bytes, mode 0400, and "current" naming the
 * id new data is sealed with). Blind index, token and signing keys always derive from
 * the master key; field keys derive from their own key file. See docs/keys.md.
 */
typedef struct hl_crypto_keyring hl_crypto_keyring_t;

int hl_crypto_keyring_load(const char *key_file, hl_crypto_keyring_t **out) HL_MUSTCHECK;

/* A keyring with only MASTER as key id 1 (current). For tests and tools. */
int hl_crypto_keyring_new(const uint8_t master[HL_CRYPTO_KEY_BYTES], hl_crypto_keyring_t **out) HL_MUSTCHECK;

/* Adds field key ID with root key ROOT (id >= 2, not yet present); MAKE_CURRENT seals new
 * data with it. Not thread-safe: only while nobody else uses KR. */
int hl_crypto_keyring_add(hl_crypto_keyring_t *kr, uint32_t id, const uint8_t root[HL_CRYPTO_KEY_BYTES],
                          bool make_current) HL_MUSTCHECK;

void hl_crypto_keyring_free(hl_crypto_keyring_t *kr);

uint32_t hl_crypto_keyring_current(const hl_crypto_keyring_t *kr);
bool hl_crypto_keyring_has(const hl_crypto_keyring_t *kr, uint32_t id);

/* Keeps the key memory readable until unpin (calls nest). A daemon pins once while it
 * serves, so each seal/open costs no mprotect system call. */
void hl_crypto_keyring_pin(hl_crypto_keyring_t *kr);
void hl_crypto_keyring_unpin(hl_crypto_keyring_t *kr);

/* Creates a new key file in "<key_file>.d" with the next id and makes it current.
 * Running processes see it after they reload the keyring. *NEW_ID gets the id. */
int hl_crypto_keyring_rotate(const char *key_file, uint32_t *new_id) HL_MUSTCHECK;

/* ---- sealed fields ------------------------------------------------------------------------ */

/* Where a sealed value lives; bound into the associated data, so a ciphertext copied to
 * another table, column or record does not open. Each part 1..255 bytes. */
typedef struct hl_crypto_ad {
    const char *table;
    const char *column;
    const char *record_id; /* the row's id as text (contacts: the UUID string) */
} hl_crypto_ad_t;

/* Seals PT (PTLEN <= HL_CRYPTO_MAX_PLAINTEXT) under the current key id with a fresh random
 * nonce into OUT (OUTCAP >= HL_CRYPTO_SEALED_LEN(PTLEN)); *OUTLEN gets the length. */
int hl_crypto_seal(hl_crypto_keyring_t *kr, const hl_crypto_ad_t *ad, const uint8_t *pt, size_t ptlen,
                   uint8_t *out, size_t outcap, size_t *outlen) HL_MUSTCHECK;

/* FOR KNOWN-ANSWER TESTS ONLY: hl_crypto_seal with a given key id and nonce. Never call
 * it with a fixed nonce anywhere else. */
int hl_crypto_seal_with_nonce(hl_crypto_keyring_t *kr, uint32_t key_id,
                              const uint8_t nonce[HL_CRYPTO_NONCE_BYTES], const hl_crypto_ad_t *ad,
                              const uint8_t *pt, size_t ptlen, uint8_t *out, size_t outcap,
                              size_t *outlen) HL_MUSTCHECK;

/* Opens CT into OUT (OUTCAP >= CTLEN - HL_CRYPTO_OVERHEAD). HL_ECRYPTO for anything
 * wrong with CT (counted); HL_EINVAL only for bad arguments (AD parts, OUTCAP). The
 * caller wipes OUT with sodium_memzero when done. */
int hl_crypto_open(hl_crypto_keyring_t *kr, const hl_crypto_ad_t *ad, const uint8_t *ct, size_t ctlen,
                   uint8_t *out, size_t outcap, size_t *outlen) HL_MUSTCHECK;

/* hl_crypto_open into a new buffer with a NUL after the plaintext; release it with
 * hl_crypto_wipe_free(*OUT, *OUTLEN). */
int hl_crypto_open_alloc(hl_crypto_keyring_t *kr, const hl_crypto_ad_t *ad, const uint8_t *ct, size_t ctlen,
                         char **out, size_t *outlen) HL_MUSTCHECK;

/* Wipes LEN bytes and frees P; NULL is a no-op. */
void hl_crypto_wipe_free(void *p, size_t len);

/* The key id of an envelope (no authentication: only to pick rows for re-encryption). */
int hl_crypto_envelope_key_id(const uint8_t *ct, size_t ctlen, uint32_t *key_id) HL_MUSTCHECK;

/* ---- blind index ------------------------------------------------------------------------ */

/*
 * Normalises a phone number to digits: separators " -.()/" dropped, a leading "+" or "00"
 * (international prefix) dropped; with DEFAULT_CC (digits, e.g. "254", or NULL) a single
 * leading trunk "0" is replaced by it. 3..15 digits, else HL_EINVAL. OUT needs 16 bytes.
 */
int hl_crypto_phone_normalise(const char *phone, const char *default_cc, char *out,
                              size_t outcap) HL_MUSTCHECK;

/* BLAKE2b keyed with the blind index key over the normalised number, truncated to 16 bytes. */
int hl_crypto_blind_index_phone(hl_crypto_keyring_t *kr, const char *phone, const char *default_cc,
                                uint8_t out[HL_CRYPTO_BLIND_INDEX_BYTES]) HL_MUSTCHECK;

/* ---- contact ids ------------------------------------------------------------------------ */

#define HL_CRYPTO_SOURCE_ID_BYTES 16

/*
 * The id of the contact a front end identifies as (SYSTEM, ID) in helpline HELPLINE_ID: a
 * keyed BLAKE2b of the three (blind index key, its own personalisation), shaped as a UUID
 * version 8. The same source always gets the same id, so a repeat that is spooled while the
 * database is down answers with the id the contact will have; without the key, an id tells
 * nothing about its source.
 */
int hl_crypto_source_id(hl_crypto_keyring_t *kr, uint64_t helpline_id, const char *system, const char *id,
                        uint8_t out[HL_CRYPTO_SOURCE_ID_BYTES]) HL_MUSTCHECK;

/* ---- list cursors ------------------------------------------------------------------------ */

#define HL_CRYPTO_CURSOR_MAC_BYTES 16

/* The tag of a list cursor (server/http/cursor.h): BLAKE2b with a 16-byte output over MSG, keyed with
 * the cursor key (crypto_kdf context "CURSORM1", subkey id 1, from the master key). */
int hl_crypto_cursor_mac(hl_crypto_keyring_t *kr, const uint8_t *msg, size_t len,
                         uint8_t out[HL_CRYPTO_CURSOR_MAC_BYTES]) HL_MUSTCHECK;

/* ---- report signing ---------------------------------------------------------------------- */

typedef struct hl_crypto_signer hl_crypto_signer_t;

/* The Ed25519 key pair of helpline HELPLINE_ID (its numeric id), derived from the master key. */
int hl_crypto_signer_derive(hl_crypto_keyring_t *kr, uint64_t helpline_id,
                            hl_crypto_signer_t **out) HL_MUSTCHECK;

/* A key pair from a 32-byte seed file of its own (helplined keygen makes one). */
int hl_crypto_signer_load(const char *seed_file, hl_crypto_signer_t **out) HL_MUSTCHECK;

/* From a seed in memory (tests, tools). */
int hl_crypto_signer_from_seed(const uint8_t seed[HL_CRYPTO_KEY_BYTES],
                               hl_crypto_signer_t **out) HL_MUSTCHECK;

void hl_crypto_signer_free(hl_crypto_signer_t *s);

void hl_crypto_signer_public_key(const hl_crypto_signer_t *s, uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES]);

int hl_crypto_sign(hl_crypto_signer_t *s, const uint8_t *msg, size_t len,
                   uint8_t sig[HL_CRYPTO_SIGN_BYTES]) HL_MUSTCHECK;

/* Verifies with the public key alone: 0 or HL_ECRYPTO (counted). */
int hl_crypto_verify(const uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES], const uint8_t *msg, size_t len,
                     const uint8_t sig[HL_CRYPTO_SIGN_BYTES]) HL_MUSTCHECK;

/* Key id of a public key: lowercase hex of the first 8 bytes of BLAKE2b-256(pk). */
void hl_crypto_sign_key_id(const uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES],
                           char out[HL_CRYPTO_SIGN_KEY_ID_LEN + 1]);

/* Base64 (standard, padded) of a public key or signature, and back (exact length). */
void hl_crypto_sign_pk_to_b64(const uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES],
                              char out[HL_CRYPTO_SIGN_PK_B64_LEN + 1]);
void hl_crypto_sign_to_b64(const uint8_t sig[HL_CRYPTO_SIGN_BYTES], char out[HL_CRYPTO_SIGN_B64_LEN + 1]);
int hl_crypto_sign_pk_from_b64(const char *b64, uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES]) HL_MUSTCHECK;
int hl_crypto_sign_from_b64(const char *b64, uint8_t sig[HL_CRYPTO_SIGN_BYTES]) HL_MUSTCHECK;

/* ---- access tokens ------------------------------------------------------------------------ */

/* A new split token: TEXT is what the user gets (shown once); SELECTOR and HASH (the keyed
 * BLAKE2b of the verifier) are what the database stores. */
int hl_crypto_token_new(hl_crypto_keyring_t *kr, char text[HL_CRYPTO_TOKEN_TEXT_LEN + 1],
                        uint8_t selector[HL_CRYPTO_TOKEN_SELECTOR_BYTES],
                        uint8_t hash[HL_CRYPTO_TOKEN_HASH_BYTES]) HL_MUSTCHECK;

/* Splits token text; HL_EINVAL when malformed. The caller wipes VERIFIER. */
int hl_crypto_token_parse(const char *text, uint8_t selector[HL_CRYPTO_TOKEN_SELECTOR_BYTES],
                          uint8_t verifier[HL_CRYPTO_TOKEN_VERIFIER_BYTES]) HL_MUSTCHECK;

int hl_crypto_token_hash(hl_crypto_keyring_t *kr, const uint8_t verifier[HL_CRYPTO_TOKEN_VERIFIER_BYTES],
                         uint8_t hash[HL_CRYPTO_TOKEN_HASH_BYTES]) HL_MUSTCHECK;

/* Hashes VERIFIER and compares with STORED in constant time: 0 or HL_ECRYPTO (counted).
 * STORED NULL (unknown selector) still does the work and fails, so timing tells nothing. */
int hl_crypto_token_verify(hl_crypto_keyring_t *kr, const uint8_t verifier[HL_CRYPTO_TOKEN_VERIFIER_BYTES],
                           const uint8_t *stored, size_t stored_len) HL_MUSTCHECK;

/* ---- web passwords -------------------------------------------------------------------------- */

/*
 * Argon2id strings (crypto_pwhash_str) with libsodium's INTERACTIVE limits: 2 passes over 64 MiB,
 * about 0.2 s of one core per hash or check here (docs/keys.md section 10). A password is 12
 * characters (code points) or more and at most HL_CRYPTO_PASSWORD_MAX_BYTES bytes.
 */
#define HL_CRYPTO_PASSWORD_MIN_CHARS 12
#define HL_CRYPTO_PASSWORD_MAX_BYTES 1024
#define HL_CRYPTO_PASSWORD_HASH_MAX  128 /* crypto_pwhash_STRBYTES, the NUL included */

/* Is PW (LEN bytes, no NUL) a password that may be set? */
bool hl_crypto_password_acceptable(const char *pw, size_t len);

/* The Argon2id string of PW into OUT; HL_ENOMEM when the 64 MiB cannot be had. */
int hl_crypto_password_hash(const char *pw, size_t len, char out[HL_CRYPTO_PASSWORD_HASH_MAX]) HL_MUSTCHECK;

/* Checks PW against STORED (an Argon2id string) in Argon2's time: 0 or HL_ECRYPTO (counted). STORED
 * NULL or "" (no such user, no password) checks against a fixed string of the same cost and fails,
 * so an unknown user costs the same work as a wrong password. */
int hl_crypto_password_verify(const char *stored, const char *pw, size_t len) HL_MUSTCHECK;

/* Was STORED made with today's cost? (A login with an older one stores a new string.) */
bool hl_crypto_password_current(const char *stored);

/* The fixed string unknown users are checked against (tests check it is current). */
const char *hl_crypto_password_dummy(void);

/* ---- web sessions ----------------------------------------------------------------------------- */

/* A session token has an access token's form (selector "." verifier, parsed with
 * hl_crypto_token_parse); the sessions table keeps its selector and a keyed BLAKE2b-256 of its
 * verifier under a key of its own (context SESSION1, subkey 1). */
int hl_crypto_session_new(hl_crypto_keyring_t *kr, char text[HL_CRYPTO_TOKEN_TEXT_LEN + 1],
                          uint8_t selector[HL_CRYPTO_TOKEN_SELECTOR_BYTES],
                          uint8_t hash[HL_CRYPTO_TOKEN_HASH_BYTES]) HL_MUSTCHECK;
int hl_crypto_session_hash(hl_crypto_keyring_t *kr, const uint8_t verifier[HL_CRYPTO_TOKEN_VERIFIER_BYTES],
                           uint8_t hash[HL_CRYPTO_TOKEN_HASH_BYTES]) HL_MUSTCHECK;
/* As hl_crypto_token_verify, with the session key. */
int hl_crypto_session_verify(hl_crypto_keyring_t *kr, const uint8_t verifier[HL_CRYPTO_TOKEN_VERIFIER_BYTES],
                             const uint8_t *stored, size_t stored_len) HL_MUSTCHECK;

/* The CSRF token of a session: base64url (no padding) of a BLAKE2b-128 of its selector keyed with
 * context SESSION1, subkey 2. Nothing stored: it is recomputed from the session cookie. */
#define HL_CRYPTO_CSRF_LEN 22
int hl_crypto_session_csrf(hl_crypto_keyring_t *kr, const uint8_t selector[HL_CRYPTO_TOKEN_SELECTOR_BYTES],
                           char out[HL_CRYPTO_CSRF_LEN + 1]) HL_MUSTCHECK;
/* 0 when GIVEN is the session's CSRF token (compared in constant time), else HL_ECRYPTO (counted). */
int hl_crypto_session_csrf_check(hl_crypto_keyring_t *kr,
                                 const uint8_t selector[HL_CRYPTO_TOKEN_SELECTOR_BYTES],
                                 const char *given) HL_MUSTCHECK;

/* ---- small things --------------------------------------------------------------------------- */

/* LEN random bytes (randombytes_buf). */
int hl_crypto_random(void *buf, size_t len) HL_MUSTCHECK;

/* SipHash-2-4 of MSG under KEY (crypto_shorthash): a hash table index an outsider cannot aim at. */
#define HL_CRYPTO_SHORTHASH_KEY_BYTES 16
uint64_t hl_crypto_shorthash(const uint8_t key[HL_CRYPTO_SHORTHASH_KEY_BYTES], const void *msg, size_t len);

#endif
