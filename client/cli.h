/*
 * helpline, the command-line client (api.md "helpline (the client)"): what every command
 * shares. main.c only picks the command; each command parses its own arguments, resolves
 * the configuration (cli_config.h), talks to the daemon (api.h) and prints.
 *
 * Commands return an exit status, not an HL_E* code: 0 ok, 1 the server (or a report
 * check) said no, 2 usage or configuration error, 3 the server could not be reached.
 */
#ifndef HL_CLI_H
#define HL_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "util.h"

#define HL_CLI_EXIT_OK          0
#define HL_CLI_EXIT_SERVER      1 /* the server said no (message printed), or a check failed */
#define HL_CLI_EXIT_USAGE       2 /* bad arguments or configuration */
#define HL_CLI_EXIT_UNREACHABLE 3 /* no answer from the server */

/* Options every command accepts (also before the command name). */
typedef struct hl_cli_ctx {
    const char *url;        /* --url, or NULL */
    const char *token_file; /* --token-file, or NULL */
    FILE *out;              /* stdout */
    FILE *err;              /* stderr */
} hl_cli_ctx_t;

typedef int (*hl_cli_cmd_fn)(hl_cli_ctx_t *ctx, int argc, char **argv);

/* The commands: ARGV[0] is the command name. Each prints its usage with --help. */
int hl_cli_cmd_log(hl_cli_ctx_t *ctx, int argc, char **argv);
int hl_cli_cmd_show(hl_cli_ctx_t *ctx, int argc, char **argv);
int hl_cli_cmd_contacts(hl_cli_ctx_t *ctx, int argc, char **argv);
int hl_cli_cmd_case(hl_cli_ctx_t *ctx, int argc, char **argv);
int hl_cli_cmd_update(hl_cli_ctx_t *ctx, int argc, char **argv);
int hl_cli_cmd_classify(hl_cli_ctx_t *ctx, int argc, char **argv);
int hl_cli_cmd_taxonomy(hl_cli_ctx_t *ctx, int argc, char **argv);
int hl_cli_cmd_stats(hl_cli_ctx_t *ctx, int argc, char **argv);
int hl_cli_cmd_report(hl_cli_ctx_t *ctx, int argc, char **argv);

typedef struct hl_cli_api hl_cli_api_t;

/* Resolves the configuration (CTX's flags, the environment, the config file) and opens a
 * handle. Returns HL_CLI_EXIT_OK, or HL_CLI_EXIT_USAGE after printing why. */
int hl_cli_connect(hl_cli_ctx_t *ctx, hl_cli_api_t **api);

/* GET PATH, one page of a list: the reply parsed into *PAGE (with an "items" array, else an
 * error naming WHAT), printed as it came when AS_JSON. Returns an exit status. */
int hl_cli_get_page(hl_cli_ctx_t *ctx, hl_cli_api_t *api, const char *path, const char *what, bool as_json,
                    json_t **page);

/* Prints "helpline: MESSAGE" and USAGE to CTX->err; returns HL_CLI_EXIT_USAGE. */
int hl_cli_usage_error(hl_cli_ctx_t *ctx, const char *usage, const char *fmt, ...) HL_PRINTF(3, 4);

/* Reads a whole file (PATH "-" is stdin) into a NUL-terminated buffer; *LEN its length.
 * HL_EIO (errno kept) or HL_ENOMEM. Free with hl_cli_wipe_free when it may be sensitive. */
int hl_cli_read_file(const char *path, char **out, size_t *len) HL_MUSTCHECK;

/* Wipes LEN bytes (strlen when LEN is 0 and P non-NULL) and frees P. NULL: no-op. */
void hl_cli_wipe_free(char *p, size_t len);

/* Whether S has the shape of a date, YYYY-MM-DD (the server checks the calendar). */
bool hl_cli_is_date(const char *s);

/* Prints the categories/terminology/repeat_caller of a POST/PATCH/classify reply. */
void hl_cli_print_outcome(FILE *out, json_t *reply);

/* getopt_long entries every command has; hl_cli_common_opt handles their values. */
#define HL_CLI_OPT_URL        0x101
#define HL_CLI_OPT_TOKEN_FILE 0x102
#define HL_CLI_COMMON_LONGOPTS                                                                               \
    {"url", required_argument, NULL, HL_CLI_OPT_URL},                                                        \
        {"token-file", required_argument, NULL, HL_CLI_OPT_TOKEN_FILE},                                      \
    {                                                                                                        \
        "help", no_argument, NULL, 'h'                                                                       \
    }

/* True when OPT was --url or --token-file (stored in CTX). */
bool hl_cli_common_opt(hl_cli_ctx_t *ctx, int opt, const char *arg);

/* The "Options" lines shared by the commands' usage texts. */
#define HL_CLI_COMMON_OPTIONS                                                                                \
    "  --url URL            the daemon (default HELPLINE_URL, then the config file)\n"                       \
    "  --token-file FILE    read the access token from FILE (mode 0600 or stricter)\n"                       \
    "  -h, --help           this text\n"

#endif
