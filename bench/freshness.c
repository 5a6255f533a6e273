/* freshness.c -- end-to-end freshness under a steady load: publishes the
 * lines of an NDJSON file at RATE events/s for SECONDS, and MARKERS times a
 * second (default 1) a marker RunStarted of its own; for each marker, the time from the broker's
 * acknowledgement to its run row being committed (seen by polling
 * PostgreSQL every 2 ms). A `sentinel project` runs beside it. Prints the
 * percentiles; never fails on a number.
 *   bench_freshness BROKERS TOPIC CONNINFO EVENTS.ndjson RATE SECONDS [MARKERS] */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sentinel/publisher.h>
#include "base/timestamp.h"

#define MAX_MARKERS 4000
#define MARKER_TAG (1ULL << 62)

typedef struct marker {
    char run_id[40];
    double acked, seen;
} marker_t;

static marker_t markers[MAX_MARKERS];
static int n_markers;

static void on_delivery(void *opaque, uint64_t tag, const char *error) {
    (void)opaque;
    if (!(tag & MARKER_TAG) || error) return;
    markers[tag & ~MARKER_TAG].acked = sentinel_monotonic_seconds();
}

static char **read_lines(const char *path, size_t *n) {
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    char **lines = NULL, *line = NULL;
    size_t cap = 0, size = 0;
    ssize_t len;
    *n = 0;
    while ((len = getline(&line, &size, f)) > 0) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 4096;
            lines = realloc(lines, cap * sizeof(*lines));
            if (!lines) abort();
        }
        line[len - 1] = line[len - 1] == '\n' ? '\0' : line[len - 1];
        lines[(*n)++] = strdup(line);
    }
    free(line);
    fclose(f);
    return lines;
}

/* Poll for the markers not yet seen. */
static void look(PGconn *pg) {
    char ids[MAX_MARKERS * 40 + 4] = "{";
    int any = 0;
    for (int i = 0; i < n_markers; i++) {
        if (markers[i].seen || !markers[i].acked) continue;
        strcat(ids, any ? "," : "");
        strcat(ids, markers[i].run_id);
        any = 1;
    }
    if (!any) return;
    strcat(ids, "}");
    const char *params[1] = {ids};
    PGresult *res = PQexecParams(pg, "SELECT id::text FROM runs WHERE id = ANY($1::uuid[])", 1,
                                 NULL, params, NULL, NULL, 0);
    double now = sentinel_monotonic_seconds();
    for (int r = 0; PQresultStatus(res) == PGRES_TUPLES_OK && r < PQntuples(res); r++)
        for (int i = 0; i < n_markers; i++)
            if (!strcmp(markers[i].run_id, PQgetvalue(res, r, 0)) && !markers[i].seen)
                markers[i].seen = now;
    PQclear(res);
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The p-th percentile of n sorted values (nearest rank), -1 for none. */
static double percentile(const double *sorted, int n, int p) {
    if (!n) return -1.0;
    int rank = (n * p + 99) / 100; /* ceil(n * p / 100) */
    return sorted[rank > 0 ? rank - 1 : 0];
}

int main(int argc, char **argv) {
    if (argc != 7 && argc != 8) {
        fprintf(stderr,
                "usage: bench_freshness BROKERS TOPIC CONNINFO EVENTS RATE SECONDS [MARKERS]\n");
        return 2;
    }
    double rate = atof(argv[5]);
    int seconds = atoi(argv[6]);
    double per_second = argc == 8 ? atof(argv[7]) : 1.0;
    if (per_second <= 0) per_second = 1.0;
    size_t n_lines;
    char **lines = read_lines(argv[4], &n_lines);
    sentinel_conf_t *conf = sentinel_conf_new();
    char errstr[1024];
    if (sentinel_conf_set(conf, "brokers", argv[1], errstr, sizeof(errstr)) ||
        sentinel_conf_set(conf, "topic", argv[2], errstr, sizeof(errstr))) {
        fprintf(stderr, "%s\n", errstr);
        return 2;
    }
    sentinel_publisher_options_t popt = {0};
    popt.on_delivery = on_delivery;
    sentinel_publisher_t *pub = sentinel_publisher_new(conf, &popt, errstr, sizeof(errstr));
    PGconn *pg = PQconnectdb(argv[3]);
    if (!pub || PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "%s%s\n", pub ? "" : errstr, PQerrorMessage(pg));
        return 2;
    }
    srand((unsigned)time(NULL));
    double t0 = sentinel_monotonic_seconds(), next_marker = t0 + 0.5;
    size_t sent = 0, next_line = 0;
    /* `seconds` of load and at least seconds * per_second markers: the
     * first goes half a second in, so time alone would send two fewer. */
    int want = (int)(seconds * per_second);
    if (want > MAX_MARKERS) want = MAX_MARKERS;
    while (sentinel_monotonic_seconds() - t0 < seconds || n_markers < want) {
        double now = sentinel_monotonic_seconds();
        size_t due = (size_t)((now - t0) * rate);
        for (; sent < due; sent++) {
            const char *line = lines[next_line++ % n_lines];
            if (sentinel_publisher_send_json(pub, line, strlen(line), sent, errstr, sizeof(errstr)))
                fprintf(stderr, "background: %s\n", errstr);
        }
        if (now >= next_marker && n_markers < MAX_MARKERS) {
            marker_t *m = &markers[n_markers];
            snprintf(m->run_id, sizeof(m->run_id), "f0000000-0000-4000-8000-%012x",
                     (unsigned)(rand() & 0xffffff) << 8 | (unsigned)n_markers);
            char ts[SENTINEL_TIMESTAMP_MAX], json[1024];
            struct timespec wall;
            clock_gettime(CLOCK_REALTIME, &wall);
            sentinel_timestamp_format((int64_t)wall.tv_sec * 1000000 + wall.tv_nsec / 1000, ts);
            snprintf(json, sizeof(json),
                     "{\"event_id\":\"%s\",\"type\":\"RunStarted\",\"workspace_id\":"
                     "\"a0000000-0000-4000-8000-000000000001\",\"occurred_at\":\"%s\","
                     "\"data\":{\"run_id\":\"%s\",\"repository_id\":"
                     "\"b0000000-0000-4000-8000-000001000001\",\"external_reference\":"
                     "\"freshness/%d\",\"started_at\":\"%s\"}}",
                     m->run_id, ts, m->run_id, n_markers, ts);
            if (sentinel_publisher_send_json(pub, json, strlen(json),
                                             MARKER_TAG | (uint64_t)n_markers, errstr,
                                             sizeof(errstr)))
                fprintf(stderr, "marker: %s\n", errstr);
            n_markers++;
            next_marker += 1.0 / per_second;
        }
        sentinel_publisher_poll(pub);
        look(pg);
        usleep(2000);
    }
    /* Up to 15 s more for the last markers. */
    for (double end = sentinel_monotonic_seconds() + 15; sentinel_monotonic_seconds() < end;) {
        sentinel_publisher_poll(pub);
        look(pg);
        int waiting = 0;
        for (int i = 0; i < n_markers; i++)
            waiting += !markers[i].seen;
        if (!waiting) break;
        usleep(2000);
    }
    double lat[MAX_MARKERS];
    int n = 0, lost = 0;
    for (int i = 0; i < n_markers; i++) {
        if (markers[i].seen && markers[i].acked)
            lat[n++] = (markers[i].seen - markers[i].acked) * 1000;
        else
            lost++;
    }
    qsort(lat, (size_t)n, sizeof(lat[0]), by_value);
    if (getenv("FRESHNESS_ALL"))
        for (int i = 0; i < n; i++)
            fprintf(stderr, "%.0f%c", lat[i], i + 1 < n ? ' ' : '\n');
    printf("%.0f %d %.0f %.0f %.0f %.0f %d\n", rate, n, percentile(lat, n, 50),
           percentile(lat, n, 90), percentile(lat, n, 99), n ? lat[n - 1] : -1.0, lost);
    sentinel_publisher_destroy(pub);
    PQfinish(pg);
    sentinel_conf_destroy(conf);
    for (size_t i = 0; i < n_lines; i++)
        free(lines[i]);
    free(lines);
    return 0;
}
