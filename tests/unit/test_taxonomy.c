/* Tests for taxonomy/taxonomy.c: the shipped data, the classifier, the loader's errors. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "taxonomy.h"

#define TAX_DIR    HL_TEST_SRCDIR "/taxonomy"
#define BROKEN_DIR HL_TEST_SRCDIR "/tests/data/taxonomy"

static hl_taxonomy_t *tax;

static void load_shipped(void)
{
    char err[HL_TAXONOMY_ERR_LEN];
    int rc = hl_taxonomy_load(TAX_DIR, &tax, err);
    cr_assert_eq(rc, HL_OK, "loading %s: %s", TAX_DIR, err);
}

static void unload(void)
{
    hl_taxonomy_free(tax);
    tax = NULL;
}

static hl_taxonomy_result_t *classify(const char *text, size_t len)
{
    hl_taxonomy_result_t *res = NULL;
    char err[HL_TAXONOMY_ERR_LEN];
    int rc = hl_taxonomy_classify(tax, text, len, &res, err);
    cr_assert_eq(rc, HL_OK, "classify: %s", err);
    return res;
}

/* "id@start-end id@start-end ..." for a compact comparison. */
static char *describe(const hl_taxonomy_result_t *res)
{
    size_t cap = 64 + res->n_matches * 96, n = 0;
    char *s = malloc(cap);
    cr_assert_not_null(s);
    s[0] = '\0';
    for (size_t i = 0; i < res->n_matches; i++)
        n += (size_t)snprintf(s + n, cap - n, "%s%s@%zu-%zu", i ? " " : "", res->matches[i].term->id,
                              res->matches[i].start, res->matches[i].end);
    return s;
}

/* ---------------------------------------------------------------------------------- */

TestSuite(taxonomy_data, .init = load_shipped, .fini = unload);

Test(taxonomy_data, version_and_counts)
{
    size_t top = 0;
    cr_assert_str_eq(hl_taxonomy_version(tax), "2026.1");
    for (size_t i = 0; i < hl_taxonomy_category_count(tax); i++)
        top += hl_taxonomy_category_at(tax, i)->parent == NULL;
    cr_assert_eq(top, 11, "10 CHI categories plus non_counselling, got %zu", top);
    cr_assert_geq(hl_taxonomy_term_count(tax), 47);
    cr_assert_null(hl_taxonomy_category_at(tax, hl_taxonomy_category_count(tax)));
    cr_assert_null(hl_taxonomy_term_at(tax, hl_taxonomy_term_count(tax)));
}

Test(taxonomy_data, lookup_by_code)
{
    const hl_taxonomy_category_t *c = hl_taxonomy_category(tax, "violence.sexual_violence");
    cr_assert_not_null(c);
    cr_assert_str_eq(c->label, "Sexual violence");
    cr_assert_not_null(c->parent);
    cr_assert_str_eq(c->parent->code, "violence");
    cr_assert_eq(c->n_children, 0);

    c = hl_taxonomy_category(tax, "violence");
    cr_assert_not_null(c);
    cr_assert_null(c->parent);
    cr_assert_geq(c->n_children, 12);
    for (size_t i = 0; i < c->n_children; i++)
        cr_assert_eq(c->children[i]->parent, c);

    cr_assert_not_null(hl_taxonomy_category(tax, "violence.online_sexual_abuse_exploitation"));
    cr_assert_null(hl_taxonomy_category(tax, "Violence"));
    cr_assert_null(hl_taxonomy_category(tax, "violence."));
    cr_assert_null(hl_taxonomy_category(tax, ""));
    cr_assert_null(hl_taxonomy_category(tax, NULL));
}

Test(taxonomy_data, non_counselling_codes_match_contact_types)
{
    static const char *const types[] = {"silent", "hang_up",      "missed",    "abusive",
                                        "prank",  "wrong_number", "thank_you", "other"};
    char code[64];
    for (size_t i = 0; i < HL_ARRAY_LEN(types); i++) {
        snprintf(code, sizeof(code), "non_counselling.%s", types[i]);
        cr_expect_not_null(hl_taxonomy_category(tax, code), "%s missing", code);
    }
}

Test(taxonomy_data, every_term_well_formed)
{
    for (size_t i = 0; i < hl_taxonomy_term_count(tax); i++) {
        const hl_taxonomy_term_t *t = hl_taxonomy_term_at(tax, i);
        cr_assert_eq(hl_taxonomy_term(tax, t->id), t);
        cr_expect(t->source != NULL && t->evidence != NULL, "%s has no source", t->id);
        if (t->verdict == HL_TAXONOMY_AVOID)
            cr_expect_not_null(t->preferred, "%s: avoid without preferred", t->id);
        if (t->preferred_term != NULL)
            cr_expect_eq(t->preferred_term->verdict, HL_TAXONOMY_USE, "%s", t->id);
    }
    cr_assert_null(hl_taxonomy_term(tax, "no_such_term"));
    cr_assert_str_eq(hl_taxonomy_verdict_name(HL_TAXONOMY_AVOID), "avoid");
}

/* Acceptance 1: every avoid-term is found and mapped to its preferred term. */
Test(taxonomy_data, every_avoid_alias_found_with_preferred)
{
    size_t checked = 0;
    for (size_t i = 0; i < hl_taxonomy_term_count(tax); i++) {
        const hl_taxonomy_term_t *t = hl_taxonomy_term_at(tax, i);
        if (t->verdict != HL_TAXONOMY_AVOID)
            continue;
        cr_assert(t->detect, "%s", t->id);
        for (size_t a = 0; a < t->n_aliases; a++) {
            char text[512];
            int n = snprintf(text, sizeof(text), "The note said \"%s\", twice.", t->aliases[a].text);
            hl_taxonomy_result_t *res = classify(text, (size_t)n);
            cr_assert_eq(res->n_matches, 1, "%s: alias \"%s\" matched %zu times", t->id, t->aliases[a].text,
                         res->n_matches);
            cr_assert_eq(res->matches[0].term, t, "alias \"%s\" gave %s, not %s", t->aliases[a].text,
                         res->matches[0].term->id, t->id);
            cr_assert_eq(res->matches[0].start, 15);
            cr_assert_eq(res->matches[0].end, 15 + strlen(t->aliases[a].text));
            cr_assert_not_null(t->preferred);
            if (t->preferred_term != NULL)
                cr_assert_eq(hl_taxonomy_term(tax, t->preferred_term->id)->verdict, HL_TAXONOMY_USE);
            hl_taxonomy_result_free(res);
            checked++;
        }
    }
    cr_assert_geq(checked, 50, "only %zu avoid aliases", checked);
}

/* Every alias of every searched term finds its own term when it stands alone. */
Test(taxonomy_data, every_alias_finds_its_term)
{
    for (size_t i = 0; i < hl_taxonomy_term_count(tax); i++) {
        const hl_taxonomy_term_t *t = hl_taxonomy_term_at(tax, i);
        for (size_t a = 0; a < t->n_aliases; a++) {
            const char *al = t->aliases[a].text;
            hl_taxonomy_result_t *res = classify(al, strlen(al));
            if (!t->detect) {
                cr_expect_eq(res->n_matches, 0, "%s is not searched for", t->id);
            } else {
                cr_expect_eq(res->n_matches, 1, "\"%s\" (%s): %zu matches", al, t->id, res->n_matches);
                if (res->n_matches == 1) {
                    cr_expect_eq(res->matches[0].term, t, "\"%s\" gave %s", al, res->matches[0].term->id);
                    cr_expect_eq(res->matches[0].start, 0);
                    cr_expect_eq(res->matches[0].end, strlen(al));
                }
            }
            hl_taxonomy_result_free(res);
        }
    }
}

/* Every shipped mapping label resolves, also in another case and spacing. */
Test(taxonomy_data, every_mapping_label_resolves)
{
    static const char *const required[] = {"demo", "zm", "za", "ph"};
    size_t total = 0;
    for (size_t i = 0; i < HL_ARRAY_LEN(required); i++)
        cr_assert(hl_taxonomy_has_helpline(tax, required[i]), "no mapping for %s", required[i]);
    for (size_t h = 0; h < hl_taxonomy_helpline_count(tax); h++) {
        const char *code = hl_taxonomy_helpline_at(tax, h);
        for (size_t i = 0; i < hl_taxonomy_mapping_count(tax, code); i++) {
            const hl_taxonomy_mapping_t *m = hl_taxonomy_mapping_at(tax, code, i);
            char upper[256];
            size_t k = 0;
            cr_assert_not_null(m->category);
            cr_assert_eq(hl_taxonomy_category(tax, m->category->code), m->category);
            cr_assert_eq(hl_taxonomy_map_local(tax, code, m->label), m, "%s: \"%s\"", code, m->label);
            upper[k++] = ' ';
            for (const char *c = m->label; *c && k < sizeof(upper) - 3; c++) {
                upper[k++] = (*c >= 'a' && *c <= 'z') ? (char)(*c - 32) : *c;
                if (*c == ' ')
                    upper[k++] = ' ';
            }
            upper[k++] = '\t';
            upper[k] = '\0';
            cr_assert_eq(hl_taxonomy_map_local(tax, code, upper), m, "%s: \"%s\"", code, upper);
            total++;
        }
    }
    cr_assert_geq(total, 90);
    cr_assert_null(hl_taxonomy_mapping_at(tax, "zm", 10000));
    cr_assert_null(hl_taxonomy_mapping_at(tax, "nowhere", 0));
    cr_assert_eq(hl_taxonomy_mapping_count(tax, "nowhere"), 0);
}

Test(taxonomy_data, map_local_examples)
{
    const hl_taxonomy_mapping_t *m = hl_taxonomy_map_local(tax, "zm", "  sextortion ");
    cr_assert_not_null(m);
    cr_assert_str_eq(m->category->code, "violence.online_sexual_abuse_exploitation");
    cr_assert_str_eq(m->term->id, "sextortion");
    m = hl_taxonomy_map_local(tax, "za", "Child prostitution/Commercial sexual exploitation");
    cr_assert_not_null(m);
    cr_assert_str_eq(m->term->id, "child_prostitution");
    cr_assert_str_eq(m->category->code, "violence.commercial_sexual_exploitation");
    m = hl_taxonomy_map_local(tax, "zm", "Revenge Porn");
    cr_assert_not_null(m);
    cr_assert_eq(m->term->verdict, HL_TAXONOMY_AVOID);
    cr_assert_not_null(hl_taxonomy_map_local(tax, "zm", "Online Grooming"));
    cr_assert_not_null(hl_taxonomy_map_local(tax, "demo", "SILENT CALL"));
    cr_assert_null(hl_taxonomy_map_local(tax, "zm", "Sextortion!"));
    cr_assert_null(hl_taxonomy_map_local(tax, "nowhere", "Sextortion"));
    cr_assert_null(hl_taxonomy_map_local(tax, "zm", "\xff"));
}

/* ---------------------------------------------------------------------------------- */

TestSuite(taxonomy_classify, .init = load_shipped, .fini = unload);

typedef struct classify_case {
    const char *name;
    const char *text;
    const char *expect; /* describe() of the result */
} classify_case_t;

static const classify_case_t cases[] = {
    {"word", "grooming", "grooming@0-8"},
    {"word in sentence", "he was grooming her", "grooming@7-15"},
    {"suffix is no match", "groomingly", ""},
    {"prefix is no match", "pregrooming", ""},
    {"digit glued is no match", "grooming2", ""},
    {"non-Latin letter glued is no match", "grooming\xd0\xb6", ""},
    {"punctuation around", "(grooming).", "grooming@1-9"},
    {"phrase", "child pornography", "child_pornography@0-17"},
    {"phrase with newline and tabs", "child\n\t pornography", "child_pornography@0-19"},
    {"phrase with hyphen", "child-pornography", "child_pornography@0-17"},
    {"phrase broken by a full stop", "a child. Pornography is not", ""},
    {"phrase broken by a comma", "child, pornography", ""},
    {"upper case", "CHILD PORNOGRAPHY", "child_pornography@0-17"},
    {"accents", "PÉDOPHILE", "paedophile@0-10"},
    {"accents in lower case", "un pédophile", "paedophile@3-13"},
    {"decomposed accent", "pe\xcc\x81\x64ophile", "paedophile@0-11"},
    {"spelling variant", "a pedophile and a paedophile", "paedophile@2-11 paedophile@18-28"},
    {"Spanish", "pornografía infantil", "child_pornography@0-21"},
    {"French elision",
     "la traite d\xe2\x80\x99"
     "enfants",
     "child_trafficking@3-21"},
    {"longest wins", "child sexual abuse material", "csam@0-27"},
    {"longest wins over a shorter prefix", "sexual exploitation of children in travel and tourism",
     "sectt@0-53"},
    {"overlap: leftmost first", "online sexual abuse material", "online_child_sexual_abuse@0-19"},
    {"comma inside an alias", "Child, early and forced marriage", "cefm@0-32"},
    {"inner phrase found alone", "a forced marriage", "forced_marriage@2-17"},
    {"adjacent matches", "sextortion sextortion", "sextortion@0-10 sextortion@11-21"},
    {"acronym", "CSAM", "csam@0-4"},
    {"ligature", "\xef\xac\x81nd child porn", "child_pornography@6-16"},
    {"no-break space", "child\xc2\xa0porn", "child_pornography@0-11"},
    {"soft hyphen ignored", "sex\xc2\xadtortion", "sextortion@0-12"},
    {"zero-width joiner ignored", "sext\xe2\x80\x8dortion", "sextortion@0-13"},
    {"full-width letters", "\xef\xbd\x83\xef\xbd\x93\xef\xbd\x81\xef\xbd\x8d", "csam@0-12"},
    {"emoji around", "\xf0\x9f\x98\xa2sextortion\xf0\x9f\x98\xa2", "sextortion@4-14"},
    {"child alone is not searched", "the child called", ""},
    {"ASCII punctuation only", "!!! ??? ...", ""},
};

Test(taxonomy_classify, table)
{
    for (size_t i = 0; i < HL_ARRAY_LEN(cases); i++) {
        const classify_case_t *c = &cases[i];
        const char *expect = c->expect;
        hl_taxonomy_result_t *res = classify(c->text, strlen(c->text));
        char *got = describe(res);
        cr_expect_str_eq(got, expect, "%s: \"%s\" gave \"%s\", want \"%s\"", c->name, c->text, got, expect);
        for (size_t m = 0; m < res->n_matches; m++)
            cr_assert(res->matches[m].start < res->matches[m].end && res->matches[m].end <= strlen(c->text));
        free(got);
        hl_taxonomy_result_free(res);
    }
}

Test(taxonomy_classify, suggested_categories_unique_in_order)
{
    const char *t = "sextortion, then child pornography, then sexual abuse and sextortion again";
    hl_taxonomy_result_t *res = classify(t, strlen(t));
    cr_assert_eq(res->n_matches, 4);
    cr_assert_eq(res->n_categories, 2);
    cr_assert_str_eq(res->categories[0]->code, "violence.online_sexual_abuse_exploitation");
    cr_assert_str_eq(res->categories[1]->code, "violence.sexual_violence");
    hl_taxonomy_result_free(res);
}

Test(taxonomy_classify, empty_and_null_text)
{
    hl_taxonomy_result_t *res = classify("", 0);
    cr_assert_eq(res->n_matches, 0);
    cr_assert_eq(res->n_categories, 0);
    hl_taxonomy_result_free(res);
    res = classify(NULL, 0);
    cr_assert_eq(res->n_matches, 0);
    hl_taxonomy_result_free(res);
    hl_taxonomy_result_free(NULL);
}

Test(taxonomy_classify, nul_bytes)
{
    static const char t[] = "sextortion\0child porn\0\0grooming\0";
    hl_taxonomy_result_t *res = classify(t, sizeof(t) - 1);
    char *got = describe(res);
    cr_assert_str_eq(got, "sextortion@0-10 child_pornography@11-21 grooming@23-31");
    free(got);
    hl_taxonomy_result_free(res);
    /* a NUL breaks a phrase like any punctuation */
    static const char t2[] = "child\0pornography";
    res = classify(t2, sizeof(t2) - 1);
    cr_assert_eq(res->n_matches, 0);
    hl_taxonomy_result_free(res);
}

Test(taxonomy_classify, invalid_utf8)
{
    static const struct {
        const char *text;
        size_t len;
        size_t at;
    } bad[] = {
        {"abc\xff", 4, 3},           /* never valid */
        {"\xc0\x80", 2, 0},          /* overlong NUL */
        {"x \xe0\x80\xaf", 5, 2},    /* overlong '/' */
        {"\xed\xa0\x80", 3, 0},      /* surrogate */
        {"sextortion \xc3", 12, 11}, /* truncated at the end */
        {"\xf4\x90\x80\x80", 4, 0},  /* above U+10FFFF */
        {"ok \x80 ok", 7, 3},        /* lone continuation byte */
        {"caf\xc3\x28", 5, 3},       /* bad continuation */
        {"\xf0\x9f\x98", 3, 0},      /* truncated 4-byte */
    };
    for (size_t i = 0; i < HL_ARRAY_LEN(bad); i++) {
        hl_taxonomy_result_t *res = NULL;
        char err[HL_TAXONOMY_ERR_LEN], want[64];
        int rc = hl_taxonomy_classify(tax, bad[i].text, bad[i].len, &res, err);
        cr_assert_eq(rc, HL_EINVAL, "case %zu", i);
        cr_assert_null(res);
        snprintf(want, sizeof(want), "invalid UTF-8 at byte %zu", bad[i].at);
        cr_assert_str_eq(err, want, "case %zu: %s", i, err);
    }
}

/* Acceptance 1: a 1 MiB text, with terms spread through it. */
Test(taxonomy_classify, one_mib_text)
{
    static const char chunk[] = "The caller (14) says an older man asked for photos; that is sextortion. ";
    size_t clen = sizeof(chunk) - 1, len = 1024 * 1024, n = 0, count = 0;
    char *text = malloc(len);
    cr_assert_not_null(text);
    while (n + clen <= len) {
        memcpy(text + n, chunk, clen);
        n += clen;
        count++;
    }
    memset(text + n, ' ', len - n);
    hl_taxonomy_result_t *res = classify(text, len);
    cr_assert_eq(res->n_matches, count, "%zu matches, want %zu", res->n_matches, count);
    for (size_t i = 0; i < res->n_matches; i++) {
        cr_assert_str_eq(res->matches[i].term->id, "sextortion");
        cr_assert_eq(memcmp(text + res->matches[i].start, "sextortion", 10), 0);
    }
    hl_taxonomy_result_free(res);
    free(text);
}

/*
 * Differential test: the automaton against a naive search over the folded text
 * (hl_taxonomy_fold), on random texts built from aliases, fillers and separators.
 */
typedef struct naive_pat {
    char *folded; /* " alias " */
    size_t len;
    const hl_taxonomy_term_t *term;
} naive_pat_t;

Test(taxonomy_classify, matches_naive_search)
{
    static const char *const fillers[] = {
        "the", "child", "said",     "groomingly",       "sex",  "porn",   "PÉDO", "online", "abuse",
        "of",  "and",   "material", "\xd0\xb4\xd0\xb0", "2026", "tourism"};
    static const char *const seps[] = {" ",  " ", " ", "  ",       "-", ", ", ". ",
                                       "\n", "/", "'", "\xc2\xa0", "(", ""};
    naive_pat_t *pats = NULL;
    size_t n_pats = 0, cap = 0;
    uint64_t rng = 42;

    for (size_t i = 0; i < hl_taxonomy_term_count(tax); i++) {
        const hl_taxonomy_term_t *t = hl_taxonomy_term_at(tax, i);
        if (!t->detect)
            continue;
        for (size_t a = 0; a < t->n_aliases; a++) {
            if (n_pats == cap) {
                cap = cap ? cap * 2 : 256;
                pats = realloc(pats, cap * sizeof(*pats));
                cr_assert_not_null(pats);
            }
            cr_assert_eq(
                hl_taxonomy_fold(t->aliases[a].text, strlen(t->aliases[a].text), &pats[n_pats].folded),
                HL_OK);
            pats[n_pats].len = strlen(pats[n_pats].folded);
            pats[n_pats].term = t;
            n_pats++;
        }
    }
    for (int round = 0; round < 400; round++) {
        char text[4096];
        size_t n = 0;
        int words = 1 + (int)(rng % 40);
        for (int w = 0; w < words; w++) {
            const char *piece, *sep;
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            if ((rng >> 33) % 3 == 0) {
                const naive_pat_t *p = &pats[(rng >> 40) % n_pats];
                piece = NULL;
                /* the alias as written in terms.json */
                for (size_t i = 0; i < hl_taxonomy_term_count(tax) && piece == NULL; i++)
                    if (hl_taxonomy_term_at(tax, i) == p->term)
                        piece = p->term->aliases[(rng >> 20) % p->term->n_aliases].text;
            } else {
                piece = fillers[(rng >> 40) % HL_ARRAY_LEN(fillers)];
            }
            sep = seps[(rng >> 50) % HL_ARRAY_LEN(seps)];
            if (n + strlen(piece) + strlen(sep) + 1 >= sizeof(text))
                break;
            memcpy(text + n, piece, strlen(piece));
            n += strlen(piece);
            memcpy(text + n, sep, strlen(sep));
            n += strlen(sep);
        }
        text[n] = '\0';

        /* naive: at every ' ' of the folded text, the longest alias starting there */
        char *folded = NULL, expect[8192], *got;
        size_t e = 0, flen, i = 0;
        cr_assert_eq(hl_taxonomy_fold(text, n, &folded), HL_OK);
        flen = strlen(folded);
        expect[0] = '\0';
        while (i < flen) {
            const naive_pat_t *best = NULL;
            if (folded[i] == ' ')
                for (size_t k = 0; k < n_pats; k++)
                    if (pats[k].len <= flen - i && memcmp(folded + i, pats[k].folded, pats[k].len) == 0 &&
                        (best == NULL || pats[k].len > best->len))
                        best = &pats[k];
            if (best != NULL) {
                e += (size_t)snprintf(expect + e, sizeof(expect) - e, "%s%s", e ? " " : "", best->term->id);
                i += best->len - 1; /* the trailing ' ' may start the next one */
            } else {
                i++;
            }
        }
        hl_taxonomy_result_t *res = classify(text, n);
        size_t g = 0, gcap = 64 + res->n_matches * 80;
        got = malloc(gcap);
        got[0] = '\0';
        for (size_t m = 0; m < res->n_matches; m++)
            g += (size_t)snprintf(got + g, gcap - g, "%s%s", m ? " " : "", res->matches[m].term->id);
        cr_assert_str_eq(got, expect, "text \"%s\" (folded \"%s\")", text, folded);
        free(got);
        free(folded);
        hl_taxonomy_result_free(res);
    }
    for (size_t k = 0; k < n_pats; k++)
        free(pats[k].folded);
    free(pats);
}

Test(taxonomy_classify, fold)
{
    char *f = NULL;
    cr_assert_eq(hl_taxonomy_fold("Straße, PÉDO-phile \xd0\xb4!", strlen("Straße, PÉDO-phile \xd0\xb4!"), &f),
                 HL_OK);
    cr_assert_str_eq(f, " strasse | pedo phile # | ");
    free(f);
    cr_assert_eq(hl_taxonomy_fold("\xff", 1, &f), HL_EINVAL);
}

/* ---------------------------------------------------------------------------------- */

TestSuite(taxonomy_json, .init = load_shipped, .fini = unload);

Test(taxonomy_json, to_json_shape)
{
    json_t *j = hl_taxonomy_to_json(tax), *cats, *terms, *t;
    size_t i;
    bool found = false;
    cr_assert_not_null(j);
    cr_assert_str_eq(json_string_value(json_object_get(j, "version")), "2026.1");
    cats = json_object_get(j, "categories");
    cr_assert_eq(json_array_size(cats), 11);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(cats, 0), "code")), "missing_children");
    cr_assert(json_is_array(json_object_get(json_array_get(cats, 0), "children")));
    terms = json_object_get(j, "terms");
    cr_assert_eq(json_array_size(terms), hl_taxonomy_term_count(tax));
    json_array_foreach(terms, i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "id")), "child_pornography") != 0)
            continue;
        found = true;
        cr_assert_str_eq(json_string_value(json_object_get(t, "verdict")), "avoid");
        cr_assert_str_eq(json_string_value(json_object_get(t, "preferred")), "child sexual abuse material");
        cr_assert(json_array_size(json_object_get(json_object_get(t, "aliases"), "fr")) > 0);
        cr_assert(json_array_size(json_object_get(json_object_get(t, "aliases"), "es")) > 0);
    }
    cr_assert(found);
    json_decref(j);
}

Test(taxonomy_json, classify_json_local_and_text)
{
    const char *local[] = {"Sextortion", "silent"};
    const char *text = "He threatened to share child porn.";
    json_t *j = NULL, *cats, *terms;
    char err[HL_TAXONOMY_ERR_LEN];
    cr_assert_eq(hl_taxonomy_classify_json(tax, "zm", local, 2, text, strlen(text), &j, err), HL_OK, "%s",
                 err);
    cats = json_object_get(j, "categories");
    cr_assert_eq(json_array_size(cats), 2, "%s", json_dumps(j, 0));
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(cats, 0), "source")), "mapped");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(cats, 1), "code")),
                     "non_counselling.silent");
    terms = json_object_get(j, "terminology");
    cr_assert_eq(json_array_size(terms), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(terms, 1), "found")), "child porn");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(terms, 1), "preferred")),
                     "child sexual abuse material");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(terms, 1), "start")), 23);
    cr_assert_str_eq(json_string_value(json_object_get(j, "taxonomy_version")), "2026.1");
    json_decref(j);

    cr_assert_eq(hl_taxonomy_classify_json(tax, "zm", local, 1, "grooming", 8, &j, err), HL_OK);
    cats = json_object_get(j, "categories");
    cr_assert_eq(json_array_size(cats), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(cats, 1), "source")), "suggested");
    json_decref(j);
}

Test(taxonomy_json, classify_json_errors)
{
    const char *bad[] = {"No such label"};
    json_t *j = NULL;
    char err[HL_TAXONOMY_ERR_LEN];
    cr_assert_eq(hl_taxonomy_classify_json(tax, "zm", bad, 1, NULL, 0, &j, err), HL_ENOTFOUND);
    cr_assert(strstr(err, "No such label") != NULL, "%s", err);
    cr_assert_eq(hl_taxonomy_classify_json(tax, "nowhere", bad, 1, NULL, 0, &j, err), HL_ENOTFOUND);
    cr_assert(strstr(err, "nowhere") != NULL, "%s", err);
    cr_assert_eq(hl_taxonomy_classify_json(tax, NULL, NULL, 0, "\xc3", 1, &j, err), HL_EINVAL);
    cr_assert_null(j);
}

/* ---------------------------------------------------------------------------------- */
/* Acceptance 2: broken data, each rejected with the file and the JSON path.          */

typedef struct broken_case {
    const char *dir;
    int rc;
    const char *file; /* expected in the message */
    const char *path; /* expected in the message */
} broken_case_t;

static const broken_case_t broken[] = {
    {"duplicate_code", HL_EINVAL, "duplicate_code/categories.json", ": /categories/4/code: duplicate code"},
    {"dangling_parent", HL_EINVAL, "dangling_parent/categories.json",
     ": /categories/1/parent: parent \"abuse\""},
    {"unknown_verdict", HL_EINVAL, "unknown_verdict/terms.json",
     ": /terms/1/verdict: unknown verdict \"forbidden\""},
    {"alias_nowhere", HL_EINVAL, "alias_nowhere/mappings/xx.json",
     ": /labels/0/term: unknown term \"kiddie_porn\""},
    {"mapping_unknown_category", HL_EINVAL, "mapping_unknown_category/mappings/xx.json",
     ": /labels/1/category: unknown category"},
    {"bad_json", HL_EINVAL, "bad_json/categories.json", ": line 2, column 44: bad JSON"},
    {"bad_json_terms", HL_EINVAL, "bad_json_terms/terms.json", ": line 1, column 24: bad JSON"},
    {"duplicate_json_key", HL_EINVAL, "duplicate_json_key/categories.json", "duplicate object key"},
    {"duplicate_alias", HL_EINVAL, "duplicate_alias/terms.json",
     ": /terms/1/aliases/en/1: alias \"child porn\""},
    {"dangling_preferred_term", HL_EINVAL, "dangling_preferred_term/terms.json",
     ": /terms/1/preferred_term: term"},
    {"term_unknown_category", HL_EINVAL, "term_unknown_category/terms.json", ": /terms/0/category: unknown"},
    {"unknown_key", HL_EINVAL, "unknown_key/categories.json", ": /categories/0: unknown key \"colour\""},
    {"bad_code", HL_EINVAL, "bad_code/categories.json", ": /categories/2/code: bad code"},
    {"avoid_without_preferred", HL_EINVAL, "avoid_without_preferred/terms.json",
     ": /terms/1/preferred: missing"},
    {"duplicate_term_id", HL_EINVAL, "duplicate_term_id/terms.json", ": /terms/1/id: duplicate id"},
    {"duplicate_label", HL_EINVAL, "duplicate_label/mappings/xx.json", ": /labels/2/label: label"},
    {"helpline_mismatch", HL_EINVAL, "helpline_mismatch/mappings/xx.json", ": /helpline: \"yy\""},
    {"alias_punctuation_only", HL_EINVAL, "alias_punctuation_only/terms.json",
     ": /terms/0/aliases/en/2: alias"},
    {"alias_non_latin", HL_EINVAL, "alias_non_latin/terms.json", ": /terms/0/aliases/ru/0: alias"},
    {"missing_categories", HL_EIO, "missing_categories/categories.json", ": cannot open"},
    {"code_not_under_parent", HL_EINVAL, "code_not_under_parent/categories.json",
     ": /categories/3/parent: code"},
    {"unknown_evidence", HL_EINVAL, "unknown_evidence/terms.json", ": /terms/0/evidence: unknown evidence"},
    {"bad_mapping_filename", HL_EINVAL, "bad_mapping_filename/mappings/XX Helpline.json",
     ": file name must be"},
    {"no_such_directory", HL_EIO, "no_such_directory/categories.json", ": cannot open"},
};

Test(taxonomy_broken, each_rejected_with_file_and_path)
{
    for (size_t i = 0; i < HL_ARRAY_LEN(broken); i++) {
        const broken_case_t *b = &broken[i];
        char dir[1024], err[HL_TAXONOMY_ERR_LEN];
        hl_taxonomy_t *t = NULL;
        snprintf(dir, sizeof(dir), "%s/%s", BROKEN_DIR, b->dir);
        int rc = hl_taxonomy_load(dir, &t, err);
        cr_expect_eq(rc, b->rc, "%s: rc %d, want %d (%s)", b->dir, rc, b->rc, err);
        cr_expect_null(t);
        cr_expect(strstr(err, b->file) != NULL, "%s: message \"%s\" lacks \"%s\"", b->dir, err, b->file);
        cr_expect(strstr(err, b->path) != NULL, "%s: message \"%s\" lacks \"%s\"", b->dir, err, b->path);
    }
}

Test(taxonomy_broken, valid_fixture_loads)
{
    char err[HL_TAXONOMY_ERR_LEN];
    hl_taxonomy_t *t = NULL;
    cr_assert_eq(hl_taxonomy_load(BROKEN_DIR "/valid", &t, err), HL_OK, "%s", err);
    cr_assert_eq(hl_taxonomy_term_count(t), 2);
    cr_assert_str_eq(hl_taxonomy_term(t, "child_pornography")->preferred_term->id, "csam");
    /* preferred defaults to the preferred term's label when only preferred_term is given */
    cr_assert_not_null(hl_taxonomy_term(t, "child_pornography")->preferred);
    hl_taxonomy_free(t);
    hl_taxonomy_free(NULL);
}

/* ---------------------------------------------------------------------------------- */
/* helplined taxonomy ...: the subcommand function, stdout captured into a file.      */

#include "admin/admin.h"

static char captured[1 << 20];

/* Runs hl_admin_taxonomy with ARGV (NULL-terminated) and returns its exit status. */
static int run_admin(const hl_config_t *cfg, const char **argv)
{
    int argc = 0, status;
    char *args[16];
    FILE *f = tmpfile();
    size_t n;
    cr_assert_not_null(f);
    while (argv[argc] != NULL) {
        args[argc] = (char *)(uintptr_t)argv[argc];
        argc++;
    }
    args[argc] = NULL;
    fflush(stdout);
    int saved = dup(1);
    dup2(fileno(f), 1);
    status = hl_admin_taxonomy(argc, args, cfg);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    rewind(f);
    n = fread(captured, 1, sizeof(captured) - 1, f);
    captured[n] = '\0';
    fclose(f);
    return status;
}

Test(taxonomy_admin, check)
{
    const char *ok[] = {"taxonomy", "check", TAX_DIR, NULL};
    const char *bad[] = {"taxonomy", "check", BROKEN_DIR "/dangling_parent", NULL};
    const char *usage[] = {"taxonomy", "check", "a", "b", NULL};
    const char *none[] = {"taxonomy", NULL};
    cr_assert_eq(run_admin(NULL, ok), 0);
    cr_assert(strstr(captured, "taxonomy 2026.1") != NULL, "%s", captured);
    cr_assert(strstr(captured, "\nok\n") != NULL, "%s", captured);
    cr_assert_eq(run_admin(NULL, bad), 1);
    cr_assert_eq(run_admin(NULL, usage), 2);
    cr_assert_eq(run_admin(NULL, none), 2);
}

Test(taxonomy_admin, check_uses_config_dir)
{
    hl_config_t cfg;
    const char *argv[] = {"taxonomy", "check", NULL};
    memset(&cfg, 0, sizeof(cfg));
    cfg.taxonomy_dir = (char *)(uintptr_t)TAX_DIR;
    cr_assert_eq(run_admin(&cfg, argv), 0);
    cfg.taxonomy_dir = (char *)(uintptr_t)(BROKEN_DIR "/unknown_verdict");
    cr_assert_eq(run_admin(&cfg, argv), 1);
}

Test(taxonomy_admin, classify_prints_json)
{
    const char *argv[] = {"taxonomy", "classify", "--dir", TAX_DIR, "--helpline", "zm", "Revenge Porn", NULL};
    json_error_t je;
    json_t *j;
    cr_assert_eq(run_admin(NULL, argv), 0);
    j = json_loads(captured, 0, &je);
    cr_assert_not_null(j, "%s: %s", je.text, captured);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(j, "categories"), 0), "source")),
        "mapped");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(j, "terminology"), 0), "term")),
        "revenge_porn");
    cr_assert_str_eq(json_string_value(json_object_get(j, "helpline")), "zm");
    json_decref(j);
}

Test(taxonomy_admin, classify_errors)
{
    const char *unknown_hl[] = {"taxonomy", "classify", "--dir", TAX_DIR, "--helpline", "nowhere", "x", NULL};
    const char *unmapped[] = {"taxonomy", "classify", "--dir", TAX_DIR, "--helpline",
                              "zm",       "--local",  "Nope",  "x",     NULL};
    const char *two_texts[] = {"taxonomy", "classify", "--dir", TAX_DIR, "a", "b", NULL};
    const char *no_text[] = {"taxonomy", "classify", "--dir", TAX_DIR, NULL};
    const char *bad_opt[] = {"taxonomy", "classify", "--what", "x", NULL};
    const char *bad_utf8[] = {"taxonomy", "classify", "--dir", TAX_DIR, "\xc3(", NULL};
    cr_assert_eq(run_admin(NULL, unknown_hl), 1);
    cr_assert_eq(run_admin(NULL, unmapped), 1);
    cr_assert_eq(run_admin(NULL, two_texts), 2);
    cr_assert_eq(run_admin(NULL, no_text), 2);
    cr_assert_eq(run_admin(NULL, bad_opt), 2);
    cr_assert_eq(run_admin(NULL, bad_utf8), 1);
}

Test(taxonomy_admin, show)
{
    const char *argv[] = {"taxonomy", "show", TAX_DIR, NULL};
    json_t *j;
    cr_assert_eq(run_admin(NULL, argv), 0);
    j = json_loads(captured, 0, NULL);
    cr_assert_not_null(j);
    cr_assert_eq(json_array_size(json_object_get(j, "categories")), 11);
    json_decref(j);
}

/* ---------------------------------------------------------------------------------- */
/* One loaded taxonomy, many threads: results equal the single-threaded ones.          */

#include <pthread.h>

static const char *const mt_texts[] = {
    "He showed me child pornography and called me a CHILD PROSTITUTE.",
    "Le PÉDOPHILE m’a envoyé de la pédopornographie; la traite d’enfants.",
    "pornografía infantil, sextorsión y grooming en línea",
    "Child, early and forced marriage; online grooming; sextortion.",
};
static char *mt_expect[HL_ARRAY_LEN(mt_texts)];

static void *mt_worker(void *arg)
{
    (void)arg;
    for (int round = 0; round < 300; round++) {
        for (size_t i = 0; i < HL_ARRAY_LEN(mt_texts); i++) {
            hl_taxonomy_result_t *res = NULL;
            if (hl_taxonomy_classify(tax, mt_texts[i], strlen(mt_texts[i]), &res, NULL) != HL_OK)
                return (void *)1;
            char *got = describe(res);
            int diff = strcmp(got, mt_expect[i]);
            free(got);
            hl_taxonomy_result_free(res);
            if (diff != 0)
                return (void *)1;
        }
    }
    return NULL;
}

Test(taxonomy_classify, shared_across_threads)
{
    pthread_t th[4];
    for (size_t i = 0; i < HL_ARRAY_LEN(mt_texts); i++) {
        hl_taxonomy_result_t *res = classify(mt_texts[i], strlen(mt_texts[i]));
        mt_expect[i] = describe(res);
        cr_assert_gt(res->n_matches, 1, "%s", mt_expect[i]);
        hl_taxonomy_result_free(res);
    }
    for (size_t t = 0; t < HL_ARRAY_LEN(th); t++)
        cr_assert_eq(pthread_create(&th[t], NULL, mt_worker, NULL), 0);
    for (size_t t = 0; t < HL_ARRAY_LEN(th); t++) {
        void *r = NULL;
        cr_assert_eq(pthread_join(th[t], &r), 0);
        cr_assert_null(r, "thread %zu saw a different result", t);
    }
    for (size_t i = 0; i < HL_ARRAY_LEN(mt_texts); i++)
        free(mt_expect[i]);
}
