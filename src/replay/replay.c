/* replay.c -- replays and rebuilds: bounded runs of the projector runtime
 * on a thread per projector, progress, projection_jobs, and the rebuild's
 * compare and swap. */
#include "replay/replay.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/kafka_conf.h"
#include "base/log.h"
#include "base/timestamp.h"
#include "base/topic.h"
#include "pg/db.h"
#include "runtime/run.h"

/* ---------------------------------------------------------------- the log */

typedef struct log_bounds {
    rd_kafka_t *rk;
    const char *topic;
    int n;       /* partitions */
    int64_t *lo; /* first offset of each partition */
    int64_t *hi; /* end of each partition, as of the lookup */
} log_bounds_t;

static void log_bounds_clear(log_bounds_t *log) {
    if (log->rk) rd_kafka_destroy(log->rk);
    free(log->lo);
    free(log->hi);
    memset(log, 0, sizeof(*log));
}

static sentinel_err_t log_bounds_refresh(log_bounds_t *log, char *errstr, size_t errstr_size) {
    rd_kafka_resp_err_t kerr =
        sentinel_topic_bounds(log->rk, log->topic, 0, log->n, log->lo, log->hi, 15000);
    if (kerr) {
        snprintf(errstr, errstr_size, "%s: watermarks: %s", log->topic, rd_kafka_err2str(kerr));
        return SENTINEL_ERR_RETRIABLE;
    }
    return SENTINEL_OK;
}

static sentinel_err_t log_bounds_open(log_bounds_t *log, const sentinel_conf_t *conf, char *errstr,
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
        log_bounds_clear(log);
        return SENTINEL_ERR_FATAL;
    }
    log->lo = calloc((size_t)log->n, sizeof(int64_t));
    log->hi = calloc((size_t)log->n, sizeof(int64_t));
    sentinel_err_t err = log_bounds_refresh(log, errstr, errstr_size);
    if (err) log_bounds_clear(log);
    return err;
}

/* ---------------------------------------------------------------- positions */

static int all_digits(const char *s, size_t len) {
    if (!len) return 0;
    for (size_t i = 0; i < len; i++)
        if (!isdigit((unsigned char)s[i])) return 0;
    return 1;
}

/* A time starts with its year: YYYY-. */
static int looks_like_time(const char *spec) {
    return strlen(spec) > 5 && all_digits(spec, 4) && spec[4] == '-';
}

sentinel_err_t sentinel_position_check(const char *spec, char *errstr, size_t errstr_size) {
    int64_t micros;
    if (!strcmp(spec, "beginning") || !strcmp(spec, "end") || all_digits(spec, strlen(spec)))
        return SENTINEL_OK;
    if (looks_like_time(spec)) {
        char why[256];
        if (sentinel_timestamp_parse(spec, &micros, why, sizeof(why))) {
            snprintf(errstr, errstr_size, "%s", why);
            return SENTINEL_ERR_INVALID;
        }
        return SENTINEL_OK;
    }
    /* p:offset[,p:offset...] */
    const char *s = spec;
    while (*s) {
        const char *colon = strchr(s, ':'), *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (!colon || colon > s + len || !all_digits(s, (size_t)(colon - s)) ||
            !all_digits(colon + 1, len - (size_t)(colon - s) - 1) || (comma && !comma[1])) {
            snprintf(errstr, errstr_size,
                     "\"%s\": expected beginning, end, an RFC 3339 time, an offset or "
                     "PARTITION:OFFSET[,PARTITION:OFFSET...]",
                     spec);
            return SENTINEL_ERR_INVALID;
        }
        s += len + (comma ? 1 : 0);
    }
    return SENTINEL_OK;
}

/* Resolve `spec` to an offset per partition, within the log. Partitions a
 * PARTITION:OFFSET list does not name get `fallback[p]`. */
static sentinel_err_t position_resolve(log_bounds_t *log, const char *spec, const int64_t *fallback,
                                       int64_t *out, char *errstr, size_t errstr_size) {
    sentinel_err_t err = sentinel_position_check(spec, errstr, errstr_size);
    if (err) return err;
    if (!strcmp(spec, "beginning") || !strcmp(spec, "end")) {
        for (int p = 0; p < log->n; p++)
            out[p] = spec[0] == 'b' ? log->lo[p] : log->hi[p];
        return SENTINEL_OK;
    }
    if (all_digits(spec, strlen(spec))) {
        int64_t offset = atoll(spec);
        for (int p = 0; p < log->n; p++)
            out[p] = offset;
    } else if (looks_like_time(spec)) {
        int64_t micros = 0;
        if (sentinel_timestamp_parse(spec, &micros, errstr, errstr_size))
            return SENTINEL_ERR_INVALID;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(log->n);
        for (int p = 0; p < log->n; p++)
            rd_kafka_topic_partition_list_add(l, log->topic, p)->offset = micros / 1000;
        rd_kafka_resp_err_t kerr = rd_kafka_offsets_for_times(log->rk, l, 15000);
        for (int p = 0; !kerr && p < l->cnt; p++) {
            rd_kafka_topic_partition_t *tp = &l->elems[p];
            if (tp->err) kerr = tp->err;
            /* No record at or after the time: the end. */
            out[tp->partition] = tp->offset < 0 ? log->hi[tp->partition] : tp->offset;
        }
        rd_kafka_topic_partition_list_destroy(l);
        if (kerr) {
            snprintf(errstr, errstr_size, "%s: offsets for %s: %s", log->topic, spec,
                     rd_kafka_err2str(kerr));
            return SENTINEL_ERR_RETRIABLE;
        }
        return SENTINEL_OK;
    } else {
        for (int p = 0; p < log->n; p++)
            out[p] = fallback[p];
        for (const char *s = spec; *s;) {
            int partition = atoi(s);
            int64_t offset = atoll(strchr(s, ':') + 1);
            if (partition >= log->n) {
                snprintf(errstr, errstr_size, "\"%s\": %s has no partition %d (it has %d)", spec,
                         log->topic, partition, log->n);
                return SENTINEL_ERR_INVALID;
            }
            out[partition] = offset;
            const char *comma = strchr(s, ',');
            s = comma ? comma + 1 : s + strlen(s);
        }
    }
    for (int p = 0; p < log->n; p++) {
        if (out[p] < log->lo[p]) {
            snprintf(errstr, errstr_size,
                     "\"%s\": offset %lld of %s [%d] is before the start of the log (%lld)", spec,
                     (long long)out[p], log->topic, p, (long long)log->lo[p]);
            return SENTINEL_ERR_INVALID;
        }
        if (out[p] > log->hi[p]) out[p] = log->hi[p];
    }
    return SENTINEL_OK;
}

/* ---------------------------------------------------------------- jobs */

typedef struct job {
    PGconn *conn; /* its own: heartbeats land while other connections hold transactions */
    long long id;
    double started;
    double last_beat;
} job_t;

/* A text[] literal of the set's names. */
static char *names_array(const sentinel_projector_t *const *set, int n) {
    char *s = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&s, &len);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s%s", i ? "," : "{", set[i]->name);
    fputs("}", f);
    fclose(f);
    return s;
}

/* One update of the job's row; a connection a server restart broke is
 * opened again, so the row keeps up after the database comes back. */
static void job_update(job_t *job, const char *sql, int n, const char *const *params) {
    char errstr[256];
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!sentinel_db_params(job->conn, sql, n, params, NULL, errstr, sizeof(errstr))) return;
        if (PQstatus(job->conn) == CONNECTION_OK) break;
        PQreset(job->conn);
        if (PQstatus(job->conn) == CONNECTION_OK) {
            PGresult *res = PQexec(job->conn, "SET TIME ZONE 'UTC'");
            PQclear(res);
        }
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
static void job_phase(job_t *job, const char *phase) {
    if (!job || !job->conn || !job->id) return;
    char id[32], detail[128];
    snprintf(id, sizeof(id), "%lld", job->id);
    snprintf(detail, sizeof(detail), "phase: %s", phase);
    const char *params[2] = {id, detail};
    job_update(job, "UPDATE projection_jobs SET detail = $2, heartbeat_at = now() WHERE id = $1", 2,
               params);
}

static void job_finish(job_t *job, const char *state, const char *detail) {
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

static sentinel_err_t job_open(job_t *job, const sentinel_conf_t *conf, char *errstr,
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

static void job_close(job_t *job) {
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
static sentinel_err_t read_offsets(PGconn *conn, const char *schema, const char *projector,
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
    int64_t *left = calloc((size_t)np + 1, sizeof(*left));
    unsigned char *taken = calloc((size_t)np + 1, 1);
    if (!left || !taken) abort();
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
static sentinel_err_t run_set(const sentinel_projector_t *const *set, int n,
                              const sentinel_conf_t *conf, const sentinel_replay_options_t *o,
                              const char *schema, const char *phase, const log_bounds_t *log,
                              const int64_t *starts, const int64_t *stops, const int64_t *base,
                              job_t *job, sentinel_projector_stats_t *sum, char *errstr,
                              size_t errstr_size) {
    set_run_t *runs = calloc(SENTINEL_MAX_WORKERS, sizeof(*runs));
    volatile sig_atomic_t halt = 0;
    int np = log->n, workers = workers_for(o, np);
    int64_t *positions = calloc((size_t)(n * np) + 1, sizeof(int64_t));
    unsigned char *masks = calloc((size_t)(workers * np) + 1, 1);
    if (!runs || !positions || !masks) abort();
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
    job_phase(job, phase);
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

static void report(const sentinel_replay_options_t *o, const char *fmt, ...) SENTINEL_PRINTF(2, 3);
static void report(const sentinel_replay_options_t *o, const char *fmt, ...) {
    if (!o->report) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(o->report, fmt, ap);
    va_end(ap);
    fflush(o->report);
}

static void stats_line(const sentinel_projector_stats_t *s, char *buf, size_t size) {
    snprintf(buf, size, "%lu events: %lu applied, %lu duplicates, %lu rejected, %lu ignored",
             s->events - s->skipped, s->applied, s->duplicates, s->rejected, s->ignored);
}

static char *host_name(char *buf, size_t size) {
    if (gethostname(buf, size)) snprintf(buf, size, "?");
    buf[size - 1] = '\0';
    return buf;
}

/* ---------------------------------------------------------------- replay */

sentinel_err_t sentinel_replay(const sentinel_projector_t *const *set, int n,
                               const sentinel_conf_t *conf, const char *from, const char *to,
                               const sentinel_replay_options_t *o, char *errstr,
                               size_t errstr_size) {
    if (n < 1 || n > SENTINEL_MAX_SET) {
        snprintf(errstr, errstr_size, "replay: between 1 and %d projectors", SENTINEL_MAX_SET);
        return SENTINEL_ERR_INVALID;
    }
    log_bounds_t log;
    sentinel_err_t err = log_bounds_open(&log, conf, errstr, errstr_size);
    if (err) return err;
    int np = log.n;
    int64_t *first = calloc((size_t)np, sizeof(int64_t)),
            *last = calloc((size_t)np, sizeof(int64_t));
    int64_t *starts = calloc((size_t)(n * np), sizeof(int64_t));
    int64_t *stops = calloc((size_t)(n * np), sizeof(int64_t));
    job_t job = {0};
    err = position_resolve(&log, from, log.hi, first, errstr, errstr_size);
    if (!err) err = position_resolve(&log, to ? to : "end", log.hi, last, errstr, errstr_size);
    for (int k = 0; !err && k < n * np; k++) {
        stops[k] = last[k % np];
        starts[k] = first[k % np] < stops[k] ? first[k % np] : stops[k];
    }
    if (!err) err = job_open(&job, conf, errstr, errstr_size);
    if (!err) {
        char *names = names_array(set, n), pid[16], host[256], *range = NULL;
        snprintf(pid, sizeof(pid), "%d", (int)getpid());
        size_t len = 0;
        FILE *f = open_memstream(&range, &len);
        for (int p = 0; p < np; p++)
            fprintf(f, "%s%d:%lld", p ? "," : "", p, (long long)first[p]);
        fputs(" .. ", f);
        for (int p = 0; p < np; p++)
            fprintf(f, "%s%d:%lld", p ? "," : "", p, (long long)last[p]);
        fclose(f);
        const char *params[7] = {
            names, log.topic, from, to ? to : "end", pid, host_name(host, sizeof(host)), range};
        PGresult *res = NULL;
        err = sentinel_db_params(
            job.conn,
            "INSERT INTO projection_jobs (kind, projectors, topic, state, range_from, "
            "range_to, pid, host, detail) VALUES ('replay', $1, $2, 'running', $3, $4, "
            "$5::int, $6, $7) RETURNING id",
            7, params, &res, errstr, errstr_size);
        if (!err) {
            job.id = atoll(PQgetvalue(res, 0, 0));
            PQclear(res);
        }
        free(names);
        free(range);
    }
    sentinel_projector_stats_t stats = {0};
    if (!err) {
        report(o, "replaying %s from %s to %s\n", log.topic, from, to ? to : "the end");
        err = run_set(set, n, conf, o, NULL, "replay", &log, starts, stops, starts, &job, &stats,
                      errstr, errstr_size);
        char line[256];
        stats_line(&stats, line, sizeof(line));
        if (!err) report(o, "replay done: %s\n", line);
        job_finish(&job, err ? "failed" : "done", err ? errstr : line);
    }
    job_close(&job);
    free(first);
    free(last);
    free(starts);
    free(stops);
    log_bounds_clear(&log);
    return err;
}

/* ---------------------------------------------------------------- rebuild */

int sentinel_rebuild_set(const sentinel_projector_t *const *requested, int n,
                         const sentinel_projector_t **set) {
    int in[SENTINEL_MAX_SET] = {0}, count = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; sentinel_projectors[k] && k < SENTINEL_MAX_SET; k++)
            if (sentinel_projectors[k] == requested[i]) in[k] = 1;
    for (int grew = 1; grew;) {
        grew = 0;
        for (int a = 0; sentinel_projectors[a] && a < SENTINEL_MAX_SET; a++) {
            if (in[a]) continue;
            for (int b = 0; sentinel_projectors[b] && b < SENTINEL_MAX_SET && !in[a]; b++) {
                if (!in[b]) continue;
                for (int x = 0; sentinel_projectors[a]->tables[x] && !in[a]; x++)
                    for (int y = 0; sentinel_projectors[b]->tables[y]; y++)
                        if (!strcmp(sentinel_projectors[a]->tables[x],
                                    sentinel_projectors[b]->tables[y])) {
                            in[a] = grew = 1;
                            break;
                        }
            }
        }
    }
    for (int k = 0; sentinel_projectors[k] && k < SENTINEL_MAX_SET; k++)
        if (in[k]) set[count++] = sentinel_projectors[k];
    return count;
}

typedef struct rebuild {
    const sentinel_projector_t *const *set;
    int n;
    const sentinel_conf_t *conf;
    const sentinel_replay_options_t *o;
    PGconn *conn; /* the comparison and the swap */
    job_t job;
    log_bounds_t log;
    char shadow[64];
    const char *tables[64];
    int n_tables;
    char *names;        /* text[] of projectors */
    char *tables_array; /* text[] of tables */
} rebuild_t;

static void rebuild_tables(rebuild_t *rb) {
    rb->n_tables = 0;
    for (int i = 0; i < rb->n; i++)
        for (int t = 0; rb->set[i]->tables[t]; t++) {
            int dup = 0;
            for (int k = 0; k < rb->n_tables; k++)
                dup |= !strcmp(rb->tables[k], rb->set[i]->tables[t]);
            if (!dup && rb->n_tables < 64) rb->tables[rb->n_tables++] = rb->set[i]->tables[t];
        }
    char *s = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&s, &len);
    for (int k = 0; k < rb->n_tables; k++)
        fprintf(f, "%s%s", k ? "," : "{", rb->tables[k]);
    fputs("}", f);
    fclose(f);
    rb->tables_array = s;
}

/* Create the shadow (or find the one an interrupted run left) and the
 * job that tracks it. */
static sentinel_err_t rebuild_prepare(rebuild_t *rb, char *errstr, size_t errstr_size) {
    PGresult *res = NULL;
    const char *p1[1] = {rb->shadow};
    sentinel_err_t err = sentinel_db_params(
        rb->conn, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", 1, p1, &res,
        errstr, errstr_size);
    if (err) return err;
    int exists = !strcmp(PQgetvalue(res, 0, 0), "t");
    PQclear(res);
    char pid[16], host[256];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    host_name(host, sizeof(host));
    if (!exists) {
        /* A job left `building` without its shadow (dropped by hand) is over. */
        err = sentinel_db_params(
            rb->conn,
            "UPDATE projection_jobs SET state = 'failed', detail = 'shadow schema gone', "
            "finished_at = now() WHERE shadow_schema = $1 AND state = 'building'",
            1, p1, NULL, errstr, errstr_size);
        if (!err) err = sentinel_db_exec(rb->conn, "BEGIN", errstr, errstr_size);
        const char *p3[3] = {rb->shadow, rb->tables_array, rb->names};
        if (!err)
            err = sentinel_db_params(rb->conn,
                                     "SELECT sentinel_shadow_create($1, $2::text[], $3::text[])", 3,
                                     p3, NULL, errstr, errstr_size);
        if (!err) err = sentinel_db_exec(rb->conn, "COMMIT", errstr, errstr_size);
        if (err) {
            char ignored[256];
            if (sentinel_db_exec(rb->conn, "ROLLBACK", ignored, sizeof(ignored))) {
                /* the connection is gone; so is the transaction */
            }
            return err;
        }
        report(rb->o, "rebuilding %s into shadow tables in schema %s\n", rb->names, rb->shadow);
    }
    err = sentinel_db_params(rb->conn,
                             "SELECT id, events_done FROM projection_jobs WHERE shadow_schema = $1 "
                             "AND state = 'building'",
                             1, p1, &res, errstr, errstr_size);
    if (err) return err;
    if (PQntuples(res)) {
        rb->job.id = atoll(PQgetvalue(res, 0, 0));
        if (exists)
            report(rb->o,
                   "resuming the rebuild of %s from its shadow in schema %s (%s events done)\n",
                   rb->names, rb->shadow, PQgetvalue(res, 0, 1));
        PQclear(res);
        char id[32];
        snprintf(id, sizeof(id), "%lld", rb->job.id);
        const char *p3[3] = {id, pid, host};
        return sentinel_db_params(rb->conn,
                                  "UPDATE projection_jobs SET pid = $2::int, host = $3, "
                                  "heartbeat_at = now() WHERE id = $1",
                                  3, p3, NULL, errstr, errstr_size);
    }
    PQclear(res);
    if (exists)
        report(rb->o, "continuing with the shadow of %s in schema %s\n", rb->names, rb->shadow);
    const char *p5[5] = {rb->names, rb->log.topic, rb->shadow, pid, host};
    err = sentinel_db_params(
        rb->conn,
        "INSERT INTO projection_jobs (kind, projectors, topic, shadow_schema, state, range_from, "
        "pid, host) VALUES ('rebuild', $1, $2, $3, 'building', 'beginning', $4::int, $5) RETURNING "
        "id",
        5, p5, &res, errstr, errstr_size);
    if (err) return err;
    rb->job.id = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return SENTINEL_OK;
}

/* Stored offsets of every projector of the set, n * partitions. */
static sentinel_err_t set_offsets(rebuild_t *rb, const char *schema, int64_t *out, char *errstr,
                                  size_t errstr_size) {
    for (int i = 0; i < rb->n; i++) {
        sentinel_err_t err = read_offsets(rb->conn, schema, rb->set[i]->name, &rb->log,
                                          out + i * rb->log.n, errstr, errstr_size);
        if (err) return err;
    }
    return SENTINEL_OK;
}

static char *qualified(PGconn *conn, const char *schema, const char *table) {
    char *a = PQescapeIdentifier(conn, schema, strlen(schema));
    char *b = PQescapeIdentifier(conn, table, strlen(table));
    char *out = NULL;
    if (asprintf(&out, "%s.%s", a ? a : "", b ? b : "") < 0) abort();
    PQfreemem(a);
    PQfreemem(b);
    return out;
}

/* Compare each table with its shadow: counts and checksums, then up to
 * ten differing rows of a table that differs. Returns the number of
 * tables that differ in *differing. */
static sentinel_err_t rebuild_compare(rebuild_t *rb, int *differing, char *errstr,
                                      size_t errstr_size) {
    *differing = 0;
    report(rb->o, "%-26s %14s %14s\n", "table", "live rows", "rebuilt rows");
    for (int t = 0; t < rb->n_tables; t++) {
        char *live = qualified(rb->conn, "public", rb->tables[t]);
        char *shadow = qualified(rb->conn, rb->shadow, rb->tables[t]);
        const char *p3[3] = {live, shadow, NULL};
        PGresult *res = NULL;
        /* A migration since the shadow was made would be undone by the
         * swap: refuse, by name. */
        sentinel_err_t err = sentinel_db_params(
            rb->conn,
            "SELECT (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' "
            "ORDER BY attnum) FROM pg_attribute WHERE attrelid = x.rel AND attnum > 0 AND NOT "
            "attisdropped) FROM (VALUES ($1::regclass, 1), ($2::regclass, 2)) AS x(rel, n) ORDER "
            "BY n",
            2, p3, &res, errstr, errstr_size);
        if (!err && strcmp(PQgetvalue(res, 0, 0), PQgetvalue(res, 1, 0))) {
            snprintf(errstr, errstr_size,
                     "%s has columns (%s) but its shadow was made with (%s): the table changed "
                     "since the rebuild began (a migration?); run the rebuild with --abort, then "
                     "again",
                     rb->tables[t], PQgetvalue(res, 0, 0), PQgetvalue(res, 1, 0));
            err = SENTINEL_ERR_FATAL;
        }
        PQclear(res);
        res = NULL;
        if (err) {
            free(live);
            free(shadow);
            return err;
        }
        err = sentinel_db_params(rb->conn,
                                 "SELECT l.row_count, l.checksum, s.row_count, s.checksum, c.cols, "
                                 "sentinel_key_columns($1::regclass) "
                                 "FROM (SELECT sentinel_compared_columns($1::regclass) AS cols) c, "
                                 "LATERAL sentinel_table_checksum($1::regclass, c.cols) l, "
                                 "LATERAL sentinel_table_checksum($2::regclass, c.cols) s",
                                 2, p3, &res, errstr, errstr_size);
        if (!err) {
            int same = !strcmp(PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2)) &&
                       !strcmp(PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 3));
            report(rb->o, "%-26s %14s %14s  %s\n", rb->tables[t], PQgetvalue(res, 0, 0),
                   PQgetvalue(res, 0, 2), same ? "same" : "DIFFERENT");
            if (!same) {
                (*differing)++;
                char *cols = strdup(PQgetvalue(res, 0, 4)), *keys = strdup(PQgetvalue(res, 0, 5));
                PQclear(res);
                res = NULL;
                const char *p4[4] = {live, shadow, cols, keys};
                err = sentinel_db_params(
                    rb->conn,
                    "SELECT row_key, coalesce(live_row, '(missing)'), "
                    "coalesce(shadow_row, '(missing)') "
                    "FROM sentinel_table_differences($1::regclass, $2::regclass, $3, $4, 10)",
                    4, p4, &res, errstr, errstr_size);
                for (int k = 0; !err && k < PQntuples(res); k++)
                    report(rb->o, "    key %s\n      live:    %s\n      rebuilt: %s\n",
                           PQgetvalue(res, k, 0), PQgetvalue(res, k, 1), PQgetvalue(res, k, 2));
                free(cols);
                free(keys);
            }
        }
        if (res) PQclear(res);
        free(live);
        free(shadow);
        if (err) return err;
    }
    return SENTINEL_OK;
}

static void rollback(PGconn *conn) {
    char ignored[256];
    if (PQstatus(conn) == CONNECTION_OK &&
        sentinel_db_exec(conn, "ROLLBACK", ignored, sizeof(ignored))) {
        /* the server ends the transaction with the session */
    }
}

/* Bring the live projection and the shadow to the same offsets, compare,
 * and swap (or only report). One attempt: RETRIABLE when the live moved
 * in between or a lock was not granted in time. */
static sentinel_err_t rebuild_finish(rebuild_t *rb, enum sentinel_rebuild_mode mode,
                                     const int64_t *target, int *differing, char *errstr,
                                     size_t errstr_size) {
    int np = rb->log.n, total = rb->n * np;
    int64_t *live = calloc((size_t)total, sizeof(int64_t)),
            *shadow = calloc((size_t)total, sizeof(int64_t));
    int64_t *base = calloc((size_t)total, sizeof(int64_t));
    sentinel_err_t err = set_offsets(rb, NULL, live, errstr, errstr_size);
    /* The log's bounds after the live offsets, so these are within them
     * however far the live consumers went meanwhile. */
    if (!err) err = log_bounds_refresh(&rb->log, errstr, errstr_size);
    /* A live projection whose offsets are outside the log (the topic was
     * recreated or truncated) cannot be brought to the shadow's offsets,
     * nor compared at them: the rebuild replaces it as it is. */
    int lost = 0;
    for (int k = 0; !err && k < total; k++)
        if (live[k] < rb->log.lo[k % np] || live[k] > rb->log.hi[k % np]) lost = 1;
    if (lost)
        sentinel_warn("rebuild of %s: the live projection's offsets are outside the log (a topic "
                      "recreated or truncated?): it is compared as it is and replaced",
                      rb->names);
    /* The live projection up to the target first: its own consumers may be
     * behind, or not running at all. Fenced by its offsets like any
     * other consumer of the projection, so running beside them is safe. */
    int behind = 0;
    for (int k = 0; !err && !lost && k < total; k++)
        behind |= live[k] < target[k];
    if (!err && behind) {
        int64_t *stops = calloc((size_t)total, sizeof(int64_t));
        for (int k = 0; k < total; k++)
            stops[k] = live[k] < target[k] ? target[k] : live[k];
        err = run_set(rb->set, rb->n, rb->conf, rb->o, NULL, "live catch-up", &rb->log, NULL, stops,
                      live, &rb->job, NULL, errstr, errstr_size);
        free(stops);
    }
    /* Hold the live projection's writers back, read where it is, bring
     * the shadow exactly there. */
    if (!err)
        err = sentinel_db_exec(rb->conn, "BEGIN; SET LOCAL lock_timeout = '20s'", errstr,
                               errstr_size);
    int in_transaction = !err;
    for (int i = 0; !err && i < rb->n; i++)
        err = sentinel_projection_lock(rb->conn, NULL, rb->set[i]->name, 1, errstr, errstr_size);
    double held_since = sentinel_monotonic_seconds();
    if (!err) err = set_offsets(rb, NULL, live, errstr, errstr_size);
    if (!err) err = set_offsets(rb, rb->shadow, shadow, errstr, errstr_size);
    if (lost) memcpy(live, target, (size_t)total * sizeof(int64_t));
    for (int k = 0; !err && k < total; k++) {
        if (shadow[k] > live[k]) {
            snprintf(errstr, errstr_size,
                     "%s [%d]: the live projection of %s is at %lld, behind its shadow at %lld",
                     rb->log.topic, k % np, rb->set[k / np]->name, (long long)live[k],
                     (long long)shadow[k]);
            err = SENTINEL_ERR_RETRIABLE;
        }
    }
    if (!err) {
        for (int k = 0; k < total; k++)
            base[k] = rb->log.lo[k % np];
        err = run_set(rb->set, rb->n, rb->conf, rb->o, rb->shadow, "final catch-up", &rb->log, NULL,
                      live, base, &rb->job, NULL, errstr, errstr_size);
    }
    if (!err) {
        for (int i = 0; i < rb->n; i++) {
            report(rb->o, "%s: live and rebuilt at offsets", rb->set[i]->name);
            for (int p = 0; p < np; p++)
                report(rb->o, " %d:%lld", p, (long long)live[i * np + p]);
            report(rb->o, "\n");
        }
        job_phase(&rb->job, "comparing");
        err = rebuild_compare(rb, differing, errstr, errstr_size);
    }
    if (!err && mode == SENTINEL_REBUILD_SWAP) {
        const char *p3[3] = {rb->shadow, rb->tables_array, rb->names};
        job_phase(&rb->job, "swapping");
        err =
            sentinel_db_params(rb->conn, "SELECT sentinel_shadow_swap($1, $2::text[], $3::text[])",
                               3, p3, NULL, errstr, errstr_size);
        if (!err) err = sentinel_db_exec(rb->conn, "COMMIT", errstr, errstr_size);
        in_transaction = 0;
    }
    if (in_transaction) rollback(rb->conn);
    sentinel_info("rebuild of %s: the live projection's writers waited %.1f s for the final "
                  "catch-up, the comparison%s",
                  rb->names, sentinel_monotonic_seconds() - held_since,
                  mode == SENTINEL_REBUILD_SWAP ? " and the swap" : "");
    free(live);
    free(shadow);
    free(base);
    /* A lock not granted in time (55P03) is worth another attempt. */
    if (err == SENTINEL_ERR_FATAL && strstr(errstr, "lock timeout")) err = SENTINEL_ERR_RETRIABLE;
    return err;
}

/* The bulk is in: build the deferred indexes and check the deferred
 * references, one statement a transaction (a killed run leaves the rest
 * listed, for the next to finish). */
static sentinel_err_t rebuild_complete(rebuild_t *rb, char *errstr, size_t errstr_size) {
    char *quoted = PQescapeIdentifier(rb->conn, rb->shadow, strlen(rb->shadow));
    char next[256], done[256], path[256];
    snprintf(next, sizeof(next), "SELECT seq, stmt FROM %s.shadow_deferred ORDER BY seq LIMIT 1",
             quoted);
    snprintf(done, sizeof(done), "DELETE FROM %s.shadow_deferred WHERE seq = $1::int", quoted);
    snprintf(path, sizeof(path), "SET LOCAL search_path = %s, public", quoted);
    PQfreemem(quoted);
    sentinel_err_t err = SENTINEL_OK;
    int count = 0;
    double t0 = sentinel_monotonic_seconds();
    while (!err && !(rb->o->run->stop && *rb->o->run->stop)) {
        job_phase(&rb->job, "adding the deferred indexes and references");
        PGresult *res = NULL;
        if ((err = sentinel_db_params(rb->conn, next, 0, NULL, &res, errstr, errstr_size))) break;
        if (!PQntuples(res)) {
            PQclear(res);
            break;
        }
        char seq[16];
        snprintf(seq, sizeof(seq), "%s", PQgetvalue(res, 0, 0));
        char *stmt = strdup(PQgetvalue(res, 0, 1));
        PQclear(res);
        sentinel_debug("rebuild: %s", stmt);
        const char *params[1] = {seq};
        err = sentinel_db_exec(rb->conn, "BEGIN", errstr, errstr_size);
        if (!err) err = sentinel_db_exec(rb->conn, path, errstr, errstr_size);
        if (!err) err = sentinel_db_exec(rb->conn, stmt, errstr, errstr_size);
        if (!err) err = sentinel_db_params(rb->conn, done, 1, params, NULL, errstr, errstr_size);
        if (!err) err = sentinel_db_exec(rb->conn, "COMMIT", errstr, errstr_size);
        if (err) {
            rollback(rb->conn);
            char reason[1024];
            snprintf(reason, sizeof(reason), "%s: %s", stmt, errstr);
            snprintf(errstr, errstr_size, "%s", reason);
        }
        free(stmt);
        count++;
    }
    if (!err && count)
        sentinel_info("rebuild of %s: %d deferred indexes and references done in %.1f s", rb->names,
                      count, sentinel_monotonic_seconds() - t0);
    return err;
}

static sentinel_err_t rebuild_run(rebuild_t *rb, enum sentinel_rebuild_mode mode, int *differing,
                                  char *errstr, size_t errstr_size) {
    int np = rb->log.n, total = rb->n * np;
    sentinel_err_t err = rebuild_prepare(rb, errstr, errstr_size);
    if (err) return err;
    /* The bulk of the work: the whole log, as of now, into the shadow. */
    int64_t *target = calloc((size_t)total, sizeof(int64_t)),
            *base = calloc((size_t)total, sizeof(int64_t));
    for (int k = 0; k < total; k++) {
        target[k] = rb->log.hi[k % np];
        base[k] = rb->log.lo[k % np];
    }
    err = run_set(rb->set, rb->n, rb->conf, rb->o, rb->shadow, "rebuild", &rb->log, NULL, target,
                  base, &rb->job, NULL, errstr, errstr_size);
    if (!err) err = rebuild_complete(rb, errstr, errstr_size);
    /* What arrived meanwhile, unlocked, until little is left: the live
     * writers wait only for the last stretch. */
    for (int round = 0; !err && round < 5; round++) {
        int64_t *at = calloc((size_t)total, sizeof(int64_t)), gap = 0;
        err = set_offsets(rb, rb->shadow, at, errstr, errstr_size);
        if (!err) err = log_bounds_refresh(&rb->log, errstr, errstr_size);
        for (int k = 0; !err && k < total; k++) {
            target[k] = rb->log.hi[k % np];
            gap += target[k] > at[k] ? target[k] - at[k] : 0;
        }
        free(at);
        if (err || gap <= 10000 * rb->n) break;
        err = run_set(rb->set, rb->n, rb->conf, rb->o, rb->shadow, "rebuild (new events)", &rb->log,
                      NULL, target, base, &rb->job, NULL, errstr, errstr_size);
    }
    if (!err && rb->o->run->stop && *rb->o->run->stop) {
        snprintf(errstr, errstr_size, "interrupted");
        err = SENTINEL_ERR_RETRIABLE;
    }
    for (int attempt = 0; !err; attempt++) {
        err = rebuild_finish(rb, mode, target, differing, errstr, errstr_size);
        if (err != SENTINEL_ERR_RETRIABLE || attempt >= 5 ||
            (rb->o->run->stop && *rb->o->run->stop))
            break;
        sentinel_warn("rebuild of %s: %s; trying again", rb->names, errstr);
        err = log_bounds_refresh(&rb->log, errstr, errstr_size);
        for (int k = 0; k < total; k++)
            target[k] = rb->log.hi[k % np];
    }
    free(target);
    free(base);
    return err;
}

sentinel_err_t sentinel_rebuild(const sentinel_projector_t *const *requested, int n,
                                const sentinel_conf_t *conf, enum sentinel_rebuild_mode mode,
                                const sentinel_replay_options_t *o, int *differences, char *errstr,
                                size_t errstr_size) {
    const sentinel_projector_t *set[SENTINEL_MAX_SET];
    rebuild_t rb = {.set = set, .conf = conf, .o = o};
    *differences = 0;
    rb.n = sentinel_rebuild_set(requested, n, set);
    if (!rb.n) {
        snprintf(errstr, errstr_size, "rebuild: no projector named");
        return SENTINEL_ERR_INVALID;
    }
    rb.names = names_array(set, rb.n);
    rebuild_tables(&rb);
    size_t used = (size_t)snprintf(rb.shadow, sizeof(rb.shadow), "rebuild");
    for (int i = 0; i < rb.n && used < sizeof(rb.shadow); i++)
        used += (size_t)snprintf(rb.shadow + used, sizeof(rb.shadow) - used, "_%s", set[i]->name);
    if (used >= sizeof(rb.shadow)) {
        free(rb.names);
        free(rb.tables_array);
        snprintf(errstr, errstr_size, "rebuild: the projectors' names make too long a schema name");
        return SENTINEL_ERR_INVALID;
    }
    sentinel_err_t err = SENTINEL_OK;
    rb.conn = sentinel_db_open(sentinel_conf_db(conf), sentinel_conf_connect_timeout(conf), NULL,
                               errstr, errstr_size);
    if (!rb.conn) err = SENTINEL_ERR_RETRIABLE;
    if (!err)
        err = sentinel_db_exec(rb.conn,
                               "SET client_min_messages = warning; SET application_name = "
                               "'sentinel-rebuild'",
                               errstr, errstr_size);
    /* One rebuild of a set at a time, whatever the host. */
    PGresult *res = NULL;
    const char *p1[1] = {rb.shadow};
    if (!err)
        err = sentinel_db_params(
            rb.conn, "SELECT pg_try_advisory_lock(hashtext('sentinel.rebuild'), hashtext($1))", 1,
            p1, &res, errstr, errstr_size);
    if (!err) {
        int got = !strcmp(PQgetvalue(res, 0, 0), "t");
        PQclear(res);
        if (!got) {
            snprintf(errstr, errstr_size,
                     "a rebuild of %s is running already (see sentinel status)", rb.names);
            err = SENTINEL_ERR_FATAL;
        }
    }
    if (!err && mode == SENTINEL_REBUILD_ABORT) {
        char *quoted = PQescapeIdentifier(rb.conn, rb.shadow, strlen(rb.shadow));
        char sql[256];
        snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", quoted);
        PQfreemem(quoted);
        err = sentinel_db_exec(rb.conn, sql, errstr, errstr_size);
        if (!err)
            err = sentinel_db_params(
                rb.conn,
                "UPDATE projection_jobs SET state = 'aborted', finished_at = now() "
                "WHERE shadow_schema = $1 AND state = 'building'",
                1, p1, NULL, errstr, errstr_size);
        if (!err)
            report(o, "rebuild of %s aborted: shadow schema %s dropped\n", rb.names, rb.shadow);
    } else if (!err) {
        err = log_bounds_open(&rb.log, conf, errstr, errstr_size);
        if (!err) err = job_open(&rb.job, conf, errstr, errstr_size);
        int differing = 0;
        if (!err) err = rebuild_run(&rb, mode, &differing, errstr, errstr_size);
        *differences = differing;
        char detail[512];
        if (err == SENTINEL_ERR_RETRIABLE && o->run->stop && *o->run->stop) {
            snprintf(detail, sizeof(detail), "interrupted; run the rebuild again to resume");
            job_finish(&rb.job, "building", detail);
            snprintf(errstr, errstr_size, "%s", detail);
        } else if (err) {
            /* The shadow stays: a later run resumes from it. */
            snprintf(detail, sizeof(detail), "%s", errstr);
            job_finish(&rb.job, "building", detail);
        } else {
            snprintf(detail, sizeof(detail), "%d of %d tables differed from the live projection%s",
                     differing, rb.n_tables,
                     mode == SENTINEL_REBUILD_SWAP ? "; swapped" : "; not swapped (--no-swap)");
            job_finish(&rb.job, mode == SENTINEL_REBUILD_SWAP ? "swapped" : "compared", detail);
            report(o, "rebuild of %s: %s\n", rb.names, detail);
        }
    }
    if (!err && mode == SENTINEL_REBUILD_SWAP) {
        /* Fresh tables need statistics before the planner meets them. */
        for (int t = 0; t < rb.n_tables; t++) {
            char *name = qualified(rb.conn, "public", rb.tables[t]), sql[256], ignored[256];
            snprintf(sql, sizeof(sql), "ANALYZE %s", name);
            free(name);
            if (sentinel_db_exec(rb.conn, sql, ignored, sizeof(ignored)))
                sentinel_warn("rebuild: %s: %s", sql, ignored);
        }
    }
    job_close(&rb.job);
    log_bounds_clear(&rb.log);
    if (rb.conn) PQfinish(rb.conn);
    free(rb.names);
    free(rb.tables_array);
    return err;
}
