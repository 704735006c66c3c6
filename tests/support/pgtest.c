#include "pgtest.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static PGconn *admin_connect(void)
{
    const char *url = getenv("HL_TEST_PG_URL");

    cr_assert(url != NULL && *url != '\0',
              "HL_TEST_PG_URL is not set: run the tests through scripts/with-pg (make check)");
    PGconn *conn = PQconnectdb(url);
    cr_assert(PQstatus(conn) == CONNECTION_OK, "cannot connect to the test cluster: %s",
              PQerrorMessage(conn));
    return conn;
}

static void exec_ok(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    cr_assert(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s",
              sql, PQerrorMessage(conn));
    PQclear(res);
}

void hl_pgtest_create(hl_pgtest_t *db)
{
    static unsigned counter;
    char sql[128];
    PGconn *conn = admin_connect();

    snprintf(db->name, sizeof(db->name), "t_%ld_%u_%ld", (long)getpid(), counter++, random() % 100000);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db->name);
    exec_ok(conn, sql);
    PQfinish(conn);
    /* In a libpq keyword string a repeated keyword overrides the earlier one. */
    snprintf(db->conninfo, sizeof(db->conninfo), "%s dbname=%s", getenv("HL_TEST_PG_URL"), db->name);
}

PGconn *hl_pgtest_connect(const hl_pgtest_t *db)
{
    PGconn *conn = PQconnectdb(db->conninfo);
    cr_assert(PQstatus(conn) == CONNECTION_OK, "cannot connect to %s: %s", db->name, PQerrorMessage(conn));
    return conn;
}

void hl_pgtest_drop(hl_pgtest_t *db)
{
    char sql[128];
    PGconn *conn = admin_connect();

    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db->name);
    exec_ok(conn, sql);
    PQfinish(conn);
}

long hl_pgtest_scalar(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    long v = -1;

    cr_assert(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(conn));
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        v = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}
