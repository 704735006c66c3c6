#include "access/hasher.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"

typedef struct {
    hl_hasher_fn fn;
    void *arg;
} job_t;

struct hl_hasher {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    job_t *ring;
    unsigned cap, head, len;
    bool stopping;
    pthread_t *threads;
    unsigned n_threads;
};

static void *worker(void *arg)
{
    hl_hasher_t *h = arg;

    /* Linux nices threads one by one. */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) != 0)
        hl_log(HL_LOG_DEBUG, "hasher: thread priority not lowered");
    pthread_mutex_lock(&h->lock);
    for (;;) {
        while (h->len == 0 && !h->stopping)
            pthread_cond_wait(&h->wake, &h->lock);
        if (h->len == 0)
            break; /* stopping, and nothing left */
        job_t job = h->ring[h->head];
        h->head = (h->head + 1) % h->cap;
        h->len--;
        pthread_mutex_unlock(&h->lock);
        job.fn(job.arg);
        pthread_mutex_lock(&h->lock);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

int hl_hasher_start(unsigned threads, unsigned queue, hl_hasher_t **out)
{
    hl_hasher_t *h;

    if (threads == 0 || queue == 0 || out == NULL)
        return HL_EINVAL;
    h = calloc(1, sizeof(*h));
    if (h == NULL)
        return HL_ENOMEM;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->wake, NULL);
    h->cap = queue;
    h->ring = calloc(queue, sizeof(*h->ring));
    h->threads = calloc(threads, sizeof(*h->threads));
    if (h->ring == NULL || h->threads == NULL) {
        hl_hasher_stop(h);
        return HL_ENOMEM;
    }
    for (; h->n_threads < threads; h->n_threads++) {
        if (pthread_create(&h->threads[h->n_threads], NULL, worker, h) != 0) {
            hl_hasher_stop(h);
            return HL_ENOMEM;
        }
    }
    *out = h;
    return HL_OK;
}

bool hl_hasher_submit(hl_hasher_t *h, hl_hasher_fn fn, void *arg)
{
    bool queued = false;

    pthread_mutex_lock(&h->lock);
    if (!h->stopping && h->len < h->cap) {
        h->ring[(h->head + h->len) % h->cap] = (job_t){fn, arg};
        h->len++;
        queued = true;
        pthread_cond_signal(&h->wake);
    }
    pthread_mutex_unlock(&h->lock);
    return queued;
}

void hl_hasher_stop(hl_hasher_t *h)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->lock);
    h->stopping = true;
    pthread_cond_broadcast(&h->wake);
    pthread_mutex_unlock(&h->lock);
    for (unsigned i = 0; i < h->n_threads; i++)
        pthread_join(h->threads[i], NULL);
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->lock);
    free(h->threads);
    free(h->ring);
    free(h);
}
