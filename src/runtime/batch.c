/* batch.c -- what a batch is made of: messages decoded once and shared in
 * chunks, items (a message as one projector sees it) and the batch API that
 * projectors' apply handlers use. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/kafka_conf.h"
#include "base/utf8.h"
#include "runtime/runtime.h"

/* ---------------------------------------------------------------- messages */

void rt_message_clear(rt_message_t *m) {
    if (m->msg) rd_kafka_message_destroy(m->msg);
    sentinel_event_clear(&m->ev);
    free(m->claimed_type);
    free(m->error);
    memset(m, 0, sizeof(*m));
}

int rt_handles(const sentinel_projector_t *p, const char *type, size_t len) {
    for (size_t i = 0; p->event_types[i]; i++)
        if (strlen(p->event_types[i]) == len && !memcmp(p->event_types[i], type, len)) return 1;
    return 0;
}

int rt_claim_routes(const rt_message_t *m) {
    if (!m->claimed_type) return 0;
    for (size_t i = 0; sentinel_projectors[i]; i++)
        if (rt_handles(sentinel_projectors[i], m->claimed_type, strlen(m->claimed_type))) return 1;
    return 0;
}

int rt_message_for(const rt_message_t *m, const sentinel_projector_t *p) {
    if (m->type) return rt_handles(p, m->type->name, strlen(m->type->name));
    if (rt_claim_routes(m)) return rt_handles(p, m->claimed_type, strlen(m->claimed_type));
    return m->error != NULL; /* nobody can route it: every projector dead-letters it */
}

void rt_chunk_free(rt_chunk_t *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++)
        rt_message_clear(&c->msgs[i]);
    free(c->msgs);
    free(c->spans);
    free(c);
}

/* ---------------------------------------------------------------- items */

void rt_item_clear(rt_item_t *it) {
    free(it->reason);
    memset(it, 0, sizeof(*it));
}

void rt_items_reset(rt_item_t *items, size_t count) {
    for (size_t i = 0; i < count; i++) {
        rt_item_t *it = &items[i];
        if (!it->m->decoded || it->poisoned) continue;
        it->status = ITEM_PENDING;
        free(it->reason);
        it->reason = NULL;
    }
}

/* ---------------------------------------------------------------- batch API */

size_t sentinel_batch_count(const sentinel_batch_t *b) { return b->n; }

const sentinel_event_t *sentinel_batch_event(const sentinel_batch_t *b, size_t i) {
    return &b->events[i]->m->ev;
}

void sentinel_batch_reject(sentinel_batch_t *b, size_t i, const char *fmt, ...) {
    rt_item_t *it = b->events[i];
    char reason[1024];
    va_list ap;
    va_start(ap, fmt);
    sentinel_utf8_vformat(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    free(it->reason);
    it->reason = sentinel_strdup(reason);
    it->status = ITEM_REJECTED;
}

int sentinel_batch_is_rejected(const sentinel_batch_t *b, size_t i) {
    return b->events[i]->status == ITEM_REJECTED;
}

const char *sentinel_batch_topic(const sentinel_batch_t *b) { return b->topic; }

void sentinel_batch_position(const sentinel_batch_t *b, size_t i, int32_t *partition,
                             int64_t *offset) {
    *partition = b->events[i]->m->msg->partition;
    *offset = b->events[i]->m->msg->offset;
}

void sentinel_batch_duplicate(sentinel_batch_t *b, size_t i) {
    b->events[i]->status = ITEM_DUPLICATE;
}

void sentinel_batch_ignore(sentinel_batch_t *b, size_t i) { b->events[i]->status = ITEM_IGNORED; }
