/*
 * POST, GET and DELETE /v1/session: web logins (api.md "Web application and sessions";
 * docs/http-api.md "Sessions"). The password check runs on the hasher (access/hasher.h), never on
 * an HTTP thread; the reply is deferred until it is done.
 */
#include <sodium/utils.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/audit.h"
#include "access/users.h"
#include "api/strfields.h"
#include "app.h"
#include "log.h"

#define LOGIN_USER_MAX 256 /* longer than any name (64): an unknown user all the same */
#define LOGIN_KEY_MAX  (HL_USERS_CODE_MAX + 1 + LOGIN_USER_MAX + 1)

typedef struct {
    hl_app_t *app;
    hl_request_t *req;
    char user[LOGIN_USER_MAX + 1];
    char code[HL_USERS_CODE_MAX + 1];
    char key[LOGIN_KEY_MAX]; /* the throttle's key of the login name */
    char ip[64];
    char pw[HL_CRYPTO_PASSWORD_MAX_BYTES];
    size_t pw_len;
} login_job_t;

static int64_t now_ms(void)
{
    return hl_monotonic_us() / 1000;
}

static void reply_failed_login(hl_request_t *req)
{
    /* The same for an unknown user, a revoked one, one without a password and a wrong password. */
    hl_http_reply_error(req, 401, "unauthenticated", "unknown user or wrong password", NULL);
}

/* A failed login counts against its name and its address; the first block of either is audited. */
static void count_failure(login_job_t *job, const hl_sessions_login_t *named)
{
    bool name_blocked = hl_throttle_fail(job->app->throttle, HL_THROTTLE_USER, job->key, now_ms());
    bool addr_blocked = hl_throttle_fail(job->app->throttle, HL_THROTTLE_ADDR, job->ip, now_ms());
    char detail[128];
    PGconn *conn;

    if (!name_blocked && !addr_blocked)
        return;
    if (name_blocked)
        hl_log(HL_LOG_WARN, "sessions: logins as user %lld are slowed down after %d failures",
               (long long)named->who.user_id, HL_THROTTLE_USER_FREE + 1);
    if (addr_blocked)
        hl_log(HL_LOG_WARN, "sessions: logins from %s are slowed down after %d failures", job->ip,
               HL_THROTTLE_ADDR_FREE + 1);
    conn = hl_dbpool_acquire(job->app->pool, 1000);
    if (conn == NULL)
        return;
    /* The user's ids when the name is one (0: no such user), never the name as typed. */
    if (name_blocked)
        snprintf(detail, sizeof(detail), "logins as user %lld slowed down", (long long)named->who.user_id);
    else
        snprintf(detail, sizeof(detail), "logins from client %s slowed down", job->ip);
    if (hl_audit_write(conn, named->who.helpline_id, 0, HL_AUDIT_LOGIN_THROTTLED, NULL, detail) != HL_OK)
        hl_log(HL_LOG_ERROR, "sessions: login throttling not audited");
    hl_dbpool_release(job->app->pool, conn);
}

static void login_job(void *arg)
{
    login_job_t *job = arg;
    hl_sessions_login_t out;
    int rc = hl_sessions_login(job->app->sessions, job->user, job->code, job->pw, job->pw_len, &out);

    sodium_memzero(job->pw, sizeof(job->pw));
    if (rc == HL_ECRYPTO) {
        count_failure(job, &out);
        reply_failed_login(job->req);
    } else if (rc != HL_OK) {
        hl_http_reply_error(job->req, 503, "unavailable", "cannot log in now", NULL);
    } else if (hl_http_set_session_cookie(job->req, out.token, hl_sessions_max_seconds(job->app->sessions)) !=
               HL_OK) {
        hl_http_reply_error(job->req, 503, "unavailable", "out of memory", NULL);
    } else {
        hl_throttle_clear(job->app->throttle, HL_THROTTLE_USER, job->key, now_ms());
        hl_http_reply_json(job->req, 200,
                           json_pack("{s:s, s:s, s:s, s:s}", "user", out.who.name, "role",
                                     hl_role_name(out.who.role), "helpline", out.who.helpline_code, "csrf",
                                     out.csrf));
    }
    sodium_memzero(&out, sizeof(out));
    sodium_memzero(job, sizeof(*job));
    free(job);
}

void hl_handle_session_create(hl_request_t *req, void *arg)
{
    static const hl_strfield_t fields[] = {
        {"user", true, LOGIN_USER_MAX},
        {"helpline", false, HL_USERS_CODE_MAX},
        {"password", true, HL_CRYPTO_PASSWORD_MAX_BYTES},
    };
    hl_app_t *app = arg;
    const char *v[3];
    size_t len[3];
    json_t *root = NULL;
    login_job_t *job = NULL;
    char code[33];
    unsigned wait;
    int helplines = 0;

    if (!hl_strfields_parse(req, fields, 3, &root, v, len))
        return;
    if (v[1] == NULL) {
        if (hl_sessions_helplines(app->sessions, &helplines, code) != HL_OK) {
            hl_http_reply_error(req, 503, "unavailable", "cannot log in now", NULL);
            goto out;
        }
        if (helplines > 1) {
            hl_http_reply_error(req, 400, "invalid_field", "this daemon serves several helplines: say which",
                                "/helpline");
            goto out;
        }
        v[1] = code; /* the only one ("" with none: nobody can log in) */
    }
    job = calloc(1, sizeof(*job));
    if (job == NULL) {
        hl_http_reply_error(req, 503, "unavailable", "out of memory", NULL);
        goto out;
    }
    job->app = app;
    job->req = req;
    snprintf(job->user, sizeof(job->user), "%s", v[0]);
    snprintf(job->code, sizeof(job->code), "%s", v[1]);
    snprintf(job->key, sizeof(job->key), "%s/%s", job->code, job->user);
    snprintf(job->ip, sizeof(job->ip), "%s", hl_http_client_ip(req));
    memcpy(job->pw, v[2], len[2]);
    job->pw_len = len[2];
    /* Refused before any work while the name or the address is slowed down. */
    wait = hl_throttle_wait(app->throttle, HL_THROTTLE_USER, job->key, now_ms());
    unsigned wait_addr = hl_throttle_wait(app->throttle, HL_THROTTLE_ADDR, job->ip, now_ms());
    if (wait_addr > wait)
        wait = wait_addr;
    if (wait > 0) {
        hl_http_retry_after(req, wait);
        hl_http_reply_error(req, 429, "too_many_attempts", "too many failed logins: try again later", NULL);
        goto out;
    }
    /* Suspend first: the hasher may answer before submit returns. */
    hl_http_defer(req);
    if (!hl_hasher_submit(app->hasher, login_job, job)) {
        hl_http_reply_error(req, 503, "unavailable", "too many logins at once: try again shortly", NULL);
        goto out;
    }
    job = NULL; /* the hasher's now */
out:
    if (job != NULL) {
        sodium_memzero(job, sizeof(*job));
        free(job);
    }
    json_decref(root);
}

/* GET /v1/session answers a request without a session itself: the login form needs to know
 * whether to ask for a helpline. */
void hl_admit_session_get(hl_request_t *req, void *arg, hl_principal_t *who)
{
    hl_app_t *app = arg;
    char code[33];
    int helplines = 0;
    int rc = hl_http_authenticate(req, who);

    if (rc == HL_OK)
        return;
    if ((rc != HL_EINVAL && rc != HL_ENOTFOUND) ||
        hl_sessions_helplines(app->sessions, &helplines, code) != HL_OK) {
        hl_http_reply_error(req, 503, "unavailable", "cannot check the session now", NULL);
        return;
    }
    hl_http_reply_json(req, 401,
                       json_pack("{s:{s:s, s:s}, s:i}", "error", "code", "unauthenticated", "message",
                                 "nobody is logged in", "helplines", helplines));
}

void hl_handle_session_get(hl_request_t *req, void *arg)
{
    hl_app_t *app = arg;
    const hl_principal_t *who = hl_http_principal(req);
    json_t *body = json_pack("{s:s, s:s, s:s}", "user", who->name, "role", hl_role_name(who->role),
                             "helpline", who->helpline_code);
    char csrf[HL_CRYPTO_CSRF_LEN + 1];

    /* A bearer token has no CSRF token: it needs none. */
    if (body != NULL && who->session_id != 0) {
        if (hl_sessions_csrf(app->sessions, hl_http_session_cookie(req), csrf) != HL_OK) {
            json_decref(body);
            hl_http_reply_error(req, 503, "unavailable", "cannot answer now", NULL);
            return;
        }
        json_object_set_new(body, "csrf", json_string(csrf));
    }
    hl_http_reply_json(req, 200, body);
}

void hl_handle_session_delete(hl_request_t *req, void *arg)
{
    hl_app_t *app = arg;
    const hl_principal_t *who = hl_http_principal(req);

    if (who->session_id == 0) {
        hl_http_reply_error(req, 400, "no_session", "this request came with a bearer token, not a session",
                            NULL);
        return;
    }
    if (hl_sessions_end(app->sessions, who) != HL_OK) {
        hl_http_reply_error(req, 503, "unavailable", "cannot log out now", NULL);
        return;
    }
    if (hl_http_set_session_cookie(req, NULL, 0) != HL_OK) {
        hl_http_reply_error(req, 503, "unavailable", "out of memory", NULL);
        return;
    }
    hl_http_reply_json(req, 200, json_pack("{s:s}", "status", "logged_out"));
}
