/* conf.h -- connection settings of a Sentinel process: Kafka brokers, the
 * PostgreSQL connection string, topic, consumer group prefix and librdkafka
 * properties passed through with -X, resolved as flag > environment > default. */
#ifndef SENTINEL_CONF_H
#define SENTINEL_CONF_H

#include "sentinel.h"

typedef struct sentinel_conf sentinel_conf_t;

#define SENTINEL_DEFAULT_BROKERS "127.0.0.1:19092"
#define SENTINEL_DEFAULT_TOPIC "sentinel.events"
#define SENTINEL_DEFAULT_GROUP_PREFIX "sentinel"
#define SENTINEL_DEFAULT_PARTITIONS 12
#define SENTINEL_DEFAULT_CONNECT_TIMEOUT 30 /* seconds */

/* new: defaults overlaid with SENTINEL_KAFKA_BROKERS, SENTINEL_DATABASE_URL,
 * SENTINEL_TOPIC and SENTINEL_GROUP_PREFIX. Caller frees with _destroy. */
SENTINEL_API sentinel_conf_t *sentinel_conf_new(void);
SENTINEL_API void sentinel_conf_destroy(sentinel_conf_t *conf);

/* Set one setting by name: "brokers", "db", "topic", "group.prefix",
 * "connect.timeout" (whole seconds, at least 1).
 * The value is copied. Unknown names and empty values are INVALID. */
SENTINEL_API SENTINEL_MUSTCHECK sentinel_err_t sentinel_conf_set(sentinel_conf_t *conf,
                                                                 const char *name,
                                                                 const char *value, char *errstr,
                                                                 size_t errstr_size);

/* Add a librdkafka property from "key=value" (the -X flag). It is checked
 * against librdkafka at once, so a typo fails here with librdkafka's reason;
 * no refusal shows the value, and credentials (passwords, secrets) are
 * scrubbed from every message the process prints. A key set again takes
 * the new value. */
SENTINEL_API SENTINEL_MUSTCHECK sentinel_err_t sentinel_conf_set_kafka(sentinel_conf_t *conf,
                                                                       const char *assignment,
                                                                       char *errstr,
                                                                       size_t errstr_size);

/* Add the librdkafka properties of a properties file (key=value lines,
 * blank lines and # comments; the -F flag, as kcat reads). A refusal names
 * the file, the line and the key, never the value. */
SENTINEL_API SENTINEL_MUSTCHECK sentinel_err_t sentinel_conf_kafka_file(sentinel_conf_t *conf,
                                                                        const char *path,
                                                                        char *errstr,
                                                                        size_t errstr_size);

/* Add librdkafka properties from the environment: the file
 * SENTINEL_KAFKA_CONFIG_FILE names, then each SENTINEL_KAFKA_PROP_<NAME>
 * (NAME lower-cased, _ read as .: SENTINEL_KAFKA_PROP_SASL_PASSWORD sets
 * sasl.password). Flags given after this call win. */
SENTINEL_API SENTINEL_MUSTCHECK sentinel_err_t sentinel_conf_kafka_env(sentinel_conf_t *conf,
                                                                       char *errstr,
                                                                       size_t errstr_size);

/* Borrowed strings, valid while conf lives. db may be "" (libpq then reads
 * its own PG* variables). */
SENTINEL_API const char *sentinel_conf_brokers(const sentinel_conf_t *conf);
SENTINEL_API const char *sentinel_conf_db(const sentinel_conf_t *conf);
SENTINEL_API const char *sentinel_conf_topic(const sentinel_conf_t *conf);
SENTINEL_API const char *sentinel_conf_group_prefix(const sentinel_conf_t *conf);
/* How long scripts wait for a broker or the database to answer, in seconds
 * (--connect-timeout, SENTINEL_CONNECT_TIMEOUT, default 30); also libpq's
 * connect_timeout unless the connection string sets one. */
SENTINEL_API int sentinel_conf_connect_timeout(const sentinel_conf_t *conf);

#endif
