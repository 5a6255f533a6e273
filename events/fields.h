/* fields.h -- shorthand for the field tables of the event families. */
#ifndef SENTINEL_EVENTS_FIELDS_H
#define SENTINEL_EVENTS_FIELDS_H

#include <stdio.h>

#include "event.h"

#define REQUIRED(name, kind) {name, SENTINEL_FIELD_##kind, 1, 0, 0, 0, 0}
#define OPTIONAL(name, kind) {name, SENTINEL_FIELD_##kind, 0, 0, 0, 0, 0}
#define REQUIRED_RANGE(name, kind, lo, hi) {name, SENTINEL_FIELD_##kind, 1, 1, 1, lo, hi}
#define OPTIONAL_RANGE(name, kind, lo, hi) {name, SENTINEL_FIELD_##kind, 0, 1, 1, lo, hi}
#define REQUIRED_MIN(name, kind, lo) {name, SENTINEL_FIELD_##kind, 1, 1, 0, lo, 0}
#define OPTIONAL_MIN(name, kind, lo) {name, SENTINEL_FIELD_##kind, 0, 1, 0, lo, 0}
#define END_OF_FIELDS {NULL, SENTINEL_FIELD_STRING, 0, 0, 0, 0, 0}

/* The families, each defined in its own file. */
extern const sentinel_event_type_t sentinel_event_run_started, sentinel_event_run_completed,
    sentinel_event_finding_recorded, sentinel_event_annotation_posted;
extern const sentinel_event_type_t sentinel_event_command_run_started,
    sentinel_event_command_run_completed;
extern const sentinel_event_type_t sentinel_event_briefing_requested,
    sentinel_event_briefing_progressed, sentinel_event_briefing_generated,
    sentinel_event_briefing_failed, sentinel_event_briefing_downloaded;
extern const sentinel_event_type_t sentinel_event_usage_incremented;
extern const sentinel_event_type_t sentinel_event_activity_logged;

#endif
