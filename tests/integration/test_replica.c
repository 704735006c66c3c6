/*
 * A read replica (issue 14, docs/scale-out.md "Read replica"): a primary of the test's own and a
 * real streaming standby of it (pg_basebackup -R), made once (most of the test's time).
 *
 * With read_database_url = the standby, statistics and lists are read from the standby (replay
 * paused: they stand still while the primary has the new contacts), while contacts, audit rows
 * and reads of one contact go to the primary; /healthz and /metrics show the replay lag, 0 while
 * the primary is idle. With the standby down, statistics answer 503 and intake goes on. A daemon
 * whose database_url is the standby says so at start-up, spools (202) and reads "read_only"
 * until the standby is promoted; then the spool is stored there.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

#define N_FIRST  5 /* k_min: fewer would be suppressed */
#define N_SECOND 5
#define STATS    "/v1/stats?from=2026-11-01&to=2026-11-30&by=channel"
/* A caught-up standby's lag at most (the probe's interval, 0.5 s, is its resolution). */
#define IDLE_LAG_MAX 0.5

static hl_testd_t d;
static hl_testpg_t primary, standby;

static void teardown(void)
{
    hl_testd_stop(&d);
    hl_testpg_destroy(&standby);
    hl_testpg_destroy(&primary);
}

TestSuite(replica, .fini = teardown, .timeout = 120);

/* The first column of the first row of SQL on CONNINFO (malloc'd; NULL: no row or NULL). */
static char *query(const char *conninfo, const char *sql)
{
    PGconn *conn = PQconnectdb(conninfo);
    PGresult *res;
    char *v = NULL;

    cr_assert_eq(PQstatus(conn), CONNECTION_OK, "%s", PQerrorMessage(conn));
    res = PQexec(conn, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(conn));
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        v = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(conn);
    return v;
}

static long count(const char *conninfo, const char *sql)
{
    char *v = query(conninfo, sql);
    long n = v != NULL ? strtol(v, NULL, 10) : -1;

    free(v);
    return n;
}

/* A primary and its standby, the standby streaming. */
static void clusters(void)
{
    hl_testpg_create(&primary);
    hl_testpg_create_standby(&standby, &primary);
    char *in_recovery = query(standby.conninfo, "SELECT pg_is_in_recovery()");
    cr_assert_str_eq(in_recovery, "t", "the standby is not in recovery");
    free(in_recovery);
}

static void post(const char *prefix, int n, long want)
{
    char id[64];

    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "%s-%d", prefix, i);
        long status = it_post(&d, d.tokens.frontend, it_contact(id), NULL);
        cr_assert_eq(status, want, "POST %s: %ld, expected %ld", id, status, want);
    }
}

/* How many contacts GET /v1/contacts lists (supervisor: the helpline's, one page of up to 200). */
static long listed(void)
{
    long status, n;
    json_t *r =
        hl_testd_request(&d, "GET", "/v1/contacts?limit=200", d.tokens.supervisor, NULL, NULL, &status, NULL);

    cr_assert_eq(status, 200, "GET /v1/contacts: %ld", status);
    n = (long)json_array_size(json_object_get(r, "items"));
    json_decref(r);
    return n;
}

/* total_contacts of GET /v1/stats (supervisor). */
static long stats_total(void)
{
    long status, total;
    json_t *r = hl_testd_request(&d, "GET", STATS, d.tokens.supervisor, NULL, NULL, &status, NULL);

    cr_assert_eq(status, 200, "GET /v1/stats: %ld", status);
    total = (long)json_integer_value(json_object_get(json_object_get(r, "total_contacts"), "count"));
    json_decref(r);
    return total;
}

typedef struct {
    long status;
    char database[16]; /* the primary's */
    bool has_replica;
    char replica[16];
    bool standby;
    bool lag_known;
    double lag_seconds;
    long lag_bytes;
} health_t;

static health_t healthz(void)
{
    long status;
    json_t *r = hl_testd_request(&d, "GET", "/healthz", NULL, NULL, NULL, &status, NULL);
    json_t *rep = json_object_get(r, "replica");
    health_t h = {.status = status};

    snprintf(h.database, sizeof(h.database), "%s", it_str(r, "database") ? it_str(r, "database") : "");
    h.has_replica = rep != NULL;
    snprintf(h.replica, sizeof(h.replica), "%s", it_str(rep, "database") ? it_str(rep, "database") : "");
    h.standby = json_is_true(json_object_get(rep, "standby"));
    h.lag_known = json_is_number(json_object_get(rep, "lag_seconds"));
    h.lag_seconds = json_number_value(json_object_get(rep, "lag_seconds"));
    h.lag_bytes = (long)json_integer_value(json_object_get(rep, "lag_bytes"));
    if (rep != NULL)
        cr_assert(json_is_number(json_object_get(rep, "lag_seconds")) ==
                      json_is_integer(json_object_get(rep, "lag_bytes")),
                  "lag_seconds and lag_bytes are known together");
    json_decref(r);
    return h;
}

/* /healthz until PRED holds, at most DEADLINE_S seconds. */
static health_t wait_health(bool (*pred)(const health_t *), double deadline_s, const char *what)
{
    double t0 = hl_testd_now();
    health_t h;

    for (;;) {
        h = healthz();
        if (pred(&h))
            return h;
        cr_assert_lt(hl_testd_now() - t0, deadline_s,
                     "/healthz: not %s after %.1f s (replica %s, lag %.3f s, %ld bytes)", what, deadline_s,
                     h.replica, h.lag_seconds, h.lag_bytes);
        usleep(50 * 1000);
    }
}

static bool caught_up(const health_t *h)
{
    return h->status == 200 && strcmp(h->replica, "up") == 0 && h->standby && h->lag_known &&
           h->lag_seconds == 0 && h->lag_bytes == 0;
}

static bool lagging_a_second(const health_t *h)
{
    return strcmp(h->replica, "up") == 0 && h->lag_known && h->lag_seconds >= 1.0 && h->lag_bytes > 0;
}

static bool replica_down(const health_t *h)
{
    return h->has_replica && strcmp(h->replica, "down") == 0;
}

static bool read_only(const health_t *h)
{
    return h->status == 200 && strcmp(h->database, "read_only") == 0;
}

static bool up(const health_t *h)
{
    return h->status == 200 && strcmp(h->database, "up") == 0;
}

/* The value of METRIC in /metrics (admin token); false when absent. */
static bool metric(const char *name, double *v)
{
    char *text = NULL, needle[128];
    long status;
    json_t *r = hl_testd_request(&d, "GET", "/metrics", d.tokens.admin, NULL, NULL, &status, &text);
    const char *at;

    json_decref(r);
    cr_assert_eq(status, 200, "/metrics: %ld", status);
    snprintf(needle, sizeof(needle), "\n%s ", name);
    at = strstr(text, needle);
    if (at != NULL)
        *v = strtod(at + strlen(needle), NULL);
    free(text);
    return at != NULL;
}

static bool log_has(const char *line)
{
    char *log = hl_testd_read_file(d.log, NULL);
    bool found = log != NULL && strstr(log, line) != NULL;

    free(log);
    return found;
}

/* With read_database_url = the standby: statistics from the standby (replay paused: they stand
 * still while the primary has the new contacts), contacts, audit rows and a contact's reads on
 * the primary, the lag in /healthz and /metrics (0 while the primary is idle). */
static void reads_from_the_standby(void)
{
    double v, t0, max_idle_lag = 0;
    health_t h;
    json_t *reply = NULL;

    h = wait_health(caught_up, 10.0, "caught up");
    cr_expect_str_eq(h.database, "up");
    cr_expect(log_has("read_database_url is a hot standby"), "the start-up log names the standby");

    post("first", N_FIRST, 201);
    t0 = hl_testd_now();
    while (stats_total() != N_FIRST) {
        cr_assert_lt(hl_testd_now() - t0, 10.0, "the standby's statistics never showed %d contacts", N_FIRST);
        usleep(20 * 1000);
    }
    cr_log_info("statistics on the standby %.3f s after the last POST", hl_testd_now() - t0);

    /* An idle primary: the lag stays 0, or within a probe interval of it when something (the
     * merger, autovacuum) writes a little WAL (now() - pg_last_xact_replay_timestamp() would grow
     * by a second a second). */
    wait_health(caught_up, 5.0, "caught up after the first contacts");
    for (t0 = hl_testd_now(); hl_testd_now() - t0 < 2.0; usleep(100 * 1000)) {
        h = healthz();
        cr_assert(h.lag_known);
        if (h.lag_seconds > max_idle_lag)
            max_idle_lag = h.lag_seconds;
    }
    cr_expect_lt(max_idle_lag, IDLE_LAG_MAX, "an idle primary's standby read %.3f s behind", max_idle_lag);
    cr_log_info("idle primary: lag at most %.3f s over 2 s", max_idle_lag);

    /* Replay paused: new contacts go to the primary (201), the statistics stay the standby's. */
    free(query(standby.conninfo, "SELECT pg_wal_replay_pause()"));
    t0 = hl_testd_now();
    while (count(standby.conninfo, "SELECT (pg_get_wal_replay_pause_state() = 'paused')::int") != 1) {
        cr_assert_lt(hl_testd_now() - t0, 5.0, "replay did not pause");
        usleep(20 * 1000);
    }
    post("second", N_SECOND - 1, 201);
    cr_assert_eq(it_post(&d, d.tokens.frontend, it_contact("second-last"), &reply), 201);
    cr_assert_eq(count(primary.conninfo, "SELECT count(*) FROM contacts"), N_FIRST + N_SECOND);
    cr_assert_eq(count(standby.conninfo, "SELECT count(*) FROM contacts"), N_FIRST);

    /* One contact is read from the primary (it must see its own writes), with its audit row. */
    char path[128];
    long status, audits = count(primary.conninfo, "SELECT count(*) FROM audit_log");
    snprintf(path, sizeof(path), "/v1/contacts/%s", it_str(reply, "id"));
    json_decref(reply);
    json_decref(hl_testd_request(&d, "GET", path, d.tokens.admin, NULL, NULL, &status, NULL));
    cr_expect_eq(status, 200, "GET %s while the standby lags: %ld", path, status);
    cr_expect_eq(count(primary.conninfo, "SELECT count(*) FROM audit_log"), audits + 1,
                 "the sensitive read's audit row is on the primary");

    /* The lag shows, and grows while the statistics stand still. */
    h = wait_health(lagging_a_second, 5.0, "lagging by a second");
    cr_assert_eq(h.status, 200, "a lagging replica does not take the daemon out");
    cr_expect_str_eq(h.database, "up");
    cr_log_info("paused: lag %.3f s, %ld bytes", h.lag_seconds, h.lag_bytes);
    cr_expect_eq(stats_total(), N_FIRST, "statistics are read from the standby, whose replay is paused");
    cr_expect_eq(listed(), N_FIRST, "lists are read from the standby, whose replay is paused");
    cr_assert(metric("helpline_replica_up", &v));
    cr_expect_eq(v, 1);
    cr_assert(metric("helpline_replica_lag_seconds", &v), "no helpline_replica_lag_seconds");
    cr_expect_geq(v, 1.0, "helpline_replica_lag_seconds %.3f", v);
    cr_assert(metric("helpline_replica_lag_bytes", &v));
    cr_expect_gt(v, 0);

    /* Resumed: the statistics catch up and the lag is 0 again. */
    free(query(standby.conninfo, "SELECT pg_wal_replay_resume()"));
    t0 = hl_testd_now();
    while (stats_total() != N_FIRST + N_SECOND) {
        cr_assert_lt(hl_testd_now() - t0, 10.0, "the statistics did not catch up after the resume");
        usleep(20 * 1000);
    }
    cr_log_info("statistics caught up %.3f s after the resume", hl_testd_now() - t0);
    cr_expect_eq(listed(), N_FIRST + N_SECOND);
    wait_health(caught_up, 5.0, "caught up after the resume");
    cr_assert(metric("helpline_replica_lag_seconds", &v));
    cr_expect_lt(v, IDLE_LAG_MAX);
}

/* The standby stopped: statistics answer 503; intake and /healthz's status do not change. */
static void standby_down(void)
{
    long status;
    double v;

    hl_testpg_stop(&standby);
    health_t h = wait_health(replica_down, 5.0, "replica down");
    cr_expect_eq(h.status, 200);
    cr_expect_str_eq(h.database, "up");
    cr_expect_not(h.lag_known, "no lag for a replica that does not answer");
    json_decref(hl_testd_request(&d, "GET", STATS, d.tokens.supervisor, NULL, NULL, &status, NULL));
    cr_expect_eq(status, 503, "GET /v1/stats with the standby down: %ld", status);
    post("while-standby-down", 1, 201);
    cr_assert(metric("helpline_replica_up", &v));
    cr_expect_eq(v, 0);
    cr_expect_not(metric("helpline_replica_lag_seconds", &v), "no lag sample while unknown");
    cr_expect(log_has("read_database_url is down"));
    hl_testpg_start(&standby);
    wait_health(caught_up, 10.0, "caught up after the standby's restart");
}

/* The daemon's config: KEY's line set to VALUE, or removed (VALUE NULL). */
static void set_conf(const char *key, const char *value)
{
    size_t len, klen = strlen(key);
    char *conf = hl_testd_read_file(d.conf, &len), *p;
    FILE *f = fopen(d.conf, "w");

    cr_assert_not_null(conf);
    cr_assert_not_null(f);
    for (p = conf; *p != '\0';) {
        char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) + 1 : strlen(p);
        if (!(strncmp(p, key, klen) == 0 && strncmp(p + klen, " = ", 3) == 0))
            fwrite(p, 1, n, f);
        p += n;
    }
    if (value != NULL)
        fprintf(f, "%s = %s\n", key, value);
    cr_assert_eq(fclose(f), 0);
    free(conf);
}

/* database_url at the standby: the start-up log says so, contacts are spooled (202), /healthz says
 * read_only; promoted, the standby takes the spooled contact. */
static void daemon_on_the_standby(void)
{
    double v, t0;

    cr_assert_eq(hl_testd_term(&d), 0);
    set_conf("database_url", standby.conninfo);
    set_conf("read_database_url", NULL);
    hl_testd_restart_database_down(&d);

    health_t h = wait_health(read_only, 5.0, "read_only");
    cr_expect_not(h.has_replica, "no read_database_url, no replica in /healthz");
    cr_expect(log_has("database_url points at a standby (read-only): contacts will be spooled until it is "
                      "promoted or database_url is changed"),
              "no start-up error naming the standby");
    post("on-standby", 1, 202);
    cr_assert(metric("helpline_database_read_only", &v));
    cr_expect_eq(v, 1);
    cr_expect_not(metric("helpline_replica_up", &v), "no replica metrics without read_database_url");

    /* Promoted: the daemon stores what it spooled there. */
    free(query(standby.conninfo, "SELECT pg_promote()"));
    wait_health(up, 10.0, "up after the promotion");
    t0 = hl_testd_now();
    while (count(standby.conninfo, "SELECT count(*) FROM contacts WHERE source_id = 'on-standby-0'") != 1) {
        cr_assert_lt(hl_testd_now() - t0, 10.0, "the spooled contact was not stored after the promotion");
        usleep(50 * 1000);
    }
}

/* One primary and standby for all three (making them is most of the time). */
Test(replica, reads_from_a_standby_and_a_daemon_pointed_at_one)
{
    hl_testd_opts_t opts = {.conninfo = primary.conninfo, .read_conninfo = standby.conninfo};
    double t0 = hl_testd_now();

    clusters();
    cr_log_info("primary and standby made in %.2f s", hl_testd_now() - t0);
    hl_testd_start(&d, &opts);
    reads_from_the_standby();
    standby_down();
    daemon_on_the_standby();
    cr_log_info("%.2f s in all", hl_testd_now() - t0);
}
