/* server/http/webfiles.c: what is loaded, at which path, with which type and ETag; what is refused. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/webfiles.h"
#include "log.h"

static char root[64];     /* the fixture's directory: web/, chart/, outside/ */
static char web[128];     /* the web_dir */
static char chart[128];   /* the Chart.js directory */
static char outside[128]; /* files next to web_dir that must never be served */

static void put(const char *dir, const char *rel, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

static void put_size(const char *dir, const char *rel, size_t size)
{
    char path[512];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(fd >= 0);
    cr_assert_eq(ftruncate(fd, (off_t)size), 0);
    close(fd);
}

static void sub(const char *dir, const char *rel)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    cr_assert_eq(mkdir(path, 0755), 0, "%s: %s", path, strerror(errno));
}

static void link_to(const char *target, const char *dir, const char *rel)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    cr_assert_eq(symlink(target, path), 0, "%s: %s", path, strerror(errno));
}

static void setup(void)
{
    strcpy(root, "/tmp/hl-webfiles-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
    snprintf(web, sizeof(web), "%s/web", root);
    snprintf(chart, sizeof(chart), "%s/chart", root);
    snprintf(outside, sizeof(outside), "%s/outside", root);
    cr_assert_eq(mkdir(web, 0755), 0);
    cr_assert_eq(mkdir(chart, 0755), 0);
    cr_assert_eq(mkdir(outside, 0755), 0);
    put(outside, "secret.js", "the secret outside web_dir");
    hl_log_set_level(HL_LOG_ERROR);
}

static void teardown(void)
{
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(webfiles, .init = setup, .fini = teardown);

/* The application of the fixture: one file of each type, a folder, and what must not be served. */
static void app_fixture(void)
{
    put(web, "index.html", "<!doctype html><title>t</title>");
    put(web, "app.js", "export const a = 1;");
    put(web, "mod.mjs", "export const b = 2;");
    put(web, "style.css", "body{}");
    put(web, "logo.svg", "<svg/>");
    put(web, "logo.png", "PNG");
    put(web, "favicon.ico", "ICO");
    put(web, "font.woff2", "WOFF2");
    put(web, "robots.txt", "User-agent: *");
    sub(web, "i18n");
    put(web, "i18n/en.json", "{\"a\": \"b\"}");
    put(web, "i18n/fr.json", "{\"a\": \"b\"}"); /* the same bytes as en.json */
    sub(web, "pages");
    put(web, "pages/log.js", "export function render() {}");
    /* Not served: unknown types, hidden names, odd names, links, a FIFO. */
    put(web, "README.md", "notes");
    put(web, "app.js~", "backup");
    put(web, ".env", "SECRET=1");
    sub(web, ".git");
    put(web, ".git/config", "[core]");
    put(web, "a b.js", "space");
    put(web, "q%2e.js", "percent");
    link_to(outside, web, "escape");                 /* a folder outside */
    link_to("../outside/secret.js", web, "leak.js"); /* a file outside */
    link_to("/etc/passwd", web, "passwd.txt");       /* an absolute link */
    link_to("app.js", web, "alias.js");              /* a link inside: not served either */
    char fifo[512];
    snprintf(fifo, sizeof(fifo), "%s/pipe.js", web);
    cr_assert_eq(mkfifo(fifo, 0644), 0);
    put(chart, "chart.min.js", "/* Chart.js */");
    sub(chart, "chunks");
    put(chart, "chunks/helpers.segment.js", "/* helpers */");
}

static hl_webfiles_t *load(void)
{
    hl_webfiles_t *files = NULL;

    cr_assert_eq(hl_webfiles_load(web, chart, &files), HL_OK);
    return files;
}

Test(webfiles, serves_every_file_of_a_known_type_with_its_content_type)
{
    static const struct {
        const char *path, *type, *body;
    } cases[] = {
        {"/", "text/html; charset=utf-8", "<!doctype html><title>t</title>"},
        {"/index.html", "text/html; charset=utf-8", "<!doctype html><title>t</title>"},
        {"/app.js", "text/javascript; charset=utf-8", "export const a = 1;"},
        {"/mod.mjs", "text/javascript; charset=utf-8", "export const b = 2;"},
        {"/style.css", "text/css; charset=utf-8", "body{}"},
        {"/logo.svg", "image/svg+xml", "<svg/>"},
        {"/logo.png", "image/png", "PNG"},
        {"/favicon.ico", "image/x-icon", "ICO"},
        {"/font.woff2", "font/woff2", "WOFF2"},
        {"/robots.txt", "text/plain; charset=utf-8", "User-agent: *"},
        {"/i18n/en.json", "application/json", "{\"a\": \"b\"}"},
        {"/pages/log.js", "text/javascript; charset=utf-8", "export function render() {}"},
        {"/vendor/chart.js/chart.min.js", "text/javascript; charset=utf-8", "/* Chart.js */"},
        {"/vendor/chart.js/chunks/helpers.segment.js", "text/javascript; charset=utf-8", "/* helpers */"},
    };
    hl_webfiles_t *files;

    app_fixture();
    files = load();
    for (size_t i = 0; i < HL_ARRAY_LEN(cases); i++) {
        const hl_webfile_t *f = hl_webfiles_find(files, cases[i].path);
        cr_assert_not_null(f, "%s", cases[i].path);
        cr_expect_str_eq(f->content_type, cases[i].type, "%s", cases[i].path);
        cr_expect_eq(f->len, strlen(cases[i].body), "%s", cases[i].path);
        cr_expect_eq(memcmp(f->data, cases[i].body, f->len), 0, "%s", cases[i].path);
    }
    /* Those ("/" is "/index.html") and i18n/fr.json: nothing else. */
    cr_expect_eq(hl_webfiles_count(files), HL_ARRAY_LEN(cases) - 1 + 1);
    hl_webfiles_free(files);
}

Test(webfiles, the_etag_is_a_strong_hash_of_the_bytes)
{
    hl_webfiles_t *files;
    const hl_webfile_t *en, *fr, *app;
    char before[HL_WEBFILES_ETAG_LEN];

    app_fixture();
    files = load();
    en = hl_webfiles_find(files, "/i18n/en.json");
    fr = hl_webfiles_find(files, "/i18n/fr.json");
    app = hl_webfiles_find(files, "/app.js");
    cr_assert(en != NULL && fr != NULL && app != NULL);
    cr_expect_eq(strlen(en->etag), HL_WEBFILES_ETAG_LEN - 1);
    cr_expect(en->etag[0] == '"' && en->etag[HL_WEBFILES_ETAG_LEN - 2] == '"', "%s", en->etag);
    cr_expect_eq(strspn(en->etag + 1, "0123456789abcdef"), HL_WEBFILES_ETAG_LEN - 3, "%s", en->etag);
    cr_expect_str_eq(en->etag, fr->etag, "the same bytes, the same tag");
    cr_expect_str_neq(en->etag, app->etag);
    strcpy(before, en->etag);
    hl_webfiles_free(files);

    /* One byte changed, another tag. */
    put(web, "i18n/en.json", "{\"a\": \"c\"}");
    files = load();
    en = hl_webfiles_find(files, "/i18n/en.json");
    cr_assert_not_null(en);
    cr_expect_str_neq(en->etag, before);
    hl_webfiles_free(files);
}

Test(webfiles, every_reply_header_is_there)
{
    hl_webfiles_t *files;
    const hl_webfile_t *f;
    const char *want[][2] = {
        {"Content-Security-Policy",
         "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
         "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"},
        {"X-Content-Type-Options", "nosniff"},
        {"Referrer-Policy", "no-referrer"},
        {"X-Frame-Options", "DENY"},
        {"Cache-Control", "no-cache"},
        {"ETag", NULL},
    };

    app_fixture();
    files = load();
    f = hl_webfiles_find(files, "/app.js");
    cr_assert_not_null(f);
    for (size_t i = 0; i < HL_ARRAY_LEN(want); i++) {
        const char *got = NULL;
        for (const char *const *h = f->headers; h[0] != NULL; h += 2)
            if (strcmp(h[0], want[i][0]) == 0)
                got = h[1];
        cr_assert_not_null(got, "%s", want[i][0]);
        cr_expect_str_eq(got, want[i][1] != NULL ? want[i][1] : f->etag, "%s", want[i][0]);
    }
    hl_webfiles_free(files);
}

Test(webfiles, links_hidden_odd_and_unknown_entries_are_not_served)
{
    static const char *const paths[] = {
        "/README.md",        "/app.js~", "/.env",       "/.git/config", "/a b.js",  "/q%2e.js", "/q..js",
        "/escape/secret.js", "/leak.js", "/passwd.txt", "/alias.js",    "/pipe.js", "/escape",  "/i18n",
        "/pages/",
    };
    hl_webfiles_t *files;

    app_fixture();
    files = load();
    for (size_t i = 0; i < HL_ARRAY_LEN(paths); i++)
        cr_expect_null(hl_webfiles_find(files, paths[i]), "%s is served", paths[i]);
    hl_webfiles_free(files);
}

/* What a request path can hold after libmicrohttpd decoded it: nothing of it reaches a file. */
Test(webfiles, traversal_attempts_find_nothing)
{
    static const char *const paths[] = {
        "/../etc/passwd",
        "/../outside/secret.js",
        "/..",
        "/../",
        "/%2e%2e/%2e%2e/etc/passwd", /* as it comes when a client encodes twice */
        "//etc/passwd",
        "//index.html",
        "/./index.html",
        "/i18n/../index.html",
        "/i18n/./en.json",
        "/i18n//en.json",
        "/index.html/",
        "/index.html/.",
        "/vendor/chart.js/../../index.html",
        "/vendor/chart.js/../../../outside/secret.js",
        "/vendor/../index.html",
        "\\..\\outside\\secret.js",
        "/..\\outside\\secret.js",
        "index.html",
        "",
        "/etc/passwd",
        "/escape/secret.js",
        "/INDEX.HTML",
        "/index.html?x",
        "/index.html#x",
        "/index.html\n",
    };
    hl_webfiles_t *files;

    app_fixture();
    files = load();
    for (size_t i = 0; i < HL_ARRAY_LEN(paths); i++)
        cr_expect_null(hl_webfiles_find(files, paths[i]), "\"%s\" is served", paths[i]);
    /* A path past 1 KiB is nobody's. */
    char longp[1200];
    memset(longp, 'a', sizeof(longp));
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    cr_expect_null(hl_webfiles_find(files, longp));
    hl_webfiles_free(files);
}

Test(webfiles, if_none_match)
{
    static const char etag[] = "\"0123456789abcdef0123456789abcdef\"";
    static const struct {
        const char *header;
        bool match;
    } cases[] = {
        {NULL, false},
        {"", false},
        {"\"0123456789abcdef0123456789abcdef\"", true},
        {"W/\"0123456789abcdef0123456789abcdef\"", true}, /* If-None-Match compares weakly */
        {"\"x\", \"0123456789abcdef0123456789abcdef\"", true},
        {"\"x\",\"0123456789abcdef0123456789abcdef\" ", true},
        {"  \"x\" , W/\"0123456789abcdef0123456789abcdef\"", true},
        {"*", true},
        {" * ", true},
        {"\"x\"", false},
        {"\"0123456789abcdef0123456789abcde\"", false},   /* a prefix */
        {"\"0123456789abcdef0123456789abcdef0\"", false}, /* longer */
        {"0123456789abcdef0123456789abcdef", false},      /* unquoted */
        {"\"0123456789abcdef0123456789abcdef", false},    /* unterminated */
        {"\"0123456789ABCDEF0123456789ABCDEF\"", false},  /* opaque: case counts */
        {"*, \"x\"", false},
        {"w/\"0123456789abcdef0123456789abcdef\"", false},
    };

    for (size_t i = 0; i < HL_ARRAY_LEN(cases); i++)
        cr_expect_eq(hl_webfiles_etag_matches(cases[i].header, etag), cases[i].match, "%s",
                     cases[i].header != NULL ? cases[i].header : "(none)");
}

Test(webfiles, missing_directories_serve_nothing_from_them)
{
    hl_webfiles_t *files = NULL;
    char missing[256];

    app_fixture();
    snprintf(missing, sizeof(missing), "%s/none", root);
    cr_assert_eq(hl_webfiles_load(missing, chart, &files), HL_OK);
    cr_expect_null(hl_webfiles_find(files, "/"));
    cr_expect_not_null(hl_webfiles_find(files, "/vendor/chart.js/chart.min.js"));
    hl_webfiles_free(files);

    cr_assert_eq(hl_webfiles_load(web, missing, &files), HL_OK);
    cr_expect_not_null(hl_webfiles_find(files, "/"));
    cr_expect_null(hl_webfiles_find(files, "/vendor/chart.js/chart.min.js"));
    hl_webfiles_free(files);

    cr_assert_eq(hl_webfiles_load(NULL, NULL, &files), HL_OK);
    cr_expect_eq(hl_webfiles_count(files), 0);
    hl_webfiles_free(files);
    cr_expect_null(hl_webfiles_find(NULL, "/"));
}

Test(webfiles, web_dir_may_not_replace_chartjs)
{
    hl_webfiles_t *files;
    const hl_webfile_t *f;

    app_fixture();
    sub(web, "vendor");
    sub(web, "vendor/chart.js");
    put(web, "vendor/chart.js/chart.min.js", "alert('not Chart.js')");
    put(web, "vendor/chart.js/extra.js", "/* extra */");
    files = load();
    f = hl_webfiles_find(files, "/vendor/chart.js/chart.min.js");
    cr_assert_not_null(f);
    cr_expect_eq(memcmp(f->data, "/* Chart.js */", f->len), 0);
    cr_expect_not_null(hl_webfiles_find(files, "/vendor/chart.js/extra.js"));
    hl_webfiles_free(files);
}

/* Runs hl_webfiles_load on WEB with stderr captured into MSG; returns its result. */
static int load_capturing(char *msg, size_t cap)
{
    char path[] = "/tmp/hl-webfiles-stderr-XXXXXX";
    int fd = mkstemp(path), saved = dup(2), rc;
    hl_webfiles_t *files = NULL;
    ssize_t n;

    cr_assert(fd >= 0 && saved >= 0);
    fflush(stderr);
    dup2(fd, 2);
    rc = hl_webfiles_load(web, chart, &files);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    n = pread(fd, msg, cap - 1, 0);
    msg[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    cr_expect_eq(rc == HL_OK, files != NULL);
    hl_webfiles_free(files);
    return rc;
}

Test(webfiles, a_file_over_the_limit_is_refused_with_a_clear_message)
{
    char msg[1024];

    put(web, "index.html", "x");
    put_size(web, "big.js", HL_WEBFILES_MAX_FILE_BYTES);
    cr_assert_eq(load_capturing(msg, sizeof(msg)), HL_OK, "exactly the limit is fine: %s", msg);
    put_size(web, "big.js", HL_WEBFILES_MAX_FILE_BYTES + 1);
    cr_assert_eq(load_capturing(msg, sizeof(msg)), HL_EINVAL);
    cr_expect(strstr(msg, "big.js is 2097153 bytes, over the limit of 2 MiB for one file") != NULL, "%s",
              msg);
}

Test(webfiles, a_tree_over_the_limit_is_refused_with_a_clear_message)
{
    char msg[1024], name[32];

    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof(name), "f%d.js", i);
        put_size(web, name, HL_WEBFILES_MAX_FILE_BYTES);
    }
    cr_assert_eq(load_capturing(msg, sizeof(msg)), HL_OK, "16 MiB is fine: %s", msg);
    put(web, "one-more.js", "x");
    cr_assert_eq(load_capturing(msg, sizeof(msg)), HL_EINVAL);
    cr_expect(strstr(msg, "over the limit of 16 MiB in all") != NULL, "%s", msg);
    cr_expect(strstr(msg, web) != NULL, "%s", msg);
}

Test(webfiles, a_tree_too_deep_is_refused)
{
    char rel[256] = "", msg[1024];

    for (int i = 0; i <= HL_WEBFILES_MAX_DEPTH; i++) {
        strcat(rel, i == 0 ? "d" : "/d");
        sub(web, rel);
    }
    cr_assert_eq(load_capturing(msg, sizeof(msg)), HL_EINVAL);
    cr_expect(strstr(msg, "folders deep") != NULL, "%s", msg);
}

Test(webfiles, an_unreadable_file_stops_the_load)
{
    char msg[1024], path[512];

    if (geteuid() == 0) {
        teardown(); /* a skipped test's .fini does not run */
        cr_skip_test("root reads files of mode 0000");
    }
    put(web, "index.html", "x");
    snprintf(path, sizeof(path), "%s/index.html", web);
    cr_assert_eq(chmod(path, 0), 0);
    cr_assert_eq(load_capturing(msg, sizeof(msg)), HL_EIO);
    cr_expect(strstr(msg, "cannot read") != NULL, "%s", msg);
}
