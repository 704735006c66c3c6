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

/*
 * PQexecParams(CONN, SQL, N, NULL, VALUES, LENGTHS, FORMATS, RESULT_FORMAT), but with SQL
 * parsed once per session: on a pool's connection outside a transaction block, SQL is prepared
 * under the name hl_ and a 64-bit FNV-1a hash of its text at its first use and executed by that
 * name afterwards (PostgreSQL skips the parse and, once its plan cache settles on a generic
 * plan, the planning). For statements whose best plan does not depend on their parameters
 * (look-ups by key), that run on their own (autocommit).
 *
 * Behind a pooler in transaction mode (PgBouncer before 1.21) a session is not the server's:
 * a statement prepared through one server connection is missing on the next (SQLSTATE 26000)
 * or one of that name is there already, prepared by another client (42P05; the name says it
 * is the same text). Either tells the connection to send its statements unnamed from then
 * on, and the statement is run again unnamed: it did nothing, having run alone. Inside a
 * transaction block a statement is always sent unnamed, since such an error would abort the
 * caller's transaction. A connection that is not a pool's sends them unnamed too.
 */
PGresult *hl_dbpool_exec(PGconn *conn, const char *sql, int n, const char *const *values, const int *lengths,
                         const int *formats, int result_format);

#endif
