/*
 * The spool: helplined's crash-safe local journal of already-sealed contact records, used while
 * PostgreSQL is unreachable. A record appended here survives a crash once hl_spool_append has
 * returned 0 (invariant 2: the writer answers 202 only then). Records are opaque bytes to the
 * spool; callers hand in sealed records only (invariant 1: nothing in the spool is plaintext).
 *
 * Records are replayed oldest first, at least once: a crash or a stop during replay may deliver
 * a few records again (the database write is idempotent by source key), but never loses or
 * reorders one. On-disk format and recovery rules: docs/spool.md.
 *
 * Thread safety: hl_spool_append, hl_spool_pending, hl_spool_usable and hl_spool_stats may be
 * called from any number of threads at once, also while one thread runs hl_spool_replay. Only
 * one replay runs at a time (a second gets HL_ECONFLICT). hl_spool_close must not race with any
 * other call.
 */
#ifndef HL_SPOOL_H
#define HL_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define HL_SPOOL_MAX_RECORD       (4u * 1024 * 1024)  /* largest record payload, bytes */
#define HL_SPOOL_SEGMENT_BYTES    (64u * 1024 * 1024) /* start a new segment beyond this */
#define HL_SPOOL_CHECKPOINT_EVERY 256u                /* replayed records between checkpoints */

typedef struct hl_spool hl_spool_t;

typedef struct hl_spool_opts {
    size_t segment_bytes;      /* 0: HL_SPOOL_SEGMENT_BYTES; at least 4096 */
    unsigned checkpoint_every; /* 0: HL_SPOOL_CHECKPOINT_EVERY */
} hl_spool_opts_t;

typedef struct hl_spool_stats {
    size_t pending;   /* records not yet replayed */
    size_t corrupt;   /* damaged regions found (and set aside) since open */
    uint64_t appends; /* successful appends since open */
    uint64_t fsyncs;  /* data fsyncs issued by appends since open (group commit: <= appends) */
    size_t segments;  /* segment files in the spool */
} hl_spool_stats_t;

/*
 * Called by hl_spool_replay for each record, oldest first. REC (LEN bytes, LEN >= 1) is valid
 * only during the call. Return 0 once the record is durably stored (committed), or a negative
 * value to stop the replay (e.g. HL_EDB: the database is gone again); that record is then
 * delivered first by the next replay.
 */
typedef int (*hl_spool_apply_fn)(void *arg, const void *rec, size_t len);

/*
 * Opens (creating it with mode 0700 when missing; its parent must exist) the spool directory DIR.
 * Refuses a directory writable by group or others (HL_EPERM), warns when it is readable by them.
 * Takes an exclusive lock on DIR: a second open of the same directory, in this process or
 * another, fails with HL_ECONFLICT. Scans and checks every segment and counts pending records:
 * a torn tail of the newest segment (a crash during an append that was never acknowledged) is
 * logged with its offset and truncated away; damage anywhere else is logged as an error, the
 * segment is linked aside as spool-N.log.corrupt (kept for an operator, never deleted by the
 * spool), its intact records stay pending and the damaged bytes are skipped (hl_spool_stats
 * .corrupt counts them). A segment of an unknown format version fails with HL_EINVAL.
 * On success the caller owns *OUT and frees it with hl_spool_close.
 */
int hl_spool_open(const char *dir, hl_spool_t **out) HL_MUSTCHECK;

/* hl_spool_open with options; OPTS NULL means all defaults. */
int hl_spool_open_opts(const char *dir, const hl_spool_opts_t *opts, hl_spool_t **out) HL_MUSTCHECK;

/*
 * Appends one record of LEN bytes (1 .. HL_SPOOL_MAX_RECORD, else HL_EINVAL) and returns 0 only
 * once it and, for a new segment, the directory entry are fsync'd. Concurrent appenders share
 * fsyncs (group commit). HL_EIO on a write or fsync error; after an fsync error the spool
 * refuses all further appends (HL_EIO) until it is reopened, as the state of unsynced data is
 * unknown.
 */
int hl_spool_append(hl_spool_t *sp, const void *rec, size_t len) HL_MUSTCHECK;

/*
 * Replays every record appended before the call into FN, oldest first; records appended during
 * the replay go to a new segment and wait for the next replay. A segment file is deleted once
 * all its records were applied; progress inside a segment is checkpointed durably every
 * checkpoint_every records and when FN stops, so a restart replays little. Returns 0 when all
 * were applied, FN's negative value when FN stopped it, HL_ECONFLICT when another replay runs,
 * HL_EIO on a read error. *REPLAYED (may be NULL) is set in every case to the number of records
 * FN accepted.
 */
int hl_spool_replay(hl_spool_t *sp, hl_spool_apply_fn fn, void *arg, size_t *replayed) HL_MUSTCHECK;

/* Records not yet replayed (for /healthz spool_pending). */
size_t hl_spool_pending(const hl_spool_t *sp);

/*
 * Can an append succeed now, as far as can be seen without writing: no fsync has failed, the
 * directory is still the one opened (not removed, renamed or replaced), writable, and has room
 * for one more record of HL_SPOOL_MAX_RECORD bytes. On false, *WHY says which (a static string).
 * For /healthz; may wait while an append creates or seals a segment.
 */
bool hl_spool_usable(hl_spool_t *sp, const char **why) HL_MUSTCHECK;

/* Counters for /metrics. */
void hl_spool_stats(const hl_spool_t *sp, hl_spool_stats_t *out);

/* fsyncs outstanding data, releases the lock and frees SP. NULL is a no-op. */
void hl_spool_close(hl_spool_t *sp);

#endif
