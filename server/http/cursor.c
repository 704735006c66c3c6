#include "http/cursor.h"

#include <sodium/utils.h> /* sodium_memcmp only */
#include <stdio.h>
#include <string.h>

#define VERSION   1
#define POS_BYTES (1 + 8 + HL_CURSOR_ID_BYTES)
#define RAW_BYTES (POS_BYTES + HL_CRYPTO_CURSOR_MAC_BYTES)

_Static_assert(HL_CURSOR_TEXT_LEN == (RAW_BYTES * 8 + 5) / 6, "base64url length of a cursor");

static void scope_put(hl_cursor_scope_t *s, const char *name, const char *value)
{
    size_t room = sizeof(s->buf) - s->len;
    int n;

    if (s->overflow)
        return;
    /* "<len>:<name>=<len>:<value>;" or "<len>:<name>-;" for an absent value. */
    if (value != NULL)
        n = snprintf(s->buf + s->len, room, "%zu:%s=%zu:%s;", strlen(name), name, strlen(value), value);
    else
        n = snprintf(s->buf + s->len, room, "%zu:%s-;", strlen(name), name);
    if (n < 0 || (size_t)n >= room) {
        s->overflow = true;
        return;
    }
    s->len += (size_t)n;
}

void hl_cursor_scope_init(hl_cursor_scope_t *s, const char *list, int64_t user_id)
{
    char uid[24];

    s->len = 0;
    s->overflow = false;
    s->buf[0] = '\0';
    snprintf(uid, sizeof(uid), "%lld", (long long)user_id);
    scope_put(s, "list", list);
    scope_put(s, "user", uid);
}

void hl_cursor_scope_add(hl_cursor_scope_t *s, const char *name, const char *value)
{
    scope_put(s, name, value);
}

/* The tag over the position (RAW's first POS_BYTES) and the scope. */
static int tag(hl_crypto_keyring_t *kr, const hl_cursor_scope_t *scope, const uint8_t raw[POS_BYTES],
               uint8_t out[HL_CRYPTO_CURSOR_MAC_BYTES])
{
    uint8_t msg[POS_BYTES + HL_CURSOR_SCOPE_MAX];

    memcpy(msg, raw, POS_BYTES);
    memcpy(msg + POS_BYTES, scope->buf, scope->len);
    return hl_crypto_cursor_mac(kr, msg, POS_BYTES + scope->len, out);
}

int hl_cursor_encode(hl_crypto_keyring_t *kr, const hl_cursor_scope_t *scope, int64_t key,
                     const uint8_t id[HL_CURSOR_ID_BYTES], char out[HL_CURSOR_TEXT_LEN + 1])
{
    uint8_t raw[RAW_BYTES];
    uint64_t k = (uint64_t)key;
    int rc;

    if (kr == NULL || scope == NULL || scope->overflow || id == NULL || out == NULL)
        return HL_EINVAL;
    raw[0] = VERSION;
    for (int i = 0; i < 8; i++)
        raw[1 + i] = (uint8_t)(k >> (56 - 8 * i));
    memcpy(raw + 9, id, HL_CURSOR_ID_BYTES);
    if ((rc = tag(kr, scope, raw, raw + POS_BYTES)) != HL_OK)
        return rc;
    return hl_crypto_b64_encode(raw, sizeof(raw), true, out, HL_CURSOR_TEXT_LEN + 1);
}

int hl_cursor_decode(hl_crypto_keyring_t *kr, const hl_cursor_scope_t *scope, const char *text, int64_t *key,
                     uint8_t id[HL_CURSOR_ID_BYTES])
{
    uint8_t raw[RAW_BYTES], want[HL_CRYPTO_CURSOR_MAC_BYTES];
    uint64_t k = 0;
    size_t len = 0;
    int rc;

    if (kr == NULL || scope == NULL || scope->overflow || text == NULL || key == NULL || id == NULL)
        return HL_EINVAL;
    if (strnlen(text, HL_CURSOR_TEXT_LEN + 1) != HL_CURSOR_TEXT_LEN ||
        hl_crypto_b64_decode(text, HL_CURSOR_TEXT_LEN, true, raw, sizeof(raw), &len) != HL_OK ||
        len != sizeof(raw) || raw[0] != VERSION)
        return HL_EINVAL;
    if ((rc = tag(kr, scope, raw, want)) != HL_OK)
        return rc;
    if (sodium_memcmp(want, raw + POS_BYTES, sizeof(want)) != 0)
        return HL_EINVAL;
    for (int i = 0; i < 8; i++)
        k = (k << 8) | raw[1 + i];
    *key = (int64_t)k;
    memcpy(id, raw + 9, HL_CURSOR_ID_BYTES);
    return HL_OK;
}
