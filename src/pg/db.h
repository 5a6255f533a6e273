/* db.h -- PostgreSQL connections for Sentinel: connect with a libpq
 * connection string (or libpq's PG* variables) and classify errors. */
#ifndef SENTINEL_DB_H
#define SENTINEL_DB_H

#include <libpq-fe.h>

#include <sentinel/sentinel.h>

/* new: an open connection with UTC as its time zone, TCP keepalives on and
 * libpq's connect_timeout at `connect_timeout` seconds (0: 30) unless the
 * connection string sets them, or NULL with the server's reason in errstr
 * (passwords redacted) and, when class is not NULL, its class: FATAL for
 * what waiting cannot fix (no such database or role, failed
 * authentication, a malformed connection string), RETRIABLE otherwise. An
 * empty or NULL url lets libpq use PG*. */
PGconn *sentinel_db_open(const char *url, int connect_timeout, sentinel_err_t *class, char *errstr,
                         size_t errstr_size);
/* Check that `url` parses as a libpq connection string (NULL or empty:
 * libpq's PG* variables, fine) and remember the passwords in it as the
 * process's secrets (base/secret.h), as written and percent-decoded, so
 * that no message shows them. FATAL when it cannot parse, with a reason
 * that quotes none of the string: waiting cannot fix it. */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_db_conninfo_check(const char *url, char *errstr,
                                                             size_t errstr_size);

/* sentinel_db_open with the default timeout and no class. */
PGconn *sentinel_db_connect(const char *url, char *errstr, size_t errstr_size);

/* Copy text to out (size bytes) with every password in it replaced by
 * "***": URI user info (scheme://user:***@host) and password=*** settings,
 * quoted or not. For connection strings and libpq's messages quoting them. */
void sentinel_db_redact(const char *text, char *out, size_t size);

/* Class of a failed result: RETRIABLE for what is not about the data
 * (connection loss and class 08, serialization failures and deadlocks
 * (40), insufficient resources such as a full disk (53), shutdowns and
 * cancellations (57), I/O (58), internal errors (XX), lock and idle
 * timeouts, missing privileges); FATAL for the statement or the
 * deployment (undefined objects and syntax (42), unsupported features,
 * missing schema or database, authorization); INVALID for everything else,
 * the data: data exceptions (22), integrity violations (23), program
 * limits (54), errors raised by triggers. res may be NULL (no result at
 * all: connection trouble). */
sentinel_err_t sentinel_db_classify(const PGconn *conn, const PGresult *res);

/* Class of a bare SQLSTATE (five characters), by the rules above. */
sentinel_err_t sentinel_db_classify_sqlstate(const char *sqlstate);

/* Run one statement without parameters and return its class; on failure
 * errstr has the server's message. For DDL and transaction control: a
 * COMMIT the server answers with ROLLBACK (the transaction had failed) is
 * INVALID, never a success. */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_db_exec(PGconn *conn, const char *sql, char *errstr,
                                                   size_t errstr_size);

/* Run one parameterised statement (text parameters and results). On a
 * connection from sentinel_db_open the statement is prepared the first
 * time its text is run there, and executed as prepared after that (up to
 * a bound of distinct texts per connection): pass values as parameters,
 * never in the text. On success the result goes to *out (the caller
 * clears it), or is cleared when out is NULL; on failure errstr has the
 * server's message. */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_db_params(PGconn *conn, const char *sql, int n,
                                                     const char *const *params, PGresult **out,
                                                     char *errstr, size_t errstr_size);

/* One statement of a pipeline: text and parameters, text ones unless
 * `formats` says otherwise (1: binary, of the size in `lengths`). */
typedef struct sentinel_statement {
    const char *sql;
    int n_params;
    const char *const *params;
    const int *lengths; /* NULL: every parameter is text */
    const int *formats;
} sentinel_statement_t;

/* Run n statements in one round trip (libpq's pipeline mode), in order,
 * prepared as sentinel_db_params prepares them. On success results[i]
 * gets statement i's result (the caller clears each), or every result is
 * cleared when results is NULL. On failure errstr has the first failing
 * statement's message, the statements after it did not run, and there are
 * no results. The pipeline's end is a sync point: it ends no transaction
 * block, so a BEGIN among the statements (or before them) stays open.
 * A pipeline the connection's loss broke leaves it CONNECTION_BAD where
 * libpq can see the end, and not sentinel_db_usable() in any case. */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_db_pipeline(PGconn *conn, int n,
                                                       const sentinel_statement_t *statements,
                                                       PGresult **results, char *errstr,
                                                       size_t errstr_size);

/* Whether conn can take the next command: connected, in no pipeline and
 * with no command's results still to collect. A pipeline that a lost
 * server broke can leave libpq's status at CONNECTION_OK with commands
 * queued that will never complete, and libpq refuses every later command
 * without reading the socket again: such a connection is as lost as a
 * closed one. */
int sentinel_db_usable(const PGconn *conn);

/* Copy a failed result's primary message (or the connection's) into errstr,
 * without the trailing newline libpq adds. */
void sentinel_db_errstr(const PGconn *conn, const PGresult *res, char *errstr, size_t errstr_size);

#endif
