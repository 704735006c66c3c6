/* helpline contacts: flags to the GET /v1/contacts query, items to a table (contacts_view.h). */
#include "contacts_view.h"

#include <ctype.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "record_args.h"

static void seterr(char *err, size_t errlen, const char *fmt, ...) HL_PRINTF(3, 4);

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* 8-4-4-4-12 hexadecimal digits. */
static bool is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

/* ARG is one of the words NAME(i) gives; else ERR lists them. */
static bool in_vocab(const char *flag, const char *arg, const char *(*name)(int), char *err, size_t errlen)
{
    char list[400];
    int n = 0;

    for (; name(n) != NULL; n++) {
        if (strcmp(name(n), arg) == 0)
            return true;
    }
    hl_cli_vocab_list(name, n, list, sizeof(list));
    seterr(err, errlen, "--%s must be one of: %s", flag, list);
    return false;
}

enum {
    O_FROM = 0x300,
    O_TO,
    O_COUNSELLOR,
    O_CATEGORY,
    O_CHANNEL,
    O_TYPE,
    O_URGENCY,
    O_CASE,
    O_CALLER_OF,
    O_LIMIT,
    O_CURSOR,
    O_ALL,
    O_JSON
};

/* The query parameter of each filter flag, in the order they are sent. */
static const struct {
    int opt;
    const char *flag, *param;
} filters[] = {
    {O_FROM, "from", "from"},
    {O_TO, "to", "to"},
    {O_COUNSELLOR, "counsellor", "counsellor"},
    {O_CATEGORY, "category", "category"},
    {O_CHANNEL, "channel", "channel"},
    {O_TYPE, "type", "contact_type"},
    {O_URGENCY, "urgency", "urgency"},
    {O_CASE, "case", "case"},
    {O_CALLER_OF, "caller-of", "caller_of"},
    {O_LIMIT, "limit", "limit"},
};

/* Checks the value of filter OPT; false with ERR when the client can tell it is wrong. */
static bool check_filter(int opt, const char *v, char *err, size_t errlen)
{
    char *end;
    unsigned long n;

    switch (opt) {
    case O_FROM:
    case O_TO:
        if (!hl_cli_is_date(v)) {
            seterr(err, errlen, "--%s must be a date YYYY-MM-DD", opt == O_FROM ? "from" : "to");
            return false;
        }
        return true;
    case O_CHANNEL:
        return in_vocab("channel", v, hl_cli_channel_name, err, errlen);
    case O_TYPE:
        return in_vocab("type", v, hl_cli_type_name, err, errlen);
    case O_URGENCY:
        return in_vocab("urgency", v, hl_cli_urgency_name, err, errlen);
    case O_CASE:
        if (strcmp(v, "none") != 0 && !is_uuid(v)) {
            seterr(err, errlen, "--case must be 'none' or a case id");
            return false;
        }
        return true;
    case O_CALLER_OF:
        if (!is_uuid(v)) {
            seterr(err, errlen, "--caller-of must be a contact id");
            return false;
        }
        return true;
    case O_LIMIT:
        n = strtoul(v, &end, 10);
        if (!isdigit((unsigned char)v[0]) || *end != '\0' || n < 1 || n > 200) {
            seterr(err, errlen, "--limit must be a whole number 1..200");
            return false;
        }
        return true;
    default: /* counsellor, category: the server knows them */
        if (v[0] == '\0') {
            seterr(err, errlen, "--%s needs a value", opt == O_COUNSELLOR ? "counsellor" : "category");
            return false;
        }
        return true;
    }
}

int hl_cli_contacts_args_parse(hl_cli_ctx_t *ctx, int argc, char **argv, hl_cli_contacts_args_t *out,
                               char *err, size_t errlen)
{
    static const struct option longopts[] = {{"from", required_argument, NULL, O_FROM},
                                             {"to", required_argument, NULL, O_TO},
                                             {"counsellor", required_argument, NULL, O_COUNSELLOR},
                                             {"category", required_argument, NULL, O_CATEGORY},
                                             {"channel", required_argument, NULL, O_CHANNEL},
                                             {"type", required_argument, NULL, O_TYPE},
                                             {"urgency", required_argument, NULL, O_URGENCY},
                                             {"case", required_argument, NULL, O_CASE},
                                             {"caller-of", required_argument, NULL, O_CALLER_OF},
                                             {"limit", required_argument, NULL, O_LIMIT},
                                             {"cursor", required_argument, NULL, O_CURSOR},
                                             {"all", no_argument, NULL, O_ALL},
                                             {"json", no_argument, NULL, O_JSON},
                                             HL_CLI_COMMON_LONGOPTS,
                                             {NULL, 0, NULL, 0}};
    const char *values[HL_ARRAY_LEN(filters)] = {NULL};
    hl_cli_contacts_args_t a = {.path = "/v1/contacts"};
    int opt, rc;

    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (hl_cli_common_opt(ctx, opt, optarg))
            continue;
        if (opt == 'h') {
            a.help = true;
            *out = a;
            return HL_OK;
        }
        if (opt == O_ALL) {
            a.all = true;
        } else if (opt == O_JSON) {
            a.json = true;
        } else if (opt == O_CURSOR) {
            if (optarg[0] == '\0') {
                seterr(err, errlen, "--cursor needs a value");
                return HL_EINVAL;
            }
            a.cursor = optarg;
        } else if (opt >= O_FROM && opt <= O_LIMIT) {
            if (!check_filter(opt, optarg, err, errlen))
                return HL_EINVAL;
            values[opt - O_FROM] = optarg;
        } else if (opt == ':') {
            seterr(err, errlen, "%s needs a value", argv[optind - 1]);
            return HL_EINVAL;
        } else {
            seterr(err, errlen, "unknown option %s", argv[optind - 1]);
            return HL_EINVAL;
        }
    }
    if (optind < argc) {
        seterr(err, errlen, "unexpected argument '%s'", argv[optind]);
        return HL_EINVAL;
    }
    if (values[O_FROM - O_FROM] != NULL && values[O_TO - O_FROM] != NULL &&
        strcmp(values[O_FROM - O_FROM], values[O_TO - O_FROM]) > 0) {
        seterr(err, errlen, "--to must not be before --from");
        return HL_EINVAL;
    }
    for (size_t i = 0; i < HL_ARRAY_LEN(filters); i++) {
        if (values[filters[i].opt - O_FROM] == NULL)
            continue;
        rc = hl_cli_api_add_param(a.path, sizeof(a.path), filters[i].param, values[filters[i].opt - O_FROM]);
        if (rc == HL_EINVAL)
            seterr(err, errlen, "arguments too long");
        if (rc != HL_OK)
            return rc;
    }
    *out = a;
    return HL_OK;
}

int hl_cli_contacts_page_path(const hl_cli_contacts_args_t *a, const char *cursor, char *out, size_t cap)
{
    if (strlen(a->path) >= cap)
        return HL_EINVAL;
    strcpy(out, a->path);
    return cursor != NULL ? hl_cli_api_add_param(out, cap, "cursor", cursor) : HL_OK;
}

/* ---- the table ---------------------------------------------------------------------------- */

enum { C_ID, C_STARTED, C_CHANNEL, C_TYPE, C_COUNSELLOR, C_CATEGORIES, C_URGENCY, C_CASE, N_COLS };

static const char *const headers[N_COLS] = {"id",         "started",    "channel", "type",
                                            "counsellor", "categories", "urgency", "case"};

/* Column C of ITEM as text into BUF ("-" when empty). */
static const char *cell(json_t *item, int c, char *buf, size_t cap)
{
    static const char *const keys[N_COLS] = {"id",         "started_at", "channel", "contact_type",
                                             "counsellor", NULL,         "urgency", "case_id"};
    const char *s;

    if (c == C_CATEGORIES) {
        json_t *v;
        size_t i, used = 0;
        buf[0] = '\0';
        json_array_foreach(json_object_get(item, "categories"), i, v)
        {
            int n = snprintf(buf + used, cap - used, "%s%s", i > 0 ? "," : "",
                             json_string_value(v) != NULL ? json_string_value(v) : "?");
            if (n < 0 || (size_t)n >= cap - used)
                break;
            used += (size_t)n;
        }
        return used > 0 ? buf : "-";
    }
    s = json_string_value(json_object_get(item, keys[c]));
    if (s == NULL || s[0] == '\0')
        return "-";
    /* 2026-11-22T10:00:00Z -> 2026-11-22 10:00 (UTC, like the JSON) */
    if (c == C_STARTED && strlen(s) >= 16 && s[10] == 'T') {
        snprintf(buf, cap, "%.10s %.5s", s, s + 11);
        return buf;
    }
    return s;
}

/* Prints S with control characters as '?' (a server's text must not drive the terminal),
 * padded to W columns. */
static void put_cell(FILE *out, const char *s, size_t w)
{
    size_t n = 0;

    for (; *s != '\0'; s++, n++)
        fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
    for (; n < w; n++)
        fputc(' ', out);
}

int hl_cli_contacts_render(FILE *out, json_t *items)
{
    size_t widths[N_COLS], i;
    json_t *item;
    char buf[1024];

    if (!json_is_array(items))
        return HL_EINVAL;
    for (int c = 0; c < N_COLS; c++)
        widths[c] = strlen(headers[c]);
    json_array_foreach(items, i, item)
    {
        if (!json_is_object(item))
            return HL_EINVAL;
        for (int c = 0; c < N_COLS; c++) {
            size_t w = strlen(cell(item, c, buf, sizeof(buf)));
            if (w > widths[c])
                widths[c] = w;
        }
    }
    for (int c = 0; c < N_COLS; c++) {
        put_cell(out, headers[c], c < N_COLS - 1 ? widths[c] + 2 : 0);
    }
    fputc('\n', out);
    json_array_foreach(items, i, item)
    {
        for (int c = 0; c < N_COLS; c++)
            put_cell(out, cell(item, c, buf, sizeof(buf)), c < N_COLS - 1 ? widths[c] + 2 : 0);
        fputc('\n', out);
    }
    if (json_array_size(items) == 0)
        fputs("(no contacts)\n", out);
    return HL_OK;
}
