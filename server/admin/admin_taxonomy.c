/*
 * helplined taxonomy check [DIR]
 * helplined taxonomy classify [--dir DIR] [--helpline CODE] [--local LABEL]... [--fold] TEXT|-
 * helplined taxonomy show [DIR]
 *
 * For administrators: validate a taxonomy directory (a new mapping file, say) and see how it
 * classifies a text before deploying it. The default directory is the configuration's
 * taxonomy_dir (file, HELPLINE_TAXONOMY_DIR, or the checkout's or installed default); cfg is
 * NULL only in unit tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "taxonomy.h"

#define MAX_STDIN_BYTES (64u * 1024 * 1024)

static const char *default_dir(const hl_config_t *cfg)
{
    if (cfg != NULL && cfg->taxonomy_dir != NULL && cfg->taxonomy_dir[0] != '\0')
        return cfg->taxonomy_dir;
    return HL_DATADIR "/taxonomy";
}

static void usage(void)
{
    fprintf(stderr, "usage: helplined taxonomy check [DIR]\n"
                    "       helplined taxonomy classify [--dir DIR] [--helpline CODE] [--local LABEL]... "
                    "[--fold] TEXT|-\n"
                    "       helplined taxonomy show [DIR]\n");
}

static int load(const char *dir, hl_taxonomy_t **tax)
{
    char err[HL_TAXONOMY_ERR_LEN];
    if (hl_taxonomy_load(dir, tax, err) != HL_OK) {
        fprintf(stderr, "helplined: taxonomy: %s\n", err);
        return 1;
    }
    return 0;
}

static int cmd_check(const char *dir)
{
    hl_taxonomy_t *tax = NULL;
    size_t top = 0, aliases = 0, avoid = 0;
    if (load(dir, &tax) != 0)
        return 1;
    for (size_t i = 0; i < hl_taxonomy_category_count(tax); i++)
        top += hl_taxonomy_category_at(tax, i)->parent == NULL;
    for (size_t i = 0; i < hl_taxonomy_term_count(tax); i++) {
        aliases += hl_taxonomy_term_at(tax, i)->n_aliases;
        avoid += hl_taxonomy_term_at(tax, i)->verdict == HL_TAXONOMY_AVOID;
    }
    printf("%s: taxonomy %s: %zu categories (%zu top-level), %zu terms (%zu avoid, %zu aliases), "
           "%zu helpline mapping%s",
           dir, hl_taxonomy_version(tax), hl_taxonomy_category_count(tax), top, hl_taxonomy_term_count(tax),
           avoid, aliases, hl_taxonomy_helpline_count(tax), hl_taxonomy_helpline_count(tax) == 1 ? "" : "s");
    for (size_t i = 0; i < hl_taxonomy_helpline_count(tax); i++) {
        const char *h = hl_taxonomy_helpline_at(tax, i);
        printf("%s%s (%zu labels)", i == 0 ? ": " : ", ", h, hl_taxonomy_mapping_count(tax, h));
    }
    printf("\nok\n");
    hl_taxonomy_free(tax);
    return 0;
}

static int cmd_show(const char *dir)
{
    hl_taxonomy_t *tax = NULL;
    json_t *j;
    int status = 1;
    if (load(dir, &tax) != 0)
        return 1;
    j = hl_taxonomy_to_json(tax);
    if (j != NULL && json_dumpf(j, stdout, JSON_INDENT(2)) == 0) {
        putchar('\n');
        status = 0;
    } else {
        fprintf(stderr, "helplined: taxonomy: out of memory\n");
    }
    json_decref(j);
    hl_taxonomy_free(tax);
    return status;
}

/* Reads all of stdin into *OUT (malloc'd, NUL-terminated, *LEN bytes before the NUL). */
static int read_stdin(char **out, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    int rc = 1;
    if (buf == NULL)
        goto out;
    for (;;) {
        size_t r = fread(buf + n, 1, cap - n, stdin);
        n += r;
        if (r == 0) {
            if (ferror(stdin)) {
                fprintf(stderr, "helplined: taxonomy: cannot read standard input\n");
                goto out;
            }
            break;
        }
        if (n == cap) {
            char *nb;
            if (cap >= MAX_STDIN_BYTES) {
                fprintf(stderr, "helplined: taxonomy: standard input larger than %u bytes\n",
                        MAX_STDIN_BYTES);
                goto out;
            }
            nb = realloc(buf, cap * 2 + 1);
            if (nb == NULL)
                goto out;
            buf = nb;
            cap *= 2;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    rc = 0;
out:
    if (rc != 0 && buf == NULL)
        fprintf(stderr, "helplined: taxonomy: out of memory\n");
    free(buf);
    return rc;
}

static int cmd_classify(int argc, char **argv, const hl_config_t *cfg)
{
    const char *dir = default_dir(cfg), *helpline = NULL, *text_arg = NULL;
    const char **local = NULL;
    size_t n_local = 0, len = 0;
    bool fold = false;
    char *text = NULL, *folded = NULL;
    char err[HL_TAXONOMY_ERR_LEN];
    hl_taxonomy_t *tax = NULL;
    json_t *j = NULL;
    int status = 1;

    local = calloc((size_t)argc + 1, sizeof(*local));
    if (local == NULL) {
        fprintf(stderr, "helplined: taxonomy: out of memory\n");
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "--dir") == 0 || strcmp(a, "--helpline") == 0 || strcmp(a, "--local") == 0) &&
            i + 1 >= argc) {
            fprintf(stderr, "helplined: taxonomy classify: %s needs a value\n", a);
            status = 2;
            goto out;
        }
        if (strcmp(a, "--dir") == 0)
            dir = argv[++i];
        else if (strcmp(a, "--helpline") == 0)
            helpline = argv[++i];
        else if (strcmp(a, "--local") == 0)
            local[n_local++] = argv[++i];
        else if (strcmp(a, "--fold") == 0)
            fold = true;
        else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "helplined: taxonomy classify: unknown option %s\n", a);
            usage();
            status = 2;
            goto out;
        } else if (text_arg == NULL)
            text_arg = a;
        else {
            fprintf(stderr,
                    "helplined: taxonomy classify: one TEXT only (quote it), or - for standard input\n");
            status = 2;
            goto out;
        }
    }
    if (text_arg == NULL) {
        usage();
        status = 2;
        goto out;
    }
    if (n_local > 0 && helpline == NULL) {
        fprintf(stderr, "helplined: taxonomy classify: --local needs --helpline\n");
        status = 2;
        goto out;
    }
    if (strcmp(text_arg, "-") == 0) {
        if (read_stdin(&text, &len) != 0)
            goto out;
    } else {
        text = strdup(text_arg);
        if (text == NULL)
            goto out;
        len = strlen(text);
    }
    if (load(dir, &tax) != 0)
        goto out;
    if (helpline != NULL && !hl_taxonomy_has_helpline(tax, helpline)) {
        fprintf(stderr, "helplined: taxonomy: helpline \"%s\" has no mapping file in %s/mappings\n", helpline,
                dir);
        goto out;
    }
    /* With --helpline, a TEXT that is one of the helpline's labels is classified as that label too. */
    if (helpline != NULL && memchr(text, '\0', len) == NULL &&
        hl_taxonomy_map_local(tax, helpline, text) != NULL)
        local[n_local++] = text;
    if (hl_taxonomy_classify_json(tax, helpline, local, n_local, text, len, &j, err) != HL_OK) {
        fprintf(stderr, "helplined: taxonomy: %s\n", err);
        goto out;
    }
    if (fold) {
        if (hl_taxonomy_fold(text, len, &folded) != HL_OK ||
            json_object_set_new(j, "folded", json_string(folded)) != 0) {
            fprintf(stderr, "helplined: taxonomy: out of memory\n");
            goto out;
        }
    }
    if (helpline != NULL && json_object_set_new(j, "helpline", json_string(helpline)) != 0)
        goto out;
    if (json_dumpf(j, stdout, JSON_INDENT(2)) != 0)
        goto out;
    putchar('\n');
    status = 0;
out:
    json_decref(j);
    hl_taxonomy_free(tax);
    free(folded);
    free(text);
    free(local);
    return status;
}

int hl_admin_taxonomy(int argc, char **argv, const hl_config_t *cfg)
{
    if (argc < 2) {
        usage();
        return 2;
    }
    if (strcmp(argv[1], "check") == 0 || strcmp(argv[1], "show") == 0) {
        const char *dir = default_dir(cfg);
        if (argc > 3 || (argc == 3 && argv[2][0] == '-')) {
            usage();
            return 2;
        }
        if (argc == 3)
            dir = argv[2];
        return strcmp(argv[1], "check") == 0 ? cmd_check(dir) : cmd_show(dir);
    }
    if (strcmp(argv[1], "classify") == 0)
        return cmd_classify(argc, argv, cfg);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage();
        return 0;
    }
    fprintf(stderr, "helplined: taxonomy: unknown command '%s'\n", argv[1]);
    usage();
    return 2;
}
