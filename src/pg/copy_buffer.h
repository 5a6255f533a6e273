/* copy_buffer.h -- rows in PostgreSQL's COPY text format, built in memory
 * and sent with one COPY ... FROM STDIN: the bulk path of the projectors. */
#ifndef SENTINEL_COPY_BUFFER_H
#define SENTINEL_COPY_BUFFER_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

#include <sentinel/sentinel.h>

typedef struct sentinel_copy {
    char *buf;
    size_t len;
    size_t cap;
    size_t rows;
    int fields_in_row;
} sentinel_copy_t;

/* Fields of the current row, in column order; end each row with _end_row. */
void sentinel_copy_str(sentinel_copy_t *c, const char *s); /* NULL writes \N */
void sentinel_copy_null(sentinel_copy_t *c);
void sentinel_copy_int(sentinel_copy_t *c, int64_t v);
void sentinel_copy_double(sentinel_copy_t *c, double v);
void sentinel_copy_bytes(sentinel_copy_t *c, const void *bytes, size_t n); /* a bytea */
void sentinel_copy_bool(sentinel_copy_t *c, int v);
/* A JSON-valued field: a JSON value, or a string holding JSON text (as
 * decoded events carry them), written as it is. NULL writes \N. */
void sentinel_copy_json(sentinel_copy_t *c, const json_t *v);
void sentinel_copy_timestamp(sentinel_copy_t *c, int64_t micros);
void sentinel_copy_end_row(sentinel_copy_t *c);

/* Run `copy_sql` ("COPY t (a, b) FROM STDIN") with the rows, then empty the
 * buffer (kept allocated). Nothing is sent when there are no rows. */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_copy_send(PGconn *conn, const char *copy_sql,
                                                     sentinel_copy_t *c, char *errstr,
                                                     size_t errstr_size);

/* Columns a row may have for sentinel_copy_run. */
#define SENTINEL_COPY_MAX_COLUMNS 24

/* The set-based write (or read) of a batch's rows by one statement: `sql`
 * gets the rows' columns as arrays, $1 the first column's, $2 the
 * second's, and reads them with unnest, e.g. "UPDATE t SET v = c.v FROM
 * unnest($1::uuid[], $2::text[]) AS c(id, v) WHERE t.id = c.id". One round
 * trip, a prepared statement, no temporary table, and a plan made for a
 * few rows (index lookups), not for a table of unknown size. The rows stay
 * in the buffer. Nothing runs when there are none (*out is then NULL). */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_copy_run(PGconn *conn, const sentinel_copy_t *rows,
                                                    const char *sql, PGresult **out, char *errstr,
                                                    size_t errstr_size);

void sentinel_copy_reset(sentinel_copy_t *c);
void sentinel_copy_free(sentinel_copy_t *c);

#endif
