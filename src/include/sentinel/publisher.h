/* publisher.h -- the C API for integrations: validate events, encode them
 * as Avro and produce them to the event topic, keyed by workspace, with an
 * idempotent (optionally transactional) producer. `sentinel publish` is
 * built on it.
 *
 *   sentinel_publisher_t *pub = sentinel_publisher_new(conf, NULL, errstr, sizeof(errstr));
 *   sentinel_publisher_send_json(pub, line, len, 0, errstr, sizeof(errstr));
 *   sentinel_publisher_flush(pub, 30000, errstr, sizeof(errstr));
 *   sentinel_publisher_destroy(pub);
 */
#ifndef SENTINEL_PUBLISHER_H
#define SENTINEL_PUBLISHER_H

#include <stdint.h>

#include "conf.h"
#include "event.h"

typedef struct sentinel_publisher sentinel_publisher_t;

/* Called from sentinel_publisher_poll/flush for each message the broker
 * acknowledged or gave up on: `error` is NULL on success. `tag` is what the
 * sender passed (the CLI passes the input line number). */
typedef void(sentinel_delivery_cb_t)(void *opaque, uint64_t tag, const char *error);

typedef struct sentinel_publisher_options {
    int transactional;            /* use a Kafka transaction (begin/commit/abort) */
    const char *transactional_id; /* default: sentinel-publish-<host>-<pid> */
    sentinel_delivery_cb_t *on_delivery;
    void *opaque;
    /* How long a send waits for room when the local queue is full before
     * it fails RETRIABLE; 0 waits until there is room. */
    int full_queue_wait_ms;
} sentinel_publisher_options_t;

/* new: a publisher to conf's brokers and topic. options may be NULL. With
 * transactional, the producer's transactions are initialised here.
 * NULL with the reason in errstr. */
SENTINEL_API sentinel_publisher_t *
sentinel_publisher_new(const sentinel_conf_t *conf, const sentinel_publisher_options_t *options,
                       char *errstr, size_t errstr_size);

/* Flushes what is pending (up to 30 s), then frees everything. */
SENTINEL_API void sentinel_publisher_destroy(sentinel_publisher_t *pub);

/* The codec in use (borrowed), for settings such as the size limit. */
SENTINEL_API sentinel_codec_t *sentinel_publisher_codec(sentinel_publisher_t *pub);

/* Validate a JSON event and queue it. INVALID: the event was rejected
 * (errstr has the reason) and nothing was queued. RETRIABLE/FATAL: Kafka
 * refused it. Blocks while the local queue is full (bounded memory). */
SENTINEL_API SENTINEL_MUSTCHECK sentinel_err_t
sentinel_publisher_send_json(sentinel_publisher_t *pub, const char *json, size_t len, uint64_t tag,
                             char *errstr, size_t errstr_size);

/* Queue an already validated event. */
SENTINEL_API SENTINEL_MUSTCHECK sentinel_err_t
sentinel_publisher_send_event(sentinel_publisher_t *pub, const sentinel_event_t *ev, uint64_t tag,
                              char *errstr, size_t errstr_size);

/* Queue an event already encoded (by sentinel_event_encode): its workspace
 * id is the key, its type and id the headers. */
SENTINEL_API SENTINEL_MUSTCHECK sentinel_err_t
sentinel_publisher_send_encoded(sentinel_publisher_t *pub, const char *workspace_id,
                                const char *event_type, const char *event_id, const void *value,
                                size_t len, uint64_t tag, char *errstr, size_t errstr_size);

/* Queue raw bytes to another topic (the dead-letter topic of rejected
 * input lines), with headers `reason`, `line` (the tag: the line number)
 * and `size` (the whole record's size, which is more than len when only
 * its first bytes are sent). */
SENTINEL_API SENTINEL_MUSTCHECK sentinel_err_t sentinel_publisher_send_raw(
    sentinel_publisher_t *pub, const char *topic, const void *value, size_t len, size_t size,
    const char *reason, uint64_t tag, char *errstr, size_t errstr_size);

/* send_raw with the `line` header apart from the tag (a gateway tags a
 * message with its request and numbers it within the request). */
SENTINEL_API SENTINEL_MUSTCHECK sentinel_err_t sentinel_publisher_send_dead_letter(
    sentinel_publisher_t *pub, const char *topic, const void *value, size_t len, size_t size,
    const char *reason, uint64_t line, uint64_t tag, char *errstr, size_t errstr_size);

/* Serve delivery reports without blocking. */
SENTINEL_API void sentinel_publisher_poll(sentinel_publisher_t *pub);

/* Serve delivery reports, waiting up to timeout_ms for the first: the loop
 * of a thread that serves them for senders on other threads. The send
 * functions but send_json may be called from many threads at once. */
SENTINEL_API void sentinel_publisher_wait(sentinel_publisher_t *pub, int timeout_ms);

/* Messages queued and not yet acknowledged or failed. */
SENTINEL_API int sentinel_publisher_pending(sentinel_publisher_t *pub);

/* Wait until every queued message is acknowledged or failed. FATAL if any
 * message failed since the publisher was made; RETRIABLE on timeout. */
SENTINEL_API SENTINEL_MUSTCHECK sentinel_err_t sentinel_publisher_flush(sentinel_publisher_t *pub,
                                                                        int timeout_ms,
                                                                        char *errstr,
                                                                        size_t errstr_size);

/* Transactions (transactional publishers only). commit flushes first and
 * fails if a message of the transaction failed; on any failure the caller
 * aborts. */
SENTINEL_API SENTINEL_MUSTCHECK sentinel_err_t sentinel_publisher_begin(sentinel_publisher_t *pub,
                                                                        char *errstr,
                                                                        size_t errstr_size);
SENTINEL_API SENTINEL_MUSTCHECK sentinel_err_t sentinel_publisher_commit(sentinel_publisher_t *pub,
                                                                         char *errstr,
                                                                         size_t errstr_size);
SENTINEL_API SENTINEL_MUSTCHECK sentinel_err_t sentinel_publisher_abort(sentinel_publisher_t *pub,
                                                                        char *errstr,
                                                                        size_t errstr_size);

typedef struct sentinel_publisher_stats {
    uint64_t queued;    /* messages handed to Kafka */
    uint64_t delivered; /* acknowledged by the broker */
    uint64_t failed;    /* given up on */
    uint64_t bytes;     /* value bytes delivered */
} sentinel_publisher_stats_t;

SENTINEL_API void sentinel_publisher_stats(const sentinel_publisher_t *pub,
                                           sentinel_publisher_stats_t *stats);

#endif
