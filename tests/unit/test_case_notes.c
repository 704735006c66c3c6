/*
 * server/casework/cases.c hl_cases_add_notes against a real PostgreSQL (scripts/with-pg): a batch
 * of notes is one statement, and each note in it is stored, or refused, as it would be alone: by
 * its own caller's right to write its case, in its own helpline, in the batch's order. Batches
 * that run at once, each with the same cases in another order, do not deadlock.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "casework/cases.h"
#include "db/dbpool.h"
#include "db/migrate.h"
#include "pgtest.h"

#define CASE_X   "c0000000-0000-4000-8000-00000000000a" /* amina's */
#define CASE_Y   "c0000000-0000-4000-8000-00000000000b" /* baraka's */
#define CASE_Z   "c0000000-0000-4000-8000-00000000000c" /* zola's, another helpline */
#define NO_CASE  "c0000000-0000-4000-8000-0000000000ff"
#define TEXT     "sealed note"
#define N_ROUNDS 30

static hl_pgtest_t db;
static PGconn *conn;
static hl_case_caller_t amina, baraka, admin, zola;

static void exec_ok(const char *sql)
{
    PGresult *res = PQexec(conn, sql);

    cr_assert(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s",
              sql, PQerrorMessage(conn));
    PQclear(res);
}

static long scalar(const char *sql)
{
    return hl_pgtest_scalar(conn, sql);
}

static hl_case_caller_t user(const char *name, const char *role, long helpline)
{
    char sql[256];
    long id;

    snprintf(
        sql, sizeof(sql),
        "INSERT INTO users (helpline_id, name, role, token_selector, token_hash) VALUES (%ld, '%s', '%s',"
        " gen_random_uuid()::text::bytea, '\\x02') RETURNING id",
        helpline, name, role);
    id = scalar(sql);
    return (hl_case_caller_t){.helpline_id = helpline,
                              .user_id = id,
                              .any_case = strcmp(role, "admin") == 0,
                              .writer_id = strcmp(role, "counsellor") == 0 ? id : 0};
}

static void setup(void)
{
    int applied = 0;
    char sql[512];

    hl_pgtest_create(&db);
    conn = hl_pgtest_connect(&db);
    cr_assert_eq(hl_migrate_run(conn, HL_TEST_SRCDIR "/migrations", &applied), HL_OK);
    long ke = scalar("INSERT INTO helplines (code, name, country) VALUES ('ke-116', 'K', 'KE') RETURNING id");
    long ug = scalar("INSERT INTO helplines (code, name, country) VALUES ('ug-116', 'U', 'UG') RETURNING id");
    amina = user("amina", "counsellor", ke);
    baraka = user("baraka", "counsellor", ke);
    admin = user("admin", "admin", ke);
    zola = user("zola", "counsellor", ug);
    snprintf(sql, sizeof(sql),
             "INSERT INTO cases (id, helpline_id, created_by, updated_at) VALUES ('" CASE_X "', %ld, %lld, "
             "'2026-01-01'), ('" CASE_Y "', %ld, %lld, '2026-01-01'), ('" CASE_Z
             "', %ld, %lld, '2026-01-01')",
             ke, (long long)amina.user_id, ke, (long long)baraka.user_id, ug, (long long)zola.user_id);
    exec_ok(sql);
}

static void teardown(void)
{
    PQfinish(conn);
    hl_pgtest_drop(&db);
}

TestSuite(case_notes, .init = setup, .fini = teardown, .timeout = 60);

/* Note I of a batch: a new entry by WHO. */
static void note(hl_case_note_t *n, hl_case_entry_t *e, int i, const hl_case_caller_t *who,
                 const char *case_id)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->id, sizeof(e->id), "e0000000-0000-4000-8000-%012d", i);
    e->kind = HL_CASE_ENTRY_NOTE;
    e->by = who->user_id;
    e->text.data = (uint8_t *)TEXT;
    e->text.len = sizeof(TEXT) - 1;
    *n = (hl_case_note_t){who, case_id, e, HL_EDB};
}

Test(case_notes, each_note_of_a_batch_as_alone)
{
    hl_case_note_t n[8];
    hl_case_entry_t e[8];
    const hl_case_caller_t *who[8] = {&amina, &baraka, &admin, &amina, &amina, &amina, &amina, &zola};
    const char *cases[8] = {CASE_X, CASE_X, CASE_Y, CASE_Y, NO_CASE, CASE_Z, CASE_X, CASE_Z};
    const int want[8] = {HL_OK, HL_EPERM, HL_OK, HL_EPERM, HL_ENOTFOUND, HL_ENOTFOUND, HL_OK, HL_OK};

    for (int i = 0; i < 8; i++)
        note(&n[i], &e[i], i, who[i], cases[i]);
    /* seven: the statement of eight rows, one of them empty */
    cr_assert_eq(hl_cases_add_notes(conn, n, 7), HL_OK);
    for (int i = 0; i < 7; i++) {
        cr_expect_eq(n[i].rc, want[i], "note %d: %d", i, n[i].rc);
        cr_expect_eq(e[i].at != 0, want[i] == HL_OK, "note %d's time", i);
    }
    cr_expect_eq(scalar("SELECT count(*) FROM case_entries"), 3, "only the notes of writers");
    cr_expect_eq(scalar("SELECT count(*) FROM case_entries WHERE case_id = '" CASE_X "'"), 2);
    cr_expect_eq(
        scalar("SELECT count(*) FROM (SELECT id, row_number() OVER (ORDER BY at, seq) r FROM case_entries"
               " WHERE case_id = '" CASE_X
               "') t WHERE (r = 1 AND id = 'e0000000-0000-4000-8000-000000000000')"
               " OR (r = 2 AND id = 'e0000000-0000-4000-8000-000000000006')"),
        2, "in the batch's order");
    cr_expect_eq(scalar("SELECT count(*) FROM cases WHERE updated_at > '2026-01-01'"), 2, "X and Y stamped");
    cr_expect_eq(scalar("SELECT count(*) FROM case_entries WHERE text = '" TEXT "'::bytea AND kind = 'note'"),
                 3);

    /* one alone, and the bounds */
    cr_assert_eq(hl_cases_add_notes(conn, &n[7], 1), HL_OK);
    cr_expect_eq(n[7].rc, HL_OK, "zola writes her own case");
    cr_expect_eq(hl_cases_add_notes(conn, n, 0), HL_EINVAL);
    cr_expect_eq(hl_cases_add_notes(conn, n, HL_CASES_NOTES_MAX + 1), HL_EINVAL);
}

Test(case_notes, a_full_batch)
{
    hl_case_note_t n[HL_CASES_NOTES_MAX];
    hl_case_entry_t e[HL_CASES_NOTES_MAX];

    for (int i = 0; i < HL_CASES_NOTES_MAX; i++)
        note(&n[i], &e[i], i, i % 2 ? &baraka : &amina, i % 2 ? CASE_Y : CASE_X);
    cr_assert_eq(hl_cases_add_notes(conn, n, HL_CASES_NOTES_MAX), HL_OK);
    for (int i = 0; i < HL_CASES_NOTES_MAX; i++)
        cr_expect_eq(n[i].rc, HL_OK, "note %d", i);
    cr_expect_eq(scalar("SELECT count(*) FROM case_entries"), HL_CASES_NOTES_MAX);
}

/* Batches that lock the same cases wait for each other, never in a cycle: each locks its case
 * rows in id order. Session S holds X; batch A (X, then Y) waits for it; batch B (Y, then X)
 * comes next. Were B to lock Y first, A, given X, would wait for B's Y and B for A's X. */
typedef struct {
    const char *name;
    const char *first, *second;
    int entry; /* the first entry's number */
    int rc;
} racer_t;

static void *race(void *arg)
{
    racer_t *r = arg;
    PGconn *c = hl_pgtest_connect(&db);
    hl_case_note_t n[2];
    hl_case_entry_t e[2];
    char set[64];

    snprintf(set, sizeof(set), "SET application_name = '%s'", r->name);
    PQclear(PQexec(c, set));
    note(&n[0], &e[0], r->entry, &admin, r->first);
    note(&n[1], &e[1], r->entry + 1, &admin, r->second);
    r->rc = hl_cases_add_notes(c, n, 2);
    if (r->rc == HL_OK && (n[0].rc != HL_OK || n[1].rc != HL_OK))
        r->rc = HL_EDB;
    PQfinish(c);
    return NULL;
}

/* Waits until session NAME waits for a lock. */
static void wait_for_lock(const char *name)
{
    char sql[160];

    snprintf(
        sql, sizeof(sql),
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s' AND wait_event_type = 'Lock'",
        name);
    for (int i = 0; i < 1000 && scalar(sql) == 0; i++)
        usleep(5000);
    cr_assert_eq(scalar(sql), 1, "%s does not wait for a lock", name);
}

Test(case_notes, batches_of_the_same_cases_at_once_do_not_deadlock)
{
    pthread_t th[2];
    racer_t r[2] = {{"notes-a", CASE_X, CASE_Y, 100, HL_EDB}, {"notes-b", CASE_Y, CASE_X, 200, HL_EDB}};
    PGconn *s = hl_pgtest_connect(&db);

    /* Enough cases that PostgreSQL finds a batch's rows by their key, in the batch's order,
     * rather than reading the table in its own order. */
    exec_ok(
        "INSERT INTO cases (id, helpline_id, created_by) SELECT gen_random_uuid(), helpline_id, created_by"
        " FROM cases c, generate_series(1, 5000) WHERE c.id = '" CASE_X "'");
    exec_ok("ANALYZE cases");
    PQclear(PQexec(s, "BEGIN"));
    PQclear(PQexec(s, "SELECT 1 FROM cases WHERE id = '" CASE_X "' FOR UPDATE"));
    cr_assert_eq(pthread_create(&th[0], NULL, race, &r[0]), 0);
    wait_for_lock("notes-a");
    cr_assert_eq(pthread_create(&th[1], NULL, race, &r[1]), 0);
    wait_for_lock("notes-b");
    PQclear(PQexec(s, "COMMIT"));
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    PQfinish(s);
    cr_expect_eq(r[0].rc, HL_OK, "batch A failed (a deadlock?)");
    cr_expect_eq(r[1].rc, HL_OK, "batch B failed (a deadlock?)");
    cr_expect_eq(scalar("SELECT count(*) FROM case_entries"), 4);
}
