/* json_avro.c -- one pass from a JSON event to its Avro single-object
 * encoding, with no tree in between.
 *
 * A scanner reads the line once: it checks the JSON grammar exactly as
 * jansson does (UTF-8, escapes, surrogates, depth, duplicate keys, number
 * overflow), and notes where each envelope value and each data member is.
 * The data members are then validated against their schema version's
 * field table (schema_set.h) and written, in schema order, straight into
 * the caller's buffer. JSON-valued fields are copied as the producer wrote
 * them when they are already compact, else compacted; either way numbers
 * keep their text. The reference path (validate.c) agrees on every input:
 * a rejection is explained by it, so messages have one source. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema_set.h"

#define MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH: values nest at most this deep */

enum token_kind { T_STRING, T_NUMBER, T_TRUE, T_FALSE, T_NULL, T_OBJECT, T_ARRAY };

enum token_flags {
    F_ESCAPED = 1, /* a string with escapes: decode it before use */
    F_REAL = 2,    /* a number with a fraction or an exponent */
    F_REWRITE = 4, /* a container with whitespace or escapes: compact it */
};

typedef struct token {
    const char *start; /* strings: after the opening quote; else the first byte */
    size_t len;        /* strings: up to the closing quote */
    unsigned char kind, flags;
} token_t;

typedef struct member {
    token_t key, value;
} member_t;

/* A key seen in an object of the line, for duplicate detection. */
typedef struct key_slot {
    uint32_t object; /* 0: empty */
    uint32_t hash;
    size_t off, len; /* the decoded key in keys */
} key_slot_t;

enum envelope_key {
    K_EVENT_ID,
    K_TYPE,
    K_VERSION,
    K_WORKSPACE_ID,
    K_OCCURRED_AT,
    K_SOURCE,
    K_DATA,
    K_COUNT
};
static const char *const envelope_names[K_COUNT] = {
    "event_id", "type", "version", "workspace_id", "occurred_at", "source", "data"};

struct json_avro {
    member_t *members; /* data members of the current line */
    size_t n_members, members_cap;
    key_slot_t *slots; /* open addressing; slots_cap is a power of two */
    size_t slots_cap, slots_used;
    uint32_t objects; /* objects of the line so far */
    char *keys;       /* decoded keys of the line */
    size_t keys_len, keys_cap;
    char *text; /* a decoded string, one at a time */
    size_t text_cap;
    char *json; /* a compacted JSON value, one at a time */
    size_t json_cap;
    int allow_duplicates; /* checking JSON text from the topic, which may repeat keys */
};

typedef struct scan {
    const char *p, *end;
    json_avro_t *st;
} scan_t;

/* ---------------------------------------------------------------- buffers */

static void *grow(void *ptr, size_t *cap, size_t need, size_t unit) {
    if (need <= *cap) return ptr;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *grown = realloc(ptr, n * unit);
    if (!grown) abort();
    *cap = n;
    return grown;
}

static char *text_room(json_avro_t *st, size_t need) {
    st->text = grow(st->text, &st->text_cap, need, 1);
    return st->text;
}

static void bytes_reserve(sentinel_bytes_t *out, size_t more) {
    out->data = grow(out->data, &out->cap, out->len + more, 1);
}

static void put_byte(sentinel_bytes_t *out, unsigned char b) {
    bytes_reserve(out, 1);
    out->data[out->len++] = b;
}

static void put_long(sentinel_bytes_t *out, int64_t v) {
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    bytes_reserve(out, 10);
    while (u & ~(uint64_t)0x7f) {
        out->data[out->len++] = (unsigned char)((u & 0x7f) | 0x80);
        u >>= 7;
    }
    out->data[out->len++] = (unsigned char)u;
}

static void put_string(sentinel_bytes_t *out, const char *s, size_t n) {
    put_long(out, (int64_t)n);
    bytes_reserve(out, n);
    memcpy(out->data + out->len, s, n);
    out->len += n;
}

static void put_double(sentinel_bytes_t *out, double d) {
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    bytes_reserve(out, 8);
    for (int i = 0; i < 8; i++)
        out->data[out->len++] = (unsigned char)(bits >> (8 * i));
}

/* ---------------------------------------------------------------- the grammar */

enum { C_PLAIN, C_QUOTE, C_BACKSLASH, C_CONTROL, C_HIGH };
static unsigned char char_class[256];

static void init_classes(void) {
    for (int c = 0; c < 256; c++)
        char_class[c] = c < 0x20 ? C_CONTROL : c >= 0x80 ? C_HIGH : C_PLAIN;
    char_class['"'] = C_QUOTE;
    char_class['\\'] = C_BACKSLASH;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Skip whitespace; 1 if there was any. */
static int skip_ws(scan_t *s) {
    const char *from = s->p;
    while (s->p < s->end && is_ws(*s->p))
        s->p++;
    return s->p != from;
}

static int hex4(const char *p, const char *end, unsigned *out) {
    unsigned v = 0;
    if (end - p < 4) return -1;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* One UTF-8 sequence at p as jansson accepts it (no overlong forms, no
 * surrogates, nothing above U+10FFFF): its length, or 0. */
static size_t utf8_sequence(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0];
    size_t n;
    unsigned v;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, v = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, v = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, v = c & 0x07;
    else
        return 0;
    if ((size_t)(end - p) < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000)) return 0;
    return n;
}

/* Does any of the eight bytes at p need a look: '"', '\\', a control
 * character, or a byte of a UTF-8 sequence? (Exact when it says no.) */
static int special_byte(const unsigned char *p) {
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t x, quote, backslash;
    memcpy(&x, p, 8);
    quote = x ^ (ones * '"');
    backslash = x ^ (ones * '\\');
    return ((((x - ones * 0x20) & ~x) | ((quote - ones) & ~quote) |
             ((backslash - ones) & ~backslash) | x) &
            highs) != 0;
}

/* A string at s->p (its opening quote). */
static int scan_string(scan_t *s, token_t *tok) {
    const unsigned char *p = (const unsigned char *)s->p + 1, *end = (const unsigned char *)s->end;
    tok->kind = T_STRING;
    tok->flags = 0;
    tok->start = (const char *)p;
    for (;;) {
        while (end - p >= 8 && !special_byte(p))
            p += 8;
        while (p < end && char_class[*p] == C_PLAIN)
            p++;
        if (p >= end) return -1;
        switch (char_class[*p]) {
        case C_QUOTE:
            tok->len = (size_t)(p - (const unsigned char *)tok->start);
            s->p = (const char *)p + 1;
            return 0;
        case C_CONTROL: return -1;
        case C_HIGH: {
            size_t n = utf8_sequence(p, end);
            if (!n) return -1;
            p += n;
            break;
        }
        case C_BACKSLASH: {
            tok->flags |= F_ESCAPED;
            if (++p >= end) return -1;
            unsigned char e = *p++;
            if (e == 'u') {
                unsigned u, u2;
                if (hex4((const char *)p, s->end, &u)) return -1;
                p += 4;
                if (u == 0) return -1; /* no NUL in strings or keys */
                if (u >= 0xDC00 && u <= 0xDFFF) return -1;
                if (u >= 0xD800 && u <= 0xDBFF) {
                    if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
                        hex4((const char *)p + 2, s->end, &u2) || u2 < 0xDC00 || u2 > 0xDFFF)
                        return -1;
                    p += 6;
                }
            } else if (!e || !strchr("\"\\/bfnrt", e)) {
                return -1;
            }
            break;
        }
        }
    }
}

/* Decode a validated string token into st->text (NUL-terminated); its
 * length in *len. Unescaped strings are returned in place, unterminated. */
static const char *string_value(json_avro_t *st, const token_t *tok, size_t *len) {
    if (!(tok->flags & F_ESCAPED)) {
        *len = tok->len;
        return tok->start;
    }
    char *out = text_room(st, tok->len + 1), *o = out;
    const char *p = tok->start, *end = tok->start + tok->len;
    while (p < end) {
        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }
        p++;
        char e = *p++;
        unsigned u, u2;
        switch (e) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u':
            hex4(p, end, &u);
            p += 4;
            if (u >= 0xD800 && u <= 0xDBFF) {
                hex4(p + 2, end, &u2);
                p += 6;
                u = 0x10000 + ((u - 0xD800) << 10) + (u2 - 0xDC00);
            }
            if (u < 0x80)
                *o++ = (char)u;
            else if (u < 0x800) {
                *o++ = (char)(0xC0 | (u >> 6));
                *o++ = (char)(0x80 | (u & 0x3F));
            } else if (u < 0x10000) {
                *o++ = (char)(0xE0 | (u >> 12));
                *o++ = (char)(0x80 | ((u >> 6) & 0x3F));
                *o++ = (char)(0x80 | (u & 0x3F));
            } else {
                *o++ = (char)(0xF0 | (u >> 18));
                *o++ = (char)(0x80 | ((u >> 12) & 0x3F));
                *o++ = (char)(0x80 | ((u >> 6) & 0x3F));
                *o++ = (char)(0x80 | (u & 0x3F));
            }
            break;
        default: *o++ = e; /* " \ / */
        }
    }
    *o = '\0';
    *len = (size_t)(o - out);
    return out;
}

/* A number at s->p, as jansson lexes it; integers must fit in 64 bits and
 * reals must not overflow, or jansson refuses the text. */
static int scan_number(scan_t *s, token_t *tok) {
    const char *p = s->p, *end = s->end, *digits;
    tok->kind = T_NUMBER;
    tok->flags = 0;
    tok->start = p;
    if (p < end && *p == '-') p++;
    digits = p;
    if (p < end && *p == '0')
        p++;
    else if (p < end && *p >= '1' && *p <= '9')
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    else
        return -1;
    size_t int_digits = (size_t)(p - digits);
    int exponent = 0;
    if (p < end && *p == '.') {
        tok->flags |= F_REAL;
        if (++p >= end || *p < '0' || *p > '9') return -1;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        tok->flags |= F_REAL;
        exponent = 1;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') return -1;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    tok->len = (size_t)(p - tok->start);
    s->p = p;
    if (!(tok->flags & F_REAL) && int_digits > 18) {
        char buf[64];
        if (tok->len >= sizeof(buf)) return -1; /* far beyond 64 bits */
        memcpy(buf, tok->start, tok->len);
        buf[tok->len] = '\0';
        errno = 0;
        (void)strtoll(buf, NULL, 10);
        if (errno == ERANGE) return -1;
    }
    if ((tok->flags & F_REAL) && (exponent || int_digits > 300)) {
        char small[64], *buf = tok->len < sizeof(small) ? small : malloc(tok->len + 1);
        if (!buf) abort();
        memcpy(buf, tok->start, tok->len);
        buf[tok->len] = '\0';
        errno = 0;
        double d = strtod(buf, NULL);
        int overflow = (d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE;
        if (buf != small) free(buf);
        if (overflow) return -1;
    }
    return 0;
}

static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* Note key `tok` of object number `object`: -1 when the object has it already. */
static int key_once(json_avro_t *st, uint32_t object, const token_t *tok) {
    if (st->allow_duplicates) return 0;
    size_t len;
    const char *key = string_value(st, tok, &len);
    uint32_t h = hash_bytes(key, len) ^ (object * 0x9E3779B9u);
    if ((st->slots_used + 1) * 2 > st->slots_cap) {
        size_t old_cap = st->slots_cap, cap = old_cap ? old_cap * 2 : 64;
        key_slot_t *old = st->slots, *slots = calloc(cap, sizeof(*slots));
        if (!slots) abort();
        for (size_t i = 0; i < old_cap; i++) {
            if (!old[i].object) continue;
            size_t j = old[i].hash & (cap - 1);
            while (slots[j].object)
                j = (j + 1) & (cap - 1);
            slots[j] = old[i];
        }
        free(old);
        st->slots = slots;
        st->slots_cap = cap;
    }
    size_t j = h & (st->slots_cap - 1);
    for (; st->slots[j].object; j = (j + 1) & (st->slots_cap - 1)) {
        key_slot_t *k = &st->slots[j];
        if (k->hash == h && k->object == object && k->len == len &&
            !memcmp(st->keys + k->off, key, len))
            return -1;
    }
    st->keys = grow(st->keys, &st->keys_cap, st->keys_len + len + 1, 1);
    memcpy(st->keys + st->keys_len, key, len);
    st->slots[j] = (key_slot_t){object, h, st->keys_len, len};
    st->keys_len += len;
    st->slots_used++;
    return 0;
}

static int scan_value(scan_t *s, int depth, token_t *tok);

/* An object or array at s->p, any content, depth being the container's. */
static int scan_container(scan_t *s, int depth, token_t *tok) {
    int object = *s->p == '{';
    char close = object ? '}' : ']';
    uint32_t serial = object ? ++s->st->objects : 0;
    tok->kind = object ? T_OBJECT : T_ARRAY;
    tok->flags = 0;
    tok->start = s->p++;
    if (skip_ws(s)) tok->flags |= F_REWRITE;
    if (s->p < s->end && *s->p == close) {
        s->p++;
        tok->len = (size_t)(s->p - tok->start);
        return 0;
    }
    for (;;) {
        token_t inner;
        if (object) {
            if (s->p >= s->end || *s->p != '"' || scan_string(s, &inner)) return -1;
            if (key_once(s->st, serial, &inner)) return -1;
            tok->flags |= inner.flags & F_ESCAPED ? F_REWRITE : 0;
            if (skip_ws(s)) tok->flags |= F_REWRITE;
            if (s->p >= s->end || *s->p++ != ':') return -1;
            if (skip_ws(s)) tok->flags |= F_REWRITE;
        }
        if (scan_value(s, depth + 1, &inner)) return -1;
        if (inner.flags & (F_ESCAPED | F_REWRITE)) tok->flags |= F_REWRITE;
        if (skip_ws(s)) tok->flags |= F_REWRITE;
        if (s->p >= s->end) return -1;
        char c = *s->p++;
        if (c == close) break;
        if (c != ',') return -1;
        if (skip_ws(s)) tok->flags |= F_REWRITE;
    }
    tok->len = (size_t)(s->p - tok->start);
    return 0;
}

static int scan_literal(scan_t *s, const char *word, size_t n) {
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n)) return -1;
    s->p += n;
    return 0;
}

/* Any value at s->p (whitespace skipped), at `depth`. */
static int scan_value(scan_t *s, int depth, token_t *tok) {
    if (depth > MAX_DEPTH || s->p >= s->end) return -1;
    tok->flags = 0;
    switch (*s->p) {
    case '"': return scan_string(s, tok);
    case '{':
    case '[': return scan_container(s, depth, tok);
    case 't': tok->kind = T_TRUE; return scan_literal(s, "true", 4);
    case 'f': tok->kind = T_FALSE; return scan_literal(s, "false", 5);
    case 'n': tok->kind = T_NULL; return scan_literal(s, "null", 4);
    default: return scan_number(s, tok);
    }
}

/* The members of an object at s->p: the data object (collecting its
 * members) or the envelope (one slot per known key). */
static int scan_members(scan_t *s, int depth, token_t *envelope) {
    json_avro_t *st = s->st;
    uint32_t serial = ++st->objects;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 0;
    }
    for (;;) {
        token_t key, value;
        if (s->p >= s->end || *s->p != '"' || scan_string(s, &key)) return -1;
        skip_ws(s);
        if (s->p >= s->end || *s->p++ != ':') return -1;
        skip_ws(s);
        if (envelope) {
            size_t len;
            const char *name = string_value(st, &key, &len);
            int k = 0;
            while (k < K_COUNT &&
                   (strlen(envelope_names[k]) != len || memcmp(envelope_names[k], name, len)))
                k++;
            if (k == K_COUNT || envelope[k].start) return -1; /* unknown or twice */
            if (k == K_DATA) {
                if (s->p >= s->end || *s->p != '{' || depth + 1 > MAX_DEPTH) return -1;
                value.kind = T_OBJECT;
                value.start = s->p;
                if (scan_members(s, depth + 1, NULL)) return -1;
            } else if (scan_value(s, depth + 1, &value)) {
                return -1;
            }
            envelope[k] = value;
        } else {
            if (key_once(st, serial, &key) || scan_value(s, depth + 1, &value)) return -1;
            st->members = grow(st->members, &st->members_cap, st->n_members + 1, sizeof(member_t));
            st->members[st->n_members++] = (member_t){key, value};
        }
        skip_ws(s);
        if (s->p >= s->end) return -1;
        char c = *s->p++;
        if (c == '}') return 0;
        if (c != ',') return -1;
        skip_ws(s);
    }
}

/* ---------------------------------------------------------------- values */

/* Copy a validated string token's value to a NUL-terminated buffer of
 * `size` bytes: -1 when it does not fit. */
static int string_copy(json_avro_t *st, const token_t *tok, char *buf, size_t size) {
    size_t len;
    const char *v = string_value(st, tok, &len);
    if (len >= size) return -1;
    memcpy(buf, v, len);
    buf[len] = '\0';
    return 0;
}

static int uuid_of(json_avro_t *st, const token_t *tok, char *out) {
    char buf[SENTINEL_UUID_LEN + 1];
    if (tok->kind != T_STRING || string_copy(st, tok, buf, sizeof(buf))) return -1;
    return sentinel_uuid_normalize(buf, out);
}

static int timestamp_of(json_avro_t *st, const token_t *tok, int64_t *micros) {
    char buf[64], why[160];
    if (tok->kind != T_STRING || string_copy(st, tok, buf, sizeof(buf))) return -1;
    return sentinel_timestamp_parse(buf, micros, why, sizeof(why)) ||
                   sentinel_timestamp_check_window(*micros, why, sizeof(why))
               ? -1
               : 0;
}

/* A number token's integer value, as strtoll reads it. */
static int integer_of(const token_t *tok, int64_t *out) {
    if (tok->kind != T_NUMBER || (tok->flags & F_REAL)) return -1;
    const char *p = tok->start, *end = p + tok->len;
    int negative = *p == '-';
    uint64_t v = 0, limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (p += negative; p < end; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (limit - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = negative ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int double_of(const token_t *tok, double *out) {
    int64_t i;
    if (tok->kind != T_NUMBER) return -1;
    if (!(tok->flags & F_REAL)) {
        if (integer_of(tok, &i)) return -1;
        *out = (double)i;
        return 0;
    }
    char small[64], *buf = tok->len < sizeof(small) ? small : malloc(tok->len + 1);
    if (!buf) abort();
    memcpy(buf, tok->start, tok->len);
    buf[tok->len] = '\0';
    errno = 0;
    *out = strtod(buf, NULL);
    int overflow = (*out == HUGE_VAL || *out == -HUGE_VAL) && errno == ERANGE;
    if (buf != small) free(buf);
    return overflow || !isfinite(*out) ? -1 : 0;
}

static int in_range(const field_plan_t *f, double d) {
    if (f->has_min && d < f->min) return 0;
    if (f->has_max && d > f->max) return 0;
    return 1;
}

/* Append `s` (n bytes of UTF-8) as a JSON string, escaped as jansson's
 * dump escapes it. */
static size_t escape_into(char *o, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    char *start = o;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *shortcut = NULL;
        switch (c) {
        case '\\': shortcut = "\\\\"; break;
        case '"': shortcut = "\\\""; break;
        case '\b': shortcut = "\\b"; break;
        case '\f': shortcut = "\\f"; break;
        case '\n': shortcut = "\\n"; break;
        case '\r': shortcut = "\\r"; break;
        case '\t': shortcut = "\\t"; break;
        }
        if (shortcut) {
            *o++ = shortcut[0];
            *o++ = shortcut[1];
        } else if (c < 0x20) {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    return (size_t)(o - start);
}

/* The compact text of a validated container: no whitespace, strings
 * escaped as jansson writes them, numbers as they were. In st->json. It is
 * never longer than the source: escaping gives back at most what the
 * source spent on the same character. */
static const char *compact(json_avro_t *st, const token_t *tok, size_t *len) {
    st->json = grow(st->json, &st->json_cap, tok->len + 16, 1);
    char *o = st->json;
    scan_t s = {tok->start, tok->start + tok->len, st};
    while (s.p < s.end) {
        char c = *s.p;
        if (is_ws(c)) {
            s.p++;
        } else if (c == '"') {
            token_t str;
            size_t n;
            (void)scan_string(&s, &str);
            const char *v = string_value(st, &str, &n);
            if (str.flags & F_ESCAPED) {
                o += escape_into(o, v, n);
            } else {
                *o++ = '"';
                memcpy(o, v, n);
                o += n;
                *o++ = '"';
            }
        } else {
            *o++ = c;
            s.p++;
        }
    }
    *len = (size_t)(o - st->json);
    return st->json;
}

/* Validate one data member against its field and append its Avro value
 * (with the union branch of an optional field). */
static int write_field(json_avro_t *st, const field_plan_t *f, const token_t *v,
                       sentinel_bytes_t *out, int64_t *as_integer) {
    if (!f->required) put_long(out, 1);
    switch (f->kind) {
    case SENTINEL_FIELD_UUID: {
        char uuid[SENTINEL_UUID_LEN + 1];
        if (uuid_of(st, v, uuid)) return -1;
        put_string(out, uuid, SENTINEL_UUID_LEN);
        return 0;
    }
    case SENTINEL_FIELD_STRING: {
        size_t len;
        if (v->kind != T_STRING) return -1;
        const char *s = string_value(st, v, &len);
        if (!len) return -1;
        put_string(out, s, len);
        return 0;
    }
    case SENTINEL_FIELD_IP: {
        char buf[64];
        unsigned char addr[16];
        if (v->kind != T_STRING || string_copy(st, v, buf, sizeof(buf))) return -1;
        if (inet_pton(AF_INET, buf, addr) != 1 && inet_pton(AF_INET6, buf, addr) != 1) return -1;
        put_string(out, buf, strlen(buf));
        return 0;
    }
    case SENTINEL_FIELD_TIMESTAMP: {
        int64_t micros;
        if (timestamp_of(st, v, &micros)) return -1;
        put_long(out, micros);
        return 0;
    }
    case SENTINEL_FIELD_INT:
    case SENTINEL_FIELD_LONG: {
        int64_t i;
        if (integer_of(v, &i)) return -1;
        if (f->kind == SENTINEL_FIELD_INT && (i < INT32_MIN || i > INT32_MAX)) return -1;
        if (!in_range(f, (double)i)) return -1;
        *as_integer = i;
        put_long(out, i);
        return 0;
    }
    case SENTINEL_FIELD_DOUBLE: {
        double d;
        if (double_of(v, &d) || !in_range(f, d)) return -1;
        put_double(out, d);
        return 0;
    }
    case SENTINEL_FIELD_BOOLEAN:
        if (v->kind != T_TRUE && v->kind != T_FALSE) return -1;
        put_byte(out, v->kind == T_TRUE);
        return 0;
    case SENTINEL_FIELD_OBJECT:
    case SENTINEL_FIELD_JSON: {
        if (v->kind != T_OBJECT && !(f->kind == SENTINEL_FIELD_JSON && v->kind == T_ARRAY))
            return -1;
        size_t len = v->len;
        const char *text = v->flags & F_REWRITE ? compact(st, v, &len) : v->start;
        put_string(out, text, len);
        return 0;
    }
    case SENTINEL_FIELD_ENUM: {
        size_t len;
        if (v->kind != T_STRING) return -1;
        const char *s = string_value(st, v, &len);
        for (size_t i = 0; i < json_array_size(f->symbols); i++) {
            const json_t *sym = json_array_get(f->symbols, i);
            if (json_string_length(sym) == len && !memcmp(json_string_value(sym), s, len)) {
                put_long(out, (int64_t)i);
                return 0;
            }
        }
        return -1;
    }
    }
    return -1;
}

/* ---------------------------------------------------------------- the pass */

void sentinel_json_avro_free(json_avro_t *st) {
    if (!st) return;
    free(st->members);
    free(st->slots);
    free(st->keys);
    free(st->text);
    free(st->json);
    free(st);
}

static json_avro_t *state_of(sentinel_codec_t *codec) {
    if (!codec->scan) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, init_classes);
        codec->scan = calloc(1, sizeof(*codec->scan));
        if (!codec->scan) abort();
    }
    json_avro_t *st = codec->scan;
    st->n_members = 0;
    st->objects = 0;
    st->keys_len = 0;
    if (st->slots_used) {
        if (st->slots_cap > 4096) { /* a hostile line grew it: start small again */
            free(st->slots);
            st->slots = NULL;
            st->slots_cap = 0;
        } else {
            memset(st->slots, 0, st->slots_cap * sizeof(*st->slots));
        }
        st->slots_used = 0;
    }
    return st;
}

/* The envelope and data of a scanned line, encoded; -1 when they break a rule. */
static int encode(sentinel_codec_t *codec, json_avro_t *st, const token_t *env,
                  sentinel_bytes_t *out, sentinel_event_head_t *head) {
    char name[64];
    if (env[K_TYPE].kind != T_STRING || !env[K_TYPE].start ||
        string_copy(st, &env[K_TYPE], name, sizeof(name)))
        return -1;
    const sentinel_event_type_t *type = sentinel_event_type_find(name);
    if (!type) return -1;
    int version = sentinel_codec_latest_version(codec, type);
    if (env[K_VERSION].start && env[K_VERSION].kind != T_NULL) {
        int64_t v;
        if (integer_of(&env[K_VERSION], &v) || v < 1 || v > version) return -1;
        version = (int)v;
    }
    const schema_entry_t *e = sentinel_schema_entry(codec, type, version);
    if (!env[K_EVENT_ID].start || uuid_of(st, &env[K_EVENT_ID], head->event_id)) return -1;
    if (!env[K_WORKSPACE_ID].start || uuid_of(st, &env[K_WORKSPACE_ID], head->workspace_id))
        return -1;
    int64_t occurred_at;
    if (!env[K_OCCURRED_AT].start || timestamp_of(st, &env[K_OCCURRED_AT], &occurred_at)) return -1;
    /* Each data member to its field; null is absent. */
    const token_t *by_field[64];
    int64_t integers[64];
    if (e->n_fields > 64) return -1;
    memset(by_field, 0, e->n_fields * sizeof(by_field[0]));
    size_t next = 0; /* producers mostly write the fields in schema order: try that first */
    for (size_t i = 0; i < st->n_members; i++) {
        size_t len;
        const char *key = string_value(st, &st->members[i].key, &len);
        const field_plan_t *f = &e->fields[next];
        if (next >= e->n_fields || f->name_len != len || memcmp(f->name, key, len))
            f = sentinel_schema_field(e, key, len);
        if (!f) return -1;
        next = (size_t)(f - e->fields) + 1;
        if (st->members[i].value.kind != T_NULL) by_field[f - e->fields] = &st->members[i].value;
    }

    /* Decoded last: string_value() reuses its buffer, and the keys above
     * may have been decoded into it. */
    const token_t *source =
        env[K_SOURCE].start && env[K_SOURCE].kind != T_NULL ? &env[K_SOURCE] : NULL;
    size_t source_len = 0;
    const char *source_text = NULL;
    if (source) {
        if (source->kind != T_STRING) return -1;
        source_text = string_value(st, source, &source_len);
        if (source_len == 0 || source_len > 200) return -1;
    }
    if (!env[K_DATA].start) return -1;
    head->type = type;
    head->version = version;

    bytes_reserve(out, SINGLE_OBJECT_HEADER);
    memcpy(out->data + out->len, e->header, SINGLE_OBJECT_HEADER);
    out->len += SINGLE_OBJECT_HEADER;
    put_string(out, head->event_id, SENTINEL_UUID_LEN);
    put_string(out, head->workspace_id, SENTINEL_UUID_LEN);
    put_long(out, occurred_at);
    if (source) {
        put_long(out, 1);
        put_string(out, source_text, source_len);
    } else {
        put_long(out, 0);
    }
    for (size_t i = 0; i < e->n_fields; i++) {
        const field_plan_t *f = &e->fields[i];
        if (!by_field[i]) {
            if (f->required) return -1;
            put_long(out, 0);
            continue;
        }
        if (write_field(st, f, by_field[i], out, &integers[i])) return -1;
    }
    for (size_t i = 0; i < e->n_fields; i++) {
        int other = e->fields[i].not_before;
        if (other < 0 || !by_field[i]) continue;
        if (!by_field[other] || integers[i] < integers[other]) return -1;
    }
    return 0;
}

int sentinel_json_avro_scan(sentinel_codec_t *codec, const char *json, size_t len,
                            sentinel_bytes_t *out, sentinel_event_head_t *head) {
    if (len > codec->max_bytes) return -1;
    json_avro_t *st = state_of(codec);
    scan_t s = {json, json + len, st};
    token_t env[K_COUNT];
    memset(env, 0, sizeof(env));
    size_t mark = out->len;
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{' || scan_members(&s, 1, env)) return -1;
    skip_ws(&s);
    if (s.p != s.end) return -1;
    if (env[K_DATA].start && env[K_DATA].kind != T_OBJECT) return -1;
    if (encode(codec, st, env, out, head)) {
        out->len = mark;
        return -1;
    }
    return 0;
}

int sentinel_json_text_kind(sentinel_codec_t *codec, const char *text, size_t len) {
    json_avro_t *st = state_of(codec);
    scan_t s = {text, text + len, st};
    token_t tok;
    int kind = -1;
    st->allow_duplicates = 1;
    skip_ws(&s);
    if (s.p < s.end && (*s.p == '{' || *s.p == '[') && !scan_container(&s, 1, &tok)) {
        skip_ws(&s);
        if (s.p == s.end) kind = tok.kind == T_OBJECT ? '{' : '[';
    }
    st->allow_duplicates = 0;
    return kind;
}

sentinel_err_t sentinel_event_json_to_avro(sentinel_codec_t *codec, const char *json, size_t len,
                                           sentinel_bytes_t *out, sentinel_event_head_t *head,
                                           char *errstr, size_t errstr_size) {
    if (!sentinel_json_avro_scan(codec, json, len, out, head)) return SENTINEL_OK;
    /* Rejected: the reference path says why. Should it accept, its
     * encoding is used, so no valid event is ever lost to the fast path. */
    sentinel_event_t ev;
    sentinel_err_t err = sentinel_event_from_json(codec, json, len, &ev, errstr, errstr_size);
    if (err) return err;
    const void *bytes;
    size_t n;
    err = sentinel_event_encode(codec, &ev, &bytes, &n, errstr, errstr_size);
    if (!err) {
        bytes_reserve(out, n);
        memcpy(out->data + out->len, bytes, n);
        out->len += n;
        head->type = ev.type;
        head->version = ev.version;
        memcpy(head->event_id, ev.event_id, sizeof(head->event_id));
        memcpy(head->workspace_id, ev.workspace_id, sizeof(head->workspace_id));
        codec->fallbacks++;
    }
    sentinel_event_clear(&ev);
    return err;
}
