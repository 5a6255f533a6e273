/* gen.c -- `sentinel gen`: write a realistic, deterministic NDJSON event
 * stream over the fixture workspaces. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/timestamp.h"
#include "cli/cli.h"
#include "cli/generator.h"

static const char gen_usage[] =
    "usage: sentinel gen [options] > events.ndjson\n\n"
    "Write a realistic event stream as NDJSON: review runs with findings and\n"
    "annotations, commands, briefing life cycles and downloads, usage and\n"
    "activity, in time order over the workspaces of scripts/fixtures. The same\n"
    "options and seed give the same bytes.\n\n"
    "  --events N          lines to write (default 10000)\n"
    "  --workspaces N      fixture workspaces to use (default 8)\n"
    "  --repositories N    repositories per workspace (default 4)\n"
    "  --start TIME        first occurred_at, RFC 3339 (default 2026-10-01T00:00:00Z)\n"
    "  --days N            span of the stream in days (default 30)\n"
    "  --seed N            random seed (default 1)\n"
    "  --duplicates P      share of lines repeating an earlier event (0..1)\n"
    "  --invalid P         share of invalid lines (0..1)\n"
    "  --orphans P         share of runs naming a repository that does not exist (0..1)\n"
    "  --hot N             send 90%% of the traffic to the first N workspaces\n"
    "  --ids KIND          random (version 4, the default) or time-ordered\n"
    "                      (version 7: the event's time first, then random bits)\n"
    "  -o, --output FILE   write to FILE instead of standard output\n"
    "  -h, --help          this help\n";

enum {
    OPT_EVENTS = 1,
    OPT_WORKSPACES,
    OPT_REPOS,
    OPT_START,
    OPT_DAYS,
    OPT_SEED,
    OPT_DUPS,
    OPT_INVALID,
    OPT_ORPHANS,
    OPT_HOT,
    OPT_IDS
};

static const struct option gen_options[] = {{"events", required_argument, NULL, OPT_EVENTS},
                                            {"workspaces", required_argument, NULL, OPT_WORKSPACES},
                                            {"repositories", required_argument, NULL, OPT_REPOS},
                                            {"start", required_argument, NULL, OPT_START},
                                            {"days", required_argument, NULL, OPT_DAYS},
                                            {"seed", required_argument, NULL, OPT_SEED},
                                            {"duplicates", required_argument, NULL, OPT_DUPS},
                                            {"invalid", required_argument, NULL, OPT_INVALID},
                                            {"orphans", required_argument, NULL, OPT_ORPHANS},
                                            {"hot", required_argument, NULL, OPT_HOT},
                                            {"ids", required_argument, NULL, OPT_IDS},
                                            {"output", required_argument, NULL, 'o'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};

static int cli_gen(int argc, char **argv, sentinel_conf_t *conf) {
    (void)conf;
    sentinel_gen_options_t o;
    sentinel_gen_options_init(&o);
    const char *output = NULL;
    long long n;
    int opt;
    char errstr[512];
    cli_getopt_reset(argv);
    while ((opt = getopt_long(argc, argv, "o:h", gen_options, NULL)) != -1) {
        switch (opt) {
        case OPT_EVENTS:
            if (cli_number_option("gen", "--events", optarg, 0, 1000000000000LL, &n) < 0)
                return CLI_EXIT_USAGE;
            o.events = (unsigned long)n;
            break;
        case OPT_WORKSPACES:
            if (cli_int_option("gen", "--workspaces", optarg, 1, 100000, &o.workspaces) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_REPOS:
            if (cli_int_option("gen", "--repositories", optarg, 1, 100000, &o.repositories) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_DAYS:
            if (cli_int_option("gen", "--days", optarg, 1, 36500, &o.days) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_SEED:
            if (cli_number_option("gen", "--seed", optarg, 0, INT64_MAX, &n) < 0)
                return CLI_EXIT_USAGE;
            o.seed = (uint64_t)n;
            break;
        case OPT_HOT:
            if (cli_int_option("gen", "--hot", optarg, 1, 100000, &o.hot_workspaces) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_START:
            if (cli_time_option("gen", "--start", optarg, &o.start) < 0) return CLI_EXIT_USAGE;
            break;
        case OPT_DUPS:
            if (cli_share_option("gen", "--duplicates", optarg, &o.duplicates) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_INVALID:
            if (cli_share_option("gen", "--invalid", optarg, &o.invalid) < 0) return CLI_EXIT_USAGE;
            break;
        case OPT_ORPHANS:
            if (cli_share_option("gen", "--orphans", optarg, &o.orphans) < 0) return CLI_EXIT_USAGE;
            break;
        case OPT_IDS:
            if (!strcmp(optarg, "random") || !strcmp(optarg, "time-ordered")) {
                o.time_ordered_ids = !strcmp(optarg, "time-ordered");
                break;
            }
            cli_error("sentinel gen: --ids must be random or time-ordered, not \"%s\"\n", optarg);
            return CLI_EXIT_USAGE;
        case 'o': output = optarg; break;
        case 'h': printf(gen_usage); return CLI_EXIT_OK;
        default: cli_bad_option(opt); return CLI_EXIT_USAGE;
        }
    }
    FILE *out = output ? fopen(output, "w") : stdout;
    if (!out) {
        cli_error("sentinel gen: %s: %s\n", output, strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    static char buffer[1 << 16];
    setvbuf(out, buffer, _IOFBF, sizeof(buffer));
    sentinel_gen_stats_t stats;
    sentinel_err_t err = sentinel_generate(&o, out, &stats, errstr, sizeof(errstr));
    if (fflush(out) == EOF && !err) {
        snprintf(errstr, sizeof(errstr), "write: %s", strerror(errno));
        err = SENTINEL_ERR_FATAL;
    }
    if (output) fclose(out);
    if (err) {
        cli_error("sentinel gen: %s\n", errstr);
        return CLI_EXIT_FAILURE;
    }
    cli_say("%lu lines (%lu duplicates, %lu invalid, %lu orphans)\n", stats.lines, stats.duplicates,
            stats.invalid, stats.orphans);
    return CLI_EXIT_OK;
}

const cli_command_t cli_gen_command = {
    "gen", "write a realistic, deterministic NDJSON event stream", cli_gen, gen_usage, gen_options,
    NULL};
