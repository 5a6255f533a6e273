/* topic.h -- the event topic's life cycle: create it when missing. */
#ifndef SENTINEL_TOPIC_H
#define SENTINEL_TOPIC_H

#include <librdkafka/rdkafka.h>

#include <sentinel/conf.h>

/* Create `topic` with `partitions` partitions (replication factor of the
 * cluster's default, unlimited retention) unless it exists already; an
 * existing topic is left as it is. RETRIABLE on timeouts, FATAL otherwise. */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_topic_ensure(const sentinel_conf_t *conf,
                                                        const char *topic, int partitions,
                                                        char *errstr, size_t errstr_size);

/* The number of partitions of `topic` as the client `rk` sees it, or -1
 * with the reason in errstr (unknown topic, broker unreachable). */
int sentinel_topic_partitions(rd_kafka_t *rk, const char *topic, char *errstr, size_t errstr_size);

/* The first offset (*lo) and the end (*hi: the high watermark, or the last
 * stable offset for a read_committed client) of partitions
 * [first, first + count) of `topic`, asked of their leaders in one
 * ListOffsets round trip each way, within `timeout_ms` whatever the
 * brokers do. lo or hi may be NULL. Returns librdkafka's error. */
rd_kafka_resp_err_t sentinel_topic_bounds(rd_kafka_t *rk, const char *topic, int32_t first,
                                          int count, int64_t *lo, int64_t *hi, int timeout_ms);

#endif
