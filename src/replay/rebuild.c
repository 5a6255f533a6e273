/* rebuild.c -- rebuilds: a projection from the beginning of the log into
 * a shadow schema, compared with the live tables and swapped in. */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/kafka_conf.h"
#include "base/log.h"
#include "base/timestamp.h"
#include "base/topic.h"
#include "pg/array.h"
#include "pg/db.h"
#include "replay/bounded.h"
#include "replay/replay.h"
#include "runtime/run.h"

/* ---------------------------------------------------------------- rebuild */

int sentinel_rebuild_set(const sentinel_projector_t *const *requested, int n,
                         const sentinel_projector_t **set) {
    int in[SENTINEL_MAX_SET] = {0}, count = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; sentinel_projectors[k] && k < SENTINEL_MAX_SET; k++)
            if (sentinel_projectors[k] == requested[i]) in[k] = 1;
    for (int grew = 1; grew;) {
        grew = 0;
        for (int a = 0; sentinel_projectors[a] && a < SENTINEL_MAX_SET; a++) {
            if (in[a]) continue;
            for (int b = 0; sentinel_projectors[b] && b < SENTINEL_MAX_SET && !in[a]; b++) {
                if (!in[b]) continue;
                for (int x = 0; sentinel_projectors[a]->tables[x] && !in[a]; x++)
                    for (int y = 0; sentinel_projectors[b]->tables[y]; y++)
                        if (!strcmp(sentinel_projectors[a]->tables[x],
                                    sentinel_projectors[b]->tables[y])) {
                            in[a] = grew = 1;
                            break;
                        }
            }
        }
    }
    for (int k = 0; sentinel_projectors[k] && k < SENTINEL_MAX_SET; k++)
        if (in[k]) set[count++] = sentinel_projectors[k];
    return count;
}

typedef struct rebuild {
    const sentinel_projector_t *const *set;
    int n;
    const sentinel_conf_t *conf;
    const sentinel_replay_options_t *o;
    PGconn *conn; /* the comparison and the swap */
    job_t job;
    log_bounds_t log;
    char shadow[64];
    const char *tables[64];
    int n_tables;
    char *names;        /* text[] of projectors */
    char *label;        /* their names joined by +, for people */
    char *tables_array; /* text[] of tables */
} rebuild_t;

static void rebuild_tables(rebuild_t *rb) {
    rb->n_tables = (int)sentinel_projectors_tables(rb->set, (size_t)rb->n, rb->tables, 64);
    rb->tables_array = sentinel_array_of(rb->tables, (size_t)rb->n_tables);
}

/* Create the shadow (or find the one an interrupted run left) and the
 * job that tracks it. */
static sentinel_err_t rebuild_prepare(rebuild_t *rb, char *errstr, size_t errstr_size) {
    PGresult *res = NULL;
    const char *p1[1] = {rb->shadow};
    sentinel_err_t err = sentinel_db_params(
        rb->conn, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", 1, p1, &res,
        errstr, errstr_size);
    if (err) return err;
    int exists = !strcmp(PQgetvalue(res, 0, 0), "t");
    PQclear(res);
    char pid[16], host[256];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    replay_host_name(host, sizeof(host));
    if (!exists) {
        /* A job left `building` without its shadow (dropped by hand) is over. */
        err = sentinel_db_params(
            rb->conn,
            "UPDATE projection_jobs SET state = 'failed', detail = 'shadow schema gone', "
            "finished_at = now() WHERE shadow_schema = $1 AND state = 'building'",
            1, p1, NULL, errstr, errstr_size);
        if (!err) err = sentinel_db_exec(rb->conn, "BEGIN", errstr, errstr_size);
        const char *p3[3] = {rb->shadow, rb->tables_array, rb->names};
        if (!err)
            err = sentinel_db_params(rb->conn,
                                     "SELECT sentinel_shadow_create($1, $2::text[], $3::text[])", 3,
                                     p3, NULL, errstr, errstr_size);
        if (!err) err = sentinel_db_exec(rb->conn, "COMMIT", errstr, errstr_size);
        if (err) {
            char ignored[256];
            if (sentinel_db_exec(rb->conn, "ROLLBACK", ignored, sizeof(ignored))) {
                /* the connection is gone; so is the transaction */
            }
            return err;
        }
        replay_report(rb->o, "rebuilding %s into shadow tables in schema %s\n", rb->label,
                      rb->shadow);
    }
    err = sentinel_db_params(rb->conn,
                             "SELECT id, events_done FROM projection_jobs WHERE shadow_schema = $1 "
                             "AND state = 'building'",
                             1, p1, &res, errstr, errstr_size);
    if (err) return err;
    if (PQntuples(res)) {
        rb->job.id = atoll(PQgetvalue(res, 0, 0));
        if (exists)
            replay_report(
                rb->o, "resuming the rebuild of %s from its shadow in schema %s (%s events done)\n",
                rb->label, rb->shadow, PQgetvalue(res, 0, 1));
        PQclear(res);
        char id[32];
        snprintf(id, sizeof(id), "%lld", rb->job.id);
        const char *p3[3] = {id, pid, host};
        return sentinel_db_params(rb->conn,
                                  "UPDATE projection_jobs SET pid = $2::int, host = $3, "
                                  "heartbeat_at = now() WHERE id = $1",
                                  3, p3, NULL, errstr, errstr_size);
    }
    PQclear(res);
    if (exists)
        replay_report(rb->o, "continuing with the shadow of %s in schema %s\n", rb->label,
                      rb->shadow);
    const char *p5[5] = {rb->names, rb->log.topic, rb->shadow, pid, host};
    err = sentinel_db_params(
        rb->conn,
        "INSERT INTO projection_jobs (kind, projectors, topic, shadow_schema, state, range_from, "
        "pid, host) VALUES ('rebuild', $1, $2, $3, 'building', 'beginning', $4::int, $5) RETURNING "
        "id",
        5, p5, &res, errstr, errstr_size);
    if (err) return err;
    rb->job.id = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return SENTINEL_OK;
}

/* Stored offsets of every projector of the set, n * partitions. */
static sentinel_err_t set_offsets(rebuild_t *rb, const char *schema, int64_t *out, char *errstr,
                                  size_t errstr_size) {
    for (int i = 0; i < rb->n; i++) {
        sentinel_err_t err = replay_read_offsets(rb->conn, schema, rb->set[i]->name, &rb->log,
                                                 out + i * rb->log.n, errstr, errstr_size);
        if (err) return err;
    }
    return SENTINEL_OK;
}

static char *qualified(PGconn *conn, const char *schema, const char *table) {
    char *a = PQescapeIdentifier(conn, schema, strlen(schema));
    char *b = PQescapeIdentifier(conn, table, strlen(table));
    char *out = NULL;
    out = sentinel_aprintf("%s.%s", a ? a : "", b ? b : "");
    PQfreemem(a);
    PQfreemem(b);
    return out;
}

/* Compare each table with its shadow: counts and checksums, then up to
 * ten differing rows of a table that differs. Returns the number of
 * tables that differ in *differing. */
static sentinel_err_t rebuild_compare(rebuild_t *rb, int *differing, char *errstr,
                                      size_t errstr_size) {
    *differing = 0;
    replay_report(rb->o, "%-26s %14s %14s\n", "table", "live rows", "rebuilt rows");
    for (int t = 0; t < rb->n_tables; t++) {
        char *live = qualified(rb->conn, "public", rb->tables[t]);
        char *shadow = qualified(rb->conn, rb->shadow, rb->tables[t]);
        const char *p3[3] = {live, shadow, NULL};
        PGresult *res = NULL;
        /* A migration since the shadow was made would be undone by the
         * swap: refuse, by name. */
        sentinel_err_t err = sentinel_db_params(
            rb->conn,
            "SELECT (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' "
            "ORDER BY attnum) FROM pg_attribute WHERE attrelid = x.rel AND attnum > 0 AND NOT "
            "attisdropped) FROM (VALUES ($1::regclass, 1), ($2::regclass, 2)) AS x(rel, n) ORDER "
            "BY n",
            2, p3, &res, errstr, errstr_size);
        if (!err && strcmp(PQgetvalue(res, 0, 0), PQgetvalue(res, 1, 0))) {
            snprintf(errstr, errstr_size,
                     "%s has columns (%s) but its shadow was made with (%s): the table changed "
                     "since the rebuild began (a migration?); run the rebuild with --abort, then "
                     "again",
                     rb->tables[t], PQgetvalue(res, 0, 0), PQgetvalue(res, 1, 0));
            err = SENTINEL_ERR_FATAL;
        }
        PQclear(res);
        res = NULL;
        if (err) {
            free(live);
            free(shadow);
            return err;
        }
        err = sentinel_db_params(rb->conn,
                                 "SELECT l.row_count, l.checksum, s.row_count, s.checksum, c.cols, "
                                 "sentinel_key_columns($1::regclass) "
                                 "FROM (SELECT sentinel_compared_columns($1::regclass) AS cols) c, "
                                 "LATERAL sentinel_table_checksum($1::regclass, c.cols) l, "
                                 "LATERAL sentinel_table_checksum($2::regclass, c.cols) s",
                                 2, p3, &res, errstr, errstr_size);
        if (!err) {
            int same = !strcmp(PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2)) &&
                       !strcmp(PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 3));
            replay_report(rb->o, "%-26s %14s %14s  %s\n", rb->tables[t], PQgetvalue(res, 0, 0),
                          PQgetvalue(res, 0, 2), same ? "same" : "DIFFERENT");
            if (!same) {
                (*differing)++;
                char *cols = sentinel_strdup(PQgetvalue(res, 0, 4)),
                     *keys = sentinel_strdup(PQgetvalue(res, 0, 5));
                PQclear(res);
                res = NULL;
                const char *p4[4] = {live, shadow, cols, keys};
                err = sentinel_db_params(
                    rb->conn,
                    "SELECT row_key, coalesce(live_row, '(missing)'), "
                    "coalesce(shadow_row, '(missing)') "
                    "FROM sentinel_table_differences($1::regclass, $2::regclass, $3, $4, 10)",
                    4, p4, &res, errstr, errstr_size);
                for (int k = 0; !err && k < PQntuples(res); k++)
                    replay_report(rb->o, "    key %s\n      live:    %s\n      rebuilt: %s\n",
                                  PQgetvalue(res, k, 0), PQgetvalue(res, k, 1),
                                  PQgetvalue(res, k, 2));
                free(cols);
                free(keys);
            }
        }
        if (res) PQclear(res);
        free(live);
        free(shadow);
        if (err) return err;
    }
    return SENTINEL_OK;
}

static void rollback(PGconn *conn) {
    char ignored[256];
    if (PQstatus(conn) == CONNECTION_OK &&
        sentinel_db_exec(conn, "ROLLBACK", ignored, sizeof(ignored))) {
        /* the server ends the transaction with the session */
    }
}

/* Bring the live projection and the shadow to the same offsets, compare,
 * and swap (or only replay_report). One attempt: RETRIABLE when the live moved
 * in between or a lock was not granted in time. */
static sentinel_err_t rebuild_finish(rebuild_t *rb, enum sentinel_rebuild_mode mode,
                                     const int64_t *target, int *differing, char *errstr,
                                     size_t errstr_size) {
    int np = rb->log.n, total = rb->n * np;
    int64_t *live = sentinel_calloc((size_t)total, sizeof(int64_t)),
            *shadow = sentinel_calloc((size_t)total, sizeof(int64_t));
    int64_t *base = sentinel_calloc((size_t)total, sizeof(int64_t));
    sentinel_err_t err = set_offsets(rb, NULL, live, errstr, errstr_size);
    /* The log's bounds after the live offsets, so these are within them
     * however far the live consumers went meanwhile. */
    if (!err) err = replay_log_refresh(&rb->log, errstr, errstr_size);
    /* A live projection whose offsets are outside the log (the topic was
     * recreated or truncated) cannot be brought to the shadow's offsets,
     * nor compared at them: the rebuild replaces it as it is. */
    int lost = 0;
    for (int k = 0; !err && k < total; k++)
        if (live[k] < rb->log.lo[k % np] || live[k] > rb->log.hi[k % np]) lost = 1;
    if (lost)
        sentinel_warn("rebuild of %s: the live projection's offsets are outside the log (a topic "
                      "recreated or truncated?): it is compared as it is and replaced",
                      rb->label);
    /* The live projection up to the target first: its own consumers may be
     * behind, or not running at all. Fenced by its offsets like any
     * other consumer of the projection, so running beside them is safe. */
    int behind = 0;
    for (int k = 0; !err && !lost && k < total; k++)
        behind |= live[k] < target[k];
    if (!err && behind) {
        int64_t *stops = sentinel_calloc((size_t)total, sizeof(int64_t));
        for (int k = 0; k < total; k++)
            stops[k] = live[k] < target[k] ? target[k] : live[k];
        err = replay_run_set(rb->set, rb->n, rb->conf, rb->o, NULL, "live catch-up", &rb->log, NULL,
                             stops, live, &rb->job, NULL, errstr, errstr_size);
        free(stops);
    }
    /* Hold the live projection's writers back, read where it is, bring
     * the shadow exactly there. */
    if (!err)
        err = sentinel_db_exec(rb->conn, "BEGIN; SET LOCAL lock_timeout = '20s'", errstr,
                               errstr_size);
    int in_transaction = !err;
    for (int i = 0; !err && i < rb->n; i++)
        err = sentinel_projection_lock(rb->conn, NULL, rb->set[i]->name, 1, errstr, errstr_size);
    double held_since = sentinel_monotonic_seconds();
    if (!err) err = set_offsets(rb, NULL, live, errstr, errstr_size);
    if (!err) err = set_offsets(rb, rb->shadow, shadow, errstr, errstr_size);
    if (lost) memcpy(live, target, (size_t)total * sizeof(int64_t));
    for (int k = 0; !err && k < total; k++) {
        if (shadow[k] > live[k]) {
            snprintf(errstr, errstr_size,
                     "%s [%d]: the live projection of %s is at %lld, behind its shadow at %lld",
                     rb->log.topic, k % np, rb->set[k / np]->name, (long long)live[k],
                     (long long)shadow[k]);
            err = SENTINEL_ERR_RETRIABLE;
        }
    }
    if (!err) {
        for (int k = 0; k < total; k++)
            base[k] = rb->log.lo[k % np];
        err = replay_run_set(rb->set, rb->n, rb->conf, rb->o, rb->shadow, "final catch-up",
                             &rb->log, NULL, live, base, &rb->job, NULL, errstr, errstr_size);
    }
    if (!err) {
        for (int i = 0; i < rb->n; i++) {
            replay_report(rb->o, "%s: live and rebuilt at offsets", rb->set[i]->name);
            for (int p = 0; p < np; p++)
                replay_report(rb->o, " %d:%lld", p, (long long)live[i * np + p]);
            replay_report(rb->o, "\n");
        }
        replay_job_phase(&rb->job, "comparing");
        err = rebuild_compare(rb, differing, errstr, errstr_size);
    }
    if (!err && mode == SENTINEL_REBUILD_SWAP) {
        const char *p3[3] = {rb->shadow, rb->tables_array, rb->names};
        replay_job_phase(&rb->job, "swapping");
        err =
            sentinel_db_params(rb->conn, "SELECT sentinel_shadow_swap($1, $2::text[], $3::text[])",
                               3, p3, NULL, errstr, errstr_size);
        if (!err) err = sentinel_db_exec(rb->conn, "COMMIT", errstr, errstr_size);
        in_transaction = 0;
    }
    if (in_transaction) rollback(rb->conn);
    sentinel_info("rebuild of %s: the live projection's writers waited %.1f s for the final "
                  "catch-up, the comparison%s",
                  rb->label, sentinel_monotonic_seconds() - held_since,
                  mode == SENTINEL_REBUILD_SWAP ? " and the swap" : "");
    free(live);
    free(shadow);
    free(base);
    /* A lock not granted in time (55P03) is worth another attempt. */
    if (err == SENTINEL_ERR_FATAL && strstr(errstr, "lock timeout")) err = SENTINEL_ERR_RETRIABLE;
    return err;
}

/* The bulk is in: build the deferred indexes and check the deferred
 * references, one statement a transaction (a killed run leaves the rest
 * listed, for the next to finish). */
static sentinel_err_t rebuild_complete(rebuild_t *rb, char *errstr, size_t errstr_size) {
    char *quoted = PQescapeIdentifier(rb->conn, rb->shadow, strlen(rb->shadow));
    char next[256], done[256], path[256];
    snprintf(next, sizeof(next), "SELECT seq, stmt FROM %s.shadow_deferred ORDER BY seq LIMIT 1",
             quoted);
    snprintf(done, sizeof(done), "DELETE FROM %s.shadow_deferred WHERE seq = $1::int", quoted);
    snprintf(path, sizeof(path), "SET LOCAL search_path = %s, public", quoted);
    PQfreemem(quoted);
    sentinel_err_t err = SENTINEL_OK;
    int count = 0;
    double t0 = sentinel_monotonic_seconds();
    while (!err && !(rb->o->run->stop && *rb->o->run->stop)) {
        replay_job_phase(&rb->job, "adding the deferred indexes and references");
        PGresult *res = NULL;
        if ((err = sentinel_db_params(rb->conn, next, 0, NULL, &res, errstr, errstr_size))) break;
        if (!PQntuples(res)) {
            PQclear(res);
            break;
        }
        char seq[16];
        snprintf(seq, sizeof(seq), "%s", PQgetvalue(res, 0, 0));
        char *stmt = sentinel_strdup(PQgetvalue(res, 0, 1));
        PQclear(res);
        sentinel_debug("rebuild: %s", stmt);
        const char *params[1] = {seq};
        err = sentinel_db_exec(rb->conn, "BEGIN", errstr, errstr_size);
        if (!err) err = sentinel_db_exec(rb->conn, path, errstr, errstr_size);
        if (!err) err = sentinel_db_exec(rb->conn, stmt, errstr, errstr_size);
        if (!err) err = sentinel_db_params(rb->conn, done, 1, params, NULL, errstr, errstr_size);
        if (!err) err = sentinel_db_exec(rb->conn, "COMMIT", errstr, errstr_size);
        if (err) {
            rollback(rb->conn);
            char reason[1024];
            snprintf(reason, sizeof(reason), "%s: %s", stmt, errstr);
            snprintf(errstr, errstr_size, "%s", reason);
        }
        free(stmt);
        count++;
    }
    if (!err && count)
        sentinel_info("rebuild of %s: %d deferred indexes and references done in %.1f s", rb->label,
                      count, sentinel_monotonic_seconds() - t0);
    return err;
}

static sentinel_err_t rebuild_run(rebuild_t *rb, enum sentinel_rebuild_mode mode, int *differing,
                                  char *errstr, size_t errstr_size) {
    int np = rb->log.n, total = rb->n * np;
    sentinel_err_t err = rebuild_prepare(rb, errstr, errstr_size);
    if (err) return err;
    /* The bulk of the work: the whole log, as of now, into the shadow. */
    int64_t *target = sentinel_calloc((size_t)total, sizeof(int64_t)),
            *base = sentinel_calloc((size_t)total, sizeof(int64_t));
    for (int k = 0; k < total; k++) {
        target[k] = rb->log.hi[k % np];
        base[k] = rb->log.lo[k % np];
    }
    err = replay_run_set(rb->set, rb->n, rb->conf, rb->o, rb->shadow, "rebuild", &rb->log, NULL,
                         target, base, &rb->job, NULL, errstr, errstr_size);
    if (!err) err = rebuild_complete(rb, errstr, errstr_size);
    /* What arrived meanwhile, unlocked, until little is left: the live
     * writers wait only for the last stretch. */
    for (int round = 0; !err && round < 5; round++) {
        int64_t *at = sentinel_calloc((size_t)total, sizeof(int64_t)), gap = 0;
        err = set_offsets(rb, rb->shadow, at, errstr, errstr_size);
        if (!err) err = replay_log_refresh(&rb->log, errstr, errstr_size);
        for (int k = 0; !err && k < total; k++) {
            target[k] = rb->log.hi[k % np];
            gap += target[k] > at[k] ? target[k] - at[k] : 0;
        }
        free(at);
        if (err || gap <= 10000 * rb->n) break;
        err = replay_run_set(rb->set, rb->n, rb->conf, rb->o, rb->shadow, "rebuild (new events)",
                             &rb->log, NULL, target, base, &rb->job, NULL, errstr, errstr_size);
    }
    if (!err && rb->o->run->stop && *rb->o->run->stop) {
        snprintf(errstr, errstr_size, "interrupted");
        err = SENTINEL_ERR_RETRIABLE;
    }
    for (int attempt = 0; !err; attempt++) {
        err = rebuild_finish(rb, mode, target, differing, errstr, errstr_size);
        if (err != SENTINEL_ERR_RETRIABLE || attempt >= 5 ||
            (rb->o->run->stop && *rb->o->run->stop))
            break;
        sentinel_warn("rebuild of %s: %s; trying again", rb->label, errstr);
        err = replay_log_refresh(&rb->log, errstr, errstr_size);
        for (int k = 0; k < total; k++)
            target[k] = rb->log.hi[k % np];
    }
    free(target);
    free(base);
    return err;
}

sentinel_err_t sentinel_rebuild(const sentinel_projector_t *const *requested, int n,
                                const sentinel_conf_t *conf, enum sentinel_rebuild_mode mode,
                                const sentinel_replay_options_t *o, int *differences, char *errstr,
                                size_t errstr_size) {
    const sentinel_projector_t *set[SENTINEL_MAX_SET];
    rebuild_t rb = {.set = set, .conf = conf, .o = o};
    *differences = 0;
    rb.n = sentinel_rebuild_set(requested, n, set);
    if (!rb.n) {
        snprintf(errstr, errstr_size, "rebuild: no projector named");
        return SENTINEL_ERR_INVALID;
    }
    rb.names = replay_names_array(set, rb.n);
    rb.label = replay_names_label(set, rb.n);
    rebuild_tables(&rb);
    size_t used = (size_t)snprintf(rb.shadow, sizeof(rb.shadow), "rebuild");
    for (int i = 0; i < rb.n && used < sizeof(rb.shadow); i++)
        used += (size_t)snprintf(rb.shadow + used, sizeof(rb.shadow) - used, "_%s", set[i]->name);
    if (used >= sizeof(rb.shadow)) {
        free(rb.names);
        free(rb.label);
        free(rb.tables_array);
        snprintf(errstr, errstr_size, "rebuild: the projectors' names make too long a schema name");
        return SENTINEL_ERR_INVALID;
    }
    sentinel_err_t err = SENTINEL_OK;
    rb.conn = sentinel_db_open(sentinel_conf_db(conf), sentinel_conf_connect_timeout(conf), NULL,
                               errstr, errstr_size);
    if (!rb.conn) err = SENTINEL_ERR_RETRIABLE;
    if (!err)
        err = sentinel_db_exec(rb.conn,
                               "SET client_min_messages = warning; SET application_name = "
                               "'sentinel-rebuild'",
                               errstr, errstr_size);
    /* One rebuild of a set at a time, whatever the host. */
    PGresult *res = NULL;
    const char *p1[1] = {rb.shadow};
    if (!err)
        err = sentinel_db_params(
            rb.conn, "SELECT pg_try_advisory_lock(hashtext('sentinel.rebuild'), hashtext($1))", 1,
            p1, &res, errstr, errstr_size);
    if (!err) {
        int got = !strcmp(PQgetvalue(res, 0, 0), "t");
        PQclear(res);
        if (!got) {
            snprintf(errstr, errstr_size,
                     "a rebuild of %s is running already (see sentinel status)", rb.label);
            err = SENTINEL_ERR_FATAL;
        }
    }
    int shadow_exists = 0;
    if (!err && mode == SENTINEL_REBUILD_ABORT) {
        PGresult *found = NULL;
        err = sentinel_db_params(rb.conn, "SELECT 1 FROM pg_namespace WHERE nspname = $1", 1, p1,
                                 &found, errstr, errstr_size);
        shadow_exists = !err && PQntuples(found) > 0;
        PQclear(found);
    }
    if (!err && mode == SENTINEL_REBUILD_ABORT && !shadow_exists) {
        /* Said once: a second --abort finds nothing to drop. */
        replay_report(o, "no unfinished rebuild of %s: nothing to abort\n", rb.label);
    } else if (!err && mode == SENTINEL_REBUILD_ABORT) {
        char *quoted = PQescapeIdentifier(rb.conn, rb.shadow, strlen(rb.shadow));
        char sql[256];
        snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", quoted);
        PQfreemem(quoted);
        err = sentinel_db_exec(rb.conn, sql, errstr, errstr_size);
        if (!err)
            err = sentinel_db_params(
                rb.conn,
                "UPDATE projection_jobs SET state = 'aborted', finished_at = now() "
                "WHERE shadow_schema = $1 AND state = 'building'",
                1, p1, NULL, errstr, errstr_size);
        if (!err)
            replay_report(o, "rebuild of %s aborted: shadow schema %s dropped\n", rb.label,
                          rb.shadow);
    } else if (!err) {
        err = replay_log_open(&rb.log, conf, errstr, errstr_size);
        if (!err) err = replay_job_open(&rb.job, conf, errstr, errstr_size);
        int differing = 0;
        if (!err) err = rebuild_run(&rb, mode, &differing, errstr, errstr_size);
        *differences = differing;
        char detail[512];
        if (err == SENTINEL_ERR_RETRIABLE && o->run->stop && *o->run->stop) {
            snprintf(detail, sizeof(detail), "interrupted; run the rebuild again to resume");
            replay_job_finish(&rb.job, "building", detail);
            snprintf(errstr, errstr_size, "%s", detail);
        } else if (err) {
            /* The shadow stays: a later run resumes from it. */
            snprintf(detail, sizeof(detail), "%s", errstr);
            replay_job_finish(&rb.job, "building", detail);
        } else {
            snprintf(detail, sizeof(detail), "%d of %d tables differed from the live projection%s",
                     differing, rb.n_tables,
                     mode == SENTINEL_REBUILD_SWAP ? "; swapped" : "; not swapped (--no-swap)");
            replay_job_finish(&rb.job, mode == SENTINEL_REBUILD_SWAP ? "swapped" : "compared",
                              detail);
            replay_report(o, "rebuild of %s: %s\n", rb.label, detail);
        }
    }
    if (!err && mode == SENTINEL_REBUILD_SWAP) {
        /* Fresh tables need statistics before the planner meets them. */
        for (int t = 0; t < rb.n_tables; t++) {
            char *name = qualified(rb.conn, "public", rb.tables[t]), sql[256], ignored[256];
            snprintf(sql, sizeof(sql), "ANALYZE %s", name);
            free(name);
            if (sentinel_db_exec(rb.conn, sql, ignored, sizeof(ignored)))
                sentinel_warn("rebuild: %s: %s", sql, ignored);
        }
    }
    replay_job_close(&rb.job);
    replay_log_clear(&rb.log);
    if (rb.conn) PQfinish(rb.conn);
    free(rb.names);
    free(rb.label);
    free(rb.tables_array);
    return err;
}
