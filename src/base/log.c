/* log.c -- leveled logging to stderr with a UTC timestamp. */
#include "base/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/secret.h"
#include "base/timestamp.h"
#include "base/utf8.h"

static sentinel_log_level_t log_level = SENTINEL_LOG_INFO;
static int log_json;
static const char *log_command = "";
static const char *const *log_subjects;

int sentinel_log_set_format(const char *format) {
    if (!strcmp(format, "text"))
        log_json = 0;
    else if (!strcmp(format, "json"))
        log_json = 1;
    else
        return -1;
    return 0;
}

void sentinel_log_set_context(const char *command, const char *const *subjects) {
    log_command = command ? command : "";
    log_subjects = subjects;
}

/* The subject a message starts with ("runs: ..."), or NULL. */
static const char *subject_of(const char *msg) {
    for (size_t i = 0; log_subjects && log_subjects[i]; i++) {
        size_t n = strlen(log_subjects[i]);
        if (!strncmp(msg, log_subjects[i], n) && msg[n] == ':' && msg[n + 1] == ' ')
            return log_subjects[i];
    }
    return NULL;
}

void sentinel_log_set_level(sentinel_log_level_t level) { log_level = level; }

void sentinel_log_init(void) {
    /* Each on its own: the format does not wait for a level. */
    const char *format = getenv("SENTINEL_LOG_FORMAT");
    if (format && *format) (void)sentinel_log_set_format(format);
    const char *v = getenv("SENTINEL_LOG_LEVEL");
    if (!v) return;
    if (!strcmp(v, "debug"))
        log_level = SENTINEL_LOG_DEBUG;
    else if (!strcmp(v, "info"))
        log_level = SENTINEL_LOG_INFO;
    else if (!strcmp(v, "warn"))
        log_level = SENTINEL_LOG_WARN;
    else if (!strcmp(v, "error"))
        log_level = SENTINEL_LOG_ERROR;
}

int sentinel_log_json(void) { return log_json; }

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* One line out: text (stamped or bare) with control characters escaped, or
 * one JSON object. Known secrets are scrubbed from both. */
static void emit(sentinel_log_level_t level, int stamped, const char *fmt, va_list ap) {
    int64_t now = sentinel_wall_micros();
    time_t seconds = (time_t)(now / 1000000);
    struct tm tm;
    char stamp[32], time_text[48];
    gmtime_r(&seconds, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(time_text, sizeof(time_text), "%s.%03ldZ", stamp, (long)(now % 1000000 / 1000));

    char raw[2048], msg[2048];
    sentinel_utf8_vformat(raw, sizeof(raw), fmt, ap); /* a cut never splits a character */
    size_t len = strlen(raw);
    while (len && raw[len - 1] == '\n')
        raw[--len] = '\0';
    sentinel_secret_scrub(raw, msg, sizeof(msg));
    sentinel_utf8_trim(msg);
    /* One fprintf per line so concurrent writers do not interleave. */
    if (!log_json) {
        char safe[4 * sizeof(msg)];
        sentinel_utf8_escape_controls(msg, safe, sizeof(safe));
        if (stamped)
            fprintf(stderr, "%s %-5s %s\n", time_text, level_names[level], safe);
        else
            fprintf(stderr, "%s\n", safe);
        return;
    }
    const char *subject = subject_of(msg);
    json_t *line = json_pack("{s:s, s:s, s:s?, s:s, s:{s:I, s:s}}", "time", time_text, "level",
                             level_names[level], "projector", subject, "message",
                             subject ? msg + strlen(subject) + 2 : msg, "fields", "pid",
                             (json_int_t)getpid(), "command", log_command);
    if (!line)
        line = json_pack("{s:s, s:s, s:s}", "time", time_text, "level", level_names[level],
                         "message", "(a log message that is not valid UTF-8)");
    char *text = json_dumps(line, JSON_COMPACT);
    fprintf(stderr, "%s\n", text);
    free(text);
    json_decref(line);
}

void sentinel_log(sentinel_log_level_t level, const char *fmt, ...) {
    if (level < log_level) return;
    va_list ap;
    va_start(ap, fmt);
    emit(level, 1, fmt, ap);
    va_end(ap);
}

void sentinel_log_print(sentinel_log_level_t level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    emit(level, 0, fmt, ap);
    va_end(ap);
}
