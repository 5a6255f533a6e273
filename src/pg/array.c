/* array.c -- PostgreSQL array literals, and uuid[] in binary form. */
#include "pg/array.h"

#include <endian.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/timestamp.h"

/* Room for `more` bytes, the '}' and the NUL; the separator written. */
static void next(sentinel_array_t *a, size_t more) {
    a->buf = sentinel_grow(a->buf, &a->cap, a->len, more + 3, 256);
    a->buf[a->len++] = a->n++ ? ',' : '{';
}

static void quoted(sentinel_array_t *a, const char *p, size_t len) {
    next(a, 2 * len + 2);
    a->buf[a->len++] = '"';
    /* Ids have nothing to escape: the run before the first '"' or '\\'
     * is copied whole. */
    size_t plain = 0;
    while (plain < len && p[plain] != '"' && p[plain] != '\\')
        plain++;
    memcpy(a->buf + a->len, p, plain);
    a->len += plain;
    for (size_t i = plain; i < len; i++) {
        if (p[i] == '"' || p[i] == '\\') a->buf[a->len++] = '\\';
        a->buf[a->len++] = p[i];
    }
    a->buf[a->len++] = '"';
}

void sentinel_array_add(sentinel_array_t *a, const char *text) {
    if (!text) {
        next(a, 4);
        memcpy(a->buf + a->len, "NULL", 4);
        a->len += 4;
        return;
    }
    quoted(a, text, strlen(text));
}

void sentinel_array_add_int(sentinel_array_t *a, int64_t v) {
    next(a, 24);
    a->len += (size_t)snprintf(a->buf + a->len, 24, "%" PRId64, v);
}

void sentinel_array_add_copy_field(sentinel_array_t *a, const char *p, const char *end) {
    if (end - p == 2 && p[0] == '\\' && p[1] == 'N') {
        sentinel_array_add(a, NULL);
        return;
    }
    next(a, 2 * (size_t)(end - p) + 2);
    a->buf[a->len++] = '"';
    for (; p < end; p++) {
        char ch = *p;
        if (ch == '\\' && p + 1 < end) {
            ch = *++p;
            ch = ch == 't' ? '\t' : ch == 'n' ? '\n' : ch == 'r' ? '\r' : ch;
        }
        if (ch == '"' || ch == '\\') a->buf[a->len++] = '\\';
        a->buf[a->len++] = ch;
    }
    a->buf[a->len++] = '"';
}

const char *sentinel_array_text(sentinel_array_t *a) {
    if (!a->n) return "{}";
    /* next() left room: the closing brace goes after the elements, where
     * the next add puts its comma. */
    a->buf[a->len] = '}';
    a->buf[a->len + 1] = '\0';
    return a->buf;
}

void sentinel_array_reset(sentinel_array_t *a) {
    a->len = 0;
    a->n = 0;
}

void sentinel_array_free(sentinel_array_t *a) {
    free(a->buf);
    memset(a, 0, sizeof(*a));
}

char *sentinel_array_of(const char *const *items, size_t n) {
    sentinel_array_t a = {0};
    for (size_t i = 0; i < n; i++)
        sentinel_array_add(&a, items[i]);
    char *out = sentinel_strdup(sentinel_array_text(&a));
    sentinel_array_free(&a);
    return out;
}

/* uuid's type oid (pg_type.dat), the element type a binary array names. */
#define UUID_OID 2950

static void put_be32(char *at, uint32_t v) {
    uint32_t be = htobe32(v); /* as copy_buffer.c writes binary rows */
    memcpy(at, &be, sizeof(be));
}

char *sentinel_uuid_array(const char *const *ids, size_t n, int *len) {
    /* Dimensions (1, or 0 when empty), no NULLs, the element type, then
     * the dimension's size and lower bound (1), then each element's
     * length (16) and bytes; integers big-endian. */
    size_t size = 20 + 20 * n;
    if (size > INT32_MAX) return NULL;
    char *buf = sentinel_malloc(size);
    put_be32(buf, n ? 1 : 0);
    put_be32(buf + 4, 0);
    put_be32(buf + 8, UUID_OID);
    put_be32(buf + 12, (uint32_t)n);
    put_be32(buf + 16, 1);
    for (size_t i = 0; i < n; i++) {
        char *at = buf + 20 + 20 * i;
        put_be32(at, 16);
        if (!ids[i] || sentinel_uuid_bytes(ids[i], (unsigned char *)at + 4)) {
            free(buf);
            return NULL;
        }
    }
    *len = n ? (int)size : 12;
    return buf;
}

char *sentinel_uuid_param(const char *const *ids, size_t n, int *len, int *format) {
    char *binary = sentinel_uuid_array(ids, n, len);
    *format = binary != NULL;
    if (binary) return binary;
    *len = 0;
    return sentinel_array_of(ids, n);
}
