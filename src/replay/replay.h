/* replay.h -- re-projecting the log: replays of a range onto the live
 * projection, and rebuilds of a projection from the beginning into shadow
 * tables that are compared with the live ones and swapped in.
 *
 * Both run the projectors' own runtime (projector.h) as bounded runs and
 * record themselves in projection_jobs, which `sentinel status` reads. */
#ifndef SENTINEL_REPLAY_H
#define SENTINEL_REPLAY_H

#include <stdio.h>

#include <sentinel/projector.h>
#include "runtime/run.h"

#define SENTINEL_MAX_WORKERS 8

/* Progress of a long run, every few hundred milliseconds: `done` of
 * `total` events (offsets) in `phase`, at `rate` events per second. */
typedef void (*sentinel_progress_fn)(void *opaque, const char *phase, int64_t done, int64_t total,
                                     double rate);

typedef struct sentinel_replay_options {
    const sentinel_run_options_t *run; /* batch sizes and the stop flag */
    sentinel_progress_fn progress;     /* may be NULL */
    void *progress_opaque;
    FILE *report; /* where outcomes and comparisons are written (NULL: nowhere) */
    /* Runs per projector, each on its own share of the partitions (a
     * workspace's events are all in one partition, so shares are
     * independent); 0: one per CPU, up to two. The runs of a projector
     * share its prefetch budget (16 MiB). */
    int workers;
} sentinel_replay_options_t;

/* A position spec, as the command line takes it: "beginning", "end", an
 * RFC 3339 time, one offset for every partition ("1500"), or per
 * partition ("0:1500,3:20"; partitions not named use `fallback`). Resolved
 * against the log with offsets-for-times, within [low, high] watermarks.
 * Checked without the broker first: */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_position_check(const char *spec, char *errstr,
                                                          size_t errstr_size);

/* Re-apply [from, to) of the log (to NULL: the end as of now) to the live
 * projection of each projector of `set`. Idempotent: events already
 * applied are duplicates; stored offsets are left alone. */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_replay(const sentinel_projector_t *const *set, int n,
                                                  const sentinel_conf_t *conf, const char *from,
                                                  const char *to,
                                                  const sentinel_replay_options_t *options,
                                                  char *errstr, size_t errstr_size);

/* The projectors a rebuild of `requested` must cover: those sharing a
 * table with them, transitively (runs and usage share the daily metrics).
 * In registry order; returns their number. */
int sentinel_rebuild_set(const sentinel_projector_t *const *requested, int n,
                         const sentinel_projector_t **set);

enum sentinel_rebuild_mode {
    SENTINEL_REBUILD_SWAP,    /* build, compare, swap */
    SENTINEL_REBUILD_NO_SWAP, /* build, compare, keep the shadow */
    SENTINEL_REBUILD_ABORT,   /* drop the shadow */
};

/* Rebuild the projection of `set` (closed by sentinel_rebuild_set) from
 * the beginning of the log into shadow tables while the live projection
 * keeps serving, resuming a shadow an interrupted run left; then bring
 * both to the same offsets, compare every table (row counts, checksums,
 * differing rows) and swap them in one transaction. *differences is the
 * number of tables that differed. An interrupted run returns RETRIABLE. */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_rebuild(const sentinel_projector_t *const *set, int n,
                                                   const sentinel_conf_t *conf,
                                                   enum sentinel_rebuild_mode mode,
                                                   const sentinel_replay_options_t *options,
                                                   int *differences, char *errstr,
                                                   size_t errstr_size);

#endif
