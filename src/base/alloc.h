/* alloc.h -- the engine's allocations: each one that fails aborts the
 * process (a failed malloc of a few bytes has no sensible recovery, and an
 * unchecked one is a crash somewhere else), so callers never check. Sizes
 * that multiply are checked for overflow. */
#ifndef SENTINEL_ALLOC_H
#define SENTINEL_ALLOC_H

#include <stddef.h>

#include <sentinel/sentinel.h>

void *sentinel_malloc(size_t size);
void *sentinel_calloc(size_t n, size_t size);
void *sentinel_realloc(void *p, size_t size);
/* realloc of n elements of `size` bytes. */
void *sentinel_reallocarray(void *p, size_t n, size_t size);
char *sentinel_strdup(const char *s);
char *sentinel_strndup(const char *s, size_t n);
/* new: the formatted text. */
char *sentinel_aprintf(const char *fmt, ...) SENTINEL_PRINTF(1, 2);

/* Room in buf (capacity *cap, `len` bytes used) for `more` bytes: the
 * capacity doubles, from `first`, until they fit. Returns the buffer, moved
 * or not: buf = sentinel_grow(buf, &cap, len, n, 4096). The one way a
 * buffer grows. */
void *sentinel_grow(void *buf, size_t *cap, size_t len, size_t more, size_t first);

#endif
