/* fingerprint.h -- Avro's Parsing Canonical Form of a schema and its
 * CRC-64-AVRO (Rabin) fingerprint, as the Avro specification defines them;
 * the single-object encoding names a writer schema by this fingerprint. */
#ifndef SENTINEL_EVENTS_FINGERPRINT_H
#define SENTINEL_EVENTS_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

#include <sentinel/sentinel.h>

/* new: the Parsing Canonical Form of the schema in `json` (length `len`), or
 * NULL with the reason in errstr. Caller frees. */
char *sentinel_schema_canonical_form(const char *json, size_t len, char *errstr,
                                     size_t errstr_size);

/* CRC-64-AVRO of `len` bytes. */
uint64_t sentinel_crc64_avro(const void *data, size_t len);

#endif
