/* SPDX-License-Identifier: MIT */
/* Unit tests for sched/task: construction, state names, the full transition
 * table (every from/to pair), error and worker strings, and retry backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/util.h"
#include "sched/task.h"

static struct task *new_task(void)
{
    return task_new("t1", "{\"argv\":[\"true\"]}", 3, 2, 17, 1000);
}

static void test_new(void **state UNUSED)
{
    struct task *t = new_task();

    assert_string_equal(t->id, "t1");
    assert_string_equal(t->spec, "{\"argv\":[\"true\"]}");
    assert_int_equal(t->priority, 3);
    assert_int_equal(t->max_retries, 2);
    assert_int_equal(t->seq, 17);
    assert_int_equal(t->state, TASK_QUEUED);
    assert_int_equal(t->attempts, 0);
    assert_int_equal(t->crashes, 0);
    assert_int_equal(t->lease, 0);
    assert_null(t->worker);
    assert_null(t->error);
    assert_int_equal(t->exit_code, -1);
    assert_int_equal(t->submitted_at, 1000);
    assert_int_equal(t->started_at, 0);
    assert_int_equal(t->finished_at, 0);
    assert_int_equal(t->not_before, 0);
    assert_true(list_empty(&t->worker_node));
    task_free(t);
    task_free(NULL);
}

static void test_state_names(void **state UNUSED)
{
    static const char *const names[TASK_NSTATES] = {"queued", "running",   "succeeded",
                                                    "failed", "cancelled", "blocked"};
    for (int s = 0; s < TASK_NSTATES; s++) {
        assert_string_equal(task_state_name((enum task_state)s), names[s]);
        assert_int_equal(task_state_parse(names[s]), s);
    }
    assert_int_equal(task_state_parse("RUNNING"), TASK_RUNNING);
    assert_int_equal(task_state_parse(""), -1);
    assert_int_equal(task_state_parse("queue"), -1);
    assert_int_equal(task_state_parse("queued "), -1);
    assert_int_equal(task_state_parse("canceled"), -1);
    assert_int_equal(task_state_parse(NULL), -1);
    assert_string_equal(task_state_name(TASK_NSTATES), "unknown");
    assert_string_equal(task_state_name((enum task_state) - 1), "unknown");

    assert_false(task_state_terminal(TASK_QUEUED));
    assert_false(task_state_terminal(TASK_RUNNING));
    assert_true(task_state_terminal(TASK_SUCCEEDED));
    assert_true(task_state_terminal(TASK_FAILED));
    assert_true(task_state_terminal(TASK_CANCELLED));
    assert_false(task_state_terminal(TASK_BLOCKED));
    /* The journal stores these integers: they never change. */
    assert_int_equal(TASK_CANCELLED, 4);
    assert_int_equal(TASK_BLOCKED, 5);
}

/* Builds a task in state `from` through legal moves, stamping at `at`. */
static struct task *task_in(enum task_state from, int64_t at)
{
    struct task *t = new_task();

    if (from == TASK_QUEUED)
        return t;
    if (from == TASK_BLOCKED) {
        t->state = TASK_BLOCKED; /* as tasks_add_blocked() makes it */
        return t;
    }
    assert_int_equal(task_set_state(t, TASK_RUNNING, at), 0);
    if (from != TASK_RUNNING)
        assert_int_equal(task_set_state(t, from, at), 0);
    return t;
}

static void test_transition_table(void **state UNUSED)
{
    /* The whole of docs/task-states.dot, written out by hand. */
    static const bool want[TASK_NSTATES][TASK_NSTATES] = {
        /*                queued running succeeded failed cancelled blocked */
        [TASK_QUEUED] = {false, true, false, true, true, false},
        [TASK_RUNNING] = {true, false, true, true, true, false},
        [TASK_SUCCEEDED] = {false, false, false, false, false, false},
        [TASK_FAILED] = {false, false, false, false, false, false},
        [TASK_CANCELLED] = {false, false, false, false, false, false},
        [TASK_BLOCKED] = {true, false, false, false, true, false},
    };
    int checked = 0;

    for (int from = 0; from < TASK_NSTATES; from++) {
        for (int to = 0; to < TASK_NSTATES; to++) {
            struct task *t = task_in((enum task_state)from, 100);
            struct task before;
            memcpy(&before, t, sizeof(before)); /* padding too, for the compare below */
            int rc = task_set_state(t, (enum task_state)to, 5000);
            if (want[from][to]) {
                if (rc != 0)
                    fail_msg("%s -> %s refused", task_state_name((enum task_state)from),
                             task_state_name((enum task_state)to));
                assert_int_equal(t->state, to);
                /* Entering RUNNING stamps started_at; a terminal state finished_at. */
                assert_int_equal(t->started_at, to == TASK_RUNNING ? 5000 : before.started_at);
                assert_int_equal(t->finished_at, task_state_terminal((enum task_state)to)
                                                     ? 5000
                                                     : before.finished_at);
            } else {
                if (rc != DTR_EINVAL)
                    fail_msg("%s -> %s allowed", task_state_name((enum task_state)from),
                             task_state_name((enum task_state)to));
                /* Unchanged, byte for byte. */
                assert_memory_equal(t, &before, sizeof(before));
            }
            /* Nothing else is touched by a state change. */
            assert_int_equal(t->attempts, before.attempts);
            assert_int_equal(t->lease, before.lease);
            assert_int_equal(t->submitted_at, 1000);
            task_free(t);
            checked++;
        }
    }
    assert_int_equal(checked, TASK_NSTATES * TASK_NSTATES);
}

static void test_transition_out_of_range(void **state UNUSED)
{
    struct task *t = new_task();

    assert_int_equal(task_set_state(t, TASK_NSTATES, 1), DTR_EINVAL);
    assert_int_equal(task_set_state(t, (enum task_state) - 1, 1), DTR_EINVAL);
    assert_int_equal(t->state, TASK_QUEUED);
    task_free(t);
}

static void test_retry_cycle(void **state UNUSED)
{
    struct task *t = new_task();

    /* queued -> running -> queued (retry) -> running -> succeeded. */
    assert_int_equal(task_set_state(t, TASK_RUNNING, 10), 0);
    assert_int_equal(t->started_at, 10);
    assert_int_equal(task_set_state(t, TASK_QUEUED, 20), 0);
    assert_int_equal(t->started_at, 10); /* times are only stamped, never cleared */
    assert_int_equal(t->finished_at, 0);
    assert_int_equal(task_set_state(t, TASK_RUNNING, 30), 0);
    assert_int_equal(t->started_at, 30);
    assert_int_equal(task_set_state(t, TASK_SUCCEEDED, 40), 0);
    assert_int_equal(t->finished_at, 40);
    assert_int_equal(task_set_state(t, TASK_FAILED, 50), DTR_EINVAL);
    assert_int_equal(t->finished_at, 40);
    task_free(t);
}

static void test_strings(void **state UNUSED)
{
    struct task *t = new_task();

    task_set_error(t, "exit 1");
    assert_string_equal(t->error, "exit 1");
    task_set_error(t, "killed by signal 9");
    assert_string_equal(t->error, "killed by signal 9");
    task_set_error(t, t->error); /* its own value back: no use after free */
    assert_string_equal(t->error, "killed by signal 9");
    task_set_error(t, NULL);
    assert_null(t->error);
    task_set_error(t, NULL);
    assert_null(t->error);

    char w[] = "w1";
    task_set_worker(t, w);
    w[0] = 'x'; /* a copy is kept */
    assert_string_equal(t->worker, "w1");
    task_set_worker(t, t->worker);
    assert_string_equal(t->worker, "w1");
    task_set_worker(t, "w2");
    assert_string_equal(t->worker, "w2");
    task_set_worker(t, NULL);
    assert_null(t->worker);
    task_set_worker(t, "w3");
    task_set_error(t, "left for task_free");
    task_free(t);
}

static void test_backoff_exact(void **state UNUSED)
{
    /* random % 1024 == 0: no jitter at all. */
    assert_int_equal(task_backoff_ms(1, 1000, 60000, 0), 1000);
    assert_int_equal(task_backoff_ms(2, 1000, 60000, 0), 2000);
    assert_int_equal(task_backoff_ms(3, 1000, 60000, 0), 4000);
    assert_int_equal(task_backoff_ms(6, 1000, 60000, 0), 32000);
    assert_int_equal(task_backoff_ms(7, 1000, 60000, 0), 60000);
    assert_int_equal(task_backoff_ms(1, 1000, 60000, 1024), 1000);
    /* random % 1024 == 1023: the full 25%. */
    assert_int_equal(task_backoff_ms(1, 1000, 60000, 1023), 1250);
    assert_int_equal(task_backoff_ms(3, 1000, 60000, 1023), 5000);
    assert_int_equal(task_backoff_ms(6, 1000, 60000, 1023), 40000);
    /* ... but never past the cap. */
    assert_int_equal(task_backoff_ms(6, 1000, 35000, 1023), 35000);
    assert_int_equal(task_backoff_ms(7, 1000, 60000, 1023), 60000);
    assert_int_equal(task_backoff_ms(1, 1000, 1100, UINT32_MAX), 1100);
    /* Cap below base. */
    assert_int_equal(task_backoff_ms(1, 1000, 500, 0), 500);
    /* Degenerate inputs. */
    assert_int_equal(task_backoff_ms(0, 1000, 60000, 0), 1000);
    assert_int_equal(task_backoff_ms(-5, 1000, 60000, 0), 1000);
    assert_int_equal(task_backoff_ms(3, 0, 60000, 999), 0);
    assert_int_equal(task_backoff_ms(3, -1, 60000, 999), 0);
    assert_int_equal(task_backoff_ms(3, 1000, 0, 999), 0);
}

static void test_backoff_overflow(void **state UNUSED)
{
    /* Huge attempts and values never overflow: they land on the cap. */
    static const int attempts[] = {30, 31, 32, 33, 62, 63, 64, 65, 100, 1000, INT32_MAX};
    for (size_t i = 0; i < ARRAY_SIZE(attempts); i++) {
        assert_int_equal(task_backoff_ms(attempts[i], 1000, 3600000, 0), 3600000);
        assert_int_equal(task_backoff_ms(attempts[i], 1000, 3600000, 1023), 3600000);
        assert_true(task_backoff_ms(attempts[i], INT64_MAX / 2, INT64_MAX, 1023) == INT64_MAX);
        assert_true(task_backoff_ms(attempts[i], 1, INT64_MAX, 0) ==
                    (attempts[i] - 1 < 62 ? (int64_t)1 << (attempts[i] - 1) : INT64_MAX));
    }
    /* Jitter on a value near INT64_MAX stays exact and in range. */
    int64_t big = INT64_MAX / 2;
    int64_t r = task_backoff_ms(1, big, INT64_MAX, 1023);
    assert_true(r > big && r <= big + big / 4);
}

static void test_backoff_properties(void **state UNUSED)
{
    static const int64_t bases[] = {1, 3, 100, 250, 1000, 7777};
    static const int64_t caps[] = {1, 10, 999, 60000, 3600000, INT64_MAX};
    uint32_t rng = 12345;

    for (size_t b = 0; b < ARRAY_SIZE(bases); b++) {
        for (size_t c = 0; c < ARRAY_SIZE(caps); c++) {
            for (int k = 0; k < 20; k++) {
                /* A small LCG: deterministic, any uint32 is fair game. */
                rng = rng * 1664525u + 1013904223u;
                int64_t prev = 0;
                for (int attempt = 1; attempt <= 80; attempt++) {
                    int64_t base = bases[b], cap = caps[c];
                    int64_t plain = task_backoff_ms(attempt, base, cap, 0);
                    int64_t d = task_backoff_ms(attempt, base, cap, rng);
                    /* Capped, jitter within 0..25%, and monotone in attempt. */
                    assert_true(d <= cap);
                    assert_true(d >= plain);
                    assert_true(d - plain <= plain / 4);
                    assert_true(d >= prev);
                    prev = d;
                    if (attempt <= 62 && base <= cap >> (attempt - 1))
                        assert_true(plain == base << (attempt - 1));
                    else
                        assert_true(plain == cap);
                }
            }
        }
    }
    /* Monotone in random % 1024 for a fixed attempt. */
    int64_t prev = 0;
    for (uint32_t r = 0; r < 1024; r++) {
        int64_t d = task_backoff_ms(4, 1000, 60000, r);
        assert_true(d >= prev);
        prev = d;
    }
    assert_int_equal(prev, 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_transition_table),
        cmocka_unit_test(test_transition_out_of_range),
        cmocka_unit_test(test_retry_cycle),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_backoff_exact),
        cmocka_unit_test(test_backoff_overflow),
        cmocka_unit_test(test_backoff_properties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
