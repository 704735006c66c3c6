#include "access/audit.h"

#include <stdio.h>

#include "log.h"

int hl_audit_write(PGconn *conn, int64_t helpline_id, int64_t user_id, const char *action,
                   const char *contact_id, const char *detail)
{
    char hl[24], user[24];
    const char *values[5] = {helpline_id > 0 ? hl : NULL, user_id > 0 ? user : NULL, action, contact_id,
                             detail};
    PGresult *res;
    int rc = HL_OK;

    snprintf(hl, sizeof(hl), "%lld", (long long)helpline_id);
    snprintf(user, sizeof(user), "%lld", (long long)user_id);
    res = PQexecParams(conn,
                       "INSERT INTO audit_log (helpline_id, user_id, action, contact_id, detail) "
                       "VALUES ($1, $2, $3, $4::uuid, $5)",
                       5, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        hl_log(HL_LOG_ERROR, "audit: cannot write %s row for user %lld: %s", action, (long long)user_id,
               PQresultErrorMessage(res));
        rc = HL_EDB;
    }
    PQclear(res);
    return rc;
}

int hl_audit_write_case(PGconn *conn, int64_t helpline_id, int64_t user_id, const char *action,
                        const char *case_id, const char *contact_id, const char *detail)
{
    char hl[24], user[24];
    const char *values[6] = {
        helpline_id > 0 ? hl : NULL, user_id > 0 ? user : NULL, action, case_id, contact_id, detail};
    PGresult *res;
    int rc = HL_OK;

    snprintf(hl, sizeof(hl), "%lld", (long long)helpline_id);
    snprintf(user, sizeof(user), "%lld", (long long)user_id);
    res = PQexecParams(conn,
                       "INSERT INTO audit_log (helpline_id, user_id, action, case_id, contact_id, detail) "
                       "VALUES ($1, $2, $3, $4::uuid, $5::uuid, $6)",
                       6, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        hl_log(HL_LOG_ERROR, "audit: cannot write %s row of case %s for user %lld: %s", action, case_id,
               (long long)user_id,
               PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) != NULL
                   ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                   : "no reply");
        rc = HL_EDB;
    }
    PQclear(res);
    return rc;
}
