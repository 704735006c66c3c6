/* server/keys: rotation and re-encryption against a real PostgreSQL, real migrations. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin/admin.h"
#include "crypto.h"
#include "admin/keys.h"
#include "db/migrate.h"
#include "pgtest.h"
#include "casework/cases.h"
#include "admin/sealed_columns.h"

static hl_pgtest_t db;
static PGconn *conn;
static char tmpdir[64];
static char key_path[128];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    int applied = 0;

    cr_assert_eq(hl_crypto_init(), HL_OK);
    hl_pgtest_create(&db);
    conn = hl_pgtest_connect(&db);
    cr_assert_eq(hl_migrate_run(conn, HL_TEST_SRCDIR "/migrations", &applied), HL_OK);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/hl-keys-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(key_path, sizeof(key_path), "%s/master.key", tmpdir);
    cr_assert_eq(hl_crypto_keygen_file(key_path), HL_OK);
}

static void teardown(void)
{
    PQfinish(conn);
    hl_pgtest_drop(&db);
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(keys, .init = setup, .fini = teardown);

static void exec(const char *sql)
{
    PGresult *res = PQexec(conn, sql);

    cr_assert(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s",
              sql, PQerrorMessage(conn));
    PQclear(res);
}

static hl_crypto_keyring_t *load(void)
{
    hl_crypto_keyring_t *kr = NULL;

    cr_assert_eq(hl_crypto_keyring_load(key_path, &kr), HL_OK);
    return kr;
}

static void note_id(int i, char id[37])
{
    snprintf(id, 37, "00000000-0000-4000-8000-%012d", i);
}

static void expected(const char *column, int i, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s of note %d: private words", column, i);
}

/* Inserts note I with body and (for I not divisible by 3) title sealed under KR's current id. */
static void insert_note(hl_crypto_keyring_t *kr, int i)
{
    static const char sql[] = "INSERT INTO notes (id, body, title) VALUES ($1, $2, $3)";
    char id[37], body[64], title[64];
    uint8_t sb[128], st[128];
    size_t sbl = 0, stl = 0;
    hl_crypto_ad_t ad = {"notes", "body", id};

    note_id(i, id);
    expected("body", i, body, sizeof(body));
    expected("title", i, title, sizeof(title));
    cr_assert_eq(hl_crypto_seal(kr, &ad, (const uint8_t *)body, strlen(body), sb, sizeof(sb), &sbl), HL_OK);
    ad.column = "title";
    cr_assert_eq(hl_crypto_seal(kr, &ad, (const uint8_t *)title, strlen(title), st, sizeof(st), &stl), HL_OK);
    const char *values[3] = {id, (const char *)sb, i % 3 == 0 ? NULL : (const char *)st};
    const int lengths[3] = {0, (int)sbl, (int)stl}, formats[3] = {0, 1, 1};
    PGresult *res = PQexecParams(conn, sql, 3, NULL, values, lengths, formats, 0);
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(conn));
    PQclear(res);
}

/* Every sealed field opens with KR and holds what was sealed; returns the count checked. */
static int check_all(hl_crypto_keyring_t *kr)
{
    PGresult *res = PQexecParams(conn, "SELECT id::text, body, title FROM notes ORDER BY id", 0, NULL, NULL,
                                 NULL, NULL, 1);
    int checked = 0;

    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    for (int r = 0; r < PQntuples(res); r++) {
        const char *id = PQgetvalue(res, r, 0);
        int i = atoi(id + 24);
        for (int c = 1; c <= 2; c++) {
            const char *column = c == 1 ? "body" : "title";
            hl_crypto_ad_t ad = {"notes", column, id};
            char want[64], *pt = NULL;
            size_t ptlen = 0;
            if (PQgetisnull(res, r, c)) {
                cr_assert(c == 2 && i % 3 == 0);
                continue;
            }
            expected(column, i, want, sizeof(want));
            cr_assert_eq(hl_crypto_open_alloc(kr, &ad, (const uint8_t *)PQgetvalue(res, r, c),
                                              (size_t)PQgetlength(res, r, c), &pt, &ptlen),
                         HL_OK, "%s of %s does not open", column, id);
            cr_assert_str_eq(pt, want);
            hl_crypto_wipe_free(pt, ptlen);
            checked++;
        }
    }
    PQclear(res);
    return checked;
}

static long under_key(const char *column, unsigned id)
{
    char sql[256];

    snprintf(
        sql, sizeof(sql),
        "SELECT count(*) FROM notes WHERE %s IS NOT NULL AND get_byte(%s, 1) = %u AND get_byte(%s, 2) = 0",
        column, column, id, column);
    return hl_pgtest_scalar(conn, sql);
}

static const hl_sealed_column_t notes_cols[] = {
    {"notes", "id", "body", NULL},
    {"notes", "id", "title", NULL},
    {"not_created_yet", "id", "secret", NULL}, /* skipped, like contacts before its migration */
    {"notes", "id", "no_such_column", NULL},
};

static int batches_allowed;
static int batches_seen;
static bool stop_after(const hl_keys_progress_t *p, void *arg)
{
    (void)arg;
    cr_assert_not_null(p->table);
    batches_seen++;
    return batches_seen < batches_allowed;
}

Test(keys, rotate_then_reencrypt_interrupted_and_resumed)
{
    hl_crypto_keyring_t *kr1 = load(), *kr2 = NULL;
    hl_keys_stats_t st;
    uint32_t id = 0;
    uint64_t old = 0;

    exec("CREATE TABLE notes (id uuid PRIMARY KEY, body bytea, title bytea)");
    for (int i = 0; i < 23; i++)
        insert_note(kr1, i);
    cr_assert_eq(under_key("body", 1), 23);

    cr_assert_eq(hl_crypto_keyring_rotate(key_path, &id), HL_OK);
    cr_assert_eq(id, 2);
    kr2 = load();
    for (int i = 100; i < 105; i++)
        insert_note(kr2, i);
    cr_assert_eq(under_key("body", 2), 5);
    cr_assert_eq(check_all(kr2), 23 + 15 + 5 + 4, "key 1 and key 2 both open");
    cr_assert_eq(hl_keys_count_old(conn, kr2, notes_cols, HL_ARRAY_LEN(notes_cols), &old), HL_OK);
    cr_assert_eq(old, 23 + 15);

    /* Interrupted after two batches of 4. */
    batches_allowed = 2;
    batches_seen = 0;
    cr_assert_eq(hl_keys_reencrypt(conn, kr2, notes_cols, HL_ARRAY_LEN(notes_cols), 4, stop_after, NULL, &st),
                 HL_ECONFLICT);
    cr_assert_eq(st.resealed, 8);
    cr_assert_eq(st.failed, 0);
    cr_assert_eq(st.remaining, 23 + 15 - 8);
    cr_assert_eq(under_key("body", 1), 15);
    cr_assert_eq(check_all(kr2), 47, "a half-done run leaves everything readable");

    /* Run again: finishes. */
    batches_allowed = 1000;
    cr_assert_eq(hl_keys_reencrypt(conn, kr2, notes_cols, HL_ARRAY_LEN(notes_cols), 4, stop_after, NULL, &st),
                 HL_OK);
    cr_assert_eq(st.resealed, 30);
    cr_assert_eq(st.remaining, 0);
    cr_assert_eq(st.skipped, 2);
    cr_assert_eq(under_key("body", 1), 0);
    cr_assert_eq(under_key("title", 1), 0);
    cr_assert_eq(under_key("body", 2), 28);
    cr_assert_eq(under_key("title", 2), 19);
    cr_assert_eq(check_all(kr2), 47);

    /* And again: nothing to do. */
    cr_assert_eq(hl_keys_reencrypt(conn, kr2, notes_cols, 2, 500, NULL, NULL, &st), HL_OK);
    cr_assert_eq(st.resealed, 0);
    cr_assert_eq(st.remaining, 0);
    hl_crypto_keyring_free(kr1);
    hl_crypto_keyring_free(kr2);
}

Test(keys, failure_inside_a_batch_rolls_back_and_resumes)
{
    hl_crypto_keyring_t *kr1 = load(), *kr2 = NULL;
    hl_keys_stats_t st;
    uint32_t id = 0;
    char id6[37], sql[512];

    exec("CREATE TABLE notes (id uuid PRIMARY KEY, body bytea, title bytea)");
    for (int i = 0; i < 12; i++)
        insert_note(kr1, i);
    cr_assert_eq(hl_crypto_keyring_rotate(key_path, &id), HL_OK);
    kr2 = load();
    /* The database refuses the update of note 6 (think: a crash in the middle of a batch). */
    note_id(6, id6);
    exec(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no'; END $$");
    snprintf(sql, sizeof(sql),
             "CREATE TRIGGER refuse BEFORE UPDATE ON notes FOR EACH ROW WHEN (NEW.id = '%s') EXECUTE "
             "FUNCTION refuse()",
             id6);
    exec(sql);
    cr_assert_eq(hl_keys_reencrypt(conn, kr2, notes_cols, 1, 5, NULL, NULL, &st), HL_EDB);
    cr_assert_eq(under_key("body", 1), 7, "the first batch (0-4) committed, the second rolled back");
    cr_assert_eq(check_all(kr2), 12 + 8);
    exec("DROP TRIGGER refuse ON notes");
    cr_assert_eq(hl_keys_reencrypt(conn, kr2, notes_cols, 2, 5, NULL, NULL, &st), HL_OK);
    cr_assert_eq(st.resealed, 7 + 8);
    cr_assert_eq(under_key("body", 1) + under_key("title", 1), 0);
    cr_assert_eq(check_all(kr2), 20);
    hl_crypto_keyring_free(kr1);
    hl_crypto_keyring_free(kr2);
}

Test(keys, damaged_field_is_counted_and_left_alone)
{
    hl_crypto_keyring_t *kr1 = load(), *kr2 = NULL;
    hl_keys_stats_t st;
    uint32_t id = 0;
    uint64_t before = hl_crypto_failures(HL_CRYPTO_FAIL_OPEN);

    exec("CREATE TABLE notes (id uuid PRIMARY KEY, body bytea, title bytea)");
    for (int i = 0; i < 6; i++)
        insert_note(kr1, i);
    exec("UPDATE notes SET body = set_byte(body, 40, get_byte(body, 40) # 1)"
         " WHERE id = '00000000-0000-4000-8000-000000000004'");
    cr_assert_eq(hl_crypto_keyring_rotate(key_path, &id), HL_OK);
    kr2 = load();
    cr_assert_eq(hl_keys_reencrypt(conn, kr2, notes_cols, 2, 2, NULL, NULL, &st), HL_ECRYPTO);
    cr_assert_eq(st.failed, 1);
    cr_assert_eq(st.resealed, 5 + 4);
    cr_assert_eq(st.remaining, 1);
    cr_assert_eq(under_key("body", 1), 1);
    cr_assert_eq(hl_crypto_failures(HL_CRYPTO_FAIL_OPEN), before + 1);
    /* A second run does not loop on it: same answer, nothing else touched. */
    cr_assert_eq(hl_keys_reencrypt(conn, kr2, notes_cols, 2, 2, NULL, NULL, &st), HL_ECRYPTO);
    cr_assert_eq(st.failed, 1);
    cr_assert_eq(st.resealed, 0);
    hl_crypto_keyring_free(kr1);
    hl_crypto_keyring_free(kr2);
}

Test(keys, bad_arguments)
{
    hl_crypto_keyring_t *kr = load();
    hl_keys_stats_t st;

    cr_assert_eq(hl_keys_reencrypt(conn, kr, notes_cols, 1, 0, NULL, NULL, &st), HL_EINVAL);
    cr_assert_eq(hl_keys_reencrypt(NULL, kr, notes_cols, 1, 10, NULL, NULL, &st), HL_EINVAL);
    cr_assert_eq(hl_keys_reencrypt(conn, NULL, notes_cols, 1, 10, NULL, NULL, &st), HL_EINVAL);
    cr_assert_eq(hl_keys_reencrypt(conn, kr, NULL, 0, 10, NULL, NULL, &st), HL_OK);
    hl_crypto_keyring_free(kr);
}

/* The CLI over the real registry and the real contacts table (migration 0002). */
static void insert_contact(hl_crypto_keyring_t *kr, const char *id, const char *summary, const char *phone)
{
    static const char sql[] =
        "INSERT INTO contacts (id, helpline_id, source_system, source_id, channel,"
        " contact_type, started_at, taxonomy_version, summary, caller_phone)"
        " VALUES ($1::uuid, 1, 'test', $1::text, 'phone', 'counselling', now(), '2026.1', $2, $3)";
    uint8_t s[256], p[256];
    size_t sl = 0, pl = 0;
    hl_crypto_ad_t ad = {"contacts", "summary", id};

    cr_assert_eq(hl_crypto_seal(kr, &ad, (const uint8_t *)summary, strlen(summary), s, sizeof(s), &sl),
                 HL_OK);
    ad.column = "caller_phone";
    cr_assert_eq(hl_crypto_seal(kr, &ad, (const uint8_t *)phone, strlen(phone), p, sizeof(p), &pl), HL_OK);
    const char *values[3] = {id, (const char *)s, (const char *)p};
    const int lengths[3] = {0, (int)sl, (int)pl}, formats[3] = {0, 1, 1};
    PGresult *res = PQexecParams(conn, sql, 3, NULL, values, lengths, formats, 0);
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(conn));
    PQclear(res);
}

static int run_admin(hl_admin_fn fn, char *a0, char *a1, char *a2, char *a3)
{
    char *argv[5] = {a0, a1, a2, a3, NULL};
    int argc = a3 != NULL ? 4 : a2 != NULL ? 3 : a1 != NULL ? 2 : 1;
    hl_config_t cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.database_url = db.conninfo;
    cfg.key_file = key_path;
    return fn(argc, argv, &cfg);
}

Test(keys, cli_rotate_and_reencrypt_contacts)
{
    hl_crypto_keyring_t *kr1 = load(), *kr2 = NULL;
    char *pt = NULL;
    size_t ptlen = 0;

    exec("INSERT INTO helplines (code, name, country) VALUES ('ke-116', 'Childline Kenya', 'KE')");
    insert_contact(kr1, "0b5c2f7e-8a1d-4f3e-9c6b-2d7e1f0a9b11", "she is afraid of her uncle",
                   "+254700000001");
    insert_contact(kr1, "0b5c2f7e-8a1d-4f3e-9c6b-2d7e1f0a9b12", "bullied at school", "+254700000002");
    cr_assert_eq(run_admin(hl_admin_keys, "keys", "rotate", NULL, NULL), 0);
    cr_assert_eq(run_admin(hl_admin_keys, "keys", "reencrypt", "--batch", "1"), 0);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM contacts WHERE get_byte(summary, 1) = 2"
                                        " AND get_byte(caller_phone, 1) = 2"),
                 2);
    kr2 = load();
    PGresult *res =
        PQexecParams(conn, "SELECT summary FROM contacts WHERE id = '0b5c2f7e-8a1d-4f3e-9c6b-2d7e1f0a9b11'",
                     0, NULL, NULL, NULL, NULL, 1);
    hl_crypto_ad_t ad = {"contacts", "summary", "0b5c2f7e-8a1d-4f3e-9c6b-2d7e1f0a9b11"};
    cr_assert_eq(hl_crypto_open_alloc(kr2, &ad, (const uint8_t *)PQgetvalue(res, 0, 0),
                                      (size_t)PQgetlength(res, 0, 0), &pt, &ptlen),
                 HL_OK);
    cr_assert_str_eq(pt, "she is afraid of her uncle");
    hl_crypto_wipe_free(pt, ptlen);
    PQclear(res);
    cr_assert_eq(run_admin(hl_admin_keys, "keys", "bogus", NULL, NULL), 2);
    cr_assert_eq(run_admin(hl_admin_keys, "keys", "reencrypt", "--batch", "0"), 2);
    hl_crypto_keyring_free(kr1);
    hl_crypto_keyring_free(kr2);
}

/* The case fields (migration 0007): their AD's record id is "<case id>/<entry or referral id>"
 * for the timeline's and referrals' columns, so re-sealing must rebuild it (sealed_columns.c). */
#define RK_CASE     "6f1c2a5e-0d3b-4c8e-9a7f-2b5d8e1c4a90"
#define RK_ENTRY    "0b5c2f7e-8a1d-4f3e-9c6b-2d7e1f0a9b11"
#define RK_REFERRAL "0b5c2f7e-8a1d-4f3e-9c6b-2d7e1f0a9b12"

static void insert_sealed(hl_crypto_keyring_t *kr, const char *sql, const char *table, const char *column,
                          const char *sub_id, const char *pt)
{
    hl_sealed_t s = {NULL, 0};

    cr_assert_eq(hl_cases_seal(kr, table, column, RK_CASE, sub_id, pt, &s), HL_OK);
    const char *values[1] = {(const char *)s.data};
    const int lengths[1] = {(int)s.len}, formats[1] = {1};
    PGresult *res = PQexecParams(conn, sql, 1, NULL, values, lengths, formats, 0);
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(conn));
    PQclear(res);
    free(s.data);
}

static void expect_opens(hl_crypto_keyring_t *kr, const char *select, const char *table, const char *column,
                         const char *sub_id, const char *want)
{
    PGresult *res = PQexecParams(conn, select, 0, NULL, NULL, NULL, NULL, 1);
    hl_sealed_t s;
    char *pt = NULL;
    size_t len = 0;
    uint32_t kid = 0;

    cr_assert_eq(PQntuples(res), 1, "%s", select);
    s.data = (uint8_t *)PQgetvalue(res, 0, 0);
    s.len = (size_t)PQgetlength(res, 0, 0);
    cr_assert_eq(hl_crypto_envelope_key_id(s.data, s.len, &kid), HL_OK);
    cr_expect_eq(kid, 2, "%s.%s is under key %u", table, column, kid);
    cr_assert_eq(hl_cases_open(kr, table, column, RK_CASE, sub_id, &s, &pt, &len), HL_OK, "%s.%s", table,
                 column);
    cr_expect_str_eq(pt, want);
    hl_crypto_wipe_free(pt, len);
    PQclear(res);
}

Test(keys, cli_reencrypts_case_fields)
{
    hl_crypto_keyring_t *kr1 = load(), *kr2 = NULL;

    exec("INSERT INTO helplines (code, name, country) VALUES ('ke-116', 'Childline Kenya', 'KE')");
    exec("INSERT INTO users (helpline_id, name, role, token_selector, token_hash)"
         " VALUES (1, 'amina', 'counsellor', '\\x01', '\\x02')");
    exec("INSERT INTO cases (id, helpline_id, created_by) VALUES ('" RK_CASE "', 1, 1)");
    insert_sealed(kr1, "UPDATE cases SET label = $1", "cases", "label", NULL, "Wanjiru");
    insert_sealed(kr1, "UPDATE cases SET summary = $1", "cases", "summary", NULL, "afraid of her uncle");
    insert_sealed(kr1,
                  "INSERT INTO case_entries (id, case_id, kind, by_user, text) VALUES ('" RK_ENTRY
                  "', '" RK_CASE "', 'note', 1, $1)",
                  "case_entries", "text", RK_ENTRY, "called the school");
    insert_sealed(
        kr1,
        "INSERT INTO referrals (id, case_id, referral_to, state, organisation) VALUES ('" RK_REFERRAL
        "', '" RK_CASE "', 'referral.law_enforcement', 'made', $1)",
        "referrals", "organisation", RK_REFERRAL, "Police");
    insert_sealed(kr1, "UPDATE referrals SET details = $1", "referrals", "details", RK_REFERRAL,
                  "OB 12/2026");
    cr_assert_eq(run_admin(hl_admin_keys, "keys", "rotate", NULL, NULL), 0);
    cr_assert_eq(run_admin(hl_admin_keys, "keys", "reencrypt", NULL, NULL), 0, "every field re-sealed");
    kr2 = load();
    expect_opens(kr2, "SELECT label FROM cases", "cases", "label", NULL, "Wanjiru");
    expect_opens(kr2, "SELECT summary FROM cases", "cases", "summary", NULL, "afraid of her uncle");
    expect_opens(kr2, "SELECT text FROM case_entries", "case_entries", "text", RK_ENTRY, "called the school");
    expect_opens(kr2, "SELECT organisation FROM referrals", "referrals", "organisation", RK_REFERRAL,
                 "Police");
    expect_opens(kr2, "SELECT details FROM referrals", "referrals", "details", RK_REFERRAL, "OB 12/2026");
    hl_crypto_keyring_free(kr1);
    hl_crypto_keyring_free(kr2);
}

Test(keys, cli_skips_missing_contacts_table)
{
    /* CASCADE: the case tables' foreign keys to contacts (migration 0007) go, the tables stay */
    exec("DROP TABLE contact_terms, contact_categories, contacts CASCADE");
    cr_assert_eq(run_admin(hl_admin_keys, "keys", "reencrypt", NULL, NULL), 0);
}

static uint32_t get_key_id(const PGresult *res)
{
    uint32_t kid = 0;

    cr_assert_eq(hl_crypto_envelope_key_id((const uint8_t *)PQgetvalue(res, 0, 0),
                                           (size_t)PQgetlength(res, 0, 0), &kid),
                 HL_OK);
    return kid;
}

/* A writer that changes a field while the re-encryption waits for its row lock must win:
 * the batch sees the new value (FOR UPDATE re-reads it), never overwrites it with a stale one. */
typedef struct reenc_job {
    hl_crypto_keyring_t *kr;
    hl_keys_stats_t st;
    int rc;
} reenc_job_t;

static void *reenc_thread(void *arg)
{
    reenc_job_t *job = arg;

    job->rc = hl_keys_reencrypt(conn, job->kr, notes_cols, 1, 100, NULL, NULL, &job->st);
    return NULL;
}

Test(keys, concurrent_writer_is_not_overwritten)
{
    hl_crypto_keyring_t *kr1 = load(), *kr2 = NULL;
    PGconn *other = hl_pgtest_connect(&db);
    reenc_job_t job;
    pthread_t t;
    uint32_t id = 0;
    char id3[37], *pt = NULL;
    uint8_t ct[128];
    size_t ctlen = 0, ptlen = 0;

    exec("CREATE TABLE notes (id uuid PRIMARY KEY, body bytea, title bytea)");
    for (int i = 0; i < 8; i++)
        insert_note(kr1, i);
    cr_assert_eq(hl_crypto_keyring_rotate(key_path, &id), HL_OK);
    kr2 = load();

    /* Another session (a daemon that has not reloaded: still key 1) rewrites note 3. */
    note_id(3, id3);
    hl_crypto_ad_t ad = {"notes", "body", id3};
    cr_assert_eq(hl_crypto_seal(kr1, &ad, (const uint8_t *)"rewritten", 9, ct, sizeof(ct), &ctlen), HL_OK);
    PGresult *res = PQexec(other, "BEGIN");
    PQclear(res);
    const char *values[2] = {(const char *)ct, id3};
    const int lengths[2] = {(int)ctlen, 0}, formats[2] = {1, 0};
    res =
        PQexecParams(other, "UPDATE notes SET body = $1 WHERE id = $2", 2, NULL, values, lengths, formats, 0);
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(other));
    PQclear(res);

    job.kr = kr2;
    job.rc = 99;
    cr_assert_eq(pthread_create(&t, NULL, reenc_thread, &job), 0);
    usleep(300 * 1000); /* the re-encryption now waits for note 3's lock */
    res = PQexec(other, "COMMIT");
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert_eq(job.rc, HL_OK);
    cr_assert_eq(job.st.resealed, 8);
    cr_assert_eq(job.st.remaining, 0);

    res = PQexecParams(conn, "SELECT body FROM notes WHERE id = '00000000-0000-4000-8000-000000000003'", 0,
                       NULL, NULL, NULL, NULL, 1);
    cr_assert_eq(PQntuples(res), 1);
    cr_assert_eq(get_key_id(res), 2);
    cr_assert_eq(hl_crypto_open_alloc(kr2, &ad, (const uint8_t *)PQgetvalue(res, 0, 0),
                                      (size_t)PQgetlength(res, 0, 0), &pt, &ptlen),
                 HL_OK);
    cr_assert_str_eq(pt, "rewritten");
    hl_crypto_wipe_free(pt, ptlen);
    PQclear(res);
    PQfinish(other);
    hl_crypto_keyring_free(kr1);
    hl_crypto_keyring_free(kr2);
}
