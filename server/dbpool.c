#include "dbpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "log.h"

struct hl_dbpool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    char *conninfo;
    size_t size;
    PGconn **idle; /* stack of idle connections (NULL slots are not yet connected) */
    size_t n_idle;
};

int hl_dbpool_new(const char *conninfo, size_t size, hl_dbpool_t **out)
{
    hl_dbpool_t *pool = calloc(1, sizeof(*pool));

    if (pool == NULL)
        return HL_ENOMEM;
    pool->conninfo = strdup(conninfo != NULL ? conninfo : "");
    pool->idle = calloc(size, sizeof(*pool->idle));
    if (pool->conninfo == NULL || pool->idle == NULL) {
        free(pool->conninfo);
        free(pool->idle);
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
    free(pool->conninfo);
    free(pool);
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

    if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
        return conn;
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
    return conn;
}

void hl_dbpool_release(hl_dbpool_t *pool, PGconn *conn)
{
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
