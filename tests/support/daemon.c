#include "daemon.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef HL_TEST_BUILDDIR
#error "HL_TEST_BUILDDIR must be defined (the Makefile does)"
#endif

#define HELPLINED      HL_TEST_BUILDDIR "/helplined"
#define PG_LOCAL       HL_TEST_SRCDIR "/scripts/pg-local"
#define PG_BASEBACKUP  "/usr/lib/postgresql/15/bin/pg_basebackup"
#define START_DEADLINE 10.0
#define STOP_DEADLINE  10.0

double hl_testd_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

char *hl_testd_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;

    if (f == NULL)
        return NULL;
    for (;;) {
        if (cap - n < 65536) {
            cap = cap * 2 + 65536;
            char *grown = realloc(buf, cap + 1);
            cr_assert_not_null(grown);
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

/* The last lines of the daemon's log, for a failure message. */
static void show_log_tail(const hl_testd_t *d)
{
    size_t len;
    char *log = hl_testd_read_file(d->log, &len);

    if (log == NULL)
        return;
    const char *tail = len > 3000 ? log + len - 3000 : log;
    cr_log_warn("helplined log (%s), last part:\n%s", d->log, tail);
    free(log);
}

/* Forks and execs ARGV with stdout to the file OUT_FILE (NULL: LOG_FD) and stderr to LOG_FD. */
static pid_t spawn(const char *const *argv, int log_fd, const char *out_file)
{
    pid_t pid = fork();

    cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
    if (pid == 0) {
        int out = out_file != NULL ? open(out_file, O_WRONLY | O_CREAT | O_TRUNC, 0600) : log_fd;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(out, STDOUT_FILENO);
        dup2(log_fd, STDERR_FILENO);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    return pid;
}

/* Forks and execs ARGV; stdout into OUT (trimmed) when given, else to the log; stderr to LOG_FD. */
static int run(const char *const *argv, int log_fd, char *out, size_t out_len)
{
    int pipefd[2] = {-1, -1};
    int status = -1;
    size_t n = 0;
    pid_t pid;

    if (out != NULL) {
        cr_assert_eq(pipe(pipefd), 0);
        out[0] = '\0';
    }
    pid = fork();
    cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (out != NULL) {
            dup2(pipefd[1], STDOUT_FILENO);
            close(pipefd[0]);
            close(pipefd[1]);
        } else if (log_fd >= 0) {
            dup2(log_fd, STDOUT_FILENO);
        }
        if (log_fd >= 0)
            dup2(log_fd, STDERR_FILENO);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    if (out != NULL) {
        close(pipefd[1]);
        for (;;) {
            ssize_t got = read(pipefd[0], out + n, out_len - 1 - n);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0)
                break;
            n += (size_t)got;
            if (n == out_len - 1)
                break;
        }
        close(pipefd[0]);
        out[n] = '\0';
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
            out[--n] = '\0';
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int hl_testd_admin(hl_testd_t *d, char *out, size_t out_len, const char *const *args)
{
    const char *argv[32];
    size_t n = 0;
    int fd = open(d->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    int rc;

    argv[n++] = HELPLINED;
    for (size_t i = 0; args[i] != NULL && n < 28; i++)
        argv[n++] = args[i];
    argv[n++] = "-c";
    argv[n++] = d->conf;
    argv[n] = NULL;
    rc = run(argv, fd, out, out_len);
    if (fd >= 0)
        close(fd);
    return rc;
}

void hl_testd_user_add(hl_testd_t *d, const char *name, const char *role, const char *helpline,
                       char token[HL_TESTD_TOKEN_LEN])
{
    const char *args[] = {"user", "add", name, "--role", role, "--helpline", helpline, NULL};
    int rc = hl_testd_admin(d, token, HL_TESTD_TOKEN_LEN, args);

    if (rc != 0)
        show_log_tail(d);
    cr_assert_eq(rc, 0, "helplined user add %s: exit %d", name, rc);
    cr_assert(strlen(token) > 20 && strchr(token, '\n') == NULL, "user add %s printed no token", name);
}

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port;

    cr_assert_geq(fd, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind: %s", strerror(errno));
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* Ready: answering, and the writer connected to PostgreSQL. */
static bool health_up(json_t *h)
{
    json_t *db = json_object_get(h, "database");

    return json_is_string(db) && strcmp(json_string_value(db), "up") == 0;
}

/* Starts serve and waits until /healthz answers (with the database up when DATABASE_UP). */
static void spawn_serve_until(hl_testd_t *d, bool database_up)
{
    int fd = open(d->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    pid_t pid;

    cr_assert_geq(fd, 0, "%s: %s", d->log, strerror(errno));
    pid = fork();
    cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* Die with the test process, whatever happens to it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execl(HELPLINED, HELPLINED, "serve", "-c", d->conf, (char *)NULL);
        _exit(127);
    }
    close(fd);
    d->pid = pid;

    double deadline = hl_testd_now() + START_DEADLINE;
    for (;;) {
        int status;
        long code = 0;
        json_t *h = hl_testd_request(d, "GET", "/healthz", NULL, NULL, NULL, &code, NULL);
        bool up = database_up ? code == 200 && health_up(h) : code != 0;

        json_decref(h);
        if (up)
            return;
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = 0;
            show_log_tail(d);
            cr_assert_fail("helplined serve exited during start-up (status 0x%x)", (unsigned)status);
        }
        if (hl_testd_now() > deadline) {
            show_log_tail(d);
            cr_assert_fail("helplined did not answer /healthz with the database up within %.0f s",
                           START_DEADLINE);
        }
        sleep_ms(50);
    }
}

static void spawn_serve(hl_testd_t *d)
{
    spawn_serve_until(d, true);
}

/* KEY_DIR holds master.key: the daemon's own directory, or its first daemon's for a peer.
 * CONNINFO is database_url. */
static void write_config(const hl_testd_t *d, const char *key_dir, const hl_testd_opts_t *opts,
                         const char *conninfo)
{
    FILE *f = fopen(d->conf, "w");

    cr_assert_not_null(f, "%s: %s", d->conf, strerror(errno));
    fprintf(f,
            "# written by tests/support/daemon.c\n"
            "listen = 127.0.0.1:%d\n"
            "database_url = %s\n"
            "key_file = %s/master.key\n"
            "spool_dir = %s\n"
            "taxonomy_dir = %s/taxonomy\n"
            "migrations_dir = %s/migrations\n"
            "threads = 4\n"
            "log_level = debug\n",
            d->port, conninfo, key_dir, d->spool, HL_TEST_SRCDIR, HL_TEST_SRCDIR);
    if (opts != NULL && opts->max_body_bytes != 0)
        fprintf(f, "max_body_bytes = %zu\n", opts->max_body_bytes);
    if (opts != NULL && opts->writer_connections != 0)
        fprintf(f, "writer_connections = %d\n", opts->writer_connections);
    if (opts != NULL && opts->read_conninfo != NULL)
        fprintf(f, "read_database_url = %s\n", opts->read_conninfo);
    cr_assert_eq(fclose(f), 0);
}

static void admin_ok(hl_testd_t *d, const char *const *args)
{
    int rc = hl_testd_admin(d, NULL, 0, args);

    if (rc != 0)
        show_log_tail(d);
    cr_assert_eq(rc, 0, "helplined %s %s: exit %d", args[0], args[1] != NULL ? args[1] : "", rc);
}

/* The daemon's temporary directory and the paths in it. */
static void make_dir(hl_testd_t *d)
{
    char tmpl[] = "/tmp/helpline-it.XXXXXX";

    cr_assert_not_null(mkdtemp(tmpl), "mkdtemp: %s", strerror(errno));
    snprintf(d->dir, sizeof(d->dir), "%s", tmpl);
    snprintf(d->conf, sizeof(d->conf), "%s/helplined.conf", tmpl);
    snprintf(d->log, sizeof(d->log), "%s/helplined.log", tmpl);
    snprintf(d->spool, sizeof(d->spool), "%s/spool", tmpl);
}

void hl_testd_start(hl_testd_t *d, const hl_testd_opts_t *opts)
{
    static bool curl_ready;
    char key[HL_TESTD_PATH_LEN + 16];

    memset(d, 0, sizeof(*d));
    if (!curl_ready) {
        /* Not thread-safe: here, before any test thread exists. */
        cr_assert_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
        curl_ready = true;
    }
    make_dir(d);
    snprintf(key, sizeof(key), "%s/master.key", d->dir);
    if (opts != NULL && opts->conninfo != NULL) {
        snprintf(d->conninfo, sizeof(d->conninfo), "%s", opts->conninfo);
    } else {
        hl_pgtest_create(&d->db);
        d->own_db = true;
        snprintf(d->conninfo, sizeof(d->conninfo), "%s", d->db.conninfo);
    }
    d->port = free_port();
    snprintf(d->url, sizeof(d->url), "http://127.0.0.1:%d", d->port);
    write_config(d, d->dir, opts, d->conninfo);

    /* keygen while migrate runs */
    const char *keygen[] = {HELPLINED, "keygen", "-o", key, NULL};
    int kg_fd = open(d->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    pid_t kg = spawn(keygen, kg_fd, NULL);
    int kg_status;
    close(kg_fd);
    const char *migrate[] = {"migrate", NULL};
    admin_ok(d, migrate);
    while (waitpid(kg, &kg_status, 0) < 0 && errno == EINTR)
        ;
    cr_assert(WIFEXITED(kg_status) && WEXITSTATUS(kg_status) == 0, "helplined keygen: status 0x%x",
              (unsigned)kg_status);
    /* The two helplines, in parallel. */
    const char *demo[] = {HELPLINED,   "helpline", "add",       "demo",     "--name", "Demo Child Helpline",
                          "--country", "KE",       "--network", "demo-net", "-c",     d->conf,
                          NULL};
    const char *za[] = {HELPLINED,   "helpline", "add", "za",    "--name", "Other Helpline",
                        "--country", "ZA",       "-c",  d->conf, NULL};
    int hl_fd = open(d->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    pid_t hp[2] = {spawn(demo, hl_fd, NULL), spawn(za, hl_fd, NULL)};
    close(hl_fd);
    for (int i = 0; i < 2; i++) {
        int status;
        while (waitpid(hp[i], &status, 0) < 0 && errno == EINTR)
            ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            show_log_tail(d);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "helplined helpline add: status 0x%x",
                  (unsigned)status);
    }

    /* The users, added in parallel (process start-up dominates on a slow machine). */
    hl_testd_tokens_t *t = &d->tokens;
    struct {
        const char *name, *role, *helpline;
        char *token;
    } users[] = {
        {"demo-frontend", "frontend", "demo", t->frontend},
        {"amina", "counsellor", "demo", t->counsellor},
        {"baraka", "counsellor", "demo", t->counsellor2},
        {"demo-supervisor", "supervisor", "demo", t->supervisor},
        {"demo-network", "network", "demo", t->network},
        {"demo-admin", "admin", "demo", t->admin},
        {"za-admin", "admin", "za", t->za_admin},
        {"zola", "counsellor", "za", t->za_counsellor},
    };
    enum { N_USERS = sizeof(users) / sizeof(users[0]) };
    pid_t pids[N_USERS];
    char out[HL_TESTD_PATH_LEN + 64];
    int log_fd = open(d->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

    cr_assert_geq(log_fd, 0);
    for (size_t i = 0; i < N_USERS; i++) {
        snprintf(out, sizeof(out), "%s/token.%s", d->dir, users[i].name);
        const char *argv[] = {HELPLINED, "user",        "add",        users[i].name,
                              "--role",  users[i].role, "--helpline", users[i].helpline,
                              "-c",      d->conf,       NULL};
        pids[i] = spawn(argv, log_fd, out);
    }
    close(log_fd);
    for (size_t i = 0; i < N_USERS; i++) {
        int status;
        while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR)
            ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            show_log_tail(d);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "helplined user add %s: status 0x%x",
                  users[i].name, (unsigned)status);
        snprintf(out, sizeof(out), "%s/token.%s", d->dir, users[i].name);
        char *tok = hl_testd_read_file(out, NULL);
        cr_assert_not_null(tok);
        tok[strcspn(tok, "\r\n")] = '\0';
        cr_assert(strlen(tok) > 20 && strlen(tok) < HL_TESTD_TOKEN_LEN, "user add %s printed no token",
                  users[i].name);
        snprintf(users[i].token, HL_TESTD_TOKEN_LEN, "%s", tok);
        free(tok);
        unlink(out);
    }

    if (opts != NULL && opts->before_serve != NULL)
        opts->before_serve(d);
    if (opts != NULL && opts->serve_conninfo != NULL)
        write_config(d, d->dir, opts, opts->serve_conninfo);
    spawn_serve(d);
}

void hl_testd_start_peer(hl_testd_t *d, const hl_testd_t *first, const hl_testd_opts_t *opts)
{
    cr_assert(first->dir[0] != '\0', "start_peer: start the first daemon before its peer");
    memset(d, 0, sizeof(*d));
    make_dir(d);
    snprintf(d->conninfo, sizeof(d->conninfo), "%s",
             opts != NULL && opts->conninfo != NULL ? opts->conninfo : first->conninfo);
    d->tokens = first->tokens;
    d->port = free_port();
    snprintf(d->url, sizeof(d->url), "http://127.0.0.1:%d", d->port);
    write_config(d, first->dir, opts,
                 opts != NULL && opts->serve_conninfo != NULL ? opts->serve_conninfo : d->conninfo);
    spawn_serve(d);
}

void hl_testd_restart(hl_testd_t *d)
{
    cr_assert_eq(d->pid, 0, "restart: the daemon still runs");
    spawn_serve(d);
}

void hl_testd_restart_database_down(hl_testd_t *d)
{
    cr_assert_eq(d->pid, 0, "restart: the daemon still runs");
    spawn_serve_until(d, false);
}

void hl_testd_kill(hl_testd_t *d)
{
    int status;

    if (d->pid <= 0)
        return;
    kill(d->pid, SIGKILL);
    while (waitpid(d->pid, &status, 0) < 0 && errno == EINTR)
        ;
    d->pid = 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

int hl_testd_term(hl_testd_t *d)
{
    int status = -1;

    if (d->pid > 0) {
        double deadline = hl_testd_now() + STOP_DEADLINE;
        pid_t got = 0;

        kill(d->pid, SIGTERM);
        while ((got = waitpid(d->pid, &status, WNOHANG)) == 0 && hl_testd_now() < deadline)
            sleep_ms(20);
        if (got != d->pid) {
            cr_log_warn("helplined did not stop within %.0f s of SIGTERM: SIGKILL", STOP_DEADLINE);
            kill(d->pid, SIGKILL);
            while (waitpid(d->pid, &status, 0) < 0 && errno == EINTR)
                ;
            status = -1;
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            show_log_tail(d);
        }
        d->pid = 0;
    }
    return status;
}

int hl_testd_stop(hl_testd_t *d)
{
    int status = hl_testd_term(d);

    if (d->own_db) {
        hl_pgtest_drop(&d->db);
        d->own_db = false;
    }
    if (d->dir[0] != '\0' && getenv("HL_TEST_KEEP") == NULL)
        nftw(d->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    d->dir[0] = '\0';
    return status;
}

int hl_testd_pg_dump(const char *conninfo, const char *out_file)
{
    const char *argv[] = {
        "/usr/lib/postgresql/15/bin/pg_dump", "--no-password", "-f", out_file, "-d", conninfo, NULL};
    char log[HL_TESTD_PATH_LEN + 16];
    int fd, rc;

    snprintf(log, sizeof(log), "%s.log", out_file);
    fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    rc = run(argv, fd, NULL, 0);
    if (fd >= 0)
        close(fd);
    return rc;
}

PGconn *hl_testd_db(const hl_testd_t *d)
{
    PGconn *conn = PQconnectdb(d->conninfo);

    cr_assert(PQstatus(conn) == CONNECTION_OK, "cannot connect to the daemon's database: %s",
              PQerrorMessage(conn));
    return conn;
}

/* ---- HTTP -------------------------------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
} sink_t;

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    sink_t *s = arg;
    size_t len = size * n;

    if (s->len + len + 1 > s->cap) {
        size_t cap = (s->cap + len + 1) * 2;
        char *grown = realloc(s->buf, cap);
        if (grown == NULL)
            return 0;
        s->buf = grown;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    s->buf[s->len] = '\0';
    return len;
}

static void header_value(const char *line, size_t len, const char *name, char *out, size_t out_len)
{
    size_t n = strlen(name);

    if (len <= n + 1 || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return;
    line += n + 1;
    len -= n + 1;
    while (len > 0 && *line == ' ') {
        line++;
        len--;
    }
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
        len--;
    snprintf(out, out_len, "%.*s", (int)len, line);
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    hl_testd_resp_t *r = arg;
    size_t len = size * n;

    header_value(data, len, "Content-Type", r->content_type, sizeof(r->content_type));
    header_value(data, len, "Allow", r->allow, sizeof(r->allow));
    header_value(data, len, "Retry-After", r->retry_after, sizeof(r->retry_after));
    header_value(data, len, "Set-Cookie", r->set_cookie, sizeof(r->set_cookie));
    return len;
}

typedef struct {
    const char *data;
    size_t len, pos;
} source_t;

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
    source_t *s = arg;
    size_t want = size * n;

    if (want > 1024)
        want = 1024; /* several chunks */
    if (want > s->len - s->pos)
        want = s->len - s->pos;
    memcpy(buf, s->data + s->pos, want);
    s->pos += want;
    return want;
}

void hl_testd_do(const hl_testd_t *d, const hl_testd_req_t *req, hl_testd_resp_t *resp)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL;
    char url[1024], line[512];
    sink_t sink = {0};
    source_t src = {0};

    memset(resp, 0, sizeof(*resp));
    cr_assert_not_null(curl);
    snprintf(url, sizeof(url), "%s%s", d->url, req->path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, resp);
    if (req->authorization != NULL) {
        snprintf(line, sizeof(line), "Authorization: %s", req->authorization);
        headers = curl_slist_append(headers, line);
    } else if (req->token != NULL) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", req->token);
        headers = curl_slist_append(headers, line);
    }
    for (size_t i = 0; req->headers != NULL && req->headers[i] != NULL; i++)
        headers = curl_slist_append(headers, req->headers[i]);
    if (req->content_type != NULL) {
        snprintf(line, sizeof(line), "Content-Type: %s", req->content_type);
        headers = curl_slist_append(headers, line);
    } else {
        headers = curl_slist_append(headers, "Content-Type:"); /* none, not curl's form type */
    }
    if (req->body != NULL) {
        src.data = req->body;
        src.len = req->body_len != 0 ? req->body_len : strlen(req->body);
        if (req->chunked) {
            headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
            curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(curl, CURLOPT_READDATA, &src);
        } else {
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, src.data);
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)src.len);
        }
    }
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
    else
        resp->status = 0;
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    resp->body = sink.buf != NULL ? sink.buf : strdup("");
    resp->body_len = sink.len;
    if (resp->status != 0 && strncasecmp(resp->content_type, "application/json", 16) == 0)
        resp->json = json_loadb(resp->body, resp->body_len, 0, NULL);
}

void hl_testd_resp_free(hl_testd_resp_t *resp)
{
    free(resp->body);
    json_decref(resp->json);
    memset(resp, 0, sizeof(*resp));
}

json_t *hl_testd_request(const hl_testd_t *d, const char *method, const char *path, const char *token,
                         const char *content_type, const char *body, long *status, char **response)
{
    hl_testd_req_t req = {
        .method = method, .path = path, .token = token, .content_type = content_type, .body = body};
    hl_testd_resp_t resp;
    json_t *json;

    hl_testd_do(d, &req, &resp);
    *status = resp.status;
    json = resp.json;
    resp.json = NULL;
    if (response != NULL) {
        *response = resp.body;
        resp.body = NULL;
    }
    hl_testd_resp_free(&resp);
    return json;
}

json_t *hl_testd_wait_health(const hl_testd_t *d, bool (*pred)(json_t *health), double deadline_s)
{
    double deadline = hl_testd_now() + deadline_s;
    json_t *h = NULL;

    for (;;) {
        long status = 0;

        json_decref(h);
        h = hl_testd_request(d, "GET", "/healthz", NULL, NULL, NULL, &status, NULL);
        if (status == 200 && h != NULL && pred(h))
            return h;
        if (hl_testd_now() > deadline)
            return h;
        sleep_ms(100);
    }
}

/* ---- a PostgreSQL cluster of the test's own ------------------------------------------------ */

static void pg_local(const char *cmd, const char *dir)
{
    const char *argv[] = {"/bin/bash", PG_LOCAL, cmd, dir, NULL};
    char log[HL_TESTD_PATH_LEN + 16];
    int fd, rc;

    snprintf(log, sizeof(log), "%s/pg-local.log", dir);
    fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    rc = run(argv, fd, NULL, 0);
    if (fd >= 0)
        close(fd);
    cr_assert_eq(rc, 0, "scripts/pg-local %s %s: exit %d (see %s)", cmd, dir, rc, log);
}

/* PG's directory, and the process that removes it (and stops its cluster) when this one dies. */
static void testpg_dir(hl_testpg_t *pg)
{
    char tmpl[] = "/tmp/helpline-itpg.XXXXXX";
    int ready[2];
    pid_t pid;

    memset(pg, 0, sizeof(*pg));
    cr_assert_not_null(mkdtemp(tmpl), "mkdtemp: %s", strerror(errno));
    chmod(tmpl, 0755); /* the postgres user must reach it when the tests run as root */
    snprintf(pg->dir, sizeof(pg->dir), "%s", tmpl);

    /* The watcher: stops the cluster and removes the directory when this process dies (or on
     * SIGTERM from hl_testpg_destroy). Started before the cluster, so nothing escapes it. */
    cr_assert_eq(pipe(ready), 0);
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        char script[2048];
        close(ready[0]);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        snprintf(script, sizeof(script),
                 "cleanup() { '%s' stop '%s' >/dev/null 2>&1; rm -rf '%s'; exit 0; }\n"
                 "trap cleanup TERM INT HUP\n"
                 "echo ready >&3\n"
                 "while :; do sleep 1 & wait $!; done\n",
                 PG_LOCAL, pg->dir, pg->dir);
        dup2(ready[1], 3);
        execl("/bin/bash", "bash", "-c", script, (char *)NULL);
        _exit(127);
    }
    close(ready[1]);
    char buf[8];
    cr_assert_gt(read(ready[0], buf, sizeof(buf)), 0, "the cluster watcher did not start");
    close(ready[0]);
    pg->watcher = pid;
}

/* Starts PG's cluster and reads its connection string. */
static void testpg_start_and_url(hl_testpg_t *pg)
{
    char out[1024];
    const char *argv[] = {"/bin/bash", PG_LOCAL, "url", pg->dir, NULL};

    pg_local("start", pg->dir);
    cr_assert_eq(run(argv, -1, out, sizeof(out)), 0);
    snprintf(pg->conninfo, sizeof(pg->conninfo), "%s", out);
}

void hl_testpg_create(hl_testpg_t *pg)
{
    testpg_dir(pg);
    testpg_start_and_url(pg);
}

void hl_testpg_create_dir(hl_testpg_t *pg)
{
    testpg_dir(pg);
    if (geteuid() == 0) {
        const struct passwd *pw = getpwnam("postgres");
        cr_assert_not_null(pw, "no postgres user");
        cr_assert_eq(chown(pg->dir, pw->pw_uid, pw->pw_gid), 0, "chown: %s", strerror(errno));
    }
}

int hl_testpg_exec(const hl_testpg_t *pg, const char *const *argv)
{
    /* As root, as the postgres user (it owns the clusters' files). */
    const char *full[32] = {"/usr/sbin/runuser", "-u", "postgres", "--"};
    size_t n = geteuid() == 0 ? 4 : 0; /* otherwise ARGV overwrites the runuser prefix */
    char log[HL_TESTD_PATH_LEN + 32];
    int fd, rc;

    for (size_t i = 0; argv[i] != NULL; i++) {
        cr_assert_lt(n, sizeof(full) / sizeof(full[0]) - 1, "hl_testpg_exec: too many arguments");
        full[n++] = argv[i];
    }
    full[n] = NULL;
    snprintf(log, sizeof(log), "%s/pg-local.log", pg->dir);
    fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    rc = run(full, fd, NULL, 0);
    if (fd >= 0)
        close(fd);
    return rc;
}

void hl_testpg_start_restored(hl_testpg_t *pg, const hl_testpg_t *origin)
{
    char path[HL_TESTD_PATH_LEN + 32];
    char *port;
    FILE *f;

    /* ORIGIN's port (each socket lives in its own directory), and a socket of its own. */
    snprintf(path, sizeof(path), "%s/port", origin->dir);
    port = hl_testd_read_file(path, NULL);
    cr_assert_not_null(port, "%s: %s", path, strerror(errno));
    snprintf(path, sizeof(path), "%s/port", pg->dir);
    f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(port, f);
    cr_assert_eq(fclose(f), 0);
    free(port);
    snprintf(path, sizeof(path), "%s/data/postgresql.conf", pg->dir);
    f = fopen(path, "a");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fprintf(f, "# hl_testpg_start_restored\nunix_socket_directories = '%s'\n", pg->dir);
    cr_assert_eq(fclose(f), 0);
    testpg_start_and_url(pg);
}

void hl_testpg_create_standby(hl_testpg_t *standby, const hl_testpg_t *primary)
{
    char data[HL_TESTD_PATH_LEN + 8];
    const char *argv[] = {PG_BASEBACKUP,     "-D", data, "-R", "-X", "stream", "-c", "fast", "-d",
                          primary->conninfo, NULL};
    int rc;

    hl_testpg_create_dir(standby);
    snprintf(data, sizeof(data), "%s/data", standby->dir);
    rc = hl_testpg_exec(standby, argv);
    cr_assert_eq(rc, 0, "pg_basebackup: exit %d (see %s/pg-local.log)", rc, standby->dir);
    hl_testpg_start_restored(standby, primary);
}

void hl_testpg_stop(hl_testpg_t *pg)
{
    pg_local("stop", pg->dir);
}

void hl_testpg_start(hl_testpg_t *pg)
{
    pg_local("start", pg->dir);
}

void hl_testpg_destroy(hl_testpg_t *pg)
{
    int status;

    if (pg->watcher <= 0)
        return;
    kill(pg->watcher, SIGTERM);
    while (waitpid(pg->watcher, &status, 0) < 0 && errno == EINTR)
        ;
    pg->watcher = 0;
}
