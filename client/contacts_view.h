/*
 * helpline contacts (api.md "Lists: GET /v1/contacts"): the flags turned into the query, and a
 * page of items as a table for people. Flags are checked here where the client knows the
 * answer (dates, vocabularies, limit, ids), so a typo is a usage error (exit 2) with the valid
 * values; category codes and counsellor names are the server's to check (exit 1).
 */
#ifndef HL_CLI_CONTACTS_VIEW_H
#define HL_CLI_CONTACTS_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "cli.h"

#define HL_CLI_CONTACTS_PATH_MAX 1024

typedef struct hl_cli_contacts_args {
    char path[HL_CLI_CONTACTS_PATH_MAX]; /* "/v1/contacts" and the filters, without the cursor */
    const char *cursor;                  /* --cursor, or NULL */
    bool all;                            /* --all: follow next_cursor to the end */
    bool json;                           /* --json: the server's pages as they are */
    bool help;
} hl_cli_contacts_args_t;

/* Parses ARGV (ARGV[0] "contacts"); common options go into CTX. 0, or HL_EINVAL with ERR
 * saying why (print it with the usage), HL_ENOMEM. */
int hl_cli_contacts_args_parse(hl_cli_ctx_t *ctx, int argc, char **argv, hl_cli_contacts_args_t *out,
                               char *err, size_t errlen) HL_MUSTCHECK;

/* A's path with CURSOR (NULL: none) added, into OUT. HL_EINVAL when it does not fit, HL_ENOMEM. */
int hl_cli_contacts_page_path(const hl_cli_contacts_args_t *a, const char *cursor, char *out,
                              size_t cap) HL_MUSTCHECK;

/* ITEMS (an array of api.md list items) as a table: id, started (UTC, to the minute), channel,
 * type, counsellor, categories, urgency, case; "-" for an empty value. HL_EINVAL when ITEMS is
 * not an array of objects. */
int hl_cli_contacts_render(FILE *out, json_t *items) HL_MUSTCHECK;

#endif
