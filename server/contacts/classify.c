#include "contacts/classify.h"

#include <stdio.h>
#include <string.h>

const char *hl_category_source_name(hl_category_source_t s)
{
    switch (s) {
    case HL_CATEGORY_GIVEN:
        return "given";
    case HL_CATEGORY_MAPPED:
        return "mapped";
    case HL_CATEGORY_SUGGESTED:
        return "suggested";
    }
    return "?";
}

void hl_classification_init(hl_classification_t *cl)
{
    memset(cl, 0, sizeof(*cl));
}

void hl_classification_clear(hl_classification_t *cl)
{
    json_decref(cl->terminology);
    cl->terminology = NULL;
}

static void set_error(hl_classify_error_t *err, const char *code, const char *field, const char *message)
{
    err->code = code;
    snprintf(err->field, sizeof(err->field), "%s", field);
    snprintf(err->message, sizeof(err->message), "%s", message);
}

static hl_record_category_t *find_category(hl_classification_t *cl, const char *code)
{
    for (size_t i = 0; i < cl->n_categories; i++)
        if (strcmp(cl->categories[i].code, code) == 0)
            return &cl->categories[i];
    return NULL;
}

/* Adds CODE with SOURCE unless present; a stronger source (given > mapped > suggested) wins. */
static void add_category(hl_classification_t *cl, const char *code, hl_category_source_t source)
{
    hl_record_category_t *c = find_category(cl, code);

    if (c != NULL) {
        if (source < c->source)
            c->source = source;
        return;
    }
    if (cl->n_categories == HL_RECORD_MAX_CATEGORIES)
        return; /* given + mapped are at most 16; suggestions beyond the cap are dropped */
    c = &cl->categories[cl->n_categories++];
    snprintf(c->code, sizeof(c->code), "%s", code);
    c->source = source;
}

int hl_classify_given(hl_classification_t *cl, const hl_taxonomy_t *tax, char *const *codes, size_t n,
                      hl_classify_error_t *err)
{
    for (size_t i = 0; i < n; i++) {
        const hl_taxonomy_category_t *cat = hl_taxonomy_category(tax, codes[i]);
        char field[64];

        snprintf(field, sizeof(field), "/categories/%zu", i);
        if (cat == NULL || cat->deprecated) {
            set_error(err, "unknown_category", field,
                      cat == NULL ? "not a category code of the taxonomy (see GET /v1/taxonomy)"
                                  : "this category code is deprecated; use its replacement");
            return HL_EINVAL;
        }
        add_category(cl, cat->code, HL_CATEGORY_GIVEN);
    }
    return HL_OK;
}

int hl_classify_local(hl_classification_t *cl, const hl_taxonomy_t *tax, const char *helpline,
                      char *const *labels, size_t n, hl_classify_error_t *err)
{
    for (size_t i = 0; i < n; i++) {
        const hl_taxonomy_mapping_t *m = hl_taxonomy_map_local(tax, helpline, labels[i]);
        char field[64];

        if (m == NULL) {
            snprintf(field, sizeof(field), "/local_categories/%zu", i);
            set_error(err, "unknown_category", field, "not a label of this helpline's mapping");
            return HL_EINVAL;
        }
        add_category(cl, m->category->code, HL_CATEGORY_MAPPED);
    }
    return HL_OK;
}

static void add_term(hl_classification_t *cl, const char *term_id, hl_term_field_t field,
                     uint32_t occurrences)
{
    for (size_t i = 0; i < cl->n_terms; i++) {
        if (cl->terms[i].field == field && strcmp(cl->terms[i].term_id, term_id) == 0) {
            cl->terms[i].occurrences += occurrences;
            return;
        }
    }
    if (cl->n_terms == HL_RECORD_MAX_TERMS)
        return;
    hl_record_term_t *t = &cl->terms[cl->n_terms++];
    snprintf(t->term_id, sizeof(t->term_id), "%s", term_id);
    t->field = field;
    t->occurrences = occurrences;
}

static bool reported(const json_t *terminology, const char *term_id)
{
    size_t i;
    json_t *v;

    json_array_foreach(terminology, i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "term")), term_id) == 0)
            return true;
    }
    return false;
}

int hl_classify_text(hl_classification_t *cl, const hl_taxonomy_t *tax, const char *text,
                     hl_term_field_t field, hl_classify_error_t *err)
{
    hl_taxonomy_result_t *res = NULL;
    char msg[HL_TAXONOMY_ERR_LEN];
    int rc;

    if (text == NULL)
        return HL_OK;
    rc = hl_taxonomy_classify(tax, text, strlen(text), &res, msg);
    if (rc == HL_EINVAL) {
        set_error(err, "invalid_field", field == HL_TERM_IN_SUMMARY ? "/summary" : "/transcript",
                  "the text is not valid UTF-8");
        return rc;
    }
    if (rc != HL_OK)
        return rc;
    if (cl->terminology == NULL && (cl->terminology = json_array()) == NULL) {
        rc = HL_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < res->n_matches; i++) {
        const hl_taxonomy_match_t *m = &res->matches[i];
        const hl_taxonomy_term_t *t = m->term;

        add_term(cl, t->id, field, 1);
        /* One reply entry per term; the found text is the matched span only, never more. */
        if (!reported(cl->terminology, t->id)) {
            json_t *e =
                json_pack("{s:s%, s:s, s:s, s:s?}", "found", text + m->start, m->end - m->start, "term",
                          t->id, "verdict", hl_taxonomy_verdict_name(t->verdict), "preferred", t->preferred);
            if (e == NULL || json_array_append_new(cl->terminology, e) != 0) {
                rc = HL_ENOMEM;
                goto out;
            }
        }
    }
    for (size_t i = 0; i < res->n_categories; i++)
        add_category(cl, res->categories[i]->code, HL_CATEGORY_SUGGESTED);
out:
    hl_taxonomy_result_free(res);
    return rc;
}

void hl_classify_keep_term(hl_classification_t *cl, const hl_taxonomy_t *tax, const char *term_id,
                           hl_term_field_t field, uint32_t occurrences)
{
    const hl_taxonomy_term_t *t = hl_taxonomy_term(tax, term_id);

    add_term(cl, term_id, field, occurrences);
    if (t != NULL && t->category != NULL)
        add_category(cl, t->category->code, HL_CATEGORY_SUGGESTED);
}

void hl_classify_confirm(hl_classification_t *cl)
{
    for (size_t i = 0; i < cl->n_categories; i++)
        if (cl->categories[i].source == HL_CATEGORY_SUGGESTED)
            cl->categories[i].source = HL_CATEGORY_GIVEN;
}

json_t *hl_classify_categories_json(const hl_classification_t *cl, const hl_taxonomy_t *tax)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < cl->n_categories; i++) {
        const hl_taxonomy_category_t *cat = hl_taxonomy_category(tax, cl->categories[i].code);
        json_t *e = json_pack("{s:s, s:s?, s:s}", "code", cl->categories[i].code, "label",
                              cat != NULL ? cat->label : NULL, "source",
                              hl_category_source_name(cl->categories[i].source));
        if (e == NULL || json_array_append_new(arr, e) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}
