/* utf8.h -- checking that text is UTF-8, and cutting text that came from
 * events and tenants at a character boundary, never in the middle of a
 * UTF-8 sequence. */
#ifndef SENTINEL_UTF8_H
#define SENTINEL_UTF8_H

#include <stdarg.h>
#include <stddef.h>

/* The length (2 to 4) of the well-formed multi-byte UTF-8 sequence at p,
 * by RFC 3629 (no overlong forms, no surrogates, nothing above U+10FFFF),
 * or 0 when there is none before end. */
size_t sentinel_utf8_sequence(const unsigned char *p, const unsigned char *end);

/* 1 when the n bytes at s are UTF-8 by those rules (NUL included, as
 * jansson takes it), else 0. ASCII is read eight bytes at a time. */
int sentinel_utf8_valid(const char *s, size_t n);

/* Drop a trailing incomplete UTF-8 sequence from s (NUL-terminated), as
 * left by a cut at a byte count. Returns the new length. */
size_t sentinel_utf8_trim(char *s);

/* vsnprintf into out (size > 0), cut at a character boundary when it does
 * not fit. */
void sentinel_utf8_vformat(char *out, size_t size, const char *fmt, va_list ap);

/* s itself when it has at most `max` bytes, else its first characters
 * within `max` bytes followed by "...", written to buf (max + 4 bytes). For
 * quoting tenants' values in messages. Borrowed. */
const char *sentinel_utf8_shorten(const char *s, size_t max, char *buf);

/* Copy `in` to out (size > 0) with control characters escaped, so that text
 * from events reaches a terminal as data, never as control: C0 controls
 * (newline and tab included) and DEL as \xHH, C1 controls as \u00HH. Cut at
 * a character or escape boundary when it does not fit. Returns the length
 * written. */
size_t sentinel_utf8_escape_controls(const char *in, char *out, size_t size);

#endif
