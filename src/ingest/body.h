/* body.h -- the events of a request's body: NDJSON (one event a line) or
 * a JSON array of events. Only the outline is read here (where each event
 * starts and ends); each event is then checked as `sentinel publish`
 * checks a line. */
#ifndef SENTINEL_INGEST_BODY_H
#define SENTINEL_INGEST_BODY_H

#include <stddef.h>

typedef struct ingest_item {
    const char *text; /* borrowed from the body */
    size_t len;
} ingest_item_t;

typedef enum ingest_body_result {
    INGEST_BODY_OK,
    INGEST_BODY_NOT_JSON, /* 400: no JSON array, or no NDJSON, at all */
    INGEST_BODY_TOO_MANY, /* 413: more than max_items events */
} ingest_body_result_t;

/* Split body[0..len) into its events, at most max_items of them, into
 * items; *count is how many. errstr says why on failure. */
ingest_body_result_t ingest_body_split(const char *body, size_t len, int ndjson,
                                       ingest_item_t *items, size_t max_items, size_t *count,
                                       char *errstr, size_t errstr_size);

#endif
