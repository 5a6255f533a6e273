/* test_fingerprint.c -- Parsing Canonical Form and CRC-64-AVRO against the
 * values the Avro project publishes (tests/data/avro/fingerprints.txt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "events/fingerprint.h"

static void chomp(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

static void test_published_vectors(void **state) {
    (void)state;
    FILE *f = fopen(SENTINEL_SOURCE_DIR "/tests/data/avro/fingerprints.txt", "r");
    assert_non_null(f);
    char schema[1024], canonical[1024], fp[64];
    int cases = 0, fingerprints = 0;
    while (fgets(schema, sizeof(schema), f)) {
        if (schema[0] == '#') continue;
        assert_non_null(fgets(canonical, sizeof(canonical), f));
        assert_non_null(fgets(fp, sizeof(fp), f));
        chomp(schema);
        chomp(canonical);
        chomp(fp);
        char errstr[256];
        char *got = sentinel_schema_canonical_form(schema, strlen(schema), errstr, sizeof(errstr));
        if (!got) fail_msg("%s: %s", schema, errstr);
        if (strcmp(got, canonical))
            fail_msg("%s: canonical form %s, expected %s", schema, got, canonical);
        if (strcmp(fp, "-")) {
            int64_t expected = strtoll(fp, NULL, 10);
            int64_t actual = (int64_t)sentinel_crc64_avro(got, strlen(got));
            if (actual != expected)
                fail_msg("%s: fingerprint %lld, expected %lld", schema, (long long)actual,
                         (long long)expected);
            fingerprints++;
        }
        free(got);
        cases++;
    }
    fclose(f);
    assert_true(cases >= 25);
    assert_true(fingerprints >= 20);
}

static void test_logical_types_and_nesting(void **state) {
    (void)state;
    const char *schema =
        "{\"type\":\"record\",\"name\":\"E\",\"namespace\":\"a.b\",\"doc\":\"d\",\"fields\":["
        "{\"name\":\"id\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},"
        "{\"name\":\"at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}},"
        "{\"name\":\"s\",\"type\":{\"type\":\"enum\",\"name\":\"S\",\"symbols\":[\"x\"]}},"
        "{\"name\":\"t\",\"type\":[\"null\",\"S\"],\"default\":null},"
        "{\"name\":\"r\",\"type\":{\"type\":\"record\",\"name\":\"c.R\",\"fields\":[{\"name\":"
        "\"u\",\"type\":\"R\"}]}}]}";
    char errstr[256];
    char *got = sentinel_schema_canonical_form(schema, strlen(schema), errstr, sizeof(errstr));
    assert_non_null(got);
    assert_string_equal(
        got, "{\"name\":\"a.b.E\",\"type\":\"record\",\"fields\":["
             "{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"at\",\"type\":\"long\"},"
             "{\"name\":\"s\",\"type\":{\"name\":\"a.b.S\",\"type\":\"enum\",\"symbols\":[\"x\"]}},"
             "{\"name\":\"t\",\"type\":[\"null\",\"a.b.S\"]},"
             "{\"name\":\"r\",\"type\":{\"name\":\"c.R\",\"type\":\"record\",\"fields\":"
             "[{\"name\":\"u\",\"type\":\"c.R\"}]}}]}");
    free(got);
}

static void test_bad_schemas(void **state) {
    (void)state;
    char errstr[256];
    assert_null(sentinel_schema_canonical_form("{\"type\":", 8, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "schema JSON"));
    const char *no_name = "{\"type\":\"record\",\"fields\":[]}";
    assert_null(sentinel_schema_canonical_form(no_name, strlen(no_name), errstr, sizeof(errstr)));
    assert_string_equal(errstr, "record schema without a name");
    const char *bad_fields = "{\"type\":\"record\",\"name\":\"x\",\"fields\":{}}";
    assert_null(
        sentinel_schema_canonical_form(bad_fields, strlen(bad_fields), errstr, sizeof(errstr)));
    assert_string_equal(errstr, "record x: fields is not an array");
}

static void test_crc_of_nothing(void **state) {
    (void)state;
    /* The empty input leaves the register at its initial value. */
    assert_true(sentinel_crc64_avro("", 0) == 0xc15d213aa4d7a795ULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_vectors),
        cmocka_unit_test(test_logical_types_and_nesting),
        cmocka_unit_test(test_bad_schemas),
        cmocka_unit_test(test_crc_of_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
