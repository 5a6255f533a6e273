/* runs.c -- the `runs` projector: RunStarted, RunCompleted, FindingRecorded
 * and AnnotationPosted into runs, findings and annotations (and their key
 * tables). A run is immutable once completed; findings and annotations are
 * insert-only. The run and finding counts of workspace_daily_metrics are
 * kept here, in the same transaction as the rows they count, so a rejected
 * event never counts. */
#include <jansson.h>

#include "base/alloc.h"
#include "base/utf8.h"
#include "projectors/support.h"

static const char *const run_types[] = {"RunStarted", "RunCompleted", "FindingRecorded",
                                        "AnnotationPosted", NULL};
/* Each makes or completes a row that carries its id. */
static const char *const run_proven[] = {"RunStarted", "RunCompleted", "FindingRecorded",
                                         "AnnotationPosted", NULL};
static const char *const run_tables[] = {
    "run_keys", "runs", "finding_keys", "findings", "annotations", "workspace_daily_metrics", NULL};

/* The columns the batch's COPYs write, in binary rows. */
static const sentinel_copy_column_t run_key_columns[] = {{"id", SENTINEL_COPY_UUID},
                                                         {"workspace_id", SENTINEL_COPY_UUID},
                                                         {"created_at", SENTINEL_COPY_TIMESTAMPTZ},
                                                         {NULL, 0}};
static const sentinel_copy_column_t run_columns[] = {{"id", SENTINEL_COPY_UUID},
                                                     {"workspace_id", SENTINEL_COPY_UUID},
                                                     {"repository_id", SENTINEL_COPY_UUID},
                                                     {"external_reference", SENTINEL_COPY_TEXT},
                                                     {"started_at", SENTINEL_COPY_TIMESTAMPTZ},
                                                     {"policy_snapshot", SENTINEL_COPY_JSONB},
                                                     {"metadata", SENTINEL_COPY_JSONB},
                                                     {"event_id", SENTINEL_COPY_UUID},
                                                     {"created_at", SENTINEL_COPY_TIMESTAMPTZ},
                                                     {"status", SENTINEL_COPY_TEXT},
                                                     {"completed_at", SENTINEL_COPY_TIMESTAMPTZ},
                                                     {"metrics", SENTINEL_COPY_JSONB},
                                                     {"completed_event_id", SENTINEL_COPY_UUID},
                                                     {NULL, 0}};
static const sentinel_copy_column_t finding_key_columns[] = {
    {"id", SENTINEL_COPY_UUID},
    {"workspace_id", SENTINEL_COPY_UUID},
    {"run_id", SENTINEL_COPY_UUID},
    {"created_at", SENTINEL_COPY_TIMESTAMPTZ},
    {NULL, 0}};
static const sentinel_copy_column_t finding_columns[] = {{"id", SENTINEL_COPY_UUID},
                                                         {"run_id", SENTINEL_COPY_UUID},
                                                         {"finding_hash", SENTINEL_COPY_TEXT},
                                                         {"workspace_id", SENTINEL_COPY_UUID},
                                                         {"severity", SENTINEL_COPY_TEXT},
                                                         {"category", SENTINEL_COPY_TEXT},
                                                         {"title", SENTINEL_COPY_TEXT},
                                                         {"description", SENTINEL_COPY_TEXT},
                                                         {"file_path", SENTINEL_COPY_TEXT},
                                                         {"line_start", SENTINEL_COPY_INT4},
                                                         {"line_end", SENTINEL_COPY_INT4},
                                                         {"confidence", SENTINEL_COPY_FLOAT8},
                                                         {"metadata", SENTINEL_COPY_JSONB},
                                                         {"rule_id", SENTINEL_COPY_TEXT},
                                                         {"event_id", SENTINEL_COPY_UUID},
                                                         {"created_at", SENTINEL_COPY_TIMESTAMPTZ},
                                                         {NULL, 0}};
static const sentinel_copy_column_t annotation_columns[] = {
    {"id", SENTINEL_COPY_UUID},
    {"finding_id", SENTINEL_COPY_UUID},
    {"workspace_id", SENTINEL_COPY_UUID},
    {"provider_id", SENTINEL_COPY_UUID},
    {"external_id", SENTINEL_COPY_TEXT},
    {"type", SENTINEL_COPY_TEXT},
    {"event_id", SENTINEL_COPY_UUID},
    {"created_at", SENTINEL_COPY_TIMESTAMPTZ},
    {NULL, 0}};

static void load_provider(PGresult *res, int r, void *opaque) {
    json_object_set_new(opaque, PQgetvalue(res, r, 0), json_string(PQgetvalue(res, r, 1)));
}

static void set_event_id(PGresult *res, int r, void *opaque) {
    row_state_t *s = sentinel_uuid_map_get(opaque, PQgetvalue(res, r, 0));
    if (s) snprintf(s->event_id, sizeof(s->event_id), "%s", PQgetvalue(res, r, 1));
}

/* The events that made the findings found (redeliveries, mostly none): the
 * key table has no event id, so findings is read for those only. */
static sentinel_err_t load_finding_events(PGconn *conn, const id_list_t *ids,
                                          sentinel_uuid_map_t *findings, char *errstr,
                                          size_t errstr_size) {
    id_list_t found;
    id_list_init(&found);
    for (size_t i = 0; i < ids->n; i++)
        if (sentinel_uuid_map_get(findings, ids->ids[i])) id_list_add(&found, ids->ids[i]);
    sentinel_err_t err =
        select_ids(conn,
                   "SELECT k.id, f.event_id FROM finding_keys k JOIN findings f "
                   "ON f.id = k.id AND f.created_at = k.created_at WHERE k.id = ANY($1::uuid[])",
                   &found, set_event_id, findings, errstr, errstr_size);
    id_list_free(&found);
    return err;
}

/* A run started in this batch. Its row is written once the batch is
 * decided: already closed when its completion is in the batch too, so the
 * row is written once and never updated (no dead version, no guard
 * trigger), as a COPY of the final rows would write it. */
typedef struct new_run {
    const char *run;
    const sentinel_event_t *start, *completion;
    const row_state_t *state;
} new_run_t;

static void copy_run_row(sentinel_copy_t *rows, const new_run_t *r) {
    const sentinel_event_t *ev = r->start, *done = r->completion;
    sentinel_copy_str(rows, r->run);
    sentinel_copy_str(rows, ev->workspace_id);
    sentinel_copy_str(rows, sentinel_event_str(ev, "repository_id"));
    sentinel_copy_str(rows, sentinel_event_str(ev, "external_reference"));
    sentinel_copy_timestamp(rows, data_time(ev, "started_at", ev->occurred_at));
    sentinel_copy_json(rows, DATA(ev, "policy_snapshot"));
    sentinel_copy_json(rows, DATA(ev, "metadata"));
    sentinel_copy_str(rows, ev->event_id);
    sentinel_copy_timestamp(rows, ev->occurred_at);
    sentinel_copy_str(rows, r->state->status);
    if (done) {
        sentinel_copy_timestamp(rows, data_time(done, "completed_at", done->occurred_at));
        sentinel_copy_json(rows, DATA(done, "metrics"));
        sentinel_copy_str(rows, done->event_id);
    } else {
        sentinel_copy_null(rows);
        sentinel_copy_null(rows);
        sentinel_copy_null(rows);
    }
    sentinel_copy_end_row(rows);
}

static sentinel_err_t runs_apply(sentinel_batch_t *batch, PGconn *conn, char *errstr,
                                 size_t errstr_size) {
    size_t n = sentinel_batch_count(batch);
    id_list_t run_ids, repo_ids, finding_ids, annotation_ids;
    id_list_init(&run_ids);
    id_list_init(&repo_ids);
    id_list_init(&finding_ids);
    id_list_init(&annotation_ids);
    for (size_t i = 0; i < n; i++) {
        const sentinel_event_t *ev = sentinel_batch_event(batch, i);
        id_list_add(&run_ids, sentinel_event_str(ev, "run_id"));
        id_list_add(&repo_ids, sentinel_event_str(ev, "repository_id"));
        id_list_add(&finding_ids, sentinel_event_str(ev, "finding_id"));
        id_list_add(&annotation_ids, sentinel_event_str(ev, "annotation_id"));
    }
    sentinel_uuid_map_t *runs = sentinel_uuid_map_new(), *repos = sentinel_uuid_map_new(),
                        *findings = sentinel_uuid_map_new(), *annotations = sentinel_uuid_map_new();
    state_pool_t pool = {0};
    json_t *providers = json_object();
    sentinel_copy_t run_keys = SENTINEL_COPY_BINARY(run_key_columns),
                    run_rows = SENTINEL_COPY_BINARY(run_columns),
                    finding_keys = SENTINEL_COPY_BINARY(finding_key_columns),
                    finding_rows = SENTINEL_COPY_BINARY(finding_columns),
                    annotation_rows = SENTINEL_COPY_BINARY(annotation_columns), completions = {0};
    daily_metrics_t *daily = daily_metrics_new();
    sentinel_err_t err;

    /* Set-based reads: everything the batch refers to, one query each, all
     * in one round trip. */
    const load_t loads[] = {
        {"SELECT k.id, k.workspace_id, r.status, r.event_id, r.completed_event_id "
         "FROM run_keys k JOIN runs r ON r.id = k.id AND r.created_at = k.created_at "
         "WHERE k.id = ANY($1::uuid[])",
         &run_ids, runs, NULL, NULL},
        {repositories_sql, &repo_ids, repos, NULL, NULL},
        {"SELECT id, workspace_id FROM finding_keys WHERE id = ANY($1::uuid[])", &finding_ids,
         findings, NULL, NULL},
        {"SELECT id, workspace_id, event_id FROM annotations WHERE id = ANY($1::uuid[])",
         &annotation_ids, annotations, NULL, NULL},
        {"SELECT slug, id FROM providers", NULL, NULL, load_provider, providers},
    };
    if ((err = load_all(conn, loads, (int)(sizeof(loads) / sizeof(loads[0])), &pool, errstr,
                        errstr_size)))
        goto out;
    if ((err = load_finding_events(conn, &finding_ids, findings, errstr, errstr_size))) goto out;

    /* Decide each event in log order against that state. */
    for (size_t i = 0; i < n; i++) {
        const sentinel_event_t *ev = sentinel_batch_event(batch, i);
        const char *type = ev->type->name;
        if (!strcmp(type, "RunStarted")) {
            const char *run = sentinel_event_str(ev, "run_id");
            if (is_redelivery(batch, i, sentinel_uuid_map_get(runs, run), 0)) continue;
            if (!require_row(batch, i, repos, "repository",
                             sentinel_event_str(ev, "repository_id")))
                continue;
            if (sentinel_uuid_map_get(runs, run)) {
                sentinel_batch_reject(batch, i, "run %s already exists (started by another event)",
                                      run);
                continue;
            }
            row_state_t *s = state_new(&pool, ev->workspace_id, "running");
            s->is_new = 1;
            s->created_at = ev->occurred_at;
            snprintf(s->event_id, sizeof(s->event_id), "%s", ev->event_id);
            sentinel_uuid_map_put(runs, run, s);
            /* The daily rollup counts accepted runs only, in this transaction. */
            (void)daily_metrics_add(daily, ev->workspace_id, ev->occurred_at, 1, 0, 0, 0, 0);
            sentinel_copy_str(&run_keys, run);
            sentinel_copy_str(&run_keys, ev->workspace_id);
            sentinel_copy_timestamp(&run_keys, ev->occurred_at);
            sentinel_copy_end_row(&run_keys);
            new_run_t *fresh = sentinel_malloc(sizeof(*fresh)); /* the pool frees it */
            *fresh = (new_run_t){run, ev, NULL, s};
            s->extra = fresh;
        } else if (!strcmp(type, "RunCompleted")) {
            const char *run = sentinel_event_str(ev, "run_id");
            if (is_redelivery(batch, i, sentinel_uuid_map_get(runs, run), 1)) continue;
            row_state_t *s = require_row(batch, i, runs, "run", run);
            if (!s) continue;
            if (strcmp(s->status, "running")) {
                sentinel_batch_reject(batch, i,
                                      "run %s is already %s: a second completion is rejected", run,
                                      s->status);
                continue;
            }
            snprintf(s->status, sizeof(s->status), "%s", sentinel_event_str(ev, "status"));
            snprintf(s->completed_by, sizeof(s->completed_by), "%s", ev->event_id);
            if (s->is_new) { /* started in this batch: its row is written closed */
                ((new_run_t *)s->extra)->completion = ev;
                continue;
            }
            sentinel_copy_str(&completions, run);
            sentinel_copy_str(&completions, s->status);
            sentinel_copy_timestamp(&completions, data_time(ev, "completed_at", ev->occurred_at));
            sentinel_copy_json(&completions, DATA(ev, "metrics"));
            sentinel_copy_str(&completions, ev->event_id);
            sentinel_copy_end_row(&completions);
        } else if (!strcmp(type, "FindingRecorded")) {
            const char *run = sentinel_event_str(ev, "run_id");
            const char *finding = sentinel_event_str(ev, "finding_id");
            if (is_redelivery(batch, i, sentinel_uuid_map_get(findings, finding), 0)) continue;
            row_state_t *s = require_row(batch, i, runs, "run", run);
            if (!s) continue;
            if (strcmp(s->status, "running")) {
                sentinel_batch_reject(batch, i,
                                      "run %s is %s: a finding for a completed run is rejected",
                                      run, s->status);
                continue;
            }
            if (sentinel_uuid_map_get(findings, finding)) {
                sentinel_batch_reject(batch, i, "finding %s already exists", finding);
                continue;
            }
            row_state_t *made = state_new(&pool, ev->workspace_id, NULL);
            snprintf(made->event_id, sizeof(made->event_id), "%s", ev->event_id);
            sentinel_uuid_map_put(findings, finding, made);
            const char *severity = sentinel_event_str(ev, "severity");
            (void)daily_metrics_add(daily, ev->workspace_id, ev->occurred_at, 0, 1,
                                    !strcmp(severity, "critical"), !strcmp(severity, "warning"), 0);
            sentinel_copy_str(&finding_keys, finding);
            sentinel_copy_str(&finding_keys, ev->workspace_id);
            sentinel_copy_str(&finding_keys, run);
            sentinel_copy_timestamp(&finding_keys, ev->occurred_at);
            sentinel_copy_end_row(&finding_keys);
            sentinel_copy_str(&finding_rows, finding);
            sentinel_copy_str(&finding_rows, run);
            sentinel_copy_str(&finding_rows, sentinel_event_str(ev, "finding_hash"));
            sentinel_copy_str(&finding_rows, ev->workspace_id);
            sentinel_copy_str(&finding_rows, sentinel_event_str(ev, "severity"));
            sentinel_copy_str(&finding_rows, sentinel_event_str(ev, "category"));
            sentinel_copy_str(&finding_rows, sentinel_event_str(ev, "title"));
            sentinel_copy_str(&finding_rows, sentinel_event_str(ev, "description"));
            sentinel_copy_str(&finding_rows, sentinel_event_str(ev, "file_path"));
            copy_data_int(&finding_rows, ev, "line_start");
            copy_data_int(&finding_rows, ev, "line_end");
            copy_data_double(&finding_rows, ev, "confidence");
            sentinel_copy_json(&finding_rows, DATA(ev, "metadata"));
            sentinel_copy_str(&finding_rows, sentinel_event_str(ev, "rule_id"));
            sentinel_copy_str(&finding_rows, ev->event_id);
            sentinel_copy_timestamp(&finding_rows, ev->occurred_at);
            sentinel_copy_end_row(&finding_rows);
        } else if (!strcmp(type, "AnnotationPosted")) {
            const char *annotation = sentinel_event_str(ev, "annotation_id");
            const char *slug = sentinel_event_str(ev, "provider");
            if (is_redelivery(batch, i, sentinel_uuid_map_get(annotations, annotation), 0))
                continue;
            if (!require_row(batch, i, findings, "finding", sentinel_event_str(ev, "finding_id")))
                continue;
            const char *provider = json_string_value(json_object_get(providers, slug));
            if (!provider) {
                char shown[204];
                sentinel_batch_reject(batch, i, "unknown provider slug \"%s\"",
                                      sentinel_utf8_shorten(slug, 200, shown));
                continue;
            }
            if (sentinel_uuid_map_get(annotations, annotation)) {
                sentinel_batch_reject(batch, i, "annotation %s already exists", annotation);
                continue;
            }
            row_state_t *made = state_new(&pool, ev->workspace_id, NULL);
            snprintf(made->event_id, sizeof(made->event_id), "%s", ev->event_id);
            sentinel_uuid_map_put(annotations, annotation, made);
            sentinel_copy_str(&annotation_rows, annotation);
            sentinel_copy_str(&annotation_rows, sentinel_event_str(ev, "finding_id"));
            sentinel_copy_str(&annotation_rows, ev->workspace_id);
            sentinel_copy_str(&annotation_rows, provider);
            sentinel_copy_str(&annotation_rows, sentinel_event_str(ev, "external_id"));
            sentinel_copy_str(&annotation_rows, sentinel_event_str(ev, "type"));
            sentinel_copy_str(&annotation_rows, ev->event_id);
            sentinel_copy_timestamp(&annotation_rows, ev->occurred_at);
            sentinel_copy_end_row(&annotation_rows);
        }
    }

    /* Set-based writes, parents first. */
    for (size_t k = 0; k < pool.n; k++) /* in the order they started */
        if (pool.rows[k]->is_new) copy_run_row(&run_rows, pool.rows[k]->extra);
    if ((err = sentinel_copy_send_binary(conn, "run_keys", &run_keys, errstr, errstr_size)))
        goto out;
    if ((err = sentinel_copy_send_binary(conn, "runs", &run_rows, errstr, errstr_size))) goto out;
    if ((err = sentinel_copy_run(conn, &completions,
                                 "UPDATE runs r SET status = c.status, "
                                 "completed_at = c.completed_at, metrics = c.metrics, "
                                 "completed_event_id = c.event_id "
                                 "FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], "
                                 "$4::jsonb[], $5::uuid[]) "
                                 "AS c(id, status, completed_at, metrics, event_id) "
                                 "JOIN run_keys k ON k.id = c.id "
                                 "WHERE r.id = c.id AND r.created_at = k.created_at",
                                 NULL, errstr, errstr_size)))
        goto out;
    if ((err = sentinel_copy_send_binary(conn, "finding_keys", &finding_keys, errstr, errstr_size)))
        goto out;
    if ((err = sentinel_copy_send_binary(conn, "findings", &finding_rows, errstr, errstr_size)))
        goto out;
    if ((err =
             sentinel_copy_send_binary(conn, "annotations", &annotation_rows, errstr, errstr_size)))
        goto out;
    err = daily_metrics_write(daily, conn, errstr, errstr_size);
out:
    daily_metrics_destroy(daily);
    sentinel_copy_free(&run_keys);
    sentinel_copy_free(&run_rows);
    sentinel_copy_free(&completions);
    sentinel_copy_free(&finding_keys);
    sentinel_copy_free(&finding_rows);
    sentinel_copy_free(&annotation_rows);
    json_decref(providers);
    state_pool_free(&pool);
    sentinel_uuid_map_destroy(runs);
    sentinel_uuid_map_destroy(repos);
    sentinel_uuid_map_destroy(findings);
    sentinel_uuid_map_destroy(annotations);
    id_list_free(&run_ids);
    id_list_free(&repo_ids);
    id_list_free(&finding_ids);
    id_list_free(&annotation_ids);
    return err;
}

const sentinel_projector_t sentinel_projector_runs = {
    "runs",
    "runs, findings and annotations",
    run_types,
    run_tables,
    ensure_partitions_for,
    runs_apply,
    run_proven,
};
