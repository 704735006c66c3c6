/* The client's HTTP requests over libcurl (api.h). */
#include "api.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <sodium/utils.h>

#include "cli.h"

struct hl_cli_api {
    CURL *curl;
    char url[HL_CLI_URL_MAX];
    char auth[HL_CLI_TOKEN_MAX + 32]; /* "Authorization: Bearer TOKEN" */
};

int hl_cli_api_new(const hl_cli_config_t *cfg, hl_cli_api_t **out)
{
    hl_cli_api_t *api = calloc(1, sizeof(*api));

    if (api == NULL)
        return HL_ENOMEM;
    api->curl = curl_easy_init();
    if (api->curl == NULL) {
        free(api);
        return HL_ENOMEM;
    }
    snprintf(api->url, sizeof(api->url), "%s", cfg->url);
    snprintf(api->auth, sizeof(api->auth), "Authorization: Bearer %s", cfg->token);
    *out = api;
    return HL_OK;
}

void hl_cli_api_free(hl_cli_api_t *api)
{
    if (api == NULL)
        return;
    curl_easy_cleanup(api->curl);
    sodium_memzero(api->auth, sizeof(api->auth));
    free(api);
}

const char *hl_cli_api_url(const hl_cli_api_t *api)
{
    return api->url;
}

typedef struct {
    char *buf;
    size_t len, cap;
    bool too_big;
} sink_t;

/* Grows by copying into a new buffer and wiping the old one (a reply may hold a summary). */
static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    sink_t *s = arg;
    size_t add = size * n;

    if (s->len + add + 1 > HL_CLI_MAX_RESPONSE) {
        s->too_big = true;
        return 0;
    }
    if (s->len + add + 1 > s->cap) {
        size_t cap = s->cap == 0 ? 4096 : s->cap;
        while (cap < s->len + add + 1)
            cap *= 2;
        char *nb = malloc(cap);
        if (nb == NULL)
            return 0;
        if (s->buf != NULL) {
            memcpy(nb, s->buf, s->len);
            sodium_memzero(s->buf, s->cap);
            free(s->buf);
        }
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, add);
    s->len += add;
    s->buf[s->len] = '\0';
    return add;
}

int hl_cli_api_request(hl_cli_api_t *api, const char *method, const char *path, const char *accept,
                       const char *body, size_t len, hl_cli_response_t *resp)
{
    CURL *c = api->curl;
    struct curl_slist *headers = NULL, *h;
    char url[HL_CLI_URL_MAX + 2048], accept_h[160], errbuf[CURL_ERROR_SIZE] = "";
    sink_t sink = {0};
    CURLcode cc;
    char *ct = NULL;
    int rc = HL_ENOMEM;

    memset(resp, 0, sizeof(*resp));
    snprintf(url, sizeof(url), "%s%s", api->url, path);
    snprintf(accept_h, sizeof(accept_h), "Accept: %s", accept != NULL ? accept : "application/json");
    curl_easy_reset(c);
    if ((h = curl_slist_append(headers, api->auth)) == NULL)
        goto out;
    headers = h;
    if ((h = curl_slist_append(headers, accept_h)) == NULL)
        goto out;
    headers = h;
    if (body != NULL) {
        if ((h = curl_slist_append(headers, "Content-Type: application/json")) == NULL)
            goto out;
        headers = h;
        if ((h = curl_slist_append(headers, "Expect:")) == NULL)
            goto out;
        headers = h;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, HL_CLI_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, HL_CLI_TOTAL_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "helpline-client/1");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        if (sink.too_big)
            snprintf(resp->error, sizeof(resp->error), "the reply is larger than %u bytes",
                     HL_CLI_MAX_RESPONSE);
        else
            snprintf(resp->error, sizeof(resp->error), "%s",
                     errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
        rc = cc == CURLE_OUT_OF_MEMORY ? HL_ENOMEM : HL_EIO;
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != NULL)
        snprintf(resp->content_type, sizeof(resp->content_type), "%s", ct);
    resp->body = sink.buf;
    resp->len = sink.len;
    sink.buf = NULL;
    rc = HL_OK;
out:
    if (sink.buf != NULL) {
        sodium_memzero(sink.buf, sink.cap);
        free(sink.buf);
    }
    curl_slist_free_all(headers);
    curl_easy_reset(c);
    return rc;
}

void hl_cli_response_free(hl_cli_response_t *resp)
{
    if (resp->body != NULL) {
        sodium_memzero(resp->body, resp->len);
        free(resp->body);
    }
    resp->body = NULL;
    resp->len = 0;
}

void hl_cli_error_message(long status, const char *body, size_t len, char *out, size_t cap)
{
    json_t *j = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *e = json_object_get(j, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *field = json_string_value(json_object_get(e, "field"));
    const char *hint = status == 401 ? "; check HELPLINE_TOKEN, --token-file or the config file" : "";

    if (msg != NULL && field != NULL && *field != '\0')
        snprintf(out, cap, "%s (%s)%s", msg, field, hint);
    else if (msg != NULL)
        snprintf(out, cap, "%s (HTTP %ld)%s", msg, status, hint);
    else
        snprintf(out, cap, "the server answered HTTP %ld%s", status, hint);
    json_decref(j);
}

int hl_cli_exit_status(int rc, long status)
{
    if (rc == HL_EIO)
        return HL_CLI_EXIT_UNREACHABLE;
    if (rc != HL_OK)
        return HL_CLI_EXIT_SERVER;
    return status >= 200 && status < 400 ? HL_CLI_EXIT_OK : HL_CLI_EXIT_SERVER;
}

int hl_cli_api_report(hl_cli_api_t *api, FILE *err, int rc, const hl_cli_response_t *resp)
{
    int status = hl_cli_exit_status(rc, resp->status);
    char msg[512];

    if (rc == HL_EIO) {
        fprintf(
            err,
            "error: cannot reach the server at %s: %s (is helplined running? check HELPLINE_URL or --url)\n",
            api->url, resp->error);
    } else if (rc != HL_OK) {
        fprintf(err, "error: %s\n", hl_strerror(rc));
    } else if (status != HL_CLI_EXIT_OK) {
        hl_cli_error_message(resp->status, resp->body, resp->len, msg, sizeof(msg));
        fprintf(err, "error: %s\n", msg);
    }
    return status;
}

int hl_cli_api_json(hl_cli_api_t *api, FILE *err, const char *method, const char *path, const char *body,
                    json_t **out)
{
    hl_cli_response_t resp;
    json_error_t jerr;
    int rc = hl_cli_api_request(api, method, path, NULL, body, body != NULL ? strlen(body) : 0, &resp);
    int status = hl_cli_api_report(api, err, rc, &resp);

    if (status == HL_CLI_EXIT_OK && out != NULL) {
        *out = resp.body != NULL ? json_loadb(resp.body, resp.len, 0, &jerr) : NULL;
        if (*out == NULL) {
            fprintf(err, "error: the server's reply is not JSON (HTTP %ld)\n", resp.status);
            status = HL_CLI_EXIT_SERVER;
        }
    }
    hl_cli_response_free(&resp);
    return status;
}

char *hl_cli_api_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0), *copy;

    if (e == NULL)
        return NULL;
    copy = strdup(e);
    curl_free(e);
    return copy;
}

int hl_cli_api_add_param(char *path, size_t cap, const char *name, const char *value)
{
    char *e = hl_cli_api_escape(value);
    size_t used = strlen(path);
    int n;

    if (e == NULL)
        return HL_ENOMEM;
    n = snprintf(path + used, cap - used, "%s%s=%s", strchr(path, '?') != NULL ? "&" : "?", name, e);
    free(e);
    if (n < 0 || (size_t)n >= cap - used) {
        path[used] = '\0';
        return HL_EINVAL;
    }
    return HL_OK;
}
