#include "http/webfiles.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define PATH_MAX_LEN 1024 /* a request path longer than this is no file of ours */

/* Every static reply's headers after the ETag (docs/http-api.md "The web application's files"). Chart.js
 * draws on a canvas and sets element.style from script, which style-src does not govern; no inline script or
 * style. */
#define SECURITY_HEADERS                                                                                     \
    "Content-Security-Policy",                                                                               \
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "                    \
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "                       \
        "frame-ancestors 'none'",                                                                            \
        "X-Content-Type-Options", "nosniff", "Referrer-Policy", "no-referrer", "X-Frame-Options", "DENY",    \
        "Cross-Origin-Opener-Policy", "same-origin", "Cross-Origin-Resource-Policy", "same-origin"

/* Pages hold no data (that comes from /v1, no-store): the browser keeps them and asks each time
 * whether they changed (If-None-Match, 304). */
static const char *const not_found_headers[] = {"Cache-Control", "no-cache", SECURITY_HEADERS, NULL};
static const char not_found_body[] = "not found\n";

struct hl_webfiles {
    hl_webfile_t *files; /* sorted by path */
    size_t n, cap;
};

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
};

/* One tree's walk. */
typedef struct {
    hl_webfiles_t *files;
    const char *root;   /* the directory, for messages */
    const char *prefix; /* "" or "/vendor/chart.js" */
    size_t taken;       /* the table's first TAKEN files (sorted) are another tree's: they win */
    size_t bytes, count;
    size_t skipped; /* links, hidden or odd names, unknown types, other kinds of file */
} walk_t;

static const char *content_type(const char *name)
{
    const char *dot = strrchr(name, '.');

    for (size_t i = 0; dot != NULL && i < HL_ARRAY_LEN(types); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

/* A name the table may hold: letters, digits, '.', '_', '-', not starting with '.'. */
static bool plain_name(const char *name, size_t len)
{
    if (len == 0 || name[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* "/" then plain names separated by single '/'. */
static bool plain_path(const char *path)
{
    size_t len = strlen(path);

    if (path[0] != '/' || len > PATH_MAX_LEN)
        return false;
    for (const char *seg = path + 1;;) {
        size_t n = strcspn(seg, "/");
        if (!plain_name(seg, n))
            return false;
        if (seg[n] == '\0')
            return true;
        seg += n + 1;
    }
}

static void file_headers(hl_webfile_t *f)
{
    const char *const headers[] = {"ETag", f->etag, "Cache-Control", "no-cache", SECURITY_HEADERS, NULL};

    _Static_assert(sizeof(headers) == sizeof(f->headers), "hl_webfile_t.headers has room for every header");
    memcpy(f->headers, headers, sizeof(headers));
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const hl_webfile_t *)a)->path, ((const hl_webfile_t *)b)->path);
}

static int add_file(walk_t *w, const char *path, const char *type, unsigned char *data, size_t len)
{
    hl_webfiles_t *t = w->files;
    hl_webfile_t *f;
    unsigned char hash[16];

    if (t->n == t->cap) {
        size_t cap = t->cap == 0 ? 64 : t->cap * 2;
        hl_webfile_t *grown = realloc(t->files, cap * sizeof(*grown));
        if (grown == NULL)
            return HL_ENOMEM;
        t->files = grown;
        t->cap = cap;
    }
    f = &t->files[t->n];
    memset(f, 0, sizeof(*f));
    f->path = strdup(path);
    if (f->path == NULL)
        return HL_ENOMEM;
    f->content_type = type;
    f->data = data;
    f->len = len;
    crypto_generichash(hash, sizeof(hash), data, len, NULL, 0);
    f->etag[0] = '"';
    sodium_bin2hex(f->etag + 1, sizeof(f->etag) - 1, hash, sizeof(hash));
    strcpy(f->etag + 2 * sizeof(hash) + 1, "\"");
    t->n++;
    return HL_OK;
}

/* Reads FD (a regular file of SIZE bytes served at PATH) into the table; takes FD. */
static int load_file(walk_t *w, int fd, const char *path, const char *type, off_t size)
{
    const char *rel = path + strlen(w->prefix) + 1; /* for messages: its path under root */
    unsigned char *data = NULL;
    size_t len = 0;
    ssize_t n;
    int rc = HL_EINVAL;
    hl_webfile_t key = {.path = (char *)(uintptr_t)path};

    if (w->taken > 0 && bsearch(&key, w->files->files, w->taken, sizeof(key), by_path) != NULL) {
        hl_log(HL_LOG_WARN, "web: %s/%s not served: %s is Chart.js's", w->root, rel, path);
        close(fd);
        return HL_OK;
    }
    if ((size_t)size > HL_WEBFILES_MAX_FILE_BYTES) {
        hl_log(HL_LOG_ERROR, "web: %s/%s is %lld bytes, over the limit of %zu MiB for one file", w->root, rel,
               (long long)size, HL_WEBFILES_MAX_FILE_BYTES >> 20);
        goto out;
    }
    if (w->bytes + (size_t)size > HL_WEBFILES_MAX_TREE_BYTES) {
        hl_log(HL_LOG_ERROR, "web: the files under %s are over the limit of %zu MiB in all (at %s)", w->root,
               HL_WEBFILES_MAX_TREE_BYTES >> 20, rel);
        goto out;
    }
    if (++w->count > HL_WEBFILES_MAX_FILES) {
        hl_log(HL_LOG_ERROR, "web: more than %d files under %s", HL_WEBFILES_MAX_FILES, w->root);
        goto out;
    }
    rc = HL_ENOMEM;
    data = malloc((size_t)size + 1); /* + 1: malloc(0) may answer NULL */
    if (data == NULL)
        goto out;
    /* A file that grows while it is read is cut at its size from fstat. */
    while (len < (size_t)size && (n = read(fd, data + len, (size_t)size - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            hl_log(HL_LOG_ERROR, "web: cannot read %s/%s: %s", w->root, rel, strerror(errno));
            rc = HL_EIO;
            goto out;
        }
        len += (size_t)n;
    }
    rc = add_file(w, path, type, data, len);
    if (rc == HL_OK) {
        data = NULL;
        w->bytes += len;
    }
out:
    free(data);
    close(fd);
    return rc;
}

static int walk_dir(walk_t *w, int dirfd, const char *rel, int depth);

/* One directory entry NAME of DIRFD (REL: the directory's path in the tree, "" at the top). */
static int walk_entry(walk_t *w, int dirfd, const char *rel, const char *name, int depth)
{
    char path[PATH_MAX_LEN + 1]; /* its request path: the prefix, '/', then SUB */
    const char *sub = path + strlen(w->prefix) + 1;
    struct stat st;
    const char *type = NULL;
    int fd = -1, n;

    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return HL_OK;
    /* Longer than hl_webfiles_find takes: never found, so not loaded. */
    n = snprintf(path, sizeof(path), "%s/%s%s%s", w->prefix, rel, rel[0] != '\0' ? "/" : "", name);
    if (!plain_name(name, strlen(name)) || n < 0 || (size_t)n >= sizeof(path))
        goto skip;
    /* Looked at before it is opened: opening a FIFO or a device could block or act. */
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        goto unreadable;
    if (S_ISREG(st.st_mode))
        type = content_type(name);
    if (!S_ISDIR(st.st_mode) && type == NULL) /* a link, an unknown type, a FIFO... */
        goto skip;
    /* O_NOFOLLOW: replaced by a link since fstatat, it is not opened (ELOOP, or ENOTDIR). */
    fd = openat(dirfd, name,
                O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (type == NULL ? O_DIRECTORY : 0));
    if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
        goto skip;
    if (fd < 0 || fstat(fd, &st) != 0)
        goto unreadable;
    if (type != NULL && !S_ISREG(st.st_mode))
        goto skip;
    if (type != NULL)
        return load_file(w, fd, path, type, st.st_size);
    if (depth >= HL_WEBFILES_MAX_DEPTH) {
        close(fd);
        hl_log(HL_LOG_ERROR, "web: %s/%s is more than %d folders deep", w->root, sub, HL_WEBFILES_MAX_DEPTH);
        return HL_EINVAL;
    }
    return walk_dir(w, fd, sub, depth + 1);
skip:
    if (fd >= 0)
        close(fd);
    hl_log(HL_LOG_DEBUG, "web: %s/%s%s%s not served", w->root, rel, rel[0] != '\0' ? "/" : "", name);
    w->skipped++;
    return HL_OK;
unreadable:
    hl_log(HL_LOG_ERROR, "web: cannot read %s/%s: %s", w->root, sub, strerror(errno));
    if (fd >= 0)
        close(fd);
    return HL_EIO;
}

/* Walks the directory DIRFD (taken over). */
static int walk_dir(walk_t *w, int dirfd, const char *rel, int depth)
{
    DIR *dir = fdopendir(dirfd);
    struct dirent *de;
    int rc = HL_OK;

    if (dir == NULL) {
        close(dirfd);
        hl_log(HL_LOG_ERROR, "web: cannot read %s/%s: %s", w->root, rel, strerror(errno));
        return HL_EIO;
    }
    errno = 0;
    while (rc == HL_OK && (de = readdir(dir)) != NULL) {
        rc = walk_entry(w, dirfd, rel, de->d_name, depth);
        errno = 0;
    }
    if (rc == HL_OK && errno != 0) {
        hl_log(HL_LOG_ERROR, "web: cannot read %s/%s: %s", w->root, rel, strerror(errno));
        rc = HL_EIO;
    }
    closedir(dir);
    return rc;
}

/* Loads the tree ROOT at PREFIX; a ROOT that does not exist serves nothing. */
static int load_tree(hl_webfiles_t *files, const char *root, const char *prefix, const char *what)
{
    walk_t w = {.files = files, .root = root, .prefix = prefix, .taken = files->n};
    size_t before = files->n;
    int fd, rc;

    if (root == NULL)
        return HL_OK;
    /* The configured directory itself may be a link (say /usr/share/helpline/web): followed. */
    fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        hl_log(HL_LOG_WARN, "web: %s does not exist: %s not served", root, what);
        return HL_OK;
    }
    if (fd < 0) {
        hl_log(HL_LOG_ERROR, "web: cannot open %s: %s", root, strerror(errno));
        return HL_EIO;
    }
    rc = walk_dir(&w, fd, "", 0);
    if (rc != HL_OK)
        return rc;
    hl_log(HL_LOG_INFO, "web: %zu files (%zu KiB) from %s at %s/", files->n - before, (w.bytes + 1023) / 1024,
           root, prefix);
    if (w.skipped > 0)
        hl_log(HL_LOG_INFO,
               "web: %zu entries under %s not served (symbolic links, names starting with '.' or with other "
               "characters than letters, digits, '.', '_', '-', unknown types; log_level debug names them)",
               w.skipped, root);
    return HL_OK;
}

void hl_webfiles_free(hl_webfiles_t *files)
{
    if (files == NULL)
        return;
    for (size_t i = 0; i < files->n; i++) {
        free(files->files[i].path);
        free(files->files[i].data);
    }
    free(files->files);
    free(files);
}

/* qsort and bsearch must not be given a NULL table, even with no element (C11 7.22.5). */
static void sort_files(hl_webfiles_t *files)
{
    if (files->n > 0)
        qsort(files->files, files->n, sizeof(*files->files), by_path);
}

int hl_webfiles_load(const char *web_dir, const char *chartjs_dir, hl_webfiles_t **out)
{
    hl_webfiles_t *files = calloc(1, sizeof(*files));
    int rc = HL_ENOMEM;

    if (files == NULL)
        goto out;
    /* Chart.js first and sorted: a web_dir file at one of its paths (web_dir/vendor/chart.js/...)
     * yields. Paths within one tree are unique. */
    rc = load_tree(files, chartjs_dir, HL_WEBFILES_CHARTJS_PREFIX,
                   "Chart.js (" HL_WEBFILES_CHARTJS_PREFIX "/)");
    if (rc != HL_OK)
        goto out;
    sort_files(files);
    rc = load_tree(files, web_dir, "", "the web application");
    if (rc != HL_OK)
        goto out;
    sort_files(files);
    /* The headers point into the entries: set once they stay where they are. */
    for (size_t i = 0; i < files->n; i++)
        file_headers(&files->files[i]);
    *out = files;
    files = NULL;
out:
    hl_webfiles_free(files);
    return rc;
}

size_t hl_webfiles_count(const hl_webfiles_t *files)
{
    return files != NULL ? files->n : 0;
}

const hl_webfile_t *hl_webfiles_find(const hl_webfiles_t *files, const char *path)
{
    hl_webfile_t key;

    if (files == NULL)
        return NULL;
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    if (!plain_path(path))
        return NULL;
    key.path = (char *)(uintptr_t)path;
    return files->n > 0 ? bsearch(&key, files->files, files->n, sizeof(*files->files), by_path) : NULL;
}

bool hl_webfiles_etag_matches(const char *if_none_match, const char *etag)
{
    size_t etag_len = strlen(etag);
    const char *p = if_none_match;

    if (p == NULL)
        return false;
    p += strspn(p, " \t");
    if (*p == '*')
        return p[1 + strspn(p + 1, " \t")] == '\0';
    for (;;) {
        p += strspn(p, " \t,");
        if (*p == '\0')
            return false;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if (*p != '"')
            return false; /* not an entity tag: the header is malformed, ignore it */
        const char *end = strchr(p + 1, '"');
        if (end == NULL)
            return false;
        if ((size_t)(end + 1 - p) == etag_len && memcmp(p, etag, etag_len) == 0)
            return true;
        p = end + 1;
    }
}

void hl_webfiles_serve(const hl_webfiles_t *files, hl_request_t *req)
{
    const hl_webfile_t *f = hl_webfiles_find(files, hl_http_path(req));

    if (f == NULL)
        hl_http_reply_static(req, 404, "text/plain; charset=utf-8", not_found_headers, not_found_body,
                             sizeof(not_found_body) - 1);
    else if (hl_webfiles_etag_matches(hl_http_header(req, "If-None-Match"), f->etag))
        /* With the body: libmicrohttpd sends none after a 304, but its Content-Length (RFC 9110 8.6). */
        hl_http_reply_static(req, 304, f->content_type, f->headers, f->data, f->len);
    else
        hl_http_reply_static(req, 200, f->content_type, f->headers, f->data, f->len);
}
