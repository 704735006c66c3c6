/* helpline log: from --json, from flags, or through the interactive form (api.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "case.h"
#include "cli.h"
#include "contact.h"
#include "form.h"
#include "record_args.h"

#define RECORD_FLAGS                                                                                         \
    "Record flags:\n"                                                                                        \
    "  --type TYPE              counselling information referral silent hang_up missed abusive\n"            \
    "                           prank wrong_number thank_you other\n"                                        \
    "  --age N|unknown          the child's age, 0..25\n"                                                    \
    "  --gender G               girl boy non_binary unknown\n"                                               \
    "  --region R               urban town rural unknown\n"                                                  \
    "  --relationship R         the caller: self parent caregiver relative sibling friend partner\n"         \
    "                           teacher professional neighbour stranger other unknown\n"                     \
    "  --category CODE          a taxonomy code (repeatable; see helpline taxonomy)\n"                       \
    "  --local-category LABEL   a label of your helpline's mapping (repeatable)\n"                           \
    "  --action ACTION          direct_intervention resources_recommended referral.child_protection\n"       \
    "                           referral.healthcare referral.law_enforcement referral.mental_health\n"       \
    "                           referral.other_organisation referral.school_counsellor report.csam\n"        \
    "                           other (repeatable)\n"                                                        \
    "  --urgency U              non_critical urgent critical\n"                                              \
    "  --summary-file FILE      the summary from FILE ('-': standard input); never on the command\n"         \
    "                           line, so it stays out of shell history\n"                                    \
    "  --print-json             print the server's reply as JSON\n"

static const char usage_log[] =
    "usage: helpline log [--json FILE|-]\n"
    "       helpline log --channel CH --type TYPE [record flags]\n"
    "       helpline log            (on a terminal: an interactive form)\n"
    "\n"
    "Logs a contact and prints its id, its categories with their sources, terminology\n"
    "findings and the repeat-caller count.\n"
    "\n"
    "  --json FILE              post FILE (a POST /v1/contacts body) as it is; '-' reads stdin\n"
    "  --channel CH             phone sms chat messaging_app social_media email walk_in letter other\n"
    "  --started-at TIME        RFC 3339 (default: now)\n"
    "  --ended-at TIME          RFC 3339\n"
    "  --duration MIN           ended_at = started_at + MIN minutes\n"
    "  --source-id ID           the record's id in your system (sending it twice stores it "
    "once)\n" RECORD_FLAGS "\nOptions:\n" HL_CLI_COMMON_OPTIONS;

/* The open cases a new contact is offered to (the numbers stay one digit). */
#define OFFER_MAX 9

/* Prints the reply of POST /v1/contacts. */
static void print_created(FILE *out, json_t *reply)
{
    const char *id = json_string_value(json_object_get(reply, "id"));
    const char *status = json_string_value(json_object_get(reply, "status"));

    if (status != NULL && strcmp(status, "duplicate") == 0)
        fprintf(out, "already stored: %s (this source id was logged before; nothing changed)\n", id);
    else if (status != NULL && strcmp(status, "spooled") == 0)
        fprintf(out, "accepted: %s (the database is busy; it is safely queued and will be stored shortly)\n",
                id);
    else
        fprintf(out, "stored: %s\n", id != NULL ? id : "?");
    hl_cli_print_outcome(out, reply);
}

/* POSTs the contact; CREATED gets its id when it was stored now (not spooled, not a duplicate). */
static int post(hl_cli_ctx_t *ctx, hl_cli_api_t *api, const char *body, size_t len, bool print_json,
                char created[64])
{
    hl_cli_response_t resp;
    json_t *reply = NULL;
    int rc = hl_cli_api_request(api, "POST", "/v1/contacts", NULL, body, len, &resp);
    int status = hl_cli_api_report(api, ctx->err, rc, &resp);

    if (status != HL_CLI_EXIT_OK)
        goto out;
    reply = json_loadb(resp.body != NULL ? resp.body : "", resp.len, 0, NULL);
    if (reply == NULL) {
        fprintf(ctx->err, "error: the server's reply is not JSON (HTTP %ld)\n", resp.status);
        status = HL_CLI_EXIT_SERVER;
        goto out;
    }
    if (print_json)
        fprintf(ctx->out, "%s\n", resp.body);
    else
        print_created(ctx->out, reply);
    const char *id = json_string_value(json_object_get(reply, "id"));
    if (resp.status == 201 && id != NULL && hl_case_uuid_valid(id, strlen(id)))
        strcpy(created, id);
out:
    json_decref(reply);
    hl_cli_response_free(&resp);
    return status;
}

/* ITEMS' objects appended to ALL in created_at order, newest first (ALL is kept sorted). */
static void merge_newest_first(json_t *all, json_t *items)
{
    json_t *item;
    size_t i;

    json_array_foreach(items, i, item)
    {
        const char *t = json_string_value(json_object_get(item, "created_at"));
        int64_t at = 0, other;
        size_t k = 0;
        const char *id = json_string_value(json_object_get(item, "id"));
        /* The id goes into a path: only a case id in text form. */
        if (id == NULL || !hl_case_uuid_valid(id, strlen(id)) || t == NULL ||
            !hl_contact_time_parse(t, strlen(t), &at))
            continue;
        for (; k < json_array_size(all); k++) {
            const char *u = json_string_value(json_object_get(json_array_get(all, k), "created_at"));
            if (hl_contact_time_parse(u, strlen(u), &other) && other < at)
                break;
        }
        json_array_insert(all, k, item);
    }
}

/*
 * The form's contact was stored as CONTACT_ID: offers the counsellor's open cases (open or in
 * progress, assigned to them; the newest OFFER_MAX) by their labels, and links the contact to
 * the one picked. Reading a label is reading the case (GET /v1/cases/{id}, audited).
 */
static int offer_link(hl_cli_ctx_t *ctx, hl_cli_api_t *api, const char *contact_id)
{
    static const char *const statuses[] = {"open", "in_progress"};
    json_t *mine = json_array(), *offered = json_array(), *page = NULL, *c;
    char path[160];
    size_t i;
    int status = HL_CLI_EXIT_OK, choice = -1;

    if (mine == NULL || offered == NULL) {
        status = hl_cli_usage_error(ctx, NULL, "log: out of memory");
        goto out;
    }
    for (i = 0; i < HL_ARRAY_LEN(statuses); i++) {
        snprintf(path, sizeof(path), "/v1/cases?status=%s&assigned_to=me&limit=%d", statuses[i], OFFER_MAX);
        status = hl_cli_api_json(api, ctx->err, "GET", path, NULL, &page);
        if (status != HL_CLI_EXIT_OK)
            goto out;
        merge_newest_first(mine, json_object_get(page, "items"));
        json_decref(page);
        page = NULL;
    }
    json_array_foreach(mine, i, c)
    {
        json_t *full = NULL;
        if (i == OFFER_MAX)
            break;
        snprintf(path, sizeof(path), "/v1/cases/%s", json_string_value(json_object_get(c, "id")));
        status = hl_cli_api_json(api, ctx->err, "GET", path, NULL, &full);
        if (status != HL_CLI_EXIT_OK)
            goto out;
        /* Only what the pick list shows: the summary and the timeline are wiped at once. */
        hl_contact_json_wipe(json_object_get(full, "summary"));
        hl_contact_json_wipe(json_object_get(full, "timeline"));
        json_object_del(full, "summary");
        json_object_del(full, "timeline");
        if (json_array_append_new(offered, full) != 0) {
            status = hl_cli_usage_error(ctx, NULL, "log: out of memory");
            goto out;
        }
    }
    if (hl_cli_form_offer_case(stdin, ctx->out, offered, hl_cli_now_us(), &choice) != HL_OK) {
        status = hl_cli_usage_error(ctx, NULL, "log: out of memory");
        goto out;
    }
    if (choice < 0)
        goto out;
    c = json_array_get(offered, (size_t)choice);
    snprintf(path, sizeof(path), "/v1/cases/%s/contacts/%s", json_string_value(json_object_get(c, "id")),
             contact_id);
    status = hl_cli_api_json(api, ctx->err, "PUT", path, NULL, NULL);
    if (status == HL_CLI_EXIT_OK)
        fprintf(ctx->out, "linked to case %s\n", json_string_value(json_object_get(c, "id")));
out:
    if (status != HL_CLI_EXIT_OK)
        fprintf(ctx->err, "the contact is stored; link it with 'helpline case link CASE_ID %s'\n",
                contact_id);
    json_decref(page);
    json_decref(mine);
    hl_contact_json_free(offered);
    return status;
}

/* The form on the terminal: the taxonomy first (pick lists), then the questions. */
static int run_form(hl_cli_ctx_t *ctx, hl_cli_api_t *api, json_t **body)
{
    json_t *tax = NULL;
    int status = hl_cli_api_json(api, ctx->err, "GET", "/v1/taxonomy", NULL, &tax);

    if (status != HL_CLI_EXIT_OK)
        return status;
    /* No stdio buffer keeps a copy of what is typed. */
    setvbuf(stdin, NULL, _IONBF, 0);
    int rc = hl_cli_form_run(stdin, ctx->out, tax, hl_cli_now_us(), body);
    json_decref(tax);
    if (rc == HL_ECONFLICT)
        return HL_CLI_EXIT_USAGE;
    if (rc != HL_OK) {
        fprintf(ctx->err, "helpline: %s\n", hl_strerror(rc));
        return HL_CLI_EXIT_USAGE;
    }
    return HL_CLI_EXIT_OK;
}

int hl_cli_cmd_log(hl_cli_ctx_t *ctx, int argc, char **argv)
{
    hl_cli_record_args_t a = {0};
    hl_cli_api_t *api = NULL;
    json_t *form_body = NULL;
    char err[512], *text = NULL, created[64] = "";
    size_t len = 0;
    int status, rc = hl_cli_record_args_parse(ctx, argc, argv, false, hl_cli_now_us(), &a, err, sizeof(err));

    if (rc == HL_EINVAL || rc == HL_EIO)
        return hl_cli_usage_error(ctx, usage_log, "log: %s", err);
    if (rc != HL_OK)
        return hl_cli_usage_error(ctx, NULL, "log: %s", hl_strerror(rc));
    if (a.help) {
        fputs(usage_log, ctx->out);
        status = HL_CLI_EXIT_OK;
        goto out;
    }
    if (a.json_file == NULL && a.n_fields == 0 && !isatty(STDIN_FILENO)) {
        status = hl_cli_usage_error(
            ctx, usage_log, "log: no record given: use --json FILE or flags (the form needs a terminal)");
        goto out;
    }
    if (a.json_file == NULL && a.n_fields > 0 &&
        hl_cli_record_complete(a.body, hl_cli_now_us(), err, sizeof(err)) != HL_OK) {
        status = hl_cli_usage_error(ctx, usage_log, "log: %s", err);
        goto out;
    }
    if (a.json_file != NULL) {
        rc = hl_cli_read_file(a.json_file, &text, &len);
        if (rc != HL_OK) {
            status = hl_cli_usage_error(ctx, NULL, "log: cannot read %s: %s", a.json_file,
                                        rc == HL_EIO ? strerror(errno) : hl_strerror(rc));
            goto out;
        }
    }
    status = hl_cli_connect(ctx, &api);
    if (status != HL_CLI_EXIT_OK)
        goto out;
    if (a.json_file == NULL && a.n_fields == 0) {
        status = run_form(ctx, api, &form_body);
        if (status != HL_CLI_EXIT_OK)
            goto out;
    }
    if (text == NULL) {
        text = json_dumps(form_body != NULL ? form_body : a.body, JSON_COMPACT);
        if (text == NULL) {
            status = hl_cli_usage_error(ctx, NULL, "log: out of memory");
            goto out;
        }
        len = strlen(text);
    }
    status = post(ctx, api, text, len, a.print_json, created);
    if (status == HL_CLI_EXIT_OK && form_body != NULL && created[0] != '\0')
        status = offer_link(ctx, api, created);
out:
    hl_cli_wipe_free(text, len + 1);
    hl_contact_json_free(form_body);
    hl_cli_api_free(api);
    hl_cli_record_args_free(&a);
    return status;
}
