/* run.h -- running projectors (the engine's side of the runtime, for the
 * CLI and replay/): a run's options, the projections of a set, the metrics
 * server, dead-letter retries and the projection lock. runtime.h is the
 * folder's own. */
#ifndef SENTINEL_RUN_H
#define SENTINEL_RUN_H

#include <signal.h>

#include <sentinel/conf.h>
#include <sentinel/projector.h>

/* Most projectors one run (or one process) takes. */
#define SENTINEL_MAX_SET 16
/* Most lanes a projector runs in. */
#define SENTINEL_MAX_LANES 8

typedef struct sentinel_run_options {
    int until_caught_up; /* exit once every partition is at its end */
    int batch_events;    /* most events per transaction (default 10000) */
    size_t batch_bytes;  /* most payload bytes per transaction (default 16 MiB) */
    int batch_ms;        /* longest a batch stays open while messages keep coming
                          * (default 200); it closes as soon as the queue runs dry */
    /* Least time between the starts of one projector's transactions while
     * events trickle in (default 50; 0: start as soon as the last one
     * commits). What arrives meanwhile joins the next transaction, so a
     * steady trickle costs a few transactions a second per projector, not
     * one per handful of events; a full batch starts at once. */
    int linger_ms;
    /* Bytes in flight, the one memory setting (default 64 MiB): the
     * consumer's prefetch (a quarter, and one fetch) and the messages read,
     * decoded and waiting in batches for every projector together. The
     * reader waits for the projectors when it is reached. */
    size_t max_in_flight;
    volatile sig_atomic_t *stop; /* set by a signal handler: finish the batch, leave */

    /* Where the projection is: NULL for the live tables in public; a
     * rebuild's shadow schema, put first on the search path, for its copies
     * (offsets, applied ids and dead letters included). */
    const char *schema;
    /* Bounded runs (replays, rebuilds): consume partitions 0..n_partitions-1
     * with an assignment of their own (no consumer group) up to each
     * projection's stop offsets, then return. */
    int n_partitions;
    /* Bounded runs: only the partitions p with partitions_mask[p] set (NULL:
     * all), so several runs can share the partitions. */
    const unsigned char *partitions_mask;
    /* Where the run shows itself (NULL: nowhere): every run of a process
     * registers with one metrics server (sentinel_metrics_start). */
    struct sentinel_metrics *metrics;
    const char *metrics_listen; /* HOST:PORT, as given on the command line */
    /* The consumer's group.instance.id (NULL: a dynamic member): a static
     * member that restarts, even after kill -9, takes its partitions back
     * at once instead of after session.timeout.ms, and a clean stop leaves
     * them waiting for it (up to session.timeout.ms) rather than moving them. */
    const char *instance_id;
    int stall_seconds; /* lag with no commit, or retrying, this long: stalled (60) */
    /* Lanes per projector (default 1, at most SENTINEL_MAX_LANES): each a
     * thread with its own connection and transactions, applying the
     * partitions p with p % lanes its number, so one projector's
     * partitions are applied side by side. A partition stays in its lane;
     * its events stay in order. */
    int lanes;
} sentinel_run_options_t;

#define SENTINEL_MAX_IN_FLIGHT_DEFAULT ((size_t)64 << 20)
#define SENTINEL_MAX_IN_FLIGHT_MIN ((size_t)4 << 20)
/* At most: a quarter is the consumer queue, which librdkafka bounds at 2 GiB. */
#define SENTINEL_MAX_IN_FLIGHT_MAX ((size_t)4 << 30)

void sentinel_run_options_init(sentinel_run_options_t *options);

typedef struct sentinel_projector_stats {
    unsigned long batches;
    unsigned long events; /* messages gone through, from its own offsets */
    unsigned long applied;
    unsigned long duplicates;
    unsigned long rejected;
    unsigned long ignored;
    unsigned long skipped; /* other projectors' event types */
    unsigned long fenced;  /* batches rolled back by the offset compare-and-set */
    unsigned long retries;
} sentinel_projector_stats_t;

/* One projector of a run. */
typedef struct sentinel_projection {
    const sentinel_projector_t *projector;
    /* Bounded runs: apply up to, not including, stop_offsets[p]; the stored
     * offsets end at exactly stop_offsets[p] (those already beyond are left
     * alone). NULL: a live run. */
    const int64_t *stop_offsets;
    /* A replay: start at start_offsets[p] and leave projector_offsets
     * alone; only applied_events says what is new. Needs stop_offsets. */
    const int64_t *start_offsets;
    /* When set (n_partitions of them): the next offset of each partition,
     * updated after every batch, for progress reports. */
    int64_t *positions;
    sentinel_projector_stats_t stats; /* out */
} sentinel_projection_t;

/* What the reader of a run did. */
typedef struct sentinel_reader_stats {
    unsigned long messages; /* read from the topic, each once */
    size_t peak_in_flight;  /* most bytes in flight (prefetch bound included) */
    size_t max_in_flight;   /* the setting */
    unsigned long waits;    /* for room: the projectors set the pace */
    unsigned long pauses;   /* of those, the ones past a second: the consumer paused, and
                             * what it had prefetched is fetched again */
} sentinel_reader_stats_t;

/* Run the projectors set[0..n) on one reader: the topic is read and each
 * message decoded once, every projector applying it from its own stored
 * offsets on its own connection. Blocks until stopped (or caught up, or
 * the bounded runs done). FATAL with the reason (naming the projector) on
 * an error that stops it (out-of-range offset, schema missing, ...): one
 * projector's failure stops the run. reader may be NULL. */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_projections_run(sentinel_projection_t *set, int n,
                                                           const sentinel_conf_t *conf,
                                                           const sentinel_run_options_t *options,
                                                           sentinel_reader_stats_t *reader,
                                                           char *errstr, size_t errstr_size);

/* ---- observing runs ---- */

/* A process's metrics server: Prometheus text at /metrics, /healthz (the
 * loops of its runs turn) and /readyz (partitions assigned, broker and
 * database answering, no projector stalled), served on its own thread by
 * libmicrohttpd. A watchdog looks at every run each second: a projector
 * with lag that has committed nothing for stall_seconds, or has been
 * retrying that long, is stalled; a log line and the metrics say why. */
typedef struct sentinel_metrics sentinel_metrics_t;

/* new: listening on `listen` (HOST:PORT, a numeric IPv4 or IPv6 address or
 * localhost; port 0 picks one). NULL with the reason on failure. */
sentinel_metrics_t *sentinel_metrics_start(const char *listen, const sentinel_conf_t *conf,
                                           int stall_seconds, char *errstr, size_t errstr_size);
/* The port it listens on. */
int sentinel_metrics_port(const sentinel_metrics_t *metrics);
void sentinel_metrics_stop(sentinel_metrics_t *metrics);

/* Re-apply the unresolved dead letters of `projector` on conf's topic
 * (`ids`: a bigint[] literal such as "{3,7}" to choose some, NULL for all),
 * in the order they were rejected, after the data they missed has arrived
 * or a fix shipped. Each applied one is marked resolved; each rejected again
 * keeps its dead letter with the new reason. Idempotent. */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_dead_letters_retry(const sentinel_projector_t *projector,
                                                              const sentinel_conf_t *conf,
                                                              const char *ids, size_t *resolved,
                                                              size_t *still, char *errstr,
                                                              size_t errstr_size);

/* Take the lock of a projection, in the open transaction: shared by every
 * writer (a batch, a replay, a retry) as its first statement; exclusive
 * by a rebuild's swap, which so waits for the writers in flight and holds
 * back the next ones until it commits. `schema` NULL is public. */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_projection_lock(PGconn *conn, const char *schema,
                                                           const char *projector, int exclusive,
                                                           char *errstr, size_t errstr_size);

/* The consumer group of a set of projectors: "<prefix>.<name>" for one,
 * "<prefix>.all" for every registered one, else the names joined by '+'
 * in the registry's order. Written to buf. */
const char *sentinel_projectors_group(const sentinel_conf_t *conf, const sentinel_projection_t *set,
                                      int n, char *buf, size_t size);

#endif
