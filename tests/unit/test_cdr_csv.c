/* client/cdr_csv: the column presets and lists, and cdr_csv's quoting (table-driven). */
#include <criterion/criterion.h>
#include <string.h>

#include "cdr_csv.h"

#define LINE18                                                                                               \
    "\"\",\"1001\",\"116\",\"from-internal\",\"\"\"Amina\"\" <1001>\",\"SIP/1001-00000001\","                \
    "\"SIP/trunk-00000002\",\"Dial\",\"SIP/trunk/116,30\",\"2026-11-22 10:00:00\",\"2026-11-22 10:00:05\","  \
    "\"2026-11-22 10:05:00\",300,295,\"ANSWERED\",\"DOCUMENTATION\",\"1763805600.1\",\"\""

Test(cdr_csv, presets)
{
    hl_cdr_columns_t c;
    char err[128];

    cr_assert_eq(hl_cdr_columns_parse("default", &c, err, sizeof(err)), HL_OK);
    cr_expect_eq(c.n, 16);
    cr_expect_eq(c.col[15], HL_CDR_AMAFLAGS);
    cr_expect(!hl_cdr_columns_has(&c, HL_CDR_UNIQUEID));
    cr_assert_eq(hl_cdr_columns_parse("uniqueid", &c, err, sizeof(err)), HL_OK);
    cr_expect_eq(c.n, 18);
    cr_expect_eq(c.col[16], HL_CDR_UNIQUEID);
    cr_expect_eq(c.col[17], HL_CDR_USERFIELD);
    cr_assert_eq(hl_cdr_columns_parse("all", &c, err, sizeof(err)), HL_OK);
    cr_expect_eq(c.n, 21);
    cr_expect_eq(c.col[19], HL_CDR_LINKEDID);
    cr_expect_eq(c.col[20], HL_CDR_SEQUENCE);
}

Test(cdr_csv, column_lists)
{
    static const struct {
        const char *spec;
        int rc;
        size_t n;
    } cases[] = {
        {"src,_,start,billsec,disposition,uniqueid", HL_OK, 6},
        {"linkedid", HL_OK, 1},
        {"src,bogus", HL_EINVAL, 0},
        {"src,src", HL_EINVAL, 0},
        {"", HL_EINVAL, 0},
        {"src,,dst", HL_EINVAL, 0},
    };
    char err[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hl_cdr_columns_t c;
        int rc = hl_cdr_columns_parse(cases[i].spec, &c, err, sizeof(err));
        cr_expect_eq(rc, cases[i].rc, "'%s': %d", cases[i].spec, rc);
        if (rc == HL_OK)
            cr_expect_eq(c.n, cases[i].n, "'%s'", cases[i].spec);
    }
    cr_expect_eq(hl_cdr_columns_parse("src,bogus", &(hl_cdr_columns_t){0}, err, sizeof(err)), HL_EINVAL);
    cr_expect(strstr(err, "bogus") != NULL, "%s", err);
}

Test(cdr_csv, asterisk_line_with_quotes_and_commas)
{
    hl_cdr_columns_t c;
    static hl_cdr_record_t r;
    char err[128];

    cr_assert_eq(hl_cdr_columns_parse("uniqueid", &c, err, sizeof(err)), HL_OK);
    cr_assert_eq(hl_cdr_record_parse(LINE18 "\r", strlen(LINE18) + 1, &c, &r, err, sizeof(err)), HL_OK, "%s",
                 err);
    cr_expect_str_eq(r.f[HL_CDR_ACCOUNTCODE], "");
    cr_expect_str_eq(r.f[HL_CDR_CLID], "\"Amina\" <1001>");
    cr_expect_str_eq(r.f[HL_CDR_LASTDATA], "SIP/trunk/116,30");
    cr_expect_str_eq(r.f[HL_CDR_DURATION], "300");
    cr_expect_str_eq(r.f[HL_CDR_DISPOSITION], "ANSWERED");
    cr_expect_str_eq(r.f[HL_CDR_UNIQUEID], "1763805600.1");
    cr_expect_str_eq(r.f[HL_CDR_USERFIELD], "");
    cr_expect_str_eq(r.f[HL_CDR_LINKEDID], "", "not in the column set");
}

Test(cdr_csv, fields_table)
{
    static const struct {
        const char *line;
        int rc;
        const char *a, *b, *c; /* the three fields */
    } cases[] = {
        {"a,b,c", HL_OK, "a", "b", "c"},
        {"\"a\",\"b\",\"c\"", HL_OK, "a", "b", "c"},
        {"\"a,1\",\"\"\"q\"\"\",\"\"", HL_OK, "a,1", "\"q\"", ""},
        {"\"x \"\"y\"\", z\",2,", HL_OK, "x \"y\", z", "2", ""},
        {",,", HL_OK, "", "", ""},
        {"\"\"\"\"\"\",b,c", HL_OK, "\"\"", "b", "c"},
        {"a,b", HL_EINVAL, NULL, NULL, NULL},        /* too few */
        {"a,b,c,d", HL_EINVAL, NULL, NULL, NULL},    /* too many */
        {"\"a,b,c", HL_EINVAL, NULL, NULL, NULL},    /* quote not closed */
        {"\"a\"x,b,c", HL_EINVAL, NULL, NULL, NULL}, /* text after the closing quote */
        {"a\"b\",c,d", HL_EINVAL, NULL, NULL, NULL}, /* quote in an unquoted field */
        {"", HL_EINVAL, NULL, NULL, NULL},           /* empty */
    };
    hl_cdr_columns_t cols;
    static hl_cdr_record_t r;
    char err[128];

    cr_assert_eq(hl_cdr_columns_parse("src,dst,clid", &cols, err, sizeof(err)), HL_OK);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = hl_cdr_record_parse(cases[i].line, strlen(cases[i].line), &cols, &r, err, sizeof(err));
        cr_expect_eq(rc, cases[i].rc, "case %zu '%s': %d (%s)", i, cases[i].line, rc, err);
        if (rc != HL_OK || cases[i].rc != HL_OK)
            continue;
        cr_expect_str_eq(r.f[HL_CDR_SRC], cases[i].a, "case %zu", i);
        cr_expect_str_eq(r.f[HL_CDR_DST], cases[i].b, "case %zu", i);
        cr_expect_str_eq(r.f[HL_CDR_CLID], cases[i].c, "case %zu", i);
    }
}

Test(cdr_csv, malformed_messages_hold_no_values)
{
    hl_cdr_columns_t cols;
    static hl_cdr_record_t r;
    char err[128];
    const char *line = "\"0722999888\",\"secret value";

    cr_assert_eq(hl_cdr_columns_parse("src,dst", &cols, err, sizeof(err)), HL_OK);
    cr_assert_eq(hl_cdr_record_parse(line, strlen(line), &cols, &r, err, sizeof(err)), HL_EINVAL);
    cr_expect(strstr(err, "0722999888") == NULL && strstr(err, "secret") == NULL, "%s", err);
}

Test(cdr_csv, overlong_line)
{
    hl_cdr_columns_t cols;
    static hl_cdr_record_t r;
    static char line[HL_CDR_LINE_MAX + 10];
    char err[128];

    memset(line, 'x', sizeof(line) - 1);
    cr_assert_eq(hl_cdr_columns_parse("src", &cols, err, sizeof(err)), HL_OK);
    cr_expect_eq(hl_cdr_record_parse(line, sizeof(line) - 1, &cols, &r, err, sizeof(err)), HL_EINVAL);
    cr_expect_eq(hl_cdr_record_parse(line, HL_CDR_LINE_MAX, &cols, &r, err, sizeof(err)), HL_OK);
}
