/* worker.c -- a projection: one projector's thread. It takes the reader's
 * chunks in order (all that wait, up to the batch limits, so a busy
 * projector applies bigger batches), keeps the messages it handles from
 * its own offsets on, applies them in one transaction with the offset
 * compare-and-set, and splits a batch the database refuses down to the
 * event it refuses. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/timestamp.h"
#include "base/utf8.h"
#include "pg/db.h"
#include "runtime/run.h"
#include "runtime/runtime.h"

/* A window of a taken chunk: the offsets of `partition` it gives this
 * projection. */
typedef struct window {
    size_t chunk;
    int32_t partition;
    int64_t lo, hi;
} window_t;

typedef struct view {
    rt_chunk_t **chunks;
    size_t n_chunks, cap_chunks;
    window_t *wins;
    size_t n_wins, cap_wins;
    int32_t parts[RT_MAX_PARTITIONS]; /* the partitions it reaches */
    int n_parts;
    int32_t reload[RT_MAX_PARTITIONS];
    int n_reload;
} view_t;

static int projection_index(const rt_projection_t *pj) { return (int)(pj - pj->rt->proj); }

/* ---------------------------------------------------------------- taking chunks */

static rt_chunk_t *chunk_at(rt_runtime_t *rt, unsigned long seq) {
    for (rt_chunk_t *c = rt->head; c; c = c->next)
        if (c->seq >= seq) return c;
    return NULL;
}

/* The windows of chunk c (index k of the view), under the lock: which of
 * its offsets this projection has not applied yet. */
static void take_spans(rt_projection_t *pj, view_t *v, const rt_chunk_t *c, size_t k) {
    rt_runtime_t *rt = pj->rt;
    for (int s = 0; s < c->n_spans; s++) {
        const rt_span_t *span = &c->spans[s];
        int32_t p = span->partition;
        rt_part_t *ps = &pj->parts[p];
        if (!rt_in_lane(pj, p)) continue;            /* another lane's */
        if (span->gen != rt->parts[p].gen) continue; /* revoked or sought since */
        if (!ps->known || ps->gen != span->gen) {
            /* A new generation: the stored offset as read then, unless a
             * commit of ours went further meanwhile. Not after a broken
             * connection: a crash loses our last commits, and the stored
             * offset is then where we are (a commit that did land after
             * the reading is found by the fence). */
            int64_t stored = rt->assigned[projection_index(pj) * RT_MAX_PARTITIONS + p];
            int ours = ps->known && ps->lost == rt->lost && ps->expected > stored;
            ps->expected = ours ? ps->expected : stored;
            ps->known = 1;
            ps->gen = span->gen;
            ps->lost = rt->lost;
        }
        if (!ps->in_view) ps->view_pos = ps->expected;
        int64_t to = span->to;
        if (ps->stop >= 0 && to > ps->stop) to = ps->stop;
        if (to <= ps->view_pos) continue; /* applied already */
        if (span->from > ps->view_pos) {
            /* Offsets missing between what it applied and what it is handed
             * (after a fence): the reader has to read them again. */
            if (ps->asked != span->gen + 1) {
                ps->asked = span->gen + 1;
                v->reload[v->n_reload++] = p;
            }
            continue;
        }
        if (v->n_wins == v->cap_wins) {
            v->cap_wins = v->cap_wins ? v->cap_wins * 2 : 64;
            v->wins = sentinel_realloc(v->wins, v->cap_wins * sizeof(*v->wins));
        }
        v->wins[v->n_wins++] = (window_t){k, p, ps->view_pos, to};
        if (!ps->in_view) {
            ps->in_view = 1;
            v->parts[v->n_parts++] = p;
        }
        ps->view_pos = to;
    }
}

/* Messages in the chunks from c on. */
static size_t messages_from(const rt_chunk_t *c) {
    size_t n = 0;
    for (; c; c = c->next)
        n += c->n;
    return n;
}

/* Wait for chunks and take those waiting, up to the batch limits (at least
 * one), lingering first until linger_ms after the last transaction began
 * unless a batch is full already or the reading is over. Returns 0 when
 * the run is over for this projection. */
static int take(rt_projection_t *pj, view_t *v) {
    rt_runtime_t *rt = pj->rt;
    const sentinel_run_options_t *opt = rt->opt;
    pthread_mutex_lock(&rt->lock);
    rt_chunk_t *c;
    while (!rt_stopping(rt) && !(c = chunk_at(rt, pj->next_seq)) && !rt->closed) {
        __atomic_store_n(&pj->obs.heartbeat_us, sentinel_wall_micros(), __ATOMIC_RELAXED);
        rt_wait(rt, &rt->more);
    }
    if (rt_stopping(rt) || !(c = chunk_at(rt, pj->next_seq))) {
        pthread_mutex_unlock(&rt->lock);
        return 0;
    }
    double start_at = pj->began + opt->linger_ms / 1000.0, now;
    while (!rt_stopping(rt) && !rt->closed && (now = sentinel_monotonic_seconds()) < start_at &&
           messages_from(c) < (size_t)opt->batch_events) {
        __atomic_store_n(&pj->obs.heartbeat_us, sentinel_wall_micros(), __ATOMIC_RELAXED);
        rt_wait_for(rt, &rt->more, start_at - now);
        c = chunk_at(rt, pj->next_seq); /* still there: it waits for this projection */
    }
    if (rt_stopping(rt)) {
        pthread_mutex_unlock(&rt->lock);
        return 0;
    }
    pj->began = sentinel_monotonic_seconds();
    size_t messages = 0, bytes = 0;
    for (; c; c = c->next) {
        if (v->n_chunks &&
            (messages + c->n > (size_t)opt->batch_events || bytes + c->payload > opt->batch_bytes))
            break;
        if (v->n_chunks == v->cap_chunks) {
            v->cap_chunks = v->cap_chunks ? v->cap_chunks * 2 : 16;
            v->chunks = sentinel_realloc(v->chunks, v->cap_chunks * sizeof(*v->chunks));
        }
        v->chunks[v->n_chunks] = c;
        take_spans(pj, v, c, v->n_chunks);
        v->n_chunks++;
        messages += c->n;
        bytes += c->payload;
        pj->next_seq = c->seq + 1;
    }
    pthread_mutex_unlock(&rt->lock);
    return 1;
}

/* Free a list of chunks, outside the lock, then give their bytes back to
 * the budget. */
static void free_chunks(rt_runtime_t *rt, rt_chunk_t *done) {
    size_t bytes = 0;
    while (done) {
        rt_chunk_t *c = done;
        done = c->next;
        bytes += c->bytes;
        rt_chunk_free(c);
    }
    pthread_mutex_lock(&rt->lock);
    rt->in_flight -= bytes;
    pthread_cond_broadcast(&rt->room);
    pthread_mutex_unlock(&rt->lock);
}

void *rt_reclaim_main(void *arg) {
    rt_runtime_t *rt = arg;
    pthread_setname_np(pthread_self(), "reclaim");
    pthread_mutex_lock(&rt->lock);
    for (;;) {
        while (!rt->garbage && !rt->reclaim_stop)
            pthread_cond_wait(&rt->litter, &rt->lock);
        rt_chunk_t *done = rt->garbage;
        rt->garbage = NULL;
        if (!done) break; /* stopping, and nothing is left */
        pthread_mutex_unlock(&rt->lock);
        free_chunks(rt, done);
        pthread_mutex_lock(&rt->lock);
    }
    pthread_mutex_unlock(&rt->lock);
    return NULL;
}

/* Done with the view's chunks: the last projection done hands them to the
 * reclaimer, or frees them itself, outside the lock, when there is none
 * (a chunk's thousands of decoded events take a while to free, and the
 * reader and the other projections would wait on the lock meanwhile).
 * Their bytes count in flight until they are freed. */
static void release(rt_projection_t *pj, view_t *v) {
    rt_runtime_t *rt = pj->rt;
    pthread_mutex_lock(&rt->lock);
    for (size_t k = 0; k < v->n_chunks; k++)
        v->chunks[k]->refs--;
    rt_chunk_t *done = NULL, **last = &done;
    while (rt->head && rt->head->refs <= 0) {
        rt_chunk_t *c = rt->head;
        rt->head = c->next;
        if (!rt->head) rt->tail = NULL;
        *last = c;
        last = &c->next;
    }
    *last = NULL;
    if (done && rt->reclaiming) {
        *last = rt->garbage; /* the older garbage after these: order does not matter */
        rt->garbage = done;
        done = NULL;
        pthread_cond_signal(&rt->litter);
    }
    pthread_mutex_unlock(&rt->lock);
    if (done) free_chunks(rt, done);
    for (int i = 0; i < v->n_parts; i++) {
        /* No mark of this view may leak into a transaction of the next. */
        pj->parts[v->parts[i]].in_view = 0;
        pj->parts[v->parts[i]].in_batch = 0;
    }
    v->n_chunks = v->n_wins = 0;
    v->n_parts = v->n_reload = 0;
}

/* The items of the view: the messages in its windows that the projector
 * handles, in log order. */
static void build_items(rt_projection_t *pj, view_t *v) {
    pj->n_items = 0;
    size_t w = 0;
    for (size_t k = 0; k < v->n_chunks; k++) {
        rt_chunk_t *c = v->chunks[k];
        size_t first = w;
        for (; w < v->n_wins && v->wins[w].chunk == k; w++) {
            pj->parts[v->wins[w].partition].lo = v->wins[w].lo;
            pj->parts[v->wins[w].partition].hi = v->wins[w].hi;
        }
        if (w == first) continue;
        for (size_t i = 0; i < c->n; i++) {
            rt_message_t *m = &c->msgs[i];
            const rt_part_t *ps = &pj->parts[m->msg->partition];
            if (m->msg->offset < ps->lo || m->msg->offset >= ps->hi) continue;
            __atomic_fetch_add(&pj->run->stats.events, 1, __ATOMIC_RELAXED);
            if (!rt_message_for(m, pj->p)) {
                __atomic_fetch_add(&pj->run->stats.skipped, 1, __ATOMIC_RELAXED);
                continue;
            }
            if (pj->n_items == pj->cap_items) {
                pj->cap_items = pj->cap_items ? pj->cap_items * 2 : 1024;
                pj->items = sentinel_realloc(pj->items, pj->cap_items * sizeof(*pj->items));
            }
            rt_item_t *it = &pj->items[pj->n_items++];
            memset(it, 0, sizeof(*it));
            it->m = m;
            if (!m->decoded) {
                char reason[1100];
                snprintf(reason, sizeof(reason), "payload does not decode: %s",
                         m->error ? m->error : "unknown schema");
                sentinel_utf8_trim(reason); /* the cut may fall inside a character */
                it->reason = sentinel_strdup(reason);
                it->status = ITEM_REJECTED;
            }
        }
        for (size_t x = first; x < w; x++)
            pj->parts[v->wins[x].partition].hi = 0;
        for (size_t x = first; x < w; x++)
            pj->parts[v->wins[x].partition].lo = 0;
    }
}

/* ---------------------------------------------------------------- committing */

/* The partitions items[0..count) cover and the last offset of each: what
 * one transaction advances. The tail of the view advances every partition
 * it reaches to the view's end, over other projectors' messages too. */
static int mark_range(rt_projection_t *pj, const view_t *v, const rt_item_t *items, size_t count,
                      int tail) {
    int any = 0;
    for (int i = 0; i < v->n_parts; i++)
        pj->parts[v->parts[i]].in_batch = 0;
    for (size_t i = 0; i < count; i++) {
        rt_part_t *st = &pj->parts[items[i].m->msg->partition];
        st->in_batch = 1;
        st->last = items[i].m->msg->offset;
        any = 1;
    }
    if (tail) {
        for (int i = 0; i < v->n_parts; i++) {
            rt_part_t *st = &pj->parts[v->parts[i]];
            if (st->view_pos <= st->expected) continue;
            st->in_batch = 1;
            st->last = st->view_pos - 1;
            any = 1;
        }
    }
    return any;
}

/* items[0..count) in one transaction, tried again for as long as the
 * failure is not about the data (connection, serialization, lock timeout,
 * shutdown, disk full, permission): those never stop a projector. Returns
 * OK (committed, or *fenced), INVALID (the data: errstr has the database's
 * message), FATAL, or RETRIABLE when asked to stop meanwhile. */
static sentinel_err_t commit_range(rt_projection_t *pj, const view_t *v, rt_item_t *items,
                                   size_t count, int tail, int *fenced, char *errstr,
                                   size_t errstr_size) {
    int durable = pj->run->start_offsets != NULL;
    for (int attempt = 0;; attempt++) {
        *fenced = 0;
        if (!mark_range(pj, v, items, count, tail)) return SENTINEL_OK;
        rt_items_reset(items, count);
        sentinel_err_t err = rt_connect(pj->rt, &pj->pg, durable, errstr, errstr_size);
        if (!err)
            err =
                rt_run_handler(pj->p, 1, pj->pg, pj->rt->topic, items, count, errstr, errstr_size);
        if (!err) err = rt_apply_once(pj, items, count, fenced, errstr, errstr_size);
        if (!err) {
            __atomic_store_n(&pj->obs.failing_since_us, 0, __ATOMIC_RELAXED);
            if (!*fenced)
                for (int i = 0; i < v->n_parts; i++) {
                    rt_part_t *st = &pj->parts[v->parts[i]];
                    if (st->in_batch) st->expected = st->last + 1;
                }
            return SENTINEL_OK;
        }
        if (err != SENTINEL_ERR_RETRIABLE) return err;
        __atomic_fetch_add(&pj->run->stats.retries, 1, __ATOMIC_RELAXED);
        if (!__atomic_load_n(&pj->obs.failing_since_us, __ATOMIC_RELAXED))
            __atomic_store_n(&pj->obs.failing_since_us, sentinel_wall_micros(), __ATOMIC_RELAXED);
        __atomic_store_n(&pj->obs.heartbeat_us, sentinel_wall_micros(), __ATOMIC_RELAXED);
        if (rt_stopping(pj->rt)) return SENTINEL_ERR_RETRIABLE;
        sentinel_warn("%s: batch of %zu: %s; retrying", pj->p->name, count, errstr);
        if (pj->pg && !sentinel_db_usable(pj->pg)) {
            PQfinish(pj->pg);
            pj->pg = NULL;
            rt_connection_lost(pj->rt);
        }
        rt_backoff(pj->rt, attempt);
        if (rt_stopping(pj->rt)) return SENTINEL_ERR_RETRIABLE;
    }
}

/* The database refused event `it` on its own: it becomes a dead letter
 * with the database's words, and stays one on every later attempt. */
static void poison(rt_projection_t *pj, rt_item_t *it, const char *why) {
    char reason[1024];
    snprintf(reason, sizeof(reason), "the database refused it: %.990s",
             why); /* cut, then trimmed */
    sentinel_utf8_trim(reason);
    free(it->reason);
    it->reason = sentinel_strdup(reason);
    it->status = ITEM_REJECTED;
    it->poisoned = 1;
    sentinel_warn("%s: %s [%d] offset %lld: event %s dead-lettered: %s", pj->p->name, pj->rt->topic,
                  it->m->msg->partition, (long long)it->m->msg->offset,
                  it->m->decoded ? it->m->ev.event_id : "(undecoded)", reason);
}

/* Poison isolation: apply items[0..count); on a data error, split the range
 * in two and apply each half, down to the one event the database refuses,
 * which is dead-lettered while the partition moves on. `again`: try a
 * failing range once more before splitting it (a constraint race with
 * another partition's consumer resolves on a retry). */
static sentinel_err_t apply_range(rt_projection_t *pj, const view_t *v, rt_item_t *items,
                                  size_t count, int tail, int again, int *fenced, char *errstr,
                                  size_t errstr_size) {
    sentinel_err_t err = commit_range(pj, v, items, count, tail, fenced, errstr, errstr_size);
    if (err == SENTINEL_ERR_INVALID && again) {
        sentinel_debug("%s: batch of %zu: %s; trying it once more", pj->p->name, count, errstr);
        err = commit_range(pj, v, items, count, tail, fenced, errstr, errstr_size);
    }
    if (err != SENTINEL_ERR_INVALID) return err;
    if (count > 1) {
        size_t half = count / 2;
        sentinel_info("%s: batch of %zu refused (%s): splitting it to find the event", pj->p->name,
                      count, errstr);
        err = apply_range(pj, v, items, half, 0, 0, fenced, errstr, errstr_size);
        if (err || *fenced) return err;
        return apply_range(pj, v, items + half, count - half, tail, 0, fenced, errstr, errstr_size);
    }
    if (!count || items->poisoned || !items->m->decoded) {
        /* Nothing of it is applied: the dead letter itself does not go in. */
        return SENTINEL_ERR_FATAL;
    }
    poison(pj, items, errstr);
    return commit_range(pj, v, items, 1, tail, fenced, errstr, errstr_size);
}

/* After a fence: another consumer moved a stored offset first. Take the
 * stored offsets as they are and have the reader read from there. */
static void after_fence(rt_projection_t *pj, view_t *v) {
    char errstr[1024];
    __atomic_fetch_add(&pj->run->stats.fenced, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < v->n_parts; i++) {
        int32_t p = v->parts[i];
        rt_part_t *st = &pj->parts[p];
        int64_t stored = -1;
        if (rt_stored_offset(pj->pg, pj->p->name, pj->rt->topic, p, &stored, errstr,
                             sizeof(errstr))) {
            rt_fail(pj->rt, "%s: after a fence: %s", pj->p->name, errstr);
            return;
        }
        if (stored != st->expected || st->in_batch)
            sentinel_warn("%s: %s [%d]: fenced: stored offset is %lld, this consumer expected "
                          "%lld; batch rolled back, resuming from the stored offset",
                          pj->p->name, pj->rt->topic, p, (long long)stored,
                          (long long)st->expected);
        if (stored >= 0) st->expected = stored;
        rt_ask_reload(pj, p);
    }
}

/* Counted once per batch, by atomic adds the metrics server can read. */
static void count_outcomes(rt_projection_t *pj) {
    sentinel_projector_stats_t *s = &pj->run->stats;
    unsigned long n[ITEM_IGNORED + 1] = {0};
    for (size_t i = 0; i < pj->n_items; i++) {
        const rt_item_t *it = &pj->items[i];
        n[it->status]++;
        if (it->status == ITEM_REJECTED)
            sentinel_debug("%s: dead letter at %s [%d] offset %lld: %s", pj->p->name, pj->rt->topic,
                           it->m->msg->partition, (long long)it->m->msg->offset, it->reason);
    }
    __atomic_fetch_add(&s->batches, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&s->applied, n[ITEM_NEW], __ATOMIC_RELAXED);
    __atomic_fetch_add(&s->duplicates, n[ITEM_DUPLICATE], __ATOMIC_RELAXED);
    __atomic_fetch_add(&s->rejected, n[ITEM_REJECTED], __ATOMIC_RELAXED);
    __atomic_fetch_add(&s->ignored, n[ITEM_IGNORED], __ATOMIC_RELAXED);
}

static void publish_positions(rt_projection_t *pj, const view_t *v) {
    for (int i = 0; i < v->n_parts; i++) {
        int32_t p = v->parts[i];
        __atomic_store_n(&pj->obs.position[p], pj->parts[p].expected, __ATOMIC_RELAXED);
        if (pj->run->positions && p < pj->rt->opt->n_partitions)
            __atomic_store_n(&pj->run->positions[p], pj->parts[p].expected, __ATOMIC_RELAXED);
    }
}

/* One view: build, apply, account. */
static sentinel_err_t process(rt_projection_t *pj, view_t *v, char *errstr, size_t errstr_size) {
    double t0 = sentinel_monotonic_seconds();
    build_items(pj, v);
    int fenced = 0;
    sentinel_err_t err =
        apply_range(pj, v, pj->items, pj->n_items, 1, 1, &fenced, errstr, errstr_size);
    if (!err && fenced) {
        after_fence(pj, v);
    } else if (!err) {
        count_outcomes(pj);
        publish_positions(pj, v);
        rt_observe_commit(pj, pj->n_items, sentinel_monotonic_seconds() - t0);
    }
    for (size_t i = 0; i < pj->n_items; i++)
        rt_item_clear(&pj->items[i]);
    pj->last_items = pj->n_items;
    pj->n_items = 0;
    return err;
}

void *rt_projection_main(void *arg) {
    rt_projection_t *pj = arg;
    rt_runtime_t *rt = pj->rt;
    /* Named for `top -H` and perf: "runs/0" is the runs projector's lane 0
     * (15 characters at most). */
    char name[16];
    snprintf(name, sizeof(name), "%.12s/%d", pj->p->name, pj->lane);
    pthread_setname_np(pthread_self(), name);
    view_t v;
    memset(&v, 0, sizeof(v));
    for (int p = 0; p < RT_MAX_PARTITIONS; p++)
        pj->parts[p].stop =
            pj->run->stop_offsets && p < rt->opt->n_partitions ? pj->run->stop_offsets[p] : -1;
    while (take(pj, &v)) {
        for (int i = 0; i < v.n_reload; i++)
            rt_ask_reload(pj, v.reload[i]);
        double t0 = sentinel_monotonic_seconds();
        size_t chunks = v.n_chunks;
        sentinel_err_t err = process(pj, &v, pj->errstr, sizeof(pj->errstr));
        sentinel_debug("%s: lane %d: %zu chunk(s), %zu event(s) of its types: applied in %.1f ms",
                       pj->p->name, pj->lane, chunks, pj->last_items,
                       (sentinel_monotonic_seconds() - t0) * 1000);
        release(pj, &v);
        if (err == SENTINEL_ERR_RETRIABLE && rt_stopping(rt)) break; /* asked to stop */
        if (err) {
            pj->err = err == SENTINEL_ERR_RETRIABLE ? SENTINEL_ERR_FATAL : err;
            rt_fail(rt, "%s: %s", pj->p->name, pj->errstr);
            break;
        }
    }
    free(v.chunks);
    free(v.wins);
    return NULL;
}
