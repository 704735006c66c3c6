/* The interactive "helpline log" form (form.h). */
#include "form.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium/utils.h>

#include "case_view.h"
#include "contact.h"
#include "record_args.h"

#define MAX_CATS 8

/* A growable text buffer wiped whenever it moves or is released. */
typedef struct {
    char *s;
    size_t len, cap;
} text_t;

static void text_free(text_t *t)
{
    if (t->s != NULL) {
        sodium_memzero(t->s, t->cap);
        free(t->s);
    }
    t->s = NULL;
    t->len = t->cap = 0;
}

static bool text_add(text_t *t, const char *p, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap == 0 ? 256 : t->cap;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *nb = malloc(cap);
        if (nb == NULL)
            return false;
        if (t->s != NULL)
            memcpy(nb, t->s, t->len);
        size_t len = t->len;
        text_free(t);
        t->s = nb;
        t->len = len;
        t->cap = cap;
    }
    memcpy(t->s + t->len, p, n);
    t->len += n;
    t->s[t->len] = '\0';
    return true;
}

typedef struct {
    FILE *in, *out;
    json_t *tax;
    int channel, type, gender, region, relationship, urgency; /* -1: not given */
    int age;                                                  /* -1: unknown */
    size_t ncats;
    char cats[MAX_CATS][HL_CONTACT_CODE_MAX];
    text_t phone, summary, line;
    bool eof;
} form_t;

/* One line from IN without its newline into F->line; false at end of input. */
static bool read_line(form_t *f)
{
    int c;
    char ch;

    fflush(f->out);
    if (f->line.s != NULL)
        sodium_memzero(f->line.s, f->line.cap);
    f->line.len = 0;
    if (!text_add(&f->line, "", 0))
        return false;
    while ((c = getc(f->in)) != EOF && c != '\n') {
        ch = (char)c;
        if (ch == '\r')
            continue;
        if (!text_add(&f->line, &ch, 1))
            return false;
    }
    ch = 0;
    if (c == EOF && f->line.len == 0) {
        f->eof = true;
        return false;
    }
    /* trim */
    char *s = f->line.s;
    size_t n = f->line.len, start = 0;
    while (start < n && (s[start] == ' ' || s[start] == '\t'))
        start++;
    while (n > start && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    memmove(s, s + start, n - start);
    f->line.len = n - start;
    s[f->line.len] = '\0';
    return true;
}

/*
 * A numbered pick list of N entries (shown by SHOW). Returns the index, -1 for Enter when
 * OPTIONAL (or the default DEF when >= 0), -2 at end of input. Accepts a number or an
 * entry's exact NAME.
 */
static int pick(form_t *f, const char *title, int n, const char *(*name)(void *, int), void *arg,
                const char *(*label)(void *, int), int def, bool optional, bool one_per_line)
{
    fprintf(f->out, "\n%s\n", title);
    for (int i = 0; i < n; i++) {
        const char *l = label != NULL ? label(arg, i) : NULL;
        if (one_per_line || l != NULL)
            fprintf(f->out, "  %2d) %s%s%s%s\n", i + 1, l != NULL ? l : name(arg, i), l != NULL ? "  (" : "",
                    l != NULL ? name(arg, i) : "", l != NULL ? ")" : "");
        else
            fprintf(f->out, "  %2d) %-16s%s", i + 1, name(arg, i), (i % 4 == 3 || i == n - 1) ? "\n" : "");
    }
    for (;;) {
        if (def >= 0)
            fprintf(f->out, "choose 1-%d [%d, %s]: ", n, def + 1, name(arg, def));
        else if (optional)
            fprintf(f->out, "choose 1-%d [Enter: skip]: ", n);
        else
            fprintf(f->out, "choose 1-%d: ", n);
        if (!read_line(f))
            return -2;
        const char *s = f->line.s;
        if (*s == '\0') {
            if (def >= 0)
                return def;
            if (optional)
                return -1;
            continue;
        }
        char *end;
        long v = strtol(s, &end, 10);
        if (*end == '\0' && v >= 1 && v <= n)
            return (int)v - 1;
        for (int i = 0; i < n; i++) {
            if (strcmp(s, name(arg, i)) == 0)
                return i;
        }
        fprintf(f->out, "  please type a number from 1 to %d\n", n);
    }
}

static const char *vocab_name(void *arg, int i)
{
    const char *(*name)(int) = *(const char *(**)(int))arg;
    return name(i);
}

static int vocab_count(const char *(*name)(int))
{
    int n = 0;
    while (name(n) != NULL)
        n++;
    return n;
}

/* A pick from a lib/contact vocabulary; -2 at end of input. */
static int pick_vocab(form_t *f, const char *title, const char *(*name)(int), int def, bool optional)
{
    return pick(f, title, vocab_count(name), vocab_name, (void *)&name, NULL, def, optional, false);
}

static const char *json_code(void *arg, int i)
{
    return json_string_value(json_object_get(json_array_get(arg, (size_t)i), "code"));
}

static const char *json_label(void *arg, int i)
{
    return json_string_value(json_object_get(json_array_get(arg, (size_t)i), "label"));
}

/* The taxonomy's categories for counselling contacts (all but non_counselling). */
static json_t *counselling_categories(json_t *tax)
{
    json_t *all = json_object_get(tax, "categories"), *out = json_array(), *c;
    size_t i;

    if (out == NULL)
        return NULL;
    json_array_foreach(all, i, c)
    {
        const char *code = json_string_value(json_object_get(c, "code"));
        if (code != NULL && strcmp(code, "non_counselling") != 0)
            json_array_append(out, c);
    }
    return out;
}

/* Category, then subcategory, repeated while the user wants more. -2 at end of input. */
static int ask_categories(form_t *f)
{
    json_t *cats = counselling_categories(f->tax);
    int rc = HL_ENOMEM;

    if (cats == NULL)
        return rc;
    f->ncats = 0;
    while (f->ncats < MAX_CATS) {
        int c = pick(f, f->ncats == 0 ? "Category (reason for contact):" : "Another category:",
                     (int)json_array_size(cats), json_code, cats, json_label, -1, true, true);
        if (c == -2) {
            rc = -2;
            goto out;
        }
        if (c == -1)
            break;
        json_t *top = json_array_get(cats, (size_t)c);
        json_t *children = json_object_get(top, "children");
        const char *code = json_string_value(json_object_get(top, "code"));
        if (json_array_size(children) > 0) {
            char title[300];
            snprintf(title, sizeof(title), "Subcategory of %s (Enter: the whole category):",
                     json_string_value(json_object_get(top, "label")));
            int s = pick(f, title, (int)json_array_size(children), json_code, children, json_label, -1, true,
                         true);
            if (s == -2) {
                rc = -2;
                goto out;
            }
            if (s >= 0)
                code = json_code(children, s);
        }
        if (code == NULL || strlen(code) >= HL_CONTACT_CODE_MAX)
            continue;
        bool dup = false;
        for (size_t i = 0; i < f->ncats; i++)
            dup |= strcmp(f->cats[i], code) == 0;
        if (!dup)
            memcpy(f->cats[f->ncats++], code, strlen(code) + 1);
        fprintf(f->out, "  added %s\n", code);
        if (f->ncats == MAX_CATS)
            break;
        fputs("another category? [y/N]: ", f->out);
        if (!read_line(f)) {
            rc = -2;
            goto out;
        }
        if (f->line.s[0] != 'y' && f->line.s[0] != 'Y')
            break;
    }
    rc = 0;
out:
    json_decref(cats);
    return rc;
}

static int ask_age(form_t *f)
{
    for (;;) {
        fputs("\nChild's age (0-25) [Enter: unknown]: ", f->out);
        if (!read_line(f))
            return -2;
        if (f->line.s[0] == '\0' || strcmp(f->line.s, "unknown") == 0) {
            f->age = -1;
            return 0;
        }
        char *end;
        long v = strtol(f->line.s, &end, 10);
        if (*end == '\0' && v >= 0 && v <= HL_CONTACT_AGE_MAX) {
            f->age = (int)v;
            return 0;
        }
        fputs("  please type a number from 0 to 25, or press Enter\n", f->out);
    }
}

static int ask_phone(form_t *f)
{
    fputs("\nCaller's phone number, for the repeat-caller count (stored encrypted) [Enter: skip]: ", f->out);
    if (!read_line(f))
        return -2;
    text_free(&f->phone);
    if (f->line.len > 0 && !text_add(&f->phone, f->line.s, f->line.len))
        return HL_ENOMEM;
    return 0;
}

static int ask_summary(form_t *f)
{
    fputs("\nSummary (free text, several lines allowed; an empty line ends it):\n", f->out);
    text_free(&f->summary);
    for (;;) {
        fputs("> ", f->out);
        if (!read_line(f))
            return f->summary.len > 0 ? 0 : -2;
        if (f->line.len == 0)
            return 0;
        if ((f->summary.len > 0 && !text_add(&f->summary, "\n", 1)) ||
            !text_add(&f->summary, f->line.s, f->line.len))
            return HL_ENOMEM;
    }
}

static bool counselling(const form_t *f)
{
    return f->type >= 0 && hl_contact_type_is_counselling((hl_contact_type_t)f->type);
}

enum {
    F_CHANNEL = 1,
    F_TYPE,
    F_AGE,
    F_GENDER,
    F_REGION,
    F_RELATIONSHIP,
    F_CATEGORIES,
    F_URGENCY,
    F_PHONE,
    F_SUMMARY,
    F_N
};

/* Asks field FIELD; -2 at end of input, HL_ENOMEM, else 0. */
static int ask(form_t *f, int field)
{
    int v;

    switch (field) {
    case F_CHANNEL:
        v = pick_vocab(f, "Channel:", hl_cli_channel_name, f->channel >= 0 ? f->channel : 0, false);
        if (v >= 0)
            f->channel = v;
        return v == -2 ? -2 : 0;
    case F_TYPE:
        v = pick_vocab(f, "Contact type (1-3 are counselling contacts):", hl_cli_type_name,
                       f->type >= 0 ? f->type : 0, false);
        if (v >= 0)
            f->type = v;
        return v == -2 ? -2 : 0;
    case F_AGE:
        return ask_age(f);
    case F_GENDER:
        v = pick_vocab(f, "Child's gender:", hl_cli_gender_name, f->gender, true);
        if (v != -2)
            f->gender = v;
        return v == -2 ? -2 : 0;
    case F_REGION:
        v = pick_vocab(f, "Child's region:", hl_cli_region_name, f->region, true);
        if (v != -2)
            f->region = v;
        return v == -2 ? -2 : 0;
    case F_RELATIONSHIP:
        v = pick_vocab(f, "Caller's relationship to the child:", hl_cli_relationship_name, f->relationship,
                       true);
        if (v != -2)
            f->relationship = v;
        return v == -2 ? -2 : 0;
    case F_CATEGORIES:
        return ask_categories(f);
    case F_URGENCY:
        v = pick_vocab(f, "Urgency:", hl_cli_urgency_name, f->urgency, true);
        if (v != -2)
            f->urgency = v;
        return v == -2 ? -2 : 0;
    case F_PHONE:
        return ask_phone(f);
    case F_SUMMARY:
        return ask_summary(f);
    default:
        return 0;
    }
}

static const char *or_dash(const char *(*name)(int), int v)
{
    return v >= 0 ? name(v) : "-";
}

static void review(form_t *f)
{
    fputs("\n---- review ------------------------------------------------\n", f->out);
    fprintf(f->out, "  1  channel        %s\n", or_dash(hl_cli_channel_name, f->channel));
    fprintf(f->out, "  2  contact type   %s\n", or_dash(hl_cli_type_name, f->type));
    if (!counselling(f)) {
        fputs("     (not a counselling contact: no child, categories or summary)\n", f->out);
        return;
    }
    if (f->age >= 0)
        fprintf(f->out, "  3  age            %d\n", f->age);
    else
        fputs("  3  age            unknown\n", f->out);
    fprintf(f->out, "  4  gender         %s\n", or_dash(hl_cli_gender_name, f->gender));
    fprintf(f->out, "  5  region         %s\n", or_dash(hl_cli_region_name, f->region));
    fprintf(f->out, "  6  relationship   %s\n", or_dash(hl_cli_relationship_name, f->relationship));
    fputs("  7  categories     ", f->out);
    for (size_t i = 0; i < f->ncats; i++)
        fprintf(f->out, "%s%s", i > 0 ? ", " : "", f->cats[i]);
    fputs(f->ncats == 0 ? "-\n" : "\n", f->out);
    fprintf(f->out, "  8  urgency        %s\n", or_dash(hl_cli_urgency_name, f->urgency));
    fprintf(f->out, "  9  caller phone   %s\n", f->phone.len > 0 ? f->phone.s : "-");
    if (f->summary.len > 0) {
        fputs(" 10  summary\n", f->out);
        fputs("       ", f->out);
        for (size_t i = 0; i < f->summary.len; i++) {
            fputc(f->summary.s[i], f->out);
            if (f->summary.s[i] == '\n')
                fputs("       ", f->out);
        }
        fputc('\n', f->out);
    } else {
        fputs(" 10  summary        -\n", f->out);
    }
}

static int build(form_t *f, int64_t now_us, json_t **out)
{
    json_t *b = json_object(), *child = NULL, *caller = NULL;
    char err[128];
    int rc = HL_ENOMEM;

    if (b == NULL)
        return rc;
    if (json_object_set_new(b, "channel", json_string(hl_cli_channel_name(f->channel))) != 0 ||
        json_object_set_new(b, "contact_type", json_string(hl_cli_type_name(f->type))) != 0)
        goto out;
    if (counselling(f)) {
        child = json_object();
        caller = json_object();
        if (child == NULL || caller == NULL)
            goto out;
        if (f->age >= 0 && json_object_set_new(child, "age", json_integer(f->age)) != 0)
            goto out;
        if (f->gender >= 0 &&
            json_object_set_new(child, "gender", json_string(hl_cli_gender_name(f->gender))) != 0)
            goto out;
        if (f->region >= 0 &&
            json_object_set_new(child, "region", json_string(hl_cli_region_name(f->region))) != 0)
            goto out;
        if (f->relationship >= 0 &&
            json_object_set_new(caller, "relationship",
                                json_string(hl_cli_relationship_name(f->relationship))) != 0)
            goto out;
        if (f->phone.len > 0 &&
            json_object_set_new(caller, "phone", json_stringn(f->phone.s, f->phone.len)) != 0)
            goto out;
        if (json_object_size(child) > 0) {
            if (json_object_set_new(b, "child", child) != 0) {
                child = NULL;
                goto out;
            }
            child = NULL;
        }
        if (json_object_size(caller) > 0) {
            if (json_object_set_new(b, "caller", caller) != 0) {
                caller = NULL;
                goto out;
            }
            caller = NULL;
        }
        if (f->ncats > 0) {
            json_t *a = json_array();
            if (a == NULL || json_object_set_new(b, "categories", a) != 0)
                goto out;
            for (size_t i = 0; i < f->ncats; i++)
                json_array_append_new(a, json_string(f->cats[i]));
        }
        if (f->urgency >= 0 &&
            json_object_set_new(b, "urgency", json_string(hl_cli_urgency_name(f->urgency))) != 0)
            goto out;
        if (f->summary.len > 0 &&
            json_object_set_new(b, "summary", json_stringn(f->summary.s, f->summary.len)) != 0)
            goto out;
    }
    rc = hl_cli_record_complete(b, now_us, err, sizeof(err));
    if (rc != HL_OK)
        goto out;
    *out = b;
    b = NULL;
out:
    hl_contact_json_free(child);
    hl_contact_json_free(caller);
    hl_contact_json_free(b);
    return rc;
}

int hl_cli_form_run(FILE *in, FILE *out, json_t *taxonomy, int64_t now_us, json_t **body)
{
    form_t f = {.in = in,
                .out = out,
                .tax = taxonomy,
                .channel = -1,
                .type = -1,
                .gender = -1,
                .region = -1,
                .relationship = -1,
                .urgency = -1,
                .age = -1};
    int rc = HL_OK;

    fputs("Log a contact. Press Enter to take the value in [brackets]; Ctrl-D quits without saving.\n", out);
    for (int field = F_CHANNEL; field < F_N && rc == HL_OK; field++) {
        if (field > F_TYPE && !counselling(&f))
            break;
        rc = ask(&f, field);
    }
    while (rc == HL_OK) {
        review(&f);
        fprintf(out, "\n[s]ubmit, a field number to change it, or [q]uit without saving [s]: ");
        if (!read_line(&f)) {
            rc = -2;
            break;
        }
        const char *s = f.line.s;
        if (*s == '\0' || strcmp(s, "s") == 0 || strcmp(s, "submit") == 0)
            break;
        if (strcmp(s, "q") == 0 || strcmp(s, "quit") == 0) {
            rc = -2;
            break;
        }
        char *end;
        long v = strtol(s, &end, 10);
        if (*end != '\0' || v < 1 || v >= F_N || (v > F_TYPE && !counselling(&f))) {
            fputs("  please type s, q or a field number\n", out);
            continue;
        }
        rc = ask(&f, (int)v);
    }
    if (rc == -2) {
        fputs("\nnot saved: nothing was sent\n", out);
        rc = HL_ECONFLICT;
    } else if (rc == HL_OK) {
        rc = build(&f, now_us, body);
    }
    text_free(&f.phone);
    text_free(&f.summary);
    text_free(&f.line);
    return rc;
}

int hl_cli_form_offer_case(FILE *in, FILE *out, json_t *cases, int64_t now_us, int *choice)
{
    form_t f = {.in = in, .out = out};
    json_t *offered = NULL, *c;
    char label[1024];
    size_t i;
    int rc = HL_ENOMEM;

    *choice = -1;
    if (json_array_size(cases) == 0)
        return HL_OK;
    if ((offered = json_array()) == NULL)
        return rc;
    /* pick() shows "code" after each "label": the case id tells two alike labels apart. */
    json_array_foreach(cases, i, c)
    {
        hl_cli_case_pick_label(c, now_us, label, sizeof(label));
        const char *id = json_string_value(json_object_get(c, "id"));
        json_t *o = json_pack("{s:s, s:s}", "code", id != NULL ? id : "?", "label", label);
        sodium_memzero(label, sizeof(label));
        if (o == NULL || json_array_append_new(offered, o) != 0)
            goto out;
    }
    int v = pick(&f, "Link this contact to one of your open cases?", (int)json_array_size(offered), json_code,
                 offered, json_label, -1, true, true);
    *choice = v >= 0 ? v : -1;
    rc = HL_OK;
out:
    hl_contact_json_free(offered);
    text_free(&f.line);
    return rc;
}
