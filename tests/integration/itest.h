/*
 * Helpers shared by the integration tests (itest.c): contact bodies, posting, counting rows.
 */
#ifndef HL_ITEST_H
#define HL_ITEST_H

#include <jansson.h>
#include <stdbool.h>

#include "daemon.h"

/* A valid contact from the demo helpline's front end, source {"it", SOURCE_ID}. */
json_t *it_contact(const char *source_id);

/* Sets (VALUE_JSON parsed, any JSON value) or deletes (VALUE_JSON NULL) the member at POINTER
 * ("/a" or "/a/b"); creates the parent object when missing. */
void it_mutate(json_t *root, const char *pointer, const char *value_json);

/* JSON text of OBJ (malloc'd); releases OBJ. */
char *it_dump(json_t *obj);

/* POSTs OBJ (released) to /v1/contacts with TOKEN; returns the status, *REPLY the JSON (or NULL). */
long it_post(const hl_testd_t *d, const char *token, json_t *obj, json_t **reply);

/* The first column of the first row of SQL on the daemon's database, as a long (-1: no row). */
long it_scalar(const hl_testd_t *d, const char *sql);

/* The string at OBJ's member path "a/b" (NULL when absent or not a string). */
const char *it_str(json_t *obj, const char *path);

/* Does HAYSTACK (LEN bytes) contain NEEDLE, or its lower-case hex encoding (pg_dump's bytea)? */
bool it_contains(const char *haystack, size_t len, const char *needle);
bool it_contains_hex(const char *haystack, size_t len, const char *needle);

/* Random letters outside a-f (so never part of a hex dump), for unique marker strings. */
void it_marker(char *out, size_t len, const char *prefix);

/* Every regular file under DIR, concatenated (malloc'd; *LEN its length, *N_FILES how many). */
char *it_read_tree(const char *dir, size_t *len, size_t *n_files);

#endif
