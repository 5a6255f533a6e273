/* avro_decode_diff.h -- the differential check between the direct reader
 * (sentinel_event_decode, events/avro_codec.c) and the full decoder behind
 * it (avro-c's generic read, then validation): both must accept or refuse
 * the same bytes, refusals with the same message, and accepted bytes must
 * give the same event, its data field by field in the same order. */
#ifndef SENTINEL_TESTS_AVRO_DECODE_DIFF_H
#define SENTINEL_TESTS_AVRO_DECODE_DIFF_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sentinel/event.h>
#include "events/schema_set.h"

static int same_text(const char *a, const char *b) {
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* 0 when both decoders agree on the bytes; else -1 with what differs. */
static int avro_decode_differ(sentinel_codec_t *codec, const void *bytes, size_t len, char *why,
                              size_t why_size) {
    sentinel_event_t a, b;
    char ea[1024], eb[1024];
    int a_ok = sentinel_event_decode(codec, bytes, len, &a, ea, sizeof(ea)) == SENTINEL_OK;
    int b_ok = sentinel_event_decode_full(codec, bytes, len, &b, eb, sizeof(eb)) == SENTINEL_OK;
    int rc = -1;
    if (a_ok != b_ok) {
        snprintf(why, why_size, "direct %s, full %s (%.400s)", a_ok ? "accepts" : "refuses",
                 b_ok ? "accepts" : "refuses", a_ok ? eb : ea);
        goto done;
    }
    if (!a_ok) {
        if (strcmp(ea, eb) || a.type != b.type || strcmp(a.event_id, b.event_id) ||
            strcmp(a.workspace_id, b.workspace_id)) {
            snprintf(why, why_size, "refused differently: \"%.400s\" against \"%.400s\"", ea, eb);
            goto done;
        }
        rc = 0;
        goto done;
    }
    char *da = json_dumps(a.data, JSON_COMPACT), *db = json_dumps(b.data, JSON_COMPACT);
    if (a.type != b.type || a.version != b.version || a.schema != b.schema ||
        strcmp(a.event_id, b.event_id) || strcmp(a.workspace_id, b.workspace_id) ||
        a.occurred_at != b.occurred_at || !same_text(a.source, b.source))
        snprintf(why, why_size, "envelopes differ");
    else if (!da || !db || strcmp(da, db))
        snprintf(why, why_size, "data differ: %.400s against %.400s", da ? da : "?", db ? db : "?");
    else
        rc = 0;
    free(da);
    free(db);
done:
    if (a_ok) sentinel_event_clear(&a);
    if (b_ok) sentinel_event_clear(&b);
    return rc;
}

#endif
