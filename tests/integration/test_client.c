/*
 * The helpline client (api.md "helpline (the client)"): the real binary against a real
 * daemon. log from JSON, from flags and through the interactive form on a pseudo-terminal;
 * show, update, classify, taxonomy search; stats against /v1/stats (table, CSV, JSON);
 * report fetch, verify (and an altered file), merge of two helplines; exit statuses for
 * an unreachable server, a bad token and a bad flag; --help everywhere.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "util.h"

#define HELPLINE  HL_TEST_BUILDDIR "/helpline"
#define HELPLINED HL_TEST_BUILDDIR "/helplined"

static hl_testd_t d;

static void start(void)
{
    hl_testd_start(&d, NULL);
}

static void stop(void)
{
    hl_testd_stop(&d);
}

TestSuite(client, .init = start, .fini = stop, .timeout = 120);

typedef struct {
    int status; /* exit status, or -1 */
    char *out, *err;
    double seconds;
} run_t;

static void run_free(run_t *r)
{
    free(r->out);
    free(r->err);
}

/*
 * Runs helpline (or PROG when not NULL) with ARGV (NULL-terminated, without argv[0]),
 * HELPLINE_URL = URL and HELPLINE_TOKEN = TOKEN (NULL: unset), standard input from INPUT
 * (NULL: /dev/null).
 */
static run_t run_prog(const char *prog, const char *url, const char *token, const char *input,
                      const char *const *args)
{
    char out_path[HL_TESTD_PATH_LEN + 16], err_path[HL_TESTD_PATH_LEN + 16], in_path[HL_TESTD_PATH_LEN + 16];
    char *argv[64];
    size_t n = 0;
    run_t r = {.status = -1};
    double t0 = hl_testd_now();

    snprintf(out_path, sizeof(out_path), "%s/cli.out", d.dir);
    snprintf(err_path, sizeof(err_path), "%s/cli.err", d.dir);
    snprintf(in_path, sizeof(in_path), "%s/cli.in", d.dir);
    if (input != NULL) {
        FILE *f = fopen(in_path, "w");
        cr_assert_not_null(f);
        fputs(input, f);
        fclose(f);
    }
    argv[n++] = strdup(prog != NULL ? prog : HELPLINE);
    for (size_t i = 0; args[i] != NULL && n < 63; i++)
        argv[n++] = strdup(args[i]);
    argv[n] = NULL;
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int in = open(input != NULL ? in_path : "/dev/null", O_RDONLY);
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || o < 0 || e < 0)
            _exit(127);
        dup2(in, 0);
        dup2(o, 1);
        dup2(e, 2);
        unsetenv("HELPLINE_CONFIG");
        setenv("HOME", d.dir, 1); /* no config file of the machine's user */
        if (url != NULL)
            setenv("HELPLINE_URL", url, 1);
        else
            unsetenv("HELPLINE_URL");
        if (token != NULL)
            setenv("HELPLINE_TOKEN", token, 1);
        else
            unsetenv("HELPLINE_TOKEN");
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    for (size_t i = 0; i < n; i++)
        free(argv[i]);
    r.seconds = hl_testd_now() - t0;
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = hl_testd_read_file(out_path, NULL);
    r.err = hl_testd_read_file(err_path, NULL);
    cr_assert(r.out != NULL && r.err != NULL);
    return r;
}

static run_t run_cli(const char *token, const char *input, const char *const *args)
{
    return run_prog(NULL, d.url, token, input, args);
}

/* The id after "stored: " in OUT into ID. */
static void stored_id(const run_t *r, char id[64])
{
    const char *p = strstr(r->out, "stored: ");

    cr_assert_not_null(p, "no id in: %s\nstderr: %s", r->out, r->err);
    cr_assert_eq(sscanf(p + 8, "%63s", id), 1);
    cr_assert_eq(strlen(id), 36, "%s", id);
}

static json_t *get_contact(const char *token, const char *id)
{
    char path[128];
    long status;
    json_t *j;

    snprintf(path, sizeof(path), "/v1/contacts/%s", id);
    j = hl_testd_request(&d, "GET", path, token, NULL, NULL, &status, NULL);
    cr_assert_eq(status, 200);
    return j;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(chmod(path, mode), 0);
}

/* ---- log ------------------------------------------------------------------------------------- */

Test(client, log_from_json_file_and_stdin)
{
    char path[HL_TESTD_PATH_LEN + 16], id[64];
    json_t *c = it_contact("cli-json-1");

    it_mutate(c, "/local_categories", "[\"Sextortion\"]");
    it_mutate(c, "/summary", "\"she talked about child pornography\"");
    it_mutate(c, "/caller/phone", "\"+254700000123\"");
    char *text = it_dump(c);
    snprintf(path, sizeof(path), "%s/contact.json", d.dir);
    write_file(path, text, 0600);

    const char *args[] = {"log", "--json", path, NULL};
    run_t r = run_cli(d.tokens.counsellor, NULL, args);
    cr_assert_eq(r.status, 0, "stdout: %s\nstderr: %s", r.out, r.err);
    stored_id(&r, id);
    cr_expect(
        strstr(r.out, "you wrote 'child pornography': the preferred term is 'child sexual abuse material'") !=
            NULL,
        "%s", r.out);
    cr_expect(strstr(r.out, "violence.online_sexual_abuse_exploitation") != NULL &&
                  strstr(r.out, "[mapped]") != NULL,
              "%s", r.out);
    cr_expect(strstr(r.out, "violence.bullying") != NULL && strstr(r.out, "[given]") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "repeat caller: first contact") != NULL, "%s", r.out);
    run_free(&r);

    /* the same record again from stdin: the same id */
    c = it_contact("cli-json-1");
    it_mutate(c, "/local_categories", "[\"Sextortion\"]");
    it_mutate(c, "/summary", "\"she talked about child pornography\"");
    it_mutate(c, "/caller/phone", "\"+254700000123\"");
    char *again = it_dump(c);
    const char *args2[] = {"log", "--json", "-", NULL};
    r = run_cli(d.tokens.counsellor, again, args2);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, id) != NULL && strstr(r.out, "already stored") != NULL, "%s", r.out);
    run_free(&r);

    /* a new contact from the same phone number: a repeat caller */
    c = it_contact("cli-json-2");
    it_mutate(c, "/caller/phone", "\"+254 700 000 123\"");
    char *third = it_dump(c);
    r = run_cli(d.tokens.counsellor, third, args2);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "repeat caller: 1 previous contact") != NULL, "%s", r.out);
    run_free(&r);

    /* show prints the stored record, summary included, to its counsellor */
    const char *show[] = {"show", id, NULL};
    r = run_cli(d.tokens.counsellor, NULL, show);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "she talked about child pornography") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "Sextortion") != NULL, "%s", r.out);
    run_free(&r);
    /* the supervisor sees no sensitive fields */
    r = run_cli(d.tokens.supervisor, NULL, show);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "child pornography") == NULL && strstr(r.out, "+254") == NULL, "%s", r.out);
    run_free(&r);
    free(text);
    free(again);
    free(third);
}

Test(client, log_from_flags_then_update)
{
    char path[HL_TESTD_PATH_LEN + 16], id[64];

    snprintf(path, sizeof(path), "%s/summary.txt", d.dir);
    write_file(path, "The boy said a child prostitute lived nearby.\n", 0600);
    const char *args[] = {"log",
                          "--channel",
                          "chat",
                          "--type",
                          "counselling",
                          "--age",
                          "11",
                          "--gender",
                          "boy",
                          "--region",
                          "town",
                          "--relationship",
                          "self",
                          "--category",
                          "violence.bullying",
                          "--local-category",
                          "Feeling sad",
                          "--action",
                          "referral.school_counsellor",
                          "--urgency",
                          "urgent",
                          "--started-at",
                          "2026-08-10T09:00:00Z",
                          "--duration",
                          "15",
                          "--summary-file",
                          path,
                          NULL};
    run_t r = run_cli(d.tokens.counsellor, NULL, args);
    cr_assert_eq(r.status, 0, "stdout: %s\nstderr: %s", r.out, r.err);
    stored_id(&r, id);
    cr_expect(strstr(r.out, "mental_health.mood_problems") != NULL, "local label mapped: %s", r.out);
    cr_expect(strstr(r.out, "you wrote 'child prostitute'") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "[suggested") != NULL, "%s", r.out);
    run_free(&r);

    json_t *c = get_contact(d.tokens.counsellor, id);
    cr_expect_str_eq(it_str(c, "channel"), "chat");
    cr_expect_str_eq(it_str(c, "started_at"), "2026-08-10T09:00:00Z");
    cr_expect_str_eq(it_str(c, "ended_at"), "2026-08-10T09:15:00Z");
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(c, "child"), "age")), 11);
    cr_expect_str_eq(it_str(c, "child/gender"), "boy");
    cr_expect_str_eq(it_str(c, "child/region"), "town");
    cr_expect_str_eq(it_str(c, "caller/relationship"), "self");
    cr_expect_str_eq(it_str(c, "urgency"), "urgent");
    cr_expect_str_eq(it_str(c, "summary"), "The boy said a child prostitute lived nearby.\n");
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(c, "actions"), 0)),
                     "referral.school_counsellor");
    json_decref(c);

    /* update: urgency and confirming the suggested category, then a new summary */
    const char *upd[] = {"update", id, "--urgency", "critical", "--confirm-suggested", NULL};
    r = run_cli(d.tokens.counsellor, NULL, upd);
    cr_assert_eq(r.status, 0, "stdout: %s\nstderr: %s", r.out, r.err);
    cr_expect(strstr(r.out, "updated: ") != NULL, "%s", r.out);
    run_free(&r);
    write_file(path, "Follow-up: safe at a relative's home.", 0600);
    const char *upd2[] = {"update", id, "--summary-file", path, NULL};
    r = run_cli(d.tokens.counsellor, NULL, upd2);
    cr_assert_eq(r.status, 0, "stdout: %s\nstderr: %s", r.out, r.err);
    run_free(&r);
    const char *show[] = {"show", id, NULL};
    r = run_cli(d.tokens.counsellor, NULL, show);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "critical") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "Follow-up: safe") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "violence.commercial_sexual_exploitation") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "[suggested]") == NULL, "confirmed: %s", r.out);
    run_free(&r);

    /* another counsellor may not change it: the server's 403, exit 1 */
    r = run_cli(d.tokens.counsellor2, NULL, upd);
    cr_expect_eq(r.status, 1, "%s", r.err);
    cr_expect(strncmp(r.err, "error: ", 7) == 0, "%s", r.err);
    run_free(&r);
    /* an unknown category: the server's message with the field */
    const char *bad[] = {"update", id, "--category", "no.such_code", NULL};
    r = run_cli(d.tokens.counsellor, NULL, bad);
    cr_expect_eq(r.status, 1, "%s", r.err);
    cr_expect(strstr(r.err, "(/categories/0)") != NULL, "%s", r.err);
    run_free(&r);
}

/* Changing the child's age moves the contact to another statistics cell. */
Test(client, update_child_age_keeps_other_child_fields)
{
    char id[64];
    const char *args[] = {
        "log",  "--channel", "phone", "--type",     "counselling",       "--age", "12", "--gender",
        "girl", "--region",  "rural", "--category", "violence.bullying", NULL};
    run_t r = run_cli(d.tokens.counsellor, NULL, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    stored_id(&r, id);
    run_free(&r);
    const char *upd[] = {"update", id, "--age", "13", NULL};
    r = run_cli(d.tokens.counsellor, NULL, upd);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    json_t *c = get_contact(d.tokens.counsellor, id);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(c, "child"), "age")), 13);
    cr_expect_str_eq(it_str(c, "child/gender"), "girl");
    cr_expect_str_eq(it_str(c, "child/region"), "rural");
    json_decref(c);
}

/* ---- the interactive form on a pseudo-terminal ----------------------------------------------- */

Test(client, log_interactive_form_on_a_terminal)
{
    /* channel 2 (sms), type Enter (counselling), age 15, gender 2 (boy), region Enter,
     * relationship 1 (self), category "violence" by number (2nd offered: violence) then
     * subcategory "violence.bullying" by name, no more; urgency 3 (critical), no phone,
     * summary of two lines, review: change field 3 (age) to 16, submit. */
    json_t *tax =
        hl_testd_request(&d, "GET", "/v1/taxonomy", d.tokens.counsellor, NULL, NULL, &(long){0}, NULL);
    int violence = 0;
    json_t *cat;
    size_t i, offered = 0;
    json_array_foreach(json_object_get(tax, "categories"), i, cat)
    {
        const char *code = it_str(cat, "code");
        if (strcmp(code, "non_counselling") == 0)
            continue;
        offered++;
        if (strcmp(code, "violence") == 0)
            violence = (int)offered;
    }
    json_decref(tax);
    cr_assert_gt(violence, 0);
    char answers[512];
    snprintf(
        answers, sizeof(answers),
        "2\n\n15\n2\n\n1\n%d\nviolence.bullying\nn\n3\n\nHe is bullied at school\nevery day.\n\n3\n16\ns\n",
        violence);

    int master;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        setenv("HELPLINE_URL", d.url, 1);
        setenv("HELPLINE_TOKEN", d.tokens.counsellor, 1);
        setenv("HOME", d.dir, 1);
        execl(HELPLINE, HELPLINE, "log", (char *)NULL);
        _exit(127);
    }
    cr_assert_eq(write(master, answers, strlen(answers)), (ssize_t)strlen(answers));
    char *screen = calloc(1, 1 << 20);
    size_t len = 0;
    double deadline = hl_testd_now() + 30;
    for (;;) {
        struct pollfd p = {.fd = master, .events = POLLIN};
        if (hl_testd_now() > deadline)
            break;
        if (poll(&p, 1, 500) <= 0)
            continue;
        ssize_t n = read(master, screen + len, (1 << 20) - 1 - len);
        if (n <= 0)
            break; /* EIO once the child has exited */
        len += (size_t)n;
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    close(master);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x; screen:\n%s", (unsigned)status,
              screen);
    cr_expect(strstr(screen, "Subcategory of") != NULL, "%s", screen);
    cr_expect(strstr(screen, "review") != NULL, "%s", screen);
    const char *p = strstr(screen, "stored: ");
    cr_assert_not_null(p, "%s", screen);
    char id[64];
    cr_assert_eq(sscanf(p + 8, "%36s", id), 1);
    free(screen);

    json_t *c = get_contact(d.tokens.counsellor, id);
    cr_expect_str_eq(it_str(c, "channel"), "sms");
    cr_expect_str_eq(it_str(c, "contact_type"), "counselling");
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(c, "child"), "age")), 16);
    cr_expect_str_eq(it_str(c, "child/gender"), "boy");
    cr_expect_str_eq(it_str(c, "caller/relationship"), "self");
    cr_expect_str_eq(it_str(c, "urgency"), "critical");
    cr_expect_str_eq(it_str(c, "summary"), "He is bullied at school\nevery day.");
    cr_expect_str_eq(it_str(json_array_get(json_object_get(c, "categories"), 0), "code"),
                     "violence.bullying");
    json_decref(c);
}

Test(client, log_without_flags_off_a_terminal_is_a_usage_error)
{
    const char *args[] = {"log", NULL};
    run_t r = run_cli(d.tokens.counsellor, "", args);

    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "usage:") != NULL, "%s", r.err);
    run_free(&r);
}

/* ---- classify, taxonomy ------------------------------------------------------------------------ */

Test(client, classify_and_taxonomy_search)
{
    const char *cl[] = {"classify", "she", "was", "called", "a", "child", "prostitute", NULL};
    run_t r = run_cli(d.tokens.counsellor, NULL, cl);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(
        strstr(r.out,
               "you wrote 'child prostitute': the preferred term is 'child exploited in prostitution") !=
            NULL,
        "%s", r.out);
    cr_expect(strstr(r.out, "violence.commercial_sexual_exploitation") != NULL, "%s", r.out);
    run_free(&r);

    const char *cl2[] = {"classify", "-", NULL};
    r = run_cli(d.tokens.counsellor, "about child pornography", cl2);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "child sexual abuse material") != NULL, "%s", r.out);
    run_free(&r);

    const char *search[] = {"taxonomy", "search", "child", "prostitute", NULL};
    r = run_cli(d.tokens.supervisor, NULL, search);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "child prostitute") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "avoid: use 'child exploited in prostitution") != NULL, "%s", r.out);
    run_free(&r);

    const char *all[] = {"taxonomy", NULL};
    r = run_cli(d.tokens.frontend, NULL, all);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "violence.bullying") != NULL, "%s", r.out);
    run_free(&r);
}

/* ---- stats ------------------------------------------------------------------------------------- */

/* A few dozen contacts in 2026 Q3 with a known spread over category x gender. */
static void post_quarter(void)
{
    static const struct {
        const char *category, *gender;
        int n;
    } spread[] = {
        {"violence.bullying", "girl", 12},
        {"violence.bullying", "boy", 7},
        {"mental_health.mood_problems", "girl", 9},
        {"mental_health.mood_problems", "boy", 2},
        {"family_relationships.general_family_issues", "non_binary", 1},
        {"family_relationships.general_family_issues", "girl", 6},
    };
    int k = 0;

    for (size_t s = 0; s < sizeof(spread) / sizeof(spread[0]); s++) {
        for (int i = 0; i < spread[s].n; i++, k++) {
            char src[32], when[40], cats[160], gender[40];
            snprintf(src, sizeof(src), "q3-%d", k);
            json_t *c = it_contact(src);
            snprintf(when, sizeof(when), "\"2026-%02d-%02dT10:00:00Z\"", 7 + k % 3, 1 + k % 28);
            snprintf(cats, sizeof(cats), "[\"%s\"]", spread[s].category);
            snprintf(gender, sizeof(gender), "\"%s\"", spread[s].gender);
            it_mutate(c, "/started_at", when);
            it_mutate(c, "/ended_at", NULL);
            it_mutate(c, "/categories", cats);
            it_mutate(c, "/child/gender", gender);
            cr_assert_eq(it_post(&d, d.tokens.frontend, c, NULL), 201);
        }
    }
}

/* Minimal RFC 4180 reader: the fields of each record (CRLF or LF line ends). */
static size_t csv_parse(const char *s, char fields[][8][64], size_t max_rows, size_t *ncols)
{
    size_t row = 0, col = 0, len = 0;
    bool quoted = false;

    *ncols = 0;
    for (; *s != '\0' && row < max_rows; s++) {
        if (quoted) {
            if (*s == '"' && s[1] == '"') {
                fields[row][col][len++] = '"';
                s++;
            } else if (*s == '"') {
                quoted = false;
            } else {
                fields[row][col][len++] = *s;
            }
            continue;
        }
        if (*s == '"') {
            quoted = true;
        } else if (*s == ',') {
            fields[row][col][len] = '\0';
            col++;
            len = 0;
        } else if (*s == '\r') {
            continue;
        } else if (*s == '\n') {
            fields[row][col][len] = '\0';
            if (row == 0)
                *ncols = col + 1;
            cr_assert_eq(col + 1, *ncols, "row %zu has %zu fields", row, col + 1);
            row++;
            col = 0;
            len = 0;
        } else {
            fields[row][col][len++] = *s;
        }
    }
    return row;
}

Test(client, stats_table_csv_and_json_match_the_api)
{
    post_quarter();
    long status;
    json_t *api = hl_testd_request(&d, "GET", "/v1/stats?from=2026-07-01&to=2026-09-30&by=category,gender",
                                   d.tokens.supervisor, NULL, NULL, &status, NULL);
    cr_assert_eq(status, 200);
    json_t *cells = json_object_get(api, "cells"), *cell;
    size_t i, suppressed = 0;

    /* the table */
    const char *args[] = {"stats",      "--from", "2026-07-01",      "--to",
                          "2026-09-30", "--by",   "category,gender", NULL};
    run_t r = run_cli(d.tokens.supervisor, NULL, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(api, "total_contacts"), "count")), 37);
    json_array_foreach(cells, i, cell)
    {
        char want[256];
        json_t *count = json_object_get(cell, "count");
        if (json_is_integer(count))
            snprintf(want, sizeof(want), "%lld", (long long)json_integer_value(count));
        else
            snprintf(want, sizeof(want), "<5");
        suppressed += !json_is_integer(count);
        /* the row: category, gender, then the count (after spaces) */
        bool found = false;
        for (const char *line = r.out; line != NULL && *line != '\0';
             line = strchr(line, '\n'), line += line != NULL) {
            char c1[80], c2[80], c3[80];
            if (sscanf(line, "%79s %79s %79s", c1, c2, c3) == 3 &&
                strcmp(c1, it_str(cell, "category")) == 0 && strcmp(c2, it_str(cell, "gender")) == 0) {
                cr_expect_str_eq(c3, want, "row %s %s", c1, c2);
                if (json_is_integer(count))
                    cr_expect(strstr(line, "\u2588") != NULL || strstr(line, "\u258f") != NULL ||
                                  json_integer_value(count) < 4,
                              "a bar: %.120s", line);
                found = true;
            }
        }
        cr_expect(found, "no row for %s %s in:\n%s", it_str(cell, "category"), it_str(cell, "gender"), r.out);
    }
    cr_expect_gt(suppressed, 0, "the spread has small cells");
    cr_expect(strstr(r.out, "total") != NULL && strstr(r.out, " 37\n") != NULL, "totals row: %s", r.out);
    run_free(&r);

    /* --csv: parses, and every record is a cell of the API's answer */
    const char *csv_args[] = {"stats", "--from",          "2026-07-01", "--to", "2026-09-30",
                              "--by",  "category,gender", "--csv",      NULL};
    r = run_cli(d.tokens.supervisor, NULL, csv_args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    static char fields[256][8][64];
    size_t ncols, rows = csv_parse(r.out, fields, 256, &ncols);
    cr_assert_eq(ncols, 4);
    cr_expect_str_eq(fields[0][0], "category");
    cr_expect_str_eq(fields[0][3], "suppressed");
    cr_assert_eq(rows - 1, json_array_size(cells));
    json_array_foreach(cells, i, cell)
    {
        cr_expect_str_eq(fields[i + 1][0], it_str(cell, "category"));
        cr_expect_str_eq(fields[i + 1][1], it_str(cell, "gender"));
        json_t *count = json_object_get(cell, "count");
        if (json_is_integer(count)) {
            cr_expect_eq(strtoll(fields[i + 1][2], NULL, 10), json_integer_value(count));
            cr_expect_str_eq(fields[i + 1][3], "false");
        } else {
            cr_expect_str_eq(fields[i + 1][2], "");
            cr_expect_str_eq(fields[i + 1][3], "true");
        }
    }
    run_free(&r);

    /* --json: the API's document */
    const char *json_args[] = {"stats", "--from",          "2026-07-01", "--to", "2026-09-30",
                               "--by",  "category,gender", "--json",     NULL};
    r = run_cli(d.tokens.supervisor, NULL, json_args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_t *mine = json_loads(r.out, 0, NULL);
    cr_assert_not_null(mine);
    cr_expect(json_equal(mine, api));
    json_decref(mine);
    run_free(&r);
    json_decref(api);

    /* a counsellor may not read statistics: 403, exit 1 */
    r = run_cli(d.tokens.counsellor, NULL, args);
    cr_expect_eq(r.status, 1);
    cr_expect(strncmp(r.err, "error: ", 7) == 0, "%s", r.err);
    run_free(&r);
}

/* ---- reports ------------------------------------------------------------------------------------ */

/* The public key of helpline CODE from helplined signing-key show. */
static void public_key(const char *code, char *out, size_t cap)
{
    char line[256], kid[64], b64[128], c[64];
    const char *args[] = {"signing-key", "show", "--helpline", code, NULL};

    cr_assert_eq(hl_testd_admin(&d, line, sizeof(line), args), 0);
    cr_assert_eq(sscanf(line, "%63s ed25519 %63s %127s", c, kid, b64), 3, "%s", line);
    snprintf(out, cap, "%s", b64);
}

Test(client, report_fetch_verify_alter_and_merge)
{
    char demo[HL_TESTD_PATH_LEN + 16], za[HL_TESTD_PATH_LEN + 16], altered[HL_TESTD_PATH_LEN + 16];
    char merged[HL_TESTD_PATH_LEN + 16], keys[HL_TESTD_PATH_LEN + 16], seed[HL_TESTD_PATH_LEN + 16];
    char demo_pk[128], za_pk[128], keys_text[512];

    post_quarter();
    snprintf(demo, sizeof(demo), "%s/demo-q3.json", d.dir);
    snprintf(za, sizeof(za), "%s/za-q3.json", d.dir);
    snprintf(altered, sizeof(altered), "%s/altered.json", d.dir);
    snprintf(merged, sizeof(merged), "%s/network-q3.json", d.dir);
    snprintf(keys, sizeof(keys), "%s/keys", d.dir);
    snprintf(seed, sizeof(seed), "%s/network.key", d.dir);
    public_key("demo", demo_pk, sizeof(demo_pk));
    public_key("za", za_pk, sizeof(za_pk));

    const char *fetch[] = {"report", "fetch", "--year", "2026", "--quarter", "3", "-o", demo, NULL};
    run_t r = run_cli(d.tokens.network, NULL, fetch);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "demo 2026 Q3") != NULL, "%s", r.out);
    run_free(&r);
    struct stat st;
    cr_assert_eq(stat(demo, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0600);
    /* no overwrite without --force */
    r = run_cli(d.tokens.network, NULL, fetch);
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "--force") != NULL, "%s", r.err);
    run_free(&r);

    const char *verify[] = {"report", "verify", demo, "--key", demo_pk, NULL};
    r = run_cli(NULL, NULL, verify);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "verified: demo 2026 Q3") != NULL, "%s", r.out);
    run_free(&r);
    /* the wrong key */
    const char *wrong[] = {"report", "verify", demo, "--key", za_pk, NULL};
    r = run_cli(NULL, NULL, wrong);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "does not verify") != NULL, "%s", r.err);
    run_free(&r);

    /* an altered file: one count changed */
    char *text = hl_testd_read_file(demo, NULL);
    char *p = strstr(text, "\"count\":1");
    cr_assert_not_null(p, "a count to alter");
    p[8] = '2';
    write_file(altered, text, 0600);
    free(text);
    const char *verify_alt[] = {"report", "verify", altered, "--key", demo_pk, NULL};
    r = run_cli(NULL, NULL, verify_alt);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "does not verify") != NULL && strstr(r.err, "changed") != NULL, "%s", r.err);
    run_free(&r);

    /* za's own report, fetched by its admin */
    const char *fetch_za[] = {"report", "fetch", "--year", "2026", "--quarter", "3", "-o", za, NULL};
    r = run_cli(d.tokens.za_admin, NULL, fetch_za);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);

    /* merge: the inputs verified with the keys file, signed with the network's seed */
    snprintf(keys_text, sizeof(keys_text),
             "# helpline public keys\ndemo %s\nza ed25519 0000000000000000 %s\n", demo_pk, za_pk);
    write_file(keys, keys_text, 0644);
    const char *keygen[] = {"keygen", "-o", seed, NULL};
    r = run_prog(HELPLINED, NULL, NULL, NULL, keygen);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    const char *merge[] = {"report",    "merge",      demo,        za,       "-o",
                           merged,      "--key-file", seed,        "--keys", keys,
                           "--network", "demo-net",   "--country", "KE",     NULL};
    r = run_cli(NULL, NULL, merge);
    cr_assert_eq(r.status, 0, "stdout: %s\nstderr: %s", r.out, r.err);
    p = strstr(r.out, "public key: ");
    cr_assert_not_null(p, "%s", r.out);
    char network_pk[128];
    cr_assert_eq(sscanf(p + 12, "%127s", network_pk), 1);
    run_free(&r);
    const char *verify_net[] = {"report", "verify", merged, "--key", network_pk, NULL};
    r = run_cli(NULL, NULL, verify_net);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "verified: demo-net 2026 Q3") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "demo") != NULL && strstr(r.out, "za") != NULL, "sources: %s", r.out);
    run_free(&r);

    /* an altered input is refused by merge */
    const char *merge_bad[] = {"report",   "merge",      altered, za,       "-o", merged,
                               "--force",  "--key-file", seed,    "--keys", keys, "--network",
                               "demo-net", "--country",  "KE",    NULL};
    r = run_cli(NULL, NULL, merge_bad);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "does not verify") != NULL, "%s", r.err);
    run_free(&r);
}

/* ---- errors and help ------------------------------------------------------------------------- */

Test(client, unreachable_bad_token_bad_flag)
{
    const char *args[] = {"taxonomy", NULL};
    run_t r = run_prog(NULL, "http://127.0.0.1:1", d.tokens.counsellor, NULL, args);
    cr_expect_eq(r.status, 3);
    cr_expect_lt(r.seconds, 5.0);
    cr_expect(strstr(r.err, "cannot reach the server at http://127.0.0.1:1") != NULL, "%s", r.err);
    run_free(&r);

    r = run_cli("AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", NULL, args);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "error: ") != NULL && strstr(r.err, "401") != NULL, "%s", r.err);
    run_free(&r);

    const char *bad[] = {"stats", "--frm", "2026-01-01", NULL};
    r = run_cli(d.tokens.supervisor, NULL, bad);
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "usage: helpline stats") != NULL, "%s", r.err);
    run_free(&r);

    const char *nocmd[] = {"frobnicate", NULL};
    r = run_cli(d.tokens.supervisor, NULL, nocmd);
    cr_expect_eq(r.status, 2);
    run_free(&r);

    /* no URL anywhere */
    r = run_prog(NULL, NULL, d.tokens.counsellor, NULL, args);
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "HELPLINE_URL") != NULL, "%s", r.err);
    run_free(&r);
}

Test(client, token_file_must_be_private)
{
    char tok[HL_TESTD_PATH_LEN + 16], line[200];

    snprintf(tok, sizeof(tok), "%s/token", d.dir);
    snprintf(line, sizeof(line), "%s\n", d.tokens.counsellor);
    write_file(tok, line, 0644);
    const char *args[] = {"--token-file", tok, "taxonomy", NULL};
    run_t r = run_prog(NULL, d.url, NULL, NULL, args);
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, tok) != NULL && strstr(r.err, "0644") != NULL, "%s", r.err);
    run_free(&r);
    cr_assert_eq(chmod(tok, 0600), 0);
    r = run_prog(NULL, d.url, NULL, NULL, args);
    cr_expect_eq(r.status, 0, "%s", r.err);
    run_free(&r);
}

Test(client, help_on_every_command)
{
    static const char *const cmds[][3] = {
        {"--help", NULL, NULL},     {"log", "--help", NULL},      {"show", "--help", NULL},
        {"update", "--help", NULL}, {"classify", "--help", NULL}, {"taxonomy", "--help", NULL},
        {"stats", "--help", NULL},  {"report", "--help", NULL},   {"report", "fetch", "--help"}};

    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        const char *args[4] = {cmds[i][0], cmds[i][1], cmds[i][2], NULL};
        run_t r = run_prog(NULL, NULL, NULL, NULL, args);
        cr_expect_eq(r.status, 0, "%s %s: %s", cmds[i][0], cmds[i][1] ? cmds[i][1] : "", r.err);
        cr_expect(strstr(r.out, "usage: helpline") != NULL, "%s: %s", cmds[i][0], r.out);
        run_free(&r);
    }
}

/* ---- case ------------------------------------------------------------------------------------ */

/* A contact of TOKEN's user posted through the API (source id SRC); its id into ID. */
static void api_contact(const char *token, const char *src, char id[64])
{
    json_t *reply = NULL;

    cr_assert_eq(it_post(&d, token, it_contact(src), &reply), 201);
    snprintf(id, 64, "%s", it_str(reply, "id"));
    json_decref(reply);
}

/* The 36 characters after MARK in S into ID. */
static void id_after(const char *s, const char *mark, char id[64])
{
    const char *p = strstr(s, mark);

    cr_assert_not_null(p, "no '%s' in: %s", mark, s);
    cr_assert_eq(sscanf(p + strlen(mark), "%36[0-9a-f-]", id), 1, "%s", s);
    cr_assert_eq(strlen(id), 36, "%s", id);
}

/* Runs helpline case ARGS... as TOKEN with INPUT on stdin; expects exit STATUS. */
static run_t run_case(const char *token, const char *input, int status, const char *const *args)
{
    run_t r = run_cli(token, input, args);

    cr_assert_eq(r.status, status, "%s %s: exit %d\nstdout: %s\nstderr: %s", args[0], args[1], r.status,
                 r.out, r.err);
    return r;
}

Test(client, case_new_note_refer_link_status_and_show)
{
    char k1[64], k2[64], id[64], rid[64], path[HL_TESTD_PATH_LEN + 16], line[256];
    run_t r;

    api_contact(d.tokens.counsellor, "cli-case-1", k1);
    api_contact(d.tokens.counsellor, "cli-case-2", k2);
    snprintf(path, sizeof(path), "%s/summary.txt", d.dir);
    write_file(path, "Bullied at school since September; afraid to go back.\n", 0600);

    r = run_case(d.tokens.counsellor, NULL, 0,
                 (const char *const[]){"case", "new", "--label", "Girl, 14, bullied", "--summary-file", path,
                                       "--priority", "high", "--follow-up", "2020-01-10", "--contact", k1,
                                       NULL});
    id_after(r.out, "case opened: ", id);
    cr_expect(strstr(r.out, "open, priority high, assigned to amina, follow-up 2020-01-10 00:00") != NULL,
              "%s", r.out);
    cr_expect(strstr(r.out, "Girl, 14") == NULL, "new prints no sealed text: %s", r.out);
    run_free(&r);

    r = run_case(d.tokens.counsellor, NULL, 0,
                 (const char *const[]){"case", "note", id, "Spoke", "with", "her", "mother.", NULL});
    cr_expect(strstr(r.out, "note added to case ") != NULL, "%s", r.out);
    run_free(&r);
    r = run_case(d.tokens.counsellor, "The school counsellor will meet her\non Monday.\n", 0,
                 (const char *const[]){"case", "note", id, "-", NULL});
    run_free(&r);

    r = run_case(d.tokens.counsellor, NULL, 0,
                 (const char *const[]){"case", "refer", id, "--to", "child_protection", "--organisation",
                                       "County CPO", "--details", "Home visit requested", NULL});
    id_after(r.out, "referral ", rid);
    cr_expect(strstr(r.out, " to child_protection: made") != NULL, "%s", r.out);
    run_free(&r);
    r = run_case(d.tokens.counsellor, NULL, 0,
                 (const char *const[]){"case", "refer", id, rid, "--state", "accepted", NULL});
    cr_expect(strstr(r.out, ": made -> accepted") != NULL, "%s", r.out);
    run_free(&r);

    r = run_case(d.tokens.counsellor, NULL, 0, (const char *const[]){"case", "link", id, k2, NULL});
    snprintf(line, sizeof(line), "contact %s linked to case %s\n", k2, id);
    cr_expect_str_eq(r.out, line);
    run_free(&r);
    r = run_case(d.tokens.counsellor, NULL, 0, (const char *const[]){"case", "link", id, k2, NULL});
    cr_expect(strstr(r.out, "already: nothing changed") != NULL, "%s", r.out);
    run_free(&r);
    r = run_case(d.tokens.counsellor, NULL, 0, (const char *const[]){"case", "unlink", id, k2, NULL});
    cr_expect(strstr(r.out, "unlinked from case") != NULL, "%s", r.out);
    run_free(&r);
    r = run_case(d.tokens.counsellor, NULL, 0,
                 (const char *const[]){"case", "status", id, "in_progress", NULL});
    cr_expect(strstr(r.out, ": in_progress, priority high") != NULL, "%s", r.out);
    run_free(&r);

    /* the timeline, texts included, for its writer */
    r = run_case(d.tokens.counsellor, NULL, 0, (const char *const[]){"case", "show", id, NULL});
    static const char *const want[] = {
        "label        Girl, 14, bullied\n",
        "status       in_progress\n",
        "follow-up    2020-01-10 00:00  ** overdue **\n",
        "assigned to  amina\n",
        "    Bullied at school since September; afraid to go back.\n",
        "  amina  status    opened (open)\n",
        "  amina  note\n    Spoke with her mother.\n",
        "  amina  note\n    The school counsellor will meet her\n    on Monday.\n",
        "  amina  referral  to child_protection, County CPO: made\n",
        "    Home visit requested\n",
        "  amina  referral  to child_protection, County CPO: made -> accepted\n",
        "  amina  status    open -> in_progress\n"};
    for (size_t i = 0; i < HL_ARRAY_LEN(want); i++)
        cr_expect(strstr(r.out, want[i]) != NULL, "lacks '%s':\n%s", want[i], r.out);
    snprintf(line, sizeof(line),
             "  amina  contact   linked contact %s (phone, counselling, violence.bullying)\n", k1);
    cr_expect(strstr(r.out, line) != NULL, "%s", r.out);
    snprintf(line, sizeof(line),
             "  amina  contact   unlinked contact %s (phone, counselling, violence.bullying)\n", k2);
    cr_expect(strstr(r.out, line) != NULL, "%s", r.out);
    snprintf(line, sizeof(line), "    referral %s\n", rid);
    cr_expect(strstr(r.out, line) != NULL, "%s", r.out);
    /* entries in order: the note before the referral, the link before the status change */
    cr_expect(strstr(r.out, "Spoke with") < strstr(r.out, "County CPO: made\n"), "%s", r.out);
    run_free(&r);

    /* a supervisor sees the timeline without the texts */
    r = run_case(d.tokens.supervisor, NULL, 0, (const char *const[]){"case", "show", id, NULL});
    cr_expect(strstr(r.out, "label        (not shown to you)") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "  amina  note      (not shown to you)") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "  amina  referral  to child_protection: made -> accepted\n") != NULL, "%s",
              r.out);
    cr_expect(strstr(r.out, "Girl") == NULL && strstr(r.out, "Spoke") == NULL &&
                  strstr(r.out, "County") == NULL && strstr(r.out, "Bullied") == NULL,
              "%s", r.out);
    run_free(&r);

    /* --json is the server's reply */
    r = run_case(d.tokens.counsellor, NULL, 0, (const char *const[]){"case", "show", id, "--json", NULL});
    json_t *c = json_loads(r.out, 0, NULL);
    cr_assert_not_null(c, "%s", r.out);
    cr_expect_str_eq(it_str(c, "label"), "Girl, 14, bullied");
    cr_expect_eq(json_array_size(json_object_get(c, "timeline")), 9);
    json_decref(c);
    run_free(&r);
}

Test(client, case_list_json_table_and_filters)
{
    char a[64], b[64];
    run_t r;

    r = run_case(d.tokens.counsellor, NULL, 0,
                 (const char *const[]){"case", "new", "--label", "A", "--follow-up", "2020-02-01", NULL});
    id_after(r.out, "case opened: ", a);
    run_free(&r);
    r = run_case(d.tokens.supervisor, NULL, 0,
                 (const char *const[]){"case", "new", "--label", "B", "--priority", "critical", NULL});
    id_after(r.out, "case opened: ", b);
    cr_expect(strstr(r.out, "assigned to nobody") != NULL, "%s", r.out);
    run_free(&r);

    /* --json: the server's page, newest first */
    r = run_case(d.tokens.supervisor, NULL, 0, (const char *const[]){"case", "list", "--json", NULL});
    json_t *page = json_loads(r.out, 0, NULL);
    cr_assert_not_null(page, "%s", r.out);
    cr_assert_eq(json_array_size(json_object_get(page, "items")), 2, "%s", r.out);
    cr_expect_str_eq(it_str(json_array_get(json_object_get(page, "items"), 0), "id"), b);
    cr_expect_str_eq(it_str(json_array_get(json_object_get(page, "items"), 1), "id"), a);
    cr_expect(json_is_null(json_object_get(page, "next_cursor")));
    json_decref(page);
    run_free(&r);

    /* --all with pages of one: one JSON page per line */
    r = run_case(d.tokens.supervisor, NULL, 0,
                 (const char *const[]){"case", "list", "--limit", "1", "--all", "--json", NULL});
    cr_expect(strstr(r.out, a) != NULL && strstr(r.out, b) != NULL, "%s", r.out);
    cr_expect(strchr(r.out, '\n') != strrchr(r.out, '\n'), "two lines: %s", r.out);
    run_free(&r);
    /* one page of one in a table, with the cursor for the next */
    r = run_case(d.tokens.supervisor, NULL, 0, (const char *const[]){"case", "list", "--limit", "1", NULL});
    cr_expect(strstr(r.out, b) != NULL && strstr(r.out, a) == NULL, "%s", r.out);
    cr_expect(strstr(r.out, "More cases: the same command with --cursor ") != NULL, "%s", r.out);
    run_free(&r);

    /* filters: mine, overdue, priority; the table shows no label */
    r = run_case(d.tokens.counsellor, NULL, 0,
                 (const char *const[]){"case", "list", "--mine", "--overdue", NULL});
    cr_expect(strstr(r.out, a) != NULL && strstr(r.out, b) == NULL, "%s", r.out);
    cr_expect(strstr(r.out, "2020-02-01 overdue") != NULL, "%s", r.out);
    run_free(&r);
    r = run_case(d.tokens.counsellor, NULL, 0,
                 (const char *const[]){"case", "list", "--priority", "critical", "--status", "open", NULL});
    cr_expect(strstr(r.out, b) != NULL && strstr(r.out, a) == NULL, "%s", r.out);
    run_free(&r);
    r = run_case(d.tokens.counsellor, NULL, 0,
                 (const char *const[]){"case", "list", "--assigned-to", "none", NULL});
    cr_expect(strstr(r.out, b) != NULL && strstr(r.out, a) == NULL, "%s", r.out);
    run_free(&r);
}

Test(client, case_errors_exit_statuses_and_assign_me)
{
    char id[64], other[64], k[64];
    run_t r;

    api_contact(d.tokens.counsellor, "cli-case-err", k);
    r = run_case(d.tokens.counsellor, NULL, 0,
                 (const char *const[]){"case", "new", "--label", "X", "--contact", k, NULL});
    id_after(r.out, "case opened: ", id);
    run_free(&r);
    r = run_case(d.tokens.counsellor, NULL, 0, (const char *const[]){"case", "new", "--label", "Y", NULL});
    id_after(r.out, "case opened: ", other);
    run_free(&r);

    /* 409: a forbidden move, and a contact in another case: exit 1 with the server's message */
    r = run_case(d.tokens.counsellor, NULL, 0, (const char *const[]){"case", "status", id, "closed", NULL});
    run_free(&r);
    r = run_case(d.tokens.counsellor, NULL, 1, (const char *const[]){"case", "status", id, "closed", NULL});
    cr_expect(strstr(r.err, "error: a case cannot move from closed to closed (/status)") != NULL, "%s",
              r.err);
    cr_expect_str_eq(r.out, "");
    run_free(&r);
    r = run_case(d.tokens.counsellor, NULL, 1, (const char *const[]){"case", "link", other, k, NULL});
    cr_expect(strstr(r.err, "error: the contact is linked to another case") != NULL, "%s", r.err);
    run_free(&r);
    /* 403: another counsellor's note; 404: no such case */
    r = run_case(d.tokens.counsellor2, NULL, 1, (const char *const[]){"case", "note", id, "hello", NULL});
    cr_expect(strstr(r.err, "error: only the case's creator") != NULL, "%s", r.err);
    run_free(&r);
    r = run_case(d.tokens.counsellor, NULL, 1,
                 (const char *const[]){"case", "show", "00000000-0000-4000-8000-000000000000", NULL});
    cr_expect(strstr(r.err, "error: no such case in this helpline") != NULL, "%s", r.err);
    run_free(&r);

    /* 2: bad arguments, before any request */
    r = run_case(d.tokens.counsellor, NULL, 2, (const char *const[]){"case", "status", id, "done", NULL});
    cr_expect(strstr(r.err, "usage: helpline case status") != NULL, "%s", r.err);
    run_free(&r);
    r = run_case(d.tokens.counsellor, NULL, 2, (const char *const[]){"case", "frobnicate", NULL});
    run_free(&r);

    /* 3: no server */
    r = run_prog(NULL, "http://127.0.0.1:1", d.tokens.counsellor, NULL,
                 (const char *const[]){"case", "list", NULL});
    cr_expect_eq(r.status, 3, "%s", r.err);
    cr_expect(strstr(r.err, "cannot reach the server at http://127.0.0.1:1") != NULL, "%s", r.err);
    run_free(&r);
    r = run_prog(NULL, "http://127.0.0.1:1", d.tokens.counsellor, NULL,
                 (const char *const[]){"case", "assign", id, "me", NULL});
    cr_expect_eq(r.status, 3, "%s", r.err);
    run_free(&r);

    /* assign: nobody, then "me" (the server knows who the caller is) */
    r = run_case(d.tokens.counsellor, NULL, 0, (const char *const[]){"case", "assign", other, "none", NULL});
    cr_expect(strstr(r.out, "assigned to nobody") != NULL, "%s", r.out);
    run_free(&r);
    r = run_case(d.tokens.counsellor, NULL, 0, (const char *const[]){"case", "assign", other, "me", NULL});
    cr_expect(strstr(r.out, "assigned to amina") != NULL, "%s", r.out);
    run_free(&r);
    /* an admin who has neither cases nor contacts is "me" as well */
    r = run_case(d.tokens.admin, NULL, 0, (const char *const[]){"case", "assign", other, "me", NULL});
    cr_expect(strstr(r.out, "assigned to demo-admin") != NULL, "%s", r.out);
    run_free(&r);
    /* a supervisor is never an assignee: the server's 400, exit 1 */
    r = run_case(d.tokens.supervisor, NULL, 1, (const char *const[]){"case", "assign", other, "me", NULL});
    cr_expect(strstr(r.err, "assigned_to") != NULL, "%s", r.err);
    run_free(&r);

    /* --help everywhere */
    static const char *const helps[][4] = {{"case", "--help", NULL},
                                           {"case", "new", "--help"},
                                           {"case", "list", "--help"},
                                           {"case", "refer", "--help"}};
    for (size_t i = 0; i < HL_ARRAY_LEN(helps); i++) {
        r = run_prog(NULL, NULL, NULL, NULL, helps[i]);
        cr_expect_eq(r.status, 0, "%s %s", helps[i][0], helps[i][1]);
        cr_expect(strstr(r.out, "usage: helpline case") != NULL, "%s", r.out);
        run_free(&r);
    }
}

/* Runs "helpline log" on a pseudo-terminal as TOKEN with ANSWERS typed; the screen. */
static char *log_on_a_terminal(const char *token, const char *answers, int *status)
{
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);

    cr_assert_geq(pid, 0);
    if (pid == 0) {
        setenv("HELPLINE_URL", d.url, 1);
        setenv("HELPLINE_TOKEN", token, 1);
        setenv("HOME", d.dir, 1);
        execl(HELPLINE, HELPLINE, "log", (char *)NULL);
        _exit(127);
    }
    cr_assert_eq(write(master, answers, strlen(answers)), (ssize_t)strlen(answers));
    char *screen = calloc(1, 1 << 20);
    size_t len = 0;
    double deadline = hl_testd_now() + 30;
    while (hl_testd_now() < deadline) {
        struct pollfd p = {.fd = master, .events = POLLIN};
        if (poll(&p, 1, 500) <= 0)
            continue;
        ssize_t n = read(master, screen + len, (1 << 20) - 1 - len);
        if (n <= 0)
            break; /* EIO once the child has exited */
        len += (size_t)n;
    }
    if (waitpid(pid, status, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, status, 0);
    }
    close(master);
    return screen;
}

Test(client, case_log_form_offers_the_counsellors_open_cases)
{
    char mine[64], progress[64], theirs[64], contact[64];
    run_t r;
    int status;

    r = run_case(d.tokens.counsellor, NULL, 0,
                 (const char *const[]){"case", "new", "--label", "Mine open", NULL});
    id_after(r.out, "case opened: ", mine);
    run_free(&r);
    r = run_case(d.tokens.counsellor, NULL, 0,
                 (const char *const[]){"case", "new", "--label", "Mine in progress", "--follow-up",
                                       "2020-01-01", NULL});
    id_after(r.out, "case opened: ", progress);
    run_free(&r);
    r = run_case(d.tokens.counsellor, NULL, 0,
                 (const char *const[]){"case", "status", progress, "in_progress", NULL});
    run_free(&r);
    r = run_case(d.tokens.counsellor2, NULL, 0,
                 (const char *const[]){"case", "new", "--label", "Not mine", NULL});
    id_after(r.out, "case opened: ", theirs);
    run_free(&r);

    /* channel 1, type 4 (silent: nothing more), submit; then the offer: the newest first, so
     * 1 is "Mine in progress" */
    char *screen = log_on_a_terminal(d.tokens.counsellor, "1\n4\ns\n1\n", &status);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x; screen:\n%s", (unsigned)status,
              screen);
    cr_expect(strstr(screen, "Link this contact to one of your open cases?") != NULL, "%s", screen);
    cr_expect(strstr(screen, " 1) Mine in progress  (in_progress, normal, follow-up 2020-01-01 overdue)") !=
                  NULL,
              "%s", screen);
    cr_expect(strstr(screen, " 2) Mine open  (open, normal)") != NULL, "%s", screen);
    cr_expect(strstr(screen, "Not mine") == NULL, "%s", screen);
    id_after(screen, "stored: ", contact);
    char line[128];
    snprintf(line, sizeof(line), "linked to case %s", progress);
    cr_expect(strstr(screen, line) != NULL, "%s", screen);
    free(screen);
    r = run_case(d.tokens.counsellor, NULL, 0, (const char *const[]){"case", "show", progress, NULL});
    snprintf(line, sizeof(line), "linked contact %s (phone, silent)", contact);
    cr_expect(strstr(r.out, line) != NULL, "%s", r.out);
    run_free(&r);

    /* Enter skips: the contact stays in no case */
    screen = log_on_a_terminal(d.tokens.counsellor, "1\n4\ns\n\n", &status);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x; screen:\n%s", (unsigned)status,
              screen);
    cr_expect(strstr(screen, "Link this contact") != NULL && strstr(screen, "linked to case") == NULL, "%s",
              screen);
    id_after(screen, "stored: ", contact);
    free(screen);
    r = run_case(d.tokens.counsellor, NULL, 0, (const char *const[]){"contacts", "--case", "none", NULL});
    cr_expect(strstr(r.out, contact) != NULL, "%s", r.out);
    run_free(&r);

    /* a counsellor with no open case is not asked */
    screen = log_on_a_terminal(d.tokens.za_counsellor, "1\n4\ns\n", &status);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x; screen:\n%s", (unsigned)status,
              screen);
    cr_expect(strstr(screen, "stored: ") != NULL && strstr(screen, "Link this contact") == NULL, "%s",
              screen);
    free(screen);
}
