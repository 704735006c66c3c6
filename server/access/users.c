#include "access/users.h"

#include <sodium.h> /* sodium_memzero and sodium_memcmp only */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define OID_TEXT  25
#define OID_BYTEA 17

static const char *const roles[] = {"frontend", "counsellor", "supervisor", "network", "admin"};

bool hl_users_role_valid(const char *role)
{
    if (role == NULL)
        return false;
    for (size_t i = 0; i < HL_ARRAY_LEN(roles); i++)
        if (strcmp(role, roles[i]) == 0)
            return true;
    return false;
}

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool hl_users_name_valid(const char *name)
{
    size_t n;

    if (name == NULL)
        return false;
    n = strnlen(name, HL_USERS_NAME_MAX + 1);
    if (n < 1 || n > HL_USERS_NAME_MAX || !is_alnum(name[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(name[i]) && name[i] != '.' && name[i] != '_' && name[i] != '-')
            return false;
    return true;
}

/* PostgreSQL's primary message only: DETAIL lines quote row values. Never parameters. */
static void log_pg(const char *what, const PGresult *res, PGconn *conn)
{
    const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    if (msg == NULL)
        msg = PQerrorMessage(conn);
    hl_log(HL_LOG_ERROR, "%s: PostgreSQL: %.200s", what, msg);
}

static bool sqlstate_is(const PGresult *res, const char *state)
{
    const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    return s != NULL && strcmp(s, state) == 0;
}

int hl_users_add(PGconn *conn, hl_crypto_keyring_t *kr, const char *helpline_code, const char *name,
                 const char *role, char token[HL_CRYPTO_TOKEN_TEXT_LEN + 1], int64_t *user_id)
{
    static const char sql[] = "INSERT INTO users (helpline_id, name, role, token_selector, token_hash)"
                              " SELECT id, $2, $3, $4, $5 FROM helplines WHERE code = $1 RETURNING id";
    char text[HL_CRYPTO_TOKEN_TEXT_LEN + 1];
    uint8_t sel[HL_CRYPTO_TOKEN_SELECTOR_BYTES], hash[HL_CRYPTO_TOKEN_HASH_BYTES];
    PGresult *res = NULL;
    int rc;

    if (conn == NULL || kr == NULL || helpline_code == NULL || token == NULL || !hl_users_name_valid(name) ||
        !hl_users_role_valid(role))
        return HL_EINVAL;
    rc = hl_crypto_token_new(kr, text, sel, hash);
    if (rc != HL_OK)
        goto out;
    {
        const char *values[5] = {helpline_code, name, role, (const char *)sel, (const char *)hash};
        const int lengths[5] = {0, 0, 0, sizeof(sel), sizeof(hash)};
        const int formats[5] = {0, 0, 0, 1, 1};
        const Oid types[5] = {OID_TEXT, OID_TEXT, OID_TEXT, OID_BYTEA, OID_BYTEA};
        res = PQexecParams(conn, sql, 5, types, values, lengths, formats, 0);
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        if (sqlstate_is(res, "23505")) {
            rc = HL_EEXIST;
        } else {
            log_pg("adding a user", res, conn);
            rc = HL_EDB;
        }
        goto out;
    }
    if (PQntuples(res) != 1) {
        rc = HL_ENOTFOUND;
        goto out;
    }
    if (user_id != NULL)
        *user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    memcpy(token, text, sizeof(text));
    rc = HL_OK;
out:
    PQclear(res);
    sodium_memzero(text, sizeof(text));
    return rc;
}

/* The one user NAME (in HELPLINE_CODE, or the only helpline that has the name): *ROW gets its
 * columns id, helpline id, role. HL_ENOTFOUND, HL_ECONFLICT, HL_EDB. */
static int find_user(PGconn *conn, const char *name, const char *helpline_code, PGresult **row)
{
    static const char find[] = "SELECT u.id, u.helpline_id, u.role FROM users u"
                               " JOIN helplines h ON h.id = u.helpline_id"
                               " WHERE u.name = $1 AND ($2::text IS NULL OR h.code = $2)";
    const char *values[2] = {name, helpline_code};
    const Oid types[2] = {OID_TEXT, OID_TEXT};
    PGresult *res = PQexecParams(conn, find, 2, types, values, NULL, NULL, 0);
    int rc = HL_OK;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_pg("finding a user", res, conn);
        rc = HL_EDB;
    } else if (PQntuples(res) == 0) {
        rc = HL_ENOTFOUND;
    } else if (PQntuples(res) > 1) {
        rc = HL_ECONFLICT;
    }
    if (rc != HL_OK) {
        PQclear(res);
        return rc;
    }
    *row = res;
    return HL_OK;
}

int hl_users_revoke(PGconn *conn, const char *name, const char *helpline_code, bool *already,
                    int64_t *user_id)
{
    /* The token (revoked_at), the password and the sessions go together. */
    static const char revoke[] = "WITH r AS (UPDATE users SET revoked_at = now(), password_hash = NULL"
                                 "            WHERE id = $1 AND revoked_at IS NULL RETURNING id),"
                                 "     s AS (DELETE FROM sessions WHERE user_id = $1)"
                                 " SELECT count(*) FROM r";
    PGresult *res = NULL, *upd = NULL;
    bool was;
    int rc;

    if (conn == NULL || name == NULL)
        return HL_EINVAL;
    rc = find_user(conn, name, helpline_code, &res);
    if (rc != HL_OK)
        return rc;
    {
        const char *values[1] = {PQgetvalue(res, 0, 0)};
        upd = PQexecParams(conn, revoke, 1, NULL, values, NULL, NULL, 0);
    }
    if (PQresultStatus(upd) != PGRES_TUPLES_OK || PQntuples(upd) != 1) {
        log_pg("revoking a user", upd, conn);
        rc = HL_EDB;
        goto out;
    }
    was = strcmp(PQgetvalue(upd, 0, 0), "0") == 0; /* already, or revoked meanwhile by someone else */
    if (already != NULL)
        *already = was;
    if (user_id != NULL)
        *user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    rc = HL_OK;
out:
    PQclear(upd);
    PQclear(res);
    return rc;
}

int hl_users_set_password(PGconn *conn, const char *name, const char *helpline_code, const char *hash,
                          int64_t keep_session, int64_t *user_id, int64_t *helpline_id)
{
    static const char set[] =
        "WITH p AS (UPDATE users SET password_hash = $2, password_set_at = now()"
        "            WHERE id = $1 AND revoked_at IS NULL RETURNING id),"
        "     s AS (DELETE FROM sessions WHERE user_id IN (SELECT id FROM p) AND id <> $3)"
        " SELECT count(*) FROM p";
    char keep[24];
    PGresult *res = NULL, *upd = NULL;
    int rc;

    if (conn == NULL || name == NULL || hash == NULL)
        return HL_EINVAL;
    rc = find_user(conn, name, helpline_code, &res);
    if (rc != HL_OK)
        return rc;
    if (strcmp(PQgetvalue(res, 0, 2), "frontend") == 0) {
        rc = HL_EPERM;
        goto out;
    }
    snprintf(keep, sizeof(keep), "%lld", (long long)keep_session);
    {
        const char *values[3] = {PQgetvalue(res, 0, 0), hash, keep};
        upd = PQexecParams(conn, set, 3, NULL, values, NULL, NULL, 0);
    }
    if (PQresultStatus(upd) != PGRES_TUPLES_OK || PQntuples(upd) != 1) {
        log_pg("setting a password", upd, conn);
        rc = HL_EDB;
        goto out;
    }
    if (strcmp(PQgetvalue(upd, 0, 0), "1") != 0) {
        rc = HL_ENOTFOUND; /* revoked */
        goto out;
    }
    if (user_id != NULL)
        *user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    if (helpline_id != NULL)
        *helpline_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    rc = HL_OK;
out:
    PQclear(upd);
    PQclear(res);
    return rc;
}

int hl_users_list(PGconn *conn, int64_t helpline_id, hl_user_info_t **out, size_t *n)
{
    static const char sql[] =
        "SELECT name, role, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        "       revoked_at IS NOT NULL, password_hash IS NOT NULL"
        "  FROM users WHERE helpline_id = $1 ORDER BY name";
    char id[24];
    const char *values[1] = {id};
    hl_user_info_t *list = NULL;
    PGresult *res;
    int rows, rc = HL_OK;

    if (conn == NULL || out == NULL || n == NULL)
        return HL_EINVAL;
    snprintf(id, sizeof(id), "%lld", (long long)helpline_id);
    res = PQexecParams(conn, sql, 1, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_pg("listing users", res, conn);
        rc = HL_EDB;
        goto out;
    }
    rows = PQntuples(res);
    list = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*list));
    if (list == NULL) {
        rc = HL_ENOMEM;
        goto out;
    }
    for (int r = 0; r < rows; r++) {
        snprintf(list[r].name, sizeof(list[r].name), "%s", PQgetvalue(res, r, 0));
        snprintf(list[r].role, sizeof(list[r].role), "%s", PQgetvalue(res, r, 1));
        snprintf(list[r].created_at, sizeof(list[r].created_at), "%s", PQgetvalue(res, r, 2));
        list[r].revoked = strcmp(PQgetvalue(res, r, 3), "t") == 0;
        list[r].has_password = strcmp(PQgetvalue(res, r, 4), "t") == 0;
    }
    *out = list;
    *n = (size_t)rows;
out:
    PQclear(res);
    return rc;
}

static void copy_field(char *dst, size_t cap, const PGresult *res, int col)
{
    size_t n = (size_t)PQgetlength(res, 0, col);

    if (n >= cap)
        n = cap - 1;
    memcpy(dst, PQgetvalue(res, 0, col), n);
    dst[n] = '\0';
}

int hl_users_authenticate(PGconn *conn, hl_crypto_keyring_t *kr, const char *token, hl_user_t *out)
{
    /* Binary results: the text columns arrive as their bytes, the hash as raw bytea. */
    static const char sql[] = "SELECT u.id::text, u.helpline_id::text, h.code, u.name, u.role, u.token_hash,"
                              "       (u.revoked_at IS NOT NULL)::text"
                              "  FROM users u JOIN helplines h ON h.id = u.helpline_id"
                              " WHERE u.token_selector = $1";
    uint8_t sel[HL_CRYPTO_TOKEN_SELECTOR_BYTES], ver[HL_CRYPTO_TOKEN_VERIFIER_BYTES];
    const uint8_t *stored = NULL;
    size_t stored_len = 0;
    PGresult *res = NULL;
    hl_user_t u;
    int rc;

    if (conn == NULL || kr == NULL || out == NULL)
        return HL_EINVAL;
    memset(ver, 0, sizeof(ver));
    if (token == NULL || hl_crypto_token_parse(token, sel, ver) != HL_OK) {
        /* Same work and the same answer as for an unknown token. */
        rc = hl_crypto_token_verify(kr, ver, NULL, 0);
        rc = rc == HL_OK ? HL_ECRYPTO : rc;
        goto out;
    }
    {
        const char *values[1] = {(const char *)sel};
        const int lengths[1] = {sizeof(sel)}, formats[1] = {1};
        const Oid types[1] = {OID_BYTEA};
        res = PQexecParams(conn, sql, 1, types, values, lengths, formats, 1);
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_pg("authenticating a token", res, conn);
        rc = HL_EDB;
        goto out;
    }
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 5) && strcmp(PQgetvalue(res, 0, 6), "false") == 0) {
        stored = (const uint8_t *)PQgetvalue(res, 0, 5);
        stored_len = (size_t)PQgetlength(res, 0, 5);
    }
    /* Unknown selector and revoked user compare against nothing, in the same time. */
    rc = hl_crypto_token_verify(kr, ver, stored, stored_len);
    if (rc != HL_OK || stored == NULL) {
        rc = HL_ECRYPTO;
        goto out;
    }
    memset(&u, 0, sizeof(u));
    u.id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    u.helpline_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    copy_field(u.helpline_code, sizeof(u.helpline_code), res, 2);
    copy_field(u.name, sizeof(u.name), res, 3);
    copy_field(u.role, sizeof(u.role), res, 4);
    *out = u;
    rc = HL_OK;
out:
    sodium_memzero(ver, sizeof(ver));
    PQclear(res);
    return rc;
}

int hl_users_frontends_live(PGconn *conn, const uint8_t (*selectors)[HL_CRYPTO_TOKEN_SELECTOR_BYTES],
                            const uint8_t (*hashes)[HL_CRYPTO_TOKEN_HASH_BYTES], size_t n, bool *live)
{
    /* The selectors travel as one bytea of N * 16 bytes; binary results. */
    static const char sql[] = "SELECT token_selector, token_hash FROM users"
                              " WHERE token_selector IN (SELECT substring($1 FROM i * 16 + 1 FOR 16)"
                              "                            FROM generate_series(0, length($1) / 16 - 1) AS i)"
                              "   AND role = 'frontend' AND revoked_at IS NULL";
    uint8_t *all = NULL;
    PGresult *res = NULL;
    bool *found = NULL;
    int rc;

    if (conn == NULL || (n > 0 && (selectors == NULL || hashes == NULL || live == NULL)) ||
        n > HL_USERS_CONFIRM_MAX)
        return HL_EINVAL;
    if (n == 0)
        return HL_OK;
    all = malloc(n * HL_CRYPTO_TOKEN_SELECTOR_BYTES);
    found = calloc(n, sizeof(*found));
    if (all == NULL || found == NULL) {
        rc = HL_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        memcpy(all + i * HL_CRYPTO_TOKEN_SELECTOR_BYTES, selectors[i], HL_CRYPTO_TOKEN_SELECTOR_BYTES);
    {
        const char *values[1] = {(const char *)all};
        const int lengths[1] = {(int)(n * HL_CRYPTO_TOKEN_SELECTOR_BYTES)}, formats[1] = {1};
        const Oid types[1] = {OID_BYTEA};
        res = PQexecParams(conn, sql, 1, types, values, lengths, formats, 1);
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_pg("confirming frontend tokens", res, conn);
        rc = HL_EDB;
        goto out;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        const uint8_t *sel = (const uint8_t *)PQgetvalue(res, r, 0);
        const uint8_t *hash = (const uint8_t *)PQgetvalue(res, r, 1);

        if (PQgetlength(res, r, 0) != HL_CRYPTO_TOKEN_SELECTOR_BYTES ||
            PQgetlength(res, r, 1) != HL_CRYPTO_TOKEN_HASH_BYTES)
            continue;
        for (size_t i = 0; i < n; i++)
            if (memcmp(selectors[i], sel, HL_CRYPTO_TOKEN_SELECTOR_BYTES) == 0 &&
                sodium_memcmp(hashes[i], hash, HL_CRYPTO_TOKEN_HASH_BYTES) == 0)
                found[i] = true;
    }
    memcpy(live, found, n * sizeof(*found));
    rc = HL_OK;
out:
    PQclear(res);
    free(found);
    free(all);
    return rc;
}
