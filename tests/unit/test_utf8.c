/* test_utf8.c -- text cut at a byte count never ends mid-character. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/utf8.h"

static void format(char *out, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sentinel_utf8_vformat(out, size, fmt, ap);
    va_end(ap);
}

static void test_cut_at_every_byte(void **state) {
    (void)state;
    /* 1-, 2-, 3- and 4-byte characters: "a", "é", "€", "𝄞". */
    const char *text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E"
                       "b";
    static const size_t boundaries[] = {0, 1, 3, 6, 10, 11};
    for (size_t size = 1; size <= strlen(text) + 1; size++) {
        char out[32];
        format(out, size, "%s", text);
        size_t len = strlen(out), want = 0;
        for (size_t k = 0; k < sizeof(boundaries) / sizeof(boundaries[0]); k++)
            if (boundaries[k] <= size - 1) want = boundaries[k];
        assert_int_equal(len, want);
        assert_memory_equal(out, text, len);
    }
}

static void test_trim_keeps_whole_text(void **state) {
    (void)state;
    char s[] = "reason: \xE2\x82\xAC";
    assert_int_equal(sentinel_utf8_trim(s), strlen("reason: \xE2\x82\xAC"));
    char cut[] = "reason: \xE2\x82";
    assert_int_equal(sentinel_utf8_trim(cut), strlen("reason: "));
    assert_string_equal(cut, "reason: ");
    char empty[] = "";
    assert_int_equal(sentinel_utf8_trim(empty), 0);
}

/* Text from events reaches a terminal as data: ESC, BEL, CR, newlines
 * and C1 controls escaped, the rest (UTF-8 included) as it is. */
static void test_escape_controls(void **state) {
    (void)state;
    char out[64];
    sentinel_utf8_escape_controls("\x1b]0;pwned\x07 ok\r\n\xc2\x9b\xc3\xa9\x7f", out, sizeof(out));
    assert_string_equal(out, "\\x1b]0;pwned\\x07 ok\\x0d\\x0a\\u009b\xc3\xa9\\x7f");
    /* cut at an escape's boundary, never inside one */
    sentinel_utf8_escape_controls("ab\x1b", out, 5);
    assert_string_equal(out, "ab");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_controls),
        cmocka_unit_test(test_cut_at_every_byte),
        cmocka_unit_test(test_trim_keeps_whole_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
