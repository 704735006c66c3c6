/* helpline case: replies for people (case_view.h). */
#include "case_view.h"

#include <stdbool.h>
#include <string.h>

#include "contact.h"

#define DAY_US  (86400LL * 1000000)
#define INDENT  4
#define NOT_YOU "(not shown to you)"

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static const char *or_dash(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : "-";
}

static bool is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* S (LEN bytes) with control characters as '?'. */
static void put_safe(FILE *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        fputc(is_control((unsigned char)s[i]) ? '?' : s[i], out);
}

static void put(FILE *out, const char *s)
{
    put_safe(out, s, strlen(s));
}

/* Columns of S (LEN bytes): UTF-8 continuation bytes take none. */
static size_t columns(const char *s, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

/* S padded to W columns. */
static void put_padded(FILE *out, const char *s, size_t w)
{
    size_t n = columns(s, strlen(s));

    put(out, s);
    for (; n < w; n++)
        fputc(' ', out);
}

/* "2026-11-22T10:05:59.5Z" -> "2026-11-22 10:05" (DAY_ONLY: "2026-11-22"); else as it is. */
static const char *short_time(const char *t, bool day_only, char *buf, size_t cap)
{
    if (t == NULL)
        return "-";
    if (strlen(t) >= 16 && t[10] == 'T') {
        if (day_only)
            snprintf(buf, cap, "%.10s", t);
        else
            snprintf(buf, cap, "%.10s %.5s", t, t + 11);
        return buf;
    }
    return t;
}

const char *hl_cli_case_due(const char *follow_up_at, const char *status, int64_t now_us)
{
    int64_t at, day, today = now_us / DAY_US;

    if (follow_up_at == NULL || (status != NULL && strcmp(status, "closed") == 0) ||
        !hl_contact_time_parse(follow_up_at, strlen(follow_up_at), &at))
        return NULL;
    day = at >= 0 ? at / DAY_US : (at - DAY_US + 1) / DAY_US;
    if (day < today)
        return "overdue";
    return day == today ? "due today" : NULL;
}

/* ---- wrapping ------------------------------------------------------------------------------ */

static void indent(FILE *out, int n)
{
    for (int i = 0; i < n; i++)
        fputc(' ', out);
}

/*
 * One paragraph P (N bytes, no newline) on lines of WIDTH columns after IND spaces; words
 * longer than a line are cut (at a character boundary).
 */
static void wrap_paragraph(FILE *out, const char *p, size_t n, int ind, int width)
{
    size_t avail = (size_t)(width - ind), col = 0, i = 0;

    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (i < n)
        indent(out, ind); /* an empty line stays empty */
    while (i < n) {
        size_t start, end, w;
        while (i < n && (p[i] == ' ' || p[i] == '\t'))
            i++;
        if (i == n)
            break;
        start = i;
        while (i < n && p[i] != ' ' && p[i] != '\t')
            i++;
        end = i;
        w = columns(p + start, end - start);
        if (col > 0 && col + 1 + w > avail) {
            fputc('\n', out);
            indent(out, ind);
            col = 0;
        } else if (col > 0) {
            fputc(' ', out);
            col++;
        }
        for (size_t k = start; k < end; k++) {
            bool lead = ((unsigned char)p[k] & 0xc0) != 0x80;
            if (lead && col == avail) {
                fputc('\n', out);
                indent(out, ind);
                col = 0;
            }
            put_safe(out, p + k, 1);
            col += lead;
        }
    }
    fputc('\n', out);
}

/* TEXT's paragraphs (split at newlines) wrapped to WIDTH after IND spaces. */
static void wrap(FILE *out, const char *text, int ind, int width)
{
    const char *p = text;

    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (nl == NULL && n == 0 && p != text)
            break; /* a final newline ends the text */
        wrap_paragraph(out, p, n, ind, width);
        if (nl == NULL)
            break;
        p = nl + 1;
    }
}

/* ---- one case ------------------------------------------------------------------------------ */

static void field(FILE *out, const char *name, const char *value)
{
    fprintf(out, "%-13s", name);
    put(out, or_dash(value));
    fputc('\n', out);
}

static void header(FILE *out, json_t *c, int64_t now_us, int width)
{
    const char *status = str(c, "status"), *follow = str(c, "follow_up_at");
    const char *due = hl_cli_case_due(follow, status, now_us);
    json_t *summary = json_object_get(c, "summary");
    char buf[64];

    field(out, "case", str(c, "id"));
    field(out, "label", json_object_get(c, "label") != NULL ? str(c, "label") : NOT_YOU);
    field(out, "status", status);
    field(out, "priority", str(c, "priority"));
    fprintf(out, "%-13s", "follow-up");
    put(out, short_time(follow, false, buf, sizeof(buf)));
    if (due != NULL)
        fprintf(out, "  ** %s **", due);
    fputc('\n', out);
    field(out, "assigned to",
          json_is_null(json_object_get(c, "assigned_to")) ? "nobody" : str(c, "assigned_to"));
    fprintf(out, "%-13s", "created");
    put(out, short_time(str(c, "created_at"), false, buf, sizeof(buf)));
    fputs(" by ", out);
    put(out, or_dash(str(c, "created_by")));
    fputc('\n', out);
    field(out, "updated", short_time(str(c, "updated_at"), false, buf, sizeof(buf)));
    if (str(c, "closed_at") != NULL)
        field(out, "closed", short_time(str(c, "closed_at"), false, buf, sizeof(buf)));
    fprintf(out, "%-13s%lld\n", "contacts",
            (long long)json_integer_value(json_object_get(c, "contacts_count")));
    if (summary == NULL) {
        field(out, "summary", NOT_YOU);
    } else if (json_string_length(summary) == 0) {
        field(out, "summary", "-");
    } else {
        fputs("summary\n", out);
        wrap(out, json_string_value(summary), INDENT, width);
    }
}

/* A referral's "to" without its "referral." prefix. */
static const char *agency(const char *to)
{
    if (to == NULL)
        return "?";
    return strncmp(to, "referral.", 9) == 0 ? to + 9 : to;
}

/* The state of referral RID in the entries of TIMELINE before index I (NULL: none). */
static const char *earlier_state(json_t *timeline, size_t before, const char *rid)
{
    const char *state = NULL;

    for (size_t k = 0; k < before; k++) {
        json_t *e = json_array_get(timeline, k);
        const char *other = str(e, "referral_id");
        if (other != NULL && strcmp(other, rid) == 0)
            state = str(e, "state");
    }
    return state;
}

/* The rest of entry E's line (after time and who: its kind and what it says) and its block below. */
static void entry(FILE *out, json_t *timeline, size_t i, json_t *e, int width)
{
    const char *kind = or_dash(str(e, "kind"));
    json_t *v;
    size_t k;

    if (strcmp(kind, "note") == 0 && str(e, "text") != NULL) {
        fputs("note\n", out); /* the text is the block below */
        wrap(out, str(e, "text"), INDENT, width);
        return;
    }
    put_padded(out, kind, 8);
    fputs("  ", out);

    if (strcmp(kind, "status") == 0) {
        if (str(e, "to") == NULL)
            put(out, NOT_YOU);
        else if (str(e, "from") == NULL)
            fprintf(out, "opened (%s)", str(e, "to"));
        else
            fprintf(out, "%s -> %s", str(e, "from"), str(e, "to"));
        fputc('\n', out);
    } else if (strcmp(kind, "contact") == 0) {
        if (str(e, "contact_id") == NULL) {
            put(out, NOT_YOU);
        } else {
            fprintf(out, "%s contact ", json_is_true(json_object_get(e, "unlinked")) ? "unlinked" : "linked");
            put(out, str(e, "contact_id"));
            fputs(" (", out);
            put(out, or_dash(str(e, "channel")));
            fputs(", ", out);
            put(out, or_dash(str(e, "contact_type")));
            json_array_foreach(json_object_get(e, "categories"), k, v)
            {
                fputs(", ", out);
                put(out, or_dash(json_string_value(v)));
            }
            fputc(')', out);
        }
        fputc('\n', out);
    } else if (strcmp(kind, "note") == 0) {
        put(out, NOT_YOU);
        fputc('\n', out);
    } else if (strcmp(kind, "referral") == 0) {
        const char *rid = str(e, "referral_id"), *state = str(e, "state"), *org = str(e, "organisation");
        const char *before = rid != NULL ? earlier_state(timeline, i, rid) : NULL;
        if (rid == NULL || state == NULL) {
            put(out, NOT_YOU);
            fputc('\n', out);
            return;
        }
        fputs("to ", out);
        put(out, agency(str(e, "to")));
        if (org != NULL) {
            fputs(", ", out);
            put(out, org);
        }
        fputs(": ", out);
        if (before != NULL) {
            put(out, before);
            fputs(" -> ", out);
        }
        put(out, state);
        fputc('\n', out);
        if (before != NULL)
            return; /* the referral's id and details are under its first entry */
        indent(out, INDENT);
        fputs("referral ", out);
        put(out, rid);
        fputc('\n', out);
        if (str(e, "details") != NULL && str(e, "details")[0] != '\0')
            wrap(out, str(e, "details"), INDENT, width);
    } else {
        fputc('\n', out);
    }
}

int hl_cli_case_render(FILE *out, json_t *c, int64_t now_us, int width)
{
    json_t *timeline = json_object_get(c, "timeline"), *e;
    size_t i, who_w = 3;
    char buf[64];

    if (!json_is_object(c) || str(c, "id") == NULL || !json_is_array(timeline))
        return HL_EINVAL;
    if (width < HL_CLI_CASE_WIDTH_MIN)
        width = HL_CLI_CASE_WIDTH_MIN;
    if (width > HL_CLI_CASE_WIDTH_MAX)
        width = HL_CLI_CASE_WIDTH_MAX;
    header(out, c, now_us, width);
    json_array_foreach(timeline, i, e)
    {
        const char *by = or_dash(str(e, "by"));
        if (columns(by, strlen(by)) > who_w)
            who_w = columns(by, strlen(by));
    }
    fputs("\ntimeline (UTC)\n", out);
    json_array_foreach(timeline, i, e)
    {
        if (!json_is_object(e))
            return HL_EINVAL;
        put_padded(out, short_time(str(e, "at"), false, buf, sizeof(buf)), 16);
        fputs("  ", out);
        put_padded(out, or_dash(str(e, "by")), who_w);
        fputs("  ", out);
        entry(out, timeline, i, e, width);
    }
    if (json_array_size(timeline) == 0)
        fputs("(no entries)\n", out);
    return HL_OK;
}

/* ---- the list ------------------------------------------------------------------------------ */

enum { C_ID, C_STATUS, C_PRIORITY, C_FOLLOW_UP, C_ASSIGNED, C_CREATED_BY, C_CREATED, C_CONTACTS, N_COLS };

static const char *const headers[N_COLS] = {"id",          "status",     "priority", "follow-up",
                                            "assigned to", "created by", "created",  "contacts"};

/* Column C of ITEM as text (in BUF when made up). */
static const char *cell(json_t *item, int c, int64_t now_us, char *buf, size_t cap)
{
    static const char *const keys[N_COLS] = {"id",          "status",     "priority",   NULL,
                                             "assigned_to", "created_by", "created_at", NULL};
    const char *due, *follow;
    char day[16];

    switch (c) {
    case C_FOLLOW_UP:
        follow = str(item, "follow_up_at");
        if (follow == NULL)
            return "-";
        due = hl_cli_case_due(follow, str(item, "status"), now_us);
        snprintf(buf, cap, "%s%s%s", short_time(follow, true, day, sizeof(day)), due != NULL ? " " : "",
                 due != NULL ? due : "");
        return buf;
    case C_CREATED:
        return short_time(str(item, "created_at"), false, buf, cap);
    case C_CONTACTS:
        snprintf(buf, cap, "%lld", (long long)json_integer_value(json_object_get(item, "contacts_count")));
        return buf;
    default:
        return or_dash(str(item, keys[c]));
    }
}

int hl_cli_case_list_render(FILE *out, json_t *items, int64_t now_us)
{
    size_t widths[N_COLS], i;
    json_t *item;
    char buf[128];

    if (!json_is_array(items))
        return HL_EINVAL;
    for (int c = 0; c < N_COLS; c++)
        widths[c] = strlen(headers[c]);
    json_array_foreach(items, i, item)
    {
        if (!json_is_object(item))
            return HL_EINVAL;
        for (int c = 0; c < N_COLS; c++) {
            const char *s = cell(item, c, now_us, buf, sizeof(buf));
            if (columns(s, strlen(s)) > widths[c])
                widths[c] = columns(s, strlen(s));
        }
    }
    for (int c = 0; c < N_COLS; c++)
        put_padded(out, headers[c], c < N_COLS - 1 ? widths[c] + 2 : 0);
    fputc('\n', out);
    json_array_foreach(items, i, item)
    {
        for (int c = 0; c < N_COLS; c++)
            put_padded(out, cell(item, c, now_us, buf, sizeof(buf)), c < N_COLS - 1 ? widths[c] + 2 : 0);
        fputc('\n', out);
    }
    if (json_array_size(items) == 0)
        fputs("(no cases)\n", out);
    return HL_OK;
}

/* ---- writes -------------------------------------------------------------------------------- */

/* "ID: STATUS, priority P, assigned to A, follow-up F" of a case reply. */
static void case_line(FILE *out, json_t *reply)
{
    char buf[64];

    put(out, or_dash(str(reply, "id")));
    fputs(": ", out);
    put(out, or_dash(str(reply, "status")));
    fputs(", priority ", out);
    put(out, or_dash(str(reply, "priority")));
    fputs(", assigned to ", out);
    put(out,
        json_is_null(json_object_get(reply, "assigned_to")) ? "nobody" : or_dash(str(reply, "assigned_to")));
    fputs(", follow-up ", out);
    put(out, short_time(str(reply, "follow_up_at"), false, buf, sizeof(buf)));
    fputc('\n', out);
}

void hl_cli_case_print_result(FILE *out, hl_cli_case_cmd_t cmd, json_t *reply, long http_status)
{
    const char *id = or_dash(str(reply, "id")), *case_id = or_dash(str(reply, "case_id"));

    switch (cmd) {
    case HL_CLI_CASE_NEW:
        fputs("case opened: ", out);
        case_line(out, reply);
        break;
    case HL_CLI_CASE_UPDATE:
    case HL_CLI_CASE_ASSIGN:
    case HL_CLI_CASE_STATUS:
        fputs("case ", out);
        case_line(out, reply);
        break;
    case HL_CLI_CASE_NOTE:
        fputs("note added to case ", out);
        put(out, case_id);
        fputc('\n', out);
        break;
    case HL_CLI_CASE_REFER:
        fputs("referral ", out);
        put(out, id);
        fputs(" to ", out);
        put(out, agency(str(reply, "to")));
        fputs(": ", out);
        put(out, or_dash(str(reply, "state")));
        fputc('\n', out);
        break;
    case HL_CLI_CASE_REFER_STATE:
        fputs("referral ", out);
        put(out, id);
        fputs(": ", out);
        put(out, or_dash(str(reply, "previous_state")));
        fputs(" -> ", out);
        put(out, or_dash(str(reply, "state")));
        fputc('\n', out);
        break;
    case HL_CLI_CASE_LINK:
    case HL_CLI_CASE_UNLINK:
        fputs("contact ", out);
        put(out, or_dash(str(reply, "contact_id")));
        if (cmd == HL_CLI_CASE_UNLINK)
            fputs(" unlinked from case ", out);
        else if (http_status == 200)
            fputs(" was linked to case ", out);
        else
            fputs(" linked to case ", out);
        put(out, case_id);
        fputs(cmd == HL_CLI_CASE_LINK && http_status == 200 ? " already: nothing changed\n" : "\n", out);
        break;
    case HL_CLI_CASE_SHOW:
    case HL_CLI_CASE_LIST:
        break;
    }
}

void hl_cli_case_pick_label(json_t *c, int64_t now_us, char *buf, size_t cap)
{
    const char *label = str(c, "label"), *follow = str(c, "follow_up_at");
    const char *due = hl_cli_case_due(follow, str(c, "status"), now_us);
    char day[16];
    int n;

    n = snprintf(buf, cap, "%s  (%s, %s%s%s%s%s)", label != NULL ? label : or_dash(str(c, "id")),
                 or_dash(str(c, "status")), or_dash(str(c, "priority")), follow != NULL ? ", follow-up " : "",
                 follow != NULL ? short_time(follow, true, day, sizeof(day)) : "", due != NULL ? " " : "",
                 due != NULL ? due : "");
    for (char *p = buf; n > 0 && *p != '\0'; p++) {
        if (is_control((unsigned char)*p))
            *p = '?';
    }
}
