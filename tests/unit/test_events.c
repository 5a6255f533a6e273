/* test_events.c -- the event catalog, data-driven from tests/data/events:
 * every valid case normalises to its .out.json and survives JSON -> Avro ->
 * JSON; every invalid case fails with the message in its .err. Also schema
 * evolution (v1 <-> v2 of FindingRecorded), the compatibility checks and
 * decoding of bad bytes. */
#include <avro.h>
#include <dirent.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sentinel/event.h>
#include "events/json_scan.h"
#include "events/schema_sources.h"
#include "fuzz/avro_decode_diff.h"
#include "fuzz/json_avro_diff.h"

#define CASES SENTINEL_SOURCE_DIR "/tests/data/events"

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, mem);
    fclose(mem);
    fclose(f);
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    return buf;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static int codec_setup(void **state) {
    char errstr[1024];
    sentinel_codec_t *codec = sentinel_codec_new(errstr, sizeof(errstr));
    if (!codec) fail_msg("%s", errstr);
    *state = codec;
    return 0;
}

static int codec_teardown(void **state) {
    sentinel_codec_destroy(*state);
    return 0;
}

static void test_valid_cases(void **state) {
    sentinel_codec_t *codec = *state;
    DIR *d = opendir(CASES "/valid");
    assert_non_null(d);
    struct dirent *de;
    int cases = 0;
    int types_seen[32] = {0};
    while ((de = readdir(d))) {
        if (!ends_with(de->d_name, ".json") || ends_with(de->d_name, ".out.json")) continue;
        char path[1024], expected_path[1024];
        snprintf(path, sizeof(path), CASES "/valid/%s", de->d_name);
        snprintf(expected_path, sizeof(expected_path), CASES "/valid/%.*s.out.json",
                 (int)(strlen(de->d_name) - 5), de->d_name);
        char *input = slurp(path), *expected = slurp(expected_path);
        if (!expected) fail_msg("%s has no .out.json", de->d_name);

        char errstr[1024];
        sentinel_event_t ev;
        if (sentinel_event_from_json(codec, input, strlen(input), &ev, errstr, sizeof(errstr)))
            fail_msg("%s: %s", de->d_name, errstr);
        char *normal = sentinel_event_to_json(&ev);
        if (strcmp(normal, expected))
            fail_msg("%s:\n got  %s\n want %s", de->d_name, normal, expected);
        for (size_t t = 0; sentinel_event_types[t]; t++)
            if (sentinel_event_types[t] == ev.type) types_seen[t] = 1;

        /* Avro and back gives the same event. */
        const void *bytes;
        size_t len;
        if (sentinel_event_encode(codec, &ev, &bytes, &len, errstr, sizeof(errstr)))
            fail_msg("%s: encode: %s", de->d_name, errstr);
        const unsigned char *b = bytes;
        assert_int_equal(b[0], 0xC3);
        assert_int_equal(b[1], 0x01);
        void *copy = malloc(len);
        memcpy(copy, bytes, len);
        sentinel_event_t back;
        if (sentinel_event_decode(codec, copy, len, &back, errstr, sizeof(errstr)))
            fail_msg("%s: decode: %s", de->d_name, errstr);
        char *again = sentinel_event_to_json(&back);
        if (strcmp(again, expected))
            fail_msg("%s round trip:\n got  %s\n want %s", de->d_name, again, expected);
        assert_int_equal(back.version, ev.version);

        free(copy);
        free(again);
        sentinel_event_clear(&back);
        free(normal);
        sentinel_event_clear(&ev);
        free(input);
        free(expected);
        cases++;
    }
    closedir(d);
    assert_true(cases >= 20);
    for (size_t t = 0; sentinel_event_types[t]; t++)
        if (!types_seen[t]) fail_msg("no valid case for %s", sentinel_event_types[t]->name);
}

static void test_invalid_cases(void **state) {
    sentinel_codec_t *codec = *state;
    DIR *d = opendir(CASES "/invalid");
    assert_non_null(d);
    struct dirent *de;
    int cases = 0;
    while ((de = readdir(d))) {
        if (!ends_with(de->d_name, ".json")) continue;
        char path[1024], err_path[1024];
        snprintf(path, sizeof(path), CASES "/invalid/%s", de->d_name);
        snprintf(err_path, sizeof(err_path), CASES "/invalid/%.*s.err",
                 (int)(strlen(de->d_name) - 5), de->d_name);
        char *input = slurp(path), *expected = slurp(err_path);
        if (!expected) fail_msg("%s has no .err", de->d_name);
        char errstr[1024];
        sentinel_event_t ev;
        sentinel_err_t err =
            sentinel_event_from_json(codec, input, strlen(input), &ev, errstr, sizeof(errstr));
        if (err != SENTINEL_ERR_INVALID) fail_msg("%s: accepted", de->d_name);
        if (strcmp(errstr, expected))
            fail_msg("%s:\n got  %s\n want %s", de->d_name, errstr, expected);
        assert_null(ev.data);
        free(input);
        free(expected);
        cases++;
    }
    closedir(d);
    assert_true(cases >= 40);
}

static void test_size_limit(void **state) {
    sentinel_codec_t *codec = *state;
    char *input = slurp(CASES "/valid/run_started.json");
    char errstr[256];
    sentinel_event_t ev;
    sentinel_codec_set_max_bytes(codec, 100);
    assert_int_equal(
        sentinel_event_from_json(codec, input, strlen(input), &ev, errstr, sizeof(errstr)),
        SENTINEL_ERR_INVALID);
    char want[128];
    snprintf(want, sizeof(want), "event is %zu bytes, over the limit of 100", strlen(input));
    assert_string_equal(errstr, want);
    sentinel_codec_set_max_bytes(codec, SENTINEL_EVENT_MAX_BYTES_DEFAULT);
    free(input);
}

static const char *schema_json(const char *file) {
    for (size_t i = 0; i < sentinel_schema_source_count; i++)
        if (!strcmp(sentinel_schema_sources[i].file, file)) return sentinel_schema_sources[i].json;
    fail_msg("no schema %s", file);
    return NULL;
}

/* v1 data decodes with the v2 reader (rule_id takes its default); v2 data
 * decodes with a v1 reader (rule_id is skipped). */
static void test_evolution(void **state) {
    sentinel_codec_t *codec = *state;
    char errstr[512];
    char *v1_input = slurp(CASES "/valid/finding_recorded_v1.json");
    sentinel_event_t ev;
    assert_int_equal(
        sentinel_event_from_json(codec, v1_input, strlen(v1_input), &ev, errstr, sizeof(errstr)),
        0);
    assert_int_equal(ev.version, 1);
    const void *bytes;
    size_t len;
    assert_int_equal(sentinel_event_encode(codec, &ev, &bytes, &len, errstr, sizeof(errstr)), 0);
    void *v1_bytes = malloc(len);
    memcpy(v1_bytes, bytes, len);
    size_t v1_len = len;
    sentinel_event_t back;
    assert_int_equal(sentinel_event_decode(codec, v1_bytes, v1_len, &back, errstr, sizeof(errstr)),
                     0);
    assert_int_equal(back.version, 1);
    assert_null(json_object_get(back.data, "rule_id"));
    assert_string_equal(sentinel_event_str(&back, "title"), "SQL injection in query builder");
    assert_true(sentinel_event_int(&back, "line_end") == 17);
    sentinel_event_clear(&back);
    sentinel_event_clear(&ev);
    free(v1_input);

    /* A v1 reader (any Avro library holding FindingRecorded.v1.avsc) reads v2 data. */
    char *v2_input = slurp(CASES "/valid/finding_recorded_v2.json");
    assert_int_equal(
        sentinel_event_from_json(codec, v2_input, strlen(v2_input), &ev, errstr, sizeof(errstr)),
        0);
    assert_int_equal(ev.version, 2);
    assert_int_equal(sentinel_event_encode(codec, &ev, &bytes, &len, errstr, sizeof(errstr)), 0);
    avro_schema_t v1, v2;
    const char *j1 = schema_json("FindingRecorded.v1.avsc"),
               *j2 = schema_json("FindingRecorded.v2.avsc");
    assert_int_equal(avro_schema_from_json_length(j1, strlen(j1), &v1), 0);
    assert_int_equal(avro_schema_from_json_length(j2, strlen(j2), &v2), 0);
    avro_value_iface_t *writer_class = avro_generic_class_from_schema(v2);
    avro_value_iface_t *resolver = avro_resolved_reader_new(v2, v1);
    assert_non_null(resolver);
    avro_value_t raw, resolved, data, field;
    assert_int_equal(avro_generic_value_new(writer_class, &raw), 0);
    assert_int_equal(avro_resolved_reader_new_value(resolver, &resolved), 0);
    avro_reader_t reader = avro_reader_memory((const char *)bytes + 10, (int64_t)len - 10);
    assert_int_equal(avro_value_read(reader, &raw), 0);
    avro_resolved_reader_set_source(&resolved, &raw);
    assert_int_equal(avro_value_get_by_name(&resolved, "data", &data, NULL), 0);
    size_t fields = 0;
    assert_int_equal(avro_value_get_size(&data, &fields), 0);
    assert_int_equal(fields, 12); /* v1's fields: no rule_id */
    assert_int_equal(avro_value_get_by_name(&data, "title", &field, NULL), 0);
    const char *title;
    size_t size;
    assert_int_equal(avro_value_get_string(&field, &title, &size), 0);
    assert_string_equal(title, "Long function");
    avro_reader_free(reader);
    avro_value_decref(&raw);
    avro_value_decref(&resolved);
    avro_value_iface_decref(resolver);
    avro_value_iface_decref(writer_class);
    avro_schema_decref(v1);
    avro_schema_decref(v2);
    sentinel_event_clear(&ev);
    free(v2_input);
    free(v1_bytes);
}

/* The embedded schemas plus one more file; the codec's checks must refuse it. */
static void expect_refused(const char *file, const char *json, const char *fragment) {
    size_t n = sentinel_schema_source_count;
    sentinel_schema_source_t *sources = calloc(n + 1, sizeof(*sources));
    memcpy(sources, sentinel_schema_sources, n * sizeof(*sources));
    sources[n].file = file;
    sources[n].json = json;
    char errstr[1024];
    sentinel_codec_t *codec = sentinel_codec_new_from(sources, n + 1, errstr, sizeof(errstr));
    if (codec) fail_msg("%s was accepted", file);
    if (!strstr(errstr, fragment)) fail_msg("%s: \"%s\" lacks \"%s\"", file, errstr, fragment);
    free(sources);
}

/* FindingRecorded v2 with its data fields edited by `edit`. */
static char *v3_from_v2(void (*edit)(json_t *fields)) {
    json_t *schema = json_loads(schema_json("FindingRecorded.v2.avsc"), 0, NULL);
    json_t *fields = json_object_get(schema, "fields");
    json_t *data = json_array_get(fields, json_array_size(fields) - 1);
    edit(json_object_get(json_object_get(data, "type"), "fields"));
    char *text = json_dumps(schema, JSON_COMPACT);
    json_decref(schema);
    return text;
}

static void add_required_field(json_t *fields) {
    json_array_append_new(fields, json_pack("{s:s, s:s}", "name", "rule_id2", "type", "string"));
}
static void drop_title(json_t *fields) {
    for (size_t i = 0; i < json_array_size(fields); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(fields, i), "name")), "title"))
            json_array_remove(fields, i);
}
static void drop_confidence(json_t *fields) {
    for (size_t i = 0; i < json_array_size(fields); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(fields, i), "name")),
                    "confidence"))
            json_array_remove(fields, i);
}
static void retype_file_path(json_t *fields) {
    for (size_t i = 0; i < json_array_size(fields); i++) {
        json_t *f = json_array_get(fields, i);
        if (!strcmp(json_string_value(json_object_get(f, "name")), "file_path"))
            json_object_set_new(f, "type", json_pack("[s,s]", "null", "int"));
    }
}

static json_t *field_named(json_t *fields, const char *name) {
    for (size_t i = 0; i < json_array_size(fields); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(fields, i), "name")), name))
            return json_array_get(fields, i);
    fail_msg("no field %s", name);
    return NULL;
}
static void bad_format(json_t *fields) {
    json_object_set_new(field_named(fields, "title"), "sentinel.format", json_string("yaml"));
}
static void minimum_on_string(json_t *fields) {
    json_object_set_new(field_named(fields, "title"), "sentinel.minimum", json_integer(1));
}
static void not_before_a_string(json_t *fields) {
    json_object_set_new(field_named(fields, "line_end"), "sentinel.not_before",
                        json_string("title"));
}
static void drop_confidence(json_t *fields);
static void title_as_json(json_t *fields) {
    json_object_set_new(field_named(fields, "title"), "sentinel.format", json_string("json"));
    drop_confidence(fields); /* else the fingerprint, blind to attributes, is v2's */
}

static void test_incompatible_changes_are_refused(void **state) {
    (void)state;
    char *text;
    /* A required field added: older data cannot be read with it. */
    text = v3_from_v2(add_required_field);
    expect_refused("FindingRecorded.v3.avsc", text,
                   "v1 data lacks data.rule_id2, which has no default");
    free(text);
    /* A required field dropped: a v2 reader cannot read v3 data. */
    text = v3_from_v2(drop_title);
    expect_refused("FindingRecorded.v3.avsc", text,
                   "v3 data lacks data.title, which has no default");
    free(text);
    /* A field's type changed. */
    text = v3_from_v2(retype_file_path);
    expect_refused("FindingRecorded.v3.avsc", text, "data.file_path changed type");
    free(text);
    /* Rules the schema states that validation cannot check. */
    text = v3_from_v2(bad_format);
    expect_refused("FindingRecorded.v3.avsc", text,
                   "data.title: sentinel.format \"yaml\" is not json-object, json or ip");
    free(text);
    text = v3_from_v2(minimum_on_string);
    expect_refused("FindingRecorded.v3.avsc", text,
                   "data.title: sentinel.minimum and sentinel.maximum apply to numbers");
    free(text);
    text = v3_from_v2(not_before_a_string);
    expect_refused("FindingRecorded.v3.avsc", text,
                   "data.line_end: sentinel.not_before names another integer field");
    free(text);
    /* A format changed between versions is a changed type. */
    text = v3_from_v2(title_as_json);
    expect_refused("FindingRecorded.v3.avsc", text, "data.title changed type");
    free(text);
    /* The same schema twice under two versions. */
    expect_refused("FindingRecorded.v3.avsc", schema_json("FindingRecorded.v2.avsc"),
                   "has the same fingerprint as FindingRecorded v2");
    /* A version gap: published versions are never deleted. */
    text = v3_from_v2(drop_confidence);
    expect_refused("FindingRecorded.v4.avsc", text, "schemas/FindingRecorded.v3.avsc is missing");
    free(text);
    /* A record named after another type. */
    expect_refused("AnnotationPosted.v2.avsc", schema_json("RunStarted.v1.avsc"),
                   "the record must be named AnnotationPosted");
    expect_refused("Unknown.v1.avsc", schema_json("RunStarted.v1.avsc"),
                   "Unknown is not in the event catalog");
}

static void maximum_alone(json_t *fields) {
    json_t *line_start = field_named(fields, "line_start");
    json_object_del(line_start, "sentinel.minimum");
    json_object_set_new(line_start, "sentinel.maximum", json_integer(10));
    drop_confidence(fields); /* a fingerprint of its own */
}

/* A bound is a rule on its own: a maximum without a minimum holds too, on
 * JSON and on both decoders. */
static void test_maximum_alone(void **state) {
    (void)state;
    size_t n = sentinel_schema_source_count;
    sentinel_schema_source_t *sources = calloc(n + 1, sizeof(*sources));
    memcpy(sources, sentinel_schema_sources, n * sizeof(*sources));
    char *v3 = v3_from_v2(maximum_alone);
    sources[n].file = "FindingRecorded.v3.avsc";
    sources[n].json = v3;
    char errstr[1024], why[2048];
    sentinel_codec_t *codec = sentinel_codec_new_from(sources, n + 1, errstr, sizeof(errstr));
    if (!codec) fail_msg("%s", errstr);
    char line[1024];
    const char *form =
        "{\"event_id\":\"7b0c1e5e-3f0a-4c7e-9a55-2f3c1d2e4b6a\",\"type\":\"FindingRecorded\","
        "\"version\":3,\"workspace_id\":\"a0000000-0000-4000-8000-000000000001\","
        "\"occurred_at\":\"2026-11-26T10:15:00Z\",\"data\":{\"finding_id\":"
        "\"11111111-1111-4111-8111-111111111111\",\"run_id\":\"22222222-2222-4222-8222-"
        "222222222222\",\"finding_hash\":\"h\",\"severity\":\"info\",\"category\":\"c\","
        "\"title\":\"t\",\"line_start\":%d}}";
    sentinel_event_t ev;
    snprintf(line, sizeof(line), form, 11);
    assert_int_equal(
        sentinel_event_from_json(codec, line, strlen(line), &ev, errstr, sizeof(errstr)),
        SENTINEL_ERR_INVALID);
    assert_string_equal(errstr, "FindingRecorded: data.line_start (11) must be at most 10");
    snprintf(line, sizeof(line), form, 10);
    if (sentinel_event_from_json(codec, line, strlen(line), &ev, errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    const void *bytes;
    size_t len;
    assert_int_equal(sentinel_event_encode(codec, &ev, &bytes, &len, errstr, sizeof(errstr)), 0);
    sentinel_event_clear(&ev);
    unsigned char *copy = malloc(len);
    memcpy(copy, bytes, len);
    /* 10 is the zigzag varint 0x14; 11 would be 0x16. */
    unsigned char *at = memchr(copy + SINGLE_OBJECT_HEADER, 0x14, len - SINGLE_OBJECT_HEADER);
    assert_non_null(at);
    *at = 0x16;
    assert_int_equal(sentinel_event_decode(codec, copy, len, &ev, errstr, sizeof(errstr)),
                     SENTINEL_ERR_INVALID);
    assert_string_equal(errstr, "FindingRecorded: data.line_start (11) must be at most 10");
    if (avro_decode_differ(codec, copy, len, why, sizeof(why))) fail_msg("%s", why);
    free(copy);
    sentinel_codec_destroy(codec);
    free(v3);
    free(sources);
}

static void test_decode_errors(void **state) {
    sentinel_codec_t *codec = *state;
    char errstr[512];
    sentinel_event_t ev;
    assert_int_equal(sentinel_event_decode(codec, "{\"json\":1}", 10, &ev, errstr, sizeof(errstr)),
                     SENTINEL_ERR_INVALID);
    assert_string_equal(errstr, "not an Avro single-object encoding (no C3 01 marker)");
    unsigned char unknown[12] = {0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0};
    assert_int_equal(
        sentinel_event_decode(codec, unknown, sizeof(unknown), &ev, errstr, sizeof(errstr)),
        SENTINEL_ERR_INVALID);
    assert_string_equal(errstr, "unknown writer schema (fingerprint 0807060504030201)");

    char *input = slurp(CASES "/valid/usage_incremented.json");
    assert_int_equal(
        sentinel_event_from_json(codec, input, strlen(input), &ev, errstr, sizeof(errstr)), 0);
    const void *bytes;
    size_t len;
    assert_int_equal(sentinel_event_encode(codec, &ev, &bytes, &len, errstr, sizeof(errstr)), 0);
    unsigned char *copy = malloc(len + 1);
    memcpy(copy, bytes, len);
    copy[len] = 0;
    sentinel_event_clear(&ev);
    assert_int_equal(sentinel_event_decode(codec, copy, len - 3, &ev, errstr, sizeof(errstr)),
                     SENTINEL_ERR_INVALID);
    assert_non_null(strstr(errstr, "UsageIncremented: datum does not match schema v1"));
    assert_int_equal(sentinel_event_decode(codec, copy, len + 1, &ev, errstr, sizeof(errstr)),
                     SENTINEL_ERR_INVALID);
    assert_string_equal(errstr, "UsageIncremented: trailing bytes after the datum");
    /* Well-formed Avro holding an invalid event: validated like JSON. The
     * amount is the second-to-last field's zig-zag varint: 1500 -> make it 0. */
    assert_int_equal(sentinel_event_decode(codec, copy, len, &ev, errstr, sizeof(errstr)), 0);
    sentinel_event_clear(&ev);
    free(copy);

    /* Any Kafka client can write the topic: the bounds hold on decode too. */
    static const struct {
        int64_t occurred_at;
        json_int_t amount;
        const char *error;
    } bounds[] = {
        {0, 5,
         "UsageIncremented: occurred_at: 1970-01-01T00:00:00Z is outside "
         "[2000-01-01T00:00:00Z, 2100-01-01T00:00:00Z)"},
        {-62135596800000000LL, 5,
         "UsageIncremented: occurred_at: 0001-01-01T00:00:00Z is outside "
         "[2000-01-01T00:00:00Z, 2100-01-01T00:00:00Z)"},
        {INT64_MAX, 5,
         "UsageIncremented: occurred_at: 9223372036854775807 microseconds is outside "
         "[2000-01-01T00:00:00Z, 2100-01-01T00:00:00Z)"},
        {1764151200000000LL, INT64_MAX,
         "UsageIncremented: data.amount (9223372036854775807) is out of range 1..1000000000000"},
    };
    for (size_t k = 0; k < sizeof(bounds) / sizeof(bounds[0]); k++) {
        assert_int_equal(
            sentinel_event_from_json(codec, input, strlen(input), &ev, errstr, sizeof(errstr)), 0);
        ev.occurred_at = bounds[k].occurred_at;
        json_object_set_new(ev.data, "amount", json_integer(bounds[k].amount));
        assert_int_equal(sentinel_event_encode(codec, &ev, &bytes, &len, errstr, sizeof(errstr)),
                         0);
        sentinel_event_clear(&ev);
        assert_int_equal(sentinel_event_decode(codec, bytes, len, &ev, errstr, sizeof(errstr)),
                         SENTINEL_ERR_INVALID);
        assert_string_equal(errstr, bounds[k].error);
    }
    free(input);
}

/* Bytes that differ from an encoded event in one place, or stop short. */
static void check_mutations(sentinel_codec_t *codec, const unsigned char *bytes, size_t len,
                            const char *name) {
    static const unsigned char values[] = {0x00, 0x01, 0x02, 0x3f, 0x40, 0x41, 0x61, 0x7f,
                                           0x80, 0x81, 0xc0, 0xe0, 0xf0, 0xfe, 0xff};
    unsigned char *copy = malloc(len);
    char why[2048];
    for (size_t n = 0; n < len; n++)
        if (avro_decode_differ(codec, bytes, n, why, sizeof(why)))
            fail_msg("%s, first %zu bytes: %s", name, n, why);
    for (size_t at = SINGLE_OBJECT_HEADER; at < len; at++) {
        for (size_t k = 0; k < sizeof(values) + 2; k++) {
            memcpy(copy, bytes, len);
            copy[at] = k < sizeof(values)    ? values[k]
                       : k == sizeof(values) ? (unsigned char)(bytes[at] + 1)
                                             : (unsigned char)(bytes[at] - 1);
            if (avro_decode_differ(codec, copy, len, why, sizeof(why)))
                fail_msg("%s, byte %zu as 0x%02x: %s", name, at, copy[at], why);
        }
    }
    free(copy);
}

/* The direct reader reads every valid case itself, and agrees with the
 * full decoder on it, on every prefix of it and on every one-byte change
 * to it. */
static void test_direct_decode_agrees(void **state) {
    sentinel_codec_t *codec = *state;
    DIR *d = opendir(CASES "/valid");
    assert_non_null(d);
    struct dirent *de;
    char path[1024], errstr[1024], why[2048];
    int cases = 0;
    while ((de = readdir(d))) {
        if (!ends_with(de->d_name, ".json") || ends_with(de->d_name, ".out.json")) continue;
        snprintf(path, sizeof(path), "%s/valid/%s", CASES, de->d_name);
        char *json = slurp(path);
        assert_non_null(json);
        sentinel_event_t ev;
        if (sentinel_event_from_json(codec, json, strlen(json), &ev, errstr, sizeof(errstr)))
            fail_msg("%s: %s", de->d_name, errstr);
        free(json);
        const void *encoded;
        size_t len;
        assert_int_equal(sentinel_event_encode(codec, &ev, &encoded, &len, errstr, sizeof(errstr)),
                         SENTINEL_OK);
        sentinel_event_clear(&ev);
        unsigned char *bytes = malloc(len);
        memcpy(bytes, encoded, len);
        unsigned long before = codec->decode_fallbacks;
        if (avro_decode_differ(codec, bytes, len, why, sizeof(why)))
            fail_msg("%s: %s", de->d_name, why);
        if (codec->decode_fallbacks != before) fail_msg("%s: left to the full decoder", de->d_name);
        check_mutations(codec, bytes, len, de->d_name);
        free(bytes);
        cases++;
    }
    closedir(d);
    assert_true(cases > 10);
}

/* Every case of tests/data (events and fuzz seeds), and every prefix of
 * the valid ones: the one-pass front end and the reference agree. */
static void check_agreement(sentinel_codec_t *codec, const char *dir, int prefixes) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    char path[1024], why[2048];
    int cases = 0;
    while ((de = readdir(d))) {
        if (!ends_with(de->d_name, ".json") || ends_with(de->d_name, ".out.json")) continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        char *json = slurp(path);
        assert_non_null(json);
        size_t len = strlen(json);
        for (size_t n = prefixes ? 0 : len; n <= len; n++)
            if (json_avro_differ(codec, json, n, why, sizeof(why)))
                fail_msg("%s (first %zu bytes): %s", de->d_name, n, why);
        free(json);
        cases++;
    }
    closedir(d);
    assert_true(cases > 0);
}

static void test_one_pass_agrees(void **state) {
    sentinel_codec_t *codec = *state;
    check_agreement(codec, CASES "/valid", 1);
    check_agreement(codec, CASES "/invalid", 0);
    check_agreement(codec, SENTINEL_SOURCE_DIR "/tests/data/fuzz/json", 1);
    /* Nothing the reference accepts was left to it. */
    assert_int_equal(codec->fallbacks, 0);
}

/* Every byte value at every position of a string's first three sixteen-
 * byte blocks: the one-pass scanner reads strings sixteen bytes at a time
 * (eight without SSE2), then byte by byte near the end of the line. */
static void test_every_byte_in_strings(void **state) {
    sentinel_codec_t *codec = *state;
    char line[1024], why[2048];
    for (int b = 1; b < 256; b++) {
        for (int at = 0; at < 48; at++) {
            char text[56];
            memset(text, 'a', 49);
            text[at] = (char)b;
            text[49] = '\0';
            int n = snprintf(line, sizeof(line),
                             "{\"event_id\":\"d99a2743-ebe6-4087-82e9-6e726e97647e\","
                             "\"type\":\"AnnotationPosted\",\"workspace_id\":"
                             "\"a0000000-0000-4000-8000-000000000001\",\"occurred_at\":"
                             "\"2026-10-01T00:00:03Z\",\"data\":{\"annotation_id\":"
                             "\"ae175332-39e4-49a1-acb8-ad4703b360a1\",\"finding_id\":"
                             "\"ae175332-39e4-49a1-acb8-ad4703b360a2\",\"provider\":\"%s\","
                             "\"external_id\":\"x\",\"type\":\"comment\"}}",
                             text);
            if (json_avro_differ(codec, line, (size_t)n, why, sizeof(why)))
                fail_msg("byte 0x%02x at %d: %s", b, at, why);
        }
    }
}

/* A real number token's value is strtod's, to the bit, on whichever path
 * it takes: decimals of 1 to 20 digits, a point anywhere, leading zeros, a
 * sign, exponents from -40 to 40. */
static void test_reals_as_strtod(void **state) {
    (void)state;
    uint64_t x = 88172645463325252ull; /* xorshift64 */
    char text[64];
    for (int n = 0; n < 400000; n++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t r = x;
        size_t len = 0;
        if (r & 1) text[len++] = '-';
        r >>= 1;
        int digits = 1 + (int)(r % 20), point = (int)((r >> 5) % (uint64_t)(digits + 1));
        r >>= 10;
        for (int i = 0; i < digits; i++) {
            if (i == point && i > 0) text[len++] = '.';
            /* a zero first digit only alone before the point, as JSON has it */
            int d = (int)((x >> (i * 3 % 60)) % 10);
            if (i == 0 && d == 0 && point != 1) d = 7;
            text[len++] = (char)('0' + d);
        }
        if (point == 0 || point == digits) {
            text[len++] = '.';
            text[len++] = '5';
        }
        if (r & 1)
            len +=
                (size_t)snprintf(text + len, sizeof(text) - len, "e%d", (int)((r >> 1) % 81) - 40);
        text[len] = '\0';
        json_token_t tok = {text, len, JT_NUMBER, JF_REAL};
        double got = 0, want = strtod(text, NULL);
        assert_int_equal(json_token_real(&tok, &got), 0);
        if (memcmp(&got, &want, sizeof(got))) fail_msg("%s: %.17g, strtod %.17g", text, got, want);
    }
}

/* Numbers inside JSON-valued fields reach Avro as the producer wrote them;
 * jansson would print 0.1 as 0.10000000000000001. */
static void test_json_numbers_keep_text(void **state) {
    sentinel_codec_t *codec = *state;
    const char *line =
        "{\"event_id\":\"d99a2743-ebe6-4087-82e9-6e726e97647e\",\"type\":\"RunCompleted\","
        "\"workspace_id\":\"a0000000-0000-4000-8000-000000000001\","
        "\"occurred_at\":\"2026-10-01T00:00:03Z\",\"data\":{\"run_id\":"
        "\"ae175332-39e4-49a1-acb8-ad4703b360a1\",\"status\":\"completed\","
        "\"metrics\": {\"ratio\": 0.1, \"big\": 1E400000000000000000000, \"n\": -0}}}";
    sentinel_bytes_t out = {0};
    sentinel_event_head_t head;
    char errstr[512];
    /* 1E4000... overflows a double: jansson refuses it, and so does the pass. */
    assert_int_equal(
        sentinel_event_json_to_avro(codec, line, strlen(line), &out, &head, errstr, sizeof(errstr)),
        SENTINEL_ERR_INVALID);
    assert_non_null(strstr(errstr, "real number overflow"));
    assert_int_equal(out.len, 0);

    char fixed[1024];
    snprintf(fixed, sizeof(fixed), "%s", line);
    char *big = strstr(fixed, "1E4000");
    size_t cut = strlen("1E400000000000000000000");
    memmove(big + 3, big + cut, strlen(big + cut) + 1); /* now 1E4 */
    assert_int_equal(sentinel_event_json_to_avro(codec, fixed, strlen(fixed), &out, &head, errstr,
                                                 sizeof(errstr)),
                     SENTINEL_OK);
    const char *want = "{\"ratio\":0.1,\"big\":1E4,\"n\":-0}";
    assert_true(out.len > strlen(want));
    assert_memory_equal(out.data + out.len - strlen(want), want, strlen(want));
    assert_string_equal(head.workspace_id, "a0000000-0000-4000-8000-000000000001");
    assert_string_equal(head.type->name, "RunCompleted");
    free(out.data);
}

/* A data key written twice is refused by both paths, whichever copy is
 * null and wherever the repeat stands; the reference says why. */
static void test_data_key_twice(void **state) {
    sentinel_codec_t *codec = *state;
#define ANNOTATION "\"annotation_id\":\"ae175332-39e4-49a1-acb8-ad4703b360a1\","
#define FINDING "\"finding_id\":\"ae175332-39e4-49a1-acb8-ad4703b360a2\","
    static const char *const data[] = {
        ANNOTATION FINDING "\"provider\":\"github\",\"provider\":\"gitlab\","
                           "\"external_id\":\"x\",\"type\":\"comment\"",
        ANNOTATION FINDING "\"provider\":null,\"provider\":\"github\","
                           "\"external_id\":\"x\",\"type\":\"comment\"",
        ANNOTATION FINDING "\"provider\":\"github\",\"external_id\":\"x\","
                           "\"type\":\"comment\",\"provider\":null",
        ANNOTATION FINDING "\"provider\":\"github\",\"external_id\":\"x\","
                           "\"type\":\"comment\"," ANNOTATION "\"external_id\":\"y\"",
        "\"type\":\"comment\"," ANNOTATION FINDING "\"provider\":\"github\","
        "\"external_id\":\"x\",\"type\":\"comment\"",
    };
#undef ANNOTATION
#undef FINDING
    for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
        char line[1024], why[2048], errstr[512];
        int n = snprintf(line, sizeof(line),
                         "{\"event_id\":\"d99a2743-ebe6-4087-82e9-6e726e97647e\","
                         "\"type\":\"AnnotationPosted\",\"workspace_id\":"
                         "\"a0000000-0000-4000-8000-000000000001\",\"occurred_at\":"
                         "\"2026-10-01T00:00:03Z\",\"data\":{%s}}",
                         data[i]);
        if (json_avro_differ(codec, line, (size_t)n, why, sizeof(why)))
            fail_msg("case %zu: %s", i, why);
        sentinel_bytes_t out = {0};
        sentinel_event_head_t head;
        if (sentinel_json_avro_scan(codec, line, (size_t)n, &out, &head) != -1)
            fail_msg("case %zu: the one pass accepted it", i);
        assert_int_equal(out.len, 0);
        assert_int_not_equal(sentinel_event_json_to_avro(codec, line, (size_t)n, &out, &head,
                                                         errstr, sizeof(errstr)),
                             SENTINEL_OK);
        if (!strstr(errstr, "duplicate object key")) fail_msg("case %zu: %s", i, errstr);
        free(out.data);
    }
    /* Each field once, in any order: accepted. */
    const char *line = "{\"event_id\":\"d99a2743-ebe6-4087-82e9-6e726e97647e\","
                       "\"type\":\"AnnotationPosted\",\"workspace_id\":"
                       "\"a0000000-0000-4000-8000-000000000001\",\"occurred_at\":"
                       "\"2026-10-01T00:00:03Z\",\"data\":{\"type\":\"comment\","
                       "\"external_id\":\"x\",\"provider\":\"github\",\"finding_id\":"
                       "\"ae175332-39e4-49a1-acb8-ad4703b360a2\",\"annotation_id\":"
                       "\"ae175332-39e4-49a1-acb8-ad4703b360a1\"}}";
    sentinel_bytes_t out = {0};
    sentinel_event_head_t head;
    assert_int_equal(sentinel_json_avro_scan(codec, line, strlen(line), &out, &head), 0);
    free(out.data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_cases),
        cmocka_unit_test(test_invalid_cases),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_evolution),
        cmocka_unit_test(test_incompatible_changes_are_refused),
        cmocka_unit_test(test_maximum_alone),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_one_pass_agrees),
        cmocka_unit_test(test_direct_decode_agrees),
        cmocka_unit_test(test_every_byte_in_strings),
        cmocka_unit_test(test_json_numbers_keep_text),
        cmocka_unit_test(test_reals_as_strtod),
        cmocka_unit_test(test_data_key_twice),
    };
    return cmocka_run_group_tests(tests, codec_setup, codec_teardown);
}
