/* doctor.c -- `sentinel doctor`: can this process reach Kafka and PostgreSQL? */
#include <stdio.h>

#include "base/kafka_conf.h"
#include "cli/cli.h"
#include "pg/db.h"

static const char doctor_usage[] =
    "usage: sentinel doctor [options]\n\n"
    "Check that the Kafka brokers answer a metadata request and that PostgreSQL\n"
    "accepts a connection; print what each reports. Exit 1 if either fails.\n\n" CLI_COMMON_HELP;

static int check_kafka(const sentinel_conf_t *conf) {
    char errstr[512];
    rd_kafka_conf_t *kconf = sentinel_conf_kafka_new(conf, NULL, errstr, sizeof(errstr));
    if (!kconf) {
        cli_error("kafka: %s\n", errstr);
        return -1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(kconf);
        cli_error("kafka: %s\n", errstr);
        return -1;
    }
    const struct rd_kafka_metadata *md = NULL;
    /* As long as --connect-timeout says, not a fixed wait. */
    rd_kafka_resp_err_t err =
        rd_kafka_metadata(rk, 0, NULL, &md, 1000 * sentinel_conf_connect_timeout(conf));
    int rc = 0;
    if (err) {
        cli_error("kafka: %s: metadata request failed: %s\n", sentinel_conf_brokers(conf),
                  rd_kafka_err2str(err));
        rc = -1;
    } else {
        printf("kafka      ok  %s: %d broker(s), answered by broker %d, "
               "%d topic(s)\n",
               sentinel_conf_brokers(conf), md->broker_cnt, md->orig_broker_id, md->topic_cnt);
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_destroy(rk);
    return rc;
}

static int check_db(const sentinel_conf_t *conf) {
    char errstr[512];
    PGconn *pg = sentinel_db_open(sentinel_conf_db(conf), sentinel_conf_connect_timeout(conf), NULL,
                                  errstr, sizeof(errstr));
    if (!pg) {
        cli_error("postgres: %s\n", errstr);
        return -1;
    }
    printf("postgres   ok  %s@%s:%s/%s, server %d\n", PQuser(pg), PQhost(pg), PQport(pg), PQdb(pg),
           PQserverVersion(pg));
    PQfinish(pg);
    return 0;
}

static const struct option doctor_options[] = {CLI_COMMON_LONG_OPTIONS, {NULL, 0, NULL, 0}};

static int cli_doctor(int argc, char **argv, sentinel_conf_t *conf) {
    int opt;
    cli_getopt_reset(argv);
    while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT_OPTIONS, doctor_options, NULL)) != -1) {
        int handled = cli_common_option(conf, opt, optarg, doctor_usage);
        if (handled == 2) return CLI_EXIT_OK;
        if (handled != 1) return CLI_EXIT_USAGE;
    }
    printf("sentinel %s, librdkafka %s, libpq %d\n", SENTINEL_VERSION, rd_kafka_version_str(),
           PQlibVersion());
    int rc = 0;
    if (check_kafka(conf)) rc = CLI_EXIT_FAILURE;
    if (check_db(conf)) rc = CLI_EXIT_FAILURE;
    return rc;
}

const cli_command_t cli_doctor_command = {
    "doctor",       "check that Kafka and PostgreSQL answer, print their versions",
    cli_doctor,     doctor_usage,
    doctor_options, NULL};
