/* helpline case SUBCOMMAND (api.md "Cases"): the requests of case_args.h, printed by case_view.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "api.h"
#include "case_args.h"
#include "case_view.h"
#include "cli.h"
#include "contact.h"
#include "record_args.h"

/* The terminal's width for wrapped texts; 80 when the output is not a terminal. */
static int out_width(FILE *out)
{
    struct winsize ws;

    if (isatty(fileno(out)) && ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

/* One page of the list into *PAGE (printed when --json). */
static int fetch_page(hl_cli_ctx_t *ctx, hl_cli_api_t *api, const hl_cli_case_args_t *a, const char *cursor,
                      json_t **page)
{
    char path[HL_CLI_CASE_PATH_MAX + 128];
    int rc = hl_cli_case_page_path(a, cursor, path, sizeof(path));

    *page = NULL;
    if (rc != HL_OK)
        return hl_cli_usage_error(ctx, NULL, "case list: %s",
                                  rc == HL_EINVAL ? "cursor too long" : hl_strerror(rc));
    return hl_cli_get_page(ctx, api, path, "cases", a->json, page);
}

/* case list: one page, or every page with --all, in one table. */
static int list(hl_cli_ctx_t *ctx, hl_cli_api_t *api, const hl_cli_case_args_t *a)
{
    json_t *page = NULL, *all = json_array();
    char *cursor = NULL;
    int status = HL_CLI_EXIT_OK;

    if (all == NULL || (a->cursor != NULL && (cursor = strdup(a->cursor)) == NULL)) {
        status = hl_cli_usage_error(ctx, NULL, "case list: out of memory");
        goto out;
    }
    do {
        const char *next;
        status = fetch_page(ctx, api, a, cursor, &page);
        if (status != HL_CLI_EXIT_OK)
            goto out;
        if (json_array_extend(all, json_object_get(page, "items")) != 0) {
            status = hl_cli_usage_error(ctx, NULL, "case list: out of memory");
            goto out;
        }
        next = json_string_value(json_object_get(page, "next_cursor"));
        if (next != NULL && cursor != NULL && strcmp(next, cursor) == 0) {
            fprintf(ctx->err, "error: the server returned the same page twice\n");
            status = HL_CLI_EXIT_SERVER;
            goto out;
        }
        free(cursor);
        cursor = next != NULL ? strdup(next) : NULL;
        json_decref(page);
        page = NULL;
        if (next != NULL && cursor == NULL) {
            status = hl_cli_usage_error(ctx, NULL, "case list: out of memory");
            goto out;
        }
    } while (a->all && cursor != NULL);
    if (!a->json) {
        if (hl_cli_case_list_render(ctx->out, all, hl_cli_now_us()) != HL_OK) {
            fprintf(ctx->err, "error: the server's reply is not a list of cases\n");
            status = HL_CLI_EXIT_SERVER;
            goto out;
        }
        if (cursor != NULL)
            fprintf(ctx->out, "\nMore cases: the same command with --cursor %s (or --all).\n", cursor);
    }
out:
    free(cursor);
    json_decref(page);
    json_decref(all);
    return status;
}

/* Every other subcommand: one request, its reply printed. */
static int one(hl_cli_ctx_t *ctx, hl_cli_api_t *api, const hl_cli_case_args_t *a)
{
    hl_cli_response_t resp = {0};
    json_t *reply = NULL;
    char *text = NULL;
    size_t len = 0;
    int status, rc;

    if (a->body != NULL) {
        if ((text = json_dumps(a->body, JSON_COMPACT)) == NULL)
            return hl_cli_usage_error(ctx, NULL, "case: out of memory");
        len = strlen(text);
    }
    rc = hl_cli_api_request(api, a->method, a->path, NULL, text, len, &resp);
    status = hl_cli_api_report(api, ctx->err, rc, &resp);
    if (status != HL_CLI_EXIT_OK)
        goto out;
    reply = json_loadb(resp.body != NULL ? resp.body : "", resp.len, 0, NULL);
    if (!json_is_object(reply)) {
        fprintf(ctx->err, "error: the server's reply is not JSON (HTTP %ld)\n", resp.status);
        status = HL_CLI_EXIT_SERVER;
    } else if (a->json) {
        fprintf(ctx->out, "%.*s\n", (int)resp.len, resp.body);
    } else if (a->cmd == HL_CLI_CASE_SHOW) {
        if (hl_cli_case_render(ctx->out, reply, hl_cli_now_us(), out_width(ctx->out)) != HL_OK) {
            fprintf(ctx->err, "error: the server's reply is not a case\n");
            status = HL_CLI_EXIT_SERVER;
        }
    } else {
        hl_cli_case_print_result(ctx->out, a->cmd, reply, resp.status);
    }
out:
    hl_contact_json_free(reply);
    hl_cli_response_free(&resp);
    hl_cli_wipe_free(text, len + 1);
    return status;
}

int hl_cli_cmd_case(hl_cli_ctx_t *ctx, int argc, char **argv)
{
    hl_cli_case_args_t a;
    hl_cli_api_t *api = NULL;
    char err[512];
    int status, rc = hl_cli_case_args_parse(ctx, argc, argv, hl_cli_now_us(), &a, err, sizeof(err));

    if (rc == HL_EINVAL)
        return hl_cli_usage_error(ctx, a.usage, "%s", err);
    if (rc != HL_OK)
        return hl_cli_usage_error(ctx, NULL, "%s", err);
    if (a.help) {
        fputs(a.usage, ctx->out);
        status = HL_CLI_EXIT_OK;
        goto out;
    }
    status = hl_cli_connect(ctx, &api);
    if (status != HL_CLI_EXIT_OK)
        goto out;
    status = a.cmd == HL_CLI_CASE_LIST ? list(ctx, api, &a) : one(ctx, api, &a);
out:
    hl_cli_api_free(api);
    hl_cli_case_args_free(&a);
    return status;
}
