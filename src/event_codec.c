/* event_codec.c -- JSON <-> validated event <-> Avro single-object encoding.
 *
 * Every event schema (schemas/<Type>.v<N>.avsc) is the envelope's fields
 * followed by a `data` record. The codec loads them all at start, checks
 * them against the C catalog (events/) and against each other, and keeps
 * one reusable Avro value per schema. Decoding resolves any known writer
 * version to the newest version of its type with avro-c's resolved reader;
 * fields the newer version added take their schema defaults. */
#include <arpa/inet.h>
#include <avro.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "schema_fingerprint.h"

#define SINGLE_OBJECT_HEADER 10 /* C3 01 + 8-byte fingerprint */

typedef struct schema_entry {
    const sentinel_event_type_t *type;
    int version;
    int is_latest;
    json_t *json;               /* the parsed .avsc */
    const json_t *data_fields;  /* borrowed from json: the data record's fields */
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value; /* reused for every write and read */
    uint64_t fingerprint;
    char *canonical;
    /* Resolution to the newest version (NULL when this is the newest). */
    avro_schema_t reader_schema;
    avro_value_iface_t *resolver;
    avro_value_t resolved;
    const json_t *defaults; /* newest data fields absent here: name -> default */
    json_t *defaults_owned;
} schema_entry_t;

struct sentinel_codec {
    schema_entry_t *entries;
    size_t n_entries;
    size_t max_bytes;
    char *buf;
    size_t buf_cap;
    avro_writer_t writer;
    avro_reader_t reader;
};

static const char *const envelope_keys[] = {"event_id", "type",   "version", "workspace_id",
                                            "occurred_at", "source", "data"};

/* ---------------------------------------------------------------- schema plumbing */

static const json_t *find_field(const json_t *fields, const char *name) {
    size_t i;
    const json_t *f;
    json_array_foreach(fields, i, f) {
        if (!strcmp(json_string_value(json_object_get(f, "name")), name)) return f;
    }
    return NULL;
}

static const json_t *schema_data_fields(const json_t *schema) {
    const json_t *data = find_field(json_object_get(schema, "fields"), "data");
    if (!data) return NULL;
    return json_object_get(json_object_get(data, "type"), "fields");
}

static const sentinel_field_spec_t *spec_of(const sentinel_event_type_t *type, const char *name) {
    for (const sentinel_field_spec_t *f = type->fields; f->name; f++)
        if (!strcmp(f->name, name)) return f;
    return NULL;
}

/* The non-null type of a field: T for T or ["null", T]. */
static const json_t *field_value_type(const json_t *field, int *optional) {
    const json_t *t = json_object_get(field, "type");
    *optional = 0;
    if (json_is_array(t)) {
        *optional = 1;
        return json_array_get(t, 1);
    }
    return t;
}

static const char *type_name_of(const json_t *t) {
    if (json_is_string(t)) return json_string_value(t);
    return json_string_value(json_object_get(t, "type"));
}

static const json_t *enum_symbols(const schema_entry_t *e, const char *field) {
    int optional;
    const json_t *t = field_value_type(find_field(e->data_fields, field), &optional);
    return json_object_get(t, "symbols");
}

/* Does a data field's Avro type fit its catalog kind? */
static int kind_matches(const sentinel_field_spec_t *spec, const json_t *field) {
    int optional;
    const json_t *t = field_value_type(field, &optional);
    const char *name = type_name_of(t);
    const char *logical = json_string_value(json_object_get(t, "logicalType"));
    if (!name) return 0;
    if (optional != !spec->required) return 0;
    if (optional) {
        const json_t *branches = json_object_get(field, "type");
        if (json_array_size(branches) != 2 || strcmp(type_name_of(json_array_get(branches, 0)), "null") ||
            !json_is_null(json_object_get(field, "default")))
            return 0;
    }
    switch (spec->kind) {
    case SENTINEL_FIELD_UUID: return !strcmp(name, "string") && logical && !strcmp(logical, "uuid");
    case SENTINEL_FIELD_TIMESTAMP:
        return !strcmp(name, "long") && logical && !strcmp(logical, "timestamp-micros");
    case SENTINEL_FIELD_STRING:
    case SENTINEL_FIELD_JSON:
    case SENTINEL_FIELD_OBJECT:
    case SENTINEL_FIELD_IP: return !strcmp(name, "string") && !logical;
    case SENTINEL_FIELD_INT: return !strcmp(name, "int");
    case SENTINEL_FIELD_LONG: return !strcmp(name, "long");
    case SENTINEL_FIELD_DOUBLE: return !strcmp(name, "double");
    case SENTINEL_FIELD_BOOLEAN: return !strcmp(name, "boolean");
    case SENTINEL_FIELD_ENUM: return !strcmp(name, "enum");
    }
    return 0;
}

static avro_schema_t parse_avro(const json_t *schema_json, char *errstr, size_t errstr_size,
                                const char *what) {
    char *text = json_dumps(schema_json, JSON_COMPACT);
    avro_schema_t schema = NULL;
    if (avro_schema_from_json_length(text, strlen(text), &schema)) {
        snprintf(errstr, errstr_size, "%s: %s", what, avro_strerror());
        schema = NULL;
    }
    free(text);
    return schema;
}

/* The schema of `newer` keeping only the data fields that `older` has: what
 * avro-c's resolver can read from `older` data. New reference. */
static json_t *restrict_to(const schema_entry_t *newer, const schema_entry_t *older) {
    json_t *copy = json_deep_copy(newer->json);
    json_t *data = (json_t *)find_field(json_object_get(copy, "fields"), "data");
    json_t *fields = json_object_get(json_object_get(data, "type"), "fields");
    for (size_t i = json_array_size(fields); i-- > 0;) {
        const char *name = json_string_value(json_object_get(json_array_get(fields, i), "name"));
        if (!find_field(older->data_fields, name)) json_array_remove(fields, i);
    }
    return copy;
}

/* Can `reader` read data written with `writer`? Checked for every ordered
 * pair of versions of a type. Fields the reader has and the writer lacks
 * need defaults (filled in by the codec: avro-c's resolver does not apply
 * defaults); every enum symbol the writer may write must be known to the
 * reader. Only then is avro-c's resolver asked about the rest (its failure
 * path is not safe to exercise, so the checks above come first). */
static int check_pair(schema_entry_t *writer, schema_entry_t *reader, char *errstr,
                      size_t errstr_size) {
    char what[160];
    snprintf(what, sizeof(what), "%s v%d reading v%d", reader->type->name, reader->version,
             writer->version);
    size_t i;
    const json_t *f;
    json_array_foreach(reader->data_fields, i, f) {
        const char *name = json_string_value(json_object_get(f, "name"));
        const json_t *wf = find_field(writer->data_fields, name);
        if (!wf) {
            if (!json_object_get(f, "default")) {
                snprintf(errstr, errstr_size,
                         "incompatible schemas: %s: v%d data lacks data.%s, which has no default",
                         what, writer->version, name);
                return -1;
            }
            continue;
        }
        int ro, wo;
        const json_t *rt = field_value_type(f, &ro), *wt = field_value_type(wf, &wo);
        const char *rn = type_name_of(rt), *wn = type_name_of(wt);
        if (!rn || !wn || strcmp(rn, wn) || (wo && !ro)) {
            snprintf(errstr, errstr_size, "incompatible schemas: %s: data.%s changed type", what,
                     name);
            return -1;
        }
        if (!strcmp(rn, "enum")) {
            size_t j;
            const json_t *sym;
            json_array_foreach(json_object_get(wt, "symbols"), j, sym) {
                size_t k;
                const json_t *known;
                int found = 0;
                json_array_foreach(json_object_get(rt, "symbols"), k, known) found |= json_equal(sym, known);
                if (!found) {
                    snprintf(errstr, errstr_size,
                             "incompatible schemas: %s: data.%s: symbol %s is unknown to the reader",
                             what, name, json_string_value(sym));
                    return -1;
                }
            }
        }
    }
    json_t *restricted = restrict_to(reader, writer);
    avro_schema_t rs = parse_avro(restricted, errstr, errstr_size, what);
    json_decref(restricted);
    if (!rs) return -1;
    avro_value_iface_t *r = avro_resolved_reader_new(writer->schema, rs);
    if (!r) {
        snprintf(errstr, errstr_size, "incompatible schemas: %s: %s", what, avro_strerror());
        avro_schema_decref(rs);
        return -1;
    }
    avro_value_iface_decref(r);
    avro_schema_decref(rs);
    return 0;
}

static void entry_free(schema_entry_t *e) {
    if (e->resolver) {
        avro_value_decref(&e->resolved);
        avro_value_iface_decref(e->resolver);
    }
    if (e->reader_schema) avro_schema_decref(e->reader_schema);
    if (e->iface) {
        avro_value_decref(&e->value);
        avro_value_iface_decref(e->iface);
    }
    if (e->schema) avro_schema_decref(e->schema);
    json_decref(e->defaults_owned);
    json_decref(e->json);
    free(e->canonical);
}

void sentinel_codec_destroy(sentinel_codec_t *codec) {
    if (!codec) return;
    for (size_t i = 0; i < codec->n_entries; i++) entry_free(&codec->entries[i]);
    free(codec->entries);
    if (codec->writer) avro_writer_free(codec->writer);
    if (codec->reader) avro_reader_free(codec->reader);
    free(codec->buf);
    free(codec);
}

static schema_entry_t *entry_for(const sentinel_codec_t *codec, const sentinel_event_type_t *type,
                                 int version) {
    for (size_t i = 0; i < codec->n_entries; i++)
        if (codec->entries[i].type == type && codec->entries[i].version == version)
            return &codec->entries[i];
    return NULL;
}

int sentinel_codec_latest_version(const sentinel_codec_t *codec, const sentinel_event_type_t *type) {
    int latest = 0;
    for (size_t i = 0; i < codec->n_entries; i++)
        if (codec->entries[i].type == type && codec->entries[i].version > latest)
            latest = codec->entries[i].version;
    return latest;
}

/* Canonical form of one field's type, for comparing envelopes. New. */
static char *field_canonical(const json_t *field, char *errstr, size_t errstr_size) {
    json_t *t = json_object_get(field, "type");
    char *text = json_dumps(t, JSON_COMPACT | JSON_ENCODE_ANY);
    char *canonical = sentinel_schema_canonical_form(text, strlen(text), errstr, errstr_size);
    free(text);
    return canonical;
}

static int check_envelope(const json_t *envelope, const schema_entry_t *e, char *errstr,
                          size_t errstr_size) {
    const json_t *want = json_object_get(envelope, "fields");
    const json_t *have = json_object_get(e->json, "fields");
    size_t n = json_array_size(want);
    if (json_array_size(have) != n + 1 ||
        strcmp(json_string_value(json_object_get(json_array_get(have, n), "name")), "data")) {
        snprintf(errstr, errstr_size,
                 "%s.v%d.avsc: an event schema is the envelope's %zu fields, then data", e->type->name,
                 e->version, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(want, i), *b = json_array_get(have, i);
        char *ca = field_canonical(a, errstr, errstr_size);
        char *cb = field_canonical(b, errstr, errstr_size);
        int same = ca && cb && !strcmp(ca, cb) &&
                   json_equal(json_object_get(a, "name"), json_object_get(b, "name"));
        free(ca);
        free(cb);
        if (!same) {
            snprintf(errstr, errstr_size, "%s.v%d.avsc: field %zu differs from envelope.avsc",
                     e->type->name, e->version, i);
            return -1;
        }
    }
    return 0;
}

static int load_entry(schema_entry_t *e, const sentinel_schema_source_t *src, char *errstr,
                      size_t errstr_size) {
    char type_name[128];
    int version = 0;
    const char *dot = strstr(src->file, ".v");
    if (!dot || (size_t)(dot - src->file) >= sizeof(type_name) ||
        sscanf(dot, ".v%d.avsc", &version) != 1 || version < 1) {
        snprintf(errstr, errstr_size, "schemas/%s: expected <Type>.v<N>.avsc", src->file);
        return -1;
    }
    snprintf(type_name, sizeof(type_name), "%.*s", (int)(dot - src->file), src->file);
    e->type = sentinel_event_type_find(type_name);
    if (!e->type) {
        snprintf(errstr, errstr_size, "schemas/%s: %s is not in the event catalog (events/)",
                 src->file, type_name);
        return -1;
    }
    e->version = version;
    json_error_t jerr;
    e->json = json_loads(src->json, 0, &jerr);
    if (!e->json) {
        snprintf(errstr, errstr_size, "schemas/%s, line %d: %s", src->file, jerr.line, jerr.text);
        return -1;
    }
    const char *name = json_string_value(json_object_get(e->json, "name"));
    if (!name || strcmp(name, type_name)) {
        snprintf(errstr, errstr_size, "schemas/%s: the record must be named %s", src->file,
                 type_name);
        return -1;
    }
    e->data_fields = schema_data_fields(e->json);
    if (!json_is_array(e->data_fields)) {
        snprintf(errstr, errstr_size, "schemas/%s: no data record", src->file);
        return -1;
    }
    e->canonical = sentinel_schema_canonical_form(src->json, strlen(src->json), errstr, errstr_size);
    if (!e->canonical) return -1;
    e->fingerprint = sentinel_crc64_avro(e->canonical, strlen(e->canonical));
    char what[300];
    snprintf(what, sizeof(what), "schemas/%s", src->file);
    e->schema = parse_avro(e->json, errstr, errstr_size, what);
    if (!e->schema) return -1;
    e->iface = avro_generic_class_from_schema(e->schema);
    if (!e->iface || avro_generic_value_new(e->iface, &e->value)) {
        snprintf(errstr, errstr_size, "schemas/%s: %s", src->file, avro_strerror());
        return -1;
    }
    /* Every field has a catalog entry of a fitting kind. */
    size_t i;
    const json_t *f;
    json_array_foreach(e->data_fields, i, f) {
        const char *fname = json_string_value(json_object_get(f, "name"));
        const sentinel_field_spec_t *spec = spec_of(e->type, fname);
        if (!spec) {
            snprintf(errstr, errstr_size, "schemas/%s: data.%s is not in the catalog of %s",
                     src->file, fname, type_name);
            return -1;
        }
        if (!kind_matches(spec, f)) {
            snprintf(errstr, errstr_size,
                     "schemas/%s: data.%s: Avro type does not fit the catalog (kind %d, %s)",
                     src->file, fname, (int)spec->kind, spec->required ? "required" : "optional");
            return -1;
        }
    }
    return 0;
}

static int link_versions(sentinel_codec_t *codec, char *errstr, size_t errstr_size) {
    for (size_t t = 0; sentinel_event_types[t]; t++) {
        const sentinel_event_type_t *type = sentinel_event_types[t];
        int latest = sentinel_codec_latest_version(codec, type);
        for (int v = 1; v <= latest; v++) {
            if (!entry_for(codec, type, v)) {
                snprintf(errstr, errstr_size, "schemas/%s.v%d.avsc is missing (versions are kept)",
                         type->name, v);
                return -1;
            }
        }
        if (!latest) {
            snprintf(errstr, errstr_size, "schemas/%s.v1.avsc is missing", type->name);
            return -1;
        }
        schema_entry_t *newest = entry_for(codec, type, latest);
        newest->is_latest = 1;
        for (const sentinel_field_spec_t *f = type->fields; f->name; f++) {
            int found = 0;
            for (int v = 1; v <= latest; v++)
                found |= find_field(entry_for(codec, type, v)->data_fields, f->name) != NULL;
            if (!found) {
                snprintf(errstr, errstr_size, "%s: catalog field %s is in no schema version",
                         type->name, f->name);
                return -1;
            }
        }
        for (int a = 1; a <= latest; a++)
            for (int b = 1; b <= latest; b++)
                if (a != b && check_pair(entry_for(codec, type, a), entry_for(codec, type, b),
                                         errstr, errstr_size))
                    return -1;
        for (int v = 1; v < latest; v++) {
            schema_entry_t *old = entry_for(codec, type, v);
            json_t *restricted = restrict_to(newest, old);
            old->reader_schema = parse_avro(restricted, errstr, errstr_size, type->name);
            json_decref(restricted);
            if (!old->reader_schema) return -1;
            old->resolver = avro_resolved_reader_new(old->schema, old->reader_schema);
            if (!old->resolver || avro_resolved_reader_new_value(old->resolver, &old->resolved)) {
                snprintf(errstr, errstr_size, "%s v%d: %s", type->name, v, avro_strerror());
                return -1;
            }
            old->defaults_owned = json_object();
            size_t i;
            const json_t *f;
            json_array_foreach(newest->data_fields, i, f) {
                const char *name = json_string_value(json_object_get(f, "name"));
                if (!find_field(old->data_fields, name))
                    json_object_set(old->defaults_owned, name, json_object_get(f, "default"));
            }
            old->defaults = old->defaults_owned;
        }
    }
    return 0;
}

sentinel_codec_t *sentinel_codec_new(char *errstr, size_t errstr_size) {
    return sentinel_codec_new_from(sentinel_schema_sources, sentinel_schema_source_count, errstr,
                                   errstr_size);
}

sentinel_codec_t *sentinel_codec_new_from(const sentinel_schema_source_t *sources, size_t count,
                                          char *errstr, size_t errstr_size) {
    sentinel_codec_t *codec = calloc(1, sizeof(*codec));
    if (!codec) abort();
    codec->max_bytes = SENTINEL_EVENT_MAX_BYTES_DEFAULT;
    codec->entries = calloc(count ? count : 1, sizeof(*codec->entries));
    if (!codec->entries) abort();

    json_t *envelope = NULL;
    for (size_t i = 0; i < count; i++) {
        const sentinel_schema_source_t *src = &sources[i];
        if (!strcmp(src->file, "envelope.avsc")) {
            json_error_t jerr;
            envelope = json_loads(src->json, 0, &jerr);
            if (!envelope) {
                snprintf(errstr, errstr_size, "schemas/envelope.avsc: %s", jerr.text);
                goto fail;
            }
            continue;
        }
        schema_entry_t *e = &codec->entries[codec->n_entries++];
        if (load_entry(e, src, errstr, errstr_size)) goto fail;
        for (size_t j = 0; j + 1 < codec->n_entries; j++) {
            if (codec->entries[j].fingerprint == e->fingerprint) {
                snprintf(errstr, errstr_size, "schemas/%s has the same fingerprint as %s v%d",
                         src->file, codec->entries[j].type->name, codec->entries[j].version);
                goto fail;
            }
        }
    }
    if (!envelope) {
        snprintf(errstr, errstr_size, "schemas/envelope.avsc is missing");
        goto fail;
    }
    for (size_t i = 0; i < codec->n_entries; i++)
        if (check_envelope(envelope, &codec->entries[i], errstr, errstr_size)) goto fail;
    json_decref(envelope);
    envelope = NULL;
    if (link_versions(codec, errstr, errstr_size)) goto fail;

    codec->buf_cap = 4096;
    codec->buf = malloc(codec->buf_cap);
    if (!codec->buf) abort();
    codec->writer = avro_writer_memory(codec->buf, (int64_t)codec->buf_cap);
    codec->reader = avro_reader_memory(codec->buf, 0);
    return codec;
fail:
    json_decref(envelope);
    sentinel_codec_destroy(codec);
    return NULL;
}

void sentinel_codec_set_max_bytes(sentinel_codec_t *codec, size_t max_bytes) {
    codec->max_bytes = max_bytes;
}
size_t sentinel_codec_max_bytes(const sentinel_codec_t *codec) { return codec->max_bytes; }

size_t sentinel_codec_schema_count(const sentinel_codec_t *codec) { return codec->n_entries; }

void sentinel_codec_schema_info(const sentinel_codec_t *codec, size_t i, const char **type_name,
                                int *version, uint64_t *fingerprint, const char **canonical_form) {
    const schema_entry_t *e = &codec->entries[i];
    if (type_name) *type_name = e->type->name;
    if (version) *version = e->version;
    if (fingerprint) *fingerprint = e->fingerprint;
    if (canonical_form) *canonical_form = e->canonical;
}

/* ---------------------------------------------------------------- events */

void sentinel_event_clear(sentinel_event_t *ev) {
    free(ev->source);
    json_decref(ev->data);
    memset(ev, 0, sizeof(*ev));
}

const char *sentinel_event_str(const sentinel_event_t *ev, const char *field) {
    return json_string_value(json_object_get(ev->data, field));
}

int64_t sentinel_event_int(const sentinel_event_t *ev, const char *field) {
    return (int64_t)json_integer_value(json_object_get(ev->data, field));
}

char *sentinel_event_to_json(const sentinel_event_t *ev) {
    char ts[SENTINEL_TIMESTAMP_MAX];
    sentinel_timestamp_format(ev->occurred_at, ts);
    json_t *obj = json_object();
    json_object_set_new(obj, "event_id", json_string(ev->event_id));
    json_object_set_new(obj, "type", json_string(ev->type->name));
    json_object_set_new(obj, "version", json_integer(ev->version));
    json_object_set_new(obj, "workspace_id", json_string(ev->workspace_id));
    json_object_set_new(obj, "occurred_at", json_string(ts));
    if (ev->source) json_object_set_new(obj, "source", json_string(ev->source));
    json_object_set(obj, "data", ev->data);
    char *text = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(obj);
    return text;
}

/* ---------------------------------------------------------------- validation */

static const char *json_kind_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "something else";
}

/* Validate and normalise one data field; a new normalised value in *out. */
static sentinel_err_t check_field(const schema_entry_t *e, const sentinel_field_spec_t *spec,
                                  const json_t *v, json_t **out, char *errstr,
                                  size_t errstr_size) {
    const char *name = spec->name;
    switch (spec->kind) {
    case SENTINEL_FIELD_UUID: {
        char uuid[SENTINEL_UUID_LEN + 1];
        if (!json_is_string(v) || sentinel_uuid_normalize(json_string_value(v), uuid)) {
            if (json_is_string(v))
                snprintf(errstr, errstr_size, "data.%s: \"%.60s\" is not a UUID", name,
                         json_string_value(v));
            else snprintf(errstr, errstr_size, "data.%s must be a UUID string, not %s", name, json_kind_name(v));
            return SENTINEL_ERR_INVALID;
        }
        *out = json_string(uuid);
        return SENTINEL_OK;
    }
    case SENTINEL_FIELD_STRING:
        if (!json_is_string(v) || json_string_length(v) == 0) {
            snprintf(errstr, errstr_size, "data.%s must be a non-empty string, not %s", name,
                     json_is_string(v) ? "an empty one" : json_kind_name(v));
            return SENTINEL_ERR_INVALID;
        }
        if (strlen(json_string_value(v)) != json_string_length(v)) {
            snprintf(errstr, errstr_size, "data.%s contains a NUL character", name);
            return SENTINEL_ERR_INVALID;
        }
        *out = json_incref((json_t *)v);
        return SENTINEL_OK;
    case SENTINEL_FIELD_IP: {
        unsigned char addr[16];
        const char *s = json_string_value(v);
        if (!s || (inet_pton(AF_INET, s, addr) != 1 && inet_pton(AF_INET6, s, addr) != 1)) {
            snprintf(errstr, errstr_size, "data.%s: %s%.60s%s is not an IPv4 or IPv6 address", name,
                     s ? "\"" : "", s ? s : json_kind_name(v), s ? "\"" : "");
            return SENTINEL_ERR_INVALID;
        }
        *out = json_incref((json_t *)v);
        return SENTINEL_OK;
    }
    case SENTINEL_FIELD_TIMESTAMP: {
        int64_t micros;
        char why[256];
        if (!json_is_string(v)) {
            snprintf(errstr, errstr_size, "data.%s must be an RFC 3339 string, not %s", name,
                     json_kind_name(v));
            return SENTINEL_ERR_INVALID;
        }
        if (sentinel_timestamp_parse(json_string_value(v), &micros, why, sizeof(why)) ||
            sentinel_timestamp_check_window(micros, why, sizeof(why))) {
            snprintf(errstr, errstr_size, "data.%s: %s", name, why);
            return SENTINEL_ERR_INVALID;
        }
        char ts[SENTINEL_TIMESTAMP_MAX];
        sentinel_timestamp_format(micros, ts);
        *out = json_string(ts);
        return SENTINEL_OK;
    }
    case SENTINEL_FIELD_INT:
    case SENTINEL_FIELD_LONG:
    case SENTINEL_FIELD_DOUBLE: {
        double d;
        if (spec->kind == SENTINEL_FIELD_DOUBLE) {
            if (!json_is_number(v)) {
                snprintf(errstr, errstr_size, "data.%s must be a number, not %s", name, json_kind_name(v));
                return SENTINEL_ERR_INVALID;
            }
            d = json_number_value(v);
            if (!isfinite(d)) {
                snprintf(errstr, errstr_size, "data.%s must be finite", name);
                return SENTINEL_ERR_INVALID;
            }
        } else {
            if (!json_is_integer(v)) {
                snprintf(errstr, errstr_size, "data.%s must be an integer, not %s", name, json_kind_name(v));
                return SENTINEL_ERR_INVALID;
            }
            json_int_t i = json_integer_value(v);
            if (spec->kind == SENTINEL_FIELD_INT && (i < INT32_MIN || i > INT32_MAX)) {
                snprintf(errstr, errstr_size, "data.%s (%lld) does not fit in 32 bits", name, (long long)i);
                return SENTINEL_ERR_INVALID;
            }
            d = (double)i;
        }
        char shown[64];
        if (json_is_integer(v)) snprintf(shown, sizeof(shown), "%lld", (long long)json_integer_value(v));
        else snprintf(shown, sizeof(shown), "%g", d);
        if (spec->has_min && spec->has_max && (d < spec->min || d > spec->max)) {
            snprintf(errstr, errstr_size, "data.%s (%s) is out of range %.15g..%.15g", name, shown,
                     spec->min, spec->max);
            return SENTINEL_ERR_INVALID;
        }
        if (spec->has_min && !spec->has_max && d < spec->min) {
            snprintf(errstr, errstr_size, "data.%s (%s) must be at least %g", name, shown, spec->min);
            return SENTINEL_ERR_INVALID;
        }
        *out = spec->kind == SENTINEL_FIELD_DOUBLE ? json_real(d) : json_incref((json_t *)v);
        return SENTINEL_OK;
    }
    case SENTINEL_FIELD_BOOLEAN:
        if (!json_is_boolean(v)) {
            snprintf(errstr, errstr_size, "data.%s must be true or false, not %s", name, json_kind_name(v));
            return SENTINEL_ERR_INVALID;
        }
        *out = json_incref((json_t *)v);
        return SENTINEL_OK;
    case SENTINEL_FIELD_OBJECT:
    case SENTINEL_FIELD_JSON:
        if (!json_is_object(v) && !(spec->kind == SENTINEL_FIELD_JSON && json_is_array(v))) {
            snprintf(errstr, errstr_size, "data.%s must be %s, not %s", name,
                     spec->kind == SENTINEL_FIELD_OBJECT ? "a JSON object" : "a JSON object or array",
                     json_kind_name(v));
            return SENTINEL_ERR_INVALID;
        }
        *out = json_incref((json_t *)v);
        return SENTINEL_OK;
    case SENTINEL_FIELD_ENUM: {
        const json_t *symbols = enum_symbols(e, name);
        size_t i;
        const json_t *sym;
        if (json_is_string(v)) {
            json_array_foreach(symbols, i, sym) {
                if (json_equal(sym, v)) {
                    *out = json_incref((json_t *)v);
                    return SENTINEL_OK;
                }
            }
        }
        size_t n = (size_t)snprintf(errstr, errstr_size, "data.%s: ", name);
        if (json_is_string(v)) n += (size_t)snprintf(errstr + n, n < errstr_size ? errstr_size - n : 0, "\"%.40s\"", json_string_value(v));
        else n += (size_t)snprintf(errstr + n, n < errstr_size ? errstr_size - n : 0, "%s", json_kind_name(v));
        n += (size_t)snprintf(errstr + n, n < errstr_size ? errstr_size - n : 0, " is not one of ");
        json_array_foreach(symbols, i, sym) {
            n += (size_t)snprintf(errstr + n, n < errstr_size ? errstr_size - n : 0, "%s%s",
                                  i ? ", " : "", json_string_value(sym));
        }
        return SENTINEL_ERR_INVALID;
    }
    }
    snprintf(errstr, errstr_size, "data.%s: unknown field kind", name);
    return SENTINEL_ERR_FATAL;
}

static sentinel_err_t check_uuid(const json_t *root, const char *key, char *out, char *errstr,
                                 size_t errstr_size) {
    const json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        snprintf(errstr, errstr_size, "%s is required", key);
        return SENTINEL_ERR_INVALID;
    }
    if (!json_is_string(v) || sentinel_uuid_normalize(json_string_value(v), out)) {
        if (json_is_string(v)) snprintf(errstr, errstr_size, "%s: \"%.60s\" is not a UUID", key, json_string_value(v));
        else snprintf(errstr, errstr_size, "%s must be a UUID string, not %s", key, json_kind_name(v));
        return SENTINEL_ERR_INVALID;
    }
    return SENTINEL_OK;
}

/* Check an event's data against `entry`'s fields and its type's rules.
 * The normalised fields go to a new ev->data; or, `in_place` (data is the
 * caller's to give), replace data's own, and ev->data takes data. */
static sentinel_err_t validate_data(const schema_entry_t *entry, const sentinel_event_type_t *type,
                                    json_t *data, int in_place, sentinel_event_t *ev, char *why,
                                    size_t why_size) {
    const char *key;
    json_t *value;
    void *tmp;
    json_object_foreach_safe(data, tmp, key, value) {
        if (!find_field(entry->data_fields, key)) {
            snprintf(why, why_size, "data: unknown field \"%.60s\"%s", key,
                     spec_of(type, key) ? " (not in this version of the schema)" : "");
            return SENTINEL_ERR_INVALID;
        }
        if (in_place && json_is_null(value)) json_object_del(data, key);
    }
    ev->data = in_place ? json_incref(data) : json_object();
    size_t i;
    const json_t *f;
    sentinel_err_t err;
    json_array_foreach(entry->data_fields, i, f) {
        const sentinel_field_spec_t *spec = spec_of(type, json_string_value(json_object_get(f, "name")));
        const json_t *v = json_object_get(data, spec->name);
        if (!v || json_is_null(v)) {
            if (spec->required) {
                snprintf(why, why_size, "data.%s is required", spec->name);
                return SENTINEL_ERR_INVALID;
            }
            continue;
        }
        json_t *normal = NULL;
        if ((err = check_field(entry, spec, v, &normal, why, why_size))) return err;
        if (normal == v && in_place) json_decref(normal); /* already there, as it is */
        else json_object_set_new(ev->data, spec->name, normal);
    }
    if (type->check && (err = type->check(ev->data, why, why_size))) return err;
    return SENTINEL_OK;
}

/* Validate a parsed event. `forced` (may be NULL) fixes the schema to check
 * data against; otherwise the envelope's version decides. */
static sentinel_err_t validate(sentinel_codec_t *codec, const json_t *root,
                               const schema_entry_t *forced, sentinel_event_t *ev, char *errstr,
                               size_t errstr_size) {
    char why[1024];
    sentinel_err_t err = SENTINEL_ERR_INVALID;
    memset(ev, 0, sizeof(*ev));
    if (!json_is_object(root)) {
        snprintf(errstr, errstr_size, "an event is a JSON object, not %s", json_kind_name(root));
        return SENTINEL_ERR_INVALID;
    }
    const json_t *type_v = json_object_get(root, "type");
    if (!json_is_string(type_v)) {
        snprintf(errstr, errstr_size, type_v ? "type must be a string, not %s" : "type is required%s",
                 type_v ? json_kind_name(type_v) : "");
        return SENTINEL_ERR_INVALID;
    }
    const sentinel_event_type_t *type = sentinel_event_type_find(json_string_value(type_v));
    if (!type) {
        snprintf(errstr, errstr_size, "unknown event type \"%.60s\"", json_string_value(type_v));
        return SENTINEL_ERR_INVALID;
    }
    ev->type = type;

    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)root, key, value) {
        int known = 0;
        for (size_t i = 0; i < sizeof(envelope_keys) / sizeof(envelope_keys[0]); i++)
            known |= !strcmp(key, envelope_keys[i]);
        if (!known) {
            snprintf(why, sizeof(why),
                     "unknown field \"%.60s\" (the envelope has event_id, type, version, "
                     "workspace_id, occurred_at, source, data)",
                     key);
            goto invalid;
        }
    }

    const schema_entry_t *entry = forced;
    const json_t *version_v = json_object_get(root, "version");
    if (!entry) {
        int version = sentinel_codec_latest_version(codec, type);
        if (version_v && !json_is_null(version_v)) {
            if (!json_is_integer(version_v)) {
                snprintf(why, sizeof(why), "version must be an integer, not %s", json_kind_name(version_v));
                goto invalid;
            }
            json_int_t v = json_integer_value(version_v);
            if (v < 1 || v > version) {
                snprintf(why, sizeof(why), "version %lld is not a known version (1..%d)", (long long)v, version);
                goto invalid;
            }
            version = (int)v;
        }
        entry = entry_for(codec, type, version);
    }
    ev->version = entry->version;

    if (check_uuid(root, "event_id", ev->event_id, why, sizeof(why))) goto invalid;
    if (check_uuid(root, "workspace_id", ev->workspace_id, why, sizeof(why))) goto invalid;
    const json_t *occurred = json_object_get(root, "occurred_at");
    if (!occurred || json_is_null(occurred)) {
        snprintf(why, sizeof(why), "occurred_at is required");
        goto invalid;
    }
    if (!json_is_string(occurred)) {
        snprintf(why, sizeof(why), "occurred_at must be an RFC 3339 string, not %s", json_kind_name(occurred));
        goto invalid;
    }
    char tswhy[256];
    if (sentinel_timestamp_parse(json_string_value(occurred), &ev->occurred_at, tswhy,
                                 sizeof(tswhy)) ||
        sentinel_timestamp_check_window(ev->occurred_at, tswhy, sizeof(tswhy))) {
        snprintf(why, sizeof(why), "occurred_at: %s", tswhy);
        goto invalid;
    }
    const json_t *source = json_object_get(root, "source");
    if (source && !json_is_null(source)) {
        if (!json_is_string(source) || json_string_length(source) == 0 || json_string_length(source) > 200) {
            snprintf(why, sizeof(why), "source must be a string of 1 to 200 characters");
            goto invalid;
        }
        ev->source = strdup(json_string_value(source));
    }

    const json_t *data = json_object_get(root, "data");
    if (!json_is_object(data)) {
        snprintf(why, sizeof(why), data ? "data must be an object, not %s" : "data is required%s",
                 data ? json_kind_name(data) : "");
        goto invalid;
    }
    if ((err = validate_data(entry, type, (json_t *)data, 0, ev, why, sizeof(why)))) goto invalid_err;
    return SENTINEL_OK;

invalid:
    err = SENTINEL_ERR_INVALID;
invalid_err:
    snprintf(errstr, errstr_size, "%s: %s", type->name, why);
    sentinel_event_clear(ev);
    return err;
}

sentinel_err_t sentinel_event_from_json(sentinel_codec_t *codec, const char *json, size_t len,
                                        sentinel_event_t *ev, char *errstr, size_t errstr_size) {
    memset(ev, 0, sizeof(*ev));
    if (len > codec->max_bytes) {
        snprintf(errstr, errstr_size, "event is %zu bytes, over the limit of %zu", len,
                 codec->max_bytes);
        return SENTINEL_ERR_INVALID;
    }
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(errstr, errstr_size, "not valid JSON: %s (column %d)", jerr.text, jerr.column);
        return SENTINEL_ERR_INVALID;
    }
    sentinel_err_t err = validate(codec, root, NULL, ev, errstr, errstr_size);
    json_decref(root);
    return err;
}

/* ---------------------------------------------------------------- Avro */

static int set_string(avro_value_t *v, const char *s) { return avro_value_set_string(v, s); }

/* Write one data field's normalised JSON value into its Avro value. */
static int write_field(const sentinel_field_spec_t *spec, avro_value_t *field, const json_t *v) {
    avro_value_t target = *field;
    if (avro_value_get_type(field) == AVRO_UNION) {
        if (!v) {
            avro_value_t null_branch;
            return avro_value_set_branch(field, 0, &null_branch) || avro_value_set_null(&null_branch);
        }
        if (avro_value_set_branch(field, 1, &target)) return -1;
    }
    switch (spec->kind) {
    case SENTINEL_FIELD_UUID:
    case SENTINEL_FIELD_STRING:
    case SENTINEL_FIELD_IP: return set_string(&target, json_string_value(v));
    case SENTINEL_FIELD_JSON:
    case SENTINEL_FIELD_OBJECT: {
        char *text = json_dumps(v, JSON_COMPACT);
        int rc = set_string(&target, text);
        free(text);
        return rc;
    }
    case SENTINEL_FIELD_TIMESTAMP: {
        int64_t micros;
        char why[128];
        if (sentinel_timestamp_parse(json_string_value(v), &micros, why, sizeof(why))) return -1;
        return avro_value_set_long(&target, micros);
    }
    case SENTINEL_FIELD_INT: return avro_value_set_int(&target, (int32_t)json_integer_value(v));
    case SENTINEL_FIELD_LONG: return avro_value_set_long(&target, (int64_t)json_integer_value(v));
    case SENTINEL_FIELD_DOUBLE: return avro_value_set_double(&target, json_number_value(v));
    case SENTINEL_FIELD_BOOLEAN: return avro_value_set_boolean(&target, json_is_true(v));
    case SENTINEL_FIELD_ENUM: {
        int index = avro_schema_enum_get_by_name(avro_value_get_schema(&target), json_string_value(v));
        if (index < 0) return -1;
        return avro_value_set_enum(&target, index);
    }
    }
    return -1;
}

sentinel_err_t sentinel_event_encode(sentinel_codec_t *codec, const sentinel_event_t *ev,
                                     const void **bytes, size_t *len, char *errstr,
                                     size_t errstr_size) {
    schema_entry_t *e = entry_for(codec, ev->type, ev->version);
    if (!e) {
        snprintf(errstr, errstr_size, "%s: no schema for version %d", ev->type->name, ev->version);
        return SENTINEL_ERR_INVALID;
    }
    avro_value_t *root = &e->value, field, data, branch;
    if (avro_value_reset(root)) goto avro_fail;
    if (avro_value_get_by_name(root, "event_id", &field, NULL) || set_string(&field, ev->event_id))
        goto avro_fail;
    if (avro_value_get_by_name(root, "workspace_id", &field, NULL) ||
        set_string(&field, ev->workspace_id))
        goto avro_fail;
    if (avro_value_get_by_name(root, "occurred_at", &field, NULL) ||
        avro_value_set_long(&field, ev->occurred_at))
        goto avro_fail;
    if (avro_value_get_by_name(root, "source", &field, NULL)) goto avro_fail;
    if (ev->source ? avro_value_set_branch(&field, 1, &branch) || set_string(&branch, ev->source)
                   : avro_value_set_branch(&field, 0, &branch) || avro_value_set_null(&branch))
        goto avro_fail;
    if (avro_value_get_by_name(root, "data", &data, NULL)) goto avro_fail;
    size_t i;
    const json_t *f;
    json_array_foreach(e->data_fields, i, f) {
        const sentinel_field_spec_t *spec = spec_of(ev->type, json_string_value(json_object_get(f, "name")));
        if (avro_value_get_by_index(&data, i, &field, NULL) ||
            write_field(spec, &field, json_object_get(ev->data, spec->name))) {
            snprintf(errstr, errstr_size, "%s: data.%s: cannot encode: %s", ev->type->name,
                     spec->name, avro_strerror());
            return SENTINEL_ERR_INVALID;
        }
    }

    size_t size = 0;
    if (avro_value_sizeof(root, &size)) goto avro_fail;
    if (size + SINGLE_OBJECT_HEADER > codec->buf_cap) {
        size_t cap = codec->buf_cap;
        while (cap < size + SINGLE_OBJECT_HEADER) cap *= 2;
        char *grown = realloc(codec->buf, cap);
        if (!grown) abort();
        codec->buf = grown;
        codec->buf_cap = cap;
    }
    unsigned char *out = (unsigned char *)codec->buf;
    out[0] = 0xC3;
    out[1] = 0x01;
    for (int b = 0; b < 8; b++) out[2 + b] = (unsigned char)(e->fingerprint >> (8 * b));
    avro_writer_memory_set_dest(codec->writer, codec->buf + SINGLE_OBJECT_HEADER,
                                (int64_t)(codec->buf_cap - SINGLE_OBJECT_HEADER));
    if (avro_value_write(codec->writer, root)) goto avro_fail;
    *bytes = codec->buf;
    *len = SINGLE_OBJECT_HEADER + (size_t)avro_writer_tell(codec->writer);
    return SENTINEL_OK;

avro_fail:
    snprintf(errstr, errstr_size, "%s: cannot encode: %s", ev->type->name, avro_strerror());
    return SENTINEL_ERR_INVALID;
}

/* Read one data field from Avro into JSON; absent (null) fields add nothing. */
static sentinel_err_t read_field(const sentinel_field_spec_t *spec, avro_value_t *field,
                                 json_t *data, char *errstr, size_t errstr_size) {
    avro_value_t v = *field;
    if (avro_value_get_type(field) == AVRO_UNION) {
        if (avro_value_get_current_branch(field, &v)) goto fail;
        if (avro_value_get_type(&v) == AVRO_NULL) return SENTINEL_OK;
    }
    json_t *out = NULL;
    switch (spec->kind) {
    case SENTINEL_FIELD_UUID:
    case SENTINEL_FIELD_STRING:
    case SENTINEL_FIELD_IP:
    case SENTINEL_FIELD_JSON:
    case SENTINEL_FIELD_OBJECT: {
        const char *s;
        size_t size;
        if (avro_value_get_string(&v, &s, &size)) goto fail;
        size_t n = size ? size - 1 : 0;
        if (spec->kind == SENTINEL_FIELD_JSON || spec->kind == SENTINEL_FIELD_OBJECT) {
            json_error_t jerr;
            out = json_loadb(s, n, 0, &jerr);
            if (!out) {
                snprintf(errstr, errstr_size, "data.%s holds invalid JSON text: %s", spec->name, jerr.text);
                return SENTINEL_ERR_INVALID;
            }
        } else {
            out = json_stringn(s, n);
            if (!out) {
                snprintf(errstr, errstr_size, "data.%s is not valid UTF-8", spec->name);
                return SENTINEL_ERR_INVALID;
            }
        }
        break;
    }
    case SENTINEL_FIELD_TIMESTAMP: {
        int64_t micros;
        char ts[SENTINEL_TIMESTAMP_MAX];
        if (avro_value_get_long(&v, &micros)) goto fail;
        sentinel_timestamp_format(micros, ts);
        out = json_string(ts);
        break;
    }
    case SENTINEL_FIELD_INT: {
        int32_t i;
        if (avro_value_get_int(&v, &i)) goto fail;
        out = json_integer(i);
        break;
    }
    case SENTINEL_FIELD_LONG: {
        int64_t l;
        if (avro_value_get_long(&v, &l)) goto fail;
        out = json_integer(l);
        break;
    }
    case SENTINEL_FIELD_DOUBLE: {
        double d;
        if (avro_value_get_double(&v, &d)) goto fail;
        out = isfinite(d) ? json_real(d) : json_string("non-finite");
        break;
    }
    case SENTINEL_FIELD_BOOLEAN: {
        int b;
        if (avro_value_get_boolean(&v, &b)) goto fail;
        out = json_boolean(b);
        break;
    }
    case SENTINEL_FIELD_ENUM: {
        int index;
        if (avro_value_get_enum(&v, &index)) goto fail;
        const char *sym = avro_schema_enum_get(avro_value_get_schema(&v), index);
        if (!sym) goto fail;
        out = json_string(sym);
        break;
    }
    }
    json_object_set_new(data, spec->name, out);
    return SENTINEL_OK;
fail:
    snprintf(errstr, errstr_size, "data.%s: %s", spec->name, avro_strerror());
    return SENTINEL_ERR_INVALID;
}

static json_t *string_of(avro_value_t *record, const char *name) {
    avro_value_t v, branch;
    const char *s;
    size_t size;
    if (avro_value_get_by_name(record, name, &v, NULL)) return NULL;
    if (avro_value_get_type(&v) == AVRO_UNION) {
        if (avro_value_get_current_branch(&v, &branch)) return NULL;
        if (avro_value_get_type(&branch) == AVRO_NULL) return json_null();
        v = branch;
    }
    if (avro_value_get_string(&v, &s, &size)) return NULL;
    return json_stringn(s, size ? size - 1 : 0);
}

/* Walk a datum against its schema without allocating: every varint is
 * well formed, every length and index in range. avro-c trusts the lengths
 * it reads (a corrupt one becomes a huge allocation), so untrusted bytes
 * pass through here first. Returns the bytes consumed, or -1. */
static long datum_check(avro_schema_t schema, const unsigned char *p, const unsigned char *end,
                        int depth) {
    const unsigned char *start = p;
    if (depth > 32) return -1;
    int64_t n = 0;
#define READ_VARINT(out)                                                                           \
    do {                                                                                           \
        uint64_t u = 0;                                                                            \
        int shift = 0;                                                                             \
        for (;;) {                                                                                 \
            if (p >= end || shift > 63) return -1;                                                 \
            unsigned char byte = *p++;                                                             \
            u |= (uint64_t)(byte & 0x7f) << shift;                                                 \
            if (!(byte & 0x80)) break;                                                             \
            shift += 7;                                                                            \
        }                                                                                          \
        (out) = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);                                             \
    } while (0)
    switch (avro_typeof(schema)) {
    case AVRO_NULL: break;
    case AVRO_BOOLEAN:
        if (p >= end || *p > 1) return -1;
        p++;
        break;
    case AVRO_INT32:
    case AVRO_INT64: READ_VARINT(n); break;
    case AVRO_FLOAT:
        if (end - p < 4) return -1;
        p += 4;
        break;
    case AVRO_DOUBLE:
        if (end - p < 8) return -1;
        p += 8;
        break;
    case AVRO_STRING:
    case AVRO_BYTES:
        READ_VARINT(n);
        if (n < 0 || n > end - p) return -1;
        p += n;
        break;
    case AVRO_ENUM:
        READ_VARINT(n);
        if (n < 0 || n >= avro_schema_enum_number_of_symbols(schema)) return -1;
        break;
    case AVRO_UNION: {
        READ_VARINT(n);
        if (n < 0 || (size_t)n >= avro_schema_union_size(schema)) return -1;
        long used = datum_check(avro_schema_union_branch(schema, (int)n), p, end, depth + 1);
        if (used < 0) return -1;
        p += used;
        break;
    }
    case AVRO_RECORD:
        for (size_t i = 0; i < avro_schema_record_size(schema); i++) {
            long used = datum_check(avro_schema_record_field_get_by_index(schema, (int)i), p, end,
                                    depth + 1);
            if (used < 0) return -1;
            p += used;
        }
        break;
    case AVRO_FIXED:
        if (end - p < avro_schema_fixed_size(schema)) return -1;
        p += avro_schema_fixed_size(schema);
        break;
    case AVRO_LINK: return datum_check(avro_schema_link_target(schema), p, end, depth + 1);
    default: return -1; /* arrays and maps: no event schema uses them */
    }
#undef READ_VARINT
    return (long)(p - start);
}

const sentinel_event_type_t *sentinel_codec_peek_type(const sentinel_codec_t *codec,
                                                      const void *bytes, size_t len) {
    const unsigned char *p = bytes;
    if (len < SINGLE_OBJECT_HEADER || p[0] != 0xC3 || p[1] != 0x01) return NULL;
    uint64_t fp = 0;
    for (int b = 0; b < 8; b++) fp |= (uint64_t)p[2 + b] << (8 * b);
    for (size_t i = 0; i < codec->n_entries; i++)
        if (codec->entries[i].fingerprint == fp) return codec->entries[i].type;
    return NULL;
}

sentinel_err_t sentinel_event_decode(sentinel_codec_t *codec, const void *bytes, size_t len,
                                     sentinel_event_t *ev, char *errstr, size_t errstr_size) {
    const unsigned char *p = bytes;
    memset(ev, 0, sizeof(*ev));
    if (len < SINGLE_OBJECT_HEADER || p[0] != 0xC3 || p[1] != 0x01) {
        snprintf(errstr, errstr_size, "not an Avro single-object encoding (no C3 01 marker)");
        return SENTINEL_ERR_INVALID;
    }
    if (len > codec->max_bytes + SINGLE_OBJECT_HEADER) {
        snprintf(errstr, errstr_size, "event is %zu bytes, over the limit of %zu", len, codec->max_bytes);
        return SENTINEL_ERR_INVALID;
    }
    uint64_t fp = 0;
    for (int b = 0; b < 8; b++) fp |= (uint64_t)p[2 + b] << (8 * b);
    schema_entry_t *e = NULL;
    for (size_t i = 0; i < codec->n_entries && !e; i++)
        if (codec->entries[i].fingerprint == fp) e = &codec->entries[i];
    if (!e) {
        snprintf(errstr, errstr_size, "unknown writer schema (fingerprint %016llx)", (unsigned long long)fp);
        return SENTINEL_ERR_INVALID;
    }

    long used = datum_check(e->schema, p + SINGLE_OBJECT_HEADER, p + len, 0);
    if (used < 0) {
        snprintf(errstr, errstr_size, "%s: datum does not match schema v%d: malformed or truncated",
                 e->type->name, e->version);
        return SENTINEL_ERR_INVALID;
    }
    if ((size_t)used != len - SINGLE_OBJECT_HEADER) {
        snprintf(errstr, errstr_size, "%s: trailing bytes after the datum", e->type->name);
        return SENTINEL_ERR_INVALID;
    }
    avro_reader_memory_set_source(codec->reader, (const char *)p + SINGLE_OBJECT_HEADER,
                                  (int64_t)(len - SINGLE_OBJECT_HEADER));
    if (avro_value_reset(&e->value) || avro_value_read(codec->reader, &e->value)) {
        snprintf(errstr, errstr_size, "%s: datum does not match schema v%d: %s", e->type->name,
                 e->version, avro_strerror());
        return SENTINEL_ERR_INVALID;
    }

    avro_value_t *src = &e->value;
    if (!e->is_latest) {
        avro_resolved_reader_set_source(&e->resolved, &e->value);
        src = &e->resolved;
    }
    const schema_entry_t *latest = entry_for(codec, e->type, sentinel_codec_latest_version(codec, e->type));

    /* The envelope straight into ev; the data as JSON, checked and
     * normalised in place by the rules every event meets. */
    ev->type = e->type;
    ev->version = e->version;
    char why[512];
    sentinel_err_t err = SENTINEL_OK;
    static const char *const ids[2] = {"event_id", "workspace_id"};
    char *const id_out[2] = {ev->event_id, ev->workspace_id};
    for (int k = 0; k < 2 && !err; k++) {
        json_t *s = string_of(src, ids[k]);
        if (!json_is_string(s)) {
            snprintf(why, sizeof(why), "%s is required", ids[k]);
            err = SENTINEL_ERR_INVALID;
        } else if (sentinel_uuid_normalize(json_string_value(s), id_out[k])) {
            snprintf(why, sizeof(why), "%s: \"%.60s\" is not a UUID", ids[k], json_string_value(s));
            err = SENTINEL_ERR_INVALID;
        }
        json_decref(s);
    }
    avro_value_t field, data;
    if (!err && (avro_value_get_by_name(src, "occurred_at", &field, NULL) ||
                 avro_value_get_long(&field, &ev->occurred_at))) {
        snprintf(why, sizeof(why), "occurred_at is required");
        err = SENTINEL_ERR_INVALID;
    } else if (!err) {
        char tswhy[256];
        if (sentinel_timestamp_check_window(ev->occurred_at, tswhy, sizeof(tswhy))) {
            snprintf(why, sizeof(why), "occurred_at: %s", tswhy);
            err = SENTINEL_ERR_INVALID;
        }
    }
    json_t *source = err ? NULL : string_of(src, "source");
    if (json_is_string(source)) {
        if (json_string_length(source) == 0 || json_string_length(source) > 200) {
            snprintf(why, sizeof(why), "source must be a string of 1 to 200 characters");
            err = SENTINEL_ERR_INVALID;
        } else {
            ev->source = strdup(json_string_value(source));
        }
    }
    json_decref(source);
    if (!err && avro_value_get_by_name(src, "data", &data, NULL)) {
        snprintf(why, sizeof(why), "no data record: %s", avro_strerror());
        err = SENTINEL_ERR_INVALID;
    }
    json_t *data_json = json_object();
    size_t count = 0;
    if (!err && avro_value_get_size(&data, &count)) err = SENTINEL_ERR_INVALID;
    for (size_t i = 0; !err && i < count; i++) {
        const char *name = NULL;
        if (avro_value_get_by_index(&data, i, &field, &name)) {
            snprintf(why, sizeof(why), "data field %zu: %s", i, avro_strerror());
            err = SENTINEL_ERR_INVALID;
            break;
        }
        err = read_field(spec_of(e->type, name), &field, data_json, why, sizeof(why));
    }
    if (!err && e->defaults) {
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)e->defaults, key, value) {
            if (!json_is_null(value)) json_object_set(data_json, key, value);
        }
    }
    if (!err) err = validate_data(latest, e->type, data_json, 1, ev, why, sizeof(why));
    json_decref(data_json);
    if (err) {
        snprintf(errstr, errstr_size, "%s: %s", e->type->name, why);
        sentinel_event_clear(ev);
    }
    return err;
}
