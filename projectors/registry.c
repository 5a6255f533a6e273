/* registry.c -- the projectors `sentinel project` knows. A new projector is
 * a new file in projectors/ and one line here; the runtime does not change. */
#include <sentinel/projector.h>
#include <string.h>

extern const sentinel_projector_t sentinel_projector_runs, sentinel_projector_commands,
    sentinel_projector_briefings, sentinel_projector_activities, sentinel_projector_usage;

const sentinel_projector_t *const sentinel_projectors[] = {
    &sentinel_projector_runs,       &sentinel_projector_commands, &sentinel_projector_briefings,
    &sentinel_projector_activities, &sentinel_projector_usage,    NULL,
};

const sentinel_projector_t *sentinel_projector_find(const char *name) {
    for (size_t i = 0; sentinel_projectors[i]; i++)
        if (!strcmp(sentinel_projectors[i]->name, name)) return sentinel_projectors[i];
    return NULL;
}
