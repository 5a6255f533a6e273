/* error.c -- names of the error classes. */
#include <sentinel/sentinel.h>

const char *sentinel_err_name(sentinel_err_t err) {
    switch (err) {
    case SENTINEL_OK: return "ok";
    case SENTINEL_ERR_RETRIABLE: return "retriable";
    case SENTINEL_ERR_INVALID: return "invalid";
    case SENTINEL_ERR_FATAL: return "fatal";
    }
    return "unknown";
}
