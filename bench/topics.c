/* topics.c -- deletes the topics a benchmark made: every topic whose name
 * starts with one of the PREFIXes (a run's topic and its dead-letter topic
 * share one). A long-lived machine otherwise keeps every run's topics, and
 * a broker holding thousands of partitions starts slowly and answers
 * unevenly. Prints what it deleted; exits 1 when the broker refused.
 *   bench_topics BROKERS PREFIX... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

static int starts_with_any(const char *name, char **prefixes, int n) {
    for (int i = 0; i < n; i++)
        if (!strncmp(name, prefixes[i], strlen(prefixes[i]))) return 1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_topics BROKERS PREFIX...\n");
        return 2;
    }
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof(errstr))) {
        fprintf(stderr, "bench_topics: %s\n", errstr);
        return 2;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "bench_topics: %s\n", errstr);
        return 2;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
    if (err) {
        fprintf(stderr, "bench_topics: listing topics: %s\n", rd_kafka_err2str(err));
        rd_kafka_destroy(rk);
        return 1;
    }
    rd_kafka_DeleteTopic_t **del = calloc((size_t)md->topic_cnt + 1, sizeof(*del));
    int n = 0;
    for (int i = 0; i < md->topic_cnt; i++)
        if (starts_with_any(md->topics[i].topic, argv + 2, argc - 2))
            del[n++] = rd_kafka_DeleteTopic_new(md->topics[i].topic);
    rd_kafka_metadata_destroy(md);
    int rc = 0;
    if (n) {
        rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
        rd_kafka_DeleteTopics(rk, del, (size_t)n, NULL, queue);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(queue, 60000);
        if (!ev || rd_kafka_event_error(ev)) {
            fprintf(stderr, "bench_topics: deleting: %s\n",
                    ev ? rd_kafka_event_error_string(ev) : "no answer in 60 s");
            rc = 1;
        } else {
            size_t count = 0;
            const rd_kafka_topic_result_t **res =
                rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &count);
            for (size_t i = 0; i < count; i++) {
                if (rd_kafka_topic_result_error(res[i])) {
                    fprintf(stderr, "bench_topics: %s: %s\n", rd_kafka_topic_result_name(res[i]),
                            rd_kafka_topic_result_error_string(res[i]));
                    rc = 1;
                } else {
                    printf("deleted %s\n", rd_kafka_topic_result_name(res[i]));
                }
            }
        }
        if (ev) rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(queue);
        rd_kafka_DeleteTopic_destroy_array(del, (size_t)n);
    }
    free(del);
    rd_kafka_destroy(rk);
    return rc;
}
