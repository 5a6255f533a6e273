/* test_metrics.c -- `sentinel project --metrics-listen` watched by a real
 * Prometheus (Debian's package, started here on 127.0.0.1): it scrapes the
 * projector until the applied counter equals the events published and the
 * lag is 0; promtool accepts the exposition; /healthz and /readyz answer;
 * and the stall watchdog turns /readyz unready, naming the projector, while
 * a table it writes is locked, and ready again after. The process logs
 * JSON lines (--log-format json); `status --json` and `dead-letters --json`
 * say the same as the metrics. */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <poll.h>
#include <sys/resource.h>
#include <time.h>

#include <cmocka.h>

#include "harness.h"
#include "runtime/run.h"

/* A port nothing listens on now. */
static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* The HTTP status of GET url, and its body in *body (new) when asked. */
static int http_get(const char *url, char **body) {
    char *out = harness_shell(NULL, "curl -s -m 5 -w '\\n%%{http_code}' '%s'", url);
    char *last = strrchr(out, '\n');
    int code = last ? atoi(last + 1) : 0;
    if (last) *last = '\0';
    if (body)
        *body = out;
    else
        free(out);
    return code;
}

/* One number from Prometheus's query API, or -1 while there is none. */
static double prom_query(int port, const char *query) {
    char *out = harness_shell(NULL,
                              "curl -s -m 5 -G 'http://127.0.0.1:%d/api/v1/query' "
                              "--data-urlencode 'query=%s'",
                              port, query);
    json_t *root = json_loads(out, 0, NULL);
    free(out);
    double v = -1;
    json_t *result = json_object_get(json_object_get(root, "data"), "result");
    if (json_array_size(result) == 1) {
        const char *s = json_string_value(
            json_array_get(json_object_get(json_array_get(result, 0), "value"), 1));
        if (s) v = atof(s);
    }
    json_decref(root);
    return v;
}

static pid_t start_prometheus(const char *dir, int port, int target) {
    char path[512];
    snprintf(path, sizeof(path), "%s/prometheus.yml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: sentinel\n    static_configs:\n"
            "      - targets: ['127.0.0.1:%d']\n",
            target);
    fclose(f);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (!pid) {
        char config[600], storage[600], listen[64], log[600];
        snprintf(config, sizeof(config), "--config.file=%s", path);
        snprintf(storage, sizeof(storage), "--storage.tsdb.path=%s/data", dir);
        snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", port);
        snprintf(log, sizeof(log), "%s/prometheus.log", dir);
        /* Nothing of the test's output stays open in it: ctest waits for that. */
        if (!freopen(log, "w", stderr) || !freopen("/dev/null", "w", stdout)) _exit(126);
        execlp("prometheus", "prometheus", config, storage, listen, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* The processes a test started, stopped by the teardown should it fail. */
static pid_t sentinel_pid, prometheus_pid;

static int stop_children(void **state) {
    (void)state;
    if (sentinel_pid > 0) kill(sentinel_pid, SIGKILL);
    if (prometheus_pid > 0) kill(prometheus_pid, SIGKILL);
    if (sentinel_pid > 0) waitpid(sentinel_pid, NULL, 0);
    if (prometheus_pid > 0) waitpid(prometheus_pid, NULL, 0);
    sentinel_pid = prometheus_pid = 0;
    return 0;
}

static void test_prometheus_watches_a_projector(void **state) {
    (void)state;
    char *name;
    char *conninfo = harness_migrated_database("sentinel_metrics", 8, &name);
    char *topic = harness_unique_name("test.metrics");
    char *prefix = harness_unique_name("metrics");
    char *events = harness_gen("--events 3000 --seed 21");
    assert_int_equal(harness_publish(topic, events), 0);
    int rc;
    char *lines = harness_shell(&rc, "wc -l < %s", events);
    long published = atol(lines);
    free(lines);
    assert_true(published == 3000);

    int port = free_port(), prom_port = free_port();
    char dir[] = "/tmp/sentinel_prometheus_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char args[2048], log[600];
    snprintf(log, sizeof(log), "%s/sentinel.log", dir);
    /* In two lanes: a projector's lanes count as one projector, each
     * partition's lag from the lane that has it. */
    snprintf(args, sizeof(args),
             "project --db \"%s\" --topic %s --group-prefix %s --metrics-listen 127.0.0.1:%d "
             "--stall-seconds 5 --log-format json --lanes 2",
             conninfo, topic, prefix, port);
    pid_t sentinel = sentinel_pid = harness_spawn_sentinel(args, log);
    pid_t prometheus = prometheus_pid = start_prometheus(dir, prom_port, port);

    /* Prometheus sees every event applied once (a briefing's progress after
     * its end is applied as a no-op: ignored), and no lag left. */
    double applied = -1, lag = -1;
    for (int i = 0; i < 240 && (applied != published || lag != 0); i++) {
        usleep(500 * 1000);
        applied = prom_query(prom_port, "sum(sentinel_events_total{outcome=~\"applied|ignored\"})");
        lag = prom_query(prom_port, "max(sentinel_lag_messages)");
    }
    if (applied != published || lag != 0) {
        char *l = harness_read_file(log);
        fail_msg("Prometheus saw %.0f applied of %ld, lag %.0f; sentinel's log:\n%s", applied,
                 published, lag, l);
    }
    assert_true(
        prom_query(prom_port, "sum(sentinel_events_total{outcome=~\"duplicate|rejected\"})") == 0);
    assert_true(prom_query(prom_port, "sum(sentinel_freshness_seconds_count)") == published);

    /* The exposition passes promtool; health and readiness answer. */
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    char *out = harness_shell(&rc, "curl -s -m 5 %s | promtool check metrics 2>&1", url);
    if (rc) fail_msg("promtool check metrics: %s", out);
    free(out);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
    assert_int_equal(http_get(url, NULL), 200);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", port);
    assert_int_equal(http_get(url, NULL), 200);

    /* A table of the activities projector locked: new activity events wait,
     * and the watchdog calls it stalled after --stall-seconds. /readyz
     * names every stalled projector (others may be slow on a busy machine). */
    PGconn *owner = harness_connect(harness_as_owner(conninfo));
    harness_exec(owner, "BEGIN");
    harness_exec(owner, "LOCK TABLE activities IN ACCESS EXCLUSIVE MODE");
    char *more = harness_gen("--events 400 --seed 22 --orphans 0.2");
    assert_int_equal(harness_publish(topic, more), 0);
    char *body = NULL;
    int code = 200;
    for (int i = 0; i < 480 && code != 503; i++) {
        usleep(250 * 1000);
        free(body);
        body = NULL;
        code = http_get(url, &body);
    }
    assert_int_equal(code, 503);
    if (!strstr(body, "activities")) fail_msg("readyz says: %s", body);
    free(body);
    body = NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    http_get(url, &body);
    assert_non_null(strstr(body, "sentinel_stalled{projector=\"activities\"} 1"));
    assert_non_null(strstr(body, "sentinel_ready 0"));
    free(body);

    /* The lock gone, it catches up and is ready again. */
    harness_exec(owner, "ROLLBACK");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", port);
    for (int i = 0; i < 480 && (code = http_get(url, NULL)) != 200; i++)
        usleep(250 * 1000);
    assert_int_equal(code, 200);
    PQfinish(owner);

    /* The orphan runs of the second stream are dead letters: the metric,
     * `dead-letters --json` and `status --json` agree. */
    double open = -1;
    for (int i = 0; i < 60 && open <= 0; i++) {
        usleep(500 * 1000);
        open = prom_query(prom_port, "sum(sentinel_dead_letters_open)");
    }
    char *listing = harness_shell(&rc, "%s dead-letters --json --db \"%s\" 2>/dev/null",
                                  SENTINEL_BINARY, conninfo);
    json_t *dl = json_loads(listing, 0, NULL);
    if (rc || !dl) fail_msg("dead-letters --json: %s", listing);
    assert_true(json_integer_value(json_object_get(dl, "count")) > 0);
    assert_true(open == (double)json_integer_value(json_object_get(dl, "count")));
    const json_t *first = json_array_get(json_object_get(dl, "dead_letters"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "projector")), "runs");
    assert_true(json_is_integer(json_object_get(first, "offset")));
    assert_non_null(json_string_value(json_object_get(first, "reason")));
    json_decref(dl);
    free(listing);
    char *status = harness_shell(&rc, "%s status --json --db \"%s\" --topic %s 2>/dev/null",
                                 SENTINEL_BINARY, conninfo, topic);
    json_t *st = json_loads(status, 0, NULL);
    if (rc || !st) fail_msg("status --json: %s", status);
    assert_string_equal(json_string_value(json_object_get(st, "topic")), topic);
    size_t i;
    json_t *proj;
    json_array_foreach(json_object_get(st, "projectors"), i, proj) {
        assert_int_equal(json_integer_value(json_object_get(proj, "lag")), 0);
        assert_int_equal(json_array_size(json_object_get(proj, "partitions")),
                         json_integer_value(json_object_get(st, "partitions")));
    }
    assert_int_equal(i, 5);
    json_decref(st);
    free(status);

    kill(sentinel, SIGTERM);
    sentinel_pid = 0;
    assert_int_equal(harness_wait(sentinel), 0);
    /* Every line of its log is a JSON object with time, level and message;
     * the projectors' own lines name them. */
    char *log_text = harness_read_file(log);
    int lines_seen = 0, about_runs = 0;
    for (char *line = strtok(log_text, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *l = json_loads(line, 0, NULL);
        if (!l) fail_msg("not a JSON log line: %s", line);
        assert_non_null(json_string_value(json_object_get(l, "time")));
        assert_non_null(json_string_value(json_object_get(l, "level")));
        assert_non_null(json_string_value(json_object_get(l, "message")));
        assert_true(json_is_integer(json_object_get(json_object_get(l, "fields"), "pid")));
        const char *who = json_string_value(json_object_get(l, "projector"));
        about_runs += who && !strcmp(who, "runs");
        lines_seen++;
        json_decref(l);
    }
    assert_true(lines_seen > 3);
    assert_true(about_runs > 0);
    free(log_text);
    kill(prometheus, SIGTERM);
    prometheus_pid = 0;
    waitpid(prometheus, NULL, 0);
    out = harness_shell(NULL, "rm -rf %s", dir);
    free(out);
    harness_drop_database(name);
    unlink(events);
    unlink(more);
    free(events);
    free(more);
    free(prefix);
    free(topic);
    free(name);
    free(conninfo);
}

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* GET /healthz from 127.0.0.1: the status, or 0 when no answer came
 * within `timeout` seconds; the time it took in *took. */
static int probe_healthz(int port, double timeout, double *took) {
    double t0 = mono();
    int fd = harness_dial("127.0.0.1", port), code = 0;
    if (fd >= 0) {
        const char req[] = "GET /healthz HTTP/1.0\r\n\r\n";
        if (write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1)) {
            char buf[512];
            size_t got = 0;
            while (got < sizeof(buf) - 1 && mono() - t0 < timeout) {
                struct pollfd pfd = {.fd = fd, .events = POLLIN};
                if (poll(&pfd, 1, 100) <= 0) continue;
                ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
                if (n <= 0) break;
                got += (size_t)n;
            }
            buf[got] = '\0';
            if (!strncmp(buf, "HTTP/1.", 7) && strlen(buf) > 12) code = atoi(buf + 9);
        }
        close(fd);
    }
    *took = mono() - t0;
    return code;
}

/* A thousand clients trickling headers from one address hold neither
 * /healthz nor more than their address's share of the connections, and
 * each is cut at the header deadline however it trickles. */
static void test_slow_clients_cannot_silence_healthz(void **state) {
    (void)state;
    struct rlimit nofile;
    getrlimit(RLIMIT_NOFILE, &nofile);
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
    if (nofile.rlim_cur < 1300) fail_msg("only %ld descriptors", (long)nofile.rlim_cur);

    char *name;
    char *conninfo = harness_migrated_database("sentinel_slowloris", 0, &name);
    char *topic = harness_unique_name("test.slowloris");
    harness_create_topic(topic, 2);
    int port = free_port();
    char log[] = "/tmp/sentinel_slowloris_XXXXXX";
    close(mkstemp(log));
    char *args = NULL;
    assert_true(asprintf(&args, "project --db \"%s\" --topic %s --metrics-listen 127.0.0.1:%d",
                         conninfo, topic, port) > 0);
    sentinel_pid = harness_spawn_sentinel(args, log);
    double took;
    int code = 0;
    for (int i = 0; i < 300 && code != 200; i++) {
        code = probe_healthz(port, 2, &took);
        if (code != 200) usleep(100000);
    }
    assert_int_equal(code, 200);

    enum { SLOW = 1100 };
    static int fds[SLOW];
    double started = mono();
    for (int i = 0; i < SLOW; i++) {
        fds[i] = harness_dial("127.0.0.2", port);
        if (fds[i] >= 0 && send(fds[i], "GET /healthz HTTP/1.1\r\n", 23, MSG_NOSIGNAL) < 0) {
            close(fds[i]);
            fds[i] = -1;
        }
    }
    double worst = 0;
    int probes = 0, open_early = -1, open_late = -1;
    while (mono() - started < 12) {
        /* Every second a header line on each connection still open. */
        for (int i = 0; i < SLOW; i++) {
            if (fds[i] < 0) continue;
            if (harness_closed_by_server(fds[i]) ||
                send(fds[i], "X-Slow: 1\r\n", 11, MSG_NOSIGNAL) < 0) {
                close(fds[i]);
                fds[i] = -1;
            }
        }
        int open = 0;
        for (int i = 0; i < SLOW; i++)
            open += fds[i] >= 0;
        if (open_early < 0 && mono() - started > 2) open_early = open;
        if (mono() - started > 9) open_late = open;
        code = probe_healthz(port, 2, &took);
        if (code != 200)
            fail_msg("/healthz answered %d after %.2f s while %d clients trickle", code, took,
                     open);
        if (took > worst) worst = took;
        probes++;
        usleep(500000);
    }
    print_message("%d probes, the slowest %.3f s; trickling connections open: %d at 2 s, %d at "
                  "9 s\n",
                  probes, worst, open_early, open_late);
    assert_true(worst < 2);
    /* One address holds at most its share (32) ... */
    assert_true(open_early <= 32);
    /* ... and a request that trickles in is cut at its deadline (5 s). */
    assert_int_equal(open_late, 0);
    for (int i = 0; i < SLOW; i++)
        if (fds[i] >= 0) close(fds[i]);

    kill(sentinel_pid, SIGTERM);
    assert_int_equal(harness_wait(sentinel_pid), 0);
    sentinel_pid = 0;
    unlink(log);
    free(args);
    harness_drop_database(name);
    free(name);
    free(topic);
    free(conninfo);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_prometheus_watches_a_projector, stop_children),
        cmocka_unit_test_teardown(test_slow_clients_cannot_silence_healthz, stop_children),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
