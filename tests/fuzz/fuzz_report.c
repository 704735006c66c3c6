/*
 * libFuzzer target for the signed quarterly report (lib/report.c): what "helpline report
 * verify" and "helpline report merge" do with a file someone sent.
 *   make BUILD=build/fuzz fuzz-report FUZZ_SECONDS=60
 *
 * The input is report text. It is verified with the fixed key A (the seeds in corpus-report are
 * signed with it, so mutations reach the checks behind the signature only where they keep it
 * valid: the harness also re-signs) and parsed; a document that validates is then signed with A
 * and must verify with A and not with B, survive to_json and parse again unchanged, give a CSV
 * form, and merge with a copy of itself signed by B under another helpline code: the merge must
 * validate and verify with the network key, or be refused with a message (sums too large).
 * Merging a document with itself is a conflict. Every refusal carries a message.
 * @@rep:N:UNIT@@ expands (fuzz_util.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "crypto.h"
#include "fuzz_util.h"
#include "report.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hl_crypto_signer_t *key_a, *key_b, *key_net;
static uint8_t pks[3][HL_CRYPTO_SIGN_PK_BYTES];

static hl_crypto_signer_t *signer(uint8_t fill, uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES])
{
    uint8_t seed[HL_CRYPTO_KEY_BYTES];
    hl_crypto_signer_t *s = NULL;

    memset(seed, fill, sizeof(seed));
    if (hl_crypto_signer_from_seed(seed, &s) != HL_OK)
        abort();
    hl_crypto_signer_public_key(s, pk);
    return s;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (hl_crypto_init() != HL_OK)
        abort();
    key_a = signer(0x11, pks[0]); /* tests/fuzz/corpus-report is signed with this one */
    key_b = signer(0x22, pks[1]);
    key_net = signer(0x33, pks[2]);
    return 0;
}

static void refused(int rc, const hl_report_error_t *err)
{
    if (rc != HL_EINVAL && rc != HL_ECRYPTO && rc != HL_ECONFLICT)
        abort();
    if (rc != HL_ECRYPTO && err->message[0] == '\0')
        abort();
}

/* DOC, valid and signed with A, merged with a copy under another code signed with B. */
static void merge(json_t *doc)
{
    static const hl_report_helpline_t network = {"KE-NET", "Kenya helplines", "KE", NULL};
    json_t *other = json_deep_copy(doc), *inputs[2] = {doc, other}, *merged = NULL;
    const char *code = json_string_value(json_object_get(json_object_get(doc, "helpline"), "code"));
    hl_report_error_t err = {{0}};
    int rc;

    if (other == NULL || code == NULL)
        abort();
    if (json_object_set_new(json_object_get(other, "helpline"), "code",
                            json_string(strcmp(code, "other") == 0 ? "another" : "other")) != 0 ||
        hl_report_sign(other, key_b) != HL_OK)
        abort();
    rc = hl_report_merge(inputs, (const uint8_t(*)[HL_CRYPTO_SIGN_PK_BYTES])pks, 2, &network,
                         "2027-01-05T08:00:00Z", key_net, &merged, &err);
    if (rc == HL_OK) {
        char *csv = NULL;
        size_t len;
        if (hl_report_validate(merged, &err) != HL_OK) {
            fprintf(stderr, "fuzz_report: the merge does not validate: %s\n", err.message);
            abort();
        }
        if (hl_report_verify(merged, pks[2]) != HL_OK || hl_report_to_csv(merged, &csv, &len) != HL_OK)
            abort();
        free(csv);
        json_decref(merged);
    } else {
        refused(rc, &err);
    }
    /* The same helpline twice. */
    inputs[1] = doc;
    err.message[0] = '\0';
    rc = hl_report_merge(inputs, (const uint8_t(*)[HL_CRYPTO_SIGN_PK_BYTES])pks, 2, &network,
                         "2027-01-05T08:00:00Z", key_net, &merged, &err);
    if (rc == HL_OK)
        abort();
    refused(rc, &err);
    json_decref(other);
}

static void valid_document(json_t *doc)
{
    hl_report_error_t err = {{0}};
    json_t *again = NULL;
    char *text = NULL, *csv = NULL;
    size_t len, csv_len;

    if (hl_report_sign(doc, key_a) != HL_OK || hl_report_verify(doc, pks[0]) != HL_OK ||
        hl_report_verify(doc, pks[1]) != HL_ECRYPTO)
        abort();
    if (hl_report_to_json(doc, &text, &len) != HL_OK || hl_report_to_csv(doc, &csv, &csv_len) != HL_OK)
        abort();
    if (hl_report_verify_text(text, len, pks[0], &again, &err) != HL_OK) {
        fprintf(stderr, "fuzz_report: to_json does not verify again: %s\n", err.message);
        abort();
    }
    if (!json_equal(doc, again))
        abort();
    json_decref(again);
    free(text);
    free(csv);
    merge(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len;
    uint8_t *in = fuzz_expand(data, size, &len);
    hl_report_error_t err = {{0}};
    json_t *doc = NULL;
    int rc;

    rc = hl_report_verify_text((const char *)in, len, pks[0], &doc, &err);
    if (rc == HL_OK)
        json_decref(doc);
    else
        refused(rc, &err);
    doc = NULL;
    err.message[0] = '\0';
    rc = hl_report_parse((const char *)in, len, &doc, &err);
    if (rc == HL_OK)
        valid_document(doc);
    else
        refused(rc, &err);
    json_decref(doc);
    free(in);
    return 0;
}
