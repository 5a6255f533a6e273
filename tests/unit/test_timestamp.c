/* test_timestamp.c -- RFC 3339 parsing and formatting, calendar arithmetic,
 * UUID syntax. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/timestamp.h"

static int64_t parse_ok(const char *s) {
    int64_t micros = 0;
    char errstr[256];
    if (sentinel_timestamp_parse(s, &micros, errstr, sizeof(errstr))) fail_msg("%s: %s", s, errstr);
    return micros;
}

static void test_parse(void **state) {
    (void)state;
    assert_true(parse_ok("1970-01-01T00:00:00Z") == 0);
    assert_true(parse_ok("2026-11-26T10:15:00.123Z") == 1795688100123000LL);
    assert_true(parse_ok("2026-11-26T12:15:00.123+02:00") == 1795688100123000LL);
    assert_true(parse_ok("2026-11-26t10:15:00.123z") == 1795688100123000LL);
    assert_true(parse_ok("2026-11-26T04:45:00.123-05:30") == 1795688100123000LL);
    assert_true(parse_ok("1969-12-31T23:59:59.999999Z") == -1);
    assert_true(parse_ok("2024-02-29T00:00:00Z") == 1709164800000000LL);
    assert_true(parse_ok("2026-11-26T10:15:00.1Z") == 1795688100100000LL);
}

static void expect_error(const char *s, const char *fragment) {
    int64_t micros;
    char errstr[256];
    if (sentinel_timestamp_parse(s, &micros, errstr, sizeof(errstr)) != SENTINEL_ERR_INVALID)
        fail_msg("%s parsed", s);
    if (!strstr(errstr, fragment)) fail_msg("%s: \"%s\" lacks \"%s\"", s, errstr, fragment);
}

static void test_parse_errors(void **state) {
    (void)state;
    expect_error("2026-11-26T10:15:00", "has no time zone");
    expect_error("2026-11-26 10:15:00Z", "expected 'T'");
    expect_error("2026-13-01T00:00:00Z", "not a valid date");
    expect_error("2025-02-29T00:00:00Z", "not a valid date");
    expect_error("2026-11-26T24:00:00Z", "not a valid date");
    expect_error("2026-11-26T10:15:00.Z", "no digits after");
    expect_error("2026-11-26T10:15:00.1234567Z", "more precise than microseconds");
    expect_error("2026-11-26T10:15:00+2:00", "bad zone offset");
    expect_error("2026-11-26T10:15:00Zjunk", "unexpected text");
    expect_error("26-11-26T10:15:00Z", "not an RFC 3339 date-time");
    expect_error("", "not an RFC 3339 date-time");
}

static void test_format(void **state) {
    (void)state;
    char out[SENTINEL_TIMESTAMP_MAX];
    sentinel_timestamp_format(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    sentinel_timestamp_format(1795688100123000LL, out);
    assert_string_equal(out, "2026-11-26T10:15:00.123Z");
    sentinel_timestamp_format(1795688100123456LL, out);
    assert_string_equal(out, "2026-11-26T10:15:00.123456Z");
    sentinel_timestamp_format(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59.999999Z");
    sentinel_timestamp_format(parse_ok("2000-02-29T23:59:59Z"), out);
    assert_string_equal(out, "2000-02-29T23:59:59Z");
}

static void test_calendar(void **state) {
    (void)state;
    assert_int_equal(sentinel_days_in_month(2024, 2), 29);
    assert_int_equal(sentinel_days_in_month(2100, 2), 28);
    assert_int_equal(sentinel_days_in_month(2000, 2), 29);
    assert_int_equal(sentinel_days_in_month(2026, 4), 30);
    assert_int_equal(sentinel_days_in_month(2026, 12), 31);
    /* Every day from 1900 to 2100 converts both ways. */
    for (int64_t d = sentinel_days_from_civil(1900, 1, 1); d < sentinel_days_from_civil(2100, 1, 1);
         d++) {
        int64_t y;
        unsigned m, day;
        sentinel_civil_from_days(d, &y, &m, &day);
        assert_true(sentinel_days_from_civil(y, m, day) == d);
    }
}

static void test_uuid(void **state) {
    (void)state;
    char out[SENTINEL_UUID_LEN + 1];
    assert_int_equal(sentinel_uuid_normalize("7B0C1E5E-3F0A-4C7E-9A55-2F3C1D2E4B6A", out), 0);
    assert_string_equal(out, "7b0c1e5e-3f0a-4c7e-9a55-2f3c1d2e4b6a");
    assert_int_equal(sentinel_uuid_normalize("7b0c1e5e3f0a4c7e9a552f3c1d2e4b6a", out), -1);
    assert_int_equal(sentinel_uuid_normalize("7b0c1e5e-3f0a-4c7e-9a55-2f3c1d2e4b6a0", out), -1);
    assert_int_equal(sentinel_uuid_normalize("7b0c1e5e-3f0a-4c7e-9a55-2f3c1d2e4b6", out), -1);
    assert_int_equal(sentinel_uuid_normalize("zb0c1e5e-3f0a-4c7e-9a55-2f3c1d2e4b6a", out), -1);
    assert_int_equal(sentinel_uuid_normalize("", out), -1);
}

/* Every byte at every position of a valid UUID, against the rule itself:
 * a dash where the dashes go, a hex digit (either case) everywhere else;
 * the lower-case form written when it holds, the empty string when not. */
static void test_uuid_every_byte(void **state) {
    (void)state;
    const char *valid = "7b0c1e5e-3f0a-4C7E-9a55-2f3c1d2e4b6a";
    char in[SENTINEL_UUID_LEN + 1], out[SENTINEL_UUID_LEN + 1];
    for (int i = 0; i < SENTINEL_UUID_LEN; i++) {
        for (int b = 1; b < 256; b++) {
            memcpy(in, valid, sizeof(in));
            in[i] = (char)b;
            int dash_at = i == 8 || i == 13 || i == 18 || i == 23;
            int ok = dash_at ? b == '-' : isxdigit(b) != 0;
            int got = sentinel_uuid_normalize_n(in, SENTINEL_UUID_LEN, out);
            if (got != (ok ? 0 : -1))
                fail_msg("byte 0x%02x at %d: got %d, want %d", (unsigned)b, i, got, ok ? 0 : -1);
            if (!ok) {
                assert_string_equal(out, ""); /* nothing half-written to use */
                continue;
            }
            for (int k = 0; k < SENTINEL_UUID_LEN; k++)
                assert_int_equal(out[k], tolower((unsigned char)in[k]));
            assert_int_equal(out[SENTINEL_UUID_LEN], '\0');
        }
    }
    assert_int_equal(sentinel_uuid_normalize_n(valid, SENTINEL_UUID_LEN - 1, out), -1);
    assert_int_equal(sentinel_uuid_normalize_n(valid, SENTINEL_UUID_LEN + 1, out), -1);
}

/* A UUID's 16 bytes from its text, for random ids written in random case,
 * by the length or to the NUL; text that is no UUID gives none. */
static void test_uuid_bytes(void **state) {
    (void)state;
    uint64_t x = 0x9E3779B97F4A7C15ull; /* xorshift64 */
    for (int n = 0; n < 20000; n++) {
        unsigned char want[16], got[16];
        char text[SENTINEL_UUID_LEN + 1];
        for (int k = 0; k < 16; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            want[k] = (unsigned char)x;
        }
        const char *digits = (x >> 20) & 1 ? "0123456789ABCDEF" : "0123456789abcdef";
        for (int i = 0, k = 0; k < 16; k++) {
            if (k == 4 || k == 6 || k == 8 || k == 10) text[i++] = '-';
            text[i++] = digits[want[k] >> 4];
            text[i++] = digits[want[k] & 15];
        }
        text[SENTINEL_UUID_LEN] = '\0';
        memset(got, 0, sizeof(got));
        assert_int_equal(sentinel_uuid_bytes(text, got), 0);
        assert_memory_equal(got, want, 16);
        memset(got, 0, sizeof(got));
        assert_int_equal(sentinel_uuid_bytes_n(text, SENTINEL_UUID_LEN, got), 0);
        assert_memory_equal(got, want, 16);
        assert_int_equal(sentinel_uuid_bytes_n(text, SENTINEL_UUID_LEN - 1, got), -1);
        text[(x >> 8) % SENTINEL_UUID_LEN] = 'g';
        assert_int_equal(sentinel_uuid_bytes(text, got), -1);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),      cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_format),     cmocka_unit_test(test_calendar),
        cmocka_unit_test(test_uuid),       cmocka_unit_test(test_uuid_every_byte),
        cmocka_unit_test(test_uuid_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
