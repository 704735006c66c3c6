/*
 * Re-encryption after a key rotation: re-seals every sealed field still under an old key
 * id with the keyring's current id (docs/keys.md).
 *
 * Rows are found by the key id inside the envelope itself (bytes 2..5 of the bytea, read
 * with substring() in SQL), so no extra column is needed. Each batch is one transaction
 * that locks its rows (FOR UPDATE), walks the id column in order, and commits; a run that
 * stops (crash, Ctrl-C, the progress callback) loses at most the batch in flight, and the
 * next run only ever selects rows still under old ids: restartable by construction.
 */
#ifndef HL_KEYS_H
#define HL_KEYS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "crypto.h"
#include "admin/sealed_columns.h"
#include "util.h"

#define HL_KEYS_DEFAULT_BATCH 500

typedef struct hl_keys_progress {
    const char *table;
    const char *column;
    uint64_t done;      /* re-sealed in this column so far */
    uint64_t failed;    /* would not open in this column so far (left unchanged) */
    uint64_t remaining; /* under old ids in this column when it started, minus done and failed */
} hl_keys_progress_t;

/* Called after each committed batch; return false to stop (the run returns HL_ECONFLICT). */
typedef bool (*hl_keys_progress_fn)(const hl_keys_progress_t *p, void *arg);

typedef struct hl_keys_stats {
    uint64_t resealed;  /* fields re-sealed under the current id */
    uint64_t failed;    /* fields that did not open (unknown key id, damaged); left as they are */
    uint64_t remaining; /* fields still under old ids after the run (failures, a stop, writers) */
    size_t skipped;     /* registry entries whose table or column does not exist (yet) */
} hl_keys_stats_t;

/*
 * Re-seals, in batches of BATCH rows, every field of the NCOLS columns COLS that is not
 * under hl_crypto_keyring_current(KR). PROGRESS may be NULL. *STATS (may be NULL) is filled
 * in whatever the outcome. Returns HL_OK when every column was walked and nothing failed,
 * HL_ECRYPTO when some fields would not open (stats->failed), HL_ECONFLICT when PROGRESS
 * stopped it, HL_EDB on a database error (the batch in flight is rolled back).
 */
int hl_keys_reencrypt(PGconn *conn, hl_crypto_keyring_t *kr, const hl_sealed_column_t *cols, size_t ncols,
                      size_t batch, hl_keys_progress_fn progress, void *arg,
                      hl_keys_stats_t *stats) HL_MUSTCHECK;

/* How many fields of COLS are not under the current key id (skipping missing tables). */
int hl_keys_count_old(PGconn *conn, hl_crypto_keyring_t *kr, const hl_sealed_column_t *cols, size_t ncols,
                      uint64_t *count) HL_MUSTCHECK;

#endif
