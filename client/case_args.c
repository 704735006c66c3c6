/* helpline case: arguments to one request (case_args.h). */
#include "case_args.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "case.h"
#include "contact.h"
#include "record_args.h"

const char hl_cli_case_usage[] =
    "usage: helpline case SUBCOMMAND [ARGS...]\n"
    "\n"
    "Casework: a case follows one child's situation across contacts, with notes,\n"
    "referrals to agencies, a follow-up date, an assignee and a status.\n"
    "\n"
    "  case new --label L [--summary S | --summary-file F] [--priority P]\n"
    "           [--follow-up DATE|TIME] [--assign NAME|me|none] [--contact ID]...\n"
    "  case show ID                         the case and its timeline\n"
    "  case list [filters]                  the helpline's cases, newest first (no texts)\n"
    "  case update ID [--label L] [--summary S | --summary-file F] [--priority P]\n"
    "           [--follow-up DATE|TIME|none]\n"
    "  case note ID TEXT... | --file F | -  add a note\n"
    "  case refer ID --to CODE [--organisation O] [--details D | --details-file F]\n"
    "           [--state S]                 record a referral to an agency\n"
    "  case refer ID REFERRAL_ID --state S  record what became of a referral\n"
    "  case link ID CONTACT_ID              add a contact to the case\n"
    "  case unlink ID CONTACT_ID            take it out again\n"
    "  case assign ID NAME|me|none          who follows the case up\n"
    "  case status ID open|in_progress|closed\n"
    "\n"
    "Every subcommand takes --json (print the server's reply as it is) and --help.\n"
    "Text typed on the command line stays in your shell's history: for anything about\n"
    "the child prefer --file/--summary-file/--details-file FILE or '-' (standard input).\n"
    "\nOptions:\n" HL_CLI_COMMON_OPTIONS;

static const char usage_new[] =
    "usage: helpline case new --label L [--summary S | --summary-file F] [--priority P]\n"
    "                         [--follow-up DATE|TIME] [--assign NAME|me|none] [--contact ID]...\n"
    "\n"
    "Opens a case and prints its id. A counsellor's new case is assigned to them unless\n"
    "--assign says otherwise; only supervisors and admins assign to someone else.\n"
    "\n"
    "  --label L            a short name for the case, one line, 1..200 characters (sealed)\n"
    "  --summary S          the situation (sealed); --summary-file FILE or '-' keeps it out\n"
    "  --summary-file F     of the shell's history\n"
    "  --priority P         low normal high critical (default normal)\n"
    "  --follow-up D        a day (YYYY-MM-DD) or an RFC 3339 time\n"
    "  --assign NAME        a counsellor or admin of the helpline; me; none\n"
    "  --contact ID         a contact to link at once (repeatable, at most 100)\n"
    "  --json               print the server's reply\n"
    "\nOptions:\n" HL_CLI_COMMON_OPTIONS;

static const char usage_show[] =
    "usage: helpline case show ID [--json]\n"
    "\n"
    "Prints the case and its timeline: contacts linked, notes, referrals and what became of\n"
    "them, status changes. The case's creator, its assignee and admins see the texts (each\n"
    "such read is audited); supervisors everything but the texts; other counsellors the\n"
    "dates and names only.\n"
    "\n"
    "  --json               print the server's reply\n"
    "\nOptions:\n" HL_CLI_COMMON_OPTIONS;

static const char usage_list[] =
    "usage: helpline case list [--status S] [--mine | --assigned-to NAME] [--priority P]\n"
    "                          [--overdue | --follow-up-before DATE] [--limit N]\n"
    "                          [--cursor C | --all] [--json]\n"
    "\n"
    "Lists the helpline's cases, newest first: id, status, priority, follow-up, assignee,\n"
    "creator, creation time and number of contacts. A list shows no labels or texts\n"
    "('helpline case show ID' does, for those allowed to read them). Filters combine:\n"
    "\n"
    "  --status S               open in_progress closed\n"
    "  --mine                   assigned to you\n"
    "  --assigned-to NAME       assigned to this user (me; none: to nobody)\n"
    "  --priority P             low normal high critical\n"
    "  --overdue                follow-up day before today (UTC)\n"
    "  --follow-up-before DATE  follow-up due on DATE (YYYY-MM-DD) or earlier\n"
    "  --limit N                cases per page, 1..200 (default 50)\n"
    "  --cursor C               the page after the one that printed C\n"
    "  --all                    every page, one after the other\n"
    "  --json                   the server's pages as JSON (one per line with --all)\n"
    "\nOptions:\n" HL_CLI_COMMON_OPTIONS;

static const char usage_update[] =
    "usage: helpline case update ID [--label L] [--summary S | --summary-file F]\n"
    "                               [--priority P] [--follow-up DATE|TIME|none] [--json]\n"
    "\n"
    "Changes the case's label, summary, priority or follow-up ('none' clears it). The\n"
    "creator, the assignee and admins change everything; supervisors priority and follow-up.\n"
    "\nOptions:\n" HL_CLI_COMMON_OPTIONS;

static const char usage_note[] =
    "usage: helpline case note ID TEXT...\n"
    "       helpline case note ID --file FILE\n"
    "       helpline case note ID -            (the text from standard input)\n"
    "\n"
    "Adds a note to the case's timeline (sealed; up to 64 KiB, several lines allowed).\n"
    "Notes are never changed: a correction is a new note. Text on the command line stays\n"
    "in your shell's history; --file or '-' does not.\n"
    "\n"
    "  --file FILE          the note from FILE ('-': standard input)\n"
    "  --json               print the server's reply\n"
    "\nOptions:\n" HL_CLI_COMMON_OPTIONS;

static const char usage_refer[] =
    "usage: helpline case refer ID --to CODE [--organisation O]\n"
    "                              [--details D | --details-file F] [--state S]\n"
    "       helpline case refer ID REFERRAL_ID --state S\n"
    "\n"
    "The first form records a referral of the case to an agency and prints its id; the\n"
    "second records what became of it (the earlier states stay in the timeline).\n"
    "\n"
    "  --to CODE            child_protection healthcare law_enforcement mental_health\n"
    "                       other_organisation school_counsellor (with or without the\n"
    "                       'referral.' prefix)\n"
    "  --organisation O     the agency's name, one line (sealed)\n"
    "  --details D          what was agreed (sealed); --details-file FILE or '-' keeps it\n"
    "  --details-file F     out of the shell's history\n"
    "  --state S            made accepted declined completed (default made)\n"
    "  --json               print the server's reply\n"
    "\nOptions:\n" HL_CLI_COMMON_OPTIONS;

static const char usage_link[] =
    "usage: helpline case link ID CONTACT_ID [--json]\n"
    "       helpline case unlink ID CONTACT_ID [--json]\n"
    "\n"
    "Links a contact to the case (a contact is in one case at most), or takes it out; both\n"
    "stay in the timeline. Counsellors link their own contacts.\n"
    "\nOptions:\n" HL_CLI_COMMON_OPTIONS;

static const char usage_assign[] =
    "usage: helpline case assign ID NAME|me|none [--json]\n"
    "\n"
    "Assigns the case to a counsellor or admin of the helpline, to you (me), or to nobody\n"
    "(none). Counsellors assign their cases to themselves or to nobody; supervisors and\n"
    "admins to anyone.\n"
    "\nOptions:\n" HL_CLI_COMMON_OPTIONS;

static const char usage_status[] =
    "usage: helpline case status ID open|in_progress|closed [--json]\n"
    "\n"
    "Moves the case: open -> in_progress -> closed, open -> closed, closed -> in_progress\n"
    "(reopen). Any other move is refused by the server (exit 1).\n"
    "\nOptions:\n" HL_CLI_COMMON_OPTIONS;

static void seterr(char *err, size_t errlen, const char *fmt, ...) HL_PRINTF(3, 4);

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- vocabularies ------------------------------------------------------------------------ */

static const char *status_name(int i)
{
    return hl_case_status_name((hl_case_status_t)i);
}

static const char *priority_name(int i)
{
    return hl_case_priority_name((hl_case_priority_t)i);
}

static const char *state_name(int i)
{
    return hl_referral_state_name((hl_referral_state_t)i);
}

/* The referral.* actions without their prefix, in lib/contact's order. */
static const char *referral_name(int i)
{
    for (int a = 0, n = 0; hl_contact_action_name((hl_action_t)a) != NULL; a++) {
        if (hl_case_is_referral((hl_action_t)a) && n++ == i)
            return hl_contact_action_name((hl_action_t)a) + strlen("referral.");
    }
    return NULL;
}

/* ARG is one of the words NAME(i) gives; else ERR lists them. */
static bool in_vocab(const char *what, const char *arg, const char *(*name)(int), char *err, size_t errlen)
{
    char list[300];
    int n = 0;

    for (; name(n) != NULL; n++) {
        if (strcmp(name(n), arg) == 0)
            return true;
    }
    hl_cli_vocab_list(name, n, list, sizeof(list));
    seterr(err, errlen, "%s must be one of: %s", what, list);
    return false;
}

static bool is_id(const char *s)
{
    return hl_case_uuid_valid(s, strlen(s));
}

/* ---- the body ---------------------------------------------------------------------------- */

/* BODY[KEY] = the text S (LEN bytes); false when it is not UTF-8 or on ENOMEM (ERR says). */
static bool set_text(json_t *body, const char *key, const char *what, const char *s, size_t len, char *err,
                     size_t errlen)
{
    json_t *v = json_stringn(s, len);

    if (v == NULL) {
        seterr(err, errlen, "%s is not UTF-8 text", what);
        return false;
    }
    if (json_object_set_new(body, key, v) != 0) {
        seterr(err, errlen, "out of memory");
        return false;
    }
    return true;
}

/* BODY[KEY] = the content of PATH ('-': standard input). HL_EIO/HL_EINVAL with ERR, HL_ENOMEM. */
static int set_file(json_t *body, const char *key, const char *flag, const char *path, char *err,
                    size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = hl_cli_read_file(path, &text, &len);

    if (rc == HL_EIO)
        seterr(err, errlen, "cannot read %s (%s): %s", strcmp(path, "-") == 0 ? "standard input" : path, flag,
               strerror(errno));
    if (rc != HL_OK)
        return rc;
    rc = set_text(body, key, flag, text, len, err, errlen) ? HL_OK : HL_EINVAL;
    hl_cli_wipe_free(text, len + 1);
    return rc;
}

/* ---- options ----------------------------------------------------------------------------- */

enum {
    O_LABEL = 0x300,
    O_SUMMARY,
    O_SUMMARY_FILE,
    O_PRIORITY,
    O_FOLLOW_UP,
    O_ASSIGN,
    O_CONTACT,
    O_STATUS,
    O_MINE,
    O_ASSIGNED_TO,
    O_OVERDUE,
    O_FOLLOW_UP_BEFORE,
    O_LIMIT,
    O_CURSOR,
    O_ALL,
    O_FILE,
    O_TO,
    O_ORGANISATION,
    O_DETAILS,
    O_DETAILS_FILE,
    O_STATE,
    O_JSON
};

#define BIT(c) (1u << (c))

/* Which subcommands take each option (--json: all of them). */
static unsigned takes(int opt)
{
    switch (opt) {
    case O_LABEL:
    case O_SUMMARY:
    case O_SUMMARY_FILE:
    case O_FOLLOW_UP:
        return BIT(HL_CLI_CASE_NEW) | BIT(HL_CLI_CASE_UPDATE);
    case O_PRIORITY:
        return BIT(HL_CLI_CASE_NEW) | BIT(HL_CLI_CASE_UPDATE) | BIT(HL_CLI_CASE_LIST);
    case O_ASSIGN:
    case O_CONTACT:
        return BIT(HL_CLI_CASE_NEW);
    case O_STATUS:
    case O_MINE:
    case O_ASSIGNED_TO:
    case O_OVERDUE:
    case O_FOLLOW_UP_BEFORE:
    case O_LIMIT:
    case O_CURSOR:
    case O_ALL:
        return BIT(HL_CLI_CASE_LIST);
    case O_FILE:
        return BIT(HL_CLI_CASE_NOTE);
    case O_TO:
    case O_ORGANISATION:
    case O_DETAILS:
    case O_DETAILS_FILE:
    case O_STATE:
        return BIT(HL_CLI_CASE_REFER);
    default:
        return ~0u;
    }
}

static const struct option longopts[] = {{"label", required_argument, NULL, O_LABEL},
                                         {"summary", required_argument, NULL, O_SUMMARY},
                                         {"summary-file", required_argument, NULL, O_SUMMARY_FILE},
                                         {"priority", required_argument, NULL, O_PRIORITY},
                                         {"follow-up", required_argument, NULL, O_FOLLOW_UP},
                                         {"assign", required_argument, NULL, O_ASSIGN},
                                         {"contact", required_argument, NULL, O_CONTACT},
                                         {"status", required_argument, NULL, O_STATUS},
                                         {"mine", no_argument, NULL, O_MINE},
                                         {"assigned-to", required_argument, NULL, O_ASSIGNED_TO},
                                         {"overdue", no_argument, NULL, O_OVERDUE},
                                         {"follow-up-before", required_argument, NULL, O_FOLLOW_UP_BEFORE},
                                         {"limit", required_argument, NULL, O_LIMIT},
                                         {"cursor", required_argument, NULL, O_CURSOR},
                                         {"all", no_argument, NULL, O_ALL},
                                         {"file", required_argument, NULL, O_FILE},
                                         {"to", required_argument, NULL, O_TO},
                                         {"organisation", required_argument, NULL, O_ORGANISATION},
                                         {"organization", required_argument, NULL, O_ORGANISATION},
                                         {"details", required_argument, NULL, O_DETAILS},
                                         {"details-file", required_argument, NULL, O_DETAILS_FILE},
                                         {"state", required_argument, NULL, O_STATE},
                                         {"json", no_argument, NULL, O_JSON},
                                         HL_CLI_COMMON_LONGOPTS,
                                         {NULL, 0, NULL, 0}};

static const struct {
    const char *name;
    hl_cli_case_cmd_t cmd;
    const char *usage;
    int min_operands, max_operands; /* -1: any number */
} subcommands[] = {
    {"new", HL_CLI_CASE_NEW, usage_new, 0, 0},          {"show", HL_CLI_CASE_SHOW, usage_show, 1, 1},
    {"list", HL_CLI_CASE_LIST, usage_list, 0, 0},       {"update", HL_CLI_CASE_UPDATE, usage_update, 1, 1},
    {"note", HL_CLI_CASE_NOTE, usage_note, 1, -1},      {"refer", HL_CLI_CASE_REFER, usage_refer, 1, 2},
    {"link", HL_CLI_CASE_LINK, usage_link, 2, 2},       {"unlink", HL_CLI_CASE_UNLINK, usage_link, 2, 2},
    {"assign", HL_CLI_CASE_ASSIGN, usage_assign, 2, 2}, {"status", HL_CLI_CASE_STATUS, usage_status, 2, 2},
};

/* The values of the options given (the last one wins but for --contact). */
typedef struct {
    const char *v[O_JSON - O_LABEL + 1];
    bool given[O_JSON - O_LABEL + 1];
    const char *contacts[HL_CASE_MAX_CONTACTS];
    size_t n_contacts;
} opts_t;

#define V(o)     (o_->v[(o)-O_LABEL])
#define GIVEN(o) (o_->given[(o)-O_LABEL])

/* The long name of option OPT (the first one in LONGOPTS). */
static const char *opt_name(int opt)
{
    for (size_t i = 0; longopts[i].name != NULL; i++) {
        if (longopts[i].val == opt)
            return longopts[i].name;
    }
    return "?";
}

/* Checks an option's value where the client can tell it is wrong; false with ERR. */
static bool check_value(int opt, const char *v, char *err, size_t errlen)
{
    char *end;
    unsigned long n;
    int64_t us;

    switch (opt) {
    case O_PRIORITY:
        return in_vocab("--priority", v, priority_name, err, errlen);
    case O_STATUS:
        return in_vocab("--status", v, status_name, err, errlen);
    case O_STATE:
        return in_vocab("--state", v, state_name, err, errlen);
    case O_TO:
        return in_vocab("--to", strncmp(v, "referral.", 9) == 0 ? v + 9 : v, referral_name, err, errlen);
    case O_FOLLOW_UP:
        if (strcmp(v, "none") != 0 && !hl_cli_is_date(v) && !hl_contact_time_parse(v, strlen(v), &us)) {
            seterr(err, errlen, "--follow-up must be a date YYYY-MM-DD, an RFC 3339 time or none");
            return false;
        }
        return true;
    case O_FOLLOW_UP_BEFORE:
        if (!hl_cli_is_date(v)) {
            seterr(err, errlen, "--follow-up-before must be a date YYYY-MM-DD");
            return false;
        }
        return true;
    case O_CONTACT:
        if (!is_id(v)) {
            seterr(err, errlen, "--contact must be a contact id");
            return false;
        }
        return true;
    case O_LIMIT:
        n = strtoul(v, &end, 10);
        if (!isdigit((unsigned char)v[0]) || *end != '\0' || n < 1 || n > 200) {
            seterr(err, errlen, "--limit must be a whole number 1..200");
            return false;
        }
        return true;
    case O_SUMMARY:
    case O_DETAILS:
        return true; /* may be empty */
    default:
        if (v[0] == '\0') {
            seterr(err, errlen, "--%s needs a value", opt_name(opt));
            return false;
        }
        return true;
    }
}

/* The request's path: /v1/cases[/CASE_ID][TAIL][/SUB_ID]. */
static void set_path(hl_cli_case_args_t *a, const char *tail)
{
    snprintf(a->path, sizeof(a->path), "/v1/cases%s%s%s%s%s", a->case_id != NULL ? "/" : "",
             a->case_id != NULL ? a->case_id : "", tail, a->sub_id != NULL ? "/" : "",
             a->sub_id != NULL ? a->sub_id : "");
}

/* The body's assigned_to: NAME, "me" (the server knows who that is), or null for "none". */
static int set_assignee(hl_cli_case_args_t *a, const char *name, char *err, size_t errlen)
{
    if (name[0] == '\0') {
        seterr(err, errlen, "give a user name, me or none");
        return HL_EINVAL;
    }
    if (strcmp(name, "none") == 0)
        return json_object_set_new(a->body, "assigned_to", json_null()) == 0 ? HL_OK : HL_ENOMEM;
    return set_text(a->body, "assigned_to", "the user name", name, strlen(name), err, errlen) ? HL_OK
                                                                                              : HL_EINVAL;
}

/* new and update: the case's fields. */
static int case_body(hl_cli_case_args_t *a, const opts_t *o_, char *err, size_t errlen)
{
    json_t *b = a->body;
    const char *f = V(O_FOLLOW_UP);
    char day[32];
    int rc = HL_OK;

    if (GIVEN(O_SUMMARY) && GIVEN(O_SUMMARY_FILE)) {
        seterr(err, errlen, "--summary or --summary-file, not both");
        return HL_EINVAL;
    }
    if (a->cmd == HL_CLI_CASE_NEW && !GIVEN(O_LABEL)) {
        seterr(err, errlen, "--label is required");
        return HL_EINVAL;
    }
    if (GIVEN(O_LABEL) && !set_text(b, "label", "--label", V(O_LABEL), strlen(V(O_LABEL)), err, errlen))
        return HL_EINVAL;
    if (GIVEN(O_SUMMARY) &&
        !set_text(b, "summary", "--summary", V(O_SUMMARY), strlen(V(O_SUMMARY)), err, errlen))
        return HL_EINVAL;
    if (GIVEN(O_SUMMARY_FILE) &&
        (rc = set_file(b, "summary", "--summary-file", V(O_SUMMARY_FILE), err, errlen)) != HL_OK)
        return rc;
    if (GIVEN(O_PRIORITY) && json_object_set_new(b, "priority", json_string(V(O_PRIORITY))) != 0)
        return HL_ENOMEM;
    if (f != NULL) {
        /* A day is its start, UTC: due that day (see case_view.h for "overdue"). */
        snprintf(day, sizeof(day), "%sT00:00:00Z", f);
        if (json_object_set_new(b, "follow_up_at",
                                strcmp(f, "none") == 0 ? json_null()
                                                       : json_string(hl_cli_is_date(f) ? day : f)) != 0)
            return HL_ENOMEM;
    }
    if (GIVEN(O_ASSIGN) && (rc = set_assignee(a, V(O_ASSIGN), err, errlen)) != HL_OK)
        return rc;
    if (o_->n_contacts > 0) {
        json_t *ids = json_array();
        if (ids == NULL || json_object_set_new(b, "contacts", ids) != 0)
            return HL_ENOMEM;
        for (size_t i = 0; i < o_->n_contacts; i++) {
            if (json_array_append_new(ids, json_string(o_->contacts[i])) != 0)
                return HL_ENOMEM;
        }
    }
    if (json_object_size(b) == 0) {
        seterr(err, errlen, "nothing to change: give --label, --summary, --priority or --follow-up");
        return HL_EINVAL;
    }
    return HL_OK;
}

/* note: TEXT... (words joined by spaces), --file F, or '-'. */
static int note_body(hl_cli_case_args_t *a, const opts_t *o_, char **words, int n, char *err, size_t errlen)
{
    size_t len = 0, used = 0;
    char *text;
    bool ok;

    if (GIVEN(O_FILE) && n > 0) {
        seterr(err, errlen, "the note's TEXT or --file, not both");
        return HL_EINVAL;
    }
    if (GIVEN(O_FILE) || (n == 1 && strcmp(words[0], "-") == 0))
        return set_file(a->body, "text", GIVEN(O_FILE) ? "--file" : "-", GIVEN(O_FILE) ? V(O_FILE) : "-", err,
                        errlen);
    if (n == 0) {
        seterr(err, errlen, "give the note's text: TEXT..., --file FILE or - (standard input)");
        return HL_EINVAL;
    }
    for (int i = 0; i < n; i++)
        len += strlen(words[i]) + 1;
    if ((text = malloc(len)) == NULL)
        return HL_ENOMEM;
    for (int i = 0; i < n; i++) {
        size_t w = strlen(words[i]);
        if (i > 0)
            text[used++] = ' ';
        memcpy(text + used, words[i], w);
        used += w;
    }
    text[used] = '\0';
    ok = set_text(a->body, "text", "the note", text, used, err, errlen);
    hl_cli_wipe_free(text, len);
    return ok ? HL_OK : HL_EINVAL;
}

/* refer: a new referral, or (with REFERRAL_ID) its new state. */
static int refer_body(hl_cli_case_args_t *a, const opts_t *o_, char *err, size_t errlen)
{
    json_t *b = a->body;
    char to[64];
    int rc;

    if (a->cmd == HL_CLI_CASE_REFER_STATE) {
        if (GIVEN(O_TO) || GIVEN(O_ORGANISATION) || GIVEN(O_DETAILS) || GIVEN(O_DETAILS_FILE)) {
            seterr(err, errlen, "a referral's new state takes --state only");
            return HL_EINVAL;
        }
        if (!GIVEN(O_STATE)) {
            seterr(err, errlen, "--state is required with a REFERRAL_ID");
            return HL_EINVAL;
        }
        return json_object_set_new(b, "state", json_string(V(O_STATE))) == 0 ? HL_OK : HL_ENOMEM;
    }
    if (!GIVEN(O_TO)) {
        seterr(err, errlen, "--to is required (give a REFERRAL_ID to change a referral's state)");
        return HL_EINVAL;
    }
    if (GIVEN(O_DETAILS) && GIVEN(O_DETAILS_FILE)) {
        seterr(err, errlen, "--details or --details-file, not both");
        return HL_EINVAL;
    }
    snprintf(to, sizeof(to), "%s%s", strncmp(V(O_TO), "referral.", 9) == 0 ? "" : "referral.", V(O_TO));
    if (json_object_set_new(b, "to", json_string(to)) != 0 ||
        (GIVEN(O_STATE) && json_object_set_new(b, "state", json_string(V(O_STATE))) != 0))
        return HL_ENOMEM;
    if (GIVEN(O_ORGANISATION) && !set_text(b, "organisation", "--organisation", V(O_ORGANISATION),
                                           strlen(V(O_ORGANISATION)), err, errlen))
        return HL_EINVAL;
    if (GIVEN(O_DETAILS) &&
        !set_text(b, "details", "--details", V(O_DETAILS), strlen(V(O_DETAILS)), err, errlen))
        return HL_EINVAL;
    if (GIVEN(O_DETAILS_FILE) &&
        (rc = set_file(b, "details", "--details-file", V(O_DETAILS_FILE), err, errlen)) != HL_OK)
        return rc;
    return HL_OK;
}

/* list: the filters as the query. */
static int list_path(hl_cli_case_args_t *a, const opts_t *o_, int64_t now_us, char *err, size_t errlen)
{
    const char *assigned = GIVEN(O_MINE) ? "me" : V(O_ASSIGNED_TO), *before = V(O_FOLLOW_UP_BEFORE);
    char yesterday[16];
    int rc = HL_OK;

    if (GIVEN(O_MINE) && GIVEN(O_ASSIGNED_TO)) {
        seterr(err, errlen, "--mine or --assigned-to, not both");
        return HL_EINVAL;
    }
    if (GIVEN(O_OVERDUE) && GIVEN(O_FOLLOW_UP_BEFORE)) {
        seterr(err, errlen, "--overdue or --follow-up-before, not both");
        return HL_EINVAL;
    }
    if (GIVEN(O_CURSOR) && GIVEN(O_ALL)) {
        seterr(err, errlen, "--cursor or --all, not both");
        return HL_EINVAL;
    }
    if (GIVEN(O_OVERDUE)) {
        /* Overdue: the follow-up's day is before today (UTC), so due yesterday or earlier. */
        time_t t = (time_t)(now_us / 1000000) - 86400;
        struct tm tm;
        if (gmtime_r(&t, &tm) == NULL || strftime(yesterday, sizeof(yesterday), "%Y-%m-%d", &tm) == 0)
            return HL_EINVAL;
        before = yesterday;
    }
    set_path(a, "");
    if (V(O_STATUS) != NULL)
        rc = hl_cli_api_add_param(a->path, sizeof(a->path), "status", V(O_STATUS));
    if (rc == HL_OK && V(O_PRIORITY) != NULL)
        rc = hl_cli_api_add_param(a->path, sizeof(a->path), "priority", V(O_PRIORITY));
    if (rc == HL_OK && assigned != NULL)
        rc = hl_cli_api_add_param(a->path, sizeof(a->path), "assigned_to", assigned);
    if (rc == HL_OK && before != NULL)
        rc = hl_cli_api_add_param(a->path, sizeof(a->path), "follow_up_before", before);
    if (rc == HL_OK && V(O_LIMIT) != NULL)
        rc = hl_cli_api_add_param(a->path, sizeof(a->path), "limit", V(O_LIMIT));
    if (rc == HL_EINVAL)
        seterr(err, errlen, "arguments too long");
    a->cursor = V(O_CURSOR);
    a->all = GIVEN(O_ALL);
    return rc;
}

/* For the requests that take none (the server refuses a body there). */
static void no_body(hl_cli_case_args_t *a)
{
    json_decref(a->body);
    a->body = NULL;
}

/* The operands OPS (N of them) and the options into the request. */
static int build(hl_cli_case_args_t *a, const opts_t *o_, char **ops, int n, int64_t now_us, char *err,
                 size_t errlen)
{
    if (n > 0) {
        if (!is_id(ops[0])) {
            seterr(err, errlen, "'%s' is not a case id", ops[0]);
            return HL_EINVAL;
        }
        a->case_id = ops[0];
    }
    switch (a->cmd) {
    case HL_CLI_CASE_NEW:
        a->method = "POST";
        set_path(a, "");
        return case_body(a, o_, err, errlen);
    case HL_CLI_CASE_SHOW:
        a->method = "GET";
        set_path(a, "");
        no_body(a);
        return HL_OK;
    case HL_CLI_CASE_LIST:
        a->method = "GET";
        no_body(a);
        return list_path(a, o_, now_us, err, errlen);
    case HL_CLI_CASE_UPDATE:
        a->method = "PATCH";
        set_path(a, "");
        return case_body(a, o_, err, errlen);
    case HL_CLI_CASE_NOTE:
        a->method = "POST";
        set_path(a, "/notes");
        return note_body(a, o_, ops + 1, n - 1, err, errlen);
    case HL_CLI_CASE_REFER:
    case HL_CLI_CASE_REFER_STATE:
        if (n == 2) {
            if (!is_id(ops[1])) {
                seterr(err, errlen, "'%s' is not a referral id", ops[1]);
                return HL_EINVAL;
            }
            a->cmd = HL_CLI_CASE_REFER_STATE;
            a->sub_id = ops[1];
        }
        a->method = n == 2 ? "PATCH" : "POST";
        set_path(a, "/referrals");
        return refer_body(a, o_, err, errlen);
    case HL_CLI_CASE_LINK:
    case HL_CLI_CASE_UNLINK:
        if (!is_id(ops[1])) {
            seterr(err, errlen, "'%s' is not a contact id", ops[1]);
            return HL_EINVAL;
        }
        a->sub_id = ops[1];
        a->method = a->cmd == HL_CLI_CASE_LINK ? "PUT" : "DELETE";
        set_path(a, "/contacts");
        no_body(a);
        return HL_OK;
    case HL_CLI_CASE_ASSIGN:
        a->method = "PATCH";
        set_path(a, "");
        return set_assignee(a, ops[1], err, errlen);
    case HL_CLI_CASE_STATUS:
        a->method = "PATCH";
        set_path(a, "");
        if (!in_vocab("the status", ops[1], status_name, err, errlen))
            return HL_EINVAL;
        return json_object_set_new(a->body, "status", json_string(ops[1])) == 0 ? HL_OK : HL_ENOMEM;
    }
    return HL_EINVAL;
}

int hl_cli_case_args_parse(hl_cli_ctx_t *ctx, int argc, char **argv, int64_t now_us, hl_cli_case_args_t *out,
                           char *err, size_t errlen)
{
    hl_cli_case_args_t a = {.usage = hl_cli_case_usage};
    opts_t o;
    const char *sub = argc > 1 ? argv[1] : NULL;
    int opt, rc = HL_EINVAL, n;
    size_t s = HL_ARRAY_LEN(subcommands);

    memset(&o, 0, sizeof(o));
    err[0] = '\0';
    if (sub == NULL) {
        seterr(err, errlen, "give a subcommand");
        goto out;
    }
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        a.help = true;
        rc = HL_OK;
        goto out;
    }
    for (s = 0; s < HL_ARRAY_LEN(subcommands) && strcmp(subcommands[s].name, sub) != 0; s++)
        ;
    if (s == HL_ARRAY_LEN(subcommands)) {
        seterr(err, errlen, "unknown subcommand '%s'", sub);
        goto out;
    }
    a.cmd = subcommands[s].cmd;
    a.usage = subcommands[s].usage;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc - 1, argv + 1, ":h", longopts, NULL)) != -1) {
        if (hl_cli_common_opt(ctx, opt, optarg))
            continue;
        if (opt == 'h') {
            a.help = true;
            rc = HL_OK;
            goto out;
        }
        if (opt == ':' || opt == '?') {
            seterr(err, errlen, opt == ':' ? "%s needs a value" : "unknown option %s", argv[optind]);
            goto out;
        }
        if (!(takes(opt) & BIT(a.cmd))) {
            seterr(err, errlen, "--%s is not an option of this subcommand", opt_name(opt));
            goto out;
        }
        if (optarg != NULL && !check_value(opt, optarg, err, errlen))
            goto out;
        if (opt == O_CONTACT) {
            if (o.n_contacts == HL_CASE_MAX_CONTACTS) {
                seterr(err, errlen, "at most %d --contact", HL_CASE_MAX_CONTACTS);
                goto out;
            }
            o.contacts[o.n_contacts++] = optarg;
        }
        o.v[opt - O_LABEL] = optarg;
        o.given[opt - O_LABEL] = true;
    }
    a.json = o.given[O_JSON - O_LABEL];
    n = argc - 1 - optind;
    if (n < subcommands[s].min_operands ||
        (subcommands[s].max_operands >= 0 && n > subcommands[s].max_operands)) {
        seterr(err, errlen, "%s", n < subcommands[s].min_operands ? "missing operands" : "too many operands");
        goto out;
    }
    if ((a.body = json_object()) == NULL) {
        rc = HL_ENOMEM;
        goto out;
    }
    rc = build(&a, &o, argv + 1 + optind, n, now_us, err, errlen);
out:
    if (rc != HL_OK) {
        char msg[400];
        snprintf(msg, sizeof(msg), "%s", err[0] != '\0' ? err : hl_strerror(rc));
        seterr(err, errlen, "case%s%s: %s", s < HL_ARRAY_LEN(subcommands) ? " " : "",
               s < HL_ARRAY_LEN(subcommands) ? subcommands[s].name : "", msg);
        hl_contact_json_free(a.body);
        a.body = NULL;
    }
    *out = a;
    return rc;
}

void hl_cli_case_args_free(hl_cli_case_args_t *a)
{
    hl_contact_json_free(a->body);
    a->body = NULL;
}

int hl_cli_case_page_path(const hl_cli_case_args_t *a, const char *cursor, char *out, size_t cap)
{
    if (strlen(a->path) >= cap)
        return HL_EINVAL;
    strcpy(out, a->path);
    return cursor != NULL ? hl_cli_api_add_param(out, cap, "cursor", cursor) : HL_OK;
}
