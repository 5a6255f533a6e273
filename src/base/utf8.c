/* utf8.c -- checking UTF-8 text and cutting it at character boundaries. */
#include "base/utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

size_t sentinel_utf8_sequence(const unsigned char *p, const unsigned char *end) {
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

int sentinel_utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        uint64_t word;
        if (end - p >= 8 && (memcpy(&word, p, 8), !(word & 0x8080808080808080ull))) {
            p += 8;
        } else if (*p < 0x80) {
            p++;
        } else {
            size_t len = sentinel_utf8_sequence(p, end);
            if (!len) return 0;
            p += len;
        }
    }
    return 1;
}

static size_t sequence_length(unsigned char lead) {
    return lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : 4;
}

size_t sentinel_utf8_trim(char *s) {
    size_t len = strlen(s), i = len;
    /* Back over the trailing continuation bytes (a sequence has at most 3). */
    while (i > 0 && len - i < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0) return len; /* no lead byte: not UTF-8 we cut */
    size_t lead = i - 1;
    if (len - lead < sequence_length((unsigned char)s[lead])) {
        s[lead] = '\0';
        return lead;
    }
    return len;
}

void sentinel_utf8_vformat(char *out, size_t size, const char *fmt, va_list ap) {
    int n = vsnprintf(out, size, fmt, ap);
    if (n >= 0 && (size_t)n >= size) sentinel_utf8_trim(out);
}

const char *sentinel_utf8_shorten(const char *s, size_t max, char *buf) {
    if (strlen(s) <= max) return s;
    memcpy(buf, s, max);
    buf[max] = '\0';
    size_t len = sentinel_utf8_trim(buf);
    memcpy(buf + len, "...", 4);
    return buf;
}

size_t sentinel_utf8_escape_controls(const char *in, char *out, size_t size) {
    if (!size) return 0;
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p;) {
        char esc[8];
        size_t n, used = 1;
        if (*p < 0x20 || *p == 0x7f) {
            n = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", *p);
        } else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) { /* C1: U+0080..U+009F */
            n = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", p[1]);
            used = 2;
        } else {
            esc[0] = (char)*p;
            n = 1;
        }
        if (o + n >= size) break; /* an escape is never cut */
        memcpy(out + o, esc, n);
        o += n;
        p += used;
    }
    out[o] = '\0';
    sentinel_utf8_trim(out);
    return strlen(out);
}
