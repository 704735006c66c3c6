#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrate.h"
#include "pgtest.h"

static hl_pgtest_t db;
static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/helpline-mig.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    hl_pgtest_create(&db);
}

static void teardown(void)
{
    char cmd[128];

    hl_pgtest_drop(&db);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(migrate, .init = setup, .fini = teardown);

static void put(const char *name, const char *sql)
{
    char p[256];
    FILE *f;

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(sql, f);
    fclose(f);
}

Test(migrate, applies_in_order_once)
{
    PGconn *conn = hl_pgtest_connect(&db);
    int applied = -1;

    /* Written out of order: 0002 depends on 0001's table. */
    put("0002_second.sql", "INSERT INTO t (v) VALUES ('two');");
    put("0001_first.sql", "CREATE TABLE t (n serial, v text);");
    put("0010_tenth.sql", "INSERT INTO t (v) VALUES ('ten');");
    put("README", "not a migration");
    cr_assert_eq(hl_migrate_run(conn, dir, &applied), HL_OK);
    cr_assert_eq(applied, 3);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM schema_migrations"), 3);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT n FROM t WHERE v = 'ten'"), 2);

    cr_assert_eq(hl_migrate_run(conn, dir, &applied), HL_OK);
    cr_assert_eq(applied, 0);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM t"), 2);

    put("0011_more.sql", "INSERT INTO t (v) VALUES ('eleven');");
    cr_assert_eq(hl_migrate_run(conn, dir, &applied), HL_OK);
    cr_assert_eq(applied, 1);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT max(version) FROM schema_migrations"), 11);
    PQfinish(conn);
}

Test(migrate, changed_checksum_refused)
{
    PGconn *conn = hl_pgtest_connect(&db);
    int applied = -1;

    put("0001_first.sql", "CREATE TABLE t (v text);");
    cr_assert_eq(hl_migrate_run(conn, dir, &applied), HL_OK);
    put("0001_first.sql", "CREATE TABLE t (v text, w text);");
    put("0002_second.sql", "CREATE TABLE u (v text);");
    cr_assert_eq(hl_migrate_run(conn, dir, &applied), HL_ECONFLICT);
    /* Nothing after the refusal was applied. */
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM schema_migrations"), 1);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM pg_tables WHERE tablename = 'u'"), 0);
    PQfinish(conn);
}

Test(migrate, failed_migration_rolls_back_alone)
{
    PGconn *conn = hl_pgtest_connect(&db);
    int applied = -1;

    put("0001_first.sql", "CREATE TABLE t (v text);");
    put("0002_broken.sql", "CREATE TABLE half (v text); SELECT no_such_function();");
    put("0003_third.sql", "CREATE TABLE w (v text);");
    cr_assert_eq(hl_migrate_run(conn, dir, &applied), HL_EDB);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM schema_migrations"), 1);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM pg_tables WHERE tablename IN ('half', 'w')"),
                 0);
    PQfinish(conn);
}

Test(migrate, missing_applied_file_refused)
{
    PGconn *conn = hl_pgtest_connect(&db);
    int applied = -1;
    char p[256];

    put("0001_first.sql", "CREATE TABLE t (v text);");
    put("0002_second.sql", "CREATE TABLE u (v text);");
    cr_assert_eq(hl_migrate_run(conn, dir, &applied), HL_OK);
    snprintf(p, sizeof(p), "%s/0002_second.sql", dir);
    unlink(p);
    cr_assert_eq(hl_migrate_run(conn, dir, &applied), HL_ECONFLICT);
    PQfinish(conn);
}

Test(migrate, gap_before_applied_refused)
{
    PGconn *conn = hl_pgtest_connect(&db);
    int applied = -1;

    put("0002_second.sql", "CREATE TABLE u (v text);");
    cr_assert_eq(hl_migrate_run(conn, dir, &applied), HL_OK);
    put("0001_first.sql", "CREATE TABLE t (v text);");
    cr_assert_eq(hl_migrate_run(conn, dir, &applied), HL_ECONFLICT);
    PQfinish(conn);
}

Test(migrate, bad_names_refused)
{
    PGconn *conn = hl_pgtest_connect(&db);
    int applied = -1;

    put("1_short.sql", "SELECT 1;");
    cr_assert_eq(hl_migrate_run(conn, dir, &applied), HL_EINVAL);
    PQfinish(conn);
}

Test(migrate, duplicate_numbers_refused)
{
    PGconn *conn = hl_pgtest_connect(&db);
    int applied = -1;

    put("0001_a.sql", "SELECT 1;");
    put("0001_b.sql", "SELECT 1;");
    cr_assert_eq(hl_migrate_run(conn, dir, &applied), HL_EINVAL);
    PQfinish(conn);
}

Test(migrate, project_migrations_apply)
{
    PGconn *conn = hl_pgtest_connect(&db);
    int applied = -1;

    cr_assert_eq(hl_migrate_run(conn, HL_TEST_SRCDIR "/migrations", &applied), HL_OK);
    cr_assert_gt(applied, 0);
    cr_assert_eq(
        hl_pgtest_scalar(conn, "SELECT count(*) FROM pg_tables WHERE tablename IN ('helplines', 'users')"),
        2);
    cr_assert_eq(hl_migrate_run(conn, HL_TEST_SRCDIR "/migrations", &applied), HL_OK);
    cr_assert_eq(applied, 0);
    PQfinish(conn);
}
