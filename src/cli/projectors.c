/* projectors.c -- `sentinel projectors`: the registry as the command line
 * sees it, for operators and for scripts (the benchmarks take their table
 * lists from it). */
#include <stdio.h>
#include <string.h>

#include <sentinel/projector.h>
#include "cli/cli.h"

static const char projectors_usage[] =
    "usage: sentinel projectors [--tables]\n\n"
    "List the projectors this build knows: each one's name, what it does, the\n"
    "event types it handles and the tables it owns.\n\n"
    "  --tables      print every projector's tables instead, one a line, each once,\n"
    "                in the registry's order (a table before those referencing it)\n"
    "  -h, --help    this help\n";

enum { OPT_TABLES = 1 };

static const struct option projectors_options[] = {{"tables", no_argument, NULL, OPT_TABLES},
                                                   {"help", no_argument, NULL, 'h'},
                                                   {NULL, 0, NULL, 0}};

static void print_list(const char *label, const char *const *items) {
    printf("  %-12s", label);
    for (size_t k = 0; items[k]; k++)
        printf("%s%s", k ? ", " : "", items[k]);
    printf("\n");
}

static int cli_projectors(int argc, char **argv, sentinel_conf_t *conf) {
    (void)conf;
    int opt, tables = 0;
    cli_getopt_reset(argv);
    while ((opt = getopt_long(argc, argv, "h", projectors_options, NULL)) != -1) {
        switch (opt) {
        case OPT_TABLES: tables = 1; break;
        case 'h': fputs(projectors_usage, stdout); return CLI_EXIT_OK;
        default: cli_bad_option(opt); return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("sentinel projectors: unexpected argument \"%s\"\n", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if (tables) {
        size_t registered = 0;
        while (sentinel_projectors[registered])
            registered++;
        const char *names[256];
        size_t n = sentinel_projectors_tables(sentinel_projectors, registered, names, 256);
        for (size_t k = 0; k < n; k++)
            printf("%s\n", names[k]);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; sentinel_projectors[i]; i++) {
        const sentinel_projector_t *p = sentinel_projectors[i];
        printf("%s: %s\n", p->name, p->summary);
        print_list("events", p->event_types);
        print_list("tables", p->tables);
    }
    return CLI_EXIT_OK;
}

const cli_command_t cli_projectors_command = {
    "projectors",       "the projectors of this build: their events and tables",
    cli_projectors,     projectors_usage,
    projectors_options, NULL};
