/* test_runtime.c -- the shape of the runtime: one process reads the topic
 * once for all of its projectors, each projector starting from its own
 * stored offsets (one behind the others after a rebuild or a late start),
 * and the work in flight stays within the one memory setting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

/* What each test has: a topic, a migrated database to project into, a
 * reference database for a clean pass, a group prefix. */
typedef struct world {
    char *topic, *prefix;
    char *name, *conninfo;
    char *ref_name, *reference;
} world_t;

static int world_setup(void **state) {
    world_t *w = calloc(1, sizeof(*w));
    w->topic = harness_unique_name("test.runtime");
    w->prefix = harness_unique_name("rt");
    w->conninfo = harness_migrated_database("sentinel_rt", 8, &w->name);
    w->reference = harness_migrated_database("sentinel_rt_ref", 8, &w->ref_name);
    *state = w;
    return 0;
}

static int world_teardown(void **state) {
    world_t *w = *state;
    harness_drop_database(w->name);
    harness_drop_database(w->ref_name);
    free(w->topic);
    free(w->prefix);
    free(w->name);
    free(w->conninfo);
    free(w->ref_name);
    free(w->reference);
    free(w);
    return 0;
}

/* The number after `key` in `text` ("read 123 messages"), or -1. */
static long long number_after(const char *text, const char *key) {
    const char *at = strstr(text, key);
    return at ? atoll(at + strlen(key)) : -1;
}

/* "<name>: N events in" from the summary of a run. */
static long long projector_events(const char *out, const char *name) {
    char key[64];
    snprintf(key, sizeof(key), "%s: ", name);
    for (const char *at = strstr(out, key); at; at = strstr(at + 1, key)) {
        char *end = NULL;
        long long n = strtoll(at + strlen(key), &end, 10);
        if (end != at + strlen(key) && !strncmp(end, " events in", 10)) return n;
    }
    return -1;
}

/* The runs projector ran alone first, so it stands at the end of the first
 * part of the log while the others are at its start. One process then
 * catches all of them up: it reads each message once, each projector
 * applies only what it has not, and the projection equals a clean pass. */
static void test_projectors_at_different_offsets(void **state) {
    world_t *w = *state;
    const char *topic = w->topic, *conninfo = w->conninfo, *prefix = w->prefix;
    char *first = harness_gen("--events 6000 --duplicates 0.02 --seed 21");
    char *second = harness_gen("--events 4000 --seed 22");

    assert_int_equal(harness_publish(topic, first), 0);
    long long first_part = harness_consume_all(topic, "read_committed", NULL, NULL);
    free(harness_must_run("project --projector runs --until-caught-up --db \"%s\" --topic %s "
                          "--group-prefix %s",
                          conninfo, topic, prefix));
    assert_int_equal(harness_publish(topic, second), 0);
    long long total = harness_consume_all(topic, "read_committed", NULL, NULL);

    char *out = harness_must_run("project --until-caught-up --db \"%s\" --topic %s "
                                 "--group-prefix %s",
                                 conninfo, topic, prefix);
    /* One reader: every message read once, from the lowest stored offset. */
    long long read = number_after(out, "read ");
    if (read != total) fail_msg("read %lld messages for %lld in the topic:\n%s", read, total, out);
    assert_non_null(strstr(out, "messages once for 5 projectors"));
    /* Each projector counts what it went through from its own offsets. */
    assert_int_equal(projector_events(out, "runs"), total - first_part);
    assert_int_equal(projector_events(out, "commands"), total);
    assert_int_equal(projector_events(out, "usage"), total);
    free(out);

    harness_project(w->reference, topic, prefix);
    harness_assert_same_projection(conninfo, w->reference);
    unlink(first);
    unlink(second);
    free(first);
    free(second);
}

/* With a small budget the reader waits for the projectors instead of
 * reading ahead: the bytes in flight (prefetched, decoded, in batches)
 * never pass the setting, and the projection is the same. */
static void test_memory_bounded_by_one_setting(void **state) {
    world_t *w = *state;
    const char *topic = w->topic, *conninfo = w->conninfo, *prefix = w->prefix;
    char *events = harness_gen("--events 20000 --seed 23");
    assert_int_equal(harness_publish(topic, events), 0);

    char *out = harness_must_run("project --until-caught-up --max-in-flight 4M --db \"%s\" "
                                 "--topic %s --group-prefix %s",
                                 conninfo, topic, prefix);
    long long peak = number_after(out, "peak in flight ");
    long long budget = number_after(out, " bytes of ");
    if (peak <= 0 || budget != 4 * 1024 * 1024 || peak > budget)
        fail_msg("peak %lld bytes in flight, budget %lld:\n%s", peak, budget, out);
    free(out);

    char *bad = NULL;
    assert_int_equal(harness_run_sentinel("project --max-in-flight 12Q --until-caught-up", &bad),
                     2);
    assert_non_null(strstr(bad, "--max-in-flight"));
    free(bad);

    harness_project(w->reference, topic, prefix);
    harness_assert_same_projection(conninfo, w->reference);
    unlink(events);
    free(events);
}

/* Where the projector's own row proves an event applied (runs, findings,
 * annotations, command runs, activities, the usage ledger), no ledger row is kept for it: only the
 * rejected events' keys are. Redeliveries, the whole log published twice
 * and duplicates inside it, are still found and counted as duplicates, and
 * the projection equals one of the log published once. */
static void test_rows_prove_application(void **state) {
    world_t *w = *state;
    const char *topic = w->topic, *conninfo = w->conninfo, *prefix = w->prefix;
    char *once = harness_unique_name("test.runtime.once");
    char *events = harness_gen("--events 6000 --duplicates 0.03 --orphans 0.02 --seed 24");
    assert_int_equal(harness_publish(topic, events), 0);
    assert_int_equal(harness_publish(topic, events), 0);
    assert_int_equal(harness_publish(once, events), 0);

    char *out = harness_must_run("project --until-caught-up --batch-events 700 --db \"%s\" "
                                 "--topic %s --group-prefix %s",
                                 conninfo, topic, prefix);
    PGconn *conn = harness_connect(harness_as_owner(conninfo));
    long long ledger =
        harness_query_int(conn, "SELECT count(*) FROM applied_events "
                                "WHERE projector IN ('runs', 'usage', 'commands', 'activities')");
    long long rejected = harness_query_int(
        conn, "SELECT count(DISTINCT (projector, workspace_id, event_id)) FROM dead_letters "
              "WHERE projector IN ('runs', 'usage', 'commands', 'activities')");
    long long rows = harness_query_int(conn, "SELECT (SELECT count(*) FROM findings) + "
                                             "(SELECT count(*) FROM usage_ledger)");
    if (ledger != rejected || rows < 1000)
        fail_msg("%lld ledger rows for %lld rejected events (%lld rows):\n%s", ledger, rejected,
                 rows, out);
    /* Every event of the second copy is a duplicate. */
    const char *at = strstr(out, "runs: ");
    assert_non_null(at);
    long long duplicates = number_after(at, "applied, ");
    long long applied = number_after(at, "batches: ");
    if (duplicates < applied)
        fail_msg("%lld applied, %lld duplicates:\n%s", applied, duplicates, out);
    PQfinish(conn);
    free(out);

    harness_project(w->reference, once, prefix);
    harness_assert_same_projection(conninfo, w->reference);
    unlink(events);
    free(events);
    free(once);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_projectors_at_different_offsets, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_memory_bounded_by_one_setting, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_rows_prove_application, world_setup, world_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
