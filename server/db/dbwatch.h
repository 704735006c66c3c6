/*
 * Deadlines for PostgreSQL calls (design.md invariant 7: every database call has a deadline).
 *
 * libpq waits for the server without a time limit: a PostgreSQL that hangs (a lock held for
 * minutes, a stopped server process) would hold a request thread, or the writer, as long as it
 * hangs. A watch arms a deadline on one connection; past it, a watchdog thread shuts the
 * connection's socket down, so whatever libpq is waiting for (a result, room to send) fails at
 * once and the connection reads as broken (CONNECTION_BAD). The caller sees an ordinary lost
 * connection: the writer spools, a handler answers 503. Server-side timeouts
 * (statement_timeout, lock_timeout) end most waits earlier and more gently; the watch is what
 * holds when the server cannot act on them.
 *
 * The watchdog is one thread for the process, started by the first hl_dbwatch_arm. A watch is
 * caller-owned memory; it must be disarmed before the connection is closed, and after
 * hl_dbwatch_disarm returns the watchdog no longer touches it or the socket.
 */
#ifndef HL_DBWATCH_H
#define HL_DBWATCH_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

typedef struct hl_dbwatch {
    int fd;
    int64_t deadline_us;
    bool armed;
    bool fired;
    struct hl_dbwatch *next;
} hl_dbwatch_t;

/* Arms W on CONN for MS milliseconds. HL_EINVAL when CONN has no socket; HL_ENOMEM when the
 * watchdog thread cannot start (then no deadline holds). */
int hl_dbwatch_arm(hl_dbwatch_t *w, PGconn *conn, unsigned ms) HL_MUSTCHECK;

/* Disarms W (a no-op when it is not armed); true when its deadline passed and the socket was
 * shut down. */
bool hl_dbwatch_disarm(hl_dbwatch_t *w);

#endif
