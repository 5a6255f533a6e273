/* main.c -- the sentinel binary: dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include <sentinel/projector.h>
#include "base/log.h"
#include "cli/cli.h"

static const cli_command_t commands[] = {
    {"migrate", "apply the database migrations (ordered, checksummed, locked)", cli_migrate},
    {"gen", "write a realistic, deterministic NDJSON event stream", cli_gen},
    {"publish", "validate NDJSON events and publish them to Kafka as Avro", cli_publish},
    {"project", "run projectors: apply events to PostgreSQL exactly once", cli_project},
    {"replay", "re-apply a range of the log to the live projection (idempotent)", cli_replay},
    {"rebuild", "rebuild a projection from the log into shadow tables, compare, swap", cli_rebuild},
    {"status", "stored offsets, log ends and lag per projector and partition", cli_status},
    {"dead-letters", "list rejected events and why", cli_dead_letters},
    {"verify", "recompute the rollups from their sources; exit 1 on drift", cli_verify},
    {"usage", "a workspace's usage for a billing period beside its plan's limits", cli_usage},
    {"schemas", "list the event schemas and fingerprints; --check cross-checks them", cli_schemas},
    {"doctor", "check that Kafka and PostgreSQL answer, print their versions", cli_doctor},
};

static void usage(FILE *out) {
    fprintf(out, "usage: sentinel <command> [options]\n\n"
                 "Sentinel event engine " SENTINEL_VERSION
                 ": ingest domain events into Kafka, project them\n"
                 "exactly once into PostgreSQL.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'sentinel <command> --help' for a command's options.\n");
}

int main(int argc, char **argv) {
    sentinel_log_init();
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("sentinel %s\n", SENTINEL_VERSION);
        return CLI_EXIT_OK;
    }
    /* Log lines about a projector name it (--log-format json). */
    static const char *subjects[CLI_MAX_PROJECTORS + 1];
    for (size_t i = 0; sentinel_projectors[i] && i < CLI_MAX_PROJECTORS; i++)
        subjects[i] = sentinel_projectors[i]->name;
    sentinel_log_set_context(name, subjects);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(name, commands[i].name)) continue;
        sentinel_conf_t *conf = sentinel_conf_new();
        int rc = commands[i].run(argc - 1, argv + 1, conf);
        sentinel_conf_destroy(conf);
        return rc;
    }
    fprintf(stderr, "sentinel: unknown command \"%s\"\n\n", name);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
