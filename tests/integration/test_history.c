/* test_history.c -- projections are a function of the log and of the
 * control plane's history: a soft-deleted repository or workspace still
 * accepts the events that occurred before its deletion, and a changed
 * subscription cuts billing periods where it changed; a rebuild afterwards
 * equals the live projection, no two periods overlap, and verify, which
 * recomputes periods from the subscriptions, finds no drift. */
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
#define WS3 "a0000000-0000-4000-8000-000000000003"

static unsigned serial;

static void run_started(FILE *f, const char *ws, const char *repo, unsigned run, const char *at) {
    fprintf(f,
            "{\"event_id\": \"f3000000-0000-4000-8000-%012u\", \"type\": \"RunStarted\", "
            "\"workspace_id\": \"%s\", \"occurred_at\": \"%s\", \"data\": {\"run_id\": "
            "\"f4000000-0000-4000-8000-%012u\", \"repository_id\": \"%s\", "
            "\"external_reference\": \"pr-%u\"}}\n",
            ++serial, ws, at, run, repo, run);
}

static void usage(FILE *f, const char *ws, const char *at) {
    fprintf(f,
            "{\"event_id\": \"f3000000-0000-4000-8000-%012u\", \"type\": \"UsageIncremented\", "
            "\"workspace_id\": \"%s\", \"occurred_at\": \"%s\", \"data\": {\"metric\": \"runs\", "
            "\"amount\": 1}}\n",
            ++serial, ws, at);
}

static void publish_and_project(const char *conninfo, const char *topic, const char *prefix,
                                void (*write)(FILE *f)) {
    char path[] = "/tmp/sentinel_history_XXXXXX";
    FILE *f = fdopen(mkstemp(path), "w");
    write(f);
    fclose(f);
    assert_int_equal(harness_publish(topic, path), 0);
    unlink(path);
    harness_project(conninfo, topic, prefix);
}

static const char *repo11(void) { return harness_repository_id(1, 1); }

static void before(FILE *f) {
    run_started(f, WS1, repo11(), 1, "2026-11-20T10:00:00Z");
    run_started(f, WS3, harness_repository_id(3, 1), 2, "2026-11-20T10:00:00Z");
    usage(f, WS1, "2026-03-20T10:00:00Z");
}

static void after(FILE *f) {
    /* Occurred before the deletions: welcome. */
    run_started(f, WS1, repo11(), 3, "2026-11-21T10:00:00Z");
    run_started(f, WS3, harness_repository_id(3, 1), 4, "2026-11-24T10:00:00Z");
    /* Occurred after them: rejected. */
    run_started(f, WS1, repo11(), 5, "2026-11-26T10:00:00Z");
    run_started(f, WS3, harness_repository_id(3, 1), 6, "2026-11-26T10:00:00Z");
    /* Usage after the new subscription, and a late one from before it. */
    usage(f, WS1, "2026-04-05T10:00:00Z");
    usage(f, WS1, "2026-03-22T10:00:00Z");
}

static void test_history_is_kept(void **state) {
    (void)state;
    char *name;
    char *conninfo = harness_migrated_database("sentinel_history", 4, &name);
    char *topic = harness_unique_name("test.history");
    char *prefix = harness_unique_name("history");
    publish_and_project(conninfo, topic, prefix, before);

    /* The control plane moves on: a repository and a workspace are soft
     * deleted, workspace 1 starts paying on March 25. */
    PGconn *owner = harness_connect(harness_as_owner(conninfo));
    char sql[512];
    snprintf(sql, sizeof(sql),
             "UPDATE repositories SET deleted_at = '2026-11-25T00:00:00Z' WHERE id = '%s'",
             repo11());
    harness_exec(owner, sql);
    harness_exec(owner,
                 "UPDATE workspaces SET deleted_at = '2026-11-25T00:00:00Z' WHERE id = '" WS3 "'");
    harness_exec(owner, "INSERT INTO subscriptions (workspace_id, plan_id, status, started_at) "
                        "SELECT '" WS1 "', id, 'active', '2026-03-25T00:00:00Z' FROM plans "
                        "WHERE tier = 'illuminate'");
    publish_and_project(conninfo, topic, prefix, after);

    assert_int_equal(harness_query_int(owner, "SELECT count(*) FROM runs"), 4);
    assert_int_equal(
        harness_query_int(
            owner,
            "SELECT count(*) FROM dead_letters WHERE reason LIKE 'repository % was deleted at "
            "2026-11-25T00:00:00Z, before the event'"),
        1);
    assert_int_equal(
        harness_query_int(owner, "SELECT count(*) FROM dead_letters WHERE reason = 'workspace " WS3
                                 " was deleted at "
                                 "2026-11-25T00:00:00Z, before the event'"),
        1);
    /* Billing: March 1 to 25 by calendar month, then from the 25th. */
    char *periods = harness_query_value(
        owner,
        "SELECT string_agg(to_char(period_start, 'MM-DD') || '..' || to_char(period_end, 'MM-DD') "
        "|| '=' || runs_count, ' ' ORDER BY period_start) FROM usage_records "
        "WHERE workspace_id = '" WS1 "'");
    assert_string_equal(periods, "03-01..03-25=2 03-25..04-25=1");
    free(periods);

    free(harness_must_run("verify --db \"%s\"", conninfo));

    /* A rebuild from the log, today, equals the live projection. */
    char *before_digest = harness_projection_digest(owner);
    char *out = harness_must_run("rebuild --projector all --db \"%s\" --topic %s --group-prefix %s",
                                 harness_as_owner(conninfo), topic, prefix);
    const char *summary = strstr(out, "tables differed");
    if (!summary || !strstr(out, ": 0 of ")) {
        const char *table = strstr(out, "table ");
        fail_msg("the rebuild differs from the live projection:\n%.3000s", table ? table : out);
    }
    free(out);
    char *after_digest = harness_projection_digest(owner);
    assert_string_equal(before_digest, after_digest);
    free(before_digest);
    free(after_digest);

    PQfinish(owner);
    harness_drop_database(name);
    free(prefix);
    free(topic);
    free(name);
    free(conninfo);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_history_is_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
