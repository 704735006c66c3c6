/*
 * helplined's subcommands. main.c parses the global options (-c FILE), loads the config
 * (hl_config_load, the same for every subcommand) and calls one of these with the remaining
 * arguments (argv[0] is the subcommand name).
 * Each returns the process exit status: 0 ok, 1 failed (message already printed),
 * 2 usage error.
 */
#ifndef HL_ADMIN_H
#define HL_ADMIN_H

#include "config.h"

typedef int (*hl_admin_fn)(int argc, char **argv, const hl_config_t *cfg);

typedef struct hl_admin_command {
    const char *name; /* "migrate", "helpline", "user", ... */
    hl_admin_fn run;
    const char *usage; /* one or more lines for --help */
} hl_admin_command_t;

int hl_admin_serve(int argc, char **argv, const hl_config_t *cfg);
int hl_admin_migrate(int argc, char **argv, const hl_config_t *cfg);
int hl_admin_helpline(int argc, char **argv, const hl_config_t *cfg);
int hl_admin_keygen(int argc, char **argv, const hl_config_t *cfg);        /* admin_keys.c */
int hl_admin_keys(int argc, char **argv, const hl_config_t *cfg);          /* admin_keys.c */
int hl_admin_signing_key(int argc, char **argv, const hl_config_t *cfg);   /* admin_keys.c */
int hl_admin_user(int argc, char **argv, const hl_config_t *cfg);          /* admin_user.c */
int hl_admin_taxonomy(int argc, char **argv, const hl_config_t *cfg);      /* admin_taxonomy.c */
int hl_admin_ingest_secret(int argc, char **argv, const hl_config_t *cfg); /* admin_ingest.c */

#endif
