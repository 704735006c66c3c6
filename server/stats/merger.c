#include "stats/merger.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "db/dbwatch.h"
#include "log.h"
#include "contacts/rollup.h"

#define MAX_BACKOFF_MS 30000
/* A merge that takes longer has met a hung server (a merge of a day's backlog takes about a
 * second); the watch breaks the connection so that stopping the daemon never waits on it. */
#define MERGE_DEADLINE_MS 30000

struct hl_merger {
    char *conninfo;
    unsigned interval_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    hl_merger_stats_t stats;
    PGconn *conn; /* the thread's own */
};

/* One merge; a lost connection is dropped here and made again next time. */
static bool merge_once(hl_merger_t *m)
{
    uint64_t rows = 0, cells = 0, us;
    int64_t t0 = 0;
    int rc;

    if (m->conn != NULL && PQstatus(m->conn) != CONNECTION_OK) {
        PQfinish(m->conn);
        m->conn = NULL;
    }
    if (m->conn == NULL && hl_db_connect_as(m->conninfo, "helplined merger", &m->conn) != HL_OK) {
        m->conn = NULL;
        rc = HL_EDB;
    } else {
        hl_dbwatch_t watch;
        bool watched = hl_dbwatch_arm(&watch, m->conn, MERGE_DEADLINE_MS) == HL_OK;

        t0 = hl_monotonic_us();
        rc = hl_rollup_merge(m->conn, &rows, &cells);
        if (watched && hl_dbwatch_disarm(&watch))
            rc = HL_EDB;
    }
    us = rc == HL_OK ? (uint64_t)(hl_monotonic_us() - t0) : 0;
    pthread_mutex_lock(&m->mu);
    if (rc == HL_OK) {
        m->stats.merges++;
        m->stats.rows += rows;
        m->stats.busy_us += us;
    } else {
        m->stats.failures++;
    }
    pthread_mutex_unlock(&m->mu);
    if (rc == HL_OK && rows > 0)
        hl_log(HL_LOG_DEBUG, "statistics merge: %llu pending rows into %llu daily cells in %llu ms",
               (unsigned long long)rows, (unsigned long long)cells, (unsigned long long)(us / 1000));
    return rc == HL_OK;
}

static void deadline_after(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *run(void *arg)
{
    hl_merger_t *m = arg;
    bool stopping = false;
    unsigned wait_ms = m->interval_ms;

    while (!stopping) {
        struct timespec until;

        deadline_after(&until, wait_ms);
        pthread_mutex_lock(&m->mu);
        while (!m->stopping && pthread_cond_timedwait(&m->cv, &m->mu, &until) == 0)
            ;
        stopping = m->stopping;
        pthread_mutex_unlock(&m->mu);
        /* While PostgreSQL is down, wait longer each time (up to MAX_BACKOFF_MS), so that an
         * outage costs a log line now and then, not one a second. */
        if (merge_once(m))
            wait_ms = m->interval_ms;
        else if (wait_ms < MAX_BACKOFF_MS)
            wait_ms = wait_ms * 2 < MAX_BACKOFF_MS ? wait_ms * 2 : MAX_BACKOFF_MS;
    }
    PQfinish(m->conn);
    m->conn = NULL;
    return NULL;
}

static void merger_free(hl_merger_t *m)
{
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m->conninfo);
    free(m);
}

int hl_merger_start(const hl_merger_opts_t *opts, hl_merger_t **out)
{
    hl_merger_t *m = calloc(1, sizeof(*m));
    pthread_condattr_t ca;

    if (m == NULL)
        return HL_ENOMEM;
    m->interval_ms = opts->interval_ms ? opts->interval_ms : 1000;
    if ((m->conninfo = strdup(opts->conninfo)) == NULL) {
        free(m);
        return HL_ENOMEM;
    }
    pthread_mutex_init(&m->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&m->thread, NULL, run, m) != 0) {
        hl_log(HL_LOG_ERROR, "statistics merge: cannot start its thread");
        merger_free(m);
        return HL_ENOMEM;
    }
    *out = m;
    return HL_OK;
}

void hl_merger_get_stats(hl_merger_t *m, hl_merger_stats_t *out)
{
    pthread_mutex_lock(&m->mu);
    *out = m->stats;
    pthread_mutex_unlock(&m->mu);
}

void hl_merger_stop(hl_merger_t *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    m->stopping = true;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    merger_free(m);
}
