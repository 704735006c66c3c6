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

struct hl_health {
    char *conninfo;
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

    /* The thread's own. */
    PGconn *conn;
    char why[WHY_LEN]; /* why the last probe said down, for the log */
};

static void set_why(hl_health_t *h, const char *prefix, const char *msg)
{
    size_t n = strlen(msg);

    /* libpq messages end with a newline; log lines must not. */
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    snprintf(h->why, sizeof(h->why), "%s%s%.*s", prefix, n > 0 ? ": " : "", (int)n, msg);
}

static void drop_conn(hl_health_t *h)
{
    PQfinish(h->conn);
    h->conn = NULL;
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

/* A new connection in h->conn, made without blocking past DEADLINE_US. */
static bool connect_by(hl_health_t *h, int64_t deadline_us)
{
    /* CONNINFO is expanded as the dbname, as in hl_db_connect_as. */
    const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    const char *values[] = {h->conninfo, "helplined health", NULL};
    PostgresPollingStatusType st = PGRES_POLLING_WRITING; /* libpq: start as if asked to write */
    PGconn *conn = PQconnectStartParams(keys, values, 1);

    if (conn == NULL) {
        set_why(h, "out of memory", "");
        return false;
    }
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED || PQstatus(conn) == CONNECTION_BAD) {
            set_why(h, "cannot connect", PQerrorMessage(conn));
            goto fail;
        }
        if (!wait_socket(h, conn, st == PGRES_POLLING_WRITING, deadline_us)) {
            snprintf(h->why, sizeof(h->why), "no connection within %u ms", h->deadline_ms);
            goto fail;
        }
        st = PQconnectPoll(conn);
    }
    if (PQsetnonblocking(conn, 1) != 0) {
        set_why(h, "cannot connect", PQerrorMessage(conn));
        goto fail;
    }
    PQsetErrorVerbosity(conn, PQERRORS_TERSE);
    h->conn = conn;
    return true;
fail:
    PQfinish(conn);
    return false;
}

/* The next result of the query in flight (NULL: no more) in *OUT, waiting until DEADLINE_US at
 * most; false on a timeout or a lost connection. */
static bool next_result(hl_health_t *h, int64_t deadline_us, PGresult **out)
{
    while (PQisBusy(h->conn)) {
        if (!wait_socket(h, h->conn, false, deadline_us)) {
            snprintf(h->why, sizeof(h->why), "no answer within %u ms", h->deadline_ms);
            return false;
        }
        if (!PQconsumeInput(h->conn)) {
            set_why(h, "connection lost", PQerrorMessage(h->conn));
            return false;
        }
    }
    *out = PQgetResult(h->conn);
    return true;
}

/* One round trip on h->conn: up, read-only, or down (with h->why). The connection is dropped
 * unless it ended the round trip cleanly. */
static hl_health_db_t ask(hl_health_t *h, int64_t deadline_us)
{
    hl_health_db_t db = HL_HEALTH_DB_DOWN;
    bool answered = false;
    PGresult *res;
    int r;

    /* transaction_read_only is on in a hot standby and where default_transaction_read_only
     * is on (server, database, role or connection string): wherever the writer's INSERT would
     * fail with SQLSTATE 25006. */
    if (!PQsendQuery(h->conn, "SHOW transaction_read_only")) {
        set_why(h, "connection lost", PQerrorMessage(h->conn));
        goto fail;
    }
    while ((r = PQflush(h->conn)) == 1) {
        if (!wait_socket(h, h->conn, true, deadline_us)) {
            snprintf(h->why, sizeof(h->why), "no answer within %u ms", h->deadline_ms);
            goto fail;
        }
    }
    if (r != 0) {
        set_why(h, "connection lost", PQerrorMessage(h->conn));
        goto fail;
    }
    for (;;) {
        if (!next_result(h, deadline_us, &res))
            goto fail;
        if (res == NULL)
            break;
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && PQnfields(res) == 1) {
            db = strcmp(PQgetvalue(res, 0, 0), "on") == 0 ? HL_HEALTH_DB_READ_ONLY : HL_HEALTH_DB_UP;
            answered = true;
        } else if (!answered) {
            set_why(h, "query failed", PQresultErrorMessage(res));
        }
        PQclear(res);
    }
    if (PQstatus(h->conn) != CONNECTION_OK)
        drop_conn(h);
    return db;
fail:
    /* The protocol state of a round trip cut short is unknown: start over next time. */
    drop_conn(h);
    return HL_HEALTH_DB_DOWN;
}

/* One probe under one deadline. A connection that was already open and turns out lost (the
 * server restarted, or the session was terminated) is replaced and asked again at once, so a
 * new session's answer decides, not the old session's end. */
static hl_health_db_t probe(hl_health_t *h)
{
    int64_t deadline_us = hl_monotonic_us() + (int64_t)h->deadline_ms * 1000;
    hl_health_db_t db;
    bool reused = h->conn != NULL;

    if (h->conn != NULL && PQstatus(h->conn) != CONNECTION_OK)
        drop_conn(h);
    if (h->conn == NULL && !connect_by(h, deadline_us))
        return HL_HEALTH_DB_DOWN;
    db = ask(h, deadline_us);
    if (db == HL_HEALTH_DB_DOWN && reused && h->conn == NULL && hl_monotonic_us() < deadline_us &&
        connect_by(h, deadline_us))
        db = ask(h, deadline_us);
    return db;
}

static void log_db(hl_health_t *h, hl_health_db_t db, int *logged)
{
    if ((int)db == *logged)
        return;
    if (db == HL_HEALTH_DB_UP)
        hl_log(HL_LOG_INFO, "health: the database is up");
    else if (db == HL_HEALTH_DB_READ_ONLY)
        hl_log(HL_LOG_WARN, "health: the database is read-only (a hot standby, or "
                            "default_transaction_read_only is on); contacts go to the spool");
    else
        hl_log(HL_LOG_WARN, "health: the database is down (%s); contacts go to the spool", h->why);
    *logged = (int)db;
}

static void *run(void *arg)
{
    hl_health_t *h = arg;
    int logged_db = -1, logged_spool = -1;
    bool stopping = false;

    while (!stopping) {
        int64_t start = hl_monotonic_us();
        const char *spool_why = "no spool";
        bool spool_ok;
        hl_health_db_t db;
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

        db = probe(h);
        pthread_mutex_lock(&h->mu);
        h->db = db;
        h->db_at_us = hl_monotonic_us();
        stopping = h->stopping;
        pthread_mutex_unlock(&h->mu);
        if (stopping)
            break;
        log_db(h, db, &logged_db);

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
    drop_conn(h);
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
    free(h->conninfo);
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
    h->interval_ms = opts->interval_ms != 0 ? opts->interval_ms : HL_HEALTH_INTERVAL_MS;
    h->deadline_ms = opts->deadline_ms != 0 ? opts->deadline_ms : HL_HEALTH_DEADLINE_MS;
    if (opts->conninfo == NULL || (h->conninfo = strdup(opts->conninfo)) == NULL ||
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
    int64_t now, at;

    *out = (hl_health_state_t){.database = HL_HEALTH_DB_DOWN, .spool_usable = false};
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->mu);
    now = hl_monotonic_us();
    at = h->db_at_us;
    out->database = h->db;
    out->spool_usable =
        h->spool_ok && (h->spool_since_us == 0 || now - h->spool_since_us <= HL_HEALTH_MAX_AGE_MS * 1000);
    pthread_mutex_unlock(&h->mu);
    if (at == 0 || now - at > (int64_t)HL_HEALTH_MAX_AGE_MS * 1000)
        out->database = HL_HEALTH_DB_DOWN;
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
