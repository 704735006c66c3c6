/*
 * design.md invariant 1 end to end: after contacts with unique names, phone numbers, summaries
 * and transcripts went through every path (create, duplicate, read, supervisor read, PATCH,
 * classify, refused input), neither a pg_dump of the database (also hex-encoded, as bytea
 * appears there), nor the daemon's whole debug log, nor its spool hold any of those strings;
 * and no error reply echoes a submitted value.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "itest.h"

#define N_CONTACTS 5
#define MAX_MARKS  128

static hl_testd_t d;

static void start(void)
{
    hl_testd_start(&d, NULL);
}

static void stop(void)
{
    int status = hl_testd_stop(&d);

    cr_expect_eq(status, 0, "helplined did not exit cleanly on SIGTERM (wait status 0x%x)", (unsigned)status);
}

TestSuite(privacy, .init = start, .fini = stop, .timeout = 120);

static char marks[MAX_MARKS][96];
static size_t n_marks;

static const char *mark(const char *prefix)
{
    cr_assert_lt(n_marks, MAX_MARKS);
    it_marker(marks[n_marks], sizeof(marks[n_marks]), prefix);
    return marks[n_marks++];
}

/* A phone number "+254 7DD DDD DDD" with random digits; its digits alone are a marker too. */
static const char *phone_mark(void)
{
    unsigned char r[8];
    char digits[16];

    cr_assert_eq(getrandom(r, sizeof(r), 0), (ssize_t)sizeof(r));
    for (int i = 0; i < 8; i++)
        digits[i] = (char)('0' + r[i] % 10);
    cr_assert_lt(n_marks + 1, MAX_MARKS);
    snprintf(marks[n_marks], sizeof(marks[0]), "+254 7%.2s %.3s %.3s", digits, digits + 2, digits + 5);
    snprintf(marks[n_marks + 1], sizeof(marks[0]), "2547%.8s", digits);
    n_marks += 2;
    return marks[n_marks - 2];
}

static void expect_clean(const char *what, const char *text, size_t len)
{
    for (size_t i = 0; i < n_marks; i++) {
        cr_expect(!it_contains(text, len, marks[i]), "%s holds the plaintext \"%s\"", what, marks[i]);
        cr_expect(!it_contains_hex(text, len, marks[i]), "%s holds the plaintext \"%s\" hex-encoded", what,
                  marks[i]);
    }
}

static void expect_error_clean(json_t *reply, const char *raw, const char *what)
{
    cr_expect_not_null(it_str(reply, "error/code"), "%s: %s", what, raw);
    for (size_t i = 0; i < n_marks; i++)
        cr_expect_null(strstr(raw, marks[i]), "%s: the error reply echoes \"%s\": %s", what, marks[i], raw);
}

Test(privacy, no_plaintext_in_dump_log_or_spool)
{
    char ids[N_CONTACTS][64], path[128], sid[32];
    long status;
    json_t *r;
    char *raw;

    for (int i = 0; i < N_CONTACTS; i++) {
        json_t *c = it_contact("x");
        snprintf(sid, sizeof(sid), "priv-%d", i);
        json_object_set_new(json_object_get(c, "source"), "id", json_string(sid));
        json_object_set_new(json_object_get(c, "child"), "name", json_string(mark("Childname")));
        json_object_set_new(json_object_get(c, "caller"), "name", json_string(mark("Callername")));
        json_object_set_new(json_object_get(c, "caller"), "phone", json_string(phone_mark()));
        char summary[256], transcript[256];
        snprintf(summary, sizeof(summary), "%s said a man called her a child prostitute", mark("Summary"));
        snprintf(transcript, sizeof(transcript), "counsellor: hello\nchild: %s", mark("Transcript"));
        json_object_set_new(c, "summary", json_string(summary));
        json_object_set_new(c, "transcript", json_string(transcript));
        json_t *dup = json_deep_copy(c);

        cr_assert_eq(it_post(&d, d.tokens.counsellor, c, &r), 201);
        snprintf(ids[i], sizeof(ids[i]), "%s", it_str(r, "id"));
        json_decref(r);

        /* the same source again with other sensitive values: 200, and those are never stored either */
        json_object_set_new(json_object_get(dup, "child"), "name", json_string(mark("Dupname")));
        json_object_set_new(dup, "summary", json_string(mark("Dupsummary")));
        cr_expect_eq(it_post(&d, d.tokens.counsellor, dup, NULL), 200);
    }

    /* reads: the owner (full), the admin (full), a supervisor */
    for (int i = 0; i < N_CONTACTS; i++) {
        snprintf(path, sizeof(path), "/v1/contacts/%.36s", ids[i]);
        const char *readers[] = {d.tokens.counsellor, d.tokens.admin, d.tokens.supervisor};
        for (int k = 0; k < 3; k++) {
            r = hl_testd_request(&d, "GET", path, readers[k], NULL, NULL, &status, NULL);
            cr_expect_eq(status, 200);
            if (k < 2)
                cr_expect_not_null(it_str(r, "child/name"), "the owner reads the name back");
            json_decref(r);
        }
        /* a PATCH with new values */
        json_t *p = json_pack("{s:s, s:{s:s, s:s}}", "summary", mark("Patched"), "caller", "phone",
                              phone_mark(), "name", mark("Newcaller"));
        char *body = it_dump(p);
        r = hl_testd_request(&d, "PATCH", path, d.tokens.counsellor, "application/json", body, &status, NULL);
        cr_expect_eq(status, 200);
        json_decref(r);
        free(body);
    }

    /* classify stores nothing and logs nothing of the text */
    char text[256];
    snprintf(text, sizeof(text), "{\"text\": \"%s is a child prostitute\"}", mark("Classified"));
    r = hl_testd_request(&d, "POST", "/v1/classify", d.tokens.counsellor, "application/json", text, &status,
                         NULL);
    cr_expect_eq(status, 200);
    json_decref(r);

    /* refused input: the error names the field, never the value */
    struct {
        const char *pointer;
        const char *prefix;
    } bad[] = {
        {"/child/gender", "Gendervalue"}, {"/caller/phone", "Phoneletters"},
        {"/channel", "Channelvalue"},     {"/categories", NULL},
        {"/local_categories", NULL},      {"/started_at", "Timevalue"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *c = it_contact("priv-bad");
        char value[160];
        if (bad[i].prefix != NULL)
            snprintf(value, sizeof(value), "\"%s\"", mark(bad[i].prefix));
        else
            snprintf(value, sizeof(value), "[\"%s\"]",
                     strcmp(bad[i].pointer, "/categories") == 0 ? mark("unknowncode") : mark("Unknownlabel"));
        if (strcmp(bad[i].pointer, "/categories") == 0) {
            /* category codes are lower-case: use the marker lower-cased */
            for (char *q = value; *q != '\0'; q++)
                *q = (char)(*q >= 'A' && *q <= 'Z' ? *q - 'A' + 'a' : *q);
            snprintf(marks[n_marks - 1], sizeof(marks[0]), "%.*s", (int)strlen(value) - 4, value + 2);
        }
        it_mutate(c, bad[i].pointer, value);
        json_object_set_new(json_object_get(c, "child"), "name", json_string(mark("Refusedname")));
        char *body = it_dump(c);
        r = hl_testd_request(&d, "POST", "/v1/contacts", d.tokens.counsellor, "application/json", body,
                             &status, &raw);
        cr_expect_eq(status, 400, "%s: %ld", bad[i].pointer, status);
        expect_error_clean(r, raw, bad[i].pointer);
        json_decref(r);
        free(raw);
        free(body);
    }
    /* malformed JSON around a sensitive value */
    char broken[256];
    snprintf(broken, sizeof(broken), "{\"child\": {\"name\": \"%s\"", mark("Brokenjson"));
    r = hl_testd_request(&d, "POST", "/v1/contacts", d.tokens.counsellor, "application/json", broken, &status,
                         &raw);
    cr_expect_eq(status, 400);
    expect_error_clean(r, raw, "malformed JSON");
    json_decref(r);
    free(raw);
    cr_expect_eq(it_scalar(&d, "SELECT count(*) FROM contacts"), N_CONTACTS);

    /* the database, dumped */
    char dump[HL_TESTD_PATH_LEN + 16];
    size_t len;
    snprintf(dump, sizeof(dump), "%s/dump.sql", d.dir);
    cr_assert_eq(hl_testd_pg_dump(d.conninfo, dump), 0, "pg_dump failed (see %s.log)", dump);
    char *text_dump = hl_testd_read_file(dump, &len);
    cr_assert_not_null(text_dump);
    cr_assert(it_contains(text_dump, len, "priv-4"),
              "the dump holds the contacts (source ids are not sensitive)");
    cr_assert(it_contains(text_dump, len, "COPY public.contacts"), "the dump holds the contacts table");
    expect_clean("pg_dump", text_dump, len);
    free(text_dump);

    /* the daemon's whole log, at debug level */
    char *log = hl_testd_read_file(d.log, &len);
    cr_assert_not_null(log);
    cr_assert(it_contains(log, len, "helplined ready"), "the log is the daemon's");
    expect_clean("the daemon's log", log, len);
    free(log);

    /* the spool (nothing was spooled here; the durability suite checks a full one) */
    size_t n_files;
    char *spool = it_read_tree(d.spool, &len, &n_files);
    expect_clean("the spool", spool, len);
    free(spool);
}
