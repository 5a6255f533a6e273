/* schema_set.h -- private to the event layer (events/): the loaded schemas
 * of schemas/, each with the field table validation and encoding follow.
 *
 * The .avsc files are the only statement of the catalog's fields. A data
 * field's Avro type gives its kind (a uuid or timestamp-micros logical
 * type, int, long, double, boolean, enum, string) and whether it is
 * required (not a ["null", T] union); a few attributes add what Avro
 * cannot say, and are left out of the schema's canonical form, so they
 * never change a fingerprint:
 *   "sentinel.format": "json-object" | "json" | "ip"   (on strings)
 *   "sentinel.minimum", "sentinel.maximum"             (on numbers, inclusive)
 *   "sentinel.not_before": "<field>"  (a number given only with that field,
 *                                      and never below it)
 * A plain string must be non-empty. */
#ifndef SENTINEL_EVENTS_SCHEMA_SET_H
#define SENTINEL_EVENTS_SCHEMA_SET_H

#include <avro.h>
#include <jansson.h>
#include <stdint.h>

#include <sentinel/event.h>

#define SINGLE_OBJECT_HEADER 10 /* C3 01 + 8-byte fingerprint */

typedef struct schema_entry schema_entry_t;

/* One data field of one schema version. */
typedef struct field_plan {
    const char *name; /* borrowed from the schema's JSON */
    size_t name_len;
    sentinel_field_kind_t kind;
    int required;
    int has_min, has_max; /* numeric range, inclusive */
    double min, max;
    const json_t *symbols;      /* enum symbols (borrowed), else NULL */
    int not_before;             /* index of the field this one may not be below, or -1 */
    const json_t *default_json; /* the schema default (borrowed), NULL when none */
    int null_branch;            /* its ["null", T] union's null branch (0 or 1), -1 when required */
} field_plan_t;

struct schema_entry {
    const sentinel_event_type_t *type;
    int version;
    int is_latest;
    json_t *json;              /* the parsed .avsc */
    const json_t *data_fields; /* borrowed from json: the data record's fields */
    field_plan_t *fields;      /* in schema order, n_fields of them */
    size_t n_fields;
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value; /* reused for every write and read */
    uint64_t fingerprint;
    unsigned char header[SINGLE_OBJECT_HEADER];
    char *canonical;
    int direct; /* the newest version, in the shape avro_codec.c's direct reader reads */
    /* Resolution to the newest version (NULL when this is the newest). */
    avro_schema_t reader_schema;
    avro_value_iface_t *resolver;
    avro_value_t resolved;
    const json_t *defaults; /* newest data fields absent here: name -> default */
    json_t *defaults_owned;
};

typedef struct json_scan json_scan_t; /* json_scan.h */

struct sentinel_codec {
    schema_entry_t *entries;
    size_t n_entries;
    size_t max_bytes;
    char *buf;
    size_t buf_cap;
    avro_writer_t writer;
    avro_reader_t reader;
    json_scan_t *scan;       /* the JSON scanner's buffers */
    unsigned long fallbacks; /* events the one-pass front end refused and the reference accepted */
    unsigned long decode_fallbacks; /* newest-version events the direct reader left to the
                                       full decoder, which accepted them */
};

/* The entry of `type` at `version`, or NULL. */
schema_entry_t *sentinel_schema_entry(const sentinel_codec_t *codec,
                                      const sentinel_event_type_t *type, int version);
/* The newest entry of `type`. */
schema_entry_t *sentinel_schema_latest(const sentinel_codec_t *codec,
                                       const sentinel_event_type_t *type);
/* The entry whose fingerprint opens single-object bytes, or NULL. */
schema_entry_t *sentinel_schema_by_header(const sentinel_codec_t *codec, const void *bytes,
                                          size_t len);
/* sentinel_event_type_find() of the `len` bytes at name, which need no NUL
 * (catalog.c). */
const sentinel_event_type_t *sentinel_event_type_find_n(const char *name, size_t len);
/* The field named `name` (len bytes) of an entry, or NULL. */
const field_plan_t *sentinel_schema_field(const schema_entry_t *e, const char *name, size_t len);

/* Validate the data fields of a parsed event against `entry` (validate.c).
 * decoded: data was read from Avro (see validate.c). */
sentinel_err_t sentinel_validate_data(sentinel_codec_t *codec, const schema_entry_t *entry,
                                      json_t *data, int decoded, sentinel_event_t *ev, char *why,
                                      size_t why_size);
/* Whether d is within the field's inclusive bounds (validate.c). */
int sentinel_field_in_range(const field_plan_t *spec, double d);
/* The "sentinel.not_before" rules of entry over normalised data. */
sentinel_err_t sentinel_check_not_before(const schema_entry_t *entry, const json_t *data, char *why,
                                         size_t why_size);
/* sentinel_event_decode() without the direct reader: the full decoder,
 * avro-c's generic read then validation, that explains every rejection. */
sentinel_err_t sentinel_event_decode_full(sentinel_codec_t *codec, const void *bytes, size_t len,
                                          sentinel_event_t *ev, char *errstr, size_t errstr_size);
/* The field of an event's data named `name` (NUL-terminated), or NULL. */
const field_plan_t *sentinel_event_field(const sentinel_event_t *ev, const char *name);

/* The one-pass front end alone (json_avro.c): 0 when it accepts the event,
 * its encoding appended to out; -1 when it refuses it, out unchanged.
 * sentinel_event_json_to_avro() is this with the reference path behind. */
int sentinel_json_avro_scan(sentinel_codec_t *codec, const char *json, size_t len,
                            sentinel_bytes_t *out, sentinel_event_head_t *head);

#endif
