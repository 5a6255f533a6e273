/* fingerprint.c -- Parsing Canonical Form and CRC-64-AVRO.
 *
 * The canonical form keeps only what parsing needs: primitives in their
 * simple form, full names, the attributes type, name, fields, symbols,
 * items, values and size in that order, no whitespace. Two schemas that
 * read the same bytes have the same canonical form, hence fingerprint. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "events/fingerprint.h"

typedef struct builder {
    char *buf;
    size_t len;
    size_t cap;
} builder_t;

static void put(builder_t *b, const char *s) {
    size_t n = strlen(s);
    b->buf = sentinel_grow(b->buf, &b->cap, b->len, n + 1, 256);
    memcpy(b->buf + b->len, s, n + 1);
    b->len += n;
}

static void put_quoted(builder_t *b, const char *s) {
    put(b, "\"");
    put(b, s);
    put(b, "\"");
}

static int is_primitive(const char *name) {
    static const char *const primitives[] = {"null",  "boolean", "int",   "long",
                                             "float", "double",  "bytes", "string"};
    for (size_t i = 0; i < sizeof(primitives) / sizeof(primitives[0]); i++)
        if (!strcmp(name, primitives[i])) return 1;
    return 0;
}

/* Full name of `name` in namespace `ns` (NULL or "" for none). New string. */
static char *full_name(const char *name, const char *ns) {
    char *out = NULL;
    if (strchr(name, '.') || !ns || !*ns)
        out = sentinel_strdup(name);
    else
        out = sentinel_aprintf("%s.%s", ns, name);
    return out;
}

/* The namespace part of a full name ("" when there is none). New string. */
static char *namespace_of(const char *fullname) {
    size_t len = strlen(fullname);
    while (len && fullname[len - 1] != '.')
        len--;
    char *out = sentinel_strndup(fullname, len ? len - 1 : 0);
    return out;
}

static int canonical(builder_t *b, const json_t *schema, const char *ns, char *errstr,
                     size_t errstr_size);

static int canonical_named(builder_t *b, const json_t *schema, const char *type, const char *ns,
                           char *errstr, size_t errstr_size) {
    const char *name = json_string_value(json_object_get(schema, "name"));
    if (!name) {
        snprintf(errstr, errstr_size, "%s schema without a name", type);
        return -1;
    }
    const char *own_ns = json_string_value(json_object_get(schema, "namespace"));
    char *full = full_name(name, own_ns ? own_ns : ns);
    char *inner_ns = namespace_of(full);
    int rc = 0;

    put(b, "{\"name\":");
    put_quoted(b, full);
    put(b, ",\"type\":");
    put_quoted(b, type);
    if (!strcmp(type, "record") || !strcmp(type, "error")) {
        const json_t *fields = json_object_get(schema, "fields");
        if (!json_is_array(fields)) {
            snprintf(errstr, errstr_size, "record %s: fields is not an array", full);
            rc = -1;
            goto out;
        }
        put(b, ",\"fields\":[");
        size_t i;
        const json_t *field;
        json_array_foreach(fields, i, field) {
            const char *fname = json_string_value(json_object_get(field, "name"));
            if (!fname || !json_object_get(field, "type")) {
                snprintf(errstr, errstr_size, "record %s: field %zu needs a name and a type", full,
                         i);
                rc = -1;
                goto out;
            }
            if (i) put(b, ",");
            put(b, "{\"name\":");
            put_quoted(b, fname);
            put(b, ",\"type\":");
            if ((rc = canonical(b, json_object_get(field, "type"), inner_ns, errstr, errstr_size)))
                goto out;
            put(b, "}");
        }
        put(b, "]");
    } else if (!strcmp(type, "enum")) {
        const json_t *symbols = json_object_get(schema, "symbols");
        if (!json_is_array(symbols)) {
            snprintf(errstr, errstr_size, "enum %s: symbols is not an array", full);
            rc = -1;
            goto out;
        }
        put(b, ",\"symbols\":[");
        size_t i;
        const json_t *sym;
        json_array_foreach(symbols, i, sym) {
            if (!json_is_string(sym)) {
                snprintf(errstr, errstr_size, "enum %s: symbol %zu is not a string", full, i);
                rc = -1;
                goto out;
            }
            if (i) put(b, ",");
            put_quoted(b, json_string_value(sym));
        }
        put(b, "]");
    } else { /* fixed */
        const json_t *size = json_object_get(schema, "size");
        if (!json_is_integer(size) || json_integer_value(size) < 0) {
            snprintf(errstr, errstr_size, "fixed %s: size is not a non-negative integer", full);
            rc = -1;
            goto out;
        }
        char num[32];
        snprintf(num, sizeof(num), ",\"size\":%lld", (long long)json_integer_value(size));
        put(b, num);
    }
    put(b, "}");
out:
    free(full);
    free(inner_ns);
    return rc;
}

static int canonical(builder_t *b, const json_t *schema, const char *ns, char *errstr,
                     size_t errstr_size) {
    if (json_is_string(schema)) {
        const char *name = json_string_value(schema);
        if (is_primitive(name)) {
            put_quoted(b, name);
        } else {
            char *full = full_name(name, ns);
            put_quoted(b, full);
            free(full);
        }
        return 0;
    }
    if (json_is_array(schema)) { /* a union */
        put(b, "[");
        size_t i;
        const json_t *branch;
        json_array_foreach(schema, i, branch) {
            if (i) put(b, ",");
            if (canonical(b, branch, ns, errstr, errstr_size)) return -1;
        }
        put(b, "]");
        return 0;
    }
    if (!json_is_object(schema)) {
        snprintf(errstr, errstr_size, "a schema is a string, an array or an object");
        return -1;
    }
    const char *type = json_string_value(json_object_get(schema, "type"));
    if (!type) {
        /* {"type": {...}} nests a schema; {"type": [...]} a union. */
        const json_t *inner = json_object_get(schema, "type");
        if (inner) return canonical(b, inner, ns, errstr, errstr_size);
        snprintf(errstr, errstr_size, "schema object without a type");
        return -1;
    }
    if (is_primitive(type)) { /* logical types and other attributes drop away */
        put_quoted(b, type);
        return 0;
    }
    if (!strcmp(type, "record") || !strcmp(type, "error") || !strcmp(type, "enum") ||
        !strcmp(type, "fixed"))
        return canonical_named(b, schema, type, ns, errstr, errstr_size);
    if (!strcmp(type, "array") || !strcmp(type, "map")) {
        const char *key = !strcmp(type, "array") ? "items" : "values";
        const json_t *inner = json_object_get(schema, key);
        if (!inner) {
            snprintf(errstr, errstr_size, "%s schema without %s", type, key);
            return -1;
        }
        put(b, "{\"type\":");
        put_quoted(b, type);
        put(b, ",\"");
        put(b, key);
        put(b, "\":");
        if (canonical(b, inner, ns, errstr, errstr_size)) return -1;
        put(b, "}");
        return 0;
    }
    /* A reference to a named type, written as {"type": "Name"}. */
    char *full = full_name(type, ns);
    put_quoted(b, full);
    free(full);
    return 0;
}

char *sentinel_schema_canonical_form(const char *json, size_t len, char *errstr,
                                     size_t errstr_size) {
    json_error_t jerr;
    json_t *schema = json_loadb(json, len, JSON_DECODE_ANY, &jerr);
    if (!schema) {
        snprintf(errstr, errstr_size, "schema JSON, line %d: %s", jerr.line, jerr.text);
        return NULL;
    }
    builder_t b = {0};
    int rc = canonical(&b, schema, NULL, errstr, errstr_size);
    json_decref(schema);
    if (rc) {
        free(b.buf);
        return NULL;
    }
    return b.buf;
}

#define CRC64_AVRO_EMPTY 0xc15d213aa4d7a795ULL

static uint64_t crc64_table[256];
static pthread_once_t crc64_once = PTHREAD_ONCE_INIT;

static void crc64_init(void) {
    for (int i = 0; i < 256; i++) {
        uint64_t fp = (uint64_t)i;
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (CRC64_AVRO_EMPTY & (0 - (fp & 1)));
        crc64_table[i] = fp;
    }
}

uint64_t sentinel_crc64_avro(const void *data, size_t len) {
    pthread_once(&crc64_once, crc64_init);
    const uint64_t *table = crc64_table;
    const unsigned char *p = data;
    uint64_t fp = CRC64_AVRO_EMPTY;
    for (size_t i = 0; i < len; i++)
        fp = (fp >> 8) ^ table[(fp ^ p[i]) & 0xff];
    return fp;
}
