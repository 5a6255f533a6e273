/* project.c -- `sentinel project`: run projectors until stopped, on one
 * reader (one consumer group for the set) and a connection each. */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sentinel/projector.h>
#include "base/log.h"
#include "cli/cli.h"
#include "runtime/run.h"

static const char project_usage[] =
    "usage: sentinel project [--projector NAME ...] [--until-caught-up] [options]\n\n"
    "Run projectors (all by default) as Kafka consumers that apply events to\n"
    "PostgreSQL exactly once in effect. SIGINT/SIGTERM finish the current batch\n"
    "and exit cleanly.\n\n" CLI_PROJECTOR_HELP
    "  --until-caught-up    exit once every assigned partition is at its end\n"
    "  --instance-id ID     a static member of the group (SENTINEL_INSTANCE_ID): one\n"
    "                       stable id per process of a fleet (its host or pod name);\n"
    "                       a restart, even after kill -9, takes its partitions back\n"
    "                       at once, and the others keep theirs\n" CLI_BATCH_HELP
    "\n" CLI_COMMON_HELP;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

enum { OPT_PROJECTOR = 1, OPT_UNTIL, OPT_INSTANCE_ID };

/* Kafka's rule for a group.instance.id, which the broker would otherwise
 * refuse only when the consumer joins. */
static int instance_id_ok(const char *id) {
    size_t n = strlen(id);
    if (!n || n > 249) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && !strchr("._-", id[i])) return 0;
    return 1;
}

static const struct option project_options[] = {
    {"projector", required_argument, NULL, OPT_PROJECTOR},
    {"until-caught-up", no_argument, NULL, OPT_UNTIL},
    {"instance-id", required_argument, NULL, OPT_INSTANCE_ID},
    CLI_BATCH_LONG_OPTIONS,
    CLI_COMMON_LONG_OPTIONS,
    {NULL, 0, NULL, 0}};

static int cli_project(int argc, char **argv, sentinel_conf_t *conf) {
    const sentinel_projector_t *chosen[CLI_MAX_PROJECTORS];
    int n_chosen = 0, opt;
    sentinel_run_options_t options;
    sentinel_run_options_init(&options);
    const char *instance_id = getenv("SENTINEL_INSTANCE_ID");
    if (instance_id && !*instance_id) instance_id = NULL;
    cli_getopt_reset(argv);
    while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT_OPTIONS, project_options, NULL)) != -1) {
        switch (opt) {
        case OPT_PROJECTOR:
            if (cli_projector_option("project", optarg, chosen, &n_chosen)) return CLI_EXIT_USAGE;
            break;
        case OPT_UNTIL: options.until_caught_up = 1; break;
        case OPT_INSTANCE_ID: instance_id = optarg; break;
        default: {
            int handled = cli_batch_option("project", opt, optarg, &options);
            if (!handled) handled = cli_common_option(conf, opt, optarg, project_usage);
            if (handled == 2) return CLI_EXIT_OK;
            if (handled != 1) return CLI_EXIT_USAGE;
        }
        }
    }
    if (instance_id && !instance_id_ok(instance_id)) {
        cli_error("sentinel project: --instance-id %s: expected 1 to 249 letters, digits, "
                  "'.', '_' or '-' (Kafka's rule for group.instance.id)\n",
                  instance_id);
        return CLI_EXIT_USAGE;
    }
    options.instance_id = instance_id;
    if (!n_chosen)
        for (size_t i = 0; sentinel_projectors[i] && n_chosen < CLI_MAX_PROJECTORS; i++)
            chosen[n_chosen++] = sentinel_projectors[i];

    if (options.until_caught_up && cli_preflight("project", conf)) return CLI_EXIT_FAILURE;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    options.stop = &stop_requested;

    if (cli_metrics_start("project", conf, &options)) return CLI_EXIT_FAILURE;
    sentinel_projection_t set[CLI_MAX_PROJECTORS];
    memset(set, 0, sizeof(set));
    for (int i = 0; i < n_chosen; i++)
        set[i].projector = chosen[i];
    sentinel_reader_stats_t reader = {0};
    char errstr[1024];
    sentinel_err_t err =
        sentinel_projections_run(set, n_chosen, conf, &options, &reader, errstr, sizeof(errstr));
    cli_metrics_stop(&options);
    for (int i = 0; i < n_chosen; i++) {
        const sentinel_projector_stats_t *s = &set[i].stats;
        sentinel_info("%s: %lu events in %lu batches: %lu applied, %lu duplicates, %lu rejected, "
                      "%lu ignored, %lu fenced, %lu retries",
                      chosen[i]->name, s->events, s->batches, s->applied, s->duplicates,
                      s->rejected, s->ignored, s->fenced, s->retries);
    }
    sentinel_info("read %lu messages once for %d projectors; peak in flight %zu bytes of %zu; "
                  "waited for room %lu times, paused the consumer %lu times",
                  reader.messages, n_chosen, reader.peak_in_flight, reader.max_in_flight,
                  reader.waits, reader.pauses);
    if (err) {
        cli_error("sentinel project: %s\n", errstr);
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

const cli_command_t cli_project_command = {
    "project",       "run projectors: apply events to PostgreSQL exactly once",
    cli_project,     project_usage,
    project_options, NULL};
