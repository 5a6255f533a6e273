/* options.c -- options every sentinel subcommand shares. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/kafka_conf.h"
#include "base/log.h"
#include "base/timestamp.h"
#include "base/utf8.h"
#include "cli/cli.h"
#include "pg/db.h"
#include "runtime/run.h"

void cli_print(const char *fmt, ...) {
    char line[8192], safe[4 * sizeof(line)];
    va_list ap;
    va_start(ap, fmt);
    sentinel_utf8_vformat(line, sizeof(line), fmt, ap);
    va_end(ap);
    sentinel_utf8_escape_controls(line, safe, sizeof(safe));
    puts(safe);
}

static char **parsed_argv;

void cli_getopt_reset(char **argv) {
    parsed_argv = argv;
    optind = 1;
    opterr = 0; /* said by cli_common_option, as text or JSON */
}

int cli_bad_option(int opt) {
    const char *command = parsed_argv ? parsed_argv[0] : "";
    if (optopt > 0 && optopt < 256)
        cli_error("sentinel %s: -%c: %s (see --help)", command, optopt,
                  opt == ':' ? "needs a value" : "unknown option or missing value");
    else
        cli_error("sentinel %s: %s: unknown option or missing value (see --help)", command,
                  parsed_argv && optind > 0 ? parsed_argv[optind - 1] : "?");
    return -1;
}

int cli_common_option(sentinel_conf_t *conf, int opt, const char *arg, const char *usage) {
    char errstr[512];
    sentinel_err_t err;
    switch (opt) {
    case CLI_OPT_BROKERS:
        err = sentinel_conf_set(conf, "brokers", arg, errstr, sizeof(errstr));
        break;
    case CLI_OPT_DB: err = sentinel_conf_set(conf, "db", arg, errstr, sizeof(errstr)); break;
    case CLI_OPT_TOPIC: err = sentinel_conf_set(conf, "topic", arg, errstr, sizeof(errstr)); break;
    case CLI_OPT_GROUP_PREFIX:
        err = sentinel_conf_set(conf, "group.prefix", arg, errstr, sizeof(errstr));
        break;
    case CLI_OPT_CONNECT_TIMEOUT: {
        int seconds;
        if (cli_int_option(NULL, "--connect-timeout", arg, 1, 86400, &seconds) < 0) return -1;
        err = sentinel_conf_set(conf, "connect.timeout", arg, errstr, sizeof(errstr));
        break;
    }
    case 'X': err = sentinel_conf_set_kafka(conf, arg, errstr, sizeof(errstr)); break;
    case 'F': err = sentinel_conf_kafka_file(conf, arg, errstr, sizeof(errstr)); break;
    case '?':
    case ':': return cli_bad_option(opt);
    case CLI_OPT_LOG_FORMAT:
        if (!sentinel_log_set_format(arg)) return 1;
        cli_error("sentinel: --log-format %s: expected text or json\n", arg);
        return -1;
    case 'h':
    case CLI_OPT_HELP: fputs(usage, stdout); return 2;
    default: return 0;
    }
    if (err != SENTINEL_OK) {
        cli_error("sentinel: %s\n", errstr);
        return -1;
    }
    return 1;
}

static void add_once(const sentinel_projector_t **chosen, int *n, const sentinel_projector_t *p) {
    for (int i = 0; i < *n; i++)
        if (chosen[i] == p) return;
    if (*n < CLI_MAX_PROJECTORS) chosen[(*n)++] = p;
}

/* Say that `name` names no projector, and which do; -1. */
static int unknown_projector(const char *command, const char *name, int aliases) {
    char known[512] = "";
    size_t len = 0;
    for (size_t i = 0; sentinel_projectors[i] && len < sizeof(known); i++)
        len +=
            (size_t)snprintf(known + len, sizeof(known) - len, " %s", sentinel_projectors[i]->name);
    cli_error("sentinel %s: unknown projector \"%s\" (known:%s%s)", command, name, known,
              aliases ? ", metrics, all" : "");
    return -1;
}

int cli_projector_option(const char *command, const char *name, const sentinel_projector_t **chosen,
                         int *n) {
    /* The daily metrics are kept by the projectors whose facts they count,
     * in the same transactions: `metrics` names those that own the table. */
    if (!strcmp(name, "metrics")) {
        for (size_t i = 0; sentinel_projectors[i]; i++)
            for (size_t t = 0; sentinel_projectors[i]->tables[t]; t++)
                if (!strcmp(sentinel_projectors[i]->tables[t], "workspace_daily_metrics"))
                    add_once(chosen, n, sentinel_projectors[i]);
        return 0;
    }
    if (!strcmp(name, "all")) {
        for (size_t i = 0; sentinel_projectors[i]; i++)
            add_once(chosen, n, sentinel_projectors[i]);
        return 0;
    }
    const sentinel_projector_t *p = sentinel_projector_find(name);
    if (!p) return unknown_projector(command, name, 1);
    add_once(chosen, n, p);
    return 0;
}

const sentinel_projector_t *cli_projector_name(const char *command, const char *name) {
    const sentinel_projector_t *p = sentinel_projector_find(name);
    if (!p) unknown_projector(command, name, 0);
    return p;
}

int cli_number_option(const char *command, const char *name, const char *arg, long long lo,
                      long long hi, long long *out) {
    char *end = NULL;
    errno = 0;
    long long n = strtoll(arg, &end, 10);
    if (end != arg && !*end && !errno && n >= lo && n <= hi) {
        *out = n;
        return 1;
    }
    cli_error("sentinel%s%s: %s must be %lld to %lld, not \"%s\"\n", command ? " " : "",
              command ? command : "", name, lo, hi, arg);
    return -1;
}

int cli_int_option(const char *command, const char *name, const char *arg, int lo, int hi,
                   int *out) {
    long long n;
    int rc = cli_number_option(command, name, arg, lo, hi, &n);
    if (rc == 1) *out = (int)n;
    return rc;
}

int cli_share_option(const char *command, const char *name, const char *arg, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(arg, &end);
    if (end != arg && !*end && !errno && v >= 0 && v <= 1) {
        *out = v;
        return 1;
    }
    cli_error("sentinel %s: %s must be a share from 0 to 1, not \"%s\"\n", command, name, arg);
    return -1;
}

int cli_uuid_option(const char *command, const char *name, const char *arg) {
    char normal[SENTINEL_UUID_LEN + 1];
    if (!sentinel_uuid_normalize(arg, normal)) return 1;
    cli_error("sentinel %s: %s must be a UUID (8-4-4-4-12 hex digits), not \"%s\"\n", command, name,
              arg);
    return -1;
}

int cli_time_option(const char *command, const char *name, const char *arg, int64_t *micros) {
    char errstr[256], day[64];
    int64_t at;
    /* A date alone is its midnight, UTC. */
    if (strlen(arg) == 10 && arg[4] == '-' && arg[7] == '-')
        snprintf(day, sizeof(day), "%sT00:00:00Z", arg);
    else
        snprintf(day, sizeof(day), "%s", arg);
    if (!sentinel_timestamp_parse(day, &at, errstr, sizeof(errstr))) {
        if (micros) *micros = at;
        return 1;
    }
    cli_error("sentinel %s: %s must be an RFC 3339 time or a date (YYYY-MM-DD), not \"%s\"\n",
              command, name, arg);
    return -1;
}

int cli_batch_option(const char *command, int opt, const char *arg,
                     sentinel_run_options_t *options) {
    switch (opt) {
    case CLI_OPT_BATCH_EVENTS:
        return cli_int_option(command, "--batch-events", arg, 1, 1000000, &options->batch_events);
    case CLI_OPT_BATCH_BYTES: {
        long long n;
        /* At most 256M: a batch's dead letters reach PostgreSQL as one
         * bytea[] parameter, twice the payload in hex, under its 1G limit. */
        int rc = cli_number_option(command, "--batch-bytes", arg, 1024, 1LL << 28, &n);
        if (rc == 1) options->batch_bytes = (size_t)n;
        return rc;
    }
    case CLI_OPT_MAX_IN_FLIGHT:
        return cli_bytes_option(command, "--max-in-flight", arg, SENTINEL_MAX_IN_FLIGHT_MIN,
                                SENTINEL_MAX_IN_FLIGHT_MAX, &options->max_in_flight);
    case CLI_OPT_BATCH_MS:
        return cli_int_option(command, "--batch-ms", arg, 1, 600000, &options->batch_ms);
    case CLI_OPT_LINGER_MS:
        return cli_int_option(command, "--linger-ms", arg, 0, 60000, &options->linger_ms);
    case CLI_OPT_LANES:
        return cli_int_option(command, "--lanes", arg, 1, SENTINEL_MAX_LANES, &options->lanes);
    case CLI_OPT_METRICS_LISTEN: options->metrics_listen = arg; return 1;
    case CLI_OPT_STALL_SECONDS:
        return cli_int_option(command, "--stall-seconds", arg, 1, 86400, &options->stall_seconds);
    default: return 0;
    }
}

char *cli_read_file(const char *path, size_t max, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = NULL;
    size_t used = 0, cap = 0, n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (used + n > max) {
            free(text);
            fclose(f);
            errno = EFBIG;
            return NULL;
        }
        if (used + n + 1 > cap) {
            cap = 2 * (used + n + 1);
            text = sentinel_realloc(text, cap);
        }
        memcpy(text + used, chunk, n);
        used += n;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(text);
        errno = EIO;
        return NULL;
    }
    if (!text) text = sentinel_calloc(1, 1);
    text[used] = '\0';
    if (len) *len = used;
    return text;
}

const char *cli_owner_hint(const char *errstr) {
    if (!strstr(errstr, "permission denied") && !strstr(errstr, "must be owner")) return "";
    return " (this command changes the schema or the control plane, which only the database "
           "owner may: run it as the owner, with --db \"$SENTINEL_OWNER_URL\"; the engine's "
           "role, sentinel_projector, runs project, replay, verify, status, usage and "
           "dead-letters)";
}

int cli_bytes_option(const char *command, const char *name, const char *arg, size_t lo, size_t hi,
                     size_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(arg, &end, 10);
    int shift = !*end                                    ? 0
                : !strcmp(end, "K") || !strcmp(end, "k") ? 10
                : !strcmp(end, "M")                      ? 20
                : !strcmp(end, "G")                      ? 30
                                                         : -1;
    /* Digits first (strtoull would take blanks and a sign). */
    if (arg[0] >= '0' && arg[0] <= '9' && errno != ERANGE && shift >= 0 && n <= (hi >> shift) &&
        (size_t)n << shift >= lo) {
        *out = (size_t)n << shift;
        return 1;
    }
    char low[32], high[32];
    cli_error("sentinel %s: %s must be a number of bytes from %s to %s (a K, M or G suffix "
              "multiplies), not \"%s\"\n",
              command, name, cli_bytes_text(lo, low, sizeof(low)),
              cli_bytes_text(hi, high, sizeof(high)), arg);
    return -1;
}

const char *cli_bytes_text(size_t n, char *out, size_t size) {
    static const char units[] = "KMG";
    int u = -1;
    while (u < 2 && n >= 1024 && n % 1024 == 0) {
        n /= 1024;
        u++;
    }
    if (u < 0)
        snprintf(out, size, "%zu", n);
    else
        snprintf(out, size, "%zu%c", n, units[u]);
    return out;
}

int cli_metrics_start(const char *command, const sentinel_conf_t *conf,
                      sentinel_run_options_t *options) {
    char errstr[512];
    if (!options->metrics_listen) return 0;
    options->metrics = sentinel_metrics_start(options->metrics_listen, conf, options->stall_seconds,
                                              errstr, sizeof(errstr));
    if (!options->metrics) {
        cli_error("sentinel %s: %s\n", command, errstr);
        return -1;
    }
    char host[256];
    const char *colon = strrchr(options->metrics_listen, ':');
    snprintf(host, sizeof(host), "%.*s", (int)(colon - options->metrics_listen),
             options->metrics_listen);
    sentinel_info("metrics at http://%s:%d/metrics (and /healthz, /readyz)", host,
                  sentinel_metrics_port(options->metrics));
    return 0;
}

void cli_metrics_stop(sentinel_run_options_t *options) {
    sentinel_metrics_stop(options->metrics);
    options->metrics = NULL;
}

int cli_preflight(const char *command, const sentinel_conf_t *conf) {
    char errstr[1024];
    int timeout = sentinel_conf_connect_timeout(conf);
    PGconn *pg = sentinel_db_open(sentinel_conf_db(conf), timeout, NULL, errstr, sizeof(errstr));
    if (!pg) {
        cli_error("sentinel %s: PostgreSQL: %s\n", command, errstr);
        return -1;
    }
    PQfinish(pg);

    static const char *const quick[] = {"socket.connection.setup.timeout.ms", "5000", NULL};
    rd_kafka_conf_t *kconf = sentinel_conf_kafka_new(conf, quick, errstr, sizeof(errstr));
    rd_kafka_t *rk = kconf ? rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr, sizeof(errstr)) : NULL;
    if (!rk) {
        if (kconf) rd_kafka_conf_destroy(kconf);
        cli_error("sentinel %s: Kafka: %s\n", command, errstr);
        return -1;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t kerr = rd_kafka_metadata(rk, 1, NULL, &md, timeout * 1000);
    int rc = 0;
    if (kerr) {
        cli_error("sentinel %s: no Kafka broker answering at %s within %d s (%s)\n", command,
                  sentinel_conf_brokers(conf), timeout, rd_kafka_err2str(kerr));
        rc = -1;
    } else {
        const char *topic = sentinel_conf_topic(conf);
        int found = 0;
        for (int i = 0; i < md->topic_cnt && !found; i++)
            found = !strcmp(md->topics[i].topic, topic) && !md->topics[i].err;
        if (!found) {
            cli_error("sentinel %s: topic %s does not exist on %s (publish to it first, or "
                      "name another with --topic)\n",
                      command, topic, sentinel_conf_brokers(conf));
            rc = -1;
        }
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_destroy(rk);
    return rc;
}
