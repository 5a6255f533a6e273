/* schemas.c -- `sentinel schemas`: the embedded event schemas, their
 * fingerprints and canonical forms; --check only loads and cross-checks. */
#include <inttypes.h>
#include <stdio.h>

#include <sentinel/event.h>
#include "cli/cli.h"

static const char schemas_usage[] =
    "usage: sentinel schemas [--check] [--canonical]\n\n"
    "List every event schema version with its CRC-64-AVRO fingerprint (the\n"
    "8 bytes after C3 01 in each Kafka message, little-endian).\n\n"
    "  --check       only load and cross-check the schemas: catalog agreement,\n"
    "                envelope, compatibility between versions; exit 1 on failure\n"
    "  --canonical   print each schema's Parsing Canonical Form too\n"
    "  -h, --help    this help\n";

enum { OPT_CHECK = 1, OPT_CANONICAL };

static const struct option schemas_options[] = {{"check", no_argument, NULL, OPT_CHECK},
                                                {"canonical", no_argument, NULL, OPT_CANONICAL},
                                                {"help", no_argument, NULL, 'h'},
                                                {NULL, 0, NULL, 0}};

static int cli_schemas(int argc, char **argv, sentinel_conf_t *conf) {
    int check_only = 0, canonical = 0, opt;
    (void)conf;
    cli_getopt_reset(argv);
    while ((opt = getopt_long(argc, argv, "h", schemas_options, NULL)) != -1) {
        switch (opt) {
        case OPT_CHECK: check_only = 1; break;
        case OPT_CANONICAL: canonical = 1; break;
        case 'h': fputs(schemas_usage, stdout); return CLI_EXIT_OK;
        default: cli_bad_option(opt); return CLI_EXIT_USAGE;
        }
    }
    char errstr[1024];
    sentinel_codec_t *codec = sentinel_codec_new(errstr, sizeof(errstr));
    if (!codec) {
        cli_error("sentinel schemas: %s\n", errstr);
        return CLI_EXIT_FAILURE;
    }
    size_t n = sentinel_codec_schema_count(codec);
    if (check_only) {
        printf("%zu event schemas: compatible, and in agreement with the catalog\n", n);
    } else {
        for (size_t i = 0; i < n; i++) {
            const char *type, *form;
            int version;
            uint64_t fp;
            sentinel_codec_schema_info(codec, i, &type, &version, &fp, &form);
            printf("%-22s v%d  %016" PRIx64 "%s%s\n", type, version, fp, canonical ? "  " : "",
                   canonical ? form : "");
        }
    }
    sentinel_codec_destroy(codec);
    return CLI_EXIT_OK;
}

const cli_command_t cli_schemas_command = {
    "schemas",       "list the event schemas and fingerprints; --check cross-checks them",
    cli_schemas,     schemas_usage,
    schemas_options, NULL};
