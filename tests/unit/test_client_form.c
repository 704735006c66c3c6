/* client/form: the interactive log form driven through memory streams. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"

static json_t *taxonomy(void)
{
    json_t *t = json_loads(
        "{\"version\":\"t\",\"categories\":["
        "{\"code\":\"missing_children\",\"label\":\"Missing children\",\"children\":[]},"
        "{\"code\":\"violence\",\"label\":\"Violence\",\"children\":["
        "{\"code\":\"violence.bullying\",\"label\":\"Bullying\"},"
        "{\"code\":\"violence.sexual_violence\",\"label\":\"Sexual violence\"}]},"
        "{\"code\":\"non_counselling\",\"label\":\"Non-counselling\",\"children\":[]}],\"terms\":[]}",
        0, NULL);
    cr_assert_not_null(t);
    return t;
}

static int run(const char *answers, json_t **body, char **transcript)
{
    char *copy = strdup(answers);
    FILE *in = fmemopen(copy, strlen(copy), "r");
    size_t len = 0;
    FILE *out = open_memstream(transcript, &len);
    json_t *tax = taxonomy();
    int rc = hl_cli_form_run(in, out, tax, 1795341600LL * 1000000, body);

    fclose(in);
    free(copy);
    fclose(out);
    json_decref(tax);
    return rc;
}

Test(client_form, full_counselling_contact)
{
    /* channel 3 (chat), type Enter (counselling), age 14, gender 1 (girl), region "rural" by name,
     * relationship skip, category 2 (violence) then sub 1 (bullying), another: y, category 1
     * (missing_children, no subcategories), another: n, urgency 2, phone, two-line summary. */
    const char *answers = "3\n\n14\n1\nrural\n\n2\n1\ny\n1\nn\n2\n+254700000001\n"
                          "she was bullied\nat school\n\ns\n";
    json_t *body = NULL;
    char *transcript = NULL;

    cr_assert_eq(run(answers, &body, &transcript), 0, "%s", transcript);
    cr_expect(strstr(transcript, "Subcategory of Violence") != NULL, "%s", transcript);
    cr_expect(strstr(transcript, "review") != NULL, "%s", transcript);
    cr_expect(strstr(transcript, "Non-counselling") == NULL, "non_counselling is not offered");
    cr_expect_str_eq(json_string_value(json_object_get(body, "channel")), "chat");
    cr_expect_str_eq(json_string_value(json_object_get(body, "contact_type")), "counselling");
    json_t *child = json_object_get(body, "child");
    cr_expect_eq(json_integer_value(json_object_get(child, "age")), 14);
    cr_expect_str_eq(json_string_value(json_object_get(child, "gender")), "girl");
    cr_expect_str_eq(json_string_value(json_object_get(child, "region")), "rural");
    cr_expect_null(json_object_get(json_object_get(body, "caller"), "relationship"));
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(body, "caller"), "phone")),
                     "+254700000001");
    json_t *cats = json_object_get(body, "categories");
    cr_assert_eq(json_array_size(cats), 2);
    cr_expect_str_eq(json_string_value(json_array_get(cats, 0)), "violence.bullying");
    cr_expect_str_eq(json_string_value(json_array_get(cats, 1)), "missing_children");
    cr_expect_str_eq(json_string_value(json_object_get(body, "urgency")), "urgent");
    cr_expect_str_eq(json_string_value(json_object_get(body, "summary")), "she was bullied\nat school");
    cr_expect_str_eq(json_string_value(json_object_get(body, "started_at")), "2026-11-22T10:00:00Z");
    cr_expect_not_null(json_object_get(json_object_get(body, "source"), "id"));
    json_decref(body);
    free(transcript);
}

Test(client_form, invalid_answers_asked_again_and_review_edit)
{
    /* channel 99 (invalid) then 1; type 4 (silent: no more questions); review: change field 1
     * to 2 (sms), then submit with Enter. */
    const char *answers = "99\n1\n4\n1\n2\n\n";
    json_t *body = NULL;
    char *transcript = NULL;

    cr_assert_eq(run(answers, &body, &transcript), 0, "%s", transcript);
    cr_expect(strstr(transcript, "please type a number from 1 to 9") != NULL, "%s", transcript);
    cr_expect_str_eq(json_string_value(json_object_get(body, "channel")), "sms");
    cr_expect_str_eq(json_string_value(json_object_get(body, "contact_type")), "silent");
    cr_expect_null(json_object_get(body, "child"));
    json_decref(body);
    free(transcript);
}

Test(client_form, quit_and_end_of_input_send_nothing)
{
    json_t *body = NULL;
    char *transcript = NULL;

    cr_expect_eq(run("1\n4\nq\n", &body, &transcript), HL_ECONFLICT);
    cr_expect_null(body);
    cr_expect(strstr(transcript, "not saved") != NULL, "%s", transcript);
    free(transcript);
    cr_expect_eq(run("1\n1\n", &body, &transcript), HL_ECONFLICT);
    cr_expect_null(body);
    free(transcript);
}

/* The offer after a stored contact: link it to one of the counsellor's open cases. */
static int offer(const char *answers, json_t *cases, int *choice, char **transcript)
{
    char *copy = strdup(answers);
    FILE *in = copy[0] != '\0' ? fmemopen(copy, strlen(copy), "r") : fopen("/dev/null", "r");
    size_t len = 0;
    FILE *out = open_memstream(transcript, &len);
    int rc = hl_cli_form_offer_case(in, out, cases, 1795341600LL * 1000000, choice);

    fclose(in);
    free(copy);
    fclose(out);
    return rc;
}

Test(client_form, offer_to_link_a_case)
{
    json_t *cases = json_loads(
        "[{\"id\":\"c0000000-0000-4000-8000-000000000001\",\"label\":\"Girl, 14, bullied\\u001b[2J\","
        "\"status\":\"open\",\"priority\":\"high\",\"follow_up_at\":\"2026-11-21T00:00:00Z\"},"
        "{\"id\":\"c0000000-0000-4000-8000-000000000002\",\"label\":\"Boy, 9, runaway\","
        "\"status\":\"in_progress\",\"priority\":\"normal\",\"follow_up_at\":null}]",
        0, NULL);
    char *transcript = NULL;
    int choice = 7;

    cr_assert_not_null(cases);
    cr_assert_eq(offer("2\n", cases, &choice, &transcript), HL_OK);
    cr_expect_eq(choice, 1);
    cr_expect(strstr(transcript, "Link this contact to one of your open cases?") != NULL, "%s", transcript);
    cr_expect(strstr(transcript, " 1) Girl, 14, bullied?[2J  (open, high, follow-up 2026-11-21 overdue)  "
                                 "(c0000000-0000-4000-8000-000000000001)") != NULL,
              "%s", transcript);
    cr_expect(strstr(transcript,
                     " 2) Boy, 9, runaway  (in_progress, normal)  (c0000000-0000-4000-8000-000000000002)") !=
                  NULL,
              "%s", transcript);
    cr_expect(strchr(transcript, '\033') == NULL, "%s", transcript);
    cr_expect(strstr(transcript, "[Enter: skip]") != NULL, "%s", transcript);
    free(transcript);

    /* Enter skips; a wrong number is asked again; the id picks too; end of input skips */
    cr_assert_eq(offer("\n", cases, &choice, &transcript), HL_OK);
    cr_expect_eq(choice, -1);
    free(transcript);
    cr_assert_eq(offer("3\n1\n", cases, &choice, &transcript), HL_OK);
    cr_expect_eq(choice, 0);
    cr_expect(strstr(transcript, "please type a number from 1 to 2") != NULL, "%s", transcript);
    free(transcript);
    cr_assert_eq(offer("c0000000-0000-4000-8000-000000000002\n", cases, &choice, &transcript), HL_OK);
    cr_expect_eq(choice, 1);
    free(transcript);
    cr_assert_eq(offer("", cases, &choice, &transcript), HL_OK);
    cr_expect_eq(choice, -1);
    free(transcript);
    json_decref(cases);

    /* no open case: nothing is asked */
    json_t *none = json_array();
    cr_assert_eq(offer("1\n", none, &choice, &transcript), HL_OK);
    cr_expect_eq(choice, -1);
    cr_expect_str_eq(transcript, "");
    free(transcript);
    json_decref(none);
}
