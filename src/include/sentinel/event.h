/* event.h -- Sentinel's domain events: the catalog of event types (their
 * fields are those of the .avsc files of schemas/; events/ holds the code), a validated
 * event, and the codec between JSON, the validated event and Avro
 * single-object encoding.
 *
 * Vocabulary: the *envelope* is what every event carries (event_id, type,
 * version, workspace_id, occurred_at, source); *data* is the payload whose
 * fields depend on the type. */
#ifndef SENTINEL_EVENT_H
#define SENTINEL_EVENT_H

#include <stdint.h>

#include "sentinel.h"

#define SENTINEL_EVENT_MAX_BYTES_DEFAULT (1024 * 1024)

typedef enum sentinel_field_kind {
    SENTINEL_FIELD_UUID,      /* string, 8-4-4-4-12 hex; stored lower case */
    SENTINEL_FIELD_STRING,    /* non-empty string */
    SENTINEL_FIELD_TIMESTAMP, /* RFC 3339 with a zone; stored as UTC */
    SENTINEL_FIELD_INT,       /* JSON integer, 32 bits */
    SENTINEL_FIELD_LONG,      /* JSON integer, 64 bits */
    SENTINEL_FIELD_DOUBLE,    /* JSON number */
    SENTINEL_FIELD_BOOLEAN,   /* true or false */
    SENTINEL_FIELD_JSON,      /* JSON object or array, carried as JSON text in Avro */
    SENTINEL_FIELD_OBJECT,    /* JSON object, carried as JSON text in Avro */
    SENTINEL_FIELD_ENUM,      /* one of the Avro enum's symbols */
    SENTINEL_FIELD_IP,        /* IPv4 or IPv6 address text */
} sentinel_field_kind_t;

typedef struct sentinel_event_type {
    const char *name;   /* "FindingRecorded" */
    const char *family; /* "runs", "commands", "briefings", "usage", "activity" */
} sentinel_event_type_t;

/* The catalog: every event type, NULL-terminated (events/catalog.c). */
SENTINEL_API extern const sentinel_event_type_t *const sentinel_event_types[];

/* The type named `name`, or NULL. Borrowed (static). */
SENTINEL_API const sentinel_event_type_t *sentinel_event_type_find(const char *name);

/* jansson's value type: data below is a jansson value (include <jansson.h>
 * to read it), declared here so this header needs no other library's. */
struct json_t;
struct schema_entry;

/* A validated event. */
typedef struct sentinel_event {
    const sentinel_event_type_t *type; /* borrowed, static */
    int version;                       /* the payload schema version it was written with */
    char event_id[SENTINEL_UUID_LEN + 1];
    char workspace_id[SENTINEL_UUID_LEN + 1];
    int64_t occurred_at; /* microseconds since the epoch, UTC */
    char *source;        /* owned; NULL when absent */
    /* owned: the data fields present, normalised (UUIDs lower case,
     * timestamps as UTC RFC 3339 strings). A JSON-valued field is a JSON
     * value when the event was built from JSON, and a string holding its
     * JSON text, as the producer wrote it, when it was decoded from Avro:
     * sentinel_copy_json() and the encoder take either. */
    struct json_t *data;
    /* borrowed from the codec: the schema version data was checked against */
    const struct schema_entry *schema;
} sentinel_event_t;

/* Free what an event owns and zero it; safe on a zeroed event. */
SENTINEL_API void sentinel_event_clear(sentinel_event_t *ev);

/* Borrowed data accessors: NULL / 0 when the field is absent. */
SENTINEL_API const char *sentinel_event_str(const sentinel_event_t *ev, const char *field);
SENTINEL_API int64_t sentinel_event_int(const sentinel_event_t *ev, const char *field);

/* 1 when `field` is JSON-valued and held as its JSON text (a string). */
SENTINEL_API int sentinel_event_is_json_text(const sentinel_event_t *ev, const char *field);

/* new: the event as one line of JSON (envelope and data; no newline). */
SENTINEL_API char *sentinel_event_to_json(const sentinel_event_t *ev);

/* The codec: the embedded schemas (the .avsc files of schemas/) with their fingerprints
 * and resolvers, and reusable Avro buffers. One per thread. */
typedef struct sentinel_codec sentinel_codec_t;

/* new: loads and cross-checks every schema: canonical form, envelope,
 * catalog agreement and compatibility between the versions of a type (an
 * older reader reads newer data; a newer reader reads older data, fields it
 * added taking their defaults). NULL with the reason on failure. */
SENTINEL_API sentinel_codec_t *sentinel_codec_new(char *errstr, size_t errstr_size);
SENTINEL_API void sentinel_codec_destroy(sentinel_codec_t *codec);

/* Largest accepted event, in bytes of JSON (default 1 MiB). */
SENTINEL_API void sentinel_codec_set_max_bytes(sentinel_codec_t *codec, size_t max_bytes);
SENTINEL_API size_t sentinel_codec_max_bytes(const sentinel_codec_t *codec);

/* Newest version of `type` that the codec knows; 0 if none. */
SENTINEL_API int sentinel_codec_latest_version(const sentinel_codec_t *codec,
                                               const sentinel_event_type_t *type);

/* The event type of Avro single-object bytes, from the writer schema's
 * fingerprint alone (nothing decoded, nothing allocated): for routing. NULL
 * when the bytes are no single-object encoding of a known schema. */
SENTINEL_API const sentinel_event_type_t *sentinel_codec_peek_type(const sentinel_codec_t *codec,
                                                                   const void *bytes, size_t len);

/* Validate one JSON event. On success fills *ev (caller clears it). On
 * INVALID, errstr reads "<Type>: <what broke which rule>" (or just the
 * reason when the type is unknown) and *ev is left cleared. */
SENTINEL_API SENTINEL_MUSTCHECK sentinel_err_t
sentinel_event_from_json(sentinel_codec_t *codec, const char *json, size_t len,
                         sentinel_event_t *ev, char *errstr, size_t errstr_size);

/* Avro single-object encoding of a validated event with its version's
 * schema. The bytes are borrowed from the codec until its next call. */
SENTINEL_API SENTINEL_MUSTCHECK sentinel_err_t sentinel_event_encode(sentinel_codec_t *codec,
                                                                     const sentinel_event_t *ev,
                                                                     const void **bytes,
                                                                     size_t *len, char *errstr,
                                                                     size_t errstr_size);

/* A growable byte buffer (data is malloc'd; the owner frees it). */
typedef struct sentinel_bytes {
    unsigned char *data;
    size_t len, cap;
} sentinel_bytes_t;

/* What encoding an event from JSON tells besides its bytes. */
typedef struct sentinel_event_head {
    const sentinel_event_type_t *type; /* borrowed, static */
    int version;
    char event_id[SENTINEL_UUID_LEN + 1];     /* lower case */
    char workspace_id[SENTINEL_UUID_LEN + 1]; /* lower case: the partitioning key */
} sentinel_event_head_t;

/* One pass from a JSON event to its Avro single-object encoding, appended
 * to `out`: what sentinel_event_from_json() then sentinel_event_encode()
 * give, without building the event, except that numbers inside
 * JSON-valued fields keep the text the producer sent. On INVALID, out is
 * unchanged and errstr holds the same message sentinel_event_from_json()
 * gives. */
SENTINEL_API SENTINEL_MUSTCHECK sentinel_err_t sentinel_event_json_to_avro(
    sentinel_codec_t *codec, const char *json, size_t len, sentinel_bytes_t *out,
    sentinel_event_head_t *head, char *errstr, size_t errstr_size);

/* Decode single-object encoded bytes written with any known schema version,
 * resolved to the newest version of the type, and validate the result as a
 * JSON event would be. INVALID when the bytes are not such an event; ev
 * then owns nothing, but when the Avro datum itself decoded its type, and
 * its event_id and workspace_id when they are UUIDs, stay set (empty
 * otherwise), so a rejection can say which event it was. ev must be
 * zeroed before the call. */
SENTINEL_API SENTINEL_MUSTCHECK sentinel_err_t sentinel_event_decode(sentinel_codec_t *codec,
                                                                     const void *bytes, size_t len,
                                                                     sentinel_event_t *ev,
                                                                     char *errstr,
                                                                     size_t errstr_size);

/* Schemas known to the codec, for listings and tests. */
SENTINEL_API size_t sentinel_codec_schema_count(const sentinel_codec_t *codec);
/* Borrowed; i < sentinel_codec_schema_count(). */
SENTINEL_API void sentinel_codec_schema_info(const sentinel_codec_t *codec, size_t i,
                                             const char **type_name, int *version,
                                             uint64_t *fingerprint, const char **canonical_form);

#endif
