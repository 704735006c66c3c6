/*
 * server/auth against a real PostgreSQL that the test makes unreachable (ALLOW_CONNECTIONS
 * false and its sessions ended): past cache_seconds only frontend tokens work without the
 * database, also after a restart (the frontend-tokens file), and revoked ones stop.
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "access/auth.h"
#include "db/migrate.h"
#include "pgtest.h"
#include "contacts/tokenfile.h"
#include "access/users.h"

static hl_pgtest_t db;
static PGconn *conn;
static hl_crypto_keyring_t *kr;
static hl_dbpool_t *pool;
static hl_auth_t *auth;
static char dir[64];
static char frontend[HL_CRYPTO_TOKEN_TEXT_LEN + 1], frontend2[HL_CRYPTO_TOKEN_TEXT_LEN + 1];
static char counsellor[HL_CRYPTO_TOKEN_TEXT_LEN + 1];
static int64_t frontend_id;

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void exec_on(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);

    cr_assert(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s",
              sql, PQerrorMessage(c));
    PQclear(res);
}

static void setup(void)
{
    uint8_t master[HL_CRYPTO_KEY_BYTES];
    int applied = 0;

    cr_assert_eq(hl_crypto_init(), HL_OK);
    hl_pgtest_create(&db);
    conn = hl_pgtest_connect(&db);
    cr_assert_eq(hl_migrate_run(conn, HL_TEST_SRCDIR "/migrations", &applied), HL_OK);
    exec_on(conn, "INSERT INTO helplines (code, name, country, network) VALUES"
                  " ('ke-116', 'Childline Kenya', 'KE', 'east-africa')");
    randombytes_buf(master, sizeof(master));
    cr_assert_eq(hl_crypto_keyring_new(master, &kr), HL_OK);
    cr_assert_eq(hl_users_add(conn, kr, "ke-116", "gateway", "frontend", frontend, &frontend_id), HL_OK);
    cr_assert_eq(hl_users_add(conn, kr, "ke-116", "gateway2", "frontend", frontend2, NULL), HL_OK);
    cr_assert_eq(hl_users_add(conn, kr, "ke-116", "amina", "counsellor", counsellor, NULL), HL_OK);
    snprintf(dir, sizeof(dir), "/tmp/hl-auth-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(hl_dbpool_new(db.conninfo, 4, &pool), HL_OK);
}

static void teardown(void)
{
    hl_auth_free(auth);
    hl_dbpool_free(pool);
    hl_crypto_keyring_free(kr);
    PQfinish(conn);
    hl_pgtest_drop(&db);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(auth_cache, .init = setup, .fini = teardown, .timeout = 30);

static hl_auth_t *start(unsigned cache_seconds)
{
    hl_auth_opts_t opts = {.state_dir = dir, .cache_seconds = cache_seconds};
    hl_auth_t *a = NULL;

    cr_assert_eq(hl_auth_new(kr, pool, &opts, &a), HL_OK);
    return a;
}

static int check(hl_auth_t *a, const char *token, hl_principal_t *p)
{
    hl_principal_t ignored;

    return hl_auth_check(a, token, "127.0.0.1", p != NULL ? p : &ignored);
}

/* The database as a daemon sees it during an outage: no new session, the old ones ended. */
static void block_database(void)
{
    PGconn *admin = PQconnectdb(getenv("HL_TEST_PG_URL"));
    char sql[256];

    cr_assert_eq(PQstatus(admin), CONNECTION_OK);
    snprintf(sql, sizeof(sql), "ALTER DATABASE %s ALLOW_CONNECTIONS false", db.name);
    exec_on(admin, sql);
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'",
             db.name);
    exec_on(admin, sql);
    PQfinish(admin);
}

static void revoke_user(const char *name)
{
    cr_assert_eq(hl_users_revoke(conn, name, "ke-116", NULL, NULL), HL_OK);
}

static size_t file_entries(hl_tokenfile_entry_t *first)
{
    hl_tokenfile_entry_t *e = NULL;
    size_t n = 0;
    int rc = hl_tokenfile_load(dir, kr, time(NULL), &e, &n);

    if (rc == HL_ENOTFOUND)
        return 0;
    cr_assert_eq(rc, HL_OK);
    if (n > 0 && first != NULL)
        *first = e[0];
    free(e);
    return n;
}

/* The file is written by the request that changed the list, or by the re-check thread when that
 * one was writing at the time: wait for it. */
static void wait_file_entries(size_t want, hl_tokenfile_entry_t *first)
{
    double t0 = (double)hl_monotonic_us() / 1e6;
    size_t n;

    while ((n = file_entries(first)) != want) {
        cr_assert_lt((double)hl_monotonic_us() / 1e6 - t0, 5.0, "the file lists %zu tokens, not %zu", n,
                     want);
        usleep(20 * 1000);
    }
}

static void altered(const char *token, char out[HL_CRYPTO_TOKEN_TEXT_LEN + 1])
{
    memcpy(out, token, HL_CRYPTO_TOKEN_TEXT_LEN + 1);
    out[HL_CRYPTO_TOKEN_TEXT_LEN - 2] = out[HL_CRYPTO_TOKEN_TEXT_LEN - 2] == 'A' ? 'B' : 'A';
}

/* Issue 14: a daemon restarted during an outage accepts the frontend tokens it knew, and only those. */
Test(auth_cache, restart_during_outage_keeps_frontends_only)
{
    hl_principal_t p;
    char bad[HL_CRYPTO_TOKEN_TEXT_LEN + 1];

    auth = start(0);
    cr_assert_eq(check(auth, counsellor, NULL), HL_OK);
    cr_assert_eq(check(auth, frontend, &p), HL_OK);
    cr_expect_eq(p.role, HL_ROLE_FRONTEND);
    hl_auth_free(auth);

    block_database();
    auth = start(0); /* the restart */
    memset(&p, 0, sizeof(p));
    cr_expect_eq(check(auth, frontend, &p), HL_OK, "a known front end is refused after a restart");
    cr_expect_eq(p.user_id, frontend_id);
    cr_expect_eq(p.role, HL_ROLE_FRONTEND);
    cr_expect_str_eq(p.name, "gateway");
    cr_expect_str_eq(p.helpline_code, "ke-116");
    cr_expect_str_eq(p.network, "east-africa");
    cr_expect_eq(check(auth, counsellor, NULL), HL_EDB, "a counsellor needs the database");
    cr_expect_eq(check(auth, frontend2, NULL), HL_EDB, "a front end never seen needs the database");
    altered(frontend, bad);
    cr_expect_eq(check(auth, bad, NULL), HL_EDB, "a known selector with another verifier");
    cr_expect_eq(check(auth, frontend, NULL), HL_OK, "... leaves the genuine token working");
}

/* Issue 15 finding 7: past cache_seconds without the database, a revoked counsellor is refused. */
Test(auth_cache, stale_entries_refused_except_frontends)
{
    auth = start(1);
    cr_assert_eq(check(auth, counsellor, NULL), HL_OK);
    cr_assert_eq(check(auth, frontend, NULL), HL_OK);
    double checked = (double)hl_monotonic_us() / 1e6;
    revoke_user("amina"); /* the daemon does not see it: no request of that token reaches the database */
    block_database();
    /* cache_seconds is the bound being tested: wait it out */
    double left = checked + 1.05 - (double)hl_monotonic_us() / 1e6;
    if (left > 0)
        usleep((useconds_t)(left * 1e6));
    cr_expect_eq(check(auth, counsellor, NULL), HL_EDB, "a revoked counsellor's stale entry still works");
    cr_expect_eq(check(auth, frontend, NULL), HL_OK, "front ends go on posting into the spool");
}

/* The frontend list is re-checked every cache_seconds: a revoked front end leaves it (and the file). */
Test(auth_cache, sweep_drops_revoked_frontends)
{
    auth = start(1);
    cr_assert_eq(check(auth, frontend, NULL), HL_OK);
    cr_assert_eq(check(auth, frontend2, NULL), HL_OK);
    wait_file_entries(2, NULL);
    revoke_user("gateway");
    wait_file_entries(1, NULL); /* the re-check dropped the revoked front end */
    block_database();
    cr_expect_eq(check(auth, frontend, NULL), HL_EDB, "a revoked front end works during the outage");
    cr_expect_eq(check(auth, frontend2, NULL), HL_OK);
    hl_auth_free(auth);
    auth = start(1);
    cr_expect_eq(check(auth, frontend, NULL), HL_EDB, "a revoked front end works after a restart");
    cr_expect_eq(check(auth, frontend2, NULL), HL_OK);
}

/* Only frontend tokens are written down, with the users table's hash; a wrong verifier for a
 * known selector removes nothing, a refusal of the genuine token removes it. */
Test(auth_cache, file_holds_frontends_and_forgets_refused_tokens)
{
    hl_tokenfile_entry_t e;
    char bad[HL_CRYPTO_TOKEN_TEXT_LEN + 1];

    auth = start(1);
    cr_assert_eq(check(auth, counsellor, NULL), HL_OK);
    cr_expect_eq(file_entries(NULL), 0, "a counsellor's token was written down");
    cr_assert_eq(check(auth, frontend, NULL), HL_OK);
    wait_file_entries(1, &e);
    PGresult *res = PQexec(conn, "SELECT token_selector, token_hash FROM users WHERE name = 'gateway'");
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    size_t sl = 0, hl = 0;
    unsigned char *sel = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 0), &sl);
    unsigned char *hash = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 1), &hl);
    cr_assert(sl == sizeof(e.selector) && hl == sizeof(e.hash));
    cr_expect_eq(memcmp(e.selector, sel, sl), 0);
    cr_expect_eq(memcmp(e.hash, hash, hl), 0, "the hash is not the users table's");
    PQfreemem(sel);
    PQfreemem(hash);
    PQclear(res);

    altered(frontend, bad);
    cr_expect_eq(check(auth, bad, NULL), HL_ENOTFOUND);
    cr_expect_eq(file_entries(NULL), 1, "a guessed verifier removed the genuine token");
    cr_expect_eq(check(auth, frontend, NULL), HL_OK);

    revoke_user("gateway");
    double t0 = (double)hl_monotonic_us() / 1e6;
    int rc;
    while ((rc = check(auth, frontend, NULL)) == HL_OK) {
        cr_assert_lt((double)hl_monotonic_us() / 1e6 - t0, 5.0, "a revoked token still works");
        usleep(20 * 1000);
    }
    cr_expect_eq(rc, HL_ENOTFOUND);
    wait_file_entries(0, NULL);
}

/* A stale frontend token is accepted for every route a frontend may use, so those routes must work
 * without the database: posting contacts (spooled) and reading the taxonomy. */
Test(auth_cache, frontend_routes_need_no_database)
{
    for (size_t i = 0; i < hl_n_routes; i++) {
        if ((hl_routes[i].roles & HL_ROLE_FRONTEND) == 0)
            continue;
        cr_expect(strcmp(hl_routes[i].name, "contacts_create") == 0 ||
                      strcmp(hl_routes[i].name, "taxonomy") == 0,
                  "route %s is open to front ends: can it work from a token the database did not confirm "
                  "(server/access/auth.h)?",
                  hl_routes[i].name);
    }
}

Test(auth_cache, options_checked)
{
    hl_auth_opts_t opts = {.cache_seconds = HL_AUTH_CACHE_SECONDS + 1};
    hl_auth_t *a = NULL;

    cr_expect_eq(hl_auth_new(kr, pool, &opts, &a), HL_EINVAL);
    cr_expect_null(a);
    cr_expect_eq(hl_auth_new(NULL, pool, NULL, &a), HL_EINVAL);
    /* no state_dir: nothing written, front ends still served from memory */
    cr_assert_eq(hl_auth_new(kr, pool, NULL, &auth), HL_OK);
    cr_expect_eq(check(auth, frontend, NULL), HL_OK);
    cr_expect_eq(file_entries(NULL), 0);
}
