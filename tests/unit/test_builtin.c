/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for worker/builtin.c: the built-in kinds' results, and their
 * payload errors, which name the payload field.
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
#include "worker/builtin.h"

/* ---- built-in payloads --------------------------------------------------------- */

static void eval_ok(enum task_kind kind, const char *payload, const char *want)
{
    char *result = NULL;
    int64_t sleep_ms = -1;
    int rc = payload_eval(kind, payload, &result, &sleep_ms, err, sizeof(err));
    if (rc)
        fail_msg("payload_eval(%s, %s) = %d: %s", task_kind_name(kind), payload, rc, err);
    assert_non_null(result);
    if (strcmp(result, want))
        fail_msg("payload_eval(%s, %s) = %s, want %s", task_kind_name(kind), payload, result, want);
    json_object_put(strict_json(result, strlen(result)));
    assert_int_equal(sleep_ms, 0);
    free(result);
}

static void eval_bad(enum task_kind kind, const char *payload, const char *field)
{
    char *result = (char *)"sentinel";
    int64_t sleep_ms = -1;
    snprintf(err, sizeof(err), "(untouched)");
    int rc = payload_eval(kind, payload, &result, &sleep_ms, err, sizeof(err));
    if (rc != DTR_EINVAL)
        fail_msg("payload_eval(%s, %s) = %d, want DTR_EINVAL", task_kind_name(kind), payload, rc);
    assert_null(result);
    if (!strstr(err, field))
        fail_msg("payload_eval(%s, %s): error \"%s\" does not mention %s", task_kind_name(kind),
                 payload, err, field);
}

static void test_payload_compute(void **state UNUSED)
{
    eval_ok(KIND_COMPUTE, "{\"numbers\":[1,2,3]}", "6");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[]}", "0");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[-5,2]}", "-3");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[1.5,2]}", "3.5");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[0.1,0.2]}", "0.30000000000000004");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[2.0]}", "2");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[1e3,1]}", "1001");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[9223372036854775806,1]}", "9223372036854775807");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[-9223372036854775807,-1]}", "-9223372036854775808");
    /* Integer overflow falls back to a double sum. */
    eval_ok(KIND_COMPUTE, "{\"numbers\":[9223372036854775807,1]}", "9.2233720368547758e+18");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[-9223372036854775808,-1]}", "-9.2233720368547758e+18");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[9223372036854775807,1,-2]}", "9.2233720368547758e+18");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[1e308,-1e308]}", "0");
    /* Integers above INT64_MAX (json-c keeps them up to 2^64-1). */
    eval_ok(KIND_COMPUTE, "{\"numbers\":[18446744073709551615]}", "1.8446744073709552e+19");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[9223372036854775808,-1]}", "9.2233720368547758e+18");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[9223372036854775807]}", "9223372036854775807");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[1],\"other\":\"ignored\"}", "1");
    /* A sum that leaves the doubles is an error, never "inf" (not JSON). */
    eval_bad(KIND_COMPUTE, "{\"numbers\":[1e308,1e308]}", "'payload.numbers'");
    eval_bad(KIND_COMPUTE, "{\"numbers\":[-1.7e308,-1.7e308]}", "'payload.numbers'");
    eval_bad(KIND_COMPUTE, "{\"numbers\":[NaN]}", "'payload.numbers'");
    eval_bad(KIND_COMPUTE, "{\"numbers\":[1e999]}", "'payload.numbers'");
    eval_bad(KIND_COMPUTE, "{}", "'payload.numbers'");
    eval_bad(KIND_COMPUTE, NULL, "'payload.numbers'");
    eval_bad(KIND_COMPUTE, "{\"numbers\":[\"1\"]}", "'payload.numbers'");
    eval_bad(KIND_COMPUTE, "{\"numbers\":[1", "JSON");
}

static void test_payload_transform(void **state UNUSED)
{
    eval_ok(KIND_TRANSFORM, "{\"data\":\"hello, World 42!\"}", "\"HELLO, WORLD 42!\"");
    eval_ok(KIND_TRANSFORM, "{\"data\":\"\"}", "\"\"");
    /* Only ASCII letters change; the rest is escaped as JSON again. */
    eval_ok(KIND_TRANSFORM, "{\"data\":\"caf\xc3\xa9 \\\"q\\\" a\\\\b\\n\"}",
            "\"CAF\xc3\xa9 \\\"Q\\\" A\\\\B\\n\"");
    eval_ok(KIND_TRANSFORM, "{\"data\":\"a\\u0000b\"}", "\"A\\u0000B\"");
    eval_bad(KIND_TRANSFORM, "{\"data\":5}", "'payload.data'");
    eval_bad(KIND_TRANSFORM, NULL, "'payload.data'");
}

static void test_payload_echo_noop_sleep(void **state UNUSED)
{
    eval_ok(KIND_ECHO, "{\"a\":[1,2,{\"b\":null}]}", "{\"a\":[1,2,{\"b\":null}]}");
    eval_ok(KIND_ECHO, "\"s\"", "\"s\"");
    eval_ok(KIND_ECHO, NULL, "{}");
    eval_ok(KIND_NOOP, NULL, "null");
    eval_ok(KIND_NOOP, "{\"whatever\":1}", "null");

    static const struct {
        const char *payload;
        int64_t ms;
    } sleeps[] = {
        {"{\"seconds\":0}", 0},      {"{\"seconds\":1}", 1000},
        {"{\"seconds\":1.5}", 1500}, {"{\"seconds\":0.0004}", 0},
        {"{\"seconds\":0.0005}", 1}, {"{\"seconds\":31536000}", 31536000000LL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(sleeps); i++) {
        char *result = NULL;
        int64_t ms = -1;
        assert_int_equal(
            payload_eval(KIND_SLEEP, sleeps[i].payload, &result, &ms, err, sizeof(err)), 0);
        assert_string_equal(result, "null");
        assert_int_equal(ms, sleeps[i].ms);
        free(result);
    }
    eval_bad(KIND_SLEEP, "{\"seconds\":-1}", "'payload.seconds'");
    eval_bad(KIND_SLEEP, "{\"seconds\":NaN}", "'payload.seconds'");
    eval_bad(KIND_SLEEP, "{\"seconds\":1e400}", "'payload.seconds'");
    eval_bad(KIND_SLEEP, "{}", "'payload.seconds'");
}

/* What the worker does with a canonical spec: every accepted built-in
 * spec's payload evaluates. */
static void test_payload_from_specs(void **state UNUSED)
{
    static const struct {
        const char *spec;
        const char *result;
    } cases[] = {
        {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[40,2]}}", "42"},
        {"{\"kind\":\"transform\",\"payload\":{\"data\":\"abc\"}}", "\"ABC\""},
        {"{\"kind\":\"echo\",\"payload\":{\"x\":1.50}}", "{\"x\":1.50}"},
        {"{\"kind\":\"echo\"}", "{}"},
        {"{\"kind\":\"noop\"}", "null"},
        {"{\"kind\":\"sleep\",\"payload\":{\"seconds\":0}}", "null"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct task_spec s;
        spec_ok(cases[i].spec, &s);
        eval_ok(s.kind, s.payload, cases[i].result);
        spec_release(&s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload_compute),
        cmocka_unit_test(test_payload_transform),
        cmocka_unit_test(test_payload_echo_noop_sleep),
        cmocka_unit_test(test_payload_from_specs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
