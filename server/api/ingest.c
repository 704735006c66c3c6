/* Sealing a parsed contact into a record and submitting it to the writer (ingest.h). */
#include "api/ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hl_ingest_seal(hl_app_t *app, const char *id, const char *column, const char *pt, hl_sealed_t *out)
{
    hl_crypto_ad_t ad = {"contacts", column, id};
    size_t len, cap;
    int rc;

    free(out->data);
    out->data = NULL;
    out->len = 0;
    if (pt == NULL)
        return HL_OK;
    len = strlen(pt);
    cap = HL_CRYPTO_SEALED_LEN(len);
    out->data = malloc(cap);
    if (out->data == NULL)
        return HL_ENOMEM;
    rc = hl_crypto_seal(app->keyring, &ad, (const uint8_t *)pt, len, out->data, cap, &out->len);
    if (rc != HL_OK) {
        free(out->data);
        out->data = NULL;
    }
    return rc;
}

static const char *set_or_null(hl_contact_presence_t has, const char *v)
{
    return has == HL_CONTACT_SET ? v : NULL;
}

int hl_ingest_fill_child(hl_app_t *app, const char *id, const hl_contact_t *c, hl_record_t *rec)
{
    bool set = c->has_child == HL_CONTACT_SET;

    rec->child_age = set && c->child.has_age == HL_CONTACT_SET ? c->child.age : -1;
    rec->child_gender = set && c->child.has_gender == HL_CONTACT_SET ? (int)c->child.gender : -1;
    rec->child_region = set && c->child.has_region == HL_CONTACT_SET ? (int)c->child.region : -1;
    return hl_ingest_seal(app, id, "child_name", set ? set_or_null(c->child.has_name, c->child.name) : NULL,
                          &rec->child_name);
}

int hl_ingest_fill_caller(hl_app_t *app, const char *id, const hl_contact_t *c, hl_record_t *rec,
                          hl_classify_error_t *err)
{
    bool set = c->has_caller == HL_CONTACT_SET;
    const char *phone = set ? set_or_null(c->caller.has_phone, c->caller.phone) : NULL;
    int rc;

    rec->caller_relationship =
        set && c->caller.has_relationship == HL_CONTACT_SET ? (int)c->caller.relationship : -1;
    rec->has_phone_bidx = false;
    if (phone != NULL) {
        rc = hl_crypto_blind_index_phone(app->keyring, phone, NULL, rec->phone_bidx);
        if (rc == HL_EINVAL) {
            err->code = "invalid_field";
            snprintf(err->field, sizeof(err->field), "/caller/phone");
            snprintf(err->message, sizeof(err->message), "caller.phone must hold 3..15 digits");
            return rc;
        }
        if (rc != HL_OK)
            return rc;
        rec->has_phone_bidx = true;
    }
    rc = hl_ingest_seal(app, id, "caller_phone", phone, &rec->caller_phone);
    if (rc == HL_OK)
        rc = hl_ingest_seal(app, id, "caller_name",
                            set ? set_or_null(c->caller.has_name, c->caller.name) : NULL, &rec->caller_name);
    return rc;
}

int hl_ingest_copy_local_categories(const hl_contact_t *c, hl_record_t *rec)
{
    for (size_t i = 0; i < c->n_local_categories; i++) {
        rec->local_categories[i] = strdup(c->local_categories[i]);
        if (rec->local_categories[i] == NULL)
            return HL_ENOMEM;
        rec->n_local_categories = i + 1;
    }
    return HL_OK;
}

void hl_ingest_take_classification(hl_record_t *rec, const hl_classification_t *cl, const hl_taxonomy_t *tax)
{
    rec->n_categories = cl->n_categories;
    memcpy(rec->categories, cl->categories, cl->n_categories * sizeof(cl->categories[0]));
    rec->n_terms = cl->n_terms;
    memcpy(rec->terms, cl->terms, cl->n_terms * sizeof(cl->terms[0]));
    snprintf(rec->taxonomy_version, sizeof(rec->taxonomy_version), "%s", hl_taxonomy_version(tax));
}

void hl_ingest_reply_internal(hl_request_t *req, int rc)
{
    if (rc == HL_ENOMEM || rc == HL_EDB)
        hl_http_reply_error(req, 503, "unavailable", "cannot do this now; nothing was changed", NULL);
    else
        hl_http_reply_error(req, 500, "internal", "internal error; nothing was changed", NULL);
}

int hl_ingest_build(hl_app_t *app, const hl_taxonomy_t *tax, const hl_contact_t *c,
                    const hl_ingest_origin_t *origin, hl_record_t **out, json_t **reply,
                    hl_classify_error_t *err)
{
    hl_classification_t cl;
    hl_record_t *rec = NULL;
    char id[HL_RECORD_UUID_LEN + 1];
    int rc;

    hl_classification_init(&cl);
    err->code = NULL;
    if ((rc = hl_classify_given(&cl, tax, c->categories, c->n_categories, err)) != HL_OK ||
        (rc = hl_classify_local(&cl, tax, origin->helpline_code, c->local_categories, c->n_local_categories,
                                err)) != HL_OK ||
        (rc = hl_classify_text(&cl, tax, set_or_null(c->has_summary, c->summary), HL_TERM_IN_SUMMARY, err)) !=
            HL_OK ||
        (rc = hl_classify_text(&cl, tax, set_or_null(c->has_transcript, c->transcript), HL_TERM_IN_TRANSCRIPT,
                               err)) != HL_OK)
        goto out;
    if ((rc = hl_record_new(&rec)) != HL_OK)
        goto out;
    /* The id follows from the source, so a repeat spooled while the database is down
     * answers with the id the stored contact has. */
    if ((rc = hl_crypto_source_id(app->keyring, (uint64_t)origin->helpline_id, c->source.system, c->source.id,
                                  rec->id)) != HL_OK)
        goto out;
    hl_record_id_to_text(rec->id, id);
    rec->helpline_id = origin->helpline_id;
    rec->created_by = origin->user_id;
    rec->source_system = strdup(c->source.system);
    rec->source_id = strdup(c->source.id);
    rec->counsellor = c->has_counsellor == HL_CONTACT_SET  ? strdup(c->counsellor)
                      : origin->default_counsellor != NULL ? strdup(origin->default_counsellor)
                                                           : NULL;
    if (rec->source_system == NULL || rec->source_id == NULL) {
        rc = HL_ENOMEM;
        goto out;
    }
    rec->channel = c->channel;
    rec->contact_type = c->contact_type;
    rec->started_at = c->started_at;
    rec->has_ended_at = c->has_ended_at == HL_CONTACT_SET;
    rec->ended_at = c->ended_at;
    rec->urgency = c->has_urgency == HL_CONTACT_SET ? (int)c->urgency : -1;
    rec->n_actions = c->n_actions;
    memcpy(rec->actions, c->actions, c->n_actions * sizeof(c->actions[0]));
    if ((rc = hl_ingest_copy_local_categories(c, rec)) != HL_OK ||
        (rc = hl_ingest_fill_child(app, id, c, rec)) != HL_OK ||
        (rc = hl_ingest_fill_caller(app, id, c, rec, err)) != HL_OK ||
        (rc = hl_ingest_seal(app, id, "summary", set_or_null(c->has_summary, c->summary), &rec->summary)) !=
            HL_OK ||
        (rc = hl_ingest_seal(app, id, "transcript", set_or_null(c->has_transcript, c->transcript),
                             &rec->transcript)) != HL_OK)
        goto out;
    hl_ingest_take_classification(rec, &cl, tax);
    *reply = json_pack("{s:o, s:o, s:s}", "categories", hl_classify_categories_json(&cl, tax), "terminology",
                       cl.terminology != NULL ? json_incref(cl.terminology) : json_array(),
                       "taxonomy_version", hl_taxonomy_version(tax));
    if (*reply == NULL) {
        rc = HL_ENOMEM;
        goto out;
    }
    *out = rec;
    rec = NULL;
out:
    if (rc == HL_EINVAL && err->code == NULL)
        rc = HL_EIO; /* a sealing argument, not the input: an internal error */
    hl_record_free(rec);
    hl_classification_clear(&cl);
    return rc;
}

/* ---- submission -------------------------------------------------------------------------- */

typedef struct {
    hl_request_t *req;
    json_t *reply; /* categories, terminology, taxonomy_version; id and status come with the result */
    hl_ingest_reply_mode_t mode;
} submit_ctx_t;

static void submit_done(void *arg, const hl_write_result_t *res)
{
    submit_ctx_t *ctx = arg;
    char id[HL_RECORD_UUID_LEN + 1];
    json_t *body = ctx->reply;
    unsigned status;

    hl_record_id_to_text(res->id, id);
    switch (res->status) {
    case HL_WRITE_CREATED:
    case HL_WRITE_SPOOLED:
        status = res->status == HL_WRITE_CREATED ? 201 : 202;
        json_object_set_new(body, "id", json_string(id));
        json_object_set_new(body, "status", json_string(status == 201 ? "created" : "spooled"));
        if (res->previous_contacts >= 0)
            json_object_set_new(body, "repeat_caller",
                                json_pack("{s:I}", "previous_contacts", (json_int_t)res->previous_contacts));
        hl_http_reply_json(ctx->req, ctx->mode == HL_INGEST_REPLY_ALWAYS_200 ? 200 : status, body);
        break;
    case HL_WRITE_DUPLICATE:
        /* Nothing changed: only the stored id, not a classification that was not stored. */
        json_decref(body);
        hl_http_reply_json(ctx->req, 200, json_pack("{s:s, s:s}", "id", id, "status", "duplicate"));
        break;
    default:
        json_decref(body);
        if (res->err == HL_EINVAL)
            hl_http_reply_error(ctx->req, 400, "rejected",
                                "the database refused this contact; nothing was stored", NULL);
        else
            hl_http_reply_error(ctx->req, 503, "unavailable", "cannot store contacts now; nothing was stored",
                                NULL);
        break;
    }
    free(ctx);
}

void hl_ingest_submit(hl_app_t *app, hl_request_t *req, hl_record_t *rec, json_t *reply,
                      hl_ingest_reply_mode_t mode)
{
    submit_ctx_t *ctx = calloc(1, sizeof(*ctx));

    if (ctx == NULL) {
        hl_record_free(rec);
        json_decref(reply);
        hl_ingest_reply_internal(req, HL_ENOMEM);
        return;
    }
    ctx->req = req;
    ctx->reply = reply;
    ctx->mode = mode;
    /* Suspend first: the writer may answer before submit returns. */
    hl_http_defer(req);
    if (hl_writer_submit(app->writer, rec, submit_done, ctx) != HL_OK) {
        hl_record_free(rec);
        json_decref(reply);
        free(ctx);
        hl_http_reply_error(req, 503, "unavailable",
                            "too many contacts waiting to be stored; nothing was stored", NULL);
    }
}
