/* test_hash_flood.c -- keys crafted to collide cannot turn a linear pass
 * quadratic: 30,000 object keys whose unseeded FNV-1a hashes share their
 * low 16 bits (one run of slots in an open-addressing table) cost no more
 * than twice as many random keys of the same length, in the JSON scanner's
 * duplicate-key set and in the UUID map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <sentinel/event.h>
#include "base/uuid_map.h"

#define KEYS 30000
#define KEY_LEN 12 /* 9 free characters, then 3 chosen to collide */

static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/* The low 16 bits of 32-bit FNV-1a depend only on the low 16 bits of the
 * state and the bytes, and multiplying by the (odd) prime is invertible
 * modulo 2^16: three last characters steer any prefix to `target`. */
static int steer(char *key, size_t free_len, uint16_t target) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < free_len; i++)
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    uint16_t inverse = 1; /* of 16777619 mod 2^16, by Newton's steps */
    uint16_t prime = (uint16_t)16777619u;
    for (int i = 0; i < 5; i++)
        inverse = (uint16_t)((uint32_t)inverse * (2u - (uint32_t)prime * inverse));
    uint16_t before_last = (uint16_t)((uint32_t)target * inverse);
    for (size_t a = 0; a < sizeof(alphabet) - 1; a++) {
        for (size_t b = 0; b < sizeof(alphabet) - 1; b++) {
            uint32_t s = (h ^ (unsigned char)alphabet[a]) * 16777619u;
            s = (s ^ (unsigned char)alphabet[b]) * 16777619u;
            if ((s & 0xff00) != (before_last & 0xff00)) continue;
            unsigned char c = (unsigned char)((s ^ before_last) & 0xff);
            if (!c || !strchr(alphabet, c)) continue;
            key[free_len] = alphabet[a];
            key[free_len + 1] = alphabet[b];
            key[free_len + 2] = (char)c;
            return 0;
        }
    }
    return -1;
}

static unsigned long next(unsigned long *seed) {
    *seed = *seed * 6364136223846793005ul + 1442695040888963407ul;
    return *seed >> 33;
}

/* KEYS distinct keys of KEY_LEN characters, crafted or random. */
static char *make_keys(int crafted) {
    char *keys = calloc(KEYS, KEY_LEN + 1);
    unsigned long seed = 42;
    for (int k = 0; k < KEYS;) {
        char *key = keys + (size_t)k * (KEY_LEN + 1);
        size_t n = crafted ? KEY_LEN - 3 : KEY_LEN;
        for (size_t i = 0; i < n; i++)
            key[i] = alphabet[next(&seed) % (sizeof(alphabet) - 1)];
        if (crafted && steer(key, n, 0x5a5a)) continue;
        k++;
    }
    return keys;
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A RunStarted whose metadata object holds every key once. */
static char *event_with(const char *keys) {
    size_t cap = (size_t)KEYS * (KEY_LEN + 8) + 1024, len = 0;
    char *json = malloc(cap);
    len += (size_t)snprintf(
        json, cap,
        "{\"event_id\": \"e1000000-0000-4000-8000-000000000001\", \"type\": \"RunStarted\", "
        "\"workspace_id\": \"a0000000-0000-4000-8000-000000000001\", \"occurred_at\": "
        "\"2026-11-26T10:00:00Z\", \"data\": {\"run_id\": "
        "\"e2000000-0000-4000-8000-000000000001\", "
        "\"repository_id\": \"a1000000-0000-4000-8000-000000000001\", \"external_reference\": "
        "\"pr-1\", \"metadata\": {");
    for (int k = 0; k < KEYS; k++)
        len += (size_t)snprintf(json + len, cap - len, "%s\"%s\": 1", k ? ", " : "",
                                keys + (size_t)k * (KEY_LEN + 1));
    snprintf(json + len, cap - len, "}}}");
    return json;
}

/* The least of a few runs of encoding the event: the noise of a busy
 * machine only ever adds. */
static double encode_time(sentinel_codec_t *codec, const char *json) {
    double best = 1e9;
    for (int run = 0; run < 5; run++) {
        char errstr[512];
        sentinel_bytes_t out = {0};
        sentinel_event_head_t head;
        double t0 = seconds();
        sentinel_err_t err = sentinel_event_json_to_avro(codec, json, strlen(json), &out, &head,
                                                         errstr, sizeof(errstr));
        double t = seconds() - t0;
        if (err) fail_msg("the event did not encode: %s", errstr);
        free(out.data);
        if (t < best) best = t;
    }
    return best;
}

static void test_json_keys(void **state) {
    (void)state;
    char errstr[512];
    sentinel_codec_t *codec = sentinel_codec_new(errstr, sizeof(errstr));
    assert_non_null(codec);
    sentinel_codec_set_max_bytes(codec, 4u << 20);
    char *crafted = make_keys(1), *random = make_keys(0);
    char *crafted_json = event_with(crafted), *random_json = event_with(random);
    double t_crafted = encode_time(codec, crafted_json);
    double t_random = encode_time(codec, random_json);
    print_message("JSON keys: crafted %.1f ms, random %.1f ms\n", t_crafted * 1e3, t_random * 1e3);
    if (t_crafted > 2 * t_random)
        fail_msg("30,000 colliding keys cost %.1fx random ones", t_crafted / t_random);
    free(crafted_json);
    free(random_json);
    free(crafted);
    free(random);
    sentinel_codec_destroy(codec);
}

/* UUID-shaped keys for the map: crafted ones collide in their last 3. */
static double map_time(const char *keys) {
    double best = 1e9;
    for (int run = 0; run < 5; run++) {
        sentinel_uuid_map_t *m = sentinel_uuid_map_new();
        double t0 = seconds();
        for (int k = 0; k < KEYS; k++)
            sentinel_uuid_map_put(m, keys + (size_t)k * 37, (void *)(uintptr_t)(k + 1));
        for (int k = 0; k < KEYS; k++)
            assert_int_equal((uintptr_t)sentinel_uuid_map_get(m, keys + (size_t)k * 37), k + 1);
        double t = seconds() - t0;
        sentinel_uuid_map_destroy(m);
        if (t < best) best = t;
    }
    return best;
}

static char *make_uuids(int crafted) {
    char *keys = calloc(KEYS, 37);
    unsigned long seed = 7;
    /* 64-bit FNV-1a: its low 16 bits, as the 32-bit one's, depend on the
     * low bits only, and its prime is odd too. */
    for (int k = 0; k < KEYS;) {
        char *key = keys + (size_t)k * 37;
        for (int i = 0; i < 36; i++)
            key[i] = "0123456789abcdef"[next(&seed) % 16];
        key[8] = key[13] = key[18] = key[23] = '-';
        if (crafted) {
            uint64_t h = 1469598103934665603ull;
            for (int i = 0; i < 33; i++)
                h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
            int found = 0;
            for (int a = 0; a < 16 && !found; a++)
                for (int b = 0; b < 16 && !found; b++)
                    for (int c = 0; c < 16 && !found; c++) {
                        uint64_t s = (h ^ (unsigned char)"0123456789abcdef"[a]) * 1099511628211ull;
                        s = (s ^ (unsigned char)"0123456789abcdef"[b]) * 1099511628211ull;
                        s = (s ^ (unsigned char)"0123456789abcdef"[c]) * 1099511628211ull;
                        if ((s & 0xfff) != 0xa5a) continue;
                        key[33] = "0123456789abcdef"[a];
                        key[34] = "0123456789abcdef"[b];
                        key[35] = "0123456789abcdef"[c];
                        found = 1;
                    }
            if (!found) continue;
        }
        k++; /* 33 random hex digits: distinct in practice */
    }
    return keys;
}

static void test_uuid_map(void **state) {
    (void)state;
    char *crafted = make_uuids(1), *random = make_uuids(0);
    double t_crafted = map_time(crafted), t_random = map_time(random);
    print_message("UUID map: crafted %.1f ms, random %.1f ms\n", t_crafted * 1e3, t_random * 1e3);
    if (t_crafted > 2 * t_random)
        fail_msg("30,000 colliding UUIDs cost %.1fx random ones", t_crafted / t_random);
    free(crafted);
    free(random);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_keys),
        cmocka_unit_test(test_uuid_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
