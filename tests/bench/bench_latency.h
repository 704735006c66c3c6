/*
 * Latencies of a benchmark's requests, in microseconds, and their percentiles: shared by the
 * load generators of tests/bench (bench_ingest.c, bench_cases.c). Header only: every .c file in
 * tests/bench is a program of its own (Makefile, BENCHES).
 *
 *   hl_bench_lat_t lat = {0};
 *   hl_bench_lat_add(&lat, seconds);          one per request (a worker owns its own set)
 *   hl_bench_lat_merge(&all, &lat);            the workers' sets into one
 *   hl_bench_lat_sort(&all);                   then
 *   hl_bench_lat_ms(&all, 0.99);               the 99th percentile in ms (0 when empty)
 *   hl_bench_lat_free(&all);
 *
 * A percentile is the sorted value at index (n - 1) * q, rounded down (q = 1: the largest).
 */
#ifndef HL_BENCH_LATENCY_H
#define HL_BENCH_LATENCY_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct hl_bench_lat {
    uint32_t *us;
    size_t n, cap;
} hl_bench_lat_t;

static inline void hl_bench_lat_reserve(hl_bench_lat_t *l, size_t more)
{
    if (l->n + more <= l->cap)
        return;
    size_t cap = l->cap ? l->cap : 4096;
    while (cap < l->n + more)
        cap *= 2;
    uint32_t *us = realloc(l->us, cap * sizeof(*us));
    if (us == NULL) {
        fprintf(stderr, "bench: out of memory\n");
        exit(2);
    }
    l->us = us;
    l->cap = cap;
}

static inline void hl_bench_lat_add(hl_bench_lat_t *l, double seconds)
{
    hl_bench_lat_reserve(l, 1);
    l->us[l->n++] = (uint32_t)(seconds * 1e6 + 0.5);
}

static inline void hl_bench_lat_merge(hl_bench_lat_t *into, const hl_bench_lat_t *from)
{
    hl_bench_lat_reserve(into, from->n);
    if (from->n > 0)
        memcpy(into->us + into->n, from->us, from->n * sizeof(*from->us));
    into->n += from->n;
}

static inline int hl_bench_lat_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static inline void hl_bench_lat_sort(hl_bench_lat_t *l)
{
    if (l->n > 0)
        qsort(l->us, l->n, sizeof(*l->us), hl_bench_lat_cmp);
}

/* The Q quantile (0..1) of sorted latencies, in milliseconds. */
static inline double hl_bench_lat_ms(const hl_bench_lat_t *l, double q)
{
    return l->n ? l->us[(size_t)((double)(l->n - 1) * q)] / 1e3 : 0;
}

static inline void hl_bench_lat_free(hl_bench_lat_t *l)
{
    free(l->us);
    memset(l, 0, sizeof(*l));
}

#endif
