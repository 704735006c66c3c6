/* server/cursor: the known-answer cursor, round trips, and every way a cursor must not decode. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "http/cursor.h"

static hl_crypto_keyring_t *keyring(uint8_t first)
{
    uint8_t m[HL_CRYPTO_KEY_BYTES];
    hl_crypto_keyring_t *kr = NULL;

    for (int i = 0; i < HL_CRYPTO_KEY_BYTES; i++)
        m[i] = (uint8_t)(first + i);
    cr_assert_eq(hl_crypto_keyring_new(m, &kr), HL_OK);
    return kr;
}

static void init(void)
{
    cr_assert_eq(hl_crypto_init(), HL_OK);
}

/* The scope of the known answer: contacts of user 7, limit 50, no case filter. */
static void kat_scope(hl_cursor_scope_t *s)
{
    hl_cursor_scope_init(s, "contacts", 7);
    hl_cursor_scope_add(s, "limit", "50");
    hl_cursor_scope_add(s, "case", NULL);
}

static const uint8_t ID[HL_CURSOR_ID_BYTES] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

TestSuite(cursor, .init = init);

/* Cross-checked with Python (hashlib.blake2b, docs/keys.md's kdf()):
 *   scope = b'4:list=8:contacts;4:user=1:7;5:limit=2:50;4:case-;'
 *   pos = b'\x01' + struct.pack('>q', 1732270000123456) + bytes(range(16))
 *   tag = blake2b(pos + scope, digest_size=16, key=kdf(bytes(range(32)), 1, b'CURSORM1')).digest()
 *   base64.urlsafe_b64encode(pos + tag) without '=' */
Test(cursor, known_answer)
{
    hl_crypto_keyring_t *kr = keyring(0);
    hl_cursor_scope_t s;
    char text[HL_CURSOR_TEXT_LEN + 1];
    uint8_t id[HL_CURSOR_ID_BYTES];
    int64_t key = 0;

    kat_scope(&s);
    cr_assert_str_eq(s.buf, "4:list=8:contacts;4:user=1:7;5:limit=2:50;4:case-;");
    cr_assert_eq(hl_cursor_encode(kr, &s, 1732270000123456, ID, text), HL_OK);
    cr_assert_str_eq(text, "AQAGJ32KAy5AAAECAwQFBgcICQoLDA0OD3wBb6DLWVBEaUl3wKmjDK8");
    cr_assert_eq(hl_cursor_decode(kr, &s, text, &key, id), HL_OK);
    cr_assert_eq(key, 1732270000123456);
    cr_assert_arr_eq(id, ID, sizeof(ID));
    hl_crypto_keyring_free(kr);
}

Test(cursor, round_trip_extreme_keys)
{
    static const int64_t keys[] = {0, -1, INT64_MIN, INT64_MAX, -62135596800000000 /* year 1 */};
    hl_crypto_keyring_t *kr = keyring(0);
    hl_cursor_scope_t s;
    char text[HL_CURSOR_TEXT_LEN + 1];
    uint8_t id[HL_CURSOR_ID_BYTES];
    int64_t key;

    kat_scope(&s);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        cr_assert_eq(hl_cursor_encode(kr, &s, keys[i], ID, text), HL_OK);
        cr_assert_eq(strlen(text), HL_CURSOR_TEXT_LEN);
        cr_assert_eq(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                     HL_CURSOR_TEXT_LEN, "base64url only: %s", text);
        cr_assert_eq(hl_cursor_decode(kr, &s, text, &key, id), HL_OK);
        cr_assert_eq(key, keys[i]);
    }
    hl_crypto_keyring_free(kr);
}

/* Every character of the text replaced by every other base64url character: never decodes. */
Test(cursor, every_character_changed)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    hl_crypto_keyring_t *kr = keyring(0);
    hl_cursor_scope_t s;
    char text[HL_CURSOR_TEXT_LEN + 1], bad[HL_CURSOR_TEXT_LEN + 1];
    uint8_t id[HL_CURSOR_ID_BYTES] = {0xee};
    int64_t key = 42;

    kat_scope(&s);
    cr_assert_eq(hl_cursor_encode(kr, &s, 1732270000123456, ID, text), HL_OK);
    for (size_t i = 0; i < HL_CURSOR_TEXT_LEN; i++) {
        for (const char *c = alphabet; *c != '\0'; c++) {
            if (*c == text[i])
                continue;
            memcpy(bad, text, sizeof(bad));
            bad[i] = *c;
            cr_assert_eq(hl_cursor_decode(kr, &s, bad, &key, id), HL_EINVAL, "position %zu '%c'", i, *c);
        }
    }
    cr_assert_eq(key, 42, "nothing written on failure");
    cr_assert_eq(id[0], 0xee);
    hl_crypto_keyring_free(kr);
}

Test(cursor, malformed_text)
{
    hl_crypto_keyring_t *kr = keyring(0);
    hl_cursor_scope_t s;
    char text[HL_CURSOR_TEXT_LEN + 1], bad[2 * HL_CURSOR_TEXT_LEN];
    uint8_t id[HL_CURSOR_ID_BYTES];
    int64_t key;

    kat_scope(&s);
    cr_assert_eq(hl_cursor_encode(kr, &s, 5, ID, text), HL_OK);
    cr_assert_eq(hl_cursor_decode(kr, &s, "", &key, id), HL_EINVAL);
    memcpy(bad, text, HL_CURSOR_TEXT_LEN - 1);
    bad[HL_CURSOR_TEXT_LEN - 1] = '\0';
    cr_assert_eq(hl_cursor_decode(kr, &s, bad, &key, id), HL_EINVAL, "truncated");
    snprintf(bad, sizeof(bad), "%sA", text);
    cr_assert_eq(hl_cursor_decode(kr, &s, bad, &key, id), HL_EINVAL, "extended");
    memcpy(bad, text, sizeof(text));
    bad[10] = '+';
    cr_assert_eq(hl_cursor_decode(kr, &s, bad, &key, id), HL_EINVAL, "standard base64 alphabet");
    bad[10] = '=';
    cr_assert_eq(hl_cursor_decode(kr, &s, bad, &key, id), HL_EINVAL, "padding");
    bad[10] = '\n';
    cr_assert_eq(hl_cursor_decode(kr, &s, bad, &key, id), HL_EINVAL, "whitespace");
    cr_assert_eq(hl_cursor_decode(kr, &s, NULL, &key, id), HL_EINVAL);
    hl_crypto_keyring_free(kr);
}

/* A version 2 cursor with a valid tag (made here with the MAC itself) is refused. */
Test(cursor, unknown_version)
{
    hl_crypto_keyring_t *kr = keyring(0);
    hl_cursor_scope_t s;
    uint8_t raw[1 + 8 + 16 + HL_CRYPTO_CURSOR_MAC_BYTES] = {2}, msg[25 + HL_CURSOR_SCOPE_MAX], id[16];
    char text[HL_CURSOR_TEXT_LEN + 1];
    int64_t key;

    kat_scope(&s);
    memcpy(msg, raw, 25);
    memcpy(msg + 25, s.buf, s.len);
    cr_assert_eq(hl_crypto_cursor_mac(kr, msg, 25 + s.len, raw + 25), HL_OK);
    cr_assert_eq(hl_crypto_b64_encode(raw, sizeof(raw), true, text, sizeof(text)), HL_OK);
    cr_assert_eq(hl_cursor_decode(kr, &s, text, &key, id), HL_EINVAL);
    raw[0] = 1; /* the same bytes as version 1 decode: only the version was wrong */
    memcpy(msg, raw, 25);
    cr_assert_eq(hl_crypto_cursor_mac(kr, msg, 25 + s.len, raw + 25), HL_OK);
    cr_assert_eq(hl_crypto_b64_encode(raw, sizeof(raw), true, text, sizeof(text)), HL_OK);
    cr_assert_eq(hl_cursor_decode(kr, &s, text, &key, id), HL_OK);
    hl_crypto_keyring_free(kr);
}

/* A cursor of one query does not decode for any other: another user, list, filter value,
 * an absent filter instead of an empty one, another master key. */
Test(cursor, bound_to_the_query_user_and_key)
{
    hl_crypto_keyring_t *kr = keyring(0), *other_key = keyring(1);
    hl_cursor_scope_t s, t;
    char text[HL_CURSOR_TEXT_LEN + 1];
    uint8_t id[HL_CURSOR_ID_BYTES];
    int64_t key;

    hl_cursor_scope_init(&s, "contacts", 7);
    hl_cursor_scope_add(&s, "channel", "phone");
    hl_cursor_scope_add(&s, "limit", "50");
    cr_assert_eq(hl_cursor_encode(kr, &s, 9, ID, text), HL_OK);

    hl_cursor_scope_init(&t, "contacts", 7);
    hl_cursor_scope_add(&t, "channel", "phone");
    hl_cursor_scope_add(&t, "limit", "50");
    cr_assert_eq(hl_cursor_decode(kr, &t, text, &key, id), HL_OK, "the same query");
    cr_assert_eq(hl_cursor_decode(other_key, &t, text, &key, id), HL_EINVAL, "another master key");

    hl_cursor_scope_init(&t, "contacts", 8);
    hl_cursor_scope_add(&t, "channel", "phone");
    hl_cursor_scope_add(&t, "limit", "50");
    cr_assert_eq(hl_cursor_decode(kr, &t, text, &key, id), HL_EINVAL, "another user");

    hl_cursor_scope_init(&t, "cases", 7);
    hl_cursor_scope_add(&t, "channel", "phone");
    hl_cursor_scope_add(&t, "limit", "50");
    cr_assert_eq(hl_cursor_decode(kr, &t, text, &key, id), HL_EINVAL, "another list");

    hl_cursor_scope_init(&t, "contacts", 7);
    hl_cursor_scope_add(&t, "channel", "sms");
    hl_cursor_scope_add(&t, "limit", "50");
    cr_assert_eq(hl_cursor_decode(kr, &t, text, &key, id), HL_EINVAL, "another filter value");

    hl_cursor_scope_init(&t, "contacts", 7);
    hl_cursor_scope_add(&t, "channel", "phone");
    hl_cursor_scope_add(&t, "limit", "51");
    cr_assert_eq(hl_cursor_decode(kr, &t, text, &key, id), HL_EINVAL, "another limit");

    /* Length prefixes: moving text between name and value changes the scope. */
    hl_cursor_scope_init(&t, "contacts", 7);
    hl_cursor_scope_add(&t, "channel", "phone;5:limit=2:50");
    cr_assert_eq(hl_cursor_decode(kr, &t, text, &key, id), HL_EINVAL, "values cannot splice");

    hl_cursor_scope_init(&s, "contacts", 7);
    hl_cursor_scope_add(&s, "case", NULL);
    cr_assert_eq(hl_cursor_encode(kr, &s, 9, ID, text), HL_OK);
    hl_cursor_scope_init(&t, "contacts", 7);
    hl_cursor_scope_add(&t, "case", "");
    cr_assert_eq(hl_cursor_decode(kr, &t, text, &key, id), HL_EINVAL, "absent is not empty");
    hl_crypto_keyring_free(kr);
    hl_crypto_keyring_free(other_key);
}

Test(cursor, overflowed_scope_refused)
{
    hl_crypto_keyring_t *kr = keyring(0);
    hl_cursor_scope_t s;
    char big[HL_CURSOR_SCOPE_MAX], text[HL_CURSOR_TEXT_LEN + 1] = "";
    uint8_t id[HL_CURSOR_ID_BYTES];
    int64_t key;

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    hl_cursor_scope_init(&s, "contacts", 7);
    hl_cursor_scope_add(&s, "category", big);
    cr_assert(s.overflow);
    cr_assert_eq(hl_cursor_encode(kr, &s, 1, ID, text), HL_EINVAL);
    cr_assert_eq(
        hl_cursor_decode(kr, &s, "AQAGJ32KAy5AAAECAwQFBgcICQoLDA0OD3wBb6DLWVBEaUl3wKmjDK8", &key, id),
        HL_EINVAL);
    hl_crypto_keyring_free(kr);
}
