/* migrate.c -- forward-only, checksummed SQL migrations.
 *
 * A migration is a file NNNN_name.sql; NNNN is its version. The
 * schema_migrations table records version, name, SHA-256 of the file and
 * when it was applied. The checksum is computed by the server (sha256()) so
 * the engine carries no hash code of its own. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "pg/db.h"
#include "pg/migrate.h"

/* One key for every runner of every Sentinel database on a server. */
#define MIGRATE_LOCK_KEY "7308604894375498049" /* "SENTINEL" */

typedef struct migration {
    int version;
    char name[128];
    char file[256];
    char *sql;
    char checksum[65];
    int applied; /* recorded in schema_migrations */
    char applied_at[64];
    char recorded_sum[65];
} migration_t;

typedef struct migration_set {
    migration_t *items;
    size_t len;
} migration_set_t;

static void set_free(migration_set_t *set) {
    for (size_t i = 0; i < set->len; i++)
        free(set->items[i].sql);
    free(set->items);
    set->items = NULL;
    set->len = 0;
}

static int parse_file_name(const char *file, int *version, char *name, size_t name_size) {
    size_t len = strlen(file);
    if (len < 10 || strcmp(file + len - 4, ".sql")) return -1;
    for (int i = 0; i < 4; i++)
        if (!isdigit((unsigned char)file[i])) return -1;
    if (file[4] != '_') return -1;
    for (size_t i = 5; i < len - 4; i++)
        if (!islower((unsigned char)file[i]) && !isdigit((unsigned char)file[i]) && file[i] != '_')
            return -1;
    *version = atoi(file);
    snprintf(name, name_size, "%.*s", (int)(len - 9), file + 5);
    return *version > 0 ? 0 : -1;
}

static char *read_file(const char *path, char *errstr, size_t errstr_size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 16384;
            char *grown = sentinel_realloc(buf, cap + 1);
            buf = grown;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        snprintf(errstr, errstr_size, "%s: read error", path);
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    if (strlen(buf) != len) {
        snprintf(errstr, errstr_size, "%s: contains a NUL byte", path);
        free(buf);
        return NULL;
    }
    return buf;
}

static int compare_versions(const void *a, const void *b) {
    const migration_t *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

/* Load and sort the migration files of `dir`. */
static sentinel_err_t load_dir(const char *dir, migration_set_t *set, char *errstr,
                               size_t errstr_size) {
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(errstr, errstr_size, "migrations directory %s: %s", dir, strerror(errno));
        return SENTINEL_ERR_FATAL;
    }
    size_t cap = 0;
    struct dirent *de;
    sentinel_err_t err = SENTINEL_OK;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        migration_t m = {0};
        if (parse_file_name(de->d_name, &m.version, m.name, sizeof(m.name))) {
            snprintf(errstr, errstr_size,
                     "%s/%s: not a migration file name (expected NNNN_lower_case_name.sql)", dir,
                     de->d_name);
            err = SENTINEL_ERR_FATAL;
            break;
        }
        snprintf(m.file, sizeof(m.file), "%.255s", de->d_name);
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        m.sql = read_file(path, errstr, errstr_size);
        if (!m.sql) {
            err = SENTINEL_ERR_FATAL;
            break;
        }
        if (set->len == cap) {
            cap = cap ? cap * 2 : 32;
            migration_t *grown = sentinel_realloc(set->items, cap * sizeof(*grown));
            set->items = grown;
        }
        set->items[set->len++] = m;
    }
    closedir(d);
    if (err) return err;
    qsort(set->items, set->len, sizeof(*set->items), compare_versions);
    for (size_t i = 1; i < set->len; i++) {
        if (set->items[i].version == set->items[i - 1].version) {
            snprintf(errstr, errstr_size, "%s and %s have the same version %04d",
                     set->items[i - 1].file, set->items[i].file, set->items[i].version);
            return SENTINEL_ERR_FATAL;
        }
    }
    return SENTINEL_OK;
}

static sentinel_err_t compute_checksums(PGconn *conn, migration_set_t *set, char *errstr,
                                        size_t errstr_size) {
    for (size_t i = 0; i < set->len; i++) {
        const char *params[1] = {set->items[i].sql};
        PGresult *res = NULL;
        sentinel_err_t err =
            sentinel_db_params(conn, "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')", 1,
                               params, &res, errstr, errstr_size);
        if (err) return err;
        snprintf(set->items[i].checksum, sizeof(set->items[i].checksum), "%s",
                 PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    return SENTINEL_OK;
}

/* Mark each file applied or not from schema_migrations; an applied version
 * whose file is gone is FATAL. */
static sentinel_err_t read_applied(PGconn *conn, migration_set_t *set, const char *dir,
                                   char *errstr, size_t errstr_size) {
    PGresult *res = NULL;
    sentinel_err_t err = sentinel_db_params(conn,
                                            "SELECT version, name, checksum, "
                                            "to_char(applied_at, 'YYYY-MM-DD HH24:MI:SS\"Z\"') "
                                            "FROM schema_migrations ORDER BY version",
                                            0, NULL, &res, errstr, errstr_size);
    if (err) return err;
    for (int r = 0; r < PQntuples(res); r++) {
        int version = atoi(PQgetvalue(res, r, 0));
        migration_t *m = NULL;
        for (size_t i = 0; i < set->len; i++)
            if (set->items[i].version == version) m = &set->items[i];
        if (!m) {
            snprintf(errstr, errstr_size,
                     "migration %04d_%s is applied but its file is missing from %s", version,
                     PQgetvalue(res, r, 1), dir);
            PQclear(res);
            return SENTINEL_ERR_FATAL;
        }
        m->applied = 1;
        snprintf(m->recorded_sum, sizeof(m->recorded_sum), "%s", PQgetvalue(res, r, 2));
        snprintf(m->applied_at, sizeof(m->applied_at), "%s", PQgetvalue(res, r, 3));
    }
    PQclear(res);
    return SENTINEL_OK;
}

static sentinel_err_t prepare(PGconn *conn, const char *dir, migration_set_t *set, char *errstr,
                              size_t errstr_size) {
    sentinel_err_t err = sentinel_db_exec(conn,
                                          "SET client_min_messages = warning;"
                                          "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                          " version integer PRIMARY KEY,"
                                          " name text NOT NULL,"
                                          " checksum text NOT NULL,"
                                          " applied_at timestamptz NOT NULL DEFAULT now())",
                                          errstr, errstr_size);
    if (err) return err;
    if ((err = load_dir(dir, set, errstr, errstr_size))) return err;
    if ((err = compute_checksums(conn, set, errstr, errstr_size))) return err;
    return read_applied(conn, set, dir, errstr, errstr_size);
}

/* Line number of a 1-based character position in sql. */
static int line_of(const char *sql, long position) {
    int line = 1;
    for (long i = 0; i < position - 1 && sql[i]; i++)
        if (sql[i] == '\n') line++;
    return line;
}

static sentinel_err_t apply_one(PGconn *conn, const migration_t *m, char *errstr,
                                size_t errstr_size) {
    char why[1024];
    sentinel_err_t err = sentinel_db_exec(conn, "BEGIN", why, sizeof(why));
    if (err) goto fail;

    PGresult *res = PQexec(conn, m->sql);
    err = sentinel_db_classify(conn, res);
    if (err) {
        sentinel_db_errstr(conn, res, why, sizeof(why));
        const char *pos = res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;
        if (pos) {
            char server[sizeof(why) - 32];
            snprintf(server, sizeof(server), "%.960s", why);
            snprintf(why, sizeof(why), "line %d: %s", line_of(m->sql, atol(pos)), server);
        }
        PQclear(res);
        goto rollback;
    }
    PQclear(res);

    char version[16];
    snprintf(version, sizeof(version), "%d", m->version);
    const char *params[3] = {version, m->name, m->checksum};
    err = sentinel_db_params(conn,
                             "INSERT INTO schema_migrations (version, name, checksum) "
                             "VALUES ($1, $2, $3)",
                             3, params, NULL, why, sizeof(why));
    if (err) goto rollback;

    err = sentinel_db_exec(conn, "COMMIT", why, sizeof(why));
    if (err) goto fail;
    return SENTINEL_OK;

rollback:;
    char ignored[256];
    if (sentinel_db_exec(conn, "ROLLBACK", ignored, sizeof(ignored))) {
        /* The connection is gone; the server rolls back on its own. */
    }
fail:
    snprintf(errstr, errstr_size, "%s: %s", m->file, why);
    return err == SENTINEL_ERR_RETRIABLE ? err : SENTINEL_ERR_FATAL;
}

static sentinel_err_t lock(PGconn *conn, int take, char *errstr, size_t errstr_size) {
    return sentinel_db_exec(conn,
                            take ? "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")"
                                 : "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")",
                            errstr, errstr_size);
}

sentinel_err_t sentinel_migrate_apply(PGconn *conn, const char *dir, int to_version, FILE *out,
                                      int *applied, char *errstr, size_t errstr_size) {
    migration_set_t set = {0};
    int count = 0;
    sentinel_err_t err = lock(conn, 1, errstr, errstr_size);
    if (err) return err;

    /* Read the state only once the lock is held: another runner may have
     * applied migrations while this one waited. */
    if ((err = prepare(conn, dir, &set, errstr, errstr_size))) goto out;

    for (size_t i = 0; i < set.len; i++) {
        const migration_t *m = &set.items[i];
        if (m->applied && strcmp(m->checksum, m->recorded_sum)) {
            snprintf(errstr, errstr_size,
                     "%s was changed after it was applied (checksum %.12s..., recorded "
                     "%.12s...); migrations are never edited: add a new one",
                     m->file, m->checksum, m->recorded_sum);
            err = SENTINEL_ERR_FATAL;
            goto out;
        }
    }
    for (size_t i = 0; i < set.len; i++) {
        const migration_t *m = &set.items[i];
        if (m->applied) continue;
        if (to_version > 0 && m->version > to_version) break;
        if ((err = apply_one(conn, m, errstr, errstr_size))) goto out;
        count++;
        if (out) fprintf(out, "applied %s\n", m->file);
    }
out:;
    char ignored[256];
    if (lock(conn, 0, ignored, sizeof(ignored))) {
        /* Session advisory locks also end with the session. */
    }
    set_free(&set);
    if (applied) *applied = count;
    return err;
}

sentinel_err_t sentinel_migrate_status(PGconn *conn, const char *dir, FILE *out, int *pending,
                                       char *errstr, size_t errstr_size) {
    migration_set_t set = {0};
    int count = 0;
    sentinel_err_t err = prepare(conn, dir, &set, errstr, errstr_size);
    if (!err) {
        for (size_t i = 0; i < set.len; i++) {
            const migration_t *m = &set.items[i];
            if (!m->applied) {
                count++;
                fprintf(out, "pending  %s\n", m->file);
            } else if (strcmp(m->checksum, m->recorded_sum)) {
                fprintf(out, "CHANGED  %s (applied %s; the file differs from what was applied)\n",
                        m->file, m->applied_at);
            } else {
                fprintf(out, "applied  %s (%s)\n", m->file, m->applied_at);
            }
        }
    }
    set_free(&set);
    if (pending) *pending = count;
    return err;
}

sentinel_err_t sentinel_migrate_check(PGconn *conn, char *errstr, size_t errstr_size) {
    PGresult *res = NULL;
    /* Two statements: the second names a table the first finds. */
    sentinel_err_t err =
        sentinel_db_params(conn,
                           "SELECT to_regclass('projector_offsets') IS NOT NULL "
                           "AND to_regclass('public.schema_migrations') IS NOT NULL",
                           0, NULL, &res, errstr, errstr_size);
    if (err) return err;
    int migrated = !strcmp(PQgetvalue(res, 0, 0), "t");
    PQclear(res);
    if (!migrated) {
        snprintf(errstr, errstr_size,
                 "the database is not migrated (it has no projector_offsets or "
                 "schema_migrations table): run "
                 "`sentinel migrate` as the owner first");
        return SENTINEL_ERR_FATAL;
    }
    err = sentinel_db_params(conn, "SELECT coalesce(max(version), 0) FROM public.schema_migrations",
                             0, NULL, &res, errstr, errstr_size);
    if (err) return err;
    int version = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (version < SENTINEL_SCHEMA_VERSION) {
        snprintf(errstr, errstr_size,
                 "the database's schema is at version %d and this engine needs %d: run "
                 "`sentinel migrate` as the owner first",
                 version, SENTINEL_SCHEMA_VERSION);
        return SENTINEL_ERR_FATAL;
    }
    return SENTINEL_OK;
}
