/* replay.c -- `sentinel replay` and `sentinel rebuild`, with their
 * progress display: a bar on a terminal, a log line every few seconds
 * otherwise. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/timestamp.h"
#include "cli/cli.h"
#include "replay/replay.h"
#include "runtime/run.h"

#define WORKERS_HELP                                                                               \
    "  --workers N          consumers per projector, each on its share of the\n"                   \
    "                       partitions, sharing its prefetch budget (default: one\n"               \
    "                       per CPU, up to 2)\n"

static const char replay_usage[] =
    "usage: sentinel replay --projector NAME --from POSITION [--to POSITION] [options]\n\n"
    "Re-apply a range of the log to the live projection. Idempotent: events\n"
    "already applied (or dead-lettered) are duplicates and change nothing; the\n"
    "projectors' stored offsets are left alone.\n\n" CLI_PROJECTOR_HELP
    "  --from POSITION      beginning, an RFC 3339 time (the broker maps it to\n"
    "                       offsets by each message's Kafka timestamp: when it was\n"
    "                       appended, not the event's occurred_at), an offset for\n"
    "                       every partition, or\n"
    "                       PARTITION:OFFSET[,...] (partitions not named: none)\n"
    "  --to POSITION        where to stop, not included (default: the end as of now)\n"
    "  --quiet              no progress display\n" WORKERS_HELP CLI_BATCH_HELP "\n" CLI_COMMON_HELP;

static const char rebuild_usage[] =
    "usage: sentinel rebuild --projector NAME [--no-swap | --abort] [options]\n\n"
    "Rebuild a projection from the beginning of the log into shadow tables while\n"
    "the live one keeps serving and consuming; then bring both to the same\n"
    "offsets, compare them table by table (row counts, checksums, differing\n"
    "rows) and swap them in one transaction. Projectors that share a table are\n"
    "rebuilt together (runs and usage share the daily metrics). An interrupted\n"
    "rebuild resumes where it stopped when run again.\n\n" CLI_PROJECTOR_HELP
    "  --no-swap            compare and report only; keep the shadow\n"
    "  --abort              drop the shadow of an unfinished rebuild\n"
    "  --quiet              no progress display\n" WORKERS_HELP CLI_BATCH_HELP "\n" CLI_COMMON_HELP
    "\nExit status: 0 done, 1 failed or interrupted (run again to resume).\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

typedef struct progress {
    int tty;
    int quiet;
    double last;
    int drawn;
} progress_t;

static void show_progress(void *opaque, const char *phase, int64_t done, int64_t total,
                          double rate) {
    progress_t *pr = opaque;
    if (pr->quiet) return;
    double t = sentinel_monotonic_seconds();
    int final = done >= total;
    if (t - pr->last < (pr->tty ? 0.25 : 5.0) && !final) return;
    if (final && !pr->tty && pr->drawn == 2) return;
    pr->last = t;
    double pct = total > 0 ? 100.0 * (double)done / (double)total : 100.0;
    char eta[32] = "--";
    if (rate > 0 && done < total) {
        long s = (long)((double)(total - done) / rate);
        snprintf(eta, sizeof(eta), "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    }
    if (pr->tty) {
        char bar[31];
        int fill = (int)(pct * 30 / 100);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r%-14s [%s] %5.1f%% %lld/%lld events  %.0f/s  ETA %s ", phase, bar, pct,
                (long long)done, (long long)total, rate, eta);
        if (final) fputc('\n', stderr);
        pr->drawn = 1;
    } else {
        sentinel_info("%s: %.1f%% (%lld of %lld events), %.0f events/s, ETA %s", phase, pct,
                      (long long)done, (long long)total, rate, eta);
        pr->drawn = final ? 2 : 1;
    }
}

typedef struct parsed {
    const sentinel_projector_t *chosen[CLI_MAX_PROJECTORS];
    int n;
    const char *from, *to;
    enum sentinel_rebuild_mode mode;
    int quiet;
    int workers;
    sentinel_run_options_t run;
} parsed_t;

/* Both commands' options; returns -1 to go on, else the exit status. */
enum { OPT_PROJECTOR = 1, OPT_FROM, OPT_TO, OPT_NO_SWAP, OPT_ABORT, OPT_QUIET, OPT_WORKERS };

static const struct option replay_options[] = {
    {"projector", required_argument, NULL, OPT_PROJECTOR},
    {"from", required_argument, NULL, OPT_FROM},
    {"to", required_argument, NULL, OPT_TO},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"workers", required_argument, NULL, OPT_WORKERS},
    CLI_BATCH_LONG_OPTIONS,
    CLI_COMMON_LONG_OPTIONS,
    {NULL, 0, NULL, 0}};

static const struct option rebuild_options[] = {
    {"projector", required_argument, NULL, OPT_PROJECTOR},
    {"no-swap", no_argument, NULL, OPT_NO_SWAP},
    {"abort", no_argument, NULL, OPT_ABORT},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"workers", required_argument, NULL, OPT_WORKERS},
    CLI_BATCH_LONG_OPTIONS,
    CLI_COMMON_LONG_OPTIONS,
    {NULL, 0, NULL, 0}};

static int parse(const char *command, int argc, char **argv, sentinel_conf_t *conf,
                 const char *usage, parsed_t *out) {
    const struct option *options = strcmp(command, "replay") ? rebuild_options : replay_options;
    int opt;
    memset(out, 0, sizeof(*out));
    sentinel_run_options_init(&out->run);
    out->run.batch_ms = 1000; /* throughput over latency: fuller batches */
    cli_getopt_reset(argv);
    while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT_OPTIONS, options, NULL)) != -1) {
        switch (opt) {
        case OPT_PROJECTOR:
            if (cli_projector_option(command, optarg, out->chosen, &out->n)) return CLI_EXIT_USAGE;
            break;
        case OPT_FROM:
        case OPT_TO:
        case OPT_NO_SWAP:
        case OPT_ABORT:
            if (opt == OPT_FROM) out->from = optarg;
            if (opt == OPT_TO) out->to = optarg;
            if (opt == OPT_NO_SWAP || opt == OPT_ABORT) {
                if (out->mode != SENTINEL_REBUILD_SWAP) {
                    cli_error("sentinel rebuild: --no-swap and --abort exclude each other\n");
                    return CLI_EXIT_USAGE;
                }
                out->mode = opt == OPT_ABORT ? SENTINEL_REBUILD_ABORT : SENTINEL_REBUILD_NO_SWAP;
            }
            break;
        case OPT_QUIET: out->quiet = 1; break;
        case OPT_WORKERS:
            if (cli_int_option(command, "--workers", optarg, 1, SENTINEL_MAX_WORKERS,
                               &out->workers) < 0)
                return CLI_EXIT_USAGE;
            break;
        default: {
            int handled = cli_batch_option(command, opt, optarg, &out->run);
            if (!handled) handled = cli_common_option(conf, opt, optarg, usage);
            if (handled == 2) return CLI_EXIT_OK;
            if (handled != 1) return CLI_EXIT_USAGE;
        }
        }
    }
    if (optind < argc) {
        cli_error("sentinel %s: unexpected argument \"%s\"\n", command, argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if (!out->n) {
        cli_error("sentinel %s: name the projection with --projector (or --projector all)\n",
                  command);
        return CLI_EXIT_USAGE;
    }
    char errstr[512];
    if (options == replay_options && !out->from) {
        cli_error("sentinel replay: --from is required (beginning, a time or offsets)\n");
        return CLI_EXIT_USAGE;
    }
    const char *specs[2] = {out->from, out->to};
    for (int i = 0; i < 2; i++) {
        if (specs[i] && sentinel_position_check(specs[i], errstr, sizeof(errstr))) {
            cli_error("sentinel replay: --%s %s\n", i ? "to" : "from", errstr);
            return CLI_EXIT_USAGE;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    out->run.stop = &stop_requested;
    return -1;
}

static int cli_replay(int argc, char **argv, sentinel_conf_t *conf) {
    parsed_t a;
    int rc = parse("replay", argc, argv, conf, replay_usage, &a);
    if (rc >= 0) return rc;
    if (cli_preflight("replay", conf)) return CLI_EXIT_FAILURE;
    if (cli_metrics_start("replay", conf, &a.run)) return CLI_EXIT_FAILURE;
    progress_t pr = {.tty = isatty(STDERR_FILENO) && !sentinel_log_json(), .quiet = a.quiet};
    sentinel_replay_options_t o = {&a.run, show_progress, &pr, stdout, a.workers};
    char errstr[1024];
    sentinel_err_t err =
        sentinel_replay(a.chosen, a.n, conf, a.from, a.to, &o, errstr, sizeof(errstr));
    cli_metrics_stop(&a.run);
    if (err) {
        cli_error("sentinel replay: %s\n", errstr);
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

static int cli_rebuild(int argc, char **argv, sentinel_conf_t *conf) {
    parsed_t a;
    int rc = parse("rebuild", argc, argv, conf, rebuild_usage, &a);
    if (rc >= 0) return rc;
    if (cli_preflight("rebuild", conf)) return CLI_EXIT_FAILURE;
    if (cli_metrics_start("rebuild", conf, &a.run)) return CLI_EXIT_FAILURE;
    progress_t pr = {.tty = isatty(STDERR_FILENO) && !sentinel_log_json(), .quiet = a.quiet};
    sentinel_replay_options_t o = {&a.run, show_progress, &pr, stdout, a.workers};
    char errstr[1024];
    int differences = 0;
    sentinel_err_t err =
        sentinel_rebuild(a.chosen, a.n, conf, a.mode, &o, &differences, errstr, sizeof(errstr));
    cli_metrics_stop(&a.run);
    if (err) {
        cli_error("sentinel rebuild: %s%s\n", errstr, cli_owner_hint(errstr));
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

const cli_command_t cli_replay_command = {
    "replay",       "re-apply a range of the log to the live projection (idempotent)",
    cli_replay,     replay_usage,
    replay_options, NULL};

const cli_command_t cli_rebuild_command = {
    "rebuild",       "rebuild a projection from the log into shadow tables, compare, swap",
    cli_rebuild,     rebuild_usage,
    rebuild_options, NULL};
