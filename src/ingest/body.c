/* body.c -- a request body's events, by outline. */
#include "ingest/body.h"

#include <stdio.h>

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static size_t skip_space(const char *s, size_t len, size_t at) {
    while (at < len && is_space(s[at]))
        at++;
    return at;
}

static ingest_body_result_t add(ingest_item_t *items, size_t max_items, size_t *count,
                                const char *text, size_t len, char *errstr, size_t errstr_size) {
    if (*count >= max_items) {
        snprintf(errstr, errstr_size, "more than %zu events in one request", max_items);
        return INGEST_BODY_TOO_MANY;
    }
    items[*count].text = text;
    items[*count].len = len;
    (*count)++;
    return INGEST_BODY_OK;
}

static ingest_body_result_t split_lines(const char *s, size_t len, ingest_item_t *items,
                                        size_t max_items, size_t *count, char *errstr,
                                        size_t errstr_size) {
    size_t first = skip_space(s, len, 0);
    if (first == len || s[first] != '{') {
        snprintf(errstr, errstr_size, "%s",
                 first == len ? "the body holds no event"
                              : "the body is not NDJSON: its first line is no JSON object");
        return INGEST_BODY_NOT_JSON;
    }
    size_t start = 0;
    while (start < len) {
        size_t end = start;
        while (end < len && s[end] != '\n')
            end++;
        size_t a = skip_space(s, end, start), b = end;
        while (b > a && is_space(s[b - 1]))
            b--;
        if (b > a) {
            ingest_body_result_t r =
                add(items, max_items, count, s + a, b - a, errstr, errstr_size);
            if (r) return r;
        }
        start = end + 1;
    }
    return INGEST_BODY_OK;
}

/* The end of the JSON value at s[at] (one past it), by outline: strings
 * with their escapes, nesting of objects and arrays; 0 when it does not
 * end before len. */
static size_t value_end(const char *s, size_t len, size_t at) {
    size_t depth = 0;
    for (size_t i = at; i < len; i++) {
        char c = s[i];
        if (c == '"') {
            for (i++; i < len && s[i] != '"'; i++)
                if (s[i] == '\\') i++;
            if (i >= len) return 0;
            if (!depth) return i + 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (!depth) return i; /* a scalar ends at the array's end */
            if (--depth == 0) return i + 1;
        } else if (!depth && (c == ',' || is_space(c))) {
            return i;
        }
    }
    return depth ? 0 : len;
}

static ingest_body_result_t split_array(const char *s, size_t len, ingest_item_t *items,
                                        size_t max_items, size_t *count, char *errstr,
                                        size_t errstr_size) {
    size_t at = skip_space(s, len, 0);
    if (at == len || s[at] != '[') {
        snprintf(errstr, errstr_size, "the body is not a JSON array of events");
        return INGEST_BODY_NOT_JSON;
    }
    at = skip_space(s, len, at + 1);
    if (at < len && s[at] == ']') {
        at = skip_space(s, len, at + 1);
        if (at == len) {
            snprintf(errstr, errstr_size, "the body holds no event");
            return INGEST_BODY_NOT_JSON;
        }
    }
    for (;;) {
        size_t end = at < len ? value_end(s, len, at) : 0;
        if (!end || end == at) break;
        ingest_body_result_t r =
            add(items, max_items, count, s + at, end - at, errstr, errstr_size);
        if (r) return r;
        at = skip_space(s, len, end);
        if (at < len && s[at] == ',') {
            at = skip_space(s, len, at + 1);
            continue;
        }
        if (at < len && s[at] == ']' && skip_space(s, len, at + 1) == len) return INGEST_BODY_OK;
        break;
    }
    snprintf(errstr, errstr_size,
             "the body is not a JSON array of events: it breaks off at byte %zu", at);
    return INGEST_BODY_NOT_JSON;
}

ingest_body_result_t ingest_body_split(const char *body, size_t len, int ndjson,
                                       ingest_item_t *items, size_t max_items, size_t *count,
                                       char *errstr, size_t errstr_size) {
    *count = 0;
    return ndjson ? split_lines(body, len, items, max_items, count, errstr, errstr_size)
                  : split_array(body, len, items, max_items, count, errstr, errstr_size);
}
