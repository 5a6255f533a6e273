/* kafka_conf.h -- the librdkafka side of the connection settings: a
 * client configuration built from a sentinel_conf_t (base/conf.c). */
#ifndef SENTINEL_KAFKA_CONF_H
#define SENTINEL_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>

#include <sentinel/conf.h>

/* new: a librdkafka configuration: bootstrap.servers, then `defaults`
 * (key, value, ..., NULL; may be NULL), then every -X property, so a user's
 * -X always wins. For the caller to hand to rd_kafka_new(). NULL with
 * errstr set on failure. */
rd_kafka_conf_t *sentinel_conf_kafka_new(const sentinel_conf_t *conf, const char *const *defaults,
                                         char *errstr, size_t errstr_size);

#endif
