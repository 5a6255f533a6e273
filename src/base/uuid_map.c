/* uuid_map.c -- open addressing with linear probing; keys are UUID text.
 *
 * Each slot keeps its key's hash: a probe compares hashes before bytes,
 * and growing rehashes nothing. The keyed hash (SipHash) is computed once
 * per call. Slot arrays are written before they are read (malloc, then
 * memset), so a fresh array costs one page fault a page, not a read of
 * the zero page and then a copy-on-write fault with its TLB flush. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/hash.h"
#include "base/uuid_map.h"

#define KEY_MAX 36

typedef struct slot {
    uint64_t hash;
    void *value;
    unsigned char used, len;
    char key[KEY_MAX + 1];
} slot_t;

struct sentinel_uuid_map {
    slot_t *slots;
    size_t cap; /* power of two */
    size_t size;
};

static slot_t *slots_new(size_t cap) {
    slot_t *slots = sentinel_malloc(cap * sizeof(slot_t));
    memset(slots, 0, cap * sizeof(slot_t));
    return slots;
}

sentinel_uuid_map_t *sentinel_uuid_map_new(void) {
    sentinel_uuid_map_t *m = sentinel_calloc(1, sizeof(*m));
    m->cap = 64;
    m->slots = slots_new(m->cap);
    return m;
}

void sentinel_uuid_map_destroy(sentinel_uuid_map_t *m) {
    if (!m) return;
    free(m->slots);
    free(m);
}

void sentinel_uuid_map_clear(sentinel_uuid_map_t *m) {
    memset(m->slots, 0, m->cap * sizeof(slot_t));
    m->size = 0;
}

static size_t key_len(const char *key) {
    size_t n = strnlen(key, KEY_MAX + 1);
    return n > KEY_MAX ? KEY_MAX : n;
}

static slot_t *find(const sentinel_uuid_map_t *m, const char *key, size_t len, uint64_t h) {
    size_t i = (size_t)h & (m->cap - 1);
    for (;; i = (i + 1) & (m->cap - 1)) {
        slot_t *s = &m->slots[i];
        if (!s->used || (s->hash == h && s->len == len && !memcmp(s->key, key, len))) return s;
    }
}

static void grow(sentinel_uuid_map_t *m) {
    slot_t *old = m->slots;
    size_t old_cap = m->cap;
    m->cap *= 2;
    m->slots = slots_new(m->cap);
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].used) continue;
        size_t j = (size_t)old[i].hash & (m->cap - 1);
        while (m->slots[j].used)
            j = (j + 1) & (m->cap - 1);
        m->slots[j] = old[i];
    }
    free(old);
}

void *sentinel_uuid_map_get(const sentinel_uuid_map_t *m, const char *key) {
    size_t len = key_len(key);
    slot_t *s = find(m, key, len, sentinel_hash(key, len));
    return s->used ? s->value : NULL;
}

/* The slot of key, made when absent (*made set). */
static slot_t *slot_for(sentinel_uuid_map_t *m, const char *key, int *made) {
    size_t len = key_len(key);
    uint64_t h = sentinel_hash(key, len);
    if ((m->size + 1) * 2 > m->cap) grow(m);
    slot_t *s = find(m, key, len, h);
    *made = !s->used;
    if (*made) {
        s->hash = h;
        s->used = 1;
        s->len = (unsigned char)len;
        memcpy(s->key, key, len);
        s->key[len] = '\0';
        m->size++;
    }
    return s;
}

void sentinel_uuid_map_put(sentinel_uuid_map_t *m, const char *key, void *value) {
    int made;
    slot_for(m, key, &made)->value = value;
}

void *sentinel_uuid_map_add(sentinel_uuid_map_t *m, const char *key, void *value) {
    int made;
    slot_t *s = slot_for(m, key, &made);
    if (!made) return s->value;
    s->value = value;
    return NULL;
}

size_t sentinel_uuid_map_size(const sentinel_uuid_map_t *m) { return m->size; }

int sentinel_uuid_map_next(const sentinel_uuid_map_t *m, size_t *cursor, const char **key,
                           void **value) {
    while (*cursor < m->cap) {
        slot_t *s = &m->slots[(*cursor)++];
        if (s->used) {
            *key = s->key;
            *value = s->value;
            return 1;
        }
    }
    return 0;
}
