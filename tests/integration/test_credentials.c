/* test_credentials.c -- `sentinel credentials`: a token of 256 random bits,
 * URL-safe, printed once and stored only as its SHA-256; bound to its
 * workspace and, optionally, one of that workspace's installations; listed
 * without tokens; revoked with a time; seen by the product's tenant role
 * for its own workspace only, and never written by it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define WS1 "a0000000-0000-4000-8000-000000000001"
#define WS2 "a0000000-0000-4000-8000-000000000002"

/* The token a `credentials create` printed (new), or fail. */
static char *token_of(const char *out) {
    const char *at = strstr(out, "keep it secret): ");
    if (!at) fail_msg("no token in:\n%s", out);
    at += strlen("keep it secret): ");
    size_t n = strcspn(at, "\n");
    if (n != 4 + 43 || strncmp(at, "snt_", 4)) fail_msg("not a token: %.*s", (int)n, at);
    for (size_t i = 4; i < n; i++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", at[i]))
            fail_msg("not URL-safe: %.*s", (int)n, at);
    return strndup(at, n);
}

static void test_credentials(void **state) {
    (void)state;
    char *name;
    char *conninfo = harness_migrated_database("sentinel_credentials", 2, &name);
    const char *owner_url = harness_as_owner(conninfo);
    char *owner_info = strdup(owner_url);
    PGconn *owner = harness_connect(owner_info);

    char *out = harness_must_run(
        "credentials create --workspace " WS1 " --name github-app --db \"%s\"", owner_info);
    char *token = token_of(out);
    free(out);
    out = harness_must_run("credentials create --workspace " WS1 " --name other --db \"%s\"",
                           owner_info);
    char *second = token_of(out);
    free(out);
    assert_string_not_equal(token, second);

    /* Stored as its hash only: the token is in no column. */
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM ingest_credentials WHERE token_sha256 = "
             "sha256(convert_to('%s', 'UTF8')) AND name = 'github-app'",
             token);
    assert_int_equal(harness_query_int(owner, sql), 1);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM ingest_credentials c WHERE strpos(c::text, '%s') > 0",
             token + 4);
    assert_int_equal(harness_query_int(owner, sql), 0);

    /* Bound to an installation of its own workspace only. */
    char *rc_out = NULL;
    char *args = NULL;
    assert_true(asprintf(&args,
                         "credentials create --workspace " WS1
                         " --name wrong --installation a2000000-0000-4000-8000-000000000002 "
                         "--db \"%s\"",
                         owner_info) > 0);
    assert_int_equal(harness_run_sentinel(args, &rc_out), 1);
    assert_non_null(strstr(rc_out, "installation"));
    free(rc_out);
    free(args);
    free(harness_must_run("credentials create --json --workspace " WS2
                          " --name gitlab --installation a2000000-0000-4000-8000-000000000002 "
                          "--db \"%s\"",
                          owner_info));

    /* Listed without tokens; revoked with a time, once. */
    out = harness_must_run("credentials list --json --db \"%s\"", owner_info);
    assert_non_null(strstr(out, "\"installation_id\": \"a2000000-0000-4000-8000-000000000002\""));
    assert_null(strstr(out, "snt_"));
    assert_null(strstr(out, "token"));
    free(out);
    char *id =
        harness_query_value(owner, "SELECT id FROM ingest_credentials WHERE name = 'github-app'");
    free(harness_must_run("credentials revoke %s --db \"%s\"", id, owner_info));
    assert_int_equal(harness_query_int(owner, "SELECT count(*) FROM ingest_credentials WHERE "
                                              "revoked_at IS NOT NULL"),
                     1);
    assert_true(asprintf(&args,
                         "credentials revoke a9999999-0000-4000-8000-000000000000 --db \"%s\"",
                         owner_info) > 0);
    assert_int_equal(harness_run_sentinel(args, &rc_out), 1);
    assert_non_null(strstr(rc_out, "no credential"));
    free(rc_out);
    free(args);
    assert_int_equal(harness_run_sentinel("credentials create --workspace " WS1, &rc_out), 2);
    assert_non_null(strstr(rc_out, "--name"));
    free(rc_out);

    /* The product's tenant: its own workspace's credentials, read only. */
    char *app_info = harness_conninfo_as(conninfo, "sentinel_app");
    PGconn *app = harness_connect(app_info);
    harness_exec(app, "SET sentinel.workspace_id = '" WS2 "'");
    assert_int_equal(harness_query_int(app, "SELECT count(*) FROM ingest_credentials"), 1);
    char *state_code = harness_exec_fails(
        app,
        "INSERT INTO ingest_credentials (workspace_id, name, token_sha256) VALUES ('" WS2
        "', 'mine', sha256('x'))",
        NULL);
    assert_string_equal(state_code, "42501");
    free(state_code);
    PQfinish(app);
    free(app_info);

    free(id);
    free(token);
    free(second);
    PQfinish(owner);
    free(owner_info);
    harness_drop_database(name);
    free(name);
    free(conninfo);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credentials),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
