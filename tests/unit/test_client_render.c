/*
 * client: the stats table (bars, <k, totals), exit-status mapping and error messages,
 * record flags to a POST/PATCH body, the public keys file, and the taxonomy search.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cli.h"
#include "record_args.h"
#include "report_keys.h"
#include "stats_view.h"
#include "taxonomy_view.h"

/* Runs FN into a memory stream and returns the text (malloc'd). */
static char *capture_stats(json_t *stats, bool bars, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    cr_assert_not_null(f);
    *rc = hl_cli_stats_render(f, stats, bars);
    fclose(f);
    return buf;
}

/* ---- stats table ------------------------------------------------------------------------------ */

Test(client_stats, bar_eighths)
{
    char bar[3 * HL_CLI_BAR_WIDTH + 1];

    hl_cli_stats_bar(10, 10, 4, bar, sizeof(bar));
    cr_expect_str_eq(bar, "\u2588\u2588\u2588\u2588");
    hl_cli_stats_bar(5, 10, 4, bar, sizeof(bar));
    cr_expect_str_eq(bar, "\u2588\u2588");
    hl_cli_stats_bar(1, 10, 4, bar, sizeof(bar)); /* 3.2 eighths -> 3 */
    cr_expect_str_eq(bar, "\u258d");
    hl_cli_stats_bar(1, 1000, 4, bar, sizeof(bar)); /* never invisible */
    cr_expect_str_eq(bar, "\u258f");
    hl_cli_stats_bar(0, 10, 4, bar, sizeof(bar));
    cr_expect_str_eq(bar, "");
    hl_cli_stats_bar(9, 10, 4, bar, sizeof(bar)); /* 28.8 -> 29 = 3 full + 5/8 */
    cr_expect_str_eq(bar, "\u2588\u2588\u2588\u258b");
}

Test(client_stats, table_with_bars_suppressed_and_totals)
{
    json_t *s = json_loads(
        "{\"from\":\"2026-07-01\",\"to\":\"2026-09-30\",\"by\":[\"category\",\"gender\"],\"k\":5,"
        "\"total_contacts\":{\"count\":57},\"cells\":["
        "{\"category\":\"violence\",\"gender\":\"girl\",\"count\":40},"
        "{\"category\":\"violence\",\"gender\":\"boy\",\"count\":12},"
        "{\"category\":\"mental_health\",\"gender\":\"non_binary\",\"count\":null,\"suppressed\":true}]}",
        0, NULL);
    int rc;
    char *out = capture_stats(s, true, &rc);

    cr_assert_eq(rc, 0);
    cr_expect(strstr(out, "category       gender      count\n") != NULL, "%s", out);
    /* 40 is the largest: a full bar; 12 of 40 in 32 cells = 76.8 eighths -> 9 full + 5/8 */
    char full[3 * HL_CLI_BAR_WIDTH + 1] = "", twelve[64] = "";
    for (int i = 0; i < HL_CLI_BAR_WIDTH; i++)
        strcat(full, "\u2588");
    for (int i = 0; i < 9; i++)
        strcat(twelve, "\u2588");
    strcat(twelve, "\u258b");
    char line[512];
    snprintf(line, sizeof(line), "violence       girl           40  %s\n", full);
    cr_expect(strstr(out, line) != NULL, "%s", out);
    snprintf(line, sizeof(line), "violence       boy            12  %s\n", twelve);
    cr_expect(strstr(out, line) != NULL, "%s", out);
    cr_expect(strstr(out, "mental_health  non_binary     <5\n") != NULL, "suppressed without a bar: %s", out);
    cr_expect(strstr(out, "total                         57\n") != NULL, "%s", out);
    cr_expect(strstr(out, "<5: fewer than 5") != NULL, "%s", out);
    free(out);

    out = capture_stats(s, false, &rc);
    cr_expect(strstr(out, "\u2588") == NULL, "no bars: %s", out);
    free(out);
    json_decref(s);
}

Test(client_stats, withheld_total_and_empty)
{
    json_t *s = json_loads("{\"from\":\"2026-07-01\",\"to\":\"2026-09-30\",\"by\":[\"channel\"],\"k\":10,"
                           "\"total_contacts\":{\"count\":null,\"suppressed\":true},\"cells\":[]}",
                           0, NULL);
    int rc;
    char *out = capture_stats(s, true, &rc);

    cr_assert_eq(rc, 0);
    cr_expect(strstr(out, "(no contacts)") != NULL, "%s", out);
    cr_expect(strstr(out, "withheld") != NULL, "%s", out);
    free(out);
    json_decref(s);
    s = json_loads("{\"by\":\"category\",\"cells\":[]}", 0, NULL);
    free(capture_stats(s, true, &rc));
    cr_expect_eq(rc, HL_EINVAL);
    json_decref(s);
}

/* Referral and case status tables (issue 16): their total is total_referrals or
 * total_status_changes, and the notes name what was counted. */
Test(client_stats, referral_and_case_status_tables)
{
    json_t *s = json_loads(
        "{\"from\":\"2026-10-01\",\"to\":\"2026-12-31\",\"by\":[\"referral_to\",\"referral_state\"],\"k\":5,"
        "\"total_referrals\":{\"count\":19},\"cells\":["
        "{\"referral_to\":\"referral.law_enforcement\",\"referral_state\":\"made\",\"count\":12},"
        "{\"referral_to\":\"referral.healthcare\",\"referral_state\":\"made\",\"count\":null,\"suppressed\":"
        "true}]}",
        0, NULL);
    int rc;
    char *out = capture_stats(s, false, &rc);

    cr_assert_eq(rc, 0);
    cr_expect(strstr(out, "referral.law_enforcement  made               12\n") != NULL, "%s", out);
    cr_expect(strstr(out, "total                                        19\n") != NULL, "%s", out);
    cr_expect(strstr(out, "<5: fewer than 5 referrals") != NULL, "%s", out);
    free(out);
    json_decref(s);
    s = json_loads("{\"from\":\"2026-10-01\",\"to\":\"2026-12-31\",\"by\":[\"case_status\"],\"k\":5,"
                   "\"total_status_changes\":{\"count\":0},\"cells\":[]}",
                   0, NULL);
    out = capture_stats(s, false, &rc);
    cr_assert_eq(rc, 0);
    cr_expect(strstr(out, "(no case status changes)") != NULL, "%s", out);
    cr_expect(strstr(out, "total            0\n") != NULL, "%s", out);
    free(out);
    json_decref(s);
}

/* ---- exit statuses and messages ------------------------------------------------------------------ */

Test(client_api, exit_status_mapping)
{
    cr_expect_eq(hl_cli_exit_status(HL_EIO, 0), 3);
    cr_expect_eq(hl_cli_exit_status(HL_ENOMEM, 0), 1);
    cr_expect_eq(hl_cli_exit_status(0, 200), 0);
    cr_expect_eq(hl_cli_exit_status(0, 201), 0);
    cr_expect_eq(hl_cli_exit_status(0, 202), 0);
    cr_expect_eq(hl_cli_exit_status(0, 400), 1);
    cr_expect_eq(hl_cli_exit_status(0, 401), 1);
    cr_expect_eq(hl_cli_exit_status(0, 404), 1);
    cr_expect_eq(hl_cli_exit_status(0, 503), 1);
}

Test(client_api, error_messages)
{
    char m[512];
    const char *b1 =
        "{\"error\":{\"code\":\"invalid_field\",\"message\":\"child.age must be an integer 0..25\","
        "\"field\":\"/child/age\"}}";
    const char *b2 =
        "{\"error\":{\"code\":\"unauthenticated\",\"message\":\"unknown, revoked or malformed token\"}}";

    hl_cli_error_message(400, b1, strlen(b1), m, sizeof(m));
    cr_expect_str_eq(m, "child.age must be an integer 0..25 (/child/age)");
    hl_cli_error_message(401, b2, strlen(b2), m, sizeof(m));
    cr_expect(strncmp(m, "unknown, revoked or malformed token", 35) == 0, "%s", m);
    cr_expect(strstr(m, "HELPLINE_TOKEN") != NULL, "%s", m);
    hl_cli_error_message(502, "<html>", 6, m, sizeof(m));
    cr_expect_str_eq(m, "the server answered HTTP 502");
    hl_cli_error_message(500, NULL, 0, m, sizeof(m));
    cr_expect_str_eq(m, "the server answered HTTP 500");
}

/* ---- record flags ------------------------------------------------------------------------------ */

static int parse(bool patch, hl_cli_record_args_t *a, char *err, size_t errlen, const char *const *args)
{
    char *argv[40];
    int argc = 0, rc;
    hl_cli_ctx_t ctx = {.out = stdout, .err = stderr};

    argv[argc++] = strdup(patch ? "update" : "log");
    for (; args[argc - 1] != NULL; argc++)
        argv[argc] = strdup(args[argc - 1]);
    argv[argc] = NULL;
    /* now: 2026-11-22T10:00:00Z */
    rc = hl_cli_record_args_parse(&ctx, argc, argv, patch, 1795341600LL * 1000000, a, err, errlen);
    if (rc == 0 && a->id != NULL) {
        static char id[64];
        snprintf(id, sizeof(id), "%s", a->id);
        a->id = id;
    }
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    return rc;
}

Test(client_args, flags_to_body)
{
    const char *args[] = {"--channel",
                          "chat",
                          "--type",
                          "counselling",
                          "--age",
                          "14",
                          "--gender",
                          "girl",
                          "--region",
                          "rural",
                          "--relationship",
                          "self",
                          "--category",
                          "violence.bullying",
                          "--category",
                          "mental_health",
                          "--local-category",
                          "Sextortion",
                          "--action",
                          "referral.law_enforcement",
                          "--urgency",
                          "urgent",
                          "--started-at",
                          "2026-11-22T09:00:00+01:00",
                          "--duration",
                          "12",
                          NULL};
    hl_cli_record_args_t a;
    char err[256];

    cr_assert_eq(parse(false, &a, err, sizeof(err), args), 0, "%s", err);
    cr_assert_eq(hl_cli_record_complete(a.body, 0, err, sizeof(err)), 0, "%s", err);
    json_t *want =
        json_loads("{\"channel\":\"chat\",\"contact_type\":\"counselling\",\"child\":{\"age\":14,"
                   "\"gender\":\"girl\",\"region\":\"rural\"},\"caller\":{\"relationship\":\"self\"},"
                   "\"categories\":[\"violence.bullying\",\"mental_health\"],\"local_categories\":"
                   "[\"Sextortion\"],\"actions\":[\"referral.law_enforcement\"],\"urgency\":\"urgent\","
                   "\"started_at\":\"2026-11-22T08:00:00Z\",\"ended_at\":\"2026-11-22T08:12:00Z\"}",
                   0, NULL);
    json_t *source = json_object_get(a.body, "source");
    cr_expect_str_eq(json_string_value(json_object_get(source, "system")), "helpline-cli");
    cr_expect_gt(strlen(json_string_value(json_object_get(source, "id"))), 20);
    json_object_del(a.body, "source");
    char *got = json_dumps(a.body, JSON_SORT_KEYS), *exp = json_dumps(want, JSON_SORT_KEYS);
    cr_expect_str_eq(got, exp);
    free(got);
    free(exp);
    json_decref(want);
    hl_cli_record_args_free(&a);
}

Test(client_args, defaults_and_required)
{
    const char *args[] = {"--type", "silent", NULL};
    const char *args2[] = {"--channel", "phone", "--type", "silent", NULL};
    hl_cli_record_args_t a;
    char err[256];

    cr_assert_eq(parse(false, &a, err, sizeof(err), args), 0, "%s", err);
    cr_expect_eq(hl_cli_record_complete(a.body, 0, err, sizeof(err)), HL_EINVAL);
    cr_expect(strstr(err, "--channel") != NULL, "%s", err);
    hl_cli_record_args_free(&a);
    cr_assert_eq(parse(false, &a, err, sizeof(err), args2), 0, "%s", err);
    cr_assert_eq(hl_cli_record_complete(a.body, 1795341600LL * 1000000, err, sizeof(err)), 0, "%s", err);
    cr_expect_str_eq(json_string_value(json_object_get(a.body, "started_at")), "2026-11-22T10:00:00Z");
    hl_cli_record_args_free(&a);
}

Test(client_args, usage_errors)
{
    static const struct {
        const char *args[6];
        const char *msg;
    } cases[] = {
        {{"--channel", "fax", NULL}, "--channel must be one of: phone sms"},
        {{"--gender", "female", NULL}, "girl boy non_binary unknown"},
        {{"--age", "26", NULL}, "--age must be 0..25"},
        {{"--age", "x", NULL}, "--age"},
        {{"--action", "call_police", NULL}, "--action must be one of"},
        {{"--started-at", "yesterday", NULL}, "RFC 3339"},
        {{"--bogus", NULL}, "unknown option --bogus"},
        {{"--channel", NULL}, "needs a value"},
        {{"--json", "x.json", "--channel", "phone", NULL}, "cannot be mixed"},
        {{"--confirm-suggested", NULL}, "helpline update"},
        {{"--summary-file", "/nonexistent/file", NULL}, "cannot read"},
        {{"stray", NULL}, "unexpected argument"},
        {{"--started-at", "2026-11-22T10:00:00Z", "--ended-at", "2026-11-22T09:00:00Z", NULL}, "before"},
    };
    char err[512];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hl_cli_record_args_t a;
        int rc = parse(false, &a, err, sizeof(err), cases[i].args);
        cr_expect(rc == HL_EINVAL || rc == HL_EIO, "case %zu: rc %d", i, rc);
        cr_expect(strstr(err, cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
    }
}

Test(client_args, patch_body)
{
    const char *args[] = {"abc-id", "--urgency", "critical", "--age", "unknown", "--confirm-suggested", NULL};
    const char *bad[] = {"abc-id", "--channel", "phone", NULL};
    const char *none[] = {"abc-id", NULL};
    hl_cli_record_args_t a;
    char err[256];

    cr_assert_eq(parse(true, &a, err, sizeof(err), args), 0, "%s", err);
    cr_expect_str_eq(a.id, "abc-id");
    char *got = json_dumps(a.body, JSON_SORT_KEYS);
    cr_expect_str_eq(got,
                     "{\"child\": {\"age\": null}, \"confirm_suggested\": true, \"urgency\": \"critical\"}");
    free(got);
    hl_cli_record_args_free(&a);
    cr_expect_eq(parse(true, &a, err, sizeof(err), bad), HL_EINVAL);
    cr_expect(strstr(err, "cannot be changed") != NULL, "%s", err);
    cr_expect_eq(parse(true, &a, err, sizeof(err), none), HL_EINVAL);
    cr_expect(strstr(err, "nothing to change") != NULL, "%s", err);
}

/* ---- keys file ------------------------------------------------------------------------------ */

Test(client_keys, lookup_both_formats)
{
    const char *text = "# network keys\n"
                       "demo ed25519 5640896bcf1cc76a kkExQzGTHzCe0u/W3VqY7QJ6EWNOvMctjFDakceLnQw=\n"
                       "\n"
                       "za AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";
    uint8_t pk[HL_CRYPTO_SIGN_PK_BYTES];
    char err[128];

    cr_assert_eq(hl_cli_keys_lookup(text, "za", pk, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(pk[0], 0);
    cr_expect_eq(pk[31], 31);
    cr_assert_eq(hl_cli_keys_lookup(text, "demo", pk, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(pk[0], 0x92);
    cr_expect_eq(hl_cli_keys_lookup(text, "ph", pk, err, sizeof(err)), HL_ENOTFOUND);
    cr_expect_eq(hl_cli_keys_lookup("za not-base64\n", "za", pk, err, sizeof(err)), HL_EINVAL);
    cr_expect_eq(hl_cli_keys_lookup("za a b\n", "za", pk, err, sizeof(err)), HL_EINVAL);
    cr_expect(strstr(err, "line 1") != NULL, "%s", err);
}

/* ---- taxonomy search ---------------------------------------------------------------------------- */

Test(client_taxonomy, search_shows_preferred_term)
{
    json_t *tax = json_loads(
        "{\"version\":\"t\",\"categories\":[{\"code\":\"violence\",\"label\":\"Violence\",\"children\":["
        "{\"code\":\"violence.commercial_sexual_exploitation\",\"label\":\"Commercial sexual "
        "exploitation\"}]}],"
        "\"terms\":[{\"id\":\"child_prostitute\",\"label\":\"child prostitute\",\"verdict\":\"avoid\","
        "\"preferred\":\"child exploited in prostitution\",\"aliases\":{\"en\":[\"underage prostitute\"]}},"
        "{\"id\":\"child\",\"label\":\"child\",\"verdict\":\"use\",\"preferred\":null,\"aliases\":{}}]}",
        0, NULL);
    const char *words[] = {"CHILD", "prostitute"};
    const char *words2[] = {"exploitation"};
    const char *words3[] = {"zebra"};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    cr_assert_not_null(tax);
    cr_expect_eq(hl_cli_taxonomy_search(f, tax, words, 2), 1);
    fflush(f);
    cr_expect(strstr(buf, "child prostitute") != NULL, "%s", buf);
    cr_expect(strstr(buf, "avoid: use 'child exploited in prostitution' instead") != NULL, "%s", buf);
    cr_expect_eq(hl_cli_taxonomy_search(f, tax, words2, 1), 1); /* the subcategory's code */
    cr_expect_eq(hl_cli_taxonomy_search(f, tax, words3, 1), 0);
    fclose(f);
    free(buf);
    json_decref(tax);
}
