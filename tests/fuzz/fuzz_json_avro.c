/* fuzz_json_avro.c -- libFuzzer target: the one-pass JSON to Avro front end
 * against the jansson reference on the same bytes (json_avro_diff.h). Any
 * difference in accept/refuse or in the encoding aborts. bench/fuzz.sh runs
 * it for minutes; the test suite runs it briefly. */
#include <jansson.h>
#include <stdint.h>

#include "json_avro_diff.h"

static sentinel_codec_t *codec;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char why[1024];
    if (!codec) {
        codec = sentinel_codec_new(why, sizeof(why));
        if (!codec) abort();
    }
    if (json_avro_differ(codec, (const char *)data, size, why, sizeof(why))) {
        fprintf(stderr, "fuzz_json_avro: %s\n", why);
        abort();
    }
    return 0;
}
