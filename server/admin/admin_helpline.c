/* helplined migrate, helplined helpline add|list. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "admin/admin.h"
#include "db/db.h"
#include "db/migrate.h"

int hl_admin_migrate(int argc, char **argv, const hl_config_t *cfg)
{
    PGconn *conn = NULL;
    int applied = 0;

    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: helplined migrate [-c FILE]\n");
        return 2;
    }
    if (hl_db_connect(cfg->database_url, &conn) != HL_OK)
        return 1;
    int rc = hl_migrate_run(conn, cfg->migrations_dir, &applied);
    PQfinish(conn);
    if (rc != HL_OK)
        return 1;
    if (applied == 0)
        fprintf(stderr, "helplined: database schema is up to date\n");
    else
        fprintf(stderr, "helplined: %d migration%s applied\n", applied, applied == 1 ? "" : "s");
    return 0;
}

/* Helpline and network codes: 2..32 of [a-z0-9_-], starting with a letter or digit. */
static bool valid_code(const char *s)
{
    size_t n = strlen(s);

    if (n < 2 || n > 32 || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 200)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static const char *flag_value(int argc, char **argv, int *i, const char *flag)
{
    size_t n = strlen(flag);

    if (strcmp(argv[*i], flag) == 0)
        return *i + 1 < argc ? argv[++*i] : NULL;
    if (strncmp(argv[*i], flag, n) == 0 && argv[*i][n] == '=')
        return argv[*i] + n + 1;
    return NULL;
}

static int helpline_add(int argc, char **argv, const hl_config_t *cfg)
{
    const char *code = NULL, *name = NULL, *network = NULL;
    char country[3] = "";
    PGconn *conn = NULL;
    PGresult *res = NULL;
    int status = 1;

    for (int i = 2; i < argc; i++) {
        const char *v;
        if ((v = flag_value(argc, argv, &i, "--name")) != NULL) {
            name = v;
        } else if ((v = flag_value(argc, argv, &i, "--network")) != NULL) {
            network = v;
        } else if ((v = flag_value(argc, argv, &i, "--country")) != NULL) {
            if (strlen(v) != 2 || !isalpha((unsigned char)v[0]) || !isalpha((unsigned char)v[1])) {
                fprintf(stderr, "helplined: --country must be a two-letter ISO 3166 code such as KE\n");
                return 2;
            }
            country[0] = (char)toupper((unsigned char)v[0]);
            country[1] = (char)toupper((unsigned char)v[1]);
        } else if (argv[i][0] != '-' && code == NULL) {
            code = argv[i];
        } else {
            fprintf(stderr, "helplined: helpline add: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (code == NULL || name == NULL || country[0] == '\0') {
        fprintf(stderr, "usage: helplined helpline add CODE --name NAME --country CC [--network NET]\n");
        return 2;
    }
    if (!valid_code(code)) {
        fprintf(stderr, "helplined: CODE must be 2..32 characters of a-z, 0-9, _ and -\n");
        return 2;
    }
    if (network != NULL && !valid_code(network)) {
        fprintf(stderr, "helplined: --network must be 2..32 characters of a-z, 0-9, _ and -\n");
        return 2;
    }
    if (!valid_name(name)) {
        fprintf(stderr, "helplined: --name must be 1..200 characters without control characters\n");
        return 2;
    }
    if (hl_db_connect(cfg->database_url, &conn) != HL_OK)
        return 1;
    const char *values[4] = {code, name, country, network};
    res = PQexecParams(conn,
                       "INSERT INTO helplines (code, name, country, network) VALUES ($1, $2, $3, $4) "
                       "ON CONFLICT (code) DO NOTHING RETURNING id",
                       4, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "helplined: cannot add helpline: %s", PQerrorMessage(conn));
        goto out;
    }
    if (PQntuples(res) == 0) {
        fprintf(stderr, "helplined: helpline '%s' already exists\n", code);
        goto out;
    }
    fprintf(stderr, "helplined: helpline '%s' added (id %s)\n", code, PQgetvalue(res, 0, 0));
    status = 0;
out:
    PQclear(res);
    PQfinish(conn);
    return status;
}

static int helpline_list(const hl_config_t *cfg)
{
    PGconn *conn = NULL;
    PGresult *res;
    int status = 1;

    if (hl_db_connect(cfg->database_url, &conn) != HL_OK)
        return 1;
    res = PQexec(conn, "SELECT code, country, coalesce(network, '-'), name FROM helplines ORDER BY code");
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        for (int r = 0; r < PQntuples(res); r++)
            printf("%-32s %s %-32s %s\n", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), PQgetvalue(res, r, 2),
                   PQgetvalue(res, r, 3));
        status = 0;
    } else {
        fprintf(stderr, "helplined: cannot list helplines: %s", PQerrorMessage(conn));
    }
    PQclear(res);
    PQfinish(conn);
    return status;
}

int hl_admin_helpline(int argc, char **argv, const hl_config_t *cfg)
{
    if (argc >= 2 && strcmp(argv[1], "add") == 0)
        return helpline_add(argc, argv, cfg);
    if (argc == 2 && strcmp(argv[1], "list") == 0)
        return helpline_list(cfg);
    fprintf(stderr, "usage: helplined helpline add CODE --name NAME --country CC [--network NET]\n"
                    "       helplined helpline list\n");
    return 2;
}
