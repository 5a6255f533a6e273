/* briefings.c -- the briefing family: a generation's life cycle
 * (BriefingRequested, BriefingProgressed, BriefingGenerated, BriefingFailed)
 * and BriefingDownloaded. */
#include "fields.h"

static const sentinel_field_spec_t briefing_requested_fields[] = {
    REQUIRED("generation_id", UUID),
    REQUIRED("briefing_id", UUID),
    OPTIONAL("generated_by_id", UUID),
    OPTIONAL("parameters", OBJECT),
    OPTIONAL("expires_at", TIMESTAMP),
    END_OF_FIELDS,
};

const sentinel_event_type_t sentinel_event_briefing_requested = {
    "BriefingRequested", "briefings", briefing_requested_fields, NULL};

static const sentinel_field_spec_t briefing_progressed_fields[] = {
    REQUIRED("generation_id", UUID),
    REQUIRED_RANGE("progress", INT, 0, 100),
    OPTIONAL("progress_message", STRING),
    END_OF_FIELDS,
};

const sentinel_event_type_t sentinel_event_briefing_progressed = {
    "BriefingProgressed", "briefings", briefing_progressed_fields, NULL};

static const sentinel_field_spec_t briefing_generated_fields[] = {
    REQUIRED("generation_id", UUID),
    OPTIONAL("completed_at", TIMESTAMP),
    OPTIONAL("narrative", STRING),
    OPTIONAL("structured_data", JSON),
    OPTIONAL("achievements", JSON),
    OPTIONAL("excerpts", JSON),
    OPTIONAL("output_paths", JSON),
    OPTIONAL("metadata", OBJECT),
    END_OF_FIELDS,
};

const sentinel_event_type_t sentinel_event_briefing_generated = {
    "BriefingGenerated", "briefings", briefing_generated_fields, NULL};

static const sentinel_field_spec_t briefing_failed_fields[] = {
    REQUIRED("generation_id", UUID),
    REQUIRED("error_message", STRING),
    OPTIONAL("failed_at", TIMESTAMP),
    END_OF_FIELDS,
};

const sentinel_event_type_t sentinel_event_briefing_failed = {
    "BriefingFailed", "briefings", briefing_failed_fields, NULL};

static const sentinel_field_spec_t briefing_downloaded_fields[] = {
    REQUIRED("download_id", UUID),
    REQUIRED("generation_id", UUID),
    OPTIONAL("user_id", UUID),
    REQUIRED("format", ENUM),
    REQUIRED("source", ENUM),
    OPTIONAL("ip_address", IP),
    OPTIONAL("user_agent", STRING),
    OPTIONAL("downloaded_at", TIMESTAMP),
    END_OF_FIELDS,
};

const sentinel_event_type_t sentinel_event_briefing_downloaded = {
    "BriefingDownloaded", "briefings", briefing_downloaded_fields, NULL};
