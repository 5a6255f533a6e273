/* test_replay.c -- what replays and rebuilds decide without the services:
 * the positions the command line takes, and which projectors a rebuild
 * must take together. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "replay/replay.h"
#include "runtime/run.h"

static void accepted(const char *spec) {
    char errstr[256] = "";
    if (sentinel_position_check(spec, errstr, sizeof(errstr)))
        fail_msg("\"%s\" refused: %s", spec, errstr);
}

static void refused(const char *spec, const char *message) {
    char errstr[256] = "";
    if (!sentinel_position_check(spec, errstr, sizeof(errstr))) fail_msg("\"%s\" accepted", spec);
    if (!strstr(errstr, message))
        fail_msg("\"%s\": \"%s\" does not say \"%s\"", spec, errstr, message);
}

static void test_positions(void **state) {
    (void)state;
    accepted("beginning");
    accepted("end");
    accepted("0");
    accepted("1500");
    accepted("2026-11-01T00:00:00Z");
    accepted("2026-11-01T10:15:00.250+02:00");
    accepted("0:10");
    accepted("0:10,3:2000,11:0");
    refused("yesterday", "expected beginning, end, an RFC 3339 time");
    refused("-5", "expected beginning");
    refused("0:", "PARTITION:OFFSET");
    refused("0:10,", "PARTITION:OFFSET");
    refused("a:10", "PARTITION:OFFSET");
    refused("2026-11-01T10:15:00", "time zone");
    refused("2026-13-01T00:00:00Z", "not a valid date and time");
}

/* The names of a rebuild set, "+"-joined. */
static void expect_set(const char *const *names, const char *want) {
    const sentinel_projector_t *requested[SENTINEL_MAX_SET], *set[SENTINEL_MAX_SET];
    int n = 0;
    for (; names[n]; n++) {
        requested[n] = sentinel_projector_find(names[n]);
        assert_non_null(requested[n]);
    }
    int got = sentinel_rebuild_set(requested, n, set);
    char joined[256] = "";
    for (int i = 0; i < got; i++) {
        if (i) strcat(joined, "+");
        strcat(joined, set[i]->name);
    }
    assert_string_equal(joined, want);
}

static void test_rebuild_sets(void **state) {
    (void)state;
    /* runs and usage share workspace_daily_metrics: one comes with the other. */
    expect_set((const char *const[]){"runs", NULL}, "runs+usage");
    expect_set((const char *const[]){"usage", NULL}, "runs+usage");
    expect_set((const char *const[]){"activities", NULL}, "activities");
    expect_set((const char *const[]){"briefings", "commands", NULL}, "commands+briefings");
    expect_set((const char *const[]){"activities", "runs", NULL}, "runs+activities+usage");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_rebuild_sets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
