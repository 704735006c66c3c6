/*
 * Test support: a real PgBouncer (Debian's /usr/sbin/pgbouncer) in front of a test cluster.
 *
 * It runs in the foreground from a temporary directory that holds its config, auth file, log
 * and Unix socket, and listens on that socket only (no TCP port). Every database name maps to
 * the same name on the cluster (the "*" entry), so a database made by hl_pgtest_create is
 * reachable through it at once. auth_type is trust, with a generated auth file naming the
 * cluster's user. Run as root, it runs as the postgres user (PgBouncer refuses root).
 *
 * Start and stop it from the test's main thread: it gets PR_SET_PDEATHSIG(SIGKILL), so it dies
 * with the test process even when the test crashes.
 */
#ifndef HL_TEST_PGBOUNCER_H
#define HL_TEST_PGBOUNCER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define HL_TESTBOUNCER_BIN      "/usr/sbin/pgbouncer"
#define HL_TESTBOUNCER_PATH_LEN 256

typedef struct hl_testbouncer_opts {
    const char *backend;   /* libpq conninfo of the cluster (host, port, user); NULL: HL_TEST_PG_URL */
    const char *pool_mode; /* "session", "transaction" or "statement"; NULL: "transaction" */
    int pool_size;         /* server connections per database and user (default_pool_size); 0: 2 */
} hl_testbouncer_opts_t;

typedef struct hl_testbouncer {
    char dir[HL_TESTBOUNCER_PATH_LEN];      /* temporary directory, also the socket's */
    char log[HL_TESTBOUNCER_PATH_LEN + 32]; /* PgBouncer's stderr: its log */
    char user[64];                          /* the user clients and server connections log in as */
    int port;                               /* in the socket's name, .s.PGSQL.PORT */
    pid_t pid;                              /* 0 when not running */
} hl_testbouncer_t;

/* Whether HL_TESTBOUNCER_BIN is installed; a test without it calls cr_skip. */
bool hl_testbouncer_available(void);

/* Writes the config, starts PgBouncer and waits (10 s) until it accepts connections; aborts the
 * test (cr_assert) on failure, showing its log. */
void hl_testbouncer_start(hl_testbouncer_t *b, const hl_testbouncer_opts_t *opts);

/* The libpq connection string for database DBNAME through it. */
void hl_testbouncer_conninfo(const hl_testbouncer_t *b, const char *dbname, char *out, size_t len);

/* SIGTERM (immediate shutdown), wait 5 s, then SIGKILL; removes the directory. Safe to call
 * twice and on a zeroed struct. */
void hl_testbouncer_stop(hl_testbouncer_t *b);

#endif
