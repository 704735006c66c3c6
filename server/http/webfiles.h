/*
 * The web application's static files (docs/http-api.md "The web application's files"): every regular file
 * under web_dir, served at "/" ("/" itself is index.html), and under Debian's Chart.js directory, served at
 * "/vendor/chart.js/", read into memory once at start-up and served from that fixed table.
 *
 * The walk opens every entry relative to its directory with O_NOFOLLOW: a symbolic link is never
 * followed (so never served), and neither is anything that is not a regular file or a directory.
 * Only names of letters, digits, '.', '_' and '-' not starting with '.' are taken, only files of
 * a known type (by extension), so a request path can match only a plain relative path of the
 * table: "..", "//", "%2e%2e", "\" or a NUL byte never reach the file system.
 */
#ifndef HL_WEBFILES_H
#define HL_WEBFILES_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"

#define HL_WEBFILES_CHARTJS_DIR    "/usr/share/javascript/chart.js" /* Debian's libjs-chart.js */
#define HL_WEBFILES_CHARTJS_PREFIX "/vendor/chart.js"
/* Over any of these the daemon does not start (a web_dir set to a wrong folder, say "/"). */
#define HL_WEBFILES_MAX_FILE_BYTES ((size_t)2 << 20)  /* one file */
#define HL_WEBFILES_MAX_TREE_BYTES ((size_t)16 << 20) /* all the files of one directory tree */
#define HL_WEBFILES_MAX_FILES      4096               /* files of one tree */
#define HL_WEBFILES_MAX_DEPTH      16                 /* folders within folders */

/* "\"" + 32 hex digits of a BLAKE2b-128 hash of the bytes + "\"": a strong validator. */
#define HL_WEBFILES_ETAG_LEN 35

typedef struct hl_webfile {
    char *path;               /* as requested: "/index.html", "/vendor/chart.js/chart.min.js" */
    const char *content_type; /* from the extension */
    unsigned char *data;
    size_t len;
    char etag[HL_WEBFILES_ETAG_LEN];
    /* The reply's headers: ETag, Cache-Control and six security headers, name then value; NULL. */
    const char *headers[2 * 8 + 1];
} hl_webfile_t;

typedef struct hl_webfiles hl_webfiles_t;

/*
 * Loads WEB_DIR (served at "/") and CHARTJS_DIR (served at HL_WEBFILES_CHARTJS_PREFIX "/"); either
 * may be NULL. A directory that does not exist is logged as a warning and serves nothing. Over a
 * limit above, or a directory or file that cannot be read: logged (naming it and the limit),
 * HL_EINVAL or HL_EIO; HL_ENOMEM. Skipped entries (links, hidden or odd names, unknown types)
 * are logged, one line per tree with how many.
 */
int hl_webfiles_load(const char *web_dir, const char *chartjs_dir, hl_webfiles_t **out) HL_MUSTCHECK;
void hl_webfiles_free(hl_webfiles_t *files);

/* How many files are served. */
size_t hl_webfiles_count(const hl_webfiles_t *files);

/* The file served at request path PATH ("/" is "/index.html"); NULL when none, also for any
 * path that is not a plain one ("/a/../b", "//b", "/./b", "/.b"). FILES may be NULL. */
const hl_webfile_t *hl_webfiles_find(const hl_webfiles_t *files, const char *path);

/* Does the If-None-Match value IF_NONE_MATCH (NULL: none) match ETAG: "*", or a list with ETAG,
 * W/ allowed (RFC 9110 13.1.2 compares weakly)? */
bool hl_webfiles_etag_matches(const char *if_none_match, const char *etag);

/* Answers a GET or HEAD of REQ's path from FILES (may be NULL): 200, or 304 when If-None-Match
 * matches, with the security headers, Cache-Control: no-cache and the ETag; else 404 in plain text. */
void hl_webfiles_serve(const hl_webfiles_t *files, hl_request_t *req);

#endif
