/*
 * helplined's configuration: a `key = value` file with `#` comments, and for every key an
 * environment override HELPLINE_<KEY> (the environment wins). Typed and validated; a bad
 * value names the file, the line and the key. The parsed config is immutable; SIGHUP
 * builds a new one and swaps it in only when every value is valid.
 */
#ifndef HL_CONFIG_H
#define HL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"
#include "util.h"

#define HL_CONFIG_DEFAULT_PATH "/etc/helpline/helplined.conf"
#define HL_CONFIG_ERR_LEN      512
/* The most writer_connections the writer takes (HL_WRITER_MAX_CONNECTIONS; serve.c checks). */
#define HL_CONFIG_MAX_WRITER_CONNECTIONS 16

typedef struct hl_config {
    char *listen_host; /* listen = HOST:PORT (default 127.0.0.1:8080) */
    int listen_port;
    char *database_url;     /* libpq connection string */
    char *key_file;         /* master key file (mode 0400) */
    char *spool_dir;        /* journal of sealed records while PostgreSQL is down */
    int threads;            /* HTTP worker threads, 1..256 */
    int writer_connections; /* PostgreSQL connections committing contacts, 1..16 (default 2) */
    size_t max_body_bytes;  /* request body limit, 1 KiB .. 64 MiB (default 1 MiB) */
    int k_min;              /* smallest k a statistics caller may ask for, 2..100 (default 5) */
    char *taxonomy_dir;     /* categories.json, terms.json, mappings/ */
    char *migrations_dir;   /* NNNN_name.sql files */
    char *tls_cert;         /* both or neither */
    char *tls_key;
    hl_log_level_t log_level;
    char *source_path; /* the file it was read from (NULL: environment and defaults only) */
} hl_config_t;

/*
 * Loads PATH (NULL: defaults and environment only) and the HELPLINE_* environment.
 * A missing file is an error only when REQUIRED. On error returns HL_EINVAL (or HL_EIO,
 * HL_ENOMEM) and writes a one-line message naming file, line and key into ERR.
 * The caller frees *OUT with hl_config_free.
 */
int hl_config_load(const char *path, bool required, hl_config_t **out,
                   char err[HL_CONFIG_ERR_LEN]) HL_MUSTCHECK;

void hl_config_free(hl_config_t *cfg);

#endif
