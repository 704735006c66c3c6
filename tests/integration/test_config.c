/*
 * api.md "helplined": every config key works for every subcommand, from the file and from
 * HELPLINE_<KEY>; a bad value of any key stops any subcommand with file, line and key; and
 * the binary run from this checkout (HL_TEST_BUILDDIR/helplined) finds the checkout's
 * taxonomy/ and migrations/ with no taxonomy_dir or migrations_dir configured.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "pgtest.h"

#define HELPLINED HL_TEST_BUILDDIR "/helplined"
#define MARKER    "2026.1-cfgtest"

extern char **environ;

static char dir[HL_TESTD_PATH_LEN];
static hl_pgtest_t db;
static bool have_db;

typedef struct {
    int status; /* exit status, -1: killed */
    char *out, *err;
} run_t;

static void run_free(run_t *r)
{
    free(r->out);
    free(r->err);
}

/* Starts helplined ARGS with no HELPLINE_* variable but ENV ("NAME=VALUE", NULL-terminated);
 * stdout and stderr into DIR/run.out and DIR/run.err. */
static pid_t spawn(const char *const *env, const char *const *args)
{
    char out_path[HL_TESTD_PATH_LEN + 16], err_path[HL_TESTD_PATH_LEN + 16];
    const char *argv[32] = {HELPLINED};
    size_t n = 1;

    for (size_t i = 0; args[i] != NULL && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    snprintf(out_path, sizeof(out_path), "%s/run.out", dir);
    snprintf(err_path, sizeof(err_path), "%s/run.err", dir);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || o < 0 || e < 0)
            _exit(127);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(in, 0);
        dup2(o, 1);
        dup2(e, 2);
        for (size_t i = 0; environ[i] != NULL;) {
            if (strncmp(environ[i], "HELPLINE_", 9) == 0) {
                char name[128];
                snprintf(name, sizeof(name), "%.*s", (int)strcspn(environ[i], "="), environ[i]);
                unsetenv(name); /* shifts environ down: look at index i again */
            } else {
                i++;
            }
        }
        for (size_t i = 0; env != NULL && env[i] != NULL; i++)
            putenv(strdup(env[i])); /* the child execs at once: no free */
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    return pid;
}

static run_t finish(pid_t pid)
{
    char path[HL_TESTD_PATH_LEN + 16];
    run_t r = {.status = -1};
    int status;

    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    snprintf(path, sizeof(path), "%s/run.out", dir);
    r.out = hl_testd_read_file(path, NULL);
    snprintf(path, sizeof(path), "%s/run.err", dir);
    r.err = hl_testd_read_file(path, NULL);
    cr_assert(r.out != NULL && r.err != NULL);
    return r;
}

/* Runs helplined ARGS to its end (see spawn). */
static run_t run(const char *const *env, const char *const *args)
{
    return finish(spawn(env, args));
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(text, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static void copy_file(const char *from, const char *to)
{
    size_t len;
    char *text = hl_testd_read_file(from, &len);

    cr_assert_not_null(text, "%s", from);
    write_file(to, text, len);
    free(text);
}

/* DIR/PATH into OUT. */
static const char *in_dir(char *out, size_t len, const char *path)
{
    snprintf(out, len, "%s/%s", dir, path);
    return out;
}

/* Rewrites TAX/categories.json (from the checkout's) with VERSION. */
static void set_version(const char *tax, const char *version)
{
    char to[PATH_MAX];
    json_error_t je;
    json_t *cats = json_load_file(HL_TEST_SRCDIR "/taxonomy/categories.json", 0, &je);

    cr_assert_not_null(cats, "%s", je.text);
    cr_assert_eq(json_object_set_new(cats, "version", json_string(version)), 0);
    snprintf(to, sizeof(to), "%s/categories.json.tmp", tax);
    cr_assert_eq(json_dump_file(cats, to, JSON_INDENT(2)), 0);
    json_decref(cats);
    char final[PATH_MAX];
    snprintf(final, sizeof(final), "%s/categories.json", tax);
    cr_assert_eq(rename(to, final), 0);
}

/* A copy of the checkout's taxonomy in DIR/tax whose version is MARKER; returns its path. */
static const char *marked_taxonomy(void)
{
    static char tax[HL_TESTD_PATH_LEN + 16];
    char from[PATH_MAX], to[PATH_MAX];
    static const char *const mappings[] = {"demo", "ph", "za", "zm"};

    in_dir(tax, sizeof(tax), "tax");
    cr_assert_eq(mkdir(tax, 0700), 0);
    snprintf(to, sizeof(to), "%s/mappings", tax);
    cr_assert_eq(mkdir(to, 0700), 0);
    set_version(tax, MARKER);
    snprintf(to, sizeof(to), "%s/terms.json", tax);
    copy_file(HL_TEST_SRCDIR "/taxonomy/terms.json", to);
    for (size_t i = 0; i < sizeof(mappings) / sizeof(mappings[0]); i++) {
        snprintf(from, sizeof(from), HL_TEST_SRCDIR "/taxonomy/mappings/%s.json", mappings[i]);
        snprintf(to, sizeof(to), "%s/mappings/%s.json", tax, mappings[i]);
        copy_file(from, to);
    }
    return tax;
}

static void setup(void)
{
    char tmpl[] = "/tmp/helpline-config-it.XXXXXX";

    cr_assert_not_null(mkdtemp(tmpl));
    snprintf(dir, sizeof(dir), "%s", tmpl);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void teardown(void)
{
    if (have_db)
        hl_pgtest_drop(&db);
    if (dir[0] != '\0')
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(config, .init = setup, .fini = teardown, .timeout = 60);

/* The bug: without -c, `taxonomy` read no configuration, so HELPLINE_TAXONOMY_DIR was ignored. */
Test(config, taxonomy_dir_from_environment)
{
    char env[HL_TESTD_PATH_LEN + 64], conf[HL_TESTD_PATH_LEN + 16], text[HL_TESTD_PATH_LEN + 64];
    const char *tax = marked_taxonomy();
    const char *envp[] = {env, NULL};
    const char *classify[] = {"taxonomy", "classify", "my friend bullies me", NULL};
    const char *check[] = {"taxonomy", "check", NULL};
    const char *show[] = {"taxonomy", "show", NULL};
    run_t r;

    snprintf(env, sizeof(env), "HELPLINE_TAXONOMY_DIR=%s", tax);
    r = run(envp, classify);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.out, "\"taxonomy_version\": \"" MARKER "\"") != NULL, "%s", r.out);
    run_free(&r);
    r = run(envp, check);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.out, "taxonomy " MARKER) != NULL, "%s", r.out);
    run_free(&r);
    r = run(envp, show);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.out, MARKER) != NULL, "%s", r.out);
    run_free(&r);

    /* From the file, and the environment beats the file. */
    snprintf(text, sizeof(text), "taxonomy_dir = %s\n", tax);
    write_file(in_dir(conf, sizeof(conf), "marked.conf"), text, strlen(text));
    const char *from_file[] = {"taxonomy", "classify", "-c", conf, "bullied", NULL};
    r = run(NULL, from_file);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.out, MARKER) != NULL, "%s", r.out);
    run_free(&r);
    snprintf(text, sizeof(text), "taxonomy_dir = %s/taxonomy\n", HL_TEST_SRCDIR);
    write_file(in_dir(conf, sizeof(conf), "plain.conf"), text, strlen(text));
    const char *env_wins[] = {"-c", conf, "taxonomy", "classify", "bullied", NULL};
    r = run(envp, env_wins);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.out, MARKER) != NULL, "%s", r.out);
    run_free(&r);
}

/* A bad value of any key stops every subcommand, also those that do not use the key, before
 * it does anything (keygen writes no key). */
Test(config, bad_value_stops_every_subcommand)
{
    char key[HL_TESTD_PATH_LEN + 16], conf[HL_TESTD_PATH_LEN + 16];
    const char *bad_env[] = {"HELPLINE_K_MIN=1", NULL};
    const char *const cmds[][8] = {
        {"taxonomy", "check", HL_TEST_SRCDIR "/taxonomy", NULL},
        {"taxonomy", "classify", "--dir", HL_TEST_SRCDIR "/taxonomy", "text", NULL},
        {"keygen", "-o", in_dir(key, sizeof(key), "master.key"), NULL},
        {"migrate", NULL},
        {"serve", NULL},
        {"helpline", "list", NULL},
        {"user", "revoke", "nobody", NULL},
        {"signing-key", "show", NULL},
        {"keys", "rotate", NULL},
        {"ingest-secret", "remove", "--helpline", "xx", "--system", "rocketchat", NULL},
    };
    struct stat st;

    const char *bad = "# bad\nsession_max = 12x\n";
    write_file(in_dir(conf, sizeof(conf), "bad.conf"), bad, strlen(bad));
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        const char *with_file[12] = {"-c", conf};
        run_t r = run(bad_env, cmds[i]);

        cr_expect_eq(r.status, 1, "%s: exit %d", cmds[i][0], r.status);
        cr_expect(strstr(r.err, "HELPLINE_K_MIN: k_min:") != NULL, "%s: %s", cmds[i][0], r.err);
        run_free(&r);
        for (size_t j = 0; cmds[i][j] != NULL; j++)
            with_file[2 + j] = cmds[i][j];
        r = run(NULL, with_file);
        cr_expect_eq(r.status, 1, "%s -c: exit %d", cmds[i][0], r.status);
        cr_expect(strstr(r.err, ":2: session_max:") != NULL && strstr(r.err, conf) != NULL, "%s: %s",
                  cmds[i][0], r.err);
        run_free(&r);
    }
    cr_assert_neq(stat(key, &st), 0, "keygen wrote a key despite a bad configuration");
}

/* build/helplined (or build/NAME/helplined) with neither taxonomy_dir nor migrations_dir set
 * uses the checkout's; the admin subcommands take every other key from the environment alone. */
Test(config, checkout_directories_and_environment_only)
{
    char src[PATH_MAX], build[PATH_MAX], want[PATH_MAX + 64], conf[HL_TESTD_PATH_LEN + 16];
    char key[HL_TESTD_PATH_LEN + 16], env_db[1200], env_key[HL_TESTD_PATH_LEN + 64];
    run_t r;

    cr_assert_not_null(realpath(HL_TEST_SRCDIR, src));
    cr_assert_not_null(realpath(HL_TEST_BUILDDIR, build));
    snprintf(want, sizeof(want), "%s/build", src);
    if (strncmp(build, want, strlen(want)) != 0)
        cr_skip_test("HL_TEST_BUILDDIR %s is not in the checkout's build/", build);

    /* An empty file: no /etc/helpline/helplined.conf of the machine, nothing configured. */
    write_file(in_dir(conf, sizeof(conf), "empty.conf"), "", 0);
    const char *check[] = {"-c", conf, "taxonomy", "check", NULL};
    r = run(NULL, check);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    snprintf(want, sizeof(want), "%s/taxonomy: taxonomy ", src);
    cr_assert(strncmp(r.out, want, strlen(want)) == 0, "want '%s', got: %s", want, r.out);
    run_free(&r);

    /* database_url and key_file from the environment only; migrations_dir from the checkout. */
    hl_pgtest_create(&db);
    have_db = true;
    snprintf(env_db, sizeof(env_db), "HELPLINE_DATABASE_URL=%s", db.conninfo);
    snprintf(env_key, sizeof(env_key), "HELPLINE_KEY_FILE=%s", in_dir(key, sizeof(key), "master.key"));
    const char *env[] = {env_db, env_key, "HELPLINE_LOG_LEVEL=warn", NULL};
    const char *const steps[][10] = {
        {"-c", conf, "keygen", "-o", key, NULL},
        {"-c", conf, "migrate", NULL},
        {"-c", conf, "helpline", "add", "cfgtest", "--name", "Config Test", "--country", "KE", NULL},
        {"-c", conf, "user", "add", "amina", "--role", "counsellor", "--helpline", "cfgtest", NULL},
        {"-c", conf, "signing-key", "show", "--helpline", "cfgtest", NULL},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        r = run(env, steps[i]);
        cr_assert_eq(r.status, 0, "helplined %s: exit %d: %s", steps[i][2], r.status, r.err);
        run_free(&r);
    }
    PGconn *conn = hl_pgtest_connect(&db);
    long migrations = hl_pgtest_scalar(conn, "SELECT count(*) FROM schema_migrations");
    long users = hl_pgtest_scalar(conn, "SELECT count(*) FROM users");
    PQfinish(conn);
    long files = 0;
    snprintf(want, sizeof(want), "%s/migrations", src);
    DIR *d = opendir(want);
    cr_assert_not_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        files += strlen(e->d_name) > 4 && strcmp(e->d_name + strlen(e->d_name) - 4, ".sql") == 0;
    closedir(d);
    cr_assert_gt(files, 0);
    cr_assert_eq(migrations, files, "%ld of %ld migrations applied", migrations, files);
    cr_assert_eq(users, 1);
}

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* Polls DIR/run.err until it holds NEEDLE (true) or DEADLINE_S pass (false). */
static bool wait_log(const char *needle, double deadline_s)
{
    char path[HL_TESTD_PATH_LEN + 16];
    double end = hl_testd_now() + deadline_s;

    snprintf(path, sizeof(path), "%s/run.err", dir);
    for (;;) {
        char *log = hl_testd_read_file(path, NULL);
        bool found = log != NULL && strstr(log, needle) != NULL;
        free(log);
        if (found)
            return true;
        if (hl_testd_now() > end)
            return false;
        usleep(20 * 1000);
    }
}

/* serve with no -c, no default file and every key from the environment; SIGHUP reloads the
 * taxonomy (it failed: the reload required the default file that start-up had skipped). */
Test(config, serve_from_environment_reloads_on_sighup)
{
    char env_db[1200], env_key[HL_TESTD_PATH_LEN + 64], env_tax[HL_TESTD_PATH_LEN + 64];
    char env_spool[HL_TESTD_PATH_LEN + 64], env_listen[64], key[HL_TESTD_PATH_LEN + 16];
    char spool[HL_TESTD_PATH_LEN + 16];
    run_t r;

    if (access(HL_CONFIG_DEFAULT_PATH, F_OK) == 0)
        cr_skip_test("this machine has %s", HL_CONFIG_DEFAULT_PATH);
    const char *tax = marked_taxonomy();
    hl_pgtest_create(&db);
    have_db = true;
    in_dir(spool, sizeof(spool), "spool");
    cr_assert_eq(mkdir(spool, 0700), 0);
    snprintf(env_db, sizeof(env_db), "HELPLINE_DATABASE_URL=%s", db.conninfo);
    snprintf(env_key, sizeof(env_key), "HELPLINE_KEY_FILE=%s", in_dir(key, sizeof(key), "master.key"));
    snprintf(env_tax, sizeof(env_tax), "HELPLINE_TAXONOMY_DIR=%s", tax);
    snprintf(env_spool, sizeof(env_spool), "HELPLINE_SPOOL_DIR=%s", spool);
    snprintf(env_listen, sizeof(env_listen), "HELPLINE_LISTEN=127.0.0.1:%d", free_port());
    const char *env[] = {env_db,
                         env_key,
                         env_tax,
                         env_spool,
                         env_listen,
                         "HELPLINE_MIGRATIONS_DIR=" HL_TEST_SRCDIR "/migrations",
                         "HELPLINE_THREADS=2",
                         NULL};
    const char *keygen[] = {"keygen", "-o", key, NULL};
    const char *migrate[] = {"migrate", NULL};
    const char *serve[] = {"serve", NULL};

    r = run(env, keygen);
    cr_assert_eq(r.status, 0, "keygen: %s", r.err);
    run_free(&r);
    r = run(env, migrate);
    cr_assert_eq(r.status, 0, "migrate: %s", r.err);
    run_free(&r);
    pid_t pid = spawn(env, serve);
    cr_assert(wait_log("helplined ready", 20), "serve did not start");
    cr_assert(wait_log("taxonomy " MARKER " loaded from ", 0));
    set_version(tax, MARKER "-reloaded");
    cr_assert_eq(kill(pid, SIGHUP), 0);
    bool reloaded = wait_log("taxonomy " MARKER "-reloaded loaded from ", 10);
    cr_assert_eq(kill(pid, SIGTERM), 0);
    r = finish(pid);
    cr_assert(reloaded, "no reload after SIGHUP: %s", r.err);
    cr_assert(strstr(r.err, "not reloaded") == NULL, "%s", r.err);
    cr_assert_eq(r.status, 0, "serve: exit %d: %s", r.status, r.err);
    run_free(&r);
}
