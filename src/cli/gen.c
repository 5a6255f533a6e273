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
    "  -o, --output FILE   write to FILE instead of standard output\n";

static int parse_share(const char *flag, const char *arg, double *out) {
    char *end;
    double v = strtod(arg, &end);
    if (*end || v < 0 || v > 1) {
        fprintf(stderr, "sentinel gen: %s %s: expected a share between 0 and 1\n", flag, arg);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_count(const char *flag, const char *arg, long min, long *out) {
    char *end;
    long v = strtol(arg, &end, 10);
    if (*end || v < min) {
        fprintf(stderr, "sentinel gen: %s %s: expected an integer of at least %ld\n", flag, arg, min);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_gen(int argc, char **argv, sentinel_conf_t *conf) {
    enum { OPT_EVENTS = 1, OPT_WORKSPACES, OPT_REPOS, OPT_START, OPT_DAYS, OPT_SEED, OPT_DUPS,
           OPT_INVALID, OPT_ORPHANS, OPT_HOT };
    static const struct option longopts[] = {
        {"events", required_argument, NULL, OPT_EVENTS},
        {"workspaces", required_argument, NULL, OPT_WORKSPACES},
        {"repositories", required_argument, NULL, OPT_REPOS},
        {"start", required_argument, NULL, OPT_START},
        {"days", required_argument, NULL, OPT_DAYS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"duplicates", required_argument, NULL, OPT_DUPS},
        {"invalid", required_argument, NULL, OPT_INVALID},
        {"orphans", required_argument, NULL, OPT_ORPHANS},
        {"hot", required_argument, NULL, OPT_HOT},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    (void)conf;
    sentinel_gen_options_t o;
    sentinel_gen_options_init(&o);
    const char *output = NULL;
    long n;
    int opt;
    char errstr[512];
    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_EVENTS:
            if (parse_count("--events", optarg, 0, &n)) return CLI_EXIT_USAGE;
            o.events = (unsigned long)n;
            break;
        case OPT_WORKSPACES:
            if (parse_count("--workspaces", optarg, 1, &n)) return CLI_EXIT_USAGE;
            o.workspaces = (int)n;
            break;
        case OPT_REPOS:
            if (parse_count("--repositories", optarg, 1, &n)) return CLI_EXIT_USAGE;
            o.repositories = (int)n;
            break;
        case OPT_DAYS:
            if (parse_count("--days", optarg, 1, &n)) return CLI_EXIT_USAGE;
            o.days = (int)n;
            break;
        case OPT_SEED:
            if (parse_count("--seed", optarg, 0, &n)) return CLI_EXIT_USAGE;
            o.seed = (uint64_t)n;
            break;
        case OPT_HOT:
            if (parse_count("--hot", optarg, 1, &n)) return CLI_EXIT_USAGE;
            o.hot_workspaces = (int)n;
            break;
        case OPT_START:
            if (sentinel_timestamp_parse(optarg, &o.start, errstr, sizeof(errstr))) {
                fprintf(stderr, "sentinel gen: --start: %s\n", errstr);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_DUPS:
            if (parse_share("--duplicates", optarg, &o.duplicates)) return CLI_EXIT_USAGE;
            break;
        case OPT_INVALID:
            if (parse_share("--invalid", optarg, &o.invalid)) return CLI_EXIT_USAGE;
            break;
        case OPT_ORPHANS:
            if (parse_share("--orphans", optarg, &o.orphans)) return CLI_EXIT_USAGE;
            break;
        case 'o': output = optarg; break;
        case 'h': printf(gen_usage); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    FILE *out = output ? fopen(output, "w") : stdout;
    if (!out) {
        fprintf(stderr, "sentinel gen: %s: %s\n", output, strerror(errno));
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
        fprintf(stderr, "sentinel gen: %s\n", errstr);
        return CLI_EXIT_FAILURE;
    }
    fprintf(stderr, "%lu lines (%lu duplicates, %lu invalid, %lu orphans)\n", stats.lines,
            stats.duplicates, stats.invalid, stats.orphans);
    return CLI_EXIT_OK;
}
