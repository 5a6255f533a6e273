/* schemas.c -- `sentinel schemas`: the embedded event schemas, their
 * fingerprints and canonical forms; --check only loads and cross-checks. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sentinel/event.h>
#include "base/alloc.h"
#include "cli/cli.h"
#include "events/schema_sources.h"

static const char schemas_usage[] =
    "usage: sentinel schemas [--check] [--canonical]\n\n"
    "List every event schema version with its CRC-64-AVRO fingerprint (the\n"
    "8 bytes after C3 01 in each Kafka message, little-endian).\n\n"
    "  --check       only load and cross-check the schemas: catalog agreement,\n"
    "                envelope, compatibility between versions, and that every\n"
    "                field of every version is stored in a column or said not to\n"
    "                be (schemas/storage.tsv); exit 1 on failure\n"
    "  --storage FILE  with --check, check this storage map instead of the\n"
    "                built-in one\n"
    "  --canonical   print each schema's Parsing Canonical Form too\n"
    "  -h, --help    this help\n";

enum { OPT_CHECK = 1, OPT_CANONICAL, OPT_STORAGE };

static const struct option schemas_options[] = {{"check", no_argument, NULL, OPT_CHECK},
                                                {"canonical", no_argument, NULL, OPT_CANONICAL},
                                                {"storage", required_argument, NULL, OPT_STORAGE},
                                                {"help", no_argument, NULL, 'h'},
                                                {NULL, 0, NULL, 0}};

/* Whether map (the storage map's text) has a line for key ("Type.field"). */
static int map_has(const char *map, const char *key) {
    size_t n = strlen(key);
    for (const char *line = map; line && *line;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL)
        if (!strncmp(line, key, n) && line[n] == '\t') return 1;
    return 0;
}

/* Every field of every schema version has a line in the storage map; every
 * line names a field of some version, and says where or why not. Returns
 * the number of problems, each printed. */
static int storage_check(const char *map) {
    int problems = 0;
    /* Each line: a key, a column or "-" and a reason. */
    for (const char *line = map; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len && line[0] != '#') {
            char *copy = sentinel_strndup(line, len);
            char *key = strtok(copy, "\t"), *where = strtok(NULL, "\t"), *why = strtok(NULL, "\t");
            const char *dot = key ? strchr(key, '.') : NULL;
            if (!dot || !where || (!strcmp(where, "-") && (!why || !*why)) ||
                (strcmp(where, "-") && !strchr(where, '.'))) {
                cli_error("storage map: \"%.*s\": expected Type.field, then table.column or "
                          "- and why it is not stored\n",
                          (int)len, line);
                problems++;
            } else if (key[0] != '*') {
                /* A field some version of the type has. */
                int found = 0;
                for (size_t i = 0; i < sentinel_schema_source_count && !found; i++) {
                    const char *file = sentinel_schema_sources[i].file;
                    if (strncmp(file, key, (size_t)(dot - key)) || file[dot - key] != '.') continue;
                    json_t *schema = json_loads(sentinel_schema_sources[i].json, 0, NULL);
                    json_t *fields = json_object_get(schema, "fields"), *f;
                    size_t k;
                    json_array_foreach(fields, k, f) {
                        const char *name = json_string_value(json_object_get(f, "name"));
                        json_t *data = json_object_get(json_object_get(f, "type"), "fields"), *d;
                        size_t j;
                        if (name && !strcmp(name, "data")) json_array_foreach(data, j, d) {
                                const char *dn = json_string_value(json_object_get(d, "name"));
                                if (dn && !strcmp(dn, dot + 1)) found = 1;
                            }
                    }
                    json_decref(schema);
                }
                if (!found) {
                    cli_error("storage map: %s: no version of %.*s has that field\n", key,
                              (int)(dot - key), key);
                    problems++;
                }
            }
            free(copy);
        }
        line = end ? end + 1 : NULL;
    }
    /* Each field of each version: its line. */
    for (size_t i = 0; i < sentinel_schema_source_count; i++) {
        const char *file = sentinel_schema_sources[i].file;
        const char *v = strstr(file, ".v");
        if (!v) continue; /* envelope.avsc */
        json_t *schema = json_loads(sentinel_schema_sources[i].json, 0, NULL);
        json_t *fields = json_object_get(schema, "fields"), *f;
        size_t k;
        json_array_foreach(fields, k, f) {
            const char *name = json_string_value(json_object_get(f, "name"));
            if (!name) continue;
            char key[256];
            if (strcmp(name, "data")) {
                snprintf(key, sizeof(key), "*.%s", name);
                char own[256];
                snprintf(own, sizeof(own), "%.*s.%s", (int)(v - file), file, name);
                if (!map_has(map, key) && !map_has(map, own)) {
                    cli_error("%s: %s is stored nowhere: add a column (a migration and the "
                              "projector) or a line to schemas/storage.tsv saying why not\n",
                              file, name);
                    problems++;
                }
                continue;
            }
            json_t *data = json_object_get(json_object_get(f, "type"), "fields"), *d;
            size_t j;
            json_array_foreach(data, j, d) {
                const char *dn = json_string_value(json_object_get(d, "name"));
                snprintf(key, sizeof(key), "%.*s.%s", (int)(v - file), file, dn ? dn : "?");
                if (!map_has(map, key)) {
                    cli_error("%s: data.%s is stored nowhere: add a column (a migration and the "
                              "projector) or a line to schemas/storage.tsv saying why not\n",
                              file, dn ? dn : "?");
                    problems++;
                }
            }
        }
        json_decref(schema);
    }
    return problems;
}

static int cli_schemas(int argc, char **argv, sentinel_conf_t *conf) {
    int check_only = 0, canonical = 0, opt;
    const char *storage = NULL;
    (void)conf;
    cli_getopt_reset(argv);
    while ((opt = getopt_long(argc, argv, "h", schemas_options, NULL)) != -1) {
        switch (opt) {
        case OPT_CHECK: check_only = 1; break;
        case OPT_CANONICAL: canonical = 1; break;
        case OPT_STORAGE: storage = optarg; break;
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
        char *map = storage ? cli_read_file(storage, 16 << 20, NULL) : NULL;
        if (storage && !map) {
            cli_error("sentinel schemas: --storage %s: %s\n", storage, strerror(errno));
            sentinel_codec_destroy(codec);
            return CLI_EXIT_FAILURE;
        }
        int problems = storage_check(map ? map : sentinel_storage_tsv);
        free(map);
        if (problems) {
            cli_error("sentinel schemas: %d field(s) of the schemas have no place in the storage "
                      "map\n",
                      problems);
            sentinel_codec_destroy(codec);
            return CLI_EXIT_FAILURE;
        }
        printf("%zu event schemas: compatible, in agreement with the catalog, and every field "
               "stored or said not to be\n",
               n);
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
