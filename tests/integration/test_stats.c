/*
 * /v1/stats against the contacts themselves: after a synthetic quarter posted through the API
 * (and a few PATCHes that move contacts between cells), every `by` combination of one to three
 * dimensions publishes no non-zero count below k, every published count equals a direct count
 * over the contacts table, and every non-zero count is either published or suppressed.
 *
 * Suite stats_casework (issue 16): referrals made and moved through the Cases API, and cases
 * opened, put in progress and closed, counted in /v1/stats and the signed quarterly report.
 *
 * Suite stats_network (issue 15, findings 4 and 5): network users get whole calendar months,
 * each helpline and month protected on its own, so neither two date ranges nor the network
 * and one of its helplines nor a quarterly report and its months can be subtracted to reveal a
 * count below k; supervisors keep exact counts for any range; requests are bounded before any
 * work and at most half the HTTP threads run statistics at once.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "itest.h"
#include "report.h"
#include <libpq-fe.h>

static hl_testd_t d;

static const char *const dims[] = {"category",     "subcategory", "age_band", "gender", "channel",
                                   "contact_type", "region",      "month",    "week"};
#define N_DIMS 8 /* every_combination's; week (index 8) is checked on its own */
#define K      5

/* The direct count's expression for each dimension (contacts c, categories cc). */
static const char *const dim_sql[] = {
    "split_part(cc.code, '.', 1)",
    "cc.code",
    "helpline_age_band(c.child_age)",
    "coalesce(c.child_gender, 'unknown')",
    "c.channel",
    "c.contact_type",
    "coalesce(c.child_region, 'unknown')",
    "to_char(c.started_at AT TIME ZONE 'UTC', 'YYYY-MM')",
    "to_char(date_trunc('week', c.started_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"};

static const char *const codes[] = {"violence.bullying",
                                    "violence.physical_violence",
                                    "violence.neglect",
                                    "mental_health.self_harm",
                                    "mental_health.mood_problems",
                                    "sexuality",
                                    "peer_relationships.friends_friendships"};
static const char *const genders[] = {"girl", "girl", "girl", "boy", "boy", "non_binary"};
static const char *const channels[] = {"phone", "phone", "chat", "sms"};
static const char *const types[] = {"counselling", "counselling", "counselling",
                                    "information", "silent",      "missed"};
static const char *const regions[] = {"urban", "urban", "town", "rural"};

static void post_quarter(void)
{
    char id[32], started[32], body[1024], cats[160];
    unsigned seed = 12345;

    for (int i = 0; i < 420; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = seed >> 8;
        const char *type = types[r % 6];
        bool counselling = strcmp(type, "counselling") == 0 || strcmp(type, "information") == 0;
        /* July 10 .. October 5: the query starts mid-July and ends with September. */
        int day = 9 + (int)(r % 88);
        int month = 7 + (day >= 31) + (day >= 62) + (day >= 92);
        int mday = day - (month == 8 ? 31 : month == 9 ? 62 : month == 10 ? 92 : 0) + 1;
        unsigned first = (r >> 6) % 7;

        snprintf(id, sizeof(id), "q-%d", i);
        snprintf(started, sizeof(started), "2026-%02d-%02dT%02d:00:00Z", month, mday, (int)(r % 24));
        if ((r >> 9) % 3 == 0) /* a second, different category */
            snprintf(cats, sizeof(cats), "\"%s\",\"%s\"", codes[first],
                     codes[(first + 1 + (r >> 11) % 6) % 7]);
        else
            snprintf(cats, sizeof(cats), "\"%s\"", codes[first]);
        if (counselling)
            snprintf(
                body, sizeof(body),
                "{\"source\":{\"system\":\"it\",\"id\":\"%s\"},\"channel\":\"%s\",\"contact_type\":\"%s\","
                "\"started_at\":\"%s\",\"child\":{\"age\":%d,\"gender\":\"%s\",\"region\":\"%s\"},"
                "\"categories\":[%s]}",
                id, channels[r % 4], type, started, 8 + (int)((r >> 4) % 11), genders[(r >> 3) % 6],
                regions[(r >> 5) % 4], cats);
        else
            snprintf(
                body, sizeof(body),
                "{\"source\":{\"system\":\"it\",\"id\":\"%s\"},\"channel\":\"%s\",\"contact_type\":\"%s\","
                "\"started_at\":\"%s\"}",
                id, channels[r % 4], type, started);
        long status = 0;
        json_t *reply = hl_testd_request(&d, "POST", "/v1/contacts", d.tokens.frontend, "application/json",
                                         body, &status, NULL);
        cr_assert_eq(status, 201, "contact %d: %ld", i, status);
        json_decref(reply);
    }
}

/* PATCH some contacts: new ages, genders and categories move them between cells. */
static void patch_some(void)
{
    PGconn *conn = PQconnectdb(d.conninfo);
    PGresult *res = PQexec(
        conn, "SELECT id FROM contacts WHERE contact_type = 'counselling' ORDER BY source_id LIMIT 30");

    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
    for (int i = 0; i < PQntuples(res); i++) {
        char path[128];
        long status = 0;
        snprintf(path, sizeof(path), "/v1/contacts/%s", PQgetvalue(res, i, 0));
        json_t *reply = hl_testd_request(&d, "PATCH", path, d.tokens.admin, "application/json",
                                         i % 2 == 0 ? "{\"child\":{\"age\":16,\"gender\":\"boy\"},"
                                                      "\"categories\":[\"sexuality\"]}"
                                                    : "{\"categories\":[\"violence.bullying\"]}",
                                         &status, NULL);
        cr_assert_eq(status, 200, "PATCH %s: %ld", path, status);
        json_decref(reply);
    }
    PQclear(res);
    PQfinish(conn);
}

static void setup(void)
{
    hl_testd_start(&d, NULL);
    post_quarter();
    patch_some();
}

static void teardown(void)
{
    hl_testd_stop(&d);
}

TestSuite(stats, .init = setup, .fini = teardown, .timeout = 300);

/* The direct count of every cell of BY over the contacts, as "v1|v2|..." -> count. */
static json_t *direct_counts(const int *by, int n)
{
    char sql[2048], cols[512] = "";
    size_t len = 0;
    bool categories = false, subcategories = false;

    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(cols + len, sizeof(cols) - len, "%s%s", i > 0 ? " || '|' || " : "",
                                dim_sql[by[i]]);
        categories |= by[i] == 0;
        subcategories |= by[i] == 1;
    }
    snprintf(sql, sizeof(sql),
             "SELECT coalesce(json_object_agg(k, n), '{}')::text FROM (SELECT %s AS k, count(%s) AS n"
             " FROM contacts c%s WHERE c.started_at >= '2026-07-15' AND c.started_at < '2026-10-01'"
             " GROUP BY 1) x",
             cols, subcategories ? "*" : "DISTINCT c.id",
             categories || subcategories
                 ? " JOIN contact_categories cc ON cc.contact_id = c.id AND cc.source IN ('given', 'mapped')"
                 : "");
    PGconn *conn = PQconnectdb(d.conninfo);
    PGresult *res = PQexec(conn, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
    json_t *j = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    PQfinish(conn);
    cr_assert_not_null(j);
    return j;
}

static void check(const int *by, int n)
{
    char path[256] = "/v1/stats?from=2026-07-15&to=2026-09-30&k=5&by=";
    long status = 0;
    json_t *direct = direct_counts(by, n), *stats, *cells, *cell;
    size_t i, published = 0, suppressed = 0;
    const char *key;
    json_t *v;

    for (int j = 0; j < n; j++)
        snprintf(path + strlen(path), sizeof(path) - strlen(path), "%s%s", j > 0 ? "," : "", dims[by[j]]);
    stats = hl_testd_request(&d, "GET", path, d.tokens.supervisor, NULL, NULL, &status, NULL);
    cr_assert_eq(status, 200, "%s: %ld", path, status);
    cells = json_object_get(stats, "cells");
    json_array_foreach(cells, i, cell)
    {
        char k[512] = "";
        for (int j = 0; j < n; j++)
            snprintf(k + strlen(k), sizeof(k) - strlen(k), "%s%s", j > 0 ? "|" : "",
                     json_string_value(json_object_get(cell, dims[by[j]])));
        json_t *count = json_object_get(cell, "count");
        json_t *want = json_object_get(direct, k);
        if (json_is_true(json_object_get(cell, "suppressed"))) {
            cr_assert(json_is_null(count), "%s %s: a suppressed cell shows a count", path, k);
            cr_assert_not_null(want, "%s %s: a zero cell was suppressed", path, k);
            suppressed++;
        } else {
            json_int_t c = json_integer_value(count);
            cr_assert(c == 0 || c >= K, "%s %s: published %lld below k", path, k, (long long)c);
            cr_assert_eq(c, want != NULL ? json_integer_value(want) : 0,
                         "%s %s: published %lld, contacts say %lld", path, k, (long long)c,
                         (long long)(want != NULL ? json_integer_value(want) : 0));
            published++;
        }
        json_object_del(direct, k);
    }
    /* Every non-zero count left is one the reply did not list at all. */
    json_object_foreach(direct, key, v)
    {
        cr_assert_fail("%s %s: %lld contacts, but the cell is neither published nor suppressed", path, key,
                       (long long)json_integer_value(v));
    }
    cr_assert_gt(published + suppressed, 0, "%s: no cells", path);
    json_decref(stats);
    json_decref(direct);
}

Test(stats, every_combination_is_safe_and_exact)
{
    int by[3];
    int combos = 0;

    for (int a = 0; a < N_DIMS; a++) {
        by[0] = a;
        check(by, 1);
        combos++;
        for (int b = a + 1; b < N_DIMS; b++) {
            by[1] = b;
            check(by, 2);
            combos++;
            for (int c = b + 1; c < N_DIMS; c++) {
                by[2] = c;
                check(by, 3);
                combos++;
            }
        }
    }
    cr_assert_eq(combos, 92);
}

/* week: ISO weeks by their Monday, the first (13 July) partial, alone and with each dimension;
 * network users are refused it. */
Test(stats, weeks_are_exact_and_only_for_row_level_readers)
{
    long status;
    json_t *r;

    for (int a = 0; a < N_DIMS; a++)
        check((int[]){8, a}, 2);
    check((int[]){8}, 1);
    r = hl_testd_request(&d, "GET", "/v1/stats?from=2026-07-01&to=2026-09-30&by=week", d.tokens.network, NULL,
                         NULL, &status, NULL);
    cr_expect_eq(status, 400);
    cr_expect_str_eq(it_str(r, "error/field"), "by");
    json_decref(r);
}

Test(stats, total_contacts_matches_and_k_floor)
{
    long status = 0;
    json_t *s = hl_testd_request(&d, "GET", "/v1/stats?from=2026-07-15&to=2026-09-30&by=gender",
                                 d.tokens.supervisor, NULL, NULL, &status, NULL);

    cr_assert_eq(status, 200);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(s, "total_contacts"), "count")),
                 it_scalar(&d, "SELECT count(*) FROM contacts WHERE started_at >= '2026-07-15'"
                               " AND started_at < '2026-10-01'"));
    json_decref(s);
    s = hl_testd_request(&d, "GET", "/v1/stats?from=2026-07-15&to=2026-09-30&by=gender&k=2",
                         d.tokens.supervisor, NULL, NULL, &status, NULL);
    cr_assert_eq(status, 400, "k below k_min is refused");
    json_decref(s);
    s = hl_testd_request(&d, "GET", "/v1/stats?from=2026-07-15&to=2026-09-30&by=gender", d.tokens.counsellor,
                         NULL, NULL, &status, NULL);
    cr_assert_eq(status, 403, "counsellors read no statistics");
    json_decref(s);
}

/* ---- network users: differencing and cost -------------------------------------------------- */

static char demo2_frontend[HL_TESTD_TOKEN_LEN];

/* A second helpline in demo's network, with a front end. */
static void setup_network(void)
{
    const char *add[] = {"helpline",  "add", "demo2",     "--name",   "Second Demo Helpline",
                         "--country", "KE",  "--network", "demo-net", NULL};

    hl_testd_start(&d, NULL);
    cr_assert_eq(hl_testd_admin(&d, NULL, 0, add), 0);
    hl_testd_user_add(&d, "demo2-frontend", "frontend", "demo2", demo2_frontend);
}

TestSuite(stats_network, .init = setup_network, .fini = teardown, .timeout = 120);

/* N counselling contacts on DAY (YYYY-MM-DD) through TOKEN's front end: category violence,
 * age 14, GENDER. */
static void post_contacts(const char *token, const char *day, const char *gender, int n)
{
    static int serial;

    for (int i = 0; i < n; i++) {
        char id[64], at[32], g[32];
        json_t *c = it_contact("x");

        snprintf(id, sizeof(id), "\"net-%d\"", serial++);
        snprintf(at, sizeof(at), "\"%sT10:00:00Z\"", day);
        it_mutate(c, "/source/id", id);
        it_mutate(c, "/started_at", at);
        it_mutate(c, "/ended_at", NULL);
        snprintf(g, sizeof(g), "\"%s\"", gender);
        it_mutate(c, "/child/gender", g);
        cr_assert_eq(it_post(&d, token, c, NULL), 201);
    }
}

/* GET PATH with TOKEN: the status, the reply (caller releases) and how long it took. */
static json_t *get(const char *token, const char *path, long *status, double *seconds)
{
    double start = hl_testd_now();
    json_t *r = hl_testd_request(&d, "GET", path, token, NULL, NULL, status, NULL);

    if (seconds != NULL)
        *seconds = hl_testd_now() - start;
    return r;
}

/* The cell of a /v1/stats reply with category CAT and gender GENDER: its count, -1 when
 * suppressed, 0 when absent. */
static long cell_count(json_t *reply, const char *cat, const char *gender)
{
    json_t *cell;
    size_t i;

    json_array_foreach(json_object_get(reply, "cells"), i, cell)
    {
        if (strcmp(it_str(cell, "category"), cat) != 0 || strcmp(it_str(cell, "gender"), gender) != 0)
            continue;
        if (json_is_true(json_object_get(cell, "suppressed")))
            return -1;
        return (long)json_integer_value(json_object_get(cell, "count"));
    }
    return 0;
}

static void expect_400(const char *token, const char *path, const char *field)
{
    long status = 0;
    json_t *r = get(token, path, &status, NULL);

    cr_expect_eq(status, 400, "%s: %ld", path, status);
    cr_expect_str_eq(it_str(r, "error/field"), field, "%s", path);
    json_decref(r);
}

/* Finding 4: 20 girls and 5 boys on 1 May, one boy on 2 May. A network user could ask for
 * 1..2 May and 1..1 May and subtract 5 from 6. */
Test(stats_network, the_finding_cannot_be_differenced)
{
    long status = 0;
    json_t *r;

    post_contacts(d.tokens.frontend, "2025-05-01", "girl", 20);
    post_contacts(d.tokens.frontend, "2025-05-01", "boy", 5);
    post_contacts(d.tokens.frontend, "2025-05-02", "boy", 1);

    expect_400(d.tokens.network, "/v1/stats?from=2025-05-01&to=2025-05-02&by=category,gender", "to");
    expect_400(d.tokens.network, "/v1/stats?from=2025-05-01&to=2025-05-01&by=category,gender", "to");
    expect_400(d.tokens.network, "/v1/stats?from=2025-05-02&to=2025-05-31&by=category,gender", "from");
    r = get(d.tokens.network, "/v1/stats?from=2025-05-02&to=2025-05-31&by=category,gender", &status, NULL);
    const char *message = it_str(r, "error/message");
    cr_expect(message != NULL && strstr(message, "first day of a month") != NULL, "%s",
              message != NULL ? message : "no message");
    json_decref(r);

    /* Whole May: 20 and 6, both at least k. */
    r = get(d.tokens.network, "/v1/stats?from=2025-05-01&to=2025-05-31&by=category,gender", &status, NULL);
    cr_assert_eq(status, 200);
    cr_expect_eq(cell_count(r, "violence", "girl"), 20);
    cr_expect_eq(cell_count(r, "violence", "boy"), 6);
    json_decref(r);

    /* Supervisors keep exact counts for any range: they can read the contacts anyway. */
    r = get(d.tokens.supervisor, "/v1/stats?from=2025-05-01&to=2025-05-02&by=category,gender", &status, NULL);
    cr_assert_eq(status, 200);
    cr_expect_eq(cell_count(r, "violence", "boy"), 6);
    json_decref(r);
    r = get(d.tokens.supervisor, "/v1/stats?from=2025-05-01&to=2025-05-01&by=category,gender", &status, NULL);
    cr_assert_eq(status, 200);
    cr_expect_eq(cell_count(r, "violence", "boy"), 5);
    json_decref(r);

    /* The same by months: one boy in June. May..June minus May would be June's boy. */
    post_contacts(d.tokens.frontend, "2025-06-03", "boy", 1);
    r = get(d.tokens.network, "/v1/stats?from=2025-05-01&to=2025-06-30&by=category,gender", &status, NULL);
    cr_assert_eq(status, 200);
    cr_expect_eq(cell_count(r, "violence", "boy"), -1, "June's slice suppressed its boy: so is the sum");
    cr_expect_eq(cell_count(r, "violence", "girl"), 20);
    cr_expect(json_is_true(json_object_get(json_object_get(r, "total_contacts"), "suppressed")));
    json_decref(r);
    r = get(d.tokens.network, "/v1/stats?from=2025-05-01&to=2025-06-30&by=month,category,gender", &status,
            NULL);
    cr_assert_eq(status, 200);
    json_t *cell;
    size_t i;
    json_array_foreach(json_object_get(r, "cells"), i, cell)
    {
        json_t *count = json_object_get(cell, "count");
        cr_expect(json_is_null(count) || json_integer_value(count) >= 5, "%s", json_dumps(cell, 0));
    }
    json_decref(r);
}

/* The network and one of its helplines: 5 boys in demo, one in demo2, July 2025. */
Test(stats_network, the_network_minus_a_helpline_reveals_nothing)
{
    long status = 0;
    json_t *r;

    post_contacts(d.tokens.frontend, "2025-07-10", "boy", 5);
    post_contacts(d.tokens.frontend, "2025-07-10", "girl", 12);
    post_contacts(demo2_frontend, "2025-07-11", "boy", 1);
    post_contacts(demo2_frontend, "2025-07-11", "girl", 9);

    r = get(d.tokens.network, "/v1/stats?from=2025-07-01&to=2025-07-31&by=category,gender&helpline=demo",
            &status, NULL);
    cr_assert_eq(status, 200);
    cr_expect_eq(cell_count(r, "violence", "boy"), 5);
    json_decref(r);
    r = get(d.tokens.network, "/v1/stats?from=2025-07-01&to=2025-07-31&by=category,gender", &status, NULL);
    cr_assert_eq(status, 200);
    cr_expect_eq(cell_count(r, "violence", "boy"), -1,
                 "demo2 suppressed its boy: the network's 6 would show him");
    cr_expect_eq(cell_count(r, "violence", "girl"), -1, "and its complement");
    json_decref(r);
    /* A supervisor of demo still counts demo exactly. */
    r = get(d.tokens.supervisor, "/v1/stats?from=2025-07-10&to=2025-07-10&by=category,gender", &status, NULL);
    cr_assert_eq(status, 200);
    cr_expect_eq(cell_count(r, "violence", "boy"), 5);
    json_decref(r);
}

/* The count of category violence in a quarterly report (-1 suppressed). */
static long report_violence(const char *token)
{
    long status = 0;
    json_t *r = get(token, "/v1/reports/quarterly?year=2025&quarter=3", &status, NULL), *cell;
    long n = -2;
    size_t i;

    cr_assert_eq(status, 200);
    json_array_foreach(json_object_get(json_object_get(json_object_get(r, "tables"), "category"), "cells"), i,
                       cell)
    {
        if (strcmp(it_str(cell, "category"), "violence") == 0)
            n = json_is_null(json_object_get(cell, "count"))
                    ? -1
                    : (long)json_integer_value(json_object_get(cell, "count"));
    }
    json_decref(r);
    return n;
}

/* The quarterly report and its months: 20 in July, one in September. Q3 minus July and August
 * would be September's one contact. */
Test(stats_network, the_report_minus_its_months_reveals_nothing)
{
    long status = 0;
    json_t *r;

    post_contacts(d.tokens.frontend, "2025-07-10", "girl", 20);
    post_contacts(d.tokens.frontend, "2025-09-20", "boy", 1);
    r = get(d.tokens.network, "/v1/stats?from=2025-07-01&to=2025-08-31&by=category", &status, NULL);
    cr_assert_eq(status, 200);
    json_t *cell = json_array_get(json_object_get(r, "cells"), 0);
    cr_assert_str_eq(it_str(cell, "category"), "violence");
    cr_assert_eq(json_integer_value(json_object_get(cell, "count")), 20);
    json_decref(r);
    cr_expect_eq(report_violence(d.tokens.network), -1, "September's slice suppressed its one contact");
    cr_expect_eq(report_violence(d.tokens.admin), -1, "the report is the same whoever fetches it");
}

/* Ranges network users may ask for, and the bounds. */
Test(stats_network, whole_months_only_and_bounds)
{
    long status = 0;
    json_t *r;

    expect_400(d.tokens.network, "/v1/stats?from=2024-02-01&to=2024-02-28&by=gender", "to");
    r = get(d.tokens.network, "/v1/stats?from=2024-02-01&to=2024-02-29&by=gender", &status, NULL);
    cr_expect_eq(status, 200, "a leap February");
    json_decref(r);
    r = get(d.tokens.network, "/v1/stats?from=2025-01-01&to=2025-12-31&by=month,gender", &status, NULL);
    cr_expect_eq(status, 200, "any span of whole months");
    json_decref(r);
    r = get(d.tokens.admin, "/v1/stats?from=2025-01-05&to=2025-01-07&by=gender", &status, NULL);
    cr_expect_eq(status, 200, "admins: any range");
    json_decref(r);
    /* Over 1200 months, for everyone; over the slice work for network users. */
    expect_400(d.tokens.supervisor, "/v1/stats?from=2000-01-01&to=2100-01-31&by=gender", "to");
    expect_400(d.tokens.network, "/v1/stats?from=2001-01-01&to=2100-12-31&by=subcategory,age_band,gender",
               "to");
    expect_400(d.tokens.supervisor,
               "/v1/stats?from=2025-01-01&to=2025-12-31&by=subcategory,month,age_band,channel", "by");
}

/* Finding 5: 0001-01-01..9999-12-31 by month took 11 s of CPU; twelve at once silenced /healthz
 * for 90 s. Now it is refused before any work, and the largest allowed tables complete. */
Test(stats_network, the_costly_request_is_refused_at_once)
{
    const char *finding = "/v1/stats?from=0001-01-01&to=9999-12-31&by=month";
    long status = 0;
    double took = 0, worst = 0;
    json_t *r;

    for (int i = 0; i < 12; i++) {
        r = get(d.tokens.supervisor, finding, &status, &took);
        cr_assert_eq(status, 400);
        cr_assert_str_eq(it_str(r, "error/field"), "to");
        json_decref(r);
        worst = took > worst ? took : worst;
    }
    cr_log_info("the finding's request: 400 in at most %.1f ms", worst * 1e3);
    cr_expect_lt(worst, 0.5, "%.3f s", worst);

    post_contacts(d.tokens.frontend, "2025-03-03", "girl", 6);
    /* 1200 months x 7 age bands x 4 genders: 33,600 cells, for both rules. */
    const char *largest = "/v1/stats?from=2001-01-01&to=2100-12-31&by=month,age_band,gender";
    r = get(d.tokens.supervisor, largest, &status, &took);
    cr_expect_eq(status, 200);
    cr_log_info("largest supervisor table: %.1f ms", took * 1e3);
    json_decref(r);
    r = get(d.tokens.network, largest, &status, &took);
    cr_expect_eq(status, 200);
    cr_log_info("largest network table: %.1f ms", took * 1e3);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(r, "total_contacts"), "count")), 6);
    json_decref(r);
}

typedef struct {
    const char *token, *path;
    long status;
    char retry_after[32];
    atomic_bool done;
} call_t;

static void *call(void *arg)
{
    call_t *c = arg;
    hl_testd_req_t req = {.method = "GET", .path = c->path, .token = c->token};
    hl_testd_resp_t resp;

    hl_testd_do(&d, &req, &resp);
    c->status = resp.status;
    snprintf(c->retry_after, sizeof(c->retry_after), "%s", resp.retry_after);
    hl_testd_resp_free(&resp);
    atomic_store(&c->done, true);
    return NULL;
}

/* Statistics statements waiting for the rollup: readers (the merger would write). pg_locks, not
 * pg_stat_activity, which a transaction sees as of its first look. */
static long waiting_statements(PGconn *conn)
{
    PGresult *res = PQexec(conn, "SELECT count(*) FROM pg_locks WHERE NOT granted"
                                 " AND relation = 'stats_monthly'::regclass AND mode = 'AccessShareLock'");
    long n = PQresultStatus(res) == PGRES_TUPLES_OK ? atol(PQgetvalue(res, 0, 0)) : -1;

    PQclear(res);
    return n;
}

/* At most two statistics requests at once (half of the four HTTP threads): with two held (the
 * rollup locked), a third is 503 with Retry-After at once, and /healthz and intake still answer
 * at once. The second starts once the first waits: a thread busy with statistics accepts no
 * connection, so each lands on a thread of its own. */
Test(stats_network, statistics_run_under_a_concurrency_limit)
{
    const char *path = "/v1/stats?from=2025-01-01&to=2025-12-31&by=gender";
    PGconn *conn = hl_testd_db(&d);
    call_t held[2] = {{.token = d.tokens.network, .path = path}, {.token = d.tokens.network, .path = path}};
    call_t third = {.token = d.tokens.supervisor, .path = path};
    pthread_t th[3];
    double start;

    PQclear(PQexec(conn, "BEGIN"));
    PGresult *res = PQexec(conn, "LOCK TABLE stats_monthly IN ACCESS EXCLUSIVE MODE");
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(conn));
    PQclear(res);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(pthread_create(&th[i], NULL, call, &held[i]), 0);
        start = hl_testd_now();
        while (waiting_statements(conn) < i + 1 && hl_testd_now() - start < 2.0)
            nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
        cr_assert_eq(waiting_statements(conn), i + 1, "statistics request %d waits for the lock", i + 1);
    }
    /* The third in a thread of its own too: without the limit it would wait for the lock. */
    start = hl_testd_now();
    cr_assert_eq(pthread_create(&th[2], NULL, call, &third), 0);
    while (!atomic_load(&third.done) && hl_testd_now() - start < 1.0)
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    cr_expect(atomic_load(&third.done), "the third request is answered at once");
    long health = 0;
    json_decref(get(NULL, "/healthz", &health, NULL));
    cr_expect_eq(health, 200);
    post_contacts(d.tokens.frontend, "2025-02-02", "girl", 1);
    cr_expect_lt(hl_testd_now() - start, 1.0, "the third request, /healthz and a POST answer at once");
    PQclear(PQexec(conn, "ROLLBACK"));
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pthread_join(th[i], NULL), 0);
    cr_expect_eq(third.status, 503);
    cr_expect_str_eq(third.retry_after, "5");
    for (int i = 0; i < 2; i++)
        cr_expect_eq(held[i].status, 200);
    /* The slots are free again. */
    json_decref(get(d.tokens.supervisor, path, &third.status, NULL));
    cr_expect_eq(third.status, 200);
    PQfinish(conn);
}

/* ---- casework: referrals and case status changes (issue 16, acceptance 4) ------------------- */

TestSuite(stats_casework, .init = setup_network, .fini = teardown, .timeout = 120);

/* METHOD PATH with TOKEN and BODY (JSON or NULL): the status, *OUT the reply (NULL: released). */
static long cw_call(json_t **out, const char *method, const char *token, const char *path, const char *body)
{
    long status = 0;
    json_t *r = hl_testd_request(&d, method, path, token, body != NULL ? "application/json" : NULL, body,
                                 &status, NULL);

    if (out != NULL)
        *out = r;
    else
        json_decref(r);
    return status;
}

/* A new case of amina's; its id in ID. */
static void cw_case(char id[64])
{
    json_t *r = NULL;

    cr_assert_eq(cw_call(&r, "POST", d.tokens.counsellor, "/v1/cases", "{\"label\": \"follow-up\"}"), 201);
    snprintf(id, 64, "%s", it_str(r, "id"));
    json_decref(r);
}

/* N referrals of case CASE_ID to TO in STATE, made through the API; the last one's id in RID. */
static void cw_refer(const char *case_id, const char *to, const char *state, int n, char rid[64])
{
    char path[128], body[160];

    snprintf(path, sizeof(path), "/v1/cases/%s/referrals", case_id);
    snprintf(body, sizeof(body), "{\"to\": \"%s\", \"state\": \"%s\"}", to, state);
    for (int i = 0; i < n; i++) {
        json_t *r = NULL;

        cr_assert_eq(cw_call(&r, "POST", d.tokens.counsellor, path, body), 201);
        if (rid != NULL)
            snprintf(rid, 64, "%s", it_str(r, "id"));
        json_decref(r);
    }
}

/* PATCH /v1/cases/CASE_ID with BODY: 200. */
static void cw_patch(const char *token, const char *path, const char *body)
{
    json_t *r = NULL;
    long status = cw_call(&r, "PATCH", token, path, body);

    cr_assert_eq(status, 200, "PATCH %s %s: %ld %s", path, body, status, r != NULL ? json_dumps(r, 0) : "");
    json_decref(r);
}

/* The whole calendar months the referrals and timelines were written in (the daemon's clock):
 * FROM, TO and the quarter. The test needs them in one quarter. */
static void cw_period(char from[16], char to[16], int *year, int *quarter)
{
    long first = it_scalar(&d, "SELECT min(extract(year FROM at AT TIME ZONE 'UTC') * 12"
                               " + extract(month FROM at AT TIME ZONE 'UTC') - 1) FROM case_entries");
    long last = it_scalar(&d, "SELECT max(extract(year FROM at AT TIME ZONE 'UTC') * 12"
                              " + extract(month FROM at AT TIME ZONE 'UTC') - 1) FROM case_entries");
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int fy = (int)(first / 12) % 10000, fm = (int)(first % 12) + 1;
    int ly = (int)(last / 12) % 10000, lm = (int)(last % 12) + 1;

    if (fy != ly || (fm - 1) / 3 != (lm - 1) / 3)
        cr_skip_test("the test ran across the end of a quarter");
    snprintf(from, 16, "%04d-%02d-01", fy, fm);
    snprintf(to, 16, "%04d-%02d-%02d", ly, lm,
             days[lm - 1] + (lm == 2 && ly % 4 == 0 && (ly % 100 != 0 || ly % 400 == 0)));
    *year = ly;
    *quarter = (lm - 1) / 3 + 1;
}

/* The cell of a /v1/stats reply or report table with dimension values A and B (B NULL: a
 * one-dimensional table): its count, -1 when suppressed, 0 when absent. */
static long cw_cell(json_t *cells, const char *da, const char *a, const char *db, const char *b)
{
    json_t *cell;
    size_t i;

    json_array_foreach(cells, i, cell)
    {
        if (strcmp(it_str(cell, da), a) != 0 || (b != NULL && strcmp(it_str(cell, db), b) != 0))
            continue;
        if (json_is_true(json_object_get(cell, "suppressed")))
            return -1;
        return (long)json_integer_value(json_object_get(cell, "count"));
    }
    return 0;
}

static long ref_cell(json_t *reply, const char *to, const char *state)
{
    return cw_cell(json_object_get(reply, "cells"), "referral_to", to, "referral_state", state);
}

/*
 * GET /v1/stats?by=referral_to,referral_state over FROM..TO with TOKEN against the referrals
 * themselves: every published count is the number of referrals made in the period with that
 * `to` and current state, none is below k, a suppressed cell is a non-zero one, and every
 * non-zero count is listed. Returns the reply.
 */
static json_t *check_referrals(const char *token, const char *from, const char *to)
{
    char path[256], sql[512];
    long status = 0;
    json_t *reply, *direct, *cell, *v;
    size_t i;
    const char *key;

    snprintf(path, sizeof(path), "/v1/stats?from=%s&to=%s&by=referral_to,referral_state", from, to);
    reply = get(token, path, &status, NULL);
    cr_assert_eq(status, 200, "%s: %ld", path, status);
    snprintf(
        sql, sizeof(sql),
        "SELECT coalesce(json_object_agg(k, n), '{}')::text FROM (SELECT referral_to || '|' || state AS k,"
        " count(*) AS n FROM referrals WHERE created_at >= '%s' AND created_at < '%s'::date + 1 GROUP BY 1) "
        "x",
        from, to);
    PGconn *conn = hl_testd_db(&d);
    PGresult *res = PQexec(conn, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
    direct = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    PQfinish(conn);
    cr_assert_not_null(direct);
    json_array_foreach(json_object_get(reply, "cells"), i, cell)
    {
        char k[160];
        snprintf(k, sizeof(k), "%s|%s", it_str(cell, "referral_to"), it_str(cell, "referral_state"));
        json_t *want = json_object_get(direct, k), *count = json_object_get(cell, "count");
        if (json_is_true(json_object_get(cell, "suppressed"))) {
            cr_assert(json_is_null(count), "%s %s: a suppressed cell shows a count", path, k);
            cr_assert_not_null(want, "%s %s: a zero cell was suppressed", path, k);
        } else {
            json_int_t c = json_integer_value(count);
            cr_assert(c == 0 || c >= K, "%s %s: published %lld below k", path, k, (long long)c);
            cr_assert_eq(c, want != NULL ? json_integer_value(want) : 0, "%s %s", path, k);
        }
        json_object_del(direct, k);
    }
    json_object_foreach(direct, key, v)
    {
        cr_assert_fail("%s %s: %lld referrals, neither published nor suppressed", path, key,
                       (long long)json_integer_value(v));
    }
    json_decref(direct);
    return reply;
}

/* The quarterly report (JSON) as TOKEN gets it, parsed, validated and verified with demo's key. */
static json_t *cw_report(const char *token, int year, int quarter)
{
    char path[128], line[256], kid[64], b64[128], code[64], *text = NULL;
    const char *args[] = {"signing-key", "show", "--helpline", "demo", NULL};
    hl_testd_req_t req = {.method = "GET", .path = path, .token = token};
    hl_testd_resp_t resp;
    hl_report_error_t err = {{0}};
    json_t *doc = NULL;

    snprintf(path, sizeof(path), "/v1/reports/quarterly?year=%d&quarter=%d", year, quarter);
    hl_testd_do(&d, &req, &resp);
    cr_assert_eq(resp.status, 200);
    text = resp.body;
    cr_assert_eq(hl_report_parse(text, resp.body_len, &doc, &err), HL_OK, "%s", err.message);
    cr_assert_eq(hl_testd_admin(&d, line, sizeof(line), args), 0);
    cr_assert_eq(sscanf(line, "%63s ed25519 %63s %127s", code, kid, b64), 3, "%s", line);
    cr_assert_eq(hl_report_verify_b64(doc, b64), HL_OK, "the report's signature");
    hl_testd_resp_free(&resp);
    return doc;
}

/*
 * Referrals made through the API appear in /v1/stats by referral_to x referral_state, counted
 * against the referrals table, suppressed below k; a state change moves a referral from one
 * cell to another; the signed quarterly report carries the same counts in its referral table
 * and the cases opened, put in progress and closed in its case_status table (JSON and CSV).
 */
Test(stats_casework, referrals_by_to_and_state_and_the_report)
{
    char c1[64], c2[64], rids[12][64], path[1024], from[16], to[16];
    int year, quarter;
    long status = 0;
    json_t *r;

    cw_case(c1);
    for (int i = 0; i < 12; i++)
        cw_refer(c1, "referral.law_enforcement", "made", 1, rids[i]);
    cw_case(c2);
    cw_refer(c2, "referral.healthcare", "made", 6, NULL);
    cw_refer(c2, "referral.mental_health", "made", 1, NULL);
    cw_period(from, to, &year, &quarter);

    /* mental health's 1 is below k; healthcare's 6 is its complement in the made column */
    r = check_referrals(d.tokens.supervisor, from, to);
    cr_expect_eq(ref_cell(r, "referral.law_enforcement", "made"), 12);
    cr_expect_eq(ref_cell(r, "referral.law_enforcement", "accepted"), 0);
    cr_expect_eq(ref_cell(r, "referral.mental_health", "made"), -1);
    cr_expect_eq(ref_cell(r, "referral.healthcare", "made"), -1);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(r, "total_referrals"), "count")), 19);
    cr_expect_null(json_object_get(r, "total_contacts"), "a referral table counts referrals");
    json_decref(r);

    /* six of the law enforcement referrals accepted: they move */
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof(path), "/v1/cases/%s/referrals/%s", c1, rids[i]);
        cw_patch(d.tokens.counsellor, path, "{\"state\": \"accepted\"}");
    }
    r = check_referrals(d.tokens.supervisor, from, to);
    cr_expect_eq(ref_cell(r, "referral.law_enforcement", "made"), 6);
    cr_expect_eq(ref_cell(r, "referral.law_enforcement", "accepted"), 6);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(r, "total_referrals"), "count")), 19);
    json_decref(r);
    /* network users: the same month, as a slice of its own */
    r = check_referrals(d.tokens.network, from, to);
    cr_expect_eq(ref_cell(r, "referral.law_enforcement", "accepted"), 6);
    cr_expect_eq(ref_cell(r, "referral.mental_health", "made"), -1);
    json_decref(r);
    /* the same with month, in another order */
    snprintf(path, sizeof(path), "/v1/stats?from=%s&to=%s&by=month,referral_state,referral_to", from, to);
    r = get(d.tokens.network, path, &status, NULL);
    cr_assert_eq(status, 200);
    cr_expect_eq(ref_cell(r, "referral.law_enforcement", "accepted"), 6);
    cr_expect_eq(ref_cell(r, "referral.law_enforcement", "made"), 6);
    json_decref(r);

    /* case status changes: 7 cases opened (2 above, 5 here), 5 put in progress, 5 closed */
    for (int i = 0; i < 5; i++) {
        char id[64];
        cw_case(id);
        snprintf(path, sizeof(path), "/v1/cases/%s", id);
        cw_patch(d.tokens.counsellor, path, "{\"status\": \"in_progress\"}");
        cw_patch(d.tokens.supervisor, path, "{\"status\": \"closed\"}");
    }
    snprintf(path, sizeof(path), "/v1/stats?from=%s&to=%s&by=case_status", from, to);
    r = get(d.tokens.supervisor, path, &status, NULL);
    cr_assert_eq(status, 200);
    cr_expect_eq(cw_cell(json_object_get(r, "cells"), "case_status", "open", NULL, NULL), 7);
    cr_expect_eq(cw_cell(json_object_get(r, "cells"), "case_status", "in_progress", NULL, NULL), 5);
    cr_expect_eq(cw_cell(json_object_get(r, "cells"), "case_status", "closed", NULL, NULL), 5);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(r, "total_status_changes"), "count")),
                 17);
    json_decref(r);

    /* the signed report: the same referral counts (the quarter's months added up), and cases */
    json_t *doc = cw_report(d.tokens.network, year, quarter);
    json_t *tables = json_object_get(doc, "tables"), *ref = json_object_get(tables, "referral");
    json_t *cs = json_object_get(tables, "case_status");
    cr_assert_not_null(ref);
    cr_assert_not_null(cs);
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(ref, "dimensions"), 0)), "referral_to");
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(ref, "dimensions"), 1)),
                     "referral_state");
    cr_expect_eq(json_array_size(json_object_get(ref, "cells")), 6 * 4, "dense: every to and state");
    json_t *cells = json_object_get(ref, "cells");
    cr_expect_eq(cw_cell(cells, "referral_to", "referral.law_enforcement", "referral_state", "accepted"), 6);
    cr_expect_eq(cw_cell(cells, "referral_to", "referral.law_enforcement", "referral_state", "made"), 6);
    cr_expect_eq(cw_cell(cells, "referral_to", "referral.mental_health", "referral_state", "made"), -1);
    cr_expect_eq(cw_cell(json_object_get(cs, "cells"), "case_status", "open", NULL, NULL), 7);
    cr_expect_eq(cw_cell(json_object_get(cs, "cells"), "case_status", "closed", NULL, NULL), 5);
    cr_expect_eq(json_integer_value(json_object_get(cs, "total")), 17);
    json_decref(doc);
    snprintf(path, sizeof(path), "/v1/reports/quarterly?year=%d&quarter=%d&format=csv", year, quarter);
    hl_testd_req_t req = {.method = "GET", .path = path, .token = d.tokens.admin};
    hl_testd_resp_t resp;
    hl_testd_do(&d, &req, &resp);
    cr_assert_eq(resp.status, 200);
    cr_expect(
        strstr(
            resp.body,
            "\r\nreferral,cell,referral_to,referral.law_enforcement,referral_state,accepted,6,false\r\n") !=
            NULL,
        "%s", resp.body);
    cr_expect(strstr(resp.body, "\r\ncase_status,cell,case_status,in_progress,,,5,false\r\n") != NULL, "%s",
              resp.body);
    cr_expect(strstr(resp.body,
                     "\r\nreferral,cell,referral_to,referral.mental_health,referral_state,made,,true\r\n") !=
                  NULL,
              "%s", resp.body);
    hl_testd_resp_free(&resp);
}

/* Bad queries: units mixed, unknown or repeated dimensions, and the network's whole months. */
Test(stats_casework, bad_dimension_combinations)
{
    static const char *const mixed[] = {"referral_to,gender", "category,referral_state",
                                        "case_status,referral_to", "month,channel,case_status"};
    char path[1024];
    long status = 0;
    json_t *r;

    for (size_t i = 0; i < sizeof(mixed) / sizeof(mixed[0]); i++) {
        snprintf(path, sizeof(path), "/v1/stats?from=2026-07-01&to=2026-09-30&by=%s", mixed[i]);
        r = get(d.tokens.supervisor, path, &status, NULL);
        cr_expect_eq(status, 400, "%s: %ld", path, status);
        cr_expect_str_eq(it_str(r, "error/field"), "by", "%s", path);
        const char *message = it_str(r, "error/message");
        cr_expect(message != NULL && strstr(message, "mix") != NULL, "%s: %s", path, message ? message : "");
        json_decref(r);
    }
    expect_400(d.tokens.supervisor, "/v1/stats?from=2026-07-01&to=2026-09-30&by=referral", "by");
    expect_400(d.tokens.supervisor, "/v1/stats?from=2026-07-01&to=2026-09-30&by=referral_to,referral_to",
               "by");
    expect_400(d.tokens.network, "/v1/stats?from=2026-07-02&to=2026-09-30&by=referral_to", "from");
    expect_400(d.tokens.network, "/v1/stats?from=2026-07-01&to=2026-09-29&by=case_status", "to");
    r = get(d.tokens.counsellor, "/v1/stats?from=2026-07-01&to=2026-09-30&by=referral_to", &status, NULL);
    cr_expect_eq(status, 403, "counsellors read no statistics");
    json_decref(r);
    /* an empty period: a table of zeros with its total */
    r = get(d.tokens.network, "/v1/stats?from=2020-01-01&to=2020-12-31&by=month,case_status", &status, NULL);
    cr_expect_eq(status, 200);
    cr_expect_eq(json_array_size(json_object_get(r, "cells")), 0);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(r, "total_status_changes"), "count")), 0);
    json_decref(r);
}
