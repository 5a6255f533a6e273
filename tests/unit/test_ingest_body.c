/* test_ingest_body.c -- where each event of a request body starts and
 * ends: JSON arrays (strings with brackets, commas and escapes inside,
 * nested values, scalars) and NDJSON (blank lines, CRLF), and the bodies
 * that are no JSON at all (400) or hold too many events (413). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/body.h"

static size_t split(const char *body, int ndjson, ingest_item_t *items, size_t max,
                    ingest_body_result_t *result) {
    size_t count = 0;
    char errstr[256];
    *result =
        ingest_body_split(body, strlen(body), ndjson, items, max, &count, errstr, sizeof(errstr));
    return count;
}

static void assert_item(const ingest_item_t *item, const char *text) {
    if (item->len != strlen(text) || memcmp(item->text, text, item->len))
        fail_msg("item \"%.*s\", want \"%s\"", (int)item->len, item->text, text);
}

static void test_arrays(void **state) {
    (void)state;
    ingest_item_t items[8];
    ingest_body_result_t r;
    size_t n = split(" [ {\"a\":\"],[{\\\"\"}, {\"b\":[1,{\"c\":\"}\"}]} ,\n 3 ,\"x\" ] \n", 0,
                     items, 8, &r);
    assert_int_equal(r, INGEST_BODY_OK);
    assert_int_equal(n, 4);
    assert_item(&items[0], "{\"a\":\"],[{\\\"\"}");
    assert_item(&items[1], "{\"b\":[1,{\"c\":\"}\"}]}");
    assert_item(&items[2], "3");
    assert_item(&items[3], "\"x\"");
    static const char *const broken[] = {
        "",           "  ",           "{\"a\":1}",     "[",
        "[{\"a\":1}", "[{\"a\":1},]", "[{\"a\":1}] x", "[{\"a\":\"1}]",
        "[]",         "[{} {}]",      "not json"};
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        split(broken[i], 0, items, 8, &r);
        if (r != INGEST_BODY_NOT_JSON) fail_msg("\"%s\" was taken", broken[i]);
    }
    split("[1,2,3]", 0, items, 2, &r);
    assert_int_equal(r, INGEST_BODY_TOO_MANY);
}

static void test_ndjson(void **state) {
    (void)state;
    ingest_item_t items[8];
    ingest_body_result_t r;
    size_t n = split("\n{\"a\":1}\r\n\n  \n {\"b\":\"\\n\"} \nnot json\n", 1, items, 8, &r);
    assert_int_equal(r, INGEST_BODY_OK);
    assert_int_equal(n, 3);
    assert_item(&items[0], "{\"a\":1}");
    assert_item(&items[1], "{\"b\":\"\\n\"}");
    assert_item(&items[2], "not json"); /* a line the checks then reject */
    split("garbage\n{\"a\":1}\n", 1, items, 8, &r);
    assert_int_equal(r, INGEST_BODY_NOT_JSON);
    split("\n \n", 1, items, 8, &r);
    assert_int_equal(r, INGEST_BODY_NOT_JSON);
    split("{}\n{}\n{}\n", 1, items, 2, &r);
    assert_int_equal(r, INGEST_BODY_TOO_MANY);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_ndjson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
