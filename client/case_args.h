/*
 * helpline case SUBCOMMAND (api.md "Cases"): the arguments turned into one request (method,
 * path, body). Values the client can check are checked here (ids, vocabularies, dates,
 * limits), so a typo is a usage error (exit 2) with the subcommand's usage; names and the
 * case's own rules (the status machine, who may do what) are the server's (exit 1).
 *
 * Texts (label, summary, note, referral organisation and details) are sensitive: they are
 * only ever in the request body, which hl_cli_case_args_free wipes. A text may come from the
 * command line (then it is in the shell's history), from a file, or from standard input ('-').
 */
#ifndef HL_CLI_CASE_ARGS_H
#define HL_CLI_CASE_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cli.h"

#define HL_CLI_CASE_PATH_MAX 512

typedef enum {
    HL_CLI_CASE_NEW = 0,
    HL_CLI_CASE_SHOW,
    HL_CLI_CASE_LIST,
    HL_CLI_CASE_UPDATE,
    HL_CLI_CASE_NOTE,
    HL_CLI_CASE_REFER,       /* a new referral */
    HL_CLI_CASE_REFER_STATE, /* a referral's new state: refer ID REFERRAL_ID --state S */
    HL_CLI_CASE_LINK,
    HL_CLI_CASE_UNLINK,
    HL_CLI_CASE_ASSIGN,
    HL_CLI_CASE_STATUS
} hl_cli_case_cmd_t;

typedef struct hl_cli_case_args {
    hl_cli_case_cmd_t cmd;
    const char *usage;               /* the usage text to print with an error or --help */
    const char *method;              /* "GET", "POST", "PATCH", "PUT", "DELETE" */
    char path[HL_CLI_CASE_PATH_MAX]; /* the request's path (a list's without its cursor) */
    json_t *body;                    /* the request body, or NULL; holds sensitive text */
    const char *case_id;             /* the case operand, or NULL (new, list) */
    const char *sub_id;              /* the contact or referral operand, or NULL */
    const char *cursor;              /* list --cursor, or NULL */
    bool all;                        /* list --all: follow next_cursor to the end */
    bool json;                       /* --json: print the server's replies as they are */
    bool help;
} hl_cli_case_args_t;

/*
 * Parses ARGV (ARGV[0] "case", ARGV[1] the subcommand); common options go into CTX; NOW_US is
 * "today" for list --overdue. *OUT is always written (its usage at least). Returns 0;
 * HL_EINVAL with ERR saying why (print it with OUT->usage); HL_EIO when a --file/-file or
 * standard input cannot be read (ERR says which); HL_ENOMEM. Release with
 * hl_cli_case_args_free.
 */
int hl_cli_case_args_parse(hl_cli_ctx_t *ctx, int argc, char **argv, int64_t now_us, hl_cli_case_args_t *out,
                           char *err, size_t errlen) HL_MUSTCHECK;

/* Wipes and releases A's body. */
void hl_cli_case_args_free(hl_cli_case_args_t *a);

/* A's path with CURSOR (NULL: none) added, into OUT. HL_EINVAL when it does not fit, HL_ENOMEM. */
int hl_cli_case_page_path(const hl_cli_case_args_t *a, const char *cursor, char *out,
                          size_t cap) HL_MUSTCHECK;

/* The general usage of "helpline case". */
extern const char hl_cli_case_usage[];

#endif
