/* copy_buffer.c -- COPY text format rows. */
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

void sentinel_copy_null(sentinel_copy_t *c) {
    separator(c);
    raw(c, "\\N", 2);
}

void sentinel_copy_str(sentinel_copy_t *c, const char *s) {
    if (!s) {
        sentinel_copy_null(c);
        return;
    }
    separator(c);
    escaped(c, s);
}

void sentinel_copy_int(sentinel_copy_t *c, int64_t v) {
    char num[32];
    separator(c);
    raw(c, num, (size_t)snprintf(num, sizeof(num), "%lld", (long long)v));
}

void sentinel_copy_double(sentinel_copy_t *c, double v) {
    char num[40];
    separator(c);
    raw(c, num, (size_t)snprintf(num, sizeof(num), "%.17g", v));
}

void sentinel_copy_bytes(sentinel_copy_t *c, const void *bytes, size_t n) {
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
    separator(c);
    raw(c, v ? "t" : "f", 1);
}

void sentinel_copy_json(sentinel_copy_t *c, const json_t *v) {
    if (!v) {
        sentinel_copy_null(c);
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
    char ts[SENTINEL_TIMESTAMP_MAX];
    sentinel_timestamp_format(micros, ts);
    separator(c);
    raw(c, ts, strlen(ts));
}

void sentinel_copy_end_row(sentinel_copy_t *c) {
    reserve(c, 1);
    c->buf[c->len++] = '\n';
    c->rows++;
    c->fields_in_row = 0;
}

void sentinel_copy_reset(sentinel_copy_t *c) {
    c->len = 0;
    c->rows = 0;
    c->fields_in_row = 0;
}

void sentinel_copy_free(sentinel_copy_t *c) {
    free(c->buf);
    memset(c, 0, sizeof(*c));
}

sentinel_err_t sentinel_copy_send(PGconn *conn, const char *copy_sql, sentinel_copy_t *c,
                                  char *errstr, size_t errstr_size) {
    if (c->rows == 0) return SENTINEL_OK;
    PGresult *res = PQexec(conn, copy_sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        sentinel_err_t err = sentinel_db_classify(conn, res);
        sentinel_db_errstr(conn, res, errstr, errstr_size);
        PQclear(res);
        return err ? err : SENTINEL_ERR_FATAL;
    }
    PQclear(res);
    int ok = PQputCopyData(conn, c->buf, (int)c->len) == 1;
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
