/* commands.c -- the @sentinel command family: CommandRunStarted,
 * CommandRunCompleted. */
#include "fields.h"

static const sentinel_field_spec_t command_run_started_fields[] = {
    REQUIRED("command_run_id", UUID),
    REQUIRED("repository_id", UUID),
    REQUIRED("external_reference", STRING),
    OPTIONAL_MIN("github_comment_id", LONG, 1),
    OPTIONAL_MIN("issue_number", INT, 1),
    OPTIONAL("is_pull_request", BOOLEAN),
    REQUIRED("command_type", STRING),
    OPTIONAL("query", STRING),
    OPTIONAL("started_at", TIMESTAMP),
    OPTIONAL("context_snapshot", OBJECT),
    OPTIONAL("metadata", OBJECT),
    END_OF_FIELDS,
};

const sentinel_event_type_t sentinel_event_command_run_started = {
    "CommandRunStarted", "commands", command_run_started_fields, NULL};

static const sentinel_field_spec_t command_run_completed_fields[] = {
    REQUIRED("command_run_id", UUID),
    REQUIRED("status", ENUM),
    OPTIONAL("completed_at", TIMESTAMP),
    OPTIONAL_MIN("duration_seconds", DOUBLE, 0),
    OPTIONAL("response", JSON),
    OPTIONAL("metrics", OBJECT),
    END_OF_FIELDS,
};

const sentinel_event_type_t sentinel_event_command_run_completed = {
    "CommandRunCompleted", "commands", command_run_completed_fields, NULL};
