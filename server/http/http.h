/*
 * helplined's HTTP layer over libmicrohttpd: an internal polling thread with a pool of
 * worker threads, body limits, routing, authentication before any handler runs, JSON
 * error replies in api.md's shape, and deferred replies (a handler hands the request to
 * another thread, e.g. the writer, and the reply is sent when that thread answers; the
 * connection is suspended meanwhile, so no worker thread waits). Against clients without a
 * login: connection limits (all, per address), a header deadline that arriving bytes do not
 * extend, every refusal sent before the body is read and the connection closed, no NUL byte let
 * through, and request and reply bodies wiped (docs/http-api.md "Limits", "Plaintext in memory").
 */
#ifndef HL_HTTP_H
#define HL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#include "util.h"

typedef enum {
    HL_ROLE_FRONTEND = 1 << 0,
    HL_ROLE_COUNSELLOR = 1 << 1,
    HL_ROLE_SUPERVISOR = 1 << 2,
    HL_ROLE_NETWORK = 1 << 3,
    HL_ROLE_ADMIN = 1 << 4
} hl_role_t;

#define HL_ROLE_ANY                                                                                          \
    (HL_ROLE_FRONTEND | HL_ROLE_COUNSELLOR | HL_ROLE_SUPERVISOR | HL_ROLE_NETWORK | HL_ROLE_ADMIN)

/* Who is asking: the authenticated user. */
typedef struct hl_principal {
    int64_t user_id;
    char name[65];
    hl_role_t role;
    int64_t helpline_id;
    char helpline_code[33];
    char network[33];   /* "" when the helpline is in no network */
    int64_t session_id; /* the web session the request came with; 0: a bearer token */
} hl_principal_t;

const char *hl_role_name(hl_role_t role);
bool hl_role_parse(const char *s, hl_role_t *out) HL_MUSTCHECK;

typedef enum {
    HL_METHOD_GET = 0,
    HL_METHOD_POST,
    HL_METHOD_PATCH,
    HL_METHOD_PUT,
    HL_METHOD_DELETE,
    HL_METHOD_OTHER
} hl_method_t;

typedef struct hl_request hl_request_t;

/* A handler answers with exactly one hl_http_reply_* call, now or (after hl_http_defer) later
 * from any thread. APP is the pointer given to hl_http_start. */
typedef void (*hl_handler_fn)(hl_request_t *req, void *app);

/* Checks a route's own credentials (a route with roles 0, e.g. a webhook's shared secret) from the
 * headers, before any body byte is read: fills WHO, or refuses with an hl_http_reply_* call (401,
 * 503); the refusal is sent at once and the connection closed, the body never read. */
typedef void (*hl_admit_fn)(hl_request_t *req, void *app, hl_principal_t *who);

typedef struct hl_route {
    hl_method_t method;
    /* "/v1/contacts"; a "*" segment matches one non-empty path segment. "/" "**" (as one string) takes
     * the paths no other route has, outside the API (/v1 and below, whose unknown paths stay 404): the
     * web application's files. */
    const char *path;
    unsigned roles; /* HL_ROLE_* mask; 0: no bearer token (healthz, or ADMIT checks) */
    bool json_body; /* takes an application/json body (else 415); other routes take no body (413) */
    hl_handler_fn handler;
    const char *name;  /* for metrics: "contacts_create" */
    hl_admit_fn admit; /* NULL, or the route's own credential check (roles 0) */
} hl_route_t;

/* Maps a bearer token to a principal: 0, HL_ENOTFOUND (unknown/revoked/malformed: 401),
 * or another error (database unavailable: 503). */
typedef int (*hl_auth_fn)(void *app, const char *token, const char *client_ip, hl_principal_t *out);

/* Maps a session cookie's value to a principal. CSRF: the request's X-CSRF-Token (NULL when
 * absent), to be checked when NEED_CSRF (every method but GET and HEAD). 0; HL_ENOTFOUND (no such
 * session, or it has ended: 401); HL_EPERM (a valid session, but the CSRF token is missing or
 * wrong: 403 csrf); another error (503). */
typedef int (*hl_session_fn)(void *app, const char *cookie, const char *csrf, bool need_csrf,
                             hl_principal_t *out);

/* The session cookie's name; under TLS "__Host-" HL_HTTP_SESSION_COOKIE, and only that one is read. */
#define HL_HTTP_SESSION_COOKIE "hl_session"

typedef struct hl_http_opts {
    const char *host;
    int port;
    unsigned threads;
    size_t max_body_bytes;
    unsigned timeout_seconds; /* idle connection timeout; 0: 30 */
    /* Connections at once from all addresses (0: 4096) and from one (0: 512); seconds from a
     * connection (or its last reply) to the end of the next request's headers, however fast bytes
     * arrive (0: 10). */
    unsigned max_connections;
    unsigned max_connections_per_ip;
    unsigned header_timeout_seconds;
    const char *tls_cert_file; /* both or neither */
    const char *tls_key_file;
    const hl_route_t *routes;
    size_t n_routes;
    hl_auth_fn authenticate;
    /* Routes with roles take a session cookie where a request has no Authorization header (a
     * bearer token, when there is one, wins and the cookie is ignored); NULL: no cookies. */
    hl_session_fn authenticate_session;
    void *app;
} hl_http_opts_t;

typedef struct hl_http hl_http_t;

int hl_http_start(const hl_http_opts_t *opts, hl_http_t **out) HL_MUSTCHECK;

/* Serves FD, a connected stream socket (one end of a socketpair), as if it had been accepted
 * from ADDR; FD is taken over (closed on error too). For the fuzz target tests/fuzz/fuzz_http.c,
 * which drives the whole request path without a network. */
int hl_http_add_connection(hl_http_t *http, int fd, const struct sockaddr *addr,
                           socklen_t addrlen) HL_MUSTCHECK;

/* Stops accepting and closes the listening socket; requests in flight finish. */
void hl_http_quiesce(hl_http_t *http);

/* Stops the daemon (after quiesce and once deferred replies were answered) and frees it. */
void hl_http_stop(hl_http_t *http);

/* Request accessors; the strings live as long as the request. */
/* The request path, percent-decoded, without the query. */
const char *hl_http_path(const hl_request_t *req);
/* The path segments matched by a route's "*" segments, joined with '/' ("" when none). */
const char *hl_http_path_arg(const hl_request_t *req);
const char *hl_http_body(const hl_request_t *req, size_t *len);
const char *hl_http_query(const hl_request_t *req, const char *name);
const char *hl_http_header(const hl_request_t *req, const char *name);
const hl_principal_t *hl_http_principal(const hl_request_t *req);
const char *hl_http_client_ip(const hl_request_t *req);

/* The session cookie's value (NULL: none). */
const char *hl_http_session_cookie(const hl_request_t *req);

/* Authenticates REQ as a route with roles is (the bearer token, else the session cookie): 0 and
 * *WHO, HL_EINVAL when it carries neither, or what hl_auth_fn or hl_session_fn returned. For ADMIT
 * functions of routes that answer an unauthenticated request their own way. */
int hl_http_authenticate(hl_request_t *req, hl_principal_t *who) HL_MUSTCHECK;

/* The reply sets the session cookie to VALUE for MAX_AGE seconds, or (VALUE NULL) removes it:
 * HttpOnly, SameSite=Strict, Path=/, and Secure under TLS. Call before the reply. */
int hl_http_set_session_cookie(hl_request_t *req, const char *value, unsigned max_age) HL_MUSTCHECK;

/* The reply's Retry-After, for a status other than 503 (whose replies carry 5); before the reply. */
void hl_http_retry_after(hl_request_t *req, unsigned seconds);

/* The handler will answer later, from another thread. */
void hl_http_defer(hl_request_t *req);

/* Replies with JSON (takes over BODY's reference; NULL body: 503 out of memory). */
void hl_http_reply_json(hl_request_t *req, unsigned status, json_t *body);
/* api.md's error shape; FIELD is a JSON Pointer or NULL. MESSAGE never holds submitted values. */
void hl_http_reply_error(hl_request_t *req, unsigned status, const char *code, const char *message,
                         const char *field);
/* Any body; the buffer is copied. */
void hl_http_reply_raw(hl_request_t *req, unsigned status, const char *content_type, const char *body,
                       size_t len);
/* A body that stays valid and unchanged while the daemon runs (the web application's files): neither
 * copied nor wiped. HEADERS (name, value, ..., NULL; kept as long as BODY) replace the API's
 * Cache-Control: no-store. */
void hl_http_reply_static(hl_request_t *req, unsigned status, const char *content_type,
                          const char *const *headers, const void *body, size_t len);

/* Per-route request counts and a latency histogram, in Prometheus text format (appended to a
 * malloc'd buffer the caller frees). */
char *hl_http_metrics(hl_http_t *http);

#endif
