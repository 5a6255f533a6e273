/* json_avro.c -- one pass from a JSON event to its Avro single-object
 * encoding, with no tree in between.
 *
 * The scanner (json_scan.h) reads the line once by jansson's grammar, and
 * this file notes where each envelope value and each data member is.
 * The data members are then validated against their schema version's
 * field table (schema_set.h) and written, in schema order, straight into
 * the caller's buffer. JSON-valued fields are copied as the producer wrote
 * them when they are already compact, else compacted; either way numbers
 * keep their text. The reference path (validate.c) agrees on every input:
 * a rejection is explained by it, so messages have one source. */
#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/timestamp.h"
#include "events/json_scan.h"
#include "events/schema_set.h"

enum envelope_key {
    K_EVENT_ID,
    K_TYPE,
    K_VERSION,
    K_WORKSPACE_ID,
    K_OCCURRED_AT,
    K_SOURCE,
    K_DATA,
    K_COUNT
};
#define ENVELOPE_NAME(s)                                                                           \
    { s, sizeof(s) - 1 }
static const struct {
    const char *name;
    size_t len;
} envelope_names[K_COUNT] = {ENVELOPE_NAME("event_id"),    ENVELOPE_NAME("type"),
                             ENVELOPE_NAME("version"),     ENVELOPE_NAME("workspace_id"),
                             ENVELOPE_NAME("occurred_at"), ENVELOPE_NAME("source"),
                             ENVELOPE_NAME("data")};
#undef ENVELOPE_NAME

/* ---------------------------------------------------------------- buffers */

static void bytes_reserve(sentinel_bytes_t *out, size_t more) {
    if (out->cap - out->len < more)
        out->data = sentinel_grow(out->data, &out->cap, out->len, more, 256);
}

static void put_byte(sentinel_bytes_t *out, unsigned char b) {
    bytes_reserve(out, 1);
    out->data[out->len++] = b;
}

static void put_long(sentinel_bytes_t *out, int64_t v) {
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    bytes_reserve(out, 10);
    while (u & ~(uint64_t)0x7f) {
        out->data[out->len++] = (unsigned char)((u & 0x7f) | 0x80);
        u >>= 7;
    }
    out->data[out->len++] = (unsigned char)u;
}

static void put_string(sentinel_bytes_t *out, const char *s, size_t n) {
    put_long(out, (int64_t)n);
    bytes_reserve(out, n);
    memcpy(out->data + out->len, s, n);
    out->len += n;
}

static void put_double(sentinel_bytes_t *out, double d) {
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    bytes_reserve(out, 8);
    for (int i = 0; i < 8; i++)
        out->data[out->len++] = (unsigned char)(bits >> (8 * i));
}

/* ---------------------------------------------------------------- the envelope and data */

/* The members of an object at s->p: the data object (collecting its
 * members) or the envelope (one slot per known key). A data member's key
 * must name a field of the schema, so encode() finds a repeated one by its
 * field, without the scanner's set of keys. */
static int scan_members(json_cursor_t *s, int depth, json_token_t *envelope) {
    json_scan_t *st = s->st;
    s->p++;
    json_skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 0;
    }
    for (;;) {
        json_token_t key, value;
        if (s->p >= s->end || *s->p != '"' || json_scan_string(s, &key)) return -1;
        json_skip_ws(s);
        if (s->p >= s->end || *s->p++ != ':') return -1;
        json_skip_ws(s);
        if (envelope) {
            size_t len;
            const char *name = json_string_text(st, &key, &len);
            int k = 0;
            while (k < K_COUNT &&
                   (envelope_names[k].len != len || memcmp(envelope_names[k].name, name, len)))
                k++;
            if (k == K_COUNT || envelope[k].start) return -1; /* unknown or twice */
            if (k == K_DATA) {
                if (s->p >= s->end || *s->p != '{' || depth + 1 > JSON_MAX_DEPTH) return -1;
                value.kind = JT_OBJECT;
                value.start = s->p;
                if (scan_members(s, depth + 1, NULL)) return -1;
            } else if (json_scan_value(s, depth + 1, &value)) {
                return -1;
            }
            envelope[k] = value;
        } else {
            if (json_scan_value(s, depth + 1, &value)) return -1;
            json_add_member(st, &key, &value);
        }
        json_skip_ws(s);
        if (s->p >= s->end) return -1;
        char c = *s->p++;
        if (c == '}') return 0;
        if (c != ',') return -1;
        json_skip_ws(s);
    }
}

/* ---------------------------------------------------------------- values */

/* Copy a validated string token's value to a NUL-terminated buffer of
 * `size` bytes: -1 when it does not fit. */
static int string_copy(json_scan_t *st, const json_token_t *tok, char *buf, size_t size) {
    size_t len;
    const char *v = json_string_text(st, tok, &len);
    if (len >= size) return -1;
    memcpy(buf, v, len);
    buf[len] = '\0';
    return 0;
}

static int uuid_of(json_scan_t *st, const json_token_t *tok, char *out) {
    size_t len;
    if (tok->kind != JT_STRING) return -1;
    const char *text = json_string_text(st, tok, &len);
    return sentinel_uuid_normalize_n(text, len, out);
}

static int timestamp_of(json_scan_t *st, const json_token_t *tok, int64_t *micros) {
    char buf[64], why[160];
    if (tok->kind != JT_STRING || string_copy(st, tok, buf, sizeof(buf))) return -1;
    return sentinel_timestamp_parse(buf, micros, why, sizeof(why)) ||
                   sentinel_timestamp_check_window(*micros, why, sizeof(why))
               ? -1
               : 0;
}

static int double_of(const json_token_t *tok, double *out) {
    int64_t i;
    if (tok->kind != JT_NUMBER) return -1;
    if (!(tok->flags & JF_REAL)) {
        if (json_token_integer(tok, &i)) return -1;
        *out = (double)i;
        return 0;
    }
    return json_token_real(tok, out);
}

static int in_range(const field_plan_t *f, double d) {
    if (f->has_min && d < f->min) return 0;
    if (f->has_max && d > f->max) return 0;
    return 1;
}

/* Validate one data member against its field and append its Avro value
 * (with the union branch of an optional field). */
static int write_field(json_scan_t *st, const field_plan_t *f, const json_token_t *v,
                       sentinel_bytes_t *out, int64_t *as_integer) {
    if (!f->required) put_long(out, 1);
    switch (f->kind) {
    case SENTINEL_FIELD_UUID: {
        char uuid[SENTINEL_UUID_LEN + 1];
        if (uuid_of(st, v, uuid)) return -1;
        put_string(out, uuid, SENTINEL_UUID_LEN);
        return 0;
    }
    case SENTINEL_FIELD_STRING: {
        size_t len;
        if (v->kind != JT_STRING) return -1;
        const char *s = json_string_text(st, v, &len);
        if (!len) return -1;
        put_string(out, s, len);
        return 0;
    }
    case SENTINEL_FIELD_IP: {
        char buf[64];
        unsigned char addr[16];
        if (v->kind != JT_STRING || string_copy(st, v, buf, sizeof(buf))) return -1;
        if (inet_pton(AF_INET, buf, addr) != 1 && inet_pton(AF_INET6, buf, addr) != 1) return -1;
        put_string(out, buf, strlen(buf));
        return 0;
    }
    case SENTINEL_FIELD_TIMESTAMP: {
        int64_t micros;
        if (timestamp_of(st, v, &micros)) return -1;
        put_long(out, micros);
        return 0;
    }
    case SENTINEL_FIELD_INT:
    case SENTINEL_FIELD_LONG: {
        int64_t i;
        if (json_token_integer(v, &i)) return -1;
        if (f->kind == SENTINEL_FIELD_INT && (i < INT32_MIN || i > INT32_MAX)) return -1;
        if (!in_range(f, (double)i)) return -1;
        *as_integer = i;
        put_long(out, i);
        return 0;
    }
    case SENTINEL_FIELD_DOUBLE: {
        double d;
        if (double_of(v, &d) || !in_range(f, d)) return -1;
        put_double(out, d);
        return 0;
    }
    case SENTINEL_FIELD_BOOLEAN:
        if (v->kind != JT_TRUE && v->kind != JT_FALSE) return -1;
        put_byte(out, v->kind == JT_TRUE);
        return 0;
    case SENTINEL_FIELD_OBJECT:
    case SENTINEL_FIELD_JSON: {
        if (v->kind != JT_OBJECT && !(f->kind == SENTINEL_FIELD_JSON && v->kind == JT_ARRAY))
            return -1;
        size_t len = v->len;
        const char *text = v->flags & JF_REWRITE ? json_compact(st, v, &len) : v->start;
        put_string(out, text, len);
        return 0;
    }
    case SENTINEL_FIELD_ENUM: {
        size_t len;
        if (v->kind != JT_STRING) return -1;
        const char *s = json_string_text(st, v, &len);
        for (size_t i = 0; i < json_array_size(f->symbols); i++) {
            const json_t *sym = json_array_get(f->symbols, i);
            if (json_string_length(sym) == len && !memcmp(json_string_value(sym), s, len)) {
                put_long(out, (int64_t)i);
                return 0;
            }
        }
        return -1;
    }
    }
    return -1;
}

/* ---------------------------------------------------------------- the pass */

/* The envelope and data of a scanned line, encoded; -1 when they break a rule. */
static int encode(sentinel_codec_t *codec, json_scan_t *st, const json_token_t *env,
                  sentinel_bytes_t *out, sentinel_event_head_t *head) {
    size_t name_len;
    if (env[K_TYPE].kind != JT_STRING || !env[K_TYPE].start) return -1;
    const char *name = json_string_text(st, &env[K_TYPE], &name_len);
    const sentinel_event_type_t *type = sentinel_event_type_find_n(name, name_len);
    if (!type) return -1;
    int version = sentinel_codec_latest_version(codec, type);
    if (env[K_VERSION].start && env[K_VERSION].kind != JT_NULL) {
        int64_t v;
        if (json_token_integer(&env[K_VERSION], &v) || v < 1 || v > version) return -1;
        version = (int)v;
    }
    const schema_entry_t *e = sentinel_schema_entry(codec, type, version);
    if (!env[K_EVENT_ID].start || uuid_of(st, &env[K_EVENT_ID], head->event_id)) return -1;
    if (!env[K_WORKSPACE_ID].start || uuid_of(st, &env[K_WORKSPACE_ID], head->workspace_id))
        return -1;
    int64_t occurred_at;
    if (!env[K_OCCURRED_AT].start || timestamp_of(st, &env[K_OCCURRED_AT], &occurred_at)) return -1;
    /* Each data member to its field; null is absent. */
    const json_token_t *by_field[64];
    int64_t integers[64];
    if (e->n_fields > 64) return -1;
    memset(by_field, 0, e->n_fields * sizeof(by_field[0]));
    uint64_t seen = 0; /* fields named so far: a key twice is refused */
    size_t next = 0;   /* producers mostly write the fields in schema order: try that first */
    size_t n_members;
    const json_member_t *members = json_members(st, &n_members);
    for (size_t i = 0; i < n_members; i++) {
        size_t len;
        const char *key = json_string_text(st, &members[i].key, &len);
        const field_plan_t *f = &e->fields[next];
        if (next >= e->n_fields || f->name_len != len || memcmp(f->name, key, len))
            f = sentinel_schema_field(e, key, len);
        if (!f) return -1;
        next = (size_t)(f - e->fields) + 1;
        if (seen & (1ull << (next - 1))) return -1;
        seen |= 1ull << (next - 1);
        if (members[i].value.kind != JT_NULL) by_field[f - e->fields] = &members[i].value;
    }

    /* Decoded last: json_string_text() reuses its buffer, and the keys above
     * may have been decoded into it. */
    const json_token_t *source =
        env[K_SOURCE].start && env[K_SOURCE].kind != JT_NULL ? &env[K_SOURCE] : NULL;
    size_t source_len = 0;
    const char *source_text = NULL;
    if (source) {
        if (source->kind != JT_STRING) return -1;
        source_text = json_string_text(st, source, &source_len);
        if (source_len == 0 || source_len > 200) return -1;
    }
    if (!env[K_DATA].start) return -1;
    head->type = type;
    head->version = version;

    bytes_reserve(out, SINGLE_OBJECT_HEADER);
    memcpy(out->data + out->len, e->header, SINGLE_OBJECT_HEADER);
    out->len += SINGLE_OBJECT_HEADER;
    put_string(out, head->event_id, SENTINEL_UUID_LEN);
    put_string(out, head->workspace_id, SENTINEL_UUID_LEN);
    put_long(out, occurred_at);
    if (source) {
        put_long(out, 1);
        put_string(out, source_text, source_len);
    } else {
        put_long(out, 0);
    }
    for (size_t i = 0; i < e->n_fields; i++) {
        const field_plan_t *f = &e->fields[i];
        if (!by_field[i]) {
            if (f->required) return -1;
            put_long(out, 0);
            continue;
        }
        if (write_field(st, f, by_field[i], out, &integers[i])) return -1;
    }
    for (size_t i = 0; i < e->n_fields; i++) {
        int other = e->fields[i].not_before;
        if (other < 0 || !by_field[i]) continue;
        if (!by_field[other] || integers[i] < integers[other]) return -1;
    }
    return 0;
}

int sentinel_json_avro_scan(sentinel_codec_t *codec, const char *json, size_t len,
                            sentinel_bytes_t *out, sentinel_event_head_t *head) {
    if (len > codec->max_bytes) return -1;
    json_scan_t *st = json_scan_begin(&codec->scan);
    json_cursor_t s = {json, json + len, st};
    json_token_t env[K_COUNT];
    memset(env, 0, sizeof(env));
    size_t mark = out->len;
    json_skip_ws(&s);
    if (s.p >= s.end || *s.p != '{' || scan_members(&s, 1, env)) return -1;
    json_skip_ws(&s);
    if (s.p != s.end) return -1;
    if (env[K_DATA].start && env[K_DATA].kind != JT_OBJECT) return -1;
    if (encode(codec, st, env, out, head)) {
        out->len = mark;
        return -1;
    }
    return 0;
}

sentinel_err_t sentinel_event_json_to_avro(sentinel_codec_t *codec, const char *json, size_t len,
                                           sentinel_bytes_t *out, sentinel_event_head_t *head,
                                           char *errstr, size_t errstr_size) {
    if (!sentinel_json_avro_scan(codec, json, len, out, head)) return SENTINEL_OK;
    /* Rejected: the reference path says why. Should it accept, its
     * encoding is used, so no valid event is ever lost to the fast path. */
    sentinel_event_t ev;
    sentinel_err_t err = sentinel_event_from_json(codec, json, len, &ev, errstr, errstr_size);
    if (err) return err;
    const void *bytes;
    size_t n;
    err = sentinel_event_encode(codec, &ev, &bytes, &n, errstr, errstr_size);
    if (!err) {
        bytes_reserve(out, n);
        memcpy(out->data + out->len, bytes, n);
        out->len += n;
        head->type = ev.type;
        head->version = ev.version;
        memcpy(head->event_id, ev.event_id, sizeof(head->event_id));
        memcpy(head->workspace_id, ev.workspace_id, sizeof(head->workspace_id));
        codec->fallbacks++;
    }
    sentinel_event_clear(&ev);
    return err;
}
