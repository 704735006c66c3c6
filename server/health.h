/*
 * Health: what /healthz and /metrics say about the database and the spool, checked rather than
 * assumed. A thread with a PostgreSQL connection of its own ("helplined health") asks
 * for transaction_read_only every interval, with a deadline that covers connecting, sending
 * and the answer (non-blocking libpq and poll: a stopped or hung server costs the probe the
 * deadline, never more), and checks that the spool can take records (hl_spool_usable).
 *
 * Readers never wait for PostgreSQL or the disk: hl_health_get copies the last results. A
 * database result older than HL_HEALTH_MAX_AGE_MS reads as down (the probe is stuck somewhere
 * its deadline does not reach, such as a host name lookup); a spool check that has been running
 * for longer than that reads as unusable. Details: docs/health.md.
 *
 * With a read replica (read_database_url), the same thread probes it too, over a second
 * connection of its own ("helplined health replica"), under a deadline of its own, and measures
 * its replay lag against the primary's WAL position (replag.h; docs/scale-out.md).
 */
#ifndef HL_HEALTH_H
#define HL_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "db/replag.h"
#include "contacts/spool.h"
#include "util.h"

#define HL_HEALTH_INTERVAL_MS 500u  /* between probes */
#define HL_HEALTH_DEADLINE_MS 1000u /* one probe: connect (when needed) and query */
#define HL_HEALTH_MAX_AGE_MS  1500u /* older database results count as down */

typedef enum {
    HL_HEALTH_DB_DOWN = 0,     /* no answer, no connection, or an error */
    HL_HEALTH_DB_UP = 1,       /* answers and takes writes */
    HL_HEALTH_DB_READ_ONLY = 2 /* answers, but read-only: a hot standby or default_transaction_read_only */
} hl_health_db_t;

typedef struct hl_health_opts {
    const char *conninfo;         /* libpq connection string (copied) */
    const char *replica_conninfo; /* read_database_url (copied); NULL: no replica */
    hl_spool_t *spool;            /* borrowed; NULL: no spool (never usable) */
    unsigned interval_ms;         /* 0: HL_HEALTH_INTERVAL_MS */
    unsigned deadline_ms;         /* 0: HL_HEALTH_DEADLINE_MS */
} hl_health_opts_t;

/* The read replica, as last probed. */
typedef struct hl_health_replica {
    bool configured;    /* read_database_url is set (else the rest is false/0) */
    bool up;            /* answered a probe less than HL_HEALTH_MAX_AGE_MS ago */
    bool standby;       /* ... and is in recovery (false: a primary used for reads) */
    bool lag_known;     /* up, and (standby) the primary's WAL position is known */
    double lag_seconds; /* replag.h; 0 for a primary */
    uint64_t lag_bytes; /* replag.h; 0 for a primary */
} hl_health_replica_t;

typedef struct hl_health_state {
    hl_health_db_t database;
    bool spool_usable;
    hl_health_replica_t replica;
} hl_health_state_t;

typedef struct hl_health hl_health_t;

/* Starts the probe thread (it connects in the background; the database may be down). */
int hl_health_start(const hl_health_opts_t *opts, hl_health_t **out) HL_MUSTCHECK;

/* The current state, without waiting for any probe. H NULL: down, spool unusable. */
void hl_health_get(hl_health_t *h, hl_health_state_t *out);

/* "up", "down" or "read_only" (api.md's /healthz database values). */
const char *hl_health_db_name(hl_health_db_t db);

/* Stops the thread (waits at most one deadline) and frees H; NULL is a no-op. */
void hl_health_stop(hl_health_t *h);

#endif
