/*
 * The client's side of the HTTP API (libcurl): one handle per command, the bearer token on
 * every request, connect timeout 3 s and total timeout 30 s, error replies turned into the
 * api.md exit statuses and the message "error: <message> (<field>)".
 *
 * Nothing is written to disk: no cookie jar, no cache, bodies only in memory (response
 * bodies are wiped when freed).
 */
#ifndef HL_CLI_API_H
#define HL_CLI_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "cli_config.h"
#include "util.h"

#define HL_CLI_CONNECT_TIMEOUT_MS 3000L
#define HL_CLI_TOTAL_TIMEOUT_MS   30000L
#define HL_CLI_MAX_RESPONSE       (64u * 1024u * 1024u)

typedef struct hl_cli_api hl_cli_api_t;

typedef struct hl_cli_response {
    long status; /* HTTP status; 0 when no reply arrived */
    char *body;  /* NUL-terminated (malloc'd), may be NULL */
    size_t len;
    char content_type[128];
    char error[256]; /* why no reply arrived (transport) */
} hl_cli_response_t;

/* A handle for CFG's URL and token (copied). HL_ENOMEM. */
int hl_cli_api_new(const hl_cli_config_t *cfg, hl_cli_api_t **out) HL_MUSTCHECK;
void hl_cli_api_free(hl_cli_api_t *api);

/* The base URL (no trailing slash). */
const char *hl_cli_api_url(const hl_cli_api_t *api);

/*
 * One request: METHOD PATH (starting with "/", query included), BODY of LEN bytes sent as
 * application/json when not NULL, ACCEPT as the Accept header (NULL: application/json).
 * Returns 0 when a reply arrived, whatever its status; HL_EIO when none did (RESP->error
 * says why); HL_ENOMEM. RESP is filled in both cases; release it with hl_cli_response_free.
 */
int hl_cli_api_request(hl_cli_api_t *api, const char *method, const char *path, const char *accept,
                       const char *body, size_t len, hl_cli_response_t *resp) HL_MUSTCHECK;

/* Wipes and frees the body. */
void hl_cli_response_free(hl_cli_response_t *resp);

/*
 * The message for an error reply: "<message> (<field>)" from the api.md error object, or
 * "<message>" without a field, or "HTTP <status>" when the body is not an error object;
 * 401 adds a hint about the token. Written into OUT (NUL-terminated).
 */
void hl_cli_error_message(long status, const char *body, size_t len, char *out, size_t cap);

/* The exit status for a request's outcome: RC from hl_cli_api_request and the HTTP status.
 * HL_EIO -> 3; other errors -> 1; status 2xx/3xx -> 0; else 1. */
int hl_cli_exit_status(int rc, long status);

/*
 * The usual path: sends METHOD PATH with BODY (a JSON text, may be NULL), prints the error
 * ("error: ..." on ERR) when there is one, and on success parses the reply into *OUT
 * (may be NULL to ignore it). Returns the exit status (HL_CLI_EXIT_*).
 */
int hl_cli_api_json(hl_cli_api_t *api, FILE *err, const char *method, const char *path, const char *body,
                    json_t **out);

/* Prints the message for an unreachable server or an error reply to ERR; returns the exit status. */
int hl_cli_api_report(hl_cli_api_t *api, FILE *err, int rc, const hl_cli_response_t *resp);

/* PATH-safe escaping of a query value or path segment (a new string to free()), NULL on ENOMEM. */
char *hl_cli_api_escape(const char *s);

/* Appends "&NAME=escaped(VALUE)" to PATH ("?" before the first): HL_OK, HL_ENOMEM, or HL_EINVAL
 * when it does not fit in CAP bytes (PATH is then left as it was). */
int hl_cli_api_add_param(char *path, size_t cap, const char *name, const char *value) HL_MUSTCHECK;

#endif
