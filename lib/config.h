/*
 * helplined's configuration: a `key = value` file with `#` comments, and for every key an
 * environment override HELPLINE_<KEY> (the environment wins). Typed and validated; a bad
 * value names the file, the line and the key. The parsed config is immutable; SIGHUP
 * builds a new one and swaps it in only when every value is valid.
 *
 * Every subcommand loads it the same way (hl_config_load), also one that uses no key: a bad
 * value of any key stops it. The data directories (taxonomy_dir, migrations_dir, web_dir) left
 * unset default to a source checkout's own folders when the binary runs from its build
 * directory (hl_config_checkout_root), else to HL_DATADIR's (PREFIX/share/helpline).
 */
#ifndef HL_CONFIG_H
#define HL_CONFIG_H

#include <limits.h>
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
    char *database_url;      /* libpq connection string */
    char *read_database_url; /* hot standby for statistics, reports and lists (docs/scale-out.md) */
    char *key_file;          /* master key file (mode 0400) */
    char *spool_dir;         /* journal of sealed records while PostgreSQL is down */
    int threads;             /* HTTP worker threads, 1..256 */
    int writer_connections;  /* PostgreSQL connections committing contacts, 1..16 (default 2) */
    size_t max_body_bytes;   /* request body limit, 1 KiB .. 64 MiB (default 1 MiB) */
    int k_min;               /* smallest k a statistics caller may ask for, 2..100 (default 5) */
    char *taxonomy_dir;      /* categories.json, terms.json, mappings/ */
    char *migrations_dir;    /* NNNN_name.sql files */
    char *web_dir;           /* the web application's static files (server/http/webfiles.h) */
    char *tls_cert;          /* both or neither */
    char *tls_key;
    hl_log_level_t log_level;
    /* HTTP connections at once, 16..65536 (default 4096), and from one client address, 1..65536
     * (default 512); seconds for a request's headers to arrive, 1..300 (default 10) */
    int max_connections;
    int max_connections_per_ip;
    int header_timeout_seconds;
    /* seconds a checked token is trusted without asking the database again, 1..30 (default 30) */
    int token_cache_seconds;
    int session_idle;  /* seconds a web session lives unused, 1m..24h (default 30m; access/sessions.h) */
    int session_max;   /* seconds a web session lives at most, 1m..30d (default 12h) */
    char *source_path; /* -c FILE as given to hl_config_load (NULL: the default file); SIGHUP reuses it */
} hl_config_t;

/*
 * The one way helplined loads its configuration, for serve, its SIGHUP reload and every other
 * subcommand. PATH: the -c FILE, which must exist; NULL: HL_CONFIG_DEFAULT_PATH, read when it
 * exists (a missing default file leaves the defaults and the environment; one that exists but
 * cannot be read is an error). Then HELPLINE_<KEY> for every key; then the data directories
 * still unset, from the checkout of /proc/self/exe or HL_DATADIR. On error returns HL_EINVAL
 * (or HL_EIO, HL_ENOMEM) and writes a one-line message naming file, line and key into ERR.
 * The caller frees *OUT with hl_config_free.
 */
int hl_config_load(const char *path, hl_config_t **out, char err[HL_CONFIG_ERR_LEN]) HL_MUSTCHECK;

/* hl_config_load with every input explicit (tests use it). */
typedef struct hl_config_source {
    const char *file; /* NULL: none */
    bool required;    /* a missing FILE is an error, else it is skipped */
    const char *exe;  /* the running binary, for the checkout defaults; NULL: HL_DATADIR's */
} hl_config_source_t;

int hl_config_load_from(const hl_config_source_t *src, hl_config_t **out,
                        char err[HL_CONFIG_ERR_LEN]) HL_MUSTCHECK;

/*
 * The source checkout EXE runs from: ROOT when EXE (symbolic links resolved) is in ROOT/build or
 * ROOT/build/NAME (make's BUILD=build/NAME) and ROOT/taxonomy/categories.json is a file.
 * Returns false otherwise (an installed binary).
 */
bool hl_config_checkout_root(const char *exe, char root[PATH_MAX]);

void hl_config_free(hl_config_t *cfg);

#endif
