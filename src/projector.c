/* projector.c -- the projector runtime: consume, batch, decode, deduplicate,
 * apply, dead-letter and advance offsets by compare-and-set, in one
 * PostgreSQL transaction per batch. Kafka's committed offsets are never
 * read: the offsets of record live in projector_offsets. */
#include "projector.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "copy_buffer.h"
#include "db.h"
#include "log.h"
#include "timestamp.h"
#include "topic.h"
#include "utf8.h"
#include "uuid_map.h"

enum item_status {
    ITEM_PENDING = 0, /* handled type, decoded, not yet classified */
    ITEM_SKIPPED,     /* a type this projector does not handle */
    ITEM_NEW,         /* first delivery of its event id: given to apply */
    ITEM_DUPLICATE,   /* event id already applied */
    ITEM_REJECTED,    /* dead-lettered */
    ITEM_IGNORED,     /* applied as a no-op */
};

typedef struct item {
    rd_kafka_message_t *msg; /* owned; made by retry_load when `retried` */
    long long dead_letter;   /* the dead letter being retried, else 0 */
    int retried;
    int decoded;
    sentinel_event_t ev;
    enum item_status status;
    char *reason; /* owned, for REJECTED */
    int poisoned; /* the database refused it alone: REJECTED for good */
} item_t;

struct sentinel_batch {
    item_t **events; /* the NEW items, in log order */
    size_t n;
    const char *topic;
};

typedef struct part_state {
    int assigned;
    int64_t expected; /* next_offset as stored in PostgreSQL */
    int64_t eof_at;   /* end of log seen at this offset, -1 if not at the end */
    int in_batch;
    int64_t last; /* last offset in the current batch */
    int64_t stop; /* bounded runs: the first offset not to apply, else -1 */
    int done;     /* bounded runs: reached stop */
} part_state_t;

typedef struct runner {
    const sentinel_projector_t *p;
    const sentinel_conf_t *conf;
    const sentinel_run_options_t *opt;
    rd_kafka_t *rk;
    PGconn *pg;
    char group[256];
    const char *topic;
    sentinel_codec_t *codec;
    part_state_t *parts;
    int n_parts;
    item_t *items;
    size_t n_items, cap_items;
    size_t bytes;
    int assigned_once;
    int fatal;
    char fatal_reason[1024];
    sentinel_projector_stats_t stats;
} runner_t;

/* ---------------------------------------------------------------- batch API */

size_t sentinel_batch_count(const sentinel_batch_t *b) { return b->n; }

const sentinel_event_t *sentinel_batch_event(const sentinel_batch_t *b, size_t i) {
    return &b->events[i]->ev;
}

void sentinel_batch_reject(sentinel_batch_t *b, size_t i, const char *fmt, ...) {
    item_t *it = b->events[i];
    char reason[1024];
    va_list ap;
    va_start(ap, fmt);
    sentinel_utf8_vformat(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    free(it->reason);
    it->reason = strdup(reason);
    it->status = ITEM_REJECTED;
}

int sentinel_batch_is_rejected(const sentinel_batch_t *b, size_t i) {
    return b->events[i]->status == ITEM_REJECTED;
}

const char *sentinel_batch_topic(const sentinel_batch_t *b) { return b->topic; }

void sentinel_batch_position(const sentinel_batch_t *b, size_t i, int32_t *partition,
                             int64_t *offset) {
    *partition = b->events[i]->msg->partition;
    *offset = b->events[i]->msg->offset;
}

void sentinel_batch_ignore(sentinel_batch_t *b, size_t i) { b->events[i]->status = ITEM_IGNORED; }

/* ---------------------------------------------------------------- SQL helpers */

/* "{a,b,c}" for a uuid[] parameter. New string. */
static char *uuid_array(const char *const *ids, size_t n) {
    char *s = malloc(n * (SENTINEL_UUID_LEN + 1) + 3);
    if (!s) abort();
    size_t len = 0;
    s[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (i) s[len++] = ',';
        memcpy(s + len, ids[i], SENTINEL_UUID_LEN);
        len += SENTINEL_UUID_LEN;
    }
    s[len++] = '}';
    s[len] = '\0';
    return s;
}

sentinel_err_t sentinel_db_select_ids(PGconn *conn, const char *sql, const char *const *ids,
                                      size_t n, void (*row)(PGresult *res, int r, void *opaque),
                                      void *opaque, char *errstr, size_t errstr_size) {
    if (n == 0) return SENTINEL_OK;
    char *array = uuid_array(ids, n);
    const char *params[1] = {array};
    PGresult *res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    free(array);
    sentinel_err_t err = sentinel_db_classify(conn, res);
    if (err) {
        sentinel_db_errstr(conn, res, errstr, errstr_size);
    } else if (row) {
        for (int r = 0; r < PQntuples(res); r++) row(res, r, opaque);
    }
    PQclear(res);
    return err;
}


/* ---------------------------------------------------------------- connections */

/* A daemon (plain `sentinel project`) waits out every failure; scripts
 * (until caught up, replays, rebuilds, retries) give up on what waiting
 * cannot fix, and after the connect timeout on the rest. */
static int is_daemon(const runner_t *r) {
    return r->opt && !r->opt->until_caught_up && !r->opt->stop_offsets;
}

static int stopping(const runner_t *r) { return r->opt && r->opt->stop && *r->opt->stop; }

/* Sleep before retry `attempt`, waking early when asked to stop. */
static void backoff_wait(const runner_t *r, int attempt) {
    int ms = 100 << (attempt < 6 ? attempt : 6);
    if (ms > 5000) ms = 5000;
    for (int slept = 0; slept < ms && !stopping(r); slept += 50)
        usleep(50 * 1000);
}

static sentinel_err_t db_connect(runner_t *r, char *errstr, size_t errstr_size) {
    if (r->pg && PQstatus(r->pg) == CONNECTION_OK) return SENTINEL_OK;
    if (r->pg) {
        PQfinish(r->pg);
        r->pg = NULL;
    }
    sentinel_err_t class;
    r->pg = sentinel_db_open(sentinel_conf_db(r->conf), sentinel_conf_connect_timeout(r->conf),
                             &class, errstr, errstr_size);
    if (!r->pg)
        return class == SENTINEL_ERR_FATAL && !is_daemon(r) ? class : SENTINEL_ERR_RETRIABLE;
    /* A stalled (stopped, partitioned) projector must not hold its
     * offset rows locked forever: the server ends its transaction.
     * Asynchronous commit is safe where the stored offsets fence the
     * commit: they commit in the same transaction as the rows, so a
     * transaction lost in a server crash loses its offset advance with it
     * and is applied again from Kafka. A replay stores no offsets and a
     * dead-letter retry marks what it applied: nothing would apply again
     * what a crash lost, so their commits are durable. */
    int fenced_by_offsets = r->opt && !r->opt->start_offsets;
    sentinel_err_t err = sentinel_db_exec(
        r->pg,
        fenced_by_offsets
            ? "SET idle_in_transaction_session_timeout = '60s'; SET lock_timeout = '30s';"
              "SET synchronous_commit = off;"
              "SET application_name = 'sentinel-projector'; SET client_min_messages = warning"
            : "SET idle_in_transaction_session_timeout = '60s'; SET lock_timeout = '30s';"
              "SET synchronous_commit = on;"
              "SET application_name = 'sentinel-projector'; SET client_min_messages = warning",
        errstr, errstr_size);
    if (!err && r->opt && r->opt->schema) {
        /* A shadow first: the projector's unqualified names resolve to its
         * copies, the control plane it reads to public. */
        char *quoted = PQescapeIdentifier(r->pg, r->opt->schema, strlen(r->opt->schema));
        char sql[256];
        snprintf(sql, sizeof(sql), "SET search_path = %s, public", quoted ? quoted : "\"\"");
        PQfreemem(quoted);
        err = sentinel_db_exec(r->pg, sql, errstr, errstr_size);
    }
    if (!err) {
        PGresult *res = PQexec(r->pg, "SELECT to_regclass('projector_offsets') IS NOT NULL");
        if (PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "t")) {
            snprintf(errstr, errstr_size, "the database has no projector_offsets table: run "
                                          "sentinel migrate first");
            err = SENTINEL_ERR_FATAL;
        }
        PQclear(res);
    }
    return err;
}

/* ---------------------------------------------------------------- partitions */

static part_state_t *part(runner_t *r, int32_t partition) {
    if (partition >= r->n_parts) {
        int n = partition + 16;
        part_state_t *grown = realloc(r->parts, (size_t)n * sizeof(*grown));
        if (!grown) abort();
        for (int i = r->n_parts; i < n; i++) grown[i] = (part_state_t){0, 0, -1, 0, 0, -1, 0};
        r->parts = grown;
        r->n_parts = n;
    }
    return &r->parts[partition];
}

static void set_fatal(runner_t *r, const char *fmt, ...) SENTINEL_PRINTF(2, 3);
static void set_fatal(runner_t *r, const char *fmt, ...) {
    if (r->fatal) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->fatal_reason, sizeof(r->fatal_reason), fmt, ap);
    va_end(ap);
    r->fatal = 1;
}

/* Read the stored offsets of `parts` (creating rows at the log start for
 * partitions never seen) and set them as the positions to consume from. */
static sentinel_err_t load_offsets(runner_t *r, rd_kafka_topic_partition_list_t *parts,
                                   char *errstr, size_t errstr_size) {
    sentinel_err_t err = SENTINEL_OK;
    for (int attempt = 0;; attempt++) {
        err = db_connect(r, errstr, errstr_size);
        if (err != SENTINEL_ERR_RETRIABLE || attempt >= 20) break;
        sentinel_warn("%s: %s; retrying", r->p->name, errstr);
        backoff_wait(r, attempt);
    }
    if (err) return err;
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t kerr =
            rd_kafka_query_watermark_offsets(r->rk, tp->topic, tp->partition, &lo, &hi, 15000);
        if (kerr) {
            snprintf(errstr, errstr_size, "%s [%d]: watermarks: %s", tp->topic, tp->partition,
                     rd_kafka_err2str(kerr));
            return SENTINEL_ERR_RETRIABLE;
        }
        char pstr[16], lostr[32];
        snprintf(pstr, sizeof(pstr), "%d", tp->partition);
        snprintf(lostr, sizeof(lostr), "%lld", (long long)lo);
        const char *params[4] = {r->p->name, tp->topic, pstr, lostr};
        /* A missing row means "start at the beginning". */
        err = sentinel_db_params(r->pg,
                          "INSERT INTO projector_offsets (projector, topic, partition, next_offset) "
                          "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                          4, params, NULL, errstr, errstr_size);
        if (err) return err;
        PGresult *res = NULL;
        err = sentinel_db_params(r->pg,
                          "SELECT next_offset FROM projector_offsets "
                          "WHERE projector = $1 AND topic = $2 AND partition = $3",
                          3, params, &res, errstr, errstr_size);
        if (err) return err;
        int64_t stored = atoll(PQgetvalue(res, 0, 0));
        PQclear(res);
        if (stored < lo || stored > hi) {
            snprintf(errstr, errstr_size,
                     "%s: stored offset %lld of %s [%d] is outside the log (%lld..%lld); refusing "
                     "to skip or re-read events silently (a topic recreated or truncated?). "
                     "Inspect with sentinel status; rebuild the projection from the log with "
                     "sentinel rebuild",
                     r->p->name, (long long)stored, tp->topic, tp->partition, (long long)lo,
                     (long long)hi);
            return SENTINEL_ERR_FATAL;
        }
        tp->offset = stored;
        part_state_t *ps = part(r, tp->partition);
        ps->assigned = 1;
        ps->expected = stored;
        ps->eof_at = -1;
        sentinel_debug("%s: %s [%d] from offset %lld (log %lld..%lld)", r->p->name, tp->topic,
                       tp->partition, (long long)stored, (long long)lo, (long long)hi);
    }
    return SENTINEL_OK;
}

static void item_free(item_t *it) {
    if (it->msg && it->retried) {
        free(it->msg->payload);
        free(it->msg);
    } else if (it->msg) {
        rd_kafka_message_destroy(it->msg);
    }
    sentinel_event_clear(&it->ev);
    free(it->reason);
    memset(it, 0, sizeof(*it));
}

static void drop_items(runner_t *r, int only_unassigned) {
    size_t kept = 0;
    for (size_t i = 0; i < r->n_items; i++) {
        item_t *it = &r->items[i];
        if (only_unassigned && part(r, it->msg->partition)->assigned) {
            r->items[kept++] = *it;
        } else {
            r->bytes -= it->msg->len;
            item_free(it);
        }
    }
    r->n_items = kept;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    runner_t *r = opaque;
    int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        char errstr[1024];
        sentinel_err_t lerr;
        /* A slow broker or a restarting database is waited for; only a
         * real contradiction (an offset outside the log) stops the projector. */
        for (int attempt = 0;; attempt++) {
            lerr = load_offsets(r, parts, errstr, sizeof(errstr));
            if (lerr != SENTINEL_ERR_RETRIABLE || attempt >= 12 || (r->opt->stop && *r->opt->stop))
                break;
            sentinel_warn("%s: reading stored offsets: %s; retrying", r->p->name, errstr);
            backoff_wait(r, attempt);
        }
        if (lerr) {
            set_fatal(r, "%s", errstr);
            return;
        }
        r->assigned_once = 1;
        sentinel_info("%s: assigned %d partition(s) of %s", r->p->name, parts->cnt, r->topic);
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
            if (e) rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, parts);
        }
        return;
    }
    /* Revoked or lost: in-flight work on them is abandoned before they go. */
    for (int i = 0; i < parts->cnt; i++) part(r, parts->elems[i].partition)->assigned = 0;
    drop_items(r, 1);
    sentinel_info("%s: %s %d partition(s)", r->p->name,
                  err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS ? "revoked" : "lost", parts->cnt);
    if (cooperative) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
        if (e) rd_kafka_error_destroy(e);
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

/* ---------------------------------------------------------------- consuming */

static int handles(const sentinel_projector_t *p, const char *type, size_t len) {
    for (size_t i = 0; p->event_types[i]; i++)
        if (strlen(p->event_types[i]) == len && !memcmp(p->event_types[i], type, len)) return 1;
    return 0;
}

/* A new item at the end of the batch, holding m (stolen). */
static item_t *new_item(runner_t *r, rd_kafka_message_t *m) {
    if (r->n_items == r->cap_items) {
        r->cap_items = r->cap_items ? r->cap_items * 2 : 1024;
        item_t *grown = realloc(r->items, r->cap_items * sizeof(*grown));
        if (!grown) abort();
        r->items = grown;
    }
    item_t *it = &r->items[r->n_items++];
    memset(it, 0, sizeof(*it));
    it->msg = m;
    r->bytes += m->len;
    return it;
}

static void add_item(runner_t *r, rd_kafka_message_t *m) {
    item_t *it = new_item(r, m);

    /* Route by the writer schema's fingerprint, else by header: other
     * projectors' events need no decode (and no header parse, which costs
     * allocations per message). */
    const sentinel_event_type_t *known = sentinel_codec_peek_type(r->codec, m->payload, m->len);
    if (known) {
        if (!handles(r->p, known->name, strlen(known->name))) {
            it->status = ITEM_SKIPPED;
            return;
        }
    } else {
        rd_kafka_headers_t *hdrs = NULL;
        const void *type = NULL;
        size_t type_len = 0;
        if (!rd_kafka_message_headers(m, &hdrs) &&
            !rd_kafka_header_get_last(hdrs, "event_type", &type, &type_len) &&
            !handles(r->p, type, type_len)) {
            it->status = ITEM_SKIPPED;
            return;
        }
    }
    char errstr[1024];
    if (sentinel_event_decode(r->codec, m->payload, m->len, &it->ev, errstr, sizeof(errstr))) {
        char reason[1100];
        snprintf(reason, sizeof(reason), "payload does not decode: %s", errstr);
        it->reason = strdup(reason);
        it->status = ITEM_REJECTED;
        return;
    }
    it->decoded = 1;
    it->status = handles(r->p, it->ev.type->name, strlen(it->ev.type->name)) ? ITEM_PENDING
                                                                               : ITEM_SKIPPED;
}

/* A bounded run reached the stop offset of `partition`: fetch no more. */
static void reach_stop(runner_t *r, int32_t partition) {
    part(r, partition)->done = 1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, r->topic, partition);
    rd_kafka_pause_partitions(r->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* Fill the batch: up to batch_events / batch_bytes, waiting at most
 * batch_ms after the first message. */
static void collect(runner_t *r) {
    double deadline = 0;
    while (!r->fatal && !(r->opt->stop && *r->opt->stop) &&
           r->n_items < (size_t)r->opt->batch_events && r->bytes < r->opt->batch_bytes) {
        int timeout = 100;
        if (r->n_items) {
            double left = deadline - sentinel_monotonic_seconds();
            if (left <= 0) break;
            timeout = (int)(left * 1000) + 1;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, timeout);
        if (!m) {
            if (!r->n_items) return;
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            part_state_t *ps = part(r, m->partition);
            ps->eof_at = m->offset;
            if (ps->stop >= 0 && m->offset >= ps->stop) ps->done = 1;
            rd_kafka_message_destroy(m);
            if (!r->n_items) return;
            continue;
        }
        if (m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
                m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
                set_fatal(r, "%s: %s [%d]: %s", r->p->name, r->topic, m->partition,
                          rd_kafka_message_errstr(m));
            } else if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                       m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
                sentinel_debug("%s: %s", r->p->name, rd_kafka_message_errstr(m));
            } else {
                sentinel_warn("%s: consumer: %s", r->p->name, rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        part_state_t *ps = part(r, m->partition);
        if (!ps->assigned || ps->done) { /* a straggler: revoked, or past the stop */
            rd_kafka_message_destroy(m);
            continue;
        }
        if (ps->stop >= 0 && m->offset >= ps->stop) {
            reach_stop(r, m->partition);
            rd_kafka_message_destroy(m);
            if (!r->n_items) return;
            continue;
        }
        ps->eof_at = -1;
        if (!r->n_items) deadline = sentinel_monotonic_seconds() + r->opt->batch_ms / 1000.0;
        add_item(r, m);
    }
}

/* For progress reports: where each partition is. Read by another thread
 * while this one writes: each value is stored whole. */
static void publish_positions(runner_t *r) {
    if (!r->opt->positions) return;
    for (int p = 0; p < r->n_parts && p < r->opt->n_partitions; p++)
        if (r->parts[p].assigned)
            __atomic_store_n(&r->opt->positions[p], r->parts[p].expected, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------- the transaction */

sentinel_err_t sentinel_projection_lock(PGconn *conn, const char *schema, const char *projector,
                                        int exclusive, char *errstr, size_t errstr_size) {
    const char *params[2] = {schema ? schema : "public", projector};
    PGresult *res = PQexecParams(conn,
                                 exclusive ? "SELECT pg_advisory_xact_lock(hashtext('sentinel.projection.' "
                                             "|| $1), hashtext($2))"
                                           : "SELECT pg_advisory_xact_lock_shared(hashtext("
                                             "'sentinel.projection.' || $1), hashtext($2))",
                                 2, NULL, params, NULL, NULL, 0);
    sentinel_err_t err = sentinel_db_classify(conn, res);
    if (err) sentinel_db_errstr(conn, res, errstr, errstr_size);
    PQclear(res);
    return err;
}

/* The compare-and-set of every partition in the batch, in one statement.
 * Returns 1 when all rows moved, 0 when fenced. */
static sentinel_err_t advance_offsets(runner_t *r, int *moved_all, char *errstr,
                                      size_t errstr_size) {
    char *ps = NULL, *ex = NULL, *nx = NULL;
    size_t lp = 0, le = 0, ln = 0;
    FILE *fp = open_memstream(&ps, &lp), *fe = open_memstream(&ex, &le),
         *fn = open_memstream(&nx, &ln);
    int count = 0;
    for (int p = 0; p < r->n_parts; p++) {
        part_state_t *st = &r->parts[p];
        if (!st->in_batch) continue;
        fprintf(fp, "%s%d", count ? "," : "{", p);
        fprintf(fe, "%s%lld", count ? "," : "{", (long long)st->expected);
        fprintf(fn, "%s%lld", count ? "," : "{", (long long)(st->last + 1));
        count++;
    }
    fputs("}", fp);
    fputs("}", fe);
    fputs("}", fn);
    fclose(fp);
    fclose(fe);
    fclose(fn);
    const char *params[5] = {r->p->name, r->topic, ps, ex, nx};
    PGresult *res = NULL;
    sentinel_err_t err = sentinel_db_params(
        r->pg,
        "UPDATE projector_offsets o SET next_offset = v.next, updated_at = now() "
        "FROM unnest($3::int[], $4::bigint[], $5::bigint[]) AS v(p, expected, next) "
        "WHERE o.projector = $1 AND o.topic = $2 AND o.partition = v.p "
        "AND o.next_offset = v.expected",
        5, params, &res, errstr, errstr_size);
    free(ps);
    free(ex);
    free(nx);
    if (err) return err;
    *moved_all = atoi(PQcmdTuples(res)) == count;
    PQclear(res);
    return SENTINEL_OK;
}

/* Claim the idempotency keys (workspace_id, event_id) of items[0..count):
 * the first delivery of a key in log order is NEW, the others DUPLICATE;
 * the same event id in another workspace is another event. A poisoned
 * event's key is claimed too, so its redelivery is a duplicate like any
 * dead letter's. */
static sentinel_err_t deduplicate(runner_t *r, item_t *items, size_t count, char *errstr,
                                  size_t errstr_size) {
    size_t n = 0;
    const char **ids = malloc((count + 1) * sizeof(*ids));
    const char **ws = malloc((count + 1) * sizeof(*ws));
    size_t *which = malloc((count + 1) * sizeof(*which));
    if (!ids || !ws || !which) abort();
    for (size_t i = 0; i < count; i++) {
        if (items[i].status != ITEM_PENDING && !items[i].poisoned) continue;
        ids[n] = items[i].ev.event_id;
        ws[n] = items[i].ev.workspace_id;
        which[n++] = i;
    }
    sentinel_err_t err = SENTINEL_OK;
    if (n) {
        char *a = uuid_array(ids, n), *b = uuid_array(ws, n);
        const char *params[3] = {r->p->name, a, b};
        PGresult *res = NULL;
        /* Which keys were claimed now, each by its first position. */
        err = sentinel_db_params(
            r->pg,
            "WITH input AS (SELECT e, w, i FROM unnest($2::uuid[], $3::uuid[]) "
            "WITH ORDINALITY AS t(e, w, i)), "
            "claimed AS (INSERT INTO applied_events (projector, event_id, workspace_id) "
            "SELECT $1, e, w FROM input ON CONFLICT DO NOTHING RETURNING event_id, workspace_id) "
            "SELECT min(input.i) FROM input JOIN claimed "
            "ON claimed.event_id = input.e AND claimed.workspace_id = input.w "
            "GROUP BY input.w, input.e",
            3, params, &res, errstr, errstr_size);
        free(a);
        free(b);
        if (!err) {
            for (size_t k = 0; k < n; k++)
                if (items[which[k]].status == ITEM_PENDING) items[which[k]].status = ITEM_DUPLICATE;
            for (int k = 0; k < PQntuples(res); k++) {
                long long pos = atoll(PQgetvalue(res, k, 0));
                if (pos < 1 || (size_t)pos > n) continue;
                item_t *it = &items[which[pos - 1]];
                if (it->status == ITEM_DUPLICATE) it->status = ITEM_NEW;
            }
            PQclear(res);
        }
    }
    free(ids);
    free(ws);
    free(which);
    return err;
}

/* A known workspace: its deletion time (INT64_MAX when live) as the map's
 * value, owned by the map's user. */
static void mark_known_workspace(PGresult *res, int row, void *opaque) {
    int64_t deleted = PQgetisnull(res, row, 1) ? INT64_MAX : atoll(PQgetvalue(res, row, 1));
    int64_t *slot = malloc(sizeof(*slot));
    if (!slot) abort();
    *slot = deleted;
    sentinel_uuid_map_put(opaque, PQgetvalue(res, row, 0), slot);
}

static sentinel_err_t reject_unknown_workspaces(runner_t *r, item_t *items, size_t count,
                                                char *errstr, size_t errstr_size) {
    sentinel_uuid_map_t *seen = sentinel_uuid_map_new();
    const char **ids = malloc((count + 1) * sizeof(*ids));
    if (!ids) abort();
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        item_t *it = &items[i];
        if (it->status != ITEM_NEW || sentinel_uuid_map_get(seen, it->ev.workspace_id)) continue;
        sentinel_uuid_map_put(seen, it->ev.workspace_id, (void *)1);
        ids[n++] = it->ev.workspace_id;
    }
    sentinel_uuid_map_t *known = sentinel_uuid_map_new();
    sentinel_err_t err = sentinel_db_select_ids(
        r->pg,
        "SELECT id, (extract(epoch FROM deleted_at) * 1000000)::bigint FROM workspaces "
        "WHERE id = ANY($1::uuid[])",
        ids, n, mark_known_workspace, known, errstr, errstr_size);
    for (size_t i = 0; !err && i < count; i++) {
        item_t *it = &items[i];
        if (it->status != ITEM_NEW) continue;
        const int64_t *deleted = sentinel_uuid_map_get(known, it->ev.workspace_id);
        char reason[160];
        if (!deleted) {
            snprintf(reason, sizeof(reason), "unknown workspace %s", it->ev.workspace_id);
        } else if (it->ev.occurred_at >= *deleted) {
            /* Deleted before the event: its earlier events stay welcome, so
             * a rebuild after the deletion equals the live projection. */
            char ts[SENTINEL_TIMESTAMP_MAX];
            sentinel_timestamp_format(*deleted, ts);
            snprintf(reason, sizeof(reason), "workspace %s was deleted at %s, before the event",
                     it->ev.workspace_id, ts);
        } else {
            continue;
        }
        free(it->reason);
        it->reason = strdup(reason);
        if (!it->reason) abort();
        it->status = ITEM_REJECTED;
    }
    size_t cursor = 0;
    const char *key;
    void *value;
    while (sentinel_uuid_map_next(known, &cursor, &key, &value))
        free(value);
    sentinel_uuid_map_destroy(known);
    sentinel_uuid_map_destroy(seen);
    free(ids);
    return err;
}

/* Dead letters: COPY into a staging table, then one INSERT, whatever
 * their number (no bound on parameters). A rejected event id stays in
 * applied_events: a redelivery of it is a duplicate whatever the batch
 * boundaries (re-applying is `sentinel dead-letters retry`'s job), so the
 * outcome never depends on how the log was cut into batches. */
static sentinel_err_t write_dead_letters(runner_t *r, item_t *items, size_t count, char *errstr,
                                         size_t errstr_size) {
    sentinel_copy_t rows = {0};
    for (size_t i = 0; i < count; i++) {
        item_t *it = &items[i];
        if (it->status != ITEM_REJECTED) continue;
        sentinel_copy_str(&rows, r->p->name);
        sentinel_copy_str(&rows, r->topic);
        sentinel_copy_int(&rows, it->msg->partition);
        sentinel_copy_int(&rows, it->msg->offset);
        sentinel_copy_str(&rows, it->decoded ? it->ev.event_id : NULL);
        sentinel_copy_str(&rows, it->decoded ? it->ev.workspace_id : NULL);
        sentinel_copy_str(&rows, it->decoded ? it->ev.type->name : NULL);
        sentinel_copy_str(&rows, it->reason ? it->reason : "rejected");
        sentinel_copy_bytes(&rows, it->msg->payload, it->msg->len);
        sentinel_copy_end_row(&rows);
    }
    sentinel_err_t err = sentinel_copy_stage(
        r->pg,
        "CREATE TEMP TABLE IF NOT EXISTS dead_letter_rows (projector text, topic text, "
        "partition int, kafka_offset bigint, event_id uuid, workspace_id uuid, event_type text, "
        "reason text, payload bytea) ON COMMIT DELETE ROWS",
        "COPY dead_letter_rows FROM STDIN", &rows,
        "INSERT INTO dead_letters (projector, topic, partition, kafka_offset, event_id, "
        "workspace_id, event_type, reason, payload) SELECT * FROM dead_letter_rows "
        "ON CONFLICT (projector, topic, partition, kafka_offset) DO NOTHING",
        errstr, errstr_size);
    sentinel_copy_free(&rows);
    return err;
}

/* Items back to their state before the transaction, for a retry. */
static void reset_items(item_t *items, size_t count) {
    for (size_t i = 0; i < count; i++) {
        item_t *it = &items[i];
        if (!it->decoded || it->status == ITEM_SKIPPED || it->poisoned) continue;
        it->status = ITEM_PENDING;
        free(it->reason);
        it->reason = NULL;
    }
}

static sentinel_err_t run_prepare(runner_t *r, item_t *items, size_t count, char *errstr,
                                  size_t errstr_size) {
    if (!r->p->prepare) return SENTINEL_OK;
    sentinel_batch_t batch = {malloc((count + 1) * sizeof(item_t *)), 0, r->topic};
    if (!batch.events) abort();
    for (size_t i = 0; i < count; i++)
        if (items[i].status == ITEM_PENDING) batch.events[batch.n++] = &items[i];
    sentinel_err_t err = r->p->prepare(&batch, r->pg, errstr, errstr_size);
    free(batch.events);
    return err;
}

/* One attempt at the transaction of items[0..count) (none: offsets only),
 * advancing the partitions marked in_batch. *fenced is set when another
 * consumer moved an offset first. */
static sentinel_err_t apply_once(runner_t *r, item_t *items, size_t count, int *fenced,
                                 char *errstr, size_t errstr_size) {
    sentinel_err_t err = sentinel_db_exec(r->pg, "BEGIN", errstr, errstr_size);
    if (err) return err;
    if ((err = sentinel_projection_lock(r->pg, r->opt->schema, r->p->name, 0, errstr, errstr_size)))
        goto rollback;
    int moved_all = 1; /* a replay stores no offsets */
    if (!r->opt->start_offsets && (err = advance_offsets(r, &moved_all, errstr, errstr_size)))
        goto rollback;
    if (!moved_all) {
        *fenced = 1;
        goto rollback;
    }
    if ((err = deduplicate(r, items, count, errstr, errstr_size))) goto rollback;
    if ((err = reject_unknown_workspaces(r, items, count, errstr, errstr_size))) goto rollback;

    sentinel_batch_t batch = {malloc((count + 1) * sizeof(item_t *)), 0, r->topic};
    if (!batch.events) abort();
    for (size_t i = 0; i < count; i++)
        if (items[i].status == ITEM_NEW) batch.events[batch.n++] = &items[i];
    if (batch.n) err = r->p->apply(&batch, r->pg, errstr, errstr_size);
    free(batch.events);
    if (err) goto rollback;
    if ((err = write_dead_letters(r, items, count, errstr, errstr_size))) goto rollback;
    err = sentinel_db_exec(r->pg, "COMMIT", errstr, errstr_size);
    return err;

rollback:;
    char ignored[256];
    if (PQstatus(r->pg) == CONNECTION_OK && sentinel_db_exec(r->pg, "ROLLBACK", ignored, sizeof(ignored))) {
        /* the server ends the transaction with the session */
    }
    return err;
}

/* After a fence: our idea of the stored offsets is stale. Re-read them and
 * move the consumer there. */
static void resync_offsets(runner_t *r) {
    char errstr[1024];
    for (int p = 0; p < r->n_parts; p++) {
        part_state_t *st = &r->parts[p];
        if (!st->in_batch || !st->assigned) continue;
        char pstr[16];
        snprintf(pstr, sizeof(pstr), "%d", p);
        const char *params[3] = {r->p->name, r->topic, pstr};
        PGresult *res = NULL;
        if (sentinel_db_params(r->pg,
                        "SELECT next_offset FROM projector_offsets "
                        "WHERE projector = $1 AND topic = $2 AND partition = $3",
                        3, params, &res, errstr, sizeof(errstr))) {
            set_fatal(r, "%s: after a fence: %s", r->p->name, errstr);
            return;
        }
        int64_t stored = PQntuples(res) ? atoll(PQgetvalue(res, 0, 0)) : 0;
        PQclear(res);
        sentinel_warn("%s: %s [%d]: fenced: stored offset is %lld, this consumer expected %lld; "
                      "batch rolled back, resuming from the stored offset",
                      r->p->name, r->topic, p, (long long)stored, (long long)st->expected);
        st->expected = stored;
        st->eof_at = -1;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, r->topic, p)->offset = stored;
        rd_kafka_error_t *e = rd_kafka_seek_partitions(r->rk, l, 10000);
        if (e) rd_kafka_error_destroy(e);
        if (st->stop >= 0) { /* a bounded run: the other consumer may have gone past the stop */
            st->done = stored >= st->stop;
            if (st->done) rd_kafka_pause_partitions(r->rk, l);
            else rd_kafka_resume_partitions(r->rk, l);
        }
        rd_kafka_topic_partition_list_destroy(l);
    }
}

/* The partitions items[0..count) cover and the last offset of each: what
 * one transaction advances. */
static void mark_range(runner_t *r, const item_t *items, size_t count) {
    for (int p = 0; p < r->n_parts; p++) r->parts[p].in_batch = 0;
    for (size_t i = 0; i < count; i++) {
        part_state_t *st = part(r, items[i].msg->partition);
        if (!st->in_batch && items[i].msg->offset != st->expected)
            sentinel_debug("%s: [%d] batch starts at %lld, stored offset is %lld", r->p->name,
                           items[i].msg->partition, (long long)items[i].msg->offset,
                           (long long)st->expected);
        st->in_batch = 1;
        st->last = items[i].msg->offset;
    }
}

/* items[0..count) in one transaction, tried again for as long as the
 * failure is not about the data (connection, serialization, lock timeout,
 * shutdown, disk full, permission): those never stop a projector. Returns
 * OK (committed, or *fenced), INVALID (the data: errstr has the database's
 * message), FATAL, or RETRIABLE when asked to stop meanwhile. */
static sentinel_err_t commit_range(runner_t *r, item_t *items, size_t count, int *fenced,
                                   char *errstr, size_t errstr_size) {
    for (int attempt = 0;; attempt++) {
        mark_range(r, items, count);
        reset_items(items, count);
        *fenced = 0;
        sentinel_err_t err = db_connect(r, errstr, errstr_size);
        if (!err) err = run_prepare(r, items, count, errstr, errstr_size);
        if (!err) err = apply_once(r, items, count, fenced, errstr, errstr_size);
        if (!err) {
            if (!*fenced)
                for (int p = 0; p < r->n_parts; p++)
                    if (r->parts[p].in_batch) r->parts[p].expected = r->parts[p].last + 1;
            return SENTINEL_OK;
        }
        if (err != SENTINEL_ERR_RETRIABLE) return err;
        r->stats.retries++;
        if (stopping(r)) return SENTINEL_ERR_RETRIABLE;
        sentinel_warn("%s: batch of %zu: %s; retrying", r->p->name, count, errstr);
        if (r->pg && PQstatus(r->pg) != CONNECTION_OK) {
            PQfinish(r->pg);
            r->pg = NULL;
        }
        backoff_wait(r, attempt);
        if (stopping(r)) return SENTINEL_ERR_RETRIABLE;
    }
}

/* The database refused event `it` on its own: it becomes a dead letter
 * with the database's words, and stays one on every later attempt. */
static void poison(runner_t *r, item_t *it, const char *why) {
    char reason[1024];
    snprintf(reason, sizeof(reason), "the database refused it: %s", why);
    sentinel_utf8_trim(reason);
    free(it->reason);
    it->reason = strdup(reason);
    if (!it->reason) abort();
    it->status = ITEM_REJECTED;
    it->poisoned = 1;
    sentinel_warn("%s: %s [%d] offset %lld: event %s dead-lettered: %s", r->p->name, r->topic,
                  it->msg->partition, (long long)it->msg->offset,
                  it->decoded ? it->ev.event_id : "(undecoded)", reason);
}

/* Poison isolation: apply items[0..count); on a data error, split the range
 * in two and apply each half, down to the one event the database refuses,
 * which is dead-lettered while the partition moves on. `again`: try a
 * failing range once more before splitting it (a constraint race with
 * another partition's consumer resolves on a retry). */
static sentinel_err_t apply_range(runner_t *r, item_t *items, size_t count, int again, int *fenced,
                                  char *errstr, size_t errstr_size) {
    sentinel_err_t err = commit_range(r, items, count, fenced, errstr, errstr_size);
    if (err == SENTINEL_ERR_INVALID && again) {
        sentinel_debug("%s: batch of %zu: %s; trying it once more", r->p->name, count, errstr);
        err = commit_range(r, items, count, fenced, errstr, errstr_size);
    }
    if (err != SENTINEL_ERR_INVALID) return err;
    if (count > 1) {
        size_t half = count / 2;
        sentinel_info("%s: batch of %zu refused (%s): splitting it to find the event", r->p->name,
                      count, errstr);
        err = apply_range(r, items, half, 0, fenced, errstr, errstr_size);
        if (err || *fenced) return err;
        return apply_range(r, items + half, count - half, 0, fenced, errstr, errstr_size);
    }
    if (items->poisoned || !items->decoded) {
        /* Nothing of it is applied: the dead letter itself does not go in. */
        return SENTINEL_ERR_FATAL;
    }
    poison(r, items, errstr);
    return commit_range(r, items, 1, fenced, errstr, errstr_size);
}

static sentinel_err_t process(runner_t *r, char *errstr, size_t errstr_size) {
    int fenced = 0;
    sentinel_err_t err = apply_range(r, r->items, r->n_items, 1, &fenced, errstr, errstr_size);
    if (err == SENTINEL_ERR_RETRIABLE) return SENTINEL_OK; /* stopping: give up quietly */
    if (err) return err;
    if (fenced) {
        /* Our idea of every partition of the batch is stale, also of those
         * a part committed before the fence. */
        r->stats.fenced++;
        mark_range(r, r->items, r->n_items);
        resync_offsets(r);
        drop_items(r, 0);
        return SENTINEL_OK;
    }
    r->stats.batches++;
    for (size_t i = 0; i < r->n_items; i++) {
        r->stats.events++;
        switch (r->items[i].status) {
        case ITEM_NEW: r->stats.applied++; break;
        case ITEM_DUPLICATE: r->stats.duplicates++; break;
        case ITEM_REJECTED: r->stats.rejected++; break;
        case ITEM_IGNORED: r->stats.ignored++; break;
        case ITEM_SKIPPED: r->stats.skipped++; break;
        case ITEM_PENDING: break;
        }
        if (r->items[i].status == ITEM_REJECTED)
            sentinel_debug("%s: dead letter at %s [%d] offset %lld: %s", r->p->name, r->topic,
                           r->items[i].msg->partition, (long long)r->items[i].msg->offset,
                           r->items[i].reason);
    }
    drop_items(r, 0);
    publish_positions(r);
    return SENTINEL_OK;
}

/* At the end of a partition whose log ends in records no consumer sees
 * (transaction markers), move the stored offset to the end too, so lag
 * reads 0. */
static sentinel_err_t advance_to_eof(runner_t *r, char *errstr, size_t errstr_size) {
    int any = 0;
    for (int p = 0; p < r->n_parts; p++) {
        part_state_t *st = &r->parts[p];
        st->in_batch = st->assigned && st->eof_at > st->expected;
        if (st->in_batch) {
            st->last = st->eof_at - 1;
            any = 1;
            sentinel_debug("%s: %s [%d]: at the end of the log: stored offset %lld -> %lld",
                          r->p->name, r->topic, p, (long long)st->expected, (long long)st->eof_at);
        }
    }
    if (!any) return SENTINEL_OK;
    sentinel_err_t err = db_connect(r, errstr, errstr_size);
    if (err) return err;
    int fenced = 0;
    err = apply_once(r, NULL, 0, &fenced, errstr, errstr_size);
    if (err) return err;
    if (fenced) {
        r->stats.fenced++;
        resync_offsets(r);
        return SENTINEL_OK;
    }
    for (int p = 0; p < r->n_parts; p++)
        if (r->parts[p].in_batch) r->parts[p].expected = r->parts[p].eof_at;
    return SENTINEL_OK;
}

static int caught_up(const runner_t *r) {
    if (!r->assigned_once || r->n_items) return 0;
    for (int p = 0; p < r->n_parts; p++) {
        const part_state_t *st = &r->parts[p];
        if (st->assigned && (st->eof_at < 0 || st->expected < st->eof_at)) return 0;
    }
    return 1;
}

/* Caught up across the whole group: every partition of the topic has its
 * stored offset at the log end, whoever owns it. A process that only
 * looked at its own partitions would stop early while a dead member still
 * holds the others. */
static int topic_caught_up(runner_t *r) {
    char errstr[512];
    int partitions = sentinel_topic_partitions(r->rk, r->topic, errstr, sizeof(errstr));
    if (partitions < 0) return 0;
    const char *params[2] = {r->p->name, r->topic};
    PGresult *res = NULL;
    if (sentinel_db_params(r->pg,
                    "SELECT partition, next_offset FROM projector_offsets "
                    "WHERE projector = $1 AND topic = $2",
                    2, params, &res, errstr, sizeof(errstr)))
        return 0;
    int done = 1;
    for (int p = 0; p < partitions && done; p++) {
        int64_t lo, hi, stored = -1;
        if (rd_kafka_query_watermark_offsets(r->rk, r->topic, p, &lo, &hi, 10000)) {
            done = 0;
            break;
        }
        for (int k = 0; k < PQntuples(res); k++)
            if (atoi(PQgetvalue(res, k, 0)) == p) stored = atoll(PQgetvalue(res, k, 1));
        done = stored >= hi || (stored < 0 && hi == lo);
    }
    PQclear(res);
    return done;
}

/* ---------------------------------------------------------------- bounded runs */

/* Assign every partition from its start (a replay's, else the stored
 * offset) up to its stop; those already at their stop are left out. */
static sentinel_err_t assign_bounded(runner_t *r, char *errstr, size_t errstr_size) {
    const sentinel_run_options_t *o = r->opt;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(o->n_partitions);
    for (int p = 0; p < o->n_partitions; p++) {
        part(r, p)->done = 1; /* until it is one of ours */
        if (!o->partitions_mask || o->partitions_mask[p])
            rd_kafka_topic_partition_list_add(parts, r->topic, p);
    }
    sentinel_err_t err = SENTINEL_OK;
    if (o->start_offsets) {
        for (int i = 0; i < parts->cnt; i++) {
            part_state_t *ps = part(r, parts->elems[i].partition);
            ps->assigned = 1;
            ps->expected = o->start_offsets[parts->elems[i].partition];
        }
    } else if (parts->cnt) {
        for (int attempt = 0;; attempt++) {
            err = load_offsets(r, parts, errstr, errstr_size);
            if (err != SENTINEL_ERR_RETRIABLE || attempt >= 12 || (o->stop && *o->stop)) break;
            sentinel_warn("%s: reading stored offsets: %s; retrying", r->p->name, errstr);
            backoff_wait(r, attempt);
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
    if (err) return err;
    rd_kafka_topic_partition_list_t *go = rd_kafka_topic_partition_list_new(o->n_partitions);
    for (int p = 0; p < o->n_partitions; p++) {
        part_state_t *ps = part(r, p);
        if (!ps->assigned) continue; /* another run's */
        ps->stop = o->stop_offsets[p];
        ps->done = ps->expected >= ps->stop;
        if (!ps->done) rd_kafka_topic_partition_list_add(go, r->topic, p)->offset = ps->expected;
    }
    rd_kafka_resp_err_t kerr = rd_kafka_assign(r->rk, go);
    rd_kafka_topic_partition_list_destroy(go);
    if (kerr) {
        snprintf(errstr, errstr_size, "%s: assign %s: %s", r->p->name, r->topic,
                 rd_kafka_err2str(kerr));
        return SENTINEL_ERR_FATAL;
    }
    r->assigned_once = 1;
    publish_positions(r);
    return SENTINEL_OK;
}

static int bounded_reached(const runner_t *r) {
    if (r->n_items) return 0;
    for (int p = 0; p < r->opt->n_partitions; p++)
        if (!r->parts[p].done) return 0;
    return 1;
}

/* Every partition reached its stop. Stored offsets short of it (the last
 * records before the stop were transaction markers or other projectors'
 * aborted records) move to exactly the stop, so a run bounded by another
 * projection's offsets ends where that projection is. Returns 1 when
 * done, 0 when a fence sent a partition back. */
static sentinel_err_t finish_bounded(runner_t *r, int *finished, char *errstr, size_t errstr_size) {
    *finished = 1;
    if (r->opt->start_offsets) return SENTINEL_OK;
    int any = 0;
    for (int p = 0; p < r->opt->n_partitions; p++) {
        part_state_t *st = &r->parts[p];
        st->in_batch = st->assigned && st->expected < st->stop;
        if (st->in_batch) {
            st->last = st->stop - 1;
            any = 1;
        }
    }
    if (!any) return SENTINEL_OK;
    sentinel_err_t err = db_connect(r, errstr, errstr_size);
    int fenced = 0;
    if (!err) err = apply_once(r, NULL, 0, &fenced, errstr, errstr_size);
    if (err) return err;
    if (fenced) {
        r->stats.fenced++;
        resync_offsets(r);
        *finished = 0;
        return SENTINEL_OK;
    }
    for (int p = 0; p < r->opt->n_partitions; p++)
        if (r->parts[p].in_batch) r->parts[p].expected = r->parts[p].stop;
    publish_positions(r);
    return SENTINEL_OK;
}

/* ---------------------------------------------------------------- run */

void sentinel_run_options_init(sentinel_run_options_t *o) {
    memset(o, 0, sizeof(*o));
    o->batch_events = 10000;
    o->batch_bytes = 16 * 1024 * 1024;
    o->batch_ms = 200;
}

const char *sentinel_projector_group(const sentinel_conf_t *conf, const sentinel_projector_t *p,
                                     char *buf, size_t size) {
    snprintf(buf, size, "%s.%s", sentinel_conf_group_prefix(conf), p->name);
    return buf;
}

const sentinel_projector_t *sentinel_projector_find(const char *name) {
    for (size_t i = 0; sentinel_projectors[i]; i++)
        if (!strcmp(sentinel_projectors[i]->name, name)) return sentinel_projectors[i];
    return NULL;
}

static const char *const consumer_defaults[] = {
    "enable.auto.commit", "false",
    "enable.auto.offset.store", "false",
    "auto.offset.reset", "error", /* never a silent skip */
    "isolation.level", "read_committed",
    "enable.partition.eof", "true",
    "session.timeout.ms", "10000",
    "heartbeat.interval.ms", "1000",
    "max.poll.interval.ms", "300000",
    /* Memory is bounded by these, per projector, whatever the backlog. A
     * queue much smaller than a few batches starves the consumer: it then
     * waits on fetches between batches (measured: 4x slower at 8 MiB). */
    "fetch.max.bytes", "8388608",
    "max.partition.fetch.bytes", "1048576",
    "queued.max.messages.kbytes", "16384",
    "fetch.wait.max.ms", "50",
    NULL,
};

sentinel_err_t sentinel_projector_run(const sentinel_projector_t *projector,
                                      const sentinel_conf_t *conf,
                                      const sentinel_run_options_t *options,
                                      sentinel_projector_stats_t *stats, char *errstr,
                                      size_t errstr_size) {
    runner_t r = {.p = projector, .conf = conf, .opt = options, .topic = sentinel_conf_topic(conf)};
    sentinel_err_t err = SENTINEL_OK;
    r.codec = sentinel_codec_new(errstr, errstr_size);
    if (!r.codec) return SENTINEL_ERR_FATAL;
    double give_up = sentinel_monotonic_seconds() + sentinel_conf_connect_timeout(conf);
    for (int attempt = 0;; attempt++) {
        err = db_connect(&r, errstr, errstr_size);
        if (err != SENTINEL_ERR_RETRIABLE || stopping(&r)) break;
        if (!is_daemon(&r) && sentinel_monotonic_seconds() >= give_up) {
            char why[768];
            snprintf(why, sizeof(why), "%s", errstr);
            snprintf(errstr, errstr_size, "no database answering within %d s: %s",
                     sentinel_conf_connect_timeout(conf), why);
            err = SENTINEL_ERR_FATAL;
            break;
        }
        sentinel_warn("%s: %s; retrying", projector->name, errstr);
        backoff_wait(&r, attempt);
    }
    if (err == SENTINEL_ERR_RETRIABLE && stopping(&r)) err = SENTINEL_OK; /* asked to stop */
    if (err) goto out;

    const char *defaults[sizeof(consumer_defaults) / sizeof(consumer_defaults[0])];
    char queue[16];
    memcpy(defaults, consumer_defaults, sizeof(defaults));
    for (size_t i = 0; defaults[i] && options->queue_kbytes > 0; i += 2) {
        if (strcmp(defaults[i], "queued.max.messages.kbytes")) continue;
        snprintf(queue, sizeof(queue), "%d", options->queue_kbytes);
        defaults[i + 1] = queue;
    }
    rd_kafka_conf_t *kconf = sentinel_conf_kafka_new(conf, defaults, errstr, errstr_size);
    if (!kconf) {
        err = SENTINEL_ERR_FATAL;
        goto out;
    }
    sentinel_projector_group(conf, projector, r.group, sizeof(r.group));
    if (rd_kafka_conf_set(kconf, "group.id", r.group, errstr, errstr_size)) {
        rd_kafka_conf_destroy(kconf);
        err = SENTINEL_ERR_FATAL;
        goto out;
    }
    rd_kafka_conf_set_rebalance_cb(kconf, rebalance_cb);
    rd_kafka_conf_set_opaque(kconf, &r);
    r.rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, errstr, errstr_size);
    if (!r.rk) {
        rd_kafka_conf_destroy(kconf);
        err = SENTINEL_ERR_FATAL;
        goto out;
    }
    rd_kafka_poll_set_consumer(r.rk);
    if (options->stop_offsets) {
        if ((err = assign_bounded(&r, errstr, errstr_size))) goto out;
        sentinel_debug("%s: consuming %s%s%s up to set offsets", projector->name, r.topic,
                      options->schema ? " into " : "", options->schema ? options->schema : "");
        goto consume;
    }
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, r.topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t kerr = rd_kafka_subscribe(r.rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (kerr) {
        snprintf(errstr, errstr_size, "%s: subscribe to %s: %s", projector->name, r.topic,
                 rd_kafka_err2str(kerr));
        err = SENTINEL_ERR_FATAL;
        goto out;
    }
    sentinel_info("%s: consuming %s as group %s", projector->name, r.topic, r.group);

consume:;
    double last_report = sentinel_monotonic_seconds(), last_global_check = 0;
    unsigned long reported = 0;
    while (!(options->stop && *options->stop)) {
        double t0 = sentinel_monotonic_seconds();
        collect(&r);
        if (r.fatal) break;
        if (r.n_items) {
            double t1 = sentinel_monotonic_seconds();
            size_t n = r.n_items;
            err = process(&r, errstr, errstr_size);
            if (err) goto out;
            sentinel_debug("%s: batch of %zu: collected in %.0f ms, applied in %.0f ms",
                           projector->name, n, (t1 - t0) * 1000, (sentinel_monotonic_seconds() - t1) * 1000);
        } else if (options->stop_offsets) {
            if (bounded_reached(&r)) {
                int finished = 0;
                err = finish_bounded(&r, &finished, errstr, errstr_size);
                if (err == SENTINEL_ERR_FATAL) goto out;
                if (!err && finished) break;
                if (err) backoff_wait(&r, 1);
                err = SENTINEL_OK;
            }
        } else {
            if (advance_to_eof(&r, errstr, errstr_size) == SENTINEL_ERR_FATAL) {
                err = SENTINEL_ERR_FATAL;
                goto out;
            }
            if (options->until_caught_up && caught_up(&r)) {
                double t = sentinel_monotonic_seconds();
                if (t - last_global_check >= 1.0) {
                    last_global_check = t;
                    if (topic_caught_up(&r)) break;
                }
            }
        }
        double t = sentinel_monotonic_seconds();
        if (t - last_report >= 10) {
            sentinel_info("%s: %lu events (%.0f/s), %lu applied, %lu duplicates, %lu rejected",
                          projector->name, r.stats.events,
                          (r.stats.events - reported) / (t - last_report), r.stats.applied,
                          r.stats.duplicates, r.stats.rejected);
            reported = r.stats.events;
            last_report = t;
        }
    }
    if (r.fatal) {
        snprintf(errstr, errstr_size, "%s", r.fatal_reason);
        err = SENTINEL_ERR_FATAL;
    }
out:
    if (r.rk) {
        rd_kafka_consumer_close(r.rk); /* leave the group cleanly */
        drop_items(&r, 0);
        rd_kafka_destroy(r.rk);
    }
    drop_items(&r, 0);
    free(r.items);
    free(r.parts);
    if (r.pg) PQfinish(r.pg);
    sentinel_codec_destroy(r.codec);
    if (stats) *stats = r.stats;
    return err;
}

/* ---------------------------------------------------------------- retry */

/* Load up to `limit` unresolved dead letters (after id `after`) as items. */
static sentinel_err_t retry_load(runner_t *r, const char *ids, long long after, int limit,
                                 char *errstr, size_t errstr_size) {
    char after_s[32], limit_s[16];
    snprintf(after_s, sizeof(after_s), "%lld", after);
    snprintf(limit_s, sizeof(limit_s), "%d", limit);
    const char *params[5] = {r->p->name, r->topic, ids, after_s, limit_s};
    PGresult *res = NULL;
    sentinel_err_t err = sentinel_db_params(
        r->pg,
        "SELECT id, partition, kafka_offset, payload FROM dead_letters "
        "WHERE projector = $1 AND topic = $2 AND resolved_at IS NULL AND id > $4::bigint "
        "AND ($3::bigint[] IS NULL OR id = ANY($3::bigint[])) ORDER BY id LIMIT $5::int",
        5, params, &res, errstr, errstr_size);
    if (err) return err;
    for (int k = 0; k < PQntuples(res); k++) {
        size_t len = 0;
        unsigned char *bytes = PQunescapeBytea((const unsigned char *)PQgetvalue(res, k, 3), &len);
        rd_kafka_message_t *m = calloc(1, sizeof(*m));
        m->partition = atoi(PQgetvalue(res, k, 1));
        m->offset = atoll(PQgetvalue(res, k, 2));
        m->payload = malloc(len ? len : 1);
        memcpy(m->payload, bytes, len);
        m->len = len;
        PQfreemem(bytes);
        item_t *it = new_item(r, m);
        it->retried = 1;
        it->dead_letter = atoll(PQgetvalue(res, k, 0));
        char why[1024];
        if (sentinel_event_decode(r->codec, m->payload, m->len, &it->ev, why, sizeof(why))) {
            it->status = ITEM_REJECTED;
            it->reason = strdup("payload does not decode");
            continue;
        }
        it->decoded = 1;
        it->status = ITEM_PENDING;
    }
    PQclear(res);
    return SENTINEL_OK;
}

/* One transaction over the loaded dead letters: forget their ids, apply
 * them as new, then resolve the applied and re-reason the rejected. */
static sentinel_err_t retry_apply(runner_t *r, size_t *resolved, size_t *still, char *errstr,
                                  size_t errstr_size) {
    sentinel_err_t err = run_prepare(r, r->items, r->n_items, errstr, errstr_size);
    if (err) return err;
    if ((err = sentinel_db_exec(r->pg, "BEGIN", errstr, errstr_size))) return err;
    if ((err = sentinel_projection_lock(r->pg, NULL, r->p->name, 0, errstr, errstr_size))) {
        char ignored[256];
        if (sentinel_db_exec(r->pg, "ROLLBACK", ignored, sizeof(ignored))) {
            /* the server ends the transaction with the session */
        }
        return err;
    }
    const char **ids = malloc((r->n_items + 1) * sizeof(*ids));
    const char **ws = malloc((r->n_items + 1) * sizeof(*ws));
    if (!ids || !ws) abort();
    size_t n = 0;
    for (size_t i = 0; i < r->n_items; i++) {
        if (!r->items[i].decoded) continue;
        ids[n] = r->items[i].ev.event_id;
        ws[n++] = r->items[i].ev.workspace_id;
    }
    if (n) {
        char *a = uuid_array(ids, n), *b = uuid_array(ws, n);
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
    if (!err) err = deduplicate(r, r->items, r->n_items, errstr, errstr_size);
    if (!err) err = reject_unknown_workspaces(r, r->items, r->n_items, errstr, errstr_size);
    if (!err) {
        sentinel_batch_t batch = {malloc((r->n_items + 1) * sizeof(item_t *)), 0, r->topic};
        for (size_t i = 0; i < r->n_items; i++)
            if (r->items[i].status == ITEM_NEW) batch.events[batch.n++] = &r->items[i];
        if (batch.n) err = r->p->apply(&batch, r->pg, errstr, errstr_size);
        free(batch.events);
    }
    for (size_t i = 0; !err && i < r->n_items; i++) {
        item_t *it = &r->items[i];
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
                              "UPDATE dead_letters SET resolved_at = now(), retried_at = now(), "
                              "retry_count = retry_count + 1 WHERE id = $1::bigint",
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
    runner_t r = {.p = projector, .conf = conf, .topic = sentinel_conf_topic(conf)};
    *resolved = *still = 0;
    r.codec = sentinel_codec_new(errstr, errstr_size);
    if (!r.codec) return SENTINEL_ERR_FATAL;
    sentinel_err_t err = db_connect(&r, errstr, errstr_size);
    long long after = 0;
    while (!err) {
        if ((err = retry_load(&r, ids, after, 2000, errstr, errstr_size))) break;
        if (!r.n_items) break;
        after = r.items[r.n_items - 1].dead_letter;
        err = retry_apply(&r, resolved, still, errstr, errstr_size);
        drop_items(&r, 0);
    }
    drop_items(&r, 0);
    free(r.items);
    free(r.parts);
    if (r.pg) PQfinish(r.pg);
    sentinel_codec_destroy(r.codec);
    return err;
}
