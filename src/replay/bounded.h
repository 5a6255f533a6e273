/* bounded.h -- what replays (replay.c) and rebuilds (rebuild.c) share:
 * the log's bounds, the projection_jobs row of a run, and bounded runs of
 * a set of projectors on a few readers (bounded.c). Private to replay/. */
#ifndef SENTINEL_REPLAY_BOUNDED_H
#define SENTINEL_REPLAY_BOUNDED_H

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "replay/replay.h"

typedef struct log_bounds {
    rd_kafka_t *rk;
    const char *topic;
    int n;       /* partitions */
    int64_t *lo; /* first offset of each partition */
    int64_t *hi; /* end of each partition, as of the lookup */
} log_bounds_t;

typedef struct job {
    PGconn *conn; /* its own: heartbeats land while other connections hold transactions */
    long long id;
    double started;
    double last_beat;
} job_t;

/* The topic's partitions and their bounds, through a client of its own. */
SENTINEL_MUSTCHECK sentinel_err_t replay_log_open(log_bounds_t *log, const sentinel_conf_t *conf,
                                                  char *errstr, size_t errstr_size);
/* Look the bounds up again. */
SENTINEL_MUSTCHECK sentinel_err_t replay_log_refresh(log_bounds_t *log, char *errstr,
                                                     size_t errstr_size);
void replay_log_clear(log_bounds_t *log);

/* new: a text[] literal of the set's names; the names joined by '+'. */
char *replay_names_array(const sentinel_projector_t *const *set, int n);
char *replay_names_label(const sentinel_projector_t *const *set, int n);

/* A job's own connection (heartbeats land while others hold transactions). */
SENTINEL_MUSTCHECK sentinel_err_t replay_job_open(job_t *job, const sentinel_conf_t *conf,
                                                  char *errstr, size_t errstr_size);
/* What a running job is doing, for `sentinel status`; a heartbeat too. */
void replay_job_phase(job_t *job, const char *phase);
/* Its state and detail; finished unless the state is 'building'. */
void replay_job_finish(job_t *job, const char *state, const char *detail);
void replay_job_close(job_t *job);

/* The stored offsets of a projector (in `schema`, NULL: public); the log
 * start for partitions without a row. */
SENTINEL_MUSTCHECK sentinel_err_t replay_read_offsets(PGconn *conn, const char *schema,
                                                      const char *projector,
                                                      const log_bounds_t *log, int64_t *out,
                                                      char *errstr, size_t errstr_size);

/* Run every projector of the set on a few readers up to `stops` (see
 * bounded.c). */
SENTINEL_MUSTCHECK sentinel_err_t replay_run_set(
    const sentinel_projector_t *const *set, int n, const sentinel_conf_t *conf,
    const sentinel_replay_options_t *o, const char *schema, const char *phase,
    const log_bounds_t *log, const int64_t *starts, const int64_t *stops, const int64_t *base,
    job_t *job, sentinel_projector_stats_t *sum, char *errstr, size_t errstr_size);

/* A line to the options' report stream, if any. */
void replay_report(const sentinel_replay_options_t *o, const char *fmt, ...) SENTINEL_PRINTF(2, 3);

/* This host's name, for the job rows. */
char *replay_host_name(char *buf, size_t size);

#endif
