/* fuzz_avro_decode.c -- libFuzzer target: arbitrary bytes through the Avro
 * single-object decoder. Each input gets the C3 01 marker and a known
 * schema's fingerprint put in front (chosen by its first byte), so the fuzzer
 * spends its time inside the datum decoder rather than on the header. The
 * direct reader and the full decoder must agree on every input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sentinel/event.h>
#include "avro_decode_diff.h"

static sentinel_codec_t *codec;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!codec) {
        char errstr[512];
        codec = sentinel_codec_new(errstr, sizeof(errstr));
        if (!codec) abort();
        sentinel_codec_set_max_bytes(codec, 64 * 1024);
    }
    if (size == 0) return 0;
    /* Raw input as it is: header checks. */
    sentinel_event_t ev;
    char errstr[1024];
    if (sentinel_event_decode(codec, data, size, &ev, errstr, sizeof(errstr)) == SENTINEL_OK)
        sentinel_event_clear(&ev);

    /* Behind a valid header. */
    uint64_t fp;
    size_t n = sentinel_codec_schema_count(codec);
    sentinel_codec_schema_info(codec, data[0] % n, NULL, NULL, &fp, NULL);
    uint8_t *buf = malloc(size - 1 + 10);
    buf[0] = 0xC3;
    buf[1] = 0x01;
    for (int b = 0; b < 8; b++)
        buf[2 + b] = (uint8_t)(fp >> (8 * b));
    memcpy(buf + 10, data + 1, size - 1);
    char why[2048];
    if (avro_decode_differ(codec, buf, size - 1 + 10, why, sizeof(why))) {
        fprintf(stderr, "%s\n", why);
        abort();
    }
    if (sentinel_event_decode(codec, buf, size - 1 + 10, &ev, errstr, sizeof(errstr)) ==
        SENTINEL_OK) {
        char *json = sentinel_event_to_json(&ev);
        free(json);
        sentinel_event_clear(&ev);
    }
    free(buf);
    return 0;
}
