/*
 * What one client without a login can do to the HTTP layer (issue 15, findings 1, 2, 6, 8, 11, 12;
 * docs/http-api.md "Limits"): hold thousands of slow or idle connections, send bodies that are
 * never going to be accepted, keep sending after a refusal, leave plaintext behind in the daemon's
 * memory, walk away from a POST that waits for the database, and smuggle NUL bytes or odd media
 * types past the parser. Raw sockets throughout, with timeouts of their own, so that a daemon that
 * does not answer fails the test in seconds.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define ATTACKER "127.0.0.2" /* a second loopback address: the daemon sees another client */
#define MiB      (1024L * 1024L)

static const char healthz[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

static hl_testd_t d;

static void stop(void)
{
    unsetenv("HELPLINE_HEADER_TIMEOUT_SECONDS");
    hl_testd_stop(&d);
}

TestSuite(attacks, .fini = stop, .timeout = 90);

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- raw HTTP ------------------------------------------------------------------------------ */

/* A TCP connection to the daemon from FROM (NULL: any local address); -1 on failure. */
static int dial(const char *from, bool nonblocking)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)d.port)};
    int fd = socket(AF_INET, SOCK_STREAM | (nonblocking ? SOCK_NONBLOCK : 0), 0);

    if (fd < 0)
        return -1;
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    if (from != NULL) {
        struct sockaddr_in me = {.sin_family = AF_INET};
        inet_pton(AF_INET, from, &me.sin_addr);
        if (bind(fd, (struct sockaddr *)&me, sizeof(me)) != 0) {
            close(fd);
            return -1;
        }
    }
    if (connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends what the socket takes now; false once the peer closed or reset. */
static bool send_some(int fd, const char *buf, size_t len, size_t *sent)
{
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

    if (n > 0 && sent != NULL)
        *sent += (size_t)n;
    return n >= 0 || errno == EAGAIN || errno == EWOULDBLOCK;
}

static void send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        cr_assert_gt(n, 0, "send: %s", strerror(errno));
        buf += n;
        len -= (size_t)n;
    }
}

/* Reads into BUF until the peer closes, a whole reply with a Content-Length is in, or TIMEOUT
 * seconds pass. Returns the bytes read; *CLOSED says whether the peer closed (or reset). */
static size_t read_reply(int fd, char *buf, size_t cap, double timeout_s, bool *closed)
{
    double deadline = hl_testd_now() + timeout_s;
    size_t n = 0;

    *closed = false;
    buf[0] = '\0';
    while (hl_testd_now() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left_ms = (int)((deadline - hl_testd_now()) * 1000) + 1;
        if (poll(&p, 1, left_ms) <= 0)
            continue;
        ssize_t got = recv(fd, buf + n, cap - 1 - n, MSG_DONTWAIT);
        if (got < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (got <= 0) {
            *closed = true;
            break;
        }
        n += (size_t)got;
        buf[n] = '\0';
        const char *end = strstr(buf, "\r\n\r\n"), *cl = strcasestr(buf, "\r\nContent-Length:");
        if (end != NULL && cl != NULL && cl < end &&
            n >= (size_t)(end + 4 - buf) + strtoul(cl + strlen("\r\nContent-Length:"), NULL, 10))
            break;
        if (n + 1 >= cap)
            break;
    }
    return n;
}

static long status_of(const char *reply)
{
    long status = 0;

    if (sscanf(reply, "HTTP/1.%*d %ld", &status) != 1)
        return 0;
    return status;
}

/* One request (raw bytes, LEN of them) on a fresh connection from FROM; the status, 0 when no reply
 * came within TIMEOUT seconds. *ELAPSED (optional): seconds to the reply. */
static long raw_exchange(const char *from, const char *request, size_t len, double timeout_s, double *elapsed,
                         char *reply, size_t cap)
{
    double t0 = hl_testd_now();
    bool closed;
    int fd = dial(from, false);

    if (fd < 0)
        return 0;
    send_all(fd, request, len);
    read_reply(fd, reply, cap, timeout_s, &closed);
    close(fd);
    if (elapsed != NULL)
        *elapsed = hl_testd_now() - t0;
    return status_of(reply);
}

/* "METHOD PATH" with Host, an optional bearer token, an optional Content-Type and a body. */
static char *build(const char *method, const char *path, const char *token, const char *content_type,
                   const char *body, size_t *len)
{
    size_t body_len = body != NULL ? strlen(body) : 0;
    size_t cap = 1024 + strlen(path) + (content_type != NULL ? strlen(content_type) : 0) + body_len;
    char *out = malloc(cap);
    int n;

    cr_assert_not_null(out);
    n = snprintf(out, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", method, path);
    if (token != NULL)
        n += snprintf(out + n, cap - (size_t)n, "Authorization: Bearer %s\r\n", token);
    if (content_type != NULL)
        n += snprintf(out + n, cap - (size_t)n, "Content-Type: %s\r\n", content_type);
    if (body != NULL)
        n += snprintf(out + n, cap - (size_t)n, "Content-Length: %zu\r\n", body_len);
    n += snprintf(out + n, cap - (size_t)n, "\r\n");
    memcpy(out + n, body != NULL ? body : "", body_len);
    *len = (size_t)n + body_len;
    return out;
}

static char *contact_body(const char *source_id)
{
    return it_dump(it_contact(source_id));
}

static long daemon_rss_kib(void)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/status", (long)d.pid);
    f = fopen(path, "r");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* RLIMIT_NOFILE's soft limit raised to the hard one; returns it. The daemon, started after,
 * inherits it. */
static long raise_nofile(void)
{
    struct rlimit rl;

    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = rl.rlim_max;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    return rl.rlim_cur == RLIM_INFINITY ? 1L << 20 : (long)rl.rlim_cur;
}

/* ---- finding 1: connection exhaustion ---------------------------------------------------------- */

/* 4,200 connections from one address (more than the daemon's 4,096 connections): half send their
 * headers a byte at a time, half say nothing. Meanwhile /healthz and a POST from another address
 * answer within a second, each time. */
Test(attacks, connections_from_one_address_leave_room_for_others)
{
    enum { WANT = 4200, ROUNDS = 6 };
    static int fds[WANT];
    static const char slow[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaa";
    long nofile = raise_nofile();
    int n = WANT, held = 0;
    size_t post_len;
    char reply[8192], sid[32];
    double worst_health = 0, worst_post = 0;

    if (nofile < WANT + 300)
        n = (int)nofile - 300;
    cr_assert_gt(n, 1000, "RLIMIT_NOFILE hard limit %ld is too low for this test", nofile);
    hl_testd_start(&d, NULL);
    for (int i = 0; i < n; i++) {
        fds[i] = dial(ATTACKER, true);
        cr_assert_geq(fds[i], 0, "connection %d from %s: %s", i, ATTACKER, strerror(errno));
    }
    for (int round = 0; round < ROUNDS; round++) {
        /* the slow half: one more header byte each */
        for (int i = 0; i < n; i += 2)
            if (fds[i] >= 0 && !send_some(fds[i], slow + (round % (sizeof(slow) - 1)), 1, NULL)) {
                close(fds[i]);
                fds[i] = -1;
            }
        double health, post;
        long status = raw_exchange(NULL, healthz, strlen(healthz), 3.0, &health, reply, sizeof(reply));
        cr_expect_eq(status, 200, "round %d: /healthz from another address: %ld after %.2f s", round, status,
                     health);
        snprintf(sid, sizeof(sid), "conns-%d", round);
        char *body = contact_body(sid);
        char *req = build("POST", "/v1/contacts", d.tokens.frontend, "application/json", body, &post_len);
        status = raw_exchange(NULL, req, post_len, 3.0, &post, reply, sizeof(reply));
        cr_expect_eq(status, 201, "round %d: POST from another address: %ld after %.2f s", round, status,
                     post);
        free(req);
        free(body);
        worst_health = health > worst_health ? health : worst_health;
        worst_post = post > worst_post ? post : worst_post;
        sleep_ms(300); /* the attack's pace: a byte per connection every 0.3 s or so */
    }
    /* How many of the attacker's connections the daemon still holds: the rest it closed at once. */
    for (int i = 0; i < n; i++) {
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        if (fds[i] >= 0 && poll(&p, 1, 0) == 0)
            held++;
    }
    cr_log_info("attacks: %d connections from %s, %d held by the daemon; worst /healthz %.3f s, worst POST "
                "%.3f s",
                n, ATTACKER, held, worst_health, worst_post);
    cr_expect_gt(held, 0, "the attack held no connection");
    cr_expect_leq(held, 512, "the daemon holds %d connections from one address (max_connections_per_ip 512)",
                  held);
    cr_expect_lt(worst_health, 1.0, "/healthz took %.2f s under the attack", worst_health);
    cr_expect_lt(worst_post, 1.0, "a POST took %.2f s under the attack", worst_post);
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* The header deadline (header_timeout_seconds, here 1) counts from the connection (or from the last
 * reply on it), and bytes arriving do not reset it, unlike the idle timeout. */
Test(attacks, header_deadline_is_not_reset_by_bytes)
{
    static const char slow[] =
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    static const char whole[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    char reply[4096];
    bool closed;
    size_t i = 0;

    setenv("HELPLINE_HEADER_TIMEOUT_SECONDS", "1", 1);
    hl_testd_start(&d, NULL);
    int trickle = dial(ATTACKER, false), idle = dial(ATTACKER, false), kept = dial(NULL, false);
    cr_assert(trickle >= 0 && idle >= 0 && kept >= 0);
    /* a keep-alive connection: one whole request, answered; then nothing */
    send_all(kept, whole, strlen(whole));
    read_reply(kept, reply, sizeof(reply), 2.0, &closed);
    cr_assert_eq(status_of(reply), 200, "%s", reply);
    cr_assert(!closed);

    double t0 = hl_testd_now(), trickle_closed = 0, idle_closed = 0, kept_closed = 0;
    while (hl_testd_now() - t0 < 4.0 && (trickle_closed == 0 || idle_closed == 0 || kept_closed == 0)) {
        struct pollfd p[3] = {{.fd = trickle, .events = POLLIN},
                              {.fd = idle, .events = POLLIN},
                              {.fd = kept, .events = POLLIN}};
        if (trickle_closed == 0 && !send_some(trickle, slow + i++ % (sizeof(slow) - 1), 1, NULL))
            trickle_closed = hl_testd_now() - t0;
        poll(p, 3, 100);
        if (trickle_closed == 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0)
            trickle_closed = hl_testd_now() - t0;
        if (idle_closed == 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0)
            idle_closed = hl_testd_now() - t0;
        if (kept_closed == 0 && (p[2].revents & (POLLIN | POLLHUP | POLLERR)) != 0)
            kept_closed = hl_testd_now() - t0;
    }
    cr_log_info("attacks: header deadline 1 s: trickling connection closed after %.2f s, idle %.2f s, "
                "idle keep-alive %.2f s (0: not closed within 4 s)",
                trickle_closed, idle_closed, kept_closed);
    cr_expect(trickle_closed > 0.5 && trickle_closed < 2.5,
              "a connection sending a header byte every 100 ms was closed after %.2f s", trickle_closed);
    cr_expect(idle_closed > 0.5 && idle_closed < 2.5, "an idle connection was closed after %.2f s",
              idle_closed);
    cr_expect(kept_closed > 0.5 && kept_closed < 2.5, "an idle keep-alive connection was closed after %.2f s",
              kept_closed);
    close(trickle);
    close(idle);
    close(kept);
    /* requests that come in time are served */
    double took;
    cr_expect_eq(raw_exchange(NULL, whole, strlen(whole), 2.0, &took, reply, sizeof(reply)), 200);
}

/* ---- finding 2: memory before authentication ---------------------------------------------------- */

/* 400 connections each send a 1 MiB webhook body with a wrong secret, all of it but the last byte,
 * at the same time. Buffered before the secret check, that held 400 MiB; checked from the headers,
 * each is refused before its body is read. */
Test(attacks, webhook_bodies_with_a_wrong_secret_are_never_buffered)
{
    enum { CONNS = 400 };
    static int fds[CONNS];
    static size_t sent[CONNS];
    const size_t body_len = (size_t)MiB - 192;
    char *chunk = malloc(64 * 1024), head[512];
    long base, peak = 0, refused = 0;

    cr_assert_not_null(chunk);
    memset(chunk, 'x', 64 * 1024);
    raise_nofile();
    hl_testd_start(&d, NULL);
    base = daemon_rss_kib();
    int head_len = snprintf(head, sizeof(head),
                            "POST /v1/ingest/rocketchat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                            "application/json\r\nX-RocketChat-Livechat-Token: "
                            "wrongwrongwrongwrongwrongwrongwrongwrongwro\r\nContent-Length: %zu\r\n\r\n",
                            body_len);
    for (int i = 0; i < CONNS; i++) {
        fds[i] = dial(NULL, false);
        cr_assert_geq(fds[i], 0);
        send_all(fds[i], head, (size_t)head_len);
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
    }
    double deadline = hl_testd_now() + 20;
    for (bool busy = true; busy && hl_testd_now() < deadline;) {
        size_t before = 0, after = 0;
        busy = false;
        for (int i = 0; i < CONNS; i++)
            before += sent[i];
        for (int i = 0; i < CONNS; i++) {
            if (fds[i] < 0 || sent[i] >= body_len - 1)
                continue;
            size_t want = body_len - 1 - sent[i];
            if (!send_some(fds[i], chunk, want < 64 * 1024 ? want : 64 * 1024, &sent[i])) {
                close(fds[i]);
                fds[i] = -1;
                refused++;
                continue;
            }
            busy = true;
        }
        long rss = daemon_rss_kib();
        peak = rss > peak ? rss : peak;
        for (int i = 0; i < CONNS; i++)
            after += sent[i];
        if (after == before)
            sleep_ms(1); /* every socket buffer full: let the daemon read */
    }
    /* What was sent may still wait in socket buffers (megabytes each on loopback): keep measuring
     * while a daemon that buffers bodies would be reading them. */
    for (double end = hl_testd_now() + 2.0; hl_testd_now() < end; sleep_ms(20)) {
        long rss = daemon_rss_kib();
        peak = rss > peak ? rss : peak;
    }
    cr_log_info("attacks: %d x %zu-byte webhook bodies with a wrong secret: daemon RSS %ld MiB before, peak "
                "%ld MiB; %ld connections closed by the daemon",
                CONNS, body_len, base / 1024, peak / 1024, refused);
    cr_expect_lt(peak, 256 * 1024, "the daemon's RSS reached %ld MiB", peak / 1024);
    for (int i = 0; i < CONNS; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(chunk);
    /* the daemon still serves */
    cr_expect_eq(raw_exchange(NULL, healthz, strlen(healthz), 2.0, NULL, head, sizeof(head)), 200);
}

/* ---- finding 6: a refusal ends the exchange ------------------------------------------------------ */

/* Sends HEAD, then keeps sending body bytes (in 16 KiB chunks when CHUNKED) for up to 3 s or until
 * the daemon closes; returns the reply's status (0: none), and the seconds to the close in
 * *CLOSED_AFTER (0: still open after 3 s). */
static long refused_while_sending(const char *head, bool chunked, double *closed_after, size_t *body_sent)
{
    static char filler[16 * 1024];
    char reply[4096] = "";
    size_t n = 0, off = 0;
    int fd = dial(NULL, false);
    double t0;

    cr_assert_geq(fd, 0);
    memset(filler, 'x', sizeof(filler));
    if (chunked) { /* one chunk: size line, 16,376 bytes, CRLF */
        memcpy(filler, "3ff8\r\n", 6);
        memcpy(filler + sizeof(filler) - 2, "\r\n", 2);
    }
    send_all(fd, head, strlen(head));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    t0 = hl_testd_now();
    *closed_after = 0;
    *body_sent = 0;
    while (hl_testd_now() - t0 < 3.0) {
        size_t before = *body_sent;
        if (!send_some(fd, filler + off, sizeof(filler) - off, body_sent)) {
            *closed_after = hl_testd_now() - t0;
            break;
        }
        off = (off + *body_sent - before) % sizeof(filler);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5) > 0) {
            ssize_t got = recv(fd, reply + n, sizeof(reply) - 1 - n, 0);
            if (got <= 0) {
                *closed_after = hl_testd_now() - t0;
                break;
            }
            n += (size_t)got;
            reply[n] = '\0';
        }
    }
    /* a send that failed first: the reply may be in already */
    for (ssize_t got;
         n + 1 < sizeof(reply) && (got = recv(fd, reply + n, sizeof(reply) - 1 - n, MSG_DONTWAIT)) > 0;)
        n += (size_t)got;
    reply[n] = '\0';
    close(fd);
    return status_of(reply);
}

Test(attacks, refusals_reply_and_close_without_reading_the_body)
{
    hl_testd_opts_t o = {.max_body_bytes = 64 * 1024};
    char head[1024];
    double closed_after;
    size_t sent;
    long status;

    hl_testd_start(&d, &o);
    struct {
        const char *what;
        const char *token;
        const char *path;
        const char *extra; /* more headers */
        bool chunked;
        long want; /* 0: a close without a reply */
    } cases[] = {
        {"bad token, chunked body", "not-a-token", "/v1/contacts", "", true, 401},
        {"bad token, Content-Length within the limit", "not-a-token", "/v1/contacts",
         "Content-Length: 60000\r\n", false, 401},
        {"no token, Content-Length over the limit", NULL, "/v1/contacts", "Content-Length: 100000000000\r\n",
         false, 401},
        {"good token, Content-Length over the limit", d.tokens.frontend, "/v1/contacts",
         "Content-Length: 100000000000\r\n", false, 413},
        {"good token, chunked body over the limit", d.tokens.frontend, "/v1/contacts", "", true, 0},
        {"wrong webhook secret, chunked", NULL, "/v1/ingest/rocketchat",
         "X-RocketChat-Livechat-Token: wrongwrongwrongwrongwrongwrongwrongwrongwro\r\n", true, 401},
        {"a body on GET /healthz", NULL, "/healthz", "Content-Length: 60000\r\n", false, 413},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = snprintf(
            head, sizeof(head), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n%s",
            strcmp(cases[i].path, "/healthz") == 0 ? "GET" : "POST", cases[i].path, cases[i].extra);
        if (cases[i].token != NULL)
            n += snprintf(head + n, sizeof(head) - (size_t)n, "Authorization: Bearer %s\r\n", cases[i].token);
        if (cases[i].chunked)
            n += snprintf(head + n, sizeof(head) - (size_t)n, "Transfer-Encoding: chunked\r\n");
        snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
        status = refused_while_sending(head, cases[i].chunked, &closed_after, &sent);
        cr_log_info("attacks: %s: %ld, closed after %.3f s, %zu body bytes sent", cases[i].what, status,
                    closed_after, sent);
        cr_expect_eq(status, cases[i].want, "%s: status %ld", cases[i].what, status);
        cr_expect(closed_after > 0 && closed_after < 1.0, "%s: the daemon closed the connection after %.2f s",
                  cases[i].what, closed_after);
    }
}

/* ---- finding 11: a client that gives up ---------------------------------------------------------- */

/* POSTs wait for the database (contacts locked); their clients give up, with a close or a reset.
 * Once the writer answers, nothing may still count them as pending replies: shutdown waits up to
 * 5 s for those (issue 15, finding 11). */
Test(attacks, a_client_that_gives_up_on_a_post_does_not_delay_shutdown)
{
    enum { N = 24 };
    char reply[1024], sid[32];
    size_t len;
    bool closed;
    PGresult *r;
    int fds[N];

    hl_testd_start(&d, NULL);
    PGconn *lock = hl_testd_db(&d);
    r = PQexec(lock, "BEGIN; LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE");
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(lock));
    PQclear(r);
    for (int i = 0; i < N; i++) {
        snprintf(sid, sizeof(sid), "abandoned-%d", i);
        char *body = contact_body(sid);
        char *req = build("POST", "/v1/contacts", d.tokens.frontend, "application/json", body, &len);
        fds[i] = dial(NULL, false);
        cr_assert_geq(fds[i], 0);
        if (i % 3 == 2) { /* headers first, the body a moment later */
            char *split = strstr(req, "\r\n\r\n") + 4;
            send_all(fds[i], req, (size_t)(split - req));
            sleep_ms(20);
            send_all(fds[i], split, len - (size_t)(split - req));
        } else {
            send_all(fds[i], req, len);
        }
        free(req);
        free(body);
    }
    read_reply(fds[0], reply, sizeof(reply), 0.5, &closed);
    cr_assert_eq(reply[0], '\0', "the POST was answered while contacts was locked: %s", reply);
    for (int i = 0; i < N; i++) {
        if (i % 2 == 0) { /* gives up with a reset; the others with a plain close */
            struct linger abort_close = {.l_onoff = 1, .l_linger = 0};
            setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &abort_close, sizeof(abort_close));
        }
        close(fds[i]);
    }
    sleep_ms(300);
    r = PQexec(lock, "COMMIT");
    PQclear(r);
    PQfinish(lock);
    double deadline = hl_testd_now() + 15;
    while (it_scalar(&d, "SELECT count(*) FROM contacts WHERE source_id LIKE 'abandoned-%'") != N &&
           hl_testd_now() < deadline)
        sleep_ms(50);
    cr_assert_eq(it_scalar(&d, "SELECT count(*) FROM contacts WHERE source_id LIKE 'abandoned-%'"), N);
    double t0 = hl_testd_now();
    int status = hl_testd_term(&d);
    double took = hl_testd_now() - t0;
    cr_log_info("attacks: shutdown after %d abandoned POSTs took %.2f s", N, took);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "wait status 0x%x", (unsigned)status);
    cr_expect_lt(took, 3.0, "shutdown took %.2f s: a pending reply was never settled", took);
}

/* ---- finding 12: lenient parsing ---------------------------------------------------------------- */

Test(attacks, only_application_json_is_json)
{
    struct {
        const char *content_type;
        long want;
    } cases[] = {
        {"application/json", 201},
        {"application/json; charset=utf-8", 201},
        {"APPLICATION/JSON;CHARSET=\"UTF-8\"", 201},
        {"application/json \t; charset=UTF-8 ", 201},
        {"application/json;", 201},
        {"application/json garbage", 415},
        {"application/jsonx", 415},
        {"application/json; charset=latin1", 415},
        {"application/json; charset=utf-8x", 415},
        {"application/json; charset=utf-8; charset=utf-8", 415},
        {"application/json; boundary=x", 415},
        {"application/json, text/plain", 415},
        {"text/json", 415},
    };
    char reply[4096], sid[32];
    size_t len;

    hl_testd_start(&d, NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(sid, sizeof(sid), "ct-%zu", i);
        char *body = contact_body(sid);
        char *req = build("POST", "/v1/contacts", d.tokens.frontend, cases[i].content_type, body, &len);
        long status = raw_exchange(NULL, req, len, 3.0, NULL, reply, sizeof(reply));
        cr_expect_eq(status, cases[i].want, "Content-Type \"%s\": %ld", cases[i].content_type, status);
        free(req);
        free(body);
    }
    /* a NUL byte in the value: libmicrohttpd would hand over "application/json" */
    char *body = contact_body("ct-nul");
    char *req = build("POST", "/v1/contacts", d.tokens.frontend, "application/json@garbage", body, &len);
    *strchr(req, '@') = '\0';
    long status = raw_exchange(NULL, req, len, 3.0, NULL, reply, sizeof(reply));
    cr_expect(status == 400 || status == 415, "Content-Type \"application/json\\0garbage\": %ld", status);
    free(req);
    free(body);
    cr_expect_eq(it_scalar(&d, "SELECT count(*) FROM contacts"), 5);
}

/* Sends REQUEST (LEN bytes, NULs allowed) and returns the status. */
static long raw_status(const char *request, size_t len)
{
    char reply[16384];

    return raw_exchange(NULL, request, len, 3.0, NULL, reply, sizeof(reply));
}

Test(attacks, nul_bytes_and_folded_lines_are_refused_never_cut_short)
{
    char req[2048], id[64];
    int n;
    json_t *r;

    hl_testd_start(&d, NULL);
    cr_assert_eq(it_post(&d, d.tokens.counsellor, it_contact("nul-1"), &r), 201);
    snprintf(id, sizeof(id), "%s", it_str(r, "id"));
    json_decref(r);

    /* the record as such, then with %00 or a raw NUL after its id: never the record */
    const char *tails[] = {"", "%00x", "%00", "%2500"};
    const long want[] = {200, 400, 400, 404};
    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        n = snprintf(req, sizeof(req),
                     "GET /v1/contacts/%s%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", id,
                     tails[i], d.tokens.counsellor);
        long status = raw_status(req, (size_t)n);
        cr_expect_eq(status, want[i], "GET /v1/contacts/ID%s: %ld", tails[i], status);
    }
    n = snprintf(req, sizeof(req),
                 "GET /v1/contacts/%s@x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", id,
                 d.tokens.counsellor);
    *strchr(req, '@') = '\0';
    long status = raw_status(req, (size_t)n);
    cr_expect(status == 400 || status == 404, "GET /v1/contacts/ID\\0x: %ld", status);

    /* %00 in a query parameter */
    n = snprintf(req, sizeof(req),
                 "GET /v1/stats?from=2026-01-01%%00x&to=2026-12-31&by=gender HTTP/1.1\r\nHost: x\r\n"
                 "Authorization: Bearer %s\r\n\r\n",
                 d.tokens.supervisor);
    cr_expect_eq(raw_status(req, (size_t)n), 400, "a %%00 in the query");

    /* a NUL inside a header value, at the end of one, and a folded header */
    n = snprintf(req, sizeof(req),
                 "GET /v1/contacts/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s@junk\r\n\r\n", id,
                 d.tokens.counsellor);
    *strchr(req, '@') = '\0';
    cr_expect_eq(raw_status(req, (size_t)n), 400, "a NUL in Authorization");
    n = snprintf(req, sizeof(req), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a@\r\n\r\n");
    *strchr(req, '@') = '\0';
    cr_expect_eq(raw_status(req, (size_t)n), 400, "a NUL at the end of a header value");
    n = snprintf(req, sizeof(req), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n");
    cr_expect_eq(raw_status(req, (size_t)n), 400, "a folded header");

    /* what a NUL check must not refuse: bare LF line ends, blanks around values, empty values */
    n = snprintf(req, sizeof(req), "GET /healthz HTTP/1.1\nHost: x\nX-A:   a b \t\nX-Empty:\n\n");
    cr_expect_eq(raw_status(req, (size_t)n), 200, "bare LF line ends");
    n = snprintf(req, sizeof(req), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A:\t a \r\nX-Empty:\r\n\r\n");
    cr_expect_eq(raw_status(req, (size_t)n), 200, "blanks and an empty value");
    n = snprintf(req, sizeof(req), "GET /healthz HTTP/1.0\r\n\r\n");
    cr_expect_eq(raw_status(req, (size_t)n), 200, "no headers at all");
}

/* ---- finding 8: plaintext in the daemon's memory -------------------------------------------------- */

#define N_MARKS 16
static char marks[N_MARKS][64];
static size_t n_marks;

static const char *mark(const char *prefix)
{
    cr_assert_lt(n_marks, N_MARKS);
    it_marker(marks[n_marks], sizeof(marks[0]), prefix);
    return marks[n_marks++];
}

/* Twelve random digits: a phone number, and its digits are the marker. */
static const char *phone_mark(void)
{
    unsigned char rnd[10];

    cr_assert_lt(n_marks, N_MARKS);
    cr_assert_eq(getrandom(rnd, sizeof(rnd), 0), (ssize_t)sizeof(rnd));
    strcpy(marks[n_marks], "25");
    for (int i = 0; i < 10; i++)
        marks[n_marks][2 + i] = (char)('0' + rnd[i] % 10);
    marks[n_marks][12] = '\0';
    return marks[n_marks++];
}

/* What a core image (ELF) holds of the process's writable memory, and its notes (every thread's
 * registers), without the zero pages: reserved address space and untouched stack. A marker has no
 * zero byte, so it lies within the pages kept. Malloc'd; *LEN its length. */
static char *writable_memory(const char *path, size_t *len)
{
    static const char zero[4096];
    int fd = open(path, O_RDONLY);
    Elf64_Ehdr eh;
    size_t cap = 64 * (size_t)MiB, n = 0;
    char *out = malloc(cap), page[4096];

    cr_assert(fd >= 0 && out != NULL, "%s: %s", path, strerror(errno));
    cr_assert_eq(pread(fd, &eh, sizeof(eh), 0), (ssize_t)sizeof(eh));
    cr_assert_eq(memcmp(eh.e_ident, ELFMAG, SELFMAG), 0, "%s is not an ELF file", path);
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        cr_assert_eq(pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * eh.e_phentsize)),
                     (ssize_t)sizeof(ph));
        if (ph.p_type != PT_NOTE && (ph.p_type != PT_LOAD || (ph.p_flags & PF_W) == 0))
            continue;
        for (Elf64_Xword off = 0; off < ph.p_filesz; off += sizeof(page)) {
            size_t want = ph.p_filesz - off < sizeof(page) ? (size_t)(ph.p_filesz - off) : sizeof(page);
            cr_assert_eq(pread(fd, page, want, (off_t)(ph.p_offset + off)), (ssize_t)want);
            if (memcmp(page, zero, want) == 0)
                continue;
            if (n + want > cap) {
                cap *= 2;
                out = realloc(out, cap);
                cr_assert_not_null(out);
            }
            memcpy(out + n, page, want);
            n += want;
        }
    }
    close(fd);
    *len = n;
    return out;
}

/* After contacts with marked sensitive fields went in and out (POST, GET, PATCH, a malformed body, a
 * refused webhook), and a moment of idleness, a core image of the daemon holds none of the marks. */
Test(attacks, no_plaintext_left_in_the_daemons_memory)
{
    char path[128], reply[65536], core[HL_TESTD_PATH_LEN + 32], cmd[2 * HL_TESTD_PATH_LEN + 64];
    long status;
    size_t len;
    json_t *r;

    if (access("/usr/bin/gcore", X_OK) != 0)
        cr_skip_test("gcore (gdb) is not installed");
#ifdef __SANITIZE_ADDRESS__
    cr_skip_test("under AddressSanitizer freed blocks wait in its quarantine and its shadow memory is "
                 "terabytes of address space: not a daemon's memory as deployed");
#endif
    hl_testd_start(&d, NULL);
    json_t *c = it_contact("core-1");
    json_object_set_new(json_object_get(c, "child"), "name", json_string(mark("Childname")));
    json_object_set_new(json_object_get(c, "caller"), "name", json_string(mark("Callername")));
    json_object_set_new(json_object_get(c, "caller"), "phone", json_string(phone_mark()));
    json_object_set_new(c, "summary", json_string(mark("Summary")));
    json_object_set_new(c, "transcript", json_string(mark("Transcript")));
    cr_assert_eq(it_post(&d, d.tokens.counsellor, c, &r), 201);
    snprintf(path, sizeof(path), "/v1/contacts/%s", it_str(r, "id"));
    json_decref(r);

    /* read back, raw, by the counsellor who owns it: every field */
    char *req = build("GET", path, d.tokens.counsellor, NULL, NULL, &len);
    cr_assert_eq(raw_exchange(NULL, req, len, 3.0, NULL, reply, sizeof(reply)), 200);
    cr_assert(strstr(reply, marks[0]) != NULL, "the reply holds the child's name");
    free(req);
    /* a PATCH, a body jansson cannot parse (its error text quotes the string it stopped in), a
     * classification, a webhook with a wrong secret */
    char body[512];
    snprintf(body, sizeof(body), "{\"summary\": \"%s\"}", mark("Patched"));
    r = hl_testd_request(&d, "PATCH", path, d.tokens.counsellor, "application/json", body, &status, NULL);
    cr_expect_eq(status, 200);
    json_decref(r);
    snprintf(body, sizeof(body), "{\"summary\": \"%s\\q\"}", mark("Broken"));
    r = hl_testd_request(&d, "POST", "/v1/contacts", d.tokens.counsellor, "application/json", body, &status,
                         NULL);
    cr_expect_eq(status, 400);
    json_decref(r);
    snprintf(body, sizeof(body), "{\"text\": \"%s was hit\"}", mark("Classified"));
    r = hl_testd_request(&d, "POST", "/v1/classify", d.tokens.counsellor, "application/json", body, &status,
                         NULL);
    cr_expect_eq(status, 200);
    json_decref(r);
    snprintf(body, sizeof(body), "{\"_id\": \"x\", \"visitor\": {\"name\": \"%s\"}}", mark("Webhook"));
    req = build("POST", "/v1/ingest/rocketchat", NULL, "application/json", body, &len);
    raw_exchange(NULL, req, len, 3.0, NULL, reply, sizeof(reply));
    free(req);
    memset(reply, 0, sizeof(reply));

    sleep_ms(1000); /* idle, as a daemon mostly is */
    snprintf(core, sizeof(core), "%s/core", d.dir);
    snprintf(cmd, sizeof(cmd), "gcore -o %s %ld >/dev/null 2>&1", core, (long)d.pid);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
    snprintf(core + strlen(core), sizeof(core) - strlen(core), ".%ld", (long)d.pid);
    char *image = writable_memory(core, &len);
    unlink(core);
    cr_log_info("attacks: %zu MiB of writable memory and registers in the core image", len / (size_t)MiB);
    cr_assert(it_contains(image, len, "helplined"), "the image is the daemon's");
    for (size_t i = 0; i < n_marks; i++)
        cr_expect(!it_contains(image, len, marks[i]), "the daemon's memory holds \"%s\"", marks[i]);
    free(image);
}
