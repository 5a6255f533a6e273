/* test_conf.c -- connection settings: defaults, environment, flags, -X. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sentinel/conf.h>
#include "base/kafka_conf.h"

static int clear_env(void **state) {
    (void)state;
    unsetenv("SENTINEL_KAFKA_BROKERS");
    unsetenv("SENTINEL_DATABASE_URL");
    unsetenv("SENTINEL_TOPIC");
    unsetenv("SENTINEL_GROUP_PREFIX");
    return 0;
}

static void test_defaults(void **state) {
    (void)state;
    sentinel_conf_t *conf = sentinel_conf_new();
    assert_string_equal(sentinel_conf_brokers(conf), "127.0.0.1:19092");
    assert_string_equal(sentinel_conf_topic(conf), "sentinel.events");
    assert_string_equal(sentinel_conf_group_prefix(conf), "sentinel");
    assert_string_equal(sentinel_conf_db(conf), "");
    sentinel_conf_destroy(conf);
}

static void test_environment_then_flag(void **state) {
    (void)state;
    setenv("SENTINEL_KAFKA_BROKERS", "10.0.0.1:9092", 1);
    setenv("SENTINEL_TOPIC", "other.events", 1);
    setenv("SENTINEL_DATABASE_URL", "postgresql://x@y/z", 1);
    sentinel_conf_t *conf = sentinel_conf_new();
    assert_string_equal(sentinel_conf_brokers(conf), "10.0.0.1:9092");
    assert_string_equal(sentinel_conf_topic(conf), "other.events");
    assert_string_equal(sentinel_conf_db(conf), "postgresql://x@y/z");

    char errstr[256];
    assert_int_equal(sentinel_conf_set(conf, "brokers", "a:1,b:2", errstr, sizeof(errstr)), 0);
    assert_string_equal(sentinel_conf_brokers(conf), "a:1,b:2");
    assert_int_equal(sentinel_conf_set(conf, "group.prefix", "staging", errstr, sizeof(errstr)), 0);
    assert_string_equal(sentinel_conf_group_prefix(conf), "staging");
    sentinel_conf_destroy(conf);
}

static void test_bad_settings(void **state) {
    (void)state;
    sentinel_conf_t *conf = sentinel_conf_new();
    char errstr[256];
    assert_int_equal(sentinel_conf_set(conf, "brokres", "x", errstr, sizeof(errstr)),
                     SENTINEL_ERR_INVALID);
    assert_string_equal(errstr, "unknown setting \"brokres\"");
    assert_int_equal(sentinel_conf_set(conf, "topic", "", errstr, sizeof(errstr)),
                     SENTINEL_ERR_INVALID);
    assert_string_equal(errstr, "topic: must not be empty");
    sentinel_conf_destroy(conf);
}

static void test_kafka_passthrough(void **state) {
    (void)state;
    sentinel_conf_t *conf = sentinel_conf_new();
    char errstr[512];
    assert_int_equal(sentinel_conf_set_kafka(conf, "linger.ms=25", errstr, sizeof(errstr)), 0);
    assert_int_equal(sentinel_conf_set_kafka(conf, "client.id=abc=def", errstr, sizeof(errstr)), 0);
    /* -X wins over a caller's defaults; other defaults apply. */
    static const char *const defaults[] = {"linger.ms", "5", "batch.num.messages", "777", NULL};

    rd_kafka_conf_t *kconf = sentinel_conf_kafka_new(conf, defaults, errstr, sizeof(errstr));
    assert_non_null(kconf);
    char value[128];
    size_t size = sizeof(value);
    assert_int_equal(rd_kafka_conf_get(kconf, "linger.ms", value, &size), RD_KAFKA_CONF_OK);
    assert_string_equal(value, "25");
    size = sizeof(value);
    assert_int_equal(rd_kafka_conf_get(kconf, "client.id", value, &size), RD_KAFKA_CONF_OK);
    assert_string_equal(value, "abc=def");
    size = sizeof(value);
    assert_int_equal(rd_kafka_conf_get(kconf, "batch.num.messages", value, &size),
                     RD_KAFKA_CONF_OK);
    assert_string_equal(value, "777");
    size = sizeof(value);
    assert_int_equal(rd_kafka_conf_get(kconf, "bootstrap.servers", value, &size), RD_KAFKA_CONF_OK);
    assert_string_equal(value, "127.0.0.1:19092");
    rd_kafka_conf_destroy(kconf);
    sentinel_conf_destroy(conf);
}

static void test_kafka_passthrough_errors(void **state) {
    (void)state;
    sentinel_conf_t *conf = sentinel_conf_new();
    char errstr[512];
    assert_int_equal(sentinel_conf_set_kafka(conf, "linger.ms", errstr, sizeof(errstr)),
                     SENTINEL_ERR_INVALID);
    assert_string_equal(errstr, "-X: expected key=value (the argument is not shown)");
    assert_int_equal(sentinel_conf_set_kafka(conf, "=5", errstr, sizeof(errstr)),
                     SENTINEL_ERR_INVALID);
    /* librdkafka's own reason is kept: it names the unknown property. */
    assert_int_equal(sentinel_conf_set_kafka(conf, "lingr.ms=5", errstr, sizeof(errstr)),
                     SENTINEL_ERR_INVALID);
    assert_non_null(strstr(errstr, "lingr.ms"));
    assert_int_equal(sentinel_conf_set_kafka(conf, "linger.ms=banana", errstr, sizeof(errstr)),
                     SENTINEL_ERR_INVALID);
    /* A refused value is never echoed: it may be a mistyped secret. */
    assert_non_null(strstr(errstr, "linger.ms"));
    assert_null(strstr(errstr, "banana"));
    sentinel_conf_destroy(conf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clear_env),
        cmocka_unit_test_setup(test_environment_then_flag, clear_env),
        cmocka_unit_test_setup(test_bad_settings, clear_env),
        cmocka_unit_test_setup(test_kafka_passthrough, clear_env),
        cmocka_unit_test_setup(test_kafka_passthrough_errors, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
