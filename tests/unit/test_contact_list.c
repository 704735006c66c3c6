/*
 * server/contact_list against a real PostgreSQL (scripts/with-pg): every filter, paged with
 * small pages, both ways of finding a category's contacts, compared with a plain reference query.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casework/contact_list.h"
#include "db/migrate.h"
#include "pgtest.h"

#define CASE_ID "c0000000-0000-4000-8000-000000000001"

static hl_pgtest_t db;
static PGconn *conn;
static long helpline_id;

static void exec_ok(const char *sql)
{
    PGresult *res = PQexec(conn, sql);

    cr_assert(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s",
              sql, PQerrorMessage(conn));
    PQclear(res);
}

/*
 * 400 contacts in helpline 1 (and 40 in helpline 2) whose columns cycle with different periods,
 * so every filter keeps some and drops others; each pair shares its started_at (ties broken by
 * id). Categories: given, mapped and suggested ones; ten contacts linked to a case.
 */
static void setup(void)
{
    int applied = 0;

    hl_pgtest_create(&db);
    conn = hl_pgtest_connect(&db);
    cr_assert_eq(hl_migrate_run(conn, HL_TEST_SRCDIR "/migrations", &applied), HL_OK);
    helpline_id = hl_pgtest_scalar(conn, "INSERT INTO helplines (code, name, country)"
                                         " VALUES ('ke-116', 'Childline Kenya', 'KE') RETURNING id");
    exec_ok("INSERT INTO helplines (code, name, country) VALUES ('ug-116', 'Sauti', 'UG')");
    exec_ok("INSERT INTO users (helpline_id, name, role, token_selector, token_hash)"
            " SELECT id, 'amina', 'counsellor', '\\x01', '\\x02' FROM helplines WHERE code = 'ke-116'");
    exec_ok(
        "INSERT INTO contacts (id, helpline_id, source_system, source_id, channel, contact_type, started_at,"
        " counsellor, urgency, caller_phone_bidx, taxonomy_version)"
        " SELECT md5('c' || i)::uuid, h.id, 's', i::text,"
        "  (ARRAY['phone', 'chat', 'sms'])[1 + i % 3],"
        "  (ARRAY['counselling', 'information', 'silent', 'referral'])[1 + i % 4],"
        "  timestamptz '2026-01-01' + (i / 2) * interval '7 hours',"
        "  (ARRAY['amina', 'baraka', NULL])[1 + (i / 2) % 3],"
        "  (ARRAY[NULL, 'urgent', 'critical', 'non_critical', NULL])[1 + i % 5],"
        "  CASE WHEN i % 7 = 0 THEN '\\x0102030405060708090a0b0c0d0e0f10'::bytea"
        "       WHEN i % 7 = 1 THEN '\\x1102030405060708090a0b0c0d0e0f10'::bytea END,"
        "  '2026.1'"
        " FROM generate_series(1, 440) i, helplines h"
        " WHERE h.code = CASE WHEN i <= 400 THEN 'ke-116' ELSE 'ug-116' END");
    exec_ok("INSERT INTO contact_categories (contact_id, code, source)"
            " SELECT md5('c' || i)::uuid, (ARRAY['violence.bullying', 'mental_health.self_harm', 'violence',"
            "  'sexuality.other', 'violence.fgm', 'access_to_services.education'])[1 + i % 6], 'given'"
            " FROM generate_series(1, 440) i");
    exec_ok("INSERT INTO contact_categories (contact_id, code, source)"
            " SELECT md5('c' || i)::uuid, 'peer_relationships.other', CASE WHEN i % 2 = 0 THEN 'mapped'"
            " ELSE 'suggested' END FROM generate_series(1, 440, 11) i");
    exec_ok("INSERT INTO cases (id, helpline_id, created_by) SELECT '" CASE_ID "', h.id, u.id"
            " FROM helplines h, users u WHERE h.code = 'ke-116'");
    exec_ok("INSERT INTO case_contacts (contact_id, case_id)"
            " SELECT md5('c' || i)::uuid, '" CASE_ID "' FROM generate_series(3, 300, 30) i");
    exec_ok("ANALYZE");
}

static void teardown(void)
{
    PQfinish(conn);
    hl_pgtest_drop(&db);
}

TestSuite(contact_list, .init = setup, .fini = teardown, .timeout = 120);

/* The ids, newest first, of the reference query with WHERE (on contacts c, helpline 1), one
 * per line. */
static char *reference(const char *where)
{
    char sql[2048];
    PGresult *res;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    snprintf(sql, sizeof(sql),
             "SELECT c.id FROM contacts c LEFT JOIN case_contacts cc ON cc.contact_id = c.id"
             " WHERE c.helpline_id = %ld AND (%s) ORDER BY c.started_at DESC, c.id DESC",
             helpline_id, where);
    res = PQexec(conn, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
    for (int r = 0; r < PQntuples(res); r++)
        fprintf(f, "%s\n", PQgetvalue(res, r, 0));
    PQclear(res);
    fclose(f);
    return out;
}

/* Every page of Q (LIMIT each), one id per line; checks each page's size and its cursor. */
static char *pages(hl_contact_list_query_t q, unsigned limit, size_t *n_pages)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    hl_contact_list_page_t page;

    q.limit = limit;
    q.has_after = false;
    *n_pages = 0;
    do {
        json_t *it;
        size_t i;
        cr_assert_eq(hl_contact_list_fetch(conn, &q, &page), HL_OK);
        cr_assert(page.more ? json_array_size(page.items) == limit : json_array_size(page.items) <= limit);
        json_array_foreach(page.items, i, it)
        {
            fprintf(f, "%s\n", json_string_value(json_object_get(it, "id")));
        }
        if (page.more) {
            json_t *last = json_array_get(page.items, json_array_size(page.items) - 1);
            uint8_t id[HL_RECORD_ID_BYTES];
            cr_assert(hl_record_id_from_text(json_string_value(json_object_get(last, "id")), id));
            cr_assert_arr_eq(id, page.last_id, sizeof(id), "the position is the page's last item");
        }
        json_decref(page.items);
        q.has_after = page.more;
        q.after_us = page.last_us;
        memcpy(q.after_id, page.last_id, sizeof(q.after_id));
        (*n_pages)++;
    } while (q.has_after && *n_pages < 1000);
    fclose(f);
    return out;
}

static size_t lines(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

/* Q paged 7 and 200 at a time, categories found both ways: always WHERE's contacts. */
static void expect(const hl_contact_list_query_t *q, const char *where, size_t min_rows)
{
    char *want = reference(where);
    size_t n_pages;

    cr_assert_geq(lines(want), min_rows, "test premise: %s keeps %zu contacts", where, lines(want));
    cr_assert_lt(lines(want), 400, "test premise: %s drops some contacts", where);
    for (int way = 0; way < 2; way++) {
        hl_contact_list_query_t v = *q;
        v.drive_max = way == 0 ? 0 : HL_CONTACT_LIST_DRIVE_MAX;
        for (unsigned limit = 7; limit <= 200; limit += 193) {
            char *got = pages(v, limit, &n_pages);
            cr_expect_str_eq(got, want, "%s, limit %u, %s", where, limit,
                             way == 0 ? "walking the contacts" : "from the category");
            size_t want_pages = (lines(want) + limit - 1) / limit;
            cr_expect_eq(n_pages, want_pages > 0 ? want_pages : 1, "%s: %zu pages", where, n_pages);
            free(got);
        }
    }
    free(want);
}

static hl_contact_list_query_t base(void)
{
    hl_contact_list_query_t q = {.helpline_id = helpline_id, .limit = 50};
    return q;
}

Test(contact_list, every_filter_paged_both_ways)
{
    hl_contact_list_query_t q;
    char *all = reference("true");

    cr_assert_eq(lines(all), 400);
    free(all);

    q = base();
    q.counsellor = "amina";
    expect(&q, "c.counsellor = 'amina'", 50);
    q = base();
    q.has_from = q.has_to = true;
    q.from_us = 1769904000000000; /* 2026-02-01 */
    q.to_us = 1772323200000000;   /* 2026-03-01 */
    expect(&q, "c.started_at >= '2026-02-01Z' AND c.started_at < '2026-03-01Z'", 50);
    q = base();
    q.channel = "sms";
    expect(&q, "c.channel = 'sms'", 50);
    q = base();
    q.contact_type = "silent";
    expect(&q, "c.contact_type = 'silent'", 50);
    q = base();
    q.urgency = "critical";
    expect(&q, "c.urgency = 'critical'", 50);
    q = base();
    q.has_phone = true;
    memcpy(q.phone_bidx, "\x11\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10", 16);
    expect(&q, "c.caller_phone_bidx = '\\x1102030405060708090a0b0c0d0e0f10'", 50);
    q = base();
    q.case_mode = HL_CONTACT_LIST_CASE_NONE;
    expect(&q, "cc.case_id IS NULL", 300);
    q = base();
    q.case_mode = HL_CONTACT_LIST_CASE_ID;
    q.case_id = CASE_ID;
    expect(&q, "cc.case_id = '" CASE_ID "'", 10);

    /* category: a top-level code and its subcategories; suggested categories do not count */
    q = base();
    q.codes[q.n_codes++] = "violence";
    q.codes[q.n_codes++] = "violence.bullying";
    q.codes[q.n_codes++] = "violence.fgm";
    expect(&q,
           "EXISTS (SELECT 1 FROM contact_categories k WHERE k.contact_id = c.id AND k.code LIKE 'violence%'"
           " AND k.source <> 'suggested')",
           100);
    q = base();
    q.codes[q.n_codes++] = "peer_relationships.other";
    expect(&q,
           "EXISTS (SELECT 1 FROM contact_categories k WHERE k.contact_id = c.id AND k.code = "
           "'peer_relationships.other' AND k.source = 'mapped')",
           15);

    /* all of them at once */
    q = base();
    q.counsellor = "baraka";
    q.channel = "phone";
    q.case_mode = HL_CONTACT_LIST_CASE_NONE;
    q.codes[q.n_codes++] = "mental_health.self_harm";
    q.codes[q.n_codes++] = "sexuality.other";
    expect(&q,
           "c.counsellor = 'baraka' AND c.channel = 'phone' AND cc.case_id IS NULL AND EXISTS (SELECT 1"
           " FROM contact_categories k WHERE k.contact_id = c.id AND k.code IN ('mental_health.self_harm',"
           " 'sexuality.other'))",
           5);
}

Test(contact_list, items_and_other_helplines)
{
    hl_contact_list_query_t q = base();
    hl_contact_list_page_t page;
    json_t *it;
    size_t i;
    int linked = 0, with_mapped = 0;

    q.limit = 200;
    q.helpline_id = helpline_id + 1;
    cr_assert_eq(hl_contact_list_fetch(conn, &q, &page), HL_OK);
    cr_expect_eq(json_array_size(page.items), 40, "helpline 2's own");
    cr_expect(!page.more);
    json_decref(page.items);

    q.helpline_id = helpline_id;
    q.case_mode = HL_CONTACT_LIST_CASE_ID;
    q.case_id = "c0000000-0000-4000-8000-000000000002"; /* no such case */
    cr_assert_eq(hl_contact_list_fetch(conn, &q, &page), HL_OK);
    cr_expect_eq(json_array_size(page.items), 0);
    json_decref(page.items);

    q = base();
    q.limit = 200;
    cr_assert_eq(hl_contact_list_fetch(conn, &q, &page), HL_OK);
    cr_assert(page.more);
    json_array_foreach(page.items, i, it)
    {
        json_t *cats = json_object_get(it, "categories");
        cr_assert_eq(json_object_size(it), 8);
        cr_assert(json_is_array(cats) && json_array_size(cats) >= 1 && json_array_size(cats) <= 2);
        for (size_t k = 1; k < json_array_size(cats); k++)
            cr_expect(strcmp(json_string_value(json_array_get(cats, k - 1)),
                             json_string_value(json_array_get(cats, k))) < 0,
                      "categories sorted");
        with_mapped += json_array_size(cats) == 2;
        if (json_string_value(json_object_get(it, "case_id")) != NULL) {
            cr_expect_str_eq(json_string_value(json_object_get(it, "case_id")), CASE_ID);
            linked++;
        }
    }
    cr_expect_gt(linked, 0);
    cr_expect_gt(with_mapped, 0);
    json_decref(page.items);

    q.limit = 0;
    cr_expect_eq(hl_contact_list_fetch(conn, &q, &page), HL_EINVAL);
    q.limit = 201;
    cr_expect_eq(hl_contact_list_fetch(conn, &q, &page), HL_EINVAL);
}
