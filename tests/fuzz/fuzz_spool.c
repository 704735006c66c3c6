/*
 * libFuzzer target for the spool's scanner (server/contacts/spool.c): the segment files and checkpoint
 * that hl_spool_open finds after a crash, a disk error or someone's editing, as bytes.
 *   make BUILD=build/fuzz fuzz-spool FUZZ_SECONDS=60
 *
 * Input: one flag byte, then (flag 0x01) a 32-byte checkpoint file, then the segment bytes;
 * flag 0x02 splits them into segments 1 and 2 at the offset in the next two bytes (little
 * endian, modulo the length); flag 0x04 writes correct CRCs into every record header whose
 * magic and length fit (docs/spool.md's format), so mutated records can be intact ones; bits
 * 4-5 choose checkpoint_every (1..4), bits 6-7 after how many records the first replay stops.
 * @@rep:N:UNIT@@ expands first (fuzz_util.h), so a seed reaches the 4 MiB record limit.
 *
 * Each input gets a fresh spool directory (under /dev/shm when there is one). Checks: open
 * succeeds, or refuses an unknown format version (HL_EINVAL); a replay stopped after some
 * records, a close, a reopen and a full replay deliver exactly the records counted pending at
 * the first open, each 1..HL_SPOOL_MAX_RECORD bytes; nothing is pending afterwards; a record
 * appended then survives a reopen and replays unchanged.
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "fuzz_util.h"
#include "log.h"
#include "contacts/spool.h"

#define FILE_HDR  16
#define REC_HDR   16
#define REC_MAGIC 0x43524c48u /* "HLRC" */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base_dir[256], spool_dir[300];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void remove_base(void)
{
    if (base_dir[0] != '\0')
        remove_tree(base_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (getenv("HL_FUZZ_LOG") == NULL)
        hl_log_set_level((hl_log_level_t)(HL_LOG_ERROR + 1)); /* every damaged input logs */
    snprintf(base_dir, sizeof(base_dir), "%s/helpline-fuzz-spool-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(base_dir) == NULL)
        abort();
    atexit(remove_base);
    snprintf(spool_dir, sizeof(spool_dir), "%s/spool", base_dir);
    return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Correct CRCs for every record header in SEG whose magic and length fit. */
static void fix_crcs(uint8_t *seg, size_t len)
{
    for (size_t off = FILE_HDR; off + REC_HDR <= len;) {
        uint32_t n = get32(seg + off + 4);
        if (get32(seg + off) != REC_MAGIC || n > len - off - REC_HDR) {
            off++;
            continue;
        }
        put32(seg + off + 8, (uint32_t)crc32(0, seg + off + REC_HDR, n));
        put32(seg + off + 12, (uint32_t)crc32(0, seg + off, 12));
        off += REC_HDR + (n > 0 ? n : 1);
    }
}

static void write_file(const char *name, const uint8_t *p, size_t len)
{
    char path[400];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", spool_dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (len > 0 && write(fd, p, len) != (ssize_t)len) || close(fd) != 0)
        abort();
}

typedef struct {
    size_t count, stop_after;
    const uint8_t *expect; /* the one record to see, or NULL */
    size_t expect_len;
} replay_t;

static int apply(void *arg, const void *rec, size_t len)
{
    replay_t *r = arg;

    if (len < 1 || len > HL_SPOOL_MAX_RECORD)
        abort();
    if (r->expect != NULL && (len != r->expect_len || memcmp(rec, r->expect, len) != 0))
        abort();
    if (r->count == r->stop_after)
        return HL_EDB; /* the database is gone again */
    r->count++;
    return 0;
}

static void reopen(hl_spool_t **sp, const hl_spool_opts_t *opts)
{
    hl_spool_close(*sp);
    *sp = NULL;
    if (hl_spool_open_opts(spool_dir, opts, sp) != HL_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t appended[] = "a sealed record, as far as the spool knows";
    size_t len, pending, split;
    uint8_t *in = fuzz_expand(data, size, &len), *p = in, flags;
    hl_spool_opts_t opts = {.segment_bytes = 4096};
    replay_t first = {0}, rest = {.stop_after = SIZE_MAX}, again = {.stop_after = SIZE_MAX};
    hl_spool_t *sp = NULL;
    int rc;

    if (len < 1)
        goto out;
    flags = *p++;
    len--;
    opts.checkpoint_every = 1u + ((flags >> 4) & 3u);
    first.stop_after = (size_t)(flags >> 6);
    if (mkdir(spool_dir, 0700) != 0)
        abort();
    if ((flags & 0x01) && len >= 32) {
        write_file("checkpoint", p, 32);
        p += 32;
        len -= 32;
    }
    split = len;
    if ((flags & 0x02) && len >= 2) {
        split = (size_t)(p[0] | p[1] << 8) % (len - 1);
        p += 2;
        len -= 2;
    }
    if (flags & 0x04) {
        fix_crcs(p, split);
        if (split < len)
            fix_crcs(p + split, len - split);
    }
    write_file("spool-00000001.log", p, split);
    if (split < len)
        write_file("spool-00000002.log", p + split, len - split);

    rc = hl_spool_open_opts(spool_dir, &opts, &sp);
    if (rc == HL_EINVAL)
        goto out; /* a format version this build does not know */
    if (rc != HL_OK)
        abort();
    pending = hl_spool_pending(sp);
    /* A replay that stops, a restart, the rest. */
    rc = hl_spool_replay(sp, apply, &first, NULL);
    if (rc != (first.count < pending ? HL_EDB : HL_OK))
        abort();
    reopen(&sp, &opts);
    if (hl_spool_pending(sp) != pending - first.count)
        abort();
    if (hl_spool_replay(sp, apply, &rest, NULL) != HL_OK || first.count + rest.count != pending ||
        hl_spool_pending(sp) != 0) {
        fprintf(stderr, "fuzz_spool: %zu pending at open, replayed %zu + %zu, %zu pending after\n", pending,
                first.count, rest.count, hl_spool_pending(sp));
        abort();
    }
    /* The spool still works. */
    if (hl_spool_append(sp, appended, sizeof(appended)) != HL_OK)
        abort();
    reopen(&sp, &opts);
    again.expect = appended;
    again.expect_len = sizeof(appended);
    if (hl_spool_pending(sp) != 1 || hl_spool_replay(sp, apply, &again, NULL) != HL_OK || again.count != 1)
        abort();
out:
    hl_spool_close(sp);
    remove_tree(spool_dir);
    free(in);
    return 0;
}
