/* test_tenancy.c -- one tenant cannot reach another: an event id first used
 * by one workspace does not make another workspace's event a duplicate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define WS1 "a0000000-0000-4000-8000-000000000001"
#define WS2 "a0000000-0000-4000-8000-000000000002"
#define SHARED_ID "f0000000-0000-4000-8000-000000000001"

static void project(const char *conninfo, const char *topic, const char *prefix) {
    char *cmd = NULL, *out = NULL;
    assert_true(asprintf(&cmd, "project --until-caught-up --db \"%s\" --topic %s --group-prefix %s",
                         conninfo, topic, prefix) > 0);
    int rc = harness_run_sentinel(cmd, &out);
    if (rc) fail_msg("project exited %d:\n%s", rc, out);
    free(out);
    free(cmd);
}

static void test_event_ids_are_per_workspace(void **state) {
    (void)state;
    char *name;
    char *conninfo = harness_migrated_database("sentinel_ids", 2, &name);
    char *topic = harness_unique_name("test.ids");
    char *prefix = harness_unique_name("ids");
    char path[] = "/tmp/sentinel_ids_XXXXXX";
    FILE *f = fdopen(mkstemp(path), "w");
    /* Workspace 2 uses the id first, then workspace 1 with the same id, for
     * an activity and for usage; then a true redelivery of workspace 1's. */
    const char *order[3] = {WS2, WS1, WS1};
    for (int k = 0; k < 3; k++) {
        fprintf(f,
                "{\"event_id\": \"" SHARED_ID "\", \"type\": \"ActivityLogged\", \"workspace_id\": "
                "\"%s\", \"occurred_at\": \"2026-11-26T10:00:00Z\", \"data\": {\"activity_id\": "
                "\"f1000000-0000-4000-8000-00000000000%d\", \"type\": \"x\"}}\n",
                order[k], k < 2 ? k : 1);
        fprintf(f,
                "{\"event_id\": \"" SHARED_ID "\", \"type\": \"UsageIncremented\", \"workspace_id\": "
                "\"%s\", \"occurred_at\": \"2026-11-26T10:00:00Z\", \"data\": {\"metric\": \"runs\", "
                "\"amount\": 3}}\n",
                order[k]);
    }
    fclose(f);
    assert_int_equal(harness_publish(topic, path), 0);
    unlink(path);
    project(conninfo, topic, prefix);

    PGconn *conn = harness_connect(conninfo);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM activities WHERE workspace_id = '" WS1 "'"), 1);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM activities WHERE workspace_id = '" WS2 "'"), 1);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM usage_ledger WHERE event_id = '" SHARED_ID "'"), 2);
    assert_int_equal(harness_query_int(conn, "SELECT sum(runs_count) FROM usage_records WHERE workspace_id = '" WS1 "'"), 3);
    assert_int_equal(harness_query_int(conn, "SELECT sum(runs_count) FROM usage_records WHERE workspace_id = '" WS2 "'"), 3);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM dead_letters"), 0);
    PQfinish(conn);
    harness_drop_database(name);
    free(prefix);
    free(topic);
    free(name);
    free(conninfo);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_ids_are_per_workspace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
