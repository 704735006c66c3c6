/*
 * server/stats: the bounds every query is checked against before any work (issue 15, finding 5),
 * the per-helpline, per-month slices of queries for users without row-level access and their
 * disclosure control (finding 4, design.md invariant 9).
 *
 * The differencing proof: for synthetic monthly data, every answer a network user may get
 * (every span of whole months of a year, with and without a month dimension, each helpline and
 * the whole network, two values of k) is turned into linear equations over the true counts of
 * every helpline, month and cell. No count below k_min, single or summed over a span of months,
 * lies in their span; and no two nested answers differ by a count below k_min in any cell. The
 * same enumeration with every range protected as a table of its own (what network users got
 * before, and what supervisors get) does reveal such counts: the check can fail.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/migrate.h"
#include "pgtest.h"
#include "stats/stats.h"
#include "taxonomy.h"

#define TAX_DIR HL_TEST_SRCDIR "/taxonomy"

static hl_taxonomy_t *load_taxonomy(void)
{
    hl_taxonomy_t *tax = NULL;
    char err[HL_TAXONOMY_ERR_LEN];

    cr_assert_eq(hl_taxonomy_load(TAX_DIR, &tax, err), HL_OK, "%s", err);
    return tax;
}

static hl_stats_query_t query(const char *from, const char *to, bool sliced, size_t ndims,
                              const hl_stat_dim_t *dims)
{
    static const int64_t one = 1;
    hl_stats_query_t q = {.helplines = &one, .n_helplines = 1, .ndims = ndims, .sliced = sliced};

    snprintf(q.from, sizeof(q.from), "%s", from);
    snprintf(q.to, sizeof(q.to), "%s", to);
    memcpy(q.dims, dims, ndims * sizeof(*dims));
    return q;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- bounds --------------------------------------------------------------------------------- */

Test(stats_bounds, whole_months)
{
    cr_assert(hl_stats_first_of_month("2025-05-01"));
    cr_assert(!hl_stats_first_of_month("2025-05-02"));
    cr_assert(hl_stats_last_of_month("2025-05-31"));
    cr_assert(!hl_stats_last_of_month("2025-05-30"));
    cr_assert(hl_stats_last_of_month("2024-02-29"));
    cr_assert(!hl_stats_last_of_month("2024-02-28"));
    cr_assert(hl_stats_last_of_month("2025-02-28"));
    cr_assert(hl_stats_last_of_month("2000-02-29") && hl_stats_last_of_month("1900-02-28"));
}

/* Finding 5: 0001-01-01..9999-12-31 by month built 119,988 month names, each looked up in the
 * list before it (11 s of CPU). Now it is refused from arithmetic alone: with no database
 * connection at all, and at once. */
Test(stats_bounds, the_finding_is_refused_before_any_work)
{
    hl_taxonomy_t *tax = load_taxonomy();
    hl_stat_dim_t month[] = {HL_STAT_MONTH}, gender[] = {HL_STAT_GENDER};
    hl_stats_query_t q = query("0001-01-01", "9999-12-31", false, 1, month);
    hl_stats_table_t *t = NULL;
    hl_stats_plan_t plan;
    const char *field = NULL;
    double start = now_s();

    for (int i = 0; i < 1000; i++) {
        field = NULL;
        cr_assert_eq(hl_stats_fetch(NULL, tax, &q, &t, &field), HL_EINVAL);
        cr_assert_str_eq(field, "to");
    }
    cr_assert_lt(now_s() - start, 0.5, "1000 refusals take %.3f s", now_s() - start);
    cr_assert_null(t);
    /* Without a month dimension the range is bounded all the same. */
    q = query("0001-01-01", "9999-12-31", false, 1, gender);
    cr_assert_eq(hl_stats_plan(tax, &q, &plan, &field), HL_EINVAL);
    cr_assert_str_eq(field, "to");
    hl_taxonomy_free(tax);
}

Test(stats_bounds, sizes_and_fields)
{
    hl_taxonomy_t *tax = load_taxonomy();
    hl_stat_dim_t month[] = {HL_STAT_MONTH},
                  fine[] = {HL_STAT_SUBCATEGORY, HL_STAT_MONTH, HL_STAT_AGE_BAND, HL_STAT_CHANNEL};
    hl_stat_dim_t mag[] = {HL_STAT_MONTH, HL_STAT_AGE_BAND, HL_STAT_GENDER};
    hl_stat_dim_t sub_age[] = {HL_STAT_SUBCATEGORY, HL_STAT_AGE_BAND, HL_STAT_GENDER};
    int64_t many[256];
    hl_stats_plan_t p;
    const char *field = NULL;

    /* 1200 months is the most, 1201 one too many. */
    hl_stats_query_t q = query("2001-01-01", "2100-12-31", false, 1, month);
    cr_assert_eq(hl_stats_plan(tax, &q, &p, &field), HL_OK);
    cr_assert_eq(p.months, HL_STATS_MAX_MONTHS);
    cr_assert_eq(p.cells, HL_STATS_MAX_MONTHS);
    q = query("2000-12-31", "2100-12-31", false, 1, month);
    cr_assert_eq(hl_stats_plan(tax, &q, &p, &field), HL_EINVAL);
    cr_assert_str_eq(field, "to");
    /* Partial months count as months touched. */
    q = query("2026-01-31", "2026-02-01", false, 1, month);
    cr_assert_eq(hl_stats_plan(tax, &q, &p, &field), HL_OK);
    cr_assert_eq(p.months, 2);

    /* Cells: the product of the dimension sizes (87 x 12 x 7 x 9 is over 65,536, 11 months not). */
    q = query("2026-01-01", "2026-12-31", false, 4, fine);
    cr_assert_eq(hl_stats_plan(tax, &q, &p, &field), HL_EINVAL);
    cr_assert_str_eq(field, "by");
    q = query("2026-01-01", "2026-11-30", false, 4, fine);
    cr_assert_eq(hl_stats_plan(tax, &q, &p, &field), HL_OK);
    cr_assert_eq(p.cells, hl_taxonomy_category_count(tax) * 11 * 7 * 9);
    q = query("2001-01-01", "2100-12-31", false, 3, mag);
    cr_assert_eq(hl_stats_plan(tax, &q, &p, &field), HL_OK);
    cr_assert_leq(p.cells, HL_DISCLOSURE_MAX_CELLS);
    cr_assert_eq(p.slices, 1);

    /* Sliced: helplines x months x slice cells. */
    q.sliced = true;
    cr_assert_eq(hl_stats_plan(tax, &q, &p, &field), HL_OK);
    cr_assert_eq(p.slices, HL_STATS_MAX_MONTHS);
    cr_assert_eq(p.slice_cells, p.cells / HL_STATS_MAX_MONTHS);
    cr_assert_leq(p.slices * p.slice_cells, HL_STATS_MAX_SLICE_WORK);
    for (int i = 0; i < 256; i++)
        many[i] = i + 1;
    q.helplines = many;
    q.n_helplines = 256;
    cr_assert_eq(hl_stats_plan(tax, &q, &p, &field), HL_EINVAL);
    cr_assert_str_eq(field, "to");
    q = query("2026-01-01", "2026-01-31", true, 3, sub_age);
    q.helplines = many;
    q.n_helplines = 256;
    cr_assert_eq(hl_stats_plan(tax, &q, &p, &field), HL_EINVAL);
    cr_assert_str_eq(field, "by", "one month: the dimensions are to blame");
    q.n_helplines = 1;
    cr_assert_eq(hl_stats_plan(tax, &q, &p, &field), HL_OK);
    hl_taxonomy_free(tax);
}

/* Issue 16: referral_to and referral_state count referrals, case_status counts case status
 * changes; month goes with either; no table mixes units, and counselling_only is for contacts. */
Test(stats_bounds, units_of_casework_dimensions)
{
    hl_taxonomy_t *tax = load_taxonomy();
    hl_stat_dim_t ref[] = {HL_STAT_MONTH, HL_STAT_REFERRAL_TO, HL_STAT_REFERRAL_STATE};
    hl_stat_dim_t status[] = {HL_STAT_CASE_STATUS, HL_STAT_MONTH};
    hl_stat_dim_t month[] = {HL_STAT_MONTH};
    static const hl_stat_dim_t mixed[][2] = {{HL_STAT_REFERRAL_TO, HL_STAT_GENDER},
                                             {HL_STAT_CATEGORY, HL_STAT_REFERRAL_STATE},
                                             {HL_STAT_CASE_STATUS, HL_STAT_REFERRAL_STATE},
                                             {HL_STAT_CHANNEL, HL_STAT_CASE_STATUS}};
    hl_stats_unit_t unit;
    hl_stats_plan_t p;
    const char *field = NULL;

    cr_assert(hl_stats_unit_of(ref, 3, &unit));
    cr_assert_eq(unit, HL_STATS_REFERRALS);
    cr_assert(hl_stats_unit_of(status, 2, &unit));
    cr_assert_eq(unit, HL_STATS_STATUS_CHANGES);
    cr_assert(hl_stats_unit_of(month, 1, &unit));
    cr_assert_eq(unit, HL_STATS_CONTACTS, "month alone counts contacts, as before");
    cr_assert_str_eq(hl_stats_unit_name(HL_STATS_REFERRALS), "referrals");
    cr_assert_str_eq(hl_stats_unit_name(HL_STATS_STATUS_CHANGES), "status_changes");
    cr_assert_str_eq(hl_stat_dim_name(HL_STAT_REFERRAL_STATE), "referral_state");
    for (size_t i = 0; i < HL_ARRAY_LEN(mixed); i++) {
        hl_stats_query_t q = query("2026-07-01", "2026-09-30", false, 2, mixed[i]);

        cr_assert(!hl_stats_unit_of(mixed[i], 2, &unit), "combination %zu", i);
        field = NULL;
        cr_assert_eq(hl_stats_plan(tax, &q, &p, &field), HL_EINVAL, "combination %zu", i);
        cr_assert_str_eq(field, "by");
    }
    /* the vocabularies: six referral.* actions, four states, three statuses */
    hl_stats_query_t q = query("2026-07-01", "2026-09-30", true, 3, ref);
    cr_assert_eq(hl_stats_plan(tax, &q, &p, &field), HL_OK);
    cr_assert_eq(p.unit, HL_STATS_REFERRALS);
    cr_assert_eq(p.cells, 3 * 6 * 4);
    cr_assert_eq(p.slice_cells, 6 * 4);
    q = query("2026-07-01", "2026-09-30", false, 2, status);
    cr_assert_eq(hl_stats_plan(tax, &q, &p, &field), HL_OK);
    cr_assert_eq(p.unit, HL_STATS_STATUS_CHANGES);
    cr_assert_eq(p.cells, 3 * 3);
    q.counselling_only = true;
    cr_assert_eq(hl_stats_plan(tax, &q, &p, &field), HL_EINVAL);
    cr_assert_str_eq(field, "by");
    hl_taxonomy_free(tax);
}

/* ---- against the rollup ------------------------------------------------------------------- */

static hl_pgtest_t db;
static PGconn *conn;

static void setup(void)
{
    int applied;

    hl_pgtest_create(&db);
    conn = hl_pgtest_connect(&db);
    cr_assert_eq(hl_migrate_run(conn, HL_TEST_SRCDIR "/migrations", &applied), HL_OK);
}

static void teardown(void)
{
    PQfinish(conn);
    hl_pgtest_drop(&db);
}

static void exec(const char *sql)
{
    PGresult *res = PQexec(conn, sql);

    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(conn));
    PQclear(res);
}

/*
 * A maximal table: 1200 months x age band x gender (33,600 cells), ten contacts in every cell
 * of helpline 1 but one in the cells of every hundredth month, for a supervisor (exact) and a
 * network user (sliced). Both finish well within the request deadline, and every count lands
 * in its cell and slice.
 */
Test(stats_db, maximal_tables_complete_and_place_every_count, .init = setup, .fini = teardown, .timeout = 120)
{
    hl_taxonomy_t *tax = load_taxonomy();
    hl_stat_dim_t mag[] = {HL_STAT_MONTH, HL_STAT_AGE_BAND, HL_STAT_GENDER};
    hl_stats_table_t *t = NULL;
    hl_disclosure_table_t *dt = NULL;
    uint64_t total;
    bool suppressed;
    double start;

    exec("INSERT INTO stats_monthly SELECT 1, (date '2001-01-01' + m * interval '1 month')::date, 'total', "
         "'', '',"
         " a, g, 'phone', 'counselling', 'urban', CASE WHEN m % 100 = 0 THEN 1 ELSE 10 END"
         " FROM generate_series(0, 1199) m, "
         "unnest(ARRAY['0-6','7-9','10-12','13-15','16-17','18-25','unknown']) a,"
         " unnest(ARRAY['girl','boy','non_binary','unknown']) g");
    for (int sliced = 0; sliced < 2; sliced++) {
        hl_stats_query_t q = query("2001-01-01", "2100-12-31", sliced, 3, mag);
        const char *field = NULL;

        start = now_s();
        cr_assert_eq(hl_stats_fetch(conn, tax, &q, &t, &field), HL_OK);
        cr_assert_eq(hl_stats_protect(t, 5, 5, &dt, &total, &suppressed), HL_OK);
        cr_assert_lt(now_s() - start, 2.0, "sliced %d: %.3f s", sliced, now_s() - start);
        cr_assert_eq(total, 1188 * 28 * 10 + 12 * 28);
        cr_assert_eq(t->ncells, 1200 * 28);
        for (size_t c = 0; c < t->ncells; c++) {
            cr_assert_eq(t->counts[c], c / 28 % 100 == 0 ? 1 : 10, "cell %zu", c);
            cr_assert_eq(hl_disclosure_suppressed(dt, c), c / 28 % 100 == 0, "cell %zu", c);
        }
        if (sliced) {
            cr_assert_eq(t->nslices, 1200);
            cr_assert_eq(t->slice_ncells, 28);
            for (size_t i = 0; i < t->nslices * t->slice_ncells; i++)
                cr_assert_eq(t->slice_counts[i], i / 28 % 100 == 0 ? 1 : 10);
            for (size_t s = 0; s < t->nslices; s++)
                cr_assert_eq(t->slice_totals[s], s % 100 == 0 ? 28 : 280);
        }
        cr_assert(!suppressed);
        hl_disclosure_table_free(dt);
        hl_stats_table_free(t);
        t = NULL;
    }
    hl_taxonomy_free(tax);
}

/* Slices are placed by helpline (in the query's order) and month; values of another taxonomy
 * version get cells of their own. */
Test(stats_db, slices_by_helpline_and_month, .init = setup, .fini = teardown, .timeout = 60)
{
    hl_taxonomy_t *tax = load_taxonomy();
    hl_stat_dim_t cat[] = {HL_STAT_CATEGORY};
    int64_t helplines[] = {4, 9};
    hl_stats_query_t q = query("2026-01-01", "2026-03-31", true, 1, cat);
    hl_stats_table_t *t = NULL;
    const char *field = NULL;
    size_t violence = SIZE_MAX, retired = SIZE_MAX;

    exec("INSERT INTO stats_monthly VALUES (9, '2026-02-01', 'category', 'violence', '', '', '', '', '', '', "
         "7),"
         " (4, '2026-03-01', 'category', 'violence', '', '', '', '', '', '', 3),"
         " (9, '2026-03-01', 'category', 'retired_code', '', '', '', '', '', '', 11),"
         " (5, '2026-03-01', 'category', 'violence', '', '', '', '', '', '', 100)");
    exec("INSERT INTO stats_monthly VALUES (9, '2026-02-01', 'total', '', '', '', '', '', '', '', 7),"
         " (4, '2026-03-01', 'total', '', '', '', '', '', '', '', 3),"
         " (9, '2026-03-01', 'total', '', '', '', '', '', '', '', 11)");
    q.helplines = helplines;
    q.n_helplines = 2;
    cr_assert_eq(hl_stats_fetch(conn, tax, &q, &t, &field), HL_OK);
    cr_assert_eq(t->nslices, 6);
    cr_assert_eq(t->nmonths, 3);
    for (size_t i = 0; i < t->nvalues[0]; i++) {
        if (strcmp(t->values[0][i], "violence") == 0)
            violence = i;
        if (strcmp(t->values[0][i], "retired_code") == 0)
            retired = i;
    }
    cr_assert_neq(violence, SIZE_MAX);
    cr_assert_neq(retired, SIZE_MAX, "a code of another taxonomy version gets a cell");
    cr_assert_eq(t->counts[violence], 10, "helpline 5 is not asked for");
    cr_assert_eq(t->slice_counts[2 * t->slice_ncells + violence], 3, "helpline 4, March");
    cr_assert_eq(t->slice_counts[4 * t->slice_ncells + violence], 7, "helpline 9, February");
    cr_assert_eq(t->slice_counts[5 * t->slice_ncells + retired], 11, "helpline 9, March");
    cr_assert_eq(t->slice_totals[2] + t->slice_totals[4] + t->slice_totals[5], 21);
    cr_assert_eq(t->total, 21);
    hl_stats_table_free(t);
    hl_taxonomy_free(tax);
}

/* Index of VALUE in dimension D of T, or SIZE_MAX. */
static size_t value_index(const hl_stats_table_t *t, size_t d, const char *value)
{
    for (size_t i = 0; i < t->nvalues[d]; i++)
        if (strcmp(t->values[d][i], value) == 0)
            return i;
    return SIZE_MAX;
}

/* week: the Monday of each ISO week the range touches; every day read from stats_daily, since
 * a whole month's row in stats_monthly has no days to place in weeks. */
Test(stats_db, weeks_from_days_even_over_whole_months, .init = setup, .fini = teardown, .timeout = 60)
{
    hl_taxonomy_t *tax = load_taxonomy();
    hl_stat_dim_t week[] = {HL_STAT_WEEK};
    hl_stats_query_t q = query("2026-11-29", "2027-01-03", false, 1, week);
    hl_stats_table_t *t = NULL;
    const char *field = NULL;
    static const char *const mondays[] = {"2026-11-23", "2026-11-30", "2026-12-07",
                                          "2026-12-14", "2026-12-21", "2026-12-28"};
    static const uint64_t want[] = {2, 7, 5, 0, 0, 1};

    /* Sunday 29 Nov, Monday 30 Nov, Sunday 6 Dec, Monday 7 Dec, Sunday 3 Jan; December whole. */
    exec("INSERT INTO stats_daily VALUES (1, '2026-11-29', 'total', '', '', '', '', '', '', '', 2),"
         " (1, '2026-11-30', 'total', '', '', '', '', '', '', '', 3),"
         " (1, '2026-12-06', 'total', '', '', '', '', '', '', '', 4),"
         " (1, '2026-12-07', 'total', '', '', '', '', '', '', '', 5),"
         " (1, '2027-01-03', 'total', '', '', '', '', '', '', '', 1)");
    exec("INSERT INTO stats_monthly VALUES (1, '2026-11-01', 'total', '', '', '', '', '', '', '', 5),"
         " (1, '2026-12-01', 'total', '', '', '', '', '', '', '', 9),"
         " (1, '2027-01-01', 'total', '', '', '', '', '', '', '', 1)");
    cr_assert_eq(hl_stats_fetch(conn, tax, &q, &t, &field), HL_OK);
    cr_assert_eq(t->nvalues[0], 6, "six ISO weeks touched");
    for (size_t i = 0; i < 6; i++) {
        size_t at = value_index(t, 0, mondays[i]);
        cr_assert_neq(at, SIZE_MAX, "week of %s", mondays[i]);
        cr_expect_eq(t->counts[at], want[i], "week of %s: %llu", mondays[i],
                     (unsigned long long)t->counts[at]);
    }
    cr_expect_eq(t->total, 15);
    hl_stats_table_free(t);

    /* Network users' slices are calendar months: no weeks for them. */
    q.sliced = true;
    cr_expect_eq(hl_stats_fetch(conn, tax, &q, &t, &field), HL_EINVAL);
    cr_expect_str_eq(field, "by");
    hl_taxonomy_free(tax);
}

/*
 * Referral and case status cells (levels 'referral' and 'case_status', migration 0010) beside
 * contact cells of the same helpline and months: each table reads its own level, its total is
 * its own unit's, slices are by helpline and month as for contacts, and small cells are
 * suppressed with their complements.
 */
Test(stats_db, referrals_and_status_changes_are_tables_of_their_own, .init = setup, .fini = teardown,
     .timeout = 60)
{
    hl_taxonomy_t *tax = load_taxonomy();
    hl_stat_dim_t ref[] = {HL_STAT_REFERRAL_TO, HL_STAT_REFERRAL_STATE}, status[] = {HL_STAT_CASE_STATUS};
    hl_stat_dim_t gender[] = {HL_STAT_GENDER};
    hl_stats_table_t *t = NULL;
    hl_disclosure_table_t *dt = NULL;
    uint64_t total = 0;
    bool suppressed = true;
    const char *field = NULL;

    exec("INSERT INTO stats_monthly VALUES"
         " (1, '2026-07-01', 'referral', 'referral.law_enforcement', 'made', '', '', '', '', '', 9),"
         " (1, '2026-08-01', 'referral', 'referral.law_enforcement', 'made', '', '', '', '', '', 8),"
         " (1, '2026-08-01', 'referral', 'referral.law_enforcement', 'accepted', '', '', '', '', '', 2),"
         " (1, '2026-07-01', 'referral', 'referral.healthcare', 'completed', '', '', '', '', '', 12),"
         " (2, '2026-07-01', 'referral', 'referral.healthcare', 'completed', '', '', '', '', '', 50),"
         " (1, '2026-07-01', 'case_status', 'open', '', '', '', '', '', '', 20),"
         " (1, '2026-08-01', 'case_status', 'closed', '', '', '', '', '', '', 7),"
         " (1, '2026-07-01', 'total', '', '', '', 'girl', 'phone', 'counselling', 'urban', 100)");
    /* a state change not merged yet: one law enforcement referral of July accepted */
    exec("INSERT INTO stats_pending VALUES"
         " (1, '2026-07-14', 'referral', 'referral.law_enforcement', 'made', '', '', '', '', '', -1),"
         " (1, '2026-07-14', 'referral', 'referral.law_enforcement', 'accepted', '', '', '', '', '', 1)");

    /* supervisors: exact, over the quarter */
    hl_stats_query_t q = query("2026-07-01", "2026-09-30", false, 2, ref);
    cr_assert_eq(hl_stats_fetch(conn, tax, &q, &t, &field), HL_OK);
    cr_assert_eq(t->unit, HL_STATS_REFERRALS);
    cr_assert_eq(t->total, 31, "referrals of helpline 1, not its 100 contacts");
    size_t le = value_index(t, 0, "referral.law_enforcement"), hc = value_index(t, 0, "referral.healthcare");
    size_t made = value_index(t, 1, "made"), accepted = value_index(t, 1, "accepted");
    size_t completed = value_index(t, 1, "completed");
    cr_assert_eq(t->nvalues[0], 6);
    cr_assert_eq(t->nvalues[1], 4);
    cr_assert_eq(t->counts[le * 4 + made], 16);
    cr_assert_eq(t->counts[le * 4 + accepted], 3);
    cr_assert_eq(t->counts[hc * 4 + completed], 12);
    cr_assert_eq(hl_stats_protect(t, 5, 5, &dt, &total, &suppressed), HL_OK);
    cr_assert_eq(total, 31);
    cr_assert(!suppressed);
    cr_assert(hl_disclosure_suppressed(dt, le * 4 + accepted), "3 is below k");
    cr_assert(hl_disclosure_suppressed(dt, le * 4 + made), "its row's complement");
    cr_assert(!hl_disclosure_suppressed(dt, hc * 4 + completed));
    hl_disclosure_table_free(dt);
    hl_stats_table_free(t);

    /* network users: per month, July (9 - 1 made, 1 accepted) and August (8 made, 2 accepted) */
    q = query("2026-07-01", "2026-09-30", true, 2, ref);
    cr_assert_eq(hl_stats_fetch(conn, tax, &q, &t, &field), HL_OK);
    cr_assert_eq(t->nslices, 3);
    cr_assert_eq(t->slice_counts[0 * t->slice_ncells + le * 4 + made], 8);
    cr_assert_eq(t->slice_counts[0 * t->slice_ncells + le * 4 + accepted], 1);
    cr_assert_eq(t->slice_counts[1 * t->slice_ncells + le * 4 + accepted], 2);
    cr_assert_eq(t->slice_totals[0], 21);
    cr_assert_eq(t->slice_totals[1], 10);
    cr_assert_eq(hl_stats_protect(t, 5, 5, &dt, &total, &suppressed), HL_OK);
    cr_assert(hl_disclosure_suppressed(dt, le * 4 + accepted));
    cr_assert(hl_disclosure_suppressed(dt, le * 4 + made), "suppressed in both months");
    hl_disclosure_table_free(dt);
    hl_stats_table_free(t);

    /* case status changes */
    q = query("2026-07-01", "2026-09-30", false, 1, status);
    cr_assert_eq(hl_stats_fetch(conn, tax, &q, &t, &field), HL_OK);
    cr_assert_eq(t->unit, HL_STATS_STATUS_CHANGES);
    cr_assert_eq(t->total, 27);
    cr_assert_eq(t->nvalues[0], 3);
    cr_assert_eq(t->counts[value_index(t, 0, "open")], 20);
    cr_assert_eq(t->counts[value_index(t, 0, "closed")], 7);
    cr_assert_eq(t->counts[value_index(t, 0, "in_progress")], 0);
    hl_stats_table_free(t);

    /* and the contacts are as they were */
    q = query("2026-07-01", "2026-09-30", false, 1, gender);
    cr_assert_eq(hl_stats_fetch(conn, tax, &q, &t, &field), HL_OK);
    cr_assert_eq(t->unit, HL_STATS_CONTACTS);
    cr_assert_eq(t->total, 100);
    cr_assert_eq(t->counts[value_index(t, 0, "girl")], 100);
    hl_stats_table_free(t);
    hl_taxonomy_free(tax);
}

/* ---- differencing ----------------------------------------------------------------------- */

#define NA     3 /* values of the first dimension (age band in the test's tables) */
#define NB     2 /* values of the second (gender) */
#define NC     (NA * NB)
#define MAXH   2
#define MAXM   12
#define MAXU   (MAXH * MAXM * NC)
#define K_BASE 5
#define P31    2147483647ULL /* a prime of its own, not the library's */

/* The true counts: x[h][m][c]. */
typedef struct {
    size_t nh, nm;
    uint64_t x[MAXH][MAXM][NC];
} data_t;

/* What the user knows: the row space of the equations, rows in echelon form by pivot. */
typedef struct {
    size_t n;
    uint64_t *row[MAXU]; /* row[col]: the row whose pivot is col, or NULL */
    size_t equations;
} knowledge_t;

static uint64_t mulmod(uint64_t a, uint64_t b)
{
    return a * b % P31;
}

static uint64_t invmod(uint64_t a)
{
    uint64_t r = 1, e = P31 - 2;

    for (; e; e >>= 1, a = mulmod(a, a))
        if (e & 1)
            r = mulmod(r, a);
    return r;
}

static void reduce(const knowledge_t *kn, uint64_t *v)
{
    for (size_t c = 0; c < kn->n; c++) {
        if (v[c] == 0 || kn->row[c] == NULL)
            continue;
        uint64_t f = v[c];
        for (size_t j = c; j < kn->n; j++)
            v[j] = (v[j] + P31 - mulmod(f, kn->row[c][j])) % P31;
    }
}

static void learn(knowledge_t *kn, const uint64_t *eq)
{
    uint64_t v[MAXU];

    memcpy(v, eq, kn->n * sizeof(*v));
    reduce(kn, v);
    kn->equations++;
    for (size_t c = 0; c < kn->n; c++) {
        if (v[c] == 0)
            continue;
        uint64_t inv = invmod(v[c]);
        kn->row[c] = malloc(kn->n * sizeof(uint64_t));
        cr_assert_not_null(kn->row[c]);
        for (size_t j = 0; j < kn->n; j++)
            kn->row[c][j] = mulmod(v[j], inv);
        return;
    }
}

static bool derivable(const knowledge_t *kn, const uint64_t *q)
{
    uint64_t v[MAXU];

    memcpy(v, q, kn->n * sizeof(*v));
    reduce(kn, v);
    for (size_t c = 0; c < kn->n; c++)
        if (v[c] != 0)
            return false;
    return true;
}

static void knowledge_free(knowledge_t *kn)
{
    for (size_t c = 0; c < MAXU; c++)
        free(kn->row[c]);
}

static size_t unknown(const data_t *dd, size_t h, size_t m, size_t c)
{
    return (h * dd->nm + m) * NC + c;
}

/* One answer: the helplines in HMASK, months A..B, with or without a month dimension. */
typedef struct {
    unsigned hmask;
    size_t a, b;
    bool by_month;
    uint64_t k;
} ask_t;

/* The table the daemon builds for ASK: sliced (network users) or one exact table. */
static hl_stats_table_t *answer_table(const data_t *dd, const ask_t *ask, bool sliced)
{
    hl_stats_table_t *t = calloc(1, sizeof(*t));
    size_t nm = ask->b - ask->a + 1, nh = 0, hs[MAXH];

    cr_assert_not_null(t);
    for (size_t h = 0; h < dd->nh; h++)
        if (ask->hmask & (1u << h))
            hs[nh++] = h;
    t->month_dim = ask->by_month ? 0 : SIZE_MAX;
    t->ndims = ask->by_month ? 3 : 2;
    size_t base = ask->by_month ? 1 : 0;
    if (ask->by_month) {
        t->dims[0] = HL_STAT_MONTH;
        t->nvalues[0] = nm;
    }
    t->dims[base] = HL_STAT_AGE_BAND; /* no category: the contact count is the grand total */
    t->nvalues[base] = NA;
    t->dims[base + 1] = HL_STAT_GENDER;
    t->nvalues[base + 1] = NB;
    t->ncells = (ask->by_month ? nm : 1) * NC;
    t->counts = calloc(t->ncells, sizeof(uint64_t));
    cr_assert_not_null(t->counts);
    if (sliced) {
        t->nslices = nh * nm;
        t->nmonths = nm;
        t->slice_ncells = NC;
        t->slice_counts = calloc(t->nslices * NC, sizeof(uint64_t));
        t->slice_totals = calloc(t->nslices, sizeof(uint64_t));
        cr_assert(t->slice_counts && t->slice_totals);
    }
    for (size_t i = 0; i < nh; i++) {
        for (size_t m = 0; m < nm; m++) {
            for (size_t c = 0; c < NC; c++) {
                uint64_t x = dd->x[hs[i]][ask->a + m][c];
                t->counts[(ask->by_month ? m * NC : 0) + c] += x;
                t->total += x;
                if (sliced) {
                    t->slice_counts[(i * nm + m) * NC + c] = x;
                    t->slice_totals[i * nm + m] += x;
                }
            }
        }
    }
    return t;
}

static void answer_free(hl_stats_table_t *t)
{
    free(t->slice_totals);
    free(t->slice_counts);
    free(t->counts);
    free(t);
}

/* The unknowns cell CELL of ASK's table adds up (EQ gets 0/1 entries). */
static void cell_set(const data_t *dd, const ask_t *ask, const hl_disclosure_table_t *dt, size_t cell,
                     uint64_t *eq)
{
    size_t co[HL_DISCLOSURE_MAX_DIMS];

    hl_disclosure_coords(dt, cell, co);
    for (size_t h = 0; h < dd->nh; h++) {
        if (!(ask->hmask & (1u << h)))
            continue;
        for (size_t m = ask->a; m <= ask->b; m++) {
            if (ask->by_month && m != ask->a + co[0])
                continue;
            size_t c = ask->by_month ? co[1] * NB + co[2] : co[0] * NB + co[1];
            eq[unknown(dd, h, m, c)] = 1;
        }
    }
}

/* Learns everything ASK's answer publishes: cells, line totals, the grand total. */
static void learn_answer(knowledge_t *kn, const data_t *dd, const ask_t *ask, const hl_disclosure_table_t *dt,
                         bool total_published)
{
    uint64_t eq[MAXU];

    for (size_t c = 0; c < dt->ncells; c++) {
        if (hl_disclosure_suppressed(dt, c))
            continue;
        memset(eq, 0, sizeof(eq));
        cell_set(dd, ask, dt, c, eq);
        learn(kn, eq);
    }
    for (size_t d = 0; d < dt->ndims; d++) {
        for (size_t l = 0; l < dt->nlines[d]; l++) {
            if (dt->line_withheld[d][l])
                continue;
            memset(eq, 0, sizeof(eq));
            for (size_t j = 0; j < dt->dims[d]; j++)
                cell_set(dd, ask, dt, hl_disclosure_line_cell(dt, d, l, j), eq);
            learn(kn, eq);
        }
    }
    if (!dt->total_withheld || total_published) {
        memset(eq, 0, sizeof(eq));
        for (size_t c = 0; c < dt->ncells; c++)
            cell_set(dd, ask, dt, c, eq);
        learn(kn, eq);
    }
}

/* Published counts of the answers without a month dimension, for the pairwise check:
 * pub[hmask][a][b][c], UINT64_MAX when suppressed. */
typedef uint64_t published_t[1u << MAXH][MAXM][MAXM][NC];

static void check_problem(const char *what, size_t *problems, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void check_problem(const char *what, size_t *problems, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (*problems < 3)
        cr_log_info("%s: %s", what, msg);
    (*problems)++;
}

/*
 * Every answer a network user may get for DD (sliced: the daemon's rule; else every range
 * protected on its own), then the checks. Returns the number of counts below K_BASE that the
 * answers reveal (single, summed over a span of months, per helpline or network) plus the
 * nested pairs whose published cells differ by a count below K_BASE.
 */
static size_t differencing_problems(const data_t *dd, bool sliced, const char *what)
{
    static published_t pub;
    knowledge_t kn = {.n = dd->nh * dd->nm * NC};
    uint64_t ks[] = {K_BASE, K_BASE + 3}, q[MAXU];
    size_t problems = 0, answers = 0;
    unsigned masks = 1u << dd->nh;

    memset(pub, 0xff, sizeof(pub));
    for (unsigned hmask = 1; hmask < masks; hmask++) {
        for (size_t a = 0; a < dd->nm; a++) {
            for (size_t b = a; b < dd->nm; b++) {
                for (int bm = 0; bm < 2; bm++) {
                    for (size_t ki = 0; ki < 2; ki++) {
                        ask_t ask = {hmask, a, b, bm == 1, ks[ki]};
                        hl_stats_table_t *t = answer_table(dd, &ask, sliced);
                        hl_disclosure_table_t *dt = NULL;
                        uint64_t total;
                        bool tsup;

                        cr_assert_eq(hl_stats_protect(t, K_BASE, ask.k, &dt, &total, &tsup), HL_OK);
                        cr_assert_eq(total, t->total);
                        /* Without a category dimension the contact count is the grand total. */
                        learn_answer(&kn, dd, &ask, dt, !tsup);
                        for (size_t c = 0; c < dt->ncells; c++)
                            if (!hl_disclosure_suppressed(dt, c) && dt->counts[c] > 0)
                                cr_assert_geq(dt->counts[c], ask.k, "%s: a published count below k", what);
                        if (!bm && ki == 0)
                            for (size_t c = 0; c < NC; c++)
                                pub[hmask][a][b][c] =
                                    hl_disclosure_suppressed(dt, c) ? UINT64_MAX : dt->counts[c];
                        hl_disclosure_table_free(dt);
                        answer_free(t);
                        answers++;
                    }
                }
            }
        }
    }
    /* Single counts and sums over spans of months, per helpline set and cell. */
    for (unsigned hmask = 1; hmask < masks; hmask++) {
        for (size_t a = 0; a < dd->nm; a++) {
            for (size_t b = a; b < dd->nm; b++) {
                for (size_t c = 0; c < NC; c++) {
                    uint64_t sum = 0;
                    memset(q, 0, sizeof(q));
                    for (size_t h = 0; h < dd->nh; h++)
                        for (size_t m = a; m <= b && (hmask & (1u << h)); m++) {
                            q[unknown(dd, h, m, c)] = 1;
                            sum += dd->x[h][m][c];
                        }
                    if (sum > 0 && sum < K_BASE && derivable(&kn, q))
                        check_problem(what, &problems,
                                      "helplines %#x, months %zu..%zu, cell %zu: %" PRIu64 " is derivable",
                                      hmask, a, b, c, sum);
                }
            }
        }
    }
    /* Nested ranges: published cells differ by 0 or at least k. */
    for (unsigned hmask = 1; hmask < masks; hmask++)
        for (size_t a = 0; a < dd->nm; a++)
            for (size_t b = a; b < dd->nm; b++)
                for (size_t a2 = a; a2 < dd->nm; a2++)
                    for (size_t b2 = a2; b2 <= b; b2++)
                        for (size_t c = 0; c < NC; c++) {
                            uint64_t x = pub[hmask][a][b][c], y = pub[hmask][a2][b2][c];
                            int64_t diff = (int64_t)(x - y);
                            if (x != UINT64_MAX && y != UINT64_MAX && diff != 0 && llabs(diff) < K_BASE)
                                check_problem(what, &problems,
                                              "helplines %#x, cell %zu: months %zu..%zu (%" PRIu64
                                              ") minus %zu..%zu (%" PRIu64 ")",
                                              hmask, c, a, b, x, a2, b2, y);
                        }
    cr_log_info("%s: %zu answers, %zu equations, %zu problems", what, answers, kn.equations, problems);
    knowledge_free(&kn);
    return problems;
}

static uint64_t rng = 0x3c6ef372fe94f82bULL;

static uint64_t rnd(uint64_t n)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (rng * 2685821657736338717ULL >> 33) % n;
}

/* Skewed counts: zeros, many small ones, some large. */
static void random_data(data_t *dd, size_t nh, size_t nm)
{
    memset(dd, 0, sizeof(*dd));
    dd->nh = nh;
    dd->nm = nm;
    for (size_t h = 0; h < nh; h++)
        for (size_t m = 0; m < nm; m++)
            for (size_t c = 0; c < NC; c++) {
                uint64_t r = rnd(10);
                dd->x[h][m][c] = r < 3 ? 0 : r < 7 ? 1 + rnd(K_BASE + 1) : 1 + rnd(40);
            }
}

/* Finding 4 by months: 20 girls and 5 boys in May, one boy in June. */
static void finding_data(data_t *dd)
{
    memset(dd, 0, sizeof(*dd));
    dd->nh = 1;
    dd->nm = MAXM;
    dd->x[0][4][0] = 20; /* age band 0, girl */
    dd->x[0][4][1] = 5;  /* age band 0, boy */
    dd->x[0][5][1] = 1;
}

Test(stats_differencing, the_finding_by_months)
{
    data_t dd;

    finding_data(&dd);
    cr_assert_gt(differencing_problems(&dd, false, "finding, one table per range"), 0,
                 "protecting each range on its own reveals the boy of June");
    cr_assert_eq(differencing_problems(&dd, true, "finding, sliced"), 0);
}

Test(stats_differencing, every_span_of_a_year, .timeout = 120)
{
    data_t dd;
    size_t unsliced = 0;

    for (int i = 0; i < 10; i++) {
        char what[64];
        random_data(&dd, 1, MAXM);
        snprintf(what, sizeof(what), "year %d, sliced", i);
        cr_assert_eq(differencing_problems(&dd, true, what), 0, "%s", what);
        snprintf(what, sizeof(what), "year %d, one table per range", i);
        unsliced += differencing_problems(&dd, false, what);
    }
    cr_assert_gt(unsliced, 0, "the check finds what one table per range reveals");
}

Test(stats_differencing, helplines_of_a_network, .timeout = 120)
{
    data_t dd;
    size_t unsliced = 0;

    for (int i = 0; i < 10; i++) {
        char what[64];
        random_data(&dd, 2, 6);
        snprintf(what, sizeof(what), "network %d, sliced", i);
        cr_assert_eq(differencing_problems(&dd, true, what), 0, "%s", what);
        snprintf(what, sizeof(what), "network %d, one table per range", i);
        unsliced += differencing_problems(&dd, false, what);
    }
    cr_assert_gt(unsliced, 0, "the check finds what one table per range reveals");
}
