/* json_avro_diff.h -- the differential check between the one-pass front
 * end (events/json_avro.c) and the reference path (jansson tree, then
 * validation, then avro-c): both must accept or refuse the same input, and
 * accepted input must encode the same. Bytes are compared exactly; where
 * they differ, the only difference allowed is the text of numbers inside
 * JSON-valued fields (the one-pass front end keeps the producer's), so
 * both encodings are decoded and their events compared value by value. */
#ifndef SENTINEL_TESTS_JSON_AVRO_DIFF_H
#define SENTINEL_TESTS_JSON_AVRO_DIFF_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sentinel/event.h>
#include "events/schema_set.h"

/* Decoded data alike: JSON-valued fields (text) by the values they hold. */
static int same_data(const sentinel_event_t *a, const sentinel_event_t *b) {
    if (json_object_size(a->data) != json_object_size(b->data)) return 0;
    const char *key;
    json_t *va;
    json_object_foreach(a->data, key, va) {
        json_t *vb = json_object_get(b->data, key);
        if (!vb) return 0;
        if (sentinel_event_is_json_text(a, key) && sentinel_event_is_json_text(b, key)) {
            json_t *ta = json_loads(json_string_value(va), 0, NULL);
            json_t *tb = json_loads(json_string_value(vb), 0, NULL);
            int same = ta && tb && json_equal(ta, tb);
            json_decref(ta);
            json_decref(tb);
            if (!same) return 0;
        } else if (!json_equal(va, vb)) {
            return 0;
        }
    }
    return 1;
}

/* 0 when both paths agree on `json`; else -1 with what differs in why. */
static int json_avro_differ(sentinel_codec_t *codec, const char *json, size_t len, char *why,
                            size_t why_size) {
    sentinel_bytes_t fast = {0};
    sentinel_event_head_t head;
    sentinel_event_t ref, a, b;
    char errstr[1024];
    int rc = -1;
    int fast_ok = sentinel_json_avro_scan(codec, json, len, &fast, &head) == 0;
    int ref_ok =
        sentinel_event_from_json(codec, json, len, &ref, errstr, sizeof(errstr)) == SENTINEL_OK;
    if (fast_ok != ref_ok) {
        snprintf(why, why_size, "one pass %s, reference %s (%s)", fast_ok ? "accepts" : "refuses",
                 ref_ok ? "accepts" : "refuses", ref_ok ? "" : errstr);
        free(fast.data);
        if (ref_ok) sentinel_event_clear(&ref);
        return -1;
    }
    if (!ref_ok) {
        if (fast.len) snprintf(why, why_size, "one pass refused but left %zu bytes", fast.len);
        free(fast.data);
        return fast.len ? -1 : 0;
    }
    const void *bytes;
    size_t n;
    if (sentinel_event_encode(codec, &ref, &bytes, &n, errstr, sizeof(errstr))) {
        snprintf(why, why_size, "reference cannot encode: %s", errstr);
        goto done;
    }
    if (strcmp(head.event_id, ref.event_id) || strcmp(head.workspace_id, ref.workspace_id) ||
        head.type != ref.type || head.version != ref.version) {
        snprintf(why, why_size, "envelope differs");
        goto done;
    }
    if (n == fast.len && !memcmp(bytes, fast.data, n)) {
        rc = 0;
        goto done;
    }
    void *copy = malloc(n);
    memcpy(copy, bytes, n);
    if (sentinel_event_decode(codec, copy, n, &a, errstr, sizeof(errstr))) {
        snprintf(why, why_size, "reference bytes do not decode: %s", errstr);
        free(copy);
        goto done;
    }
    free(copy);
    if (sentinel_event_decode(codec, fast.data, fast.len, &b, errstr, sizeof(errstr))) {
        snprintf(why, why_size, "one-pass bytes do not decode: %s", errstr);
        sentinel_event_clear(&a);
        goto done;
    }
    if (a.type != b.type || a.version != b.version || strcmp(a.event_id, b.event_id) ||
        strcmp(a.workspace_id, b.workspace_id) || a.occurred_at != b.occurred_at ||
        (!a.source != !b.source) || (a.source && strcmp(a.source, b.source)) ||
        !same_data(&a, &b)) {
        char *ta = sentinel_event_to_json(&a), *tb = sentinel_event_to_json(&b);
        snprintf(why, why_size, "encodings differ: reference %.400s, one pass %.400s", ta, tb);
        free(ta);
        free(tb);
    } else {
        rc = 0;
    }
    sentinel_event_clear(&a);
    sentinel_event_clear(&b);
done:
    free(fast.data);
    sentinel_event_clear(&ref);
    return rc;
}

#endif
