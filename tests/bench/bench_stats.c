/*
 * bench-stats: the latency of GET /v1/stats (rollup + disclosure control) against the
 * equivalent GROUP BY over the contacts table, on the same database in the same run.
 * tests/bench/bench_stats.sh loads the data and starts the daemon; this program measures.
 *
 *   bench_stats --url http://127.0.0.1:PORT --token TOKEN --conninfo CONNINFO
 *               [--from 2026-07-01 --to 2026-09-30] [--runs 21] [--sql-runs 3]
 */
#include <curl/curl.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static size_t sink(void *p, size_t size, size_t n, void *arg)
{
    size_t *total = arg;

    (void)p;
    *total += size * n;
    return size * n;
}

/* The same cells /v1/stats?by=category,age_band,gender computes, straight from the contacts. */
static const char group_by_sql[] =
    "SELECT split_part(cc.code, '.', 1) AS category, helpline_age_band(c.child_age) AS age_band,"
    " coalesce(c.child_gender, 'unknown') AS gender, count(DISTINCT c.id)"
    " FROM contacts c JOIN contact_categories cc ON cc.contact_id = c.id AND cc.source IN ('given', 'mapped')"
    " WHERE c.helpline_id = 1 AND c.started_at >= $1::date AND c.started_at < $2::date + 1"
    " GROUP BY 1, 2, 3";

int main(int argc, char **argv)
{
    const char *url = NULL, *token = NULL, *conninfo = NULL, *from = "2026-07-01", *to = "2026-09-30";
    int runs = 21, sql_runs = 3;
    double *http_ms, *sql_ms;
    char full[512], auth[256];
    size_t bytes = 0;
    long status = 0;
    int rows = 0;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--url") == 0)
            url = argv[i + 1];
        else if (strcmp(argv[i], "--token") == 0)
            token = argv[i + 1];
        else if (strcmp(argv[i], "--conninfo") == 0)
            conninfo = argv[i + 1];
        else if (strcmp(argv[i], "--from") == 0)
            from = argv[i + 1];
        else if (strcmp(argv[i], "--to") == 0)
            to = argv[i + 1];
        else if (strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--sql-runs") == 0)
            sql_runs = atoi(argv[i + 1]);
    }
    if (url == NULL || token == NULL || conninfo == NULL || runs < 1 || sql_runs < 1) {
        fprintf(stderr,
                "usage: bench_stats --url URL --token TOKEN --conninfo CONNINFO [--runs N] [--sql-runs N]\n");
        return 2;
    }
    http_ms = calloc((size_t)runs, sizeof(double));
    sql_ms = calloc((size_t)sql_runs, sizeof(double));
    snprintf(full, sizeof(full), "%s/v1/stats?from=%s&to=%s&by=category,age_band,gender", url, from, to);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    curl_easy_setopt(curl, CURLOPT_URL, full);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &bytes);
    for (int i = 0; i <= runs; i++) { /* run 0 warms the connection and caches */
        double t0 = now_ms();
        if (curl_easy_perform(curl) != CURLE_OK) {
            fprintf(stderr, "bench_stats: request failed\n");
            return 1;
        }
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200) {
            fprintf(stderr, "bench_stats: /v1/stats answered %ld\n", status);
            return 1;
        }
        if (i > 0)
            http_ms[i - 1] = now_ms() - t0;
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);

    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "bench_stats: %s", PQerrorMessage(conn));
        return 1;
    }
    const char *params[2] = {from, to};
    for (int i = 0; i < sql_runs; i++) {
        double t0 = now_ms();
        PGresult *res = PQexecParams(conn, group_by_sql, 2, NULL, params, NULL, NULL, 0);
        sql_ms[i] = now_ms() - t0;
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            fprintf(stderr, "bench_stats: GROUP BY failed: %s", PQerrorMessage(conn));
            return 1;
        }
        rows = PQntuples(res);
        PQclear(res);
    }
    PQfinish(conn);

    qsort(http_ms, (size_t)runs, sizeof(double), cmp_double);
    qsort(sql_ms, (size_t)sql_runs, sizeof(double), cmp_double);
    double http_median = http_ms[runs / 2], sql_median = sql_ms[sql_runs / 2];
    printf("GET /v1/stats by=category,age_band,gender %s..%s: median %.2f ms, p90 %.2f ms, max %.2f ms "
           "(%d runs, %zu bytes per reply)\n",
           from, to, http_median, http_ms[(runs * 9) / 10], http_ms[runs - 1], runs,
           bytes / (size_t)(runs + 1));
    printf("GROUP BY over contacts (same cells, %d rows): median %.1f ms (%d runs)\n", rows, sql_median,
           sql_runs);
    printf("ratio GROUP BY / stats: %.0fx\n", sql_median / http_median);
    free(http_ms);
    free(sql_ms);
    curl_global_cleanup();
    return 0;
}
