/* billing_period.h -- the monthly billing period that contains an instant:
 * anchored on the day of month of the subscription's start (clamped to the
 * month's last day: an anchor on the 31st gives Feb 28/29, Apr 30), or the
 * calendar month without a subscription. Periods start at 00:00 UTC of
 * their first day; the end is exclusive. */
#ifndef SENTINEL_BILLING_PERIOD_H
#define SENTINEL_BILLING_PERIOD_H

#include <stddef.h>
#include <stdint.h>

/* `at` and the results in microseconds since the epoch (UTC). anchor_day is
 * 1..31, or 0 for the calendar month. */
void sentinel_billing_period(int64_t at, int anchor_day, int64_t *start, int64_t *end);

/* The anchor day (1..31) of a subscription that started at `started_at`. */
int sentinel_billing_anchor(int64_t started_at);

/* A workspace's subscription as the control plane records it: in force
 * from started_at to ends_at (INT64_MAX when open), unless a later-started
 * one is in force too. */
typedef struct sentinel_subscription_span {
    int64_t started_at, ends_at;
} sentinel_subscription_span_t;

/* The billing period of `at` for a workspace whose subscriptions are
 * subs[0..n): the period, anchored on the subscription in force at `at`
 * (the latest started among those covering it; none: the calendar month),
 * cut to the stretch of time in which that same subscription is in force.
 * So the periods of one workspace never overlap, whatever its history of
 * subscriptions. */
void sentinel_billing_period_in(const sentinel_subscription_span_t *subs, size_t n, int64_t at,
                                int64_t *start, int64_t *end);

#endif
