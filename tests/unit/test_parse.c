/* SPDX-License-Identifier: MIT */
/* Unit tests for common/parse: every parser against well-formed input, its
 * bounds, and the malformed input users actually type. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/parse.h"
#include "common/util.h"

static void test_duration_ok(void **state UNUSED)
{
    static const struct {
        const char *s;
        int64_t ms;
    } cases[] = {
        {"0", 0},
        {"1", 1000},
        {"1.5", 1500},
        {"0.001", 1},
        {"0.0004", 0},
        {"0.0006", 1},
        {".5", 500},
        {"5.", 5000},
        {"500ms", 500},
        {"0ms", 0},
        {"1.4ms", 1},
        {"1.6ms", 2},
        {"10s", 10000},
        {"0.25s", 250},
        {"2m", 120000},
        {"1.5m", 90000},
        {"1h", 3600000},
        {"24h", 86400000},
        {"007s", 7000},
        {"1000000ms", 1000000},
        {"876000h", 876000LL * 3600 * 1000}, /* exactly 100 years of 365 days */
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int64_t ms = -42;
        if (duration_parse(cases[i].s, &ms) != 0)
            fail_msg("duration_parse(\"%s\") failed", cases[i].s);
        if (ms != cases[i].ms)
            fail_msg("duration_parse(\"%s\") = %lld, want %lld", cases[i].s, (long long)ms,
                     (long long)cases[i].ms);
    }
}

static void test_duration_bad(void **state UNUSED)
{
    static const char *const bad[] = {
        "",
        "ms",
        "s",
        "h",
        "-1",
        "-1s",
        "+1s",
        "10x",
        "10 s",
        " 10s",
        "10s ",
        "10S",
        "10sec",
        "1h30m",
        "1.2.3",
        ".",
        ".s",
        "1e3",
        "1e3s",
        "0x10",
        "0x10s",
        "nan",
        "NaN",
        "inf",
        "infs",
        "-inf",
        "INFINITY",
        "1,5",
        "876001h",
        "3153600000001ms",
        "99999999999999999999",
        "1"
        "000000000000000000000000"
        "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000000000s",
        "10\n",
        "10s\t",
        "1s2",
        "ms10",
        "\x01",
        "10mss",
        "10m s",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        int64_t ms = 12345;
        if (duration_parse(bad[i], &ms) != DTR_EINVAL)
            fail_msg("duration_parse(\"%s\") accepted: %lld", bad[i], (long long)ms);
        assert_int_equal(ms, 12345); /* untouched on failure */
    }
    assert_int_equal(duration_parse(NULL, &(int64_t){0}), DTR_EINVAL);
}

static void test_priority(void **state UNUSED)
{
    static const struct {
        const char *s;
        int64_t p;
    } ok[] = {
        {"low", 1},
        {"medium", 2},
        {"high", 3},
        {"LOW", 1},
        {"Medium", 2},
        {"HiGh", 3},
        {"0", 0},
        {"7", 7},
        {"-5", -5},
        {"2147483647", INT32_MAX},
        {"-2147483648", INT32_MIN},
    };
    static const char *const bad[] = {
        "",    "lo", "highest", " high", "high ",  "2147483648", "-2147483649",
        "1.5", "+3", "3x",      "0x3",   "urgent", "-",          "9999999999999999999999",
    };
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        int64_t p = -99;
        if (priority_parse(ok[i].s, &p) != 0 || p != ok[i].p)
            fail_msg("priority_parse(\"%s\") = %lld", ok[i].s, (long long)p);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        int64_t p = 77;
        if (priority_parse(bad[i], &p) != DTR_EINVAL)
            fail_msg("priority_parse(\"%s\") accepted", bad[i]);
        assert_int_equal(p, 77);
    }
}

static void test_int(void **state UNUSED)
{
    int64_t v = 0;

    assert_int_equal(int_parse("0", 0, 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(int_parse("10", 0, 10, &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(int_parse("-3", -5, 5, &v), 0);
    assert_int_equal(v, -3);
    assert_int_equal(int_parse("010", 0, 100, &v), 0); /* base 10, not octal */
    assert_int_equal(v, 10);
    assert_int_equal(int_parse("9223372036854775807", INT64_MIN, INT64_MAX, &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(int_parse("-9223372036854775808", INT64_MIN, INT64_MAX, &v), 0);
    assert_true(v == INT64_MIN);

    static const char *const bad[] = {
        "",
        "-",
        "+1",
        " 1",
        "1 ",
        "1x",
        "x1",
        "0x10",
        "1.0",
        "1e3",
        "--1",
        "- 1",
        "9223372036854775808",
        "-9223372036854775809",
        "99999999999999999999999",
        "\t1",
        "1\n",
        "١", /* Arabic-Indic digit one */
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        v = 55;
        if (int_parse(bad[i], INT64_MIN, INT64_MAX, &v) != DTR_EINVAL)
            fail_msg("int_parse(\"%s\") accepted", bad[i]);
        assert_int_equal(v, 55);
    }
    /* Bounds are inclusive and enforced. */
    assert_int_equal(int_parse("11", 0, 10, &v), DTR_EINVAL);
    assert_int_equal(int_parse("-1", 0, 10, &v), DTR_EINVAL);
    assert_int_equal(int_parse("5", 6, 6, &v), DTR_EINVAL);
    assert_int_equal(int_parse(NULL, 0, 10, &v), DTR_EINVAL);
    assert_int_equal(v, 55);
}

static void test_double(void **state UNUSED)
{
    double d = 0;

    assert_int_equal(double_parse("1.5", 0, 10, &d), 0);
    assert_true(d == 1.5);
    assert_int_equal(double_parse("-0.25", -1, 1, &d), 0);
    assert_true(d == -0.25);
    assert_int_equal(double_parse(".5", 0, 1, &d), 0);
    assert_true(d == 0.5);
    assert_int_equal(double_parse("5.", 0, 10, &d), 0);
    assert_true(d == 5.0);
    assert_int_equal(double_parse("1e3", 0, 1e4, &d), 0);
    assert_true(d == 1000.0);
    assert_int_equal(double_parse("2.5E-1", 0, 1, &d), 0);
    assert_true(d == 0.25);
    assert_int_equal(double_parse("10", 0, 10, &d), 0); /* inclusive max */
    assert_true(d == 10.0);

    static const char *const bad[] = {
        "",    ".",      "-",       "-.",   "+1",       " 1",    "1 ",   "1x",    "nan",
        "NaN", "-nan",   "inf",     "-inf", "infinity", "0x1p3", "0x10", "1e",    "1e+",
        "1e-", "1e5000", "-1e5000", "1,5",  "1.2.3",    "e5",    "--1",  "1e3.5",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        d = 42.0;
        if (double_parse(bad[i], -1e308, 1e308, &d) != DTR_EINVAL)
            fail_msg("double_parse(\"%s\") accepted", bad[i]);
        assert_true(d == 42.0);
    }
    /* Overflow is refused even when the bounds are infinite. */
    assert_int_equal(double_parse("1e999", -HUGE_VAL, HUGE_VAL, &d), DTR_EINVAL);
    assert_int_equal(double_parse("-1e999", -HUGE_VAL, HUGE_VAL, &d), DTR_EINVAL);
    assert_int_equal(double_parse("1"
                                  "0000000000000000000000000000000000000000000000000000"
                                  "0000000000000000000000000000000000000000000000000000000000"
                                  "0000000000000000000000000000000000000000000000000000000000"
                                  "0000000000000000000000000000000000000000000000000000000000"
                                  "0000000000000000000000000000000000000000000000000000000000"
                                  "0000000000000000000000000000000000000000000000000000000000",
                                  -HUGE_VAL, HUGE_VAL, &d),
                     DTR_EINVAL);
    /* Underflow is just a tiny number. */
    assert_int_equal(double_parse("1e-400", -HUGE_VAL, HUGE_VAL, &d), 0);
    assert_true(d >= 0 && d < 1e-300);
    assert_int_equal(double_parse("10.01", 0, 10, &d), DTR_EINVAL);
    assert_int_equal(double_parse("-0.01", 0, 10, &d), DTR_EINVAL);
    assert_int_equal(double_parse(NULL, 0, 10, &d), DTR_EINVAL);
}

static void test_addr_ok(void **state UNUSED)
{
    static const struct {
        const char *s, *host;
        int port;
    } ok[] = {
        {"localhost:4999", "localhost", 4999},
        {"127.0.0.1:1", "127.0.0.1", 1},
        {"example.com:65535", "example.com", 65535},
        {"[::1]:80", "::1", 80},
        {"[fe80::1%eth0]:8080", "fe80::1%eth0", 8080},
        {"[2001:db8::2]:443", "2001:db8::2", 443},
        {"h:0080", "h", 80},
    };
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        char host[ADDR_HOST_MAX];
        int port = -1;
        if (addr_parse(ok[i].s, host, sizeof(host), &port) != 0)
            fail_msg("addr_parse(\"%s\") failed", ok[i].s);
        assert_string_equal(host, ok[i].host);
        assert_int_equal(port, ok[i].port);
    }
}

static void test_addr_bad(void **state UNUSED)
{
    static const char *const bad[] = {
        "",          "localhost", "localhost:", ":4999",       "localhost:0", "host:65536",
        "host:-1",   "host:+80",  "host:80x",   "host: 80",    "host:80 ",    "ho st:80",
        "host\t:80", "::1:80",    "[::1]",      "[::1]80",     "[::1]:",      "[]:80",
        "[::1:80",   "::1]:80",   "[host]:80",  "[::1]:99999", "host:4999:1", "ho[st:80",
        "host]:80",  "host:1-5",  "host:0x50",  "\x01host:80",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char host[ADDR_HOST_MAX] = "untouched";
        int port = 7;
        if (addr_parse(bad[i], host, sizeof(host), &port) != DTR_EINVAL)
            fail_msg("addr_parse(\"%s\") accepted", bad[i]);
        assert_string_equal(host, "untouched");
        assert_int_equal(port, 7);
    }
    assert_int_equal(addr_parse(NULL, (char[8]){0}, 8, &(int){0}), DTR_EINVAL);
}

static void test_addr_hostlen(void **state UNUSED)
{
    char small[5];
    int port = 0;

    /* "abcd" needs 5 bytes with its NUL: fits exactly; "abcde" does not. */
    assert_int_equal(addr_parse("abcd:1", small, sizeof(small), &port), 0);
    assert_string_equal(small, "abcd");
    assert_int_equal(addr_parse("abcde:1", small, sizeof(small), &port), DTR_EINVAL);
    assert_int_equal(addr_parse("[::1234]:1", small, sizeof(small), &port), DTR_EINVAL);

    char big[ADDR_HOST_MAX + 16];
    memset(big, 'a', sizeof(big));
    memcpy(big + ADDR_HOST_MAX + 8, ":80", 4);
    char host[ADDR_HOST_MAX];
    assert_int_equal(addr_parse(big, host, sizeof(host), &port), DTR_EINVAL);
}

static void test_port_range(void **state UNUSED)
{
    int lo = 0, hi = 0;

    assert_int_equal(port_range_parse("4999-5010", &lo, &hi), 0);
    assert_int_equal(lo, 4999);
    assert_int_equal(hi, 5010);
    assert_int_equal(port_range_parse("1-65535", &lo, &hi), 0);
    assert_int_equal(lo, 1);
    assert_int_equal(hi, 65535);
    assert_int_equal(port_range_parse("80-80", &lo, &hi), 0);
    assert_int_equal(lo, 80);
    assert_int_equal(hi, 80);

    static const char *const bad[] = {
        "",      "-",       "80",   "80-",   "-80",      "0-10",       "10-0",
        "20-10", "1-65536", "1--5", "1- 5",  " 1-5",     "1-5 ",       "a-b",
        "1-5-9", "+1-5",    "1-+5", "1.0-5", "123456-7", "00000001-2", "1-0x10",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        lo = hi = 3;
        if (port_range_parse(bad[i], &lo, &hi) != DTR_EINVAL)
            fail_msg("port_range_parse(\"%s\") accepted", bad[i]);
        assert_int_equal(lo, 3);
        assert_int_equal(hi, 3);
    }
    assert_int_equal(port_range_parse(NULL, &lo, &hi), DTR_EINVAL);
}

static void test_list_next(void **state UNUSED)
{
    const char *p = " a:1, ,b:2\t,\r\n,,c:3 ,";
    char out[8];
    assert_int_equal(list_next(&p, out, sizeof(out)), 1);
    assert_string_equal(out, "a:1");
    assert_int_equal(list_next(&p, out, sizeof(out)), 1);
    assert_string_equal(out, "b:2");
    assert_int_equal(list_next(&p, out, sizeof(out)), 1);
    assert_string_equal(out, "\n"); /* only space, tab and CR are blanks */
    assert_int_equal(list_next(&p, out, sizeof(out)), 1);
    assert_string_equal(out, "c:3");
    assert_int_equal(list_next(&p, out, sizeof(out)), 0);
    assert_int_equal(list_next(&p, out, sizeof(out)), 0);
    p = "toolong:1,x:1";
    assert_int_equal(list_next(&p, out, sizeof(out)), DTR_EINVAL);
    assert_int_equal(list_next(&p, out, sizeof(out)), 1);
    assert_string_equal(out, "x:1");
    p = "";
    assert_int_equal(list_next(&p, out, sizeof(out)), 0);
    p = " , ";
    assert_int_equal(list_next(&p, out, sizeof(out)), 0);
}

static void test_addr_range(void **state UNUSED)
{
    char host[ADDR_HOST_MAX];
    int lo = 0, hi = 0;

    assert_int_equal(addr_range_parse("10.0.0.5:4999-5005", host, sizeof(host), &lo, &hi), 0);
    assert_string_equal(host, "10.0.0.5");
    assert_int_equal(lo, 4999);
    assert_int_equal(hi, 5005);
    assert_int_equal(addr_range_parse("[::1]:7000-7001", host, sizeof(host), &lo, &hi), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(lo, 7000);
    assert_int_equal(hi, 7001);

    static const char *const bad[] = {
        "",         "host",    "host:",    "host:4999",    ":1-2",      "host:2-1",
        "host:0-5", "::1:1-2", "[::1]1-2", "host:1-70000", "host:1-2x", "ho st:1-2",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        lo = hi = 3;
        snprintf(host, sizeof(host), "untouched");
        if (addr_range_parse(bad[i], host, sizeof(host), &lo, &hi) != DTR_EINVAL)
            fail_msg("addr_range_parse(\"%s\") accepted", bad[i]);
        assert_string_equal(host, "untouched");
        assert_int_equal(lo, 3);
    }
}

/* ---- --array -------------------------------------------------------------- */

static void test_array_ok(void **state UNUSED)
{
    static const struct {
        const char *s;
        const char *want;
    } cases[] = {
        {"5", "5"},
        {"0", "0"},
        {"1-3", "1 2 3"},
        {"3-3", "3"},
        {"0-30:10", "0 10 20 30"},
        {"0-31:10", "0 10 20 30"},
        {"1-2:5", "1"},
        {"1,5,9-12", "1 5 9 10 11 12"},
        {"9-12,5,1", "1 5 9 10 11 12"},
        {"1-7:3,20,0", "0 1 4 7 20"},
        {"007", "7"},
        {"2147483647", "2147483647"},
        {"2147483646-2147483647", "2147483646 2147483647"},
        {"0-2147483647:2147483647", "0 2147483647"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char err[256] = "", got[256] = "";
        int *idx, throttle;
        size_t n, len = 0;
        if (array_spec_parse(cases[i].s, &idx, &n, &throttle, err, sizeof(err)))
            fail_msg("array_spec_parse(\"%s\"): %s", cases[i].s, err);
        for (size_t k = 0; k < n; k++)
            len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%d", k ? " " : "", idx[k]);
        if (strcmp(got, cases[i].want))
            fail_msg("array_spec_parse(\"%s\") = %s, want %s", cases[i].s, got, cases[i].want);
        assert_int_equal(throttle, 0);
        free(idx);
    }
    /* The bound: exactly ARRAY_MAX_TASKS is fine. */
    int *idx, throttle;
    size_t n;
    char err[256];
    assert_int_equal(array_spec_parse("1-10000000", &idx, &n, &throttle, err, sizeof(err)), 0);
    assert_int_equal(n, ARRAY_MAX_TASKS);
    assert_int_equal(idx[n - 1], 10000000);
    free(idx);
}

static void test_array_bad(void **state UNUSED)
{
    static const struct {
        const char *s;
        const char *err; /* the whole one-line error */
    } cases[] = {
        {"", "empty (give N, A-B, A-B:S or a list of them: 1,5,9-12)"},
        {"1,5,\n9",
         "character 5 (0x0a) is not allowed: give N, A-B or A-B:S, or a list of them (1,5,9-12)"},
        {"1-\xff",
         "character 3 (0xff) is not allowed: give N, A-B or A-B:S, or a list of them (1,5,9-12)"},
        {"9-x", "'x' in '9-x' is not a number from 0 to 2147483647"},
        {"x", "'x' in 'x' is not a number from 0 to 2147483647"},
        {"1-5,a-7", "'a' in 'a-7' is not a number from 0 to 2147483647"},
        {" 1", "' 1' in ' 1' is not a number from 0 to 2147483647"},
        {"+1", "'+1' in '+1' is not a number from 0 to 2147483647"},
        {"1-2-3", "'2-3' in '1-2-3' is not a number from 0 to 2147483647"},
        {"2147483648", "'2147483648' in '2147483648' is not a number from 0 to 2147483647"},
        {"1-99999999999999999999", "'99999999999999999999' in '1-99999999999999999999' is not a "
                                   "number from 0 to 2147483647"},
        {"-3", "'-3' lacks a number (give N, A-B or A-B:S, from 0 to 2147483647)"},
        {"3-", "'3-' lacks a number (give N, A-B or A-B:S, from 0 to 2147483647)"},
        {"1-5:", "'1-5:' lacks a number (give N, A-B or A-B:S, from 0 to 2147483647)"},
        {"1-5:0", "'0' in '1-5:0' is not a step (a number from 1 to 2147483647)"},
        {"1-5:2:3", "'2:3' in '1-5:2:3' is not a step (a number from 1 to 2147483647)"},
        {"1-5:x", "'x' in '1-5:x' is not a step (a number from 1 to 2147483647)"},
        {"5:2", "'5:2': a step needs a range (A-B:S)"},
        {"1:2-5", "'1:2-5': a step needs a range (A-B:S)"},
        {"5-1", "'5-1' runs backwards (A-B needs A <= B)"},
        {"1,,2", "an empty item (give N, A-B or A-B:S between the commas)"},
        {",1", "an empty item (give N, A-B or A-B:S between the commas)"},
        {"1,", "an empty item (give N, A-B or A-B:S between the commas)"},
        {"1-3,2", "index 2 is given twice"},
        {"0-10:2,4-5", "index 4 is given twice"},
        {"1,1", "index 1 is given twice"},
        {"0-10000000", "'0-10000000' makes more than 10000000 tasks in all"},
        {"1-5000000,5000001-10000001", "'5000001-10000001' makes more than 10000000 tasks in all"},
        {"0-2147483647", "'0-2147483647' makes more than 10000000 tasks in all"},
        {"1-100%0", "'%0': the throttle must be from 1 to 10000000"},
        {"1-100%000", "'%000': the throttle must be from 1 to 10000000"},
        {"1-100%10000001", "'%10000001': the throttle must be from 1 to 10000000"},
        {"1-100%99999999999999999999999",
         "'%99999999999999999999999': the throttle must be from 1 to 10000000"},
        {"1-100%-1", "'%-1' is not a throttle (give %N, N a number from 1 to 10000000)"},
        {"1-100%abc", "'%abc' is not a throttle (give %N, N a number from 1 to 10000000)"},
        {"1-100%3%4", "'%3%4' is not a throttle (give %N, N a number from 1 to 10000000)"},
        {"1-100% 3", "'% 3' is not a throttle (give %N, N a number from 1 to 10000000)"},
        {"1-100%",
         "'%' lacks the throttle (give %N, at most N tasks running at once, N from 1 to 10000000)"},
        {"%3", "empty (give N, A-B, A-B:S or a list of them: 1,5,9-12)"},
        {"1-x%3", "'x' in '1-x' is not a number from 0 to 2147483647"},
        {"1,%3", "an empty item (give N, A-B or A-B:S between the commas)"},
        {"1,1%3", "index 1 is given twice"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char err[256] = "(untouched)";
        int *idx = (int *)&err; /* must come back NULL */
        int throttle = 99;
        size_t n = 99;
        if (array_spec_parse(cases[i].s, &idx, &n, &throttle, err, sizeof(err)) != DTR_EINVAL)
            fail_msg("array_spec_parse(\"%s\") accepted", cases[i].s);
        if (strcmp(err, cases[i].err))
            fail_msg("array_spec_parse(\"%s\"): \"%s\", want \"%s\"", cases[i].s, err,
                     cases[i].err);
        assert_null(idx);
        assert_int_equal(n, 0);
        assert_int_equal(throttle, 0);
    }
}

/* --array A%N: the throttle after the indices, which it does not change. */
static void test_array_throttle(void **state UNUSED)
{
    static const struct {
        const char *s;
        size_t n;
        int throttle;
    } cases[] = {
        {"1-1000%10", 1000, 10},       {"1-40%3", 40, 3},
        {"0-30:3,40%1", 12, 1},        {"7%007", 1, 7},
        {"1-5%10000000", 5, 10000000}, {"1-3%1000", 3, 1000},
        {"1,5,9-12%2", 6, 2},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char err[256] = "";
        int *idx, throttle;
        size_t n;
        if (array_spec_parse(cases[i].s, &idx, &n, &throttle, err, sizeof(err)))
            fail_msg("array_spec_parse(\"%s\"): %s", cases[i].s, err);
        assert_int_equal(n, cases[i].n);
        assert_int_equal(throttle, cases[i].throttle);
        free(idx);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_ok), cmocka_unit_test(test_duration_bad),
        cmocka_unit_test(test_priority),    cmocka_unit_test(test_int),
        cmocka_unit_test(test_double),      cmocka_unit_test(test_addr_ok),
        cmocka_unit_test(test_addr_bad),    cmocka_unit_test(test_addr_hostlen),
        cmocka_unit_test(test_port_range),  cmocka_unit_test(test_addr_range),
        cmocka_unit_test(test_list_next),   cmocka_unit_test(test_array_ok),
        cmocka_unit_test(test_array_bad),   cmocka_unit_test(test_array_throttle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
