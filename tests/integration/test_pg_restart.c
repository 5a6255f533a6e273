/* test_pg_restart.c -- PostgreSQL restarted, or crashed (immediate
 * shutdown: no checkpoint, recovery from WAL), under running projectors and
 * under a replay: they reconnect, retry the batch in flight, lose no
 * commit they relied on, and the result equals a clean pass. Runs alone
 * (RUN_SERIAL): it stops the shared server. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static void under_load(const char *how) {
    char *path = harness_gen("--events 30000 --seed 9");
    char *cmd = NULL, *out = NULL;
    char *topic = harness_unique_name("test.restart");
    assert_int_equal(harness_publish(topic, path), 0);

    char *ref_name, *name;
    char *ref = harness_migrated_database("sentinel_restart_ref", 8, &ref_name);
    char *conninfo = harness_migrated_database("sentinel_restart", 8, &name);
    char *prefix = harness_unique_name("restart_ref");
    assert_true(asprintf(&cmd, "project --until-caught-up --db \"%s\" --topic %s --group-prefix %s",
                         ref, topic, prefix) > 0);
    if (harness_run_sentinel(cmd, &out)) fail_msg("reference: %s", out);
    free(cmd);
    free(out);
    free(prefix);

    prefix = harness_unique_name("restart");
    char log[] = "/tmp/sentinel_restart_log_XXXXXX";
    close(mkstemp(log));
    assert_true(asprintf(&cmd, "project --until-caught-up --batch-events 500 --db \"%s\" --topic %s "
                               "--group-prefix %s",
                         conninfo, topic, prefix) > 0);
    pid_t pid = harness_spawn_sentinel(cmd, log);
    free(cmd);
    /* Wait for progress, then restart the server under it. */
    PGconn *conn = harness_connect(conninfo);
    for (int i = 0; i < 600; i++) {
        if (harness_query_int(conn, "SELECT coalesce(sum(next_offset), 0) FROM projector_offsets") > 2000) break;
        usleep(20000);
    }
    PQfinish(conn);
    assert_true(asprintf(&cmd, "%s/scripts/services %s >/dev/null 2>&1", SENTINEL_SOURCE_DIR, how) >
                0);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    int rc = harness_wait(pid);
    FILE *f = fopen(log, "r");
    char text[65536] = "";
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    if (rc) fail_msg("projector exited %d:\n%s", rc, text);
    /* It saw the server go and come back. */
    if (!strstr(text, "retrying")) fail_msg("no retry in the log:\n%s", text);

    conn = harness_connect(conninfo);
    PGconn *ref_conn = harness_connect(ref);
    char *got = harness_projection_digest(conn), *want = harness_projection_digest(ref_conn);
    assert_string_equal(got, want);
    free(got);
    free(want);
    PQfinish(conn);
    PQfinish(ref_conn);
    harness_drop_database(name);
    harness_drop_database(ref_name);
    unlink(path);
    free(path);
    unlink(log);
    free(prefix);
    free(topic);
    free(name);
    free(ref_name);
    free(conninfo);
    free(ref);
}

static void test_restart_under_load(void **state) {
    (void)state;
    under_load("restart-postgres");
}

static void test_crash_under_load(void **state) {
    (void)state;
    under_load("crash-postgres");
}

/* A replay commits without stored offsets to fence it: a crash must lose
 * none of what it applied. The projection here never saw the history (its
 * tables emptied, its offsets at the end), so the replay applies it all. */
static void test_crash_under_replay(void **state) {
    (void)state;
    char *path = harness_gen("--events 30000 --seed 11");
    char *cmd = NULL;
    char *topic = harness_unique_name("test.crash.replay");
    assert_int_equal(harness_publish(topic, path), 0);
    char *ref_name, *name;
    char *ref = harness_migrated_database("sentinel_crash_replay_ref", 8, &ref_name);
    char *conninfo = harness_migrated_database("sentinel_crash_replay", 8, &name);
    char *prefix = harness_unique_name("crash_replay");
    harness_project(ref, topic, prefix);
    harness_project(conninfo, topic, prefix);
    harness_empty_projection(conninfo);
    PGconn *owner = harness_connect(harness_as_owner(conninfo));
    char log[] = "/tmp/sentinel_crash_replay_log_XXXXXX";
    close(mkstemp(log));
    assert_true(asprintf(&cmd,
                         "replay --projector all --from beginning --batch-events 300 "
                         "--db \"%s\" --topic %s --group-prefix %s",
                         conninfo, topic, prefix) > 0);
    pid_t pid = harness_spawn_sentinel(cmd, log);
    free(cmd);
    for (int i = 0; i < 1200; i++) {
        if (harness_query_int(owner, "SELECT count(*) FROM applied_events") > 3000) break;
        usleep(20000);
    }
    PQfinish(owner);
    assert_true(asprintf(&cmd, "%s/scripts/services crash-postgres >/dev/null 2>&1",
                         SENTINEL_SOURCE_DIR) > 0);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    int rc = harness_wait(pid);
    char *text = harness_read_file(log);
    if (rc) fail_msg("replay exited %d:\n%s", rc, text);
    if (!strstr(text, "retrying")) fail_msg("no retry in the log:\n%s", text);
    free(text);
    harness_assert_same_projection(conninfo, ref);
    harness_drop_database(name);
    harness_drop_database(ref_name);
    unlink(path);
    free(path);
    unlink(log);
    free(prefix);
    free(topic);
    free(name);
    free(ref_name);
    free(conninfo);
    free(ref);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restart_under_load),
        cmocka_unit_test(test_crash_under_load),
        cmocka_unit_test(test_crash_under_replay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
