/*
 * Test support: the real helplined binary (HL_TEST_BUILDDIR "/helplined") in a temporary
 * directory, set up the way an operator would (keygen, config file, migrate, helpline add,
 * user add per role), serving on 127.0.0.1 on a free port, with its stderr in a log file;
 * and an HTTP client over libcurl for it.
 *
 * Criterion runs each test in its own process: start the daemon in the test (or its .init),
 * stop it in .fini. The daemon gets PR_SET_PDEATHSIG(SIGKILL), so it dies with the test
 * process even when the test crashes. Start, restart and stop from the test's main thread
 * (the death signal follows the thread that forked).
 *
 * Two helplines: "demo" (taxonomy/mappings/demo.json) with one user of each role and a
 * second counsellor, and "za" with an admin and a counsellor (for cross-helpline checks).
 */
#ifndef HL_TEST_DAEMON_H
#define HL_TEST_DAEMON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "pgtest.h"

#define HL_TESTD_TOKEN_LEN 128
#define HL_TESTD_PATH_LEN  512

typedef struct hl_testd hl_testd_t;

typedef struct hl_testd_opts {
    const char *conninfo;   /* an empty database; NULL: a fresh one in the with-pg cluster, dropped by stop */
    size_t max_body_bytes;  /* 0: the daemon's default */
    int writer_connections; /* 0: the daemon's default */
    const char *read_conninfo; /* read_database_url; NULL: none */
    /* database_url of serve alone (e.g. a role of less privilege); the set-up's admin commands
     * (migrate, helpline add, user add) use conninfo, and so do later ones (hl_testd_admin) unless
     * this is set. NULL: conninfo. */
    const char *serve_conninfo;
    /* Called after the set-up, before serve starts (e.g. to apply deploy/roles.sql); NULL: none. */
    void (*before_serve)(hl_testd_t *d);
} hl_testd_opts_t;

/* The users of a started daemon (hl_testd_t.tokens). */
typedef struct hl_testd_tokens {
    char frontend[HL_TESTD_TOKEN_LEN];      /* demo-frontend */
    char counsellor[HL_TESTD_TOKEN_LEN];    /* amina */
    char counsellor2[HL_TESTD_TOKEN_LEN];   /* baraka */
    char supervisor[HL_TESTD_TOKEN_LEN];    /* demo-supervisor */
    char network[HL_TESTD_TOKEN_LEN];       /* demo-network */
    char admin[HL_TESTD_TOKEN_LEN];         /* demo-admin */
    char za_admin[HL_TESTD_TOKEN_LEN];      /* za-admin, helpline za */
    char za_counsellor[HL_TESTD_TOKEN_LEN]; /* zola, helpline za */
} hl_testd_tokens_t;

struct hl_testd {
    char dir[HL_TESTD_PATH_LEN];   /* temporary directory: key, config, spool, log */
    char conf[HL_TESTD_PATH_LEN];  /* config file */
    char log[HL_TESTD_PATH_LEN];   /* the daemon's stderr (and the admin commands') */
    char spool[HL_TESTD_PATH_LEN]; /* spool_dir */
    char conninfo[1024];           /* the daemon's database */
    char url[64];                  /* http://127.0.0.1:PORT */
    int port;
    pid_t pid; /* serve process, 0 when not running */
    bool own_db;
    hl_pgtest_t db;
    hl_testd_tokens_t tokens;
};

/* Sets up and starts a daemon; aborts the test (cr_assert) on failure, showing the log. */
void hl_testd_start(hl_testd_t *d, const hl_testd_opts_t *opts);

/* Starts a second daemon D beside FIRST (started): the same database, master key file and users
 * (D's tokens are FIRST's), its own directory, port and spool_dir; OPTS as for hl_testd_start,
 * but its conninfo, when given, is a copy of FIRST's database (e.g. one restored from a backup)
 * instead of FIRST's own. Stop D before FIRST, whose stop drops the database. */
void hl_testd_start_peer(hl_testd_t *d, const hl_testd_t *first, const hl_testd_opts_t *opts);

/* SIGTERM, wait (10 s), SIGKILL if needed; drops the database (when it made one) and removes
 * the directory. Returns the serve process's wait status (-1: not running). Safe to call twice. */
int hl_testd_stop(hl_testd_t *d);

/* SIGTERM and wait (10 s, then SIGKILL); the directory and database stay. Returns the wait
 * status (-1: not running or killed). */
int hl_testd_term(hl_testd_t *d);

/* SIGKILL and reap; the directory, database and config stay. */
void hl_testd_kill(hl_testd_t *d);

/* Starts serve again with the same config (after kill) and waits for /healthz. */
void hl_testd_restart(hl_testd_t *d);

/* The same while PostgreSQL is down: waits until /healthz answers at all. */
void hl_testd_restart_database_down(hl_testd_t *d);

/* Runs `helplined ARGS... -c CONF`; returns the exit status, stdout (trimmed) in OUT. */
int hl_testd_admin(hl_testd_t *d, char *out, size_t out_len, const char *const *args);

/* `helplined user add NAME --role ROLE --helpline CODE`; aborts the test on failure. */
void hl_testd_user_add(hl_testd_t *d, const char *name, const char *role, const char *helpline,
                       char token[HL_TESTD_TOKEN_LEN]);

/* The whole daemon log (malloc'd, NUL-terminated; *LEN optional). */
char *hl_testd_read_file(const char *path, size_t *len);

/* One HTTP request. TOKEN: NULL for no Authorization header. CONTENT_TYPE: NULL sends no
 * Content-Type. BODY: NULL for none. Writes the status; *RESPONSE (optional) gets the body
 * (malloc'd). Returns the parsed JSON when the reply is application/json, else NULL. The
 * status is 0 when the daemon could not be reached. Thread-safe (after hl_testd_start). */
json_t *hl_testd_request(const hl_testd_t *d, const char *method, const char *path, const char *token,
                         const char *content_type, const char *body, long *status, char **response);

/* The full form: any Authorization header value, a body with its length, chunked upload. */
typedef struct hl_testd_req {
    const char *method;
    const char *path;
    const char *token;         /* "Authorization: Bearer TOKEN" */
    const char *authorization; /* raw Authorization value (wins over TOKEN) */
    const char *content_type;
    const char *body;
    size_t body_len;            /* 0: strlen(body) */
    bool chunked;               /* send the body with Transfer-Encoding: chunked (no Content-Length) */
    const char *const *headers; /* more header lines ("Cookie: a=b", ...), NULL-ended; NULL: none */
} hl_testd_req_t;

typedef struct hl_testd_resp {
    long status;
    char *body; /* malloc'd, NUL-terminated */
    size_t body_len;
    char content_type[128];
    char allow[128];
    char retry_after[32];
    char set_cookie[512]; /* the Set-Cookie value ("" when none) */
    json_t *json;         /* parsed when application/json */
} hl_testd_resp_t;

void hl_testd_do(const hl_testd_t *d, const hl_testd_req_t *req, hl_testd_resp_t *resp);
void hl_testd_resp_free(hl_testd_resp_t *resp);

/* GET /healthz until PRED holds (or the deadline in seconds); returns the last reply (or NULL). */
json_t *hl_testd_wait_health(const hl_testd_t *d, bool (*pred)(json_t *health), double deadline_s);

/* pg_dump (PostgreSQL 15's) of the database CONNINFO into OUT_FILE, plain SQL; returns its exit status. */
int hl_testd_pg_dump(const char *conninfo, const char *out_file);

/* A connection to the daemon's database (caller PQfinish()es). */
PGconn *hl_testd_db(const hl_testd_t *d);

/* A throw-away PostgreSQL cluster of the test's own (scripts/pg-local in a mkdtemp dir under
 * /tmp). A watcher process stops it and removes the directory when the test process dies,
 * also when it crashes; hl_testpg_destroy does the same at once. */
typedef struct hl_testpg {
    char dir[HL_TESTD_PATH_LEN];
    char conninfo[1024];
    pid_t watcher;
} hl_testpg_t;

void hl_testpg_create(hl_testpg_t *pg); /* initdb and start */
void hl_testpg_stop(hl_testpg_t *pg);   /* pg_ctl stop -m fast */
void hl_testpg_start(hl_testpg_t *pg);  /* start again */
void hl_testpg_destroy(hl_testpg_t *pg);

/* A hot standby of PRIMARY (running): pg_basebackup -R (streaming, no slot) into a directory of
 * its own, started with its own socket; stopped and removed like any hl_testpg_t. */
void hl_testpg_create_standby(hl_testpg_t *standby, const hl_testpg_t *primary);

/* A cluster made from a backup, in three steps: hl_testpg_create_dir makes PG's directory (owned
 * by the clusters' user) and its watcher, with no cluster yet; the caller puts a data directory
 * in DIR/data (hl_testpg_exec: pg_basebackup, tar, ...); hl_testpg_start_restored starts it on
 * ORIGIN's port (its postgresql.conf is ORIGIN's) with a socket in DIR. */
void hl_testpg_create_dir(hl_testpg_t *pg);
void hl_testpg_start_restored(hl_testpg_t *pg, const hl_testpg_t *origin);

/* Runs ARGV (ARGV[0] an absolute path) as the clusters' user (postgres when the tests run as
 * root), its output appended to DIR/pg-local.log; returns its exit status. */
int hl_testpg_exec(const hl_testpg_t *pg, const char *const *argv);

/* Seconds since an arbitrary point (CLOCK_MONOTONIC). */
double hl_testd_now(void);

#endif
