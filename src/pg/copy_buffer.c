/* copy_buffer.c -- COPY rows, text or binary. */
#include <endian.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/timestamp.h"
#include "pg/array.h"
#include "pg/copy_buffer.h"
#include "pg/db.h"

static void reserve(sentinel_copy_t *c, size_t more) {
    c->buf = sentinel_grow(c->buf, &c->cap, c->len, more, 65536);
}

static void separator(sentinel_copy_t *c) {
    if (c->fields_in_row++ > 0) {
        reserve(c, 1);
        c->buf[c->len++] = '\t';
    }
}

static void raw(sentinel_copy_t *c, const char *s, size_t n) {
    reserve(c, n);
    memcpy(c->buf + c->len, s, n);
    c->len += n;
}

/* Backslash, tab, newline and carriage return are escaped. Most values
 * (ids, names, timestamps) have none: their run up to the first one is
 * copied whole. */
static void escaped(sentinel_copy_t *c, const char *s) {
    size_t plain = strcspn(s, "\\\t\n\r");
    if (!s[plain]) {
        raw(c, s, plain);
        return;
    }
    size_t n = plain + strlen(s + plain);
    reserve(c, 2 * n);
    memcpy(c->buf + c->len, s, plain);
    c->len += plain;
    for (size_t i = plain; i < n; i++) {
        char ch = s[i];
        switch (ch) {
        case '\\':
            c->buf[c->len++] = '\\';
            c->buf[c->len++] = '\\';
            break;
        case '\t':
            c->buf[c->len++] = '\\';
            c->buf[c->len++] = 't';
            break;
        case '\n':
            c->buf[c->len++] = '\\';
            c->buf[c->len++] = 'n';
            break;
        case '\r':
            c->buf[c->len++] = '\\';
            c->buf[c->len++] = 'r';
            break;
        default: c->buf[c->len++] = ch;
        }
    }
}

/* Binary rows: a signature, flags and an empty header extension; then per
 * row its number of fields and per field its length (-1: NULL) and bytes,
 * all integers big-endian; then -1 where a row's field count would be. */
static const char binary_header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";

/* Microseconds from the Unix epoch to PostgreSQL's, 2000-01-01. */
#define PG_EPOCH_MICROS 946684800000000LL

static void put16(sentinel_copy_t *c, int16_t v) {
    uint16_t be = htobe16((uint16_t)v);
    raw(c, (const char *)&be, 2);
}

static void put32(sentinel_copy_t *c, int32_t v) {
    uint32_t be = htobe32((uint32_t)v);
    raw(c, (const char *)&be, 4);
}

static void put64(sentinel_copy_t *c, int64_t v) {
    uint64_t be = htobe64((uint64_t)v);
    raw(c, (const char *)&be, 8);
}

/* Start a binary field: the type its column has, one of `a` and `b` (any
 * when a is 0). Aborts when the row is wider than its columns or the
 * caller's function is not the column's. */
static sentinel_copy_type_t binary_field(sentinel_copy_t *c, sentinel_copy_type_t a,
                                         sentinel_copy_type_t b) {
    if (c->len == 0) raw(c, binary_header, sizeof(binary_header));
    if (c->fields_in_row == 0) {
        c->row_start = c->len;
        put16(c, 0); /* the field count, set by _end_row */
    }
    const sentinel_copy_column_t *column = &c->columns[c->fields_in_row++];
    if (!column->name || (a && column->type != a && column->type != b)) abort();
    return column->type;
}

static void binary_value(sentinel_copy_t *c, const void *bytes, size_t n) {
    put32(c, (int32_t)n);
    raw(c, bytes, n);
}

void sentinel_copy_null(sentinel_copy_t *c) {
    if (c->columns) {
        (void)binary_field(c, 0, 0);
        put32(c, -1);
        return;
    }
    separator(c);
    raw(c, "\\N", 2);
}

/* A text-valued binary field: a UUID's 16 bytes, a text's bytes, a jsonb's
 * version (1) and text. */
static void binary_text(sentinel_copy_t *c, sentinel_copy_type_t type, const char *s, size_t n) {
    unsigned char id[16];
    if (type == SENTINEL_COPY_UUID && !sentinel_uuid_bytes_n(s, n, id)) {
        binary_value(c, id, sizeof(id));
    } else if (type == SENTINEL_COPY_JSONB) {
        put32(c, (int32_t)(n + 1));
        raw(c, "\1", 1);
        raw(c, s, n);
    } else if (type == SENTINEL_COPY_UUID) {
        /* An id that is none: its text, made longer than a UUID's 16
         * bytes, so the server refuses it as data ("incorrect binary data
         * format", 22P03); a shorter field would read as a protocol error. */
        put32(c, (int32_t)(n + 17));
        raw(c, s, n);
        raw(c, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 17);
    } else {
        binary_value(c, s, n);
    }
}

void sentinel_copy_str(sentinel_copy_t *c, const char *s) {
    if (!s) {
        sentinel_copy_null(c);
        return;
    }
    if (c->columns) {
        sentinel_copy_type_t type = binary_field(c, 0, 0);
        if (type != SENTINEL_COPY_UUID && type != SENTINEL_COPY_TEXT && type != SENTINEL_COPY_JSONB)
            abort(); /* a string for a column of numbers, times or bytes */
        binary_text(c, type, s, strlen(s));
        return;
    }
    separator(c);
    escaped(c, s);
}

void sentinel_copy_int(sentinel_copy_t *c, int64_t v) {
    if (c->columns) {
        if (binary_field(c, SENTINEL_COPY_INT4, SENTINEL_COPY_INT8) == SENTINEL_COPY_INT8 ||
            v < INT32_MIN || v > INT32_MAX) { /* out of an int4's range: refused */
            put32(c, 8);
            put64(c, v);
        } else {
            put32(c, 4);
            put32(c, (int32_t)v);
        }
        return;
    }
    char num[32];
    separator(c);
    raw(c, num, (size_t)snprintf(num, sizeof(num), "%lld", (long long)v));
}

void sentinel_copy_double(sentinel_copy_t *c, double v) {
    if (c->columns) {
        (void)binary_field(c, SENTINEL_COPY_FLOAT8, SENTINEL_COPY_FLOAT8);
        int64_t bits;
        memcpy(&bits, &v, sizeof(bits));
        put32(c, 8);
        put64(c, bits);
        return;
    }
    char num[40];
    separator(c);
    raw(c, num, (size_t)snprintf(num, sizeof(num), "%.17g", v));
}

void sentinel_copy_bytes(sentinel_copy_t *c, const void *bytes, size_t n) {
    if (c->columns) {
        (void)binary_field(c, SENTINEL_COPY_BYTEA, SENTINEL_COPY_BYTEA);
        binary_value(c, bytes, n);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    const unsigned char *b = bytes;
    separator(c);
    reserve(c, 3 + 2 * n);
    raw(c, "\\\\x", 3); /* bytea's hex form, its backslash escaped for COPY */
    for (size_t i = 0; i < n; i++) {
        c->buf[c->len++] = hex[b[i] >> 4];
        c->buf[c->len++] = hex[b[i] & 15];
    }
}

void sentinel_copy_bool(sentinel_copy_t *c, int v) {
    if (c->columns) {
        (void)binary_field(c, SENTINEL_COPY_BOOL, SENTINEL_COPY_BOOL);
        binary_value(c, v ? "\1" : "\0", 1);
        return;
    }
    separator(c);
    raw(c, v ? "t" : "f", 1);
}

void sentinel_copy_json(sentinel_copy_t *c, const json_t *v) {
    if (!v) {
        sentinel_copy_null(c);
        return;
    }
    if (c->columns) {
        (void)binary_field(c, SENTINEL_COPY_JSONB, SENTINEL_COPY_JSONB);
        if (json_is_string(v)) {
            binary_text(c, SENTINEL_COPY_JSONB, json_string_value(v), json_string_length(v));
            return;
        }
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        binary_text(c, SENTINEL_COPY_JSONB, text, strlen(text));
        free(text);
        return;
    }
    separator(c);
    if (json_is_string(v)) { /* a JSON-valued field as decoded: its text */
        escaped(c, json_string_value(v));
        return;
    }
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    escaped(c, text);
    free(text);
}

void sentinel_copy_timestamp(sentinel_copy_t *c, int64_t micros) {
    if (c->columns) {
        (void)binary_field(c, SENTINEL_COPY_TIMESTAMPTZ, SENTINEL_COPY_TIMESTAMPTZ);
        put32(c, 8);
        put64(c, micros - PG_EPOCH_MICROS);
        return;
    }
    char ts[SENTINEL_TIMESTAMP_MAX];
    sentinel_timestamp_format(micros, ts);
    separator(c);
    raw(c, ts, strlen(ts));
}

void sentinel_copy_end_row(sentinel_copy_t *c) {
    if (c->columns) {
        if (c->columns[c->fields_in_row].name) abort(); /* a field missing */
        uint16_t be = htobe16((uint16_t)c->fields_in_row);
        memcpy(c->buf + c->row_start, &be, 2);
    } else {
        reserve(c, 1);
        c->buf[c->len++] = '\n';
    }
    c->rows++;
    c->fields_in_row = 0;
}

void sentinel_copy_reset(sentinel_copy_t *c) {
    c->len = 0;
    c->rows = 0;
    c->fields_in_row = 0;
}

void sentinel_copy_free(sentinel_copy_t *c) {
    const sentinel_copy_column_t *columns = c->columns; /* binary rows stay binary */
    free(c->buf);
    memset(c, 0, sizeof(*c));
    c->columns = columns;
}

/* COPY ... FROM STDIN with the buffer's rows, then the buffer emptied. */
static sentinel_err_t send_rows(PGconn *conn, const char *copy_sql, sentinel_copy_t *c,
                                char *errstr, size_t errstr_size) {
    PGresult *res = PQexec(conn, copy_sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        sentinel_err_t err = sentinel_db_classify(conn, res);
        sentinel_db_errstr(conn, res, errstr, errstr_size);
        PQclear(res);
        return err ? err : SENTINEL_ERR_FATAL;
    }
    PQclear(res);
    int ok = PQputCopyData(conn, c->buf, (int)c->len) == 1;
    if (ok && c->columns) ok = PQputCopyData(conn, "\377\377", 2) == 1; /* the trailer: -1 */
    if (PQputCopyEnd(conn, ok ? NULL : "client error") != 1) ok = 0;
    sentinel_err_t err = SENTINEL_OK;
    while ((res = PQgetResult(conn))) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && !err) {
            err = sentinel_db_classify(conn, res);
            if (!err) err = SENTINEL_ERR_FATAL;
            sentinel_db_errstr(conn, res, errstr, errstr_size);
        }
        PQclear(res);
    }
    if (!ok && !err) {
        sentinel_db_errstr(conn, NULL, errstr, errstr_size);
        err = SENTINEL_ERR_RETRIABLE;
    }
    sentinel_copy_reset(c);
    return err;
}

sentinel_err_t sentinel_copy_send(PGconn *conn, const char *copy_sql, sentinel_copy_t *c,
                                  char *errstr, size_t errstr_size) {
    if (c->columns) abort(); /* binary rows: sentinel_copy_send_binary */
    if (c->rows == 0) return SENTINEL_OK;
    return send_rows(conn, copy_sql, c, errstr, errstr_size);
}

sentinel_err_t sentinel_copy_send_binary(PGconn *conn, const char *table, sentinel_copy_t *c,
                                         char *errstr, size_t errstr_size) {
    if (!c->columns) abort(); /* text rows: sentinel_copy_send */
    if (c->rows == 0) return SENTINEL_OK;
    size_t size = strlen(table) + sizeof("COPY  () FROM STDIN WITH (FORMAT binary)");
    for (int k = 0; c->columns[k].name; k++)
        size += strlen(c->columns[k].name) + 2;
    char *sql = sentinel_malloc(size);
    size_t len = (size_t)snprintf(sql, size, "COPY %s (", table);
    for (int k = 0; c->columns[k].name; k++)
        len += (size_t)snprintf(sql + len, size - len, "%s%s", k ? ", " : "", c->columns[k].name);
    snprintf(sql + len, size - len, ") FROM STDIN WITH (FORMAT binary)");
    sentinel_err_t err = send_rows(conn, sql, c, errstr, errstr_size);
    free(sql);
    return err;
}

/* The rows' columns as array literals, one per column. Returns the number
 * of columns (0 without rows). */
static int rows_as_arrays(const sentinel_copy_t *c, sentinel_array_t *arrays, int max) {
    int columns = 0;
    const char *p = c->buf, *end = c->buf + c->len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        int k = 0;
        for (const char *f = p;; f++) {
            if (k == max) abort(); /* a caller's row wider than the bound */
            const char *tab = memchr(f, '\t', (size_t)(eol - f));
            const char *stop = tab ? tab : eol;
            sentinel_array_add_copy_field(&arrays[k++], f, stop);
            if (!tab) break;
            f = tab;
        }
        if (k > columns) columns = k;
        p = eol + 1;
    }
    return columns;
}

sentinel_err_t sentinel_copy_run(PGconn *conn, const sentinel_copy_t *rows, const char *sql,
                                 PGresult **out, char *errstr, size_t errstr_size) {
    if (out) *out = NULL;
    if (rows->columns) abort(); /* the arrays are read from text rows */
    if (!rows->rows) return SENTINEL_OK;
    sentinel_array_t arrays[SENTINEL_COPY_MAX_COLUMNS];
    memset(arrays, 0, sizeof(arrays));
    int columns = rows_as_arrays(rows, arrays, SENTINEL_COPY_MAX_COLUMNS);
    const char *params[SENTINEL_COPY_MAX_COLUMNS] = {0};
    for (int k = 0; k < columns; k++)
        params[k] = sentinel_array_text(&arrays[k]);
    sentinel_err_t err = sentinel_db_params(conn, sql, columns, params, out, errstr, errstr_size);
    for (int k = 0; k < columns; k++)
        sentinel_array_free(&arrays[k]);
    return err;
}
