/* migrate.c -- `sentinel migrate`: apply migrations/, or list their state. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "pg/db.h"
#include "pg/migrate.h"

static const char migrate_usage[] =
    "usage: sentinel migrate [--status] [--to VERSION] [--dir DIR] [options]\n\n"
    "Apply the pending migrations (NNNN_name.sql, in order, each in its own\n"
    "transaction, under an advisory lock). Running it again is a no-op; a\n"
    "migration file changed after it was applied is refused.\n\n"
    "  --status         list applied and pending migrations, change nothing\n"
    "  --to VERSION     stop after this version\n"
    "  --dir DIR        migrations directory (SENTINEL_MIGRATIONS_DIR; default\n"
    "                   ../share/sentinel/migrations beside an installed binary,\n"
    "                   else the source tree's migrations/)\n\n" CLI_COMMON_HELP;

const char *cli_migrations_dir(const char *flag) {
    if (flag) return flag;
    const char *env = getenv("SENTINEL_MIGRATIONS_DIR");
    if (env && *env) return env;
    /* Installed: <prefix>/bin/sentinel finds <prefix>/share/sentinel/,
     * wherever the prefix was moved; else the source tree it was built from. */
    static char installed[PATH_MAX];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            struct stat st;
            static const char tail[] = "/../share/sentinel/migrations";
            size_t len = strlen(exe);
            if (len + sizeof(tail) <= sizeof(installed)) {
                memcpy(installed, exe, len);
                memcpy(installed + len, tail, sizeof(tail));
                if (!stat(installed, &st) && S_ISDIR(st.st_mode)) return installed;
            }
        }
    }
    return SENTINEL_SOURCE_DIR "/migrations";
}

enum { OPT_STATUS = 1, OPT_TO, OPT_DIR };

static const struct option migrate_options[] = {{"status", no_argument, NULL, OPT_STATUS},
                                                {"to", required_argument, NULL, OPT_TO},
                                                {"dir", required_argument, NULL, OPT_DIR},
                                                CLI_COMMON_LONG_OPTIONS,
                                                {NULL, 0, NULL, 0}};

static int cli_migrate(int argc, char **argv, sentinel_conf_t *conf) {
    int status_only = 0, to_version = 0, opt;
    const char *dir = NULL;
    cli_getopt_reset(argv);
    while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT_OPTIONS, migrate_options, NULL)) != -1) {
        switch (opt) {
        case OPT_STATUS: status_only = 1; break;
        case OPT_TO:
            if (cli_int_option("migrate", "--to", optarg, 1, 9999, &to_version) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_DIR: dir = optarg; break;
        default: {
            int handled = cli_common_option(conf, opt, optarg, migrate_usage);
            if (handled == 2) return CLI_EXIT_OK;
            if (handled != 1) return CLI_EXIT_USAGE;
        }
        }
    }
    if (optind < argc) {
        cli_error("sentinel migrate: unexpected argument \"%s\"\n", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    dir = cli_migrations_dir(dir);
    if (status_only) printf("migrations: %s\n", dir);

    char errstr[2048];
    PGconn *pg = sentinel_db_open(sentinel_conf_db(conf), sentinel_conf_connect_timeout(conf), NULL,
                                  errstr, sizeof(errstr));
    if (!pg) {
        cli_error("sentinel migrate: %s%s\n", errstr, cli_owner_hint(errstr));
        return CLI_EXIT_FAILURE;
    }
    sentinel_err_t err;
    if (status_only) {
        int pending = 0;
        err = sentinel_migrate_status(pg, dir, stdout, &pending, errstr, sizeof(errstr));
        if (!err) printf("%d pending\n", pending);
    } else {
        int applied = 0;
        err = sentinel_migrate_apply(pg, dir, to_version, stdout, &applied, errstr, sizeof(errstr));
        if (!err) printf(applied ? "%d migration(s) applied\n" : "up to date\n", applied);
    }
    PQfinish(pg);
    if (err) {
        cli_error("sentinel migrate: %s%s\n", errstr, cli_owner_hint(errstr));
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

const cli_command_t cli_migrate_command = {
    "migrate",       "apply the database migrations (ordered, checksummed, locked)",
    cli_migrate,     migrate_usage,
    migrate_options, NULL};
