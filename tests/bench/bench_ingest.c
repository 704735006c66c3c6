/*
 * Load generator for `make bench-ingest` (tests/bench/bench_ingest.sh runs it against a live
 * helplined). N keep-alive HTTP/1.1 connections, one thread each, one request in flight per
 * connection, each request a realistic POST /v1/contacts: unique source id, varied channel,
 * contact type, child and caller, a caller phone (one in five from a small pool, so repeat
 * callers happen), names, a ~1 KiB summary (sometimes with a Luxembourg Guidelines term) and
 * 1-3 leaf categories read from taxonomy/categories.json.
 *
 *   bench_ingest --url HOST:PORT --token TOKEN [--concurrency N] [--seconds S] [--warmup S]
 *                [--categories FILE] [--twin HOST:PORT] [--contacts N]
 *
 * Requests completed during the warmup are not counted; after it, every latency is recorded
 * and sorted at the end. Prints a human line and a machine line ("RESULT key=value ...").
 * Exit 1 when any answer was not 2xx (the first error body is printed).
 *
 * --twin: every contact also goes to a second daemon (on the same database) at the same time,
 * over a second connection of the same worker: both requests are sent, then both answers read.
 * Both must be 2xx with the same "id" (a mismatch counts as an error); a latency is the pair's.
 * --contacts N: stop after N contacts instead of after --seconds (no warm-up; the rate is over
 * the whole run). tests/bench/bench_scaleout.sh uses both.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bench_latency.h"

#ifndef HL_TEST_SRCDIR
#define HL_TEST_SRCDIR "."
#endif

#define SUMMARY_BYTES  1024
#define PHONE_POOL     400
#define MAX_CATEGORIES 512
#define RESP_CAP       65536
#define REQ_CAP        8192

/* ---- options and shared state ------------------------------------------------------------ */

static struct {
    char host[256];
    char port[16];
    const char *token;
    int concurrency;
    double seconds;
    double warmup;
    const char *categories_file;
    char twin_host[256]; /* "" unless --twin */
    char twin_port[16];
    unsigned long contacts; /* 0: run for --seconds */
} opt = {.concurrency = 1,
         .seconds = 10,
         .warmup = 2,
         .categories_file = HL_TEST_SRCDIR "/taxonomy/categories.json"};

static char *leaf_codes[MAX_CATEGORIES];
static size_t n_leaf_codes;
static char phone_pool[PHONE_POOL][16];
static unsigned long run_nonce;

static double t_start, t_measure, t_end;
static atomic_int stopping;
static atomic_ulong non2xx, spooled, id_mismatch, contacts_begun;
static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;
static char first_error[1024];

typedef struct worker {
    int index;
    pthread_t thread;
    uint64_t rng;
    hl_bench_lat_t lat; /* latencies of requests completed in the measuring window */
    unsigned long sent;
    int failed; /* transport error: the run is invalid */
} worker_t;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "bench_ingest: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

/* xorshift64*: cheap and good enough for picking words. */
static uint64_t rnd(worker_t *w)
{
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return w->rng * UINT64_C(2685821657736338717);
}

static size_t pick(worker_t *w, size_t n)
{
    return (size_t)(rnd(w) % n);
}

/* ---- realistic contacts ------------------------------------------------------------------ */

static const char *const CHANNELS[] = {"phone", "phone",         "phone",        "sms",   "chat",
                                       "chat",  "messaging_app", "social_media", "email", "walk_in"};
static const char *const TYPES[] = {"counselling", "counselling", "counselling", "information", "referral"};
static const char *const GENDERS[] = {"girl", "boy", "girl", "boy", "non_binary", "unknown"};
static const char *const REGIONS[] = {"urban", "town", "rural", "unknown"};
static const char *const RELATIONS[] = {"self",     "self",    "self",   "parent",  "caregiver",
                                        "relative", "sibling", "friend", "teacher", "neighbour"};
static const char *const URGENCIES[] = {"non_critical", "non_critical", "urgent", "critical"};
static const char *const FIRST[] = {"Amina",  "Wanjiru", "Otieno", "Achieng", "Kamau",    "Njeri",  "Mwangi",
                                    "Akinyi", "Baraka",  "Zawadi", "Imani",   "Juma",     "Fatuma", "Hassan",
                                    "Chebet", "Kiprop",  "Nafula", "Wekesa",  "Adhiambo", "Mutua"};
static const char *const LAST[] = {"Ochieng", "Wambui",  "Kariuki", "Odhiambo", "Mohamed", "Kiplagat",
                                   "Njoroge", "Muthoni", "Omondi",  "Wafula",   "Kimani",  "Atieno"};
static const char *const COUNSELLORS[] = {"amina", "brian", "grace", "peter", "lucy", "david"};
static const char *const SENTENCES[] = {
    "The child called from a neighbour's phone and spoke quietly because an adult was in the next room.",
    "She said that she has not been to school for two weeks since her stepfather stopped paying the fees.",
    "He described being pushed and insulted by older boys on the way home from the market every evening.",
    "The caller was worried about her younger brother, who has been staying out late and refuses to talk.",
    "The counsellor listened, reflected her feelings back and asked whether she felt safe at home tonight.",
    "We agreed on a safety plan: she will stay with her aunt this weekend and call back on Monday morning.",
    "The boy said that his teacher beats pupils who arrive late and that he is afraid to go back to class.",
    "She reported headaches, trouble sleeping and feeling that nobody in the family listens to her at all.",
    "The mother asked how to report a man in the village who offers money to children for running errands.",
    "The child mentioned that an online friend asked for photos and threatened to share earlier messages.",
    "A referral to the area children's officer was discussed and the caller consented to being followed up.",
    "He has been sleeping at a friend's house since a fight with his father and has no money for food.",
    "The counsellor explained the caller's options and gave the number of the nearest police gender desk.",
    "She said that she was told she would be married after the harvest and that she wants to stay in school.",
    "The call ended when the line dropped; the counsellor noted the time and flagged the case for review.",
};
static const char *const TERMS[] = {
    " The caller described what sounded like grooming by an adult she met on a gaming site.",
    " The mother said that the man kept child pornography on his phone and showed it to the boys.",
    " The counsellor noted signs of grooming: gifts, secrecy and requests to meet alone after school.",
};

typedef struct buf {
    char *p;
    size_t len, cap;
} buf_t;

static void put(buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (b->p == NULL)
            die("%s", "out of memory");
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(buf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void putf(buf_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        die("%s", "formatting overflow");
    put(b, tmp, (size_t)n);
}

static void rfc3339(time_t t, char out[32])
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The JSON body of one contact, into B (reset first). */
static void make_contact(worker_t *w, unsigned long seq, buf_t *b)
{
    size_t n_cat = 1 + pick(w, 3), cats[3];
    /* Front ends post a contact minutes after it ended: started within the last two hours. */
    time_t started = time(NULL) - 2400 - (time_t)pick(w, 4800);
    char ts0[32], ts1[32];
    size_t start_len;

    b->len = 0;
    rfc3339(started, ts0);
    rfc3339(started + 60 + (time_t)pick(w, 1800), ts1);
    putf(b, "{\"source\":{\"system\":\"bench\",\"id\":\"%lx-%d-%lu\"},", run_nonce, w->index, seq);
    putf(b, "\"channel\":\"%s\",\"contact_type\":\"%s\",", CHANNELS[pick(w, 10)], TYPES[pick(w, 5)]);
    putf(b, "\"started_at\":\"%s\",\"ended_at\":\"%s\",\"counsellor\":\"%s\",", ts0, ts1,
         COUNSELLORS[pick(w, 6)]);
    putf(b, "\"child\":{\"age\":%zu,\"gender\":\"%s\",\"region\":\"%s\",\"name\":\"%s %s\"},",
         6 + pick(w, 12), GENDERS[pick(w, 6)], REGIONS[pick(w, 4)], FIRST[pick(w, 20)], LAST[pick(w, 12)]);
    if (pick(w, 5) == 0) {
        puts_(b, "\"caller\":{\"relationship\":\"self\",\"phone\":\"");
        puts_(b, phone_pool[pick(w, PHONE_POOL)]);
    } else {
        putf(b, "\"caller\":{\"relationship\":\"%s\",\"phone\":\"+2547%08llu", RELATIONS[pick(w, 10)],
             (unsigned long long)pick(w, 100000000));
    }
    putf(b, "\",\"name\":\"%s %s\"},", FIRST[pick(w, 20)], LAST[pick(w, 12)]);
    puts_(b, "\"categories\":[");
    for (size_t i = 0; i < n_cat; i++) {
        size_t c;
        bool again;
        do { /* distinct codes */
            c = pick(w, n_leaf_codes);
            again = false;
            for (size_t j = 0; j < i; j++)
                again |= cats[j] == c;
        } while (again);
        cats[i] = c;
        putf(b, "%s\"%s\"", i ? "," : "", leaf_codes[c]);
    }
    putf(b, "],\"urgency\":\"%s\",\"summary\":\"", URGENCIES[pick(w, 4)]);
    start_len = b->len;
    if (pick(w, 10) == 0)
        puts_(b, TERMS[pick(w, 3)] + 1);
    while (b->len - start_len < SUMMARY_BYTES) {
        if (b->len > start_len)
            put(b, " ", 1);
        puts_(b, SENTENCES[pick(w, sizeof(SENTENCES) / sizeof(SENTENCES[0]))]);
    }
    /* Trim to exactly SUMMARY_BYTES (ASCII only, no escapes), on a non-space. */
    b->len = start_len + SUMMARY_BYTES;
    while (b->p[b->len - 1] == ' ')
        b->len--;
    b->p[b->len] = '\0';
    puts_(b, "\"}");
}

/* ---- a minimal keep-alive HTTP/1.1 client ----------------------------------------------- */

static int connect_to(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int fd = -1, one = 1;

    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return -1;
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    freeaddrinfo(ai);
    return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

typedef struct resp {
    int status;
    bool close;
    const char *body;
    size_t body_len;
} resp_t;

/* Reads one response into BUF (RESP_CAP bytes). 0 ok, -1 transport or framing error. */
static int read_response(int fd, char *buf, resp_t *r)
{
    size_t have = 0, head_len = 0, content_length = 0;
    char *eoh = NULL;

    for (;;) {
        ssize_t k;
        if (eoh == NULL && have > 0) {
            buf[have] = '\0';
            eoh = strstr(buf, "\r\n\r\n");
            if (eoh != NULL) {
                head_len = (size_t)(eoh - buf) + 4;
                if (sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1)
                    return -1;
                r->close = false;
                content_length = 0;
                for (char *line = strstr(buf, "\r\n") + 2; line < eoh; line = strstr(line, "\r\n") + 2) {
                    if (strncasecmp(line, "content-length:", 15) == 0)
                        content_length = strtoul(line + 15, NULL, 10);
                    else if (strncasecmp(line, "connection:", 11) == 0 && strstr(line, "close") != NULL)
                        r->close = true;
                }
                if (head_len + content_length >= RESP_CAP)
                    return -1;
            }
        }
        if (eoh != NULL && have >= head_len + content_length)
            break;
        k = recv(fd, buf + have, RESP_CAP - 1 - have, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        have += (size_t)k;
    }
    buf[head_len + content_length] = '\0';
    r->body = buf + head_len;
    r->body_len = content_length;
    return 0;
}

/* Counts an answer that is not 2xx (the first one is kept for the report) and a 202. */
static void check_answer(const resp_t *r)
{
    if (r->status == 202)
        atomic_fetch_add(&spooled, 1);
    if (r->status >= 200 && r->status <= 299)
        return;
    if (atomic_fetch_add(&non2xx, 1) == 0) {
        pthread_mutex_lock(&err_mu);
        snprintf(first_error, sizeof(first_error), "HTTP %d: %.*s", r->status, (int)r->body_len, r->body);
        pthread_mutex_unlock(&err_mu);
    }
}

/* The "id" of a 2xx reply ("" when there is none). */
static void reply_id(const resp_t *r, char id[40])
{
    const char *at = strstr(r->body, "\"id\":\"");

    snprintf(id, 40, "%.36s", at != NULL ? at + 6 : "");
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    buf_t body = {0}, req = {0};
    int n_conn = opt.twin_host[0] != '\0' ? 2 : 1;
    char *resp[2] = {malloc(RESP_CAP), malloc(RESP_CAP)};
    int fd[2] = {-1, -1};

    if (resp[0] == NULL || resp[1] == NULL)
        die("%s", "out of memory");
    while (!atomic_load(&stopping) && !w->failed) {
        resp_t r[2];
        double t0, t1;
        bool lost = false;

        if (opt.contacts > 0 && atomic_fetch_add(&contacts_begun, 1) >= opt.contacts)
            break;
        for (int k = 0; k < n_conn && !w->failed; k++)
            if (fd[k] < 0 && (fd[k] = connect_to(k == 0 ? opt.host : opt.twin_host,
                                                 k == 0 ? opt.port : opt.twin_port)) < 0)
                w->failed = 1;
        if (w->failed)
            break;
        make_contact(w, w->sent++, &body);
        req.len = 0;
        putf(&req,
             "POST /v1/contacts HTTP/1.1\r\nHost: %s:%s\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
             opt.host, opt.port, opt.token, body.len);
        put(&req, body.p, body.len);
        t0 = now();
        /* Both requests leave before either answer is read: the twins race for the source. */
        for (int k = 0; k < n_conn; k++)
            lost |= write_all(fd[k], req.p, req.len) != 0;
        for (int k = 0; k < n_conn && !lost; k++)
            lost |= read_response(fd[k], resp[k], &r[k]) != 0;
        if (lost) {
            if (atomic_load(&stopping))
                break;
            fprintf(stderr, "bench_ingest: connection %d: transport error (%s)\n", w->index,
                    errno ? strerror(errno) : "closed or malformed");
            w->failed = 1;
            break;
        }
        t1 = now();
        for (int k = 0; k < n_conn; k++)
            check_answer(&r[k]);
        if (n_conn == 2 && r[0].status / 100 == 2 && r[1].status / 100 == 2) {
            char id0[40], id1[40];
            reply_id(&r[0], id0);
            reply_id(&r[1], id1);
            if ((id0[0] == '\0' || strcmp(id0, id1) != 0) && atomic_fetch_add(&id_mismatch, 1) == 0) {
                pthread_mutex_lock(&err_mu);
                snprintf(first_error, sizeof(first_error), "the twins answered ids \"%s\" and \"%s\"", id0,
                         id1);
                pthread_mutex_unlock(&err_mu);
            }
        }
        if (t1 >= t_measure && t1 <= t_end)
            hl_bench_lat_add(&w->lat, t1 - t0);
        for (int k = 0; k < n_conn; k++) {
            if (r[k].close) {
                close(fd[k]);
                fd[k] = -1;
            }
        }
    }
    for (int k = 0; k < 2; k++) {
        if (fd[k] >= 0)
            close(fd[k]);
        free(resp[k]);
    }
    free(body.p);
    free(req.p);
    return NULL;
}

/* ---- set-up and report ------------------------------------------------------------------- */

static void load_categories(void)
{
    json_error_t jerr;
    json_t *root = json_load_file(opt.categories_file, 0, &jerr), *cats, *c;
    size_t i;

    if (root == NULL)
        die("cannot read the categories: %s", jerr.text);
    cats = json_object_get(root, "categories");
    if (!json_is_array(cats))
        die("%s: no categories array", opt.categories_file);
    /* Leaves: codes that are no one's parent; counselling contacts, so not non_counselling.* */
    json_array_foreach(cats, i, c)
    {
        const char *code = json_string_value(json_object_get(c, "code"));
        bool parent = false;
        size_t j;
        json_t *d;

        if (code == NULL || strncmp(code, "non_counselling", 15) == 0 || n_leaf_codes == MAX_CATEGORIES)
            continue;
        json_array_foreach(cats, j, d)
        {
            const char *p = json_string_value(json_object_get(d, "parent"));
            parent |= p != NULL && strcmp(p, code) == 0;
        }
        if (!parent && (leaf_codes[n_leaf_codes] = strdup(code)) != NULL)
            n_leaf_codes++;
    }
    json_decref(root);
    if (n_leaf_codes == 0)
        die("%s: no leaf categories", opt.categories_file);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_ingest --url HOST:PORT --token TOKEN [--concurrency N] [--seconds S]"
                    " [--warmup S] [--categories FILE] [--twin HOST:PORT] [--contacts N]\n");
    exit(2);
}

/* "[http://]HOST:PORT" into HOST and PORT (buffers of 256 and 16 bytes). */
static void split_url(const char *url, char host[256], char port[16])
{
    if (strncmp(url, "http://", 7) == 0)
        url += 7;
    const char *colon = strrchr(url, ':');
    if (colon == NULL || (size_t)(colon - url) >= 256 || strlen(colon + 1) >= 16)
        usage();
    memcpy(host, url, (size_t)(colon - url));
    host[colon - url] = '\0';
    snprintf(port, 16, "%s", colon + 1);
}

static void parse_args(int argc, char **argv)
{
    const char *url = NULL, *twin = NULL;

    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            usage();
        if (strcmp(argv[i], "--url") == 0)
            url = v;
        else if (strcmp(argv[i], "--token") == 0)
            opt.token = v;
        else if (strcmp(argv[i], "--concurrency") == 0)
            opt.concurrency = atoi(v);
        else if (strcmp(argv[i], "--seconds") == 0)
            opt.seconds = atof(v);
        else if (strcmp(argv[i], "--warmup") == 0)
            opt.warmup = atof(v);
        else if (strcmp(argv[i], "--categories") == 0)
            opt.categories_file = v;
        else if (strcmp(argv[i], "--twin") == 0)
            twin = v;
        else if (strcmp(argv[i], "--contacts") == 0)
            opt.contacts = strtoul(v, NULL, 10);
        else
            usage();
        i++;
    }
    if (url == NULL || opt.token == NULL || opt.concurrency < 1 || opt.concurrency > 1024 ||
        opt.seconds <= 0 || opt.warmup < 0)
        usage();
    split_url(url, opt.host, opt.port);
    if (twin != NULL)
        split_url(twin, opt.twin_host, opt.twin_port);
    if (opt.contacts > 0)
        opt.warmup = 0; /* every contact counts */
}

int main(int argc, char **argv)
{
    worker_t *w;
    hl_bench_lat_t all = {0};
    size_t n;
    int failed = 0;
    struct timespec ts;
    double p50, p99, max, rate, elapsed;

    parse_args(argc, argv);
    load_categories();
    clock_gettime(CLOCK_REALTIME, &ts);
    run_nonce =
        (unsigned long)ts.tv_sec * 1000003u ^ (unsigned long)ts.tv_nsec ^ ((unsigned long)getpid() << 20);
    {
        worker_t seed = {.rng = run_nonce | 1};
        for (size_t i = 0; i < PHONE_POOL; i++)
            snprintf(phone_pool[i], sizeof(phone_pool[i]), "+2547%08llu",
                     (unsigned long long)pick(&seed, 100000000));
    }
    w = calloc((size_t)opt.concurrency, sizeof(*w));
    if (w == NULL)
        die("%s", "out of memory");
    t_start = now();
    t_measure = t_start + opt.warmup;
    t_end = opt.contacts > 0 ? INFINITY : t_measure + opt.seconds;
    for (int i = 0; i < opt.concurrency; i++) {
        w[i].index = i;
        w[i].rng = (run_nonce + (uint64_t)i * UINT64_C(0x9E3779B97F4A7C15)) | 1;
        if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0)
            die("%s", "pthread_create failed");
    }
    if (opt.contacts == 0) {
        ts.tv_sec = (time_t)(opt.warmup + opt.seconds);
        ts.tv_nsec = (long)((opt.warmup + opt.seconds - (double)ts.tv_sec) * 1e9);
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        atomic_store(&stopping, 1);
    }
    for (int i = 0; i < opt.concurrency; i++) {
        pthread_join(w[i].thread, NULL);
        failed |= w[i].failed;
        hl_bench_lat_merge(&all, &w[i].lat);
        hl_bench_lat_free(&w[i].lat);
    }
    elapsed = opt.contacts > 0 ? now() - t_start : opt.seconds;
    hl_bench_lat_sort(&all);
    n = all.n;
    p50 = hl_bench_lat_ms(&all, 0.5);
    p99 = hl_bench_lat_ms(&all, 0.99);
    max = hl_bench_lat_ms(&all, 1);
    rate = (double)n / elapsed;
    printf("concurrency %d: %zu %s in %.1f s, non-2xx %lu, %.0f contacts/s, p50 %.2f ms, p99 %.2f ms,"
           " max %.2f ms\n",
           opt.concurrency, n, opt.twin_host[0] != '\0' ? "contacts (each to both twins)" : "requests",
           elapsed, atomic_load(&non2xx), rate, p50, p99, max);
    if (atomic_load(&non2xx) > 0 || atomic_load(&id_mismatch) > 0)
        printf("first error: %s\n", first_error);
    printf("RESULT concurrency=%d requests=%zu non2xx=%lu rate=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f"
           " answers=%zu spooled=%lu id_mismatch=%lu\n",
           opt.concurrency, n, atomic_load(&non2xx), rate, p50, p99, max,
           n * (opt.twin_host[0] != '\0' ? 2 : 1), atomic_load(&spooled), atomic_load(&id_mismatch));
    hl_bench_lat_free(&all);
    free(w);
    for (size_t i = 0; i < n_leaf_codes; i++)
        free(leaf_codes[i]);
    return failed || atomic_load(&non2xx) > 0 || atomic_load(&id_mismatch) > 0 || n == 0 ? 1 : 0;
}
