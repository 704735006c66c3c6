/*
 * Statistics from the rollup (stats_daily): dense count tables over the dimensions of
 * api.md's GET /v1/stats, for the stats endpoint and the quarterly report. Cost grows with
 * the number of cells, not of contacts; every query is bounded before any work
 * (hl_stats_plan). Tables leave the daemon only through hl_stats_protect.
 *
 * A table counts one kind of thing (hl_stats_unit_t), given by its dimensions: contacts
 * (category .. region), referrals (referral_to, referral_state: each referral once, in the
 * month it was made, with its current state) or case status changes (case_status: a new
 * case, a move to in_progress, a closing; migration 0010). month goes with any of them; the
 * dimensions of two kinds do not combine.
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
    HL_STAT_REFERRAL_TO,
    HL_STAT_REFERRAL_STATE,
    HL_STAT_CASE_STATUS,
    HL_STAT_WEEK, /* the Monday of the ISO week, YYYY-MM-DD; not for sliced queries */
    HL_STAT_N_DIMS
} hl_stat_dim_t;

const char *hl_stat_dim_name(hl_stat_dim_t d);
bool hl_stat_dim_parse(const char *s, hl_stat_dim_t *out) HL_MUSTCHECK;

/* What a table counts. */
typedef enum {
    HL_STATS_CONTACTS = 0,  /* the contact dimensions, or month alone */
    HL_STATS_REFERRALS,     /* referral_to, referral_state */
    HL_STATS_STATUS_CHANGES /* case_status */
} hl_stats_unit_t;

/* "contacts", "referrals", "status_changes" (the total's name in replies: total_<unit>). */
const char *hl_stats_unit_name(hl_stats_unit_t u);

/* The unit of the NDIMS dimensions DIMS; false when they mix units. */
bool hl_stats_unit_of(const hl_stat_dim_t *dims, size_t ndims, hl_stats_unit_t *out) HL_MUSTCHECK;

/* Bounds every query is checked against before any work (hl_stats_plan). */
#define HL_STATS_MAX_MONTHS     1200      /* calendar months a range may touch: 100 years */
#define HL_STATS_MAX_SLICE_WORK (1 << 18) /* sliced: helplines x months x cells of a slice */

typedef struct hl_stats_query {
    const int64_t *helplines; /* helpline ids to add up, ascending */
    size_t n_helplines;
    char from[11], to[11]; /* YYYY-MM-DD, inclusive, valid dates, from <= to */
    size_t ndims;          /* 1..HL_DISCLOSURE_MAX_DIMS, distinct, of one unit */
    hl_stat_dim_t dims[HL_DISCLOSURE_MAX_DIMS];
    bool counselling_only; /* contact types counselling, information, referral (contacts only) */
    /* For users without row-level access (design.md invariant 9, docs/http-api.md): counted per
     * helpline and calendar month (a slice), each slice protected on its own and the answer
     * made of their sums (hl_stats_protect). FROM..TO must then be whole months. */
    bool sliced;
} hl_stats_query_t;

/* The size of a query's answer, known before anything is fetched. */
typedef struct hl_stats_plan {
    size_t months;      /* calendar months FROM..TO touches */
    size_t cells;       /* the answer: product of the dimension sizes */
    size_t slices;      /* sliced: helplines x months; else 1 */
    size_t slice_cells; /* sliced: cells of a slice (the dimensions without month); else cells */
    hl_stats_unit_t unit;
} hl_stats_plan_t;

/*
 * Checks Q against the bounds, from the sizes of the vocabularies alone (taxonomy codes, the
 * fixed lists, the months of the range): HL_EINVAL with *FIELD the query parameter to blame,
 * "to" for a range over HL_STATS_MAX_MONTHS months or a sliced query over
 * HL_STATS_MAX_SLICE_WORK (helplines x months x slice cells), "by" for more than
 * HL_DISCLOSURE_MAX_CELLS cells, dimensions of two units, or counselling_only with a unit
 * other than contacts. Constant work per dimension, plus the taxonomy's size.
 */
int hl_stats_plan(const hl_taxonomy_t *tax, const hl_stats_query_t *q, hl_stats_plan_t *out,
                  const char **field) HL_MUSTCHECK;

/* A dense table: every combination of the dimensions' values, counts row-major, the last
 * dimension varying fastest (lib/disclosure's layout). */
typedef struct hl_stats_table {
    size_t ndims;
    hl_stat_dim_t dims[HL_DISCLOSURE_MAX_DIMS];
    size_t nvalues[HL_DISCLOSURE_MAX_DIMS];
    char **values[HL_DISCLOSURE_MAX_DIMS];
    size_t ncells;
    uint64_t *counts; /* exact, over all helplines and months */
    uint64_t total;   /* contacts (each once, whatever its categories), referrals or status changes */
    hl_stats_unit_t unit;
    /* Sliced queries only (else 0 and NULL): the same per slice. Slice s is helpline
     * s / nmonths (in Q's order) and month s % nmonths of the range. A slice's cells are the
     * table's dimensions without month, in the same order; a table whose only dimension is
     * month has slices of one cell. */
    size_t nslices, nmonths, slice_ncells;
    size_t month_dim;       /* position of month in dims, or SIZE_MAX */
    uint64_t *slice_counts; /* nslices x slice_ncells */
    uint64_t *slice_totals; /* nslices totals (contacts, referrals or status changes) */
} hl_stats_table_t;

/* Checks a date "YYYY-MM-DD" (a real calendar day). */
bool hl_stats_date_valid(const char *s);

/* Whole calendar months (valid dates): FROM is the first day of a month, TO the last day of one. */
bool hl_stats_first_of_month(const char *from);
bool hl_stats_last_of_month(const char *to);

/* The table for Q, checked with hl_stats_plan first: HL_EINVAL (too large; *FIELD, when FIELD
 * is not NULL, as for hl_stats_plan: values found only in the data, codes of another taxonomy
 * version, can make it so), HL_EDB, HL_ENOMEM. Cost: the rows read
 * (at most the planned cells, or slices x slice cells) plus the cells. Free it with
 * hl_stats_table_free. */
int hl_stats_fetch(PGconn *conn, const hl_taxonomy_t *tax, const hl_stats_query_t *q, hl_stats_table_t **out,
                   const char **field) HL_MUSTCHECK;
void hl_stats_table_free(hl_stats_table_t *t);

/* The total of Q's unit in Q's period and helplines (contacts, referrals or status changes; the
 * dimensions count only for their unit). */
int hl_stats_total(PGconn *conn, const hl_stats_query_t *q, uint64_t *out) HL_MUSTCHECK;

/*
 * Disclosure control for T (design.md invariants 5 and 9): *OUT gets the table to publish with
 * K, *TOTAL the table's total (T->total) and *TOTAL_SUPPRESSED whether it must be withheld
 * (below K, or the table's grand total withheld where it is that total: no category dimension).
 * Unsliced: T's counts through hl_disclosure_apply with K. Sliced: every slice through
 * hl_disclosure_apply with K_BASE on its own (so the same slice is always protected the same
 * way, whatever range, helplines or K were asked for), added up with hl_disclosure_add, then
 * the sum with K when K > K_BASE (with K_BASE the sum needs nothing more). Every published
 * count is then a sum of published slice counts, and no difference of two answers reveals a
 * count a slice suppressed (tests/unit/test_stats.c). *OUT's counts are the published sums
 * (0 for suppressed cells); a table of months alone gets a second dimension of one value.
 * HL_EINVAL: too many suppressed cells (a table too fine); HL_ENOMEM.
 */
int hl_stats_protect(const hl_stats_table_t *t, uint64_t k_base, uint64_t k, hl_disclosure_table_t **out,
                     uint64_t *total, bool *total_suppressed) HL_MUSTCHECK;

#endif
