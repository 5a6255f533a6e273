/* uuid_map.h -- a small open-addressing hash map from UUID text to a
 * caller-owned pointer, for the per-batch state of the projectors. */
#ifndef SENTINEL_UUID_MAP_H
#define SENTINEL_UUID_MAP_H

#include <stddef.h>

typedef struct sentinel_uuid_map sentinel_uuid_map_t;

sentinel_uuid_map_t *sentinel_uuid_map_new(void);
/* Frees the map; values are the caller's (free them first if owned). */
void sentinel_uuid_map_destroy(sentinel_uuid_map_t *map);
void sentinel_uuid_map_clear(sentinel_uuid_map_t *map);

/* Borrowed value or NULL. */
void *sentinel_uuid_map_get(const sentinel_uuid_map_t *map, const char *uuid);
/* Insert or replace. The key is copied (its first 36 bytes: UUID text). */
void sentinel_uuid_map_put(sentinel_uuid_map_t *map, const char *uuid, void *value);
/* Insert unless present, with one hash: NULL when inserted, else the
 * value already there (kept). A NULL value cannot be told from absence. */
void *sentinel_uuid_map_add(sentinel_uuid_map_t *map, const char *uuid, void *value);
size_t sentinel_uuid_map_size(const sentinel_uuid_map_t *map);

/* Iterate: returns 0 when done. *cursor starts at 0. */
int sentinel_uuid_map_next(const sentinel_uuid_map_t *map, size_t *cursor, const char **uuid,
                           void **value);

#endif
