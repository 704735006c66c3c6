/*
 * Opaque, tamper-evident cursors for keyset pagination (GET /v1/contacts, GET /v1/cases).
 *
 * A page ends at a position (KEY, ID): a sort key (e.g. started_at in microseconds) and the
 * 16-byte id that breaks ties. The cursor for the next page is
 *
 *     base64url(version 0x01 || KEY i64 big-endian || ID (16) || tag (16)), no padding (55 chars)
 *
 * where tag = hl_crypto_cursor_mac(version || KEY || ID || SCOPE). SCOPE is the normalised
 * query that produced the page (the list's name, the caller's user id, every filter and the
 * limit, not the cursor itself), built with hl_cursor_scope_*: so a cursor that was altered,
 * that belongs to another query or that another user obtained does not decode. The tag is not
 * a secret and the position is not hidden (a client could read a timestamp and an id out of
 * the cursor); it only cannot be forged or moved to another query.
 */
#ifndef HL_CURSOR_H
#define HL_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

#define HL_CURSOR_ID_BYTES  16
#define HL_CURSOR_TEXT_LEN  55 /* without the NUL */
#define HL_CURSOR_SCOPE_MAX 2048

/* The normalised query a cursor is bound to. Fill it with init, then add every parameter that
 * shapes the result in a fixed order (absent ones too, as NULL). */
typedef struct hl_cursor_scope {
    char buf[HL_CURSOR_SCOPE_MAX];
    size_t len;
    bool overflow; /* a value did not fit: encode and decode refuse the scope (HL_EINVAL) */
} hl_cursor_scope_t;

/* LIST names the listing ("contacts", "cases"), USER_ID the caller. */
void hl_cursor_scope_init(hl_cursor_scope_t *s, const char *list, int64_t user_id);

/* NAME=VALUE, length-prefixed so that no two different queries give the same scope; VALUE
 * NULL records the parameter as absent (distinct from ""). */
void hl_cursor_scope_add(hl_cursor_scope_t *s, const char *name, const char *value);

/* Writes the cursor for position (KEY, ID) of SCOPE's query into OUT. HL_EINVAL (bad arguments
 * or an overflowed scope), HL_ECRYPTO. */
int hl_cursor_encode(hl_crypto_keyring_t *kr, const hl_cursor_scope_t *scope, int64_t key,
                     const uint8_t id[HL_CURSOR_ID_BYTES], char out[HL_CURSOR_TEXT_LEN + 1]) HL_MUSTCHECK;

/* Reads TEXT back into *KEY and ID (written only on success). HL_EINVAL for anything wrong
 * with it: wrong length or alphabet, unknown version, a tag that does not match SCOPE (an
 * altered cursor, or one of another query or user); HL_ECRYPTO when the MAC cannot be
 * computed. The caller answers 400 on "cursor" for HL_EINVAL. */
int hl_cursor_decode(hl_crypto_keyring_t *kr, const hl_cursor_scope_t *scope, const char *text, int64_t *key,
                     uint8_t id[HL_CURSOR_ID_BYTES]) HL_MUSTCHECK;

#endif
