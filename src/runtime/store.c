/* store.c -- the runtime's PostgreSQL side: sessions, stored offsets and
 * the one transaction per batch (projection lock, offset compare-and-set,
 * deduplication, unknown workspaces, the projector's apply, dead letters). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/timestamp.h"
#include "base/uuid_map.h"
#include "pg/array.h"
#include "pg/copy_buffer.h"
#include "pg/db.h"
#include "pg/migrate.h"
#include "runtime/run.h"
#include "runtime/runtime.h"

/* ---------------------------------------------------------------- SQL helpers */

/* ---------------------------------------------------------------- sessions */

/* The projector sessions' settings, `commit` their synchronous_commit.
 * A stalled (stopped, partitioned) projector must not hold its offset
 * rows locked forever: the server ends its transaction. Asynchronous
 * commit is safe where the stored offsets fence the commit: they
 * commit in the same transaction as the rows, so a transaction lost in
 * a server crash loses its offset advance with it and is applied again
 * from Kafka. A replay stores no offsets and a dead-letter retry marks
 * what it applied: nothing would apply again what a crash lost, so
 * their commits are durable.
 * JIT compilation is off: a projector's statements are key lookups
 * and writes that run in a millisecond, but a lookup planned as a
 * sequential scan (a table not analyzed yet, as every new month's
 * partition is) costs past jit_above_cost as the table grows, and
 * compiling it took 50 ms a batch, every batch, until autovacuum came
 * round: a projector that kept up fell seconds behind.
 * Sequential scans are off for the same reason: a statement is
 * prepared once per connection, and PostgreSQL keeps the generic plan
 * it made while a table was nearly empty, a sequential scan, until the
 * table is next analyzed (once a minute at best; a month's new
 * partition and a new deployment start empty). Every lookup and key
 * check a projector makes has an index, and with scans off it is used
 * from the first transaction: at 5,000 events/s on fresh tables the
 * busiest backend had spent a fifth of its time scanning
 * (test_young_tables_use_indexes). */
#define SESSION(commit)                                                                            \
    "SET idle_in_transaction_session_timeout = '60s'; SET lock_timeout = '30s';"                   \
    "SET synchronous_commit = " commit "; SET jit = off; SET enable_seqscan = off;"                \
    "SET application_name = 'sentinel-projector'; SET client_min_messages = warning"

sentinel_err_t rt_connect(const rt_runtime_t *rt, PGconn **pg, int durable, char *errstr,
                          size_t errstr_size) {
    if (sentinel_db_usable(*pg)) return SENTINEL_OK;
    if (*pg) {
        PQfinish(*pg);
        *pg = NULL;
    }
    /* A string that can never parse is a configuration error, for a
     * daemon too: retrying it would only log the same refusal forever. */
    sentinel_err_t class =
        sentinel_db_conninfo_check(sentinel_conf_db(rt->conf), errstr, errstr_size);
    if (class) return class;
    *pg = sentinel_db_open(sentinel_conf_db(rt->conf), sentinel_conf_connect_timeout(rt->conf),
                           &class, errstr, errstr_size);
    if (!*pg)
        return class == SENTINEL_ERR_FATAL && !rt_is_daemon(rt) ? class : SENTINEL_ERR_RETRIABLE;
    sentinel_err_t err =
        sentinel_db_exec(*pg, durable ? SESSION("on") : SESSION("off"), errstr, errstr_size);
    if (!err && rt->opt && rt->opt->schema) {
        /* A shadow first: the projector's unqualified names resolve to its
         * copies, the control plane it reads to public. */
        char *quoted = PQescapeIdentifier(*pg, rt->opt->schema, strlen(rt->opt->schema));
        char sql[256];
        snprintf(sql, sizeof(sql), "SET search_path = %s, public", quoted ? quoted : "\"\"");
        PQfreemem(quoted);
        err = sentinel_db_exec(*pg, sql, errstr, errstr_size);
    }
    if (!err) err = sentinel_migrate_check(*pg, errstr, errstr_size);
    return err;
}

/* ---------------------------------------------------------------- stored offsets */

sentinel_err_t rt_load_offsets(PGconn *pg, const char *topic, const char *const *projectors, int n,
                               int32_t partition, int64_t log_start, int64_t *out, char *errstr,
                               size_t errstr_size) {
    char pstr[16], lostr[32];
    snprintf(pstr, sizeof(pstr), "%d", partition);
    snprintf(lostr, sizeof(lostr), "%lld", (long long)log_start);
    for (int j = 0; j < n; j++) {
        const char *params[4] = {projectors[j], topic, pstr, lostr};
        /* A missing row means "start at the beginning". */
        PGresult *res = NULL;
        sentinel_err_t err = sentinel_db_params(
            pg,
            "WITH made AS (INSERT INTO projector_offsets (projector, topic, partition, "
            "next_offset) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING next_offset) "
            "SELECT next_offset FROM made UNION ALL SELECT next_offset FROM projector_offsets "
            "WHERE projector = $1 AND topic = $2 AND partition = $3",
            4, params, &res, errstr, errstr_size);
        if (err) return err;
        out[j] = atoll(PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    return SENTINEL_OK;
}

sentinel_err_t rt_stored_offset(PGconn *pg, const char *projector, const char *topic,
                                int32_t partition, int64_t *out, char *errstr, size_t errstr_size) {
    char pstr[16];
    snprintf(pstr, sizeof(pstr), "%d", partition);
    const char *params[3] = {projector, topic, pstr};
    PGresult *res = NULL;
    sentinel_err_t err =
        sentinel_db_params(pg,
                           "SELECT next_offset FROM projector_offsets "
                           "WHERE projector = $1 AND topic = $2 AND partition = $3",
                           3, params, &res, errstr, errstr_size);
    if (err) return err;
    *out = PQntuples(res) ? atoll(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    return SENTINEL_OK;
}

/* ---------------------------------------------------------------- the transaction */

static const char *lock_sql(int exclusive) {
    return exclusive ? "SELECT pg_advisory_xact_lock(hashtext("
                       "'sentinel.projection.' || $1), hashtext($2))"
                     : "SELECT pg_advisory_xact_lock_shared(hashtext("
                       "'sentinel.projection.' || $1), hashtext($2))";
}

sentinel_err_t sentinel_projection_lock(PGconn *conn, const char *schema, const char *projector,
                                        int exclusive, char *errstr, size_t errstr_size) {
    const char *params[2] = {schema ? schema : "public", projector};
    return sentinel_db_params(conn, lock_sql(exclusive), 2, params, NULL, errstr, errstr_size);
}

/* The compare-and-set of every partition in the batch, in one statement:
 * its arrays, and how many rows must move. */
typedef struct advance {
    sentinel_array_t parts, expected, next;
    int count;
    const char *params[5];
} advance_t;

static const char advance_sql[] =
    "UPDATE projector_offsets o SET next_offset = v.next, updated_at = now() "
    "FROM unnest($3::int[], $4::bigint[], $5::bigint[]) AS v(p, expected, next) "
    "WHERE o.projector = $1 AND o.topic = $2 AND o.partition = v.p "
    "AND o.next_offset = v.expected";

static void advance_init(advance_t *a, const rt_projection_t *pj) {
    memset(a, 0, sizeof(*a));
    for (int p = 0; p < RT_MAX_PARTITIONS; p++) {
        const rt_part_t *st = &pj->parts[p];
        if (!st->in_batch) continue;
        sentinel_array_add_int(&a->parts, p);
        sentinel_array_add_int(&a->expected, st->expected);
        sentinel_array_add_int(&a->next, st->last + 1);
        a->count++;
    }
    a->params[0] = pj->p->name;
    a->params[1] = pj->rt->topic;
    a->params[2] = sentinel_array_text(&a->parts);
    a->params[3] = sentinel_array_text(&a->expected);
    a->params[4] = sentinel_array_text(&a->next);
}

static void advance_free(advance_t *a) {
    sentinel_array_free(&a->parts);
    sentinel_array_free(&a->expected);
    sentinel_array_free(&a->next);
}

/* BEGIN, the projection's shared lock and the offsets' compare-and-set (a
 * replay stores none), in one round trip. *moved_all is 1 when every
 * offset moved, 0 when fenced. */
static sentinel_err_t begin_batch(rt_projection_t *pj, int *moved_all, char *errstr,
                                  size_t errstr_size) {
    const sentinel_run_options_t *opt = pj->rt->opt;
    const char *lock_params[2] = {opt->schema ? opt->schema : "public", pj->p->name};
    advance_t a;
    advance_init(&a, pj);
    sentinel_statement_t st[3] = {{"BEGIN", 0, NULL, NULL, NULL},
                                  {lock_sql(0), 2, lock_params, NULL, NULL},
                                  {advance_sql, 5, a.params, NULL, NULL}};
    int n = pj->run->start_offsets ? 2 : 3;
    PGresult *res[3] = {NULL, NULL, NULL};
    sentinel_err_t err = sentinel_db_pipeline(pj->pg, n, st, res, errstr, errstr_size);
    *moved_all = 1;
    if (!err && n == 3) *moved_all = atoi(PQcmdTuples(res[2])) == a.count;
    for (int i = 0; i < 3; i++)
        PQclear(res[i]);
    advance_free(&a);
    return err;
}

/* Whether p proves item it applied by a row of its own. */
static int proven(const sentinel_projector_t *p, const rt_item_t *it) {
    if (!p->proven_by_rows || !it->m->decoded) return 0;
    for (size_t i = 0; p->proven_by_rows[i]; i++)
        if (!strcmp(p->proven_by_rows[i], it->m->ev.type->name)) return 1;
    return 0;
}

/* The keys of the items `pick` chooses, as two uuid[] parameters (binary,
 * or literals when an id is no UUID), and where each is in items. */
typedef struct keys {
    char *events, *workspaces;
    int lengths[2], formats[2];
    size_t *which;
    size_t n;
} keys_t;

static void keys_of(keys_t *k, const sentinel_projector_t *p, const rt_item_t *items, size_t count,
                    int (*pick)(const sentinel_projector_t *, const rt_item_t *)) {
    const char **ids = sentinel_calloc(count + 1, sizeof(*ids));
    const char **ws = sentinel_calloc(count + 1, sizeof(*ws));
    k->which = sentinel_malloc((count + 1) * sizeof(*k->which));
    k->n = 0;
    for (size_t i = 0; i < count; i++) {
        if (!pick(p, &items[i])) continue;
        ids[k->n] = items[i].m->ev.event_id;
        ws[k->n] = items[i].m->ev.workspace_id;
        k->which[k->n++] = i;
    }
    k->events = sentinel_uuid_param(ids, k->n, &k->lengths[0], &k->formats[0]);
    k->workspaces = sentinel_uuid_param(ws, k->n, &k->lengths[1], &k->formats[1]);
    free(ids);
    free(ws);
}

/* Run sql with $1 the projector's name, $2 and $3 the keys. */
static sentinel_err_t with_keys(PGconn *pg, const char *sql, const sentinel_projector_t *p,
                                const keys_t *k, PGresult **res, char *errstr, size_t errstr_size) {
    const char *params[3] = {p->name, k->events, k->workspaces};
    const int lengths[3] = {0, k->lengths[0], k->lengths[1]};
    const int formats[3] = {0, k->formats[0], k->formats[1]};
    sentinel_statement_t st = {sql, 3, params, lengths, formats};
    PGresult *out = NULL;
    sentinel_err_t err = sentinel_db_pipeline(pg, 1, &st, &out, errstr, errstr_size);
    if (res)
        *res = out;
    else
        PQclear(out);
    return err;
}

static void keys_free(keys_t *k) {
    free(k->events);
    free(k->workspaces);
    free(k->which);
}

/* To be claimed in the ledger now: new items of the other types, and the
 * poisoned ones (claimed again, as they are on every attempt). */
static int ledger_claims(const sentinel_projector_t *p, const rt_item_t *it) {
    return (it->status == ITEM_PENDING || it->poisoned) && !proven(p, it);
}

static int proven_pending(const sentinel_projector_t *p, const rt_item_t *it) {
    return it->status == ITEM_PENDING && proven(p, it);
}

static int proven_rejected(const sentinel_projector_t *p, const rt_item_t *it) {
    return it->status == ITEM_REJECTED && it->m->decoded && proven(p, it);
}

/* Within the batch, as the ledger would: a key's first delivery is NEW,
 * the others DUPLICATE, so apply sees each event once, whatever became of
 * the first. */
static void first_deliveries(rt_item_t *items, const keys_t *k) {
    sentinel_uuid_map_t *seen = sentinel_uuid_map_new();
    size_t *same =
        sentinel_malloc((k->n + 1) * sizeof(*same)); /* the previous one of the same id, + 1 */
    for (size_t j = 0; j < k->n; j++) {
        rt_item_t *it = &items[k->which[j]];
        same[j] = 0;
        if (it->status != ITEM_NEW) continue;
        const sentinel_event_t *ev = &it->m->ev;
        size_t prev = (size_t)(uintptr_t)sentinel_uuid_map_get(seen, ev->event_id);
        for (size_t p = prev; p; p = same[p - 1])
            if (!strcmp(items[k->which[p - 1]].m->ev.workspace_id, ev->workspace_id)) {
                it->status = ITEM_DUPLICATE;
                break;
            }
        if (it->status != ITEM_NEW) continue;
        same[j] = prev;
        sentinel_uuid_map_put(seen, ev->event_id, (void *)(uintptr_t)(j + 1));
    }
    free(same);
    sentinel_uuid_map_destroy(seen);
}

/* Claim the idempotency keys (workspace_id, event_id) of items[0..count):
 * the first delivery of a key in log order is NEW, the others DUPLICATE;
 * the same event id in another workspace is another event. A poisoned
 * event's key is claimed too, so its redelivery is a duplicate like any
 * dead letter's. Types proven by rows claim nothing here: they are NEW
 * unless rejected before (rt_claim_rejected), and apply finds their
 * redeliveries by their rows. */
sentinel_err_t rt_deduplicate(PGconn *pg, const sentinel_projector_t *p, rt_item_t *items,
                              size_t count, char *errstr, size_t errstr_size) {
    keys_t k;
    keys_of(&k, p, items, count, ledger_claims);
    sentinel_err_t err = SENTINEL_OK;
    PGresult *res = NULL;
    if (k.n) {
        /* Which keys were claimed now, each by its first position. */
        err = with_keys(
            pg,
            "WITH input AS (SELECT e, w, i FROM unnest($2::uuid[], $3::uuid[]) "
            "WITH ORDINALITY AS t(e, w, i)), "
            "claimed AS (INSERT INTO applied_events (projector, event_id, workspace_id) "
            "SELECT $1, e, w FROM input ON CONFLICT DO NOTHING RETURNING event_id, workspace_id) "
            "SELECT min(input.i) FROM input JOIN claimed "
            "ON claimed.event_id = input.e AND claimed.workspace_id = input.w "
            "GROUP BY input.w, input.e",
            p, &k, &res, errstr, errstr_size);
        if (!err) {
            for (size_t j = 0; j < k.n; j++)
                if (items[k.which[j]].status == ITEM_PENDING)
                    items[k.which[j]].status = ITEM_DUPLICATE;
            for (int r = 0; r < PQntuples(res); r++) {
                long long pos = atoll(PQgetvalue(res, r, 0));
                if (pos < 1 || (size_t)pos > k.n) continue;
                rt_item_t *it = &items[k.which[pos - 1]];
                if (it->status == ITEM_DUPLICATE) it->status = ITEM_NEW;
            }
            PQclear(res);
        }
    }
    keys_free(&k);
    if (err) return err;

    keys_of(&k, p, items, count, proven_pending);
    if (k.n) {
        /* Only rejected events of these types have a ledger row. */
        err = with_keys(pg,
                        "SELECT i FROM unnest($2::uuid[], $3::uuid[]) WITH ORDINALITY "
                        "AS t(e, w, i) WHERE EXISTS (SELECT 1 FROM applied_events a "
                        "WHERE a.projector = $1 AND a.workspace_id = t.w "
                        "AND a.event_id = t.e)",
                        p, &k, &res, errstr, errstr_size);
        if (!err) {
            for (size_t j = 0; j < k.n; j++)
                items[k.which[j]].status = ITEM_NEW;
            for (int r = 0; r < PQntuples(res); r++) {
                long long pos = atoll(PQgetvalue(res, r, 0));
                if (pos >= 1 && (size_t)pos <= k.n) items[k.which[pos - 1]].status = ITEM_DUPLICATE;
            }
            PQclear(res);
            first_deliveries(items, &k);
        }
    }
    keys_free(&k);
    return err;
}

sentinel_err_t rt_claim_rejected(PGconn *pg, const sentinel_projector_t *p, rt_item_t *items,
                                 size_t count, char *errstr, size_t errstr_size) {
    keys_t k;
    keys_of(&k, p, items, count, proven_rejected);
    sentinel_err_t err = SENTINEL_OK;
    if (k.n) {
        err = with_keys(pg,
                        "INSERT INTO applied_events (projector, event_id, workspace_id) "
                        "SELECT $1, e, w FROM unnest($2::uuid[], $3::uuid[]) AS t(e, w) "
                        "ON CONFLICT DO NOTHING",
                        p, &k, NULL, errstr, errstr_size);
    }
    keys_free(&k);
    return err;
}

/* A known workspace: its deletion time (INT64_MAX when live) as the map's
 * value, owned by the map's user. */
static void mark_known_workspace(PGresult *res, int row, void *opaque) {
    int64_t deleted = PQgetisnull(res, row, 1) ? INT64_MAX : atoll(PQgetvalue(res, row, 1));
    int64_t *slot = sentinel_malloc(sizeof(*slot));
    *slot = deleted;
    sentinel_uuid_map_put(opaque, PQgetvalue(res, row, 0), slot);
}

sentinel_err_t rt_reject_unknown_workspaces(PGconn *pg, rt_item_t *items, size_t count,
                                            char *errstr, size_t errstr_size) {
    sentinel_uuid_map_t *seen = sentinel_uuid_map_new();
    const char **ids = sentinel_malloc((count + 1) * sizeof(*ids));
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        rt_item_t *it = &items[i];
        if (it->status != ITEM_NEW || sentinel_uuid_map_get(seen, it->m->ev.workspace_id)) continue;
        sentinel_uuid_map_put(seen, it->m->ev.workspace_id, (void *)1);
        ids[n++] = it->m->ev.workspace_id;
    }
    sentinel_uuid_map_t *known = sentinel_uuid_map_new();
    char *array = sentinel_array_of(ids, n);
    const char *params[1] = {array};
    sentinel_err_t err =
        n ? sentinel_db_select(pg,
                               "SELECT id, (extract(epoch FROM deleted_at) * 1000000)::bigint "
                               "FROM workspaces WHERE id = ANY($1::uuid[])",
                               1, params, mark_known_workspace, known, errstr, errstr_size)
          : SENTINEL_OK;
    free(array);
    for (size_t i = 0; !err && i < count; i++) {
        rt_item_t *it = &items[i];
        if (it->status != ITEM_NEW) continue;
        const sentinel_event_t *ev = &it->m->ev;
        const int64_t *deleted = sentinel_uuid_map_get(known, ev->workspace_id);
        char reason[160];
        if (!deleted) {
            snprintf(reason, sizeof(reason), "unknown workspace %s", ev->workspace_id);
        } else if (ev->occurred_at >= *deleted) {
            /* Deleted before the event: its earlier events stay welcome, so
             * a rebuild after the deletion equals the live projection. */
            char ts[SENTINEL_TIMESTAMP_MAX];
            sentinel_timestamp_format(*deleted, ts);
            snprintf(reason, sizeof(reason), "workspace %s was deleted at %s, before the event",
                     ev->workspace_id, ts);
        } else {
            continue;
        }
        free(it->reason);
        it->reason = sentinel_strdup(reason);
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

/* Dead letters: one INSERT of their columns as arrays, whatever their
 * number. A rejected event id stays in
 * applied_events: a redelivery of it is a duplicate whatever the batch
 * boundaries (re-applying is `sentinel dead-letters retry`'s job), so the
 * outcome never depends on how the log was cut into batches. */
static sentinel_err_t write_dead_letters(rt_projection_t *pj, rt_item_t *items, size_t count,
                                         char *errstr, size_t errstr_size) {
    sentinel_copy_t rows = {0};
    for (size_t i = 0; i < count; i++) {
        rt_item_t *it = &items[i];
        if (it->status != ITEM_REJECTED) continue;
        const rt_message_t *m = it->m;
        sentinel_copy_str(&rows, pj->p->name);
        sentinel_copy_str(&rows, pj->rt->topic);
        sentinel_copy_int(&rows, m->msg->partition);
        sentinel_copy_int(&rows, m->msg->offset);
        /* An event that decoded but broke a rule is found by its id. */
        sentinel_copy_str(&rows, m->ev.event_id[0] ? m->ev.event_id : NULL);
        sentinel_copy_str(&rows, m->ev.workspace_id[0] ? m->ev.workspace_id : NULL);
        sentinel_copy_str(&rows, m->ev.type ? m->ev.type->name : NULL);
        sentinel_copy_str(&rows, it->reason ? it->reason : "rejected");
        sentinel_copy_bytes(&rows, m->msg->payload, m->msg->len);
        sentinel_copy_end_row(&rows);
    }
    sentinel_err_t err = sentinel_copy_run(
        pj->pg, &rows,
        "INSERT INTO dead_letters (projector, topic, partition, kafka_offset, event_id, "
        "workspace_id, event_type, reason, payload) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::uuid[], "
        "$6::uuid[], $7::text[], $8::text[], $9::bytea[]) "
        "ON CONFLICT (projector, topic, partition, kafka_offset) DO NOTHING",
        NULL, errstr, errstr_size);
    sentinel_copy_free(&rows);
    return err;
}

sentinel_err_t rt_run_handler(const sentinel_projector_t *p, int prepare, PGconn *pg,
                              const char *topic, rt_item_t *items, size_t count, char *errstr,
                              size_t errstr_size) {
    sentinel_err_t (*fn)(sentinel_batch_t *, PGconn *, char *, size_t) =
        prepare ? p->prepare : p->apply;
    if (!fn) return SENTINEL_OK;
    enum rt_status wanted = prepare ? ITEM_PENDING : ITEM_NEW;
    sentinel_batch_t batch = {sentinel_calloc(count + 1, sizeof(rt_item_t *)), 0, topic};
    for (size_t i = 0; i < count; i++)
        if (items[i].status == wanted) batch.events[batch.n++] = &items[i];
    sentinel_err_t err = batch.n ? fn(&batch, pg, errstr, errstr_size) : SENTINEL_OK;
    free(batch.events);
    return err;
}

sentinel_err_t rt_apply_once(rt_projection_t *pj, rt_item_t *items, size_t count, int *fenced,
                             char *errstr, size_t errstr_size) {
    int moved_all;
    sentinel_err_t err = begin_batch(pj, &moved_all, errstr, errstr_size);
    if (err) goto rollback;
    if (!moved_all) {
        *fenced = 1;
        goto rollback;
    }
    if (count) {
        if ((err = rt_deduplicate(pj->pg, pj->p, items, count, errstr, errstr_size))) goto rollback;
        if ((err = rt_reject_unknown_workspaces(pj->pg, items, count, errstr, errstr_size)))
            goto rollback;
        if ((err = rt_run_handler(pj->p, 0, pj->pg, pj->rt->topic, items, count, errstr,
                                  errstr_size)))
            goto rollback;
        if ((err = rt_claim_rejected(pj->pg, pj->p, items, count, errstr, errstr_size)))
            goto rollback;
        if ((err = write_dead_letters(pj, items, count, errstr, errstr_size))) goto rollback;
    }
    return sentinel_db_exec(pj->pg, "COMMIT", errstr, errstr_size);

rollback:;
    char ignored[256];
    if (PQstatus(pj->pg) == CONNECTION_OK &&
        sentinel_db_exec(pj->pg, "ROLLBACK", ignored, sizeof(ignored))) {
        /* the server ends the transaction with the session */
    }
    return err;
}
