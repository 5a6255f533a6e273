/* conf.c -- connection settings, resolved as flag > environment > default. */
#include <sentinel/conf.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/kafka_conf.h"
#include "base/log.h"
#include "base/secret.h"

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

/* A property whose value is a credential: never shown, scrubbed from
 * every message. */
static int secret_key(const char *key) {
    return strstr(key, "password") || strstr(key, "secret") || strstr(key, ".key.pem") ||
           strstr(key, "sasl.oauthbearer.config") || strstr(key, "sasl.username");
}

/* Check key=value against librdkafka now rather than at the first connect,
 * and keep it. `where` names the source in a refusal ("-X", "FILE:LINE",
 * "SENTINEL_KAFKA_PROP_..."); a refusal never shows the value. */
static sentinel_err_t set_kafka_property(sentinel_conf_t *conf, const char *where, const char *key,
                                         const char *value, char *errstr, size_t errstr_size) {
    if (secret_key(key)) sentinel_secret_add(value, strlen(value));
    char kerr[512], shown[512];
    rd_kafka_conf_t *probe = rd_kafka_conf_new();
    rd_kafka_conf_res_t res = rd_kafka_conf_set(probe, key, value, kerr, sizeof(kerr));
    rd_kafka_conf_destroy(probe);
    if (res != RD_KAFKA_CONF_OK) {
        /* librdkafka quotes a refused value: say why in its words but
         * without it. */
        if (res == RD_KAFKA_CONF_UNKNOWN) {
            snprintf(shown, sizeof(shown), "no such librdkafka property");
        } else {
            sentinel_secret_add(value, strlen(value));
            sentinel_secret_scrub(kerr, shown, sizeof(shown));
        }
        snprintf(errstr, errstr_size, "%s %s: %s (the value is not shown)", where, key, shown);
        return SENTINEL_ERR_INVALID;
    }
    for (size_t i = 0; i < conf->props_len; i++) {
        if (strcmp(conf->props[i].key, key)) continue;
        free(conf->props[i].value);
        conf->props[i].value = xstrdup(value);
        return SENTINEL_OK;
    }
    if (conf->props_len == conf->props_cap) {
        size_t cap = conf->props_cap ? conf->props_cap * 2 : 8;
        kafka_prop_t *grown = sentinel_realloc(conf->props, cap * sizeof(*grown));
        conf->props = grown;
        conf->props_cap = cap;
    }
    conf->props[conf->props_len].key = xstrdup(key);
    conf->props[conf->props_len].value = xstrdup(value);
    conf->props_len++;
    return SENTINEL_OK;
}

sentinel_err_t sentinel_conf_set_kafka(sentinel_conf_t *conf, const char *assignment, char *errstr,
                                       size_t errstr_size) {
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment) {
        /* No "=": the whole argument may be a mistyped secret. */
        snprintf(errstr, errstr_size, "-X: expected key=value (the argument is not shown)");
        return SENTINEL_ERR_INVALID;
    }
    char *key = sentinel_strndup(assignment, (size_t)(eq - assignment));
    sentinel_err_t err = set_kafka_property(conf, "-X", key, eq + 1, errstr, errstr_size);
    free(key);
    return err;
}

/* s without the blanks around it, in place. */
static char *trim(char *s) {
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

sentinel_err_t sentinel_conf_kafka_file(sentinel_conf_t *conf, const char *path, char *errstr,
                                        size_t errstr_size) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(errstr, errstr_size, "-F %s: %s", path, strerror(errno));
        return SENTINEL_ERR_INVALID;
    }
    char line[8192], where[512];
    sentinel_err_t err = SENTINEL_OK;
    for (unsigned long number = 1; !err && fgets(line, sizeof(line), f); number++) {
        snprintf(where, sizeof(where), "-F %s:%lu:", path, number);
        size_t len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
            snprintf(errstr, errstr_size, "%s a line longer than %zu bytes", where,
                     sizeof(line) - 2);
            err = SENTINEL_ERR_INVALID;
            break;
        }
        char *text = trim(line);
        if (!*text || *text == '#') continue;
        char *eq = strchr(text, '=');
        if (!eq || eq == text) {
            snprintf(errstr, errstr_size, "%s expected key=value (the line is not shown)", where);
            err = SENTINEL_ERR_INVALID;
            break;
        }
        *eq = '\0';
        err = set_kafka_property(conf, where, trim(text), trim(eq + 1), errstr, errstr_size);
    }
    fclose(f);
    return err;
}

sentinel_err_t sentinel_conf_kafka_env(sentinel_conf_t *conf, char *errstr, size_t errstr_size) {
    const char *file = getenv("SENTINEL_KAFKA_CONFIG_FILE");
    if (file && *file) {
        sentinel_err_t err = sentinel_conf_kafka_file(conf, file, errstr, errstr_size);
        if (err) return err;
    }
    extern char **environ;
    static const char prefix[] = "SENTINEL_KAFKA_PROP_";
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, prefix, sizeof(prefix) - 1)) continue;
        const char *name = *e + sizeof(prefix) - 1, *eq = strchr(name, '=');
        if (!eq || eq == name) continue;
        char *key = sentinel_strndup(name, (size_t)(eq - name));
        for (char *k = key; *k; k++)
            *k = *k == '_' ? '.' : (char)tolower((unsigned char)*k);
        char where[256];
        snprintf(where, sizeof(where), "%.*s:", (int)(eq - *e), *e);
        sentinel_err_t err = set_kafka_property(conf, where, key, eq + 1, errstr, errstr_size);
        free(key);
        if (err) return err;
    }
    return SENTINEL_OK;
}

const char *sentinel_conf_brokers(const sentinel_conf_t *conf) { return conf->brokers; }
const char *sentinel_conf_db(const sentinel_conf_t *conf) { return conf->db; }
const char *sentinel_conf_topic(const sentinel_conf_t *conf) { return conf->topic; }
const char *sentinel_conf_group_prefix(const sentinel_conf_t *conf) { return conf->group_prefix; }
int sentinel_conf_connect_timeout(const sentinel_conf_t *conf) { return conf->connect_timeout; }

/* librdkafka's own lines go through the engine's log: secrets scrubbed,
 * JSON when the log is JSON. */
static void kafka_log(const rd_kafka_t *rk, int level, const char *facility, const char *buf) {
    (void)rk;
    sentinel_log_level_t ours = level <= 3   ? SENTINEL_LOG_ERROR
                                : level <= 5 ? SENTINEL_LOG_WARN
                                : level == 6 ? SENTINEL_LOG_INFO
                                             : SENTINEL_LOG_DEBUG;
    sentinel_log(ours, "kafka: %s: %s", facility, buf);
}

rd_kafka_conf_t *sentinel_conf_kafka_new(const sentinel_conf_t *conf, const char *const *defaults,
                                         char *errstr, size_t errstr_size) {
    rd_kafka_conf_t *kconf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(kconf, kafka_log);
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
