/*
 * helplined behind a real PgBouncer (Debian's) in transaction pooling mode (issue 14), with a
 * pool of two server connections shared by the writer's connections, the handlers' pool, the
 * merger and the health probe: every client's transaction may run on either server connection.
 *
 * `helplined migrate` runs concurrently and again afterwards without hanging, every contact of
 * a concurrent load is stored (201; none spooled, none refused), reads and statistics work, and
 * no client leaves a setting on a server connection for the next one (the writer's plan and
 * timeouts, the merger's work_mem and the runner's client_min_messages are all SET LOCAL).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"
#include "pgbouncer.h"

#define HELPLINED HL_TEST_BUILDDIR "/helplined"
/* Fewer server connections than the daemon has clients (2 writer connections, 6 in the handlers'
 * pool, the merger, the health probe), so they share them; more than the writer has (the set-up's
 * parallel commands open all of them), so a batch can reach a server connection on which its
 * writer connection never prepared anything. */
#define POOL_SIZE       3
#define N_THREADS       10
#define PER_THREAD      30
#define N_CONTACTS      (N_THREADS * PER_THREAD)
#define MIGRATE_SECONDS 30.0

static hl_testd_t d;
static hl_testbouncer_t bouncer;
static hl_pgtest_t db;
static bool db_made;

static void teardown(void)
{
    hl_testd_stop(&d);
    hl_testbouncer_stop(&bouncer);
    if (db_made)
        hl_pgtest_drop(&db);
}

TestSuite(pgbouncer, .fini = teardown, .timeout = 180);

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The daemon's warnings and errors (it logs no personal data), for a failure message. */
static const char *log_problems(void)
{
    static char out[3000];
    char *log = hl_testd_read_file(d.log, NULL);
    size_t n = 0;

    out[0] = '\0';
    for (char *line = log != NULL ? strtok(log, "\n") : NULL; line != NULL; line = strtok(NULL, "\n")) {
        if ((strstr(line, " warn: ") != NULL || strstr(line, " error: ") != NULL) && n + 200 < sizeof(out))
            n += (size_t)snprintf(out + n, sizeof(out) - n, "%.190s\n", line);
    }
    free(log);
    return out;
}

/* N `helplined migrate` at once; each must exit 0 within MIGRATE_SECONDS (a migration lock left
 * held makes it wait for ever). */
static void migrate_bounded(int n)
{
    pid_t pids[4];
    int done = 0;
    double deadline = hl_testd_now() + MIGRATE_SECONDS;

    cr_assert(n <= 4);
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        cr_assert_neq(pids[i], -1, "fork: %s", strerror(errno));
        if (pids[i] == 0) {
            int fd = open(d.log, O_WRONLY | O_APPEND | O_CREAT, 0600);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            execl(HELPLINED, HELPLINED, "migrate", "-c", d.conf, (char *)NULL);
            _exit(127);
        }
    }
    while (done < n) {
        for (int i = 0; i < n; i++) {
            int status;

            if (pids[i] == 0 || waitpid(pids[i], &status, WNOHANG) != pids[i])
                continue;
            pids[i] = 0;
            done++;
            cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "helplined migrate through PgBouncer: status 0x%x; the log:\n%s", (unsigned)status,
                      log_problems());
        }
        if (done < n && hl_testd_now() > deadline) {
            for (int i = 0; i < n; i++)
                if (pids[i] != 0)
                    kill(pids[i], SIGKILL);
            cr_assert_fail("helplined migrate through PgBouncer did not finish within %.0f s: the "
                           "migration lock is held",
                           MIGRATE_SECONDS);
        }
        sleep_ms(20);
    }
}

static atomic_int n_created, n_spooled, n_other;
static atomic_long last_other;
static char first_id[64];

static void *post_some(void *arg)
{
    int t = (int)(intptr_t)arg;

    for (int i = 0; i < PER_THREAD; i++) {
        char sid[32];
        json_t *reply = NULL;
        long status;

        snprintf(sid, sizeof(sid), "pgb-%02d-%03d", t, i);
        status = it_post(&d, d.tokens.frontend, it_contact(sid), &reply);
        if (status == 201) {
            atomic_fetch_add(&n_created, 1);
            if (t == 0 && i == 0 && it_str(reply, "id") != NULL)
                snprintf(first_id, sizeof(first_id), "%s", it_str(reply, "id"));
        } else if (status == 202) {
            atomic_fetch_add(&n_spooled, 1);
        } else {
            atomic_fetch_add(&n_other, 1);
            atomic_store(&last_other, status);
        }
        json_decref(reply);
    }
    return NULL;
}

static void assert_setting(PGconn *conn, const char *name, const char *want)
{
    char sql[64];
    PGresult *res;

    snprintf(sql, sizeof(sql), "SHOW %s", name);
    res = PQexec(conn, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(conn));
    cr_assert_str_eq(PQgetvalue(res, 0, 0), want, "%s on a pooled server connection after the run", name);
    PQclear(res);
}

Test(pgbouncer, transaction_mode)
{
    hl_testbouncer_opts_t bopts = {.pool_mode = "transaction", .pool_size = POOL_SIZE};
    char conninfo[512], path[128];
    pthread_t threads[N_THREADS];
    PGconn *direct, *conns[POOL_SIZE];
    long status;
    json_t *r;

    if (!hl_testbouncer_available())
        cr_skip("PgBouncer is not installed (" HL_TESTBOUNCER_BIN "): scripts/install-deps installs it");
    hl_testbouncer_start(&bouncer, &bopts);
    hl_pgtest_create(&db);
    db_made = true;
    hl_testbouncer_conninfo(&bouncer, db.name, conninfo, sizeof(conninfo));
    /* Set-up (the first migrate, helplines, users) and the daemon, all through PgBouncer. */
    hl_testd_opts_t opts = {.conninfo = conninfo};
    hl_testd_start(&d, &opts);

    /* The load, and two more migrates at once in the middle of it. */
    for (int t = 0; t < N_THREADS; t++)
        cr_assert_eq(pthread_create(&threads[t], NULL, post_some, (void *)(intptr_t)t), 0);
    migrate_bounded(2);
    for (int t = 0; t < N_THREADS; t++)
        cr_assert_eq(pthread_join(threads[t], NULL), 0);
    /* And the next migrate after them. */
    migrate_bounded(1);

    direct = hl_pgtest_connect(&db);
    /* No migration lock is left (bigint key 7212024: classid 0, objid 7212024, objsubid 1) in this
     * database: the other tests' daemons migrate their own databases of the cluster meanwhile. */
    cr_assert_eq(hl_pgtest_scalar(direct,
                                  "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                  " AND classid = 0 AND objid = 7212024 AND objsubid = 1 AND database ="
                                  " (SELECT oid FROM pg_database WHERE datname = current_database())"),
                 0);
    cr_assert_eq(atomic_load(&n_created), N_CONTACTS,
                 "%d contacts: %d stored (201), %d spooled (202), %d other (last %ld); the daemon's log:\n%s",
                 N_CONTACTS, atomic_load(&n_created), atomic_load(&n_spooled), atomic_load(&n_other),
                 atomic_load(&last_other), log_problems());
    cr_assert_eq(hl_pgtest_scalar(direct, "SELECT count(*) FROM contacts"), N_CONTACTS);
    PQfinish(direct);

    /* Reads through the handlers' pool. */
    snprintf(path, sizeof(path), "/v1/contacts/%s", first_id);
    r = hl_testd_request(&d, "GET", path, d.tokens.admin, NULL, NULL, &status, NULL);
    cr_assert_eq(status, 200, "GET %s", path);
    cr_assert_str_eq(it_str(r, "source/id"), "pgb-00-000");
    json_decref(r);
    r = hl_testd_request(&d, "GET", "/v1/stats?from=2026-11-01&to=2026-11-30&by=gender", d.tokens.supervisor,
                         NULL, NULL, &status, NULL);
    cr_assert_eq(status, 200);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "total_contacts"), "count")),
                 N_CONTACTS);
    json_decref(r);

    /* One transaction open on each server connection of the pool at once: none kept a setting
     * a client made for itself. */
    for (int i = 0; i < POOL_SIZE; i++) {
        conns[i] = PQconnectdb(conninfo);
        cr_assert_eq(PQstatus(conns[i]), CONNECTION_OK, "%s", PQerrorMessage(conns[i]));
        PGresult *res = PQexec(conns[i], "BEGIN");
        cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(conns[i]));
        PQclear(res);
        assert_setting(conns[i], "plan_cache_mode", "auto");
        assert_setting(conns[i], "client_min_messages", "notice");
        assert_setting(conns[i], "work_mem", "4MB");
        assert_setting(conns[i], "statement_timeout", "0");
        assert_setting(conns[i], "lock_timeout", "0");
    }
    for (int i = 0; i < POOL_SIZE; i++)
        PQfinish(conns[i]);
}
