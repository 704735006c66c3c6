/*
 * The users of the caller's helpline, for its admins (issue 17: the web admin page; docs/http-api.md
 * "Users"): GET /v1/users, POST /v1/users, PUT /v1/users/{name}/password, DELETE /v1/users/{name}.
 * Every change writes an audit row naming the user by id. No reply ever holds a password hash or a
 * token, but the new user's token once, as `helplined user add` prints it.
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

static void reply_unavailable(hl_request_t *req)
{
    hl_http_reply_error(req, 503, "unavailable", "cannot change users now", NULL);
}

static void reply_no_user(hl_request_t *req)
{
    hl_http_reply_error(req, 404, "not_found", "no such user in this helpline", NULL);
}

static void audit(hl_app_t *app, PGconn *conn, const hl_principal_t *who, const char *action, int64_t user_id,
                  const char *role)
{
    char detail[64];

    snprintf(detail, sizeof(detail), "user %lld%s%s", (long long)user_id, role != NULL ? " as " : "",
             role != NULL ? role : "");
    if (hl_audit_write(conn, who->helpline_id, who->user_id, action, NULL, detail) != HL_OK) {
        atomic_fetch_add(&app->audit_failures, 1);
        hl_log(HL_LOG_ERROR, "users: %s of user %lld by user %lld not audited", action, (long long)user_id,
               (long long)who->user_id);
    }
}

void hl_handle_users_list(hl_request_t *req, void *arg)
{
    hl_app_t *app = arg;
    const hl_principal_t *who = hl_http_principal(req);
    hl_user_info_t *users = NULL;
    size_t n = 0;
    PGconn *conn = hl_dbpool_acquire(app->pool, 2000);
    json_t *items;

    if (conn == NULL || hl_users_list(conn, who->helpline_id, &users, &n) != HL_OK) {
        hl_dbpool_release(app->pool, conn);
        hl_http_reply_error(req, 503, "unavailable", "cannot list users now", NULL);
        return;
    }
    hl_dbpool_release(app->pool, conn);
    items = json_array();
    for (size_t i = 0; i < n && items != NULL; i++)
        if (json_array_append_new(items,
                                  json_pack("{s:s, s:s, s:s, s:b, s:b}", "name", users[i].name, "role",
                                            users[i].role, "created_at", users[i].created_at, "revoked",
                                            users[i].revoked, "has_password", users[i].has_password)) != 0) {
            json_decref(items);
            items = NULL;
        }
    free(users);
    hl_http_reply_json(req, 200, items != NULL ? json_pack("{s:o}", "items", items) : NULL);
}

void hl_handle_users_create(hl_request_t *req, void *arg)
{
    static const hl_strfield_t fields[] = {{"name", true, HL_USERS_NAME_MAX}, {"role", true, 16}};
    hl_app_t *app = arg;
    const hl_principal_t *who = hl_http_principal(req);
    const char *v[2];
    size_t len[2];
    json_t *root = NULL;
    char token[HL_CRYPTO_TOKEN_TEXT_LEN + 1];
    PGconn *conn = NULL;
    int64_t id = 0;
    int rc;

    if (!hl_strfields_parse(req, fields, 2, &root, v, len))
        return;
    if (!hl_users_name_valid(v[0])) {
        hl_http_reply_error(req, 400, "invalid_field",
                            "name: 1..64 of A-Z a-z 0-9 . _ -, starting with a letter or digit", "/name");
        goto out;
    }
    if (!hl_users_role_valid(v[1])) {
        hl_http_reply_error(req, 400, "invalid_field",
                            "role: frontend, counsellor, supervisor, network or admin", "/role");
        goto out;
    }
    conn = hl_dbpool_acquire(app->pool, 2000);
    rc = conn != NULL ? hl_users_add(conn, app->keyring, who->helpline_code, v[0], v[1], token, &id) : HL_EDB;
    if (rc == HL_EEXIST) {
        hl_http_reply_error(req, 409, "exists", "this helpline already has a user of that name", "/name");
        goto out;
    }
    if (rc != HL_OK) {
        reply_unavailable(req);
        goto out;
    }
    audit(app, conn, who, HL_AUDIT_USER_ADD, id, v[1]);
    hl_http_reply_json(req, 201, json_pack("{s:s, s:s, s:s}", "name", v[0], "role", v[1], "token", token));
    sodium_memzero(token, sizeof(token));
out:
    hl_dbpool_release(app->pool, conn);
    json_decref(root);
}

/* ---- PUT /v1/users/{name}/password: Argon2id on the hasher ------------------------------------- */

typedef struct {
    hl_app_t *app;
    hl_request_t *req;
    hl_principal_t who;
    char name[HL_USERS_NAME_MAX + 1];
    char pw[HL_CRYPTO_PASSWORD_MAX_BYTES];
    size_t pw_len;
} password_job_t;

static void password_job(void *arg)
{
    password_job_t *job = arg;
    char hash[HL_CRYPTO_PASSWORD_HASH_MAX];
    PGconn *conn = NULL;
    int64_t id = 0;
    int rc = hl_crypto_password_hash(job->pw, job->pw_len, hash);

    sodium_memzero(job->pw, sizeof(job->pw));
    if (rc == HL_OK) {
        conn = hl_dbpool_acquire(job->app->pool, 2000);
        /* Changing one's own password keeps the session it is changed from; every other one ends. */
        rc = conn != NULL
                 ? hl_users_set_password(conn, job->name, job->who.helpline_code, hash,
                                         strcmp(job->name, job->who.name) == 0 ? job->who.session_id : 0, &id,
                                         NULL)
                 : HL_EDB;
    }
    if (rc == HL_ENOTFOUND)
        reply_no_user(job->req);
    else if (rc == HL_EPERM)
        hl_http_reply_error(job->req, 409, "frontend_user",
                            "a frontend user is a machine: it has a token, not a password", NULL);
    else if (rc != HL_OK)
        reply_unavailable(job->req);
    else {
        audit(job->app, conn, &job->who, HL_AUDIT_PASSWORD_SET, id, NULL);
        hl_http_reply_json(job->req, 200, json_pack("{s:s, s:b}", "name", job->name, "has_password", 1));
    }
    hl_dbpool_release(job->app->pool, conn);
    sodium_memzero(hash, sizeof(hash));
    sodium_memzero(job, sizeof(*job));
    free(job);
}

void hl_handle_users_password(hl_request_t *req, void *arg)
{
    static const hl_strfield_t fields[] = {{"password", true, HL_CRYPTO_PASSWORD_MAX_BYTES}};
    hl_app_t *app = arg;
    const char *name = hl_http_path_arg(req), *v[1];
    size_t len[1];
    json_t *root = NULL;
    password_job_t *job = NULL;

    if (!hl_users_name_valid(name)) {
        reply_no_user(req);
        return;
    }
    if (!hl_strfields_parse(req, fields, 1, &root, v, len))
        return;
    if (!hl_crypto_password_acceptable(v[0], len[0])) {
        hl_http_reply_error(req, 400, "invalid_field", "password: at least 12 characters", "/password");
        goto out;
    }
    job = calloc(1, sizeof(*job));
    if (job == NULL) {
        reply_unavailable(req);
        goto out;
    }
    job->app = app;
    job->req = req;
    job->who = *hl_http_principal(req);
    snprintf(job->name, sizeof(job->name), "%s", name);
    memcpy(job->pw, v[0], len[0]);
    job->pw_len = len[0];
    hl_http_defer(req); /* first: the hasher may answer before submit returns */
    if (!hl_hasher_submit(app->hasher, password_job, job)) {
        hl_http_reply_error(req, 503, "unavailable", "too many passwords being checked: try again shortly",
                            NULL);
        goto out;
    }
    job = NULL;
out:
    if (job != NULL) {
        sodium_memzero(job, sizeof(*job));
        free(job);
    }
    json_decref(root);
}

void hl_handle_users_revoke(hl_request_t *req, void *arg)
{
    hl_app_t *app = arg;
    const hl_principal_t *who = hl_http_principal(req);
    const char *name = hl_http_path_arg(req);
    PGconn *conn = NULL;
    bool already = false;
    int64_t id = 0;
    int rc;

    if (!hl_users_name_valid(name)) {
        reply_no_user(req);
        return;
    }
    if (strcmp(name, who->name) == 0) {
        /* The last admin of a helpline could lock everyone out: another admin, or the command line. */
        hl_http_reply_error(req, 409, "own_user", "an admin cannot revoke their own user", NULL);
        return;
    }
    conn = hl_dbpool_acquire(app->pool, 2000);
    rc = conn != NULL ? hl_users_revoke(conn, name, who->helpline_code, &already, &id) : HL_EDB;
    if (rc == HL_ENOTFOUND)
        reply_no_user(req);
    else if (rc != HL_OK)
        reply_unavailable(req);
    else {
        hl_auth_forget_user(app->auth, id);
        if (!already)
            audit(app, conn, who, HL_AUDIT_USER_REVOKE, id, NULL);
        hl_http_reply_json(req, 200, json_pack("{s:s, s:b}", "name", name, "revoked", 1));
    }
    hl_dbpool_release(app->pool, conn);
}
