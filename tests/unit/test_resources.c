/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for sched/resources.c and the resource fields of a spec
 * (proto/res_json.c): parsing with clear errors, the fit test, arithmetic,
 * the unschedulable reason, and the canonical spelling.
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
#include "sched/resources.h"

static void cpus_bad(const char *s, const char *needle)
{
    int64_t m = -7;
    assert_int_equal(res_parse_cpus(s, "--cpus", &m, err, sizeof(err)), -1);
    if (!strstr(err, needle))
        fail_msg("--cpus %s: \"%s\" does not mention \"%s\"", s, err, needle);
    assert_int_equal(m, -7);
}

static void test_parse_cpus(void **state UNUSED)
{
    int64_t m;
    assert_int_equal(res_parse_cpus("2", "--cpus", &m, err, sizeof(err)), 0);
    assert_int_equal(m, 2000);
    assert_int_equal(res_parse_cpus("0.5", "--cpus", &m, err, sizeof(err)), 0);
    assert_int_equal(m, 500);
    assert_int_equal(res_parse_cpus("1.125", "--cpus", &m, err, sizeof(err)), 0);
    assert_int_equal(m, 1125);
    cpus_bad("1e9", "not '1e9'");
    cpus_bad("-1", "positive");
    cpus_bad("0", "positive");
    cpus_bad("", "positive");
    cpus_bad(".", "positive");
    cpus_bad("1.2.3", "positive");
    cpus_bad("0.0001", "3 decimals");
    cpus_bad("0.0000000001", "3 decimals"); /* rounds to no CPU at all */
    cpus_bad("100000", "limit of 65536");
    cpus_bad("nan", "positive");
}

static void test_parse_size(void **state UNUSED)
{
    int64_t b;
    assert_int_equal(res_parse_size("512M", "--mem", &b, err, sizeof(err)), 0);
    assert_int_equal(b, 512LL << 20);
    assert_int_equal(res_parse_size("2G", "--mem", &b, err, sizeof(err)), 0);
    assert_int_equal(b, 2LL << 30);
    assert_int_equal(res_parse_size("1.5GiB", "--mem", &b, err, sizeof(err)), 0);
    assert_int_equal(b, 3LL << 29);
    assert_int_equal(res_parse_size("4096", "--mem", &b, err, sizeof(err)), 0);
    assert_int_equal(b, 4096);
    assert_int_equal(res_parse_size("99999999T", "--mem", &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "limit of 1P"));
    assert_int_equal(res_parse_size("2X", "--mem", &b, err, sizeof(err)), -1);
    assert_int_equal(res_parse_size("-2G", "--mem", &b, err, sizeof(err)), -1);
    assert_int_equal(res_parse_size("G", "--mem", &b, err, sizeof(err)), -1);
    assert_int_equal(res_parse_size("1.5", "--mem", &b, err, sizeof(err)), -1);
    assert_int_equal(res_parse_size("2Gxx", "--mem", &b, err, sizeof(err)), -1);
}

static void test_parse_named(void **state UNUSED)
{
    struct request r;
    res_default(&r);
    assert_int_equal(res_parse_named("license=1", &r, err, sizeof(err)), 0);
    assert_int_equal(res_parse_named("scratch_gb=20", &r, err, sizeof(err)), 0);
    assert_int_equal(r.nnamed, 2);
    assert_string_equal(r.named[0].name, "license"); /* sorted */
    assert_int_equal(res_parse_named("license=2", &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "twice"));
    assert_int_equal(res_parse_named("license", &r, err, sizeof(err)), -1);
    assert_int_equal(res_parse_named("=1", &r, err, sizeof(err)), -1);
    assert_int_equal(res_parse_named("Big=1", &r, err, sizeof(err)), -1);
    assert_int_equal(res_parse_named("gpus=1", &r, err, sizeof(err)), -1);
    assert_int_equal(res_parse_named("x=0", &r, err, sizeof(err)), -1);
    assert_int_equal(res_parse_named("x=-1", &r, err, sizeof(err)), -1);
    assert_int_equal(res_parse_named("x=99999999999", &r, err, sizeof(err)), -1);
    assert_int_equal(res_parse_named("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1", &r, err, sizeof(err)),
                     -1);
    char name[16];
    for (int i = 0; i < RES_MAX_NAMED - 2; i++) {
        snprintf(name, sizeof(name), "r%d=1", i);
        assert_int_equal(res_parse_named(name, &r, err, sizeof(err)), 0);
    }
    assert_int_equal(res_parse_named("one_more=1", &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "more than 8"));
}

static void test_fits_and_add(void **state UNUSED)
{
    struct request total = {.cpus_milli = 4000, .mem = 8LL << 30, .gpus = 2}, used = {0};
    struct request big = {.cpus_milli = 4000}, one, gpu = {.cpus_milli = 1000, .gpus = 1};
    struct request lic;
    res_default(&one);
    res_default(&lic);
    assert_int_equal(res_set_named(&lic, "license", 1, "t", err, sizeof(err)), 0);
    assert_true(res_fits(&big, &total, &used, NULL));
    assert_false(res_fits(&lic, &total, &used, NULL)); /* not offered */
    res_add(&used, &one, 1);
    assert_false(res_fits(&big, &total, &used, NULL));
    assert_true(res_fits(&gpu, &total, &used, NULL));
    /* What is free beyond a hold of the big task: nothing. */
    assert_false(res_fits(&one, &total, &used, &big));
    res_add(&used, &one, -1);
    assert_true(res_fits(&big, &total, &used, NULL));
    assert_int_equal(used.cpus_milli, 0);
    /* Memory 0 in a request is "not accounted": fits a worker of none. */
    struct request nomem = {.cpus_milli = 1000};
    assert_true(res_fits(&one, &nomem, &used, NULL));
    struct request m = {.cpus_milli = 1000, .mem = 1};
    assert_false(res_fits(&m, &nomem, &used, NULL));
    res_add(&total, &lic, 1);
    assert_true(res_fits(&lic, &total, &used, NULL));
    res_add(&used, &lic, 1);
    assert_false(res_fits(&lic, &total, &used, NULL));
}

static void test_why(void **state UNUSED)
{
    struct request a = {.cpus_milli = 4000}, b = {.cpus_milli = 2000, .gpus = 2};
    const struct request *totals[] = {&a, &b};
    struct request need = {.cpus_milli = 1000, .gpus = 4};
    char out[256];
    res_why_unschedulable(&need, totals, 2, out, sizeof(out));
    assert_string_equal(out, "needs 4 gpus; the largest worker has 2");
    need = (struct request){.cpus_milli = 4000, .gpus = 2};
    res_why_unschedulable(&need, totals, 2, out, sizeof(out));
    assert_string_equal(out, "needs cpus 4, gpus 2; no worker has all of it");
    need = (struct request){.cpus_milli = 8000, .gpus = 4};
    res_why_unschedulable(&need, totals, 2, out, sizeof(out));
    assert_string_equal(out, "needs 8 cpus and 4 gpus; no worker has all of it");
    res_default(&need);
    assert_int_equal(res_set_named(&need, "license", 1, "t", err, sizeof(err)), 0);
    res_why_unschedulable(&need, totals, 2, out, sizeof(out));
    assert_string_equal(out, "needs 1 license; no worker offers license");
}

static void test_format(void **state UNUSED)
{
    char s[32];
    res_format_cpus(500, s, sizeof(s));
    assert_string_equal(s, "0.5");
    res_format_cpus(2000, s, sizeof(s));
    assert_string_equal(s, "2");
    res_format_cpus(1125, s, sizeof(s));
    assert_string_equal(s, "1.125");
    res_format_size(2LL << 30, s, sizeof(s));
    assert_string_equal(s, "2G");
    res_format_size(1000, s, sizeof(s));
    assert_string_equal(s, "1000");
}

static void test_spec_fields(void **state UNUSED)
{
    assert_canon("{\"kind\":\"noop\",\"cpus\":0.5,\"mem\":\"2G\",\"gpus\":1,"
                 "\"resources\":{\"license\":1}}",
                 "{\"id\":null,\"kind\":\"noop\",\"cpus\":0.5,\"mem\":2147483648,\"gpus\":1,"
                 "\"resources\":{\"license\":1},\"priority\":2,\"max_retries\":3}");
    /* The default request is not written. */
    assert_canon("{\"kind\":\"noop\",\"cpus\":1,\"gpus\":0}",
                 "{\"id\":null,\"kind\":\"noop\",\"priority\":2,\"max_retries\":3}");
    struct request r;
    assert_int_equal(spec_request("{\"id\":\"a\",\"kind\":\"noop\",\"cpus\":2,\"gpus\":1,"
                                  "\"priority\":2,\"max_retries\":3}",
                                  &r),
                     0);
    assert_int_equal(r.cpus_milli, 2000);
    assert_int_equal(r.gpus, 1);
    assert_int_equal(spec_request("{\"id\":\"a\",\"kind\":\"noop\",\"priority\":2}", &r), 0);
    assert_true(res_is_default(&r));
    spec_bad("{\"kind\":\"noop\",\"cpus\":1e9}", "limit of 65536");
    spec_bad("{\"kind\":\"noop\",\"cpus\":-1}", "positive");
    spec_bad("{\"kind\":\"noop\",\"cpus\":\"2\"}", "field 'cpus'");
    spec_bad("{\"kind\":\"noop\",\"mem\":\"99999999T\"}", "limit of 1P");
    spec_bad("{\"kind\":\"noop\",\"mem\":-5}", "field 'mem'");
    spec_bad("{\"kind\":\"noop\",\"gpus\":2000}", "gpus");
    spec_bad("{\"kind\":\"noop\",\"gpus\":1.5}", "gpus");
    spec_bad("{\"kind\":\"noop\",\"resources\":[1]}", "field 'resources'");
    spec_bad("{\"kind\":\"noop\",\"resources\":{\"Lic\":1}}", "resource name");
    spec_bad("{\"kind\":\"noop\",\"resources\":{\"lic\":\"1\"}}", "positive integer");
    spec_bad("{\"kind\":\"noop\",\"resources\":{\"lic\":0}}", "from 1 to");
    spec_bad("{\"kind\":\"noop\",\"resources\":{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,"
             "\"g\":1,\"h\":1,\"i\":1}}",
             "more than 8");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_cpus),  cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_named), cmocka_unit_test(test_fits_and_add),
        cmocka_unit_test(test_why),         cmocka_unit_test(test_format),
        cmocka_unit_test(test_spec_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
