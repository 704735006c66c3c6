/* Public keys files for report verify/merge (report_keys.h). */
#include "report_keys.h"

#include <stdio.h>
#include <string.h>

int hl_cli_keys_lookup(const char *text, const char *code, uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES], char *err,
                       size_t errlen)
{
    int lineno = 0;

    for (const char *p = text; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
        char line[512], *fields[5], *save = NULL;
        size_t nf = 0;

        lineno++;
        if (n >= sizeof(line)) {
            snprintf(err, errlen, "line %d is too long", lineno);
            return HL_EINVAL;
        }
        memcpy(line, p, n);
        line[n] = '\0';
        p = nl != NULL ? nl + 1 : NULL;
        for (char *t = strtok_r(line, " \t\r", &save); t != NULL && nf < 5;
             t = strtok_r(NULL, " \t\r", &save))
            fields[nf++] = t;
        if (nf == 0 || fields[0][0] == '#')
            continue;
        if (!(nf == 2 || (nf == 4 && strcmp(fields[1], "ed25519") == 0))) {
            snprintf(err, errlen, "line %d: expected 'CODE PUBLIC_KEY' or 'CODE ed25519 KEY_ID PUBLIC_KEY'",
                     lineno);
            return HL_EINVAL;
        }
        if (strcmp(fields[0], code) != 0)
            continue;
        if (hl_crypto_sign_pk_from_b64(fields[nf - 1], pk) != HL_OK) {
            snprintf(err, errlen, "line %d: the public key of %s is not 44 characters of base64", lineno,
                     code);
            return HL_EINVAL;
        }
        return HL_OK;
    }
    snprintf(err, errlen, "no key for helpline '%s'", code);
    return HL_ENOTFOUND;
}
