/* usage.c -- the `usage` projector: each UsageIncremented goes to the
 * auditable usage_ledger (once per event id, forever) and is added to the
 * workspace's usage_records row for its billing period, and `tokens` to the
 * day's workspace_daily_metrics -- all in the batch's transaction, summed
 * per key first so a hot workspace costs one upsert per batch. */
#include "base/alloc.h"
#include "projectors/billing_period.h"
#include "projectors/support.h"

static const char *const usage_types[] = {"UsageIncremented", NULL};
/* Its ledger row carries the event's id. */
static const char *const usage_proven[] = {"UsageIncremented", NULL};
static const char *const usage_tables[] = {"usage_ledger", "usage_records",
                                           "workspace_daily_metrics", NULL};

enum { M_RUNS, M_COMMANDS, M_BRIEFINGS, M_FINDINGS, M_ANNOTATIONS, M_TOKENS, METRICS };
static const char *const metric_names[METRICS] = {"runs",     "commands",    "briefings",
                                                  "findings", "annotations", "tokens"};

/* The subscriptions of the batch's workspaces, sorted by workspace (UUID
 * order is the order of their lower-case text), each workspace's in the
 * order sentinel_billing_period_in breaks ties by. */
typedef struct subscription_list {
    char (*workspace_ids)[SENTINEL_UUID_LEN + 1];
    sentinel_subscription_span_t *spans; /* ends_at: INT64_MAX when open */
    size_t n, cap;
} subscription_list_t;

static void load_subscription(PGresult *res, int r, void *opaque) {
    subscription_list_t *list = opaque;
    if (list->n == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 16;
        void *ids = sentinel_realloc(list->workspace_ids, list->cap * sizeof(*list->workspace_ids));
        void *spans = sentinel_realloc(list->spans, list->cap * sizeof(*list->spans));
        list->workspace_ids = ids;
        list->spans = spans;
    }
    snprintf(list->workspace_ids[list->n], sizeof(list->workspace_ids[0]), "%s",
             PQgetvalue(res, r, 0));
    list->spans[list->n].started_at = atoll(PQgetvalue(res, r, 1));
    list->spans[list->n].ends_at =
        PQgetisnull(res, r, 2) ? INT64_MAX : atoll(PQgetvalue(res, r, 2));
    list->n++;
}

typedef struct period_sum {
    char workspace_id[SENTINEL_UUID_LEN + 1];
    int64_t start, end;
    long long counts[METRICS];
} period_sum_t;

/* The billing period of `at` in workspace `ws`, from the subscription
 * history the control plane records for it: its run of the sorted list,
 * found by binary search. */
static void period_for(const subscription_list_t *subs, const char *ws, int64_t at, int64_t *start,
                       int64_t *end) {
    size_t lo = 0, hi = subs->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(subs->workspace_ids[mid], ws) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t n = 0;
    while (lo + n < subs->n && !strcmp(subs->workspace_ids[lo + n], ws))
        n++;
    sentinel_billing_period_in(n ? subs->spans + lo : NULL, n, at, start, end);
}

static int metric_of(const char *metric) {
    int m = 0;
    while (m < METRICS && strcmp(metric_names[m], metric))
        m++;
    return m;
}

/* A ledger row already there: event id -> its workspaces (owned,
 * comma-separated: the same id in two workspaces is two events). */
static void mark_present(PGresult *res, int r, void *opaque) {
    const char *was = sentinel_uuid_map_get(opaque, PQgetvalue(res, r, 0));
    char *ws = NULL;
    ws = sentinel_aprintf("%s%s%s", was ? was : "", was ? "," : "", PQgetvalue(res, r, 1));
    free((void *)was);
    sentinel_uuid_map_put(opaque, PQgetvalue(res, r, 0), ws);
}

static void free_present(sentinel_uuid_map_t *map) {
    size_t cursor = 0;
    const char *key;
    void *value;
    while (sentinel_uuid_map_next(map, &cursor, &key, &value))
        free(value);
    sentinel_uuid_map_destroy(map);
}

/* The ledger's columns a batch's COPY writes, in binary rows. */
static const sentinel_copy_column_t ledger_columns[] = {{"event_id", SENTINEL_COPY_UUID},
                                                        {"workspace_id", SENTINEL_COPY_UUID},
                                                        {"metric", SENTINEL_COPY_TEXT},
                                                        {"amount", SENTINEL_COPY_INT8},
                                                        {"subject_type", SENTINEL_COPY_TEXT},
                                                        {"subject_id", SENTINEL_COPY_UUID},
                                                        {"occurred_at", SENTINEL_COPY_TIMESTAMPTZ},
                                                        {"period_start", SENTINEL_COPY_TIMESTAMPTZ},
                                                        {"topic", SENTINEL_COPY_TEXT},
                                                        {"partition", SENTINEL_COPY_INT4},
                                                        {"kafka_offset", SENTINEL_COPY_INT8},
                                                        {NULL, 0}};

static sentinel_err_t usage_apply(sentinel_batch_t *batch, PGconn *conn, char *errstr,
                                  size_t errstr_size) {
    size_t n = sentinel_batch_count(batch);
    id_list_t workspaces;
    id_list_init(&workspaces);
    for (size_t i = 0; i < n; i++)
        id_list_add(&workspaces, sentinel_batch_event(batch, i)->workspace_id);

    period_sum_t *sums = NULL;
    size_t n_sums = 0, cap_sums = 0;
    sentinel_copy_t ledger = SENTINEL_COPY_BINARY(ledger_columns), records = {0};
    daily_metrics_t *daily = daily_metrics_new();
    sentinel_err_t err = SENTINEL_OK;

    subscription_list_t subs = {0};
    sentinel_uuid_map_t *present = sentinel_uuid_map_new();
    err = select_ids(conn,
                     "SELECT workspace_id, (extract(epoch FROM started_at) * 1000000)::bigint, "
                     "(extract(epoch FROM ends_at) * 1000000)::bigint FROM subscriptions "
                     "WHERE workspace_id = ANY($1::uuid[]) ORDER BY workspace_id, started_at, id",
                     &workspaces, load_subscription, &subs, errstr, errstr_size);
    if (err) goto out;

    /* The ledger rows already there: those events are redeliveries. The
     * others are new, and their rows go in by COPY with the batch (an
     * event the batch rejects gets none). Another consumer's row for the
     * same key, committed meanwhile, fails the COPY on the key, and the
     * batch is tried again. */
    sentinel_copy_t keys = {0};
    for (size_t i = 0; i < n; i++) {
        if (sentinel_batch_is_rejected(batch, i)) continue;
        const sentinel_event_t *ev = sentinel_batch_event(batch, i);
        sentinel_copy_str(&keys, ev->event_id);
        sentinel_copy_str(&keys, ev->workspace_id);
        sentinel_copy_end_row(&keys);
    }
    PGresult *res = NULL;
    err = sentinel_copy_run(conn, &keys,
                            "SELECT l.event_id, l.workspace_id FROM usage_ledger l "
                            "JOIN unnest($1::uuid[], $2::uuid[]) AS k(event_id, workspace_id) "
                            "ON l.workspace_id = k.workspace_id AND l.event_id = k.event_id",
                            &res, errstr, errstr_size);
    sentinel_copy_free(&keys);
    if (err) goto out;
    for (int r = 0; res && r < PQntuples(res); r++)
        mark_present(res, r, present);
    PQclear(res);

    /* The ledger rows and the sums of the new events. */
    const char *topic = sentinel_batch_topic(batch);
    for (size_t i = 0; i < n; i++) {
        const sentinel_event_t *ev = sentinel_batch_event(batch, i);
        if (sentinel_batch_is_rejected(batch, i)) continue;
        const char *ws = sentinel_uuid_map_get(present, ev->event_id);
        if (ws && strstr(ws, ev->workspace_id)) {
            sentinel_batch_duplicate(batch, i);
            continue;
        }
        const char *metric = sentinel_event_str(ev, "metric");
        int m = metric_of(metric);
        if (m == METRICS) {
            sentinel_batch_reject(batch, i, "unknown metric \"%s\"", metric);
            continue;
        }
        int64_t start, end;
        period_for(&subs, ev->workspace_id, ev->occurred_at, &start, &end);
        long long amount = (long long)sentinel_event_int(ev, "amount");
        period_sum_t *sum = NULL;
        for (size_t k = 0; k < n_sums && !sum; k++)
            if (sums[k].start == start && !strcmp(sums[k].workspace_id, ev->workspace_id))
                sum = &sums[k];
        if (!sum) {
            if (n_sums == cap_sums) {
                cap_sums = cap_sums ? cap_sums * 2 : 16;
                period_sum_t *grown = sentinel_realloc(sums, cap_sums * sizeof(*grown));
                sums = grown;
            }
            sum = &sums[n_sums++];
            memset(sum, 0, sizeof(*sum));
            snprintf(sum->workspace_id, sizeof(sum->workspace_id), "%s", ev->workspace_id);
            sum->start = start;
            sum->end = end;
        }
        /* Counters never wrap: an event that would is rejected, whatever
         * the amounts the decoder let through. */
        long long total;
        if (__builtin_add_overflow(sum->counts[m], amount, &total) ||
            (m == M_TOKENS &&
             daily_metrics_add(daily, ev->workspace_id, ev->occurred_at, 0, 0, 0, 0, amount))) {
            sentinel_batch_reject(batch, i,
                                  "amount %lld would overflow the %s counter of the "
                                  "billing period",
                                  amount, metric_names[m]);
            continue;
        }
        sum->counts[m] = total;
        int32_t partition;
        int64_t offset;
        sentinel_batch_position(batch, i, &partition, &offset);
        sentinel_copy_str(&ledger, ev->event_id);
        sentinel_copy_str(&ledger, ev->workspace_id);
        sentinel_copy_str(&ledger, metric);
        sentinel_copy_int(&ledger, amount);
        sentinel_copy_str(&ledger, sentinel_event_str(ev, "subject_type"));
        sentinel_copy_str(&ledger, sentinel_event_str(ev, "subject_id"));
        sentinel_copy_timestamp(&ledger, ev->occurred_at);
        sentinel_copy_timestamp(&ledger, start);
        sentinel_copy_str(&ledger, topic);
        sentinel_copy_int(&ledger, partition);
        sentinel_copy_int(&ledger, offset);
        sentinel_copy_end_row(&ledger);
    }
    if ((err = sentinel_copy_send_binary(conn, "usage_ledger", &ledger, errstr, errstr_size)))
        goto out;
    for (size_t k = 0; k < n_sums; k++) {
        sentinel_copy_str(&records, sums[k].workspace_id);
        sentinel_copy_timestamp(&records, sums[k].start);
        sentinel_copy_timestamp(&records, sums[k].end);
        for (int m = 0; m < METRICS; m++)
            sentinel_copy_int(&records, sums[k].counts[m]);
        sentinel_copy_end_row(&records);
    }

#define USAGE_INCREMENTS                                                                           \
    "unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::bigint[], $5::bigint[], "        \
    "$6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[]) AS i(workspace_id, period_start, "    \
    "period_end, runs, commands, briefings, findings, annotations, tokens)"
    /* A subscription that changed since a period was first written ends
     * that period where the new one starts: the periods of a workspace
     * never overlap. */
    if ((err = sentinel_copy_run(conn, &records,
                                 "UPDATE usage_records u SET period_end = i.period_start "
                                 "FROM " USAGE_INCREMENTS " "
                                 "WHERE u.workspace_id = i.workspace_id "
                                 "AND u.period_start < i.period_start "
                                 "AND u.period_end > i.period_start",
                                 NULL, errstr, errstr_size)))
        goto out;
    if ((err = sentinel_copy_run(
             conn, &records,
             "INSERT INTO usage_records AS u (workspace_id, period_start, period_end, runs_count, "
             "commands_count, briefings_count, findings_count, annotations_count, "
             "tokens_estimated) "
             "SELECT * FROM " USAGE_INCREMENTS " ORDER BY workspace_id, period_start "
             "ON CONFLICT (workspace_id, period_start) DO UPDATE SET "
             "period_end = EXCLUDED.period_end, "
             "runs_count = u.runs_count + EXCLUDED.runs_count, "
             "commands_count = u.commands_count + EXCLUDED.commands_count, "
             "briefings_count = u.briefings_count + EXCLUDED.briefings_count, "
             "findings_count = u.findings_count + EXCLUDED.findings_count, "
             "annotations_count = u.annotations_count + EXCLUDED.annotations_count, "
             "tokens_estimated = u.tokens_estimated + EXCLUDED.tokens_estimated",
             NULL, errstr, errstr_size)))
        goto out;
#undef USAGE_INCREMENTS
    err = daily_metrics_write(daily, conn, errstr, errstr_size);
out:
    free_present(present);
    daily_metrics_destroy(daily);
    sentinel_copy_free(&ledger);
    sentinel_copy_free(&records);
    free(sums);
    free(subs.workspace_ids);
    free(subs.spans);
    id_list_free(&workspaces);
    return err;
}

const sentinel_projector_t sentinel_projector_usage = {
    "usage",      "usage ledger, usage records per billing period, daily tokens",
    usage_types,  usage_tables,
    NULL,         usage_apply,
    usage_proven,
};
