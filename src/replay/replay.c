/* replay.c -- replays: a range of the log, by offsets or times, applied
 * again to the live projection; only the applied ids say what is new. */
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
#include "pg/db.h"
#include "replay/bounded.h"
#include "replay/replay.h"
#include "runtime/run.h"

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

/* One count for what was read, as the progress counts it (log positions:
 * each of the n projectors goes through every message), then what the
 * projectors did with the events of their types. */
static void stats_line(const sentinel_projector_stats_t *s, int n, char *buf, size_t size) {
    snprintf(buf, size,
             "%lu messages read; of their events, these projectors' types: %lu applied, %lu "
             "duplicates, %lu rejected, %lu ignored",
             s->events / (unsigned long)(n > 0 ? n : 1), s->applied, s->duplicates, s->rejected,
             s->ignored);
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
    sentinel_err_t err = replay_log_open(&log, conf, errstr, errstr_size);
    if (err) return err;
    int np = log.n;
    int64_t *first = sentinel_calloc((size_t)np, sizeof(int64_t)),
            *last = sentinel_calloc((size_t)np, sizeof(int64_t));
    int64_t *starts = sentinel_calloc((size_t)(n * np), sizeof(int64_t));
    int64_t *stops = sentinel_calloc((size_t)(n * np), sizeof(int64_t));
    job_t job = {0};
    err = position_resolve(&log, from, log.hi, first, errstr, errstr_size);
    if (!err) err = position_resolve(&log, to ? to : "end", log.hi, last, errstr, errstr_size);
    for (int k = 0; !err && k < n * np; k++) {
        stops[k] = last[k % np];
        starts[k] = first[k % np] < stops[k] ? first[k % np] : stops[k];
    }
    if (!err) err = replay_job_open(&job, conf, errstr, errstr_size);
    if (!err) {
        char *names = replay_names_array(set, n), pid[16], host[256], *range = NULL;
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
            names, log.topic, from, to ? to : "end", pid, replay_host_name(host, sizeof(host)),
            range};
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
        replay_report(o, "replaying %s from %s to %s\n", log.topic, from, to ? to : "the end");
        err = replay_run_set(set, n, conf, o, NULL, "replay", &log, starts, stops, starts, &job,
                             &stats, errstr, errstr_size);
        char line[256];
        stats_line(&stats, n, line, sizeof(line));
        if (!err) replay_report(o, "replay done: %s\n", line);
        replay_job_finish(&job, err ? "failed" : "done", err ? errstr : line);
    }
    replay_job_close(&job);
    free(first);
    free(last);
    free(starts);
    free(stops);
    replay_log_clear(&log);
    return err;
}
