/*
 * libFuzzer target for helpline-cdr's input path: Asterisk cdr_csv lines (client/cdr_csv.c)
 * through legs and calls (client/cdr_calls.c) to the contact each call is posted as, plus the
 * agents map and the checkpoint file it reads at start-up (client/cdr_state.c).
 *   make BUILD=build/fuzz fuzz-cdr FUZZ_SECONDS=60
 *
 * Input: the first line is the column set (--columns: "default", "uniqueid", "all" or a list;
 * a "utc:" prefix reads the times as UTC, else as Europe/London local time), then Master.csv
 * lines. Optional trailing sections, each starting with a line "==agents==" or "==state==",
 * are loaded as the agents file and as a checkpoint file.
 *
 * Lines are read as the adapter reads them; a call is taken once it has been quiet for two
 * lines, and the rest at the end (flush). Checks: a refused line has a message; every field
 * of a parsed line lies in the record's buffer; every leg added comes out in exactly one call;
 * every call's contact is accepted by the contact codec, as POST /v1/contacts would accept it
 * (a refused contact is a call lost: the adapter skips it).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cdr_calls.h"
#include "cdr_csv.h"
#include "cdr_state.h"
#include "contact.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("TZ", "Europe/London", 1); /* local times with a daylight saving change */
    return 0;
}

/* A file holding [P, P + LEN), as a path: a memfd seen through /proc. -1 on error. */
static int memfile(const char *p, size_t len, char path[64])
{
    int fd = memfd_create("fuzz_cdr", MFD_CLOEXEC);

    if (fd < 0)
        return -1;
    if (write(fd, p, len) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

/* The text from *P up to the next section mark ("\n==agents==\n" or "\n==state==\n") or END:
 * its length; *P moves past the mark and *NEXT names the section it starts (NULL at the end). */
static size_t section(const char **p, const char *end, const char **next)
{
    static const char *const names[] = {"agents", "state"};
    const char *start = *p, *q = start;

    *next = NULL;
    while (q < end) {
        const char *at = memmem(q, (size_t)(end - q), "\n==", 3);
        if (at == NULL)
            break;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            char mark[16];
            size_t n = (size_t)snprintf(mark, sizeof(mark), "\n==%s==\n", names[i]);
            if ((size_t)(end - at) >= n && memcmp(at, mark, n) == 0) {
                *next = names[i];
                *p = at + n;
                return (size_t)(at - start);
            }
        }
        q = at + 1;
    }
    *p = end;
    return (size_t)(end - start);
}

static void check_contact(const hl_cdr_call_t *call, const hl_cdr_agents_t *agents, long hangup)
{
    json_t *j = hl_cdr_call_contact(call, "asterisk", agents, hangup);
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    hl_contact_t *c = NULL;
    hl_contact_error_t err;
    int rc;

    if (text == NULL)
        abort();
    rc = hl_contact_parse(text, strlen(text), &c, &err);
    if (rc != HL_OK) {
        fprintf(stderr, "fuzz_cdr: the codec refuses call %s: %s at %s: %s\n%s\n", call->key,
                rc == HL_EINVAL ? err.code : "?", rc == HL_EINVAL && err.has_field ? err.field : "",
                rc == HL_EINVAL ? err.message : "", text);
        abort();
    }
    hl_contact_free(c);
    free(text);
    json_decref(j);
}

static void take_calls(hl_cdr_calls_t *calls, double now, bool flush, const hl_cdr_agents_t *agents,
                       size_t *legs_out)
{
    hl_cdr_call_t call;

    while (hl_cdr_calls_take(calls, now, 2.0, flush, &call)) {
        if (call.n_legs == 0 || call.first_offset >= call.last_offset)
            abort();
        *legs_out += call.n_legs;
        check_contact(&call, agents, 5);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len;
    uint8_t *in = fuzz_expand(data, size, &len);
    const char *p = (const char *)in, *end = p + len, *eol = memchr(p, '\n', len), *csv, *name;
    char spec[256], err[HL_CDR_PATH_MAX + 160];
    hl_cdr_columns_t cols;
    hl_cdr_record_t *rec = malloc(sizeof(*rec));
    hl_cdr_agents_t *agents = NULL;
    hl_cdr_calls_t *calls = NULL;
    size_t csv_len, legs_in = 0, legs_out = 0, lineno = 0;
    bool utc = false;

    if (rec == NULL || eol == NULL || (size_t)(eol - p) >= sizeof(spec))
        goto out;
    memcpy(spec, p, (size_t)(eol - p));
    spec[eol - p] = '\0';
    if (strncmp(spec, "utc:", 4) == 0) {
        utc = true;
        memmove(spec, spec + 4, strlen(spec + 4) + 1);
    }
    if (hl_cdr_columns_parse(spec, &cols, err, sizeof(err)) != HL_OK) {
        if (err[0] == '\0')
            abort();
        goto out;
    }
    p = eol; /* keep the newline: a section mark starts with one */
    csv = p;
    csv_len = section(&p, end, &name);
    while (name != NULL) {
        const char *body = p, *this = name;
        size_t n = section(&p, end, &name);
        char path[64];
        int fd = memfile(body, n, path);
        if (fd < 0)
            abort();
        if (strcmp(this, "agents") == 0 && agents == NULL) {
            if (hl_cdr_agents_load(path, &agents, err, sizeof(err)) != HL_OK && err[0] == '\0')
                abort();
        } else if (strcmp(this, "state") == 0) {
            hl_cdr_state_t st;
            if (hl_cdr_state_init(&st) != HL_OK)
                abort();
            if (hl_cdr_state_load(path, &st, err, sizeof(err)) == HL_OK && st.n_done > HL_CDR_STATE_MAX_DONE)
                abort();
            hl_cdr_state_clear(&st);
        }
        close(fd);
    }
    if (hl_cdr_calls_new(&calls) != HL_OK)
        abort();
    for (const char *q = csv, *qend = csv + csv_len; q < qend; lineno++) {
        const char *nl = memchr(q, '\n', (size_t)(qend - q));
        const char *line_end = nl != NULL ? nl : qend;
        size_t n = (size_t)(line_end - q);
        uint64_t start = (uint64_t)(q - csv), stop = (uint64_t)(line_end - csv) + (nl != NULL);
        hl_cdr_leg_t leg;

        q = nl != NULL ? nl + 1 : qend;
        if (n == 0 || (n == 1 && line_end[-1] == '\r'))
            continue;
        err[0] = '\0';
        if (hl_cdr_record_parse(line_end - n, n, &cols, rec, err, sizeof(err)) != HL_OK) {
            if (err[0] == '\0')
                abort();
            continue;
        }
        for (size_t f = 0; f < HL_CDR_N_FIELDS; f++)
            if (rec->f[f][0] != '\0' && (rec->f[f] < rec->buf || rec->f[f] >= rec->buf + sizeof(rec->buf)))
                abort();
        if (hl_cdr_leg_from_record(rec, utc, &leg, err, sizeof(err)) != HL_OK) {
            if (err[0] == '\0')
                abort();
            continue;
        }
        if (hl_cdr_calls_add(calls, &leg, start, stop, (double)lineno) != HL_OK)
            abort();
        legs_in++;
        take_calls(calls, (double)lineno, false, agents, &legs_out);
    }
    take_calls(calls, (double)lineno, true, agents, &legs_out);
    if (legs_in != legs_out || hl_cdr_calls_pending(calls) != 0 ||
        hl_cdr_calls_min_offset(calls) != UINT64_MAX)
        abort();
out:
    hl_cdr_calls_free(calls);
    hl_cdr_agents_free(agents);
    free(rec);
    free(in);
    return 0;
}
