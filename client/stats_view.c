/* GET /v1/stats as a table with bars (stats_view.h). */
#include "stats_view.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* U+2588 FULL BLOCK and U+258F..U+2589: one to seven eighths. */
static const char *const eighths[8] = {"",       "\u258f", "\u258e", "\u258d",
                                       "\u258c", "\u258b", "\u258a", "\u2589"};
static const char full_block[] = "\u2588";

void hl_cli_stats_bar(uint64_t count, uint64_t max, size_t width, char *out, size_t cap)
{
    size_t used = 0;
    uint64_t units = 0;

    out[0] = '\0';
    if (count == 0 || max == 0 || cap == 0)
        return;
    if (count > max)
        count = max;
    /* round to the nearest eighth, at least one */
    units = (uint64_t)(((long double)count * (long double)(width * 8)) / (long double)max + 0.5L);
    if (units == 0)
        units = 1;
    for (uint64_t i = 0; i < units / 8 && used + sizeof(full_block) <= cap; i++) {
        memcpy(out + used, full_block, sizeof(full_block) - 1);
        used += sizeof(full_block) - 1;
    }
    const char *tail = eighths[units % 8];
    if (used + strlen(tail) + 1 <= cap) {
        memcpy(out + used, tail, strlen(tail));
        used += strlen(tail);
    }
    out[used] = '\0';
}

/* Display width of UTF-8 text: code points (the vocabularies are ASCII). */
static size_t width_of(const char *s)
{
    size_t w = 0;

    for (; *s != '\0'; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

static void pad(FILE *out, const char *s, size_t w)
{
    fputs(s, out);
    for (size_t n = width_of(s); n < w; n++)
        fputc(' ', out);
}

/* What the table counts (docs/http-api.md, GET /v1/stats): the name of its total member. */
static const struct {
    const char *member, *what;
} units[] = {{"total_contacts", "contacts"},
             {"total_referrals", "referrals"},
             {"total_status_changes", "case status changes"}};

int hl_cli_stats_render(FILE *out, json_t *stats, bool bars)
{
    json_t *by = json_object_get(stats, "by"), *cells = json_object_get(stats, "cells");
    json_t *total = NULL, *cell;
    const char *what = units[0].what;
    json_int_t k = json_integer_value(json_object_get(stats, "k"));
    size_t ndims = json_array_size(by), i, widths[8] = {0}, count_w = 5;
    uint64_t max = 0;
    bool any_suppressed = false, by_category = false;
    char kbuf[32], num[32], bar[3 * HL_CLI_BAR_WIDTH + 1];

    if (!json_is_array(by) || !json_is_array(cells) || ndims == 0 || ndims > 8)
        return HL_EINVAL;
    for (size_t u = 0; u < HL_ARRAY_LEN(units) && total == NULL; u++)
        if ((total = json_object_get(stats, units[u].member)) != NULL)
            what = units[u].what;
    snprintf(kbuf, sizeof(kbuf), "<%lld", (long long)k);
    for (size_t d = 0; d < ndims; d++) {
        const char *name = json_string_value(json_array_get(by, d));
        if (name == NULL)
            return HL_EINVAL;
        by_category |= strcmp(name, "category") == 0 || strcmp(name, "subcategory") == 0;
        widths[d] = width_of(name);
    }
    if (widths[0] < 5)
        widths[0] = 5; /* "total" */
    json_array_foreach(cells, i, cell)
    {
        json_t *c = json_object_get(cell, "count");
        for (size_t d = 0; d < ndims; d++) {
            const char *v =
                json_string_value(json_object_get(cell, json_string_value(json_array_get(by, d))));
            if (v == NULL)
                return HL_EINVAL;
            if (width_of(v) > widths[d])
                widths[d] = width_of(v);
        }
        if (json_is_integer(c)) {
            uint64_t n = (uint64_t)json_integer_value(c);
            if (n > max)
                max = n;
            snprintf(num, sizeof(num), "%" PRIu64, n);
            if (strlen(num) > count_w)
                count_w = strlen(num);
        } else {
            any_suppressed = true;
            if (strlen(kbuf) > count_w)
                count_w = strlen(kbuf);
        }
    }
    json_t *tc = json_object_get(total, "count");
    if (json_is_integer(tc)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(tc));
        if (strlen(num) > count_w)
            count_w = strlen(num);
    } else if (count_w < 8) {
        count_w = 8; /* "withheld" */
    }

    fprintf(out, "%s .. %s, k = %lld\n\n", json_string_value(json_object_get(stats, "from")),
            json_string_value(json_object_get(stats, "to")), (long long)k);
    for (size_t d = 0; d < ndims; d++) {
        pad(out, json_string_value(json_array_get(by, d)), widths[d]);
        fputs("  ", out);
    }
    fprintf(out, "%*s\n", (int)count_w, "count");
    json_array_foreach(cells, i, cell)
    {
        json_t *c = json_object_get(cell, "count");
        for (size_t d = 0; d < ndims; d++) {
            pad(out, json_string_value(json_object_get(cell, json_string_value(json_array_get(by, d)))),
                widths[d]);
            fputs("  ", out);
        }
        if (json_is_integer(c)) {
            fprintf(out, "%*lld", (int)count_w, (long long)json_integer_value(c));
            hl_cli_stats_bar((uint64_t)json_integer_value(c), max, HL_CLI_BAR_WIDTH, bar, sizeof(bar));
            if (bars && bar[0] != '\0')
                fprintf(out, "  %s", bar);
        } else {
            fprintf(out, "%*s", (int)count_w, kbuf);
        }
        fputc('\n', out);
    }
    if (json_array_size(cells) == 0)
        fprintf(out, "(no %s)\n", what);
    pad(out, "total", widths[0]);
    fputs("  ", out);
    for (size_t d = 1; d < ndims; d++) {
        pad(out, "", widths[d]);
        fputs("  ", out);
    }
    if (json_is_integer(tc))
        fprintf(out, "%*lld\n", (int)count_w, (long long)json_integer_value(tc));
    else
        fprintf(out, "%*s\n", (int)count_w, "withheld");
    if (any_suppressed || !json_is_integer(tc))
        fprintf(out, "\n%s: fewer than %lld %s, or withheld so that such a count cannot be worked out\n",
                kbuf, (long long)k, what);
    if (by_category)
        fputs("A contact with several categories counts in each; the total counts contacts.\n", out);
    return HL_OK;
}
