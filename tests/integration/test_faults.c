/* test_faults.c -- a dead or missing dependency: scripts (until caught up,
 * replay, rebuild, status) exit non-zero at once with a message that names
 * what is missing; the daemon waits, retrying, and stops promptly on
 * SIGTERM; no message shows a password. */
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
#include <fcntl.h>
#include <jansson.h>
#include <sys/wait.h>

#include "harness.h"

/* Run `sentinel <args>`: its exit status must be `want` and its output
 * must hold `needle`. Returns the output (new). */
static char *expect(int want, const char *needle, const char *fmt, ...) {
    char *args = NULL, *out = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&args, fmt, ap) < 0) abort();
    va_end(ap);
    int rc = harness_run_sentinel(args, &out);
    if (rc != want) fail_msg("sentinel %s: exit %d, expected %d:\n%s", args, rc, want, out);
    if (needle && !strstr(out, needle))
        fail_msg("sentinel %s: no \"%s\" in:\n%s", args, needle, out);
    free(args);
    return out;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_scripts_fail_fast(void **state) {
    (void)state;
    char *name;
    char *conninfo = harness_migrated_database("sentinel_faults", 1, &name);
    char *missing = harness_unique_name("test.missing");
    char *topic = harness_unique_name("test.faults");
    harness_create_topic(topic, 2);

    /* A topic that does not exist. */
    free(expect(1, "does not exist", "project --until-caught-up --db \"%s\" --topic %s", conninfo,
                missing));
    char *out = expect(1, NULL, "replay --projector runs --from beginning --db \"%s\" --topic %s",
                       conninfo, missing);
    if (!strstr(out, missing) || !strstr(out, "does not exist")) fail_msg("replay: %s", out);
    free(out);
    free(expect(1, "does not exist", "status --db \"%s\" --topic %s", conninfo, missing));

    /* No broker answering: within the connect timeout (2 s), not forever;
     * each command may add its start-up under the sanitizers (a few
     * seconds), not another wait. */
    double t0 = now();
    free(expect(1, "no Kafka broker answering at 127.0.0.1:1 within 2 s",
                "project --until-caught-up --connect-timeout 2 --brokers 127.0.0.1:1 --db \"%s\" "
                "--topic %s",
                conninfo, topic));
    double took = now() - t0;
    if (took > 2 + 4) fail_msg("project gave up after %.1f s, not within its 2 s", took);
    t0 = now();
    free(expect(1, "no Kafka broker answering",
                "status --connect-timeout 2 --brokers 127.0.0.1:1 "
                "--db \"%s\" --topic %s",
                conninfo, topic));
    took = now() - t0;
    if (took > 2 + 4) fail_msg("status gave up after %.1f s, not within its 2 s", took);
    t0 = now();
    free(expect(1, "no Kafka broker answering",
                "rebuild --projector activities --connect-timeout 2 "
                "--brokers 127.0.0.1:1 --db \"%s\" --topic %s",
                harness_as_owner(conninfo), topic));
    took = now() - t0;
    if (took > 2 + 4) fail_msg("rebuild gave up after %.1f s, not within its 2 s", took);

    /* A database that does not exist, a role that does not. */
    char *bad_db = NULL;
    assert_true(
        asprintf(&bad_db,
                 "host=127.0.0.1 port=55432 user=sentinel_projector dbname=nosuchdb_faults") > 0);
    free(expect(1, "database \"nosuchdb_faults\" does not exist",
                "project --until-caught-up --db \"%s\" --topic %s", bad_db, topic));
    free(expect(1, "role \"nosuchrole\" does not exist",
                "replay --projector runs --from beginning --db "
                "\"host=127.0.0.1 port=55432 user=nosuchrole dbname=postgres\" --topic %s",
                topic));

    /* The daemon waits for the database, retrying, and stops on SIGTERM. */
    char log[] = "/tmp/sentinel_faults_log_XXXXXX";
    close(mkstemp(log));
    char *args = NULL;
    assert_true(asprintf(&args, "project --db \"%s\" --topic %s", bad_db, topic) > 0);
    pid_t pid = harness_spawn_sentinel(args, log);
    sleep(3);
    /* still waiting: not exited (a zombie answers kill(pid, 0) too) */
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid)
        fail_msg("the daemon exited (status %d) instead of waiting:\n%s", status,
                 harness_read_file(log));
    t0 = now();
    kill(pid, SIGTERM);
    assert_int_equal(harness_wait(pid), 0);
    assert_true(now() - t0 < 10);
    char *text = harness_read_file(log);
    if (!strstr(text, "does not exist") || !strstr(text, "retrying"))
        fail_msg("the daemon did not say why it waits:\n%s", text);
    free(text);
    unlink(log);
    free(args);
    free(bad_db);

    harness_drop_database(name);
    free(topic);
    free(missing);
    free(name);
    free(conninfo);
}

static void test_no_password_in_any_message(void **state) {
    (void)state;
    static const char *const commands[] = {"doctor", "migrate", "status", "verify",
                                           "project --until-caught-up"};
    /* Well-formed strings libpq quotes in its errors, and malformed ones
     * it cannot parse (it quotes those whole). */
    static const char *const urls[] = {
        "postgresql://sentinel_projector:s3cr3tpw@[::1/db",
        "host=127.0.0.1 port=55432 user=nosuchrole password='s3cr3tpw' dbname=postgres",
        "postgresql://sentinel_projector:s3cr3tpw@127.0.0.1:1/sentinel?connect_timeout=1",
        "postgresql://acc:pa%zzs3cr3tpw@127.0.0.1:1/x",
        "postgresql://acc:s3cr3tpw%00@127.0.0.1:1/x",
        "postgresql://acc:s3cr3tpw'q@[::1/x",
        "postgresql://acc:s3cr3tpw q@[::1/x",
        "host=127.0.0.1 port=1 password='s3cr3tpw",
        "postgresql://acc:s3%63r3tpw@127.0.0.1:1/x?connect_timeout=1",
    };
    for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
        for (size_t u = 0; u < sizeof(urls) / sizeof(urls[0]); u++) {
            char *out = expect(1, NULL, "%s --connect-timeout 2 --db \"%s\"", commands[c], urls[u]);
            /* as written, and percent-decoded ("s3%63r3tpw" is "s3cr3tpw") */
            if (strstr(out, "s3cr3tpw") || strstr(out, "cr3tpw") || strstr(out, "%63r3"))
                fail_msg("sentinel %s --db %s shows the password:\n%s", commands[c], urls[u], out);
            free(out);
        }
    }
    /* A malformed string is said to be one, without echoing it. */
    char *out = expect(1, "the connection string cannot be parsed: bad percent-encoding",
                       "status --db \"%s\"", urls[3]);
    free(out);

    /* The daemon: a string that can never parse is a configuration error,
     * not a retry that logs it forever. */
    char log[] = "/tmp/sentinel_secret_log_XXXXXX";
    close(mkstemp(log));
    pid_t pid = harness_spawn_sentinel(
        "project --db \"postgresql://sentinel_projector:s3cr3tpw@[::1/db\"", log);
    int rc = -1;
    for (int i = 0; i < 200; i++) { /* 20 s at most; it should take well under one */
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        usleep(100000);
    }
    if (rc < 0) {
        kill(pid, SIGTERM);
        harness_wait(pid);
        fail_msg("the daemon still retries a connection string that cannot parse");
    }
    assert_int_not_equal(rc, 0);
    char *text = harness_read_file(log);
    if (!strstr(text, "cannot be parsed")) fail_msg("the daemon did not say why:\n%s", text);
    if (strstr(text, "s3cr3tpw")) fail_msg("the daemon's log shows the password:\n%s", text);
    if (strstr(text, "retrying")) fail_msg("the daemon retried:\n%s", text);
    free(text);
    unlink(log);
}

/* Kafka secrets come from a file or the environment; a refused property
 * never shows its value. */
static void test_kafka_secrets(void **state) {
    (void)state;
    char *out = expect(2, "no such librdkafka property", "doctor -X sasl.pasword=kafkas3cr3t");
    if (strstr(out, "kafkas3cr3t")) fail_msg("a refused -X shows its value:\n%s", out);
    free(out);
    out = expect(2, "expected key=value", "doctor -X kafkas3cr3t");
    if (strstr(out, "kafkas3cr3t")) fail_msg("a refused -X shows its value:\n%s", out);
    free(out);
    out = expect(2, "socket.timeout.ms", "doctor -X socket.timeout.ms=kafkas3cr3t");
    if (strstr(out, "kafkas3cr3t")) fail_msg("a refused -X shows its value:\n%s", out);
    free(out);

    /* -F FILE: read, and a bad line named by file and line, not shown. */
    char path[] = "/tmp/sentinel_kafka_props_XXXXXX";
    int fd = mkstemp(path);
    const char good[] = "# a client's settings\n\nsocket.timeout.ms = 20000\n"
                        "client.id=sentinel-test\n";
    assert_int_equal(write(fd, good, sizeof(good) - 1), (ssize_t)(sizeof(good) - 1));
    close(fd);
    free(expect(0, "kafka      ok", "doctor -F %s", path));
    fd = open(path, O_WRONLY | O_APPEND);
    const char bad[] = "sasl.pasword=kafkas3cr3t\n";
    assert_int_equal(write(fd, bad, sizeof(bad) - 1), (ssize_t)(sizeof(bad) - 1));
    close(fd);
    out = expect(2, ":5: sasl.pasword: no such librdkafka property", "doctor -F %s", path);
    if (strstr(out, "kafkas3cr3t")) fail_msg("a refused -F line shows its value:\n%s", out);
    free(out);
    unlink(path);

    /* The environment: a property a variable, and a file by name. */
    setenv("SENTINEL_KAFKA_PROP_CLIENT_ID", "from-env", 1);
    free(expect(0, "kafka      ok", "doctor"));
    unsetenv("SENTINEL_KAFKA_PROP_CLIENT_ID");
    setenv("SENTINEL_KAFKA_PROP_SOCKET_TIMEOUT_MS", "kafkas3cr3t", 1);
    out = expect(2, "SENTINEL_KAFKA_PROP_SOCKET_TIMEOUT_MS", "doctor");
    unsetenv("SENTINEL_KAFKA_PROP_SOCKET_TIMEOUT_MS");
    if (strstr(out, "kafkas3cr3t")) fail_msg("a refused variable shows its value:\n%s", out);
    free(out);
    setenv("SENTINEL_KAFKA_CONFIG_FILE", "/nonexistent/props", 1);
    free(expect(2, "No such file", "doctor"));
    unsetenv("SENTINEL_KAFKA_CONFIG_FILE");
}

/* With JSON logs every line on stderr is JSON: a bad command line, a
 * missing topic, the format from the environment on its own. */
static void test_json_lines(void **state) {
    (void)state;
    char *name;
    char *conninfo = harness_migrated_database("sentinel_jsonlog", 0, &name);
    char *missing = harness_unique_name("test.missing");
    const char *const runs[] = {
        "status --log-format json --bogus",
        "project --log-format json --max-in-flight 9X",
        NULL,
    };
    char *outs[4] = {0};
    for (int i = 0; runs[i]; i++)
        outs[i] = expect(2, NULL, "%s", runs[i]);
    setenv("SENTINEL_LOG_FORMAT", "json", 1);
    outs[2] = expect(1, "does not exist", "project --until-caught-up --db \"%s\" --topic %s",
                     conninfo, missing);
    unsetenv("SENTINEL_LOG_FORMAT");
    outs[3] = expect(1, "does not exist",
                     "project --log-format json --until-caught-up --db \"%s\" --topic %s", conninfo,
                     missing);
    for (int i = 0; i < 4; i++) {
        char *line = outs[i];
        assert_true(*line);
        while (*line) {
            char *end = strchr(line, '\n');
            size_t n = end ? (size_t)(end - line) : strlen(line);
            json_error_t jerr;
            json_t *v = json_loadb(line, n, 0, &jerr);
            if (!v || !json_is_object(v) || !json_object_get(v, "message"))
                fail_msg("not a JSON log line: %.*s\nin:\n%s", (int)n, line, outs[i]);
            json_decref(v);
            line += n + (end ? 1 : 0);
        }
        free(outs[i]);
    }
    free(missing);
    harness_drop_database(name);
    free(name);
    free(conninfo);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scripts_fail_fast),
        cmocka_unit_test(test_no_password_in_any_message),
        cmocka_unit_test(test_kafka_secrets),
        cmocka_unit_test(test_json_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
