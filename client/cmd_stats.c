/* helpline stats (api.md GET /v1/stats): a table with bars, or the server's CSV or JSON. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "cli.h"
#include "stats_view.h"

static const char usage_stats[] =
    "usage: helpline stats --from DATE --to DATE --by DIM[,DIM...] [--k N] [--csv|--json]\n"
    "\n"
    "Counts of contacts, referrals or case status changes, after disclosure control:\n"
    "small counts, and counts from which a small one could be worked out, are shown as\n"
    "<k. Without --csv or --json: a table with a bar per row and a totals row.\n"
    "\n"
    "  --from DATE, --to DATE   the period, YYYY-MM-DD, both days included\n"
    "  --by DIMS                1 to 4 of: category subcategory age_band gender channel\n"
    "                           contact_type region month (contacts), referral_to\n"
    "                           referral_state (referrals, counted in the month made, with\n"
    "                           their state now), case_status (case status changes);\n"
    "                           comma-separated, one kind at a time, month or week\n"
    "                           (ISO weeks, by their Monday; not for network users) with any\n"
    "  --k N                    the threshold (not below the server's minimum)\n"
    "  --helpline CODE          network users: one helpline of the network\n"
    "  --csv                    the server's CSV (RFC 4180)\n"
    "  --json                   the server's JSON\n"
    "  --no-bars                the table without bars\n"
    "\nOptions:\n" HL_CLI_COMMON_OPTIONS;

int hl_cli_cmd_stats(hl_cli_ctx_t *ctx, int argc, char **argv)
{
    enum { O_FROM = 0x300, O_TO, O_BY, O_K, O_CSV, O_JSON, O_HELPLINE, O_NOBARS };
    static const struct option longopts[] = {{"from", required_argument, NULL, O_FROM},
                                             {"to", required_argument, NULL, O_TO},
                                             {"by", required_argument, NULL, O_BY},
                                             {"k", required_argument, NULL, O_K},
                                             {"csv", no_argument, NULL, O_CSV},
                                             {"json", no_argument, NULL, O_JSON},
                                             {"helpline", required_argument, NULL, O_HELPLINE},
                                             {"no-bars", no_argument, NULL, O_NOBARS},
                                             HL_CLI_COMMON_LONGOPTS,
                                             {NULL, 0, NULL, 0}};
    const char *from = NULL, *to = NULL, *by = NULL, *k = NULL, *helpline = NULL;
    bool csv = false, as_json = false, bars = true;
    hl_cli_api_t *api = NULL;
    hl_cli_response_t resp = {0};
    json_t *stats = NULL;
    char path[1024] = "/v1/stats";
    int opt, status;

    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (hl_cli_common_opt(ctx, opt, optarg))
            continue;
        switch (opt) {
        case 'h':
            fputs(usage_stats, ctx->out);
            return HL_CLI_EXIT_OK;
        case O_FROM:
            from = optarg;
            break;
        case O_TO:
            to = optarg;
            break;
        case O_BY:
            by = optarg;
            break;
        case O_K:
            k = optarg;
            break;
        case O_HELPLINE:
            helpline = optarg;
            break;
        case O_CSV:
            csv = true;
            break;
        case O_JSON:
            as_json = true;
            break;
        case O_NOBARS:
            bars = false;
            break;
        default:
            return hl_cli_usage_error(ctx, usage_stats, "stats: %s %s",
                                      opt == ':' ? "missing value for" : "unknown option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return hl_cli_usage_error(ctx, usage_stats, "stats: unexpected argument '%s'", argv[optind]);
    if (from == NULL || to == NULL || by == NULL)
        return hl_cli_usage_error(ctx, usage_stats, "stats: --from, --to and --by are required");
    if (!hl_cli_is_date(from) || !hl_cli_is_date(to))
        return hl_cli_usage_error(ctx, usage_stats, "stats: dates are YYYY-MM-DD");
    if (csv && as_json)
        return hl_cli_usage_error(ctx, usage_stats, "stats: --csv or --json, not both");
    if (k != NULL && (strspn(k, "0123456789") != strlen(k) || *k == '\0'))
        return hl_cli_usage_error(ctx, usage_stats, "stats: --k must be a whole number");
    if (hl_cli_api_add_param(path, sizeof(path), "from", from) != HL_OK ||
        hl_cli_api_add_param(path, sizeof(path), "to", to) != HL_OK ||
        hl_cli_api_add_param(path, sizeof(path), "by", by) != HL_OK ||
        (k != NULL && hl_cli_api_add_param(path, sizeof(path), "k", k) != HL_OK) ||
        (helpline != NULL && hl_cli_api_add_param(path, sizeof(path), "helpline", helpline) != HL_OK))
        return hl_cli_usage_error(ctx, usage_stats, "stats: arguments too long");
    status = hl_cli_connect(ctx, &api);
    if (status != HL_CLI_EXIT_OK)
        goto out;
    int rc = hl_cli_api_request(api, "GET", path, csv ? "text/csv" : NULL, NULL, 0, &resp);
    status = hl_cli_api_report(api, ctx->err, rc, &resp);
    if (status != HL_CLI_EXIT_OK)
        goto out;
    if (csv || as_json) {
        fwrite(resp.body != NULL ? resp.body : "", 1, resp.len, ctx->out);
        if (as_json && resp.len > 0 && resp.body[resp.len - 1] != '\n')
            fputc('\n', ctx->out);
        goto out;
    }
    stats = json_loadb(resp.body != NULL ? resp.body : "", resp.len, 0, NULL);
    if (stats == NULL || hl_cli_stats_render(ctx->out, stats, bars) != HL_OK) {
        fprintf(ctx->err, "error: the server's reply is not a statistics table\n");
        status = HL_CLI_EXIT_SERVER;
    }
out:
    json_decref(stats);
    hl_cli_response_free(&resp);
    hl_cli_api_free(api);
    return status;
}
