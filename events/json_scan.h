/* json_scan.h -- private to the event layer (events/): JSON text scanned
 * without a tree, by jansson's grammar. The scanner checks what jansson
 * checks (UTF-8, escapes and surrogates, depth, duplicate keys, numbers
 * that overflow) and leaves tokens that point into the text; strings are
 * decoded, and containers compacted, only when asked. json_avro.c builds
 * the one-pass encoder on it; validate.c checks JSON text read from the
 * topic with it. Nothing here knows events. */
#ifndef SENTINEL_EVENTS_JSON_SCAN_H
#define SENTINEL_EVENTS_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH: values nest at most this deep */

enum token_kind { JT_STRING, JT_NUMBER, JT_TRUE, JT_FALSE, JT_NULL, JT_OBJECT, JT_ARRAY };

enum token_flags {
    JF_ESCAPED = 1, /* a string with escapes: decode it before use */
    JF_REAL = 2,    /* a number with a fraction or an exponent */
    JF_REWRITE = 4, /* a container with whitespace or escapes: compact it */
};

typedef struct json_token {
    const char *start; /* strings: after the opening quote; else the first byte */
    size_t len;        /* strings: up to the closing quote */
    unsigned char kind, flags;
} json_token_t;

typedef struct json_member {
    json_token_t key, value;
} json_member_t;

/* The scanner's buffers, reused from one text to the next. */
typedef struct json_scan json_scan_t;

/* A position in a text being scanned. */
typedef struct json_cursor {
    const char *p, *end;
    json_scan_t *st;
} json_cursor_t;

/* The scanner of *slot (made on first use), reset for a new text. */
json_scan_t *json_scan_begin(json_scan_t **slot);
void json_scan_free(json_scan_t *st);

/* Skip whitespace; 1 if there was any. Inline: it runs between every two
 * tokens, and most often finds none. */
static inline int json_skip_ws(json_cursor_t *s) {
    const char *from = s->p;
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\t' || *s->p == '\r'))
        s->p++;
    return s->p != from;
}
/* A string at s->p (its opening quote): 0, or -1 when it breaks the grammar. */
int json_scan_string(json_cursor_t *s, json_token_t *tok);
/* Any value at s->p, nested `depth` deep (the outermost value is 1). */
int json_scan_value(json_cursor_t *s, int depth, json_token_t *tok);
/* Keep a member of an object (the caller's to read back with json_members). */
void json_add_member(json_scan_t *st, const json_token_t *key, const json_token_t *value);
const json_member_t *json_members(const json_scan_t *st, size_t *count);

/* A string token's value: in place when unescaped (not NUL-terminated),
 * else decoded into a buffer the next call reuses. */
const char *json_string_text(json_scan_t *st, const json_token_t *tok, size_t *len);
/* A number token's value: an integer as strtoll reads it, a real as
 * strtod does; -1 when it is not one or does not fit. */
int json_token_integer(const json_token_t *tok, int64_t *out);
int json_token_real(const json_token_t *tok, double *out);
/* A container's compact text (see json_scan.c), in a buffer the next call reuses. */
const char *json_compact(json_scan_t *st, const json_token_t *tok, size_t *len);

/* Is `text` one JSON object ('{') or array ('['), as jansson reads it,
 * repeated keys allowed? Its kind, or -1. */
int json_scan_text_kind(json_scan_t **slot, const char *text, size_t len);

#endif
