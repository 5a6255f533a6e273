/* line_reader.c -- bounded newline-delimited reading. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/line_reader.h"

struct sentinel_line_reader {
    FILE *in;
    size_t max_line;
    char *buf;
    size_t cap;   /* max_line + 1 */
    size_t start; /* first unconsumed byte */
    size_t end;   /* one past the last byte read */
    unsigned long number;
    int eof;
    char *head; /* the first bytes of the last line too long */
    size_t head_len;
};

sentinel_line_reader_t *sentinel_line_reader_new(FILE *in, size_t max_line) {
    sentinel_line_reader_t *r = sentinel_calloc(1, sizeof(*r));
    r->in = in;
    r->max_line = max_line;
    r->cap = max_line + 1;
    r->buf = sentinel_malloc(r->cap);
    return r;
}

void sentinel_line_reader_destroy(sentinel_line_reader_t *r) {
    if (!r) return;
    free(r->buf);
    free(r->head);
    free(r);
}

/* Move unconsumed bytes to the front and read more behind them. Returns
 * the number of bytes read, 0 at end of input, -1 on error. */
static long fill(sentinel_line_reader_t *r) {
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->eof || r->end == r->cap) return 0;
    size_t n = fread(r->buf + r->end, 1, r->cap - r->end, r->in);
    if (n == 0) {
        if (ferror(r->in)) return -1;
        r->eof = 1;
    }
    r->end += n;
    return (long)n;
}

sentinel_line_status_t sentinel_line_reader_next(sentinel_line_reader_t *r, const char **line,
                                                 size_t *len, unsigned long *number) {
    size_t scanned = 0; /* bytes after start already known to hold no newline */
    for (;;) {
        char *nl = memchr(r->buf + r->start + scanned, '\n', r->end - r->start - scanned);
        if (nl) {
            size_t n = (size_t)(nl - (r->buf + r->start));
            *line = r->buf + r->start;
            r->start += n + 1;
            if (n > 0 && (*line)[n - 1] == '\r') n--;
            *len = n;
            *number = ++r->number;
            return SENTINEL_LINE_OK;
        }
        scanned = r->end - r->start;
        if (r->eof && scanned <= r->max_line) {
            if (scanned == 0) return SENTINEL_LINE_EOF;
            /* A last line without a newline. */
            *line = r->buf + r->start;
            *len = scanned;
            if (*len > 0 && (*line)[*len - 1] == '\r') (*len)--;
            r->start = r->end;
            *number = ++r->number;
            return SENTINEL_LINE_OK;
        }
        if (scanned >= r->cap) {
            /* Longer than the limit: keep its first bytes, count and drop
             * the rest up to the newline. */
            size_t total = scanned;
            if (!r->head) {
                r->head = sentinel_malloc(SENTINEL_LINE_HEAD);
            }
            r->head_len = scanned < SENTINEL_LINE_HEAD ? scanned : SENTINEL_LINE_HEAD;
            memcpy(r->head, r->buf + r->start, r->head_len);
            r->start = r->end = 0;
            for (;;) {
                long got = fill(r);
                if (got < 0) return SENTINEL_LINE_ERROR;
                char *p = memchr(r->buf, '\n', r->end);
                if (p) {
                    total += (size_t)(p - r->buf);
                    r->start = (size_t)(p - r->buf) + 1;
                    break;
                }
                total += r->end;
                r->end = 0;
                if (r->eof) break;
            }
            *len = total;
            *number = ++r->number;
            return SENTINEL_LINE_TOO_LONG;
        }
        if (fill(r) < 0) return SENTINEL_LINE_ERROR;
    }
}

const char *sentinel_line_reader_head(const sentinel_line_reader_t *r, size_t *len) {
    *len = r->head_len;
    return r->head ? r->head : "";
}
