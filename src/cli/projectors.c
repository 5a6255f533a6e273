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

/* 1 when `table` belongs to a projector before index `before`. */
static int listed_before(size_t before, const char *table) {
    for (size_t i = 0; i < before; i++)
        for (size_t t = 0; sentinel_projectors[i]->tables[t]; t++)
            if (!strcmp(sentinel_projectors[i]->tables[t], table)) return 1;
    return 0;
}

static void print_list(const char *label, const char *const *items) {
    printf("  %-12s", label);
    for (size_t k = 0; items[k]; k++)
        printf("%s%s", k ? ", " : "", items[k]);
    printf("\n");
}

static int cli_projectors(int argc, char **argv, sentinel_conf_t *conf) {
    (void)conf;
    int opt, tables = 0;
    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, "h", projectors_options, NULL)) != -1) {
        switch (opt) {
        case OPT_TABLES: tables = 1; break;
        case 'h': fputs(projectors_usage, stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sentinel projectors: unexpected argument \"%s\"\n", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    for (size_t i = 0; sentinel_projectors[i]; i++) {
        const sentinel_projector_t *p = sentinel_projectors[i];
        if (tables) {
            for (size_t t = 0; p->tables[t]; t++)
                if (!listed_before(i, p->tables[t])) printf("%s\n", p->tables[t]);
            continue;
        }
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
