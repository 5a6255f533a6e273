/* fuzz_json_validate.c -- libFuzzer target: arbitrary bytes through the
 * JSON event validator; whatever validates must also encode and decode back
 * to the same event. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sentinel/event.h>

static sentinel_codec_t *codec;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!codec) {
        char errstr[512];
        codec = sentinel_codec_new(errstr, sizeof(errstr));
        if (!codec) abort();
    }
    sentinel_event_t ev, back;
    char errstr[1024];
    if (sentinel_event_from_json(codec, (const char *)data, size, &ev, errstr, sizeof(errstr)))
        return 0;
    const void *bytes;
    size_t len;
    if (sentinel_event_encode(codec, &ev, &bytes, &len, errstr, sizeof(errstr))) abort();
    void *copy = malloc(len);
    memcpy(copy, bytes, len);
    if (sentinel_event_decode(codec, copy, len, &back, errstr, sizeof(errstr))) abort();
    char *a = sentinel_event_to_json(&ev), *b = sentinel_event_to_json(&back);
    if (strcmp(a, b)) abort();
    free(a);
    free(b);
    free(copy);
    sentinel_event_clear(&back);
    sentinel_event_clear(&ev);
    return 0;
}
