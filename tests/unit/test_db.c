/* PostgreSQL connections: their application_name, terse errors, refused connections and statements. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "db/db.h"
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

TestSuite(db, .init = setup, .fini = teardown);

static char *application_name(PGconn *conn)
{
    PGresult *res =
        PQexec(conn, "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()");
    char *v;

    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
    cr_assert_eq(PQntuples(res), 1);
    v = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

Test(db, connect_names_the_connection_helplined)
{
    PGconn *conn = NULL;
    char *name;

    cr_assert_eq(hl_db_connect(db.conninfo, &conn), HL_OK);
    name = application_name(conn);
    cr_expect_str_eq(name, "helplined");
    cr_expect_eq(PQsetErrorVerbosity(conn, PQERRORS_DEFAULT), PQERRORS_TERSE, "errors are terse");
    free(name);
    PQfinish(conn);
}

Test(db, connect_as_names_the_connection)
{
    PGconn *conn = NULL;
    char *name;

    cr_assert_eq(hl_db_connect_as(db.conninfo, "helplined writer 1", &conn), HL_OK);
    name = application_name(conn);
    cr_expect_str_eq(name, "helplined writer 1");
    cr_assert_eq(hl_db_exec(conn, "SELECT 1"), HL_OK);
    free(name);
    PQfinish(conn);
}

Test(db, application_name_of_the_database_url_wins)
{
    char conninfo[sizeof(db.conninfo) + 64];
    PGconn *conn = NULL;
    char *name;

    snprintf(conninfo, sizeof(conninfo), "%s application_name=helpline-east", db.conninfo);
    cr_assert_eq(hl_db_connect_as(conninfo, "helplined merger", &conn), HL_OK);
    name = application_name(conn);
    cr_expect_str_eq(name, "helpline-east");
    free(name);
    PQfinish(conn);
}

Test(db, missing_or_unreachable_database_is_an_error)
{
    PGconn *conn = NULL;

    cr_assert_eq(hl_db_connect(NULL, &conn), HL_EDB);
    cr_assert_eq(hl_db_connect("", &conn), HL_EDB);
    cr_assert_eq(
        hl_db_connect_as("host=/nonexistent/helpline-no-server port=5433 dbname=none connect_timeout=2",
                         "helplined", &conn),
        HL_EDB);
    cr_assert_null(conn, "nothing written on failure");
}

Test(db, exec_reports_sql_errors)
{
    PGconn *conn = NULL;

    cr_assert_eq(hl_db_connect(db.conninfo, &conn), HL_OK);
    cr_assert_eq(hl_db_exec(conn, "SELECT 1"), HL_OK);
    cr_assert_eq(hl_db_exec(conn, "SELEKT 1"), HL_EDB);
    cr_assert_eq(hl_db_exec(conn, "SELECT no_such_column FROM pg_class"), HL_EDB);
    PQfinish(conn);
}
