#include <criterion/criterion.h>
#include <ctype.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

static char path[64];

/* Every key's environment variable, unset after each test. */
static const char *const env_names[] = {
    "HELPLINE_LISTEN",
    "HELPLINE_DATABASE_URL",
    "HELPLINE_READ_DATABASE_URL",
    "HELPLINE_KEY_FILE",
    "HELPLINE_SPOOL_DIR",
    "HELPLINE_THREADS",
    "HELPLINE_MAX_CONNECTIONS",
    "HELPLINE_MAX_CONNECTIONS_PER_IP",
    "HELPLINE_HEADER_TIMEOUT_SECONDS",
    "HELPLINE_WRITER_CONNECTIONS",
    "HELPLINE_MAX_BODY_BYTES",
    "HELPLINE_K_MIN",
    "HELPLINE_TAXONOMY_DIR",
    "HELPLINE_MIGRATIONS_DIR",
    "HELPLINE_WEB_DIR",
    "HELPLINE_TLS_CERT",
    "HELPLINE_TLS_KEY",
    "HELPLINE_LOG_LEVEL",
    "HELPLINE_SESSION_IDLE",
    "HELPLINE_SESSION_MAX",
    "HELPLINE_TOKEN_CACHE_SECONDS",
};

/* FILE (NULL: none, or required), no checkout lookup: what the tests below load. */
static int load(const char *file, bool required, hl_config_t **cfg, char err[HL_CONFIG_ERR_LEN])
{
    const hl_config_source_t src = {.file = file, .required = required, .exe = NULL};

    return hl_config_load_from(&src, cfg, err);
}

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
    for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
        unsetenv(env_names[i]);
}

TestSuite(config, .fini = cleanup);

Test(config, defaults_without_file)
{
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];

    cr_assert_eq(load(NULL, false, &cfg, err), HL_OK, "%s", err);
    cr_assert_str_eq(cfg->listen_host, "127.0.0.1");
    cr_assert_eq(cfg->listen_port, 8080);
    cr_assert_eq(cfg->max_body_bytes, 1048576u);
    cr_assert_eq(cfg->k_min, 5);
    cr_assert_eq(cfg->threads, 8);
    cr_assert_eq(cfg->max_connections, 4096);
    cr_assert_eq(cfg->max_connections_per_ip, 512);
    cr_assert_eq(cfg->header_timeout_seconds, 10);
    cr_assert_eq(cfg->writer_connections, 2);
    cr_assert_eq(cfg->log_level, HL_LOG_INFO);
    cr_assert_null(cfg->database_url);
    cr_assert_null(cfg->read_database_url);
    cr_assert_null(cfg->tls_cert);
    cr_assert_eq(cfg->session_idle, 30 * 60);
    cr_assert_eq(cfg->session_max, 12 * 3600);
    /* No binary to place in a checkout: the installed data directories. */
    cr_assert_str_eq(cfg->taxonomy_dir, HL_DATADIR "/taxonomy");
    cr_assert_str_eq(cfg->migrations_dir, HL_DATADIR "/migrations");
    cr_assert_str_eq(cfg->web_dir, HL_DATADIR "/web");
    cr_assert_null(cfg->source_path);
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
                               "tls_key = /k.pem\n"
                               "read_database_url = postgresql://reader@standby/helpline\n"
                               "web_dir = /srv/web\n"
                               "session_idle = 15m\n"
                               "session_max = 1d\n");

    cr_assert_eq(load(p, true, &cfg, err), HL_OK, "%s", err);
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
    cr_assert_str_eq(cfg->read_database_url, "postgresql://reader@standby/helpline");
    cr_assert_str_eq(cfg->web_dir, "/srv/web");
    cr_assert_eq(cfg->session_idle, 15 * 60);
    cr_assert_eq(cfg->session_max, 24 * 3600);
    hl_config_free(cfg);
}

Test(config, ipv6_listen)
{
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];

    cr_assert_eq(load(write_conf("listen = [::1]:8443\n"), true, &cfg, err), HL_OK, "%s", err);
    cr_assert_str_eq(cfg->listen_host, "::1");
    cr_assert_eq(cfg->listen_port, 8443);
    hl_config_free(cfg);
}

Test(config, missing_file)
{
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];

    cr_assert_eq(load("/nonexistent/helplined.conf", true, &cfg, err), HL_EIO);
    cr_assert_null(cfg);
    cr_assert(strstr(err, "/nonexistent/helplined.conf") != NULL, "%s", err);
    /* Not required: defaults apply. */
    cr_assert_eq(load("/nonexistent/helplined.conf", false, &cfg, err), HL_OK);
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
        {"max_connections = 15\n", 1, "max_connections"},
        {"max_connections = 65537\n", 1, "max_connections"},
        {"max_connections_per_ip = 0\n", 1, "max_connections_per_ip"},
        {"header_timeout_seconds = 0\n", 1, "header_timeout_seconds"},
        {"header_timeout_seconds = 301\n", 1, "header_timeout_seconds"},
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
        {"session_idle = 0\n", 1, "session_idle"},
        {"session_idle = 30\n", 1, "session_idle"}, /* seconds: under a minute */
        {"session_idle = 30x\n", 1, "session_idle"},
        {"session_idle = 30M\n", 1, "session_idle"},
        {"session_idle = m\n", 1, "session_idle"},
        {"session_idle = -5m\n", 1, "session_idle"},
        {"session_idle = 25h\n", 1, "session_idle"},
        {"session_max = 31d\n", 1, "session_max"},
        {"session_max = 99999999999999999d\n", 1, "session_max"},
        {"\ndatabase_url = host=/tmp no_such_option=1\n", 2, "database_url"},
        {"read_database_url = postgresql://[::1\n", 1, "read_database_url"},
        {"read_database_url = host=standby dbname\n", 1, "read_database_url"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hl_config_t *cfg = NULL;
        char err[HL_CONFIG_ERR_LEN], want[128];
        const char *p = write_conf(cases[i].text);

        cr_assert_eq(load(p, true, &cfg, err), HL_EINVAL, "case %zu accepted", i);
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

    cr_assert_eq(load(p, true, &cfg, err), HL_EINVAL);
    cr_assert(strstr(err, ":1:") != NULL, "%s", err);
}

Test(config, tls_needs_both)
{
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];

    cr_assert_eq(load(write_conf("tls_cert = /c.pem\n"), true, &cfg, err), HL_EINVAL);
    cr_assert(strstr(err, "tls_key") != NULL, "%s", err);
}

Test(config, environment_wins)
{
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];
    const char *p = write_conf("threads = 4\nlisten = 127.0.0.1:8080\n");

    setenv("HELPLINE_THREADS", "12", 1);
    setenv("HELPLINE_K_MIN", "7", 1);
    cr_assert_eq(load(p, true, &cfg, err), HL_OK, "%s", err);
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
    cr_assert_eq(load(NULL, false, &cfg, err), HL_EINVAL);
    cr_assert(strstr(err, "HELPLINE_LOG_LEVEL") != NULL, "%s", err);
    cr_assert(strstr(err, "log_level") != NULL, "%s", err);
}

Test(config, empty_value_unsets_optional_key)
{
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];

    setenv("HELPLINE_TLS_CERT", "", 1);
    cr_assert_eq(load(write_conf("tls_cert = /c.pem\n"), true, &cfg, err), HL_OK, "%s", err);
    cr_assert_null(cfg->tls_cert);
    hl_config_free(cfg);
}

Test(config, session_idle_longer_than_max)
{
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];
    const char *p = write_conf("session_idle = 2h\nsession_max = 1h\n");

    cr_assert_eq(load(p, true, &cfg, err), HL_EINVAL);
    cr_assert(strstr(err, p) != NULL && strstr(err, "session_idle") != NULL, "%s", err);
}

/* A bad connection string is refused without quoting it: it may carry a password. */
Test(config, bad_conninfo_not_quoted)
{
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];

    setenv("HELPLINE_READ_DATABASE_URL", "host=standby password=hunter2secret sslmode", 1);
    cr_assert_eq(load(NULL, false, &cfg, err), HL_EINVAL);
    cr_assert(strstr(err, "HELPLINE_READ_DATABASE_URL: read_database_url:") != NULL, "%s", err);
    cr_assert(strstr(err, "hunter2") == NULL && strstr(err, "standby") == NULL, "%s", err);
}

/* What libpq takes as a database name (db.c expands it) stays valid. */
Test(config, conninfo_forms)
{
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];
    const char *p = write_conf("database_url = helpline\n"
                               "read_database_url = host=/var/run/postgresql port=5433 "
                               "options='-c statement_timeout=5s' dbname=helpline\n");

    cr_assert_eq(load(p, true, &cfg, err), HL_OK, "%s", err);
    cr_assert_str_eq(cfg->database_url, "helpline");
    hl_config_free(cfg);
}

/* The parsed value of KEY as text, to compare file and environment for every key alike. */
static void value_of(const hl_config_t *cfg, const char *key, char *out, size_t len)
{
    static const struct {
        const char *key;
        size_t offset;
    } strings[] = {
        {"database_url", offsetof(hl_config_t, database_url)},
        {"read_database_url", offsetof(hl_config_t, read_database_url)},
        {"key_file", offsetof(hl_config_t, key_file)},
        {"spool_dir", offsetof(hl_config_t, spool_dir)},
        {"taxonomy_dir", offsetof(hl_config_t, taxonomy_dir)},
        {"migrations_dir", offsetof(hl_config_t, migrations_dir)},
        {"web_dir", offsetof(hl_config_t, web_dir)},
        {"tls_cert", offsetof(hl_config_t, tls_cert)},
        {"tls_key", offsetof(hl_config_t, tls_key)},
    };

    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        if (strcmp(key, strings[i].key) == 0) {
            const char *v = *(char *const *)((const char *)cfg + strings[i].offset);
            snprintf(out, len, "%s", v != NULL ? v : "(null)");
            return;
        }
    }
    if (strcmp(key, "listen") == 0)
        snprintf(out, len, "%s:%d", cfg->listen_host, cfg->listen_port);
    else if (strcmp(key, "threads") == 0)
        snprintf(out, len, "%d", cfg->threads);
    else if (strcmp(key, "max_connections") == 0)
        snprintf(out, len, "%d", cfg->max_connections);
    else if (strcmp(key, "max_connections_per_ip") == 0)
        snprintf(out, len, "%d", cfg->max_connections_per_ip);
    else if (strcmp(key, "header_timeout_seconds") == 0)
        snprintf(out, len, "%d", cfg->header_timeout_seconds);
    else if (strcmp(key, "writer_connections") == 0)
        snprintf(out, len, "%d", cfg->writer_connections);
    else if (strcmp(key, "max_body_bytes") == 0)
        snprintf(out, len, "%zu", cfg->max_body_bytes);
    else if (strcmp(key, "k_min") == 0)
        snprintf(out, len, "%d", cfg->k_min);
    else if (strcmp(key, "log_level") == 0)
        snprintf(out, len, "%d", (int)cfg->log_level);
    else if (strcmp(key, "session_idle") == 0)
        snprintf(out, len, "%d", cfg->session_idle);
    else if (strcmp(key, "session_max") == 0)
        snprintf(out, len, "%d", cfg->session_max);
    else if (strcmp(key, "token_cache_seconds") == 0)
        snprintf(out, len, "%d", cfg->token_cache_seconds);
    else
        cr_assert_fail("test bug: no accessor for %s", key);
}

/* token_cache_seconds bounds how long a revocation takes to reach a daemon (server/access/auth.h): 1..30. */
Test(config, token_cache_seconds_at_most_30)
{
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];

    cr_assert_eq(load(NULL, false, &cfg, err), HL_OK, "%s", err);
    cr_expect_eq(cfg->token_cache_seconds, 30);
    hl_config_free(cfg);
    cfg = NULL;
    cr_assert_eq(load(write_conf("token_cache_seconds = 1\n"), true, &cfg, err), HL_OK, "%s", err);
    cr_expect_eq(cfg->token_cache_seconds, 1);
    hl_config_free(cfg);
    cfg = NULL;
    const char *bad[] = {"0", "31", "-1", "30s", "3600", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[64];
        snprintf(text, sizeof(text), "token_cache_seconds = %s\n", bad[i]);
        cr_expect_eq(load(write_conf(text), true, &cfg, err), HL_EINVAL, "token_cache_seconds = '%s'",
                     bad[i]);
        cr_expect(strstr(err, "token_cache_seconds") != NULL, "%s", err);
    }
}

/* Every key (env_names): the file's value applies, HELPLINE_<KEY> beats it. */
Test(config, environment_beats_file_for_every_key)
{
    static const struct {
        const char *key, *file, *file_parsed, *env, *env_parsed;
    } cases[] = {
        {"listen", "127.0.0.1:9001", "127.0.0.1:9001", "[::1]:9002", "::1:9002"},
        {"database_url", "dbname=a", "dbname=a", "dbname=b", "dbname=b"},
        {"read_database_url", "dbname=r1", "dbname=r1", "postgresql:///r2", "postgresql:///r2"},
        {"key_file", "/k1", "/k1", "/k2", "/k2"},
        {"spool_dir", "/s1", "/s1", "/s2", "/s2"},
        {"threads", "3", "3", "5", "5"},
        {"max_connections", "100", "100", "200", "200"},
        {"max_connections_per_ip", "10", "10", "20", "20"},
        {"header_timeout_seconds", "5", "5", "7", "7"},
        {"writer_connections", "3", "3", "4", "4"},
        {"max_body_bytes", "2K", "2048", "3M", "3145728"},
        {"k_min", "6", "6", "9", "9"},
        {"taxonomy_dir", "/t1", "/t1", "/t2", "/t2"},
        {"migrations_dir", "/m1", "/m1", "/m2", "/m2"},
        {"web_dir", "/w1", "/w1", "/w2", "/w2"},
        {"tls_cert", "/c1", "/c1", "/c2", "/c2"},
        {"tls_key", "/k1", "/k1", "/k2", "/k2"},
        {"log_level", "warn", "2", "error", "3"},
        {"session_idle", "10m", "600", "2h", "7200"},
        {"session_max", "1h", "3600", "2d", "172800"},
        {"token_cache_seconds", "10", "10", "2", "2"},
    };
    char text[1024] = "", got[256];
    size_t n = 0;
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];

    cr_assert_eq(sizeof(cases) / sizeof(cases[0]), sizeof(env_names) / sizeof(env_names[0]));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s = %s\n", cases[i].key, cases[i].file);
    cr_assert_lt(n, sizeof(text));
    const char *p = write_conf(text);

    cr_assert_eq(load(p, true, &cfg, err), HL_OK, "%s", err);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        value_of(cfg, cases[i].key, got, sizeof(got));
        cr_expect_str_eq(got, cases[i].file_parsed, "file: %s", cases[i].key);
    }
    hl_config_free(cfg);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char env[64] = "HELPLINE_";
        for (size_t j = 0; cases[i].key[j] != '\0'; j++)
            env[9 + j] = (char)toupper((unsigned char)cases[i].key[j]);
        setenv(env, cases[i].env, 1);
    }
    cr_assert_eq(load(p, true, &cfg, err), HL_OK, "%s", err);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        value_of(cfg, cases[i].key, got, sizeof(got));
        cr_expect_str_eq(got, cases[i].env_parsed, "environment: %s", cases[i].key);
    }
    hl_config_free(cfg);
}

/* A temporary fake checkout: ROOT/{build,build/x,build/x/y,other}/helplined, ROOT/taxonomy/
 * categories.json, ROOT/migrations/. */
static char fake_root[PATH_MAX];

static void touch(const char *rel)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/%s", fake_root, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0700);
    cr_assert(fd >= 0, "%s", p);
    close(fd);
}

static void mkdir_in(const char *rel)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/%s", fake_root, rel);
    cr_assert_eq(mkdir(p, 0700), 0, "%s", p);
}

static const char *in_root(const char *rel)
{
    static char p[4][PATH_MAX + 64];
    static int next;
    char *s = p[next++ % 4];
    snprintf(s, sizeof(p[0]), "%s/%s", fake_root, rel);
    return s;
}

static void make_checkout(void)
{
    char tmpl[] = "/tmp/helpline-checkout.XXXXXX";

    cr_assert_not_null(mkdtemp(tmpl));
    cr_assert_not_null(realpath(tmpl, fake_root));
    mkdir_in("build");
    mkdir_in("build/x");
    mkdir_in("build/x/y");
    mkdir_in("other");
    mkdir_in("taxonomy");
    mkdir_in("migrations");
    touch("taxonomy/categories.json");
    touch("build/helplined");
    touch("build/x/helplined");
    touch("build/x/y/helplined");
    touch("other/helplined");
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void remove_checkout(void)
{
    cleanup();
    if (fake_root[0] != '\0')
        nftw(fake_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(config_checkout, .init = make_checkout, .fini = remove_checkout);

Test(config_checkout, root_found_from_build_and_build_name)
{
    char root[PATH_MAX];

    cr_assert(hl_config_checkout_root(in_root("build/helplined"), root));
    cr_assert_str_eq(root, fake_root);
    cr_assert(hl_config_checkout_root(in_root("build/x/helplined"), root));
    cr_assert_str_eq(root, fake_root);
    /* Through a symbolic link (/usr/local/sbin/helplined -> checkout/build/helplined). */
    cr_assert_eq(symlink(in_root("build/x/helplined"), in_root("link")), 0);
    cr_assert(hl_config_checkout_root(in_root("link"), root));
    cr_assert_str_eq(root, fake_root);
}

Test(config_checkout, not_a_checkout)
{
    char root[PATH_MAX];

    cr_assert_not(hl_config_checkout_root(in_root("build/x/y/helplined"), root));
    cr_assert_not(hl_config_checkout_root(in_root("other/helplined"), root));
    cr_assert_not(hl_config_checkout_root(in_root("build/missing"), root));
    cr_assert_not(hl_config_checkout_root("helplined", root));
    /* A build directory without the checkout's taxonomy is not one. */
    cr_assert_eq(unlink(in_root("taxonomy/categories.json")), 0);
    cr_assert_not(hl_config_checkout_root(in_root("build/helplined"), root));
    /* Nor with a directory where the file should be. */
    mkdir_in("taxonomy/categories.json");
    cr_assert_not(hl_config_checkout_root(in_root("build/helplined"), root));
}

Test(config_checkout, unset_data_dirs_default_to_the_checkout)
{
    const hl_config_source_t src = {.file = NULL, .exe = in_root("build/x/helplined")};
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];

    cr_assert_eq(hl_config_load_from(&src, &cfg, err), HL_OK, "%s", err);
    cr_assert_str_eq(cfg->taxonomy_dir, in_root("taxonomy"));
    cr_assert_str_eq(cfg->migrations_dir, in_root("migrations"));
    cr_assert_str_eq(cfg->web_dir, HL_DATADIR "/web"); /* no client/web in this checkout */
    hl_config_free(cfg);

    mkdir_in("client");
    mkdir_in("client/web");
    cr_assert_eq(hl_config_load_from(&src, &cfg, err), HL_OK, "%s", err);
    cr_assert_str_eq(cfg->web_dir, in_root("client/web"));
    hl_config_free(cfg);

    /* Not from a checkout: the installed ones. */
    const hl_config_source_t other = {.file = NULL, .exe = in_root("other/helplined")};
    cr_assert_eq(hl_config_load_from(&other, &cfg, err), HL_OK, "%s", err);
    cr_assert_str_eq(cfg->taxonomy_dir, HL_DATADIR "/taxonomy");
    cr_assert_str_eq(cfg->migrations_dir, HL_DATADIR "/migrations");
    cr_assert_str_eq(cfg->web_dir, HL_DATADIR "/web");
    hl_config_free(cfg);
}

/* The file and the environment win over the checkout; an empty value falls back to it. */
Test(config_checkout, configured_dirs_win)
{
    hl_config_source_t src = {.file = write_conf("taxonomy_dir = /srv/tax\nweb_dir =\n"),
                              .required = true,
                              .exe = in_root("build/helplined")};
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];

    setenv("HELPLINE_MIGRATIONS_DIR", "/srv/mig", 1);
    cr_assert_eq(hl_config_load_from(&src, &cfg, err), HL_OK, "%s", err);
    cr_assert_str_eq(cfg->taxonomy_dir, "/srv/tax");
    cr_assert_str_eq(cfg->migrations_dir, "/srv/mig");
    cr_assert_str_eq(cfg->web_dir, HL_DATADIR "/web");
    hl_config_free(cfg);

    setenv("HELPLINE_TAXONOMY_DIR", "", 1);
    cr_assert_eq(hl_config_load_from(&src, &cfg, err), HL_OK, "%s", err);
    cr_assert_str_eq(cfg->taxonomy_dir, in_root("taxonomy"));
    hl_config_free(cfg);
}

/* hl_config_load keeps -c FILE for SIGHUP; a -c FILE that does not exist is an error. */
Test(config, load_keeps_option)
{
    hl_config_t *cfg = NULL;
    char err[HL_CONFIG_ERR_LEN];
    const char *p = write_conf("threads = 3\n");

    cr_assert_eq(hl_config_load(p, &cfg, err), HL_OK, "%s", err);
    cr_assert_str_eq(cfg->source_path, p);
    cr_assert_eq(cfg->threads, 3);
    hl_config_free(cfg);
    cr_assert_eq(hl_config_load("/nonexistent/helplined.conf", &cfg, err), HL_EIO);
}
