/* helplined keygen, keys rotate, keys reencrypt, signing-key show (docs/keys.md). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "crypto.h"
#include "db/db.h"
#include "admin/keys.h"
#include "admin/sealed_columns.h"

#define USAGE_KEYGEN  "usage: helplined keygen -o FILE\n"
#define USAGE_KEYS    "usage: helplined keys rotate\n       helplined keys reencrypt [--batch N]\n"
#define USAGE_SIGNING "usage: helplined signing-key show [--helpline CODE]\n"

/* "--flag VALUE" or "--flag=VALUE" at argv[*i]; NULL when argv[*i] is not FLAG. */
static const char *opt_value(int argc, char **argv, int *i, const char *flag, bool *missing)
{
    size_t n = strlen(flag);

    if (strcmp(argv[*i], flag) == 0) {
        if (*i + 1 >= argc) {
            *missing = true;
            return NULL;
        }
        return argv[++*i];
    }
    if (strncmp(argv[*i], flag, n) == 0 && argv[*i][n] == '=')
        return argv[*i] + n + 1;
    return NULL;
}

static bool have_key_file(const hl_config_t *cfg)
{
    if (cfg == NULL || cfg->key_file == NULL || cfg->key_file[0] == '\0') {
        fprintf(stderr, "helplined: no key_file configured (config key_file or HELPLINE_KEY_FILE)\n");
        return false;
    }
    return true;
}

int hl_admin_keygen(int argc, char **argv, const hl_config_t *cfg)
{
    const char *path = NULL;
    bool missing = false;
    int rc;

    (void)cfg;
    for (int i = 1; i < argc; i++) {
        const char *v = opt_value(argc, argv, &i, "-o", &missing);
        if (v == NULL && !missing)
            v = opt_value(argc, argv, &i, "--output", &missing);
        if (v == NULL || path != NULL) {
            fputs(USAGE_KEYGEN, stderr);
            return 2;
        }
        path = v;
    }
    if (path == NULL) {
        fputs(USAGE_KEYGEN, stderr);
        return 2;
    }
    if (hl_crypto_init() != HL_OK)
        return 1;
    rc = hl_crypto_keygen_file(path);
    if (rc != HL_OK)
        return 1; /* logged */
    fprintf(stderr,
            "helplined: new key written to %s (mode 0400). Keep a copy offline: without it nothing sealed\n"
            "with it can ever be read again.\n",
            path);
    return 0;
}

static int keys_rotate(const hl_config_t *cfg)
{
    uint32_t id = 0;

    if (!have_key_file(cfg) || hl_crypto_init() != HL_OK)
        return 1;
    if (hl_crypto_keyring_rotate(cfg->key_file, &id) != HL_OK)
        return 1;
    fprintf(stderr,
            "helplined: key id %u is now current (%s.d/%08u.key).\n"
            "Restart or reload every helplined so they seal with it and can open it, then run\n"
            "'helplined keys reencrypt' to re-seal the fields still under older key ids.\n",
            (unsigned)id, cfg->key_file, (unsigned)id);
    return 0;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

static bool report_progress(const hl_keys_progress_t *p, void *arg)
{
    (void)arg;
    fprintf(stderr, "helplined: %s.%s: %llu re-sealed, %llu would not open, %llu left\n", p->table, p->column,
            (unsigned long long)p->done, (unsigned long long)p->failed, (unsigned long long)p->remaining);
    return !interrupted;
}

static int keys_reencrypt(int argc, char **argv, const hl_config_t *cfg)
{
    hl_crypto_keyring_t *kr = NULL;
    hl_keys_stats_t st = {0, 0, 0, 0};
    struct sigaction sa, old_int, old_term;
    PGconn *conn = NULL;
    size_t batch = HL_KEYS_DEFAULT_BATCH;
    bool missing = false;
    int status = 1;
    int rc;

    for (int i = 2; i < argc; i++) {
        const char *v = opt_value(argc, argv, &i, "--batch", &missing);
        char *end = NULL;
        unsigned long n = v != NULL ? strtoul(v, &end, 10) : 0;
        if (v == NULL || *end != '\0' || n < 1 || n > 100000) {
            fprintf(stderr, "%shelplined: --batch takes 1..100000 rows\n", USAGE_KEYS);
            return 2;
        }
        batch = n;
    }
    if (!have_key_file(cfg) || hl_crypto_init() != HL_OK)
        return 1;
    if (hl_crypto_keyring_load(cfg->key_file, &kr) != HL_OK)
        goto out;
    if (hl_db_connect(cfg->database_url, &conn) != HL_OK)
        goto out;
    /* Ctrl-C stops after the batch in flight commits; run the command again to go on. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    fprintf(stderr, "helplined: re-sealing fields under key ids other than %u, %zu rows per batch\n",
            (unsigned)hl_crypto_keyring_current(kr), batch);
    rc = hl_keys_reencrypt(conn, kr, hl_sealed_columns, hl_sealed_columns_count, batch, report_progress, NULL,
                           &st);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    fprintf(stderr, "helplined: %llu fields re-sealed, %llu would not open, %llu still under old key ids%s\n",
            (unsigned long long)st.resealed, (unsigned long long)st.failed, (unsigned long long)st.remaining,
            st.skipped > 0 ? " (tables or columns not created yet were skipped)" : "");
    if (rc == HL_ECONFLICT)
        fprintf(stderr, "helplined: interrupted; run 'helplined keys reencrypt' again to finish\n");
    else if (rc == HL_ECRYPTO)
        fprintf(stderr,
                "helplined: fields that would not open are named in the log above; they keep their old "
                "key id\n");
    if (rc == HL_OK && st.remaining == 0)
        status = 0;
out:
    PQfinish(conn);
    hl_crypto_keyring_free(kr);
    return status;
}

int hl_admin_keys(int argc, char **argv, const hl_config_t *cfg)
{
    if (argc == 2 && strcmp(argv[1], "rotate") == 0)
        return keys_rotate(cfg);
    if (argc >= 2 && strcmp(argv[1], "reencrypt") == 0)
        return keys_reencrypt(argc, argv, cfg);
    fputs(USAGE_KEYS, stderr);
    return 2;
}

/* One line per helpline on stdout: CODE ed25519 KEY_ID PUBLIC_KEY_BASE64. */
static int signing_show(const char *code, const hl_config_t *cfg)
{
    static const char sql[] =
        "SELECT id, code FROM helplines WHERE $1::text IS NULL OR code = $1 ORDER BY code";
    hl_crypto_keyring_t *kr = NULL;
    PGconn *conn = NULL;
    PGresult *res = NULL;
    int status = 1;

    if (!have_key_file(cfg) || hl_crypto_init() != HL_OK)
        return 1;
    if (hl_crypto_keyring_load(cfg->key_file, &kr) != HL_OK)
        goto out;
    if (hl_db_connect(cfg->database_url, &conn) != HL_OK)
        goto out;
    res = PQexecParams(conn, sql, 1, NULL, &code, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "helplined: cannot read helplines: %s", PQerrorMessage(conn));
        goto out;
    }
    if (PQntuples(res) == 0) {
        if (code != NULL)
            fprintf(stderr, "helplined: no helpline '%s'\n", code);
        else
            fprintf(stderr, "helplined: no helplines yet; add one with 'helplined helpline add'\n");
        goto out;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        hl_crypto_signer_t *s = NULL;
        uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES];
        char b64[HL_CRYPTO_SIGN_PK_B64_LEN + 1], kid[HL_CRYPTO_SIGN_KEY_ID_LEN + 1];
        if (hl_crypto_signer_derive(kr, strtoull(PQgetvalue(res, r, 0), NULL, 10), &s) != HL_OK)
            goto out;
        hl_crypto_signer_public_key(s, pk);
        hl_crypto_signer_free(s);
        hl_crypto_sign_key_id(pk, kid);
        hl_crypto_sign_pk_to_b64(pk, b64);
        printf("%s ed25519 %s %s\n", PQgetvalue(res, r, 1), kid, b64);
    }
    status = fflush(stdout) == 0 ? 0 : 1;
out:
    PQclear(res);
    PQfinish(conn);
    hl_crypto_keyring_free(kr);
    return status;
}

int hl_admin_signing_key(int argc, char **argv, const hl_config_t *cfg)
{
    const char *code = NULL;
    bool missing = false;

    if (argc < 2 || strcmp(argv[1], "show") != 0) {
        fputs(USAGE_SIGNING, stderr);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        const char *v = opt_value(argc, argv, &i, "--helpline", &missing);
        if (v == NULL || code != NULL) {
            fputs(USAGE_SIGNING, stderr);
            return 2;
        }
        code = v;
    }
    return signing_show(code, cfg);
}
