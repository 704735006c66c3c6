/* server/health.c: the probe's answers (up, read-only, down), its deadline against a server that
 * never answers, and readers that never wait. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "health.h"
#include "log.h"
#include "pgtest.h"
#include "util.h"

static hl_pgtest_t db;
static hl_health_t *health;
static hl_spool_t *spool;
static char spool_dir[] = "/tmp/hl-health-test-XXXXXX";
static int silent_fd = -1;

static void teardown(void)
{
    hl_health_stop(health);
    health = NULL;
    hl_spool_close(spool);
    spool = NULL;
    if (spool_dir[sizeof(spool_dir) - 2] != 'X')
        rmdir(spool_dir);
    if (silent_fd >= 0)
        close(silent_fd);
    if (db.name[0] != '\0')
        hl_pgtest_drop(&db);
}

TestSuite(health, .fini = teardown, .timeout = 30);

static void start_with_replica(const char *conninfo, const char *replica, unsigned deadline_ms)
{
    cr_assert_not_null(mkdtemp(spool_dir));
    cr_assert_eq(hl_spool_open(spool_dir, &spool), HL_OK);
    hl_health_opts_t opts = {.conninfo = conninfo,
                             .replica_conninfo = replica,
                             .spool = spool,
                             .interval_ms = 100,
                             .deadline_ms = deadline_ms};
    cr_assert_eq(hl_health_start(&opts, &health), HL_OK);
}

static void start(const char *conninfo, unsigned deadline_ms)
{
    start_with_replica(conninfo, NULL, deadline_ms);
}

/* A listening TCP socket on loopback that never answers (a stopped postmaster's listen queue);
 * its conninfo in OUT. */
static void silent_server(char *out, size_t len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sa_len = sizeof(sa);

    silent_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(silent_fd, 0);
    cr_assert_eq(bind(silent_fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s", strerror(errno));
    cr_assert_eq(listen(silent_fd, 8), 0);
    cr_assert_eq(getsockname(silent_fd, (struct sockaddr *)&sa, &sa_len), 0);
    /* connect_timeout would be libpq's own (blocking) deadline; the probe's must win */
    snprintf(out, len, "host=127.0.0.1 port=%d dbname=x connect_timeout=60 sslmode=disable",
             ntohs(sa.sin_port));
}

/* hl_health_get until the database is WANT; every call returns at once. */
static void wait_for(hl_health_db_t want, double deadline_s)
{
    int64_t t0 = hl_monotonic_us();
    hl_health_state_t st;

    for (;;) {
        int64_t before = hl_monotonic_us();
        hl_health_get(health, &st);
        cr_assert_lt(hl_monotonic_us() - before, 50000, "hl_health_get waited");
        if (st.database == want)
            return;
        cr_assert_lt((double)(hl_monotonic_us() - t0) / 1e6, deadline_s, "database %s, not %s after %.1f s",
                     hl_health_db_name(st.database), hl_health_db_name(want), deadline_s);
        usleep(20 * 1000);
    }
}

Test(health, up_with_its_own_named_connection)
{
    hl_health_state_t st;

    hl_pgtest_create(&db);
    start(db.conninfo, 0);
    wait_for(HL_HEALTH_DB_UP, 3.0);
    hl_health_get(health, &st);
    cr_expect(st.spool_usable);
    PGconn *conn = hl_pgtest_connect(&db);
    cr_expect_eq(hl_pgtest_scalar(conn,
                                  "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                  "AND application_name = 'helplined health'"),
                 1, "one connection, named in pg_stat_activity");
    PQfinish(conn);
}

Test(health, read_only_session_reads_read_only)
{
    char conninfo[1200];

    hl_pgtest_create(&db);
    snprintf(conninfo, sizeof(conninfo), "%s options='-c default_transaction_read_only=on'", db.conninfo);
    start(conninfo, 0);
    wait_for(HL_HEALTH_DB_READ_ONLY, 3.0);
}

Test(health, refused_connection_reads_down)
{
    hl_log_set_level(HL_LOG_ERROR);
    start("host=127.0.0.1 port=1 dbname=nothing", 0);
    usleep(300 * 1000); /* three probes */
    hl_health_state_t st;
    hl_health_get(health, &st);
    cr_expect_eq(st.database, HL_HEALTH_DB_DOWN);
    cr_expect(st.spool_usable, "the spool does not depend on the database");
}

/* A server that takes the TCP connection and then says nothing (a stopped postmaster's listen
 * queue): down, readers never wait, and stopping does not wait for the probe's deadline. */
Test(health, silent_server_reads_down_and_stop_is_prompt)
{
    char conninfo[128];

    hl_log_set_level(HL_LOG_ERROR);
    silent_server(conninfo, sizeof(conninfo));
    start(conninfo, 5000);
    usleep(100 * 1000); /* the probe is now waiting for the server's answer */
    wait_for(HL_HEALTH_DB_DOWN, 1.0);

    int64_t t0 = hl_monotonic_us();
    hl_health_stop(health);
    health = NULL;
    cr_expect_lt(hl_monotonic_us() - t0, 150000, "stop took %lld us", (long long)(hl_monotonic_us() - t0));
}

Test(health, null_reads_down)
{
    hl_health_state_t st = {.database = HL_HEALTH_DB_UP, .spool_usable = true};

    hl_health_get(NULL, &st);
    cr_expect_eq(st.database, HL_HEALTH_DB_DOWN);
    cr_expect_not(st.spool_usable);
    cr_expect_str_eq(hl_health_db_name(HL_HEALTH_DB_UP), "up");
    cr_expect_str_eq(hl_health_db_name(HL_HEALTH_DB_DOWN), "down");
    cr_expect_str_eq(hl_health_db_name(HL_HEALTH_DB_READ_ONLY), "read_only");
    hl_health_stop(NULL);
}

/* Without read_database_url there is no replica to report. */
Test(health, no_replica_configured)
{
    hl_health_state_t st;

    hl_pgtest_create(&db);
    start(db.conninfo, 0);
    wait_for(HL_HEALTH_DB_UP, 3.0);
    hl_health_get(health, &st);
    cr_expect_not(st.replica.configured);
    cr_expect_not(st.replica.up);
}

/* read_database_url on a primary (not a standby): up, its own named connection, no lag. The
 * standby case needs a real standby: tests/integration/test_replica.c. */
Test(health, replica_that_is_a_primary_reads_up_without_lag)
{
    hl_health_state_t st;
    int64_t t0 = hl_monotonic_us();

    hl_pgtest_create(&db);
    start_with_replica(db.conninfo, db.conninfo, 0);
    do {
        cr_assert_lt(hl_monotonic_us() - t0, 3000000, "the replica is not up after 3 s");
        usleep(20 * 1000);
        hl_health_get(health, &st);
    } while (!st.replica.up);
    cr_expect(st.replica.configured);
    cr_expect_not(st.replica.standby);
    cr_expect(st.replica.lag_known);
    cr_expect_float_eq(st.replica.lag_seconds, 0, 0);
    cr_expect_eq(st.replica.lag_bytes, 0);
    cr_expect_eq(st.database, HL_HEALTH_DB_UP);
    PGconn *conn = hl_pgtest_connect(&db);
    cr_expect_eq(hl_pgtest_scalar(conn,
                                  "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                  "AND application_name = 'helplined health replica'"),
                 1, "one replica probe connection, named in pg_stat_activity");
    PQfinish(conn);
}

/* A replica that never answers costs each probe its deadline, but the primary's state stays
 * fresh (it is probed first, every round): up, never a stale "down", and the replica down. */
Test(health, silent_replica_leaves_the_primary_up)
{
    char replica[128];
    hl_health_state_t st;

    hl_log_set_level(HL_LOG_ERROR);
    hl_pgtest_create(&db);
    silent_server(replica, sizeof(replica));
    start_with_replica(db.conninfo, replica, 0);
    wait_for(HL_HEALTH_DB_UP, 3.0);
    for (int64_t t0 = hl_monotonic_us(); hl_monotonic_us() - t0 < 3500000;) {
        hl_health_get(health, &st);
        cr_assert_eq(st.database, HL_HEALTH_DB_UP, "the primary read %s while the replica was silent",
                     hl_health_db_name(st.database));
        cr_assert_not(st.replica.up);
        cr_assert_not(st.replica.lag_known);
        usleep(50 * 1000);
    }
}
