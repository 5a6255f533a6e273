/* runtime.h -- the parts of the projector runtime, shared by its files and
 * by nothing else (projectors see projector.h only).
 *
 * The shape: one *reader* (reader.c, positions.c) consumes the topic once for every
 * projector of the process, decodes each message at most once and hands
 * the messages out in *chunks* (a run of messages and the log ranges they
 * cover). Each projector is a *projection* (worker.c), a thread with its
 * own PostgreSQL connection and its own stored offsets, which takes the
 * chunks in order, keeps what it handles and has not applied yet, and
 * applies it in one transaction (store.c) while the reader reads on. A
 * chunk is freed when every projection is done with it; the bytes of the
 * chunks alive are bounded by the run's memory setting. */
#ifndef SENTINEL_RUNTIME_H
#define SENTINEL_RUNTIME_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>

#include <sentinel/projector.h>
#include "base/histogram.h"
#include "runtime/run.h"

/* Partitions a topic may have for a run (their state is preallocated so
 * the threads can share it without reallocation). */
#define RT_MAX_PARTITIONS 1024
/* Projections one run may have: every projector in every lane. */
#define RT_MAX_PROJECTIONS (SENTINEL_MAX_SET * SENTINEL_MAX_LANES)

/* ---------------------------------------------------------------- messages */

/* One consumed record, decoded at most once, shared read-only by the
 * projections once handed out. */
typedef struct rt_message {
    rd_kafka_message_t *msg;           /* owned */
    const sentinel_event_type_t *type; /* by fingerprint or decode; NULL: unknown */
    char *claimed_type;                /* owned: the event_type header of an unknown one */
    int decoded;
    sentinel_event_t ev;
    char *error;   /* owned: why it does not decode */
    size_t charge; /* bytes charged to the memory budget */
} rt_message_t;

void rt_message_clear(rt_message_t *m);
/* Whether m's event_type header (when it did not decode by fingerprint)
 * names a type some projector of the registry handles: only then does the
 * header route it. */
int rt_claim_routes(const rt_message_t *m);
/* Whether `p` has to see m: a type it handles, or a message nobody can
 * route (each projector then dead-letters it). */
int rt_message_for(const rt_message_t *m, const sentinel_projector_t *p);
int rt_handles(const sentinel_projector_t *p, const char *type, size_t len);

/* What a chunk says about one partition: every message of it with an offset
 * in [from, to) that a consumer can see is in the chunk. `gen` is the
 * reader's generation of the partition when it read them: a revocation or a
 * seek makes older ranges stale. */
typedef struct rt_span {
    int32_t partition;
    int64_t from, to;
    unsigned gen;
} rt_span_t;

typedef struct rt_chunk {
    rt_message_t *msgs;
    size_t n, cap;
    rt_span_t *spans;
    int n_spans, cap_spans;
    size_t bytes;      /* charged to the memory budget */
    size_t payload;    /* of the messages, as read */
    unsigned long seq; /* 1, 2, ... in reading order */
    int refs;          /* projections not done with it */
    struct rt_chunk *next;
} rt_chunk_t;

void rt_chunk_free(rt_chunk_t *c);

/* ---------------------------------------------------------------- items */

enum rt_status {
    ITEM_PENDING = 0, /* handled type, decoded, not yet classified */
    ITEM_NEW,         /* first delivery of its event id: given to apply */
    ITEM_DUPLICATE,   /* event id already applied */
    ITEM_REJECTED,    /* dead-lettered */
    ITEM_IGNORED,     /* applied as a no-op */
};

/* A message as one projection sees it. */
typedef struct rt_item {
    rt_message_t *m; /* borrowed from a chunk (owned by a retry) */
    enum rt_status status;
    char *reason;          /* owned, for REJECTED */
    int poisoned;          /* the database refused it alone: REJECTED for good */
    long long dead_letter; /* a retry's dead letter, else 0 */
} rt_item_t;

void rt_item_clear(rt_item_t *it);
/* Items back to their state before a transaction, for another attempt. */
void rt_items_reset(rt_item_t *items, size_t count);

struct sentinel_batch {
    rt_item_t **events; /* the NEW items, in log order */
    size_t n;
    const char *topic;
};

/* ---------------------------------------------------------------- projections */

typedef struct rt_part {
    int known;        /* `expected` holds */
    unsigned gen;     /* the reader's generation it was taken at */
    int64_t expected; /* next offset to apply (as stored, unless a replay) */
    int64_t stop;     /* bounded runs: the first offset not to apply, else -1 */
    int in_view;      /* the current view reaches this partition */
    int64_t view_pos; /* while building a view: how far it reaches */
    int64_t lo, hi;   /* while building a view: this chunk's accepted offsets */
    int in_batch;     /* advanced by the transaction at hand */
    int64_t last;     /* the last offset the transaction covers */
    unsigned asked;   /* the generation a reload was asked for, to ask once */
    unsigned lost;    /* rt->lost when `expected` was last taken from the stored offsets */
} rt_part_t;

typedef struct rt_runtime rt_runtime_t;

/* ---------------------------------------------------------------- observed */

/* What a projection shows while it runs (metrics.c reads it). */
typedef struct rt_observed {
    sentinel_histogram_t batch_seconds, batch_events, freshness_seconds;
    int64_t last_commit_us;   /* wall clock of the last commit, 0: none yet */
    int64_t failing_since_us; /* wall clock of the first failed attempt in a row, 0: none */
    int64_t heartbeat_us;     /* wall clock of the thread's last turn */
    int64_t position[RT_MAX_PARTITIONS]; /* next offset to apply, -1: not known yet */
    /* The watchdog's (under the metrics server's lock). */
    int stalled;
    char stall_reason[256];
} rt_observed_t;

/* Bucket bounds of the three histograms (metrics.c). */
extern const double rt_batch_seconds_bounds[SENTINEL_BUCKETS],
    rt_batch_events_bounds[SENTINEL_BUCKETS], rt_freshness_bounds[SENTINEL_BUCKETS];

typedef struct rt_projection {
    rt_runtime_t *rt;
    const sentinel_projector_t *p;
    sentinel_projection_t *run; /* the caller's: bounds, positions, stats (shared by lanes) */
    int lane;                   /* it applies the partitions p with p % rt->lanes == lane */
    PGconn *pg;
    rt_part_t parts[RT_MAX_PARTITIONS];
    rt_item_t *items;
    size_t n_items, cap_items;
    size_t last_items;      /* of the last view, for the log */
    unsigned long next_seq; /* the next chunk to take */
    double began;           /* monotonic seconds the last transaction was started at */
    pthread_t thread;
    int started;
    sentinel_err_t err;
    char errstr[1024];
    rt_observed_t obs;
} rt_projection_t;

/* ---------------------------------------------------------------- the runtime */

typedef struct rt_reader_part {
    int assigned;
    unsigned gen;
    int64_t pos;    /* the next offset the reader expects */
    int64_t eof_at; /* the end of the log seen at this offset, -1 if not at it */
    int64_t stop;   /* bounded runs: the first offset no projection wants, else -1 */
    int done;       /* bounded runs: reached stop */
    int reload;     /* a projection asked for the stored offsets to be read again */
    int pending;    /* assigned, paused until its stored offsets can be read */
    int span;       /* index of its span in the chunk being filled, -1 */
} rt_reader_part_t;

struct rt_runtime {
    const sentinel_conf_t *conf;
    const sentinel_run_options_t *opt;
    const char *topic;
    rt_projection_t *proj; /* projector j's lane l at j * lanes + l */
    int n;                 /* projections: projectors times lanes */
    int lanes;
    rd_kafka_t *rk;
    PGconn *pg; /* the reader's: stored offsets, progress checks */
    sentinel_codec_t *codec;
    char group[256];
    int assigned_once;

    /* Shared with the projections, under lock. */
    pthread_mutex_t lock;
    pthread_cond_t more; /* a chunk was added, or the run ends */
    pthread_cond_t room; /* a chunk was freed */
    /* Chunks every projection is done with, for the reclaimer to free:
     * a backlog's slowest projection would otherwise spend a fifth of its
     * thread freeing thousands of decoded events a chunk, on the critical
     * path. They count in flight until freed. */
    rt_chunk_t *garbage;
    pthread_cond_t litter; /* garbage was added, or the reclaimer must stop */
    pthread_t reclaimer;
    int reclaiming; /* the reclaimer runs */
    int reclaim_stop;
    pthread_t analyzer; /* statistics.c */
    int analyzing;      /* the analyzer runs */
    int statistics_stop;
    rt_reader_part_t parts[RT_MAX_PARTITIONS];
    /* assigned[j * RT_MAX_PARTITIONS + p]: projection j's offset of p as
     * read when the partition's generation began. */
    int64_t *assigned;
    rt_chunk_t *head, *tail;
    unsigned long seq;
    size_t in_flight, peak, budget;
    int closed;        /* no more chunks will come */
    int any_reload;    /* some parts[].reload is set */
    unsigned lost;     /* connections found broken (rt_connection_lost) */
    volatile int halt; /* a projection failed: everyone stops */

    rt_chunk_t *filling; /* the reader's, not yet handed out */
    unsigned long messages;
    unsigned long waits;  /* for room, a chunk full */
    unsigned long pauses; /* of the consumer, waiting for room past the quiet wait */
    char fatal[1024];

    /* Observed (metrics.c), by relaxed atomics. */
    int64_t heartbeat_us;             /* wall clock of the reader's last turn */
    int64_t brokers_down_us;          /* since when no broker answers, 0: they do */
    struct rt_runtime *next_observed; /* the metrics server's list */
};

/* Whether partition p is in projection pj's lane. */
static inline int rt_in_lane(const rt_projection_t *pj, int32_t p) {
    return p % pj->rt->lanes == pj->lane;
}

/* ---------------------------------------------------------------- positions.c */

/* Partition p was revoked or sought: what the chunk being filled holds of
 * it goes. */
void rt_forget(rt_runtime_t *rt, int32_t p);

/* Partition p is done (a bounded run reached its stops); `pause` it too. */
void rt_stop_partition(rt_runtime_t *rt, int32_t p, int pause);
/* The consumer group's assignments and revocations (librdkafka's callback;
 * opaque is the runtime). */
void rt_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                     rd_kafka_topic_partition_list_t *parts, void *opaque);
/* Read the stored offsets again for the partitions projections asked for
 * (after a fence, or a gap), and seek there. */
SENTINEL_MUSTCHECK sentinel_err_t rt_reload(rt_runtime_t *rt, char *errstr, size_t errstr_size);
/* Assign the partitions of a bounded run (those of its mask) from the
 * projections' starts up to their stops. */
SENTINEL_MUSTCHECK sentinel_err_t rt_assign_bounded(rt_runtime_t *rt, char *errstr,
                                                    size_t errstr_size);

/* ---------------------------------------------------------------- state.c */

/* A bounded run (a replay's or a rebuild's): projections have stop offsets. */
int rt_bounded(const rt_runtime_t *rt);
/* Whether the run should stop now (asked by a signal, or a failure). */
int rt_stopping(const rt_runtime_t *rt);
/* The reclaimer: frees the chunks release() leaves it. */
void *rt_reclaim_main(void *arg);
/* A daemon (plain `sentinel project`) waits out every failure; scripts
 * give up on what waiting cannot fix. */
int rt_is_daemon(const rt_runtime_t *rt);
/* Sleep before retry `attempt`, waking early when asked to stop. */
void rt_backoff(const rt_runtime_t *rt, int attempt);
/* Wait on cond (rt->lock held) for at most a tenth of a second: a stop
 * asked by a signal handler wakes no one, so waiters look again. */
void rt_wait(rt_runtime_t *rt, pthread_cond_t *cond);
/* The same, for at most `seconds` (and never more than a tenth). */
void rt_wait_for(rt_runtime_t *rt, pthread_cond_t *cond, double seconds);
/* Stop the run with this reason (the first one wins). */
void rt_fail(rt_runtime_t *rt, const char *fmt, ...) SENTINEL_PRINTF(2, 3);
/* Called by a projection (without the lock held) when its idea of a
 * partition no longer fits the log it is handed: the reader reads the
 * stored offsets again and reads on from the lowest. */
void rt_ask_reload(rt_projection_t *pj, int32_t partition);
/* Called (without the lock held) when a connection to the server broke.
 * A crash or an immediate shutdown loses the last asynchronous commits,
 * offsets with the rows; a projection learns of it at its next batch of
 * that partition, and a partition that gets no more events would stay
 * short of its log (and a run until caught up would never end). So every
 * partition's stored offsets are read again, and each projection reads on
 * from its own. Runs that store no offsets (replays) commit durably and
 * are left alone. */
void rt_connection_lost(rt_runtime_t *rt);

/* ---------------------------------------------------------------- statistics.c */

/* The analyzer: every few seconds, on a connection of its own, has the
 * server analyze the run's tables that grew fourfold since their last
 * statistics, until statistics_stop is set or the run stops. */
void *rt_statistics_main(void *arg);

/* ---------------------------------------------------------------- store.c */

/* (Re)connect *pg for the runtime: session settings, the shadow schema
 * first on the search path, the tables there. `durable`: synchronous
 * commit (when no stored offset fences a lost commit). */
sentinel_err_t rt_connect(const rt_runtime_t *rt, PGconn **pg, int durable, char *errstr,
                          size_t errstr_size);
/* The stored offset of each projector of projectors[0..n) for `partition`,
 * rows created at `log_start` where missing, into out[0..n). */
sentinel_err_t rt_load_offsets(PGconn *pg, const char *topic, const char *const *projectors, int n,
                               int32_t partition, int64_t log_start, int64_t *out, char *errstr,
                               size_t errstr_size);
/* One attempt at the transaction of items[0..count) (none: offsets only)
 * of projection pj, advancing its partitions marked in_batch. *fenced is
 * set when another consumer moved an offset first. */
sentinel_err_t rt_apply_once(rt_projection_t *pj, rt_item_t *items, size_t count, int *fenced,
                             char *errstr, size_t errstr_size);
/* The stored offset of projector/partition (-1 without a row). */
sentinel_err_t rt_stored_offset(PGconn *pg, const char *projector, const char *topic,
                                int32_t partition, int64_t *out, char *errstr, size_t errstr_size);
/* Claim the idempotency keys of items; the first delivery of each is NEW
 * (types proven by rows: unless rejected before). */
sentinel_err_t rt_deduplicate(PGconn *pg, const sentinel_projector_t *p, rt_item_t *items,
                              size_t count, char *errstr, size_t errstr_size);
/* The keys of the rejected items of types proven by rows, so their
 * redeliveries are duplicates as every dead letter's are. */
sentinel_err_t rt_claim_rejected(PGconn *pg, const sentinel_projector_t *p, rt_item_t *items,
                                 size_t count, char *errstr, size_t errstr_size);
sentinel_err_t rt_reject_unknown_workspaces(PGconn *pg, rt_item_t *items, size_t count,
                                            char *errstr, size_t errstr_size);
/* Hand the NEW items to the projector's apply (or prepare). */
sentinel_err_t rt_run_handler(const sentinel_projector_t *p, int prepare, PGconn *pg,
                              const char *topic, rt_item_t *items, size_t count, char *errstr,
                              size_t errstr_size);

/* ---------------------------------------------------------------- metrics.c */

/* Show the run on options->metrics (when set) while it runs. */
void rt_observe_start(rt_runtime_t *rt);
void rt_observe_stop(rt_runtime_t *rt);
/* A projection committed the batch of its items[0..count), which took
 * `seconds`; its positions moved. */
void rt_observe_commit(rt_projection_t *pj, size_t count, double seconds);

/* ---------------------------------------------------------------- worker.c */

void *rt_projection_main(void *arg);

#endif
