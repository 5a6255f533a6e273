/* test_schema.c -- the data model in the real PostgreSQL: `sentinel
 * migrate` (fresh, repeated, upgrade, checksum refusal, concurrent runners)
 * and the rules the database enforces (tenancy for all four verbs,
 * immutability, monthly partitions, encryption, reference data, fixtures). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "pg/migrate.h"

/* A migrated database, as its owner: these tests look at the schema itself
 * and act as each role in turn. */
static char *owner_database(const char *prefix, int workspaces, char **name) {
    char *engine = harness_migrated_database(prefix, workspaces, name);
    char *owner = harness_conninfo_as(engine, NULL);
    free(engine);
    return owner;
}

/* Every table and key field of the data model. */
static const char *const model[] = {
    "users: id name email avatar_url created_at updated_at",
    "workspaces: id name owner_user_id plan_id subscription_status trial_ends_at created_at "
    "updated_at",
    "teams: id workspace_id name created_at updated_at",
    "team_members: id team_id user_id role created_at updated_at workspace_id",
    "invitations: id team_id email role token expires_at created_at workspace_id",
    "providers: id name slug created_at",
    "connections: id workspace_id provider_id status metadata created_at updated_at",
    "installations: id workspace_id provider_id external_id metadata created_at updated_at",
    "repositories: id workspace_id installation_id external_id name default_branch is_enabled "
    "created_at updated_at",
    "repository_settings: id repository_id settings created_at updated_at workspace_id",
    "runs: id workspace_id repository_id external_reference status started_at completed_at "
    "metrics policy_snapshot metadata created_at",
    "findings: id run_id finding_hash workspace_id severity category title description file_path "
    "line_start line_end confidence metadata rule_id created_at",
    "annotations: id finding_id workspace_id provider_id external_id type created_at",
    "command_runs: id workspace_id repository_id external_reference github_comment_id "
    "issue_number is_pull_request command_type query status started_at completed_at "
    "duration_seconds response context_snapshot metrics metadata created_at",
    "briefings: id workspace_id title slug description icon target_roles parameter_schema "
    "prompt_path requires_ai eligible_plan_ids output_formats is_schedulable is_system "
    "sort_order is_active created_at updated_at",
    "briefing_generations: id workspace_id briefing_id generated_by_id parameters status "
    "progress progress_message started_at completed_at narrative structured_data achievements "
    "excerpts output_paths metadata error_message expires_at created_at",
    "briefing_subscriptions: id workspace_id user_id briefing_id schedule_preset schedule_day "
    "schedule_hour parameters delivery_channels slack_webhook_url last_generated_at "
    "next_scheduled_at is_active created_at updated_at",
    "briefing_shares: id briefing_generation_id workspace_id created_by_id token password_hash "
    "access_count max_accesses expires_at is_active created_at",
    "briefing_downloads: id briefing_generation_id workspace_id user_id format source "
    "ip_address user_agent downloaded_at",
    "activities: id workspace_id user_id type subject_type subject_id description metadata "
    "created_at",
    "policies: id workspace_id name config version created_at",
    "plans: id tier description monthly_runs_limit monthly_commands_limit team_size_limit "
    "features limits price_monthly price_yearly created_at updated_at",
    "subscriptions: id workspace_id plan_id status started_at ends_at stripe_customer_id "
    "stripe_subscription_id created_at updated_at",
    "usage_records: id workspace_id period_start period_end runs_count commands_count "
    "briefings_count findings_count annotations_count tokens_estimated created_at updated_at",
    "provider_keys: id workspace_id provider encrypted_key created_at updated_at",
    "provider_models: id provider identifier name description is_default is_active sort_order "
    "context_window_tokens max_output_tokens created_at updated_at",
    "workspace_daily_metrics: workspace_id date runs_count findings_count critical_count "
    "warning_count tokens_estimated",
    "projector_offsets: projector topic partition next_offset",
    "dead_letters: projector topic partition kafka_offset event_id workspace_id event_type reason "
    "payload",
    "usage_ledger: event_id workspace_id metric amount occurred_at period_start",
    "applied_events: projector event_id",
};

static void test_fresh_database_has_the_whole_model(void **state) {
    (void)state;
    char *db;
    char *conninfo = owner_database("sentinel_schema", 0, &db);
    PGconn *conn = harness_connect(conninfo);
    for (size_t i = 0; i < sizeof(model) / sizeof(model[0]); i++) {
        char *spec = strdup(model[i]);
        char *colon = strchr(spec, ':');
        *colon = '\0';
        char *save = NULL;
        for (char *col = strtok_r(colon + 1, " ", &save); col; col = strtok_r(NULL, " ", &save)) {
            char sql[512];
            snprintf(sql, sizeof(sql),
                     "SELECT count(*) FROM information_schema.columns "
                     "WHERE table_schema = 'public' AND table_name = '%s' AND column_name = '%s'",
                     spec, col);
            if (harness_query_int(conn, sql) != 1) fail_msg("missing column %s.%s", spec, col);
        }
        free(spec);
    }
    /* The unique indexes the model names. */
    assert_int_equal(
        harness_query_int(
            conn, "SELECT count(*) FROM pg_indexes WHERE indexdef LIKE 'CREATE UNIQUE INDEX%' AND ("
                  " (tablename = 'command_runs' AND indexdef LIKE '%(workspace_id, "
                  "external_reference)%') OR"
                  " (tablename = 'briefings' AND indexdef LIKE '%(slug)%') OR"
                  " (tablename = 'briefing_shares' AND indexdef LIKE '%(token)%'))"),
        3);
    /* Tenant-first, time-second indexes on the time-partitioned tables. */
    assert_int_equal(
        harness_query_int(conn,
                          "SELECT count(*) FROM pg_indexes WHERE tablename IN ('runs', 'findings') "
                          "AND indexdef LIKE '%(workspace_id, created_at)'"),
        2);
    assert_int_equal(
        harness_query_int(
            conn,
            "SELECT count(*) FROM pg_partitioned_table pt JOIN pg_class c ON c.oid = pt.partrelid "
            "WHERE c.relname IN ('runs', 'findings') AND pt.partstrat = 'r'"),
        2);

    /* A second run changes nothing. */
    char *cmd = NULL, *out = NULL;
    assert_true(asprintf(&cmd, "migrate --db \"%s\"", conninfo) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 0);
    assert_non_null(strstr(out, "up to date"));
    free(out);
    free(cmd);
    assert_true(asprintf(&cmd, "migrate --status --db \"%s\"", conninfo) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 0);
    assert_non_null(strstr(out, "applied  0001_identity.sql"));
    assert_non_null(strstr(out, "0 pending"));
    free(out);
    free(cmd);

    PQfinish(conn);
    harness_drop_database(db);
    free(db);
    free(conninfo);
}

/* Every earlier version upgrades to the schema a fresh database gets; from
 * 0010 on with rows in it (tests/data/upgrade/seed.sql), kept through. */
static void test_upgrade_from_every_earlier_version(void **state) {
    (void)state;
    char *fresh_db;
    char *fresh = owner_database("sentinel_upgrade_ref", 0, &fresh_db);
    PGconn *ref = harness_connect(fresh);
    /* The month the seeded rows fall in has its partitions everywhere. */
    static const char partitions[] = "SELECT sentinel_ensure_partitions('2026-11-20T10:00:00Z')";
    free(harness_query_value(ref, partitions));
    char *expected = harness_schema_fingerprint(ref);
    int versions = (int)harness_query_int(ref, "SELECT max(version) FROM schema_migrations");
    PQfinish(ref);

    for (int stop = 1; stop < versions; stop++) {
        char *db = harness_unique_name("sentinel_upgrade");
        char *conninfo = harness_create_database(db);
        char *cmd = NULL, *out = NULL;
        assert_true(asprintf(&cmd, "migrate --to %d --db \"%s\"", stop, conninfo) > 0);
        if (harness_run_sentinel(cmd, &out)) fail_msg("migrate --to %d: %s", stop, out);
        free(out);
        free(cmd);
        PGconn *conn = harness_connect(conninfo);
        assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM schema_migrations"), stop);
        /* From the first version that holds the control plane's reference
         * data: the fixtures and a row of every kind the engine writes, so
         * the upgrade's data migrations run over rows. */
        int seeded = stop >= 10;
        if (seeded) {
            assert_true(asprintf(&cmd, "%s/scripts/fixtures --db \"%s\" --workspaces 2 >/dev/null",
                                 SENTINEL_SOURCE_DIR, conninfo) > 0);
            if (system(cmd)) fail_msg("fixtures at version %d", stop);
            free(cmd);
            char *seed = harness_read_file(SENTINEL_SOURCE_DIR "/tests/data/upgrade/seed.sql");
            harness_exec(conn, seed);
            free(seed);
        }
        assert_true(asprintf(&cmd, "migrate --db \"%s\"", conninfo) > 0);
        if (harness_run_sentinel(cmd, &out)) fail_msg("upgrade from %d: %s", stop, out);
        free(out);
        free(cmd);
        free(harness_query_value(conn, partitions));
        char *got = harness_schema_fingerprint(conn);
        if (strcmp(got, expected))
            fail_msg("schema upgraded from %d differs from a fresh one", stop);
        free(got);
        if (seeded) {
            /* Every row came through; the one without a workspace, which no
             * event can match since 0012, did not. */
            assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM runs"), 1);
            assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM findings f JOIN "
                                                     "finding_keys k USING (id, workspace_id, "
                                                     "run_id)"),
                             1);
            assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM usage_ledger"), 1);
            assert_int_equal(harness_query_int(conn, "SELECT tokens_estimated FROM usage_records"),
                             7);
            assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM dead_letters"), 1);
            assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM projector_offsets"), 2);
            assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM applied_events WHERE "
                                                     "workspace_id IS NOT NULL"),
                             1);
            assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM applied_events"), 1);
            assert_true(harness_query_int(conn, "SELECT count(*) FROM workspaces") >= 2);
        }
        PQfinish(conn);
        harness_drop_database(db);
        free(db);
        free(conninfo);
    }
    free(expected);
    harness_drop_database(fresh_db);
    free(fresh_db);
    free(fresh);
}

/* The engine refuses a database migrated short of the schema it is built
 * for, naming both versions, before it applies anything (its statements
 * would meet tables and functions as they were: a column it no longer
 * writes, left NOT NULL, would pass for bad data and dead-letter every
 * event). Migrated, the same events project with no dead letter. The
 * newest migration in the tree is the version the engine asks for. */
static void test_engine_needs_its_schema(void **state) {
    (void)state;
    int rc;
    char *newest = harness_shell(&rc, "ls %s/migrations | sort | tail -n 1", SENTINEL_SOURCE_DIR);
    assert_int_equal(rc, 0);
    assert_int_equal(atoi(newest), SENTINEL_SCHEMA_VERSION);
    free(newest);

    char *db = harness_unique_name("sentinel_older");
    char *owner = harness_create_database(db);
    char *engine = harness_conninfo_as(owner, "sentinel_projector");
    free(harness_must_run("migrate --to %d --db \"%s\"", SENTINEL_SCHEMA_VERSION - 1, owner));
    free(harness_shell(&rc, "%s/scripts/fixtures --db \"%s\" --workspaces 2 2>&1",
                       SENTINEL_SOURCE_DIR, owner));
    assert_int_equal(rc, 0);
    char *topic = harness_unique_name("sentinel.older");
    harness_create_topic(topic, 3);
    char *events = harness_gen("--events 2000 --workspaces 2 --seed 31");
    assert_int_equal(harness_publish(topic, events), 0);

    char *cmd = NULL, *out = NULL;
    assert_true(asprintf(&cmd, "project --until-caught-up --db \"%s\" --topic %s --group-prefix %s",
                         engine, topic, db) > 0);
    assert_int_not_equal(harness_run_sentinel(cmd, &out), 0);
    char expected[128];
    snprintf(expected, sizeof(expected), "schema is at version %d and this engine needs %d",
             SENTINEL_SCHEMA_VERSION - 1, SENTINEL_SCHEMA_VERSION);
    if (!strstr(out, expected)) fail_msg("no refusal naming the versions:\n%s", out);
    free(out);
    PGconn *conn = harness_connect(owner);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM dead_letters"), 0);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM applied_events"), 0);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM projector_offsets"), 0);

    free(harness_must_run("migrate --db \"%s\"", owner));
    assert_int_equal(harness_run_sentinel(cmd, &out), 0);
    free(out);
    assert_true(harness_query_int(conn, "SELECT count(*) FROM findings") > 0);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM dead_letters"), 0);
    PQfinish(conn);
    unlink(events);
    free(events);
    free(cmd);
    free(topic);
    free(engine);
    free(owner);
    harness_drop_database(db);
    free(db);
}

static void test_changed_migration_is_refused(void **state) {
    (void)state;
    char dir[] = "/tmp/sentinel_migrations_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *cmd = NULL, *out = NULL;
    assert_true(asprintf(&cmd, "cp %s/migrations/*.sql %s/", SENTINEL_SOURCE_DIR, dir) > 0);
    assert_int_equal(system(cmd), 0);
    free(cmd);

    char *db = harness_unique_name("sentinel_checksum");
    char *conninfo = harness_create_database(db);
    assert_true(asprintf(&cmd, "migrate --dir %s --db \"%s\"", dir, conninfo) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 0);
    free(out);

    char path[512];
    snprintf(path, sizeof(path), "%s/0004_commands.sql", dir);
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputs("\n-- an edit after landing\n", f);
    fclose(f);

    assert_int_equal(harness_run_sentinel(cmd, &out), 1);
    assert_non_null(strstr(out, "0004_commands.sql was changed after it was applied"));
    free(out);
    free(cmd);

    assert_true(asprintf(&cmd, "migrate --status --dir %s --db \"%s\"", dir, conninfo) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 0);
    assert_non_null(strstr(out, "CHANGED  0004_commands.sql"));
    free(out);
    free(cmd);

    /* A broken new migration names its file and line, and rolls back whole. */
    snprintf(path, sizeof(path), "%s/0999_broken.sql", dir);
    f = fopen(path, "w");
    fputs("CREATE TABLE broken_a (id int);\n\nCREATE TABLE broken_b (id nosuchtype);\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/0004_commands.sql", dir);
    assert_true(asprintf(&cmd, "cp %s/migrations/0004_commands.sql %s", SENTINEL_SOURCE_DIR, path) >
                0);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    assert_true(asprintf(&cmd, "migrate --dir %s --db \"%s\"", dir, conninfo) > 0);
    assert_int_equal(harness_run_sentinel(cmd, &out), 1);
    assert_non_null(strstr(out, "0999_broken.sql: line 3:"));
    assert_non_null(strstr(out, "nosuchtype"));
    free(out);
    free(cmd);
    PGconn *conn = harness_connect(conninfo);
    assert_int_equal(
        harness_query_int(conn, "SELECT count(*) FROM pg_class WHERE relname = 'broken_a'"), 0);
    PQfinish(conn);

    assert_true(asprintf(&cmd, "rm -rf %s", dir) > 0);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    harness_drop_database(db);
    free(db);
    free(conninfo);
}

static void test_concurrent_runners(void **state) {
    (void)state;
    char *db = harness_unique_name("sentinel_concurrent");
    char *conninfo = harness_create_database(db);
    enum { RUNNERS = 4 };
    pid_t pids[RUNNERS];
    for (int i = 0; i < RUNNERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            execl(SENTINEL_BINARY, "sentinel", "migrate", "--db", conninfo, (char *)NULL);
            _exit(127);
        }
    }
    for (int i = 0; i < RUNNERS; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    PGconn *conn = harness_connect(conninfo);
    long long files = 0;
    char *cmd = NULL;
    assert_true(asprintf(&cmd, "ls %s/migrations/*.sql | wc -l", SENTINEL_SOURCE_DIR) > 0);
    FILE *p = popen(cmd, "r");
    assert_int_equal(fscanf(p, "%lld", &files), 1);
    pclose(p);
    free(cmd);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM schema_migrations"), files);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM plans"), 4);
    PQfinish(conn);
    harness_drop_database(db);
    free(db);
    free(conninfo);
}

/* ---------------------------------------------------------------- rules */

typedef struct model_db {
    char *name;
    char *conninfo;
    PGconn *conn;
} model_db_t;

static int model_setup(void **state) {
    model_db_t *m = calloc(1, sizeof(*m));
    m->conninfo = owner_database("sentinel_rules", 2, &m->name);
    m->conn = harness_connect(m->conninfo);
    *state = m;
    return 0;
}

static int model_teardown(void **state) {
    model_db_t *m = *state;
    PQfinish(m->conn);
    harness_drop_database(m->name);
    free(m->name);
    free(m->conninfo);
    free(m);
    return 0;
}

#define RUN_A "11111111-1111-4111-8111-111111111111"
#define RUN_B "22222222-2222-4222-8222-222222222222"
#define RUN_C "99999999-9999-4999-8999-999999999999"
#define FINDING_A "33333333-3333-4333-8333-333333333333"
#define FINDING_B "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
#define EVENT "44444444-4444-4444-8444-444444444444"

/* One run (with a finding) in workspace 1 and one in workspace 2, as the
 * projector role would write them. */
static void seed_runs(PGconn *conn) {
    char sql[4096];
    harness_exec(conn, "SELECT sentinel_ensure_partitions('2026-11-20T10:00:00Z')");
    snprintf(
        sql, sizeof(sql),
        "INSERT INTO run_keys VALUES ('" RUN_A "', '%s', '2026-11-20T10:00:00Z'),"
        " ('" RUN_B "', '%s', '2026-11-20T11:00:00Z');"
        "INSERT INTO runs (id, workspace_id, repository_id, external_reference, event_id, "
        "created_at)"
        " VALUES ('" RUN_A "', '%s', '%s', 'pr-1', '" EVENT "', '2026-11-20T10:00:00Z'),"
        " ('" RUN_B "', '%s', '%s', 'pr-2', '" EVENT "', '2026-11-20T11:00:00Z');"
        "INSERT INTO finding_keys VALUES ('" FINDING_A "', '%s', '" RUN_A
        "', '2026-11-20T10:05:00Z');"
        "INSERT INTO findings (id, run_id, finding_hash, workspace_id, severity, category, title,"
        " event_id, created_at) VALUES ('" FINDING_A "', '" RUN_A "', 'h1', '%s', 'critical',"
        " 'security', 'SQL injection', '" EVENT "', '2026-11-20T10:05:00Z')",
        harness_workspace_id(1), harness_workspace_id(2), harness_workspace_id(1),
        harness_repository_id(1, 1), harness_workspace_id(2), harness_repository_id(2, 1),
        harness_workspace_id(1), harness_workspace_id(1));
    harness_exec(conn, sql);
}

static void as_app(PGconn *conn, const char *workspace) {
    harness_exec(conn, "RESET ROLE; SET ROLE sentinel_app");
    char sql[256];
    snprintf(sql, sizeof(sql), "SET sentinel.workspace_id = '%s'", workspace ? workspace : "");
    harness_exec(conn, sql);
}

static long long affected(PGconn *conn, const char *sql) {
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    long long n = atoll(PQcmdTuples(res));
    PQclear(res);
    return n;
}

static void test_tenancy(void **state) {
    model_db_t *m = *state;
    seed_runs(m->conn);
    const char *tables[] = {"runs",  "findings",      "repositories",  "team_members",
                            "teams", "installations", "subscriptions", "repository_settings"};
    char sql[1024];

    /* Workspace 1's session sees only workspace 1's rows, in every table. */
    as_app(m->conn, harness_workspace_id(1));
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE workspace_id <> '%s'", tables[i],
                 harness_workspace_id(1));
        assert_int_equal(harness_query_int(m->conn, sql), 0);
    }
    assert_int_equal(harness_query_int(m->conn, "SELECT count(*) FROM runs"), 1);
    assert_int_equal(harness_query_int(m->conn, "SELECT count(*) FROM workspaces"), 1);
    /* System templates are readable by every workspace. */
    assert_int_equal(harness_query_int(m->conn, "SELECT count(*) FROM briefings"), 3);

    /* Update and delete of another workspace's rows touch nothing. */
    snprintf(sql, sizeof(sql), "UPDATE repositories SET name = 'stolen' WHERE workspace_id = '%s'",
             harness_workspace_id(2));
    assert_int_equal(affected(m->conn, sql), 0);
    snprintf(sql, sizeof(sql), "DELETE FROM repository_settings WHERE workspace_id = '%s'",
             harness_workspace_id(2));
    assert_int_equal(affected(m->conn, sql), 0);
    snprintf(sql, sizeof(sql), "UPDATE runs SET status = 'failed' WHERE id = '" RUN_B "'");
    assert_int_equal(affected(m->conn, sql), 0);
    /* Moving a row of one's own into another workspace is refused. */
    snprintf(sql, sizeof(sql), "UPDATE policies SET workspace_id = '%s'", harness_workspace_id(2));
    assert_int_equal(affected(m->conn, sql), 0); /* no policies yet: nothing to move */
    snprintf(sql, sizeof(sql), "INSERT INTO policies (workspace_id, name) VALUES ('%s', 'mine')",
             harness_workspace_id(1));
    harness_exec(m->conn, sql);
    snprintf(sql, sizeof(sql), "UPDATE policies SET workspace_id = '%s'", harness_workspace_id(2));
    char *state_code = harness_exec_fails(m->conn, sql, NULL);
    assert_string_equal(state_code, "42501");
    free(state_code);

    /* Insert into another workspace is refused. */
    snprintf(sql, sizeof(sql), "INSERT INTO policies (workspace_id, name) VALUES ('%s', 'evil')",
             harness_workspace_id(2));
    char *message = NULL;
    state_code = harness_exec_fails(m->conn, sql, &message);
    assert_string_equal(state_code, "42501");
    assert_non_null(strstr(message, "row-level security"));
    free(state_code);
    free(message);

    /* No workspace set: nothing at all. */
    as_app(m->conn, NULL);
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", tables[i]);
        assert_int_equal(harness_query_int(m->conn, sql), 0);
    }
    harness_exec(m->conn, "RESET ROLE");

    /* The projector role bypasses it; workspace 2's data is intact. */
    harness_exec(m->conn, "SET ROLE sentinel_projector");
    assert_int_equal(harness_query_int(m->conn, "SELECT count(*) FROM runs"), 2);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM repositories WHERE name = 'stolen'");
    assert_int_equal(harness_query_int(m->conn, sql), 0);
    harness_exec(m->conn, "RESET ROLE");

    /* Every table with workspace_id has row-level security, forced. */
    assert_int_equal(
        harness_query_int(
            m->conn,
            "SELECT count(*) FROM information_schema.columns col JOIN pg_class c "
            "ON c.relname = col.table_name AND c.relnamespace = 'public'::regnamespace "
            "WHERE col.column_name = 'workspace_id' AND c.relkind IN ('r', 'p') "
            "AND NOT c.relispartition AND NOT (c.relrowsecurity AND c.relforcerowsecurity)"),
        0);
}

static void test_immutability(void **state) {
    model_db_t *m = *state;
    seed_runs(m->conn);
    char *code;
    char *message = NULL;

    /* A running run may be completed, once. */
    harness_exec(m->conn,
                 "UPDATE runs SET status = 'completed', completed_at = '2026-11-20T10:30:00Z',"
                 " completed_event_id = '" EVENT "' WHERE id = '" RUN_A "'");
    code = harness_exec_fails(m->conn, "UPDATE runs SET metrics = '{}' WHERE id = '" RUN_A "'",
                              &message);
    assert_string_equal(code, "23001");
    assert_non_null(strstr(message, "is completed and immutable"));
    free(code);
    free(message);
    code = harness_exec_fails(m->conn, "DELETE FROM runs WHERE id = '" RUN_B "'", &message);
    assert_string_equal(code, "23001");
    assert_non_null(strstr(message, "delete is not allowed"));
    free(code);
    free(message);
    /* Even a running run keeps what it started with. */
    code = harness_exec_fails(
        m->conn, "UPDATE runs SET external_reference = 'x' WHERE id = '" RUN_B "'", NULL);
    assert_string_equal(code, "23001");
    free(code);

    const char *append_only[] = {
        "UPDATE findings SET title = 'changed'", "DELETE FROM findings",
        "UPDATE activities SET type = 'x'",      "DELETE FROM activities",
        "UPDATE annotations SET type = 'x'",     "DELETE FROM annotations",
    };
    char sql[1024];
    snprintf(
        sql, sizeof(sql),
        "INSERT INTO activities (id, workspace_id, type, event_id, created_at) VALUES"
        " ('55555555-5555-4555-8555-555555555555', '%s', 'run.started', '" EVENT "', now());"
        "INSERT INTO annotations (id, finding_id, workspace_id, provider_id, external_id, type,"
        " event_id, created_at) SELECT '66666666-6666-4666-8666-666666666666', '" FINDING_A "',"
        " '%s', id, 'c-1', 'review_comment', '" EVENT
        "', now() FROM providers WHERE slug = 'github'",
        harness_workspace_id(1), harness_workspace_id(1));
    harness_exec(m->conn, sql);
    for (size_t i = 0; i < sizeof(append_only) / sizeof(append_only[0]); i++) {
        code = harness_exec_fails(m->conn, append_only[i], &message);
        assert_string_equal(code, "23001");
        assert_non_null(strstr(message, "append-only"));
        free(code);
        free(message);
    }
    assert_int_equal(
        harness_query_int(m->conn, "SELECT count(*) FROM findings WHERE title = 'SQL injection'"),
        1);

    /* Soft deletes where data is retained. */
    assert_int_equal(
        harness_query_int(
            m->conn,
            "SELECT count(*) FROM information_schema.columns WHERE column_name = 'deleted_at' "
            "AND table_name IN ('users', 'workspaces', 'repositories')"),
        3);
}

/* A finding belongs to the run its key row names: findings reference
 * finding_keys by (id, workspace_id, run_id), and the key row references
 * run_keys. A finding naming another run of its workspace than its key
 * does is refused, as is one without a key row or whose run is unknown. */
static void test_finding_belongs_to_its_keys_run(void **state) {
    model_db_t *m = *state;
    seed_runs(m->conn);
    const char *ws = harness_workspace_id(1);
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "INSERT INTO run_keys VALUES ('" RUN_C "', '%s', '2026-11-20T12:00:00Z');"
             "INSERT INTO finding_keys VALUES ('" FINDING_B "', '%s', '" RUN_A
             "', '2026-11-20T12:05:00Z')",
             ws, ws);
    harness_exec(m->conn, sql);
    const char *runs[] = {RUN_C, "77777777-7777-4777-8777-777777777777"};
    const char *findings[] = {FINDING_B, "88888888-8888-4888-8888-888888888888"};
    for (size_t r = 0; r < 2; r++)
        for (size_t f = 0; f < 2; f++) {
            snprintf(sql, sizeof(sql),
                     "INSERT INTO findings (id, run_id, finding_hash, workspace_id, severity, "
                     "category, title, event_id, created_at) VALUES ('%s', '%s', 'h2', '%s', "
                     "'info', 'style', 'naming', '" EVENT "', '2026-11-20T12:05:00Z')",
                     findings[f], runs[r], ws);
            char *message = NULL;
            char *code = harness_exec_fails(m->conn, sql, &message);
            if (strcmp(code, "23503"))
                fail_msg("finding %s of run %s: %s (%s), not a foreign key violation", findings[f],
                         runs[r], code, message);
            free(code);
            free(message);
        }
    /* Its own run: accepted. */
    snprintf(sql, sizeof(sql),
             "INSERT INTO findings (id, run_id, finding_hash, workspace_id, severity, category, "
             "title, event_id, created_at) VALUES ('" FINDING_B "', '" RUN_A "', 'h2', '%s', "
             "'info', 'style', 'naming', '" EVENT "', '2026-11-20T12:05:00Z')",
             ws);
    harness_exec(m->conn, sql);
    assert_int_equal(harness_query_int(m->conn, "SELECT count(*) FROM findings"), 2);
}

static void test_partitions_on_demand(void **state) {
    model_db_t *m = *state;
    /* A month long past, as a backfill brings it. */
    char *name = harness_query_value(
        m->conn, "SELECT sentinel_ensure_month_partition('runs', '2019-03-31T23:59:59.999Z')");
    assert_string_equal(name, "runs_y2019m03");
    free(name);
    harness_exec(m->conn, "SET TIME ZONE 'Pacific/Kiritimati'"); /* UTC+14: the bounds stay UTC */
    harness_exec(m->conn, "SELECT sentinel_ensure_partitions('2019-03-01T00:00:00Z')");
    assert_int_equal(harness_query_int(m->conn, "SELECT count(*) FROM pg_class WHERE relname IN "
                                                "('runs_y2019m03', 'findings_y2019m03')"),
                     2);
    char *bound = harness_query_value(
        m->conn,
        "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'runs_y2019m03'");
    assert_non_null(strstr(bound, "2019-03-01 14:00:00+14"));
    assert_non_null(strstr(bound, "2019-04-01 14:00:00+14"));
    free(bound);
    harness_exec(m->conn, "RESET TIME ZONE");
    /* Idempotent, and the parent's indexes follow the partition. */
    harness_exec(m->conn, "SELECT sentinel_ensure_partitions('2019-03-15T00:00:00Z')");
    assert_true(harness_query_int(
                    m->conn, "SELECT count(*) FROM pg_indexes WHERE tablename = 'runs_y2019m03'") >=
                3);

    char sql[1024];
    snprintf(sql, sizeof(sql),
             "INSERT INTO run_keys VALUES ('" RUN_A "', '%s', '2019-03-31T23:00:00Z');"
             "INSERT INTO runs (id, workspace_id, repository_id, external_reference, event_id, "
             "created_at)"
             " VALUES ('" RUN_A "', '%s', '%s', 'old', '" EVENT "', '2019-03-31T23:00:00Z')",
             harness_workspace_id(1), harness_workspace_id(1), harness_repository_id(1, 1));
    harness_exec(m->conn, sql);
    assert_int_equal(harness_query_int(m->conn, "SELECT count(*) FROM runs_y2019m03"), 1);

    /* A month with no partition is an error, never a silent default. */
    snprintf(sql, sizeof(sql),
             "INSERT INTO run_keys VALUES ('" RUN_B "', '%s', '2018-01-01T00:00:00Z');"
             "INSERT INTO runs (id, workspace_id, repository_id, external_reference, event_id, "
             "created_at)"
             " VALUES ('" RUN_B "', '%s', '%s', 'older', '" EVENT "', '2018-01-01T00:00:00Z')",
             harness_workspace_id(1), harness_workspace_id(1), harness_repository_id(1, 1));
    char *code = harness_exec_fails(m->conn, sql, NULL);
    assert_string_equal(code, "23514");
    free(code);
}

/* What the projector's analyzer calls (statistics.c): `sentinel_analyze_grown`
 * analyzes a table once it holds four times the rows of its last analysis,
 * a hundred at least, and not a table only updated since, however often. */
static void test_analyze_grown(void **state) {
    model_db_t *m = *state;
    char *engine = harness_conninfo_as(m->conninfo, "sentinel_projector");
    PGconn *projector = harness_connect(engine);
    const char *call = "SELECT coalesce(string_agg(t, ','), '') "
                       "FROM sentinel_analyze_grown('{usage_records,activities}') AS t";
    const char *expect[] = {"", "public.usage_records", "", "", "", "public.usage_records"};
    /* Autovacuum's analysis would leave the function nothing to do. */
    harness_exec(m->conn, "ALTER TABLE usage_records SET (autovacuum_enabled = off)");
    for (int step = 0; step < 6; step++) {
        char sql[512];
        /* 99 rows; then 150; nothing more; 1,500 updates; 599 rows; 600 rows. */
        int rows[] = {99, 150, 150, 150, 599, 600};
        snprintf(sql, sizeof(sql),
                 "INSERT INTO usage_records (workspace_id, period_start, period_end) "
                 "SELECT '%s', '2000-01-01T00:00:00Z'::timestamptz + g * interval '1 day', "
                 "'2000-01-01T00:00:00Z'::timestamptz + (g + 1) * interval '1 day' "
                 "FROM generate_series((SELECT count(*) FROM usage_records), %d - 1) AS g",
                 harness_workspace_id(1), rows[step]);
        harness_exec(m->conn, sql);
        if (step == 3)
            for (int i = 0; i < 10; i++)
                harness_exec(m->conn, "UPDATE usage_records SET runs_count = runs_count + 1");
        /* The owner's counts reach the shared statistics now, not in a second. */
        harness_exec(m->conn, "SELECT pg_stat_force_next_flush()");
        harness_exec(m->conn, "SELECT 1");
        char *analyzed = harness_query_value(projector, call);
        if (strcmp(analyzed, expect[step]))
            fail_msg("step %d (%d rows): analyzed \"%s\", expected \"%s\"", step, rows[step],
                     analyzed, expect[step]);
        free(analyzed);
    }
    PQfinish(projector);
    free(engine);
}

static void test_encryption_at_rest(void **state) {
    model_db_t *m = *state;
    const char *secret = "sk-live-4f9a8b7c6d5e4f3a2b1c";
    const char *key = "correct horse battery staple";
    char sql[1024];
    snprintf(
        sql, sizeof(sql),
        "INSERT INTO provider_keys (workspace_id, provider, encrypted_key)"
        " VALUES ('%s', 'openai', sentinel_encrypt('%s', '%s'));"
        "INSERT INTO briefing_subscriptions (workspace_id, user_id, briefing_id, schedule_preset,"
        " slack_webhook_url) VALUES ('%s', '%s', 'd0000000-0000-4000-8000-000000000001', 'weekly',"
        " sentinel_encrypt('https://hooks.slack.com/services/T0/B0/secret', '%s'))",
        harness_workspace_id(1), secret, key, harness_workspace_id(1), harness_user_id(1), key);
    harness_exec(m->conn, sql);

    /* The stored bytes hold neither plaintext. */
    snprintf(sql, sizeof(sql),
             "SELECT position(convert_to('%s', 'UTF8') IN encrypted_key) FROM provider_keys",
             secret);
    assert_int_equal(harness_query_int(m->conn, sql), 0);
    assert_int_equal(harness_query_int(m->conn,
                                       "SELECT position(convert_to('hooks.slack.com', 'UTF8') IN "
                                       "slack_webhook_url) FROM briefing_subscriptions"),
                     0);
    assert_true(harness_query_int(m->conn, "SELECT length(encrypted_key) FROM provider_keys") >
                (long long)strlen(secret));

    /* They decrypt back with the key, and not without it. */
    snprintf(sql, sizeof(sql), "SELECT sentinel_decrypt(encrypted_key, '%s') FROM provider_keys",
             key);
    char *plain = harness_query_value(m->conn, sql);
    assert_string_equal(plain, secret);
    free(plain);
    snprintf(sql, sizeof(sql),
             "SELECT sentinel_decrypt(slack_webhook_url, '%s') FROM briefing_subscriptions", key);
    plain = harness_query_value(m->conn, sql);
    assert_string_equal(plain, "https://hooks.slack.com/services/T0/B0/secret");
    free(plain);
    char *code = harness_exec_fails(
        m->conn, "SELECT sentinel_decrypt(encrypted_key, 'wrong key') FROM provider_keys", NULL);
    assert_string_equal(code, "39000");
    free(code);
}

static void test_reference_data_and_fixtures_idempotent(void **state) {
    model_db_t *m = *state;
    assert_int_equal(harness_query_int(m->conn,
                                       "SELECT count(*) FROM plans WHERE tier IN ('foundation', "
                                       "'illuminate', 'orchestrate', 'sanctum')"),
                     4);
    assert_int_equal(
        harness_query_int(
            m->conn,
            "SELECT count(*) FROM providers WHERE slug IN ('github', 'gitlab', 'bitbucket')"),
        3);

    /* The reference-data migration run again inserts nothing more. */
    char path[512];
    snprintf(path, sizeof(path), "%s/migrations/0010_reference_data.sql", SENTINEL_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char sql[16384];
    size_t n = fread(sql, 1, sizeof(sql) - 1, f);
    sql[n] = '\0';
    fclose(f);
    harness_exec(m->conn, sql);
    assert_int_equal(harness_query_int(m->conn, "SELECT count(*) FROM plans"), 4);
    assert_int_equal(harness_query_int(m->conn, "SELECT count(*) FROM providers"), 3);

    const char *counts =
        "SELECT format('%s/%s/%s/%s/%s/%s', (SELECT count(*) FROM users),"
        " (SELECT count(*) FROM workspaces), (SELECT count(*) FROM team_members),"
        " (SELECT count(*) FROM subscriptions), (SELECT count(*) FROM repositories),"
        " (SELECT count(*) FROM installations))";
    char *before = harness_query_value(m->conn, counts);
    assert_string_equal(before, "5/2/8/1/8/2");
    char *cmd = NULL;
    assert_true(asprintf(&cmd, "%s/scripts/fixtures --db \"%s\" --workspaces 2",
                         SENTINEL_SOURCE_DIR, m->conninfo) > 0);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    char *after = harness_query_value(m->conn, counts);
    assert_string_equal(after, before);
    free(before);
    free(after);
}

/* Every column the storage map names (schemas/storage.tsv) exists. */
static void test_storage_map_names_real_columns(void **state) {
    (void)state;
    char *name = NULL;
    char *conninfo = owner_database("sentinel_storage_map", 0, &name);
    PGconn *conn = harness_connect(conninfo);
    char *map = harness_read_file(SENTINEL_SOURCE_DIR "/schemas/storage.tsv");
    int columns = 0;
    for (char *line = strtok(map, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        char *tab = strchr(line, '\t');
        assert_non_null(tab);
        char *where = tab + 1, *end = strchr(where, '\t');
        if (end) *end = '\0';
        if (!strcmp(where, "-")) continue;
        char *dot = strchr(where, '.');
        assert_non_null(dot);
        char sql[512];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' "
                 "AND table_name = '%.*s' AND column_name = '%s'",
                 (int)(dot - where), where, dot + 1);
        if (harness_query_int(conn, sql) != 1) fail_msg("%s: no such column", where);
        columns++;
    }
    assert_true(columns > 50);
    free(map);
    PQfinish(conn);
    harness_drop_database(name);
    free(name);
    free(conninfo);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_storage_map_names_real_columns),
        cmocka_unit_test(test_fresh_database_has_the_whole_model),
        cmocka_unit_test(test_upgrade_from_every_earlier_version),
        cmocka_unit_test(test_changed_migration_is_refused),
        cmocka_unit_test(test_engine_needs_its_schema),
        cmocka_unit_test(test_concurrent_runners),
        cmocka_unit_test_setup_teardown(test_tenancy, model_setup, model_teardown),
        cmocka_unit_test_setup_teardown(test_immutability, model_setup, model_teardown),
        cmocka_unit_test_setup_teardown(test_finding_belongs_to_its_keys_run, model_setup,
                                        model_teardown),
        cmocka_unit_test_setup_teardown(test_partitions_on_demand, model_setup, model_teardown),
        cmocka_unit_test_setup_teardown(test_analyze_grown, model_setup, model_teardown),
        cmocka_unit_test_setup_teardown(test_encryption_at_rest, model_setup, model_teardown),
        cmocka_unit_test_setup_teardown(test_reference_data_and_fixtures_idempotent, model_setup,
                                        model_teardown),
    };
    harness_test_filter();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
