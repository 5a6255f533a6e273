/* publish_events.c -- an integration as a user writes one, against the
 * installed library only: NDJSON events on standard input are validated,
 * encoded and published to TOPIC on the brokers of SENTINEL_KAFKA_BROKERS
 * (default: the library's). Prints "published N rejected M"; exits 1 on
 * any failure to publish.
 *   publish_events TOPIC < events.ndjson */
#define _POSIX_C_SOURCE 200809L /* getline */

#include <sentinel/publisher.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    char errstr[512];
    if (argc != 2) {
        fprintf(stderr, "usage: publish_events TOPIC < events.ndjson\n");
        return 2;
    }
    sentinel_conf_t *conf = sentinel_conf_new();
    const char *brokers = getenv("SENTINEL_KAFKA_BROKERS");
    if ((brokers && sentinel_conf_set(conf, "brokers", brokers, errstr, sizeof(errstr))) ||
        sentinel_conf_set(conf, "topic", argv[1], errstr, sizeof(errstr))) {
        fprintf(stderr, "publish_events: %s\n", errstr);
        return 1;
    }
    sentinel_publisher_t *pub = sentinel_publisher_new(conf, NULL, errstr, sizeof(errstr));
    sentinel_conf_destroy(conf);
    if (!pub) {
        fprintf(stderr, "publish_events: %s\n", errstr);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned long lineno = 0, rejected = 0;
    int rc = 0;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        lineno++;
        sentinel_err_t err =
            sentinel_publisher_send_json(pub, line, (size_t)len, lineno, errstr, sizeof(errstr));
        if (err == SENTINEL_ERR_INVALID) {
            fprintf(stderr, "line %lu: %s\n", lineno, errstr);
            rejected++;
        } else if (err != SENTINEL_OK) {
            fprintf(stderr, "line %lu: %s: %s\n", lineno, sentinel_err_name(err), errstr);
            rc = 1;
            break;
        }
    }
    free(line);
    if (sentinel_publisher_flush(pub, 30000, errstr, sizeof(errstr)) != SENTINEL_OK) {
        fprintf(stderr, "publish_events: %s\n", errstr);
        rc = 1;
    }
    sentinel_publisher_stats_t stats;
    sentinel_publisher_stats(pub, &stats);
    printf("published %llu rejected %lu\n", (unsigned long long)stats.delivered, rejected);
    sentinel_publisher_destroy(pub);
    return rc;
}
