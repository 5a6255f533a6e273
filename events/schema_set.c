/* schema_set.c -- the schemas of schemas/: loading, the field tables they
 * define, and the checks between them.
 *
 * Every event schema (schemas/<Type>.v<N>.avsc) is the envelope's fields
 * followed by a `data` record. The codec loads them all at start, derives
 * each version's field table from its data record (schema_set.h says how),
 * checks them against the catalog of types (catalog.c) and against each
 * other, and keeps one reusable Avro value per schema for decoding. */
#include <avro.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "events/fingerprint.h"
#include "events/json_scan.h"
#include "events/schema_set.h"
#include "events/schema_sources.h"

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

/* The field table entry of one data field, from its Avro type and the
 * attributes schema_set.h lists. -1 with the reason when the schema says
 * something validation cannot check. */
static int plan_field(field_plan_t *fp, const json_t *f, char *why, size_t why_size) {
    int optional;
    const json_t *t = field_value_type(f, &optional);
    const char *name = type_name_of(t);
    const char *logical = json_string_value(json_object_get(t, "logicalType"));
    const json_t *format = json_object_get(f, "sentinel.format");
    const json_t *min = json_object_get(f, "sentinel.minimum");
    const json_t *max = json_object_get(f, "sentinel.maximum");
    memset(fp, 0, sizeof(*fp));
    fp->name = json_string_value(json_object_get(f, "name"));
    fp->name_len = strlen(fp->name);
    fp->required = !optional;
    fp->not_before = -1;
    fp->default_json = json_object_get(f, "default");
    if (!name) {
        snprintf(why, why_size, "no type");
        return -1;
    }
    if (optional) {
        const json_t *branches = json_object_get(f, "type");
        if (json_array_size(branches) != 2 || !type_name_of(json_array_get(branches, 0)) ||
            strcmp(type_name_of(json_array_get(branches, 0)), "null") ||
            !json_is_null(fp->default_json)) {
            snprintf(why, why_size, "an optional field is [\"null\", T] with a null default");
            return -1;
        }
    }
    if (format && (!json_is_string(format) || strcmp(name, "string") || logical)) {
        snprintf(why, why_size, "sentinel.format applies to plain strings");
        return -1;
    }
    const char *fmt = json_string_value(format);
    if (!strcmp(name, "string") && logical && !strcmp(logical, "uuid"))
        fp->kind = SENTINEL_FIELD_UUID;
    else if (!strcmp(name, "long") && logical && !strcmp(logical, "timestamp-micros"))
        fp->kind = SENTINEL_FIELD_TIMESTAMP;
    else if (logical) {
        snprintf(why, why_size, "logical type %s is not one validation knows", logical);
        return -1;
    } else if (!strcmp(name, "string") && !fmt)
        fp->kind = SENTINEL_FIELD_STRING;
    else if (!strcmp(name, "string") && !strcmp(fmt, "json-object"))
        fp->kind = SENTINEL_FIELD_OBJECT;
    else if (!strcmp(name, "string") && !strcmp(fmt, "json"))
        fp->kind = SENTINEL_FIELD_JSON;
    else if (!strcmp(name, "string") && !strcmp(fmt, "ip"))
        fp->kind = SENTINEL_FIELD_IP;
    else if (fmt) {
        snprintf(why, why_size, "sentinel.format \"%s\" is not json-object, json or ip", fmt);
        return -1;
    } else if (!strcmp(name, "int"))
        fp->kind = SENTINEL_FIELD_INT;
    else if (!strcmp(name, "long"))
        fp->kind = SENTINEL_FIELD_LONG;
    else if (!strcmp(name, "double"))
        fp->kind = SENTINEL_FIELD_DOUBLE;
    else if (!strcmp(name, "boolean"))
        fp->kind = SENTINEL_FIELD_BOOLEAN;
    else if (!strcmp(name, "enum")) {
        fp->kind = SENTINEL_FIELD_ENUM;
        fp->symbols = json_object_get(t, "symbols");
    } else {
        snprintf(why, why_size, "Avro type %s is not one validation knows", name);
        return -1;
    }
    int numeric = fp->kind == SENTINEL_FIELD_INT || fp->kind == SENTINEL_FIELD_LONG ||
                  fp->kind == SENTINEL_FIELD_DOUBLE;
    if ((min || max) && !numeric) {
        snprintf(why, why_size, "sentinel.minimum and sentinel.maximum apply to numbers");
        return -1;
    }
    if ((min && !json_is_number(min)) || (max && !json_is_number(max))) {
        snprintf(why, why_size, "sentinel.minimum and sentinel.maximum are numbers");
        return -1;
    }
    fp->has_min = min != NULL;
    fp->has_max = max != NULL;
    fp->min = min ? json_number_value(min) : 0;
    fp->max = max ? json_number_value(max) : 0;
    return 0;
}

static int is_integer_kind(sentinel_field_kind_t kind) {
    return kind == SENTINEL_FIELD_INT || kind == SENTINEL_FIELD_LONG;
}

/* The field table of an entry's data record. */
static int plan_fields(schema_entry_t *e, const char *file, char *errstr, size_t errstr_size) {
    char why[256];
    e->n_fields = json_array_size(e->data_fields);
    e->fields = sentinel_calloc(e->n_fields ? e->n_fields : 1, sizeof(*e->fields));
    for (size_t i = 0; i < e->n_fields; i++) {
        const json_t *f = json_array_get(e->data_fields, i);
        if (!json_is_string(json_object_get(f, "name"))) {
            snprintf(errstr, errstr_size, "schemas/%s: data field %zu has no name", file, i);
            return -1;
        }
        if (plan_field(&e->fields[i], f, why, sizeof(why))) {
            snprintf(errstr, errstr_size, "schemas/%s: data.%s: %s", file,
                     json_string_value(json_object_get(f, "name")), why);
            return -1;
        }
    }
    for (size_t i = 0; i < e->n_fields; i++) {
        field_plan_t *fp = &e->fields[i];
        const json_t *other =
            json_object_get(json_array_get(e->data_fields, i), "sentinel.not_before");
        if (!other) continue;
        const field_plan_t *o =
            json_is_string(other)
                ? sentinel_schema_field(e, json_string_value(other), json_string_length(other))
                : NULL;
        if (!o || o == fp || !is_integer_kind(o->kind) || !is_integer_kind(fp->kind)) {
            snprintf(errstr, errstr_size,
                     "schemas/%s: data.%s: sentinel.not_before names another integer field", file,
                     fp->name);
            return -1;
        }
        fp->not_before = (int)(o - e->fields);
    }
    return 0;
}

const field_plan_t *sentinel_schema_field(const schema_entry_t *e, const char *name, size_t len) {
    for (size_t i = 0; i < e->n_fields; i++)
        if (e->fields[i].name_len == len && !memcmp(e->fields[i].name, name, len))
            return &e->fields[i];
    return NULL;
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
        const field_plan_t *rp = sentinel_schema_field(reader, name, strlen(name));
        const field_plan_t *wp = sentinel_schema_field(writer, name, strlen(name));
        if (!rn || !wn || strcmp(rn, wn) || (wo && !ro) || rp->kind != wp->kind) {
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
                json_array_foreach(json_object_get(rt, "symbols"), k, known) found |=
                    json_equal(sym, known);
                if (!found) {
                    snprintf(
                        errstr, errstr_size,
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
    free(e->fields);
    json_decref(e->json);
    free(e->canonical);
}

void sentinel_codec_destroy(sentinel_codec_t *codec) {
    if (!codec) return;
    for (size_t i = 0; i < codec->n_entries; i++)
        entry_free(&codec->entries[i]);
    free(codec->entries);
    if (codec->writer) avro_writer_free(codec->writer);
    if (codec->reader) avro_reader_free(codec->reader);
    free(codec->buf);
    json_scan_free(codec->scan);
    free(codec);
}

schema_entry_t *sentinel_schema_entry(const sentinel_codec_t *codec,
                                      const sentinel_event_type_t *type, int version) {
    for (size_t i = 0; i < codec->n_entries; i++)
        if (codec->entries[i].type == type && codec->entries[i].version == version)
            return &codec->entries[i];
    return NULL;
}

schema_entry_t *sentinel_schema_latest(const sentinel_codec_t *codec,
                                       const sentinel_event_type_t *type) {
    return sentinel_schema_entry(codec, type, sentinel_codec_latest_version(codec, type));
}

schema_entry_t *sentinel_schema_by_header(const sentinel_codec_t *codec, const void *bytes,
                                          size_t len) {
    const unsigned char *p = bytes;
    if (len < SINGLE_OBJECT_HEADER || p[0] != 0xC3 || p[1] != 0x01) return NULL;
    for (size_t i = 0; i < codec->n_entries; i++)
        if (!memcmp(codec->entries[i].header, p, SINGLE_OBJECT_HEADER)) return &codec->entries[i];
    return NULL;
}

int sentinel_codec_latest_version(const sentinel_codec_t *codec,
                                  const sentinel_event_type_t *type) {
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
                 "%s.v%d.avsc: an event schema is the envelope's %zu fields, then data",
                 e->type->name, e->version, n);
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
    e->canonical =
        sentinel_schema_canonical_form(src->json, strlen(src->json), errstr, errstr_size);
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
    if (plan_fields(e, src->file, errstr, errstr_size)) return -1;
    e->header[0] = 0xC3;
    e->header[1] = 0x01;
    for (int b = 0; b < 8; b++)
        e->header[2 + b] = (unsigned char)(e->fingerprint >> (8 * b));
    return 0;
}

static int link_versions(sentinel_codec_t *codec, char *errstr, size_t errstr_size) {
    for (size_t t = 0; sentinel_event_types[t]; t++) {
        const sentinel_event_type_t *type = sentinel_event_types[t];
        int latest = sentinel_codec_latest_version(codec, type);
        for (int v = 1; v <= latest; v++) {
            if (!sentinel_schema_entry(codec, type, v)) {
                snprintf(errstr, errstr_size, "schemas/%s.v%d.avsc is missing (versions are kept)",
                         type->name, v);
                return -1;
            }
        }
        if (!latest) {
            snprintf(errstr, errstr_size, "schemas/%s.v1.avsc is missing", type->name);
            return -1;
        }
        schema_entry_t *newest = sentinel_schema_entry(codec, type, latest);
        newest->is_latest = 1;
        for (int a = 1; a <= latest; a++)
            for (int b = 1; b <= latest; b++)
                if (a != b &&
                    check_pair(sentinel_schema_entry(codec, type, a),
                               sentinel_schema_entry(codec, type, b), errstr, errstr_size))
                    return -1;
        for (int v = 1; v < latest; v++) {
            schema_entry_t *old = sentinel_schema_entry(codec, type, v);
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

/* Mark e->direct when e is the newest version and its Avro schema has the
 * one shape the direct reader of avro_codec.c knows: the envelope's four
 * fields, then a record of data fields in the order of e->fields, each a
 * value of its kind's Avro type or a two-branch union of it with null
 * (whose null branch it notes), enum symbols as validation knows them. */
static void plan_direct(schema_entry_t *e) {
    static const char *const names[] = {"event_id", "workspace_id", "occurred_at", "source",
                                        "data"};
    static const avro_type_t types[] = {AVRO_STRING, AVRO_STRING, AVRO_INT64, AVRO_UNION,
                                        AVRO_RECORD};
    e->direct = 0;
    if (!e->is_latest || avro_typeof(e->schema) != AVRO_RECORD ||
        avro_schema_record_size(e->schema) != 5)
        return;
    for (int i = 0; i < 5; i++) {
        avro_schema_t f = avro_schema_record_field_get_by_index(e->schema, i);
        if (strcmp(avro_schema_record_field_name(e->schema, i), names[i]) ||
            avro_typeof(f) != types[i])
            return;
    }
    avro_schema_t source = avro_schema_record_field_get_by_index(e->schema, 3);
    if (avro_schema_union_size(source) != 2 ||
        avro_typeof(avro_schema_union_branch(source, 0)) != AVRO_NULL ||
        avro_typeof(avro_schema_union_branch(source, 1)) != AVRO_STRING)
        return;
    avro_schema_t data = avro_schema_record_field_get_by_index(e->schema, 4);
    if (avro_schema_record_size(data) != e->n_fields) return;
    for (size_t i = 0; i < e->n_fields; i++) {
        field_plan_t *spec = &e->fields[i];
        avro_schema_t t = avro_schema_record_field_get_by_index(data, (int)i);
        if (strcmp(avro_schema_record_field_name(data, (int)i), spec->name)) return;
        spec->null_branch = -1;
        if (avro_typeof(t) == AVRO_UNION) {
            if (avro_schema_union_size(t) != 2) return;
            for (int b = 0; b < 2; b++)
                if (avro_typeof(avro_schema_union_branch(t, b)) == AVRO_NULL) spec->null_branch = b;
            if (spec->null_branch < 0) return;
            t = avro_schema_union_branch(t, 1 - spec->null_branch);
        }
        if (spec->required != (spec->null_branch < 0)) return;
        avro_type_t want;
        switch (spec->kind) {
        case SENTINEL_FIELD_UUID:
        case SENTINEL_FIELD_STRING:
        case SENTINEL_FIELD_IP:
        case SENTINEL_FIELD_JSON:
        case SENTINEL_FIELD_OBJECT: want = AVRO_STRING; break;
        case SENTINEL_FIELD_TIMESTAMP:
        case SENTINEL_FIELD_LONG: want = AVRO_INT64; break;
        case SENTINEL_FIELD_INT: want = AVRO_INT32; break;
        case SENTINEL_FIELD_DOUBLE: want = AVRO_DOUBLE; break;
        case SENTINEL_FIELD_BOOLEAN: want = AVRO_BOOLEAN; break;
        case SENTINEL_FIELD_ENUM: want = AVRO_ENUM; break;
        default: return;
        }
        if (avro_typeof(t) != want) return;
        if (want == AVRO_ENUM) { /* the symbols validation knows, in the writer's order */
            size_t n = json_array_size(spec->symbols);
            if ((size_t)avro_schema_enum_number_of_symbols(t) != n) return;
            for (size_t k = 0; k < n; k++) {
                const char *sym = avro_schema_enum_get(t, (int)k);
                if (!sym || strcmp(sym, json_string_value(json_array_get(spec->symbols, k))))
                    return;
            }
        }
    }
    e->direct = 1;
}

sentinel_codec_t *sentinel_codec_new(char *errstr, size_t errstr_size) {
    return sentinel_codec_new_from(sentinel_schema_sources, sentinel_schema_source_count, errstr,
                                   errstr_size);
}

sentinel_codec_t *sentinel_codec_new_from(const sentinel_schema_source_t *sources, size_t count,
                                          char *errstr, size_t errstr_size) {
    sentinel_codec_t *codec = sentinel_calloc(1, sizeof(*codec));
    codec->max_bytes = SENTINEL_EVENT_MAX_BYTES_DEFAULT;
    codec->entries = sentinel_calloc(count ? count : 1, sizeof(*codec->entries));

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
    for (size_t i = 0; i < codec->n_entries; i++)
        plan_direct(&codec->entries[i]);

    codec->buf_cap = 4096;
    codec->buf = sentinel_malloc(codec->buf_cap);
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
