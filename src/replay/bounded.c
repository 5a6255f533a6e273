/* bounded.c -- bounded runs of the projector runtime for replays and
 * rebuilds: the log's bounds, the partitions shared among a few readers,
 * progress, and the projection_jobs row of each run. */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/kafka_conf.h"
#include "base/log.h"
#include "base/timestamp.h"
#include "base/topic.h"
#include "pg/array.h"
#include "pg/db.h"
#include "replay/bounded.h"
#include "runtime/run.h"

/* ---------------------------------------------------------------- the log */

void replay_log_clear(log_bounds_t *log) {
    if (log->rk) rd_kafka_destroy(log->rk);
    free(log->lo);
    free(log->hi);
    memset(log, 0, sizeof(*log));
}

sentinel_err_t replay_log_refresh(log_bounds_t *log, char *errstr, size_t errstr_size) {
    rd_kafka_resp_err_t kerr =
        sentinel_topic_bounds(log->rk, log->topic, 0, log->n, log->lo, log->hi, 15000);
    if (kerr) {
        snprintf(errstr, errstr_size, "%s: watermarks: %s", log->topic, rd_kafka_err2str(kerr));
        return SENTINEL_ERR_RETRIABLE;
    }
    return SENTINEL_OK;
}

sentinel_err_t replay_log_open(log_bounds_t *log, const sentinel_conf_t *conf, char *errstr,
                               size_t errstr_size) {
    memset(log, 0, sizeof(*log));
    log->topic = sentinel_conf_topic(conf);
    static const char *const defaults[] = {"group.id", "sentinel.replay", NULL};
    rd_kafka_conf_t *kconf = sentinel_conf_kafka_new(conf, defaults, errstr, errstr_size);
    if (!kconf) return SENTINEL_ERR_FATAL;
    log->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, errstr, errstr_size);
    if (!log->rk) {
        rd_kafka_conf_destroy(kconf);
        return SENTINEL_ERR_FATAL;
    }
    log->n = sentinel_topic_partitions(log->rk, log->topic, errstr, errstr_size);
    if (log->n <= 0) {
        if (!log->n) snprintf(errstr, errstr_size, "%s has no partitions", log->topic);
        replay_log_clear(log);
        return SENTINEL_ERR_FATAL;
    }
    log->lo = sentinel_calloc((size_t)log->n, sizeof(int64_t));
    log->hi = sentinel_calloc((size_t)log->n, sizeof(int64_t));
    sentinel_err_t err = replay_log_refresh(log, errstr, errstr_size);
    if (err) replay_log_clear(log);
    return err;
}

/* ---------------------------------------------------------------- jobs */

/* A text[] literal of the set's names. */
char *replay_names_array(const sentinel_projector_t *const *set, int n) {
    sentinel_array_t a = {0};
    for (int i = 0; i < n; i++)
        sentinel_array_add(&a, set[i]->name);
    char *s = sentinel_strdup(sentinel_array_text(&a));
    sentinel_array_free(&a);
    return s;
}

char *replay_names_label(const sentinel_projector_t *const *set, int n) {
    char *label = sentinel_strdup("");
    for (int i = 0; i < n; i++) {
        char *longer = sentinel_aprintf("%s%s%s", label, i ? "+" : "", set[i]->name);
        free(label);
        label = longer;
    }
    return label;
}

/* One update of the job's row; a connection a server restart broke is
 * opened again, so the row keeps up after the database comes back. */
static void job_update(job_t *job, const char *sql, int n, const char *const *params) {
    char errstr[256];
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!sentinel_db_params(job->conn, sql, n, params, NULL, errstr, sizeof(errstr))) return;
        if (PQstatus(job->conn) == CONNECTION_OK) break;
        PQreset(job->conn);
        if (PQstatus(job->conn) == CONNECTION_OK &&
            sentinel_db_exec(job->conn, "SET TIME ZONE 'UTC'", errstr, sizeof(errstr)))
            break;
    }
    sentinel_warn("projection_jobs: %s", errstr);
}

static void job_beat(job_t *job, int64_t done, int64_t total, int force) {
    double t = sentinel_monotonic_seconds();
    if (!job->conn || !job->id || (!force && t - job->last_beat < 2)) return;
    job->last_beat = t;
    char id[32], d[32], tot[32];
    snprintf(id, sizeof(id), "%lld", job->id);
    snprintf(d, sizeof(d), "%lld", (long long)done);
    snprintf(tot, sizeof(tot), "%lld", (long long)total);
    const char *params[3] = {id, d, tot};
    job_update(
        job,
        "UPDATE projection_jobs SET events_done = $2, events_total = $3, heartbeat_at = now() "
        "WHERE id = $1",
        3, params);
}

/* What a running job is doing, for `sentinel status`; a heartbeat too. */
void replay_job_phase(job_t *job, const char *phase) {
    if (!job || !job->conn || !job->id) return;
    char id[32], detail[128];
    snprintf(id, sizeof(id), "%lld", job->id);
    snprintf(detail, sizeof(detail), "phase: %s", phase);
    const char *params[2] = {id, detail};
    job_update(job, "UPDATE projection_jobs SET detail = $2, heartbeat_at = now() WHERE id = $1", 2,
               params);
}

void replay_job_finish(job_t *job, const char *state, const char *detail) {
    if (!job->conn || !job->id) return;
    char id[32];
    snprintf(id, sizeof(id), "%lld", job->id);
    const char *params[3] = {id, state, detail};
    job_update(job,
               "UPDATE projection_jobs SET state = $2, detail = $3, finished_at = "
               "CASE WHEN $2 = 'building' THEN NULL ELSE now() END, heartbeat_at = now() "
               "WHERE id = $1",
               3, params);
}

sentinel_err_t replay_job_open(job_t *job, const sentinel_conf_t *conf, char *errstr,
                               size_t errstr_size) {
    memset(job, 0, sizeof(*job));
    job->started = sentinel_monotonic_seconds();
    job->conn = sentinel_db_open(sentinel_conf_db(conf), sentinel_conf_connect_timeout(conf), NULL,
                                 errstr, errstr_size);
    if (!job->conn) return SENTINEL_ERR_RETRIABLE;
    return sentinel_db_exec(job->conn,
                            "SET client_min_messages = warning; SET application_name = "
                            "'sentinel-replay'",
                            errstr, errstr_size);
}

void replay_job_close(job_t *job) {
    if (job->conn) PQfinish(job->conn);
    job->conn = NULL;
}

/* ---------------------------------------------------------------- bounded runs of a set */

/* One reader over a share of the partitions, for every projector of the
 * set. */
typedef struct set_run {
    const sentinel_conf_t *conf;
    sentinel_run_options_t options;
    sentinel_projection_t set[SENTINEL_MAX_SET];
    int n;
    sentinel_err_t err;
    char errstr[1024];
    int finished;
    pthread_t thread;
} set_run_t;

static void *set_run_main(void *arg) {
    set_run_t *run = arg;
    run->err = sentinel_projections_run(run->set, run->n, run->conf, &run->options, NULL,
                                        run->errstr, sizeof(run->errstr));
    __atomic_store_n(&run->finished, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* The stored offsets of a projector (in `schema`, NULL: public); the log
 * start for partitions without a row. */
sentinel_err_t replay_read_offsets(PGconn *conn, const char *schema, const char *projector,
                                   const log_bounds_t *log, int64_t *out, char *errstr,
                                   size_t errstr_size) {
    const char *nsp = schema ? schema : "public";
    char *quoted = PQescapeIdentifier(conn, nsp, strlen(nsp));
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT partition, next_offset FROM %s.projector_offsets "
             "WHERE projector = $1 AND topic = $2",
             quoted ? quoted : "public");
    PQfreemem(quoted);
    const char *params[2] = {projector, log->topic};
    PGresult *res = NULL;
    sentinel_err_t err = sentinel_db_params(conn, sql, 2, params, &res, errstr, errstr_size);
    if (err) return err;
    for (int p = 0; p < log->n; p++)
        out[p] = log->lo[p];
    for (int k = 0; k < PQntuples(res); k++) {
        int p = atoi(PQgetvalue(res, k, 0));
        if (p < log->n) out[p] = atoll(PQgetvalue(res, k, 1));
    }
    PQclear(res);
    return SENTINEL_OK;
}

/* Share the partitions among `workers` runs, heaviest first (what the
 * projectors of the set have left to read of it, together) to the least
 * loaded: mask[w * np + p] is set when run w owns partition p. Returns the
 * number of runs that got any. */
static int share_partitions(int n, int np, int workers, const int64_t *stops, const int64_t *base,
                            unsigned char *mask) {
    int64_t load[SENTINEL_MAX_WORKERS] = {0};
    int64_t *left = sentinel_calloc((size_t)np + 1, sizeof(*left));
    unsigned char *taken = sentinel_calloc((size_t)np + 1, 1);
    for (int i = 0; i < n; i++)
        for (int p = 0; p < np; p++)
            left[p] +=
                stops[i * np + p] > base[i * np + p] ? stops[i * np + p] - base[i * np + p] : 0;
    if (workers < 1 || workers > SENTINEL_MAX_WORKERS || np < 0) abort();
    memset(mask, 0, (size_t)workers * (size_t)np);
    for (int k = 0; k < np; k++) {
        int heaviest = -1;
        for (int p = 0; p < np; p++)
            if (!taken[p] && (heaviest < 0 || left[p] > left[heaviest])) heaviest = p;
        int least = 0;
        for (int w = 1; w < workers; w++)
            if (load[w] < load[least]) least = w;
        taken[heaviest] = 1;
        mask[least * np + heaviest] = 1;
        load[least] += left[heaviest];
    }
    free(left);
    free(taken);
    int used = 0;
    for (int w = 0; w < workers; w++)
        used += load[w] > 0;
    return used ? used : 1;
}

static int workers_for(const sentinel_replay_options_t *o, int np) {
    int w = o->workers;
    if (w <= 0) { /* as many as there are CPUs, up to two */
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        w = cpus >= 2 ? 2 : 1;
    }
    if (w > SENTINEL_MAX_WORKERS) w = SENTINEL_MAX_WORKERS;
    if (w > np) w = np;
    return w < 1 ? 1 : w;
}

/* Run every projector of the set on a few readers, each with a share of
 * the partitions, one thread each, from `starts` (a replay; NULL: the
 * stored offsets) up to `stops` (n * partitions, per projector), reporting
 * progress counted from `base` until all are done. The first failure
 * stops the others; so does the caller's stop flag (then RETRIABLE:
 * interrupted). */
sentinel_err_t replay_run_set(const sentinel_projector_t *const *set, int n,
                              const sentinel_conf_t *conf, const sentinel_replay_options_t *o,
                              const char *schema, const char *phase, const log_bounds_t *log,
                              const int64_t *starts, const int64_t *stops, const int64_t *base,
                              job_t *job, sentinel_projector_stats_t *sum, char *errstr,
                              size_t errstr_size) {
    set_run_t *runs = sentinel_calloc(SENTINEL_MAX_WORKERS, sizeof(*runs));
    volatile sig_atomic_t halt = 0;
    int np = log->n, workers = workers_for(o, np);
    int64_t *positions = sentinel_calloc((size_t)(n * np) + 1, sizeof(int64_t));
    unsigned char *masks = sentinel_calloc((size_t)(workers * np) + 1, 1);
    for (int k = 0; k < n * np; k++)
        positions[k] = base[k];
    int n_runs = share_partitions(n, np, workers, stops, base, masks);
    for (int w = 0; w < n_runs; w++) {
        set_run_t *run = &runs[w];
        run->conf = conf;
        run->n = n;
        run->options = *o->run;
        run->options.until_caught_up = 0;
        run->options.stop = &halt;
        run->options.schema = schema;
        run->options.n_partitions = np;
        run->options.partitions_mask = masks + w * np;
        /* The memory setting shared out, so more readers cost no more. */
        run->options.max_in_flight = o->run->max_in_flight / (size_t)n_runs;
        if (run->options.max_in_flight < SENTINEL_MAX_IN_FLIGHT_MIN)
            run->options.max_in_flight = SENTINEL_MAX_IN_FLIGHT_MIN;
        for (int i = 0; i < n; i++) {
            run->set[i].projector = set[i];
            run->set[i].stop_offsets = stops + i * np;
            run->set[i].start_offsets = starts ? starts + i * np : NULL;
            run->set[i].positions = positions + i * np;
        }
    }
    for (int i = 0; i < n_runs; i++)
        if (pthread_create(&runs[i].thread, NULL, set_run_main, &runs[i])) abort();
    replay_job_phase(job, phase);
    int64_t total = 0;
    for (int k = 0; k < n * np; k++)
        total += stops[k] > base[k] ? stops[k] - base[k] : 0;
    double t0 = sentinel_monotonic_seconds();
    int64_t done0 = -1;
    for (int running = n_runs; running;) {
        usleep(250 * 1000);
        running = 0;
        for (int i = 0; i < n_runs; i++) {
            if (!__atomic_load_n(&runs[i].finished, __ATOMIC_ACQUIRE))
                running++;
            else if (runs[i].err)
                halt = 1;
        }
        if (o->run->stop && *o->run->stop) halt = 1;
        int64_t done = 0;
        for (int k = 0; k < n * np; k++) {
            int64_t at = __atomic_load_n(&positions[k], __ATOMIC_RELAXED);
            if (at > stops[k]) at = stops[k];
            if (at > base[k]) done += at - base[k];
        }
        if (done0 < 0) {
            done0 = done;
            t0 = sentinel_monotonic_seconds();
        }
        double elapsed = sentinel_monotonic_seconds() - t0;
        double rate = elapsed > 0.5 ? (double)(done - done0) / elapsed : 0;
        /* Counted in log positions: the projectors read the same log. */
        if (o->progress) o->progress(o->progress_opaque, phase, done / n, total / n, rate / n);
        job_beat(job, done / n, total / n, !running);
    }
    sentinel_err_t err = SENTINEL_OK;
    for (int w = 0; w < n_runs; w++) {
        pthread_join(runs[w].thread, NULL);
        for (int i = 0; sum && i < n; i++) {
            const sentinel_projector_stats_t *s = &runs[w].set[i].stats;
            sum->events += s->events;
            sum->applied += s->applied;
            sum->duplicates += s->duplicates;
            sum->rejected += s->rejected;
            sum->ignored += s->ignored;
            sum->skipped += s->skipped;
            sum->fenced += s->fenced;
            sum->retries += s->retries;
        }
        if (runs[w].err && !err) {
            snprintf(errstr, errstr_size, "%s", runs[w].errstr);
            err = runs[w].err;
        }
    }
    free(runs);
    free(positions);
    free(masks);
    if (!err && o->run->stop && *o->run->stop) {
        snprintf(errstr, errstr_size, "interrupted");
        err = SENTINEL_ERR_RETRIABLE;
    }
    return err;
}

void replay_report(const sentinel_replay_options_t *o, const char *fmt, ...) {
    if (!o->report) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(o->report, fmt, ap);
    va_end(ap);
    fflush(o->report);
}

char *replay_host_name(char *buf, size_t size) {
    if (gethostname(buf, size)) snprintf(buf, size, "?");
    buf[size - 1] = '\0';
    return buf;
}
