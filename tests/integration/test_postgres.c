/* test_postgres.c -- the real PostgreSQL: a parameterized round trip, the
 * session time zone, the statements a connection prepares once, rows read
 * as arrays as COPY would write them, binary COPY rows equal to text ones, error
 * classification of real server errors and the `sentinel doctor` command
 * against both services. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "pg/array.h"
#include "pg/copy_buffer.h"
#include "pg/db.h"

static void test_round_trip(void **state) {
    (void)state;
    char errstr[512];
    /* A session whose default zone is not UTC (the server's may be). */
    char *url = NULL;
    assert_true(asprintf(&url, "%s%soptions=-c%%20TimeZone%%3DPacific/Chatham", harness_owner_url(),
                         strchr(harness_owner_url(), '?') ? "&" : "?") > 0);
    PGconn *raw = harness_connect(url);
    char *zone = harness_query_value(raw, "SHOW TimeZone");
    assert_string_equal(zone, "Pacific/Chatham");
    free(zone);
    PQfinish(raw);
    PGconn *conn = sentinel_db_connect(url, errstr, sizeof(errstr));
    free(url);
    if (!conn) fail_msg("%s", errstr);

    const char *params[2] = {"7b0c1e5e-3f0a-4c7e-9a55-2f3c1d2e4b6a",
                             "2026-11-26T10:15:00.123+02:00"};
    PGresult *res = PQexecParams(conn, "SELECT $1::uuid::text, $2::timestamptz::text", 2, NULL,
                                 params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), params[0]);
    /* The session runs in UTC, whatever the server's default. */
    assert_string_equal(PQgetvalue(res, 0, 1), "2026-11-26 08:15:00.123+00");
    PQclear(res);
    PQfinish(conn);
}

static long prepared_count(PGconn *conn) {
    PGresult *res = PQexec(conn, "SELECT count(*) FROM pg_prepared_statements");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    long n = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    return n;
}

/* A statement run again on a connection is executed as prepared there:
 * one prepared statement per text, whatever the parameters, up to a bound
 * past which statements still run, unnamed; a reset connection prepares
 * them again. */
static void test_statements_are_prepared_once(void **state) {
    (void)state;
    char errstr[512], sql[128], value[32];
    PGconn *conn = sentinel_db_connect(harness_owner_url(), errstr, sizeof(errstr));
    if (!conn) fail_msg("%s", errstr);
    for (int i = 0; i < 3; i++) {
        snprintf(value, sizeof(value), "%d", i);
        const char *params[1] = {value};
        PGresult *res = NULL;
        assert_int_equal(
            sentinel_db_params(conn, "SELECT $1::int + 1", 1, params, &res, errstr, sizeof(errstr)),
            SENTINEL_OK);
        assert_int_equal(atoi(PQgetvalue(res, 0, 0)), i + 1);
        PQclear(res);
    }
    assert_int_equal(prepared_count(conn), 1);

    /* A statement that fails to prepare fails as running it would. */
    assert_int_equal(sentinel_db_params(conn, "SELECT $1::int FROM no_such_table", 1,
                                        (const char *[]){"1"}, NULL, errstr, sizeof(errstr)),
                     SENTINEL_ERR_FATAL);
    assert_non_null(strstr(errstr, "no_such_table"));

    for (int i = 0; i < 100; i++) {
        snprintf(sql, sizeof(sql), "SELECT $1::int + %d", i);
        const char *params[1] = {"1"};
        PGresult *res = NULL;
        assert_int_equal(sentinel_db_params(conn, sql, 1, params, &res, errstr, sizeof(errstr)),
                         SENTINEL_OK);
        assert_int_equal(atoi(PQgetvalue(res, 0, 0)), i + 1);
        PQclear(res);
    }
    long bounded = prepared_count(conn);
    assert_true(bounded > 1 && bounded < 100);

    PQreset(conn);
    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    assert_int_equal(prepared_count(conn), 0);
    PGresult *res = NULL;
    assert_int_equal(sentinel_db_params(conn, "SELECT $1::int + 1", 1, (const char *[]){"41"}, &res,
                                        errstr, sizeof(errstr)),
                     SENTINEL_OK);
    assert_int_equal(atoi(PQgetvalue(res, 0, 0)), 42);
    PQclear(res);
    assert_int_equal(prepared_count(conn), 1);
    PQfinish(conn);
}

/* A pipeline runs its statements in order in one round trip, prepared as
 * sentinel_db_params prepares them; a BEGIN among them stays open; a
 * failing statement gives its own message, the ones after it do not run,
 * and the connection goes on. */
static void test_pipeline(void **state) {
    (void)state;
    char errstr[512];
    PGconn *conn = sentinel_db_connect(harness_owner_url(), errstr, sizeof(errstr));
    if (!conn) fail_msg("%s", errstr);
    assert_int_equal(sentinel_db_exec(conn, "CREATE TEMP TABLE piped (n int PRIMARY KEY)", errstr,
                                      sizeof(errstr)),
                     SENTINEL_OK);
    const char *two[1] = {"2"}, *three[1] = {"3"};
    sentinel_statement_t st[4] = {
        {"BEGIN", 0, NULL, NULL, NULL},
        {"INSERT INTO piped VALUES ($1::int)", 1, two, NULL, NULL},
        {"INSERT INTO piped VALUES ($1::int)", 1, three, NULL, NULL},
        {"SELECT count(*), txid_current_if_assigned() IS NOT NULL FROM piped", 0, NULL, NULL, NULL},
    };
    PGresult *res[4];
    for (int round = 0; round < 2; round++) {
        assert_int_equal(sentinel_db_pipeline(conn, 4, st, res, errstr, sizeof(errstr)),
                         SENTINEL_OK);
        assert_string_equal(PQcmdTuples(res[1]), "1");
        assert_string_equal(PQgetvalue(res[3], 0, 0), "2");
        assert_string_equal(PQgetvalue(res[3], 0, 1), "t");
        for (int i = 0; i < 4; i++)
            PQclear(res[i]);
        /* The BEGIN is still open: a rollback undoes both inserts. */
        assert_int_equal(PQtransactionStatus(conn), PQTRANS_INTRANS);
        assert_int_equal(sentinel_db_exec(conn, "ROLLBACK", errstr, sizeof(errstr)), SENTINEL_OK);
        char *left = harness_query_value(conn, "SELECT count(*) FROM piped");
        assert_string_equal(left, "0");
        free(left);
    }
    /* Three distinct texts prepared once each, the second round reused them. */
    assert_int_equal(prepared_count(conn), 3);

    /* The second insert breaks the key: its message, nothing after it. */
    sentinel_statement_t bad[4] = {
        {"BEGIN", 0, NULL, NULL, NULL},
        {"INSERT INTO piped VALUES ($1::int)", 1, two, NULL, NULL},
        {"INSERT INTO piped VALUES ($1::int)", 1, two, NULL, NULL},
        {"INSERT INTO piped VALUES ($1::int)", 1, three, NULL, NULL},
    };
    res[0] = res[1] = res[2] = res[3] = (PGresult *)1;
    assert_int_equal(sentinel_db_pipeline(conn, 4, bad, res, errstr, sizeof(errstr)),
                     SENTINEL_ERR_INVALID);
    assert_non_null(strstr(errstr, "duplicate key"));
    for (int i = 0; i < 4; i++)
        assert_null(res[i]);
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_INERROR);
    assert_int_equal(sentinel_db_exec(conn, "ROLLBACK", errstr, sizeof(errstr)), SENTINEL_OK);

    /* A statement that cannot prepare fails as running it would. */
    sentinel_statement_t missing[2] = {{"SELECT 1", 0, NULL, NULL, NULL},
                                       {"SELECT n FROM no_such_table", 0, NULL, NULL, NULL}};
    assert_int_equal(sentinel_db_pipeline(conn, 2, missing, NULL, errstr, sizeof(errstr)),
                     SENTINEL_ERR_FATAL);
    assert_non_null(strstr(errstr, "no_such_table"));
    char *one = harness_query_value(conn, "SELECT 1");
    assert_string_equal(one, "1");
    free(one);

    /* Inside a pipeline a connection takes no other command: it is not
     * usable until it has left it. */
    assert_true(sentinel_db_usable(conn));
    assert_int_equal(PQenterPipelineMode(conn), 1);
    assert_false(sentinel_db_usable(conn)); /* even with nothing sent */
    assert_int_equal(PQsendQueryParams(conn, "SELECT 1", 0, NULL, NULL, NULL, NULL, 0), 1);
    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    assert_false(sentinel_db_usable(conn));
    assert_int_equal(PQpipelineSync(conn), 1);
    PGresult *r;
    while ((r = PQgetResult(conn)) == NULL || PQresultStatus(r) != PGRES_PIPELINE_SYNC)
        PQclear(r);
    PQclear(r);
    assert_int_equal(PQexitPipelineMode(conn), 1);
    assert_true(sentinel_db_usable(conn));
    /* Nor is one with a command's results still to collect. */
    assert_int_equal(PQsendQuery(conn, "SELECT 1"), 1);
    assert_false(sentinel_db_usable(conn));
    while ((r = PQgetResult(conn)))
        PQclear(r);
    assert_true(sentinel_db_usable(conn));
    assert_false(sentinel_db_usable(NULL));
    PQfinish(conn);
}

static void fill_awkward_rows(sentinel_copy_t *rows) {
    static const char *const texts[] = {"plain",
                                        "",
                                        "NULL",
                                        "a \"quoted\", {braced} value",
                                        "back\\slash\\",
                                        "tab\there",
                                        "new\nline and\rreturn",
                                        "caf\u00e9 \xe2\x9c\x93",
                                        "\\N",
                                        " lead and trail ",
                                        NULL};
    unsigned char bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (unsigned char)i;
    json_t *json = json_string("{\"k\": \"v \\\" \\\\ \\u00e9\", \"n\": [1, 2.5]}");
    for (int i = 0; texts[i] || i == 10; i++) {
        sentinel_copy_str(rows, texts[i]);
        if (i % 3 == 0)
            sentinel_copy_null(rows);
        else
            sentinel_copy_json(rows, json);
        sentinel_copy_bytes(rows, bytes, (size_t)(i * 25));
        sentinel_copy_int(rows, i == 10 ? INT64_MIN : i * 1000003LL);
        sentinel_copy_double(rows, i / 3.0);
        sentinel_copy_timestamp(rows, 1796224690123456LL + i);
        sentinel_copy_end_row(rows);
        if (!texts[i]) break;
    }
    json_decref(json);
}

/* Rows a statement reads as arrays (sentinel_copy_run) are the rows COPY
 * would write, value for value: quotes, braces, backslashes, control
 * characters, the text "NULL" and NULL, JSON, every byte. */
static void test_rows_as_arrays_equal_copy(void **state) {
    (void)state;
    char errstr[512];
    PGconn *conn = sentinel_db_connect(harness_owner_url(), errstr, sizeof(errstr));
    if (!conn) fail_msg("%s", errstr);
    assert_int_equal(sentinel_db_exec(conn,
                                      "CREATE TEMP TABLE copied (a text, j jsonb, b bytea, "
                                      "i bigint, d float8, ts timestamptz)",
                                      errstr, sizeof(errstr)),
                     SENTINEL_OK);
    sentinel_copy_t rows = {0};
    fill_awkward_rows(&rows);
    size_t n = rows.rows;
    if (sentinel_copy_send(conn, "COPY copied FROM STDIN", &rows, errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    fill_awkward_rows(&rows);
    PGresult *res = NULL;
    if (sentinel_copy_run(conn, &rows,
                          "WITH u AS (SELECT * FROM unnest($1::text[], $2::jsonb[], $3::bytea[], "
                          "$4::bigint[], $5::float8[], $6::timestamptz[])) "
                          "SELECT (SELECT count(*) FROM u), "
                          "(SELECT count(*) FROM (SELECT * FROM u EXCEPT ALL "
                          "SELECT * FROM copied) x), "
                          "(SELECT count(*) FROM (SELECT * FROM copied EXCEPT ALL "
                          "SELECT * FROM u) y)",
                          &res, errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    assert_int_equal(atol(PQgetvalue(res, 0, 0)), (long)n);
    assert_string_equal(PQgetvalue(res, 0, 1), "0");
    assert_string_equal(PQgetvalue(res, 0, 2), "0");
    PQclear(res);

    /* No rows: nothing runs. */
    sentinel_copy_reset(&rows);
    res = (PGresult *)1;
    assert_int_equal(
        sentinel_copy_run(conn, &rows, "SELECT no_such_column", &res, errstr, sizeof(errstr)),
        SENTINEL_OK);
    assert_null(res);
    sentinel_copy_free(&rows);
    PQfinish(conn);
}

static int64_t copied_differences(PGconn *conn, const char *a, const char *b) {
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT (SELECT count(*) FROM (TABLE %s EXCEPT ALL TABLE %s) x) + "
             "(SELECT count(*) FROM (TABLE %s EXCEPT ALL TABLE %s) y)",
             a, b, b, a);
    char *n = harness_query_value(conn, sql);
    int64_t differences = atoll(n);
    free(n);
    return differences;
}

/* Binary rows store what text rows store, value for value: the awkward
 * texts, JSON both as text and as a value, every byte, the extreme
 * integers, fractions, times; and ids, int4 and booleans, NULL in every
 * column. A value the column cannot hold is a data error, as it is in
 * text, and the buffer is empty afterwards either way. */
static void test_binary_rows_equal_text_rows(void **state) {
    (void)state;
    char errstr[512];
    PGconn *conn = sentinel_db_connect(harness_owner_url(), errstr, sizeof(errstr));
    if (!conn) fail_msg("%s", errstr);
    assert_int_equal(sentinel_db_exec(conn,
                                      "CREATE TEMP TABLE as_text (a text, j jsonb, b bytea, "
                                      "i bigint, d float8, ts timestamptz); "
                                      "CREATE TEMP TABLE as_binary (LIKE as_text); "
                                      "CREATE TEMP TABLE ids_text (id uuid, n int4, f bool, "
                                      "j jsonb, ts timestamptz); "
                                      "CREATE TEMP TABLE ids_binary (LIKE ids_text)",
                                      errstr, sizeof(errstr)),
                     SENTINEL_OK);
    static const sentinel_copy_column_t awkward_columns[] = {{"a", SENTINEL_COPY_TEXT},
                                                             {"j", SENTINEL_COPY_JSONB},
                                                             {"b", SENTINEL_COPY_BYTEA},
                                                             {"i", SENTINEL_COPY_INT8},
                                                             {"d", SENTINEL_COPY_FLOAT8},
                                                             {"ts", SENTINEL_COPY_TIMESTAMPTZ},
                                                             {NULL, 0}};
    sentinel_copy_t text = {0}, binary = SENTINEL_COPY_BINARY(awkward_columns);
    fill_awkward_rows(&text);
    fill_awkward_rows(&binary);
    assert_int_equal(binary.rows, text.rows);
    size_t rows = text.rows;
    if (sentinel_copy_send(conn, "COPY as_text FROM STDIN", &text, errstr, sizeof(errstr)) ||
        sentinel_copy_send_binary(conn, "as_binary", &binary, errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    char *n = harness_query_value(conn, "SELECT count(*) FROM as_binary");
    assert_int_equal(atol(n), (long)rows);
    free(n);
    assert_int_equal(copied_differences(conn, "as_text", "as_binary"), 0);

    static const sentinel_copy_column_t id_columns[] = {
        {"id", SENTINEL_COPY_UUID}, {"n", SENTINEL_COPY_INT4},         {"f", SENTINEL_COPY_BOOL},
        {"j", SENTINEL_COPY_JSONB}, {"ts", SENTINEL_COPY_TIMESTAMPTZ}, {NULL, 0}};
    sentinel_copy_t ids_text = {0}, ids_binary = SENTINEL_COPY_BINARY(id_columns);
    sentinel_copy_t *both[2] = {&ids_text, &ids_binary};
    json_t *value = json_pack("{s:[i,f,s,n,b]}", "k", 1, 2.5, "caf\u00e9", 1);
    for (int k = 0; k < 2; k++) {
        sentinel_copy_t *c = both[k];
        sentinel_copy_str(c, "0B6E1D3C-7A55-4A4E-9D1E-2F0C5B8A9E11");
        sentinel_copy_int(c, INT32_MIN);
        sentinel_copy_bool(c, 1);
        sentinel_copy_json(c, value);
        sentinel_copy_timestamp(c, 946684800000000LL - 1); /* before PostgreSQL's epoch */
        sentinel_copy_end_row(c);
        sentinel_copy_str(c, "ffffffff-ffff-ffff-ffff-ffffffffffff");
        sentinel_copy_int(c, INT32_MAX);
        sentinel_copy_bool(c, 0);
        sentinel_copy_json(c, json_object_get(value, "k"));
        sentinel_copy_timestamp(c, 4102444799999999LL);
        sentinel_copy_end_row(c);
        for (int f = 0; f < 5; f++)
            sentinel_copy_null(c);
        sentinel_copy_end_row(c);
        sentinel_copy_str(c, "00000000-0000-0000-0000-000000000000");
        sentinel_copy_int(c, 0);
        sentinel_copy_bool(c, 0);
        sentinel_copy_str(c, "[1, \"tab\\there\", {\"z\": null}]"); /* JSON text */
        sentinel_copy_timestamp(c, 946684800000000LL);
        sentinel_copy_end_row(c);
    }
    json_decref(value);
    if (sentinel_copy_send(conn, "COPY ids_text FROM STDIN", &ids_text, errstr, sizeof(errstr)) ||
        sentinel_copy_send_binary(conn, "ids_binary", &ids_binary, errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    n = harness_query_value(conn, "SELECT count(*) FROM ids_binary WHERE id IS NOT NULL");
    assert_string_equal(n, "3");
    free(n);
    assert_int_equal(copied_differences(conn, "ids_text", "ids_binary"), 0);

    /* An id that is none, an int4 out of range: refused as data. */
    for (int k = 0; k < 2; k++) {
        if (k == 0) {
            sentinel_copy_str(&ids_binary, "not-a-uuid");
            sentinel_copy_int(&ids_binary, 1);
        } else {
            sentinel_copy_str(&ids_binary, "0b6e1d3c-7a55-4a4e-9d1e-2f0c5b8a9e11");
            sentinel_copy_int(&ids_binary, INT64_C(1) << 40);
        }
        sentinel_copy_null(&ids_binary);
        sentinel_copy_null(&ids_binary);
        sentinel_copy_null(&ids_binary);
        sentinel_copy_end_row(&ids_binary);
        sentinel_err_t err =
            sentinel_copy_send_binary(conn, "ids_binary", &ids_binary, errstr, sizeof(errstr));
        if (err != SENTINEL_ERR_INVALID) fail_msg("row %d: %d, %s", k, err, errstr);
        assert_int_equal(ids_binary.len, 0);
        assert_int_equal(ids_binary.rows, 0);
    }
    n = harness_query_value(conn, "SELECT count(*) FROM ids_binary");
    assert_string_equal(n, "4");
    free(n);
    sentinel_copy_free(&text);
    sentinel_copy_free(&binary);
    sentinel_copy_free(&ids_text);
    sentinel_copy_free(&ids_binary);
    PQfinish(conn);
}

/* A uuid[] in binary is the array its literal is, in order, either case
 * of hex; an empty one is empty; a list with one id that is none has no
 * binary form (its literal goes instead). */
static void test_uuid_array_binary(void **state) {
    (void)state;
    char errstr[512];
    PGconn *conn = sentinel_db_connect(harness_owner_url(), errstr, sizeof(errstr));
    if (!conn) fail_msg("%s", errstr);
    const char *ids[3] = {"ffffffff-0000-4000-8000-00000000000a",
                          "0B6E1D3C-7A55-4A4E-9D1E-2F0C5B8A9E11",
                          "00000000-0000-0000-0000-000000000000"};
    for (size_t n = 0; n <= 3; n++) {
        int len = 0, binary = 1;
        char *array = sentinel_uuid_array(ids, n, &len);
        assert_non_null(array);
        char *literal = sentinel_array_of(ids, n);
        const char *params[2] = {array, literal};
        const int lengths[2] = {len, 0}, formats[2] = {binary, 0};
        sentinel_statement_t st = {"SELECT $1::uuid[]::text, $1::uuid[] = $2::uuid[], "
                                   "cardinality($1::uuid[])",
                                   2, params, lengths, formats};
        PGresult *res = NULL;
        if (sentinel_db_pipeline(conn, 1, &st, &res, errstr, sizeof(errstr)))
            fail_msg("%zu ids: %s", n, errstr);
        assert_string_equal(PQgetvalue(res, 0, 1), "t");
        assert_int_equal(atoi(PQgetvalue(res, 0, 2)), (int)n);
        if (n == 3)
            assert_string_equal(PQgetvalue(res, 0, 0), "{ffffffff-0000-4000-8000-00000000000a,"
                                                       "0b6e1d3c-7a55-4a4e-9d1e-2f0c5b8a9e11,"
                                                       "00000000-0000-0000-0000-000000000000}");
        PQclear(res);
        free(array);
        free(literal);
    }
    const char *bad[2] = {ids[0], "0b6e1d3c-7a55-4a4e-9d1e-2f0c5b8a9e1"};
    int len = 0;
    assert_null(sentinel_uuid_array(bad, 2, &len));
    PQfinish(conn);
}

/* The array binder: what goes in as one array parameter comes out of
 * unnest as it was, element for element: quotes, braces, commas,
 * backslashes, spaces, the text NULL and NULL itself, every byte from 1 to
 * 255 (as UTF-8 where it must be); and no elements is an empty array. */
static void test_arrays_round_trip(void **state) {
    (void)state;
    char errstr[512];
    PGconn *conn = sentinel_db_connect(harness_owner_url(), errstr, sizeof(errstr));
    if (!conn) fail_msg("%s", errstr);
    static char all_bytes[256 * 2];
    size_t k = 0;
    for (int b = 1; b < 256; b++) {
        if (b < 0x80)
            all_bytes[k++] = (char)b;
        else {
            all_bytes[k++] = (char)(0xC0 | (b >> 6));
            all_bytes[k++] = (char)(0x80 | (b & 0x3F));
        }
    }
    const char *items[] = {"plain",    "",     "a,b", "{x}",       "\"quoted\"", "back\\slash",
                           " spaced ", "NULL", NULL,  "tab\there", "new\nline",  all_bytes};
    size_t n = sizeof(items) / sizeof(items[0]);
    sentinel_array_t a = {0}, ints = {0};
    for (size_t i = 0; i < n; i++)
        sentinel_array_add(&a, items[i]);
    sentinel_array_add_int(&ints, INT64_MIN);
    sentinel_array_add_int(&ints, 0);
    sentinel_array_add_int(&ints, INT64_MAX);
    const char *params[3] = {sentinel_array_text(&a), sentinel_array_text(&ints), "{}"};
    PGresult *res = NULL;
    if (sentinel_db_params(
            conn,
            "SELECT t, (SELECT array_agg(i::text ORDER BY o) FROM unnest($2::bigint[]) "
            "WITH ORDINALITY AS v(i, o)), cardinality($3::text[]) "
            "FROM unnest($1::text[]) WITH ORDINALITY AS u(t, o) ORDER BY o",
            3, params, &res, errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    assert_int_equal(PQntuples(res), (int)n);
    for (size_t i = 0; i < n; i++) {
        if (!items[i]) {
            assert_true(PQgetisnull(res, (int)i, 0));
            continue;
        }
        assert_false(PQgetisnull(res, (int)i, 0));
        assert_string_equal(PQgetvalue(res, (int)i, 0), items[i]);
    }
    assert_string_equal(PQgetvalue(res, 0, 1), "{-9223372036854775808,0,9223372036854775807}");
    assert_string_equal(PQgetvalue(res, 0, 2), "0");
    PQclear(res);
    sentinel_array_reset(&a);
    assert_string_equal(sentinel_array_text(&a), "{}");
    char *of = sentinel_array_of(items, 3);
    assert_string_equal(of, "{\"plain\",\"\",\"a,b\"}");
    free(of);
    sentinel_array_free(&a);
    sentinel_array_free(&ints);
    PQfinish(conn);
}

static void test_classify_real_errors(void **state) {
    (void)state;
    char errstr[512];
    PGconn *conn = sentinel_db_connect(harness_owner_url(), errstr, sizeof(errstr));
    if (!conn) fail_msg("%s", errstr);
    assert_int_equal(
        sentinel_db_exec(conn, "CREATE TEMP TABLE t (id int PRIMARY KEY)", errstr, sizeof(errstr)),
        SENTINEL_OK);
    assert_int_equal(sentinel_db_exec(conn, "INSERT INTO t VALUES (1)", errstr, sizeof(errstr)),
                     SENTINEL_OK);
    assert_int_equal(sentinel_db_exec(conn, "INSERT INTO t VALUES (1)", errstr, sizeof(errstr)),
                     SENTINEL_ERR_INVALID);
    assert_non_null(strstr(errstr, "duplicate key"));
    assert_int_equal(sentinel_db_exec(conn, "SELEC 1", errstr, sizeof(errstr)), SENTINEL_ERR_FATAL);
    assert_non_null(strstr(errstr, "syntax error"));
    /* A COMMIT the server answers with ROLLBACK committed nothing. */
    assert_int_equal(sentinel_db_exec(conn, "BEGIN", errstr, sizeof(errstr)), SENTINEL_OK);
    assert_int_equal(sentinel_db_exec(conn, "INSERT INTO t VALUES (2)", errstr, sizeof(errstr)),
                     SENTINEL_OK);
    assert_int_equal(sentinel_db_exec(conn, "INSERT INTO t VALUES (1)", errstr, sizeof(errstr)),
                     SENTINEL_ERR_INVALID);
    assert_int_equal(sentinel_db_exec(conn, "COMMIT", errstr, sizeof(errstr)),
                     SENTINEL_ERR_INVALID);
    assert_non_null(strstr(errstr, "ROLLBACK"));
    char *rows = harness_query_value(conn, "SELECT count(*) FROM t");
    assert_string_equal(rows, "1");
    free(rows);
    /* A terminated backend is connection loss: retriable. */
    PGconn *killer = harness_connect(harness_owner_url());
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", PQbackendPID(conn));
    free(harness_query_value(killer, sql));
    PQfinish(killer);
    assert_int_equal(sentinel_db_exec(conn, "SELECT 1", errstr, sizeof(errstr)),
                     SENTINEL_ERR_RETRIABLE);
    PQfinish(conn);
}

static void test_connect_failure_names_server(void **state) {
    (void)state;
    char errstr[512];
    PGconn *conn = sentinel_db_connect("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2",
                                       errstr, sizeof(errstr));
    assert_null(conn);
    assert_non_null(strstr(errstr, "127.0.0.1"));
}

static void test_doctor(void **state) {
    (void)state;
    char *out = NULL;
    int rc = harness_run_sentinel("doctor", &out);
    if (rc != 0) fail_msg("sentinel doctor exited %d:\n%s", rc, out);
    assert_non_null(strstr(out, "kafka      ok"));
    assert_non_null(strstr(out, "postgres   ok"));
    free(out);

    rc = harness_run_sentinel("doctor --brokers 127.0.0.1:1 --db 'postgresql://x@127.0.0.1:1/y'",
                              &out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "127.0.0.1:1"));
    free(out);

    rc = harness_run_sentinel("doctor -X no.such.property=1", &out);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "no.such.property"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_statements_are_prepared_once),
        cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_rows_as_arrays_equal_copy),
        cmocka_unit_test(test_binary_rows_equal_text_rows),
        cmocka_unit_test(test_arrays_round_trip),
        cmocka_unit_test(test_uuid_array_binary),
        cmocka_unit_test(test_classify_real_errors),
        cmocka_unit_test(test_connect_failure_names_server),
        cmocka_unit_test(test_doctor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
