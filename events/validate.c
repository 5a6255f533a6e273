/* validate.c -- the reference path from JSON text to a validated event:
 * jansson parses the text into a tree, and the tree is checked against the
 * field table of its schema version (schema_set.h). The one-pass front end
 * (json_avro.c) must agree with it on every input; its messages are the
 * ones users read. */
#include <arpa/inet.h>
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

static const char *const envelope_keys[] = {"event_id",    "type",   "version", "workspace_id",
                                            "occurred_at", "source", "data"};

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

int sentinel_event_is_json_text(const sentinel_event_t *ev, const char *field) {
    const field_plan_t *f = sentinel_event_field(ev, field);
    return f && (f->kind == SENTINEL_FIELD_JSON || f->kind == SENTINEL_FIELD_OBJECT) &&
           json_is_string(json_object_get(ev->data, field));
}

const field_plan_t *sentinel_event_field(const sentinel_event_t *ev, const char *name) {
    return ev->schema ? sentinel_schema_field(ev->schema, name, strlen(name)) : NULL;
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
    /* JSON-valued fields held as text are shown as the values they are. */
    json_t *data = json_copy(ev->data);
    const char *key;
    json_t *value;
    json_object_foreach(ev->data, key, value) {
        if (sentinel_event_is_json_text(ev, key))
            json_object_set_new(data, key, json_loads(json_string_value(value), 0, NULL));
    }
    json_object_set_new(obj, "data", data);
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

int sentinel_field_in_range(const field_plan_t *spec, double d) {
    return !((spec->has_min && d < spec->min) || (spec->has_max && d > spec->max));
}

/* Validate and normalise one data field; a new normalised value in *out. */
static sentinel_err_t check_field(sentinel_codec_t *codec, const field_plan_t *spec,
                                  const json_t *v, int decoded, json_t **out, char *errstr,
                                  size_t errstr_size) {
    const char *name = spec->name;
    switch (spec->kind) {
    case SENTINEL_FIELD_UUID: {
        char uuid[SENTINEL_UUID_LEN + 1];
        if (!json_is_string(v) || sentinel_uuid_normalize(json_string_value(v), uuid)) {
            char q[64];
            if (json_is_string(v))
                snprintf(errstr, errstr_size, "data.%s: \"%s\" is not a UUID", name,
                         sentinel_utf8_shorten(json_string_value(v), 60, q));
            else
                snprintf(errstr, errstr_size, "data.%s must be a UUID string, not %s", name,
                         json_kind_name(v));
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
            char q[64];
            snprintf(errstr, errstr_size, "data.%s: %s%s%s is not an IPv4 or IPv6 address", name,
                     s ? "\"" : "", s ? sentinel_utf8_shorten(s, 60, q) : json_kind_name(v),
                     s ? "\"" : "");
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
                snprintf(errstr, errstr_size, "data.%s must be a number, not %s", name,
                         json_kind_name(v));
                return SENTINEL_ERR_INVALID;
            }
            d = json_number_value(v);
            if (!isfinite(d)) {
                snprintf(errstr, errstr_size, "data.%s must be finite", name);
                return SENTINEL_ERR_INVALID;
            }
        } else {
            if (!json_is_integer(v)) {
                snprintf(errstr, errstr_size, "data.%s must be an integer, not %s", name,
                         json_kind_name(v));
                return SENTINEL_ERR_INVALID;
            }
            json_int_t i = json_integer_value(v);
            if (spec->kind == SENTINEL_FIELD_INT && (i < INT32_MIN || i > INT32_MAX)) {
                snprintf(errstr, errstr_size, "data.%s (%lld) does not fit in 32 bits", name,
                         (long long)i);
                return SENTINEL_ERR_INVALID;
            }
            d = (double)i;
        }
        if (!sentinel_field_in_range(spec, d)) {
            char shown[64];
            if (json_is_integer(v))
                snprintf(shown, sizeof(shown), "%lld", (long long)json_integer_value(v));
            else
                snprintf(shown, sizeof(shown), "%g", d);
            if (spec->has_min && spec->has_max)
                snprintf(errstr, errstr_size, "data.%s (%s) is out of range %.15g..%.15g", name,
                         shown, spec->min, spec->max);
            else if (spec->has_min)
                snprintf(errstr, errstr_size, "data.%s (%s) must be at least %g", name, shown,
                         spec->min);
            else
                snprintf(errstr, errstr_size, "data.%s (%s) must be at most %g", name, shown,
                         spec->max);
            return SENTINEL_ERR_INVALID;
        }
        *out = spec->kind == SENTINEL_FIELD_DOUBLE ? json_real(d) : json_incref((json_t *)v);
        return SENTINEL_OK;
    }
    case SENTINEL_FIELD_BOOLEAN:
        if (!json_is_boolean(v)) {
            snprintf(errstr, errstr_size, "data.%s must be true or false, not %s", name,
                     json_kind_name(v));
            return SENTINEL_ERR_INVALID;
        }
        *out = json_incref((json_t *)v);
        return SENTINEL_OK;
    case SENTINEL_FIELD_OBJECT:
    case SENTINEL_FIELD_JSON:
        if (decoded && json_is_string(v)) {
            /* Text from the topic stays text; it must be JSON of the kind. */
            int kind =
                json_scan_text_kind(&codec->scan, json_string_value(v), json_string_length(v));
            if (kind != '{' && !(spec->kind == SENTINEL_FIELD_JSON && kind == '[')) {
                snprintf(errstr, errstr_size, "data.%s holds %s, not %s", name,
                         kind == '[' ? "a JSON array" : "no valid JSON text",
                         spec->kind == SENTINEL_FIELD_OBJECT ? "a JSON object"
                                                             : "a JSON object or array");
                return SENTINEL_ERR_INVALID;
            }
            *out = json_incref((json_t *)v);
            return SENTINEL_OK;
        }
        if (!json_is_object(v) && !(spec->kind == SENTINEL_FIELD_JSON && json_is_array(v))) {
            snprintf(errstr, errstr_size, "data.%s must be %s, not %s", name,
                     spec->kind == SENTINEL_FIELD_OBJECT ? "a JSON object"
                                                         : "a JSON object or array",
                     json_kind_name(v));
            return SENTINEL_ERR_INVALID;
        }
        *out = json_incref((json_t *)v);
        return SENTINEL_OK;
    case SENTINEL_FIELD_ENUM: {
        const json_t *symbols = spec->symbols;
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
        char q[44];
        if (json_is_string(v))
            n += (size_t)snprintf(errstr + n, n < errstr_size ? errstr_size - n : 0, "\"%s\"",
                                  sentinel_utf8_shorten(json_string_value(v), 40, q));
        else
            n += (size_t)snprintf(errstr + n, n < errstr_size ? errstr_size - n : 0, "%s",
                                  json_kind_name(v));
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
        char q[64];
        if (json_is_string(v))
            snprintf(errstr, errstr_size, "%s: \"%s\" is not a UUID", key,
                     sentinel_utf8_shorten(json_string_value(v), 60, q));
        else
            snprintf(errstr, errstr_size, "%s must be a UUID string, not %s", key,
                     json_kind_name(v));
        return SENTINEL_ERR_INVALID;
    }
    return SENTINEL_OK;
}

/* Check an event's data against `entry`'s field table. The normalised
 * fields go to a new ev->data; or, `decoded` (data was read from Avro and
 * is the caller's to give), replace data's own, and ev->data takes data:
 * there a JSON-valued field is a string of JSON text. */
sentinel_err_t sentinel_validate_data(sentinel_codec_t *codec, const schema_entry_t *entry,
                                      json_t *data, int decoded, sentinel_event_t *ev, char *why,
                                      size_t why_size) {
    const char *key;
    json_t *value;
    void *tmp;
    json_object_foreach_safe(data, tmp, key, value) {
        if (!sentinel_schema_field(entry, key, strlen(key))) {
            int elsewhere = 0;
            for (int v = 1; !elsewhere; v++) {
                const schema_entry_t *other = sentinel_schema_entry(codec, entry->type, v);
                if (!other) break;
                elsewhere = sentinel_schema_field(other, key, strlen(key)) != NULL;
            }
            char q[64];
            snprintf(why, why_size, "data: unknown field \"%s\"%s",
                     sentinel_utf8_shorten(key, 60, q),
                     elsewhere ? " (not in this version of the schema)" : "");
            return SENTINEL_ERR_INVALID;
        }
        if (decoded && json_is_null(value)) json_object_del(data, key);
    }
    ev->data = decoded ? json_incref(data) : json_object();
    ev->schema = entry;
    sentinel_err_t err;
    for (size_t i = 0; i < entry->n_fields; i++) {
        const field_plan_t *spec = &entry->fields[i];
        const json_t *v = json_object_get(data, spec->name);
        if (!v || json_is_null(v)) {
            if (spec->required) {
                snprintf(why, why_size, "data.%s is required", spec->name);
                return SENTINEL_ERR_INVALID;
            }
            continue;
        }
        json_t *normal = NULL;
        if ((err = check_field(codec, spec, v, decoded, &normal, why, why_size))) return err;
        if (normal == v && decoded)
            json_decref(normal); /* already there, as it is */
        else
            json_object_set_new(ev->data, spec->name, normal);
    }
    return sentinel_check_not_before(entry, ev->data, why, why_size);
}

sentinel_err_t sentinel_check_not_before(const schema_entry_t *entry, const json_t *data, char *why,
                                         size_t why_size) {
    for (size_t i = 0; i < entry->n_fields; i++) {
        const field_plan_t *spec = &entry->fields[i];
        if (spec->not_before < 0) continue;
        const char *other = entry->fields[spec->not_before].name;
        const json_t *a = json_object_get(data, spec->name), *b = json_object_get(data, other);
        if (a && !b) {
            snprintf(why, why_size, "data.%s is given without data.%s", spec->name, other);
            return SENTINEL_ERR_INVALID;
        }
        if (a && b && json_integer_value(a) < json_integer_value(b)) {
            snprintf(why, why_size, "data.%s (%lld) is before data.%s (%lld)", spec->name,
                     (long long)json_integer_value(a), other, (long long)json_integer_value(b));
            return SENTINEL_ERR_INVALID;
        }
    }
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
        snprintf(errstr, errstr_size,
                 type_v ? "type must be a string, not %s" : "type is required%s",
                 type_v ? json_kind_name(type_v) : "");
        return SENTINEL_ERR_INVALID;
    }
    const sentinel_event_type_t *type = sentinel_event_type_find(json_string_value(type_v));
    if (!type) {
        char q[64];
        snprintf(errstr, errstr_size, "unknown event type \"%s\"",
                 sentinel_utf8_shorten(json_string_value(type_v), 60, q));
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
            char q[64];
            snprintf(why, sizeof(why),
                     "unknown field \"%s\" (the envelope has event_id, type, version, "
                     "workspace_id, occurred_at, source, data)",
                     sentinel_utf8_shorten(key, 60, q));
            goto invalid;
        }
    }

    const schema_entry_t *entry = forced;
    const json_t *version_v = json_object_get(root, "version");
    if (!entry) {
        int version = sentinel_codec_latest_version(codec, type);
        if (version_v && !json_is_null(version_v)) {
            if (!json_is_integer(version_v)) {
                snprintf(why, sizeof(why), "version must be an integer, not %s",
                         json_kind_name(version_v));
                goto invalid;
            }
            json_int_t v = json_integer_value(version_v);
            if (v < 1 || v > version) {
                snprintf(why, sizeof(why), "version %lld is not a known version (1..%d)",
                         (long long)v, version);
                goto invalid;
            }
            version = (int)v;
        }
        entry = sentinel_schema_entry(codec, type, version);
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
        snprintf(why, sizeof(why), "occurred_at must be an RFC 3339 string, not %s",
                 json_kind_name(occurred));
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
        if (!json_is_string(source) || json_string_length(source) == 0 ||
            json_string_length(source) > 200) {
            snprintf(why, sizeof(why), "source must be a string of 1 to 200 characters");
            goto invalid;
        }
        ev->source = sentinel_strdup(json_string_value(source));
    }

    const json_t *data = json_object_get(root, "data");
    if (!json_is_object(data)) {
        snprintf(why, sizeof(why), data ? "data must be an object, not %s" : "data is required%s",
                 data ? json_kind_name(data) : "");
        goto invalid;
    }
    if ((err = sentinel_validate_data(codec, entry, (json_t *)data, 0, ev, why, sizeof(why))))
        goto invalid_err;
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
    /* jansson skips a NUL byte that follows a number or a literal; no
     * JSON text holds one anywhere. */
    const char *nul = memchr(json, '\0', len);
    if (nul) {
        snprintf(errstr, errstr_size, "not valid JSON: a NUL byte (column %zu)",
                 (size_t)(nul - json) + 1);
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
