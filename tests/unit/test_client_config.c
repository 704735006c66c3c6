/*
 * client/cli_config: URL and token resolution order (flag, environment, config file), the
 * config file format, and the refusal of config and token files others may read.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_config.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/hl-cliconf-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(client_config, .init = setup, .fini = teardown);

/* Writes TEXT to DIR/NAME with MODE; returns the path (static per call). */
static const char *put(const char *name, const char *text, mode_t mode)
{
    static char paths[4][256];
    static int next;
    char *p = paths[next++ % 4];
    FILE *f;

    snprintf(p, 256, "%s/%s", dir, name);
    f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(chmod(p, mode), 0);
    return p;
}

Test(client_config, flag_wins_over_env_and_file)
{
    char line[600];
    const char *tok = put("tok", "tok-from-file\n", 0600);
    snprintf(line, sizeof(line), "url = http://file:1\ntoken_file = %s\n", tok);
    hl_cli_config_in_t in = {.url_flag = "http://flag:1/",
                             .env_url = "http://env:1",
                             .env_token = "envtoken",
                             .config_path = put("config", line, 0600)};
    hl_cli_config_t cfg;
    char err[HL_CLI_ERR_LEN];

    cr_assert_eq(hl_cli_config_resolve(&in, &cfg, err, sizeof(err)), 0, "%s", err);
    cr_expect_str_eq(cfg.url, "http://flag:1"); /* trailing slash dropped */
    cr_expect_str_eq(cfg.token, "envtoken");    /* env before the config file */

    in.url_flag = NULL;
    in.token_file_flag = tok;
    cr_assert_eq(hl_cli_config_resolve(&in, &cfg, err, sizeof(err)), 0, "%s", err);
    cr_expect_str_eq(cfg.url, "http://env:1");
    cr_expect_str_eq(cfg.token, "tok-from-file");

    in.env_url = NULL;
    in.env_token = NULL;
    in.token_file_flag = NULL;
    cr_assert_eq(hl_cli_config_resolve(&in, &cfg, err, sizeof(err)), 0, "%s", err);
    cr_expect_str_eq(cfg.url, "http://file:1");
    cr_expect_str_eq(cfg.token, "tok-from-file");
    hl_cli_config_wipe(&cfg);
    cr_expect_eq(cfg.token[0], '\0');
}

Test(client_config, inline_token_and_comments)
{
    hl_cli_config_in_t in = {
        .config_path = put("config", "# mine\n\n  url=https://h.example/  \ntoken = abc.def\n", 0600)};
    hl_cli_config_t cfg;
    char err[HL_CLI_ERR_LEN];

    cr_assert_eq(hl_cli_config_resolve(&in, &cfg, err, sizeof(err)), 0, "%s", err);
    cr_expect_str_eq(cfg.url, "https://h.example");
    cr_expect_str_eq(cfg.token, "abc.def");
}

Test(client_config, missing_file_is_fine_but_needs_url_and_token)
{
    char path[128];
    hl_cli_config_t cfg;
    char err[HL_CLI_ERR_LEN];

    snprintf(path, sizeof(path), "%s/nope", dir);
    hl_cli_config_in_t in = {.config_path = path, .env_token = "t"};
    cr_expect_eq(hl_cli_config_resolve(&in, &cfg, err, sizeof(err)), HL_EINVAL);
    cr_expect(strstr(err, "HELPLINE_URL") != NULL, "%s", err);
    in.env_url = "http://x:1";
    in.env_token = NULL;
    cr_expect_eq(hl_cli_config_resolve(&in, &cfg, err, sizeof(err)), HL_EINVAL);
    cr_expect(strstr(err, "HELPLINE_TOKEN") != NULL, "%s", err);
    in.env_token = "t";
    cr_expect_eq(hl_cli_config_resolve(&in, &cfg, err, sizeof(err)), 0);
}

Test(client_config, refuses_readable_token_file)
{
    const char *tok = put("tok", "secret\n", 0644);
    hl_cli_config_in_t in = {.env_url = "http://x:1", .token_file_flag = tok};
    hl_cli_config_t cfg;
    char err[HL_CLI_ERR_LEN];

    cr_expect_eq(hl_cli_config_resolve(&in, &cfg, err, sizeof(err)), HL_EPERM);
    cr_expect(strstr(err, tok) != NULL, "names the file: %s", err);
    cr_expect(strstr(err, "0644") != NULL, "names the mode: %s", err);
    cr_expect(strstr(err, "secret") == NULL, "never the token: %s", err);
    cr_assert_eq(chmod(tok, 0640), 0);
    cr_expect_eq(hl_cli_config_resolve(&in, &cfg, err, sizeof(err)), HL_EPERM);
    cr_assert_eq(chmod(tok, 0400), 0);
    cr_expect_eq(hl_cli_config_resolve(&in, &cfg, err, sizeof(err)), 0, "%s", err);
    cr_expect_str_eq(cfg.token, "secret");
}

Test(client_config, refuses_readable_config_file)
{
    hl_cli_config_in_t in = {.config_path = put("config", "url = http://x:1\ntoken = t\n", 0604)};
    hl_cli_config_t cfg;
    char err[HL_CLI_ERR_LEN];

    cr_expect_eq(hl_cli_config_resolve(&in, &cfg, err, sizeof(err)), HL_EPERM);
    cr_expect(strstr(err, "config file") != NULL && strstr(err, "0604") != NULL, "%s", err);
}

Test(client_config, bad_lines_named)
{
    hl_cli_config_t cfg;
    char err[HL_CLI_ERR_LEN];
    hl_cli_config_in_t in = {.config_path = put("config", "url = http://x:1\nnonsense\n", 0600)};

    cr_expect_eq(hl_cli_config_resolve(&in, &cfg, err, sizeof(err)), HL_EINVAL);
    cr_expect(strstr(err, ":2:") != NULL, "%s", err);
    in.config_path = put("config2", "colour = blue\n", 0600);
    cr_expect_eq(hl_cli_config_resolve(&in, &cfg, err, sizeof(err)), HL_EINVAL);
    cr_expect(strstr(err, "unknown key") != NULL, "%s", err);
    in.config_path = NULL;
    in.env_url = "ftp://x";
    in.env_token = "t";
    cr_expect_eq(hl_cli_config_resolve(&in, &cfg, err, sizeof(err)), HL_EINVAL);
    cr_expect(strstr(err, "HELPLINE_URL") != NULL, "%s", err);
    in.env_url = "http://x";
    in.env_token = "has space";
    cr_expect_eq(hl_cli_config_resolve(&in, &cfg, err, sizeof(err)), HL_EINVAL);
}

Test(client_config, default_path_from_environment)
{
    char p[256];

    setenv("HELPLINE_CONFIG", "/etc/x", 1);
    cr_assert(hl_cli_config_default_path(p, sizeof(p)));
    cr_expect_str_eq(p, "/etc/x");
    unsetenv("HELPLINE_CONFIG");
    setenv("XDG_CONFIG_HOME", "/cfg", 1);
    cr_assert(hl_cli_config_default_path(p, sizeof(p)));
    cr_expect_str_eq(p, "/cfg/helpline/config");
    unsetenv("XDG_CONFIG_HOME");
    setenv("HOME", "/home/amina", 1);
    cr_assert(hl_cli_config_default_path(p, sizeof(p)));
    cr_expect_str_eq(p, "/home/amina/.config/helpline/config");
}
