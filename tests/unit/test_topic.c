/* test_topic.c -- the log's bounds as the engine asks for them, against
 * librdkafka's mock cluster: the one fault a real broker cannot give on
 * cue here is a partition leader that goes down and stays down while the
 * client still names it. The ask must keep to its timeout then: a reader
 * that waits on it stops polling and leaves its group. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/topic.h"

#define TOPIC "events"

typedef struct world {
    rd_kafka_t *mock; /* owns the mock cluster */
    rd_kafka_mock_cluster_t *mc;
    rd_kafka_t *rk; /* the client under test */
} world_t;

static rd_kafka_t *client(const char *bootstraps, rd_kafka_type_t type) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, errstr, sizeof(errstr)),
        RD_KAFKA_CONF_OK);
    if (type == RD_KAFKA_CONSUMER)
        assert_int_equal(rd_kafka_conf_set(conf, "group.id", "bounds", errstr, sizeof(errstr)),
                         RD_KAFKA_CONF_OK);
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!rk) fail_msg("rd_kafka_new: %s", errstr);
    return rk;
}

static int setup(void **state) {
    world_t *w = calloc(1, sizeof(*w));
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
    w->mock = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(w->mock);
    w->mc = rd_kafka_mock_cluster_new(w->mock, 3);
    assert_non_null(w->mc);
    assert_int_equal(rd_kafka_mock_topic_create(w->mc, TOPIC, 4, 3), 0);
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(w->mc);
    /* Ten messages in partition 0, none elsewhere. */
    rd_kafka_t *producer = client(bootstraps, RD_KAFKA_PRODUCER);
    for (int i = 0; i < 10; i++)
        assert_int_equal(rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(TOPIC),
                                           RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_VALUE("x", 1),
                                           RD_KAFKA_V_END),
                         0);
    assert_int_equal(rd_kafka_flush(producer, 10000), 0);
    rd_kafka_destroy(producer);
    w->rk = client(bootstraps, RD_KAFKA_CONSUMER);
    *state = w;
    return 0;
}

static int teardown(void **state) {
    world_t *w = *state;
    rd_kafka_destroy(w->rk);
    rd_kafka_mock_cluster_destroy(w->mc);
    rd_kafka_destroy(w->mock);
    free(w);
    return 0;
}

static void test_bounds_of_every_partition(void **state) {
    world_t *w = *state;
    int64_t lo[4], hi[4];
    assert_int_equal(sentinel_topic_bounds(w->rk, TOPIC, 0, 4, lo, hi, 10000), 0);
    assert_int_equal(lo[0], 0);
    assert_int_equal(hi[0], 10);
    for (int p = 1; p < 4; p++) {
        assert_int_equal(lo[p], 0);
        assert_int_equal(hi[p], 0);
    }
    /* One partition, ends only. */
    int64_t end = -1;
    assert_int_equal(sentinel_topic_bounds(w->rk, TOPIC, 0, 1, NULL, &end, 10000), 0);
    assert_int_equal(end, 10);
}

static void hung(int sig) {
    (void)sig;
    static const char msg[] = "sentinel_topic_bounds did not return within 60 s of a 2 s timeout\n";
    (void)!write(2, msg, sizeof(msg) - 1);
    _exit(1);
}

/* The leader of partition 1 goes down after the client learnt it: the ask
 * fails within its timeout instead of waiting on the dead broker. */
static void test_a_dead_leader_is_not_waited_for(void **state) {
    world_t *w = *state;
    /* A leader that moves is followed: the first ask may meet the old
     * leader's refusal, a later one asks the new leader. */
    assert_int_equal(rd_kafka_mock_partition_set_leader(w->mc, TOPIC, 1, 2), 0);
    int64_t hi[4];
    int ok = 0;
    for (int i = 0; i < 20 && !ok; i++)
        if (!(ok = !sentinel_topic_bounds(w->rk, TOPIC, 0, 4, NULL, hi, 2000))) usleep(100000);
    assert_true(ok);
    assert_int_equal(rd_kafka_mock_broker_set_down(w->mc, 2), 0);
    signal(SIGALRM, hung);
    alarm(60); /* a hang fails the test rather than the suite's timeout */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rd_kafka_resp_err_t err = sentinel_topic_bounds(w->rk, TOPIC, 0, 4, NULL, hi, 2000);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    alarm(0);
    assert_int_not_equal(err, 0);
    /* within its 2 s timeout, and a little for the sanitizers */
    double took = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (took > 2 + 2) fail_msg("the ask took %.1f s with a timeout of 2 s", took);
    /* Back up, the same question has its answer again. */
    assert_int_equal(rd_kafka_mock_broker_set_up(w->mc, 2), 0);
    ok = 0;
    for (int i = 0; i < 20 && !ok; i++)
        if (!(ok = !sentinel_topic_bounds(w->rk, TOPIC, 0, 4, NULL, hi, 2000))) usleep(100000);
    assert_true(ok);
    assert_int_equal(hi[0], 10);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_of_every_partition),
        cmocka_unit_test(test_a_dead_leader_is_not_waited_for),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
