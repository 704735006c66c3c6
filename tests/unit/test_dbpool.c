/* server/db/dbpool: the pool never lends more connections than it has; hl_dbpool_exec prepares a
 * statement once per session and falls back to unnamed statements where a session does not keep them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "db/dbpool.h"
#include "pgtest.h"

static hl_pgtest_t db;

static void setup(void)
{
    hl_pgtest_create(&db);
}

static void teardown(void)
{
    hl_pgtest_drop(&db);
}

TestSuite(dbpool, .init = setup, .fini = teardown, .timeout = 30);

/* Found by tests/fuzz/fuzz_http.c: a handler that released the NULL of a failed acquire pushed
 * a slot the pool did not have; the idle stack then overflowed its array, and meanwhile the pool
 * lent one connection more than its size. */
Test(dbpool, release_of_null_is_a_no_op)
{
    hl_dbpool_t *pool = NULL, *down = NULL;
    PGconn *c1, *c2;

    cr_assert_eq(hl_dbpool_new("host=/nonexistent/helpline-test port=1 dbname=x", 1, &down), HL_OK);
    for (int i = 0; i < 4; i++) {
        cr_assert_null(hl_dbpool_acquire(down, 100));
        hl_dbpool_release(down, NULL); /* what the handler did */
    }
    hl_dbpool_free(down);

    cr_assert_eq(hl_dbpool_new(db.conninfo, 1, &pool), HL_OK);
    c1 = hl_dbpool_acquire(pool, 1000);
    cr_assert_not_null(c1);
    hl_dbpool_release(pool, NULL);
    c2 = hl_dbpool_acquire(pool, 100);
    cr_expect_null(c2, "a pool of one lent a second connection");
    hl_dbpool_release(pool, c2);
    hl_dbpool_release(pool, c1);
    c1 = hl_dbpool_acquire(pool, 1000);
    cr_expect_not_null(c1, "the one connection is back");
    hl_dbpool_release(pool, c1);
    hl_dbpool_free(pool);
}

/* ---- hl_dbpool_exec: statements prepared once per session, unnamed where a session does not
 * keep them (a pooler in transaction mode) ---------------------------------------------------- */

#define ADD_ONE "SELECT $1::int + 1"

static long prepared_count(PGconn *conn)
{
    return hl_pgtest_scalar(conn, "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'hl\\_%'");
}

/* ADD_ONE through hl_dbpool_exec with V: the answer, or -1 after an error. */
static long add_one(PGconn *conn, const char *v)
{
    const char *values[1] = {v};
    PGresult *res = hl_dbpool_exec(conn, ADD_ONE, 1, values, NULL, NULL, 0);
    long r = PQresultStatus(res) == PGRES_TUPLES_OK ? atol(PQgetvalue(res, 0, 0)) : -1;

    PQclear(res);
    return r;
}

Test(dbpool, a_statement_is_prepared_once_then_run_by_its_name)
{
    hl_dbpool_t *pool = NULL;
    PGconn *conn;

    cr_assert_eq(hl_dbpool_new(db.conninfo, 1, &pool), HL_OK);
    conn = hl_dbpool_acquire(pool, 1000);
    cr_assert_not_null(conn);
    cr_expect_eq(add_one(conn, "1"), 2);
    cr_expect_eq(prepared_count(conn), 1, "prepared at its first use");
    cr_expect_eq(add_one(conn, "41"), 42);
    cr_expect_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'hl\\_%'"
                                        " AND statement = '" ADD_ONE "'"),
                 1, "one statement, run by its name the second time");
    /* binary results */
    const char *values[1] = {"7"};
    PGresult *res = hl_dbpool_exec(conn, "SELECT $1::int8", 1, values, NULL, NULL, 1);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    cr_expect_eq(PQgetlength(res, 0, 0), 8);
    cr_expect_eq((unsigned char)PQgetvalue(res, 0, 0)[7], 7);
    PQclear(res);
    hl_dbpool_release(pool, conn);
    hl_dbpool_free(pool);
}

/* A pooler ran the statement on a server connection that never prepared it (SQLSTATE 26000):
 * the call still answers, and the connection sends its statements unnamed from then on. */
Test(dbpool, a_statement_missing_from_the_session_runs_unnamed)
{
    hl_dbpool_t *pool = NULL;
    PGconn *conn;

    cr_assert_eq(hl_dbpool_new(db.conninfo, 1, &pool), HL_OK);
    conn = hl_dbpool_acquire(pool, 1000);
    cr_assert_not_null(conn);
    cr_assert_eq(add_one(conn, "1"), 2);
    PQclear(PQexec(conn, "DEALLOCATE ALL")); /* another server session, as far as it knows */
    cr_expect_eq(add_one(conn, "2"), 3, "the missing statement is run again, unnamed");
    cr_expect_eq(PQtransactionStatus(conn), PQTRANS_IDLE);
    cr_expect_eq(add_one(conn, "3"), 4);
    cr_expect_eq(prepared_count(conn), 0, "not prepared again");
    hl_dbpool_release(pool, conn);
    hl_dbpool_free(pool);
}

/* Another client of a pooler prepared the same text under the same name on this server
 * connection (SQLSTATE 42P05): the call answers, unnamed. */
Test(dbpool, a_name_taken_in_the_session_runs_unnamed)
{
    hl_dbpool_t *pool = NULL;
    PGconn *a, *b;
    PGresult *res;
    char sql[256];

    cr_assert_eq(hl_dbpool_new(db.conninfo, 2, &pool), HL_OK);
    a = hl_dbpool_acquire(pool, 1000);
    b = hl_dbpool_acquire(pool, 1000);
    cr_assert(a != NULL && b != NULL);
    cr_assert_eq(add_one(a, "1"), 2);
    res = PQexec(a, "SELECT name FROM pg_prepared_statements WHERE name LIKE 'hl\\_%'");
    cr_assert_eq(PQntuples(res), 1);
    snprintf(sql, sizeof(sql), "PREPARE %s (int) AS " ADD_ONE, PQgetvalue(res, 0, 0));
    PQclear(res);
    res = PQexec(b, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(b));
    PQclear(res);
    cr_expect_eq(add_one(b, "5"), 6);
    cr_expect_eq(PQtransactionStatus(b), PQTRANS_IDLE);
    cr_expect_eq(add_one(b, "6"), 7);
    hl_dbpool_release(pool, a);
    hl_dbpool_release(pool, b);
    hl_dbpool_free(pool);
}

/* Inside a transaction block nothing is prepared: an error there would abort the caller's
 * transaction. A statement's own error comes back as it is. */
Test(dbpool, unnamed_inside_a_transaction_and_errors_come_back)
{
    hl_dbpool_t *pool = NULL;
    PGconn *conn;
    PGresult *res;
    const char *zero[1] = {"0"};

    cr_assert_eq(hl_dbpool_new(db.conninfo, 1, &pool), HL_OK);
    conn = hl_dbpool_acquire(pool, 1000);
    cr_assert_not_null(conn);
    PQclear(PQexec(conn, "BEGIN"));
    cr_expect_eq(add_one(conn, "1"), 2);
    cr_expect_eq(prepared_count(conn), 0);
    cr_expect_eq(PQtransactionStatus(conn), PQTRANS_INTRANS);
    PQclear(PQexec(conn, "COMMIT"));

    res = hl_dbpool_exec(conn, "SELECT 1 / $1::int", 1, zero, NULL, NULL, 0);
    cr_expect_eq(PQresultStatus(res), PGRES_FATAL_ERROR);
    cr_expect_str_eq(PQresultErrorField(res, PG_DIAG_SQLSTATE), "22012");
    PQclear(res);
    res = hl_dbpool_exec(conn, "SELEC 1", 0, NULL, NULL, NULL, 0);
    cr_expect_eq(PQresultStatus(res), PGRES_FATAL_ERROR);
    cr_expect_str_eq(PQresultErrorField(res, PG_DIAG_SQLSTATE), "42601");
    PQclear(res);
    cr_expect_eq(add_one(conn, "2"), 3, "still prepared after an error in another statement");
    cr_expect_eq(prepared_count(conn), 2);

    /* A connection that is not a pool's sends them unnamed. */
    PGconn *plain = PQconnectdb(db.conninfo);
    cr_assert_eq(PQstatus(plain), CONNECTION_OK);
    cr_expect_eq(add_one(plain, "3"), 4);
    cr_expect_eq(prepared_count(plain), 0);
    PQfinish(plain);
    hl_dbpool_release(pool, conn);
    hl_dbpool_free(pool);
}
