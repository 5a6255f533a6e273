/* test_project.c -- the projectors against the real broker and database:
 * end to end against an independent SQL derivation of what the events say,
 * kill -9 at random moments, two processes sharing the partitions, a zombie
 * whose transaction is fenced, and every rejection reason. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "harness.h"

typedef struct world {
    char *topic;
    char *events;   /* NDJSON path */
    char *ref_name; /* reference database: one clean pass */
    char *ref_conninfo;
    char *ref_digest;
    pid_t fleet[3]; /* a rolling fleet's processes, killed by the teardown if a test fails */
} world_t;

static int project(const char *conninfo, const char *topic, const char *prefix, const char *extra,
                   char **output) {
    char *cmd = NULL;
    if (asprintf(&cmd, "project --until-caught-up --db \"%s\" --topic %s --group-prefix %s %s",
                 conninfo, topic, prefix, extra ? extra : "") < 0)
        abort();
    int rc = harness_run_sentinel(cmd, output);
    free(cmd);
    return rc;
}

/* `sentinel verify` finds the rollups equal to their recompute. */
static void assert_verified(const char *conninfo) {
    char *cmd = NULL, *out = NULL;
    assert_true(asprintf(&cmd, "verify --db \"%s\"", conninfo) > 0);
    int rc = harness_run_sentinel(cmd, &out);
    if (rc) fail_msg("verify exited %d:\n%s", rc, out);
    assert_non_null(strstr(out, "rollups agree with their sources"));
    free(cmd);
    free(out);
}

/* Events not yet applied by every projector (5 of them), all partitions. */
static long long lag_all(PGconn *conn, const char *topic, long long total_events) {
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT coalesce(sum(next_offset), 0) FROM projector_offsets WHERE topic = '%s'",
             topic);
    return total_events * 5 - harness_query_int(conn, sql);
}

static long long lag(PGconn *conn, const char *topic, long long total_events) {
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT coalesce(sum(next_offset), 0) FROM projector_offsets WHERE projector = 'runs' "
             "AND topic = '%s'",
             topic);
    return total_events - harness_query_int(conn, sql);
}

/* One topic of 30,000 generated events and its reference projection, shared
 * by the crash tests. */
static int world_setup(void **state) {
    world_t *w = calloc(1, sizeof(*w));
    w->topic = harness_unique_name("test.project");
    w->events = harness_gen("--events 30000 --duplicates 0.03 --orphans 0.02 --seed 5");
    if (harness_publish(w->topic, w->events)) fail_msg("publish failed");
    w->ref_conninfo = harness_migrated_database("sentinel_ref", 8, &w->ref_name);
    char *prefix = harness_unique_name("ref");
    char *out = NULL;
    if (project(w->ref_conninfo, w->topic, prefix, NULL, &out)) fail_msg("reference pass: %s", out);
    free(out);
    free(prefix);
    PGconn *conn = harness_connect(w->ref_conninfo);
    w->ref_digest = harness_projection_digest(conn);
    assert_true(harness_query_int(conn, "SELECT count(*) FROM findings") > 1000);
    PQfinish(conn);
    *state = w;
    return 0;
}

static int world_teardown(void **state) {
    world_t *w = *state;
    for (size_t i = 0; i < sizeof(w->fleet) / sizeof(w->fleet[0]); i++)
        if (w->fleet[i] > 0) {
            kill(w->fleet[i], SIGKILL);
            waitpid(w->fleet[i], NULL, 0);
        }
    harness_drop_database(w->ref_name);
    unlink(w->events);
    free(w->events);
    free(w->topic);
    free(w->ref_name);
    free(w->ref_conninfo);
    free(w->ref_digest);
    free(w);
    return 0;
}

/* The projection equals the reference's clean pass, and its rollups agree
 * with their sources. */
static void assert_matches_reference(const world_t *w, PGconn *conn, const char *conninfo) {
    char *digest = harness_projection_digest(conn);
    assert_string_equal(digest, w->ref_digest);
    free(digest);
    assert_verified(conninfo);
}

static long long total_messages(const char *topic) {
    return harness_consume_all(topic, "read_committed", NULL, NULL);
}

static void test_kill_9_at_random_moments(void **state) {
    world_t *w = *state;
    char *name;
    char *conninfo = harness_migrated_database("sentinel_crash", 8, &name);
    PGconn *conn = harness_connect(conninfo);
    char *prefix = harness_unique_name("crash");
    char log[] = "/tmp/sentinel_crash_log_XXXXXX";
    close(mkstemp(log));
    long long total = total_messages(w->topic);
    srand((unsigned)time(NULL));
    int mid_way = 0;
    for (int round = 0; round < 4; round++) {
        char *args = NULL;
        /* One lane, then two, three, one: a lane's partitions, stored
         * offsets and all, pass to whichever lane has them next. */
        assert_true(asprintf(&args,
                             "project --db \"%s\" --topic %s --group-prefix %s --batch-events 400 "
                             "--lanes %d",
                             conninfo, w->topic, prefix, round % 3 + 1) > 0);
        long long before = lag(conn, w->topic, total);
        pid_t pid = harness_spawn_sentinel(args, log);
        free(args);
        /* Kill it at a random moment once it is working (a loaded machine
         * may take seconds to join the group), or after 30 s regardless. */
        for (int i = 0; i < 600 && before > 0 && lag(conn, w->topic, total) == before; i++)
            usleep(50000);
        usleep((useconds_t)(rand() % 800) * 1000);
        kill(pid, SIGKILL);
        assert_int_equal(harness_wait(pid), 128 + SIGKILL);
        long long left = lag(conn, w->topic, total);
        mid_way |= left > 0 && left < total;
    }
    assert_true(mid_way); /* at least one kill landed in the middle of the backlog */
    char *out = NULL;
    if (project(conninfo, w->topic, prefix, NULL, &out)) fail_msg("final pass: %s", out);
    free(out);
    assert_matches_reference(w, conn, conninfo);
    PQfinish(conn);
    harness_drop_database(name);
    unlink(log);
    free(prefix);
    free(name);
    free(conninfo);
}

static void test_two_processes_one_killed(void **state) {
    world_t *w = *state;
    char *name;
    char *conninfo = harness_migrated_database("sentinel_group", 8, &name);
    PGconn *conn = harness_connect(conninfo);
    char *prefix = harness_unique_name("group");
    char log[] = "/tmp/sentinel_group_log_XXXXXX", log_a[] = "/tmp/sentinel_group_a_XXXXXX";
    close(mkstemp(log));
    close(mkstemp(log_a));
    long long total = total_messages(w->topic);
    char *args = NULL;
    /* Transactions at least 200 ms apart, of 128 KB at most: a batch that
     * fills by its count starts at once, so the count is out of reach, and
     * the backlog (8 MB) takes seconds, long enough for both to join and
     * work before one is killed. With full batches of 300 it was done in
     * about a second, as fast as the group split it. */
    assert_true(asprintf(&args,
                         "project --db \"%s\" --topic %s --group-prefix %s --batch-events 100000 "
                         "--batch-bytes 131072 --linger-ms 200 -X session.timeout.ms=6000",
                         conninfo, w->topic, prefix) > 0);
    pid_t a = harness_spawn_sentinel(args, log_a);
    pid_t b = harness_spawn_sentinel(args, log);
    free(args);
    /* Both hold partitions (the group split them) and work. */
    int split = 0;
    for (int i = 0; i < 600 && !split; i++) {
        char *ta = harness_read_file(log_a), *tb = harness_read_file(log);
        split = strstr(ta, "assigned 6 partition(s)") && strstr(tb, "assigned 6 partition(s)");
        free(ta);
        free(tb);
        if (!split) usleep(50000);
    }
    if (!split)
        fail_msg("the two processes never shared the partitions:\n%s", harness_read_file(log));
    for (int i = 0; i < 300 && lag_all(conn, w->topic, total) == total * 5; i++)
        usleep(50000);
    kill(a, SIGKILL);
    assert_int_equal(harness_wait(a), 128 + SIGKILL);
    /* The kill met a process in the middle of the backlog. */
    long long left = lag_all(conn, w->topic, total);
    if (left <= 0) fail_msg("the backlog was done before the kill: nothing was tested");
    if (left >= total * 5) fail_msg("nothing was applied before the kill");
    /* The survivor takes the dead one's partitions after its session times out. */
    /* Every projector, not only runs, before the survivor is stopped. */
    int caught_up = 0;
    for (int i = 0; i < 1800 && !caught_up; i++) {
        caught_up = lag_all(conn, w->topic, total) == 0;
        if (!caught_up) usleep(100000);
    }
    if (!caught_up) {
        char *text = harness_read_file(log);
        fail_msg("the survivor did not catch up (lag %lld):\n%s", lag_all(conn, w->topic, total),
                 text);
    }
    kill(b, SIGTERM); /* clean shutdown: finish the batch, leave the group, exit 0 */
    assert_int_equal(harness_wait(b), 0);
    assert_matches_reference(w, conn, conninfo);
    PQfinish(conn);
    harness_drop_database(name);
    unlink(log);
    unlink(log_a);
    free(prefix);
    free(name);
    free(conninfo);
}

/* A projector stopped (SIGSTOP) with a batch in hand, past its session
 * timeout, while another takes over and commits; resumed (SIGCONT), its
 * transaction's offset compare-and-set finds the offsets moved: fenced,
 * rolled back, nothing doubled. The zombie is held before its transaction
 * by an advisory lock the test takes: the one that guards the creation of
 * the month partition its first batch needs. */
static void test_zombie_is_fenced(void **state) {
    world_t *w = *state;
    char *name;
    char *conninfo = harness_migrated_database("sentinel_zombie", 8, &name);
    PGconn *conn = harness_connect(conninfo);
    PGconn *locker = harness_connect(conninfo);
    char *prefix = harness_unique_name("zombie");
    char zlog[] = "/tmp/sentinel_zombie_log_XXXXXX", blog[] = "/tmp/sentinel_zombie_b_XXXXXX";
    close(mkstemp(zlog));
    close(mkstemp(blog));
    long long total = total_messages(w->topic);
    harness_exec(locker,
                 "SELECT pg_advisory_lock(hashtext('sentinel.partition.public.runs_y2026m10'))");

    char *args = NULL;
    assert_true(asprintf(&args,
                         "project --projector runs --until-caught-up --db \"%s\" --topic %s "
                         "--group-prefix %s -X session.timeout.ms=4000",
                         conninfo, w->topic, prefix) > 0);
    pid_t zombie = harness_spawn_sentinel(args, zlog);
    /* Wait until it is blocked, batch in hand, on the partition lock. */
    int blocked = 0;
    for (int i = 0; i < 600 && !blocked; i++) {
        blocked =
            harness_query_int(
                conn, "SELECT count(*) FROM pg_stat_activity WHERE "
                      "wait_event_type = 'Lock' AND query LIKE '%sentinel_ensure_partitions%'") > 0;
        if (!blocked) usleep(50000);
    }
    assert_true(blocked);
    kill(zombie, SIGSTOP);
    harness_exec(locker, "SELECT pg_advisory_unlock_all()");

    /* Another process takes over once the zombie's session times out. */
    pid_t b = harness_spawn_sentinel(args, blog);
    int caught_up = 0;
    for (int i = 0; i < 1800 && !caught_up; i++) {
        caught_up = lag(conn, w->topic, total) == 0;
        if (!caught_up) usleep(100000);
    }
    if (!caught_up) {
        char *text = harness_read_file(blog);
        fail_msg("the second process did not catch up (lag %lld):\n%s", lag(conn, w->topic, total),
                 text);
    }
    kill(zombie, SIGCONT);
    int rc_zombie = harness_wait(zombie);
    kill(b, SIGTERM);
    int rc_b = harness_wait(b);
    if (rc_b != 0) fail_msg("the second process exited %d:\n%s", rc_b, harness_read_file(blog));
    char *zombie_log = harness_read_file(zlog);
    if (rc_zombie != 0) fail_msg("zombie exited %d:\n%s", rc_zombie, zombie_log);
    if (!strstr(zombie_log, "fenced")) fail_msg("the zombie was not fenced:\n%s", zombie_log);
    free(zombie_log);

    /* Nothing lost, nothing doubled: the runs tables equal the reference's. */
    const char *runs_digest =
        "SELECT md5(concat_ws('|', (SELECT string_agg(r::text, ',' ORDER BY r.id) FROM runs r),"
        " (SELECT string_agg(f::text, ',' ORDER BY f.id) FROM findings f),"
        " (SELECT string_agg(a.id || ':' || a.finding_id, ',' ORDER BY a.id) FROM annotations a)))";
    char *got = harness_query_value(conn, runs_digest);
    PGconn *ref = harness_connect(w->ref_conninfo);
    char *want = harness_query_value(ref, runs_digest);
    assert_string_equal(got, want);
    free(got);
    free(want);
    PQfinish(ref);
    PQfinish(locker);
    PQfinish(conn);
    harness_drop_database(name);
    unlink(zlog);
    unlink(blog);
    free(args);
    free(prefix);
    free(name);
    free(conninfo);
}

/* The database loses what a running projector made: a crash loses the
 * last asynchronous commits, here simulated by emptying the projection,
 * setting its offsets back to the start and dropping the month partitions
 * its first batches made. The projector, still running, is fenced by the
 * offsets on its next batch, reads the log again, and must make the
 * partitions again rather than trust what it remembers making: the
 * projection equals a clean pass, with no dead letter. */
static void test_lost_state_is_made_again(void **state) {
    (void)state;
    char *topic = harness_unique_name("test.lost");
    char *path = harness_gen("--events 4000 --seed 21");
    char *cmd = NULL;
    assert_true(asprintf(&cmd, "head -n 2000 %s >%s.1 && tail -n +2001 %s >%s.2", path, path, path,
                         path) > 0);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    char *first = NULL, *second = NULL;
    assert_true(asprintf(&first, "%s.1", path) > 0 && asprintf(&second, "%s.2", path) > 0);
    char *name, *ref_name;
    char *conninfo = harness_migrated_database("sentinel_lost", 8, &name);
    PGconn *owner = harness_connect(harness_as_owner(conninfo));
    char *prefix = harness_unique_name("lost");
    char log[] = "/tmp/sentinel_lost_log_XXXXXX";
    close(mkstemp(log));
    assert_int_equal(harness_publish(topic, first), 0);
    char *args = NULL;
    assert_true(asprintf(&args, "project --db \"%s\" --topic %s --group-prefix %s", conninfo, topic,
                         prefix) > 0);
    pid_t pid = harness_spawn_sentinel(args, log);
    long long total = total_messages(topic);
    for (int i = 0; i < 1200 && lag_all(owner, topic, total) > 0; i++)
        usleep(50000);
    assert_int_equal(lag_all(owner, topic, total), 0);
    assert_true(harness_query_int(owner, "SELECT count(*) FROM pg_inherits "
                                         "WHERE inhparent = 'runs'::regclass") > 0);

    harness_empty_projection(conninfo);
    harness_exec(owner, "DO $$ DECLARE r record; BEGIN FOR r IN SELECT inhrelid::regclass AS t "
                        "FROM pg_inherits WHERE inhparent IN ('findings'::regclass, "
                        "'runs'::regclass) ORDER BY inhparent = 'runs'::regclass LOOP "
                        "EXECUTE format('DROP TABLE %s', r.t); END LOOP; END $$");
    harness_exec(owner, "UPDATE projector_offsets SET next_offset = 0");

    assert_int_equal(harness_publish(topic, second), 0);
    total = total_messages(topic);
    for (int i = 0; i < 1200 && lag_all(owner, topic, total) > 0; i++)
        usleep(50000);
    kill(pid, SIGTERM);
    int rc = harness_wait(pid);
    char *text = harness_read_file(log);
    if (rc || lag_all(owner, topic, total))
        fail_msg("exit %d, lag %lld:\n%s", rc, lag_all(owner, topic, total), text);
    if (!strstr(text, "fenced")) fail_msg("the projector was not fenced:\n%s", text);
    free(text);
    assert_int_equal(harness_query_int(owner, "SELECT count(*) FROM dead_letters"), 0);

    char *ref = harness_migrated_database("sentinel_lost_ref", 8, &ref_name);
    char *ref_prefix = harness_unique_name("lostref");
    harness_project(ref, topic, ref_prefix);
    free(ref_prefix);
    harness_assert_same_projection(conninfo, ref);
    PQfinish(owner);
    harness_drop_database(name);
    harness_drop_database(ref_name);
    unlink(log);
    unlink(first);
    unlink(second);
    unlink(path);
    free(first);
    free(second);
    free(path);
    free(args);
    free(prefix);
    free(topic);
    free(name);
    free(ref_name);
    free(conninfo);
    free(ref);
}

/* ---------------------------------------------------------------- end to end */

static void load_lines(PGconn *conn, const char *path) {
    harness_exec(conn, "CREATE TEMP TABLE ev_raw (n serial, line text)");
    PGresult *res = PQexec(
        conn,
        "COPY ev_raw (line) FROM STDIN WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')");
    assert_int_equal(PQresultStatus(res), PGRES_COPY_IN);
    PQclear(res);
    char *text = harness_read_file(path);
    assert_int_equal(PQputCopyData(conn, text, (int)strlen(text)), 1);
    assert_int_equal(PQputCopyEnd(conn, NULL), 1);
    res = PQgetResult(conn);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) fail_msg("COPY: %s", PQresultErrorMessage(res));
    PQclear(res);
    while ((res = PQgetResult(conn)))
        PQclear(res);
    free(text);
}

/* Rows in one query and not the other, both ways. */
static long long difference(PGconn *conn, const char *expected, const char *actual) {
    char *sql = NULL;
    if (asprintf(&sql,
                 "SELECT (SELECT count(*) FROM ((%s) EXCEPT ALL (%s)) a) + "
                 "(SELECT count(*) FROM ((%s) EXCEPT ALL (%s)) b)",
                 expected, actual, actual, expected) < 0)
        abort();
    long long n = harness_query_int(conn, sql);
    free(sql);
    return n;
}

static void test_end_to_end(void **state) {
    (void)state;
    char *name;
    char *conninfo = harness_migrated_database("sentinel_e2e", 8, &name);
    char *topic = harness_unique_name("test.e2e");
    char *events =
        harness_gen("--events 6000 --duplicates 0.05 --invalid 0.01 --orphans 0.03 --seed 11");
    assert_int_equal(harness_publish(topic, events), 1); /* the invalid lines */
    char *out = NULL;
    char *prefix = harness_unique_name("e2e");
    if (project(conninfo, topic, prefix, NULL, &out)) fail_msg("project: %s", out);
    free(out);

    /* The valid events, normalised, in log order (one workspace: one partition). */
    char normal[] = "/tmp/sentinel_e2e_XXXXXX";
    close(mkstemp(normal));
    char *cmd = NULL;
    assert_true(asprintf(&cmd, "%s publish --dry-run --print --quiet %s > %s 2>/dev/null",
                         SENTINEL_BINARY, events, normal) > 0);
    assert_int_equal(WEXITSTATUS(system(cmd)), 1); /* the invalid lines */
    free(cmd);
    PGconn *conn = harness_connect(conninfo);
    load_lines(conn, normal);
    /* First delivery of each event id. */
    harness_exec(conn,
                 "CREATE TEMP TABLE e AS SELECT DISTINCT ON (j->>'event_id') n, j->>'type' AS t, "
                 "(j->>'workspace_id')::uuid AS ws, (j->>'occurred_at')::timestamptz AS at, "
                 "(j->>'event_id')::uuid AS id, j->'data' AS d FROM (SELECT n, line::jsonb AS j "
                 "FROM ev_raw) s "
                 "ORDER BY j->>'event_id', n");
    harness_exec(
        conn, "CREATE TEMP TABLE x_runs AS SELECT (s.d->>'run_id')::uuid AS id, s.ws, s.n, s.at, "
              "coalesce((SELECT c.d->>'status' FROM e c WHERE c.t = 'RunCompleted' AND "
              "c.d->>'run_id' = s.d->>'run_id' "
              "AND c.ws = s.ws AND c.n > s.n ORDER BY c.n LIMIT 1), 'running') AS status, "
              "(SELECT min(c.n) FROM e c WHERE c.t = 'RunCompleted' AND c.d->>'run_id' = "
              "s.d->>'run_id' AND c.ws = s.ws AND c.n > s.n) AS done_n "
              "FROM e s WHERE s.t = 'RunStarted' AND EXISTS (SELECT 1 FROM repositories r WHERE "
              "r.id = (s.d->>'repository_id')::uuid AND r.workspace_id = s.ws)");
    assert_int_equal(difference(conn, "SELECT id, ws, at, status FROM x_runs",
                                "SELECT id, workspace_id, created_at, status FROM runs"),
                     0);
    harness_exec(
        conn,
        "CREATE TEMP TABLE x_findings AS SELECT (f.d->>'finding_id')::uuid AS id, f.ws, f.n, "
        "(f.d->>'run_id')::uuid AS run_id, f.d->>'severity' AS severity, f.d->>'title' AS title, "
        "f.at "
        "FROM e f JOIN x_runs r ON r.id = (f.d->>'run_id')::uuid AND r.ws = f.ws AND r.n < f.n "
        "AND (r.done_n IS NULL OR r.done_n > f.n) WHERE f.t = 'FindingRecorded'");
    assert_int_equal(
        difference(conn, "SELECT id, ws, run_id, severity, title, at FROM x_findings",
                   "SELECT id, workspace_id, run_id, severity, title, created_at FROM findings"),
        0);
    assert_int_equal(
        difference(conn,
                   "SELECT (a.d->>'annotation_id')::uuid, a.ws, (a.d->>'finding_id')::uuid, "
                   "a.d->>'external_id' FROM e a "
                   "JOIN x_findings f ON f.id = (a.d->>'finding_id')::uuid AND f.ws = a.ws AND f.n "
                   "< a.n WHERE a.t = 'AnnotationPosted'",
                   "SELECT id, workspace_id, finding_id, external_id FROM annotations"),
        0);
    assert_int_equal(
        difference(conn,
                   "SELECT (s.d->>'command_run_id')::uuid, s.ws, s.d->>'external_reference', "
                   "coalesce((SELECT c.d->>'status' FROM e c WHERE c.t = 'CommandRunCompleted' AND "
                   "c.d->>'command_run_id' = s.d->>'command_run_id' "
                   "AND c.n > s.n ORDER BY c.n LIMIT 1), 'running') FROM e s WHERE s.t = "
                   "'CommandRunStarted'",
                   "SELECT id, workspace_id, external_reference, status FROM command_runs"),
        0);
    harness_exec(
        conn, "CREATE TEMP TABLE x_gens AS SELECT (s.d->>'generation_id')::uuid AS id, s.ws, s.n, "
              "(SELECT min(c.n) FROM e c WHERE c.t IN ('BriefingGenerated', 'BriefingFailed') AND "
              "c.d->>'generation_id' = s.d->>'generation_id' AND c.n > s.n) AS final_n "
              "FROM e s WHERE s.t = 'BriefingRequested'");
    assert_int_equal(
        difference(conn,
                   "SELECT g.id, g.ws, CASE WHEN g.final_n IS NOT NULL THEN (SELECT CASE f.t WHEN "
                   "'BriefingGenerated' THEN 'completed' ELSE 'failed' END FROM e f WHERE f.n = "
                   "g.final_n) "
                   "WHEN EXISTS (SELECT 1 FROM e p WHERE p.t = 'BriefingProgressed' AND "
                   "(p.d->>'generation_id')::uuid = g.id) THEN 'processing' ELSE 'pending' END, "
                   "(SELECT count(*) FROM e p WHERE p.t = 'BriefingProgressed' AND "
                   "(p.d->>'generation_id')::uuid = g.id AND p.n > g.final_n)::int FROM x_gens g",
                   "SELECT id, workspace_id, status, ignored_events FROM briefing_generations"),
        0);
    assert_true(harness_query_int(conn, "SELECT sum(ignored_events) FROM briefing_generations") >
                0);
    assert_int_equal(
        difference(
            conn,
            "SELECT (d.d->>'download_id')::uuid, d.ws, (d.d->>'generation_id')::uuid, "
            "d.d->>'format' FROM e d "
            "JOIN x_gens g ON g.id = (d.d->>'generation_id')::uuid AND g.ws = d.ws AND g.n < d.n "
            "WHERE d.t = 'BriefingDownloaded'",
            "SELECT id, workspace_id, briefing_generation_id, format FROM briefing_downloads"),
        0);
    assert_int_equal(difference(conn,
                                "SELECT (a.d->>'activity_id')::uuid, a.ws, a.d->>'type', a.at FROM "
                                "e a WHERE a.t = 'ActivityLogged'",
                                "SELECT id, workspace_id, type, created_at FROM activities"),
                     0);
    /* Every run-family event not projected is a dead letter, with a reason. */
    assert_int_equal(
        harness_query_int(conn, "SELECT count(*) FROM e WHERE t IN ('RunStarted', 'RunCompleted', "
                                "'FindingRecorded', 'AnnotationPosted')") -
            harness_query_int(
                conn, "SELECT (SELECT count(*) FROM runs) + (SELECT count(*) FROM runs WHERE "
                      "status <> 'running') "
                      "+ (SELECT count(*) FROM findings) + (SELECT count(*) FROM annotations)"),
        harness_query_int(conn, "SELECT count(*) FROM dead_letters WHERE projector = 'runs'"));
    assert_true(
        harness_query_int(
            conn,
            "SELECT count(*) FROM dead_letters WHERE reason LIKE 'repository % does not exist'") >
        0);
    /* Each row keeps the event that wrote it, and its time. */
    assert_int_equal(
        harness_query_int(conn, "SELECT count(*) FROM runs r LEFT JOIN e ON e.id = r.event_id "
                                "WHERE e.id IS NULL OR e.at <> r.created_at"),
        0);

    /* Rollups: daily metrics count accepted facts only; usage sums the
     * increments, each event once. */
    assert_int_equal(
        difference(conn,
                   "SELECT ws, (at AT TIME ZONE 'UTC')::date, count(*) FROM x_runs GROUP BY 1, 2",
                   "SELECT workspace_id, date, runs_count FROM workspace_daily_metrics WHERE "
                   "runs_count > 0"),
        0);
    assert_int_equal(
        difference(conn,
                   "SELECT ws, (f.at AT TIME ZONE 'UTC')::date, count(*), count(*) FILTER (WHERE "
                   "severity = 'critical'), "
                   "count(*) FILTER (WHERE severity = 'warning') FROM x_findings f GROUP BY 1, 2",
                   "SELECT workspace_id, date, findings_count, critical_count, warning_count FROM "
                   "workspace_daily_metrics "
                   "WHERE findings_count > 0"),
        0);
    assert_int_equal(
        difference(conn,
                   "SELECT ws, (at AT TIME ZONE 'UTC')::date, sum((d->>'amount')::bigint) FROM e "
                   "WHERE t = 'UsageIncremented' AND d->>'metric' = 'tokens' GROUP BY 1, 2",
                   "SELECT workspace_id, date, tokens_estimated FROM workspace_daily_metrics WHERE "
                   "tokens_estimated > 0"),
        0);
    assert_int_equal(difference(conn,
                                "SELECT ws, d->>'metric', sum((d->>'amount')::bigint) FROM e WHERE "
                                "t = 'UsageIncremented' GROUP BY 1, 2",
                                "SELECT workspace_id, m, sum(v) FROM usage_records, LATERAL "
                                "(VALUES ('runs', runs_count), "
                                "('commands', commands_count), ('briefings', briefings_count), "
                                "('findings', findings_count), "
                                "('annotations', annotations_count), ('tokens', tokens_estimated)) "
                                "AS x(m, v) WHERE v > 0 GROUP BY 1, 2"),
                     0);
    /* Every ledger entry lies in its period, and periods of a workspace do not overlap. */
    assert_int_equal(
        harness_query_int(
            conn, "SELECT count(*) FROM usage_ledger l JOIN usage_records u USING (workspace_id, "
                  "period_start) "
                  "WHERE NOT (l.occurred_at >= u.period_start AND l.occurred_at < u.period_end)"),
        0);
    assert_int_equal(
        harness_query_int(conn,
                          "SELECT count(*) FROM usage_records a JOIN usage_records b ON "
                          "a.workspace_id = b.workspace_id "
                          "AND a.period_start < b.period_start AND a.period_end > b.period_start"),
        0);
    assert_verified(conninfo);

    /* A difference injected by hand is reported, and nothing else. */
    harness_exec(conn,
                 "UPDATE usage_records SET tokens_estimated = tokens_estimated + 7 "
                 "WHERE (workspace_id, period_start) = (SELECT workspace_id, min(period_start) "
                 "FROM usage_records WHERE workspace_id = 'a0000000-0000-4000-8000-000000000001' "
                 "GROUP BY 1)");
    cmd = NULL;
    assert_true(asprintf(&cmd, "verify --db \"%s\"", conninfo) > 0);
    out = NULL;
    assert_int_equal(harness_run_sentinel(cmd, &out), 1);
    assert_non_null(strstr(
        out,
        "DRIFT usage_records.tokens_estimated workspace a0000000-0000-4000-8000-000000000001"));
    assert_non_null(strstr(out, "1 difference(s)"));
    free(out);
    harness_exec(conn,
                 "UPDATE usage_records SET tokens_estimated = tokens_estimated - 7 "
                 "WHERE (workspace_id, period_start) = (SELECT workspace_id, min(period_start) "
                 "FROM usage_records WHERE workspace_id = 'a0000000-0000-4000-8000-000000000001' "
                 "GROUP BY 1)");
    out = NULL;
    assert_int_equal(harness_run_sentinel(cmd, &out), 0);
    free(out);
    free(cmd);

    /* Re-running over the same log changes nothing; nor does the whole
     * stream published again (every event a duplicate). */
    char *before = harness_projection_digest(conn);
    out = NULL;
    if (project(conninfo, topic, prefix, NULL, &out)) fail_msg("second pass: %s", out);
    free(out);
    char *after = harness_projection_digest(conn);
    assert_string_equal(before, after);
    free(after);
    assert_int_equal(harness_publish(topic, events), 1);
    out = NULL;
    if (project(conninfo, topic, prefix, NULL, &out)) fail_msg("replayed stream: %s", out);
    free(out);
    after = harness_projection_digest(conn);
    assert_string_equal(before, after);
    free(before);
    free(after);
    PQfinish(conn);
    harness_drop_database(name);
    unlink(events);
    unlink(normal);
    free(events);
    free(prefix);
    free(topic);
    free(name);
    free(conninfo);
}

/* JSON-valued fields land in jsonb with the numbers the producer wrote:
 * 0.1 stays 0.1 (not 0.10000000000000001), from publish to projection;
 * and a start without started_at started at its occurred_at. */
static void test_json_fields_land_as_written(void **state) {
    (void)state;
    char *name;
    char *conninfo = harness_migrated_database("sentinel_numbers", 2, &name);
    char *topic = harness_unique_name("test.numbers");
    char path[] = "/tmp/sentinel_numbers_XXXXXX";
    int fd = mkstemp(path);
    const char *line =
        "{\"event_id\": \"7b0c1e5e-3f0a-4c7e-9a55-2f3c1d2e4b6a\", \"type\": \"RunStarted\", "
        "\"workspace_id\": \"a0000000-0000-4000-8000-000000000001\", \"occurred_at\": "
        "\"2026-11-26T10:15:00.123Z\", \"data\": {\"run_id\": "
        "\"22222222-2222-4222-8222-222222222222\", "
        "\"repository_id\": \"b0000000-0000-4000-8000-000001000001\", \"external_reference\": "
        "\"org-1/api#42\", \"policy_snapshot\": {\"threshold\": 0.1, \"weights\": [0.3, 1e-7]}, "
        "\"metadata\": {\"score\": 2.675}}}\n"
        /* A command run without started_at either. */
        "{\"event_id\": \"7b0c1e5e-3f0a-4c7e-9a55-2f3c1d2e4b6b\", \"type\": "
        "\"CommandRunStarted\", \"workspace_id\": \"a0000000-0000-4000-8000-000000000001\", "
        "\"occurred_at\": \"2026-11-26T10:16:00.5Z\", \"data\": {\"command_run_id\": "
        "\"33333333-3333-4333-8333-333333333333\", \"repository_id\": "
        "\"b0000000-0000-4000-8000-000001000001\", \"external_reference\": \"org-1/api#42\", "
        "\"github_comment_id\": 1, \"issue_number\": 42, \"is_pull_request\": true, "
        "\"command_type\": \"ask\", \"query\": \"why?\"}}\n"
        /* A finding of v2 names its rule, which lands in findings.rule_id. */
        "{\"event_id\": \"7b0c1e5e-3f0a-4c7e-9a55-2f3c1d2e4b6c\", \"type\": "
        "\"FindingRecorded\", \"version\": 2, \"workspace_id\": "
        "\"a0000000-0000-4000-8000-000000000001\", \"occurred_at\": \"2026-11-26T10:17:00Z\", "
        "\"data\": {\"finding_id\": \"44444444-4444-4444-8444-444444444444\", \"run_id\": "
        "\"22222222-2222-4222-8222-222222222222\", \"finding_hash\": \"fh-1\", \"severity\": "
        "\"warning\", \"category\": \"security\", \"title\": \"SQL built by hand\", "
        "\"rule_id\": \"sql-injection/concat\"}}\n";
    assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
    close(fd);
    assert_int_equal(harness_publish(topic, path), 0);
    char *out = NULL, *prefix = harness_unique_name("numbers");
    if (project(conninfo, topic, prefix, NULL, &out)) fail_msg("project: %s", out);
    free(out);
    PGconn *conn = harness_connect(conninfo);
    char *policy = harness_query_value(conn, "SELECT policy_snapshot::text FROM runs");
    char *metadata = harness_query_value(conn, "SELECT metadata::text FROM runs");
    assert_string_equal(policy, "{\"weights\": [0.3, 0.0000001], \"threshold\": 0.1}");
    assert_string_equal(metadata, "{\"score\": 2.675}");
    free(policy);
    free(metadata);
    /* A start without started_at started when it occurred (as a completion
     * without completed_at completes then). */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM runs WHERE started_at = "
                                             "'2026-11-26T10:15:00.123Z'"),
                     1);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM command_runs WHERE "
                                             "started_at = '2026-11-26T10:16:00.5Z'"),
                     1);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM findings WHERE rule_id = "
                                             "'sql-injection/concat'"),
                     1);
    PQfinish(conn);
    harness_drop_database(name);
    unlink(path);
    free(prefix);
    free(topic);
    free(name);
    free(conninfo);
}

/* A migrated database of eight workspaces, with the owner's connection,
 * and a topic and group prefix of its own, all named for `label`: what a
 * test of one projection on young tables starts from. */
typedef struct scratch {
    char *name, *conninfo, *owner, *topic, *prefix;
    PGconn *conn; /* the owner's */
} scratch_t;

static void scratch_open(scratch_t *s, const char *label) {
    char db[64], topic[64];
    snprintf(db, sizeof(db), "sentinel_%s", label);
    snprintf(topic, sizeof(topic), "test.%s", label);
    s->conninfo = harness_migrated_database(db, 8, &s->name);
    s->owner = harness_conninfo_as(s->conninfo, NULL);
    s->topic = harness_unique_name(topic);
    s->prefix = harness_unique_name(label);
    s->conn = harness_connect(s->owner);
}

static void scratch_close(scratch_t *s) {
    PQfinish(s->conn);
    harness_drop_database(s->name);
    free(s->prefix);
    free(s->topic);
    free(s->owner);
    free(s->name);
    free(s->conninfo);
}

/* Lookups go by index on young tables too (a new deployment, every new
 * month's partition): a projector prepares its statements once, and a
 * plan made while a table was nearly empty is kept, so a sequential scan
 * chosen then would read the whole table in every transaction after, until
 * autovacuum next analyzed it. Small transactions, many of them, on fresh
 * tables: no sequential scan of a table the lookups and key checks read. */
static void test_young_tables_use_indexes(void **state) {
    (void)state;
    scratch_t w;
    scratch_open(&w, "young");
    char *events = harness_gen("--events 3000 --seed 41");
    assert_int_equal(harness_publish(w.topic, events), 0);
    const char *scans =
        "SELECT string_agg(relname || ' ' || seq_scan, ', ' ORDER BY relname) || ' / ' || "
        "sum(idx_scan) FROM pg_stat_user_tables WHERE relname IN ('activities', 'annotations', "
        "'command_runs', 'briefing_generations', 'briefing_downloads', 'run_keys', "
        "'finding_keys', 'usage_ledger')";
    /* The migrations' own scans (adding a foreign key checks the rows). */
    char *before = harness_query_value(w.conn, scans);
    char *seq_before = strndup(before, strcspn(before, "/"));
    char *out = NULL;
    if (project(w.conninfo, w.topic, w.prefix, "--batch-events 20", &out))
        fail_msg("project: %s", out);
    free(out);
    /* The projector's backends report their counts as they exit. */
    char *after = NULL;
    long long idx = 0;
    for (int i = 0; i < 50 && idx < 1000; i++) {
        if (i) usleep(100 * 1000);
        PQclear(PQexec(w.conn, "SELECT pg_stat_clear_snapshot()"));
        free(after);
        after = harness_query_value(w.conn, scans);
        idx = atoll(strchr(after, '/') + 1);
    }
    if (idx < 1000) fail_msg("only %lld index scans were counted: %s", idx, after);
    if (strncmp(after, seq_before, strlen(seq_before)))
        fail_msg("sequential scans, before: %s; after: %s", before, after);
    free(seq_before);
    free(before);
    free(after);
    unlink(events);
    free(events);
    scratch_close(&w);
}

/* The usage projector finds redeliveries by the ledger's key (workspace_id,
 * event_id). While the ledger held a few hundred rows, PostgreSQL's
 * generic plan for that lookup preferred the index on (workspace_id,
 * period_start), which reads every row of the workspace for each event
 * looked up: kept until the next analyze, each lookup grew with the ledger
 * (1.7 s a batch at 10,000 events/s). A ledger of some hundred rows,
 * analyzed; then a new process, whose lookups are planned on it: none
 * reads an index of the ledger other than its key. */
static void test_ledger_lookups_use_the_key(void **state) {
    (void)state;
    scratch_t w;
    scratch_open(&w, "ledger");
    char *first = harness_gen("--events 2000 --seed 41");
    char *second = harness_gen("--events 6000 --seed 43 --start 2026-10-20T00:00:00Z --days 5");
    assert_int_equal(harness_publish(w.topic, first), 0);
    char *out = NULL;
    if (project(w.conninfo, w.topic, w.prefix, NULL, &out)) fail_msg("project: %s", out);
    free(out);
    long long rows = harness_query_int(w.conn, "SELECT count(*) FROM usage_ledger");
    if (rows < 200 || rows > 2000) fail_msg("%lld ledger rows after the first part", rows);
    PGresult *analyzed = PQexec(w.conn, "ANALYZE usage_ledger");
    assert_int_equal(PQresultStatus(analyzed), PGRES_COMMAND_OK);
    PQclear(analyzed);
    const char *others = "SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes "
                         "WHERE relname = 'usage_ledger' AND indexrelname <> 'usage_ledger_pkey'";
    const char *key = "SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes "
                      "WHERE indexrelname = 'usage_ledger_pkey'";
    long long others_before = harness_query_int(w.conn, others);
    long long key_before = harness_query_int(w.conn, key);
    assert_int_equal(harness_publish(w.topic, second), 0);
    if (project(w.conninfo, w.topic, w.prefix, "--batch-events 400", &out))
        fail_msg("project: %s", out);
    free(out);
    long long others_after = others_before, key_after = key_before;
    for (int i = 0; i < 50 && key_after < key_before + 20; i++) { /* counted as backends exit */
        if (i) usleep(100 * 1000);
        PQclear(PQexec(w.conn, "SELECT pg_stat_clear_snapshot()"));
        others_after = harness_query_int(w.conn, others);
        key_after = harness_query_int(w.conn, key);
    }
    if (key_after < key_before + 20)
        fail_msg("only %lld lookups by the ledger's key", key_after - key_before);
    if (others_after != others_before)
        fail_msg("%lld scans of another index of the ledger", others_after - others_before);
    unlink(first);
    unlink(second);
    free(first);
    free(second);
    scratch_close(&w);
}

/* The engine analyzes its young tables as they grow (statistics.c): a
 * plan made on a nearly empty table is otherwise kept until autovacuum
 * comes round, and one that checked each download's generation through a
 * workspace index read 5.4M rows in a 1M backlog. A daemon on a fresh
 * database: each table that grew past a hundred rows is analyzed by the
 * engine (autovacuum's count apart), and no table more often than its
 * growth allows. */
static void test_grown_tables_are_analyzed(void **state) {
    (void)state;
    scratch_t w;
    scratch_open(&w, "analyze");
    char *events = harness_gen("--events 4000 --seed 41");
    assert_int_equal(harness_publish(w.topic, events), 0);
    /* Autovacuum kept out of the way: its analysis of a table would leave
     * the engine's nothing to do. The events' month made first, so that its
     * partitions are kept out too. */
    harness_exec(w.conn, "SELECT sentinel_ensure_partitions('2026-10-01T00:00:00Z')");
    harness_exec(w.conn, "DO $$DECLARE t regclass; BEGIN FOR t IN SELECT oid FROM pg_class "
                         "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace LOOP "
                         "EXECUTE format('ALTER TABLE %s SET (autovacuum_enabled = off)', t); "
                         "END LOOP; END$$");
    char *args = NULL;
    assert_true(asprintf(&args, "project --db \"%s\" --topic %s --group-prefix %s", w.conninfo,
                         w.topic, w.prefix) > 0);
    char log[] = "/tmp/sentinel_analyze_log_XXXXXX";
    close(mkstemp(log));
    pid_t pid = harness_spawn_sentinel(args, log);
    /* The tables of more than a hundred rows (the month partitions of runs
     * and findings among them), and those of them the engine analyzed. */
    const char *grown = "SELECT count(*) FILTER (WHERE n_live_tup >= 100), "
                        "count(*) FILTER (WHERE n_live_tup >= 100 AND analyze_count > 0), "
                        "string_agg(relname || ' ' || analyze_count, ', ' ORDER BY relname) "
                        "FILTER (WHERE n_live_tup >= 100) FROM pg_stat_user_tables "
                        "WHERE relname NOT IN ('applied_events', 'projector_offsets')";
    long long applied = 0, big = 0, analyzed = -1;
    char *first = NULL;
    for (int i = 0; i < 300 && (applied < 5 * 4000 || big < 8 || analyzed != big); i++) {
        if (i) usleep(100 * 1000);
        PQclear(PQexec(w.conn, "SELECT pg_stat_clear_snapshot()"));
        applied = harness_query_int(w.conn, "SELECT coalesce(sum(next_offset), 0) "
                                            "FROM projector_offsets");
        PGresult *res = PQexec(w.conn, grown);
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        big = atoll(PQgetvalue(res, 0, 0));
        analyzed = atoll(PQgetvalue(res, 0, 1));
        free(first);
        first = strdup(PQgetvalue(res, 0, 2));
        PQclear(res);
    }
    /* Two more looks (every two seconds), and none analyzes a table more
     * often than one that grew fourfold between analyses could be: once at
     * 100 rows, again at 400, 1,600 and so on. */
    sleep(5);
    PQclear(PQexec(w.conn, "SELECT pg_stat_clear_snapshot()"));
    char *often = harness_query_value(
        w.conn, "SELECT coalesce(string_agg(relname || ': ' || analyze_count || ' analyses of ' || "
                "n_live_tup || ' rows', ', '), '') FROM pg_stat_user_tables "
                "WHERE analyze_count > 1 + floor(ln(greatest(n_live_tup, 100) / 100.0) / ln(4))");
    kill(pid, SIGTERM);
    assert_int_equal(harness_wait(pid), 0);
    if (applied != 5 * 4000) fail_msg("not caught up: %lld of %d offsets", applied, 5 * 4000);
    if (big < 8 || analyzed != big)
        fail_msg("%lld of the %lld tables of a hundred rows or more analyzed: %s", analyzed, big,
                 first);
    if (*often) fail_msg("analyzed without growing fourfold: %s", often);
    free(first);
    free(often);
    free(args);
    unlink(log);
    unlink(events);
    free(events);
    scratch_close(&w);
}

/* The analyzer's failure is not the run's: after `sabotage` (a refused
 * grant, a database without the function), the run says `said` once, with
 * `why`, and projects every event all the same. */
static void analyzer_fails(const char *sabotage, const char *said, const char *why) {
    scratch_t w;
    scratch_open(&w, "analyze");
    harness_exec(w.conn, sabotage);
    char *events = harness_gen("--events 500 --seed 41");
    assert_int_equal(harness_publish(w.topic, events), 0);
    char *out = NULL;
    if (project(w.conninfo, w.topic, w.prefix, NULL, &out)) fail_msg("project: %s", out);
    const char *at = strstr(out, said);
    if (!at || !strstr(at, why) || strstr(at + 1, said))
        fail_msg("\"%s\" with \"%s\" is not said once:\n%s", said, why, out);
    assert_int_equal(harness_query_int(w.conn, "SELECT coalesce(sum(next_offset), 0) "
                                               "FROM projector_offsets"),
                     5 * 500);
    free(out);
    unlink(events);
    free(events);
    scratch_close(&w);
}

/* Without the grant: a warning, and the analyzer tries again. */
static void test_analyzer_refused(void **state) {
    (void)state;
    analyzer_fails("REVOKE EXECUTE ON FUNCTION sentinel_analyze_grown(regclass[], bigint) "
                   "FROM sentinel_projector",
                   "analyzing the tables that grew: ", "permission denied");
}

/* A database without the function (migrated by an older engine): a
 * warning, and the analyzer stops. */
static void test_analyzer_missing(void **state) {
    (void)state;
    analyzer_fails("DROP FUNCTION sentinel_analyze_grown(regclass[], bigint)",
                   "not analyzing the tables as they grow: ", "does not exist");
}

/* Whether the process logging to `log` holds partitions (its last
 * assignment gave it some). */
static int holds_partitions(const char *log) {
    char *text = harness_read_file(log);
    const char *last = NULL;
    for (const char *at = text; (at = strstr(at, "assigned ")); at++)
        last = at;
    int holds = last && atoi(last + 9) > 0;
    free(text);
    return holds;
}

static int by_string(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The group.instance.id of each member of `group`, sorted and joined by
 * commas ("" for a dynamic member), as the broker describes the group. */
static char *group_instance_ids(const char *group) {
    rd_kafka_t *rk = harness_kafka_producer();
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
    const char *groups[1] = {group};
    rd_kafka_DescribeConsumerGroups(rk, groups, 1, NULL, queue);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(queue, 30000);
    if (!ev || rd_kafka_event_error(ev))
        fail_msg("describing group %s: %s", group,
                 ev ? rd_kafka_event_error_string(ev) : "timeout");
    size_t n = 0;
    const rd_kafka_ConsumerGroupDescription_t **described =
        rd_kafka_DescribeConsumerGroups_result_groups(
            rd_kafka_event_DescribeConsumerGroups_result(ev), &n);
    assert_int_equal(n, 1);
    if (rd_kafka_ConsumerGroupDescription_error(described[0]))
        fail_msg("describing group %s: %s", group,
                 rd_kafka_error_string(rd_kafka_ConsumerGroupDescription_error(described[0])));
    size_t members = rd_kafka_ConsumerGroupDescription_member_count(described[0]);
    char *ids[16];
    assert_true(members <= 16);
    for (size_t i = 0; i < members; i++) {
        const char *id = rd_kafka_MemberDescription_group_instance_id(
            rd_kafka_ConsumerGroupDescription_member(described[0], i));
        ids[i] = strdup(id ? id : "");
    }
    qsort(ids, members, sizeof(ids[0]), by_string);
    char *joined = calloc(1, 16 * 256 + 1);
    for (size_t i = 0; i < members; i++) {
        if (i) strcat(joined, ",");
        strncat(joined, ids[i], 255);
        free(ids[i]);
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(queue);
    rd_kafka_destroy(rk);
    return joined;
}

/* A rolling fleet: three processes in one group on the 12-partition topic
 * while events keep arriving; each is stopped (SIGTERM) and started again
 * in turn, then one is killed with -9 and restarted. The projection equals
 * one clean pass: nothing lost, nothing applied twice (the rollups would
 * count it twice). With `static_members`, each process runs with an
 * --instance-id of its own, as the README deploys a fleet, and the broker
 * must know the group's members by those ids at the end (the killed one
 * replaced by its restart, not beside it). */
static void rolling_fleet(world_t *w, int static_members) {
    char *topic = harness_unique_name("test.rolling");
    char *name;
    char *conninfo = harness_migrated_database("sentinel_rolling", 8, &name);
    PGconn *conn = harness_connect(conninfo);
    char *prefix = harness_unique_name("fleet");
    /* The events, in ten slices published a second apart. */
    int rc;
    free(harness_shell(&rc, "split -n l/10 -d '%s' '%s.slice'", w->events, w->events));
    assert_int_equal(rc, 0);
    char *slices[10];
    for (int i = 0; i < 10; i++)
        assert_true(asprintf(&slices[i], "%s.slice%02d", w->events, i) > 0);
    harness_create_topic(topic, 12);
    enum { FLEET = 3 };
    char *args[FLEET];
    for (int i = 0; i < FLEET; i++) {
        char member[32] = "";
        if (static_members) snprintf(member, sizeof(member), " --instance-id fleet-%d", i);
        assert_true(asprintf(&args[i],
                             "project --db \"%s\" --topic %s --group-prefix %s --batch-events 500 "
                             "-X session.timeout.ms=6000%s",
                             conninfo, topic, prefix, member) > 0);
    }
    pid_t *pids = w->fleet;
    assert_true(FLEET <= sizeof(w->fleet) / sizeof(w->fleet[0]));
    char logs[FLEET][64];
    for (int i = 0; i < FLEET; i++) {
        snprintf(logs[i], sizeof(logs[i]), "/tmp/sentinel_fleet_%d_XXXXXX", i);
        close(mkstemp(logs[i]));
        pids[i] = harness_spawn_sentinel(args[i], logs[i]);
    }
    pid_t publisher = harness_publish_slowly(topic, slices, 10, 1000);
    /* Each in turn: once it holds partitions, stopped cleanly and started
     * again; then one killed. */
    long long applied = 0; /* offsets of all projectors at the last stop */
    for (int round = 0; round <= FLEET; round++) {
        int i = round % FLEET;
        /* The fleet has applied more since the last stop, and this one
         * holds partitions. */
        for (int t = 0;
             t < 600 && (!holds_partitions(logs[i]) || -lag_all(conn, topic, 0) <= applied); t++)
            usleep(50 * 1000);
        applied = -lag_all(conn, topic, 0);
        if (!holds_partitions(logs[i]))
            fail_msg("process %d never held partitions:\n%s", i, harness_read_file(logs[i]));
        /* Under load: events still arriving. */
        if (waitpid(publisher, NULL, WNOHANG) != 0)
            fail_msg("the load ended before round %d of the roll: nothing was tested", round);
        print_message("round %d: process %d %s with %lld offsets applied\n", round, i,
                      round < FLEET ? "stopped" : "killed", applied);
        if (round < FLEET) {
            kill(pids[i], SIGTERM);
            int exited = harness_wait(pids[i]);
            pids[i] = 0;
            if (exited)
                fail_msg("process %d exited %d on SIGTERM:\n%s", i, exited,
                         harness_read_file(logs[i]));
        } else {
            kill(pids[i], SIGKILL);
            int killed = harness_wait(pids[i]);
            pids[i] = 0;
            assert_int_equal(killed, 128 + SIGKILL);
        }
        /* A fresh log: the next round reads the new process's assignments. */
        assert_int_equal(truncate(logs[i], 0), 0);
        pids[i] = harness_spawn_sentinel(args[i], logs[i]);
    }
    assert_int_equal(harness_wait(publisher), 0);
    long long total = total_messages(topic);
    int caught_up = 0;
    for (int t = 0; t < 1800 && !caught_up; t++) {
        caught_up = lag_all(conn, topic, total) == 0;
        if (!caught_up) usleep(100 * 1000);
    }
    if (!caught_up) fail_msg("the fleet did not catch up (lag %lld)", lag_all(conn, topic, total));
    if (static_members) {
        char group[256];
        snprintf(group, sizeof(group), "%s.all", prefix);
        char *ids = group_instance_ids(group);
        assert_string_equal(ids, "fleet-0,fleet-1,fleet-2");
        free(ids);
    }
    for (int i = 0; i < FLEET; i++) {
        kill(pids[i], SIGTERM);
        int stopped = harness_wait(pids[i]);
        pids[i] = 0;
        assert_int_equal(stopped, 0);
        unlink(logs[i]);
    }
    assert_matches_reference(w, conn, conninfo);
    PQfinish(conn);
    harness_drop_database(name);
    for (int i = 0; i < 10; i++) {
        unlink(slices[i]);
        free(slices[i]);
    }
    for (int i = 0; i < FLEET; i++)
        free(args[i]);
    free(prefix);
    free(name);
    free(conninfo);
    free(topic);
}

static void test_rolling_fleet(void **state) { rolling_fleet(*state, 0); }

/* The same roll, each process a static member (--instance-id). */
static void test_rolling_fleet_static(void **state) { rolling_fleet(*state, 1); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_end_to_end),
        cmocka_unit_test(test_json_fields_land_as_written),
        cmocka_unit_test(test_young_tables_use_indexes),
        cmocka_unit_test(test_ledger_lookups_use_the_key),
        cmocka_unit_test(test_grown_tables_are_analyzed),
        cmocka_unit_test(test_analyzer_refused),
        cmocka_unit_test(test_analyzer_missing),
        cmocka_unit_test(test_lost_state_is_made_again),
        cmocka_unit_test_setup_teardown(test_kill_9_at_random_moments, world_setup, world_teardown),
    };
    const struct CMUnitTest group_tests[] = {
        cmocka_unit_test_setup_teardown(test_two_processes_one_killed, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_zombie_is_fenced, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_rolling_fleet, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_rolling_fleet_static, world_setup, world_teardown),
    };
    harness_test_filter();
    int failed = cmocka_run_group_tests_name("projection", tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("groups", group_tests, NULL, NULL);
    return failed;
}
