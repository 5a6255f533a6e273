/* encode_pool.h -- validate and encode NDJSON lines on several threads while
 * handing the results back in input order: the parallel front half of
 * `sentinel publish`. Memory is bounded by chunk size times chunk count. */
#ifndef SENTINEL_ENCODE_POOL_H
#define SENTINEL_ENCODE_POOL_H

#include <stddef.h>

#include <sentinel/event.h>

typedef struct sentinel_encode_pool sentinel_encode_pool_t;

/* One input line's outcome. Pointers are borrowed from the chunk. */
typedef struct sentinel_encoded {
    unsigned long number; /* input line number */
    const char *line;     /* the line as read */
    size_t line_len;
    int ok;            /* 1: encoded; 0: rejected, see error */
    const char *error; /* "<Type>: <reason>" when rejected */
    const void *value; /* Avro single-object encoding */
    size_t value_len;
    char key[SENTINEL_UUID_LEN + 1]; /* workspace_id */
    char event_id[SENTINEL_UUID_LEN + 1];
    const char *type_name; /* static */
    char *normalized;      /* JSON of the event, when printing (owned by the chunk) */
} sentinel_encoded_t;

typedef struct sentinel_chunk sentinel_chunk_t;

/* new: `threads` workers (at least 1), chunks of up to `chunk_lines` lines,
 * events up to `max_bytes`. With `print`, each result also carries the
 * normalised JSON; with `validate_only`, nothing is encoded. NULL with the
 * reason when the schemas do not load. */
sentinel_encode_pool_t *sentinel_encode_pool_new(int threads, size_t chunk_lines, size_t max_bytes,
                                                 int validate_only, int print, char *errstr,
                                                 size_t errstr_size);
/* Waits for the workers, frees everything. */
void sentinel_encode_pool_destroy(sentinel_encode_pool_t *pool);

/* Add a line to the chunk being filled; submits it when full. Returns 1,
 * adding nothing, when every chunk is in flight: drain one with
 * sentinel_encode_pool_next() and add again. */
int sentinel_encode_pool_add(sentinel_encode_pool_t *pool, const char *line, size_t len,
                             unsigned long number);
/* Submit the partly filled chunk (at end of input). */
void sentinel_encode_pool_flush(sentinel_encode_pool_t *pool);

/* The oldest submitted chunk once it is done, or NULL if none is in flight
 * (or, with wait = 0, if it is not done yet). Release it after use. */
sentinel_chunk_t *sentinel_encode_pool_next(sentinel_encode_pool_t *pool, int wait);
void sentinel_encode_pool_release(sentinel_encode_pool_t *pool, sentinel_chunk_t *chunk);

size_t sentinel_chunk_count(const sentinel_chunk_t *chunk);
const sentinel_encoded_t *sentinel_chunk_get(const sentinel_chunk_t *chunk, size_t i);

#endif
