/* conf.c -- connection settings, resolved as flag > environment > default. */
#include <sentinel/conf.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/kafka_conf.h"

typedef struct kafka_prop {
    char *key;
    char *value;
} kafka_prop_t;

struct sentinel_conf {
    char *brokers;
    char *db;
    char *topic;
    char *group_prefix;
    int connect_timeout; /* seconds */
    kafka_prop_t *props;
    size_t props_len;
    size_t props_cap;
};

static char *xstrdup(const char *s) {
    char *copy = sentinel_strdup(s);
    return copy;
}

static char *env_or(const char *name, const char *fallback) {
    const char *v = getenv(name);
    return xstrdup(v && *v ? v : fallback);
}

sentinel_conf_t *sentinel_conf_new(void) {
    sentinel_conf_t *conf = sentinel_calloc(1, sizeof(*conf));
    conf->brokers = env_or("SENTINEL_KAFKA_BROKERS", SENTINEL_DEFAULT_BROKERS);
    conf->db = env_or("SENTINEL_DATABASE_URL", "");
    conf->topic = env_or("SENTINEL_TOPIC", SENTINEL_DEFAULT_TOPIC);
    conf->group_prefix = env_or("SENTINEL_GROUP_PREFIX", SENTINEL_DEFAULT_GROUP_PREFIX);
    conf->connect_timeout = SENTINEL_DEFAULT_CONNECT_TIMEOUT;
    const char *timeout = getenv("SENTINEL_CONNECT_TIMEOUT");
    if (timeout && atoi(timeout) >= 1) conf->connect_timeout = atoi(timeout);
    return conf;
}

void sentinel_conf_destroy(sentinel_conf_t *conf) {
    if (!conf) return;
    free(conf->brokers);
    free(conf->db);
    free(conf->topic);
    free(conf->group_prefix);
    for (size_t i = 0; i < conf->props_len; i++) {
        free(conf->props[i].key);
        free(conf->props[i].value);
    }
    free(conf->props);
    free(conf);
}

sentinel_err_t sentinel_conf_set(sentinel_conf_t *conf, const char *name, const char *value,
                                 char *errstr, size_t errstr_size) {
    char **slot;
    if (!strcmp(name, "connect.timeout")) {
        char *end = NULL;
        long seconds = strtol(value, &end, 10);
        if (!*value || *end || seconds < 1 || seconds > 86400) {
            snprintf(errstr, errstr_size,
                     "connect timeout: \"%s\" is not a number of seconds "
                     "from 1 to 86400",
                     value);
            return SENTINEL_ERR_INVALID;
        }
        conf->connect_timeout = (int)seconds;
        return SENTINEL_OK;
    }
    if (!strcmp(name, "brokers"))
        slot = &conf->brokers;
    else if (!strcmp(name, "db"))
        slot = &conf->db;
    else if (!strcmp(name, "topic"))
        slot = &conf->topic;
    else if (!strcmp(name, "group.prefix"))
        slot = &conf->group_prefix;
    else {
        snprintf(errstr, errstr_size, "unknown setting \"%s\"", name);
        return SENTINEL_ERR_INVALID;
    }
    /* An empty db means "use libpq's PG* variables"; the others need a value. */
    if (!*value && slot != &conf->db) {
        snprintf(errstr, errstr_size, "%s: must not be empty", name);
        return SENTINEL_ERR_INVALID;
    }
    free(*slot);
    *slot = xstrdup(value);
    return SENTINEL_OK;
}

sentinel_err_t sentinel_conf_set_kafka(sentinel_conf_t *conf, const char *assignment, char *errstr,
                                       size_t errstr_size) {
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment) {
        snprintf(errstr, errstr_size, "-X %s: expected key=value", assignment);
        return SENTINEL_ERR_INVALID;
    }
    char *key = sentinel_strndup(assignment, (size_t)(eq - assignment));

    /* Validate against librdkafka now rather than at the first connect. */
    char kerr[512];
    rd_kafka_conf_t *probe = rd_kafka_conf_new();
    rd_kafka_conf_res_t res = rd_kafka_conf_set(probe, key, eq + 1, kerr, sizeof(kerr));
    rd_kafka_conf_destroy(probe);
    if (res != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "-X %s: %s", assignment, kerr);
        free(key);
        return SENTINEL_ERR_INVALID;
    }

    if (conf->props_len == conf->props_cap) {
        size_t cap = conf->props_cap ? conf->props_cap * 2 : 8;
        kafka_prop_t *grown = sentinel_realloc(conf->props, cap * sizeof(*grown));
        conf->props = grown;
        conf->props_cap = cap;
    }
    conf->props[conf->props_len].key = key;
    conf->props[conf->props_len].value = xstrdup(eq + 1);
    conf->props_len++;
    return SENTINEL_OK;
}

const char *sentinel_conf_brokers(const sentinel_conf_t *conf) { return conf->brokers; }
const char *sentinel_conf_db(const sentinel_conf_t *conf) { return conf->db; }
const char *sentinel_conf_topic(const sentinel_conf_t *conf) { return conf->topic; }
const char *sentinel_conf_group_prefix(const sentinel_conf_t *conf) { return conf->group_prefix; }
int sentinel_conf_connect_timeout(const sentinel_conf_t *conf) { return conf->connect_timeout; }

rd_kafka_conf_t *sentinel_conf_kafka_new(const sentinel_conf_t *conf, const char *const *defaults,
                                         char *errstr, size_t errstr_size) {
    rd_kafka_conf_t *kconf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(kconf, "bootstrap.servers", conf->brokers, errstr, errstr_size) !=
        RD_KAFKA_CONF_OK)
        goto fail;
    for (size_t i = 0; defaults && defaults[i]; i += 2) {
        if (rd_kafka_conf_set(kconf, defaults[i], defaults[i + 1], errstr, errstr_size) !=
            RD_KAFKA_CONF_OK)
            goto fail;
    }
    for (size_t i = 0; i < conf->props_len; i++) {
        if (rd_kafka_conf_set(kconf, conf->props[i].key, conf->props[i].value, errstr,
                              errstr_size) != RD_KAFKA_CONF_OK)
            goto fail;
    }
    return kconf;
fail:
    rd_kafka_conf_destroy(kconf);
    return NULL;
}
