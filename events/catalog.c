/* catalog.c -- every event type of the catalog, in the order of the
 * product contract. */
#include <string.h>

#include "fields.h"

const sentinel_event_type_t *const sentinel_event_types[] = {
    &sentinel_event_run_started,
    &sentinel_event_run_completed,
    &sentinel_event_finding_recorded,
    &sentinel_event_annotation_posted,
    &sentinel_event_command_run_started,
    &sentinel_event_command_run_completed,
    &sentinel_event_briefing_requested,
    &sentinel_event_briefing_progressed,
    &sentinel_event_briefing_generated,
    &sentinel_event_briefing_failed,
    &sentinel_event_briefing_downloaded,
    &sentinel_event_usage_incremented,
    &sentinel_event_activity_logged,
    NULL,
};

const sentinel_event_type_t *sentinel_event_type_find(const char *name) {
    for (size_t i = 0; sentinel_event_types[i]; i++)
        if (!strcmp(sentinel_event_types[i]->name, name)) return sentinel_event_types[i];
    return NULL;
}
