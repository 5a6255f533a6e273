/* test_utf8.c -- text cut at a byte count never ends mid-character. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

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

/* sentinel_utf8_valid() takes what jansson takes, for every one- and
 * two-byte string and every lead byte of a longer sequence with
 * continuations at and around the edges of their ranges, each put at every
 * offset of the eight-byte words it reads ASCII by. */
static void test_valid_as_jansson(void **state) {
    (void)state;
    static const unsigned char tails[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90,
                                          0x9f, 0xa0, 0xbf, 0xc0, 0xff};
    const size_t nt = sizeof(tails);
    unsigned char seq[4];
    char text[32];
    for (unsigned k = 0; k < 0x10000 + 256 * nt * nt * nt; k++) {
        size_t n;
        if (k < 0x100) {
            n = 1, seq[0] = (unsigned char)k;
        } else if (k < 0x10000) {
            n = 2, seq[0] = (unsigned char)(k >> 8), seq[1] = (unsigned char)k;
        } else {
            unsigned r = k - 0x10000;
            n = 4;
            seq[0] = (unsigned char)(r / (nt * nt * nt));
            seq[1] = tails[r / (nt * nt) % nt];
            seq[2] = tails[r / nt % nt];
            seq[3] = tails[r % nt];
        }
        for (size_t at = 0; at < 10; at += (k < 0x10000 ? 9 : 1)) {
            memset(text, 'a', sizeof(text));
            memcpy(text + at, seq, n);
            size_t len = at + n + 3;
            json_t *j = json_stringn(text, len);
            int want = j != NULL;
            json_decref(j);
            if (sentinel_utf8_valid(text, len) != want)
                fail_msg("%02x %02x %02x %02x (%zu bytes) at %zu: jansson %s", seq[0], seq[1],
                         seq[2], seq[3], n, at, want ? "takes it" : "refuses it");
        }
    }
    assert_true(sentinel_utf8_valid("", 0));
    assert_true(sentinel_utf8_valid("plain ASCII, longer than a word", 31));
    assert_false(sentinel_utf8_valid("\xed\xa0\x80", 3));     /* a surrogate */
    assert_false(sentinel_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    assert_false(sentinel_utf8_valid("\xe2\x82", 2));         /* cut short */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_controls),
        cmocka_unit_test(test_cut_at_every_byte),
        cmocka_unit_test(test_trim_keeps_whole_text),
        cmocka_unit_test(test_valid_as_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
