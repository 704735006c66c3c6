/*
 * The public keys file of "helpline report verify|merge --keys FILE": one helpline a line,
 * either "CODE BASE64_PUBLIC_KEY" or the line "helplined signing-key show" prints,
 * "CODE ed25519 KEY_ID BASE64_PUBLIC_KEY"; blank lines and lines starting with '#' are
 * skipped. So `helplined signing-key show > keys` on each server, concatenated, is a keys file.
 */
#ifndef HL_CLI_REPORT_KEYS_H
#define HL_CLI_REPORT_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "util.h"

/* The key of helpline CODE in TEXT into PK. HL_ENOTFOUND when no line names CODE; HL_EINVAL
 * (ERR names the line) for a malformed line or a key that does not decode. */
int hl_cli_keys_lookup(const char *text, const char *code, uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES], char *err,
                       size_t errlen) HL_MUSTCHECK;

#endif
