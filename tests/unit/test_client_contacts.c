/* client: helpline contacts, flags to the GET /v1/contacts query and a page as a table. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "contacts_view.h"

/* Parses "contacts" ARGS (NULL-terminated) with a fresh context. The arguments live until the
 * next call (a.cursor points into them). */
static int parse(hl_cli_contacts_args_t *a, char *err, size_t errlen, const char *const *args)
{
    static char *argv[32];
    static int argc;
    hl_cli_ctx_t ctx = {.out = stdout, .err = stderr};

    for (int i = 0; i < argc; i++)
        free(argv[i]);
    argc = 0;
    argv[argc++] = strdup("contacts");
    for (size_t i = 0; args[i] != NULL; i++)
        argv[argc++] = strdup(args[i]);
    argv[argc] = NULL;
    err[0] = '\0';
    return hl_cli_contacts_args_parse(&ctx, argc, argv, a, err, errlen);
}

Test(client_contacts, flags_to_query)
{
    const char *args[] = {"--to",
                          "2026-11-30",
                          "--from",
                          "2026-11-01",
                          "--counsellor",
                          "me",
                          "--category",
                          "violence.bullying",
                          "--channel",
                          "chat",
                          "--type",
                          "referral",
                          "--urgency",
                          "critical",
                          "--case",
                          "none",
                          "--caller-of",
                          "0b5c0d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e",
                          "--limit",
                          "20",
                          "--url",
                          "http://x",
                          NULL};
    hl_cli_contacts_args_t a;
    char err[256], path[2048];

    cr_assert_eq(parse(&a, err, sizeof(err), args), HL_OK, "%s", err);
    cr_expect_str_eq(a.path,
                     "/v1/contacts?from=2026-11-01&to=2026-11-30&counsellor=me&category=violence.bullying"
                     "&channel=chat&contact_type=referral&urgency=critical&case=none"
                     "&caller_of=0b5c0d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e&limit=20");
    cr_expect(!a.all && !a.json && !a.help && a.cursor == NULL);
    cr_assert_eq(hl_cli_contacts_page_path(&a, "AQ-_x", path, sizeof(path)), HL_OK);
    cr_expect_str_eq(path,
                     "/v1/contacts?from=2026-11-01&to=2026-11-30&counsellor=me&category=violence.bullying"
                     "&channel=chat&contact_type=referral&urgency=critical&case=none"
                     "&caller_of=0b5c0d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e&limit=20&cursor=AQ-_x");
    cr_expect_eq(hl_cli_contacts_page_path(&a, "AQ", path, 40), HL_EINVAL, "too small");
}

Test(client_contacts, no_flags_all_json_cursor_and_escaping)
{
    const char *none[] = {NULL};
    const char *more[] = {"--all", "--json", "--counsellor", "a b&c", NULL};
    const char *cur[] = {"--cursor", "abc", NULL};
    hl_cli_contacts_args_t a;
    char err[256], path[256];

    cr_assert_eq(parse(&a, err, sizeof(err), none), HL_OK, "%s", err);
    cr_expect_str_eq(a.path, "/v1/contacts");
    cr_assert_eq(hl_cli_contacts_page_path(&a, NULL, path, sizeof(path)), HL_OK);
    cr_expect_str_eq(path, "/v1/contacts");
    cr_assert_eq(hl_cli_contacts_page_path(&a, "c", path, sizeof(path)), HL_OK);
    cr_expect_str_eq(path, "/v1/contacts?cursor=c");
    cr_assert_eq(parse(&a, err, sizeof(err), more), HL_OK, "%s", err);
    cr_expect(a.all && a.json);
    cr_expect_str_eq(a.path, "/v1/contacts?counsellor=a%20b%26c");
    cr_assert_eq(parse(&a, err, sizeof(err), cur), HL_OK, "%s", err);
    cr_expect_str_eq(a.cursor, "abc");
}

Test(client_contacts, usage_errors)
{
    static const struct {
        const char *args[6];
        const char *msg;
    } cases[] = {
        {{"--channel", "fax", NULL}, "--channel must be one of: phone sms chat"},
        {{"--type", "chat", NULL}, "--type must be one of: counselling"},
        {{"--urgency", "high", NULL}, "--urgency must be one of: non_critical urgent critical"},
        {{"--from", "2026-1-1", NULL}, "--from must be a date"},
        {{"--to", "tomorrow", NULL}, "--to must be a date"},
        {{"--from", "2026-11-02", "--to", "2026-11-01", NULL}, "--to must not be before --from"},
        {{"--case", "12", NULL}, "--case must be 'none' or a case id"},
        {{"--caller-of", "0b5c0d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0", NULL}, "--caller-of must be a contact id"},
        {{"--caller-of", "0b5c0d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0g", NULL}, "--caller-of"},
        {{"--limit", "0", NULL}, "--limit must be a whole number 1..200"},
        {{"--limit", "201", NULL}, "--limit"},
        {{"--limit", "-3", NULL}, "--limit"},
        {{"--limit", "5x", NULL}, "--limit"},
        {{"--counsellor", "", NULL}, "--counsellor needs a value"},
        {{"--category", "", NULL}, "--category needs a value"},
        {{"--cursor", "", NULL}, "--cursor needs a value"},
        {{"--limit", NULL}, "--limit needs a value"},
        {{"--bogus", NULL}, "unknown option --bogus"},
        {{"stray", NULL}, "unexpected argument 'stray'"},
    };
    char err[512];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hl_cli_contacts_args_t a;
        cr_expect_eq(parse(&a, err, sizeof(err), cases[i].args), HL_EINVAL, "case %zu", i);
        cr_expect(strstr(err, cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
    }
}

static char *render(const char *items_json, int *rc)
{
    json_t *items = json_loads(items_json, 0, NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    cr_assert_not_null(items);
    cr_assert_not_null(f);
    *rc = hl_cli_contacts_render(f, items);
    fclose(f);
    json_decref(items);
    return buf;
}

Test(client_contacts, table)
{
    int rc;
    char *out =
        render("[{\"id\":\"0b5c0d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e\",\"started_at\":\"2026-11-22T10:05:59.5Z\","
               "\"channel\":\"messaging_app\",\"contact_type\":\"counselling\",\"counsellor\":\"amina\","
               "\"categories\":[\"violence.bullying\",\"mental_health\"],\"urgency\":\"urgent\","
               "\"case_id\":\"c0000000-0000-4000-8000-000000000001\"},"
               "{\"id\":\"1b5c0d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e\",\"started_at\":\"2026-11-21T23:00:00Z\","
               "\"channel\":\"sms\",\"contact_type\":\"silent\",\"counsellor\":null,"
               "\"categories\":[],\"urgency\":null,\"case_id\":null}]",
               &rc);

    cr_assert_eq(rc, HL_OK);
    cr_expect_str_eq(
        out, "id                                    started           channel        type         "
             "counsellor  categories                       urgency  case\n"
             "0b5c0d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e  2026-11-22 10:05  messaging_app  counselling  "
             "amina       violence.bullying,mental_health  urgent   c0000000-0000-4000-8000-000000000001\n"
             "1b5c0d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e  2026-11-21 23:00  sms            silent       "
             "-           -                                -        -\n");
    free(out);
}

Test(client_contacts, empty_bad_and_control_characters)
{
    int rc;
    char *out = render("[]", &rc);

    cr_assert_eq(rc, HL_OK);
    cr_expect_str_eq(out,
                     "id  started  channel  type  counsellor  categories  urgency  case\n(no contacts)\n");
    free(out);
    out = render("{\"items\":[]}", &rc);
    cr_expect_eq(rc, HL_EINVAL);
    free(out);
    out = render("[1]", &rc);
    cr_expect_eq(rc, HL_EINVAL);
    free(out);
    /* A server's text cannot drive the terminal. */
    out = render("[{\"id\":\"x\\u001b[2J\",\"counsellor\":\"a\\nb\"}]", &rc);
    cr_assert_eq(rc, HL_OK);
    cr_expect(strchr(out, '\033') == NULL, "%s", out);
    cr_expect(strstr(out, "x?[2J") != NULL && strstr(out, "a?b") != NULL, "%s", out);
    free(out);
}
