/*
 * Test support: a fresh, empty PostgreSQL database per test, in the throw-away cluster
 * that scripts/with-pg started (HL_TEST_PG_URL). Criterion runs each test in its own
 * process, so every test gets its own database and tests never see each other's rows.
 */
#ifndef HL_PGTEST_H
#define HL_PGTEST_H

#include <libpq-fe.h>

typedef struct hl_pgtest {
    char name[64];       /* database name */
    char conninfo[1024]; /* libpq connection string for it */
} hl_pgtest_t;

/* Creates the database; aborts the test (cr_assert) when no cluster is available. */
void hl_pgtest_create(hl_pgtest_t *db);

/* Connects to it; aborts the test on failure. The caller PQfinish()es. */
PGconn *hl_pgtest_connect(const hl_pgtest_t *db);

/* Drops the database (forcing other sessions out). */
void hl_pgtest_drop(hl_pgtest_t *db);

/* Runs one SQL statement and returns the first column of the first row as a long
 * (or -1 when there is no row). Aborts the test on an SQL error. */
long hl_pgtest_scalar(PGconn *conn, const char *sql);

#endif
