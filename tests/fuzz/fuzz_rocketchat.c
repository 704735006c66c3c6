/*
 * libFuzzer target for the Rocket.Chat webhook mapping (server/contacts/rocketchat.c), the path of
 * POST /v1/ingest/rocketchat after the secret check: the body is decoded as the handler does,
 * classified (hl_rocketchat_kind) and, for a session, mapped to an api.md contact.
 *   make BUILD=build/fuzz fuzz-rocketchat FUZZ_SECONDS=60
 *
 * The mapping promises that a chat it maps is never refused by the contact codec (fields that
 * cannot be stored are left out or cut), so: every mapped contact must parse with
 * hl_contact_parse; its transcript stays within HL_CONTACT_TRANSCRIPT_MAX and is marked
 * truncated exactly when it was cut; an error has a code, a message and a field that is ""
 * or a JSON Pointer. @@rep:N:UNIT@@ expands (fuzz_util.h), so the seeds reach the 1 MiB cut.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "contact.h"
#include "fuzz_util.h"
#include "contacts/rocketchat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(const hl_rocketchat_error_t *err)
{
    if (err->code == NULL || err->message[0] == '\0' || (err->field[0] != '\0' && err->field[0] != '/'))
        abort();
    if (strcmp(err->code, "missing_field") != 0 && strcmp(err->code, "invalid_field") != 0)
        abort();
}

static void check_mapped(const hl_rocketchat_mapped_t *m)
{
    char *text = json_dumps(m->contact, JSON_COMPACT);
    json_t *tr = json_object_get(m->contact, "transcript");
    hl_contact_t *c = NULL;
    hl_contact_error_t cerr;
    int rc;

    if (text == NULL)
        abort();
    rc = hl_contact_parse(text, strlen(text), &c, &cerr);
    if (rc != HL_OK) {
        fprintf(stderr, "fuzz_rocketchat: the codec refuses a mapped contact: %s at %s: %s\n",
                rc == HL_EINVAL ? cerr.code : "?", rc == HL_EINVAL && cerr.has_field ? cerr.field : "",
                rc == HL_EINVAL ? cerr.message : "");
        abort();
    }
    if (tr != NULL && json_string_length(tr) > HL_CONTACT_TRANSCRIPT_MAX)
        abort();
    if (m->truncated && (tr == NULL || strstr(json_string_value(tr), "[transcript cut at") == NULL))
        abort();
    if ((m->n_messages == 0) != (tr == NULL) && !m->truncated)
        abort();
    if (strcmp(c->source.system, HL_ROCKETCHAT_SYSTEM) != 0)
        abort();
    hl_contact_free(c);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len;
    uint8_t *in = fuzz_expand(data, size, &len);
    json_t *payload = json_loadb((const char *)in, len, JSON_REJECT_DUPLICATES, NULL);
    hl_rocketchat_mapped_t mapped;
    hl_rocketchat_error_t err = {0};
    hl_rocketchat_kind_t kind;
    int rc;

    free(in);
    if (payload == NULL)
        return 0;
    if (hl_rocketchat_kind(payload, &kind, &err) != HL_OK) {
        check_error(&err);
        goto out;
    }
    if (kind != HL_ROCKETCHAT_SESSION)
        goto out;
    rc = hl_rocketchat_map(payload, &mapped, &err);
    if (rc == HL_EINVAL) {
        check_error(&err);
        goto out;
    }
    if (rc != HL_OK)
        abort();
    check_mapped(&mapped);
    hl_contact_json_free(mapped.contact);
out:
    json_decref(payload);
    return 0;
}
