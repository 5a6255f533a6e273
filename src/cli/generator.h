/* generator.h -- a deterministic stream of realistic Sentinel events for the
 * demo, the tests and the benchmarks: review runs with findings and
 * annotations, commands, briefing life cycles with downloads, usage and
 * activity, over fixture workspaces (scripts/fixtures.sql ids), in time
 * order, with optional duplicates, invalid lines and orphan references. */
#ifndef SENTINEL_GENERATOR_H
#define SENTINEL_GENERATOR_H

#include <stdint.h>
#include <stdio.h>

#include <sentinel/sentinel.h>

typedef struct sentinel_gen_options {
    uint64_t seed;
    unsigned long events; /* lines to write, all kinds included */
    int workspaces;       /* fixture workspaces 1..N */
    int repositories;     /* fixture repositories per workspace */
    int64_t start;        /* first occurred_at, microseconds since the epoch */
    int days;             /* span of occurred_at */
    double duplicates;    /* share of lines that repeat an earlier line */
    double invalid;       /* share of lines that are invalid */
    double orphans;       /* share of lines referring to rows that do not exist */
    int hot_workspaces;   /* if > 0, 90% of episodes go to the first this many */
    int time_ordered_ids; /* ids of version 7 (time, then random) instead of 4 */
} sentinel_gen_options_t;

/* Defaults: seed 1, 10000 events, 8 workspaces, 4 repositories, from
 * 2026-10-01 over 30 days, no duplicates, invalid lines or orphans. */
void sentinel_gen_options_init(sentinel_gen_options_t *options);

typedef struct sentinel_gen_stats {
    unsigned long lines;
    unsigned long duplicates;
    unsigned long invalid;
    unsigned long orphans;
} sentinel_gen_stats_t;

/* Write the stream as NDJSON to `out`. stats may be NULL. FATAL on a write
 * error. Memory does not grow with the number of events. */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_generate(const sentinel_gen_options_t *options,
                                                    FILE *out, sentinel_gen_stats_t *stats,
                                                    char *errstr, size_t errstr_size);

#endif
