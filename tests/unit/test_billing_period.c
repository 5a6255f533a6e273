/* test_billing_period.c -- billing periods: calendar months, anchors on
 * 29/30/31 clamped to short months, leap years, instants exactly at a
 * boundary, and instants given with a non-UTC offset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/timestamp.h"
#include "projectors/billing_period.h"

static int64_t ts(const char *s) {
    int64_t v;
    char errstr[128];
    if (sentinel_timestamp_parse(s, &v, errstr, sizeof(errstr))) fail_msg("%s: %s", s, errstr);
    return v;
}

static void expect(const char *at, int anchor, const char *start, const char *end) {
    int64_t s, e;
    sentinel_billing_period(ts(at), anchor, &s, &e);
    char got_s[SENTINEL_TIMESTAMP_MAX], got_e[SENTINEL_TIMESTAMP_MAX];
    sentinel_timestamp_format(s, got_s);
    sentinel_timestamp_format(e, got_e);
    if (strcmp(got_s, start) || strcmp(got_e, end))
        fail_msg("%s anchor %d: [%s, %s), expected [%s, %s)", at, anchor, got_s, got_e, start, end);
}

static void test_calendar_month(void **state) {
    (void)state;
    expect("2026-11-26T10:15:00Z", 0, "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z");
    expect("2026-12-31T23:59:59.999999Z", 0, "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z");
    expect("2027-01-01T00:00:00Z", 0, "2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z");
    expect("2024-02-29T12:00:00Z", 0, "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z");
}

static void test_anchor_mid_month(void **state) {
    (void)state;
    expect("2026-11-26T10:15:00Z", 15, "2026-11-15T00:00:00Z", "2026-12-15T00:00:00Z");
    expect("2026-11-14T23:59:59Z", 15, "2026-10-15T00:00:00Z", "2026-11-15T00:00:00Z");
    /* Exactly at the boundary: the new period. */
    expect("2026-11-15T00:00:00Z", 15, "2026-11-15T00:00:00Z", "2026-12-15T00:00:00Z");
    expect("2027-01-03T00:00:00Z", 15, "2026-12-15T00:00:00Z", "2027-01-15T00:00:00Z");
}

static void test_anchor_clamped(void **state) {
    (void)state;
    /* On the 31st: February ends on the 28th (or 29th), April on the 30th. */
    expect("2026-02-28T00:00:00Z", 31, "2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z");
    expect("2026-02-27T23:59:59Z", 31, "2026-01-31T00:00:00Z", "2026-02-28T00:00:00Z");
    expect("2024-02-29T00:00:00Z", 31, "2024-02-29T00:00:00Z", "2024-03-31T00:00:00Z");
    expect("2024-02-28T12:00:00Z", 31, "2024-01-31T00:00:00Z", "2024-02-29T00:00:00Z");
    expect("2026-04-30T08:00:00Z", 31, "2026-04-30T00:00:00Z", "2026-05-31T00:00:00Z");
    expect("2026-05-30T08:00:00Z", 31, "2026-04-30T00:00:00Z", "2026-05-31T00:00:00Z");
    /* On the 30th and 29th. */
    expect("2026-03-01T00:00:00Z", 30, "2026-02-28T00:00:00Z", "2026-03-30T00:00:00Z");
    expect("2026-02-28T00:00:00Z", 29, "2026-02-28T00:00:00Z", "2026-03-29T00:00:00Z");
    expect("2028-02-29T00:00:00Z", 29, "2028-02-29T00:00:00Z", "2028-03-29T00:00:00Z");
    expect("2028-02-28T23:00:00Z", 29, "2028-01-29T00:00:00Z", "2028-02-29T00:00:00Z");
    /* Across the year. */
    expect("2027-01-10T00:00:00Z", 31, "2026-12-31T00:00:00Z", "2027-01-31T00:00:00Z");
}

static void test_offsets(void **state) {
    (void)state;
    /* 23:30 on Nov 14 in New York is 04:30 UTC on Nov 15: the new period. */
    expect("2026-11-14T23:30:00-05:00", 15, "2026-11-15T00:00:00Z", "2026-12-15T00:00:00Z");
    /* 01:00 on Dec 1 in Berlin is still November in UTC. */
    expect("2026-12-01T01:00:00+02:00", 0, "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z");
}

static void test_anchor_of_start(void **state) {
    (void)state;
    assert_int_equal(sentinel_billing_anchor(ts("2025-01-31T18:00:00Z")), 31);
    assert_int_equal(sentinel_billing_anchor(ts("2025-02-01T01:00:00+02:00")), 31); /* Jan 31 UTC */
    assert_int_equal(sentinel_billing_anchor(ts("2025-01-15T00:00:00Z")), 15);
}

static void expect_in(const sentinel_subscription_span_t *subs, size_t n, const char *at,
                      const char *start, const char *end) {
    int64_t s, e;
    sentinel_billing_period_in(subs, n, ts(at), &s, &e);
    char got_s[SENTINEL_TIMESTAMP_MAX], got_e[SENTINEL_TIMESTAMP_MAX];
    sentinel_timestamp_format(s, got_s);
    sentinel_timestamp_format(e, got_e);
    if (strcmp(got_s, start) || strcmp(got_e, end))
        fail_msg("%s: [%s, %s), expected [%s, %s)", at, got_s, got_e, start, end);
}

/* A subscription change: periods are cut where what is in force changes,
 * so no two overlap. */
static void test_subscription_history(void **state) {
    (void)state;
    sentinel_subscription_span_t subs[] = {
        {ts("2026-01-15T00:00:00Z"), ts("2026-04-01T00:00:00Z")}, /* anchored on the 15th */
        {ts("2026-04-01T00:00:00Z"), INT64_MAX},                  /* then on the 1st */
    };
    expect_in(subs, 2, "2026-01-10T00:00:00Z", "2026-01-01T00:00:00Z", "2026-01-15T00:00:00Z");
    expect_in(subs, 2, "2026-02-20T00:00:00Z", "2026-02-15T00:00:00Z", "2026-03-15T00:00:00Z");
    expect_in(subs, 2, "2026-03-20T00:00:00Z", "2026-03-15T00:00:00Z", "2026-04-01T00:00:00Z");
    expect_in(subs, 2, "2026-04-05T00:00:00Z", "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z");
    /* An upgrade that starts while the first is still open: the later one
     * is in force from its start. */
    sentinel_subscription_span_t open[] = {
        {ts("2026-01-15T00:00:00Z"), INT64_MAX},
        {ts("2026-03-20T12:00:00Z"), INT64_MAX}, /* anchored on the 20th */
    };
    expect_in(open, 2, "2026-03-18T00:00:00Z", "2026-03-15T00:00:00Z", "2026-03-20T12:00:00Z");
    expect_in(open, 2, "2026-03-21T00:00:00Z", "2026-03-20T12:00:00Z", "2026-04-20T00:00:00Z");
    /* A gap between two subscriptions: the calendar month, cut. */
    sentinel_subscription_span_t gap[] = {
        {ts("2026-01-15T00:00:00Z"), ts("2026-02-10T00:00:00Z")},
        {ts("2026-03-25T00:00:00Z"), INT64_MAX},
    };
    expect_in(gap, 2, "2026-02-12T00:00:00Z", "2026-02-10T00:00:00Z", "2026-03-01T00:00:00Z");
    expect_in(gap, 2, "2026-03-02T00:00:00Z", "2026-03-01T00:00:00Z", "2026-03-25T00:00:00Z");
    expect_in(gap, 0, "2026-03-02T00:00:00Z", "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z");
    /* Every instant of a year of this history is in exactly one period. */
    int64_t prev_end = 0;
    for (int64_t t = ts("2026-01-01T00:00:00Z"); t < ts("2027-01-01T00:00:00Z");
         t += 3600000000LL) {
        int64_t s, e;
        sentinel_billing_period_in(gap, 2, t, &s, &e);
        assert_true(s <= t && t < e);
        if (prev_end && t >= prev_end) assert_int_equal(s, prev_end);
        if (!prev_end || t >= prev_end) prev_end = e;
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calendar_month),  cmocka_unit_test(test_anchor_mid_month),
        cmocka_unit_test(test_anchor_clamped),  cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_anchor_of_start), cmocka_unit_test(test_subscription_history),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
