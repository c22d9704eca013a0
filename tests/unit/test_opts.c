/* SPDX-License-Identifier: MIT */
/* Unit tests for common/opts: every flag form, positionals, "--", --help,
 * the exact error lines for malformed command lines, and the usage text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/opts.h"
#include "common/util.h"

/* The destinations of the test table, reset before each test. */
static struct {
    bool json, verbose;
    const char *name;
    struct opt_list tags;
    int64_t port, count;
    double ratio, any;
    int64_t timeout, priority;
} v;

static const struct opt table[] = {
    {.name = "json", .type = OPT_BOOL, .dst = &v.json, .help = "print JSON"},
    {.name = "verbose",
     .short_name = 'v',
     .type = OPT_BOOL,
     .dst = &v.verbose,
     .help = "also log to stderr"},
    {.name = "name",
     .short_name = 'n',
     .type = OPT_STRING,
     .dst = &v.name,
     .arg = "NAME",
     .help = "task name"},
    {.name = "tag",
     .short_name = 't',
     .type = OPT_LIST,
     .dst = &v.tags,
     .arg = "TAG",
     .help = "add a tag (repeatable)"},
    {.name = "port",
     .short_name = 'p',
     .type = OPT_INT,
     .dst = &v.port,
     .arg = "N",
     .help = "first port to try (default 4999)",
     .min = 1,
     .max = 65535},
    {.name = "count", .type = OPT_INT, .dst = &v.count, .arg = "N", .help = "unbounded"},
    {.name = "ratio",
     .type = OPT_DOUBLE,
     .dst = &v.ratio,
     .arg = "R",
     .help = "a ratio",
     .min = 0,
     .max = 1},
    {.name = "any", .type = OPT_DOUBLE, .dst = &v.any, .arg = "X", .help = "any number"},
    {.name = "timeout",
     .type = OPT_DURATION,
     .dst = &v.timeout,
     .arg = "DUR",
     .help = "give up after DUR (default 10s)"},
    {.name = "priority",
     .type = OPT_PRIORITY,
     .dst = &v.priority,
     .arg = "P",
     .help = "low, medium, high or a number"},
    {.name = NULL},
};

static int reset(void **state UNUSED)
{
    opt_list_release(&v.tags);
    memset(&v, 0, sizeof(v));
    v.port = 4999;
    return 0;
}

/* Parses a NULL-terminated list of words. */
#define MAXARGS 32
struct result {
    int rc;
    char *pos[MAXARGS];
    int npos, dashdash;
    char err[256];
};

static char *words[MAXARGS];

static void run(struct result *r, unsigned flags, ...)
{
    va_list ap;
    int argc = 0;
    const char *w;

    va_start(ap, flags);
    while ((w = va_arg(ap, const char *)) != NULL) {
        assert_true(argc < MAXARGS);
        /* argv is char **; the strings are never written through it. */
        words[argc++] = (char *)(uintptr_t)w;
    }
    va_end(ap);
    memset(r, 0, sizeof(*r));
    r->npos = -7;
    r->dashdash = -7;
    r->rc = opts_parse(table, argc, words, flags, r->pos, &r->npos, &r->dashdash, r->err,
                       sizeof(r->err));
}

#define EXPECT_ERR(want, ...)                                                                      \
    do {                                                                                           \
        struct result r_;                                                                          \
        run(&r_, 0, __VA_ARGS__, NULL);                                                            \
        assert_int_equal(r_.rc, DTR_EINVAL);                                                       \
        assert_string_equal(r_.err, want);                                                         \
    } while (0)

static void test_long_forms(void **state UNUSED)
{
    struct result r;

    run(&r, 0, "--json", "--name", "build", "--port=5000", "--timeout", "2m", "--priority=high",
        "--ratio", "0.5", "--count", "-12", "--any=-1e3", NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.npos, 0);
    assert_int_equal(r.dashdash, -1);
    assert_true(v.json);
    assert_false(v.verbose);
    assert_string_equal(v.name, "build");
    assert_int_equal(v.port, 5000);
    assert_int_equal(v.timeout, 120000);
    assert_int_equal(v.priority, 3);
    assert_true(v.ratio == 0.5);
    assert_int_equal(v.count, -12);
    assert_true(v.any == -1000.0);
}

static void test_short_forms(void **state UNUSED)
{
    struct result r;

    run(&r, 0, "-v", "-n", "x", "-p", "6000", "-t", "a", "-t", "b", NULL);
    assert_int_equal(r.rc, 0);
    assert_true(v.verbose);
    assert_string_equal(v.name, "x");
    assert_int_equal(v.port, 6000);
    assert_int_equal(v.tags.len, 2);
    assert_string_equal(v.tags.items[0], "a");
    assert_string_equal(v.tags.items[1], "b");
}

static void test_values(void **state UNUSED)
{
    struct result r;

    /* Last string wins; "--name=" gives an empty string; "=" inside a value stays. */
    run(&r, 0, "--name", "a", "--name", "b", NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(v.name, "b");
    run(&r, 0, "--name=", NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(v.name, "");
    run(&r, 0, "--name=a=b", NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(v.name, "a=b");
    /* Like getopt, a value may start with '-'. */
    run(&r, 0, "--name", "--json", NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(v.name, "--json");
    assert_false(v.json);
    run(&r, 0, "--name", "-", NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(v.name, "-");

    /* A list keeps pointers into argv, in order. */
    run(&r, 0, "--tag", "x", "--tag=y", "-t", "z", NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(v.tags.len, 3);
    assert_ptr_equal(v.tags.items[0], words[1]);
    assert_ptr_equal(v.tags.items[1], words[2] + strlen("--tag="));
    assert_ptr_equal(v.tags.items[2], words[4]);
    opt_list_release(&v.tags);
    assert_null(v.tags.items);
    assert_int_equal(v.tags.len, 0);

    /* Bounds are inclusive. */
    run(&r, 0, "--port", "1", NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(v.port, 1);
    run(&r, 0, "--port", "65535", "--ratio", "1", NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(v.port, 65535);
    assert_true(v.ratio == 1.0);
    /* min == max == 0 means unbounded. */
    run(&r, 0, "--count", "9223372036854775807", "--any", "1e300", NULL);
    assert_int_equal(r.rc, 0);
    assert_true(v.count == INT64_MAX);
    assert_true(v.any == 1e300);
    run(&r, 0, "--priority", "-40", "--timeout", "1.5", NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(v.priority, -40);
    assert_int_equal(v.timeout, 1500);
}

static void test_positionals(void **state UNUSED)
{
    struct result r;

    run(&r, 0, "a", "--json", "b", "-", "-p", "7", "c", NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.npos, 4);
    assert_string_equal(r.pos[0], "a");
    assert_string_equal(r.pos[1], "b");
    assert_string_equal(r.pos[2], "-");
    assert_string_equal(r.pos[3], "c");
    assert_true(v.json);
    assert_int_equal(v.port, 7);
    assert_int_equal(r.dashdash, -1);

    /* Empty argv. */
    run(&r, 0, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.npos, 0);
    assert_int_equal(r.dashdash, -1);
}

static void test_stop_at_positional(void **state UNUSED)
{
    struct result r;

    run(&r, OPTS_STOP_AT_POSITIONAL, "--json", "prog", "--port", "x", "-h", "--", "y", NULL);
    assert_int_equal(r.rc, 0);
    assert_true(v.json);
    assert_int_equal(v.port, 4999);
    assert_int_equal(r.npos, 6);
    assert_string_equal(r.pos[0], "prog");
    assert_string_equal(r.pos[1], "--port");
    assert_string_equal(r.pos[4], "--");
    assert_string_equal(r.pos[5], "y");
    assert_int_equal(r.dashdash, -1);

    /* "-" counts as the first positional too. */
    reset(NULL);
    run(&r, OPTS_STOP_AT_POSITIONAL, "-", "--json", NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.npos, 2);
    assert_false(v.json);
}

static void test_dashdash(void **state UNUSED)
{
    struct result r;

    run(&r, 0, "a", "--json", "--", "--port", "-h", "b", NULL);
    assert_int_equal(r.rc, 0);
    assert_true(v.json);
    assert_int_equal(v.port, 4999);
    assert_int_equal(r.npos, 4);
    assert_int_equal(r.dashdash, 1);
    assert_string_equal(r.pos[0], "a");
    assert_string_equal(r.pos[1], "--port");
    assert_string_equal(r.pos[2], "-h");
    assert_string_equal(r.pos[3], "b");

    /* "--" with nothing after it: dashdash points just past the end. */
    run(&r, 0, "x", "--", NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.npos, 1);
    assert_int_equal(r.dashdash, 1);

    /* Only the first "--" is special. */
    run(&r, 0, "--", "--", NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.npos, 1);
    assert_int_equal(r.dashdash, 0);
    assert_string_equal(r.pos[0], "--");

    /* dashdash may be NULL. */
    int npos = -1;
    char *pos[2];
    char *argv[] = {(char *)(uintptr_t) "--", (char *)(uintptr_t) "z"};
    assert_int_equal(opts_parse(table, 2, argv, 0, pos, &npos, NULL, NULL, 0), 0);
    assert_int_equal(npos, 1);
}

static void test_help(void **state UNUSED)
{
    struct result r;

    run(&r, 0, "--help", NULL);
    assert_int_equal(r.rc, 1);
    run(&r, 0, "-h", NULL);
    assert_int_equal(r.rc, 1);
    run(&r, 0, "--json", "x", "--help", "--port", "nonsense", NULL);
    assert_int_equal(r.rc, 1);
    /* After "--" it is only a word. */
    run(&r, 0, "--", "--help", NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.npos, 1);
    /* "--help=x" is not help, and "--helpme" is unknown. */
    run(&r, 0, "--help=x", NULL);
    assert_int_equal(r.rc, DTR_EINVAL);
    run(&r, 0, "--helpme", NULL);
    assert_int_equal(r.rc, DTR_EINVAL);
}

static void test_errors(void **state UNUSED)
{
    EXPECT_ERR("unknown flag '--foo'", "--foo");
    EXPECT_ERR("unknown flag '--foo'", "--foo=bar");
    EXPECT_ERR("unknown flag '-x'", "-x");
    EXPECT_ERR("unknown flag '-pv'", "-pv");
    EXPECT_ERR("unknown flag '---json'", "---json");
    EXPECT_ERR("unknown flag '--JSON'", "--JSON");
    EXPECT_ERR("unknown flag '--jso'", "--jso");
    EXPECT_ERR("unknown flag '--no-json'", "--no-json");
    EXPECT_ERR("unknown flag '-5'", "-5");
    EXPECT_ERR("unknown flag '--foo'", "a", "--foo", "b");

    EXPECT_ERR("--port needs a value", "--port");
    EXPECT_ERR("--port needs a value", "-p");
    EXPECT_ERR("--name needs a value", "--json", "--name");
    EXPECT_ERR("--tag needs a value", "--tag");
    EXPECT_ERR("--timeout needs a value", "--timeout");
    EXPECT_ERR("--json takes no value", "--json=true");
    EXPECT_ERR("--json takes no value", "--json=");

    EXPECT_ERR("--port: '99999' is out of range 1..65535", "--port", "99999");
    EXPECT_ERR("--port: '0' is out of range 1..65535", "--port=0");
    EXPECT_ERR("--port: '-1' is out of range 1..65535", "-p", "-1");
    EXPECT_ERR("--port: '' is not an integer", "--port=");
    EXPECT_ERR("--port: 'abc' is not an integer", "--port", "abc");
    EXPECT_ERR("--port: '80x' is not an integer", "--port", "80x");
    EXPECT_ERR("--port: ' 80' is not an integer", "--port", " 80");
    EXPECT_ERR("--port: '8.0' is not an integer", "--port", "8.0");
    EXPECT_ERR("--port: '0x50' is not an integer", "--port", "0x50");
    EXPECT_ERR("--count: '99999999999999999999' is out of range", "--count",
               "99999999999999999999");

    EXPECT_ERR("--ratio: '1.5' is out of range 0..1", "--ratio", "1.5");
    EXPECT_ERR("--ratio: '-0.1' is out of range 0..1", "--ratio", "-0.1");
    EXPECT_ERR("--ratio: 'nan' is not a number", "--ratio", "nan");
    EXPECT_ERR("--any: 'inf' is not a number", "--any", "inf");
    EXPECT_ERR("--any: '1e999' is not a number", "--any", "1e999");
    EXPECT_ERR("--any: '' is not a number", "--any=");

    EXPECT_ERR("--timeout: '10x' is not a duration (use 500ms, 10s, 2m, 1h or seconds)",
               "--timeout", "10x");
    EXPECT_ERR("--timeout: '-1s' is not a duration (use 500ms, 10s, 2m, 1h or seconds)",
               "--timeout", "-1s");
    EXPECT_ERR("--timeout: 'ms' is not a duration (use 500ms, 10s, 2m, 1h or seconds)",
               "--timeout=ms");
    EXPECT_ERR("--timeout: '' is not a duration (use 500ms, 10s, 2m, 1h or seconds)", "--timeout=");
    EXPECT_ERR("--priority: 'urgent' is not a priority (use low, medium, high or an integer)",
               "--priority", "urgent");
    EXPECT_ERR("--priority: '3000000000' is not a priority (use low, medium, high or an "
               "integer)",
               "--priority", "3000000000");
}

static void test_error_truncation(void **state UNUSED)
{
    char err[16];
    int npos;
    char *pos[1];
    char *argv[] = {(char *)(uintptr_t) "--a-rather-long-unknown-flag"};

    memset(err, 'x', sizeof(err));
    assert_int_equal(opts_parse(table, 1, argv, 0, pos, &npos, NULL, err, sizeof(err)), DTR_EINVAL);
    assert_int_equal(strlen(err), sizeof(err) - 1);
    /* No error buffer at all is allowed too. */
    assert_int_equal(opts_parse(table, 1, argv, 0, pos, &npos, NULL, NULL, 0), DTR_EINVAL);
}

static void test_usage(void **state UNUSED)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    opts_usage(f, "demo [FLAGS] FILE...", "Runs a demo.", table);
    fclose(f);
    const char *want = "usage: dtr demo [FLAGS] FILE...\n"
                       "\n"
                       "Runs a demo.\n"
                       "\n"
                       "  --json              print JSON\n"
                       "  -v, --verbose       also log to stderr\n"
                       "  -n, --name NAME     task name\n"
                       "  -t, --tag TAG       add a tag (repeatable)\n"
                       "  -p, --port N        first port to try (default 4999)\n"
                       "  --count N           unbounded\n"
                       "  --ratio R           a ratio\n"
                       "  --any X             any number\n"
                       "  --timeout DUR       give up after DUR (default 10s)\n"
                       "  --priority P        low, medium, high or a number\n"
                       "  -h, --help          show this help\n";
    assert_string_equal(text, want);
    free(text);

    /* A flag wider than the column pushes every help text right, still aligned. */
    static bool b;
    static const char *s;
    static const struct opt wide[] = {
        {.name = "a-very-long-flag-name",
         .type = OPT_STRING,
         .dst = &s,
         .arg = "VALUE",
         .help = "wide"},
        {.name = "x", .type = OPT_BOOL, .dst = &b, .help = "narrow"},
        {.name = NULL},
    };
    f = open_memstream(&text, &len);
    opts_usage(f, "wide", NULL, wide);
    fclose(f);
    assert_string_equal(text, "usage: dtr wide\n"
                              "\n"
                              "  --a-very-long-flag-name VALUE  wide\n"
                              "  --x                            narrow\n"
                              "  -h, --help                     show this help\n");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_long_forms, reset),
        cmocka_unit_test_setup(test_short_forms, reset),
        cmocka_unit_test_setup(test_values, reset),
        cmocka_unit_test_setup(test_positionals, reset),
        cmocka_unit_test_setup(test_stop_at_positional, reset),
        cmocka_unit_test_setup(test_dashdash, reset),
        cmocka_unit_test_setup(test_help, reset),
        cmocka_unit_test_setup(test_errors, reset),
        cmocka_unit_test_setup(test_error_truncation, reset),
        cmocka_unit_test_setup(test_usage, reset),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    opt_list_release(&v.tags);
    return rc;
}
