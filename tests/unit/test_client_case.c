/* client: helpline case, arguments to requests and replies for people (case_args, case_view). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "case_args.h"
#include "case_view.h"
#include "cli.h"

#define CASE_ID  "c0000000-0000-4000-8000-000000000001"
#define OTHER_ID "0b5c0d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"
/* 2026-11-22T10:00:00Z */
#define NOW_US (1795341600LL * 1000000)

/* Parses "case" ARGS (NULL-terminated) with a fresh context; the arguments live until the next
 * call (the parsed struct points into them). */
static int parse(hl_cli_case_args_t *a, char *err, size_t errlen, const char *const *args)
{
    static char *argv[40];
    static int argc;
    hl_cli_ctx_t ctx = {.out = stdout, .err = stderr};

    for (int i = 0; i < argc; i++)
        free(argv[i]);
    argc = 0;
    argv[argc++] = strdup("case");
    for (size_t i = 0; args[i] != NULL; i++)
        argv[argc++] = strdup(args[i]);
    argv[argc] = NULL;
    return hl_cli_case_args_parse(&ctx, argc, argv, NOW_US, a, err, errlen);
}

static char *body_text(const hl_cli_case_args_t *a)
{
    return a->body != NULL ? json_dumps(a->body, JSON_COMPACT | JSON_SORT_KEYS) : strdup("-");
}

Test(client_case, arguments_to_requests)
{
    static const struct {
        const char *args[16];
        hl_cli_case_cmd_t cmd;
        const char *method, *path, *body;
    } cases[] = {
        {{"new", "--label", "Girl, 14", NULL},
         HL_CLI_CASE_NEW,
         "POST",
         "/v1/cases",
         "{\"label\":\"Girl, 14\"}"},
        {{"new", "--label", "L", "--summary", "", "--priority", "high", "--follow-up", "2026-11-30",
          "--assign", "none", "--contact", OTHER_ID, "--contact", CASE_ID, NULL},
         HL_CLI_CASE_NEW,
         "POST",
         "/v1/cases",
         "{\"assigned_to\":null,\"contacts\":[\"" OTHER_ID "\",\"" CASE_ID
         "\"],\"follow_up_at\":\"2026-11-30T00:"
         "00:00Z\",\"label\":\"L\",\"priority\":\"high\",\"summary\":\"\"}"},
        {{"new", "--label", "L", "--follow-up", "2026-11-30T14:00:00+03:00", "--assign", "chidi", "--json",
          NULL},
         HL_CLI_CASE_NEW,
         "POST",
         "/v1/cases",
         "{\"assigned_to\":\"chidi\",\"follow_up_at\":\"2026-11-30T14:00:00+03:00\",\"label\":\"L\"}"},
        {{"show", CASE_ID, NULL}, HL_CLI_CASE_SHOW, "GET", "/v1/cases/" CASE_ID, "-"},
        {{"list", NULL}, HL_CLI_CASE_LIST, "GET", "/v1/cases", "-"},
        {{"list", "--status", "open", "--mine", "--priority", "critical", "--follow-up-before", "2026-12-01",
          "--limit", "20", NULL},
         HL_CLI_CASE_LIST,
         "GET",
         "/v1/cases?status=open&priority=critical&assigned_to=me&follow_up_before=2026-12-01&limit=20",
         "-"},
        /* overdue: the follow-up day is before today (2026-11-22) */
        {{"list", "--overdue", "--assigned-to", "a b&c", NULL},
         HL_CLI_CASE_LIST,
         "GET",
         "/v1/cases?assigned_to=a%20b%26c&follow_up_before=2026-11-21",
         "-"},
        {{"update", CASE_ID, "--follow-up", "none", "--priority", "low", NULL},
         HL_CLI_CASE_UPDATE,
         "PATCH",
         "/v1/cases/" CASE_ID,
         "{\"follow_up_at\":null,\"priority\":\"low\"}"},
        {{"note", CASE_ID, "She", "is", "safe", "now.", NULL},
         HL_CLI_CASE_NOTE,
         "POST",
         "/v1/cases/" CASE_ID "/notes",
         "{\"text\":\"She is safe now.\"}"},
        {{"note", CASE_ID, "--", "-3", "degrees", NULL},
         HL_CLI_CASE_NOTE,
         "POST",
         "/v1/cases/" CASE_ID "/notes",
         "{\"text\":\"-3 degrees\"}"},
        {{"refer", CASE_ID, "--to", "child_protection", "--organisation", "County CPO", "--details",
          "Home visit", NULL},
         HL_CLI_CASE_REFER,
         "POST",
         "/v1/cases/" CASE_ID "/referrals",
         "{\"details\":\"Home visit\",\"organisation\":\"County CPO\",\"to\":\"referral.child_protection\"}"},
        {{"refer", CASE_ID, "--to", "referral.healthcare", "--state", "accepted", NULL},
         HL_CLI_CASE_REFER,
         "POST",
         "/v1/cases/" CASE_ID "/referrals",
         "{\"state\":\"accepted\",\"to\":\"referral.healthcare\"}"},
        {{"refer", CASE_ID, OTHER_ID, "--state", "completed", NULL},
         HL_CLI_CASE_REFER_STATE,
         "PATCH",
         "/v1/cases/" CASE_ID "/referrals/" OTHER_ID,
         "{\"state\":\"completed\"}"},
        {{"link", CASE_ID, OTHER_ID, NULL},
         HL_CLI_CASE_LINK,
         "PUT",
         "/v1/cases/" CASE_ID "/contacts/" OTHER_ID,
         "-"},
        {{"unlink", CASE_ID, OTHER_ID, "--json", NULL},
         HL_CLI_CASE_UNLINK,
         "DELETE",
         "/v1/cases/" CASE_ID "/contacts/" OTHER_ID,
         "-"},
        {{"assign", CASE_ID, "chidi", NULL},
         HL_CLI_CASE_ASSIGN,
         "PATCH",
         "/v1/cases/" CASE_ID,
         "{\"assigned_to\":\"chidi\"}"},
        {{"assign", CASE_ID, "none", NULL},
         HL_CLI_CASE_ASSIGN,
         "PATCH",
         "/v1/cases/" CASE_ID,
         "{\"assigned_to\":null}"},
        {{"status", CASE_ID, "in_progress", NULL},
         HL_CLI_CASE_STATUS,
         "PATCH",
         "/v1/cases/" CASE_ID,
         "{\"status\":\"in_progress\"}"},
    };
    char err[512];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hl_cli_case_args_t a;
        cr_assert_eq(parse(&a, err, sizeof(err), cases[i].args), HL_OK, "case %zu: %s", i, err);
        char *body = body_text(&a);
        cr_expect_eq(a.cmd, cases[i].cmd, "case %zu", i);
        cr_expect_str_eq(a.method, cases[i].method, "case %zu", i);
        cr_expect_str_eq(a.path, cases[i].path, "case %zu", i);
        cr_expect_str_eq(body, cases[i].body, "case %zu", i);
        cr_expect(!a.help, "case %zu", i);
        free(body);
        hl_cli_case_args_free(&a);
    }
}

Test(client_case, me_json_all_cursor_help)
{
    const char *assign_me[] = {"assign", CASE_ID, "me", NULL};
    const char *new_me[] = {"new", "--label", "L", "--assign", "me", NULL};
    const char *all[] = {"list", "--all", "--json", NULL};
    const char *cur[] = {"list", "--cursor", "AQ-_x", NULL};
    const char *help[] = {"note", "--help", NULL};
    const char *help2[] = {"--help", NULL};
    hl_cli_case_args_t a;
    char err[256], path[256];

    cr_assert_eq(parse(&a, err, sizeof(err), assign_me), HL_OK, "%s", err);
    cr_expect_str_eq(json_string_value(json_object_get(a.body, "assigned_to")), "me");
    hl_cli_case_args_free(&a);
    cr_assert_eq(parse(&a, err, sizeof(err), new_me), HL_OK, "%s", err);
    cr_expect_str_eq(json_string_value(json_object_get(a.body, "assigned_to")), "me");
    hl_cli_case_args_free(&a);
    cr_assert_eq(parse(&a, err, sizeof(err), all), HL_OK, "%s", err);
    cr_expect(a.all && a.json && a.cursor == NULL);
    cr_assert_eq(hl_cli_case_page_path(&a, "c", path, sizeof(path)), HL_OK);
    cr_expect_str_eq(path, "/v1/cases?cursor=c");
    hl_cli_case_args_free(&a);
    cr_assert_eq(parse(&a, err, sizeof(err), cur), HL_OK, "%s", err);
    cr_expect_str_eq(a.cursor, "AQ-_x");
    cr_expect_eq(hl_cli_case_page_path(&a, "AQ", path, 12), HL_EINVAL, "too small");
    hl_cli_case_args_free(&a);
    cr_assert_eq(parse(&a, err, sizeof(err), help), HL_OK, "%s", err);
    cr_expect(a.help && strstr(a.usage, "usage: helpline case note") != NULL);
    cr_assert_eq(parse(&a, err, sizeof(err), help2), HL_OK, "%s", err);
    cr_expect(a.help && a.usage == hl_cli_case_usage);
}

Test(client_case, usage_errors)
{
    static const struct {
        const char *args[10];
        const char *msg;
    } cases[] = {
        {{NULL}, "case: give a subcommand"},
        {{"open", NULL}, "case: unknown subcommand 'open'"},
        {{"new", NULL}, "case new: --label is required"},
        {{"new", "--label", "", NULL}, "--label needs a value"},
        {{"new", "--label", "L", "--priority", "urgent", NULL},
         "--priority must be one of: low normal high critical"},
        {{"new", "--label", "L", "--follow-up", "tomorrow", NULL}, "--follow-up must be a date"},
        {{"new", "--label", "L", "--follow-up", "2026-11-31x", NULL}, "--follow-up must be a date"},
        {{"new", "--label", "L", "--contact", "12", NULL}, "--contact must be a contact id"},
        {{"new", "--label", "L", "--summary", "a", "--summary-file", "f", NULL},
         "--summary or --summary-file"},
        {{"new", "--label", "L", "--status", "open", NULL}, "case new: --status is not an option of this"},
        {{"new", "--label", "L", "stray", NULL}, "case new: too many operands"},
        {{"new", "--label", "\xff", NULL}, "--label is not UTF-8"},
        {{"show", NULL}, "case show: missing operands"},
        {{"show", "12", NULL}, "case show: '12' is not a case id"},
        {{"show", CASE_ID, CASE_ID, NULL}, "too many operands"},
        {{"show", CASE_ID, "--bogus", NULL}, "unknown option --bogus"},
        {{"list", "--status", "pending", NULL}, "--status must be one of: open in_progress closed"},
        {{"list", "--mine", "--assigned-to", "x", NULL}, "--mine or --assigned-to, not both"},
        {{"list", "--overdue", "--follow-up-before", "2026-01-01", NULL}, "--overdue or --follow-up-before"},
        {{"list", "--follow-up-before", "1/1/2026", NULL}, "--follow-up-before must be a date"},
        {{"list", "--cursor", "c", "--all", NULL}, "--cursor or --all, not both"},
        {{"list", "--limit", "0", NULL}, "--limit must be a whole number 1..200"},
        {{"list", "--limit", "201", NULL}, "--limit"},
        {{"list", "--limit", NULL}, "--limit needs a value"},
        {{"list", "--cursor", "", NULL}, "--cursor needs a value"},
        {{"list", "--label", "x", NULL}, "--label is not an option"},
        {{"update", CASE_ID, NULL}, "nothing to change"},
        {{"update", CASE_ID, "--assign", "x", NULL}, "--assign is not an option"},
        {{"note", CASE_ID, NULL}, "give the note's text"},
        {{"note", CASE_ID, "--file", "f", "text", NULL}, "the note's TEXT or --file, not both"},
        {{"note", CASE_ID, "-x", NULL}, "unknown option -x"},
        {{"refer", CASE_ID, NULL}, "--to is required"},
        {{"refer", CASE_ID, "--to", "police", NULL}, "--to must be one of: child_protection healthcare"},
        {{"refer", CASE_ID, "--to", "referral.", NULL}, "--to must be one of"},
        {{"refer", CASE_ID, "--to", "healthcare", "--state", "done", NULL}, "--state must be one of: made"},
        {{"refer", CASE_ID, "--to", "healthcare", "--details", "d", "--details-file", "f", NULL},
         "--details or"},
        {{"refer", CASE_ID, "--to", "healthcare", "--organisation", "", NULL},
         "--organisation needs a value"},
        {{"refer", CASE_ID, OTHER_ID, NULL}, "--state is required with a REFERRAL_ID"},
        {{"refer", CASE_ID, OTHER_ID, "--state", "made", "--to", "healthcare", NULL}, "takes --state only"},
        {{"refer", CASE_ID, "R1", "--state", "made", NULL}, "'R1' is not a referral id"},
        {{"link", CASE_ID, NULL}, "case link: missing operands"},
        {{"link", CASE_ID, "contact", NULL}, "'contact' is not a contact id"},
        {{"unlink", "x", OTHER_ID, NULL}, "'x' is not a case id"},
        {{"assign", CASE_ID, "", NULL}, "give a user name, me or none"},
        {{"assign", CASE_ID, "\xc3", NULL}, "the user name is not UTF-8"},
        {{"status", CASE_ID, "reopened", NULL}, "the status must be one of: open in_progress closed"},
        {{"status", CASE_ID, NULL}, "missing operands"},
    };
    char err[512];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hl_cli_case_args_t a;
        cr_expect_eq(parse(&a, err, sizeof(err), cases[i].args), HL_EINVAL, "case %zu", i);
        cr_expect(strstr(err, cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
        cr_expect_null(a.body, "case %zu", i);
        cr_expect_not_null(a.usage, "case %zu", i);
    }
}

/* A bad argument is exit 2 before any server is asked (none is configured here). */
Test(client_case, command_exits_2_on_bad_arguments)
{
    char *err_text = NULL;
    size_t err_len = 0;
    FILE *err = open_memstream(&err_text, &err_len);
    hl_cli_ctx_t ctx = {.out = stdout, .err = err};
    char *argv[] = {"case", "status", CASE_ID, "finished", NULL};

    cr_assert_not_null(err);
    cr_expect_eq(hl_cli_cmd_case(&ctx, 4, argv), HL_CLI_EXIT_USAGE);
    fclose(err);
    cr_expect(strstr(err_text, "helpline: case status: the status must be one of") != NULL, "%s", err_text);
    cr_expect(strstr(err_text, "usage: helpline case status") != NULL, "%s", err_text);
    free(err_text);
}

Test(client_case, texts_from_files)
{
    char dir[] = "/tmp/hl-case-XXXXXX", path[64], missing[80];
    hl_cli_case_args_t a;
    char err[512];

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/note", dir);
    snprintf(missing, sizeof(missing), "%s/none", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("line one\nline two\n", f);
    fclose(f);

    const char *note[] = {"note", CASE_ID, "--file", path, NULL};
    cr_assert_eq(parse(&a, err, sizeof(err), note), HL_OK, "%s", err);
    cr_expect_str_eq(json_string_value(json_object_get(a.body, "text")), "line one\nline two\n");
    hl_cli_case_args_free(&a);
    const char *summary[] = {"new", "--label", "L", "--summary-file", path, NULL};
    cr_assert_eq(parse(&a, err, sizeof(err), summary), HL_OK, "%s", err);
    cr_expect_str_eq(json_string_value(json_object_get(a.body, "summary")), "line one\nline two\n");
    hl_cli_case_args_free(&a);
    const char *details[] = {"refer", CASE_ID, "--to", "school_counsellor", "--details-file", path, NULL};
    cr_assert_eq(parse(&a, err, sizeof(err), details), HL_OK, "%s", err);
    cr_expect_str_eq(json_string_value(json_object_get(a.body, "details")), "line one\nline two\n");
    hl_cli_case_args_free(&a);

    const char *bad[] = {"note", CASE_ID, "--file", missing, NULL};
    cr_expect_eq(parse(&a, err, sizeof(err), bad), HL_EIO);
    cr_expect(strstr(err, missing) != NULL && strstr(err, "No such file") != NULL, "%s", err);
    cr_expect_null(a.body);
    unlink(path);
    rmdir(dir);
}

/* ---- rendering ----------------------------------------------------------------------------- */

static char *render_case(const char *json, int width, int *rc)
{
    json_t *c = json_loads(json, 0, NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    cr_assert_not_null(c, "%s", json);
    cr_assert_not_null(f);
    *rc = hl_cli_case_render(f, c, NOW_US, width);
    fclose(f);
    json_decref(c);
    return buf;
}

#define CASE_HEAD                                                                                            \
    "\"id\":\"" CASE_ID "\",\"status\":\"in_progress\",\"priority\":\"high\","                               \
    "\"follow_up_at\":\"2026-11-21T00:00:00Z\",\"assigned_to\":\"amina\",\"created_by\":\"amina\","          \
    "\"created_at\":\"2026-11-20T08:30:12.5Z\",\"updated_at\":\"2026-11-21T09:00:00Z\",\"closed_at\":null,"  \
    "\"contacts_count\":1"

Test(client_case, timeline_of_a_writer)
{
    int rc;
    char *out = render_case(
        "{" CASE_HEAD ",\"label\":\"Girl, 14, bullied\",\"summary\":\"Bullied at school since September.\","
        "\"timeline\":["
        "{\"id\":\"e1\",\"kind\":\"status\",\"at\":\"2026-11-20T08:30:12.5Z\",\"by\":\"amina\",\"from\":null,"
        "\"to\":\"open\"},"
        "{\"id\":\"e2\",\"kind\":\"contact\",\"at\":\"2026-11-20T08:31:00Z\",\"by\":\"amina\",\"contact_id\":"
        "\"" OTHER_ID
        "\",\"channel\":\"chat\",\"contact_type\":\"counselling\",\"categories\":[\"violence.bullying\","
        "\"mental_health\"],\"unlinked\":false},"
        "{\"id\":\"e3\",\"kind\":\"note\",\"at\":\"2026-11-20T09:00:00Z\",\"by\":\"demo-admin\",\"text\":"
        "\"Spoke with the school counsellor who will meet her on Monday.\\nShe agreed.\"},"
        "{\"id\":\"e4\",\"kind\":\"referral\",\"at\":\"2026-11-20T10:00:00Z\",\"by\":\"amina\",\"referral_"
        "id\":"
        "\"r0000000-0000-4000-8000-000000000001\",\"to\":\"referral.child_protection\",\"state\":\"made\","
        "\"organisation\":\"County CPO\",\"details\":\"Home visit requested\"},"
        "{\"id\":\"e5\",\"kind\":\"referral\",\"at\":\"2026-11-21T10:00:00Z\",\"by\":\"amina\",\"referral_"
        "id\":"
        "\"r0000000-0000-4000-8000-000000000001\",\"to\":\"referral.child_protection\",\"state\":"
        "\"accepted\","
        "\"organisation\":\"County CPO\",\"details\":\"Home visit requested\"},"
        "{\"id\":\"e6\",\"kind\":\"status\",\"at\":\"2026-11-21T11:00:00Z\",\"by\":\"amina\",\"from\":"
        "\"open\","
        "\"to\":\"in_progress\"},"
        "{\"id\":\"e7\",\"kind\":\"contact\",\"at\":\"2026-11-21T12:00:00Z\",\"by\":\"amina\",\"contact_id\":"
        "\"" OTHER_ID
        "\",\"channel\":\"phone\",\"contact_type\":\"silent\",\"categories\":[],\"unlinked\":true}]}",
        50, &rc);

    cr_assert_eq(rc, HL_OK);
    cr_expect_str_eq(out, "case         " CASE_ID "\n"
                          "label        Girl, 14, bullied\n"
                          "status       in_progress\n"
                          "priority     high\n"
                          "follow-up    2026-11-21 00:00  ** overdue **\n"
                          "assigned to  amina\n"
                          "created      2026-11-20 08:30 by amina\n"
                          "updated      2026-11-21 09:00\n"
                          "contacts     1\n"
                          "summary\n"
                          "    Bullied at school since September.\n"
                          "\n"
                          "timeline (UTC)\n"
                          "2026-11-20 08:30  amina       status    opened (open)\n"
                          "2026-11-20 08:31  amina       contact   linked contact " OTHER_ID
                          " (chat, counselling, violence.bullying, mental_health)\n"
                          "2026-11-20 09:00  demo-admin  note\n"
                          "    Spoke with the school counsellor who will meet\n"
                          "    her on Monday.\n"
                          "    She agreed.\n"
                          "2026-11-20 10:00  amina       referral  to child_protection, County CPO: made\n"
                          "    referral r0000000-0000-4000-8000-000000000001\n"
                          "    Home visit requested\n"
                          "2026-11-21 10:00  amina       referral  to child_protection, County CPO: made -> "
                          "accepted\n"
                          "2026-11-21 11:00  amina       status    open -> in_progress\n"
                          "2026-11-21 12:00  amina       contact   unlinked contact " OTHER_ID
                          " (phone, silent)\n");
    free(out);
}

Test(client_case, timeline_of_a_supervisor_and_of_another_counsellor)
{
    int rc;
    /* a supervisor: no label, summary, note text, organisation or details */
    char *out =
        render_case("{" CASE_HEAD ",\"timeline\":["
                    "{\"id\":\"e3\",\"kind\":\"note\",\"at\":\"2026-11-20T09:00:00Z\",\"by\":\"amina\"},"
                    "{\"id\":\"e4\",\"kind\":\"referral\",\"at\":\"2026-11-20T10:00:00Z\",\"by\":\"amina\","
                    "\"referral_id\":"
                    "\"r1\",\"to\":\"referral.healthcare\",\"state\":\"made\"}]}",
                    80, &rc);

    cr_assert_eq(rc, HL_OK);
    cr_expect(strstr(out, "label        (not shown to you)\n") != NULL, "%s", out);
    cr_expect(strstr(out, "summary      (not shown to you)\n") != NULL, "%s", out);
    cr_expect(strstr(out, "note      (not shown to you)\n") != NULL, "%s", out);
    cr_expect(strstr(out, "referral  to healthcare: made\n    referral r1\n") != NULL, "%s", out);
    free(out);
    /* another counsellor: entries are id kind at by */
    out = render_case(
        "{" CASE_HEAD ",\"timeline\":["
        "{\"id\":\"e1\",\"kind\":\"status\",\"at\":\"2026-11-20T08:30:00Z\",\"by\":\"amina\"},"
        "{\"id\":\"e2\",\"kind\":\"contact\",\"at\":\"2026-11-20T08:31:00Z\",\"by\":null},"
        "{\"id\":\"e4\",\"kind\":\"referral\",\"at\":\"2026-11-20T10:00:00Z\",\"by\":\"amina\"}]}",
        80, &rc);
    cr_assert_eq(rc, HL_OK);
    cr_expect(strstr(out, "2026-11-20 08:30  amina  status    (not shown to you)\n"
                          "2026-11-20 08:31  -      contact   (not shown to you)\n"
                          "2026-11-20 10:00  amina  referral  (not shown to you)\n") != NULL,
              "%s", out);
    free(out);
}

Test(client_case, wrapping_control_characters_and_bad_replies)
{
    int rc;
    /* a word longer than the line is cut; UTF-8 counts by characters; escapes print as '?';
     * a tab is a space; an empty line stays */
    char *out = render_case(
        "{" CASE_HEAD ",\"label\":\"x\\u001b[2J\",\"summary\":\"\",\"timeline\":["
        "{\"id\":\"e3\",\"kind\":\"note\",\"at\":\"2026-11-20T09:00:00Z\",\"by\":\"a\\u001bb\",\"text\":"
        "\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
        "\\u00e9"
        "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\"
        "u00e9"
        "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9 end\\tof\\n\\nbell\\u0007\"}]}",
        10, &rc);

    cr_assert_eq(rc, HL_OK);
    cr_expect(strchr(out, '\033') == NULL && strchr(out, '\a') == NULL && strchr(out, '\t') == NULL, "%s",
              out);
    cr_expect(strstr(out, "label        x?[2J\n") != NULL, "%s", out);
    cr_expect(strstr(out, "summary      -\n") != NULL, "%s", out);
    cr_expect(strstr(out, "  a?b  note") != NULL, "%s", out);
    /* width 10 is taken as 40: 36 characters a line after the indent */
    cr_expect(
        strstr(out,
               "\n    \u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
               "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
               "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\n    \u00e9\u00e9 end of\n\n    bell?\n") != NULL,
        "%s", out);
    free(out);

    out = render_case("{\"id\":\"x\"}", 80, &rc);
    cr_expect_eq(rc, HL_EINVAL, "no timeline");
    free(out);
    out = render_case("[1]", 80, &rc);
    cr_expect_eq(rc, HL_EINVAL);
    free(out);
    out = render_case("{\"id\":\"x\",\"timeline\":[1]}", 80, &rc);
    cr_expect_eq(rc, HL_EINVAL);
    free(out);
}

Test(client_case, due_marks)
{
    static const struct {
        const char *at, *status, *due;
    } cases[] = {
        {"2026-11-21T23:59:59Z", "open", "overdue"},
        {"2026-11-22T00:00:00Z", "open", "due today"},
        {"2026-11-22T23:59:59Z", "in_progress", "due today"},
        {"2026-11-23T00:00:00Z", "open", NULL},
        {"2026-11-23T01:00:00+03:00", "open", "due today"}, /* 22:00 UTC the day before */
        {"2026-01-01T00:00:00Z", "closed", NULL},
        {"2026-01-01", "open", NULL}, /* not a time */
        {NULL, "open", NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *due = hl_cli_case_due(cases[i].at, cases[i].status, NOW_US);
        if (cases[i].due == NULL)
            cr_expect_null(due, "case %zu: %s", i, due);
        else
            cr_expect(due != NULL && strcmp(due, cases[i].due) == 0, "case %zu: %s", i, due ? due : "NULL");
    }
}

static char *render_list(const char *json, int *rc)
{
    json_t *items = json_loads(json, 0, NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    cr_assert_not_null(items);
    *rc = hl_cli_case_list_render(f, items, NOW_US);
    fclose(f);
    json_decref(items);
    return buf;
}

Test(client_case, list_table)
{
    int rc;
    char *out =
        render_list("[{" CASE_HEAD "},"
                    "{\"id\":\"" OTHER_ID "\",\"status\":\"closed\",\"priority\":\"low\","
                    "\"follow_up_at\":\"2026-11-01T00:00:00Z\",\"assigned_to\":null,\"created_by\":"
                    "\"demo-supervisor\",\"created_at\":\"2026-11-01T07:00:00Z\",\"contacts_count\":12}]",
                    &rc);

    cr_assert_eq(rc, HL_OK);
    cr_expect_str_eq(out, "id                                    status       priority  follow-up           "
                          "assigned to  created by       created           contacts\n" CASE_ID
                          "  in_progress  high      2026-11-21 overdue  amina        amina            "
                          "2026-11-20 08:30  1\n" OTHER_ID
                          "  closed       low       2026-11-01          -            demo-supervisor  "
                          "2026-11-01 07:00  12\n");
    free(out);
    out = render_list("[]", &rc);
    cr_assert_eq(rc, HL_OK);
    cr_expect(strstr(out, "(no cases)") != NULL, "%s", out);
    free(out);
    out = render_list("[\"x\"]", &rc);
    cr_expect_eq(rc, HL_EINVAL);
    free(out);
    out = render_list("[{\"id\":\"x\\u001b[2J\"}]", &rc);
    cr_assert_eq(rc, HL_OK);
    cr_expect(strchr(out, '\033') == NULL, "%s", out);
    free(out);
}

Test(client_case, write_results)
{
    static const struct {
        hl_cli_case_cmd_t cmd;
        long status;
        const char *reply, *line;
    } cases[] = {
        {HL_CLI_CASE_NEW, 201, "{" CASE_HEAD "}",
         "case opened: " CASE_ID
         ": in_progress, priority high, assigned to amina, follow-up 2026-11-21 00:00\n"},
        {HL_CLI_CASE_ASSIGN, 200,
         "{\"id\":\"" CASE_ID "\",\"status\":\"open\",\"priority\":\"normal\",\"assigned_to\":null,"
         "\"follow_up_at\":null}",
         "case " CASE_ID ": open, priority normal, assigned to nobody, follow-up -\n"},
        {HL_CLI_CASE_NOTE, 201, "{\"id\":\"e\",\"case_id\":\"" CASE_ID "\",\"kind\":\"note\"}",
         "note added to case " CASE_ID "\n"},
        {HL_CLI_CASE_REFER, 201, "{\"id\":\"r1\",\"to\":\"referral.healthcare\",\"state\":\"made\"}",
         "referral r1 to healthcare: made\n"},
        {HL_CLI_CASE_REFER_STATE, 200, "{\"id\":\"r1\",\"state\":\"declined\",\"previous_state\":\"made\"}",
         "referral r1: made -> declined\n"},
        {HL_CLI_CASE_LINK, 201, "{\"case_id\":\"C\",\"contact_id\":\"K\",\"status\":\"linked\"}",
         "contact K linked to case C\n"},
        {HL_CLI_CASE_LINK, 200, "{\"case_id\":\"C\",\"contact_id\":\"K\",\"status\":\"linked\"}",
         "contact K was linked to case C already: nothing changed\n"},
        {HL_CLI_CASE_UNLINK, 200, "{\"case_id\":\"C\",\"contact_id\":\"K\",\"status\":\"unlinked\"}",
         "contact K unlinked from case C\n"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *reply = json_loads(cases[i].reply, 0, NULL);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        cr_assert_not_null(reply, "case %zu", i);
        hl_cli_case_print_result(f, cases[i].cmd, reply, cases[i].status);
        fclose(f);
        cr_expect_str_eq(buf, cases[i].line, "case %zu", i);
        free(buf);
        json_decref(reply);
    }
}
