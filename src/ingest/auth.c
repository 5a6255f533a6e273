/* auth.c -- credentials, repositories and failed authentications, cached
 * in tables of fixed size in front of one PostgreSQL connection (as
 * sentinel_ingest: it reads both maps and writes last-used times only). */
#include "ingest/auth.h"

#include <libpq-fe.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/timestamp.h"
#include "pg/array.h"
#include "pg/db.h"

#define CREDENTIAL_SLOTS 1024
#define REPOSITORY_SLOTS 4096
#define ADDRESS_SLOTS 4096
#define REPOSITORY_FRESH_SECONDS 10.0

typedef struct credential_slot {
    unsigned char digest[crypto_hash_sha256_BYTES];
    ingest_credential_t credential;
    double fetched; /* monotonic; 0: empty */
} credential_slot_t;

typedef struct repository_slot {
    char id[SENTINEL_UUID_LEN + 1];
    char installation_id[SENTINEL_UUID_LEN + 1]; /* "": no such repository */
    char workspace_id[SENTINEL_UUID_LEN + 1];
    double fetched;
} repository_slot_t;

typedef struct address_slot {
    unsigned char addr[16];
    int family;
    double window_start;
    unsigned failures;
} address_slot_t;

struct ingest_auth {
    char *db_url;
    int connect_timeout;
    pthread_mutex_t db_lock; /* the connection */
    PGconn *pg;
    double connect_after; /* monotonic: no new connection before (db_lock) */
    int reachable;
    pthread_mutex_t lock; /* the tables */
    credential_slot_t credentials[CREDENTIAL_SLOTS];
    repository_slot_t repositories[REPOSITORY_SLOTS];
    address_slot_t addresses[ADDRESS_SLOTS];
};

ingest_auth_t *ingest_auth_new(const char *db_url, int connect_timeout, char *errstr,
                               size_t errstr_size) {
    if (sentinel_db_conninfo_check(db_url, errstr, errstr_size)) return NULL;
    ingest_auth_t *auth = sentinel_calloc(1, sizeof(*auth));
    auth->db_url = sentinel_strdup(db_url ? db_url : "");
    auth->connect_timeout = connect_timeout;
    auth->reachable = 1;
    pthread_mutex_init(&auth->db_lock, NULL);
    pthread_mutex_init(&auth->lock, NULL);
    return auth;
}

void ingest_auth_destroy(ingest_auth_t *auth) {
    if (!auth) return;
    if (auth->pg) PQfinish(auth->pg);
    pthread_mutex_destroy(&auth->db_lock);
    pthread_mutex_destroy(&auth->lock);
    sodium_memzero(auth->credentials, sizeof(auth->credentials));
    free(auth->db_url);
    free(auth);
}

int ingest_auth_reachable(ingest_auth_t *auth) {
    return __atomic_load_n(&auth->reachable, __ATOMIC_RELAXED);
}

/* Run one statement of one parameter on the connection, (re)connecting
 * first when needed. The result, or NULL (logged) when the database does
 * not answer. (db_lock held) */
static PGresult *query(ingest_auth_t *auth, const char *sql, const char *param) {
    char errstr[1024];
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!auth->pg || PQstatus(auth->pg) != CONNECTION_OK) {
            if (auth->pg) PQfinish(auth->pg);
            auth->pg = NULL;
            /* A second after a failed connection, requests are answered 503
             * at once rather than each waiting for a database that is away. */
            double now = sentinel_monotonic_seconds();
            if (now < auth->connect_after) return NULL; /* logged when it failed */
            auth->pg =
                sentinel_db_open(auth->db_url, auth->connect_timeout, NULL, errstr, sizeof(errstr));
            if (!auth->pg) {
                auth->connect_after = sentinel_monotonic_seconds() + 1.0;
                break;
            }
        }
        PGresult *res = PQexecParams(auth->pg, sql, 1, NULL, &param, NULL, NULL, 0);
        ExecStatusType status = PQresultStatus(res);
        if (status == PGRES_TUPLES_OK) {
            __atomic_store_n(&auth->reachable, 1, __ATOMIC_RELAXED);
            return res;
        }
        sentinel_db_errstr(auth->pg, res, errstr, sizeof(errstr));
        PQclear(res);
        if (PQstatus(auth->pg) == CONNECTION_OK) break; /* the statement, not the link */
    }
    sentinel_log(SENTINEL_LOG_ERROR, "ingest: credentials cannot be checked: %s", errstr);
    __atomic_store_n(&auth->reachable, 0, __ATOMIC_RELAXED);
    return NULL;
}

static void copy_uuid(char *to, const char *from) {
    snprintf(to, SENTINEL_UUID_LEN + 1, "%s", from ? from : "");
}

ingest_auth_result_t ingest_auth_check(ingest_auth_t *auth, const char *token, size_t len,
                                       ingest_credential_t *out) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)token, len);
    credential_slot_t *slot =
        &auth->credentials[sentinel_hash(digest, sizeof(digest)) % CREDENTIAL_SLOTS];
    double now = sentinel_monotonic_seconds(), age = -1;
    pthread_mutex_lock(&auth->lock);
    if (slot->fetched > 0 && !sodium_memcmp(slot->digest, digest, sizeof(digest))) {
        age = now - slot->fetched;
        *out = slot->credential;
    }
    pthread_mutex_unlock(&auth->lock);
    if (age >= 0 && age < INGEST_AUTH_FRESH_SECONDS) return INGEST_AUTH_OK;

    /* One statement finds it, refuses it when revoked and marks it used. */
    char hex[2 + 2 * sizeof(digest) + 1] = "\\x";
    sodium_bin2hex(hex + 2, sizeof(hex) - 2, digest, sizeof(digest));
    pthread_mutex_lock(&auth->db_lock);
    PGresult *res = query(auth,
                          "UPDATE ingest_credentials SET last_used_at = now() "
                          "WHERE token_sha256 = $1::bytea AND revoked_at IS NULL "
                          "RETURNING id, workspace_id, coalesce(installation_id::text, '')",
                          hex);
    pthread_mutex_unlock(&auth->db_lock);
    if (!res) {
        /* A credential seen moments ago stays good while the database is away. */
        return age >= 0 && age < INGEST_AUTH_STALE_SECONDS ? INGEST_AUTH_OK
                                                           : INGEST_AUTH_UNAVAILABLE;
    }
    ingest_auth_result_t result = INGEST_AUTH_REFUSED;
    pthread_mutex_lock(&auth->lock);
    if (PQntuples(res) == 1) {
        copy_uuid(out->id, PQgetvalue(res, 0, 0));
        copy_uuid(out->workspace_id, PQgetvalue(res, 0, 1));
        copy_uuid(out->installation_id, PQgetvalue(res, 0, 2));
        memcpy(slot->digest, digest, sizeof(digest));
        slot->credential = *out;
        slot->fetched = now;
        result = INGEST_AUTH_OK;
    } else if (!sodium_memcmp(slot->digest, digest, sizeof(digest))) {
        slot->fetched = 0; /* revoked: forget it */
    }
    pthread_mutex_unlock(&auth->lock);
    PQclear(res);
    return result;
}

static repository_slot_t *repository_slot(ingest_auth_t *auth, const char *repository_id) {
    return &auth->repositories[sentinel_hash(repository_id, strlen(repository_id)) %
                               REPOSITORY_SLOTS];
}

/* Whether the cache knows the repository now. (lock held) */
static int repository_cached(ingest_auth_t *auth, const char *repository_id, double now) {
    const repository_slot_t *slot = repository_slot(auth, repository_id);
    return slot->fetched > 0 && now - slot->fetched < REPOSITORY_FRESH_SECONDS &&
           !strcmp(slot->id, repository_id);
}

ingest_auth_result_t ingest_auth_repositories(ingest_auth_t *auth, const char *const *ids,
                                              size_t n) {
    double now = sentinel_monotonic_seconds();
    sentinel_array_t missing = {0};
    pthread_mutex_lock(&auth->lock);
    for (size_t i = 0; i < n; i++)
        if (!repository_cached(auth, ids[i], now)) sentinel_array_add(&missing, ids[i]);
    pthread_mutex_unlock(&auth->lock);
    if (!missing.n) {
        sentinel_array_free(&missing);
        return INGEST_AUTH_OK;
    }
    /* One query for all a request names; those not found are remembered
     * as unknown, so that each event's check is answered from the cache. */
    pthread_mutex_lock(&auth->db_lock);
    PGresult *res = query(auth,
                          "SELECT r.id, coalesce(r.installation_id::text, ''), "
                          "coalesce(r.workspace_id::text, '') "
                          "FROM unnest($1::uuid[]) AS wanted (id) "
                          "LEFT JOIN repositories r USING (id)",
                          sentinel_array_text(&missing));
    pthread_mutex_unlock(&auth->db_lock);
    sentinel_array_free(&missing);
    if (!res) return INGEST_AUTH_UNAVAILABLE;
    pthread_mutex_lock(&auth->lock);
    for (int r = 0; r < PQntuples(res); r++) {
        repository_slot_t *slot = repository_slot(auth, PQgetvalue(res, r, 0));
        copy_uuid(slot->id, PQgetvalue(res, r, 0));
        copy_uuid(slot->installation_id, PQgetvalue(res, r, 1));
        copy_uuid(slot->workspace_id, PQgetvalue(res, r, 2));
        slot->fetched = now;
    }
    pthread_mutex_unlock(&auth->lock);
    PQclear(res);
    return INGEST_AUTH_OK;
}

ingest_auth_result_t ingest_auth_repository(ingest_auth_t *auth, const char *repository_id,
                                            char *installation_id, char *workspace_id) {
    for (int attempt = 0; attempt < 2; attempt++) {
        double now = sentinel_monotonic_seconds();
        int hit = 0;
        pthread_mutex_lock(&auth->lock);
        if (repository_cached(auth, repository_id, now)) {
            const repository_slot_t *slot = repository_slot(auth, repository_id);
            copy_uuid(installation_id, slot->installation_id);
            copy_uuid(workspace_id, slot->workspace_id);
            hit = 1;
        }
        pthread_mutex_unlock(&auth->lock);
        if (hit) return installation_id[0] ? INGEST_AUTH_OK : INGEST_AUTH_REFUSED;
        /* Not cached (or pushed out of its slot): look it up alone. */
        if (attempt == 0 && ingest_auth_repositories(auth, &repository_id, 1))
            return INGEST_AUTH_UNAVAILABLE;
    }
    return INGEST_AUTH_REFUSED;
}

/* The bytes of a client's address (4 or 16) and its family. */
static size_t address_bytes(const struct sockaddr *addr, unsigned char *out, int *family) {
    *family = addr ? addr->sa_family : 0;
    if (*family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)addr)->sin_addr, 4);
        return 4;
    }
    if (*family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)addr)->sin6_addr, 16);
        return 16;
    }
    return 0;
}

/* The address's slot, taken over when another address held it. (lock held) */
static address_slot_t *address_slot(ingest_auth_t *auth, const struct sockaddr *addr, double now) {
    unsigned char bytes[16] = {0};
    int family;
    size_t n = address_bytes(addr, bytes, &family);
    address_slot_t *slot = &auth->addresses[sentinel_hash(bytes, n) % ADDRESS_SLOTS];
    if (slot->family != family || memcmp(slot->addr, bytes, sizeof(bytes))) {
        memcpy(slot->addr, bytes, sizeof(bytes));
        slot->family = family;
        slot->failures = 0;
        slot->window_start = now;
    }
    if (slot->failures && now - slot->window_start >= INGEST_AUTH_WINDOW_SECONDS)
        slot->failures = 0;
    return slot;
}

int ingest_auth_blocked(ingest_auth_t *auth, const struct sockaddr *addr, int *retry_after) {
    double now = sentinel_monotonic_seconds();
    pthread_mutex_lock(&auth->lock);
    address_slot_t *slot = address_slot(auth, addr, now);
    int blocked = slot->failures >= INGEST_AUTH_FAILURES;
    if (blocked) *retry_after = 1 + (int)(slot->window_start + INGEST_AUTH_WINDOW_SECONDS - now);
    pthread_mutex_unlock(&auth->lock);
    return blocked;
}

void ingest_auth_failed(ingest_auth_t *auth, const struct sockaddr *addr) {
    double now = sentinel_monotonic_seconds();
    pthread_mutex_lock(&auth->lock);
    address_slot_t *slot = address_slot(auth, addr, now);
    /* The window starts at an address's first failure, not at whatever
     * request came before it: 20 failures in 10 s are refused however
     * the window fell. */
    if (!slot->failures++) slot->window_start = now;
    pthread_mutex_unlock(&auth->lock);
}
