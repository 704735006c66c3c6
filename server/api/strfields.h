/*
 * Request bodies that are a JSON object of string members from a fixed list (the session and
 * users routes): parsed strictly, with api.md's 400 naming the member.
 */
#ifndef HL_STRFIELDS_H
#define HL_STRFIELDS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "http/http.h"

typedef struct hl_strfield {
    const char *name;
    bool required;
    size_t max_bytes; /* 1..max_bytes bytes */
} hl_strfield_t;

/*
 * Parses REQ's body into *ROOT (json_decref it; the strings live as long as it): OUT[i] and
 * LEN[i] get member FIELDS[i] (NULL and 0 when absent). On a bad body replies 400 itself
 * (bad_json; unknown_field or invalid_field with the member's JSON Pointer) and returns false.
 */
bool hl_strfields_parse(hl_request_t *req, const hl_strfield_t *fields, size_t n, json_t **root,
                        const char **out, size_t *len) HL_MUSTCHECK;

#endif
