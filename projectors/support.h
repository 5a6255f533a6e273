/* support.h -- what the projectors share on top of the runtime: sets of ids
 * to look up in one query, and the per-batch state those lookups fill. */
#ifndef SENTINEL_PROJECTORS_SUPPORT_H
#define SENTINEL_PROJECTORS_SUPPORT_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sentinel/projector.h>
#include "base/timestamp.h"
#include "base/uuid_map.h"
#include "pg/array.h"
#include "pg/copy_buffer.h"
#include "pg/db.h"

/* A set of UUIDs in insertion order (borrowed strings). */
typedef struct id_list {
    const char **ids;
    size_t n, cap;
    sentinel_uuid_map_t *seen;
} id_list_t;

void id_list_init(id_list_t *l);
void id_list_add(id_list_t *l, const char *id); /* NULL and repeats ignored */
void id_list_free(id_list_t *l);

/* What a lookup found about a row: its workspace and, for rows with a life
 * cycle, their status. Values of a uuid map; owned by a state_pool. */
typedef struct row_state {
    char workspace_id[SENTINEL_UUID_LEN + 1];
    char status[16];
    int64_t created_at;
    int64_t deleted_at; /* soft deleted then (microseconds), else INT64_MAX */
    int is_new;         /* inserted by this batch */
    /* The events that made it and that completed it (columns event_id and
     * completed_event_id of the lookup, when it selects them): a row
     * made by the event at hand proves it a redelivery. */
    char event_id[SENTINEL_UUID_LEN + 1];
    char completed_by[SENTINEL_UUID_LEN + 1];
    void *extra;
} row_state_t;

typedef struct state_pool {
    row_state_t **rows;
    size_t n, cap;
} state_pool_t;

row_state_t *state_new(state_pool_t *pool, const char *workspace_id, const char *status);
void state_pool_free(state_pool_t *pool);

/* Load `sql` (selecting id, workspace_id[, status]) for the ids into map. */
sentinel_err_t load_states(PGconn *conn, const char *sql, id_list_t *ids, sentinel_uuid_map_t *map,
                           state_pool_t *pool, char *errstr, size_t errstr_size);

/* The control-plane rows events refer to, loaded into map, soft-deleted
 * ones too with the time of their deletion: repositories with their
 * workspace; users, which are global (their workspace is left empty, so
 * require_row checks existence only). */
sentinel_err_t load_repositories(PGconn *conn, id_list_t *ids, sentinel_uuid_map_t *map,
                                 state_pool_t *pool, char *errstr, size_t errstr_size);
sentinel_err_t load_users(PGconn *conn, id_list_t *ids, sentinel_uuid_map_t *map,
                          state_pool_t *pool, char *errstr, size_t errstr_size);

/* One of the reads a batch starts with (load_all). */
typedef struct load {
    const char *sql;
    const id_list_t *ids;     /* $1, as uuid[]; NULL: sql takes no parameter */
    sentinel_uuid_map_t *map; /* rows into map, as load_states loads them; or */
    void (*row)(PGresult *res, int r, void *opaque); /* each row to row(), when map is NULL */
    void *opaque;
} load_t;

/* The reads of loads[0..n) in one round trip, in order; a read of no ids
 * does not run. */
sentinel_err_t load_all(PGconn *conn, const load_t *loads, int n, state_pool_t *pool, char *errstr,
                        size_t errstr_size);

/* The repositories of ids as load_repositories reads them, for load_all. */
extern const char repositories_sql[];

/* sentinel_db_select with $1 the uuid[] of ids; nothing runs for none. */
sentinel_err_t select_ids(PGconn *conn, const char *sql, const id_list_t *ids,
                          void (*row)(PGresult *res, int r, void *opaque), void *opaque,
                          char *errstr, size_t errstr_size);

/* "does not exist" / "belongs to another workspace" / "was deleted before
 * the event" check; rejects event i and returns NULL when the row is not
 * usable. A row soft-deleted after the event occurred still accepts it, so
 * a rebuild after the deletion reproduces the live projection. */
row_state_t *require_row(sentinel_batch_t *batch, size_t i, sentinel_uuid_map_t *map,
                         const char *what, const char *id);

/* Event i made row s (or completed it, with `completed`): then it is a
 * redelivery, counted as a duplicate, and 1 is returned. */
int is_redelivery(sentinel_batch_t *batch, size_t i, const row_state_t *s, int completed);

/* The event's data field as a JSON value (borrowed) or NULL. */
#define DATA(ev, name) json_object_get((ev)->data, name)

/* Create the monthly partitions of runs and findings for every month in
 * which the batch has a RunStarted or FindingRecorded, where missing. */
sentinel_err_t ensure_partitions_for(sentinel_batch_t *batch, PGconn *conn, char *errstr,
                                     size_t errstr_size);

/* A timestamp field's microseconds, or `fallback` when absent. */
int64_t data_time(const sentinel_event_t *ev, const char *name, int64_t fallback);

/* An optional integer, number or boolean data field as a COPY field: its
 * value, or NULL when the event does not carry it. */
void copy_data_int(sentinel_copy_t *rows, const sentinel_event_t *ev, const char *name);
void copy_data_double(sentinel_copy_t *rows, const sentinel_event_t *ev, const char *name);
void copy_data_bool(sentinel_copy_t *rows, const sentinel_event_t *ev, const char *name);

/* Daily metric increments of a batch, summed per workspace and UTC date so
 * a hot key costs one upsert per batch, whatever its number of events. */
typedef struct daily_metrics daily_metrics_t;
daily_metrics_t *daily_metrics_new(void);
void daily_metrics_destroy(daily_metrics_t *d);
/* -1, adding nothing, when the day's tokens would overflow. */
int daily_metrics_add(daily_metrics_t *d, const char *workspace_id, int64_t at, long runs,
                      long findings, long critical, long warning, long long tokens);
/* Add the sums to workspace_daily_metrics (one statement). */
sentinel_err_t daily_metrics_write(daily_metrics_t *d, PGconn *conn, char *errstr,
                                   size_t errstr_size);

#endif
