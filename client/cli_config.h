/*
 * Where the client finds the daemon and its token.
 *
 * URL: --url, then HELPLINE_URL, then "url = ..." in the config file.
 * Token: --token-file FILE, then HELPLINE_TOKEN, then "token_file = FILE" or "token = ..."
 * in the config file. The config file is HELPLINE_CONFIG, else
 * $XDG_CONFIG_HOME/helpline/config, else ~/.config/helpline/config; a missing file is fine.
 * A config or token file that group or others may read or write is refused, with its name
 * and mode (chmod 600 fixes it). Lines are "key = value"; "#" starts a comment line.
 */
#ifndef HL_CLI_CONFIG_H
#define HL_CLI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define HL_CLI_URL_MAX   1024
#define HL_CLI_TOKEN_MAX 256
#define HL_CLI_PATH_MAX  1024
#define HL_CLI_ERR_LEN   1280

/* What the resolution reads; NULL members are "not given". */
typedef struct hl_cli_config_in {
    const char *url_flag;        /* --url */
    const char *token_file_flag; /* --token-file */
    const char *env_url;         /* HELPLINE_URL */
    const char *env_token;       /* HELPLINE_TOKEN */
    const char *config_path;     /* the config file to read (need not exist) */
} hl_cli_config_in_t;

typedef struct hl_cli_config {
    char url[HL_CLI_URL_MAX];     /* without a trailing "/" */
    char token[HL_CLI_TOKEN_MAX]; /* wipe with hl_cli_config_wipe */
} hl_cli_config_t;

/* The config file path from the environment (HELPLINE_CONFIG, XDG_CONFIG_HOME, HOME) into
 * OUT; false when none can be made. */
bool hl_cli_config_default_path(char *out, size_t cap);

/* Fills IN from the environment (env_url, env_token, config_path); flags stay NULL. */
void hl_cli_config_from_env(hl_cli_config_in_t *in, char *path_buf, size_t path_cap);

/*
 * Resolves URL and token. HL_EINVAL (no URL or no token, a malformed line, a bad URL),
 * HL_EPERM (a file readable by group or others), HL_EIO (an unreadable file): ERR gets
 * a message for the user naming the file, the line or the variable (never the token).
 */
int hl_cli_config_resolve(const hl_cli_config_in_t *in, hl_cli_config_t *out, char *err,
                          size_t errlen) HL_MUSTCHECK;

/* Wipes the token. */
void hl_cli_config_wipe(hl_cli_config_t *cfg);

#endif
