/* hash.c -- SipHash with a per-process random key. */
#include "base/hash.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>

static unsigned char hash_key[crypto_shorthash_KEYBYTES];
static pthread_once_t hash_once = PTHREAD_ONCE_INIT;

static void hash_init(void) {
    if (sodium_init() < 0) abort(); /* no random source: nothing is safe */
    randombytes_buf(hash_key, sizeof(hash_key));
}

uint64_t sentinel_hash(const void *p, size_t n) {
    pthread_once(&hash_once, hash_init);
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, p, n, hash_key);
    uint64_t h = 0;
    for (int i = 0; i < 8; i++)
        h |= (uint64_t)out[i] << (8 * i);
    return h;
}
