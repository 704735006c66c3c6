#include "admin/keys.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define OID_BYTEA 17

typedef struct colsql {
    char *count;  /* $1 current key id bytes */
    char *first;  /* $1, $2 batch size; rows of (id, envelope, record id of the AD) */
    char *next;   /* $1, $2, $3 last id seen */
    char *update; /* $1 new envelope, $2 id */
} colsql_t;

static char *sqlf(const char *fmt, ...) HL_PRINTF(1, 2);
static char *sqlf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static void colsql_free(colsql_t *q)
{
    free(q->count);
    free(q->first);
    free(q->next);
    free(q->update);
    memset(q, 0, sizeof(*q));
}

/* Logs PostgreSQL's primary message only: DETAIL lines may quote row values. */
static void log_pg(const char *what, const PGresult *res, PGconn *conn)
{
    const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    if (msg == NULL)
        msg = PQerrorMessage(conn);
    hl_log(HL_LOG_ERROR, "%s: PostgreSQL: %.200s", what, msg);
}

static int exec_simple(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? HL_OK : HL_EDB;

    if (rc != HL_OK)
        log_pg(sql, res, conn);
    PQclear(res);
    return rc;
}

static void rollback(PGconn *conn)
{
    PGresult *res = PQexec(conn, "ROLLBACK");

    PQclear(res);
}

/* Quoted identifiers and the statements for one column. */
static int colsql_build(PGconn *conn, const hl_sealed_column_t *c, colsql_t *q, char **qtable)
{
    char *t = NULL, *i = NULL, *col = NULL, *scope = NULL, *adid = NULL;
    int rc = HL_ENOMEM;

    memset(q, 0, sizeof(*q));
    t = PQescapeIdentifier(conn, c->table, strlen(c->table));
    i = PQescapeIdentifier(conn, c->id_column, strlen(c->id_column));
    col = PQescapeIdentifier(conn, c->column, strlen(c->column));
    if (c->scope_column != NULL)
        scope = PQescapeIdentifier(conn, c->scope_column, strlen(c->scope_column));
    if (t == NULL || i == NULL || col == NULL || (c->scope_column != NULL && scope == NULL))
        goto out;
    adid = scope != NULL ? sqlf("%s::text || '/' || %s::text", scope, i) : sqlf("%s::text", i);
    if (adid == NULL)
        goto out;
    q->count = sqlf("SELECT count(*) FROM %s WHERE %s IS NOT NULL AND substring(%s from 2 for 4) <> $1", t,
                    col, col);
    q->first =
        sqlf("SELECT %s::text, %s, %s FROM %s WHERE %s IS NOT NULL AND substring(%s from 2 for 4) <> $1"
             " ORDER BY %s LIMIT $2 FOR UPDATE",
             i, col, adid, t, col, col, i);
    q->next = sqlf("SELECT %s::text, %s, %s FROM %s WHERE %s IS NOT NULL AND substring(%s from 2 for 4) <> $1"
                   " AND %s > $3 ORDER BY %s LIMIT $2 FOR UPDATE",
                   i, col, adid, t, col, col, i, i);
    q->update = sqlf("UPDATE %s SET %s = $1 WHERE %s = $2", t, col, i);
    *qtable = sqlf("%s", t);
    if (q->count == NULL || q->first == NULL || q->next == NULL || q->update == NULL || *qtable == NULL) {
        free(*qtable);
        *qtable = NULL;
        colsql_free(q);
        goto out;
    }
    rc = HL_OK;
out:
    PQfreemem(t);
    PQfreemem(i);
    PQfreemem(col);
    PQfreemem(scope);
    free(adid);
    return rc;
}

/* Whether the table, its id column and a bytea column exist: *OK false means skip it. */
static int column_exists(PGconn *conn, const char *qtable, const hl_sealed_column_t *c, bool *ok)
{
    static const char sql[] =
        "SELECT (SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
        "         WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped),"
        "       (SELECT count(*) FROM pg_attribute"
        "         WHERE attrelid = to_regclass($1) AND attname = $3 AND NOT attisdropped)";
    const char *values[3] = {qtable, c->column, c->id_column};
    PGresult *res = PQexecParams(conn, sql, 3, NULL, values, NULL, NULL, 0);
    int rc = HL_OK;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        log_pg("checking the sealed column registry", res, conn);
        rc = HL_EDB;
        goto out;
    }
    *ok = !PQgetisnull(res, 0, 0) && strcmp(PQgetvalue(res, 0, 0), "bytea") == 0 &&
          strcmp(PQgetvalue(res, 0, 1), "1") == 0;
    if (!*ok)
        hl_log(HL_LOG_INFO, "%s.%s: no such bytea column (id column %s) yet; skipped", c->table, c->column,
               c->id_column);
out:
    PQclear(res);
    return rc;
}

static int count_old(PGconn *conn, const char *sql, const uint8_t cur[4], uint64_t *n)
{
    const char *values[1] = {(const char *)cur};
    const int lengths[1] = {4}, formats[1] = {1};
    const Oid types[1] = {OID_BYTEA};
    PGresult *res = PQexecParams(conn, sql, 1, types, values, lengths, formats, 0);
    int rc = HL_OK;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        log_pg("counting fields under old keys", res, conn);
        rc = HL_EDB;
    } else {
        *n = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    }
    PQclear(res);
    return rc;
}

static void current_id_bytes(const hl_crypto_keyring_t *kr, uint8_t cur[4])
{
    uint32_t id = hl_crypto_keyring_current(kr);

    for (int i = 0; i < 4; i++)
        cur[i] = (uint8_t)(id >> (8 * i));
}

/* Opens one field (row ID, record id ADID in its AD) and writes it back sealed under the current id.
 * HL_ECRYPTO: did not open. */
static int reseal_one(PGconn *conn, hl_crypto_keyring_t *kr, const hl_sealed_column_t *c,
                      const char *update_sql, const char *id, const char *adid, const uint8_t *ct,
                      size_t ctlen)
{
    const hl_crypto_ad_t ad = {c->table, c->column, adid};
    char *pt = NULL;
    uint8_t *sealed = NULL;
    size_t ptlen = 0, sealed_len = 0;
    PGresult *res = NULL;
    int rc;

    rc = hl_crypto_open_alloc(kr, &ad, ct, ctlen, &pt, &ptlen);
    if (rc != HL_OK)
        goto out;
    sealed = malloc(HL_CRYPTO_SEALED_LEN(ptlen));
    if (sealed == NULL) {
        rc = HL_ENOMEM;
        goto out;
    }
    rc =
        hl_crypto_seal(kr, &ad, (const uint8_t *)pt, ptlen, sealed, HL_CRYPTO_SEALED_LEN(ptlen), &sealed_len);
    if (rc != HL_OK)
        goto out;
    {
        const char *values[2] = {(const char *)sealed, id};
        const int lengths[2] = {(int)sealed_len, 0}, formats[2] = {1, 0};
        const Oid types[2] = {OID_BYTEA, 0};
        res = PQexecParams(conn, update_sql, 2, types, values, lengths, formats, 0);
    }
    if (PQresultStatus(res) != PGRES_COMMAND_OK || strcmp(PQcmdTuples(res), "1") != 0) {
        log_pg("re-sealing a field", res, conn);
        rc = HL_EDB;
        goto out;
    }
    rc = HL_OK;
out:
    PQclear(res);
    free(sealed);
    hl_crypto_wipe_free(pt, ptlen);
    return rc;
}

static int reencrypt_column(PGconn *conn, hl_crypto_keyring_t *kr, const hl_sealed_column_t *c,
                            const colsql_t *q, size_t batch, hl_keys_progress_fn progress, void *arg,
                            hl_keys_stats_t *st, bool *stopped)
{
    hl_keys_progress_t p = {c->table, c->column, 0, 0, 0};
    uint8_t cur[4];
    char limit[24];
    char *last = NULL;
    PGresult *res = NULL;
    uint64_t initial = 0;
    int rc;

    current_id_bytes(kr, cur);
    snprintf(limit, sizeof(limit), "%zu", batch);
    rc = count_old(conn, q->count, cur, &initial);
    if (rc != HL_OK)
        goto out;
    p.remaining = initial;
    while (initial > 0) {
        const char *values[3] = {(const char *)cur, limit, last};
        const int lengths[3] = {4, 0, 0}, formats[3] = {1, 0, 0};
        const Oid types[3] = {OID_BYTEA, 0, 0};
        int n;

        rc = exec_simple(conn, "BEGIN");
        if (rc != HL_OK)
            goto out;
        res = PQexecParams(conn, last != NULL ? q->next : q->first, last != NULL ? 3 : 2, types, values,
                           lengths, formats, 1);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            log_pg("selecting fields under old keys", res, conn);
            rc = HL_EDB;
            goto fail;
        }
        n = PQntuples(res);
        for (int i = 0; i < n; i++) {
            const char *id = PQgetvalue(res, i, 0);
            rc = reseal_one(conn, kr, c, q->update, id, PQgetvalue(res, i, 2),
                            (const uint8_t *)PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1));
            if (rc == HL_ECRYPTO) {
                hl_log(HL_LOG_WARN, "%s.%s of %s %s does not open; left unchanged", c->table, c->column,
                       c->id_column, id);
                p.failed++;
                st->failed++;
            } else if (rc != HL_OK) {
                goto fail;
            } else {
                p.done++;
                st->resealed++;
            }
        }
        if (n > 0) {
            free(last);
            last = strdup(PQgetvalue(res, n - 1, 0));
            if (last == NULL) {
                rc = HL_ENOMEM;
                goto fail;
            }
        }
        PQclear(res);
        res = NULL;
        rc = exec_simple(conn, "COMMIT");
        if (rc != HL_OK)
            goto out;
        p.remaining = initial > p.done + p.failed ? initial - p.done - p.failed : 0;
        if (n == 0)
            break;
        if (progress != NULL && !progress(&p, arg)) {
            *stopped = true;
            break;
        }
        /* A short batch does not mean the end: FOR UPDATE drops rows that a writer re-sealed
         * while we waited for them. Only an empty batch does (ids only grow). */
    }
    rc = HL_OK;
    goto out;
fail:
    rollback(conn);
out:
    PQclear(res);
    free(last);
    return rc;
}

int hl_keys_reencrypt(PGconn *conn, hl_crypto_keyring_t *kr, const hl_sealed_column_t *cols, size_t ncols,
                      size_t batch, hl_keys_progress_fn progress, void *arg, hl_keys_stats_t *stats)
{
    hl_keys_stats_t st = {0, 0, 0, 0};
    colsql_t q = {NULL, NULL, NULL, NULL};
    char *qtable = NULL;
    bool stopped = false;
    uint8_t cur[4];
    int rc = HL_OK;

    if (conn == NULL || kr == NULL || (cols == NULL && ncols > 0) || batch == 0 || batch > 1000000) {
        rc = HL_EINVAL;
        goto out;
    }
    current_id_bytes(kr, cur);
    /* Keys stay readable for the whole run rather than one mprotect pair per field. */
    hl_crypto_keyring_pin(kr);
    for (size_t i = 0; i < ncols && !stopped; i++) {
        bool exists = false;
        uint64_t left = 0;

        rc = colsql_build(conn, &cols[i], &q, &qtable);
        if (rc != HL_OK)
            break;
        rc = column_exists(conn, qtable, &cols[i], &exists);
        if (rc == HL_OK && !exists)
            st.skipped++;
        if (rc == HL_OK && exists)
            rc = reencrypt_column(conn, kr, &cols[i], &q, batch, progress, arg, &st, &stopped);
        if (rc == HL_OK && exists)
            rc = count_old(conn, q.count, cur, &left);
        st.remaining += left;
        colsql_free(&q);
        free(qtable);
        qtable = NULL;
        if (rc != HL_OK)
            break;
    }
    hl_crypto_keyring_unpin(kr);
    if (rc == HL_OK && stopped) {
        /* Columns not reached yet count as remaining too. */
        rc = hl_keys_count_old(conn, kr, cols, ncols, &st.remaining);
        if (rc == HL_OK)
            rc = HL_ECONFLICT;
    } else if (rc == HL_OK && st.failed > 0) {
        rc = HL_ECRYPTO;
    }
out:
    if (stats != NULL)
        *stats = st;
    return rc;
}

int hl_keys_count_old(PGconn *conn, hl_crypto_keyring_t *kr, const hl_sealed_column_t *cols, size_t ncols,
                      uint64_t *count)
{
    colsql_t q = {NULL, NULL, NULL, NULL};
    char *qtable = NULL;
    uint64_t total = 0;
    uint8_t cur[4];
    int rc = HL_OK;

    if (conn == NULL || kr == NULL || count == NULL || (cols == NULL && ncols > 0))
        return HL_EINVAL;
    current_id_bytes(kr, cur);
    for (size_t i = 0; i < ncols && rc == HL_OK; i++) {
        bool exists = false;
        uint64_t n = 0;

        rc = colsql_build(conn, &cols[i], &q, &qtable);
        if (rc != HL_OK)
            break;
        rc = column_exists(conn, qtable, &cols[i], &exists);
        if (rc == HL_OK && exists)
            rc = count_old(conn, q.count, cur, &n);
        total += n;
        colsql_free(&q);
        free(qtable);
        qtable = NULL;
    }
    if (rc == HL_OK)
        *count = total;
    return rc;
}
