/*
 * The GET /v1/stats reply as a table for people: one column per dimension, the count
 * right-aligned, a bar proportional to the count (Unicode eighth blocks, the largest count
 * HL_CLI_BAR_WIDTH cells wide), suppressed cells as "<k" without a bar, and a totals row
 * from total_contacts (or total_referrals, total_status_changes: what the table counts).
 */
#ifndef HL_CLI_STATS_VIEW_H
#define HL_CLI_STATS_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "util.h"

#define HL_CLI_BAR_WIDTH 32

/* The bar for COUNT out of MAX in at most WIDTH cells, as UTF-8 into OUT (NUL-terminated;
 * CAP >= 3 * WIDTH + 1). Any non-zero count gets at least one eighth. */
void hl_cli_stats_bar(uint64_t count, uint64_t max, size_t width, char *out, size_t cap);

/* Renders STATS (the JSON reply) to OUT; BARS adds the bar column. HL_EINVAL when STATS is
 * not a stats reply. */
int hl_cli_stats_render(FILE *out, json_t *stats, bool bars) HL_MUSTCHECK;

#endif
