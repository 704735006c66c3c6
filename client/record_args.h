/*
 * The record flags of "helpline log" and "helpline update" turned into a POST or PATCH body
 * (api.md "POST /v1/contacts"). Vocabulary values are checked here (lib/contact.h), so a
 * typo is a usage error with the list of valid values; category codes and local labels are
 * the server's to check.
 *
 * No flag takes a sensitive value on the command line (it would land in shell history):
 * the summary comes from --summary-file FILE (or "-", standard input); names and phone
 * numbers only through --json or the interactive form.
 */
#ifndef HL_CLI_RECORD_ARGS_H
#define HL_CLI_RECORD_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cli.h"

typedef struct hl_cli_record_args {
    json_t *body;          /* the record fields given as flags (an object, possibly empty) */
    size_t n_fields;       /* how many record flags were given */
    const char *json_file; /* --json FILE ("-": stdin) */
    const char *id;        /* update: the contact id */
    bool help;
    bool print_json; /* --print-json: print the server's reply as JSON */
} hl_cli_record_args_t;

/*
 * Parses ARGV (ARGV[0] the command name). PATCH: the update command (an ID operand,
 * --confirm-suggested, no --source-id/--started-at/--channel). NOW_US is "now" for
 * started_at/--duration. Common options go into CTX. Returns 0, HL_EINVAL (ERR says why:
 * print it with the usage), HL_EIO (a --summary-file that cannot be read) or HL_ENOMEM.
 * On success release with hl_cli_record_args_free (which wipes the body).
 */
int hl_cli_record_args_parse(hl_cli_ctx_t *ctx, int argc, char **argv, bool patch, int64_t now_us,
                             hl_cli_record_args_t *out, char *err, size_t errlen) HL_MUSTCHECK;

void hl_cli_record_args_free(hl_cli_record_args_t *a);

/* Fills what POST requires and the flags left out: source {"helpline-cli", random id},
 * started_at NOW_US. HL_EINVAL (ERR) when channel or contact_type is missing. */
int hl_cli_record_complete(json_t *body, int64_t now_us, char *err, size_t errlen) HL_MUSTCHECK;

/* The current time in microseconds since the epoch. */
int64_t hl_cli_now_us(void);

/* "a, b, c" of a vocabulary (for messages and pick lists): NAME(i) for i in 0..N-1. */
void hl_cli_vocab_list(const char *(*name)(int), int n, char *out, size_t cap);

/* The vocabularies as int-indexed name functions (wrappers of lib/contact.h). */
const char *hl_cli_channel_name(int i);
const char *hl_cli_type_name(int i);
const char *hl_cli_gender_name(int i);
const char *hl_cli_region_name(int i);
const char *hl_cli_relationship_name(int i);
const char *hl_cli_action_name(int i);
const char *hl_cli_urgency_name(int i);

#endif
