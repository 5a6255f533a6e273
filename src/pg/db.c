/* db.c -- PostgreSQL connections and error classification. */
#include <ctype.h>
#include <libpq-events.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sentinel/projector.h>
#include "base/alloc.h"
#include "pg/db.h"

/* ---------------------------------------------------------------- prepared statements */

/* Statements a connection has prepared, by their text: a statement run
 * again is bound and executed, not parsed, analysed and planned again (the
 * fixed cost that dominates a small batch). Bounded: past the bound a
 * statement runs unnamed. Attached to the connection as libpq instance
 * data, so it goes with the session: freed with the connection, emptied
 * by a reset (the server forgets them). */
#define STATEMENTS_MAX 64

typedef struct statement {
    uint64_t hash;
    char *sql; /* owned */
} statement_t;

typedef struct statements {
    statement_t list[STATEMENTS_MAX];
    int n;
} statements_t;

static void statements_clear(statements_t *s) {
    for (int i = 0; i < s->n; i++)
        free(s->list[i].sql);
    s->n = 0;
}

static int statements_event(PGEventId id, void *info, void *passthrough) {
    (void)passthrough;
    if (id == PGEVT_CONNRESET) {
        statements_t *s = PQinstanceData(((PGEventConnReset *)info)->conn, statements_event);
        if (s) statements_clear(s);
    } else if (id == PGEVT_CONNDESTROY) {
        statements_t *s = PQinstanceData(((PGEventConnDestroy *)info)->conn, statements_event);
        if (s) {
            statements_clear(s);
            free(s);
        }
    }
    return 1;
}

/* FNV-1a: the key of a statement's text. */
static uint64_t text_hash(const char *s) {
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Run sql with text parameters as a statement prepared on conn (prepared
 * now if it is new there), or unnamed when conn keeps no statements or has
 * as many as it may. */
static PGresult *run_statement(PGconn *conn, const char *sql, int n, const char *const *params) {
    statements_t *s = PQinstanceData(conn, statements_event);
    if (!s) return PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    uint64_t h = text_hash(sql);
    int i;
    for (i = 0; i < s->n; i++)
        if (s->list[i].hash == h && !strcmp(s->list[i].sql, sql)) break;
    char name[24];
    snprintf(name, sizeof(name), "sentinel_%d", i);
    if (i == s->n) {
        char *copy = s->n < STATEMENTS_MAX ? sentinel_strdup(sql) : NULL;
        if (!copy) return PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
        PGresult *res = PQprepare(conn, name, sql, n, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            free(copy);
            return res; /* the statement's own error, as running it would give */
        }
        PQclear(res);
        s->list[s->n++] = (statement_t){h, copy};
    }
    return PQexecPrepared(conn, name, n, params, NULL, NULL, 0);
}

/* The class of a failed connection attempt, from libpq's words (it gives
 * no SQLSTATE for them): what waiting cannot fix is FATAL. */
static sentinel_err_t classify_connect_failure(const char *msg) {
    static const char *const permanent[] = {
        "does not exist",        /* database or role */
        "authentication failed", /* password, peer, ident, ... */
        "no pg_hba.conf entry",
        "permission denied for database",
        "invalid connection option", /* a malformed connection string */
        "invalid URI",
        "invalid integer value",
        "missing \"=\"",
        "unterminated quoted string",
        "invalid percent-encoded",
        "invalid sslmode",
        NULL,
    };
    for (size_t i = 0; permanent[i]; i++)
        if (strstr(msg, permanent[i])) return SENTINEL_ERR_FATAL;
    return SENTINEL_ERR_RETRIABLE;
}

PGconn *sentinel_db_open(const char *url, int connect_timeout, sentinel_err_t *class, char *errstr,
                         size_t errstr_size) {
    /* Defaults first: what the connection string sets wins. Keepalives
     * notice a peer that vanished without closing the connection. */
    char timeout[16];
    snprintf(timeout, sizeof(timeout), "%d", connect_timeout > 0 ? connect_timeout : 30);
    const char *const keys[] = {"connect_timeout",
                                "keepalives",
                                "keepalives_idle",
                                "keepalives_interval",
                                "keepalives_count",
                                "dbname",
                                NULL};
    const char *const values[] = {timeout, "1", "30", "10", "3", url ? url : "", NULL};
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    if (class) *class = SENTINEL_OK;
    if (PQstatus(conn) != CONNECTION_OK) {
        sentinel_db_errstr(conn, NULL, errstr, errstr_size);
        if (class) *class = classify_connect_failure(errstr);
        PQfinish(conn);
        return NULL;
    }
    PGresult *res = PQexec(conn, "SET TIME ZONE 'UTC'");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        sentinel_db_errstr(conn, res, errstr, errstr_size);
        if (class) *class = sentinel_db_classify(conn, res);
        PQclear(res);
        PQfinish(conn);
        return NULL;
    }
    PQclear(res);
    statements_t *statements = sentinel_calloc(1, sizeof(*statements));
    if (statements && PQregisterEventProc(conn, statements_event, "sentinel statements", NULL) &&
        PQsetInstanceData(conn, statements_event, statements)) {
        statements = NULL; /* the connection's now */
    }
    free(statements);
    return conn;
}

PGconn *sentinel_db_connect(const char *url, char *errstr, size_t errstr_size) {
    return sentinel_db_open(url, 0, NULL, errstr, errstr_size);
}

/* Copy [p, end) to the output, bounded. */
static void put(char **o, const char *end_out, const char *p, size_t n) {
    while (n-- && *o < end_out)
        *(*o)++ = *p++;
}

void sentinel_db_redact(const char *text, char *out, size_t size) {
    if (!size) return;
    char *o = out;
    const char *end_out = out + size - 1;
    const char *p = text;
    while (*p && o < end_out) {
        /* URI user info: scheme://user:SECRET@host */
        if (!strncmp(p, "://", 3)) {
            const char *at = p + 3;
            while (*at && *at != '@' && *at != '/' && *at != ' ' && *at != '\'' && *at != '"')
                at++;
            const char *colon = memchr(p + 3, ':', (size_t)(at - (p + 3)));
            if (*at == '@' && colon) {
                put(&o, end_out, p, (size_t)(colon + 1 - p));
                put(&o, end_out, "***", 3);
                p = at;
                continue;
            }
        }
        /* key=value and URI query parameters: password=SECRET */
        if (!strncasecmp(p, "password", 8) && (p == text || !isalnum((unsigned char)p[-1]))) {
            const char *q = p + 8;
            while (*q == ' ')
                q++;
            if (*q == '=') {
                q++;
                while (*q == ' ')
                    q++;
                put(&o, end_out, p, (size_t)(q - p));
                put(&o, end_out, "***", 3);
                if (*q == '\'') { /* a quoted value, with \' escapes */
                    for (q++; *q && *q != '\''; q++)
                        if (*q == '\\' && q[1]) q++;
                    if (*q) q++;
                } else {
                    while (*q && *q != ' ' && *q != '&' && *q != '"' && *q != '\n')
                        q++;
                }
                p = q;
                continue;
            }
        }
        *o++ = *p++;
    }
    *o = '\0';
}

static int is_class(const char *sqlstate, const char *cls) { return !strncmp(sqlstate, cls, 2); }

sentinel_err_t sentinel_db_classify_sqlstate(const char *sqlstate) {
    if (!sqlstate || strlen(sqlstate) != 5) return SENTINEL_ERR_RETRIABLE;
    /* Not about the data: the server, the network, contention, resources. */
    if (is_class(sqlstate, "08") ||   /* connection exception */
        is_class(sqlstate, "40") ||   /* serialization failure, deadlock */
        is_class(sqlstate, "53") ||   /* insufficient resources: disk full, memory */
        is_class(sqlstate, "57") ||   /* shutdown, cancelled, cannot connect now */
        is_class(sqlstate, "58") ||   /* system error: I/O */
        is_class(sqlstate, "XX") ||   /* internal error */
        !strcmp(sqlstate, "55P03") || /* lock not available (lock_timeout) */
        !strcmp(sqlstate, "55006") || /* object in use */
        !strcmp(sqlstate, "25P03") || /* idle in transaction timeout */
        !strcmp(sqlstate, "42501"))   /* insufficient privilege: a grant to fix */
        return SENTINEL_ERR_RETRIABLE;
    /* The statement or the deployment: undefined table or column, syntax,
     * a missing feature, a bad transaction state or authorization. */
    if (is_class(sqlstate, "42") || is_class(sqlstate, "0A") || is_class(sqlstate, "3D") ||
        is_class(sqlstate, "3F") || is_class(sqlstate, "28") || is_class(sqlstate, "25") ||
        is_class(sqlstate, "26") || is_class(sqlstate, "34"))
        return SENTINEL_ERR_FATAL;
    /* The rest is about the data: data exceptions (22), integrity (23),
     * cardinality (21), program limits such as an index row too large
     * (54), errors raised by triggers (P0), ... */
    return SENTINEL_ERR_INVALID;
}

sentinel_err_t sentinel_db_classify(const PGconn *conn, const PGresult *res) {
    if (!conn || PQstatus(conn) != CONNECTION_OK) return SENTINEL_ERR_RETRIABLE;
    if (!res) return SENTINEL_ERR_RETRIABLE;
    switch (PQresultStatus(res)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_SINGLE_TUPLE: return SENTINEL_OK;
    default: break;
    }
    return sentinel_db_classify_sqlstate(PQresultErrorField(res, PG_DIAG_SQLSTATE));
}

void sentinel_db_errstr(const PGconn *conn, const PGresult *res, char *errstr, size_t errstr_size) {
    /* The server's primary message, without "ERROR:" and the DETAIL lines
     * that quote row data; libpq's own text when there is none. */
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg || !*msg) msg = res ? PQresultErrorMessage(res) : "";
    if (!msg || !*msg) msg = conn ? PQerrorMessage(conn) : "no connection";
    if (!msg || !*msg) msg = "unknown PostgreSQL error";
    /* libpq quotes a malformed connection string whole, password and all. */
    sentinel_db_redact(msg, errstr, errstr_size);
    size_t n = strlen(errstr);
    while (n > 0 && (errstr[n - 1] == '\n' || errstr[n - 1] == ' '))
        errstr[--n] = '\0';
}

sentinel_err_t sentinel_db_exec(PGconn *conn, const char *sql, char *errstr, size_t errstr_size) {
    PGresult *res = PQexec(conn, sql);
    sentinel_err_t err = sentinel_db_classify(conn, res);
    if (err != SENTINEL_OK) sentinel_db_errstr(conn, res, errstr, errstr_size);
    PQclear(res);
    return err;
}

sentinel_err_t sentinel_db_select(PGconn *conn, const char *sql, int n, const char *const *params,
                                  void (*row)(PGresult *res, int r, void *opaque), void *opaque,
                                  char *errstr, size_t errstr_size) {
    PGresult *res = NULL;
    sentinel_err_t err = sentinel_db_params(conn, sql, n, params, &res, errstr, errstr_size);
    if (err) return err;
    for (int r = 0; row && r < PQntuples(res); r++)
        row(res, r, opaque);
    PQclear(res);
    return SENTINEL_OK;
}

sentinel_err_t sentinel_db_params(PGconn *conn, const char *sql, int n, const char *const *params,
                                  PGresult **out, char *errstr, size_t errstr_size) {
    PGresult *res = run_statement(conn, sql, n, params);
    sentinel_err_t err = sentinel_db_classify(conn, res);
    if (err) {
        sentinel_db_errstr(conn, res, errstr, errstr_size);
        PQclear(res);
        return err;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return SENTINEL_OK;
}
