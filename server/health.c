#include "health.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define WHY_LEN 256

/* A probe's connection: to database_url, or to read_database_url. */
typedef struct link {
    char *conninfo;
    const char *app_name; /* in pg_stat_activity */
    PGconn *conn;
    char why[WHY_LEN]; /* why the last probe failed, for the log */
} link_t;

/* What the last probe of the primary found. */
typedef struct primary_answer {
    hl_health_db_t db;
    bool in_recovery; /* a standby (read_only) */
    bool have_lsn;    /* lsn: pg_current_wal_flush_lsn (asked only with a replica) */
    uint64_t lsn;
} primary_answer_t;

struct hl_health {
    link_t primary, replica; /* replica.conninfo NULL: none */
    hl_spool_t *spool;
    unsigned interval_ms, deadline_ms;
    pthread_t thread;
    int wake[2]; /* a byte in wake[1] ends the probe's poll at once: stopping */

    pthread_mutex_t mu; /* held only to copy these, never during I/O */
    pthread_cond_t cv;
    bool stopping;
    hl_health_db_t db;
    int64_t db_at_us;       /* when the last probe finished; 0: none yet */
    bool spool_ok;          /* the last spool check */
    int64_t spool_since_us; /* a spool check running since then; 0: none */
    hl_health_replica_t replica_state;
    int64_t replica_at_us; /* when the last replica probe finished; 0: none yet */

    /* The thread's own. */
    hl_replag_t lag;
};

static void set_why(link_t *l, const char *prefix, const char *msg)
{
    size_t n = strlen(msg);

    /* libpq messages end with a newline; log lines must not. */
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    snprintf(l->why, sizeof(l->why), "%s%s%.*s", prefix, n > 0 ? ": " : "", (int)n, msg);
}

static void drop_conn(link_t *l)
{
    PQfinish(l->conn);
    l->conn = NULL;
}

/* Waits until CONN's socket is ready (to write when WRITE, else to read), or has failed; false
 * when the deadline passed first or the health thread is stopping. */
static bool wait_socket(hl_health_t *h, PGconn *conn, bool write, int64_t deadline_us)
{
    struct pollfd p[2] = {{.fd = PQsocket(conn), .events = write ? POLLOUT : POLLIN},
                          {.fd = h->wake[0], .events = POLLIN}};

    for (;;) {
        int64_t left = deadline_us - hl_monotonic_us();
        int r;

        if (p[0].fd < 0 || left <= 0)
            return false;
        r = poll(p, 2, (int)((left + 999) / 1000));
        if (r < 0 && errno != EINTR)
            return false;
        if (r > 0 && p[1].revents != 0)
            return false;
        if (r > 0 && p[0].revents != 0)
            return true; /* readable, writable, or an error libpq will report */
    }
}

/* A new connection in L->conn, made without blocking past DEADLINE_US. */
static bool connect_by(hl_health_t *h, link_t *l, int64_t deadline_us)
{
    /* CONNINFO is expanded as the dbname, as in hl_db_connect_as. */
    const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    const char *values[] = {l->conninfo, l->app_name, NULL};
    PostgresPollingStatusType st = PGRES_POLLING_WRITING; /* libpq: start as if asked to write */
    PGconn *conn = PQconnectStartParams(keys, values, 1);

    if (conn == NULL) {
        set_why(l, "out of memory", "");
        return false;
    }
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED || PQstatus(conn) == CONNECTION_BAD) {
            set_why(l, "cannot connect", PQerrorMessage(conn));
            goto fail;
        }
        if (!wait_socket(h, conn, st == PGRES_POLLING_WRITING, deadline_us)) {
            snprintf(l->why, sizeof(l->why), "no connection within %u ms", h->deadline_ms);
            goto fail;
        }
        st = PQconnectPoll(conn);
    }
    if (PQsetnonblocking(conn, 1) != 0) {
        set_why(l, "cannot connect", PQerrorMessage(conn));
        goto fail;
    }
    PQsetErrorVerbosity(conn, PQERRORS_TERSE);
    l->conn = conn;
    return true;
fail:
    PQfinish(conn);
    return false;
}

/* The next result of the query in flight (NULL: no more) in *OUT, waiting until DEADLINE_US at
 * most; false on a timeout or a lost connection. */
static bool next_result(hl_health_t *h, link_t *l, int64_t deadline_us, PGresult **out)
{
    while (PQisBusy(l->conn)) {
        if (!wait_socket(h, l->conn, false, deadline_us)) {
            snprintf(l->why, sizeof(l->why), "no answer within %u ms", h->deadline_ms);
            return false;
        }
        if (!PQconsumeInput(l->conn)) {
            set_why(l, "connection lost", PQerrorMessage(l->conn));
            return false;
        }
    }
    *out = PQgetResult(l->conn);
    return true;
}

/* One round trip of SQL on l->conn: its one row of NFIELDS in *ROW (the caller PQclear()s it),
 * or false with l->why. The connection is dropped unless it ended the round trip cleanly. */
static bool ask(hl_health_t *h, link_t *l, const char *sql, int nfields, int64_t deadline_us, PGresult **row)
{
    PGresult *res, *answer = NULL;
    int r;

    if (!PQsendQuery(l->conn, sql)) {
        set_why(l, "connection lost", PQerrorMessage(l->conn));
        goto fail;
    }
    while ((r = PQflush(l->conn)) == 1) {
        if (!wait_socket(h, l->conn, true, deadline_us)) {
            snprintf(l->why, sizeof(l->why), "no answer within %u ms", h->deadline_ms);
            goto fail;
        }
    }
    if (r != 0) {
        set_why(l, "connection lost", PQerrorMessage(l->conn));
        goto fail;
    }
    for (;;) {
        if (!next_result(h, l, deadline_us, &res))
            goto fail;
        if (res == NULL)
            break;
        if (answer == NULL && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
            PQnfields(res) == nfields) {
            answer = res;
            continue;
        }
        if (answer == NULL)
            set_why(l, "query failed", PQresultErrorMessage(res));
        PQclear(res);
    }
    if (PQstatus(l->conn) != CONNECTION_OK)
        drop_conn(l);
    *row = answer;
    return answer != NULL;
fail:
    /* The protocol state of a round trip cut short is unknown: start over next time. */
    PQclear(answer);
    drop_conn(l);
    return false;
}

/* One probe under one deadline: SQL's one row in *ROW, or false. A connection that was already
 * open and turns out lost (the server restarted, or the session was terminated) is replaced and
 * asked again at once, so a new session's answer decides, not the old session's end. */
static bool probe(hl_health_t *h, link_t *l, const char *sql, int nfields, PGresult **row)
{
    int64_t deadline_us = hl_monotonic_us() + (int64_t)h->deadline_ms * 1000;
    bool reused = l->conn != NULL;

    if (l->conn != NULL && PQstatus(l->conn) != CONNECTION_OK)
        drop_conn(l);
    if (l->conn == NULL && !connect_by(h, l, deadline_us))
        return false;
    if (ask(h, l, sql, nfields, deadline_us, row))
        return true;
    return reused && l->conn == NULL && hl_monotonic_us() < deadline_us && connect_by(h, l, deadline_us) &&
           ask(h, l, sql, nfields, deadline_us, row);
}

/* transaction_read_only is on in a hot standby and where default_transaction_read_only is on
 * (server, database, role or connection string): wherever the writer's INSERT would fail with
 * SQLSTATE 25006. pg_is_in_recovery tells a standby from the rest; with a replica, the WAL
 * position its lag is measured against (not asked of a standby, where it is an error). */
#define PRIMARY_SQL "SELECT current_setting('transaction_read_only'), pg_is_in_recovery()"
#define PRIMARY_REPLICA_SQL                                                                                  \
    PRIMARY_SQL ", CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_flush_lsn() END"
#define REPLICA_SQL "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()"

static primary_answer_t probe_primary(hl_health_t *h)
{
    bool with_lsn = h->replica.conninfo != NULL;
    primary_answer_t a = {.db = HL_HEALTH_DB_DOWN};
    PGresult *row = NULL;

    if (!probe(h, &h->primary, with_lsn ? PRIMARY_REPLICA_SQL : PRIMARY_SQL, with_lsn ? 3 : 2, &row))
        return a;
    a.db = strcmp(PQgetvalue(row, 0, 0), "on") == 0 ? HL_HEALTH_DB_READ_ONLY : HL_HEALTH_DB_UP;
    a.in_recovery = strcmp(PQgetvalue(row, 0, 1), "t") == 0;
    a.have_lsn = with_lsn && !PQgetisnull(row, 0, 2) && hl_replag_parse_lsn(PQgetvalue(row, 0, 2), &a.lsn);
    PQclear(row);
    return a;
}

/* The replica's state now, its lag measured against the primary positions noted so far. */
static hl_health_replica_t probe_replica(hl_health_t *h)
{
    hl_health_replica_t r = {.configured = true};
    PGresult *row = NULL;
    uint64_t replay;

    if (!probe(h, &h->replica, REPLICA_SQL, 2, &row))
        return r;
    r.up = true;
    r.standby = strcmp(PQgetvalue(row, 0, 0), "t") == 0;
    if (!r.standby)
        r.lag_known = true; /* a primary used for reads: its data is the primary's */
    else if (hl_replag_parse_lsn(PQgetvalue(row, 0, 1), &replay))
        r.lag_known = hl_replag_standby(&h->lag, hl_monotonic_us(), replay, &r.lag_seconds, &r.lag_bytes);
    PQclear(row);
    return r;
}

/* What log_db last logged: an hl_health_db_t, or this (a standby and a read-only setting are
 * told apart: the fix is not the same). */
#define LOGGED_STANDBY 3

static void log_db(hl_health_t *h, const primary_answer_t *a, int *logged)
{
    int state = a->db == HL_HEALTH_DB_READ_ONLY && a->in_recovery ? LOGGED_STANDBY : (int)a->db;

    if (state == *logged)
        return;
    if (a->db == HL_HEALTH_DB_UP)
        hl_log(HL_LOG_INFO, "health: the database is up");
    else if (state == LOGGED_STANDBY)
        hl_log(HL_LOG_ERROR, "health: database_url points at a standby (read-only): contacts will be "
                             "spooled until it is promoted or database_url is changed");
    else if (a->db == HL_HEALTH_DB_READ_ONLY)
        hl_log(HL_LOG_WARN, "health: the database is read-only (default_transaction_read_only is on); "
                            "contacts go to the spool");
    else
        hl_log(HL_LOG_WARN, "health: the database is down (%s); contacts go to the spool", h->primary.why);
    *logged = state;
}

static void log_replica(hl_health_t *h, const hl_health_replica_t *r, int *logged)
{
    int state = r->up ? (r->standby ? 2 : 1) : 0;

    if (state == *logged)
        return;
    if (state == 2)
        hl_log(HL_LOG_INFO, "health: read_database_url is a hot standby; statistics and reports are read "
                            "from it (as far as it has replayed, see lag_seconds in /healthz)");
    else if (state == 1)
        hl_log(HL_LOG_INFO, "health: read_database_url is not a standby (a primary); statistics and reports "
                            "are read from it");
    else
        hl_log(HL_LOG_WARN, "health: read_database_url is down (%s); statistics and reports cannot be read",
               h->replica.why);
    *logged = state;
}

static void *run(void *arg)
{
    hl_health_t *h = arg;
    int logged_db = -1, logged_spool = -1, logged_replica = -1;
    bool stopping = false;

    while (!stopping) {
        int64_t start = hl_monotonic_us();
        const char *spool_why = "no spool";
        bool spool_ok;
        primary_answer_t db;
        struct timespec until;

        pthread_mutex_lock(&h->mu);
        h->spool_since_us = start;
        pthread_mutex_unlock(&h->mu);
        spool_ok = h->spool != NULL && hl_spool_usable(h->spool, &spool_why);
        pthread_mutex_lock(&h->mu);
        h->spool_ok = spool_ok;
        h->spool_since_us = 0;
        pthread_mutex_unlock(&h->mu);
        if ((int)spool_ok != logged_spool) {
            if (spool_ok && logged_spool >= 0)
                hl_log(HL_LOG_INFO, "health: the spool takes records again");
            else if (!spool_ok)
                hl_log(HL_LOG_ERROR, "health: the spool cannot take records (%s)", spool_why);
            logged_spool = (int)spool_ok;
        }

        db = probe_primary(h);
        pthread_mutex_lock(&h->mu);
        h->db = db.db;
        h->db_at_us = hl_monotonic_us();
        stopping = h->stopping;
        pthread_mutex_unlock(&h->mu);
        if (stopping)
            break;
        log_db(h, &db, &logged_db);

        if (h->replica.conninfo != NULL) {
            if (db.have_lsn)
                hl_replag_primary(&h->lag, h->db_at_us, db.lsn);
            hl_health_replica_t r = probe_replica(h);
            pthread_mutex_lock(&h->mu);
            h->replica_state = r;
            h->replica_at_us = hl_monotonic_us();
            stopping = h->stopping;
            pthread_mutex_unlock(&h->mu);
            if (stopping)
                break;
            log_replica(h, &r, &logged_replica);
        }

        /* The next probe INTERVAL after this one started (at once when this one took longer). */
        int64_t next_us = start + (int64_t)h->interval_ms * 1000;
        until.tv_sec = (time_t)(next_us / 1000000);
        until.tv_nsec = (long)(next_us % 1000000) * 1000;
        pthread_mutex_lock(&h->mu);
        while (!h->stopping && hl_monotonic_us() < next_us &&
               pthread_cond_timedwait(&h->cv, &h->mu, &until) == 0)
            ;
        stopping = h->stopping;
        pthread_mutex_unlock(&h->mu);
    }
    drop_conn(&h->primary);
    drop_conn(&h->replica);
    return NULL;
}

static void health_free(hl_health_t *h)
{
    if (h->wake[0] >= 0)
        close(h->wake[0]);
    if (h->wake[1] >= 0)
        close(h->wake[1]);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h->primary.conninfo);
    free(h->replica.conninfo);
    free(h);
}

int hl_health_start(const hl_health_opts_t *opts, hl_health_t **out)
{
    hl_health_t *h = calloc(1, sizeof(*h));
    pthread_condattr_t ca;

    if (h == NULL)
        return HL_ENOMEM;
    h->wake[0] = h->wake[1] = -1;
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* hl_monotonic_us's clock */
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    h->spool = opts->spool;
    h->primary.app_name = "helplined health";
    h->replica.app_name = "helplined health replica";
    h->interval_ms = opts->interval_ms != 0 ? opts->interval_ms : HL_HEALTH_INTERVAL_MS;
    h->deadline_ms = opts->deadline_ms != 0 ? opts->deadline_ms : HL_HEALTH_DEADLINE_MS;
    h->replica_state.configured = opts->replica_conninfo != NULL;
    hl_replag_init(&h->lag);
    if (opts->conninfo == NULL || (h->primary.conninfo = strdup(opts->conninfo)) == NULL ||
        (opts->replica_conninfo != NULL && (h->replica.conninfo = strdup(opts->replica_conninfo)) == NULL) ||
        pipe2(h->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        hl_log(HL_LOG_ERROR, "health: cannot set up the database probe");
        health_free(h);
        return HL_ENOMEM;
    }
    if (pthread_create(&h->thread, NULL, run, h) != 0) {
        hl_log(HL_LOG_ERROR, "health: cannot start its thread");
        health_free(h);
        return HL_ENOMEM;
    }
    *out = h;
    return HL_OK;
}

void hl_health_get(hl_health_t *h, hl_health_state_t *out)
{
    int64_t now, at, replica_at;

    *out = (hl_health_state_t){.database = HL_HEALTH_DB_DOWN, .spool_usable = false};
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->mu);
    now = hl_monotonic_us();
    at = h->db_at_us;
    out->database = h->db;
    out->spool_usable =
        h->spool_ok && (h->spool_since_us == 0 || now - h->spool_since_us <= HL_HEALTH_MAX_AGE_MS * 1000);
    out->replica = h->replica_state;
    replica_at = h->replica_at_us;
    pthread_mutex_unlock(&h->mu);
    if (at == 0 || now - at > (int64_t)HL_HEALTH_MAX_AGE_MS * 1000)
        out->database = HL_HEALTH_DB_DOWN;
    if (replica_at == 0 || now - replica_at > (int64_t)HL_HEALTH_MAX_AGE_MS * 1000)
        out->replica = (hl_health_replica_t){.configured = out->replica.configured};
}

const char *hl_health_db_name(hl_health_db_t db)
{
    switch (db) {
    case HL_HEALTH_DB_UP:
        return "up";
    case HL_HEALTH_DB_READ_ONLY:
        return "read_only";
    case HL_HEALTH_DB_DOWN:
        break;
    }
    return "down";
}

void hl_health_stop(hl_health_t *h)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->mu);
    h->stopping = true;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    if (write(h->wake[1], "x", 1) < 0 && errno != EAGAIN)
        hl_log(HL_LOG_WARN, "health: cannot wake the probe (%s); it stops at its deadline", strerror(errno));
    pthread_join(h->thread, NULL);
    health_free(h);
}
