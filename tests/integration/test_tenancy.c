/* test_tenancy.c -- one tenant cannot reach another: an event id first used
 * by one workspace does not make another workspace's event a duplicate; a
 * sentinel_app session sees its workspace's rows and people only, in every
 * table, and cannot write what billing and the engine own; the engine runs
 * as sentinel_projector, which is no superuser and cannot write the
 * control plane. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <sentinel/projector.h>

#include "harness.h"

#define WS1 "a0000000-0000-4000-8000-000000000001"
#define WS2 "a0000000-0000-4000-8000-000000000002"
#define SHARED_ID "f0000000-0000-4000-8000-000000000001"

/* `sql` must fail for want of a privilege. */
static void denied(PGconn *conn, const char *sql) {
    char *code = harness_exec_fails(conn, sql, NULL);
    if (strcmp(code, "42501")) fail_msg("%s: SQLSTATE %s, not insufficient_privilege", sql, code);
    free(code);
}

static void test_event_ids_are_per_workspace(void **state) {
    (void)state;
    char *name;
    char *conninfo = harness_migrated_database("sentinel_ids", 2, &name);
    char *topic = harness_unique_name("test.ids");
    char *prefix = harness_unique_name("ids");
    char path[] = "/tmp/sentinel_ids_XXXXXX";
    FILE *f = fdopen(mkstemp(path), "w");
    /* Workspace 2 uses the id first, then workspace 1 with the same id, for
     * an activity and for usage; then a true redelivery of workspace 1's. */
    const char *order[3] = {WS2, WS1, WS1};
    for (int k = 0; k < 3; k++) {
        fprintf(f,
                "{\"event_id\": \"" SHARED_ID "\", \"type\": \"ActivityLogged\", \"workspace_id\": "
                "\"%s\", \"occurred_at\": \"2026-11-26T10:00:00Z\", \"data\": {\"activity_id\": "
                "\"f1000000-0000-4000-8000-00000000000%d\", \"type\": \"x\"}}\n",
                order[k], k < 2 ? k : 1);
        fprintf(
            f,
            "{\"event_id\": \"" SHARED_ID "\", \"type\": \"UsageIncremented\", \"workspace_id\": "
            "\"%s\", \"occurred_at\": \"2026-11-26T10:00:00Z\", \"data\": {\"metric\": \"runs\", "
            "\"amount\": 3}}\n",
            order[k]);
    }
    fclose(f);
    assert_int_equal(harness_publish(topic, path), 0);
    unlink(path);
    harness_project(conninfo, topic, prefix);

    PGconn *conn = harness_connect(conninfo);
    assert_int_equal(
        harness_query_int(conn, "SELECT count(*) FROM activities WHERE workspace_id = '" WS1 "'"),
        1);
    assert_int_equal(
        harness_query_int(conn, "SELECT count(*) FROM activities WHERE workspace_id = '" WS2 "'"),
        1);
    assert_int_equal(
        harness_query_int(conn,
                          "SELECT count(*) FROM usage_ledger WHERE event_id = '" SHARED_ID "'"),
        2);
    assert_int_equal(
        harness_query_int(
            conn, "SELECT sum(runs_count) FROM usage_records WHERE workspace_id = '" WS1 "'"),
        3);
    assert_int_equal(
        harness_query_int(
            conn, "SELECT sum(runs_count) FROM usage_records WHERE workspace_id = '" WS2 "'"),
        3);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM dead_letters"), 0);
    PQfinish(conn);
    harness_drop_database(name);
    free(prefix);
    free(topic);
    free(name);
    free(conninfo);
}

/* Tables without a workspace_id column, and how a tenant may see them. */
static const struct {
    const char *table;
    const char *rule;
} global_tables[] = {
    {"users", "people"},    /* the workspace's own people, read only */
    {"workspaces", "self"}, /* its own row */
    {"plans", "reference"}, /* read only, every row */
    {"providers", "reference"},    {"provider_models", "reference"},
    {"schema_migrations", "none"}, /* no access */
    {"projector_offsets", "none"}, {"projection_jobs", "none"},
};

/* What a tenant can never write, whatever its workspace. */
static const char *const engine_owned[] = {
    "users",
    "plans",
    "providers",
    "provider_models",
    "subscriptions",
    "usage_records",
    "usage_ledger",
    "workspace_daily_metrics",
    "schema_migrations",
    "projector_offsets",
    "applied_events",
    "dead_letters",
    "projection_jobs",
};

static void test_every_table_is_tenant_scoped(void **state) {
    (void)state;
    char *name;
    char *conninfo = harness_migrated_database("sentinel_roles", 2, &name);
    /* Rows of both workspaces in every workspace-scoped table: the engine's
     * from generated events, the rest seeded as the control plane would. */
    char *topic = harness_unique_name("test.roles");
    char *prefix = harness_unique_name("roles");
    char *path = harness_gen("--events 4000 --workspaces 2 --seed 3");
    assert_int_equal(harness_publish(topic, path), 0);
    unlink(path);
    free(path);
    harness_project(conninfo, topic, prefix);

    PGconn *owner = harness_connect(harness_as_owner(conninfo));
    char *seed = harness_read_file(SENTINEL_SOURCE_DIR "/tests/data/tenancy/seed.sql");
    harness_exec(owner, seed);
    free(seed);
    char *app_info = harness_conninfo_as(conninfo, "sentinel_app");
    PGconn *app = harness_connect(app_info);
    harness_exec(app, "SET sentinel.workspace_id = '" WS1 "'");

    PGresult *tables = PQexec(
        owner,
        "SELECT c.relname, EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid "
        "AND a.attname = 'workspace_id' AND NOT a.attisdropped), c.relrowsecurity, "
        "c.relforcerowsecurity, has_table_privilege('sentinel_app', c.oid, 'SELECT') "
        "FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') "
        "AND NOT c.relispartition ORDER BY 1");
    assert_int_equal(PQresultStatus(tables), PGRES_TUPLES_OK);
    assert_true(PQntuples(tables) > 30);
    for (int t = 0; t < PQntuples(tables); t++) {
        const char *table = PQgetvalue(tables, t, 0);
        int scoped = !strcmp(PQgetvalue(tables, t, 1), "t");
        int rls = !strcmp(PQgetvalue(tables, t, 2), "t") && !strcmp(PQgetvalue(tables, t, 3), "t");
        int readable = !strcmp(PQgetvalue(tables, t, 4), "t");
        char sql[512];
        if (scoped) {
            if (!rls) fail_msg("%s has a workspace_id but no forced row security", table);
            /* The check below proves something only with rows of both. */
            snprintf(sql, sizeof(sql),
                     "SELECT count(DISTINCT workspace_id) FROM %s WHERE workspace_id IN ('" WS1
                     "', '" WS2 "')",
                     table);
            if (harness_query_int(owner, sql) != 2)
                fail_msg("%s holds no rows of both workspaces: seed it "
                         "(tests/data/tenancy/seed.sql)",
                         table);
            if (!readable) continue;
            snprintf(
                sql, sizeof(sql),
                "SELECT count(*) FROM %s WHERE workspace_id IS NOT NULL AND workspace_id <> '" WS1
                "'",
                table);
            if (harness_query_int(app, sql) != 0)
                fail_msg("a tenant sees another's rows in %s", table);
            snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
            long long mine = harness_query_int(app, sql);
            snprintf(sql, sizeof(sql),
                     "SELECT count(*) FROM %s WHERE workspace_id = '" WS1
                     "' OR workspace_id IS NULL",
                     table);
            if (mine != harness_query_int(owner, sql))
                fail_msg("a tenant does not see all of its rows in %s", table);
            continue;
        }
        const char *rule = NULL;
        for (size_t k = 0; k < sizeof(global_tables) / sizeof(global_tables[0]); k++)
            if (!strcmp(global_tables[k].table, table)) rule = global_tables[k].rule;
        if (!rule) fail_msg("%s has no workspace_id and no stated tenancy rule", table);
        if (!strcmp(rule, "none")) {
            if (readable) fail_msg("a tenant can read %s", table);
        } else if (!readable) {
            fail_msg("a tenant cannot read %s", table);
        } else if (!strcmp(rule, "self")) {
            assert_int_equal(
                harness_query_int(app, "SELECT count(*) FROM workspaces WHERE id <> '" WS1 "'"), 0);
            assert_int_equal(harness_query_int(app, "SELECT count(*) FROM workspaces"), 1);
        } else if (!strcmp(rule, "people")) {
            /* Owner and team members of workspace 1, not workspace 2's owner. */
            long long want = harness_query_int(
                owner, "SELECT count(*) FROM users WHERE id IN (SELECT owner_user_id FROM "
                       "workspaces WHERE id = '" WS1 "' "
                       "UNION SELECT user_id FROM team_members WHERE workspace_id = '" WS1 "')");
            assert_true(want > 1);
            assert_int_equal(harness_query_int(app, "SELECT count(*) FROM users"), want);
            assert_true(harness_query_int(owner, "SELECT count(*) FROM users") > want);
        }
    }
    PQclear(tables);

    for (size_t k = 0; k < sizeof(engine_owned) / sizeof(engine_owned[0]); k++) {
        char sql[512];
        snprintf(sql, sizeof(sql),
                 "SELECT has_table_privilege('sentinel_app', '%s', 'INSERT') OR "
                 "has_table_privilege('sentinel_app', '%s', 'UPDATE') OR "
                 "has_table_privilege('sentinel_app', '%s', 'DELETE') OR "
                 "has_table_privilege('sentinel_app', '%s', 'TRUNCATE')",
                 engine_owned[k], engine_owned[k], engine_owned[k], engine_owned[k]);
        char *v = harness_query_value(owner, sql);
        if (strcmp(v, "f")) fail_msg("a tenant can write %s", engine_owned[k]);
        free(v);
    }
    /* As a tenant would try it. */
    denied(app, "UPDATE users SET name = 'x'");
    denied(app, "DELETE FROM schema_migrations");
    denied(app, "UPDATE usage_records SET tokens_estimated = 0");
    denied(app, "UPDATE workspaces SET subscription_status = 'active'");
    denied(app, "UPDATE workspaces SET plan_id = NULL");
    /* Naming another workspace's owner as an inviter would show them. */
    char *code = harness_exec_fails(
        app,
        "INSERT INTO invitations (workspace_id, team_id, email, role, token, expires_at, "
        "invited_by_id) "
        "SELECT '" WS1 "', t.id, 'x@example.com', 'member', 'tok-1', now() + interval '1 day', "
        "'"
        "c0000000-0000-4000-8000-000000000002"
        "' FROM teams t",
        NULL);
    assert_string_equal(code, "23503");
    free(code);
    harness_exec(app, "UPDATE workspaces SET name = 'renamed by its tenant'");
    assert_int_equal(
        harness_query_int(owner,
                          "SELECT count(*) FROM workspaces WHERE name = 'renamed by its tenant'"),
        1);
    /* Unset, a session sees nothing. */
    harness_exec(app, "RESET sentinel.workspace_id");
    assert_int_equal(harness_query_int(app, "SELECT count(*) FROM users"), 0);
    assert_int_equal(harness_query_int(app, "SELECT count(*) FROM usage_records"), 0);

    /* The engine's role: no superuser, no control-plane writes. */
    PGconn *engine = harness_connect(conninfo);
    char *who = harness_query_value(
        engine,
        "SELECT current_user || ' ' || rolsuper FROM pg_roles WHERE rolname = current_user");
    assert_string_equal(who, "sentinel_projector false");
    free(who);
    denied(engine, "UPDATE repositories SET name = 'x'");
    denied(engine, "DELETE FROM usage_ledger");
    char *state_code = harness_exec_fails(
        engine, "SELECT sentinel_ensure_partitions('1999-12-01T00:00:00Z')", NULL);
    assert_string_equal(state_code, "22008");
    free(state_code);

    /* Every registered projector, as its migration registered it: its own
     * ledger partition, and on each of its tables forced row security and
     * the engine's right to write. */
    for (size_t i = 0; sentinel_projectors[i]; i++) {
        const sentinel_projector_t *p = sentinel_projectors[i];
        char sql[512];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM pg_class WHERE relname = "
                 "'applied_events_%s' AND relispartition",
                 p->name);
        if (harness_query_int(owner, sql) != 1)
            fail_msg("projector %s has no applied_events partition", p->name);
        for (size_t t = 0; p->tables[t]; t++) {
            snprintf(sql, sizeof(sql),
                     "SELECT count(*) FROM pg_class WHERE oid = 'public.%s'::regclass AND "
                     "relforcerowsecurity AND has_table_privilege('sentinel_projector', oid, "
                     "'INSERT')",
                     p->tables[t]);
            if (harness_query_int(owner, sql) != 1)
                fail_msg("projector %s: table %s lacks forced row security or the engine's "
                         "grant",
                         p->name, p->tables[t]);
        }
    }

    PQfinish(engine);
    PQfinish(app);
    PQfinish(owner);
    free(app_info);
    harness_drop_database(name);
    free(prefix);
    free(topic);
    free(name);
    free(conninfo);
}

/* No function that runs with its owner's rights resolves names through
 * its caller's search_path, and the projector still makes partitions
 * through them, live and in a rebuild's shadow. */
static void test_definer_functions_fix_their_search_path(void **state) {
    (void)state;
    char *name;
    char *conninfo = harness_migrated_database("sentinel_definer", 1, &name);
    PGconn *owner = harness_connect(harness_as_owner(conninfo));
    char *loose = harness_query_value(
        owner, "SELECT coalesce(string_agg(p.oid::regprocedure::text, ', '), '') FROM pg_proc p "
               "WHERE p.prosecdef AND p.pronamespace = 'public'::regnamespace AND NOT "
               "coalesce(EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE "
               "'search_path=%'), false)");
    if (*loose) fail_msg("SECURITY DEFINER without SET search_path: %s", loose);
    free(loose);
    assert_true(harness_query_int(owner, "SELECT count(*) FROM pg_proc WHERE prosecdef AND "
                                         "pronamespace = 'public'::regnamespace") >= 1);
    PGconn *engine = harness_connect(conninfo);
    char *part = harness_query_value(
        engine, "SELECT sentinel_ensure_month_partition('runs', '2031-05-06T00:00:00Z')");
    assert_string_equal(part, "runs_y2031m05");
    free(part);
    assert_int_equal(harness_query_int(owner, "SELECT count(*) FROM pg_class WHERE relname = "
                                              "'runs_y2031m05' AND relnamespace = "
                                              "'public'::regnamespace"),
                     1);
    /* A table of the caller's own named like the parent is not followed
     * into a schema the function may not write. */
    char *state_code = harness_exec_fails(
        engine, "SELECT sentinel_create_month_partition('pg_catalog', 'runs', now())", NULL);
    assert_string_equal(state_code, "42501");
    free(state_code);
    PQfinish(engine);
    PQfinish(owner);
    harness_drop_database(name);
    free(name);
    free(conninfo);
}

/* A command that needs the owner, run as the engine's role, says so and
 * names the owner's connection instead of only PostgreSQL's "permission
 * denied". */
static void test_owner_commands_name_the_owner(void **state) {
    (void)state;
    char *fresh = harness_unique_name("sentinel_notmigrated");
    char *owner = harness_create_database(fresh);
    char *engine = harness_conninfo_as(owner, "sentinel_projector");
    char *cmd = NULL, *out = NULL;
    assert_true(asprintf(&cmd, "migrate --db \"%s\"", engine) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 1);
    if (!strstr(out, "permission denied") || !strstr(out, "SENTINEL_OWNER_URL"))
        fail_msg("migrate as the engine's role said:\n%s", out);
    free(out);
    free(cmd);
    harness_drop_database(fresh);

    char *name = NULL;
    char *conninfo = harness_migrated_database("sentinel_owner_hint", 1, &name);
    harness_create_topic(name, 1);
    assert_true(asprintf(&cmd, "rebuild --projector runs --db \"%s\" --topic %s", conninfo, name) >
                0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 1);
    if (!strstr(out, "permission denied") || !strstr(out, "SENTINEL_OWNER_URL"))
        fail_msg("rebuild as the engine's role said:\n%s", out);
    free(out);
    free(cmd);
    harness_drop_database(name);
    free(name);
    free(conninfo);
    free(engine);
    free(owner);
    free(fresh);
}

/* `usage` of a workspace that does not exist is an error, not "no usage". */
static void test_usage_of_an_unknown_workspace(void **state) {
    (void)state;
    char *name = NULL;
    char *conninfo = harness_migrated_database("sentinel_usage_unknown", 1, &name);
    char *cmd = NULL, *out = NULL;
    assert_true(asprintf(&cmd, "usage --workspace a9999999-0000-4000-8000-000000000001 --db \"%s\"",
                         conninfo) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 1);
    assert_non_null(strstr(out, "no workspace a9999999-0000-4000-8000-000000000001"));
    free(out);
    free(cmd);
    assert_true(asprintf(&cmd, "usage --workspace a0000000-0000-4000-8000-000000000001 --db \"%s\"",
                         conninfo) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 0);
    assert_non_null(strstr(out, "no usage recorded"));
    free(out);
    free(cmd);
    harness_drop_database(name);
    free(name);
    free(conninfo);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_ids_are_per_workspace),
        cmocka_unit_test(test_every_table_is_tenant_scoped),
        cmocka_unit_test(test_definer_functions_fix_their_search_path),
        cmocka_unit_test(test_owner_commands_name_the_owner),
        cmocka_unit_test(test_usage_of_an_unknown_workspace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
