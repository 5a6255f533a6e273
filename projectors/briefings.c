/* briefings.c -- the `briefings` projector: a generation's life cycle
 * (pending -> processing -> completed | failed; the last two final) into
 * briefing_generations, and BriefingDownloaded into briefing_downloads.
 * A late BriefingProgressed after a final state is ignored and counted
 * (briefing_generations.ignored_events), not an error. */
#include <jansson.h>

#include "base/alloc.h"
#include "base/timestamp.h"
#include "projectors/support.h"

static const char *const briefing_types[] = {"BriefingRequested",  "BriefingProgressed",
                                             "BriefingGenerated",  "BriefingFailed",
                                             "BriefingDownloaded", NULL};
static const char *const briefing_tables[] = {"briefing_generations", "briefing_downloads", NULL};

/* The full updatable row of a generation, as text for COPY. */
enum gen_field {
    G_STATUS,
    G_PROGRESS,
    G_PROGRESS_MESSAGE,
    G_STARTED_AT,
    G_COMPLETED_AT,
    G_NARRATIVE,
    G_STRUCTURED_DATA,
    G_ACHIEVEMENTS,
    G_EXCERPTS,
    G_OUTPUT_PATHS,
    G_METADATA,
    G_ERROR_MESSAGE,
    G_LAST_EVENT_ID,
    G_IGNORED_EVENTS,
    G_FIELDS
};

/* The generation's fields, in the order above, as the COPY of new rows and
 * the UPDATE of changed ones name them. */
#define GEN_COLUMNS                                                                                \
    "status, progress, progress_message, started_at, completed_at, narrative, structured_data, "   \
    "achievements, excerpts, output_paths, metadata, error_message, last_event_id, "               \
    "ignored_events"

static const char insert_sql[] =
    "COPY briefing_generations (id, " GEN_COLUMNS ", workspace_id, briefing_id, generated_by_id, "
    "parameters, expires_at, event_id, created_at) FROM STDIN";
static const char update_sql[] =
    "UPDATE briefing_generations g SET status = c.status, progress = c.progress, progress_message "
    "= c.progress_message, started_at = c.started_at, completed_at = c.completed_at, narrative = "
    "c.narrative, structured_data = c.structured_data, achievements = c.achievements, excerpts = "
    "c.excerpts, output_paths = c.output_paths, metadata = c.metadata, error_message = "
    "c.error_message, last_event_id = c.last_event_id, ignored_events = c.ignored_events FROM "
    "unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::timestamptz[], $6::timestamptz[], "
    "$7::text[], $8::jsonb[], $9::jsonb[], $10::jsonb[], $11::jsonb[], $12::jsonb[], $13::text[], "
    "$14::uuid[], $15::int[]) AS c(id, " GEN_COLUMNS ") WHERE g.id = c.id";

typedef struct generation {
    char *f[G_FIELDS]; /* owned text, NULL for SQL NULL */
    int dirty;
    /* set only for generations requested in this batch */
    const sentinel_event_t *requested;
} generation_t;

static void set_text(generation_t *g, enum gen_field k, const char *v) {
    free(g->f[k]);
    g->f[k] = v ? sentinel_strdup(v) : NULL;
}

static void set_json(generation_t *g, enum gen_field k, const json_t *v) {
    free(g->f[k]);
    g->f[k] = !v                  ? NULL
              : json_is_string(v) ? sentinel_strdup(json_string_value(v)) /* JSON text as decoded */
                                  : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static void set_time(generation_t *g, enum gen_field k, int64_t micros) {
    char ts[SENTINEL_TIMESTAMP_MAX];
    sentinel_timestamp_format(micros, ts);
    set_text(g, k, ts);
}

static void set_int(generation_t *g, enum gen_field k, long long v) {
    char num[32];
    snprintf(num, sizeof(num), "%lld", v);
    set_text(g, k, num);
}

typedef struct gen_ctx {
    sentinel_uuid_map_t *map;
    state_pool_t *pool;
} gen_ctx_t;

static void load_generation(PGresult *res, int r, void *opaque) {
    gen_ctx_t *ctx = opaque;
    row_state_t *s = state_new(ctx->pool, PQgetvalue(res, r, 1), PQgetvalue(res, r, 2));
    generation_t *g = sentinel_calloc(1, sizeof(*g));
    for (int k = 0; k < G_FIELDS; k++)
        g->f[k] = PQgetisnull(res, r, 2 + k) ? NULL : sentinel_strdup(PQgetvalue(res, r, 2 + k));
    s->extra = g;
    sentinel_uuid_map_put(ctx->map, PQgetvalue(res, r, 0), s);
}

static void copy_generation(sentinel_copy_t *c, const char *id, const generation_t *g) {
    sentinel_copy_str(c, id);
    for (int k = 0; k < G_FIELDS; k++)
        sentinel_copy_str(c, g->f[k]);
}

static int is_final(const row_state_t *s) {
    return !strcmp(s->status, "completed") || !strcmp(s->status, "failed");
}

static sentinel_err_t briefings_apply(sentinel_batch_t *batch, PGconn *conn, char *errstr,
                                      size_t errstr_size) {
    size_t n = sentinel_batch_count(batch);
    id_list_t gen_ids, templates, users, downloads;
    id_list_init(&gen_ids);
    id_list_init(&templates);
    id_list_init(&users);
    id_list_init(&downloads);
    for (size_t i = 0; i < n; i++) {
        const sentinel_event_t *ev = sentinel_batch_event(batch, i);
        id_list_add(&gen_ids, sentinel_event_str(ev, "generation_id"));
        id_list_add(&templates, sentinel_event_str(ev, "briefing_id"));
        id_list_add(&users, sentinel_event_str(ev, "generated_by_id"));
        id_list_add(&users, sentinel_event_str(ev, "user_id"));
        id_list_add(&downloads, sentinel_event_str(ev, "download_id"));
    }
    sentinel_uuid_map_t *gens = sentinel_uuid_map_new(), *tmpl = sentinel_uuid_map_new(),
                        *known_users = sentinel_uuid_map_new(), *dls = sentinel_uuid_map_new();
    state_pool_t pool = {0};
    sentinel_copy_t inserts = {0}, updates = {0}, download_rows = {0};
    sentinel_err_t err;
    gen_ctx_t ctx = {gens, &pool};
    if ((err = select_ids(
             conn,
             "SELECT id, workspace_id, status, progress, progress_message, started_at, "
             "completed_at, "
             "narrative, structured_data, achievements, excerpts, output_paths, metadata, "
             "error_message, last_event_id, ignored_events FROM briefing_generations "
             "WHERE id = ANY($1::uuid[])",
             &gen_ids, load_generation, &ctx, errstr, errstr_size)))
        goto out;
    /* System templates have no workspace: '' skips the workspace check. */
    if ((err = load_states(conn,
                           "SELECT id, coalesce(workspace_id::text, ''), "
                           "CASE WHEN is_active THEN 'active' ELSE 'inactive' END "
                           "FROM briefings WHERE id = ANY($1::uuid[])",
                           &templates, tmpl, &pool, errstr, errstr_size)))
        goto out;
    if ((err = load_users(conn, &users, known_users, &pool, errstr, errstr_size))) goto out;
    if ((err = load_states(
             conn, "SELECT id, workspace_id FROM briefing_downloads WHERE id = ANY($1::uuid[])",
             &downloads, dls, &pool, errstr, errstr_size)))
        goto out;

    for (size_t i = 0; i < n; i++) {
        const sentinel_event_t *ev = sentinel_batch_event(batch, i);
        const char *type = ev->type->name;
        const char *gid = sentinel_event_str(ev, "generation_id");
        if (!strcmp(type, "BriefingRequested")) {
            row_state_t *t =
                require_row(batch, i, tmpl, "briefing", sentinel_event_str(ev, "briefing_id"));
            if (!t) continue;
            if (strcmp(t->status, "active")) {
                sentinel_batch_reject(batch, i, "briefing %s is not active",
                                      sentinel_event_str(ev, "briefing_id"));
                continue;
            }
            const char *by = sentinel_event_str(ev, "generated_by_id");
            if (by && !require_row(batch, i, known_users, "user", by)) continue;
            if (sentinel_uuid_map_get(gens, gid)) {
                sentinel_batch_reject(batch, i, "generation %s already exists", gid);
                continue;
            }
            row_state_t *s = state_new(&pool, ev->workspace_id, "pending");
            generation_t *g = sentinel_calloc(1, sizeof(*g));
            s->extra = g;
            s->is_new = 1;
            g->requested = ev;
            set_text(g, G_STATUS, "pending");
            set_text(g, G_PROGRESS, "0");
            set_text(g, G_LAST_EVENT_ID, ev->event_id);
            set_text(g, G_IGNORED_EVENTS, "0");
            sentinel_uuid_map_put(gens, gid, s);
            continue;
        }
        if (!strcmp(type, "BriefingDownloaded")) {
            const char *did = sentinel_event_str(ev, "download_id");
            const char *user = sentinel_event_str(ev, "user_id");
            if (!require_row(batch, i, gens, "generation", gid)) continue;
            if (user && !require_row(batch, i, known_users, "user", user)) continue;
            if (sentinel_uuid_map_get(dls, did)) {
                sentinel_batch_reject(batch, i, "download %s already exists", did);
                continue;
            }
            sentinel_uuid_map_put(dls, did, state_new(&pool, ev->workspace_id, NULL));
            sentinel_copy_str(&download_rows, did);
            sentinel_copy_str(&download_rows, gid);
            sentinel_copy_str(&download_rows, ev->workspace_id);
            sentinel_copy_str(&download_rows, user);
            sentinel_copy_str(&download_rows, sentinel_event_str(ev, "format"));
            sentinel_copy_str(&download_rows, sentinel_event_str(ev, "source"));
            sentinel_copy_str(&download_rows, sentinel_event_str(ev, "ip_address"));
            sentinel_copy_str(&download_rows, sentinel_event_str(ev, "user_agent"));
            sentinel_copy_timestamp(&download_rows,
                                    data_time(ev, "downloaded_at", ev->occurred_at));
            sentinel_copy_str(&download_rows, ev->event_id);
            sentinel_copy_timestamp(&download_rows, ev->occurred_at);
            sentinel_copy_end_row(&download_rows);
            continue;
        }
        row_state_t *s = require_row(batch, i, gens, "generation", gid);
        if (!s) continue;
        generation_t *g = s->extra;
        if (!strcmp(type, "BriefingProgressed")) {
            if (is_final(s)) {
                /* Late progress after the end: ignored, and counted. */
                set_int(g, G_IGNORED_EVENTS,
                        atoll(g->f[G_IGNORED_EVENTS] ? g->f[G_IGNORED_EVENTS] : "0") + 1);
                g->dirty = 1;
                sentinel_batch_ignore(batch, i);
                continue;
            }
            snprintf(s->status, sizeof(s->status), "processing");
            set_text(g, G_STATUS, "processing");
            set_int(g, G_PROGRESS, sentinel_event_int(ev, "progress"));
            if (sentinel_event_str(ev, "progress_message"))
                set_text(g, G_PROGRESS_MESSAGE, sentinel_event_str(ev, "progress_message"));
            if (!g->f[G_STARTED_AT]) set_time(g, G_STARTED_AT, ev->occurred_at);
        } else {
            if (is_final(s)) {
                sentinel_batch_reject(batch, i, "generation %s is already %s, which is final", gid,
                                      s->status);
                continue;
            }
            int ok = !strcmp(type, "BriefingGenerated");
            snprintf(s->status, sizeof(s->status), "%s", ok ? "completed" : "failed");
            set_text(g, G_STATUS, s->status);
            if (!g->f[G_STARTED_AT]) set_time(g, G_STARTED_AT, ev->occurred_at);
            set_time(g, G_COMPLETED_AT,
                     data_time(ev, ok ? "completed_at" : "failed_at", ev->occurred_at));
            if (ok) {
                set_text(g, G_PROGRESS, "100");
                set_text(g, G_NARRATIVE, sentinel_event_str(ev, "narrative"));
                set_json(g, G_STRUCTURED_DATA, DATA(ev, "structured_data"));
                set_json(g, G_ACHIEVEMENTS, DATA(ev, "achievements"));
                set_json(g, G_EXCERPTS, DATA(ev, "excerpts"));
                set_json(g, G_OUTPUT_PATHS, DATA(ev, "output_paths"));
                set_json(g, G_METADATA, DATA(ev, "metadata"));
            } else {
                set_text(g, G_ERROR_MESSAGE, sentinel_event_str(ev, "error_message"));
            }
        }
        set_text(g, G_LAST_EVENT_ID, ev->event_id);
        g->dirty = 1;
    }

    /* New generations: one row with their final state; existing: one update each. */
    size_t cursor = 0;
    const char *gid;
    void *value;
    while (sentinel_uuid_map_next(gens, &cursor, &gid, &value)) {
        row_state_t *s = value;
        generation_t *g = s->extra;
        if (g->requested) {
            const sentinel_event_t *ev = g->requested;
            copy_generation(&inserts, gid, g);
            sentinel_copy_str(&inserts, ev->workspace_id);
            sentinel_copy_str(&inserts, sentinel_event_str(ev, "briefing_id"));
            sentinel_copy_str(&inserts, sentinel_event_str(ev, "generated_by_id"));
            sentinel_copy_json(&inserts, DATA(ev, "parameters"));
            sentinel_copy_str(&inserts, sentinel_event_str(ev, "expires_at"));
            sentinel_copy_str(&inserts, ev->event_id);
            sentinel_copy_timestamp(&inserts, ev->occurred_at);
            sentinel_copy_end_row(&inserts);
        } else if (g->dirty) {
            copy_generation(&updates, gid, g);
            sentinel_copy_end_row(&updates);
        }
    }
    if ((err = sentinel_copy_send(conn, insert_sql, &inserts, errstr, errstr_size))) goto out;
    /* The changed rows, their columns as arrays. */
    if ((err = sentinel_copy_run(conn, &updates, update_sql, NULL, errstr, errstr_size))) goto out;
    err = sentinel_copy_send(
        conn,
        "COPY briefing_downloads (id, briefing_generation_id, workspace_id, user_id, "
        "format, source, ip_address, user_agent, downloaded_at, event_id, created_at) "
        "FROM STDIN",
        &download_rows, errstr, errstr_size);
out:
    for (size_t k = 0; k < pool.n; k++) {
        generation_t *g = pool.rows[k]->extra;
        if (!g) continue;
        for (int f = 0; f < G_FIELDS; f++)
            free(g->f[f]);
    }
    sentinel_copy_free(&inserts);
    sentinel_copy_free(&updates);
    sentinel_copy_free(&download_rows);
    state_pool_free(&pool);
    sentinel_uuid_map_destroy(gens);
    sentinel_uuid_map_destroy(tmpl);
    sentinel_uuid_map_destroy(known_users);
    sentinel_uuid_map_destroy(dls);
    id_list_free(&gen_ids);
    id_list_free(&templates);
    id_list_free(&users);
    id_list_free(&downloads);
    return err;
}

const sentinel_projector_t sentinel_projector_briefings = {
    "briefings",    "briefing generations and downloads",
    briefing_types, briefing_tables,
    NULL,           briefings_apply,
    NULL,
};
