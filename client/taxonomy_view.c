/* The taxonomy for people (taxonomy_view.h). */
#include "taxonomy_view.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "";
}

void hl_cli_taxonomy_print_categories(FILE *out, json_t *tax)
{
    json_t *c, *s;
    size_t i, j;

    fprintf(out, "taxonomy %s: categories (use the code with --category)\n", str(tax, "version"));
    json_array_foreach(json_object_get(tax, "categories"), i, c)
    {
        fprintf(out, "%-48s %s\n", str(c, "code"), str(c, "label"));
        json_t *children = json_object_get(c, "children");
        for (j = 0; j < json_array_size(children); j++) {
            s = json_array_get(children, j);
            fprintf(out, "  %-46s %s\n", str(s, "code"), str(s, "label"));
        }
    }
}

static void print_term(FILE *out, json_t *t)
{
    const char *verdict = str(t, "verdict"), *preferred = json_string_value(json_object_get(t, "preferred"));
    json_t *aliases = json_object_get(t, "aliases"), *list, *a;
    const char *lang;
    size_t i, shown = 0;

    fprintf(out, "  %-40s %s", str(t, "label"), verdict);
    if (preferred != NULL && strcmp(verdict, "use") != 0)
        fprintf(out, ": use '%s' instead", preferred);
    fputc('\n', out);
    json_object_foreach(aliases, lang, list)
    {
        json_array_foreach(list, i, a)
        {
            if (shown == 0)
                fputs("      also:", out);
            fprintf(out, "%s %s (%s)", shown > 0 ? "," : "", json_string_value(a), lang);
            shown++;
        }
    }
    if (shown > 0)
        fputc('\n', out);
    if (json_string_value(json_object_get(t, "category")) != NULL)
        fprintf(out, "      category: %s\n", str(t, "category"));
    if (*str(t, "note") != '\0')
        fprintf(out, "      note: %s\n", str(t, "note"));
}

void hl_cli_taxonomy_print_terms(FILE *out, json_t *tax)
{
    json_t *t;
    size_t i;

    fprintf(out, "taxonomy %s: terms (Luxembourg Guidelines)\n", str(tax, "version"));
    json_t *terms = json_object_get(tax, "terms");
    for (i = 0; i < json_array_size(terms); i++) {
        t = json_array_get(terms, i);
        print_term(out, t);
    }
}

static bool has(const char *hay, const char *word)
{
    return hay != NULL && strcasestr(hay, word) != NULL;
}

/* Does WORD appear in any of the searchable strings of a category or term? */
static bool word_matches(json_t *o, const char *word)
{
    static const char *const keys[] = {"code", "id", "label", "description", "note", "preferred"};
    json_t *list, *a;
    const char *lang;
    size_t i;

    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        if (has(json_string_value(json_object_get(o, keys[k])), word))
            return true;
    }
    json_object_foreach(json_object_get(o, "aliases"), lang, list)
    {
        json_array_foreach(list, i, a)
        {
            if (has(json_string_value(a), word))
                return true;
        }
    }
    return false;
}

static bool matches(json_t *o, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!word_matches(o, words[i]))
            return false;
    }
    return true;
}

size_t hl_cli_taxonomy_search(FILE *out, json_t *tax, const char *const *words, size_t n)
{
    json_t *c, *s, *t;
    size_t i, j, found = 0, cats = 0;

    json_array_foreach(json_object_get(tax, "categories"), i, c)
    {
        if (matches(c, words, n)) {
            if (cats++ == 0)
                fputs("categories:\n", out);
            fprintf(out, "  %-46s %s\n", str(c, "code"), str(c, "label"));
        }
        json_array_foreach(json_object_get(c, "children"), j, s)
        {
            if (matches(s, words, n)) {
                if (cats++ == 0)
                    fputs("categories:\n", out);
                fprintf(out, "  %-46s %s\n", str(s, "code"), str(s, "label"));
            }
        }
    }
    found += cats;
    size_t terms = 0;
    json_array_foreach(json_object_get(tax, "terms"), i, t)
    {
        if (matches(t, words, n)) {
            if (terms++ == 0)
                fputs("terms:\n", out);
            print_term(out, t);
        }
    }
    return found + terms;
}
