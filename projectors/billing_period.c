/* billing_period.c -- monthly periods with a clamped anchor day. */
#include "projectors/billing_period.h"

#include "base/timestamp.h"

#define MICROS_PER_DAY 86400000000LL

static int64_t floor_div(int64_t a, int64_t b) {
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Midnight UTC of the anchor day in month (y, m), clamped. */
static int64_t anchor_in(int64_t y, int m, int anchor_day) {
    while (m < 1) {
        m += 12;
        y--;
    }
    while (m > 12) {
        m -= 12;
        y++;
    }
    unsigned last = sentinel_days_in_month(y, (unsigned)m);
    unsigned d = anchor_day < 1 ? 1 : (unsigned)anchor_day > last ? last : (unsigned)anchor_day;
    return sentinel_days_from_civil(y, (unsigned)m, d) * MICROS_PER_DAY;
}

void sentinel_billing_period(int64_t at, int anchor_day, int64_t *start, int64_t *end) {
    int64_t y;
    unsigned m, d;
    sentinel_civil_from_days(floor_div(at, MICROS_PER_DAY), &y, &m, &d);
    if (anchor_day < 1) anchor_day = 1; /* the calendar month */
    int64_t s = anchor_in(y, (int)m, anchor_day);
    int month = (int)m;
    if (at < s) { /* before this month's anchor: the period began last month */
        month -= 1;
        s = anchor_in(y, month, anchor_day);
    }
    *start = s;
    *end = anchor_in(y, month + 1, anchor_day);
}

int sentinel_billing_anchor(int64_t started_at) {
    int64_t y;
    unsigned m, d;
    sentinel_civil_from_days(floor_div(started_at, MICROS_PER_DAY), &y, &m, &d);
    return (int)d;
}

/* The subscription in force at t: the latest started of those covering it,
 * or -1. Ties go to the first listed, the same on every call. */
static long in_force(const sentinel_subscription_span_t *subs, size_t n, int64_t t) {
    long best = -1;
    for (size_t i = 0; i < n; i++) {
        if (subs[i].started_at > t || t >= subs[i].ends_at) continue;
        if (best < 0 || subs[i].started_at > subs[best].started_at) best = (long)i;
    }
    return best;
}

void sentinel_billing_period_in(const sentinel_subscription_span_t *subs, size_t n, int64_t at,
                                int64_t *start, int64_t *end) {
    long which = in_force(subs, n, at);
    /* The stretch around `at` with the same subscription in force: from the
     * latest change at or before it to the first change after it. What is
     * in force changes only where a subscription starts or ends, and is
     * `which` all the way between those two changes. */
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    for (size_t i = 0; i < 2 * n; i++) {
        int64_t b = i < n ? subs[i].started_at : subs[i - n].ends_at;
        if (b == INT64_MAX || b == INT64_MIN) continue;
        if (b <= at && b > lo && in_force(subs, n, b - 1) != which) lo = b;
        if (b > at && b < hi && in_force(subs, n, b) != which) hi = b;
    }
    sentinel_billing_period(at, which < 0 ? 0 : sentinel_billing_anchor(subs[which].started_at),
                            start, end);
    if (*start < lo) *start = lo;
    if (*end > hi) *end = hi;
}
