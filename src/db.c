/* db.c -- PostgreSQL connections and error classification. */
#include "db.h"

#include <stdio.h>
#include <string.h>

PGconn *sentinel_db_connect(const char *url, char *errstr, size_t errstr_size) {
    PGconn *conn = PQconnectdb(url ? url : "");
    if (PQstatus(conn) != CONNECTION_OK) {
        sentinel_db_errstr(conn, NULL, errstr, errstr_size);
        PQfinish(conn);
        return NULL;
    }
    PGresult *res = PQexec(conn, "SET TIME ZONE 'UTC'");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        sentinel_db_errstr(conn, res, errstr, errstr_size);
        PQclear(res);
        PQfinish(conn);
        return NULL;
    }
    PQclear(res);
    return conn;
}

sentinel_err_t sentinel_db_classify_sqlstate(const char *sqlstate) {
    if (!sqlstate || strlen(sqlstate) != 5) return SENTINEL_ERR_RETRIABLE;
    if (!strncmp(sqlstate, "40", 2)) return SENTINEL_ERR_RETRIABLE; /* transaction rollback */
    if (!strncmp(sqlstate, "08", 2)) return SENTINEL_ERR_RETRIABLE; /* connection exception */
    if (!strcmp(sqlstate, "57P01") || !strcmp(sqlstate, "57P02") || !strcmp(sqlstate, "57P03"))
        return SENTINEL_ERR_RETRIABLE; /* admin/crash shutdown, cannot connect now */
    if (!strcmp(sqlstate, "55P03")) return SENTINEL_ERR_RETRIABLE; /* lock not available */
    if (!strncmp(sqlstate, "22", 2) || !strncmp(sqlstate, "23", 2))
        return SENTINEL_ERR_INVALID; /* data exception, integrity violation */
    return SENTINEL_ERR_FATAL;
}

sentinel_err_t sentinel_db_classify(const PGconn *conn, const PGresult *res) {
    if (!conn || PQstatus(conn) != CONNECTION_OK) return SENTINEL_ERR_RETRIABLE;
    if (!res) return SENTINEL_ERR_RETRIABLE;
    switch (PQresultStatus(res)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_SINGLE_TUPLE:
        return SENTINEL_OK;
    default:
        break;
    }
    return sentinel_db_classify_sqlstate(PQresultErrorField(res, PG_DIAG_SQLSTATE));
}

void sentinel_db_errstr(const PGconn *conn, const PGresult *res, char *errstr,
                        size_t errstr_size) {
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (!msg || !*msg) msg = conn ? PQerrorMessage(conn) : "no connection";
    if (!msg || !*msg) msg = "unknown PostgreSQL error";
    snprintf(errstr, errstr_size, "%s", msg);
    size_t n = strlen(errstr);
    while (n > 0 && (errstr[n - 1] == '\n' || errstr[n - 1] == ' ')) errstr[--n] = '\0';
}

sentinel_err_t sentinel_db_exec(PGconn *conn, const char *sql, char *errstr,
                                size_t errstr_size) {
    PGresult *res = PQexec(conn, sql);
    sentinel_err_t err = sentinel_db_classify(conn, res);
    if (err != SENTINEL_OK) sentinel_db_errstr(conn, res, errstr, errstr_size);
    PQclear(res);
    return err;
}

sentinel_err_t sentinel_db_params(PGconn *conn, const char *sql, int n, const char *const *params,
                                  PGresult **out, char *errstr, size_t errstr_size) {
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    sentinel_err_t err = sentinel_db_classify(conn, res);
    if (err) {
        sentinel_db_errstr(conn, res, errstr, errstr_size);
        PQclear(res);
        return err;
    }
    if (out) *out = res;
    else PQclear(res);
    return SENTINEL_OK;
}
