#include "pgbouncer.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_DEADLINE_MS 10000
#define STOP_DEADLINE_MS  5000
/* Any port: the socket lives in the bouncer's own directory. */
#define LISTEN_PORT 6432

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

bool hl_testbouncer_available(void)
{
    return access(HL_TESTBOUNCER_BIN, X_OK) == 0;
}

/* The last part of the log, for a failure message (static buffer). */
static const char *log_tail(const hl_testbouncer_t *b)
{
    static char tail[2048];
    FILE *f = fopen(b->log, "r");
    size_t n = 0;
    long size;

    tail[0] = '\0';
    if (f == NULL)
        return "(no log)";
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
        fseek(f, size > (long)sizeof(tail) - 1 ? size - (long)sizeof(tail) + 1 : 0, SEEK_SET) == 0)
        n = fread(tail, 1, sizeof(tail) - 1, f);
    tail[n] = '\0';
    fclose(f);
    return tail;
}

/* VALUE of KEY in the libpq connection string CONNINFO, or FALLBACK. */
static void conninfo_get(const char *conninfo, const char *key, const char *fallback, char *out, size_t len)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);

    cr_assert_not_null(opts, "cannot parse the cluster's connection string: %s", err != NULL ? err : "?");
    snprintf(out, len, "%s", fallback);
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (strcmp(o->keyword, key) == 0 && o->val != NULL && *o->val != '\0')
            snprintf(out, len, "%s", o->val);
    PQconninfoFree(opts);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(text, f);
    cr_assert_eq(fclose(f), 0, "%s: %s", path, strerror(errno));
}

static void write_config(hl_testbouncer_t *b, const hl_testbouncer_opts_t *opts)
{
    const char *backend = opts != NULL && opts->backend != NULL ? opts->backend : getenv("HL_TEST_PG_URL");
    const char *pool_mode = opts != NULL && opts->pool_mode != NULL ? opts->pool_mode : "transaction";
    int pool_size = opts != NULL && opts->pool_size > 0 ? opts->pool_size : 2;
    struct passwd *me = getpwuid(geteuid());
    char host[HL_TESTBOUNCER_PATH_LEN], port[16], path[HL_TESTBOUNCER_PATH_LEN + 32], text[4096];

    cr_assert(backend != NULL && *backend != '\0',
              "no cluster for PgBouncer: HL_TEST_PG_URL is not set (run through scripts/with-pg)");
    conninfo_get(backend, "host", "/var/run/postgresql", host, sizeof(host));
    conninfo_get(backend, "port", "5432", port, sizeof(port));
    conninfo_get(backend, "user", me != NULL ? me->pw_name : "postgres", b->user, sizeof(b->user));

    /* trust still wants the user in the auth file; the password field is not checked. */
    snprintf(path, sizeof(path), "%s/userlist.txt", b->dir);
    snprintf(text, sizeof(text), "\"%s\" \"\"\n", b->user);
    write_file(path, text);

    /* Transaction pooling (server_reset_query runs in session mode only): what a client leaves
     * on a server connection, the next client that gets it sees. */
    snprintf(path, sizeof(path), "%s/pgbouncer.ini", b->dir);
    snprintf(text, sizeof(text),
             "; written by tests/support/pgbouncer.c\n"
             "[databases]\n"
             "* = host=%s port=%s\n"
             "[pgbouncer]\n"
             "unix_socket_dir = %s\n"
             "listen_port = %d\n"
             "auth_type = trust\n"
             "auth_file = %s/userlist.txt\n"
             "pool_mode = %s\n"
             "default_pool_size = %d\n"
             "min_pool_size = 0\n"
             "reserve_pool_size = 0\n"
             "max_client_conn = 1000\n"
             "log_connections = 0\n"
             "log_disconnections = 0\n"
             "ignore_startup_parameters = extra_float_digits\n",
             host, port, b->dir, b->port, b->dir, pool_mode, pool_size);
    write_file(path, text);
}

/* The child: as the postgres user when root (PgBouncer refuses root), in the foreground, logging
 * to stderr, which is the log file (opened before the change of user), dead with the test process. */
static void exec_bouncer(const hl_testbouncer_t *b, const struct passwd *pg)
{
    char ini[HL_TESTBOUNCER_PATH_LEN + 32];
    int fd = open(b->log, O_WRONLY | O_APPEND | O_CREAT, 0644);

    if (fd < 0)
        _exit(126);
    if (pg != NULL && (setgroups(0, NULL) != 0 || setgid(pg->pw_gid) != 0 || setuid(pg->pw_uid) != 0))
        _exit(126);
    /* After setuid: a change of credentials clears the death signal. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
    snprintf(ini, sizeof(ini), "%s/pgbouncer.ini", b->dir);
    execl(HL_TESTBOUNCER_BIN, HL_TESTBOUNCER_BIN, ini, (char *)NULL);
    _exit(127);
}

void hl_testbouncer_start(hl_testbouncer_t *b, const hl_testbouncer_opts_t *opts)
{
    char tmpl[] = "/tmp/helpline-bouncer.XXXXXX";
    const struct passwd *pg = NULL;
    char conninfo[HL_TESTBOUNCER_PATH_LEN + 128];

    memset(b, 0, sizeof(*b));
    cr_assert(hl_testbouncer_available(), "%s is not installed", HL_TESTBOUNCER_BIN);
    cr_assert_not_null(mkdtemp(tmpl), "mkdtemp: %s", strerror(errno));
    snprintf(b->dir, sizeof(b->dir), "%s", tmpl);
    snprintf(b->log, sizeof(b->log), "%s/pgbouncer.log", tmpl);
    b->port = LISTEN_PORT;
    write_config(b, opts);
    if (geteuid() == 0) {
        pg = getpwnam("postgres");
        cr_assert_not_null(pg, "running as root, PgBouncer needs the postgres user (install postgresql)");
        /* It makes its socket in the directory. */
        cr_assert_eq(chown(b->dir, pg->pw_uid, pg->pw_gid), 0, "chown %s: %s", b->dir, strerror(errno));
    }

    b->pid = fork();
    cr_assert_neq(b->pid, -1, "fork: %s", strerror(errno));
    if (b->pid == 0)
        exec_bouncer(b, pg);

    hl_testbouncer_conninfo(b, "postgres", conninfo, sizeof(conninfo));
    for (int waited = 0;; waited += 20) {
        int status;

        if (PQping(conninfo) == PQPING_OK)
            return;
        if (waitpid(b->pid, &status, WNOHANG) == b->pid) {
            b->pid = 0;
            cr_assert_fail("pgbouncer exited at start-up (status 0x%x); its log:\n%s", (unsigned)status,
                           log_tail(b));
        }
        if (waited >= START_DEADLINE_MS)
            cr_assert_fail("pgbouncer did not accept connections within %d ms; its log:\n%s",
                           START_DEADLINE_MS, log_tail(b));
        sleep_ms(20);
    }
}

void hl_testbouncer_conninfo(const hl_testbouncer_t *b, const char *dbname, char *out, size_t len)
{
    snprintf(out, len, "host=%s port=%d dbname=%s user=%s", b->dir, b->port, dbname, b->user);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void hl_testbouncer_stop(hl_testbouncer_t *b)
{
    if (b->pid > 0) {
        int status;
        int waited = 0;

        kill(b->pid, SIGTERM);
        while (waitpid(b->pid, &status, WNOHANG) == 0) {
            if (waited >= STOP_DEADLINE_MS) {
                kill(b->pid, SIGKILL);
                while (waitpid(b->pid, &status, 0) < 0 && errno == EINTR)
                    ;
                break;
            }
            sleep_ms(10);
            waited += 10;
        }
        b->pid = 0;
    }
    if (b->dir[0] != '\0') {
        nftw(b->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
        b->dir[0] = '\0';
    }
}
