/* helpline show ID, helpline update ID [flags] (api.md GET/PATCH /v1/contacts/{id}). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cli.h"
#include "contact.h"
#include "record_args.h"

static const char usage_show[] = "usage: helpline show ID [--json]\n"
                                 "\n"
                                 "Shows a contact. Counsellors see their own contacts in full; supervisors\n"
                                 "see every contact of the helpline without names, phone numbers or texts.\n"
                                 "Every read of sensitive fields is audited.\n"
                                 "\n"
                                 "  --json               print the record as JSON\n"
                                 "\nOptions:\n" HL_CLI_COMMON_OPTIONS;

static const char usage_update[] =
    "usage: helpline update ID [record flags] [--confirm-suggested] [--json FILE|-]\n"
    "\n"
    "Changes a contact you logged: the given fields replace the stored ones; the\n"
    "contact is classified again and the statistics follow. Fields of the child and\n"
    "the caller not given keep their stored values.\n"
    "\n"
    "  --confirm-suggested      count the categories suggested from the text\n"
    "  --json FILE              send FILE (a PATCH body) as it is; '-' reads stdin\n"
    "Record flags:\n"
    "  --type --age --gender --region --relationship --category --local-category\n"
    "  --action --urgency --summary-file --print-json: as for helpline log (see\n"
    "  helpline log --help); --category/--local-category/--action replace the lists\n"
    "\nOptions:\n" HL_CLI_COMMON_OPTIONS;

static char *contact_path(const char *id)
{
    char *e = hl_cli_api_escape(id), *p = NULL;

    if (e != NULL && asprintf(&p, "/v1/contacts/%s", e) < 0)
        p = NULL;
    free(e);
    return p;
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "-";
}

static void print_list(FILE *out, const char *title, json_t *arr)
{
    json_t *v;
    size_t i;

    fprintf(out, "%-15s", title);
    if (json_array_size(arr) == 0)
        fputs("-", out);
    for (i = 0; i < json_array_size(arr); i++) {
        v = json_array_get(arr, i);
        fprintf(out, "%s%s", i > 0 ? ", " : "", json_string_value(v));
    }
    fputc('\n', out);
}

static void print_contact(FILE *out, json_t *c)
{
    json_t *child = json_object_get(c, "child"), *caller = json_object_get(c, "caller");
    json_t *age = json_object_get(child, "age"), *v;
    size_t i;

    fprintf(out, "%-15s%s\n", "id", str(c, "id"));
    fprintf(out, "%-15s%s\n", "channel", str(c, "channel"));
    fprintf(out, "%-15s%s\n", "contact type", str(c, "contact_type"));
    fprintf(out, "%-15s%s\n", "started", str(c, "started_at"));
    if (json_object_get(c, "ended_at") != NULL)
        fprintf(out, "%-15s%s\n", "ended", str(c, "ended_at"));
    fprintf(out, "%-15s%s\n", "counsellor", str(c, "counsellor"));
    if (json_is_integer(age))
        fprintf(out, "%-15s%lld\n", "child age", (long long)json_integer_value(age));
    else
        fprintf(out, "%-15s%s\n", "child age", "unknown");
    fprintf(out, "%-15s%s\n", "child gender", str(child, "gender"));
    fprintf(out, "%-15s%s\n", "child region", str(child, "region"));
    if (json_object_get(child, "name") != NULL)
        fprintf(out, "%-15s%s\n", "child name", str(child, "name"));
    fprintf(out, "%-15s%s\n", "caller", str(caller, "relationship"));
    if (json_object_get(caller, "name") != NULL)
        fprintf(out, "%-15s%s\n", "caller name", str(caller, "name"));
    if (json_object_get(caller, "phone") != NULL)
        fprintf(out, "%-15s%s\n", "caller phone", str(caller, "phone"));
    fprintf(out, "%-15s%s\n", "urgency", str(c, "urgency"));
    print_list(out, "local labels", json_object_get(c, "local_categories"));
    print_list(out, "actions", json_object_get(c, "actions"));
    fputs("categories\n", out);
    json_array_foreach(json_object_get(c, "categories"), i, v)
    {
        fprintf(out, "  %-45s %s  [%s]\n", str(v, "code"), str(v, "label"), str(v, "source"));
    }
    json_array_foreach(json_object_get(c, "terminology"), i, v)
    {
        if (i == 0)
            fputs("terminology\n", out);
        if (json_string_value(json_object_get(v, "preferred")) != NULL)
            fprintf(out, "  %s (%s in the %s): the preferred term is '%s'\n", str(v, "term"),
                    str(v, "verdict"), str(v, "field"), str(v, "preferred"));
        else
            fprintf(out, "  %s (%s in the %s)\n", str(v, "term"), str(v, "verdict"), str(v, "field"));
    }
    if (json_object_get(c, "summary") != NULL)
        fprintf(out, "summary\n  %s\n", str(c, "summary"));
    if (json_object_get(c, "transcript") != NULL)
        fprintf(out, "transcript\n  %s\n", str(c, "transcript"));
    fprintf(out, "%-15s%s (taxonomy %s)\n", "updated", str(c, "updated_at"), str(c, "taxonomy_version"));
}

int hl_cli_cmd_show(hl_cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'}, HL_CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    hl_cli_api_t *api = NULL;
    hl_cli_response_t resp = {0};
    json_t *c = NULL;
    char *path = NULL;
    bool as_json = false;
    int opt, status;

    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (hl_cli_common_opt(ctx, opt, optarg))
            continue;
        if (opt == 'h') {
            fputs(usage_show, ctx->out);
            return HL_CLI_EXIT_OK;
        }
        if (opt == 'j')
            as_json = true;
        else
            return hl_cli_usage_error(ctx, usage_show, "show: %s %s",
                                      opt == ':' ? "missing value for" : "unknown option", argv[optind - 1]);
    }
    if (argc - optind != 1)
        return hl_cli_usage_error(ctx, usage_show, "show: give one contact ID");
    if ((path = contact_path(argv[optind])) == NULL)
        return hl_cli_usage_error(ctx, NULL, "show: out of memory");
    status = hl_cli_connect(ctx, &api);
    if (status != HL_CLI_EXIT_OK)
        goto out;
    int rc = hl_cli_api_request(api, "GET", path, NULL, NULL, 0, &resp);
    status = hl_cli_api_report(api, ctx->err, rc, &resp);
    if (status != HL_CLI_EXIT_OK)
        goto out;
    c = json_loadb(resp.body != NULL ? resp.body : "", resp.len, 0, NULL);
    if (c == NULL) {
        fprintf(ctx->err, "error: the server's reply is not JSON\n");
        status = HL_CLI_EXIT_SERVER;
    } else if (as_json) {
        fprintf(ctx->out, "%s\n", resp.body);
    } else {
        print_contact(ctx->out, c);
    }
out:
    hl_contact_json_free(c);
    hl_cli_response_free(&resp);
    hl_cli_api_free(api);
    free(path);
    return status;
}

/* PATCH replaces child and caller as a whole: keep the stored members the flags leave out. */
static int merge_stored(hl_cli_ctx_t *ctx, hl_cli_api_t *api, const char *path, json_t *body)
{
    static const char *const parts[] = {"child", "caller"};
    json_t *stored = NULL;
    int status = HL_CLI_EXIT_OK;

    if (json_object_get(body, "child") == NULL && json_object_get(body, "caller") == NULL)
        return HL_CLI_EXIT_OK;
    status = hl_cli_api_json(api, ctx->err, "GET", path, NULL, &stored);
    if (status != HL_CLI_EXIT_OK)
        return status;
    for (size_t i = 0; i < HL_ARRAY_LEN(parts); i++) {
        json_t *given = json_object_get(body, parts[i]), *old = json_object_get(stored, parts[i]);
        if (!json_is_object(given) || !json_is_object(old))
            continue;
        json_t *merged = json_deep_copy(old);
        if (merged == NULL || json_object_update(merged, given) != 0 ||
            json_object_set_new(body, parts[i], merged) != 0) {
            fprintf(ctx->err, "helpline: out of memory\n");
            status = HL_CLI_EXIT_USAGE;
            break;
        }
    }
    hl_contact_json_free(stored);
    return status;
}

int hl_cli_cmd_update(hl_cli_ctx_t *ctx, int argc, char **argv)
{
    hl_cli_record_args_t a = {0};
    hl_cli_api_t *api = NULL;
    hl_cli_response_t resp = {0};
    json_t *reply = NULL;
    char err[512], *path = NULL, *text = NULL;
    size_t len = 0;
    int status, rc = hl_cli_record_args_parse(ctx, argc, argv, true, hl_cli_now_us(), &a, err, sizeof(err));

    if (rc == HL_EINVAL || rc == HL_EIO)
        return hl_cli_usage_error(ctx, usage_update, "update: %s", err);
    if (rc != HL_OK)
        return hl_cli_usage_error(ctx, NULL, "update: %s", hl_strerror(rc));
    if (a.help) {
        fputs(usage_update, ctx->out);
        status = HL_CLI_EXIT_OK;
        goto out;
    }
    if ((path = contact_path(a.id)) == NULL) {
        status = hl_cli_usage_error(ctx, NULL, "update: out of memory");
        goto out;
    }
    if (a.json_file != NULL) {
        rc = hl_cli_read_file(a.json_file, &text, &len);
        if (rc != HL_OK) {
            status = hl_cli_usage_error(ctx, NULL, "update: cannot read %s: %s", a.json_file,
                                        rc == HL_EIO ? strerror(errno) : hl_strerror(rc));
            goto out;
        }
    }
    status = hl_cli_connect(ctx, &api);
    if (status != HL_CLI_EXIT_OK)
        goto out;
    if (text == NULL) {
        status = merge_stored(ctx, api, path, a.body);
        if (status != HL_CLI_EXIT_OK)
            goto out;
        text = json_dumps(a.body, JSON_COMPACT);
        if (text == NULL) {
            status = hl_cli_usage_error(ctx, NULL, "update: out of memory");
            goto out;
        }
        len = strlen(text);
    }
    rc = hl_cli_api_request(api, "PATCH", path, NULL, text, len, &resp);
    status = hl_cli_api_report(api, ctx->err, rc, &resp);
    if (status != HL_CLI_EXIT_OK)
        goto out;
    reply = json_loadb(resp.body != NULL ? resp.body : "", resp.len, 0, NULL);
    if (reply == NULL) {
        fprintf(ctx->err, "error: the server's reply is not JSON\n");
        status = HL_CLI_EXIT_SERVER;
    } else if (a.print_json) {
        fprintf(ctx->out, "%s\n", resp.body);
    } else {
        fprintf(ctx->out, "updated: %s\n",
                json_string_value(json_object_get(reply, "id")) != NULL
                    ? json_string_value(json_object_get(reply, "id"))
                    : a.id);
        hl_cli_print_outcome(ctx->out, reply);
    }
out:
    json_decref(reply);
    hl_cli_response_free(&resp);
    hl_cli_wipe_free(text, len + 1);
    hl_cli_api_free(api);
    hl_cli_record_args_free(&a);
    free(path);
    return status;
}
