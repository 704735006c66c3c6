/* GET /v1/taxonomy, POST /v1/classify, GET /healthz, GET /metrics (api.md), the web application's files. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "contact.h"

void hl_handle_taxonomy(hl_request_t *req, void *arg)
{
    hl_app_t *app = arg;
    hl_taxref_t *ref;
    const hl_taxonomy_t *tax = hl_app_taxonomy_acquire(app, &ref);

    hl_http_reply_json(req, 200, hl_taxonomy_to_json(tax));
    hl_app_taxonomy_release(ref);
}

/* {"text": "...", "local_categories": [...]}: both optional, nothing else. */
void hl_handle_classify(hl_request_t *req, void *arg)
{
    hl_app_t *app = arg;
    const hl_principal_t *who = hl_http_principal(req);
    size_t len;
    const char *body = hl_http_body(req, &len);
    json_error_t jerr;
    json_t *in = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr), *text, *local, *out = NULL;
    const char *labels[HL_CONTACT_MAX_LOCAL_CATEGORIES];
    size_t n_labels = 0;
    const char *key;
    json_t *v;
    hl_taxref_t *ref = NULL;
    char err[HL_TAXONOMY_ERR_LEN], field[48];
    int rc;

    if (in == NULL || !json_is_object(in)) {
        hl_http_reply_error(req, 400, "bad_json", "the body must be a JSON object", NULL);
        goto out;
    }
    json_object_foreach(in, key, v)
    {
        if (strcmp(key, "text") != 0 && strcmp(key, "local_categories") != 0) {
            snprintf(field, sizeof(field), "/%.40s", key);
            hl_http_reply_error(req, 400, "unknown_field", "only text and local_categories are accepted",
                                strpbrk(key, "/~") == NULL ? field : "");
            goto out;
        }
    }
    text = json_object_get(in, "text");
    local = json_object_get(in, "local_categories");
    if (text != NULL && !json_is_string(text)) {
        hl_http_reply_error(req, 400, "invalid_field", "text must be a string", "/text");
        goto out;
    }
    if (text != NULL && json_string_length(text) > HL_CONTACT_TRANSCRIPT_MAX) {
        hl_http_reply_error(req, 400, "invalid_field", "text must be at most 1 MiB", "/text");
        goto out;
    }
    if (local != NULL) {
        size_t i;
        if (!json_is_array(local) || json_array_size(local) > HL_CONTACT_MAX_LOCAL_CATEGORIES) {
            hl_http_reply_error(req, 400, "invalid_field",
                                "local_categories must be an array of at most 8 labels", "/local_categories");
            goto out;
        }
        json_array_foreach(local, i, v)
        {
            if (!json_is_string(v)) {
                snprintf(field, sizeof(field), "/local_categories/%zu", i);
                hl_http_reply_error(req, 400, "invalid_field", "a local category must be a string", field);
                goto out;
            }
            labels[n_labels++] = json_string_value(v);
        }
    }
    const hl_taxonomy_t *tax = hl_app_taxonomy_acquire(app, &ref);
    rc = hl_taxonomy_classify_json(tax, who->helpline_code, labels, n_labels,
                                   text != NULL ? json_string_value(text) : NULL,
                                   text != NULL ? json_string_length(text) : 0, &out, err);
    if (rc == HL_ENOTFOUND)
        hl_http_reply_error(req, 400, "unknown_category",
                            "a local category is not in this helpline's mapping", "/local_categories");
    else if (rc == HL_EINVAL)
        hl_http_reply_error(req, 400, "invalid_field", "text is not valid UTF-8", "/text");
    else if (rc != HL_OK)
        hl_http_reply_error(req, 503, "unavailable", "out of memory", NULL);
    else
        hl_http_reply_json(req, 200, out);
out:
    if (ref != NULL)
        hl_app_taxonomy_release(ref);
    json_decref(in);
}

/* The health probe's state (docs/health.md); "up" also needs a writer connection, since a
 * contact is stored only through one (until it has reconnected, contacts go to the spool). */
static void health_state(hl_app_t *app, hl_health_state_t *hs)
{
    hl_writer_stats_t ws;

    hl_health_get(app->health, hs);
    hl_writer_get_stats(app->writer, &ws);
    if (hs->database == HL_HEALTH_DB_UP && !ws.database_up)
        hs->database = HL_HEALTH_DB_DOWN;
}

/* "replica" in /healthz (read_database_url set): lag null while unknown. */
static json_t *replica_json(const hl_health_replica_t *r)
{
    return json_pack("{s:s, s:b, s:o, s:o}", "database", r->up ? "up" : "down", "standby", r->standby,
                     "lag_seconds", r->lag_known ? json_real(r->lag_seconds) : json_null(), "lag_bytes",
                     r->lag_known ? json_integer((json_int_t)r->lag_bytes) : json_null());
}

/* 200 while a contact can be stored or spooled; 503 (a load balancer takes the daemon out)
 * when neither. The read replica's state does not change the status: intake does not use it.
 * Never waits for PostgreSQL. */
void hl_handle_healthz(hl_request_t *req, void *arg)
{
    hl_app_t *app = arg;
    hl_health_state_t hs;
    json_t *body;
    bool ok;

    health_state(app, &hs);
    ok = hs.database == HL_HEALTH_DB_UP || hs.spool_usable;
    body =
        json_pack("{s:s, s:s, s:I}", "status", ok ? "ok" : "unavailable", "database",
                  hl_health_db_name(hs.database), "spool_pending", (json_int_t)hl_spool_pending(app->spool));
    if (body != NULL && hs.replica.configured)
        json_object_set_new(body, "replica", replica_json(&hs.replica));
    hl_http_reply_json(req, ok ? 200 : 503, body);
}

void hl_handle_web(hl_request_t *req, void *arg)
{
    const hl_app_t *app = arg;

    hl_webfiles_serve(app->web, req);
}

/* The replica's lines of /metrics ("" when read_database_url is unset; the lag samples only while
 * known); malloc'd, NULL when out of memory. */
static char *replica_metrics(const hl_health_replica_t *r)
{
    char seconds[64] = "", bytes[64] = "", *text = NULL;

    if (!r->configured)
        return strdup("");
    if (r->lag_known) {
        snprintf(seconds, sizeof(seconds), "helpline_replica_lag_seconds %.3f\n", r->lag_seconds);
        snprintf(bytes, sizeof(bytes), "helpline_replica_lag_bytes %" PRIu64 "\n", r->lag_bytes);
    }
    if (asprintf(&text,
                 "# HELP helpline_replica_up Whether the read replica (read_database_url) answered the last "
                 "probe.\n"
                 "# TYPE helpline_replica_up gauge\n"
                 "helpline_replica_up %d\n"
                 "# HELP helpline_replica_lag_seconds How long the read replica has lacked WAL the primary "
                 "had (0: it has replayed all of it).\n"
                 "# TYPE helpline_replica_lag_seconds gauge\n"
                 "%s"
                 "# HELP helpline_replica_lag_bytes WAL the primary had that the read replica has not "
                 "replayed.\n"
                 "# TYPE helpline_replica_lag_bytes gauge\n"
                 "%s",
                 r->up ? 1 : 0, seconds, bytes) < 0)
        return NULL;
    return text;
}

void hl_handle_metrics(hl_request_t *req, void *arg)
{
    hl_app_t *app = arg;
    hl_writer_stats_t ws;
    hl_merger_stats_t ms;
    hl_health_state_t hs;
    char *http = hl_http_metrics(app->http);
    char *replica = NULL, *text = NULL;
    int n = -1;

    hl_writer_get_stats(app->writer, &ws);
    hl_merger_get_stats(app->merger, &ms);
    health_state(app, &hs);
    replica = replica_metrics(&hs.replica);
    if (replica != NULL)
        n = asprintf(
            &text,
            "%s"
            "# HELP helpline_contacts_stored_total Contacts stored, by outcome.\n"
            "# TYPE helpline_contacts_stored_total counter\n"
            "helpline_contacts_stored_total{outcome=\"created\"} %" PRIu64 "\n"
            "helpline_contacts_stored_total{outcome=\"duplicate\"} %" PRIu64 "\n"
            "helpline_contacts_stored_total{outcome=\"spooled\"} %" PRIu64 "\n"
            "helpline_contacts_stored_total{outcome=\"replayed\"} %" PRIu64 "\n"
            "helpline_contacts_stored_total{outcome=\"failed\"} %" PRIu64 "\n"
            "# HELP helpline_writer_batches_total Group-commit transactions.\n"
            "# TYPE helpline_writer_batches_total counter\n"
            "helpline_writer_batches_total %" PRIu64 "\n"
            "# HELP helpline_writer_queue Contacts waiting for the writer.\n"
            "# TYPE helpline_writer_queue gauge\n"
            "helpline_writer_queue %zu\n"
            "# HELP helpline_rollup_merges_total Statistics merges (pending rollup rows folded into the "
            "cells).\n"
            "# TYPE helpline_rollup_merges_total counter\n"
            "helpline_rollup_merges_total{outcome=\"ok\"} %" PRIu64 "\n"
            "helpline_rollup_merges_total{outcome=\"failed\"} %" PRIu64 "\n"
            "# HELP helpline_rollup_rows_merged_total Pending rollup rows folded into the cells.\n"
            "# TYPE helpline_rollup_rows_merged_total counter\n"
            "helpline_rollup_rows_merged_total %" PRIu64 "\n"
            "# HELP helpline_rollup_merge_seconds_total Time spent in statistics merges that committed.\n"
            "# TYPE helpline_rollup_merge_seconds_total counter\n"
            "helpline_rollup_merge_seconds_total %.6f\n"
            "# HELP helpline_spool_pending Sealed contacts in the spool, waiting for the database.\n"
            "# TYPE helpline_spool_pending gauge\n"
            "helpline_spool_pending %zu\n"
            "# HELP helpline_database_up Whether PostgreSQL answered the last health probe and takes "
            "writes.\n"
            "# TYPE helpline_database_up gauge\n"
            "helpline_database_up %d\n"
            "# HELP helpline_database_read_only Whether PostgreSQL answered the last health probe "
            "read-only.\n"
            "# TYPE helpline_database_read_only gauge\n"
            "helpline_database_read_only %d\n"
            "# HELP helpline_spool_usable Whether the spool can take records.\n"
            "# TYPE helpline_spool_usable gauge\n"
            "helpline_spool_usable %d\n"
            "# HELP helpline_crypto_failures_total Seals that did not open, signatures and tokens that "
            "failed.\n"
            "# TYPE helpline_crypto_failures_total counter\n"
            "helpline_crypto_failures_total %" PRIu64 "\n"
            "%s",
            http != NULL ? http : "", ws.created, ws.duplicates, ws.spooled, ws.replayed, ws.failed,
            ws.batches, ws.queued, ms.merges, ms.failures, ms.rows, (double)ms.busy_us / 1e6,
            hl_spool_pending(app->spool), hs.database == HL_HEALTH_DB_UP ? 1 : 0,
            hs.database == HL_HEALTH_DB_READ_ONLY ? 1 : 0, hs.spool_usable ? 1 : 0,
            hl_crypto_failures(HL_CRYPTO_FAIL_KINDS), replica);
    free(replica);
    free(http);
    if (n < 0) {
        hl_http_reply_error(req, 503, "unavailable", "out of memory", NULL);
        return;
    }
    hl_http_reply_raw(req, 200, "text/plain; version=0.0.4", text, (size_t)n);
    free(text);
}
