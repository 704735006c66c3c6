/*
 * Database work of request handlers, off the HTTP threads. libmicrohttpd's threads each serve the
 * keep-alive connections they accepted, one request at a time, and which thread accepts which
 * connection is chance (16 connections were spread 5, 3, 2, 2, 2, 1, 1, 1 over 8 threads in
 * bench-cases): a handler that waits for PostgreSQL, its commit's WAL flush above all, holds up
 * every other connection of its thread while threads with one connection idle. A handler that
 * defers its reply (hl_http_defer) and submits its database part here frees its thread at once;
 * these threads take the jobs in the order they came, whichever connection they came from.
 *
 * A thread takes every job queued at its head for the same function, up to a batch: N notes
 * stored by one statement and one commit cost PostgreSQL little more than one (a note's
 * statement alone costs its commit's WAL flush, and its executor's start: the CHECK
 * constraints are read from their text again for each statement). Under a light load a batch
 * is one job; as the queue grows, so do the batches.
 *
 * helplined runs HL_DBJOBS_THREADS of them: one batch commits (its WAL flush) while the next one
 * runs, as the writer's two connections do for contacts. More threads make smaller batches:
 * bench-cases' notes at concurrency 16 (load average 3.6-4.5, one run each) went from 3,354 and
 * 3,754 notes/s (p99 11.9 and 10.4 ms) with 2 threads to 3,084 (14.8 ms) with 4 and 2,879 (19.4
 * ms) with 8. They take their connections from the handlers' pool (threads + 2 + the hasher's),
 * with no more than they take. A batch waits for all its case rows: a note whose case a PATCH
 * holds delays the notes of its batch by as long (the pool's 3 s deadline at most).
 *
 * The shape of access/hasher (a queue and threads that run FN(ARG)), with batches, at the
 * normal CPU priority: a job holds a pool connection for a statement, not a core for a hash.
 */
#ifndef HL_DBJOBS_H
#define HL_DBJOBS_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define HL_DBJOBS_THREADS 2

typedef struct hl_dbjobs hl_dbjobs_t;
/* Runs the N (1..the batch) jobs ARGS, submitted with this function in this order. */
typedef void (*hl_dbjob_fn)(void **args, size_t n);

/* THREADS threads, a queue of QUEUE jobs, batches of at most BATCH jobs. */
int hl_dbjobs_start(unsigned threads, unsigned queue, unsigned batch, hl_dbjobs_t **out) HL_MUSTCHECK;

/* Queues ARG for FN; false when the queue is full or the jobs are stopping (FN is then not
 * called for it: the caller answers). */
bool hl_dbjobs_submit(hl_dbjobs_t *j, hl_dbjob_fn fn, void *arg) HL_MUSTCHECK;

/* Refuses new jobs, runs the queued ones, joins the threads. NULL is a no-op. */
void hl_dbjobs_stop(hl_dbjobs_t *j);

#endif
