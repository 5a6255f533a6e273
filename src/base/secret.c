/* secret.c -- the process's known secrets, and text scrubbed of them. */
#include "base/secret.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

#define SECRETS_MAX 64

static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char *secrets[SECRETS_MAX]; /* owned, longest first */
static size_t secret_len[SECRETS_MAX];
static int secrets_n;

void sentinel_secret_add(const char *value, size_t n) {
    if (!value || !n) return;
    pthread_mutex_lock(&secrets_lock);
    int known = 0;
    for (int i = 0; i < secrets_n && !known; i++)
        known = secret_len[i] == n && !memcmp(secrets[i], value, n);
    if (!known && secrets_n < SECRETS_MAX) {
        /* Longest first: a secret that contains another is replaced whole. */
        int at = 0;
        while (at < secrets_n && secret_len[at] >= n)
            at++;
        memmove(secrets + at + 1, secrets + at, (size_t)(secrets_n - at) * sizeof(*secrets));
        memmove(secret_len + at + 1, secret_len + at,
                (size_t)(secrets_n - at) * sizeof(*secret_len));
        char *copy = sentinel_malloc(n + 1); /* value need not end in NUL */
        memcpy(copy, value, n);
        copy[n] = '\0';
        secrets[at] = copy;
        secret_len[at] = n;
        secrets_n++;
    }
    pthread_mutex_unlock(&secrets_lock);
}

void sentinel_secret_clear(void) {
    pthread_mutex_lock(&secrets_lock);
    for (int i = 0; i < secrets_n; i++)
        free(secrets[i]);
    secrets_n = 0;
    pthread_mutex_unlock(&secrets_lock);
}

void sentinel_secret_scrub(const char *text, char *out, size_t size) {
    if (!size) return;
    size_t o = 0;
    pthread_mutex_lock(&secrets_lock);
    for (const char *p = text; *p && o + 1 < size;) {
        int hit = -1;
        for (int i = 0; i < secrets_n && hit < 0; i++)
            if (*p == secrets[i][0] && !strncmp(p, secrets[i], secret_len[i])) hit = i;
        if (hit < 0) {
            out[o++] = *p++;
            continue;
        }
        if (o + 3 >= size) break; /* no room for the mark: stop before it */
        memcpy(out + o, "***", 3);
        o += 3;
        p += secret_len[hit];
    }
    pthread_mutex_unlock(&secrets_lock);
    out[o] = '\0';
}
