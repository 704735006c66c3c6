/*
 * Web sessions and the users admin API against the real daemon and PostgreSQL (api.md "Web
 * application and sessions"; docs/http-api.md "Sessions", "Users"): login and its failures (the
 * same 401 for every wrong login), the cookie's attributes (and under TLS), GET and DELETE
 * /v1/session, idle and absolute expiry, CSRF on every state change, a revoke or a new password
 * ending sessions, `helplined user passwd` from stdin, login throttling, a flood of 200 logins
 * that leaves intake responsive and the memory bounded, the users API per role, bad input.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "access/hasher.h"
#include "access/throttle.h"
#include "itest.h"

#define PW_AMINA  "amina's long passphrase"
#define PW_ADMIN  "admin passphrase 2026"
#define PW_ZADMIN "za admin passphrase"

static hl_testd_t d;

static void start(void)
{
    hl_testd_start(&d, NULL);
}

static void stop(void)
{
    int status = hl_testd_stop(&d);

    cr_expect_eq(status, 0, "helplined did not exit cleanly on SIGTERM (wait status 0x%x)", (unsigned)status);
}

TestSuite(sessions, .init = start, .fini = stop, .timeout = 180);

/* ---- helpers ----------------------------------------------------------------------------------- */

/* `helplined user passwd NAME [--helpline CODE]` with LINE (and a newline) on its stdin. */
static int passwd(const char *name, const char *helpline, const char *line)
{
    char cmd[2048];
    FILE *p;

    snprintf(cmd, sizeof(cmd), "'%s/helplined' user passwd '%s'%s%s%s -c '%s' >>'%s' 2>&1", HL_TEST_BUILDDIR,
             name, helpline != NULL ? " --helpline '" : "", helpline != NULL ? helpline : "",
             helpline != NULL ? "'" : "", d.conf, d.log);
    p = popen(cmd, "w");
    cr_assert_not_null(p);
    fprintf(p, "%s\n", line);
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void set_password(const char *name, const char *helpline, const char *pw)
{
    cr_assert_eq(passwd(name, helpline, pw), 0, "helplined user passwd %s failed", name);
}

typedef struct {
    char cookie[256]; /* "hl_session=..." as a Cookie header value */
    char csrf[64];
} session_t;

/* POST /v1/session with BODY; the caller frees RESP. */
static void login_raw(const char *body, hl_testd_resp_t *resp)
{
    hl_testd_req_t req = {
        .method = "POST", .path = "/v1/session", .content_type = "application/json", .body = body};

    hl_testd_do(&d, &req, resp);
}

static long login(const char *user, const char *helpline, const char *pw, session_t *s, hl_testd_resp_t *keep)
{
    json_t *b = json_pack("{s:s, s:s}", "user", user, "password", pw);
    hl_testd_resp_t resp;
    long status;

    if (helpline != NULL)
        json_object_set_new(b, "helpline", json_string(helpline));
    char *body = it_dump(b);
    login_raw(body, &resp);
    free(body);
    status = resp.status;
    if (s != NULL && status == 200) {
        size_t n = strcspn(resp.set_cookie, ";");
        cr_assert_lt(n, sizeof(s->cookie));
        snprintf(s->cookie, sizeof(s->cookie), "%.*s", (int)n, resp.set_cookie);
        cr_assert_not_null(it_str(resp.json, "csrf"), "%s", resp.body);
        snprintf(s->csrf, sizeof(s->csrf), "%s", it_str(resp.json, "csrf"));
    }
    if (keep != NULL)
        *keep = resp;
    else
        hl_testd_resp_free(&resp);
    return status;
}

/* A request with session S (NULL: none), its CSRF token when CSRF is not NULL ("" sends S's). */
static long with_session(const char *method, const char *path, const session_t *s, const char *csrf,
                         const char *body, hl_testd_resp_t *keep)
{
    char cookie[300], token[128];
    const char *headers[3] = {NULL, NULL, NULL};
    size_t n = 0;
    hl_testd_resp_t resp;

    if (s != NULL) {
        snprintf(cookie, sizeof(cookie), "Cookie: %s", s->cookie);
        headers[n++] = cookie;
    }
    if (csrf != NULL) {
        snprintf(token, sizeof(token), "X-CSRF-Token: %s", csrf[0] != '\0' || s == NULL ? csrf : s->csrf);
        headers[n++] = token;
    }
    hl_testd_req_t req = {.method = method,
                          .path = path,
                          .content_type = body != NULL ? "application/json" : NULL,
                          .body = body,
                          .headers = headers};
    hl_testd_do(&d, &req, &resp);
    long status = resp.status;
    if (keep != NULL)
        *keep = resp;
    else
        hl_testd_resp_free(&resp);
    return status;
}

static const char *code_of(const hl_testd_resp_t *r)
{
    const char *c = it_str(r->json, "error/code");

    return c != NULL ? c : "";
}

static long count(const char *sql)
{
    return it_scalar(&d, sql);
}

/* ---- login ------------------------------------------------------------------------------------- */

Test(sessions, login_sets_the_cookie_and_get_says_who)
{
    session_t s;
    hl_testd_resp_t r;

    set_password("amina", "demo", PW_AMINA);
    cr_assert_eq(login("amina", "demo", PW_AMINA, &s, &r), 200, "%s", r.body);
    cr_expect_str_eq(it_str(r.json, "user"), "amina");
    cr_expect_str_eq(it_str(r.json, "role"), "counsellor");
    cr_expect_str_eq(it_str(r.json, "helpline"), "demo");
    cr_expect_eq(strlen(s.csrf), 22);
    /* hl_session=<66 characters>; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict (no TLS: no Secure) */
    cr_expect(strncmp(r.set_cookie, "hl_session=", 11) == 0, "%s", r.set_cookie);
    cr_expect_eq(strlen(s.cookie), 11 + 66, "%s", s.cookie);
    cr_expect(strstr(r.set_cookie, "; Path=/") != NULL, "%s", r.set_cookie);
    cr_expect(strstr(r.set_cookie, "; HttpOnly") != NULL, "%s", r.set_cookie);
    cr_expect(strstr(r.set_cookie, "; SameSite=Strict") != NULL, "%s", r.set_cookie);
    cr_expect(strstr(r.set_cookie, "; Max-Age=43200") != NULL, "%s", r.set_cookie);
    cr_expect(strstr(r.set_cookie, "Secure") == NULL, "%s", r.set_cookie);
    cr_expect(strstr(r.set_cookie, "Domain") == NULL, "%s", r.set_cookie);
    hl_testd_resp_free(&r);

    cr_assert_eq(with_session("GET", "/v1/session", &s, NULL, NULL, &r), 200, "%s", r.body);
    cr_expect_str_eq(it_str(r.json, "user"), "amina");
    cr_expect_str_eq(it_str(r.json, "role"), "counsellor");
    cr_expect_str_eq(it_str(r.json, "helpline"), "demo");
    cr_expect_str_eq(it_str(r.json, "csrf"), s.csrf);
    hl_testd_resp_free(&r);
    /* A bearer token says who too, without a CSRF token. */
    hl_testd_req_t req = {.method = "GET", .path = "/v1/session", .token = d.tokens.supervisor};
    hl_testd_do(&d, &req, &r);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(it_str(r.json, "user"), "demo-supervisor");
    cr_expect_null(it_str(r.json, "csrf"));
    hl_testd_resp_free(&r);
    /* The cookie opens every /v1 route the role may use, and no other. */
    cr_expect_eq(with_session("GET", "/v1/contacts?counsellor=me", &s, NULL, NULL, NULL), 200);
    cr_expect_eq(with_session("GET", "/v1/taxonomy", &s, NULL, NULL, NULL), 200);
    cr_expect_eq(with_session("GET", "/v1/users", &s, NULL, NULL, NULL), 403);

    /* Stored: a selector and a hash, not the token; one login audit row. */
    cr_expect_eq(
        count("SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.name = 'amina'"
              " AND length(s.token_hash) = 32 AND s.helpline_id = u.helpline_id"),
        1);
    cr_expect_eq(count("SELECT count(*) FROM audit_log a JOIN users u ON u.id = a.user_id"
                       " WHERE a.action = 'login' AND u.name = 'amina'"),
                 1);
    cr_expect_eq(count("SELECT count(*) FROM users WHERE name = 'amina' AND password_hash LIKE "
                       "'$argon2id$v=19$m=65536,t=2,p=1$%'"),
                 1);
    char dump[] = "/tmp/hl-sessions-dump-XXXXXX";
    int fd = mkstemp(dump);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(hl_testd_pg_dump(d.conninfo, dump), 0);
    size_t len = 0;
    char *text = hl_testd_read_file(dump, &len);
    cr_assert_not_null(text);
    const char *token = s.cookie + 11;
    cr_expect_not(it_contains(text, len, token + 23), "the session token's verifier is in the database");
    cr_expect_not(it_contains(text, len, PW_AMINA), "the password is in the database");
    cr_expect_not(it_contains(text, len, s.csrf), "the CSRF token is in the database");
    free(text);
    unlink(dump);

    /* Never in the log: password, session token, CSRF token. */
    text = hl_testd_read_file(d.log, &len);
    cr_assert_not_null(text);
    cr_expect_not(it_contains(text, len, PW_AMINA));
    cr_expect_not(it_contains(text, len, token + 23));
    cr_expect_not(it_contains(text, len, s.csrf));
    free(text);
}

/* An unknown user, a wrong password, a user with no password, a revoked user, a machine and the
 * right password in another helpline: one 401, byte for byte, and the same Argon2id work. */
Test(sessions, every_failed_login_looks_the_same)
{
    static const struct {
        const char *user, *helpline, *pw;
    } wrong[] = {
        {"amina", "demo", "not amina's passphrase"},
        {"nobody", "demo", "not amina's passphrase"},
        {"baraka", "demo", "baraka has no password"},
        {"revoked-one", "demo", "revoked one's passphrase"},
        {"demo-frontend", "demo", "a frontend passphrase"},
        {"amina", "za", PW_AMINA},
        {"amina", "nowhere", PW_AMINA},
    };
    char first[512] = "", token[HL_TESTD_TOKEN_LEN];
    double t_wrong = 0, t_unknown = 0;

    set_password("amina", "demo", PW_AMINA);
    hl_testd_user_add(&d, "revoked-one", "counsellor", "demo", token);
    set_password("revoked-one", "demo", "revoked one's passphrase");
    cr_assert_eq(login("revoked-one", "demo", "revoked one's passphrase", NULL, NULL), 200);
    const char *revoke[] = {"user", "revoke", "revoked-one", "--helpline", "demo", NULL};
    cr_assert_eq(hl_testd_admin(&d, NULL, 0, revoke), 0);
    /* The frontend user gets a password hash written straight into the database: it still may
     * not log in. */
    char hash[crypto_pwhash_STRBYTES], sql[512];
    cr_assert_eq(crypto_pwhash_str(hash, "a frontend passphrase", 21, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                   crypto_pwhash_MEMLIMIT_INTERACTIVE),
                 0);
    snprintf(sql, sizeof(sql), "UPDATE users SET password_hash = '%s' WHERE name = 'demo-frontend'", hash);
    PGconn *conn = hl_testd_db(&d);
    PQclear(PQexec(conn, sql));
    PQfinish(conn);

    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        hl_testd_resp_t r;
        double t0 = hl_testd_now();

        cr_expect_eq(login(wrong[i].user, wrong[i].helpline, wrong[i].pw, NULL, &r), 401, "case %zu: %s", i,
                     r.body);
        double t = hl_testd_now() - t0;
        if (i == 0) {
            snprintf(first, sizeof(first), "%s", r.body);
            t_wrong = t;
        } else {
            cr_expect_str_eq(r.body, first, "case %zu", i);
        }
        if (i == 1)
            t_unknown = t;
        cr_expect_str_eq(r.set_cookie, "", "case %zu", i);
        hl_testd_resp_free(&r);
    }
    cr_expect_str_eq(
        first, "{\"error\":{\"code\":\"unauthenticated\",\"message\":\"unknown user or wrong password\"}}");
    /* Without the dummy check an unknown user would answer in a millisecond instead of ~0.2 s. */
    fprintf(stderr, "failed login: wrong password %.0f ms, unknown user %.0f ms\n", t_wrong * 1e3,
            t_unknown * 1e3);
    cr_expect_gt(t_unknown, 0.4 * t_wrong, "unknown user %.3f s, wrong password %.3f s", t_unknown, t_wrong);
    cr_expect_eq(count("SELECT count(*) FROM sessions"), 0, "the revoked user's session survived");
}

Test(sessions, helpline_field_with_two_helplines)
{
    hl_testd_resp_t r;
    session_t s;

    /* The login form asks for the helpline only when there are several: the 401 says how many. */
    cr_assert_eq(with_session("GET", "/v1/session", NULL, NULL, NULL, &r), 401);
    cr_expect_str_eq(code_of(&r), "unauthenticated");
    cr_expect_eq(json_integer_value(json_object_get(r.json, "helplines")), 2, "%s", r.body);
    hl_testd_resp_free(&r);

    set_password("za-admin", "za", PW_ZADMIN);
    cr_assert_eq(login("za-admin", NULL, PW_ZADMIN, NULL, &r), 400);
    cr_expect_str_eq(code_of(&r), "invalid_field");
    cr_expect_str_eq(it_str(r.json, "error/field"), "/helpline");
    hl_testd_resp_free(&r);
    cr_assert_eq(login("za-admin", "za", PW_ZADMIN, &s, &r), 200, "%s", r.body);
    cr_expect_str_eq(it_str(r.json, "helpline"), "za");
    hl_testd_resp_free(&r);
    /* Its own helpline's users only. */
    cr_assert_eq(with_session("GET", "/v1/users", &s, NULL, NULL, &r), 200);
    json_t *items = json_object_get(r.json, "items");
    cr_expect_eq(json_array_size(items), 2, "%s", r.body);
    hl_testd_resp_free(&r);
}

/* A daemon with one helpline: the set-up's second one (za) taken out before serve starts. */
static void drop_za(hl_testd_t *t)
{
    PGconn *conn = hl_testd_db(t);
    PGresult *res =
        PQexec(conn, "DELETE FROM users WHERE helpline_id = (SELECT id FROM helplines WHERE code = 'za');"
                     "DELETE FROM helplines WHERE code = 'za'");

    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(conn));
    PQclear(res);
    PQfinish(conn);
}

static void start_one_helpline(void)
{
    hl_testd_opts_t opts = {.before_serve = drop_za};

    hl_testd_start(&d, &opts);
}

TestSuite(sessions_one_helpline, .init = start_one_helpline, .fini = stop, .timeout = 60);

Test(sessions_one_helpline, no_helpline_field_needed)
{
    hl_testd_resp_t r;

    cr_assert_eq(with_session("GET", "/v1/session", NULL, NULL, NULL, &r), 401);
    cr_expect_eq(json_integer_value(json_object_get(r.json, "helplines")), 1, "%s", r.body);
    hl_testd_resp_free(&r);
    set_password("amina", NULL, PW_AMINA);
    cr_assert_eq(login("amina", NULL, PW_AMINA, NULL, &r), 200, "%s", r.body);
    cr_expect_str_eq(it_str(r.json, "helpline"), "demo");
    hl_testd_resp_free(&r);
    cr_expect_eq(login("amina", "demo", PW_AMINA, NULL, NULL), 200);
    /* Without the field a wrong password counts against the same name as with it. */
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(login("amina", NULL, "a wrong passphrase", NULL, NULL), 401);
        cr_expect_eq(login("amina", "demo", "a wrong passphrase", NULL, NULL), 401);
    }
    cr_expect_eq(login("amina", NULL, PW_AMINA, NULL, NULL), 429);
}

/* ---- logout, expiry ---------------------------------------------------------------------------- */

Test(sessions, logout_ends_the_session)
{
    session_t s;
    hl_testd_resp_t r;

    set_password("amina", "demo", PW_AMINA);
    cr_assert_eq(login("amina", "demo", PW_AMINA, &s, NULL), 200);
    /* Logging out changes state: the CSRF header too. */
    cr_assert_eq(with_session("DELETE", "/v1/session", &s, NULL, NULL, &r), 403);
    cr_expect_str_eq(code_of(&r), "csrf");
    hl_testd_resp_free(&r);
    cr_assert_eq(with_session("GET", "/v1/session", &s, NULL, NULL, NULL), 200,
                 "refused logout ended the session");
    cr_assert_eq(with_session("DELETE", "/v1/session", &s, "", NULL, &r), 200, "%s", r.body);
    cr_expect(strncmp(r.set_cookie, "hl_session=;", 12) == 0, "%s", r.set_cookie);
    cr_expect(strstr(r.set_cookie, "Max-Age=0") != NULL, "%s", r.set_cookie);
    hl_testd_resp_free(&r);
    cr_expect_eq(with_session("GET", "/v1/session", &s, NULL, NULL, NULL), 401);
    cr_expect_eq(with_session("DELETE", "/v1/session", &s, "", NULL, NULL), 401);
    cr_expect_eq(count("SELECT count(*) FROM sessions"), 0);
    cr_expect_eq(count("SELECT count(*) FROM audit_log WHERE action = 'logout'"), 1);
    /* A bearer token has no session to end. */
    hl_testd_req_t req = {.method = "DELETE", .path = "/v1/session", .token = d.tokens.counsellor};
    hl_testd_do(&d, &req, &r);
    cr_expect_eq(r.status, 400);
    cr_expect_str_eq(code_of(&r), "no_session");
    hl_testd_resp_free(&r);
}

Test(sessions, idle_and_absolute_expiry)
{
    session_t s;
    PGconn *conn;

    set_password("amina", "demo", PW_AMINA);
    cr_assert_eq(login("amina", "demo", PW_AMINA, &s, NULL), 200);
    conn = hl_testd_db(&d);
    /* Used 29 minutes ago: alive, and its last use moves to now. */
    PQclear(PQexec(conn, "UPDATE sessions SET last_used_at = now() - interval '29 minutes'"));
    cr_expect_eq(with_session("GET", "/v1/session", &s, NULL, NULL, NULL), 200);
    cr_expect_eq(count("SELECT count(*) FROM sessions WHERE last_used_at > now() - interval '1 minute'"), 1);
    /* Unused for 30 minutes (session_idle): over, and gone from the table. */
    PQclear(PQexec(conn, "UPDATE sessions SET last_used_at = now() - interval '30 minutes 1 second'"));
    cr_expect_eq(with_session("GET", "/v1/session", &s, NULL, NULL, NULL), 401);
    cr_expect_eq(count("SELECT count(*) FROM sessions"), 0);

    /* In use, but opened 12 hours ago (session_max): over. */
    cr_assert_eq(login("amina", "demo", PW_AMINA, &s, NULL), 200);
    PQclear(PQexec(conn, "UPDATE sessions SET created_at = now() - interval '11 hours 59 minutes'"));
    cr_expect_eq(with_session("GET", "/v1/session", &s, NULL, NULL, NULL), 200);
    PQclear(
        PQexec(conn, "UPDATE sessions SET created_at = now() - interval '12 hours', last_used_at = now()"));
    cr_expect_eq(with_session("GET", "/v1/session", &s, NULL, NULL, NULL), 401);

    /* Sessions nobody came back with are swept at the next login. */
    cr_assert_eq(login("amina", "demo", PW_AMINA, &s, NULL), 200);
    PQclear(PQexec(conn, "UPDATE sessions SET last_used_at = now() - interval '2 hours'"));
    cr_assert_eq(login("amina", "demo", PW_AMINA, NULL, NULL), 200);
    cr_expect_eq(count("SELECT count(*) FROM sessions"), 1);
    PQfinish(conn);
}

/* ---- CSRF ----------------------------------------------------------------------------------- */

Test(sessions, csrf_on_every_state_change)
{
    session_t s, other;
    hl_testd_resp_t r;
    char *body = it_dump(it_contact("csrf-1"));

    set_password("amina", "demo", PW_AMINA);
    set_password("demo-admin", "demo", PW_ADMIN);
    cr_assert_eq(login("amina", "demo", PW_AMINA, &s, NULL), 200);
    cr_assert_eq(login("demo-admin", "demo", PW_ADMIN, &other, NULL), 200);
    /* No header, an empty one, another session's token, a changed one: 403 csrf, nothing stored. */
    const char *bad[] = {NULL, "x", other.csrf, "AAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(with_session("POST", "/v1/contacts", &s, bad[i], body, &r), 403, "case %zu: %s", i,
                     r.body);
        cr_expect_str_eq(code_of(&r), "csrf", "case %zu", i);
        hl_testd_resp_free(&r);
        cr_expect_eq(with_session("POST", "/v1/classify", &s, bad[i], "{\"text\": \"hi\"}", NULL), 403);
    }
    cr_expect_eq(count("SELECT count(*) FROM contacts"), 0);
    /* The right one stores it (as amina's). */
    cr_expect_eq(with_session("POST", "/v1/contacts", &s, "", body, &r), 201, "%s", r.body);
    hl_testd_resp_free(&r);
    cr_expect_eq(
        count("SELECT count(*) FROM contacts c JOIN users u ON u.id = c.created_by WHERE u.name = 'amina'"),
        1);
    /* Reads need none. */
    cr_expect_eq(with_session("GET", "/v1/contacts", &s, NULL, NULL, NULL), 200);
    /* A bearer token needs none either, and wins over a cookie: a bad token is 401 even with a
     * good session. */
    hl_testd_req_t req = {.method = "POST",
                          .path = "/v1/classify",
                          .token = d.tokens.counsellor,
                          .content_type = "application/json",
                          .body = "{\"text\": \"hi\"}"};
    hl_testd_do(&d, &req, &r);
    cr_expect_eq(r.status, 200, "%s", r.body);
    hl_testd_resp_free(&r);
    char cookie[300];
    snprintf(cookie, sizeof(cookie), "Cookie: %s", s.cookie);
    const char *headers[] = {cookie, NULL};
    req.token = "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    req.headers = headers;
    hl_testd_do(&d, &req, &r);
    cr_expect_eq(r.status, 401, "%s", r.body);
    hl_testd_resp_free(&r);
    /* A forged or altered cookie is no session. */
    session_t forged = s;
    forged.cookie[40] = forged.cookie[40] == 'A' ? 'B' : 'A';
    cr_expect_eq(with_session("GET", "/v1/session", &forged, NULL, NULL, NULL), 401);
    snprintf(forged.cookie, sizeof(forged.cookie), "hl_session=garbage");
    cr_expect_eq(with_session("GET", "/v1/contacts", &forged, NULL, NULL, NULL), 401);
    free(body);
}

/* ---- revoke, passwd -------------------------------------------------------------------------------- */

Test(sessions, revoke_and_a_new_password_end_sessions)
{
    session_t s;

    set_password("baraka", "demo", "baraka's passphrase");
    cr_assert_eq(login("baraka", "demo", "baraka's passphrase", &s, NULL), 200);
    /* A new password ends the sessions opened with the old one. */
    set_password("baraka", "demo", "baraka's new passphrase");
    cr_expect_eq(with_session("GET", "/v1/session", &s, NULL, NULL, NULL), 401);
    cr_expect_eq(login("baraka", "demo", "baraka's passphrase", NULL, NULL), 401);
    cr_assert_eq(login("baraka", "demo", "baraka's new passphrase", &s, NULL), 200);
    const char *revoke[] = {"user", "revoke", "baraka", "--helpline", "demo", NULL};
    cr_assert_eq(hl_testd_admin(&d, NULL, 0, revoke), 0);
    cr_expect_eq(with_session("GET", "/v1/session", &s, NULL, NULL, NULL), 401);
    cr_expect_eq(count("SELECT count(*) FROM sessions"), 0);
    cr_expect_eq(count("SELECT count(*) FROM users WHERE name = 'baraka' AND password_hash IS NULL"), 1);
    cr_expect_eq(login("baraka", "demo", "baraka's new passphrase", NULL, NULL), 401);
}

Test(sessions, passwd_reads_one_line_of_stdin_and_refuses_short_ones)
{
    /* 11 characters, 12 (in 17 bytes), an empty line: refused, accepted, refused. */
    cr_expect_eq(passwd("amina", "demo", "short pass!"), 1);
    cr_expect_eq(count("SELECT count(*) FROM users WHERE password_hash IS NOT NULL"), 0);
    cr_expect_eq(passwd("amina", "demo", ""), 1);
    cr_expect_eq(passwd("amina", "demo", "ñandú ñandú!"), 0);
    cr_expect_eq(login("amina", "demo", "ñandú ñandú!", NULL, NULL), 200);
    /* --helpline may be left out when the name is in one helpline; no password from arguments. */
    cr_expect_eq(passwd("amina", NULL, "another passphrase"), 0);
    cr_expect_eq(login("amina", "demo", "another passphrase", NULL, NULL), 200);
    const char *args[] = {"user", "passwd", "amina", "another passphrase", NULL};
    cr_expect_eq(hl_testd_admin(&d, NULL, 0, args), 2);
    /* No such user; a machine. */
    cr_expect_eq(passwd("nobody", "demo", "a good passphrase"), 1);
    cr_expect_eq(passwd("demo-frontend", "demo", "a good passphrase"), 1);
    cr_expect_eq(
        count("SELECT count(*) FROM users WHERE name = 'demo-frontend' AND password_hash IS NOT NULL"), 0);
    cr_expect_eq(count("SELECT count(*) FROM audit_log WHERE action = 'password_set'"), 2);
    /* The log never holds a password. */
    size_t len = 0;
    char *text = hl_testd_read_file(d.log, &len);
    cr_expect_not(it_contains(text, len, "ñandú ñandú!"));
    cr_expect_not(it_contains(text, len, "another passphrase"));
    free(text);
}

/* A password hash of an older, cheaper cost is stored again with today's at the next login. */
Test(sessions, older_hash_renewed_at_login)
{
    char hash[crypto_pwhash_STRBYTES], sql[512];
    PGconn *conn = hl_testd_db(&d);

    cr_assert_eq(crypto_pwhash_str_alg(hash, PW_AMINA, strlen(PW_AMINA), crypto_pwhash_OPSLIMIT_MIN,
                                       crypto_pwhash_MEMLIMIT_MIN, crypto_pwhash_ALG_ARGON2ID13),
                 0);
    snprintf(sql, sizeof(sql), "UPDATE users SET password_hash = '%s' WHERE name = 'amina'", hash);
    PQclear(PQexec(conn, sql));
    PQfinish(conn);
    cr_assert_eq(login("amina", "demo", PW_AMINA, NULL, NULL), 200);
    cr_expect_eq(count("SELECT count(*) FROM users WHERE name = 'amina'"
                       " AND password_hash LIKE '$argon2id$v=19$m=65536,t=2,p=1$%'"),
                 1);
    cr_expect_eq(login("amina", "demo", PW_AMINA, NULL, NULL), 200);
}

/* ---- throttling ------------------------------------------------------------------------------- */

Test(sessions, repeated_failures_are_slowed_down)
{
    hl_testd_resp_t r;

    set_password("amina", "demo", PW_AMINA);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(login("amina", "demo", "a wrong passphrase", NULL, NULL), 401, "failure %d", i + 1);
    /* The sixth blocked the name for a second: even the right password waits, and no work is done. */
    cr_assert_eq(login("amina", "demo", PW_AMINA, NULL, &r), 429);
    cr_expect_str_eq(code_of(&r), "too_many_attempts");
    cr_expect_str_eq(r.retry_after, "1");
    hl_testd_resp_free(&r);
    cr_expect_eq(count("SELECT count(*) FROM audit_log a JOIN users u ON u.id::text = substring(a.detail "
                       "from 'user ([0-9]+)')"
                       " WHERE a.action = 'login_throttled' AND u.name = 'amina'"),
                 1);
    /* Another name from the same address is not slowed down (the address allows 20). */
    set_password("baraka", "demo", "baraka's passphrase");
    cr_expect_eq(login("baraka", "demo", "baraka's passphrase", NULL, NULL), 200);
    /* After Retry-After, the right password works and clears the name. */
    double t0 = hl_testd_now();
    long st;
    while ((st = login("amina", "demo", PW_AMINA, NULL, NULL)) == 429)
        cr_assert_lt(hl_testd_now() - t0, 3.0, "still blocked after 3 s");
    cr_expect_eq(st, 200);
    cr_expect_eq(login("amina", "demo", "a wrong passphrase", NULL, NULL), 401,
                 "cleared: free failures again");
}

/* ---- the flood -------------------------------------------------------------------------------- */

#define FLOOD 200

typedef struct {
    pthread_barrier_t *go;
    long status;
} flood_arg_t;

static void *flood_one(void *arg)
{
    flood_arg_t *a = arg;
    char body[128];
    hl_testd_resp_t r;

    /* Each a name of its own (known or not), all from one address. */
    snprintf(body, sizeof(body),
             "{\"user\": \"guess-%p\", \"helpline\": \"demo\", \"password\": \"wrong wrong wrong\"}", arg);
    pthread_barrier_wait(a->go);
    login_raw(body, &r);
    a->status = r.status;
    hl_testd_resp_free(&r);
    return NULL;
}

static long rss_kib(void)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/status", (long)d.pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

typedef struct {
    volatile bool stop;
    long peak;
} sampler_t;

static void *sample_rss(void *arg)
{
    sampler_t *s = arg;

    while (!s->stop) {
        long v = rss_kib();
        if (v > s->peak)
            s->peak = v;
        usleep(5000);
    }
    return NULL;
}

/* 200 wrong logins at once: at most HL_HASHER_THREADS hashes run, the rest wait in a short queue
 * or get 503 (or 429 once the address is slowed down) at once; a contact posted with a bearer
 * token meanwhile answers within a second, and the daemon's memory stays bounded. */
Test(sessions, login_flood_leaves_intake_responsive)
{
    static pthread_t threads[FLOOD];
    static flood_arg_t args[FLOOD];
    pthread_barrier_t go;
    pthread_t sampler;
    sampler_t samp = {false, 0};
    int by_status[600] = {0};
    long base = rss_kib();
    double t_quiet = hl_testd_now();

    cr_assert_gt(base, 0);
    /* The same request without a flood, for the figure (its token is not the one used below, so
     * that one is checked cold, with a query, during the flood). */
    cr_assert_eq(it_post(&d, d.tokens.admin, it_contact("quiet-1"), NULL), 201);
    t_quiet = hl_testd_now() - t_quiet;
    pthread_barrier_init(&go, NULL, FLOOD + 1);
    pthread_create(&sampler, NULL, sample_rss, &samp);
    for (int i = 0; i < FLOOD; i++) {
        args[i].go = &go;
        cr_assert_eq(pthread_create(&threads[i], NULL, flood_one, &args[i]), 0);
    }
    pthread_barrier_wait(&go);
    /* Not a synchronisation: the contact is meant to arrive while the flood is being answered. */
    usleep(50000);
    double t0 = hl_testd_now();
    json_t *reply = NULL;
    long st = it_post(&d, d.tokens.frontend, it_contact("flood-1"), &reply);
    double took = hl_testd_now() - t0;
    json_decref(reply);
    for (int i = 0; i < FLOOD; i++) {
        pthread_join(threads[i], NULL);
        if (args[i].status >= 0 && args[i].status < 600)
            by_status[args[i].status]++;
    }
    samp.stop = true;
    pthread_join(sampler, NULL);
    pthread_barrier_destroy(&go);
    /* Every reply is in, so every hash is done: its memory is back with the kernel. */
    long after = rss_kib();
    fprintf(
        stderr,
        "login flood: POST /v1/contacts in %.0f ms (%.0f ms without the flood); RSS %ld KiB before, peak %ld "
        "KiB, %ld KiB after; %d x 401, %d x 429, %d x 503\n",
        took * 1e3, t_quiet * 1e3, base, samp.peak, after, by_status[401], by_status[429], by_status[503]);
    cr_expect_eq(st, 201);
    cr_expect_lt(took, 1.0, "POST /v1/contacts took %.3f s during the login flood", took);
    cr_expect_eq(by_status[401] + by_status[429] + by_status[503], FLOOD, "other answers than 401, 429, 503");
    cr_expect_gt(by_status[503], 0, "no login was refused at once");
    /* The address is slowed down after its free failures; what was queued by then still runs. */
    cr_expect_leq(by_status[401], HL_THROTTLE_ADDR_FREE + HL_HASHER_THREADS + HL_HASHER_QUEUE,
                  "more logins hashed than the throttle and the queue let through");
    /* Two hashes of 64 MiB at most, plus what the daemon had. */
    cr_expect_lt(samp.peak - base, 2 * 64 * 1024 + 32 * 1024, "RSS grew by %ld KiB", samp.peak - base);
    cr_expect_lt(after - base, 32 * 1024, "RSS stayed %ld KiB higher after the flood", after - base);
    cr_expect_eq(count("SELECT count(*) FROM sessions"), 0);
}

/* ---- TLS: __Host- and Secure -------------------------------------------------------------------- */

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port;

    cr_assert_geq(fd, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static size_t ignore_body(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

static size_t grab_cookie(char *data, size_t size, size_t n, void *arg)
{
    size_t len = size * n;

    if (len > 12 && strncasecmp(data, "Set-Cookie: ", 12) == 0)
        snprintf(arg, 512, "%.*s", (int)(len - 12 - 2), data + 12);
    return len;
}

/* One HTTPS request (the certificate is not checked: it is made here). */
static long https(const char *url, const char *method, const char *body, const char *cookie,
                  char set_cookie[512])
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char line[512];
    long status = 0;

    h = curl_slist_append(h, "Content-Type: application/json");
    if (cookie != NULL) {
        snprintf(line, sizeof(line), "Cookie: %s", cookie);
        h = curl_slist_append(h, line);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ignore_body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, grab_cookie);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, set_cookie);
    if (body != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

Test(sessions, under_tls_the_cookie_is_host_only_and_secure)
{
    char cmd[4096], conf[600], url[128], set_cookie[512] = "", cookie[512];
    pid_t pid;
    long st = 0;

    if (system("command -v openssl >/dev/null 2>&1") != 0)
        cr_skip_test("openssl is not installed: no certificate for the TLS daemon");
    set_password("amina", "demo", PW_AMINA);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout '%s/tls.key' "
             "-out '%s/tls.crt' >>'%s' 2>&1",
             d.dir, d.dir, d.log);
    cr_assert_eq(system(cmd), 0, "openssl failed");
    /* A second daemon on the same database, with TLS: the first one's config plus the keys. */
    int port = free_port();
    snprintf(conf, sizeof(conf), "%s/tls.conf", d.dir);
    snprintf(cmd, sizeof(cmd),
             "sed -e 's/^listen = .*/listen = 127.0.0.1:%d/' -e 's|^spool_dir = .*|spool_dir = "
             "%s/tls-spool|' '%s' > '%s' "
             "&& printf 'tls_cert = %s/tls.crt\\ntls_key = %s/tls.key\\n' >> '%s'",
             port, d.dir, d.conf, conf, d.dir, d.dir, conf);
    cr_assert_eq(system(cmd), 0);
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        FILE *log = freopen(d.log, "a", stderr);
        (void)log;
        execl(HL_TEST_BUILDDIR "/helplined", "helplined", "serve", "-c", conf, (char *)NULL);
        _exit(127);
    }
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/healthz", port);
    for (double t0 = hl_testd_now(); hl_testd_now() - t0 < 10 && st != 200;) {
        st = https(url, "GET", NULL, NULL, set_cookie);
        if (st != 200)
            usleep(50000);
    }
    cr_assert_eq(st, 200, "the TLS daemon did not answer");
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/v1/session", port);
    st = https(url, "POST", "{\"user\": \"amina\", \"helpline\": \"demo\", \"password\": \"" PW_AMINA "\"}",
               NULL, set_cookie);
    cr_expect_eq(st, 200);
    cr_expect(strncmp(set_cookie, "__Host-hl_session=", 18) == 0, "%s", set_cookie);
    cr_expect(strstr(set_cookie, "; Secure") != NULL, "%s", set_cookie);
    cr_expect(strstr(set_cookie, "; Path=/") != NULL, "%s", set_cookie);
    cr_expect(strstr(set_cookie, "; HttpOnly") != NULL, "%s", set_cookie);
    cr_expect(strstr(set_cookie, "; SameSite=Strict") != NULL, "%s", set_cookie);
    snprintf(cookie, sizeof(cookie), "%.*s", (int)strcspn(set_cookie, ";"), set_cookie);
    cr_expect_eq(https(url, "GET", NULL, cookie, set_cookie), 200);
    /* Without the prefix the cookie could have been set by another site on the host: not read. */
    char bare[512];
    snprintf(bare, sizeof(bare), "%s", cookie + 7);
    cr_expect_eq(https(url, "GET", NULL, bare, set_cookie), 401);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* ---- users API ------------------------------------------------------------------------------ */

Test(sessions, users_api_for_admins_of_their_helpline)
{
    session_t admin, carol_s;
    hl_testd_resp_t r;
    char token[128];

    set_password("demo-admin", "demo", PW_ADMIN);
    cr_assert_eq(login("demo-admin", "demo", PW_ADMIN, &admin, NULL), 200);
    /* The list: names, roles, dates, flags; never a hash or a token. */
    cr_assert_eq(with_session("GET", "/v1/users", &admin, NULL, NULL, &r), 200);
    json_t *items = json_object_get(r.json, "items");
    cr_expect_eq(json_array_size(items), 6, "%s", r.body);
    cr_expect_str_eq(it_str(json_array_get(items, 0), "name"), "amina");
    cr_expect(json_is_false(json_object_get(json_array_get(items, 0), "has_password")));
    cr_expect(json_is_false(json_object_get(json_array_get(items, 0), "revoked")));
    cr_expect_eq(strlen(it_str(json_array_get(items, 0), "created_at")), 20);
    cr_expect(strstr(r.body, "argon2") == NULL && strstr(r.body, "token") == NULL, "%s", r.body);
    hl_testd_resp_free(&r);

    /* Add: the token once; it works at once. Without the CSRF header nothing is added. */
    const char *add = "{\"name\": \"carol\", \"role\": \"counsellor\"}";
    cr_expect_eq(with_session("POST", "/v1/users", &admin, NULL, add, NULL), 403);
    cr_expect_eq(count("SELECT count(*) FROM users WHERE name = 'carol'"), 0);
    cr_assert_eq(with_session("POST", "/v1/users", &admin, "", add, &r), 201, "%s", r.body);
    cr_expect_str_eq(it_str(r.json, "name"), "carol");
    cr_expect_str_eq(it_str(r.json, "role"), "counsellor");
    snprintf(token, sizeof(token), "%s", it_str(r.json, "token"));
    hl_testd_resp_free(&r);
    long st;
    json_decref(hl_testd_request(&d, "GET", "/v1/taxonomy", token, NULL, NULL, &st, NULL));
    cr_expect_eq(st, 200);
    cr_expect_eq(with_session("POST", "/v1/users", &admin, "", add, &r), 409);
    cr_expect_str_eq(code_of(&r), "exists");
    hl_testd_resp_free(&r);

    /* Set a password; carol logs in. */
    cr_expect_eq(
        with_session("PUT", "/v1/users/carol/password", &admin, "", "{\"password\": \"too short\"}", &r),
        400);
    cr_expect_str_eq(it_str(r.json, "error/field"), "/password");
    hl_testd_resp_free(&r);
    cr_assert_eq(with_session("PUT", "/v1/users/carol/password", &admin, "",
                              "{\"password\": \"carol's passphrase\"}", &r),
                 200, "%s", r.body);
    cr_expect(json_is_true(json_object_get(r.json, "has_password")));
    hl_testd_resp_free(&r);
    cr_assert_eq(login("carol", "demo", "carol's passphrase", &carol_s, NULL), 200);
    cr_expect_eq(with_session("PUT", "/v1/users/nobody/password", &admin, "",
                              "{\"password\": \"carol's passphrase\"}", NULL),
                 404);
    cr_expect_eq(with_session("PUT", "/v1/users/demo-frontend/password", &admin, "",
                              "{\"password\": \"carol's passphrase\"}", &r),
                 409);
    cr_expect_str_eq(code_of(&r), "frontend_user");
    hl_testd_resp_free(&r);
    /* An admin changing their own password keeps the session it is changed from. */
    cr_expect_eq(with_session("PUT", "/v1/users/demo-admin/password", &admin, "",
                              "{\"password\": \"" PW_ADMIN "!\"}", NULL),
                 200);
    cr_expect_eq(with_session("GET", "/v1/session", &admin, NULL, NULL, NULL), 200);

    /* Revoke: token, password and sessions at once; not oneself. */
    cr_expect_eq(with_session("DELETE", "/v1/users/demo-admin", &admin, "", NULL, &r), 409);
    cr_expect_str_eq(code_of(&r), "own_user");
    hl_testd_resp_free(&r);
    cr_assert_eq(with_session("DELETE", "/v1/users/carol", &admin, "", NULL, &r), 200, "%s", r.body);
    cr_expect(json_is_true(json_object_get(r.json, "revoked")));
    hl_testd_resp_free(&r);
    json_decref(hl_testd_request(&d, "GET", "/v1/taxonomy", token, NULL, NULL, &st, NULL));
    cr_expect_eq(st, 401, "carol's token still works after the revoke");
    cr_expect_eq(with_session("GET", "/v1/session", &carol_s, NULL, NULL, NULL), 401);
    cr_expect_eq(count("SELECT count(*) FROM users WHERE name = 'carol' AND revoked_at IS NOT NULL"
                       " AND password_hash IS NULL"),
                 1);
    cr_expect_eq(with_session("DELETE", "/v1/users/nobody", &admin, "", NULL, NULL), 404);
    cr_expect_eq(
        count("SELECT count(*) FROM audit_log WHERE action IN ('user_add', 'password_set', 'user_revoke')"
              " AND user_id = (SELECT id FROM users WHERE name = 'demo-admin')"),
        4);

    /* Other roles: 403; another helpline's admin: not these users (404). */
    const char *who[] = {d.tokens.counsellor, d.tokens.supervisor, d.tokens.network, d.tokens.frontend};
    for (size_t i = 0; i < 4; i++) {
        json_decref(hl_testd_request(&d, "GET", "/v1/users", who[i], NULL, NULL, &st, NULL));
        cr_expect_eq(st, 403, "role %zu", i);
        json_decref(hl_testd_request(&d, "POST", "/v1/users", who[i], "application/json", add, &st, NULL));
        cr_expect_eq(st, 403, "role %zu", i);
    }
    json_decref(hl_testd_request(&d, "DELETE", "/v1/users/amina", d.tokens.za_admin, NULL, NULL, &st, NULL));
    cr_expect_eq(st, 404);
    json_decref(hl_testd_request(&d, "PUT", "/v1/users/amina/password", d.tokens.za_admin, "application/json",
                                 "{\"password\": \"za takes amina's\"}", &st, NULL));
    cr_expect_eq(st, 404);
    cr_expect_eq(count("SELECT count(*) FROM users WHERE name = 'amina' AND (revoked_at IS NOT NULL"
                       " OR password_hash IS NOT NULL)"),
                 0);
}

/* ---- bad input -------------------------------------------------------------------------------- */

Test(sessions, bad_input_is_400_with_the_field)
{
    static const struct {
        const char *body, *code, *field;
    } cases[] = {
        {"not json", "bad_json", NULL},
        {"[]", "bad_json", NULL},
        {"{\"user\": \"amina\", \"helpline\": \"demo\"}", "invalid_field", "/password"},
        {"{\"helpline\": \"demo\", \"password\": \"xxxxxxxxxxxxx\"}", "invalid_field", "/user"},
        {"{\"user\": 5, \"helpline\": \"demo\", \"password\": \"xxxxxxxxxxxxx\"}", "invalid_field", "/user"},
        {"{\"user\": \"\", \"helpline\": \"demo\", \"password\": \"xxxxxxxxxxxxx\"}", "invalid_field",
         "/user"},
        {"{\"user\": \"amina\", \"helpline\": [], \"password\": \"xxxxxxxxxxxxx\"}", "invalid_field",
         "/helpline"},
        {"{\"user\": \"amina\", \"helpline\": \"demo\", \"password\": null}", "invalid_field", "/password"},
        {"{\"user\": \"amina\", \"helpline\": \"demo\", \"password\": \"x\", \"remember\": true}",
         "unknown_field", "/remember"},
        {"{\"user\": \"amina\", \"user\": \"baraka\", \"helpline\": \"demo\", \"password\": \"x\"}",
         "bad_json", NULL},
    };
    hl_testd_resp_t r;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        login_raw(cases[i].body, &r);
        cr_expect_eq(r.status, 400, "case %zu: %ld %s", i, r.status, r.body);
        cr_expect_str_eq(code_of(&r), cases[i].code, "case %zu: %s", i, r.body);
        if (cases[i].field != NULL)
            cr_expect(it_str(r.json, "error/field") != NULL &&
                          strcmp(it_str(r.json, "error/field"), cases[i].field) == 0,
                      "case %zu: %s", i, r.body);
        hl_testd_resp_free(&r);
    }
    /* A password over 1024 bytes. */
    char body[1200];
    snprintf(body, sizeof(body), "{\"user\": \"amina\", \"helpline\": \"demo\", \"password\": \"%01025d\"}",
             0);
    login_raw(body, &r);
    cr_expect_eq(r.status, 400);
    cr_expect_str_eq(it_str(r.json, "error/field"), "/password");
    hl_testd_resp_free(&r);
    /* Not JSON at all. */
    hl_testd_req_t req = {.method = "POST", .path = "/v1/session", .content_type = "text/plain", .body = "x"};
    hl_testd_do(&d, &req, &r);
    cr_expect_eq(r.status, 415);
    hl_testd_resp_free(&r);
    /* The users API's bodies too. */
    const char *bad_users[][3] = {
        {"{\"name\": \"-carol\", \"role\": \"counsellor\"}", "invalid_field", "/name"},
        {"{\"name\": \"carol\", \"role\": \"boss\"}", "invalid_field", "/role"},
        {"{\"name\": \"carol\"}", "invalid_field", "/role"},
        {"{\"name\": \"carol\", \"role\": \"counsellor\", \"token\": \"x\"}", "unknown_field", "/token"},
    };
    for (size_t i = 0; i < 4; i++) {
        hl_testd_req_t u = {.method = "POST",
                            .path = "/v1/users",
                            .token = d.tokens.admin,
                            .content_type = "application/json",
                            .body = bad_users[i][0]};
        hl_testd_do(&d, &u, &r);
        cr_expect_eq(r.status, 400, "users case %zu: %s", i, r.body);
        cr_expect_str_eq(code_of(&r), bad_users[i][1], "users case %zu", i);
        cr_expect_str_eq(it_str(r.json, "error/field"), bad_users[i][2], "users case %zu", i);
        hl_testd_resp_free(&r);
    }
    cr_expect_eq(count("SELECT count(*) FROM users WHERE name = 'carol'"), 0);
    cr_expect_eq(count("SELECT count(*) FROM sessions"), 0);
}
