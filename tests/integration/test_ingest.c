/* test_ingest.c -- `sentinel ingest` against the real broker and database,
 * run as the role sentinel_ingest, driven by a client in Python's standard
 * library (ingest_client.py), as an integration in another language is:
 * the same lines posted over HTTP project to exactly what `sentinel
 * publish` gives; an acknowledged event survives kill -9 of the gateway;
 * every refusal of DESIGN.md; tenancy by workspace and installation, and
 * revocation within 5 s; ?atomic=true all or nothing; 503 without a
 * broker; TLS verified by the client; the OpenAPI document served is the
 * repository's, and a real validator accepts it. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define CLIENT "python3 " SENTINEL_SOURCE_DIR "/tests/integration/ingest_client.py"
#define WORKSPACES 8

typedef struct gateway {
    pid_t pid;
    char url[128];
    char log[64];
} gateway_t;

static char *conninfo, *db_name, *owner_info, *ingest_info, *tokens_path;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Start `sentinel ingest` with `args` as sentinel_ingest and wait for its
 * "listening on" line. */
static void gateway_start(gateway_t *gw, const char *topic, const char *args) {
    snprintf(gw->log, sizeof(gw->log), "/tmp/sentinel_ingest_%d_XXXXXX", (int)getpid());
    int fd = mkstemp(gw->log);
    assert_true(fd >= 0);
    close(fd);
    char *cmd = NULL;
    assert_true(asprintf(&cmd, "ingest --db \"%s\" --topic %s %s", ingest_info, topic, args) > 0);
    gw->pid = harness_spawn_sentinel(cmd, gw->log);
    free(cmd);
    for (int i = 0; i < 600; i++) {
        char *log = harness_read_file(gw->log);
        const char *at = strstr(log, "listening on ");
        if (at) {
            snprintf(gw->url, sizeof(gw->url), "%.*s", (int)strcspn(at + 13, "\n"), at + 13);
            free(log);
            return;
        }
        free(log);
        if (waitpid(gw->pid, NULL, WNOHANG) == gw->pid) break;
        usleep(50 * 1000);
    }
    char *log = harness_read_file(gw->log);
    fail_msg("the gateway did not start:\n%s", log);
}

/* SIGTERM: it answers what is in flight and exits 0. */
static void gateway_stop(gateway_t *gw) {
    kill(gw->pid, SIGTERM);
    int rc = harness_wait(gw->pid);
    if (rc) {
        char *log = harness_read_file(gw->log);
        fail_msg("the gateway exited %d:\n%s", rc, log);
    }
    unlink(gw->log);
}

/* One request: its status; *body (new) the response body, *headers its
 * headers as JSON. */
static int request(const gateway_t *gw, const char *extra, char **headers, char **body) {
    int status;
    char *out = harness_shell(&status, CLIENT " request %s %s", gw->url, extra);
    if (status) fail_msg("the client failed (%d) on %s:\n%s", status, extra, out);
    int code = atoi(out);
    char *h = strchr(out, '\n') + 1, *b = strchr(h, '\n') + 1;
    if (headers) *headers = strndup(h, (size_t)(b - h - 1));
    if (body) *body = strdup(b);
    free(out);
    return code;
}

/* A new temporary file holding `data`: its path, to unlink and free. */
static char *body_file(const char *data) {
    char *file = strdup("/tmp/sentinel_ingest_body_XXXXXX");
    int fd = mkstemp(file);
    assert_true(fd >= 0);
    assert_true(write(fd, data, strlen(data)) == (ssize_t)strlen(data));
    close(fd);
    return file;
}

static int post(const gateway_t *gw, const char *token, const char *type, const char *data,
                const char *query, char **body) {
    char *path = NULL, *file = body_file(data);
    assert_true(asprintf(&path, "POST '/v1/events%s' %s%s --type '%s' --data-file %s", query,
                         token ? "--token " : "", token ? token : "", type, file) > 0);
    int code = request(gw, path, NULL, body);
    unlink(file);
    free(file);
    free(path);
    return code;
}

static char *create_token(const char *workspace, const char *extra) {
    char *out = harness_must_run("credentials create --workspace %s --name t%d %s --db \"%s\"",
                                 workspace, rand(), extra, owner_info);
    const char *at = strstr(out, "snt_");
    assert_non_null(at);
    char *token = strndup(at, strcspn(at, "\n"));
    free(out);
    return token;
}

/* A valid event of workspace w (RunStarted of its first repository). */
static char *run_started(int w, const char *repository) {
    char *line = NULL;
    static int counter;
    int n = ++counter;
    assert_true(asprintf(&line,
                         "{\"event_id\":\"c%07d-0000-4000-8000-%012d\",\"type\":\"RunStarted\","
                         "\"workspace_id\":\"%s\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                         "\"data\":{\"run_id\":\"d%07d-0000-4000-8000-%012d\","
                         "\"repository_id\":\"%s\",\"external_reference\":\"org/pull/%d\"}}",
                         getpid() % 10000000, n, harness_workspace_id(w), getpid() % 10000000, n,
                         repository ? repository : harness_repository_id(w, 1), n) > 0);
    return line;
}

static long count_messages(const char *topic, const char *isolation) {
    return harness_consume_all(topic, isolation, NULL, NULL);
}

/* Project `topic` into a fresh database; its conninfo (new), *name its name. */
static char *projected(const char *topic, char **name) {
    char *fresh = harness_migrated_database("sentinel_ingest_proj", WORKSPACES, name);
    char *prefix = harness_unique_name("ingest");
    harness_project(fresh, topic, prefix);
    free(prefix);
    return fresh;
}

/* The projections of the two topics are the same, table by table. */
static void assert_same_projection(const char *topic, const char *ref_topic) {
    char *name = NULL, *ref_name = NULL;
    char *got = projected(topic, &name), *want = projected(ref_topic, &ref_name);
    /* The usage ledger records where each event was read: the topics
     * differ by name, and retried requests shift offsets. */
    const char *both[] = {got, want};
    for (int i = 0; i < 2; i++) {
        PGconn *conn = harness_connect(harness_as_owner(both[i]));
        harness_exec(conn, "ALTER TABLE usage_ledger DISABLE TRIGGER USER");
        harness_exec(conn, "UPDATE usage_ledger SET topic = '', kafka_offset = 0");
        PQfinish(conn);
    }
    harness_assert_same_projection(got, want);
    harness_drop_database(name);
    harness_drop_database(ref_name);
    free(name);
    free(ref_name);
    free(got);
    free(want);
}

static int setup(void **state) {
    (void)state;
    conninfo = harness_migrated_database("sentinel_ingest", WORKSPACES, &db_name);
    owner_info = strdup(harness_as_owner(conninfo));
    ingest_info = harness_conninfo_as(conninfo, "sentinel_ingest");
    tokens_path = strdup("/tmp/sentinel_ingest_tokens_XXXXXX");
    int fd = mkstemp(tokens_path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    for (int w = 1; w <= WORKSPACES; w++) {
        char *token = create_token(harness_workspace_id(w), "");
        fprintf(f, "%s %s\n", harness_workspace_id(w), token);
        free(token);
    }
    fclose(f);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    harness_drop_database(db_name);
    unlink(tokens_path);
    free(tokens_path);
    free(ingest_info);
    free(owner_info);
    free(db_name);
    free(conninfo);
    return 0;
}

/* The same lines, half as JSON arrays and half as NDJSON, in batches of
 * 500 with one credential per workspace, project to exactly the tables
 * `sentinel publish` gives. */
static void test_same_result_as_publish(void **state) {
    (void)state;
    char *events = harness_gen("--events 3000 --seed 11 --duplicates 0.02");
    char *topic = harness_unique_name("ingest_same"),
         *ref_topic = harness_unique_name("ingest_ref");
    assert_int_equal(harness_publish(ref_topic, events), 0);

    gateway_t gw;
    gateway_start(&gw, topic, "--listen 127.0.0.1:0");
    int status;
    char *out = harness_shell(
        &status,
        "head -n 1500 %s >%s.a && tail -n +1501 %s >%s.b && " CLIENT
        " post %s %s %s.a --json --threads 2 && " CLIENT " post %s %s %s.b --threads 2",
        events, events, events, events, gw.url, tokens_path, events, gw.url, tokens_path, events);
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "\"rejected\": 0"));
    free(out);
    gateway_stop(&gw);
    assert_same_projection(topic, ref_topic);
    free(harness_shell(&status, "rm -f %s %s.a %s.b", events, events, events));
    free(events);
    free(topic);
    free(ref_topic);
}

static void collect_ids(const harness_message_t *m, void *opaque) {
    FILE *f = opaque;
    if (m->event_id) fprintf(f, "%s\n", m->event_id);
}

/* kill -9 of the gateway under four concurrent clients loses no
 * acknowledged event: each is in the topic, and once the clients have
 * retried the rest through a new gateway, the projection equals publish's. */
static void test_kill_loses_no_acknowledged_event(void **state) {
    (void)state;
    char *events = harness_gen("--events 8000 --seed 12");
    char *topic = harness_unique_name("ingest_kill"),
         *ref_topic = harness_unique_name("ingest_kref");
    assert_int_equal(harness_publish(ref_topic, events), 0);
    char listen[64], acked[64];
    snprintf(acked, sizeof(acked), "/tmp/sentinel_acked_%d", (int)getpid());
    unlink(acked);

    /* The kernel picks the port, and the second gateway takes the same one,
     * where the clients retry: a port chosen here could be in use already,
     * as a connection's local port of the ephemeral range. */
    gateway_t gw;
    gateway_start(&gw, topic, "--listen 127.0.0.1:0");
    const char *port = strrchr(gw.url, ':');
    assert_non_null(port);
    snprintf(listen, sizeof(listen), "--listen 127.0.0.1:%d", atoi(port + 1));
    char *cmd = NULL;
    assert_true(asprintf(&cmd, CLIENT " post %s %s %s --batch 100 --threads 4 --acked %s >%s.out",
                         gw.url, tokens_path, events, acked, acked) > 0);
    pid_t client = fork();
    if (client == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    /* Kill it once some events are acknowledged, and start another. */
    for (int i = 0; i < 600; i++) {
        char *seen = harness_read_file(acked);
        size_t lines = 0;
        for (const char *p = seen; *p; p++)
            lines += *p == '\n';
        free(seen);
        if (lines >= 1000) break;
        usleep(20 * 1000);
    }
    kill(gw.pid, SIGKILL);
    harness_wait(gw.pid);
    unlink(gw.log);
    gateway_start(&gw, topic, listen);
    assert_int_equal(harness_wait(client), 0);
    gateway_stop(&gw);

    /* Every acknowledged id is in the topic. */
    char ids[96];
    snprintf(ids, sizeof(ids), "%s.topic", acked);
    FILE *f = fopen(ids, "w");
    harness_consume_all(topic, "read_committed", collect_ids, f);
    fclose(f);
    int status;
    char *missing = harness_shell(
        &status, "sort -u %s >%s.s && sort -u %s | comm -23 - %s.s | wc -l", ids, ids, acked, ids);
    assert_int_equal(atoi(missing), 0);
    free(missing);
    char *count = harness_shell(&status, "sort -u %s | wc -l", acked);
    assert_true(atoi(count) >= 1000);
    free(count);

    assert_same_projection(topic, ref_topic);
    free(harness_shell(&status, "rm -f %s %s.out %s %s.s %s", acked, acked, ids, ids, events));
    free(cmd);
    free(events);
    free(topic);
    free(ref_topic);
}

/* Every refusal of DESIGN.md, each with its status and a reason. */
static void test_refusals(void **state) {
    (void)state;
    char *topic = harness_unique_name("ingest_refuse");
    gateway_t gw;
    gateway_start(&gw, topic, "--listen 127.0.0.1:0 --max-request-bytes 8K --max-events 3");
    char *token = create_token(harness_workspace_id(1), "");
    char *line = run_started(1, NULL), *body = NULL, *headers = NULL;

    assert_int_equal(post(&gw, NULL, "application/x-ndjson", line, "", &body), 401);
    assert_non_null(strstr(body, "no token"));
    free(body);
    assert_int_equal(post(&gw, token, "text/plain", line, "", &body), 415);
    free(body);
    assert_int_equal(post(&gw, token, "application/json", "this is not json", "", &body), 400);
    assert_non_null(strstr(body, "not a JSON array"));
    free(body);
    assert_int_equal(post(&gw, token, "application/json", "[{\"a\": 1}, {\"b\":", "", &body), 400);
    free(body);
    char many[8192] = "";
    for (int i = 0; i < 4; i++) {
        char *l = run_started(1, NULL);
        strcat(many, l);
        strcat(many, "\n");
        free(l);
    }
    assert_int_equal(post(&gw, token, "application/x-ndjson", many, "", &body), 413);
    assert_non_null(strstr(body, "--max-events"));
    free(body);
    char *big = calloc(1, 9000);
    memset(big, ' ', 8999);
    big[0] = '{';
    assert_int_equal(post(&gw, token, "application/x-ndjson", big, "", &body), 413);
    assert_non_null(strstr(body, "--max-request-bytes"));
    free(body);
    free(big);
    assert_int_equal(request(&gw, "GET /nowhere", NULL, NULL), 404);
    assert_int_equal(request(&gw, "GET /v1/events", &headers, NULL), 405);
    assert_non_null(strstr(headers, "\"allow\": \"POST\""));
    free(headers);

    /* A good request still goes through. */
    assert_int_equal(post(&gw, token, "application/x-ndjson; charset=utf-8", line, "", &body), 200);
    assert_non_null(strstr(body, "\"accepted\":1"));
    free(body);

    /* Failed authentications are counted and, past the limit, refused per
     * address with Retry-After. The tries come from one client, so that
     * they land within the limit's window however slowly a client starts
     * on a loaded machine. */
    char *file = body_file(line);
    int status;
    char *statuses =
        harness_shell(&status,
                      CLIENT " request %s POST /v1/events --token snt_not-a-real-token "
                             "--type application/x-ndjson --data-file %s --repeat 30",
                      gw.url, file);
    unlink(file);
    free(file);
    if (status) fail_msg("the client failed (%d):\n%s", status, statuses);
    int refused = 0, limited = 0;
    for (const char *at = statuses; *at;) {
        int code = (int)strtol(at, (char **)&at, 10);
        refused += code == 401;
        limited += code == 429;
        at += strspn(at, " \n");
    }
    /* The request without a token above was the address's first failure:
     * 19 more are refused as unauthenticated, then the limit of 20. */
    if (refused != 19 || limited != 1) fail_msg("statuses of 30 failed tries: %s", statuses);
    free(statuses);
    assert_int_equal(request(&gw,
                             "POST /v1/events --token x --type application/x-ndjson --data '{}'",
                             &headers, NULL),
                     429);
    assert_non_null(strstr(headers, "retry-after"));
    free(headers);
    char *metrics = NULL;
    assert_int_equal(request(&gw, "GET /metrics", NULL, &metrics), 200);
    assert_non_null(strstr(metrics, "sentinel_ingest_auth_refused_total"));
    assert_null(strstr(metrics, "sentinel_ingest_auth_refused_total 0\n"));
    assert_non_null(
        strstr(metrics, "sentinel_ingest_requests_total{route=\"/v1/events\",status=\"413\"} 2"));
    assert_non_null(
        strstr(metrics, "sentinel_ingest_events_accepted_total{type=\"RunStarted\"} 1"));
    assert_non_null(strstr(metrics, "sentinel_ingest_ack_seconds_count 1"));
    free(metrics);
    gateway_stop(&gw);
    free(line);
    free(token);
    free(topic);
}

/* A token publishes for its workspace, and bound to an installation, for
 * that installation's repositories only; anything else is a rejection
 * that names the rule and goes to the dead-letter topic, never the event
 * topic. A revoked token is refused within 5 s. */
static void test_tenancy_and_revocation(void **state) {
    (void)state;
    char *topic = harness_unique_name("ingest_tenancy"), *dead = NULL;
    assert_true(asprintf(&dead, "%s.dead-letter", topic) > 0);
    gateway_t gw;
    gateway_start(&gw, topic, "--listen 127.0.0.1:0");
    char *token = create_token(harness_workspace_id(1), "");
    char *bound = NULL;
    assert_true(asprintf(&bound, "--installation %.8s-0000-4000-8000-000000000001", "a2000000") >
                0);
    char *app_token = create_token(harness_workspace_id(1), bound);
    char *mine = run_started(1, NULL), *other = run_started(2, NULL), *body = NULL;
    char two[4096];
    snprintf(two, sizeof(two), "%s\n%s\n", mine, other);
    assert_int_equal(post(&gw, token, "application/x-ndjson", two, "", &body), 200);
    assert_non_null(strstr(body, "\"accepted\":1"));
    assert_non_null(strstr(body, "\"index\":1"));
    assert_non_null(strstr(body, "this credential publishes for workspace"));
    free(body);
    assert_int_equal(count_messages(topic, "read_committed"), 1);
    assert_int_equal(count_messages(dead, "read_committed"), 1);

    /* Bound to installation 1 of workspace 0: its repository passes, a
     * repository of no installation of it does not, nor an event without one. */
    char *own_repo = run_started(1, NULL);
    char *foreign = run_started(1, "b9999999-0000-4000-8000-000000000001");
    char *no_repo = NULL;
    assert_true(asprintf(&no_repo,
                         "{\"event_id\":\"e%07d-0000-4000-8000-000000000001\",\"type\":"
                         "\"ActivityLogged\",\"workspace_id\":\"%s\",\"occurred_at\":"
                         "\"2026-11-01T10:00:00Z\",\"data\":{\"activity_id\":\"e%07d-0000-4000-"
                         "8000-000000000002\",\"type\":\"run.viewed\"}}",
                         getpid() % 10000000, harness_workspace_id(1), getpid() % 10000000) > 0);
    char three[8192];
    snprintf(three, sizeof(three), "[%s,%s,%s]", own_repo, foreign, no_repo);
    assert_int_equal(post(&gw, app_token, "application/json", three, "", &body), 200);
    assert_non_null(strstr(body, "\"accepted\":1"));
    assert_non_null(strstr(body, "not a repository of installation"));
    assert_non_null(strstr(body, "names no repository"));
    free(body);
    assert_int_equal(count_messages(topic, "read_committed"), 2);
    assert_int_equal(count_messages(dead, "read_committed"), 3);

    /* Revoked: refused within 5 s. */
    PGconn *owner = harness_connect(owner_info);
    char *sql = NULL;
    assert_true(asprintf(&sql,
                         "SELECT id FROM ingest_credentials WHERE last_used_at IS NOT NULL AND "
                         "token_sha256 = sha256(convert_to('%s', 'UTF8'))",
                         token) > 0);
    char *id = harness_query_value(owner, sql);
    free(sql);
    free(harness_must_run("credentials revoke %s --db \"%s\"", id, owner_info));
    double revoked = now_seconds();
    int code = 200;
    while (code == 200 && now_seconds() - revoked < 10) {
        char *again = run_started(1, NULL);
        code = post(&gw, token, "application/x-ndjson", again, "", &body);
        free(body);
        free(again);
    }
    assert_int_equal(code, 401);
    assert_true(now_seconds() - revoked < 5.0);
    PQfinish(owner);
    gateway_stop(&gw);
    free(id);
    free(mine);
    free(other);
    free(own_repo);
    free(foreign);
    free(no_repo);
    free(bound);
    free(token);
    free(app_token);
    free(dead);
    free(topic);
}

/* ?atomic=true: one bad event, nothing published (422, the bad one
 * dead-lettered); all good, all committed in one transaction. */
static void test_atomic(void **state) {
    (void)state;
    char *topic = harness_unique_name("ingest_atomic"), *dead = NULL;
    assert_true(asprintf(&dead, "%s.dead-letter", topic) > 0);
    gateway_t gw;
    gateway_start(&gw, topic, "--listen 127.0.0.1:0");
    char *token = create_token(harness_workspace_id(3), "");
    char *a = run_started(3, NULL), *b = run_started(3, NULL), *body = NULL;
    char batch[8192];
    snprintf(batch, sizeof(batch), "%s\n{\"type\":\"RunStarted\",\"event_id\":\"nope\"}\n%s\n", a,
             b);
    assert_int_equal(post(&gw, token, "application/x-ndjson", batch, "?atomic=true", &body), 422);
    assert_non_null(strstr(body, "\"accepted\":0"));
    assert_non_null(strstr(body, "\"index\":1"));
    free(body);
    assert_int_equal(count_messages(topic, "read_uncommitted"), 0);
    assert_int_equal(count_messages(dead, "read_committed"), 1);
    snprintf(batch, sizeof(batch), "%s\n%s\n", a, b);
    assert_int_equal(post(&gw, token, "application/x-ndjson", batch, "?atomic=true", &body), 200);
    assert_non_null(strstr(body, "\"accepted\":2"));
    free(body);
    assert_int_equal(count_messages(topic, "read_committed"), 2);
    gateway_stop(&gw);
    free(a);
    free(b);
    free(token);
    free(dead);
    free(topic);
}

/* No broker: 503 with Retry-After and the indexes not delivered, within
 * the delivery timeout; never 200. */
static void test_no_broker(void **state) {
    (void)state;
    gateway_t gw;
    gateway_start(&gw, "ingest_nobroker",
                  "--listen 127.0.0.1:0 --brokers 127.0.0.1:1 --delivery-timeout 3 "
                  "--connect-timeout 2");
    char *token = create_token(harness_workspace_id(4), "");
    char *line = run_started(4, NULL), *body = NULL, *headers = NULL;
    assert_int_equal(request(&gw, "GET /readyz", NULL, NULL), 503);
    char *file = strdup("/tmp/sentinel_ingest_nb_XXXXXX");
    int fd = mkstemp(file);
    assert_true(write(fd, line, strlen(line)) > 0);
    close(fd);
    char *args = NULL;
    assert_true(asprintf(&args,
                         "POST /v1/events --token %s --type application/x-ndjson --data-file %s",
                         token, file) > 0);
    double started = now_seconds();
    assert_int_equal(request(&gw, args, &headers, &body), 503);
    double took = now_seconds() - started;
    assert_true(took >= 2.5 && took < 8);
    assert_non_null(strstr(headers, "retry-after"));
    assert_non_null(strstr(body, "\"not_delivered\":[0]"));
    gateway_stop(&gw);
    unlink(file);
    free(file);
    free(args);
    free(headers);
    free(body);
    free(line);
    free(token);
}

/* HTTPS with a certificate the test makes; the client verifies it, and a
 * client that does not trust it is refused by its own check. */
static void test_tls(void **state) {
    (void)state;
    char dir[] = "/tmp/sentinel_tls_XXXXXX";
    assert_non_null(mkdtemp(dir));
    int status;
    free(harness_shell(
        &status,
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
        "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout %s/key.pem "
        "-out %s/cert.pem 2>/dev/null",
        dir, dir));
    assert_int_equal(status, 0);
    char *topic = harness_unique_name("ingest_tls"), *args = NULL;
    assert_true(asprintf(&args, "--listen 127.0.0.1:0 --tls-cert %s/cert.pem --tls-key %s/key.pem",
                         dir, dir) > 0);
    gateway_t gw;
    gateway_start(&gw, topic, args);
    assert_int_equal(strncmp(gw.url, "https://", 8), 0);
    char *token = create_token(harness_workspace_id(5), "");
    char *line = run_started(5, NULL), *extra = NULL, *body = NULL;
    char *file = strdup("/tmp/sentinel_ingest_tls_XXXXXX");
    int fd = mkstemp(file);
    assert_true(write(fd, line, strlen(line)) > 0);
    close(fd);
    assert_true(asprintf(&extra,
                         "POST /v1/events --token %s --type application/x-ndjson --data-file %s "
                         "--cafile %s/cert.pem",
                         token, file, dir) > 0);
    assert_int_equal(request(&gw, extra, NULL, &body), 200);
    assert_non_null(strstr(body, "\"accepted\":1"));
    free(body);
    char *out = harness_shell(&status, CLIENT " request %s GET /healthz 2>&1", gw.url);
    assert_int_not_equal(status, 0);
    assert_non_null(strstr(out, "CERTIFICATE_VERIFY_FAILED"));
    free(out);
    gateway_stop(&gw);
    assert_int_equal(count_messages(topic, "read_committed"), 1);
    free(harness_shell(&status, "rm -rf %s %s", dir, file));
    free(file);
    free(extra);
    free(line);
    free(token);
    free(args);
    free(topic);
}

/* GET /openapi.json is the repository's document, which a real OpenAPI
 * 3.1 validator accepts; /v1/schemas lists every type with its Avro. */
static void test_documents(void **state) {
    (void)state;
    gateway_t gw;
    gateway_start(&gw, "ingest_documents", "--listen 127.0.0.1:0");
    char *body = NULL;
    assert_int_equal(request(&gw, "GET /openapi.json", NULL, &body), 200);
    char *file = harness_read_file(SENTINEL_SOURCE_DIR "/schemas/openapi.json");
    assert_string_equal(body, file);
    free(file);
    free(body);
    int status;
    char *out = harness_shell(&status,
                              "\"$(%s/scripts/setup --print-python 2>/dev/null)\" -m "
                              "openapi_spec_validator %s/schemas/openapi.json 2>&1",
                              SENTINEL_SOURCE_DIR, SENTINEL_SOURCE_DIR);
    if (status) fail_msg("openapi-spec-validator: %s", out);
    assert_non_null(strstr(out, "OK"));
    free(out);
    assert_int_equal(request(&gw, "GET /v1/schemas", NULL, &body), 200);
    assert_non_null(strstr(body, "\"name\":\"FindingRecorded\""));
    assert_non_null(strstr(body, "\"version\":2"));
    free(body);
    assert_int_equal(request(&gw, "GET /healthz", NULL, NULL), 200);
    assert_int_equal(request(&gw, "GET /readyz", NULL, NULL), 200);
    gateway_stop(&gw);
}

/* A thousand clients trickling headers from one address neither hold a
 * real client's request (served in under 2 s) nor more than their
 * address's share of connections; a flood beyond the in-flight budget is
 * answered 429 with Retry-After at once, and once retried, every event is
 * in the topic exactly as posted. */
static void test_slow_clients_and_back_pressure(void **state) {
    (void)state;
    struct rlimit nofile;
    getrlimit(RLIMIT_NOFILE, &nofile);
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
    if (nofile.rlim_cur < 1300) fail_msg("only %ld descriptors", (long)nofile.rlim_cur);
    char *topic = harness_unique_name("ingest_slow");
    gateway_t gw;
    gateway_start(&gw, topic, "--listen 127.0.0.1:0 --max-in-flight 1M");
    int port = atoi(strrchr(gw.url, ':') + 1);
    char *token = create_token(harness_workspace_id(6), "");
    char *line = run_started(6, NULL), *body = NULL;

    enum { SLOW = 1000 };
    static int fds[SLOW];
    for (int i = 0; i < SLOW; i++) {
        fds[i] = harness_dial("127.0.0.2", port);
        if (fds[i] >= 0 && send(fds[i], "POST /v1/events HTTP/1.1\r\n", 27, MSG_NOSIGNAL) < 0) {
            close(fds[i]);
            fds[i] = -1;
        }
    }
    char posted[] = "/tmp/sentinel_ingest_posted_XXXXXX";
    FILE *posted_file = fdopen(mkstemp(posted), "w");
    double worst = 0;
    for (int round = 0; round < 6; round++) {
        for (int i = 0; i < SLOW; i++) {
            if (fds[i] < 0) continue;
            if (harness_closed_by_server(fds[i]) ||
                send(fds[i], "X-Slow: 1\r\n", 11, MSG_NOSIGNAL) < 0) {
                close(fds[i]);
                fds[i] = -1;
            }
        }
        double t0 = now_seconds();
        assert_int_equal(post(&gw, token, "application/x-ndjson", line, "", &body), 200);
        free(body);
        double took = now_seconds() - t0;
        if (took > worst) worst = took;
        fprintf(posted_file, "%s\n", line);
        free(line);
        line = run_started(6, NULL);
        usleep(500000);
    }
    int open = 0;
    for (int i = 0; i < SLOW; i++) {
        open += fds[i] >= 0 && !harness_closed_by_server(fds[i]);
        if (fds[i] >= 0) close(fds[i]);
    }
    print_message("the slowest of 6 posts took %.3f s while %d clients trickled\n", worst, SLOW);
    assert_true(worst < 2);
    assert_true(open <= 64);

    /* The flood: eight clients, batches of 1,000, a budget of 1 MiB. */
    char *events = harness_gen("--events 12000 --seed 13 --workspaces 8");
    int status;
    char *out = harness_shell(&status, CLIENT " post %s %s %s --batch 1000 --threads 8", gw.url,
                              tokens_path, events);
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "\"429\""));
    free(out);
    gateway_stop(&gw);
    char *ref_topic = harness_unique_name("ingest_sref");
    fclose(posted_file);
    assert_int_equal(harness_publish(ref_topic, posted), 0);
    assert_int_equal(harness_publish(ref_topic, events), 0);
    unlink(posted);
    assert_true(harness_log_end(topic) >= harness_log_end(ref_topic));
    assert_same_projection(topic, ref_topic);
    unlink(events);
    free(events);
    free(ref_topic);
    free(line);
    free(token);
    free(topic);
}

/* sentinel_ingest reads credentials (not their names) and the
 * repository-to-installation map, writes last-used times, nothing else. */
static void test_role_has_only_what_it_needs(void **state) {
    (void)state;
    PGconn *conn = harness_connect(ingest_info);
    assert_true(harness_query_int(conn, "SELECT count(*) FROM repositories WHERE "
                                        "installation_id IS NOT NULL") > 0);
    static const char *const refused[] = {
        "SELECT name FROM ingest_credentials",
        "UPDATE ingest_credentials SET revoked_at = NULL",
        ("INSERT INTO ingest_credentials (workspace_id, name, token_sha256) VALUES "
         "('a0000000-0000-4000-8000-000000000001', 'x', sha256('x'))"),
        "SELECT name FROM repositories",
        "SELECT count(*) FROM runs",
        "SELECT count(*) FROM workspaces",
        "SELECT count(*) FROM dead_letters",
        "DELETE FROM ingest_credentials",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        char *code = harness_exec_fails(conn, refused[i], NULL);
        if (strcmp(code, "42501")) fail_msg("%s: %s, not 42501", refused[i], code);
        free(code);
    }
    harness_exec(conn, "UPDATE ingest_credentials SET last_used_at = now() WHERE false");
    PQfinish(conn);
}

/* A rejection quoting a tenant's text that a cut would split mid-character
 * is still listed in the answer: messages cut at a character boundary. */
static void test_rejection_of_long_text(void **state) {
    (void)state;
    char *topic = harness_unique_name("ingest_utf8");
    gateway_t gw;
    gateway_start(&gw, topic, "--listen 127.0.0.1:0");
    char *token = create_token(harness_workspace_id(6), ""), *body = NULL;
    char odd[256] = "{\"type\":\"RunStarted\",\"event_id\":\"x";
    for (int i = 0; i < 30; i++)
        strcat(odd, "\xc3\xa9");
    strcat(odd, "\"}\n");
    assert_int_equal(post(&gw, token, "application/x-ndjson", odd, "", &body), 200);
    if (!strstr(body, "\"index\":0") || !strstr(body, "is not a UUID"))
        fail_msg("the rejection is not listed with its reason: %s", body);
    free(body);

    gateway_stop(&gw);
    free(token);
    free(topic);
}

/* Whether process `pid` still runs (a zombie does not). */
static int running(pid_t pid) {
    char path[64], state = 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int got = fscanf(f, "%*d (%*[^)]) %c", &state);
    fclose(f);
    return got == 1 && state != 'Z';
}

/* A test process that dies (a sanitizer's abort, here SIGKILL) takes its
 * gateway with it: nothing is left listening after a failed test. */
static void test_a_gateway_ends_with_its_test(void **state) {
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t test = fork();
    assert_true(test >= 0);
    if (test == 0) {
        close(fds[0]);
        gateway_t gw;
        gateway_start(&gw, "ingest_orphan", "--listen 127.0.0.1:0");
        if (write(fds[1], &gw.pid, sizeof(gw.pid)) != sizeof(gw.pid)) _exit(2);
        raise(SIGKILL);
    }
    close(fds[1]);
    pid_t gateway = 0;
    ssize_t got = read(fds[0], &gateway, sizeof(gateway));
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(test, &status, 0), test);
    assert_int_equal(got, sizeof(gateway));
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    for (int i = 0; i < 100 && running(gateway); i++)
        usleep(100 * 1000);
    if (running(gateway)) {
        kill(gateway, SIGKILL);
        fail_msg("the gateway (pid %d) outlived its test process by 10 s", (int)gateway);
    }
}

int main(void) {
    harness_test_filter();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_tenancy_and_revocation),
        cmocka_unit_test(test_atomic),
        cmocka_unit_test(test_rejection_of_long_text),
        cmocka_unit_test(test_no_broker),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_documents),
        cmocka_unit_test(test_role_has_only_what_it_needs),
        cmocka_unit_test(test_slow_clients_and_back_pressure),
        cmocka_unit_test(test_same_result_as_publish),
        cmocka_unit_test(test_kill_loses_no_acknowledged_event),
        cmocka_unit_test(test_a_gateway_ends_with_its_test),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
