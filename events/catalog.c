/* catalog.c -- every event type of the catalog, in the order of the
 * product contract, with the family its projector belongs to. A type's
 * fields and rules are its schemas' (schemas/<Type>.v<N>.avsc). */
#include <string.h>

#include <sentinel/event.h>
#include "events/schema_set.h"

#define EVENT_TYPE(var, name, family) static const sentinel_event_type_t var = {name, family};
EVENT_TYPE(run_started, "RunStarted", "runs")
EVENT_TYPE(run_completed, "RunCompleted", "runs")
EVENT_TYPE(finding_recorded, "FindingRecorded", "runs")
EVENT_TYPE(annotation_posted, "AnnotationPosted", "runs")
EVENT_TYPE(command_run_started, "CommandRunStarted", "commands")
EVENT_TYPE(command_run_completed, "CommandRunCompleted", "commands")
EVENT_TYPE(briefing_requested, "BriefingRequested", "briefings")
EVENT_TYPE(briefing_progressed, "BriefingProgressed", "briefings")
EVENT_TYPE(briefing_generated, "BriefingGenerated", "briefings")
EVENT_TYPE(briefing_failed, "BriefingFailed", "briefings")
EVENT_TYPE(briefing_downloaded, "BriefingDownloaded", "briefings")
EVENT_TYPE(usage_incremented, "UsageIncremented", "usage")
EVENT_TYPE(activity_logged, "ActivityLogged", "activity")
#undef EVENT_TYPE

const sentinel_event_type_t *const sentinel_event_types[] = {
    &run_started,         &run_completed,
    &finding_recorded,    &annotation_posted,
    &command_run_started, &command_run_completed,
    &briefing_requested,  &briefing_progressed,
    &briefing_generated,  &briefing_failed,
    &briefing_downloaded, &usage_incremented,
    &activity_logged,     NULL,
};

const sentinel_event_type_t *sentinel_event_type_find_n(const char *name, size_t len) {
    for (size_t i = 0; sentinel_event_types[i]; i++) {
        const char *known = sentinel_event_types[i]->name;
        if (len && known[0] == name[0] && !strncmp(known, name, len) && !known[len])
            return sentinel_event_types[i];
    }
    return NULL;
}

const sentinel_event_type_t *sentinel_event_type_find(const char *name) {
    return sentinel_event_type_find_n(name, strlen(name));
}
