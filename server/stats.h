/*
 * Statistics from the rollup (stats_daily): dense count tables over the dimensions of
 * api.md's GET /v1/stats, for the stats endpoint and the quarterly report. Cost grows with
 * the number of cells, not of contacts. Nothing here applies disclosure control: callers
 * pass every table through lib/disclosure before anything leaves the daemon.
 */
#ifndef HL_STATS_H
#define HL_STATS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disclosure.h"
#include "taxonomy.h"
#include "util.h"

typedef enum {
    HL_STAT_CATEGORY = 0,
    HL_STAT_SUBCATEGORY,
    HL_STAT_AGE_BAND,
    HL_STAT_GENDER,
    HL_STAT_CHANNEL,
    HL_STAT_CONTACT_TYPE,
    HL_STAT_REGION,
    HL_STAT_MONTH,
    HL_STAT_N_DIMS
} hl_stat_dim_t;

const char *hl_stat_dim_name(hl_stat_dim_t d);
bool hl_stat_dim_parse(const char *s, hl_stat_dim_t *out) HL_MUSTCHECK;

typedef struct hl_stats_query {
    const int64_t *helplines; /* helpline ids to add up */
    size_t n_helplines;
    char from[11], to[11]; /* YYYY-MM-DD, inclusive, valid dates, from <= to */
    size_t ndims;          /* 1..HL_DISCLOSURE_MAX_DIMS, distinct */
    hl_stat_dim_t dims[HL_DISCLOSURE_MAX_DIMS];
    bool counselling_only; /* contact types counselling, information, referral */
} hl_stats_query_t;

/* A dense table: every combination of the dimensions' values, counts row-major, the last
 * dimension varying fastest (lib/disclosure's layout). */
typedef struct hl_stats_table {
    size_t ndims;
    hl_stat_dim_t dims[HL_DISCLOSURE_MAX_DIMS];
    size_t nvalues[HL_DISCLOSURE_MAX_DIMS];
    char **values[HL_DISCLOSURE_MAX_DIMS];
    size_t ncells;
    uint64_t *counts;
} hl_stats_table_t;

/* Checks a date "YYYY-MM-DD" (a real calendar day). */
bool hl_stats_date_valid(const char *s);

/* The table for Q: HL_EINVAL (too many cells), HL_EDB, HL_ENOMEM. Free it with hl_stats_table_free. */
int hl_stats_fetch(PGconn *conn, const hl_taxonomy_t *tax, const hl_stats_query_t *q,
                   hl_stats_table_t **out) HL_MUSTCHECK;
void hl_stats_table_free(hl_stats_table_t *t);

/* Contacts in Q's period and helplines (Q's dimensions ignored). */
int hl_stats_total(PGconn *conn, const hl_stats_query_t *q, uint64_t *out) HL_MUSTCHECK;

/* A disclosure table with T's shape and counts (the caller applies and frees it). */
int hl_stats_disclosure_table(const hl_stats_table_t *t, hl_disclosure_table_t **out) HL_MUSTCHECK;

#endif
