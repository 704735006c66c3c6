#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = HL_LOG_INFO;
static const char *log_ident = "helpline";

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void hl_log_set_level(hl_log_level_t level)
{
    atomic_store(&log_level, (int)level);
}

hl_log_level_t hl_log_get_level(void)
{
    return (hl_log_level_t)atomic_load(&log_level);
}

bool hl_log_level_parse(const char *name, hl_log_level_t *out)
{
    for (size_t i = 0; i < HL_ARRAY_LEN(level_names); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (hl_log_level_t)i;
            return true;
        }
    }
    if (strcmp(name, "warning") == 0) {
        *out = HL_LOG_WARN;
        return true;
    }
    return false;
}

const char *hl_log_level_name(hl_log_level_t level)
{
    if ((int)level < 0 || (size_t)level >= HL_ARRAY_LEN(level_names))
        return "?";
    return level_names[level];
}

void hl_log_set_ident(const char *ident)
{
    log_ident = ident;
}

/* Copies MSG into OUT (CAP bytes, NUL-terminated) with every control character as \xNN. */
static size_t escape_controls(const char *msg, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;

    for (const unsigned char *c = (const unsigned char *)msg; *c != '\0' && n + 5 <= cap; c++) {
        if (*c < 0x20 || *c == 0x7f) {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[*c >> 4];
            out[n++] = hex[*c & 0xf];
        } else {
            out[n++] = (char)*c;
        }
    }
    out[n] = '\0';
    return n;
}

static void vlog(hl_log_level_t level, const char *suffix, const char *fmt, va_list ap)
{
    int saved_errno = errno;
    char stamp[32];
    char msg[2048];
    char line[2048 + 64];
    struct timespec now;
    struct tm tm;
    int n;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    n = snprintf(line, sizeof(line), "%s.%03ldZ %s[%ld] %s: ", stamp, now.tv_nsec / 1000000L, log_ident,
                 (long)getpid(), hl_log_level_name(level));
    if (n < 0)
        n = 0;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t len = (size_t)n + escape_controls(msg, line + n, sizeof(line) - (size_t)n - 1);
    if (suffix != NULL)
        len += (size_t)snprintf(line + len, sizeof(line) - len - 1, "%s", suffix);
    len = strnlen(line, sizeof(line) - 2);
    /* One write per line so lines from several threads never interleave. */
    line[len++] = '\n';
    if (write(STDERR_FILENO, line, len) < 0) {
        /* Nowhere left to report it. */
    }
    errno = saved_errno;
}

void hl_log(hl_log_level_t level, const char *fmt, ...)
{
    va_list ap;

    if ((int)level < atomic_load(&log_level))
        return;
    va_start(ap, fmt);
    vlog(level, NULL, fmt, ap);
    va_end(ap);
}

void hl_log_limited(hl_log_limit_t *limit, hl_log_level_t level, const char *fmt, ...)
{
    int64_t now = hl_monotonic_us();
    uint64_t dropped = 0;
    bool write_it;
    char suffix[64];
    va_list ap;

    if ((int)level < atomic_load(&log_level))
        return;
    pthread_mutex_lock(&limit->mu);
    if (limit->written == 0 || now - limit->window_start_us >= (int64_t)limit->period_s * 1000000) {
        limit->window_start_us = now;
        limit->written = 0;
    }
    write_it = limit->written < limit->burst;
    if (write_it) {
        limit->written++;
        dropped = limit->dropped;
        limit->dropped = 0;
    } else {
        limit->dropped++;
    }
    pthread_mutex_unlock(&limit->mu);
    if (!write_it)
        return;
    if (dropped > 0)
        snprintf(suffix, sizeof(suffix), " (%llu similar line(s) dropped before)",
                 (unsigned long long)dropped);
    va_start(ap, fmt);
    vlog(level, dropped > 0 ? suffix : NULL, fmt, ap);
    va_end(ap);
}

void hl_fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(HL_LOG_ERROR, NULL, fmt, ap);
    va_end(ap);
    exit(1);
}
