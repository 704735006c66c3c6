#include "db/dbwatch.h"

#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"

/* The armed watches, unordered: there are as many as connections in use (a few dozen). */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER; /* on CLOCK_MONOTONIC */
static hl_dbwatch_t *armed;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool started;

static void to_timespec(int64_t us, struct timespec *ts)
{
    ts->tv_sec = (time_t)(us / 1000000);
    ts->tv_nsec = (long)(us % 1000000) * 1000;
}

/* Shuts down the sockets of expired watches and unlinks them; the earliest deadline left, or -1. */
static int64_t fire_expired(int64_t now)
{
    hl_dbwatch_t **p = &armed;
    int64_t next = -1;

    while (*p != NULL) {
        hl_dbwatch_t *w = *p;

        if (w->deadline_us <= now) {
            shutdown(w->fd, SHUT_RDWR);
            w->fired = true;
            w->armed = false;
            *p = w->next;
            hl_log(HL_LOG_WARN, "database call past its deadline: connection closed");
            continue;
        }
        if (next < 0 || w->deadline_us < next)
            next = w->deadline_us;
        p = &w->next;
    }
    return next;
}

static void *watchdog_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        int64_t next = fire_expired(hl_monotonic_us());

        if (next < 0) {
            pthread_cond_wait(&changed, &mu);
        } else {
            struct timespec ts;
            to_timespec(next, &ts);
            pthread_cond_timedwait(&changed, &mu, &ts);
        }
    }
    return NULL;
}

static void start_watchdog(void)
{
    pthread_condattr_t ca;
    pthread_attr_t ta;
    pthread_t th;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_destroy(&changed);
    pthread_cond_init(&changed, &ca);
    pthread_condattr_destroy(&ca);
    pthread_attr_init(&ta);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    started = pthread_create(&th, &ta, watchdog_main, NULL) == 0;
    pthread_attr_destroy(&ta);
    if (!started)
        hl_log(HL_LOG_ERROR, "cannot start the database watchdog: database calls have no deadline");
}

int hl_dbwatch_arm(hl_dbwatch_t *w, PGconn *conn, unsigned ms)
{
    int fd = conn != NULL ? PQsocket(conn) : -1;

    w->armed = w->fired = false;
    if (fd < 0)
        return HL_EINVAL;
    pthread_once(&once, start_watchdog);
    if (!started)
        return HL_ENOMEM;
    w->fd = fd;
    w->deadline_us = hl_monotonic_us() + (int64_t)ms * 1000;
    pthread_mutex_lock(&mu);
    w->armed = true;
    w->next = armed;
    armed = w;
    pthread_cond_signal(&changed);
    pthread_mutex_unlock(&mu);
    return HL_OK;
}

bool hl_dbwatch_disarm(hl_dbwatch_t *w)
{
    bool fired;

    pthread_mutex_lock(&mu);
    if (w->armed) {
        for (hl_dbwatch_t **p = &armed; *p != NULL; p = &(*p)->next) {
            if (*p == w) {
                *p = w->next;
                break;
            }
        }
        w->armed = false;
    }
    fired = w->fired;
    pthread_mutex_unlock(&mu);
    return fired;
}
