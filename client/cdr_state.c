/* helpline-cdr's checkpoint file (cdr_state.h). */
#include "cdr_state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAGIC "helpline-cdr checkpoint 1"

HL_PRINTF(3, 4) static int fail(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && len > 0) {
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
    }
    return HL_EINVAL;
}

int hl_cdr_state_init(hl_cdr_state_t *st)
{
    memset(st, 0, sizeof(*st));
    st->done = calloc(HL_CDR_STATE_MAX_DONE, sizeof(*st->done));
    return st->done != NULL ? HL_OK : HL_ENOMEM;
}

void hl_cdr_state_clear(hl_cdr_state_t *st)
{
    free(st->done);
    memset(st, 0, sizeof(*st));
}

bool hl_cdr_state_add_done(hl_cdr_state_t *st, const char *key)
{
    if (st->n_done == HL_CDR_STATE_MAX_DONE || strlen(key) > HL_CDR_KEY_MAX)
        return false;
    snprintf(st->done[st->n_done++], HL_CDR_KEY_MAX + 1, "%s", key);
    return true;
}

int hl_cdr_state_load(const char *file, hl_cdr_state_t *st, char *err, size_t errlen)
{
    FILE *f = fopen(file, "r");
    char line[HL_CDR_PATH_MAX + 64];
    size_t n;
    int lineno = 0, rc = HL_OK;
    bool magic = false;

    st->path[0] = '\0';
    st->inode = st->offset = 0;
    st->n_done = 0;
    if (f == NULL) {
        if (errno == ENOENT)
            return HL_ENOTFOUND;
        fail(err, errlen, "cannot open checkpoint %s: %s", file, strerror(errno));
        return HL_EIO;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        n = strlen(line);
        lineno++;
        if (n == 0 || line[n - 1] != '\n') {
            rc = fail(err, errlen, "%s:%d: line cut short", file, lineno);
            goto out;
        }
        line[--n] = '\0';
        if (lineno == 1) {
            magic = strcmp(line, MAGIC) == 0;
            if (!magic) {
                rc = fail(err, errlen, "%s: not a helpline-cdr checkpoint", file);
                goto out;
            }
        } else if (strncmp(line, "path ", 5) == 0) {
            if (n - 5 >= sizeof(st->path)) {
                rc = fail(err, errlen, "%s:%d: path too long", file, lineno);
                goto out;
            }
            memcpy(st->path, line + 5, n - 5 + 1);
        } else if (strncmp(line, "inode ", 6) == 0) {
            st->inode = strtoull(line + 6, NULL, 10);
        } else if (strncmp(line, "offset ", 7) == 0) {
            st->offset = strtoull(line + 7, NULL, 10);
        } else if (strncmp(line, "done ", 5) == 0) {
            if (!hl_cdr_state_add_done(st, line + 5)) {
                rc = fail(err, errlen, "%s:%d: too many or too long done entries", file, lineno);
                goto out;
            }
        } else if (strcmp(line, "end") != 0) {
            rc = fail(err, errlen, "%s:%d: unknown line", file, lineno);
            goto out;
        }
    }
    if (!magic)
        rc = fail(err, errlen, "%s: empty checkpoint", file);
out:
    fclose(f);
    return rc;
}

int hl_cdr_state_save(const char *file, const hl_cdr_state_t *st)
{
    char tmp[HL_CDR_PATH_MAX + 16], dir[HL_CDR_PATH_MAX];
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    int fd = -1, dfd = -1, rc = HL_EIO;

    if (m == NULL)
        return HL_ENOMEM;
    fprintf(m, MAGIC "\npath %s\ninode %" PRIu64 "\noffset %" PRIu64 "\n", st->path, st->inode, st->offset);
    for (size_t i = 0; i < st->n_done; i++)
        fprintf(m, "done %s\n", st->done[i]);
    fputs("end\n", m);
    if (fclose(m) != 0) {
        rc = HL_ENOMEM;
        goto out;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", file);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        goto out;
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto out;
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        goto out;
    }
    fd = -1;
    if (rename(tmp, file) != 0)
        goto out;
    snprintf(dir, sizeof(dir), "%s", file);
    dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        (void)fsync(dfd);
    rc = HL_OK;
out:
    if (fd >= 0)
        close(fd);
    if (dfd >= 0)
        close(dfd);
    free(buf);
    return rc;
}
