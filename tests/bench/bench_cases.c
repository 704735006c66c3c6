/*
 * bench-cases: latencies of the case and list routes against a live helplined whose helpline
 * holds a million contacts and 100,000 cases (tests/bench/bench_cases.sh loads them and starts
 * the daemon; this program measures over HTTP with libcurl, keep-alive connections).
 *
 *   bench_cases --url http://127.0.0.1:PORT --token TOKEN [--requests N] [--warmup N]
 *               [--seconds S] [--warmup-seconds S] [--concurrency C] [--entries E]
 *               [--daemon-pid PID] [--postmaster-pid PID]
 *
 * TOKEN is a counsellor's ("me"). First, through the API, a case of theirs gets a timeline of
 * E entries (default 200): the case's first status entry, 20 of their contacts linked, 10
 * referrals each with one change of state, and notes for the rest, so that every sealed field
 * of it is real. Then, one request at a time, N measured requests (after W not counted) of
 *
 *   GET /v1/cases?status=open&assigned_to=me      (first page, 50 items)
 *   GET /v1/contacts?counsellor=me                (first page, 50 items)
 *   GET /v1/cases/{id}                            (the E-entry timeline, sealed fields opened)
 *
 * and then POST /v1/cases/{id}/notes from C connections at once for S seconds (after S'
 * not counted), each note to one of the counsellor's open or in-progress cases picked at
 * random from the connection's share of them (no two connections write to the same case).
 * With --daemon-pid and --postmaster-pid, the CPU time helplined and PostgreSQL's processes
 * (the postmaster's children) spent per request of each kind, warm-up requests included. Prints
 * p50/p95/p99/max per request, one "RESULT" line each, and PASS or MISS per target of issue 16. Exit 1 on an
 * error (a non-2xx answer, a transport error, a reply that is not what the set-up made), not on a missed
 * target.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_latency.h"

#define LINKS      20 /* contacts linked to the timeline case */
#define REFERRALS  10 /* each with one change of state: two entries */
#define MAX_CASES  400
#define ID_LEN     36
#define NOTE_WORDS 12

static struct {
    const char *url;
    const char *token;
    int requests;
    int warmup;
    double seconds;
    double warmup_seconds;
    int concurrency;
    int entries;
    long daemon_pid;     /* 0: no CPU figures */
    long postmaster_pid; /* 0: no CPU figures for PostgreSQL */
} opt = {
    .requests = 1000, .warmup = 100, .seconds = 10, .warmup_seconds = 2, .concurrency = 16, .entries = 200};

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "bench_cases: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- one keep-alive connection ------------------------------------------------------------ */

typedef struct http {
    CURL *curl;
    struct curl_slist *plain; /* Authorization */
    struct curl_slist *json;  /* Authorization, Content-Type */
    char *body;               /* the last reply's body, NUL-terminated */
    size_t len, cap;
} http_t;

static size_t collect(void *p, size_t size, size_t n, void *arg)
{
    http_t *h = arg;
    size_t k = size * n;

    if (h->len + k + 1 > h->cap) {
        size_t cap = h->cap ? h->cap : 65536;
        while (h->len + k + 1 > cap)
            cap *= 2;
        char *b = realloc(h->body, cap);
        if (b == NULL)
            return 0;
        h->body = b;
        h->cap = cap;
    }
    memcpy(h->body + h->len, p, k);
    h->len += k;
    h->body[h->len] = '\0';
    return k;
}

static void http_init(http_t *h)
{
    char auth[512];

    memset(h, 0, sizeof(*h));
    if ((h->curl = curl_easy_init()) == NULL)
        die("%s", "curl_easy_init failed");
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", opt.token);
    h->plain = curl_slist_append(NULL, auth);
    h->json = curl_slist_append(curl_slist_append(NULL, auth), "Content-Type: application/json");
    if (h->plain == NULL || h->json == NULL)
        die("%s", "out of memory");
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->curl, CURLOPT_TCP_NODELAY, 1L);
}

static void http_free(http_t *h)
{
    curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->plain);
    curl_slist_free_all(h->json);
    free(h->body);
}

/* METHOD PATH with BODY (JSON, or NULL for none); the status, -1 on a transport error. */
static long http_do(http_t *h, const char *method, const char *path, const char *body)
{
    char url[1024];
    long status = 0;

    snprintf(url, sizeof(url), "%s%s", opt.url, path);
    h->len = 0;
    if (h->body != NULL)
        h->body[0] = '\0';
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    if (body == NULL) {
        curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->plain);
    } else {
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->json);
    }
    curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, strcmp(method, "GET") == 0 ? NULL : method);
    if (curl_easy_perform(h->curl) != CURLE_OK)
        return -1;
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* As http_do with BODY (taken), for the set-up: an answer other than WANT, or one that is not
 * JSON, is fatal; the reply parsed. */
static json_t *must(http_t *h, const char *method, const char *path, json_t *body, long want)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    long status;
    json_t *reply;

    if (body != NULL && text == NULL)
        die("%s", "out of memory");
    status = http_do(h, method, path, text);
    free(text);
    json_decref(body);
    if (status != want)
        die("%s %s answered %ld (wanted %ld): %.300s", method, path, status, want, h->body ? h->body : "");
    if ((reply = json_loads(h->body, 0, NULL)) == NULL)
        die("%s %s: the reply is not JSON", method, path);
    return reply;
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    if (s == NULL)
        die("a reply has no \"%s\"", key);
    return s;
}

/* ---- realistic text -------------------------------------------------------------------------- */

static const char *const NOTE_SENTENCES[] = {
    "Called the child back at the agreed time; she answered herself and could talk freely.",
    "The aunt confirmed that the girl stayed with her over the weekend and went to school on Monday.",
    "The school counsellor has met him twice and says he is attending again, though he is withdrawn.",
    "Spoke to the area children's officer, who will visit the family home on Thursday afternoon.",
    "The mother called the line asking what the referral means; explained the process and next steps.",
    "He said the older boys have stopped waiting for him since the teacher moved his seat.",
    "No answer at the agreed time; left no message, as agreed, and will try again tomorrow morning.",
    "The clinic saw her on Tuesday; she has a follow-up appointment in two weeks and medication.",
    "Safety plan reviewed: she knows which neighbour to go to and has the number of the gender desk.",
    "Police statement taken with the social worker present; the officer gave the family a reference.",
    "She says things are calmer at home but she still does not sleep well and has headaches.",
    "Agreed with the supervisor to keep the case open until the court date in the new month.",
};

static uint64_t mix(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

/* A note of 1 to NOTE_WORDS sentences into BUF (CAP bytes). */
static void make_note(uint64_t *rng, char *buf, size_t cap)
{
    size_t n = 1 + mix(rng) % NOTE_WORDS, len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *s = NOTE_SENTENCES[mix(rng) % (sizeof(NOTE_SENTENCES) / sizeof(NOTE_SENTENCES[0]))];
        int k = snprintf(buf + len, cap - len, "%s%s", i ? " " : "", s);
        if (k < 0 || (size_t)k >= cap - len)
            break;
        len += (size_t)k;
    }
}

/* ---- set-up through the API --------------------------------------------------------------- */

static char timeline_case[ID_LEN + 1];
static char note_cases[MAX_CASES][ID_LEN + 1];
static size_t n_note_cases;
static const char FIRST_NOTE_MARK[] = "bench first note: ";

/* The case whose timeline is read: made, linked, referred and noted as a counsellor would. */
static void make_timeline_case(http_t *h)
{
    static const char *const TO[] = {"referral.child_protection",  "referral.healthcare",
                                     "referral.law_enforcement",   "referral.mental_health",
                                     "referral.school_counsellor", "referral.other_organisation"};
    static const char *const STATES[] = {"accepted", "completed", "declined"};
    json_t *r, *contacts, *items, *item, *timeline;
    char path[256], note[2048], mark[2200];
    const char *first_text;
    uint64_t rng = 0x5eed16;
    size_t i, notes;
    double t0 = now();

    if (opt.entries < 1 + LINKS + 2 * REFERRALS + 1)
        die("--entries must be at least %d", 2 + LINKS + 2 * REFERRALS);
    notes = (size_t)opt.entries - 1 - LINKS - 2 * REFERRALS;
    contacts = must(h, "GET", "/v1/contacts?counsellor=me&case=none&limit=20", NULL, 200);
    items = json_object_get(contacts, "items");
    if (json_array_size(items) != LINKS)
        die("the counsellor has %zu contacts in no case, %d needed", json_array_size(items), LINKS);
    r = must(h, "POST", "/v1/cases",
             json_pack("{s:s, s:s, s:s}", "label", "Repeat caller, 14, violence at home and school absence",
                       "summary",
                       "Girl of 14 who has called five times since the start of term. Her stepfather stopped "
                       "paying school fees and she reports being hit when she asks about school. Referred to "
                       "child protection and the school counsellor; follow up weekly until the home visit.",
                       "priority", "high"),
             201);
    snprintf(timeline_case, sizeof(timeline_case), "%s", str(r, "id"));
    json_decref(r);
    json_array_foreach(items, i, item)
    {
        snprintf(path, sizeof(path), "/v1/cases/%s/contacts/%s", timeline_case, str(item, "id"));
        json_decref(must(h, "PUT", path, NULL, 201));
    }
    json_decref(contacts);
    for (i = 0; i < REFERRALS; i++) {
        char rid[ID_LEN + 1];
        snprintf(path, sizeof(path), "/v1/cases/%s/referrals", timeline_case);
        make_note(&rng, note, sizeof(note));
        r = must(h, "POST", path,
                 json_pack("{s:s, s:s, s:s, s:s}", "to", TO[i % 6], "organisation",
                           "County Children's Office, Kisumu East", "details", note, "state", "made"),
                 201);
        snprintf(rid, sizeof(rid), "%s", str(r, "id"));
        json_decref(r);
        snprintf(path, sizeof(path), "/v1/cases/%s/referrals/%s", timeline_case, rid);
        json_decref(must(h, "PATCH", path, json_pack("{s:s}", "state", STATES[i % 3]), 200));
    }
    snprintf(path, sizeof(path), "/v1/cases/%s/notes", timeline_case);
    for (i = 0; i < notes; i++) {
        make_note(&rng, note, sizeof(note));
        snprintf(mark, sizeof(mark), "%s%s", i == 0 ? FIRST_NOTE_MARK : "", note);
        json_decref(must(h, "POST", path, json_pack("{s:s}", "text", mark), 201));
    }
    /* What the measured GET must give: every entry, the first note opened. */
    snprintf(path, sizeof(path), "/v1/cases/%s", timeline_case);
    r = must(h, "GET", path, NULL, 200);
    timeline = json_object_get(r, "timeline");
    if (json_array_size(timeline) != (size_t)opt.entries)
        die("the timeline has %zu entries, not %d", json_array_size(timeline), opt.entries);
    first_text = NULL;
    json_array_foreach(timeline, i, item)
    {
        const char *kind = str(item, "kind"), *text = json_string_value(json_object_get(item, "text"));
        if (strcmp(kind, "note") == 0 && first_text == NULL)
            first_text = text;
    }
    if (first_text == NULL || strncmp(first_text, FIRST_NOTE_MARK, strlen(FIRST_NOTE_MARK)) != 0)
        die("%s", "the timeline's first note did not come back opened");
    json_decref(r);
    printf("set-up: case %s with %d timeline entries (1 status, %d links, %d referrals and %d state changes, "
           "%zu notes) made through the API in %.1f s\n",
           timeline_case, opt.entries, LINKS, REFERRALS, REFERRALS, notes, now() - t0);
}

/* The counsellor's open and in-progress cases, which the notes go to. */
static void collect_note_cases(http_t *h)
{
    static const char *const PATHS[] = {"/v1/cases?assigned_to=me&status=open&limit=200",
                                        "/v1/cases?assigned_to=me&status=in_progress&limit=200"};

    for (size_t p = 0; p < 2; p++) {
        json_t *r = must(h, "GET", PATHS[p], NULL, 200), *item;
        size_t i;
        json_array_foreach(json_object_get(r, "items"), i, item)
        {
            /* not the timeline case: its timeline stays at --entries */
            if (n_note_cases < MAX_CASES && strcmp(str(item, "id"), timeline_case) != 0)
                snprintf(note_cases[n_note_cases++], ID_LEN + 1, "%s", str(item, "id"));
        }
        json_decref(r);
    }
    if (n_note_cases < (size_t)opt.concurrency)
        die("the counsellor has %zu open or in-progress cases, fewer than --concurrency", n_note_cases);
}

/* ---- CPU time, from /proc ---------------------------------------------------------------- */

/* utime + stime of PID in clock ticks (0 when it is gone); its parent into *PPID. */
static unsigned long long proc_ticks(long pid, long *ppid)
{
    char path[64], buf[1024], *p;
    unsigned long long utime = 0, stime = 0;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* after the command name in parentheses (which may hold spaces): fields 3 (state) on */
    if ((p = strrchr(buf, ')')) == NULL ||
        sscanf(p + 1, " %*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", ppid, &utime, &stime) != 3)
        return 0;
    return utime + stime;
}

/* CPU seconds of helplined and of PostgreSQL's server processes so far. */
static void cpu_now(double *daemon, double *pg)
{
    double hz = (double)sysconf(_SC_CLK_TCK);
    unsigned long long pg_ticks = 0;
    long ppid;
    DIR *d;
    struct dirent *e;

    *daemon = opt.daemon_pid > 0 ? (double)proc_ticks(opt.daemon_pid, &ppid) / hz : 0;
    *pg = 0;
    if (opt.postmaster_pid <= 0 || (d = opendir("/proc")) == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        long pid = strtol(e->d_name, NULL, 10);
        unsigned long long t;
        if (pid <= 0)
            continue;
        ppid = 0;
        t = proc_ticks(pid, &ppid);
        if (pid == opt.postmaster_pid || ppid == opt.postmaster_pid)
            pg_ticks += t;
    }
    closedir(d);
    *pg = (double)pg_ticks / hz;
}

/* ---- measures --------------------------------------------------------------------------------- */

typedef struct result {
    const char *name;
    hl_bench_lat_t lat;
    double rate; /* requests per second (concurrent runs) */
    size_t bytes;
    size_t items;
    unsigned long sent;        /* requests made, warm-up included */
    double daemon_cpu, pg_cpu; /* seconds over those */
} result_t;

static void cpu_begin(result_t *r)
{
    cpu_now(&r->daemon_cpu, &r->pg_cpu);
}

static void cpu_end(result_t *r)
{
    double daemon, pg;

    cpu_now(&daemon, &pg);
    r->daemon_cpu = daemon - r->daemon_cpu;
    r->pg_cpu = pg - r->pg_cpu;
}

/* Items in a list's reply, or entries in a case's timeline. */
static size_t count_items(const char *body)
{
    json_t *r = json_loads(body, 0, NULL);
    json_t *a = json_object_get(r, "items");
    size_t n;

    if (a == NULL)
        a = json_object_get(r, "timeline");
    n = json_array_size(a);
    json_decref(r);
    return n;
}

/* PATH, one request at a time: opt.warmup not counted, then opt.requests measured. */
static void measure_get(http_t *h, const char *path, result_t *out)
{
    cpu_begin(out);
    for (int i = 0; i < opt.warmup + opt.requests; i++) {
        double t0 = now();
        long status = http_do(h, "GET", path, NULL);
        double t1 = now();
        if (status != 200)
            die("GET %s answered %ld: %.300s", path, status, h->body ? h->body : "");
        if (i >= opt.warmup)
            hl_bench_lat_add(&out->lat, t1 - t0);
    }
    cpu_end(out);
    out->sent = (unsigned long)(opt.warmup + opt.requests);
    out->bytes = h->len;
    out->items = count_items(h->body);
    hl_bench_lat_sort(&out->lat);
}

static double t_measure, t_end;
static atomic_int stopping;

typedef struct worker {
    pthread_t thread;
    int index;
    hl_bench_lat_t lat;
    unsigned long sent;
    char error[512];
} worker_t;

static void *note_worker(void *arg)
{
    worker_t *w = arg;
    http_t h;
    uint64_t rng = UINT64_C(0x9E3779B97F4A7C15) * (uint64_t)(w->index + 1);
    char note[2048], path[256];
    size_t per_worker = n_note_cases / (size_t)opt.concurrency; /* >= 1: collect_note_cases() */
    json_t *body;
    char *text;

    http_init(&h);
    while (!atomic_load(&stopping) && w->error[0] == '\0') {
        make_note(&rng, note, sizeof(note));
        /* Connection i writes to cases i, i + C, i + 2C, ...: as 16 counsellors would, each to
         * their own cases, none waiting for another's lock on the case row. */
        snprintf(path, sizeof(path), "/v1/cases/%s/notes",
                 note_cases[(size_t)w->index + (size_t)opt.concurrency * (mix(&rng) % per_worker)]);
        body = json_pack("{s:s}", "text", note);
        text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        if (text == NULL) {
            snprintf(w->error, sizeof(w->error), "out of memory");
            break;
        }
        double t0 = now();
        long status = http_do(&h, "POST", path, text);
        double t1 = now();
        free(text);
        w->sent++;
        if (status != 201)
            snprintf(w->error, sizeof(w->error), "POST %s answered %ld: %.300s", path, status,
                     h.body != NULL ? h.body : "");
        else if (t1 >= t_measure && t1 <= t_end)
            hl_bench_lat_add(&w->lat, t1 - t0);
    }
    http_free(&h);
    return NULL;
}

static void measure_notes(result_t *out)
{
    worker_t *w = calloc((size_t)opt.concurrency, sizeof(*w));
    double t0 = now();
    struct timespec ts;

    if (w == NULL)
        die("%s", "out of memory");
    cpu_begin(out);
    t_measure = t0 + opt.warmup_seconds;
    t_end = t_measure + opt.seconds;
    for (int i = 0; i < opt.concurrency; i++) {
        w[i].index = i;
        if (pthread_create(&w[i].thread, NULL, note_worker, &w[i]) != 0)
            die("%s", "pthread_create failed");
    }
    ts.tv_sec = (time_t)(opt.warmup_seconds + opt.seconds);
    ts.tv_nsec = (long)((opt.warmup_seconds + opt.seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    atomic_store(&stopping, 1);
    for (int i = 0; i < opt.concurrency; i++) {
        pthread_join(w[i].thread, NULL);
        if (w[i].error[0] != '\0')
            die("notes, connection %d: %s", i, w[i].error);
        out->sent += w[i].sent;
        hl_bench_lat_merge(&out->lat, &w[i].lat);
        hl_bench_lat_free(&w[i].lat);
    }
    cpu_end(out);
    free(w);
    hl_bench_lat_sort(&out->lat);
    out->rate = (double)out->lat.n / opt.seconds;
}

/* ---- report ---------------------------------------------------------------------------------- */

/* CPU milliseconds per request made. */
static double per_request(double seconds, const result_t *r)
{
    return r->sent > 0 ? seconds * 1e3 / (double)r->sent : 0;
}

static void row(const result_t *r, const char *shape)
{
    printf("%-44s %6zu %7.2f %7.2f %7.2f %7.2f %9.2f %8.2f  %s\n", r->name, r->lat.n,
           hl_bench_lat_ms(&r->lat, 0.5), hl_bench_lat_ms(&r->lat, 0.95), hl_bench_lat_ms(&r->lat, 0.99),
           hl_bench_lat_ms(&r->lat, 1), per_request(r->daemon_cpu, r), per_request(r->pg_cpu, r), shape);
}

static void result_line(const char *key, const result_t *r)
{
    printf("RESULT %s requests=%zu p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f max_ms=%.2f rate=%.1f"
           " daemon_cpu_ms=%.3f pg_cpu_ms=%.3f\n",
           key, r->lat.n, hl_bench_lat_ms(&r->lat, 0.5), hl_bench_lat_ms(&r->lat, 0.95),
           hl_bench_lat_ms(&r->lat, 0.99), hl_bench_lat_ms(&r->lat, 1), r->rate,
           per_request(r->daemon_cpu, r), per_request(r->pg_cpu, r));
}

static void verdict(const char *what, double p99, double target)
{
    printf("%s  %s: p99 %.2f ms, target under %.0f ms\n", p99 < target ? "PASS" : "MISS", what, p99, target);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_cases --url http://HOST:PORT --token TOKEN [--requests N] [--warmup N]"
                    " [--seconds S] [--warmup-seconds S] [--concurrency C] [--entries E]"
                    " [--daemon-pid PID] [--postmaster-pid PID]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    result_t cases = {.name = "GET /v1/cases?status=open&assigned_to=me"},
             contacts = {.name = "GET /v1/contacts?counsellor=me"}, timeline = {.name = NULL},
             notes = {.name = NULL};
    char path[256], tl_name[64], notes_name[64], shape[4][64];
    http_t h;

    for (int i = 1; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            usage();
        if (strcmp(argv[i], "--url") == 0)
            opt.url = v;
        else if (strcmp(argv[i], "--token") == 0)
            opt.token = v;
        else if (strcmp(argv[i], "--requests") == 0)
            opt.requests = atoi(v);
        else if (strcmp(argv[i], "--warmup") == 0)
            opt.warmup = atoi(v);
        else if (strcmp(argv[i], "--seconds") == 0)
            opt.seconds = atof(v);
        else if (strcmp(argv[i], "--warmup-seconds") == 0)
            opt.warmup_seconds = atof(v);
        else if (strcmp(argv[i], "--concurrency") == 0)
            opt.concurrency = atoi(v);
        else if (strcmp(argv[i], "--entries") == 0)
            opt.entries = atoi(v);
        else if (strcmp(argv[i], "--daemon-pid") == 0)
            opt.daemon_pid = strtol(v, NULL, 10);
        else if (strcmp(argv[i], "--postmaster-pid") == 0)
            opt.postmaster_pid = strtol(v, NULL, 10);
        else
            usage();
    }
    if (opt.url == NULL || opt.token == NULL || opt.requests < 1 || opt.warmup < 0 || opt.seconds <= 0 ||
        opt.warmup_seconds < 0 || opt.concurrency < 1 || opt.concurrency > 256 || opt.entries < 1)
        usage();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        die("%s", "curl_global_init failed");
    http_init(&h);
    make_timeline_case(&h);
    collect_note_cases(&h);

    measure_get(&h, "/v1/cases?status=open&assigned_to=me", &cases);
    measure_get(&h, "/v1/contacts?counsellor=me", &contacts);
    snprintf(path, sizeof(path), "/v1/cases/%s", timeline_case);
    snprintf(tl_name, sizeof(tl_name), "GET /v1/cases/{id} (%d entries)", opt.entries);
    timeline.name = tl_name;
    measure_get(&h, path, &timeline);
    http_free(&h);
    snprintf(notes_name, sizeof(notes_name), "POST /v1/cases/{id}/notes, concurrency %d", opt.concurrency);
    notes.name = notes_name;
    measure_notes(&notes);

    snprintf(shape[0], sizeof(shape[0]), "%zu items, %zu bytes", cases.items, cases.bytes);
    snprintf(shape[1], sizeof(shape[1]), "%zu items, %zu bytes", contacts.items, contacts.bytes);
    snprintf(shape[2], sizeof(shape[2]), "%zu entries, %zu bytes", timeline.items, timeline.bytes);
    snprintf(shape[3], sizeof(shape[3]), "%.0f notes/s over %zu cases", notes.rate, n_note_cases);
    printf("\n%-44s %6s %7s %7s %7s %7s %9s %8s  %s\n", "", "", "", "", "", "", "CPU ms per request", "", "");
    printf("%-44s %6s %7s %7s %7s %7s %9s %8s  %s\n", "request", "n", "p50 ms", "p95 ms", "p99 ms", "max ms",
           "helplined", "postgres", "reply");
    row(&cases, shape[0]);
    row(&contacts, shape[1]);
    row(&timeline, shape[2]);
    row(&notes, shape[3]);
    result_line("cases_list", &cases);
    result_line("contacts_list", &contacts);
    result_line("timeline", &timeline);
    result_line("notes", &notes);
    verdict(cases.name, hl_bench_lat_ms(&cases.lat, 0.99), 20);
    verdict(contacts.name, hl_bench_lat_ms(&contacts.lat, 0.99), 20);
    verdict(timeline.name, hl_bench_lat_ms(&timeline.lat, 0.99), 10);
    verdict(notes.name, hl_bench_lat_ms(&notes.lat, 0.99), 20);
    hl_bench_lat_free(&cases.lat);
    hl_bench_lat_free(&contacts.lat);
    hl_bench_lat_free(&timeline.lat);
    hl_bench_lat_free(&notes.lat);
    curl_global_cleanup();
    return 0;
}
