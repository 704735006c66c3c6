/* helpline contacts [filters] (api.md "Lists: GET /v1/contacts"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cli.h"
#include "contacts_view.h"

static const char usage_contacts[] =
    "usage: helpline contacts [filters] [--limit N] [--cursor C | --all] [--json]\n"
    "\n"
    "Lists contacts, newest first: counsellors their own, supervisors and admins every\n"
    "contact of the helpline. A list shows no names, phone numbers or texts ('helpline\n"
    "show ID' does, for those allowed to read them). Filters combine:\n"
    "\n"
    "  --from DATE, --to DATE   started on these days (YYYY-MM-DD, UTC, both included)\n"
    "  --counsellor me|NAME     logged by this counsellor\n"
    "  --category CODE          in this category (a top-level code includes its subcategories)\n"
    "  --channel CHANNEL        phone sms chat messaging_app social_media email walk_in letter other\n"
    "  --type TYPE              counselling information referral silent hang_up missed abusive\n"
    "                           prank wrong_number thank_you other\n"
    "  --urgency URGENCY        non_critical urgent critical\n"
    "  --case none|ID           in no case, or in this case\n"
    "  --caller-of ID           from the same phone number as contact ID\n"
    "  --limit N                contacts per page, 1..200 (default 50)\n"
    "  --cursor C               the page after the one that printed C\n"
    "  --all                    every page, one after the other\n"
    "  --json                   the server's pages as JSON (one per line with --all)\n"
    "\nOptions:\n" HL_CLI_COMMON_OPTIONS;

/* One page: the reply parsed into *PAGE, the raw JSON printed when --json. */
static int fetch_page(hl_cli_ctx_t *ctx, hl_cli_api_t *api, const hl_cli_contacts_args_t *a,
                      const char *cursor, json_t **page)
{
    char path[HL_CLI_CONTACTS_PATH_MAX + 128];
    int rc = hl_cli_contacts_page_path(a, cursor, path, sizeof(path));

    *page = NULL;
    if (rc != HL_OK)
        return hl_cli_usage_error(ctx, NULL, "contacts: %s",
                                  rc == HL_EINVAL ? "cursor too long" : hl_strerror(rc));
    return hl_cli_get_page(ctx, api, path, "contacts", a->json, page);
}

int hl_cli_cmd_contacts(hl_cli_ctx_t *ctx, int argc, char **argv)
{
    hl_cli_contacts_args_t a;
    hl_cli_api_t *api = NULL;
    json_t *page = NULL, *all = NULL;
    char err[512], *cursor = NULL;
    int status, rc = hl_cli_contacts_args_parse(ctx, argc, argv, &a, err, sizeof(err));

    if (rc == HL_EINVAL)
        return hl_cli_usage_error(ctx, usage_contacts, "contacts: %s", err);
    if (rc != HL_OK)
        return hl_cli_usage_error(ctx, NULL, "contacts: %s", hl_strerror(rc));
    if (a.help) {
        fputs(usage_contacts, ctx->out);
        return HL_CLI_EXIT_OK;
    }
    if (a.all && a.cursor != NULL)
        return hl_cli_usage_error(ctx, usage_contacts, "contacts: --cursor or --all, not both");
    if ((all = json_array()) == NULL)
        return hl_cli_usage_error(ctx, NULL, "contacts: out of memory");
    status = hl_cli_connect(ctx, &api);
    if (status != HL_CLI_EXIT_OK)
        goto out;
    if (a.cursor != NULL && (cursor = strdup(a.cursor)) == NULL) {
        status = hl_cli_usage_error(ctx, NULL, "contacts: out of memory");
        goto out;
    }
    /* --all: every page into one table (the widths fit all of them). */
    do {
        const char *next;
        status = fetch_page(ctx, api, &a, cursor, &page);
        if (status != HL_CLI_EXIT_OK)
            goto out;
        if (json_array_extend(all, json_object_get(page, "items")) != 0) {
            status = hl_cli_usage_error(ctx, NULL, "contacts: out of memory");
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
            status = hl_cli_usage_error(ctx, NULL, "contacts: out of memory");
            goto out;
        }
    } while (a.all && cursor != NULL);
    if (!a.json) {
        if (hl_cli_contacts_render(ctx->out, all) != HL_OK) {
            fprintf(ctx->err, "error: the server's reply is not a list of contacts\n");
            status = HL_CLI_EXIT_SERVER;
            goto out;
        }
        if (cursor != NULL)
            fprintf(ctx->out, "\nMore contacts: the same command with --cursor %s (or --all).\n", cursor);
    }
out:
    free(cursor);
    json_decref(page);
    json_decref(all);
    hl_cli_api_free(api);
    return status;
}
