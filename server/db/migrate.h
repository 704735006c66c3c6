/*
 * The migration runner: applies migrations/NNNN_name.sql in order, each in its own
 * transaction, recording (version, name, checksum, applied_at) in schema_migrations.
 * A second run does nothing; a changed file, a missing file or a gap in the applied
 * history stops it before anything is applied.
 *
 * Safe with several runners at once and behind a transaction pooler (PgBouncer's transaction
 * mode): each migration's transaction takes a transaction-level advisory lock and re-reads the
 * history, and no session state (session lock, session SET) is used.
 */
#ifndef HL_MIGRATE_H
#define HL_MIGRATE_H

#include <libpq-fe.h>

#include "util.h"

/* Applies what is pending in DIR; *APPLIED gets how many were applied now.
 * Returns HL_OK, HL_ECONFLICT (checksum changed, file missing), HL_EINVAL (bad file
 * names), HL_EIO or HL_EDB. Every error is logged once with the file's name. */
int hl_migrate_run(PGconn *conn, const char *dir, int *applied) HL_MUSTCHECK;

#endif
