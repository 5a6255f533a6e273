/* alloc.c -- allocations that abort on failure. */
#include "base/alloc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *checked(void *p) {
    if (!p) {
        fputs("sentinel: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *sentinel_malloc(size_t size) { return checked(malloc(size ? size : 1)); }

void *sentinel_calloc(size_t n, size_t size) { return checked(calloc(n ? n : 1, size ? size : 1)); }

void *sentinel_realloc(void *p, size_t size) { return checked(realloc(p, size ? size : 1)); }

void *sentinel_reallocarray(void *p, size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) checked(NULL);
    return sentinel_realloc(p, n * size);
}

char *sentinel_strdup(const char *s) { return checked(strdup(s)); }

/* Reads no byte past n: s need not be terminated (a Kafka header's or
 * message's bytes), which strndup(3) does not promise. */
char *sentinel_strndup(const char *s, size_t n) {
    const char *nul = memchr(s, '\0', n);
    size_t len = nul ? (size_t)(nul - s) : n;
    char *copy = sentinel_malloc(len + 1);
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

char *sentinel_aprintf(const char *fmt, ...) {
    va_list ap;
    char *out = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&out, fmt, ap);
    va_end(ap);
    return checked(n < 0 ? NULL : out);
}

void *sentinel_grow(void *buf, size_t *cap, size_t len, size_t more, size_t first) {
    if (more > SIZE_MAX - len) checked(NULL);
    if (len + more <= *cap) return buf;
    size_t grown = *cap ? *cap : first ? first : 64;
    while (grown < len + more) {
        if (grown > SIZE_MAX / 2) {
            grown = len + more;
            break;
        }
        grown *= 2;
    }
    *cap = grown;
    return sentinel_realloc(buf, grown);
}
