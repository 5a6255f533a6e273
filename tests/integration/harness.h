/* harness.h -- what integration tests share: the services' addresses (a
 * missing service fails the test, never skips it), unique names, throwaway
 * databases and running the sentinel binary. */
#ifndef SENTINEL_TEST_HARNESS_H
#define SENTINEL_TEST_HARNESS_H

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Borrowed from the environment; fail the test when unset. The owner's
 * URL (SENTINEL_OWNER_URL) creates databases and runs migrations. */
const char *harness_brokers(void);
const char *harness_owner_url(void);

/* new: `conninfo` as another role ("sentinel_projector", "sentinel_app",
 * or NULL for the owner of SENTINEL_OWNER_URL). */
char *harness_conninfo_as(const char *conninfo, const char *role);
/* The same as the owner, in one of a few rotating static buffers: for the
 * commands that need the owner (migrate, rebuild) and tests' own setup. */
const char *harness_as_owner(const char *conninfo);

/* new: "<prefix>_<pid>_<time>_<n>", unique across runs. */
char *harness_unique_name(const char *prefix);

/* Create an empty database and return a new conninfo string for it (caller
 * frees); harness_drop_database() removes it. */
char *harness_create_database(const char *name);
void harness_drop_database(const char *name);

/* Connect or fail the test. */
PGconn *harness_connect(const char *conninfo);

/* Query returning a single value, or fail. Returns new string. */
char *harness_query_value(PGconn *conn, const char *sql);
long long harness_query_int(PGconn *conn, const char *sql);

/* Run the sentinel binary through sh -c with `args` appended (shell syntax);
 * captures stdout+stderr into *output (new, may be NULL to discard).
 * Returns the exit status, or -1 if it died from a signal; a run still
 * going after HARNESS_WAIT_SECONDS is stopped, HARNESS_TIMED_OUT. */
int harness_run_sentinel(const char *args, char **output);

/* Create a topic with `partitions` partitions through the admin API, or fail. */
void harness_create_topic(const char *topic, int partitions);

/* Create a database, run `sentinel migrate` on it as the owner, and
 * optionally load the demo fixtures (scripts/fixtures, `workspaces`
 * workspaces; 0: none). Returns a new conninfo as the engine's role,
 * sentinel_projector, the one every engine command of a test runs as
 * (harness_conninfo_as(.., NULL) for the owner's); the database name goes
 * to *name (new). */
char *harness_migrated_database(const char *prefix, int workspaces, char **name);

/* Execute SQL that must succeed. */
void harness_exec(PGconn *conn, const char *sql);

/* Execute SQL that must fail; returns its SQLSTATE (new) and the message in
 * *message (new, may be NULL). */
char *harness_exec_fails(PGconn *conn, const char *sql, char **message);

/* Fixture ids, as scripts/fixtures.sql makes them. Static buffers. */
const char *harness_workspace_id(int w);
const char *harness_repository_id(int w, int r);
const char *harness_user_id(int u);

/* One consumed message (valid during the callback). */
typedef struct harness_message {
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t key_len;
    const void *value;
    size_t len;
    const char *event_type; /* header, or NULL */
    const char *event_id;   /* header, or NULL */
    const char *reason;     /* header, or NULL */
} harness_message_t;

/* Read every partition of `topic` from the beginning to its end with the
 * given isolation level ("read_committed"), calling `fn` for each message.
 * Returns the number of messages. */
long harness_consume_all(const char *topic, const char *isolation,
                         void (*fn)(const harness_message_t *m, void *opaque), void *opaque);

/* Start the sentinel binary in the background with `args` (shell syntax),
 * output appended to `log_path`. Returns its pid. It gets SIGTERM when the
 * test process ends, however it ends. */
pid_t harness_spawn_sentinel(const char *args, const char *log_path);

/* How long harness_wait waits: far more than any test's process needs,
 * well within the suite's timeout of a test. */
#define HARNESS_WAIT_SECONDS 300

/* harness_run_sentinel's status for a run stopped after HARNESS_WAIT_SECONDS. */
#define HARNESS_TIMED_OUT 124

/* Wait for a spawned process; returns its exit status, or 128+signal. One
 * still running after HARNESS_WAIT_SECONDS is killed, and the test fails
 * with the end of its log: a hang fails the test that met it, with the
 * engine's own words, rather than the suite's timeout in silence. */
int harness_wait(pid_t pid);

/* Wait at most `seconds`; a process still running then is killed
 * (SIGKILL) and -1 returned. */
int harness_wait_within(pid_t pid, int seconds);

/* A digest of the projected tables (rows in a stable order, columns that
 * depend on the wall clock left out), to compare two projections. New. */
char *harness_projection_digest(PGconn *conn);

/* The whole of a file as a new string ("" when it cannot be read). */
char *harness_read_file(const char *path);

/* Run `sentinel gen` with `args` into a new temporary file, or fail;
 * returns its path (new; the caller unlinks and frees it). */
char *harness_gen(const char *args);

/* A digest of the public schema: columns, constraints, indexes, policies,
 * triggers and grants. New. */
char *harness_schema_fingerprint(PGconn *conn);

/* Run `sentinel <fmt ...>` (shell syntax), which must exit 0, or fail the
 * test with its output. Returns the output (new). */
char *harness_must_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Run every projector until caught up on `topic` as `conninfo`, or fail
 * the test with the projector's output. */
void harness_project(const char *conninfo, const char *topic, const char *prefix);

/* Empty the projection's tables and bookkeeping (offsets excepted), as the
 * owner of `conninfo`'s database: a projection that never saw the log. */
void harness_empty_projection(const char *conninfo);

/* Fail unless the projections of the two databases are the same. */
void harness_assert_same_projection(const char *conninfo, const char *reference);

/* The digest of a clean pass: `topic` projected until caught up into a new
 * database, which is dropped again. New string. */
char *harness_reference_digest(const char *topic);

/* Publish an NDJSON file to `topic`; returns the exit status. */
int harness_publish(const char *topic, const char *path);

/* A publisher (the C API) to the test broker's `topic`; fails the test
 * when it cannot be made. */
struct sentinel_publisher *harness_publisher(const char *topic);

/* A producer handle on the test brokers, quiet (no log lines), for
 * metadata, offsets and admin requests; the caller destroys it. */
rd_kafka_t *harness_kafka_producer(void);
/* The end of topic's log: the sum of its partitions' high watermarks (0
 * while it does not exist). */
long long harness_log_end(const char *topic);
/* The node id of the broker leading the partition of topic that holds
 * the most messages: one its producers certainly talk to. */
int harness_busiest_leader(const char *topic);

/* While working on one test: SENTINEL_TEST=name runs only the tests
 * whose names match, and says so on stderr; scripts/test clears it, so a
 * stray value never filters the suite silently. */
void harness_test_filter(void);

/* A socket from `from` (a loopback address, so that a test can be many
 * clients) to 127.0.0.1:port, connected, or -1. */
int harness_dial(const char *from, int port);
/* Whether the server has closed fd (EOF or reset). */
int harness_closed_by_server(int fd);

/* Run a shell command; its standard output (new), its exit status in *rc
 * (when rc is not NULL; 128 when it did not exit). */
char *harness_shell(int *rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Publish files[0..n) to topic in turn, pause_ms apart, from a child
 * process: a steady load while the test does something else. Its pid (0
 * exit status: all published). */
pid_t harness_publish_slowly(const char *topic, char **files, int n, int pause_ms);

#endif
