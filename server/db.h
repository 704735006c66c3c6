/* PostgreSQL connections for helplined's subcommands and workers. */
#ifndef HL_DB_H
#define HL_DB_H

#include <libpq-fe.h>

#include "util.h"

/* Connects with CONNINFO; logs the failure (never the connection string) and returns
 * HL_EDB. The caller PQfinish()es *OUT. */
int hl_db_connect(const char *conninfo, PGconn **out) HL_MUSTCHECK;

/* Runs a statement without parameters that returns no rows; logs and returns HL_EDB on error. */
int hl_db_exec(PGconn *conn, const char *sql) HL_MUSTCHECK;

#endif
