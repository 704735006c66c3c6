#include "itest.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/random.h>

json_t *it_contact(const char *source_id)
{
    json_t *c =
        json_pack("{s:{s:s, s:s}, s:s, s:s, s:s, s:s, s:{s:i, s:s, s:s}, s:{s:s}, s:[s], s:s}", "source",
                  "system", "it", "id", source_id, "channel", "phone", "contact_type", "counselling",
                  "started_at", "2026-11-22T10:00:00Z", "ended_at", "2026-11-22T10:12:30Z", "child", "age",
                  14, "gender", "girl", "region", "rural", "caller", "relationship", "self", "categories",
                  "violence.bullying", "urgency", "urgent");

    cr_assert_not_null(c);
    return c;
}

void it_mutate(json_t *root, const char *pointer, const char *value_json)
{
    char key[128];
    const char *slash;
    json_t *parent = root;

    cr_assert(pointer[0] == '/', "%s", pointer);
    pointer++;
    slash = strchr(pointer, '/');
    if (slash != NULL) {
        snprintf(key, sizeof(key), "%.*s", (int)(slash - pointer), pointer);
        parent = json_object_get(root, key);
        if (!json_is_object(parent)) {
            parent = json_object();
            json_object_set_new(root, key, parent);
        }
        pointer = slash + 1;
    }
    snprintf(key, sizeof(key), "%s", pointer);
    if (value_json == NULL) {
        json_object_del(parent, key);
        return;
    }
    json_error_t err;
    json_t *v = json_loads(value_json, JSON_DECODE_ANY, &err);
    cr_assert_not_null(v, "test bug: bad JSON value %s: %s", value_json, err.text);
    json_object_set_new(parent, key, v);
}

char *it_dump(json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT);

    cr_assert_not_null(s);
    json_decref(obj);
    return s;
}

long it_post(const hl_testd_t *d, const char *token, json_t *obj, json_t **reply)
{
    char *body = it_dump(obj);
    long status = 0;
    json_t *r = hl_testd_request(d, "POST", "/v1/contacts", token, "application/json", body, &status, NULL);

    free(body);
    if (reply != NULL)
        *reply = r;
    else
        json_decref(r);
    return status;
}

long it_scalar(const hl_testd_t *d, const char *sql)
{
    PGconn *conn = hl_testd_db(d);
    long v = hl_pgtest_scalar(conn, sql);

    PQfinish(conn);
    return v;
}

const char *it_str(json_t *obj, const char *path)
{
    char key[64];
    const char *slash;

    while (obj != NULL && (slash = strchr(path, '/')) != NULL) {
        snprintf(key, sizeof(key), "%.*s", (int)(slash - path), path);
        obj = json_object_get(obj, key);
        path = slash + 1;
    }
    obj = json_object_get(obj, path);
    return json_is_string(obj) ? json_string_value(obj) : NULL;
}

bool it_contains(const char *haystack, size_t len, const char *needle)
{
    return memmem(haystack, len, needle, strlen(needle)) != NULL;
}

bool it_contains_hex(const char *haystack, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    char *hex = malloc(2 * n + 1);
    bool found;

    cr_assert_not_null(hex);
    for (size_t i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)needle[i]);
    found = memmem(haystack, len, hex, 2 * n) != NULL;
    free(hex);
    return found;
}

void it_marker(char *out, size_t len, const char *prefix)
{
    static const char letters[] = "ghjkmnpqrstuvwxyzGHJKMNPQRSTUVWXYZ";
    unsigned char rnd[16];
    size_t n;

    cr_assert_eq(getrandom(rnd, sizeof(rnd), 0), (ssize_t)sizeof(rnd));
    n = (size_t)snprintf(out, len, "%s", prefix);
    for (size_t i = 0; i < sizeof(rnd) && n + 1 < len; i++)
        out[n++] = letters[rnd[i] % (sizeof(letters) - 1)];
    out[n] = '\0';
}

static char *tree_buf;
static size_t tree_len, tree_files;

static int tree_add(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    size_t n;
    char *data;

    (void)st;
    (void)ftw;
    if (flag != FTW_F)
        return 0;
    data = hl_testd_read_file(path, &n);
    if (data == NULL)
        return 0;
    char *grown = realloc(tree_buf, tree_len + n + 1);
    cr_assert_not_null(grown);
    tree_buf = grown;
    memcpy(tree_buf + tree_len, data, n);
    tree_len += n;
    tree_buf[tree_len] = '\0';
    tree_files++;
    free(data);
    return 0;
}

char *it_read_tree(const char *dir, size_t *len, size_t *n_files)
{
    char *out;

    tree_buf = calloc(1, 1);
    tree_len = 0;
    tree_files = 0;
    cr_assert_not_null(tree_buf);
    nftw(dir, tree_add, 16, FTW_PHYS);
    out = tree_buf;
    *len = tree_len;
    if (n_files != NULL)
        *n_files = tree_files;
    tree_buf = NULL;
    return out;
}
