/* helplined user add, user revoke, user passwd. The token goes to stdout, alone; messages to stderr. */
#include <errno.h>
#include <sodium.h> /* sodium_memzero only */
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "access/audit.h"
#include "access/users.h"
#include "admin/admin.h"
#include "crypto.h"
#include "db/db.h"

#define USAGE_USER                                                                                           \
    "usage: helplined user add NAME --role ROLE --helpline CODE\n"                                           \
    "       helplined user revoke NAME [--helpline CODE]   (--helpline when NAME is in several helplines)\n" \
    "       helplined user passwd NAME [--helpline CODE]   web password: one line on stdin\n"                \
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
    rc = hl_users_revoke(conn, name, code, &already, NULL);
    if (rc == HL_ENOTFOUND) {
        fprintf(stderr, "helplined: no user '%s'%s%s\n", name, code != NULL ? " in helpline " : "",
                code != NULL ? code : "");
    } else if (rc == HL_ECONFLICT) {
        fprintf(stderr, "helplined: user '%s' exists in several helplines; say which with --helpline CODE\n",
                name);
    } else if (rc == HL_OK) {
        fprintf(stderr, "helplined: user '%s' %s (token, web password and sessions)\n", name,
                already ? "was already revoked" : "revoked");
        status = 0;
    }
out:
    PQfinish(conn);
    return status;
}

/* One line of stdin into BUF (CAP bytes; the newline, and a CR before it, dropped), read byte by
 * byte so no stdio buffer keeps a copy. On a terminal the typing is not echoed. -1: nothing, or
 * an error; -2: longer than CAP - 1. */
static ssize_t read_password(const char *name, char *buf, size_t cap)
{
    struct termios saved, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    bool line = false, failed = false, too_long = false;
    size_t n = 0;

    if (tty) {
        fprintf(stderr, "web password for %s (not shown): ", name);
        quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    for (;;) {
        char c;
        ssize_t got = read(STDIN_FILENO, &c, 1);

        if (got < 0 && errno == EINTR)
            continue;
        failed = got < 0;
        line = got == 1 && c == '\n';
        if (got != 1 || c == '\n')
            break;
        if (n + 1 < cap)
            buf[n++] = c;
        else
            too_long = true; /* read to the end of the line all the same */
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        fputc('\n', stderr);
    }
    if (failed || (!line && n == 0))
        return -1;
    return too_long ? -2 : (ssize_t)n;
}

static int user_passwd(int argc, char **argv, const hl_config_t *cfg)
{
    const char *name = NULL, *code = NULL;
    char pw[HL_CRYPTO_PASSWORD_MAX_BYTES + 1], hash[HL_CRYPTO_PASSWORD_HASH_MAX], detail[96];
    PGconn *conn = NULL;
    int64_t id = 0, helpline_id = 0;
    ssize_t len;
    int status = 1;
    int rc;

    if (parse(argc, argv, &name, NULL, &code) != 0) {
        fputs(USAGE_USER, stderr);
        return 2;
    }
    len = read_password(name, pw, sizeof(pw));
    if (len == -1) {
        fprintf(stderr, "helplined: no password on stdin (one line: the password)\n");
        goto out;
    }
    if (len < 0 || !hl_crypto_password_acceptable(pw, (size_t)len)) {
        fprintf(stderr,
                "helplined: a web password needs at least %d characters and at most %d bytes; not set\n",
                HL_CRYPTO_PASSWORD_MIN_CHARS, HL_CRYPTO_PASSWORD_MAX_BYTES);
        goto out;
    }
    if (hl_crypto_init() != HL_OK || hl_crypto_password_hash(pw, (size_t)len, hash) != HL_OK) {
        fprintf(stderr, "helplined: cannot hash the password (out of memory?)\n");
        goto out;
    }
    sodium_memzero(pw, sizeof(pw));
    if (cfg == NULL || hl_db_connect(cfg->database_url, &conn) != HL_OK)
        goto out;
    rc = hl_users_set_password(conn, name, code, hash, 0, &id, &helpline_id);
    if (rc == HL_ENOTFOUND) {
        fprintf(stderr, "helplined: no user '%s'%s%s, or it is revoked\n", name,
                code != NULL ? " in helpline " : "", code != NULL ? code : "");
    } else if (rc == HL_ECONFLICT) {
        fprintf(stderr, "helplined: user '%s' exists in several helplines; say which with --helpline CODE\n",
                name);
    } else if (rc == HL_EPERM) {
        fprintf(stderr, "helplined: user '%s' is a frontend (a machine): it has a token, not a password\n",
                name);
    } else if (rc == HL_OK) {
        snprintf(detail, sizeof(detail), "user %lld (helplined user passwd)", (long long)id);
        if (hl_audit_write(conn, helpline_id, 0, HL_AUDIT_PASSWORD_SET, NULL, detail) != HL_OK)
            fprintf(stderr, "helplined: the password is set, but no audit row was written\n");
        fprintf(stderr, "helplined: web password of user '%s' set; its sessions have ended\n", name);
        status = 0;
    }
out:
    sodium_memzero(pw, sizeof(pw));
    sodium_memzero(hash, sizeof(hash));
    PQfinish(conn);
    return status;
}

int hl_admin_user(int argc, char **argv, const hl_config_t *cfg)
{
    if (argc >= 2 && strcmp(argv[1], "add") == 0)
        return user_add(argc, argv, cfg);
    if (argc >= 2 && strcmp(argv[1], "revoke") == 0)
        return user_revoke(argc, argv, cfg);
    if (argc >= 2 && strcmp(argv[1], "passwd") == 0)
        return user_passwd(argc, argv, cfg);
    fputs(USAGE_USER, stderr);
    return 2;
}
