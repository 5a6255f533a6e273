/* publish_api.c -- the C API's publish rate (src/include/sentinel/publisher.h), from memory:
 * first JSON strings through sentinel_publisher_send_json (the one-pass
 * path), then events already built through sentinel_publisher_send_event.
 * The first DISTINCT lines of INPUT are held in memory and sent in turn
 * until EVENTS have gone; each phase ends with a flush, so its time is
 * until the broker acknowledged everything.
 *   bench_publish_api INPUT EVENTS TOPIC_PREFIX [DISTINCT] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sentinel/publisher.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static sentinel_publisher_t *publisher(const char *topic) {
    char errstr[512];
    const char *brokers = getenv("SENTINEL_KAFKA_BROKERS");
    sentinel_conf_t *conf = sentinel_conf_new();
    if ((brokers && sentinel_conf_set(conf, "brokers", brokers, errstr, sizeof(errstr))) ||
        sentinel_conf_set(conf, "topic", topic, errstr, sizeof(errstr))) {
        fprintf(stderr, "bench_publish_api: %s\n", errstr);
        exit(1);
    }
    sentinel_publisher_t *pub = sentinel_publisher_new(conf, NULL, errstr, sizeof(errstr));
    sentinel_conf_destroy(conf);
    if (!pub) {
        fprintf(stderr, "bench_publish_api: %s\n", errstr);
        exit(1);
    }
    return pub;
}

static void finish(sentinel_publisher_t *pub, const char *what, long events, double started) {
    char errstr[512];
    if (sentinel_publisher_flush(pub, 120000, errstr, sizeof(errstr))) {
        fprintf(stderr, "bench_publish_api: %s: %s\n", what, errstr);
        exit(1);
    }
    double seconds = now() - started;
    printf("%-30s %10.2f %12.0f\n", what, seconds, events / seconds);
    sentinel_publisher_destroy(pub);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench_publish_api INPUT EVENTS TOPIC_PREFIX [DISTINCT]\n");
        return 2;
    }
    long events = atol(argv[2]), distinct = argc > 4 ? atol(argv[4]) : 20000;
    FILE *in = fopen(argv[1], "r");
    if (!in) {
        perror(argv[1]);
        return 1;
    }
    char **lines = calloc((size_t)distinct, sizeof(*lines));
    size_t *lens = calloc((size_t)distinct, sizeof(*lens));
    long n = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while (n < distinct && (len = getline(&line, &cap, in)) > 0) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        lines[n] = strndup(line, (size_t)len);
        lens[n++] = (size_t)len;
    }
    free(line);
    fclose(in);
    if (!n) return 1;

    char topic[256], errstr[1024];
    snprintf(topic, sizeof(topic), "%s.json", argv[3]);
    sentinel_publisher_t *pub = publisher(topic);
    double started = now();
    for (long i = 0; i < events; i++) {
        if (sentinel_publisher_send_json(pub, lines[i % n], lens[i % n], (uint64_t)i, errstr,
                                         sizeof(errstr))) {
            fprintf(stderr, "bench_publish_api: line %ld: %s\n", i % n + 1, errstr);
            return 1;
        }
        if (i % 1024 == 0) sentinel_publisher_poll(pub);
    }
    finish(pub, "send_json (JSON strings)", events, started);

    snprintf(topic, sizeof(topic), "%s.event", argv[3]);
    pub = publisher(topic);
    sentinel_event_t *evs = calloc((size_t)n, sizeof(*evs));
    for (long i = 0; i < n; i++)
        if (sentinel_event_from_json(sentinel_publisher_codec(pub), lines[i], lens[i], &evs[i],
                                     errstr, sizeof(errstr)))
            return 1;
    started = now();
    for (long i = 0; i < events; i++) {
        if (sentinel_publisher_send_event(pub, &evs[i % n], (uint64_t)i, errstr, sizeof(errstr))) {
            fprintf(stderr, "bench_publish_api: event %ld: %s\n", i % n, errstr);
            return 1;
        }
        if (i % 1024 == 0) sentinel_publisher_poll(pub);
    }
    finish(pub, "send_event (built events)", events, started);
    for (long i = 0; i < n; i++) {
        sentinel_event_clear(&evs[i]);
        free(lines[i]);
    }
    free(evs);
    free(lines);
    free(lens);
    return 0;
}
