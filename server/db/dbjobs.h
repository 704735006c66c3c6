/*
 * Database work of request handlers, off the HTTP threads. libmicrohttpd's threads each serve the
 * keep-alive connections they accepted, one request at a time, and which thread accepts which
 * connection is chance (16 connections were spread 5, 3, 2, 2, 2, 1, 1, 1 over 8 threads in
 * bench-cases): a handler that waits for PostgreSQL, its commit's WAL flush above all, holds up
 * every other connection of its thread while threads with one connection idle. A handler that
 * defers its reply (hl_http_defer) and submits its database part here frees its thread at once;
 * these threads take the jobs in the order they came, whichever connection they came from.
 *
 * helplined runs `threads` of them (as many as HTTP threads); they take their connections from
 * the handlers' pool, which is not grown for them: PostgreSQL sees no more of a daemon's
 * connections than before, and under a load of notes and reads together an HTTP thread may
 * wait for a connection, for as long as a job's statement takes (a job holds one connection,
 * for one statement, and waits for nothing else).
 *
 * The same shape as access/hasher (a queue and threads that run FN(ARG)), at the normal CPU
 * priority: a job holds a pool connection for a statement, not a core for a hash.
 */
#ifndef HL_DBJOBS_H
#define HL_DBJOBS_H

#include <stdbool.h>

#include "util.h"

typedef struct hl_dbjobs hl_dbjobs_t;
typedef void (*hl_dbjob_fn)(void *arg);

/* THREADS threads and a queue of QUEUE jobs. */
int hl_dbjobs_start(unsigned threads, unsigned queue, hl_dbjobs_t **out) HL_MUSTCHECK;

/* Queues FN(ARG); false when the queue is full or the jobs are stopping (FN is then not called:
 * the caller answers). */
bool hl_dbjobs_submit(hl_dbjobs_t *j, hl_dbjob_fn fn, void *arg) HL_MUSTCHECK;

/* Refuses new jobs, runs the queued ones, joins the threads. NULL is a no-op. */
void hl_dbjobs_stop(hl_dbjobs_t *j);

#endif
