/* activities.c -- the `activities` projector: ActivityLogged into the
 * append-only activities table. */
#include "projectors/support.h"

static const char *const activity_types[] = {"ActivityLogged", NULL};
static const char *const activity_tables[] = {"activities", NULL};
/* Its row carries the event's id. */
static const char *const activity_proven[] = {"ActivityLogged", NULL};

/* The columns a batch's COPY writes, in binary rows. */
static const sentinel_copy_column_t activity_columns[] = {{"id", SENTINEL_COPY_UUID},
                                                          {"workspace_id", SENTINEL_COPY_UUID},
                                                          {"user_id", SENTINEL_COPY_UUID},
                                                          {"type", SENTINEL_COPY_TEXT},
                                                          {"subject_type", SENTINEL_COPY_TEXT},
                                                          {"subject_id", SENTINEL_COPY_UUID},
                                                          {"description", SENTINEL_COPY_TEXT},
                                                          {"metadata", SENTINEL_COPY_JSONB},
                                                          {"event_id", SENTINEL_COPY_UUID},
                                                          {"created_at", SENTINEL_COPY_TIMESTAMPTZ},
                                                          {NULL, 0}};

static sentinel_err_t activities_apply(sentinel_batch_t *batch, PGconn *conn, char *errstr,
                                       size_t errstr_size) {
    size_t n = sentinel_batch_count(batch);
    id_list_t ids, users;
    id_list_init(&ids);
    id_list_init(&users);
    for (size_t i = 0; i < n; i++) {
        const sentinel_event_t *ev = sentinel_batch_event(batch, i);
        id_list_add(&ids, sentinel_event_str(ev, "activity_id"));
        id_list_add(&users, sentinel_event_str(ev, "user_id"));
    }
    sentinel_uuid_map_t *existing = sentinel_uuid_map_new(), *known_users = sentinel_uuid_map_new();
    state_pool_t pool = {0};
    sentinel_copy_t rows = SENTINEL_COPY_BINARY(activity_columns);
    sentinel_err_t err;
    if ((err = load_states(conn,
                           "SELECT id, workspace_id, event_id FROM activities "
                           "WHERE id = ANY($1::uuid[])",
                           &ids, existing, &pool, errstr, errstr_size)))
        goto out;
    if ((err = load_users(conn, &users, known_users, &pool, errstr, errstr_size))) goto out;
    for (size_t i = 0; i < n; i++) {
        const sentinel_event_t *ev = sentinel_batch_event(batch, i);
        const char *id = sentinel_event_str(ev, "activity_id");
        const char *user = sentinel_event_str(ev, "user_id");
        if (is_redelivery(batch, i, sentinel_uuid_map_get(existing, id), 0)) continue;
        if (user && !require_row(batch, i, known_users, "user", user)) continue;
        if (sentinel_uuid_map_get(existing, id)) {
            sentinel_batch_reject(batch, i, "activity %s already exists", id);
            continue;
        }
        row_state_t *made = state_new(&pool, ev->workspace_id, NULL);
        snprintf(made->event_id, sizeof(made->event_id), "%s", ev->event_id);
        sentinel_uuid_map_put(existing, id, made);
        sentinel_copy_str(&rows, id);
        sentinel_copy_str(&rows, ev->workspace_id);
        sentinel_copy_str(&rows, user);
        sentinel_copy_str(&rows, sentinel_event_str(ev, "type"));
        sentinel_copy_str(&rows, sentinel_event_str(ev, "subject_type"));
        sentinel_copy_str(&rows, sentinel_event_str(ev, "subject_id"));
        sentinel_copy_str(&rows, sentinel_event_str(ev, "description"));
        sentinel_copy_json(&rows, DATA(ev, "metadata"));
        sentinel_copy_str(&rows, ev->event_id);
        sentinel_copy_timestamp(&rows, ev->occurred_at);
        sentinel_copy_end_row(&rows);
    }
    err = sentinel_copy_send_binary(conn, "activities", &rows, errstr, errstr_size);
out:
    sentinel_copy_free(&rows);
    state_pool_free(&pool);
    sentinel_uuid_map_destroy(existing);
    sentinel_uuid_map_destroy(known_users);
    id_list_free(&ids);
    id_list_free(&users);
    return err;
}

const sentinel_projector_t sentinel_projector_activities = {
    "activities", "the activity log", activity_types,  activity_tables,
    NULL,         activities_apply,   activity_proven,
};
