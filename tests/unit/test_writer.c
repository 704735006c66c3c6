/* The writer against a real PostgreSQL (scripts/with-pg): one fresh database per test. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db/migrate.h"
#include "pgtest.h"
#include "contacts/spool.h"
#include "contacts/rollup.h"
#include "contacts/writer.h"

#define MAX_RESULTS 600

static hl_pgtest_t db;
static PGconn *conn;
static long helpline_id, helpline2_id, user_id;
static char spool_dir[64];

static void setup(void)
{
    int applied = 0;

    hl_pgtest_create(&db);
    conn = hl_pgtest_connect(&db);
    cr_assert_eq(hl_migrate_run(conn, HL_TEST_SRCDIR "/migrations", &applied), HL_OK);
    helpline_id = hl_pgtest_scalar(conn, "INSERT INTO helplines (code, name, country)"
                                         " VALUES ('ke-116', 'Childline Kenya', 'KE') RETURNING id");
    helpline2_id = hl_pgtest_scalar(conn, "INSERT INTO helplines (code, name, country)"
                                          " VALUES ('ug-116', 'Sauti', 'UG') RETURNING id");
    user_id = hl_pgtest_scalar(conn, "INSERT INTO users (helpline_id, name, role, token_selector, token_hash)"
                                     " SELECT id, 'frontend-1', 'frontend', '\\x01', '\\x02'"
                                     " FROM helplines WHERE code = 'ke-116' RETURNING id");
    cr_assert_gt(helpline_id, 0);
    cr_assert_gt(user_id, 0);
    spool_dir[0] = '\0';
}

static void teardown(void)
{
    if (spool_dir[0] != '\0') {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", spool_dir);
        cr_assert_eq(system(cmd), 0);
    }
    PQfinish(conn);
    hl_pgtest_drop(&db);
}

TestSuite(writer, .init = setup, .fini = teardown, .timeout = 120);

/* ------------------------------------------------------------------------------------ */
/* Completions                                                                          */

typedef struct sink {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t n;
    unsigned calls[MAX_RESULTS];
    hl_write_result_t res[MAX_RESULTS];
} sink_t;

typedef struct ticket {
    sink_t *s;
    size_t i;
} ticket_t;

static sink_t sink = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
static ticket_t tickets[MAX_RESULTS];

static void on_done(void *arg, const hl_write_result_t *r)
{
    ticket_t *t = arg;

    pthread_mutex_lock(&t->s->mu);
    t->s->res[t->i] = *r;
    t->s->calls[t->i]++;
    t->s->n++;
    pthread_cond_broadcast(&t->s->cv);
    pthread_mutex_unlock(&t->s->mu);
}

static void wait_for(size_t n)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 60;
    pthread_mutex_lock(&sink.mu);
    while (sink.n < n) {
        if (pthread_cond_timedwait(&sink.cv, &sink.mu, &ts) != 0)
            break;
    }
    cr_assert_geq(sink.n, n, "only %zu of %zu completions", sink.n, n);
    pthread_mutex_unlock(&sink.mu);
}

static hl_write_result_t result(size_t i)
{
    hl_write_result_t r;

    pthread_mutex_lock(&sink.mu);
    cr_assert_eq(sink.calls[i], 1, "record %zu completed %u times", i, sink.calls[i]);
    r = sink.res[i];
    pthread_mutex_unlock(&sink.mu);
    return r;
}

/* ------------------------------------------------------------------------------------ */
/* Records                                                                              */

static const uint8_t child_name_bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0x00, 'x'};
static const uint8_t summary_bytes[] = {0xde, 0xad, 0xbe, 0xef};

static void set_sealed(hl_sealed_t *s, const void *p, size_t n)
{
    s->data = malloc(n);
    cr_assert_not_null(s->data);
    memcpy(s->data, p, n);
    s->len = n;
}

/*
 * A record of HELPLINE from source "test"/SRC; PHONE (0: none) picks the caller's blind index.
 * Its id is a hash of helpline and source, as helplined derives ids (hl_crypto_source_id, with
 * a key): the writer relies on one source having one id.
 */
static hl_record_t *make_rec(long helpline, const char *src, int phone)
{
    hl_record_t *r = NULL;
    char key[160];

    cr_assert_eq(hl_record_new(&r), HL_OK);
    snprintf(key, sizeof(key), "%ld/test/%s", helpline, src);
    crypto_generichash(r->id, HL_RECORD_ID_BYTES, (const unsigned char *)key, strlen(key), NULL, 0);
    r->helpline_id = helpline;
    r->created_by = helpline == helpline_id ? user_id : 0;
    r->source_system = strdup("test");
    r->source_id = strdup(src);
    r->channel = HL_CONTACT_CHANNEL_CHAT;
    r->contact_type = HL_CONTACT_TYPE_COUNSELLING;
    r->started_at = INT64_C(1785000000123456); /* 2026-07-25T17:20:00.123456Z */
    r->has_ended_at = true;
    r->ended_at = r->started_at + 600000000;
    r->counsellor = strdup("c.one");
    r->child_age = 14;
    r->child_gender = HL_CONTACT_GENDER_GIRL;
    r->urgency = HL_CONTACT_URGENCY_URGENT;
    r->n_actions = 2;
    r->actions[0] = HL_CONTACT_ACTION_REFERRAL_LAW_ENFORCEMENT;
    r->actions[1] = HL_CONTACT_ACTION_OTHER;
    r->n_local_categories = 2;
    r->local_categories[0] = strdup("Sextortion");
    r->local_categories[1] = strdup("Quote \" and \\ backslash, comma");
    set_sealed(&r->child_name, child_name_bytes, sizeof(child_name_bytes));
    set_sealed(&r->summary, summary_bytes, sizeof(summary_bytes));
    if (phone != 0) {
        set_sealed(&r->caller_phone, "sealed-phone", 12);
        r->has_phone_bidx = true;
        memset(r->phone_bidx, phone, HL_RECORD_BIDX_BYTES);
    }
    strcpy(r->taxonomy_version, "2026.1");
    r->n_categories = 2;
    strcpy(r->categories[0].code, "violence.online_sexual_abuse_exploitation");
    r->categories[0].source = HL_CATEGORY_MAPPED;
    strcpy(r->categories[1].code, "violence");
    r->categories[1].source = HL_CATEGORY_SUGGESTED;
    r->n_terms = 1;
    strcpy(r->terms[0].term_id, "child_pornography");
    r->terms[0].field = HL_TERM_IN_SUMMARY;
    r->terms[0].occurrences = 2;
    return r;
}

static void submit(hl_writer_t *w, hl_record_t *r, size_t i)
{
    tickets[i] = (ticket_t){.s = &sink, .i = i};
    cr_assert_eq(hl_writer_submit(w, r, on_done, &tickets[i]), HL_OK);
}

/*
 * A completion that blocks until released, to hold the writer thread while the queue fills:
 * with one connection, whatever is submitted meanwhile goes in the next batch, together.
 */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_state; /* 0 closed, 1 writer inside, 2 open */

static void on_done_gate(void *arg, const hl_write_result_t *r)
{
    pthread_mutex_lock(&gate_mu);
    if (gate_state == 0)
        gate_state = 1;
    pthread_cond_broadcast(&gate_cv);
    while (gate_state != 2)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    on_done(arg, r);
}

/* Submits R as record I and returns once the writer thread is held in its completion. */
static void hold(hl_writer_t *w, hl_record_t *r, size_t i)
{
    tickets[i] = (ticket_t){.s = &sink, .i = i};
    cr_assert_eq(hl_writer_submit(w, r, on_done_gate, &tickets[i]), HL_OK);
    pthread_mutex_lock(&gate_mu);
    while (gate_state != 1)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

static void release(void)
{
    pthread_mutex_lock(&gate_mu);
    gate_state = 2;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

static hl_writer_t *start(const char *conninfo, hl_spool_t *spool, unsigned delay_us)
{
    hl_writer_opts_t o = {.conninfo = conninfo, .spool = spool, .max_delay_us = delay_us};
    hl_writer_t *w = NULL;

    cr_assert_eq(hl_writer_start(&o, &w), HL_OK);
    return w;
}

static char *text_of(const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    char *v = NULL;

    cr_assert(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(conn));
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        v = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

static void assert_text(const char *sql, const char *expect)
{
    char *v = text_of(sql);

    if (expect == NULL) {
        cr_assert_null(v, "%s: expected NULL, got %s", sql, v);
    } else {
        cr_assert_not_null(v, "%s: NULL", sql);
        cr_assert_str_eq(v, expect, "%s", sql);
    }
    free(v);
}

static long count_where(const char *where)
{
    char sql[512];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM contacts WHERE %s", where);
    return hl_pgtest_scalar(conn, sql);
}

static hl_spool_t *open_spool(void)
{
    hl_spool_t *sp = NULL;

    strcpy(spool_dir, "/tmp/helpline-wr.XXXXXX");
    cr_assert_not_null(mkdtemp(spool_dir));
    cr_assert_eq(hl_spool_open(spool_dir, &sp), HL_OK);
    return sp;
}

/* ------------------------------------------------------------------------------------ */

Test(writer, one_record_created_with_categories_and_terms)
{
    hl_writer_t *w = start(db.conninfo, NULL, 0);
    hl_record_t *r = make_rec(helpline_id, "call-1", 0);
    uint8_t id[HL_RECORD_ID_BYTES];
    char idtext[HL_RECORD_UUID_LEN + 1], sql[256];
    hl_write_result_t res;
    hl_writer_stats_t st;

    memcpy(id, r->id, sizeof(id));
    hl_record_id_to_text(id, idtext);
    submit(w, r, 0);
    wait_for(1);
    res = result(0);
    cr_assert_eq(res.status, HL_WRITE_CREATED);
    cr_assert_eq(res.err, HL_OK);
    cr_assert_eq(memcmp(res.id, id, sizeof(id)), 0);
    cr_assert_eq(res.previous_contacts, -1);
    hl_writer_get_stats(w, &st);
    cr_assert_eq(st.created, 1);
    cr_assert_eq(st.batches, 1);
    cr_assert(st.database_up);
    hl_writer_stop(w);

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM contacts WHERE id = '%s'", idtext);
    cr_assert_eq(hl_pgtest_scalar(conn, sql), 1);
    assert_text("SELECT source_system || '/' || source_id || ' ' || channel || ' ' || contact_type ||"
                " ' ' || counsellor || ' ' || child_age || ' ' || child_gender || ' ' || urgency ||"
                " ' ' || taxonomy_version FROM contacts",
                "test/call-1 chat counselling c.one 14 girl urgent 2026.1");
    assert_text("SELECT started_at AT TIME ZONE 'UTC' || ' ' || (ended_at AT TIME ZONE 'UTC') FROM contacts",
                "2026-07-25 17:20:00.123456 2026-07-25 17:30:00.123456");
    assert_text("SELECT child_region IS NULL AND caller_relationship IS NULL FROM contacts", "t");
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT created_by FROM contacts"), user_id);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT helpline_id FROM contacts"), helpline_id);
    assert_text("SELECT array_to_string(actions, '|') FROM contacts", "referral.law_enforcement|other");
    assert_text("SELECT local_categories[2] FROM contacts", "Quote \" and \\ backslash, comma");
    assert_text("SELECT cardinality(local_categories) FROM contacts", "2");
    /* sealed columns hold exactly the bytes given, absent ones are NULL */
    assert_text("SELECT encode(child_name, 'hex') FROM contacts", "00017f80ff0078");
    assert_text("SELECT encode(summary, 'hex') FROM contacts", "deadbeef");
    assert_text("SELECT caller_name FROM contacts", NULL);
    assert_text("SELECT caller_phone FROM contacts", NULL);
    assert_text("SELECT transcript FROM contacts", NULL);
    assert_text("SELECT caller_phone_bidx FROM contacts", NULL);
    assert_text("SELECT string_agg(code || ':' || source, ',' ORDER BY code) FROM contact_categories",
                "violence:suggested,violence.online_sexual_abuse_exploitation:mapped");
    assert_text("SELECT term_id || ':' || field || ':' || occurrences FROM contact_terms",
                "child_pornography:summary:2");
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM contact_categories WHERE contact_id = '%s'", idtext);
    cr_assert_eq(hl_pgtest_scalar(conn, sql), 2);
}

typedef struct feeder {
    hl_writer_t *w;
    int k;
} feeder_t;

static void *feed(void *arg)
{
    feeder_t *f = arg;

    for (size_t i = (size_t)f->k; i < 500; i += 8) {
        char src[32];
        snprintf(src, sizeof(src), "bulk-%zu", i);
        submit(f->w, make_rec(helpline_id, src, 0), i);
    }
    return NULL;
}

Test(writer, five_hundred_from_eight_threads_group_commit)
{
    hl_writer_t *w = start(db.conninfo, NULL, 0);
    pthread_t th[8];
    feeder_t f[8];
    hl_writer_stats_t st;

    for (int k = 0; k < 8; k++) {
        f[k] = (feeder_t){.w = w, .k = k};
        cr_assert_eq(pthread_create(&th[k], NULL, feed, &f[k]), 0);
    }
    for (int k = 0; k < 8; k++)
        pthread_join(th[k], NULL);
    wait_for(500);
    for (size_t i = 0; i < 500; i++)
        cr_assert_eq(result(i).status, HL_WRITE_CREATED, "record %zu", i);
    hl_writer_get_stats(w, &st);
    hl_writer_stop(w);
    cr_assert_eq(st.created, 500);
    cr_assert_eq(st.failed + st.duplicates + st.spooled, 0);
    cr_assert_lt(st.batches, 500, "no group commit: %lu batches", (unsigned long)st.batches);
    cr_log_info("500 records in %lu batches", (unsigned long)st.batches);
    cr_assert_eq(count_where("true"), 500);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(DISTINCT source_id) FROM contacts"), 500);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM contact_categories"), 1000);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM contact_terms"), 500);
}

Test(writer, same_source_twice_in_one_batch)
{
    hl_writer_t *w = start(db.conninfo, NULL, 0);
    hl_record_t *a = make_rec(helpline_id, "dup-1", 0), *b = make_rec(helpline_id, "dup-1", 0);
    hl_record_t *c = make_rec(helpline2_id, "dup-1", 0); /* same source, other helpline: distinct */
    uint8_t ida[HL_RECORD_ID_BYTES];
    hl_writer_stats_t st;

    memcpy(ida, a->id, sizeof(ida));
    hold(w, make_rec(helpline2_id, "dup-held", 0), 3);
    submit(w, a, 0);
    submit(w, b, 1);
    submit(w, c, 2);
    release();
    wait_for(4);
    hl_writer_get_stats(w, &st);
    hl_writer_stop(w);
    cr_assert_eq(st.batches, 2); /* the held record's, then a, b and c together */
    cr_assert_eq(result(0).status, HL_WRITE_CREATED);
    cr_assert_eq(result(1).status, HL_WRITE_DUPLICATE);
    cr_assert_eq(memcmp(result(1).id, ida, sizeof(ida)), 0);
    cr_assert_eq(result(2).status, HL_WRITE_CREATED);
    cr_assert_eq(count_where("source_id = 'dup-1'"), 2);
    cr_assert_eq(st.created, 3);
    cr_assert_eq(st.duplicates, 1);
    /* the duplicate inserted no categories of its own */
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM contact_categories"), 6);
}

Test(writer, same_source_later_is_duplicate_with_same_id)
{
    hl_writer_t *w = start(db.conninfo, NULL, 0);
    hl_record_t *a = make_rec(helpline_id, "again-1", 5), *b = make_rec(helpline_id, "again-1", 5);
    uint8_t ida[HL_RECORD_ID_BYTES];

    memcpy(ida, a->id, sizeof(ida));
    submit(w, a, 0);
    wait_for(1);
    submit(w, b, 1);
    wait_for(2);
    hl_writer_stop(w);
    cr_assert_eq(result(0).status, HL_WRITE_CREATED);
    cr_assert_eq(result(1).status, HL_WRITE_DUPLICATE);
    cr_assert_eq(memcmp(result(1).id, ida, sizeof(ida)), 0);
    cr_assert_eq(result(1).previous_contacts, -1);
    cr_assert_eq(count_where("source_id = 'again-1'"), 1);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM contact_terms"), 1);
}

Test(writer, bad_record_fails_alone)
{
    hl_writer_t *w = start(db.conninfo, NULL, 0);
    hl_record_t *bad_fk = make_rec(helpline_id, "bad-fk", 0);
    hl_record_t *bad_check = make_rec(helpline_id, "bad-check", 0);
    hl_record_t *bad_enum = make_rec(helpline_id, "bad-enum", 0);
    hl_writer_stats_t st;

    bad_fk->helpline_id = 999999; /* no such helpline: foreign key */
    bad_fk->created_by = 0;
    bad_check->ended_at = bad_check->started_at - 1; /* CHECK (ended_at >= started_at) */
    bad_enum->channel = (hl_channel_t)77;            /* malformed: refused before SQL */
    hold(w, make_rec(helpline2_id, "held", 0), 6);   /* the six below go in one batch */
    submit(w, make_rec(helpline_id, "good-1", 0), 0);
    submit(w, bad_fk, 1);
    submit(w, make_rec(helpline_id, "good-2", 0), 2);
    submit(w, bad_check, 3);
    submit(w, bad_enum, 4);
    submit(w, make_rec(helpline_id, "good-3", 0), 5);
    release();
    wait_for(7);
    hl_writer_get_stats(w, &st);
    hl_writer_stop(w);
    cr_assert_eq(result(0).status, HL_WRITE_CREATED);
    cr_assert_eq(result(1).status, HL_WRITE_FAILED);
    cr_assert_eq(result(1).err, HL_EINVAL);
    cr_assert_eq(result(2).status, HL_WRITE_CREATED);
    cr_assert_eq(result(3).status, HL_WRITE_FAILED);
    cr_assert_eq(result(3).err, HL_EINVAL);
    cr_assert_eq(result(4).status, HL_WRITE_FAILED);
    cr_assert_eq(result(4).err, HL_EINVAL);
    cr_assert_eq(result(5).status, HL_WRITE_CREATED);
    cr_assert_eq(st.created, 4);
    cr_assert_eq(st.failed, 3);
    cr_assert_eq(count_where("true"), 4);
    cr_assert_eq(count_where("source_id LIKE 'good-%'"), 3);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM contact_categories"), 8);
}

Test(writer, repeat_caller_counts)
{
    hl_writer_t *w = start(db.conninfo, NULL, 0);

    /* phone 1: one alone (held in its completion: the rest go in one batch), then two -> 0, 1, 2 */
    hold(w, make_rec(helpline_id, "p1-a", 1), 0);
    submit(w, make_rec(helpline_id, "p1-b", 1), 1);
    submit(w, make_rec(helpline_id, "p1-c", 1), 2);
    /* phone 2: three in the same batch -> 0, 1, 2; the same number elsewhere -> 0 */
    submit(w, make_rec(helpline_id, "p2-a", 2), 3);
    submit(w, make_rec(helpline2_id, "p2-x", 2), 4);
    submit(w, make_rec(helpline_id, "p2-b", 2), 5);
    submit(w, make_rec(helpline_id, "p2-c", 2), 6);
    /* no phone -> -1; a repeat of p1-a -> duplicate, -1 */
    submit(w, make_rec(helpline_id, "nophone", 0), 7);
    submit(w, make_rec(helpline_id, "p1-a", 1), 8);
    release();
    wait_for(9);
    hl_writer_stop(w);
    cr_assert_eq(result(0).previous_contacts, 0);
    cr_assert_eq(result(1).previous_contacts, 1);
    cr_assert_eq(result(2).previous_contacts, 2);
    cr_assert_eq(result(3).previous_contacts, 0);
    cr_assert_eq(result(4).previous_contacts, 0);
    cr_assert_eq(result(5).previous_contacts, 1);
    cr_assert_eq(result(6).previous_contacts, 2);
    cr_assert_eq(result(7).previous_contacts, -1);
    cr_assert_eq(result(8).status, HL_WRITE_DUPLICATE);
    cr_assert_eq(result(8).previous_contacts, -1);
    cr_assert_eq(count_where("caller_phone_bidx = '\\x01010101010101010101010101010101'"), 3);
}

#define DOWN_CONNINFO "host=/nonexistent/helpline-no-server port=5433 dbname=none connect_timeout=2"

Test(writer, database_down_spools_then_replays)
{
    hl_spool_t *sp = open_spool();
    hl_writer_t *w = start(DOWN_CONNINFO, sp, 0);
    uint8_t ids[6][HL_RECORD_ID_BYTES];
    hl_writer_stats_t st;
    hl_record_t *r;

    for (size_t i = 0; i < 6; i++) {
        char src[32];
        snprintf(src, sizeof(src), "down-%zu", i < 5 ? i : 0); /* the 6th repeats the 1st source */
        r = make_rec(helpline_id, src, 3);
        memcpy(ids[i], r->id, HL_RECORD_ID_BYTES);
        submit(w, r, i);
    }
    wait_for(6);
    for (size_t i = 0; i < 6; i++) {
        cr_assert_eq(result(i).status, HL_WRITE_SPOOLED, "record %zu", i);
        cr_assert_eq(memcmp(result(i).id, ids[i], HL_RECORD_ID_BYTES), 0);
        cr_assert_eq(result(i).previous_contacts, -1);
    }
    hl_writer_get_stats(w, &st);
    cr_assert_eq(st.spooled, 6);
    cr_assert_not(st.database_up);
    hl_writer_stop(w);
    cr_assert_eq(hl_spool_pending(sp), 6);
    cr_assert_eq(count_where("true"), 0);

    /* PostgreSQL is "back": a writer that can connect replays the spool at start-up */
    w = start(db.conninfo, sp, 0);
    for (int tries = 0; tries < 500; tries++) {
        hl_writer_get_stats(w, &st);
        if (st.replayed >= 6)
            break;
        usleep(20000);
    }
    cr_assert_eq(st.replayed, 6);
    cr_assert_eq(hl_spool_pending(sp), 0);
    cr_assert_eq(count_where("true"), 5);
    cr_assert_eq(count_where("source_id = 'down-0'"), 1);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM contact_categories"), 10);

    /* the same source again: a duplicate with the spooled record's id */
    r = make_rec(helpline_id, "down-0", 3);
    submit(w, r, 6);
    wait_for(7);
    cr_assert_eq(result(6).status, HL_WRITE_DUPLICATE);
    cr_assert_eq(memcmp(result(6).id, ids[0], HL_RECORD_ID_BYTES), 0);
    hl_writer_stop(w);
    hl_spool_close(sp);
}

static void exec_ok(const char *sql)
{
    PGresult *res = PQexec(conn, sql);

    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(conn));
    PQclear(res);
}

/*
 * A database where the batch statement cannot be prepared (a table missing, as before
 * `helplined migrate`) is no better than none: records are spooled, and once the table is
 * there the next connection prepares the statement and replays them.
 */
Test(writer, unpreparable_statement_spools_until_the_schema_is_back)
{
    hl_spool_t *sp = open_spool();
    hl_writer_t *w;
    hl_writer_stats_t st;

    exec_ok("ALTER TABLE contact_terms RENAME TO contact_terms_away");
    w = start(db.conninfo, sp, 0);
    submit(w, make_rec(helpline_id, "unprepared-1", 0), 0);
    wait_for(1);
    cr_assert_eq(result(0).status, HL_WRITE_SPOOLED);
    hl_writer_get_stats(w, &st);
    cr_assert_not(st.database_up);

    exec_ok("ALTER TABLE contact_terms_away RENAME TO contact_terms");
    for (int tries = 0; tries < 500; tries++) {
        hl_writer_get_stats(w, &st);
        if (st.replayed >= 1)
            break;
        usleep(20000);
    }
    hl_writer_stop(w);
    cr_assert_eq(st.replayed, 1);
    cr_assert_eq(hl_spool_pending(sp), 0);
    cr_assert_eq(count_where("source_id = 'unprepared-1'"), 1);
    hl_spool_close(sp);
}

Test(writer, replay_drops_what_can_never_be_stored)
{
    hl_spool_t *sp = open_spool();
    hl_writer_t *w = start(DOWN_CONNINFO, sp, 0);
    hl_record_t *orphan = make_rec(helpline_id, "orphan", 0);
    static const char garbage[] = "not a record";
    hl_writer_stats_t st;

    orphan->helpline_id = 999999; /* unknown until PostgreSQL sees it */
    orphan->created_by = 0;
    submit(w, make_rec(helpline_id, "r-1", 0), 0);
    submit(w, orphan, 1);
    wait_for(2);
    cr_assert_eq(hl_spool_append(sp, garbage, sizeof(garbage)), HL_OK);
    submit(w, make_rec(helpline_id, "r-2", 0), 2);
    wait_for(3);
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(result(i).status, HL_WRITE_SPOOLED);
    hl_writer_stop(w);
    cr_assert_eq(hl_spool_pending(sp), 4);

    w = start(db.conninfo, sp, 0);
    for (int tries = 0; tries < 500 && hl_spool_pending(sp) > 0; tries++)
        usleep(20000);
    hl_writer_get_stats(w, &st);
    hl_writer_stop(w);
    cr_assert_eq(hl_spool_pending(sp), 0);
    cr_assert_eq(st.replayed, 2);
    cr_assert_eq(st.failed, 2); /* the orphan and the garbage, logged and dropped */
    cr_assert_eq(count_where("true"), 2);
    cr_assert_eq(count_where("source_id IN ('r-1', 'r-2')"), 2);
    hl_spool_close(sp);
}

Test(writer, database_down_without_spool_fails)
{
    hl_writer_t *w = start(DOWN_CONNINFO, NULL, 0);

    submit(w, make_rec(helpline_id, "lost-1", 0), 0);
    wait_for(1);
    hl_writer_stop(w);
    cr_assert_eq(result(0).status, HL_WRITE_FAILED);
    cr_assert_eq(result(0).err, HL_EDB);
}

Test(writer, reconnects_after_the_connection_is_killed)
{
    char conninfo[1100];
    hl_writer_t *w;
    hl_writer_stats_t st;

    snprintf(conninfo, sizeof(conninfo), "%s application_name=hl_writer_test", db.conninfo);
    w = start(conninfo, NULL, 0);
    submit(w, make_rec(helpline_id, "k-1", 0), 0);
    wait_for(1);
    cr_assert_eq(hl_pgtest_scalar(conn,
                                  "SELECT count(*) FROM (SELECT pg_terminate_backend(pid)"
                                  " FROM pg_stat_activity WHERE application_name = 'hl_writer_test') t"),
                 1);
    usleep(100000);
    submit(w, make_rec(helpline_id, "k-2", 0), 1);
    wait_for(2);
    hl_writer_get_stats(w, &st);
    hl_writer_stop(w);
    cr_assert_eq(result(0).status, HL_WRITE_CREATED);
    cr_assert_eq(result(1).status, HL_WRITE_CREATED);
    cr_assert_eq(count_where("true"), 2);
}

Test(writer, stop_drains_the_queue)
{
    hl_writer_t *w = start(db.conninfo, NULL, 2000000); /* a long batch delay: stop must not wait it out */
    struct timespec t0, t1;

    for (size_t i = 0; i < 50; i++) {
        char src[32];
        snprintf(src, sizeof(src), "drain-%zu", i);
        submit(w, make_rec(helpline_id, src, 0), i);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    hl_writer_stop(w);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_mutex_lock(&sink.mu);
    cr_assert_eq(sink.n, 50);
    pthread_mutex_unlock(&sink.mu);
    for (size_t i = 0; i < 50; i++)
        cr_assert_eq(result(i).status, HL_WRITE_CREATED);
    cr_assert_eq(count_where("true"), 50);
    cr_assert_lt(t1.tv_sec - t0.tv_sec, 2);
}

Test(writer, full_queue_refuses)
{
    hl_writer_opts_t o = {.conninfo = db.conninfo, .max_queue = 2};
    hl_writer_t *w = NULL;
    hl_record_t *extra = make_rec(helpline_id, "q-extra", 0);

    cr_assert_eq(hl_writer_start(&o, &w), HL_OK);
    hold(w, make_rec(helpline_id, "q-0", 0), 0);
    submit(w, make_rec(helpline_id, "q-1", 0), 1);
    submit(w, make_rec(helpline_id, "q-2", 0), 2);
    cr_assert_eq(hl_writer_submit(w, extra, on_done, &tickets[3]), HL_ECONFLICT);
    hl_record_free(extra); /* still ours */
    release();
    wait_for(3);
    hl_writer_stop(w);
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(result(i).status, HL_WRITE_CREATED);
    cr_assert_eq(count_where("true"), 3);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* With no batch in flight PostgreSQL is idle: a record goes at once, not after the delay. */
Test(writer, idle_writer_does_not_wait_out_its_delay)
{
    hl_writer_t *w = start(db.conninfo, NULL, 3000000);
    struct timespec t0;
    double took;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    submit(w, make_rec(helpline_id, "idle-1", 0), 0);
    wait_for(1);
    took = seconds_since(&t0);
    hl_writer_stop(w);
    cr_assert_eq(result(0).status, HL_WRITE_CREATED);
    cr_assert_lt(took, 1.5, "the record waited %.2f s of the 3 s delay", took);
}

/*
 * Two connections: while one batch is in flight (held in its completion), the other thread
 * collects; the end of that batch, not the 3 s delay, ends the wait, and everything queued
 * meanwhile goes in one batch.
 */
Test(writer, batch_in_flight_ends_the_next_ones_wait)
{
    hl_writer_opts_t o = {.conninfo = db.conninfo, .max_delay_us = 3000000, .connections = 2};
    hl_writer_t *w = NULL;
    hl_writer_stats_t st;
    struct timespec t0;
    double took;

    cr_assert_eq(hl_writer_start(&o, &w), HL_OK);
    hold(w, make_rec(helpline_id, "flight-0", 0), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 1; i <= 5; i++) {
        char src[32];
        snprintf(src, sizeof(src), "flight-%zu", i);
        submit(w, make_rec(helpline_id, src, 0), i);
    }
    usleep(100000); /* the other thread is collecting by now */
    pthread_mutex_lock(&sink.mu);
    cr_assert_eq(sink.n, 0, "a batch went while the first was in flight and the delay ran");
    pthread_mutex_unlock(&sink.mu);
    release();
    wait_for(6);
    took = seconds_since(&t0);
    hl_writer_get_stats(w, &st);
    hl_writer_stop(w);
    for (size_t i = 0; i < 6; i++)
        cr_assert_eq(result(i).status, HL_WRITE_CREATED, "record %zu", i);
    cr_assert_eq(st.batches, 2);
    cr_assert_lt(took, 1.5, "the second batch waited %.2f s of the 3 s delay", took);
}

/* Each connection is named in pg_stat_activity, for the operator looking at a busy server. */
Test(writer, connections_are_named)
{
    hl_writer_opts_t o = {.conninfo = db.conninfo, .connections = 2};
    hl_writer_t *w = NULL;
    long named = 0;

    cr_assert_eq(hl_writer_start(&o, &w), HL_OK);
    for (int tries = 0; tries < 500 && named < 2; tries++) {
        named = hl_pgtest_scalar(conn, "SELECT count(*) FROM pg_stat_activity WHERE application_name IN"
                                       " ('helplined writer 0', 'helplined writer 1')");
        if (named < 2)
            usleep(10000);
    }
    hl_writer_stop(w);
    cr_assert_eq(named, 2);
}

/* Ungranted locks of the test database's sessions (other tests run beside it in the cluster):
 * writer transactions waiting for another transaction. By session, since a transaction id lock
 * names no database. */
static long waiting_locks(void)
{
    return hl_pgtest_scalar(conn, "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid IN"
                                  " (SELECT pid FROM pg_stat_activity WHERE datname = current_database())");
}

static void wait_for_waiting_locks(long n)
{
    long got = 0;

    for (int tries = 0; tries < 1000 && (got = waiting_locks()) < n; tries++)
        usleep(10000);
    cr_assert_geq(got, n, "only %ld transaction(s) waiting, expected %ld", got, n);
}

/*
 * Two connections, the same source in two concurrent batches. The test holds the helpline row
 * (FOR UPDATE), so the first batch inserts its contact, then waits in its foreign-key check
 * before COMMIT; the second batch, on the other connection, waits for the first on the unique
 * source key (ON CONFLICT DO NOTHING waits for an uncommitted row). Once the first commits, the
 * second skips the row without seeing it in its snapshot, and answers DUPLICATE with the stored id.
 */
Test(writer, same_source_in_two_concurrent_batches)
{
    hl_writer_opts_t o = {.conninfo = db.conninfo, .max_delay_us = 1, .connections = 2};
    hl_writer_t *w = NULL;
    hl_record_t *a = make_rec(helpline_id, "race-1", 4), *b = make_rec(helpline_id, "race-1", 4);
    uint8_t ida[HL_RECORD_ID_BYTES];
    char sql[128];
    hl_writer_stats_t st;
    PGresult *res;

    memcpy(ida, a->id, sizeof(ida));
    cr_assert_eq(hl_writer_start(&o, &w), HL_OK);
    res = PQexec(conn, "BEGIN");
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM (SELECT 1 FROM helplines WHERE id = %ld FOR UPDATE) t",
             helpline_id);
    cr_assert_eq(hl_pgtest_scalar(conn, sql), 1);

    submit(w, a, 0);
    wait_for_waiting_locks(1); /* the first batch, in its foreign-key check */
    submit(w, b, 1);
    wait_for_waiting_locks(2); /* the second, on the first's uncommitted source key */
    pthread_mutex_lock(&sink.mu);
    cr_assert_eq(sink.n, 0, "a completion before COMMIT");
    pthread_mutex_unlock(&sink.mu);
    res = PQexec(conn, "COMMIT");
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);

    wait_for(2);
    hl_writer_get_stats(w, &st);
    hl_writer_stop(w);
    cr_assert_eq(result(0).status, HL_WRITE_CREATED);
    cr_assert_eq(result(0).previous_contacts, 0);
    cr_assert_eq(result(1).status, HL_WRITE_DUPLICATE);
    cr_assert_eq(memcmp(result(1).id, ida, sizeof(ida)), 0);
    cr_assert_eq(result(1).previous_contacts, -1);
    cr_assert_eq(st.created, 1);
    cr_assert_eq(st.duplicates, 1);
    cr_assert_eq(st.failed + st.spooled, 0);
    cr_assert_geq(st.batches, 2);
    cr_assert_eq(count_where("source_id = 'race-1'"), 1);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM contact_categories"), 2);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM contact_terms"), 1);
    cr_assert_eq(
        hl_pgtest_scalar(conn, "SELECT coalesce(sum(contacts), 0) FROM stats_pending WHERE level = 'total'"),
        1);
}

/* Polls SQL (a count) until it reaches N, for up to 10 s. */
static void wait_for_count(const char *sql, long n)
{
    long got = 0;

    for (int tries = 0; tries < 1000 && (got = hl_pgtest_scalar(conn, sql)) < n; tries++)
        usleep(10000);
    cr_assert_geq(got, n, "%s: %ld, expected %ld", sql, got, n);
}

/*
 * Two daemons storing the same source at once meet on the primary key first: the id is derived
 * from the source, and contacts_pkey is the first index an insert fills. This test widens the
 * window between a transaction's two unique index entries with a slow index between them (the
 * source key recreated after it), so the first batch has its id in contacts_pkey but not yet its
 * source in the source key when the second one starts. An ON CONFLICT that named only the
 * source key missed the first row, and the second insert failed on contacts_pkey with 23505: a
 * valid contact refused as bad input (400). It must be a DUPLICATE with the same id.
 */
Test(writer, same_source_racing_on_the_primary_key)
{
    hl_writer_opts_t o = {.conninfo = db.conninfo, .max_delay_us = 1, .connections = 2};
    hl_writer_t *w = NULL;
    hl_record_t *a = make_rec(helpline_id, "pk-race", 4), *b = make_rec(helpline_id, "pk-race", 4);
    uint8_t ida[HL_RECORD_ID_BYTES];
    hl_writer_stats_t st;

    exec_ok("CREATE FUNCTION slow_uuid(uuid) RETURNS uuid LANGUAGE plpgsql IMMUTABLE"
            " AS $$BEGIN PERFORM pg_sleep(0.5); RETURN $1; END$$");
    exec_ok("CREATE INDEX contacts_slow ON contacts (slow_uuid(id))");
    exec_ok("ALTER TABLE contacts DROP CONSTRAINT contacts_helpline_id_source_system_source_id_key,"
            " ADD CONSTRAINT contacts_source_key UNIQUE (helpline_id, source_system, source_id)");
    memcpy(ida, a->id, sizeof(ida));
    cr_assert_eq(hl_writer_start(&o, &w), HL_OK);
    submit(w, a, 0);
    /* the first batch has filled contacts_pkey and sleeps in the slow index */
    wait_for_count("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'", 1);
    submit(w, b, 1);
    wait_for(2);
    hl_writer_get_stats(w, &st);
    hl_writer_stop(w);
    cr_assert_eq(result(0).status, HL_WRITE_CREATED);
    cr_assert_eq(result(1).status, HL_WRITE_DUPLICATE, "status %d, error %s", (int)result(1).status,
                 hl_strerror(result(1).err));
    cr_assert_eq(memcmp(result(1).id, ida, sizeof(ida)), 0);
    cr_assert_eq(st.failed + st.spooled, 0);
    cr_assert_eq(count_where("source_id = 'pk-race'"), 1);
}

/*
 * Two daemons whose batches hold the same two sources in opposite orders ([s1, s2] and [s2, s1]).
 * Taken in batch order, each inserts its first source and waits for the other's: a deadlock,
 * which PostgreSQL breaks only after deadlock_timeout (1 s), and a retry. Inserted in id order,
 * both start with the same source, so the second waits for the first and no cycle forms. A slow
 * index (0.2 s per row) makes the two batches overlap for sure.
 */
Test(writer, opposite_batches_of_two_daemons_do_not_deadlock)
{
    hl_writer_t *w1 = start(db.conninfo, NULL, 1), *w2 = start(db.conninfo, NULL, 1);
    hl_writer_stats_t st1, st2;

    exec_ok("CREATE FUNCTION slow_uuid(uuid) RETURNS uuid LANGUAGE plpgsql IMMUTABLE"
            " AS $$BEGIN PERFORM pg_sleep(0.2); RETURN $1; END$$");
    exec_ok("CREATE INDEX contacts_slow ON contacts (slow_uuid(id))");
    /* each writer held in the completion of a record of its own, so the next two go in one batch */
    hold(w1, make_rec(helpline_id, "held-1", 0), 0);
    tickets[1] = (ticket_t){.s = &sink, .i = 1};
    cr_assert_eq(hl_writer_submit(w2, make_rec(helpline_id, "held-2", 0), on_done_gate, &tickets[1]), HL_OK);
    wait_for_count("SELECT count(*) FROM contacts WHERE source_id = 'held-2'", 1);
    submit(w1, make_rec(helpline_id, "s1", 0), 2);
    submit(w1, make_rec(helpline_id, "s2", 0), 3);
    submit(w2, make_rec(helpline_id, "s2", 0), 4);
    submit(w2, make_rec(helpline_id, "s1", 0), 5);
    release();
    wait_for(6);
    hl_writer_get_stats(w1, &st1);
    hl_writer_get_stats(w2, &st2);
    hl_writer_stop(w1);
    hl_writer_stop(w2);
    cr_assert_eq(st1.deadlocks + st2.deadlocks, 0, "%lu deadlock(s)",
                 (unsigned long)(st1.deadlocks + st2.deadlocks));
    cr_assert_eq(st1.failed + st2.failed, 0);
    cr_assert_eq(st1.created + st2.created, 4);
    cr_assert_eq(st1.duplicates + st2.duplicates, 2);
    cr_assert_eq(memcmp(result(2).id, result(5).id, HL_RECORD_ID_BYTES), 0);
    cr_assert_eq(memcmp(result(3).id, result(4).id, HL_RECORD_ID_BYTES), 0);
    cr_assert_eq(count_where("source_id IN ('s1', 's2')"), 2);
}

/*
 * A read-only database (a hot standby, or default_transaction_read_only) cannot store anything:
 * contacts go to the spool (202), not to a refusal (503), and are replayed once it accepts writes.
 */
Test(writer, read_only_database_spools_then_replays)
{
    hl_spool_t *sp = open_spool();
    hl_writer_t *w;
    hl_writer_stats_t st;
    char sql[256];

    snprintf(sql, sizeof(sql), "ALTER DATABASE \"%s\" SET default_transaction_read_only = on", db.name);
    exec_ok(sql);
    w = start(db.conninfo, sp, 0);
    submit(w, make_rec(helpline_id, "ro-1", 0), 0);
    wait_for(1);
    cr_assert_eq(result(0).status, HL_WRITE_SPOOLED, "status %d, error %s", (int)result(0).status,
                 hl_strerror(result(0).err));
    cr_assert_eq(hl_spool_pending(sp), 1);
    snprintf(sql, sizeof(sql), "ALTER DATABASE \"%s\" RESET default_transaction_read_only", db.name);
    exec_ok(sql);
    wait_for_count("SELECT count(*) FROM contacts WHERE source_id = 'ro-1'", 1);
    hl_writer_get_stats(w, &st);
    hl_writer_stop(w);
    cr_assert_eq(st.spooled, 1);
    cr_assert_eq(st.failed, 0);
    hl_spool_close(sp);
}

/*
 * A table locked by someone else for a long time (a migration, an operator's LOCK TABLE): the
 * batch gives up after its lock_timeout and the contact is spooled within seconds (202), not
 * answered when the lock goes (201 after 39 s, never spooled). Once the lock is gone, it is stored.
 */
Test(writer, locked_table_spools_within_seconds)
{
    hl_spool_t *sp = open_spool();
    hl_writer_t *w = start(db.conninfo, sp, 0);
    struct timespec t0;
    double took;

    submit(w, make_rec(helpline_id, "before-lock", 0), 0);
    wait_for(1);
    exec_ok("BEGIN");
    exec_ok("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    submit(w, make_rec(helpline_id, "locked-1", 0), 1);
    wait_for(2);
    took = seconds_since(&t0);
    cr_assert_eq(result(1).status, HL_WRITE_SPOOLED, "status %d", (int)result(1).status);
    cr_assert_lt(took, 4.0, "spooled after %.2f s", took);
    exec_ok("COMMIT");
    wait_for_count("SELECT count(*) FROM contacts WHERE source_id = 'locked-1'", 1);
    hl_writer_stop(w);
    hl_spool_close(sp);
}

typedef struct twin_feeder {
    hl_writer_t *w;
    int k;
    uint8_t (*ids)[HL_RECORD_ID_BYTES];
} twin_feeder_t;

/* Records 2j and 2j+1 share source twin-j and come from two different threads. */
static void *feed_twins(void *arg)
{
    twin_feeder_t *f = arg;

    for (size_t i = (size_t)f->k; i < 500; i += 8) {
        char src[32];
        hl_record_t *r;

        snprintf(src, sizeof(src), "twin-%zu", i / 2);
        r = make_rec(helpline_id, src, (int)(i % 3));
        memcpy(f->ids[i], r->id, HL_RECORD_ID_BYTES);
        submit(f->w, r, i);
    }
    return NULL;
}

/* Two connections under load, every source twice: one row and one id per source, every count right. */
Test(writer, two_connections_every_source_twice)
{
    hl_writer_opts_t o = {.conninfo = db.conninfo, .max_delay_us = 500, .max_batch = 32, .connections = 2};
    static uint8_t ids[500][HL_RECORD_ID_BYTES];
    hl_writer_t *w = NULL;
    pthread_t th[8];
    twin_feeder_t f[8];
    hl_writer_stats_t st;
    uint64_t rows = 0, cells = 0;

    cr_assert_eq(hl_writer_start(&o, &w), HL_OK);
    for (int k = 0; k < 8; k++) {
        f[k] = (twin_feeder_t){.w = w, .k = k, .ids = ids};
        cr_assert_eq(pthread_create(&th[k], NULL, feed_twins, &f[k]), 0);
    }
    for (int k = 0; k < 8; k++)
        pthread_join(th[k], NULL);
    wait_for(500);
    hl_writer_get_stats(w, &st);
    cr_assert(st.database_up);
    hl_writer_stop(w);
    for (size_t j = 0; j < 250; j++) {
        hl_write_result_t x = result(2 * j), y = result(2 * j + 1);
        const hl_write_result_t *created = x.status == HL_WRITE_CREATED ? &x : &y;
        const hl_write_result_t *dup = x.status == HL_WRITE_CREATED ? &y : &x;

        cr_assert_eq(created->status, HL_WRITE_CREATED, "source twin-%zu", j);
        cr_assert_eq(dup->status, HL_WRITE_DUPLICATE, "source twin-%zu", j);
        cr_assert_eq(memcmp(created->id, dup->id, HL_RECORD_ID_BYTES), 0, "source twin-%zu", j);
        cr_assert(memcmp(created->id, ids[2 * j], HL_RECORD_ID_BYTES) == 0 ||
                  memcmp(created->id, ids[2 * j + 1], HL_RECORD_ID_BYTES) == 0);
    }
    cr_assert_eq(st.created, 250);
    cr_assert_eq(st.duplicates, 250);
    cr_assert_eq(st.failed + st.spooled, 0);
    cr_log_info("500 records (250 sources twice) in %lu batches on two connections",
                (unsigned long)st.batches);
    cr_assert_eq(count_where("true"), 250);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM contact_categories"), 500);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT count(*) FROM contact_terms"), 250);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT sum(contacts) FROM stats_pending WHERE level = 'total'"),
                 250);
    cr_assert_eq(hl_rollup_merge(conn, &rows, &cells), HL_OK);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT sum(contacts) FROM stats_daily WHERE level = 'total'"), 250);
    cr_assert_eq(hl_pgtest_scalar(conn, "SELECT sum(contacts) FROM stats_monthly WHERE level = 'total'"),
                 250);
}
