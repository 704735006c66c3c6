/*
 * Suite helplines: GET /v1/helplines (the helplines a user reads reports of, with the keys that
 * verify them) and POST /v1/reports/verify (the daemon's check of a report a user holds), for
 * the network officer's page of the web application (issue 17, acceptance 4).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include "daemon.h"
#include "itest.h"

static hl_testd_t d;

static void setup(void)
{
    const char *demo2[] = {"helpline",  "add", "demo2",     "--name",   "Second Demo Helpline",
                           "--country", "KE",  "--network", "demo-net", NULL};

    hl_testd_start(&d, NULL);
    cr_assert_eq(hl_testd_admin(&d, NULL, 0, demo2), 0);
}

static void teardown(void)
{
    cr_expect_eq(hl_testd_stop(&d), 0);
}

TestSuite(helplines, .init = setup, .fini = teardown, .timeout = 60);

/* `helplined signing-key show --helpline CODE`'s key id and public key. */
static void signing_key(const char *code, char kid[64], char b64[128])
{
    const char *args[] = {"signing-key", "show", "--helpline", code, NULL};
    char line[256], got[64];

    cr_assert_eq(hl_testd_admin(&d, line, sizeof(line), args), 0);
    cr_assert_eq(sscanf(line, "%63s ed25519 %63s %127s", got, kid, b64), 3, "%s", line);
}

/* The codes of GET /v1/helplines as TOKEN sees them, comma-separated, in OUT. */
static long list_codes(const char *token, char *out, size_t cap, json_t **reply)
{
    long status;
    json_t *r = hl_testd_request(&d, "GET", "/v1/helplines", token, NULL, NULL, &status, NULL), *item;
    size_t i;

    out[0] = '\0';
    json_array_foreach(json_object_get(r, "items"), i, item)
    {
        size_t used = strlen(out);
        snprintf(out + used, cap - used, "%s%s", used > 0 ? "," : "",
                 json_string_value(json_object_get(item, "code")));
    }
    if (reply != NULL)
        *reply = r;
    else
        json_decref(r);
    return status;
}

Test(helplines, each_role_sees_what_it_reads_with_the_keys_helplined_shows)
{
    char codes[256], kid[64], b64[128];
    json_t *reply = NULL, *item;
    size_t i;

    cr_expect_eq(list_codes(d.tokens.network, codes, sizeof(codes), &reply), 200);
    cr_expect_str_eq(codes, "demo,demo2", "a network user: every helpline of its network");
    json_array_foreach(json_object_get(reply, "items"), i, item)
    {
        json_t *key = json_object_get(item, "signing_key");
        signing_key(json_string_value(json_object_get(item, "code")), kid, b64);
        cr_expect_str_eq(json_string_value(json_object_get(key, "alg")), "ed25519");
        cr_expect_str_eq(json_string_value(json_object_get(key, "key_id")), kid);
        cr_expect_str_eq(json_string_value(json_object_get(key, "public_key")), b64);
        cr_expect_str_eq(json_string_value(json_object_get(item, "network")), "demo-net");
    }
    json_decref(reply);
    cr_expect_eq(list_codes(d.tokens.supervisor, codes, sizeof(codes), NULL), 200);
    cr_expect_str_eq(codes, "demo", "a supervisor: its own helpline only");
    cr_expect_eq(list_codes(d.tokens.za_admin, codes, sizeof(codes), &reply), 200);
    cr_expect_str_eq(codes, "za", "another helpline's admin: its own, never demo's network");
    cr_expect(json_is_null(json_object_get(json_array_get(json_object_get(reply, "items"), 0), "network")));
    json_decref(reply);
    cr_expect_eq(list_codes(d.tokens.frontend, codes, sizeof(codes), NULL), 403,
                 "front ends read no reports");
    cr_expect_eq(list_codes(NULL, codes, sizeof(codes), NULL), 401);
}

/* POST /v1/reports/verify with BODY as TOKEN; *REPLY the parsed reply. */
static long verify(const char *token, const char *body, json_t **reply)
{
    long status;

    *reply =
        hl_testd_request(&d, "POST", "/v1/reports/verify", token, "application/json", body, &status, NULL);
    return status;
}

/* demo2's Q3 2026 report as the network user fetches it (malloc'd text). */
static char *fetch_report(const char *code)
{
    char path[128], *text = NULL;
    long status;

    snprintf(path, sizeof(path), "/v1/reports/quarterly?year=2026&quarter=3&helpline=%s", code);
    json_decref(hl_testd_request(&d, "GET", path, d.tokens.network, NULL, NULL, &status, &text));
    cr_assert_eq(status, 200, "%s", text != NULL ? text : "");
    return text;
}

/* Replaces the first occurrence of FROM in S (in place, same length). */
static void tamper(char *s, const char *from, const char *to)
{
    char *at = strstr(s, from);

    cr_assert_not_null(at, "%s in the report", from);
    cr_assert_eq(strlen(from), strlen(to));
    memcpy(at, to, strlen(to));
}

Test(helplines, the_daemon_verifies_a_report_and_refuses_a_changed_one)
{
    char *text = fetch_report("demo2"), kid[64], b64[128];
    json_t *reply = NULL;

    signing_key("demo2", kid, b64);
    cr_expect_eq(verify(d.tokens.network, text, &reply), 200);
    cr_expect(json_is_true(json_object_get(reply, "valid")), "the report as fetched verifies");
    cr_expect_str_eq(json_string_value(json_object_get(reply, "helpline")), "demo2");
    cr_expect_str_eq(json_string_value(json_object_get(reply, "key_id")), kid);
    json_decref(reply);

    /* One changed letter in the signed content: not this helpline's report any more. */
    tamper(text, "Second Demo", "Second Dema");
    cr_expect_eq(verify(d.tokens.network, text, &reply), 200);
    cr_expect(json_is_false(json_object_get(reply, "valid")));
    cr_expect_not_null(json_object_get(reply, "reason"));
    json_decref(reply);
    free(text);

    /* demo's report relabelled as demo2's does not verify with demo2's key. */
    text = fetch_report("demo");
    json_t *doc = json_loads(text, 0, NULL);
    cr_assert_not_null(doc);
    json_object_set_new(json_object_get(doc, "helpline"), "code", json_string("demo2"));
    free(text);
    text = it_dump(doc);
    cr_expect_eq(verify(d.tokens.network, text, &reply), 200);
    cr_expect(json_is_false(json_object_get(reply, "valid")), "signed by demo, not by demo2");
    json_decref(reply);
    free(text);
}

Test(helplines, who_may_verify_and_bad_input)
{
    char *text = fetch_report("demo2");
    json_t *reply = NULL;

    cr_expect_eq(verify(d.tokens.za_admin, text, &reply), 404,
                 "another helpline's admin does not read demo2");
    json_decref(reply);
    cr_expect_eq(verify(d.tokens.supervisor, text, &reply), 403, "supervisors fetch no reports");
    json_decref(reply);
    cr_expect_eq(verify(d.tokens.network, "{\"format\":", &reply), 400);
    cr_expect_str_eq(it_str(reply, "error/code"), "bad_json");
    json_decref(reply);
    cr_expect_eq(verify(d.tokens.network, "{\"helpline\":{}}", &reply), 400);
    cr_expect_str_eq(it_str(reply, "error/field"), "/helpline/code");
    json_decref(reply);
    cr_expect_eq(verify(d.tokens.network, "{\"helpline\":{\"code\":\"demo2\"}}", &reply), 200);
    cr_expect(json_is_false(json_object_get(reply, "valid")), "an unsigned stub is no report");
    json_decref(reply);
    free(text);
}
