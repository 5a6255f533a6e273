/* avro_codec.c -- validated events to and from Avro single-object
 * encoding with avro-c: encoding an event built in memory, and decoding
 * what the topic holds (any known writer version, resolved to the newest,
 * then checked as a JSON event would be). */
#include <arpa/inet.h>
#include <avro.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/timestamp.h"
#include "base/utf8.h"
#include "events/json_scan.h"
#include "events/schema_set.h"

static int set_string(avro_value_t *v, const char *s) { return avro_value_set_string(v, s); }

/* Write one data field's normalised JSON value into its Avro value. */
static int write_field(const field_plan_t *spec, avro_value_t *field, const json_t *v) {
    avro_value_t target = *field;
    if (avro_value_get_type(field) == AVRO_UNION) {
        if (!v) {
            avro_value_t null_branch;
            return avro_value_set_branch(field, 0, &null_branch) ||
                   avro_value_set_null(&null_branch);
        }
        if (avro_value_set_branch(field, 1, &target)) return -1;
    }
    switch (spec->kind) {
    case SENTINEL_FIELD_UUID:
    case SENTINEL_FIELD_STRING:
    case SENTINEL_FIELD_IP: return set_string(&target, json_string_value(v));
    case SENTINEL_FIELD_JSON:
    case SENTINEL_FIELD_OBJECT: {
        if (json_is_string(v)) return set_string(&target, json_string_value(v)); /* as decoded */
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
        int index =
            avro_schema_enum_get_by_name(avro_value_get_schema(&target), json_string_value(v));
        if (index < 0) return -1;
        return avro_value_set_enum(&target, index);
    }
    }
    return -1;
}

sentinel_err_t sentinel_event_encode(sentinel_codec_t *codec, const sentinel_event_t *ev,
                                     const void **bytes, size_t *len, char *errstr,
                                     size_t errstr_size) {
    schema_entry_t *e = sentinel_schema_entry(codec, ev->type, ev->version);
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
    for (size_t i = 0; i < e->n_fields; i++) {
        const field_plan_t *spec = &e->fields[i];
        if (avro_value_get_by_index(&data, i, &field, NULL) ||
            write_field(spec, &field, json_object_get(ev->data, spec->name))) {
            snprintf(errstr, errstr_size, "%s: data.%s: cannot encode: %s", ev->type->name,
                     spec->name, avro_strerror());
            return SENTINEL_ERR_INVALID;
        }
    }

    size_t size = 0;
    if (avro_value_sizeof(root, &size)) goto avro_fail;
    codec->buf = sentinel_grow(codec->buf, &codec->buf_cap, 0, size + SINGLE_OBJECT_HEADER, 4096);
    memcpy(codec->buf, e->header, SINGLE_OBJECT_HEADER);
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
static sentinel_err_t read_field(const field_plan_t *spec, avro_value_t *field, json_t *data,
                                 char *errstr, size_t errstr_size) {
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
        /* JSON-valued fields stay text (validate_data checks it). */
        out = json_stringn(s, n);
        if (!out) {
            snprintf(errstr, errstr_size, "data.%s is not valid UTF-8", spec->name);
            return SENTINEL_ERR_INVALID;
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
    for (int b = 0; b < 8; b++)
        fp |= (uint64_t)p[2 + b] << (8 * b);
    for (size_t i = 0; i < codec->n_entries; i++)
        if (codec->entries[i].fingerprint == fp) return codec->entries[i].type;
    return NULL;
}

/* ------------------------------------------------------ the direct reader */

/* The newest version of a type is read straight from its bytes: the
 * envelope into ev, and each data field checked and normalised as it is
 * read, into ev->data, in one pass with nothing in between. The reader
 * knows one shape, the one every event schema has (the envelope's four
 * fields, then a record of data fields, each a value or a ["null", value]
 * union), and only events that pass: at anything else (a malformed or
 * unusual encoding, a value a rule refuses, text that is not UTF-8) it
 * gives up, and the full decoder behind it decides and explains. Which
 * versions have that shape is decided when the codec is made (schema_set.c,
 * e->direct). */

typedef struct cursor {
    const unsigned char *p, *end;
} cursor_t;

/* A zigzag varint of at most `max_bytes` bytes whose value fits in
 * `bits` bits; -1 for anything longer or wider. */
static int read_varint(cursor_t *c, int max_bytes, int bits, int64_t *out) {
    uint64_t u = 0;
    for (int i = 0; i < max_bytes; i++) {
        if (c->p >= c->end) return -1;
        unsigned char byte = *c->p++;
        if (7 * i + 7 > bits && (byte & 0x7f) >> (bits - 7 * i)) return -1;
        u |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
            return 0;
        }
    }
    return -1;
}

static int read_long(cursor_t *c, int64_t *out) { return read_varint(c, 10, 64, out); }

/* Avro bytes or string: a length, then that many bytes, borrowed. */
static int read_text(cursor_t *c, const char **s, size_t *n) {
    int64_t len;
    if (read_long(c, &len) || len < 0 || len > c->end - c->p) return -1;
    *s = (const char *)c->p;
    *n = (size_t)len;
    c->p += len;
    return 0;
}

/* A UUID string, normalised into out (SENTINEL_UUID_LEN + 1 bytes). */
static int read_uuid(cursor_t *c, char *out) {
    const char *s;
    size_t n;
    return read_text(c, &s, &n) ? -1 : sentinel_uuid_normalize_n(s, n, out);
}

/* Plain text: UTF-8, no NUL. */
static int read_plain(cursor_t *c, const char **s, size_t *n) {
    return read_text(c, s, n) || memchr(*s, '\0', *n) || !sentinel_utf8_valid(*s, *n) ? -1 : 0;
}

/* One data field's value, checked and normalised as validation would
 * leave it; NULL when the direct reader gives up. */
static json_t *direct_value(sentinel_codec_t *codec, const field_plan_t *spec, cursor_t *c) {
    const char *s;
    size_t n;
    int64_t l;
    switch (spec->kind) {
    case SENTINEL_FIELD_UUID: {
        char uuid[SENTINEL_UUID_LEN + 1];
        return read_uuid(c, uuid) ? NULL : json_stringn_nocheck(uuid, SENTINEL_UUID_LEN);
    }
    case SENTINEL_FIELD_STRING:
        return read_plain(c, &s, &n) || !n ? NULL : json_stringn_nocheck(s, n);
    case SENTINEL_FIELD_IP: {
        char text[64];
        unsigned char addr[16];
        if (read_plain(c, &s, &n) || n >= sizeof(text)) return NULL;
        memcpy(text, s, n);
        text[n] = '\0';
        if (inet_pton(AF_INET, text, addr) != 1 && inet_pton(AF_INET6, text, addr) != 1)
            return NULL;
        return json_stringn_nocheck(s, n);
    }
    case SENTINEL_FIELD_JSON:
    case SENTINEL_FIELD_OBJECT: {
        if (read_text(c, &s, &n) || !sentinel_utf8_valid(s, n)) return NULL;
        int kind = json_scan_text_kind(&codec->scan, s, n);
        if (kind != '{' && !(spec->kind == SENTINEL_FIELD_JSON && kind == '[')) return NULL;
        return json_stringn_nocheck(s, n);
    }
    case SENTINEL_FIELD_TIMESTAMP: {
        char ts[SENTINEL_TIMESTAMP_MAX];
        if (read_long(c, &l) || l < SENTINEL_TIME_MIN || l >= SENTINEL_TIME_END) return NULL;
        sentinel_timestamp_format(l, ts);
        return json_string_nocheck(ts);
    }
    case SENTINEL_FIELD_INT:
    case SENTINEL_FIELD_LONG:
        if (spec->kind == SENTINEL_FIELD_INT ? read_varint(c, 5, 32, &l) : read_long(c, &l))
            return NULL;
        return sentinel_field_in_range(spec, (double)l) ? json_integer(l) : NULL;
    case SENTINEL_FIELD_DOUBLE: {
        uint64_t bits = 0;
        double d;
        if (c->end - c->p < 8) return NULL;
        for (int b = 0; b < 8; b++)
            bits |= (uint64_t)c->p[b] << (8 * b);
        c->p += 8;
        memcpy(&d, &bits, sizeof(d));
        return isfinite(d) && sentinel_field_in_range(spec, d) ? json_real(d) : NULL;
    }
    case SENTINEL_FIELD_BOOLEAN:
        if (c->p >= c->end || *c->p > 1) return NULL;
        return json_boolean(*c->p++);
    case SENTINEL_FIELD_ENUM: {
        if (read_long(c, &l) || l < 0 || (size_t)l >= json_array_size(spec->symbols)) return NULL;
        const json_t *sym = json_array_get(spec->symbols, (size_t)l);
        return json_stringn_nocheck(json_string_value(sym), json_string_length(sym));
    }
    }
    return NULL;
}

/* 0 with ev filled, or -1 with ev zeroed: the full decoder's turn. */
static int direct_read(sentinel_codec_t *codec, const schema_entry_t *e, const unsigned char *p,
                       const unsigned char *end, sentinel_event_t *ev) {
    cursor_t c = {p, end};
    int64_t branch;
    const char *s;
    size_t n;
    char why[256];
    json_t *data = NULL;
    if (read_uuid(&c, ev->event_id) || read_uuid(&c, ev->workspace_id) ||
        read_long(&c, &ev->occurred_at) || ev->occurred_at < SENTINEL_TIME_MIN ||
        ev->occurred_at >= SENTINEL_TIME_END || read_long(&c, &branch) ||
        (branch != 0 && branch != 1))
        goto fail;
    if (branch == 1) {
        if (read_plain(&c, &s, &n) || n == 0 || n > 200) goto fail;
        ev->source = sentinel_strndup(s, n);
    }
    data = json_object();
    for (size_t i = 0; i < e->n_fields; i++) {
        const field_plan_t *spec = &e->fields[i];
        if (spec->null_branch >= 0) {
            if (read_long(&c, &branch) || (branch != 0 && branch != 1)) goto fail;
            if (branch == spec->null_branch) continue;
        }
        json_t *v = direct_value(codec, spec, &c);
        if (!v) goto fail;
        json_object_setn_new_nocheck(data, spec->name, spec->name_len, v);
    }
    if (c.p != c.end || sentinel_check_not_before(e, data, why, sizeof(why))) goto fail;
    ev->type = e->type;
    ev->version = e->version;
    ev->schema = e;
    ev->data = data;
    return 0;
fail:
    json_decref(data);
    free(ev->source);
    memset(ev, 0, sizeof(*ev));
    return -1;
}

/* The schema entry whose fingerprint opens the single-object bytes, with
 * the size checked; NULL with the reason in errstr. */
static schema_entry_t *decode_header(sentinel_codec_t *codec, const unsigned char *p, size_t len,
                                     char *errstr, size_t errstr_size) {
    if (len < SINGLE_OBJECT_HEADER || p[0] != 0xC3 || p[1] != 0x01) {
        snprintf(errstr, errstr_size, "not an Avro single-object encoding (no C3 01 marker)");
        return NULL;
    }
    if (len > codec->max_bytes + SINGLE_OBJECT_HEADER) {
        snprintf(errstr, errstr_size, "event is %zu bytes, over the limit of %zu", len,
                 codec->max_bytes);
        return NULL;
    }
    uint64_t fp = 0;
    for (int b = 0; b < 8; b++)
        fp |= (uint64_t)p[2 + b] << (8 * b);
    schema_entry_t *e = NULL;
    for (size_t i = 0; i < codec->n_entries && !e; i++)
        if (codec->entries[i].fingerprint == fp) e = &codec->entries[i];
    if (!e) {
        snprintf(errstr, errstr_size, "unknown writer schema (fingerprint %016llx)",
                 (unsigned long long)fp);
        return NULL;
    }
    return e;
}

/* The datum after the header, by avro-c's generic reader, then checked as
 * a JSON event's data is. */
static sentinel_err_t decode_datum(sentinel_codec_t *codec, schema_entry_t *e,
                                   const unsigned char *p, size_t len, sentinel_event_t *ev,
                                   char *errstr, size_t errstr_size) {
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
        /* A read that stopped part way leaves the value half filled, and
         * avro-c loses what a later read replaces of it: start afresh. */
        avro_value_t fresh;
        if (!avro_generic_value_new(e->iface, &fresh)) {
            avro_value_decref(&e->value);
            e->value = fresh;
        }
        return SENTINEL_ERR_INVALID;
    }

    avro_value_t *src = &e->value;
    if (!e->is_latest) {
        avro_resolved_reader_set_source(&e->resolved, &e->value);
        src = &e->resolved;
    }
    const schema_entry_t *latest = sentinel_schema_latest(codec, e->type);

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
            char q[64];
            snprintf(why, sizeof(why), "%s: \"%s\" is not a UUID", ids[k],
                     sentinel_utf8_shorten(json_string_value(s), 60, q));
            id_out[k][0] = '\0';
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
            ev->source = sentinel_strdup(json_string_value(source));
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
        err = read_field(sentinel_schema_field(e, name, strlen(name)), &field, data_json, why,
                         sizeof(why));
    }
    if (!err && e->defaults) {
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)e->defaults, key, value) {
            if (!json_is_null(value)) json_object_set(data_json, key, value);
        }
    }
    if (!err) err = sentinel_validate_data(codec, latest, data_json, 1, ev, why, sizeof(why));
    json_decref(data_json);
    if (err) {
        snprintf(errstr, errstr_size, "%s: %s", e->type->name, why);
        /* What identifies it stays, so its dead letter can be found. */
        const sentinel_event_type_t *type = ev->type;
        char event_id[SENTINEL_UUID_LEN + 1], workspace_id[SENTINEL_UUID_LEN + 1];
        memcpy(event_id, ev->event_id, sizeof(event_id));
        memcpy(workspace_id, ev->workspace_id, sizeof(workspace_id));
        sentinel_event_clear(ev);
        ev->type = type;
        memcpy(ev->event_id, event_id, sizeof(event_id));
        memcpy(ev->workspace_id, workspace_id, sizeof(workspace_id));
    }
    return err;
}

sentinel_err_t sentinel_event_decode_full(sentinel_codec_t *codec, const void *bytes, size_t len,
                                          sentinel_event_t *ev, char *errstr, size_t errstr_size) {
    memset(ev, 0, sizeof(*ev));
    schema_entry_t *e = decode_header(codec, bytes, len, errstr, errstr_size);
    return e ? decode_datum(codec, e, bytes, len, ev, errstr, errstr_size) : SENTINEL_ERR_INVALID;
}

sentinel_err_t sentinel_event_decode(sentinel_codec_t *codec, const void *bytes, size_t len,
                                     sentinel_event_t *ev, char *errstr, size_t errstr_size) {
    memset(ev, 0, sizeof(*ev));
    schema_entry_t *e = decode_header(codec, bytes, len, errstr, errstr_size);
    if (!e) return SENTINEL_ERR_INVALID;
    const unsigned char *p = bytes;
    if (e->direct && !direct_read(codec, e, p + SINGLE_OBJECT_HEADER, p + len, ev))
        return SENTINEL_OK;
    sentinel_err_t err = decode_datum(codec, e, bytes, len, ev, errstr, errstr_size);
    if (!err && e->is_latest) codec->decode_fallbacks++;
    return err;
}
