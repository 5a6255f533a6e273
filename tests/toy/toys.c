/* toys.c -- a toy projector, added the way every projector is (a file in
 * projectors/, a migration, a registry line) by tests/toy/test_toy.sh: each
 * ActivityLogged event becomes a row of `toys`, deduplicated by the
 * runtime's ledger. */
#include "projectors/support.h"

static const char *const toy_types[] = {"ActivityLogged", NULL};
static const char *const toy_tables[] = {"toys", NULL};

static sentinel_err_t toys_apply(sentinel_batch_t *batch, PGconn *conn, char *errstr,
                                 size_t errstr_size) {
    sentinel_copy_t rows = {0};
    for (size_t i = 0; i < sentinel_batch_count(batch); i++) {
        const sentinel_event_t *ev = sentinel_batch_event(batch, i);
        sentinel_copy_str(&rows, ev->event_id);
        sentinel_copy_str(&rows, ev->workspace_id);
        sentinel_copy_str(&rows, sentinel_event_str(ev, "type"));
        sentinel_copy_timestamp(&rows, ev->occurred_at);
        sentinel_copy_end_row(&rows);
    }
    sentinel_err_t err =
        sentinel_copy_send(conn, "COPY toys (event_id, workspace_id, kind, created_at) FROM STDIN",
                           &rows, errstr, errstr_size);
    sentinel_copy_free(&rows);
    return err;
}

const sentinel_projector_t sentinel_projector_toys = {
    "toys", "a toy: one row per activity", toy_types, toy_tables, NULL, toys_apply, NULL,
};
