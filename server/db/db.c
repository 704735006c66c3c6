#include "db/db.h"

#include <string.h>

#include "log.h"

/* libpq messages end with a newline; log lines must not. */
static int message_len(const char *msg)
{
    size_t n = strlen(msg);

    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    return (int)n;
}

int hl_db_connect_as(const char *conninfo, const char *app_name, PGconn **out)
{
    /* CONNINFO is expanded as the dbname (a key=value string or a URI); an application_name
     * it sets wins over the fallback, and so does any of the defaults before it: a connection
     * attempt gives up after 2 s, and a TCP peer that vanished is noticed within seconds
     * (keepalives for an idle connection, tcp_user_timeout for unacknowledged data) rather
     * than after the kernel's two hours. */
    const char *const keys[] = {
        "connect_timeout",  "keepalives_idle", "keepalives_interval",       "keepalives_count",
        "tcp_user_timeout", "dbname",          "fallback_application_name", NULL};
    const char *values[] = {"2", "10", "5", "3", "10000", conninfo, app_name, NULL};
    PGconn *conn;

    if (conninfo == NULL || *conninfo == '\0') {
        hl_log(HL_LOG_ERROR, "no database_url configured");
        return HL_EDB;
    }
    conn = PQconnectdbParams(keys, values, 1);
    if (PQstatus(conn) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(conn);
        hl_log(HL_LOG_ERROR, "cannot connect to PostgreSQL: %.*s", message_len(msg), msg);
        PQfinish(conn);
        return HL_EDB;
    }
    /* Terse errors carry no DETAIL line, where PostgreSQL would quote row values. */
    PQsetErrorVerbosity(conn, PQERRORS_TERSE);
    *out = conn;
    return HL_OK;
}

int hl_db_connect(const char *conninfo, PGconn **out)
{
    return hl_db_connect_as(conninfo, "helplined", out);
}

int hl_db_exec(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    int rc = HL_OK;

    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *msg = PQerrorMessage(conn);
        hl_log(HL_LOG_ERROR, "PostgreSQL: %.*s", message_len(msg), msg);
        rc = HL_EDB;
    }
    PQclear(res);
    return rc;
}
