#include "access/sessions.h"

#include <pthread.h>
#include <sodium/utils.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/audit.h"
#include "db/db.h"
#include "log.h"

#define OID_TEXT          25
#define OID_BYTEA         17
#define OID_INT8          20
#define HELPLINES_CACHE_S 30

struct hl_sessions {
    hl_crypto_keyring_t *kr;
    hl_dbpool_t *pool;
    unsigned idle, max;
    pthread_mutex_t lock; /* the helplines cache */
    int64_t helplines_at; /* monotonic µs of the last count; 0: never */
    int helplines;
    char first_code[33];
};

int hl_sessions_new(hl_crypto_keyring_t *kr, hl_dbpool_t *pool, const hl_sessions_opts_t *opts,
                    hl_sessions_t **out)
{
    hl_sessions_t *s;

    if (kr == NULL || pool == NULL || opts == NULL || out == NULL || opts->idle_seconds == 0 ||
        opts->max_seconds < opts->idle_seconds)
        return HL_EINVAL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return HL_ENOMEM;
    s->kr = kr;
    s->pool = pool;
    s->idle = opts->idle_seconds;
    s->max = opts->max_seconds;
    pthread_mutex_init(&s->lock, NULL);
    *out = s;
    return HL_OK;
}

void hl_sessions_free(hl_sessions_t *s)
{
    if (s == NULL)
        return;
    pthread_mutex_destroy(&s->lock);
    free(s);
}

unsigned hl_sessions_max_seconds(const hl_sessions_t *s)
{
    return s->max;
}

bool hl_sessions_expired(int64_t age, int64_t idle, unsigned idle_max, unsigned max)
{
    /* A negative age or idle time (the database's clock stepped back) counts as none. */
    return age >= (int64_t)max || idle >= (int64_t)idle_max;
}

/* PostgreSQL's primary message only: DETAIL lines quote row values. Never parameters. */
static void log_pg(const char *what, const PGresult *res)
{
    const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    hl_log(HL_LOG_ERROR, "sessions: %s: PostgreSQL: %.200s", what, msg != NULL ? msg : "no reply");
}

/* Column COL of row 0 (binary results: text columns arrive as their bytes) into DST. */
static void copy_field(char *dst, size_t cap, const PGresult *res, int col)
{
    size_t n = (size_t)PQgetlength(res, 0, col);

    if (n >= cap)
        n = cap - 1;
    memcpy(dst, PQgetvalue(res, 0, col), n);
    dst[n] = '\0';
}

static int64_t field_int(const PGresult *res, int col)
{
    char buf[24];

    copy_field(buf, sizeof(buf), res, col);
    return strtoll(buf, NULL, 10);
}

/* The principal of a row whose columns FIRST.. are user id, name, role, helpline id, code, network. */
static bool principal_from_row(const PGresult *res, int first, hl_principal_t *out)
{
    char role[16];

    memset(out, 0, sizeof(*out));
    copy_field(role, sizeof(role), res, first + 2);
    if (!hl_role_parse(role, &out->role))
        return false;
    out->user_id = field_int(res, first);
    copy_field(out->name, sizeof(out->name), res, first + 1);
    out->helpline_id = field_int(res, first + 3);
    copy_field(out->helpline_code, sizeof(out->helpline_code), res, first + 4);
    copy_field(out->network, sizeof(out->network), res, first + 5);
    return true;
}

static int exec_id(PGconn *conn, const char *what, const char *sql, int64_t id)
{
    char text[24];
    const char *values[1] = {text};
    const Oid types[1] = {OID_INT8};
    PGresult *res;
    int rc = HL_OK;

    snprintf(text, sizeof(text), "%lld", (long long)id);
    res = PQexecParams(conn, sql, 1, types, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        log_pg(what, res);
        rc = HL_EDB;
    }
    PQclear(res);
    return rc;
}

/* ---- a request's session -------------------------------------------------------------------- */

int hl_sessions_check(hl_sessions_t *s, const char *cookie, const char *csrf, bool need_csrf,
                      hl_principal_t *out)
{
    static const char sql[] =
        "SELECT s.id::text, s.token_hash, u.id::text, u.name, u.role, u.helpline_id::text, h.code,"
        "       coalesce(h.network, ''), floor(extract(epoch FROM now() - s.created_at))::int8::text,"
        "       floor(extract(epoch FROM now() - s.last_used_at))::int8::text"
        "  FROM sessions s JOIN users u ON u.id = s.user_id JOIN helplines h ON h.id = u.helpline_id"
        " WHERE s.token_selector = $1 AND u.revoked_at IS NULL";
    uint8_t sel[HL_CRYPTO_TOKEN_SELECTOR_BYTES], ver[HL_CRYPTO_TOKEN_VERIFIER_BYTES];
    const uint8_t *stored = NULL;
    size_t stored_len = 0;
    PGconn *conn = NULL;
    PGresult *res = NULL;
    hl_principal_t p;
    int64_t id, age, idle;
    int rc;

    if (s == NULL || out == NULL)
        return HL_EINVAL;
    if (cookie == NULL || hl_crypto_token_parse(cookie, sel, ver) != HL_OK)
        return HL_ENOTFOUND;
    conn = hl_dbpool_acquire(s->pool, 2000);
    if (conn == NULL) {
        rc = HL_EDB;
        goto out;
    }
    {
        const char *values[1] = {(const char *)sel};
        const int lengths[1] = {sizeof(sel)}, formats[1] = {1};
        const Oid types[1] = {OID_BYTEA};
        res = PQexecParams(conn, sql, 1, types, values, lengths, formats, 1);
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_pg("looking a session up", res);
        rc = HL_EDB;
        goto out;
    }
    if (PQntuples(res) == 1) {
        stored = (const uint8_t *)PQgetvalue(res, 0, 1);
        stored_len = (size_t)PQgetlength(res, 0, 1);
    }
    /* An unknown selector compares against nothing, in the same time. */
    if (hl_crypto_session_verify(s->kr, ver, stored, stored_len) != HL_OK || stored == NULL ||
        !principal_from_row(res, 2, &p)) {
        rc = HL_ENOTFOUND;
        goto out;
    }
    id = field_int(res, 0);
    age = field_int(res, 8);
    idle = field_int(res, 9);
    if (hl_sessions_expired(age, idle, s->idle, s->max)) {
        /* Over whether or not the row goes now (a login sweeps what is left). */
        if (exec_id(conn, "ending an expired session", "DELETE FROM sessions WHERE id = $1", id) == HL_OK)
            hl_log(HL_LOG_DEBUG, "sessions: session %lld of user %lld ended (%s)", (long long)id,
                   (long long)p.user_id, age >= (int64_t)s->max ? "session_max" : "session_idle");
        rc = HL_ENOTFOUND;
        goto out;
    }
    /* Best effort: a database that refuses writes (read-only) still serves the reads. */
    if (idle >= HL_SESSIONS_TOUCH_SECONDS)
        (void)exec_id(conn, "touching a session", "UPDATE sessions SET last_used_at = now() WHERE id = $1",
                      id);
    if (need_csrf && hl_crypto_session_csrf_check(s->kr, sel, csrf) != HL_OK) {
        rc = HL_EPERM;
        goto out;
    }
    p.session_id = id;
    *out = p;
    rc = HL_OK;
out:
    PQclear(res);
    hl_dbpool_release(s->pool, conn);
    sodium_memzero(ver, sizeof(ver));
    return rc;
}

int hl_sessions_csrf(hl_sessions_t *s, const char *cookie, char out[HL_CRYPTO_CSRF_LEN + 1])
{
    uint8_t sel[HL_CRYPTO_TOKEN_SELECTOR_BYTES], ver[HL_CRYPTO_TOKEN_VERIFIER_BYTES];
    int rc;

    if (s == NULL || cookie == NULL || out == NULL || hl_crypto_token_parse(cookie, sel, ver) != HL_OK)
        return HL_EINVAL;
    sodium_memzero(ver, sizeof(ver));
    rc = hl_crypto_session_csrf(s->kr, sel, out);
    return rc;
}

int hl_sessions_helplines(hl_sessions_t *s, int *n, char code[33])
{
    int64_t now = hl_monotonic_us();
    PGconn *conn;
    PGresult *res;
    int rc = HL_OK;

    pthread_mutex_lock(&s->lock);
    if (s->helplines_at != 0 && now - s->helplines_at < (int64_t)HELPLINES_CACHE_S * 1000000) {
        *n = s->helplines;
        memcpy(code, s->first_code, sizeof(s->first_code));
        pthread_mutex_unlock(&s->lock);
        return HL_OK;
    }
    pthread_mutex_unlock(&s->lock);
    conn = hl_dbpool_acquire(s->pool, 2000);
    if (conn == NULL)
        return HL_EDB;
    res = PQexec(conn, "SELECT count(*) OVER (), code FROM helplines ORDER BY code LIMIT 1");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_pg("counting helplines", res);
        rc = HL_EDB;
    } else {
        pthread_mutex_lock(&s->lock);
        s->helplines = PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : 0;
        snprintf(s->first_code, sizeof(s->first_code), "%s",
                 PQntuples(res) == 1 ? PQgetvalue(res, 0, 1) : "");
        s->helplines_at = now;
        *n = s->helplines;
        memcpy(code, s->first_code, sizeof(s->first_code));
        pthread_mutex_unlock(&s->lock);
    }
    PQclear(res);
    hl_dbpool_release(s->pool, conn);
    return rc;
}

/* ---- login and logout ---------------------------------------------------------------------- */

typedef struct {
    hl_principal_t who;
    char hash[HL_CRYPTO_PASSWORD_HASH_MAX]; /* "" when none */
    bool found;
} login_user_t;

/* The user a login names (not revoked, not a machine), with its password hash. */
static int find_login_user(hl_sessions_t *s, const char *user, const char *code, login_user_t *out)
{
    static const char sql[] = "SELECT u.id::text, u.name, u.role, u.helpline_id::text, h.code,"
                              "       coalesce(h.network, ''), coalesce(u.password_hash, '')"
                              "  FROM users u JOIN helplines h ON h.id = u.helpline_id"
                              " WHERE u.name = $1 AND h.code = $2 AND u.revoked_at IS NULL"
                              "   AND u.role <> 'frontend'";
    const char *values[2] = {user, code};
    const Oid types[2] = {OID_TEXT, OID_TEXT};
    PGconn *conn = hl_dbpool_acquire(s->pool, 2000);
    PGresult *res;
    int rc = HL_OK;

    memset(out, 0, sizeof(*out));
    if (conn == NULL)
        return HL_EDB;
    res = PQexecParams(conn, sql, 2, types, values, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_pg("looking a login up", res);
        rc = HL_EDB;
    } else if (PQntuples(res) == 1 && principal_from_row(res, 0, &out->who)) {
        copy_field(out->hash, sizeof(out->hash), res, 6);
        out->found = true;
    }
    PQclear(res);
    hl_dbpool_release(s->pool, conn);
    return rc;
}

/* Stores a new hash of PW for USER_ID when its OLD one was made with an older cost. Best effort. */
static void rehash(PGconn *conn, int64_t user_id, const char *old, const char *pw, size_t len)
{
    char hash[HL_CRYPTO_PASSWORD_HASH_MAX], id[24];
    const char *values[3] = {id, hash, old};
    PGresult *res;

    if (hl_crypto_password_hash(pw, len, hash) != HL_OK)
        return;
    snprintf(id, sizeof(id), "%lld", (long long)user_id);
    /* Only over the hash that was checked: a password set meanwhile stays. */
    res = PQexecParams(conn, "UPDATE users SET password_hash = $2 WHERE id = $1::int8 AND password_hash = $3",
                       3, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        log_pg("storing a password hash of today's cost", res);
    else
        hl_log(HL_LOG_INFO, "sessions: user %lld's password hash renewed with today's cost",
               (long long)user_id);
    PQclear(res);
    sodium_memzero(hash, sizeof(hash));
}

static int open_session(hl_sessions_t *s, PGconn *conn, const hl_principal_t *who, hl_sessions_login_t *out)
{
    static const char insert[] = "INSERT INTO sessions (token_selector, token_hash, user_id, helpline_id)"
                                 " VALUES ($1, $2, $3::int8, $4::int8) RETURNING id::text";
    uint8_t sel[HL_CRYPTO_TOKEN_SELECTOR_BYTES], hash[HL_CRYPTO_TOKEN_HASH_BYTES];
    char user_id[24], helpline_id[24], idle[16], max[16];
    PGresult *res = NULL;
    int rc;

    rc = hl_crypto_session_new(s->kr, out->token, sel, hash);
    if (rc == HL_OK)
        rc = hl_crypto_session_csrf(s->kr, sel, out->csrf);
    if (rc != HL_OK)
        goto out;
    snprintf(user_id, sizeof(user_id), "%lld", (long long)who->user_id);
    snprintf(helpline_id, sizeof(helpline_id), "%lld", (long long)who->helpline_id);
    /* No session without its audit row. */
    if ((rc = hl_db_exec(conn, "BEGIN")) != HL_OK)
        goto out;
    {
        const char *values[4] = {(const char *)sel, (const char *)hash, user_id, helpline_id};
        const int lengths[4] = {sizeof(sel), sizeof(hash), 0, 0}, formats[4] = {1, 1, 0, 0};
        const Oid types[4] = {OID_BYTEA, OID_BYTEA, OID_TEXT, OID_TEXT};
        res = PQexecParams(conn, insert, 4, types, values, lengths, formats, 0);
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        log_pg("opening a session", res);
        rc = HL_EDB;
        goto out;
    }
    out->who = *who;
    out->who.session_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    res = NULL;
    if ((rc = hl_audit_write(conn, who->helpline_id, who->user_id, HL_AUDIT_LOGIN, NULL, NULL)) != HL_OK ||
        (rc = hl_db_exec(conn, "COMMIT")) != HL_OK)
        goto out;
    /* Sessions that ended unseen (nobody came back with them) go now. */
    snprintf(idle, sizeof(idle), "%u", s->idle);
    snprintf(max, sizeof(max), "%u", s->max);
    {
        const char *values[2] = {idle, max};
        res = PQexecParams(conn,
                           "DELETE FROM sessions WHERE last_used_at < now() - make_interval(secs => $1::int)"
                           " OR created_at < now() - make_interval(secs => $2::int)",
                           2, NULL, values, NULL, NULL, 0);
    }
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        log_pg("sweeping ended sessions", res); /* the login stands */
    rc = HL_OK;
out:
    PQclear(res);
    sodium_memzero(hash, sizeof(hash));
    return rc; /* a transaction left open is rolled back by the pool */
}

int hl_sessions_login(hl_sessions_t *s, const char *user, const char *code, const char *pw, size_t len,
                      hl_sessions_login_t *out)
{
    login_user_t u;
    PGconn *conn = NULL;
    int rc;

    if (s == NULL || user == NULL || code == NULL || pw == NULL || out == NULL)
        return HL_EINVAL;
    memset(out, 0, sizeof(*out));
    rc = find_login_user(s, user, code, &u);
    if (rc != HL_OK)
        goto out;
    /* No user, no password: checked against the dummy string all the same. */
    if (hl_crypto_password_verify(u.found ? u.hash : NULL, pw, len) != HL_OK) {
        rc = HL_ECRYPTO;
        goto out;
    }
    conn = hl_dbpool_acquire(s->pool, 2000);
    if (conn == NULL) {
        rc = HL_EDB;
        goto out;
    }
    if (!hl_crypto_password_current(u.hash))
        rehash(conn, u.who.user_id, u.hash, pw, len);
    rc = open_session(s, conn, &u.who, out);
out:
    hl_dbpool_release(s->pool, conn);
    if (rc != HL_OK) {
        sodium_memzero(out, sizeof(*out));
        if (rc == HL_ECRYPTO && u.found) {
            out->who.user_id = u.who.user_id;
            out->who.helpline_id = u.who.helpline_id;
        }
    }
    sodium_memzero(&u, sizeof(u));
    return rc;
}

int hl_sessions_end(hl_sessions_t *s, const hl_principal_t *who)
{
    PGconn *conn = hl_dbpool_acquire(s->pool, 2000);
    int rc;

    if (conn == NULL)
        return HL_EDB;
    rc = exec_id(conn, "ending a session", "DELETE FROM sessions WHERE id = $1", who->session_id);
    if (rc == HL_OK &&
        hl_audit_write(conn, who->helpline_id, who->user_id, HL_AUDIT_LOGOUT, NULL, NULL) != HL_OK)
        hl_log(HL_LOG_ERROR, "sessions: logout of user %lld not audited", (long long)who->user_id);
    hl_dbpool_release(s->pool, conn);
    return rc;
}
