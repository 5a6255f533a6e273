/* encode_avro.c -- benchmark helper: NDJSON events in, the exact Kafka
 * records `sentinel publish` would produce out (key, then value, each
 * followed by a delimiter), for kcat to produce as the reference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sentinel/event.h>
#include "base/line_reader.h"

#define KEY_DELIM "\x1e\x1fK\x1f\x1e"
#define MSG_DELIM "\x1e\x1fM\x1f\x1e"

int main(void) {
    char errstr[1024];
    sentinel_codec_t *codec = sentinel_codec_new(errstr, sizeof(errstr));
    if (!codec) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    sentinel_line_reader_t *reader =
        sentinel_line_reader_new(stdin, SENTINEL_EVENT_MAX_BYTES_DEFAULT);
    const char *line;
    size_t len;
    unsigned long n, written = 0;
    sentinel_line_status_t st;
    while ((st = sentinel_line_reader_next(reader, &line, &len, &n)) == SENTINEL_LINE_OK ||
           st == SENTINEL_LINE_TOO_LONG) {
        sentinel_event_t ev;
        if (st != SENTINEL_LINE_OK ||
            sentinel_event_from_json(codec, line, len, &ev, errstr, sizeof(errstr)))
            continue;
        const void *bytes;
        size_t size;
        if (!sentinel_event_encode(codec, &ev, &bytes, &size, errstr, sizeof(errstr))) {
            if (memmem(bytes, size, MSG_DELIM, strlen(MSG_DELIM))) {
                fprintf(stderr, "line %lu: value contains the delimiter\n", n);
                return 1;
            }
            fwrite(ev.workspace_id, 1, SENTINEL_UUID_LEN, stdout);
            fputs(KEY_DELIM, stdout);
            fwrite(bytes, 1, size, stdout);
            fputs(MSG_DELIM, stdout);
            written++;
        }
        sentinel_event_clear(&ev);
    }
    fprintf(stderr, "%lu records\n", written);
    sentinel_line_reader_destroy(reader);
    sentinel_codec_destroy(codec);
    return 0;
}
