/*
 * /healthz tells the truth (issue 14, docs/health.md): it reports what a probe found no more
 * than a second or so ago, answers at once even while PostgreSQL hangs, says "read_only" where
 * PostgreSQL refuses writes, and answers 503 when the daemon can neither store nor spool.
 * Each test has a PostgreSQL of its own that it stops, freezes or makes read-only.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

#define ANSWER_WITHIN_S 1.0 /* every /healthz answer, whatever PostgreSQL does */
#define MAX_FROZEN      64

static hl_testd_t d;
static hl_testpg_t pg;

/* A frozen (SIGSTOPped) cluster: its processes, and a guard process that continues them when
 * the test process goes away without its .fini (a crash or a timeout): it waits for the end of
 * a pipe only this process holds. */
static pid_t frozen[MAX_FROZEN];
static int n_frozen;
static pid_t guard;
static int guard_fd = -1;

static void thaw(void)
{
    int status;

    for (int i = 0; i < n_frozen; i++)
        kill(frozen[i], SIGCONT);
    n_frozen = 0;
    if (guard_fd >= 0)
        close(guard_fd);
    guard_fd = -1;
    if (guard > 0)
        while (waitpid(guard, &status, 0) < 0 && errno == EINTR)
            ;
    guard = 0;
}

static void teardown(void)
{
    thaw();
    hl_testd_stop(&d);
    hl_testpg_destroy(&pg);
}

TestSuite(health, .fini = teardown, .timeout = 120);

/* The parent pid in /proc/PID/stat ("pid (comm) state ppid ..."; comm may hold spaces). */
static long parent_of(long pid)
{
    char path[64], buf[512];
    long ppid = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    if (fgets(buf, sizeof(buf), f) != NULL) {
        const char *close_paren = strrchr(buf, ')');
        char state;
        if (close_paren == NULL || sscanf(close_paren + 1, " %c %ld", &state, &ppid) != 2)
            ppid = -1;
    }
    fclose(f);
    return ppid;
}

/* SIGSTOPs the postmaster of P, then every process it started (backends and workers). */
static void freeze(const hl_testpg_t *p)
{
    char path[HL_TESTD_PATH_LEN + 32];
    long postmaster = 0;
    int pipefd[2];
    FILE *f;
    DIR *proc;
    struct dirent *de;

    snprintf(path, sizeof(path), "%s/data/postmaster.pid", p->dir);
    f = fopen(path, "r");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fscanf(f, "%ld", &postmaster), 1);
    fclose(f);
    cr_assert_gt(postmaster, 1);

    /* The guard first, so that nothing stays stopped if this test dies from here on. */
    cr_assert_eq(pipe2(pipefd, O_CLOEXEC), 0);
    guard = fork();
    cr_assert_neq(guard, -1);
    if (guard == 0) {
        char c;
        close(pipefd[1]);
        while (read(pipefd[0], &c, 1) < 0 && errno == EINTR)
            ;
        /* the list as it is now is unknown here: continue the postmaster and its children */
        kill((pid_t)postmaster, SIGCONT);
        proc = opendir("/proc");
        while (proc != NULL && (de = readdir(proc)) != NULL) {
            long pid = strtol(de->d_name, NULL, 10);
            if (pid > 0 && parent_of(pid) == postmaster)
                kill((pid_t)pid, SIGCONT);
        }
        _exit(0);
    }
    close(pipefd[0]);
    guard_fd = pipefd[1];

    /* The postmaster first: stopped, it starts no process while its children are listed. */
    frozen[n_frozen++] = (pid_t)postmaster;
    cr_assert_eq(kill((pid_t)postmaster, SIGSTOP), 0, "SIGSTOP %ld: %s", postmaster, strerror(errno));
    proc = opendir("/proc");
    cr_assert_not_null(proc);
    while ((de = readdir(proc)) != NULL && n_frozen < MAX_FROZEN) {
        long pid = strtol(de->d_name, NULL, 10);
        if (pid > 0 && parent_of(pid) == postmaster && kill((pid_t)pid, SIGSTOP) == 0)
            frozen[n_frozen++] = (pid_t)pid;
    }
    closedir(proc);
    cr_log_info("froze the postmaster and %d of its processes", n_frozen - 1);
}

typedef struct {
    long status;
    char database[16];
    char state[16];
    char retry_after[32];
    double seconds; /* how long the answer took */
} health_t;

/* One GET /healthz, timed; fails the test when it took longer than ANSWER_WITHIN_S. */
static health_t healthz(void)
{
    hl_testd_req_t req = {.method = "GET", .path = "/healthz"};
    hl_testd_resp_t resp;
    health_t h = {0};
    double t0 = hl_testd_now();

    hl_testd_do(&d, &req, &resp);
    h.seconds = hl_testd_now() - t0;
    h.status = resp.status;
    snprintf(h.database, sizeof(h.database), "%s",
             it_str(resp.json, "database") ? it_str(resp.json, "database") : "");
    snprintf(h.state, sizeof(h.state), "%s", it_str(resp.json, "status") ? it_str(resp.json, "status") : "");
    snprintf(h.retry_after, sizeof(h.retry_after), "%s", resp.retry_after);
    cr_expect(json_is_integer(json_object_get(resp.json, "spool_pending")), "/healthz: %s", resp.body);
    hl_testd_resp_free(&resp);
    cr_assert_leq(h.seconds, ANSWER_WITHIN_S, "/healthz took %.3f s (database %s)", h.seconds, h.database);
    return h;
}

/* /healthz until its database is WANT (every answer timed), at most DEADLINE_S seconds. */
static health_t wait_database(const char *want, double deadline_s)
{
    double t0 = hl_testd_now();
    health_t h;

    for (;;) {
        h = healthz();
        if (strcmp(h.database, want) == 0) {
            cr_log_info("database %s after %.2f s (answer in %.3f s)", want, hl_testd_now() - t0, h.seconds);
            return h;
        }
        cr_assert_lt(hl_testd_now() - t0, deadline_s,
                     "/healthz still says database \"%s\" (status %ld), not \"%s\", after %.1f s", h.database,
                     h.status, want, deadline_s);
        usleep(50 * 1000);
    }
}

/* The value of METRIC in /metrics (admin token; -1 when absent). */
static long metric(const char *name)
{
    char *text = NULL, needle[128];
    long status, v = -1;
    json_t *r = hl_testd_request(&d, "GET", "/metrics", d.tokens.admin, NULL, NULL, &status, &text);

    json_decref(r);
    cr_assert_eq(status, 200, "/metrics: %ld", status);
    snprintf(needle, sizeof(needle), "\n%s ", name);
    const char *at = strstr(text, needle);
    if (at != NULL)
        v = strtol(at + strlen(needle), NULL, 10);
    free(text);
    return v;
}

static void start_all(void)
{
    hl_testpg_create(&pg);
    hl_testd_opts_t opts = {.conninfo = pg.conninfo};
    hl_testd_start(&d, &opts);
    health_t h = healthz();
    cr_assert_eq(h.status, 200);
    cr_assert_str_eq(h.database, "up");
    /* the admin and front-end tokens in the daemon's cache, for use while PostgreSQL is away */
    cr_assert_eq(metric("helpline_database_up"), 1);
    long status;
    json_decref(hl_testd_request(&d, "GET", "/v1/taxonomy", d.tokens.frontend, NULL, NULL, &status, NULL));
    cr_assert_eq(status, 200);
}

/* Runs SQL (no result rows needed) on a connection of the test's own. */
static void sql(PGconn *conn, const char *stmt)
{
    PGresult *res = PQexec(conn, stmt);

    cr_assert(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s",
              stmt, PQerrorMessage(conn));
    PQclear(res);
}

/* The daemon's sessions end (as after a failover or a restart of PgBouncer); it reconnects. */
static void terminate_daemon_sessions(PGconn *conn)
{
    sql(conn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
              "WHERE datname = current_database() AND pid <> pg_backend_pid() "
              "AND application_name LIKE 'helplined%'");
}

/* (a) A stopped PostgreSQL reads "down" at once; the daemon still spools, so 200. */
Test(health, stopped_postgres_reads_down)
{
    start_all();
    hl_testpg_stop(&pg);
    health_t h = wait_database("down", 2.0);
    cr_expect_eq(h.status, 200, "the spool works: the daemon can take contacts");
    cr_expect_str_eq(h.state, "ok");
    /* and it stays down (no stale "up" from a connection object that still exists) */
    for (int i = 0; i < 10; i++) {
        h = healthz();
        cr_expect_str_eq(h.database, "down");
        usleep(100 * 1000);
    }
    cr_expect_eq(metric("helpline_database_up"), 0);
    cr_expect_eq(metric("helpline_database_read_only"), 0);
    cr_expect_eq(metric("helpline_spool_usable"), 1);

    hl_testpg_start(&pg);
    h = wait_database("up", 15.0);
    cr_expect_eq(h.status, 200);
    cr_expect_eq(metric("helpline_database_up"), 1);
}

/* (b) A database that refuses writes reads "read_only": default_transaction_read_only for the
 * database, picked up by new sessions, and for the whole server, picked up by a reload. */
Test(health, read_only_database_reads_read_only)
{
    start_all();
    PGconn *conn = hl_testd_db(&d);

    sql(conn, "ALTER DATABASE helpline SET default_transaction_read_only = on");
    terminate_daemon_sessions(conn);
    health_t h = wait_database("read_only", 2.0);
    cr_expect_eq(h.status, 200, "a read-only database: contacts go to the spool");
    cr_expect_str_eq(h.state, "ok");
    cr_expect_eq(metric("helpline_database_up"), 0);
    cr_expect_eq(metric("helpline_database_read_only"), 1);

    sql(conn, "ALTER DATABASE helpline RESET default_transaction_read_only");
    terminate_daemon_sessions(conn);
    wait_database("up", 10.0);

    /* no reconnection needed: a reload reaches the open sessions */
    sql(conn, "ALTER SYSTEM SET default_transaction_read_only = on");
    sql(conn, "SELECT pg_reload_conf()");
    wait_database("read_only", 2.0);
    sql(conn, "ALTER SYSTEM RESET default_transaction_read_only");
    sql(conn, "SELECT pg_reload_conf()");
    wait_database("up", 2.0);
    PQfinish(conn);
}

/* (c) A hung PostgreSQL (every process stopped): /healthz answers at once and stops saying "up"
 * within the probe's deadline; back to "up" once PostgreSQL continues. */
Test(health, hung_postgres_never_reads_up)
{
    start_all();
    freeze(&pg);
    double t0 = hl_testd_now();
    health_t h = wait_database("down", 2.5);
    cr_expect_eq(h.status, 200, "the spool works: the daemon can take contacts");
    /* and not "up" again while it hangs, each answer at once */
    double worst = h.seconds;
    while (hl_testd_now() - t0 < 3.5) {
        h = healthz();
        cr_expect_str_neq(h.database, "up", "/healthz says up while PostgreSQL hangs");
        if (h.seconds > worst)
            worst = h.seconds;
        usleep(100 * 1000);
    }
    cr_log_info("slowest /healthz answer while PostgreSQL hung: %.3f s", worst);
    thaw();
    wait_database("up", 15.0);
}

/* /healthz until its status is WANT (every answer timed), at most DEADLINE_S seconds. */
static health_t wait_status(long want, double deadline_s)
{
    double t0 = hl_testd_now();
    health_t h;

    for (;;) {
        h = healthz();
        if (h.status == want)
            return h;
        cr_assert_lt(hl_testd_now() - t0, deadline_s,
                     "/healthz still answers %ld (database \"%s\"), not %ld, after %.1f s", h.status,
                     h.database, want, deadline_s);
        usleep(50 * 1000);
    }
}

/* (d) Neither the database nor the spool: 503 "unavailable" with Retry-After, so that a load
 * balancer takes the daemon out; either one back: 200. */
Test(health, no_database_and_no_spool_is_503)
{
    char moved[HL_TESTD_PATH_LEN + 16];

    start_all();
    snprintf(moved, sizeof(moved), "%s.moved", d.spool);
    hl_testpg_stop(&pg);
    cr_expect_eq(it_post(&d, d.tokens.frontend, it_contact("health-0"), NULL), 202, "spooled");
    health_t h = healthz();
    cr_expect_eq(h.status, 200, "the spool works: the daemon can take contacts");

    /* the spool's directory gone as well: 503 */
    cr_assert_eq(rename(d.spool, moved), 0, "%s: %s", d.spool, strerror(errno));
    h = wait_status(503, 2.0);
    cr_expect_str_eq(h.state, "unavailable");
    cr_expect_str_eq(h.database, "down");
    cr_expect_str_neq(h.retry_after, "", "a 503 carries Retry-After");
    cr_expect_eq(metric("helpline_spool_usable"), 0);

    /* the spool back, the database still down: 200 */
    cr_assert_eq(rename(moved, d.spool), 0, "%s: %s", moved, strerror(errno));
    h = wait_status(200, 2.0);
    cr_expect_str_eq(h.state, "ok");
    cr_expect_str_eq(h.database, "down");

    /* the spool gone, the database back: 200, it stores */
    cr_assert_eq(rename(d.spool, moved), 0, "%s: %s", d.spool, strerror(errno));
    wait_status(503, 2.0);
    hl_testpg_start(&pg);
    h = wait_database("up", 15.0);
    cr_expect_eq(h.status, 200, "the database is up: the daemon can store");
    cr_expect_str_eq(h.state, "ok");
    cr_expect_eq(metric("helpline_spool_usable"), 0);
}

/* The status of one request and how long it took. */
typedef struct {
    long status;
    double seconds;
} timed_t;

static timed_t timed_post(const char *source)
{
    double t0 = hl_testd_now();
    timed_t t = {.status = it_post(&d, d.tokens.frontend, it_contact(source), NULL)};

    t.seconds = hl_testd_now() - t0;
    return t;
}

static timed_t timed_get(const char *path)
{
    double t0 = hl_testd_now();
    timed_t t;

    json_decref(hl_testd_request(&d, "GET", path, d.tokens.admin, NULL, NULL, &t.status, NULL));
    t.seconds = hl_testd_now() - t0;
    return t;
}

/* The contact of SOURCE is stored, within 20 s. */
static void wait_stored(const char *source)
{
    char q[160];
    double t0 = hl_testd_now();

    snprintf(q, sizeof(q), "SELECT count(*) FROM contacts WHERE source_id = '%s'", source);
    while (it_scalar(&d, q) != 1) {
        cr_assert_lt(hl_testd_now() - t0, 20.0, "%s not stored 20 s after PostgreSQL came back", source);
        usleep(100 * 1000);
    }
}

/*
 * Issue 15, finding 3: every database call has a deadline. With every PostgreSQL process
 * stopped, a POST was answered after no reply in 65 s; now it is spooled (202) within 5 s, a GET
 * fails with 503 within 5 s, and the spooled contact is stored once PostgreSQL continues.
 */
Test(health, hung_postgres_spools_posts_and_fails_reads_fast)
{
    json_t *reply = NULL;
    char path[128];

    start_all();
    cr_assert_eq(it_post(&d, d.tokens.frontend, it_contact("hang-0"), &reply), 201);
    snprintf(path, sizeof(path), "/v1/contacts/%s", it_str(reply, "id"));
    json_decref(reply);
    freeze(&pg);
    timed_t post = timed_post("hang-1"), get = timed_get(path);
    cr_log_info("while PostgreSQL hung: POST %ld in %.2f s, GET %ld in %.2f s", post.status, post.seconds,
                get.status, get.seconds);
    cr_expect_eq(post.status, 202, "POST while PostgreSQL hangs: %ld", post.status);
    cr_expect_lt(post.seconds, 5.0, "POST took %.2f s", post.seconds);
    cr_expect_eq(get.status, 503, "GET while PostgreSQL hangs: %ld", get.status);
    cr_expect_lt(get.seconds, 5.0, "GET took %.2f s", get.seconds);
    post = timed_post("hang-2");
    cr_expect_eq(post.status, 202);
    cr_expect_lt(post.seconds, 5.0, "the next POST took %.2f s", post.seconds);
    thaw();
    wait_stored("hang-1");
    wait_stored("hang-2");
}

/*
 * The same with a table locked for long (LOCK TABLE contacts, as a careless migration would):
 * a POST answered 201 after 39 s and was never spooled. Now: 202 within 5 s, GETs 503 within
 * 5 s, and once the lock goes the contact is stored.
 */
Test(health, locked_contacts_table_spools_posts_and_fails_reads_fast)
{
    json_t *reply = NULL;
    char path[128];
    PGconn *conn;

    start_all();
    cr_assert_eq(it_post(&d, d.tokens.frontend, it_contact("lock-0"), &reply), 201);
    snprintf(path, sizeof(path), "/v1/contacts/%s", it_str(reply, "id"));
    json_decref(reply);
    conn = hl_testd_db(&d);
    sql(conn, "BEGIN");
    sql(conn, "LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE");
    timed_t post = timed_post("lock-1"), get = timed_get(path);
    cr_log_info("while contacts was locked: POST %ld in %.2f s, GET %ld in %.2f s", post.status, post.seconds,
                get.status, get.seconds);
    cr_expect_eq(post.status, 202, "POST while contacts is locked: %ld", post.status);
    cr_expect_lt(post.seconds, 5.0, "POST took %.2f s", post.seconds);
    cr_expect_eq(get.status, 503, "GET while contacts is locked: %ld", get.status);
    cr_expect_lt(get.seconds, 5.0, "GET took %.2f s", get.seconds);
    cr_expect_eq(healthz().status, 200);
    sql(conn, "COMMIT");
    PQfinish(conn);
    wait_stored("lock-1");
}
