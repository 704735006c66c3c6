/*
 * design.md invariants 2 and 3 under failure: contacts acknowledged while PostgreSQL is down
 * (202, spooled) survive a SIGKILL of the daemon and are stored exactly once when both are
 * back; every contact acknowledged during a load survives a SIGKILL in the middle of it.
 * The spool holds no plaintext (invariant 1).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "itest.h"

static hl_testd_t d;
static hl_testpg_t pg;

static void teardown(void)
{
    hl_testd_stop(&d);
    hl_testpg_destroy(&pg); /* whatever happened: the watcher stops it also if we crash */
}

TestSuite(durability, .fini = teardown, .timeout = 240);

static bool spool_empty_and_db_up(json_t *h)
{
    json_t *db = json_object_get(h, "database");

    return json_integer_value(json_object_get(h, "spool_pending")) == 0 && json_is_string(db) &&
           strcmp(json_string_value(db), "up") == 0;
}

#define N_SPOOLED 100

Test(durability, spooled_while_postgres_down_stored_once_after_sigkill)
{
    static char ids[N_SPOOLED][64], names[N_SPOOLED][64], summaries[N_SPOOLED][64];
    static char phones[N_SPOOLED][32];
    long status;
    json_t *r;

    double t0 = hl_testd_now();
    hl_testpg_create(&pg);
    double t_cluster = hl_testd_now();
    hl_testd_opts_t opts = {.conninfo = pg.conninfo};
    hl_testd_start(&d, &opts);
    double t_daemon = hl_testd_now();

    /* The token must be in the daemon's cache (HL_AUTH_CACHE_SECONDS) while PostgreSQL is away. */
    double warmed = hl_testd_now();
    r = hl_testd_request(&d, "GET", "/v1/taxonomy", d.tokens.frontend, NULL, NULL, &status, NULL);
    cr_assert_eq(status, 200);
    json_decref(r);

    hl_testpg_stop(&pg);
    double t_pg_down = hl_testd_now();
    for (int i = 0; i < N_SPOOLED; i++) {
        char sid[32];
        json_t *c = it_contact("x");

        snprintf(sid, sizeof(sid), "dur-%03d", i);
        it_marker(names[i], sizeof(names[i]), "Spoolname");
        it_marker(summaries[i], sizeof(summaries[i]), "Spoolsummary");
        snprintf(phones[i], sizeof(phones[i]), "+2547%08d", 31337000 + i);
        json_object_set_new(json_object_get(c, "source"), "id", json_string(sid));
        json_object_set_new(json_object_get(c, "child"), "name", json_string(names[i]));
        json_object_set_new(json_object_get(c, "caller"), "phone", json_string(phones[i]));
        json_object_set_new(c, "summary", json_string(summaries[i]));
        status = it_post(&d, d.tokens.frontend, c, &r);
        cr_assert_eq(status, 202,
                     "contact %d while PostgreSQL is down: %ld (%.1f s after the token was cached)", i,
                     status, hl_testd_now() - warmed);
        cr_assert_str_eq(it_str(r, "status"), "spooled");
        snprintf(ids[i], sizeof(ids[i]), "%s", it_str(r, "id"));
        json_decref(r);
    }
    /* the same source again while PostgreSQL is still down: acknowledged, stored once later */
    char repeat_id[64] = "";
    json_t *again = it_contact("dur-000");
    json_object_set_new(json_object_get(again, "child"), "name", json_string(names[0]));
    status = it_post(&d, d.tokens.frontend, again, &r);
    cr_expect(status == 202 || status == 200, "a repeat while PostgreSQL is down: %ld", status);
    if (it_str(r, "id") != NULL)
        snprintf(repeat_id, sizeof(repeat_id), "%s", it_str(r, "id"));
    json_decref(r);

    r = hl_testd_request(&d, "GET", "/healthz", NULL, NULL, NULL, &status, NULL);
    cr_expect_eq(status, 200);
    cr_expect_str_eq(it_str(r, "database"), "down");
    cr_expect_geq(json_integer_value(json_object_get(r, "spool_pending")), N_SPOOLED);
    json_decref(r);

    double t_spooled = hl_testd_now();
    hl_testd_kill(&d);

    /* The spool holds the sealed records, and no plaintext. */
    size_t len, n_files;
    char *spool = it_read_tree(d.spool, &len, &n_files);
    cr_expect_gt(n_files, 0);
    cr_expect_gt(len, (size_t)N_SPOOLED * 100, "the spool holds %zu bytes", len);
    for (int i = 0; i < N_SPOOLED; i++) {
        cr_expect(!it_contains(spool, len, names[i]) && !it_contains(spool, len, summaries[i]) &&
                      !it_contains(spool, len, phones[i] + 1),
                  "the spool holds plaintext of contact %d", i);
    }
    free(spool);

    hl_testpg_start(&pg);
    double t_pg_up = hl_testd_now();
    hl_testd_restart(&d);
    double t_restarted = hl_testd_now();
    json_t *h = hl_testd_wait_health(&d, spool_empty_and_db_up, 30);
    cr_log_info(
        "cluster %.1f s, daemon set-up %.1f s, PostgreSQL stop %.1f s, %d contacts spooled in %.1f s, "
        "PostgreSQL start %.1f s, daemon restart %.1f s, replay %.1f s",
        t_cluster - t0, t_daemon - t_cluster, t_pg_down - t_daemon, N_SPOOLED, t_spooled - t_pg_down,
        t_pg_up - t_spooled, t_restarted - t_pg_up, hl_testd_now() - t_restarted);
    cr_assert(h != NULL && spool_empty_and_db_up(h), "the spool was not replayed within 30 s: %s",
              h != NULL ? json_dumps(h, 0) : "(no answer)");
    json_decref(h);

    cr_expect_eq(it_scalar(&d, "SELECT count(*) FROM contacts WHERE source_id LIKE 'dur-%'"), N_SPOOLED);
    cr_expect_eq(it_scalar(&d, "SELECT count(DISTINCT source_id) FROM contacts WHERE source_id LIKE 'dur-%'"),
                 N_SPOOLED);
    cr_expect_eq(it_scalar(&d, "SELECT count(*) FROM (SELECT source_id FROM contacts GROUP BY 1 "
                               "HAVING count(*) > 1) dup"),
                 0);
    /* each under the id its 202 answered */
    for (int i = 0; i < N_SPOOLED; i++) {
        char sql[256];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM contacts WHERE id = '%.36s' AND source_id = 'dur-%03d'", ids[i], i);
        cr_expect_eq(it_scalar(&d, sql), 1, "contact %d (id %s)", i, ids[i]);
    }
    if (strcmp(repeat_id, ids[0]) != 0)
        cr_log_info("the repeat spooled while PostgreSQL was down was answered with id %s; the contact is "
                    "stored once, as %s (the first record's id)",
                    repeat_id, ids[0]);
    /* and a repeat is a duplicate of it */
    for (int i = 0; i < 3; i++) {
        char sid[32];
        json_t *c = it_contact("x");
        snprintf(sid, sizeof(sid), "dur-%03d", i * 40);
        json_object_set_new(json_object_get(c, "source"), "id", json_string(sid));
        cr_expect_eq(it_post(&d, d.tokens.frontend, c, &r), 200);
        cr_expect_str_eq(it_str(r, "id"), ids[i * 40]);
        json_decref(r);
    }
    /* the contents came through: the owner-less contact read by the admin */
    char path[128];
    snprintf(path, sizeof(path), "/v1/contacts/%s", ids[7]);
    r = hl_testd_request(&d, "GET", path, d.tokens.admin, NULL, NULL, &status, NULL);
    cr_expect_eq(status, 200);
    cr_expect_str_eq(it_str(r, "child/name"), names[7]);
    cr_expect_str_eq(it_str(r, "summary"), summaries[7]);
    json_decref(r);

    /* no plaintext in the database or the log either */
    char dump[HL_TESTD_PATH_LEN + 16];
    snprintf(dump, sizeof(dump), "%s/dump.sql", d.dir);
    cr_assert_eq(hl_testd_pg_dump(pg.conninfo, dump), 0, "pg_dump failed (see %s.log)", dump);
    char *text = hl_testd_read_file(dump, &len);
    cr_assert(it_contains(text, len, "dur-099"));
    char *log = hl_testd_read_file(d.log, NULL);
    size_t log_len = strlen(log);
    for (int i = 0; i < N_SPOOLED; i++) {
        cr_expect(!it_contains(text, len, names[i]) && !it_contains_hex(text, len, names[i]) &&
                      !it_contains(text, len, summaries[i]) && !it_contains_hex(text, len, summaries[i]) &&
                      !it_contains(text, len, phones[i] + 1) && !it_contains_hex(text, len, phones[i]),
                  "the dump holds plaintext of contact %d", i);
        cr_expect(!it_contains(log, log_len, names[i]) && !it_contains(log, log_len, summaries[i]) &&
                      !it_contains(log, log_len, phones[i] + 1),
                  "the log holds plaintext of contact %d", i);
    }
    free(text);
    free(log);
    cr_expect_eq(hl_testd_stop(&d), 0, "clean exit after the replay");
}

/* ---- SIGKILL under load -------------------------------------------------------------------- */

#define LOAD_THREADS 4
#define LOAD_MAX     4000

typedef struct {
    int thread;
    double until;
    int acked[LOAD_MAX]; /* sequence numbers answered 2xx */
    int n_acked;
    int n_sent, n_refused, n_other;
    long other_status; /* the last answer that was neither 2xx nor none */
} load_t;

static void *load(void *arg)
{
    load_t *l = arg;

    for (int seq = 0; seq < LOAD_MAX && hl_testd_now() < l->until; seq++) {
        char sid[32];
        json_t *c = it_contact("x");
        long status;

        snprintf(sid, sizeof(sid), "load-%d-%d", l->thread, seq);
        json_object_set_new(json_object_get(c, "source"), "id", json_string(sid));
        status = it_post(&d, d.tokens.frontend, c, NULL);
        l->n_sent++;
        if (status == 201 || status == 202 || status == 200) {
            l->acked[l->n_acked++] = seq;
        } else if (status == 0) {
            l->n_refused++; /* killed: no answer (or no connection) */
            usleep(20 * 1000);
        } else {
            l->n_other++;
            l->other_status = status;
        }
    }
    return NULL;
}

Test(durability, acknowledged_contacts_survive_sigkill_under_load)
{
    static load_t loads[LOAD_THREADS];
    pthread_t th[LOAD_THREADS];
    long status;
    json_t *r;

    hl_testd_start(&d, NULL);
    r = hl_testd_request(&d, "GET", "/v1/taxonomy", d.tokens.frontend, NULL, NULL, &status, NULL);
    json_decref(r);

    double t0 = hl_testd_now();
    for (int i = 0; i < LOAD_THREADS; i++) {
        loads[i] = (load_t){.thread = i, .until = t0 + 2.0};
        cr_assert_eq(pthread_create(&th[i], NULL, load, &loads[i]), 0);
    }
    usleep(1000 * 1000);
    hl_testd_kill(&d); /* from this (the forking) thread */
    double killed = hl_testd_now() - t0;
    for (int i = 0; i < LOAD_THREADS; i++)
        pthread_join(th[i], NULL);

    int acked = 0, refused = 0, other = 0, sent = 0;
    for (int i = 0; i < LOAD_THREADS; i++) {
        acked += loads[i].n_acked;
        refused += loads[i].n_refused;
        other += loads[i].n_other;
        sent += loads[i].n_sent;
    }
    cr_log_info("load: %d sent, %d acknowledged, %d unanswered, %d other; SIGKILL at %.2f s", sent, acked,
                refused, other, killed);
    cr_assert_gt(acked, 10, "too little load before the kill: %d acknowledged", acked);
    cr_expect_eq(other, 0, "answers other than 2xx before the kill");

    hl_testd_restart(&d);
    json_t *h = hl_testd_wait_health(&d, spool_empty_and_db_up, 30);
    cr_assert(h != NULL && spool_empty_and_db_up(h), "not settled within 30 s");
    json_decref(h);

    /* every acknowledged contact is stored, once */
    PGconn *conn = hl_testd_db(&d);
    int missing = 0;
    for (int i = 0; i < LOAD_THREADS; i++) {
        for (int k = 0; k < loads[i].n_acked; k++) {
            char sid[32];
            const char *values[1] = {sid};
            snprintf(sid, sizeof(sid), "load-%d-%d", i, loads[i].acked[k]);
            PGresult *res = PQexecParams(conn, "SELECT count(*) FROM contacts WHERE source_id = $1", 1, NULL,
                                         values, NULL, NULL, 0);
            cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
            long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
            PQclear(res);
            cr_expect_eq(n, 1, "acknowledged contact %s stored %ld times", sid, n);
            missing += n == 0;
        }
    }
    PQfinish(conn);
    cr_expect_eq(missing, 0, "%d acknowledged contacts lost", missing);
    cr_expect_eq(it_scalar(&d, "SELECT count(*) FROM (SELECT source_id FROM contacts GROUP BY 1 "
                               "HAVING count(*) > 1) dup"),
                 0);
    cr_expect_eq(hl_testd_stop(&d), 0, "clean exit after the restart");
}

/* ---- writer_connections ----------------------------------------------------------------- */

/* The config's writer_connections is the number of writer connections the daemon opens (the
 * default is 2), up to the largest value the config accepts. */
Test(durability, writer_connections_from_the_config)
{
    hl_testd_opts_t opts = {.writer_connections = HL_CONFIG_MAX_WRITER_CONNECTIONS};
    long named = 0;

    hl_testd_start(&d, &opts);
    for (int tries = 0; tries < 500 && named < HL_CONFIG_MAX_WRITER_CONNECTIONS; tries++) {
        named = it_scalar(&d, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                              " AND application_name LIKE 'helplined writer %'");
        if (named < HL_CONFIG_MAX_WRITER_CONNECTIONS)
            usleep(10000);
    }
    cr_assert_eq(named, HL_CONFIG_MAX_WRITER_CONNECTIONS);
    cr_assert_eq(it_scalar(&d, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                               " AND application_name = 'helplined writer 16'"),
                 0);
    cr_expect_eq(hl_testd_stop(&d), 0);
}

/* ---- SIGTERM under load ------------------------------------------------------------------- */

/* Bytes in spool_dir's files, but for the frontend-tokens list kept beside the spool (server/access/auth.h).
 */
static size_t spool_bytes(const char *dir)
{
    DIR *dp = opendir(dir);
    struct dirent *de;
    size_t total = 0;

    if (dp == NULL)
        return 0;
    while ((de = readdir(dp)) != NULL) {
        char path[HL_TESTD_PATH_LEN + 300];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (strcmp(de->d_name, "frontend-tokens") != 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            total += (size_t)st.st_size;
    }
    closedir(dp);
    return total;
}

Test(durability, acknowledged_contacts_survive_sigterm_under_load)
{
    static load_t loads[LOAD_THREADS];
    pthread_t th[LOAD_THREADS];
    long status;
    json_t *r;

    hl_testd_start(&d, NULL);
    r = hl_testd_request(&d, "GET", "/v1/taxonomy", d.tokens.frontend, NULL, NULL, &status, NULL);
    json_decref(r);

    double t0 = hl_testd_now();
    for (int i = 0; i < LOAD_THREADS; i++) {
        loads[i] = (load_t){.thread = i, .until = t0 + 1.5};
        cr_assert_eq(pthread_create(&th[i], NULL, load, &loads[i]), 0);
    }
    usleep(700 * 1000);
    int exit_status = hl_testd_term(&d);
    for (int i = 0; i < LOAD_THREADS; i++)
        pthread_join(th[i], NULL);
    cr_expect_eq(exit_status, 0, "SIGTERM under load: wait status 0x%x", (unsigned)exit_status);

    int acked = 0, other = 0, missing = 0;
    PGconn *conn = hl_testd_db(&d);
    for (int i = 0; i < LOAD_THREADS; i++) {
        other += loads[i].n_other;
        /* while stopping, the daemon may refuse with 503 (nothing stored); nothing else */
        cr_expect(loads[i].n_other == 0 || loads[i].other_status == 503, "thread %d: answered %ld", i,
                  loads[i].other_status);
        for (int k = 0; k < loads[i].n_acked; k++, acked++) {
            char sid[32];
            const char *values[1] = {sid};
            snprintf(sid, sizeof(sid), "load-%d-%d", i, loads[i].acked[k]);
            PGresult *res = PQexecParams(conn, "SELECT count(*) FROM contacts WHERE source_id = $1", 1, NULL,
                                         values, NULL, NULL, 0);
            cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
            long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
            PQclear(res);
            cr_expect_eq(n, 1, "acknowledged contact %s stored %ld times", sid, n);
            missing += n == 0;
        }
    }
    PQfinish(conn);
    cr_log_info("graceful stop under load: %d acknowledged, %d other answers", acked, other);
    cr_assert_gt(acked, 10);
    cr_expect_eq(missing, 0, "%d acknowledged contacts lost on SIGTERM", missing);
    /* nothing left in the spool either (PostgreSQL was up) */
    size_t len = spool_bytes(d.spool);
    cr_expect_eq(len, 0, "%zu spool bytes after a graceful stop with the database up", len);
}

/* ---- tokens while PostgreSQL is down (server/access/auth.h) --------------------------------------- */

/* A contact from the demo front end posted with TOKEN; the answer's status ("spooled", ...) in STATE. */
static long post_as(const char *token, const char *source_id, char state[16])
{
    json_t *r = NULL;
    long status = it_post(&d, token, it_contact(source_id), &r);

    snprintf(state, 16, "%s", it_str(r, "status") != NULL ? it_str(r, "status") : "");
    json_decref(r);
    return status;
}

static long get_taxonomy(const char *token)
{
    long status;
    json_t *r = hl_testd_request(&d, "GET", "/v1/taxonomy", token, NULL, NULL, &status, NULL);

    json_decref(r);
    return status;
}

static void revoke_user(const char *name)
{
    const char *args[] = {"user", "revoke", name, "--helpline", "demo", NULL};

    cr_assert_eq(hl_testd_admin(&d, NULL, 0, args), 0, "user revoke %s", name);
}

static void start_own_cluster(const char *cache_seconds)
{
    if (cache_seconds != NULL)
        setenv("HELPLINE_TOKEN_CACHE_SECONDS", cache_seconds, 1); /* this test's process only */
    hl_testpg_create(&pg);
    hl_testd_opts_t opts = {.conninfo = pg.conninfo};
    hl_testd_start(&d, &opts);
}

/* PostgreSQL back, and the spool replayed. One contact after the outage first: a writer connection
 * that lost its session while idle reconnects (and replays) only when work arrives. */
static void settle(void)
{
    char sid[32];
    json_t *r = NULL;

    hl_testpg_start(&pg);
    snprintf(sid, sizeof(sid), "after-%d", (int)getpid());
    long status = it_post(&d, d.tokens.frontend, it_contact(sid), &r);
    json_decref(r);
    cr_expect(status == 201 || status == 202, "a contact after the outage: %ld", status);
    json_t *h = hl_testd_wait_health(&d, spool_empty_and_db_up, 30);
    if (h == NULL || !spool_empty_and_db_up(h)) {
        char *log = hl_testd_read_file(d.log, NULL), *health = h != NULL ? json_dumps(h, 0) : NULL;
        size_t n = log != NULL ? strlen(log) : 0;
        cr_log_warn("/healthz: %s\nhelplined log, last part:\n%s", health != NULL ? health : "(no answer)",
                    log != NULL ? log + (n > 6000 ? n - 6000 : 0) : "");
        free(health);
        free(log);
        cr_assert_fail("the spool was not replayed within 30 s");
    }
    json_decref(h);
}

/* Issue 14: a daemon restarted while PostgreSQL is down answered front ends 503 ("cannot check
 * the token now": its cache was empty). A front end it had seen goes on posting into the spool;
 * everyone else needs the database. */
Test(durability, restarted_during_outage_front_ends_spool)
{
    char state[16], path[HL_TESTD_PATH_LEN + 32], bad[HL_TESTD_TOKEN_LEN];
    struct stat st;

    start_own_cluster(NULL);
    cr_assert_eq(post_as(d.tokens.frontend, "restart-0", state), 201);
    cr_assert_eq(get_taxonomy(d.tokens.counsellor), 200);

    hl_testd_kill(&d);
    hl_testpg_stop(&pg);
    hl_testd_restart_database_down(&d);

    for (int i = 1; i <= 20; i++) {
        char sid[32];
        snprintf(sid, sizeof(sid), "restart-%d", i);
        cr_assert_eq(post_as(d.tokens.frontend, sid, state), 202, "contact %d after the restart", i);
        cr_expect_str_eq(state, "spooled");
    }
    cr_expect_eq(get_taxonomy(d.tokens.counsellor), 503, "a counsellor without the database");
    cr_expect_eq(post_as(d.tokens.counsellor, "restart-c", state), 503);
    cr_expect_eq(get_taxonomy(d.tokens.admin), 503);
    /* the front end's selector with another verifier is not the front end */
    snprintf(bad, sizeof(bad), "%s", d.tokens.frontend);
    bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
    cr_expect_eq(post_as(bad, "restart-bad", state), 503);

    /* the list beside the spool: 0600, holding no token (nor either half of one) */
    snprintf(path, sizeof(path), "%s/frontend-tokens", d.spool);
    cr_assert_eq(stat(path, &st), 0, "%s: no frontend-tokens file", path);
    cr_expect_eq(st.st_mode & 0777, 0600, "mode %o", (unsigned)(st.st_mode & 0777));
    size_t len;
    char *text = hl_testd_read_file(path, &len);
    char *dot = strchr(d.tokens.frontend, '.');
    cr_assert_not_null(dot);
    cr_expect(!it_contains(text, len, dot + 1), "the file holds the token's verifier");
    char selector[64];
    snprintf(selector, sizeof(selector), "%.*s", (int)(dot - d.tokens.frontend), d.tokens.frontend);
    cr_expect(!it_contains(text, len, selector), "the file holds the token's selector in text");
    cr_expect(!it_contains(text, len, "demo-frontend"), "the file holds the user's name in clear");
    free(text);

    settle();
    cr_expect_eq(it_scalar(&d, "SELECT count(*) FROM contacts c JOIN users u ON u.id = c.created_by"
                               " WHERE c.source_id LIKE 'restart-%' AND u.name = 'demo-frontend'"),
                 21);
    cr_expect_eq(
        it_scalar(&d, "SELECT count(*) FROM contacts WHERE source_id IN ('restart-c', 'restart-bad')"), 0);
    cr_expect_eq(hl_testd_stop(&d), 0);
}

/* Issue 15 finding 7: a token revoked shortly before an outage kept working for as long as it
 * lasted. Past token_cache_seconds (2 here) only front ends may go on without the database. */
Test(durability, revoked_counsellor_refused_during_outage)
{
    char tok[HL_TESTD_TOKEN_LEN], state[16];
    long status;

    start_own_cluster("2");
    hl_testd_user_add(&d, "leaver", "counsellor", "demo", tok);
    cr_assert_eq(get_taxonomy(tok), 200);
    double checked = hl_testd_now();
    cr_assert_eq(post_as(d.tokens.frontend, "stale-0", state), 201);
    revoke_user("leaver"); /* the daemon has not seen it: the token is not used again before the outage */
    hl_testpg_stop(&pg);

    while ((status = get_taxonomy(tok)) == 200) {
        cr_assert_lt(hl_testd_now() - checked, 2 + 5.0, "a revoked token still works %.1f s after its check",
                     hl_testd_now() - checked);
        usleep(100 * 1000);
    }
    cr_expect_eq(status, 503);
    cr_expect_eq(post_as(tok, "stale-1", state), 503, "a revoked counsellor's contact was accepted");
    cr_expect_eq(post_as(d.tokens.frontend, "stale-2", state), 202, "the front end goes on into the spool");

    settle();
    cr_expect_eq(it_scalar(&d, "SELECT count(*) FROM contacts c JOIN users u ON u.id = c.created_by"
                               " WHERE u.revoked_at IS NOT NULL"),
                 0, "contacts stored as a revoked user");
    cr_expect_eq(it_scalar(&d, "SELECT count(*) FROM contacts WHERE source_id = 'stale-2'"), 1);
    cr_expect_eq(hl_testd_stop(&d), 0);
}

/* A revoked front end is dropped from the daemon's list at its next re-check (every
 * token_cache_seconds), so it is refused during a later outage, also after a restart. */
Test(durability, revoked_front_end_refused_during_outage)
{
    char tok[HL_TESTD_TOKEN_LEN], state[16], line[96];

    start_own_cluster("2");
    hl_testd_user_add(&d, "old-gateway", "frontend", "demo", tok);
    cr_assert_eq(post_as(tok, "gw-0", state), 201);
    cr_assert_eq(post_as(d.tokens.frontend, "gw-1", state), 201);
    revoke_user("old-gateway");
    snprintf(line, sizeof(line), "auth: frontend user %ld revoked",
             it_scalar(&d, "SELECT id FROM users WHERE name = 'old-gateway'"));
    double t0 = hl_testd_now();
    for (;;) { /* dropped, and the file (only demo-frontend left in it) written */
        char *log = hl_testd_read_file(d.log, NULL);
        const char *at = log != NULL ? strstr(log, line) : NULL;
        bool seen = at != NULL && strstr(at, "frontend-tokens: 1 token(s) written") != NULL;
        free(log);
        if (seen)
            break;
        cr_assert_lt(hl_testd_now() - t0, 2 + 5.0, "the daemon did not drop the revoked front end");
        usleep(50 * 1000);
    }
    hl_testpg_stop(&pg);

    cr_expect_eq(post_as(tok, "gw-2", state), 503, "a revoked front end's contact was accepted");
    cr_expect_eq(post_as(d.tokens.frontend, "gw-3", state), 202);
    hl_testd_kill(&d);
    hl_testd_restart_database_down(&d);
    cr_expect_eq(post_as(tok, "gw-4", state), 503, "... after a restart");
    cr_expect_eq(post_as(d.tokens.frontend, "gw-5", state), 202);

    settle();
    cr_expect_eq(it_scalar(&d, "SELECT count(*) FROM contacts WHERE source_id IN ('gw-2', 'gw-4')"), 0);
    cr_expect_eq(it_scalar(&d, "SELECT count(*) FROM contacts WHERE source_id IN ('gw-3', 'gw-5')"), 2);
    cr_expect_eq(hl_testd_stop(&d), 0);
}
