#include "sealed_columns.h"

/* migrations/0002_contacts.sql. The column name is also the AD's column; the blind index
 * (caller_phone_bidx) is not an envelope and does not depend on the field keys. */
const hl_sealed_column_t hl_sealed_columns[] = {
    {"contacts", "id", "child_name"}, {"contacts", "id", "caller_name"}, {"contacts", "id", "caller_phone"},
    {"contacts", "id", "summary"},    {"contacts", "id", "transcript"},
};

const size_t hl_sealed_columns_count = sizeof(hl_sealed_columns) / sizeof(hl_sealed_columns[0]);
