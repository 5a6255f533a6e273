/* array.h -- PostgreSQL array literals: the one way a set of values goes to
 * a statement as one parameter ($1::uuid[], $2::bigint[], ...), read there
 * with unnest or = ANY. Elements are quoted as the array input syntax
 * wants them, NULL is NULL, and no elements is "{}". */
#ifndef SENTINEL_ARRAY_H
#define SENTINEL_ARRAY_H

#include <stddef.h>
#include <stdint.h>

typedef struct sentinel_array {
    char *buf; /* "{" and the elements so far; owned */
    size_t len, cap;
    size_t n; /* elements */
} sentinel_array_t;

/* Add an element: text (NULL: a NULL element), a whole number. */
void sentinel_array_add(sentinel_array_t *a, const char *text);
void sentinel_array_add_int(sentinel_array_t *a, int64_t v);
/* A field of COPY text, [p, end): its escapes undone, \N a NULL element. */
void sentinel_array_add_copy_field(sentinel_array_t *a, const char *p, const char *end);

/* Borrowed: the literal, valid until the next add, reset or free. */
const char *sentinel_array_text(sentinel_array_t *a);
/* Empty it, keeping the memory; free what it holds. */
void sentinel_array_reset(sentinel_array_t *a);
void sentinel_array_free(sentinel_array_t *a);

/* new: the literal of items[0..n). */
char *sentinel_array_of(const char *const *items, size_t n);

/* new: ids[0..n) as a uuid[] in PostgreSQL's binary form, for a parameter
 * sent as binary (format 1), its size in *len: the server stores the 16
 * bytes of each as they come instead of parsing text. NULL when one of
 * them is not a UUID (then the text literal shows the server's refusal). */
char *sentinel_uuid_array(const char *const *ids, size_t n, int *len);

/* new: ids[0..n) as a uuid[] parameter: binary (*format 1, its size in
 * *len) when every one is a UUID, else their literal (*format 0), so the
 * server's refusal names the one that is not. */
char *sentinel_uuid_param(const char *const *ids, size_t n, int *len, int *format);

#endif
