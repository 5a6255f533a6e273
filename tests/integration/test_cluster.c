/* test_cluster.c -- a three-broker KRaft cluster (scripts/services
 * cluster-up: replication factor 3, min.insync.replicas 2) under faults,
 * the tests sharing one cluster start:
 *   - a broker killed (-9) during `publish`: every line ends up in the topic
 *     exactly once (idempotent producer, acks=all);
 *   - a broker killed during `project`, and a rolling restart of all three
 *     during `project`: the projection equals a clean pass, the running
 *     projector reaching the log's end by itself.
 * Each fault waits for the work to be under way and must show in the
 * process's log. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static void services(const char *what) {
    char *cmd = NULL;
    if (asprintf(&cmd, "%s/scripts/services %s >>/tmp/sentinel_cluster_test.log 2>&1",
                 SENTINEL_SOURCE_DIR, what) < 0)
        abort();
    int rc = system(cmd);
    if (rc) fail_msg("scripts/services %s failed (see /tmp/sentinel_cluster_test.log)", what);
    free(cmd);
}

static int cluster_setup(void **state) {
    (void)state;
    services("cluster-up");
    /* Everything the tests start (sentinel, the harness's clients) talks
     * to the cluster. */
    setenv("SENTINEL_KAFKA_BROKERS", "127.0.0.1:29092,127.0.0.1:29192,127.0.0.1:29292", 1);
    return 0;
}

static int cluster_teardown(void **state) {
    (void)state;
    services("cluster-down");
    return 0;
}

typedef struct ids {
    char (*id)[40];
    long n, cap;
} ids_t;

static void collect_id(const harness_message_t *m, void *opaque) {
    ids_t *ids = opaque;
    if (ids->n == ids->cap) {
        ids->cap = ids->cap ? ids->cap * 2 : 4096;
        ids->id = realloc(ids->id, (size_t)ids->cap * sizeof(*ids->id));
        if (!ids->id) abort();
    }
    snprintf(ids->id[ids->n++], 40, "%s", m->event_id ? m->event_id : "");
}

static int by_id(const void *a, const void *b) { return strcmp(a, b); }

/* What a projection database has applied: the sum of its stored offsets. */
static long long applied(const char *conninfo) {
    PGconn *conn = harness_connect(harness_as_owner(conninfo));
    long long n =
        harness_query_int(conn, "SELECT coalesce(sum(next_offset), 0) FROM projector_offsets");
    PQfinish(conn);
    return n;
}

/* Wait (up to 60 s) until progress() passes `mark` while `pid` runs; fail
 * if it ends first: a fault after the work is done proves nothing. */
static void wait_for_progress(pid_t pid, const char *what, long long (*progress)(const char *),
                              const char *arg, long long mark, const char *log) {
    for (int i = 0; i < 1200; i++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            fail_msg("%s ended before the fault could meet it:\n%s", what, harness_read_file(log));
        if (progress(arg) > mark) return;
        usleep(50000);
    }
    fail_msg("%s made no progress in 60 s:\n%s", what, harness_read_file(log));
}

/* Evidence in a process's log that broker `node` went away under it. */
static void assert_fault_met(const char *log, int node) {
    char *text = harness_read_file(log);
    char address[64];
    snprintf(address, sizeof(address), "127.0.0.1:%d", 29092 + 100 * (node - 1));
    int met = 0;
    for (char *line = strstr(text, address); line && !met; line = strstr(line + 1, address)) {
        char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        met = memmem(line, n, "Disconnected", 12) || memmem(line, n, "refused", 7) ||
              memmem(line, n, "failed", 6);
    }
    if (!met)
        fail_msg("nothing in the log shows broker %d (%s) going away:\n%s", node, address, text);
    free(text);
}

/* Run `sentinel args` (its output into log), kill broker `node` with -9
 * once the work is under way (progress past 0), start that broker again
 * once the command ends. Fails the test unless the command exits 0 and its
 * log shows the broker going away. */
static void run_through_a_broker_kill(const char *args, const char *log,
                                      long long (*progress)(const char *), const char *arg,
                                      int node) {
    char what[64];
    unlink(log);
    pid_t pid = harness_spawn_sentinel(args, log);
    wait_for_progress(pid, args, progress, arg, 0, log);
    snprintf(what, sizeof(what), "cluster-kill %d", node);
    services(what);
    int rc = harness_wait(pid);
    snprintf(what, sizeof(what), "cluster-start %d", node);
    services(what);
    if (rc) fail_msg("%s exited %d:\n%s", args, rc, harness_read_file(log));
    assert_fault_met(log, node);
}

/* Feed `publish` its input through a pipe: the first half, then, once
 * some of it is acknowledged, kill the broker leading its busiest
 * partition and send the rest. The input is still open when the broker
 * dies, so the fault meets the publish however fast it runs (a file given
 * whole could be published before the kill landed, proving nothing). */
static void test_publish_survives_a_killed_broker(void **state) {
    (void)state;
    char *topic = harness_unique_name("test.cluster.publish");
    char *events = harness_gen("--events 120000 --seed 31");
    char args[1024], log[] = "/tmp/sentinel_cluster_publish.log";
    char fifo[64];
    snprintf(fifo, sizeof(fifo), "/tmp/sentinel_cluster_publish_%d.fifo", (int)getpid());
    unlink(fifo);
    if (mkfifo(fifo, 0600)) fail_msg("mkfifo %s failed", fifo);
    snprintf(args, sizeof(args), "publish --quiet --topic %s - <%s", topic, fifo);
    unlink(log);
    pid_t pid = harness_spawn_sentinel(args, log);
    FILE *in = fopen(events, "r"), *pipe_in = fopen(fifo, "w");
    if (!in || !pipe_in) fail_msg("cannot open %s or %s", events, fifo);
    char line[8192];
    for (int n = 0; n < 60000 && fgets(line, sizeof(line), in); n++)
        fputs(line, pipe_in);
    fflush(pipe_in);
    wait_for_progress(pid, args, harness_log_end, topic, 0, log);
    int node = harness_busiest_leader(topic);
    char what[64];
    snprintf(what, sizeof(what), "cluster-kill %d", node);
    services(what);
    while (fgets(line, sizeof(line), in))
        fputs(line, pipe_in);
    fclose(pipe_in);
    fclose(in);
    int rc = harness_wait(pid);
    snprintf(what, sizeof(what), "cluster-start %d", node);
    services(what);
    unlink(fifo);
    if (rc) fail_msg("%s exited %d:\n%s", args, rc, harness_read_file(log));
    assert_fault_met(log, node);

    ids_t ids = {0};
    assert_int_equal(harness_consume_all(topic, "read_committed", collect_id, &ids), 120000);
    qsort(ids.id, (size_t)ids.n, sizeof(*ids.id), by_id);
    long repeats = 0;
    for (long i = 1; i < ids.n; i++)
        repeats += !strcmp(ids.id[i], ids.id[i - 1]);
    assert_int_equal(repeats, 0); /* exactly once: no line written twice */
    free(ids.id);
    unlink(events);
    free(events);
    free(topic);
}

static void test_projection_survives_broker_faults(void **state) {
    (void)state;
    char *topic = harness_unique_name("test.cluster.project");
    char *events = harness_gen("--events 30000 --seed 32 --duplicates 0.02 --orphans 0.01");
    assert_int_equal(harness_publish(topic, events), 0);
    char *reference = harness_reference_digest(topic);

    /* A broker killed while `project --until-caught-up` works. */
    char *name, *conninfo = harness_migrated_database("sentinel_cluster_kill", 8, &name);
    char *prefix = harness_unique_name("cluster.kill");
    char args[2048], log[] = "/tmp/sentinel_cluster_project.log";
    snprintf(args, sizeof(args),
             "project --until-caught-up --db \"%s\" --topic %s --group-prefix %s", conninfo, topic,
             prefix);
    run_through_a_broker_kill(args, log, applied, conninfo, 3);
    PGconn *conn = harness_connect(harness_as_owner(conninfo));
    char *digest = harness_projection_digest(conn);
    assert_string_equal(digest, reference);
    free(digest);
    PQfinish(conn);
    harness_drop_database(name);
    free(prefix);
    free(name);
    free(conninfo);

    /* A rolling restart of all three brokers under a running projector:
     * each stop meets it (its log says so), and it reaches the end of the
     * log by itself afterwards, before anything else runs. */
    conninfo = harness_migrated_database("sentinel_cluster_roll", 8, &name);
    prefix = harness_unique_name("cluster.roll");
    long long target = harness_log_end(topic) * 5; /* every projector, every message */
    snprintf(args, sizeof(args), "project --db \"%s\" --topic %s --group-prefix %s", conninfo,
             topic, prefix);
    unlink(log);
    pid_t pid = harness_spawn_sentinel(args, log);
    for (int n = 1; n <= 3; n++) {
        char what[64];
        long long now = applied(conninfo);
        if (now < target) wait_for_progress(pid, "project", applied, conninfo, now, log);
        snprintf(what, sizeof(what), "cluster-stop %d", n);
        services(what);
        snprintf(what, sizeof(what), "cluster-start %d", n);
        services(what);
    }
    for (int n = 1; n <= 3; n++)
        assert_fault_met(log, n);
    long long done = 0;
    for (int i = 0; i < 1800 && (done = applied(conninfo)) < target; i++)
        usleep(100000);
    if (done < target)
        fail_msg("the running projector stalled after the rolling restart (%lld of %lld):\n%s",
                 done, target, harness_read_file(log));
    kill(pid, SIGTERM);
    int rc = harness_wait(pid);
    if (rc)
        fail_msg("project exited %d after the rolling restart:\n%s", rc, harness_read_file(log));
    conn = harness_connect(harness_as_owner(conninfo));
    digest = harness_projection_digest(conn);
    assert_string_equal(digest, reference);
    free(digest);
    PQfinish(conn);
    harness_drop_database(name);
    free(prefix);
    free(name);
    free(conninfo);
    free(reference);
    unlink(events);
    free(events);
    free(topic);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_survives_a_killed_broker),
        cmocka_unit_test(test_projection_survives_broker_faults),
    };
    harness_test_filter();
    return cmocka_run_group_tests(tests, cluster_setup, cluster_teardown);
}
