/* What the client's commands share (cli.h). */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <sodium/utils.h>

#include "api.h"
#include "cli_config.h"

int hl_cli_usage_error(hl_cli_ctx_t *ctx, const char *usage, const char *fmt, ...)
{
    va_list ap;

    fputs("helpline: ", ctx->err);
    va_start(ap, fmt);
    vfprintf(ctx->err, fmt, ap);
    va_end(ap);
    fputs("\n", ctx->err);
    if (usage != NULL)
        fputs(usage, ctx->err);
    return HL_CLI_EXIT_USAGE;
}

bool hl_cli_common_opt(hl_cli_ctx_t *ctx, int opt, const char *arg)
{
    if (opt == HL_CLI_OPT_URL) {
        ctx->url = arg;
        return true;
    }
    if (opt == HL_CLI_OPT_TOKEN_FILE) {
        ctx->token_file = arg;
        return true;
    }
    return false;
}

void hl_cli_wipe_free(char *p, size_t len)
{
    if (p == NULL)
        return;
    sodium_memzero(p, len != 0 ? len : strlen(p));
    free(p);
}

int hl_cli_read_file(const char *path, char **out, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *buf = NULL, chunk[4096];
    size_t n, used = 0, cap = 0;
    int rc = HL_EIO;

    if (f == NULL)
        return HL_EIO;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (used + n + 1 > cap) {
            size_t ncap = cap == 0 ? 8192 : cap * 2;
            while (ncap < used + n + 1)
                ncap *= 2;
            char *nb = malloc(ncap);
            if (nb == NULL) {
                rc = HL_ENOMEM;
                goto out;
            }
            if (buf != NULL)
                memcpy(nb, buf, used);
            hl_cli_wipe_free(buf, cap);
            buf = nb;
            cap = ncap;
        }
        memcpy(buf + used, chunk, n);
        used += n;
    }
    if (ferror(f))
        goto out;
    if (buf == NULL && (buf = malloc(1)) == NULL) {
        rc = HL_ENOMEM;
        goto out;
    }
    buf[used] = '\0';
    *out = buf;
    *len = used;
    buf = NULL;
    rc = HL_OK;
out:
    sodium_memzero(chunk, sizeof(chunk));
    hl_cli_wipe_free(buf, cap);
    if (f != stdin) {
        int saved = errno;
        fclose(f);
        errno = saved;
    }
    return rc;
}

void hl_cli_print_outcome(FILE *out, json_t *reply)
{
    json_t *cats = json_object_get(reply, "categories"), *terms = json_object_get(reply, "terminology"), *v;
    json_t *repeat = json_object_get(reply, "repeat_caller");
    size_t i;

    if (json_array_size(cats) > 0) {
        fputs("categories:\n", out);
        json_array_foreach(cats, i, v)
        {
            const char *src = json_string_value(json_object_get(v, "source"));
            fprintf(out, "  %-45s %s  [%s%s]\n", json_string_value(json_object_get(v, "code")),
                    json_string_value(json_object_get(v, "label"))
                        ? json_string_value(json_object_get(v, "label"))
                        : "",
                    src != NULL ? src : "?",
                    src != NULL && strcmp(src, "suggested") == 0 ? ": not counted until confirmed" : "");
        }
    } else if (cats != NULL) {
        fputs("categories: none\n", out);
    }
    json_array_foreach(terms, i, v)
    {
        const char *found = json_string_value(json_object_get(v, "found"));
        const char *label = json_string_value(json_object_get(v, "label"));
        const char *term = json_string_value(json_object_get(v, "term"));
        const char *verdict = json_string_value(json_object_get(v, "verdict"));
        const char *preferred = json_string_value(json_object_get(v, "preferred"));
        const char *what = found != NULL ? found : label != NULL ? label : term != NULL ? term : "?";
        bool avoid = verdict != NULL && strcmp(verdict, "avoid") == 0;
        bool caution = verdict != NULL && strcmp(verdict, "caution") == 0;

        if (i == 0)
            fputs("terminology:\n", out);
        if ((avoid || caution) && preferred != NULL)
            fprintf(out, "  you wrote '%s': %s term is '%s'\n", what, avoid ? "the preferred" : "a clearer",
                    preferred);
        else
            fprintf(out, "  '%s' (%s)\n", what, verdict != NULL ? verdict : "noted");
    }
    if (json_is_object(repeat)) {
        json_int_t n = json_integer_value(json_object_get(repeat, "previous_contacts"));
        if (n == 0)
            fputs("repeat caller: first contact from this number\n", out);
        else
            fprintf(out, "repeat caller: %lld previous contact%s from this number\n", (long long)n,
                    n == 1 ? "" : "s");
    }
}

int hl_cli_connect(hl_cli_ctx_t *ctx, hl_cli_api_t **api)
{
    hl_cli_config_in_t in = {.url_flag = ctx->url, .token_file_flag = ctx->token_file};
    hl_cli_config_t cfg;
    char path[HL_CLI_PATH_MAX], err[HL_CLI_ERR_LEN];
    int rc;

    hl_cli_config_from_env(&in, path, sizeof(path));
    rc = hl_cli_config_resolve(&in, &cfg, err, sizeof(err));
    if (rc != HL_OK) {
        fprintf(ctx->err, "helpline: %s\n", rc == HL_ENOMEM ? "out of memory" : err);
        return HL_CLI_EXIT_USAGE;
    }
    rc = hl_cli_api_new(&cfg, api);
    hl_cli_config_wipe(&cfg);
    if (rc != HL_OK) {
        fprintf(ctx->err, "helpline: cannot set up HTTP: %s\n", hl_strerror(rc));
        return HL_CLI_EXIT_USAGE;
    }
    return HL_CLI_EXIT_OK;
}

int hl_cli_get_page(hl_cli_ctx_t *ctx, hl_cli_api_t *api, const char *path, const char *what, bool as_json,
                    json_t **page)
{
    hl_cli_response_t resp = {0};
    int status, rc;

    *page = NULL;
    rc = hl_cli_api_request(api, "GET", path, NULL, NULL, 0, &resp);
    status = hl_cli_api_report(api, ctx->err, rc, &resp);
    if (status != HL_CLI_EXIT_OK)
        goto out;
    *page = json_loadb(resp.body != NULL ? resp.body : "", resp.len, 0, NULL);
    if (!json_is_array(json_object_get(*page, "items"))) {
        fprintf(ctx->err, "error: the server's reply is not a list of %s\n", what);
        json_decref(*page);
        *page = NULL;
        status = HL_CLI_EXIT_SERVER;
        goto out;
    }
    if (as_json)
        fprintf(ctx->out, "%.*s\n", (int)resp.len, resp.body);
out:
    hl_cli_response_free(&resp);
    return status;
}

bool hl_cli_is_date(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}
