/* POST, GET and PATCH /v1/contacts (api.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "access/audit.h"
#include "contacts/classify.h"
#include "db/db.h"
#include "api/ingest.h"
#include "log.h"
#include "contacts/rollup.h"
#include "contacts/store.h"

/* ---- shared helpers ---------------------------------------------------------------------- */

static void reply_classify_error(hl_request_t *req, const hl_classify_error_t *err)
{
    hl_http_reply_error(req, 400, err->code, err->message, err->field);
}

static void reply_contact_error(hl_request_t *req, const hl_contact_error_t *err)
{
    hl_http_reply_error(req, 400, err->code, err->message, err->has_field ? err->field : NULL);
}

static const char *set_or_null(hl_contact_presence_t has, const char *v)
{
    return has == HL_CONTACT_SET ? v : NULL;
}

static void reply_internal(hl_request_t *req, int rc)
{
    hl_ingest_reply_internal(req, rc);
}

/* ---- POST /v1/contacts ------------------------------------------------------------------- */

/* Everything but the network step: parse, check, classify, seal. */
static int prepare_create(hl_app_t *app, hl_request_t *req, const hl_taxonomy_t *tax, hl_record_t **out,
                          json_t **reply)
{
    const hl_principal_t *who = hl_http_principal(req);
    hl_contact_t *c = NULL;
    hl_contact_error_t cerr;
    hl_classify_error_t err = {0};
    hl_ingest_origin_t origin = {who->helpline_id, who->helpline_code, who->user_id,
                                 who->role == HL_ROLE_COUNSELLOR ? who->name : NULL};
    size_t len;
    const char *body = hl_http_body(req, &len);
    int rc;

    rc = hl_contact_parse(body, len, &c, &cerr);
    if (rc == HL_EINVAL) {
        reply_contact_error(req, &cerr);
        goto out;
    }
    if (rc != HL_OK)
        goto fail;
    if (who->role == HL_ROLE_COUNSELLOR) {
        /* Counsellors log their own contacts. */
        if (c->has_counsellor == HL_CONTACT_SET && strcmp(c->counsellor, who->name) != 0) {
            hl_http_reply_error(req, 403, "forbidden", "counsellors log their own contacts", "/counsellor");
            rc = HL_EPERM;
            goto out;
        }
    }
    rc = hl_ingest_build(app, tax, c, &origin, out, reply, &err);
    if (rc == HL_EINVAL) {
        reply_classify_error(req, &err);
        goto out;
    }
    if (rc == HL_OK)
        goto out;
fail:
    reply_internal(req, rc);
out:
    hl_contact_free(c);
    return rc;
}

void hl_handle_contacts_create(hl_request_t *req, void *arg)
{
    hl_app_t *app = arg;
    hl_taxref_t *ref;
    const hl_taxonomy_t *tax = hl_app_taxonomy_acquire(app, &ref);
    hl_record_t *rec = NULL;
    json_t *reply = NULL;

    if (prepare_create(app, req, tax, &rec, &reply) == HL_OK)
        hl_ingest_submit(app, req, rec, reply, HL_INGEST_REPLY_API);
    hl_app_taxonomy_release(ref);
}

/* ---- GET /v1/contacts/{id} --------------------------------------------------------------- */

static json_t *terms_json(const hl_stored_contact_t *sc, const hl_taxonomy_t *tax)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < sc->n_terms; i++) {
        const hl_taxonomy_term_t *t = hl_taxonomy_term(tax, sc->terms[i].term_id);
        json_array_append_new(arr,
                              json_pack("{s:s, s:s?, s:s?, s:s, s:i}", "term", sc->terms[i].term_id,
                                        "verdict", t != NULL ? hl_taxonomy_verdict_name(t->verdict) : NULL,
                                        "preferred", t != NULL ? t->preferred : NULL, "field",
                                        sc->terms[i].field == HL_TERM_IN_SUMMARY ? "summary" : "transcript",
                                        "occurrences", (json_int_t)sc->terms[i].occurrences));
    }
    return arr;
}

static json_t *stored_json(const hl_stored_contact_t *sc, const hl_taxonomy_t *tax, bool sensitive)
{
    json_t *j = hl_contact_to_json(sc->contact, sensitive);
    char created[HL_CONTACT_TIME_LEN], updated[HL_CONTACT_TIME_LEN];
    hl_classification_t cl;

    if (j == NULL || !hl_contact_time_format(sc->created_at, created) ||
        !hl_contact_time_format(sc->updated_at, updated)) {
        hl_contact_json_free(j);
        return NULL;
    }
    hl_classification_init(&cl);
    cl.n_categories = sc->n_categories;
    memcpy(cl.categories, sc->categories, sc->n_categories * sizeof(sc->categories[0]));
    json_object_set_new(j, "id", json_string(sc->id));
    json_object_set_new(j, "created_at", json_string(created));
    json_object_set_new(j, "updated_at", json_string(updated));
    json_object_set_new(j, "taxonomy_version", json_string(sc->taxonomy_version));
    json_object_set_new(j, "case_id", sc->case_id[0] != '\0' ? json_string(sc->case_id) : json_null());
    json_object_set_new(j, "categories", hl_classify_categories_json(&cl, tax));
    json_object_set_new(j, "terminology", terms_json(sc, tax));
    return j;
}

/* Only the counsellor named on a contact may read it in full or change it (and admins). */
static bool owns(const hl_principal_t *who, const hl_stored_contact_t *sc)
{
    const hl_contact_t *c = sc->contact;

    return who->role == HL_ROLE_ADMIN ||
           (who->role == HL_ROLE_COUNSELLOR && c->has_counsellor == HL_CONTACT_SET &&
            strcmp(c->counsellor, who->name) == 0);
}

void hl_handle_contacts_get(hl_request_t *req, void *arg)
{
    hl_app_t *app = arg;
    const hl_principal_t *who = hl_http_principal(req);
    const char *id = hl_http_path_arg(req);
    uint8_t raw[HL_RECORD_ID_BYTES];
    bool sensitive = who->role != HL_ROLE_SUPERVISOR;
    hl_stored_contact_t sc = {0};
    hl_taxref_t *ref = NULL;
    const hl_taxonomy_t *tax;
    PGconn *conn;
    int rc;

    if (!hl_record_id_from_text(id, raw)) {
        hl_http_reply_error(req, 404, "not_found", "no such contact in this helpline", NULL);
        return;
    }
    conn = hl_dbpool_acquire(app->pool, 2000);
    if (conn == NULL) {
        reply_internal(req, HL_EDB);
        return;
    }
    rc = hl_store_load(conn, app->keyring, id, who->helpline_id, sensitive, false, &sc);
    if (rc == HL_ENOTFOUND) {
        hl_http_reply_error(req, 404, "not_found", "no such contact in this helpline", NULL);
        goto out;
    }
    if (rc != HL_OK) {
        reply_internal(req, rc == HL_ECRYPTO ? HL_EIO : rc);
        goto out;
    }
    if (sensitive && !owns(who, &sc)) {
        hl_http_reply_error(req, 403, "forbidden", "only the contact's counsellor may read it", NULL);
        goto out;
    }
    /* No sensitive field leaves without its audit row. */
    if (sensitive &&
        hl_audit_write(conn, who->helpline_id, who->user_id, HL_AUDIT_READ_SENSITIVE, id, NULL) != HL_OK) {
        reply_internal(req, HL_EDB);
        goto out;
    }
    tax = hl_app_taxonomy_acquire(app, &ref);
    json_t *body = stored_json(&sc, tax, sensitive);
    hl_app_taxonomy_release(ref);
    if (body == NULL) {
        reply_internal(req, HL_ENOMEM);
        goto out;
    }
    hl_http_reply_json(req, 200, body);
out:
    hl_stored_contact_clear(&sc);
    hl_dbpool_release(app->pool, conn);
}

/* ---- PATCH /v1/contacts/{id} ------------------------------------------------------------- */

/* The classification after a PATCH: replaced parts from P, kept parts from the stored SC. */
static int reclassify(const hl_contact_t *p, const hl_stored_contact_t *sc, const hl_taxonomy_t *tax,
                      const char *helpline, hl_classification_t *cl, hl_classify_error_t *err)
{
    int rc;

    if (p->has_categories != HL_CONTACT_ABSENT) {
        if ((rc = hl_classify_given(cl, tax, p->categories, p->n_categories, err)) != HL_OK)
            return rc;
    } else {
        for (size_t i = 0; i < sc->n_categories; i++) {
            char *code = (char *)(uintptr_t)sc->categories[i].code;
            if (sc->categories[i].source == HL_CATEGORY_GIVEN &&
                (rc = hl_classify_given(cl, tax, &code, 1, err)) != HL_OK)
                return rc;
        }
    }
    if (p->has_local_categories != HL_CONTACT_ABSENT) {
        if ((rc = hl_classify_local(cl, tax, helpline, p->local_categories, p->n_local_categories, err)) !=
            HL_OK)
            return rc;
    } else {
        const hl_contact_t *c = sc->contact;
        if ((rc = hl_classify_local(cl, tax, helpline, c->local_categories, c->n_local_categories, err)) !=
            HL_OK)
            return rc;
    }
    if (p->has_summary != HL_CONTACT_ABSENT) {
        rc = hl_classify_text(cl, tax, set_or_null(p->has_summary, p->summary), HL_TERM_IN_SUMMARY, err);
        if (rc != HL_OK)
            return rc;
    }
    for (size_t i = 0; i < sc->n_terms; i++)
        if (sc->terms[i].field == HL_TERM_IN_TRANSCRIPT ||
            (p->has_summary == HL_CONTACT_ABSENT && sc->terms[i].field == HL_TERM_IN_SUMMARY))
            hl_classify_keep_term(cl, tax, sc->terms[i].term_id, sc->terms[i].field,
                                  sc->terms[i].occurrences);
    if (p->confirm_suggested)
        hl_classify_confirm(cl);
    return HL_OK;
}

/* REC gets the changed columns of P; *CHANGED says which, DETAIL names them for the audit. */
static int patch_record(hl_app_t *app, const hl_contact_t *p, const hl_stored_contact_t *sc,
                        const uint8_t raw_id[HL_RECORD_ID_BYTES], hl_record_t *rec, unsigned *changed,
                        char *detail, size_t detail_len, hl_classify_error_t *err)
{
    int rc = HL_OK;

    *changed = 0;
    memcpy(rec->id, raw_id, HL_RECORD_ID_BYTES);
    rec->helpline_id = sc->helpline_id;
    if (p->has_contact_type == HL_CONTACT_SET) {
        rec->contact_type = p->contact_type;
        *changed |= HL_STORE_CONTACT_TYPE;
    }
    if (p->has_child != HL_CONTACT_ABSENT) {
        if ((rc = hl_ingest_fill_child(app, sc->id, p, rec)) != HL_OK)
            return rc;
        *changed |= HL_STORE_CHILD;
    }
    if (p->has_caller != HL_CONTACT_ABSENT) {
        if ((rc = hl_ingest_fill_caller(app, sc->id, p, rec, err)) != HL_OK)
            return rc;
        *changed |= HL_STORE_CALLER;
    }
    if (p->has_actions != HL_CONTACT_ABSENT) {
        rec->n_actions = p->n_actions;
        memcpy(rec->actions, p->actions, p->n_actions * sizeof(p->actions[0]));
        *changed |= HL_STORE_ACTIONS;
    }
    if (p->has_urgency != HL_CONTACT_ABSENT) {
        rec->urgency = p->has_urgency == HL_CONTACT_SET ? (int)p->urgency : -1;
        *changed |= HL_STORE_URGENCY;
    }
    if (p->has_local_categories != HL_CONTACT_ABSENT) {
        if ((rc = hl_ingest_copy_local_categories(p, rec)) != HL_OK)
            return rc;
        *changed |= HL_STORE_LOCAL_CATEGORIES;
    }
    if (p->has_summary != HL_CONTACT_ABSENT) {
        if ((rc = hl_ingest_seal(app, sc->id, "summary", set_or_null(p->has_summary, p->summary),
                                 &rec->summary)) != HL_OK)
            return rc;
        *changed |= HL_STORE_SUMMARY;
    }
    snprintf(detail, detail_len, "fields:%s%s%s%s%s%s%s%s%s", p->has_contact_type ? " contact_type" : "",
             p->has_child ? " child" : "", p->has_caller ? " caller" : "", p->has_actions ? " actions" : "",
             p->has_urgency ? " urgency" : "", p->has_local_categories ? " local_categories" : "",
             p->has_summary ? " summary" : "", p->has_categories ? " categories" : "",
             p->confirm_suggested ? " confirm_suggested" : "");
    return rc;
}

/* What the stored contact counts in the statistics. */
static void rollup_of_stored(const hl_stored_contact_t *sc, hl_rollup_contact_t *out)
{
    const hl_contact_t *c = sc->contact;

    memset(out, 0, sizeof(*out));
    out->helpline_id = sc->helpline_id;
    out->started_at = c->started_at;
    out->channel = c->channel;
    out->contact_type = c->contact_type;
    out->age = c->child.has_age == HL_CONTACT_SET ? c->child.age : -1;
    out->gender = c->child.has_gender == HL_CONTACT_SET ? (int)c->child.gender : -1;
    out->region = c->child.has_region == HL_CONTACT_SET ? (int)c->child.region : -1;
    for (size_t i = 0; i < sc->n_categories; i++)
        if (sc->categories[i].source != HL_CATEGORY_SUGGESTED)
            out->codes[out->n_codes++] = sc->categories[i].code;
}

/* The statistics change of a PATCH: the old contribution out, the new one in. */
static int patch_rollup(PGconn *conn, const hl_stored_contact_t *sc, const hl_contact_t *p,
                        const hl_record_t *rec)
{
    hl_rollup_contact_t before, after;
    hl_rollup_t *r = NULL;
    int rc;

    rollup_of_stored(sc, &before);
    hl_rollup_contact_from_record(rec, &after);
    after.started_at = before.started_at;
    after.channel = before.channel;
    after.contact_type = p->has_contact_type == HL_CONTACT_SET ? p->contact_type : before.contact_type;
    if (p->has_child == HL_CONTACT_ABSENT) {
        after.age = before.age;
        after.gender = before.gender;
        after.region = before.region;
    }
    if ((rc = hl_rollup_new(&r)) == HL_OK && (rc = hl_rollup_add(r, &before, -1)) == HL_OK &&
        (rc = hl_rollup_add(r, &after, 1)) == HL_OK)
        rc = hl_rollup_apply(r, conn);
    hl_rollup_free(r);
    return rc;
}

void hl_handle_contacts_patch(hl_request_t *req, void *arg)
{
    hl_app_t *app = arg;
    const hl_principal_t *who = hl_http_principal(req);
    const char *id = hl_http_path_arg(req);
    uint8_t raw[HL_RECORD_ID_BYTES];
    hl_contact_t *p = NULL;
    hl_contact_error_t cerr;
    hl_classify_error_t err = {0};
    hl_classification_t cl;
    hl_stored_contact_t sc = {0};
    hl_record_t *rec = NULL;
    hl_taxref_t *ref = NULL;
    const hl_taxonomy_t *tax = hl_app_taxonomy_acquire(app, &ref);
    PGconn *conn = NULL;
    unsigned changed = 0;
    char detail[160];
    size_t len;
    const char *body = hl_http_body(req, &len);
    int rc;

    hl_classification_init(&cl);
    if (!hl_record_id_from_text(id, raw)) {
        hl_http_reply_error(req, 404, "not_found", "no such contact in this helpline", NULL);
        goto out;
    }
    rc = hl_contact_parse_patch(body, len, &p, &cerr);
    if (rc == HL_EINVAL) {
        reply_contact_error(req, &cerr);
        goto out;
    }
    if (rc != HL_OK || (conn = hl_dbpool_acquire(app->pool, 2000)) == NULL) {
        reply_internal(req, rc != HL_OK ? rc : HL_EDB);
        goto out;
    }
    if (hl_db_exec(conn, "BEGIN") != HL_OK) {
        reply_internal(req, HL_EDB);
        goto out;
    }
    rc = hl_store_load(conn, app->keyring, id, who->helpline_id, false, true, &sc);
    if (rc == HL_ENOTFOUND) {
        hl_http_reply_error(req, 404, "not_found", "no such contact in this helpline", NULL);
        goto out;
    }
    if (rc != HL_OK) {
        reply_internal(req, rc);
        goto out;
    }
    if (!owns(who, &sc)) {
        hl_http_reply_error(req, 403, "forbidden", "only the contact's counsellor may change it", NULL);
        goto out;
    }
    if ((rc = reclassify(p, &sc, tax, who->helpline_code, &cl, &err)) != HL_OK ||
        (rc = hl_record_new(&rec)) != HL_OK ||
        (rc = patch_record(app, p, &sc, raw, rec, &changed, detail, sizeof(detail), &err)) != HL_OK) {
        if (rc == HL_EINVAL)
            reply_classify_error(req, &err);
        else
            reply_internal(req, rc);
        goto out;
    }
    hl_ingest_take_classification(rec, &cl, tax);
    if ((rc = hl_store_update(conn, rec, changed)) != HL_OK ||
        (rc = patch_rollup(conn, &sc, p, rec)) != HL_OK ||
        (rc = hl_audit_write(conn, who->helpline_id, who->user_id, HL_AUDIT_UPDATE, id, detail)) != HL_OK ||
        (rc = hl_db_exec(conn, "COMMIT")) != HL_OK) {
        reply_internal(req, rc);
        goto out;
    }
    hl_http_reply_json(req, 200,
                       json_pack("{s:s, s:s, s:o, s:o, s:s}", "id", id, "status", "updated", "categories",
                                 hl_classify_categories_json(&cl, tax), "terminology",
                                 cl.terminology != NULL ? json_incref(cl.terminology) : json_array(),
                                 "taxonomy_version", hl_taxonomy_version(tax)));
out:
    if (conn != NULL)
        hl_dbpool_release(app->pool, conn); /* rolls back what was not committed */
    hl_record_free(rec);
    hl_stored_contact_clear(&sc);
    hl_classification_clear(&cl);
    hl_contact_free(p);
    hl_app_taxonomy_release(ref);
}
