/* test_rejections.c -- every rejection reason of the projectors: the event
 * is dead-lettered with the reason in words and writes no row; a replayed
 * event is a duplicate, not a dead letter; a late progress is ignored and
 * counted. Cases: tests/data/projection (phase 1 sets the scene, phase 2
 * holds one event per rule, phase2.expected the reasons). */
#include <librdkafka/rdkafka.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sentinel/event.h>
#include <sentinel/projector.h>

#include "harness.h"

#define CASES SENTINEL_SOURCE_DIR "/tests/data/projection"

/* Produce `len` bytes to partition 0 of topic, any Kafka client's way,
 * with an event_type header when `type` is not NULL. */
static void produce_raw(const char *topic, const char *type, const void *bytes, size_t len) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", harness_brokers(), errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    if (type) rd_kafka_header_add(h, "event_type", -1, type, -1);
    if (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                          RD_KAFKA_V_VALUE((void *)bytes, len), RD_KAFKA_V_HEADERS(h),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END))
        fail_msg("produce failed");
    assert_int_equal(rd_kafka_flush(rk, 30000), 0);
    rd_kafka_destroy(rk);
}

/* Bytes that are no Avro event, with a header that routes them to runs. */
static void produce_garbage(const char *topic) {
    const char *junk = "{\"not\": \"avro\"}";
    produce_raw(topic, "RunStarted", junk, strlen(junk));
}

static void test_every_rejection_reason(void **state) {
    (void)state;
    char *name;
    char *conninfo = harness_migrated_database("sentinel_reject", 2, &name);
    char *topic = harness_unique_name("test.reject");
    char *prefix = harness_unique_name("reject");
    assert_int_equal(harness_publish(topic, CASES "/phase1.ndjson"), 0);
    harness_project(conninfo, topic, prefix);
    PGconn *conn = harness_connect(conninfo);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM dead_letters"), 0);

    assert_int_equal(harness_publish(topic, CASES "/phase2.ndjson"), 0);
    produce_garbage(topic);
    harness_project(conninfo, topic, prefix);

    FILE *f = fopen(CASES "/phase2.expected", "r");
    assert_non_null(f);
    char line[1024];
    int cases = 0;
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#') continue;
        line[strcspn(line, "\n")] = '\0';
        char *tab = strchr(line, '\t');
        *tab = '\0';
        char sql[2048];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM dead_letters WHERE event_id = '%s'", line);
        if (harness_query_int(conn, sql) != 1)
            fail_msg("event %s (%s): not dead-lettered once", line, tab + 1);
        snprintf(sql, sizeof(sql), "SELECT reason FROM dead_letters WHERE event_id = '%s'", line);
        char *reason = harness_query_value(conn, sql);
        if (!strstr(reason, tab + 1))
            fail_msg("event %s: reason \"%s\", expected \"%s\"", line, reason, tab + 1);
        free(reason);
        /* Each dead letter says where it was and what it was. */
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM dead_letters WHERE event_id = '%s' AND topic = '%s' AND "
                 "kafka_offset >= 0 AND event_type IS NOT NULL AND workspace_id IS NOT NULL "
                 "AND length(payload) > 10",
                 line, topic);
        assert_int_equal(harness_query_int(conn, sql), 1);
        cases++;
    }
    fclose(f);
    assert_int_equal(cases, 15);

    /* No row for any rejected event. */
    assert_int_equal(
        harness_query_int(conn, "SELECT count(*) FROM runs WHERE id::text LIKE 'e000010_%' AND id "
                                "<> 'e0000100-0000-4000-8000-000000000100'"),
        0);
    assert_int_equal(
        harness_query_int(
            conn,
            "SELECT count(*) FROM findings WHERE id <> 'e0000200-0000-4000-8000-000000000200'"),
        0);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM annotations"), 0);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM command_runs"), 1);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM briefing_generations"), 2);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM activities"), 0);
    /* The first completion stands; the second did not overwrite it. */
    char *status = harness_query_value(
        conn, "SELECT status FROM runs WHERE id = 'e0000100-0000-4000-8000-000000000100'");
    assert_string_equal(status, "completed");
    free(status);
    status = harness_query_value(conn, "SELECT status FROM command_runs");
    assert_string_equal(status, "completed");
    free(status);
    /* The replayed completion (same event id) is a duplicate, not a dead letter. */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM dead_letters WHERE event_id = "
                                             "'e0005001-0000-4000-8000-000000005001'"),
                     0);
    /* A late progress on a failed generation: ignored and counted. */
    assert_int_equal(harness_query_int(conn, "SELECT ignored_events FROM briefing_generations "
                                             "WHERE id = 'e0000401-0000-4000-8000-000000000401'"),
                     1);
    status = harness_query_value(conn, "SELECT status FROM briefing_generations WHERE id = "
                                       "'e0000401-0000-4000-8000-000000000401'");
    assert_string_equal(status, "failed");
    free(status);
    /* The undecodable payload, kept byte for byte. */
    assert_int_equal(
        harness_query_int(
            conn, "SELECT count(*) FROM dead_letters WHERE event_id IS NULL AND reason LIKE "
                  "'payload does not decode: %' "
                  "AND payload = convert_to('{\"not\": \"avro\"}', 'UTF8') AND projector = 'runs'"),
        1);

    /* sentinel dead-letters lists them with their reasons. */
    char *cmd = NULL, *out = NULL;
    assert_true(asprintf(&cmd, "dead-letters --db \"%s\" --projector runs", conninfo) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 0);
    assert_non_null(strstr(out, "a second completion is rejected"));
    assert_non_null(strstr(out, "payload does not decode"));
    assert_non_null(strstr(out, "dead letter(s)"));
    free(out);
    free(cmd);
    /* A limit says how many there are in all. */
    long long open_runs = harness_query_int(
        conn, "SELECT count(*) FROM dead_letters WHERE projector = 'runs' AND resolved_at IS NULL");
    assert_true(open_runs > 2);
    assert_true(asprintf(&cmd, "dead-letters --db \"%s\" --projector runs --limit 2", conninfo) >
                0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 0);
    char shown[64];
    snprintf(shown, sizeof(shown), "2 of %lld dead letters shown", open_runs);
    if (!strstr(out, shown)) fail_msg("want \"%s\" in:\n%s", shown, out);
    free(out);
    free(cmd);
    assert_true(asprintf(&cmd, "status --db \"%s\" --topic %s", conninfo, topic) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 0);
    assert_non_null(strstr(out, "dead letters: 10 open"));
    free(out);
    free(cmd);

    /* One that will never apply is resolved by hand, with a note: it is
     * no longer open, and resolving it again is an error. */
    char *undecodable = harness_query_value(
        conn, "SELECT id FROM dead_letters WHERE event_id IS NULL AND projector = 'runs'");
    assert_true(asprintf(&cmd,
                         "dead-letters resolve --id %s --note 'not avro: a test producer' "
                         "--db \"%s\"",
                         undecodable, conninfo) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 0);
    assert_non_null(strstr(out, "1 dead letter(s) resolved"));
    free(out);
    assert_int_equal(harness_run_sentinel(cmd, &out), 1);
    assert_non_null(strstr(out, "no open dead letter"));
    free(out);
    free(cmd);
    char *sql = NULL;
    assert_true(asprintf(&sql,
                         "SELECT count(*) FROM dead_letters WHERE id = %s AND resolved_at IS NOT "
                         "NULL AND resolution = 'not avro: a test producer'",
                         undecodable) > 0);
    assert_int_equal(harness_query_int(conn, sql), 1);
    free(sql);
    free(undecodable);
    assert_true(asprintf(&cmd, "status --db \"%s\" --topic %s", conninfo, topic) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 0);
    assert_non_null(strstr(out, "dead letters: 9 open"));
    free(out);
    free(cmd);

    /* The missing repository arrives; a retry applies what it unblocks
     * and leaves the rest dead-lettered with their reasons. */
    PGconn *owner = harness_connect(harness_as_owner(conninfo));
    harness_exec(
        owner,
        "INSERT INTO repositories (id, workspace_id, installation_id, external_id, name) "
        "VALUES ('e0000999-0000-4000-8000-000000000999', 'a0000000-0000-4000-8000-000000000001', "
        "'a2000000-0000-4000-8000-000000000001', 'late-1', 'org-1/late')");
    PQfinish(owner);
    assert_true(asprintf(&cmd, "dead-letters retry --projector runs --db \"%s\" --topic %s",
                         conninfo, topic) > 0);
    int rc = harness_run_sentinel(cmd, &out);
    if (rc) fail_msg("retry exited %d: %s", rc, out);
    assert_non_null(strstr(out, "runs: 1 applied, 8 still rejected"));
    free(out);
    assert_int_equal(
        harness_query_int(
            conn, "SELECT count(*) FROM runs WHERE id = 'e0000102-0000-4000-8000-000000000102'"),
        1);
    assert_int_equal(
        harness_query_int(conn, "SELECT count(*) FROM dead_letters WHERE resolved_at IS NOT NULL"),
        2);
    assert_int_equal(
        harness_query_int(
            conn,
            "SELECT count(*) FROM dead_letters WHERE resolved_at IS NULL AND retry_count = 1"),
        8);
    assert_int_equal(harness_query_int(
                         conn, "SELECT count(*) FROM workspace_daily_metrics WHERE runs_count = 2"),
                     1);
    /* Again: nothing left to apply, nothing changes but the retry count. */
    assert_int_equal(harness_run_sentinel(cmd, &out), 0);
    assert_non_null(strstr(out, "runs: 0 applied, 8 still rejected"));
    free(out);
    free(cmd);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM runs"), 2);

    /* A stored offset past the end of the log (a topic recreated under a
     * projection) stops the projector with a clear error, never a skip. */
    harness_exec(conn, "UPDATE projector_offsets SET next_offset = next_offset + 1000 "
                       "WHERE projector = 'activities' AND partition = 0");
    assert_true(asprintf(&cmd,
                         "project --projector activities --until-caught-up --db \"%s\" "
                         "--topic %s --group-prefix %s",
                         conninfo, topic, prefix) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 1);
    assert_non_null(strstr(out, "is outside the log"));
    assert_non_null(strstr(out, "refusing to skip or re-read events silently"));
    free(out);
    /* The way out it names: a rebuild from the log replaces the projection,
     * offsets included, and the projector goes on. */
    char *rebuild = NULL;
    assert_true(asprintf(&rebuild,
                         "rebuild --projector activities --db \"%s\" --topic %s "
                         "--group-prefix %s",
                         harness_as_owner(conninfo), topic, prefix) > 0);
    if (harness_run_sentinel(rebuild, &out)) fail_msg("rebuild: %s", out);
    assert_non_null(strstr(out, "offsets are outside the log"));
    assert_non_null(strstr(out, "tables differed from the live projection; swapped"));
    free(out);
    free(rebuild);
    assert_int_equal(harness_run_sentinel(cmd, &out), 0);
    free(out);
    free(cmd);

    PQfinish(conn);
    harness_drop_database(name);
    free(prefix);
    free(topic);
    free(name);
    free(conninfo);
}

/* Write one event line: `type` with `data` (JSON members) in workspace 1
 * at 2026-11-20, its event id e70000NN-... */
static void line(FILE *f, int n, const char *type, const char *data) {
    fprintf(f,
            "{\"event_id\": \"e7%06d-0000-4000-8000-000000000000\", \"type\": \"%s\", "
            "\"workspace_id\": \"a0000000-0000-4000-8000-000000000001\", \"occurred_at\": "
            "\"2026-11-20T10:00:00Z\", \"data\": {%s}}\n",
            n, type, data);
}

#define REPO1 "\"repository_id\": \"b0000000-0000-4000-8000-000001000001\""
#define REPO2 "\"repository_id\": \"b0000000-0000-4000-8000-000001000002\""

/* The reasons phase2 does not reach: an entity id a second event creates
 * again (each type), a template that is not active, a row deleted before
 * the event. Each is asserted by its words and its projector. */
static void test_each_remaining_reason(void **state) {
    (void)state;
    char *name;
    char *conninfo = harness_migrated_database("sentinel_reasons", 1, &name);
    char *topic = harness_unique_name("test.reasons");
    char *prefix = harness_unique_name("reasons");
    static const char *const scene[] = {
        "RunStarted",
        "\"run_id\": \"e7100000-0000-4000-8000-000000000001\", " REPO1
        ", \"external_reference\": \"pr-9\"",
        "FindingRecorded",
        "\"finding_id\": \"e7200000-0000-4000-8000-000000000001\", \"run_id\": "
        "\"e7100000-0000-4000-8000-000000000001\", \"finding_hash\": \"h\", "
        "\"severity\": \"info\", \"category\": \"c\", \"title\": \"t\"",
        "AnnotationPosted",
        "\"annotation_id\": \"e7300000-0000-4000-8000-000000000001\", "
        "\"finding_id\": \"e7200000-0000-4000-8000-000000000001\", \"provider\": "
        "\"github\", \"external_id\": \"x\", \"type\": \"comment\"",
        "CommandRunStarted",
        "\"command_run_id\": \"e7400000-0000-4000-8000-000000000001\", " REPO1
        ", \"external_reference\": \"c-9\", \"command_type\": \"ask\"",
        "BriefingRequested",
        "\"generation_id\": \"e7500000-0000-4000-8000-000000000001\", "
        "\"briefing_id\": \"d0000000-0000-4000-8000-000000000001\"",
        "BriefingDownloaded",
        "\"download_id\": \"e7600000-0000-4000-8000-000000000001\", "
        "\"generation_id\": \"e7500000-0000-4000-8000-000000000001\", "
        "\"format\": \"pdf\", \"source\": \"api\"",
        "ActivityLogged",
        "\"activity_id\": \"e7700000-0000-4000-8000-000000000001\", \"type\": \"x\"",
    };
    /* The same ids again, from other events; then the control plane's. */
    static const char *const again[][3] = {
        {"RunStarted", "runs", "run e7100000-0000-4000-8000-000000000001 already exists"},
        {"FindingRecorded", "runs", "finding e7200000-0000-4000-8000-000000000001 already exists"},
        {"AnnotationPosted", "runs",
         "annotation e7300000-0000-4000-8000-000000000001 already exists"},
        {"CommandRunStarted", "commands",
         "command run e7400000-0000-4000-8000-000000000001 already exists"},
        {"BriefingRequested", "briefings",
         "generation e7500000-0000-4000-8000-000000000001 already exists"},
        {"BriefingDownloaded", "briefings",
         "download e7600000-0000-4000-8000-000000000001 already exists"},
        {"ActivityLogged", "activities",
         "activity e7700000-0000-4000-8000-000000000001 already exists"},
    };
    char path[] = "/tmp/sentinel_reasons_XXXXXX";
    FILE *f = fdopen(mkstemp(path), "w");
    for (int i = 0; i < 7; i++)
        line(f, i, scene[2 * i], scene[2 * i + 1]);
    fclose(f);
    assert_int_equal(harness_publish(topic, path), 0);
    harness_project(conninfo, topic, prefix);
    PGconn *conn = harness_connect(conninfo);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM dead_letters"), 0);

    PGconn *owner = harness_connect(harness_as_owner(conninfo));
    harness_exec(owner, "UPDATE briefings SET is_active = false WHERE id = "
                        "'d0000000-0000-4000-8000-000000000002'");
    harness_exec(owner, "UPDATE repositories SET deleted_at = '2026-11-01T00:00:00Z' WHERE id = "
                        "'b0000000-0000-4000-8000-000001000002'");
    PQfinish(owner);
    f = fopen(path, "w");
    for (int i = 0; i < 7; i++)
        line(f, 100 + i, scene[2 * i], scene[2 * i + 1]);
    line(f, 200, "BriefingRequested",
         "\"generation_id\": \"e7500000-0000-4000-8000-000000000002\", \"briefing_id\": "
         "\"d0000000-0000-4000-8000-000000000002\"");
    line(f, 201, "RunStarted",
         "\"run_id\": \"e7100000-0000-4000-8000-000000000002\", " REPO2
         ", \"external_reference\": \"pr-10\"");
    fclose(f);
    assert_int_equal(harness_publish(topic, path), 0);
    unlink(path);
    harness_project(conninfo, topic, prefix);

    char sql[512];
    for (int i = 0; i < 7; i++) {
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM dead_letters WHERE event_id = "
                 "'e7%06d-0000-4000-8000-000000000000' AND projector = '%s' AND reason LIKE '%s%%'",
                 100 + i, again[i][1], again[i][2]);
        if (harness_query_int(conn, sql) != 1) {
            snprintf(sql, sizeof(sql),
                     "SELECT coalesce(string_agg(projector || ': ' || reason, '; '), 'none') FROM "
                     "dead_letters WHERE event_id = 'e7%06d-0000-4000-8000-000000000000'",
                     100 + i);
            fail_msg("%s again: expected %s: \"%s\", found %s", again[i][0], again[i][1],
                     again[i][2], harness_query_value(conn, sql));
        }
    }
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM dead_letters WHERE event_id = "
                                             "'e7000200-0000-4000-8000-000000000000' AND reason = "
                                             "'briefing d0000000-0000-4000-8000-000000000002 is "
                                             "not active'"),
                     1);
    assert_int_equal(
        harness_query_int(conn, "SELECT count(*) FROM dead_letters WHERE event_id = "
                                "'e7000201-0000-4000-8000-000000000000' AND reason LIKE "
                                "'repository b0000000-0000-4000-8000-000001000002 was deleted at "
                                "2026-11-01% before the event'"),
        1);
    /* Nothing else was refused, and the first of each stands alone. */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM dead_letters"), 9);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM runs"), 1);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM activities"), 1);
    PQfinish(conn);
    harness_drop_database(name);
    free(name);
    free(conninfo);
    free(topic);
    free(prefix);
}

/* Whatever its headers say, a message no projector can decode leaves a
 * dead letter; one that decodes but breaks a rule is found by its id. */
static void test_garbage_never_vanishes(void **state) {
    (void)state;
    char *name;
    char *conninfo = harness_migrated_database("sentinel_garbage", 1, &name);
    char *topic = harness_unique_name("test.garbage");
    char *prefix = harness_unique_name("garbage");
    harness_create_topic(topic, 1);
    const char *junk = "\xc3\x01 no schema has this";
    produce_raw(topic, "NoSuchType", junk, strlen(junk));
    produce_raw(topic, NULL, junk, strlen(junk));

    /* A UsageIncremented any Kafka client could write: valid Avro, its
     * amount INT64_MAX (the publisher refuses that, so the bytes are
     * patched: the varint of 777777 after the enum index of "tokens"). */
    char errstr[512];
    sentinel_codec_t *codec = sentinel_codec_new(errstr, sizeof(errstr));
    assert_non_null(codec);
    const char *json = "{\"event_id\": \"e7000000-0000-4000-8000-000000000001\", \"type\": "
                       "\"UsageIncremented\", \"workspace_id\": \"a0000000-0000-4000-8000-"
                       "000000000001\", \"occurred_at\": \"2026-11-26T10:00:00Z\", \"data\": "
                       "{\"metric\": \"tokens\", \"amount\": 777777}}";
    sentinel_bytes_t avro = {0};
    sentinel_event_head_t head;
    assert_int_equal(sentinel_event_json_to_avro(codec, json, strlen(json), &avro, &head, errstr,
                                                 sizeof(errstr)),
                     0);
    static const unsigned char was[] = {0x0a, 0xe2, 0xf8, 0x5e};
    static const unsigned char now[] = {0x0a, 0xfe, 0xff, 0xff, 0xff, 0xff,
                                        0xff, 0xff, 0xff, 0xff, 0x01};
    unsigned char *at = memmem(avro.data, avro.len, was, sizeof(was));
    assert_non_null(at);
    size_t head_len = (size_t)(at - avro.data), tail = avro.len - head_len - sizeof(was);
    unsigned char patched[512];
    memcpy(patched, avro.data, head_len);
    memcpy(patched + head_len, now, sizeof(now));
    memcpy(patched + head_len + sizeof(now), at + sizeof(was), tail);
    produce_raw(topic, "UsageIncremented", patched, head_len + sizeof(now) + tail);
    free(avro.data);
    sentinel_codec_destroy(codec);

    harness_project(conninfo, topic, prefix);
    PGconn *conn = harness_connect(conninfo);
    long long projectors = 0;
    while (sentinel_projectors[projectors])
        projectors++;
    /* The header names no type: every projector dead-letters it. */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM dead_letters WHERE "
                                             "kafka_offset = 0 AND event_id IS NULL AND reason "
                                             "LIKE 'payload does not decode: %'"),
                     projectors);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM dead_letters WHERE "
                                             "kafka_offset = 1 AND reason LIKE 'payload does not "
                                             "decode: %'"),
                     projectors);
    /* Decoded, out of bounds: its id, type and workspace recorded. */
    assert_int_equal(
        harness_query_int(conn,
                          "SELECT count(*) FROM dead_letters WHERE kafka_offset = 2 AND projector "
                          "= 'usage' AND event_id = 'e7000000-0000-4000-8000-000000000001' AND "
                          "event_type = 'UsageIncremented' AND workspace_id = "
                          "'a0000000-0000-4000-8000-000000000001' AND reason LIKE '%amount%'"),
        1);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM usage_ledger"), 0);

    /* Text from events is data: dead-letters escapes control characters. */
    PGconn *owner = harness_connect(harness_as_owner(conninfo));
    harness_exec(owner, "INSERT INTO dead_letters (projector, topic, partition, kafka_offset, "
                        "event_type, reason) VALUES ('runs', 'x', 0, 99, E'\\x1b]0;pwned\\x07', "
                        "E'bad \\x1b[2J type')");
    PQfinish(owner);
    char *cmd = NULL, *out = NULL;
    assert_true(asprintf(&cmd, "dead-letters --db \"%s\" --projector runs", conninfo) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 0);
    if (strchr(out, 0x1b) || strchr(out, 0x07)) fail_msg("a live control sequence:\n%s", out);
    assert_non_null(strstr(out, "\\x1b]0;pwned\\x07"));
    free(out);
    free(cmd);

    /* and so does publish, for an invalid line's type */
    char path[] = "/tmp/sentinel_control_XXXXXX";
    int fd = mkstemp(path);
    const char line[] =
        "{\"event_id\": \"e7000000-0000-4000-8000-000000000002\", \"type\": "
        "\"\\u001b]0;pwned\\u0007\", \"workspace_id\": \"a0000000-0000-4000-8000-"
        "000000000001\", \"occurred_at\": \"2026-11-26T10:00:00Z\", \"data\": {}}\n";
    assert_int_equal(write(fd, line, sizeof(line) - 1), (ssize_t)(sizeof(line) - 1));
    close(fd);
    assert_true(asprintf(&cmd, "publish --dry-run %s", path) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 1);
    if (strchr(out, 0x1b) || strchr(out, 0x07)) fail_msg("a live control sequence:\n%s", out);
    assert_non_null(strstr(out, "line 1"));
    free(out);
    free(cmd);
    unlink(path);

    PQfinish(conn);
    harness_drop_database(name);
    free(name);
    free(conninfo);
    free(topic);
    free(prefix);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_rejection_reason),
        cmocka_unit_test(test_garbage_never_vanishes),
        cmocka_unit_test(test_each_remaining_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
