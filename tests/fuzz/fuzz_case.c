/*
 * libFuzzer target for lib/case: parses arbitrary bytes as each of the five case bodies (the
 * first byte picks which). A parse either fails with a known code, a message and a field pointer
 * that starts with '/' (or is "" for the whole body), or gives a struct that keeps the documented
 * limits: strings without NUL bytes within their lengths, enums in range, distinct lower-case
 * contact ids.
 *   make BUILD=build/fz fuzz-case FUZZ_SECONDS=60
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "case.h"

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

/* A SET string is there, NUL-terminated, at most MAX bytes (characters are fewer). */
static void check_string(hl_contact_presence_t has, const char *s, size_t max_bytes)
{
    if (has == HL_CONTACT_SET && (s == NULL || strlen(s) > max_bytes))
        abort();
    if (has != HL_CONTACT_SET && s != NULL)
        abort();
}

static void check_input(hl_case_body_t kind, const hl_case_input_t *in)
{
    check_string(in->has_label, in->label, 4 * HL_CASE_LABEL_MAX);
    check_string(in->has_summary, in->summary, HL_CASE_SUMMARY_MAX);
    check_string(in->has_organisation, in->organisation, 4 * HL_CASE_ORGANISATION_MAX);
    check_string(in->has_details, in->details, HL_CASE_DETAILS_MAX);
    if (kind == HL_CASE_BODY_CREATE && in->has_label != HL_CONTACT_SET)
        abort();
    if (kind == HL_CASE_BODY_NOTE &&
        (in->text == NULL || strlen(in->text) == 0 || strlen(in->text) > HL_CASE_NOTE_MAX))
        abort();
    if (in->has_priority == HL_CONTACT_SET && hl_case_priority_name(in->priority) == NULL)
        abort();
    if (in->has_status == HL_CONTACT_SET && hl_case_status_name(in->status) == NULL)
        abort();
    if (in->has_state == HL_CONTACT_SET && hl_referral_state_name(in->state) == NULL)
        abort();
    if (kind == HL_CASE_BODY_REFERRAL && !hl_case_is_referral(in->to))
        abort();
    if (in->n_contacts > HL_CASE_MAX_CONTACTS)
        abort();
    for (size_t i = 0; i < in->n_contacts; i++) {
        if (!hl_case_uuid_valid(in->contacts[i], strlen(in->contacts[i])))
            abort();
        for (const char *p = in->contacts[i]; *p != '\0'; p++)
            if (*p >= 'A' && *p <= 'F')
                abort();
        for (size_t k = 0; k < i; k++)
            if (strcmp(in->contacts[k], in->contacts[i]) == 0)
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hl_case_body_t kind;
    hl_case_input_t *in = NULL;
    hl_contact_error_t err;
    int rc;

    if (size == 0)
        return 0;
    kind = (hl_case_body_t)(data[0] % 5);
    rc = hl_case_parse(kind, (const char *)data + 1, size - 1, &in, &err);
    if (rc == HL_EINVAL)
        check_error(&err);
    else if (rc == HL_OK)
        check_input(kind, in);
    else if (rc != HL_ENOMEM)
        abort();
    if ((rc == HL_OK) != (in != NULL))
        abort();
    hl_case_input_free(in);
    return 0;
}
