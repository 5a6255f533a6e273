/* log.h -- leveled logging to stderr with a UTC timestamp. */
#ifndef SENTINEL_LOG_H
#define SENTINEL_LOG_H

#include <sentinel/sentinel.h>

typedef enum sentinel_log_level {
    SENTINEL_LOG_DEBUG = 0,
    SENTINEL_LOG_INFO,
    SENTINEL_LOG_WARN,
    SENTINEL_LOG_ERROR,
} sentinel_log_level_t;

/* Messages below `level` are dropped. Default INFO, or SENTINEL_LOG_LEVEL
 * (debug|info|warn|error) read by sentinel_log_init(). */
void sentinel_log_set_level(sentinel_log_level_t level);
void sentinel_log_init(void);

/* Lines as text (default), or as one JSON object each: {"time", "level",
 * "projector" (when the message is about one of `subjects`), "message",
 * "fields": {"pid", "command"}}. Also SENTINEL_LOG_FORMAT=json, on its own.
 * Either way known secrets (base/secret.h) are scrubbed, and text lines
 * escape control characters. 0, or -1
 * for an unknown format. `subjects` (NULL-terminated, borrowed) are the
 * names a message may start with, as "<name>: ...". */
int sentinel_log_set_format(const char *format);
void sentinel_log_set_context(const char *command, const char *const *subjects);
void sentinel_log(sentinel_log_level_t level, const char *fmt, ...) SENTINEL_PRINTF(2, 3);

/* A command's own message to stderr ("sentinel publish: ..."), whatever the
 * level: the text as is (one line, a trailing newline dropped, control
 * characters escaped), or one JSON object like a log line's. */
void sentinel_log_print(sentinel_log_level_t level, const char *fmt, ...) SENTINEL_PRINTF(2, 3);
/* 1 when lines are JSON. */
int sentinel_log_json(void);

#define sentinel_debug(...) sentinel_log(SENTINEL_LOG_DEBUG, __VA_ARGS__)
#define sentinel_info(...) sentinel_log(SENTINEL_LOG_INFO, __VA_ARGS__)
#define sentinel_warn(...) sentinel_log(SENTINEL_LOG_WARN, __VA_ARGS__)
#define sentinel_error(...) sentinel_log(SENTINEL_LOG_ERROR, __VA_ARGS__)

#endif
