#include "contacts/ingest_secrets.h"

#include <sodium.h> /* sodium_memzero only */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define OID_TEXT  25
#define OID_BYTEA 17

/* PostgreSQL's primary message only, never parameters. */
static void log_pg(const char *what, const PGresult *res, PGconn *conn)
{
    const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    if (msg == NULL)
        msg = PQerrorMessage(conn);
    hl_log(HL_LOG_ERROR, "%s: PostgreSQL: %.200s", what, msg);
}

bool hl_ingest_system_valid(const char *system)
{
    size_t n;

    if (system == NULL)
        return false;
    n = strnlen(system, HL_INGEST_SYSTEM_MAX + 1);
    if (n < 1 || n > HL_INGEST_SYSTEM_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = system[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int hl_ingest_secret_set(PGconn *conn, hl_crypto_keyring_t *kr, const char *helpline_code, const char *system,
                         char secret[HL_INGEST_SECRET_LEN + 1])
{
    static const char sql[] = "INSERT INTO ingest_secrets (helpline_id, system, secret_hash)"
                              " SELECT id, $2, $3 FROM helplines WHERE code = $1"
                              " ON CONFLICT (helpline_id, system)"
                              " DO UPDATE SET secret_hash = EXCLUDED.secret_hash, created_at = now()"
                              " RETURNING helpline_id";
    /* A split token's verifier part is 32 random bytes; its hash is the token hash. */
    char text[HL_CRYPTO_TOKEN_TEXT_LEN + 1];
    uint8_t sel[HL_CRYPTO_TOKEN_SELECTOR_BYTES], hash[HL_CRYPTO_TOKEN_HASH_BYTES];
    const char *dot;
    PGresult *res = NULL;
    int rc;

    if (conn == NULL || kr == NULL || helpline_code == NULL || secret == NULL ||
        !hl_ingest_system_valid(system))
        return HL_EINVAL;
    if ((rc = hl_crypto_token_new(kr, text, sel, hash)) != HL_OK)
        goto out;
    dot = strchr(text, '.');
    if (dot == NULL || strlen(dot + 1) != HL_INGEST_SECRET_LEN) {
        rc = HL_EINVAL;
        goto out;
    }
    {
        const char *values[3] = {helpline_code, system, (const char *)hash};
        const int lengths[3] = {0, 0, sizeof(hash)};
        const int formats[3] = {0, 0, 1};
        const Oid types[3] = {OID_TEXT, OID_TEXT, OID_BYTEA};
        res = PQexecParams(conn, sql, 3, types, values, lengths, formats, 0);
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_pg("setting an ingest secret", res, conn);
        rc = HL_EDB;
        goto out;
    }
    if (PQntuples(res) != 1) {
        rc = HL_ENOTFOUND;
        goto out;
    }
    memcpy(secret, dot + 1, HL_INGEST_SECRET_LEN + 1);
    rc = HL_OK;
out:
    PQclear(res);
    sodium_memzero(text, sizeof(text));
    return rc;
}

int hl_ingest_secret_remove(PGconn *conn, const char *helpline_code, const char *system)
{
    static const char sql[] = "DELETE FROM ingest_secrets s USING helplines h"
                              " WHERE h.id = s.helpline_id AND h.code = $1 AND s.system = $2";
    const char *values[2] = {helpline_code, system};
    PGresult *res;
    int rc;

    if (conn == NULL || helpline_code == NULL || system == NULL)
        return HL_EINVAL;
    res = PQexecParams(conn, sql, 2, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        log_pg("removing an ingest secret", res, conn);
        rc = HL_EDB;
    } else {
        rc = strcmp(PQcmdTuples(res), "0") == 0 ? HL_ENOTFOUND : HL_OK;
    }
    PQclear(res);
    return rc;
}

int hl_ingest_secret_check(PGconn *conn, hl_crypto_keyring_t *kr, const char *system, const char *presented,
                           int64_t *helpline_id, char code[HL_INGEST_CODE_MAX + 1])
{
    static const char sql[] = "SELECT s.helpline_id::text, h.code, s.secret_hash"
                              "  FROM ingest_secrets s JOIN helplines h ON h.id = s.helpline_id"
                              " WHERE s.system = $1 AND s.secret_hash = $2";
    uint8_t ver[HL_CRYPTO_TOKEN_VERIFIER_BYTES], hash[HL_CRYPTO_TOKEN_HASH_BYTES];
    const uint8_t *stored = NULL;
    size_t stored_len = 0, n = 0;
    PGresult *res = NULL;
    int rc;

    if (conn == NULL || kr == NULL || system == NULL || helpline_id == NULL || code == NULL)
        return HL_EINVAL;
    memset(ver, 0, sizeof(ver));
    if (presented == NULL || strlen(presented) != HL_INGEST_SECRET_LEN ||
        hl_crypto_b64_decode(presented, HL_INGEST_SECRET_LEN, true, ver, sizeof(ver), &n) != HL_OK ||
        n != sizeof(ver)) {
        /* The same work and answer as for an unknown secret. */
        memset(ver, 0, sizeof(ver));
        rc = hl_crypto_token_verify(kr, ver, NULL, 0);
        rc = rc == HL_OK ? HL_ECRYPTO : rc;
        goto out;
    }
    if ((rc = hl_crypto_token_hash(kr, ver, hash)) != HL_OK)
        goto out;
    {
        const char *values[2] = {system, (const char *)hash};
        const int lengths[2] = {0, sizeof(hash)}, formats[2] = {0, 1};
        const Oid types[2] = {OID_TEXT, OID_BYTEA};
        res = PQexecParams(conn, sql, 2, types, values, lengths, formats, 1);
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_pg("checking an ingest secret", res, conn);
        rc = HL_EDB;
        goto out;
    }
    if (PQntuples(res) == 1) {
        stored = (const uint8_t *)PQgetvalue(res, 0, 2);
        stored_len = (size_t)PQgetlength(res, 0, 2);
    }
    /* The index lookup compared hashes of a key the sender does not have; compare again in
     * constant time, and do the same work when nothing matched. */
    rc = hl_crypto_token_verify(kr, ver, stored, stored_len);
    if (rc != HL_OK || stored == NULL) {
        rc = HL_ECRYPTO;
        goto out;
    }
    {
        size_t len = (size_t)PQgetlength(res, 0, 1);
        if (len > HL_INGEST_CODE_MAX)
            len = HL_INGEST_CODE_MAX;
        memcpy(code, PQgetvalue(res, 0, 1), len);
        code[len] = '\0';
    }
    *helpline_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    rc = HL_OK;
out:
    sodium_memzero(ver, sizeof(ver));
    sodium_memzero(hash, sizeof(hash));
    PQclear(res);
    return rc;
}
