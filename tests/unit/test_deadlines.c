/* SPDX-License-Identifier: MIT */
/* Unit tests for what the master's own timeout enforcement rests on: the
 * deadlines heap (earliest first, removal from the middle, sharing
 * heap_index with the queue a running task has left) and spec_timeout_ms(),
 * which reads the timeout back out of canonical spec JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "proto/msg.h"
#include "sched/queue.h"

static struct task *mk(uint64_t seq, int64_t deadline)
{
    char id[32];
    snprintf(id, sizeof(id), "t%llu", (unsigned long long)seq);
    struct task *t = task_new(id, "{}", 2, 3, seq, 0);
    t->deadline = deadline;
    return t;
}

static void test_earliest_first(void **state)
{
    (void)state;
    struct deadlines d;
    struct task *t[64];
    deadlines_init(&d);
    assert_null(deadlines_first(&d));
    for (int i = 0; i < 64; i++) {
        t[i] = mk((uint64_t)i, (int64_t)((i * 37) % 64) * 10);
        deadlines_add(&d, t[i]);
    }
    /* Removing from the middle keeps the order of the rest. */
    for (int i = 0; i < 64; i += 3)
        assert_true(deadlines_remove(&d, t[i]));
    assert_false(deadlines_remove(&d, t[0]));
    int64_t last = -1;
    int n = 0;
    struct task *x;
    while ((x = deadlines_first(&d))) {
        assert_true(x->deadline >= last);
        last = x->deadline;
        assert_true(deadlines_remove(&d, x));
        n++;
    }
    assert_int_equal(n, 64 - 22);
    for (int i = 0; i < 64; i++)
        task_free(t[i]);
    deadlines_release(&d);
}

/* A task popped from the queue and given a deadline is in one heap only. */
static void test_shares_heap_index_with_queue(void **state)
{
    (void)state;
    struct queue q;
    struct deadlines d;
    queue_init(&q);
    deadlines_init(&d);
    struct task *a = mk(1, 0), *b = mk(2, 0);
    queue_push(&q, a, 0);
    queue_push(&q, b, 0);
    struct task *r = queue_pop(&q);
    assert_ptr_equal(r, a);
    r->deadline = 500;
    deadlines_add(&d, r);
    assert_ptr_equal(deadlines_first(&d), a);
    assert_ptr_equal(queue_peek(&q), b);
    /* Back to the queue: out of the deadlines first, as the master does. */
    assert_true(deadlines_remove(&d, a));
    assert_false(deadlines_remove(&d, b));
    queue_push(&q, a, 0);
    assert_int_equal(queue_len(&q), 2);
    assert_null(deadlines_first(&d));
    queue_release(&q);
    deadlines_release(&d);
    task_free(a);
    task_free(b);
}

static int64_t timeout_of(const char *user_spec)
{
    struct task_spec s;
    char err[256];
    struct buf b = BUF_INIT;
    assert_int_equal(spec_parse(user_spec, strlen(user_spec), &s, err, sizeof(err)), 0);
    spec_encode(&b, &s);
    int64_t ms = spec_timeout_ms(b.data);
    assert_int_equal(ms, s.timeout_ms);
    spec_release(&s);
    buf_release(&b);
    return ms;
}

static void test_spec_timeout(void **state)
{
    (void)state;
    assert_int_equal(timeout_of("{\"argv\":[\"true\"]}"), 0);
    assert_int_equal(timeout_of("{\"argv\":[\"true\"],\"timeout\":\"2s\"}"), 2000);
    assert_int_equal(timeout_of("{\"argv\":[\"true\"],\"timeout\":\"1ms\"}"), 1);
    assert_int_equal(timeout_of("{\"argv\":[\"true\"],\"timeout\":0.25}"), 250);
    assert_int_equal(timeout_of("{\"argv\":[\"true\"],\"timeout\":\"8000h\"}"),
                     (int64_t)8000 * 3600 * 1000);
    /* A payload or an id that spells a timeout is not one. */
    assert_int_equal(timeout_of("{\"id\":\"x\\\"timeout\\\":9}\",\"kind\":\"echo\","
                                "\"payload\":{\"timeout\":9}}"),
                     0);
    assert_int_equal(timeout_of("{\"kind\":\"echo\",\"payload\":{\"timeout\":9},"
                                "\"timeout\":\"3s\"}"),
                     3000);
    assert_int_equal(spec_timeout_ms(""), 0);
    assert_int_equal(spec_timeout_ms("{\"timeout\":x}"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_earliest_first),
        cmocka_unit_test(test_shares_heap_index_with_queue),
        cmocka_unit_test(test_spec_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
