/* helpline report fetch|verify|merge (api.md, lib/report.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "cli.h"
#include "crypto.h"
#include "report.h"
#include "report_keys.h"

static const char usage_report[] =
    "usage: helpline report fetch --year Y --quarter Q -o FILE [--helpline CODE] [--k N] [--csv] [--force]\n"
    "       helpline report verify FILE (--key PUBLIC_KEY | --keys KEYS_FILE)\n"
    "       helpline report merge FILE... -o FILE --key-file SIGNING_KEY --keys KEYS_FILE\n"
    "                             [--network CODE] [--name NAME] [--country CC] [--force]\n"
    "\n"
    "fetch   downloads the signed quarterly report (network and admin users; network users\n"
    "        may name a helpline of their network) into FILE, mode 0600; refuses to\n"
    "        overwrite FILE unless --force. --csv: the CSV form (not verifiable).\n"
    "verify  checks the signature with the helpline's public key (as 'helplined signing-key\n"
    "        show' prints it), or with the key of the report's helpline in KEYS_FILE, then\n"
    "        the report's rules; exit 0 when both hold, 1 otherwise.\n"
    "merge   verifies every FILE with its helpline's key from KEYS_FILE, adds them up into\n"
    "        the network's report (suppressed again), signs it with SIGNING_KEY (a 32-byte\n"
    "        seed file, 'helplined keygen -o FILE') and prints the public key to verify it.\n"
    "        The network code, name and country default to what the inputs share.\n"
    "\n"
    "KEYS_FILE: one line per helpline, 'CODE PUBLIC_KEY' or the output of\n"
    "'helplined signing-key show' ('CODE ed25519 KEY_ID PUBLIC_KEY'); '#' comments.\n"
    "\nOptions:\n" HL_CLI_COMMON_OPTIONS;

enum {
    O_YEAR = 0x400,
    O_QUARTER,
    O_HELPLINE,
    O_K,
    O_CSV,
    O_FORCE,
    O_KEY,
    O_KEYS,
    O_KEY_FILE,
    O_NETWORK,
    O_NAME,
    O_COUNTRY
};

typedef struct {
    const char *year, *quarter, *helpline, *k, *out, *key, *keys, *key_file, *network, *name, *country;
    bool csv, force, help;
} report_opts_t;

static int parse(hl_cli_ctx_t *ctx, int argc, char **argv, report_opts_t *o)
{
    static const struct option longopts[] = {
        {"year", required_argument, NULL, O_YEAR},
        {"quarter", required_argument, NULL, O_QUARTER},
        {"helpline", required_argument, NULL, O_HELPLINE},
        {"k", required_argument, NULL, O_K},
        {"csv", no_argument, NULL, O_CSV},
        {"force", no_argument, NULL, O_FORCE},
        {"output", required_argument, NULL, 'o'},
        {"key", required_argument, NULL, O_KEY},
        {"keys", required_argument, NULL, O_KEYS},
        {"key-file", required_argument, NULL, O_KEY_FILE},
        {"network", required_argument, NULL, O_NETWORK},
        {"name", required_argument, NULL, O_NAME},
        {"country", required_argument, NULL, O_COUNTRY},
        HL_CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int opt;

    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
        if (hl_cli_common_opt(ctx, opt, optarg))
            continue;
        switch (opt) {
        case 'h':
            o->help = true;
            break;
        case 'o':
            o->out = optarg;
            break;
        case O_YEAR:
            o->year = optarg;
            break;
        case O_QUARTER:
            o->quarter = optarg;
            break;
        case O_HELPLINE:
            o->helpline = optarg;
            break;
        case O_K:
            o->k = optarg;
            break;
        case O_CSV:
            o->csv = true;
            break;
        case O_FORCE:
            o->force = true;
            break;
        case O_KEY:
            o->key = optarg;
            break;
        case O_KEYS:
            o->keys = optarg;
            break;
        case O_KEY_FILE:
            o->key_file = optarg;
            break;
        case O_NETWORK:
            o->network = optarg;
            break;
        case O_NAME:
            o->name = optarg;
            break;
        case O_COUNTRY:
            o->country = optarg;
            break;
        default:
            return hl_cli_usage_error(ctx, usage_report, "report: %s %s",
                                      opt == ':' ? "missing value for" : "unknown option", argv[optind - 1]);
        }
    }
    return HL_CLI_EXIT_OK;
}

/* Writes LEN bytes to PATH ("-": stdout) with mode 0600; refuses an existing file unless FORCE. */
static int write_out(hl_cli_ctx_t *ctx, const char *path, bool force, const char *data, size_t len)
{
    int fd;
    size_t off = 0;

    if (strcmp(path, "-") == 0) {
        fwrite(data, 1, len, ctx->out);
        return fflush(ctx->out) == 0 ? HL_CLI_EXIT_OK : HL_CLI_EXIT_USAGE;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (force ? O_TRUNC : O_EXCL), 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            fprintf(ctx->err, "helpline: %s exists; refusing to overwrite it (--force replaces it)\n", path);
        else
            fprintf(ctx->err, "helpline: cannot create %s: %s\n", path, strerror(errno));
        return HL_CLI_EXIT_USAGE;
    }
    if (fchmod(fd, 0600) != 0)
        goto fail;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        off += (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    return HL_CLI_EXIT_OK;
fail:
    fprintf(ctx->err, "helpline: cannot write %s: %s\n", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return HL_CLI_EXIT_USAGE;
}

static const char *doc_str(json_t *doc, const char *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(json_object_get(doc, obj), key));
    return s != NULL ? s : "?";
}

static long long doc_int(json_t *doc, const char *obj, const char *key)
{
    return (long long)json_integer_value(json_object_get(json_object_get(doc, obj), key));
}

static int fetch(hl_cli_ctx_t *ctx, const report_opts_t *o)
{
    hl_cli_api_t *api = NULL;
    hl_cli_response_t resp = {0};
    hl_report_error_t rerr;
    json_t *doc = NULL;
    char path[512], *hl = NULL;
    int status, rc;

    if (o->year == NULL || o->quarter == NULL || o->out == NULL)
        return hl_cli_usage_error(ctx, usage_report, "report fetch: --year, --quarter and -o are required");
    if (strspn(o->year, "0123456789") != strlen(o->year) ||
        strspn(o->quarter, "1234") != strlen(o->quarter) || strlen(o->year) != 4 || strlen(o->quarter) != 1)
        return hl_cli_usage_error(ctx, usage_report, "report fetch: --year YYYY and --quarter 1..4");
    if (o->k != NULL && (strspn(o->k, "0123456789") != strlen(o->k) || strlen(o->k) == 0 || strlen(o->k) > 6))
        return hl_cli_usage_error(ctx, usage_report, "report fetch: --k must be a whole number");
    if (o->helpline != NULL && (hl = hl_cli_api_escape(o->helpline)) == NULL)
        return hl_cli_usage_error(ctx, NULL, "report fetch: out of memory");
    snprintf(path, sizeof(path), "/v1/reports/quarterly?year=%s&quarter=%s%s%s%s%s%s", o->year, o->quarter,
             o->csv ? "&format=csv" : "", hl != NULL ? "&helpline=" : "", hl != NULL ? hl : "",
             o->k != NULL ? "&k=" : "", o->k != NULL ? o->k : "");
    free(hl);
    if (!o->force && strcmp(o->out, "-") != 0 && access(o->out, F_OK) == 0) {
        fprintf(ctx->err, "helpline: %s exists; refusing to overwrite it (--force replaces it)\n", o->out);
        return HL_CLI_EXIT_USAGE;
    }
    status = hl_cli_connect(ctx, &api);
    if (status != HL_CLI_EXIT_OK)
        goto out;
    rc = hl_cli_api_request(api, "GET", path, o->csv ? "text/csv" : NULL, NULL, 0, &resp);
    status = hl_cli_api_report(api, ctx->err, rc, &resp);
    if (status != HL_CLI_EXIT_OK)
        goto out;
    if (!o->csv && hl_report_parse(resp.body != NULL ? resp.body : "", resp.len, &doc, &rerr) != HL_OK) {
        fprintf(ctx->err, "error: the server sent a report that is not valid: %s\n", rerr.message);
        status = HL_CLI_EXIT_SERVER;
        goto out;
    }
    status = write_out(ctx, o->out, o->force, resp.body != NULL ? resp.body : "", resp.len);
    if (status != HL_CLI_EXIT_OK || strcmp(o->out, "-") == 0)
        goto out;
    if (o->csv)
        fprintf(ctx->out, "wrote %s (CSV)\n", o->out);
    else
        fprintf(ctx->out, "wrote %s: %s %lld Q%lld, signed by key id %s\n", o->out,
                doc_str(doc, "helpline", "code"), doc_int(doc, "period", "year"),
                doc_int(doc, "period", "quarter"), doc_str(doc, "signature", "key_id"));
out:
    json_decref(doc);
    hl_cli_response_free(&resp);
    hl_cli_api_free(api);
    return status;
}

/* The helpline code a report claims (before verification: only to pick its key). */
static int claimed_code(const char *text, size_t len, char *code, size_t cap)
{
    json_t *doc = json_loadb(text, len, 0, NULL);
    const char *c = json_string_value(json_object_get(json_object_get(doc, "helpline"), "code"));
    int rc = c != NULL && strlen(c) < cap ? HL_OK : HL_EINVAL;

    if (rc == HL_OK)
        memcpy(code, c, strlen(c) + 1);
    json_decref(doc);
    return rc;
}

/* Reads FILE and verifies it with KEY (base64) or the matching key in KEYS_TEXT. Prints why not.
 * On success *DOC (optional) gets the document and PK the key. Returns an exit status. */
static int verify_one(hl_cli_ctx_t *ctx, const char *file, const char *key, const char *keys_text,
                      json_t **doc, uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES])
{
    hl_report_error_t rerr = {{0}};
    char *text = NULL, code[80], err[256], kid[HL_CRYPTO_SIGN_KEY_ID_LEN + 1];
    size_t len = 0;
    int rc, status = HL_CLI_EXIT_SERVER;

    if (hl_cli_read_file(file, &text, &len) != HL_OK) {
        fprintf(ctx->err, "helpline: cannot read %s: %s\n", file, strerror(errno));
        return HL_CLI_EXIT_USAGE;
    }
    if (key != NULL) {
        if (hl_crypto_sign_pk_from_b64(key, pk) != HL_OK) {
            status = hl_cli_usage_error(ctx, usage_report,
                                        "report: --key must be a public key, 44 characters of base64 "
                                        "(helplined signing-key show)");
            goto out;
        }
    } else {
        if (claimed_code(text, len, code, sizeof(code)) != HL_OK) {
            fprintf(ctx->err, "error: %s: not a helpline-quarterly/1 report (no helpline code)\n", file);
            goto out;
        }
        rc = hl_cli_keys_lookup(keys_text, code, pk, err, sizeof(err));
        if (rc != HL_OK) {
            fprintf(ctx->err, "error: %s: keys file: %s\n", file, err);
            status = rc == HL_ENOTFOUND ? HL_CLI_EXIT_SERVER : HL_CLI_EXIT_USAGE;
            goto out;
        }
    }
    hl_crypto_sign_key_id(pk, kid);
    rc = hl_report_verify_text(text, len, pk, doc, &rerr);
    if (rc == HL_ECRYPTO) {
        fprintf(ctx->err,
                "error: %s: the signature does not verify with key id %s: the file was changed after it was "
                "signed, or another key signed it\n",
                file, kid);
    } else if (rc == HL_EINVAL) {
        fprintf(ctx->err, "error: %s: not a valid helpline-quarterly/1 report: %s\n", file, rerr.message);
    } else if (rc != HL_OK) {
        fprintf(ctx->err, "error: %s: %s\n", file, hl_strerror(rc));
    } else {
        status = HL_CLI_EXIT_OK;
    }
out:
    free(text);
    return status;
}

static int verify(hl_cli_ctx_t *ctx, const report_opts_t *o, int nfiles, char **files)
{
    uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES];
    char *keys_text = NULL, kid[HL_CRYPTO_SIGN_KEY_ID_LEN + 1];
    size_t keys_len = 0;
    json_t *doc = NULL;
    int status;

    if (nfiles != 1)
        return hl_cli_usage_error(ctx, usage_report, "report verify: give one FILE");
    if ((o->key == NULL) == (o->keys == NULL))
        return hl_cli_usage_error(ctx, usage_report, "report verify: give --key PUBLIC_KEY or --keys FILE");
    if (o->keys != NULL && hl_cli_read_file(o->keys, &keys_text, &keys_len) != HL_OK) {
        fprintf(ctx->err, "helpline: cannot read %s: %s\n", o->keys, strerror(errno));
        return HL_CLI_EXIT_USAGE;
    }
    status = verify_one(ctx, files[0], o->key, keys_text, &doc, pk);
    if (status == HL_CLI_EXIT_OK) {
        hl_crypto_sign_key_id(pk, kid);
        fprintf(ctx->out, "verified: %s %lld Q%lld (key id %s)\n", doc_str(doc, "helpline", "code"),
                doc_int(doc, "period", "year"), doc_int(doc, "period", "quarter"), kid);
        json_t *sources = json_object_get(doc, "sources"), *s;
        size_t i;
        json_array_foreach(sources, i, s)
        {
            fprintf(ctx->out, "%s%s", i == 0 ? "  merged from: " : ", ",
                    json_string_value(json_object_get(s, "code")) != NULL
                        ? json_string_value(json_object_get(s, "code"))
                        : "?");
            if (i + 1 == json_array_size(sources))
                fputc('\n', ctx->out);
        }
    }
    json_decref(doc);
    free(keys_text);
    return status;
}

/* The value all DOCS share at OBJ.KEY, or NULL. */
static const char *shared(json_t *const *docs, size_t n, const char *obj, const char *key)
{
    const char *v = NULL;

    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_object_get(json_object_get(docs[i], obj), key));
        if (s == NULL || (v != NULL && strcmp(v, s) != 0))
            return NULL;
        v = s;
    }
    return v;
}

static int merge(hl_cli_ctx_t *ctx, const report_opts_t *o, int nfiles, char **files)
{
    json_t **docs = NULL, *merged = NULL;
    uint8_t(*pks)[HL_CRYPTO_SIGN_PK_BYTES] = NULL;
    hl_crypto_signer_t *signer = NULL;
    hl_report_error_t rerr = {{0}};
    char *keys_text = NULL, *text = NULL, generated[32], b64[HL_CRYPTO_SIGN_PK_B64_LEN + 1],
         kid[HL_CRYPTO_SIGN_KEY_ID_LEN + 1];
    size_t keys_len = 0, len = 0, n = 0;
    int status = HL_CLI_EXIT_USAGE, rc;

    if (nfiles < 1 || o->out == NULL || o->key_file == NULL || o->keys == NULL)
        return hl_cli_usage_error(
            ctx, usage_report, "report merge: give FILE... -o FILE --key-file SIGNING_KEY --keys KEYS_FILE");
    if (!o->force && strcmp(o->out, "-") != 0 && access(o->out, F_OK) == 0) {
        fprintf(ctx->err, "helpline: %s exists; refusing to overwrite it (--force replaces it)\n", o->out);
        return HL_CLI_EXIT_USAGE;
    }
    if (hl_cli_read_file(o->keys, &keys_text, &keys_len) != HL_OK) {
        fprintf(ctx->err, "helpline: cannot read %s: %s\n", o->keys, strerror(errno));
        return HL_CLI_EXIT_USAGE;
    }
    docs = calloc((size_t)nfiles, sizeof(*docs));
    pks = calloc((size_t)nfiles, sizeof(*pks));
    if (docs == NULL || pks == NULL) {
        fprintf(ctx->err, "helpline: out of memory\n");
        goto out;
    }
    for (n = 0; n < (size_t)nfiles; n++) {
        status = verify_one(ctx, files[n], NULL, keys_text, &docs[n], pks[n]);
        if (status != HL_CLI_EXIT_OK)
            goto out;
    }
    hl_report_helpline_t network = {
        .code = o->network != NULL ? o->network : shared(docs, n, "helpline", "network"),
        .country = o->country != NULL ? o->country : shared(docs, n, "helpline", "country"),
    };
    network.name = o->name != NULL ? o->name : network.code;
    status = HL_CLI_EXIT_USAGE;
    if (network.code == NULL) {
        hl_cli_usage_error(ctx, usage_report,
                           "report merge: the inputs name no common network: give --network CODE");
        goto out;
    }
    if (network.country == NULL) {
        hl_cli_usage_error(ctx, usage_report,
                           "report merge: the inputs are from several countries: give --country CC");
        goto out;
    }
    if (hl_crypto_init() != HL_OK || hl_crypto_signer_load(o->key_file, &signer) != HL_OK) {
        fprintf(ctx->err,
                "helpline: cannot load the signing key %s (a 32-byte file of mode 0400 or 0600, "
                "as 'helplined keygen -o FILE' makes)\n",
                o->key_file);
        goto out;
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(generated, sizeof(generated), "%Y-%m-%dT%H:%M:%SZ", &tm);
    rc = hl_report_merge(docs, (const uint8_t(*)[HL_CRYPTO_SIGN_PK_BYTES])pks, n, &network, generated, signer,
                         &merged, &rerr);
    if (rc != HL_OK) {
        fprintf(ctx->err, "error: cannot merge: %s\n",
                rerr.message[0] != '\0' ? rerr.message : hl_strerror(rc));
        status = HL_CLI_EXIT_SERVER;
        goto out;
    }
    if (hl_report_to_json(merged, &text, &len) != HL_OK) {
        fprintf(ctx->err, "helpline: out of memory\n");
        goto out;
    }
    status = write_out(ctx, o->out, o->force, text, len);
    if (status != HL_CLI_EXIT_OK)
        goto out;
    uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES];
    hl_crypto_signer_public_key(signer, pk);
    hl_crypto_sign_pk_to_b64(pk, b64);
    hl_crypto_sign_key_id(pk, kid);
    if (strcmp(o->out, "-") != 0) {
        fprintf(ctx->out, "merged %zu reports into %s: %s %lld Q%lld\n", n, o->out, network.code,
                doc_int(merged, "period", "year"), doc_int(merged, "period", "quarter"));
        fprintf(ctx->out, "public key: %s (key id %s)\n", b64, kid);
        fprintf(ctx->out, "recipients verify it with: helpline report verify %s --key %s\n", o->out, b64);
    } else {
        fprintf(ctx->err, "public key: %s (key id %s)\n", b64, kid);
    }
out:
    free(text);
    json_decref(merged);
    hl_crypto_signer_free(signer);
    for (size_t i = 0; docs != NULL && i < (size_t)nfiles; i++)
        json_decref(docs[i]);
    free(docs);
    free(pks);
    free(keys_text);
    return status;
}

int hl_cli_cmd_report(hl_cli_ctx_t *ctx, int argc, char **argv)
{
    report_opts_t o = {0};
    const char *sub = argc > 1 ? argv[1] : NULL;
    int status;

    if (sub == NULL)
        return hl_cli_usage_error(ctx, usage_report, "report: fetch, verify or merge?");
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        fputs(usage_report, ctx->out);
        return HL_CLI_EXIT_OK;
    }
    if (strcmp(sub, "fetch") != 0 && strcmp(sub, "verify") != 0 && strcmp(sub, "merge") != 0)
        return hl_cli_usage_error(ctx, usage_report, "report: unknown subcommand '%s'", sub);
    status = parse(ctx, argc - 1, argv + 1, &o);
    if (status != HL_CLI_EXIT_OK)
        return status;
    if (o.help) {
        fputs(usage_report, ctx->out);
        return HL_CLI_EXIT_OK;
    }
    int nfiles = argc - 1 - optind;
    char **files = argv + 1 + optind;
    if (strcmp(sub, "fetch") == 0) {
        if (nfiles != 0)
            return hl_cli_usage_error(ctx, usage_report, "report fetch: unexpected argument '%s'", files[0]);
        return fetch(ctx, &o);
    }
    if (strcmp(sub, "verify") == 0)
        return verify(ctx, &o, nfiles, files);
    return merge(ctx, &o, nfiles, files);
}
