#include "admin/sealed_columns.h"

/* migrations/0002_contacts.sql and 0007_cases.sql. The column name is also the AD's column; the
 * blind index (caller_phone_bidx) is not an envelope and does not depend on the field keys. */
const hl_sealed_column_t hl_sealed_columns[] = {
    {"contacts", "id", "child_name", NULL},
    {"contacts", "id", "caller_name", NULL},
    {"contacts", "id", "caller_phone", NULL},
    {"contacts", "id", "summary", NULL},
    {"contacts", "id", "transcript", NULL},
    {"cases", "id", "label", NULL},
    {"cases", "id", "summary", NULL},
    {"case_entries", "id", "text", "case_id"},
    {"referrals", "id", "organisation", "case_id"},
    {"referrals", "id", "details", "case_id"},
};

const size_t hl_sealed_columns_count = sizeof(hl_sealed_columns) / sizeof(hl_sealed_columns[0]);
