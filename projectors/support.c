/* support.c -- id sets, per-batch row state, partition creation. */
#include <jansson.h>

#include "base/alloc.h"
#include "base/timestamp.h"
#include "pg/array.h"
#include "pg/db.h"
#include "projectors/support.h"

void id_list_init(id_list_t *l) {
    memset(l, 0, sizeof(*l));
    l->seen = sentinel_uuid_map_new();
}

void id_list_add(id_list_t *l, const char *id) {
    if (!id || sentinel_uuid_map_add(l->seen, id, (void *)1)) return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        const char **grown = sentinel_realloc(l->ids, l->cap * sizeof(*grown));
        l->ids = grown;
    }
    l->ids[l->n++] = id;
}

void id_list_free(id_list_t *l) {
    free(l->ids);
    sentinel_uuid_map_destroy(l->seen);
    memset(l, 0, sizeof(*l));
}

row_state_t *state_new(state_pool_t *pool, const char *workspace_id, const char *status) {
    row_state_t *s = sentinel_calloc(1, sizeof(*s));
    s->deleted_at = INT64_MAX;
    /* Copies that cut as snprintf would: this runs for every new row. */
    size_t n = strnlen(workspace_id, sizeof(s->workspace_id) - 1);
    memcpy(s->workspace_id, workspace_id, n);
    if (status) {
        n = strnlen(status, sizeof(s->status) - 1);
        memcpy(s->status, status, n);
    }
    if (pool->n == pool->cap) {
        pool->cap = pool->cap ? pool->cap * 2 : 256;
        row_state_t **grown = sentinel_realloc(pool->rows, pool->cap * sizeof(*grown));
        pool->rows = grown;
    }
    pool->rows[pool->n++] = s;
    return s;
}

void state_pool_free(state_pool_t *pool) {
    for (size_t i = 0; i < pool->n; i++) {
        free(pool->rows[i]->extra);
        free(pool->rows[i]);
    }
    free(pool->rows);
    memset(pool, 0, sizeof(*pool));
}

typedef struct load_ctx {
    sentinel_uuid_map_t *map;
    state_pool_t *pool;
} load_ctx_t;

static void load_row(PGresult *res, int r, void *opaque) {
    load_ctx_t *ctx = opaque;
    int deleted = PQfnumber(res, "deleted_at");
    int made_by = PQfnumber(res, "event_id"), completed_by = PQfnumber(res, "completed_event_id");
    int status_col = PQnfields(res) > 2 && deleted != 2 && made_by != 2 ? 2 : -1;
    row_state_t *s = state_new(ctx->pool, PQgetvalue(res, r, 1),
                               status_col > 0 ? PQgetvalue(res, r, status_col) : NULL);
    if (deleted >= 0 && !PQgetisnull(res, r, deleted))
        s->deleted_at = atoll(PQgetvalue(res, r, deleted));
    if (made_by >= 0) snprintf(s->event_id, sizeof(s->event_id), "%s", PQgetvalue(res, r, made_by));
    if (completed_by >= 0)
        snprintf(s->completed_by, sizeof(s->completed_by), "%s", PQgetvalue(res, r, completed_by));
    sentinel_uuid_map_put(ctx->map, PQgetvalue(res, r, 0), s);
}

sentinel_err_t select_ids(PGconn *conn, const char *sql, const id_list_t *ids,
                          void (*row)(PGresult *res, int r, void *opaque), void *opaque,
                          char *errstr, size_t errstr_size) {
    const load_t load = {sql, ids, NULL, row, opaque};
    return load_all(conn, &load, 1, NULL, errstr, errstr_size);
}

sentinel_err_t load_states(PGconn *conn, const char *sql, id_list_t *ids, sentinel_uuid_map_t *map,
                           state_pool_t *pool, char *errstr, size_t errstr_size) {
    load_ctx_t ctx = {map, pool};
    return select_ids(conn, sql, ids, load_row, &ctx, errstr, errstr_size);
}

sentinel_err_t load_all(PGconn *conn, const load_t *loads, int n, state_pool_t *pool, char *errstr,
                        size_t errstr_size) {
    sentinel_statement_t *st = sentinel_calloc((size_t)n + 1, sizeof(*st));
    char **arrays = sentinel_calloc((size_t)n + 1, sizeof(*arrays));
    const char **params = sentinel_calloc((size_t)n + 1, sizeof(*params));
    int *lengths = sentinel_calloc((size_t)n + 1, sizeof(*lengths));
    int *formats = sentinel_calloc((size_t)n + 1, sizeof(*formats));
    const load_t **ran = sentinel_calloc((size_t)n + 1, sizeof(*ran));
    PGresult **res = sentinel_calloc((size_t)n + 1, sizeof(*res));
    int m = 0;
    for (int i = 0; i < n; i++) {
        const load_t *l = &loads[i];
        if (l->ids && !l->ids->n) continue;
        st[m].sql = l->sql;
        if (l->ids) {
            /* The ids in binary, so the server parses no text. */
            arrays[m] = sentinel_uuid_param(l->ids->ids, l->ids->n, &lengths[m], &formats[m]);
            params[m] = arrays[m];
            st[m].n_params = 1;
            st[m].params = &params[m];
            st[m].lengths = &lengths[m];
            st[m].formats = &formats[m];
        }
        ran[m++] = l;
    }
    sentinel_err_t err = m ? sentinel_db_pipeline(conn, m, st, res, errstr, errstr_size) : 0;
    for (int k = 0; k < m; k++) {
        load_ctx_t ctx = {ran[k]->map, pool};
        for (int r = 0; !err && r < PQntuples(res[k]); r++) {
            if (ran[k]->map)
                load_row(res[k], r, &ctx);
            else
                ran[k]->row(res[k], r, ran[k]->opaque);
        }
        PQclear(res[k]);
        free(arrays[k]);
    }
    free(res);
    free(ran);
    free(formats);
    free(lengths);
    free(params);
    free(arrays);
    free(st);
    return err;
}

const char repositories_sql[] =
    "SELECT id, workspace_id, (extract(epoch FROM deleted_at) * 1000000)::bigint "
    "AS deleted_at FROM repositories WHERE id = ANY($1::uuid[])";

sentinel_err_t load_repositories(PGconn *conn, id_list_t *ids, sentinel_uuid_map_t *map,
                                 state_pool_t *pool, char *errstr, size_t errstr_size) {
    return load_states(conn, repositories_sql, ids, map, pool, errstr, errstr_size);
}

sentinel_err_t load_users(PGconn *conn, id_list_t *ids, sentinel_uuid_map_t *map,
                          state_pool_t *pool, char *errstr, size_t errstr_size) {
    return load_states(conn,
                       "SELECT id, '', (extract(epoch FROM deleted_at) * 1000000)::bigint "
                       "AS deleted_at FROM users WHERE id = ANY($1::uuid[])",
                       ids, map, pool, errstr, errstr_size);
}

row_state_t *require_row(sentinel_batch_t *batch, size_t i, sentinel_uuid_map_t *map,
                         const char *what, const char *id) {
    const sentinel_event_t *ev = sentinel_batch_event(batch, i);
    row_state_t *s = sentinel_uuid_map_get(map, id);
    if (!s) {
        sentinel_batch_reject(batch, i, "%s %s does not exist", what, id);
        return NULL;
    }
    if (s->workspace_id[0] && strcmp(s->workspace_id, ev->workspace_id)) {
        sentinel_batch_reject(batch, i, "%s %s belongs to another workspace", what, id);
        return NULL;
    }
    if (ev->occurred_at >= s->deleted_at) {
        char ts[SENTINEL_TIMESTAMP_MAX];
        sentinel_timestamp_format(s->deleted_at, ts);
        sentinel_batch_reject(batch, i, "%s %s was deleted at %s, before the event", what, id, ts);
        return NULL;
    }
    return s;
}

int is_redelivery(sentinel_batch_t *batch, size_t i, const row_state_t *s, int completed) {
    const sentinel_event_t *ev = sentinel_batch_event(batch, i);
    if (!s || strcmp(completed ? s->completed_by : s->event_id, ev->event_id) ||
        strcmp(s->workspace_id, ev->workspace_id))
        return 0;
    sentinel_batch_duplicate(batch, i);
    return 1;
}

void copy_data_int(sentinel_copy_t *rows, const sentinel_event_t *ev, const char *name) {
    const json_t *v = DATA(ev, name);
    if (v)
        sentinel_copy_int(rows, json_integer_value(v));
    else
        sentinel_copy_null(rows);
}

void copy_data_double(sentinel_copy_t *rows, const sentinel_event_t *ev, const char *name) {
    const json_t *v = DATA(ev, name);
    if (v)
        sentinel_copy_double(rows, json_number_value(v));
    else
        sentinel_copy_null(rows);
}

void copy_data_bool(sentinel_copy_t *rows, const sentinel_event_t *ev, const char *name) {
    const json_t *v = DATA(ev, name);
    if (v)
        sentinel_copy_bool(rows, json_is_true(v));
    else
        sentinel_copy_null(rows);
}

int64_t data_time(const sentinel_event_t *ev, const char *name, int64_t fallback) {
    const char *s = json_string_value(DATA(ev, name));
    int64_t micros;
    char errstr[128];
    if (!s || sentinel_timestamp_parse(s, &micros, errstr, sizeof(errstr))) return fallback;
    return micros;
}

static int64_t month_of(int64_t micros) {
    int64_t days = micros / 86400000000LL - (micros % 86400000000LL < 0);
    int64_t y;
    unsigned m, d;
    sentinel_civil_from_days(days, &y, &m, &d);
    return sentinel_days_from_civil(y, m, 1);
}

/* The months of the batch's RunStarted and FindingRecorded, each once, are
 * checked (a catalog lookup where the partition exists) and made where
 * missing, in one statement before the batch's transaction. Nothing is
 * remembered between batches: a partition made once can be gone later (a
 * crash loses an asynchronous commit, an operator drops a month), and a
 * memory of it would turn every event of that month into a dead letter.
 * The partition commits with the batch, asynchronously like it: a crash
 * that loses the one loses the other and the offsets with them (a later
 * transaction that used the partition is later in the WAL, lost too), so
 * the batch is applied again and makes it again. */
sentinel_err_t ensure_partitions_for(sentinel_batch_t *batch, PGconn *conn, char *errstr,
                                     size_t errstr_size) {
    int64_t months[64];
    size_t n = 0;
    sentinel_array_t list = {0};
    for (size_t i = 0; i < sentinel_batch_count(batch); i++) {
        const sentinel_event_t *ev = sentinel_batch_event(batch, i);
        if (strcmp(ev->type->name, "RunStarted") && strcmp(ev->type->name, "FindingRecorded"))
            continue;
        int64_t month = month_of(ev->occurred_at);
        size_t k = 0;
        while (k < n && months[k] != month)
            k++;
        if (k < n) continue;
        /* Past 64 months a month may be listed twice: harmless. */
        if (n < sizeof(months) / sizeof(months[0])) months[n++] = month;
        char ts[SENTINEL_TIMESTAMP_MAX];
        sentinel_timestamp_format(month * 86400000000LL, ts);
        sentinel_array_add(&list, ts);
    }
    sentinel_err_t err = SENTINEL_OK;
    if (list.n) {
        const char *params[1] = {sentinel_array_text(&list)};
        err = sentinel_db_params(conn,
                                 "SELECT sentinel_ensure_partitions(m) "
                                 "FROM unnest($1::timestamptz[]) AS m",
                                 1, params, NULL, errstr, errstr_size);
    }
    sentinel_array_free(&list);
    return err;
}

typedef struct daily_row {
    char workspace_id[SENTINEL_UUID_LEN + 1];
    int64_t day; /* days since the epoch */
    long runs, findings, critical, warning;
    long long tokens;
} daily_row_t;

struct daily_metrics {
    json_t *index; /* "<workspace>/<day>" -> position in rows */
    daily_row_t *rows;
    size_t n, cap;
};

daily_metrics_t *daily_metrics_new(void) {
    daily_metrics_t *d = sentinel_calloc(1, sizeof(*d));
    d->index = json_object();
    return d;
}

void daily_metrics_destroy(daily_metrics_t *d) {
    if (!d) return;
    json_decref(d->index);
    free(d->rows);
    free(d);
}

int daily_metrics_add(daily_metrics_t *d, const char *workspace_id, int64_t at, long runs,
                      long findings, long critical, long warning, long long tokens) {
    int64_t day = at / 86400000000LL - (at % 86400000000LL < 0);
    char key[64];
    snprintf(key, sizeof(key), "%s/%lld", workspace_id, (long long)day);
    json_t *pos = json_object_get(d->index, key);
    daily_row_t *row;
    if (pos) {
        row = &d->rows[json_integer_value(pos)];
    } else {
        if (d->n == d->cap) {
            d->cap = d->cap ? d->cap * 2 : 64;
            daily_row_t *grown = sentinel_realloc(d->rows, d->cap * sizeof(*grown));
            d->rows = grown;
        }
        row = &d->rows[d->n];
        memset(row, 0, sizeof(*row));
        snprintf(row->workspace_id, sizeof(row->workspace_id), "%s", workspace_id);
        row->day = day;
        json_object_set_new(d->index, key, json_integer((json_int_t)d->n));
        d->n++;
    }
    long long sum;
    if (__builtin_add_overflow(row->tokens, tokens, &sum)) return -1;
    row->tokens = sum;
    row->runs += runs;
    row->findings += findings;
    row->critical += critical;
    row->warning += warning;
    return 0;
}

sentinel_err_t daily_metrics_write(daily_metrics_t *d, PGconn *conn, char *errstr,
                                   size_t errstr_size) {
    if (!d->n) return SENTINEL_OK;
    sentinel_copy_t rows = {0};
    for (size_t i = 0; i < d->n; i++) {
        daily_row_t *r = &d->rows[i];
        int64_t y;
        unsigned m, day;
        char date[16];
        sentinel_civil_from_days(r->day, &y, &m, &day);
        snprintf(date, sizeof(date), "%04lld-%02u-%02u", (long long)y, m, day);
        sentinel_copy_str(&rows, r->workspace_id);
        sentinel_copy_str(&rows, date);
        sentinel_copy_int(&rows, r->runs);
        sentinel_copy_int(&rows, r->findings);
        sentinel_copy_int(&rows, r->critical);
        sentinel_copy_int(&rows, r->warning);
        sentinel_copy_int(&rows, r->tokens);
        sentinel_copy_end_row(&rows);
    }
    sentinel_err_t err = sentinel_copy_run(
        conn, &rows,
        "INSERT INTO workspace_daily_metrics AS m (workspace_id, date, runs_count, findings_count, "
        "critical_count, warning_count, tokens_estimated) "
        "SELECT * FROM unnest($1::uuid[], $2::date[], $3::bigint[], $4::bigint[], $5::bigint[], "
        "$6::bigint[], $7::bigint[]) AS i(workspace_id, date, runs, findings, critical, warning, "
        "tokens) ORDER BY workspace_id, date "
        "ON CONFLICT (workspace_id, date) DO UPDATE SET "
        "runs_count = m.runs_count + EXCLUDED.runs_count, "
        "findings_count = m.findings_count + EXCLUDED.findings_count, "
        "critical_count = m.critical_count + EXCLUDED.critical_count, "
        "warning_count = m.warning_count + EXCLUDED.warning_count, "
        "tokens_estimated = m.tokens_estimated + EXCLUDED.tokens_estimated, updated_at = now()",
        NULL, errstr, errstr_size);
    sentinel_copy_free(&rows);
    return err;
}
