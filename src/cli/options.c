/* options.c -- options every sentinel subcommand shares. */
#include <stdio.h>

#include "cli.h"

void cli_getopt_reset(void) {
    optind = 1;
    opterr = 1;
}

int cli_common_option(sentinel_conf_t *conf, int opt, const char *arg, const char *usage) {
    char errstr[512];
    sentinel_err_t err;
    switch (opt) {
    case CLI_OPT_BROKERS: err = sentinel_conf_set(conf, "brokers", arg, errstr, sizeof(errstr)); break;
    case CLI_OPT_DB: err = sentinel_conf_set(conf, "db", arg, errstr, sizeof(errstr)); break;
    case CLI_OPT_TOPIC: err = sentinel_conf_set(conf, "topic", arg, errstr, sizeof(errstr)); break;
    case CLI_OPT_GROUP_PREFIX:
        err = sentinel_conf_set(conf, "group.prefix", arg, errstr, sizeof(errstr));
        break;
    case 'X': err = sentinel_conf_set_kafka(conf, arg, errstr, sizeof(errstr)); break;
    case 'h':
    case CLI_OPT_HELP:
        fputs(usage, stdout);
        return 2;
    default:
        return 0;
    }
    if (err != SENTINEL_OK) {
        fprintf(stderr, "sentinel: %s\n", errstr);
        return -1;
    }
    return 1;
}
