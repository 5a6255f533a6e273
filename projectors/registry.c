/* registry.c -- the projectors `sentinel project` knows. A new projector is
 * a new file in projectors/, a migration that makes its tables and calls
 * sentinel_register_projector(), and one line here; the runtime, the
 * command line, the tests and the benchmarks take the rest from this list
 * (names, event types, tables). */
#include <sentinel/projector.h>
#include <string.h>

/* One line per projector, P(name) for sentinel_projector_<name>, in the
 * order the tables' references want them (a table before those that
 * reference it); a new one goes above the end. */
#define SENTINEL_PROJECTORS                                                                        \
    P(runs)                                                                                        \
    P(commands)                                                                                    \
    P(briefings)                                                                                   \
    P(activities)                                                                                  \
    P(usage)                                                                                       \
    /* end of the projectors */

#define P(name) extern const sentinel_projector_t sentinel_projector_##name;
SENTINEL_PROJECTORS
#undef P

const sentinel_projector_t *const sentinel_projectors[] = {
#define P(name) &sentinel_projector_##name,
    SENTINEL_PROJECTORS
#undef P
        NULL,
};

const sentinel_projector_t *sentinel_projector_find(const char *name) {
    for (size_t i = 0; sentinel_projectors[i]; i++)
        if (!strcmp(sentinel_projectors[i]->name, name)) return sentinel_projectors[i];
    return NULL;
}

size_t sentinel_projectors_tables(const sentinel_projector_t *const *set, size_t n,
                                  const char **tables, size_t max) {
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; set[i]->tables[t]; t++) {
            size_t k = 0;
            while (k < count && strcmp(tables[k], set[i]->tables[t]))
                k++;
            if (k == count && count < max) tables[count++] = set[i]->tables[t];
        }
    return count;
}
