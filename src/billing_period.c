/* billing_period.c -- monthly periods with a clamped anchor day. */
#include "billing_period.h"

#include "timestamp.h"

#define MICROS_PER_DAY 86400000000LL

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

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
