/* metrics.c -- what the runs of a process show: Prometheus text at
 * /metrics, /healthz and /readyz over libmicrohttpd, and the stall
 * watchdog.
 *
 * The hot path only writes: counters and histograms are relaxed atomic
 * adds done once per batch by the projection's own thread. Everything
 * else (lag, commit age, readiness) is computed when asked, from the
 * runs registered here: a run registers when its reader starts and leaves
 * before its consumer is closed, under the server's lock, which every
 * reader of a run takes too. */
#include <microhttpd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/histogram.h"
#include "base/http_server.h"
#include "base/kafka_conf.h"
#include "base/log.h"
#include "base/timestamp.h"
#include "pg/db.h"
#include "runtime/run.h"
#include "runtime/runtime.h"

const double rt_batch_seconds_bounds[SENTINEL_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
const double rt_batch_events_bounds[SENTINEL_BUCKETS] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000};
const double rt_freshness_bounds[SENTINEL_BUCKETS] = {
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400};

#define HEALTHY_TURN_SECONDS 60 /* a loop that has not turned this long is stuck */
#define UNREACHABLE_SECONDS 5   /* failing this long: the database does not answer */
#define DEAD_LETTERS_EVERY 5    /* seconds between counts of the open dead letters */
#define MAX_NAMES 64

/* ---------------------------------------------------------------- writing */

void rt_observe_commit(rt_projection_t *pj, size_t count, double seconds) {
    int64_t now = sentinel_wall_micros();
    sentinel_histogram_add(&pj->obs.batch_seconds, rt_batch_seconds_bounds, seconds);
    sentinel_histogram_add(&pj->obs.batch_events, rt_batch_events_bounds, (double)count);
    /* Freshness: this commit's time less each event's Kafka timestamp. */
    uint64_t counts[SENTINEL_BUCKETS + 1] = {0}, sum = 0, n = 0;
    for (size_t i = 0; i < count; i++) {
        rd_kafka_timestamp_type_t type;
        int64_t ms = rd_kafka_message_timestamp(pj->items[i].m->msg, &type);
        if (ms < 0 || type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE) continue;
        double age = (double)(now - ms * 1000) / 1e6;
        if (age < 0) age = 0;
        counts[sentinel_histogram_bucket(rt_freshness_bounds, age)]++;
        sum += (uint64_t)(age * 1e6);
        n++;
    }
    if (n) sentinel_histogram_merge(&pj->obs.freshness_seconds, counts, n, sum);
    __atomic_store_n(&pj->obs.last_commit_us, now, __ATOMIC_RELAXED);
    __atomic_store_n(&pj->obs.heartbeat_us, now, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------- the server */

struct sentinel_metrics {
    sentinel_http_server_t *http;
    int port;
    int stall_seconds;
    char *db; /* conninfo, for the count of open dead letters */
    pthread_mutex_t lock;
    rt_runtime_t *runs; /* registered, linked by next_observed */
    pthread_t watchdog;
    int watching;
    volatile int stopping;
    /* The open dead letters by projector, counted every few seconds by the
     * watchdog (pg and counted_at are its own; the counts are under lock). */
    PGconn *pg;
    double counted_at;
    int n_open;
    char open_names[MAX_NAMES][64];
    long long open_counts[MAX_NAMES];
};

void rt_observe_start(rt_runtime_t *rt) {
    sentinel_metrics_t *m = rt->opt->metrics;
    if (!m) return;
    __atomic_store_n(&rt->heartbeat_us, sentinel_wall_micros(), __ATOMIC_RELAXED);
    for (int j = 0; j < rt->n; j++)
        __atomic_store_n(&rt->proj[j].obs.heartbeat_us, sentinel_wall_micros(), __ATOMIC_RELAXED);
    pthread_mutex_lock(&m->lock);
    rt->next_observed = m->runs;
    m->runs = rt;
    pthread_mutex_unlock(&m->lock);
}

void rt_observe_stop(rt_runtime_t *rt) {
    sentinel_metrics_t *m = rt->opt->metrics;
    if (!m) return;
    pthread_mutex_lock(&m->lock);
    for (rt_runtime_t **at = &m->runs; *at; at = &(*at)->next_observed) {
        if (*at == rt) {
            *at = rt->next_observed;
            break;
        }
    }
    pthread_mutex_unlock(&m->lock);
}

/* Projection j's lag on partition p: messages between where it stands and
 * the end of the log (a bounded run's stop), or -1 when not known or not
 * its lane's. */
static int64_t lag_of(rt_runtime_t *rt, int j, int32_t p) {
    rt_projection_t *pj = &rt->proj[j];
    if (!rt_in_lane(pj, p)) return -1;
    int64_t lo = -1, hi = -1;
    if (rd_kafka_get_watermark_offsets(rt->rk, rt->topic, p, &lo, &hi) || hi < 0) return -1;
    if (pj->run->stop_offsets && p < rt->opt->n_partitions && pj->run->stop_offsets[p] < hi)
        hi = pj->run->stop_offsets[p];
    int64_t pos = __atomic_load_n(&pj->obs.position[p], __ATOMIC_RELAXED);
    if (pos < 0) {
        pthread_mutex_lock(&rt->lock);
        pos = rt->assigned[(size_t)j * RT_MAX_PARTITIONS + (size_t)p];
        pthread_mutex_unlock(&rt->lock);
    }
    if (pos < 0) return -1;
    return hi > pos ? hi - pos : 0;
}

/* The partitions assigned to a run's reader, into out; how many. */
static int assigned_parts(rt_runtime_t *rt, int32_t *out) {
    int n = 0;
    pthread_mutex_lock(&rt->lock);
    for (int32_t p = 0; p < RT_MAX_PARTITIONS; p++)
        if (rt->parts[p].assigned) out[n++] = p;
    pthread_mutex_unlock(&rt->lock);
    return n;
}

/* Watchdog: is projection j stalled, and why? (server lock held) */
static void judge(sentinel_metrics_t *m, rt_runtime_t *rt, int j, int64_t now) {
    rt_projection_t *pj = &rt->proj[j];
    int32_t parts[RT_MAX_PARTITIONS];
    int n = assigned_parts(rt, parts);
    int64_t lag = 0;
    for (int i = 0; i < n; i++) {
        int64_t l = lag_of(rt, j, parts[i]);
        if (l > 0) lag += l;
    }
    int64_t last = __atomic_load_n(&pj->obs.last_commit_us, __ATOMIC_RELAXED);
    int64_t failing = __atomic_load_n(&pj->obs.failing_since_us, __ATOMIC_RELAXED);
    int64_t since = last ? last : __atomic_load_n(&rt->heartbeat_us, __ATOMIC_RELAXED);
    int64_t limit = (int64_t)m->stall_seconds * 1000000;
    char reason[256] = "";
    if (failing && now - failing >= limit)
        snprintf(reason, sizeof(reason), "%s has been retrying for %lld s", pj->p->name,
                 (long long)((now - failing) / 1000000));
    else if (lag > 0 && since && now - since >= limit)
        snprintf(reason, sizeof(reason), "%s has a lag of %lld and committed nothing for %lld s",
                 pj->p->name, (long long)lag, (long long)((now - since) / 1000000));
    int stalled = reason[0] != '\0';
    if (stalled && !pj->obs.stalled)
        sentinel_warn("watchdog: %s: not ready", reason);
    else if (!stalled && pj->obs.stalled)
        sentinel_info("watchdog: %s moves again", pj->p->name);
    pj->obs.stalled = stalled;
    snprintf(pj->obs.stall_reason, sizeof(pj->obs.stall_reason), "%s", reason);
}

/* Count the open dead letters again when the last count is old: on the
 * watchdog's thread, its connection its own, and outside the lock, so a
 * slow database delays neither a scrape nor a probe. Only the result is
 * stored under the lock. */
static void count_dead_letters(sentinel_metrics_t *m) {
    double t = sentinel_monotonic_seconds();
    if (m->counted_at && t - m->counted_at < DEAD_LETTERS_EVERY) return;
    m->counted_at = t;
    char errstr[512];
    if (m->pg && PQstatus(m->pg) != CONNECTION_OK) {
        PQfinish(m->pg);
        m->pg = NULL;
    }
    if (!m->pg) {
        m->pg = sentinel_db_open(m->db, 2, NULL, errstr, sizeof(errstr));
        if (m->pg &&
            sentinel_db_exec(m->pg, "SET statement_timeout = '2s'", errstr, sizeof(errstr))) {
            PQfinish(m->pg);
            m->pg = NULL;
        }
    }
    if (!m->pg) return;
    PGresult *res = NULL;
    if (!sentinel_db_params(m->pg,
                            "SELECT projector, count(*) FROM dead_letters "
                            "WHERE resolved_at IS NULL GROUP BY projector ORDER BY 1",
                            0, NULL, &res, errstr, sizeof(errstr))) {
        pthread_mutex_lock(&m->lock);
        m->n_open = PQntuples(res) < MAX_NAMES ? PQntuples(res) : MAX_NAMES;
        for (int i = 0; i < m->n_open; i++) {
            snprintf(m->open_names[i], sizeof(m->open_names[i]), "%s", PQgetvalue(res, i, 0));
            m->open_counts[i] = atoll(PQgetvalue(res, i, 1));
        }
        pthread_mutex_unlock(&m->lock);
    }
    PQclear(res);
}

static void *watch(void *arg) {
    sentinel_metrics_t *m = arg;
    while (!m->stopping) {
        pthread_mutex_lock(&m->lock);
        int64_t now = sentinel_wall_micros();
        for (rt_runtime_t *rt = m->runs; rt; rt = rt->next_observed)
            for (int j = 0; j < rt->n; j++)
                judge(m, rt, j, now);
        pthread_mutex_unlock(&m->lock);
        count_dead_letters(m);
        for (int i = 0; i < 10 && !m->stopping; i++)
            usleep(100 * 1000);
    }
    return NULL;
}

/* ---------------------------------------------------------------- exposition */

/* Per projector name, summed over the runs of the process (a replay runs
 * one projector on several readers). */
typedef struct totals {
    const char *name;
    unsigned long applied, duplicates, rejected, ignored, retries, fenced;
    sentinel_histogram_t batch_seconds, batch_events, freshness;
    int64_t last_commit_us;
    int stalled;
} totals_t;

static unsigned long load(const unsigned long *v) { return __atomic_load_n(v, __ATOMIC_RELAXED); }

static void header(FILE *out, const char *metric, const char *type, const char *help) {
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", metric, help, metric, type);
}

/* The exposition, in Prometheus text format 0.0.4. New. (lock held) */
static char *render(sentinel_metrics_t *m, int ready) {
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out) abort();
    totals_t t[MAX_NAMES];
    int n = 0;
    int64_t now = sentinel_wall_micros();
    unsigned long messages = 0;
    size_t in_flight = 0;
    for (rt_runtime_t *rt = m->runs; rt; rt = rt->next_observed) {
        messages += __atomic_load_n(&rt->messages, __ATOMIC_RELAXED);
        pthread_mutex_lock(&rt->lock);
        in_flight += rt->in_flight;
        pthread_mutex_unlock(&rt->lock);
        for (int j = 0; j < rt->n; j++) {
            rt_projection_t *pj = &rt->proj[j];
            int k = 0;
            while (k < n && strcmp(t[k].name, pj->p->name))
                k++;
            if (k == n) {
                if (n == MAX_NAMES) continue;
                memset(&t[n], 0, sizeof(t[n]));
                t[n++].name = pj->p->name;
            }
            const sentinel_projector_stats_t *s = &pj->run->stats;
            if (!pj->lane) { /* the lanes count into one */
                t[k].applied += load(&s->applied);
                t[k].duplicates += load(&s->duplicates);
                t[k].rejected += load(&s->rejected);
                t[k].ignored += load(&s->ignored);
                t[k].retries += load(&s->retries);
                t[k].fenced += load(&s->fenced);
            }
            sentinel_histogram_sum(&t[k].batch_seconds, &pj->obs.batch_seconds);
            sentinel_histogram_sum(&t[k].batch_events, &pj->obs.batch_events);
            sentinel_histogram_sum(&t[k].freshness, &pj->obs.freshness_seconds);
            int64_t last = __atomic_load_n(&pj->obs.last_commit_us, __ATOMIC_RELAXED);
            if (last > t[k].last_commit_us) t[k].last_commit_us = last;
            t[k].stalled |= pj->obs.stalled;
        }
    }

    header(out, "sentinel_events_total", "counter", "Events a projector went through, by outcome.");
    for (int k = 0; k < n; k++) {
        static const char *const outcomes[] = {"applied", "duplicate", "rejected", "ignored"};
        unsigned long v[] = {t[k].applied, t[k].duplicates, t[k].rejected, t[k].ignored};
        for (int o = 0; o < 4; o++)
            fprintf(out, "sentinel_events_total{projector=\"%s\",outcome=\"%s\"} %lu\n", t[k].name,
                    outcomes[o], v[o]);
    }
    header(out, "sentinel_lag_messages", "gauge",
           "Messages between where a projector stands and the end of the log, by partition.");
    for (rt_runtime_t *rt = m->runs; rt; rt = rt->next_observed) {
        int32_t parts[RT_MAX_PARTITIONS];
        int np = assigned_parts(rt, parts);
        for (int j = 0; j < rt->n; j++)
            for (int i = 0; i < np; i++) {
                int64_t lag = lag_of(rt, j, parts[i]);
                if (lag >= 0)
                    fprintf(out, "sentinel_lag_messages{projector=\"%s\",partition=\"%d\"} %lld\n",
                            rt->proj[j].p->name, parts[i], (long long)lag);
            }
    }
    static const struct {
        const char *metric, *help;
        size_t at; /* of the histogram in totals_t */
        const double *bounds;
    } histograms[] = {
        {"sentinel_batch_duration_seconds", "Time from taking a batch to its commit.",
         offsetof(totals_t, batch_seconds), rt_batch_seconds_bounds},
        {"sentinel_batch_events", "Events of a projector's types in a committed batch.",
         offsetof(totals_t, batch_events), rt_batch_events_bounds},
        {"sentinel_freshness_seconds",
         "Commit time less the Kafka timestamp of each event committed.",
         offsetof(totals_t, freshness), rt_freshness_bounds},
    };
    for (size_t h = 0; h < sizeof(histograms) / sizeof(histograms[0]); h++) {
        header(out, histograms[h].metric, "histogram", histograms[h].help);
        for (int k = 0; k < n; k++) {
            char labels[160];
            snprintf(labels, sizeof(labels), "projector=\"%s\"", t[k].name);
            sentinel_histogram_text(
                out, histograms[h].metric, labels,
                (const sentinel_histogram_t *)((const char *)&t[k] + histograms[h].at),
                histograms[h].bounds);
        }
    }
    header(out, "sentinel_last_commit_age_seconds", "gauge",
           "Seconds since the projector's last commit (absent before the first).");
    for (int k = 0; k < n; k++)
        if (t[k].last_commit_us)
            fprintf(out, "sentinel_last_commit_age_seconds{projector=\"%s\"} %.3f\n", t[k].name,
                    (now - t[k].last_commit_us) / 1e6);
    header(out, "sentinel_retries_total", "counter",
           "Transactions tried again after a failure that waiting fixes.");
    for (int k = 0; k < n; k++)
        fprintf(out, "sentinel_retries_total{projector=\"%s\"} %lu\n", t[k].name, t[k].retries);
    header(out, "sentinel_fences_total", "counter",
           "Batches rolled back because another consumer moved the offsets first.");
    for (int k = 0; k < n; k++)
        fprintf(out, "sentinel_fences_total{projector=\"%s\"} %lu\n", t[k].name, t[k].fenced);
    header(out, "sentinel_dead_letters_open", "gauge", "Dead letters not resolved yet.");
    for (int k = 0; k < n; k++) {
        long long open = 0;
        for (int i = 0; i < m->n_open; i++)
            if (!strcmp(m->open_names[i], t[k].name)) open = m->open_counts[i];
        fprintf(out, "sentinel_dead_letters_open{projector=\"%s\"} %lld\n", t[k].name, open);
    }
    header(out, "sentinel_stalled", "gauge",
           "1 while the watchdog finds the projector stalled (see the log for why).");
    for (int k = 0; k < n; k++)
        fprintf(out, "sentinel_stalled{projector=\"%s\"} %d\n", t[k].name, t[k].stalled);
    header(out, "sentinel_messages_read_total", "counter",
           "Messages read from the topic, each once.");
    fprintf(out, "sentinel_messages_read_total %lu\n", messages);
    header(out, "sentinel_bytes_in_flight", "gauge", "Bytes read and not yet done with.");
    fprintf(out, "sentinel_bytes_in_flight %zu\n", in_flight);
    header(out, "sentinel_ready", "gauge", "1 when /readyz answers 200.");
    fprintf(out, "sentinel_ready %d\n", ready);
    fclose(out);
    return text;
}

/* ---------------------------------------------------------------- health */

/* Whether the loops turn; why not in why. (lock held) */
static int healthy(sentinel_metrics_t *m, char *why, size_t size) {
    int64_t now = sentinel_wall_micros(), limit = (int64_t)HEALTHY_TURN_SECONDS * 1000000;
    for (rt_runtime_t *rt = m->runs; rt; rt = rt->next_observed) {
        if (now - __atomic_load_n(&rt->heartbeat_us, __ATOMIC_RELAXED) > limit) {
            snprintf(why, size, "the reader has not turned for %d s", HEALTHY_TURN_SECONDS);
            return 0;
        }
        for (int j = 0; j < rt->n; j++)
            if (now - __atomic_load_n(&rt->proj[j].obs.heartbeat_us, __ATOMIC_RELAXED) > limit) {
                snprintf(why, size, "%s has not turned for %d s", rt->proj[j].p->name,
                         HEALTHY_TURN_SECONDS);
                return 0;
            }
    }
    snprintf(why, size, "ok");
    return 1;
}

/* Whether the process does its work; why not in why. (lock held) */
static int ready(sentinel_metrics_t *m, char *why, size_t size) {
    int64_t now = sentinel_wall_micros();
    if (!m->runs) {
        snprintf(why, size, "no run is going");
        return 0;
    }
    /* Every stalled projector is named. */
    size_t said = 0;
    for (rt_runtime_t *rt = m->runs; rt; rt = rt->next_observed)
        for (int j = 0; j < rt->n; j++)
            if (rt->proj[j].obs.stalled && said < size)
                said += (size_t)snprintf(why + said, size - said, "%s%s", said ? "; " : "",
                                         rt->proj[j].obs.stall_reason);
    if (said) return 0;
    for (rt_runtime_t *rt = m->runs; rt; rt = rt->next_observed) {
        int32_t parts[RT_MAX_PARTITIONS];
        if (!assigned_parts(rt, parts)) {
            snprintf(why, size, "no partition assigned to group %s", rt->group);
            return 0;
        }
        int64_t down = __atomic_load_n(&rt->brokers_down_us, __ATOMIC_RELAXED);
        if (down) {
            snprintf(why, size, "no Kafka broker answers (for %lld s)",
                     (long long)((now - down) / 1000000));
            return 0;
        }
        for (int j = 0; j < rt->n; j++) {
            rt_projection_t *pj = &rt->proj[j];
            int64_t failing = __atomic_load_n(&pj->obs.failing_since_us, __ATOMIC_RELAXED);
            if (failing && now - failing >= (int64_t)UNREACHABLE_SECONDS * 1000000) {
                snprintf(why, size, "%s cannot commit (retrying for %lld s)", pj->p->name,
                         (long long)((now - failing) / 1000000));
                return 0;
            }
        }
    }
    snprintf(why, size, "ok");
    return 1;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, char *body,
                             const char *type) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *upload_data,
                             size_t *upload_data_size, void **con_cls) {
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    sentinel_metrics_t *m = cls;
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, sentinel_strdup("GET only\n"), "text/plain");
    char why[512], *body = NULL;
    unsigned status = MHD_HTTP_OK;
    const char *type = "text/plain; charset=utf-8";
    pthread_mutex_lock(&m->lock);
    if (!strcmp(url, "/metrics")) {
        body = render(m, ready(m, why, sizeof(why)));
        type = "text/plain; version=0.0.4; charset=utf-8";
    } else if (!strcmp(url, "/healthz") || !strcmp(url, "/readyz")) {
        int ok = url[1] == 'h' ? healthy(m, why, sizeof(why)) : ready(m, why, sizeof(why));
        status = ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
        body = sentinel_aprintf("%s\n", why);
    } else {
        status = MHD_HTTP_NOT_FOUND;
        body = sentinel_strdup("/metrics, /healthz or /readyz\n");
    }
    pthread_mutex_unlock(&m->lock);
    return reply(c, status, body, type);
}

sentinel_metrics_t *sentinel_metrics_start(const char *listen, const sentinel_conf_t *conf,
                                           int stall_seconds, char *errstr, size_t errstr_size) {
    sentinel_metrics_t *m = sentinel_calloc(1, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    m->stall_seconds = stall_seconds > 0 ? stall_seconds : 60;
    m->db = sentinel_strdup(sentinel_conf_db(conf));
    /* Scrapers and probes: a few connections each, answered at once. */
    const sentinel_http_limits_t limits = {.threads = 2,
                                           .connections = 256,
                                           .per_address = 32,
                                           .header_seconds = 5,
                                           .request_seconds = 10};
    m->http = sentinel_http_start("--metrics-listen", listen, &limits, serve, NULL, m, NULL, NULL,
                                  errstr, errstr_size);
    if (!m->http) {
        sentinel_metrics_stop(m);
        return NULL;
    }
    m->port = sentinel_http_port(m->http);
    if (pthread_create(&m->watchdog, NULL, watch, m)) {
        snprintf(errstr, errstr_size, "cannot start the watchdog thread");
        sentinel_metrics_stop(m);
        return NULL;
    }
    m->watching = 1;
    return m;
}

int sentinel_metrics_port(const sentinel_metrics_t *m) { return m->port; }

void sentinel_metrics_stop(sentinel_metrics_t *m) {
    if (!m) return;
    m->stopping = 1;
    if (m->watching) pthread_join(m->watchdog, NULL);
    sentinel_http_stop(m->http);
    if (m->pg) PQfinish(m->pg);
    pthread_mutex_destroy(&m->lock);
    free(m->db);
    free(m);
}
