/* lib/crypto: known-answer vectors, negative cases, key files, keyring rotation on disk. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static void init(void)
{
    cr_assert_eq(hl_crypto_init(), HL_OK);
}

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t len = 0;

    cr_assert_eq(sodium_hex2bin(out, cap, hex, strlen(hex), NULL, &len, NULL), 0);
    return len;
}

static void fixed_master(uint8_t m[HL_CRYPTO_KEY_BYTES])
{
    for (int i = 0; i < HL_CRYPTO_KEY_BYTES; i++)
        m[i] = (uint8_t)i;
}

static hl_crypto_keyring_t *fixed_keyring(void)
{
    uint8_t m[HL_CRYPTO_KEY_BYTES];
    hl_crypto_keyring_t *kr = NULL;

    fixed_master(m);
    cr_assert_eq(hl_crypto_keyring_new(m, &kr), HL_OK);
    return kr;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *path, const uint8_t *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    cr_assert_eq(fchmod(fd, mode), 0);
    close(fd);
}

/* Runs FN with stderr captured into BUF (hl_log writes to fd 2). */
static void capture_stderr(void (*fn)(void *), void *arg, char *buf, size_t cap)
{
    char path[] = "/tmp/hl-stderr-XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(2);
    ssize_t n;

    cr_assert(fd >= 0 && saved >= 0);
    dup2(fd, 2);
    fn(arg);
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    n = read(fd, buf, cap - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
}

static const hl_crypto_ad_t KAT_AD = {"contacts", "summary", "6f1c2a5e-0d3b-4c8e-9a7f-2b5d8e1c4a90"};
static const char KAT_PT[] = "The child said she is 14 and scared to go home.";
/* Cross-checked with an independent Python implementation (docs/keys.md, appendix). */
static const char KAT_ENVELOPE[] = "0101000000404142434445464748494a4b4c4d4e4f5051525354555657"
                                   "c590be97b54cadf1676e7d4cf42048e215622976777e509db9aa7a9ac0b1c1e9"
                                   "a1ad24eab9ba39ce083f7ad270c41b66829bc7e76c4251ce94d0ed61363b85";

static size_t kat_envelope(uint8_t *out, size_t cap)
{
    return unhex(KAT_ENVELOPE, out, cap);
}

static void expect_no_open(hl_crypto_keyring_t *kr, const hl_crypto_ad_t *ad, const uint8_t *ct, size_t len)
{
    uint8_t out[256];
    size_t outlen = 12345;
    uint64_t before = hl_crypto_failures(HL_CRYPTO_FAIL_OPEN);

    cr_assert_eq(hl_crypto_open(kr, ad, ct, len, out, sizeof(out), &outlen), HL_ECRYPTO, "opened (len %zu)",
                 len);
    cr_assert_eq(outlen, 12345, "output length written on failure");
    cr_assert_eq(hl_crypto_failures(HL_CRYPTO_FAIL_OPEN), before + 1, "failure not counted");
}

/* ---- envelope --------------------------------------------------------------------------- */

TestSuite(crypto_envelope, .init = init);

Test(crypto_envelope, known_answer)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    uint8_t nonce[HL_CRYPTO_NONCE_BYTES], want[256], got[256], pt[256];
    size_t wantlen = kat_envelope(want, sizeof(want)), gotlen = 0, ptlen = 0;

    for (int i = 0; i < HL_CRYPTO_NONCE_BYTES; i++)
        nonce[i] = (uint8_t)(0x40 + i);
    cr_assert_eq(hl_crypto_seal_with_nonce(kr, 1, nonce, &KAT_AD, (const uint8_t *)KAT_PT, strlen(KAT_PT),
                                           got, sizeof(got), &gotlen),
                 HL_OK);
    cr_assert_eq(gotlen, strlen(KAT_PT) + HL_CRYPTO_OVERHEAD);
    cr_assert_eq(gotlen, wantlen);
    cr_assert_arr_eq(got, want, wantlen,
                     "envelope format changed: update docs/keys.md and the vector together");
    cr_assert_eq(hl_crypto_open(kr, &KAT_AD, want, wantlen, pt, sizeof(pt), &ptlen), HL_OK);
    cr_assert_eq(ptlen, strlen(KAT_PT));
    cr_assert_arr_eq(pt, KAT_PT, ptlen);
    hl_crypto_keyring_free(kr);
}

Test(crypto_envelope, round_trip_random_nonces)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    uint8_t a[128], b[128], pt[128];
    size_t alen, blen, ptlen;
    uint32_t kid = 0;

    cr_assert_eq(hl_crypto_seal(kr, &KAT_AD, (const uint8_t *)"Amina", 5, a, sizeof(a), &alen), HL_OK);
    cr_assert_eq(hl_crypto_seal(kr, &KAT_AD, (const uint8_t *)"Amina", 5, b, sizeof(b), &blen), HL_OK);
    cr_assert_eq(alen, 5 + HL_CRYPTO_OVERHEAD);
    cr_assert_neq(memcmp(a + 5, b + 5, HL_CRYPTO_NONCE_BYTES), 0, "nonce repeated");
    cr_assert_eq(hl_crypto_envelope_key_id(a, alen, &kid), HL_OK);
    cr_assert_eq(kid, 1);
    cr_assert_eq(hl_crypto_open(kr, &KAT_AD, a, alen, pt, sizeof(pt), &ptlen), HL_OK);
    cr_assert_eq(ptlen, 5);
    cr_assert_arr_eq(pt, "Amina", 5);
    cr_assert_eq(hl_crypto_open(kr, &KAT_AD, b, blen, pt, sizeof(pt), &ptlen), HL_OK);
    hl_crypto_keyring_free(kr);
}

Test(crypto_envelope, empty_plaintext_and_alloc)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    uint8_t ct[64];
    size_t len = 0, ptlen = 99;
    char *pt = NULL;

    cr_assert_eq(hl_crypto_seal(kr, &KAT_AD, NULL, 0, ct, sizeof(ct), &len), HL_OK);
    cr_assert_eq(len, HL_CRYPTO_OVERHEAD);
    cr_assert_eq(hl_crypto_open_alloc(kr, &KAT_AD, ct, len, &pt, &ptlen), HL_OK);
    cr_assert_eq(ptlen, 0);
    cr_assert_str_eq(pt, "");
    hl_crypto_wipe_free(pt, ptlen);
    cr_assert_eq(hl_crypto_seal(kr, &KAT_AD, (const uint8_t *)"0700", 4, ct, sizeof(ct), &len), HL_OK);
    cr_assert_eq(hl_crypto_open_alloc(kr, &KAT_AD, ct, len, &pt, &ptlen), HL_OK);
    cr_assert_str_eq(pt, "0700");
    hl_crypto_wipe_free(pt, ptlen);
    hl_crypto_wipe_free(NULL, 0);
    hl_crypto_keyring_free(kr);
}

Test(crypto_envelope, size_limits)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    size_t max = HL_CRYPTO_MAX_PLAINTEXT;
    uint8_t *pt = calloc(1, max + 1);
    uint8_t *ct = calloc(1, max + HL_CRYPTO_OVERHEAD + 1);
    size_t len = 0, ptlen = 0;

    cr_assert_eq(hl_crypto_seal(kr, &KAT_AD, pt, max, ct, max + HL_CRYPTO_OVERHEAD, &len), HL_OK);
    cr_assert_eq(len, max + HL_CRYPTO_OVERHEAD);
    cr_assert_eq(hl_crypto_open(kr, &KAT_AD, ct, len, pt, max, &ptlen), HL_OK);
    cr_assert_eq(ptlen, max);
    /* Over the cap: refused to seal, and refused to open before any decryption. */
    cr_assert_eq(hl_crypto_seal(kr, &KAT_AD, pt, max + 1, ct, max + HL_CRYPTO_OVERHEAD + 1, &len), HL_EINVAL);
    ct[0] = HL_CRYPTO_ENVELOPE_VERSION;
    expect_no_open(kr, &KAT_AD, ct, max + HL_CRYPTO_OVERHEAD + 1);
    /* Output buffers too small. */
    cr_assert_eq(hl_crypto_seal(kr, &KAT_AD, pt, 10, ct, 10 + HL_CRYPTO_OVERHEAD - 1, &len), HL_EINVAL);
    cr_assert_eq(hl_crypto_seal(kr, &KAT_AD, pt, 10, ct, 10 + HL_CRYPTO_OVERHEAD, &len), HL_OK);
    cr_assert_eq(hl_crypto_open(kr, &KAT_AD, ct, len, pt, 9, &ptlen), HL_EINVAL);
    free(pt);
    free(ct);
    hl_crypto_keyring_free(kr);
}

Test(crypto_envelope, bad_associated_data_arguments)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    char longid[HL_CRYPTO_AD_PART_MAX + 2];
    uint8_t ct[128];
    size_t len;

    memset(longid, 'a', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    hl_crypto_ad_t bad[] = {
        {NULL, "summary", "1"}, {"contacts", NULL, "1"}, {"contacts", "summary", NULL},
        {"", "summary", "1"},   {"contacts", "", "1"},   {"contacts", "summary", longid},
    };
    for (size_t i = 0; i < HL_ARRAY_LEN(bad); i++)
        cr_assert_eq(hl_crypto_seal(kr, &bad[i], (const uint8_t *)"x", 1, ct, sizeof(ct), &len), HL_EINVAL,
                     "case %zu", i);
    cr_assert_eq(hl_crypto_seal(kr, NULL, (const uint8_t *)"x", 1, ct, sizeof(ct), &len), HL_EINVAL);
    longid[HL_CRYPTO_AD_PART_MAX] = '\0'; /* exactly 255: allowed */
    hl_crypto_ad_t ok = {"contacts", "summary", longid};
    cr_assert_eq(hl_crypto_seal(kr, &ok, (const uint8_t *)"x", 1, ct, sizeof(ct), &len), HL_OK);
    hl_crypto_keyring_free(kr);
}

/* Many threads sealing and opening at once: the reader count keeps the keys readable
 * exactly while someone uses them. */
static void *seal_open_loop(void *arg)
{
    hl_crypto_keyring_t *kr = arg;
    uint8_t ct[64], pt[64];
    size_t len, ptlen;

    for (int i = 0; i < 2000; i++) {
        if (hl_crypto_seal(kr, &KAT_AD, (const uint8_t *)"concurrent", 10, ct, sizeof(ct), &len) != HL_OK ||
            hl_crypto_open(kr, &KAT_AD, ct, len, pt, sizeof(pt), &ptlen) != HL_OK || ptlen != 10)
            return (void *)1;
    }
    return NULL;
}

Test(crypto_envelope, concurrent_use)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    pthread_t t[4];
    void *res;

    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, seal_open_loop, kr), 0);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(pthread_join(t[i], &res), 0);
        cr_assert_null(res);
    }
    hl_crypto_keyring_pin(kr);
    hl_crypto_keyring_pin(kr);
    cr_assert_null(seal_open_loop(kr));
    hl_crypto_keyring_unpin(kr);
    hl_crypto_keyring_unpin(kr);
    cr_assert_null(seal_open_loop(kr));
    hl_crypto_keyring_free(kr);
}

/* ---- negative cases --------------------------------------------------------------------- */

TestSuite(crypto_negative, .init = init);

Test(crypto_negative, wrong_record_column_or_table)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    uint8_t ct[256];
    size_t len = kat_envelope(ct, sizeof(ct));
    const hl_crypto_ad_t wrong[] = {
        {"contacts", "summary", "6f1c2a5e-0d3b-4c8e-9a7f-2b5d8e1c4a91"},    /* another record */
        {"contacts", "transcript", "6f1c2a5e-0d3b-4c8e-9a7f-2b5d8e1c4a90"}, /* another column */
        {"contacts2", "summary", "6f1c2a5e-0d3b-4c8e-9a7f-2b5d8e1c4a90"},   /* another table */
        /* Same bytes, other boundaries: the length prefixes keep them apart. */
        {"contactss", "ummary", "6f1c2a5e-0d3b-4c8e-9a7f-2b5d8e1c4a90"},
        {"contacts", "summary6", "f1c2a5e-0d3b-4c8e-9a7f-2b5d8e1c4a90"},
    };

    for (size_t i = 0; i < HL_ARRAY_LEN(wrong); i++)
        expect_no_open(kr, &wrong[i], ct, len);
    hl_crypto_keyring_free(kr);
}

Test(crypto_negative, wrong_key_id)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    uint8_t root2[HL_CRYPTO_KEY_BYTES], ct[256];
    size_t len = kat_envelope(ct, sizeof(ct));

    fixed_master(root2); /* same root bytes: the key id alone must still make it fail */
    cr_assert_eq(hl_crypto_keyring_add(kr, 2, root2, false), HL_OK);
    ct[1] = 2; /* key id 2: known, wrong key and wrong AD */
    expect_no_open(kr, &KAT_AD, ct, len);
    ct[1] = 7; /* unknown key id */
    expect_no_open(kr, &KAT_AD, ct, len);
    ct[1] = 1;
    ct[4] = 1; /* 0x01000001 */
    expect_no_open(kr, &KAT_AD, ct, len);
    hl_crypto_keyring_free(kr);
}

Test(crypto_negative, every_bit_flipped)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    uint8_t ct[256];
    size_t len = kat_envelope(ct, sizeof(ct));
    uint64_t before = hl_crypto_failures(HL_CRYPTO_FAIL_OPEN);

    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            ct[i] ^= (uint8_t)(1u << bit);
            expect_no_open(kr, &KAT_AD, ct, len);
            ct[i] ^= (uint8_t)(1u << bit);
        }
        ct[i] ^= 0xff;
        expect_no_open(kr, &KAT_AD, ct, len);
        ct[i] ^= 0xff;
    }
    cr_assert_eq(hl_crypto_failures(HL_CRYPTO_FAIL_OPEN), before + 9 * len);
    hl_crypto_keyring_free(kr);
}

Test(crypto_negative, truncated_at_every_length_and_extended)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    uint8_t ct[256];
    size_t len = kat_envelope(ct, sizeof(ct));

    for (size_t n = 0; n < len; n++)
        expect_no_open(kr, &KAT_AD, ct, n);
    ct[len] = 0;
    expect_no_open(kr, &KAT_AD, ct, len + 1);
    /* Dropping bytes from the front is no better. */
    for (size_t n = 1; n < len; n++)
        expect_no_open(kr, &KAT_AD, ct + n, len - n);
    hl_crypto_keyring_free(kr);
}

Test(crypto_negative, unknown_version)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    uint8_t ct[256];
    size_t len = kat_envelope(ct, sizeof(ct));
    const uint8_t versions[] = {0, 2, 0x7f, 0xff};
    uint32_t kid;

    for (size_t i = 0; i < sizeof(versions); i++) {
        ct[0] = versions[i];
        expect_no_open(kr, &KAT_AD, ct, len);
        cr_assert_eq(hl_crypto_envelope_key_id(ct, len, &kid), HL_EINVAL);
    }
    hl_crypto_keyring_free(kr);
}

Test(crypto_negative, empty_input)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    char *pt = NULL;
    size_t ptlen = 0;

    expect_no_open(kr, &KAT_AD, NULL, 0);
    expect_no_open(kr, &KAT_AD, (const uint8_t *)"", 0);
    cr_assert_eq(hl_crypto_open_alloc(kr, &KAT_AD, NULL, 0, &pt, &ptlen), HL_ECRYPTO);
    cr_assert_null(pt);
    hl_crypto_keyring_free(kr);
}

Test(crypto_negative, other_master_key)
{
    uint8_t m[HL_CRYPTO_KEY_BYTES], ct[256];
    size_t len = kat_envelope(ct, sizeof(ct));
    hl_crypto_keyring_t *kr = NULL;

    fixed_master(m);
    m[31] ^= 1;
    cr_assert_eq(hl_crypto_keyring_new(m, &kr), HL_OK);
    expect_no_open(kr, &KAT_AD, ct, len);
    hl_crypto_keyring_free(kr);
}

/* ---- blind index ------------------------------------------------------------------------ */

TestSuite(crypto_blind, .init = init);

Test(crypto_blind, known_answer)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    uint8_t got[HL_CRYPTO_BLIND_INDEX_BYTES], want[HL_CRYPTO_BLIND_INDEX_BYTES];

    unhex("e71eaa6f32e90440ef7eb307bb3dbb02", want, sizeof(want));
    cr_assert_eq(hl_crypto_blind_index_phone(kr, "+254 700 000 001", NULL, got), HL_OK);
    cr_assert_arr_eq(got, want, sizeof(want));
    hl_crypto_keyring_free(kr);
}

Test(crypto_blind, normalisation_table)
{
    static const struct {
        const char *in, *cc, *want; /* want NULL: rejected */
    } cases[] = {
        {"+254 700 000 001", NULL, "254700000001"},
        {"00254700000001", NULL, "254700000001"},
        {"+254-700-000-001", NULL, "254700000001"},
        {"  +254 (700) 000.001", NULL, "254700000001"},
        {"254700000001", NULL, "254700000001"},
        {"0700 000 001", NULL, "0700000001"},      /* trunk 0 kept without a country code */
        {"0700 000 001", "254", "254700000001"},   /* ... replaced with one */
        {"00254700000001", "254", "254700000001"}, /* 00 is international, not trunk */
        {"+254700000001", "254", "254700000001"},
        {"116", NULL, "116"}, /* child helpline short code */
        {"+44 20 7946 0000", NULL, "442079460000"},
        {"", NULL, NULL},
        {"+", NULL, NULL},
        {"12", NULL, NULL},
        {"1234567890123456", NULL, NULL}, /* 16 digits: over E.164 */
        {"++254700000001", NULL, NULL},
        {"254 700 000 001 ext 2", NULL, NULL},
        {"254+700000001", NULL, NULL},
        {"0700000001", "0254", NULL}, /* bad default country code */
        {"0700000001", "25a", NULL},
    };
    char out[HL_CRYPTO_PHONE_DIGITS_MAX + 1];

    for (size_t i = 0; i < HL_ARRAY_LEN(cases); i++) {
        int rc = hl_crypto_phone_normalise(cases[i].in, cases[i].cc, out, sizeof(out));
        if (cases[i].want == NULL) {
            cr_expect_eq(rc, HL_EINVAL, "case %zu ('%s') accepted", i, cases[i].in);
        } else {
            cr_expect_eq(rc, HL_OK, "case %zu ('%s') rejected", i, cases[i].in);
            if (rc == HL_OK)
                cr_expect_str_eq(out, cases[i].want, "case %zu", i);
        }
    }
}

Test(crypto_blind, equal_numbers_equal_index)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    uint8_t a[HL_CRYPTO_BLIND_INDEX_BYTES], b[HL_CRYPTO_BLIND_INDEX_BYTES], c[HL_CRYPTO_BLIND_INDEX_BYTES];

    cr_assert_eq(hl_crypto_blind_index_phone(kr, "+254 700 000 001", NULL, a), HL_OK);
    cr_assert_eq(hl_crypto_blind_index_phone(kr, "00254700000001", NULL, b), HL_OK);
    cr_assert_arr_eq(a, b, sizeof(a));
    cr_assert_eq(hl_crypto_blind_index_phone(kr, "0700 000 001", "254", b), HL_OK);
    cr_assert_arr_eq(a, b, sizeof(a));
    cr_assert_eq(hl_crypto_blind_index_phone(kr, "+254 700 000 002", NULL, c), HL_OK);
    cr_assert_arr_neq(a, c, sizeof(a));
    cr_assert_eq(hl_crypto_blind_index_phone(kr, "not a number", NULL, c), HL_EINVAL);
    hl_crypto_keyring_free(kr);
}

Test(crypto_blind, index_is_keyed)
{
    uint8_t m[HL_CRYPTO_KEY_BYTES], a[HL_CRYPTO_BLIND_INDEX_BYTES], b[HL_CRYPTO_BLIND_INDEX_BYTES];
    hl_crypto_keyring_t *kr1 = fixed_keyring(), *kr2 = NULL;

    fixed_master(m);
    m[0] ^= 0x80;
    cr_assert_eq(hl_crypto_keyring_new(m, &kr2), HL_OK);
    cr_assert_eq(hl_crypto_blind_index_phone(kr1, "+254700000001", NULL, a), HL_OK);
    cr_assert_eq(hl_crypto_blind_index_phone(kr2, "+254700000001", NULL, b), HL_OK);
    cr_assert_arr_neq(a, b, sizeof(a));
    /* A rotated field key does not change the index (repeat-caller counts survive rotation). */
    cr_assert_eq(hl_crypto_keyring_add(kr1, 2, m, true), HL_OK);
    cr_assert_eq(hl_crypto_blind_index_phone(kr1, "+254700000001", NULL, b), HL_OK);
    cr_assert_arr_eq(a, b, sizeof(a));
    hl_crypto_keyring_free(kr1);
    hl_crypto_keyring_free(kr2);
}

/* ---- report signing ---------------------------------------------------------------------- */

TestSuite(crypto_sign, .init = init);

static const char KAT_MSG[] = "helpline-quarterly/1 known answer";
static const char KAT_PK[] = "2aTl3xnNfcocj5OqCqiKoEMG8YZxdHWj5IdS6t6SevE=";
static const char KAT_SIG[] =
    "ZQvotz5Nu9T0ykv02gUvGXgMkjkYeH4vN86hgj0cxc6ngxu+HCELZEtTC+P1XBm5MyJCGdjkG8fz3pwwxau0Dg==";

Test(crypto_sign, known_answer)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    hl_crypto_signer_t *s = NULL;
    uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES], sig[HL_CRYPTO_SIGN_BYTES];
    char pk64[HL_CRYPTO_SIGN_PK_B64_LEN + 1], sig64[HL_CRYPTO_SIGN_B64_LEN + 1],
        kid[HL_CRYPTO_SIGN_KEY_ID_LEN + 1];

    cr_assert_eq(hl_crypto_signer_derive(kr, 1, &s), HL_OK);
    hl_crypto_signer_public_key(s, pk);
    hl_crypto_sign_pk_to_b64(pk, pk64);
    cr_assert_str_eq(pk64, KAT_PK);
    hl_crypto_sign_key_id(pk, kid);
    cr_assert_str_eq(kid, "7116cee89dbc4436");
    cr_assert_eq(hl_crypto_sign(s, (const uint8_t *)KAT_MSG, strlen(KAT_MSG), sig), HL_OK);
    hl_crypto_sign_to_b64(sig, sig64);
    cr_assert_str_eq(sig64, KAT_SIG);
    hl_crypto_signer_free(s);
    hl_crypto_keyring_free(kr);
}

Test(crypto_sign, verify_with_public_key_only)
{
    uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES], sig[HL_CRYPTO_SIGN_BYTES];
    uint8_t msg[sizeof(KAT_MSG) - 1];
    uint64_t before = hl_crypto_failures(HL_CRYPTO_FAIL_SIGNATURE);

    memcpy(msg, KAT_MSG, sizeof(msg));
    cr_assert_eq(hl_crypto_sign_pk_from_b64(KAT_PK, pk), HL_OK);
    cr_assert_eq(hl_crypto_sign_from_b64(KAT_SIG, sig), HL_OK);
    cr_assert_eq(hl_crypto_verify(pk, msg, sizeof(msg), sig), HL_OK);
    for (size_t i = 0; i < sizeof(msg); i++) {
        msg[i] ^= 1;
        cr_assert_eq(hl_crypto_verify(pk, msg, sizeof(msg), sig), HL_ECRYPTO);
        msg[i] ^= 1;
    }
    for (size_t i = 0; i < sizeof(sig); i++) {
        sig[i] ^= 0x20;
        cr_assert_eq(hl_crypto_verify(pk, msg, sizeof(msg), sig), HL_ECRYPTO);
        sig[i] ^= 0x20;
    }
    cr_assert_eq(hl_crypto_verify(pk, msg, sizeof(msg) - 1, sig), HL_ECRYPTO);
    cr_assert_eq(hl_crypto_failures(HL_CRYPTO_FAIL_SIGNATURE), before + sizeof(msg) + sizeof(sig) + 1);
}

Test(crypto_sign, helplines_have_distinct_keys)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    hl_crypto_signer_t *s1 = NULL, *s2 = NULL;
    uint8_t pk1[HL_CRYPTO_SIGN_PK_BYTES], pk2[HL_CRYPTO_SIGN_PK_BYTES], sig[HL_CRYPTO_SIGN_BYTES];

    cr_assert_eq(hl_crypto_signer_derive(kr, 1, &s1), HL_OK);
    cr_assert_eq(hl_crypto_signer_derive(kr, 2, &s2), HL_OK);
    hl_crypto_signer_public_key(s1, pk1);
    hl_crypto_signer_public_key(s2, pk2);
    cr_assert_arr_neq(pk1, pk2, sizeof(pk1));
    cr_assert_eq(hl_crypto_sign(s2, (const uint8_t *)"r", 1, sig), HL_OK);
    cr_assert_eq(hl_crypto_verify(pk2, (const uint8_t *)"r", 1, sig), HL_OK);
    cr_assert_eq(hl_crypto_verify(pk1, (const uint8_t *)"r", 1, sig), HL_ECRYPTO);
    hl_crypto_signer_free(s1);
    hl_crypto_signer_free(s2);
    hl_crypto_signer_free(NULL);
    hl_crypto_keyring_free(kr);
}

Test(crypto_sign, base64_is_strict)
{
    uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES], sig[HL_CRYPTO_SIGN_BYTES];

    cr_assert_eq(hl_crypto_sign_pk_from_b64("", pk), HL_EINVAL);
    cr_assert_eq(hl_crypto_sign_pk_from_b64("2aTl3xnNfcocj5OqCqiKoEMG8YZxdHWj5IdS6t6SevE", pk), HL_EINVAL);
    cr_assert_eq(hl_crypto_sign_pk_from_b64("2aTl3xnNfcocj5OqCqiKoEMG8YZxdHWj5IdS6t6SevE= ", pk), HL_EINVAL);
    cr_assert_eq(hl_crypto_sign_pk_from_b64("2aTl3xnNfcocj5OqCqiKoEMG8YZxdHWj5IdS6t6SevF=", pk), HL_EINVAL);
    cr_assert_eq(hl_crypto_sign_pk_from_b64(KAT_SIG, pk), HL_EINVAL); /* wrong length */
    cr_assert_eq(hl_crypto_sign_from_b64(KAT_PK, sig), HL_EINVAL);
    cr_assert_eq(hl_crypto_sign_pk_from_b64(NULL, pk), HL_EINVAL);
}

Test(crypto_sign, own_seed_file)
{
    char dir[] = "/tmp/hl-crypto-XXXXXX", path[64];
    hl_crypto_signer_t *s = NULL;
    uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES], sig[HL_CRYPTO_SIGN_BYTES];

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/signing.key", dir);
    cr_assert_eq(hl_crypto_keygen_file(path), HL_OK);
    cr_assert_eq(hl_crypto_signer_load(path, &s), HL_OK);
    hl_crypto_signer_public_key(s, pk);
    cr_assert_eq(hl_crypto_sign(s, (const uint8_t *)"merged", 6, sig), HL_OK);
    cr_assert_eq(hl_crypto_verify(pk, (const uint8_t *)"merged", 6, sig), HL_OK);
    hl_crypto_signer_free(s);
    rm_rf(dir);
}

/* ---- tokens ------------------------------------------------------------------------------ */

TestSuite(crypto_token, .init = init);

Test(crypto_token, known_answer_hash)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    uint8_t v[HL_CRYPTO_TOKEN_VERIFIER_BYTES], h[HL_CRYPTO_TOKEN_HASH_BYTES],
        want[HL_CRYPTO_TOKEN_HASH_BYTES];

    for (int i = 0; i < HL_CRYPTO_TOKEN_VERIFIER_BYTES; i++)
        v[i] = (uint8_t)(0xa0 + i);
    unhex("567ed5e99cb59a44b78c3b3f7cf654480ed185958b23bb8e70daa921ff2225d2", want, sizeof(want));
    cr_assert_eq(hl_crypto_token_hash(kr, v, h), HL_OK);
    cr_assert_arr_eq(h, want, sizeof(want));
    hl_crypto_keyring_free(kr);
}

Test(crypto_token, issue_parse_verify)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    char text[HL_CRYPTO_TOKEN_TEXT_LEN + 1];
    uint8_t sel[HL_CRYPTO_TOKEN_SELECTOR_BYTES], hash[HL_CRYPTO_TOKEN_HASH_BYTES];
    uint8_t sel2[HL_CRYPTO_TOKEN_SELECTOR_BYTES], ver[HL_CRYPTO_TOKEN_VERIFIER_BYTES];

    cr_assert_eq(hl_crypto_token_new(kr, text, sel, hash), HL_OK);
    cr_assert_eq(strlen(text), HL_CRYPTO_TOKEN_TEXT_LEN);
    cr_assert_eq(text[22], '.');
    cr_assert_eq(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
                 HL_CRYPTO_TOKEN_TEXT_LEN);
    cr_assert_eq(hl_crypto_token_parse(text, sel2, ver), HL_OK);
    cr_assert_arr_eq(sel, sel2, sizeof(sel));
    cr_assert_eq(hl_crypto_token_verify(kr, ver, hash, sizeof(hash)), HL_OK);
    hl_crypto_keyring_free(kr);
}

Test(crypto_token, altered_or_unknown_fails)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    char text[HL_CRYPTO_TOKEN_TEXT_LEN + 1];
    uint8_t sel[HL_CRYPTO_TOKEN_SELECTOR_BYTES], hash[HL_CRYPTO_TOKEN_HASH_BYTES];
    uint8_t sel2[HL_CRYPTO_TOKEN_SELECTOR_BYTES], ver[HL_CRYPTO_TOKEN_VERIFIER_BYTES];
    uint64_t before = hl_crypto_failures(HL_CRYPTO_FAIL_TOKEN);

    cr_assert_eq(hl_crypto_token_new(kr, text, sel, hash), HL_OK);
    /* Every character of the verifier changed in turn: it parses differently or not at all. */
    for (size_t i = 23; i < HL_CRYPTO_TOKEN_TEXT_LEN; i++) {
        char saved = text[i];
        text[i] = saved == 'A' ? 'B' : 'A';
        if (hl_crypto_token_parse(text, sel2, ver) == HL_OK)
            cr_assert_eq(hl_crypto_token_verify(kr, ver, hash, sizeof(hash)), HL_ECRYPTO, "char %zu", i);
        text[i] = saved;
    }
    cr_assert_eq(hl_crypto_token_parse(text, sel2, ver), HL_OK);
    cr_assert_eq(hl_crypto_token_verify(kr, ver, NULL, 0), HL_ECRYPTO);                /* unknown selector */
    cr_assert_eq(hl_crypto_token_verify(kr, ver, hash, sizeof(hash) - 1), HL_ECRYPTO); /* bad stored hash */
    cr_assert_gt(hl_crypto_failures(HL_CRYPTO_FAIL_TOKEN), before + 2);
    cr_assert_geq(hl_crypto_failures(HL_CRYPTO_FAIL_KINDS), hl_crypto_failures(HL_CRYPTO_FAIL_TOKEN));
    hl_crypto_keyring_free(kr);
}

Test(crypto_token, malformed_text)
{
    uint8_t sel[HL_CRYPTO_TOKEN_SELECTOR_BYTES], ver[HL_CRYPTO_TOKEN_VERIFIER_BYTES];
    const char *bad[] = {
        "",
        "abc",
        "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",   /* 65 chars */
        "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* 67 */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  /* no dot */
        "AAAAAAAAAAAAAAAAAAAAA+.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  /* not base64url */
        "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/",  /* not base64url */
        "AAAAAAAAAAAAAAAAAAAAAB.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  /* non-canonical */
        "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  /* padding */
    };

    for (size_t i = 0; i < HL_ARRAY_LEN(bad); i++)
        cr_assert_eq(hl_crypto_token_parse(bad[i], sel, ver), HL_EINVAL, "case %zu", i);
    cr_assert_eq(hl_crypto_token_parse(NULL, sel, ver), HL_EINVAL);
    cr_assert_eq(
        hl_crypto_token_parse("AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", sel, ver),
        HL_OK);
}

/* ---- key files -------------------------------------------------------------------------- */

TestSuite(crypto_keyfile, .init = init);

Test(crypto_keyfile, keygen_mode_0400_and_no_overwrite)
{
    char dir[] = "/tmp/hl-crypto-XXXXXX", path[64];
    uint8_t before[64], after[64];
    struct stat st;
    int fd;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/master.key", dir);
    cr_assert_eq(hl_crypto_keygen_file(path), HL_OK);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0400, "mode %o", (unsigned)(st.st_mode & 07777));
    cr_assert_eq(st.st_size, HL_CRYPTO_KEY_BYTES);
    fd = open(path, O_RDONLY);
    cr_assert_eq(read(fd, before, sizeof(before)), HL_CRYPTO_KEY_BYTES);
    close(fd);
    cr_assert_eq(hl_crypto_keygen_file(path), HL_EEXIST);
    fd = open(path, O_RDONLY);
    cr_assert_eq(read(fd, after, sizeof(after)), HL_CRYPTO_KEY_BYTES);
    close(fd);
    cr_assert_arr_eq(before, after, HL_CRYPTO_KEY_BYTES);
    rm_rf(dir);
}

static const char *load_path;
static int load_rc;
static void load_keyring(void *arg)
{
    hl_crypto_keyring_t *kr = NULL;

    (void)arg;
    load_rc = hl_crypto_keyring_load(load_path, &kr);
    hl_crypto_keyring_free(kr);
}

Test(crypto_keyfile, group_or_world_readable_refused)
{
    char dir[] = "/tmp/hl-crypto-XXXXXX", path[64], msg[1024];
    uint8_t key[HL_CRYPTO_KEY_BYTES] = {1};
    const mode_t bad[] = {0644, 0440, 0404, 0600 | 0020, 0402};

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/master.key", dir);
    load_path = path;
    write_file(path, key, sizeof(key), 0644);
    capture_stderr(load_keyring, NULL, msg, sizeof(msg));
    cr_assert_eq(load_rc, HL_EPERM);
    cr_assert_not_null(strstr(msg, "mode 0644"), "message: %s", msg);
    cr_assert_not_null(strstr(msg, path), "message: %s", msg);
    cr_assert_not_null(strstr(msg, "chmod 0400"), "message: %s", msg);
    for (size_t i = 0; i < HL_ARRAY_LEN(bad); i++) {
        cr_assert_eq(chmod(path, bad[i]), 0);
        capture_stderr(load_keyring, NULL, msg, sizeof(msg));
        cr_assert_eq(load_rc, HL_EPERM, "mode %o accepted", (unsigned)bad[i]);
    }
    cr_assert_eq(chmod(path, 0600), 0);
    capture_stderr(load_keyring, NULL, msg, sizeof(msg));
    cr_assert_eq(load_rc, HL_OK);
    cr_assert_eq(chmod(path, 0400), 0);
    capture_stderr(load_keyring, NULL, msg, sizeof(msg));
    cr_assert_eq(load_rc, HL_OK);
    rm_rf(dir);
}

Test(crypto_keyfile, wrong_size_missing_or_not_regular)
{
    char dir[] = "/tmp/hl-crypto-XXXXXX", path[64], msg[1024];
    uint8_t key[HL_CRYPTO_KEY_BYTES + 1] = {0};

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/master.key", dir);
    load_path = path;
    capture_stderr(load_keyring, NULL, msg, sizeof(msg));
    cr_assert_eq(load_rc, HL_ENOTFOUND);
    write_file(path, key, HL_CRYPTO_KEY_BYTES - 1, 0400);
    capture_stderr(load_keyring, NULL, msg, sizeof(msg));
    cr_assert_eq(load_rc, HL_EINVAL);
    cr_assert_not_null(strstr(msg, "exactly 32 bytes"), "message: %s", msg);
    unlink(path);
    write_file(path, key, HL_CRYPTO_KEY_BYTES + 1, 0400);
    capture_stderr(load_keyring, NULL, msg, sizeof(msg));
    cr_assert_eq(load_rc, HL_EINVAL);
    load_path = dir; /* a directory (mode 0700) */
    capture_stderr(load_keyring, NULL, msg, sizeof(msg));
    cr_assert_eq(load_rc, HL_EINVAL);
    rm_rf(dir);
}

Test(crypto_keyfile, loading_disables_core_dumps)
{
    char dir[] = "/tmp/hl-crypto-XXXXXX", path[64];
    hl_crypto_keyring_t *kr = NULL;
    struct rlimit rl;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/master.key", dir);
    cr_assert_eq(hl_crypto_keygen_file(path), HL_OK);
    cr_assert_eq(hl_crypto_keyring_load(path, &kr), HL_OK);
    cr_assert_eq(getrlimit(RLIMIT_CORE, &rl), 0);
    cr_assert_eq(rl.rlim_cur, 0);
    cr_assert_eq(hl_crypto_keyring_current(kr), 1);
    hl_crypto_keyring_free(kr);
    rm_rf(dir);
}

/* ---- keyring on disk ---------------------------------------------------------------------- */

TestSuite(crypto_keyring, .init = init);

Test(crypto_keyring, rotate_seal_open_both)
{
    char dir[] = "/tmp/hl-crypto-XXXXXX", path[64], other[96];
    hl_crypto_keyring_t *kr1 = NULL, *kr2 = NULL;
    uint8_t a[64], b[64], pt[64];
    size_t alen, blen, ptlen;
    uint32_t id = 0, kid = 0;
    struct stat st;
    FILE *f;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/master.key", dir);
    cr_assert_eq(hl_crypto_keygen_file(path), HL_OK);
    cr_assert_eq(hl_crypto_keyring_load(path, &kr1), HL_OK);
    cr_assert_eq(hl_crypto_seal(kr1, &KAT_AD, (const uint8_t *)"under one", 9, a, sizeof(a), &alen), HL_OK);

    cr_assert_eq(hl_crypto_keyring_rotate(path, &id), HL_OK);
    cr_assert_eq(id, 2);
    snprintf(other, sizeof(other), "%s.d/00000002.key", path);
    cr_assert_eq(stat(other, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0400);
    snprintf(other, sizeof(other), "%s.d/current", path);
    f = fopen(other, "r");
    cr_assert_not_null(f);
    cr_assert_eq(fscanf(f, "%u", &kid), 1);
    fclose(f);
    cr_assert_eq(kid, 2);

    cr_assert_eq(hl_crypto_keyring_load(path, &kr2), HL_OK);
    cr_assert_eq(hl_crypto_keyring_current(kr2), 2);
    cr_assert(hl_crypto_keyring_has(kr2, 1));
    cr_assert_eq(hl_crypto_seal(kr2, &KAT_AD, (const uint8_t *)"under two", 9, b, sizeof(b), &blen), HL_OK);
    cr_assert_eq(hl_crypto_envelope_key_id(b, blen, &kid), HL_OK);
    cr_assert_eq(kid, 2);
    cr_assert_eq(hl_crypto_open(kr2, &KAT_AD, a, alen, pt, sizeof(pt), &ptlen), HL_OK);
    cr_assert_arr_eq(pt, "under one", 9);
    cr_assert_eq(hl_crypto_open(kr2, &KAT_AD, b, blen, pt, sizeof(pt), &ptlen), HL_OK);
    cr_assert_arr_eq(pt, "under two", 9);
    /* A process that has not reloaded does not know key 2. */
    expect_no_open(kr1, &KAT_AD, b, blen);

    /* Rotation brings fresh key material: keys 2 and 3 differ. */
    cr_assert_eq(hl_crypto_keyring_rotate(path, &id), HL_OK);
    cr_assert_eq(id, 3);
    hl_crypto_keyring_free(kr1);
    kr1 = NULL;
    cr_assert_eq(hl_crypto_keyring_load(path, &kr1), HL_OK);
    cr_assert_eq(hl_crypto_keyring_current(kr1), 3);
    b[1] = 3; /* same bytes relabelled as key 3 */
    expect_no_open(kr1, &KAT_AD, b, blen);
    hl_crypto_keyring_free(kr1);
    hl_crypto_keyring_free(kr2);
    rm_rf(dir);
}

Test(crypto_keyring, bad_directory_contents_refused)
{
    char dir[] = "/tmp/hl-crypto-XXXXXX", path[64], ring[80], file[112], msg[1024];
    uint8_t key[HL_CRYPTO_KEY_BYTES] = {7};
    uint32_t id;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/master.key", dir);
    snprintf(ring, sizeof(ring), "%s.d", path);
    load_path = path;
    cr_assert_eq(hl_crypto_keygen_file(path), HL_OK);
    cr_assert_eq(hl_crypto_keyring_rotate(path, &id), HL_OK);

    /* current names a key that has no file */
    snprintf(file, sizeof(file), "%s/current", ring);
    write_file(file, (const uint8_t *)"9\n", 2, 0600);
    capture_stderr(load_keyring, NULL, msg, sizeof(msg));
    cr_assert_eq(load_rc, HL_EINVAL);
    write_file(file, (const uint8_t *)"two\n", 4, 0600);
    capture_stderr(load_keyring, NULL, msg, sizeof(msg));
    cr_assert_eq(load_rc, HL_EINVAL);
    write_file(file, (const uint8_t *)"2\n", 2, 0600);
    capture_stderr(load_keyring, NULL, msg, sizeof(msg));
    cr_assert_eq(load_rc, HL_OK);

    /* a world-readable rotated key */
    snprintf(file, sizeof(file), "%s/00000005.key", ring);
    write_file(file, key, sizeof(key), 0644);
    capture_stderr(load_keyring, NULL, msg, sizeof(msg));
    cr_assert_eq(load_rc, HL_EPERM);
    cr_assert_not_null(strstr(msg, "00000005.key"), "message: %s", msg);
    unlink(file);

    /* a group-writable key directory */
    cr_assert_eq(chmod(ring, 0770), 0);
    capture_stderr(load_keyring, NULL, msg, sizeof(msg));
    cr_assert_eq(load_rc, HL_EPERM);
    cr_assert_eq(chmod(ring, 0700), 0);

    /* no current file: key 1 stays current, others still open */
    snprintf(file, sizeof(file), "%s/current", ring);
    unlink(file);
    hl_crypto_keyring_t *kr = NULL;
    cr_assert_eq(hl_crypto_keyring_load(path, &kr), HL_OK);
    cr_assert_eq(hl_crypto_keyring_current(kr), 1);
    cr_assert(hl_crypto_keyring_has(kr, 2));
    hl_crypto_keyring_free(kr);
    rm_rf(dir);
}

Test(crypto_keyring, add_rules)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    uint8_t root[HL_CRYPTO_KEY_BYTES] = {9};

    cr_assert_eq(hl_crypto_keyring_add(kr, 1, root, false), HL_EINVAL);
    cr_assert_eq(hl_crypto_keyring_add(kr, 0, root, false), HL_EINVAL);
    cr_assert_eq(hl_crypto_keyring_add(kr, 4, root, true), HL_OK);
    cr_assert_eq(hl_crypto_keyring_add(kr, 4, root, true), HL_EINVAL);
    hl_crypto_keyring_pin(kr); /* growing while pinned keeps it readable */
    cr_assert_eq(hl_crypto_keyring_add(kr, 5, root, false), HL_OK);
    cr_assert_null(seal_open_loop(kr));
    hl_crypto_keyring_unpin(kr);
    cr_assert_eq(hl_crypto_keyring_current(kr), 4);
    cr_assert(hl_crypto_keyring_has(kr, 5));
    cr_assert_not(hl_crypto_keyring_has(kr, 6));
    hl_crypto_keyring_free(kr);
    hl_crypto_keyring_free(NULL);
}

/* The subcommands once forgot hl_crypto_init: sodium_malloc then aborts. Entry points that
 * allocate key memory initialise libsodium themselves. */
TestSuite(crypto_noinit);

Test(crypto_noinit, keyfile_functions_initialise_libsodium)
{
    char dir[] = "/tmp/hl-crypto-XXXXXX", path[64];
    uint32_t id = 0;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/master.key", dir);
    cr_assert_eq(hl_crypto_keygen_file(path), HL_OK);
    cr_assert_eq(hl_crypto_keyring_rotate(path, &id), HL_OK);
    cr_assert_eq(id, 2);
    rm_rf(dir);
}

/* ---- contact ids from source keys ------------------------------------------------------------ */

TestSuite(crypto_source_id, .init = init);

Test(crypto_source_id, known_answer_and_uuid_shape)
{
    hl_crypto_keyring_t *kr = fixed_keyring();
    uint8_t got[HL_CRYPTO_SOURCE_ID_BYTES], want[HL_CRYPTO_SOURCE_ID_BYTES];

    unhex("d0ade1a3f530843aaa8768b26c14f355", want, sizeof(want));
    cr_assert_eq(hl_crypto_source_id(kr, 1, "asterisk", "1732270000.42", got), HL_OK);
    cr_assert_arr_eq(got, want, sizeof(want));
    cr_assert_eq(got[6] >> 4, 8, "UUID version 8");
    cr_assert_eq(got[8] >> 6, 2, "RFC 4122 variant");
    hl_crypto_keyring_free(kr);
}

Test(crypto_source_id, every_part_and_the_key_matter)
{
    hl_crypto_keyring_t *kr = fixed_keyring(), *kr2 = NULL;
    uint8_t base[16], other[16], m[HL_CRYPTO_KEY_BYTES];

    cr_assert_eq(hl_crypto_source_id(kr, 1, "ab", "c", base), HL_OK);
    cr_assert_eq(hl_crypto_source_id(kr, 1, "ab", "c", other), HL_OK);
    cr_assert_arr_eq(base, other, 16, "deterministic");
    cr_assert_eq(hl_crypto_source_id(kr, 1, "a", "bc", other), HL_OK);
    cr_assert(memcmp(base, other, 16) != 0, "parts are length-prefixed");
    cr_assert_eq(hl_crypto_source_id(kr, 2, "ab", "c", other), HL_OK);
    cr_assert(memcmp(base, other, 16) != 0, "the helpline is part of the id");
    fixed_master(m);
    m[0] ^= 1;
    cr_assert_eq(hl_crypto_keyring_new(m, &kr2), HL_OK);
    cr_assert_eq(hl_crypto_source_id(kr2, 1, "ab", "c", other), HL_OK);
    cr_assert(memcmp(base, other, 16) != 0, "keyed");
    hl_crypto_keyring_free(kr);
    hl_crypto_keyring_free(kr2);
}

/* ---- list cursor MAC --------------------------------------------------------------------- */

TestSuite(crypto_cursor, .init = init);

/* Cross-checked with Python: blake2b(msg, digest_size=16, key=kdf(master, 1, b'CURSORM1'))
 * (docs/keys.md, appendix). */
Test(crypto_cursor, known_answer)
{
    static const char msg[] = "helpline cursor known answer";
    hl_crypto_keyring_t *kr = fixed_keyring();
    uint8_t got[HL_CRYPTO_CURSOR_MAC_BYTES], want[HL_CRYPTO_CURSOR_MAC_BYTES];

    unhex("99b1301b9e46f7b37ba319e4d5408aac", want, sizeof(want));
    cr_assert_eq(hl_crypto_cursor_mac(kr, (const uint8_t *)msg, sizeof(msg) - 1, got), HL_OK);
    cr_assert_arr_eq(got, want, sizeof(want));
    unhex("5c96c8502e7d30150b4ccee8911985d2", want, sizeof(want));
    cr_assert_eq(hl_crypto_cursor_mac(kr, NULL, 0, got), HL_OK);
    cr_assert_arr_eq(got, want, sizeof(want), "empty message");
    hl_crypto_keyring_free(kr);
}

Test(crypto_cursor, keyed_and_apart_from_the_token_key)
{
    static const uint8_t msg[HL_CRYPTO_TOKEN_VERIFIER_BYTES] = {1, 2, 3};
    hl_crypto_keyring_t *kr = fixed_keyring(), *kr2 = NULL;
    uint8_t a[HL_CRYPTO_CURSOR_MAC_BYTES], b[HL_CRYPTO_CURSOR_MAC_BYTES], t[HL_CRYPTO_TOKEN_HASH_BYTES];
    uint8_t m[HL_CRYPTO_KEY_BYTES];

    fixed_master(m);
    m[31] ^= 0x80;
    cr_assert_eq(hl_crypto_keyring_new(m, &kr2), HL_OK);
    cr_assert_eq(hl_crypto_cursor_mac(kr, msg, sizeof(msg), a), HL_OK);
    cr_assert_eq(hl_crypto_cursor_mac(kr2, msg, sizeof(msg), b), HL_OK);
    cr_assert(memcmp(a, b, sizeof(a)) != 0, "another master key, another tag");
    cr_assert_eq(hl_crypto_token_hash(kr, msg, t), HL_OK);
    cr_assert(memcmp(a, t, sizeof(a)) != 0, "not the token key");
    cr_assert_eq(hl_crypto_cursor_mac(NULL, msg, sizeof(msg), a), HL_EINVAL);
    cr_assert_eq(hl_crypto_cursor_mac(kr, NULL, 1, a), HL_EINVAL);
    hl_crypto_keyring_free(kr);
    hl_crypto_keyring_free(kr2);
}
