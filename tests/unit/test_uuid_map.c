/* test_uuid_map.c -- the per-batch UUID map: put replaces, add keeps what
 * is there, every key survives the map's growth, and iteration and clear
 * see exactly the keys put. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/uuid_map.h"

#define MANY 5000 /* past several doublings of the first 64 slots */

static void uuid_of(unsigned i, char out[37]) {
    snprintf(out, 37, "%08x-0000-4000-8000-%012x", i * 2654435761u, i);
}

static void test_put_replaces_and_add_keeps(void **state) {
    (void)state;
    sentinel_uuid_map_t *m = sentinel_uuid_map_new();
    const char *id = "0b6e1d3c-7a55-4a4e-9d1e-2f0c5b8a9e11";
    int one, two;
    assert_null(sentinel_uuid_map_get(m, id));
    assert_null(sentinel_uuid_map_add(m, id, &one));
    assert_ptr_equal(sentinel_uuid_map_get(m, id), &one);
    /* add finds the key and keeps its value */
    assert_ptr_equal(sentinel_uuid_map_add(m, id, &two), &one);
    assert_ptr_equal(sentinel_uuid_map_get(m, id), &one);
    /* put replaces it */
    sentinel_uuid_map_put(m, id, &two);
    assert_ptr_equal(sentinel_uuid_map_get(m, id), &two);
    assert_int_equal(sentinel_uuid_map_size(m), 1);
    /* A key that differs in its last character is another key. */
    assert_null(sentinel_uuid_map_get(m, "0b6e1d3c-7a55-4a4e-9d1e-2f0c5b8a9e12"));
    /* and so is a prefix of it */
    assert_null(sentinel_uuid_map_get(m, "0b6e1d3c-7a55-4a4e-9d1e-2f0c5b8a9e1"));
    sentinel_uuid_map_destroy(m);
}

static void test_every_key_survives_growth(void **state) {
    (void)state;
    sentinel_uuid_map_t *m = sentinel_uuid_map_new();
    static unsigned values[MANY];
    char key[37];
    for (unsigned i = 0; i < MANY; i++) {
        values[i] = i;
        uuid_of(i, key);
        if (i % 2)
            sentinel_uuid_map_put(m, key, &values[i]);
        else
            assert_null(sentinel_uuid_map_add(m, key, &values[i]));
    }
    assert_int_equal(sentinel_uuid_map_size(m), MANY);
    for (unsigned i = 0; i < MANY; i++) {
        uuid_of(i, key);
        unsigned *v = sentinel_uuid_map_get(m, key);
        assert_non_null(v);
        assert_int_equal(*v, i);
    }
    uuid_of(MANY, key);
    assert_null(sentinel_uuid_map_get(m, key));

    /* Iteration yields each key once, with its own value. */
    size_t cursor = 0, seen = 0;
    const char *k;
    void *v;
    while (sentinel_uuid_map_next(m, &cursor, &k, &v)) {
        unsigned i = *(unsigned *)v;
        uuid_of(i, key);
        assert_string_equal(k, key);
        seen++;
    }
    assert_int_equal(seen, MANY);

    sentinel_uuid_map_clear(m);
    assert_int_equal(sentinel_uuid_map_size(m), 0);
    uuid_of(7, key);
    assert_null(sentinel_uuid_map_get(m, key));
    assert_null(sentinel_uuid_map_add(m, key, &values[7]));
    assert_ptr_equal(sentinel_uuid_map_get(m, key), &values[7]);
    sentinel_uuid_map_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_replaces_and_add_keeps),
        cmocka_unit_test(test_every_key_survives_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
