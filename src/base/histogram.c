/* histogram.c -- Prometheus histograms filled with relaxed atomics. */
#include "base/histogram.h"

int sentinel_histogram_bucket(const double *bounds, double value) {
    int b = 0;
    while (b < SENTINEL_BUCKETS && value > bounds[b])
        b++;
    return b;
}

void sentinel_histogram_merge(sentinel_histogram_t *h, const uint64_t *counts, uint64_t count,
                              uint64_t sum_micro) {
    for (int b = 0; b <= SENTINEL_BUCKETS; b++)
        if (counts[b]) __atomic_fetch_add(&h->counts[b], counts[b], __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->count, count, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->sum_micro, sum_micro, __ATOMIC_RELAXED);
}

void sentinel_histogram_add(sentinel_histogram_t *h, const double *bounds, double value) {
    uint64_t counts[SENTINEL_BUCKETS + 1] = {0};
    if (value < 0) value = 0;
    counts[sentinel_histogram_bucket(bounds, value)] = 1;
    sentinel_histogram_merge(h, counts, 1, (uint64_t)(value * 1e6));
}

void sentinel_histogram_sum(sentinel_histogram_t *to, const sentinel_histogram_t *from) {
    for (int b = 0; b <= SENTINEL_BUCKETS; b++)
        to->counts[b] += __atomic_load_n(&from->counts[b], __ATOMIC_RELAXED);
    to->count += __atomic_load_n(&from->count, __ATOMIC_RELAXED);
    to->sum_micro += __atomic_load_n(&from->sum_micro, __ATOMIC_RELAXED);
}

void sentinel_histogram_text(FILE *out, const char *metric, const char *labels,
                             const sentinel_histogram_t *h, const double *bounds) {
    const char *comma = labels[0] ? "," : "";
    uint64_t cumulative = 0;
    for (int b = 0; b < SENTINEL_BUCKETS; b++) {
        cumulative += h->counts[b];
        fprintf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", metric, labels, comma, bounds[b],
                (unsigned long long)cumulative);
    }
    fprintf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", metric, labels, comma,
            (unsigned long long)h->count);
    if (labels[0]) {
        fprintf(out, "%s_sum{%s} %.6f\n", metric, labels, h->sum_micro / 1e6);
        fprintf(out, "%s_count{%s} %llu\n", metric, labels, (unsigned long long)h->count);
    } else {
        fprintf(out, "%s_sum %.6f\n", metric, h->sum_micro / 1e6);
        fprintf(out, "%s_count %llu\n", metric, (unsigned long long)h->count);
    }
}
