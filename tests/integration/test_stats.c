/*
 * /v1/stats against the contacts themselves: after a synthetic quarter posted through the API
 * (and a few PATCHes that move contacts between cells), every `by` combination of one to three
 * dimensions publishes no non-zero count below k, every published count equals a direct count
 * over the contacts table, and every non-zero count is either published or suppressed.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "itest.h"
#include <libpq-fe.h>

static hl_testd_t d;

static const char *const dims[] = {"category", "subcategory",  "age_band", "gender",
                                   "channel",  "contact_type", "region",   "month"};
#define N_DIMS 8
#define K      5

/* The direct count's expression for each dimension (contacts c, categories cc). */
static const char *const dim_sql[] = {"split_part(cc.code, '.', 1)",
                                      "cc.code",
                                      "helpline_age_band(c.child_age)",
                                      "coalesce(c.child_gender, 'unknown')",
                                      "c.channel",
                                      "c.contact_type",
                                      "coalesce(c.child_region, 'unknown')",
                                      "to_char(c.started_at AT TIME ZONE 'UTC', 'YYYY-MM')"};

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
