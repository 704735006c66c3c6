/*
 * The statistics merger: a thread with a PostgreSQL connection of its own that folds the
 * pending rollup rows (stats_pending) into stats_daily and stats_monthly every interval
 * (hl_rollup_merge), so that statistics read cells rather than an ever longer list of deltas.
 * It merges once more when it stops. While PostgreSQL is down it retries, doubling its wait up to
 * 30 s; the pending rows wait in the database, and statistics count them meanwhile.
 */
#ifndef HL_MERGER_H
#define HL_MERGER_H

#include <stdint.h>

#include "util.h"

typedef struct hl_merger_opts {
    const char *conninfo; /* libpq connection string (copied) */
    unsigned interval_ms; /* between merges; 0: 1000 */
} hl_merger_opts_t;

typedef struct hl_merger_stats {
    uint64_t merges;   /* merge transactions committed */
    uint64_t rows;     /* pending rows folded */
    uint64_t failures; /* merges that failed (nothing folded) */
    uint64_t busy_us;  /* time spent in merges that committed */
} hl_merger_stats_t;

typedef struct hl_merger hl_merger_t;

/* Starts the thread (it connects in the background; the database may be down). */
int hl_merger_start(const hl_merger_opts_t *opts, hl_merger_t **out) HL_MUSTCHECK;

void hl_merger_get_stats(hl_merger_t *m, hl_merger_stats_t *out);

/* Merges once more, stops the thread and frees M; NULL is a no-op. */
void hl_merger_stop(hl_merger_t *m);

#endif
