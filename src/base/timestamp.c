/* timestamp.c -- RFC 3339 parsing and formatting without the C library's
 * time zone machinery (deterministic whatever TZ says), and UUID syntax. */
#include "base/timestamp.h"

#include "base/utf8.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Howard Hinnant's days_from_civil: exact for the proleptic Gregorian calendar. */
int64_t sentinel_days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void sentinel_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

unsigned sentinel_days_in_month(int64_t y, unsigned m) {
    static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return days[m - 1];
}

/* Read exactly n digits. */
static int digits(const char **p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

sentinel_err_t sentinel_timestamp_parse(const char *s, int64_t *micros, char *errstr,
                                        size_t errstr_size) {
    const char *p = s;
    int y, mo, d, h, mi, sec, frac = 0;
    char q[44]; /* the text quoted in a refusal: a tenant's, cut at a character */
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d)) {
        snprintf(errstr, errstr_size, "\"%s\" is not an RFC 3339 date-time (YYYY-MM-DDThh:mm:ssZ)",
                 sentinel_utf8_shorten(s, 40, q));
        return SENTINEL_ERR_INVALID;
    }
    if (*p != 'T' && *p != 't') {
        snprintf(errstr, errstr_size,
                 "\"%s\" is not an RFC 3339 date-time: expected 'T' after the date",
                 sentinel_utf8_shorten(s, 40, q));
        return SENTINEL_ERR_INVALID;
    }
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
        digits(&p, 2, &sec)) {
        snprintf(errstr, errstr_size, "\"%s\" is not an RFC 3339 date-time: bad time of day",
                 sentinel_utf8_shorten(s, 40, q));
        return SENTINEL_ERR_INVALID;
    }
    if (*p == '.') {
        p++;
        int n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n == 6) {
                snprintf(errstr, errstr_size, "\"%s\": more precise than microseconds",
                         sentinel_utf8_shorten(s, 40, q));
                return SENTINEL_ERR_INVALID;
            }
            frac = frac * 10 + (*p++ - '0');
            n++;
        }
        if (n == 0) {
            snprintf(errstr, errstr_size, "\"%s\": no digits after the decimal point",
                     sentinel_utf8_shorten(s, 40, q));
            return SENTINEL_ERR_INVALID;
        }
        for (; n < 6; n++)
            frac *= 10;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59) {
            snprintf(errstr, errstr_size, "\"%s\": bad zone offset (expected +hh:mm)",
                     sentinel_utf8_shorten(s, 40, q));
            return SENTINEL_ERR_INVALID;
        }
        offset_min = sign * (oh * 60 + om);
    } else {
        snprintf(errstr, errstr_size, "\"%s\" has no time zone (add Z or an offset like +02:00)",
                 sentinel_utf8_shorten(s, 40, q));
        return SENTINEL_ERR_INVALID;
    }
    if (*p) {
        snprintf(errstr, errstr_size, "\"%s\": unexpected text after the time zone",
                 sentinel_utf8_shorten(s, 40, q));
        return SENTINEL_ERR_INVALID;
    }
    if (y < 1 || mo < 1 || mo > 12 || d < 1 ||
        (unsigned)d > sentinel_days_in_month(y, (unsigned)mo) || h > 23 || mi > 59 || sec > 59) {
        snprintf(errstr, errstr_size, "\"%s\" is not a valid date and time",
                 sentinel_utf8_shorten(s, 40, q));
        return SENTINEL_ERR_INVALID;
    }
    int64_t days = sentinel_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t seconds = days * 86400 + h * 3600 + mi * 60 + sec - (int64_t)offset_min * 60;
    *micros = seconds * 1000000 + frac;
    return SENTINEL_OK;
}

/* `width` decimal digits of v, zero-padded, at *o. */
static void put_digits(char **o, unsigned v, int width) {
    for (int i = width - 1; i >= 0; i--) {
        (*o)[i] = (char)('0' + v % 10);
        v /= 10;
    }
    *o += width;
}

void sentinel_timestamp_format(int64_t micros, char *out) {
    int64_t seconds = micros / 1000000, frac = micros % 1000000;
    if (frac < 0) {
        frac += 1000000;
        seconds -= 1;
    }
    int64_t days = seconds / 86400, rem = seconds % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    int64_t y;
    unsigned m, d;
    sentinel_civil_from_days(days, &y, &m, &d);
    /* By hand, not snprintf: this runs for every timestamp of every event
     * projected. Years outside 0..9999 (which RFC 3339 cannot write) keep
     * the printf form. */
    if (y < 0 || y > 9999) {
        int n =
            snprintf(out, SENTINEL_TIMESTAMP_MAX, "%04lld-%02u-%02uT%02d:%02d:%02d", (long long)y,
                     m, d, (int)(rem / 3600), (int)(rem % 3600 / 60), (int)(rem % 60));
        if (frac == 0)
            snprintf(out + n, SENTINEL_TIMESTAMP_MAX - (size_t)n, "Z");
        else if (frac % 1000 == 0)
            snprintf(out + n, SENTINEL_TIMESTAMP_MAX - (size_t)n, ".%03dZ", (int)(frac / 1000));
        else
            snprintf(out + n, SENTINEL_TIMESTAMP_MAX - (size_t)n, ".%06dZ", (int)frac);
        return;
    }
    char *o = out;
    put_digits(&o, (unsigned)y, 4);
    *o++ = '-';
    put_digits(&o, m, 2);
    *o++ = '-';
    put_digits(&o, d, 2);
    *o++ = 'T';
    put_digits(&o, (unsigned)(rem / 3600), 2);
    *o++ = ':';
    put_digits(&o, (unsigned)(rem % 3600 / 60), 2);
    *o++ = ':';
    put_digits(&o, (unsigned)(rem % 60), 2);
    if (frac && frac % 1000 == 0) {
        *o++ = '.';
        put_digits(&o, (unsigned)(frac / 1000), 3);
    } else if (frac) {
        *o++ = '.';
        put_digits(&o, (unsigned)frac, 6);
    }
    *o++ = 'Z';
    *o = '\0';
}

#ifndef __SSE2__
/* Hex digits to their lower-case form; 0 for anything else. */
static const char uuid_hex_lower[256] = {
    ['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4', ['5'] = '5',
    ['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9', ['a'] = 'a', ['b'] = 'b',
    ['c'] = 'c', ['d'] = 'd', ['e'] = 'e', ['f'] = 'f', ['A'] = 'a', ['B'] = 'b',
    ['C'] = 'c', ['D'] = 'd', ['E'] = 'e', ['F'] = 'f',
};
#endif

#ifdef __SSE2__
/* Sixteen bytes of a UUID's text at s: their lower-case form to out, and 0
 * when the dashes are exactly at the positions set in `dashes` and every
 * other byte is a hex digit. ASCII only: a byte from 0x80 is negative as a
 * signed byte, below every range here. */
static int uuid_block16(const char *s, char *out, unsigned dashes) {
    __m128i x = _mm_loadu_si128((const __m128i *)s);
    __m128i l = _mm_or_si128(x, _mm_set1_epi8(0x20));
    __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)),
                                  _mm_cmplt_epi8(x, _mm_set1_epi8('9' + 1)));
    __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(l, _mm_set1_epi8('a' - 1)),
                                  _mm_cmplt_epi8(l, _mm_set1_epi8('f' + 1)));
    __m128i dash = _mm_cmpeq_epi8(x, _mm_set1_epi8('-'));
    unsigned hex = (unsigned)_mm_movemask_epi8(_mm_or_si128(digit, alpha));
    _mm_storeu_si128((__m128i *)out, _mm_or_si128(x, _mm_and_si128(alpha, _mm_set1_epi8(0x20))));
    return (unsigned)_mm_movemask_epi8(dash) == dashes && (hex | dashes) == 0xFFFF ? 0 : -1;
}
#endif

/* Checked sixteen bytes at a time, at 0, 16 and 20 (the last two overlap,
 * and write the same bytes), where SSE2 is; else byte by byte. */
int sentinel_uuid_normalize_n(const char *s, size_t len, char *out) {
    out[0] = '\0';
    if (len != SENTINEL_UUID_LEN) return -1;
    out[SENTINEL_UUID_LEN] = '\0';
#ifdef __SSE2__
    /* Dashes at 8 and 13; at 18 (16 + 2) and 23 (16 + 7); at 23 (20 + 3). */
    int bad = uuid_block16(s, out, 1u << 8 | 1u << 13);
    bad |= uuid_block16(s + 16, out + 16, 1u << 2 | 1u << 7);
    bad |= uuid_block16(s + 20, out + 20, 1u << 3);
#else
    int bad = 0;
    for (int i = 0; i < SENTINEL_UUID_LEN; i++) {
        unsigned char c = (unsigned char)s[i];
        int dash_at = i == 8 || i == 13 || i == 18 || i == 23;
        out[i] = dash_at ? '-' : uuid_hex_lower[c];
        bad |= dash_at ? c != '-' : !out[i];
    }
#endif
    if (bad) out[0] = '\0';
    return bad ? -1 : 0;
}

int sentinel_uuid_normalize(const char *s, char *out) {
    return sentinel_uuid_normalize_n(s, strnlen(s, SENTINEL_UUID_LEN + 1), out);
}

static int hex_value(char lower) { return lower <= '9' ? lower - '0' : lower - 'a' + 10; }

int sentinel_uuid_bytes(const char *s, unsigned char out[16]) {
    return sentinel_uuid_bytes_n(s, strnlen(s, SENTINEL_UUID_LEN + 1), out);
}

int sentinel_uuid_bytes_n(const char *s, size_t len, unsigned char out[16]) {
    char text[SENTINEL_UUID_LEN + 1];
    if (sentinel_uuid_normalize_n(s, len, text)) return -1;
    for (int i = 0, k = 0; k < 16; k++) {
        if (text[i] == '-') i++;
        out[k] = (unsigned char)(hex_value(text[i]) << 4 | hex_value(text[i + 1]));
        i += 2;
    }
    return 0;
}

sentinel_err_t sentinel_timestamp_check_window(int64_t micros, char *errstr, size_t errstr_size) {
    if (micros >= SENTINEL_TIME_MIN && micros < SENTINEL_TIME_END) return SENTINEL_OK;
    char ts[SENTINEL_TIMESTAMP_MAX];
    if (micros >= -62135596800000000LL && micros < 253402300800000000LL)
        sentinel_timestamp_format(micros, ts);
    else
        snprintf(ts, sizeof(ts), "%lld microseconds", (long long)micros);
    snprintf(errstr, errstr_size, "%s is outside [2000-01-01T00:00:00Z, 2100-01-01T00:00:00Z)", ts);
    return SENTINEL_ERR_INVALID;
}

double sentinel_monotonic_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t sentinel_wall_micros(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
