/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for proto/spec.c: task specs, valid forms and every malformed
 * case we could think of, each refused with an error that names the field;
 * their canonical form, spec_kind() and the integer range of payloads.
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

/* ---- task specs: valid ------------------------------------------------------ */

static void test_spec_defaults(void **state UNUSED)
{
    struct task_spec s;
    spec_ok("{\"argv\":[\"echo\",\"hi\"]}", &s);
    assert_null(s.id);
    assert_int_equal(s.kind, KIND_EXEC);
    assert_int_equal(s.argc, 2);
    assert_string_equal(s.argv[0], "echo");
    assert_string_equal(s.argv[1], "hi");
    assert_null(s.argv[2]);
    assert_null(s.cmd);
    assert_null(s.env);
    assert_null(s.cwd);
    assert_null(s.payload);
    assert_int_equal(s.priority, TASK_DEFAULT_PRIORITY);
    assert_int_equal(s.max_retries, TASK_DEFAULT_RETRIES);
    assert_int_equal(s.timeout_ms, 0);
    spec_release(&s);
    assert_canon("{\"argv\":[\"echo\",\"hi\"]}",
                 "{\"id\":null,\"kind\":\"exec\",\"argv\":[\"echo\",\"hi\"],\"priority\":2,"
                 "\"max_retries\":3}");
    /* null means absent. */
    assert_canon("{\"id\":null,\"cmd\":\"true\",\"env\":null,\"cwd\":null,\"payload\":null,"
                 "\"priority\":null,\"max_retries\":null,\"timeout\":null,\"kind\":null}",
                 "{\"id\":null,\"kind\":\"exec\",\"cmd\":\"true\",\"priority\":2,"
                 "\"max_retries\":3}");
}

static void test_spec_full_exec(void **state UNUSED)
{
    struct task_spec s;
    spec_ok("{\"id\":\"build-1\",\"kind\":\"exec\",\"cmd\":\"make -j2 && make test\","
            "\"env\":{\"CC\":\"gcc\",\"EMPTY\":\"\",\"EQ\":\"a=b=c\"},\"cwd\":\"/src\","
            "\"priority\":10,\"max_retries\":5,\"timeout\":\"2m\"}",
            &s);
    assert_string_equal(s.id, "build-1");
    assert_string_equal(s.cmd, "make -j2 && make test");
    assert_null(s.argv);
    assert_int_equal(s.envc, 3);
    assert_string_equal(s.env[0], "CC=gcc");
    assert_string_equal(s.env[1], "EMPTY=");
    assert_string_equal(s.env[2], "EQ=a=b=c");
    assert_null(s.env[3]);
    assert_string_equal(s.cwd, "/src");
    assert_int_equal(s.priority, 10);
    assert_int_equal(s.max_retries, 5);
    assert_int_equal(s.timeout_ms, 120000);
    spec_release(&s);

    /* Whitespace around the object is fine (a .jsonl line with "\r\n"). */
    spec_ok("  {\"cmd\":\"x\"}\r\n", &s);
    spec_release(&s);
    /* An argv entry may be empty; only the array may not. */
    spec_ok("{\"argv\":[\"printf\",\"\"]}", &s);
    assert_int_equal(s.argc, 2);
    spec_release(&s);
}

static void test_spec_priority(void **state UNUSED)
{
    static const struct {
        const char *json;
        int64_t want;
    } cases[] = {
        {"\"low\"", 1},
        {"\"medium\"", 2},
        {"\"high\"", 3},
        {"\"HIGH\"", 3},
        {"\"Low\"", 1},
        {"0", 0},
        {"-5", -5},
        {"100", 100},
        {"2147483647", INT32_MAX},
        {"-2147483648", INT32_MIN},
        {"\"42\"", 42},
        {"\"-3\"", -3},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char json[128];
        struct task_spec s;
        snprintf(json, sizeof(json), "{\"cmd\":\"x\",\"priority\":%s}", cases[i].json);
        spec_ok(json, &s);
        if (s.priority != cases[i].want)
            fail_msg("%s: priority %lld, want %lld", json, (long long)s.priority,
                     (long long)cases[i].want);
        spec_release(&s);
        free(canon(json));
    }
}

static void test_spec_timeout(void **state UNUSED)
{
    static const struct {
        const char *json;
        int64_t ms;
        const char *canonical; /* the "timeout" member of the canonical form */
    } cases[] = {
        {"10", 10000, "10.000"},
        {"1.5", 1500, "1.500"},
        {"0.001", 1, "0.001"},
        {"0.0005", 1, "0.001"}, /* rounds to 1 ms */
        {"5e-4", 1, "0.001"},
        {"2.0004", 2000, "2.000"},
        {"\"0.5ms\"", 1, "0.001"},
        {"\"500ms\"", 500, "0.500"},
        {"\"10s\"", 10000, "10.000"},
        {"\"2m\"", 120000, "120.000"},
        {"\"1h\"", 3600000, "3600.000"},
        {"\"1.5\"", 1500, "1.500"},
        {"\"1ms\"", 1, "0.001"},
        {"31535999.999", 31535999999LL, "31535999.999"},
        {"\"8759h\"", 8759LL * 3600000, "31532400.000"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char json[128], want[256];
        struct task_spec s;
        snprintf(json, sizeof(json), "{\"cmd\":\"x\",\"timeout\":%s}", cases[i].json);
        spec_ok(json, &s);
        if (s.timeout_ms != cases[i].ms)
            fail_msg("%s: timeout %lld ms, want %lld", json, (long long)s.timeout_ms,
                     (long long)cases[i].ms);
        spec_release(&s);
        snprintf(want, sizeof(want),
                 "{\"id\":null,\"kind\":\"exec\",\"cmd\":\"x\",\"priority\":2,"
                 "\"max_retries\":3,\"timeout\":%s}",
                 cases[i].canonical);
        assert_canon(json, want);
    }
}

static void test_spec_retries(void **state UNUSED)
{
    struct task_spec s;
    spec_ok("{\"cmd\":\"x\",\"max_retries\":0}", &s);
    assert_int_equal(s.max_retries, 0);
    spec_release(&s);
    spec_ok("{\"cmd\":\"x\",\"max_retries\":1000}", &s);
    assert_int_equal(s.max_retries, TASK_MAX_RETRIES);
    spec_release(&s);
}

static void test_spec_builtin_kinds(void **state UNUSED)
{
    struct task_spec s;
    spec_ok("{\"kind\":\"compute\",\"payload\":{\"numbers\":[1,-2,3.25,1e3]}}", &s);
    assert_int_equal(s.kind, KIND_COMPUTE);
    assert_string_equal(s.payload, "{\"numbers\":[1,-2,3.25,1e3]}");
    spec_release(&s);
    spec_ok("{\"kind\":\"compute\",\"payload\":{\"numbers\":[]}}", &s);
    spec_release(&s);
    spec_ok("{\"kind\":\"transform\",\"payload\":{\"data\":\"\",\"extra\":[1]}}", &s);
    assert_int_equal(s.kind, KIND_TRANSFORM);
    spec_release(&s);
    spec_ok("{\"kind\":\"sleep\",\"payload\":{\"seconds\":0}}", &s);
    assert_int_equal(s.kind, KIND_SLEEP);
    spec_release(&s);
    spec_ok("{\"kind\":\"sleep\",\"payload\":{\"seconds\":1.5}}", &s);
    spec_release(&s);
    /* echo and noop take any payload, or none. */
    spec_ok("{\"kind\":\"echo\"}", &s);
    assert_int_equal(s.kind, KIND_ECHO);
    assert_null(s.payload);
    spec_release(&s);
    spec_ok("{\"kind\":\"echo\",\"payload\":\"just a string\"}", &s);
    assert_string_equal(s.payload, "\"just a string\"");
    spec_release(&s);
    spec_ok("{\"kind\":\"noop\",\"payload\":{\"a\":{\"b\":[true,false,null]}}}", &s);
    assert_int_equal(s.kind, KIND_NOOP);
    spec_release(&s);
    /* An exec task may carry a payload (unused by the runner). */
    spec_ok("{\"cmd\":\"x\",\"payload\":{\"k\":1}}", &s);
    spec_release(&s);

    /* Payloads are re-serialised compactly; the canonical form is stable. */
    assert_canon("{\"kind\":\"compute\",\"id\":\"c\",\"payload\": { \"numbers\" : [ 1 , 2.50 ] }}",
                 "{\"id\":\"c\",\"kind\":\"compute\",\"payload\":{\"numbers\":[1,2.50]},"
                 "\"priority\":2,\"max_retries\":3}");
    /* json-c keeps a double's source text, some of which is no JSON: those
     * are written from the value. */
    assert_canon("{\"kind\":\"echo\",\"payload\":[01.5,1.,-.5,0318e,1e,2.50,-0.0,1E+2]}",
                 "{\"id\":null,\"kind\":\"echo\","
                 "\"payload\":[1.5,1.0,-0.5,318.0,1.0,2.50,-0.0,1E+2],"
                 "\"priority\":2,\"max_retries\":3}");
    /* A double written like an integer would read back as a (clamped) one. */
    assert_canon("{\"kind\":\"echo\",\"payload\":[1111111111111111111111111111118e]}",
                 "{\"id\":null,\"kind\":\"echo\",\"payload\":[1.1111111111111111e+30],"
                 "\"priority\":2,\"max_retries\":3}");
    assert_canon("{\"kind\":\"echo\",\"payload\":{\"s\":\"a/b\\n\\u00e9\\ud83d\\ude00\"}}",
                 "{\"id\":null,\"kind\":\"echo\","
                 "\"payload\":{\"s\":\"a/b\\n\xc3\xa9\xf0\x9f\x98\x80\"},"
                 "\"priority\":2,\"max_retries\":3}");
}

static void test_spec_ids(void **state UNUSED)
{
    struct task_spec s;
    char json[512];
    char *id = repeat('i', MSG_MAX_ID);
    snprintf(json, sizeof(json), "{\"id\":\"%s\",\"cmd\":\"x\"}", id);
    spec_ok(json, &s);
    assert_string_equal(s.id, id);
    spec_release(&s);
    spec_ok("{\"id\":\"!#$%&'()*+,-./:;<=>?@[]^_`{|}~\",\"cmd\":\"x\"}", &s);
    spec_release(&s);
    spec_ok("{\"id\":\"a\\\"b\\\\c\",\"cmd\":\"x\"}", &s);
    assert_string_equal(s.id, "a\"b\\c");
    spec_release(&s);
    free(id);
}

/* Large but within the limits. */
static void test_spec_limits_ok(void **state UNUSED)
{
    struct buf b = BUF_INIT;
    struct task_spec s;
    char *big = repeat('c', MSG_MAX_STR);
    buf_addf(&b, "{\"cmd\":\"%s\"}", big);
    spec_ok_n(b.data, b.len, &s);
    assert_int_equal(strlen(s.cmd), MSG_MAX_STR);
    spec_release(&s);

    buf_reset(&b);
    buf_addstr(&b, "{\"argv\":[");
    for (int i = 0; i < MSG_MAX_ARGV; i++)
        buf_addf(&b, "%s\"a%d\"", i ? "," : "", i);
    buf_addstr(&b, "]}");
    spec_ok_n(b.data, b.len, &s);
    assert_int_equal(s.argc, MSG_MAX_ARGV);
    spec_release(&s);

    buf_reset(&b);
    buf_addstr(&b, "{\"cmd\":\"x\",\"env\":{");
    for (int i = 0; i < MSG_MAX_ENV; i++)
        buf_addf(&b, "%s\"V%d\":\"%d\"", i ? "," : "", i, i);
    buf_addstr(&b, "}}");
    spec_ok_n(b.data, b.len, &s);
    assert_int_equal(s.envc, MSG_MAX_ENV);
    spec_release(&s);

    buf_reset(&b);
    buf_addf(&b, "{\"cmd\":\"x\",\"cwd\":\"/%s\"}", big + MSG_MAX_STR - 4095);
    spec_ok_n(b.data, b.len, &s);
    assert_int_equal(strlen(s.cwd), 4096);
    spec_release(&s);

    free(big);
    buf_release(&b);
}

/* ---- task specs: malformed ------------------------------------------------------ */

static void test_spec_not_object(void **state UNUSED)
{
    static const char *const cases[] = {
        "[]", "[{\"cmd\":\"x\"}]", "\"cmd\"", "1\n", "-2.5\n", "true\n", "false\n", "null\n",
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        spec_bad(cases[i], "object");
    /* A bare number or literal at the very end is still incomplete to json-c. */
    spec_bad("1", "JSON");
    spec_bad("null", "JSON");
}

/* Each entry is refused with an error naming the field. */
static const struct {
    const char *json;
    const char *field;
} bad_specs[] = {
    /* unknown fields */
    {"{\"cmd\":\"x\",\"bogus\":1}", "'bogus'"},
    {"{\"cmd\":\"x\",\"Cmd\":\"y\"}", "'Cmd'"},
    {"{\"cmd\":\"x\",\"type\":\"submit\"}", "'type'"},
    {"{\"cmd\":\"x\",\"retries\":3}", "'retries'"},
    {"{\"cmd\":\"x\",\"\":3}", "''"},
    /* wrong types */
    {"{\"id\":5,\"cmd\":\"x\"}", "'id'"},
    {"{\"id\":[\"a\"],\"cmd\":\"x\"}", "'id'"},
    {"{\"kind\":1}", "'kind'"},
    {"{\"kind\":true,\"cmd\":\"x\"}", "'kind'"},
    {"{\"argv\":\"echo hi\"}", "'argv'"},
    {"{\"argv\":{\"0\":\"echo\"}}", "'argv'"},
    {"{\"cmd\":[\"echo\"]}", "'cmd'"},
    {"{\"cmd\":1}", "'cmd'"},
    {"{\"cmd\":false}", "'cmd'"},
    {"{\"cmd\":\"x\",\"env\":[\"A=1\"]}", "'env'"},
    {"{\"cmd\":\"x\",\"env\":\"A=1\"}", "'env'"},
    {"{\"cmd\":\"x\",\"env\":{\"A\":1}}", "'env'"},
    {"{\"cmd\":\"x\",\"env\":{\"A\":true}}", "'env'"},
    {"{\"cmd\":\"x\",\"env\":{\"A\":[\"1\"]}}", "'env'"},
    {"{\"cmd\":\"x\",\"env\":{\"A\":{}}}", "'env'"},
    {"{\"cmd\":\"x\",\"cwd\":1}", "'cwd'"},
    {"{\"cmd\":\"x\",\"cwd\":[\"/\"]}", "'cwd'"},
    {"{\"cmd\":\"x\",\"priority\":true}", "'priority'"},
    {"{\"cmd\":\"x\",\"priority\":1.5}", "'priority'"},
    {"{\"cmd\":\"x\",\"priority\":[]}", "'priority'"},
    {"{\"cmd\":\"x\",\"priority\":{}}", "'priority'"},
    {"{\"cmd\":\"x\",\"max_retries\":1.5}", "'max_retries'"},
    {"{\"cmd\":\"x\",\"max_retries\":\"3\"}", "'max_retries'"},
    {"{\"cmd\":\"x\",\"max_retries\":true}", "'max_retries'"},
    {"{\"cmd\":\"x\",\"timeout\":true}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":[]}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":{}}", "'timeout'"},
    /* argv */
    {"{\"argv\":[]}", "'argv'"},
    {"{\"argv\":[1]}", "'argv'"},
    {"{\"argv\":[\"a\",2]}", "'argv'"},
    {"{\"argv\":[\"a\",null]}", "'argv'"},
    {"{\"argv\":[\"a\",[\"b\"]]}", "'argv'"},
    {"{\"argv\":[\"a\",{}]}", "'argv'"},
    {"{\"argv\":[\"a\",true]}", "'argv'"},
    {"{\"argv\":[\"a\\u0000b\"]}", "'argv'"},
    /* argv and cmd */
    {"{\"argv\":[\"a\"],\"cmd\":\"b\"}", "'argv'"},
    {"{\"argv\":[\"a\"],\"cmd\":\"b\"}", "'cmd'"},
    {"{}", "'argv'"},
    {"{}", "'cmd'"},
    {"{\"kind\":\"exec\"}", "'argv'"},
    {"{\"cmd\":\"\"}", "'cmd'"},
    {"{\"cmd\":\"a\\u0000b\"}", "'cmd'"},
    {"{\"id\":\"a\",\"env\":{\"A\":\"1\"}}", "'argv'"},
    /* argv or cmd on a built-in kind */
    {"{\"kind\":\"compute\",\"argv\":[\"a\"],\"payload\":{\"numbers\":[1]}}", "'argv'"},
    {"{\"kind\":\"noop\",\"cmd\":\"a\"}", "'cmd'"},
    {"{\"kind\":\"echo\",\"argv\":[\"a\"]}", "'argv'"},
    {"{\"kind\":\"sleep\",\"cmd\":\"sleep 1\",\"payload\":{\"seconds\":1}}", "'cmd'"},
    /* kind */
    {"{\"kind\":\"shell\",\"cmd\":\"x\"}", "'kind'"},
    {"{\"kind\":\"\",\"cmd\":\"x\"}", "'kind'"},
    {"{\"kind\":\"EXEC\",\"cmd\":\"x\"}", "'kind'"},
    {"{\"kind\":\"exec \",\"cmd\":\"x\"}", "'kind'"},
    {"{\"kind\":\"exec\\u0000\",\"cmd\":\"x\"}", "'kind'"},
    {"{\"kind\":\"computecomputecomputecomputecompute\"}", "'kind'"},
    /* id */
    {"{\"id\":\"\",\"cmd\":\"x\"}", "'id'"},
    {"{\"id\":\"a b\",\"cmd\":\"x\"}", "'id'"},
    {"{\"id\":\" a\",\"cmd\":\"x\"}", "'id'"},
    {"{\"id\":\"a\\tb\",\"cmd\":\"x\"}", "'id'"},
    {"{\"id\":\"a\\nb\",\"cmd\":\"x\"}", "'id'"},
    {"{\"id\":\"a\\u007f\",\"cmd\":\"x\"}", "'id'"},
    {"{\"id\":\"caf\\u00e9\",\"cmd\":\"x\"}", "'id'"},
    {"{\"id\":\"caf\xc3\xa9\",\"cmd\":\"x\"}", "'id'"},
    {"{\"id\":\"a\\u0000b\",\"cmd\":\"x\"}", "'id'"},
    /* env */
    {"{\"cmd\":\"x\",\"env\":{\"A=B\":\"1\"}}", "'env'"},
    {"{\"cmd\":\"x\",\"env\":{\"=\":\"1\"}}", "'env'"},
    {"{\"cmd\":\"x\",\"env\":{\"\":\"1\"}}", "'env'"},
    {"{\"cmd\":\"x\",\"env\":{\"A\":null}}", "'env'"},
    {"{\"cmd\":\"x\",\"env\":{\"A\":\"1\\u0000rm -rf\"}}", "'env'"},
    /* priority */
    {"{\"cmd\":\"x\",\"priority\":2147483648}", "'priority'"},
    {"{\"cmd\":\"x\",\"priority\":-2147483649}", "'priority'"},
    {"{\"cmd\":\"x\",\"priority\":99999999999999999999}", "'priority'"},
    {"{\"cmd\":\"x\",\"priority\":\"2147483648\"}", "'priority'"},
    {"{\"cmd\":\"x\",\"priority\":\"urgent\"}", "'priority'"},
    {"{\"cmd\":\"x\",\"priority\":\"\"}", "'priority'"},
    {"{\"cmd\":\"x\",\"priority\":\" 1\"}", "'priority'"},
    {"{\"cmd\":\"x\",\"priority\":\"1.0\"}", "'priority'"},
    /* max_retries */
    {"{\"cmd\":\"x\",\"max_retries\":-1}", "'max_retries'"},
    {"{\"cmd\":\"x\",\"max_retries\":1001}", "'max_retries'"},
    {"{\"cmd\":\"x\",\"max_retries\":4294967296}", "'max_retries'"},
    /* timeout */
    {"{\"cmd\":\"x\",\"timeout\":0}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":0.0}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":-1}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":-0.5}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":31536000}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":1e300}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":1e400}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":NaN}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":Infinity}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":\"0\"}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":\"0s\"}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":\"0.0001s\"}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":\"-1s\"}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":\"soon\"}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":\"\"}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":\"10 s\"}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":\"1d\"}", "'timeout'"},
    /* One rule with `submit --timeout`: what rounds to 0 ms is refused (it
     * once meant 1 ms here and "no timeout" on the command line). */
    {"{\"cmd\":\"x\",\"timeout\":0.0001}", "omit it for no timeout"},
    {"{\"cmd\":\"x\",\"timeout\":0.00049}", "omit it for no timeout"},
    {"{\"cmd\":\"x\",\"timeout\":1e-9}", "omit it for no timeout"},
    {"{\"cmd\":\"x\",\"timeout\":0}", "omit it for no timeout"},
    {"{\"cmd\":\"x\",\"timeout\":\"0ms\"}", "omit it for no timeout"},
    {"{\"cmd\":\"x\",\"timeout\":\"0.4ms\"}", "omit it for no timeout"},
    /* payload integers past 64 bits: json-c clamps them */
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[18446744073709551616]}}",
     "'payload.numbers[0]' is an integer outside the 64-bit range"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[1,18446744073709551615]}}",
     "'payload.numbers[1]'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[9223372036854775808]}}",
     "'payload.numbers[0]'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[-9223372036854775809]}}",
     "'payload.numbers[0]'"},
    /* -2^63 cannot be told from what json-c clamps to it */
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[-9223372036854775808]}}",
     "'payload.numbers[0]'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[1e3,-99999999999999999999999]}}",
     "'payload.numbers[1]'"},
    {"{\"kind\":\"echo\",\"payload\":{\"a\":{\"b\":[1,{\"c\":18446744073709551616}]}}}",
     "'payload.a.b[1].c'"},
    {"{\"kind\":\"echo\",\"payload\":99999999999999999999}", "'payload'"},
    {"{\"cmd\":\"x\",\"max_retries\":18446744073709551616}", "'max_retries'"},
    /* Durations are capped like numbers (365 days), so the canonical form,
     * which writes seconds, always parses again. */
    {"{\"cmd\":\"x\",\"timeout\":\"8760h\"}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":\"876000h\"}", "'timeout'"},
    /* compute */
    {"{\"kind\":\"compute\"}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":[1,2]}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":null}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":5}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":\"1,2\"}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[1,\"2\"]}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[1,null]}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[[1]]}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[true]}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[NaN]}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[1e400]}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[-Infinity]}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"Numbers\":[1]}}", "'payload.numbers'"},
    /* any payload: NaN and infinities are not JSON numbers */
    {"{\"kind\":\"echo\",\"payload\":{\"x\":NaN}}", "'payload'"},
    {"{\"kind\":\"echo\",\"payload\":[1,[2,[-Infinity]]]}", "'payload'"},
    {"{\"cmd\":\"x\",\"payload\":{\"big\":1e400}}", "'payload'"},
    {"{\"kind\":\"transform\",\"payload\":{\"data\":\"d\",\"n\":NaN}}", "'payload'"},
    /* transform */
    {"{\"kind\":\"transform\"}", "'payload.data'"},
    {"{\"kind\":\"transform\",\"payload\":{}}", "'payload.data'"},
    {"{\"kind\":\"transform\",\"payload\":{\"data\":1}}", "'payload.data'"},
    {"{\"kind\":\"transform\",\"payload\":{\"data\":[\"a\"]}}", "'payload.data'"},
    {"{\"kind\":\"transform\",\"payload\":{\"data\":null}}", "'payload.data'"},
    {"{\"kind\":\"transform\",\"payload\":\"abc\"}", "'payload.data'"},
    /* sleep */
    {"{\"kind\":\"sleep\"}", "'payload.seconds'"},
    {"{\"kind\":\"sleep\",\"payload\":{\"seconds\":-1}}", "'payload.seconds'"},
    {"{\"kind\":\"sleep\",\"payload\":{\"seconds\":\"1s\"}}", "'payload.seconds'"},
    {"{\"kind\":\"sleep\",\"payload\":{\"seconds\":31536001}}", "'payload.seconds'"},
    {"{\"kind\":\"sleep\",\"payload\":{\"seconds\":NaN}}", "'payload.seconds'"},
    {"{\"kind\":\"sleep\",\"payload\":{\"seconds\":Infinity}}", "'payload.seconds'"},
    {"{\"kind\":\"sleep\",\"payload\":{\"seconds\":1e400}}", "'payload.seconds'"},
};

static void test_spec_malformed_fields(void **state UNUSED)
{
    for (size_t i = 0; i < ARRAY_SIZE(bad_specs); i++)
        spec_bad(bad_specs[i].json, bad_specs[i].field);
}

/* The same specs inside a submit: refused, the error names the task and the
 * field. */
static void test_submit_malformed(void **state UNUSED)
{
    for (size_t i = 0; i < ARRAY_SIZE(bad_specs); i++) {
        struct buf b = BUF_INIT;
        buf_addf(&b, "{\"type\":\"submit\",\"tasks\":[{\"cmd\":\"ok\"},%s]}", bad_specs[i].json);
        parse_bad(b.data, bad_specs[i].field);
        parse_bad(b.data, "task 2");
        buf_release(&b);
    }
    parse_bad("{\"type\":\"submit\"}", "'tasks'");
    parse_bad("{\"type\":\"submit\",\"tasks\":[]}", "'tasks'");
    parse_bad("{\"type\":\"submit\",\"tasks\":{\"cmd\":\"x\"}}", "'tasks'");
    parse_bad("{\"type\":\"submit\",\"tasks\":[1]}", "object");
    parse_bad("{\"type\":\"submit\",\"tasks\":[{\"cmd\":\"x\"}],\"wait\":1}", "'wait'");
    parse_bad("{\"type\":\"submit\",\"tasks\":[{\"cmd\":\"x\"}],\"watch\":true}", "'watch'");
}

static void test_spec_too_big(void **state UNUSED)
{
    struct buf b = BUF_INIT;
    char *big = repeat('c', MSG_MAX_STR + 1);

    buf_addf(&b, "{\"cmd\":\"%s\"}", big);
    spec_bad_n(b.data, b.len, "'cmd'");

    buf_reset(&b);
    buf_addf(&b, "{\"argv\":[\"%s\"]}", big);
    spec_bad_n(b.data, b.len, "'argv'");

    buf_reset(&b);
    buf_addf(&b, "{\"cmd\":\"x\",\"env\":{\"K\":\"%s\"}}", big + 1);
    spec_bad_n(b.data, b.len, "'env'");

    buf_reset(&b);
    buf_addf(&b, "{\"kind\":\"echo\",\"payload\":\"%s\"}", big + 2);
    spec_bad_n(b.data, b.len, "'payload'");

    buf_reset(&b);
    buf_addf(&b, "{\"cmd\":\"x\",\"cwd\":\"%s\"}", big + MSG_MAX_STR - 4096);
    spec_bad_n(b.data, b.len, "'cwd'");

    buf_reset(&b);
    buf_addf(&b, "{\"id\":\"%s\",\"cmd\":\"x\"}", big + MSG_MAX_STR - MSG_MAX_ID);
    spec_bad_n(b.data, b.len, "'id'");

    buf_reset(&b);
    buf_addstr(&b, "{\"argv\":[");
    for (int i = 0; i <= MSG_MAX_ARGV; i++)
        buf_addf(&b, "%s\"a\"", i ? "," : "");
    buf_addstr(&b, "]}");
    spec_bad_n(b.data, b.len, "'argv'");

    buf_reset(&b);
    buf_addstr(&b, "{\"cmd\":\"x\",\"env\":{");
    for (int i = 0; i <= MSG_MAX_ENV; i++)
        buf_addf(&b, "%s\"V%d\":\"\"", i ? "," : "", i);
    buf_addstr(&b, "}}");
    spec_bad_n(b.data, b.len, "'env'");

    free(big);
    buf_release(&b);
}

/* Deep nesting: beyond FRAME_MAX_DEPTH the JSON decoder refuses; a payload
 * nested so deep that the run message carrying it would pass the limit is
 * refused at submission (naming the field) instead of at the worker. */
static void test_spec_nesting(void **state UNUSED)
{
    struct buf b = BUF_INIT;
    struct task_spec s;

    for (int depth = 1; depth <= FRAME_MAX_DEPTH + 2; depth++) {
        buf_reset(&b);
        buf_addstr(&b, "{\"kind\":\"echo\",\"payload\":");
        for (int i = 0; i < depth; i++)
            buf_addch(&b, '[');
        for (int i = 0; i < depth; i++)
            buf_addch(&b, ']');
        buf_addch(&b, '}');
        int rc = spec_parse(b.data, b.len, &s, err, sizeof(err));
        if (rc == 0) {
            /* Whatever is accepted must survive the trip to a worker. */
            struct buf run = BUF_INIT, spec = BUF_INIT;
            struct msg m;
            free(s.id);
            s.id = xstrdup("deep");
            spec_encode(&spec, &s);
            spec_release(&s);
            msg_run_begin(&run);
            msg_run_add(&run, true, 1, 1, spec.data);
            msg_run_end(&run);
            parse_ok(run.data, &m);
            msg_release(&m);
            buf_release(&spec);
            buf_release(&run);
            /* ... and inside a submit. */
            buf_reset(&run);
            buf_addf(&run, "{\"type\":\"submit\",\"tasks\":[%s]}", b.data);
            parse_ok(run.data, &m);
            msg_release(&m);
            buf_release(&run);
            assert_true(depth < FRAME_MAX_DEPTH);
        } else {
            assert_int_equal(rc, DTR_EINVAL);
            if (!strstr(err, "'payload'") && !strstr(err, "nesting"))
                fail_msg("depth %d: error \"%s\" names neither the field nor the nesting", depth,
                         err);
            assert_true(depth > 8);
        }
    }
    /* Nesting in another field: refused by the decoder or by the field's type. */
    buf_reset(&b);
    buf_addstr(&b, "{\"cmd\":\"x\",\"argv\":");
    for (int i = 0; i < FRAME_MAX_DEPTH + 1; i++)
        buf_addch(&b, '[');
    for (int i = 0; i < FRAME_MAX_DEPTH + 1; i++)
        buf_addch(&b, ']');
    buf_addch(&b, '}');
    spec_bad_n(b.data, b.len, "nesting");
    buf_release(&b);
}

static void test_spec_int_range(void **state UNUSED)
{
    struct task_spec s;
    struct msg m;
    spec_ok("{\"kind\":\"compute\",\"payload\":{\"numbers\":"
            "[9223372036854775807,-9223372036854775807,1.8e19,-1e300]}}",
            &s);
    assert_string_equal(s.payload, "{\"numbers\":[9223372036854775807,-9223372036854775807,"
                                   "1.8e19,-1e300]}");
    spec_release(&s);
    /* A submit names the task, then the field. */
    parse_bad("{\"type\":\"submit\",\"tasks\":[{\"cmd\":\"x\"},{\"kind\":\"compute\","
              "\"payload\":{\"numbers\":[18446744073709551616]}}]}",
              "task 2: field 'payload.numbers[0]' is an integer outside the 64-bit range");
    /* A run carries the master's canonical specs: what an older master
     * accepted (and json-c clamped) still reaches the worker. */
    parse_ok("{\"type\":\"run\",\"tasks\":[{\"lease\":1,\"attempt\":1,\"spec\":{\"id\":\"t\","
             "\"kind\":\"compute\",\"payload\":{\"numbers\":[18446744073709551615]},"
             "\"priority\":2,\"max_retries\":3}}]}",
             &m);
    assert_string_equal(m.runs[0].spec.payload, "{\"numbers\":[18446744073709551615]}");
    msg_release(&m);
    /* Protocol integers: 2^64 is not INT64_MAX. */
    parse_bad("{\"type\":\"result\",\"lease\":18446744073709551616,\"id\":\"t\",\"attempt\":1}",
              "'lease'");
    parse_bad("{\"type\":\"progress\",\"total\":18446744073709551615,\"done\":1}", "'total'");
    parse_bad("{\"type\":\"ack\",\"leases\":[1,18446744073709551616]}", "'leases'");
    parse_ok("{\"type\":\"progress\",\"total\":9223372036854775807,\"done\":1}", &m);
    assert_true(m.total == (uint64_t)INT64_MAX);
    msg_release(&m);
}

/* Only a key with an escaped NUL is refused: not a value, not an escaped
 * backslash before "u0000". */
/* ---- spec_kind, names ---------------------------------------------------------- */

static void test_spec_kind(void **state UNUSED)
{
    static const struct {
        const char *spec;
        const char *kind;
    } cases[] = {
        {"{\"cmd\":\"x\"}", "exec"},
        {"{\"kind\":\"exec\",\"argv\":[\"x\"]}", "exec"},
        {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[1]}}", "compute"},
        {"{\"kind\":\"transform\",\"payload\":{\"data\":\"d\"}}", "transform"},
        {"{\"kind\":\"echo\"}", "echo"},
        {"{\"kind\":\"sleep\",\"payload\":{\"seconds\":1}}", "sleep"},
        {"{\"kind\":\"noop\"}", "noop"},
        /* An id cannot fool it: quotes in the id are escaped. */
        {"{\"id\":\"x\\\",\\\"kind\\\":\\\"noop\",\"cmd\":\"x\"}", "exec"},
        {"{\"id\":\"x\\\\\",\"kind\":\"echo\"}", "echo"},
        {"{\"id\":\",\\\"kind\\\":\\\"sleep\\\"\",\"kind\":\"noop\"}", "noop"},
        /* Nor a payload or command that mentions a kind. */
        {"{\"cmd\":\"echo ,\\\"kind\\\":\\\"noop\\\"\"}", "exec"},
        {"{\"kind\":\"echo\",\"payload\":{\"kind\":\"noop\"}}", "echo"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *c = canon(cases[i].spec);
        if (strcmp(spec_kind(c), cases[i].kind))
            fail_msg("spec_kind(%s) = %s, want %s", c, spec_kind(c), cases[i].kind);
        free(c);
    }
    assert_string_equal(spec_kind(""), "exec");
    assert_string_equal(spec_kind("{\"id\":null,\"kind\":\"nonsense\"}"), "exec");
    assert_string_equal(spec_kind("{\"id\":null,\"kind\":\"noopx\"}"), "exec");
}

/* ---- labels ---------------------------------------------------------------- */

static void test_spec_labels_ok(void **state UNUSED)
{
    struct task_spec s;
    spec_ok("{\"kind\":\"noop\",\"labels\":{\"team\":\"a\",\"env\":\"prod\",\"e\":\"\"}}", &s);
    assert_int_equal(s.nlabels, 3);
    assert_string_equal(s.labels[0], "e=");
    assert_string_equal(s.labels[1], "env=prod");
    assert_string_equal(s.labels[2], "team=a");
    assert_null(s.labels[3]);
    spec_release(&s);
    /* Sorted by key, right after the kind; {} and null mean none. */
    assert_canon(
        "{\"kind\":\"noop\",\"labels\":{\"team\":\"a\",\"env\":\"x=y \\\"q\\\"\"}}",
        "{\"id\":null,\"kind\":\"noop\",\"labels\":{\"env\":\"x=y \\\"q\\\"\",\"team\":\"a\"},"
        "\"priority\":2,\"max_retries\":3}");
    assert_canon("{\"kind\":\"noop\",\"labels\":{}}",
                 "{\"id\":null,\"kind\":\"noop\",\"priority\":2,\"max_retries\":3}");
    assert_canon("{\"kind\":\"noop\",\"labels\":null}",
                 "{\"id\":null,\"kind\":\"noop\",\"priority\":2,\"max_retries\":3}");
    /* Keys ordered by bytes, "a" before "a-b" before "ab". */
    assert_canon(
        "{\"kind\":\"noop\",\"labels\":{\"ab\":\"1\",\"a\":\"2\",\"a-b\":\"3\"}}",
        "{\"id\":null,\"kind\":\"noop\",\"labels\":{\"a\":\"2\",\"a-b\":\"3\",\"ab\":\"1\"},"
        "\"priority\":2,\"max_retries\":3}");

    /* The limits themselves: 32 labels, 256-byte keys and values. */
    struct buf b = BUF_INIT;
    buf_addstr(&b, "{\"kind\":\"noop\",\"labels\":{");
    for (int i = 0; i < MSG_MAX_LABELS; i++)
        buf_addf(&b, "%s\"%0*d\":\"%0*d\"", i ? "," : "", MSG_MAX_LABEL, i, MSG_MAX_LABEL, i);
    buf_addstr(&b, "}}");
    spec_ok(b.data, &s);
    assert_int_equal(s.nlabels, MSG_MAX_LABELS);
    spec_release(&s);
    buf_release(&b);
}

static void test_spec_labels_bad(void **state UNUSED)
{
    spec_bad("{\"kind\":\"noop\",\"labels\":[]}", "field 'labels' must be an object");
    spec_bad("{\"kind\":\"noop\",\"labels\":\"a=b\"}", "field 'labels' must be an object");
    spec_bad("{\"kind\":\"noop\",\"labels\":{\"a\":1}}", "the value of 'a' must be a string");
    spec_bad("{\"kind\":\"noop\",\"labels\":{\"a\":null}}", "the value of 'a' must be a string");
    spec_bad("{\"kind\":\"noop\",\"labels\":{\"a\":{}}}", "the value of 'a' must be a string");
    spec_bad("{\"kind\":\"noop\",\"labels\":{\"\":\"x\"}}", "key '' must be 1 to 256 bytes");
    spec_bad("{\"kind\":\"noop\",\"labels\":{\"a=b\":\"x\"}}", "without '='");
    spec_bad("{\"kind\":\"noop\",\"labels\":{\"a\\nb\":\"x\"}}", "control characters");
    spec_bad("{\"kind\":\"noop\",\"labels\":{\"a\":\"x\\ty\"}}", "control characters");
    spec_bad("{\"kind\":\"noop\",\"labels\":{\"a\":\"x\\u0000y\"}}", "control characters");
    spec_bad("{\"kind\":\"noop\",\"labels\":{\"a\\u0000b\":\"x\",\"a\":\"y\"}}", "NUL");

    struct buf b = BUF_INIT;
    buf_addstr(&b, "{\"kind\":\"noop\",\"labels\":{");
    for (int i = 0; i <= MSG_MAX_LABELS; i++)
        buf_addf(&b, "%s\"k%d\":\"v\"", i ? "," : "", i);
    buf_addstr(&b, "}}");
    spec_bad(b.data, "33 labels; the limit is 32");
    buf_reset(&b);
    buf_addf(&b, "{\"kind\":\"noop\",\"labels\":{\"%0*d\":\"v\"}}", MSG_MAX_LABEL + 1, 7);
    spec_bad(b.data, "must be 1 to 256 bytes");
    buf_reset(&b);
    buf_addf(&b, "{\"kind\":\"noop\",\"labels\":{\"k\":\"%0*d\"}}", MSG_MAX_LABEL + 1, 7);
    spec_bad(b.data, "at most 256 bytes");
    buf_release(&b);
}

/* spec_labels() finds the object in canonical text; labels_match() wants
 * every pair of a filter. */
/* Dependencies and labels together: each reader finds its own field in the
 * canonical text, where spec_encode() writes the lists first. */
static void test_spec_deps_and_labels(void **state UNUSED)
{
    char *c = canon("{\"id\":\"x\",\"kind\":\"noop\",\"labels\":{\"stage\":\"2\"},"
                    "\"after\":[\"a\",\"b]\\\"\"],\"after_any\":[\"c\"]}");
    size_t len;
    const char *o = spec_labels(c, &len);
    assert_non_null(o);
    assert_memory_equal(o, "{\"stage\":\"2\"}", len);
    char **after, **any;
    size_t nafter, nany;
    assert_int_equal(spec_deps(c, &after, &nafter, &any, &nany), 0);
    assert_int_equal(nafter, 2);
    assert_string_equal(after[1], "b]\"");
    assert_int_equal(nany, 1);
    assert_string_equal(any[0], "c");
    spec_free_ids(after, nafter);
    spec_free_ids(any, nany);
    free(c);
}

/* The job is the master's: refused in a user's spec, written last in the
 * canonical form, and read back from the end by spec_job() without
 * disturbing spec_deps(), spec_labels() or spec_timeout_ms(). */
/* Parses canonical spec c as a worker does, in a run message (*m released
 * by the caller when 0 is returned). */
static int run_spec(const char *c, struct msg *m)
{
    struct buf line = BUF_INIT;
    char why[256];
    buf_addf(&line, "{\"type\":\"run\",\"tasks\":[{\"lease\":1,\"attempt\":1,\"spec\":%s}]}", c);
    int rc = msg_parse(line.data, line.len, m, why, sizeof(why));
    buf_release(&line);
    return rc;
}

static void test_spec_job(void **state UNUSED)
{
    struct task_spec s;
    struct msg m;
    char why[256], job[MSG_MAX_JOB + 1];
    size_t suffix;
    const char *user = "{\"id\":\"x\",\"kind\":\"noop\",\"job\":\"j-1\"}";
    assert_int_equal(spec_parse(user, strlen(user), &s, why, sizeof(why)), DTR_EINVAL);
    assert_non_null(strstr(why, "'job'"));

    char *c = canon("{\"id\":\"x\",\"kind\":\"noop\",\"labels\":{\"k\":\"v\"},\"after\":[\"a\"],"
                    "\"timeout\":2.5,\"payload\":{\"job\":\"no\"}}");
    assert_false(spec_job(c, job, &suffix)); /* no job: the payload's key is not one */
    assert_int_equal(suffix, 0);
    assert_int_equal(spec_parse(c, strlen(c), &s, why, sizeof(why)), 0);
    s.job = strdup("nightly.2");
    struct buf b = BUF_INIT;
    spec_encode(&b, &s);
    spec_release(&s);
    const char *tail = ",\"timeout\":2.500,\"job\":\"nightly.2\"}";
    assert_string_equal(b.data + b.len - strlen(tail), tail);
    assert_true(spec_job(b.data, job, &suffix));
    assert_string_equal(job, "nightly.2");
    assert_int_equal(suffix, strlen(",\"job\":\"nightly.2\""));
    assert_int_equal(spec_timeout_ms(b.data), 2500);
    assert_int_equal(spec_timeout_ms(c), 2500);
    size_t len;
    const char *l = spec_labels(b.data, &len);
    assert_non_null(l);
    assert_memory_equal(l, "{\"k\":\"v\"}", len);
    char **after, **any;
    size_t nafter, nany;
    assert_int_equal(spec_deps(b.data, &after, &nafter, &any, &nany), 0);
    assert_int_equal(nafter, 1);
    spec_free_ids(after, nafter);
    spec_free_ids(any, nany);

    /* A worker reads it back from a run message, and checks it. */
    assert_int_equal(run_spec(b.data, &m), 0);
    assert_string_equal(m.runs[0].spec.job, "nightly.2");
    msg_release(&m);
    assert_int_not_equal(run_spec("{\"id\":\"x\",\"kind\":\"noop\",\"job\":\"a b\"}", &m), 0);
    /* The fast path too (a noop spec without timeout). */
    buf_reset(&b);
    free(c);
    c = canon("{\"id\":\"y\",\"kind\":\"noop\"}");
    assert_int_equal(spec_timeout_ms(c), 0);
    assert_int_equal(spec_parse(c, strlen(c), &s, why, sizeof(why)), 0);
    s.job = strdup("j-4");
    spec_encode(&b, &s);
    spec_release(&s);
    assert_int_equal(spec_timeout_ms(b.data), 0);
    struct buf line = BUF_INIT;
    buf_addf(&line, "{\"type\":\"run\",\"tasks\":[{\"lease\":1,\"attempt\":1,\"spec\":%s}]}",
             b.data);
    memset(&m, 0, sizeof(m));
    m.state = -1;
    assert_true(msg_parse_fast(line.data, line.len, &m));
    assert_string_equal(m.runs[0].spec.job, "j-4");
    msg_release(&m);
    buf_release(&line);
    buf_release(&b);
    free(c);

    assert_true(job_id_valid("j-1"));
    assert_true(job_id_valid("A.b_c-9"));
    assert_false(job_id_valid(""));
    assert_false(job_id_valid("-a"));
    assert_false(job_id_valid("a\"b"));
    assert_false(job_id_valid("a:b"));
    assert_false(job_name_free("j-12"));
    assert_true(job_name_free("j-"));
    assert_true(job_name_free("j-1a"));
    assert_true(job_name_free("nightly"));
}

/* The job's throttle is the master's too: refused in a user's spec, written
 * right after the job, read back by spec_throttle() without disturbing
 * spec_job() or spec_timeout_ms(), and accepted only with a job. */
static void test_spec_throttle(void **state UNUSED)
{
    struct task_spec s;
    struct msg m;
    char why[256], job[MSG_MAX_JOB + 1];
    size_t suffix;
    const char *user = "{\"id\":\"x\",\"kind\":\"noop\",\"throttle\":3}";
    assert_int_equal(spec_parse(user, strlen(user), &s, why, sizeof(why)), DTR_EINVAL);
    assert_non_null(strstr(why, "'throttle' is set by the master"));

    const char *u = "{\"id\":\"x\",\"argv\":[\"true\"],\"timeout\":2.5}";
    assert_int_equal(spec_parse(u, strlen(u), &s, why, sizeof(why)), 0);
    s.job = strdup("arr-1");
    s.throttle = 10;
    struct buf b = BUF_INIT;
    spec_encode(&b, &s);
    spec_release(&s);
    const char *tail = ",\"timeout\":2.500,\"job\":\"arr-1\",\"throttle\":10}";
    assert_string_equal(b.data + b.len - strlen(tail), tail);
    assert_true(spec_job(b.data, job, &suffix));
    assert_string_equal(job, "arr-1");
    assert_int_equal(suffix, strlen(",\"job\":\"arr-1\",\"throttle\":10"));
    assert_int_equal(spec_throttle(b.data), 10);
    assert_int_equal(spec_timeout_ms(b.data), 2500);
    assert_int_equal(run_spec(b.data, &m), 0);
    assert_int_equal(m.runs[0].spec.throttle, 10);
    msg_release(&m);

    /* Without a throttle, or without a job, spec_throttle() says 0. */
    struct {
        const char *c;
        uint32_t want;
    } cases[] = {
        {"{\"id\":\"x\",\"kind\":\"noop\",\"priority\":0,\"max_retries\":3,\"job\":\"j-1\"}", 0},
        {"{\"id\":\"x\",\"kind\":\"noop\",\"priority\":0,\"max_retries\":3,\"throttle\":4}", 0},
        {"{\"id\":\"x\",\"kind\":\"noop\",\"job\":\"j-1\",\"throttle\":0}", 0},
        {"{\"id\":\"x\",\"kind\":\"noop\",\"job\":\"j-1\",\"throttle\":10000001}", 0},
        {"{\"id\":\"x\",\"kind\":\"noop\",\"job\":\"j-1\",\"throttle\":10000000}", 10000000},
        {"\"throttle\":7}", 0},
        {",\"throttle\":7}", 0},
        {"}", 0},
        {"", 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        if (spec_throttle(cases[i].c) != cases[i].want)
            fail_msg("spec_throttle(%s) is %u, want %u", cases[i].c, spec_throttle(cases[i].c),
                     cases[i].want);
    /* A worker refuses a throttle without a job, or out of range. */
    assert_int_not_equal(run_spec("{\"id\":\"x\",\"kind\":\"noop\",\"throttle\":4}", &m), 0);
    assert_int_not_equal(
        run_spec("{\"id\":\"x\",\"kind\":\"noop\",\"job\":\"j-1\",\"throttle\":0}", &m), 0);
    buf_release(&b);
}

static void test_spec_labels_find_match(void **state UNUSED)
{
    char *c = canon("{\"id\":\"x\\\",\\\"labels\\\":{\",\"kind\":\"noop\",\"labels\":{\"t\":\"a,"
                    "\\\"b\\\":\\\"c\","
                    "\"u\":\"}\"},\"payload\":{\"labels\":{\"t\":\"z\"}}}");
    size_t len;
    const char *o = spec_labels(c, &len);
    assert_non_null(o);
    assert_int_equal(len, strlen("{\"t\":\"a,\\\"b\\\":\\\"c\",\"u\":\"}\"}"));
    assert_memory_equal(o, "{\"t\":\"a,\\\"b\\\":\\\"c\",\"u\":\"}\"}", len);

    static const struct {
        const char *want[3];
        bool match;
    } cases[] = {
        {{"t=a,\"b\":\"c", NULL}, true},
        {{"u=}", NULL}, true},
        {{"u=}", "t=a,\"b\":\"c", NULL}, true},
        {{"b=c", NULL}, false}, /* inside a value */
        {{"t=a", NULL}, false},
        {{"t=z", NULL}, false}, /* the payload's */
        {{"u=}", "t=b", NULL}, false},
        {{"v=", NULL}, false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *want[3] = {0};
        size_t n = 0;
        for (; cases[i].want[n]; n++) {
            struct buf b = BUF_INIT;
            labels_pair_encode(&b, cases[i].want[n]);
            want[n] = buf_detach(&b, NULL);
        }
        if (labels_match(o, len, want, n) != cases[i].match)
            fail_msg("case %zu: labels_match(%.*s, %s) != %d", i, (int)len, o, cases[i].want[0],
                     cases[i].match);
        for (size_t k = 0; k < n; k++)
            free(want[k]);
    }
    free(c);

    c = canon("{\"kind\":\"noop\"}");
    assert_null(spec_labels(c, &len));
    free(c);
    assert_null(spec_labels("", &len));
    assert_null(spec_labels("{\"id\":null,\"kind\":\"noop\",\"labels\":{\"a\":\"b", &len));
    assert_null(spec_labels("{\"id\":null,\"kind\":\"noop\",\"labels\":{\"a\":\"b\\\"}", &len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_defaults),
        cmocka_unit_test(test_spec_full_exec),
        cmocka_unit_test(test_spec_priority),
        cmocka_unit_test(test_spec_timeout),
        cmocka_unit_test(test_spec_retries),
        cmocka_unit_test(test_spec_builtin_kinds),
        cmocka_unit_test(test_spec_ids),
        cmocka_unit_test(test_spec_limits_ok),
        cmocka_unit_test(test_spec_not_object),
        cmocka_unit_test(test_spec_malformed_fields),
        cmocka_unit_test(test_submit_malformed),
        cmocka_unit_test(test_spec_too_big),
        cmocka_unit_test(test_spec_nesting),
        cmocka_unit_test(test_spec_int_range),
        cmocka_unit_test(test_spec_kind),
        cmocka_unit_test(test_spec_labels_ok),
        cmocka_unit_test(test_spec_labels_bad),
        cmocka_unit_test(test_spec_labels_find_match),
        cmocka_unit_test(test_spec_deps_and_labels),
        cmocka_unit_test(test_spec_job),
        cmocka_unit_test(test_spec_throttle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
