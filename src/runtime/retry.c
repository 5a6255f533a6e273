/* retry.c -- `sentinel dead-letters retry`: re-apply a projector's
 * unresolved dead letters, in the order they were rejected, in
 * transactions of their own (no consumer: the payloads are in the table). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/kafka_conf.h"
#include "pg/array.h"
#include "pg/db.h"
#include "runtime/run.h"
#include "runtime/runtime.h"

typedef struct retry {
    rt_runtime_t rt; /* the session settings and the topic */
    const sentinel_projector_t *p;
    PGconn *pg;
    rt_message_t *msgs;
    rt_item_t *items;
    size_t n, cap;
} retry_t;

static void retry_drop(retry_t *r) {
    for (size_t i = 0; i < r->n; i++) {
        rd_kafka_message_t *m = r->msgs[i].msg;
        free(m->payload);
        free(m);
        r->msgs[i].msg = NULL;
        rt_message_clear(&r->msgs[i]);
        rt_item_clear(&r->items[i]);
    }
    r->n = 0;
}

/* Load up to `limit` unresolved dead letters (after id `after`). */
static sentinel_err_t retry_load(retry_t *r, const char *ids, long long after, int limit,
                                 char *errstr, size_t errstr_size) {
    char after_s[32], limit_s[16];
    snprintf(after_s, sizeof(after_s), "%lld", after);
    snprintf(limit_s, sizeof(limit_s), "%d", limit);
    const char *params[5] = {r->p->name, r->rt.topic, ids, after_s, limit_s};
    PGresult *res = NULL;
    sentinel_err_t err = sentinel_db_params(
        r->pg,
        "SELECT id, partition, kafka_offset, payload FROM dead_letters "
        "WHERE projector = $1 AND topic = $2 AND resolved_at IS NULL AND id > $4::bigint "
        "AND ($3::bigint[] IS NULL OR id = ANY($3::bigint[])) ORDER BY id LIMIT $5::int",
        5, params, &res, errstr, errstr_size);
    if (err) return err;
    size_t rows = (size_t)PQntuples(res);
    if (rows > r->cap) {
        r->cap = rows;
        r->msgs = sentinel_realloc(r->msgs, rows * sizeof(*r->msgs));
        r->items = sentinel_realloc(r->items, rows * sizeof(*r->items));
    }
    for (size_t k = 0; k < rows; k++) {
        size_t len = 0;
        unsigned char *bytes =
            PQunescapeBytea((const unsigned char *)PQgetvalue(res, (int)k, 3), &len);
        if (!bytes) abort(); /* libpq's allocation failed */
        rd_kafka_message_t *m = sentinel_calloc(1, sizeof(*m));
        m->payload = sentinel_malloc(len);
        m->partition = atoi(PQgetvalue(res, (int)k, 1));
        m->offset = atoll(PQgetvalue(res, (int)k, 2));
        memcpy(m->payload, bytes, len);
        m->len = len;
        PQfreemem(bytes);
        rt_message_t *x = &r->msgs[k];
        rt_item_t *it = &r->items[k];
        memset(x, 0, sizeof(*x));
        memset(it, 0, sizeof(*it));
        x->msg = m;
        it->m = x;
        it->dead_letter = atoll(PQgetvalue(res, (int)k, 0));
        char why[1024];
        if (sentinel_event_decode(r->rt.codec, m->payload, m->len, &x->ev, why, sizeof(why))) {
            it->status = ITEM_REJECTED;
            it->reason = sentinel_strdup("payload does not decode");
        } else {
            x->decoded = 1;
            x->type = x->ev.type;
        }
        r->n = k + 1;
    }
    PQclear(res);
    return SENTINEL_OK;
}

/* Forget the loaded events' ids, so they count as new again. */
static sentinel_err_t forget_ids(retry_t *r, char *errstr, size_t errstr_size) {
    const char **ids = sentinel_malloc((r->n + 1) * sizeof(*ids));
    const char **ws = sentinel_malloc((r->n + 1) * sizeof(*ws));
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (!r->msgs[i].decoded) continue;
        ids[n] = r->msgs[i].ev.event_id;
        ws[n++] = r->msgs[i].ev.workspace_id;
    }
    sentinel_err_t err = SENTINEL_OK;
    if (n) {
        char *a = sentinel_array_of(ids, n), *b = sentinel_array_of(ws, n);
        const char *params[3] = {r->p->name, a, b};
        err = sentinel_db_params(r->pg,
                                 "DELETE FROM applied_events WHERE projector = $1 AND "
                                 "(event_id, workspace_id) IN "
                                 "(SELECT * FROM unnest($2::uuid[], $3::uuid[]))",
                                 3, params, NULL, errstr, errstr_size);
        free(a);
        free(b);
    }
    free(ids);
    free(ws);
    return err;
}

/* One transaction over the loaded dead letters: forget their ids, apply
 * them as new, then resolve the applied and re-reason the rejected. */
static sentinel_err_t retry_apply(retry_t *r, size_t *resolved, size_t *still, char *errstr,
                                  size_t errstr_size) {
    sentinel_err_t err =
        rt_run_handler(r->p, 1, r->pg, r->rt.topic, r->items, r->n, errstr, errstr_size);
    if (err) return err;
    if ((err = sentinel_db_exec(r->pg, "BEGIN", errstr, errstr_size))) return err;
    err = sentinel_projection_lock(r->pg, NULL, r->p->name, 0, errstr, errstr_size);
    if (!err) err = forget_ids(r, errstr, errstr_size);
    if (!err) err = rt_deduplicate(r->pg, r->p, r->items, r->n, errstr, errstr_size);
    if (!err) err = rt_reject_unknown_workspaces(r->pg, r->items, r->n, errstr, errstr_size);
    if (!err)
        err = rt_run_handler(r->p, 0, r->pg, r->rt.topic, r->items, r->n, errstr, errstr_size);
    if (!err) err = rt_claim_rejected(r->pg, r->p, r->items, r->n, errstr, errstr_size);
    for (size_t i = 0; !err && i < r->n; i++) {
        rt_item_t *it = &r->items[i];
        char id[32];
        snprintf(id, sizeof(id), "%lld", it->dead_letter);
        const char *params[2] = {id, it->reason ? it->reason : "rejected"};
        if (it->status == ITEM_REJECTED) {
            err = sentinel_db_params(r->pg,
                                     "UPDATE dead_letters SET reason = $2, retried_at = now(), "
                                     "retry_count = retry_count + 1 WHERE id = $1::bigint",
                                     2, params, NULL, errstr, errstr_size);
            (*still)++;
        } else {
            err = sentinel_db_params(r->pg,
                                     "UPDATE dead_letters SET resolved_at = now(), retried_at = "
                                     "now(), retry_count = retry_count + 1, resolution = "
                                     "'applied by a retry' WHERE id = $1::bigint",
                                     1, params, NULL, errstr, errstr_size);
            (*resolved)++;
        }
    }
    if (!err) return sentinel_db_exec(r->pg, "COMMIT", errstr, errstr_size);
    char ignored[256];
    if (sentinel_db_exec(r->pg, "ROLLBACK", ignored, sizeof(ignored))) {
        /* the server ends the transaction with the session */
    }
    return err;
}

sentinel_err_t sentinel_dead_letters_retry(const sentinel_projector_t *projector,
                                           const sentinel_conf_t *conf, const char *ids,
                                           size_t *resolved, size_t *still, char *errstr,
                                           size_t errstr_size) {
    retry_t r;
    memset(&r, 0, sizeof(r));
    r.rt.conf = conf;
    r.rt.topic = sentinel_conf_topic(conf);
    r.p = projector;
    *resolved = *still = 0;
    r.rt.codec = sentinel_codec_new(errstr, errstr_size);
    if (!r.rt.codec) return SENTINEL_ERR_FATAL;
    sentinel_err_t err = rt_connect(&r.rt, &r.pg, 1, errstr, errstr_size);
    long long after = 0;
    while (!err) {
        if ((err = retry_load(&r, ids, after, 2000, errstr, errstr_size))) break;
        if (!r.n) break;
        after = r.items[r.n - 1].dead_letter;
        err = retry_apply(&r, resolved, still, errstr, errstr_size);
        retry_drop(&r);
    }
    retry_drop(&r);
    free(r.msgs);
    free(r.items);
    if (r.pg) PQfinish(r.pg);
    sentinel_codec_destroy(r.rt.codec);
    return err;
}
