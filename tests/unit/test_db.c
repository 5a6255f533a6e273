/* test_db.c -- classification of PostgreSQL errors at the boundary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "pg/array.h"
#include "pg/copy_buffer.h"
#include "pg/db.h"

static void test_retriable(void **state) {
    (void)state;
    assert_int_equal(sentinel_db_classify_sqlstate("40001"), SENTINEL_ERR_RETRIABLE);
    assert_int_equal(sentinel_db_classify_sqlstate("40P01"), SENTINEL_ERR_RETRIABLE);
    assert_int_equal(sentinel_db_classify_sqlstate("08006"), SENTINEL_ERR_RETRIABLE);
    assert_int_equal(sentinel_db_classify_sqlstate("57P01"), SENTINEL_ERR_RETRIABLE);
    assert_int_equal(sentinel_db_classify_sqlstate("55P03"), SENTINEL_ERR_RETRIABLE);
    assert_int_equal(sentinel_db_classify_sqlstate("53100"),
                     SENTINEL_ERR_RETRIABLE); /* disk full */
    assert_int_equal(sentinel_db_classify_sqlstate("42501"),
                     SENTINEL_ERR_RETRIABLE); /* permission */
    assert_int_equal(sentinel_db_classify_sqlstate("57014"),
                     SENTINEL_ERR_RETRIABLE); /* cancelled */
    /* No SQLSTATE at all means the connection went away. */
    assert_int_equal(sentinel_db_classify_sqlstate(NULL), SENTINEL_ERR_RETRIABLE);
    assert_int_equal(sentinel_db_classify(NULL, NULL), SENTINEL_ERR_RETRIABLE);
}

static void test_invalid(void **state) {
    (void)state;
    assert_int_equal(sentinel_db_classify_sqlstate("23505"), SENTINEL_ERR_INVALID);
    assert_int_equal(sentinel_db_classify_sqlstate("23503"), SENTINEL_ERR_INVALID);
    assert_int_equal(sentinel_db_classify_sqlstate("22P02"), SENTINEL_ERR_INVALID);
    assert_int_equal(sentinel_db_classify_sqlstate("22003"),
                     SENTINEL_ERR_INVALID); /* bigint out of range */
    assert_int_equal(sentinel_db_classify_sqlstate("22021"), SENTINEL_ERR_INVALID); /* bad UTF-8 */
    assert_int_equal(sentinel_db_classify_sqlstate("54000"),
                     SENTINEL_ERR_INVALID); /* index row too big */
    assert_int_equal(sentinel_db_classify_sqlstate("21000"), SENTINEL_ERR_INVALID);
    assert_int_equal(sentinel_db_classify_sqlstate("P0001"), SENTINEL_ERR_INVALID); /* a trigger */
}

static void test_fatal(void **state) {
    (void)state;
    assert_int_equal(sentinel_db_classify_sqlstate("42601"), SENTINEL_ERR_FATAL);
    assert_int_equal(sentinel_db_classify_sqlstate("42P01"), SENTINEL_ERR_FATAL);
    assert_int_equal(sentinel_db_classify_sqlstate("3D000"), SENTINEL_ERR_FATAL);
    assert_int_equal(sentinel_db_classify_sqlstate("28P01"), SENTINEL_ERR_FATAL);
}

static void test_redact(void **state) {
    (void)state;
    static const char *const cases[][2] = {
        {"postgresql://u:secret@h:5432/db", "postgresql://u:***@h:5432/db"},
        {"postgresql://u@h/db", "postgresql://u@h/db"},
        {"host=h password=secret dbname=d", "host=h password=*** dbname=d"},
        {"host=h password = 'se cr\\'et' dbname=d", "host=h password = *** dbname=d"},
        {"postgresql://h/db?user=u&password=secret&sslmode=off",
         "postgresql://h/db?user=u&password=***&sslmode=off"},
        {"invalid URI: \"postgres://a:b@[::1/x\"", "invalid URI: \"postgres://a:***@[::1/x\""},
        {"no password here, passwords=1", "no password here, passwords=1"},
    };
    char out[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sentinel_db_redact(cases[i][0], out, sizeof(out));
        assert_string_equal(out, cases[i][1]);
    }
    sentinel_db_redact("postgresql://u:secret@h/db", out, 12);
    assert_null(strstr(out, "sec"));
}

/* By what the password is: a malformed string's parts, as written and
 * percent-decoded, wherever libpq quotes them. */
static void test_redact_by_value(void **state) {
    (void)state;
    char errstr[256], out[256];
    assert_int_equal(
        sentinel_db_conninfo_check("postgresql://u:pa%zzTOPSECRET@h/db", errstr, sizeof(errstr)),
        SENTINEL_ERR_FATAL);
    assert_non_null(strstr(errstr, "bad percent-encoding"));
    assert_null(strstr(errstr, "TOPSECRET"));
    sentinel_db_redact("invalid percent-encoded token: \"pa%zzTOPSECRET\"", out, sizeof(out));
    assert_null(strstr(out, "TOPSECRET"));
    assert_int_equal(
        sentinel_db_conninfo_check("postgresql://u:s%41lt@h/db", errstr, sizeof(errstr)), 0);
    sentinel_db_redact("quoted sAlt and s%41lt", out, sizeof(out));
    assert_string_equal(out, "quoted *** and ***");
    assert_int_equal(
        sentinel_db_conninfo_check("host=h password='unclosedPW", errstr, sizeof(errstr)),
        SENTINEL_ERR_FATAL);
    assert_non_null(strstr(errstr, "quote that is not closed"));
    sentinel_db_redact("near unclosedPW", out, sizeof(out));
    assert_string_equal(out, "near ***");
}

static void test_names(void **state) {
    (void)state;
    assert_string_equal(sentinel_err_name(SENTINEL_ERR_RETRIABLE), "retriable");
    assert_string_equal(sentinel_err_name(SENTINEL_ERR_INVALID), "invalid");
    assert_string_equal(sentinel_err_name(SENTINEL_ERR_FATAL), "fatal");
}

/* COPY text fields: a backslash, tab, newline or carriage return is
 * escaped wherever it falls; the rest goes as it is. */
static void test_copy_text_escapes(void **state) {
    (void)state;
    sentinel_copy_t c = {0};
    sentinel_copy_str(&c, "0b6e1d3c-7a55-4a4e-9d1e-2f0c5b8a9e11");
    sentinel_copy_str(&c, "a\tb");
    sentinel_copy_str(&c, "\\lead");
    sentinel_copy_str(&c, "mid\tdle\nand\r");
    sentinel_copy_str(&c, "cr only\r");
    sentinel_copy_str(&c, "");
    sentinel_copy_str(&c, NULL);
    sentinel_copy_end_row(&c);
    const char *want = "0b6e1d3c-7a55-4a4e-9d1e-2f0c5b8a9e11\ta\\tb\t\\\\lead\t"
                       "mid\\tdle\\nand\\r\tcr only\\r\t\t\\N\n";
    assert_int_equal(c.len, strlen(want));
    assert_memory_equal(c.buf, want, c.len);
    sentinel_copy_free(&c);
}

/* Array literals quote every element, with '"' and '\\' escaped. */
static void test_array_quotes(void **state) {
    (void)state;
    sentinel_array_t a = {0};
    sentinel_array_add(&a, "0b6e1d3c-7a55-4a4e-9d1e-2f0c5b8a9e11");
    sentinel_array_add(&a, "say \"hi\"");
    sentinel_array_add(&a, "back\\slash");
    sentinel_array_add(&a, NULL);
    assert_string_equal(sentinel_array_text(&a),
                        "{\"0b6e1d3c-7a55-4a4e-9d1e-2f0c5b8a9e11\",\"say \\\"hi\\\"\","
                        "\"back\\\\slash\",NULL}");
    sentinel_array_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retriable),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_fatal),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_redact_by_value),
        cmocka_unit_test(test_copy_text_escapes),
        cmocka_unit_test(test_array_quotes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
