/*
 * GET /v1/contacts (api.md "Lists") against the real daemon and PostgreSQL: roles and helplines,
 * every filter, bad input, cursors (paging, tampering, reuse), paging while contacts arrive,
 * caller_of through the blind index, and no sealed field in any list.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "util.h"

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

TestSuite(lists, .init = start, .fini = stop, .timeout = 90);

static const char *const ITEM_KEYS[] = {"id",         "started_at", "channel", "contact_type",
                                        "counsellor", "categories", "urgency", "case_id"};

/* Posts it_contact() without ended_at and with the members of EXTRA (a JSON object text, may be
 * NULL) replaced, as TOKEN; returns the status and the new id in ID. Sources are unique per
 * call. No Criterion assertion: the paging test calls it from a second thread. */
static long try_post(const char *token, const char *extra, char id[64])
{
    static atomic_uint seq;
    char source[32];
    json_t *c, *e = NULL, *reply = NULL;
    long status;

    snprintf(source, sizeof(source), "lists-%u", atomic_fetch_add(&seq, 1));
    c = it_contact(source);
    json_object_del(c, "ended_at");
    if (extra != NULL && (e = json_loads(extra, 0, NULL)) == NULL) {
        json_decref(c);
        return -1;
    }
    json_object_update(c, e);
    json_decref(e);
    status = it_post(&d, token, c, &reply);
    if (id != NULL)
        snprintf(id, 64, "%s", status == 201 ? it_str(reply, "id") : "");
    json_decref(reply);
    return status;
}

static void post(const char *token, const char *extra, char id[64])
{
    long status = try_post(token, extra, id);

    cr_assert_eq(status, 201, "POST %s: %ld", extra != NULL ? extra : "", status);
}

/* GET /v1/contacts?QUERY as TOKEN: the status, the JSON reply in *OUT (may be NULL), the raw
 * body in *RAW (may be NULL). */
static long get(const char *token, const char *query, json_t **out, char **raw)
{
    char path[1024];
    long status = 0;
    json_t *r;

    snprintf(path, sizeof(path), "/v1/contacts%s%s", query[0] != '\0' ? "?" : "", query);
    r = hl_testd_request(&d, "GET", path, token, NULL, NULL, &status, raw);
    if (out != NULL)
        *out = r;
    else
        json_decref(r);
    return status;
}

/* The items of a 200 reply; checks the shape of every item. */
static json_t *list(const char *token, const char *query)
{
    json_t *r = NULL;
    long status = get(token, query, &r, NULL);
    json_t *items = json_object_get(r, "items"), *it;
    size_t i;

    cr_assert_eq(status, 200, "GET /v1/contacts?%s: %ld", query, status);
    cr_assert(json_is_array(items), "%s: no items", query);
    cr_assert(json_object_get(r, "next_cursor") != NULL, "%s: no next_cursor", query);
    json_array_foreach(items, i, it)
    {
        cr_assert_eq(json_object_size(it), HL_ARRAY_LEN(ITEM_KEYS), "%s: item %zu has %zu members", query, i,
                     json_object_size(it));
        for (size_t k = 0; k < HL_ARRAY_LEN(ITEM_KEYS); k++)
            cr_assert_not_null(json_object_get(it, ITEM_KEYS[k]), "%s: item %zu lacks %s", query, i,
                               ITEM_KEYS[k]);
        cr_assert(json_is_array(json_object_get(it, "categories")));
    }
    json_incref(items);
    json_decref(r);
    return items;
}

static size_t count(const char *token, const char *query)
{
    json_t *items = list(token, query);
    size_t n = json_array_size(items);

    json_decref(items);
    return n;
}

/* Exactly the ids given (in this order, newest first), NULL-terminated. */
static void expect_ids(const char *token, const char *query, ...)
{
    json_t *items = list(token, query);
    va_list ap;
    size_t n = 0;
    const char *want;

    va_start(ap, query);
    while ((want = va_arg(ap, const char *)) != NULL) {
        cr_expect(n < json_array_size(items) && strcmp(it_str(json_array_get(items, n), "id"), want) == 0,
                  "%s: item %zu is %s, want %s", query, n,
                  n < json_array_size(items) ? it_str(json_array_get(items, n), "id") : "(none)", want);
        n++;
    }
    va_end(ap);
    cr_expect_eq(json_array_size(items), n, "%s: %zu items, want %zu", query, json_array_size(items), n);
    json_decref(items);
}

/* A 400 (or STATUS) naming FIELD with CODE, and a message that does not repeat VALUE. */
static void expect_refused(const char *token, const char *query, long want, const char *code,
                           const char *field, const char *value)
{
    json_t *r = NULL;
    char *raw = NULL;
    long status = get(token, query, &r, &raw);

    cr_expect_eq(status, want, "%s: %ld, want %ld", query, status, want);
    cr_expect_str_eq(it_str(r, "error/code") != NULL ? it_str(r, "error/code") : "", code, "%s", query);
    cr_expect_str_eq(it_str(r, "error/field") != NULL ? it_str(r, "error/field") : "", field, "%s", query);
    if (value != NULL && strlen(value) > 3)
        cr_expect(!it_contains(raw, strlen(raw), value), "%s: the reply repeats the value", query);
    json_decref(r);
    free(raw);
}

/* ---- roles and helplines ------------------------------------------------------------------ */

Test(lists, counsellor_own_supervisor_admin_helpline_others_refused)
{
    const hl_testd_tokens_t *t = &d.tokens;
    char a1[64], a2[64], b1[64], f1[64], z1[64];

    post(t->counsellor, "{\"started_at\": \"2026-11-20T08:00:00Z\"}", a1);
    post(t->frontend, "{\"counsellor\": \"amina\", \"started_at\": \"2026-11-21T08:00:00Z\"}", a2);
    post(t->counsellor2, "{\"started_at\": \"2026-11-22T08:00:00Z\"}", b1);
    post(t->frontend, "{\"started_at\": \"2026-11-23T08:00:00Z\"}", f1); /* no counsellor */
    post(t->za_counsellor, "{\"started_at\": \"2026-11-24T08:00:00Z\"}", z1);

    expect_ids(t->counsellor, "", a2, a1, NULL);
    expect_ids(t->counsellor, "counsellor=me", a2, a1, NULL);
    expect_ids(t->counsellor, "counsellor=amina", a2, a1, NULL);
    expect_ids(t->counsellor2, "", b1, NULL);
    expect_refused(t->counsellor, "counsellor=baraka", 403, "forbidden", "counsellor", NULL);
    expect_ids(t->supervisor, "", f1, b1, a2, a1, NULL);
    expect_ids(t->admin, "", f1, b1, a2, a1, NULL);
    expect_ids(t->supervisor, "counsellor=amina", a2, a1, NULL);
    expect_ids(t->supervisor, "counsellor=nobody", NULL);
    expect_ids(t->admin, "counsellor=me", NULL); /* demo-admin logged nothing */
    expect_ids(t->za_admin, "", z1, NULL);
    expect_ids(t->za_counsellor, "", z1, NULL);

    expect_refused(t->network, "", 403, "forbidden", "", NULL);
    expect_refused(t->frontend, "", 403, "forbidden", "", NULL);
    expect_refused(NULL, "", 401, "unauthenticated", "", NULL);

    json_t *items = list(t->supervisor, "");
    json_t *first = json_array_get(items, 0);
    cr_expect_str_eq(it_str(first, "started_at"), "2026-11-23T08:00:00Z");
    cr_expect_str_eq(it_str(first, "channel"), "phone");
    cr_expect_str_eq(it_str(first, "contact_type"), "counselling");
    cr_expect_str_eq(it_str(first, "urgency"), "urgent");
    cr_expect(json_is_null(json_object_get(first, "counsellor")));
    cr_expect(json_is_null(json_object_get(first, "case_id")));
    cr_expect_eq(json_array_size(json_object_get(first, "categories")), 1);
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(first, "categories"), 0)),
                     "violence.bullying");
    cr_expect_str_eq(it_str(json_array_get(items, 2), "counsellor"), "amina");
    json_decref(items);

    /* POST stays as it was on the same path; other methods name both. */
    hl_testd_resp_t resp = {0};
    hl_testd_do(&d, &(hl_testd_req_t){.method = "DELETE", .path = "/v1/contacts", .token = t->admin}, &resp);
    cr_expect_eq(resp.status, 405);
    cr_expect(strstr(resp.allow, "GET") != NULL && strstr(resp.allow, "POST") != NULL, "Allow: %s",
              resp.allow);
    hl_testd_resp_free(&resp);
}

/* ---- filters ------------------------------------------------------------------------------- */

Test(lists, every_filter)
{
    const char *adm = d.tokens.admin;
    char early[64], late_day[64], next_day[64], sms[64], chat_critical[64], info[64], suggested[64],
        two_cats[64], linked[64];
    char q[256];

    post(adm, "{\"started_at\": \"2026-10-01T00:00:00Z\"}", early);
    post(adm, "{\"started_at\": \"2026-11-22T23:59:59.999999Z\"}", late_day);
    post(adm, "{\"started_at\": \"2026-11-23T00:00:00Z\"}", next_day);
    post(adm,
         "{\"started_at\": \"2026-11-24T10:00:00Z\", \"channel\": \"sms\", "
         "\"categories\": [\"mental_health.self_harm\"], \"counsellor\": \"baraka\"}",
         sms);
    post(adm,
         "{\"started_at\": \"2026-11-25T10:00:00Z\", \"channel\": \"chat\", "
         "\"urgency\": \"critical\", \"categories\": [\"violence\"]}",
         chat_critical);
    post(adm,
         "{\"started_at\": \"2026-11-26T10:00:00Z\", \"contact_type\": \"information\", "
         "\"urgency\": null, \"categories\": [\"access_to_services.education\"]}",
         info);
    /* A category suggested by the summary is not confirmed: not listed, not matched. */
    post(adm,
         "{\"started_at\": \"2026-11-27T10:00:00Z\", "
         "\"categories\": [\"peer_relationships.friends_friendships\"], \"summary\": \"child sexual abuse\"}",
         suggested);
    post(adm,
         "{\"started_at\": \"2026-11-28T10:00:00Z\", "
         "\"categories\": [\"violence.cyberbullying\", \"education_occupation.academic_issues\"]}",
         two_cats);
    post(adm, "{\"started_at\": \"2026-11-29T10:00:00Z\"}", linked);
    snprintf(q, sizeof(q),
             "SELECT count(*) FROM contact_categories WHERE contact_id = '%s' AND source = 'suggested'",
             suggested);
    cr_assert_eq(it_scalar(&d, q), 1, "test premise: the summary suggests a category");

    /* from and to: dates of started_at, both days included, in UTC */
    expect_ids(adm, "to=2026-11-22", late_day, early, NULL);
    expect_ids(adm, "from=2026-11-23&to=2026-11-23", next_day, NULL);
    expect_ids(adm, "from=2026-11-28", linked, two_cats, NULL);
    expect_ids(adm, "from=2026-11-22&to=2026-11-24", sms, next_day, late_day, NULL);

    /* category: a top-level code includes its subcategories; a leaf is itself */
    expect_ids(adm, "category=violence", linked, two_cats, chat_critical, next_day, late_day, early, NULL);
    expect_ids(adm, "category=violence.cyberbullying", two_cats, NULL);
    expect_ids(adm, "category=education_occupation", two_cats, NULL);
    expect_ids(adm, "category=mental_health", sms, NULL);
    expect_ids(adm, "category=peer_relationships.friends_friendships", suggested, NULL);
    expect_ids(adm, "category=violence.sexual_violence", NULL);
    json_t *items = list(adm, "category=peer_relationships");
    cr_assert_eq(json_array_size(items), 1);
    json_t *cats = json_object_get(json_array_get(items, 0), "categories");
    cr_expect_eq(json_array_size(cats), 1, "suggested categories are not listed");
    json_decref(items);
    items = list(adm, "category=education_occupation");
    cats = json_object_get(json_array_get(items, 0), "categories");
    cr_expect_eq(json_array_size(cats), 2);
    cr_expect_str_eq(json_string_value(json_array_get(cats, 0)), "education_occupation.academic_issues");
    cr_expect_str_eq(json_string_value(json_array_get(cats, 1)), "violence.cyberbullying");
    json_decref(items);

    /* channel, contact_type, urgency, counsellor */
    expect_ids(adm, "channel=sms", sms, NULL);
    expect_ids(adm, "channel=chat", chat_critical, NULL);
    expect_ids(adm, "channel=email", NULL);
    expect_ids(adm, "contact_type=information", info, NULL);
    expect_ids(adm, "urgency=critical", chat_critical, NULL);
    expect_ids(adm, "counsellor=baraka", sms, NULL);

    /* case: none, or a case id (links made here as the cases API would: case_contacts) */
    PGconn *db = hl_testd_db(&d);
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO cases (id, helpline_id, created_by) SELECT 'c0000000-0000-4000-8000-000000000001', "
             "helpline_id, created_by FROM contacts WHERE id = '%s';"
             "INSERT INTO case_contacts (contact_id, case_id) VALUES ('%s', "
             "'c0000000-0000-4000-8000-000000000001'),"
             " ('%s', 'c0000000-0000-4000-8000-000000000001')",
             linked, linked, early);
    PGresult *res = PQexec(db, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(db));
    PQclear(res);
    PQfinish(db);
    expect_ids(adm, "case=c0000000-0000-4000-8000-000000000001", linked, early, NULL);
    expect_ids(adm, "case=C0000000-0000-4000-8000-000000000001", linked, early, NULL); /* any case */
    expect_ids(adm, "case=c0000000-0000-4000-8000-000000000002", NULL);
    expect_ids(adm, "case=none", two_cats, suggested, info, chat_critical, sms, next_day, late_day, NULL);
    items = list(adm, "case=c0000000-0000-4000-8000-000000000001");
    cr_expect_str_eq(it_str(json_array_get(items, 0), "case_id"), "c0000000-0000-4000-8000-000000000001");
    json_decref(items);
    /* one contact says which case it is in too (null when none) */
    char path[128];
    long status;
    snprintf(path, sizeof(path), "/v1/contacts/%s", linked);
    json_t *one = hl_testd_request(&d, "GET", path, adm, NULL, NULL, &status, NULL);
    cr_expect_eq(status, 200);
    cr_expect_str_eq(it_str(one, "case_id"), "c0000000-0000-4000-8000-000000000001");
    json_decref(one);
    snprintf(path, sizeof(path), "/v1/contacts/%s", sms);
    one = hl_testd_request(&d, "GET", path, adm, NULL, NULL, &status, NULL);
    cr_expect_eq(status, 200);
    cr_expect(json_is_null(json_object_get(one, "case_id")));
    json_decref(one);

    /* AND of several, and limit */
    expect_ids(adm, "category=violence&case=none&to=2026-11-22", late_day, NULL);
    expect_ids(adm, "category=violence&channel=phone&urgency=urgent&from=2026-11-23", linked, two_cats,
               next_day, NULL);
    expect_ids(adm, "limit=2", linked, two_cats, NULL);
    cr_expect_eq(count(adm, "limit=200"), 9);
    cr_expect_eq(count(adm, ""), 9);
}

/* ---- bad input ------------------------------------------------------------------------------ */

Test(lists, bad_values_are_400_naming_the_parameter)
{
    static const struct {
        const char *query, *code, *field, *value;
    } cases[] = {
        {"from=2026-13-01", "invalid_field", "from", NULL},
        {"from=", "invalid_field", "from", NULL},
        {"from=2026-11-22T00:00:00Z", "invalid_field", "from", NULL},
        {"to=2026-02-30", "invalid_field", "to", NULL},
        {"from=2026-11-22&to=2026-11-21", "invalid_field", "to", NULL},
        {"counsellor=", "invalid_field", "counsellor", NULL},
        {"counsellor=a%20b", "invalid_field", "counsellor", NULL},
        {"counsellor=%27%3Bdrop", "invalid_field", "counsellor", NULL},
        {"category=violence.nope", "unknown_category", "category", "violence.nope"},
        {"category=", "unknown_category", "category", NULL},
        {"channel=fax", "invalid_field", "channel", NULL},
        {"channel=PHONE", "invalid_field", "channel", NULL},
        {"contact_type=chatting", "invalid_field", "contact_type", "chatting"},
        {"urgency=high", "invalid_field", "urgency", NULL},
        {"case=nothing", "invalid_field", "case", "nothing"},
        {"case=", "invalid_field", "case", NULL},
        {"case=c0000000-0000-4000-8000-00000000000", "invalid_field", "case", NULL},
        {"caller_of=xyz", "invalid_field", "caller_of", NULL},
        {"caller_of=00000000-0000-4000-8000-000000000000", "invalid_field", "caller_of", NULL},
        {"limit=0", "invalid_field", "limit", NULL},
        {"limit=201", "invalid_field", "limit", NULL},
        {"limit=-1", "invalid_field", "limit", NULL},
        {"limit=+5", "invalid_field", "limit", NULL},
        {"limit=5x", "invalid_field", "limit", NULL},
        {"limit=", "invalid_field", "limit", NULL},
        {"limit=99999999999999999999999", "invalid_field", "limit", NULL},
        {"cursor=", "invalid_field", "cursor", NULL},
        {"cursor=notacursor", "invalid_field", "cursor", "notacursor"},
        {"cursor=AQAGJ32KAy5AAAECAwQFBgcICQoLDA0OD3wBb6DLWVBEaUl3wKmjDK8", "invalid_field", "cursor", NULL},
    };
    char za[64];

    post(d.tokens.za_counsellor, NULL, za);
    for (size_t i = 0; i < HL_ARRAY_LEN(cases); i++)
        expect_refused(d.tokens.supervisor, cases[i].query, 400, cases[i].code, cases[i].field,
                       cases[i].value);
    /* A contact of another helpline is no contact of this one. */
    char q[128];
    snprintf(q, sizeof(q), "caller_of=%s", za);
    expect_refused(d.tokens.admin, q, 400, "invalid_field", "caller_of", NULL);
}

/* ---- cursors ------------------------------------------------------------------------------- */

static char *next_cursor(const char *token, const char *query, json_t **items)
{
    json_t *r = NULL;
    long status = get(token, query, &r, NULL);
    const char *c;
    char *out;

    cr_assert_eq(status, 200, "%s: %ld", query, status);
    c = it_str(r, "next_cursor");
    out = c != NULL ? strdup(c) : NULL;
    if (items != NULL)
        *items = json_incref(json_object_get(r, "items"));
    json_decref(r);
    return out;
}

Test(lists, cursor_pages_then_tampering_and_reuse_refused)
{
    const char *sup = d.tokens.supervisor;
    char ids[7][64], q[512], *c1, *c2, *c3;
    json_t *p1, *p2, *p3, *again;

    /* Two with the same started_at: the id breaks the tie. */
    for (int i = 0; i < 7; i++) {
        char extra[128];
        snprintf(extra, sizeof(extra), "{\"started_at\": \"2026-11-%02dT10:00:00Z\"}", i < 2 ? 10 : 10 + i);
        post(d.tokens.frontend, extra, ids[i]);
    }
    c1 = next_cursor(sup, "limit=3", &p1);
    cr_assert_not_null(c1);
    snprintf(q, sizeof(q), "limit=3&cursor=%s", c1);
    c2 = next_cursor(sup, q, &p2);
    cr_assert_not_null(c2);
    snprintf(q, sizeof(q), "limit=3&cursor=%s", c2);
    c3 = next_cursor(sup, q, &p3);
    cr_expect_null(c3, "the last page has no next_cursor");
    cr_assert_eq(json_array_size(p1), 3);
    cr_assert_eq(json_array_size(p2), 3);
    cr_assert_eq(json_array_size(p3), 1);
    /* Newest first: ids[6], ids[5], ..., ids[2], then the two of the same time by id. */
    const char *want[7] = {ids[6],
                           ids[5],
                           ids[4],
                           ids[3],
                           ids[2],
                           strcmp(ids[0], ids[1]) > 0 ? ids[0] : ids[1],
                           strcmp(ids[0], ids[1]) > 0 ? ids[1] : ids[0]};
    json_t *pages[3] = {p1, p2, p3};
    for (int i = 0, p = 0, k = 0; i < 7; i++, k++) {
        if (k == (int)json_array_size(pages[p])) {
            p++;
            k = 0;
        }
        cr_expect_str_eq(it_str(json_array_get(pages[p], (size_t)k), "id"), want[i], "position %d", i);
    }

    /* The same cursor again: the same page. */
    snprintf(q, sizeof(q), "limit=3&cursor=%s", c1);
    free(next_cursor(sup, q, &again));
    cr_expect(json_equal(again, p2));
    json_decref(again);

    /* Each character changed: 400 on cursor. */
    for (size_t i = 0; i < strlen(c1); i++) {
        char bad[128];
        snprintf(bad, sizeof(bad), "%s", c1);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        snprintf(q, sizeof(q), "limit=3&cursor=%s", bad);
        expect_refused(sup, q, 400, "invalid_field", "cursor", NULL);
    }
    /* Another query: another filter, another limit, an added filter. */
    snprintf(q, sizeof(q), "limit=3&channel=phone&cursor=%s", c1);
    expect_refused(sup, q, 400, "invalid_field", "cursor", NULL);
    snprintf(q, sizeof(q), "limit=4&cursor=%s", c1);
    expect_refused(sup, q, 400, "invalid_field", "cursor", NULL);
    snprintf(q, sizeof(q), "cursor=%s", c1);
    expect_refused(sup, q, 400, "invalid_field", "cursor", NULL);
    free(c1);
    c1 = next_cursor(sup, "limit=6", NULL);
    cr_assert_not_null(c1);
    snprintf(q, sizeof(q), "limit=6&cursor=%s", c1);
    cr_expect_eq(count(sup, q), 1);
    /* Another user, even of the same helpline and role-wide view. */
    snprintf(q, sizeof(q), "limit=6&cursor=%s", c1);
    expect_refused(d.tokens.admin, q, 400, "invalid_field", "cursor", NULL);
    free(c1);
    c1 = next_cursor(sup, "", NULL);
    cr_expect_null(c1, "7 contacts fit in one page of 50");
    free(c2);
    json_decref(p1);
    json_decref(p2);
    json_decref(p3);
}

/* counsellor=me and the counsellor's own default are one query for the cursor. */
Test(lists, counsellor_me_and_default_share_cursors)
{
    char *c;
    char q[256];

    for (int i = 0; i < 3; i++)
        post(d.tokens.counsellor, NULL, NULL);
    c = next_cursor(d.tokens.counsellor, "limit=2", NULL);
    cr_assert_not_null(c);
    snprintf(q, sizeof(q), "limit=2&counsellor=me&cursor=%s", c);
    cr_expect_eq(count(d.tokens.counsellor, q), 1);
    snprintf(q, sizeof(q), "limit=2&counsellor=amina&cursor=%s", c);
    cr_expect_eq(count(d.tokens.counsellor, q), 1);
    /* amina's cursor is not baraka's */
    snprintf(q, sizeof(q), "limit=2&cursor=%s", c);
    expect_refused(d.tokens.counsellor2, q, 400, "invalid_field", "cursor", NULL);
    free(c);
}

/* ---- paging while contacts arrive -------------------------------------------------------- */

#define INITIAL 60
#define PAGE    7
#define MAX_NEW 120

typedef struct poster {
    atomic_int posted;
    atomic_bool stop, failed;
    char ids[MAX_NEW][64];
} poster_t;

/* Posts contacts older and newer than the initial ones, alternately, until told to stop. */
static void *poster_run(void *arg)
{
    poster_t *p = arg;

    for (int i = 0; i < MAX_NEW && !atomic_load(&p->stop); i++) {
        char extra[128];
        /* Initial contacts are on 2026-11-01 .. 2026-11-30; these before or after them. */
        snprintf(extra, sizeof(extra), "{\"started_at\": \"%s-%02dT%02d:%02d:00Z\"}",
                 i % 2 == 0 ? "2026-12" : "2026-10", 1 + i % 28, (i / 28) % 24, i % 60);
        if (try_post(d.tokens.frontend, extra, p->ids[i]) != 201) {
            atomic_store(&p->failed, true);
            break;
        }
        atomic_fetch_add(&p->posted, 1);
    }
    return NULL;
}

static bool in_list(char (*ids)[64], int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (strcmp(ids[i], id) == 0)
            return true;
    return false;
}

Test(lists, pages_stable_while_contacts_arrive)
{
    static char initial[INITIAL][64], seen[INITIAL + MAX_NEW][64];
    static poster_t poster;
    pthread_t th;
    char q[256], *cursor = NULL, prev_started[64] = "", prev_id[64] = "";
    int n_seen = 0, pages = 0;

    for (int i = 0; i < INITIAL; i++) {
        char extra[128];
        snprintf(extra, sizeof(extra), "{\"started_at\": \"2026-11-%02dT%02d:00:00Z\"}", 1 + i % 30, i / 30);
        post(d.tokens.frontend, extra, initial[i]);
    }
    cr_assert_eq(pthread_create(&th, NULL, poster_run, &poster), 0);
    do {
        json_t *items = NULL, *it;
        size_t i;
        /* Wait for at least one more contact between two pages, so that every page boundary
         * sees contacts arrive (polled, no sleep as synchronisation). */
        int before = atomic_load(&poster.posted);
        double deadline = hl_testd_now() + 20;
        while (atomic_load(&poster.posted) == before && before < MAX_NEW && !atomic_load(&poster.failed) &&
               hl_testd_now() < deadline)
            usleep(1000);
        cr_assert(!atomic_load(&poster.failed), "a POST failed while paging");
        cr_assert(atomic_load(&poster.posted) > before || before == MAX_NEW, "the poster stopped posting");
        snprintf(q, sizeof(q), "limit=%d%s%s", PAGE, cursor != NULL ? "&cursor=" : "",
                 cursor != NULL ? cursor : "");
        free(cursor);
        cursor = next_cursor(d.tokens.supervisor, q, &items);
        json_array_foreach(items, i, it)
        {
            const char *id = it_str(it, "id"), *started = it_str(it, "started_at");
            cr_assert(!in_list(seen, n_seen, id), "duplicate %s on page %d", id, pages);
            /* strictly newest first across pages: (started_at, id) decreasing */
            cr_assert(prev_started[0] == '\0' || strcmp(started, prev_started) < 0 ||
                          (strcmp(started, prev_started) == 0 && strcmp(id, prev_id) < 0),
                      "order broken at %s", id);
            snprintf(prev_started, sizeof(prev_started), "%s", started);
            snprintf(prev_id, sizeof(prev_id), "%s", id);
            snprintf(seen[n_seen++], 64, "%s", id);
        }
        json_decref(items);
        pages++;
    } while (cursor != NULL);
    atomic_store(&poster.stop, true);
    pthread_join(th, NULL);
    int posted = atomic_load(&poster.posted);
    cr_assert(!atomic_load(&poster.failed), "a POST failed while paging");
    cr_assert_geq(posted, pages < MAX_NEW ? pages : MAX_NEW, "contacts arrived during paging: %d in %d pages",
                  posted, pages);
    for (int i = 0; i < INITIAL; i++)
        cr_expect(in_list(seen, n_seen, initial[i]), "initial contact %d missing", i);
    for (int i = 0; i < n_seen; i++)
        cr_expect(in_list(initial, INITIAL, seen[i]) || in_list(poster.ids, posted, seen[i]),
                  "%s is neither initial nor new", seen[i]);
}

/* ---- caller_of ---------------------------------------------------------------------------- */

Test(lists, caller_of_by_blind_index_within_the_helpline)
{
    const hl_testd_tokens_t *t = &d.tokens;
    char a[64], b[64], c[64], other[64], none[64], za[64], q[128];

    post(t->counsellor,
         "{\"started_at\": \"2026-11-01T10:00:00Z\", \"caller\": {\"phone\": \"+254 700 000 001\"}}", a);
    post(t->counsellor,
         "{\"started_at\": \"2026-11-02T10:00:00Z\", \"caller\": {\"phone\": \"254700000001\"}}", b);
    post(t->frontend,
         "{\"started_at\": \"2026-11-03T10:00:00Z\", \"counsellor\": \"baraka\", \"caller\": {\"phone\": "
         "\"+254-700-000-001\"}}",
         c);
    post(t->counsellor,
         "{\"started_at\": \"2026-11-04T10:00:00Z\", \"caller\": {\"phone\": \"+254700000002\"}}", other);
    post(t->counsellor, "{\"started_at\": \"2026-11-05T10:00:00Z\"}", none);
    post(t->za_counsellor, "{\"caller\": {\"phone\": \"+254700000001\"}}", za);

    snprintf(q, sizeof(q), "caller_of=%s", a);
    expect_ids(t->supervisor, q, c, b, a, NULL);
    snprintf(q, sizeof(q), "caller_of=%s", c);
    expect_ids(t->admin, q, c, b, a, NULL);
    snprintf(q, sizeof(q), "caller_of=%s", other);
    expect_ids(t->supervisor, q, other, NULL);
    snprintf(q, sizeof(q), "caller_of=%s", none);
    expect_ids(t->supervisor, q, NULL); /* no number, no same-number contacts */
    snprintf(q, sizeof(q), "caller_of=%s&limit=1", a);
    json_t *items = NULL;
    char *cursor = next_cursor(t->supervisor, q, &items);
    cr_assert_not_null(cursor);
    json_decref(items);
    snprintf(q, sizeof(q), "caller_of=%s&limit=1&cursor=%s", a, cursor);
    expect_ids(t->supervisor, q, b, NULL);
    snprintf(q, sizeof(q), "caller_of=%s&limit=1&cursor=%s", b, cursor);
    expect_refused(t->supervisor, q, 400, "invalid_field", "cursor", NULL);
    free(cursor);
    /* The counsellor: own contacts of that number only, from own contacts only. */
    snprintf(q, sizeof(q), "caller_of=%s", a);
    expect_ids(t->counsellor, q, b, a, NULL);
    snprintf(q, sizeof(q), "caller_of=%s", c);
    expect_refused(t->counsellor, q, 403, "forbidden", "caller_of", NULL);
    snprintf(q, sizeof(q), "caller_of=%s", a);
    expect_refused(t->counsellor2, q, 403, "forbidden", "caller_of", NULL);
    /* Another helpline's contact of the same number is not one of ours, and the reverse. */
    snprintf(q, sizeof(q), "caller_of=%s", za);
    expect_ids(t->za_admin, q, za, NULL);
    expect_refused(t->admin, q, 400, "invalid_field", "caller_of", NULL);
}

/* ---- no sealed field, no audit ------------------------------------------------------------- */

Test(lists, no_sealed_field_in_any_list_and_no_audit)
{
    const hl_testd_tokens_t *t = &d.tokens;
    char child[48], caller[48], summary[48], transcript[48], body[1024], id[64], q[128];
    const char *tokens[] = {t->counsellor, t->supervisor, t->admin};

    it_marker(child, sizeof(child), "Child");
    it_marker(caller, sizeof(caller), "Caller");
    it_marker(summary, sizeof(summary), "Summary");
    it_marker(transcript, sizeof(transcript), "Transcript");
    snprintf(
        body, sizeof(body),
        "{\"child\": {\"age\": 12, \"name\": \"%s\"}, \"caller\": {\"relationship\": \"parent\", \"name\": "
        "\"%s\", \"phone\": \"+254 733 918 274\"}, \"summary\": \"%s\", \"transcript\": \"%s\"}",
        child, caller, summary, transcript);
    post(t->counsellor, body, id);
    post(t->counsellor, body, NULL);
    long audits = it_scalar(&d, "SELECT count(*) FROM audit_log");

    snprintf(q, sizeof(q), "caller_of=%s", id);
    const char *queries[] = {"", "counsellor=amina", "category=violence", q};
    for (size_t i = 0; i < HL_ARRAY_LEN(tokens); i++) {
        for (size_t k = 0; k < HL_ARRAY_LEN(queries); k++) {
            char *raw = NULL;
            json_t *r = NULL;
            cr_assert_eq(get(tokens[i], queries[k], &r, &raw), 200, "%s", queries[k]);
            cr_assert_eq(json_array_size(json_object_get(r, "items")), 2, "%s", queries[k]);
            size_t len = strlen(raw);
            const char *secrets[] = {child, caller, summary, transcript, "733918274", "733 918 274"};
            for (size_t s = 0; s < HL_ARRAY_LEN(secrets); s++)
                cr_expect(!it_contains(raw, len, secrets[s]), "%s leaks %s", queries[k], secrets[s]);
            cr_expect(!it_contains(raw, len, "\"name\":") && !it_contains(raw, len, "\"phone\":") &&
                          !it_contains(raw, len, "\"summary\":") && !it_contains(raw, len, "\"transcript\":"),
                      "%s", raw);
            json_decref(r);
            free(raw);
        }
    }
    cr_expect_eq(it_scalar(&d, "SELECT count(*) FROM audit_log"), audits, "lists write no audit rows");
}

/* ---- the client: helpline contacts ------------------------------------------------------------ */

typedef struct {
    int status;
    char *out, *err;
} run_t;

/* Runs the helpline client with ARGS (NULL-terminated) against URL with TOKEN. */
static run_t run_cli(const char *url, const char *token, const char *const *args)
{
    char out_path[HL_TESTD_PATH_LEN + 16], err_path[HL_TESTD_PATH_LEN + 16];
    char *argv[32];
    size_t n = 0;
    run_t r = {.status = -1};
    int status;

    snprintf(out_path, sizeof(out_path), "%s/cli.out", d.dir);
    snprintf(err_path, sizeof(err_path), "%s/cli.err", d.dir);
    argv[n++] = HL_TEST_BUILDDIR "/helpline";
    for (size_t i = 0; args[i] != NULL && n < 31; i++)
        argv[n++] = (char *)(uintptr_t)args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY), o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600),
            e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || o < 0 || e < 0)
            _exit(127);
        dup2(in, 0);
        dup2(o, 1);
        dup2(e, 2);
        unsetenv("HELPLINE_CONFIG");
        setenv("HOME", d.dir, 1);
        setenv("HELPLINE_URL", url, 1);
        setenv("HELPLINE_TOKEN", token, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = hl_testd_read_file(out_path, NULL);
    r.err = hl_testd_read_file(err_path, NULL);
    cr_assert(r.out != NULL && r.err != NULL);
    return r;
}

static size_t lines(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

Test(lists, client_table_pages_all_json_and_exit_statuses)
{
    const char *tok = d.tokens.counsellor;
    char ids[5][64], extra[96], cursor[128];
    run_t r;

    for (int i = 0; i < 5; i++) {
        snprintf(extra, sizeof(extra), "{\"started_at\": \"2026-11-%02dT10:3%d:00Z\"}", 10 + i, i);
        post(tok, extra, ids[i]);
    }
    r = run_cli(d.url, tok, (const char *const[]){"contacts", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strncmp(r.out, "id ", 3) == 0 && strstr(r.out, "started") != NULL &&
                  strstr(r.out, "categories") != NULL,
              "%s", r.out);
    cr_expect_eq(lines(r.out), 6, "%s", r.out);
    for (int i = 0; i < 5; i++)
        cr_expect(strstr(r.out, ids[i]) != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "2026-11-14 10:34") < strstr(r.out, "2026-11-10 10:30"), "newest first: %s",
              r.out);
    cr_expect(strstr(r.out, "violence.bullying") != NULL);
    free(r.out);
    free(r.err);

    /* One page of two, then the next from the printed cursor. */
    r = run_cli(d.url, tok, (const char *const[]){"contacts", "--limit", "2", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *more = strstr(r.out, "--cursor ");
    cr_assert_not_null(more, "%s", r.out);
    cr_assert_eq(sscanf(more + 9, "%127s", cursor), 1);
    cr_expect(strstr(r.out, ids[4]) != NULL && strstr(r.out, ids[3]) != NULL &&
              strstr(r.out, ids[2]) == NULL);
    free(r.out);
    free(r.err);
    r = run_cli(d.url, tok, (const char *const[]){"contacts", "--limit", "2", "--cursor", cursor, NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, ids[2]) != NULL && strstr(r.out, ids[1]) != NULL && strstr(r.out, ids[4]) == NULL,
              "%s", r.out);
    free(r.out);
    free(r.err);

    /* --all: every page in one table; with --json one page per line. */
    r = run_cli(d.url, tok,
                (const char *const[]){"contacts", "--limit", "2", "--all", "--counsellor", "me", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(lines(r.out), 6, "%s", r.out);
    cr_expect(strstr(r.out, "--cursor") == NULL);
    free(r.out);
    free(r.err);
    r = run_cli(d.url, tok, (const char *const[]){"contacts", "--limit", "2", "--all", "--json", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(lines(r.out), 3, "%s", r.out);
    size_t total = 0;
    for (char *line = strtok(r.out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        json_t *page = json_loads(line, 0, NULL);
        cr_assert_not_null(page, "%s", line);
        total += json_array_size(json_object_get(page, "items"));
        json_decref(page);
    }
    cr_expect_eq(total, 5);
    free(r.out);
    free(r.err);

    /* Exit statuses: 2 usage, 1 the server said no (with its message), 3 unreachable. */
    static const struct {
        const char *args[5];
        int status;
        const char *msg;
    } cases[] = {
        {{"contacts", "--channel", "fax", NULL}, 2, "--channel must be one of"},
        {{"contacts", "--limit", "0", NULL}, 2, "--limit"},
        {{"contacts", "--from", "22-11-2026", NULL}, 2, "--from"},
        {{"contacts", "--case", "some", NULL}, 2, "--case"},
        {{"contacts", "stray", NULL}, 2, "unexpected argument"},
        {{"contacts", "--all", "--cursor", "x", NULL}, 2, "not both"},
        {{"contacts", "--category", "nope", NULL}, 1, "(category)"},
        {{"contacts", "--counsellor", "baraka", NULL}, 1, "(counsellor)"},
        {{"contacts", "--cursor", "AAAA", NULL}, 1, "(cursor)"},
    };
    for (size_t i = 0; i < HL_ARRAY_LEN(cases); i++) {
        r = run_cli(d.url, tok, cases[i].args);
        cr_expect_eq(r.status, cases[i].status, "case %zu: exit %d: %s", i, r.status, r.err);
        cr_expect(strstr(r.err, cases[i].msg) != NULL, "case %zu: %s", i, r.err);
        free(r.out);
        free(r.err);
    }
    r = run_cli("http://127.0.0.1:1", tok, (const char *const[]){"contacts", NULL});
    cr_expect_eq(r.status, 3, "%s", r.err);
    free(r.out);
    free(r.err);
    r = run_cli(d.url, tok, (const char *const[]){"contacts", "--help", NULL});
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "--caller-of") != NULL);
    free(r.out);
    free(r.err);
}
