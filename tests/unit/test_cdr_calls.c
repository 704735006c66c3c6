/* client/cdr_calls: legs from records, grouping by linkedid, disposition mapping, agents, contacts. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cdr_calls.h"
#include "cdr_state.h"

static hl_cdr_leg_t leg(const char *key, const char *src, const char *dstchannel, int64_t start, int64_t end,
                        long billsec, hl_cdr_disposition_t d)
{
    hl_cdr_leg_t l;

    memset(&l, 0, sizeof(l));
    snprintf(l.key, sizeof(l.key), "%s", key);
    snprintf(l.src, sizeof(l.src), "%s", src);
    snprintf(l.dstchannel, sizeof(l.dstchannel), "%s", dstchannel);
    l.start = start;
    l.end = end;
    l.billsec = billsec;
    l.disposition = d;
    return l;
}

Test(cdr_calls, time_and_disposition)
{
    int64_t t;
    hl_cdr_disposition_t d;

    cr_assert(hl_cdr_time_parse("2026-11-22 10:00:00", true, &t));
    cr_expect_eq(t, 1795341600);
    cr_expect(!hl_cdr_time_parse("2026-11-22T10:00:00", true, &t));
    cr_expect(!hl_cdr_time_parse("2026-13-22 10:00:00", true, &t));
    cr_expect(!hl_cdr_time_parse("", true, &t));
    cr_expect(hl_cdr_disposition_parse("NO ANSWER", &d) && d == HL_CDR_NO_ANSWER);
    cr_expect(hl_cdr_disposition_parse("CONGESTION", &d) && d == HL_CDR_CONGESTION);
    cr_expect(!hl_cdr_disposition_parse("answered", &d));
}

Test(cdr_calls, leg_from_record_prefers_linkedid)
{
    static hl_cdr_record_t r;
    hl_cdr_leg_t l;
    char err[128];

    for (size_t i = 0; i < HL_CDR_N_FIELDS; i++)
        r.f[i] = "";
    r.f[HL_CDR_UNIQUEID] = "1.2";
    r.f[HL_CDR_LINKEDID] = "1.1";
    r.f[HL_CDR_START] = "2026-11-22 10:00:00";
    r.f[HL_CDR_DURATION] = "30";
    r.f[HL_CDR_BILLSEC] = "25";
    r.f[HL_CDR_DISPOSITION] = "ANSWERED";
    cr_assert_eq(hl_cdr_leg_from_record(&r, true, &l, err, sizeof(err)), HL_OK, "%s", err);
    cr_expect_str_eq(l.key, "1.1");
    cr_expect_eq(l.end - l.start, 30, "end from start + duration when end is empty");
    r.f[HL_CDR_LINKEDID] = "";
    cr_assert_eq(hl_cdr_leg_from_record(&r, true, &l, err, sizeof(err)), HL_OK);
    cr_expect_str_eq(l.key, "1.2");
    r.f[HL_CDR_UNIQUEID] = "";
    cr_expect_eq(hl_cdr_leg_from_record(&r, true, &l, err, sizeof(err)), HL_EINVAL);
    r.f[HL_CDR_UNIQUEID] = "1.2";
    r.f[HL_CDR_DISPOSITION] = "MAYBE";
    cr_expect_eq(hl_cdr_leg_from_record(&r, true, &l, err, sizeof(err)), HL_EINVAL);
    r.f[HL_CDR_DISPOSITION] = "BUSY";
    r.f[HL_CDR_BILLSEC] = "-1";
    cr_expect_eq(hl_cdr_leg_from_record(&r, true, &l, err, sizeof(err)), HL_EINVAL);
}

/* Found by tests/fuzz/fuzz_cdr.c: a key that is not UTF-8 made hl_cdr_call_contact return NULL,
 * which the adapter takes for out of memory (it stopped, and stopped again at the same line
 * after a restart); a key with a control character was refused by the daemon; a huge duration
 * overflowed start + duration, or the end in microseconds. */
Test(cdr_calls, unusable_keys_refused_huge_duration_ignored)
{
    static const char *const bad[] = {"1763805600.\xff\xfe", "a\xc3", "\xc0\xaf", "\xed\xa0\x80",
                                      "\xf4\x90\x80\x80",    "1.1\n", "1.1\x7f",  "\t"};
    static hl_cdr_record_t r;
    hl_cdr_leg_t l;
    hl_cdr_calls_t *calls = NULL;
    hl_cdr_call_t call;
    json_t *contact;
    char err[128];

    for (size_t i = 0; i < HL_CDR_N_FIELDS; i++)
        r.f[i] = "";
    r.f[HL_CDR_START] = "2026-11-22 10:00:00";
    r.f[HL_CDR_BILLSEC] = "0";
    r.f[HL_CDR_DISPOSITION] = "NO ANSWER";
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r.f[HL_CDR_LINKEDID] = bad[i];
        err[0] = '\0';
        cr_expect_eq(hl_cdr_leg_from_record(&r, true, &l, err, sizeof(err)), HL_EINVAL, "key %zu", i);
        cr_expect_neq(err[0], '\0');
    }
    r.f[HL_CDR_LINKEDID] = "pbx-\xc3\xa9.1"; /* UTF-8 is fine */
    r.f[HL_CDR_DURATION] = "9223372036854775807";
    cr_assert_eq(hl_cdr_leg_from_record(&r, true, &l, err, sizeof(err)), HL_OK, "%s", err);
    cr_expect_eq(l.end, l.start, "a duration past the end of time is left out");
    r.f[HL_CDR_DURATION] = "8446744073709551614"; /* fits start + duration, not in microseconds */
    cr_assert_eq(hl_cdr_leg_from_record(&r, true, &l, err, sizeof(err)), HL_OK, "%s", err);
    cr_expect_eq(l.end, l.start, "a duration past the year 9999 is left out");
    setenv("TZ", "America/New_York", 1);
    tzset();
    cr_expect(!hl_cdr_time_parse("9999-12-31 23:59:59", false, &l.start), "a local time after 9999 in UTC");
    cr_expect(hl_cdr_time_parse("9999-12-31 23:59:59", true, &l.start));
    cr_assert_eq(hl_cdr_calls_new(&calls), HL_OK);
    cr_assert_eq(hl_cdr_calls_add(calls, &l, 0, 10, 0.0), HL_OK);
    cr_assert(hl_cdr_calls_take(calls, 0.0, 30.0, true, &call));
    contact = hl_cdr_call_contact(&call, "asterisk", NULL, 5);
    cr_assert_not_null(contact);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(contact, "source"), "id")),
                     "pbx-\xc3\xa9.1");
    json_decref(contact);
    hl_cdr_calls_free(calls);
}

Test(cdr_calls, grouping_and_types)
{
    hl_cdr_calls_t *calls;
    hl_cdr_call_t c;
    hl_cdr_leg_t legs[] = {
        leg("A", "+254700000001", "SIP/1001-0000000b", 100, 120, 0, HL_CDR_NO_ANSWER),
        leg("B", "0700", "", 200, 220, 20, HL_CDR_ANSWERED), /* answered by the PBX only: missed */
        leg("A", "+254700000001", "SIP/1002-0000000c", 100, 400, 240, HL_CDR_ANSWERED),
        leg("A", "", "", 90, 401, 300, HL_CDR_ANSWERED), /* the IVR leg: earliest start, no person */
        leg("C", "0722", "SIP/1001-0000000f", 500, 507, 3, HL_CDR_ANSWERED),
    };

    cr_assert_eq(hl_cdr_calls_new(&calls), HL_OK);
    for (size_t i = 0; i < sizeof(legs) / sizeof(legs[0]); i++)
        cr_assert_eq(hl_cdr_calls_add(calls, &legs[i], i * 100, i * 100 + 100, 10.0), HL_OK);
    cr_expect_eq(hl_cdr_calls_pending(calls), 3);
    cr_expect_eq(hl_cdr_calls_min_offset(calls), 0);
    cr_expect(!hl_cdr_calls_take(calls, 20.0, 30, false, &c), "nothing is quiet yet");
    cr_assert(hl_cdr_calls_take(calls, 41.0, 30, false, &c));
    cr_expect_str_eq(c.key, "A");
    cr_expect_eq(c.n_legs, 3);
    cr_expect_eq(c.start, 90);
    cr_expect_eq(c.end, 401);
    cr_expect_str_eq(c.src, "", "the caller is the earliest leg's src");
    cr_expect(c.answered);
    cr_expect_eq(c.talk, 240);
    cr_expect_str_eq(c.agent_channel, "SIP/1002-0000000c");
    cr_expect_eq(c.first_offset, 0);
    cr_expect_eq(c.last_offset, 400);
    cr_expect_str_eq(hl_cdr_contact_type(&c, 5), "counselling");
    cr_expect_eq(hl_cdr_calls_min_offset(calls), 100);
    cr_assert(hl_cdr_calls_take(calls, 0, 30, true, &c));
    cr_expect_str_eq(c.key, "B");
    cr_expect_str_eq(hl_cdr_contact_type(&c, 5), "missed");
    cr_assert(hl_cdr_calls_take(calls, 0, 30, true, &c));
    cr_expect_str_eq(c.key, "C");
    cr_expect_str_eq(hl_cdr_contact_type(&c, 5), "hang_up");
    cr_expect_str_eq(hl_cdr_contact_type(&c, 3), "counselling");
    cr_expect(!hl_cdr_calls_take(calls, 0, 30, true, &c));
    cr_expect_eq(hl_cdr_calls_min_offset(calls), UINT64_MAX);
    hl_cdr_calls_free(calls);
}

Test(cdr_calls, channel_extensions)
{
    static const struct {
        const char *channel, *ext, *tech;
    } cases[] = {
        {"SIP/1001-0000002a", "1001", "SIP"},
        {"PJSIP/1001-00000012", "1001", "PJSIP"},
        {"PJSIP/agent-amina-00000012", "agent-amina", "PJSIP"},
        {"Local/1001@from-queue-00000012;1", "1001", "Local"},
        {"Agent/1001", "1001", "Agent"},
        {"IAX2/trunk-1234", "trunk", "IAX2"},
        {"nochannel", NULL, NULL},
        {"", NULL, NULL},
    };
    char ext[64], tech[16];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool ok = hl_cdr_channel_extension(cases[i].channel, ext, sizeof(ext), tech, sizeof(tech));
        cr_expect_eq(ok, cases[i].ext != NULL, "%s", cases[i].channel);
        if (ok && cases[i].ext != NULL) {
            cr_expect_str_eq(ext, cases[i].ext, "%s", cases[i].channel);
            cr_expect_str_eq(tech, cases[i].tech, "%s", cases[i].channel);
        }
    }
}

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/hl-cdr-test.XXXXXX");
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");

    fputs(text, f);
    fclose(f);
    return path;
}

Test(cdr_calls, agents_and_contact)
{
    char *path = write_tmp("# map\n1001 = amina\n  SIP/1002=baraka  \n\n");
    hl_cdr_agents_t *a = NULL;
    hl_cdr_call_t call;
    char err[256];
    json_t *j;

    cr_assert_eq(hl_cdr_agents_load(path, &a, err, sizeof(err)), HL_OK, "%s", err);
    cr_expect_str_eq(hl_cdr_agents_lookup(a, "SIP/1001-00000001"), "amina");
    cr_expect_str_eq(hl_cdr_agents_lookup(a, "PJSIP/1001-00000001"), "amina");
    cr_expect_str_eq(hl_cdr_agents_lookup(a, "SIP/1002-00000001"), "baraka");
    cr_expect_null(hl_cdr_agents_lookup(a, "PJSIP/1002-00000001"), "SIP/1002 is mapped, not PJSIP/1002");
    cr_expect_null(hl_cdr_agents_lookup(a, "SIP/1003-00000001"));

    memset(&call, 0, sizeof(call));
    snprintf(call.key, sizeof(call.key), "1763805600.10");
    snprintf(call.src, sizeof(call.src), "+254700000001");
    snprintf(call.agent_channel, sizeof(call.agent_channel), "SIP/1002-0000000c");
    call.start = 1795341590;
    call.end = 1795341866;
    call.answered = true;
    call.talk = 240;
    j = hl_cdr_call_contact(&call, "asterisk", a, 5);
    cr_assert_not_null(j);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "source"), "id")), "1763805600.10");
    cr_expect_str_eq(json_string_value(json_object_get(j, "channel")), "phone");
    cr_expect_str_eq(json_string_value(json_object_get(j, "contact_type")), "counselling");
    cr_expect_str_eq(json_string_value(json_object_get(j, "counsellor")), "baraka");
    cr_expect_str_eq(json_string_value(json_object_get(j, "started_at")), "2026-11-22T09:59:50Z");
    cr_expect_str_eq(json_string_value(json_object_get(j, "ended_at")), "2026-11-22T10:04:26Z");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "caller"), "phone")),
                     "+254700000001");
    json_decref(j);

    /* Not a phone number: no caller; unanswered: no counsellor. */
    static const char *const not_phones[] = {"anonymous", "", "12", "Restricted", "+1234567890123456789"};
    call.answered = false;
    for (size_t i = 0; i < sizeof(not_phones) / sizeof(not_phones[0]); i++) {
        snprintf(call.src, sizeof(call.src), "%s", not_phones[i]);
        j = hl_cdr_call_contact(&call, "asterisk", a, 5);
        cr_expect_null(json_object_get(j, "caller"), "'%s'", not_phones[i]);
        cr_expect_null(json_object_get(j, "counsellor"));
        cr_expect_str_eq(json_string_value(json_object_get(j, "contact_type")), "missed");
        json_decref(j);
    }
    hl_cdr_agents_free(a);
    unlink(path);
    free(path);

    path = write_tmp("1001 amina\n");
    cr_expect_eq(hl_cdr_agents_load(path, &a, err, sizeof(err)), HL_EINVAL);
    cr_expect(strstr(err, ":1:") != NULL, "%s", err);
    unlink(path);
    free(path);
    path = write_tmp("1001 = not a name\n");
    cr_expect_eq(hl_cdr_agents_load(path, &a, err, sizeof(err)), HL_EINVAL);
    unlink(path);
    free(path);
}

Test(cdr_state, save_load_round_trip_and_damage)
{
    char dir[] = "/tmp/hl-cdr-state.XXXXXX", file[64], tmp[80];
    hl_cdr_state_t st, back;
    char err[256];

    cr_assert_not_null(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/cp", dir);
    cr_assert_eq(hl_cdr_state_init(&st), HL_OK);
    cr_assert_eq(hl_cdr_state_init(&back), HL_OK);
    cr_expect_eq(hl_cdr_state_load(file, &back, err, sizeof(err)), HL_ENOTFOUND);
    snprintf(st.path, sizeof(st.path), "/var/log/asterisk/cdr-csv/Master.csv");
    st.inode = 1234567;
    st.offset = 98765;
    cr_assert(hl_cdr_state_add_done(&st, "1763805600.10"));
    cr_assert(hl_cdr_state_add_done(&st, "1763805660.13"));
    cr_assert_eq(hl_cdr_state_save(file, &st), HL_OK);
    snprintf(tmp, sizeof(tmp), "%s.tmp", file);
    cr_expect_neq(access(tmp, F_OK), 0, "the temporary file was renamed");
    cr_assert_eq(hl_cdr_state_load(file, &back, err, sizeof(err)), HL_OK, "%s", err);
    cr_expect_str_eq(back.path, st.path);
    cr_expect_eq(back.inode, 1234567);
    cr_expect_eq(back.offset, 98765);
    cr_assert_eq(back.n_done, 2);
    cr_expect_str_eq(back.done[1], "1763805660.13");

    /* A torn or foreign file is refused, not taken as offset 0. */
    FILE *f = fopen(file, "w");
    fputs("helpline-cdr checkpoint 1\npath /x\noffs", f);
    fclose(f);
    cr_expect_eq(hl_cdr_state_load(file, &back, err, sizeof(err)), HL_EINVAL);
    f = fopen(file, "w");
    fputs("something else\n", f);
    fclose(f);
    cr_expect_eq(hl_cdr_state_load(file, &back, err, sizeof(err)), HL_EINVAL);
    unlink(file);
    rmdir(dir);
    hl_cdr_state_clear(&st);
    hl_cdr_state_clear(&back);
}
