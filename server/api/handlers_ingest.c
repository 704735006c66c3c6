/* POST /v1/ingest/rocketchat: Rocket.Chat Omnichannel webhooks (docs/front-ends.md). */
#include <sodium.h> /* sodium_memzero only */
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "api/ingest.h"
#include "contacts/ingest_secrets.h"
#include "log.h"
#include "contacts/rocketchat.h"

#define TOKEN_HEADER "X-RocketChat-Livechat-Token"

/* The helpline whose Rocket.Chat secret the request carries, into WHO (helpline_id and
 * helpline_code; no user). Runs on the headers alone, before any body byte is read, so a request
 * without the secret costs no more than its headers; replies 401 or 503 itself. */
void hl_admit_ingest_rocketchat(hl_request_t *req, void *arg, hl_principal_t *who)
{
    hl_app_t *app = arg;
    PGconn *conn = hl_dbpool_acquire(app->pool, 2000);
    char code[HL_INGEST_CODE_MAX + 1];
    int64_t helpline_id;
    int rc;

    _Static_assert(sizeof(who->helpline_code) >= sizeof(code), "helpline code does not fit the principal");
    if (conn == NULL) {
        hl_http_reply_error(req, 503, "unavailable", "cannot check the secret now", NULL);
        return;
    }
    rc = hl_ingest_secret_check(conn, app->keyring, HL_ROCKETCHAT_SYSTEM, hl_http_header(req, TOKEN_HEADER),
                                &helpline_id, code);
    hl_dbpool_release(app->pool, conn);
    if (rc == HL_ECRYPTO) {
        static hl_log_limit_t bad_secret = HL_LOG_LIMIT_INIT(10, 60); /* anyone can send these */
        hl_log_limited(&bad_secret, HL_LOG_WARN, "rocketchat webhook from %s: missing or unknown %s",
                       hl_http_client_ip(req), TOKEN_HEADER);
        hl_http_reply_error(req, 401, "unauthenticated", "missing or unknown " TOKEN_HEADER, NULL);
        return;
    }
    if (rc != HL_OK) {
        hl_http_reply_error(req, 503, "unavailable", "cannot check the secret now", NULL);
        return;
    }
    who->helpline_id = helpline_id;
    memcpy(who->helpline_code, code, sizeof(code));
}

static void reply_map_error(hl_request_t *req, const hl_rocketchat_error_t *err)
{
    hl_http_reply_error(req, 400, err->code, err->message, err->field[0] != '\0' ? err->field : NULL);
}

/* The contact's api.md JSON through the same codec as POST /v1/contacts. */
static int parse_mapped(const json_t *contact, hl_contact_t **c, hl_contact_error_t *cerr)
{
    char *text = json_dumps(contact, JSON_COMPACT);
    int rc;

    if (text == NULL)
        return HL_ENOMEM;
    rc = hl_contact_parse(text, strlen(text), c, cerr);
    sodium_memzero(text, strlen(text));
    free(text);
    return rc;
}

void hl_handle_ingest_rocketchat(hl_request_t *req, void *arg)
{
    hl_app_t *app = arg;
    const hl_principal_t *who = hl_http_principal(req); /* hl_admit_ingest_rocketchat's */
    hl_ingest_origin_t origin = {.helpline_id = who->helpline_id, .helpline_code = who->helpline_code};
    hl_rocketchat_mapped_t mapped = {0};
    hl_rocketchat_error_t merr = {0};
    hl_rocketchat_kind_t kind;
    hl_classify_error_t err = {0};
    hl_contact_error_t cerr;
    hl_contact_t *c = NULL;
    hl_record_t *rec = NULL;
    hl_taxref_t *ref = NULL;
    const hl_taxonomy_t *tax;
    json_t *payload = NULL, *reply = NULL;
    size_t len;
    const char *body;
    int rc;

    body = hl_http_body(req, &len);
    payload = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (payload == NULL) {
        hl_http_reply_error(req, 400, "bad_json", "the body is not valid JSON", NULL);
        goto out;
    }
    if (hl_rocketchat_kind(payload, &kind, &merr) != HL_OK) {
        reply_map_error(req, &merr);
        goto out;
    }
    if (kind == HL_ROCKETCHAT_IGNORED) {
        hl_http_reply_json(req, 200, json_pack("{s:s}", "status", "ignored"));
        goto out;
    }
    rc = hl_rocketchat_map(payload, &mapped, &merr);
    if (rc == HL_EINVAL) {
        reply_map_error(req, &merr);
        goto out;
    }
    if (rc != HL_OK || (rc = parse_mapped(mapped.contact, &c, &cerr)) == HL_ENOMEM) {
        hl_ingest_reply_internal(req, HL_ENOMEM);
        goto out;
    }
    if (rc != HL_OK) {
        /* The mapping leaves out what the codec refuses; this is a bug, not bad input. */
        hl_log(HL_LOG_ERROR, "rocketchat room %s: mapped contact refused at %s",
               json_string_value(json_object_get(payload, "_id")), cerr.has_field ? cerr.field : "");
        hl_http_reply_error(req, 400, cerr.code, cerr.message, NULL);
        goto out;
    }
    tax = hl_app_taxonomy_acquire(app, &ref);
    rc = hl_ingest_build(app, tax, c, &origin, &rec, &reply, &err);
    if (rc == HL_EINVAL) {
        hl_http_reply_error(req, 400, err.code, err.message, err.field);
        goto out;
    }
    if (rc != HL_OK) {
        hl_ingest_reply_internal(req, rc);
        goto out;
    }
    if (mapped.truncated) {
        hl_log(HL_LOG_WARN, "rocketchat room %s: transcript over %d bytes, stored cut at the limit",
               c->source.id, HL_CONTACT_TRANSCRIPT_MAX);
        json_object_set_new(reply, "transcript_truncated", json_true());
    }
    hl_ingest_submit(app, req, rec, reply, HL_INGEST_REPLY_ALWAYS_200);
out:
    if (ref != NULL)
        hl_app_taxonomy_release(ref);
    hl_contact_free(c);
    hl_contact_json_free(mapped.contact);
    hl_contact_json_free(payload); /* wipes the chat's text */
}
