#include "contacts/tokenfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium/utils.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/*
 * File: magic "HLTOKENS", u32 format version (little-endian), then one sealed envelope of the
 * payload: u32 count, then COUNT entries of ENTRY_BYTES (layout in put_entry). docs/keys.md.
 */
#define MAGIC        "HLTOKENS"
#define VERSION      1u
#define HEADER_BYTES 12
#define ENTRY_BYTES  204
#define PAYLOAD_MAX  (4 + (size_t)HL_TOKENFILE_MAX_ENTRIES * ENTRY_BYTES)
#define FILE_MAX     (HEADER_BYTES + HL_CRYPTO_SEALED_LEN(PAYLOAD_MAX))
#define FUTURE_SLACK (24 * 3600) /* a clock set back by up to a day keeps the list */
#define OFF_NAME     73
#define OFF_CODE     (OFF_NAME + 65)
#define OFF_NETWORK  (OFF_CODE + 33)
#define TMP_SUFFIX   ".tmp"
#define PATH_CAP     4096

_Static_assert(OFF_NETWORK + 33 == ENTRY_BYTES, "entry layout");
_Static_assert(sizeof(((hl_principal_t *)0)->name) == 65 &&
                   sizeof(((hl_principal_t *)0)->helpline_code) == 33 &&
                   sizeof(((hl_principal_t *)0)->network) == 33,
               "the entry layout follows hl_principal_t's strings");
_Static_assert(PAYLOAD_MAX <= HL_CRYPTO_MAX_PLAINTEXT, "the list fits one envelope");

static const hl_crypto_ad_t file_ad = {"auth", HL_TOKENFILE_NAME, "1"};

/* Fixed-size string fields, NUL-padded. */
static void put_str(uint8_t *p, const char *s, size_t cap)
{
    size_t n = strnlen(s, cap - 1);

    memset(p, 0, cap);
    memcpy(p, s, n);
}

static bool get_str(char *dst, const uint8_t *p, size_t cap)
{
    if (memchr(p, '\0', cap) == NULL)
        return false;
    memcpy(dst, p, cap);
    return true;
}

static void put_entry(uint8_t *p, const hl_tokenfile_entry_t *e)
{
    memcpy(p, e->selector, HL_CRYPTO_TOKEN_SELECTOR_BYTES);
    memcpy(p + 16, e->hash, HL_CRYPTO_TOKEN_HASH_BYTES);
    hl_le64_put(p + 48, (uint64_t)e->validated_at);
    hl_le64_put(p + 56, (uint64_t)e->principal.user_id);
    hl_le64_put(p + 64, (uint64_t)e->principal.helpline_id);
    p[72] = (uint8_t)e->principal.role;
    put_str(p + OFF_NAME, e->principal.name, 65);
    put_str(p + OFF_CODE, e->principal.helpline_code, 33);
    put_str(p + OFF_NETWORK, e->principal.network, 33);
}

static bool get_entry(const uint8_t *p, hl_tokenfile_entry_t *e)
{
    memset(e, 0, sizeof(*e));
    memcpy(e->selector, p, HL_CRYPTO_TOKEN_SELECTOR_BYTES);
    memcpy(e->hash, p + 16, HL_CRYPTO_TOKEN_HASH_BYTES);
    e->validated_at = (int64_t)hl_le64_get(p + 48);
    e->principal.user_id = (int64_t)hl_le64_get(p + 56);
    e->principal.helpline_id = (int64_t)hl_le64_get(p + 64);
    e->principal.role = (hl_role_t)p[72];
    return e->principal.role == HL_ROLE_FRONTEND && e->principal.user_id > 0 &&
           e->principal.helpline_id > 0 && get_str(e->principal.name, p + OFF_NAME, 65) &&
           get_str(e->principal.helpline_code, p + OFF_CODE, 33) &&
           get_str(e->principal.network, p + OFF_NETWORK, 33);
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static bool paths(const char *dir, char path[PATH_CAP], char tmp[PATH_CAP])
{
    int a = snprintf(path, PATH_CAP, "%s/%s", dir, HL_TOKENFILE_NAME);
    int b = snprintf(tmp, PATH_CAP, "%s/%s%s", dir, HL_TOKENFILE_NAME, TMP_SUFFIX);

    return a > 0 && a < PATH_CAP && b > 0 && b < PATH_CAP;
}

int hl_tokenfile_save(const char *dir, hl_crypto_keyring_t *kr, const hl_tokenfile_entry_t *entries, size_t n)
{
    char path[PATH_CAP], tmp[PATH_CAP];
    size_t plen = 4 + n * ENTRY_BYTES, flen = 0;
    uint8_t *payload = NULL, *file = NULL;
    int fd = -1, dfd = -1, rc = HL_EINVAL;

    if (dir == NULL || kr == NULL || (entries == NULL && n > 0) || n > HL_TOKENFILE_MAX_ENTRIES ||
        !paths(dir, path, tmp))
        return HL_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (entries[i].principal.role != HL_ROLE_FRONTEND)
            return HL_EINVAL;
    payload = malloc(plen);
    file = malloc(HEADER_BYTES + HL_CRYPTO_SEALED_LEN(plen));
    if (payload == NULL || file == NULL) {
        rc = HL_ENOMEM;
        goto out;
    }
    hl_le32_put(payload, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        put_entry(payload + 4 + i * ENTRY_BYTES, &entries[i]);
    memcpy(file, MAGIC, 8);
    hl_le32_put(file + 8, VERSION);
    rc = hl_crypto_seal(kr, &file_ad, payload, plen, file + HEADER_BYTES, HL_CRYPTO_SEALED_LEN(plen), &flen);
    if (rc != HL_OK)
        goto out;
    flen += HEADER_BYTES;
    rc = HL_EIO;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || write_all(fd, file, flen) != 0 || fsync(fd) != 0) {
        hl_log(HL_LOG_ERROR, "auth: %s: cannot write: %s", tmp, strerror(errno));
        goto out;
    }
    if (rename(tmp, path) != 0) {
        hl_log(HL_LOG_ERROR, "auth: %s: cannot rename: %s", tmp, strerror(errno));
        goto out;
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        hl_log(HL_LOG_ERROR, "auth: %s: cannot fsync the directory: %s", dir, strerror(errno));
        goto out;
    }
    rc = HL_OK;
out:
    if (dfd >= 0)
        close(dfd);
    if (fd >= 0)
        close(fd);
    if (payload != NULL)
        sodium_memzero(payload, plen);
    free(payload);
    free(file);
    return rc;
}

/* The whole file (at most FILE_MAX bytes) into *BUF. */
static int read_file(const char *path, uint8_t **buf, size_t *len)
{
    struct stat st;
    uint8_t *b = NULL;
    size_t got = 0;
    int fd, rc = HL_EIO;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return HL_ENOTFOUND;
        hl_log(HL_LOG_ERROR, "auth: %s: cannot open: %s", path, strerror(errno));
        return HL_EIO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 || (size_t)st.st_size > FILE_MAX) {
        rc = HL_EINVAL;
        goto out;
    }
    b = malloc((size_t)st.st_size + 1);
    if (b == NULL) {
        rc = HL_ENOMEM;
        goto out;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, b + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto out;
        got += (size_t)n;
    }
    *buf = b;
    *len = got;
    b = NULL;
    rc = HL_OK;
out:
    free(b);
    close(fd);
    return rc;
}

int hl_tokenfile_load(const char *dir, hl_crypto_keyring_t *kr, int64_t now, hl_tokenfile_entry_t **out,
                      size_t *n)
{
    char path[PATH_CAP], tmp[PATH_CAP];
    uint8_t *file = NULL, *payload = NULL;
    size_t flen = 0, plen = 0, count = 0, kept = 0;
    hl_tokenfile_entry_t *entries = NULL;
    int rc;

    if (dir == NULL || kr == NULL || out == NULL || n == NULL || !paths(dir, path, tmp))
        return HL_EINVAL;
    rc = read_file(path, &file, &flen);
    if (rc != HL_OK)
        return rc;
    rc = HL_EINVAL;
    if (flen < HEADER_BYTES + HL_CRYPTO_OVERHEAD + 4 || memcmp(file, MAGIC, 8) != 0 ||
        hl_le32_get(file + 8) != VERSION)
        goto out;
    payload = malloc(flen - HEADER_BYTES - HL_CRYPTO_OVERHEAD);
    if (payload == NULL) {
        rc = HL_ENOMEM;
        goto out;
    }
    rc = hl_crypto_open(kr, &file_ad, file + HEADER_BYTES, flen - HEADER_BYTES, payload,
                        flen - HEADER_BYTES - HL_CRYPTO_OVERHEAD, &plen);
    if (rc != HL_OK)
        goto out;
    rc = HL_EINVAL;
    count = hl_le32_get(payload);
    if (plen < 4 || count > HL_TOKENFILE_MAX_ENTRIES || plen != 4 + count * ENTRY_BYTES)
        goto out;
    entries = calloc(count > 0 ? count : 1, sizeof(*entries));
    if (entries == NULL) {
        rc = HL_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        hl_tokenfile_entry_t *e = &entries[kept];
        if (!get_entry(payload + 4 + i * ENTRY_BYTES, e))
            goto out;
        if (e->validated_at <= now - HL_TOKENFILE_MAX_AGE || e->validated_at > now + FUTURE_SLACK)
            continue;
        kept++;
    }
    *out = entries;
    *n = kept;
    entries = NULL;
    rc = HL_OK;
out:
    if (rc == HL_EINVAL)
        hl_log(HL_LOG_ERROR, "auth: %s is malformed", path);
    if (entries != NULL)
        sodium_memzero(entries, sizeof(*entries) * (count > 0 ? count : 1));
    free(entries);
    if (payload != NULL)
        sodium_memzero(payload, flen - HEADER_BYTES - HL_CRYPTO_OVERHEAD);
    free(payload);
    free(file);
    return rc;
}
