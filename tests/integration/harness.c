/* harness.c -- shared plumbing of the integration tests. */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <sentinel/projector.h>
#include <sentinel/publisher.h>
#include "base/kafka_conf.h"
#include "base/topic.h"

static const char *require_env(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v) {
        fail_msg("%s is not set: start the services with scripts/services up and "
                 "eval \"$(scripts/services env)\"",
                 name);
    }
    return v;
}

const char *harness_brokers(void) { return require_env("SENTINEL_KAFKA_BROKERS"); }
const char *harness_owner_url(void) { return require_env("SENTINEL_OWNER_URL"); }

const char *harness_as_owner(const char *conninfo) {
    static char buf[4][1024];
    static int slot;
    char *b = buf[slot++ % 4];
    char *info = harness_conninfo_as(conninfo, NULL);
    snprintf(b, sizeof(buf[0]), "%s", info);
    free(info);
    return b;
}

char *harness_conninfo_as(const char *conninfo, const char *role) {
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &why);
    if (!opts) fail_msg("%s: %s", conninfo, why ? why : "cannot parse");
    char *owner = NULL;
    if (!role) {
        PQconninfoOption *o = PQconninfoParse(harness_owner_url(), &why);
        if (!o) fail_msg("SENTINEL_OWNER_URL: %s", why ? why : "cannot parse");
        for (PQconninfoOption *x = o; x->keyword; x++)
            if (!strcmp(x->keyword, "user") && x->val) owner = strdup(x->val);
        PQconninfoFree(o);
        if (!owner) fail_msg("SENTINEL_OWNER_URL names no user");
        role = owner;
    }
    char *info = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&info, &len);
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !strcmp(o->keyword, "user")) continue;
        fprintf(out, "%s='%s' ", o->keyword, o->val);
    }
    fprintf(out, "user='%s'", role);
    fclose(out);
    PQconninfoFree(opts);
    free(owner);
    return info;
}

/* The names this process made, for the topics named after them: a suite
 * run makes about a hundred topics, and a broker that keeps every run's
 * topics holds thousands of partitions, starts slowly and answers
 * unevenly. A forked child inherits the list; each deletes its own. */
static struct made_name {
    pid_t pid;
    char *name;
} * made;
static size_t made_count;

/* At exit: delete the topics named by this process's unique names (and
 * their dead-letter topics, which share the name), through the same tool
 * the benchmarks use. Best effort: a broker that is down keeps them. */
static void delete_made_topics(void) {
    const char *brokers = getenv("SENTINEL_KAFKA_BROKERS");
    if (!brokers || !made_count) return;
    char *cmd = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&cmd, &len);
    fprintf(out, "'%s' '%s'", SENTINEL_TOPICS_TOOL, brokers);
    size_t mine = 0;
    for (size_t i = 0; i < made_count; i++)
        if (made[i].pid == getpid()) {
            fprintf(out, " '%s'", made[i].name);
            mine++;
        }
    fprintf(out, " >/dev/null");
    fclose(out);
    if (mine && system(cmd) != 0)
        fprintf(stderr, "some topics of this test were not deleted: %s\n", cmd);
    free(cmd);
}

char *harness_unique_name(const char *prefix) {
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char *name = NULL;
    if (asprintf(&name, "%s_%ld_%lld%03ld_%u", prefix, (long)getpid(), (long long)ts.tv_sec,
                 ts.tv_nsec / 1000000L, counter++) < 0)
        abort();
    if (!made && atexit(delete_made_topics)) abort();
    struct made_name *grown = realloc(made, (made_count + 1) * sizeof(*made));
    if (!grown) abort();
    made = grown;
    made[made_count].pid = getpid();
    if (!(made[made_count++].name = strdup(name))) abort();
    return name;
}

PGconn *harness_connect(const char *conninfo) {
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        fail_msg("cannot connect to PostgreSQL (%s): %s", conninfo, PQerrorMessage(conn));
    }
    PQclear(PQexec(conn, "SET client_min_messages = warning"));
    return conn;
}

static void exec_or_fail(PGconn *conn, const char *sql) {
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
}

char *harness_create_database(const char *name) {
    PGconn *conn = harness_connect(harness_owner_url());
    char sql[512];
    snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", name);
    exec_or_fail(conn, sql);

    /* Same server and credentials, other database. */
    PQconninfoOption *opts = PQconninfo(conn);
    char *info = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&info, &len);
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !strcmp(o->keyword, "dbname")) continue;
        if (strcmp(o->keyword, "host") && strcmp(o->keyword, "port") &&
            strcmp(o->keyword, "user") && strcmp(o->keyword, "password") &&
            strcmp(o->keyword, "hostaddr"))
            continue;
        fprintf(out, "%s='%s' ", o->keyword, o->val);
    }
    fprintf(out, "dbname='%s'", name);
    fclose(out);
    PQconninfoFree(opts);
    PQfinish(conn);
    return info;
}

void harness_drop_database(const char *name) {
    PGconn *conn = harness_connect(harness_owner_url());
    char sql[512];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
    exec_or_fail(conn, sql);
    PQfinish(conn);
}

char *harness_query_value(PGconn *conn, const char *sql) {
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    if (PQntuples(res) != 1) fail_msg("%s: %d rows, expected 1", sql, PQntuples(res));
    char *v = strdup(PQgetisnull(res, 0, 0) ? "" : PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

long long harness_query_int(PGconn *conn, const char *sql) {
    char *v = harness_query_value(conn, sql);
    long long n = strtoll(v, NULL, 10);
    free(v);
    return n;
}

/* All of `f` as a new string. */
static char *read_stream(FILE *f) {
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, mem);
    fclose(mem);
    return buf;
}

char *harness_read_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return strdup("");
    char *buf = read_stream(f);
    fclose(f);
    return buf;
}

int harness_run_sentinel(const char *args, char **output) {
    char *cmd = NULL;
    /* A run still going after HARNESS_WAIT_SECONDS is stopped: timeout(1)
     * exits 124, which the engine never does. */
    if (asprintf(&cmd, "timeout --foreground -k 10 %d %s %s 2>&1", HARNESS_WAIT_SECONDS,
                 SENTINEL_BINARY, args) < 0)
        abort();
    FILE *p = popen(cmd, "r");
    free(cmd);
    if (!p) fail_msg("popen failed");
    char *buf = read_stream(p);
    int status = pclose(p);
    if (output)
        *output = buf;
    else
        free(buf);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return -1;
}

void harness_create_topic(const char *topic, int partitions) {
    char errstr[512];
    sentinel_conf_t *conf = sentinel_conf_new();
    if (sentinel_conf_set(conf, "brokers", harness_brokers(), errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    if (sentinel_topic_ensure(conf, topic, partitions, errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    sentinel_conf_destroy(conf);
}

char *harness_migrated_database(const char *prefix, int workspaces, char **name) {
    char *db = harness_unique_name(prefix);
    char *conninfo = harness_create_database(db);
    char *cmd = NULL, *out = NULL;
    if (asprintf(&cmd, "migrate --db \"%s\"", conninfo) < 0) abort();
    int rc = harness_run_sentinel(cmd, &out);
    if (rc != 0) fail_msg("sentinel migrate exited %d:\n%s", rc, out);
    free(cmd);
    free(out);
    if (workspaces > 0) {
        if (asprintf(&cmd, "%s/scripts/fixtures --db \"%s\" --workspaces %d 2>&1",
                     SENTINEL_SOURCE_DIR, conninfo, workspaces) < 0)
            abort();
        rc = system(cmd);
        if (rc != 0) fail_msg("%s: exit status %d", cmd, rc);
        free(cmd);
    }
    if (name)
        *name = db;
    else
        free(db);
    char *engine = harness_conninfo_as(conninfo, "sentinel_projector");
    free(conninfo);
    return engine;
}

void harness_exec(PGconn *conn, const char *sql) { exec_or_fail(conn, sql); }

char *harness_must_run(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *cmd = NULL, *out = NULL;
    if (vasprintf(&cmd, fmt, ap) < 0) abort();
    va_end(ap);
    int rc = harness_run_sentinel(cmd, &out);
    if (rc == HARNESS_TIMED_OUT)
        fail_msg("sentinel %s was still running after %d s, and was stopped:\n%s", cmd,
                 HARNESS_WAIT_SECONDS, out);
    if (rc) fail_msg("sentinel %s exited %d:\n%s", cmd, rc, out);
    free(cmd);
    return out;
}

void harness_project(const char *conninfo, const char *topic, const char *prefix) {
    free(harness_must_run("project --until-caught-up --db \"%s\" --topic %s --group-prefix %s",
                          conninfo, topic, prefix));
}

/* The tables of a projection: every registered projector's (from the
 * registry, each once), then the engine's bookkeeping of what was applied
 * and rejected. Returns how many, into names (at most max). */
static size_t projection_tables(const char **names, size_t max) {
    size_t registered = 0;
    while (sentinel_projectors[registered])
        registered++;
    size_t n = sentinel_projectors_tables(sentinel_projectors, registered, names, max);
    static const char *const engine[] = {"applied_events", "dead_letters"};
    for (size_t e = 0; e < sizeof(engine) / sizeof(engine[0]) && n < max; e++)
        names[n++] = engine[e];
    return n;
}

void harness_empty_projection(const char *conninfo) {
    PGconn *owner = harness_connect(harness_as_owner(conninfo));
    const char *names[64];
    size_t n = projection_tables(names, 64);
    char sql[4096] = "TRUNCATE ";
    for (size_t i = 0; i < n; i++) {
        strcat(sql, names[i]);
        strcat(sql, i + 1 < n ? ", " : " CASCADE");
    }
    exec_or_fail(owner, sql);
    PQfinish(owner);
}

/* How a table is summarised where its rows' own text will not do (names
 * instead of ids that differ between databases, columns that are not the
 * projection's, an order by its key); every other table of the projection
 * is the aggregate of its rows' text. */
static const struct {
    const char *name;
    const char *sql;
} table_digests[] = {
    {"runs", "SELECT string_agg(r::text, ',' ORDER BY r.id) FROM runs r"},
    {"run_keys", "SELECT string_agg(k::text, ',' ORDER BY k.id) FROM run_keys k"},
    {"findings", "SELECT string_agg(f::text, ',' ORDER BY f.id) FROM findings f"},
    {"finding_keys", "SELECT string_agg(k::text, ',' ORDER BY k.id) FROM finding_keys k"},
    {"annotations",
     "SELECT string_agg(concat_ws(':', a.id, a.finding_id, a.workspace_id, p.slug, a.external_id,"
     " a.type, a.event_id, a.created_at), ',' ORDER BY a.id)"
     " FROM annotations a JOIN providers p ON p.id = a.provider_id"},
    {"command_runs", "SELECT string_agg(c::text, ',' ORDER BY c.id) FROM command_runs c"},
    {"briefing_generations",
     "SELECT string_agg(g::text, ',' ORDER BY g.id) FROM briefing_generations g"},
    {"briefing_downloads",
     "SELECT string_agg(d::text, ',' ORDER BY d.id) FROM briefing_downloads d"},
    {"activities", "SELECT string_agg(a::text, ',' ORDER BY a.id) FROM activities a"},
    {"usage_records",
     "SELECT string_agg(concat_ws(':', workspace_id, period_start, period_end, runs_count,"
     " commands_count, briefings_count, findings_count, annotations_count, tokens_estimated), ','"
     " ORDER BY workspace_id, period_start) FROM usage_records"},
    {"workspace_daily_metrics",
     "SELECT string_agg(concat_ws(':', workspace_id, date, runs_count, findings_count,"
     " critical_count, warning_count, tokens_estimated), ',' ORDER BY workspace_id, date)"
     " FROM workspace_daily_metrics"},
    {"usage_ledger",
     "SELECT string_agg(concat_ws(':', event_id, workspace_id, metric, amount, occurred_at,"
     " period_start, partition, kafka_offset), ',' ORDER BY event_id) FROM usage_ledger"},
    {"applied_events", "SELECT string_agg(concat_ws(':', projector, event_id, workspace_id), ','"
                       " ORDER BY projector, event_id) FROM applied_events"},
    {"dead_letters",
     "SELECT string_agg(concat_ws(':', projector, partition, kafka_offset, event_id, reason), ','"
     " ORDER BY projector, partition, kafka_offset) FROM dead_letters"},
};

#define TABLE_DIGESTS (sizeof table_digests / sizeof table_digests[0])

/* One table's digest and row count, as "md5 count". */
static char *projection_part(PGconn *conn, const char *table) {
    char *sql = NULL, *generic = NULL;
    const char *aggregate = NULL;
    for (size_t k = 0; k < TABLE_DIGESTS && !aggregate; k++)
        if (!strcmp(table_digests[k].name, table)) aggregate = table_digests[k].sql;
    if (!aggregate) {
        if (asprintf(&generic, "SELECT string_agg(t::text, ',' ORDER BY t::text) FROM %s t",
                     table) < 0)
            abort();
        aggregate = generic;
    }
    if (asprintf(&sql, "SELECT md5(coalesce((%s), '')) || ' ' || (SELECT count(*) FROM %s)",
                 aggregate, table) < 0)
        abort();
    char *value = harness_query_value(conn, sql);
    free(sql);
    free(generic);
    return value;
}

/* The projection's tables; fails when a table digest names a table that is
 * no longer one of them (the registry changed under it). */
static size_t projection_parts(const char **names, size_t max) {
    size_t n = projection_tables(names, max);
    for (size_t k = 0; k < TABLE_DIGESTS; k++) {
        size_t i = 0;
        while (i < n && strcmp(names[i], table_digests[k].name))
            i++;
        if (i == n) fail_msg("table digest of %s: no projector owns it", table_digests[k].name);
    }
    return n;
}

char *harness_projection_digest(PGconn *conn) {
    const char *names[64];
    size_t n = projection_parts(names, 64);
    char *all = strdup("");
    for (size_t i = 0; i < n; i++) {
        char *part = projection_part(conn, names[i]), *joined = NULL;
        if (asprintf(&joined, "%s%s|", all, part) < 0) abort();
        free(part);
        free(all);
        all = joined;
    }
    return all;
}

char *harness_reference_digest(const char *topic) {
    char *name = NULL;
    char *conninfo = harness_migrated_database("sentinel_ref", 8, &name);
    char *prefix = harness_unique_name("ref");
    harness_project(conninfo, topic, prefix);
    PGconn *conn = harness_connect(harness_as_owner(conninfo));
    char *digest = harness_projection_digest(conn);
    PQfinish(conn);
    harness_drop_database(name);
    free(prefix);
    free(name);
    free(conninfo);
    return digest;
}

void harness_assert_same_projection(const char *conninfo, const char *reference) {
    PGconn *conn = harness_connect(harness_as_owner(conninfo));
    PGconn *ref = harness_connect(harness_as_owner(reference));
    char differ[2048] = "";
    size_t used = 0;
    const char *names[64];
    size_t n = projection_parts(names, 64);
    for (size_t i = 0; i < n; i++) {
        char *got = projection_part(conn, names[i]), *want = projection_part(ref, names[i]);
        if (strcmp(got, want) && used < sizeof differ)
            used += (size_t)snprintf(differ + used, sizeof differ - used, " %s (rows %s, want %s)",
                                     names[i], strchr(got, ' ') + 1, strchr(want, ' ') + 1);
        free(got);
        free(want);
    }
    PQfinish(conn);
    PQfinish(ref);
    if (used) fail_msg("the projection differs from the reference in:%s", differ);
}

char *harness_exec_fails(PGconn *conn, const char *sql, char **message) {
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        fail_msg("expected an error from: %s", sql);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    char *copy = strdup(state ? state : "");
    if (message) *message = strdup(PQresultErrorMessage(res));
    PQclear(res);
    return copy;
}

const char *harness_workspace_id(int w) {
    static char buf[8][40];
    static int slot;
    char *b = buf[slot++ % 8];
    snprintf(b, 40, "a0000000-0000-4000-8000-%012d", w);
    return b;
}

const char *harness_repository_id(int w, int r) {
    static char buf[8][40];
    static int slot;
    char *b = buf[slot++ % 8];
    snprintf(b, 40, "b0000000-0000-4000-8000-%06d%06d", w, r);
    return b;
}

const char *harness_user_id(int u) {
    static char buf[8][40];
    static int slot;
    char *b = buf[slot++ % 8];
    snprintf(b, 40, "c0000000-0000-4000-8000-%012d", u);
    return b;
}

static const char *header_value(rd_kafka_headers_t *hdrs, const char *name, char *buf,
                                size_t size) {
    const void *v;
    size_t len;
    if (!hdrs || rd_kafka_header_get_last(hdrs, name, &v, &len)) return NULL;
    snprintf(buf, size, "%.*s", (int)len, (const char *)v);
    return buf;
}

long harness_consume_all(const char *topic, const char *isolation,
                         void (*fn)(const harness_message_t *m, void *opaque), void *opaque) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char *group = harness_unique_name("test.read");
    if (rd_kafka_conf_set(conf, "bootstrap.servers", harness_brokers(), errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "isolation.level", isolation, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    free(group);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) fail_msg("%s", errstr);
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    /* A topic just created may take a moment to show its partitions on a
     * busy broker. */
    int partitions = 0;
    for (int tries = 0; partitions == 0 && tries < 40; tries++) {
        if (tries) usleep(250000);
        if (rd_kafka_metadata(rk, 0, rkt, &md, 10000)) fail_msg("metadata for %s", topic);
        partitions = md->topic_cnt && !md->topics[0].err ? md->topics[0].partition_cnt : 0;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    if (partitions == 0) fail_msg("topic %s has no partitions", topic);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    if (rd_kafka_assign(rk, parts)) fail_msg("assign %s", topic);
    rd_kafka_topic_partition_list_destroy(parts);

    long count = 0;
    int eofs = 0;
    for (int idle = 0; eofs < partitions && idle < 600;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            idle++;
            continue;
        }
        idle = 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eofs++;
        } else if (m->err) {
            fail_msg("consume %s: %s", topic, rd_kafka_message_errstr(m));
        } else {
            rd_kafka_headers_t *hdrs = NULL;
            rd_kafka_message_headers(m, &hdrs);
            char t[128], id[64], reason[2048];
            harness_message_t hm = {m->partition,
                                    m->offset,
                                    m->key,
                                    m->key_len,
                                    m->payload,
                                    m->len,
                                    header_value(hdrs, "event_type", t, sizeof(t)),
                                    header_value(hdrs, "event_id", id, sizeof(id)),
                                    header_value(hdrs, "reason", reason, sizeof(reason))};
            if (fn) fn(&hm, opaque);
            count++;
        }
        rd_kafka_message_destroy(m);
    }
    if (eofs < partitions)
        fail_msg("%s: only %d of %d partitions reached their end", topic, eofs, partitions);
    rd_kafka_destroy(rk);
    return count;
}

/* The spawned processes not yet waited for, with their logs: a wait that
 * runs out shows the log of the process that hung. */
static struct spawned {
    pid_t pid;
    char *log;
} spawned[32];

static struct spawned *spawned_slot(pid_t pid) {
    for (size_t i = 0; i < sizeof(spawned) / sizeof(spawned[0]); i++)
        if (spawned[i].pid == pid) return &spawned[i];
    return NULL;
}

/* The log pid was spawned with (the caller frees it), its slot freed. */
static char *spawned_forget(pid_t pid) {
    struct spawned *slot = pid > 0 ? spawned_slot(pid) : NULL;
    if (!slot) return NULL;
    char *log = slot->log;
    *slot = (struct spawned){0, NULL};
    return log;
}

pid_t harness_spawn_sentinel(const char *args, const char *log_path) {
    char *cmd = NULL;
    if (asprintf(&cmd, "exec %s %s >>%s 2>&1", SENTINEL_BINARY, args, log_path) < 0) abort();
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork failed");
    if (pid == 0) {
        /* It ends with the test: a test killed by a sanitizer's abort
         * leaves no gateway or projector running (SIGTERM, so it stops
         * as an operator would stop it). */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) || getppid() != parent) _exit(127);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    free(cmd);
    struct spawned *slot = spawned_slot(pid);
    if (!slot) slot = spawned_slot(0);
    if (slot) {
        free(slot->log);
        *slot = (struct spawned){pid, strdup(log_path)};
    }
    return pid;
}

int harness_wait(pid_t pid) {
    char *log = spawned_forget(pid);
    int rc = harness_wait_within(pid, HARNESS_WAIT_SECONDS);
    if (rc < 0) {
        char *text = harness_read_file(log ? log : "/dev/null");
        size_t len = strlen(text);
        fail_msg("process %d was still running after %d s, and was killed; its log (%s) "
                 "ends:\n%s",
                 (int)pid, HARNESS_WAIT_SECONDS, log ? log : "none",
                 text + (len > 8000 ? len - 8000 : 0));
    }
    free(log);
    return rc;
}

int harness_wait_within(pid_t pid, int seconds) {
    for (int i = 0; i < seconds * 10; i++) {
        int status;
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid) {
            free(spawned_forget(pid));
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (got < 0) fail_msg("waitpid %d failed", (int)pid);
        usleep(100000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    free(spawned_forget(pid));
    return -1;
}

int harness_publish(const char *topic, const char *path) {
    char *cmd = NULL, *out = NULL;
    if (asprintf(&cmd, "publish --quiet --topic %s %s", topic, path) < 0) abort();
    int rc = harness_run_sentinel(cmd, &out);
    free(cmd);
    free(out);
    return rc;
}

struct sentinel_publisher *harness_publisher(const char *topic) {
    char errstr[512];
    sentinel_conf_t *conf = sentinel_conf_new();
    if (sentinel_conf_set(conf, "brokers", harness_brokers(), errstr, sizeof(errstr)) ||
        sentinel_conf_set(conf, "topic", topic, errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    sentinel_publisher_t *pub = sentinel_publisher_new(conf, NULL, errstr, sizeof(errstr));
    sentinel_conf_destroy(conf);
    if (!pub) fail_msg("%s", errstr);
    return pub;
}

char *harness_gen(const char *args) {
    char *path = strdup("/tmp/sentinel_events_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) fail_msg("mkstemp failed");
    close(fd);
    char *cmd = NULL, *out = NULL;
    if (asprintf(&cmd, "gen %s -o %s", args, path) < 0) abort();
    if (harness_run_sentinel(cmd, &out)) fail_msg("gen: %s", out);
    free(cmd);
    free(out);
    return path;
}

char *harness_schema_fingerprint(PGconn *conn) {
    return harness_query_value(
        conn,
        "SELECT md5(string_agg(x, ',' ORDER BY x)) FROM ("
        " SELECT table_name || '.' || column_name || ':' || data_type || ':' || is_nullable AS x"
        "   FROM information_schema.columns WHERE table_schema = 'public'"
        " UNION ALL SELECT conrelid::regclass || ':' || pg_get_constraintdef(oid) FROM "
        "pg_constraint"
        "   WHERE connamespace = 'public'::regnamespace"
        " UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'"
        " UNION ALL SELECT tablename || ':' || policyname || ':' || coalesce(qual, '') FROM "
        "pg_policies"
        " UNION ALL SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = "
        "t.tgrelid"
        "   WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace"
        " UNION ALL SELECT table_name || ':' || grantee || ':' || privilege_type"
        "   FROM information_schema.role_table_grants WHERE table_schema = 'public'"
        " UNION ALL SELECT relname || ':' || relrowsecurity || relforcerowsecurity FROM pg_class"
        "   WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')"
        ") s");
}

void harness_test_filter(void) {
    const char *only = getenv("SENTINEL_TEST");
    if (!only || !*only) return;
    fprintf(stderr, "SENTINEL_TEST=%s: running only the tests it names\n", only);
    cmocka_set_test_filter(only);
}

rd_kafka_t *harness_kafka_producer(void) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", harness_brokers(), errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) fail_msg("%s", errstr);
    return rk;
}

long long harness_log_end(const char *topic) {
    rd_kafka_t *rk = harness_kafka_producer();
    const struct rd_kafka_metadata *md = NULL;
    long long sum = 0;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    if (!rd_kafka_metadata(rk, 0, t, &md, 5000)) {
        for (int i = 0; i < md->topic_cnt; i++)
            for (int p = 0; !md->topics[i].err && p < md->topics[i].partition_cnt; p++) {
                int64_t lo, hi;
                if (!rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000)) sum += hi;
            }
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(t);
    rd_kafka_destroy(rk);
    return sum;
}

/* The broker that leads the partition holding most of topic's messages:
 * the one a producer of it certainly talks to (the keys reach only some
 * partitions, and a broker leading none of those would never be missed). */
int harness_busiest_leader(const char *topic) {
    rd_kafka_t *rk = harness_kafka_producer();
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int leader = -1;
    int64_t most = -1;
    if (rd_kafka_metadata(rk, 0, t, &md, 10000)) fail_msg("no metadata for %s", topic);
    for (int i = 0; i < md->topic_cnt; i++)
        for (int p = 0; p < md->topics[i].partition_cnt; p++) {
            int64_t lo, hi;
            if (rd_kafka_query_watermark_offsets(rk, topic, md->topics[i].partitions[p].id, &lo,
                                                 &hi, 10000))
                continue;
            if (hi > most) {
                most = hi;
                leader = md->topics[i].partitions[p].leader;
            }
        }
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    rd_kafka_destroy(rk);
    if (leader < 0) fail_msg("%s: no leader of a partition with messages", topic);
    return leader;
}

/* A socket from `from` (a loopback address) to 127.0.0.1:port, connected
 * or -1. */
int harness_dial(const char *from, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in src = {.sin_family = AF_INET};
    inet_pton(AF_INET, from, &src.sin_addr);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) ||
        connect(fd, (struct sockaddr *)&dst, sizeof(dst))) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Whether the server has closed fd (EOF or reset). */
int harness_closed_by_server(int fd) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, 0) <= 0) return 0;
    char c;
    return read(fd, &c, 1) <= 0 || (pfd.revents & (POLLHUP | POLLERR));
}

char *harness_shell(int *rc, const char *fmt, ...) {
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&cmd, fmt, ap) < 0) abort();
    va_end(ap);
    FILE *p = popen(cmd, "r");
    if (!p) fail_msg("cannot run: %s", cmd);
    char *out = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&out, &len);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
        fwrite(buf, 1, n, mem);
    fclose(mem);
    int status = pclose(p);
    if (rc) *rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    free(cmd);
    return out;
}

pid_t harness_publish_slowly(const char *topic, char **files, int n, int pause_ms) {
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork failed");
    if (pid) return pid;
    for (int i = 0; i < n; i++) {
        if (harness_publish(topic, files[i])) _exit(1);
        usleep((useconds_t)pause_ms * 1000);
    }
    _exit(0);
}
