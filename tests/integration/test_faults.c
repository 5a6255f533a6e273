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

    /* No broker answering: within the connect timeout, not forever. */
    double t0 = now();
    free(expect(1, "no Kafka broker answering at 127.0.0.1:1 within 2 s",
                "project --until-caught-up --connect-timeout 2 --brokers 127.0.0.1:1 --db \"%s\" "
                "--topic %s",
                conninfo, topic));
    free(expect(1, "no Kafka broker answering",
                "status --connect-timeout 2 --brokers 127.0.0.1:1 "
                "--db \"%s\" --topic %s",
                conninfo, topic));
    free(expect(1, "no Kafka broker answering",
                "rebuild --projector activities --connect-timeout 2 "
                "--brokers 127.0.0.1:1 --db \"%s\" --topic %s",
                harness_as_owner(conninfo), topic));
    assert_true(now() - t0 < 60);

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
    assert_int_equal(kill(pid, 0), 0); /* still waiting */
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
    static const char *const urls[] = {
        "postgresql://sentinel_projector:s3cr3tpw@[::1/db",
        "host=127.0.0.1 port=55432 user=nosuchrole password='s3cr3tpw' dbname=postgres",
        "postgresql://sentinel_projector:s3cr3tpw@127.0.0.1:1/sentinel?connect_timeout=1",
    };
    for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
        for (size_t u = 0; u < sizeof(urls) / sizeof(urls[0]); u++) {
            char *out = expect(1, NULL, "%s --connect-timeout 2 --db \"%s\"", commands[c], urls[u]);
            if (strstr(out, "s3cr3tpw"))
                fail_msg("sentinel %s shows the password:\n%s", commands[c], out);
            free(out);
        }
    }
    /* The daemon's retry log too. */
    char log[] = "/tmp/sentinel_secret_log_XXXXXX";
    close(mkstemp(log));
    pid_t pid = harness_spawn_sentinel(
        "project --db \"postgresql://sentinel_projector:s3cr3tpw@[::1/db\"", log);
    sleep(2);
    kill(pid, SIGTERM);
    harness_wait(pid);
    char *text = harness_read_file(log);
    if (!strstr(text, "postgresql://sentinel_projector:***@"))
        fail_msg("no redacted URL in:\n%s", text);
    if (strstr(text, "s3cr3tpw")) fail_msg("the retry log shows the password:\n%s", text);
    free(text);
    unlink(log);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scripts_fail_fast),
        cmocka_unit_test(test_no_password_in_any_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
