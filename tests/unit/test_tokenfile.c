/* server/tokenfile: the frontend-tokens file (format in docs/keys.md section 6). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "contacts/tokenfile.h"

static char dir[64];
static char path[128];
static hl_crypto_keyring_t *kr;

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void setup(void)
{
    uint8_t master[HL_CRYPTO_KEY_BYTES];

    cr_assert_eq(hl_crypto_init(), HL_OK);
    snprintf(dir, sizeof(dir), "/tmp/hl-tokenfile-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/" HL_TOKENFILE_NAME, dir);
    randombytes_buf(master, sizeof(master));
    cr_assert_eq(hl_crypto_keyring_new(master, &kr), HL_OK);
}

static void teardown(void)
{
    hl_crypto_keyring_free(kr);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(tokenfile, .init = setup, .fini = teardown);

static hl_tokenfile_entry_t entry(int i, int64_t validated_at)
{
    hl_tokenfile_entry_t e;

    memset(&e, 0, sizeof(e));
    memset(e.selector, 0x10 + i, sizeof(e.selector));
    memset(e.hash, 0x80 + i, sizeof(e.hash));
    e.validated_at = validated_at;
    e.principal.user_id = 100 + i;
    e.principal.role = HL_ROLE_FRONTEND;
    e.principal.helpline_id = 7;
    snprintf(e.principal.name, sizeof(e.principal.name), "frontend-%d", i);
    snprintf(e.principal.helpline_code, sizeof(e.principal.helpline_code), "ke-116");
    snprintf(e.principal.network, sizeof(e.principal.network), "%s", i % 2 ? "east-africa" : "");
    return e;
}

static void expect_same(const hl_tokenfile_entry_t *a, const hl_tokenfile_entry_t *b)
{
    cr_expect_eq(memcmp(a->selector, b->selector, sizeof(a->selector)), 0);
    cr_expect_eq(memcmp(a->hash, b->hash, sizeof(a->hash)), 0);
    cr_expect_eq(a->validated_at, b->validated_at);
    cr_expect_eq(a->principal.user_id, b->principal.user_id);
    cr_expect_eq(a->principal.role, b->principal.role);
    cr_expect_eq(a->principal.helpline_id, b->principal.helpline_id);
    cr_expect_str_eq(a->principal.name, b->principal.name);
    cr_expect_str_eq(a->principal.helpline_code, b->principal.helpline_code);
    cr_expect_str_eq(a->principal.network, b->principal.network);
}

static uint8_t *read_all(size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = malloc(1 << 20);

    cr_assert_not_null(f);
    cr_assert_not_null(buf);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static void write_all(const uint8_t *buf, size_t len)
{
    FILE *f = fopen(path, "wb");

    cr_assert_not_null(f);
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static bool contains(const uint8_t *hay, size_t len, const void *needle, size_t n)
{
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return true;
    return false;
}

Test(tokenfile, round_trip_mode_0600_and_nothing_readable)
{
    int64_t now = time(NULL);
    hl_tokenfile_entry_t in[3] = {entry(0, now), entry(1, now - 3600), entry(2, now - 60)};
    hl_tokenfile_entry_t *out = NULL;
    struct stat st;
    size_t n = 0, len;

    cr_assert_eq(hl_tokenfile_save(dir, kr, in, 3), HL_OK);
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0600, "mode %o", (unsigned)(st.st_mode & 0777));
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    cr_expect_neq(access(tmp, F_OK), 0, "the temporary file is left behind");
    cr_assert_eq(hl_tokenfile_load(dir, kr, now, &out, &n), HL_OK);
    cr_assert_eq(n, 3);
    for (size_t i = 0; i < 3; i++)
        expect_same(&out[i], &in[i]);
    free(out);

    /* sealed: no selector, hash or name in clear */
    uint8_t *buf = read_all(&len);
    cr_expect_eq(memcmp(buf, "HLTOKENS\x01\0\0\0", 12), 0, "magic and version 1");
    for (size_t i = 0; i < 3; i++) {
        cr_expect(!contains(buf, len, in[i].selector, sizeof(in[i].selector)));
        cr_expect(!contains(buf, len, in[i].hash, sizeof(in[i].hash)));
        cr_expect(!contains(buf, len, in[i].principal.name, strlen(in[i].principal.name)));
    }
    cr_expect(!contains(buf, len, "ke-116", 6));
    free(buf);

    /* rewritten whole: a shorter list replaces the longer one */
    cr_assert_eq(hl_tokenfile_save(dir, kr, in + 1, 1), HL_OK);
    cr_assert_eq(hl_tokenfile_load(dir, kr, now, &out, &n), HL_OK);
    cr_assert_eq(n, 1);
    expect_same(&out[0], &in[1]);
    free(out);
    cr_assert_eq(hl_tokenfile_save(dir, kr, NULL, 0), HL_OK);
    cr_assert_eq(hl_tokenfile_load(dir, kr, now, &out, &n), HL_OK);
    cr_expect_eq(n, 0);
    free(out);
}

/* The payload layout is frozen (docs/keys.md): opened by hand, offsets as documented. */
Test(tokenfile, payload_layout)
{
    const hl_crypto_ad_t ad = {"auth", HL_TOKENFILE_NAME, "1"};
    hl_tokenfile_entry_t e = entry(1, 0x0102030405LL);
    uint8_t pt[4 + 204];
    size_t len, ptlen = 0;

    cr_assert_eq(hl_tokenfile_save(dir, kr, &e, 1), HL_OK);
    uint8_t *buf = read_all(&len);
    cr_assert_eq(len, 12 + HL_CRYPTO_SEALED_LEN(sizeof(pt)));
    cr_assert_eq(hl_crypto_open(kr, &ad, buf + 12, len - 12, pt, sizeof(pt), &ptlen), HL_OK);
    cr_assert_eq(ptlen, sizeof(pt));
    const uint8_t *p = pt + 4;
    cr_expect_eq(memcmp(pt, "\x01\0\0\0", 4), 0, "count");
    cr_expect_eq(memcmp(p, e.selector, 16), 0);
    cr_expect_eq(memcmp(p + 16, e.hash, 32), 0);
    cr_expect_eq(memcmp(p + 48, "\x05\x04\x03\x02\x01\0\0\0", 8), 0, "validated_at, little-endian");
    cr_expect_eq(memcmp(p + 56, "\x65\0\0\0\0\0\0\0", 8), 0, "user id 101");
    cr_expect_eq(memcmp(p + 64, "\x07\0\0\0\0\0\0\0", 8), 0, "helpline id 7");
    cr_expect_eq(p[72], 1, "role frontend");
    cr_expect_str_eq((const char *)p + 73, "frontend-1");
    cr_expect_str_eq((const char *)p + 138, "ke-116");
    cr_expect_str_eq((const char *)p + 171, "east-africa");
    sodium_memzero(pt, sizeof(pt));
    free(buf);
}

Test(tokenfile, old_and_future_entries_are_left_out)
{
    int64_t now = 1750000000;
    hl_tokenfile_entry_t in[5] = {
        entry(0, now - HL_TOKENFILE_MAX_AGE),     /* exactly the limit: out */
        entry(1, now - HL_TOKENFILE_MAX_AGE + 1), /* in */
        entry(2, now),                            /* in */
        entry(3, now + 24 * 3600),                /* a clock set back by a day: in */
        entry(4, now + 24 * 3600 + 1),            /* out */
    };
    hl_tokenfile_entry_t *out = NULL;
    size_t n = 0;

    cr_assert_eq(hl_tokenfile_save(dir, kr, in, 5), HL_OK);
    cr_assert_eq(hl_tokenfile_load(dir, kr, now, &out, &n), HL_OK);
    cr_assert_eq(n, 3);
    expect_same(&out[0], &in[1]);
    expect_same(&out[1], &in[2]);
    expect_same(&out[2], &in[3]);
    free(out);
}

Test(tokenfile, bounded)
{
    static hl_tokenfile_entry_t in[HL_TOKENFILE_MAX_ENTRIES + 1];
    hl_tokenfile_entry_t *out = NULL;
    int64_t now = time(NULL);
    size_t n = 0;

    for (size_t i = 0; i < HL_TOKENFILE_MAX_ENTRIES + 1; i++) {
        in[i] = entry(0, now);
        memcpy(in[i].selector, &i, sizeof(i));
    }
    cr_expect_eq(hl_tokenfile_save(dir, kr, in, HL_TOKENFILE_MAX_ENTRIES + 1), HL_EINVAL);
    cr_assert_eq(hl_tokenfile_save(dir, kr, in, HL_TOKENFILE_MAX_ENTRIES), HL_OK);
    cr_assert_eq(hl_tokenfile_load(dir, kr, now, &out, &n), HL_OK);
    cr_expect_eq(n, HL_TOKENFILE_MAX_ENTRIES);
    expect_same(&out[HL_TOKENFILE_MAX_ENTRIES - 1], &in[HL_TOKENFILE_MAX_ENTRIES - 1]);
    free(out);
}

Test(tokenfile, only_frontend_principals)
{
    hl_tokenfile_entry_t e = entry(0, time(NULL));

    e.principal.role = HL_ROLE_ADMIN;
    cr_expect_eq(hl_tokenfile_save(dir, kr, &e, 1), HL_EINVAL);
    e.principal.role = HL_ROLE_COUNSELLOR;
    cr_expect_eq(hl_tokenfile_save(dir, kr, &e, 1), HL_EINVAL);
    cr_expect_neq(access(path, F_OK), 0, "nothing written");
}

Test(tokenfile, missing_file_and_bad_arguments)
{
    hl_tokenfile_entry_t *out = NULL;
    hl_tokenfile_entry_t e = entry(0, 1);
    size_t n = 0;

    cr_expect_eq(hl_tokenfile_load(dir, kr, time(NULL), &out, &n), HL_ENOTFOUND);
    cr_expect_eq(hl_tokenfile_load(NULL, kr, 0, &out, &n), HL_EINVAL);
    cr_expect_eq(hl_tokenfile_save(NULL, kr, &e, 1), HL_EINVAL);
    cr_expect_eq(hl_tokenfile_save(dir, NULL, &e, 1), HL_EINVAL);
    cr_expect_eq(hl_tokenfile_save(dir, kr, NULL, 1), HL_EINVAL);
    /* a directory that is gone: an error, not a crash */
    cr_expect_eq(hl_tokenfile_save("/nonexistent-hl-dir", kr, &e, 1), HL_EIO);
}

/* Any changed, cut or added byte, or another key: refused whole. */
Test(tokenfile, tampering_and_other_keys_refused)
{
    int64_t now = time(NULL);
    hl_tokenfile_entry_t in[2] = {entry(0, now), entry(1, now)};
    hl_tokenfile_entry_t *out = NULL;
    size_t n = 0, len;

    cr_assert_eq(hl_tokenfile_save(dir, kr, in, 2), HL_OK);
    uint8_t *good = read_all(&len);
    uint8_t *bad = malloc(len + 1);
    cr_assert_not_null(bad);

    for (size_t i = 0; i < len; i += (i < 64 ? 1 : 37)) {
        memcpy(bad, good, len);
        bad[i] ^= 0x01;
        write_all(bad, len);
        int rc = hl_tokenfile_load(dir, kr, now, &out, &n);
        cr_expect(rc == HL_ECRYPTO || rc == HL_EINVAL, "byte %zu flipped: %d", i, rc);
    }
    memcpy(bad, good, len);
    bad[len] = 0;
    write_all(bad, len + 1);
    cr_expect_eq(hl_tokenfile_load(dir, kr, now, &out, &n), HL_ECRYPTO, "a byte added");
    for (size_t cut = 0; cut < len; cut += 50) {
        write_all(good, cut);
        int rc = hl_tokenfile_load(dir, kr, now, &out, &n);
        cr_expect(rc == HL_ECRYPTO || rc == HL_EINVAL, "cut at %zu: %d", cut, rc);
    }

    /* another master key does not open it */
    uint8_t master[HL_CRYPTO_KEY_BYTES];
    hl_crypto_keyring_t *other = NULL;
    randombytes_buf(master, sizeof(master));
    cr_assert_eq(hl_crypto_keyring_new(master, &other), HL_OK);
    write_all(good, len);
    cr_expect_eq(hl_tokenfile_load(dir, other, now, &out, &n), HL_ECRYPTO);
    hl_crypto_keyring_free(other);

    /* a sealed field from elsewhere (another AD) put in its place does not open either */
    const hl_crypto_ad_t ad = {"contacts", "summary", "1"};
    size_t sealed_len = 0;
    cr_assert_eq(hl_crypto_seal(kr, &ad, good + 12, 40, bad + 12, len - 12, &sealed_len), HL_OK);
    write_all(bad, 12 + sealed_len);
    cr_expect_eq(hl_tokenfile_load(dir, kr, now, &out, &n), HL_ECRYPTO);

    /* the genuine file still loads */
    write_all(good, len);
    cr_assert_eq(hl_tokenfile_load(dir, kr, now, &out, &n), HL_OK);
    cr_expect_eq(n, 2);
    free(out);
    free(bad);
    free(good);
}

/* Symbolic links are not followed, neither to read nor to write. */
Test(tokenfile, symlinks_refused)
{
    char target[160], tmp[160];
    hl_tokenfile_entry_t e = entry(0, time(NULL));
    hl_tokenfile_entry_t *out = NULL;
    struct stat st;
    size_t n = 0;

    snprintf(target, sizeof(target), "%s/elsewhere", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    cr_assert_eq(symlink(target, tmp), 0);
    cr_expect_eq(hl_tokenfile_save(dir, kr, &e, 1), HL_EIO);
    cr_expect_neq(stat(target, &st), 0, "written through a link");
    cr_assert_eq(unlink(tmp), 0);

    cr_assert_eq(hl_tokenfile_save(dir, kr, &e, 1), HL_OK);
    cr_assert_eq(rename(path, target), 0);
    cr_assert_eq(symlink(target, path), 0);
    cr_expect_eq(hl_tokenfile_load(dir, kr, time(NULL), &out, &n), HL_EIO);
}
