/* auth.h -- who may publish through the gateway: credentials found by the
 * SHA-256 of their token, repositories' installations, and a limit on the
 * failed authentications of each client address. What the database says
 * is cached briefly (a revocation takes effect within
 * INGEST_AUTH_FRESH_SECONDS plus one lookup); memory is fixed: every cache
 * is a table of slots. Thread-safe. */
#ifndef SENTINEL_INGEST_AUTH_H
#define SENTINEL_INGEST_AUTH_H

#include <stddef.h>
#include <sys/socket.h>

#include <sentinel/sentinel.h>

#define INGEST_AUTH_FRESH_SECONDS 2.0 /* a cached credential is looked up again after this */
#define INGEST_AUTH_STALE_SECONDS 5.0 /* ...and used no longer, when the database is down */
#define INGEST_AUTH_FAILURES 20       /* failed authentications an address may make... */
#define INGEST_AUTH_WINDOW_SECONDS 10 /* ...in this long, before it is refused (429) */

typedef struct ingest_credential {
    char id[SENTINEL_UUID_LEN + 1];
    char workspace_id[SENTINEL_UUID_LEN + 1];
    char installation_id[SENTINEL_UUID_LEN + 1]; /* "" when not bound to one */
} ingest_credential_t;

typedef enum ingest_auth_result {
    INGEST_AUTH_OK,
    INGEST_AUTH_REFUSED,     /* no such token, or revoked */
    INGEST_AUTH_UNAVAILABLE, /* the database does not answer */
} ingest_auth_result_t;

typedef struct ingest_auth ingest_auth_t;

/* new: checks the connection string only; connects when first needed. */
ingest_auth_t *ingest_auth_new(const char *db_url, int connect_timeout, char *errstr,
                               size_t errstr_size);
void ingest_auth_destroy(ingest_auth_t *auth);

/* The credential of a token (the text after "Bearer "). On OK, *out is
 * set and the credential's last-used time is written (at most once per
 * INGEST_AUTH_FRESH_SECONDS). */
ingest_auth_result_t ingest_auth_check(ingest_auth_t *auth, const char *token, size_t len,
                                       ingest_credential_t *out);

/* Look the repositories ids[0..n) up at once (one query for those not
 * cached), so that ingest_auth_repository answers each from the cache:
 * OK, or UNAVAILABLE. */
ingest_auth_result_t ingest_auth_repositories(ingest_auth_t *auth, const char *const *ids,
                                              size_t n);

/* The installation and workspace of a repository: OK (set), REFUSED (no
 * such repository), UNAVAILABLE. */
ingest_auth_result_t ingest_auth_repository(ingest_auth_t *auth, const char *repository_id,
                                            char *installation_id, char *workspace_id);

/* Failed authentications per client address: blocked says whether the
 * address is over the limit now (and for how many more seconds);
 * failed counts one more. */
int ingest_auth_blocked(ingest_auth_t *auth, const struct sockaddr *addr, int *retry_after);
void ingest_auth_failed(ingest_auth_t *auth, const struct sockaddr *addr);

/* Whether the last lookup reached the database (1 before the first). */
int ingest_auth_reachable(ingest_auth_t *auth);

#endif
