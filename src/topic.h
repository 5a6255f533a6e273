/* topic.h -- the event topic's life cycle: create it when missing. */
#ifndef SENTINEL_TOPIC_H
#define SENTINEL_TOPIC_H

#include "conf.h"

/* Create `topic` with `partitions` partitions (replication factor of the
 * cluster's default, unlimited retention) unless it exists already; an
 * existing topic is left as it is. RETRIABLE on timeouts, FATAL otherwise. */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_topic_ensure(const sentinel_conf_t *conf,
                                                        const char *topic, int partitions,
                                                        char *errstr, size_t errstr_size);

#endif
