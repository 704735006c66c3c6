/*
 * A small pool of PostgreSQL connections for the request threads (reads, PATCH, token
 * look-ups). libpq allows one thread per connection at a time; the pool hands each out to
 * one thread and connects lazily, so the daemon starts and serves /healthz while the
 * database is down.
 */
#ifndef HL_DBPOOL_H
#define HL_DBPOOL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "util.h"

typedef struct hl_dbpool hl_dbpool_t;

int hl_dbpool_new(const char *conninfo, size_t size, hl_dbpool_t **out) HL_MUSTCHECK;
void hl_dbpool_free(hl_dbpool_t *pool);

/* How long a connection may be held, from acquire to release: past it its socket is shut
 * down (dbwatch.h), so a hung PostgreSQL fails the request's calls instead of holding its
 * HTTP thread. Every user of the pool runs a few short statements. */
#define HL_DBPOOL_DEADLINE_MS 3000

/* A connected PGconn, waiting up to WAIT_MS for a free one; NULL when none is free in time
 * or the database cannot be reached (hl_db_connect logs why; a connection attempt gives up
 * after 2 s). The call deadline starts now. */
PGconn *hl_dbpool_acquire(hl_dbpool_t *pool, unsigned wait_ms);

/* Gives CONN back; a broken connection is closed and reconnected on next use. A connection
 * inside a transaction is rolled back first. NULL (what a failed acquire returned: its slot is
 * back already) is a no-op. */
void hl_dbpool_release(hl_dbpool_t *pool, PGconn *conn);

#endif
