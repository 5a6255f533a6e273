/* test_publish.c -- `sentinel publish` and the publisher API against the
 * real broker: every line lands as Avro keyed by workspace with its
 * headers; invalid lines are reported and dead-lettered; --atomic publishes
 * all or nothing; duplicates are published as they are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <sentinel/event.h>
#include <sentinel/publisher.h>
#include "harness.h"

typedef struct seen {
    sentinel_codec_t *codec;
    long events;
    long header_mismatches;
    long key_mismatches;
    /* workspace -> partition, to check each workspace stays on one */
    char workspaces[64][40];
    int partitions[64];
    int n_workspaces;
    long split_workspaces;
    char ids[4096][40];
    long n_ids;
} seen_t;

static void check_message(const harness_message_t *m, void *opaque) {
    seen_t *s = opaque;
    sentinel_event_t ev;
    char errstr[512];
    if (sentinel_event_decode(s->codec, m->value, m->len, &ev, errstr, sizeof(errstr)))
        fail_msg("offset %lld does not decode: %s", (long long)m->offset, errstr);
    s->events++;
    if (!m->event_type || strcmp(m->event_type, ev.type->name) || !m->event_id ||
        strcmp(m->event_id, ev.event_id))
        s->header_mismatches++;
    if (m->key_len != SENTINEL_UUID_LEN || memcmp(m->key, ev.workspace_id, SENTINEL_UUID_LEN))
        s->key_mismatches++;
    int i;
    for (i = 0; i < s->n_workspaces && strcmp(s->workspaces[i], ev.workspace_id); i++) {
    }
    if (i == s->n_workspaces && i < 64) {
        snprintf(s->workspaces[i], 40, "%s", ev.workspace_id);
        s->partitions[i] = m->partition;
        s->n_workspaces++;
    } else if (i < 64 && s->partitions[i] != m->partition) {
        s->split_workspaces++;
    }
    if (s->n_ids < 4096) snprintf(s->ids[s->n_ids++], 40, "%s", ev.event_id);
    sentinel_event_clear(&ev);
}

static int count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static void test_publish_generated_stream(void **state) {
    (void)state;
    char *topic = harness_unique_name("test.publish");
    char *path = harness_gen("--events 3000 --duplicates 0.05 --seed 7");
    char *cmd = NULL, *out = NULL;
    int lines = count_lines(path);
    assert_int_equal(lines, 3000);

    assert_true(asprintf(&cmd, "publish --topic %s %s", topic, path) > 0);
    int rc = harness_run_sentinel(cmd, &out);
    if (rc) fail_msg("publish exited %d: %s", rc, out);
    assert_non_null(strstr(out, "3000 published, 0 rejected"));
    free(cmd);
    free(out);

    char errstr[512];
    seen_t *s = calloc(1, sizeof(*s));
    s->codec = sentinel_codec_new(errstr, sizeof(errstr));
    long n = harness_consume_all(topic, "read_committed", check_message, s);
    assert_int_equal(n, 3000);
    assert_int_equal(s->events, 3000);
    assert_int_equal(s->header_mismatches, 0);
    assert_int_equal(s->key_mismatches, 0);
    assert_int_equal(s->split_workspaces, 0);
    assert_int_equal(s->n_workspaces, 8);

    /* Duplicates in the input are published as they are: some event ids
     * occur twice, exactly as often as in the file. */
    long dups = 0;
    for (long i = 0; i < s->n_ids; i++)
        for (long j = i + 1; j < s->n_ids; j++)
            dups += !strcmp(s->ids[i], s->ids[j]);
    char *grep = NULL;
    assert_true(asprintf(&grep,
                         "grep -o '\"event_id\":\"[^\"]*\"' %s | sort | uniq -d -c | awk "
                         "'{s+=$1-1} END {print s+0}'",
                         path) > 0);
    FILE *p = popen(grep, "r");
    long expected_dups = -1;
    assert_int_equal(fscanf(p, "%ld", &expected_dups), 1);
    pclose(p);
    free(grep);
    assert_true(expected_dups > 50);
    assert_int_equal(dups, expected_dups);

    sentinel_codec_destroy(s->codec);
    free(s);
    unlink(path);
    free(path);
    free(topic);
}

/* Per workspace, the event ids in the order they came: the input's or the
 * topic's (a workspace's messages are all in one partition). */
typedef struct order {
    char workspaces[16][SENTINEL_UUID_LEN + 1];
    char *ids[16];
    size_t len[16], cap[16];
    int n;
    long overflow; /* messages of a seventeenth workspace or more */
} order_t;

static void order_add(order_t *o, const char *workspace, const char *event_id) {
    int i = 0;
    while (i < o->n && strncmp(o->workspaces[i], workspace, SENTINEL_UUID_LEN))
        i++;
    if (i == o->n) {
        if (o->n == 16) {
            o->overflow++;
            return;
        }
        snprintf(o->workspaces[o->n++], SENTINEL_UUID_LEN + 1, "%.36s", workspace);
    }
    if (o->len[i] + SENTINEL_UUID_LEN + 2 > o->cap[i]) {
        o->cap[i] = o->cap[i] ? o->cap[i] * 2 : 4096;
        o->ids[i] = realloc(o->ids[i], o->cap[i]);
    }
    o->len[i] +=
        (size_t)snprintf(o->ids[i] + o->len[i], o->cap[i] - o->len[i], "%.36s\n", event_id);
}

static void order_of_message(const harness_message_t *m, void *opaque) {
    assert_int_equal(m->key_len, SENTINEL_UUID_LEN);
    assert_non_null(m->event_id);
    order_add(opaque, m->key, m->event_id);
}

/* With more encoding threads than cores, chunks of lines finish out of
 * order; the producer still sends them in the input's order, so each
 * workspace's events reach its partition in the order of the file. */
static void test_order_kept_across_threads(void **state) {
    (void)state;
    char *topic = harness_unique_name("test.publish_order");
    char *path = harness_gen("--events 20000 --seed 19");
    char *cmd = NULL, *out = NULL;
    assert_true(asprintf(&cmd, "publish --threads 4 --topic %s %s", topic, path) > 0);
    int rc = harness_run_sentinel(cmd, &out);
    if (rc) fail_msg("publish exited %d: %s", rc, out);
    assert_non_null(strstr(out, "20000 published, 0 rejected"));
    free(cmd);
    free(out);

    order_t *want = calloc(1, sizeof(*want)), *got = calloc(1, sizeof(*got));
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[65536];
    long lines = 0;
    while (fgets(line, sizeof(line), f)) {
        const char *id = strstr(line, "\"event_id\":\""), *ws = strstr(line, "\"workspace_id\":\"");
        assert_non_null(id);
        assert_non_null(ws);
        order_add(want, ws + 16, id + 12);
        lines++;
    }
    fclose(f);
    assert_int_equal(lines, 20000);
    assert_int_equal(harness_consume_all(topic, "read_committed", order_of_message, got), 20000);
    assert_int_equal(want->overflow, 0);
    assert_int_equal(got->overflow, 0);
    assert_int_equal(got->n, want->n);
    assert_true(want->n > 1);
    for (int i = 0; i < want->n; i++) {
        int j = 0;
        while (j < got->n && strcmp(got->workspaces[j], want->workspaces[i]))
            j++;
        if (j == got->n) fail_msg("workspace %s has no message", want->workspaces[i]);
        if (got->len[j] != want->len[i] || memcmp(got->ids[j], want->ids[i], want->len[i]))
            fail_msg("workspace %s: its events reached the topic out of the file's order",
                     want->workspaces[i]);
    }
    for (int i = 0; i < 16; i++) {
        free(want->ids[i]);
        free(got->ids[i]);
    }
    free(want);
    free(got);
    unlink(path);
    free(path);
    free(topic);
}

static const char *valid_line(int i, char *buf, size_t size) {
    snprintf(
        buf, size,
        "{\"event_id\":\"7b0c1e5e-3f0a-4c7e-9a55-2f3c1d2e4b%02d\",\"type\":\"UsageIncremented\","
        "\"workspace_id\":\"a0000000-0000-4000-8000-000000000001\","
        "\"occurred_at\":\"2026-11-26T10:15:00Z\",\"data\":{\"metric\":\"runs\",\"amount\":1}}",
        i);
    return buf;
}

static char *write_input(int valid, int invalid_at) {
    char *path = strdup("/tmp/sentinel_publish_XXXXXX");
    FILE *f = fdopen(mkstemp(path), "w");
    char buf[512];
    for (int i = 0; i < valid + (invalid_at > 0); i++) {
        if (i + 1 == invalid_at)
            fputs("{\"type\":\"UsageIncremented\",\"bogus\":1}\n", f);
        else
            fprintf(f, "%s\n", valid_line(i, buf, sizeof(buf)));
    }
    fputs("not json at all\n", f);
    fclose(f);
    return path;
}

static void count_reason(const harness_message_t *m, void *opaque) {
    char **reasons = opaque;
    if (m->reason && !reasons[0])
        reasons[0] = strdup(m->reason);
    else if (m->reason && !reasons[1])
        reasons[1] = strdup(m->reason);
}

typedef struct oversize {
    long count;
    size_t len;
    int head_ok;
    char reason[256];
} oversize_t;

static void see_oversize(const harness_message_t *m, void *opaque) {
    oversize_t *o = opaque;
    o->count++;
    o->len = m->len;
    o->head_ok = m->len >= 12 && !memcmp(m->value, "{\"padding\": \"", 12);
    snprintf(o->reason, sizeof(o->reason), "%s", m->reason ? m->reason : "");
}

/* A line over the size limit leaves a record too: its first 64 KiB, with
 * the reason, its line number and its size. */
static void test_oversize_line_is_dead_lettered(void **state) {
    (void)state;
    char *topic = harness_unique_name("test.publish.oversize");
    char path[] = "/tmp/sentinel_oversize_XXXXXX";
    FILE *f = fdopen(mkstemp(path), "w");
    fputs("{\"padding\": \"", f);
    for (int i = 0; i < 1200 * 1024; i++)
        fputc('x', f);
    fputs("\"}\n", f);
    fclose(f);
    char *cmd = NULL, *out = NULL;
    assert_true(asprintf(&cmd, "publish --topic %s %s", topic, path) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 1);
    assert_non_null(strstr(out, "line 1: event is 1228815 bytes, over the limit of 1048576"));
    free(out);
    free(cmd);
    char *dlq = NULL;
    assert_true(asprintf(&dlq, "%s.dead-letter", topic) > 0);
    oversize_t seen = {0};
    assert_int_equal(harness_consume_all(dlq, "read_committed", see_oversize, &seen), 1);
    assert_int_equal(seen.len, 65536);
    assert_true(seen.head_ok);
    assert_non_null(strstr(seen.reason, "line 1: event is 1228815 bytes"));
    free(dlq);
    unlink(path);
    free(topic);
}

/* Out of bounds is a rejection that names the field and the rule: no
 * partition for year 1, no amount that would wrap a counter. */
static void test_bounds_are_enforced(void **state) {
    (void)state;
    char *topic = harness_unique_name("test.publish.bounds");
    char path[] = "/tmp/sentinel_bounds_XXXXXX";
    FILE *f = fdopen(mkstemp(path), "w");
    static const char *const lines[] = {
        "\"occurred_at\": \"0001-01-01T00:00:00Z\", \"data\": {\"metric\": \"runs\", \"amount\": "
        "1}",
        "\"occurred_at\": \"9999-12-31T00:00:00Z\", \"data\": {\"metric\": \"runs\", \"amount\": "
        "1}",
        "\"occurred_at\": \"2026-11-26T10:00:00Z\", \"data\": {\"metric\": \"tokens\", "
        "\"amount\": 9223372036854775807}",
        "\"occurred_at\": \"2099-12-31T23:59:59Z\", \"data\": {\"metric\": \"tokens\", "
        "\"amount\": 1000000000000}",
    };
    for (int i = 0; i < 4; i++)
        fprintf(f,
                "{\"event_id\": \"f5000000-0000-4000-8000-00000000000%d\", \"type\": "
                "\"UsageIncremented\", \"workspace_id\": \"a0000000-0000-4000-8000-000000000001\", "
                "%s}\n",
                i, lines[i]);
    fclose(f);
    char *cmd = NULL, *out = NULL;
    assert_true(asprintf(&cmd, "publish --topic %s %s", topic, path) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 1);
    assert_non_null(strstr(out,
                           "line 1: UsageIncremented: occurred_at: 0001-01-01T00:00:00Z is outside "
                           "[2000-01-01T00:00:00Z, 2100-01-01T00:00:00Z)"));
    assert_non_null(
        strstr(out, "line 2: UsageIncremented: occurred_at: 9999-12-31T00:00:00Z is outside"));
    assert_non_null(strstr(out,
                           "line 3: UsageIncremented: data.amount (9223372036854775807) is out of "
                           "range 1..1000000000000"));
    assert_non_null(strstr(out, "1 published, 3 rejected"));
    free(out);
    free(cmd);
    unlink(path);
    free(topic);
}

static void test_invalid_lines_reported_and_dead_lettered(void **state) {
    (void)state;
    char *topic = harness_unique_name("test.publish.invalid");
    char *path = write_input(5, 3);
    char *cmd = NULL, *out = NULL;
    assert_true(asprintf(&cmd, "publish --topic %s %s", topic, path) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 1);
    assert_non_null(strstr(out, "line 3: UsageIncremented: unknown field \"bogus\""));
    assert_non_null(strstr(out, "line 7: not valid JSON"));
    assert_non_null(strstr(out, "5 published, 2 rejected"));
    free(out);
    free(cmd);
    assert_int_equal(harness_consume_all(topic, "read_committed", NULL, NULL), 5);

    char *dlq = NULL;
    assert_true(asprintf(&dlq, "%s.dead-letter", topic) > 0);
    char *reasons[2] = {NULL, NULL};
    assert_int_equal(harness_consume_all(dlq, "read_committed", count_reason, reasons), 2);
    assert_non_null(reasons[0]);
    assert_non_null(strstr(reasons[0], "line 3: UsageIncremented: unknown field \"bogus\""));
    assert_non_null(strstr(reasons[1], "line 7: not valid JSON"));
    free(reasons[0]);
    free(reasons[1]);
    free(dlq);
    /* The same command that lists the projectors' dead letters lists these
     * from the topic, with the reasons, and says how many are left out. */
    assert_true(asprintf(&cmd, "dead-letters --from-topic --topic %s", topic) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 0);
    assert_non_null(strstr(out, "line 3: UsageIncremented: unknown field \"bogus\""));
    assert_non_null(strstr(out, "line 7: not valid JSON"));
    assert_non_null(strstr(out, "2 rejected line(s)"));
    free(out);
    free(cmd);
    assert_true(asprintf(&cmd, "dead-letters --from-topic --limit 1 --topic %s", topic) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 0);
    assert_non_null(strstr(out, "1 of 2 rejected lines shown"));
    free(out);
    free(cmd);
    unlink(path);
    free(path);
    free(topic);
}

static void test_atomic(void **state) {
    (void)state;
    char *cmd = NULL, *out = NULL;
    /* A bad line aborts the transaction: a read_committed reader sees nothing. */
    char *topic = harness_unique_name("test.publish.atomic");
    char *path = write_input(20, 10);
    assert_true(asprintf(&cmd, "publish --atomic --topic %s %s", topic, path) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 1);
    assert_non_null(strstr(out, "transaction aborted, nothing published"));
    /* It says which line refused the batch, and the valid lines are not
     * reported as failed deliveries: they were withheld. */
    assert_non_null(strstr(out, "refused because of line 10"));
    assert_null(strstr(out, "Purged"));
    assert_null(strstr(out, "not delivered"));
    free(out);
    free(cmd);
    assert_int_equal(harness_consume_all(topic, "read_committed", NULL, NULL), 0);
    /* The invalid lines are dead-lettered as without --atomic. */
    char *dlq = NULL, *reasons[2] = {NULL, NULL};
    assert_true(asprintf(&dlq, "%s.dead-letter", topic) > 0);
    assert_int_equal(harness_consume_all(dlq, "read_committed", count_reason, reasons), 2);
    assert_non_null(strstr(reasons[0], "line 10: "));
    assert_non_null(strstr(reasons[1], "line 22: not valid JSON"));
    free(reasons[0]);
    free(reasons[1]);
    free(dlq);
    unlink(path);
    free(path);
    free(topic);

    /* All valid: all visible. */
    topic = harness_unique_name("test.publish.atomic.ok");
    path = strdup("/tmp/sentinel_publish_XXXXXX");
    FILE *f = fdopen(mkstemp(path), "w");
    char buf[512];
    for (int i = 0; i < 30; i++)
        fprintf(f, "%s\n", valid_line(i, buf, sizeof(buf)));
    fclose(f);
    assert_true(asprintf(&cmd, "publish --atomic --topic %s %s", topic, path) > 0);
    int rc = harness_run_sentinel(cmd, &out);
    if (rc) fail_msg("%s", out);
    free(out);
    free(cmd);
    assert_int_equal(harness_consume_all(topic, "read_committed", NULL, NULL), 30);
    unlink(path);
    free(path);
    free(topic);
}

static void test_dry_run_needs_no_kafka(void **state) {
    (void)state;
    char *path = write_input(4, 0);
    char *cmd = NULL, *out = NULL;
    assert_true(asprintf(&cmd, "publish --dry-run --brokers 127.0.0.1:1 %s", path) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 1); /* the trailing non-JSON line */
    assert_non_null(strstr(out, "4 valid, 1 rejected"));
    assert_non_null(strstr(out, "line 5: not valid JSON"));
    free(out);
    free(cmd);
    unlink(path);
    free(path);
}

static int delivered_ok, delivered_failed;
static void on_delivery(void *opaque, uint64_t tag, const char *error) {
    (void)opaque;
    (void)tag;
    if (error)
        delivered_failed++;
    else
        delivered_ok++;
}

static void test_publisher_api(void **state) {
    (void)state;
    char errstr[512], buf[512];
    char *topic = harness_unique_name("test.publisher.api");
    harness_create_topic(topic, 3);
    sentinel_conf_t *conf = sentinel_conf_new();
    assert_int_equal(sentinel_conf_set(conf, "brokers", harness_brokers(), errstr, sizeof(errstr)),
                     0);
    assert_int_equal(sentinel_conf_set(conf, "topic", topic, errstr, sizeof(errstr)), 0);
    sentinel_publisher_options_t options = {.on_delivery = on_delivery};
    sentinel_publisher_t *pub = sentinel_publisher_new(conf, &options, errstr, sizeof(errstr));
    if (!pub) fail_msg("%s", errstr);
    for (int i = 0; i < 10; i++) {
        const char *line = valid_line(i, buf, sizeof(buf));
        assert_int_equal(sentinel_publisher_send_json(pub, line, strlen(line), (uint64_t)i, errstr,
                                                      sizeof(errstr)),
                         0);
    }
    assert_int_equal(sentinel_publisher_send_json(pub, "{}", 2, 99, errstr, sizeof(errstr)),
                     SENTINEL_ERR_INVALID);
    assert_string_equal(errstr, "type is required");
    assert_int_equal(sentinel_publisher_flush(pub, 30000, errstr, sizeof(errstr)), 0);
    sentinel_publisher_stats_t stats;
    sentinel_publisher_stats(pub, &stats);
    assert_int_equal(stats.delivered, 10);
    assert_int_equal(delivered_ok, 10);
    assert_int_equal(delivered_failed, 0);
    sentinel_publisher_destroy(pub);
    sentinel_conf_destroy(conf);
    assert_int_equal(harness_consume_all(topic, "read_committed", NULL, NULL), 10);
    free(topic);
}

/* A JSON-valued field reaches the topic as the producer wrote its numbers
 * (compacted, but 0.1 stays 0.1 and 1e2 stays 1e2), through the CLI and
 * through the C API. */
typedef struct json_text_seen {
    long events, kept;
} json_text_seen_t;

static void find_json_text(const harness_message_t *m, void *opaque) {
    json_text_seen_t *s = opaque;
    const char *want = "{\"ratio\":0.1,\"n\":1e2,\"deep\":[-0,2.50]}";
    s->events++;
    if (m->len >= strlen(want) && memmem(m->value, m->len, want, strlen(want))) s->kept++;
}

static void test_json_fields_keep_their_numbers(void **state) {
    (void)state;
    char *topic = harness_unique_name("test.publish.numbers");
    char *path = harness_unique_name("/tmp/sentinel-numbers");
    const char *line =
        "{\"event_id\":\"d99a2743-ebe6-4087-82e9-6e726e97647e\",\"type\":\"RunCompleted\","
        "\"workspace_id\":\"a0000000-0000-4000-8000-000000000001\","
        "\"occurred_at\":\"2026-10-01T00:00:03Z\",\"data\":{\"run_id\":"
        "\"ae175332-39e4-49a1-acb8-ad4703b360a1\",\"status\":\"completed\","
        "\"metrics\": {\"ratio\": 0.1, \"n\": 1e2, \"deep\": [-0, 2.50]}}}\n";
    FILE *f = fopen(path, "w");
    fputs(line, f);
    fclose(f);
    free(harness_must_run("publish --quiet --topic %s %s", topic, path));

    char errstr[512];
    sentinel_publisher_t *pub = harness_publisher(topic);
    assert_int_equal(
        sentinel_publisher_send_json(pub, line, strlen(line) - 1, 1, errstr, sizeof(errstr)), 0);
    assert_int_equal(sentinel_publisher_flush(pub, 30000, errstr, sizeof(errstr)), 0);
    sentinel_publisher_destroy(pub);

    json_text_seen_t seen = {0};
    assert_int_equal(harness_consume_all(topic, "read_committed", find_json_text, &seen), 2);
    assert_int_equal(seen.kept, 2);
    unlink(path);
    free(path);
    free(topic);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_generated_stream),
        cmocka_unit_test(test_order_kept_across_threads),
        cmocka_unit_test(test_invalid_lines_reported_and_dead_lettered),
        cmocka_unit_test(test_oversize_line_is_dead_lettered),
        cmocka_unit_test(test_bounds_are_enforced),
        cmocka_unit_test(test_atomic),
        cmocka_unit_test(test_dry_run_needs_no_kafka),
        cmocka_unit_test(test_publisher_api),
        cmocka_unit_test(test_json_fields_keep_their_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
