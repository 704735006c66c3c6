/*
 * Where Argon2id runs: never on an HTTP worker thread. HL_HASHER_THREADS threads, at a lower CPU
 * priority (nice +10, so intake and reads win the CPU from a login flood), take jobs from a queue
 * of at most HL_HASHER_QUEUE. A job that finds the queue full is refused at once: the caller
 * answers 503 with Retry-After instead of blocking a worker thread. So at most HL_HASHER_THREADS
 * hashes run at once (64 MiB and one core each, docs/keys.md section 10), whatever arrives, and a
 * queued login waits at most HL_HASHER_QUEUE / HL_HASHER_THREADS hash times.
 */
#ifndef HL_HASHER_H
#define HL_HASHER_H

#include <stdbool.h>

#include "util.h"

#define HL_HASHER_THREADS 2
#define HL_HASHER_QUEUE   8

typedef struct hl_hasher hl_hasher_t;
typedef void (*hl_hasher_fn)(void *arg);

int hl_hasher_start(unsigned threads, unsigned queue, hl_hasher_t **out) HL_MUSTCHECK;

/* Queues FN(ARG); false when the queue is full or the hasher stopping (FN is then not called). */
bool hl_hasher_submit(hl_hasher_t *h, hl_hasher_fn fn, void *arg) HL_MUSTCHECK;

/* Refuses new jobs, runs the queued ones, joins the threads. NULL is a no-op. */
void hl_hasher_stop(hl_hasher_t *h);

#endif
