/* SPDX-License-Identifier: MIT */
/* Unit tests for sched/queue: pop order against a sorted reference, removal
 * from the middle of either heap, delayed promotion by injected time, and
 * the heap_index bookkeeping after every operation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "sched/queue.h"

static uint64_t rng_state;

/* xorshift64: deterministic, so a failure reproduces. */
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static struct task *mk(int64_t prio, uint64_t seq, int64_t not_before)
{
    char id[32];
    struct task *t;

    snprintf(id, sizeof(id), "t%llu", (unsigned long long)seq);
    t = task_new(id, "{}", prio, 3, seq, 0);
    t->not_before = not_before;
    return t;
}

/* Every slot knows its index and no child comes out before its parent. */
static void check_heap(const struct heap *h)
{
    assert_true(h->len <= h->cap);
    for (size_t i = 0; i < h->len; i++) {
        assert_int_equal(h->items[i]->heap_index, i);
        if (i > 0)
            assert_false(h->before(h->items[i], h->items[(i - 1) / 2]));
    }
}

static void check_queue(const struct queue *q)
{
    check_heap(&q->ready);
    check_heap(&q->delayed);
    assert_int_equal(queue_ready_len(q), q->ready.len);
    assert_int_equal(queue_len(q), q->ready.len + q->delayed.len);
    /* the depth by priority is the ready heap's tasks counted by bucket */
    uint64_t want[QUEUE_PRIO_BUCKETS] = {0};
    for (size_t i = 0; i < q->ready.len; i++)
        want[queue_prio_bucket(q->ready.items[i]->priority)]++;
    for (size_t b = 0; b < QUEUE_PRIO_BUCKETS; b++) {
        assert_int_equal(q->depth[b], want[b]);
        if (want[b])
            assert_true(q->seen & (1u << b));
    }
}

/* The reference order: higher priority first, then lower seq. */
static int ref_cmp(const void *a, const void *b)
{
    const struct task *x = *(struct task *const *)a, *y = *(struct task *const *)b;

    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void shuffle(struct task **v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = rng() % i;
        struct task *tmp = v[i - 1];
        v[i - 1] = v[j];
        v[j] = tmp;
    }
}

static void test_prio_bucket(void **state UNUSED)
{
    assert_int_equal(queue_prio_bucket(INT32_MIN), 0);
    assert_int_equal(queue_prio_bucket(QUEUE_PRIO_LOW - 1), 0);
    assert_int_equal(queue_prio_bucket(QUEUE_PRIO_LOW), 1);
    assert_int_equal(queue_prio_bucket(0), 1 - QUEUE_PRIO_LOW);
    assert_int_equal(queue_prio_bucket(QUEUE_PRIO_HIGH), QUEUE_PRIO_BUCKETS - 2);
    assert_int_equal(queue_prio_bucket(QUEUE_PRIO_HIGH + 1), QUEUE_PRIO_BUCKETS - 1);
    assert_int_equal(queue_prio_bucket(INT32_MAX), QUEUE_PRIO_BUCKETS - 1);
    assert_true(QUEUE_PRIO_BUCKETS <= 32); /* the seen bits */
}

static void test_empty(void **state)
{
    struct queue q;

    queue_init(&q);
    assert_null(queue_peek(&q));
    assert_null(queue_pop(&q));
    assert_int_equal(queue_next_due(&q), -1);
    assert_int_equal(queue_len(&q), 0);
    assert_int_equal(queue_ready_len(&q), 0);
    queue_promote(&q, 1000);
    assert_int_equal(queue_len(&q), 0);
    queue_release(&q);
    queue_release(&q); /* released twice is harmless */
    test_prio_bucket(state);
}

static void test_priority_order(void **state UNUSED)
{
    struct queue q;
    struct task *t[6] = {
        mk(2, 1, 0), mk(3, 2, 0), mk(1, 3, 0), mk(3, 4, 0), mk(-7, 5, 0), mk(100, 6, 0),
    };
    static const int want_seq[] = {6, 2, 4, 1, 3, 5};

    queue_init(&q);
    for (int i = 0; i < 6; i++) {
        queue_push(&q, t[i], 0);
        check_queue(&q);
    }
    assert_int_equal(queue_len(&q), 6);
    for (int i = 0; i < 6; i++) {
        struct task *p = queue_peek(&q);
        assert_non_null(p);
        assert_int_equal(p->seq, want_seq[i]);
        assert_ptr_equal(queue_pop(&q), p);
        check_queue(&q);
    }
    assert_null(queue_pop(&q));
    queue_release(&q);
    for (int i = 0; i < 6; i++)
        task_free(t[i]);
}

enum { N = 1000 };

static void test_random_against_reference(void **state UNUSED)
{
    struct task *tasks[N], *ref[N];
    struct queue q;

    rng_state = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < N; i++) {
            /* Few priorities, so most comparisons fall to seq (FIFO). */
            tasks[i] = mk((int64_t)(rng() % 5) - 1, (uint64_t)i + 1, 0);
            ref[i] = tasks[i];
        }
        shuffle(tasks, N);
        qsort(ref, N, sizeof(*ref), ref_cmp);

        queue_init(&q);
        for (int i = 0; i < N; i++)
            queue_push(&q, tasks[i], 0);
        check_queue(&q);
        for (int i = 0; i < N; i++) {
            struct task *p = queue_pop(&q);
            if (p != ref[i])
                fail_msg("round %d pop %d: got seq %llu prio %lld, want seq %llu prio %lld", round,
                         i, (unsigned long long)p->seq, (long long)p->priority,
                         (unsigned long long)ref[i]->seq, (long long)ref[i]->priority);
            if (i % 97 == 0)
                check_queue(&q);
        }
        assert_int_equal(queue_len(&q), 0);
        queue_release(&q);
        for (int i = 0; i < N; i++)
            task_free(tasks[i]);
    }
}

static void test_remove_middle(void **state UNUSED)
{
    struct task *tasks[N], *ref[N];
    bool removed[N + 1] = {false};
    struct queue q;

    rng_state = 42;
    queue_init(&q);
    for (int i = 0; i < N; i++) {
        tasks[i] = mk((int64_t)(rng() % 4), (uint64_t)i + 1, 0);
        queue_push(&q, tasks[i], 0);
    }
    /* Remove a third, picked at random, checking the heap after each. */
    shuffle(tasks, N);
    for (int i = 0; i < N / 3; i++) {
        struct task *t = tasks[i];
        queue_remove(&q, t);
        removed[t->seq] = true;
        assert_int_equal(t->heap_index, SIZE_MAX);
        assert_int_equal(queue_len(&q), (size_t)(N - i - 1));
        check_queue(&q);
    }
    /* What is left still pops in reference order. */
    int n = 0;
    for (int i = 0; i < N; i++) {
        if (!removed[tasks[i]->seq])
            ref[n++] = tasks[i];
    }
    qsort(ref, (size_t)n, sizeof(*ref), ref_cmp);
    for (int i = 0; i < n; i++)
        assert_ptr_equal(queue_pop(&q), ref[i]);
    assert_null(queue_pop(&q));

    /* Remove the top, the last slot and the only item. */
    queue_push(&q, ref[0], 0);
    queue_push(&q, ref[1], 0);
    queue_push(&q, ref[2], 0);
    queue_remove(&q, ref[0]);
    check_queue(&q);
    assert_ptr_equal(queue_peek(&q), ref[1]);
    queue_remove(&q, q.ready.items[q.ready.len - 1]);
    check_queue(&q);
    assert_int_equal(queue_len(&q), 1);
    queue_remove(&q, queue_peek(&q));
    assert_int_equal(queue_len(&q), 0);

    /* A removed task can be pushed again (a cancelled retry re-queued, say). */
    queue_push(&q, ref[5], 0);
    assert_ptr_equal(queue_pop(&q), ref[5]);
    queue_release(&q);
    for (int i = 0; i < N; i++)
        task_free(tasks[i]);
}

static void test_delayed(void **state UNUSED)
{
    struct queue q;
    struct task *now = mk(1, 1, 100);     /* due exactly now: ready */
    struct task *past = mk(1, 2, 50);     /* overdue: ready */
    struct task *late = mk(3, 3, 300);    /* waits longest */
    struct task *soon = mk(1, 4, 200);    /* waits */
    struct task *soon_hi = mk(2, 5, 200); /* same time, higher priority */

    queue_init(&q);
    queue_push(&q, now, 100);
    queue_push(&q, past, 100);
    queue_push(&q, late, 100);
    queue_push(&q, soon, 100);
    queue_push(&q, soon_hi, 100);
    check_queue(&q);
    assert_int_equal(queue_len(&q), 5);
    assert_int_equal(queue_ready_len(&q), 2);
    assert_int_equal(queue_next_due(&q), 200);
    /* The high-priority delayed task is invisible to peek until promoted. */
    assert_ptr_equal(queue_peek(&q), now);

    queue_promote(&q, 199);
    assert_int_equal(queue_ready_len(&q), 2);
    assert_int_equal(queue_next_due(&q), 200);

    queue_promote(&q, 200);
    check_queue(&q);
    assert_int_equal(queue_ready_len(&q), 4);
    assert_int_equal(queue_next_due(&q), 300);
    assert_ptr_equal(queue_pop(&q), soon_hi);
    assert_ptr_equal(queue_pop(&q), now);
    assert_ptr_equal(queue_pop(&q), past);
    assert_ptr_equal(queue_pop(&q), soon);
    assert_null(queue_pop(&q));
    assert_int_equal(queue_len(&q), 1);

    /* Removing from the delayed heap. */
    queue_remove(&q, late);
    assert_int_equal(queue_len(&q), 0);
    assert_int_equal(queue_next_due(&q), -1);

    /* A popped task comes back with a backoff, then is promoted far later. */
    soon->not_before = 1000;
    queue_push(&q, soon, 500);
    assert_null(queue_peek(&q));
    assert_int_equal(queue_next_due(&q), 1000);
    queue_promote(&q, 1000000);
    assert_ptr_equal(queue_pop(&q), soon);

    queue_release(&q);
    task_free(now);
    task_free(past);
    task_free(late);
    task_free(soon);
    task_free(soon_hi);
}

static void test_delayed_random(void **state UNUSED)
{
    struct task *tasks[N];
    struct queue q;
    int64_t clock = 0;
    size_t popped = 0;

    rng_state = 7;
    queue_init(&q);
    for (int i = 0; i < N; i++) {
        tasks[i] = mk((int64_t)(rng() % 3), (uint64_t)i + 1, (int64_t)(rng() % 10000));
        queue_push(&q, tasks[i], 0);
    }
    /* Remove some from the middle of the delayed heap as well. */
    for (int i = 0; i < N; i += 10)
        queue_remove(&q, tasks[i]);
    check_queue(&q);

    /* Step the clock to each next_due and drain: every task leaves in due order,
     * never before its not_before, and by priority among those due. */
    while (queue_len(&q) > 0) {
        int64_t due = queue_next_due(&q);
        if (queue_ready_len(&q) == 0) {
            assert_true(due >= clock);
            clock = due;
        }
        queue_promote(&q, clock);
        check_queue(&q);
        assert_true(queue_next_due(&q) == -1 || queue_next_due(&q) > clock);
        struct task *prev = NULL;
        struct task *t;
        while ((t = queue_pop(&q)) != NULL) {
            assert_true(t->not_before <= clock);
            if (prev)
                assert_true(ref_cmp(&prev, &t) < 0);
            prev = t;
            popped++;
        }
    }
    assert_int_equal(popped, N - N / 10);
    assert_int_equal(queue_next_due(&q), -1);
    queue_release(&q);
    for (int i = 0; i < N; i++)
        task_free(tasks[i]);
}

static void test_release_with_tasks(void **state UNUSED)
{
    struct queue q;
    struct task *a = mk(1, 1, 0), *b = mk(1, 2, 99);

    queue_init(&q);
    queue_push(&q, a, 0);
    queue_push(&q, b, 0);
    /* The queue does not own tasks: release frees only its arrays. */
    queue_release(&q);
    assert_int_equal(queue_len(&q), 0);
    assert_null(queue_peek(&q));
    queue_push(&q, a, 0);
    assert_ptr_equal(queue_pop(&q), a);
    queue_release(&q);
    task_free(a);
    task_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_priority_order),
        cmocka_unit_test(test_random_against_reference),
        cmocka_unit_test(test_remove_middle),
        cmocka_unit_test(test_delayed),
        cmocka_unit_test(test_delayed_random),
        cmocka_unit_test(test_release_with_tasks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
