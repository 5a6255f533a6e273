/* publisher.c -- validated events to Kafka, Avro-encoded, keyed by workspace. */
#include <sentinel/publisher.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/kafka_conf.h"

struct sentinel_publisher {
    rd_kafka_t *rk;
    char *topic;
    rd_kafka_topic_t *rkt; /* the event topic's handle: no lookup by name per message */
    sentinel_codec_t *codec;
    int transactional;
    int full_queue_wait_ms;
    uint64_t failed_before; /* stats.failed when the transaction began */
    sentinel_delivery_cb_t *on_delivery;
    void *opaque;
    sentinel_publisher_stats_t stats;
    char first_error[512];
    sentinel_bytes_t scratch; /* the event being sent, encoded */
};

/* Producer settings for throughput with ordering and no duplicates: the
 * idempotent producer keeps per-partition order across retries; murmur2
 * partitions keys as the Java client does, so every producer of a
 * workspace agrees on its partition. */
static const char *const producer_defaults[] = {
    "enable.idempotence",
    "true",
    "acks",
    "all",
    "compression.type",
    "lz4",
    "linger.ms",
    "20",
    "batch.num.messages",
    "10000",
    "batch.size",
    "1000000",
    "queue.buffering.max.messages",
    "200000",
    "queue.buffering.max.kbytes",
    "131072",
    "message.max.bytes",
    "2000000",
    "partitioner",
    "murmur2_random",
    NULL,
};

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    sentinel_publisher_t *pub = opaque;
    uint64_t tag = (uint64_t)(uintptr_t)m->_private;
    if (m->err) {
        __atomic_fetch_add(&pub->stats.failed, 1, __ATOMIC_RELAXED);
        if (!pub->first_error[0])
            snprintf(pub->first_error, sizeof(pub->first_error), "%s", rd_kafka_err2str(m->err));
        if (pub->on_delivery) pub->on_delivery(pub->opaque, tag, rd_kafka_err2str(m->err));
    } else {
        __atomic_fetch_add(&pub->stats.delivered, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&pub->stats.bytes, m->len, __ATOMIC_RELAXED);
        if (pub->on_delivery) pub->on_delivery(pub->opaque, tag, NULL);
    }
}

sentinel_publisher_t *sentinel_publisher_new(const sentinel_conf_t *conf,
                                             const sentinel_publisher_options_t *options,
                                             char *errstr, size_t errstr_size) {
    sentinel_publisher_t *pub = sentinel_calloc(1, sizeof(*pub));
    pub->codec = sentinel_codec_new(errstr, errstr_size);
    if (!pub->codec) goto fail;
    pub->topic = sentinel_strdup(sentinel_conf_topic(conf));
    if (options) {
        pub->transactional = options->transactional;
        pub->on_delivery = options->on_delivery;
        pub->opaque = options->opaque;
        pub->full_queue_wait_ms = options->full_queue_wait_ms;
    }
    rd_kafka_conf_t *kconf = sentinel_conf_kafka_new(conf, producer_defaults, errstr, errstr_size);
    if (!kconf) goto fail;
    if (pub->transactional) {
        char txid[256];
        if (options->transactional_id) {
            snprintf(txid, sizeof(txid), "%s", options->transactional_id);
        } else {
            char host[128] = "host";
            gethostname(host, sizeof(host) - 1);
            snprintf(txid, sizeof(txid), "sentinel-publish-%s-%ld", host, (long)getpid());
        }
        if (rd_kafka_conf_set(kconf, "transactional.id", txid, errstr, errstr_size)) {
            rd_kafka_conf_destroy(kconf);
            goto fail;
        }
    }
    rd_kafka_conf_set_dr_msg_cb(kconf, dr_msg_cb);
    rd_kafka_conf_set_opaque(kconf, pub);
    pub->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr, errstr_size);
    if (!pub->rk) {
        rd_kafka_conf_destroy(kconf);
        goto fail;
    }
    pub->rkt = rd_kafka_topic_new(pub->rk, pub->topic, NULL);
    if (!pub->rkt) {
        snprintf(errstr, errstr_size, "topic %s: %s", pub->topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        goto fail;
    }
    if (pub->transactional) {
        rd_kafka_error_t *error = rd_kafka_init_transactions(pub->rk, 60000);
        if (error) {
            snprintf(errstr, errstr_size, "init transactions: %s", rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
            goto fail;
        }
    }
    return pub;
fail:
    sentinel_publisher_destroy(pub);
    return NULL;
}

void sentinel_publisher_destroy(sentinel_publisher_t *pub) {
    if (!pub) return;
    if (pub->rk) {
        rd_kafka_flush(pub->rk, 30000);
        if (pub->rkt) rd_kafka_topic_destroy(pub->rkt);
        rd_kafka_destroy(pub->rk);
    }
    sentinel_codec_destroy(pub->codec);
    free(pub->scratch.data);
    free(pub->topic);
    free(pub);
}

sentinel_codec_t *sentinel_publisher_codec(sentinel_publisher_t *pub) { return pub->codec; }

/* Hand one message to librdkafka, waiting while its queue is full (up to
 * full_queue_wait_ms when set: then another thread serves the delivery
 * reports that make room). The topic is a handle: a name would be looked
 * up for every message. */
static sentinel_err_t produce(sentinel_publisher_t *pub, rd_kafka_topic_t *rkt, const void *key,
                              size_t key_len, const void *value, size_t len,
                              rd_kafka_headers_t *headers, uint64_t tag, char *errstr,
                              size_t errstr_size) {
    int waited_ms = 0;
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            pub->rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_KEY((void *)key, key_len),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE((void *)(uintptr_t)tag), RD_KAFKA_V_END);
        if (!err) {
            __atomic_fetch_add(&pub->stats.queued, 1, __ATOMIC_RELAXED);
            return SENTINEL_OK;
        }
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !pub->full_queue_wait_ms) {
            rd_kafka_poll(pub->rk, 50);
            continue;
        }
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && waited_ms < pub->full_queue_wait_ms) {
            struct timespec pause = {0, 2 * 1000000L};
            nanosleep(&pause, NULL);
            waited_ms += 2;
            continue;
        }
        rd_kafka_headers_destroy(headers);
        snprintf(errstr, errstr_size, "produce to %s: %s", rd_kafka_topic_name(rkt),
                 rd_kafka_err2str(err));
        return err == RD_KAFKA_RESP_ERR__FATAL ? SENTINEL_ERR_FATAL : SENTINEL_ERR_RETRIABLE;
    }
}

sentinel_err_t sentinel_publisher_send_encoded(sentinel_publisher_t *pub, const char *workspace_id,
                                               const char *event_type, const char *event_id,
                                               const void *value, size_t len, uint64_t tag,
                                               char *errstr, size_t errstr_size) {
    rd_kafka_headers_t *headers = rd_kafka_headers_new(2);
    rd_kafka_header_add(headers, "event_type", 10, event_type, -1);
    rd_kafka_header_add(headers, "event_id", 8, event_id, SENTINEL_UUID_LEN);
    return produce(pub, pub->rkt, workspace_id, SENTINEL_UUID_LEN, value, len, headers, tag, errstr,
                   errstr_size);
}

sentinel_err_t sentinel_publisher_send_event(sentinel_publisher_t *pub, const sentinel_event_t *ev,
                                             uint64_t tag, char *errstr, size_t errstr_size) {
    const void *bytes;
    size_t len;
    sentinel_err_t err = sentinel_event_encode(pub->codec, ev, &bytes, &len, errstr, errstr_size);
    if (err) return err;
    return sentinel_publisher_send_encoded(pub, ev->workspace_id, ev->type->name, ev->event_id,
                                           bytes, len, tag, errstr, errstr_size);
}

sentinel_err_t sentinel_publisher_send_json(sentinel_publisher_t *pub, const char *json, size_t len,
                                            uint64_t tag, char *errstr, size_t errstr_size) {
    sentinel_event_head_t head;
    pub->scratch.len = 0;
    sentinel_err_t err = sentinel_event_json_to_avro(pub->codec, json, len, &pub->scratch, &head,
                                                     errstr, errstr_size);
    if (err) return err;
    return sentinel_publisher_send_encoded(pub, head.workspace_id, head.type->name, head.event_id,
                                           pub->scratch.data, pub->scratch.len, tag, errstr,
                                           errstr_size);
}

sentinel_err_t sentinel_publisher_send_raw(sentinel_publisher_t *pub, const char *topic,
                                           const void *value, size_t len, size_t size,
                                           const char *reason, uint64_t tag, char *errstr,
                                           size_t errstr_size) {
    return sentinel_publisher_send_dead_letter(pub, topic, value, len, size, reason, tag, tag,
                                               errstr, errstr_size);
}

sentinel_err_t sentinel_publisher_send_dead_letter(sentinel_publisher_t *pub, const char *topic,
                                                   const void *value, size_t len, size_t size,
                                                   const char *reason, uint64_t number,
                                                   uint64_t tag, char *errstr, size_t errstr_size) {
    char line[32], whole[32];
    snprintf(line, sizeof(line), "%llu", (unsigned long long)number);
    snprintf(whole, sizeof(whole), "%zu", size);
    rd_kafka_headers_t *headers = rd_kafka_headers_new(3);
    rd_kafka_header_add(headers, "reason", -1, reason, -1);
    rd_kafka_header_add(headers, "line", -1, line, -1);
    rd_kafka_header_add(headers, "size", -1, whole, -1);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(pub->rk, topic, NULL);
    if (!rkt) {
        rd_kafka_headers_destroy(headers);
        snprintf(errstr, errstr_size, "topic %s: %s", topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        return SENTINEL_ERR_FATAL;
    }
    sentinel_err_t err = produce(pub, rkt, NULL, 0, value, len, headers, tag, errstr, errstr_size);
    rd_kafka_topic_destroy(rkt);
    return err;
}

void sentinel_publisher_poll(sentinel_publisher_t *pub) { rd_kafka_poll(pub->rk, 0); }

void sentinel_publisher_wait(sentinel_publisher_t *pub, int timeout_ms) {
    rd_kafka_poll(pub->rk, timeout_ms);
}

int sentinel_publisher_pending(sentinel_publisher_t *pub) { return rd_kafka_outq_len(pub->rk); }

sentinel_err_t sentinel_publisher_flush(sentinel_publisher_t *pub, int timeout_ms, char *errstr,
                                        size_t errstr_size) {
    rd_kafka_resp_err_t err = rd_kafka_flush(pub->rk, timeout_ms);
    if (err) {
        snprintf(errstr, errstr_size, "%d message(s) still unacknowledged after %d ms: %s",
                 rd_kafka_outq_len(pub->rk), timeout_ms, rd_kafka_err2str(err));
        return SENTINEL_ERR_RETRIABLE;
    }
    uint64_t failed = __atomic_load_n(&pub->stats.failed, __ATOMIC_RELAXED) - pub->failed_before;
    if (failed) {
        snprintf(errstr, errstr_size, "%llu message(s) were not delivered: %s",
                 (unsigned long long)failed, pub->first_error);
        return SENTINEL_ERR_FATAL;
    }
    return SENTINEL_OK;
}

static sentinel_err_t txn_result(rd_kafka_error_t *error, const char *what, char *errstr,
                                 size_t errstr_size) {
    if (!error) return SENTINEL_OK;
    snprintf(errstr, errstr_size, "%s: %s", what, rd_kafka_error_string(error));
    sentinel_err_t err =
        rd_kafka_error_is_retriable(error) ? SENTINEL_ERR_RETRIABLE : SENTINEL_ERR_FATAL;
    rd_kafka_error_destroy(error);
    return err;
}

sentinel_err_t sentinel_publisher_begin(sentinel_publisher_t *pub, char *errstr,
                                        size_t errstr_size) {
    pub->failed_before = __atomic_load_n(&pub->stats.failed, __ATOMIC_RELAXED);
    return txn_result(rd_kafka_begin_transaction(pub->rk), "begin transaction", errstr,
                      errstr_size);
}

sentinel_err_t sentinel_publisher_commit(sentinel_publisher_t *pub, char *errstr,
                                         size_t errstr_size) {
    sentinel_err_t err = sentinel_publisher_flush(pub, 120000, errstr, errstr_size);
    if (err) return err;
    return txn_result(rd_kafka_commit_transaction(pub->rk, 120000), "commit transaction", errstr,
                      errstr_size);
}

sentinel_err_t sentinel_publisher_abort(sentinel_publisher_t *pub, char *errstr,
                                        size_t errstr_size) {
    return txn_result(rd_kafka_abort_transaction(pub->rk, 60000), "abort transaction", errstr,
                      errstr_size);
}

void sentinel_publisher_stats(const sentinel_publisher_t *pub, sentinel_publisher_stats_t *stats) {
    *stats = pub->stats;
}
