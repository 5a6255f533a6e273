/* test_kafka.c -- the real broker: produce (lz4) and consume in order, a
 * transactional producer whose aborted message a read_committed consumer
 * never sees, and a consumer group joined through subscribe(). Retries of
 * an idempotent producer meet a real fault in test_cluster.c (a broker
 * killed under `publish`: every line once). And the harness itself: a test
 * process deletes, at exit, the topics it named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "harness.h"

static rd_kafka_conf_t *base_conf(void) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", harness_brokers(), errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    return conf;
}

static void set(rd_kafka_conf_t *conf, const char *key, const char *value) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        fail_msg("%s=%s: %s", key, value, errstr);
}

static void produce(rd_kafka_t *rk, const char *topic, int32_t partition, const char *value) {
    rd_kafka_resp_err_t err =
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                          RD_KAFKA_V_VALUE((void *)value, strlen(value)), RD_KAFKA_V_KEY("k", 1),
                          RD_KAFKA_V_HEADER("event_type", "Test", -1),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err) fail_msg("produce: %s", rd_kafka_err2str(err));
}

static rd_kafka_t *assigned_consumer(const char *topic, const char *isolation) {
    char errstr[512];
    rd_kafka_conf_t *conf = base_conf();
    char *group = harness_unique_name("test.assign");
    set(conf, "group.id", group);
    free(group);
    set(conf, "isolation.level", isolation);
    set(conf, "enable.auto.commit", "false");
    set(conf, "enable.partition.eof", "true");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, parts), 0);
    rd_kafka_topic_partition_list_destroy(parts);
    return rk;
}

/* Read values until partition EOF; returns them joined by ','. */
static char *read_until_eof(rd_kafka_t *rk) {
    char *joined = calloc(1, 1);
    for (int i = 0; i < 300; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            return joined;
        }
        if (m->err) fail_msg("consume: %s", rd_kafka_message_errstr(m));
        size_t len = strlen(joined);
        joined = realloc(joined, len + m->len + 2);
        if (len) joined[len++] = ',';
        memcpy(joined + len, m->payload, m->len);
        joined[len + m->len] = '\0';
        rd_kafka_message_destroy(m);
    }
    fail_msg("no partition EOF in 30 s");
    return NULL;
}

static void test_produce_consume_in_order(void **state) {
    (void)state;
    char errstr[512];
    char *topic = harness_unique_name("test.kafka.plain");
    harness_create_topic(topic, 1);

    rd_kafka_conf_t *conf = base_conf();
    set(conf, "enable.idempotence", "true");
    set(conf, "compression.type", "lz4");
    rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(producer);
    for (int i = 0; i < 100; i++) {
        char v[16];
        snprintf(v, sizeof(v), "m%d", i);
        produce(producer, topic, 0, v);
    }
    assert_int_equal(rd_kafka_flush(producer, 30000), 0);
    rd_kafka_destroy(producer);

    rd_kafka_t *consumer = assigned_consumer(topic, "read_committed");
    char *values = read_until_eof(consumer);
    assert_true(strncmp(values, "m0,m1,m2,", 9) == 0);
    size_t commas = 0;
    for (char *p = values; *p; p++)
        commas += *p == ',';
    assert_int_equal(commas, 99);
    assert_non_null(strstr(values, ",m99"));
    free(values);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    free(topic);
}

static void test_transaction_abort_is_invisible(void **state) {
    (void)state;
    char errstr[512];
    char *topic = harness_unique_name("test.kafka.txn");
    harness_create_topic(topic, 1);

    rd_kafka_conf_t *conf = base_conf();
    char *txid = harness_unique_name("test.txn");
    set(conf, "transactional.id", txid);
    free(txid);
    rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(producer);

    rd_kafka_error_t *error = rd_kafka_init_transactions(producer, 30000);
    if (error) fail_msg("init_transactions: %s", rd_kafka_error_string(error));

    assert_null(rd_kafka_begin_transaction(producer));
    produce(producer, topic, 0, "committed-1");
    error = rd_kafka_commit_transaction(producer, 30000);
    if (error) fail_msg("commit: %s", rd_kafka_error_string(error));

    assert_null(rd_kafka_begin_transaction(producer));
    produce(producer, topic, 0, "aborted");
    assert_int_equal(rd_kafka_flush(producer, 30000), 0); /* it really reaches the log */
    error = rd_kafka_abort_transaction(producer, 30000);
    if (error) fail_msg("abort: %s", rd_kafka_error_string(error));

    assert_null(rd_kafka_begin_transaction(producer));
    produce(producer, topic, 0, "committed-2");
    error = rd_kafka_commit_transaction(producer, 30000);
    if (error) fail_msg("commit: %s", rd_kafka_error_string(error));
    rd_kafka_destroy(producer);

    rd_kafka_t *committed = assigned_consumer(topic, "read_committed");
    char *values = read_until_eof(committed);
    assert_string_equal(values, "committed-1,committed-2");
    free(values);
    rd_kafka_destroy(committed);

    /* The aborted record is in the log: read_uncommitted shows it, which
     * proves the read_committed consumer filtered it rather than missed it. */
    rd_kafka_t *uncommitted = assigned_consumer(topic, "read_uncommitted");
    values = read_until_eof(uncommitted);
    assert_string_equal(values, "committed-1,aborted,committed-2");
    free(values);
    rd_kafka_destroy(uncommitted);
    free(topic);
}

static int rebalance_assigned;

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rebalance_assigned += parts->cnt;
        rd_kafka_assign(rk, parts);
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

/* Debian's librdkafka 2.0.2 needs JoinGroup v0 from the broker; a broker
 * without it makes subscribe() fail. This catches a broker upgrade that
 * breaks consumer groups. */
static void test_consumer_group_subscribe(void **state) {
    (void)state;
    char errstr[512];
    char *topic = harness_unique_name("test.kafka.group");
    harness_create_topic(topic, 3);

    rd_kafka_conf_t *pconf = base_conf();
    rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, sizeof(errstr));
    for (int p = 0; p < 3; p++)
        produce(producer, topic, p, "hello");
    assert_int_equal(rd_kafka_flush(producer, 30000), 0);
    rd_kafka_destroy(producer);

    rd_kafka_conf_t *conf = base_conf();
    char *group = harness_unique_name("test.group");
    set(conf, "group.id", group);
    set(conf, "auto.offset.reset", "earliest");
    set(conf, "enable.auto.commit", "false");
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    assert_non_null(consumer);
    rd_kafka_poll_set_consumer(consumer);

    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(consumer, sub), 0);
    rd_kafka_topic_partition_list_destroy(sub);

    int seen = 0;
    for (int i = 0; i < 300 && seen < 3; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 100);
        if (!m) continue;
        if (m->err) fail_msg("group consume: %s", rd_kafka_message_errstr(m));
        seen++;
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(rebalance_assigned, 3);
    assert_int_equal(seen, 3);

    /* The group coordinator knows the member. */
    const struct rd_kafka_group_list *groups = NULL;
    assert_int_equal(rd_kafka_list_groups(consumer, group, &groups, 10000), 0);
    assert_int_equal(groups->group_cnt, 1);
    assert_int_equal(groups->groups[0].member_cnt, 1);
    rd_kafka_group_list_destroy(groups);

    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    free(group);
    free(topic);
}

/* How many topics' names start with `prefix`, in the broker's list of
 * every topic (a metadata request for one name could create it). */
static int topics_named(const char *prefix) {
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, base_conf(), errstr, sizeof(errstr));
    assert_non_null(rk);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
    if (err) fail_msg("listing topics: %s", rd_kafka_err2str(err));
    int n = 0;
    for (int i = 0; i < md->topic_cnt; i++)
        n += !strncmp(md->topics[i].topic, prefix, strlen(prefix));
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return n;
}

/* A test process's topics go when it exits: a forked child names a topic
 * and its dead-letter topic, creates both and exits; then neither is left.
 * The parent's own names stay its own (the child deletes only its). */
static void test_a_test_process_deletes_its_topics(void **state) {
    (void)state;
    char *parents = harness_unique_name("test.kept");
    harness_create_topic(parents, 1);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        char *topic = harness_unique_name("test.leftover"), *dead = NULL;
        if (asprintf(&dead, "%s.dead-letter", topic) < 0) _exit(2);
        harness_create_topic(topic, 2);
        harness_create_topic(dead, 1);
        int made = topics_named(topic);
        if (write(fds[1], topic, strlen(topic)) < 0) _exit(2);
        close(fds[1]);
        free(topic);
        free(dead);
        exit(made == 2 ? 0 : 3); /* exit(), not _exit(): the handlers run */
    }
    close(fds[1]);
    char name[256] = {0};
    ssize_t got = read(fds[0], name, sizeof(name) - 1);
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(got > 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    int left = 2;
    for (int i = 0; i < 50 && (left = topics_named(name)); i++)
        usleep(200 * 1000);
    if (left) fail_msg("%d topic(s) named %s left after its process exited", left, name);
    assert_int_equal(topics_named(parents), 1);
    free(parents);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_produce_consume_in_order),
        cmocka_unit_test(test_transaction_abort_is_invisible),
        cmocka_unit_test(test_consumer_group_subscribe),
        /* Last: should its forked child fail, cmocka would run any later
         * test in the child too. */
        cmocka_unit_test(test_a_test_process_deletes_its_topics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
