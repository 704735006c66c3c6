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

static void vlog(hl_log_level_t level, const char *fmt, va_list ap)
{
    int saved_errno = errno;
    char stamp[32];
    char line[2048];
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
    if ((size_t)n < sizeof(line))
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    /* One write per line so lines from several threads never interleave. */
    size_t len = strnlen(line, sizeof(line) - 2);
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
    vlog(level, fmt, ap);
    va_end(ap);
}

void hl_fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(HL_LOG_ERROR, fmt, ap);
    va_end(ap);
    exit(1);
}
