/* publish.c -- `sentinel publish`: NDJSON events in, Avro to Kafka out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sentinel/publisher.h>
#include "base/alloc.h"
#include "base/line_reader.h"
#include "base/timestamp.h"
#include "base/topic.h"
#include "cli/cli.h"
#include "publish/encode_pool.h"

static const char publish_usage[] =
    "usage: sentinel publish [FILE|-] [options]\n\n"
    "Validate newline-delimited JSON events (one a line) and publish them to the\n"
    "event topic as Avro single-object encoding, keyed by workspace_id, with\n"
    "headers event_type and event_id. Invalid lines are reported as\n"
    "\"line N: <Type>: <reason>\" and sent to <topic>.dead-letter with the reason;\n"
    "the valid lines are still published. Exit status 0 only if every line was\n"
    "valid and acknowledged by the broker.\n\n"
    "  --dry-run              validate only; no Kafka\n"
    "  --print                with --dry-run, print each valid event normalised\n"
    "  --atomic               one Kafka transaction: every line is published or none;\n"
    "                         invalid lines still go to <topic>.dead-letter\n"
    "  --max-event-bytes N    largest accepted line (default 1048576)\n"
    "  --partitions N         partitions when the topic must be created (default 12)\n"
    "  --threads N            validating and encoding threads (default: the CPUs\n"
    "                         less one, at least one)\n"
    "  --quiet                no progress line and no summary\n\n" CLI_COMMON_HELP;

typedef struct publish_run {
    unsigned long lines;
    unsigned long rejected;
    unsigned long dead_lettered; /* rejected lines sent to the dead-letter topic */
    unsigned long failed;
    unsigned long first_rejected; /* its line number; 0: none */
    int quiet;
    int aborting; /* the transaction is being aborted: purged messages are no failures */
    /* Where rejected lines go: the publisher itself, or with --atomic one
     * of its own (outside the transaction, which an invalid line aborts). */
    sentinel_publisher_t *dead_letters;
} publish_run_t;

static void on_delivery(void *opaque, uint64_t tag, const char *error) {
    publish_run_t *run = opaque;
    /* An aborted transaction purges what it queued: withheld, not failed. */
    if (error && run->aborting) return;
    if (error) {
        run->failed++;
        cli_error("line %llu: not delivered: %s\n", (unsigned long long)tag, error);
    }
}

/* Print, produce or dead-letter one chunk's results, in input order.
 * Returns -1 (errstr set) when Kafka refuses a message outright. */
static int handle_chunk(publish_run_t *run, sentinel_publisher_t *pub, sentinel_chunk_t *chunk,
                        const char *dead_letter_topic, char *errstr, size_t errstr_size) {
    for (size_t i = 0; i < sentinel_chunk_count(chunk); i++) {
        const sentinel_encoded_t *it = sentinel_chunk_get(chunk, i);
        if (!it->ok) {
            run->rejected++;
            if (!run->first_rejected) run->first_rejected = it->number;
            cli_error("line %lu: %s\n", it->number, it->error);
            if (run->dead_letters) {
                char reason[2100];
                snprintf(reason, sizeof(reason), "line %lu: %s", it->number, it->error);
                if (sentinel_publisher_send_raw(run->dead_letters, dead_letter_topic, it->line,
                                                it->line_len, it->line_len, reason, it->number,
                                                errstr, errstr_size))
                    return -1;
                run->dead_lettered++;
            }
            continue;
        }
        if (it->normalized) puts(it->normalized);
        if (pub &&
            sentinel_publisher_send_encoded(pub, it->key, it->type_name, it->event_id, it->value,
                                            it->value_len, it->number, errstr, errstr_size))
            return -1;
    }
    if (pub) sentinel_publisher_poll(pub);
    return 0;
}

static int only_whitespace(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

enum {
    OPT_DRY_RUN = 1,
    OPT_PRINT,
    OPT_ATOMIC,
    OPT_MAX_BYTES,
    OPT_PARTITIONS,
    OPT_QUIET,
    OPT_THREADS
};

static const struct option publish_options[] = {
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"print", no_argument, NULL, OPT_PRINT},
    {"atomic", no_argument, NULL, OPT_ATOMIC},
    {"max-event-bytes", required_argument, NULL, OPT_MAX_BYTES},
    {"partitions", required_argument, NULL, OPT_PARTITIONS},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"threads", required_argument, NULL, OPT_THREADS},
    CLI_COMMON_LONG_OPTIONS,
    {NULL, 0, NULL, 0}};

static int cli_publish(int argc, char **argv, sentinel_conf_t *conf) {
    int dry_run = 0, print = 0, atomic = 0, partitions = SENTINEL_DEFAULT_PARTITIONS, opt;
    long max_bytes = SENTINEL_EVENT_MAX_BYTES_DEFAULT;
    /* One CPU is left to this thread, which reads and produces, and to
     * librdkafka's broker thread: more encoders than that only take turns. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = cpus < 2 ? 1 : cpus - 1 > 64 ? 64 : (int)(cpus - 1);
    publish_run_t run = {0};
    cli_getopt_reset(argv);
    while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT_OPTIONS, publish_options, NULL)) != -1) {
        switch (opt) {
        case OPT_DRY_RUN: dry_run = 1; break;
        case OPT_PRINT: print = 1; break;
        case OPT_ATOMIC: atomic = 1; break;
        case OPT_QUIET: run.quiet = 1; break;
        case OPT_MAX_BYTES: {
            /* At most 64 MiB: a line is held whole while it is checked. */
            long long n;
            if (cli_number_option("publish", "--max-event-bytes", optarg, 64, 64LL << 20, &n) < 0)
                return CLI_EXIT_USAGE;
            max_bytes = (long)n;
            break;
        }
        case OPT_THREADS:
            if (cli_int_option("publish", "--threads", optarg, 1, 64, &threads) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_PARTITIONS:
            if (cli_int_option("publish", "--partitions", optarg, 1, 100000, &partitions) < 0)
                return CLI_EXIT_USAGE;
            break;
        default: {
            int handled = cli_common_option(conf, opt, optarg, publish_usage);
            if (handled == 2) return CLI_EXIT_OK;
            if (handled != 1) return CLI_EXIT_USAGE;
        }
        }
    }
    if (argc - optind > 1) {
        cli_error("sentinel publish: one input at most (FILE or -)\n");
        return CLI_EXIT_USAGE;
    }
    if (print && !dry_run) {
        cli_error("sentinel publish: --print goes with --dry-run\n");
        return CLI_EXIT_USAGE;
    }
    const char *path = optind < argc ? argv[optind] : "-";
    FILE *in = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!in) {
        cli_error("sentinel publish: %s: %s\n", path, strerror(errno));
        return CLI_EXIT_FAILURE;
    }

    char errstr[2048];
    int rc = CLI_EXIT_FAILURE;
    sentinel_publisher_t *pub = NULL;
    sentinel_encode_pool_t *pool = NULL;
    sentinel_line_reader_t *reader = NULL;
    char *dead_letter_topic = NULL;
    dead_letter_topic = sentinel_aprintf("%s.dead-letter", sentinel_conf_topic(conf));

    if (!dry_run) {
        sentinel_err_t err = sentinel_topic_ensure(conf, sentinel_conf_topic(conf), partitions,
                                                   errstr, sizeof(errstr));
        if (!err) err = sentinel_topic_ensure(conf, dead_letter_topic, 1, errstr, sizeof(errstr));
        if (err) goto fatal;
        sentinel_publisher_options_t options = {
            .transactional = atomic, .on_delivery = on_delivery, .opaque = &run};
        pub = sentinel_publisher_new(conf, &options, errstr, sizeof(errstr));
        if (!pub) goto fatal;
        if (atomic && sentinel_publisher_begin(pub, errstr, sizeof(errstr))) goto fatal;
        run.dead_letters =
            atomic ? sentinel_publisher_new(conf, NULL, errstr, sizeof(errstr)) : pub;
        if (!run.dead_letters) goto fatal;
    }
    /* Validation and encoding run on `threads` threads; this one reads,
     * and produces the results in input order. */
    pool = sentinel_encode_pool_new((int)threads, 1024, (size_t)max_bytes, dry_run, print, errstr,
                                    sizeof(errstr));
    if (!pool) goto fatal;
    reader = sentinel_line_reader_new(in, (size_t)max_bytes);

    int progress = !run.quiet && isatty(STDERR_FILENO) && !sentinel_log_json();
    double started = sentinel_monotonic_seconds(), last_progress = started;
    const char *line;
    size_t len;
    unsigned long number;
    sentinel_line_status_t status;
    sentinel_chunk_t *chunk;
    for (;;) {
        status = sentinel_line_reader_next(reader, &line, &len, &number);
        if (status == SENTINEL_LINE_EOF) break;
        if (status == SENTINEL_LINE_ERROR) {
            snprintf(errstr, sizeof(errstr), "%s: read error after line %lu: %s", path, run.lines,
                     strerror(errno));
            goto fatal;
        }
        if (status == SENTINEL_LINE_TOO_LONG) {
            run.lines++;
            run.rejected++;
            char reason[160];
            snprintf(reason, sizeof(reason), "line %lu: event is %zu bytes, over the limit of %ld",
                     number, len, max_bytes);
            cli_error("%s\n", reason);
            if (!run.first_rejected) run.first_rejected = number;
            if (run.dead_letters) {
                /* Its first bytes stand for it in the dead-letter topic. */
                size_t head_len = 0;
                const char *head = sentinel_line_reader_head(reader, &head_len);
                if (sentinel_publisher_send_raw(run.dead_letters, dead_letter_topic, head, head_len,
                                                len, reason, number, errstr, sizeof(errstr)))
                    goto fatal;
                run.dead_lettered++;
            }
            continue;
        }
        if (only_whitespace(line, len)) continue;
        run.lines++;
        while (sentinel_encode_pool_add(pool, line, len, number)) {
            chunk = sentinel_encode_pool_next(pool, 1);
            if (handle_chunk(&run, pub, chunk, dead_letter_topic, errstr, sizeof(errstr))) {
                sentinel_encode_pool_release(pool, chunk);
                goto fatal;
            }
            sentinel_encode_pool_release(pool, chunk);
        }
        while ((chunk = sentinel_encode_pool_next(pool, 0))) {
            int failed = handle_chunk(&run, pub, chunk, dead_letter_topic, errstr, sizeof(errstr));
            sentinel_encode_pool_release(pool, chunk);
            if (failed) goto fatal;
        }
        if (progress && run.lines % 4096 == 0) {
            double t = sentinel_monotonic_seconds();
            if (t - last_progress >= 1.0) {
                fprintf(stderr, "\r%lu lines, %lu rejected, %.0f lines/s ", run.lines, run.rejected,
                        run.lines / (t - started));
                last_progress = t;
            }
        }
    }
    sentinel_encode_pool_flush(pool);
    while ((chunk = sentinel_encode_pool_next(pool, 1))) {
        int failed = handle_chunk(&run, pub, chunk, dead_letter_topic, errstr, sizeof(errstr));
        sentinel_encode_pool_release(pool, chunk);
        if (failed) goto fatal;
    }
    if (progress) fprintf(stderr, "\r%*s\r", 60, "");

    if (pub) {
        sentinel_err_t err;
        if (atomic && run.rejected) {
            run.aborting = 1;
            err = sentinel_publisher_abort(pub, errstr, sizeof(errstr));
            if (err) goto fatal;
            cli_error("sentinel publish: the batch was refused because of line %lu%s: "
                      "transaction aborted, nothing published; %lu invalid line(s) sent to %s\n",
                      run.first_rejected, run.rejected > 1 ? " (and more, above)" : "",
                      run.dead_lettered, dead_letter_topic);
        } else {
            err = atomic ? sentinel_publisher_commit(pub, errstr, sizeof(errstr))
                         : sentinel_publisher_flush(pub, 120000, errstr, sizeof(errstr));
            if (err && atomic) {
                char abort_why[512];
                run.aborting = 1;
                if (sentinel_publisher_abort(pub, abort_why, sizeof(abort_why)))
                    cli_error("sentinel publish: abort: %s\n", abort_why);
                cli_error("sentinel publish: %s: transaction aborted, nothing published\n", errstr);
            } else if (err) {
                cli_error("sentinel publish: %s\n", errstr);
            }
        }
    }

    if (atomic && run.dead_letters && run.dead_lettered &&
        sentinel_publisher_flush(run.dead_letters, 120000, errstr, sizeof(errstr))) {
        cli_error("sentinel publish: dead letters: %s\n", errstr);
        run.failed++;
    }

    double elapsed = sentinel_monotonic_seconds() - started;
    sentinel_publisher_stats_t stats = {0};
    if (pub) sentinel_publisher_stats(pub, &stats);
    unsigned long published = atomic && run.rejected ? 0 : (unsigned long)stats.delivered;
    if (pub && !atomic) {
        /* Delivered counts dead letters too; published events are the rest. */
        published = (unsigned long)stats.delivered >= run.dead_lettered
                        ? (unsigned long)stats.delivered - run.dead_lettered
                        : 0;
    }
    if (!run.quiet) {
        if (dry_run)
            cli_say("%lu valid, %lu rejected, %.2f s, %.0f events/s (dry run)\n",
                    run.lines - run.rejected, run.rejected, elapsed,
                    elapsed > 0 ? (run.lines - run.rejected) / elapsed : 0.0);
        else
            cli_say("%lu published, %lu rejected, %.2f s, %.0f events/s, %.1f MB/s\n", published,
                    run.rejected, elapsed, elapsed > 0 ? published / elapsed : 0.0,
                    elapsed > 0 ? stats.bytes / elapsed / 1e6 : 0.0);
    }
    int all_delivered = dry_run || (stats.failed == 0 && stats.delivered == stats.queued &&
                                    !(atomic && run.rejected));
    rc = run.rejected == 0 && run.failed == 0 && all_delivered ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
    goto out;

fatal:
    cli_error("sentinel publish: %s\n", errstr);
    if (pub && atomic) {
        run.aborting = 1;
        char ignored[512];
        if (sentinel_publisher_abort(pub, ignored, sizeof(ignored))) {
            /* Nothing more to do: the broker aborts it at the transaction timeout. */
        }
    }
    rc = CLI_EXIT_FAILURE;
out:
    sentinel_line_reader_destroy(reader);
    sentinel_encode_pool_destroy(pool);
    if (run.dead_letters && run.dead_letters != pub) sentinel_publisher_destroy(run.dead_letters);
    if (pub) sentinel_publisher_destroy(pub);
    free(dead_letter_topic);
    if (in != stdin) fclose(in);
    return rc;
}

const cli_command_t cli_publish_command = {
    "publish",       "validate NDJSON events and publish them to Kafka as Avro",
    cli_publish,     publish_usage,
    publish_options, NULL};
