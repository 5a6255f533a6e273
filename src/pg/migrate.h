/* migrate.h -- apply the ordered SQL files of migrations/ to a database:
 * each in its own transaction, recorded with its checksum in
 * schema_migrations, under an advisory lock so concurrent runners are safe. */
#ifndef SENTINEL_MIGRATE_H
#define SENTINEL_MIGRATE_H

#include <libpq-fe.h>
#include <stdio.h>

#include <sentinel/sentinel.h>

/* The schema the engine's statements are written for: the newest migration
 * in its tree (test_engine_needs_its_schema holds the two together). A
 * database at an older version is refused before anything is applied: a
 * column the engine no longer writes, left NOT NULL, would reject every
 * event that writes its table as bad data. */
#define SENTINEL_SCHEMA_VERSION 23

/* SENTINEL_OK when the database `conn` reaches is migrated to
 * SENTINEL_SCHEMA_VERSION or later; FATAL with what to run when it is not
 * migrated at all or is older. */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_migrate_check(PGconn *conn, char *errstr,
                                                         size_t errstr_size);

/* Apply every pending migration in `dir` up to and including `to_version`
 * (0: all). Already applied files must be unchanged: a changed checksum is
 * FATAL and names the file. Progress lines go to `out` (may be NULL).
 * *applied (may be NULL) receives the number of migrations applied. */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_migrate_apply(PGconn *conn, const char *dir,
                                                         int to_version, FILE *out, int *applied,
                                                         char *errstr, size_t errstr_size);

/* Print each migration with its state (applied with its time, pending, or
 * changed) to `out`. *pending (may be NULL) receives the number pending. */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_migrate_status(PGconn *conn, const char *dir, FILE *out,
                                                          int *pending, char *errstr,
                                                          size_t errstr_size);

#endif
