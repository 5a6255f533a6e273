/* histogram.h -- Prometheus histograms that hot paths fill with relaxed
 * atomics and a metrics server reads and prints: the metrics of
 * `sentinel project` (runtime) and of `sentinel ingest`. */
#ifndef SENTINEL_HISTOGRAM_H
#define SENTINEL_HISTOGRAM_H

#include <stdint.h>
#include <stdio.h>

#define SENTINEL_BUCKETS 16

/* Counts per bucket (not cumulative; the last is +Inf), and the sum in
 * millionths of the unit. Zeroed is empty. */
typedef struct sentinel_histogram {
    uint64_t counts[SENTINEL_BUCKETS + 1];
    uint64_t count, sum_micro;
} sentinel_histogram_t;

/* The bucket of `value` under `bounds` (SENTINEL_BUCKETS upper bounds,
 * ascending); SENTINEL_BUCKETS is +Inf. */
int sentinel_histogram_bucket(const double *bounds, double value);

/* Add one value, or a batch's worth of counts at once (thread-safe). */
void sentinel_histogram_add(sentinel_histogram_t *h, const double *bounds, double value);
void sentinel_histogram_merge(sentinel_histogram_t *h, const uint64_t *counts, uint64_t count,
                              uint64_t sum_micro);

/* Add what `from` holds now to `to` (a reader's total; `to` is private). */
void sentinel_histogram_sum(sentinel_histogram_t *to, const sentinel_histogram_t *from);

/* Print it in the Prometheus text format: metric_bucket{LABELS,le=...},
 * _sum and _count. `labels` is `name="value",...` or "". */
void sentinel_histogram_text(FILE *out, const char *metric, const char *labels,
                             const sentinel_histogram_t *h, const double *bounds);

#endif
