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
#include "base/log.h"
#include "base/secret.h"
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

/* Where s keeps sql: its index, or s->n when it is not there. */
static int statement_index(const statements_t *s, const char *sql) {
    uint64_t h = text_hash(sql);
    int i;
    for (i = 0; i < s->n; i++)
        if (s->list[i].hash == h && !strcmp(s->list[i].sql, sql)) break;
    return i;
}

/* Run sql with text parameters as a statement prepared on conn (prepared
 * now if it is new there), or unnamed when conn keeps no statements or has
 * as many as it may. */
static PGresult *run_statement(PGconn *conn, const char *sql, int n, const char *const *params) {
    statements_t *s = PQinstanceData(conn, statements_event);
    if (!s) return PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    int i = statement_index(s, sql);
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
        s->list[s->n++] = (statement_t){text_hash(sql), copy};
    }
    return PQexecPrepared(conn, name, n, params, NULL, NULL, 0);
}

/* ---------------------------------------------------------------- pipelines */

/* A command sent in a pipeline: statement i's Prepare (making cache slot
 * `slot`) or its execution. */
typedef struct sent {
    int statement;
    int slot; /* >= 0: a Prepare that fills this slot of the cache */
} sent_t;

/* The slot conn's cache has or will have (pending: the slots this
 * pipeline prepares) for sql; -1 when it keeps none or is full. */
static int slot_of(const statements_t *s, const sentinel_statement_t *list, const int *pending,
                   int n_pending, const char *sql, int *is_new) {
    *is_new = 0;
    if (!s) return -1;
    int i = statement_index(s, sql);
    if (i < s->n) return i;
    for (int k = 0; k < n_pending; k++)
        if (!strcmp(list[pending[k]].sql, sql)) return s->n + k;
    if (s->n + n_pending >= STATEMENTS_MAX) return -1;
    *is_new = 1;
    return s->n + n_pending;
}

sentinel_err_t sentinel_db_pipeline(PGconn *conn, int n, const sentinel_statement_t *statements,
                                    PGresult **results, char *errstr, size_t errstr_size) {
    statements_t *cache = PQinstanceData(conn, statements_event);
    sent_t *sent = sentinel_calloc((size_t)(2 * n + 1), sizeof(*sent));
    int *pending = sentinel_calloc((size_t)(n + 1), sizeof(*pending)); /* statements prepared now */
    PGresult **out = sentinel_calloc((size_t)(n + 1), sizeof(*out));
    sentinel_err_t err = SENTINEL_OK;
    int n_sent = 0, n_pending = 0, entered = PQenterPipelineMode(conn) == 1, ok = entered;
    for (int i = 0; ok && i < n; i++) {
        const sentinel_statement_t *st = &statements[i];
        int is_new, slot = slot_of(cache, statements, pending, n_pending, st->sql, &is_new);
        char name[24];
        snprintf(name, sizeof(name), "sentinel_%d", slot);
        if (is_new) {
            ok = PQsendPrepare(conn, name, st->sql, st->n_params, NULL) == 1;
            if (!ok) break;
            sent[n_sent++] = (sent_t){i, slot};
            pending[n_pending++] = i;
        }
        ok = slot >= 0 ? PQsendQueryPrepared(conn, name, st->n_params, st->params, st->lengths,
                                             st->formats, 0) == 1
                       : PQsendQueryParams(conn, st->sql, st->n_params, NULL, st->params,
                                           st->lengths, st->formats, 0) == 1;
        if (ok) sent[n_sent++] = (sent_t){i, -1};
    }
    if (!ok) {
        err = SENTINEL_ERR_RETRIABLE; /* libpq could not send: the connection is in trouble */
        sentinel_db_errstr(conn, NULL, errstr, errstr_size);
    }
    if (entered && PQpipelineSync(conn) == 1) {
        /* Each command's results end with a NULL; the sync point's result
         * ends the pipeline. */
        for (int command = 0;;) {
            PGresult *res = PQgetResult(conn);
            if (!res) {
                if (++command > n_sent + 1) break; /* nothing more comes: connection lost */
                continue;
            }
            ExecStatusType status = PQresultStatus(res);
            if (status == PGRES_PIPELINE_SYNC) {
                PQclear(res);
                break;
            }
            if (command >= n_sent || status == PGRES_PIPELINE_ABORTED) {
                PQclear(res); /* after a failure: it did not run */
                continue;
            }
            const sent_t *c = &sent[command];
            sentinel_err_t class = sentinel_db_classify(conn, res);
            if (class && !err) {
                err = class;
                sentinel_db_errstr(conn, res, errstr, errstr_size);
            }
            if (!class && c->slot >= 0 && cache && c->slot == cache->n) {
                /* Prepared: the cache has it under that name from now on. */
                const char *sql = statements[c->statement].sql;
                cache->list[cache->n++] = (statement_t){text_hash(sql), sentinel_strdup(sql)};
            }
            if (!class && c->slot < 0 && !out[c->statement])
                out[c->statement] = res;
            else
                PQclear(res);
        }
    }
    if (!entered || PQexitPipelineMode(conn) != 1) {
        if (!err) {
            err = SENTINEL_ERR_RETRIABLE;
            sentinel_db_errstr(conn, NULL, errstr, errstr_size);
        }
        /* Commands stay queued that will never complete. Where a write
         * the dead server reset came back as the failure, with its last
         * notice read but not the socket's end, libpq still says
         * CONNECTION_OK: reading once more lets it see the end. */
        if (entered) (void)PQconsumeInput(conn);
    }
    for (int i = 0; i < n; i++) {
        if (results && !err)
            results[i] = out[i];
        else
            PQclear(out[i]);
    }
    if (results && err) memset(results, 0, (size_t)n * sizeof(*results));
    free(out);
    free(pending);
    free(sent);
    return err;
}

int sentinel_db_usable(const PGconn *conn) {
    return conn && PQstatus(conn) == CONNECTION_OK && PQpipelineStatus(conn) == PQ_PIPELINE_OFF &&
           PQtransactionStatus(conn) != PQTRANS_ACTIVE;
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

/* ---------------------------------------------------------------- connection strings */

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Remember [p, p + n) as a secret as written, and percent-decoded when that
 * differs (escapes that do not decode stay as they are). */
static void add_written_secret(const char *p, size_t n, int percent) {
    sentinel_secret_add(p, n);
    if (!percent || !memchr(p, '%', n)) return;
    char *decoded = sentinel_malloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (p[i] == '%' && i + 2 < n && (hi = hex_value(p[i + 1])) >= 0 &&
            (lo = hex_value(p[i + 2])) >= 0 && (hi || lo)) {
            decoded[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            decoded[o++] = p[i];
        }
    }
    sentinel_secret_add(decoded, o);
    free(decoded);
}

/* The passwords of `url` as written, found by where they sit, whether or
 * not the string parses: URI user info, URI query and key=value settings. */
static void add_written_passwords(const char *url) {
    const char *scheme = strstr(url, "://");
    if (scheme) {
        const char *info = scheme + 3, *at = info;
        while (*at && *at != '@' && *at != '/')
            at++;
        const char *colon = *at == '@' ? memchr(info, ':', (size_t)(at - info)) : NULL;
        if (colon) add_written_secret(colon + 1, (size_t)(at - colon - 1), 1);
    }
    for (const char *p = url; (p = strcasestr(p, "password")); p += 8) {
        if (p > url && (isalnum((unsigned char)p[-1]) || p[-1] == '_')) continue;
        const char *q = p + 8;
        while (*q == ' ')
            q++;
        if (*q != '=') continue;
        for (q++; *q == ' '; q++)
            ;
        if (*q == '\'') { /* quoted: to the closing quote, or the end when unclosed */
            const char *v = ++q;
            while (*q && *q != '\'')
                q += *q == '\\' && q[1] ? 2 : 1;
            add_written_secret(v, (size_t)(q - v), 0);
            /* and unescaped, as libpq reads it */
            char *plain = sentinel_malloc((size_t)(q - v) + 1);
            size_t o = 0;
            for (const char *c = v; c < q; c++)
                plain[o++] = *c == '\\' && c + 1 < q ? *++c : *c;
            sentinel_secret_add(plain, o);
            free(plain);
        } else {
            const char *v = q;
            while (*q && *q != ' ' && *q != '&' && *q != '\n' && *q != '\t')
                q++;
            add_written_secret(v, (size_t)(q - v), scheme != NULL);
        }
    }
}

/* What is wrong with a connection string, in words that quote none of it
 * (libpq's own message quotes it, password and all). */
static const char *parse_failure(const char *libpq_message) {
    static const char *const kinds[][2] = {
        {"invalid percent-encoded token", "bad percent-encoding"},
        {"forbidden value %00", "%00 in a percent-encoded value"},
        {"unterminated quoted string", "a quote that is not closed"},
        {"missing \"=\"", "a setting without \"=\""},
        {"matching \"]\"", "a [ that is not closed in the host"},
        {"IPv6 host address may not be empty", "an empty IPv6 host"},
        {"unexpected character", "an unexpected character in the URI"},
        {"URI query parameter", "a malformed URI query parameter"},
        {"invalid connection option", "an unknown option"},
        {"invalid URI", "not a postgresql:// URI"},
    };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strstr(libpq_message, kinds[i][0])) return kinds[i][1];
    return "malformed";
}

/* What the server says outside a result (a notice, a session ended by an
 * administrator) goes through the log, as every other line: JSON when it
 * is JSON, its control characters escaped. */
static void notice(void *arg, const char *message) {
    (void)arg;
    char text[1024];
    sentinel_db_redact(message, text, sizeof(text));
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
        text[--n] = '\0';
    sentinel_warn("postgres: %s", text);
}

sentinel_err_t sentinel_db_conninfo_check(const char *url, char *errstr, size_t errstr_size) {
    if (!url || !*url) return SENTINEL_OK;
    add_written_passwords(url);
    char *why = NULL;
    PQconninfoOption *options = PQconninfoParse(url, &why);
    if (!options) {
        snprintf(errstr, errstr_size,
                 "the connection string cannot be parsed: %s (it is not shown, as it may hold a "
                 "password)",
                 why ? parse_failure(why) : "out of memory");
        PQfreemem(why);
        return SENTINEL_ERR_FATAL;
    }
    for (PQconninfoOption *o = options; o->keyword; o++)
        if (!strcmp(o->keyword, "password") && o->val) sentinel_secret_add(o->val, strlen(o->val));
    PQconninfoFree(options);
    return SENTINEL_OK;
}

PGconn *sentinel_db_open(const char *url, int connect_timeout, sentinel_err_t *class, char *errstr,
                         size_t errstr_size) {
    if (class) *class = SENTINEL_OK;
    if (sentinel_db_conninfo_check(url, errstr, errstr_size)) {
        if (class) *class = SENTINEL_ERR_FATAL;
        return NULL;
    }
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
    if (PQstatus(conn) != CONNECTION_OK) {
        sentinel_db_errstr(conn, NULL, errstr, errstr_size);
        if (class) *class = classify_connect_failure(errstr);
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, notice, NULL);
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
    /* By what the secrets are first, then by where a password sits. */
    char *scrubbed = sentinel_malloc(strlen(text) * 3 + 1);
    sentinel_secret_scrub(text, scrubbed, strlen(text) * 3 + 1);
    char *o = out;
    const char *end_out = out + size - 1;
    const char *p = scrubbed;
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
        if (!strncasecmp(p, "password", 8) && (p == scrubbed || !isalnum((unsigned char)p[-1]))) {
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
    free(scrubbed);
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
    /* One line: libpq continues a message on a new, indented line. */
    char *w = errstr;
    for (const char *r = errstr; *r; r++) {
        if (*r == '\n') {
            while (r[1] == '\t' || r[1] == ' ')
                r++;
            *w++ = ' ';
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

sentinel_err_t sentinel_db_exec(PGconn *conn, const char *sql, char *errstr, size_t errstr_size) {
    PGresult *res = PQexec(conn, sql);
    sentinel_err_t err = sentinel_db_classify(conn, res);
    if (err != SENTINEL_OK) {
        sentinel_db_errstr(conn, res, errstr, errstr_size);
    } else if ((!strncasecmp(sql, "COMMIT", 6) || !strncasecmp(sql, "END", 3)) &&
               !strcmp(PQcmdStatus(res), "ROLLBACK")) {
        /* The server answers COMMIT in a failed transaction with ROLLBACK:
         * nothing was committed, whatever the status says. */
        snprintf(errstr, errstr_size,
                 "COMMIT was answered with ROLLBACK: a statement of the transaction had failed");
        err = SENTINEL_ERR_INVALID;
    }
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
