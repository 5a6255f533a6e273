/* credentials.c -- `sentinel credentials create|list|revoke`: the tokens
 * integrations publish with over HTTP. A token is 256 bits from the OS's
 * random source, URL-safe, printed once; only its SHA-256 is stored. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pg/db.h"

static const char credentials_usage[] =
    "usage: sentinel credentials create --workspace UUID --name NAME [--installation UUID]\n"
    "                                   [--json]\n"
    "       sentinel credentials list [--workspace UUID] [--json]\n"
    "       sentinel credentials revoke ID\n\n"
    "Make, list and revoke the credentials integrations publish with over HTTP\n"
    "(sentinel ingest). create prints the new token once: only its SHA-256 is\n"
    "kept. Run as the owner (--db or SENTINEL_OWNER_URL): credentials are\n"
    "control-plane data.\n\n"
    "Options:\n"
    "  --workspace UUID     the workspace the credential publishes for\n"
    "  --name NAME          what the credential is for (1 to 200 characters)\n"
    "  --installation UUID  publish only for this installation's repositories\n"
    "  --json               one JSON document instead of text\n\n" CLI_COMMON_HELP;

enum { OPT_WORKSPACE = 1, OPT_NAME, OPT_INSTALLATION, OPT_JSON };

static const struct option credentials_options[] = {
    {"workspace", required_argument, NULL, OPT_WORKSPACE},
    {"name", required_argument, NULL, OPT_NAME},
    {"installation", required_argument, NULL, OPT_INSTALLATION},
    {"json", no_argument, NULL, OPT_JSON},
    CLI_COMMON_LONG_OPTIONS,
    {NULL, 0, NULL, 0}};

/* The prefix tells a reader (and a secret scanner) what the token is. */
#define TOKEN_PREFIX "snt_"

/* A new token into buf (TOKEN_PREFIX + 43 URL-safe characters) and its
 * SHA-256 as \x hex (bytea input) into hex. */
static void new_token(char *buf, size_t size, char *hex, size_t hex_size) {
    unsigned char raw[32], digest[crypto_hash_sha256_BYTES];
    randombytes_buf(raw, sizeof(raw));
    memcpy(buf, TOKEN_PREFIX, sizeof(TOKEN_PREFIX));
    sodium_bin2base64(buf + strlen(TOKEN_PREFIX), size - strlen(TOKEN_PREFIX), raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    crypto_hash_sha256(digest, (const unsigned char *)buf, strlen(buf));
    memcpy(hex, "\\x", 3);
    sodium_bin2hex(hex + 2, hex_size - 2, digest, sizeof(digest));
    sodium_memzero(raw, sizeof(raw));
}

static int create_credential(PGconn *pg, const char *workspace, const char *name,
                             const char *installation, int as_json) {
    char token[64], hex[2 + 2 * crypto_hash_sha256_BYTES + 1], errstr[1024];
    new_token(token, sizeof(token), hex, sizeof(hex));
    const char *params[4] = {workspace, installation, name, hex};
    PGresult *res = NULL;
    sentinel_err_t err = sentinel_db_params(
        pg,
        "INSERT INTO ingest_credentials (workspace_id, installation_id, name, token_sha256) "
        "SELECT $1::uuid, $2::uuid, $3, $4::bytea "
        "WHERE set_config('sentinel.workspace_id', $1::uuid::text, true) IS NOT NULL "
        "RETURNING id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
        4, params, &res, errstr, sizeof(errstr));
    if (err) {
        cli_error("sentinel credentials create: %s%s", errstr, cli_owner_hint(errstr));
        sodium_memzero(token, sizeof(token));
        return CLI_EXIT_FAILURE;
    }
    if (as_json) {
        json_t *doc = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s}", "id", PQgetvalue(res, 0, 0),
                                "workspace_id", workspace, "name", name, "installation_id",
                                installation, "created_at", PQgetvalue(res, 0, 1), "token", token);
        char *text = json_dumps(doc, JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
        json_decref(doc);
    } else {
        printf("credential %s for workspace %s%s%s\n", PQgetvalue(res, 0, 0), workspace,
               installation ? ", installation " : "", installation ? installation : "");
        printf("token (shown once, keep it secret): %s\n", token);
    }
    PQclear(res);
    sodium_memzero(token, sizeof(token));
    return CLI_EXIT_OK;
}

static int list_credentials(PGconn *pg, const char *workspace, int as_json) {
    char errstr[1024];
    const char *params[1] = {workspace};
    PGresult *res = NULL;
    sentinel_err_t err = sentinel_db_params(
        pg,
        "SELECT id, workspace_id, coalesce(installation_id::text, ''), name, "
        " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
        " coalesce(to_char(last_used_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
        "''), "
        " coalesce(to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') "
        "FROM ingest_credentials WHERE $1::uuid IS NULL OR workspace_id = $1::uuid "
        "ORDER BY workspace_id, created_at, id",
        1, params, &res, errstr, sizeof(errstr));
    if (err) {
        cli_error("sentinel credentials list: %s%s", errstr, cli_owner_hint(errstr));
        return CLI_EXIT_FAILURE;
    }
    json_t *all = json_array();
    for (int r = 0; r < PQntuples(res); r++) {
        const char *v[7];
        for (int c = 0; c < 7; c++)
            v[c] =
                *PQgetvalue(res, r, c) || c < 2 || c == 3 || c == 4 ? PQgetvalue(res, r, c) : NULL;
        if (as_json) {
            json_array_append_new(all, json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s?, s:s?}", "id",
                                                 v[0], "workspace_id", v[1], "installation_id",
                                                 v[2], "name", v[3], "created_at", v[4],
                                                 "last_used_at", v[5], "revoked_at", v[6]));
        } else {
            cli_print("%s %s %s%s%s created %s%s%s%s%s", v[0], v[1], v[3],
                      v[2] ? " installation " : "", v[2] ? v[2] : "", v[4],
                      v[5] ? ", last used " : "", v[5] ? v[5] : "", v[6] ? ", revoked " : "",
                      v[6] ? v[6] : "");
        }
    }
    if (as_json) {
        char *text = json_dumps(all, JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
    } else {
        printf("%d credential(s)\n", PQntuples(res));
    }
    json_decref(all);
    PQclear(res);
    return CLI_EXIT_OK;
}

static int revoke_credential(PGconn *pg, const char *id) {
    char errstr[1024];
    const char *params[1] = {id};
    PGresult *res = NULL;
    sentinel_err_t err =
        sentinel_db_params(pg,
                           "UPDATE ingest_credentials SET revoked_at = coalesce(revoked_at, now()) "
                           "WHERE id = $1::uuid RETURNING to_char(revoked_at AT TIME ZONE 'UTC', "
                           "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                           1, params, &res, errstr, sizeof(errstr));
    if (err) {
        cli_error("sentinel credentials revoke: %s%s", errstr, cli_owner_hint(errstr));
        return CLI_EXIT_FAILURE;
    }
    int found = PQntuples(res) == 1;
    if (found)
        printf("credential %s revoked at %s\n", id, PQgetvalue(res, 0, 0));
    else
        cli_error("sentinel credentials revoke: no credential %s", id);
    PQclear(res);
    return found ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

static int cli_credentials(int argc, char **argv, sentinel_conf_t *conf) {
    const char *workspace = NULL, *name = NULL, *installation = NULL;
    int as_json = 0, opt;
    cli_getopt_reset(argv);
    while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT_OPTIONS, credentials_options, NULL)) !=
           -1) {
        switch (opt) {
        case OPT_WORKSPACE:
            if (cli_uuid_option("credentials", "--workspace", optarg) < 0) return CLI_EXIT_USAGE;
            workspace = optarg;
            break;
        case OPT_INSTALLATION:
            if (cli_uuid_option("credentials", "--installation", optarg) < 0) return CLI_EXIT_USAGE;
            installation = optarg;
            break;
        case OPT_NAME:
            if (!*optarg || strlen(optarg) > 200) {
                cli_error("sentinel credentials: --name must be 1 to 200 characters");
                return CLI_EXIT_USAGE;
            }
            name = optarg;
            break;
        case OPT_JSON: as_json = 1; break;
        default: {
            int handled = cli_common_option(conf, opt, optarg, credentials_usage);
            if (handled == 2) return CLI_EXIT_OK;
            if (handled != 1) return CLI_EXIT_USAGE;
        }
        }
    }
    const char *action = optind < argc ? argv[optind] : NULL;
    const char *id = optind + 1 < argc ? argv[optind + 1] : NULL;
    int want = action && !strcmp(action, "revoke") ? 2 : 1;
    if (!action ||
        (strcmp(action, "create") && strcmp(action, "list") && strcmp(action, "revoke")) ||
        argc - optind != want) {
        cli_error("sentinel credentials: expected create, list or revoke ID (see --help)");
        return CLI_EXIT_USAGE;
    }
    if (!strcmp(action, "create") && (!workspace || !name)) {
        cli_error("sentinel credentials create: --workspace and --name are required");
        return CLI_EXIT_USAGE;
    }
    if (id && cli_uuid_option("credentials revoke", "ID", id) < 0) return CLI_EXIT_USAGE;
    if (sodium_init() < 0) {
        cli_error("sentinel credentials: no random source");
        return CLI_EXIT_FAILURE;
    }
    char errstr[1024];
    PGconn *pg = sentinel_db_open(sentinel_conf_db(conf), sentinel_conf_connect_timeout(conf), NULL,
                                  errstr, sizeof(errstr));
    if (!pg) {
        cli_error("sentinel credentials: %s", errstr);
        return CLI_EXIT_FAILURE;
    }
    int rc = !strcmp(action, "create")
                 ? create_credential(pg, workspace, name, installation, as_json)
             : !strcmp(action, "list") ? list_credentials(pg, workspace, as_json)
                                       : revoke_credential(pg, id);
    PQfinish(pg);
    return rc;
}

const cli_command_t cli_credentials_command = {
    "credentials",       "make, list and revoke the tokens integrations publish with",
    cli_credentials,     credentials_usage,
    credentials_options, NULL};
