/* URL and token resolution for the client (cli_config.h). */
#include "cli_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium/utils.h>

HL_PRINTF(3, 4) static void seterr(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

bool hl_cli_config_default_path(char *out, size_t cap)
{
    const char *explicit_path = getenv("HELPLINE_CONFIG"), *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int n;

    if (explicit_path != NULL && *explicit_path != '\0')
        n = snprintf(out, cap, "%s", explicit_path);
    else if (xdg != NULL && *xdg == '/')
        n = snprintf(out, cap, "%s/helpline/config", xdg);
    else if (home != NULL && *home != '\0')
        n = snprintf(out, cap, "%s/.config/helpline/config", home);
    else
        return false;
    return n > 0 && (size_t)n < cap;
}

void hl_cli_config_from_env(hl_cli_config_in_t *in, char *path_buf, size_t path_cap)
{
    const char *url = getenv("HELPLINE_URL"), *token = getenv("HELPLINE_TOKEN");

    in->env_url = url != NULL && *url != '\0' ? url : NULL;
    in->env_token = token != NULL && *token != '\0' ? token : NULL;
    in->config_path = hl_cli_config_default_path(path_buf, path_cap) ? path_buf : NULL;
}

/* Opens PATH for reading when it is a regular file no one else may read or write.
 * HL_ENOTFOUND when it does not exist (and MAY_BE_MISSING). */
static int open_private(const char *path, const char *what, bool may_be_missing, FILE **out, char *err,
                        size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0) {
        if (errno == ENOENT && may_be_missing)
            return HL_ENOTFOUND;
        seterr(err, errlen, "cannot open %s %s: %s", what, path, strerror(errno));
        return HL_EIO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        seterr(err, errlen, "%s %s is not a regular file", what, path);
        close(fd);
        return HL_EIO;
    }
    if ((st.st_mode & 077) != 0) {
        seterr(err, errlen, "%s %s has mode %04o: group or others may read it; refusing (chmod 600 %s)", what,
               path, (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return HL_EPERM;
    }
    *out = fdopen(fd, "r");
    if (*out == NULL) {
        close(fd);
        return HL_ENOMEM;
    }
    return HL_OK;
}

static char *trim(char *s)
{
    size_t n;

    while (*s == ' ' || *s == '\t')
        s++;
    n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* The first line of a token file, trimmed, into OUT. */
static int read_token_file(const char *path, char out[HL_CLI_TOKEN_MAX], char *err, size_t errlen)
{
    FILE *f = NULL;
    char line[HL_CLI_TOKEN_MAX + 2];
    int rc = open_private(path, "token file", false, &f, err, errlen);

    if (rc != HL_OK)
        return rc;
    rc = HL_EINVAL;
    if (fgets(line, sizeof(line), f) == NULL) {
        seterr(err, errlen, "token file %s is empty", path);
        goto out;
    }
    if (strchr(line, '\n') == NULL && !feof(f)) {
        seterr(err, errlen, "token file %s: the token is too long", path);
        goto out;
    }
    char *t = trim(line);
    if (*t == '\0') {
        seterr(err, errlen, "token file %s is empty", path);
        goto out;
    }
    memcpy(out, t, strlen(t) + 1);
    rc = HL_OK;
out:
    sodium_memzero(line, sizeof(line));
    fclose(f);
    return rc;
}

typedef struct {
    char url[HL_CLI_URL_MAX];
    char token[HL_CLI_TOKEN_MAX];
    char token_file[HL_CLI_PATH_MAX];
} file_conf_t;

static int read_config(const char *path, file_conf_t *fc, char *err, size_t errlen)
{
    FILE *f = NULL;
    char line[HL_CLI_PATH_MAX + 64];
    int rc = open_private(path, "config file", true, &f, err, errlen), lineno = 0;

    if (rc != HL_OK)
        return rc == HL_ENOTFOUND ? HL_OK : rc;
    rc = HL_EINVAL;
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            seterr(err, errlen, "%s:%d: line too long", path, lineno);
            goto out;
        }
        char *s = trim(line), *eq, *key, *value;
        if (*s == '\0' || *s == '#')
            continue;
        eq = strchr(s, '=');
        if (eq == NULL) {
            seterr(err, errlen, "%s:%d: expected key = value", path, lineno);
            goto out;
        }
        *eq = '\0';
        key = trim(s);
        value = trim(eq + 1);
        char *dst;
        size_t cap;
        if (strcmp(key, "url") == 0) {
            dst = fc->url;
            cap = sizeof(fc->url);
        } else if (strcmp(key, "token") == 0) {
            dst = fc->token;
            cap = sizeof(fc->token);
        } else if (strcmp(key, "token_file") == 0) {
            dst = fc->token_file;
            cap = sizeof(fc->token_file);
        } else {
            seterr(err, errlen, "%s:%d: unknown key '%.64s' (url, token, token_file)", path, lineno, key);
            goto out;
        }
        if (strlen(value) >= cap) {
            seterr(err, errlen, "%s:%d: %s is too long", path, lineno, key);
            goto out;
        }
        memcpy(dst, value, strlen(value) + 1);
    }
    rc = HL_OK;
out:
    sodium_memzero(line, sizeof(line));
    fclose(f);
    return rc;
}

static int set_url(char out[HL_CLI_URL_MAX], const char *url, const char *from, char *err, size_t errlen)
{
    size_t n = strlen(url);

    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        seterr(err, errlen, "%s: the URL must start with http:// or https://", from);
        return HL_EINVAL;
    }
    if (n >= HL_CLI_URL_MAX) {
        seterr(err, errlen, "%s: the URL is too long", from);
        return HL_EINVAL;
    }
    while (n > 0 && url[n - 1] == '/')
        n--;
    memcpy(out, url, n);
    out[n] = '\0';
    return HL_OK;
}

/* "~/x" -> $HOME/x */
static void expand_home(const char *path, char *out, size_t cap)
{
    const char *home = getenv("HOME");

    if (path[0] == '~' && path[1] == '/' && home != NULL)
        snprintf(out, cap, "%s%s", home, path + 1);
    else
        snprintf(out, cap, "%s", path);
}

int hl_cli_config_resolve(const hl_cli_config_in_t *in, hl_cli_config_t *out, char *err, size_t errlen)
{
    file_conf_t *fc = calloc(1, sizeof(*fc));
    hl_cli_config_t cfg;
    char path[HL_CLI_PATH_MAX + 8];
    int rc = HL_ENOMEM;

    memset(&cfg, 0, sizeof(cfg));
    if (fc == NULL)
        goto out;
    if (in->config_path != NULL) {
        rc = read_config(in->config_path, fc, err, errlen);
        if (rc != HL_OK)
            goto out;
    }
    /* URL */
    if (in->url_flag != NULL)
        rc = set_url(cfg.url, in->url_flag, "--url", err, errlen);
    else if (in->env_url != NULL)
        rc = set_url(cfg.url, in->env_url, "HELPLINE_URL", err, errlen);
    else if (fc->url[0] != '\0')
        rc = set_url(cfg.url, fc->url, in->config_path, err, errlen);
    else {
        seterr(err, errlen, "no server URL: set HELPLINE_URL, pass --url, or put 'url = ...' in %s",
               in->config_path != NULL ? in->config_path : "~/.config/helpline/config");
        rc = HL_EINVAL;
    }
    if (rc != HL_OK)
        goto out;
    /* token */
    if (in->token_file_flag != NULL) {
        rc = read_token_file(in->token_file_flag, cfg.token, err, errlen);
    } else if (in->env_token != NULL) {
        if (strlen(in->env_token) >= sizeof(cfg.token)) {
            seterr(err, errlen, "HELPLINE_TOKEN is too long");
            rc = HL_EINVAL;
        } else {
            memcpy(cfg.token, in->env_token, strlen(in->env_token) + 1);
            rc = HL_OK;
        }
    } else if (fc->token_file[0] != '\0') {
        expand_home(fc->token_file, path, sizeof(path));
        rc = read_token_file(path, cfg.token, err, errlen);
    } else if (fc->token[0] != '\0') {
        memcpy(cfg.token, fc->token, sizeof(cfg.token));
        rc = HL_OK;
    } else {
        seterr(err, errlen,
               "no access token: set HELPLINE_TOKEN, pass --token-file FILE, or put 'token_file = FILE' "
               "in %s",
               in->config_path != NULL ? in->config_path : "~/.config/helpline/config");
        rc = HL_EINVAL;
    }
    if (rc != HL_OK)
        goto out;
    for (const char *p = cfg.token; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
            seterr(err, errlen, "the access token contains spaces or control characters");
            rc = HL_EINVAL;
            goto out;
        }
    }
    *out = cfg;
out:
    sodium_memzero(&cfg, sizeof(cfg));
    if (fc != NULL) {
        sodium_memzero(fc, sizeof(*fc));
        free(fc);
    }
    return rc;
}

void hl_cli_config_wipe(hl_cli_config_t *cfg)
{
    sodium_memzero(cfg->token, sizeof(cfg->token));
}
