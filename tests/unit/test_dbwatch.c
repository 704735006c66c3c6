/* Deadlines on PostgreSQL calls: a watch shuts a hung call's socket down; a disarmed one never. */
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db/db.h"
#include "db/dbpool.h"
#include "db/dbwatch.h"
#include "pgtest.h"

static hl_pgtest_t db;
static PGconn *conn;

static void setup(void)
{
    hl_pgtest_create(&db);
    cr_assert_eq(hl_db_connect(db.conninfo, &conn), HL_OK);
}

static void teardown(void)
{
    PQfinish(conn);
    hl_pgtest_drop(&db);
}

TestSuite(dbwatch, .init = setup, .fini = teardown, .timeout = 30);

static double seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A statement that would run 20 s ends at the deadline, with the connection broken. */
Test(dbwatch, deadline_ends_a_hung_call)
{
    hl_dbwatch_t w;
    double t0 = seconds(), took;
    PGresult *res;

    cr_assert_eq(hl_dbwatch_arm(&w, conn, 200), HL_OK);
    res = PQexec(conn, "SELECT pg_sleep(20)");
    took = seconds() - t0;
    cr_assert(hl_dbwatch_disarm(&w), "the watch did not fire");
    cr_assert_neq(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    cr_assert_eq(PQstatus(conn), CONNECTION_BAD);
    cr_assert_geq(took, 0.15);
    cr_assert_lt(took, 5.0, "the call took %.2f s", took);
}

/* A call that ends in time is left alone, and so is the socket after the watch is disarmed. */
Test(dbwatch, disarmed_watch_never_fires)
{
    hl_dbwatch_t a, b;
    PGresult *res;

    cr_assert_eq(hl_dbwatch_arm(&a, conn, 100), HL_OK);
    cr_assert_eq(hl_dbwatch_arm(&b, conn, 5000), HL_OK);
    res = PQexec(conn, "SELECT 1");
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    cr_assert_not(hl_dbwatch_disarm(&a));
    cr_assert_not(hl_dbwatch_disarm(&a), "disarming twice is harmless");
    usleep(300000); /* past a's deadline */
    res = PQexec(conn, "SELECT 1");
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
    PQclear(res);
    cr_assert_not(hl_dbwatch_disarm(&b));
    cr_assert_eq(PQstatus(conn), CONNECTION_OK);
}

Test(dbwatch, no_socket_no_watch)
{
    hl_dbwatch_t w;

    cr_assert_eq(hl_dbwatch_arm(&w, NULL, 100), HL_EINVAL);
    cr_assert_not(hl_dbwatch_disarm(&w));
}

/* A pool connection held past HL_DBPOOL_DEADLINE_MS (a request stuck behind a lock) fails
 * its call, and the pool gives out a fresh connection afterwards. */
Test(dbwatch, pool_connections_carry_the_deadline)
{
    hl_dbpool_t *pool = NULL;
    PGconn *c;
    PGresult *res;
    double t0, took;

    cr_assert_eq(hl_dbpool_new(db.conninfo, 1, &pool), HL_OK);
    c = hl_dbpool_acquire(pool, 1000);
    cr_assert_not_null(c);
    t0 = seconds();
    res = PQexec(c, "SELECT pg_sleep(30)");
    took = seconds() - t0;
    cr_assert_neq(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    cr_assert_geq(took, HL_DBPOOL_DEADLINE_MS / 1000.0 - 0.1);
    cr_assert_lt(took, HL_DBPOOL_DEADLINE_MS / 1000.0 + 2.0, "the call took %.2f s", took);
    hl_dbpool_release(pool, c);
    c = hl_dbpool_acquire(pool, 1000);
    cr_assert_not_null(c);
    res = PQexec(c, "SELECT 1");
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    PQclear(res);
    hl_dbpool_release(pool, c);
    hl_dbpool_free(pool);
}
