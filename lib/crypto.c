#include "crypto.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* Debian 12 ships 1.0.18 (library version 10.3); nothing newer may be used. */
#if defined(SODIUM_LIBRARY_VERSION_MAJOR) &&                                                                 \
    (SODIUM_LIBRARY_VERSION_MAJOR < 10 ||                                                                    \
     (SODIUM_LIBRARY_VERSION_MAJOR == 10 && SODIUM_LIBRARY_VERSION_MINOR < 3))
#error "libsodium 1.0.18 or later is required"
#endif

_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == HL_CRYPTO_KEY_BYTES, "AEAD key size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == HL_CRYPTO_NONCE_BYTES, "AEAD nonce size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == HL_CRYPTO_TAG_BYTES, "AEAD tag size");
_Static_assert(crypto_kdf_KEYBYTES == HL_CRYPTO_KEY_BYTES, "KDF key size");
_Static_assert(crypto_kdf_CONTEXTBYTES == 8, "KDF context size");
_Static_assert(crypto_sign_SEEDBYTES == HL_CRYPTO_KEY_BYTES, "Ed25519 seed size");
_Static_assert(crypto_sign_PUBLICKEYBYTES == HL_CRYPTO_SIGN_PK_BYTES, "Ed25519 public key size");
_Static_assert(crypto_sign_BYTES == HL_CRYPTO_SIGN_BYTES, "Ed25519 signature size");
_Static_assert(crypto_generichash_KEYBYTES == HL_CRYPTO_KEY_BYTES, "BLAKE2b key size");
_Static_assert(crypto_pwhash_STRBYTES == HL_CRYPTO_PASSWORD_HASH_MAX, "Argon2 string size");
_Static_assert(crypto_shorthash_KEYBYTES == HL_CRYPTO_SHORTHASH_KEY_BYTES, "SipHash key size");

/* crypto_kdf contexts: one per purpose, exactly 8 bytes each (docs/keys.md). */
static const char CTX_FIELD[] = "FIELDENC";   /* subkey id = key id, from that id's root key */
static const char CTX_BIDX[] = "BLINDIX1";    /* subkey id 1 (caller phone), from the master key */
static const char CTX_TOKEN[] = "TOKHASH1";   /* subkey id 1, from the master key */
static const char CTX_SIGN[] = "RPTSIGN1";    /* subkey id = helpline id, from the master key */
static const char CTX_CURSOR[] = "CURSORM1";  /* subkey id 1, from the master key */
static const char CTX_SESSION[] = "SESSION1"; /* 1: session token hash, 2: CSRF MAC; from the master key */

/* Format tag, first piece of every envelope's associated data. */
static const char AD_FORMAT[] = "helpline-field-v1";
#define AD_PIECES 6
#define AD_MAX    (8 + AD_PIECES * 8 + (sizeof(AD_FORMAT) - 1) + 3 * HL_CRYPTO_AD_PART_MAX + 1 + 4)

#define TOKEN_SELECTOR_B64_LEN 22
#define TOKEN_VERIFIER_B64_LEN 43
_Static_assert(TOKEN_SELECTOR_B64_LEN + 1 + TOKEN_VERIFIER_B64_LEN == HL_CRYPTO_TOKEN_TEXT_LEN,
               "token text length");

/* ---- library ---------------------------------------------------------------------------- */

static _Atomic uint64_t failures[HL_CRYPTO_FAIL_KINDS];

static void count_failure(hl_crypto_failure_t kind)
{
    atomic_fetch_add(&failures[kind], 1);
}

uint64_t hl_crypto_failures(hl_crypto_failure_t kind)
{
    uint64_t sum = 0;

    if ((int)kind >= 0 && kind < HL_CRYPTO_FAIL_KINDS)
        return atomic_load(&failures[kind]);
    for (int i = 0; i < HL_CRYPTO_FAIL_KINDS; i++)
        sum += atomic_load(&failures[i]);
    return sum;
}

int hl_crypto_init(void)
{
    if (sodium_init() < 0) {
        hl_log(HL_LOG_ERROR, "libsodium could not initialise");
        return HL_ECRYPTO;
    }
    return HL_OK;
}

/* sodium_malloc aborts before sodium_init: entry points that allocate key memory make sure. */
static bool ready(void)
{
    return hl_crypto_init() == HL_OK;
}

int hl_crypto_disable_core_dumps(void)
{
    struct rlimit rl = {0, 0};

    if (setrlimit(RLIMIT_CORE, &rl) != 0) {
        hl_log(HL_LOG_ERROR, "cannot disable core dumps: %s", strerror(errno));
        return HL_EIO;
    }
    return HL_OK;
}

size_t hl_crypto_b64_len(size_t n, bool url)
{
    int variant = url ? sodium_base64_VARIANT_URLSAFE_NO_PADDING : sodium_base64_VARIANT_ORIGINAL;

    return sodium_base64_ENCODED_LEN(n, variant) - 1;
}

int hl_crypto_b64_encode(const uint8_t *in, size_t n, bool url, char *out, size_t outcap)
{
    int variant = url ? sodium_base64_VARIANT_URLSAFE_NO_PADDING : sodium_base64_VARIANT_ORIGINAL;

    if ((in == NULL && n > 0) || out == NULL || outcap < sodium_base64_ENCODED_LEN(n, variant))
        return HL_EINVAL;
    sodium_bin2base64(out, outcap, in, n, variant);
    return HL_OK;
}

int hl_crypto_b64_decode(const char *in, size_t inlen, bool url, uint8_t *out, size_t outcap, size_t *outlen)
{
    int variant = url ? sodium_base64_VARIANT_URLSAFE_NO_PADDING : sodium_base64_VARIANT_ORIGINAL;
    const char *end = NULL;
    size_t len = 0;

    if (in == NULL || out == NULL || outlen == NULL)
        return HL_EINVAL;
    if (sodium_base642bin(out, outcap, in, inlen, NULL, &len, &end, variant) != 0 || end != in + inlen)
        return HL_EINVAL;
    *outlen = len;
    return HL_OK;
}

/* ---- protected memory --------------------------------------------------------------------- */

/*
 * sodium_malloc memory that is PROT_NONE unless someone uses it: the first reader makes it
 * read-only, the last one makes it inaccessible again. mprotect failing means a bug (a
 * pointer that is not ours), and continuing could expose keys, so it aborts.
 */
typedef struct secmem {
    uint8_t *p;
    size_t len;
    pthread_mutex_t mu;
    unsigned readers;
} secmem_t;

static void protect(uint8_t *p, bool readable)
{
    int rc = readable ? sodium_mprotect_readonly(p) : sodium_mprotect_noaccess(p);

    if (rc != 0)
        abort();
}

static void sec_acquire(secmem_t *m)
{
    pthread_mutex_lock(&m->mu);
    if (m->readers++ == 0)
        protect(m->p, true);
    pthread_mutex_unlock(&m->mu);
}

static void sec_release(secmem_t *m)
{
    pthread_mutex_lock(&m->mu);
    if (--m->readers == 0)
        protect(m->p, false);
    pthread_mutex_unlock(&m->mu);
}

/* Allocates LEN bytes, read-write (the caller fills them, then calls sec_seal). */
static int sec_init(secmem_t *m, size_t len)
{
    m->p = sodium_malloc(len);
    if (m->p == NULL)
        return HL_ENOMEM;
    m->len = len;
    m->readers = 0;
    if (pthread_mutex_init(&m->mu, NULL) != 0) {
        sodium_free(m->p);
        m->p = NULL;
        return HL_ENOMEM;
    }
    return HL_OK;
}

static void sec_seal(secmem_t *m)
{
    protect(m->p, false);
}

static void sec_destroy(secmem_t *m)
{
    if (m->p == NULL)
        return;
    sodium_free(m->p); /* makes it writable, wipes it, unmaps it */
    m->p = NULL;
    pthread_mutex_destroy(&m->mu);
}

/* ---- key files ------------------------------------------------------------------------ */

static void fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    int fd;

    if (slash == NULL) {
        snprintf(dir, sizeof(dir), ".");
    } else if (slash == path) {
        snprintf(dir, sizeof(dir), "/");
    } else {
        if ((size_t)(slash - path) >= sizeof(dir))
            return;
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int hl_crypto_keygen_file(const char *path)
{
    uint8_t *key = NULL;
    int fd = -1;
    int rc = HL_EIO;
    bool created = false;

    if (path == NULL || *path == '\0')
        return HL_EINVAL;
    if (!ready())
        return HL_ECRYPTO;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
    if (fd < 0) {
        if (errno == EEXIST) {
            hl_log(HL_LOG_ERROR, "%s already exists; refusing to overwrite a key file", path);
            rc = HL_EEXIST;
        } else {
            hl_log(HL_LOG_ERROR, "cannot create key file %s: %s", path, strerror(errno));
        }
        goto out;
    }
    created = true;
    key = sodium_malloc(HL_CRYPTO_KEY_BYTES);
    if (key == NULL) {
        rc = HL_ENOMEM;
        goto out;
    }
    randombytes_buf(key, HL_CRYPTO_KEY_BYTES);
    /* The umask may only have removed bits; make it exactly 0400 either way. */
    if (fchmod(fd, 0400) != 0 || write_all(fd, key, HL_CRYPTO_KEY_BYTES) != 0 || fsync(fd) != 0) {
        hl_log(HL_LOG_ERROR, "cannot write key file %s: %s", path, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        hl_log(HL_LOG_ERROR, "cannot write key file %s: %s", path, strerror(errno));
        goto out;
    }
    fd = -1;
    fsync_parent(path);
    rc = HL_OK;
out:
    if (fd >= 0)
        close(fd);
    if (rc != HL_OK && created)
        unlink(path);
    sodium_free(key);
    return rc;
}

int hl_crypto_read_key_file(const char *path, uint8_t **out)
{
    struct stat st;
    uint8_t *key = NULL;
    uint8_t extra;
    size_t got = 0;
    int fd = -1;
    int rc = HL_EIO;

    if (path == NULL || *path == '\0' || out == NULL)
        return HL_EINVAL;
    if (!ready())
        return HL_ECRYPTO;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        hl_log(HL_LOG_ERROR, "cannot open key file %s: %s", path, strerror(errno));
        rc = errno == ENOENT ? HL_ENOTFOUND : HL_EIO;
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        hl_log(HL_LOG_ERROR, "cannot stat key file %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        hl_log(HL_LOG_ERROR, "key file %s is not a regular file", path);
        rc = HL_EINVAL;
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        hl_log(HL_LOG_ERROR,
               "key file %s has mode %04o: group or others may access it; refusing it (chmod 0400 %s)", path,
               (unsigned)(st.st_mode & 07777), path);
        rc = HL_EPERM;
        goto out;
    }
    if (st.st_size != HL_CRYPTO_KEY_BYTES) {
        hl_log(HL_LOG_ERROR, "key file %s must hold exactly %d bytes, not %lld", path, HL_CRYPTO_KEY_BYTES,
               (long long)st.st_size);
        rc = HL_EINVAL;
        goto out;
    }
    rc = hl_crypto_disable_core_dumps();
    if (rc != HL_OK)
        goto out;
    rc = HL_EIO;
    key = sodium_malloc(HL_CRYPTO_KEY_BYTES);
    if (key == NULL) {
        rc = HL_ENOMEM;
        goto out;
    }
    while (got < HL_CRYPTO_KEY_BYTES) {
        ssize_t n = read(fd, key + got, HL_CRYPTO_KEY_BYTES - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got != HL_CRYPTO_KEY_BYTES || read(fd, &extra, 1) != 0) {
        hl_log(HL_LOG_ERROR, "cannot read key file %s: short read or it changed", path);
        goto out;
    }
    *out = key;
    key = NULL;
    rc = HL_OK;
out:
    if (fd >= 0)
        close(fd);
    sodium_free(key);
    return rc;
}

void hl_crypto_secret_free(uint8_t *secret)
{
    sodium_free(secret);
}

/* ---- keyring ---------------------------------------------------------------------------- */

/* Layout of the protected region: master | blind index key | token key | field keys. */
#define KR_MASTER           0
#define KR_BIDX             32
#define KR_TOKEN            64
#define KR_FIELD            96
#define KR_FIELD_KEY(kr, i) ((kr)->sec.p + KR_FIELD + (size_t)(i)*HL_CRYPTO_KEY_BYTES)

struct hl_crypto_keyring {
    secmem_t sec;
    uint32_t *ids; /* ids[i] is the id of field key i */
    size_t n;
    uint32_t current;
};

static int derive(uint8_t *out, uint64_t subkey_id, const char *ctx, const uint8_t *key)
{
    return crypto_kdf_derive_from_key(out, HL_CRYPTO_KEY_BYTES, subkey_id, ctx, key) == 0 ? HL_OK
                                                                                          : HL_ECRYPTO;
}

static ssize_t keyring_index(const hl_crypto_keyring_t *kr, uint32_t id)
{
    for (size_t i = 0; i < kr->n; i++) {
        if (kr->ids[i] == id)
            return (ssize_t)i;
    }
    return -1;
}

int hl_crypto_keyring_new(const uint8_t master[HL_CRYPTO_KEY_BYTES], hl_crypto_keyring_t **out)
{
    hl_crypto_keyring_t *kr = NULL;
    int rc = HL_ENOMEM;

    if (master == NULL || out == NULL)
        return HL_EINVAL;
    if (!ready())
        return HL_ECRYPTO;
    kr = calloc(1, sizeof(*kr));
    if (kr == NULL)
        goto out;
    kr->ids = malloc(sizeof(*kr->ids));
    if (kr->ids == NULL)
        goto out;
    rc = sec_init(&kr->sec, KR_FIELD + HL_CRYPTO_KEY_BYTES);
    if (rc != HL_OK)
        goto out;
    memcpy(kr->sec.p + KR_MASTER, master, HL_CRYPTO_KEY_BYTES);
    if (derive(kr->sec.p + KR_BIDX, 1, CTX_BIDX, master) != HL_OK ||
        derive(kr->sec.p + KR_TOKEN, 1, CTX_TOKEN, master) != HL_OK ||
        derive(KR_FIELD_KEY(kr, 0), 1, CTX_FIELD, master) != HL_OK) {
        rc = HL_ECRYPTO;
        goto out;
    }
    sec_seal(&kr->sec);
    kr->ids[0] = 1;
    kr->n = 1;
    kr->current = 1;
    *out = kr;
    kr = NULL;
    rc = HL_OK;
out:
    hl_crypto_keyring_free(kr);
    return rc;
}

int hl_crypto_keyring_add(hl_crypto_keyring_t *kr, uint32_t id, const uint8_t root[HL_CRYPTO_KEY_BYTES],
                          bool make_current)
{
    uint8_t *grown = NULL;
    uint32_t *ids = NULL;
    size_t len;
    int rc = HL_EINVAL;

    if (kr == NULL || root == NULL || id < 2 || keyring_index(kr, id) >= 0)
        return HL_EINVAL;
    len = KR_FIELD + (kr->n + 1) * HL_CRYPTO_KEY_BYTES;
    ids = realloc(kr->ids, (kr->n + 1) * sizeof(*ids));
    if (ids == NULL)
        return HL_ENOMEM;
    kr->ids = ids;
    grown = sodium_malloc(len);
    if (grown == NULL)
        return HL_ENOMEM;
    pthread_mutex_lock(&kr->sec.mu);
    if (kr->sec.readers == 0)
        protect(kr->sec.p, true);
    memcpy(grown, kr->sec.p, kr->sec.len);
    if (derive(grown + kr->sec.len, id, CTX_FIELD, root) != HL_OK) {
        if (kr->sec.readers == 0)
            protect(kr->sec.p, false);
        pthread_mutex_unlock(&kr->sec.mu);
        sodium_free(grown);
        rc = HL_ECRYPTO;
        goto out;
    }
    sodium_free(kr->sec.p);
    kr->sec.p = grown;
    kr->sec.len = len;
    protect(kr->sec.p, kr->sec.readers > 0);
    kr->ids[kr->n++] = id;
    if (make_current)
        kr->current = id;
    pthread_mutex_unlock(&kr->sec.mu);
    rc = HL_OK;
out:
    return rc;
}

void hl_crypto_keyring_free(hl_crypto_keyring_t *kr)
{
    if (kr == NULL)
        return;
    sec_destroy(&kr->sec);
    free(kr->ids);
    free(kr);
}

uint32_t hl_crypto_keyring_current(const hl_crypto_keyring_t *kr)
{
    return kr->current;
}

bool hl_crypto_keyring_has(const hl_crypto_keyring_t *kr, uint32_t id)
{
    return keyring_index(kr, id) >= 0;
}

void hl_crypto_keyring_pin(hl_crypto_keyring_t *kr)
{
    sec_acquire(&kr->sec);
}

void hl_crypto_keyring_unpin(hl_crypto_keyring_t *kr)
{
    sec_release(&kr->sec);
}

/* "00000002.key" -> 2; 0 for any other name. */
static uint32_t key_file_id(const char *name)
{
    uint32_t id = 0;

    if (strlen(name) != 12 || strcmp(name + 8, ".key") != 0)
        return 0;
    for (int i = 0; i < 8; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        id = id * 10 + (uint32_t)(name[i] - '0');
    }
    return id;
}

static int ring_dir(const char *key_file, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s.d", key_file);

    return n < 0 || (size_t)n >= cap ? HL_EINVAL : HL_OK;
}

static int join(char *buf, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(buf, cap, "%s/%s", dir, name);

    return n < 0 || (size_t)n >= cap ? HL_EINVAL : HL_OK;
}

/* Reads "<dir>/current": HL_ENOTFOUND when absent. */
static int read_current(const char *dir, uint32_t *id)
{
    char path[PATH_MAX];
    char text[32];
    char *end = NULL;
    unsigned long v;
    FILE *f;
    size_t n;

    if (join(path, sizeof(path), dir, "current") != HL_OK)
        return HL_EINVAL;
    f = fopen(path, "re");
    if (f == NULL) {
        if (errno == ENOENT)
            return HL_ENOTFOUND;
        hl_log(HL_LOG_ERROR, "cannot open %s: %s", path, strerror(errno));
        return HL_EIO;
    }
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    errno = 0;
    v = strtoul(text, &end, 10);
    if (errno != 0 || end == text || (*end != '\0' && strcmp(end, "\n") != 0) || v == 0 || v > UINT32_MAX) {
        hl_log(HL_LOG_ERROR, "%s must hold one key id, a positive integer", path);
        return HL_EINVAL;
    }
    *id = (uint32_t)v;
    return HL_OK;
}

int hl_crypto_keyring_load(const char *key_file, hl_crypto_keyring_t **out)
{
    hl_crypto_keyring_t *kr = NULL;
    uint8_t *key = NULL;
    DIR *d = NULL;
    struct dirent *de;
    struct stat st;
    char dir[PATH_MAX];
    char path[PATH_MAX];
    uint32_t current = 1;
    int rc;

    if (key_file == NULL || out == NULL)
        return HL_EINVAL;
    rc = hl_crypto_read_key_file(key_file, &key);
    if (rc != HL_OK)
        goto out;
    rc = hl_crypto_keyring_new(key, &kr);
    if (rc != HL_OK)
        goto out;
    hl_crypto_secret_free(key);
    key = NULL;

    rc = ring_dir(key_file, dir, sizeof(dir));
    if (rc != HL_OK)
        goto out;
    d = opendir(dir);
    if (d == NULL) {
        if (errno != ENOENT) {
            hl_log(HL_LOG_ERROR, "cannot open key directory %s: %s", dir, strerror(errno));
            rc = HL_EIO;
        }
        goto done;
    }
    if (fstat(dirfd(d), &st) != 0 || (st.st_mode & 022) != 0) {
        hl_log(HL_LOG_ERROR, "key directory %s is writable by group or others; refusing it (chmod 0700 %s)",
               dir, dir);
        rc = HL_EPERM;
        goto out;
    }
    while ((de = readdir(d)) != NULL) {
        uint32_t id = key_file_id(de->d_name);
        if (id == 0)
            continue;
        if (id < 2) {
            hl_log(HL_LOG_ERROR, "%s/%s: key id 1 is the master key file; rotated ids start at 2", dir,
                   de->d_name);
            rc = HL_EINVAL;
            goto out;
        }
        rc = join(path, sizeof(path), dir, de->d_name);
        if (rc != HL_OK)
            goto out;
        rc = hl_crypto_read_key_file(path, &key);
        if (rc != HL_OK)
            goto out;
        rc = hl_crypto_keyring_add(kr, id, key, false);
        if (rc != HL_OK)
            goto out;
        hl_crypto_secret_free(key);
        key = NULL;
    }
    rc = read_current(dir, &current);
    if (rc == HL_ENOTFOUND) {
        current = 1; /* a rotation stopped before it wrote "current" */
        rc = HL_OK;
    } else if (rc != HL_OK) {
        goto out;
    }
    if (!hl_crypto_keyring_has(kr, current)) {
        hl_log(HL_LOG_ERROR, "%s/current names key id %" PRIu32 ", which has no key file", dir, current);
        rc = HL_EINVAL;
        goto out;
    }
    kr->current = current;
done:
    if (rc != HL_OK)
        goto out;
    *out = kr;
    kr = NULL;
out:
    if (d != NULL)
        closedir(d);
    hl_crypto_secret_free(key);
    hl_crypto_keyring_free(kr);
    return rc;
}

int hl_crypto_keyring_rotate(const char *key_file, uint32_t *new_id)
{
    hl_crypto_keyring_t *kr = NULL;
    char dir[PATH_MAX];
    char path[PATH_MAX];
    char tmp[PATH_MAX];
    char text[16];
    uint32_t id = 0;
    int fd = -1;
    int rc;

    if (key_file == NULL || new_id == NULL)
        return HL_EINVAL;
    /* Loading first checks the master key and every existing key file. */
    rc = hl_crypto_keyring_load(key_file, &kr);
    if (rc != HL_OK)
        goto out;
    for (size_t i = 0; i < kr->n; i++) {
        if (kr->ids[i] > id)
            id = kr->ids[i];
    }
    if (id >= 99999999u) {
        hl_log(HL_LOG_ERROR, "no key ids left");
        rc = HL_EINVAL;
        goto out;
    }
    id++;
    rc = ring_dir(key_file, dir, sizeof(dir));
    if (rc != HL_OK)
        goto out;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        hl_log(HL_LOG_ERROR, "cannot create key directory %s: %s", dir, strerror(errno));
        rc = HL_EIO;
        goto out;
    }
    snprintf(text, sizeof(text), "%08" PRIu32 ".key", id);
    rc = join(path, sizeof(path), dir, text);
    if (rc != HL_OK)
        goto out;
    rc = hl_crypto_keygen_file(path);
    if (rc != HL_OK)
        goto out;
    /* Make it current atomically: write a temporary file, fsync, rename. */
    if (join(tmp, sizeof(tmp), dir, "current.tmp") != HL_OK ||
        join(path, sizeof(path), dir, "current") != HL_OK) {
        rc = HL_EINVAL;
        goto out;
    }
    snprintf(text, sizeof(text), "%" PRIu32 "\n", id);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || write_all(fd, (const uint8_t *)text, strlen(text)) != 0 || fsync(fd) != 0) {
        hl_log(HL_LOG_ERROR, "cannot write %s: %s", tmp, strerror(errno));
        rc = HL_EIO;
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) != 0) {
        hl_log(HL_LOG_ERROR, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        rc = HL_EIO;
        goto out;
    }
    fsync_parent(path);
    *new_id = id;
    rc = HL_OK;
out:
    if (fd >= 0)
        close(fd);
    hl_crypto_keyring_free(kr);
    return rc;
}

/* ---- sealed fields ------------------------------------------------------------------------ */

static uint8_t *put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + 8;
}

static uint8_t *put_piece(uint8_t *p, const void *data, size_t len)
{
    p = put_le64(p, len);
    memcpy(p, data, len);
    return p + len;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool ad_part_ok(const char *s, size_t *len)
{
    if (s == NULL)
        return false;
    *len = strnlen(s, HL_CRYPTO_AD_PART_MAX + 1);
    return *len >= 1 && *len <= HL_CRYPTO_AD_PART_MAX;
}

/* CipherSweet-style packing: LE64(count), then LE64(length) || bytes for each piece. */
static int pack_ad(const hl_crypto_ad_t *ad, uint8_t version, uint32_t key_id, uint8_t buf[AD_MAX],
                   size_t *len)
{
    size_t tl, cl, rl;
    uint8_t kid[4];
    uint8_t *p = buf;

    if (ad == NULL || !ad_part_ok(ad->table, &tl) || !ad_part_ok(ad->column, &cl) ||
        !ad_part_ok(ad->record_id, &rl))
        return HL_EINVAL;
    put_le32(kid, key_id);
    p = put_le64(p, AD_PIECES);
    p = put_piece(p, AD_FORMAT, sizeof(AD_FORMAT) - 1);
    p = put_piece(p, ad->table, tl);
    p = put_piece(p, ad->column, cl);
    p = put_piece(p, ad->record_id, rl);
    p = put_piece(p, &version, 1);
    p = put_piece(p, kid, sizeof(kid));
    *len = (size_t)(p - buf);
    return HL_OK;
}

static int seal_core(hl_crypto_keyring_t *kr, uint32_t key_id, const uint8_t *nonce, const hl_crypto_ad_t *ad,
                     const uint8_t *pt, size_t ptlen, uint8_t *out, size_t outcap, size_t *outlen)
{
    uint8_t adbuf[AD_MAX];
    unsigned long long clen = 0;
    size_t adlen = 0;
    ssize_t idx;
    int rc;

    if (kr == NULL || (pt == NULL && ptlen > 0) || out == NULL || outlen == NULL ||
        ptlen > HL_CRYPTO_MAX_PLAINTEXT || outcap < HL_CRYPTO_SEALED_LEN(ptlen))
        return HL_EINVAL;
    idx = keyring_index(kr, key_id);
    if (idx < 0)
        return HL_EINVAL;
    rc = pack_ad(ad, HL_CRYPTO_ENVELOPE_VERSION, key_id, adbuf, &adlen);
    if (rc != HL_OK)
        return rc;
    out[0] = HL_CRYPTO_ENVELOPE_VERSION;
    put_le32(out + 1, key_id);
    memcpy(out + 5, nonce, HL_CRYPTO_NONCE_BYTES);
    sec_acquire(&kr->sec);
    rc = crypto_aead_xchacha20poly1305_ietf_encrypt(out + HL_CRYPTO_HEADER_BYTES, &clen, pt, ptlen, adbuf,
                                                    adlen, NULL, out + 5, KR_FIELD_KEY(kr, idx));
    sec_release(&kr->sec);
    if (rc != 0)
        return HL_ECRYPTO;
    *outlen = HL_CRYPTO_HEADER_BYTES + (size_t)clen;
    return HL_OK;
}

int hl_crypto_seal(hl_crypto_keyring_t *kr, const hl_crypto_ad_t *ad, const uint8_t *pt, size_t ptlen,
                   uint8_t *out, size_t outcap, size_t *outlen)
{
    uint8_t nonce[HL_CRYPTO_NONCE_BYTES];

    if (kr == NULL)
        return HL_EINVAL;
    randombytes_buf(nonce, sizeof(nonce));
    return seal_core(kr, kr->current, nonce, ad, pt, ptlen, out, outcap, outlen);
}

int hl_crypto_seal_with_nonce(hl_crypto_keyring_t *kr, uint32_t key_id,
                              const uint8_t nonce[HL_CRYPTO_NONCE_BYTES], const hl_crypto_ad_t *ad,
                              const uint8_t *pt, size_t ptlen, uint8_t *out, size_t outcap, size_t *outlen)
{
    if (nonce == NULL)
        return HL_EINVAL;
    return seal_core(kr, key_id, nonce, ad, pt, ptlen, out, outcap, outlen);
}

/* Checks what can be checked without the key; false means "does not open". */
static bool envelope_plausible(const uint8_t *ct, size_t ctlen)
{
    return ct != NULL && ctlen >= HL_CRYPTO_OVERHEAD &&
           ctlen - HL_CRYPTO_OVERHEAD <= HL_CRYPTO_MAX_PLAINTEXT && ct[0] == HL_CRYPTO_ENVELOPE_VERSION;
}

int hl_crypto_open(hl_crypto_keyring_t *kr, const hl_crypto_ad_t *ad, const uint8_t *ct, size_t ctlen,
                   uint8_t *out, size_t outcap, size_t *outlen)
{
    uint8_t adbuf[AD_MAX];
    unsigned long long mlen = 0;
    size_t adlen = 0;
    uint32_t key_id;
    ssize_t idx;
    int rc;

    if (kr == NULL || out == NULL || outlen == NULL)
        return HL_EINVAL;
    if (!envelope_plausible(ct, ctlen))
        goto fail;
    if (outcap < ctlen - HL_CRYPTO_OVERHEAD)
        return HL_EINVAL;
    key_id = get_le32(ct + 1);
    rc = pack_ad(ad, ct[0], key_id, adbuf, &adlen);
    if (rc != HL_OK)
        return rc;
    idx = keyring_index(kr, key_id);
    if (idx < 0)
        goto fail;
    sec_acquire(&kr->sec);
    rc = crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, ct + HL_CRYPTO_HEADER_BYTES,
                                                    ctlen - HL_CRYPTO_HEADER_BYTES, adbuf, adlen, ct + 5,
                                                    KR_FIELD_KEY(kr, idx));
    sec_release(&kr->sec);
    if (rc != 0) {
        sodium_memzero(out, ctlen - HL_CRYPTO_OVERHEAD);
        goto fail;
    }
    *outlen = (size_t)mlen;
    return HL_OK;
fail:
    count_failure(HL_CRYPTO_FAIL_OPEN);
    return HL_ECRYPTO;
}

int hl_crypto_open_alloc(hl_crypto_keyring_t *kr, const hl_crypto_ad_t *ad, const uint8_t *ct, size_t ctlen,
                         char **out, size_t *outlen)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    if (kr == NULL || out == NULL || outlen == NULL)
        return HL_EINVAL;
    if (!envelope_plausible(ct, ctlen)) {
        count_failure(HL_CRYPTO_FAIL_OPEN);
        return HL_ECRYPTO;
    }
    buf = malloc(ctlen - HL_CRYPTO_OVERHEAD + 1);
    if (buf == NULL)
        return HL_ENOMEM;
    rc = hl_crypto_open(kr, ad, ct, ctlen, buf, ctlen - HL_CRYPTO_OVERHEAD, &len);
    if (rc != HL_OK) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    *out = (char *)buf;
    *outlen = len;
    return HL_OK;
}

void hl_crypto_wipe_free(void *p, size_t len)
{
    if (p == NULL)
        return;
    sodium_memzero(p, len);
    free(p);
}

int hl_crypto_envelope_key_id(const uint8_t *ct, size_t ctlen, uint32_t *key_id)
{
    if (ct == NULL || key_id == NULL || ctlen < HL_CRYPTO_OVERHEAD || ct[0] != HL_CRYPTO_ENVELOPE_VERSION)
        return HL_EINVAL;
    *key_id = get_le32(ct + 1);
    return HL_OK;
}

/* ---- blind index ------------------------------------------------------------------------ */

int hl_crypto_phone_normalise(const char *phone, const char *default_cc, char *out, size_t outcap)
{
    char d[HL_CRYPTO_PHONE_DIGITS_MAX + 8];
    const char *s = phone;
    const char *digits;
    size_t n = 0, cclen = 0, len;
    bool intl = false;

    if (phone == NULL || out == NULL)
        return HL_EINVAL;
    if (default_cc != NULL) {
        cclen = strlen(default_cc);
        if (cclen < 1 || cclen > 3 || strspn(default_cc, "0123456789") != cclen || default_cc[0] == '0')
            return HL_EINVAL;
    }
    while (*s == ' ')
        s++;
    if (*s == '+') {
        intl = true;
        s++;
    }
    for (; *s != '\0'; s++) {
        if (*s >= '0' && *s <= '9') {
            if (n >= sizeof(d) - 1)
                return HL_EINVAL;
            d[n++] = *s;
        } else if (strchr(" -.()/", *s) == NULL) {
            return HL_EINVAL;
        }
    }
    d[n] = '\0';
    digits = d;
    if (!intl && n >= 2 && d[0] == '0' && d[1] == '0') {
        digits += 2; /* 00 international prefix */
    } else if (!intl && default_cc != NULL && n >= 2 && d[0] == '0') {
        /* National format with a trunk 0: replace it by the default country code. */
        len = n - 1;
        if (cclen + len > HL_CRYPTO_PHONE_DIGITS_MAX || cclen + len < 3 || outcap < cclen + len + 1)
            return HL_EINVAL;
        memcpy(out, default_cc, cclen);
        memcpy(out + cclen, d + 1, len);
        out[cclen + len] = '\0';
        return HL_OK;
    }
    len = strlen(digits);
    if (len < 3 || len > HL_CRYPTO_PHONE_DIGITS_MAX || outcap < len + 1)
        return HL_EINVAL;
    memcpy(out, digits, len + 1);
    return HL_OK;
}

int hl_crypto_blind_index_phone(hl_crypto_keyring_t *kr, const char *phone, const char *default_cc,
                                uint8_t out[HL_CRYPTO_BLIND_INDEX_BYTES])
{
    char norm[HL_CRYPTO_PHONE_DIGITS_MAX + 1];
    uint8_t h[crypto_generichash_BYTES];
    int rc;

    if (kr == NULL || out == NULL)
        return HL_EINVAL;
    rc = hl_crypto_phone_normalise(phone, default_cc, norm, sizeof(norm));
    if (rc != HL_OK)
        goto out;
    sec_acquire(&kr->sec);
    rc = crypto_generichash(h, sizeof(h), (const uint8_t *)norm, strlen(norm), kr->sec.p + KR_BIDX,
                            HL_CRYPTO_KEY_BYTES) == 0
             ? HL_OK
             : HL_ECRYPTO;
    sec_release(&kr->sec);
    if (rc == HL_OK)
        memcpy(out, h, HL_CRYPTO_BLIND_INDEX_BYTES);
out:
    sodium_memzero(norm, sizeof(norm));
    sodium_memzero(h, sizeof(h));
    return rc;
}

/* ---- contact ids from source keys ---------------------------------------------------------- */

int hl_crypto_source_id(hl_crypto_keyring_t *kr, uint64_t helpline_id, const char *system, const char *id,
                        uint8_t out[HL_CRYPTO_SOURCE_ID_BYTES])
{
    /* The blind index key, personalised apart from phone numbers. */
    static const uint8_t personal[crypto_generichash_blake2b_PERSONALBYTES] = "helpline-srcid1";
    crypto_generichash_blake2b_state st;
    uint8_t le[8];
    int rc = HL_ECRYPTO;

    if (kr == NULL || system == NULL || id == NULL || out == NULL)
        return HL_EINVAL;
    sec_acquire(&kr->sec);
    if (crypto_generichash_blake2b_init_salt_personal(&st, kr->sec.p + KR_BIDX, HL_CRYPTO_KEY_BYTES,
                                                      HL_CRYPTO_SOURCE_ID_BYTES, NULL, personal) == 0) {
        /* Length-prefixed parts, so ("a", "bc") and ("ab", "c") differ. */
        const char *parts[2] = {system, id};
        for (int i = 0; i < 8; i++)
            le[i] = (uint8_t)(helpline_id >> (8 * i));
        crypto_generichash_blake2b_update(&st, le, sizeof(le));
        for (int p = 0; p < 2; p++) {
            uint64_t n = strlen(parts[p]);
            for (int i = 0; i < 8; i++)
                le[i] = (uint8_t)(n >> (8 * i));
            crypto_generichash_blake2b_update(&st, le, sizeof(le));
            crypto_generichash_blake2b_update(&st, (const uint8_t *)parts[p], n);
        }
        rc = crypto_generichash_blake2b_final(&st, out, HL_CRYPTO_SOURCE_ID_BYTES) == 0 ? HL_OK : HL_ECRYPTO;
    }
    sec_release(&kr->sec);
    sodium_memzero(&st, sizeof(st));
    if (rc == HL_OK) {
        out[6] = (uint8_t)((out[6] & 0x0f) | 0x80); /* UUID version 8 (custom) */
        out[8] = (uint8_t)((out[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    }
    return rc;
}

/* ---- list cursors ------------------------------------------------------------------------ */

/* BLAKE2b of MSG into OUT (OUTLEN bytes) keyed with subkey SUBKEY_ID of CTX from the master key.
 * The key is derived per call rather than kept in the keyring: a few BLAKE2b blocks. */
static int master_keyed_hash(hl_crypto_keyring_t *kr, const char *ctx, uint64_t subkey_id, const uint8_t *msg,
                             size_t len, uint8_t *out, size_t outlen)
{
    uint8_t key[HL_CRYPTO_KEY_BYTES];
    int rc;

    sec_acquire(&kr->sec);
    rc = derive(key, subkey_id, ctx, kr->sec.p + KR_MASTER);
    sec_release(&kr->sec);
    if (rc == HL_OK && crypto_generichash(out, outlen, msg, len, key, sizeof(key)) != 0)
        rc = HL_ECRYPTO;
    sodium_memzero(key, sizeof(key));
    return rc;
}

int hl_crypto_cursor_mac(hl_crypto_keyring_t *kr, const uint8_t *msg, size_t len,
                         uint8_t out[HL_CRYPTO_CURSOR_MAC_BYTES])
{
    if (kr == NULL || (msg == NULL && len > 0) || out == NULL)
        return HL_EINVAL;
    return master_keyed_hash(kr, CTX_CURSOR, 1, msg, len, out, HL_CRYPTO_CURSOR_MAC_BYTES);
}

/* ---- report signing ---------------------------------------------------------------------- */

struct hl_crypto_signer {
    secmem_t sec; /* the 64-byte Ed25519 secret key */
    uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES];
};

int hl_crypto_signer_from_seed(const uint8_t seed[HL_CRYPTO_KEY_BYTES], hl_crypto_signer_t **out)
{
    hl_crypto_signer_t *s = NULL;
    int rc = HL_ENOMEM;

    if (seed == NULL || out == NULL)
        return HL_EINVAL;
    if (!ready())
        return HL_ECRYPTO;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto out;
    rc = sec_init(&s->sec, crypto_sign_SECRETKEYBYTES);
    if (rc != HL_OK)
        goto out;
    if (crypto_sign_seed_keypair(s->pk, s->sec.p, seed) != 0) {
        rc = HL_ECRYPTO;
        goto out;
    }
    sec_seal(&s->sec);
    *out = s;
    s = NULL;
    rc = HL_OK;
out:
    hl_crypto_signer_free(s);
    return rc;
}

int hl_crypto_signer_derive(hl_crypto_keyring_t *kr, uint64_t helpline_id, hl_crypto_signer_t **out)
{
    uint8_t *seed = NULL;
    int rc;

    if (kr == NULL || out == NULL)
        return HL_EINVAL;
    seed = sodium_malloc(HL_CRYPTO_KEY_BYTES);
    if (seed == NULL)
        return HL_ENOMEM;
    sec_acquire(&kr->sec);
    rc = derive(seed, helpline_id, CTX_SIGN, kr->sec.p + KR_MASTER);
    sec_release(&kr->sec);
    if (rc == HL_OK)
        rc = hl_crypto_signer_from_seed(seed, out);
    sodium_free(seed);
    return rc;
}

int hl_crypto_signer_load(const char *seed_file, hl_crypto_signer_t **out)
{
    uint8_t *seed = NULL;
    int rc;

    rc = hl_crypto_read_key_file(seed_file, &seed);
    if (rc != HL_OK)
        return rc;
    rc = hl_crypto_signer_from_seed(seed, out);
    hl_crypto_secret_free(seed);
    return rc;
}

void hl_crypto_signer_free(hl_crypto_signer_t *s)
{
    if (s == NULL)
        return;
    sec_destroy(&s->sec);
    free(s);
}

void hl_crypto_signer_public_key(const hl_crypto_signer_t *s, uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES])
{
    memcpy(pk, s->pk, HL_CRYPTO_SIGN_PK_BYTES);
}

int hl_crypto_sign(hl_crypto_signer_t *s, const uint8_t *msg, size_t len, uint8_t sig[HL_CRYPTO_SIGN_BYTES])
{
    int rc;

    if (s == NULL || (msg == NULL && len > 0) || sig == NULL)
        return HL_EINVAL;
    sec_acquire(&s->sec);
    rc = crypto_sign_detached(sig, NULL, msg, len, s->sec.p);
    sec_release(&s->sec);
    return rc == 0 ? HL_OK : HL_ECRYPTO;
}

int hl_crypto_verify(const uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES], const uint8_t *msg, size_t len,
                     const uint8_t sig[HL_CRYPTO_SIGN_BYTES])
{
    if (pk == NULL || sig == NULL || (msg == NULL && len > 0) ||
        crypto_sign_verify_detached(sig, msg, len, pk) != 0) {
        count_failure(HL_CRYPTO_FAIL_SIGNATURE);
        return HL_ECRYPTO;
    }
    return HL_OK;
}

void hl_crypto_sign_key_id(const uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES], char out[HL_CRYPTO_SIGN_KEY_ID_LEN + 1])
{
    uint8_t h[crypto_generichash_BYTES];

    crypto_generichash(h, sizeof(h), pk, HL_CRYPTO_SIGN_PK_BYTES, NULL, 0);
    sodium_bin2hex(out, HL_CRYPTO_SIGN_KEY_ID_LEN + 1, h, HL_CRYPTO_SIGN_KEY_ID_LEN / 2);
}

void hl_crypto_sign_pk_to_b64(const uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES],
                              char out[HL_CRYPTO_SIGN_PK_B64_LEN + 1])
{
    sodium_bin2base64(out, HL_CRYPTO_SIGN_PK_B64_LEN + 1, pk, HL_CRYPTO_SIGN_PK_BYTES,
                      sodium_base64_VARIANT_ORIGINAL);
}

void hl_crypto_sign_to_b64(const uint8_t sig[HL_CRYPTO_SIGN_BYTES], char out[HL_CRYPTO_SIGN_B64_LEN + 1])
{
    sodium_bin2base64(out, HL_CRYPTO_SIGN_B64_LEN + 1, sig, HL_CRYPTO_SIGN_BYTES,
                      sodium_base64_VARIANT_ORIGINAL);
}

static int b64_exact(const char *b64, uint8_t *out, size_t want)
{
    size_t len = 0;

    if (b64 == NULL || hl_crypto_b64_decode(b64, strlen(b64), false, out, want, &len) != HL_OK || len != want)
        return HL_EINVAL;
    return HL_OK;
}

int hl_crypto_sign_pk_from_b64(const char *b64, uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES])
{
    return b64_exact(b64, pk, HL_CRYPTO_SIGN_PK_BYTES);
}

int hl_crypto_sign_from_b64(const char *b64, uint8_t sig[HL_CRYPTO_SIGN_BYTES])
{
    return b64_exact(b64, sig, HL_CRYPTO_SIGN_BYTES);
}

/* ---- access tokens ------------------------------------------------------------------------ */

int hl_crypto_token_hash(hl_crypto_keyring_t *kr, const uint8_t verifier[HL_CRYPTO_TOKEN_VERIFIER_BYTES],
                         uint8_t hash[HL_CRYPTO_TOKEN_HASH_BYTES])
{
    int rc;

    if (kr == NULL || verifier == NULL || hash == NULL)
        return HL_EINVAL;
    sec_acquire(&kr->sec);
    rc = crypto_generichash(hash, HL_CRYPTO_TOKEN_HASH_BYTES, verifier, HL_CRYPTO_TOKEN_VERIFIER_BYTES,
                            kr->sec.p + KR_TOKEN, HL_CRYPTO_KEY_BYTES);
    sec_release(&kr->sec);
    return rc == 0 ? HL_OK : HL_ECRYPTO;
}

typedef int (*verifier_hash_fn)(hl_crypto_keyring_t *kr,
                                const uint8_t verifier[HL_CRYPTO_TOKEN_VERIFIER_BYTES],
                                uint8_t hash[HL_CRYPTO_TOKEN_HASH_BYTES]);

/* A new split token whose verifier is hashed with HASH_FN (access tokens, sessions). */
static int split_token_new(hl_crypto_keyring_t *kr, verifier_hash_fn hash_fn,
                           char text[HL_CRYPTO_TOKEN_TEXT_LEN + 1],
                           uint8_t selector[HL_CRYPTO_TOKEN_SELECTOR_BYTES],
                           uint8_t hash[HL_CRYPTO_TOKEN_HASH_BYTES])
{
    uint8_t verifier[HL_CRYPTO_TOKEN_VERIFIER_BYTES];
    uint8_t sel[HL_CRYPTO_TOKEN_SELECTOR_BYTES];
    int rc;

    if (kr == NULL || text == NULL || selector == NULL || hash == NULL)
        return HL_EINVAL;
    randombytes_buf(sel, sizeof(sel));
    randombytes_buf(verifier, sizeof(verifier));
    rc = hash_fn(kr, verifier, hash);
    if (rc != HL_OK)
        goto out;
    sodium_bin2base64(text, TOKEN_SELECTOR_B64_LEN + 1, sel, sizeof(sel),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    text[TOKEN_SELECTOR_B64_LEN] = '.';
    sodium_bin2base64(text + TOKEN_SELECTOR_B64_LEN + 1, TOKEN_VERIFIER_B64_LEN + 1, verifier,
                      sizeof(verifier), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    memcpy(selector, sel, sizeof(sel));
out:
    sodium_memzero(verifier, sizeof(verifier));
    return rc;
}

int hl_crypto_token_new(hl_crypto_keyring_t *kr, char text[HL_CRYPTO_TOKEN_TEXT_LEN + 1],
                        uint8_t selector[HL_CRYPTO_TOKEN_SELECTOR_BYTES],
                        uint8_t hash[HL_CRYPTO_TOKEN_HASH_BYTES])
{
    return split_token_new(kr, hl_crypto_token_hash, text, selector, hash);
}

int hl_crypto_token_parse(const char *text, uint8_t selector[HL_CRYPTO_TOKEN_SELECTOR_BYTES],
                          uint8_t verifier[HL_CRYPTO_TOKEN_VERIFIER_BYTES])
{
    uint8_t sel[HL_CRYPTO_TOKEN_SELECTOR_BYTES];
    size_t len = 0;

    if (text == NULL || selector == NULL || verifier == NULL ||
        strnlen(text, HL_CRYPTO_TOKEN_TEXT_LEN + 1) != HL_CRYPTO_TOKEN_TEXT_LEN ||
        text[TOKEN_SELECTOR_B64_LEN] != '.')
        return HL_EINVAL;
    if (hl_crypto_b64_decode(text, TOKEN_SELECTOR_B64_LEN, true, sel, sizeof(sel), &len) != HL_OK ||
        len != sizeof(sel))
        return HL_EINVAL;
    if (hl_crypto_b64_decode(text + TOKEN_SELECTOR_B64_LEN + 1, TOKEN_VERIFIER_B64_LEN, true, verifier,
                             HL_CRYPTO_TOKEN_VERIFIER_BYTES, &len) != HL_OK ||
        len != HL_CRYPTO_TOKEN_VERIFIER_BYTES) {
        sodium_memzero(verifier, HL_CRYPTO_TOKEN_VERIFIER_BYTES);
        return HL_EINVAL;
    }
    memcpy(selector, sel, sizeof(sel));
    return HL_OK;
}

/* Hashes VERIFIER with HASH_FN and compares with STORED (or a dummy) in constant time. */
static int split_token_verify(hl_crypto_keyring_t *kr, verifier_hash_fn hash_fn,
                              const uint8_t verifier[HL_CRYPTO_TOKEN_VERIFIER_BYTES], const uint8_t *stored,
                              size_t stored_len)
{
    static const uint8_t dummy[HL_CRYPTO_TOKEN_HASH_BYTES];
    uint8_t h[HL_CRYPTO_TOKEN_HASH_BYTES];
    bool usable = stored != NULL && stored_len == HL_CRYPTO_TOKEN_HASH_BYTES;
    int rc;

    if (kr == NULL || verifier == NULL)
        return HL_EINVAL;
    rc = hash_fn(kr, verifier, h);
    if (rc != HL_OK)
        return rc;
    /* Compare in constant time, also against a dummy when there is nothing to compare with. */
    if (sodium_memcmp(h, usable ? stored : dummy, sizeof(h)) != 0 || !usable) {
        sodium_memzero(h, sizeof(h));
        count_failure(HL_CRYPTO_FAIL_TOKEN);
        return HL_ECRYPTO;
    }
    sodium_memzero(h, sizeof(h));
    return HL_OK;
}

int hl_crypto_token_verify(hl_crypto_keyring_t *kr, const uint8_t verifier[HL_CRYPTO_TOKEN_VERIFIER_BYTES],
                           const uint8_t *stored, size_t stored_len)
{
    return split_token_verify(kr, hl_crypto_token_hash, verifier, stored, stored_len);
}

/* ---- web passwords -------------------------------------------------------------------------- */

#define PW_OPSLIMIT crypto_pwhash_OPSLIMIT_INTERACTIVE
#define PW_MEMLIMIT crypto_pwhash_MEMLIMIT_INTERACTIVE

/* An Argon2id string of a random password nobody kept, made with PW_OPSLIMIT and PW_MEMLIMIT (a unit
 * test checks they match): checking against it costs what checking a real password costs. */
static const char DUMMY_PASSWORD_HASH[] =
    "$argon2id$v=19$m=65536,t=2,p=1$dlipIT76rA1ssQ1dkDyXFQ$9fipgGqZsOn9O/hOyqfbjbXykQXLP+PtZl9iWhFQAWA";

bool hl_crypto_password_acceptable(const char *pw, size_t len)
{
    size_t chars = 0;

    if (pw == NULL || len > HL_CRYPTO_PASSWORD_MAX_BYTES || memchr(pw, '\0', len) != NULL)
        return false;
    /* Code points: every byte but UTF-8 continuation bytes (10xxxxxx). */
    for (size_t i = 0; i < len; i++)
        chars += ((unsigned char)pw[i] & 0xc0) != 0x80;
    return chars >= HL_CRYPTO_PASSWORD_MIN_CHARS;
}

int hl_crypto_password_hash(const char *pw, size_t len, char out[HL_CRYPTO_PASSWORD_HASH_MAX])
{
    char buf[HL_CRYPTO_PASSWORD_HASH_MAX];

    if (pw == NULL || out == NULL || len > HL_CRYPTO_PASSWORD_MAX_BYTES)
        return HL_EINVAL;
    if (!ready())
        return HL_ECRYPTO;
    /* libsodium fails only when it cannot map the memory. */
    if (crypto_pwhash_str_alg(buf, pw, len, PW_OPSLIMIT, PW_MEMLIMIT, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return HL_ENOMEM;
    memcpy(out, buf, sizeof(buf));
    return HL_OK;
}

int hl_crypto_password_verify(const char *stored, const char *pw, size_t len)
{
    /* libsodium takes a whole crypto_pwhash_STRBYTES array: a NUL-padded copy. */
    char str[HL_CRYPTO_PASSWORD_HASH_MAX] = {0};
    bool usable = stored != NULL && stored[0] != '\0' && strnlen(stored, sizeof(str)) < sizeof(str);

    _Static_assert(sizeof(DUMMY_PASSWORD_HASH) < sizeof(str), "dummy hash length");
    memcpy(str, usable ? stored : DUMMY_PASSWORD_HASH, strlen(usable ? stored : DUMMY_PASSWORD_HASH));
    if (pw == NULL || len > HL_CRYPTO_PASSWORD_MAX_BYTES || !ready()) {
        count_failure(HL_CRYPTO_FAIL_PASSWORD);
        return HL_ECRYPTO;
    }
    if (crypto_pwhash_str_verify(str, pw, len) != 0 || !usable) {
        count_failure(HL_CRYPTO_FAIL_PASSWORD);
        return HL_ECRYPTO;
    }
    return HL_OK;
}

bool hl_crypto_password_current(const char *stored)
{
    char str[HL_CRYPTO_PASSWORD_HASH_MAX] = {0};

    if (stored == NULL || strnlen(stored, sizeof(str)) >= sizeof(str) || !ready())
        return false;
    memcpy(str, stored, strlen(stored));
    return crypto_pwhash_str_needs_rehash(str, PW_OPSLIMIT, PW_MEMLIMIT) == 0;
}

const char *hl_crypto_password_dummy(void)
{
    return DUMMY_PASSWORD_HASH;
}

/* ---- web sessions ----------------------------------------------------------------------------- */

#define SESSION_SUBKEY_HASH 1
#define SESSION_SUBKEY_CSRF 2
#define CSRF_MAC_BYTES      16
_Static_assert((CSRF_MAC_BYTES * 4 + 2) / 3 == HL_CRYPTO_CSRF_LEN, "CSRF token length");

int hl_crypto_session_hash(hl_crypto_keyring_t *kr, const uint8_t verifier[HL_CRYPTO_TOKEN_VERIFIER_BYTES],
                           uint8_t hash[HL_CRYPTO_TOKEN_HASH_BYTES])
{
    if (kr == NULL || verifier == NULL || hash == NULL)
        return HL_EINVAL;
    return master_keyed_hash(kr, CTX_SESSION, SESSION_SUBKEY_HASH, verifier, HL_CRYPTO_TOKEN_VERIFIER_BYTES,
                             hash, HL_CRYPTO_TOKEN_HASH_BYTES);
}

int hl_crypto_session_new(hl_crypto_keyring_t *kr, char text[HL_CRYPTO_TOKEN_TEXT_LEN + 1],
                          uint8_t selector[HL_CRYPTO_TOKEN_SELECTOR_BYTES],
                          uint8_t hash[HL_CRYPTO_TOKEN_HASH_BYTES])
{
    return split_token_new(kr, hl_crypto_session_hash, text, selector, hash);
}

int hl_crypto_session_verify(hl_crypto_keyring_t *kr, const uint8_t verifier[HL_CRYPTO_TOKEN_VERIFIER_BYTES],
                             const uint8_t *stored, size_t stored_len)
{
    return split_token_verify(kr, hl_crypto_session_hash, verifier, stored, stored_len);
}

static int csrf_mac(hl_crypto_keyring_t *kr, const uint8_t selector[HL_CRYPTO_TOKEN_SELECTOR_BYTES],
                    uint8_t mac[CSRF_MAC_BYTES])
{
    return master_keyed_hash(kr, CTX_SESSION, SESSION_SUBKEY_CSRF, selector, HL_CRYPTO_TOKEN_SELECTOR_BYTES,
                             mac, CSRF_MAC_BYTES);
}

int hl_crypto_session_csrf(hl_crypto_keyring_t *kr, const uint8_t selector[HL_CRYPTO_TOKEN_SELECTOR_BYTES],
                           char out[HL_CRYPTO_CSRF_LEN + 1])
{
    uint8_t mac[CSRF_MAC_BYTES];
    int rc;

    if (kr == NULL || selector == NULL || out == NULL)
        return HL_EINVAL;
    rc = csrf_mac(kr, selector, mac);
    if (rc == HL_OK)
        sodium_bin2base64(out, HL_CRYPTO_CSRF_LEN + 1, mac, sizeof(mac),
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(mac, sizeof(mac));
    return rc;
}

int hl_crypto_session_csrf_check(hl_crypto_keyring_t *kr,
                                 const uint8_t selector[HL_CRYPTO_TOKEN_SELECTOR_BYTES], const char *given)
{
    char want[HL_CRYPTO_CSRF_LEN + 1];
    int rc;

    if (kr == NULL || selector == NULL)
        return HL_EINVAL;
    rc = hl_crypto_session_csrf(kr, selector, want);
    if (rc != HL_OK)
        return rc;
    /* Fixed length first (a length tells nothing: every token has this one), then constant time. */
    if (given == NULL || strnlen(given, HL_CRYPTO_CSRF_LEN + 1) != HL_CRYPTO_CSRF_LEN ||
        sodium_memcmp(want, given, HL_CRYPTO_CSRF_LEN) != 0) {
        count_failure(HL_CRYPTO_FAIL_TOKEN);
        rc = HL_ECRYPTO;
    }
    sodium_memzero(want, sizeof(want));
    return rc;
}

/* ---- small things --------------------------------------------------------------------------- */

int hl_crypto_random(void *buf, size_t len)
{
    if (buf == NULL || !ready())
        return HL_ECRYPTO;
    randombytes_buf(buf, len);
    return HL_OK;
}

uint64_t hl_crypto_shorthash(const uint8_t key[HL_CRYPTO_SHORTHASH_KEY_BYTES], const void *msg, size_t len)
{
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t v = 0;

    crypto_shorthash(h, msg, len, key);
    for (size_t i = 0; i < sizeof(h); i++)
        v = v << 8 | h[i];
    return v;
}
