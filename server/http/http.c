#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <sodium/utils.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define PATH_ARG_MAX 128

#define DEFAULT_MAX_CONNECTIONS        4096u
#define DEFAULT_MAX_CONNECTIONS_PER_IP 512u
#define DEFAULT_HEADER_TIMEOUT_S       10u
/* Descriptors the daemon needs besides its HTTP connections: listening socket, epoll and wake-up
 * descriptors per thread, PostgreSQL connections (pool, writer, merger, health), spool and key
 * files, the log. RLIMIT_NOFILE must leave this much room above the connection limit. */
#define FD_RESERVE 256u
/* libmicrohttpd keeps each connection's request (headers and the body as it passes through) in a
 * pool of this size. Over 32 KiB it maps the pool (mmap) and unmaps it when the connection closes,
 * so nothing of a request stays behind in freed heap memory; between two requests on one
 * connection it zeroes the pool (MHD_pool_reset). At 32 KiB or less it would malloc and free it. */
#define CONNECTION_POOL_BYTES (36u * 1024u)
/* How often the header deadline is checked. */
#define REAPER_INTERVAL_MS 250

/* Status codes counted one by one in /metrics; the rest fall into "other". */
static const unsigned counted_status[] = {200, 201, 202, 400, 401, 403, 404, 405, 413, 415, 429, 500, 503};
#define N_STATUS (HL_ARRAY_LEN(counted_status) + 1)

/* Latency histogram bucket bounds in microseconds (Prometheus "le" in seconds). */
static const uint64_t latency_bounds_us[] = {1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000};
#define N_BUCKETS (HL_ARRAY_LEN(latency_bounds_us) + 1)

/* One per TCP connection (MHD_OPTION_NOTIFY_CONNECTION), on the list of its daemon. */
typedef struct hl_conn {
    struct hl_conn *prev, *next;
    int fd;
    /* Under conns_lock: since when the connection waits for complete request headers. */
    bool waiting;
    bool cut; /* shut down by the reaper */
    uint64_t since_ms;
    /* The raw request target, as the URI log callback saw it before libmicrohttpd decoded it in
     * place: its start, its length up to the first NUL byte, and whether it holds "%00". */
    const char *raw_target;
    size_t raw_target_len;
    bool target_pct00;
} hl_conn_t;

struct hl_http {
    struct MHD_Daemon *daemon;
    hl_http_opts_t opts;
    unsigned connection_limit; /* opts' limit, lowered to fit RLIMIT_NOFILE */
    unsigned header_timeout_ms;
    /* Every open connection; a reaper thread shuts down those whose request headers are not
     * complete within header_timeout_ms (libmicrohttpd's own timeout restarts with every byte). */
    pthread_mutex_t conns_lock;
    pthread_cond_t reaper_wake;
    pthread_t reaper;
    bool reaper_running, stopping;
    hl_conn_t *conns;
    char *tls_cert;
    char *tls_key;
    atomic_int deferred; /* requests waiting for a reply from another thread */
    /* [route][status]; the extra route row counts requests that matched no route */
    _Atomic uint64_t *counts;
    _Atomic uint64_t buckets[N_BUCKETS];
    _Atomic uint64_t latency_sum_us;
    _Atomic uint64_t latency_count;
};

struct hl_request {
    hl_http_t *http;
    struct MHD_Connection *conn;
    hl_method_t method;
    char *path;
    const hl_route_t *route; /* NULL: no route matched */
    char path_arg[PATH_ARG_MAX];
    char *body;
    size_t body_len, body_cap;
    bool too_large;
    bool dispatched;
    bool deferred;
    hl_principal_t principal;
    char client_ip[INET6_ADDRSTRLEN];
    struct timespec start;
    /* The reply, written once by hl_http_reply_*; ready is the release flag. */
    atomic_bool ready;
    unsigned status;
    const char *content_type;
    const char *extra_header, *extra_value;
    char *reply;
    size_t reply_len;
    char *set_cookie; /* a Set-Cookie value (it may hold a session token: wiped) */
    char retry_after[16];
    /* hl_http_reply_static: the body (reply is NULL then) and the headers, neither ours. */
    const char *static_body;
    const char *const *static_headers;
};

const char *hl_role_name(hl_role_t role)
{
    switch (role) {
    case HL_ROLE_FRONTEND:
        return "frontend";
    case HL_ROLE_COUNSELLOR:
        return "counsellor";
    case HL_ROLE_SUPERVISOR:
        return "supervisor";
    case HL_ROLE_NETWORK:
        return "network";
    case HL_ROLE_ADMIN:
        return "admin";
    }
    return "?";
}

bool hl_role_parse(const char *s, hl_role_t *out)
{
    static const hl_role_t all[] = {HL_ROLE_FRONTEND, HL_ROLE_COUNSELLOR, HL_ROLE_SUPERVISOR, HL_ROLE_NETWORK,
                                    HL_ROLE_ADMIN};

    for (size_t i = 0; i < HL_ARRAY_LEN(all); i++) {
        if (strcmp(s, hl_role_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    }
    return false;
}

/* ---- replies ----------------------------------------------------------------------------- */

/* Request and reply bodies may hold a child's name or words: every buffer that held one is wiped
 * before it is freed, also by libmicrohttpd once it has sent a reply (its free callback). */
static void wipe_free(void *p)
{
    if (p != NULL) {
        sodium_memzero(p, malloc_usable_size(p));
        free(p);
    }
}

static void set_reply(hl_request_t *req, unsigned status, const char *content_type, char *buf, size_t len)
{
    if (atomic_load(&req->ready)) {
        hl_log(HL_LOG_ERROR, "bug: second reply to one request (route %s)",
               req->route != NULL ? req->route->name : "-");
        wipe_free(buf);
        return;
    }
    req->status = status;
    req->content_type = content_type;
    req->reply = buf;
    req->reply_len = len;
    atomic_store_explicit(&req->ready, true, memory_order_release);
    if (req->deferred) {
        /* From another thread: wake the connection up; the access handler queues the reply. */
        MHD_resume_connection(req->conn);
    }
}

void hl_http_reply_raw(hl_request_t *req, unsigned status, const char *content_type, const char *body,
                       size_t len)
{
    char *copy = malloc(len + 1);

    if (copy == NULL) {
        set_reply(req, 503, "application/json", NULL, 0);
        return;
    }
    memcpy(copy, body, len);
    copy[len] = '\0';
    set_reply(req, status, content_type, copy, len);
}

void hl_http_reply_static(hl_request_t *req, unsigned status, const char *content_type,
                          const char *const *headers, const void *body, size_t len)
{
    if (atomic_load(&req->ready)) {
        set_reply(req, status, content_type, NULL, 0); /* logs the bug */
        return;
    }
    req->static_body = body;
    req->static_headers = headers;
    set_reply(req, status, content_type, NULL, len);
}

void hl_http_reply_json(hl_request_t *req, unsigned status, json_t *body)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;

    json_decref(body);
    if (text == NULL) {
        hl_http_reply_error(req, 503, "unavailable", "out of memory", NULL);
        return;
    }
    if (status == 503) { /* api.md: every 503 says when to try again */
        req->extra_header = "Retry-After";
        req->extra_value = "5";
    }
    set_reply(req, status, "application/json", text, strlen(text));
}

void hl_http_reply_error(hl_request_t *req, unsigned status, const char *code, const char *message,
                         const char *field)
{
    json_t *err = json_pack("{s:s, s:s}", "code", code, "message", message);
    json_t *body = NULL;
    char *text = NULL;

    if (err != NULL && field != NULL)
        json_object_set_new(err, "field", json_string(field));
    if (err != NULL)
        body = json_pack("{s:o}", "error", err);
    if (body != NULL)
        text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (status == 503) {
        req->extra_header = "Retry-After";
        req->extra_value = "5";
    }
    if (text == NULL) {
        /* No memory for even the error: a fixed body. */
        static const char oom[] = "{\"error\":{\"code\":\"unavailable\",\"message\":\"out of memory\"}}";
        text = strdup(oom);
        status = 503;
        req->extra_header = "Retry-After";
        req->extra_value = "5";
    }
    set_reply(req, status, "application/json", text, text != NULL ? strlen(text) : 0);
}

void hl_http_defer(hl_request_t *req)
{
    req->deferred = true;
    atomic_fetch_add(&req->http->deferred, 1);
    MHD_suspend_connection(req->conn);
}

/* ---- accessors ----------------------------------------------------------------------------- */

const char *hl_http_path(const hl_request_t *req)
{
    return req->path;
}

const char *hl_http_path_arg(const hl_request_t *req)
{
    return req->path_arg;
}

const char *hl_http_body(const hl_request_t *req, size_t *len)
{
    *len = req->body_len;
    return req->body != NULL ? req->body : "";
}

const char *hl_http_query(const hl_request_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *hl_http_header(const hl_request_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const hl_principal_t *hl_http_principal(const hl_request_t *req)
{
    return &req->principal;
}

const char *hl_http_client_ip(const hl_request_t *req)
{
    return req->client_ip;
}

static bool tls(const hl_http_t *http)
{
    return http->opts.tls_cert_file != NULL;
}

const char *hl_http_session_cookie(const hl_request_t *req)
{
    return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND,
                                       tls(req->http) ? "__Host-" HL_HTTP_SESSION_COOKIE
                                                      : HL_HTTP_SESSION_COOKIE);
}

int hl_http_set_session_cookie(hl_request_t *req, const char *value, unsigned max_age)
{
    char *c = NULL;
    int n;

    /* __Host-: the browser takes it only with Secure and Path=/ and no Domain, from this host. */
    n = asprintf(&c, "%s%s=%s; Path=/; Max-Age=%u; HttpOnly; SameSite=Strict%s",
                 tls(req->http) ? "__Host-" : "", HL_HTTP_SESSION_COOKIE, value != NULL ? value : "",
                 value != NULL ? max_age : 0, tls(req->http) ? "; Secure" : "");
    if (n < 0)
        return HL_ENOMEM;
    wipe_free(req->set_cookie);
    req->set_cookie = c;
    return HL_OK;
}

void hl_http_retry_after(hl_request_t *req, unsigned seconds)
{
    snprintf(req->retry_after, sizeof(req->retry_after), "%u", seconds);
    req->extra_header = "Retry-After";
    req->extra_value = req->retry_after;
}

/* ---- metrics ----------------------------------------------------------------------------- */

static size_t status_slot(unsigned status)
{
    for (size_t i = 0; i < HL_ARRAY_LEN(counted_status); i++)
        if (counted_status[i] == status)
            return i;
    return N_STATUS - 1;
}

static void account(hl_http_t *http, const hl_request_t *req)
{
    struct timespec now;
    size_t route = req->route != NULL ? (size_t)(req->route - http->opts.routes) : http->opts.n_routes;
    uint64_t us;
    size_t b = 0;

    clock_gettime(CLOCK_MONOTONIC, &now);
    us = (uint64_t)(now.tv_sec - req->start.tv_sec) * 1000000u +
         (uint64_t)((now.tv_nsec - req->start.tv_nsec) / 1000);
    atomic_fetch_add(&http->counts[route * N_STATUS + status_slot(req->status)], 1);
    while (b < HL_ARRAY_LEN(latency_bounds_us) && us > latency_bounds_us[b])
        b++;
    atomic_fetch_add(&http->buckets[b], 1);
    atomic_fetch_add(&http->latency_sum_us, us);
    atomic_fetch_add(&http->latency_count, 1);
}

static int appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...) HL_PRINTF(4, 5);

static int appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return -1;
        if ((size_t)n < *cap - *len) {
            *len += (size_t)n;
            return 0;
        }
        char *grown = realloc(*buf, *cap * 2 + (size_t)n);
        if (grown == NULL)
            return -1;
        *buf = grown;
        *cap = *cap * 2 + (size_t)n;
    }
}

char *hl_http_metrics(hl_http_t *http)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    uint64_t cumulative = 0;
    int rc = 0;

    if (buf == NULL)
        return NULL;
    buf[0] = '\0';
    rc |= appendf(&buf, &len, &cap,
                  "# HELP helpline_http_requests_total HTTP requests by route and status.\n"
                  "# TYPE helpline_http_requests_total counter\n");
    for (size_t r = 0; r <= http->opts.n_routes && rc == 0; r++) {
        const char *name = r < http->opts.n_routes ? http->opts.routes[r].name : "unmatched";
        for (size_t s = 0; s < N_STATUS && rc == 0; s++) {
            uint64_t v = atomic_load(&http->counts[r * N_STATUS + s]);
            if (v == 0)
                continue;
            if (s < HL_ARRAY_LEN(counted_status))
                rc |= appendf(&buf, &len, &cap,
                              "helpline_http_requests_total{route=\"%s\",status=\"%u\"} %llu\n", name,
                              counted_status[s], (unsigned long long)v);
            else
                rc |= appendf(&buf, &len, &cap,
                              "helpline_http_requests_total{route=\"%s\",status=\"other\"} %llu\n", name,
                              (unsigned long long)v);
        }
    }
    rc |= appendf(&buf, &len, &cap,
                  "# HELP helpline_http_request_duration_seconds Time from request start to reply.\n"
                  "# TYPE helpline_http_request_duration_seconds histogram\n");
    for (size_t b = 0; b < N_BUCKETS && rc == 0; b++) {
        cumulative += atomic_load(&http->buckets[b]);
        if (b < HL_ARRAY_LEN(latency_bounds_us))
            rc |= appendf(&buf, &len, &cap, "helpline_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                          (double)latency_bounds_us[b] / 1e6, (unsigned long long)cumulative);
        else
            rc |=
                appendf(&buf, &len, &cap, "helpline_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                        (unsigned long long)cumulative);
    }
    rc |= appendf(&buf, &len, &cap,
                  "helpline_http_request_duration_seconds_sum %.6f\n"
                  "helpline_http_request_duration_seconds_count %llu\n",
                  (double)atomic_load(&http->latency_sum_us) / 1e6,
                  (unsigned long long)atomic_load(&http->latency_count));
    if (rc != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- routing ----------------------------------------------------------------------------- */

static hl_method_t parse_method(const char *m)
{
    if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
        return HL_METHOD_GET;
    if (strcmp(m, "POST") == 0)
        return HL_METHOD_POST;
    if (strcmp(m, "PATCH") == 0)
        return HL_METHOD_PATCH;
    if (strcmp(m, "PUT") == 0)
        return HL_METHOD_PUT;
    if (strcmp(m, "DELETE") == 0)
        return HL_METHOD_DELETE;
    return HL_METHOD_OTHER;
}

static const char *method_name(hl_method_t m)
{
    switch (m) {
    case HL_METHOD_GET:
        return "GET";
    case HL_METHOD_POST:
        return "POST";
    case HL_METHOD_PATCH:
        return "PATCH";
    case HL_METHOD_PUT:
        return "PUT";
    case HL_METHOD_DELETE:
        return "DELETE";
    default:
        return "?";
    }
}

/* Does PATH match PATTERN, where a "*" segment matches one non-empty segment ("/a/b/" then
 * "*", or "/a/" "*" "/c")? ARG gets the matched segments joined with '/'. */
static bool path_matches(const char *pattern, const char *path, char arg[PATH_ARG_MAX])
{
    size_t used = 0;

    arg[0] = '\0';
    while (*pattern != '\0') {
        if (*pattern == '*') {
            size_t seg = strcspn(path, "/");
            if (seg == 0 || used + (used > 0) + seg >= PATH_ARG_MAX)
                return false;
            if (used > 0)
                arg[used++] = '/';
            memcpy(arg + used, path, seg);
            arg[used += seg] = '\0';
            path += seg;
            pattern++;
        } else if (*pattern++ != *path++) {
            return false;
        }
    }
    return *path == '\0';
}

/* Is PATH the API's (/v1 or below)? */
static bool api_path(const char *path)
{
    return strncmp(path, "/v1", 3) == 0 && (path[3] == '\0' || path[3] == '/');
}

/* Finds the route; *ALLOW lists the methods of a path that exists with another method. The routes
 * of path "/" "**" are tried last, when no other route has the path and it is not the API's. */
static const hl_route_t *route_find(const hl_http_t *http, hl_request_t *req, char *allow, size_t allow_len)
{
    allow[0] = '\0';
    for (int rest = 0; rest < 2 && allow[0] == '\0'; rest++) {
        if (rest && api_path(req->path))
            break;
        for (size_t i = 0; i < http->opts.n_routes; i++) {
            const hl_route_t *r = &http->opts.routes[i];
            char arg[PATH_ARG_MAX] = "";

            if ((strcmp(r->path, "/**") == 0) != rest || (!rest && !path_matches(r->path, req->path, arg)))
                continue;
            if (r->method == req->method) {
                strcpy(req->path_arg, arg);
                return r;
            }
            if (strstr(allow, method_name(r->method)) == NULL) {
                size_t used = strlen(allow);
                snprintf(allow + used, allow_len - used, "%s%s", used > 0 ? ", " : "",
                         method_name(r->method));
            }
        }
    }
    return NULL;
}

/* application/json, optionally with charset=utf-8, and nothing else: RFC 9110's media-type with
 * case-insensitive type, subtype, parameter name and charset, OWS around ";", empty parameters,
 * the charset bare or quoted. "application/json garbage" or another charset is 415. */
static bool json_content_type(const char *ct)
{
    static const char want[] = "application/json";
    bool charset = false;

    if (ct == NULL || strncasecmp(ct, want, sizeof(want) - 1) != 0)
        return false;
    ct += sizeof(want) - 1;
    for (;;) {
        ct += strspn(ct, " \t");
        if (*ct == '\0')
            return true;
        if (*ct++ != ';')
            return false;
        ct += strspn(ct, " \t");
        if (*ct == ';' || *ct == '\0')
            continue;
        if (charset || strncasecmp(ct, "charset=", 8) != 0)
            return false;
        ct += 8;
        if (strncasecmp(ct, "utf-8", 5) == 0)
            ct += 5;
        else if (strncasecmp(ct, "\"utf-8\"", 7) == 0)
            ct += 7;
        else
            return false;
        charset = true;
    }
}

/* Does the request come with a body: a Content-Length over 0, or chunked? */
static bool has_body(const hl_request_t *req, unsigned long long *declared)
{
    const char *cl = hl_http_header(req, "Content-Length");

    *declared = cl != NULL ? strtoull(cl, NULL, 10) : 0;
    return *declared > 0 || hl_http_header(req, "Transfer-Encoding") != NULL;
}

/* The bearer token, else the session cookie (hl_http_authenticate). */
static int authenticate(hl_http_t *http, hl_request_t *req, hl_principal_t *who)
{
    const char *auth = hl_http_header(req, "Authorization");
    const char *cookie = hl_http_session_cookie(req);
    const char *token;

    /* A bearer token wins: a browser never adds one by itself, so such a request is not a forgery
     * riding on the cookie, and it needs no CSRF token. */
    if (auth == NULL && cookie != NULL && http->opts.authenticate_session != NULL)
        return http->opts.authenticate_session(http->opts.app, cookie, hl_http_header(req, "X-CSRF-Token"),
                                               req->method != HL_METHOD_GET, who);
    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
        return HL_EINVAL;
    token = auth + 7;
    while (*token == ' ')
        token++;
    return http->opts.authenticate(http->opts.app, token, req->client_ip, who);
}

int hl_http_authenticate(hl_request_t *req, hl_principal_t *who)
{
    return authenticate(req->http, req, who);
}

/* Authentication and the checks that need no body; may set the reply. */
static void admit(hl_http_t *http, hl_request_t *req)
{
    char allow[64];
    int rc;

    req->route = route_find(http, req, allow, sizeof(allow));
    if (req->route == NULL) {
        if (allow[0] != '\0') {
            hl_http_reply_error(req, 405, "method_not_allowed", "method not allowed on this path", NULL);
            req->extra_header = "Allow";
            req->extra_value = strdup(allow);
        } else {
            hl_http_reply_error(req, 404, "not_found", "no such resource", NULL);
        }
        return;
    }
    if (req->route->roles != 0) {
        rc = authenticate(http, req, &req->principal);
        if (rc == HL_EINVAL) {
            hl_http_reply_error(req, 401, "unauthenticated", "missing or malformed bearer token", NULL);
            return;
        }
        if (rc == HL_ENOTFOUND) {
            hl_http_reply_error(req, 401, "unauthenticated",
                                hl_http_header(req, "Authorization") != NULL
                                    ? "unknown, revoked or malformed token"
                                    : "no session, or it has ended",
                                NULL);
            return;
        }
        if (rc == HL_EPERM) {
            hl_http_reply_error(req, 403, "csrf", "X-CSRF-Token missing or wrong for this session", NULL);
            return;
        }
        if (rc != HL_OK) {
            hl_http_reply_error(req, 503, "unavailable", "cannot check the token now", NULL);
            return;
        }
        if ((req->route->roles & (unsigned)req->principal.role) == 0) {
            hl_http_reply_error(req, 403, "forbidden", "this role may not do this", NULL);
            return;
        }
    } else if (req->route->admit != NULL) {
        req->route->admit(req, http->opts.app, &req->principal);
        if (atomic_load(&req->ready))
            return;
    }
    if (req->route->json_body && !json_content_type(hl_http_header(req, "Content-Type"))) {
        hl_http_reply_error(req, 415, "unsupported_media_type", "the body must be application/json", NULL);
        return;
    }
    /* Only now may body bytes be kept: the caller is who it says, and the body fits. */
    unsigned long long declared;
    if (has_body(req, &declared) && !req->route->json_body) {
        hl_http_reply_error(req, 413, "too_large", "this request takes no body", NULL);
        return;
    }
    if (declared > http->opts.max_body_bytes)
        hl_http_reply_error(req, 413, "too_large", "request body over max_body_bytes", NULL);
}

/* ---- NUL bytes libmicrohttpd lets through ------------------------------------------------- */

/*
 * libmicrohttpd 0.9.75 hands over the request target and header values as C strings, so a NUL byte
 * cuts them short: "/v1/contacts/ID%00x" would read ID, "Content-Type: application/json\0x" would
 * pass as JSON. RFC 9110 (5.5) says reject such a message (400). The target is checked raw, before
 * libmicrohttpd decodes it in place (on_uri). Header values are checked against the header section,
 * which libmicrohttpd parses where it read it, zeroing each line's CR LF (or LF) and the colon: so
 * each header name starts right after the previous line's end, and the section ends with the last
 * value's line end and the empty line. A NUL inside a line, or a folded line, breaks that chain.
 */
typedef struct {
    const char *p;   /* the end of the previous line's content */
    const char *end; /* the end of the header section */
    bool ok;
} header_chain_t;

/* Is NEXT the start of the line after the one whose content ends at P (zeroed CR LF, or LF)? */
static bool next_line(const char *p, const char *next)
{
    return p[0] == '\0' && (next == p + 1 || (next == p + 2 && p[1] == '\0'));
}

static enum MHD_Result chain_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                    const char *value, size_t value_size)
{
    header_chain_t *c = cls;
    const char *q = key + key_size + 1;

    (void)kind;
    c->ok = next_line(c->p, key) && key[key_size] == '\0' && value >= q && value + value_size < c->end;
    for (; c->ok && q < value; q++)
        c->ok = *q == ' ' || *q == '\t';
    c->p = value + value_size;
    return c->ok ? MHD_YES : MHD_NO;
}

/* Are the request line's end and the headers as libmicrohttpd parses a section without NULs? */
static bool headers_intact(struct MHD_Connection *conn, const char *method, const char *version)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    header_chain_t c = {.ok = true};
    size_t left;

    if (ci == NULL || version < method || version >= method + ci->header_size)
        return false;
    c.end = method + ci->header_size;
    c.p = version + strlen(version);
    if (c.p >= c.end)
        return false;
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, chain_header, &c);
    if (!c.ok || c.p >= c.end)
        return false;
    left = (size_t)(c.end - c.p);
    if (left < 2 || left > 4)
        return false;
    for (size_t i = 0; i < left; i++)
        if (c.p[i] != '\0')
            return false;
    return true;
}

/* ---- connections ------------------------------------------------------------------------------ */

static uint64_t now_ms(void)
{
    return (uint64_t)hl_monotonic_us() / 1000u;
}

static hl_conn_t *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci != NULL ? ci->socket_context : NULL;
}

/* The header deadline starts (WAITING) or ends for the connection's next request. */
static void conn_wait_headers(hl_http_t *http, hl_conn_t *c, bool waiting)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&http->conns_lock);
    c->waiting = waiting;
    c->since_ms = now_ms();
    pthread_mutex_unlock(&http->conns_lock);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    hl_http_t *http = cls;
    hl_conn_t *c = *socket_context;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci == NULL)
            return;
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            /* A connection without a header deadline is not served. */
            shutdown(ci->connect_fd, SHUT_RDWR);
            return;
        }
        c->fd = ci->connect_fd;
        c->waiting = true;
        c->since_ms = now_ms();
        pthread_mutex_lock(&http->conns_lock);
        c->next = http->conns;
        if (http->conns != NULL)
            http->conns->prev = c;
        http->conns = c;
        pthread_mutex_unlock(&http->conns_lock);
        *socket_context = c;
        return;
    }
    if (c == NULL)
        return;
    /* Called before libmicrohttpd closes the socket: once off the list, the reaper cannot reach
     * the descriptor any more. */
    pthread_mutex_lock(&http->conns_lock);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        http->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&http->conns_lock);
    free(c);
    *socket_context = NULL;
}

/* Shuts down the connections whose request headers are late: libmicrohttpd sees the end of the
 * stream and closes them. */
static void *reaper_main(void *arg)
{
    hl_http_t *http = arg;
    struct timespec wake;

    pthread_mutex_lock(&http->conns_lock);
    while (!http->stopping) {
        uint64_t now = now_ms();
        for (hl_conn_t *c = http->conns; c != NULL; c = c->next) {
            if (c->waiting && !c->cut && now - c->since_ms >= http->header_timeout_ms) {
                shutdown(c->fd, SHUT_RDWR);
                c->cut = true;
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &wake);
        wake.tv_nsec += REAPER_INTERVAL_MS * 1000000L;
        if (wake.tv_nsec >= 1000000000L) {
            wake.tv_sec++;
            wake.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&http->reaper_wake, &http->conns_lock, &wake);
    }
    pthread_mutex_unlock(&http->conns_lock);
    return NULL;
}

/* Before libmicrohttpd decodes the target in place: its raw length (to the first NUL) and "%00". */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    hl_conn_t *c = conn_of(conn);

    (void)cls;
    if (c != NULL && uri != NULL) { /* NULL: a request line without a target */
        c->raw_target = uri;
        c->raw_target_len = strlen(uri);
        c->target_pct00 = strstr(uri, "%00") != NULL;
    }
    return NULL; /* the request context: on_request makes it */
}

/* Does the target hold no NUL, raw or %00? The raw target ends at the space before VERSION. */
static bool target_intact(const hl_conn_t *c, const char *url, const char *version)
{
    return c != NULL && c->raw_target == url && !c->target_pct00 && version > url &&
           c->raw_target_len == (size_t)(version - 1 - url);
}

/* A core image holds every thread's stack and registers, and pieces of requests and replies are
 * left in both: jansson's error text quotes the body where it failed to parse (on the stack), and
 * glibc's string functions keep the last bytes they moved in the vector registers (with AVX-512
 * in ymm16-31, which VZEROALL leaves alone), libmicrohttpd's header parsing included, which reads
 * whole vectors past the end of the headers into the body. The registers are wiped whenever
 * on_request or on_completed returns to libmicrohttpd, the stack after every handler. */
static __attribute__((noinline)) void wipe_vector_registers(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
#define XMM_0_15                                                                                             \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",        \
        "xmm12", "xmm13", "xmm14", "xmm15"
    /* ymm16-31 need no clobber: caller-saved, and this function keeps nothing in them. */
    if (__builtin_cpu_supports("avx512f"))
        __asm__ volatile("vpxord %%zmm16, %%zmm16, %%zmm16\n\tvpxord %%zmm17, %%zmm17, %%zmm17\n\t"
                         "vpxord %%zmm18, %%zmm18, %%zmm18\n\tvpxord %%zmm19, %%zmm19, %%zmm19\n\t"
                         "vpxord %%zmm20, %%zmm20, %%zmm20\n\tvpxord %%zmm21, %%zmm21, %%zmm21\n\t"
                         "vpxord %%zmm22, %%zmm22, %%zmm22\n\tvpxord %%zmm23, %%zmm23, %%zmm23\n\t"
                         "vpxord %%zmm24, %%zmm24, %%zmm24\n\tvpxord %%zmm25, %%zmm25, %%zmm25\n\t"
                         "vpxord %%zmm26, %%zmm26, %%zmm26\n\tvpxord %%zmm27, %%zmm27, %%zmm27\n\t"
                         "vpxord %%zmm28, %%zmm28, %%zmm28\n\tvpxord %%zmm29, %%zmm29, %%zmm29\n\t"
                         "vpxord %%zmm30, %%zmm30, %%zmm30\n\tvpxord %%zmm31, %%zmm31, %%zmm31\n\t"
                         "vzeroall" ::
                             : XMM_0_15);
    else if (__builtin_cpu_supports("avx"))
        __asm__ volatile("vzeroall" ::: XMM_0_15);
    else
        __asm__ volatile("pxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\tpxor %%xmm2, %%xmm2\n\t"
                         "pxor %%xmm3, %%xmm3\n\tpxor %%xmm4, %%xmm4\n\tpxor %%xmm5, %%xmm5\n\t"
                         "pxor %%xmm6, %%xmm6\n\tpxor %%xmm7, %%xmm7\n\tpxor %%xmm8, %%xmm8\n\t"
                         "pxor %%xmm9, %%xmm9\n\tpxor %%xmm10, %%xmm10\n\tpxor %%xmm11, %%xmm11\n\t"
                         "pxor %%xmm12, %%xmm12\n\tpxor %%xmm13, %%xmm13\n\tpxor %%xmm14, %%xmm14\n\t"
                         "pxor %%xmm15, %%xmm15" ::
                             : XMM_0_15);
#undef XMM_0_15
#endif
}

static __attribute__((noinline)) void wipe_traces(void)
{
    unsigned char frames[64 * 1024];

    sodium_memzero(frames, sizeof(frames));
    wipe_vector_registers();
}

/* ---- libmicrohttpd callbacks ------------------------------------------------------------------ */

static enum MHD_Result queue_reply(hl_request_t *req)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    atomic_thread_fence(memory_order_acquire);
    if (req->static_body != NULL)
        resp = MHD_create_response_from_buffer(req->reply_len, (void *)(uintptr_t)req->static_body,
                                               MHD_RESPMEM_PERSISTENT);
    else
        resp = MHD_create_response_from_buffer_with_free_callback(req->reply_len, req->reply, wipe_free);
    if (resp == NULL)
        return MHD_NO;
    req->reply = NULL; /* MHD wipes and frees it now */
    MHD_add_response_header(resp, "Content-Type", req->content_type);
    if (req->static_headers != NULL)
        for (const char *const *h = req->static_headers; h[0] != NULL; h += 2)
            MHD_add_response_header(resp, h[0], h[1]);
    else
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (req->extra_header != NULL)
        MHD_add_response_header(resp, req->extra_header, req->extra_value);
    if (req->set_cookie != NULL)
        MHD_add_response_header(resp, "Set-Cookie", req->set_cookie);
    ret = MHD_queue_response(req->conn, req->status, resp);
    MHD_destroy_response(resp);
    account(req->http, req);
    return ret;
}

static hl_request_t *request_new(hl_http_t *http, struct MHD_Connection *conn, const char *url,
                                 const char *method)
{
    hl_request_t *req = calloc(1, sizeof(*req));
    const union MHD_ConnectionInfo *ci;

    if (req == NULL)
        return NULL;
    req->http = http;
    req->conn = conn;
    req->method = parse_method(method);
    req->path = strdup(url);
    clock_gettime(CLOCK_MONOTONIC, &req->start);
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci != NULL && ci->client_addr != NULL) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, req->client_ip,
                      sizeof(req->client_ip));
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, req->client_ip,
                      sizeof(req->client_ip));
    }
    if (req->path == NULL) {
        free(req);
        return NULL;
    }
    return req;
}

static void request_free(hl_request_t *req)
{
    if (req == NULL)
        return;
    if (req->body != NULL) {
        /* The body may hold a child's name or words. */
        sodium_memzero(req->body, req->body_cap);
        free(req->body);
    }
    if (req->extra_header != NULL && strcmp(req->extra_header, "Allow") == 0)
        free((char *)(uintptr_t)req->extra_value);
    wipe_free(req->reply);
    wipe_free(req->set_cookie);
    free(req->path);
    free(req);
}

static bool body_append(hl_request_t *req, const char *data, size_t len, size_t limit)
{
    if (req->too_large || req->body_len + len > limit) {
        req->too_large = true;
        return false;
    }
    if (req->body_len + len + 1 > req->body_cap) {
        size_t cap = req->body_cap == 0 ? 4096 : req->body_cap;
        while (cap < req->body_len + len + 1)
            cap *= 2;
        if (cap > limit + 1)
            cap = limit + 1;
        char *grown = malloc(cap);
        if (grown == NULL)
            return false;
        if (req->body != NULL) {
            memcpy(grown, req->body, req->body_len);
            sodium_memzero(req->body, req->body_cap);
            free(req->body);
        }
        req->body = grown;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, len);
    req->body_len += len;
    req->body[req->body_len] = '\0';
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    hl_http_t *http = cls;
    hl_request_t *req = *con_cls;

    if (req == NULL) {
        /* The headers are complete: the header deadline ends. */
        hl_conn_t *c = conn_of(conn);
        conn_wait_headers(http, c, false);
        req = request_new(http, conn, url, method);
        if (req == NULL)
            return MHD_NO;
        *con_cls = req;
        if (!target_intact(c, url, version) || !headers_intact(conn, method, version))
            hl_http_reply_error(req, 400, "bad_request", "NUL byte or folded line in the request", NULL);
        else
            admit(http, req);
        wipe_vector_registers();
        /* A refusal goes out now: libmicrohttpd then closes the connection instead of reading a
         * body, so a refused request costs its headers and nothing more. */
        if (atomic_load(&req->ready))
            return queue_reply(req);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!body_append(req, upload_data, *upload_data_size, http->opts.max_body_bytes)) {
            /* Over the limit (a chunked body) or out of memory. libmicrohttpd can only answer
             * once the whole body is read, which may never come: close without a reply. */
            hl_log(HL_LOG_DEBUG, "http: %s body over max_body_bytes or out of memory: connection closed",
                   req->route->name);
            return MHD_NO;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!atomic_load(&req->ready) && !req->dispatched) {
        req->dispatched = true;
        req->route->handler(req, http->opts.app);
        wipe_traces();
        /* Suspended: the reply resumes the connection (set_reply), and this function queues it
         * then, also when the reply came before the handler returned. Queueing it now instead
         * would race with set_reply's look at req->deferred and could lose the resume. */
        if (req->deferred)
            return MHD_YES;
    }
    if (!atomic_load_explicit(&req->ready, memory_order_acquire))
        return MHD_YES; /* resumed early? wait for the reply */
    if (req->deferred) {
        req->deferred = false;
        atomic_fetch_sub(&http->deferred, 1);
    }
    return queue_reply(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    hl_http_t *http = cls;
    hl_request_t *req = *con_cls;

    (void)toe;
    /* A client that went away while its reply was deferred: libmicrohttpd may close the resumed
     * connection without calling on_request again, so the count is settled here. */
    if (req != NULL && req->deferred)
        atomic_fetch_sub(&http->deferred, 1);
    request_free(req);
    *con_cls = NULL;
    wipe_vector_registers();
    /* The next request on this connection gets its own header deadline. */
    conn_wait_headers(http, conn_of(conn), true);
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    /* libmicrohttpd reports aborted and malformed connections here: clients cause them at will */
    static hl_log_limit_t limit = HL_LOG_LIMIT_INIT(20, 60);
    hl_log_limited(&limit, HL_LOG_WARN, "http: %s", msg);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long size;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)size + 1);
        if (buf != NULL && fread(buf, 1, (size_t)size, f) == (size_t)size) {
            buf[size] = '\0';
        } else {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

/* The connection limit RLIMIT_NOFILE allows. Raises the soft limit to the hard one; when that still
 * leaves fewer than FD_RESERVE descriptors beside WANTED connections, warns and lowers the limit:
 * past it accept() fails, and so would the spool and new database connections. */
static unsigned fit_connection_limit(unsigned wanted)
{
    struct rlimit rl;
    rlim_t cur;
    unsigned fit;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return wanted;
    cur = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            cur = rl.rlim_max;
    }
    if (cur == RLIM_INFINITY || cur >= (rlim_t)wanted + FD_RESERVE)
        return wanted;
    fit = cur > 2 * FD_RESERVE ? (unsigned)(cur - FD_RESERVE) : (unsigned)(cur / 2);
    hl_log(HL_LOG_WARN,
           "http: RLIMIT_NOFILE %llu is below max_connections %u + %u other descriptors: at most %u "
           "connections (raise LimitNOFILE= or ulimit -n)",
           (unsigned long long)cur, wanted, FD_RESERVE, fit);
    return fit;
}

int hl_http_start(const hl_http_opts_t *opts, hl_http_t **out)
{
    hl_http_t *http = calloc(1, sizeof(*http));
    struct addrinfo hints = {0}, *ai = NULL;
    char port[16];
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    pthread_condattr_t ca;
    int rc = HL_ENOMEM;

    if (http == NULL)
        goto out;
    http->opts = *opts;
    pthread_mutex_init(&http->conns_lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&http->reaper_wake, &ca);
    pthread_condattr_destroy(&ca);
    http->header_timeout_ms =
        1000u * (opts->header_timeout_seconds != 0 ? opts->header_timeout_seconds : DEFAULT_HEADER_TIMEOUT_S);
    http->connection_limit =
        fit_connection_limit(opts->max_connections != 0 ? opts->max_connections : DEFAULT_MAX_CONNECTIONS);
    http->counts = calloc((opts->n_routes + 1) * N_STATUS, sizeof(*http->counts));
    if (http->counts == NULL)
        goto out;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", opts->port);
    if (getaddrinfo(opts->host, port, &hints, &ai) != 0 || ai == NULL) {
        hl_log(HL_LOG_ERROR, "http: cannot resolve listen address %s:%d", opts->host, opts->port);
        rc = HL_EINVAL;
        goto out;
    }
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (opts->tls_cert_file != NULL) {
        http->tls_cert = slurp(opts->tls_cert_file);
        http->tls_key = slurp(opts->tls_key_file);
        if (http->tls_cert == NULL || http->tls_key == NULL) {
            hl_log(HL_LOG_ERROR, "http: cannot read tls_cert %s or tls_key %s", opts->tls_cert_file,
                   opts->tls_key_file);
            rc = HL_EIO;
            goto out;
        }
        flags |= MHD_USE_TLS;
    }
    http->daemon = MHD_start_daemon(
        flags, (uint16_t)opts->port, NULL, NULL, on_request, http, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error,
        http, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE, opts->threads,
        MHD_OPTION_CONNECTION_TIMEOUT, opts->timeout_seconds != 0 ? opts->timeout_seconds : 30u,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, http, MHD_OPTION_NOTIFY_CONNECTION, on_connection, http,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, http, MHD_OPTION_CONNECTION_LIMIT, http->connection_limit,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        opts->max_connections_per_ip != 0 ? opts->max_connections_per_ip : DEFAULT_MAX_CONNECTIONS_PER_IP,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_POOL_BYTES,
        opts->tls_cert_file != NULL ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, http->tls_cert,
        MHD_OPTION_HTTPS_MEM_KEY, http->tls_key, MHD_OPTION_END);
    if (http->daemon == NULL) {
        hl_log(HL_LOG_ERROR, "http: cannot listen on %s:%d: %s", opts->host, opts->port, strerror(errno));
        rc = HL_EIO;
        goto out;
    }
    if (pthread_create(&http->reaper, NULL, reaper_main, http) != 0) {
        hl_log(HL_LOG_ERROR, "http: cannot start the header deadline thread");
        MHD_stop_daemon(http->daemon);
        goto out;
    }
    http->reaper_running = true;
    hl_log(HL_LOG_INFO, "listening on %s:%d (%s, %u threads, at most %u connections)", opts->host, opts->port,
           opts->tls_cert_file != NULL ? "https" : "http", opts->threads, http->connection_limit);
    *out = http;
    http = NULL;
    rc = HL_OK;
out:
    if (ai != NULL)
        freeaddrinfo(ai);
    if (http != NULL) {
        pthread_cond_destroy(&http->reaper_wake);
        pthread_mutex_destroy(&http->conns_lock);
        free(http->counts);
        free(http->tls_cert);
        free(http->tls_key);
        free(http);
    }
    return rc;
}

int hl_http_add_connection(hl_http_t *http, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    return MHD_add_connection(http->daemon, fd, addr, addrlen) == MHD_YES ? HL_OK : HL_EIO;
}

void hl_http_quiesce(hl_http_t *http)
{
    MHD_socket fd = MHD_quiesce_daemon(http->daemon);

    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

void hl_http_stop(hl_http_t *http)
{
    if (http == NULL)
        return;
    /* Deferred replies resume their connections; give the pool a moment to send them. */
    for (int i = 0; i < 500 && atomic_load(&http->deferred) > 0; i++)
        usleep(10000);
    MHD_stop_daemon(http->daemon);
    if (http->reaper_running) {
        pthread_mutex_lock(&http->conns_lock);
        http->stopping = true;
        pthread_cond_signal(&http->reaper_wake);
        pthread_mutex_unlock(&http->conns_lock);
        pthread_join(http->reaper, NULL);
    }
    pthread_cond_destroy(&http->reaper_wake);
    pthread_mutex_destroy(&http->conns_lock);
    free(http->counts);
    if (http->tls_key != NULL)
        sodium_memzero(http->tls_key, strlen(http->tls_key));
    free(http->tls_key);
    free(http->tls_cert);
    free(http);
}
