/*
 * The interactive form of "helpline log" (no flags, on a terminal): each field asked in
 * turn, numbered pick lists (categories and subcategories from GET /v1/taxonomy), free
 * text for the summary, a review screen where any field can be changed, then submit.
 *
 * Answers are read with getc from IN (unbuffered when it is a terminal) into buffers that
 * are wiped when they grow and when the form is done; nothing is written anywhere but OUT.
 * The caller wipes the body it gets (hl_contact_json_free).
 */
#ifndef HL_CLI_FORM_H
#define HL_CLI_FORM_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "util.h"

/*
 * Runs the form: prompts on OUT, answers from IN. TAXONOMY is the GET /v1/taxonomy reply.
 * On submit, *BODY gets a POST /v1/contacts body (source and started_at filled, NOW_US).
 * HL_ECONFLICT when the user quits or IN ends before submit (nothing to send); HL_ENOMEM.
 */
int hl_cli_form_run(FILE *in, FILE *out, json_t *taxonomy, int64_t now_us, json_t **body) HL_MUSTCHECK;

/*
 * After the form's contact was stored: offers to link it to one of CASES (objects with the
 * "id", "label", "status", "priority" and "follow_up_at" of GET /v1/cases/{id}), a numbered
 * list of labels; Enter skips. *CHOICE gets the index picked, or -1 (skipped, or IN ended).
 * HL_ENOMEM.
 */
int hl_cli_form_offer_case(FILE *in, FILE *out, json_t *cases, int64_t now_us, int *choice) HL_MUSTCHECK;

#endif
