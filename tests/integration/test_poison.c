/* test_poison.c -- one tenant's bad event never stops projection: an event
 * the database refuses (a counter pushed past bigint, an index row too
 * large) is found by splitting its batch, dead-lettered with the
 * database's words, and every other event of the batch, and of every other
 * projector in the process, is applied; 9,000 rejections in one batch are
 * written like any batch; a reason that quotes a long multi-byte value is
 * cut at a character boundary. */
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
#define UNKNOWN_WS "a0000000-0000-4000-8000-0000000009ff"

static void activity(FILE *f, const char *ws, unsigned k) {
    fprintf(f,
            "{\"event_id\": \"e1000000-0000-4000-8000-%012u\", \"type\": \"ActivityLogged\", "
            "\"workspace_id\": \"%s\", \"occurred_at\": \"2026-11-26T10:00:00Z\", \"data\": "
            "{\"activity_id\": \"e2000000-0000-4000-8000-%012u\", \"type\": \"run.completed\"}}\n",
            k, ws, k);
}

static void command(FILE *f, const char *ws, const char *repo, unsigned k, const char *reference) {
    fprintf(f,
            "{\"event_id\": \"e3000000-0000-4000-8000-%012u\", \"type\": \"CommandRunStarted\", "
            "\"workspace_id\": \"%s\", \"occurred_at\": \"2026-11-26T10:00:00Z\", \"data\": "
            "{\"command_run_id\": \"e4000000-0000-4000-8000-%012u\", \"repository_id\": \"%s\", "
            "\"external_reference\": \"%s\", \"command_type\": \"explain\"}}\n",
            k, ws, k, repo, reference);
}

static void tokens(FILE *f, const char *ws, unsigned k, long long amount) {
    fprintf(f,
            "{\"event_id\": \"e5000000-0000-4000-8000-%012u\", \"type\": \"UsageIncremented\", "
            "\"workspace_id\": \"%s\", \"occurred_at\": \"2026-11-26T10:00:00Z\", \"data\": "
            "{\"metric\": \"tokens\", \"amount\": %lld}}\n",
            k, ws, amount);
}

static void test_poison_is_isolated(void **state) {
    (void)state;
    char *name;
    char *conninfo = harness_migrated_database("sentinel_poison", 2, &name);
    char *topic = harness_unique_name("test.poison");
    char *prefix = harness_unique_name("poison");
    PGconn *conn = harness_connect(conninfo);
    /* A day of workspace 2 whose token count is near what bigint holds. */
    harness_exec(conn, "INSERT INTO workspace_daily_metrics (workspace_id, date, tokens_estimated) "
                       "VALUES ('" WS2 "', '2026-11-26', 9223372036854775000)");

    char path[] = "/tmp/sentinel_poison_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    /* Random-looking text does not compress: an index row too large. */
    char huge[8001];
    unsigned seed = 7;
    for (int i = 0; i < 8000; i++) {
        seed = seed * 1103515245u + 12345u;
        huge[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[(seed >> 16) % 36];
    }
    huge[8000] = '\0';
    /* 1,200 bytes of three-byte characters: a reason quoting it, cut at a
     * byte count, would end mid-character. */
    char euros[1201] = "";
    for (int i = 0; i < 400; i++)
        strcat(euros, "\xE2\x82\xAC");

    for (unsigned k = 0; k < 50; k++)
        activity(f, WS1, k);
    command(f, WS1, harness_repository_id(1, 1), 1, huge);
    for (unsigned k = 2; k < 22; k++) {
        char ref[32];
        snprintf(ref, sizeof(ref), "ref-%u", k);
        command(f, WS2, harness_repository_id(2, 1), k, ref);
    }
    command(f, WS1, harness_repository_id(1, 1), 30, euros);
    command(f, WS1, harness_repository_id(1, 1), 31, euros); /* the same reference again */
    tokens(f, WS1, 1, 1000);
    tokens(f, WS2, 2, 1000000000000LL); /* pushes workspace 2's day past bigint */
    tokens(f, WS2, 3, 5);               /* still fits */
    for (unsigned k = 100; k < 9100; k++)
        activity(f, UNKNOWN_WS, k);
    for (unsigned k = 50; k < 60; k++)
        activity(f, WS1, k);
    fclose(f);
    assert_int_equal(harness_publish(topic, path), 0);
    unlink(path);

    /* One batch holds everything. */
    free(harness_must_run("project --until-caught-up --batch-events 20000 --db \"%s\" --topic %s "
                          "--group-prefix %s",
                          conninfo, topic, prefix));

    /* Everyone else's events are in. */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM activities"), 60);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM command_runs"), 21);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM usage_ledger"), 2);
    assert_int_equal(harness_query_int(conn, "SELECT tokens_estimated FROM workspace_daily_metrics "
                                             "WHERE workspace_id = '" WS2 "'"),
                     9223372036854775005LL);
    /* The refused ones are dead letters with the database's words. */
    assert_int_equal(harness_query_int(
                         conn, "SELECT count(*) FROM dead_letters WHERE projector = 'commands' AND "
                               "event_id = 'e3000000-0000-4000-8000-000000000001' AND "
                               "reason LIKE 'the database refused it: index row size % exceeds %'"),
                     1);
    assert_int_equal(
        harness_query_int(conn, "SELECT count(*) FROM dead_letters WHERE projector = 'usage' AND "
                                "event_id = 'e5000000-0000-4000-8000-000000000002' AND "
                                "reason = 'the database refused it: bigint out of range'"),
        1);
    /* The second use of the long reference: the handler's reason, whole
     * characters only. */
    char *reason = harness_query_value(
        conn,
        "SELECT reason FROM dead_letters WHERE event_id = 'e3000000-0000-4000-8000-000000000031'");
    assert_non_null(
        strstr(reason, "is already used by command run e4000000-0000-4000-8000-000000000030"));
    assert_non_null(strstr(reason, "\xE2\x82\xAC..."));
    free(reason);
    /* 9,000 rejections in one batch, all written. */
    assert_int_equal(
        harness_query_int(conn,
                          "SELECT count(*) FROM dead_letters WHERE projector = 'activities' AND "
                          "reason = 'unknown workspace " UNKNOWN_WS "' AND length(payload) > 100"),
        9000);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM dead_letters"), 9003);

    /* Nothing is left behind: a second pass changes nothing. */
    harness_project(conninfo, topic, prefix);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM dead_letters"), 9003);

    PQfinish(conn);
    harness_drop_database(name);
    free(prefix);
    free(topic);
    free(name);
    free(conninfo);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poison_is_isolated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
