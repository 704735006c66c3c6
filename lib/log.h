/*
 * Logging: one line per event on stderr, "TIME LEVEL message".
 * Never pass personal data, sensitive fields, tokens, keys or SQL parameters: log ids.
 * Control characters in a message (a newline in a client's string) are written as \xNN, so no
 * input can split a line or forge another one.
 */
#ifndef HL_LOG_H
#define HL_LOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

typedef enum { HL_LOG_DEBUG = 0, HL_LOG_INFO = 1, HL_LOG_WARN = 2, HL_LOG_ERROR = 3 } hl_log_level_t;

/* Messages below this level are dropped (default HL_LOG_INFO). Thread-safe. */
void hl_log_set_level(hl_log_level_t level);
hl_log_level_t hl_log_get_level(void);

/* Parses "debug", "info", "warn", "error" (also "warning"). */
bool hl_log_level_parse(const char *name, hl_log_level_t *out) HL_MUSTCHECK;
const char *hl_log_level_name(hl_log_level_t level);

/* The program name shown in each line (default "helpline"). Pass a static string. */
void hl_log_set_ident(const char *ident);

/* Writes one line; keeps errno unchanged. */
void hl_log(hl_log_level_t level, const char *fmt, ...) HL_PRINTF(2, 3);

/*
 * A rate limit for one kind of line that clients can cause at will (a bad webhook secret, an
 * aborted connection): at most BURST lines per PERIOD_S seconds; the rest are dropped and
 * counted, and the next line written says how many were. One static limit per call site.
 */
typedef struct hl_log_limit {
    pthread_mutex_t mu;
    unsigned burst;
    unsigned period_s;
    int64_t window_start_us;
    unsigned written;
    uint64_t dropped;
} hl_log_limit_t;

#define HL_LOG_LIMIT_INIT(burst_, period_s_)                                                                 \
    {                                                                                                        \
        .mu = PTHREAD_MUTEX_INITIALIZER, .burst = (burst_), .period_s = (period_s_)                          \
    }

/* hl_log under LIMIT. */
void hl_log_limited(hl_log_limit_t *limit, hl_log_level_t level, const char *fmt, ...) HL_PRINTF(3, 4);

/* Logs at error level and exits with status 1. For start-up failures only. */
HL_NORETURN void hl_fatal(const char *fmt, ...) HL_PRINTF(1, 2);

#endif
