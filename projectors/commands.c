/* commands.c -- the `commands` projector: CommandRunStarted and
 * CommandRunCompleted into command_runs. */
#include <jansson.h>

#include "base/alloc.h"
#include "base/utf8.h"
#include "projectors/support.h"

enum { SHOWN_MAX = 200 }; /* bytes of a tenant's value quoted in a reason */

static const char *const command_types[] = {"CommandRunStarted", "CommandRunCompleted", NULL};
static const char *const command_tables[] = {"command_runs", NULL};
/* Each makes or completes a row that carries its id. */
static const char *const command_proven[] = {"CommandRunStarted", "CommandRunCompleted", NULL};

/* "<workspace>/<external_reference>", whole however long. New string. */
static char *reference_key(const char *workspace_id, const char *reference) {
    char *key = NULL;
    key = sentinel_aprintf("%s/%s", workspace_id, reference);
    return key;
}

/* (workspace, external_reference) already taken -> the command run's id. */
static void load_reference(PGresult *res, int r, void *opaque) {
    char *key = reference_key(PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
    json_object_set_new(opaque, key, json_string(PQgetvalue(res, r, 2)));
    free(key);
}

/* A command run started in this batch: written once the batch is decided,
 * closed already when its completion is in the batch too (one row, no
 * update). */
typedef struct new_command {
    const char *id;
    const sentinel_event_t *start, *completion;
    const row_state_t *state;
} new_command_t;

/* The columns of the rows copy_command_row writes, in binary rows. */
static const sentinel_copy_column_t command_columns[] = {
    {"id", SENTINEL_COPY_UUID},
    {"workspace_id", SENTINEL_COPY_UUID},
    {"repository_id", SENTINEL_COPY_UUID},
    {"external_reference", SENTINEL_COPY_TEXT},
    {"github_comment_id", SENTINEL_COPY_INT8},
    {"issue_number", SENTINEL_COPY_INT4},
    {"is_pull_request", SENTINEL_COPY_BOOL},
    {"command_type", SENTINEL_COPY_TEXT},
    {"query", SENTINEL_COPY_TEXT},
    {"started_at", SENTINEL_COPY_TIMESTAMPTZ},
    {"context_snapshot", SENTINEL_COPY_JSONB},
    {"metadata", SENTINEL_COPY_JSONB},
    {"event_id", SENTINEL_COPY_UUID},
    {"created_at", SENTINEL_COPY_TIMESTAMPTZ},
    {"status", SENTINEL_COPY_TEXT},
    {"completed_at", SENTINEL_COPY_TIMESTAMPTZ},
    {"duration_seconds", SENTINEL_COPY_FLOAT8},
    {"response", SENTINEL_COPY_JSONB},
    {"metrics", SENTINEL_COPY_JSONB},
    {"completed_event_id", SENTINEL_COPY_UUID},
    {NULL, 0}};

static void copy_command_row(sentinel_copy_t *rows, const new_command_t *c) {
    const sentinel_event_t *ev = c->start, *done = c->completion;
    sentinel_copy_str(rows, c->id);
    sentinel_copy_str(rows, ev->workspace_id);
    sentinel_copy_str(rows, sentinel_event_str(ev, "repository_id"));
    sentinel_copy_str(rows, sentinel_event_str(ev, "external_reference"));
    copy_data_int(rows, ev, "github_comment_id");
    copy_data_int(rows, ev, "issue_number");
    copy_data_bool(rows, ev, "is_pull_request");
    sentinel_copy_str(rows, sentinel_event_str(ev, "command_type"));
    sentinel_copy_str(rows, sentinel_event_str(ev, "query"));
    sentinel_copy_timestamp(rows, data_time(ev, "started_at", ev->occurred_at));
    sentinel_copy_json(rows, DATA(ev, "context_snapshot"));
    sentinel_copy_json(rows, DATA(ev, "metadata"));
    sentinel_copy_str(rows, ev->event_id);
    sentinel_copy_timestamp(rows, ev->occurred_at);
    sentinel_copy_str(rows, c->state->status);
    if (done) {
        sentinel_copy_timestamp(rows, data_time(done, "completed_at", done->occurred_at));
        copy_data_double(rows, done, "duration_seconds");
        sentinel_copy_json(rows, DATA(done, "response"));
        sentinel_copy_json(rows, DATA(done, "metrics"));
        sentinel_copy_str(rows, done->event_id);
    } else {
        for (int k = 0; k < 5; k++)
            sentinel_copy_null(rows);
    }
    sentinel_copy_end_row(rows);
}

static sentinel_err_t commands_apply(sentinel_batch_t *batch, PGconn *conn, char *errstr,
                                     size_t errstr_size) {
    size_t n = sentinel_batch_count(batch);
    id_list_t ids, repo_ids, workspaces;
    id_list_init(&ids);
    id_list_init(&repo_ids);
    id_list_init(&workspaces);
    for (size_t i = 0; i < n; i++) {
        const sentinel_event_t *ev = sentinel_batch_event(batch, i);
        id_list_add(&ids, sentinel_event_str(ev, "command_run_id"));
        id_list_add(&repo_ids, sentinel_event_str(ev, "repository_id"));
        if (!strcmp(ev->type->name, "CommandRunStarted"))
            id_list_add(&workspaces, ev->workspace_id);
    }
    sentinel_uuid_map_t *commands = sentinel_uuid_map_new(), *repos = sentinel_uuid_map_new();
    state_pool_t pool = {0};
    json_t *references = json_object();
    sentinel_copy_t started = SENTINEL_COPY_BINARY(command_columns), completed = {0};
    sentinel_err_t err;
    if ((err = load_states(conn,
                           "SELECT id, workspace_id, status, event_id, completed_event_id "
                           "FROM command_runs WHERE id = ANY($1::uuid[])",
                           &ids, commands, &pool, errstr, errstr_size)))
        goto out;
    if ((err = load_repositories(conn, &repo_ids, repos, &pool, errstr, errstr_size))) goto out;
    /* External references in use by the batch's workspaces: only those the
     * batch mentions matter, but one indexed read per workspace set is cheap. */
    {
        sentinel_array_t refs = {0}, ws = {0};
        for (size_t i = 0; i < n; i++) {
            const sentinel_event_t *ev = sentinel_batch_event(batch, i);
            const char *ref = sentinel_event_str(ev, "external_reference");
            if (!strcmp(ev->type->name, "CommandRunStarted") && ref) sentinel_array_add(&refs, ref);
        }
        for (size_t k = 0; k < workspaces.n; k++)
            sentinel_array_add(&ws, workspaces.ids[k]);
        const char *params[2] = {sentinel_array_text(&ws), sentinel_array_text(&refs)};
        /* No references in the batch: nothing to look up. */
        if (refs.n)
            err =
                sentinel_db_select(conn,
                                   "SELECT workspace_id, external_reference, id FROM command_runs "
                                   "WHERE workspace_id = ANY($1::uuid[]) AND external_reference = "
                                   "ANY($2::text[])",
                                   2, params, load_reference, references, errstr, errstr_size);
        sentinel_array_free(&ws);
        sentinel_array_free(&refs);
        if (err) goto out;
    }

    for (size_t i = 0; i < n; i++) {
        const sentinel_event_t *ev = sentinel_batch_event(batch, i);
        const char *id = sentinel_event_str(ev, "command_run_id");
        int starts = !strcmp(ev->type->name, "CommandRunStarted");
        if (is_redelivery(batch, i, sentinel_uuid_map_get(commands, id), !starts)) continue;
        if (starts) {
            if (!require_row(batch, i, repos, "repository",
                             sentinel_event_str(ev, "repository_id")))
                continue;
            if (sentinel_uuid_map_get(commands, id)) {
                sentinel_batch_reject(batch, i, "command run %s already exists", id);
                continue;
            }
            char *key =
                reference_key(ev->workspace_id, sentinel_event_str(ev, "external_reference"));
            const char *taken = json_string_value(json_object_get(references, key));
            if (taken) {
                char shown[SHOWN_MAX + 4];
                sentinel_batch_reject(
                    batch, i, "external_reference \"%s\" is already used by command run %s",
                    sentinel_utf8_shorten(sentinel_event_str(ev, "external_reference"), SHOWN_MAX,
                                          shown),
                    taken);
                free(key);
                continue;
            }
            json_object_set_new(references, key, json_string(id));
            free(key);
            row_state_t *made = state_new(&pool, ev->workspace_id, "running");
            snprintf(made->event_id, sizeof(made->event_id), "%s", ev->event_id);
            sentinel_uuid_map_put(commands, id, made);
            made->is_new = 1;
            new_command_t *fresh = sentinel_malloc(sizeof(*fresh)); /* the pool frees it */
            *fresh = (new_command_t){id, ev, NULL, made};
            made->extra = fresh;
        } else {
            row_state_t *s = require_row(batch, i, commands, "command run", id);
            if (!s) continue;
            if (strcmp(s->status, "running")) {
                sentinel_batch_reject(
                    batch, i, "command run %s is already %s: a second completion is rejected", id,
                    s->status);
                continue;
            }
            snprintf(s->status, sizeof(s->status), "%s", sentinel_event_str(ev, "status"));
            snprintf(s->completed_by, sizeof(s->completed_by), "%s", ev->event_id);
            if (s->is_new) { /* started in this batch: its row is written closed */
                ((new_command_t *)s->extra)->completion = ev;
                continue;
            }
            sentinel_copy_str(&completed, id);
            sentinel_copy_str(&completed, s->status);
            sentinel_copy_timestamp(&completed, data_time(ev, "completed_at", ev->occurred_at));
            copy_data_double(&completed, ev, "duration_seconds");
            sentinel_copy_json(&completed, DATA(ev, "response"));
            sentinel_copy_json(&completed, DATA(ev, "metrics"));
            sentinel_copy_str(&completed, ev->event_id);
            sentinel_copy_end_row(&completed);
        }
    }

    for (size_t k = 0; k < pool.n; k++) /* in the order they started */
        if (pool.rows[k]->is_new) copy_command_row(&started, pool.rows[k]->extra);
    if ((err = sentinel_copy_send_binary(conn, "command_runs", &started, errstr, errstr_size)))
        goto out;
    err = sentinel_copy_run(conn, &completed,
                            "UPDATE command_runs r SET status = c.status, "
                            "completed_at = c.completed_at, duration_seconds = c.duration_seconds, "
                            "response = c.response, metrics = c.metrics, "
                            "completed_event_id = c.event_id "
                            "FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::float8[], "
                            "$5::jsonb[], $6::jsonb[], $7::uuid[]) "
                            "AS c(id, status, completed_at, duration_seconds, response, metrics, "
                            "event_id) WHERE r.id = c.id",
                            NULL, errstr, errstr_size);
out:
    sentinel_copy_free(&started);
    sentinel_copy_free(&completed);
    json_decref(references);
    state_pool_free(&pool);
    sentinel_uuid_map_destroy(commands);
    sentinel_uuid_map_destroy(repos);
    id_list_free(&ids);
    id_list_free(&repo_ids);
    id_list_free(&workspaces);
    return err;
}

const sentinel_projector_t sentinel_projector_commands = {
    "commands", "command runs", command_types, command_tables, NULL, commands_apply, command_proven,
};
