/* test_rebuild.c -- replays and rebuilds against the real broker and
 * database: a rebuild while events keep arriving equals a clean pass, a
 * replay of the whole topic changes nothing, a replay applies what the
 * live projection never saw, a year of backfilled history lands in its
 * partitions and rollups, a rebuild killed with -9 resumes, and a drifted
 * projection is reported row by row and repaired. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

typedef struct world {
    char *topic;
    char *events; /* NDJSON path */
    long long messages;
} world_t;

/* Run a sentinel command that must succeed; returns its output (new). */
static void assert_verified(const char *conninfo) {
    char *out = harness_must_run("verify --db \"%s\"", conninfo);
    assert_non_null(strstr(out, "rollups agree with their sources"));
    free(out);
}

static int group_setup(void **state) {
    world_t *w = calloc(1, sizeof(*w));
    w->topic = harness_unique_name("test.rebuild");
    w->events = harness_gen("--events 20000 --duplicates 0.03 --orphans 0.02 --seed 11");
    if (harness_publish(w->topic, w->events)) fail_msg("publish failed");
    w->messages = harness_consume_all(w->topic, "read_committed", NULL, NULL);
    *state = w;
    return 0;
}

static int group_teardown(void **state) {
    world_t *w = *state;
    unlink(w->events);
    free(w->events);
    free(w->topic);
    free(w);
    return 0;
}

static long long shadow_schemas(PGconn *conn) {
    return harness_query_int(conn,
                             "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rebuild%'");
}

/* The last swapped rebuild reports all of its events done, also when its
 * last phase had nothing left to read. */
static void assert_progress_complete(PGconn *conn) {
    char *progress = harness_query_value(
        conn, "SELECT events_done || ' of ' || events_total FROM projection_jobs "
              "WHERE kind = 'rebuild' AND state = 'swapped' ORDER BY id DESC LIMIT 1");
    long long done = atoll(progress), of = atoll(strstr(progress, " of ") + 4);
    if (of <= 0 || done != of) fail_msg("the swapped rebuild reports %s events", progress);
    free(progress);
}

static void test_rebuild_while_events_arrive(void **state) {
    world_t *w = *state;
    char *topic = harness_unique_name("test.rebuild.live");
    if (harness_publish(topic, w->events)) fail_msg("publish failed");
    char *name = NULL;
    char *conninfo = harness_migrated_database("sentinel_rb_live", 8, &name);
    char *prefix = harness_unique_name("live");
    harness_project(conninfo, topic, prefix);
    PGconn *conn = harness_connect(harness_as_owner(conninfo));
    long long before = harness_query_int(conn, "SELECT count(*) FROM runs");

    /* More history keeps arriving, in slices, while the live projection
     * keeps consuming and the rebuild runs. */
    char *slices[6];
    for (int i = 0; i < 6; i++) {
        char args[128];
        snprintf(args, sizeof(args),
                 "--events 1500 --seed %d --start 2026-11-0%dT00:00:00Z --days 1", 100 + i, i + 1);
        slices[i] = harness_gen(args);
    }
    char log[] = "/tmp/sentinel_rb_live_log_XXXXXX";
    close(mkstemp(log));
    char *live_args = NULL;
    assert_true(asprintf(&live_args, "project --db \"%s\" --topic %s --group-prefix %s", conninfo,
                         topic, prefix) > 0);
    pid_t live = harness_spawn_sentinel(live_args, log);
    long long initial = harness_log_end(topic);
    pid_t publisher = harness_publish_slowly(topic, slices, 6, 700);
    /* The rebuild starts once the first slice is in, and more arrive while
     * it runs (the log's end moves under it). */
    for (int i = 0; i < 600 && harness_log_end(topic) == initial; i++)
        usleep(50 * 1000);
    long long at_start = harness_log_end(topic);
    char *out =
        harness_must_run("rebuild --projector all --batch-events 500 --db \"%s\" --topic %s "
                         "--group-prefix %s",
                         harness_as_owner(conninfo), topic, prefix);
    long long at_end = harness_log_end(topic);
    if (!strstr(out, "0 of 12 tables differed from the live projection; swapped"))
        fail_msg("the rebuild did not swap an equal projection:\n%s", out);
    if (at_end <= at_start)
        fail_msg("no event arrived while the rebuild ran (log end %lld before, %lld after)",
                 at_start, at_end);
    assert_int_equal(harness_wait(publisher), 0);

    /* The live process goes on with the swapped tables and reaches the end
     * of the log by itself, before anything else runs; then it stops
     * cleanly. */
    long long total = harness_log_end(topic);
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT coalesce(sum(next_offset), 0) FROM projector_offsets WHERE topic = '%s'",
             topic);
    long long done = 0;
    for (int i = 0; i < 1800 && (done = harness_query_int(conn, sql)) < total * 5; i++)
        usleep(100 * 1000);
    if (done < total * 5)
        fail_msg("the live projector stalled after the swap (%lld of %lld):\n%s", done, total * 5,
                 harness_read_file(log));
    kill(live, SIGTERM);
    assert_int_equal(harness_wait(live), 0);

    assert_true(harness_query_int(conn, "SELECT count(*) FROM runs") > before);
    assert_int_equal(shadow_schemas(conn), 0);
    char *digest = harness_projection_digest(conn);
    char *expected = harness_reference_digest(topic);
    assert_string_equal(digest, expected);
    assert_verified(conninfo);
    /* The job is on record as swapped, its progress at the end. */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM projection_jobs "
                                             "WHERE kind = 'rebuild' AND state = 'swapped'"),
                     1);
    assert_progress_complete(conn);

    PQfinish(conn);
    harness_drop_database(name);
    for (int i = 0; i < 6; i++) {
        unlink(slices[i]);
        free(slices[i]);
    }
    unlink(log);
    free(live_args);
    free(digest);
    free(expected);
    free(out);
    free(prefix);
    free(name);
    free(conninfo);
    free(topic);
}

static void test_replay_changes_nothing(void **state) {
    world_t *w = *state;
    char *name = NULL;
    char *conninfo = harness_migrated_database("sentinel_rb_replay", 8, &name);
    char *prefix = harness_unique_name("replay");
    harness_project(conninfo, w->topic, prefix);
    PGconn *conn = harness_connect(harness_as_owner(conninfo));
    char *digest = harness_projection_digest(conn);
    const char *counters =
        "SELECT md5(concat_ws('|', (SELECT string_agg(concat_ws(':', workspace_id, date, "
        "runs_count, "
        "findings_count, tokens_estimated, updated_at), ',' ORDER BY workspace_id, date) "
        "FROM workspace_daily_metrics), (SELECT string_agg(concat_ws(':', workspace_id, "
        "period_start, "
        "runs_count, tokens_estimated, updated_at), ',' ORDER BY workspace_id, period_start) "
        "FROM usage_records), (SELECT string_agg(concat_ws(':', projector, partition, next_offset, "
        "updated_at), ',' ORDER BY projector, partition) FROM projector_offsets)))";
    char *before = harness_query_value(conn, counters);

    char *out = harness_must_run("replay --projector all --from beginning --db \"%s\" --topic %s "
                                 "--group-prefix %s",
                                 conninfo, w->topic, prefix);
    assert_non_null(strstr(out, " 0 applied,"));
    /* One count: the progress's "N of N" is the summary's messages read. */
    char read[64];
    snprintf(read, sizeof(read), "replay done: %lld messages read", w->messages);
    if (!strstr(out, read)) fail_msg("want \"%s\" in:\n%s", read, out);
    free(out);
    /* By time too: the broker maps the time to offsets. */
    out = harness_must_run(
        "replay --projector metrics --from 2000-01-01T00:00:00Z --to end --db \"%s\" "
        "--topic %s --group-prefix %s",
        conninfo, w->topic, prefix);
    assert_non_null(strstr(out, " 0 applied,"));
    free(out);

    char *after_digest = harness_projection_digest(conn);
    char *after = harness_query_value(conn, counters);
    assert_string_equal(after_digest, digest);
    assert_string_equal(after, before); /* no counter moved, not even its updated_at */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM projection_jobs "
                                             "WHERE kind = 'replay' AND state = 'done'"),
                     2);
    out = harness_must_run("status --db \"%s\" --topic %s", conninfo, w->topic);
    assert_non_null(strstr(out, "replay runs+usage: done"));
    free(out);

    /* A projection whose offsets start at the end of the log (it never saw
     * the history): a replay applies the history, once. */
    harness_empty_projection(conninfo);
    out = harness_must_run(
        "replay --projector all --from beginning --db \"%s\" --topic %s --group-prefix %s",
        conninfo, w->topic, prefix);
    assert_null(strstr(out, " 0 applied,"));
    free(out);
    char *replayed = harness_projection_digest(conn);
    assert_string_equal(replayed, digest);
    assert_verified(conninfo);

    PQfinish(conn);
    harness_drop_database(name);
    free(replayed);
    free(digest);
    free(after_digest);
    free(before);
    free(after);
    free(prefix);
    free(name);
    free(conninfo);
}

static void test_backfilled_year(void **state) {
    (void)state;
    char *topic = harness_unique_name("test.rebuild.backfill");
    /* An integration imports a year of history today. */
    char *events = harness_gen("--events 12000 --start 2025-06-01T00:00:00Z --days 365 --seed 21");
    if (harness_publish(topic, events)) fail_msg("publish failed");
    char *name = NULL;
    char *conninfo = harness_migrated_database("sentinel_rb_backfill", 8, &name);
    char *prefix = harness_unique_name("backfill");
    harness_project(conninfo, topic, prefix);
    PGconn *conn = harness_connect(harness_as_owner(conninfo));

    /* A partition for every month of the year, each holding its month. */
    assert_true(harness_query_int(conn, "SELECT count(*) FROM pg_inherits "
                                        "WHERE inhparent = 'runs'::regclass") >= 12);
    assert_true(harness_query_int(conn, "SELECT count(*) FROM pg_inherits "
                                        "WHERE inhparent = 'findings'::regclass") >= 12);
    assert_int_equal(
        harness_query_int(conn, "SELECT count(*) FROM runs_y2025m07 "
                                "WHERE created_at < '2025-07-01' OR created_at >= '2025-08-01'"),
        0);
    assert_true(harness_query_int(conn, "SELECT count(*) FROM runs_y2025m07") > 0);
    /* Daily metrics for past days, usage for past billing periods. */
    assert_true(harness_query_int(conn, "SELECT count(DISTINCT date) FROM workspace_daily_metrics "
                                        "WHERE date < '2026-01-01'") > 150);
    assert_true(harness_query_int(conn, "SELECT count(DISTINCT period_start) FROM usage_records") >=
                12);
    /* Every run counted once, on some day of the past. */
    assert_int_equal(harness_query_int(conn, "SELECT sum(runs_count) FROM workspace_daily_metrics"),
                     harness_query_int(conn, "SELECT count(*) FROM runs"));
    assert_verified(conninfo);
    /* A rebuild of that history equals it. */
    char *digest = harness_projection_digest(conn);
    char *out =
        harness_must_run("rebuild --projector metrics --db \"%s\" --topic %s --group-prefix %s",
                         harness_as_owner(conninfo), topic, prefix);
    assert_non_null(strstr(out, "0 of 8 tables differed"));
    char *rebuilt = harness_projection_digest(conn);
    assert_string_equal(rebuilt, digest);
    assert_true(harness_query_int(conn, "SELECT count(*) FROM pg_inherits "
                                        "WHERE inhparent = 'runs'::regclass") >= 12);

    PQfinish(conn);
    harness_drop_database(name);
    unlink(events);
    free(out);
    free(digest);
    free(rebuilt);
    free(events);
    free(prefix);
    free(name);
    free(conninfo);
    free(topic);
}

static long long shadow_progress(PGconn *conn) {
    if (!harness_query_int(conn,
                           "SELECT count(*) FROM pg_namespace "
                           "WHERE nspname = 'rebuild_runs_commands_briefings_activities_usage'"))
        return 0;
    PGresult *res =
        PQexec(conn, "SELECT coalesce(sum(next_offset), 0) FROM "
                     "rebuild_runs_commands_briefings_activities_usage.projector_offsets");
    long long n = PQresultStatus(res) == PGRES_TUPLES_OK ? atoll(PQgetvalue(res, 0, 0)) : 0;
    PQclear(res);
    return n;
}

/* Start `sentinel <args>` and kill -9 it once its shadow holds `mark`
 * offsets (summed over the projectors), part of the way. */
static void kill_part_way(PGconn *conn, const char *args, const char *log, long long mark) {
    pid_t pid = harness_spawn_sentinel(args, log);
    for (int i = 0; i < 1200 && shadow_progress(conn) < mark; i++)
        usleep(25 * 1000);
    kill(pid, SIGKILL);
    assert_int_equal(harness_wait(pid), 128 + SIGKILL);
}

static void test_kill_9_during_rebuild(void **state) {
    world_t *w = *state;
    char *name = NULL;
    char *conninfo = harness_migrated_database("sentinel_rb_kill", 8, &name);
    char *prefix = harness_unique_name("kill");
    harness_project(conninfo, w->topic, prefix);
    PGconn *conn = harness_connect(harness_as_owner(conninfo));
    char *digest = harness_projection_digest(conn);

    char log[] = "/tmp/sentinel_rb_kill_log_XXXXXX";
    close(mkstemp(log));
    char *args = NULL;
    assert_true(asprintf(&args,
                         "rebuild --projector all --batch-events 300 --db \"%s\" --topic %s "
                         "--group-prefix %s",
                         harness_as_owner(conninfo), w->topic, prefix) > 0);
    kill_part_way(conn, args, log, w->messages);
    long long done = shadow_progress(conn);
    assert_true(done > 0);
    assert_true(done < w->messages * 5);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM projection_jobs "
                                             "WHERE kind = 'rebuild' AND state = 'building'"),
                     1);

    /* Resume, compare only: the shadow stays. */
    char *out = harness_must_run(
        "rebuild --projector all --no-swap --db \"%s\" --topic %s --group-prefix %s",
        harness_as_owner(conninfo), w->topic, prefix);
    assert_non_null(strstr(out, "resuming the rebuild"));
    assert_non_null(strstr(out, "0 of 12 tables differed from the live projection; not swapped"));
    assert_int_equal(shadow_schemas(conn), 1);
    free(out);
    /* Abort drops it. */
    out =
        harness_must_run("rebuild --projector all --abort --db \"%s\" --topic %s --group-prefix %s",
                         harness_as_owner(conninfo), w->topic, prefix);
    assert_int_equal(shadow_schemas(conn), 0);
    assert_non_null(strstr(out, "dropped"));
    free(out);
    /* Twice: nothing left to drop, and it says so. */
    out =
        harness_must_run("rebuild --projector all --abort --db \"%s\" --topic %s --group-prefix %s",
                         harness_as_owner(conninfo), w->topic, prefix);
    assert_null(strstr(out, "dropped"));
    assert_non_null(strstr(out, "nothing to abort"));
    free(out);
    /* Killed again, then resumed to the end: the swap. */
    kill_part_way(conn, args, log, w->messages);
    out = harness_must_run("rebuild --projector all --db \"%s\" --topic %s --group-prefix %s",
                           harness_as_owner(conninfo), w->topic, prefix);
    assert_non_null(strstr(out, "0 of 12 tables differed from the live projection; swapped"));
    assert_int_equal(shadow_schemas(conn), 0);
    char *rebuilt = harness_projection_digest(conn);
    assert_string_equal(rebuilt, digest);
    assert_verified(conninfo);
    free(out);
    /* The live projection goes on from where the rebuild left it. */
    out = harness_must_run("project --until-caught-up --db \"%s\" --topic %s --group-prefix %s",
                           conninfo, w->topic, prefix);
    free(out);
    char *again = harness_projection_digest(conn);
    assert_string_equal(again, digest);

    /* A rebuild keeps the dead letters' ids, first times and resolutions:
     * one resolved by hand stays resolved, with its note. */
    static const char dead_letters[] =
        "SELECT count(*) || ':' || string_agg(concat_ws(' ', id, created_at, resolution), ',' "
        "ORDER BY projector, topic, partition, kafka_offset) FROM dead_letters";
    harness_exec(conn, "UPDATE dead_letters SET resolved_at = now(), resolution = 'by hand' "
                       "WHERE id = (SELECT min(id) FROM dead_letters)");
    char *dead_before = harness_query_value(conn, dead_letters);
    assert_true(strncmp(dead_before, "0:", 2) != 0);
    free(harness_must_run("rebuild --projector all --db \"%s\" --topic %s --group-prefix %s",
                          harness_as_owner(conninfo), w->topic, prefix));
    char *dead_after = harness_query_value(conn, dead_letters);
    assert_string_equal(dead_after, dead_before);
    assert_non_null(strstr(dead_after, "by hand"));
    free(dead_before);
    free(dead_after);

    PQfinish(conn);
    harness_drop_database(name);
    unlink(log);
    free(args);
    free(again);
    free(rebuilt);
    free(digest);
    free(prefix);
    free(name);
    free(conninfo);
}

/* A projection that drifted (a bug, a hand edit): the comparison names
 * the table and the row, and the swap repairs it. */
static void test_rebuild_repairs_drift(void **state) {
    world_t *w = *state;
    char *name = NULL;
    char *conninfo = harness_migrated_database("sentinel_rb_drift", 8, &name);
    char *prefix = harness_unique_name("drift");
    harness_project(conninfo, w->topic, prefix);
    PGconn *conn = harness_connect(harness_as_owner(conninfo));
    char *digest = harness_projection_digest(conn);
    char *schema = harness_schema_fingerprint(conn);
    char *key =
        harness_query_value(conn, "SELECT workspace_id || ',' || date FROM workspace_daily_metrics "
                                  "ORDER BY workspace_id, date LIMIT 1");
    harness_exec(conn, "UPDATE workspace_daily_metrics SET runs_count = runs_count + 7 "
                       "WHERE (workspace_id, date) = (SELECT workspace_id, date FROM "
                       "workspace_daily_metrics ORDER BY workspace_id, date LIMIT 1)");

    char *out = harness_must_run("rebuild --projector metrics --no-swap --db \"%s\" --topic %s "
                                 "--group-prefix %s",
                                 harness_as_owner(conninfo), w->topic, prefix);
    if (!strstr(out, "1 of 8 tables differed from the live projection; not swapped"))
        fail_msg("the drift was not reported:\n%s", out);
    assert_non_null(strstr(out, "workspace_daily_metrics"));
    assert_non_null(strstr(out, "DIFFERENT"));
    char listed[128];
    snprintf(listed, sizeof(listed), "key (%s)", key);
    if (!strstr(out, listed)) fail_msg("the differing row %s is not listed:\n%s", key, out);
    free(out);
    char *drifted = harness_projection_digest(conn);
    assert_string_not_equal(drifted, digest); /* --no-swap changed nothing */

    out = harness_must_run("rebuild --projector metrics --db \"%s\" --topic %s --group-prefix %s",
                           harness_as_owner(conninfo), w->topic, prefix);
    assert_non_null(strstr(out, "1 of 8 tables differed from the live projection; swapped"));
    assert_progress_complete(conn);
    char *repaired = harness_projection_digest(conn);
    assert_string_equal(repaired, digest);
    assert_verified(conninfo);
    /* The swapped tables are the migrations' tables: same columns, keys,
     * indexes, policies, triggers and grants. */
    char *swapped_schema = harness_schema_fingerprint(conn);
    assert_string_equal(swapped_schema, schema);
    free(swapped_schema);
    free(schema);

    PQfinish(conn);
    harness_drop_database(name);
    free(out);
    free(key);
    free(drifted);
    free(repaired);
    free(digest);
    free(prefix);
    free(name);
    free(conninfo);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_changes_nothing),
        cmocka_unit_test(test_kill_9_during_rebuild),
        cmocka_unit_test(test_rebuild_repairs_drift),
        cmocka_unit_test(test_rebuild_while_events_arrive),
        cmocka_unit_test(test_backfilled_year),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
