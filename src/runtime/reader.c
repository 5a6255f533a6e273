/* reader.c -- the reader of a run: one Kafka consumer for every projector
 * of the process. It seeks each partition to the lowest stored offset of
 * its projectors, decodes each message once (only when some projector
 * handles its type), closes a chunk when the consumer's queue runs dry or a
 * batch limit is reached, and hands it to every projection, waiting when
 * the bytes in flight reach the run's memory setting. Kafka's committed
 * offsets are never read: the offsets of record live in projector_offsets. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
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
#include "runtime/run.h"
#include "runtime/runtime.h"

/* ---------------------------------------------------------------- accounting */

/* What decoding allocates, counted on the thread that decodes (jansson's
 * trees are most of a decoded event), with malloc's own overhead. */
static __thread size_t decoded_bytes;

static void *counting_malloc(size_t size) {
    decoded_bytes += size + 16;
    return sentinel_malloc(size);
}

static pthread_once_t counting_once = PTHREAD_ONCE_INIT;

static void count_decoding(void) { json_set_alloc_funcs(counting_malloc, free); }

/* ---------------------------------------------------------------- the chunk being filled */

static rt_chunk_t *filling(rt_runtime_t *rt) {
    if (!rt->filling) {
        rt->filling = sentinel_calloc(1, sizeof(*rt->filling));
    }
    return rt->filling;
}

static int has_content(const rt_runtime_t *rt) {
    return rt->filling && (rt->filling->n || rt->filling->n_spans);
}

static rt_span_t *span_for(rt_runtime_t *rt, int32_t p) {
    rt_chunk_t *c = filling(rt);
    rt_reader_part_t *rp = &rt->parts[p];
    if (rp->span < 0) {
        if (c->n_spans == c->cap_spans) {
            c->cap_spans = c->cap_spans ? c->cap_spans * 2 : 16;
            c->spans = sentinel_realloc(c->spans, (size_t)c->cap_spans * sizeof(*c->spans));
        }
        c->spans[c->n_spans] = (rt_span_t){p, rp->pos, rp->pos, rp->gen};
        rp->span = c->n_spans++;
    }
    return &c->spans[rp->span];
}

static int wanted_by_any(const rt_runtime_t *rt, const char *type, size_t len) {
    for (int j = 0; j < rt->n; j++)
        if (rt_handles(rt->proj[j].p, type, len)) return 1;
    return 0;
}

/* m at the end of the chunk being filled (stolen): routed by the writer
 * schema's fingerprint, else by header, and decoded only when some
 * projector of the run wants it. */
static void add_message(rt_runtime_t *rt, rd_kafka_message_t *m) {
    rt_chunk_t *c = filling(rt);
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->msgs = sentinel_realloc(c->msgs, c->cap * sizeof(*c->msgs));
    }
    rt_message_t *x = &c->msgs[c->n++];
    memset(x, 0, sizeof(*x));
    x->msg = m;
    int wanted = 1;
    x->type = sentinel_codec_peek_type(rt->codec, m->payload, m->len);
    if (x->type) {
        wanted = wanted_by_any(rt, x->type->name, strlen(x->type->name));
    } else {
        rd_kafka_headers_t *hdrs = NULL;
        const void *type = NULL;
        size_t type_len = 0;
        if (!rd_kafka_message_headers(m, &hdrs) &&
            !rd_kafka_header_get_last(hdrs, "event_type", &type, &type_len) && type) {
            x->claimed_type = sentinel_strndup(type, type_len);
            /* A header naming no type any projector handles routes
             * nothing: the message is decoded, and dead-lettered by
             * every projector when it does not decode. */
            if (rt_claim_routes(x)) wanted = wanted_by_any(rt, x->claimed_type, type_len);
        }
    }
    size_t before = decoded_bytes;
    if (wanted) {
        char errstr[1024];
        if (sentinel_event_decode(rt->codec, m->payload, m->len, &x->ev, errstr, sizeof(errstr))) {
            x->error = sentinel_strdup(errstr);
        } else {
            x->decoded = 1;
            x->type = x->ev.type;
        }
    }
    x->charge = sizeof(*x) + m->len + (decoded_bytes - before) +
                (x->ev.source ? strlen(x->ev.source) + 16 : 0);
    c->bytes += x->charge;
    c->payload += m->len;
    __atomic_fetch_add(&rt->messages, 1, __ATOMIC_RELAXED);

    rt_reader_part_t *rp = &rt->parts[m->partition];
    span_for(rt, m->partition)->to = m->offset + 1;
    rp->pos = m->offset + 1;
    rp->eof_at = -1;
}

static int take(rt_runtime_t *rt, rd_kafka_message_t *m);

/* Whether the chunk being filled must wait for room (lock held). */
static int no_room(rt_runtime_t *rt) {
    return !rt_stopping(rt) && rt->head && rt->filling &&
           rt->in_flight + rt->filling->bytes > rt->budget;
}

/* How long the reader waits for room without polling the consumer. */
#define RT_QUIET_WAIT_SECONDS 1.0

/* Wait until the bytes in flight leave room for the chunk being filled.
 * A projection's transaction frees room within a second as a rule, and
 * the reader waits that long as it is: the consumer's queue and the fetch
 * under way stay (librdkafka heartbeats on its own thread; a rebalance
 * waits that second for the next poll). Past it the consumer is paused and
 * still polled: its rebalances are served and max.poll.interval.ms kept
 * however long the projections take (a database outage), and a message it
 * still hands out joins the chunk, in order (the queue it came from is
 * already within the budget). A pause costs what was prefetched: the
 * resume fetches it again, which is why it is not the first resort (a
 * pause per transaction of the slowest projection took a fifth of a
 * backlog's time). */
static void wait_for_room(rt_runtime_t *rt) {
    double quiet_until = sentinel_monotonic_seconds() + RT_QUIET_WAIT_SECONDS, now;
    pthread_mutex_lock(&rt->lock);
    int full = no_room(rt);
    if (full) rt->waits++;
    while (full && (now = sentinel_monotonic_seconds()) < quiet_until) {
        __atomic_store_n(&rt->heartbeat_us, sentinel_wall_micros(), __ATOMIC_RELAXED);
        rt_wait_for(rt, &rt->room, quiet_until - now);
        full = no_room(rt);
    }
    pthread_mutex_unlock(&rt->lock);
    if (!full) return;
    rd_kafka_topic_partition_list_t *held = NULL;
    if (rd_kafka_assignment(rt->rk, &held) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_pause_partitions(rt->rk, held);
    rt->pauses++;
    for (;;) {
        __atomic_store_n(&rt->heartbeat_us, sentinel_wall_micros(), __ATOMIC_RELAXED);
        pthread_mutex_lock(&rt->lock);
        if (no_room(rt)) rt_wait(rt, &rt->room);
        full = no_room(rt);
        pthread_mutex_unlock(&rt->lock);
        if (!full) break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rt->rk, 0);
        if (m) (void)take(rt, m);
    }
    if (!held) return;
    /* What is still ours and not held for another reason goes on. */
    rd_kafka_topic_partition_list_t *go = rd_kafka_topic_partition_list_new(held->cnt);
    for (int i = 0; i < held->cnt; i++) {
        int32_t p = held->elems[i].partition;
        if (p < 0 || p >= RT_MAX_PARTITIONS) continue;
        const rt_reader_part_t *rp = &rt->parts[p];
        if (rp->assigned && !rp->pending && !rp->done)
            rd_kafka_topic_partition_list_add(go, held->elems[i].topic, p);
    }
    if (go->cnt) {
        /* From where this reader is, whatever a rebalance meanwhile did to
         * librdkafka's idea of it (a resume fetches from where the pause
         * found the partition). */
        rd_kafka_resume_partitions(rt->rk, go);
        for (int i = 0; i < go->cnt; i++)
            go->elems[i].offset = rt->parts[go->elems[i].partition].pos;
        rd_kafka_error_t *e = rd_kafka_seek_partitions(rt->rk, go, 10000);
        if (e) {
            sentinel_warn("%s: seeking after a pause: %s", rt->topic, rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    }
    rd_kafka_topic_partition_list_destroy(go);
    rd_kafka_topic_partition_list_destroy(held);
}

/* Hand the chunk being filled to every projection, once the bytes in
 * flight leave room for it (or nothing else is in flight). */
static void dispatch(rt_runtime_t *rt) {
    if (!has_content(rt)) return;
    wait_for_room(rt);
    if (!has_content(rt)) return; /* its partitions went meanwhile */
    rt_chunk_t *c = rt->filling;
    rt->filling = NULL;
    for (int s = 0; s < c->n_spans; s++)
        rt->parts[c->spans[s].partition].span = -1;
    pthread_mutex_lock(&rt->lock);
    if (rt_stopping(rt)) {
        pthread_mutex_unlock(&rt->lock);
        rt_chunk_free(c);
        return;
    }
    c->seq = ++rt->seq;
    c->refs = rt->n;
    if (rt->tail)
        rt->tail->next = c;
    else
        rt->head = c;
    rt->tail = c;
    rt->in_flight += c->bytes;
    if (rt->in_flight > rt->peak) rt->peak = rt->in_flight;
    pthread_cond_broadcast(&rt->more);
    pthread_mutex_unlock(&rt->lock);
}

/* Every chunk handed out is done with. */
static int drained(rt_runtime_t *rt) {
    pthread_mutex_lock(&rt->lock);
    int empty = !rt->head && !rt->any_reload;
    pthread_mutex_unlock(&rt->lock);
    return empty && !has_content(rt);
}

/* ---------------------------------------------------------------- reading */

static void on_eof(rt_runtime_t *rt, int32_t p, int64_t at) {
    rt_reader_part_t *rp = &rt->parts[p];
    if (!rp->assigned || rp->pending) return;
    rp->eof_at = at;
    if (at > rp->pos && !rp->done) {
        /* Nothing a consumer sees up to the end (transaction markers):
         * the projections move their offsets there too, so lag reads 0. */
        span_for(rt, p)->to = at;
        rp->pos = at;
    }
    if (rp->stop >= 0 && at >= rp->stop) rp->done = 1;
}

/* One message from the consumer (stolen): an event joins the chunk being
 * filled (1), anything else (an error, the end of a partition, a
 * straggler) is dealt with and let go (0). */
static int take(rt_runtime_t *rt, rd_kafka_message_t *m) {
    int32_t p = m->partition;
    if (m->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        if (!__atomic_load_n(&rt->brokers_down_us, __ATOMIC_RELAXED))
            __atomic_store_n(&rt->brokers_down_us, sentinel_wall_micros(), __ATOMIC_RELAXED);
    } else if (!m->err || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        __atomic_store_n(&rt->brokers_down_us, 0, __ATOMIC_RELAXED);
    }
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (p >= 0 && p < RT_MAX_PARTITIONS) on_eof(rt, p, m->offset);
        rd_kafka_message_destroy(m);
        return 0;
    }
    if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
            m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
            rt_fail(rt, "%s [%d]: %s", rt->topic, p, rd_kafka_message_errstr(m));
        } else if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                   m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
            sentinel_debug("consumer: %s", rd_kafka_message_errstr(m));
        } else {
            sentinel_warn("consumer: %s", rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
        return 0;
    }
    rt_reader_part_t *rp = p >= 0 && p < RT_MAX_PARTITIONS ? &rt->parts[p] : NULL;
    if (!rp || !rp->assigned || rp->pending || rp->done || m->offset < rp->pos) {
        /* a straggler: revoked, not placed yet, past the stop, or from
         * before a seek */
        rd_kafka_message_destroy(m);
        return 0;
    }
    if (rp->stop >= 0 && m->offset >= rp->stop) {
        span_for(rt, p)->to = m->offset;
        rp->pos = m->offset;
        rt_stop_partition(rt, p, 1);
        rd_kafka_message_destroy(m);
        return 0;
    }
    add_message(rt, m);
    return 1;
}

/* Fill the chunk: until the consumer's queue runs dry, a batch limit is
 * reached, or it has been open batch_ms. */
static void collect(rt_runtime_t *rt) {
    const sentinel_run_options_t *opt = rt->opt;
    double opened = sentinel_monotonic_seconds();
    while (!rt_stopping(rt)) {
        int has = has_content(rt);
        if (has) {
            const rt_chunk_t *c = rt->filling;
            if (c->n >= (size_t)opt->batch_events || c->payload >= opt->batch_bytes ||
                c->bytes >= rt->budget / 2 ||
                sentinel_monotonic_seconds() - opened >= opt->batch_ms / 1000.0)
                return;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rt->rk, has ? 0 : 100);
        if (!m) return;
        if (take(rt, m) && !has) opened = sentinel_monotonic_seconds();
    }
}

/* ---------------------------------------------------------------- ends of runs */

/* The reader's connection, idle between its queries, is looked at without
 * a round trip: a server that crashed or restarted has closed it, and the
 * commits that went with it are to be applied again (rt_connection_lost),
 * also where the projections, idle, would not find out. */
static void watch_connection(rt_runtime_t *rt) {
    if (!rt->pg || (PQconsumeInput(rt->pg) && PQstatus(rt->pg) == CONNECTION_OK)) return;
    sentinel_warn("the connection to the server broke: reading the stored offsets again");
    PQfinish(rt->pg);
    rt->pg = NULL;
    rt_connection_lost(rt);
}

/* Caught up across the whole group: every partition of the topic has the
 * stored offset of every projector of the run at the log end, whoever owns
 * it. A process that only looked at its own partitions would stop early
 * while a dead member still holds the others. */
static int topic_caught_up(rt_runtime_t *rt) {
    char errstr[512];
    int partitions = sentinel_topic_partitions(rt->rk, rt->topic, errstr, sizeof(errstr));
    if (partitions < 0 || rt_connect(rt, &rt->pg, 0, errstr, sizeof(errstr))) return 0;
    /* Per partition, the run's lowest stored offset and how many of its
     * projectors have one, in one query. */
    sentinel_array_t names = {0};
    for (int j = 0; j < rt->n; j++)
        sentinel_array_add(&names, rt->proj[j].p->name);
    const char *params[2] = {rt->topic, sentinel_array_text(&names)};
    PGresult *res = NULL;
    sentinel_err_t err =
        sentinel_db_params(rt->pg,
                           "SELECT partition, min(next_offset), count(*) FROM projector_offsets "
                           "WHERE topic = $1 AND projector = ANY($2::text[]) GROUP BY partition",
                           2, params, &res, errstr, sizeof(errstr));
    sentinel_array_free(&names);
    if (err) {
        watch_connection(rt); /* before the next rt_connect puts a new one in its place */
        return 0;
    }
    int64_t *lo = sentinel_calloc((size_t)partitions + 1, sizeof(*lo));
    int64_t *hi = sentinel_calloc((size_t)partitions + 1, sizeof(*hi));
    int done = !sentinel_topic_bounds(rt->rk, rt->topic, 0, partitions, lo, hi, 10000);
    for (int p = 0; p < partitions && done; p++) {
        int64_t lowest = -1, rows = 0;
        for (int k = 0; k < PQntuples(res); k++)
            if (atoi(PQgetvalue(res, k, 0)) == p) {
                lowest = atoll(PQgetvalue(res, k, 1));
                rows = atoll(PQgetvalue(res, k, 2));
            }
        /* A projector without a row is at the log start: done if empty. */
        done = (rows == 0 || lowest >= hi[p]) && (rows == rt->n / rt->lanes || hi[p] == lo[p]);
    }
    free(lo);
    free(hi);
    PQclear(res);
    return done;
}

static int locally_caught_up(rt_runtime_t *rt) {
    if (!rt->assigned_once || !drained(rt)) return 0;
    for (int p = 0; p < RT_MAX_PARTITIONS; p++) {
        const rt_reader_part_t *rp = &rt->parts[p];
        if (rp->assigned && (rp->eof_at < 0 || rp->pos < rp->eof_at)) return 0;
    }
    return 1;
}

static int bounded_done(rt_runtime_t *rt) {
    for (int p = 0; p < rt->opt->n_partitions && p < RT_MAX_PARTITIONS; p++)
        if (rt->parts[p].assigned && !rt->parts[p].done) return 0;
    return drained(rt);
}

/* ---------------------------------------------------------------- run */

void sentinel_run_options_init(sentinel_run_options_t *o) {
    memset(o, 0, sizeof(*o));
    o->batch_events = 10000;
    o->batch_bytes = 16 * 1024 * 1024;
    o->batch_ms = 200;
    o->linger_ms = 20;
    o->max_in_flight = SENTINEL_MAX_IN_FLIGHT_DEFAULT;
    o->stall_seconds = 60;
    o->lanes = 1;
}

/* The consumer, its prefetch cut from the memory setting: a quarter for
 * the queue and up to an eighth for one fetch beyond it; the rest is the
 * budget of the chunks in flight. */
static sentinel_err_t consumer_new(rt_runtime_t *rt, char *errstr, size_t errstr_size) {
    size_t total = rt->opt->max_in_flight;
    size_t queue_kb = total / 4 / 1024;
    size_t fetch = total / 8;
    if (fetch < ((size_t)1 << 20)) fetch = (size_t)1 << 20;
    if (fetch > ((size_t)8 << 20)) fetch = (size_t)8 << 20;
    rt->budget = total - queue_kb * 1024 - fetch;
    char queue_s[32], fetch_s[32], partition_s[32];
    snprintf(queue_s, sizeof(queue_s), "%zu", queue_kb);
    snprintf(fetch_s, sizeof(fetch_s), "%zu", fetch);
    snprintf(partition_s, sizeof(partition_s), "%zu",
             fetch < ((size_t)1 << 20) ? fetch : ((size_t)1 << 20));
    const char *defaults[] = {
        "enable.auto.commit",
        "false",
        "enable.auto.offset.store",
        "false",
        "auto.offset.reset",
        "error", /* never a silent skip */
        "isolation.level",
        "read_committed",
        "enable.partition.eof",
        "true",
        "session.timeout.ms",
        "10000",
        "heartbeat.interval.ms",
        "1000",
        "max.poll.interval.ms",
        "300000",
        "fetch.max.bytes",
        fetch_s,
        "max.partition.fetch.bytes",
        partition_s,
        "queued.max.messages.kbytes",
        queue_s,
        "fetch.wait.max.ms",
        "50",
        NULL,
    };
    rd_kafka_conf_t *kconf = sentinel_conf_kafka_new(rt->conf, defaults, errstr, errstr_size);
    if (!kconf) return SENTINEL_ERR_FATAL;
    if (rd_kafka_conf_set(kconf, "group.id", rt->group, errstr, errstr_size) ||
        (rt->opt->instance_id && rd_kafka_conf_set(kconf, "group.instance.id", rt->opt->instance_id,
                                                   errstr, errstr_size))) {
        rd_kafka_conf_destroy(kconf);
        return SENTINEL_ERR_FATAL;
    }
    rd_kafka_conf_set_rebalance_cb(kconf, rt_rebalance_cb);
    rd_kafka_conf_set_opaque(kconf, rt);
    rt->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, errstr, errstr_size);
    if (!rt->rk) {
        rd_kafka_conf_destroy(kconf);
        return SENTINEL_ERR_FATAL;
    }
    rd_kafka_poll_set_consumer(rt->rk);
    return SENTINEL_OK;
}

/* The reader's own connection, waited for as a daemon waits, or up to the
 * connect timeout in scripts. */
static sentinel_err_t first_connect(rt_runtime_t *rt, char *errstr, size_t errstr_size) {
    double give_up = sentinel_monotonic_seconds() + sentinel_conf_connect_timeout(rt->conf);
    sentinel_err_t err;
    for (int attempt = 0;; attempt++) {
        err = rt_connect(rt, &rt->pg, 0, errstr, errstr_size);
        if (err != SENTINEL_ERR_RETRIABLE || rt_stopping(rt)) break;
        if (!rt_is_daemon(rt) && sentinel_monotonic_seconds() >= give_up) {
            char why[768];
            snprintf(why, sizeof(why), "%s", errstr);
            snprintf(errstr, errstr_size, "no database answering within %d s: %s",
                     sentinel_conf_connect_timeout(rt->conf), why);
            return SENTINEL_ERR_FATAL;
        }
        sentinel_warn("%s; retrying", errstr);
        rt_backoff(rt, attempt);
    }
    return err;
}

static sentinel_err_t start(rt_runtime_t *rt, char *errstr, size_t errstr_size) {
    sentinel_err_t err = first_connect(rt, errstr, errstr_size);
    if (err) return err == SENTINEL_ERR_RETRIABLE ? SENTINEL_OK : err; /* stopped meanwhile */
    if ((err = consumer_new(rt, errstr, errstr_size))) return err;
    if (rt_bounded(rt)) {
        if ((err = rt_assign_bounded(rt, errstr, errstr_size))) return err;
        sentinel_debug("consuming %s%s%s up to set offsets", rt->topic,
                       rt->opt->schema ? " into " : "", rt->opt->schema ? rt->opt->schema : "");
    } else {
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(sub, rt->topic, RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t kerr = rd_kafka_subscribe(rt->rk, sub);
        rd_kafka_topic_partition_list_destroy(sub);
        if (kerr) {
            snprintf(errstr, errstr_size, "subscribe to %s: %s", rt->topic, rd_kafka_err2str(kerr));
            return SENTINEL_ERR_FATAL;
        }
        sentinel_info("consuming %s as group %s for %d projector(s) in %d lane(s) each", rt->topic,
                      rt->group, rt->n / rt->lanes, rt->lanes);
    }
    /* Without a reclaimer the projections free their chunks themselves. */
    rt->reclaiming = !pthread_create(&rt->reclaimer, NULL, rt_reclaim_main, rt);
    /* Without an analyzer autovacuum analyzes the tables, later. */
    rt->analyzing = !pthread_create(&rt->analyzer, NULL, rt_statistics_main, rt);
    for (int j = 0; j < rt->n; j++) {
        if (pthread_create(&rt->proj[j].thread, NULL, rt_projection_main, &rt->proj[j])) {
            snprintf(errstr, errstr_size, "cannot start a thread");
            return SENTINEL_ERR_FATAL;
        }
        rt->proj[j].started = 1;
    }
    return SENTINEL_OK;
}

/* Read until stopped, caught up, or a bounded run's end. */
static void read_loop(rt_runtime_t *rt) {
    double last_report = sentinel_monotonic_seconds(), last_global_check = 0, last_watch = 0;
    unsigned long reported = 0;
    char errstr[1024];
    while (!rt_stopping(rt)) {
        __atomic_store_n(&rt->heartbeat_us, sentinel_wall_micros(), __ATOMIC_RELAXED);
        double now = sentinel_monotonic_seconds();
        if (now - last_watch >= 0.25) {
            last_watch = now;
            watch_connection(rt);
        }
        sentinel_err_t err = rt->any_reload ? rt_reload(rt, errstr, sizeof(errstr)) : SENTINEL_OK;
        if (err == SENTINEL_ERR_FATAL) {
            /* an offset outside the log: waiting cannot fix it */
            rt_fail(rt, "%s", errstr);
            break;
        }
        if (err) {
            sentinel_warn("reading stored offsets again: %s; retrying", errstr);
            rt_backoff(rt, 1);
        }
        collect(rt);
        int idle = !has_content(rt);
        dispatch(rt);
        if (rt_bounded(rt)) {
            if (bounded_done(rt)) break;
        } else if (rt->opt->until_caught_up && idle && locally_caught_up(rt)) {
            double t = sentinel_monotonic_seconds();
            if (t - last_global_check >= 1.0) {
                last_global_check = t;
                if (topic_caught_up(rt)) break;
            }
        }
        double t = sentinel_monotonic_seconds();
        if (t - last_report >= 10) {
            pthread_mutex_lock(&rt->lock);
            size_t in_flight = rt->in_flight;
            pthread_mutex_unlock(&rt->lock);
            sentinel_info("read %lu messages (%.0f/s), %zu bytes in flight", rt->messages,
                          (rt->messages - reported) / (t - last_report), in_flight);
            reported = rt->messages;
            last_report = t;
        }
    }
}

/* The projections commit asynchronously (their stored offsets fence what a
 * server crash loses: it is applied again). A script's run that ends (until
 * caught up, a bounded run) must not leave them so: a commit with
 * synchronous_commit on that wrote WAL (a row lock does; a transaction
 * that wrote none commits asynchronously whatever the setting) flushes the
 * WAL up to it, every earlier asynchronous commit of every session
 * included, so that a run that says it is done is done after any crash. 0, or -1 with
 * the reason in rt->fatal when the server could not confirm it. */
static int make_commits_durable(rt_runtime_t *rt) {
    /* A daemon's stop stays prompt: its offsets fence what a crash loses. */
    if (rt_is_daemon(rt) || rt->fatal[0]) return 0;
    int any = 0;
    for (int j = 0; j < rt->n; j++)
        any |= rt->proj[j].started;
    if (!any) return 0;
    char errstr[1024];
    sentinel_err_t err = SENTINEL_OK;
    for (int attempt = 0; attempt < 3; attempt++) {
        err = rt_connect(rt, &rt->pg, 0, errstr, sizeof(errstr));
        if (!err)
            err = sentinel_db_exec(rt->pg,
                                   "BEGIN; SET LOCAL synchronous_commit = on; "
                                   "SELECT 1 FROM projector_offsets LIMIT 1 FOR KEY SHARE; "
                                   "COMMIT",
                                   errstr, sizeof(errstr));
        if (err != SENTINEL_ERR_RETRIABLE) break;
    }
    if (!err) return 0;
    rt_fail(rt, "the last commits are not known to be durable: %s", errstr);
    return -1;
}

static void finish(rt_runtime_t *rt) {
    pthread_mutex_lock(&rt->lock);
    rt->closed = 1;
    pthread_cond_broadcast(&rt->more);
    pthread_cond_broadcast(&rt->room);
    pthread_mutex_unlock(&rt->lock);
    for (int j = 0; j < rt->n; j++)
        if (rt->proj[j].started) pthread_join(rt->proj[j].thread, NULL);
    if (rt->reclaiming) {
        /* It frees what the projections left it, then ends. */
        pthread_mutex_lock(&rt->lock);
        rt->reclaim_stop = 1;
        pthread_cond_signal(&rt->litter);
        pthread_mutex_unlock(&rt->lock);
        pthread_join(rt->reclaimer, NULL);
        rt->reclaiming = 0;
    }
    if (rt->analyzing) {
        __atomic_store_n(&rt->statistics_stop, 1, __ATOMIC_RELAXED);
        pthread_join(rt->analyzer, NULL);
        rt->analyzing = 0;
    }
    (void)make_commits_durable(rt);
    for (int j = 0; j < rt->n; j++) {
        rt_projection_t *pj = &rt->proj[j];
        for (size_t i = 0; i < pj->n_items; i++)
            rt_item_clear(&pj->items[i]);
        free(pj->items);
        if (pj->pg) PQfinish(pj->pg);
    }
    /* Every message goes back to the client before it closes: a stop with
     * chunks still waiting (a backlog read ahead) otherwise leaves the
     * client's shutdown waiting for them forever. */
    rt_chunk_free(rt->filling);
    rt->filling = NULL;
    while (rt->head) {
        rt_chunk_t *c = rt->head;
        rt->head = c->next;
        rt_chunk_free(c);
    }
    rt->tail = NULL;
    if (rt->rk) {
        rd_kafka_consumer_close(rt->rk); /* leave the group cleanly */
        rd_kafka_destroy(rt->rk);
    }
    if (rt->pg) PQfinish(rt->pg);
    sentinel_codec_destroy(rt->codec);
    pthread_mutex_destroy(&rt->lock);
    pthread_cond_destroy(&rt->more);
    pthread_cond_destroy(&rt->room);
    pthread_cond_destroy(&rt->litter);
    free(rt->assigned);
    free(rt->proj);
}

sentinel_err_t sentinel_projections_run(sentinel_projection_t *set, int n,
                                        const sentinel_conf_t *conf,
                                        const sentinel_run_options_t *options,
                                        sentinel_reader_stats_t *reader, char *errstr,
                                        size_t errstr_size) {
    if (n < 1 || n > SENTINEL_MAX_SET) {
        snprintf(errstr, errstr_size, "between 1 and %d projectors", SENTINEL_MAX_SET);
        return SENTINEL_ERR_INVALID;
    }
    if (options->max_in_flight < SENTINEL_MAX_IN_FLIGHT_MIN ||
        options->max_in_flight > SENTINEL_MAX_IN_FLIGHT_MAX) {
        snprintf(errstr, errstr_size, "the bytes in flight must be from %zu to %zu",
                 SENTINEL_MAX_IN_FLIGHT_MIN, SENTINEL_MAX_IN_FLIGHT_MAX);
        return SENTINEL_ERR_INVALID;
    }
    if (options->lanes < 1 || options->lanes > SENTINEL_MAX_LANES) {
        snprintf(errstr, errstr_size, "between 1 and %d lanes", SENTINEL_MAX_LANES);
        return SENTINEL_ERR_INVALID;
    }
    pthread_once(&counting_once, count_decoding);
    rt_runtime_t *rt = sentinel_calloc(1, sizeof(*rt));
    rt->conf = conf;
    rt->opt = options;
    rt->topic = sentinel_conf_topic(conf);
    rt->lanes = options->lanes;
    rt->n = n * rt->lanes;
    rt->proj = sentinel_calloc((size_t)rt->n, sizeof(*rt->proj));
    rt->assigned = sentinel_calloc((size_t)rt->n * RT_MAX_PARTITIONS, sizeof(*rt->assigned));
    pthread_mutex_init(&rt->lock, NULL);
    pthread_cond_init(&rt->more, NULL);
    pthread_cond_init(&rt->room, NULL);
    pthread_cond_init(&rt->litter, NULL);
    for (int p = 0; p < RT_MAX_PARTITIONS; p++) {
        rt->parts[p].span = -1;
        rt->parts[p].eof_at = -1;
        rt->parts[p].stop = -1;
    }
    for (int j = 0; j < n; j++)
        memset(&set[j].stats, 0, sizeof(set[j].stats));
    for (int k = 0; k < rt->n; k++) {
        rt_projection_t *pj = &rt->proj[k];
        pj->rt = rt;
        pj->p = set[k / rt->lanes].projector;
        pj->run = &set[k / rt->lanes];
        pj->lane = k % rt->lanes;
        for (int p = 0; p < RT_MAX_PARTITIONS; p++)
            pj->obs.position[p] = -1;
    }
    sentinel_projectors_group(conf, set, n, rt->group, sizeof(rt->group));
    sentinel_err_t err = SENTINEL_OK;
    rt->codec = sentinel_codec_new(errstr, errstr_size);
    if (!rt->codec) err = SENTINEL_ERR_FATAL;
    if (!err) err = start(rt, errstr, errstr_size);
    if (!err) {
        rt_observe_start(rt);
        read_loop(rt);
        rt_observe_stop(rt);
    } else {
        rt_fail(rt, "%s", errstr);
    }
    finish(rt);
    if (!err && rt->fatal[0]) {
        snprintf(errstr, errstr_size, "%s", rt->fatal);
        err = SENTINEL_ERR_FATAL;
    }
    if (reader) {
        size_t total = options->max_in_flight;
        reader->messages = rt->messages;
        reader->max_in_flight = total;
        reader->peak_in_flight = rt->peak + (total - rt->budget);
        reader->waits = rt->waits;
        reader->pauses = rt->pauses;
    }
    free(rt);
    return err;
}
