#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { KEY_STRING, KEY_PATH, KEY_INT, KEY_SIZE, KEY_LISTEN, KEY_LOG_LEVEL } key_type_t;

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
    {"database_url", KEY_STRING, FIELD(database_url), 0, 0, NULL},
    {"key_file", KEY_PATH, FIELD(key_file), 0, 0, NULL},
    {"spool_dir", KEY_PATH, FIELD(spool_dir), 0, 0, "/var/lib/helpline/spool"},
    {"threads", KEY_INT, FIELD(threads), 1, 256, "8"},
    {"writer_connections", KEY_INT, FIELD(writer_connections), 1, HL_CONFIG_MAX_WRITER_CONNECTIONS, "2"},
    {"max_body_bytes", KEY_SIZE, FIELD(max_body_bytes), 1024, 64LL << 20, "1048576"},
    {"k_min", KEY_INT, FIELD(k_min), 2, 100, "5"},
    {"taxonomy_dir", KEY_PATH, FIELD(taxonomy_dir), 0, 0, HL_DATADIR "/taxonomy"},
    {"migrations_dir", KEY_PATH, FIELD(migrations_dir), 0, 0, HL_DATADIR "/migrations"},
    {"tls_cert", KEY_PATH, FIELD(tls_cert), 0, 0, NULL},
    {"tls_key", KEY_PATH, FIELD(tls_key), 0, 0, NULL},
    {"log_level", KEY_LOG_LEVEL, FIELD(log_level), 0, 0, "info"},
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
    case KEY_STRING:
    case KEY_PATH:
        if (*value == '\0') { /* an empty value unsets an optional key */
            free(*(char **)slot);
            *(char **)slot = NULL;
            return HL_OK;
        }
        if (k->type == KEY_PATH && strlen(value) >= PATH_MAX) {
            set_err(err, o, k->name, "path too long");
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
    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
        snprintf(err, HL_CONFIG_ERR_LEN, "%s: tls_cert and tls_key must be given together",
                 path != NULL ? path : "configuration");
        return HL_EINVAL;
    }
    return HL_OK;
}

int hl_config_load(const char *path, bool required, hl_config_t **out, char err[HL_CONFIG_ERR_LEN])
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
    if (path != NULL) {
        rc = set_string(&cfg->source_path, path);
        if (rc != HL_OK)
            goto out;
        rc = load_file(cfg, path, required, err);
        if (rc != HL_OK)
            goto out;
    }
    rc = load_env(cfg, err);
    if (rc != HL_OK)
        goto out;
    rc = check(cfg, path, err);
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

void hl_config_free(hl_config_t *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->listen_host);
    free(cfg->source_path);
    for (size_t i = 0; i < HL_ARRAY_LEN(keys); i++) {
        if (keys[i].type == KEY_STRING || keys[i].type == KEY_PATH)
            free(*(char **)((char *)cfg + keys[i].offset));
    }
    free(cfg);
}
