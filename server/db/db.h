/* PostgreSQL connections for helplined's subcommands and workers. */
#ifndef HL_DB_H
#define HL_DB_H

#include <libpq-fe.h>

#include "util.h"

/* Connects with CONNINFO as "helplined"; logs the failure (never the connection string)
 * and returns HL_EDB. The caller PQfinish()es *OUT. */
int hl_db_connect(const char *conninfo, PGconn **out) HL_MUSTCHECK;

/* The same, naming the connection APP_NAME in pg_stat_activity and the server's log
 * ("helplined writer 0"), unless CONNINFO sets an application_name of its own. */
int hl_db_connect_as(const char *conninfo, const char *app_name, PGconn **out) HL_MUSTCHECK;

/* Runs a statement without parameters that returns no rows; logs and returns HL_EDB on error. */
int hl_db_exec(PGconn *conn, const char *sql) HL_MUSTCHECK;

#endif
