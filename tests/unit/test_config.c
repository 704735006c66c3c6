#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char path[64];

static const char *write_conf(const char *text)
{
    strcpy(path, "/tmp/helpline-conf.XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void cleanup(void)
{
    if (path[0] != '\0')
        unlink(path);
    for (const char **k = (const char *[]){"HELPLINE_THREADS", "HELPLINE_LISTEN", "HELPLINE_K_MIN",
                                           "HELPLINE_LOG_LEVEL", "HELPLINE_TLS_CERT", NULL};
         *k != NULL; k++)
        unsetenv(*k);
}

TestSuite(config, .fini = cleanup);

Test(config, defaults_without_file)
{
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];

    cr_assert_eq(hl_config_load(NULL, false, &cfg, err), HL_OK, "%s", err);
    cr_assert_str_eq(cfg->listen_host, "127.0.0.1");
    cr_assert_eq(cfg->listen_port, 8080);
    cr_assert_eq(cfg->max_body_bytes, 1048576u);
    cr_assert_eq(cfg->k_min, 5);
    cr_assert_eq(cfg->threads, 8);
    cr_assert_eq(cfg->writer_connections, 2);
    cr_assert_eq(cfg->log_level, HL_LOG_INFO);
    cr_assert_null(cfg->database_url);
    cr_assert_null(cfg->tls_cert);
    hl_config_free(cfg);
}

Test(config, good_file)
{
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];
    const char *p = write_conf("# helplined test\n"
                               "\n"
                               "listen = 0.0.0.0:9090\n"
                               "  database_url =  host=/tmp dbname=helpline  \n"
                               "key_file=/etc/helpline/master.key\n"
                               "threads = 16\n"
                               "writer_connections = 16\n"
                               "max_body_bytes = 2M\n"
                               "k_min = 10\n"
                               "log_level = debug\n"
                               "tls_cert = /c.pem\n"
                               "tls_key = /k.pem\n");

    cr_assert_eq(hl_config_load(p, true, &cfg, err), HL_OK, "%s", err);
    cr_assert_str_eq(cfg->listen_host, "0.0.0.0");
    cr_assert_eq(cfg->listen_port, 9090);
    cr_assert_str_eq(cfg->database_url, "host=/tmp dbname=helpline");
    cr_assert_str_eq(cfg->key_file, "/etc/helpline/master.key");
    cr_assert_eq(cfg->threads, 16);
    cr_assert_eq(cfg->writer_connections, 16);
    cr_assert_eq(cfg->max_body_bytes, 2u << 20);
    cr_assert_eq(cfg->k_min, 10);
    cr_assert_eq(cfg->log_level, HL_LOG_DEBUG);
    cr_assert_str_eq(cfg->tls_key, "/k.pem");
    hl_config_free(cfg);
}

Test(config, ipv6_listen)
{
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];

    cr_assert_eq(hl_config_load(write_conf("listen = [::1]:8443\n"), true, &cfg, err), HL_OK, "%s", err);
    cr_assert_str_eq(cfg->listen_host, "::1");
    cr_assert_eq(cfg->listen_port, 8443);
    hl_config_free(cfg);
}

Test(config, missing_file)
{
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];

    cr_assert_eq(hl_config_load("/nonexistent/helplined.conf", true, &cfg, err), HL_EIO);
    cr_assert_null(cfg);
    cr_assert(strstr(err, "/nonexistent/helplined.conf") != NULL, "%s", err);
    /* Not required: defaults apply. */
    cr_assert_eq(hl_config_load("/nonexistent/helplined.conf", false, &cfg, err), HL_OK);
    hl_config_free(cfg);
}

/* Each bad value is refused with FILE:LINE: KEY in the message. */
Test(config, bad_values_name_file_line_key)
{
    static const struct {
        const char *text;
        int line;
        const char *key;
    } cases[] = {
        {"threads = 0\n", 1, "threads"},
        {"# c\nthreads = 257\n", 2, "threads"},
        {"\n\nthreads = eight\n", 3, "threads"},
        {"threads = 8x\n", 1, "threads"},
        {"k_min = 1\n", 1, "k_min"},
        {"writer_connections = 0\n", 1, "writer_connections"},
        {"writer_connections = 17\n", 1, "writer_connections"},
        {"max_body_bytes = 10\n", 1, "max_body_bytes"},
        {"max_body_bytes = 1T\n", 1, "max_body_bytes"},
        {"listen = localhost\n", 1, "listen"},
        {"listen = :8080\n", 1, "listen"},
        {"listen = 127.0.0.1:70000\n", 1, "listen"},
        {"log_level = loud\n", 1, "log_level"},
        {"threads = 4\nno_such_key = 1\n", 2, "no_such_key"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hl_config_t *cfg = NULL;
        char err[HL_CONFIG_ERR_LEN], want[128];
        const char *p = write_conf(cases[i].text);

        cr_assert_eq(hl_config_load(p, true, &cfg, err), HL_EINVAL, "case %zu accepted", i);
        cr_assert_null(cfg);
        snprintf(want, sizeof(want), "%s:%d: %s:", p, cases[i].line, cases[i].key);
        cr_assert(strstr(err, want) != NULL, "case %zu: '%s' lacks '%s'", i, err, want);
        unlink(p);
    }
}

Test(config, line_without_equals)
{
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];
    const char *p = write_conf("threads 8\n");

    cr_assert_eq(hl_config_load(p, true, &cfg, err), HL_EINVAL);
    cr_assert(strstr(err, ":1:") != NULL, "%s", err);
}

Test(config, tls_needs_both)
{
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];

    cr_assert_eq(hl_config_load(write_conf("tls_cert = /c.pem\n"), true, &cfg, err), HL_EINVAL);
    cr_assert(strstr(err, "tls_key") != NULL, "%s", err);
}

Test(config, environment_wins)
{
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];
    const char *p = write_conf("threads = 4\nlisten = 127.0.0.1:8080\n");

    setenv("HELPLINE_THREADS", "12", 1);
    setenv("HELPLINE_K_MIN", "7", 1);
    cr_assert_eq(hl_config_load(p, true, &cfg, err), HL_OK, "%s", err);
    cr_assert_eq(cfg->threads, 12);
    cr_assert_eq(cfg->k_min, 7);
    cr_assert_eq(cfg->listen_port, 8080);
    hl_config_free(cfg);
}

Test(config, bad_environment_value_names_variable)
{
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];

    setenv("HELPLINE_LOG_LEVEL", "shouting", 1);
    cr_assert_eq(hl_config_load(NULL, false, &cfg, err), HL_EINVAL);
    cr_assert(strstr(err, "HELPLINE_LOG_LEVEL") != NULL, "%s", err);
    cr_assert(strstr(err, "log_level") != NULL, "%s", err);
}

Test(config, empty_value_unsets_optional_key)
{
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];

    setenv("HELPLINE_TLS_CERT", "", 1);
    cr_assert_eq(hl_config_load(write_conf("tls_cert = /c.pem\n"), true, &cfg, err), HL_OK, "%s", err);
    cr_assert_null(cfg->tls_cert);
    hl_config_free(cfg);
}
