/* schema_sources.h -- the Avro schemas the codec is built from: those of
 * schemas/, embedded at build time (schemas/embed.cmake), or others for the
 * tests of its compatibility checks. Private to the engine. */
#ifndef SENTINEL_SCHEMA_SOURCES_H
#define SENTINEL_SCHEMA_SOURCES_H

#include <stddef.h>

#include <sentinel/event.h>

/* Embedded schema sources (generated at build time from schemas/). */
typedef struct sentinel_schema_source {
    const char *file; /* "FindingRecorded.v2.avsc" */
    const char *json;
} sentinel_schema_source_t;
extern const sentinel_schema_source_t sentinel_schema_sources[];
extern const size_t sentinel_schema_source_count;

/* Where every field of every event is stored (schemas/storage.tsv,
 * embedded at build time): "Type.field<TAB>table.column" or
 * "Type.field<TAB>-<TAB>why not" lines, # comments. */
extern const char sentinel_storage_tsv[];

/* new: a codec over other schema sources (tests of the compatibility
 * checks use it); sentinel_codec_new() uses the embedded ones. */
sentinel_codec_t *sentinel_codec_new_from(const sentinel_schema_source_t *sources, size_t count,
                                          char *errstr, size_t errstr_size);

#endif
