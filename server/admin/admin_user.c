/* helplined user add, user revoke. The token goes to stdout, alone; messages to stderr. */
#include <sodium.h> /* sodium_memzero only */
#include <stdio.h>
#include <string.h>

#include "admin/admin.h"
#include "crypto.h"
#include "db/db.h"
#include "access/users.h"

#define USAGE_USER                                                                                           \
    "usage: helplined user add NAME --role ROLE --helpline CODE\n"                                           \
    "       helplined user revoke NAME [--helpline CODE]   (--helpline when NAME is in several helplines)\n" \
    "ROLE: frontend, counsellor, supervisor, network or admin\n"

static const char *opt_value(int argc, char **argv, int *i, const char *flag)
{
    size_t n = strlen(flag);

    if (strcmp(argv[*i], flag) == 0)
        return *i + 1 < argc ? argv[++*i] : NULL;
    if (strncmp(argv[*i], flag, n) == 0 && argv[*i][n] == '=')
        return argv[*i] + n + 1;
    return NULL;
}

/* NAME and the --role/--helpline options after "user add|revoke". */
static int parse(int argc, char **argv, const char **name, const char **role, const char **code)
{
    for (int i = 2; i < argc; i++) {
        const char *v;
        if (role != NULL && (v = opt_value(argc, argv, &i, "--role")) != NULL)
            *role = v;
        else if ((v = opt_value(argc, argv, &i, "--helpline")) != NULL)
            *code = v;
        else if (argv[i][0] != '-' && *name == NULL)
            *name = argv[i];
        else
            return -1;
    }
    return *name != NULL ? 0 : -1;
}

static int user_add(int argc, char **argv, const hl_config_t *cfg)
{
    const char *name = NULL, *role = NULL, *code = NULL;
    char token[HL_CRYPTO_TOKEN_TEXT_LEN + 1];
    hl_crypto_keyring_t *kr = NULL;
    PGconn *conn = NULL;
    int64_t id = 0;
    int status = 1;
    int rc;

    if (parse(argc, argv, &name, &role, &code) != 0 || role == NULL || code == NULL) {
        fputs(USAGE_USER, stderr);
        return 2;
    }
    if (!hl_users_name_valid(name)) {
        fprintf(stderr,
                "helplined: NAME must be 1..64 of A-Z a-z 0-9 . _ -, starting with a letter or digit\n");
        return 2;
    }
    if (!hl_users_role_valid(role)) {
        fprintf(stderr, "helplined: --role must be frontend, counsellor, supervisor, network or admin\n");
        return 2;
    }
    if (cfg == NULL || cfg->key_file == NULL || cfg->key_file[0] == '\0') {
        fprintf(stderr, "helplined: no key_file configured (config key_file or HELPLINE_KEY_FILE)\n");
        return 1;
    }
    if (hl_crypto_init() != HL_OK || hl_crypto_keyring_load(cfg->key_file, &kr) != HL_OK)
        goto out;
    if (hl_db_connect(cfg->database_url, &conn) != HL_OK)
        goto out;
    rc = hl_users_add(conn, kr, code, name, role, token, &id);
    if (rc == HL_ENOTFOUND) {
        fprintf(stderr, "helplined: no helpline '%s' (add it with 'helplined helpline add')\n", code);
        goto out;
    }
    if (rc == HL_EEXIST) {
        fprintf(stderr, "helplined: helpline '%s' already has a user '%s'\n", code, name);
        goto out;
    }
    if (rc != HL_OK)
        goto out; /* logged */
    printf("%s\n", token);
    sodium_memzero(token, sizeof(token));
    if (fflush(stdout) != 0) {
        fprintf(stderr, "helplined: could not write the token; revoke user '%s' and add it again\n", name);
        goto out;
    }
    fprintf(stderr,
            "helplined: user '%s' (%s) added to helpline '%s' as id %lld. The token above is shown only\n"
            "this once and cannot be recovered; pass it as 'Authorization: Bearer TOKEN'.\n",
            name, role, code, (long long)id);
    status = 0;
out:
    PQfinish(conn);
    hl_crypto_keyring_free(kr);
    return status;
}

static int user_revoke(int argc, char **argv, const hl_config_t *cfg)
{
    const char *name = NULL, *code = NULL;
    PGconn *conn = NULL;
    bool already = false;
    int status = 1;
    int rc;

    if (parse(argc, argv, &name, NULL, &code) != 0) {
        fputs(USAGE_USER, stderr);
        return 2;
    }
    if (cfg == NULL || hl_db_connect(cfg->database_url, &conn) != HL_OK)
        goto out;
    rc = hl_users_revoke(conn, name, code, &already);
    if (rc == HL_ENOTFOUND) {
        fprintf(stderr, "helplined: no user '%s'%s%s\n", name, code != NULL ? " in helpline " : "",
                code != NULL ? code : "");
    } else if (rc == HL_ECONFLICT) {
        fprintf(stderr, "helplined: user '%s' exists in several helplines; say which with --helpline CODE\n",
                name);
    } else if (rc == HL_OK) {
        fprintf(stderr, "helplined: user '%s' %s\n", name, already ? "was already revoked" : "revoked");
        status = 0;
    }
out:
    PQfinish(conn);
    return status;
}

int hl_admin_user(int argc, char **argv, const hl_config_t *cfg)
{
    if (argc >= 2 && strcmp(argv[1], "add") == 0)
        return user_add(argc, argv, cfg);
    if (argc >= 2 && strcmp(argv[1], "revoke") == 0)
        return user_revoke(argc, argv, cfg);
    fputs(USAGE_USER, stderr);
    return 2;
}
