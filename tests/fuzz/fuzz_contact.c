/*
 * libFuzzer target for lib/contact: parses arbitrary bytes as a POST body and as a PATCH
 * body; whatever parses must serialise, parse again to an equal record (round trip), and
 * serialise without sensitive fields when asked. Errors must carry a known code, a
 * message, and a field pointer that starts with '/' (or is "" for the whole body).
 *   make BUILD=build/con fuzz-contact FUZZ_SECONDS=60
 * @@rep:N:UNIT@@ expands first (fuzz_util.h): seeds reach the 1 MiB transcript limit.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "contact.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(const hl_contact_error_t *err)
{
    if (err->code == NULL || err->message[0] == '\0')
        abort();
    if (strcmp(err->code, HL_CONTACT_ERR_BAD_JSON) != 0 &&
        strcmp(err->code, HL_CONTACT_ERR_UNKNOWN_FIELD) != 0 &&
        strcmp(err->code, HL_CONTACT_ERR_INVALID_FIELD) != 0 &&
        strcmp(err->code, HL_CONTACT_ERR_MISSING_FIELD) != 0)
        abort();
    if (err->has_field && err->field[0] != '\0' && err->field[0] != '/')
        abort();
}

static void round_trip(const hl_contact_t *c, bool patch)
{
    json_t *j = hl_contact_to_json(c, true), *safe = hl_contact_to_json(c, false);
    hl_contact_t *again = NULL;
    hl_contact_error_t err;
    char *text;
    int rc;

    if (j == NULL || safe == NULL)
        abort();
    if (json_object_get(safe, "summary") || json_object_get(safe, "transcript") ||
        json_object_get(json_object_get(safe, "child"), "name") ||
        json_object_get(json_object_get(safe, "caller"), "name") ||
        json_object_get(json_object_get(safe, "caller"), "phone"))
        abort();
    text = json_dumps(j, JSON_COMPACT);
    if (text == NULL)
        abort();
    rc = patch ? hl_contact_parse_patch(text, strlen(text), &again, &err)
               : hl_contact_parse(text, strlen(text), &again, &err);
    if (rc != 0) {
        fprintf(stderr, "round trip failed: %s %s %s\n", rc == HL_EINVAL ? err.code : "?", err.field,
                err.message);
        abort();
    }
    if (!hl_contact_equal(c, again))
        abort();
    hl_contact_free(again);
    free(text);
    hl_contact_json_free(j);
    hl_contact_json_free(safe);
}

static int one_input(const uint8_t *data, size_t size)
{
    for (int patch = 0; patch <= 1; patch++) {
        hl_contact_t *c = NULL;
        hl_contact_error_t err;
        int rc = patch ? hl_contact_parse_patch((const char *)data, size, &c, &err)
                       : hl_contact_parse((const char *)data, size, &c, &err);
        if (rc == 0) {
            round_trip(c, patch);
            hl_contact_free(c);
        } else if (rc == HL_EINVAL) {
            if (c != NULL)
                abort();
            check_error(&err);
        } else if (rc != HL_ENOMEM) {
            abort();
        }
    }
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
