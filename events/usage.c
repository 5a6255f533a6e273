/* usage.c -- the metering family: UsageIncremented. */
#include "fields.h"

static const sentinel_field_spec_t usage_incremented_fields[] = {
    REQUIRED("metric", ENUM),
    REQUIRED_RANGE("amount", LONG, 1, 1000000000000LL),
    OPTIONAL("subject_type", STRING),
    OPTIONAL("subject_id", UUID),
    END_OF_FIELDS,
};

const sentinel_event_type_t sentinel_event_usage_incremented = {
    "UsageIncremented", "usage", usage_incremented_fields, NULL};
