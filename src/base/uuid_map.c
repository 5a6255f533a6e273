/* uuid_map.c -- open addressing with linear probing; keys are 36-byte UUIDs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/hash.h"
#include "base/uuid_map.h"

typedef struct slot {
    char key[37];
    void *value;
    int used;
} slot_t;

struct sentinel_uuid_map {
    slot_t *slots;
    size_t cap; /* power of two */
    size_t size;
};

sentinel_uuid_map_t *sentinel_uuid_map_new(void) {
    sentinel_uuid_map_t *m = sentinel_calloc(1, sizeof(*m));
    m->cap = 64;
    m->slots = sentinel_calloc(m->cap, sizeof(slot_t));
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

static slot_t *find(const sentinel_uuid_map_t *m, const char *key) {
    size_t i = (size_t)sentinel_hash(key, strlen(key)) & (m->cap - 1);
    while (m->slots[i].used && strcmp(m->slots[i].key, key))
        i = (i + 1) & (m->cap - 1);
    return &m->slots[i];
}

void *sentinel_uuid_map_get(const sentinel_uuid_map_t *m, const char *key) {
    slot_t *s = find(m, key);
    return s->used ? s->value : NULL;
}

void sentinel_uuid_map_put(sentinel_uuid_map_t *m, const char *key, void *value) {
    if ((m->size + 1) * 2 > m->cap) {
        slot_t *old = m->slots;
        size_t old_cap = m->cap;
        m->cap *= 2;
        m->slots = sentinel_calloc(m->cap, sizeof(slot_t));
        m->size = 0;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].used) sentinel_uuid_map_put(m, old[i].key, old[i].value);
        free(old);
    }
    slot_t *s = find(m, key);
    if (!s->used) {
        strncpy(s->key, key, sizeof(s->key) - 1);
        s->key[sizeof(s->key) - 1] = '\0';
        s->used = 1;
        m->size++;
    }
    s->value = value;
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
