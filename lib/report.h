/*
 * The signed quarterly report "helpline-quarterly/1" (api.md "GET /v1/reports/quarterly",
 * docs/report-format.md): build from counts, sign, verify, CSV, and the network merge.
 *
 * No database, no HTTP: the daemon computes the counts and passes them as hl_report_table_t
 * (dense, row-major, last dimension fastest); every table goes through lib/disclosure with
 * the report's k before anything is written into the document.
 *
 * A report is a jansson object. Its signature covers the canonical JSON of the document
 * without its "signature" member: keys sorted by byte value, compact separators, integers
 * only, UTF-8 as is (json_dumps with JSON_SORT_KEYS | JSON_COMPACT). Release documents with
 * json_decref. Functions taking a json_t * do not change it unless they say so (jansson's
 * object iteration needs a non-const pointer).
 *
 * Errors: HL_EINVAL for bad arguments or a document that is not a valid report (with a
 * message in ERR when given), HL_ECRYPTO for a signature that does not verify (no detail:
 * wrong key, wrong key id, changed content and a malformed signature member look the same),
 * HL_ECONFLICT for merge inputs that do not belong together, HL_ENOMEM.
 * Thread-safe: no global state.
 */
#ifndef HL_REPORT_H
#define HL_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "crypto.h"
#include "disclosure.h"
#include "util.h"

#define HL_REPORT_FORMAT    "helpline-quarterly/1"
#define HL_REPORT_COUNT_MAX ((uint64_t)9007199254740991ULL) /* 2^53 - 1: exact in every JSON reader */
#define HL_REPORT_NAME_MAX  64  /* table and dimension names: [a-z][a-z0-9_]*, bytes */
#define HL_REPORT_VALUE_MAX 128 /* dimension values: 1..128 bytes of UTF-8 */
#define HL_REPORT_ERR_LEN   160

/* The standard tables of a quarterly report (docs/report-format.md). */
#define HL_REPORT_TABLE_CONTACT_TYPE    "contact_type"    /* all contacts by type */
#define HL_REPORT_TABLE_CATEGORY        "category"        /* counselling contacts */
#define HL_REPORT_TABLE_SUBCATEGORY     "subcategory"     /* counselling contacts */
#define HL_REPORT_TABLE_AGE_BAND_GENDER "age_band_gender" /* dimensions age_band, gender */
#define HL_REPORT_TABLE_CHANNEL         "channel"
#define HL_REPORT_TABLE_REGION          "region"
#define HL_REPORT_TABLE_REFERRAL        "referral"    /* referrals made: referral_to x referral_state */
#define HL_REPORT_TABLE_CASE_STATUS     "case_status" /* cases opened, put in progress, closed */

/* A message for the user (never contains counts), NUL-terminated. */
typedef struct hl_report_error {
    char message[HL_REPORT_ERR_LEN];
} hl_report_error_t;

typedef struct hl_report_helpline {
    const char *code;    /* 1..64 bytes */
    const char *name;    /* 1..200 bytes */
    const char *country; /* ISO 3166-1 alpha-2, two capital letters */
    const char *network; /* 1..64 bytes, or NULL (JSON null) */
} hl_report_helpline_t;

typedef struct hl_report_dim {
    const char *name;          /* e.g. "age_band" */
    size_t nvalues;            /* >= 1 */
    const char *const *values; /* every value of the vocabulary, in the order to print, distinct */
} hl_report_dim_t;

typedef struct hl_report_table {
    const char *name; /* e.g. HL_REPORT_TABLE_AGE_BAND_GENDER; distinct within a report */
    size_t ndims;     /* 1..HL_DISCLOSURE_MAX_DIMS */
    hl_report_dim_t dims[HL_DISCLOSURE_MAX_DIMS];
    const uint64_t *counts; /* product of nvalues counts, row-major, each <= HL_REPORT_COUNT_MAX */
    /* NULL, or a table of the same shape whose suppressed cells (UNKNOWN here), withheld line
     * totals and withheld grand total are carried over before disclosure control: a table made
     * of parts protected on their own (hl_disclosure_add; the daemon's monthly slices). COUNTS
     * stay the exact counts, so the total is the true one where it is published. */
    const hl_disclosure_table_t *preset;
} hl_report_table_t;

typedef struct hl_report_input {
    hl_report_helpline_t helpline;
    int year;                     /* 2000..9999 */
    int quarter;                  /* 1..4; period.from/to are derived */
    const char *taxonomy_version; /* 1..64 bytes */
    uint64_t k;                   /* 1..1000 */
    const char *generated_at;     /* "YYYY-MM-DDTHH:MM:SSZ" */
    size_t ntables;               /* 1..32 */
    const hl_report_table_t *tables;
} hl_report_input_t;

/* The unsigned document for IN, every table through disclosure control with IN->k. */
int hl_report_build(const hl_report_input_t *in, json_t **out, hl_report_error_t *err) HL_MUSTCHECK;

/* The canonical JSON of DOC without its "signature" member (what is signed), a new
 * NUL-terminated string to free(); *LEN (may be NULL) gets its length. */
int hl_report_canonical(json_t *doc, char **out, size_t *len) HL_MUSTCHECK;

/* Adds (or replaces) DOC's "signature": {"alg": "ed25519", "key_id", "value"}. */
int hl_report_sign(json_t *doc, hl_crypto_signer_t *signer) HL_MUSTCHECK;

/* 0 when DOC carries a valid ed25519 signature by PK whose key_id is PK's; otherwise
 * HL_ECRYPTO. Checks the signature only, not the structure (see hl_report_validate). */
int hl_report_verify(json_t *doc, const uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES]) HL_MUSTCHECK;
/* The same with the public key in standard base64 (as helplined signing-key show prints
 * it); a key that does not decode is HL_EINVAL. */
int hl_report_verify_b64(json_t *doc, const char *pk_b64) HL_MUSTCHECK;

/* Checks that DOC is a well-formed helpline-quarterly/1 document (signature member optional;
 * see docs/report-format.md for every rule, including: dense tables in row-major order, no
 * published non-zero count below k, totals consistent with the published cells). */
int hl_report_validate(json_t *doc, hl_report_error_t *err) HL_MUSTCHECK;

/* Parses report text (duplicate keys rejected) and validates it: HL_EINVAL with a message. */
int hl_report_parse(const char *text, size_t len, json_t **out, hl_report_error_t *err) HL_MUSTCHECK;

/* The path of "helpline report verify FILE --key PUBKEY": decodes TEXT (HL_EINVAL when it
 * is not a JSON object), checks the signature (HL_ECRYPTO), then validates (HL_EINVAL). On
 * success *OUT (may be NULL) gets the document. */
int hl_report_verify_text(const char *text, size_t len, const uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES],
                          json_t **out, hl_report_error_t *err) HL_MUSTCHECK;

/* The document as text: canonical JSON including the signature, with a final newline. */
int hl_report_to_json(json_t *doc, char **out, size_t *len) HL_MUSTCHECK;

/*
 * The long CSV form (RFC 4180: CRLF line ends, fields with , " CR or LF quoted, quotes
 * doubled): header "table,kind,dimension_1,value_1,...,dimension_N,value_N,count,suppressed"
 * with N the largest number of dimensions of DOC's tables; see docs/report-format.md.
 * DOC must be valid (HL_EINVAL otherwise). A new NUL-terminated string to free().
 */
int hl_report_to_csv(json_t *doc, char **out, size_t *len) HL_MUSTCHECK;

/*
 * The network report: verifies each INPUTS[i] with PKS[i] (HL_ECRYPTO, err names the input
 * index) and validates it (HL_EINVAL); refuses (HL_ECONFLICT) different periods, taxonomy
 * versions, table sets, dimensions or value lists, and the same helpline code twice. k is the
 * largest input k. Each cell is the sum of the published input cells, or suppressed
 * (unknown) when any input suppressed it; a total is the sum of the input totals when all
 * publish it, otherwise withheld; a line total withheld in any input stays withheld; then
 * disclosure control runs again on every table. "helpline" is NETWORK, "sources" lists the
 * inputs' codes and key ids in input order, and the result is signed with SIGNER.
 * (helpline-quarterly/1 never carries unsuppressed counts, so only published ones are summed.)
 */
int hl_report_merge(json_t *const *inputs, const uint8_t (*pks)[HL_CRYPTO_SIGN_PK_BYTES], size_t n,
                    const hl_report_helpline_t *network, const char *generated_at, hl_crypto_signer_t *signer,
                    json_t **out, hl_report_error_t *err) HL_MUSTCHECK;

#endif
