#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>

typedef enum {
    KEY_CONNINFO,
    KEY_PATH,
    KEY_INT,
    KEY_SIZE,
    KEY_DURATION,
    KEY_LISTEN,
    KEY_LOG_LEVEL
} key_type_t;

/* One row per key: the whole schema of helplined.conf (PgBouncer's CF_ABS idea). */
typedef struct {
    const char *name;
    key_type_t type;
    size_t offset; /* of the field in hl_config_t */
    long long min, max;
    const char *fallback; /* default, parsed like a file value; NULL: unset */
} key_def_t;

#define FIELD(f) offsetof(hl_config_t, f)

static const key_def_t keys[] = {
    {"listen", KEY_LISTEN, 0, 0, 0, "127.0.0.1:8080"},
    {"database_url", KEY_CONNINFO, FIELD(database_url), 0, 0, NULL},
    {"read_database_url", KEY_CONNINFO, FIELD(read_database_url), 0, 0, NULL},
    {"key_file", KEY_PATH, FIELD(key_file), 0, 0, NULL},
    {"spool_dir", KEY_PATH, FIELD(spool_dir), 0, 0, "/var/lib/helpline/spool"},
    {"threads", KEY_INT, FIELD(threads), 1, 256, "8"},
    {"max_connections", KEY_INT, FIELD(max_connections), 16, 65536, "4096"},
    {"max_connections_per_ip", KEY_INT, FIELD(max_connections_per_ip), 1, 65536, "512"},
    {"header_timeout_seconds", KEY_INT, FIELD(header_timeout_seconds), 1, 300, "10"},
    {"writer_connections", KEY_INT, FIELD(writer_connections), 1, HL_CONFIG_MAX_WRITER_CONNECTIONS, "2"},
    {"max_body_bytes", KEY_SIZE, FIELD(max_body_bytes), 1024, 64LL << 20, "1048576"},
    {"k_min", KEY_INT, FIELD(k_min), 2, 100, "5"},
    {"token_cache_seconds", KEY_INT, FIELD(token_cache_seconds), 1, 30, "30"},
    /* The data directories' defaults come from data_dirs[] below. */
    {"taxonomy_dir", KEY_PATH, FIELD(taxonomy_dir), 0, 0, NULL},
    {"migrations_dir", KEY_PATH, FIELD(migrations_dir), 0, 0, NULL},
    {"web_dir", KEY_PATH, FIELD(web_dir), 0, 0, NULL},
    {"tls_cert", KEY_PATH, FIELD(tls_cert), 0, 0, NULL},
    {"tls_key", KEY_PATH, FIELD(tls_key), 0, 0, NULL},
    {"log_level", KEY_LOG_LEVEL, FIELD(log_level), 0, 0, "info"},
    {"session_idle", KEY_DURATION, FIELD(session_idle), 60, 24 * 3600, "30m"},
    {"session_max", KEY_DURATION, FIELD(session_max), 60, 30 * 24 * 3600, "12h"},
};

/* Unset data directories: the checkout's folder when it exists there, else the installed one. */
static const struct {
    size_t offset;
    const char *in_checkout;
    const char *installed;
} data_dirs[] = {
    {FIELD(taxonomy_dir), "taxonomy", HL_DATADIR "/taxonomy"},
    {FIELD(migrations_dir), "migrations", HL_DATADIR "/migrations"},
    {FIELD(web_dir), "client/web", HL_DATADIR "/web"},
};

/* Where a value came from, for error messages. */
typedef struct {
    const char *file; /* NULL: environment or default */
    int line;
    const char *env; /* environment variable name */
} origin_t;

static void set_err(char err[HL_CONFIG_ERR_LEN], const origin_t *o, const char *key, const char *fmt, ...)
    HL_PRINTF(4, 5);

static void set_err(char err[HL_CONFIG_ERR_LEN], const origin_t *o, const char *key, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (o != NULL && o->file != NULL)
        snprintf(err, HL_CONFIG_ERR_LEN, "%s:%d: %s: %s", o->file, o->line, key, msg);
    else if (o != NULL && o->env != NULL)
        snprintf(err, HL_CONFIG_ERR_LEN, "environment %s: %s: %s", o->env, key, msg);
    else
        snprintf(err, HL_CONFIG_ERR_LEN, "default for %s: %s", key, msg);
}

static bool parse_ll(const char *s, long long *out)
{
    char *end;

    if (*s == '\0' || isspace((unsigned char)*s))
        return false;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* Sizes accept a plain byte count or a K/M/G suffix (powers of 1024). */
static bool parse_size(const char *s, long long *out)
{
    char buf[32];
    size_t len = strlen(s);
    long long mult = 1, v;

    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len + 1);
    switch (toupper((unsigned char)buf[len - 1])) {
    case 'K':
        mult = 1024;
        break;
    case 'M':
        mult = 1024 * 1024;
        break;
    case 'G':
        mult = 1024 * 1024 * 1024;
        break;
    default:
        break;
    }
    if (mult != 1)
        buf[len - 1] = '\0';
    if (!parse_ll(buf, &v) || v < 0 || v > LLONG_MAX / mult)
        return false;
    *out = v * mult;
    return true;
}

/* Durations: a whole number with an s, m, h or d suffix (none: seconds). */
static bool parse_duration(const char *s, long long *out)
{
    char buf[32];
    size_t len = strlen(s);
    long long mult = 1, v;
    bool unit = true;

    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len + 1);
    switch (buf[len - 1]) {
    case 's':
        break;
    case 'm':
        mult = 60;
        break;
    case 'h':
        mult = 3600;
        break;
    case 'd':
        mult = 24 * 3600;
        break;
    default:
        unit = false;
        break;
    }
    if (unit)
        buf[len - 1] = '\0';
    if (!parse_ll(buf, &v) || v < 0 || v > LLONG_MAX / mult)
        return false;
    *out = v * mult;
    return true;
}

/* What libpq accepts as the dbname of PQconnectdbParams with expand_dbname (db.c): a URI or
 * key=value pairs it can parse, or else a bare database name. */
static bool valid_conninfo(const char *s)
{
    PQconninfoOption *opts;
    char *msg = NULL;

    if (strncmp(s, "postgresql://", 13) != 0 && strncmp(s, "postgres://", 11) != 0 && strchr(s, '=') == NULL)
        return true;
    opts = PQconninfoParse(s, &msg);
    PQfreemem(msg);
    if (opts == NULL)
        return false;
    PQconninfoFree(opts);
    return true;
}

static int set_string(char **slot, const char *value)
{
    char *copy = strdup(value);

    if (copy == NULL)
        return HL_ENOMEM;
    free(*slot);
    *slot = copy;
    return HL_OK;
}

static int set_listen(hl_config_t *cfg, const char *value, const origin_t *o, char *err)
{
    const char *colon = strrchr(value, ':');
    long long port;
    char host[256];
    size_t hlen;

    if (colon == NULL || !parse_ll(colon + 1, &port) || port < 1 || port > 65535) {
        set_err(err, o, "listen", "expected HOST:PORT with a port 1..65535");
        return HL_EINVAL;
    }
    hlen = (size_t)(colon - value);
    if (hlen >= 2 && value[0] == '[' && value[hlen - 1] == ']') { /* [::1]:8080 */
        value++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof(host)) {
        set_err(err, o, "listen", "expected HOST:PORT with a host name or address");
        return HL_EINVAL;
    }
    memcpy(host, value, hlen);
    host[hlen] = '\0';
    if (set_string(&cfg->listen_host, host) != HL_OK)
        return HL_ENOMEM;
    cfg->listen_port = (int)port;
    return HL_OK;
}

static int apply(hl_config_t *cfg, const key_def_t *k, const char *value, const origin_t *o, char *err)
{
    void *slot = (char *)cfg + k->offset;
    long long v;

    switch (k->type) {
    case KEY_LISTEN:
        return set_listen(cfg, value, o, err);
    case KEY_CONNINFO:
    case KEY_PATH:
        if (*value == '\0') { /* an empty value unsets an optional key (back to its default) */
            free(*(char **)slot);
            *(char **)slot = NULL;
            return HL_OK;
        }
        if (k->type == KEY_PATH && strlen(value) >= PATH_MAX) {
            set_err(err, o, k->name, "path too long");
            return HL_EINVAL;
        }
        /* The message never quotes the value: it may hold a password. */
        if (k->type == KEY_CONNINFO && !valid_conninfo(value)) {
            set_err(err, o, k->name,
                    "expected a libpq connection string (key=value ... or a postgresql:// URI)");
            return HL_EINVAL;
        }
        return set_string((char **)slot, value);
    case KEY_INT:
        if (!parse_ll(value, &v) || v < k->min || v > k->max) {
            set_err(err, o, k->name, "expected an integer %lld..%lld", k->min, k->max);
            return HL_EINVAL;
        }
        *(int *)slot = (int)v;
        return HL_OK;
    case KEY_SIZE:
        if (!parse_size(value, &v) || v < k->min || v > k->max) {
            set_err(err, o, k->name, "expected a size %lld..%lld bytes (K, M, G suffixes allowed)", k->min,
                    k->max);
            return HL_EINVAL;
        }
        *(size_t *)slot = (size_t)v;
        return HL_OK;
    case KEY_DURATION:
        if (!parse_duration(value, &v) || v < k->min || v > k->max) {
            set_err(err, o, k->name,
                    "expected a duration of %lld..%lld seconds (s, m, h, d suffixes allowed)", k->min,
                    k->max);
            return HL_EINVAL;
        }
        *(int *)slot = (int)v;
        return HL_OK;
    case KEY_LOG_LEVEL:
        if (!hl_log_level_parse(value, (hl_log_level_t *)slot)) {
            set_err(err, o, k->name, "expected debug, info, warn or error");
            return HL_EINVAL;
        }
        return HL_OK;
    }
    return HL_EINVAL;
}

static const key_def_t *find_key(const char *name)
{
    for (size_t i = 0; i < HL_ARRAY_LEN(keys); i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static int load_file(hl_config_t *cfg, const char *path, bool required, char *err)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    origin_t o = {path, 0, NULL};
    int rc = HL_OK;

    if (f == NULL) {
        if (!required && errno == ENOENT)
            return HL_OK;
        snprintf(err, HL_CONFIG_ERR_LEN, "%s: cannot open: %s", path, strerror(errno));
        return HL_EIO;
    }
    while (getline(&line, &cap, f) != -1) {
        char *s, *eq, *name, *value;
        const key_def_t *k;

        o.line++;
        s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        eq = strchr(s, '=');
        if (eq == NULL) {
            snprintf(err, HL_CONFIG_ERR_LEN, "%s:%d: expected `key = value`", path, o.line);
            rc = HL_EINVAL;
            goto out;
        }
        *eq = '\0';
        name = trim(s);
        value = trim(eq + 1);
        k = find_key(name);
        if (k == NULL) {
            snprintf(err, HL_CONFIG_ERR_LEN, "%s:%d: %.64s: unknown key", path, o.line, name);
            rc = HL_EINVAL;
            goto out;
        }
        rc = apply(cfg, k, value, &o, err);
        if (rc != HL_OK)
            goto out;
    }
    if (ferror(f)) {
        snprintf(err, HL_CONFIG_ERR_LEN, "%s: read error", path);
        rc = HL_EIO;
    }
out:
    free(line);
    fclose(f);
    return rc;
}

static int load_env(hl_config_t *cfg, char *err)
{
    for (size_t i = 0; i < HL_ARRAY_LEN(keys); i++) {
        char env[64] = "HELPLINE_";
        size_t n = strlen(env);
        const char *value;
        origin_t o = {NULL, 0, env};

        for (const char *p = keys[i].name; *p != '\0' && n + 1 < sizeof(env); p++)
            env[n++] = (char)toupper((unsigned char)*p);
        env[n] = '\0';
        value = getenv(env);
        if (value == NULL)
            continue;
        int rc = apply(cfg, &keys[i], value, &o, err);
        if (rc != HL_OK)
            return rc;
    }
    return HL_OK;
}

static int check(const hl_config_t *cfg, const char *path, char *err)
{
    const char *where = path != NULL ? path : "configuration";

    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
        snprintf(err, HL_CONFIG_ERR_LEN, "%s: tls_cert and tls_key must be given together", where);
        return HL_EINVAL;
    }
    if (cfg->session_idle > cfg->session_max) {
        snprintf(err, HL_CONFIG_ERR_LEN, "%s: session_idle (%d s) is longer than session_max (%d s)", where,
                 cfg->session_idle, cfg->session_max);
        return HL_EINVAL;
    }
    return HL_OK;
}

bool hl_config_checkout_root(const char *exe, char root[PATH_MAX])
{
    char dir[PATH_MAX], probe[PATH_MAX + 32];
    struct stat st;
    char *slash;

    if (realpath(exe, dir) == NULL || (slash = strrchr(dir, '/')) == NULL)
        return false;
    *slash = '\0'; /* the binary's directory */
    for (int up = 0; up < 2; up++) {
        slash = strrchr(dir, '/');
        if (slash == NULL || slash == dir) /* nothing above /build */
            return false;
        if (strcmp(slash + 1, "build") == 0) {
            *slash = '\0';
            snprintf(probe, sizeof(probe), "%s/taxonomy/categories.json", dir);
            if (stat(probe, &st) != 0 || !S_ISREG(st.st_mode))
                return false;
            memcpy(root, dir, strlen(dir) + 1);
            return true;
        }
        *slash = '\0';
    }
    return false;
}

static bool is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int set_data_dirs(hl_config_t *cfg, const char *exe)
{
    char root[PATH_MAX], dir[PATH_MAX + 32];
    bool checkout = exe != NULL && hl_config_checkout_root(exe, root);

    for (size_t i = 0; i < HL_ARRAY_LEN(data_dirs); i++) {
        char **slot = (char **)((char *)cfg + data_dirs[i].offset);
        const char *value = data_dirs[i].installed;

        if (*slot != NULL)
            continue;
        if (checkout) {
            snprintf(dir, sizeof(dir), "%s/%s", root, data_dirs[i].in_checkout);
            if (is_dir(dir))
                value = dir;
        }
        if (set_string(slot, value) != HL_OK)
            return HL_ENOMEM;
    }
    return HL_OK;
}

int hl_config_load_from(const hl_config_source_t *src, hl_config_t **out, char err[HL_CONFIG_ERR_LEN])
{
    hl_config_t *cfg = calloc(1, sizeof(*cfg));
    int rc = HL_ENOMEM;

    err[0] = '\0';
    if (cfg == NULL)
        goto out;
    for (size_t i = 0; i < HL_ARRAY_LEN(keys); i++) {
        if (keys[i].fallback == NULL)
            continue;
        rc = apply(cfg, &keys[i], keys[i].fallback, NULL, err);
        if (rc != HL_OK)
            goto out;
    }
    if (src->file != NULL) {
        rc = load_file(cfg, src->file, src->required, err);
        if (rc != HL_OK)
            goto out;
    }
    rc = load_env(cfg, err);
    if (rc != HL_OK)
        goto out;
    rc = set_data_dirs(cfg, src->exe);
    if (rc != HL_OK)
        goto out;
    rc = check(cfg, src->file, err);
    if (rc != HL_OK)
        goto out;
    *out = cfg;
    cfg = NULL;
out:
    if (rc == HL_ENOMEM && err[0] == '\0')
        snprintf(err, HL_CONFIG_ERR_LEN, "out of memory");
    hl_config_free(cfg);
    return rc;
}

int hl_config_load(const char *path, hl_config_t **out, char err[HL_CONFIG_ERR_LEN])
{
    const hl_config_source_t src = {
        .file = path != NULL ? path : HL_CONFIG_DEFAULT_PATH,
        .required = path != NULL,
        .exe = "/proc/self/exe",
    };
    hl_config_t *cfg = NULL;
    int rc = hl_config_load_from(&src, &cfg, err);

    if (rc == HL_OK && path != NULL && set_string(&cfg->source_path, path) != HL_OK) {
        snprintf(err, HL_CONFIG_ERR_LEN, "out of memory");
        hl_config_free(cfg);
        return HL_ENOMEM;
    }
    if (rc == HL_OK)
        *out = cfg;
    return rc;
}

void hl_config_free(hl_config_t *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->listen_host);
    free(cfg->source_path);
    for (size_t i = 0; i < HL_ARRAY_LEN(keys); i++) {
        if (keys[i].type == KEY_CONNINFO || keys[i].type == KEY_PATH)
            free(*(char **)((char *)cfg + keys[i].offset));
    }
    free(cfg);
}
