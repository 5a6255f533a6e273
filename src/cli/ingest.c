/* ingest.c -- `sentinel ingest`: serve the HTTP gateway of integrations
 * (src/ingest/) until SIGINT or SIGTERM. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <time.h>

#include "base/alloc.h"
#include "base/log.h"
#include "cli/cli.h"
#include "ingest/gateway.h"

static const char ingest_usage[] =
    "usage: sentinel ingest [--listen HOST:PORT] [options]\n\n"
    "Serve the HTTP gateway integrations publish through: POST /v1/events with\n"
    "Authorization: Bearer TOKEN (from `sentinel credentials create`) and a body of\n"
    "NDJSON (application/x-ndjson) or a JSON array (application/json) of events in\n"
    "the envelope `sentinel publish` takes. The answer comes once the broker has\n"
    "every accepted event; rejected ones go to <topic>.dead-letter. ?atomic=true\n"
    "publishes all in one transaction or none. Also GET /v1/schemas, /openapi.json,\n"
    "/healthz, /readyz and /metrics. SIGINT/SIGTERM stop accepting, answer what is\n"
    "in flight, flush and exit 0.\n\n"
    "  --listen HOST:PORT   where to listen (default 127.0.0.1:8420; port 0: any)\n"
    "  --tls-cert FILE      serve HTTPS with this PEM certificate (chain)...\n"
    "  --tls-key FILE       ...and this PEM private key\n"
    "  --max-request-bytes B  413 for a larger body (default 4M; K, M, G suffixes)\n"
    "  --max-events N       413 for more events in one request (default 1000)\n"
    "  --delivery-timeout S 503 when the broker has not acknowledged an event in S\n"
    "                       seconds (default 30)\n"
    "  --max-in-flight B    bytes the requests being served may hold together;\n"
    "                       429 beyond (default 64M)\n"
    "  --threads N          HTTP threads (default 2)\n"
    "  --max-connections N  open connections at most (default 1024), and\n"
    "  --per-address N      from one client address (default 64)\n"
    "The database (the credentials) is SENTINEL_INGEST_URL, else --db or\n"
    "SENTINEL_DATABASE_URL: connect as the role sentinel_ingest.\n\n" CLI_COMMON_HELP;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

enum {
    OPT_LISTEN = 1,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_MAX_REQUEST_BYTES,
    OPT_MAX_EVENTS,
    OPT_DELIVERY_TIMEOUT,
    OPT_MAX_IN_FLIGHT,
    OPT_THREADS,
    OPT_MAX_CONNECTIONS,
    OPT_PER_ADDRESS,
};

static const struct option ingest_options_table[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"max-request-bytes", required_argument, NULL, OPT_MAX_REQUEST_BYTES},
    {"max-events", required_argument, NULL, OPT_MAX_EVENTS},
    {"delivery-timeout", required_argument, NULL, OPT_DELIVERY_TIMEOUT},
    {"max-in-flight", required_argument, NULL, OPT_MAX_IN_FLIGHT},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
    {"per-address", required_argument, NULL, OPT_PER_ADDRESS},
    CLI_COMMON_LONG_OPTIONS,
    {NULL, 0, NULL, 0}};

/* A PEM file's text, or NULL after saying why. */
static char *read_pem(const char *flag, const char *path) {
    size_t len = 0;
    char *text = cli_read_file(path, 1 << 20, &len);
    if (!text || !len) {
        cli_error("sentinel ingest: %s %s: %s\n", flag, path,
                  text             ? "empty"
                  : errno == EFBIG ? "over 1 MiB: not a PEM file"
                                   : strerror(errno));
        free(text);
        return NULL;
    }
    return text;
}

static int cli_ingest(int argc, char **argv, sentinel_conf_t *conf) {
    ingest_options_t options = {.listen = "127.0.0.1:8420"};
    const char *cert_path = NULL, *key_path = NULL;
    char errstr[2048];
    int opt, n;
    long long seconds;
    /* The gateway's own role first; --db overrides it. */
    const char *ingest_url = getenv("SENTINEL_INGEST_URL");
    if (ingest_url && *ingest_url &&
        sentinel_conf_set(conf, "db", ingest_url, errstr, sizeof(errstr))) {
        cli_error("sentinel ingest: SENTINEL_INGEST_URL: %s\n", errstr);
        return CLI_EXIT_USAGE;
    }
    cli_getopt_reset(argv);
    while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT_OPTIONS, ingest_options_table, NULL)) !=
           -1) {
        switch (opt) {
        case OPT_LISTEN: options.listen = optarg; break;
        case OPT_TLS_CERT: cert_path = optarg; break;
        case OPT_TLS_KEY: key_path = optarg; break;
        case OPT_MAX_REQUEST_BYTES:
            if (cli_bytes_option("ingest", "--max-request-bytes", optarg, 1024, 1 << 30,
                                 &options.max_request_bytes) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_MAX_EVENTS:
            if (cli_int_option("ingest", "--max-events", optarg, 1, 100000, &n) < 0)
                return CLI_EXIT_USAGE;
            options.max_events = (size_t)n;
            break;
        case OPT_DELIVERY_TIMEOUT:
            if (cli_number_option("ingest", "--delivery-timeout", optarg, 1, 900, &seconds) < 0)
                return CLI_EXIT_USAGE;
            options.delivery_timeout_ms = (int)seconds * 1000;
            break;
        case OPT_MAX_IN_FLIGHT:
            if (cli_bytes_option("ingest", "--max-in-flight", optarg, 1 << 20, 1ULL << 32,
                                 &options.max_in_flight_bytes) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_THREADS:
            if (cli_int_option("ingest", "--threads", optarg, 1, 64, &n) < 0) return CLI_EXIT_USAGE;
            options.threads = (unsigned)n;
            break;
        case OPT_MAX_CONNECTIONS:
            if (cli_int_option("ingest", "--max-connections", optarg, 1, 100000, &n) < 0)
                return CLI_EXIT_USAGE;
            options.connections = (unsigned)n;
            break;
        case OPT_PER_ADDRESS:
            if (cli_int_option("ingest", "--per-address", optarg, 1, 100000, &n) < 0)
                return CLI_EXIT_USAGE;
            options.per_address = (unsigned)n;
            break;
        default: {
            int handled = cli_common_option(conf, opt, optarg, ingest_usage);
            if (handled == 2) return CLI_EXIT_OK;
            if (handled != 1) return CLI_EXIT_USAGE;
        }
        }
    }
    if (optind < argc) {
        cli_error("sentinel ingest: unexpected argument \"%s\"\n", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if (!cert_path != !key_path) {
        cli_error("sentinel ingest: --tls-cert and --tls-key go together\n");
        return CLI_EXIT_USAGE;
    }
    char *cert = NULL, *key = NULL;
    if (cert_path) {
        cert = read_pem("--tls-cert", cert_path);
        key = cert ? read_pem("--tls-key", key_path) : NULL;
        if (!key) {
            free(cert);
            return CLI_EXIT_FAILURE;
        }
    }
    options.tls_cert_pem = cert;
    options.tls_key_pem = key;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    ingest_gateway_t *gw = ingest_start(conf, &options, errstr, sizeof(errstr));
    if (key) sodium_memzero(key, strlen(key));
    free(cert);
    free(key);
    if (!gw) {
        cli_error("sentinel ingest: %s\n", errstr);
        return CLI_EXIT_FAILURE;
    }
    /* Where it listens: the host as given, the port as bound. */
    const char *colon = strrchr(options.listen, ':');
    cli_say("sentinel ingest: listening on %s://%.*s:%d\n", cert_path ? "https" : "http",
            (int)(colon - options.listen), options.listen, ingest_port(gw));
    fflush(stdout);
    while (!stop_requested) {
        struct timespec pause = {0, 100 * 1000000L};
        nanosleep(&pause, NULL);
    }
    sentinel_log(SENTINEL_LOG_INFO, "ingest: stopping: answering what is in flight");
    int rc = ingest_stop(gw);
    sentinel_log(SENTINEL_LOG_INFO, "ingest: stopped");
    return rc ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

const cli_command_t cli_ingest_command = {
    "ingest",
    "serve the HTTP gateway integrations publish events through",
    cli_ingest,
    ingest_usage,
    ingest_options_table,
    NULL};
