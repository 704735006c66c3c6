/*
 * GET /v1/helplines and POST /v1/reports/verify (docs/http-api.md "Helplines and report
 * verification"): the helplines a user may read reports of, each with the public key that
 * verifies its signed reports, and the daemon's check of a report a user holds.
 *
 * A network user sees every helpline of its network; every other user sees its own. The
 * signing keys are derived from the master key (docs/keys.md), so the daemon vouches for them
 * the way `helplined signing-key show` does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "app.h"
#include "crypto.h"
#include "report.h"

/* The helplines WHO may read reports of, ordered by code; $1 its own code, $2 its network
 * when it is a network user, else "". */
static const char visible_sql[] = "SELECT id, code, name, country, coalesce(network, '') FROM helplines"
                                  " WHERE code = $1 OR ($2 <> '' AND network = $2) ORDER BY code";

static PGresult *visible_helplines(PGconn *conn, const hl_principal_t *who)
{
    const char *values[2] = {who->helpline_code, who->role == HL_ROLE_NETWORK ? who->network : ""};

    return PQexecParams(conn, visible_sql, 2, NULL, values, NULL, NULL, 0);
}

/* {"alg", "key_id", "public_key"} of helpline ID, or NULL. */
static json_t *signing_key_json(hl_crypto_keyring_t *kr, uint64_t id)
{
    hl_crypto_signer_t *signer = NULL;
    uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES];
    char b64[HL_CRYPTO_SIGN_PK_B64_LEN + 1], kid[HL_CRYPTO_SIGN_KEY_ID_LEN + 1];

    if (hl_crypto_signer_derive(kr, id, &signer) != HL_OK)
        return NULL;
    hl_crypto_signer_public_key(signer, pk);
    hl_crypto_signer_free(signer);
    hl_crypto_sign_key_id(pk, kid);
    hl_crypto_sign_pk_to_b64(pk, b64);
    return json_pack("{s:s, s:s, s:s}", "alg", "ed25519", "key_id", kid, "public_key", b64);
}

void hl_handle_helplines(hl_request_t *req, void *arg)
{
    hl_app_t *app = arg;
    PGconn *conn = hl_dbpool_acquire(app->pool, 2000);
    PGresult *res = NULL;
    json_t *items = json_array();

    if (conn == NULL || items == NULL) {
        hl_http_reply_error(req, 503, "unavailable", "cannot list the helplines now", NULL);
        goto out;
    }
    res = visible_helplines(conn, hl_http_principal(req));
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        hl_http_reply_error(req, 503, "unavailable", "cannot list the helplines now", NULL);
        goto out;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        const char *network = PQgetvalue(res, r, 4);
        json_t *key = signing_key_json(app->keyring, strtoull(PQgetvalue(res, r, 0), NULL, 10));
        json_t *item =
            key == NULL
                ? NULL
                : json_pack("{s:s, s:s, s:s, s:o, s:o}", "code", PQgetvalue(res, r, 1), "name",
                            PQgetvalue(res, r, 2), "country", PQgetvalue(res, r, 3), "network",
                            network[0] != '\0' ? json_string(network) : json_null(), "signing_key", key);
        if (item == NULL || json_array_append_new(items, item) != 0) {
            hl_http_reply_error(req, 503, "unavailable", "cannot list the helplines now", NULL);
            goto out;
        }
    }
    hl_http_reply_json(req, 200, json_pack("{s:O}", "items", items));
out:
    json_decref(items);
    PQclear(res);
    hl_dbpool_release(app->pool, conn);
}

/* The row of VISIBLE whose code is CODE, or -1. */
static int find_code(PGresult *visible, const char *code)
{
    for (int r = 0; r < PQntuples(visible); r++) {
        if (strcmp(PQgetvalue(visible, r, 1), code) == 0)
            return r;
    }
    return -1;
}

static void reply_verdict(hl_request_t *req, bool valid, const char *code, const char *key_id,
                          const char *reason)
{
    json_t *body = json_pack("{s:b, s:s?, s:s?}", "valid", valid, "helpline", code, "key_id", key_id);

    if (body != NULL && reason != NULL)
        json_object_set_new(body, "reason", json_string(reason));
    hl_http_reply_json(req, 200, body);
}

void hl_handle_reports_verify(hl_request_t *req, void *arg)
{
    hl_app_t *app = arg;
    size_t len;
    const char *body = hl_http_body(req, &len);
    hl_crypto_signer_t *signer = NULL;
    uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES];
    char kid[HL_CRYPTO_SIGN_KEY_ID_LEN + 1];
    hl_report_error_t rerr = {{0}};
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *code = json_string_value(json_object_get(json_object_get(doc, "helpline"), "code"));
    PGconn *conn = NULL;
    PGresult *res = NULL;
    int row, rc;

    if (doc == NULL || !json_is_object(doc)) {
        hl_http_reply_error(req, 400, "bad_json", "the body must be a report: a JSON object", NULL);
        goto out;
    }
    if (code == NULL) {
        hl_http_reply_error(req, 400, "invalid_field", "the report names no helpline code", "/helpline/code");
        goto out;
    }
    conn = hl_dbpool_acquire(app->pool, 2000);
    res = conn != NULL ? visible_helplines(conn, hl_http_principal(req)) : NULL;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        hl_http_reply_error(req, 503, "unavailable", "cannot verify reports now", NULL);
        goto out;
    }
    row = find_code(res, code);
    if (row < 0) {
        hl_http_reply_error(req, 404, "not_found", "no such helpline among those this user reads",
                            "/helpline/code");
        goto out;
    }
    if (hl_crypto_signer_derive(app->keyring, strtoull(PQgetvalue(res, row, 0), NULL, 10), &signer) !=
        HL_OK) {
        hl_http_reply_error(req, 503, "unavailable", "cannot verify reports now", NULL);
        goto out;
    }
    hl_crypto_signer_public_key(signer, pk);
    hl_crypto_sign_key_id(pk, kid);
    /* The signature first (a forged document is "not signed by this helpline", whatever it
     * holds), then the structure and the disclosure rules of docs/report-format.md. */
    rc = hl_report_verify_text(body, len, pk, NULL, &rerr);
    if (rc == HL_OK)
        reply_verdict(req, true, code, kid, NULL);
    else if (rc == HL_ECRYPTO)
        reply_verdict(req, false, code, kid, "the signature does not verify with this helpline's key");
    else
        reply_verdict(req, false, code, kid, rerr.message[0] != '\0' ? rerr.message : "not a valid report");
out:
    hl_crypto_signer_free(signer);
    PQclear(res);
    hl_dbpool_release(app->pool, conn);
    json_decref(doc);
}
