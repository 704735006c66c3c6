#include "casework/case_json.h"

#include <string.h>

json_t *hl_case_time_json(bool set, int64_t us)
{
    char buf[HL_CONTACT_TIME_LEN];

    if (!set || !hl_contact_time_format(us, buf))
        return json_null();
    return json_string(buf);
}

static json_t *name_or_null(const char *name)
{
    return name[0] != '\0' ? json_string(name) : json_null();
}

/* Opens a sealed field into OBJ[KEY] (null when there is none). */
static int put_opened(json_t *obj, const char *key, hl_crypto_keyring_t *kr, const char *table,
                      const char *column, const char *case_id, const char *sub_id, const hl_sealed_t *ct)
{
    char *pt = NULL;
    size_t len = 0;
    int rc = hl_cases_open(kr, table, column, case_id, sub_id, ct, &pt, &len);

    if (rc != HL_OK)
        return rc;
    /* json_stringn: the length is the envelope's, the text was checked when it was sealed */
    json_t *v = pt != NULL ? json_stringn(pt, len) : json_null();
    hl_crypto_wipe_free(pt, len);
    if (v == NULL || json_object_set_new(obj, key, v) != 0)
        return HL_ENOMEM;
    return HL_OK;
}

int hl_case_json(hl_crypto_keyring_t *kr, const hl_case_row_t *c, hl_case_view_t view, json_t **out)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:I}", "id", c->id, "status",
                          hl_case_status_name(c->status), "priority", hl_case_priority_name(c->priority),
                          "follow_up_at", hl_case_time_json(c->has_follow_up, c->follow_up_at), "assigned_to",
                          name_or_null(c->assigned_to_name), "created_by", c->created_by_name, "created_at",
                          hl_case_time_json(true, c->created_at), "updated_at",
                          hl_case_time_json(true, c->updated_at), "closed_at",
                          hl_case_time_json(c->has_closed, c->closed_at), "contacts_count",
                          (json_int_t)c->contacts_count);
    int rc = j != NULL ? HL_OK : HL_ENOMEM;

    if (rc == HL_OK && view == HL_CASE_VIEW_SEALED &&
        ((rc = put_opened(j, "label", kr, HL_CASES_TABLE, "label", c->id, NULL, &c->label)) != HL_OK ||
         (rc = put_opened(j, "summary", kr, HL_CASES_TABLE, "summary", c->id, NULL, &c->summary)) != HL_OK)) {
        hl_contact_json_free(j);
        return rc;
    }
    *out = j;
    return rc;
}

static int entry_fields(json_t *j, hl_crypto_keyring_t *kr, const char *case_id, const hl_case_entry_t *e,
                        hl_case_view_t view)
{
    bool sealed = view == HL_CASE_VIEW_SEALED;
    int rc = HL_OK;

    switch (e->kind) {
    case HL_CASE_ENTRY_CONTACT: {
        json_t *cats = json_loads(e->categories_json, 0, NULL);
        json_object_set_new(j, "contact_id", json_string(e->contact_id));
        json_object_set_new(j, "channel",
                            e->channel >= 0 ? json_string(hl_contact_channel_name((hl_channel_t)e->channel))
                                            : json_null());
        json_object_set_new(j, "contact_type",
                            e->contact_type >= 0
                                ? json_string(hl_contact_type_name((hl_contact_type_t)e->contact_type))
                                : json_null());
        json_object_set_new(j, "categories", cats != NULL ? cats : json_array());
        json_object_set_new(j, "unlinked", json_boolean(e->unlinked));
        break;
    }
    case HL_CASE_ENTRY_NOTE:
        if (sealed)
            rc = put_opened(j, "text", kr, HL_CASES_ENTRIES, "text", case_id, e->id, &e->text);
        break;
    case HL_CASE_ENTRY_REFERRAL:
        json_object_set_new(j, "referral_id", json_string(e->referral_id));
        json_object_set_new(j, "to", json_string(hl_contact_action_name(e->referral_to)));
        json_object_set_new(j, "state", json_string(hl_referral_state_name(e->referral_state)));
        if (sealed && (rc = put_opened(j, "organisation", kr, HL_CASES_REFERRALS, "organisation", case_id,
                                       e->referral_id, &e->organisation)) == HL_OK)
            rc = put_opened(j, "details", kr, HL_CASES_REFERRALS, "details", case_id, e->referral_id,
                            &e->details);
        break;
    case HL_CASE_ENTRY_STATUS:
        json_object_set_new(j, "from",
                            e->status_from >= 0
                                ? json_string(hl_case_status_name((hl_case_status_t)e->status_from))
                                : json_null());
        json_object_set_new(j, "to", json_string(hl_case_status_name(e->status_to)));
        break;
    default:
        break;
    }
    return rc;
}

int hl_case_timeline_json(hl_crypto_keyring_t *kr, const char *case_id, const hl_case_entry_t *e, size_t n,
                          hl_case_view_t view, json_t **out)
{
    json_t *arr = json_array();
    int rc = arr != NULL ? HL_OK : HL_ENOMEM;

    for (size_t i = 0; rc == HL_OK && i < n; i++) {
        json_t *j =
            json_pack("{s:s, s:s, s:o, s:o}", "id", e[i].id, "kind", hl_case_entry_kind_name(e[i].kind), "at",
                      hl_case_time_json(true, e[i].at), "by", name_or_null(e[i].by_name));
        if (j == NULL || json_array_append_new(arr, j) != 0)
            rc = HL_ENOMEM;
        else if (view != HL_CASE_VIEW_METADATA)
            rc = entry_fields(j, kr, case_id, &e[i], view);
    }
    if (rc != HL_OK) {
        hl_contact_json_free(arr);
        return rc;
    }
    *out = arr;
    return HL_OK;
}
