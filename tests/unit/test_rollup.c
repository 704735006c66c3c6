#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/migrate.h"
#include "pgtest.h"
#include "contacts/rollup.h"
#include "stats/stats.h"
#include "contacts/writer.h"

static hl_rollup_contact_t contact(const char *const *codes, size_t n)
{
    hl_rollup_contact_t c = {
        .helpline_id = 7,
        .started_at = 1795000000LL * 1000000, /* 2026-11-18T... UTC */
        .channel = HL_CONTACT_CHANNEL_CHAT,
        .contact_type = HL_CONTACT_TYPE_COUNSELLING,
        .age = 14,
        .gender = HL_CONTACT_GENDER_GIRL,
        .region = -1,
    };
    for (size_t i = 0; i < n; i++)
        c.codes[c.n_codes++] = codes[i];
    return c;
}

static json_t *rows_of(hl_rollup_t *r)
{
    char *text = NULL;
    json_t *j;

    cr_assert_eq(hl_rollup_json(r, &text), HL_OK);
    j = json_loads(text, 0, NULL);
    free(text);
    cr_assert_not_null(j);
    return j;
}

static long count_rows(json_t *rows, const char *level, const char *category, const char *sub)
{
    size_t i;
    json_t *v;
    long sum = 0;

    json_array_foreach(rows, i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "l")), level) == 0 &&
            (category == NULL || strcmp(json_string_value(json_object_get(v, "c")), category) == 0) &&
            (sub == NULL || strcmp(json_string_value(json_object_get(v, "sc")), sub) == 0))
            sum += (long)json_integer_value(json_object_get(v, "n"));
    }
    return sum;
}

Test(rollup, one_contact_counts_once_per_level_and_category)
{
    static const char *const codes[] = {"violence.bullying", "violence.cyberbullying", "mental_health"};
    hl_rollup_contact_t c = contact(codes, 3);
    hl_rollup_t *r = NULL;
    json_t *rows;

    cr_assert_eq(hl_rollup_new(&r), HL_OK);
    cr_assert_eq(hl_rollup_add(r, &c, 1), HL_OK);
    rows = rows_of(r);
    cr_assert_eq(count_rows(rows, "total", NULL, NULL), 1);
    cr_assert_eq(count_rows(rows, "category", "violence", NULL), 1, "two violence codes count once");
    cr_assert_eq(count_rows(rows, "category", "mental_health", NULL), 1);
    cr_assert_eq(count_rows(rows, "subcategory", NULL, NULL), 3);
    cr_assert_eq(count_rows(rows, "subcategory", "violence", "violence.cyberbullying"), 1);
    json_t *first = json_array_get(rows, 0);
    cr_assert_str_eq(json_string_value(json_object_get(first, "a")), "13-15");
    cr_assert_str_eq(json_string_value(json_object_get(first, "r")), "unknown");
    cr_assert_str_eq(json_string_value(json_object_get(first, "d")), "2026-11-18");
    json_decref(rows);
    hl_rollup_free(r);
}

/* No contact at all (the writer takes its parameter types from an empty batch): typed, empty arrays. */
Test(rollup, empty_rollup_gives_empty_typed_arrays)
{
    hl_rollup_t *r = NULL;
    hl_rollup_params_t p = {.n_cells = 0};

    cr_assert_eq(hl_rollup_new(&r), HL_OK);
    cr_assert_eq(hl_rollup_params(r, &p), HL_OK);
    cr_assert_eq(p.n_cells, 0);
    for (int k = 0; k < HL_ROLLUP_NPARAMS; k++) {
        cr_assert_neq(p.types[k], 0, "parameter %d has a type", k);
        cr_assert_not_null(p.values[k], "parameter %d is an array", k);
        cr_assert_gt(p.lengths[k], 0);
    }
    hl_rollup_params_free(&p);
    hl_rollup_free(r);
}

Test(rollup, deltas_merge_and_cancel)
{
    static const char *const a[] = {"violence.bullying"};
    static const char *const b[] = {"sexuality"};
    hl_rollup_contact_t ca = contact(a, 1), cb = contact(b, 1);
    hl_rollup_t *r = NULL;
    json_t *rows;

    cr_assert_eq(hl_rollup_new(&r), HL_OK);
    cr_assert_eq(hl_rollup_add(r, &ca, 1), HL_OK);
    cr_assert_eq(hl_rollup_add(r, &ca, 1), HL_OK);
    cr_assert_eq(hl_rollup_add(r, &ca, -1), HL_OK);
    cr_assert_eq(hl_rollup_add(r, &cb, 1), HL_OK);
    cr_assert_eq(hl_rollup_add(r, &cb, -1), HL_OK);
    rows = rows_of(r);
    cr_assert_eq(count_rows(rows, "total", NULL, NULL), 1);
    cr_assert_eq(count_rows(rows, "category", "sexuality", NULL), 0, "cancelled cells are dropped");
    cr_assert_eq(json_array_size(rows), 3);
    json_decref(rows);
    hl_rollup_free(r);
}

/* ---- against PostgreSQL: the writer's rollup equals a recount from the contacts ------------ */

static hl_pgtest_t db;

static void setup(void)
{
    hl_pgtest_create(&db);
}

static void teardown(void)
{
    hl_pgtest_drop(&db);
}

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t done;
} waiter_t;

static void on_done(void *arg, const hl_write_result_t *res)
{
    waiter_t *w = arg;

    cr_assert(res->status == HL_WRITE_CREATED || res->status == HL_WRITE_DUPLICATE);
    pthread_mutex_lock(&w->mu);
    w->done++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static hl_record_t *random_record(long helpline, unsigned i)
{
    static const char *const codes[] = {"violence.bullying", "violence.sexual_violence", "mental_health",
                                        "peer_relationships", "violence.neglect"};
    hl_record_t *r = NULL;
    char id[32];

    cr_assert_eq(hl_record_new(&r), HL_OK);
    hl_record_new_id(r->id);
    snprintf(id, sizeof(id), "r-%u", i % 180); /* some repeats: duplicates must not count */
    r->helpline_id = helpline;
    r->source_system = strdup("test");
    r->source_id = strdup(id);
    r->channel = (hl_channel_t)(i % HL_CONTACT_N_CHANNELS);
    r->contact_type = (hl_contact_type_t)(i % 4);
    r->started_at = (1790000000LL + (long long)(i % 5) * 86400) * 1000000;
    r->child_age = i % 3 == 0 ? -1 : (int)(i % 26);
    r->child_gender = (int)(i % 5) - 1;
    r->child_region = (int)(i % 4);
    snprintf(r->taxonomy_version, sizeof(r->taxonomy_version), "test");
    for (unsigned k = 0; k < i % 4; k++) {
        snprintf(r->categories[r->n_categories].code, HL_RECORD_CODE_MAX, "%s", codes[(i + k) % 5]);
        r->categories[r->n_categories++].source = (hl_category_source_t)((i + k) % 3);
    }
    return r;
}

/* The back-fill query of migration 0003 as a SELECT, for comparison. */
static const char recount[] =
    "WITH c AS (SELECT id, helpline_id, (started_at AT TIME ZONE 'UTC')::date AS day,"
    " helpline_age_band(child_age) AS age_band, coalesce(child_gender, 'unknown') AS gender, channel,"
    " contact_type, coalesce(child_region, 'unknown') AS region FROM contacts),"
    " counted AS (SELECT c.*, cc.code, split_part(cc.code, '.', 1) AS top FROM c JOIN contact_categories cc"
    " ON cc.contact_id = c.id AND cc.source IN ('given', 'mapped')),"
    " expect AS (SELECT helpline_id, day, 'total' AS level, '' AS category, '' AS subcategory, age_band, "
    "gender,"
    " channel, contact_type, region, count(*) AS contacts FROM c GROUP BY 1, 2, 6, 7, 8, 9, 10"
    " UNION ALL SELECT helpline_id, day, 'category', top, '', age_band, gender, channel, contact_type, "
    "region,"
    " count(DISTINCT id) FROM counted GROUP BY 1, 2, 4, 6, 7, 8, 9, 10"
    " UNION ALL SELECT helpline_id, day, 'subcategory', top, code, age_band, gender, channel, contact_type,"
    " region, count(*) FROM counted GROUP BY 1, 2, 4, 5, 6, 7, 8, 9, 10),"
    " got AS (SELECT helpline_id, day, level COLLATE \"default\", category COLLATE \"default\","
    " subcategory COLLATE \"default\", age_band COLLATE \"default\", gender COLLATE \"default\","
    " channel COLLATE \"default\", contact_type COLLATE \"default\", region COLLATE \"default\", contacts"
    " FROM stats_daily WHERE contacts > 0)"
    " SELECT (SELECT count(*) FROM (SELECT * FROM expect EXCEPT SELECT * FROM got) a) +"
    " (SELECT count(*) FROM (SELECT * FROM got EXCEPT SELECT * FROM expect) b)";

static void exec_ok(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);

    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(conn));
    PQclear(res);
}

static void merge(PGconn *conn)
{
    uint64_t rows = 0, cells = 0;

    cr_assert_eq(hl_rollup_merge(conn, &rows, &cells), HL_OK);
}

static const char total_sql[] = "SELECT coalesce(sum(contacts), 0) FROM stats_daily WHERE level = 'total'";
static const char pending_total_sql[] =
    "SELECT coalesce(sum(contacts), 0) FROM stats_pending WHERE level = 'total'";

Test(rollup_db, writer_rollup_equals_recount, .init = setup, .fini = teardown, .timeout = 60)
{
    PGconn *conn = hl_pgtest_connect(&db);
    hl_writer_t *w = NULL;
    hl_writer_opts_t opts = {.conninfo = db.conninfo, .max_batch = 32};
    waiter_t wait = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    int applied;
    long helpline;
    const unsigned n = 400;

    cr_assert_eq(hl_migrate_run(conn, HL_TEST_SRCDIR "/migrations", &applied), HL_OK);
    helpline =
        hl_pgtest_scalar(conn, "INSERT INTO helplines (code, name, country) VALUES ('ru', 'Rollup', 'KE') "
                               "RETURNING id");
    cr_assert_eq(hl_writer_start(&opts, &w), HL_OK);
    for (unsigned i = 0; i < n; i++)
        cr_assert_eq(hl_writer_submit(w, random_record(helpline, i), on_done, &wait), HL_OK);
    pthread_mutex_lock(&wait.mu);
    while (wait.done < n)
        pthread_cond_wait(&wait.cv, &wait.mu);
    pthread_mutex_unlock(&wait.mu);
    hl_writer_stop(w);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM contacts"), 180);
    cr_assert_eq(hl_pgtest_scalar(conn, pending_total_sql), 180, "the writer appends to stats_pending");
    cr_assert_eq(hl_pgtest_scalar(conn, total_sql), 0, "and touches no cell");
    merge(conn);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM stats_pending"), 0, "a merge folds every row");
    cr_assert_eq(hl_pgtest_scalar(conn, total_sql), 180);
    cr_assert_eq(hl_pgtest_scalar(conn, recount), 0, "rollup differs from a recount of the contacts");
    cr_assert_eq(hl_pgtest_scalar(conn,
                                  "SELECT count(*) FROM ((SELECT helpline_id, date_trunc('month', day)::date,"
                                  " level, category, subcategory, age_band, gender, channel, contact_type,"
                                  " region, sum(contacts) FROM stats_daily GROUP BY 1, 2, 3, 4, 5, 6, 7, 8,"
                                  " 9, 10 HAVING sum(contacts) > 0) EXCEPT (SELECT * FROM stats_monthly"
                                  " WHERE contacts > 0)) x"),
                 0, "the monthly rollup differs from the daily one");
    merge(conn);
    cr_assert_eq(hl_pgtest_scalar(conn, total_sql), 180, "a merge with nothing pending changes nothing");
    PQfinish(conn);
}

static void apply(PGconn *conn, const hl_rollup_contact_t *minus, const hl_rollup_contact_t *plus)
{
    hl_rollup_t *r = NULL;

    cr_assert_eq(hl_rollup_new(&r), HL_OK);
    if (minus != NULL)
        cr_assert_eq(hl_rollup_add(r, minus, -1), HL_OK);
    cr_assert_eq(hl_rollup_add(r, plus, 1), HL_OK);
    cr_assert_eq(hl_rollup_apply(r, conn), HL_OK);
    hl_rollup_free(r);
}

static void check_moved(PGconn *conn)
{
    cr_assert_eq(hl_pgtest_scalar(conn, total_sql), 1);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT sum(contacts) FROM stats_monthly WHERE level = 'total'"), 1);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT coalesce(sum(contacts), 0) FROM stats_daily WHERE category = "
                                        "'violence'"),
                 0);
    cr_assert_eq(hl_pgtest_scalar(conn,
                                  "SELECT coalesce(sum(contacts), 0) FROM stats_monthly WHERE category = "
                                  "'violence'"),
                 0);
    cr_assert_eq(hl_pgtest_scalar(conn,
                                  "SELECT sum(contacts) FROM stats_monthly WHERE category = 'mental_health'"
                                  " AND age_band = '16-17'"),
                 2, "category and subcategory rows");
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM stats_pending"), 0);
}

static long patch_setup(PGconn *conn, hl_rollup_contact_t *before, hl_rollup_contact_t *after)
{
    static const char *const before_codes[] = {"violence.bullying"};
    static const char *const after_codes[] = {"mental_health.self_harm"};
    int applied;

    cr_assert_eq(hl_migrate_run(conn, HL_TEST_SRCDIR "/migrations", &applied), HL_OK);
    *before = contact(before_codes, 1);
    *after = contact(after_codes, 1);
    before->helpline_id = after->helpline_id = hl_pgtest_scalar(
        conn, "INSERT INTO helplines (code, name, country) VALUES ('rp', 'Patch', 'KE') RETURNING id");
    after->age = 16;
    return before->helpline_id;
}

/* A PATCH of a merged contact: its old cells go down to zero in the next merge (UPDATEs). */
Test(rollup_db, patch_moves_a_merged_contact_between_cells, .init = setup, .fini = teardown, .timeout = 60)
{
    PGconn *conn = hl_pgtest_connect(&db);
    hl_rollup_contact_t before, after;

    patch_setup(conn, &before, &after);
    apply(conn, NULL, &before);
    merge(conn);
    apply(conn, &before, &after);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM stats_pending WHERE contacts < 0"), 3,
                 "total, category and subcategory leave the old cells");
    merge(conn);
    check_moved(conn);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM stats_daily WHERE contacts = 0"), 3,
                 "emptied cells stay, at zero");
    PQfinish(conn);
}

/* A PATCH before the first merge: the +1 and the -1 cancel in the merge, no old cell appears. */
Test(rollup_db, patch_before_the_merge_cancels, .init = setup, .fini = teardown, .timeout = 60)
{
    PGconn *conn = hl_pgtest_connect(&db);
    hl_rollup_contact_t before, after;

    patch_setup(conn, &before, &after);
    apply(conn, NULL, &before);
    apply(conn, &before, &after);
    merge(conn);
    check_moved(conn);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM stats_daily WHERE contacts = 0"), 0);
    PQfinish(conn);
}

typedef struct {
    const hl_pgtest_t *db;
    int rc;
} merge_job_t;

static void *merge_thread(void *arg)
{
    merge_job_t *job = arg;
    PGconn *conn = hl_pgtest_connect(job->db);
    uint64_t rows = 0, cells = 0;

    job->rc = hl_rollup_merge(conn, &rows, &cells);
    PQfinish(conn);
    return NULL;
}

/*
 * Merges are serialised (another daemon's merge holds the lock): one waits until the other has
 * committed, then folds what is left, so a -1 never meets a cell its snapshot cannot see yet.
 */
Test(rollup_db, merges_wait_for_each_other, .init = setup, .fini = teardown, .timeout = 60)
{
    PGconn *conn = hl_pgtest_connect(&db), *other = hl_pgtest_connect(&db);
    hl_rollup_contact_t before, after;
    merge_job_t job = {.db = &db, .rc = -1};
    pthread_t th;

    patch_setup(conn, &before, &after);
    apply(conn, NULL, &before);
    exec_ok(other, "BEGIN");
    hl_pgtest_scalar(other, "SELECT pg_advisory_xact_lock(x'68656c706c696e65'::int8)");
    cr_assert_eq(pthread_create(&th, NULL, merge_thread, &job), 0);
    usleep(300 * 1000);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM stats_pending"), 3, "the merge waits");
    exec_ok(other, "COMMIT");
    pthread_join(th, NULL);
    cr_assert_eq(job.rc, HL_OK);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM stats_pending"), 0);
    cr_assert_eq(hl_pgtest_scalar(conn, total_sql), 1);
    PQfinish(other);
    PQfinish(conn);
}

/* A merge on a broken connection fails and folds nothing; the rows wait for the next one. */
Test(rollup_db, merge_on_a_lost_connection_folds_nothing, .init = setup, .fini = teardown, .timeout = 60)
{
    PGconn *conn = hl_pgtest_connect(&db), *doomed = hl_pgtest_connect(&db);
    hl_rollup_contact_t before, after;
    uint64_t rows = 7, cells = 7;
    char sql[128];

    patch_setup(conn, &before, &after);
    apply(conn, NULL, &before);
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", PQbackendPID(doomed));
    hl_pgtest_scalar(conn, sql);
    cr_assert_eq(hl_rollup_merge(doomed, &rows, &cells), HL_EDB);
    cr_assert_eq(rows, 7, "outputs are written only on success");
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM stats_pending"), 3);
    merge(conn);
    cr_assert_eq(hl_pgtest_scalar(conn, total_sql), 1);
    PQfinish(doomed);
    PQfinish(conn);
}

static uint64_t total_between(PGconn *conn, int64_t helpline, const char *from, const char *to)
{
    hl_stats_query_t q = {.helplines = &helpline, .n_helplines = 1, .ndims = 1, .dims = {HL_STAT_CATEGORY}};
    uint64_t n = 0;

    snprintf(q.from, sizeof(q.from), "%s", from);
    snprintf(q.to, sizeof(q.to), "%s", to);
    cr_assert_eq(hl_stats_total(conn, &q, &n), HL_OK);
    return n;
}

/* Statistics count a contact once whether its deltas are pending or merged: whole months
 * (stats_monthly), partial months (stats_daily) and days outside the range alike. */
Test(rollup_db, statistics_count_pending_and_merged_alike, .init = setup, .fini = teardown, .timeout = 60)
{
    PGconn *conn = hl_pgtest_connect(&db);
    hl_rollup_contact_t c, unused;
    int64_t helpline = patch_setup(conn, &c, &unused);

    for (int i = 0; i < 3; i++)
        apply(conn, NULL, &c); /* 2026-11-18 */
    for (int round = 0; round < 3; round++) {
        uint64_t want = round < 2 ? 3 : 5;

        cr_assert_eq(total_between(conn, helpline, "2026-11-01", "2026-11-30"), want, "round %d", round);
        cr_assert_eq(total_between(conn, helpline, "2026-10-01", "2026-12-31"), want, "round %d", round);
        cr_assert_eq(total_between(conn, helpline, "2026-11-15", "2026-11-20"), want, "round %d", round);
        cr_assert_eq(total_between(conn, helpline, "2026-11-19", "2026-11-30"), 0, "round %d", round);
        cr_assert_eq(total_between(conn, helpline + 1, "2026-11-01", "2026-11-30"), 0, "round %d", round);
        if (round == 0)
            merge(conn); /* then all merged */
        else if (round == 1)
            for (int i = 0; i < 2; i++)
                apply(conn, NULL, &c); /* then 3 merged, 2 pending */
    }
    PQfinish(conn);
}

/* ---- casework: referrals and case status changes (migration 0010's triggers) -------------- */

/* The rollup's referral and case_status cells against a recount from the referrals (each in the
 * UTC day it was made, with its current state) and the status entries of the timelines; and
 * stats_monthly against stats_daily. 0 when they agree. */
static const char casework_recount[] =
    "WITH expect AS (SELECT c.helpline_id, (r.created_at AT TIME ZONE 'UTC')::date AS day, 'referral' AS "
    "level,"
    " r.referral_to AS category, r.state AS subcategory, count(*) AS n"
    " FROM referrals r JOIN cases c ON c.id = r.case_id GROUP BY 1, 2, 4, 5"
    " UNION ALL SELECT c.helpline_id, (e.at AT TIME ZONE 'UTC')::date, 'case_status', e.status_to, '',"
    " count(*) FROM case_entries e JOIN cases c ON c.id = e.case_id WHERE e.kind = 'status' GROUP BY 1, 2, "
    "4),"
    " got AS (SELECT helpline_id, day, level::text COLLATE \"default\", category::text COLLATE \"default\","
    " subcategory::text COLLATE \"default\", contacts FROM stats_daily"
    " WHERE level IN ('referral', 'case_status') AND contacts > 0),"
    " monthly AS (SELECT helpline_id, date_trunc('month', day)::date, level, category, subcategory, "
    "sum(contacts)"
    " FROM stats_daily WHERE level IN ('referral', 'case_status') GROUP BY 1, 2, 3, 4, 5 HAVING "
    "sum(contacts) > 0),"
    " got_monthly AS (SELECT helpline_id, month, level, category, subcategory, contacts FROM stats_monthly"
    " WHERE level IN ('referral', 'case_status') AND contacts > 0)"
    " SELECT (SELECT count(*) FROM (SELECT * FROM expect EXCEPT SELECT * FROM got) a)"
    " + (SELECT count(*) FROM (SELECT * FROM got EXCEPT SELECT * FROM expect) b)"
    " + (SELECT count(*) FROM (SELECT * FROM monthly EXCEPT SELECT * FROM got_monthly) c)"
    " + (SELECT count(*) FROM (SELECT * FROM got_monthly EXCEPT SELECT * FROM monthly) d)"
    " + (SELECT count(*) FROM stats_daily WHERE level IN ('total', 'category', 'subcategory'))";

#define CASE_1 "'c1000000-0000-4000-8000-000000000001'"
#define CASE_2 "'c2000000-0000-4000-8000-000000000002'"

/*
 * Referrals made and moved between states, in statements of one and of several rows, merged
 * in between (a state change of a merged referral is an UPDATE of its old cell) or not (a
 * referral made and moved in one transaction cancels); status entries of two helplines' cases
 * across months; notes, links and re-sealing, which count nothing. No contact cell appears.
 */
Test(rollup_db, casework_rollup_equals_recount, .init = setup, .fini = teardown, .timeout = 60)
{
    PGconn *conn = hl_pgtest_connect(&db);
    int applied;

    cr_assert_eq(hl_migrate_run(conn, HL_TEST_SRCDIR "/migrations", &applied), HL_OK);
    exec_ok(conn, "INSERT INTO helplines (id, code, name, country) VALUES (3, 'h3', 'Three', 'KE'),"
                  " (4, 'h4', 'Four', 'KE')");
    exec_ok(conn, "INSERT INTO users (id, helpline_id, name, role, token_selector, token_hash)"
                  " VALUES (1, 3, 'amina', 'counsellor', '\\x01', '\\x02'), (2, 4, 'zola', 'counsellor', "
                  "'\\x03', '\\x04')");
    exec_ok(conn, "INSERT INTO cases (id, helpline_id, created_by, label) VALUES (" CASE_1 ", 3, 1, '\\x01'),"
                  " (" CASE_2 ", 4, 2, '\\x01')");
    exec_ok(conn, "INSERT INTO case_entries (id, case_id, kind, at, by_user, status_from, status_to) VALUES"
                  " (gen_random_uuid(), " CASE_1 ", 'status', '2026-07-30T23:30:00Z', 1, NULL, 'open'),"
                  " (gen_random_uuid(), " CASE_2 ", 'status', '2026-07-31T23:30:00-02:00', 2, NULL, 'open')");
    exec_ok(conn,
            "INSERT INTO referrals (id, case_id, referral_to, state, created_at)"
            " SELECT ('d0000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, " CASE_1 ","
            " CASE WHEN g % 2 = 0 THEN 'referral.law_enforcement' ELSE 'referral.healthcare' END, 'made',"
            " '2026-07-20T10:00:00Z'::timestamptz + g * interval '5 days' FROM generate_series(1, 6) g");
    exec_ok(conn,
            "INSERT INTO referrals (id, case_id, referral_to, state, created_at) VALUES"
            " ('d0000000-0000-4000-8000-000000000101', " CASE_2 ", 'referral.mental_health', 'accepted',"
            " '2026-08-02T10:00:00Z')");
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM stats_pending WHERE level = 'referral'"), 7,
                 "a row per helpline, day, to and state: six days of helpline 3, one of helpline 4");
    merge(conn);
    cr_assert_eq(hl_pgtest_scalar(conn, casework_recount), 0);

    /* merged referrals change state: one alone, two in one statement */
    exec_ok(conn,
            "UPDATE referrals SET state = 'accepted' WHERE id = 'd0000000-0000-4000-8000-000000000002'");
    exec_ok(conn,
            "UPDATE referrals SET state = 'declined' WHERE id IN ('d0000000-0000-4000-8000-000000000003',"
            " 'd0000000-0000-4000-8000-000000000004')");
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM stats_pending WHERE contacts < 0"), 3,
                 "each moved referral leaves its old cell");
    /* made and moved twice in one transaction: only its last state counts */
    exec_ok(conn, "BEGIN");
    exec_ok(conn,
            "INSERT INTO referrals (id, case_id, referral_to, state, created_at) VALUES"
            " ('d0000000-0000-4000-8000-000000000201', " CASE_1 ", 'referral.school_counsellor', 'made',"
            " '2026-09-01T00:00:00Z')");
    exec_ok(conn,
            "UPDATE referrals SET state = 'accepted' WHERE id = 'd0000000-0000-4000-8000-000000000201'");
    exec_ok(conn,
            "UPDATE referrals SET state = 'completed' WHERE id = 'd0000000-0000-4000-8000-000000000201'");
    exec_ok(conn, "COMMIT");
    /* status changes, and writes that count nothing */
    exec_ok(conn,
            "INSERT INTO case_entries (id, case_id, kind, at, by_user, status_from, status_to) VALUES"
            " (gen_random_uuid(), " CASE_1 ", 'status', '2026-08-10T10:00:00Z', 1, 'open', 'in_progress'),"
            " (gen_random_uuid(), " CASE_1 ", 'status', '2026-09-10T10:00:00Z', 1, 'in_progress', 'closed'),"
            " (gen_random_uuid(), " CASE_1 ", 'status', '2026-09-12T10:00:00Z', 1, 'closed', 'in_progress')");
    long pending = hl_pgtest_scalar(conn, "SELECT count(*) FROM stats_pending");
    exec_ok(conn, "INSERT INTO case_entries (id, case_id, kind, by_user, text) VALUES"
                  " (gen_random_uuid(), " CASE_1 ", 'note', 1, '\\x01')");
    exec_ok(conn, "UPDATE referrals SET organisation = '\\x02', updated_at = now()");
    exec_ok(conn, "UPDATE referrals SET state = state");
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM stats_pending"), pending,
                 "notes, re-sealing and unchanged states append nothing");
    merge(conn);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM stats_pending"), 0);
    cr_assert_eq(hl_pgtest_scalar(conn, casework_recount), 0, "the rollup differs from a recount");
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT sum(contacts) FROM stats_monthly WHERE level = 'referral'"
                                        " AND helpline_id = 3 AND month = '2026-07-01'"),
                 2, "6 July referrals: the 25th and the 30th");
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT sum(contacts) FROM stats_daily WHERE level = 'case_status'"
                                        " AND helpline_id = 4 AND day = '2026-08-01'"),
                 1, "an entry's day is its UTC date");
    cr_assert_eq(hl_pgtest_scalar(conn,
                                  "SELECT count(*) FROM stats_daily WHERE level = 'referral'"
                                  " AND subcategory = 'made' AND category = 'referral.school_counsellor'"),
                 0, "a referral made and moved in one transaction leaves no cell behind");
    PQfinish(conn);
}
