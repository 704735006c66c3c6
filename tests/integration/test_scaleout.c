/*
 * Several helplined against one PostgreSQL (issue 14, docs/scale-out.md): every contact posted
 * to two daemons at once is stored once, both answers carry its id, the statistics equal a
 * direct count once both mergers ran, and no transaction deadlocks; a SIGKILL of one daemon
 * loses no acknowledged contact while the other keeps answering; two daemons cannot share a
 * spool_dir; deploy/haproxy.cfg balances real traffic and keeps it flowing when a daemon dies.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

static hl_testd_t d1, d2;
static pid_t haproxy_pid;

static void teardown(void)
{
    if (haproxy_pid > 0) {
        int status;
        kill(haproxy_pid, SIGKILL);
        while (waitpid(haproxy_pid, &status, 0) < 0 && errno == EINTR)
            ;
        haproxy_pid = 0;
    }
    hl_testd_stop(&d2); /* the peer first: d1's stop drops the database */
    hl_testd_stop(&d1);
}

TestSuite(scaleout, .fini = teardown, .timeout = 180);

static void start_both(void)
{
    hl_testd_start(&d1, NULL);
    hl_testd_start_peer(&d2, &d1, NULL);
}

/* Contact I of a run: channels, genders, ages and categories spread so that every statistics
 * cell below holds well over k contacts. */
static void contact_body(const char *prefix, int i, char *buf, size_t len)
{
    static const char *const channels[] = {"phone", "sms", "chat", "email"};
    static const char *const genders[] = {"girl", "boy"};
    static const char *const codes[] = {"violence.bullying", "mental_health.self_harm", "sexuality"};
    int n = snprintf(buf, len,
                     "{\"source\":{\"system\":\"it\",\"id\":\"%s-%d\"},\"channel\":\"%s\","
                     "\"contact_type\":\"counselling\",\"started_at\":\"2026-11-%02dT10:00:00Z\","
                     "\"child\":{\"age\":%d,\"gender\":\"%s\",\"region\":\"rural\"},"
                     "\"caller\":{\"relationship\":\"self\",\"phone\":\"+2547%08d\"},"
                     "\"categories\":[\"%s\"],\"summary\":\"scale-out contact %d\"}",
                     prefix, i, channels[i % 4], 1 + i % 28, 8 + i % 10, genders[(i / 4) % 2],
                     40000000 + i % 97, codes[i % 3], i);

    cr_assert(n > 0 && (size_t)n < len);
}

/* ---- two keep-alive connections, one to each daemon, posting the same body at once -------- */

typedef struct {
    CURL *curl;
    struct curl_slist *headers;
    char reply[4096];
    size_t len;
} conn_t;

static size_t on_reply(char *data, size_t size, size_t n, void *arg)
{
    conn_t *c = arg;
    size_t len = size * n, room = sizeof(c->reply) - 1 - c->len;

    memcpy(c->reply + c->len, data, len < room ? len : room);
    c->len += len < room ? len : room;
    c->reply[c->len] = '\0';
    return len;
}

static void conn_open(conn_t *c, const hl_testd_t *d)
{
    char url[128], auth[HL_TESTD_TOKEN_LEN + 32];

    memset(c, 0, sizeof(*c));
    c->curl = curl_easy_init();
    cr_assert_not_null(c->curl);
    snprintf(url, sizeof(url), "%s/v1/contacts", d->url);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", d->tokens.frontend);
    c->headers = curl_slist_append(c->headers, auth);
    c->headers = curl_slist_append(c->headers, "Content-Type: application/json");
    c->headers = curl_slist_append(c->headers, "Expect:");
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_reply);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
}

static void conn_close(conn_t *c)
{
    curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
}

/* One answer: the HTTP status (0: none), the reply's "status" and "id". */
typedef struct {
    long http;
    char status[16];
    char id[40];
    char text[160]; /* the start of the reply, for a failure message */
} answer_t;

static void answer_from(conn_t *c, long http, answer_t *a)
{
    json_t *j = json_loadb(c->reply, c->len, 0, NULL);

    a->http = http;
    snprintf(a->status, sizeof(a->status), "%s", it_str(j, "status") != NULL ? it_str(j, "status") : "");
    snprintf(a->id, sizeof(a->id), "%s", it_str(j, "id") != NULL ? it_str(j, "id") : "");
    snprintf(a->text, sizeof(a->text), "%s", c->reply);
    json_decref(j);
}

/* BODY to both connections at once; their answers into OUT[0] and OUT[1]. */
static void post_both(CURLM *multi, conn_t c[2], const char *body, answer_t out[2])
{
    int running = 0;
    CURLMsg *msg;
    int left;
    long http[2] = {0, 0};

    for (int k = 0; k < 2; k++) {
        c[k].len = 0;
        c[k].reply[0] = '\0';
        curl_easy_setopt(c[k].curl, CURLOPT_POSTFIELDS, body);
        cr_assert_eq(curl_multi_add_handle(multi, c[k].curl), CURLM_OK);
    }
    do {
        cr_assert_eq(curl_multi_perform(multi, &running), CURLM_OK);
        if (running > 0)
            cr_assert_eq(curl_multi_poll(multi, NULL, 0, 1000, NULL), CURLM_OK);
    } while (running > 0);
    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
        int k = msg->easy_handle == c[0].curl ? 0 : 1;
        if (msg->msg == CURLMSG_DONE && msg->data.result == CURLE_OK)
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &http[k]);
    }
    for (int k = 0; k < 2; k++) {
        curl_multi_remove_handle(multi, c[k].curl);
        answer_from(&c[k], http[k], &out[k]);
    }
}

/* ---- 500 contacts, each posted to both daemons at once ------------------------------------ */

#define N_DOUBLE       500
#define DOUBLE_THREADS 8

static answer_t double_answers[N_DOUBLE][2];

static void *double_poster(void *arg)
{
    int t = (int)(intptr_t)arg;
    CURLM *multi = curl_multi_init();
    conn_t c[2];
    char body[1024];

    cr_assert_not_null(multi);
    conn_open(&c[0], &d1);
    conn_open(&c[1], &d2);
    for (int i = t; i < N_DOUBLE; i += DOUBLE_THREADS) {
        contact_body("dbl", i, body, sizeof(body));
        post_both(multi, c, body, double_answers[i]);
    }
    conn_close(&c[0]);
    conn_close(&c[1]);
    curl_multi_cleanup(multi);
    return NULL;
}

/* The deadlocks PostgreSQL counted in the daemons' database. */
static long deadlocks(void)
{
    return it_scalar(
        &d1, "SELECT coalesce(deadlocks, 0) FROM pg_stat_database WHERE datname = current_database()");
}

static void wait_for(const char *sql, long want, double seconds, const char *what)
{
    double deadline = hl_testd_now() + seconds;
    long got;

    while ((got = it_scalar(&d1, sql)) != want && hl_testd_now() < deadline)
        usleep(50 * 1000);
    cr_assert_eq(got, want, "%s: still %ld after %.0f s", what, got, seconds);
}

/* The dimensions compared, with the direct count's expression for each (contacts c, counted
 * categories cc). */
static const struct {
    const char *by;
    const char *key_sql;
    bool categories;
} stat_checks[] = {
    {"channel,gender", "c.channel || '|' || c.child_gender", false},
    {"age_band", "helpline_age_band(c.child_age)", false},
    {"category", "split_part(cc.code, '.', 1)", true},
    {"subcategory,channel", "cc.code || '|' || c.channel", true},
};

/* Every cell of GET /v1/stats?by=BY (through daemon D) equals the count over the contacts. */
static void check_stats(const hl_testd_t *d, size_t which)
{
    char path[160], sql[1024];
    long status = 0;
    json_t *stats, *direct, *cells, *cell;
    size_t i;

    snprintf(sql, sizeof(sql),
             "SELECT coalesce(json_object_agg(k, n), '{}')::text FROM (SELECT %s AS k, count(*) AS n"
             " FROM contacts c%s WHERE c.source_id LIKE 'dbl-%%' GROUP BY 1) x",
             stat_checks[which].key_sql,
             stat_checks[which].categories
                 ? " JOIN contact_categories cc ON cc.contact_id = c.id AND cc.source IN ('given', 'mapped')"
                 : "");
    PGconn *conn = hl_testd_db(d);
    PGresult *res = PQexec(conn, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
    direct = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    PQfinish(conn);
    cr_assert_not_null(direct);

    snprintf(path, sizeof(path), "/v1/stats?from=2026-11-01&to=2026-11-30&k=5&by=%s", stat_checks[which].by);
    stats = hl_testd_request(d, "GET", path, d->tokens.supervisor, NULL, NULL, &status, NULL);
    cr_assert_eq(status, 200, "%s: %ld", path, status);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(stats, "total_contacts"), "count")),
                 N_DOUBLE, "%s: total_contacts", path);
    cells = json_object_get(stats, "cells");
    json_array_foreach(cells, i, cell)
    {
        char key[256] = "", by[64], *save = NULL;
        snprintf(by, sizeof(by), "%s", stat_checks[which].by);
        for (char *dim = strtok_r(by, ",", &save); dim != NULL; dim = strtok_r(NULL, ",", &save))
            snprintf(key + strlen(key), sizeof(key) - strlen(key), "%s%s", key[0] != '\0' ? "|" : "",
                     json_string_value(json_object_get(cell, dim)));
        json_int_t want = json_integer_value(json_object_get(direct, key));
        json_int_t got = json_integer_value(json_object_get(cell, "count"));
        if (want == 0 && got == 0)
            continue;
        cr_expect(!json_is_true(json_object_get(cell, "suppressed")), "%s %s: suppressed (%lld contacts)",
                  path, key, (long long)want);
        cr_expect_eq(got, want, "%s %s: published %lld, the contacts say %lld", path, key, (long long)got,
                     (long long)want);
        json_object_del(direct, key);
    }
    cr_expect_eq(json_object_size(direct), 0, "%s: %zu cells with contacts not in the reply", path,
                 json_object_size(direct));
    json_decref(stats);
    json_decref(direct);
}

Test(scaleout, every_contact_to_two_daemons_at_once)
{
    pthread_t th[DOUBLE_THREADS];
    int created = 0;

    start_both();
    long deadlocks_before = deadlocks();
    double t0 = hl_testd_now();
    for (int t = 0; t < DOUBLE_THREADS; t++)
        cr_assert_eq(pthread_create(&th[t], NULL, double_poster, (void *)(intptr_t)t), 0);
    for (int t = 0; t < DOUBLE_THREADS; t++)
        pthread_join(th[t], NULL);
    cr_log_info("%d contacts, each to both daemons at once, in %.1f s", N_DOUBLE, hl_testd_now() - t0);

    /* Every answer 201 created or 200 duplicate; both with the contact's one id. */
    for (int i = 0; i < N_DOUBLE; i++) {
        answer_t *a = double_answers[i];
        for (int k = 0; k < 2; k++) {
            bool ok = (a[k].http == 201 && strcmp(a[k].status, "created") == 0) ||
                      (a[k].http == 200 && strcmp(a[k].status, "duplicate") == 0);
            cr_expect(ok, "contact %d, daemon %d: %ld %s", i, k + 1, a[k].http, a[k].text);
            created += a[k].http == 201;
        }
        cr_expect(a[0].id[0] != '\0' && strcmp(a[0].id, a[1].id) == 0, "contact %d: ids %s and %s", i,
                  a[0].id, a[1].id);
    }
    cr_expect_eq(created, N_DOUBLE, "%d answers said created for %d contacts", created, N_DOUBLE);

    /* Each source stored once, under the id both answers gave. */
    cr_expect_eq(it_scalar(&d1, "SELECT count(*) FROM contacts WHERE source_id LIKE 'dbl-%'"), N_DOUBLE);
    cr_expect_eq(
        it_scalar(&d1, "SELECT count(DISTINCT source_id) FROM contacts WHERE source_id LIKE 'dbl-%'"),
        N_DOUBLE);
    PGconn *conn = hl_testd_db(&d1);
    PGresult *res = PQexec(conn, "SELECT source_id, id::text FROM contacts WHERE source_id LIKE 'dbl-%'");
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
    for (int r = 0; r < PQntuples(res); r++) {
        int i = atoi(PQgetvalue(res, r, 0) + 4);
        cr_assert(i >= 0 && i < N_DOUBLE);
        cr_expect_str_eq(PQgetvalue(res, r, 1), double_answers[i][0].id, "contact %d", i);
    }
    PQclear(res);
    PQfinish(conn);
    /* Nothing of a duplicate was written: one category row per contact. */
    cr_expect_eq(
        it_scalar(&d1, "SELECT count(*) FROM contact_categories cc JOIN contacts c ON c.id = cc.contact_id"
                       " WHERE c.source_id LIKE 'dbl-%'"),
        N_DOUBLE);

    /* Both mergers fold the pending rows within a second or two; then the cells alone must be
     * exact, through either daemon. */
    wait_for("SELECT count(*) FROM stats_pending", 0, 20, "pending statistics rows");
    for (size_t s = 0; s < sizeof(stat_checks) / sizeof(stat_checks[0]); s++) {
        check_stats(&d1, s);
        check_stats(&d2, s);
    }
    cr_expect_eq(it_scalar(&d1, "SELECT coalesce(sum(contacts), 0) FROM stats_daily WHERE level = 'total'"),
                 N_DOUBLE, "the daily cells");
    cr_expect_eq(it_scalar(&d1, "SELECT coalesce(sum(contacts), 0) FROM stats_monthly WHERE level = 'total'"),
                 N_DOUBLE, "the monthly cells");

    /* No deadlock: the daemons' backends report their counters when they exit. */
    cr_expect_eq(hl_testd_term(&d2), 0);
    cr_expect_eq(hl_testd_term(&d1), 0);
    wait_for("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> "
             "pg_backend_pid()",
             0, 20, "the daemons' sessions");
    long deadlocks_after = deadlocks();
    cr_expect_eq(deadlocks_after - deadlocks_before, 0, "%ld deadlocks in the daemons' database",
                 deadlocks_after - deadlocks_before);
}

/* ---- SIGKILL of one daemon in the middle of a run ------------------------------------------ */

#define KILL_THREADS 4
#define KILL_MAX     3000

typedef struct {
    int thread;
    int n;
    struct {
        signed char daemon; /* 0: d1, 1: d2 */
        long http;
    } sent[KILL_MAX];
} kill_load_t;

static kill_load_t kill_loads[KILL_THREADS];
static atomic_bool kill_stop;
static atomic_int acked[2], acked_after_kill;
static atomic_bool d2_killed;

/* Each contact to one daemon, alternately: what d2 acknowledged must survive d2. */
static void *kill_poster(void *arg)
{
    kill_load_t *l = arg;
    char body[1024], sid[32];

    for (int seq = 0; seq < KILL_MAX && !atomic_load(&kill_stop); seq++) {
        int k = (seq + l->thread) % 2;
        bool after = atomic_load(&d2_killed);
        long http = 0;

        snprintf(sid, sizeof(sid), "kill%d", l->thread);
        contact_body(sid, seq, body, sizeof(body));
        json_decref(hl_testd_request(k == 0 ? &d1 : &d2, "POST", "/v1/contacts", d1.tokens.frontend,
                                     "application/json", body, &http, NULL));
        l->sent[seq].daemon = (signed char)k;
        l->sent[seq].http = http;
        l->n = seq + 1;
        if (http >= 200 && http <= 299) {
            atomic_fetch_add(&acked[k], 1);
            if (after && k == 0)
                atomic_fetch_add(&acked_after_kill, 1);
        }
    }
    return NULL;
}

static bool spool_empty_and_db_up(json_t *h)
{
    return json_integer_value(json_object_get(h, "spool_pending")) == 0 &&
           strcmp(it_str(h, "database") != NULL ? it_str(h, "database") : "", "up") == 0;
}

Test(scaleout, sigkill_of_one_daemon_loses_no_acknowledged_contact)
{
    pthread_t th[KILL_THREADS];
    double deadline;

    start_both();
    for (int t = 0; t < KILL_THREADS; t++) {
        kill_loads[t].thread = t;
        cr_assert_eq(pthread_create(&th[t], NULL, kill_poster, &kill_loads[t]), 0);
    }
    /* Kill d2 once it has acknowledged a good part of its share; the posters go on. */
    deadline = hl_testd_now() + 60;
    while (atomic_load(&acked[1]) < 150 && hl_testd_now() < deadline)
        usleep(5 * 1000);
    hl_testd_kill(&d2); /* from the thread that started it */
    atomic_store(&d2_killed, true);
    int acked_d2 = atomic_load(&acked[1]);
    while (atomic_load(&acked_after_kill) < 150 && hl_testd_now() < deadline)
        usleep(5 * 1000);
    atomic_store(&kill_stop, true);
    for (int t = 0; t < KILL_THREADS; t++)
        pthread_join(th[t], NULL);
    cr_log_info("d2 acknowledged %d contacts before its SIGKILL, d1 %d in all (%d after the kill)", acked_d2,
                atomic_load(&acked[0]), atomic_load(&acked_after_kill));
    cr_assert_geq(acked_d2, 150, "too little load before the kill");
    cr_assert_geq(atomic_load(&acked_after_kill), 150, "d1 did not go on serving");

    /* d1 answered 2xx throughout; d2 2xx or nothing (killed, then refused). */
    for (int t = 0; t < KILL_THREADS; t++) {
        for (int s = 0; s < kill_loads[t].n; s++) {
            long http = kill_loads[t].sent[s].http;
            if (kill_loads[t].sent[s].daemon == 0)
                cr_expect(http == 201 || http == 200, "thread %d contact %d, d1: %ld", t, s, http);
            else
                cr_expect(http == 201 || http == 200 || http == 0, "thread %d contact %d, d2: %ld", t, s,
                          http);
        }
    }

    /* d2 comes back and replays whatever its spool holds (nothing here: PostgreSQL was up). */
    hl_testd_restart(&d2);
    json_t *h = hl_testd_wait_health(&d2, spool_empty_and_db_up, 30);
    cr_assert(h != NULL && spool_empty_and_db_up(h), "d2 did not settle within 30 s");
    json_decref(h);

    /* Every acknowledged contact is stored, once. */
    PGconn *conn = hl_testd_db(&d1);
    int missing = 0, stored = 0;
    for (int t = 0; t < KILL_THREADS; t++) {
        for (int s = 0; s < kill_loads[t].n; s++) {
            char sid[48];
            const char *values[1] = {sid};
            long http = kill_loads[t].sent[s].http;
            if (http < 200 || http > 299)
                continue;
            snprintf(sid, sizeof(sid), "kill%d-%d", t, s);
            PGresult *res = PQexecParams(conn, "SELECT count(*) FROM contacts WHERE source_id = $1", 1, NULL,
                                         values, NULL, NULL, 0);
            cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
            long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
            PQclear(res);
            cr_expect_eq(n, 1, "acknowledged contact %s (daemon %d) stored %ld times", sid,
                         kill_loads[t].sent[s].daemon + 1, n);
            missing += n == 0;
            stored++;
        }
    }
    PQfinish(conn);
    cr_expect_eq(missing, 0, "%d of %d acknowledged contacts lost", missing, stored);
}

/* ---- one spool_dir per daemon -------------------------------------------------------------- */

Test(scaleout, two_daemons_cannot_share_a_spool_dir)
{
    start_both();
    cr_assert_eq(hl_testd_term(&d2), 0);

    /* d2's config, now with d1's spool_dir */
    char *conf = hl_testd_read_file(d2.conf, NULL), *line;
    cr_assert_not_null(conf);
    line = strstr(conf, "spool_dir = ");
    cr_assert_not_null(line);
    FILE *f = fopen(d2.conf, "w");
    cr_assert_not_null(f);
    fprintf(f, "%.*sspool_dir = %s\n%s", (int)(line - conf), conf, d1.spool, strchr(line, '\n') + 1);
    cr_assert_eq(fclose(f), 0);
    free(conf);

    const char *serve[] = {"serve", NULL};
    double t0 = hl_testd_now();
    int rc = hl_testd_admin(&d2, NULL, 0, serve);
    cr_expect_neq(rc, 0, "a second daemon on the same spool_dir started");
    cr_expect_lt(hl_testd_now() - t0, 10.0, "refused only after %.1f s", hl_testd_now() - t0);
    char *log = hl_testd_read_file(d2.log, NULL);
    cr_assert_not_null(log);
    cr_expect(strstr(log, "every helplined needs a spool_dir of its own") != NULL,
              "the log does not say why it stopped");
    free(log);

    /* and d1 still serves */
    json_t *r = NULL;
    cr_expect_eq(it_post(&d1, d1.tokens.frontend, it_contact("after-refusal"), &r), 201);
    json_decref(r);
}

/* ---- deploy/haproxy.cfg, for real ---------------------------------------------------------- */

#define HAPROXY      "/usr/sbin/haproxy"
#define HAP_THREADS  4
#define HAP_CONTACTS 200
#define HAP_KILL_AT  100 /* acknowledged contacts before d2 dies */

/* Replaces the one occurrence of FROM in *TEXT (realloc'd) with TO; fails the test otherwise. */
static void replace_once(char **text, const char *from, const char *to)
{
    char *at = strstr(*text, from);

    cr_assert_not_null(at, "deploy/haproxy.cfg has no \"%s\"", from);
    cr_assert_null(strstr(at + 1, from), "deploy/haproxy.cfg has \"%s\" more than once", from);
    size_t head = (size_t)(at - *text), len = strlen(*text) - strlen(from) + strlen(to) + 1;
    char *out = malloc(len);
    cr_assert_not_null(out);
    snprintf(out, len, "%.*s%s%s", (int)head, *text, to, at + strlen(from));
    free(*text);
    *text = out;
}

/* The example from `defaults` on, its addresses replaced; a global section for a test. */
static void write_haproxy_cfg(const char *path, int port)
{
    char *cfg = hl_testd_read_file(HL_TEST_SRCDIR "/deploy/haproxy.cfg", NULL), addr[64], *defaults;

    cr_assert_not_null(cfg);
    defaults = strstr(cfg, "\ndefaults\n");
    cr_assert_not_null(defaults);
    memmove(cfg, defaults + 1, strlen(defaults));
    snprintf(addr, sizeof(addr), "bind 127.0.0.1:%d\n", port);
    replace_once(&cfg, "bind :8080\n", addr);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", d1.port);
    replace_once(&cfg, "10.0.0.11:8080", addr);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", d2.port);
    replace_once(&cfg, "10.0.0.12:8080", addr);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "global\n\tlog stderr format raw local0 info\n\tmaxconn 1024\n\n%s", cfg);
    cr_assert_eq(fclose(f), 0);
    free(cfg);
}

/* A port the kernel picks for an ephemeral bind (as tests/support does for the daemons). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);

    cr_assert_geq(fd, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void start_haproxy(const char *cfg, const char *log)
{
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

    cr_assert_geq(fd, 0);
    haproxy_pid = fork();
    cr_assert_neq(haproxy_pid, -1);
    if (haproxy_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execl(HAPROXY, HAPROXY, "-f", cfg, "-db", (char *)NULL);
        _exit(127);
    }
    close(fd);
}

static hl_testd_t proxy; /* only its url: the requests go through haproxy */
static atomic_int hap_next, hap_acked;

typedef struct {
    long http[HAP_CONTACTS];
    char text[HAP_CONTACTS][160];
} hap_result_t;

static hap_result_t hap;

static void *hap_poster(void *arg)
{
    char body[1024], *reply = NULL;
    int i;

    (void)arg;
    while ((i = atomic_fetch_add(&hap_next, 1)) < HAP_CONTACTS) {
        long http = 0;
        contact_body("hap", i, body, sizeof(body));
        json_decref(hl_testd_request(&proxy, "POST", "/v1/contacts", d1.tokens.frontend, "application/json",
                                     body, &http, &reply));
        hap.http[i] = http;
        snprintf(hap.text[i], sizeof(hap.text[i]), "%s", reply != NULL ? reply : "");
        free(reply);
        reply = NULL;
        if (http >= 200 && http <= 299)
            atomic_fetch_add(&hap_acked, 1);
    }
    return NULL;
}

/* helpline_contacts_stored_total{outcome="created"} of daemon D. */
static long created_by(const hl_testd_t *d)
{
    char *text = NULL;
    long status = 0, n = -1;
    const char *at;

    json_decref(hl_testd_request(d, "GET", "/metrics", d->tokens.admin, NULL, NULL, &status, &text));
    cr_assert_eq(status, 200);
    at = strstr(text, "helpline_contacts_stored_total{outcome=\"created\"} ");
    if (at != NULL)
        n = strtol(strchr(at, ' ') + 1, NULL, 10);
    free(text);
    return n;
}

Test(scaleout, haproxy_example_balances_and_survives_a_killed_daemon)
{
    char cfg[HL_TESTD_PATH_LEN + 32], log[HL_TESTD_PATH_LEN + 32];
    pthread_t th[HAP_THREADS];
    long status = 0;
    int port;

    if (access(HAPROXY, X_OK) != 0)
        cr_skip_test("%s is not installed (scripts/install-deps installs it)", HAPROXY);
    start_both();
    port = free_port();
    snprintf(cfg, sizeof(cfg), "%s/haproxy.cfg", d1.dir);
    snprintf(log, sizeof(log), "%s/haproxy.log", d1.dir);
    write_haproxy_cfg(cfg, port);
    start_haproxy(cfg, log);
    snprintf(proxy.url, sizeof(proxy.url), "http://127.0.0.1:%d", port);

    /* Up when both daemons answered a request through it. */
    double deadline = hl_testd_now() + 10;
    json_t *h = NULL;
    for (;;) {
        json_decref(h);
        h = hl_testd_request(&proxy, "GET", "/healthz", NULL, NULL, NULL, &status, NULL);
        if (status == 200 || hl_testd_now() > deadline)
            break;
        usleep(50 * 1000);
    }
    json_decref(h);
    if (status != 200) {
        char *text = hl_testd_read_file(log, NULL);
        cr_log_error("haproxy log:\n%s", text != NULL ? text : "(none)");
        free(text);
    }
    cr_assert_eq(status, 200, "no answer through haproxy");

    for (int t = 0; t < HAP_THREADS; t++)
        cr_assert_eq(pthread_create(&th[t], NULL, hap_poster, NULL), 0);
    while (atomic_load(&hap_acked) < HAP_KILL_AT && atomic_load(&hap_next) < HAP_CONTACTS)
        usleep(2 * 1000);
    /* Both daemons took a share before one of them dies. */
    long created_d1 = created_by(&d1), created_d2 = created_by(&d2);
    hl_testd_kill(&d2);
    int acked_at_kill = atomic_load(&hap_acked);
    for (int t = 0; t < HAP_THREADS; t++)
        pthread_join(th[t], NULL);
    cr_log_info("through haproxy: d1 %ld and d2 %ld contacts stored when d2 was killed (%d acknowledged)",
                created_d1, created_d2, acked_at_kill);
    cr_expect_gt(created_d1, 0, "haproxy sent nothing to d1");
    cr_expect_gt(created_d2, 0, "haproxy sent nothing to d2");
    cr_expect_lt(acked_at_kill, HAP_CONTACTS, "the run ended before the kill");

    /* Every contact answered 2xx, before, during and after the kill. */
    for (int i = 0; i < HAP_CONTACTS; i++)
        cr_expect(hap.http[i] == 201 || hap.http[i] == 200, "contact %d through haproxy: %ld %s", i,
                  hap.http[i], hap.text[i]);
    cr_expect_eq(it_scalar(&d1, "SELECT count(*) FROM contacts WHERE source_id LIKE 'hap-%'"), HAP_CONTACTS);

    /* The proxy keeps /metrics to each daemon's own address. */
    json_decref(hl_testd_request(&proxy, "GET", "/metrics", d1.tokens.admin, NULL, NULL, &status, NULL));
    cr_expect_eq(status, 403, "/metrics through the proxy: %ld", status);
}
