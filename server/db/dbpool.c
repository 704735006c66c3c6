#include "db/dbpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "db/dbwatch.h"
#include "log.h"

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
