/* runs.c -- the review family: RunStarted, RunCompleted, FindingRecorded,
 * AnnotationPosted. */
#include "fields.h"

static const sentinel_field_spec_t run_started_fields[] = {
    REQUIRED("run_id", UUID),
    REQUIRED("repository_id", UUID),
    REQUIRED("external_reference", STRING),
    OPTIONAL("started_at", TIMESTAMP),
    OPTIONAL("policy_snapshot", OBJECT),
    OPTIONAL("metadata", OBJECT),
    END_OF_FIELDS,
};

const sentinel_event_type_t sentinel_event_run_started = {
    "RunStarted", "runs", run_started_fields, NULL};

static const sentinel_field_spec_t run_completed_fields[] = {
    REQUIRED("run_id", UUID),
    REQUIRED("status", ENUM),
    OPTIONAL("completed_at", TIMESTAMP),
    OPTIONAL("metrics", OBJECT),
    END_OF_FIELDS,
};

const sentinel_event_type_t sentinel_event_run_completed = {
    "RunCompleted", "runs", run_completed_fields, NULL};

static const sentinel_field_spec_t finding_recorded_fields[] = {
    REQUIRED("finding_id", UUID),
    REQUIRED("run_id", UUID),
    REQUIRED("finding_hash", STRING),
    REQUIRED("severity", ENUM),
    REQUIRED("category", STRING),
    REQUIRED("title", STRING),
    OPTIONAL("description", STRING),
    OPTIONAL("file_path", STRING),
    OPTIONAL_MIN("line_start", INT, 1),
    OPTIONAL_MIN("line_end", INT, 1),
    OPTIONAL_RANGE("confidence", DOUBLE, 0, 1),
    OPTIONAL("metadata", OBJECT),
    OPTIONAL("rule_id", STRING), /* since v2 */
    END_OF_FIELDS,
};

static sentinel_err_t finding_recorded_check(const json_t *data, char *errstr,
                                             size_t errstr_size) {
    const json_t *start = json_object_get(data, "line_start");
    const json_t *end = json_object_get(data, "line_end");
    if (start && end && json_integer_value(end) < json_integer_value(start)) {
        snprintf(errstr, errstr_size, "data.line_end (%lld) is before data.line_start (%lld)",
                 (long long)json_integer_value(end), (long long)json_integer_value(start));
        return SENTINEL_ERR_INVALID;
    }
    if (end && !start) {
        snprintf(errstr, errstr_size, "data.line_end is given without data.line_start");
        return SENTINEL_ERR_INVALID;
    }
    return SENTINEL_OK;
}

const sentinel_event_type_t sentinel_event_finding_recorded = {
    "FindingRecorded", "runs", finding_recorded_fields, finding_recorded_check};

static const sentinel_field_spec_t annotation_posted_fields[] = {
    REQUIRED("annotation_id", UUID),
    REQUIRED("finding_id", UUID),
    REQUIRED("provider", STRING),
    REQUIRED("external_id", STRING),
    REQUIRED("type", STRING),
    END_OF_FIELDS,
};

const sentinel_event_type_t sentinel_event_annotation_posted = {
    "AnnotationPosted", "runs", annotation_posted_fields, NULL};
