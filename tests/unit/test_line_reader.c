/* test_line_reader.c -- bounded line reading: long lines are skipped and
 * counted, never buffered; CRLF and a last line without newline work. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/line_reader.h"

static void test_lines(void **state) {
    (void)state;
    static char input[] = "one\r\n\ntoo-long-line\nfits-8!!\nlast";
    FILE *f = fmemopen(input, strlen(input), "r");
    sentinel_line_reader_t *r = sentinel_line_reader_new(f, 8);
    const char *line;
    size_t len;
    unsigned long n;
    assert_int_equal(sentinel_line_reader_next(r, &line, &len, &n), SENTINEL_LINE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(len, 3);
    assert_memory_equal(line, "one", 3);
    assert_int_equal(sentinel_line_reader_next(r, &line, &len, &n), SENTINEL_LINE_OK);
    assert_int_equal(len, 0);
    assert_int_equal(sentinel_line_reader_next(r, &line, &len, &n), SENTINEL_LINE_TOO_LONG);
    assert_int_equal(n, 3);
    assert_int_equal(len, 13);
    size_t head_len = 0;
    const char *head = sentinel_line_reader_head(r, &head_len);
    assert_int_equal(head_len, 9); /* what the buffer held of it */
    assert_memory_equal(head, "too-long-", 9);
    assert_int_equal(sentinel_line_reader_next(r, &line, &len, &n), SENTINEL_LINE_OK);
    assert_int_equal(n, 4);
    assert_int_equal(len, 8);
    assert_memory_equal(line, "fits-8!!", 8);
    assert_int_equal(sentinel_line_reader_next(r, &line, &len, &n), SENTINEL_LINE_OK);
    assert_int_equal(len, 4);
    assert_memory_equal(line, "last", 4);
    assert_int_equal(sentinel_line_reader_next(r, &line, &len, &n), SENTINEL_LINE_EOF);
    sentinel_line_reader_destroy(r);
    fclose(f);
}

static void test_long_line_at_end(void **state) {
    (void)state;
    static char input[] = "ok\n0123456789abcdef0123456789";
    FILE *f = fmemopen(input, strlen(input), "r");
    sentinel_line_reader_t *r = sentinel_line_reader_new(f, 4);
    const char *line;
    size_t len;
    unsigned long n;
    assert_int_equal(sentinel_line_reader_next(r, &line, &len, &n), SENTINEL_LINE_OK);
    assert_int_equal(sentinel_line_reader_next(r, &line, &len, &n), SENTINEL_LINE_TOO_LONG);
    assert_int_equal(len, 26);
    assert_int_equal(sentinel_line_reader_next(r, &line, &len, &n), SENTINEL_LINE_EOF);
    sentinel_line_reader_destroy(r);
    fclose(f);
}

static void test_many_lines_small_buffer(void **state) {
    (void)state;
    /* Lines straddle every buffer boundary. */
    char input[4000];
    size_t pos = 0;
    for (int i = 0; i < 300; i++)
        pos += (size_t)snprintf(input + pos, sizeof(input) - pos, "%d\n", i * 37);
    FILE *f = fmemopen(input, pos, "r");
    sentinel_line_reader_t *r = sentinel_line_reader_new(f, 7);
    const char *line;
    size_t len;
    unsigned long n;
    for (int i = 0; i < 300; i++) {
        char want[16];
        snprintf(want, sizeof(want), "%d", i * 37);
        assert_int_equal(sentinel_line_reader_next(r, &line, &len, &n), SENTINEL_LINE_OK);
        assert_int_equal(len, strlen(want));
        assert_memory_equal(line, want, len);
    }
    assert_int_equal(sentinel_line_reader_next(r, &line, &len, &n), SENTINEL_LINE_EOF);
    sentinel_line_reader_destroy(r);
    fclose(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_long_line_at_end),
        cmocka_unit_test(test_many_lines_small_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
