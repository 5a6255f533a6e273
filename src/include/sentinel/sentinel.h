/* sentinel.h -- common vocabulary of the Sentinel event engine library:
 * version, error classes and the attribute that makes callers check them.
 *
 * The headers of this folder (src/include/sentinel/) are the library's
 * public API, the only ones `cmake --install` installs: this one, conf.h
 * (connection settings), event.h (the catalog, events and their codec),
 * publisher.h (producing events) and projector.h (writing a projector).
 * They include no third-party header but libpq's, in projector.h. */
#ifndef SENTINEL_H
#define SENTINEL_H

#include <stddef.h>

#define SENTINEL_VERSION "0.1.0"

/* Characters of a UUID in text, 8-4-4-4-12 hex digits. */
#define SENTINEL_UUID_LEN 36

/* What the shared library exports: the functions and data these headers
 * declare; everything else in it is hidden. */
#define SENTINEL_API __attribute__((visibility("default")))

/* Fallible functions return an sentinel_err_t and must be checked. */
#define SENTINEL_MUSTCHECK __attribute__((warn_unused_result))
#define SENTINEL_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

/* Error classes, decided at the boundary where the error is seen:
 *  - RETRIABLE: try again after a backoff (Kafka retriable errors,
 *    PostgreSQL SQLSTATE class 40, a lost connection);
 *  - INVALID: the input is permanently bad (an event goes to dead letters);
 *  - FATAL: stop the process, the reason goes to stderr. */
typedef enum sentinel_err {
    SENTINEL_OK = 0,
    SENTINEL_ERR_RETRIABLE = 1,
    SENTINEL_ERR_INVALID = 2,
    SENTINEL_ERR_FATAL = 3,
} sentinel_err_t;

/* Name of an error class, for logs ("retriable", "invalid", "fatal"). */
SENTINEL_API const char *sentinel_err_name(sentinel_err_t err);

#endif
