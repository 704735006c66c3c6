#include "db/dbpool.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-events.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "db/dbwatch.h"
#include "log.h"

/* The statements prepared in one connection's session (hl_dbpool_exec), libpq instance data of
 * the connection: freed with it. */
#define PREPARED_MAX 32

typedef struct prepared {
    bool unnamed; /* the session does not keep them (a pooler): send every statement unnamed */
    size_t n;
    uint64_t hash[PREPARED_MAX]; /* of the text of each statement prepared */
} prepared_t;

/* A connection in use, with the deadline armed on it (dbwatch.h). */
typedef struct lent {
    PGconn *conn; /* NULL: slot free */
    hl_dbwatch_t watch;
} lent_t;

struct hl_dbpool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    char *conninfo;
    size_t size;
    PGconn **idle; /* stack of idle connections (NULL slots are not yet connected) */
    size_t n_idle;
    lent_t *lent; /* size slots */
};

int hl_dbpool_new(const char *conninfo, size_t size, hl_dbpool_t **out)
{
    hl_dbpool_t *pool = calloc(1, sizeof(*pool));

    if (pool == NULL)
        return HL_ENOMEM;
    pool->conninfo = strdup(conninfo != NULL ? conninfo : "");
    pool->idle = calloc(size, sizeof(*pool->idle));
    pool->lent = calloc(size, sizeof(*pool->lent));
    if (pool->conninfo == NULL || pool->idle == NULL || pool->lent == NULL) {
        free(pool->conninfo);
        free(pool->idle);
        free(pool->lent);
        free(pool);
        return HL_ENOMEM;
    }
    pool->size = size;
    pool->n_idle = size; /* all "idle", none connected yet */
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->freed, NULL);
    *out = pool;
    return HL_OK;
}

void hl_dbpool_free(hl_dbpool_t *pool)
{
    if (pool == NULL)
        return;
    for (size_t i = 0; i < pool->n_idle; i++)
        if (pool->idle[i] != NULL)
            PQfinish(pool->idle[i]);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->freed);
    free(pool->idle);
    free(pool->lent);
    free(pool->conninfo);
    free(pool);
}

/* Arms the call deadline on CONN, just lent out (a free lent slot exists: one per connection). */
static void lend(hl_dbpool_t *pool, PGconn *conn)
{
    lent_t *l = NULL;

    pthread_mutex_lock(&pool->lock);
    for (size_t i = 0; i < pool->size && l == NULL; i++)
        if (pool->lent[i].conn == NULL)
            l = &pool->lent[i];
    if (l != NULL)
        l->conn = conn;
    pthread_mutex_unlock(&pool->lock);
    if (l == NULL || hl_dbwatch_arm(&l->watch, conn, HL_DBPOOL_DEADLINE_MS) != HL_OK)
        hl_log(HL_LOG_WARN, "dbpool: a database call runs without a deadline");
}

/* Disarms CONN's deadline and frees its slot; true when the deadline had passed. */
static bool unlend(hl_dbpool_t *pool, PGconn *conn)
{
    lent_t *l = NULL;
    bool fired = false;

    pthread_mutex_lock(&pool->lock);
    for (size_t i = 0; i < pool->size && l == NULL; i++)
        if (pool->lent[i].conn == conn)
            l = &pool->lent[i];
    pthread_mutex_unlock(&pool->lock);
    if (l != NULL) {
        fired = hl_dbwatch_disarm(&l->watch);
        pthread_mutex_lock(&pool->lock);
        l->conn = NULL;
        pthread_mutex_unlock(&pool->lock);
    }
    return fired;
}

static int prepared_event(PGEventId id, void *info, void *arg)
{
    (void)arg;
    switch (id) {
    case PGEVT_REGISTER: {
        PGconn *conn = ((PGEventRegister *)info)->conn;
        prepared_t *p = calloc(1, sizeof(*p));
        if (p != NULL && PQsetInstanceData(conn, prepared_event, p))
            return 1;
        free(p);
        return 0;
    }
    case PGEVT_CONNRESET: { /* a new session: nothing prepared in it */
        prepared_t *p = PQinstanceData(((PGEventConnReset *)info)->conn, prepared_event);
        if (p != NULL)
            memset(p, 0, sizeof(*p));
        return 1;
    }
    case PGEVT_CONNDESTROY:
        free(PQinstanceData(((PGEventConnDestroy *)info)->conn, prepared_event));
        return 1;
    default:
        return 1;
    }
}

PGconn *hl_dbpool_acquire(hl_dbpool_t *pool, unsigned wait_ms)
{
    struct timespec deadline;
    PGconn *conn;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += wait_ms / 1000;
    deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&pool->lock);
    while (pool->n_idle == 0) {
        if (pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&pool->lock);
            return NULL;
        }
    }
    conn = pool->idle[--pool->n_idle];
    pthread_mutex_unlock(&pool->lock);

    if (conn != NULL && PQstatus(conn) == CONNECTION_OK) {
        lend(pool, conn);
        return conn;
    }
    if (conn != NULL)
        PQfinish(conn);
    conn = NULL;
    if (hl_db_connect(pool->conninfo, &conn) != HL_OK) {
        /* Give the slot back unconnected. */
        pthread_mutex_lock(&pool->lock);
        pool->idle[pool->n_idle++] = NULL;
        pthread_cond_signal(&pool->freed);
        pthread_mutex_unlock(&pool->lock);
        return NULL;
    }
    /* Without it (out of memory) the connection sends its statements unnamed. */
    if (!PQregisterEventProc(conn, prepared_event, "hl_dbpool", NULL))
        hl_log(HL_LOG_WARN, "dbpool: a connection runs without prepared statements");
    lend(pool, conn);
    return conn;
}

void hl_dbpool_release(hl_dbpool_t *pool, PGconn *conn)
{
    if (conn == NULL)
        return; /* a failed acquire gave its slot back itself; another one would overflow idle */
    if (conn != NULL && unlend(pool, conn)) {
        PQfinish(conn); /* its socket was shut down */
        conn = NULL;
    }
    if (conn != NULL && PQstatus(conn) != CONNECTION_OK) {
        PQfinish(conn);
        conn = NULL;
    }
    if (conn != NULL && PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
    pthread_mutex_lock(&pool->lock);
    pool->idle[pool->n_idle++] = conn;
    pthread_cond_signal(&pool->freed);
    pthread_mutex_unlock(&pool->lock);
}

/* ---- prepared statements ------------------------------------------------------------------ */

static bool sqlstate_is(const PGresult *res, const char *state)
{
    const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    return s != NULL && strcmp(s, state) == 0;
}

static void go_unnamed(prepared_t *p, const char *why)
{
    hl_log(HL_LOG_WARN,
           "dbpool: %s (a pooler in transaction mode?); this connection sends its statements unnamed from "
           "now on",
           why);
    p->unnamed = true;
}

PGresult *hl_dbpool_exec(PGconn *conn, const char *sql, int n, const char *const *values, const int *lengths,
                         const int *formats, int result_format)
{
    prepared_t *p = PQinstanceData(conn, prepared_event);
    uint64_t h = UINT64_C(14695981039346656037);
    char name[32];
    size_t i;
    PGresult *res;

    if (p == NULL || p->unnamed || PQtransactionStatus(conn) != PQTRANS_IDLE)
        goto unnamed;
    for (const unsigned char *c = (const unsigned char *)sql; *c != '\0'; c++)
        h = (h ^ *c) * UINT64_C(1099511628211);
    snprintf(name, sizeof(name), "hl_%016" PRIx64, h);
    for (i = 0; i < p->n && p->hash[i] != h; i++)
        ;
    if (i == p->n) {
        if (p->n == PREPARED_MAX)
            goto unnamed;
        res = PQprepare(conn, name, sql, n, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            /* Any other error (the statement's own) comes back from the unnamed run. */
            if (sqlstate_is(res, "42P05"))
                go_unnamed(p, "a statement of that name was in the session already");
            PQclear(res);
            goto unnamed;
        }
        PQclear(res);
        p->hash[p->n++] = h;
    }
    res = PQexecPrepared(conn, name, n, values, lengths, formats, result_format);
    if (PQresultStatus(res) != PGRES_FATAL_ERROR || !sqlstate_is(res, "26000") ||
        PQtransactionStatus(conn) != PQTRANS_IDLE)
        return res;
    go_unnamed(p, "a statement prepared in this session is missing");
    PQclear(res);
unnamed:
    return PQexecParams(conn, sql, n, NULL, values, lengths, formats, result_format);
}
