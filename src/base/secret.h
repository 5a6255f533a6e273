/* secret.h -- the process's secrets (passwords from connection strings,
 * Kafka credentials), so that no text the process prints shows them:
 * redaction by what a secret is, not only by where it sits. */
#ifndef SENTINEL_SECRET_H
#define SENTINEL_SECRET_H

#include <stddef.h>

/* Remember `value` (n bytes; copied) as a secret. Thread-safe; values
 * already known, empty ones and those past the table's bound (64) are
 * ignored: scrubbing then falls back on the positional rules of the
 * callers. */
void sentinel_secret_add(const char *value, size_t n);

/* Copy `text` to out (size bytes, always terminated) with every known
 * secret in it replaced by "***". A cut never leaves part of a secret. */
void sentinel_secret_scrub(const char *text, char *out, size_t size);

/* Forget every secret (tests). */
void sentinel_secret_clear(void);

#endif
