/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for proto/json.c, through the parsers that use it: malformed
 * JSON, invalid UTF-8 anywhere in the input, field names holding NUL, and
 * captured output that is not UTF-8 (stdout_b64, stderr_b64) both ways.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "proto_test.h"

static void test_spec_bad_json(void **state UNUSED)
{
    static const char *const trailing[] = {
        "{\"cmd\":\"x\"} x",
        "{\"cmd\":\"x\"}{}",
        "{\"cmd\":\"x\"},",
        "{\"cmd\":\"x\"}]",
        "{\"cmd\":\"x\"}\n{\"cmd\":\"y\"}",
    };
    static const char *const truncated[] = {
        "",
        "   ",
        "{",
        "{\"cmd\"",
        "{\"cmd\":",
        "{\"cmd\":\"x\"",
        "{\"cmd\":\"x",
        "{\"argv\":[\"a\",",
        "{\"cmd\":\"x\\",
    };
    static const char *const broken[] = {
        "{cmd:\"x\"}",
        "{\"cmd\" \"x\"}",
        "{\"cmd\":\"x\"\"y\"}",
        "{\"cmd\":x}",
        "}",
        "{\"cmd\":\"\\q\"}",
        "{\"cmd\":\"\\u12\"}",
        "{\"cmd\":tru}",
        "{\"cmd\":\"x\"} //", /* json-c reads comments: this one never ends */
    };
    for (size_t i = 0; i < ARRAY_SIZE(trailing); i++)
        spec_bad(trailing[i], "trailing");
    for (size_t i = 0; i < ARRAY_SIZE(truncated); i++)
        spec_bad(truncated[i], "end of input");
    for (size_t i = 0; i < ARRAY_SIZE(broken); i++)
        spec_bad(broken[i], "JSON");
    /* A NUL after the object is not whitespace. */
    spec_bad_n("{\"cmd\":\"x\"}\0", 12, "trailing");
    spec_bad_n("{\"cmd\":\"x\"} \0 ", 14, "trailing");
    /* Only len bytes are read: what follows is not looked at. */
    struct task_spec s;
    spec_ok_n("{\"cmd\":\"x\"}garbage", 11, &s);
    spec_release(&s);
    spec_bad_n("{\"cmd\":\"x\"}", 10, "end of input");
}

/*
 * Invalid UTF-8 is refused everywhere (the error says "UTF-8"): the encoder
 * would turn each bad byte into U+FFFD, so accepting it would change what
 * the user asked for (and could push a field over its limit) between
 * submission and the worker. Valid UTF-8 and \u escapes pass; a lone
 * surrogate escape decodes to U+FFFD.
 */
static void test_spec_utf8(void **state UNUSED)
{
    static const char *const bad[] = {
        "{\"cmd\":\"\x80\"}",
        "{\"cmd\":\"caf\xe9\"}",          /* Latin-1 */
        "{\"cmd\":\"\xc0\x80\"}",         /* overlong NUL */
        "{\"cmd\":\"\xe0\x80\xaf\"}",     /* overlong '/' */
        "{\"cmd\":\"\xed\xa0\x80\"}",     /* UTF-8-encoded surrogate */
        "{\"cmd\":\"\xf4\x90\x80\x80\"}", /* past U+10FFFF */
        "{\"cmd\":\"\xff\"}",
        "{\"cmd\":\"\xe2\x82\"}", /* truncated */
        "{\"argv\":[\"\xc3\"]}",
        "{\"cmd\":\"x\",\"env\":{\"K\":\"\xfe\"}}",
        "{\"cmd\":\"x\",\"env\":{\"\xfe\":\"v\"}}",
        "{\"cmd\":\"x\",\"cwd\":\"/tmp/\xe9t\xe9\"}",
        "{\"kind\":\"echo\",\"payload\":{\"\x80\":1}}",
        "{\"kind\":\"transform\",\"payload\":{\"data\":\"\xc3\x28\"}}",
        "\xef\xbb\xbf{\"cmd\":\"x\"}", /* a BOM is not JSON either */
    };
    struct task_spec s;
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        spec_bad(bad[i], i + 1 < ARRAY_SIZE(bad) ? "UTF-8" : "JSON");

    spec_ok("{\"cmd\":\"echo gr\xc3\xbc\xc3\x9f \xe4\xb8\x96 \xf0\x9f\x98\x80\"}", &s);
    assert_string_equal(s.cmd, "echo gr\xc3\xbc\xc3\x9f \xe4\xb8\x96 \xf0\x9f\x98\x80");
    spec_release(&s);
    spec_ok("{\"cmd\":\"\\u00fc\\ud83d\\ude00\"}", &s);
    assert_string_equal(s.cmd, "\xc3\xbc\xf0\x9f\x98\x80");
    spec_release(&s);
    spec_ok("{\"cmd\":\"\\ud800\"}", &s);
    assert_string_equal(s.cmd, "\xef\xbf\xbd");
    spec_release(&s);
    /* And the canonical form keeps multi-byte text as it is. */
    assert_canon("{\"cmd\":\"\xc3\xa9\",\"env\":{\"\xc3\xa9\":\"\xe2\x82\xac\"}}",
                 "{\"id\":null,\"kind\":\"exec\",\"cmd\":\"\xc3\xa9\",\"env\":{\"\xc3\xa9\":"
                 "\"\xe2\x82\xac\"},\"priority\":2,\"max_retries\":3}");
}

static void test_msg_nul_keys(void **state UNUSED)
{
    struct task_spec s;
    struct msg m;
    spec_ok("{\"kind\":\"transform\",\"payload\":{\"data\":\"a\\u0000b\"}}", &s);
    spec_release(&s);
    spec_ok("{\"cmd\":\"x\",\"env\":{\"A\\\\u0000\":\"\\\\u0000\"}}", &s);
    assert_string_equal(s.env[0], "A\\u0000=\\u0000");
    spec_release(&s);
    spec_ok("{\"kind\":\"echo\",\"payload\":{\"a\":\"\\u0000\\\":\"}}", &s); /* a value */
    spec_release(&s);
    parse_ok(
        "{\"type\":\"result\",\"lease\":1,\"id\":\"t\",\"attempt\":1,\"stdout\":\"x\\u0000y\"}",
        &m);
    assert_int_equal(m.result.out.out_len, 3);
    msg_release(&m);
    /* json-c would cut "A\u0000B" to "A": refused before any field is read,
     * naming where the key is. */
    static const struct {
        const char *json;
        const char *field;
    } cases[] = {
        {"{\"cmd\":\"x\",\"env\":{\"A\\u0000B\":\"1\"}}", "field 'env' holds a name with a NUL"},
        {"{\"cmd\":\"x\",\"env\":{\"\\u0000\":\"1\"}}", "'env'"},
        {"{\"cmd\":\"x\",\"env\":{\"B\":\"2\", \"A\\u0000\" : \"1\"}}", "'env'"},
        {"{\"kind\":\"echo\",\"payload\":{\"a\\u0000b\":1}}", "'payload'"},
        {"{\"kind\":\"echo\",\"payload\":{\"x\":[1,\"s,[\",{\"k\\u0000\":1}]}}", "'payload.x[2]'"},
        {"{\"cmd\\u0000\":\"x\"}", "a field name holds a NUL"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct buf b = BUF_INIT;
        spec_bad(cases[i].json, cases[i].field);
        buf_addf(&b, "{\"type\":\"submit\",\"tasks\":[{\"cmd\":\"ok\"},%s]}", cases[i].json);
        parse_bad(b.data, i < 5 ? "field 'tasks[1]." : "field 'tasks[1]'");
        buf_release(&b);
    }
    parse_bad("{\"type\\u0000\":\"ping\"}", "a field name holds a NUL character");
}

/* A result line for output bytes (len n) and its parse: the stream travels
 * as the string "stdout" when valid UTF-8, else as "stdout_b64" only. */
static void result_with_output(const char *bytes, size_t n, bool want_b64)
{
    struct msg in = {.type = MSG_RESULT}, out;
    struct buf b = BUF_INIT;
    in.result.lease = 1;
    in.result.id = (char *)"t";
    in.result.attempt = 1;
    in.result.out.out = (char *)bytes;
    in.result.out.out_len = n;
    in.result.out.err = (char *)bytes;
    in.result.out.err_len = n;
    msg_encode(&b, &in);
    json_object *o = strict_json(b.data, b.len - 1);
    assert_int_equal(json_object_object_get_ex(o, "stdout_b64", NULL), want_b64);
    assert_int_equal(json_object_object_get_ex(o, "stderr_b64", NULL), want_b64);
    assert_int_equal(json_object_object_get_ex(o, "stdout", NULL), !want_b64);
    json_object_put(o);
    assert_null(strstr(b.data, "\\ufffd"));
    parse_ok_n(b.data, b.len - 1, &out);
    assert_int_equal(out.result.out.out_len, n);
    assert_memory_equal(out.result.out.out, bytes, n);
    assert_int_equal(out.result.out.err_len, n);
    assert_memory_equal(out.result.out.err, bytes, n);
    msg_release(&out);
    buf_release(&b);
}

static void test_msg_binary_output(void **state UNUSED)
{
    static const char bin[] = {'\xff', '\0', 'a',    '\xc3', '(',
                               '\x80', '\n', '\xed', '\xa0', '\x80'};
    result_with_output(bin, sizeof(bin), true);
    result_with_output("\xc3\xa9t\xc3\xa9\0\n", 7, false);
    result_with_output("\x80", 1, true);
    for (size_t n = 1; n <= 5; n++) /* every padding */
        result_with_output("\xfe\xfe\xfe\xfe\xfe", n, true);
    /* 256 KiB of every byte value. */
    char *big = xmalloc(256 * 1024);
    for (size_t i = 0; i < 256 * 1024; i++)
        big[i] = (char)(i * 7 + i / 256);
    result_with_output(big, 256 * 1024, true);

    /* The get reply carries the same rule; the display form for `dtr result
     * --json` always has "stdout" (U+FFFD for bad bytes) and adds
     * "stdout_b64", and still parses back to the exact bytes. */
    struct task_info ti = {
        .id = (char *)"t", .state = TASK_SUCCEEDED, .exit_code = 0, .has_output = true};
    ti.out.out = (char *)bin;
    ti.out.out_len = sizeof(bin);
    ti.out.err = (char *)"ok";
    ti.out.err_len = 2;
    for (int display = 0; display < 2; display++) {
        struct buf b = BUF_INIT;
        struct msg m;
        buf_addstr(&b, "{\"type\":\"task\",\"task\":");
        if (display)
            task_info_encode_display(&b, &ti);
        else
            task_info_encode(&b, &ti);
        buf_addch(&b, '}');
        json_object *o = strict_json(b.data, b.len), *t = NULL, *v = NULL;
        assert_true(json_object_object_get_ex(o, "task", &t));
        assert_int_equal(json_object_object_get_ex(t, "stdout", &v), display);
        if (display) {
            assert_true(json_object_is_type(v, json_type_string));
            assert_non_null(strstr(json_object_get_string(v), "\xef\xbf\xbd")); /* U+FFFD */
        }
        assert_true(json_object_object_get_ex(t, "stdout_b64", &v));
        assert_string_equal(json_object_get_string(v), "/wBhwyiACu2ggA==");
        assert_true(json_object_object_get_ex(t, "stderr", &v));
        assert_string_equal(json_object_get_string(v), "ok");
        assert_false(json_object_object_get_ex(t, "stderr_b64", NULL));
        json_object_put(o);
        parse_ok(b.data, &m);
        assert_true(m.task.has_output);
        assert_int_equal(m.task.out.out_len, sizeof(bin));
        assert_memory_equal(m.task.out.out, bin, sizeof(bin));
        assert_string_equal(m.task.out.err, "ok");
        msg_release(&m);
        buf_release(&b);
    }
    free(big);
}

static void test_msg_binary_output_bad(void **state UNUSED)
{
#define RES "{\"type\":\"result\",\"lease\":1,\"id\":\"t\",\"attempt\":1,"
    static const struct {
        const char *json;
        const char *field;
    } cases[] = {
        {RES "\"stdout_b64\":5}", "'stdout_b64'"},
        {RES "\"stdout_b64\":[\"QQ==\"]}", "'stdout_b64'"},
        {RES "\"stdout_b64\":\"QQ\"}", "'stdout_b64'"},   /* padding missing */
        {RES "\"stdout_b64\":\"QR==\"}", "'stdout_b64'"}, /* stray bits */
        {RES "\"stdout_b64\":\"QQ==QQ==\"}", "'stdout_b64'"},
        {RES "\"stdout_b64\":\"QQ== \"}", "'stdout_b64'"},
        {RES "\"stdout_b64\":\" QQ==\"}", "'stdout_b64'"},
        {RES "\"stdout_b64\":\"Q\\nQ==\"}", "'stdout_b64'"},
        {RES "\"stdout_b64\":\"QQ=\\u0000\"}", "'stdout_b64'"},
        {RES "\"stdout_b64\":\"-_8=\"}", "'stdout_b64'"}, /* the URL alphabet */
        {RES "\"stdout_b64\":\"A\"}", "'stdout_b64'"},
        {RES "\"stderr_b64\":\"@@@@\"}", "'stderr_b64'"},
        {RES "\"stdout_b64\":\"QQ==\",\"stdout\":1}", "'stdout'"},
        {RES "\"stdout_64\":\"QQ==\"}", "'stdout_64'"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        parse_bad(cases[i].json, cases[i].field);
    struct msg m;
    /* Empty, and a display copy beside the bytes: the bytes win. */
    parse_ok(RES "\"stdout_b64\":\"\",\"stderr\":\"shown\",\"stderr_b64\":\"AP8=\"}", &m);
    assert_int_equal(m.result.out.out_len, 0);
    assert_int_equal(m.result.out.err_len, 2);
    assert_memory_equal(m.result.out.err, "\0\xff", 2);
    msg_release(&m);
    parse_bad(
        "{\"type\":\"task\",\"task\":{\"id\":\"t\",\"state\":\"queued\",\"stdout_b64\":\"*\"}}",
        "'stdout_b64'");
    parse_ok("{\"type\":\"task\",\"task\":{\"id\":\"t\",\"state\":\"queued\",\"stdout_b64\":\"\"}}",
             &m);
    assert_true(m.task.has_output);
    msg_release(&m);
#undef RES
}

/* Arrays at MSG_MAX_BATCH pass and one more is refused. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_bad_json),         cmocka_unit_test(test_spec_utf8),
        cmocka_unit_test(test_msg_nul_keys),          cmocka_unit_test(test_msg_binary_output),
        cmocka_unit_test(test_msg_binary_output_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
