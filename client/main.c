/* helpline: the command-line client (api.md "helpline (the client)"). Picks the command;
 * the commands live in client/cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    hl_cli_cmd_fn fn;
    const char *summary;
} commands[] = {
    {"log", hl_cli_cmd_log, "log a contact (--json FILE, flags, or an interactive form)"},
    {"show", hl_cli_cmd_show, "show a contact"},
    {"contacts", hl_cli_cmd_contacts, "list contacts (filters, pages)"},
    {"case", hl_cli_cmd_case, "casework: new, show, list, note, refer, link, assign, status"},
    {"update", hl_cli_cmd_update, "change a contact you logged"},
    {"classify", hl_cli_cmd_classify, "terminology findings and suggested categories for a text"},
    {"taxonomy", hl_cli_cmd_taxonomy, "browse or search the categories and terms"},
    {"stats", hl_cli_cmd_stats, "statistics: a table with bars, CSV or JSON"},
    {"report", hl_cli_cmd_report, "quarterly reports: fetch, verify, merge"},
};

static void usage(FILE *f)
{
    fputs("usage: helpline [--url URL] [--token-file FILE] COMMAND [ARGS...]\n\nCommands:\n", f);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\n'helpline COMMAND --help' describes a command; 'man helpline' all of them.\n"
          "The server and token come from --url/--token-file, HELPLINE_URL/HELPLINE_TOKEN, or\n"
          "~/.config/helpline/config. Exit status: 0 ok, 1 the server said no, 2 usage error,\n"
          "3 the server cannot be reached.\n",
          f);
}

int main(int argc, char **argv)
{
    hl_cli_ctx_t ctx = {.out = stdout, .err = stderr};
    int i = 1;

    /* Options before the command name. */
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return HL_CLI_EXIT_OK;
        }
        if ((strcmp(argv[i], "--url") == 0 || strcmp(argv[i], "--token-file") == 0) && i + 1 < argc) {
            *(argv[i][2] == 'u' ? &ctx.url : &ctx.token_file) = argv[i + 1];
            i += 2;
            continue;
        }
        if (strncmp(argv[i], "--url=", 6) == 0) {
            ctx.url = argv[i++] + 6;
            continue;
        }
        if (strncmp(argv[i], "--token-file=", 13) == 0) {
            ctx.token_file = argv[i++] + 13;
            continue;
        }
        fprintf(stderr, "helpline: unknown option %s\n", argv[i]);
        usage(stderr);
        return HL_CLI_EXIT_USAGE;
    }
    if (i >= argc) {
        fputs("helpline: no command\n", stderr);
        usage(stderr);
        return HL_CLI_EXIT_USAGE;
    }
    for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
        if (strcmp(argv[i], commands[c].name) == 0) {
            int status = commands[c].fn(&ctx, argc - i, argv + i);
            if (fflush(stdout) != 0 && status == HL_CLI_EXIT_OK)
                status = HL_CLI_EXIT_USAGE;
            return status;
        }
    }
    fprintf(stderr, "helpline: unknown command '%s'\n", argv[i]);
    usage(stderr);
    return HL_CLI_EXIT_USAGE;
}
