/* test_cli.c -- the command line is one language: every option of every
 * command has its own line in the command's --help; a number out of range,
 * a malformed UUID or time and an unknown projector name are usage errors
 * (exit 2) naming the option, found before anything connects; --version
 * prints the version. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/timestamp.h"
#include "cli/cli.h"

/* Nothing answers at these addresses: a command that connected before
 * checking its options would fail with 1, not 2. */
static const char nowhere[] =
    "--db postgresql://127.0.0.1:1/none --brokers 127.0.0.1:1 --connect-timeout 1";

/* 1 when `usage` has a line describing --name: "  --name ..." or
 * "  -x, --name ...". */
static int has_help_line(const char *usage, const char *name) {
    size_t len = strlen(name);
    for (const char *line = usage; line && *line;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        const char *p = line;
        while (*p == ' ')
            p++;
        if (p[0] == '-' && p[1] && p[1] != '-' && p[2] == ',' && p[3] == ' ') p += 4;
        if (!strncmp(p, "--", 2) && !strncmp(p + 2, name, len) &&
            (p[2 + len] == ' ' || p[2 + len] == '\n' || p[2 + len] == '\0'))
            return 1;
    }
    return 0;
}

/* The options of c without a line in its --help, printed; how many. */
static int missing_lines(const cli_command_t *c, const char *parent) {
    int missing = 0;
    assert_non_null(c->usage);
    assert_non_null(c->options);
    for (const struct option *o = c->options; o->name; o++)
        if (!has_help_line(c->usage, o->name)) {
            printf("sentinel %s%s%s: --%s has no line in --help\n", parent ? parent : "",
                   parent ? " " : "", c->name, o->name);
            missing++;
        }
    return missing;
}

static void test_every_option_has_a_help_line(void **state) {
    (void)state;
    size_t n = 0;
    int missing = 0;
    for (size_t i = 0; cli_commands[i]; i++, n++) {
        missing += missing_lines(cli_commands[i], NULL);
        if (cli_commands[i]->sub)
            missing += missing_lines(cli_commands[i]->sub, cli_commands[i]->name);
    }
    assert_int_equal(missing, 0);
    assert_true(n >= 12);
    /* The check itself notices a missing line. */
    assert_false(has_help_line("  --brokers LIST  x\n  -h, --help  this\n", "db"));
    assert_true(has_help_line("  --brokers LIST  x\n  -h, --help  this\n", "help"));
}

/* Run the sentinel binary with `args`; its exit status, and what it wrote
 * (both streams) into out. */
static int run(const char *args, char *out, size_t size) {
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1 </dev/null", SENTINEL_BINARY, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t len = fread(out, 1, size - 1, p);
    out[len] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_usage_errors_name_the_option(void **state) {
    (void)state;
    static const struct {
        const char *args, *expect;
    } cases[] = {
        {"gen --events 18446744073709551617", "--events must be"},
        {"gen --events -1", "--events must be"},
        {"gen --workspaces 0", "--workspaces must be"},
        {"gen --days 3x", "--days must be"},
        {"gen --duplicates 2", "--duplicates must be"},
        {"gen --ids v7", "--ids must be random or time-ordered"},
        {"migrate --to 0", "--to must be"},
        {"migrate --to 5x", "--to must be"},
        {"publish --threads 0", "--threads must be 1 to 64"},
        {"publish --max-event-bytes 99999999999999999999", "--max-event-bytes must be"},
        {"publish --partitions 0", "--partitions must be"},
        {"project --projector nope", "unknown projector \"nope\""},
        {"project --batch-events 0", "--batch-events must be"},
        {"project --max-in-flight ' -1'", "--max-in-flight must be"},
        {"project --max-in-flight -1", "--max-in-flight must be"},
        {"project --max-in-flight 9G", "--max-in-flight must be"},
        {"project --max-in-flight 18446744073709551615", "--max-in-flight must be"},
        {"project --max-in-flight 99999999999999999999", "--max-in-flight must be"},
        {"project --instance-id 'node 1'", "--instance-id node 1: expected 1 to 249 letters"},
        {"project --instance-id ''", "--instance-id : expected 1 to 249 letters"},
        {"replay --projector runs --from beginning --max-in-flight 3M", "--max-in-flight must be"},
        {"replay --projector runs --from 0 --workers 9", "--workers must be 1 to 8"},
        {"rebuild --projector runs --from 0", "--from: unknown option or missing value"},
        {"replay --projector runs --from 0 --abort", "--abort: unknown option or missing value"},
        {"status --projector nope", "unknown projector \"nope\""},
        {"dead-letters --projector nope", "unknown projector \"nope\""},
        {"dead-letters --limit abc", "--limit must be"},
        {"dead-letters --workspace notauuid", "--workspace must be a UUID"},
        {"dead-letters retry --projector nope", "unknown projector \"nope\""},
        {"dead-letters retry --id 0", "--id must be"},
        {"usage --workspace notauuid", "--workspace must be a UUID"},
        {"usage --workspace a0000000-0000-4000-8000-000000000001 --period yesterday",
         "--period must be"},
        {"status --connect-timeout 0", "--connect-timeout"},
    };
    char out[8192], args[512];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* gen connects to nothing and takes no connection options. */
        int offline = !strncmp(cases[i].args, "gen ", 4);
        snprintf(args, sizeof(args), "%s %s", cases[i].args, offline ? "" : nowhere);
        int rc = run(args, out, sizeof(out));
        if (rc != 2 || !strstr(out, cases[i].expect))
            fail_msg("sentinel %s: exit %d, expected 2 and \"%s\":\n%s", cases[i].args, rc,
                     cases[i].expect, out);
    }
}

/* --projector takes all, metrics and names in every command that takes
 * it: no usage error (they fail later, at connecting to nowhere). */
static void test_projector_names_everywhere(void **state) {
    (void)state;
    static const char *const cases[] = {
        "status --projector all",
        "status --projector metrics",
        "status --projector runs",
        "project --projector metrics --until-caught-up",
        "replay --projector all --from beginning",
    };
    char out[8192], args[512];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(args, sizeof(args), "%s %s", cases[i], nowhere);
        int rc = run(args, out, sizeof(out));
        if (rc == 2 || rc == 0) fail_msg("sentinel %s: exit %d:\n%s", cases[i], rc, out);
    }
}

/* doctor waits as long as --connect-timeout says (1 s here), not 5 s. */
static void test_doctor_keeps_its_timeout(void **state) {
    (void)state;
    char out[8192], args[512];
    snprintf(args, sizeof(args), "doctor %s", nowhere);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = run(args, out, sizeof(out));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_int_equal(rc, 1);
    if (took >= 4.5) fail_msg("doctor took %.1f s with --connect-timeout 1:\n%s", took, out);
}

/* The README's example lines are valid, and there is one for every type
 * of the catalog. */
static void test_readme_examples_are_valid(void **state) {
    (void)state;
    char cmd[1024], out[8192], path[64];
    snprintf(path, sizeof(path), "/tmp/readme_examples.%d", (int)getpid());
    snprintf(cmd, sizeof(cmd),
             "awk '/<!-- examples:/ {f = 1; next} f && /^```/ {if (++n == 2) exit; next} "
             "f && n == 1' '%s/README.md' > %s",
             SENTINEL_SOURCE_DIR, path);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "publish --dry-run %s", path);
    int rc = run(cmd, out, sizeof(out));
    if (rc || !strstr(out, " valid, 0 rejected"))
        fail_msg("the README's examples: exit %d:\n%s", rc, out);
    for (size_t t = 0; sentinel_event_types[t]; t++) {
        snprintf(cmd, sizeof(cmd), "grep -q '\"type\":\"%s\"' %s", sentinel_event_types[t]->name,
                 path);
        if (system(cmd)) fail_msg("the README has no example of %s", sentinel_event_types[t]->name);
    }
    unlink(path);
}

/* A field a schema accepts is stored in a column or said not to be: the
 * built-in map passes; one without FindingRecorded's rule_id, or with a
 * field no version has, fails and names it. */
static void test_every_field_has_a_place(void **state) {
    (void)state;
    char out[8192], args[512];
    assert_int_equal(run("schemas --check", out, sizeof(out)), 0);
    snprintf(args, sizeof(args), "schemas --check --storage /tmp/storage_missing.%d",
             (int)getpid());
    char cmd[1024];
    snprintf(
        cmd, sizeof(cmd),
        "grep -v '^FindingRecorded.rule_id' '%s/schemas/storage.tsv' > /tmp/storage_missing.%d",
        SENTINEL_SOURCE_DIR, (int)getpid());
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run(args, out, sizeof(out)), 1);
    if (!strstr(out, "FindingRecorded.v2.avsc: data.rule_id is stored nowhere"))
        fail_msg("a missing field was not named:\n%s", out);
    snprintf(cmd, sizeof(cmd),
             "(cat '%s/schemas/storage.tsv'; printf 'RunStarted.nope\\truns.nope\\n') > "
             "/tmp/storage_missing.%d",
             SENTINEL_SOURCE_DIR, (int)getpid());
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run(args, out, sizeof(out)), 1);
    if (!strstr(out, "RunStarted.nope: no version of RunStarted has that field"))
        fail_msg("a stale line was not named:\n%s", out);
    snprintf(cmd, sizeof(cmd), "/tmp/storage_missing.%d", (int)getpid());
    unlink(cmd);
}

/* The version and, for version 7, the Unix milliseconds of the id at `key`
 * in `line`; 0 when the line has no such id. */
static int id_at(const char *line, const char *key, char *id, int64_t *ms) {
    char pattern[64];
    snprintf(pattern, sizeof(pattern), "\"%s\":\"", key);
    const char *p = strstr(line, pattern);
    if (!p) return 0;
    p += strlen(pattern);
    memcpy(id, p, 36);
    id[36] = '\0';
    char hex[13] = {0};
    memcpy(hex, id, 8);
    memcpy(hex + 8, id + 9, 4);
    *ms = strtoll(hex, NULL, 16);
    return id[14] - '0';
}

/* `gen --ids time-ordered` mints version 7 ids at each event's time, so
 * they sort as the events come; the default stays random version 4. */
static void test_gen_time_ordered_ids(void **state) {
    (void)state;
    size_t size = 4 << 20;
    char *out = malloc(size);
    assert_non_null(out);
    for (int ordered = 0; ordered < 2; ordered++) {
        assert_int_equal(run(ordered ? "gen --events 5000 --seed 3 --ids time-ordered"
                                     : "gen --events 5000 --seed 3",
                             out, size),
                         0);
        char previous[37] = "", id[37];
        int lines = 0, inversions = 0, findings = 0;
        for (char *line = out, *end; (end = strchr(line, '\n')); line = end + 1) {
            *end = '\0';
            int64_t ms, at;
            if (strncmp(line, "{\"event_id\"", 11)) continue; /* the summary */
            lines++;
            assert_int_equal(id_at(line, "event_id", id, &ms), ordered ? 7 : 4);
            assert_true(strchr("89ab", id[19]) != NULL);
            if (strcmp(previous, id) >= 0) inversions++;
            memcpy(previous, id, sizeof(previous));
            const char *t = strstr(line, "\"occurred_at\":\"");
            assert_non_null(t);
            char when[40];
            snprintf(when, sizeof(when), "%.*s", (int)strcspn(t + 15, "\""), t + 15);
            assert_int_equal(sentinel_timestamp_parse(when, &at, NULL, 0), SENTINEL_OK);
            if (ordered) assert_int_equal(ms, at / 1000);
            int64_t finding_ms;
            if (id_at(line, "finding_id", id, &finding_ms)) {
                findings++;
                assert_int_equal(id[14] - '0', ordered ? 7 : 4);
            }
        }
        assert_int_equal(lines, 5000);
        assert_true(findings > 100);
        if (ordered)
            assert_int_equal(inversions, 0);
        else
            assert_true(inversions > 1000);
    }
    free(out);
}

static void test_version(void **state) {
    (void)state;
    char out[256];
    assert_int_equal(run("--version", out, sizeof(out)), 0);
    assert_string_equal(out, "sentinel " SENTINEL_VERSION "\n");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_option_has_a_help_line),
        cmocka_unit_test(test_usage_errors_name_the_option),
        cmocka_unit_test(test_projector_names_everywhere),
        cmocka_unit_test(test_doctor_keeps_its_timeout),
        cmocka_unit_test(test_readme_examples_are_valid),
        cmocka_unit_test(test_every_field_has_a_place),
        cmocka_unit_test(test_gen_time_ordered_ids),
        cmocka_unit_test(test_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
