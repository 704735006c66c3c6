/*
 * The Cases API of api.md against the real daemon and PostgreSQL (issue 16): every route with
 * every role (the creator amina, the assignee chidi, another counsellor of the helpline baraka,
 * zola of helpline za, the supervisor, network, frontend, admin), the status machine, referral
 * states, contact links, the list with its filters and cursors, bad input that changes nothing,
 * audit rows for sealed reads (no row, no data), and marker strings in every sealed field that
 * appear nowhere: pg_dump, the PostgreSQL log, the daemon's log, the spool.
 * Bodies are written with single quotes; they become double quotes before they are sent.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"
#include "util.h"

static hl_testd_t d;
static char chidi[HL_TESTD_TOKEN_LEN]; /* a third counsellor of demo: the assignee */

static void start(void)
{
    hl_testd_start(&d, NULL);
    hl_testd_user_add(&d, "chidi", "counsellor", "demo", chidi);
}

static void stop(void)
{
    int status = hl_testd_stop(&d);

    cr_expect_eq(status, 0, "helplined did not exit cleanly on SIGTERM (wait status 0x%x)", (unsigned)status);
}

TestSuite(cases, .init = start, .fini = stop, .timeout = 120);

/* ---- helpers ------------------------------------------------------------------------------- */

/* METHOD PATH (printf format) with TOKEN and BODY (single quotes, or NULL); the status, *OUT the
 * JSON reply (NULL: released). */
static long call(json_t **out, const char *method, const char *token, const char *body, const char *path_fmt,
                 ...) HL_PRINTF(5, 6);

static long call(json_t **out, const char *method, const char *token, const char *body, const char *path_fmt,
                 ...)
{
    char path[512], *b = NULL;
    long status = 0;
    va_list ap;
    json_t *r;

    va_start(ap, path_fmt);
    vsnprintf(path, sizeof(path), path_fmt, ap);
    va_end(ap);
    if (body != NULL) {
        b = strdup(body);
        cr_assert_not_null(b);
        for (char *p = b; *p != '\0'; p++)
            if (*p == '\'')
                *p = '"';
    }
    r = hl_testd_request(&d, method, path, token, b != NULL ? "application/json" : NULL, b, &status, NULL);
    free(b);
    if (out != NULL)
        *out = r;
    else
        json_decref(r);
    return status;
}

/* A case created by TOKEN with BODY (single quotes); its id in ID. */
static void new_case(const char *token, const char *body, char id[64])
{
    json_t *r = NULL;
    long status = call(&r, "POST", token, body, "/v1/cases");

    cr_assert_eq(status, 201, "POST /v1/cases %s: %ld %s", body, status, r != NULL ? json_dumps(r, 0) : "");
    cr_assert_str_eq(it_str(r, "status"), "open");
    snprintf(id, 64, "%s", it_str(r, "id"));
    json_decref(r);
}

/* A contact posted by TOKEN (a counsellor: it is theirs); its id in ID. */
static void new_contact(const char *token, const char *source_id, char id[64])
{
    json_t *r = NULL;

    cr_assert_eq(it_post(&d, token, it_contact(source_id), &r), 201);
    snprintf(id, 64, "%s", it_str(r, "id"));
    json_decref(r);
}

static long scalar(const char *fmt, ...) HL_PRINTF(1, 2);
static long scalar(const char *fmt, ...)
{
    char sql[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return it_scalar(&d, sql);
}

static void exec_sql(const char *sql)
{
    PGconn *conn = hl_testd_db(&d);
    PGresult *res = PQexec(conn, sql);

    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(conn));
    PQclear(res);
    PQfinish(conn);
}

static const char *err_code(json_t *r)
{
    return it_str(r, "error/code");
}

static const char *err_field(json_t *r)
{
    return it_str(r, "error/field");
}

/* The timeline entries of R of KIND. */
static size_t count_kind(json_t *r, const char *kind)
{
    json_t *e;
    size_t i, n = 0;

    json_array_foreach(json_object_get(r, "timeline"), i, e) n += strcmp(it_str(e, "kind"), kind) == 0;
    return n;
}

/* Is any key of the sealed fields anywhere in R? */
static bool holds_sealed_keys(json_t *r)
{
    json_t *e;
    size_t i;

    if (json_object_get(r, "label") != NULL || json_object_get(r, "summary") != NULL)
        return true;
    json_array_foreach(json_object_get(r, "timeline"), i,
                       e) if (json_object_get(e, "text") != NULL ||
                              json_object_get(e, "organisation") != NULL ||
                              json_object_get(e, "details") != NULL) return true;
    return false;
}

static void assign_to_chidi(const char *id)
{
    cr_assert_eq(call(NULL, "PATCH", d.tokens.supervisor, "{'assigned_to': 'chidi'}", "/v1/cases/%s", id),
                 200);
}

/* ---- create -------------------------------------------------------------------------------- */

Test(cases, create_by_role_with_defaults)
{
    json_t *r = NULL;
    char id[64];

    /* a counsellor's case is assigned to them unless the body says otherwise */
    cr_assert_eq(call(&r, "POST", d.tokens.counsellor,
                      "{'label': 'Wanjiru', 'summary': 's', 'priority': 'high', "
                      "'follow_up_at': '2026-12-01T09:00:00+03:00'}",
                      "/v1/cases"),
                 201);
    cr_expect_str_eq(it_str(r, "status"), "open");
    cr_expect_str_eq(it_str(r, "priority"), "high");
    cr_expect_str_eq(it_str(r, "assigned_to"), "amina");
    cr_expect_str_eq(it_str(r, "created_by"), "amina");
    cr_expect_str_eq(it_str(r, "follow_up_at"), "2026-12-01T06:00:00Z");
    cr_expect(json_is_null(json_object_get(r, "closed_at")));
    cr_expect_eq(json_integer_value(json_object_get(r, "contacts_count")), 0);
    cr_expect_not(holds_sealed_keys(r), "the reply does not echo sealed fields");
    json_decref(r);

    cr_assert_eq(call(&r, "POST", d.tokens.counsellor, "{'label': 'x', 'assigned_to': null}", "/v1/cases"),
                 201);
    cr_expect(json_is_null(json_object_get(r, "assigned_to")));
    cr_expect_str_eq(it_str(r, "priority"), "normal");
    json_decref(r);
    cr_assert_eq(call(&r, "POST", d.tokens.counsellor, "{'label': 'x', 'assigned_to': 'amina'}", "/v1/cases"),
                 201);
    json_decref(r);

    /* only supervisors and admins assign to someone else */
    cr_assert_eq(
        call(&r, "POST", d.tokens.counsellor, "{'label': 'x', 'assigned_to': 'baraka'}", "/v1/cases"), 403);
    cr_expect_str_eq(err_field(r), "/assigned_to");
    json_decref(r);
    cr_assert_eq(
        call(&r, "POST", d.tokens.supervisor, "{'label': 'x', 'assigned_to': 'baraka'}", "/v1/cases"), 201);
    cr_expect_str_eq(it_str(r, "assigned_to"), "baraka");
    cr_expect_str_eq(it_str(r, "created_by"), "demo-supervisor");
    json_decref(r);
    cr_assert_eq(call(&r, "POST", d.tokens.admin, "{'label': 'x'}", "/v1/cases"), 201);
    cr_expect(json_is_null(json_object_get(r, "assigned_to")), "an admin's case is unassigned");
    json_decref(r);
    /* assignees are counsellors or admins of the helpline */
    char dina[HL_TESTD_TOKEN_LEN];
    const char *revoke[] = {"user", "revoke", "dina", "--helpline", "demo", NULL};
    hl_testd_user_add(&d, "dina", "counsellor", "demo", dina);
    cr_assert_eq(hl_testd_admin(&d, NULL, 0, revoke), 0);
    const char *bad_assignees[] = {"demo-network", "demo-supervisor", "zola", "nobody", "dina"};
    for (size_t i = 0; i < 5; i++) {
        char body[96];
        snprintf(body, sizeof(body), "{'label': 'x', 'assigned_to': '%s'}", bad_assignees[i]);
        cr_expect_eq(call(&r, "POST", d.tokens.supervisor, body, "/v1/cases"), 400, "%s", bad_assignees[i]);
        cr_expect_str_eq(err_field(r), "/assigned_to");
        json_decref(r);
    }
    /* network and frontend do no casework; another helpline's cases are its own */
    cr_expect_eq(call(NULL, "POST", d.tokens.network, "{'label': 'x'}", "/v1/cases"), 403);
    cr_expect_eq(call(NULL, "POST", d.tokens.frontend, "{'label': 'x'}", "/v1/cases"), 403);
    cr_expect_eq(scalar("SELECT count(*) FROM cases"), 5);
    new_case(d.tokens.za_counsellor, "{'label': 'za case'}", id);
    cr_expect_eq(scalar("SELECT count(*) FROM cases c JOIN helplines h ON h.id = c.helpline_id"
                        " WHERE h.code = 'za' AND c.id = '%s'",
                        id),
                 1);
    cr_expect_eq(call(NULL, "GET", d.tokens.admin, NULL, "/v1/cases/%s", id), 404);
    cr_expect_eq(call(NULL, "GET", d.tokens.za_admin, NULL, "/v1/cases/%s", id), 200);
    /* every new case starts its timeline with its status */
    cr_expect_eq(scalar("SELECT count(*) FROM case_entries WHERE kind = 'status' AND status_from IS NULL"
                        " AND status_to = 'open'"),
                 6);
}

/* ---- read ---------------------------------------------------------------------------------- */

static long reads_audited(const char *id)
{
    return scalar("SELECT count(*) FROM audit_log WHERE action = 'read_sensitive' AND case_id = '%s'", id);
}

Test(cases, read_by_role_with_audit)
{
    json_t *r = NULL;
    char id[64], contact[64], path[128];

    new_contact(d.tokens.counsellor, "read-1", contact);
    snprintf(path, sizeof(path), "{'label': 'Label-a', 'summary': 'Summary-a', 'contacts': ['%s']}", contact);
    new_case(d.tokens.counsellor, path, id);
    assign_to_chidi(id);
    cr_assert_eq(call(NULL, "POST", d.tokens.counsellor, "{'text': 'Note-a'}", "/v1/cases/%s/notes", id),
                 201);
    cr_assert_eq(call(NULL, "POST", d.tokens.counsellor,
                      "{'to': 'referral.child_protection', 'organisation': 'Org-a', 'details': 'Details-a'}",
                      "/v1/cases/%s/referrals", id),
                 201);

    /* creator, assignee, admin: everything, each read audited */
    const char *full[] = {d.tokens.counsellor, chidi, d.tokens.admin};
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(call(&r, "GET", full[k], NULL, "/v1/cases/%s", id), 200, "reader %d", k);
        cr_expect_str_eq(it_str(r, "label"), "Label-a");
        cr_expect_str_eq(it_str(r, "summary"), "Summary-a");
        cr_expect_str_eq(it_str(r, "assigned_to"), "chidi");
        cr_expect_eq(json_integer_value(json_object_get(r, "contacts_count")), 1);
        json_t *tl = json_object_get(r, "timeline"), *e;
        size_t i;
        bool note = false, referral = false, linked = false;
        json_array_foreach(tl, i, e)
        {
            const char *kind = it_str(e, "kind");
            cr_expect_not_null(it_str(e, "id"));
            cr_expect_not_null(it_str(e, "at"));
            cr_expect_not_null(it_str(e, "by"));
            if (strcmp(kind, "note") == 0)
                note = strcmp(it_str(e, "text"), "Note-a") == 0;
            if (strcmp(kind, "referral") == 0)
                referral = strcmp(it_str(e, "organisation"), "Org-a") == 0 &&
                           strcmp(it_str(e, "details"), "Details-a") == 0 &&
                           strcmp(it_str(e, "to"), "referral.child_protection") == 0 &&
                           strcmp(it_str(e, "state"), "made") == 0;
            if (strcmp(kind, "contact") == 0)
                linked = strcmp(it_str(e, "contact_id"), contact) == 0 &&
                         strcmp(it_str(e, "channel"), "phone") == 0 &&
                         strcmp(it_str(e, "contact_type"), "counselling") == 0 &&
                         json_array_size(json_object_get(e, "categories")) == 1 &&
                         json_is_false(json_object_get(e, "unlinked"));
        }
        cr_expect(note && referral && linked, "reader %d: %s", k, json_dumps(tl, 0));
        json_decref(r);
        cr_expect_eq(reads_audited(id), k + 1);
    }
    cr_expect_eq(scalar("SELECT count(DISTINCT user_id) FROM audit_log WHERE case_id = '%s'"
                        " AND action = 'read_sensitive'",
                        id),
                 3);

    /* supervisor: everything but sealed fields, not audited as a sealed read */
    cr_assert_eq(call(&r, "GET", d.tokens.supervisor, NULL, "/v1/cases/%s", id), 200);
    cr_expect_not(holds_sealed_keys(r), "%s", json_dumps(r, 0));
    cr_expect_eq(count_kind(r, "note"), 1);
    cr_expect_eq(count_kind(r, "referral"), 1);
    cr_expect_eq(count_kind(r, "contact"), 1);
    cr_expect_eq(count_kind(r, "status"), 1);
    json_t *e;
    size_t i;
    json_array_foreach(json_object_get(r, "timeline"), i, e) if (strcmp(it_str(e, "kind"), "referral") == 0)
        cr_expect_str_eq(it_str(e, "to"), "referral.child_protection");
    json_decref(r);

    /* another counsellor of the helpline: metadata only */
    cr_assert_eq(call(&r, "GET", d.tokens.counsellor2, NULL, "/v1/cases/%s", id), 200);
    cr_expect_not(holds_sealed_keys(r));
    cr_expect_str_eq(it_str(r, "status"), "open");
    json_array_foreach(json_object_get(r, "timeline"), i, e)
    {
        cr_expect_eq(json_object_size(e), 4, "only id kind at by: %s", json_dumps(e, 0));
    }
    json_decref(r);
    cr_expect_eq(reads_audited(id), 3, "no sealed read by supervisor or baraka");

    /* another helpline, network, frontend */
    cr_expect_eq(call(NULL, "GET", d.tokens.za_counsellor, NULL, "/v1/cases/%s", id), 404);
    cr_expect_eq(call(NULL, "GET", d.tokens.za_admin, NULL, "/v1/cases/%s", id), 404);
    cr_expect_eq(call(NULL, "GET", d.tokens.network, NULL, "/v1/cases/%s", id), 403);
    cr_expect_eq(call(NULL, "GET", d.tokens.frontend, NULL, "/v1/cases/%s", id), 403);
    cr_expect_eq(call(NULL, "GET", d.tokens.counsellor, NULL, "/v1/cases/not-a-uuid"), 404);
    cr_expect_eq(
        call(NULL, "GET", d.tokens.counsellor, NULL, "/v1/cases/00000000-0000-4000-8000-000000000000"), 404);
    cr_expect_eq(call(NULL, "GET", NULL, NULL, "/v1/cases/%s", id), 401);
    cr_expect_eq(reads_audited(id), 3);
}

/* No row, no data: when the audit row cannot be written, the read fails with nothing sealed in it. */
Test(cases, no_audit_row_no_data)
{
    json_t *r = NULL;
    char id[64], *raw = NULL;
    long status = 0;

    new_case(d.tokens.counsellor, "{'label': 'Secretlabelqq', 'summary': 'Secretsummaryqq'}", id);
    exec_sql("CREATE FUNCTION refuse_case_reads() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
             " IF NEW.case_id IS NOT NULL THEN RAISE EXCEPTION 'no'; END IF; RETURN NEW; END $$");
    exec_sql("CREATE TRIGGER refuse_case_reads BEFORE INSERT ON audit_log FOR EACH ROW"
             " EXECUTE FUNCTION refuse_case_reads()");
    char path[128];
    snprintf(path, sizeof(path), "/v1/cases/%s", id);
    r = hl_testd_request(&d, "GET", path, d.tokens.counsellor, NULL, NULL, &status, &raw);
    cr_expect_eq(status, 503);
    cr_expect_null(strstr(raw, "Secretlabelqq"));
    cr_expect_null(strstr(raw, "Secretsummaryqq"));
    json_decref(r);
    free(raw);
    /* the supervisor's read needs no row and still works */
    cr_expect_eq(call(NULL, "GET", d.tokens.supervisor, NULL, "/v1/cases/%s", id), 200);
    exec_sql("DROP TRIGGER refuse_case_reads ON audit_log");
    cr_assert_eq(call(&r, "GET", d.tokens.counsellor, NULL, "/v1/cases/%s", id), 200);
    cr_expect_str_eq(it_str(r, "label"), "Secretlabelqq");
    json_decref(r);

    /* a sealed note copied onto another entry does not open: the read fails, nothing leaks */
    cr_assert_eq(
        call(NULL, "POST", d.tokens.counsellor, "{'text': 'Secretnoteqq'}", "/v1/cases/%s/notes", id), 201);
    cr_assert_eq(call(NULL, "POST", d.tokens.counsellor, "{'text': 'other'}", "/v1/cases/%s/notes", id), 201);
    exec_sql("UPDATE case_entries SET text = (SELECT text FROM case_entries e2 WHERE e2.kind = 'note'"
             " ORDER BY seq LIMIT 1) WHERE kind = 'note' AND seq = (SELECT max(seq) FROM case_entries)");
    r = hl_testd_request(&d, "GET", path, d.tokens.counsellor, NULL, NULL, &status, &raw);
    cr_expect_eq(status, 500);
    cr_expect_null(strstr(raw, "Secretnoteqq"));
    json_decref(r);
    free(raw);
}

/* ---- PATCH --------------------------------------------------------------------------------- */

static json_t *get_case(const char *token, const char *id)
{
    json_t *r = NULL;

    cr_assert_eq(call(&r, "GET", token, NULL, "/v1/cases/%s", id), 200);
    return r;
}

Test(cases, patch_status_machine_and_roles)
{
    json_t *r = NULL;
    char id[64];

    new_case(d.tokens.counsellor, "{'label': 'L1'}", id);
    cr_assert_eq(call(&r, "PATCH", d.tokens.counsellor, "{'status': 'in_progress'}", "/v1/cases/%s", id),
                 200);
    cr_expect_str_eq(it_str(r, "status"), "in_progress");
    json_decref(r);
    /* forbidden moves: 409, nothing changed */
    const char *refused[] = {"open", "in_progress"};
    for (int i = 0; i < 2; i++) {
        char body[64];
        snprintf(body, sizeof(body), "{'status': '%s', 'priority': 'critical'}", refused[i]);
        cr_assert_eq(call(&r, "PATCH", d.tokens.counsellor, body, "/v1/cases/%s", id), 409);
        cr_expect_str_eq(err_code(r), "invalid_transition");
        cr_expect_str_eq(err_field(r), "/status");
        json_decref(r);
    }
    cr_assert_eq(call(&r, "PATCH", d.tokens.counsellor, "{'status': 'closed'}", "/v1/cases/%s", id), 200);
    cr_expect_not_null(it_str(r, "closed_at"));
    json_decref(r);
    cr_assert_eq(call(&r, "PATCH", d.tokens.counsellor, "{'status': 'closed'}", "/v1/cases/%s", id), 409);
    json_decref(r);
    cr_assert_eq(call(&r, "PATCH", d.tokens.counsellor, "{'status': 'open'}", "/v1/cases/%s", id), 409);
    json_decref(r);
    cr_assert_eq(call(&r, "PATCH", d.tokens.counsellor, "{'status': 'in_progress'}", "/v1/cases/%s", id),
                 200);
    cr_expect(json_is_null(json_object_get(r, "closed_at")), "reopened");
    json_decref(r);
    r = get_case(d.tokens.counsellor, id);
    cr_expect_str_eq(it_str(r, "priority"), "normal", "a refused PATCH changed nothing");
    cr_expect_eq(count_kind(r, "status"), 4); /* new, in_progress, closed, in_progress */
    json_t *last = json_array_get(json_object_get(r, "timeline"), 3);
    cr_expect_str_eq(it_str(last, "from"), "closed");
    cr_expect_str_eq(it_str(last, "to"), "in_progress");
    json_decref(r);
    /* open -> closed directly */
    char id2[64];
    new_case(d.tokens.counsellor, "{'label': 'L2'}", id2);
    cr_expect_eq(call(NULL, "PATCH", d.tokens.counsellor, "{'status': 'closed'}", "/v1/cases/%s", id2), 200);

    /* other readers */
    cr_expect_eq(call(&r, "PATCH", d.tokens.counsellor2, "{'priority': 'low'}", "/v1/cases/%s", id), 403);
    json_decref(r);
    cr_expect_eq(call(NULL, "PATCH", d.tokens.za_counsellor, "{'priority': 'low'}", "/v1/cases/%s", id), 404);
    cr_expect_eq(call(NULL, "PATCH", d.tokens.network, "{'priority': 'low'}", "/v1/cases/%s", id), 403);
    cr_expect_eq(call(NULL, "PATCH", d.tokens.frontend, "{'priority': 'low'}", "/v1/cases/%s", id), 403);
    /* the supervisor: metadata and assignment, not the sealed fields */
    cr_expect_eq(call(&r, "PATCH", d.tokens.supervisor, "{'label': 'S'}", "/v1/cases/%s", id), 403);
    cr_expect_str_eq(err_field(r), "/label");
    json_decref(r);
    cr_expect_eq(
        call(&r, "PATCH", d.tokens.supervisor, "{'priority': 'high', 'summary': null}", "/v1/cases/%s", id),
        403);
    cr_expect_str_eq(err_field(r), "/summary");
    json_decref(r);
    cr_assert_eq(call(&r, "PATCH", d.tokens.supervisor,
                      "{'priority': 'high', 'follow_up_at': '2026-12-24T08:00:00Z', 'assigned_to': 'chidi',"
                      " 'status': 'closed'}",
                      "/v1/cases/%s", id),
                 200);
    cr_expect_str_eq(it_str(r, "priority"), "high");
    cr_expect_str_eq(it_str(r, "assigned_to"), "chidi");
    cr_expect_str_eq(it_str(r, "status"), "closed");
    json_decref(r);
    /* the assignee writes the sealed fields; assigns to itself or nobody only */
    cr_expect_eq(
        call(NULL, "PATCH", chidi, "{'label': 'Chidi label', 'status': 'in_progress'}", "/v1/cases/%s", id),
        200);
    cr_expect_eq(call(&r, "PATCH", chidi, "{'assigned_to': 'baraka'}", "/v1/cases/%s", id), 403);
    cr_expect_str_eq(err_field(r), "/assigned_to");
    json_decref(r);
    cr_expect_eq(call(NULL, "PATCH", chidi, "{'assigned_to': null}", "/v1/cases/%s", id), 200);
    cr_expect_eq(call(NULL, "PATCH", chidi, "{'priority': 'low'}", "/v1/cases/%s", id), 403,
                 "no longer its assignee");
    /* the creator stays a writer; the admin too */
    cr_expect_eq(call(NULL, "PATCH", d.tokens.counsellor, "{'assigned_to': 'amina', 'summary': 'S2'}",
                      "/v1/cases/%s", id),
                 200);
    cr_expect_eq(call(NULL, "PATCH", d.tokens.admin, "{'assigned_to': 'baraka', 'follow_up_at': null}",
                      "/v1/cases/%s", id),
                 200);
    r = get_case(d.tokens.admin, id);
    cr_expect_str_eq(it_str(r, "label"), "Chidi label");
    cr_expect_str_eq(it_str(r, "summary"), "S2");
    cr_expect_str_eq(it_str(r, "assigned_to"), "baraka");
    cr_expect(json_is_null(json_object_get(r, "follow_up_at")));
    json_decref(r);
    /* each PATCH is audited with the fields it named, never their values */
    cr_expect_eq(scalar("SELECT count(*) FROM audit_log WHERE action = 'update' AND case_id = '%s'", id), 8);
    cr_expect_eq(
        scalar("SELECT count(*) FROM audit_log WHERE case_id = '%s' AND detail LIKE '%%Chidi%%'", id), 0);
}

/* ---- notes and referrals ------------------------------------------------------------------- */

Test(cases, notes_and_referrals_by_role)
{
    json_t *r = NULL;
    char id[64], other[64], rid[64], path[160];

    new_case(d.tokens.counsellor, "{'label': 'N'}", id);
    new_case(d.tokens.counsellor, "{'label': 'O'}", other);
    assign_to_chidi(id);
    cr_assert_eq(call(&r, "POST", d.tokens.counsellor, "{'text': 'by amina'}", "/v1/cases/%s/notes", id),
                 201);
    cr_expect_str_eq(it_str(r, "kind"), "note");
    cr_expect_str_eq(it_str(r, "by"), "amina");
    cr_expect_not_null(it_str(r, "at"));
    json_decref(r);
    cr_expect_eq(call(NULL, "POST", chidi, "{'text': 'by chidi'}", "/v1/cases/%s/notes", id), 201);
    cr_expect_eq(call(NULL, "POST", d.tokens.admin, "{'text': 'by admin'}", "/v1/cases/%s/notes", id), 201);
    cr_expect_eq(call(NULL, "POST", d.tokens.counsellor2, "{'text': 'x'}", "/v1/cases/%s/notes", id), 403);
    cr_expect_eq(call(NULL, "POST", d.tokens.supervisor, "{'text': 'x'}", "/v1/cases/%s/notes", id), 403);
    cr_expect_eq(call(NULL, "POST", d.tokens.za_counsellor, "{'text': 'x'}", "/v1/cases/%s/notes", id), 404);
    cr_expect_eq(call(NULL, "POST", d.tokens.network, "{'text': 'x'}", "/v1/cases/%s/notes", id), 403);
    cr_expect_eq(call(NULL, "POST", d.tokens.frontend, "{'text': 'x'}", "/v1/cases/%s/notes", id), 403);
    cr_expect_eq(scalar("SELECT count(*) FROM case_entries WHERE kind = 'note' AND case_id = '%s'", id), 3);

    /* a referral and its states: each change is a new entry, the history stays */
    cr_assert_eq(call(&r, "POST", chidi, "{'to': 'referral.law_enforcement', 'organisation': 'Police'}",
                      "/v1/cases/%s/referrals", id),
                 201);
    cr_expect_str_eq(it_str(r, "state"), "made");
    cr_expect_str_eq(it_str(r, "to"), "referral.law_enforcement");
    snprintf(rid, sizeof(rid), "%s", it_str(r, "id"));
    json_decref(r);
    snprintf(path, sizeof(path), "/v1/cases/%s/referrals/%s", id, rid);
    cr_assert_eq(call(&r, "PATCH", d.tokens.counsellor, "{'state': 'accepted'}", "%s", path), 200);
    cr_expect_str_eq(it_str(r, "previous_state"), "made");
    json_decref(r);
    cr_assert_eq(call(&r, "PATCH", d.tokens.counsellor, "{'state': 'accepted'}", "%s", path), 409);
    cr_expect_str_eq(err_code(r), "invalid_transition");
    cr_expect_str_eq(err_field(r), "/state");
    json_decref(r);
    cr_expect_eq(call(NULL, "PATCH", d.tokens.admin, "{'state': 'completed'}", "%s", path), 200);
    cr_expect_eq(call(NULL, "PATCH", chidi, "{'state': 'declined'}", "%s", path), 200, "the assignee");
    cr_expect_eq(call(NULL, "PATCH", d.tokens.supervisor, "{'state': 'declined'}", "%s", path), 403);
    cr_expect_eq(call(NULL, "PATCH", d.tokens.counsellor2, "{'state': 'declined'}", "%s", path), 403);
    cr_expect_eq(call(NULL, "PATCH", d.tokens.za_counsellor, "{'state': 'declined'}", "%s", path), 404);
    cr_expect_eq(call(NULL, "PATCH", d.tokens.network, "{'state': 'declined'}", "%s", path), 403);
    cr_expect_eq(call(NULL, "PATCH", d.tokens.frontend, "{'state': 'declined'}", "%s", path), 403);
    cr_expect_eq(call(NULL, "PATCH", d.tokens.counsellor, "{'state': 'declined'}",
                      "/v1/cases/%s/referrals/%s", other, rid),
                 404, "a referral of another case");
    cr_expect_eq(call(NULL, "PATCH", d.tokens.counsellor, "{'state': 'declined'}",
                      "/v1/cases/%s/referrals/00000000-0000-4000-8000-000000000000", id),
                 404);
    cr_expect_eq(call(NULL, "POST", d.tokens.supervisor, "{'to': 'referral.healthcare'}",
                      "/v1/cases/%s/referrals", id),
                 403);
    cr_expect_eq(call(NULL, "POST", d.tokens.counsellor2, "{'to': 'referral.healthcare'}",
                      "/v1/cases/%s/referrals", id),
                 403);
    cr_expect_eq(call(NULL, "POST", d.tokens.za_counsellor, "{'to': 'referral.healthcare'}",
                      "/v1/cases/%s/referrals", id),
                 404);
    cr_expect_eq(
        call(NULL, "POST", d.tokens.network, "{'to': 'referral.healthcare'}", "/v1/cases/%s/referrals", id),
        403);
    cr_expect_eq(
        call(NULL, "POST", d.tokens.frontend, "{'to': 'referral.healthcare'}", "/v1/cases/%s/referrals", id),
        403);
    cr_expect_eq(call(NULL, "POST", d.tokens.admin, "{'to': 'referral.healthcare', 'state': 'accepted'}",
                      "/v1/cases/%s/referrals", id),
                 201);
    r = get_case(d.tokens.counsellor, id);
    const char *want[] = {"made", "accepted", "completed", "declined", "accepted"};
    json_t *e;
    size_t i, k = 0;
    json_array_foreach(json_object_get(r, "timeline"), i, e) if (strcmp(it_str(e, "kind"), "referral") == 0)
    {
        cr_expect_str_eq(it_str(e, "state"), want[k]);
        if (k < 4)
            cr_expect_str_eq(it_str(e, "organisation"), "Police");
        k++;
    }
    cr_expect_eq(k, 5);
    json_decref(r);
    cr_expect_eq(scalar("SELECT count(*) FROM referrals WHERE id = '%s' AND state = 'declined'", rid), 1);
}

/* A note of the assignee whose assignment is taken away while the note waits for the case row:
 * the note is one statement (hl_cases_add_note) whose writer check is made again on the row as
 * it is once locked, so it is refused, and nothing is written. Refused notes (403, 404) leave
 * the case's updated_at as it was. */
typedef struct {
    char path[160];
    long status;
} note_t;

static void *post_note_as_chidi(void *arg)
{
    note_t *n = arg;

    json_decref(hl_testd_request(&d, "POST", n->path, chidi, "application/json", "{\"text\":\"late\"}",
                                 &n->status, NULL));
    return NULL;
}

Test(cases, a_note_checks_its_writer_on_the_locked_row_and_refused_notes_change_nothing)
{
    char id[64], sql[256], updated[64];
    note_t n = {.status = 0};
    pthread_t th;
    PGconn *conn = hl_testd_db(&d);
    PGresult *res;

    new_case(d.tokens.counsellor, "{'label': 'Locked'}", id);
    assign_to_chidi(id);
    snprintf(sql, sizeof(sql), "SELECT updated_at::text FROM cases WHERE id = '%s'", id);
    res = PQexec(conn, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    snprintf(updated, sizeof(updated), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    cr_expect_eq(call(NULL, "POST", d.tokens.counsellor2, "{'text': 'x'}", "/v1/cases/%s/notes", id), 403);
    cr_expect_eq(call(NULL, "POST", d.tokens.supervisor, "{'text': 'x'}", "/v1/cases/%s/notes", id), 403);
    cr_expect_eq(call(NULL, "POST", d.tokens.za_counsellor, "{'text': 'x'}", "/v1/cases/%s/notes", id), 404);
    cr_expect_eq(call(NULL, "POST", d.tokens.counsellor, "{'text': 'x'}",
                      "/v1/cases/00000000-0000-4000-8000-000000000000/notes"),
                 404);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM cases WHERE id = '%s' AND updated_at = '%s'", id,
             updated);
    cr_expect_eq(scalar("%s", sql), 1, "a refused note stamped the case");

    /* Another session takes the case row and unassigns chidi; chidi's note waits for the row. */
    PQclear(PQexec(conn, "BEGIN"));
    snprintf(sql, sizeof(sql), "UPDATE cases SET assigned_to = NULL WHERE id = '%s'", id);
    res = PQexec(conn, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(conn));
    PQclear(res);
    snprintf(n.path, sizeof(n.path), "/v1/cases/%s/notes", id);
    cr_assert_eq(pthread_create(&th, NULL, post_note_as_chidi, &n), 0);
    long waiting = 0;
    for (int i = 0; i < 500 && waiting == 0; i++) {
        waiting = scalar("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                         " AND query LIKE '%%INSERT INTO case_entries%%'");
        if (waiting == 0)
            usleep(10000);
    }
    cr_expect_eq(waiting, 1, "the note waits for the case row");
    PQclear(PQexec(conn, "COMMIT"));
    pthread_join(th, NULL);
    PQfinish(conn);
    cr_expect_eq(n.status, 403, "the note was checked against the row as it was once locked");
    cr_expect_eq(scalar("SELECT count(*) FROM case_entries WHERE kind = 'note' AND case_id = '%s'", id), 0);
    cr_expect_eq(call(NULL, "POST", chidi, "{'text': 'x'}", "/v1/cases/%s/notes", id), 403);
    cr_expect_eq(call(NULL, "POST", d.tokens.counsellor, "{'text': 'x'}", "/v1/cases/%s/notes", id), 201,
                 "its creator still writes it");
}

/* A note waits for PostgreSQL on a db_jobs thread, not on the HTTP thread that took it: with one
 * HTTP thread, a note held up by a lock on its case row does not hold up a read on another
 * connection. (On the HTTP thread, the read waited until the pool's 3 s deadline cut the note
 * off.) */
static void one_http_thread(hl_testd_t *t)
{
    size_t len = 0;
    char *conf = hl_testd_read_file(t->conf, &len), *at;
    FILE *f;

    cr_assert_not_null(conf);
    cr_assert_not_null(at = strstr(conf, "threads = 4\n"), "the test daemon's config changed");
    at[10] = '1';
    cr_assert_not_null(f = fopen(t->conf, "w"));
    cr_assert_eq(fwrite(conf, 1, len, f), len);
    fclose(f);
    free(conf);
}

static void start_one_thread(void)
{
    hl_testd_opts_t opts = {.before_serve = one_http_thread};

    hl_testd_start(&d, &opts);
}

TestSuite(cases_jobs, .init = start_one_thread, .fini = stop, .timeout = 60);

static void *post_note_as_amina(void *arg)
{
    note_t *n = arg;

    json_decref(hl_testd_request(&d, "POST", n->path, d.tokens.counsellor, "application/json",
                                 "{\"text\":\"waited\"}", &n->status, NULL));
    return NULL;
}

Test(cases_jobs, a_note_waiting_for_the_database_holds_up_no_other_connection)
{
    char locked[64], other[64], sql[256];
    note_t n = {.status = 0};
    pthread_t th;
    PGconn *conn = hl_testd_db(&d);
    PGresult *res;

    new_case(d.tokens.counsellor, "{'label': 'Locked'}", locked);
    new_case(d.tokens.counsellor, "{'label': 'Other'}", other);
    PQclear(PQexec(conn, "BEGIN"));
    snprintf(sql, sizeof(sql), "UPDATE cases SET priority = 'low' WHERE id = '%s'", locked);
    res = PQexec(conn, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(conn));
    PQclear(res);
    snprintf(n.path, sizeof(n.path), "/v1/cases/%s/notes", locked);
    cr_assert_eq(pthread_create(&th, NULL, post_note_as_amina, &n), 0);
    long waiting = 0;
    for (int i = 0; i < 500 && waiting == 0; i++) {
        waiting = scalar("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                         " AND query LIKE '%%INSERT INTO case_entries%%'");
        if (waiting == 0)
            usleep(10000);
    }
    cr_expect_eq(waiting, 1, "the note waits for the case row");

    double t0 = hl_testd_now();
    json_t *r = NULL;
    cr_expect_eq(call(&r, "GET", d.tokens.counsellor, NULL, "/v1/cases/%s", other), 200);
    double took = hl_testd_now() - t0;
    json_decref(r);
    cr_expect_lt(took, 1.5, "the read waited %.2f s for the note of another connection", took);

    PQclear(PQexec(conn, "COMMIT"));
    pthread_join(th, NULL);
    PQfinish(conn);
    cr_expect_eq(n.status, 201, "the note is stored once the row is free");
    cr_expect_eq(scalar("SELECT count(*) FROM case_entries WHERE kind = 'note' AND case_id = '%s'", locked),
                 1);
}

/* ---- links --------------------------------------------------------------------------------- */

Test(cases, link_and_unlink_contacts)
{
    json_t *r = NULL;
    char a[64], b[64], c1[64], c2[64], c3[64], c4[64], za[64];

    new_contact(d.tokens.counsellor, "link-1", c1);
    new_contact(d.tokens.counsellor2, "link-2", c2); /* baraka's */
    new_contact(d.tokens.counsellor, "link-3", c3);
    new_contact(d.tokens.counsellor, "link-4", c4);
    new_contact(d.tokens.za_counsellor, "link-za", za);
    new_case(d.tokens.counsellor, "{'label': 'A'}", a);
    new_case(d.tokens.supervisor, "{'label': 'B'}", b);

    cr_assert_eq(call(&r, "PUT", d.tokens.counsellor, NULL, "/v1/cases/%s/contacts/%s", a, c1), 201);
    cr_expect_str_eq(it_str(r, "status"), "linked");
    json_decref(r);
    cr_expect_eq(call(NULL, "PUT", d.tokens.counsellor, NULL, "/v1/cases/%s/contacts/%s", a, c1), 200,
                 "again");
    cr_expect_eq(call(NULL, "PUT", d.tokens.counsellor, NULL, "/v1/cases/%s/contacts/%s", a, c2), 403,
                 "a counsellor links their own contacts");
    cr_expect_eq(call(NULL, "PUT", d.tokens.supervisor, NULL, "/v1/cases/%s/contacts/%s", a, c2), 201);
    cr_expect_eq(call(&r, "PUT", d.tokens.supervisor, NULL, "/v1/cases/%s/contacts/%s", b, c1), 409);
    cr_expect_str_eq(err_code(r), "already_linked");
    json_decref(r);
    cr_expect_eq(call(NULL, "PUT", d.tokens.counsellor, NULL, "/v1/cases/%s/contacts/%s", a, za), 404);
    cr_expect_eq(call(NULL, "PUT", d.tokens.counsellor, NULL,
                      "/v1/cases/%s/contacts/00000000-0000-4000-8000-000000000000", a),
                 404);
    cr_expect_eq(call(NULL, "PUT", d.tokens.counsellor, NULL, "/v1/cases/%s/contacts/nope", a), 404);
    cr_expect_eq(call(NULL, "PUT", d.tokens.counsellor2, NULL, "/v1/cases/%s/contacts/%s", a, c2), 403,
                 "baraka is not a writer of case A");
    cr_expect_eq(call(NULL, "PUT", d.tokens.za_counsellor, NULL, "/v1/cases/%s/contacts/%s", a, za), 404);
    cr_expect_eq(call(NULL, "PUT", d.tokens.network, NULL, "/v1/cases/%s/contacts/%s", a, c3), 403);
    cr_expect_eq(call(NULL, "PUT", d.tokens.frontend, NULL, "/v1/cases/%s/contacts/%s", a, c3), 403);
    cr_expect_eq(call(NULL, "PUT", d.tokens.admin, NULL, "/v1/cases/%s/contacts/%s", a, c3), 201);
    cr_expect_eq(scalar("SELECT count(*) FROM case_contacts WHERE case_id = '%s'", a), 3);

    /* unlink: audited, kept in the timeline */
    cr_expect_eq(call(NULL, "DELETE", d.tokens.counsellor2, NULL, "/v1/cases/%s/contacts/%s", a, c1), 403);
    cr_expect_eq(call(NULL, "DELETE", d.tokens.network, NULL, "/v1/cases/%s/contacts/%s", a, c1), 403);
    cr_expect_eq(call(NULL, "DELETE", d.tokens.frontend, NULL, "/v1/cases/%s/contacts/%s", a, c1), 403);
    cr_expect_eq(call(NULL, "DELETE", d.tokens.za_counsellor, NULL, "/v1/cases/%s/contacts/%s", a, c1), 404);
    cr_assert_eq(call(&r, "DELETE", d.tokens.counsellor, NULL, "/v1/cases/%s/contacts/%s", a, c1), 200);
    cr_expect_str_eq(it_str(r, "status"), "unlinked");
    json_decref(r);
    cr_expect_eq(call(NULL, "DELETE", d.tokens.counsellor, NULL, "/v1/cases/%s/contacts/%s", a, c1), 404,
                 "again");
    cr_expect_eq(call(NULL, "DELETE", d.tokens.supervisor, NULL, "/v1/cases/%s/contacts/%s", a, c2), 200);
    cr_expect_eq(scalar("SELECT count(*) FROM audit_log WHERE action = 'unlink' AND case_id = '%s'"
                        " AND contact_id = '%s'",
                        a, c1),
                 1);
    /* the assignee links and unlinks its own contacts; an admin unlinks any */
    char c5[64];
    assign_to_chidi(a);
    new_contact(chidi, "link-5", c5);
    cr_expect_eq(call(NULL, "PUT", chidi, NULL, "/v1/cases/%s/contacts/%s", a, c4), 403, "amina's contact");
    cr_expect_eq(call(NULL, "PUT", chidi, NULL, "/v1/cases/%s/contacts/%s", a, c5), 201);
    cr_expect_eq(call(NULL, "DELETE", chidi, NULL, "/v1/cases/%s/contacts/%s", a, c5), 200);
    cr_expect_eq(call(NULL, "DELETE", d.tokens.admin, NULL, "/v1/cases/%s/contacts/%s", a, c3), 200);
    r = get_case(d.tokens.counsellor, a);
    cr_expect_eq(json_integer_value(json_object_get(r, "contacts_count")), 0);
    cr_expect_eq(count_kind(r, "contact"), 8); /* c1, c2, c3, c5 linked, then each unlinked */
    json_t *e;
    size_t i, unlinked = 0;
    json_array_foreach(json_object_get(r, "timeline"), i, e) unlinked +=
        json_is_true(json_object_get(e, "unlinked"));
    cr_expect_eq(unlinked, 4);
    json_decref(r);
    /* now free for another case */
    cr_expect_eq(call(NULL, "PUT", d.tokens.supervisor, NULL, "/v1/cases/%s/contacts/%s", b, c1), 201);

    /* POST /v1/cases with contacts: all or nothing */
    long cases_before = scalar("SELECT count(*) FROM cases");
    char body[256];
    snprintf(body, sizeof(body), "{'label': 'C', 'contacts': ['%s', '%s']}", c4, c2);
    cr_expect_eq(call(&r, "POST", d.tokens.counsellor, body, "/v1/cases"), 403);
    cr_expect_str_eq(err_field(r), "/contacts/1");
    json_decref(r);
    snprintf(body, sizeof(body), "{'label': 'C', 'contacts': ['%s', '%s']}", c4, c1);
    cr_expect_eq(call(&r, "POST", d.tokens.counsellor, body, "/v1/cases"), 409);
    cr_expect_str_eq(err_code(r), "already_linked");
    cr_expect_str_eq(err_field(r), "/contacts/1");
    json_decref(r);
    snprintf(body, sizeof(body), "{'label': 'C', 'contacts': ['%s', '%s']}", c4, za);
    cr_expect_eq(call(&r, "POST", d.tokens.counsellor, body, "/v1/cases"), 400);
    cr_expect_str_eq(err_field(r), "/contacts/1");
    json_decref(r);
    cr_expect_eq(scalar("SELECT count(*) FROM cases"), cases_before);
    cr_expect_eq(scalar("SELECT count(*) FROM case_contacts WHERE contact_id = '%s'", c4), 0);
    snprintf(body, sizeof(body), "{'label': 'C', 'contacts': ['%s']}", c4);
    cr_expect_eq(call(&r, "POST", d.tokens.counsellor, body, "/v1/cases"), 201);
    cr_expect_eq(json_integer_value(json_object_get(r, "contacts_count")), 1);
    json_decref(r);
}

/* Two links of one contact to two cases at once: the primary key lets one win, the other is 409. */
typedef struct {
    pthread_barrier_t *barrier;
    char path[200];
    long status;
} race_t;

static void *link_race(void *arg)
{
    race_t *a = arg;

    pthread_barrier_wait(a->barrier);
    json_decref(hl_testd_request(&d, "PUT", a->path, d.tokens.supervisor, NULL, NULL, &a->status, NULL));
    return NULL;
}

Test(cases, concurrent_links_of_one_contact)
{
    char a[64], b[64], contact[64];

    new_case(d.tokens.supervisor, "{'label': 'A'}", a);
    new_case(d.tokens.supervisor, "{'label': 'B'}", b);
    for (int round = 0; round < 5; round++) {
        char sid[32];
        pthread_barrier_t barrier;
        pthread_t th[2];
        race_t args[2];

        snprintf(sid, sizeof(sid), "race-%d", round);
        new_contact(d.tokens.counsellor, sid, contact);
        pthread_barrier_init(&barrier, NULL, 2);
        for (int i = 0; i < 2; i++) {
            args[i].barrier = &barrier;
            snprintf(args[i].path, sizeof(args[i].path), "/v1/cases/%s/contacts/%s", i == 0 ? a : b, contact);
            cr_assert_eq(pthread_create(&th[i], NULL, link_race, &args[i]), 0);
        }
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&barrier);
        cr_expect((args[0].status == 201 && args[1].status == 409) ||
                      (args[0].status == 409 && args[1].status == 201),
                  "round %d: %ld and %ld", round, args[0].status, args[1].status);
        cr_expect_eq(scalar("SELECT count(*) FROM case_contacts WHERE contact_id = '%s'", contact), 1);
        cr_expect_eq(scalar("SELECT count(*) FROM case_entries WHERE contact_id = '%s'", contact), 1);
    }
}

/* ---- bad input ----------------------------------------------------------------------------- */

typedef struct {
    const char *method;
    const char *suffix; /* after /v1/cases/{id}; "" for the case, "-" for POST /v1/cases */
    const char *body;
    long status;
    const char *code;
    const char *field; /* NULL: none */
} bad_t;

static const bad_t bad[] = {
    {"POST", "-", "{'label': 'x', 'priority': 'urgent'}", 400, "invalid_field", "/priority"},
    {"POST", "-", "{'summary': 'x'}", 400, "missing_field", "/label"},
    {"POST", "-", "{'label': 'x', 'status': 'open'}", 400, "unknown_field", "/status"},
    {"POST", "-", "{'label': 'x', 'contacts': ['nope']}", 400, "invalid_field", "/contacts/0"},
    {"POST", "-", "{'label': 'x', 'follow_up_at': 'tomorrow'}", 400, "invalid_field", "/follow_up_at"},
    {"POST", "-", "{'label': ", 400, "bad_json", NULL},
    {"PATCH", "", "{}", 400, "missing_field", ""},
    {"PATCH", "", "{'label': ''}", 400, "invalid_field", "/label"},
    {"PATCH", "", "{'priority': 'low', 'status': 'done'}", 400, "invalid_field", "/status"},
    {"PATCH", "", "{'priority': 'low', 'assigned_to': 'nobody'}", 400, "invalid_field", "/assigned_to"},
    {"PATCH", "", "{'priority': 'low', 'contacts': []}", 400, "unknown_field", "/contacts"},
    {"PATCH", "", "{'summary': 7}", 400, "invalid_field", "/summary"},
    {"POST", "/notes", "{'text': ''}", 400, "invalid_field", "/text"},
    {"POST", "/notes", "{'note': 'x'}", 400, "unknown_field", "/note"},
    {"POST", "/notes", "[]", 400, "bad_json", ""},
    {"POST", "/referrals", "{'to': 'report.csam'}", 400, "invalid_field", "/to"},
    {"POST", "/referrals", "{'to': 'referral.healthcare', 'state': 'gone'}", 400, "invalid_field", "/state"},
    {"POST", "/referrals", "{'to': 'referral.healthcare', 'organisation': 5}", 400, "invalid_field",
     "/organisation"},
    {"PATCH", "/referrals/R", "{'state': 'nope'}", 400, "invalid_field", "/state"},
    {"PATCH", "/referrals/R", "{'state': 'accepted', 'to': 'referral.healthcare'}", 400, "unknown_field",
     "/to"},
};

Test(cases, bad_input_names_the_field_and_changes_nothing)
{
    json_t *r = NULL, *before, *after;
    char id[64], rid[64], contact[64], path[200];

    new_contact(d.tokens.counsellor, "bad-1", contact);
    snprintf(path, sizeof(path), "{'label': 'B', 'summary': 'S', 'contacts': ['%s']}", contact);
    new_case(d.tokens.counsellor, path, id);
    cr_assert_eq(call(NULL, "POST", d.tokens.counsellor, "{'text': 'n'}", "/v1/cases/%s/notes", id), 201);
    cr_assert_eq(
        call(&r, "POST", d.tokens.counsellor, "{'to': 'referral.healthcare'}", "/v1/cases/%s/referrals", id),
        201);
    snprintf(rid, sizeof(rid), "%s", it_str(r, "id"));
    json_decref(r);
    before = get_case(d.tokens.counsellor, id);
    long cases = scalar("SELECT count(*) FROM cases"), entries = scalar("SELECT count(*) FROM case_entries"),
         referrals = scalar("SELECT count(*) FROM referrals");

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (strcmp(bad[i].suffix, "-") == 0)
            snprintf(path, sizeof(path), "/v1/cases");
        else if (strcmp(bad[i].suffix, "/referrals/R") == 0)
            snprintf(path, sizeof(path), "/v1/cases/%s/referrals/%s", id, rid);
        else
            snprintf(path, sizeof(path), "/v1/cases/%s%s", id, bad[i].suffix);
        long status = call(&r, bad[i].method, d.tokens.counsellor, bad[i].body, "%s", path);
        cr_expect_eq(status, bad[i].status, "%zu: %s %s %s: %ld", i, bad[i].method, path, bad[i].body,
                     status);
        cr_expect_str_eq(err_code(r), bad[i].code, "%zu: %s", i, bad[i].body);
        if (bad[i].field != NULL)
            cr_expect_str_eq(err_field(r), bad[i].field, "%zu: %s", i, bad[i].body);
        else
            cr_expect_null(err_field(r), "%zu", i);
        json_decref(r);
    }
    /* not JSON; a method the path does not take */
    long status = 0;
    json_decref(
        hl_testd_request(&d, "POST", "/v1/cases", d.tokens.counsellor, "text/plain", "{}", &status, NULL));
    cr_expect_eq(status, 415);
    cr_expect_eq(call(NULL, "POST", d.tokens.counsellor, "{}", "/v1/cases/%s/contacts/%s", id, contact), 405);

    after = get_case(d.tokens.counsellor, id);
    cr_expect(json_equal(before, after), "the case changed:\n%s\n%s", json_dumps(before, 0),
              json_dumps(after, 0));
    json_decref(before);
    json_decref(after);
    cr_expect_eq(scalar("SELECT count(*) FROM cases"), cases);
    cr_expect_eq(scalar("SELECT count(*) FROM case_entries"), entries);
    cr_expect_eq(scalar("SELECT count(*) FROM referrals"), referrals);
}

/* ---- list ---------------------------------------------------------------------------------- */

/* Every id of GET /v1/cases?QUERY, page by page (LIMIT each); aborts on a duplicate. */
static size_t list_all(const char *token, const char *query, int limit, char ids[][64], size_t max)
{
    char cursor[128] = "";
    size_t n = 0;

    for (int page = 0; page < 100; page++) {
        json_t *r = NULL, *item;
        size_t i;
        cr_assert_eq(call(&r, "GET", token, NULL, "/v1/cases?%s%slimit=%d%s%s", query, query[0] ? "&" : "",
                          limit, cursor[0] ? "&cursor=" : "", cursor),
                     200, "%s", query);
        cr_assert_leq(json_array_size(json_object_get(r, "items")), (size_t)limit);
        json_array_foreach(json_object_get(r, "items"), i, item)
        {
            cr_assert_lt(n, max);
            cr_expect_not(holds_sealed_keys(item));
            for (size_t k = 0; k < n; k++)
                cr_assert_str_neq(ids[k], it_str(item, "id"), "a duplicate across pages");
            snprintf(ids[n++], 64, "%s", it_str(item, "id"));
        }
        const char *next = it_str(r, "next_cursor");
        if (next == NULL) {
            cr_expect(json_is_null(json_object_get(r, "next_cursor")));
            json_decref(r);
            return n;
        }
        snprintf(cursor, sizeof(cursor), "%s", next);
        json_decref(r);
    }
    cr_assert_fail("no last page");
    return n;
}

Test(cases, list_filters_and_cursor_pages)
{
    char ids[16][64], got[32][64], za[64];
    json_t *r = NULL;

    /* 9 cases, oldest first: ids[0] .. ids[8] */
    for (int i = 0; i < 9; i++) {
        char body[160];
        snprintf(body, sizeof(body), "{'label': 'L%d', 'priority': '%s'%s}", i,
                 i % 3 == 0 ? "high" : "normal",
                 i % 2 == 0 ? ", 'follow_up_at': '2026-11-30T23:00:00Z'" : "");
        new_case(i < 6 ? d.tokens.counsellor : d.tokens.supervisor, body, ids[i]);
    }
    new_case(d.tokens.za_counsellor, "{'label': 'za'}", za);
    cr_assert_eq(call(NULL, "PATCH", d.tokens.counsellor, "{'status': 'closed'}", "/v1/cases/%s", ids[1]),
                 200);
    cr_assert_eq(
        call(NULL, "PATCH", d.tokens.supervisor, "{'assigned_to': 'baraka'}", "/v1/cases/%s", ids[7]), 200);

    /* everything, newest first, in pages of 2 */
    size_t n = list_all(d.tokens.counsellor2, "", 2, got, 32);
    cr_expect_eq(n, 9, "every case of the helpline, none of za's");
    for (size_t i = 0; i < n && i < 9; i++)
        cr_expect_str_eq(got[i], ids[8 - i], "position %zu", i);
    cr_expect_eq(list_all(d.tokens.za_counsellor, "", 50, got, 32), 1);
    /* filters */
    cr_expect_eq(list_all(d.tokens.supervisor, "status=closed", 50, got, 32), 1);
    cr_expect_str_eq(got[0], ids[1]);
    cr_expect_eq(list_all(d.tokens.supervisor, "status=open", 3, got, 32), 8);
    cr_expect_eq(list_all(d.tokens.supervisor, "priority=high", 1, got, 32), 3);
    cr_expect_eq(list_all(d.tokens.counsellor, "assigned_to=me", 4, got, 32), 6);
    cr_expect_eq(list_all(d.tokens.counsellor, "assigned_to=me&status=open", 4, got, 32), 5);
    cr_expect_eq(list_all(d.tokens.supervisor, "assigned_to=baraka", 50, got, 32), 1);
    cr_expect_str_eq(got[0], ids[7]);
    cr_expect_eq(list_all(d.tokens.supervisor, "assigned_to=none", 50, got, 32), 2); /* ids[6], ids[8] */
    cr_expect_eq(list_all(d.tokens.admin, "follow_up_before=2026-11-30", 50, got, 32), 5, "due on that day");
    cr_expect_eq(list_all(d.tokens.admin, "follow_up_before=2026-11-29", 50, got, 32), 0);
    cr_expect_eq(
        list_all(d.tokens.admin, "follow_up_before=2026-11-30&priority=high&status=open", 50, got, 32),
        2); /* ids[0] and ids[6] */

    /* items carry metadata */
    cr_assert_eq(call(&r, "GET", d.tokens.counsellor, NULL, "/v1/cases?limit=1"), 200);
    json_t *item = json_array_get(json_object_get(r, "items"), 0);
    const char *keys[] = {"id",          "status",     "priority",   "follow_up_at",
                          "assigned_to", "created_at", "updated_at", "contacts_count"};
    for (size_t i = 0; i < 8; i++)
        cr_expect_not_null(json_object_get(item, keys[i]), "%s", keys[i]);
    cr_expect_not(holds_sealed_keys(item));
    char cursor[128];
    snprintf(cursor, sizeof(cursor), "%s", it_str(r, "next_cursor"));
    json_decref(r);
    cr_expect_eq(call(NULL, "GET", d.tokens.counsellor, NULL, "/v1/cases?limit=1&cursor=%s", cursor), 200);

    /* a cursor is bound to its query and its user, and cannot be altered */
    cr_expect_eq(call(&r, "GET", d.tokens.counsellor, NULL, "/v1/cases?limit=2&cursor=%s", cursor), 400);
    cr_expect_str_eq(err_field(r), "cursor");
    json_decref(r);
    cr_expect_eq(
        call(NULL, "GET", d.tokens.counsellor, NULL, "/v1/cases?limit=1&status=open&cursor=%s", cursor), 400);
    cr_expect_eq(call(NULL, "GET", d.tokens.counsellor2, NULL, "/v1/cases?limit=1&cursor=%s", cursor), 400);
    cursor[10] = cursor[10] == 'A' ? 'B' : 'A';
    cr_expect_eq(call(NULL, "GET", d.tokens.counsellor, NULL, "/v1/cases?limit=1&cursor=%s", cursor), 400);
    cr_expect_eq(call(NULL, "GET", d.tokens.counsellor, NULL, "/v1/cases?limit=1&cursor=garbage"), 400);

    /* bad filters */
    const char *bad_q[][2] = {{"status=done", "status"},
                              {"priority=urgent", "priority"},
                              {"assigned_to=nobody", "assigned_to"},
                              {"follow_up_before=2026-13-01", "follow_up_before"},
                              {"follow_up_before=tomorrow", "follow_up_before"},
                              {"limit=0", "limit"},
                              {"limit=201", "limit"},
                              {"limit=5x", "limit"}};
    for (size_t i = 0; i < sizeof(bad_q) / sizeof(bad_q[0]); i++) {
        cr_expect_eq(call(&r, "GET", d.tokens.counsellor, NULL, "/v1/cases?%s", bad_q[i][0]), 400, "%s",
                     bad_q[i][0]);
        cr_expect_str_eq(err_field(r), bad_q[i][1]);
        json_decref(r);
    }
    cr_expect_eq(call(NULL, "GET", d.tokens.network, NULL, "/v1/cases"), 403);
    cr_expect_eq(call(NULL, "GET", d.tokens.frontend, NULL, "/v1/cases"), 403);
    cr_expect_eq(call(NULL, "GET", d.tokens.counsellor, NULL, "/v1/cases?limit=200"), 200);
}

/* ---- privacy ------------------------------------------------------------------------------- */

#define MAX_MARKS 32
static char marks[MAX_MARKS][64];
static size_t n_marks;

static const char *mark(const char *prefix)
{
    cr_assert_lt(n_marks, MAX_MARKS);
    it_marker(marks[n_marks], sizeof(marks[0]), prefix);
    return marks[n_marks++];
}

static void expect_clean(const char *what, const char *text, size_t len)
{
    for (size_t i = 0; i < n_marks; i++) {
        cr_expect(!it_contains(text, len, marks[i]), "%s holds \"%s\"", what, marks[i]);
        cr_expect(!it_contains_hex(text, len, marks[i]), "%s holds \"%s\" hex-encoded", what, marks[i]);
    }
}

Test(cases, sealed_fields_appear_nowhere_in_clear)
{
    char id[64], rid[64], body[512];
    json_t *r = NULL;
    const char *label = mark("Caselabel"), *summary = mark("Casesummary");

    snprintf(body, sizeof(body), "{'label': '%s', 'summary': '%s'}", label, summary);
    new_case(d.tokens.counsellor, body, id);
    for (int i = 0; i < 3; i++) {
        snprintf(body, sizeof(body), "{'text': 'line one\\n%s'}", mark("Notetext"));
        cr_assert_eq(call(NULL, "POST", d.tokens.counsellor, body, "/v1/cases/%s/notes", id), 201);
    }
    const char *org = mark("Organisation"), *details = mark("Details");
    snprintf(body, sizeof(body), "{'to': 'referral.mental_health', 'organisation': '%s', 'details': '%s'}",
             org, details);
    cr_assert_eq(call(&r, "POST", d.tokens.counsellor, body, "/v1/cases/%s/referrals", id), 201);
    snprintf(rid, sizeof(rid), "%s", it_str(r, "id"));
    json_decref(r);
    cr_assert_eq(call(NULL, "PATCH", d.tokens.counsellor, "{'state': 'accepted'}",
                      "/v1/cases/%s/referrals/%s", id, rid),
                 200);
    const char *label2 = mark("Patchedlabel"), *summary2 = mark("Patchedsummary");
    snprintf(body, sizeof(body), "{'label': '%s', 'summary': '%s'}", label2, summary2);
    cr_assert_eq(call(NULL, "PATCH", d.tokens.counsellor, body, "/v1/cases/%s", id), 200);
    /* refused input around sealed values: the error never echoes them */
    snprintf(body, sizeof(body), "{'label': '%s', 'priority': '%s'}", mark("Refusedlabel"),
             mark("Badpriority"));
    char *raw = NULL;
    long status = 0;
    char *b = strdup(body);
    for (char *p = b; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_decref(
        hl_testd_request(&d, "POST", "/v1/cases", d.tokens.counsellor, "application/json", b, &status, &raw));
    cr_expect_eq(status, 400);
    expect_clean("an error reply", raw, strlen(raw));
    free(raw);
    free(b);

    /* reads by every role */
    const char *readers[] = {d.tokens.counsellor, d.tokens.admin, d.tokens.supervisor, d.tokens.counsellor2};
    for (int k = 0; k < 4; k++) {
        cr_assert_eq(call(&r, "GET", readers[k], NULL, "/v1/cases/%s", id), 200);
        if (k < 2)
            cr_expect_str_eq(it_str(r, "summary"), summary2, "the writers read it back");
        json_decref(r);
    }
    cr_expect_eq(call(NULL, "GET", d.tokens.counsellor, NULL, "/v1/cases?limit=5"), 200);
    cr_expect_eq(reads_audited(id), 2);

    /* the database, dumped */
    char dump[HL_TESTD_PATH_LEN + 16];
    size_t len;
    snprintf(dump, sizeof(dump), "%s/dump.sql", d.dir);
    cr_assert_eq(hl_testd_pg_dump(d.conninfo, dump), 0, "pg_dump failed (see %s.log)", dump);
    char *text = hl_testd_read_file(dump, &len);
    cr_assert_not_null(text);
    cr_assert(it_contains(text, len, "COPY public.case_entries"), "the dump holds the timeline");
    cr_assert(it_contains(text, len, id), "the dump holds the case");
    expect_clean("pg_dump", text, len);
    free(text);
    /* the PostgreSQL server's log (scripts/with-pg's cluster) */
    const char *pgdir = getenv("HL_TEST_PG_DIR");
    if (pgdir != NULL) {
        char pglog[HL_TESTD_PATH_LEN];
        snprintf(pglog, sizeof(pglog), "%s/server.log", pgdir);
        text = hl_testd_read_file(pglog, &len);
        if (text != NULL)
            expect_clean("the PostgreSQL log", text, len);
        free(text);
    }
    /* the daemon's log, the spool */
    text = hl_testd_read_file(d.log, &len);
    cr_assert_not_null(text);
    cr_assert(it_contains(text, len, "helplined ready"), "the log is the daemon's");
    expect_clean("the daemon's log", text, len);
    free(text);
    size_t n_files;
    text = it_read_tree(d.spool, &len, &n_files);
    expect_clean("the spool", text, len);
    free(text);
}
