/* json_scan.c -- JSON text scanned by jansson's grammar without a tree
 * (json_scan.h). Strings are read sixteen bytes at a time (eight without
 * SSE2) while none of them needs a look; keys are checked for repeats with
 * a hash set per text. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "base/alloc.h"
#include "base/hash.h"
#include "base/utf8.h"
#include "events/json_scan.h"

/* A key seen in an object of the line, for duplicate detection. */
typedef struct key_slot {
    uint32_t object; /* 0: empty */
    uint32_t hash;
    size_t off, len; /* the decoded key in keys */
} key_slot_t;

struct json_scan {
    json_member_t *members; /* members kept by json_add_member() */
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

static char *text_room(json_scan_t *st, size_t need) {
    st->text = sentinel_grow(st->text, &st->text_cap, 0, need, 64);
    return st->text;
}

enum { C_PLAIN, C_QUOTE, C_BACKSLASH, C_CONTROL, C_HIGH };
static unsigned char char_class[256];

static void init_classes(void) {
    for (int c = 0; c < 256; c++)
        char_class[c] = c < 0x20 ? C_CONTROL : c >= 0x80 ? C_HIGH : C_PLAIN;
    char_class['"'] = C_QUOTE;
    char_class['\\'] = C_BACKSLASH;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

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

#ifdef __SSE2__
/* The offset of the first of the sixteen bytes at p that needs a look, 16
 * when none does: '"', '\\', or a byte below 0x20 when read as signed, which
 * is a control character or a byte of a UTF-8 sequence. */
static unsigned special_offset16(const unsigned char *p) {
    __m128i x = _mm_loadu_si128((const __m128i *)p);
    __m128i hit = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
        _mm_cmplt_epi8(x, _mm_set1_epi8(0x20)));
    unsigned mask = (unsigned)_mm_movemask_epi8(hit);
    return mask ? (unsigned)__builtin_ctz(mask) : 16;
}
#endif

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

/* An escape at p (just after its backslash): the bytes after it, or NULL
 * when it breaks the grammar. Apart, so the plain path stays small. */
static __attribute__((noinline)) const unsigned char *scan_escape(const unsigned char *p,
                                                                  const unsigned char *end) {
    if (p >= end) return NULL;
    unsigned char e = *p++;
    if (e == 'u') {
        unsigned u, u2;
        if (hex4((const char *)p, (const char *)end, &u)) return NULL;
        p += 4;
        if (u == 0) return NULL; /* no NUL in strings or keys */
        if (u >= 0xDC00 && u <= 0xDFFF) return NULL;
        if (u >= 0xD800 && u <= 0xDBFF) {
            if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
                hex4((const char *)p + 2, (const char *)end, &u2) || u2 < 0xDC00 || u2 > 0xDFFF)
                return NULL;
            p += 6;
        }
    } else if (!e || !strchr("\"\\/bfnrt", e)) {
        return NULL;
    }
    return p;
}

/* A string at s->p (its opening quote). */
int json_scan_string(json_cursor_t *s, json_token_t *tok) {
    const unsigned char *p = (const unsigned char *)s->p + 1, *end = (const unsigned char *)s->end;
    tok->kind = JT_STRING;
    tok->flags = 0;
    tok->start = (const char *)p;
    for (;;) {
#ifdef __SSE2__
        while (end - p >= 16) {
            unsigned k = special_offset16(p);
            p += k;
            if (k < 16) goto special; /* p is at the byte to look at */
        }
#endif
        while (end - p >= 8 && !special_byte(p))
            p += 8;
        while (p < end && char_class[*p] == C_PLAIN)
            p++;
        if (p >= end) return -1;
#ifdef __SSE2__
    special:
#endif
        switch (char_class[*p]) {
        case C_QUOTE:
            tok->len = (size_t)(p - (const unsigned char *)tok->start);
            s->p = (const char *)p + 1;
            return 0;
        case C_CONTROL: return -1;
        case C_HIGH: {
            size_t n = sentinel_utf8_sequence(p, end);
            if (!n) return -1;
            p += n;
            break;
        }
        case C_BACKSLASH:
            tok->flags |= JF_ESCAPED;
            if (!(p = scan_escape(p + 1, end))) return -1;
            break;
        }
    }
}

/* Decode a validated string token into st->text (NUL-terminated); its
 * length in *len. Unescaped strings are returned in place, unterminated. */
const char *json_string_text(json_scan_t *st, const json_token_t *tok, size_t *len) {
    if (!(tok->flags & JF_ESCAPED)) {
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
        unsigned u = 0, u2 = 0; /* the scan validated the escape: hex4 succeeds */
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

/* A number token's integer value, as strtoll reads it. */
int json_token_integer(const json_token_t *tok, int64_t *out) {
    if (tok->kind != JT_NUMBER || (tok->flags & JF_REAL)) return -1;
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

/* The exact path for most decimals (Clinger's): at most 15 significant
 * digits make an integer a double holds exactly, and so does a power of
 * ten up to 1e22; one multiplication or division of the two rounds once,
 * to what strtod gives. 0 with *out set, or -1 for strtod to decide. */
static int real_exact(const char *p, const char *end, double *out) {
    static const double tens[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                  1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                  1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    int negative = p < end && *p == '-';
    uint64_t m = 0;
    int digits = 0, scale = 0; /* significant digits; value = m * 10^scale */
    p += negative;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (m || *p != '0') digits++;
        m = m * 10 + (unsigned)(*p - '0');
        if (digits > 15) return -1;
    }
    if (p < end && *p == '.')
        for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
            if (m || *p != '0') digits++;
            m = m * 10 + (unsigned)(*p - '0');
            scale--;
            if (digits > 15) return -1;
        }
    if (p < end && (*p == 'e' || *p == 'E')) {
        int eneg = 0, e = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            e = e * 10 + (*p - '0');
            if (e > 400) return -1;
        }
        scale += eneg ? -e : e;
    }
    if (p != end || scale < -22 || scale > 22) return -1;
    double d = (double)m;
    d = scale < 0 ? d / tens[-scale] : d * tens[scale];
    *out = negative ? -d : d;
    return 0;
}

/* A real number token's value, as strtod reads it; -1 when it overflows a
 * double (jansson refuses the text then). */
int json_token_real(const json_token_t *tok, double *out) {
    if (!real_exact(tok->start, tok->start + tok->len, out)) return 0;
    char small[64], *buf = tok->len < sizeof(small) ? small : sentinel_malloc(tok->len + 1);
    memcpy(buf, tok->start, tok->len);
    buf[tok->len] = '\0';
    errno = 0;
    *out = strtod(buf, NULL);
    int overflow = (*out == HUGE_VAL || *out == -HUGE_VAL) && errno == ERANGE;
    if (buf != small) free(buf);
    return overflow ? -1 : 0;
}

/* A number at s->p, as jansson lexes it; integers must fit in 64 bits and
 * reals must not overflow, or jansson refuses the text. */
static int scan_number(json_cursor_t *s, json_token_t *tok) {
    const char *p = s->p, *end = s->end, *digits;
    tok->kind = JT_NUMBER;
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
        tok->flags |= JF_REAL;
        if (++p >= end || *p < '0' || *p > '9') return -1;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        tok->flags |= JF_REAL;
        exponent = 1;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') return -1;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    tok->len = (size_t)(p - tok->start);
    s->p = p;
    int64_t integer;
    double real;
    if (!(tok->flags & JF_REAL) && int_digits > 18 && json_token_integer(tok, &integer)) return -1;
    if ((tok->flags & JF_REAL) && (exponent || int_digits > 300) && json_token_real(tok, &real))
        return -1;
    return 0;
}

/* Note key `tok` of object number `object`: -1 when the object has it already. */
static int json_key_once(json_scan_t *st, uint32_t object, const json_token_t *tok) {
    if (st->allow_duplicates) return 0;
    size_t len;
    const char *key = json_string_text(st, tok, &len);
    /* Keyed per process: crafted keys cannot all land in one run of slots. */
    uint32_t h = (uint32_t)sentinel_hash(key, len) ^ (object * 0x9E3779B9u);
    if ((st->slots_used + 1) * 2 > st->slots_cap) {
        size_t old_cap = st->slots_cap, cap = old_cap ? old_cap * 2 : 64;
        key_slot_t *old = st->slots, *slots = sentinel_calloc(cap, sizeof(*slots));
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
    st->keys = sentinel_grow(st->keys, &st->keys_cap, st->keys_len, len + 1, 64);
    memcpy(st->keys + st->keys_len, key, len);
    st->slots[j] = (key_slot_t){object, h, st->keys_len, len};
    st->keys_len += len;
    st->slots_used++;
    return 0;
}

/* An object or array at s->p, any content, depth being the container's. */
static int scan_container(json_cursor_t *s, int depth, json_token_t *tok) {
    int object = *s->p == '{';
    char close = object ? '}' : ']';
    uint32_t serial = object ? ++s->st->objects : 0;
    tok->kind = object ? JT_OBJECT : JT_ARRAY;
    tok->flags = 0;
    tok->start = s->p++;
    if (json_skip_ws(s)) tok->flags |= JF_REWRITE;
    if (s->p < s->end && *s->p == close) {
        s->p++;
        tok->len = (size_t)(s->p - tok->start);
        return 0;
    }
    for (;;) {
        json_token_t inner;
        if (object) {
            if (s->p >= s->end || *s->p != '"' || json_scan_string(s, &inner)) return -1;
            if (json_key_once(s->st, serial, &inner)) return -1;
            tok->flags |= inner.flags & JF_ESCAPED ? JF_REWRITE : 0;
            if (json_skip_ws(s)) tok->flags |= JF_REWRITE;
            if (s->p >= s->end || *s->p++ != ':') return -1;
            if (json_skip_ws(s)) tok->flags |= JF_REWRITE;
        }
        if (json_scan_value(s, depth + 1, &inner)) return -1;
        if (inner.flags & (JF_ESCAPED | JF_REWRITE)) tok->flags |= JF_REWRITE;
        if (json_skip_ws(s)) tok->flags |= JF_REWRITE;
        if (s->p >= s->end) return -1;
        char c = *s->p++;
        if (c == close) break;
        if (c != ',') return -1;
        if (json_skip_ws(s)) tok->flags |= JF_REWRITE;
    }
    tok->len = (size_t)(s->p - tok->start);
    return 0;
}

static int scan_literal(json_cursor_t *s, const char *word, size_t n) {
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n)) return -1;
    s->p += n;
    return 0;
}

/* Any value at s->p (whitespace skipped), at `depth`. */
int json_scan_value(json_cursor_t *s, int depth, json_token_t *tok) {
    if (depth > JSON_MAX_DEPTH || s->p >= s->end) return -1;
    tok->flags = 0;
    switch (*s->p) {
    case '"': return json_scan_string(s, tok);
    case '{':
    case '[': return scan_container(s, depth, tok);
    case 't': tok->kind = JT_TRUE; return scan_literal(s, "true", 4);
    case 'f': tok->kind = JT_FALSE; return scan_literal(s, "false", 5);
    case 'n': tok->kind = JT_NULL; return scan_literal(s, "null", 4);
    default: return scan_number(s, tok);
    }
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
const char *json_compact(json_scan_t *st, const json_token_t *tok, size_t *len) {
    st->json = sentinel_grow(st->json, &st->json_cap, 0, tok->len + 16, 64);
    char *o = st->json;
    json_cursor_t s = {tok->start, tok->start + tok->len, st};
    while (s.p < s.end) {
        char c = *s.p;
        if (is_ws(c)) {
            s.p++;
        } else if (c == '"') {
            json_token_t str;
            size_t n;
            (void)json_scan_string(&s, &str);
            const char *v = json_string_text(st, &str, &n);
            if (str.flags & JF_ESCAPED) {
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

void json_add_member(json_scan_t *st, const json_token_t *key, const json_token_t *value) {
    if (st->n_members == st->members_cap) {
        st->members_cap = st->members_cap ? 2 * st->members_cap : 64;
        st->members = sentinel_reallocarray(st->members, st->members_cap, sizeof(json_member_t));
    }
    st->members[st->n_members++] = (json_member_t){*key, *value};
}

const json_member_t *json_members(const json_scan_t *st, size_t *count) {
    *count = st->n_members;
    return st->members;
}

json_scan_t *json_scan_begin(json_scan_t **slot) {
    if (!*slot) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, init_classes);
        *slot = sentinel_calloc(1, sizeof(**slot));
    }
    json_scan_t *st = *slot;
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

int json_scan_text_kind(json_scan_t **slot, const char *text, size_t len) {
    json_scan_t *st = json_scan_begin(slot);
    json_cursor_t s = {text, text + len, st};
    json_token_t tok;
    int kind = -1;
    st->allow_duplicates = 1;
    json_skip_ws(&s);
    if (s.p < s.end && (*s.p == '{' || *s.p == '[') && !scan_container(&s, 1, &tok)) {
        json_skip_ws(&s);
        if (s.p == s.end) kind = tok.kind == JT_OBJECT ? '{' : '[';
    }
    st->allow_duplicates = 0;
    return kind;
}

void json_scan_free(json_scan_t *st) {
    if (!st) return;
    free(st->members);
    free(st->slots);
    free(st->keys);
    free(st->text);
    free(st->json);
    free(st);
}
