/*
 * helpline case: the server's replies for people (api.md "Cases", docs/http-api.md "Cases").
 * A case with its timeline, a page of the list as a table, and one line for each write.
 *
 * Follow-ups are days (UTC): a case whose follow-up falls on today is "due today", one whose
 * follow-up day has passed is "overdue" (closed cases are neither); "case list --overdue"
 * asks for the same. Times are printed in UTC to the minute, like the JSON's.
 *
 * Nothing the server sends drives the terminal: control characters print as '?' (a note's
 * line breaks stay line breaks, its tabs become spaces).
 */
#ifndef HL_CLI_CASE_VIEW_H
#define HL_CLI_CASE_VIEW_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "case_args.h"

#define HL_CLI_CASE_WIDTH_MIN 40
#define HL_CLI_CASE_WIDTH_MAX 160

/* "overdue", "due today", or NULL (no follow-up, a later day, a closed case, not a time). */
const char *hl_cli_case_due(const char *follow_up_at, const char *status, int64_t now_us);

/*
 * The case C (a GET /v1/cases/{id} reply): a header (label, status, priority, follow-up with
 * its due mark, assignee, creator and times, number of contacts, summary), then its timeline
 * one entry per line, texts wrapped to WIDTH columns (clamped to 40..160) below their entry.
 * Fields the caller may not read are said to be not shown. HL_EINVAL when C is not a case.
 */
int hl_cli_case_render(FILE *out, json_t *c, int64_t now_us, int width) HL_MUSTCHECK;

/* ITEMS (GET /v1/cases items) as a table: id, status, priority, follow-up (day and due mark),
 * assignee, creator, created, contacts. HL_EINVAL when ITEMS is not an array of objects. */
int hl_cli_case_list_render(FILE *out, json_t *items, int64_t now_us) HL_MUSTCHECK;

/* One line for the reply of a write (CMD's), HTTP_STATUS its status (link: 200 when the
 * contact was in the case already). */
void hl_cli_case_print_result(FILE *out, hl_cli_case_cmd_t cmd, json_t *reply, long http_status);

/* A case's line in a pick list: "LABEL  (status, priority, follow-up DAY[ due mark])", text
 * made safe for the terminal, into BUF. */
void hl_cli_case_pick_label(json_t *c, int64_t now_us, char *buf, size_t cap);

#endif
