/*
 * libFuzzer target for the taxonomy classifier: make fuzz-taxonomy FUZZ_SECONDS=30
 * (run from the repository root; HL_TAXONOMY_DIR overrides the taxonomy directory).
 *
 * Any input, valid UTF-8 or not, must classify without a crash or leak, and a success must
 * be consistent: matches in order, not overlapping, inside the text, on character
 * boundaries, and each span folds to an alias of its term. Invalid UTF-8 must be reported
 * by both classify and fold. The same bytes are also tried as a helpline label and as a
 * /v1/classify reply.
 * @@rep:N:UNIT@@ expands first (fuzz_util.h): a seed reaches the 1 MiB of a transcript.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "taxonomy.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hl_taxonomy_t *tax;
static char ***folded; /* folded[term][alias], " alias " */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("HL_TAXONOMY_DIR");
    char err[HL_TAXONOMY_ERR_LEN];
    (void)argc;
    (void)argv;
    if (dir == NULL)
        dir = "taxonomy";
    if (hl_taxonomy_load(dir, &tax, err) != HL_OK) {
        fprintf(stderr, "fuzz_taxonomy: %s\n", err);
        abort();
    }
    folded = calloc(hl_taxonomy_term_count(tax), sizeof(*folded));
    if (folded == NULL)
        abort();
    for (size_t t = 0; t < hl_taxonomy_term_count(tax); t++) {
        const hl_taxonomy_term_t *term = hl_taxonomy_term_at(tax, t);
        folded[t] = calloc(term->n_aliases + 1, sizeof(**folded));
        if (folded[t] == NULL)
            abort();
        for (size_t a = 0; a < term->n_aliases; a++)
            if (hl_taxonomy_fold(term->aliases[a].text, strlen(term->aliases[a].text), &folded[t][a]) !=
                HL_OK)
                abort();
    }
    return 0;
}

static size_t term_index(const hl_taxonomy_term_t *t)
{
    for (size_t i = 0; i < hl_taxonomy_term_count(tax); i++)
        if (hl_taxonomy_term_at(tax, i) == t)
            return i;
    abort();
}

static void check_match(const char *text, size_t size, const hl_taxonomy_match_t *m)
{
    char *f = NULL;
    size_t t;
    bool ok = false;
    if (!(m->start < m->end && m->end <= size))
        abort();
    if (((uint8_t)text[m->start] & 0xC0) == 0x80 || (m->end < size && ((uint8_t)text[m->end] & 0xC0) == 0x80))
        abort(); /* not on a character boundary */
    if (hl_taxonomy_fold(text + m->start, m->end - m->start, &f) != HL_OK)
        abort();
    t = term_index(m->term);
    for (size_t a = 0; folded[t][a] != NULL && !ok; a++)
        ok = strcmp(folded[t][a], f) == 0;
    if (!ok) {
        fprintf(stderr, "span folds to \"%s\", no alias of %s does\n", f, m->term->id);
        abort();
    }
    free(f);
}

static int one_input(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    hl_taxonomy_result_t *res = NULL;
    char err[HL_TAXONOMY_ERR_LEN], *f = NULL, *label;
    int rc = hl_taxonomy_classify(tax, text, size, &res, err);
    int frc = hl_taxonomy_fold(text, size, &f);

    if (rc == HL_ENOMEM || frc == HL_ENOMEM)
        return 0;
    if ((rc == HL_OK) != (frc == HL_OK))
        abort(); /* classify and fold disagree on UTF-8 validity */
    free(f);
    if (rc == HL_OK) {
        size_t last_end = 0;
        for (size_t i = 0; i < res->n_matches; i++) {
            const hl_taxonomy_match_t *m = &res->matches[i];
            if (i > 0 && m->start < last_end)
                abort(); /* overlap or out of order */
            last_end = m->end;
            check_match(text, size, m);
        }
        for (size_t i = 0; i < res->n_categories; i++)
            if (hl_taxonomy_category(tax, res->categories[i]->code) != res->categories[i])
                abort();
        hl_taxonomy_result_free(res);

        json_t *j = NULL;
        if (hl_taxonomy_classify_json(tax, NULL, NULL, 0, text, size, &j, err) == HL_OK) {
            char *s = json_dumps(j, JSON_COMPACT);
            free(s);
            json_decref(j);
        }
    } else if (rc != HL_EINVAL || strncmp(err, "invalid UTF-8 at byte ", 22) != 0) {
        abort();
    }

    /* the same bytes as a local label (a C string: up to the first NUL) */
    label = malloc(size + 1);
    if (label == NULL)
        return 0;
    memcpy(label, data, size);
    label[size] = '\0';
    const hl_taxonomy_mapping_t *m = hl_taxonomy_map_local(tax, "zm", label);
    if (m != NULL && m->category == NULL)
        abort();
    (void)hl_taxonomy_category(tax, label);
    (void)hl_taxonomy_term(tax, label);
    free(label);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len;
    uint8_t *in = fuzz_expand(data, size, &len);
    int rc = one_input(in, len);

    free(in);
    return rc;
}
