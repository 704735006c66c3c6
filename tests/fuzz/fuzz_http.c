/*
 * libFuzzer target for helplined's whole HTTP request path: libmicrohttpd's parser, routing,
 * the bearer-token and session-cookie checks and roles, the body limit, the handlers and the
 * codecs behind them (contact JSON, classification, sealing, statistics and report parameters),
 * with no network and no PostgreSQL:
 *   make BUILD=build/fuzz fuzz-http FUZZ_SECONDS=60
 *
 * The daemon is the real one (server/http/http.c with routes.c's table, 2 threads), each request on a
 * fresh socketpair handed to hl_http_add_connection. The database is unreachable (a connection
 * string naming no server): reads, PATCH, statistics, reports and Rocket.Chat's secret check
 * answer 503 when they reach it, so everything before that is fuzzed. The writer is a stand-in
 * thread here: it checks each record (hl_record_valid, hl_record_encode), frees it and answers
 * created, duplicate, spooled or failed, picked by the record id. Five fixed tokens
 * ("fuzz-admin", ...) authenticate as the roles of helpline "demo"; any other token goes to the
 * real hl_auth_check (401, or 503 where it would need the database).
 *
 * Input: "METHOD TARGET" on the first line, header lines up to an empty line, then the body;
 * lines end with LF and CRs in them are dropped; @@rep:N:UNIT@@ expands (fuzz_util.h). The
 * target adds Host, Connection: close and Content-Length, or sends the body in chunks when a
 * Transfer-Encoding header says chunked, so that every request is complete.
 *
 * Checks: a reply within 10 s; no 5xx status but 503; every JSON reply parses, an error has
 * api.md's shape {"error": {"code", "message"[, "field"]}}; a 2xx without one of the fixed
 * tokens is /healthz's. HL_FUZZ_LOG=1 shows the daemon's log (silent by default: every request
 * that reaches the database logs a failed connection); HL_FUZZ_SHOW=1 prints each request and
 * reply (for writing seeds: build/.../fuzz_http -runs=0 tests/fuzz/corpus-http).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "fuzz_util.h"
#include "log.h"

#define BODY_MAX    (1536u * 1024) /* max_body_bytes: above the 1 MiB field limits */
#define REPLY_WAIT  10000          /* ms */
#define NO_DATABASE "host=/nonexistent/helpline-fuzz port=1 dbname=helpline"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hl_app_t app;
static hl_config_t cfg;
static char tmp_dir[256];
static atomic_bool fixed_token_used;

static const struct {
    const char *token;
    hl_principal_t who;
} fixed[] = {
    {"fuzz-frontend", {1, "rocketchat-bridge", HL_ROLE_FRONTEND, 1, "demo", "east", 0}},
    {"fuzz-counsellor", {2, "amina", HL_ROLE_COUNSELLOR, 1, "demo", "east", 0}},
    {"fuzz-supervisor", {3, "baraka", HL_ROLE_SUPERVISOR, 1, "demo", "east", 0}},
    {"fuzz-network", {4, "neema", HL_ROLE_NETWORK, 1, "demo", "east", 0}},
    {"fuzz-admin", {5, "admin", HL_ROLE_ADMIN, 1, "demo", "", 0}},
};

static int authenticate(void *arg, const char *token, const char *client_ip, hl_principal_t *out)
{
    hl_app_t *a = arg;

    for (size_t i = 0; i < HL_ARRAY_LEN(fixed); i++) {
        if (strcmp(token, fixed[i].token) == 0) {
            *out = fixed[i].who;
            atomic_store(&fixed_token_used, true);
            return HL_OK;
        }
    }
    return hl_auth_check(a->auth, token, client_ip, out);
}

/* Session cookies go to the real check, which needs the database (503) for any well-formed one. */
static int authenticate_session(void *arg, const char *cookie, const char *csrf, bool need_csrf,
                                hl_principal_t *out)
{
    hl_app_t *a = arg;

    return hl_sessions_check(a->sessions, cookie, csrf, need_csrf, out);
}

/* ---- the stand-in writer (writer.h), so writer.c is not linked ---------------------------- */

typedef struct job {
    struct job *next;
    hl_record_t *rec;
    hl_writer_done_fn done;
    void *arg;
} job_t;

static pthread_mutex_t jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t jobs_cond = PTHREAD_COND_INITIALIZER;
static job_t *jobs_head;
static job_t **jobs_tail = &jobs_head;

int hl_writer_submit(hl_writer_t *w, hl_record_t *rec, hl_writer_done_fn done, void *arg)
{
    job_t *j;

    (void)w;
    if (rec->id[1] % 16 == 0)
        return HL_ECONFLICT; /* the queue is full */
    j = calloc(1, sizeof(*j));
    if (j == NULL)
        return HL_ECONFLICT;
    j->rec = rec;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&jobs_lock);
    *jobs_tail = j;
    jobs_tail = &j->next;
    pthread_cond_signal(&jobs_cond);
    pthread_mutex_unlock(&jobs_lock);
    return HL_OK;
}

void hl_writer_get_stats(hl_writer_t *w, hl_writer_stats_t *out)
{
    (void)w;
    memset(out, 0, sizeof(*out));
}

static void *writer_main(void *unused)
{
    static const hl_write_status_t outcomes[] = {HL_WRITE_CREATED, HL_WRITE_DUPLICATE, HL_WRITE_SPOOLED,
                                                 HL_WRITE_FAILED};
    (void)unused;
    for (;;) {
        hl_write_result_t res = {.previous_contacts = -1};
        uint8_t *enc = NULL;
        size_t enclen;
        job_t *j;

        pthread_mutex_lock(&jobs_lock);
        while (jobs_head == NULL)
            pthread_cond_wait(&jobs_cond, &jobs_lock);
        j = jobs_head;
        jobs_head = j->next;
        if (jobs_head == NULL)
            jobs_tail = &jobs_head;
        pthread_mutex_unlock(&jobs_lock);

        if (!hl_record_valid(j->rec) || hl_record_encode(j->rec, &enc, &enclen) != HL_OK) {
            fprintf(stderr, "fuzz_http: a handler submitted a record that is not valid\n");
            abort();
        }
        free(enc);
        memcpy(res.id, j->rec->id, sizeof(res.id));
        res.status = outcomes[j->rec->id[0] % HL_ARRAY_LEN(outcomes)];
        res.err = j->rec->id[2] % 2 == 0 ? HL_EINVAL : HL_EDB;
        if (res.status == HL_WRITE_CREATED && j->rec->has_phone_bidx)
            res.previous_contacts = j->rec->id[3];
        hl_record_free(j->rec);
        j->done(j->arg, &res);
        free(j);
    }
    return NULL;
}

/* ---- set-up ------------------------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tmp_dir(void)
{
    if (tmp_dir[0] != '\0')
        nftw(tmp_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void die(const char *what)
{
    fprintf(stderr, "fuzz_http: %s\n", what);
    exit(1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *taxdir = getenv("HL_TAXONOMY_DIR");
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    uint8_t master[HL_CRYPTO_KEY_BYTES];
    char spool_dir[300];
    pthread_t writer;

    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    if (getenv("HL_FUZZ_LOG") == NULL)
        hl_log_set_level((hl_log_level_t)(HL_LOG_ERROR + 1));
    pthread_mutex_init(&app.tax_lock, NULL);
    cfg.k_min = 5;
    cfg.threads = 2;
    cfg.max_body_bytes = BODY_MAX;
    app.cfg = &cfg;
    memset(master, 0x42, sizeof(master));
    if (hl_crypto_init() != HL_OK || hl_crypto_keyring_new(master, &app.keyring) != HL_OK)
        die("no keyring");
    if (hl_app_taxonomy_load(&app, taxdir != NULL ? taxdir : "taxonomy") != HL_OK)
        die("no taxonomy (run from the repository root, or set HL_TAXONOMY_DIR)");
    snprintf(tmp_dir, sizeof(tmp_dir), "%s/helpline-fuzz-http-XXXXXX", base);
    if (mkdtemp(tmp_dir) == NULL) {
        tmp_dir[0] = '\0';
        die("no temporary directory");
    }
    atexit(remove_tmp_dir);
    snprintf(spool_dir, sizeof(spool_dir), "%s/spool", tmp_dir);
    if (hl_spool_open(spool_dir, &app.spool) != HL_OK)
        die("no spool");
    hl_health_opts_t hopts = {.conninfo = NO_DATABASE, .spool = app.spool};
    hl_merger_opts_t mopts = {.conninfo = NO_DATABASE};
    hl_auth_opts_t aopts = {0};
    hl_sessions_opts_t sopts = {.idle_seconds = 1800, .max_seconds = 43200};
    if (hl_health_start(&hopts, &app.health) != HL_OK || hl_merger_start(&mopts, &app.merger) != HL_OK ||
        hl_dbpool_new(NO_DATABASE, 4, &app.pool) != HL_OK ||
        hl_auth_new(app.keyring, app.pool, &aopts, &app.auth) != HL_OK ||
        hl_sessions_new(app.keyring, app.pool, &sopts, &app.sessions) != HL_OK ||
        hl_throttle_new(&app.throttle) != HL_OK ||
        hl_hasher_start(HL_HASHER_THREADS, HL_HASHER_QUEUE, &app.hasher) != HL_OK)
        die("cannot start the daemon's parts");
    app.read_pool = app.pool; /* no read_database_url */
    if (pthread_create(&writer, NULL, writer_main, NULL) != 0)
        die("no writer thread");
    pthread_detach(writer);
    hl_http_opts_t opts = {.host = "127.0.0.1",
                           .port = 0,
                           .threads = 2,
                           .max_body_bytes = BODY_MAX,
                           .routes = hl_routes,
                           .n_routes = hl_n_routes,
                           .authenticate = authenticate,
                           .authenticate_session = authenticate_session,
                           .app = &app};
    if (hl_http_start(&opts, &app.http) != HL_OK)
        die("no HTTP daemon");
    return 0;
}

/* ---- one request -------------------------------------------------------------------------- */

/* Appends the line [P, END) without CRs. */
static void add_line(fuzz_buf_t *b, const uint8_t *p, const uint8_t *end)
{
    for (const uint8_t *q = p; q < end; q++)
        if (*q != '\r')
            fuzz_buf_add(b, q, 1);
}

static bool header_is(const uint8_t *p, const uint8_t *end, const char *name)
{
    size_t n = strlen(name);

    return (size_t)(end - p) > n && p[n] == ':' && strncasecmp((const char *)p, name, n) == 0;
}

/* The HTTP request for IN; *HEAD when the method is HEAD (a reply without a body). */
static void build_request(const uint8_t *in, size_t len, fuzz_buf_t *req, bool *head)
{
    const uint8_t *p = in, *end = in + len, *eol = memchr(p, '\n', len);
    const uint8_t *line_end = eol != NULL ? eol : end, *sp = memchr(p, ' ', (size_t)(line_end - p));
    bool chunked = false;
    char num[32];

    /* Request line: METHOD TARGET HTTP/1.1 */
    if (sp == NULL || sp == p) {
        fuzz_buf_add(req, "GET /", 5);
    } else {
        add_line(req, p, sp);
        fuzz_buf_add(req, " ", 1);
        add_line(req, sp + 1, line_end);
    }
    *head = sp != NULL && sp - p == 4 && memcmp(p, "HEAD", 4) == 0;
    fuzz_buf_add(req, " HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n", 42);
    p = eol != NULL ? eol + 1 : end;
    /* Headers, up to an empty line; framing is the target's. */
    while (p < end) {
        eol = memchr(p, '\n', (size_t)(end - p));
        line_end = eol != NULL ? eol : end;
        if (line_end == p || (line_end - p == 1 && *p == '\r')) {
            p = line_end + (eol != NULL);
            break;
        }
        if (header_is(p, line_end, "Transfer-Encoding")) {
            chunked = memmem(p, (size_t)(line_end - p), "chunked", 7) != NULL;
        } else if (!header_is(p, line_end, "Host") && !header_is(p, line_end, "Connection") &&
                   !header_is(p, line_end, "Content-Length")) {
            add_line(req, p, line_end);
            fuzz_buf_add(req, "\r\n", 2);
        }
        p = line_end + (eol != NULL);
    }
    /* Body */
    len = (size_t)(end - p);
    if (!chunked) {
        snprintf(num, sizeof(num), "Content-Length: %zu\r\n\r\n", len);
        fuzz_buf_add(req, num, strlen(num));
        fuzz_buf_add(req, p, len);
        return;
    }
    fuzz_buf_add(req, "Transfer-Encoding: chunked\r\n\r\n", 30);
    for (size_t off = 0, chunk = 1 + len % 8191; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        snprintf(num, sizeof(num), "%zx\r\n", n);
        fuzz_buf_add(req, num, strlen(num));
        fuzz_buf_add(req, p + off, n);
        fuzz_buf_add(req, "\r\n", 2);
    }
    fuzz_buf_add(req, "0\r\n\r\n", 5);
}

static long ms_since(const struct timespec *t0)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Sends REQ on a new connection and reads the reply until the daemon closes it. */
static void exchange(const fuzz_buf_t *req, fuzz_buf_t *reply)
{
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000)};
    struct timespec t0;
    size_t sent = 0;
    int sv[2];

    peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    if (hl_http_add_connection(app.http, sv[0], (const struct sockaddr *)&peer, sizeof(peer)) != HL_OK) {
        fprintf(stderr, "fuzz_http: the daemon refused a connection\n");
        abort();
    }
    if (fcntl(sv[1], F_SETFL, O_NONBLOCK) != 0)
        abort();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct pollfd pfd = {.fd = sv[1], .events = POLLIN | (sent < req->len ? POLLOUT : 0)};
        long left = REPLY_WAIT - ms_since(&t0);
        uint8_t buf[65536];
        ssize_t n;
        int ready = left > 0 ? poll(&pfd, 1, (int)left) : 0;

        if (ready < 0 && errno == EINTR)
            continue; /* libFuzzer's -timeout alarm */
        if (ready <= 0) {
            fprintf(stderr, "fuzz_http: no reply within %d ms (%zu of %zu request bytes sent)\n", REPLY_WAIT,
                    sent, req->len);
            abort();
        }
        if ((pfd.revents & POLLOUT) != 0) {
            n = send(sv[1], req->p + sent, req->len - sent, MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN && errno != EINTR)
                sent = req->len; /* the daemon closed its end: read what it said */
        }
        if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
            n = read(sv[1], buf, sizeof(buf));
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                break;
            if (n > 0)
                fuzz_buf_add(reply, buf, (size_t)n);
        }
    }
    close(sv[1]);
}

/* ---- checks ------------------------------------------------------------------------------- */

static void fail(const char *why, const fuzz_buf_t *reply)
{
    fprintf(stderr, "fuzz_http: %s; reply:\n%.*s\n", why, (int)(reply->len < 2000 ? reply->len : 2000),
            reply->len > 0 ? (const char *)reply->p : "");
    abort();
}

static void check_error_shape(json_t *j, const fuzz_buf_t *reply)
{
    json_t *err = json_object_get(j, "error"), *field;

    if (!json_is_object(err) || !json_is_string(json_object_get(err, "code")) ||
        !json_is_string(json_object_get(err, "message")))
        fail("an error reply without error.code and error.message", reply);
    field = json_object_get(err, "field");
    if (field != NULL && !json_is_string(field))
        fail("error.field is not a string", reply);
}

static void check_reply(const fuzz_buf_t *reply, bool head)
{
    const char *text = reply->len > 0 ? (const char *)reply->p : "", *body, *ct;
    unsigned status;
    json_t *j;

    if (reply->len == 0)
        return; /* libmicrohttpd closes without a reply on some broken requests */
    /* Skip "100 Continue" (an Expect header). */
    while (strncmp(text, "HTTP/1.1 1", 10) == 0 && (body = strstr(text, "\r\n\r\n")) != NULL)
        text = body + 4;
    if (sscanf(text, "HTTP/1.%*1[01] %3u ", &status) != 1)
        fail("no status line", reply);
    if (status >= 500 && status != 503)
        fail("a 5xx status other than 503", reply);
    body = strstr(text, "\r\n\r\n");
    if (body == NULL)
        fail("no end of the reply header", reply);
    body += 4;
    ct = strcasestr(text, "\r\nContent-Type: application/json");
    if (ct == NULL || ct > body || (head && *body == '\0'))
        return;
    j = json_loadb(body, reply->len - (size_t)(body - (const char *)reply->p), 0, NULL);
    if (j == NULL)
        fail("a JSON reply that does not parse", reply);
    if (status >= 400)
        check_error_shape(j, reply);
    if (status < 300 && !atomic_load(&fixed_token_used) && json_object_get(j, "spool_pending") == NULL)
        fail("a 2xx without a token, not from /healthz", reply);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len;
    uint8_t *in = fuzz_expand(data, size, &len);
    fuzz_buf_t req = {0}, reply = {0};
    bool head = false;

    atomic_store(&fixed_token_used, false);
    build_request(in, len, &req, &head);
    free(in);
    exchange(&req, &reply);
    if (getenv("HL_FUZZ_SHOW") != NULL)
        fprintf(stderr, "%.*s\n----\n%.*s\n====\n", (int)(req.len < 4000 ? req.len : 4000), (char *)req.p,
                (int)(reply.len < 4000 ? reply.len : 4000), reply.len > 0 ? (char *)reply.p : "");
    check_reply(&reply, head);
    free(req.p);
    free(reply.p);
    return 0;
}
