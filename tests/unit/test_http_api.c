/* SPDX-License-Identifier: MIT */
/* Unit tests for what the HTTP API adds below the server: the submit body
 * reader (proto/api.c: one spec or an array, the native spec rules, bad
 * JSON and invalid UTF-8 refused) and the /metrics histograms and counters
 * (sched/metrics.c: buckets by bound, the transition hook). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/api.h"
#include "proto/spec.h"
#include "sched/metrics.h"

static int parse(const char *body, struct msg *m, char *err, size_t errlen)
{
    return api_parse_submit(body, strlen(body), m, err, errlen);
}

static void test_submit_one_and_many(void **state)
{
    (void)state;
    char err[512];
    struct msg m;
    assert_int_equal(parse("{\"cmd\":\"echo hi\",\"id\":\"a\"}", &m, err, sizeof(err)), 0);
    assert_int_equal(m.type, MSG_SUBMIT);
    assert_int_equal(m.nspecs, 1);
    assert_string_equal(m.specs[0].id, "a");
    msg_release(&m);
    assert_int_equal(parse("[{\"kind\":\"noop\"},{\"cmd\":\"true\",\"priority\":\"high\"}]", &m,
                           err, sizeof(err)),
                     0);
    assert_int_equal(m.nspecs, 2);
    msg_release(&m);
}

static void test_submit_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "{",
        "[]",
        "\"echo\"",
        "42",
        "null",
        "[1]",
        "{} {}",
        "{\"bogus\":1}",
        "[{\"kind\":\"noop\"},{}]",
        "{\"cmd\":\"\xff\"}",
        "{\"cmd\":\"x\",\"id\":\"has space\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[512] = "";
        struct msg m;
        assert_int_not_equal(parse(bad[i], &m, err, sizeof(err)), 0);
        assert_true(err[0] != 0);
        assert_null(strchr(err, '\n'));
        msg_release(&m);
    }
}

static void test_hist_buckets(void **state)
{
    (void)state;
    static const uint64_t bounds[] = {1, 10, 100};
    struct hist h = {.bounds = bounds, .nbounds = 3}, c;
    hist_observe(&h, 0);
    hist_observe(&h, 1);
    hist_observe(&h, 5);
    hist_observe(&h, 100);
    hist_observe(&h, 1000); /* only in +Inf */
    hist_read(&h, &c);
    assert_int_equal(c.count, 5);
    assert_int_equal(c.sum, 1106);
    assert_int_equal(c.buckets[0], 2);
    assert_int_equal(c.buckets[1], 1);
    assert_int_equal(c.buckets[2], 1);
}

static void test_task_moved(void **state)
{
    (void)state;
    struct task t;
    memset(&t, 0, sizeof(t));
    struct metrics before = metrics;
    t.spec = "{\"id\":\"a\",\"kind\":\"noop\"}";
    t.attempts = 1;
    t.submitted_at = 1000;
    t.started_at = 1500;
    metrics_task_moved(&t, TASK_QUEUED, TASK_RUNNING, 1500);
    metrics_task_moved(&t, TASK_RUNNING, TASK_SUCCEEDED, 1750);
    assert_int_equal(metrics.attempts_started, before.attempts_started + 1);
    assert_int_equal(metrics.succeeded, before.succeeded + 1);
    assert_int_equal(metrics.wait_ms[KIND_NOOP].count, before.wait_ms[KIND_NOOP].count + 1);
    assert_int_equal(metrics.wait_ms[KIND_NOOP].sum, before.wait_ms[KIND_NOOP].sum + 500);
    assert_int_equal(metrics.run_ms[KIND_NOOP].sum, before.run_ms[KIND_NOOP].sum + 250);
    assert_int_equal(metrics.run_ms[KIND_EXEC].count, before.run_ms[KIND_EXEC].count);
    metrics_task_moved(&t, TASK_QUEUED, TASK_CANCELLED, 1800);
    assert_int_equal(metrics.cancelled, before.cancelled + 1);
    /* not running: no run time */
    assert_int_equal(metrics.run_ms[KIND_NOOP].count, before.run_ms[KIND_NOOP].count + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submit_one_and_many),
        cmocka_unit_test(test_submit_refused),
        cmocka_unit_test(test_hist_buckets),
        cmocka_unit_test(test_task_moved),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
