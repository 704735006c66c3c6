#include "db/dbjobs.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct {
    hl_dbjob_fn fn;
    void *arg;
} job_t;

struct hl_dbjobs {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    job_t *ring;
    unsigned cap, head, len;
    unsigned batch;
    void **args; /* batch slots per thread */
    unsigned n_started;
    bool stopping;
    pthread_t *threads;
    unsigned n_threads;
};

static void *worker(void *arg)
{
    hl_dbjobs_t *j = arg;
    void **args;
    hl_dbjob_fn fn;
    size_t n;

    pthread_mutex_lock(&j->lock);
    args = j->args + (size_t)j->n_started++ * j->batch;
    for (;;) {
        while (j->len == 0 && !j->stopping)
            pthread_cond_wait(&j->wake, &j->lock);
        if (j->len == 0)
            break; /* stopping, and nothing left */
        fn = j->ring[j->head].fn;
        for (n = 0; n < j->batch && j->len > 0 && j->ring[j->head].fn == fn; n++) {
            args[n] = j->ring[j->head].arg;
            j->head = (j->head + 1) % j->cap;
            j->len--;
        }
        pthread_mutex_unlock(&j->lock);
        fn(args, n);
        pthread_mutex_lock(&j->lock);
    }
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

int hl_dbjobs_start(unsigned threads, unsigned queue, unsigned batch, hl_dbjobs_t **out)
{
    hl_dbjobs_t *j;

    if (threads == 0 || queue == 0 || batch == 0 || out == NULL)
        return HL_EINVAL;
    if ((j = calloc(1, sizeof(*j))) == NULL)
        return HL_ENOMEM;
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->wake, NULL);
    j->cap = queue;
    j->batch = batch;
    j->ring = calloc(queue, sizeof(*j->ring));
    j->args = calloc((size_t)threads * batch, sizeof(*j->args));
    j->threads = calloc(threads, sizeof(*j->threads));
    if (j->ring == NULL || j->args == NULL || j->threads == NULL) {
        hl_dbjobs_stop(j);
        return HL_ENOMEM;
    }
    for (; j->n_threads < threads; j->n_threads++) {
        if (pthread_create(&j->threads[j->n_threads], NULL, worker, j) != 0) {
            hl_dbjobs_stop(j);
            return HL_ENOMEM;
        }
    }
    *out = j;
    return HL_OK;
}

bool hl_dbjobs_submit(hl_dbjobs_t *j, hl_dbjob_fn fn, void *arg)
{
    bool queued = false;

    pthread_mutex_lock(&j->lock);
    if (!j->stopping && j->len < j->cap) {
        j->ring[(j->head + j->len) % j->cap] = (job_t){fn, arg};
        j->len++;
        queued = true;
        pthread_cond_signal(&j->wake);
    }
    pthread_mutex_unlock(&j->lock);
    return queued;
}

void hl_dbjobs_stop(hl_dbjobs_t *j)
{
    if (j == NULL)
        return;
    pthread_mutex_lock(&j->lock);
    j->stopping = true;
    pthread_cond_broadcast(&j->wake);
    pthread_mutex_unlock(&j->lock);
    for (unsigned i = 0; i < j->n_threads; i++)
        pthread_join(j->threads[i], NULL);
    pthread_cond_destroy(&j->wake);
    pthread_mutex_destroy(&j->lock);
    free(j->threads);
    free(j->args);
    free(j->ring);
    free(j);
}
