/* test_runtime.c -- the shape of the runtime: one process reads the topic
 * once for all of its projectors, each projector starting from its own
 * stored offsets (one behind the others after a rebuild or a late start),
 * the work in flight stays within the one memory setting, a trickle of
 * events is applied in a few transactions a second, a backlog is fetched
 * from the broker once however small the setting, and a stop with a
 * backlog waiting ends the process. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <sentinel/projector.h>
#include <sentinel/publisher.h>
#include "base/timestamp.h"

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

/* N, or B with `batches` set, from "<name>: N events in B batches" in the
 * summary of a run; -1 without one. */
static long long projector_summary(const char *out, const char *name, int batches) {
    char key[64];
    snprintf(key, sizeof(key), "%s: ", name);
    for (const char *at = strstr(out, key); at; at = strstr(at + 1, key)) {
        char *end = NULL;
        long long n = strtoll(at + strlen(key), &end, 10);
        if (end == at + strlen(key) || strncmp(end, " events in ", 11)) continue;
        return batches ? atoll(end + 11) : n;
    }
    return -1;
}

static long long projector_events(const char *out, const char *name) {
    return projector_summary(out, name, 0);
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
/* The process's peak resident memory (kB, from the kernel through
 * time(1)) projecting `topic` into a fresh copy of the projection with
 * --max-in-flight `setting`, its transactions spaced (--linger-ms) so that
 * reading runs ahead of applying and the setting has to hold it back. ASan's quarantine is off for
 * the run: it holds freed memory back by design, which is not the engine's. */
static long peak_rss_kb(const char *conninfo, const char *topic, const char *prefix,
                        const char *setting) {
    harness_empty_projection(conninfo);
    PGconn *owner = harness_connect(harness_as_owner(conninfo));
    harness_exec(owner, "TRUNCATE projector_offsets, applied_events, dead_letters");
    PQfinish(owner);
    char *cmd = NULL;
    assert_true(asprintf(&cmd,
                         "ASAN_OPTIONS=quarantine_size_mb=0:detect_leaks=0 /usr/bin/time -f "
                         "'peak-rss-kb %%M' %s project --until-caught-up --max-in-flight %s "
                         "--batch-events 2000 --linger-ms 500 "
                         "--db '%s' --topic %s --group-prefix %s_%s 2>&1",
                         SENTINEL_BINARY, setting, conninfo, topic, prefix, setting) > 0);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[4096];
    long kb = -1;
    while (fgets(line, sizeof(line), p))
        if (!strncmp(line, "peak-rss-kb ", 12)) kb = atol(line + 12);
    int status = pclose(p);
    if (status) fail_msg("%s: exit status %d", cmd, status);
    free(cmd);
    assert_true(kb > 0);
    return kb;
}

/* One setting bounds the memory, not the backlog: the process's measured
 * peak over a backlog four times as large stays within the setting of the
 * peak over the smaller one. */
static void test_memory_bounded_by_one_setting(void **state) {
    world_t *w = *state;
    const char *topic = w->topic, *conninfo = w->conninfo, *prefix = w->prefix;
    char *events = harness_gen("--events 10000 --seed 23");
    assert_int_equal(harness_publish(topic, events), 0);
    long small = peak_rss_kb(conninfo, topic, prefix, "4M");
    for (int i = 0; i < 3; i++) /* four times the log: 40,000 events */
        assert_int_equal(harness_publish(topic, events), 0);
    long large = peak_rss_kb(conninfo, topic, prefix, "4M");
    print_message("peak RSS at --max-in-flight 4M: %ld kB over 10,000 events, %ld kB over "
                  "40,000\n",
                  small, large);
    /* The bound: four times the setting (what it lets the process hold,
     * and the allocator's slack around it), far under what 30,000 more
     * decoded events would take (about 70 MB) were the backlog held. */
    if (large > small + 4 * 4 * 1024)
        fail_msg("peak RSS grew with the backlog: %ld kB for 10,000 events, %ld kB for 40,000 at "
                 "a 4M setting",
                 small, large);

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

/* Events generated with `gen_args` (the file into *events) published,
 * then projected to the end with `options`: the run's output. *total: the
 * messages in the topic. */
static char *backlog_projected(world_t *w, const char *gen_args, const char *options, char **events,
                               long long *total) {
    *events = harness_gen(gen_args);
    assert_int_equal(harness_publish(w->topic, *events), 0);
    *total = harness_consume_all(w->topic, "read_committed", NULL, NULL);
    return harness_must_run("project --until-caught-up %s --db \"%s\" --topic %s "
                            "--group-prefix %s",
                            options, w->conninfo, w->topic, w->prefix);
}

/* A backlog larger than the memory setting: the reader fills it and waits
 * for the projectors to free room, again and again. It waits with the
 * consumer's prefetch in place, so every message comes from the broker
 * once: a pause to wait would drop the prefetch and fetch it again.
 * Each projector lingers 200 ms between the starts of its transactions,
 * so chunks pile up to the setting meanwhile however fast the projectors
 * apply them (without it, projectors faster than a reader slowed by a busy
 * machine left it waiting twice), and the reading is held back for
 * certain; 200 ms is well within the second the reader waits before it
 * pauses the consumer. */
static void test_backlog_fetched_once(void **state) {
    world_t *w = *state;
    long long total;
    char *events = NULL;
    char *out = backlog_projected(w, "--events 20000 --seed 25",
                                  "--max-in-flight 4M --linger-ms 200", &events, &total);
    long long read = number_after(out, "read ");
    long long waits = number_after(out, "waited for room ");
    long long pauses = number_after(out, "paused the consumer ");
    print_message("%lld messages read, waited for room %lld times, paused %lld\n", read, waits,
                  pauses);
    if (read != total) fail_msg("read %lld messages for %lld in the topic:\n%s", read, total, out);
    /* The setting held the reading back, again and again. */
    if (waits < 5) fail_msg("the reader waited for room %lld times:\n%s", waits, out);
    /* A pause stays for a projector slower than a second (an outage); a
     * stray slow transaction on a loaded machine may make one or two. */
    if (pauses < 0 || pauses > 2)
        fail_msg("the consumer paused %lld times for room, fetching again each time:\n%s", pauses,
                 out);
    free(out);
    unlink(events);
    free(events);
}

/* With lanes, each projector applies its partitions side by side, each
 * lane its own: no lane's transaction ever meets another's offsets (not
 * one fenced), every event counts once, and the projection equals a
 * clean pass in one lane. */
static void test_lanes_split_partitions(void **state) {
    world_t *w = *state;
    long long total;
    char *events = NULL;
    char *out = backlog_projected(w, "--events 8000 --duplicates 0.02 --seed 26",
                                  "--lanes 3 --batch-events 500", &events, &total);
    assert_non_null(strstr(out, "for 5 projector(s) in 3 lane(s) each"));
    const char *names[] = {"runs", "commands", "briefings", "activities", "usage"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        long long seen = projector_events(out, names[i]);
        char key[64];
        snprintf(key, sizeof(key), "%s: ", names[i]);
        const char *at = strstr(out, key);
        long long fenced = at ? number_after(at, "ignored, ") : -1;
        if (seen != total || fenced != 0)
            fail_msg("%s: %lld events of %lld, %lld fenced:\n%s", names[i], seen, total, fenced,
                     out);
    }
    free(out);
    harness_project(w->reference, w->topic, w->prefix);
    harness_assert_same_projection(w->conninfo, w->reference);
    char *bad = NULL;
    assert_int_equal(harness_run_sentinel("project --lanes 9 --until-caught-up", &bad), 2);
    assert_non_null(strstr(bad, "--lanes"));
    free(bad);
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

/* The value of `sql` once it reaches `least`, asked every 100 ms for up to
 * a minute; the last value seen if it never does. */
static long long value_reaching(PGconn *conn, const char *sql, long long least) {
    long long at = harness_query_int(conn, sql);
    for (int tries = 0; tries < 600 && at < least; tries++) {
        usleep(100 * 1000);
        at = harness_query_int(conn, sql);
    }
    return at;
}

/* A live projector with --linger-ms L, fed a trickle of events (one every
 * 10 ms for about 2 s), starts a transaction at most once per L: the
 * events that arrive meanwhile join the next one. Without the linger each
 * projector would commit every few events. The projection is the same. */
static void test_linger_bounds_transactions(void **state) {
    world_t *w = *state;
    const char *topic = w->topic, *conninfo = w->conninfo, *prefix = w->prefix;
    char *events = harness_gen("--events 200 --seed 25");
    harness_create_topic(topic, 3);
    char log[256], args[2048], errstr[512];
    snprintf(log, sizeof(log), "%s.log", prefix);
    snprintf(args, sizeof(args), "project --linger-ms 500 --db \"%s\" --topic %s --group-prefix %s",
             conninfo, topic, prefix);
    double began = sentinel_monotonic_seconds();
    pid_t pid = harness_spawn_sentinel(args, log);

    sentinel_publisher_t *pub = harness_publisher(topic);
    FILE *in = fopen(events, "r");
    assert_non_null(in);
    char *line = NULL;
    size_t size = 0;
    ssize_t len;
    long sent = 0;
    while ((len = getline(&line, &size, in)) > 0) {
        if (sentinel_publisher_send_json(pub, line, (size_t)len - 1, (uint64_t)sent, errstr,
                                         sizeof(errstr)))
            fail_msg("%s", errstr);
        sent++;
        sentinel_publisher_poll(pub);
        usleep(10 * 1000);
    }
    free(line);
    fclose(in);
    assert_int_equal(sentinel_publisher_flush(pub, 30000, errstr, sizeof(errstr)), 0);
    sentinel_publisher_destroy(pub);

    /* Caught up: every projector's offsets at the end of the log. */
    long long total = harness_consume_all(topic, "read_committed", NULL, NULL);
    PGconn *conn = harness_connect(harness_as_owner(conninfo));
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT coalesce(min(s), -1) FROM (SELECT sum(next_offset) s FROM projector_offsets "
             "WHERE topic = '%s' GROUP BY projector HAVING count(*) = 3) t",
             topic);
    long long at = value_reaching(conn, sql, total);
    PQfinish(conn);
    kill(pid, SIGTERM);
    assert_int_equal(harness_wait(pid), 0);
    double elapsed = sentinel_monotonic_seconds() - began;
    char *out = harness_read_file(log);
    if (at < total) fail_msg("offsets at %lld of %lld after a minute:\n%s", at, total, out);

    /* At most one transaction per 500 ms for each projector. */
    long long bound = (long long)(elapsed / 0.5) + 1;
    for (size_t i = 0; sentinel_projectors[i]; i++) {
        const char *name = sentinel_projectors[i]->name;
        long long batches = projector_summary(out, name, 1);
        if (batches < 1 || batches > bound)
            fail_msg("%s: %lld transactions in %.1f s with a 500 ms linger:\n%s", name, batches,
                     elapsed, out);
    }
    free(out);
    unlink(log);

    /* Batch options out of range, or not whole numbers, are usage errors
     * before anything runs (the database named does not exist). */
    static const char *const bad_options[][2] = {
        {"--linger-ms -5", "--linger-ms must be 0 to 60000"},
        {"--batch-events 1e3", "--batch-events must be 1 to 1000000"},
        {"--batch-ms 99999999999", "--batch-ms must be 1 to 600000"},
        {"--batch-bytes 12x", "--batch-bytes must be 1024 to"},
    };
    for (size_t i = 0; i < sizeof(bad_options) / sizeof(bad_options[0]); i++) {
        char *bad = NULL, cmd[256];
        snprintf(cmd, sizeof(cmd),
                 "project %s --until-caught-up --db postgresql://127.0.0.1:1/none --topic %s",
                 bad_options[i][0], topic);
        int rc = harness_run_sentinel(cmd, &bad);
        if (rc != 2 || !strstr(bad, bad_options[i][1]))
            fail_msg("%s: exit %d:\n%s", bad_options[i][0], rc, bad);
        free(bad);
    }

    harness_project(w->reference, topic, prefix);
    harness_assert_same_projection(conninfo, w->reference);
    unlink(events);
    free(events);
}

/* SIGTERM while most of a backlog is read and waiting in batches: the
 * projectors finish the transaction at hand and the process exits (it
 * used to wait forever in the Kafka client's shutdown for the messages
 * still held). A second pass then projects what is left. */
static void test_stop_with_backlog_waiting(void **state) {
    world_t *w = *state;
    const char *topic = w->topic, *conninfo = w->conninfo, *prefix = w->prefix;
    char *events = harness_gen("--events 20000 --seed 26");
    assert_int_equal(harness_publish(topic, events), 0);
    char log[256], args[2048], sql[512];
    snprintf(log, sizeof(log), "%s.log", prefix);
    /* Transactions of 1,000: the stop lands between two of twenty, not
     * before or after the two a default batch would make. */
    snprintf(args, sizeof(args),
             "project --db \"%s\" --topic %s --group-prefix %s --batch-events 1000", conninfo,
             topic, prefix);
    /* Counted before the process starts: reading the whole topic takes long
     * enough for the backlog to be gone before the stop otherwise. */
    long long total = harness_consume_all(topic, "read_committed", NULL, NULL);
    pid_t pid = harness_spawn_sentinel(args, log);

    /* Mid-stream: some of the backlog applied, not all of it. */
    PGconn *conn = harness_connect(harness_as_owner(conninfo));
    snprintf(sql, sizeof(sql),
             "SELECT coalesce(sum(next_offset), 0) FROM projector_offsets "
             "WHERE topic = '%s' AND projector = 'runs'",
             topic);
    long long at = value_reaching(conn, sql, 1);
    PQfinish(conn);
    if (at == 0 || at >= total)
        fail_msg("runs stood at %lld of %lld when asked to stop: not mid-stream", at, total);

    kill(pid, SIGTERM);
    int rc = harness_wait_within(pid, 60);
    char *out = harness_read_file(log);
    if (rc < 0) fail_msg("still running a minute after SIGTERM:\n%s", out);
    if (rc) fail_msg("exit status %d after SIGTERM:\n%s", rc, out);
    free(out);
    unlink(log);

    harness_project(conninfo, topic, prefix);
    harness_project(w->reference, topic, prefix);
    harness_assert_same_projection(conninfo, w->reference);
    unlink(events);
    free(events);
}

int main(void) {
    harness_test_filter();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_projectors_at_different_offsets, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_memory_bounded_by_one_setting, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_backlog_fetched_once, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_lanes_split_partitions, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_rows_prove_application, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_linger_bounds_transactions, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_stop_with_backlog_waiting, world_setup,
                                        world_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
