/*
 * Spool benchmark: durable appends per second for 1 KiB records with 1 and 16 threads (each
 * append returns only after fdatasync; concurrent appenders share fsyncs), then replay speed.
 * The spool lives in a fresh directory under $HL_BENCH_DIR (default /tmp): put it on the disk
 * you care about, since fsync cost is the whole story. BENCH_SPOOL_SECONDS (default 2) per run.
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "contacts/spool.h"

#define REC_BYTES 1024

struct run {
    hl_spool_t *sp;
    double seconds;
    atomic_int stop;
    atomic_ulong done;
    atomic_int failed;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *appender(void *arg)
{
    struct run *r = arg;
    uint8_t rec[REC_BYTES];

    memset(rec, 0xa5, sizeof(rec));
    while (!atomic_load(&r->stop)) {
        if (hl_spool_append(r->sp, rec, sizeof(rec)) != 0) {
            atomic_store(&r->failed, 1);
            break;
        }
        atomic_fetch_add(&r->done, 1);
    }
    return NULL;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int count_fn(void *arg, const void *rec, size_t len)
{
    (void)rec;
    *(size_t *)arg += len;
    return 0;
}

static int bench(const char *base, int threads, double seconds)
{
    char dir[4096];
    pthread_t tid[64];
    struct run r = {.seconds = seconds};
    hl_spool_stats_t st;
    size_t replayed = 0, bytes = 0;
    double t0, t1, t2;
    int rc = 1;

    snprintf(dir, sizeof(dir), "%s/hl-bench-spool-XXXXXX", base);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "mkdtemp %s: %s\n", dir, strerror(errno));
        return 1;
    }
    if (hl_spool_open(dir, &r.sp) != 0)
        goto out;
    t0 = now();
    for (int i = 0; i < threads; i++)
        pthread_create(&tid[i], NULL, appender, &r);
    while (now() - t0 < seconds)
        usleep(10000);
    atomic_store(&r.stop, 1);
    for (int i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    t1 = now();
    hl_spool_stats(r.sp, &st);
    printf("append  %2d thread(s): %8.0f appends/s  %7.2f MiB/s  %6.1f appends per fsync  (%lu in %.2f s)\n",
           threads, (double)st.appends / (t1 - t0),
           (double)st.appends * (REC_BYTES + 16) / (t1 - t0) / 1048576.0,
           st.fsyncs ? (double)st.appends / (double)st.fsyncs : 0.0, (unsigned long)st.appends, t1 - t0);
    if (hl_spool_replay(r.sp, count_fn, &bytes, &replayed) != 0)
        goto out;
    t2 = now();
    printf("replay  %2d thread(s): %8.0f records/s (%zu records, null apply function)\n", threads,
           (double)replayed / (t2 - t1), replayed);
    rc = atomic_load(&r.failed);
out:
    hl_spool_close(r.sp);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}

int main(void)
{
    const char *base = getenv("HL_BENCH_DIR");
    const char *secs = getenv("BENCH_SPOOL_SECONDS");
    double seconds = secs ? atof(secs) : 2.0;
    static const int threads[] = {1, 4, 16};
    int rc = 0;

    if (!base || !*base)
        base = "/tmp";
    if (seconds <= 0)
        seconds = 2.0;
    hl_log_set_level(HL_LOG_WARN);
    printf("spool benchmark: %d-byte records, fdatasync before each append returns, dir %s\n", REC_BYTES,
           base);
    for (size_t i = 0; i < sizeof(threads) / sizeof(threads[0]); i++)
        rc |= bench(base, threads[i], seconds);
    return rc;
}
