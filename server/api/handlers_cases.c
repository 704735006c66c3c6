/*
 * Cases (api.md "Cases", docs/http-api.md "Cases"): POST, GET and PATCH /v1/cases/{id}, notes,
 * referrals and their states, contact links, and the list GET /v1/cases.
 *
 * Who may do what, once the case is found in the caller's helpline (else 404):
 *   - its writers: admins, and the counsellor who created it or to whom it is assigned. They
 *     read sealed fields (each read audited first) and may do everything below;
 *   - supervisors read everything but sealed fields, and may change priority, follow-up,
 *     assignee and status, and link and unlink contacts;
 *   - other counsellors of the helpline read metadata only and change nothing.
 * Every write is one transaction: the case row locked, its change, a timeline entry where the
 * change has a kind, updated_at stamped. Bad input (400) is refused before anything is written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "access/audit.h"
#include "casework/case_json.h"
#include "casework/cases.h"
#include "http/cursor.h"
#include "db/db.h"
#include "api/ingest.h"
#include "log.h"

#define LIST_DEFAULT 50
#define LIST_MAX     200

typedef struct {
    hl_app_t *app;
    hl_request_t *req;
    const hl_principal_t *who;
    PGconn *conn;
    char case_id[HL_RECORD_UUID_LEN + 1];
    char sub_id[HL_RECORD_UUID_LEN + 1]; /* the second path id ("" when none) */
    hl_case_row_t c;
    hl_case_view_t view;
    bool audited; /* a GET's: the audit row of the read is written */
} ctx_t;

/* ---- replies and checks -------------------------------------------------------------------- */

static void reply_internal(hl_request_t *req, int rc)
{
    hl_ingest_reply_internal(req, rc == HL_ECRYPTO ? HL_EIO : rc);
}

static void reply_input(hl_request_t *req, const hl_contact_error_t *e)
{
    hl_http_reply_error(req, 400, e->code, e->message, e->has_field ? e->field : NULL);
}

/* The request's body parsed as KIND, or NULL after the 400 (or 503) has been sent. */
static hl_case_input_t *parse_body(hl_request_t *req, hl_case_body_t kind)
{
    hl_case_input_t *in = NULL;
    hl_contact_error_t err;
    size_t len;
    const char *body = hl_http_body(req, &len);
    int rc = hl_case_parse(kind, body, len, &in, &err);

    if (rc == HL_EINVAL)
        reply_input(req, &err);
    else if (rc != HL_OK)
        reply_internal(req, rc);
    return rc == HL_OK ? in : NULL;
}

static void reply_not_found(hl_request_t *req)
{
    hl_http_reply_error(req, 404, "not_found", "no such case in this helpline", NULL);
}

/* Canonical (lower-case) text of the UUID TEXT into OUT; false when TEXT is not one. */
static bool canonical_id(const char *text, size_t len, char out[HL_RECORD_UUID_LEN + 1])
{
    uint8_t raw[HL_RECORD_ID_BYTES];
    char buf[HL_RECORD_UUID_LEN + 1];

    if (len != HL_RECORD_UUID_LEN)
        return false;
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (!hl_record_id_from_text(buf, raw))
        return false;
    hl_record_id_to_text(raw, out);
    return true;
}

static void new_id(char out[HL_RECORD_UUID_LEN + 1])
{
    uint8_t raw[HL_RECORD_ID_BYTES];

    hl_record_new_id(raw);
    hl_record_id_to_text(raw, out);
}

static bool is_writer(const hl_principal_t *who, const hl_case_row_t *c)
{
    return who->role == HL_ROLE_ADMIN ||
           (who->role == HL_ROLE_COUNSELLOR &&
            (who->user_id == c->created_by || (c->assigned_to > 0 && who->user_id == c->assigned_to)));
}

/* What is_writer decides, for the statements that decide it in PostgreSQL (a GET's audit row, a
 * note). */
static hl_case_caller_t caller_of(const hl_principal_t *who)
{
    return (hl_case_caller_t){.helpline_id = who->helpline_id,
                              .user_id = who->user_id,
                              .any_case = who->role == HL_ROLE_ADMIN,
                              .writer_id = who->role == HL_ROLE_COUNSELLOR ? who->user_id : 0};
}

static hl_case_view_t view_of(const hl_principal_t *who, const hl_case_row_t *c)
{
    if (is_writer(who, c))
        return HL_CASE_VIEW_SEALED;
    return who->role == HL_ROLE_SUPERVISOR ? HL_CASE_VIEW_PLAIN : HL_CASE_VIEW_METADATA;
}

/* Releases what begin() took; an open transaction is rolled back by the pool. */
static void finish(ctx_t *x)
{
    if (x->conn != NULL)
        hl_dbpool_release(x->app->pool, x->conn);
    x->conn = NULL;
    hl_case_row_clear(&x->c);
}

/* The path's ids (N_IDS 1 or 2; malformed ones are 404). false: answered. */
static bool path_ids(ctx_t *x, hl_app_t *app, hl_request_t *req, int n_ids)
{
    const char *arg = hl_http_path_arg(req), *slash = strchr(arg, '/');
    size_t first = slash != NULL ? (size_t)(slash - arg) : strlen(arg);

    memset(x, 0, sizeof(*x));
    x->app = app;
    x->req = req;
    x->who = hl_http_principal(req);
    if (!canonical_id(arg, first, x->case_id)) {
        reply_not_found(req);
        return false;
    }
    if (n_ids == 2 && (slash == NULL || !canonical_id(slash + 1, strlen(slash + 1), x->sub_id))) {
        hl_http_reply_error(req, 404, "not_found", "no such record in this case", NULL);
        return false;
    }
    return true;
}

/* A connection for X. false: answered (call finish()). */
static bool connect_db(ctx_t *x)
{
    if ((x->conn = hl_dbpool_acquire(x->app->pool, 2000)) != NULL)
        return true;
    reply_internal(x->req, HL_EDB);
    return false;
}

/*
 * The common start of a case request: path_ids() and connect_db(), then for a WRITE a transaction
 * with the case row locked, for a read the case with its sealed fields and the read's audit row when the
 * caller writes the case (hl_cases_read), the case (404 when not in the caller's helpline) and
 * what the caller may see of it. false: answered (call finish()).
 */
static bool begin(ctx_t *x, hl_app_t *app, hl_request_t *req, int n_ids, bool write)
{
    hl_case_caller_t caller;
    int rc;

    if (!path_ids(x, app, req, n_ids) || !connect_db(x))
        return false;
    if (write && hl_db_exec(x->conn, "BEGIN") != HL_OK) {
        reply_internal(req, HL_EDB);
        return false;
    }
    caller = caller_of(x->who);
    rc = write ? hl_cases_load(x->conn, x->who->helpline_id, x->case_id, true, false, &x->c)
               : hl_cases_read(x->conn, &caller, x->case_id, HL_AUDIT_READ_SENSITIVE, &x->c, &x->audited);
    if (rc == HL_ENOTFOUND) {
        reply_not_found(req);
        return false;
    }
    if (rc != HL_OK) {
        reply_internal(req, rc);
        return false;
    }
    x->view = view_of(x->who, &x->c);
    return true;
}

static void reply_not_writer(hl_request_t *req, const char *field)
{
    hl_http_reply_error(req, 403, "forbidden", "only the case's creator, its assignee and admins may do this",
                        field);
}

/* Only the case's writers (FIELD: the body field that needs it, or NULL). */
static bool need_writer(ctx_t *x, const char *field)
{
    if (x->view == HL_CASE_VIEW_SEALED)
        return true;
    reply_not_writer(x->req, field);
    return false;
}

/* Stamps updated_at, commits. false: answered. */
static bool touch_commit(ctx_t *x, unsigned changed)
{
    int rc;

    if ((rc = hl_cases_update(x->conn, &x->c, changed)) != HL_OK ||
        (rc = hl_db_exec(x->conn, "COMMIT")) != HL_OK) {
        reply_internal(x->req, rc);
        return false;
    }
    return true;
}

/* Metadata of case ID as it is now (inside the caller's transaction) for a 200/201 reply. */
static void reply_case(ctx_t *x, unsigned status)
{
    hl_case_row_t now;
    json_t *body = NULL;
    int rc = hl_cases_load(x->conn, x->who->helpline_id, x->case_id, false, false, &now);

    if (rc == HL_OK)
        rc = hl_case_json(NULL, &now, HL_CASE_VIEW_PLAIN, &body);
    hl_case_row_clear(&now);
    if (rc != HL_OK) {
        reply_internal(x->req, rc);
        return;
    }
    hl_http_reply_json(x->req, status, body);
}

/* ---- assignee ------------------------------------------------------------------------------ */

/*
 * The user id IN assigns the case to (0: nobody), checked: a counsellor or admin of the helpline
 * whose token is not revoked (400 otherwise), and someone else than the caller only when the
 * caller is a supervisor or an admin (403). false: answered.
 */
static bool resolve_assignee(ctx_t *x, const hl_case_input_t *in, int64_t *out)
{
    char role[16];
    bool revoked = false;
    int rc;

    *out = 0;
    if (in->has_assigned_to != HL_CONTACT_SET)
        return true;
    if (strcmp(in->assigned_to, "me") == 0) {
        /* the caller, as in the list's filter (a user named "me" is assigned by its id's owner) */
        if (x->who->role != HL_ROLE_COUNSELLOR && x->who->role != HL_ROLE_ADMIN) {
            hl_http_reply_error(
                x->req, 400, "invalid_field",
                "assigned_to \"me\" needs a counsellor or an admin: cases are assigned to them",
                "/assigned_to");
            return false;
        }
        *out = x->who->user_id;
        return true;
    }
    rc = hl_cases_user(x->conn, x->who->helpline_id, in->assigned_to, out, role, &revoked);
    if (rc == HL_ENOTFOUND ||
        (rc == HL_OK && (revoked || (strcmp(role, "counsellor") != 0 && strcmp(role, "admin") != 0)))) {
        hl_http_reply_error(
            x->req, 400, "invalid_field",
            "assigned_to must name a counsellor or an admin of this helpline who is not revoked",
            "/assigned_to");
        return false;
    }
    if (rc != HL_OK) {
        reply_internal(x->req, rc);
        return false;
    }
    if (*out != x->who->user_id && x->who->role != HL_ROLE_SUPERVISOR && x->who->role != HL_ROLE_ADMIN) {
        hl_http_reply_error(x->req, 403, "forbidden",
                            "only supervisors and admins assign a case to someone else", "/assigned_to");
        return false;
    }
    return true;
}

/* ---- contacts ------------------------------------------------------------------------------ */

/* May the caller link or unlink contacts of this case (writers and supervisors)? */
static bool may_link(ctx_t *x)
{
    if (x->view == HL_CASE_VIEW_SEALED || x->who->role == HL_ROLE_SUPERVISOR)
        return true;
    hl_http_reply_error(x->req, 403, "forbidden",
                        "only the case's creator, its assignee, supervisors and admins link contacts", NULL);
    return false;
}

/*
 * Links CONTACT_ID (canonical) to the case; FIELD names it in the body ("/contacts/N") or is
 * NULL (the path). *CREATED: a new link (and its entry). 400/404 for an unknown contact, 403 for
 * a counsellor's link of another counsellor's contact, 409 already_linked. false: answered.
 */
static bool link_contact(ctx_t *x, const char *contact_id, const char *field, bool *created)
{
    char counsellor[HL_CASES_NAME_MAX + 1], holder[HL_RECORD_UUID_LEN + 1] = "";
    hl_case_entry_t e;
    int rc = hl_cases_contact(x->conn, x->who->helpline_id, contact_id, counsellor);

    if (rc == HL_ENOTFOUND) {
        hl_http_reply_error(x->req, field != NULL ? 400 : 404, field != NULL ? "invalid_field" : "not_found",
                            "no such contact in this helpline", field);
        return false;
    }
    if (rc == HL_OK && x->who->role == HL_ROLE_COUNSELLOR && strcmp(counsellor, x->who->name) != 0) {
        hl_http_reply_error(x->req, 403, "forbidden", "counsellors link their own contacts", field);
        return false;
    }
    if (rc == HL_OK)
        rc = hl_cases_link(x->conn, x->case_id, contact_id, x->who->user_id, created, holder);
    if (rc != HL_OK) {
        reply_internal(x->req, rc);
        return false;
    }
    if (!*created && strcmp(holder, x->case_id) != 0) {
        hl_http_reply_error(x->req, 409, HL_CASE_ERR_ALREADY_LINKED, "the contact is linked to another case",
                            field);
        return false;
    }
    if (!*created)
        return true;
    memset(&e, 0, sizeof(e));
    new_id(e.id);
    e.kind = HL_CASE_ENTRY_CONTACT;
    e.by = x->who->user_id;
    snprintf(e.contact_id, sizeof(e.contact_id), "%s", contact_id);
    if ((rc = hl_cases_add_entry(x->conn, x->case_id, &e)) != HL_OK) {
        reply_internal(x->req, rc);
        return false;
    }
    return true;
}

static void reply_link(ctx_t *x, unsigned status, const char *what)
{
    hl_http_reply_json(
        x->req, status,
        json_pack("{s:s, s:s, s:s}", "case_id", x->case_id, "contact_id", x->sub_id, "status", what));
}

/* ---- POST /v1/cases ------------------------------------------------------------------------ */

static bool add_status_entry(ctx_t *x, int from, hl_case_status_t to)
{
    hl_case_entry_t e;
    int rc;

    memset(&e, 0, sizeof(e));
    new_id(e.id);
    e.kind = HL_CASE_ENTRY_STATUS;
    e.by = x->who->user_id;
    e.status_from = from;
    e.status_to = to;
    if ((rc = hl_cases_add_entry(x->conn, x->case_id, &e)) != HL_OK)
        reply_internal(x->req, rc);
    return rc == HL_OK;
}

static void create(ctx_t *x, const hl_case_input_t *in)
{
    hl_case_row_t *c = &x->c;
    int rc;

    c->helpline_id = x->who->helpline_id;
    c->created_by = x->who->user_id;
    c->priority = in->has_priority == HL_CONTACT_SET ? in->priority : HL_CASE_PRIORITY_NORMAL;
    c->has_follow_up = in->has_follow_up_at == HL_CONTACT_SET;
    c->follow_up_at = in->follow_up_at;
    /* A counsellor's new case is theirs unless the body says otherwise. */
    if (in->has_assigned_to == HL_CONTACT_ABSENT && x->who->role == HL_ROLE_COUNSELLOR)
        c->assigned_to = x->who->user_id;
    else if (!resolve_assignee(x, in, &c->assigned_to))
        return;
    if ((rc = hl_cases_seal(x->app->keyring, HL_CASES_TABLE, "label", x->case_id, NULL, in->label,
                            &c->label)) != HL_OK ||
        (rc = hl_cases_seal(x->app->keyring, HL_CASES_TABLE, "summary", x->case_id, NULL,
                            in->has_summary == HL_CONTACT_SET ? in->summary : NULL, &c->summary)) != HL_OK ||
        (rc = hl_cases_insert(x->conn, c)) != HL_OK) {
        reply_internal(x->req, rc);
        return;
    }
    if (!add_status_entry(x, -1, HL_CASE_OPEN))
        return;
    for (size_t i = 0; i < in->n_contacts; i++) {
        char field[32];
        bool created;
        snprintf(field, sizeof(field), "/contacts/%zu", i);
        if (!link_contact(x, in->contacts[i], field, &created))
            return;
    }
    if (hl_db_exec(x->conn, "COMMIT") != HL_OK) {
        reply_internal(x->req, HL_EDB);
        return;
    }
    reply_case(x, 201);
}

void hl_handle_cases_create(hl_request_t *req, void *arg)
{
    ctx_t x;
    hl_case_input_t *in = parse_body(req, HL_CASE_BODY_CREATE);

    memset(&x, 0, sizeof(x));
    x.app = arg;
    x.req = req;
    x.who = hl_http_principal(req);
    if (in == NULL)
        ; /* answered */
    else if ((x.conn = hl_dbpool_acquire(x.app->pool, 2000)) == NULL || hl_db_exec(x.conn, "BEGIN") != HL_OK)
        reply_internal(req, HL_EDB);
    else {
        new_id(x.case_id);
        snprintf(x.c.id, sizeof(x.c.id), "%s", x.case_id);
        create(&x, in);
    }
    finish(&x);
    hl_case_input_free(in);
}

/* ---- GET /v1/cases/{id} -------------------------------------------------------------------- */

void hl_handle_cases_get(hl_request_t *req, void *arg)
{
    ctx_t x;
    hl_case_entry_t *entries = NULL;
    size_t n = 0, len = 0;
    char *text = NULL;
    int rc;

    if (!begin(&x, arg, req, 1, false))
        goto out;
    /* No sealed field leaves without its audit row (written with the read). */
    if (x.view == HL_CASE_VIEW_SEALED && !x.audited) {
        hl_log(HL_LOG_ERROR, "case %s: a sealed read without its audit row", x.case_id);
        reply_internal(req, HL_EDB);
        goto out;
    }
    if ((rc = hl_cases_timeline(x.conn, x.case_id, &entries, &n)) != HL_OK) {
        reply_internal(req, rc);
        goto out;
    }
    if ((rc = hl_case_reply_text(x.app->keyring, &x.c, entries, n, x.view, &text, &len)) != HL_OK) {
        reply_internal(req, rc);
        goto out;
    }
    hl_http_reply_raw(req, 200, "application/json", text, len);
    hl_crypto_wipe_free(text, len);
out:
    hl_case_entries_free(entries, n);
    finish(&x);
}

/* ---- PATCH /v1/cases/{id} ------------------------------------------------------------------ */

/* Who may change which field: label and summary the writers; the rest supervisors too. */
static bool patch_allowed(ctx_t *x, const hl_case_input_t *in)
{
    if (in->has_label != HL_CONTACT_ABSENT && !need_writer(x, "/label"))
        return false;
    if (in->has_summary != HL_CONTACT_ABSENT && !need_writer(x, "/summary"))
        return false;
    if (x->view != HL_CASE_VIEW_METADATA)
        return true;
    hl_http_reply_error(x->req, 403, "forbidden",
                        "only the case's creator, its assignee, supervisors and admins change a case", NULL);
    return false;
}

static void patch(ctx_t *x, const hl_case_input_t *in)
{
    hl_case_row_t *c = &x->c;
    hl_case_status_t from = c->status;
    unsigned changed = 0;
    char detail[96];
    int rc = HL_OK;

    if (!patch_allowed(x, in))
        return;
    if (in->has_assigned_to != HL_CONTACT_ABSENT) {
        if (!resolve_assignee(x, in, &c->assigned_to))
            return;
        changed |= HL_CASES_ASSIGNED;
    }
    if (in->has_status == HL_CONTACT_SET) {
        if (!hl_case_transition_ok(from, in->status)) {
            char msg[96];
            snprintf(msg, sizeof(msg), "a case cannot move from %s to %s", hl_case_status_name(from),
                     hl_case_status_name(in->status));
            hl_http_reply_error(x->req, 409, HL_CASE_ERR_INVALID_TRANSITION, msg, "/status");
            return;
        }
        c->status = in->status;
        changed |= HL_CASES_STATUS;
    }
    if (in->has_priority == HL_CONTACT_SET) {
        c->priority = in->priority;
        changed |= HL_CASES_PRIORITY;
    }
    if (in->has_follow_up_at != HL_CONTACT_ABSENT) {
        c->has_follow_up = in->has_follow_up_at == HL_CONTACT_SET;
        c->follow_up_at = in->follow_up_at;
        changed |= HL_CASES_FOLLOW_UP;
    }
    if (in->has_label == HL_CONTACT_SET) {
        rc = hl_cases_seal(x->app->keyring, HL_CASES_TABLE, "label", x->case_id, NULL, in->label, &c->label);
        changed |= HL_CASES_LABEL;
    }
    if (rc == HL_OK && in->has_summary != HL_CONTACT_ABSENT) {
        rc = hl_cases_seal(x->app->keyring, HL_CASES_TABLE, "summary", x->case_id, NULL,
                           in->has_summary == HL_CONTACT_SET ? in->summary : NULL, &c->summary);
        changed |= HL_CASES_SUMMARY;
    }
    snprintf(detail, sizeof(detail), "fields:%s%s%s%s%s%s", in->has_label ? " label" : "",
             in->has_summary ? " summary" : "", in->has_priority ? " priority" : "",
             in->has_follow_up_at ? " follow_up_at" : "", in->has_assigned_to ? " assigned_to" : "",
             in->has_status ? " status" : "");
    if (rc == HL_OK && (changed & HL_CASES_STATUS) && !add_status_entry(x, (int)from, c->status))
        return;
    if (rc == HL_OK)
        rc = hl_audit_write_case(x->conn, x->who->helpline_id, x->who->user_id, HL_AUDIT_UPDATE, x->case_id,
                                 NULL, detail);
    if (rc != HL_OK) {
        reply_internal(x->req, rc);
        return;
    }
    if ((rc = hl_cases_update(x->conn, c, changed)) != HL_OK) {
        reply_internal(x->req, rc);
        return;
    }
    /* The reply reads the row back before the commit, then sends it after. */
    hl_case_row_t now;
    json_t *body = NULL;
    if ((rc = hl_cases_load(x->conn, x->who->helpline_id, x->case_id, false, false, &now)) == HL_OK) {
        rc = hl_case_json(NULL, &now, HL_CASE_VIEW_PLAIN, &body);
        hl_case_row_clear(&now);
    }
    if (rc == HL_OK)
        rc = hl_db_exec(x->conn, "COMMIT");
    if (rc != HL_OK) {
        json_decref(body);
        reply_internal(x->req, rc);
        return;
    }
    hl_http_reply_json(x->req, 200, body);
}

void hl_handle_cases_patch(hl_request_t *req, void *arg)
{
    ctx_t x;
    hl_case_input_t *in = parse_body(req, HL_CASE_BODY_PATCH);

    memset(&x, 0, sizeof(x));
    if (in != NULL && begin(&x, arg, req, 1, true))
        patch(&x, in);
    finish(&x);
    hl_case_input_free(in);
}

/* ---- notes and referrals ------------------------------------------------------------------- */

/* A note on its way: sealed on the HTTP thread (the text goes no further), stored by a db_jobs
 * thread, with the other notes queued behind it, which answers. */
typedef struct {
    ctx_t x;
    hl_case_caller_t caller;
    hl_case_entry_t e;
} note_job_t;

static void note_job_free(note_job_t *j)
{
    free(j->e.text.data);
    finish(&j->x);
    free(j);
}

static void reply_note(const note_job_t *j, int rc)
{
    if (rc == HL_ENOTFOUND)
        reply_not_found(j->x.req);
    else if (rc == HL_EPERM)
        reply_not_writer(j->x.req, NULL);
    else if (rc != HL_OK)
        reply_internal(j->x.req, rc);
    else
        hl_http_reply_json(j->x.req, 201,
                           json_pack("{s:s, s:s, s:s, s:o, s:s}", "id", j->e.id, "case_id", j->x.case_id,
                                     "kind", "note", "at", hl_case_time_json(true, j->e.at), "by",
                                     j->x.who->name));
}

/* The db_jobs batch of N notes: one statement and one commit for them all (hl_cases_add_notes);
 * should that fail, each note again on its own, so that none fails for another. */
static void store_notes(void **args, size_t n)
{
    note_job_t *first = args[0];
    hl_case_note_t notes[HL_CASES_NOTES_MAX];
    PGconn *conn = hl_dbpool_acquire(first->x.app->pool, 2000);
    int rc = conn != NULL ? HL_OK : HL_EDB;

    for (size_t i = 0; i < n; i++) {
        note_job_t *j = args[i];
        notes[i] = (hl_case_note_t){&j->caller, j->x.case_id, &j->e, HL_EDB};
    }
    if (rc == HL_OK)
        rc = hl_cases_add_notes(conn, notes, n);
    for (size_t i = 0; rc != HL_OK && conn != NULL && n > 1 && i < n; i++)
        if (hl_cases_add_notes(conn, &notes[i], 1) != HL_OK)
            notes[i].rc = HL_EDB;
    if (n == 1 && rc != HL_OK)
        notes[0].rc = rc;
    hl_dbpool_release(first->x.app->pool, conn);
    for (size_t i = 0; i < n; i++) {
        reply_note(args[i], notes[i].rc);
        note_job_free(args[i]); /* nothing of the request is touched after its reply */
    }
}

void hl_handle_cases_note(hl_request_t *req, void *arg)
{
    hl_app_t *app = arg;
    hl_case_input_t *in = parse_body(req, HL_CASE_BODY_NOTE);
    note_job_t *j = NULL;
    int rc;

    if (in == NULL)
        return;
    if ((j = calloc(1, sizeof(*j))) == NULL) {
        reply_internal(req, HL_ENOMEM);
        goto out;
    }
    if (!path_ids(&j->x, app, req, 1))
        goto out;
    new_id(j->e.id);
    j->e.kind = HL_CASE_ENTRY_NOTE;
    j->e.by = j->x.who->user_id;
    j->caller = caller_of(j->x.who);
    if ((rc = hl_cases_seal(app->keyring, HL_CASES_ENTRIES, "text", j->x.case_id, j->e.id, in->text,
                            &j->e.text)) != HL_OK) {
        reply_internal(req, rc);
        goto out;
    }
    /* Deferred first: the job may answer before submit returns. Its wait for PostgreSQL then
     * holds up no other connection of this HTTP thread (db/dbjobs.h). */
    hl_http_defer(req);
    if (hl_dbjobs_submit(app->db_jobs, store_notes, j))
        j = NULL;
    else
        hl_http_reply_error(req, 503, "unavailable", "cannot store notes now; nothing was stored", NULL);
out:
    if (j != NULL)
        note_job_free(j);
    hl_case_input_free(in);
}

static json_t *referral_reply(ctx_t *x, const hl_referral_row_t *r, const hl_case_entry_t *e, int previous)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "id", r->id, "case_id", x->case_id, "to",
                          hl_contact_action_name(r->to), "state", hl_referral_state_name(r->state),
                          "entry_id", e->id, "at", hl_case_time_json(true, e->at));

    if (j != NULL && previous >= 0)
        json_object_set_new(j, "previous_state",
                            json_string(hl_referral_state_name((hl_referral_state_t)previous)));
    return j;
}

void hl_handle_cases_referral(hl_request_t *req, void *arg)
{
    ctx_t x;
    hl_case_input_t *in = parse_body(req, HL_CASE_BODY_REFERRAL);
    hl_referral_row_t r;
    hl_case_entry_t e;
    int rc;

    memset(&x, 0, sizeof(x));
    memset(&r, 0, sizeof(r));
    memset(&e, 0, sizeof(e));
    if (in == NULL)
        goto out;
    if (!begin(&x, arg, req, 1, true) || !need_writer(&x, NULL))
        goto out;
    new_id(r.id);
    r.to = in->to;
    r.state = in->has_state == HL_CONTACT_SET ? in->state : HL_REFERRAL_MADE;
    r.created_by = x.who->user_id;
    new_id(e.id);
    e.kind = HL_CASE_ENTRY_REFERRAL;
    e.by = x.who->user_id;
    snprintf(e.referral_id, sizeof(e.referral_id), "%s", r.id);
    e.referral_state = r.state;
    if ((rc = hl_cases_seal(x.app->keyring, HL_CASES_REFERRALS, "organisation", x.case_id, r.id,
                            in->has_organisation == HL_CONTACT_SET ? in->organisation : NULL,
                            &r.organisation)) != HL_OK ||
        (rc = hl_cases_seal(x.app->keyring, HL_CASES_REFERRALS, "details", x.case_id, r.id,
                            in->has_details == HL_CONTACT_SET ? in->details : NULL, &r.details)) != HL_OK ||
        (rc = hl_cases_add_referral(x.conn, x.case_id, &r)) != HL_OK ||
        (rc = hl_cases_add_entry(x.conn, x.case_id, &e)) != HL_OK) {
        reply_internal(req, rc);
        goto out;
    }
    if (touch_commit(&x, 0))
        hl_http_reply_json(req, 201, referral_reply(&x, &r, &e, -1));
out:
    free(r.organisation.data);
    free(r.details.data);
    finish(&x);
    hl_case_input_free(in);
}

void hl_handle_cases_referral_patch(hl_request_t *req, void *arg)
{
    ctx_t x;
    hl_case_input_t *in = parse_body(req, HL_CASE_BODY_REFERRAL_STATE);
    hl_referral_row_t r;
    hl_case_entry_t e;
    hl_referral_state_t previous;
    int rc;

    memset(&x, 0, sizeof(x));
    memset(&e, 0, sizeof(e));
    if (in == NULL)
        goto out;
    if (!begin(&x, arg, req, 2, true) || !need_writer(&x, NULL))
        goto out;
    rc = hl_cases_lock_referral(x.conn, x.case_id, x.sub_id, &r);
    if (rc == HL_ENOTFOUND) {
        hl_http_reply_error(req, 404, "not_found", "no such referral in this case", NULL);
        goto out;
    }
    if (rc != HL_OK) {
        reply_internal(req, rc);
        goto out;
    }
    previous = r.state;
    if (!hl_referral_change_ok(previous, in->state)) {
        hl_http_reply_error(req, 409, HL_CASE_ERR_INVALID_TRANSITION, "the referral is in that state already",
                            "/state");
        goto out;
    }
    r.state = in->state;
    new_id(e.id);
    e.kind = HL_CASE_ENTRY_REFERRAL;
    e.by = x.who->user_id;
    snprintf(e.referral_id, sizeof(e.referral_id), "%s", r.id);
    e.referral_state = r.state;
    if ((rc = hl_cases_set_referral_state(x.conn, r.id, r.state)) != HL_OK ||
        (rc = hl_cases_add_entry(x.conn, x.case_id, &e)) != HL_OK) {
        reply_internal(req, rc);
        goto out;
    }
    if (touch_commit(&x, 0))
        hl_http_reply_json(req, 200, referral_reply(&x, &r, &e, (int)previous));
out:
    finish(&x);
    hl_case_input_free(in);
}

/* ---- PUT and DELETE /v1/cases/{id}/contacts/{contact_id} --------------------------------- */

void hl_handle_cases_link(hl_request_t *req, void *arg)
{
    ctx_t x;
    bool created = false;

    if (begin(&x, arg, req, 2, true) && may_link(&x) && link_contact(&x, x.sub_id, NULL, &created)) {
        if (!created) /* already in this case: nothing changes */
            reply_link(&x, 200, "linked");
        else if (touch_commit(&x, 0))
            reply_link(&x, 201, "linked");
    }
    finish(&x);
}

void hl_handle_cases_unlink(hl_request_t *req, void *arg)
{
    ctx_t x;
    hl_case_entry_t e;
    int rc;

    memset(&e, 0, sizeof(e));
    if (!begin(&x, arg, req, 2, true) || !may_link(&x))
        goto out;
    rc = hl_cases_unlink(x.conn, x.case_id, x.sub_id);
    if (rc == HL_ENOTFOUND) {
        hl_http_reply_error(req, 404, "not_found", "the contact is not linked to this case", NULL);
        goto out;
    }
    new_id(e.id);
    e.kind = HL_CASE_ENTRY_CONTACT;
    e.by = x.who->user_id;
    e.unlinked = true;
    snprintf(e.contact_id, sizeof(e.contact_id), "%s", x.sub_id);
    if (rc != HL_OK || (rc = hl_cases_add_entry(x.conn, x.case_id, &e)) != HL_OK ||
        (rc = hl_audit_write_case(x.conn, x.who->helpline_id, x.who->user_id, HL_AUDIT_UNLINK, x.case_id,
                                  x.sub_id, NULL)) != HL_OK) {
        reply_internal(req, rc);
        goto out;
    }
    if (touch_commit(&x, 0))
        reply_link(&x, 200, "unlinked");
out:
    finish(&x);
}

/* ---- GET /v1/cases ------------------------------------------------------------------------- */

/* One query parameter as an enum of NAMES (via PARSE); -1 when absent. false: answered 400. */
static bool query_enum(hl_request_t *req, const char *name, bool (*parse)(const char *, int *), int *out,
                       const char *message)
{
    const char *v = hl_http_query(req, name);

    *out = -1;
    if (v == NULL || parse(v, out))
        return true;
    hl_http_reply_error(req, 400, "invalid_field", message, name);
    return false;
}

static bool parse_status(const char *s, int *out)
{
    hl_case_status_t v;

    if (!hl_case_status_parse(s, &v))
        return false;
    *out = (int)v;
    return true;
}

static bool parse_priority(const char *s, int *out)
{
    hl_case_priority_t v;

    if (!hl_case_priority_parse(s, &v))
        return false;
    *out = (int)v;
    return true;
}

/* The filters of api.md into F and SCOPE (the cursor's query). false: answered. */
static bool list_filters(ctx_t *x, hl_case_filter_t *f, hl_cursor_scope_t *scope)
{
    const char *assigned = hl_http_query(x->req, "assigned_to"),
               *before = hl_http_query(x->req, "follow_up_before"), *limit = hl_http_query(x->req, "limit");
    char role[16];
    bool revoked;
    int rc;

    f->helpline_id = x->who->helpline_id;
    if (!query_enum(x->req, "status", parse_status, &f->status,
                    "status must be one of: open in_progress closed") ||
        !query_enum(x->req, "priority", parse_priority, &f->priority,
                    "priority must be one of: low normal high critical"))
        return false;
    if (assigned != NULL && strcmp(assigned, "me") == 0) {
        f->assigned = HL_CASES_ASSIGNED_TO;
        f->assigned_to = x->who->user_id;
    } else if (assigned != NULL && strcmp(assigned, "none") == 0) {
        f->assigned = HL_CASES_UNASSIGNED;
    } else if (assigned != NULL) {
        rc = hl_cases_user(x->conn, x->who->helpline_id, assigned, &f->assigned_to, role, &revoked);
        if (rc == HL_ENOTFOUND) {
            hl_http_reply_error(x->req, 400, "invalid_field",
                                "assigned_to must be me, none or the name of a user of this helpline",
                                "assigned_to");
            return false;
        }
        if (rc != HL_OK) {
            reply_internal(x->req, rc);
            return false;
        }
        f->assigned = HL_CASES_ASSIGNED_TO;
    }
    if (before != NULL) {
        char ts[32];
        snprintf(ts, sizeof(ts), "%.10sT00:00:00Z", before);
        if (strlen(before) != 10 || !hl_contact_time_parse(ts, strlen(ts), &f->follow_up_before)) {
            hl_http_reply_error(x->req, 400, "invalid_field", "follow_up_before must be a date (YYYY-MM-DD)",
                                "follow_up_before");
            return false;
        }
        f->has_follow_up_before = true;
        f->follow_up_before += 86400LL * 1000000; /* due on that day or before */
    }
    f->limit = LIST_DEFAULT;
    if (limit != NULL) {
        char *end = NULL;
        long v = strtol(limit, &end, 10);
        if (limit[0] < '0' || limit[0] > '9' || *end != '\0' || v < 1 || v > LIST_MAX) {
            hl_http_reply_error(x->req, 400, "invalid_field", "limit must be an integer 1..200", "limit");
            return false;
        }
        f->limit = (int)v;
    }
    hl_cursor_scope_init(scope, "cases", x->who->user_id);
    hl_cursor_scope_add(scope, "status", hl_http_query(x->req, "status"));
    hl_cursor_scope_add(scope, "priority", hl_http_query(x->req, "priority"));
    hl_cursor_scope_add(scope, "assigned_to", assigned);
    hl_cursor_scope_add(scope, "follow_up_before", before);
    hl_cursor_scope_add(scope, "limit", limit);
    return true;
}

void hl_handle_cases_list(hl_request_t *req, void *arg)
{
    ctx_t x;
    hl_case_filter_t f;
    hl_cursor_scope_t scope;
    hl_case_row_t *rows = NULL;
    size_t n = 0;
    const char *cursor = hl_http_query(req, "cursor");
    json_t *items = NULL, *next = NULL;
    int rc;

    memset(&x, 0, sizeof(x));
    memset(&f, 0, sizeof(f));
    x.app = arg;
    x.req = req;
    x.who = hl_http_principal(req);
    /* The primary, not read_database_url's standby: a counsellor expects the case just opened
     * in the list, and the case tables are small beside the contacts. */
    if ((x.conn = hl_dbpool_acquire(x.app->pool, 2000)) == NULL) {
        reply_internal(req, HL_EDB);
        return;
    }
    if (!list_filters(&x, &f, &scope))
        goto out;
    if (cursor != NULL) {
        rc = hl_cursor_decode(x.app->keyring, &scope, cursor, &f.after_created, f.after_id);
        if (rc == HL_EINVAL) {
            hl_http_reply_error(req, 400, "invalid_field",
                                "cursor is not one this list gave for this query; start again without it",
                                "cursor");
            goto out;
        }
        if (rc != HL_OK) {
            reply_internal(req, rc);
            goto out;
        }
        f.has_after = true;
    }
    f.limit++; /* one more row says whether there is a next page */
    if ((rc = hl_cases_list(x.conn, &f, &rows, &n)) != HL_OK) {
        reply_internal(req, rc);
        goto out;
    }
    items = json_array();
    rc = items != NULL ? HL_OK : HL_ENOMEM;
    for (size_t i = 0; rc == HL_OK && i < n && i < (size_t)f.limit - 1; i++) {
        json_t *j = NULL;
        if ((rc = hl_case_json(NULL, &rows[i], HL_CASE_VIEW_METADATA, &j)) == HL_OK &&
            json_array_append_new(items, j) != 0)
            rc = HL_ENOMEM;
    }
    if (rc == HL_OK && n == (size_t)f.limit) {
        const hl_case_row_t *last = &rows[n - 2];
        uint8_t raw[HL_RECORD_ID_BYTES];
        char text[HL_CURSOR_TEXT_LEN + 1];
        if (!hl_record_id_from_text(last->id, raw))
            rc = HL_EDB;
        else if ((rc = hl_cursor_encode(x.app->keyring, &scope, last->created_at, raw, text)) == HL_OK)
            next = json_string(text);
    }
    if (rc != HL_OK) {
        json_decref(items);
        reply_internal(req, rc);
        goto out;
    }
    hl_http_reply_json(
        req, 200, json_pack("{s:o, s:o}", "items", items, "next_cursor", next != NULL ? next : json_null()));
out:
    for (size_t i = 0; i < n; i++)
        hl_case_row_clear(&rows[i]);
    free(rows);
    finish(&x);
}
