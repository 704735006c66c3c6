/* Log lines: control characters escaped (no forged lines), rate-limited warnings with a count. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static char path[] = "/tmp/helpline-log.XXXXXX";
static int saved_stderr = -1;

/* Sends this process's stderr to a temporary file until captured() reads it back. */
static void capture(void)
{
    int fd = mkstemp(path);

    cr_assert_geq(fd, 0);
    saved_stderr = dup(STDERR_FILENO);
    cr_assert_geq(dup2(fd, STDERR_FILENO), 0);
    close(fd);
}

static char *captured(void)
{
    FILE *f;
    long n;
    char *text;

    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    f = fopen(path, "r");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    text = calloc(1, (size_t)n + 1);
    cr_assert_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    unlink(path);
    return text;
}

static int count_lines(const char *text)
{
    int n = 0;

    for (const char *p = text; *p != '\0'; p++)
        n += *p == '\n';
    return n;
}

/* A room id (a client's string) holding a newline and a forged line stays on its own line. */
Test(log, control_characters_cannot_forge_a_line)
{
    char *text;

    capture();
    hl_log(HL_LOG_WARN, "rocketchat room %s: refused",
           "r1\n2026-12-03T00:00:00.000Z helplined[1] error: forged\r\x1b[2J");
    text = captured();
    cr_assert_eq(count_lines(text), 1, "%s", text);
    cr_assert_not_null(
        strstr(text, "r1\\x0a2026-12-03T00:00:00.000Z helplined[1] error: forged\\x0d\\x1b[2J: refused"),
        "%s", text);
    free(text);
}

Test(log, limited_lines_report_what_was_dropped)
{
    static hl_log_limit_t limit = HL_LOG_LIMIT_INIT(3, 1);
    char *text;

    capture();
    for (int i = 0; i < 100; i++)
        hl_log_limited(&limit, HL_LOG_WARN, "bad secret from client %d", i);
    usleep(1100000);
    hl_log_limited(&limit, HL_LOG_WARN, "bad secret from client %d", 100);
    text = captured();
    cr_assert_eq(count_lines(text), 4, "%s", text);
    cr_assert_not_null(strstr(text, "client 2\n"), "%s", text);
    cr_assert_null(strstr(text, "client 3\n"), "%s", text);
    cr_assert_not_null(strstr(text, "client 100 (97 similar line(s) dropped before)\n"), "%s", text);
    free(text);
}

Test(log, levels_below_the_threshold_are_not_counted)
{
    static hl_log_limit_t limit = HL_LOG_LIMIT_INIT(1, 60);
    char *text;

    hl_log_set_level(HL_LOG_ERROR);
    capture();
    hl_log_limited(&limit, HL_LOG_WARN, "dropped by level");
    hl_log_set_level(HL_LOG_INFO);
    hl_log_limited(&limit, HL_LOG_WARN, "written");
    text = captured();
    cr_assert_eq(count_lines(text), 1, "%s", text);
    cr_assert_null(strstr(text, "dropped before"), "%s", text);
    free(text);
}
