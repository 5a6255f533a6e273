/* verify.c -- `sentinel verify`: recompute the rollups from their sources
 * and print every difference; `sentinel usage`: a workspace's usage beside
 * its plan's limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pg/db.h"

static const char verify_usage[] =
    "usage: sentinel verify [options]\n\n"
    "Recompute usage_records from the usage ledger, each event in the billing\n"
    "period its workspace's subscription history gives it, and\n"
    "workspace_daily_metrics from runs, findings and the ledger, in one\n"
    "consistent snapshot (safe while\n"
    "projectors run), and print every difference. Exit 1 on any drift.\n\n" CLI_COMMON_HELP;

/* Each query yields: what, workspace, key, stored value, recomputed value. */
static const char *const checks[] = {
    /* usage_records against the ledger, per counter */
    /* periods recomputed from the subscription history, not read back */
    "WITH l AS (SELECT l.workspace_id, p.period_start, "
    " sum(amount) FILTER (WHERE metric = 'runs') AS runs_count, "
    " sum(amount) FILTER (WHERE metric = 'commands') AS commands_count, "
    " sum(amount) FILTER (WHERE metric = 'briefings') AS briefings_count, "
    " sum(amount) FILTER (WHERE metric = 'findings') AS findings_count, "
    " sum(amount) FILTER (WHERE metric = 'annotations') AS annotations_count, "
    " sum(amount) FILTER (WHERE metric = 'tokens') AS tokens_estimated "
    " FROM usage_ledger l, LATERAL sentinel_billing_period_of(l.workspace_id, l.occurred_at) p "
    " GROUP BY 1, 2), "
    "j AS (SELECT coalesce(u.workspace_id, l.workspace_id) AS ws, "
    " coalesce(u.period_start, l.period_start) AS ps, u.runs_count AS s1, l.runs_count AS r1, "
    " u.commands_count AS s2, l.commands_count AS r2, u.briefings_count AS s3, l.briefings_count "
    "AS r3, "
    " u.findings_count AS s4, l.findings_count AS r4, u.annotations_count AS s5, "
    "l.annotations_count AS r5, "
    " u.tokens_estimated AS s6, l.tokens_estimated AS r6 "
    " FROM usage_records u FULL JOIN l USING (workspace_id, period_start)) "
    "SELECT 'usage_records.' || c.name, ws, to_char(ps, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    " coalesce(c.s, 0), coalesce(c.r, 0) FROM j, LATERAL (VALUES "
    " ('runs_count', s1, r1), ('commands_count', s2, r2), ('briefings_count', s3, r3), "
    " ('findings_count', s4, r4), ('annotations_count', s5, r5), ('tokens_estimated', s6, r6)) "
    " AS c(name, s, r) WHERE coalesce(c.s, 0) <> coalesce(c.r, 0) ORDER BY 2, 3, 1",
    /* period ends against the subscription history */
    "SELECT 'usage_records.period_end', u.workspace_id, "
    " to_char(u.period_start, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    " extract(epoch FROM u.period_end)::bigint, extract(epoch FROM p.period_end)::bigint "
    " FROM usage_records u, LATERAL sentinel_billing_period_of(u.workspace_id, u.period_start) p "
    " WHERE p.period_start = u.period_start AND p.period_end <> u.period_end ORDER BY 2, 3",
    /* no two periods of a workspace overlap */
    "SELECT 'usage_records.overlap', a.workspace_id, "
    " to_char(b.period_start, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 1, 0 "
    " FROM usage_records a JOIN usage_records b ON a.workspace_id = b.workspace_id "
    " AND a.period_start < b.period_start AND a.period_end > b.period_start ORDER BY 2, 3",
    /* workspace_daily_metrics against runs, findings and the ledger */
    "WITH r AS (SELECT workspace_id, (created_at AT TIME ZONE 'UTC')::date AS date, count(*) AS n "
    " FROM runs GROUP BY 1, 2), "
    "f AS (SELECT workspace_id, (created_at AT TIME ZONE 'UTC')::date AS date, count(*) AS n, "
    " count(*) FILTER (WHERE severity = 'critical') AS c, count(*) FILTER (WHERE severity = "
    "'warning') AS w "
    " FROM findings GROUP BY 1, 2), "
    "t AS (SELECT workspace_id, (occurred_at AT TIME ZONE 'UTC')::date AS date, sum(amount) AS n "
    " FROM usage_ledger WHERE metric = 'tokens' GROUP BY 1, 2), "
    "k AS (SELECT workspace_id, date FROM r UNION SELECT workspace_id, date FROM f "
    " UNION SELECT workspace_id, date FROM t UNION SELECT workspace_id, date FROM "
    "workspace_daily_metrics), "
    "j AS (SELECT k.workspace_id AS ws, k.date, m.runs_count AS s1, r.n AS r1, m.findings_count AS "
    "s2, "
    " f.n AS r2, m.critical_count AS s3, f.c AS r3, m.warning_count AS s4, f.w AS r4, "
    " m.tokens_estimated AS s5, t.n AS r5 FROM k "
    " LEFT JOIN workspace_daily_metrics m USING (workspace_id, date) LEFT JOIN r USING "
    "(workspace_id, date) "
    " LEFT JOIN f USING (workspace_id, date) LEFT JOIN t USING (workspace_id, date)) "
    "SELECT 'workspace_daily_metrics.' || c.name, ws, date::text, coalesce(c.s, 0), coalesce(c.r, "
    "0) "
    " FROM j, LATERAL (VALUES ('runs_count', s1, r1), ('findings_count', s2, r2), "
    " ('critical_count', s3, r3), ('warning_count', s4, r4), ('tokens_estimated', s5, r5)) AS "
    "c(name, s, r) "
    " WHERE coalesce(c.s, 0) <> coalesce(c.r, 0) ORDER BY 2, 3, 1",
};

enum { OPT_WORKSPACE = 1, OPT_PERIOD };

static const struct option verify_options[] = {CLI_COMMON_LONG_OPTIONS, {NULL, 0, NULL, 0}};

static int cli_verify(int argc, char **argv, sentinel_conf_t *conf) {
    int opt;
    cli_getopt_reset(argv);
    while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT_OPTIONS, verify_options, NULL)) != -1) {
        int handled = cli_common_option(conf, opt, optarg, verify_usage);
        if (handled == 2) return CLI_EXIT_OK;
        if (handled != 1) return CLI_EXIT_USAGE;
    }
    char errstr[1024];
    PGconn *pg = sentinel_db_open(sentinel_conf_db(conf), sentinel_conf_connect_timeout(conf), NULL,
                                  errstr, sizeof(errstr));
    if (!pg) {
        cli_error("sentinel verify: %s\n", errstr);
        return CLI_EXIT_FAILURE;
    }
    /* One snapshot for every check: projectors commit rows and rollups
     * together, so a snapshot is always consistent. */
    if (sentinel_db_exec(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", errstr,
                         sizeof(errstr))) {
        cli_error("sentinel verify: %s\n", errstr);
        PQfinish(pg);
        return CLI_EXIT_FAILURE;
    }
    long differences = 0;
    int rc = CLI_EXIT_OK;
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        PGresult *res = NULL;
        if (sentinel_db_params(pg, checks[i], 0, NULL, &res, errstr, sizeof(errstr))) {
            cli_error("sentinel verify: %s\n", errstr);
            rc = CLI_EXIT_FAILURE;
            break;
        }
        for (int r = 0; r < PQntuples(res); r++) {
            printf("DRIFT %s workspace %s %s: stored %s, recomputed %s\n", PQgetvalue(res, r, 0),
                   PQgetvalue(res, r, 1), PQgetvalue(res, r, 2), PQgetvalue(res, r, 3),
                   PQgetvalue(res, r, 4));
            differences++;
        }
        PQclear(res);
    }
    if (sentinel_db_exec(pg, "COMMIT", errstr, sizeof(errstr))) {
        /* read-only: nothing to lose */
    }
    PQfinish(pg);
    if (rc) return rc;
    printf(differences ? "%ld difference(s)\n" : "rollups agree with their sources\n", differences);
    return differences ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static const char usage_usage[] =
    "usage: sentinel usage --workspace UUID [--period TIME] [options]\n\n"
    "A workspace's usage counters for the billing period containing TIME (default:\n"
    "the latest period with usage), beside its plan's monthly limits.\n\n"
    "  --workspace UUID     the workspace (required)\n"
    "  --period TIME        a time in the period, RFC 3339, or a date "
    "(YYYY-MM-DD)\n\n" CLI_COMMON_HELP;

static const struct option usage_options[] = {{"workspace", required_argument, NULL, OPT_WORKSPACE},
                                              {"period", required_argument, NULL, OPT_PERIOD},
                                              CLI_COMMON_LONG_OPTIONS,
                                              {NULL, 0, NULL, 0}};

static int cli_usage(int argc, char **argv, sentinel_conf_t *conf) {
    const char *workspace = NULL, *period = NULL;
    int opt;
    cli_getopt_reset(argv);
    while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT_OPTIONS, usage_options, NULL)) != -1) {
        switch (opt) {
        case OPT_WORKSPACE:
            if (cli_uuid_option("usage", "--workspace", optarg) < 0) return CLI_EXIT_USAGE;
            workspace = optarg;
            break;
        case OPT_PERIOD:
            if (cli_time_option("usage", "--period", optarg, NULL) < 0) return CLI_EXIT_USAGE;
            period = optarg;
            break;
        default: {
            int handled = cli_common_option(conf, opt, optarg, usage_usage);
            if (handled == 2) return CLI_EXIT_OK;
            if (handled != 1) return CLI_EXIT_USAGE;
        }
        }
    }
    if (!workspace) {
        cli_error("sentinel usage: --workspace is required\n");
        return CLI_EXIT_USAGE;
    }
    char errstr[1024];
    PGconn *pg = sentinel_db_open(sentinel_conf_db(conf), sentinel_conf_connect_timeout(conf), NULL,
                                  errstr, sizeof(errstr));
    if (!pg) {
        cli_error("sentinel usage: %s\n", errstr);
        return CLI_EXIT_FAILURE;
    }
    const char *params[2] = {workspace, period};
    PGresult *res = NULL;
    sentinel_err_t err = sentinel_db_params(
        pg,
        "SELECT w.name, coalesce(p.tier, '-'), to_char(u.period_start, 'YYYY-MM-DD'), "
        " to_char(u.period_end, 'YYYY-MM-DD'), u.runs_count, p.monthly_runs_limit, "
        "u.commands_count, "
        " p.monthly_commands_limit, u.briefings_count, u.findings_count, u.annotations_count, "
        " u.tokens_estimated "
        "FROM workspaces w LEFT JOIN plans p ON p.id = w.plan_id "
        "JOIN usage_records u ON u.workspace_id = w.id "
        "WHERE w.id = $1::uuid AND ($2::timestamptz IS NULL OR "
        " ($2::timestamptz >= u.period_start AND $2::timestamptz < u.period_end)) "
        "ORDER BY u.period_start DESC LIMIT 1",
        2, params, &res, errstr, sizeof(errstr));
    int rc = CLI_EXIT_OK;
    if (err) {
        cli_error("sentinel usage: %s\n", errstr);
        rc = CLI_EXIT_FAILURE;
    } else if (PQntuples(res) == 0) {
        /* A workspace without usage is 0 used; one that does not exist is
         * a mistake (a typo'd id), not an empty answer. */
        PGresult *known = NULL;
        err = sentinel_db_params(pg, "SELECT 1 FROM workspaces WHERE id = $1::uuid", 1, params,
                                 &known, errstr, sizeof(errstr));
        if (err) {
            cli_error("sentinel usage: %s\n", errstr);
            rc = CLI_EXIT_FAILURE;
        } else if (PQntuples(known) == 0) {
            cli_error("sentinel usage: no workspace %s\n", workspace);
            rc = CLI_EXIT_FAILURE;
        } else {
            printf("no usage recorded for workspace %s%s%s\n", workspace, period ? " at " : "",
                   period ? period : "");
        }
        PQclear(known);
    } else {
        printf("%s (plan %s), period %s .. %s (end exclusive)\n", PQgetvalue(res, 0, 0),
               PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3));
        const char *names[] = {"runs", "commands"};
        for (int k = 0; k < 2; k++) {
            const char *used = PQgetvalue(res, 0, 4 + 2 * k);
            int unlimited = PQgetisnull(res, 0, 5 + 2 * k);
            const char *limit = unlimited ? "unlimited" : PQgetvalue(res, 0, 5 + 2 * k);
            double share = !unlimited && atof(limit) > 0 ? 100.0 * atof(used) / atof(limit) : 0;
            if (unlimited)
                printf("  %-12s %10s of %-10s\n", names[k], used, limit);
            else
                printf("  %-12s %10s of %-10s %5.1f%% used\n", names[k], used, limit, share);
        }
        printf("  %-12s %10s\n  %-12s %10s\n  %-12s %10s\n  %-12s %10s\n", "briefings",
               PQgetvalue(res, 0, 8), "findings", PQgetvalue(res, 0, 9), "annotations",
               PQgetvalue(res, 0, 10), "tokens", PQgetvalue(res, 0, 11));
    }
    PQclear(res);
    PQfinish(pg);
    return rc;
}

const cli_command_t cli_verify_command = {
    "verify",       "recompute the rollups from their sources; exit 1 on drift",
    cli_verify,     verify_usage,
    verify_options, NULL};

const cli_command_t cli_usage_command = {
    "usage",       "a workspace's usage for a billing period beside its plan's limits",
    cli_usage,     usage_usage,
    usage_options, NULL};
