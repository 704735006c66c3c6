/*
 * helplined serves the web application (issue 17; docs/web.md "Serving"): the files of web_dir at
 * "/", Debian's Chart.js at "/vendor/chart.js/", with the security headers, ETag and 304; 404 and
 * 405 where they belong; no way out of web_dir. The web_dir is a fixture made here (the real
 * application's files change while it is written). Raw sockets, so that request targets reach the
 * daemon exactly as written (a client library would clean "/../" up).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "itest.h"
#include "util.h"

#define CHARTJS "/usr/share/javascript/chart.js/chart.min.js"
#define CSP                                                                                                  \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "    \
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
#define SECRET "web-test-secret-outside-web-dir" /* in a file beside web_dir, never to be served */

static const char index_html[] = "<!doctype html><title>helpline</title><script type=\"module\" "
                                 "src=\"/app.js\"></script>";
static const char app_js[] = "import { h } from './lib/dom.js';\n";

static hl_testd_t d;
static char root[64]; /* web/ (the web_dir), outside/ */
static char web[128];

static void stop(void)
{
    char cmd[160];

    hl_testd_stop(&d);
    unsetenv("HELPLINE_WEB_DIR");
    if (root[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        cr_expect_eq(system(cmd), 0);
    }
}

TestSuite(web, .fini = stop, .timeout = 60);

static void put(const char *rel, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

static void dir(const char *rel)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    cr_assert_eq(mkdir(path, 0755), 0, "%s: %s", path, strerror(errno));
}

static void link_at(const char *target, const char *rel)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    cr_assert_eq(symlink(target, path), 0, "%s: %s", path, strerror(errno));
}

/* The fixture: a small application, a secret beside it, and links from inside to the secret. */
static void make_fixture(void)
{
    strcpy(root, "/tmp/hl-web-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
    snprintf(web, sizeof(web), "%s/web", root);
    dir("web");
    dir("web/lib");
    dir("web/i18n");
    dir("outside");
    put("web/index.html", index_html);
    put("web/app.js", app_js);
    put("web/lib/dom.js", "export function h() {}\n");
    put("web/style.css", "body { margin: 0 }\n");
    put("web/i18n/en.json", "{\"common.save\": \"Save\"}\n");
    put("outside/secret.js", SECRET);
    link_at("../outside/secret.js", "web/leak.js");
    link_at("../outside", "web/escape");
    link_at("/etc/passwd", "web/passwd.txt");
    link_at("/etc", "web/etc");
}

/* Starts the daemon on WEB_DIR. */
static void start(const char *web_dir)
{
    cr_assert_eq(setenv("HELPLINE_WEB_DIR", web_dir, 1), 0);
    hl_testd_start(&d, NULL);
}

/* ---- raw HTTP ------------------------------------------------------------------------------ */

typedef struct {
    long status;
    char *raw; /* the whole reply, NUL-terminated (malloc'd) */
    size_t raw_len;
    const char *body; /* into raw */
    size_t body_len;
} reply_t;

/* Sends REQUEST (raw bytes, LEN; it asks for Connection: close) and reads the reply until the
 * daemon closes, at most 5 s. */
static void exchange_n(const char *request, size_t len, reply_t *r)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)d.port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t cap = 4 << 20;
    double deadline = hl_testd_now() + 5;
    const char *end;

    memset(r, 0, sizeof(*r));
    r->raw = malloc(cap);
    cr_assert(fd >= 0 && r->raw != NULL);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0, "connect: %s", strerror(errno));
    for (size_t sent = 0; sent < len;) {
        ssize_t n = send(fd, request + sent, len - sent, MSG_NOSIGNAL);
        cr_assert_gt(n, 0, "send: %s", strerror(errno));
        sent += (size_t)n;
    }
    while (hl_testd_now() < deadline && r->raw_len + 1 < cap) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv(fd, r->raw + r->raw_len, cap - 1 - r->raw_len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        r->raw_len += (size_t)n;
    }
    close(fd);
    r->raw[r->raw_len] = '\0';
    if (sscanf(r->raw, "HTTP/1.%*d %ld", &r->status) != 1)
        r->status = 0;
    end = strstr(r->raw, "\r\n\r\n");
    r->body = end != NULL ? end + 4 : r->raw + r->raw_len;
    r->body_len = (size_t)(r->raw + r->raw_len - r->body);
}

static void exchange(const char *method, const char *target, const char *extra_headers, reply_t *r)
{
    char req[2048];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n",
                     method, target, extra_headers != NULL ? extra_headers : "");

    cr_assert(n > 0 && (size_t)n < sizeof(req));
    exchange_n(req, (size_t)n, r);
}

static void reply_free(reply_t *r)
{
    free(r->raw);
    r->raw = NULL;
}

/* The value of header NAME in R (case-insensitive name), copied into OUT; NULL when absent. */
static const char *header(const reply_t *r, const char *name, char *out, size_t cap)
{
    size_t len = strlen(name);

    for (const char *line = strstr(r->raw, "\r\n"); line != NULL && line + 2 < r->body;
         line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, len) == 0 && h[len] == ':') {
            const char *v = h + len + 1 + strspn(h + len + 1, " ");
            size_t vlen = strcspn(v, "\r");
            if (vlen >= cap)
                vlen = cap - 1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return out;
        }
    }
    return NULL;
}

static void expect_header(const reply_t *r, const char *name, const char *want)
{
    char v[512];
    const char *got = header(r, name, v, sizeof(v));

    cr_expect_not_null(got, "no %s header in:\n%.600s", name, r->raw);
    if (got != NULL)
        cr_expect_str_eq(got, want, "%s", name);
}

static void expect_security_headers(const reply_t *r)
{
    expect_header(r, "Content-Security-Policy", CSP);
    expect_header(r, "X-Content-Type-Options", "nosniff");
    expect_header(r, "Referrer-Policy", "no-referrer");
    expect_header(r, "X-Frame-Options", "DENY");
}

/* A strong entity tag: a quoted run of hex digits. */
static void expect_strong_etag(const reply_t *r, char etag[64])
{
    cr_assert_not_null(header(r, "ETag", etag, 64), "no ETag in:\n%.600s", r->raw);
    cr_expect(etag[0] == '"' && strlen(etag) == 34 && etag[33] == '"' &&
                  strspn(etag + 1, "0123456789abcdef") == 32,
              "ETag %s", etag);
}

/* ---- tests ------------------------------------------------------------------------------- */

Test(web, files_are_served_with_their_type_and_the_security_headers)
{
    static const struct {
        const char *path, *type, *body;
    } files[] = {
        {"/", "text/html; charset=utf-8", index_html},
        {"/index.html", "text/html; charset=utf-8", index_html},
        {"/app.js", "text/javascript; charset=utf-8", app_js},
        {"/lib/dom.js", "text/javascript; charset=utf-8", "export function h() {}\n"},
        {"/style.css", "text/css; charset=utf-8", "body { margin: 0 }\n"},
        {"/i18n/en.json", "application/json", "{\"common.save\": \"Save\"}\n"},
        {"/app.js?v=2", "text/javascript; charset=utf-8", app_js}, /* the query is no part of the path */
    };
    char etag[64], etag2[64], v[64];
    reply_t r;

    make_fixture();
    start(web);
    for (size_t i = 0; i < HL_ARRAY_LEN(files); i++) {
        exchange("GET", files[i].path, NULL, &r);
        cr_assert_eq(r.status, 200, "GET %s:\n%.600s", files[i].path, r.raw);
        expect_header(&r, "Content-Type", files[i].type);
        expect_header(&r, "Cache-Control", "no-cache");
        expect_security_headers(&r);
        expect_strong_etag(&r, i == 1 ? etag2 : etag);
        cr_expect_eq(r.body_len, strlen(files[i].body), "%s", files[i].path);
        cr_expect_eq(memcmp(r.body, files[i].body, r.body_len), 0, "%s", files[i].path);
        reply_free(&r);
        if (i == 1)
            cr_expect_str_eq(etag, etag2, "/ and /index.html are one file");
    }

    /* HEAD: the same headers, no body. */
    exchange("HEAD", "/app.js", NULL, &r);
    cr_expect_eq(r.status, 200);
    expect_security_headers(&r);
    snprintf(v, sizeof(v), "%zu", strlen(app_js));
    expect_header(&r, "Content-Length", v);
    cr_expect_eq(r.body_len, 0, "a body after HEAD:\n%s", r.raw);
    reply_free(&r);

    /* The API keeps no-store and gets none of the page headers' caching. */
    exchange("GET", "/healthz", NULL, &r);
    cr_expect_eq(r.status, 200);
    expect_header(&r, "Cache-Control", "no-store");
    reply_free(&r);
    exchange("GET", "/v1/taxonomy", NULL, &r);
    cr_expect_eq(r.status, 401, "/v1 needs a token:\n%.600s", r.raw);
    expect_header(&r, "Cache-Control", "no-store");
    reply_free(&r);
}

Test(web, if_none_match_gets_304_without_a_body)
{
    char etag[64], hdr[256], again[64];
    reply_t r;

    make_fixture();
    start(web);
    exchange("GET", "/app.js", NULL, &r);
    cr_assert_eq(r.status, 200);
    expect_strong_etag(&r, etag);
    reply_free(&r);

    const char *prefixes[] = {"", "W/", "\"other\", ", NULL}; /* NULL: "*" */
    for (size_t i = 0; i < HL_ARRAY_LEN(prefixes); i++) {
        char value[128];
        snprintf(value, sizeof(value), "%s%s", prefixes[i] != NULL ? prefixes[i] : "*",
                 prefixes[i] != NULL ? etag : "");
        snprintf(hdr, sizeof(hdr), "If-None-Match: %s\r\n", value);
        exchange("GET", "/app.js", hdr, &r);
        cr_expect_eq(r.status, 304, "If-None-Match: %s:\n%.600s", value, r.raw);
        cr_expect_eq(r.body_len, 0, "a body with 304");
        /* A Content-Length, if any, is the file's (RFC 9110 8.6), never 0. */
        if (header(&r, "Content-Length", again, sizeof(again)) != NULL)
            cr_expect_eq(strtoul(again, NULL, 10), strlen(app_js));
        cr_expect_not_null(header(&r, "ETag", again, sizeof(again)));
        cr_expect_str_eq(again, etag);
        expect_header(&r, "Cache-Control", "no-cache");
        expect_security_headers(&r);
        reply_free(&r);
    }

    /* Kept alive after a 304 and a HEAD, the connection carries the next reply intact: neither sent
     * a body. */
    char pipelined[1024];
    int n = snprintf(pipelined, sizeof(pipelined),
                     "GET /app.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s\r\n\r\n"
                     "HEAD /app.js HTTP/1.1\r\nHost: x\r\n\r\n"
                     "GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     etag);
    exchange_n(pipelined, (size_t)n, &r);
    const char *second = strstr(r.raw + 1, "HTTP/1.1 200"),
               *third = second != NULL ? strstr(second + 1, "HTTP/1.1 200") : NULL;
    cr_expect_eq(r.status, 304, "%s", r.raw);
    cr_assert_not_null(third, "three replies:\n%s", r.raw);
    cr_expect(strstr(third, "\r\n\r\nbody { margin: 0 }\n") != NULL, "%s", r.raw);
    cr_expect(strstr(r.raw, "import") == NULL, "a body after a 304 or a HEAD:\n%s", r.raw);
    reply_free(&r);

    /* Another file's tag, or a changed one: the file itself. */
    exchange("GET", "/style.css", NULL, &r);
    expect_strong_etag(&r, again);
    reply_free(&r);
    snprintf(hdr, sizeof(hdr), "If-None-Match: %s\r\n", again);
    exchange("GET", "/app.js", hdr, &r);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.body_len, strlen(app_js));
    reply_free(&r);
}

Test(web, other_methods_get_405_and_unknown_paths_404)
{
    static const char *const methods[] = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    char v[128];
    reply_t r;

    make_fixture();
    start(web);
    /* A POST with a body: refused from its headers, the body never read. */
    static const char post[] = "POST /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                               "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    exchange_n(post, sizeof(post) - 1, &r);
    cr_expect_eq(r.status, 405, "%.600s", r.raw);
    expect_header(&r, "Allow", "GET");
    reply_free(&r);
    for (size_t i = 0; i < HL_ARRAY_LEN(methods); i++) {
        exchange(methods[i], "/app.js", NULL, &r);
        cr_expect_eq(r.status, 405, "%s /app.js:\n%.600s", methods[i], r.raw);
        reply_free(&r);
    }

    /* Outside /v1: plain text, with the page headers. */
    exchange("GET", "/nope.js", NULL, &r);
    cr_expect_eq(r.status, 404);
    expect_header(&r, "Content-Type", "text/plain; charset=utf-8");
    expect_security_headers(&r);
    reply_free(&r);
    /* Under /v1: api.md's JSON error, for every method. */
    const char *api[][2] = {{"GET", "/v1/nope"}, {"POST", "/v1/nope"}, {"GET", "/v1"}, {"GET", "/v1/"}};
    for (size_t i = 0; i < HL_ARRAY_LEN(api); i++) {
        exchange(api[i][0], api[i][1], NULL, &r);
        cr_expect_eq(r.status, 404, "%s %s:\n%.600s", api[i][0], api[i][1], r.raw);
        cr_expect_not_null(header(&r, "Content-Type", v, sizeof(v)));
        cr_expect_str_eq(v, "application/json");
        cr_expect(strstr(r.body, "\"not_found\"") != NULL, "%s", r.body);
        reply_free(&r);
    }
}

/* Request targets that try to leave web_dir. Each is answered 400 or 404 and shows nothing of the
 * secret beside web_dir, of /etc/passwd, or of a directory listing. */
Test(web, traversal_attempts_never_leave_web_dir)
{
    static const char *const targets[] = {
        "/../outside/secret.js",
        "/../../../../../../etc/passwd",
        "/%2e%2e/outside/secret.js",
        "/%2E%2E/%2E%2E/%2E%2E/etc/passwd",
        "/..%2foutside%2fsecret.js",
        "/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/%252e%252e/outside/secret.js",
        "/..%5coutside%5csecret.js",
        "/..\\outside\\secret.js",
        "//etc/passwd",
        "///etc/passwd",
        "/etc/passwd",
        "/lib/../../outside/secret.js",
        "/lib/%2e%2e/%2e%2e/outside/secret.js",
        "/./../outside/secret.js",
        "/vendor/chart.js/../../../outside/secret.js",
        "/vendor/chart.js/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/leak.js",          /* a link to the secret */
        "/escape/secret.js", /* a link to its folder */
        "/passwd.txt",       /* a link to /etc/passwd */
        "/etc/passwd",       /* a link to /etc */
        "/escape/",
        "/index.html%00.js",
        "/leak.js%00",
        "/%00../outside/secret.js",
        "http://127.0.0.1/../outside/secret.js",
        "/.",
        "/..",
        "/lib/",
        "/lib",
    };
    reply_t r;

    make_fixture();
    start(web);
    exchange("GET", "/index.html", NULL, &r);
    cr_assert_eq(r.status, 200, "the fixture is served:\n%.600s", r.raw);
    reply_free(&r);
    for (size_t i = 0; i < HL_ARRAY_LEN(targets); i++) {
        for (int head = 0; head < 2; head++) {
            exchange(head ? "HEAD" : "GET", targets[i], NULL, &r);
            cr_expect(r.status == 404 || r.status == 400, "%s %s: %ld\n%.600s", head ? "HEAD" : "GET",
                      targets[i], r.status, r.raw);
            cr_expect(strstr(r.raw, SECRET) == NULL, "%s: the secret", targets[i]);
            cr_expect(strstr(r.raw, "root:") == NULL, "%s: /etc/passwd", targets[i]);
            cr_expect(strstr(r.raw, "secret.js") == NULL, "%s: a listing", targets[i]);
            reply_free(&r);
        }
    }
    /* Raw bytes a client library would not send: a NUL in the target, a backslash path. */
    static const char nul[] =
        "GET /index.html\0/../../outside/secret.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    exchange_n(nul, sizeof(nul) - 1, &r);
    cr_expect(r.status == 400 || r.status == 0, "%ld", r.status);
    cr_expect(strstr(r.raw, SECRET) == NULL);
    reply_free(&r);
}

Test(web, chartjs_is_served_under_vendor)
{
    size_t len;
    char *want;
    reply_t r;

    if (access(CHARTJS, R_OK) != 0)
        cr_skip_test(CHARTJS " is missing: install libjs-chart.js (scripts/install-deps does)");
    want = hl_testd_read_file(CHARTJS, &len);
    cr_assert_not_null(want);
    make_fixture();
    start(web);
    exchange("GET", "/vendor/chart.js/chart.min.js", NULL, &r);
    cr_expect_eq(r.status, 200, "%.600s", r.raw);
    expect_header(&r, "Content-Type", "text/javascript; charset=utf-8");
    expect_header(&r, "Cache-Control", "no-cache");
    expect_security_headers(&r);
    cr_expect_eq(r.body_len, len);
    cr_expect(r.body_len == len && memcmp(r.body, want, len) == 0, "not Chart.js's bytes");
    reply_free(&r);
    exchange("GET", "/vendor/chart.js/nope.js", NULL, &r);
    cr_expect_eq(r.status, 404);
    reply_free(&r);
    free(want);
}

Test(web, without_web_dir_only_the_api_is_served)
{
    char missing[160], *log;
    reply_t r;

    make_fixture();
    snprintf(missing, sizeof(missing), "%s/no-such-dir", root);
    start(missing);
    exchange("GET", "/", NULL, &r);
    cr_expect_eq(r.status, 404);
    reply_free(&r);
    exchange("GET", "/healthz", NULL, &r);
    cr_expect_eq(r.status, 200);
    reply_free(&r);
    log = hl_testd_read_file(d.log, NULL);
    cr_assert_not_null(log);
    cr_expect(strstr(log, "does not exist: the web application not served") != NULL, "no warning in the log");
    free(log);
}

Test(web, a_web_dir_over_the_size_limit_stops_start_up)
{
    char big[256], *log;
    int fd;

    make_fixture();
    start(web);
    /* A second serve with the same configuration and a file of 2 MiB + 1 byte in web_dir: it stops
     * before it listens or opens the spool. */
    snprintf(big, sizeof(big), "%s/big.js", web);
    fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(fd >= 0);
    cr_assert_eq(ftruncate(fd, (2 << 20) + 1), 0);
    close(fd);
    const char *args[] = {"serve", NULL};
    cr_expect_eq(hl_testd_admin(&d, NULL, 0, args), 1);
    log = hl_testd_read_file(d.log, NULL);
    cr_assert_not_null(log);
    cr_expect(strstr(log, "big.js is 2097153 bytes, over the limit of 2 MiB for one file") != NULL,
              "no message in the log");
    free(log);
}
