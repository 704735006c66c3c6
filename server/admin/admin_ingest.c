/* helplined ingest-secret set|remove. The secret goes to stdout, alone; messages to stderr. */
#include <sodium.h> /* sodium_memzero only */
#include <stdio.h>
#include <string.h>

#include "admin/admin.h"
#include "crypto.h"
#include "db/db.h"
#include "contacts/ingest_secrets.h"

#define USAGE_INGEST                                                                                         \
    "usage: helplined ingest-secret set --helpline CODE --system rocketchat    prints the new secret once\n" \
    "       helplined ingest-secret remove --helpline CODE --system rocketchat\n"

static const char *opt_value(int argc, char **argv, int *i, const char *flag)
{
    size_t n = strlen(flag);

    if (strcmp(argv[*i], flag) == 0)
        return *i + 1 < argc ? argv[++*i] : NULL;
    if (strncmp(argv[*i], flag, n) == 0 && argv[*i][n] == '=')
        return argv[*i] + n + 1;
    return NULL;
}

static int parse(int argc, char **argv, const char **code, const char **system)
{
    for (int i = 2; i < argc; i++) {
        const char *v;
        if ((v = opt_value(argc, argv, &i, "--helpline")) != NULL)
            *code = v;
        else if ((v = opt_value(argc, argv, &i, "--system")) != NULL)
            *system = v;
        else
            return -1;
    }
    return *code != NULL && *system != NULL ? 0 : -1;
}

static int secret_set(const char *code, const char *system, const hl_config_t *cfg)
{
    char secret[HL_INGEST_SECRET_LEN + 1];
    hl_crypto_keyring_t *kr = NULL;
    PGconn *conn = NULL;
    int status = 1;
    int rc;

    if (cfg == NULL || cfg->key_file == NULL || cfg->key_file[0] == '\0') {
        fprintf(stderr, "helplined: no key_file configured (config key_file or HELPLINE_KEY_FILE)\n");
        return 1;
    }
    if (hl_crypto_init() != HL_OK || hl_crypto_keyring_load(cfg->key_file, &kr) != HL_OK)
        goto out;
    if (hl_db_connect(cfg->database_url, &conn) != HL_OK)
        goto out;
    rc = hl_ingest_secret_set(conn, kr, code, system, secret);
    if (rc == HL_ENOTFOUND) {
        fprintf(stderr, "helplined: no helpline '%s' (add it with 'helplined helpline add')\n", code);
        goto out;
    }
    if (rc != HL_OK)
        goto out; /* logged */
    printf("%s\n", secret);
    sodium_memzero(secret, sizeof(secret));
    if (fflush(stdout) != 0) {
        fprintf(stderr, "helplined: could not write the secret; run 'ingest-secret set' again\n");
        goto out;
    }
    fprintf(stderr,
            "helplined: %s secret of helpline '%s' set (any earlier one no longer works). It is shown only\n"
            "this once; give it to %s as the webhook's secret token (X-RocketChat-Livechat-Token).\n",
            system, code, system);
    status = 0;
out:
    PQfinish(conn);
    hl_crypto_keyring_free(kr);
    return status;
}

static int secret_remove(const char *code, const char *system, const hl_config_t *cfg)
{
    PGconn *conn = NULL;
    int status = 1;
    int rc;

    if (cfg == NULL || hl_db_connect(cfg->database_url, &conn) != HL_OK)
        goto out;
    rc = hl_ingest_secret_remove(conn, code, system);
    if (rc == HL_ENOTFOUND) {
        fprintf(stderr, "helplined: helpline '%s' has no %s secret\n", code, system);
    } else if (rc == HL_OK) {
        fprintf(stderr, "helplined: %s secret of helpline '%s' removed\n", system, code);
        status = 0;
    }
out:
    PQfinish(conn);
    return status;
}

int hl_admin_ingest_secret(int argc, char **argv, const hl_config_t *cfg)
{
    const char *code = NULL, *system = NULL;
    bool set = argc >= 2 && strcmp(argv[1], "set") == 0;
    bool remove = argc >= 2 && strcmp(argv[1], "remove") == 0;

    if ((!set && !remove) || parse(argc, argv, &code, &system) != 0) {
        fputs(USAGE_INGEST, stderr);
        return 2;
    }
    if (strcmp(system, "rocketchat") != 0) {
        fprintf(stderr, "helplined: --system must be rocketchat (the only webhook front end so far)\n");
        return 2;
    }
    return set ? secret_set(code, system, cfg) : secret_remove(code, system, cfg);
}
