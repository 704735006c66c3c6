/*
 * helpline-cdr: Asterisk CDR records (cdr_csv's Master.csv, or stdin) to POST /v1/contacts,
 * one contact per call, with a checkpoint so that a restart neither loses nor re-posts a
 * call. docs/front-ends.md describes the options, the mapping and the delivery rules.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium/utils.h>

#include "api.h"
#include "cdr_calls.h"
#include "cdr_csv.h"
#include "cdr_state.h"
#include "cli_config.h"
#include "contact.h"
#include "crypto.h"
#include "log.h"

#define BUF_CAP      (HL_CDR_LINE_MAX + 2)
#define RECENT       1024
#define POLL_MS      200
#define BACKOFF_MAX  30
#define EXIT_CONFIG  1
#define EXIT_USAGE   2
#define EXIT_NOREACH 3

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

typedef struct {
    char key[HL_CDR_KEY_MAX + 1];
    uint64_t last_offset; /* UINT64_MAX: unknown (from the checkpoint) */
} recent_t;

typedef struct {
    /* options */
    const char *file; /* NULL: stdin */
    bool follow, once, utc;
    hl_cdr_columns_t cols;
    const char *checkpoint;
    hl_cdr_agents_t *agents;
    long hangup_seconds;
    double quiet;
    const char *system;
    hl_cli_api_t *api;
    /* input */
    int fd;
    uint64_t inode;
    uint64_t pos; /* file offset of buf[0] */
    char buf[BUF_CAP];
    size_t have;
    bool skipping;     /* inside an overlong line */
    uint64_t consumed; /* end of the last line handled */
    hl_cdr_calls_t *calls;
    hl_cdr_record_t rec;
    /* delivery */
    recent_t recent[RECENT]; /* delivered calls, for late legs and the checkpoint's done list */
    size_t n_recent, next_recent;
    hl_cdr_state_t st;
    bool saved_once;
    bool unreachable; /* --once gave up on the daemon */
    /* counts */
    unsigned long created, duplicate, spooled, refused, malformed, late;
} cdr_t;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop_requested)
        ;
}

static const char *input_name(const cdr_t *c)
{
    return c->file != NULL ? c->file : "stdin";
}

/* ---- delivered calls and the checkpoint ------------------------------------------------------ */

static recent_t *recent_find(cdr_t *c, const char *key)
{
    for (size_t i = 0; i < c->n_recent; i++)
        if (strcmp(c->recent[i].key, key) == 0)
            return &c->recent[i];
    return NULL;
}

static void recent_add(cdr_t *c, const char *key, uint64_t last_offset)
{
    recent_t *r = &c->recent[c->next_recent];

    snprintf(r->key, sizeof(r->key), "%s", key);
    r->last_offset = last_offset;
    c->next_recent = (c->next_recent + 1) % RECENT;
    if (c->n_recent < RECENT)
        c->n_recent++;
}

/* Everything before the offset is delivered (or skipped); delivered calls with lines after it are listed. */
static int save_checkpoint(cdr_t *c, bool force)
{
    uint64_t off = hl_cdr_calls_min_offset(c->calls);
    int rc;

    if (c->checkpoint == NULL)
        return HL_OK;
    if (c->consumed < off)
        off = c->consumed;
    if (!force && c->saved_once && off == c->st.offset && c->inode == c->st.inode)
        return HL_OK;
    c->st.offset = off;
    c->st.inode = c->inode;
    snprintf(c->st.path, sizeof(c->st.path), "%s", c->file);
    c->st.n_done = 0;
    for (size_t i = 0; i < c->n_recent; i++)
        if (c->recent[i].last_offset > off)
            (void)hl_cdr_state_add_done(&c->st, c->recent[i].key);
    rc = hl_cdr_state_save(c->checkpoint, &c->st);
    if (rc != HL_OK)
        hl_log(HL_LOG_ERROR, "cannot write the checkpoint %s: %s", c->checkpoint, strerror(errno));
    c->saved_once = true;
    return rc;
}

/* ---- posting --------------------------------------------------------------------------------- */

/* HL_OK: delivered or refused for good; HL_EPERM: the daemon refuses us (configuration);
 * HL_EIO: unreachable with --once; HL_ECONFLICT: asked to stop; HL_ENOMEM. */
static int post_call(cdr_t *c, const hl_cdr_call_t *call)
{
    json_t *contact = hl_cdr_call_contact(call, c->system, c->agents, c->hangup_seconds), *reply = NULL;
    char *body = contact != NULL ? json_dumps(contact, JSON_COMPACT) : NULL;
    long backoff = 1;
    int rc = HL_ENOMEM;

    json_decref(contact);
    if (body == NULL)
        goto out;
    for (;;) {
        hl_cli_response_t resp;
        char msg[512];
        rc = hl_cli_api_request(c->api, "POST", "/v1/contacts", NULL, body, strlen(body), &resp);
        if (rc == HL_ENOMEM) {
            hl_cli_response_free(&resp);
            goto out;
        }
        if (rc == HL_OK && resp.status >= 200 && resp.status < 300) {
            const char *status, *id;
            reply = resp.body != NULL ? json_loads(resp.body, 0, NULL) : NULL;
            status = json_string_value(json_object_get(reply, "status"));
            id = json_string_value(json_object_get(reply, "id"));
            status = status != NULL ? status : "stored";
            if (strcmp(status, "duplicate") == 0)
                c->duplicate++;
            else if (strcmp(status, "spooled") == 0)
                c->spooled++;
            else
                c->created++;
            hl_log(HL_LOG_INFO, "call %s: %s (contact %s, %zu leg%s, %s)", call->key, status,
                   id != NULL ? id : "?", call->n_legs, call->n_legs == 1 ? "" : "s",
                   hl_cdr_contact_type(call, c->hangup_seconds));
            hl_cli_response_free(&resp);
            rc = HL_OK;
            goto out;
        }
        if (rc == HL_OK)
            hl_cli_error_message(resp.status, resp.body, resp.len, msg, sizeof(msg));
        else
            snprintf(msg, sizeof(msg), "daemon unreachable: %s", resp.error);
        hl_cli_response_free(&resp);
        if (rc == HL_OK && (resp.status == 400 || resp.status == 422)) {
            /* The same record will be refused again: report it and go on. */
            hl_log(HL_LOG_ERROR, "call %s: refused by the daemon (HTTP %ld: %s); skipped", call->key,
                   resp.status, msg);
            c->refused++;
            goto out;
        }
        if (rc == HL_OK && resp.status >= 400 && resp.status < 500 && resp.status != 408 &&
            resp.status != 429) {
            hl_log(HL_LOG_ERROR,
                   "call %s: the daemon refuses this adapter (HTTP %ld: %s); check the URL and token",
                   call->key, resp.status, msg);
            rc = HL_EPERM;
            goto out;
        }
        if (c->once) {
            hl_log(HL_LOG_ERROR, "call %s: %s%s; giving up (--once)", call->key,
                   rc == HL_OK ? "HTTP error: " : "", msg);
            rc = HL_EIO;
            goto out;
        }
        hl_log(HL_LOG_WARN, "call %s: %s%s; retrying in %lds", call->key, rc == HL_OK ? "HTTP error: " : "",
               msg, backoff);
        for (long i = 0; i < backoff * 10 && !stop_requested; i++)
            sleep_ms(100);
        if (stop_requested) {
            rc = HL_ECONFLICT;
            goto out;
        }
        backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
    }
out:
    json_decref(reply);
    if (body != NULL) {
        sodium_memzero(body, strlen(body)); /* holds the caller's number */
        free(body);
    }
    return rc;
}

/* Posts every complete call, oldest line first, and moves the checkpoint after each. */
static int deliver(cdr_t *c, bool flush)
{
    hl_cdr_call_t call;
    int rc;

    while (!stop_requested && hl_cdr_calls_take(c->calls, now_s(), c->quiet, flush, &call)) {
        if ((rc = post_call(c, &call)) != HL_OK)
            return rc;
        recent_add(c, call.key, call.last_offset);
        if ((rc = save_checkpoint(c, true)) != HL_OK)
            return rc;
    }
    return stop_requested ? HL_ECONFLICT : HL_OK;
}

/* ---- reading --------------------------------------------------------------------------------- */

static void skip_line(cdr_t *c, uint64_t start, const char *why)
{
    c->malformed++;
    hl_log(HL_LOG_WARN, "%s: line at byte %" PRIu64 " skipped: %s", input_name(c), start, why);
}

static int handle_line(cdr_t *c, const char *line, size_t len, uint64_t start, uint64_t end)
{
    char err[160];
    hl_cdr_leg_t leg;
    recent_t *r;

    c->consumed = end;
    if (len == 0 || (len == 1 && line[0] == '\r'))
        return HL_OK;
    if (hl_cdr_record_parse(line, len, &c->cols, &c->rec, err, sizeof(err)) != HL_OK ||
        hl_cdr_leg_from_record(&c->rec, c->utc, &leg, err, sizeof(err)) != HL_OK) {
        skip_line(c, start, err);
        return HL_OK;
    }
    if ((r = recent_find(c, leg.key)) != NULL) {
        /* A leg of a call already delivered: after a restart, or a late leg (a transfer). */
        c->late++;
        hl_log(HL_LOG_DEBUG, "call %s: leg at byte %" PRIu64 " belongs to a delivered call; ignored", leg.key,
               start);
        return HL_OK;
    }
    return hl_cdr_calls_add(c->calls, &leg, start, end, now_s());
}

/* Handles the complete lines in the buffer; with FINAL also a last line without its newline. */
static int handle_buffer(cdr_t *c, bool final)
{
    size_t off = 0;
    int rc;

    for (;;) {
        char *nl = memchr(c->buf + off, '\n', c->have - off);
        if (nl == NULL)
            break;
        size_t len = (size_t)(nl - (c->buf + off));
        uint64_t start = c->pos + off, end = start + len + 1;
        if (c->skipping) {
            c->skipping = false;
            c->consumed = end;
        } else if ((rc = handle_line(c, c->buf + off, len, start, end)) != HL_OK) {
            return rc;
        }
        off += len + 1;
    }
    if (off == 0 && c->have == sizeof(c->buf)) {
        /* No newline in a full buffer: an overlong line, dropped up to its end. */
        if (!c->skipping)
            skip_line(c, c->pos, "line too long");
        c->skipping = true;
        off = c->have;
    } else if (final && off < c->have) {
        uint64_t start = c->pos + off;
        if (!c->skipping &&
            (rc = handle_line(c, c->buf + off, c->have - off, start, start + (c->have - off))) != HL_OK)
            return rc;
        c->consumed = start + (c->have - off);
        off = c->have;
    }
    memmove(c->buf, c->buf + off, c->have - off);
    c->have -= off;
    c->pos += off;
    return HL_OK;
}

/* Reads what is there: >0 bytes read, 0 at the end, HL_EIO. */
static ssize_t read_more(cdr_t *c)
{
    ssize_t n;

    do
        n = read(c->fd, c->buf + c->have, sizeof(c->buf) - c->have);
    while (n < 0 && errno == EINTR && !stop_requested);
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        hl_log(HL_LOG_ERROR, "%s: read: %s", input_name(c), strerror(errno));
        return HL_EIO;
    }
    c->have += (size_t)n;
    return n;
}

static void set_input(cdr_t *c, int fd, uint64_t inode, uint64_t offset)
{
    c->fd = fd;
    c->inode = inode;
    c->pos = c->consumed = offset;
    c->have = 0;
    c->skipping = false;
}

/* Reads FD to its end, posts every call in it. */
static int drain(cdr_t *c)
{
    ssize_t n;
    int rc;

    while ((n = read_more(c)) > 0)
        if ((rc = handle_buffer(c, false)) != HL_OK)
            return rc;
    if (n < 0)
        return (int)n;
    if ((rc = handle_buffer(c, true)) != HL_OK)
        return rc;
    return deliver(c, true);
}

/* The file in PATH's directory with inode INODE (a rotated Master.csv), opened; -1 when gone. */
static int find_rotated(const char *path, uint64_t inode, char *found, size_t cap)
{
    char dirbuf[HL_CDR_PATH_MAX];
    const char *dir;
    struct dirent *e;
    DIR *d;
    int fd = -1;

    snprintf(dirbuf, sizeof(dirbuf), "%s", path);
    dir = dirname(dirbuf);
    if ((d = opendir(dir)) == NULL)
        return -1;
    while (fd < 0 && (e = readdir(d)) != NULL) {
        struct stat st;
        if ((uint64_t)e->d_ino != inode)
            continue;
        snprintf(found, cap, "%s/%s", dir, e->d_name);
        if (stat(found, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_ino == inode)
            fd = open(found, O_RDONLY | O_CLOEXEC);
    }
    closedir(d);
    return fd;
}

/* Opens the file (waiting for it with --follow); *INODE and *SIZE. */
static int open_file(cdr_t *c, uint64_t *inode, uint64_t *size)
{
    struct stat st;
    int fd;

    for (;;) {
        fd = open(c->file, O_RDONLY | O_CLOEXEC);
        if (fd >= 0 || errno != ENOENT || !c->follow || stop_requested)
            break;
        sleep_ms(POLL_MS);
    }
    if (fd < 0) {
        if (!stop_requested)
            hl_log(HL_LOG_ERROR, "cannot open %s: %s", c->file, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    *inode = (uint64_t)st.st_ino;
    *size = (uint64_t)st.st_size;
    return fd;
}

/* Where to start in the file, from the checkpoint; finishes a file rotated while we were away. */
static int resume(cdr_t *c, int fd, uint64_t inode, uint64_t size)
{
    char err[HL_CDR_PATH_MAX + 128], found[HL_CDR_PATH_MAX + 256];
    uint64_t offset = 0;
    int rc = HL_OK;

    if (c->checkpoint != NULL) {
        rc = hl_cdr_state_load(c->checkpoint, &c->st, err, sizeof(err));
        if (rc == HL_ENOTFOUND) {
            rc = HL_OK;
        } else if (rc != HL_OK) {
            hl_log(HL_LOG_ERROR, "%s", err);
            return rc;
        } else if (strcmp(c->st.path, c->file) != 0) {
            hl_log(HL_LOG_WARN, "checkpoint %s is for another file; starting %s from the beginning",
                   c->checkpoint, c->file);
        } else if (c->st.inode == inode) {
            if (c->st.offset <= size)
                offset = c->st.offset;
            else
                hl_log(HL_LOG_WARN,
                       "%s is shorter than the checkpoint (truncated); starting from the beginning", c->file);
            for (size_t i = 0; offset > 0 && i < c->st.n_done; i++)
                recent_add(c, c->st.done[i], UINT64_MAX);
        } else {
            int old = find_rotated(c->file, c->st.inode, found, sizeof(found));
            if (old < 0) {
                hl_log(HL_LOG_WARN,
                       "%s was rotated and the file of the checkpoint is gone; calls written to it after "
                       "byte %" PRIu64 " are missed",
                       c->file, c->st.offset);
            } else {
                hl_log(HL_LOG_INFO, "finishing rotated %s from byte %" PRIu64, found, c->st.offset);
                for (size_t i = 0; i < c->st.n_done; i++)
                    recent_add(c, c->st.done[i], UINT64_MAX);
                if (lseek(old, (off_t)c->st.offset, SEEK_SET) < 0) {
                    close(old);
                    return HL_EIO;
                }
                set_input(c, old, c->st.inode, c->st.offset);
                rc = drain(c);
                close(old);
                if (rc != HL_OK)
                    return rc;
                c->n_recent = c->next_recent = 0;
            }
        }
    }
    if (offset > 0 && lseek(fd, (off_t)offset, SEEK_SET) < 0)
        return HL_EIO;
    set_input(c, fd, inode, offset);
    if (offset > 0)
        hl_log(HL_LOG_INFO, "resuming %s at byte %" PRIu64, c->file, offset);
    return save_checkpoint(c, true);
}

/* With --follow at the end of the file: a new file in its place (rotation) or a shorter one
 * (truncation) is taken up after the rest of the old one was delivered. */
static int check_rotation(cdr_t *c)
{
    struct stat st, cur;
    uint64_t inode, size;
    int fd, rc;

    if (stat(c->file, &st) != 0 || fstat(c->fd, &cur) != 0)
        return HL_OK; /* renamed and not yet replaced: keep reading the old one */
    if ((uint64_t)st.st_ino == c->inode) {
        if ((uint64_t)cur.st_size >= c->pos + c->have)
            return HL_OK;
        hl_log(HL_LOG_WARN, "%s was truncated; reading it from the beginning", c->file);
        if ((rc = drain(c)) != HL_OK)
            return rc;
        if (lseek(c->fd, 0, SEEK_SET) < 0)
            return HL_EIO;
        set_input(c, c->fd, c->inode, 0);
        c->n_recent = c->next_recent = 0;
        return save_checkpoint(c, true);
    }
    /* Rotated: the rest of the old file first (Asterisk may have written to it just before). */
    if ((rc = drain(c)) != HL_OK)
        return rc;
    if ((fd = open_file(c, &inode, &size)) < 0)
        return HL_EIO;
    hl_log(HL_LOG_INFO, "%s was rotated; reading the new file", c->file);
    close(c->fd);
    set_input(c, fd, inode, 0);
    c->n_recent = c->next_recent = 0;
    return save_checkpoint(c, true);
}

static int run(cdr_t *c)
{
    uint64_t inode = 0, size = 0;
    int fd, rc;

    if (c->file == NULL) {
        set_input(c, STDIN_FILENO, 0, 0);
    } else {
        if ((fd = open_file(c, &inode, &size)) < 0)
            return stop_requested ? HL_OK : HL_EIO;
        if ((rc = resume(c, fd, inode, size)) != HL_OK) {
            close(fd);
            return rc;
        }
    }
    for (;;) {
        ssize_t n = read_more(c);
        if (n < 0)
            return (int)n;
        if ((rc = handle_buffer(c, n == 0 && !c->follow)) != HL_OK)
            return rc;
        if (n == 0 && !c->follow)
            return deliver(c, true);
        if ((rc = deliver(c, false)) != HL_OK)
            return rc;
        if ((rc = save_checkpoint(c, false)) != HL_OK)
            return rc;
        if (n == 0) {
            if (c->file != NULL && (rc = check_rotation(c)) != HL_OK)
                return rc;
            sleep_ms(POLL_MS);
        }
        if (stop_requested)
            return HL_ECONFLICT;
    }
}

/* ---- arguments ------------------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fputs(
        "usage: helpline-cdr [--file PATH|-] [--follow | --once] [--columns default|uniqueid|all|LIST]\n"
        "                    [--checkpoint FILE] [--agents FILE] [--hangup-seconds N] [--quiet-seconds N]\n"
        "                    [--utc] [--system NAME] [--url URL] [--token-file FILE]\n"
        "\n"
        "Posts one contact per Asterisk call from cdr_csv's Master.csv (or stdin) to helplined.\n"
        "  --file PATH         Master.csv (default /var/log/asterisk/cdr-csv/Master.csv); - for stdin\n"
        "  --follow            keep reading as the file grows; survives log rotation\n"
        "  --once              read to the end, post, exit; exit 3 if the daemon cannot be reached\n"
        "  --columns SPEC      default (16 columns), uniqueid (+uniqueid,userfield), all (+peeraccount,\n"
        "                      linkedid,sequence), or a comma list of cdr_csv names (_ ignores a column);\n"
        "                      default: all\n"
        "  --checkpoint FILE   what has been delivered (needed to resume without re-posting)\n"
        "  --agents FILE       'extension = username' lines: the counsellor of an answering extension\n"
        "  --hangup-seconds N  answered calls with less talk time are hang_up contacts (default 5)\n"
        "  --quiet-seconds N   a call is complete N seconds after its last leg (default 30)\n"
        "  --utc               the CDR times are UTC (cdr.conf usegmtime=yes); default: local time\n"
        "  --system NAME       source.system of the contacts (default asterisk)\n"
        "  --url, --token-file the daemon and a frontend token; else HELPLINE_URL / HELPLINE_TOKEN or\n"
        "                      the client's config file\n"
        "Exit: 0 done, 1 the daemon refuses this adapter or a file error, 2 usage, 3 unreachable (--once).\n",
        out);
}

static bool parse_number(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s || v < min || v > max)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"file", required_argument, NULL, 'f'},
                                         {"follow", no_argument, NULL, 'F'},
                                         {"once", no_argument, NULL, 'o'},
                                         {"columns", required_argument, NULL, 'c'},
                                         {"checkpoint", required_argument, NULL, 'k'},
                                         {"agents", required_argument, NULL, 'a'},
                                         {"hangup-seconds", required_argument, NULL, 'H'},
                                         {"quiet-seconds", required_argument, NULL, 'q'},
                                         {"utc", no_argument, NULL, 'u'},
                                         {"system", required_argument, NULL, 's'},
                                         {"url", required_argument, NULL, 'U'},
                                         {"token-file", required_argument, NULL, 'T'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static cdr_t c; /* large: the line buffer, the record and the recent list */
    hl_cli_config_in_t in = {0};
    hl_cli_config_t cfg;
    char path_buf[HL_CLI_PATH_MAX], err[HL_CLI_ERR_LEN];
    const char *columns = "all", *agents_file = NULL;
    struct sigaction sa;
    long v;
    int opt, rc, status = 0;

    hl_log_set_ident("helpline-cdr");
    c.file = "/var/log/asterisk/cdr-csv/Master.csv";
    c.hangup_seconds = 5;
    c.quiet = 30;
    c.system = "asterisk";
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'f':
            c.file = strcmp(optarg, "-") == 0 ? NULL : optarg;
            break;
        case 'F':
            c.follow = true;
            break;
        case 'o':
            c.once = true;
            break;
        case 'c':
            columns = optarg;
            break;
        case 'k':
            c.checkpoint = optarg;
            break;
        case 'a':
            agents_file = optarg;
            break;
        case 'H':
        case 'q':
            if (!parse_number(optarg, 0, 86400, &v)) {
                fprintf(stderr, "helpline-cdr: --%s must be 0..86400\n",
                        opt == 'H' ? "hangup-seconds" : "quiet-seconds");
                return EXIT_USAGE;
            }
            if (opt == 'H')
                c.hangup_seconds = v;
            else
                c.quiet = (double)v;
            break;
        case 'u':
            c.utc = true;
            break;
        case 's':
            if (strlen(optarg) < 1 || strlen(optarg) > HL_CONTACT_SOURCE_SYSTEM_MAX) {
                fprintf(stderr, "helpline-cdr: --system must be 1..64 characters\n");
                return EXIT_USAGE;
            }
            c.system = optarg;
            break;
        case 'U':
            in.url_flag = optarg;
            break;
        case 'T':
            in.token_file_flag = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc || (c.follow && c.once) || (c.file == NULL && c.checkpoint != NULL)) {
        if (c.file == NULL && c.checkpoint != NULL)
            fprintf(stderr, "helpline-cdr: --checkpoint needs a file (stdin has no position to resume at)\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    if (hl_cdr_columns_parse(columns, &c.cols, err, sizeof(err)) != HL_OK) {
        fprintf(stderr, "helpline-cdr: --columns: %s\n", err);
        return EXIT_USAGE;
    }
    if (!hl_cdr_columns_has(&c.cols, HL_CDR_LINKEDID) && !hl_cdr_columns_has(&c.cols, HL_CDR_UNIQUEID)) {
        fprintf(stderr,
                "helpline-cdr: --columns has neither linkedid nor uniqueid, so a call has no id to be\n"
                "stored once by; turn on loguniqueid (and newcdrcolumns) in cdr.conf's [csv]\n");
        return EXIT_USAGE;
    }
    if (!hl_cdr_columns_has(&c.cols, HL_CDR_START) || !hl_cdr_columns_has(&c.cols, HL_CDR_DISPOSITION) ||
        !hl_cdr_columns_has(&c.cols, HL_CDR_BILLSEC)) {
        fprintf(stderr, "helpline-cdr: --columns needs start, billsec and disposition\n");
        return EXIT_USAGE;
    }
    hl_cli_config_from_env(&in, path_buf, sizeof(path_buf));
    if (hl_cli_config_resolve(&in, &cfg, err, sizeof(err)) != HL_OK) {
        fprintf(stderr, "helpline-cdr: %s\n", err);
        return EXIT_USAGE;
    }
    if (agents_file != NULL && hl_cdr_agents_load(agents_file, &c.agents, err, sizeof(err)) != HL_OK) {
        fprintf(stderr, "helpline-cdr: --agents: %s\n", err);
        hl_cli_config_wipe(&cfg);
        return EXIT_USAGE;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || hl_crypto_init() != HL_OK ||
        hl_cli_api_new(&cfg, &c.api) != HL_OK || hl_cdr_calls_new(&c.calls) != HL_OK ||
        hl_cdr_state_init(&c.st) != HL_OK) {
        fprintf(stderr, "helpline-cdr: cannot start (out of memory)\n");
        status = EXIT_CONFIG;
        goto out;
    }
    hl_cli_config_wipe(&cfg);
    rc = run(&c);
    if (rc == HL_ECONFLICT || (rc == HL_OK && stop_requested))
        rc = save_checkpoint(&c, true); /* pending calls stay after the checkpoint, read again next time */
    status = rc == HL_OK ? 0 : c.unreachable ? EXIT_NOREACH : EXIT_CONFIG;
    hl_log(HL_LOG_INFO,
           "%lu call%s stored (%lu created, %lu duplicate, %lu spooled), %lu refused, %lu malformed line%s "
           "skipped, %zu call%s pending",
           c.created + c.duplicate + c.spooled, c.created + c.duplicate + c.spooled == 1 ? "" : "s",
           c.created, c.duplicate, c.spooled, c.refused, c.malformed, c.malformed == 1 ? "" : "s",
           c.calls != NULL ? hl_cdr_calls_pending(c.calls) : 0,
           c.calls != NULL && hl_cdr_calls_pending(c.calls) == 1 ? "" : "s");
out:
    hl_cli_config_wipe(&cfg);
    hl_cli_api_free(c.api);
    hl_cdr_calls_free(c.calls);
    hl_cdr_agents_free(c.agents);
    hl_cdr_state_clear(&c.st);
    curl_global_cleanup();
    return status;
}
