/*
 * Logging: one line per event on stderr, "TIME LEVEL message".
 * Never pass personal data, sensitive fields, tokens, keys or SQL parameters: log ids.
 */
#ifndef HL_LOG_H
#define HL_LOG_H

#include <stdbool.h>

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

/* Logs at error level and exits with status 1. For start-up failures only. */
HL_NORETURN void hl_fatal(const char *fmt, ...) HL_PRINTF(1, 2);

#endif
