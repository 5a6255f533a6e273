/* hash.h -- a keyed hash (SipHash-2-4, libsodium's crypto_shorthash) with
 * a key drawn once per process from the OS's random source: tables that
 * input fills cannot be flooded with keys crafted to collide. */
#ifndef SENTINEL_HASH_H
#define SENTINEL_HASH_H

#include <stddef.h>
#include <stdint.h>

/* The keyed hash of n bytes. Thread-safe. */
uint64_t sentinel_hash(const void *p, size_t n);

#endif
