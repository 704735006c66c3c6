/*
 * The writer: group commit of sealed contact records into PostgreSQL.
 *
 * HTTP handlers submit records; a writer thread takes whatever is waiting (up to
 * max_batch records; while another connection's batch is in flight it waits for more, at
 * most max_delay_us after the first or until that batch is done) and stores it in ONE
 * transaction, then calls each record's completion. There is one thread per connection
 * (`connections`): each takes the next batch from the shared queue, so that up to that many
 * batch transactions run at once. A completion with CREATED or DUPLICATE
 * is called only after COMMIT returned; SPOOLED only after the spool's fsync (design.md
 * invariant 2). Idempotency: (helpline_id, source_system, source_id) is stored once; a
 * repeat, also inside one batch, completes as DUPLICATE with the first record's id.
 * One bad record never fails its batch-mates.
 *
 * When PostgreSQL is unreachable, records go to the spool (SPOOLED); when it is back, the
 * spool is replayed, oldest first, by connection 0 (before its new work; the other connections
 * keep storing new records meanwhile). The writer reconnects by itself.
 */
#ifndef HL_WRITER_H
#define HL_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "contacts/record.h"
#include "contacts/spool.h"
#include "util.h"

typedef enum {
    HL_WRITE_CREATED = 0,   /* committed now */
    HL_WRITE_DUPLICATE = 1, /* the same source was already stored: id is the first one's */
    HL_WRITE_SPOOLED = 2,   /* database unavailable: fsync'd to the spool, stored later */
    HL_WRITE_FAILED = 3     /* nothing stored: err says why (HL_EDB, HL_EIO, HL_ENOMEM, ...) */
} hl_write_status_t;

typedef struct hl_write_result {
    hl_write_status_t status;
    int err;
    uint8_t id[HL_RECORD_ID_BYTES];
    /* Earlier contacts from the same caller phone (blind index) in the same helpline;
     * -1 when unknown (no phone, or spooled). */
    int64_t previous_contacts;
} hl_write_result_t;

/* Called once per submitted record, from a writer thread (several may call at once). Must
 * not block for long. */
typedef void (*hl_writer_done_fn)(void *arg, const hl_write_result_t *res);

typedef struct hl_writer_opts {
    const char *conninfo;  /* libpq connection string */
    hl_spool_t *spool;     /* borrowed; NULL: no spool (FAILED instead of SPOOLED) */
    size_t max_batch;      /* 0: 256 */
    unsigned max_delay_us; /* 0: 2000; waited only while another batch is in flight */
    size_t max_queue;      /* submissions beyond this are refused (503); 0: 10000 */
    unsigned connections;  /* threads and PGconns, each running its own batches; 0: 1 */
} hl_writer_opts_t;

#define HL_WRITER_MAX_CONNECTIONS 16

typedef struct hl_writer hl_writer_t;

typedef struct hl_writer_stats {
    uint64_t batches;
    uint64_t created;
    uint64_t duplicates;
    uint64_t spooled;
    uint64_t replayed;
    uint64_t failed;
    uint64_t deadlocks; /* transactions PostgreSQL failed as deadlock victims (40P01), then retried */
    size_t queued;
    bool database_up; /* at least one connection is up */
} hl_writer_stats_t;

/* Starts the writer threads (they connect in the background; the database may be down). */
int hl_writer_start(const hl_writer_opts_t *opts, hl_writer_t **out) HL_MUSTCHECK;

/* Hands REC over (the writer frees it). DONE(ARG, result) follows exactly once, unless
 * this returns an error (HL_ECONFLICT: queue full or stopping), in which case the caller
 * still owns REC and DONE is never called. */
int hl_writer_submit(hl_writer_t *w, hl_record_t *rec, hl_writer_done_fn done, void *arg) HL_MUSTCHECK;

/* Stops accepting, stores (or spools) everything queued, completes it, joins the threads. */
void hl_writer_stop(hl_writer_t *w);

void hl_writer_get_stats(hl_writer_t *w, hl_writer_stats_t *out);

#endif
