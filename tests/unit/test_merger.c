/* The statistics merger thread: folds stats_pending on its interval and once more when it stops. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "stats/merger.h"
#include "db/migrate.h"
#include "pgtest.h"
#include "contacts/rollup.h"
#include "util.h"

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

/* N contacts of one cell appended, as the writer does inside its batch. */
static void append(int n)
{
    static const char *const codes[] = {"violence.bullying"};
    hl_rollup_contact_t c = {
        .helpline_id = 3,
        .started_at = 1795000000LL * 1000000,
        .channel = HL_CONTACT_CHANNEL_PHONE,
        .contact_type = HL_CONTACT_TYPE_COUNSELLING,
        .age = 12,
        .gender = HL_CONTACT_GENDER_BOY,
        .region = -1,
        .n_codes = 1,
        .codes = {codes[0]},
    };
    hl_rollup_t *r = NULL;

    cr_assert_eq(hl_rollup_new(&r), HL_OK);
    for (int i = 0; i < n; i++)
        cr_assert_eq(hl_rollup_add(r, &c, 1), HL_OK);
    cr_assert_eq(hl_rollup_apply(r, conn), HL_OK);
    hl_rollup_free(r);
}

static long pending(void)
{
    return hl_pgtest_scalar(conn, "SELECT count(*) FROM stats_pending");
}

static long merged_total(void)
{
    return hl_pgtest_scalar(conn, "SELECT coalesce(sum(contacts), 0) FROM stats_daily WHERE level = 'total'");
}

Test(merger, folds_on_its_interval, .init = setup, .fini = teardown, .timeout = 30)
{
    hl_merger_opts_t o = {.conninfo = db.conninfo, .interval_ms = 50};
    hl_merger_t *m = NULL;
    hl_merger_stats_t st;
    int64_t t0 = hl_monotonic_us(), wall;
    int waited = 0;

    cr_assert_eq(hl_merger_start(&o, &m), HL_OK);
    append(4);
    while (pending() > 0 && waited++ < 200)
        usleep(20 * 1000);
    cr_assert_eq(pending(), 0, "folded within 4 s at a 50 ms interval");
    cr_assert_eq(merged_total(), 4);
    do { /* at least two merges, so that there was a wait between them */
        usleep(20 * 1000);
        hl_merger_get_stats(m, &st);
    } while (st.merges < 2 && waited++ < 400);
    wall = hl_monotonic_us() - t0;
    cr_assert_geq(st.merges, 2);
    cr_assert_eq(st.rows, 3, "one row per level: total, category, subcategory");
    cr_assert_eq(st.failures, 0);
    /* The time of the merges, not of the 50 ms waits between them: n merges had at least n - 1
     * waits of 50 ms, however slow the machine. */
    cr_assert_gt(st.busy_us, 0);
    cr_assert_leq(st.busy_us, (uint64_t)wall - (st.merges - 1) * 50000,
                  "busy %llu us of %lld us, %llu merges", (unsigned long long)st.busy_us, (long long)wall,
                  (unsigned long long)st.merges);
    hl_merger_stop(m);
}

Test(merger, stop_folds_what_is_left, .init = setup, .fini = teardown, .timeout = 30)
{
    hl_merger_opts_t o = {.conninfo = db.conninfo, .interval_ms = 600000};
    hl_merger_t *m = NULL;

    cr_assert_eq(hl_merger_start(&o, &m), HL_OK);
    append(2);
    cr_assert_eq(pending(), 3);
    hl_merger_stop(m);
    cr_assert_eq(pending(), 0);
    cr_assert_eq(merged_total(), 2);
}

/* PostgreSQL unreachable: every attempt fails and is counted, stop still returns at once. */
Test(merger, database_down_counts_failures, .timeout = 30)
{
    hl_merger_opts_t o = {.conninfo = "host=/nonexistent port=1 dbname=none connect_timeout=1",
                          .interval_ms = 20};
    hl_merger_t *m = NULL;
    hl_merger_stats_t st = {0};
    struct timespec t0, t1;
    int waited = 0;

    cr_assert_eq(hl_merger_start(&o, &m), HL_OK);
    do {
        usleep(20 * 1000);
        hl_merger_get_stats(m, &st);
    } while (st.failures < 3 && waited++ < 200);
    cr_assert_geq(st.failures, 3);
    cr_assert_eq(st.merges, 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    hl_merger_stop(m);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert_lt((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, 2000);
}
