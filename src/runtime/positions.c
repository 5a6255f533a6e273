/* positions.c -- where the reader of a run reads: each partition from the
 * lowest stored offset of its projections (rows made where missing), the
 * consumer group's assignments and revocations, reloads a projection asks
 * for after a fence or a gap, and the fixed assignment of bounded runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/kafka_conf.h"
#include "base/log.h"
#include "base/timestamp.h"
#include "base/topic.h"
#include "pg/db.h"
#include "runtime/run.h"
#include "runtime/runtime.h"

/* Partition p was revoked or sought: what the chunk being filled holds of
 * it goes. */
void rt_forget(rt_runtime_t *rt, int32_t p) {
    rt_chunk_t *c = rt->filling;
    rt_reader_part_t *rp = &rt->parts[p];
    if (!c) return;
    size_t kept = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->msgs[i].msg->partition == p) {
            c->bytes -= c->msgs[i].charge;
            c->payload -= c->msgs[i].msg->len;
            rt_message_clear(&c->msgs[i]);
        } else {
            c->msgs[kept++] = c->msgs[i];
        }
    }
    c->n = kept;
    if (rp->span >= 0) {
        int last = c->n_spans - 1;
        if (rp->span != last) {
            c->spans[rp->span] = c->spans[last];
            rt->parts[c->spans[rp->span].partition].span = rp->span;
        }
        c->n_spans--;
        rp->span = -1;
    }
}

/* The consumer group of a set of projectors (run.h). */
const char *sentinel_projectors_group(const sentinel_conf_t *conf, const sentinel_projection_t *set,
                                      int n, char *buf, size_t size) {
    int registered = 0;
    while (sentinel_projectors[registered])
        registered++;
    if (n == registered && n > 1) {
        snprintf(buf, size, "%s.all", sentinel_conf_group_prefix(conf));
        return buf;
    }
    size_t len = (size_t)snprintf(buf, size, "%s.", sentinel_conf_group_prefix(conf));
    int first = 1;
    for (int i = 0; sentinel_projectors[i]; i++)
        for (int j = 0; j < n; j++)
            if (set[j].projector == sentinel_projectors[i] && len < size) {
                len += (size_t)snprintf(buf + len, size - len, "%s%s", first ? "" : "+",
                                        sentinel_projectors[i]->name);
                first = 0;
            }
    return buf;
}

/* Where every projection of the run starts on partition p: the stored
 * offsets (rows made at the log start where missing; a replay's start
 * offsets instead), each within the log. Into stored[0..n). */
static sentinel_err_t partition_starts(rt_runtime_t *rt, int32_t p, int64_t *stored, char *errstr,
                                       size_t errstr_size) {
    if (p < 0 || p >= RT_MAX_PARTITIONS) {
        snprintf(errstr, errstr_size, "%s [%d]: more partitions than the %d one run can read",
                 rt->topic, p, RT_MAX_PARTITIONS);
        return SENTINEL_ERR_FATAL;
    }
    if (rt_bounded(rt) && rt->proj[0].run->start_offsets) {
        for (int j = 0; j < rt->n; j++)
            stored[j] = rt->proj[j].run->start_offsets[p];
        return SENTINEL_OK;
    }
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t kerr = sentinel_topic_bounds(rt->rk, rt->topic, p, 1, &lo, &hi, 15000);
    if (kerr) {
        snprintf(errstr, errstr_size, "%s [%d]: watermarks: %s", rt->topic, p,
                 rd_kafka_err2str(kerr));
        return SENTINEL_ERR_RETRIABLE;
    }
    /* One attempt: the callers decide whether and when to try again (the
     * rebalance callback must not wait on the database inside a poll). */
    /* Once per projector: its lanes share its offsets. */
    const char *names[SENTINEL_MAX_SET];
    int64_t each[SENTINEL_MAX_SET];
    int projectors = rt->n / rt->lanes;
    for (int k = 0; k < projectors; k++)
        names[k] = rt->proj[k * rt->lanes].p->name;
    sentinel_err_t err = rt_connect(rt, &rt->pg, 0, errstr, errstr_size);
    if (!err)
        err =
            rt_load_offsets(rt->pg, rt->topic, names, projectors, p, lo, each, errstr, errstr_size);
    if (err) return err;
    for (int j = 0; j < rt->n; j++)
        stored[j] = each[j / rt->lanes];
    for (int j = 0; j < rt->n; j++) {
        if (stored[j] >= lo && stored[j] <= hi) continue;
        snprintf(errstr, errstr_size,
                 "%s: stored offset %lld of %s [%d] is outside the log (%lld..%lld); refusing "
                 "to skip or re-read events silently (a topic recreated or truncated?). "
                 "Inspect with sentinel status; rebuild the projection from the log with "
                 "sentinel rebuild",
                 rt->proj[j].p->name, (long long)stored[j], rt->topic, p, (long long)lo,
                 (long long)hi);
        return SENTINEL_ERR_FATAL;
    }
    return SENTINEL_OK;
}

/* A new generation of partition p, from the projections' starts: the
 * reader reads from the lowest of those that still want something.
 * Returns the offset to read from; *done when none wants anything. */
static int64_t begin_generation(rt_runtime_t *rt, int32_t p, const int64_t *stored, int *done) {
    rt_reader_part_t *rp = &rt->parts[p];
    int64_t from = -1, stop = -1;
    for (int j = 0; j < rt->n; j++) {
        const int64_t *stops = rt->proj[j].run->stop_offsets;
        if (stops && stored[j] >= stops[p]) continue;
        if (from < 0 || stored[j] < from) from = stored[j];
        if (stops && stops[p] > stop) stop = stops[p];
    }
    rt_forget(rt, p);
    pthread_mutex_lock(&rt->lock);
    rp->gen++;
    for (int j = 0; j < rt->n; j++)
        rt->assigned[j * RT_MAX_PARTITIONS + p] = stored[j];
    pthread_mutex_unlock(&rt->lock);
    /* Progress reports start where each projection stands, also where it
     * has nothing left to do. */
    for (int j = 0; j < rt->n; j++)
        if (rt->proj[j].run->positions && p < rt->opt->n_partitions)
            __atomic_store_n(&rt->proj[j].run->positions[p], stored[j], __ATOMIC_RELAXED);
    *done = from < 0;
    rp->assigned = 1;
    rp->pos = from < 0 ? stored[0] : from;
    rp->eof_at = -1;
    rp->stop = stop;
    rp->done = *done;
    return rp->pos;
}

void rt_stop_partition(rt_runtime_t *rt, int32_t p, int pause) {
    rt->parts[p].done = 1;
    if (!pause) return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rt->topic, p);
    rd_kafka_pause_partitions(rt->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

void rt_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                     rd_kafka_topic_partition_list_t *parts, void *opaque) {
    rt_runtime_t *rt = opaque;
    int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        char errstr[1024];
        int64_t stored[RT_MAX_PROJECTIONS];
        rd_kafka_topic_partition_list_t *held = rd_kafka_topic_partition_list_new(1);
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &parts->elems[i];
            /* One try, and only on a session that is up: this runs inside
             * the consumer's poll, which must come back well within
             * max.poll.interval.ms whatever the database does. */
            sentinel_err_t lerr = SENTINEL_ERR_RETRIABLE;
            snprintf(errstr, sizeof(errstr), "no database session");
            if (rt->pg && PQstatus(rt->pg) == CONNECTION_OK)
                lerr = partition_starts(rt, tp->partition, stored, errstr, sizeof(errstr));
            if (lerr == SENTINEL_ERR_RETRIABLE && tp->partition >= 0 &&
                tp->partition < RT_MAX_PARTITIONS) {
                /* Held, paused, until the reader's loop can read where it
                 * starts (rt_reload, with backoff). */
                rt_forget(rt, tp->partition);
                rt_reader_part_t *rp = &rt->parts[tp->partition];
                pthread_mutex_lock(&rt->lock);
                rp->gen++;
                rp->assigned = 1;
                rp->pending = 1;
                rp->eof_at = -1;
                rp->reload = 1;
                rt->any_reload = 1;
                pthread_mutex_unlock(&rt->lock);
                tp->offset = RD_KAFKA_OFFSET_END;
                rd_kafka_topic_partition_list_add(held, rt->topic, tp->partition);
                sentinel_warn("%s [%d]: its stored offsets cannot be read now (%s); it waits, "
                              "paused",
                              rt->topic, tp->partition, errstr);
                continue;
            }
            if (lerr) {
                /* a real contradiction (an offset outside the log) */
                rd_kafka_topic_partition_list_destroy(held);
                rt_fail(rt, "%s", errstr);
                return;
            }
            int done;
            tp->offset = begin_generation(rt, tp->partition, stored, &done);
            sentinel_debug("%s [%d] from offset %lld", rt->topic, tp->partition,
                           (long long)tp->offset);
        }
        rt->assigned_once = 1;
        sentinel_info("assigned %d partition(s) of %s", parts->cnt, rt->topic);
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
            if (e) rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, parts);
        }
        if (held->cnt) rd_kafka_pause_partitions(rk, held);
        rd_kafka_topic_partition_list_destroy(held);
        return;
    }
    /* Revoked or lost: what is read of them is abandoned before they go,
     * and what is in flight is dropped by the projections (a commit
     * already under way is fenced by the stored offsets if another
     * consumer moved first). */
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (p < 0 || p >= RT_MAX_PARTITIONS) continue;
        rt_forget(rt, p);
        pthread_mutex_lock(&rt->lock);
        rt->parts[p].gen++;
        pthread_mutex_unlock(&rt->lock);
        rt->parts[p].assigned = 0;
        rt->parts[p].pending = 0;
    }
    /* A pause (held for room, or for its offsets) must not outlive the
     * assignment: librdkafka keeps it on the partition, and a later
     * assignment of it would never fetch. */
    rd_kafka_resume_partitions(rk, parts);
    sentinel_info("%s %d partition(s)",
                  err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS ? "revoked" : "lost", parts->cnt);
    if (cooperative) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
        if (e) rd_kafka_error_destroy(e);
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

/* Projections asked (after a fence, or a gap) for partitions to be read
 * again from their stored offsets. */
sentinel_err_t rt_reload(rt_runtime_t *rt, char *errstr, size_t errstr_size) {
    int32_t todo[RT_MAX_PARTITIONS];
    int n = 0;
    pthread_mutex_lock(&rt->lock);
    for (int p = 0; p < RT_MAX_PARTITIONS && rt->any_reload; p++)
        if (rt->parts[p].reload) {
            rt->parts[p].reload = 0;
            todo[n++] = p;
        }
    rt->any_reload = 0;
    pthread_mutex_unlock(&rt->lock);
    int64_t stored[RT_MAX_PROJECTIONS];
    for (int i = 0; i < n; i++) {
        int32_t p = todo[i];
        if (!rt->parts[p].assigned) continue;
        sentinel_err_t err = partition_starts(rt, p, stored, errstr, errstr_size);
        if (err) {
            for (int k = i; k < n; k++)
                rt_ask_reload(&rt->proj[0], todo[k]); /* next time */
            return err;
        }
        int done;
        int64_t from = begin_generation(rt, p, stored, &done);
        rt->parts[p].pending = 0;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, rt->topic, p)->offset = from;
        if (done) {
            rd_kafka_pause_partitions(rt->rk, l);
        } else {
            rd_kafka_error_t *e = rd_kafka_seek_partitions(rt->rk, l, 10000);
            if (e) rd_kafka_error_destroy(e);
            rd_kafka_resume_partitions(rt->rk, l);
        }
        rd_kafka_topic_partition_list_destroy(l);
        sentinel_info("%s [%d]: reading again from offset %lld", rt->topic, p, (long long)from);
    }
    return SENTINEL_OK;
}

/* Assign the partitions of a bounded run (those of its mask) from the
 * projections' starts up to their stops; those no projection wants
 * anything of are left out. */
sentinel_err_t rt_assign_bounded(rt_runtime_t *rt, char *errstr, size_t errstr_size) {
    const sentinel_run_options_t *o = rt->opt;
    rd_kafka_topic_partition_list_t *go = rd_kafka_topic_partition_list_new(o->n_partitions);
    int64_t stored[RT_MAX_PROJECTIONS];
    sentinel_err_t err = SENTINEL_OK;
    for (int p = 0; p < o->n_partitions && !err; p++) {
        if (o->partitions_mask && !o->partitions_mask[p]) continue;
        for (int attempt = 0;; attempt++) {
            err = partition_starts(rt, p, stored, errstr, errstr_size);
            if (err != SENTINEL_ERR_RETRIABLE || attempt >= 12 || rt_stopping(rt)) break;
            sentinel_warn("reading stored offsets: %s; retrying", errstr);
            rt_backoff(rt, attempt);
        }
        if (err) break;
        int done;
        int64_t from = begin_generation(rt, p, stored, &done);
        if (!done) rd_kafka_topic_partition_list_add(go, rt->topic, p)->offset = from;
    }
    if (!err) {
        rd_kafka_resp_err_t kerr = rd_kafka_assign(rt->rk, go);
        if (kerr) {
            snprintf(errstr, errstr_size, "assign %s: %s", rt->topic, rd_kafka_err2str(kerr));
            err = SENTINEL_ERR_FATAL;
        }
    }
    rd_kafka_topic_partition_list_destroy(go);
    rt->assigned_once = 1;
    return err;
}
