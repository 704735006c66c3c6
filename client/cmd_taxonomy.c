/* helpline taxonomy [terms | search WORDS], helpline classify TEXT... (api.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "cli.h"
#include "contact.h"
#include "taxonomy_view.h"

static const char usage_taxonomy[] =
    "usage: helpline taxonomy [--json]\n"
    "       helpline taxonomy terms\n"
    "       helpline taxonomy search WORDS...\n"
    "\n"
    "Lists the categories (codes for --category), the Luxembourg Guidelines terms, or\n"
    "the categories and terms matching every word (code, label, description, aliases in\n"
    "any language). Terms to avoid show the preferred term.\n"
    "\n"
    "  --json               print the server's taxonomy as JSON\n"
    "\nOptions:\n" HL_CLI_COMMON_OPTIONS;

static const char usage_classify[] =
    "usage: helpline classify [--local-category LABEL]... TEXT...\n"
    "       helpline classify -            (the text from standard input)\n"
    "\n"
    "Shows the terminology findings and the categories the text suggests; stores\n"
    "nothing. Text on the command line may be kept in your shell's history: for a real\n"
    "case summary use '-' and type or pipe it.\n"
    "\n"
    "  --local-category L   a label of your helpline's mapping (repeatable)\n"
    "  --json               print the server's reply as JSON\n"
    "\nOptions:\n" HL_CLI_COMMON_OPTIONS;

int hl_cli_cmd_taxonomy(hl_cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'}, HL_CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    hl_cli_api_t *api = NULL;
    hl_cli_response_t resp = {0};
    json_t *tax = NULL;
    bool as_json = false;
    int opt, status;

    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (hl_cli_common_opt(ctx, opt, optarg))
            continue;
        if (opt == 'h') {
            fputs(usage_taxonomy, ctx->out);
            return HL_CLI_EXIT_OK;
        }
        if (opt != 'j')
            return hl_cli_usage_error(ctx, usage_taxonomy, "taxonomy: %s %s",
                                      opt == ':' ? "missing value for" : "unknown option", argv[optind - 1]);
        as_json = true;
    }
    const char *sub = optind < argc ? argv[optind] : NULL;
    if (sub != NULL && strcmp(sub, "search") != 0 && strcmp(sub, "terms") != 0)
        return hl_cli_usage_error(ctx, usage_taxonomy, "taxonomy: unknown subcommand '%s'", sub);
    if (sub != NULL && strcmp(sub, "search") == 0 && optind + 1 >= argc)
        return hl_cli_usage_error(ctx, usage_taxonomy, "taxonomy search: give one or more words");
    if (sub != NULL && strcmp(sub, "terms") == 0 && optind + 1 < argc)
        return hl_cli_usage_error(ctx, usage_taxonomy, "taxonomy terms: unexpected argument '%s'",
                                  argv[optind + 1]);
    status = hl_cli_connect(ctx, &api);
    if (status != HL_CLI_EXIT_OK)
        goto out;
    int rc = hl_cli_api_request(api, "GET", "/v1/taxonomy", NULL, NULL, 0, &resp);
    status = hl_cli_api_report(api, ctx->err, rc, &resp);
    if (status != HL_CLI_EXIT_OK)
        goto out;
    tax = json_loadb(resp.body != NULL ? resp.body : "", resp.len, 0, NULL);
    if (tax == NULL) {
        fprintf(ctx->err, "error: the server's reply is not JSON\n");
        status = HL_CLI_EXIT_SERVER;
        goto out;
    }
    if (as_json) {
        fprintf(ctx->out, "%s\n", resp.body);
    } else if (sub == NULL) {
        hl_cli_taxonomy_print_categories(ctx->out, tax);
    } else if (strcmp(sub, "terms") == 0) {
        hl_cli_taxonomy_print_terms(ctx->out, tax);
    } else {
        size_t n = hl_cli_taxonomy_search(ctx->out, tax, (const char *const *)argv + optind + 1,
                                          (size_t)(argc - optind - 1));
        if (n == 0)
            fputs("nothing matches; try fewer or shorter words\n", ctx->out);
    }
out:
    json_decref(tax);
    hl_cli_response_free(&resp);
    hl_cli_api_free(api);
    return status;
}

int hl_cli_cmd_classify(hl_cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
                                             {"local-category", required_argument, NULL, 'l'},
                                             HL_CLI_COMMON_LONGOPTS,
                                             {NULL, 0, NULL, 0}};
    hl_cli_api_t *api = NULL;
    hl_cli_response_t resp = {0};
    json_t *body = json_object(), *locals = json_array(), *reply = NULL;
    char *text = NULL, *req = NULL;
    size_t text_len = 0;
    bool as_json = false;
    int opt, status = HL_CLI_EXIT_USAGE;

    if (body == NULL || locals == NULL) {
        json_decref(locals);
        json_decref(body);
        return hl_cli_usage_error(ctx, NULL, "classify: out of memory");
    }
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (hl_cli_common_opt(ctx, opt, optarg))
            continue;
        if (opt == 'h') {
            fputs(usage_classify, ctx->out);
            status = HL_CLI_EXIT_OK;
            goto out;
        } else if (opt == 'j') {
            as_json = true;
        } else if (opt == 'l') {
            json_array_append_new(locals, json_string(optarg));
        } else {
            status =
                hl_cli_usage_error(ctx, usage_classify, "classify: %s %s",
                                   opt == ':' ? "missing value for" : "unknown option", argv[optind - 1]);
            goto out;
        }
    }
    if (optind >= argc) {
        status = hl_cli_usage_error(ctx, usage_classify, "classify: give the text to classify");
        goto out;
    }
    if (argc - optind == 1 && strcmp(argv[optind], "-") == 0) {
        if (hl_cli_read_file("-", &text, &text_len) != HL_OK) {
            status = hl_cli_usage_error(ctx, NULL, "classify: cannot read standard input");
            goto out;
        }
    } else {
        for (int i = optind; i < argc; i++)
            text_len += strlen(argv[i]) + 1;
        text = calloc(1, text_len + 1);
        if (text == NULL) {
            status = hl_cli_usage_error(ctx, NULL, "classify: out of memory");
            goto out;
        }
        for (int i = optind; i < argc; i++) {
            if (i > optind)
                strcat(text, " ");
            strcat(text, argv[i]);
        }
    }
    if (json_object_set_new(body, "text", json_string(text)) != 0) {
        status = hl_cli_usage_error(ctx, NULL, "classify: the text is not UTF-8");
        goto out;
    }
    if (json_array_size(locals) > 0)
        json_object_set(body, "local_categories", locals);
    req = json_dumps(body, JSON_COMPACT);
    if (req == NULL) {
        status = hl_cli_usage_error(ctx, NULL, "classify: out of memory");
        goto out;
    }
    status = hl_cli_connect(ctx, &api);
    if (status != HL_CLI_EXIT_OK)
        goto out;
    int rc = hl_cli_api_request(api, "POST", "/v1/classify", NULL, req, strlen(req), &resp);
    status = hl_cli_api_report(api, ctx->err, rc, &resp);
    if (status != HL_CLI_EXIT_OK)
        goto out;
    reply = json_loadb(resp.body != NULL ? resp.body : "", resp.len, 0, NULL);
    if (reply == NULL) {
        fprintf(ctx->err, "error: the server's reply is not JSON\n");
        status = HL_CLI_EXIT_SERVER;
    } else if (as_json) {
        fprintf(ctx->out, "%s\n", resp.body);
    } else if (json_array_size(json_object_get(reply, "categories")) == 0 &&
               json_array_size(json_object_get(reply, "terminology")) == 0) {
        fputs("no terminology findings and no suggested categories\n", ctx->out);
    } else {
        hl_cli_print_outcome(ctx->out, reply);
    }
out:
    json_decref(reply);
    hl_cli_response_free(&resp);
    hl_cli_api_free(api);
    hl_cli_wipe_free(req, 0);
    hl_cli_wipe_free(text, text_len + 1);
    hl_contact_json_free(body);
    json_decref(locals);
    return status;
}
