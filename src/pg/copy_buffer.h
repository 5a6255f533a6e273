/* copy_buffer.h -- rows in PostgreSQL's COPY format, text or binary, built
 * in memory and sent with one COPY ... FROM STDIN: the bulk path of the
 * projectors. */
#ifndef SENTINEL_COPY_BUFFER_H
#define SENTINEL_COPY_BUFFER_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

#include <sentinel/sentinel.h>

/* A column's type, for rows in COPY's binary format. */
typedef enum sentinel_copy_type {
    SENTINEL_COPY_UUID = 1,
    SENTINEL_COPY_TEXT,
    SENTINEL_COPY_INT4,
    SENTINEL_COPY_INT8,
    SENTINEL_COPY_FLOAT8,
    SENTINEL_COPY_BOOL,
    SENTINEL_COPY_BYTEA,
    SENTINEL_COPY_JSONB,
    SENTINEL_COPY_TIMESTAMPTZ,
} sentinel_copy_type_t;

/* A column a binary COPY writes: its name and type. */
typedef struct sentinel_copy_column {
    const char *name;
    sentinel_copy_type_t type;
} sentinel_copy_column_t;

typedef struct sentinel_copy {
    char *buf;
    size_t len;
    size_t cap;
    size_t rows;
    int fields_in_row;
    /* Binary rows when set: the columns, in order, up to one with no name
     * (borrowed: a static array). NULL: text rows. */
    const sentinel_copy_column_t *columns;
    size_t row_start; /* binary: where the current row's field count goes */
} sentinel_copy_t;

/* Rows in COPY's binary format: the server stores ids, times and numbers
 * as they come instead of parsing their text (a UUID's text costs it a
 * strtoul per byte). `columns` is a static array of the table's columns
 * the rows fill, in order, ending with {NULL, 0}:
 *   static const sentinel_copy_column_t key_columns[] = {
 *       {"id", SENTINEL_COPY_UUID}, {"created_at", SENTINEL_COPY_TIMESTAMPTZ}, {NULL, 0}};
 *   sentinel_copy_t rows = SENTINEL_COPY_BINARY(key_columns);
 * and sent with sentinel_copy_send_binary. Each field must be written with
 * the function of its column's type (_str for UUID, TEXT and JSONB, _int
 * for INT4 and INT8, ...); another is a programming error and aborts, as a
 * row of another width does. A value its column cannot hold (an id that is
 * no UUID, an INT4 out of range) is refused by the server as data, as its
 * text would be. Not for sentinel_copy_run, which reads text rows. */
#define SENTINEL_COPY_BINARY(binary_columns)                                                       \
    { .columns = (binary_columns) }

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

/* Run `copy_sql` ("COPY t (a, b) FROM STDIN") with the text rows, then
 * empty the buffer (kept allocated). Nothing is sent when there are no
 * rows. */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_copy_send(PGconn *conn, const char *copy_sql,
                                                     sentinel_copy_t *c, char *errstr,
                                                     size_t errstr_size);

/* The same for binary rows: COPY `table` (its columns) FROM STDIN WITH
 * (FORMAT binary). */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_copy_send_binary(PGconn *conn, const char *table,
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
