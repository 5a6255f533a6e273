/* line_reader.h -- read newline-delimited records with bounded memory: a
 * line longer than the limit is reported and skipped, never buffered. */
#ifndef SENTINEL_LINE_READER_H
#define SENTINEL_LINE_READER_H

#include <stdio.h>

#include <sentinel/sentinel.h>

typedef struct sentinel_line_reader sentinel_line_reader_t;

/* new: reads from `in` (borrowed; the caller closes it). Lines up to
 * `max_line` bytes (without the newline) are returned whole. */
sentinel_line_reader_t *sentinel_line_reader_new(FILE *in, size_t max_line);
void sentinel_line_reader_destroy(sentinel_line_reader_t *reader);

typedef enum sentinel_line_status {
    SENTINEL_LINE_OK = 0,   /* *line, *len: the line, borrowed until the next call */
    SENTINEL_LINE_TOO_LONG, /* *len: how long it was; its bytes are skipped */
    SENTINEL_LINE_EOF,
    SENTINEL_LINE_ERROR, /* read error: errno tells */
} sentinel_line_status_t;

/* The next line (a trailing "\r" is dropped too). *number is its 1-based
 * line number. */
sentinel_line_status_t sentinel_line_reader_next(sentinel_line_reader_t *reader, const char **line,
                                                 size_t *len, unsigned long *number);

/* The first bytes (at most SENTINEL_LINE_HEAD) of the line the last call
 * reported TOO_LONG, borrowed until the next call; *len their count. */
#define SENTINEL_LINE_HEAD 65536
const char *sentinel_line_reader_head(const sentinel_line_reader_t *reader, size_t *len);

#endif
