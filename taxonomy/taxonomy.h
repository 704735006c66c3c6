/*
 * The taxonomy: CHI reasons for contact (categories.json), Luxembourg Guidelines terms
 * (terms.json) and each helpline's own labels (mappings/<helpline>.json), loaded from a
 * directory, validated, and turned into an immutable structure with a multi-pattern
 * (Aho-Corasick) classifier for free text. docs/taxonomy.md describes the data format.
 *
 * Thread safety: a loaded hl_taxonomy_t is never modified; any number of threads may use
 * it at once. A reload builds a new one and swaps the pointer; free the old one only when
 * no thread uses it any more. Every pointer returned by a lookup lives as long as the
 * taxonomy it came from.
 */
#ifndef HL_TAXONOMY_H
#define HL_TAXONOMY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "util.h"

#define HL_TAXONOMY_ERR_LEN 512

typedef struct hl_taxonomy hl_taxonomy_t;

typedef enum { HL_TAXONOMY_USE = 0, HL_TAXONOMY_CAUTION = 1, HL_TAXONOMY_AVOID = 2 } hl_taxonomy_verdict_t;

/* All fields are read-only. */
typedef struct hl_taxonomy_category hl_taxonomy_category_t;
struct hl_taxonomy_category {
    const char *code;                              /* "violence.sexual_violence": stable, never reused */
    const char *label;                             /* display label; may change between versions */
    const char *description;                       /* short, our own words */
    const hl_taxonomy_category_t *parent;          /* NULL for a top-level category */
    const hl_taxonomy_category_t *const *children; /* in file order */
    size_t n_children;
    bool deprecated; /* kept for old records; not offered for new ones */
};

typedef struct hl_taxonomy_alias {
    const char *lang; /* "en", "fr", "es", ... */
    const char *text;
} hl_taxonomy_alias_t;

typedef struct hl_taxonomy_term hl_taxonomy_term_t;
struct hl_taxonomy_term {
    const char *id;    /* "child_pornography" */
    const char *label; /* the term itself */
    hl_taxonomy_verdict_t verdict;
    const char *preferred;                    /* replacement wording; NULL for most use-terms */
    const hl_taxonomy_term_t *preferred_term; /* the replacement as a term, or NULL */
    const hl_taxonomy_category_t *category;   /* the category it points to, or NULL */
    const hl_taxonomy_alias_t *aliases;       /* as in terms.json, by language */
    size_t n_aliases;
    const char *note;     /* our paraphrase, or NULL */
    const char *source;   /* citation */
    const char *evidence; /* confirmed | secondary | unconfirmed | project_advice */
    const char *edition;  /* "2016", "2025", or NULL */
    bool detect;          /* false: listed, but never searched for in text */
};

/* One label of a helpline's mapping file. */
typedef struct hl_taxonomy_mapping {
    const char *label;                      /* as written in the file */
    const char *group;                      /* the helpline's own heading, or NULL */
    const hl_taxonomy_category_t *category; /* canonical category */
    const hl_taxonomy_term_t *term;         /* when the label is itself a term, else NULL */
} hl_taxonomy_mapping_t;

/* One term found in a text: bytes [start, end) of the text. */
typedef struct hl_taxonomy_match {
    const hl_taxonomy_term_t *term;
    size_t start;
    size_t end;
} hl_taxonomy_match_t;

/* A classification: matches in text order, never overlapping (leftmost, then longest,
 * wins); categories suggested by the matched terms, unique, in order of first match. */
typedef struct hl_taxonomy_result {
    hl_taxonomy_match_t *matches;
    size_t n_matches;
    const hl_taxonomy_category_t **categories;
    size_t n_categories;
} hl_taxonomy_result_t;

/*
 * Loads DIR/categories.json, DIR/terms.json and every DIR/mappings/<helpline>.json, checks
 * them (codes unique and well formed, parents exist, verdicts valid, every alias usable and
 * owned by one term, every reference resolves) and builds the classifier. On error returns
 * HL_EINVAL (bad data), HL_EIO (cannot read) or HL_ENOMEM and writes one line naming the
 * file and the JSON path (a JSON Pointer) into ERR. The caller frees *OUT.
 */
int hl_taxonomy_load(const char *dir, hl_taxonomy_t **out, char err[HL_TAXONOMY_ERR_LEN]) HL_MUSTCHECK;

void hl_taxonomy_free(hl_taxonomy_t *tax);

const char *hl_taxonomy_version(const hl_taxonomy_t *tax);

/* Categories in file order (top-level categories are those with parent == NULL). */
size_t hl_taxonomy_category_count(const hl_taxonomy_t *tax);
const hl_taxonomy_category_t *hl_taxonomy_category_at(const hl_taxonomy_t *tax, size_t i);
/* Exact code lookup; NULL when unknown. */
const hl_taxonomy_category_t *hl_taxonomy_category(const hl_taxonomy_t *tax, const char *code);

size_t hl_taxonomy_term_count(const hl_taxonomy_t *tax);
const hl_taxonomy_term_t *hl_taxonomy_term_at(const hl_taxonomy_t *tax, size_t i);
const hl_taxonomy_term_t *hl_taxonomy_term(const hl_taxonomy_t *tax, const char *id);

/* "use", "caution", "avoid". */
const char *hl_taxonomy_verdict_name(hl_taxonomy_verdict_t verdict);

/* Helplines with a mapping file, sorted by code. */
size_t hl_taxonomy_helpline_count(const hl_taxonomy_t *tax);
const char *hl_taxonomy_helpline_at(const hl_taxonomy_t *tax, size_t i);
bool hl_taxonomy_has_helpline(const hl_taxonomy_t *tax, const char *helpline);
/* A helpline's labels in file order; 0 / NULL for an unknown helpline or index. */
size_t hl_taxonomy_mapping_count(const hl_taxonomy_t *tax, const char *helpline);
const hl_taxonomy_mapping_t *hl_taxonomy_mapping_at(const hl_taxonomy_t *tax, const char *helpline, size_t i);

/*
 * Maps a helpline's local LABEL to its canonical category. Matching ignores case, accents
 * and surrounding or repeated white space ("  revenge  PORN " finds "Revenge Porn").
 * NULL when the helpline has no mapping file or the label is not in it.
 */
const hl_taxonomy_mapping_t *hl_taxonomy_map_local(const hl_taxonomy_t *tax, const char *helpline,
                                                   const char *label);

/*
 * Finds every term alias in TEXT (LEN bytes of UTF-8; NUL bytes allowed and treated as
 * punctuation): case- and accent-insensitive for Latin scripts, on word boundaries.
 * Invalid UTF-8 gives HL_EINVAL with the byte offset in ERR (ERR may be NULL); HL_ENOMEM.
 * The caller frees *OUT with hl_taxonomy_result_free.
 */
int hl_taxonomy_classify(const hl_taxonomy_t *tax, const char *text, size_t len, hl_taxonomy_result_t **out,
                         char err[HL_TAXONOMY_ERR_LEN]) HL_MUSTCHECK;

void hl_taxonomy_result_free(hl_taxonomy_result_t *res);

/*
 * The text as the classifier sees it: letters and digits folded to lower-case ASCII,
 * a run of spaces, hyphens, apostrophes or slashes as ' ', a run with other punctuation as
 * " | ", other letters (e.g. Cyrillic) as '#'. For tests and `taxonomy classify --fold`.
 * The caller frees *OUT (NUL-terminated). HL_EINVAL on invalid UTF-8, HL_ENOMEM.
 */
int hl_taxonomy_fold(const char *text, size_t len, char **out) HL_MUSTCHECK;

/*
 * GET /v1/taxonomy: {"version", "categories": [{"code","label","description","children":[...]}],
 * "terms": [{"id","label","verdict","preferred","preferred_term","category","aliases":{"en":[...],...},
 * "source","evidence"}]}. Deprecated categories carry "deprecated": true. NULL on OOM.
 */
json_t *hl_taxonomy_to_json(const hl_taxonomy_t *tax);

/*
 * A classification reply (POST /v1/classify, `helplined taxonomy classify`):
 * {"taxonomy_version", "categories": [{"code","label","source"}], "terminology":
 * [{"found","term","verdict","preferred","category","start","end"}]}.
 * LOCAL (N_LOCAL labels, may be 0) are HELPLINE's labels: each gives a category with source
 * "mapped" (and a terminology entry when the label is itself a term, with "local": true);
 * TEXT (may be NULL) gives terminology and categories with source "suggested" (a category
 * already mapped is not repeated). "found" is the matched span of TEXT, never more.
 * Errors: HL_ENOTFOUND for an unknown helpline or unmapped label, HL_EINVAL for invalid
 * UTF-8, HL_ENOMEM; a message in ERR (may be NULL).
 */
int hl_taxonomy_classify_json(const hl_taxonomy_t *tax, const char *helpline, const char *const *local,
                              size_t n_local, const char *text, size_t len, json_t **out,
                              char err[HL_TAXONOMY_ERR_LEN]) HL_MUSTCHECK;

#endif
