/*
 * The spool: append-only segment files of framed, checksummed, already-sealed records, with
 * group-commit fsync for appenders and a durable checkpoint for replay. Format and recovery rules
 * are in docs/spool.md; keep the two in step (a format change bumps FILE_VERSION).
 */
#include "contacts/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include "log.h"

/* Segment file header: magic[8] "HLSPOOL\0", u32 version, u32 segment number (all little-endian). */
#define FILE_MAGIC     "HLSPOOL"
#define FILE_MAGIC_LEN 8
#define FILE_VERSION   1u
#define FILE_HDR       16u

/* Record header: u32 magic "HLRC", u32 length, u32 crc32(payload), u32 crc32(first 12 bytes). */
#define REC_MAGIC       0x43524c48u
#define REC_MAGIC_BYTE0 0x48 /* 'H', the first byte on disk */
#define REC_HDR         16u

/* Checkpoint: magic[8] "HLSPCKPT", u32 version, u32 seq, u64 offset, u32 crc32(first 24), u32 0. */
#define CP_MAGIC    "HLSPCKPT"
#define CP_SIZE     32u
#define CP_NAME     "checkpoint"
#define CP_TMP_NAME "checkpoint.tmp"

#define SEG_PREFIX        "spool-"
#define SEG_SUFFIX        ".log"
#define CORRUPT_SUFFIX    ".corrupt"
#define NAME_LEN          64
#define MIN_SEGMENT_BYTES 4096u

struct seg {
    struct seg *next;
    uint32_t seq;
    uint64_t size;  /* bytes of valid data: file header and records */
    uint64_t start; /* first offset not yet replayed */
    size_t pending; /* records at or after start */
    bool damaged;   /* damage found and the file linked aside */
};

struct hl_spool {
    char *dir;
    int dirfd;
    size_t segment_bytes;
    unsigned checkpoint_every;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool sync_init;

    /* Under mu. */
    struct seg *head, *tail; /* every segment, oldest first; tail may be the active one */
    struct seg *active;      /* open for appends, or NULL (created on the next append) */
    int active_fd;
    bool active_bad;   /* a failed write could not be undone: rotate before the next append */
    uint32_t next_seq; /* number of the next segment file */
    uint64_t write_gen, synced_gen;
    bool syncing; /* an appender runs fdatasync on active_fd without mu */
    bool broken;  /* an fsync failed: appends refused until reopen */
    bool replaying;

    /* Only the (single) replay and open touch these. */
    uint32_t cp_seq;
    uint64_t cp_off;

    /* Read without mu (__atomic). */
    size_t pending, corrupt, segments;
    uint64_t appends, fsyncs;
};

struct item {
    bool is_record;     /* else a damaged range [off, end) */
    uint64_t off, end;  /* bytes of the record (header included) or of the damage */
    const uint8_t *rec; /* payload */
    uint32_t len;
};

struct scan {
    const uint8_t *base;
    uint64_t size, off;
};

struct map {
    int fd;
    uint8_t *base;
    uint64_t size;
    mode_t mode;
};

static uint32_t crc(const void *p, size_t n)
{
    return (uint32_t)crc32(0L, (const Bytef *)p, (uInt)n);
}

static void seg_name(char name[NAME_LEN], uint32_t seq)
{
    snprintf(name, NAME_LEN, SEG_PREFIX "%08" PRIu32 SEG_SUFFIX, seq);
}

/* "spool-<digits>.log" with 1 <= number <= UINT32_MAX. */
static bool parse_seg_name(const char *name, uint32_t *seq)
{
    size_t plen = strlen(SEG_PREFIX), slen = strlen(SEG_SUFFIX), n = strlen(name);
    unsigned long long v = 0;

    if (n <= plen + slen || n - plen - slen > 10 || strncmp(name, SEG_PREFIX, plen) != 0 ||
        strcmp(name + n - slen, SEG_SUFFIX) != 0)
        return false;
    for (size_t i = plen; i < n - slen; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        v = v * 10 + (unsigned long long)(name[i] - '0');
    }
    if (v == 0 || v > UINT32_MAX)
        return false;
    *seq = (uint32_t)v;
    return true;
}

static void encode_rec_header(uint8_t h[REC_HDR], const void *rec, uint32_t len)
{
    hl_le32_put(h, REC_MAGIC);
    hl_le32_put(h + 4, len);
    hl_le32_put(h + 8, crc(rec, len));
    hl_le32_put(h + 12, crc(h, 12));
}

/* A complete, intact record starts at OFF: sets *LEN to its payload length. */
static bool rec_valid(const uint8_t *base, uint64_t size, uint64_t off, uint32_t *len)
{
    const uint8_t *h = base + off;
    uint32_t n;

    if (off > size || size - off < REC_HDR)
        return false;
    if (hl_le32_get(h) != REC_MAGIC || hl_le32_get(h + 12) != crc(h, 12))
        return false;
    n = hl_le32_get(h + 4);
    if (n == 0 || n > HL_SPOOL_MAX_RECORD || size - off - REC_HDR < n)
        return false;
    if (hl_le32_get(h + 8) != crc(h + REC_HDR, n))
        return false;
    *len = n;
    return true;
}

/* The first offset >= FROM where an intact record starts, or SIZE when there is none. */
static uint64_t resync(const uint8_t *base, uint64_t size, uint64_t from)
{
    uint32_t len;

    while (from < size && size - from >= REC_HDR) {
        const uint8_t *p = memchr(base + from, REC_MAGIC_BYTE0, size - from - (REC_HDR - 1));
        if (!p)
            break;
        from = (uint64_t)(p - base);
        if (rec_valid(base, size, from, &len))
            return from;
        from++;
    }
    return size;
}

/* The next record or damaged range; false at the end. A damaged range ends where an intact
 * record starts again, or at the end of the data. */
static bool scan_next(struct scan *s, struct item *it)
{
    uint32_t len;

    if (s->off >= s->size)
        return false;
    it->off = s->off;
    if (rec_valid(s->base, s->size, s->off, &len)) {
        it->is_record = true;
        it->rec = s->base + s->off + REC_HDR;
        it->len = len;
        it->end = s->off + REC_HDR + len;
    } else {
        it->is_record = false;
        it->rec = NULL;
        it->len = 0;
        it->end = resync(s->base, s->size, s->off + 1);
    }
    s->off = it->end;
    return true;
}

enum hdr_state { HDR_OK, HDR_BAD, HDR_VERSION };

static enum hdr_state check_file_header(const uint8_t *base, uint64_t size, uint32_t seq, uint32_t *version)
{
    if (size < FILE_HDR || memcmp(base, FILE_MAGIC, FILE_MAGIC_LEN) != 0)
        return HDR_BAD;
    *version = hl_le32_get(base + 8);
    if (*version != FILE_VERSION)
        return HDR_VERSION;
    if (hl_le32_get(base + 12) != seq)
        return HDR_BAD;
    return HDR_OK;
}

static int write_all(int fd, const void *buf, size_t len, off_t off)
{
    const uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

static int writev_all(int fd, struct iovec *iov, int cnt, off_t off)
{
    while (cnt > 0) {
        ssize_t n = pwritev(fd, iov, cnt, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        off += n;
        while (cnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

static int sync_dir(hl_spool_t *sp)
{
    if (fsync(sp->dirfd) != 0) {
        hl_log(HL_LOG_ERROR, "spool: %s: fsync of the directory failed: %s", sp->dir, strerror(errno));
        return HL_EIO;
    }
    return 0;
}

static void remove_file(hl_spool_t *sp, const char *name)
{
    if (unlinkat(sp->dirfd, name, 0) != 0 && errno != ENOENT)
        hl_log(HL_LOG_ERROR, "spool: %s/%s: cannot remove: %s", sp->dir, name, strerror(errno));
}

/* Keeps the damaged segment NAME for an operator as NAME.corrupt (a hard link, so it outlives
 * the segment's deletion after replay). */
static int set_aside(hl_spool_t *sp, const char *name)
{
    char aside[NAME_LEN + sizeof(CORRUPT_SUFFIX)];

    snprintf(aside, sizeof(aside), "%s%s", name, CORRUPT_SUFFIX);
    if (linkat(sp->dirfd, name, sp->dirfd, aside, 0) != 0 && errno != EEXIST) {
        hl_log(HL_LOG_ERROR, "spool: %s/%s: cannot link the damaged segment aside as %s: %s", sp->dir, name,
               aside, strerror(errno));
        return HL_EIO;
    }
    return sync_dir(sp);
}

static int report_damage(hl_spool_t *sp, struct seg *seg, const char *name, uint64_t off, uint64_t end)
{
    hl_log(HL_LOG_ERROR,
           "spool: %s/%s: damaged data at offset %" PRIu64 " (%" PRIu64 " bytes) skipped; "
           "any record in it is lost; segment kept as %s" CORRUPT_SUFFIX,
           sp->dir, name, off, end - off, name);
    __atomic_add_fetch(&sp->corrupt, 1, __ATOMIC_RELAXED);
    if (seg->damaged)
        return 0;
    seg->damaged = true;
    return set_aside(sp, name);
}

static void unmap_file(struct map *m)
{
    if (m->base)
        munmap(m->base, (size_t)m->size);
    if (m->fd >= 0)
        close(m->fd);
    m->base = NULL;
    m->fd = -1;
}

static int map_file(hl_spool_t *sp, const char *name, int flags, struct map *m)
{
    struct stat st;
    int rc = HL_EIO;

    m->fd = openat(sp->dirfd, name, flags | O_CLOEXEC | O_NOFOLLOW);
    if (m->fd < 0) {
        hl_log(HL_LOG_ERROR, "spool: %s/%s: cannot open: %s", sp->dir, name, strerror(errno));
        goto out;
    }
    if (fstat(m->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        hl_log(HL_LOG_ERROR, "spool: %s/%s: not a regular file", sp->dir, name);
        goto out;
    }
    m->size = (uint64_t)st.st_size;
    m->mode = st.st_mode;
    if (m->size > 0) {
        void *p = mmap(NULL, (size_t)m->size, PROT_READ, MAP_PRIVATE, m->fd, 0);
        if (p == MAP_FAILED) {
            hl_log(HL_LOG_ERROR, "spool: %s/%s: cannot map: %s", sp->dir, name, strerror(errno));
            goto out;
        }
        m->base = p;
        madvise(p, (size_t)m->size, MADV_SEQUENTIAL);
    }
    rc = 0;
out:
    if (rc != 0)
        unmap_file(m);
    return rc;
}

static void load_checkpoint(hl_spool_t *sp)
{
    uint8_t buf[CP_SIZE];
    ssize_t n = -1;
    int fd = openat(sp->dirfd, CP_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    sp->cp_seq = 0;
    sp->cp_off = 0;
    if (fd < 0) {
        if (errno != ENOENT)
            hl_log(HL_LOG_WARN, "spool: %s/%s: cannot open (%s); replaying every segment in full", sp->dir,
                   CP_NAME, strerror(errno));
        goto out;
    }
    n = pread(fd, buf, sizeof(buf), 0);
    if (n != (ssize_t)CP_SIZE || memcmp(buf, CP_MAGIC, 8) != 0 || hl_le32_get(buf + 8) != FILE_VERSION ||
        hl_le32_get(buf + 24) != crc(buf, 24) || hl_le32_get(buf + 12) == 0) {
        hl_log(HL_LOG_WARN, "spool: %s/%s: invalid checkpoint ignored; replaying every segment in full",
               sp->dir, CP_NAME);
        goto out;
    }
    sp->cp_seq = hl_le32_get(buf + 12);
    sp->cp_off = hl_le64_get(buf + 16);
out:
    if (fd >= 0)
        close(fd);
}

/* Records durably that everything before OFF in segment SEQ (and every older segment) is applied:
 * write, fsync, rename, fsync the directory. */
static int write_checkpoint(hl_spool_t *sp, uint32_t seq, uint64_t off)
{
    uint8_t buf[CP_SIZE] = {0};
    int fd = -1, rc = HL_EIO;

    memcpy(buf, CP_MAGIC, 8);
    hl_le32_put(buf + 8, FILE_VERSION);
    hl_le32_put(buf + 12, seq);
    hl_le64_put(buf + 16, off);
    hl_le32_put(buf + 24, crc(buf, 24));
    fd = openat(sp->dirfd, CP_TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || write_all(fd, buf, sizeof(buf), 0) != 0 || fsync(fd) != 0) {
        hl_log(HL_LOG_WARN, "spool: %s/%s: cannot write: %s", sp->dir, CP_TMP_NAME, strerror(errno));
        goto out;
    }
    if (renameat(sp->dirfd, CP_TMP_NAME, sp->dirfd, CP_NAME) != 0) {
        hl_log(HL_LOG_WARN, "spool: %s/%s: cannot rename: %s", sp->dir, CP_TMP_NAME, strerror(errno));
        goto out;
    }
    rc = sync_dir(sp);
    if (rc == 0) {
        sp->cp_seq = seq;
        sp->cp_off = off;
    }
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

static void list_push(hl_spool_t *sp, struct seg *seg)
{
    seg->next = NULL;
    if (sp->tail)
        sp->tail->next = seg;
    else
        sp->head = seg;
    sp->tail = seg;
    __atomic_add_fetch(&sp->segments, 1, __ATOMIC_RELAXED);
}

/*
 * Checks segment SEQ at open and queues it when it holds pending records. LAST: the newest
 * segment, the only one an interrupted append can have left torn.
 */
static int load_segment(hl_spool_t *sp, uint32_t seq, bool last)
{
    char name[NAME_LEN];
    struct map m = {.fd = -1};
    struct seg *seg = NULL;
    struct scan sc;
    struct item it;
    uint32_t version = 0;
    uint64_t cp = 0, tail = UINT64_MAX, first;
    size_t total = 0, before = 0;
    bool cp_hit;
    int rc = 0;

    seg_name(name, seq);
    if (seq < sp->cp_seq) {
        hl_log(HL_LOG_INFO, "spool: %s/%s: already replayed (checkpoint at segment %" PRIu32 "), removed",
               sp->dir, name, sp->cp_seq);
        remove_file(sp, name);
        goto out;
    }
    rc = map_file(sp, name, O_RDWR, &m);
    if (rc != 0)
        goto out;
    if (m.mode & 077)
        hl_log(HL_LOG_WARN, "spool: %s/%s: mode %04o is wider than 0600", sp->dir, name,
               (unsigned)(m.mode & 07777));
    seg = calloc(1, sizeof(*seg));
    if (!seg) {
        rc = HL_ENOMEM;
        goto out;
    }
    seg->seq = seq;
    sc = (struct scan){.base = m.base, .size = m.size, .off = FILE_HDR};
    switch (check_file_header(m.base, m.size, seq, &version)) {
    case HDR_OK:
        break;
    case HDR_VERSION:
        hl_log(HL_LOG_ERROR,
               "spool: %s/%s: format version %" PRIu32 " is not %u; refusing to touch the spool", sp->dir,
               name, version, FILE_VERSION);
        rc = HL_EINVAL;
        goto out;
    case HDR_BAD:
        sc.off = resync(m.base, m.size, 0);
        if (last && sc.off == m.size) {
            /* A crash while the newest segment was being created: it holds no record. */
            hl_log(HL_LOG_WARN, "spool: %s/%s: incomplete segment header (%" PRIu64 " bytes), removed",
                   sp->dir, name, m.size);
            remove_file(sp, name);
            rc = sync_dir(sp);
            goto out;
        }
        rc = report_damage(sp, seg, name, 0, sc.off);
        if (rc != 0)
            goto out;
        break;
    }
    /* Where records start: after the file header, or, when that is damaged, at the first intact
     * record (which may begin inside the 16 bytes a header would take). */
    first = sc.off;
    if (seq == sp->cp_seq)
        cp = sp->cp_off;
    cp_hit = cp == 0;
    while (scan_next(&sc, &it)) {
        if (it.is_record) {
            total++;
            if (it.off < cp)
                before++;
            if (it.off == cp || it.end == cp)
                cp_hit = true;
        } else if (last && it.end == m.size) {
            tail = it.off;
        } else {
            rc = report_damage(sp, seg, name, it.off, it.end);
            if (rc != 0)
                goto out;
        }
    }
    seg->size = tail != UINT64_MAX ? tail : m.size;
    if (!cp_hit) {
        hl_log(HL_LOG_WARN,
               "spool: %s/%s: checkpoint offset %" PRIu64 " is not a record boundary; replaying the whole "
               "segment",
               sp->dir, name, cp);
        cp = 0;
        before = 0;
    }
    seg->start = cp > first ? cp : first;
    seg->pending = total - before;
    if (m.base) {
        munmap(m.base, (size_t)m.size);
        m.base = NULL;
    }
    if (tail != UINT64_MAX) {
        hl_log(HL_LOG_WARN,
               "spool: %s/%s: torn record at offset %" PRIu64 " (%" PRIu64 " bytes, never acknowledged) "
               "truncated",
               sp->dir, name, tail, m.size - tail);
        if (ftruncate(m.fd, (off_t)tail) != 0 || fsync(m.fd) != 0) {
            hl_log(HL_LOG_ERROR, "spool: %s/%s: cannot truncate: %s", sp->dir, name, strerror(errno));
            rc = HL_EIO;
            goto out;
        }
    }
    if (seg->pending == 0) {
        hl_log(HL_LOG_DEBUG, "spool: %s/%s: nothing left to replay, removed", sp->dir, name);
        remove_file(sp, name);
        goto out;
    }
    __atomic_add_fetch(&sp->pending, seg->pending, __ATOMIC_RELAXED);
    list_push(sp, seg);
    seg = NULL;
out:
    free(seg);
    unmap_file(&m);
    return rc;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The numbers of every segment file in the directory, ascending. */
static int list_segments(hl_spool_t *sp, uint32_t **out, size_t *count)
{
    DIR *d = NULL;
    struct dirent *de;
    uint32_t *seqs = NULL, seq;
    size_t n = 0, cap = 0;
    int fd = -1, rc = HL_EIO;

    fd = dup(sp->dirfd);
    if (fd < 0 || !(d = fdopendir(fd))) {
        hl_log(HL_LOG_ERROR, "spool: %s: cannot list: %s", sp->dir, strerror(errno));
        goto out;
    }
    fd = -1;
    rewinddir(d);
    while ((errno = 0, de = readdir(d)) != NULL) {
        if (!parse_seg_name(de->d_name, &seq))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            uint32_t *p = realloc(seqs, ncap * sizeof(*p));
            if (!p) {
                rc = HL_ENOMEM;
                goto out;
            }
            seqs = p;
            cap = ncap;
        }
        seqs[n++] = seq;
    }
    if (errno != 0) {
        hl_log(HL_LOG_ERROR, "spool: %s: cannot list: %s", sp->dir, strerror(errno));
        goto out;
    }
    if (n > 1)
        qsort(seqs, n, sizeof(*seqs), cmp_u32);
    *out = seqs;
    *count = n;
    seqs = NULL;
    rc = 0;
out:
    if (d)
        closedir(d);
    if (fd >= 0)
        close(fd);
    free(seqs);
    return rc;
}

/* Creates the directory's entry durably in its parent. */
static void sync_parent(const char *dir)
{
    char *copy = strdup(dir), *slash;
    int fd = -1;

    if (!copy)
        goto out;
    slash = strrchr(copy, '/');
    if (!slash)
        fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    else {
        slash[slash == copy ? 1 : 0] = '\0';
        fd = open(copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd < 0 || fsync(fd) != 0)
        hl_log(HL_LOG_WARN, "spool: %s: cannot fsync the parent directory: %s", dir, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    free(copy);
}

static int open_dir(hl_spool_t *sp)
{
    struct stat st;
    int rc = HL_EIO;

    if (mkdir(sp->dir, 0700) == 0) {
        hl_log(HL_LOG_INFO, "spool: %s: created (mode 0700)", sp->dir);
        sync_parent(sp->dir);
    } else if (errno != EEXIST) {
        hl_log(HL_LOG_ERROR, "spool: %s: cannot create: %s", sp->dir, strerror(errno));
        goto out;
    }
    sp->dirfd = open(sp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sp->dirfd < 0 || fstat(sp->dirfd, &st) != 0) {
        hl_log(HL_LOG_ERROR, "spool: %s: cannot open: %s", sp->dir, strerror(errno));
        goto out;
    }
    if (st.st_mode & 022) {
        hl_log(HL_LOG_ERROR, "spool: %s: mode %04o lets group or others write; chmod 0700 it", sp->dir,
               (unsigned)(st.st_mode & 07777));
        rc = HL_EPERM;
        goto out;
    }
    if (st.st_mode & 055)
        hl_log(HL_LOG_WARN,
               "spool: %s: mode %04o lets group or others read (records are sealed); 0700 is "
               "recommended",
               sp->dir, (unsigned)(st.st_mode & 07777));
    if (st.st_uid != geteuid())
        hl_log(HL_LOG_WARN, "spool: %s: owned by uid %u, not by this process (uid %u)", sp->dir,
               (unsigned)st.st_uid, (unsigned)geteuid());
    if (flock(sp->dirfd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            /* Two daemons sharing a spool would replay, retire and number segments under
             * each other: several helplined on one host need a spool_dir each. */
            hl_log(HL_LOG_ERROR,
                   "spool: %s: locked by another process (another helplined?): every helplined needs a "
                   "spool_dir of its own",
                   sp->dir);
            rc = HL_ECONFLICT;
        } else {
            hl_log(HL_LOG_ERROR, "spool: %s: cannot lock: %s", sp->dir, strerror(errno));
            rc = HL_EIO;
        }
        goto out;
    }
    rc = 0;
out:
    return rc;
}

int hl_spool_open(const char *dir, hl_spool_t **out)
{
    return hl_spool_open_opts(dir, NULL, out);
}

int hl_spool_open_opts(const char *dir, const hl_spool_opts_t *opts, hl_spool_t **out)
{
    hl_spool_t *sp = NULL;
    uint32_t *seqs = NULL;
    size_t n = 0;
    int rc = HL_EINVAL;

    if (!dir || !*dir || !out)
        goto out;
    rc = HL_ENOMEM;
    sp = calloc(1, sizeof(*sp));
    if (!sp)
        goto out;
    sp->dirfd = -1;
    sp->active_fd = -1;
    sp->dir = strdup(dir);
    if (!sp->dir)
        goto out;
    if (pthread_mutex_init(&sp->mu, NULL) != 0)
        goto out;
    if (pthread_cond_init(&sp->cv, NULL) != 0) {
        pthread_mutex_destroy(&sp->mu);
        goto out;
    }
    sp->sync_init = true;
    sp->segment_bytes = opts && opts->segment_bytes ? opts->segment_bytes : HL_SPOOL_SEGMENT_BYTES;
    if (sp->segment_bytes < MIN_SEGMENT_BYTES)
        sp->segment_bytes = MIN_SEGMENT_BYTES;
    sp->checkpoint_every =
        opts && opts->checkpoint_every ? opts->checkpoint_every : HL_SPOOL_CHECKPOINT_EVERY;

    rc = open_dir(sp);
    if (rc != 0)
        goto out;
    load_checkpoint(sp);
    rc = list_segments(sp, &seqs, &n);
    if (rc != 0)
        goto out;
    sp->next_seq = n > 0 ? seqs[n - 1] : 0;
    if (sp->cp_seq > sp->next_seq)
        sp->next_seq = sp->cp_seq;
    if (sp->next_seq == UINT32_MAX) {
        hl_log(HL_LOG_ERROR, "spool: %s: segment numbers exhausted", sp->dir);
        rc = HL_EINVAL;
        goto out;
    }
    sp->next_seq++;
    for (size_t i = 0; i < n; i++) {
        rc = load_segment(sp, seqs[i], i == n - 1);
        if (rc != 0)
            goto out;
    }
    hl_log(HL_LOG_INFO, "spool: %s: opened, %zu segment(s), %zu record(s) pending", sp->dir, sp->segments,
           sp->pending);
    *out = sp;
    sp = NULL;
    rc = 0;
out:
    free(seqs);
    hl_spool_close(sp);
    return rc;
}

/* Makes every write to the active segment durable and closes it; the next append opens a new
 * one. Called with mu held; may wait on cv. */
static int seal_active_locked(hl_spool_t *sp)
{
    int rc = 0;

    while (sp->syncing)
        pthread_cond_wait(&sp->cv, &sp->mu);
    if (!sp->active)
        goto out;
    if (!sp->broken && sp->synced_gen < sp->write_gen) {
        __atomic_add_fetch(&sp->fsyncs, 1, __ATOMIC_RELAXED);
        if (fdatasync(sp->active_fd) != 0) {
            hl_log(HL_LOG_ERROR,
                   "spool: %s: segment %" PRIu32 ": fsync failed (%s); appends refused until restart",
                   sp->dir, sp->active->seq, strerror(errno));
            sp->broken = true;
            rc = HL_EIO;
        } else {
            sp->synced_gen = sp->write_gen;
        }
        pthread_cond_broadcast(&sp->cv);
    }
    close(sp->active_fd);
    sp->active_fd = -1;
    sp->active = NULL;
    sp->active_bad = false;
out:
    return rc;
}

/* Creates the next segment file (header, fsync of file and directory) as the active one. */
static int create_segment_locked(hl_spool_t *sp)
{
    char name[NAME_LEN];
    uint8_t hdr[FILE_HDR] = {0};
    struct seg *seg = NULL;
    int fd = -1, rc = HL_ENOMEM;
    uint32_t seq = sp->next_seq;

    seg = calloc(1, sizeof(*seg));
    if (!seg)
        goto out;
    rc = HL_EIO;
    if (seq == UINT32_MAX) {
        hl_log(HL_LOG_ERROR, "spool: %s: segment numbers exhausted", sp->dir);
        goto out;
    }
    sp->next_seq++;
    seg_name(name, seq);
    memcpy(hdr, FILE_MAGIC, sizeof(FILE_MAGIC));
    hl_le32_put(hdr + 8, FILE_VERSION);
    hl_le32_put(hdr + 12, seq);
    fd = openat(sp->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        hl_log(HL_LOG_ERROR, "spool: %s/%s: cannot create: %s", sp->dir, name, strerror(errno));
        goto out;
    }
    if (write_all(fd, hdr, sizeof(hdr), 0) != 0 || fsync(fd) != 0) {
        hl_log(HL_LOG_ERROR, "spool: %s/%s: cannot write the header: %s", sp->dir, name, strerror(errno));
        remove_file(sp, name);
        goto out;
    }
    rc = sync_dir(sp);
    if (rc != 0) {
        remove_file(sp, name);
        goto out;
    }
    seg->seq = seq;
    seg->size = FILE_HDR;
    seg->start = FILE_HDR;
    list_push(sp, seg);
    sp->active = seg;
    sp->active_fd = fd;
    sp->active_bad = false;
    seg = NULL;
    fd = -1;
    hl_log(HL_LOG_DEBUG, "spool: %s/%s: new segment", sp->dir, name);
out:
    if (fd >= 0)
        close(fd);
    free(seg);
    return rc;
}

int hl_spool_append(hl_spool_t *sp, const void *rec, size_t len)
{
    uint8_t hdr[REC_HDR];
    struct iovec iov[2];
    uint64_t my_gen, off, total = REC_HDR + (uint64_t)len;
    bool locked = false;
    int rc = HL_EINVAL;

    if (!sp || !rec || len == 0 || len > HL_SPOOL_MAX_RECORD) {
        hl_log(HL_LOG_WARN, "spool: append of %zu bytes refused (1..%u allowed)", len, HL_SPOOL_MAX_RECORD);
        goto out;
    }
    encode_rec_header(hdr, rec, (uint32_t)len);
    pthread_mutex_lock(&sp->mu);
    locked = true;
    for (;;) {
        if (sp->broken) {
            rc = HL_EIO;
            goto out;
        }
        if (sp->active && !sp->active_bad &&
            (sp->active->size + total <= sp->segment_bytes || sp->active->size == FILE_HDR))
            break;
        if (sp->syncing) {
            pthread_cond_wait(&sp->cv, &sp->mu);
            continue;
        }
        rc = seal_active_locked(sp);
        if (rc == 0)
            rc = create_segment_locked(sp);
        if (rc != 0)
            goto out;
    }
    off = sp->active->size;
    iov[0] = (struct iovec){.iov_base = hdr, .iov_len = REC_HDR};
    iov[1] = (struct iovec){.iov_base = (void *)(uintptr_t)rec, .iov_len = len};
    if (writev_all(sp->active_fd, iov, 2, (off_t)off) != 0) {
        hl_log(HL_LOG_ERROR, "spool: %s: segment %" PRIu32 ": write at offset %" PRIu64 " failed: %s",
               sp->dir, sp->active->seq, off, strerror(errno));
        if (ftruncate(sp->active_fd, (off_t)off) != 0)
            sp->active_bad = true;
        rc = HL_EIO;
        goto out;
    }
    sp->active->size += total;
    sp->active->pending++;
    __atomic_add_fetch(&sp->pending, 1, __ATOMIC_RELAXED);
    my_gen = ++sp->write_gen;

    /* Group commit: whoever finds no fsync running syncs everything written so far. */
    for (;;) {
        if (sp->synced_gen >= my_gen)
            break;
        if (sp->broken) {
            rc = HL_EIO;
            goto out;
        }
        if (sp->syncing) {
            pthread_cond_wait(&sp->cv, &sp->mu);
            continue;
        }
        uint64_t target = sp->write_gen;
        uint32_t seq = sp->active->seq;
        int fd = sp->active_fd, r, err;
        sp->syncing = true;
        pthread_mutex_unlock(&sp->mu);
        __atomic_add_fetch(&sp->fsyncs, 1, __ATOMIC_RELAXED);
        r = fdatasync(fd);
        err = errno;
        pthread_mutex_lock(&sp->mu);
        sp->syncing = false;
        if (r == 0) {
            if (target > sp->synced_gen)
                sp->synced_gen = target;
        } else {
            hl_log(HL_LOG_ERROR,
                   "spool: %s: segment %" PRIu32 ": fsync failed (%s); appends refused until restart",
                   sp->dir, seq, strerror(err));
            sp->broken = true;
        }
        pthread_cond_broadcast(&sp->cv);
    }
    __atomic_add_fetch(&sp->appends, 1, __ATOMIC_RELAXED);
    rc = 0;
out:
    if (locked)
        pthread_mutex_unlock(&sp->mu);
    return rc;
}

/* Delivers SEG's records from seg->start; checkpoints as it goes. 0 once all were applied. */
static int replay_segment(hl_spool_t *sp, struct seg *seg, hl_spool_apply_fn fn, void *arg, size_t *count)
{
    char name[NAME_LEN];
    struct map m = {.fd = -1};
    struct scan sc;
    struct item it;
    uint32_t version = 0;
    unsigned since_cp = 0;
    int rc;

    seg_name(name, seg->seq);
    rc = map_file(sp, name, O_RDONLY, &m);
    if (rc != 0)
        goto out;
    sc = (struct scan){.base = m.base, .size = m.size < seg->size ? m.size : seg->size, .off = seg->start};
    if (sc.size < seg->size)
        hl_log(HL_LOG_ERROR, "spool: %s/%s: shorter (%" PRIu64 " bytes) than written (%" PRIu64 ")", sp->dir,
               name, sc.size, seg->size);
    if (check_file_header(m.base, sc.size, seg->seq, &version) != HDR_OK && !seg->damaged) {
        rc = report_damage(sp, seg, name, 0, FILE_HDR);
        if (rc != 0)
            goto out;
    }
    while (scan_next(&sc, &it)) {
        if (!it.is_record) {
            if (seg->damaged)
                hl_log(HL_LOG_WARN,
                       "spool: %s/%s: skipping damaged data at offset %" PRIu64 " (%" PRIu64 " bytes)",
                       sp->dir, name, it.off, it.end - it.off);
            else {
                rc = report_damage(sp, seg, name, it.off, it.end);
                if (rc != 0)
                    goto out;
            }
            continue;
        }
        int r = fn(arg, it.rec, it.len);
        if (r != 0) {
            rc = r < 0 ? r : HL_EINVAL;
            /* The next replay (in this process, or after a restart once checkpointed) starts here. */
            seg->start = it.off;
            if (since_cp > 0)
                (void)write_checkpoint(sp, seg->seq, it.off);
            goto out;
        }
        (*count)++;
        if (seg->pending > 0) {
            seg->pending--;
            __atomic_sub_fetch(&sp->pending, 1, __ATOMIC_RELAXED);
        }
        if (++since_cp >= sp->checkpoint_every && sc.off < sc.size) {
            seg->start = it.end;
            (void)write_checkpoint(sp, seg->seq, it.end);
            since_cp = 0;
        }
    }
    rc = 0;
out:
    unmap_file(&m);
    return rc;
}

/* SEG (the head) was applied in full: forget and delete it. */
static void retire_segment(hl_spool_t *sp, struct seg *seg)
{
    char name[NAME_LEN];

    pthread_mutex_lock(&sp->mu);
    sp->head = seg->next;
    if (!sp->head)
        sp->tail = NULL;
    pthread_mutex_unlock(&sp->mu);
    __atomic_sub_fetch(&sp->segments, 1, __ATOMIC_RELAXED);
    if (seg->pending > 0) /* counted at open but unreadable now (reported as damage) */
        __atomic_sub_fetch(&sp->pending, seg->pending, __ATOMIC_RELAXED);
    seg_name(name, seg->seq);
    remove_file(sp, name);
    hl_log(HL_LOG_DEBUG, "spool: %s/%s: replayed, removed", sp->dir, name);
    free(seg);
}

int hl_spool_replay(hl_spool_t *sp, hl_spool_apply_fn fn, void *arg, size_t *replayed)
{
    struct seg *seg;
    uint32_t end_seq = 0;
    size_t count = 0;
    bool claimed = false;
    int rc = HL_EINVAL;

    if (!sp || !fn)
        goto out;
    pthread_mutex_lock(&sp->mu);
    if (sp->replaying) {
        pthread_mutex_unlock(&sp->mu);
        rc = HL_ECONFLICT;
        goto out;
    }
    sp->replaying = claimed = true;
    /* New appends go to a fresh segment; this replay takes everything up to here. A failed
     * fsync here only fails the appenders waiting for it: their records may still be replayed,
     * which is harmless. */
    (void)seal_active_locked(sp);
    if (sp->tail)
        end_seq = sp->tail->seq;
    pthread_mutex_unlock(&sp->mu);

    rc = 0;
    for (;;) {
        pthread_mutex_lock(&sp->mu);
        seg = sp->head;
        pthread_mutex_unlock(&sp->mu);
        if (!seg || seg->seq > end_seq)
            break;
        rc = replay_segment(sp, seg, fn, arg, &count);
        if (rc != 0)
            break;
        retire_segment(sp, seg);
    }
    /* A stop asked for by FN is the caller's news to log; a read error was logged where it happened. */
    if (rc == 0 && count > 0)
        hl_log(HL_LOG_INFO, "spool: %s: replayed %zu record(s), %zu pending", sp->dir, count,
               hl_spool_pending(sp));
    else if (rc != 0)
        hl_log(HL_LOG_DEBUG, "spool: %s: replay stopped after %zu record(s): %s", sp->dir, count,
               hl_strerror(rc));
out:
    if (claimed) {
        pthread_mutex_lock(&sp->mu);
        sp->replaying = false;
        pthread_mutex_unlock(&sp->mu);
    }
    if (replayed)
        *replayed = count;
    return rc;
}

size_t hl_spool_pending(const hl_spool_t *sp)
{
    return sp ? __atomic_load_n(&sp->pending, __ATOMIC_RELAXED) : 0;
}

bool hl_spool_usable(hl_spool_t *sp, const char **why)
{
    struct stat opened, now;
    struct statvfs vfs;
    bool broken;

    pthread_mutex_lock(&sp->mu);
    broken = sp->broken;
    pthread_mutex_unlock(&sp->mu);
    if (broken) {
        *why = "an fsync failed; appends refused until restart";
        return false;
    }
    /* Records appended to a directory that was removed, renamed or replaced would not be found
     * by the next start. */
    if (fstat(sp->dirfd, &opened) != 0 || stat(sp->dir, &now) != 0 || opened.st_dev != now.st_dev ||
        opened.st_ino != now.st_ino) {
        *why = "the directory is gone or was replaced";
        return false;
    }
    if (faccessat(sp->dirfd, ".", W_OK, AT_EACCESS) != 0) {
        *why = errno == EROFS ? "read-only file system" : "the directory is not writable";
        return false;
    }
    if (fstatvfs(sp->dirfd, &vfs) != 0 ||
        (uint64_t)vfs.f_bavail * vfs.f_frsize < (uint64_t)HL_SPOOL_MAX_RECORD + REC_HDR + FILE_HDR) {
        *why = "no room for one more record";
        return false;
    }
    return true;
}

void hl_spool_stats(const hl_spool_t *sp, hl_spool_stats_t *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof(*out));
    if (!sp)
        return;
    out->pending = __atomic_load_n(&sp->pending, __ATOMIC_RELAXED);
    out->corrupt = __atomic_load_n(&sp->corrupt, __ATOMIC_RELAXED);
    out->appends = __atomic_load_n(&sp->appends, __ATOMIC_RELAXED);
    out->fsyncs = __atomic_load_n(&sp->fsyncs, __ATOMIC_RELAXED);
    out->segments = __atomic_load_n(&sp->segments, __ATOMIC_RELAXED);
}

void hl_spool_close(hl_spool_t *sp)
{
    struct seg *seg, *next;

    if (!sp)
        return;
    if (sp->sync_init) {
        pthread_mutex_lock(&sp->mu);
        (void)seal_active_locked(sp);
        pthread_mutex_unlock(&sp->mu);
        pthread_cond_destroy(&sp->cv);
        pthread_mutex_destroy(&sp->mu);
    }
    for (seg = sp->head; seg; seg = next) {
        next = seg->next;
        free(seg);
    }
    if (sp->dirfd >= 0)
        close(sp->dirfd);
    free(sp->dir);
    free(sp);
}
