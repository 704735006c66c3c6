/*
 * The GET /v1/taxonomy reply for people: the category tree, the terms, and a search over
 * both (every word must match a code, label, description, note or alias, ignoring ASCII
 * case). Terms to avoid, or to use with caution, show their preferred wording.
 */
#ifndef HL_CLI_TAXONOMY_VIEW_H
#define HL_CLI_TAXONOMY_VIEW_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

void hl_cli_taxonomy_print_categories(FILE *out, json_t *tax);
void hl_cli_taxonomy_print_terms(FILE *out, json_t *tax);

/* Prints the categories and terms matching all N WORDS; returns how many matched. */
size_t hl_cli_taxonomy_search(FILE *out, json_t *tax, const char *const *words, size_t n);

#endif
