/*
 * The case routes behind a real PgBouncer in transaction pooling mode (issue 16, acceptance 7):
 * their statements are prepared once per session on the handlers' pool (server/db/dbpool.c,
 * hl_dbpool_exec), and behind such a pooler a client's next transaction may run on a server
 * connection that never prepared them, or on one where another client prepared them already.
 * Two server connections shared by the daemon's pool, the writer and the rest: every note, every
 * sealed read (with its audit row) and every PATCH must still answer 2xx, and be stored once.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "pgbouncer.h"

#define N_CASES    3
#define N_THREADS  6
#define PER_THREAD 12

static hl_testd_t d;
static hl_testbouncer_t bouncer;
static hl_pgtest_t db;
static bool db_made;
static char case_ids[N_CASES][64];
static atomic_int n_bad;
static atomic_long last_bad;

static void teardown(void)
{
    hl_testd_stop(&d);
    hl_testbouncer_stop(&bouncer);
    if (db_made)
        hl_pgtest_drop(&db);
}

TestSuite(cases_pooler, .fini = teardown, .timeout = 120);

static long request(const char *method, const char *path, const char *body, json_t **reply)
{
    long status = 0;
    json_t *r = hl_testd_request(&d, method, path, d.tokens.counsellor,
                                 body != NULL ? "application/json" : NULL, body, &status, NULL);

    if (reply != NULL)
        *reply = r;
    else
        json_decref(r);
    return status;
}

static void check(long status, long want)
{
    if (status != want) {
        atomic_fetch_add(&n_bad, 1);
        atomic_store(&last_bad, status);
    }
}

/* Notes, sealed reads and PATCHes of the cases, in turn. */
static void *work(void *arg)
{
    int t = (int)(intptr_t)arg;
    char path[160], body[96];

    for (int i = 0; i < PER_THREAD; i++) {
        const char *id = case_ids[(t + i) % N_CASES];
        snprintf(path, sizeof(path), "/v1/cases/%s/notes", id);
        snprintf(body, sizeof(body), "{\"text\":\"note %d of thread %d\"}", i, t);
        check(request("POST", path, body, NULL), 201);
        snprintf(path, sizeof(path), "/v1/cases/%s", id);
        check(request("GET", path, NULL, NULL), 200);
        if (i % 4 == 3)
            check(request("PATCH", path, i % 8 == 3 ? "{\"priority\":\"high\"}" : "{\"priority\":\"low\"}",
                          NULL),
                  200);
    }
    return NULL;
}

Test(cases_pooler, notes_reads_and_patches_through_a_transaction_pooler)
{
    hl_testbouncer_opts_t bopts = {.pool_mode = "transaction", .pool_size = 2};
    char conninfo[512], sql[256];
    pthread_t threads[N_THREADS];
    PGconn *direct;
    json_t *r = NULL;

    if (!hl_testbouncer_available())
        cr_skip("PgBouncer is not installed (" HL_TESTBOUNCER_BIN "): scripts/install-deps installs it");
    hl_testbouncer_start(&bouncer, &bopts);
    hl_pgtest_create(&db);
    db_made = true;
    hl_testbouncer_conninfo(&bouncer, db.name, conninfo, sizeof(conninfo));
    hl_testd_opts_t opts = {.conninfo = conninfo};
    hl_testd_start(&d, &opts);

    for (int k = 0; k < N_CASES; k++) {
        cr_assert_eq(request("POST", "/v1/cases", "{\"label\":\"pooled\"}", &r), 201);
        snprintf(case_ids[k], sizeof(case_ids[k]), "%s", it_str(r, "id"));
        json_decref(r);
    }
    for (int t = 0; t < N_THREADS; t++)
        cr_assert_eq(pthread_create(&threads[t], NULL, work, (void *)(intptr_t)t), 0);
    for (int t = 0; t < N_THREADS; t++)
        cr_assert_eq(pthread_join(threads[t], NULL), 0);
    cr_assert_eq(atomic_load(&n_bad), 0, "%d answers were not 2xx (the last %ld)", atomic_load(&n_bad),
                 atomic_load(&last_bad));

    direct = hl_pgtest_connect(&db);
    cr_expect_eq(hl_pgtest_scalar(direct, "SELECT count(*) FROM case_entries WHERE kind = 'note'"),
                 N_THREADS * PER_THREAD, "every note stored once");
    cr_expect_eq(hl_pgtest_scalar(direct, "SELECT count(*) FROM audit_log WHERE action = 'read_sensitive'"),
                 N_THREADS * PER_THREAD, "every sealed read audited once");
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit_log WHERE action = 'update' AND case_id = '%s'",
             case_ids[0]);
    cr_expect_gt(hl_pgtest_scalar(direct, sql), 0);
    PQfinish(direct);
    /* and the notes open */
    snprintf(sql, sizeof(sql), "/v1/cases/%s", case_ids[0]);
    cr_assert_eq(request("GET", sql, NULL, &r), 200);
    cr_expect_str_eq(it_str(r, "label"), "pooled");
    cr_expect_eq(json_array_size(json_object_get(r, "timeline")), 1 + N_THREADS * PER_THREAD / N_CASES);
    json_decref(r);
}
