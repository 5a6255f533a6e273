/* topic.c -- create the event topic through the Kafka admin API. */
#include "base/topic.h"

#include <stdio.h>

#include "base/kafka_conf.h"
#include "base/timestamp.h"

sentinel_err_t sentinel_topic_ensure(const sentinel_conf_t *conf, const char *topic, int partitions,
                                     char *errstr, size_t errstr_size) {
    rd_kafka_conf_t *kconf = sentinel_conf_kafka_new(conf, NULL, errstr, errstr_size);
    if (!kconf) return SENTINEL_ERR_FATAL;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(kconf);
        return SENTINEL_ERR_FATAL;
    }

    sentinel_err_t err = SENTINEL_OK;
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, -1, errstr, errstr_size);
    if (!nt) {
        rd_kafka_destroy(rk);
        return SENTINEL_ERR_FATAL;
    }
    /* The log is the replay source: keep it forever. */
    if (rd_kafka_NewTopic_set_config(nt, "retention.ms", "-1") ||
        rd_kafka_NewTopic_set_config(nt, "retention.bytes", "-1")) {
        snprintf(errstr, errstr_size, "%s: cannot set topic retention", topic);
        err = SENTINEL_ERR_FATAL;
        goto out;
    }

    /* As long as --connect-timeout says a broker may take to answer (a day
     * at most). */
    int seconds = sentinel_conf_connect_timeout(conf);
    int timeout_ms = (seconds > 86400 ? 86400 : seconds) * 1000;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    (void)rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, NULL, 0);
    (void)rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, NULL, 0);
    rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 5000);
    if (!ev) {
        snprintf(errstr, errstr_size, "%s: create topic: no answer from %s in %d s", topic,
                 sentinel_conf_brokers(conf), timeout_ms / 1000 + 5);
        err = SENTINEL_ERR_RETRIABLE;
    } else if (rd_kafka_event_error(ev)) {
        snprintf(errstr, errstr_size, "%s: create topic: %s", topic,
                 rd_kafka_event_error_string(ev));
        err = rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR__TIMED_OUT ? SENTINEL_ERR_RETRIABLE
                                                                       : SENTINEL_ERR_FATAL;
    } else {
        size_t cnt = 0;
        const rd_kafka_topic_result_t **results =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                snprintf(errstr, errstr_size, "%s: create topic: %s", topic,
                         rd_kafka_topic_result_error_string(results[i]));
                err = SENTINEL_ERR_FATAL;
            }
        }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
out:
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
    return err;
}

int sentinel_topic_partitions(rd_kafka_t *rk, const char *topic, char *errstr, size_t errstr_size) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int partitions = -1;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (err) {
        snprintf(errstr, errstr_size, "%s: metadata: %s", topic, rd_kafka_err2str(err));
    } else if (!md->topic_cnt || md->topics[0].err) {
        snprintf(
            errstr, errstr_size, "%s: %s", topic,
            rd_kafka_err2str(md->topic_cnt ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
    } else {
        partitions = md->topics[0].partition_cnt;
    }
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return partitions;
}

/* One ListOffsets round trip for partitions [first, first + count): the
 * offset at `at` (RD_KAFKA_OFFSET_BEGINNING or _END) of each, into out. */
static rd_kafka_resp_err_t list_offsets(rd_kafka_t *rk, const char *topic, int32_t first, int count,
                                        int64_t at, int64_t *out, int timeout_ms) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(count);
    for (int i = 0; i < count; i++)
        rd_kafka_topic_partition_list_add(l, topic, first + i)->offset = at;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, l, timeout_ms);
    for (int i = 0; i < count && !err; i++) {
        const rd_kafka_topic_partition_t *tp = &l->elems[i];
        if (tp->err)
            err = tp->err;
        else if (tp->offset < 0)
            err = RD_KAFKA_RESP_ERR__BAD_MSG; /* not an offset */
        else
            out[tp->partition - first] = tp->offset;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return err;
}

/* Not rd_kafka_query_watermark_offsets: in librdkafka 2.0 it waits past its
 * timeout for a broker that is down, and keeps asking a leader that has
 * moved until the next periodic metadata refresh (fixed upstream in 2.3).
 * rd_kafka_offsets_for_times keeps to its timeout and asks every leader
 * at once. */
rd_kafka_resp_err_t sentinel_topic_bounds(rd_kafka_t *rk, const char *topic, int32_t first,
                                          int count, int64_t *lo, int64_t *hi, int timeout_ms) {
    if (count <= 0) return RD_KAFKA_RESP_ERR_NO_ERROR;
    /* A topic the client holds a handle on is one it refreshes the
     * metadata of when a leader refuses: the next ask finds the new one. */
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    double deadline = sentinel_monotonic_seconds() + timeout_ms / 1000.0;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (hi) err = list_offsets(rk, topic, first, count, RD_KAFKA_OFFSET_END, hi, timeout_ms);
    if (!err && lo) {
        int left = (int)((deadline - sentinel_monotonic_seconds()) * 1000);
        err = left <= 0
                  ? RD_KAFKA_RESP_ERR__TIMED_OUT
                  : list_offsets(rk, topic, first, count, RD_KAFKA_OFFSET_BEGINNING, lo, left);
    }
    if (rkt) rd_kafka_topic_destroy(rkt);
    return err;
}
