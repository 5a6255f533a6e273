/* timestamp.h -- RFC 3339 timestamps <-> microseconds since the Unix epoch
 * (UTC), and UUID syntax. */
#ifndef SENTINEL_TIMESTAMP_H
#define SENTINEL_TIMESTAMP_H

#include <stddef.h>
#include <stdint.h>

#include <sentinel/sentinel.h>

#define SENTINEL_TIMESTAMP_MAX 40 /* "YYYY-MM-DDTHH:MM:SS.ffffffZ" and NUL, with room */

/* Parse an RFC 3339 date-time with a zone ("Z" or "+hh:mm"), fractions of a
 * second up to microseconds. INVALID with the rule broken in errstr. */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_timestamp_parse(const char *s, int64_t *micros,
                                                           char *errstr, size_t errstr_size);

/* Format as UTC RFC 3339: no fraction when whole seconds, milliseconds when
 * whole milliseconds, else microseconds. `out` holds SENTINEL_TIMESTAMP_MAX. */
void sentinel_timestamp_format(int64_t micros, char *out);

/* The window every timestamp of an event lies in: [2000-01-01T00:00:00Z,
 * 2100-01-01T00:00:00Z), in microseconds since the epoch. */
#define SENTINEL_TIME_MIN 946684800000000LL
#define SENTINEL_TIME_END 4102444800000000LL

/* INVALID with "<ts> is outside [2000-01-01T00:00:00Z, 2100-01-01T00:00:00Z)"
 * in errstr when micros is not in the window. */
SENTINEL_MUSTCHECK sentinel_err_t sentinel_timestamp_check_window(int64_t micros, char *errstr,
                                                                  size_t errstr_size);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t sentinel_days_from_civil(int64_t y, unsigned m, unsigned d);
void sentinel_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
unsigned sentinel_days_in_month(int64_t y, unsigned m);

/* Check UUID syntax (8-4-4-4-12 hex digits) and write its lower-case form
 * to `out` (SENTINEL_UUID_LEN + 1 bytes, apart from s: out is emptied
 * before s is read). Returns 0 when valid, -1 (and `out` the empty string)
 * if not. */
int sentinel_uuid_normalize(const char *s, char *out);
/* The same for the `len` bytes at s, which need no NUL. */
int sentinel_uuid_normalize_n(const char *s, size_t len, char *out);

/* The 16 bytes of a UUID's text form (8-4-4-4-12 hex digits, either case),
 * as PostgreSQL's binary form holds them. Returns 0 when valid, -1 if not. */
int sentinel_uuid_bytes(const char *s, unsigned char out[16]);
/* The same for the `len` bytes at s, which need no NUL. */
int sentinel_uuid_bytes_n(const char *s, size_t len, unsigned char out[16]);

/* The clocks: seconds on the monotonic one, for durations and deadlines;
 * microseconds since the epoch on the wall one, for what is shown or
 * stored as a time. */
double sentinel_monotonic_seconds(void);
int64_t sentinel_wall_micros(void);

#endif
