/* cli.h -- the sentinel command line: the subcommand table and the options
 * every subcommand shares (connection settings and -X). */
#ifndef SENTINEL_CLI_H
#define SENTINEL_CLI_H

#include <getopt.h>

#include <sentinel/conf.h>
#include <sentinel/projector.h>
#include "base/log.h"
#include "runtime/run.h"

/* Exit statuses. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILURE 1 /* the work failed (bad lines, drift, ...) */
#define CLI_EXIT_USAGE 2   /* bad command line */

/* A subcommand: parses its own options from argv (argv[0] is its name).
 * Each file of src/cli/ defines its commands' entries; commands.c lists
 * them. */
typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv, sentinel_conf_t *conf);
    const char *usage;             /* what --help prints: every option has a line */
    const struct option *options;  /* its long options, shared ones included */
    const struct cli_command *sub; /* a subcommand of its own ("dead-letters retry") */
} cli_command_t;

/* Long options shared by every subcommand, to append to a subcommand's own
 * table; their short/val codes are CLI_OPT_*. */
enum {
    CLI_OPT_BROKERS = 1000,
    CLI_OPT_DB,
    CLI_OPT_TOPIC,
    CLI_OPT_GROUP_PREFIX,
    CLI_OPT_HELP,
    CLI_OPT_BATCH_EVENTS,
    CLI_OPT_BATCH_BYTES,
    CLI_OPT_BATCH_MS,
    CLI_OPT_LINGER_MS,
    CLI_OPT_MAX_IN_FLIGHT,
    CLI_OPT_CONNECT_TIMEOUT,
    CLI_OPT_METRICS_LISTEN,
    CLI_OPT_STALL_SECONDS,
    CLI_OPT_LOG_FORMAT,
    CLI_OPT_LANES,
};
#define CLI_COMMON_LONG_OPTIONS                                                                    \
    {"brokers", required_argument, NULL, CLI_OPT_BROKERS},                                         \
        {"db", required_argument, NULL, CLI_OPT_DB},                                               \
        {"topic", required_argument, NULL, CLI_OPT_TOPIC},                                         \
        {"group-prefix", required_argument, NULL, CLI_OPT_GROUP_PREFIX},                           \
        {"connect-timeout", required_argument, NULL, CLI_OPT_CONNECT_TIMEOUT},                     \
        {"log-format", required_argument, NULL, CLI_OPT_LOG_FORMAT}, {                             \
        "help", no_argument, NULL, CLI_OPT_HELP                                                    \
    }
#define CLI_COMMON_SHORT_OPTIONS "X:F:h"
#define CLI_COMMON_HELP                                                                            \
    "Connection options:\n"                                                                        \
    "  --brokers LIST       Kafka bootstrap servers (SENTINEL_KAFKA_BROKERS,\n"                    \
    "                       default " SENTINEL_DEFAULT_BROKERS ")\n"                               \
    "  --db CONNINFO        libpq connection string (SENTINEL_DATABASE_URL, else PG*)\n"           \
    "  --topic NAME         event topic (SENTINEL_TOPIC, default " SENTINEL_DEFAULT_TOPIC ")\n"    \
    "  --group-prefix P     consumer group prefix (SENTINEL_GROUP_PREFIX,\n"                       \
    "                       default " SENTINEL_DEFAULT_GROUP_PREFIX ")\n"                          \
    "  --connect-timeout S  seconds to wait for a broker or the database to answer\n"              \
    "                       (SENTINEL_CONNECT_TIMEOUT, default 30)\n"                              \
    "  --log-format F       text (default) or json: one JSON object per log line\n"                \
    "                       (SENTINEL_LOG_FORMAT)\n"                                               \
    "  -X key=value         librdkafka property, passed through (its value is never\n"             \
    "                       echoed; secrets belong in -F or the environment)\n"                    \
    "  -F FILE              librdkafka properties file (key=value lines, # comments),\n"           \
    "                       as kcat reads; also SENTINEL_KAFKA_CONFIG_FILE, and one\n"             \
    "                       property a variable: SENTINEL_KAFKA_PROP_SASL_PASSWORD=...\n"          \
    "                       sets sasl.password\n"                                                  \
    "  -h, --help           this help\n"

/* Handle one shared option. Returns 1 if opt was a shared option and was
 * applied, 0 if it is not a shared option, -1 after printing an error.
 * For CLI_OPT_HELP/'h' it prints `usage` to stdout and returns 2. */
int cli_common_option(sentinel_conf_t *conf, int opt, const char *arg, const char *usage);

/* The batch options of the commands that run projectors. */
#define CLI_BATCH_LONG_OPTIONS                                                                     \
    {"batch-events", required_argument, NULL, CLI_OPT_BATCH_EVENTS},                               \
        {"batch-bytes", required_argument, NULL, CLI_OPT_BATCH_BYTES},                             \
        {"batch-ms", required_argument, NULL, CLI_OPT_BATCH_MS},                                   \
        {"linger-ms", required_argument, NULL, CLI_OPT_LINGER_MS},                                 \
        {"max-in-flight", required_argument, NULL, CLI_OPT_MAX_IN_FLIGHT},                         \
        {"lanes", required_argument, NULL, CLI_OPT_LANES},                                         \
        {"metrics-listen", required_argument, NULL, CLI_OPT_METRICS_LISTEN}, {                     \
        "stall-seconds", required_argument, NULL, CLI_OPT_STALL_SECONDS                            \
    }
#define CLI_BATCH_HELP                                                                             \
    "  --batch-events N     most events per transaction (default 10000)\n"                         \
    "  --batch-bytes N      most payload bytes per transaction (default 16777216)\n"               \
    "  --batch-ms N         longest a batch stays open while messages keep coming\n"               \
    "                       (default 200); it closes when the consumer's queue runs dry\n"         \
    "  --linger-ms N        least time between the starts of a projector's transactions\n"         \
    "                       while events trickle in: what arrives meanwhile joins the\n"           \
    "                       next one (default 20; 0: start as soon as the last commits)\n"         \
    "  --max-in-flight B    bytes in flight, the one memory setting: prefetched, decoded\n"        \
    "                       and waiting in batches, for all projectors together; a\n"              \
    "                       K, M or G suffix multiplies (default 64M, at least 4M)\n"              \
    "  --lanes N            each projector applies its partitions in N lanes, side by\n"           \
    "                       side: N threads and database connections per projector,\n"             \
    "                       partition p in lane p % N, in order (default 1, at most 8)\n"          \
    "  --metrics-listen HOST:PORT  serve Prometheus metrics at /metrics, and /healthz\n"           \
    "                       and /readyz, on that address (127.0.0.1:9400, say)\n"                  \
    "  --stall-seconds S    the watchdog calls a projector stalled, and /readyz\n"                 \
    "                       unready, when it has lag and has committed nothing, or\n"              \
    "                       has been retrying, for S seconds (default 60)\n"
#define CLI_PROJECTOR_HELP                                                                         \
    "  --projector NAME     a projector (`sentinel projectors` lists them; repeatable);\n"         \
    "                       metrics names those that keep the daily metrics; all\n"                \
    "                       names every projector\n"
#define CLI_MAX_PROJECTORS 16

/* Add the projector(s) `name` names to chosen (no repeats). Returns 0, or
 * -1 after printing the known names. */
int cli_projector_option(const char *command, const char *name, const sentinel_projector_t **chosen,
                         int *n);

/* Option values, each checked before anything connects: 1 when `arg` is
 * good (and stored in *out), or -1 after saying on stderr what `name` must
 * be ("sentinel <command>: --name must be ..."), a usage error. */
/* A whole number in [lo, hi]. */
int cli_number_option(const char *command, const char *name, const char *arg, long long lo,
                      long long hi, long long *out);
int cli_int_option(const char *command, const char *name, const char *arg, int lo, int hi,
                   int *out);
/* The whole of a file as a new NUL-terminated string (*len, when not
 * NULL, its length), or NULL with errno set: EFBIG past `max` bytes. */
char *cli_read_file(const char *path, size_t max, size_t *len);

/* A hint for an error of a command that must run as the database owner:
 * when PostgreSQL refused a privilege (42501: "permission denied",
 * "must be owner"), " (... run it as the owner: --db or
 * SENTINEL_OWNER_URL)"; else "". Static. */
const char *cli_owner_hint(const char *errstr);
/* A number of bytes in [lo, hi], with an optional K, M or G suffix. */
int cli_bytes_option(const char *command, const char *name, const char *arg, size_t lo, size_t hi,
                     size_t *out);
/* n as cli_bytes_option reads it back: "4M", "4096", "1G". */
const char *cli_bytes_text(size_t n, char *out, size_t size);
/* A number from 0 to 1. */
int cli_share_option(const char *command, const char *name, const char *arg, double *out);
/* A UUID (its text is passed on as given). */
int cli_uuid_option(const char *command, const char *name, const char *arg);
/* An RFC 3339 time, or a date (its midnight, UTC); micros may be NULL. */
int cli_time_option(const char *command, const char *name, const char *arg, int64_t *micros);

/* The projector `name` names (no aliases), or NULL after printing the
 * known names. */
const sentinel_projector_t *cli_projector_name(const char *command, const char *name);

/* Apply a batch option: 1 if applied, 0 if opt is not one, -1 after
 * printing an error. */
int cli_batch_option(const char *command, int opt, const char *arg,
                     sentinel_run_options_t *options);

/* Start the metrics server --metrics-listen asks for, into
 * options->metrics, and say where it serves. 0, or -1 after printing why. */
int cli_metrics_start(const char *command, const sentinel_conf_t *conf,
                      sentinel_run_options_t *options);
void cli_metrics_stop(sentinel_run_options_t *options);

/* Fail fast, for the commands that cannot help by waiting (until caught
 * up, replay, rebuild, status): the database answers and accepts us, and a
 * broker answers and knows the topic, each within --connect-timeout. 0, or
 * -1 after printing what is missing, naming it. */
int cli_preflight(const char *command, const sentinel_conf_t *conf);

/* A command's messages to stderr: one line each, as text with control
 * characters escaped, or as a JSON object with --log-format json. */
#define cli_error(...) sentinel_log_print(SENTINEL_LOG_ERROR, __VA_ARGS__)
#define cli_say(...) sentinel_log_print(SENTINEL_LOG_INFO, __VA_ARGS__)

/* One line of a command's human-readable output to stdout, with control
 * characters from event data escaped (a newline added). */
void cli_print(const char *fmt, ...) SENTINEL_PRINTF(1, 2);

/* Reset getopt for a subcommand's parse of argv (kept to name a bad
 * option in the message). */
void cli_getopt_reset(char **argv);
/* Say what is wrong with the option getopt refused ('?' or ':'); -1. */
int cli_bad_option(int opt);

/* The migrations directory: the flag, else SENTINEL_MIGRATIONS_DIR, else the
 * source tree's migrations/. Borrowed. */
const char *cli_migrations_dir(const char *flag);

extern const cli_command_t cli_migrate_command, cli_gen_command, cli_publish_command,
    cli_project_command, cli_replay_command, cli_rebuild_command, cli_status_command,
    cli_dead_letters_command, cli_verify_command, cli_usage_command, cli_schemas_command,
    cli_projectors_command, cli_credentials_command, cli_ingest_command, cli_doctor_command;

/* Every command, in the order `sentinel --help` lists them; NULL-terminated. */
extern const cli_command_t *const cli_commands[];
/* The command named `name`, or NULL. */
const cli_command_t *cli_command_find(const char *name);

#endif
