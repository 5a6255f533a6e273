/* topic.h -- the event topic's life cycle: create it when missing. */
#ifndef SENTINEL_TOPIC_H
#define SENTINEL_TOPIC_H

#include <librdkafka/rdkafka.h>

#include "conf.h"

/* Create `topic` with `partitions` partitions (replication factor of the
 * cluster's default, unlimited retention) unless it exists already; an
 * existing topic is left as it is. RETRIABLE on timeouts, FATAL otherwise. */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_topic_ensure(const sentinel_conf_t *conf,
                                                        const char *topic, int partitions,
                                                        char *errstr, size_t errstr_size);

/* The number of partitions of `topic` as the client `rk` sees it, or -1
 * with the reason in errstr (unknown topic, broker unreachable). */
int sentinel_topic_partitions(rd_kafka_t *rk, const char *topic, char *errstr, size_t errstr_size);

#endif
