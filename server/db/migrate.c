#include "db/migrate.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "log.h"

/* Any number will do, as long as only the migration runner takes it (as a transaction lock). */
#define MIGRATE_LOCK_KEY "7212024"
#define MAX_MIGRATIONS   1000

typedef struct {
    int version;
    char *name; /* "0001_helplines_users.sql" */
    char *sql;  /* file contents */
    size_t sql_len;
    char checksum[65]; /* sha256, hex */
} migration_t;

static void migrations_free(migration_t *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].name);
        free(m[i].sql);
    }
    free(m);
}

static int by_version(const void *a, const void *b)
{
    return ((const migration_t *)a)->version - ((const migration_t *)b)->version;
}

/* NNNN_name.sql with name of [a-z0-9_]; returns the version or -1. */
static int parse_name(const char *name)
{
    size_t len = strlen(name);
    int version = 0;

    if (len < 10 || strcmp(name + len - 4, ".sql") != 0 || name[4] != '_')
        return -1;
    for (int i = 0; i < 4; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        version = version * 10 + (name[i] - '0');
    }
    for (size_t i = 5; i < len - 4; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return -1;
    }
    return version > 0 ? version : -1;
}

static int read_file(const char *dir, const char *name, char **out, size_t *out_len)
{
    char path[4096];
    FILE *f;
    char *buf = NULL;
    long size;
    int rc = HL_EIO;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL) {
        hl_log(HL_LOG_ERROR, "migration %s: cannot open: %s", path, strerror(errno));
        return HL_EIO;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    buf = malloc((size_t)size + 1);
    if (buf == NULL) {
        rc = HL_ENOMEM;
        goto out;
    }
    if (fread(buf, 1, (size_t)size, f) != (size_t)size)
        goto out;
    buf[size] = '\0';
    *out = buf;
    *out_len = (size_t)size;
    buf = NULL;
    rc = HL_OK;
out:
    if (rc == HL_EIO)
        hl_log(HL_LOG_ERROR, "migration %s: read error", path);
    free(buf);
    fclose(f);
    return rc;
}

static int scan_dir(const char *dir, migration_t **out, size_t *count)
{
    DIR *d = opendir(dir);
    migration_t *m = NULL;
    size_t n = 0;
    struct dirent *e;
    int rc = HL_OK;

    if (d == NULL) {
        hl_log(HL_LOG_ERROR, "migrations directory %s: %s", dir, strerror(errno));
        return HL_EIO;
    }
    m = calloc(MAX_MIGRATIONS, sizeof(*m));
    if (m == NULL) {
        rc = HL_ENOMEM;
        goto out;
    }
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        int version;

        if (len < 4 || strcmp(e->d_name + len - 4, ".sql") != 0)
            continue;
        version = parse_name(e->d_name);
        if (version < 0) {
            hl_log(HL_LOG_ERROR, "migration %s/%s: name must be NNNN_name.sql (lower case, digits, _)", dir,
                   e->d_name);
            rc = HL_EINVAL;
            goto out;
        }
        if (n == MAX_MIGRATIONS) {
            hl_log(HL_LOG_ERROR, "migrations directory %s: more than %d migrations", dir, MAX_MIGRATIONS);
            rc = HL_EINVAL;
            goto out;
        }
        m[n].version = version;
        m[n].name = strdup(e->d_name);
        if (m[n].name == NULL) {
            rc = HL_ENOMEM;
            goto out;
        }
        n++;
        rc = read_file(dir, e->d_name, &m[n - 1].sql, &m[n - 1].sql_len);
        if (rc != HL_OK)
            goto out;
    }
    qsort(m, n, sizeof(*m), by_version);
    for (size_t i = 1; i < n; i++) {
        if (m[i].version == m[i - 1].version) {
            hl_log(HL_LOG_ERROR, "migrations %s and %s have the same number", m[i - 1].name, m[i].name);
            rc = HL_EINVAL;
            goto out;
        }
    }
    *out = m;
    *count = n;
    m = NULL;
out:
    if (m != NULL)
        migrations_free(m, n);
    closedir(d);
    return rc;
}

/* The checksum is PostgreSQL's sha256 of the file's bytes, so no other hash code is needed. */
static int checksum(PGconn *conn, migration_t *m)
{
    const char *values[1] = {m->sql};
    int lengths[1] = {(int)m->sql_len};
    int formats[1] = {1};
    PGresult *res =
        PQexecParams(conn, "SELECT encode(sha256($1::bytea), 'hex')", 1, NULL, values, lengths, formats, 0);
    int rc = HL_EDB;

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && PQgetlength(res, 0, 0) == 64) {
        memcpy(m->checksum, PQgetvalue(res, 0, 0), 65);
        rc = HL_OK;
    } else {
        hl_log(HL_LOG_ERROR, "migration %s: cannot compute its checksum", m->name);
    }
    PQclear(res);
    return rc;
}

static const migration_t *find(const migration_t *m, size_t n, int version)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].version == version)
            return &m[i];
    return NULL;
}

/* Every applied migration must still exist, unchanged; returns the highest applied version. */
static int check_applied(PGconn *conn, const migration_t *m, size_t n, bool *applied, int *max_applied)
{
    PGresult *res = PQexec(conn, "SELECT version, name, checksum FROM schema_migrations ORDER BY version");
    int rc = HL_OK;

    *max_applied = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        hl_log(HL_LOG_ERROR, "cannot read schema_migrations: %s", PQresultErrorMessage(res));
        rc = HL_EDB;
        goto out;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        int version = atoi(PQgetvalue(res, r, 0));
        const migration_t *f = find(m, n, version);

        if (f == NULL) {
            hl_log(HL_LOG_ERROR,
                   "migration %04d (%s) is applied in the database but its file is missing: "
                   "is this an older helplined?",
                   version, PQgetvalue(res, r, 1));
            rc = HL_ECONFLICT;
            goto out;
        }
        if (strcmp(f->checksum, PQgetvalue(res, r, 2)) != 0) {
            hl_log(HL_LOG_ERROR,
                   "migration %s changed after it was applied (checksum differs); "
                   "write a new migration instead of editing an applied one",
                   f->name);
            rc = HL_ECONFLICT;
            goto out;
        }
        applied[f - m] = true;
        if (version > *max_applied)
            *max_applied = version;
    }
out:
    PQclear(res);
    return rc;
}

/* Runs M's SQL and records it, in the transaction step() opened, and commits. */
static int apply_one(PGconn *conn, const migration_t *m)
{
    char version[16];
    const char *values[3] = {version, m->name, m->checksum};
    PGresult *res = NULL;
    int rc = HL_EDB;

    snprintf(version, sizeof(version), "%d", m->version);
    res = PQexec(conn, m->sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        hl_log(HL_LOG_ERROR, "migration %s failed: %s", m->name, PQresultErrorMessage(res));
        goto out;
    }
    PQclear(res);
    res = PQexecParams(conn, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", 3,
                       NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        hl_log(HL_LOG_ERROR, "migration %s: cannot record it: %s", m->name, PQresultErrorMessage(res));
        goto out;
    }
    if (hl_db_exec(conn, "COMMIT") != HL_OK)
        goto out;
    hl_log(HL_LOG_INFO, "migration %s applied", m->name);
    rc = HL_OK;
out:
    PQclear(res);
    return rc;
}

/*
 * One transaction: takes the runners' lock, creates schema_migrations when missing, checks
 * the applied history against the files and applies the first pending migration. *DONE: none
 * was pending.
 *
 * Everything a runner relies on lives inside this transaction, so it holds behind a pooler
 * that hands each transaction its own server connection (PgBouncer's transaction mode): the
 * lock is a transaction lock, released by COMMIT or ROLLBACK on the connection that took it
 * (a session lock's unlock could land on another connection and leave the lock held), and the
 * setting is SET LOCAL (a session SET would stay on the server connection for other clients).
 * Runners started at once queue on the lock; each one re-reads the history after it, so a
 * migration another runner applied meanwhile is not applied again.
 */
static int step(PGconn *conn, const migration_t *m, size_t n, bool *applied, bool *done)
{
    int max_applied = 0;
    int rc;

    memset(applied, 0, n * sizeof(*applied));
    rc = hl_db_exec(conn, "BEGIN");
    if (rc != HL_OK) {
        /* PgBouncer's own words, with no SQLSTATE of its own (08P01): say what to change. */
        if (strstr(PQerrorMessage(conn), "statement pooling") != NULL)
            hl_log(HL_LOG_ERROR,
                   "database_url goes through PgBouncer in statement pooling mode, which allows "
                   "no transaction of several statements: helplined needs pool_mode = "
                   "transaction or session (deploy/README.md)");
        return rc;
    }
    rc = hl_db_exec(conn, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")");
    if (rc == HL_OK)
        rc = hl_db_exec(conn, "SET LOCAL client_min_messages = warning");
    if (rc == HL_OK)
        rc = hl_db_exec(conn, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                              " version integer PRIMARY KEY,"
                              " name text NOT NULL,"
                              " checksum text NOT NULL,"
                              " applied_at timestamptz NOT NULL DEFAULT now())");
    if (rc == HL_OK)
        rc = check_applied(conn, m, n, applied, &max_applied);
    if (rc != HL_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (!applied[i] && m[i].version < max_applied) {
            hl_log(HL_LOG_ERROR,
                   "migration %s is older than the newest applied one (%04d) but was never applied",
                   m[i].name, max_applied);
            rc = HL_ECONFLICT;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!applied[i]) {
            *done = false;
            rc = apply_one(conn, &m[i]);
            goto out;
        }
    }
    *done = true;
    rc = hl_db_exec(conn, "COMMIT");
out:
    if (PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
    return rc;
}

int hl_migrate_run(PGconn *conn, const char *dir, int *applied_out)
{
    migration_t *m = NULL;
    size_t n = 0;
    bool *applied = NULL;
    bool done = false;
    int count = 0;
    int rc;

    rc = scan_dir(dir, &m, &n);
    if (rc != HL_OK)
        goto out;
    applied = calloc(n + 1, sizeof(*applied));
    if (applied == NULL) {
        rc = HL_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        rc = checksum(conn, &m[i]);
        if (rc != HL_OK)
            goto out;
    }
    while (!done) {
        rc = step(conn, m, n, applied, &done);
        if (rc != HL_OK)
            goto out;
        if (!done)
            count++;
    }
    *applied_out = count;
out:
    free(applied);
    if (m != NULL)
        migrations_free(m, n);
    return rc;
}
