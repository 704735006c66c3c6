/*
 * libFuzzer target for hl_record_decode: arbitrary bytes must be refused cleanly or decode
 * to a valid record whose encoding decodes back to the same bytes (the form is canonical).
 *   make fuzz-record FUZZ_SECONDS=60
 * @@rep:N:UNIT@@ expands first (fuzz_util.h): a seed holds a sealed field over 1 MiB.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "contacts/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int one_input(const uint8_t *data, size_t size)
{
    hl_record_t *rec = NULL;
    uint8_t *enc = NULL;
    size_t enclen = 0;

    if (hl_record_decode(data, size, &rec) != HL_OK)
        return 0;
    if (!hl_record_valid(rec))
        abort();
    if (hl_record_encode(rec, &enc, &enclen) != HL_OK)
        abort();
    if (enclen != size || memcmp(enc, data, size) != 0)
        abort();
    free(enc);
    hl_record_free(rec);
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
