/*
 * Replay lag of a read replica (read_database_url), measured against the primary's WAL, the way
 * PostgreSQL's own walsender measures replay_lag: the health probe notes, at each probe, the
 * primary's flushed WAL position (pg_current_wal_flush_lsn) with the time it saw it, and asks
 * the standby how far it has replayed (pg_last_wal_replay_lsn).
 *
 *   lag_bytes    the primary's last seen position minus the standby's replayed one (0 when ahead)
 *   lag_seconds  how long ago the probe first saw the primary at a position the standby has not
 *                replayed yet; 0 once the standby has replayed all the primary had when asked
 *
 * An idle primary writes no WAL, so its standby reads 0, however old its last replayed
 * transaction is (the flaw of now() - pg_last_xact_replay_timestamp()). The seconds are a lower
 * bound within one probe interval: the WAL the standby waits for was written between the probe
 * that first saw it and the one before. Pure bookkeeping, no I/O: the health thread feeds it.
 */
#ifndef HL_REPLAG_H
#define HL_REPLAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Primary positions kept while the standby has not replayed them. When the standby falls behind
 * by more than this many probes, every other one is dropped (the oldest stays, so the seconds
 * stay right; the next ones get coarser). */
#define HL_REPLAG_SAMPLES 64

typedef struct hl_replag_sample {
    int64_t at_us; /* hl_monotonic_us when the primary answered */
    uint64_t lsn;
} hl_replag_sample_t;

typedef struct hl_replag {
    hl_replag_sample_t s[HL_REPLAG_SAMPLES]; /* oldest first, rising lsn, none replayed yet */
    size_t n;
    uint64_t latest; /* the primary's last position, when have_latest */
    bool have_latest;
} hl_replag_t;

void hl_replag_init(hl_replag_t *t);

/* The primary's flushed WAL position LSN, seen at AT_US. A position below the last one (another
 * primary after a failover) starts the bookkeeping over. */
void hl_replag_primary(hl_replag_t *t, int64_t at_us, uint64_t lsn);

/* The standby has replayed up to REPLAY at NOW_US: its lag in *SECONDS, and in *BYTES (false,
 * *BYTES untouched, while no primary position is known). */
bool hl_replag_standby(hl_replag_t *t, int64_t now_us, uint64_t replay, double *seconds, uint64_t *bytes);

/* A pg_lsn as PostgreSQL prints it ("16/B374D848"); false when TEXT is not one. */
bool hl_replag_parse_lsn(const char *text, uint64_t *out);

#endif
