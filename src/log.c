/* log.c -- leveled logging to stderr with a UTC timestamp. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static sentinel_log_level_t log_level = SENTINEL_LOG_INFO;

void sentinel_log_set_level(sentinel_log_level_t level) { log_level = level; }

void sentinel_log_init(void) {
    const char *v = getenv("SENTINEL_LOG_LEVEL");
    if (!v) return;
    if (!strcmp(v, "debug")) log_level = SENTINEL_LOG_DEBUG;
    else if (!strcmp(v, "info")) log_level = SENTINEL_LOG_INFO;
    else if (!strcmp(v, "warn")) log_level = SENTINEL_LOG_WARN;
    else if (!strcmp(v, "error")) log_level = SENTINEL_LOG_ERROR;
}

void sentinel_log(sentinel_log_level_t level, const char *fmt, ...) {
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < log_level) return;

    struct timespec ts;
    struct tm tm;
    char stamp[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

    /* One fprintf per line so concurrent writers do not interleave. */
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03ldZ %-5s %s\n", stamp, ts.tv_nsec / 1000000L, names[level], msg);
}
