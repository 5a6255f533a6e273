/* status.c -- `sentinel status` (stored offset, log end and lag per
 * projector and partition, dead letters) and `sentinel dead-letters`. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sentinel/projector.h>
#include "base/alloc.h"
#include "base/kafka_conf.h"
#include "base/topic.h"
#include "base/utf8.h"
#include "cli/cli.h"
#include "pg/array.h"
#include "pg/db.h"
#include "runtime/run.h"

static const char status_usage[] =
    "usage: sentinel status [--projector NAME ...] [--json] [options]\n\n"
    "For each projector and partition of the topic: the offset stored in\n"
    "PostgreSQL (the next event it will apply), the log end and the lag; and the\n"
    "projector's unresolved dead letters; then running replays and rebuilds and\n"
    "those of the last day.\n\n"
    "  --projector NAME     only this projector (repeatable; all, or metrics for the\n"
    "                       projectors of the daily metrics; default: all)\n"
    "  --json               the same as one JSON document\n\n" CLI_COMMON_HELP;

static const char dead_letters_usage[] =
    "usage: sentinel dead-letters [--projector NAME] [--workspace UUID] [--limit N] [--json]\n"
    "                             [--from-topic] [options]\n"
    "       sentinel dead-letters retry [--projector NAME] [--id N ...] [options]\n"
    "       sentinel dead-letters resolve --id N [--id N ...] --note TEXT [options]\n\n"
    "List rejected events with where they were in the log and why; or re-apply\n"
    "them (after the missing data arrived or a fix shipped): each applied one is\n"
    "marked resolved, each rejected again keeps its dead letter with the new\n"
    "reason. Retrying again changes nothing more. One that will never apply (a\n"
    "producer's bug) is resolved by hand with a note, and no longer counts as open.\n\n"
    "  --projector NAME     only this projector's (default: every projector's)\n"
    "  --workspace UUID     list only this workspace's\n"
    "  --limit N            list at most N, the oldest first (default 100)\n"
    "  --from-topic         list the input lines `publish` and `ingest` rejected,\n"
    "                       from <topic>.dead-letter in Kafka, with their reasons\n"
    "  --json               list them as one JSON document\n"
    "  --id N               retry: only dead letter N (repeatable; default: all "
    "unresolved);\n"
    "                       resolve: dead letter N (repeatable)\n"
    "  --note TEXT          resolve: why it is closed without being applied\n\n" CLI_COMMON_HELP;

enum { OPT_PROJECTOR = 1, OPT_ID, OPT_JSON, OPT_WORKSPACE, OPT_LIMIT, OPT_NOTE, OPT_FROM_TOPIC };

static const struct option dead_letters_retry_options[] = {
    {"projector", required_argument, NULL, OPT_PROJECTOR},
    {"id", required_argument, NULL, OPT_ID},
    CLI_COMMON_LONG_OPTIONS,
    {NULL, 0, NULL, 0}};

static int dead_letters_retry(int argc, char **argv, sentinel_conf_t *conf) {
    const sentinel_projector_t *only = NULL;
    sentinel_array_t ids = {0};
    int opt;
    cli_getopt_reset(argv);
    while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT_OPTIONS, dead_letters_retry_options,
                              NULL)) != -1) {
        switch (opt) {
        case OPT_PROJECTOR:
            if (!(only = cli_projector_name("dead-letters retry", optarg))) goto usage;
            break;
        case OPT_ID: {
            long long id;
            if (cli_number_option("dead-letters retry", "--id", optarg, 1, INT64_MAX, &id) < 0)
                goto usage;
            sentinel_array_add_int(&ids, id);
            break;
        }
        default: {
            int handled = cli_common_option(conf, opt, optarg, dead_letters_usage);
            if (handled == 2) {
                sentinel_array_free(&ids);
                return CLI_EXIT_OK;
            }
            if (handled != 1) goto usage;
        }
        }
    }
    int rc = CLI_EXIT_OK;
    for (size_t i = 0; sentinel_projectors[i]; i++) {
        const sentinel_projector_t *p = sentinel_projectors[i];
        if (only && p != only) continue;
        size_t resolved = 0, still = 0;
        char errstr[1024];
        if (sentinel_dead_letters_retry(p, conf, ids.n ? sentinel_array_text(&ids) : NULL,
                                        &resolved, &still, errstr, sizeof(errstr))) {
            cli_error("sentinel dead-letters retry: %s: %s\n", p->name, errstr);
            rc = CLI_EXIT_FAILURE;
            continue;
        }
        if (resolved || still)
            printf("%s: %zu applied, %zu still rejected\n", p->name, resolved, still);
    }
    sentinel_array_free(&ids);
    return rc;
usage:
    sentinel_array_free(&ids);
    return CLI_EXIT_USAGE;
}

static const struct option dead_letters_resolve_options[] = {
    {"id", required_argument, NULL, OPT_ID},
    {"note", required_argument, NULL, OPT_NOTE},
    CLI_COMMON_LONG_OPTIONS,
    {NULL, 0, NULL, 0}};

/* resolve: close open dead letters by hand, with a note; every id named
 * must be an open dead letter, or nothing changes. */
static int dead_letters_resolve(int argc, char **argv, sentinel_conf_t *conf) {
    sentinel_array_t ids = {0};
    const char *note = NULL;
    int opt, rc = CLI_EXIT_USAGE;
    cli_getopt_reset(argv);
    while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT_OPTIONS, dead_letters_resolve_options,
                              NULL)) != -1) {
        if (opt == OPT_ID) {
            long long id;
            if (cli_number_option("dead-letters resolve", "--id", optarg, 1, INT64_MAX, &id) < 0)
                goto out;
            sentinel_array_add_int(&ids, id);
        } else if (opt == OPT_NOTE) {
            note = optarg;
        } else {
            int handled = cli_common_option(conf, opt, optarg, dead_letters_usage);
            if (handled == 2) rc = CLI_EXIT_OK;
            if (handled != 1) goto out;
        }
    }
    if (!ids.n || !note || !*note) {
        cli_error("sentinel dead-letters resolve: --id and --note are required\n");
        goto out;
    }
    char errstr[1024];
    PGconn *pg = sentinel_db_open(sentinel_conf_db(conf), sentinel_conf_connect_timeout(conf), NULL,
                                  errstr, sizeof(errstr));
    if (!pg) {
        cli_error("sentinel dead-letters resolve: %s\n", errstr);
        rc = CLI_EXIT_FAILURE;
        goto out;
    }
    const char *params[2] = {sentinel_array_text(&ids), note};
    PGresult *res = NULL;
    /* All or none: an id that is not open rolls the others back. */
    sentinel_err_t err = sentinel_db_exec(pg, "BEGIN", errstr, sizeof(errstr));
    if (!err)
        err = sentinel_db_params(
            pg,
            "WITH done AS (UPDATE dead_letters SET resolved_at = now(), resolution = $2 "
            "  WHERE id = ANY ($1::bigint[]) AND resolved_at IS NULL RETURNING id) "
            "SELECT count(*), (SELECT string_agg(x::text, ', ') FROM unnest($1::bigint[]) x "
            "  WHERE x NOT IN (SELECT id FROM done)) FROM done",
            2, params, &res, errstr, sizeof(errstr));
    if (!err && !PQgetisnull(res, 0, 1)) {
        cli_error("sentinel dead-letters resolve: no open dead letter %s; nothing resolved\n",
                  PQgetvalue(res, 0, 1));
        rc = CLI_EXIT_FAILURE;
    } else if (!err && !(err = sentinel_db_exec(pg, "COMMIT", errstr, sizeof(errstr)))) {
        printf("%s dead letter(s) resolved\n", PQgetvalue(res, 0, 0));
        rc = CLI_EXIT_OK;
    }
    if (err) {
        cli_error("sentinel dead-letters resolve: %s\n", errstr);
        rc = CLI_EXIT_FAILURE;
    }
    PQclear(res);
    PQfinish(pg);
out:
    sentinel_array_free(&ids);
    return rc;
}

/* Replays and rebuilds of the topic: running ones, unfinished rebuilds,
 * and what finished in the last day. A job whose heartbeat is older than
 * 15 s has lost its process. */
static void print_jobs(PGconn *pg, const char *topic, json_t *jobs) {
    const char *params[1] = {topic};
    PGresult *res = NULL;
    char errstr[512];
    sentinel_err_t err = sentinel_db_params(
        pg,
        "SELECT id, kind, array_to_string(projectors, '+'), state, "
        "CASE WHEN state IN ('running', 'building') AND finished_at IS NULL "
        "          AND heartbeat_at > now() - interval '15 seconds' THEN 'active' "
        "     WHEN state IN ('running', 'building') THEN 'stopped' ELSE '' END, "
        "events_done, events_total, coalesce(pid::text, '-'), coalesce(host, '-'), "
        "to_char(started_at, 'YYYY-MM-DD HH24:MI:SS'), "
        "round(extract(epoch FROM now() - heartbeat_at))::bigint, coalesce(detail, '') "
        "FROM projection_jobs WHERE topic = $1 AND (state IN ('running', 'building') "
        "OR finished_at > now() - interval '1 day') ORDER BY id",
        1, params, &res, errstr, sizeof(errstr));
    if (err) { /* an older schema: no jobs table yet */
        PQclear(res);
        return;
    }
    if (PQntuples(res) && !jobs) printf("\nreplays and rebuilds:\n");
    for (int r = 0; r < PQntuples(res); r++) {
        long long done = atoll(PQgetvalue(res, r, 5)), total = atoll(PQgetvalue(res, r, 6));
        const char *liveness = PQgetvalue(res, r, 4);
        if (jobs) {
            json_array_append_new(
                jobs,
                json_pack("{s:I, s:s, s:s, s:s, s:b, s:I, s:I, s:s, s:s, s:s, s:I, s:s}", "id",
                          (json_int_t)atoll(PQgetvalue(res, r, 0)), "kind", PQgetvalue(res, r, 1),
                          "projectors", PQgetvalue(res, r, 2), "state", PQgetvalue(res, r, 3),
                          "active", !strcmp(liveness, "active"), "events_done", (json_int_t)done,
                          "events_total", (json_int_t)total, "pid", PQgetvalue(res, r, 7), "host",
                          PQgetvalue(res, r, 8), "started_at", PQgetvalue(res, r, 9),
                          "heartbeat_age_seconds", (json_int_t)atoll(PQgetvalue(res, r, 10)),
                          "detail", PQgetvalue(res, r, 11)));
            continue;
        }
        printf("#%s %s %s: %s", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), PQgetvalue(res, r, 2),
               PQgetvalue(res, r, 3));
        if (!strcmp(liveness, "active"))
            printf(" (pid %s on %s)", PQgetvalue(res, r, 7), PQgetvalue(res, r, 8));
        else if (*liveness)
            printf(" (not running: last heartbeat %s s ago; run it again to resume)",
                   PQgetvalue(res, r, 10));
        printf(", %lld of %lld events (%.1f%%), started %s", done, total,
               total ? 100.0 * (double)done / (double)total : 100.0, PQgetvalue(res, r, 9));
        if (*PQgetvalue(res, r, 11)) printf("\n    %s", PQgetvalue(res, r, 11));
        printf("\n");
    }
    PQclear(res);
}

static const struct option status_options[] = {
    {"projector", required_argument, NULL, OPT_PROJECTOR},
    {"json", no_argument, NULL, OPT_JSON},
    CLI_COMMON_LONG_OPTIONS,
    {NULL, 0, NULL, 0}};

static int cli_status(int argc, char **argv, sentinel_conf_t *conf) {
    const sentinel_projector_t *only[CLI_MAX_PROJECTORS];
    int n_only = 0, opt, as_json = 0;
    cli_getopt_reset(argv);
    while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT_OPTIONS, status_options, NULL)) != -1) {
        if (opt == OPT_JSON) {
            as_json = 1;
            continue;
        }
        if (opt == OPT_PROJECTOR) {
            /* all, metrics and names, as every command takes them. */
            if (cli_projector_option("status", optarg, only, &n_only)) return CLI_EXIT_USAGE;
            continue;
        }
        int handled = cli_common_option(conf, opt, optarg, status_usage);
        if (handled == 2) return CLI_EXIT_OK;
        if (handled != 1) return CLI_EXIT_USAGE;
    }
    if (cli_preflight("status", conf)) return CLI_EXIT_FAILURE;
    char errstr[1024];
    PGconn *pg = sentinel_db_open(sentinel_conf_db(conf), sentinel_conf_connect_timeout(conf), NULL,
                                  errstr, sizeof(errstr));
    if (!pg) {
        cli_error("sentinel status: %s\n", errstr);
        return CLI_EXIT_FAILURE;
    }
    rd_kafka_conf_t *kconf = sentinel_conf_kafka_new(conf, NULL, errstr, sizeof(errstr));
    rd_kafka_t *rk = kconf ? rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr, sizeof(errstr)) : NULL;
    if (!rk) {
        if (kconf) rd_kafka_conf_destroy(kconf);
        cli_error("sentinel status: %s\n", errstr);
        PQfinish(pg);
        return CLI_EXIT_FAILURE;
    }
    const char *topic = sentinel_conf_topic(conf);
    int partitions = sentinel_topic_partitions(rk, topic, errstr, sizeof(errstr));
    if (partitions < 0) partitions = 0; /* a topic not made yet: nothing to lag behind */
    int64_t *ends = sentinel_calloc((size_t)(partitions ? partitions : 1), sizeof(*ends));
    if (sentinel_topic_bounds(rk, topic, 0, partitions, NULL, ends, 10000))
        for (int p = 0; p < partitions; p++)
            ends[p] = -1; /* unknown: shown as such */
    json_t *doc = as_json ? json_pack("{s:s, s:i, s:[], s:[]}", "topic", topic, "partitions",
                                      partitions, "projectors", "jobs")
                          : NULL;
    if (!doc) {
        printf("topic %s: %d partition(s)\n", topic, partitions);
        printf("%-12s %9s %12s %12s %10s\n", "projector", "partition", "stored", "log end", "lag");
    }
    int rc = CLI_EXIT_OK;
    for (size_t i = 0; sentinel_projectors[i]; i++) {
        const sentinel_projector_t *p = sentinel_projectors[i];
        int wanted = !n_only;
        for (int k = 0; k < n_only; k++)
            wanted |= only[k] == p;
        if (!wanted) continue;
        const char *params[2] = {p->name, topic};
        PGresult *res = NULL;
        if (sentinel_db_params(pg,
                               "SELECT partition, next_offset FROM projector_offsets "
                               "WHERE projector = $1 AND topic = $2 ORDER BY partition",
                               2, params, &res, errstr, sizeof(errstr))) {
            cli_error("sentinel status: %s\n", errstr);
            rc = CLI_EXIT_FAILURE;
            break;
        }
        long long total = 0;
        json_t *parts = doc ? json_array() : NULL;
        for (int part = 0; part < partitions; part++) {
            long long stored = -1;
            for (int r = 0; r < PQntuples(res); r++)
                if (atoi(PQgetvalue(res, r, 0)) == part) stored = atoll(PQgetvalue(res, r, 1));
            long long lag = ends[part] - (stored < 0 ? 0 : stored);
            total += lag;
            if (parts) {
                json_array_append_new(
                    parts, json_pack("{s:i, s:o, s:I, s:I}", "partition", part, "stored",
                                     stored < 0 ? json_null() : json_integer(stored), "log_end",
                                     (json_int_t)ends[part], "lag", (json_int_t)lag));
                continue;
            }
            printf("%-12s %9d %12s %12lld %10lld\n", p->name, part,
                   stored < 0 ? "-" : (snprintf(errstr, sizeof(errstr), "%lld", stored), errstr),
                   (long long)ends[part], lag);
        }
        PQclear(res);
        res = NULL;
        const char *open =
            !sentinel_db_params(pg,
                                "SELECT count(*) FILTER (WHERE resolved_at IS "
                                "NULL), count(*) FROM dead_letters WHERE projector = $1",
                                1, params, &res, errstr, sizeof(errstr))
                ? PQgetvalue(res, 0, 0)
                : "?";
        if (doc)
            json_array_append_new(json_object_get(doc, "projectors"),
                                  json_pack("{s:s, s:I, s:o, s:o}", "name", p->name, "lag",
                                            (json_int_t)total, "dead_letters_open",
                                            *open == '?' ? json_null() : json_integer(atoll(open)),
                                            "partitions", parts));
        else
            printf("%-12s %9s %12s %12s %10lld   dead letters: %s open\n", p->name, "all", "", "",
                   total, open);
        PQclear(res);
    }
    if (rc == CLI_EXIT_OK) print_jobs(pg, topic, doc ? json_object_get(doc, "jobs") : NULL);
    if (doc && rc == CLI_EXIT_OK) {
        char *text = json_dumps(doc, JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
    }
    json_decref(doc);
    free(ends);
    rd_kafka_destroy(rk);
    PQfinish(pg);
    return rc;
}

static const struct option dead_letters_options[] = {
    {"projector", required_argument, NULL, OPT_PROJECTOR},
    {"workspace", required_argument, NULL, OPT_WORKSPACE},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"json", no_argument, NULL, OPT_JSON},
    {"from-topic", no_argument, NULL, OPT_FROM_TOPIC},
    CLI_COMMON_LONG_OPTIONS,
    {NULL, 0, NULL, 0}};

/* A header's value as a new string ("" when absent). */
static char *header_text(rd_kafka_headers_t *headers, const char *name) {
    const void *value = NULL;
    size_t size = 0;
    if (!headers || rd_kafka_header_get_last(headers, name, &value, &size))
        return sentinel_strdup("");
    return sentinel_strndup(value, size);
}

/* --from-topic: the records of <topic>.dead-letter, the oldest first (by
 * partition and offset), at most `limit`, read from the beginning to the
 * end as of now. */
static int list_dead_letter_topic(const sentinel_conf_t *conf, int limit, int as_json) {
    char errstr[1024];
    char *topic = sentinel_aprintf("%s.dead-letter", sentinel_conf_topic(conf));
    static const char *const settings[] = {"enable.auto.commit", "false", "group.id",
                                           "sentinel-dead-letters-list", NULL};
    rd_kafka_conf_t *kconf = sentinel_conf_kafka_new(conf, settings, errstr, sizeof(errstr));
    rd_kafka_t *rk = kconf ? rd_kafka_new(RD_KAFKA_CONSUMER, kconf, errstr, sizeof(errstr)) : NULL;
    if (!rk) {
        if (kconf) rd_kafka_conf_destroy(kconf);
        cli_error("sentinel dead-letters: %s\n", errstr);
        free(topic);
        return CLI_EXIT_FAILURE;
    }
    int rc = CLI_EXIT_OK, partitions = sentinel_topic_partitions(rk, topic, errstr, sizeof(errstr));
    json_t *list = as_json ? json_array() : NULL;
    long shown = 0, total = 0;
    if (partitions < 0) {
        cli_error("sentinel dead-letters: %s (nothing was rejected on it yet?)\n", errstr);
        rc = CLI_EXIT_FAILURE;
        partitions = 0;
    }
    int64_t *lo = sentinel_calloc((size_t)partitions + 1, sizeof(*lo));
    int64_t *hi = sentinel_calloc((size_t)partitions + 1, sizeof(*hi));
    if (partitions && sentinel_topic_bounds(rk, topic, 0, partitions, lo, hi,
                                            1000 * sentinel_conf_connect_timeout(conf))) {
        cli_error("sentinel dead-letters: %s: its offsets are not known\n", topic);
        rc = CLI_EXIT_FAILURE;
        partitions = 0;
    }
    for (int p = 0; p < partitions; p++) {
        total += hi[p] - lo[p];
        if (hi[p] <= lo[p] || shown >= limit) continue;
        rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(one, topic, p)->offset = lo[p];
        rd_kafka_assign(rk, one);
        rd_kafka_topic_partition_list_destroy(one);
        int64_t next = lo[p];
        while (next < hi[p] && shown < limit) {
            rd_kafka_message_t *m =
                rd_kafka_consumer_poll(rk, 1000 * sentinel_conf_connect_timeout(conf));
            if (!m) {
                cli_error("sentinel dead-letters: %s [%d]: no answer at offset %lld\n", topic, p,
                          (long long)next);
                rc = CLI_EXIT_FAILURE;
                break;
            }
            if (m->err) {
                rd_kafka_message_destroy(m);
                continue;
            }
            next = m->offset + 1;
            rd_kafka_headers_t *headers = NULL;
            rd_kafka_message_headers(m, &headers);
            char *reason = header_text(headers, "reason"), *line = header_text(headers, "line");
            char *size = header_text(headers, "size");
            char *value = sentinel_strndup(m->payload ? m->payload : "", m->len);
            if (list) {
                json_t *d =
                    json_pack("{s:i, s:I, s:s, s:s, s:s}", "partition", p, "offset",
                              (json_int_t)m->offset, "line", line, "reason", reason, "size", size);
                /* The value is the producer's bytes: text when it is UTF-8. */
                json_t *text = json_stringn(m->payload ? m->payload : "", m->len);
                json_object_set_new(d, "value", text ? text : json_null());
                json_array_append_new(list, d);
            } else {
                char quoted[204];
                cli_print("%s[%d]@%lld %s (%s bytes): %s", topic, p, (long long)m->offset, reason,
                          size, sentinel_utf8_shorten(value, 200, quoted));
            }
            shown++;
            free(reason);
            free(line);
            free(size);
            free(value);
            rd_kafka_message_destroy(m);
        }
    }
    if (list) {
        json_t *doc = json_pack("{s:s, s:o, s:i, s:I}", "topic", topic, "rejected", list, "count",
                                (int)shown, "total", (json_int_t)total);
        char *text = json_dumps(doc, JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
        json_decref(doc);
    } else if (rc == CLI_EXIT_OK) {
        if (total > shown)
            printf("%ld of %ld rejected lines shown (--limit)\n", shown, total);
        else
            printf("%ld rejected line(s) in %s\n", shown, topic);
    }
    free(lo);
    free(hi);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    free(topic);
    return rc;
}

static int cli_dead_letters(int argc, char **argv, sentinel_conf_t *conf) {
    if (argc > 1 && !strcmp(argv[1], "retry")) return dead_letters_retry(argc - 1, argv + 1, conf);
    if (argc > 1 && !strcmp(argv[1], "resolve"))
        return dead_letters_resolve(argc - 1, argv + 1, conf);
    const char *projector = NULL, *workspace = NULL, *limit = "100";
    int opt, as_json = 0, from_topic = 0;
    cli_getopt_reset(argv);
    while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT_OPTIONS, dead_letters_options, NULL)) !=
           -1) {
        switch (opt) {
        case OPT_PROJECTOR:
            if (!cli_projector_name("dead-letters", optarg)) return CLI_EXIT_USAGE;
            projector = optarg;
            break;
        case OPT_WORKSPACE:
            if (cli_uuid_option("dead-letters", "--workspace", optarg) < 0) return CLI_EXIT_USAGE;
            workspace = optarg;
            break;
        case OPT_LIMIT: {
            int n;
            if (cli_int_option("dead-letters", "--limit", optarg, 1, 1000000, &n) < 0)
                return CLI_EXIT_USAGE;
            limit = optarg;
            break;
        }
        case OPT_JSON: as_json = 1; break;
        case OPT_FROM_TOPIC: from_topic = 1; break;
        default: {
            int handled = cli_common_option(conf, opt, optarg, dead_letters_usage);
            if (handled == 2) return CLI_EXIT_OK;
            if (handled != 1) return CLI_EXIT_USAGE;
        }
        }
    }
    if (from_topic) {
        if (projector || workspace) {
            cli_error("sentinel dead-letters: --from-topic lists input lines, which have no "
                      "projector or workspace yet\n");
            return CLI_EXIT_USAGE;
        }
        return list_dead_letter_topic(conf, atoi(limit), as_json);
    }
    char errstr[1024];
    PGconn *pg = sentinel_db_open(sentinel_conf_db(conf), sentinel_conf_connect_timeout(conf), NULL,
                                  errstr, sizeof(errstr));
    if (!pg) {
        cli_error("sentinel dead-letters: %s\n", errstr);
        return CLI_EXIT_FAILURE;
    }
    const char *params[3] = {projector, workspace, limit};
    PGresult *res = NULL;
    sentinel_err_t err = sentinel_db_params(
        pg,
        "SELECT id, projector, topic, partition, kafka_offset, coalesce(event_type, '?'), "
        "coalesce(workspace_id::text, '-'), coalesce(event_id::text, '-'), "
        "to_char(created_at, 'YYYY-MM-DD HH24:MI:SS'), reason, count(*) OVER () FROM dead_letters "
        "WHERE ($1::text IS NULL OR projector = $1) AND ($2::uuid IS NULL OR workspace_id = $2) "
        "AND resolved_at IS NULL ORDER BY id LIMIT $3::int",
        3, params, &res, errstr, sizeof(errstr));
    int rc = CLI_EXIT_OK;
    if (err) {
        cli_error("sentinel dead-letters: %s\n", errstr);
        rc = CLI_EXIT_FAILURE;
    } else if (as_json) {
        json_t *list = json_array();
        for (int r = 0; r < PQntuples(res); r++) {
            json_t *d = json_pack("{s:I, s:s, s:s, s:i, s:I, s:s, s:s}", "id",
                                  (json_int_t)atoll(PQgetvalue(res, r, 0)), "projector",
                                  PQgetvalue(res, r, 1), "topic", PQgetvalue(res, r, 2),
                                  "partition", atoi(PQgetvalue(res, r, 3)), "offset",
                                  (json_int_t)atoll(PQgetvalue(res, r, 4)), "created_at",
                                  PQgetvalue(res, r, 8), "reason", PQgetvalue(res, r, 9));
            if (!d) abort(); /* the database's text is UTF-8 */
            /* Absent values are null, not the text's placeholders. */
            const char *type = PQgetvalue(res, r, 5), *ws = PQgetvalue(res, r, 6);
            const char *id = PQgetvalue(res, r, 7);
            json_object_set_new(d, "event_type",
                                strcmp(type, "?") ? json_string(type) : json_null());
            json_object_set_new(d, "workspace_id", strcmp(ws, "-") ? json_string(ws) : json_null());
            json_object_set_new(d, "event_id", strcmp(id, "-") ? json_string(id) : json_null());
            json_array_append_new(list, d);
        }
        long long total = PQntuples(res) ? atoll(PQgetvalue(res, 0, 10)) : 0;
        json_t *doc = json_pack("{s:o, s:i, s:I}", "dead_letters", list, "count", PQntuples(res),
                                "total", (json_int_t)total);
        char *text = json_dumps(doc, JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
        json_decref(doc);
    } else {
        for (int r = 0; r < PQntuples(res); r++)
            cli_print("#%s %s %s[%s]@%s %s workspace %s event %s at %s: %s", PQgetvalue(res, r, 0),
                      PQgetvalue(res, r, 1), PQgetvalue(res, r, 2), PQgetvalue(res, r, 3),
                      PQgetvalue(res, r, 4), PQgetvalue(res, r, 5), PQgetvalue(res, r, 6),
                      PQgetvalue(res, r, 7), PQgetvalue(res, r, 8), PQgetvalue(res, r, 9));
        /* The total of those matching, when the limit cut the list. */
        long long total = PQntuples(res) ? atoll(PQgetvalue(res, 0, 10)) : 0;
        if (total > PQntuples(res))
            printf("%d of %lld dead letters shown (--limit)\n", PQntuples(res), total);
        else
            printf("%d dead letter(s)\n", PQntuples(res));
    }
    PQclear(res);
    PQfinish(pg);
    return rc;
}

const cli_command_t cli_status_command = {
    "status",       "stored offsets, log ends and lag per projector and partition",
    cli_status,     status_usage,
    status_options, NULL};

static const cli_command_t dead_letters_retry_command = {"retry",
                                                         "re-apply dead letters",
                                                         dead_letters_retry,
                                                         dead_letters_usage,
                                                         dead_letters_retry_options,
                                                         NULL};

const cli_command_t cli_dead_letters_command = {
    "dead-letters",     "list rejected events and why", cli_dead_letters,
    dead_letters_usage, dead_letters_options,           &dead_letters_retry_command};
