/*
 * bench-ingest's stand-in for a slower disk (BENCH_FSYNC_DELAY_US): preloaded into the PostgreSQL
 * server only, it makes every fsync and fdatasync wait SLOW_FSYNC_US microseconds more before
 * doing the real one. A WAL flush then costs what it costs on a disk with that latency, for the
 * daemon's transactions and pgbench's alike.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int fsync(int fd);
int fdatasync(int fd);

static void slow_down(void)
{
    const char *v = getenv("SLOW_FSYNC_US");
    long us = v != NULL ? strtol(v, NULL, 10) : 0;
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};

    if (us > 0)
        nanosleep(&ts, NULL);
}

int fsync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");

    slow_down();
    return real(fd);
}

int fdatasync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

    slow_down();
    return real(fd);
}
