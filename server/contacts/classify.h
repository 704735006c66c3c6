/*
 * Classification of one contact against the taxonomy, shared by POST and PATCH: checks the
 * given codes and local labels, finds Luxembourg Guidelines terms in the summary and the
 * transcript, and collects the categories with their sources (given, mapped, suggested),
 * plus the reply's "categories" and "terminology" arrays.
 */
#ifndef HL_CLASSIFY_H
#define HL_CLASSIFY_H

#include <jansson.h>

#include "contact.h"
#include "contacts/record.h"
#include "taxonomy.h"

typedef struct hl_classification {
    size_t n_categories;
    hl_record_category_t categories[HL_RECORD_MAX_CATEGORIES];
    size_t n_terms;
    hl_record_term_t terms[HL_RECORD_MAX_TERMS];
    json_t *terminology; /* [{"found","term","verdict","preferred"}] (owned) */
} hl_classification_t;

/* What went wrong with a request: an HTTP 400 with code, message and JSON Pointer. */
typedef struct hl_classify_error {
    const char *code;
    char message[160];
    char field[64];
} hl_classify_error_t;

/* Starts an empty classification. */
void hl_classification_init(hl_classification_t *cl);
void hl_classification_clear(hl_classification_t *cl);

/* Adds the given codes (source given); HL_EINVAL with ERR for an unknown or deprecated code. */
int hl_classify_given(hl_classification_t *cl, const hl_taxonomy_t *tax, char *const *codes, size_t n,
                      hl_classify_error_t *err) HL_MUSTCHECK;

/* Adds HELPLINE's local labels (source mapped); HL_EINVAL with ERR for an unmapped one. */
int hl_classify_local(hl_classification_t *cl, const hl_taxonomy_t *tax, const char *helpline,
                      char *const *labels, size_t n, hl_classify_error_t *err) HL_MUSTCHECK;

/* Finds terms in TEXT (FIELD says which), adds them and their categories (source suggested,
 * unless already there) and the reply's terminology entries. */
int hl_classify_text(hl_classification_t *cl, const hl_taxonomy_t *tax, const char *text,
                     hl_term_field_t field, hl_classify_error_t *err) HL_MUSTCHECK;

/* Adds a stored term finding again (PATCH keeps the transcript's findings) with its suggestion. */
void hl_classify_keep_term(hl_classification_t *cl, const hl_taxonomy_t *tax, const char *term_id,
                           hl_term_field_t field, uint32_t occurrences);

/* Turns every suggested category into a given one (PATCH confirm_suggested). */
void hl_classify_confirm(hl_classification_t *cl);

/* The reply's "categories": [{"code","label","source"}]. NULL on OOM. */
json_t *hl_classify_categories_json(const hl_classification_t *cl, const hl_taxonomy_t *tax);

const char *hl_category_source_name(hl_category_source_t s);

#endif
