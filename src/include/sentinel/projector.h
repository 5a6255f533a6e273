/* projector.h -- writing a projector: what the runtime (src/runtime/) hands
 * an apply handler, which applies events to PostgreSQL exactly once in
 * effect.
 *
 * Vocabulary: a *projector* (a file in projectors/) is a name, the event types it
 * handles, the tables it owns and one `apply` handler. The *runtime*
 * does everything else: consume, batch, decode, drop redelivered event ids,
 * reject events of unknown workspaces, dead-letter, and advance the stored
 * offsets by compare-and-set in the same transaction as the rows. */
#ifndef SENTINEL_PROJECTOR_H
#define SENTINEL_PROJECTOR_H

#include <libpq-fe.h>

#include "event.h"

typedef struct sentinel_batch sentinel_batch_t;

typedef struct sentinel_projector {
    const char *name;
    const char *summary;
    const char *const *event_types; /* NULL-terminated type names it handles */
    const char *const *tables;      /* NULL-terminated tables it owns */
    /* Optional: before the batch's transaction (partitions, caches).
     * Sees the same events as apply. */
    sentinel_err_t (*prepare)(sentinel_batch_t *batch, PGconn *conn, char *errstr,
                              size_t errstr_size);
    /* Apply the batch's new events, in log order, inside the open
     * transaction: read what is needed with set-based queries, decide each
     * event, write the accepted ones set-based (COPY, unnest). Reject an
     * event with sentinel_batch_reject(). Any error return rolls the whole
     * batch back (RETRIABLE: retried). */
    sentinel_err_t (*apply)(sentinel_batch_t *batch, PGconn *conn, char *errstr,
                            size_t errstr_size);
    /* Optional, NULL-terminated: the types whose own row proves them
     * applied (the row carries the event's id). The runtime keeps no
     * ledger entry for them but for the rejected ones, so apply sees
     * their redeliveries too: finding the row made by the same event, it
     * calls sentinel_batch_duplicate(). Every other type is deduplicated
     * by the runtime's ledger, applied_events. */
    const char *const *proven_by_rows;
} sentinel_projector_t;

/* The projectors (projectors/registry.c), NULL-terminated. */
SENTINEL_API extern const sentinel_projector_t *const sentinel_projectors[];
SENTINEL_API const sentinel_projector_t *sentinel_projector_find(const char *name);
/* The tables of set[0..n), each once, in the set's order, into tables (at
 * most max, borrowed); how many. */
SENTINEL_API size_t sentinel_projectors_tables(const sentinel_projector_t *const *set, size_t n,
                                               const char **tables, size_t max);

/* ---- for apply handlers ---- */

/* New events of the batch (deduplicated, but for proven_by_rows types; of
 * handled types, of known workspaces), in log order. Borrowed. */
SENTINEL_API size_t sentinel_batch_count(const sentinel_batch_t *batch);
SENTINEL_API const sentinel_event_t *sentinel_batch_event(const sentinel_batch_t *batch, size_t i);
/* Reject event i: it is dead-lettered with the reason; the handler writes
 * no row for it. Its id still counts as processed: a redelivery is a
 * duplicate. */
SENTINEL_API void sentinel_batch_reject(sentinel_batch_t *batch, size_t i, const char *fmt, ...)
    SENTINEL_PRINTF(3, 4);
SENTINEL_API int sentinel_batch_is_rejected(const sentinel_batch_t *batch, size_t i);
/* Where event i is in the log. */
SENTINEL_API const char *sentinel_batch_topic(const sentinel_batch_t *batch);
SENTINEL_API void sentinel_batch_position(const sentinel_batch_t *batch, size_t i,
                                          int32_t *partition, int64_t *offset);
/* Event i was applied before: its row carries its id (types of
 * proven_by_rows only). */
SENTINEL_API void sentinel_batch_duplicate(sentinel_batch_t *batch, size_t i);
/* Count event i as ignored (applied as a no-op, e.g. a late progress). */
SENTINEL_API void sentinel_batch_ignore(sentinel_batch_t *batch, size_t i);

/* Run `sql` with the text parameters params[0..n) and hand each result row
 * to `row` (may be NULL): the set-based reads of apply handlers. A set of
 * values is one parameter, an array literal ("{...}") read with
 * "= ANY($1::uuid[])" or unnest. The statement is prepared once per
 * connection; values go as parameters, never into the text. */
SENTINEL_API SENTINEL_MUSTCHECK sentinel_err_t
sentinel_db_select(PGconn *conn, const char *sql, int n, const char *const *params,
                   void (*row)(PGresult *res, int r, void *opaque), void *opaque, char *errstr,
                   size_t errstr_size);

#endif
