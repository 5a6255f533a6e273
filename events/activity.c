/* activity.c -- the activity log family: ActivityLogged. */
#include "fields.h"

static const sentinel_field_spec_t activity_logged_fields[] = {
    REQUIRED("activity_id", UUID),
    OPTIONAL("user_id", UUID),
    REQUIRED("type", STRING),
    OPTIONAL("subject_type", STRING),
    OPTIONAL("subject_id", UUID),
    OPTIONAL("description", STRING),
    OPTIONAL("metadata", OBJECT),
    END_OF_FIELDS,
};

const sentinel_event_type_t sentinel_event_activity_logged = {
    "ActivityLogged", "activity", activity_logged_fields, NULL};
