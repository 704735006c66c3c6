#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrate.h"
#include "pgtest.h"
#include "rollup.h"
#include "writer.h"

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
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT sum(contacts) FROM stats_daily WHERE level = 'total'"), 180);
    cr_assert_eq(hl_pgtest_scalar(conn, recount), 0, "rollup differs from a recount of the contacts");
    cr_assert_eq(hl_pgtest_scalar(conn,
                                  "SELECT count(*) FROM ((SELECT helpline_id, date_trunc('month', day)::date,"
                                  " level, category, subcategory, age_band, gender, channel, contact_type,"
                                  " region, sum(contacts) FROM stats_daily GROUP BY 1, 2, 3, 4, 5, 6, 7, 8,"
                                  " 9, 10 HAVING sum(contacts) > 0) EXCEPT (SELECT * FROM stats_monthly"
                                  " WHERE contacts > 0)) x"),
                 0, "the monthly rollup differs from the daily one");
    PQfinish(conn);
}

/* A PATCH moves a contact from its old cells to new ones: the old ones go down to zero. */
Test(rollup_db, patch_moves_a_contact_between_cells, .init = setup, .fini = teardown, .timeout = 60)
{
    static const char *const before_codes[] = {"violence.bullying"};
    static const char *const after_codes[] = {"mental_health.self_harm"};
    PGconn *conn = hl_pgtest_connect(&db);
    hl_rollup_contact_t before = contact(before_codes, 1), after = contact(after_codes, 1);
    hl_rollup_t *r = NULL;
    int applied;

    cr_assert_eq(hl_migrate_run(conn, HL_TEST_SRCDIR "/migrations", &applied), HL_OK);
    before.helpline_id = after.helpline_id = hl_pgtest_scalar(
        conn, "INSERT INTO helplines (code, name, country) VALUES ('rp', 'Patch', 'KE') RETURNING id");
    after.age = 16;
    cr_assert_eq(hl_rollup_new(&r), HL_OK);
    cr_assert_eq(hl_rollup_add(r, &before, 1), HL_OK);
    cr_assert_eq(hl_rollup_apply(r, conn), HL_OK);
    hl_rollup_free(r);

    cr_assert_eq(hl_rollup_new(&r), HL_OK);
    cr_assert_eq(hl_rollup_add(r, &before, -1), HL_OK);
    cr_assert_eq(hl_rollup_add(r, &after, 1), HL_OK);
    cr_assert_eq(hl_rollup_apply(r, conn), HL_OK, "negative deltas must apply");
    hl_rollup_free(r);

    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT sum(contacts) FROM stats_daily WHERE level = 'total'"), 1);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT sum(contacts) FROM stats_monthly WHERE level = 'total'"), 1);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT coalesce(sum(contacts), 0) FROM stats_daily WHERE category = "
                                        "'violence'"),
                 0);
    cr_assert_eq(hl_pgtest_scalar(conn,
                                  "SELECT sum(contacts) FROM stats_monthly WHERE category = 'mental_health'"
                                  " AND age_band = '16-17'"),
                 2, "category and subcategory rows");
    PQfinish(conn);
}
