/* billing_period.h -- the monthly billing period that contains an instant:
 * anchored on the day of month of the subscription's start (clamped to the
 * month's last day: an anchor on the 31st gives Feb 28/29, Apr 30), or the
 * calendar month without a subscription. Periods start at 00:00 UTC of
 * their first day; the end is exclusive. */
#ifndef SENTINEL_BILLING_PERIOD_H
#define SENTINEL_BILLING_PERIOD_H

#include <stdint.h>

/* `at` and the results in microseconds since the epoch (UTC). anchor_day is
 * 1..31, or 0 for the calendar month. */
void sentinel_billing_period(int64_t at, int anchor_day, int64_t *start, int64_t *end);

/* The anchor day (1..31) of a subscription that started at `started_at`. */
int sentinel_billing_anchor(int64_t started_at);

#endif
