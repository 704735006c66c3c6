/* helplined: argument parsing and dispatch to the subcommands; no logic of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "config.h"
#include "log.h"

static const hl_admin_command_t commands[] = {
    {"serve", hl_admin_serve, "helplined [serve] [-c FILE]          run the daemon (the default subcommand)"},
    {"migrate", hl_admin_migrate,
     "helplined migrate [-c FILE]          apply pending migrations; safe to run twice"},
    {"helpline", hl_admin_helpline,
     "helplined helpline add CODE --name NAME --country CC [--network NET]\n"
     "helplined helpline list"},
    {"keygen", hl_admin_keygen,
     "helplined keygen -o FILE             new master key file (mode 0400); refuses to overwrite"},
    {"keys", hl_admin_keys,
     "helplined keys rotate                new current field key id (restart the daemon after it)\n"
     "helplined keys reencrypt [--batch N] re-seal every field still under an older key id"},
    {"user", hl_admin_user,
     "helplined user add NAME --role ROLE --helpline CODE    prints the new token once, on stdout\n"
     "helplined user revoke NAME [--helpline CODE]\n"
     "helplined user passwd NAME [--helpline CODE]   sets a web password, read from stdin"},
    {"ingest-secret", hl_admin_ingest_secret,
     "helplined ingest-secret set --helpline CODE --system rocketchat   prints the webhook secret once\n"
     "helplined ingest-secret remove --helpline CODE --system rocketchat"},
    {"signing-key", hl_admin_signing_key,
     "helplined signing-key show [--helpline CODE]   public key(s) that verify the helpline's reports"},
    {"taxonomy", hl_admin_taxonomy,
     "helplined taxonomy check [DIR] | show [DIR] | classify [--dir DIR] [--helpline CODE] TEXT|-"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: helplined [SUBCOMMAND] [-c FILE] [ARGS...]\n\n");
    for (size_t i = 0; i < HL_ARRAY_LEN(commands); i++)
        fprintf(out, "%s\n", commands[i].usage);
    fprintf(out,
            "\n-c FILE   configuration file (default %s, read when it exists); every key\n"
            "          can also be set as HELPLINE_<KEY> in the environment, which wins over\n"
            "          the file. Every subcommand reads it; a bad value of any key stops it.\n",
            HL_CONFIG_DEFAULT_PATH);
}

/* Takes "-c FILE" / "--config FILE" / "--config=FILE" out of argv, wherever it stands. */
static int take_config_option(int *argc, char **argv, const char **path)
{
    int out = 0;

    for (int i = 0; i < *argc; i++) {
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= *argc)
                return -1;
            *path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            *path = argv[i] + 9;
        } else {
            argv[out++] = argv[i];
        }
    }
    *argc = out;
    argv[out] = NULL;
    return 0;
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    const hl_admin_command_t *cmd = NULL;
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];
    int status;

    hl_log_set_ident("helplined");
    argc--;
    argv++;
    if (take_config_option(&argc, argv, &config_path) != 0) {
        fprintf(stderr, "helplined: -c needs a file\n");
        return 2;
    }
    if (argc > 0 &&
        (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc == 0) {
        static char serve_arg[] = "serve";
        static char *serve_argv[] = {serve_arg, NULL};
        argv = serve_argv;
        argc = 1;
    }
    for (size_t i = 0; i < HL_ARRAY_LEN(commands); i++)
        if (strcmp(argv[0], commands[i].name) == 0)
            cmd = &commands[i];
    if (cmd == NULL) {
        fprintf(stderr, "helplined: unknown subcommand '%s'\n\n", argv[0]);
        usage(stderr);
        return 2;
    }
    if (hl_config_load(config_path, &cfg, err) != HL_OK) {
        fprintf(stderr, "helplined: %s\n", err);
        return 1;
    }
    hl_log_set_level(cfg->log_level);
    status = cmd->run(argc, argv, cfg);
    hl_config_free(cfg);
    return status;
}
