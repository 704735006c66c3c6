#include "api/strfields.h"

#include <stdio.h>
#include <string.h>

bool hl_strfields_parse(hl_request_t *req, const hl_strfield_t *fields, size_t n, json_t **root,
                        const char **out, size_t *len)
{
    size_t body_len;
    const char *body = hl_http_body(req, &body_len);
    json_error_t jerr;
    json_t *in = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &jerr), *v;
    const char *key;
    char field[48], msg[96];

    if (in == NULL || !json_is_object(in)) {
        hl_http_reply_error(req, 400, "bad_json", "the body must be a JSON object", NULL);
        goto fail;
    }
    json_object_foreach(in, key, v)
    {
        size_t i = 0;

        while (i < n && strcmp(key, fields[i].name) != 0)
            i++;
        if (i == n) {
            snprintf(field, sizeof(field), "/%.40s", key);
            hl_http_reply_error(req, 400, "unknown_field", "a member this request does not take",
                                strpbrk(key, "/~") == NULL ? field : "");
            goto fail;
        }
    }
    for (size_t i = 0; i < n; i++) {
        v = json_object_get(in, fields[i].name);
        out[i] = NULL;
        len[i] = 0;
        snprintf(field, sizeof(field), "/%s", fields[i].name);
        if (v == NULL && !fields[i].required)
            continue;
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > fields[i].max_bytes) {
            snprintf(msg, sizeof(msg), "%s must be a string of 1..%zu bytes", fields[i].name,
                     fields[i].max_bytes);
            hl_http_reply_error(req, 400, "invalid_field", msg, field);
            goto fail;
        }
        out[i] = json_string_value(v);
        len[i] = json_string_length(v);
    }
    *root = in;
    return true;
fail:
    json_decref(in);
    return false;
}
