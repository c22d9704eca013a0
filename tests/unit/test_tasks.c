/* SPDX-License-Identifier: MIT */
/* Unit tests for the master's task table (src/master/tasks.c) without a
 * loop: an in-memory journal and its writer thread stand behind it. They
 * check the counters and queue membership through every door, the ended
 * list the waiters drain, deadlines, and pruning. */
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
#include "common/clock.h"
#include "common/err.h"
#include "master/tasks.h"

struct fixture {
    struct journal *j;
    struct jwriter *w;
    struct tasks ts;
};

static void wake(void *data)
{
    (void)data;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[256];
    f->j = journal_open(NULL, err, sizeof(err));
    assert_non_null(f->j);
    f->w = jwriter_start(f->j, wake, NULL, NULL, 0);
    tasks_init(&f->ts, 5000);
    assert_int_equal(tasks_load(&f->ts, f->j, f->w, 0), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    /* Nothing holds the tasks on a worker list here: unlink the ended ones. */
    while (tasks_take_ended(&f->ts))
        ;
    jwriter_stop(f->w);
    journal_close(f->j);
    tasks_release(&f->ts);
    free(f);
    return 0;
}

static const char *canonical(const char *user_spec, struct buf *b)
{
    struct task_spec s;
    char err[256];
    assert_int_equal(spec_parse(user_spec, strlen(user_spec), &s, err, sizeof(err)), 0);
    buf_reset(b);
    spec_encode(b, &s);
    spec_release(&s);
    return b->data;
}

static struct task *add(struct tasks *ts, const char *id)
{
    struct buf b = BUF_INIT;
    struct task *t =
        tasks_add(ts, id, canonical("{\"argv\":[\"true\"]}", &b), 2, 3, clock_wall_ms());
    buf_release(&b);
    return t;
}

static void assert_counts(const struct tasks *ts, uint64_t q, uint64_t r, uint64_t s, uint64_t f,
                          uint64_t c)
{
    assert_int_equal(ts->counts[TASK_QUEUED], q);
    assert_int_equal(ts->counts[TASK_RUNNING], r);
    assert_int_equal(ts->counts[TASK_SUCCEEDED], s);
    assert_int_equal(ts->counts[TASK_FAILED], f);
    assert_int_equal(ts->counts[TASK_CANCELLED], c);
}

static void test_add_dispatch_succeed(void **state)
{
    struct fixture *f = *state;
    struct tasks *ts = &f->ts;
    struct task *a = add(ts, "a"), *b = add(ts, "b");
    assert_int_equal(a->seq + 1, b->seq);
    assert_ptr_equal(tasks_find(ts, "a"), a);
    assert_true(ts->dispatch_needed);
    assert_counts(ts, 2, 0, 0, 0, 0);
    assert_int_equal(tasks_ready(ts), 2);

    /* Submission order within a priority; the queue loses what it hands out. */
    struct task *t = tasks_dispatch(ts, "w1", 100);
    assert_ptr_equal(t, a);
    assert_int_equal(a->state, TASK_RUNNING);
    assert_int_equal(a->attempts, 1);
    assert_true(a->lease > 0);
    assert_string_equal(a->worker, "w1");
    assert_int_equal(tasks_ready(ts), 1);
    assert_counts(ts, 1, 1, 0, 0, 0);
    assert_null(tasks_take_ended(ts));

    struct attempt_result r = {.lease = a->lease, .attempt = 1, .ok = true};
    tasks_attempt_result(ts, a, &r);
    assert_int_equal(a->state, TASK_SUCCEEDED);
    assert_int_equal(a->lease, 0);
    assert_counts(ts, 1, 0, 1, 0, 0);
    assert_ptr_equal(tasks_take_ended(ts), a);
    assert_null(tasks_take_ended(ts));
}

static void test_cancel_leaves_queue(void **state)
{
    struct fixture *f = *state;
    struct tasks *ts = &f->ts;
    struct task *a = add(ts, "a");
    add(ts, "b");
    tasks_cancel(ts, a);
    assert_int_equal(a->state, TASK_CANCELLED);
    assert_string_equal(a->error, "cancelled");
    assert_int_equal(tasks_ready(ts), 1);
    assert_counts(ts, 1, 0, 0, 0, 1);
    assert_string_equal(tasks_dispatch(ts, "w1", 0)->id, "b");
    assert_null(tasks_dispatch(ts, "w1", 0));
    assert_ptr_equal(tasks_take_ended(ts), a);
}

/* Placement's doors: take past the head, put back, park with a reason,
 * cancel a parked task, unpark; and the request read from the spec. */
static void test_take_park_unpark(void **state)
{
    struct fixture *f = *state;
    struct tasks *ts = &f->ts;
    struct buf b = BUF_INIT;
    struct task *big = tasks_add(ts, "big", canonical("{\"argv\":[\"true\"],\"gpus\":4}", &b), 2, 3,
                                 clock_wall_ms());
    struct task *a = add(ts, "a"), *c = add(ts, "c");
    buf_release(&b);
    assert_non_null(big->req);
    assert_int_equal(big->req->gpus, 4);
    assert_null(a->req); /* the default costs nothing */
    assert_ptr_equal(tasks_take_ready(ts), big);
    tasks_park(ts, big, "needs 4 gpus; no worker offers gpus");
    assert_int_equal(ts->nparked, 1);
    assert_ptr_equal(tasks_take_ready(ts), a);
    tasks_put_back(ts, a);
    assert_int_equal(tasks_ready(ts), 2);
    assert_ptr_equal(tasks_take_ready(ts), a);
    tasks_dispatch_taken(ts, a, "w1", 0);
    assert_int_equal(a->state, TASK_RUNNING);
    assert_counts(ts, 2, 1, 0, 0, 0);
    /* A parked task is still queued; cancelling it unlinks it. */
    assert_ptr_equal(tasks_take_ready(ts), c);
    tasks_park(ts, c, "needs 1 fpga; no worker offers fpga");
    assert_string_equal(c->waiting, "needs 1 fpga; no worker offers fpga");
    tasks_cancel(ts, c);
    assert_int_equal(c->state, TASK_CANCELLED);
    assert_null(c->waiting);
    assert_int_equal(ts->nparked, 1);
    /* A worker joined: every parked task is queued again. */
    ts->dispatch_needed = false;
    tasks_unpark_all(ts);
    assert_int_equal(ts->nparked, 0);
    assert_null(big->waiting);
    assert_true(ts->dispatch_needed);
    assert_ptr_equal(tasks_take_ready(ts), big);
    tasks_dispatch_taken(ts, big, "w2", 0);
    assert_counts(ts, 0, 2, 0, 0, 1);
    struct attempt_result r = {.lease = a->lease, .attempt = 1, .ok = true};
    tasks_attempt_result(ts, a, &r);
    r.lease = big->lease;
    tasks_attempt_result(ts, big, &r);
}

static void test_illegal_changes_nothing(void **state)
{
    struct fixture *f = *state;
    struct tasks *ts = &f->ts;
    struct task *a = add(ts, "a");
    tasks_cancel(ts, a);
    assert_int_equal(tasks_transition(ts, a, TASK_QUEUED), DTR_EINVAL);
    assert_int_equal(a->state, TASK_CANCELLED);
    assert_counts(ts, 0, 0, 0, 0, 1);
    assert_int_equal(tasks_ready(ts), 0);
}

static void test_undone_and_lost(void **state)
{
    struct fixture *f = *state;
    struct tasks *ts = &f->ts;
    struct task *a = add(ts, "a");

    /* Refused or never reached: the attempt does not count. */
    tasks_dispatch(ts, "w1", 0);
    tasks_attempt_undone(ts, a);
    assert_int_equal(a->attempts, 0);
    assert_int_equal(a->state, TASK_QUEUED);
    assert_int_equal(tasks_ready(ts), 1);

    /* Lost with its worker: re-queued until the crash limit, then failed. */
    for (int i = 1; i < TASK_CRASH_LIMIT; i++) {
        assert_ptr_equal(tasks_dispatch(ts, "w1", 0), a);
        tasks_attempt_lost(ts, a, "was declared dead");
        assert_int_equal(a->state, TASK_QUEUED);
        assert_int_equal(a->crashes, i);
        assert_counts(ts, 1, 0, 0, 0, 0);
    }
    assert_ptr_equal(tasks_dispatch(ts, "w1", 0), a);
    tasks_attempt_lost(ts, a, "was declared dead");
    assert_int_equal(a->state, TASK_FAILED);
    assert_counts(ts, 0, 0, 0, 1, 0);
    assert_int_equal(tasks_ready(ts), 0);
    assert_ptr_equal(tasks_take_ended(ts), a);
}

static void test_failed_attempt_backs_off(void **state)
{
    struct fixture *f = *state;
    struct tasks *ts = &f->ts;
    struct task *a = add(ts, "a");
    tasks_dispatch(ts, "w1", 0);
    char error[] = "exit status 2";
    struct attempt_result r = {.lease = a->lease, .attempt = 1, .exit_code = 2, .error = error};
    tasks_attempt_result(ts, a, &r);
    /* Queued again, but waiting out its backoff: not ready yet. */
    assert_int_equal(a->state, TASK_QUEUED);
    assert_int_equal(a->exit_code, 2);
    assert_true(a->not_before > 0);
    assert_int_equal(tasks_ready(ts), 0);
    tasks_promote(ts, a->not_before);
    assert_int_equal(tasks_ready(ts), 1);
    assert_null(tasks_take_ended(ts));
}

static void test_deadline_expires(void **state)
{
    struct fixture *f = *state;
    struct tasks *ts = &f->ts;
    struct buf b = BUF_INIT;
    struct task *a = tasks_add(ts, "a", canonical("{\"argv\":[\"true\"],\"timeout\":\"2s\"}", &b),
                               2, 0, clock_wall_ms());
    buf_release(&b);
    tasks_dispatch(ts, "w1", 1000);
    /* The timeout plus the grace, on the listening clock. */
    assert_int_equal(a->deadline, 1000 + 2000 + 5000);
    assert_null(tasks_expired(ts, 7999));
    assert_ptr_equal(tasks_expired(ts, 8000), a);
    assert_null(tasks_expired(ts, 9000));
    tasks_attempt_expired(ts, a, "timed out");
    assert_int_equal(a->state, TASK_FAILED); /* no retries left */
    assert_int_equal(a->exit_code, -1);
    assert_int_equal(a->deadline, 0);
    assert_ptr_equal(tasks_take_ended(ts), a);
}

static void test_prune_waits_for_waiters(void **state)
{
    struct fixture *f = *state;
    struct tasks *ts = &f->ts;
    struct task *a = add(ts, "a"), *b = add(ts, "b");
    add(ts, "c");
    tasks_cancel(ts, a);
    tasks_cancel(ts, b);
    assert_ptr_equal(tasks_take_ended(ts), a); /* b is not drained yet */
    int64_t later = clock_wall_ms() + 10000;

    tasks_prune(ts, later, 1000);
    assert_null(tasks_find(ts, "a"));
    assert_ptr_equal(tasks_find(ts, "b"), b);
    assert_non_null(tasks_find(ts, "c")); /* not finished */
    assert_counts(ts, 1, 0, 0, 0, 1);

    /* Once drained, the next prune takes it, though the journal had
     * nothing left to delete. */
    assert_ptr_equal(tasks_take_ended(ts), b);
    tasks_prune(ts, later, 1000);
    assert_null(tasks_find(ts, "b"));
    assert_counts(ts, 1, 0, 0, 0, 0);
    assert_int_equal(ts->map.len, 1);

    /* Nothing old enough: nothing goes. */
    struct task *c = tasks_find(ts, "c");
    tasks_cancel(ts, c);
    assert_ptr_equal(tasks_take_ended(ts), c);
    tasks_prune(ts, later, 60000);
    assert_ptr_equal(tasks_find(ts, "c"), c);
}

/* Adds task id in job j (its spec names it). */
static struct task *add_in(struct tasks *ts, const char *id, struct job *j)
{
    struct buf b = BUF_INIT;
    struct task_spec s;
    char err[256];
    const char *user = "{\"argv\":[\"true\"]}";
    assert_int_equal(spec_parse(user, strlen(user), &s, err, sizeof(err)), 0);
    s.job = strdup(j->id);
    s.throttle = j->throttle;
    spec_encode(&b, &s);
    spec_release(&s);
    struct task *t = tasks_add(ts, id, b.data, 2, 3, clock_wall_ms());
    tasks_set_job(ts, t, j);
    buf_release(&b);
    return t;
}

/* Jobs: counts kept on each transition, active and ended jobs counted,
 * rebuilt from the specs on load, and gone with their last pruned task. */
static void test_jobs(void **state)
{
    struct fixture *f = *state;
    struct tasks *ts = &f->ts;
    struct job *j1 = tasks_job_new(ts, NULL, clock_wall_ms());
    assert_string_equal(j1->id, "j-1");
    struct task *a = add_in(ts, "a", j1), *b = add_in(ts, "b", j1);
    struct job *n = tasks_job_new(ts, "nightly", clock_wall_ms());
    struct task *c = add_in(ts, "c", n);
    assert_ptr_equal(tasks_job(ts, "nightly"), n);
    assert_int_equal(j1->counts[TASK_QUEUED], 2);
    assert_int_equal(ts->jobs_active, 2);
    assert_int_equal(ts->jobs_ended, 0);

    struct task *t = tasks_dispatch(ts, "w1", 0);
    assert_ptr_equal(t, a);
    assert_int_equal(j1->counts[TASK_RUNNING], 1);
    struct attempt_result r = {.lease = a->lease, .attempt = 1, .ok = true};
    tasks_attempt_result(ts, a, &r);
    tasks_cancel(ts, b);
    assert_int_equal(j1->counts[TASK_SUCCEEDED], 1);
    assert_int_equal(j1->counts[TASK_CANCELLED], 1);
    assert_int_equal(j1->counts[TASK_QUEUED] + j1->counts[TASK_RUNNING], 0);
    assert_false(job_active(j1));
    assert_true(j1->ended_at >= a->finished_at && j1->ended_at == b->finished_at);
    assert_int_equal(ts->jobs_active, 1);
    assert_int_equal(ts->jobs_ended, 1);
    size_t nj;
    struct job **all = tasks_jobs(ts, &nj);
    assert_int_equal(nj, 2);
    assert_ptr_equal(all[0], j1); /* in submission order */
    assert_ptr_equal(all[1], n);
    free(all);

    /* A restart builds them again from the journal, and gives out no j-N twice. */
    tasks_save_counters(ts);
    tasks_sync(ts);
    struct tasks ts2;
    tasks_init(&ts2, 5000);
    assert_int_equal(tasks_load(&ts2, f->j, f->w, 0), 0);
    struct job *k1 = tasks_job(&ts2, "j-1");
    assert_non_null(k1);
    assert_int_equal(k1->counts[TASK_SUCCEEDED], 1);
    assert_int_equal(k1->counts[TASK_CANCELLED], 1);
    assert_int_equal(k1->ended_at, j1->ended_at);
    assert_ptr_equal(tasks_find(&ts2, "c")->job, tasks_job(&ts2, "nightly"));
    assert_int_equal(ts2.jobs_active, 1);
    assert_int_equal(ts2.jobs_ended, 1);
    assert_string_equal(tasks_job_new(&ts2, NULL, 0)->id, "j-2");
    tasks_job_drop(&ts2, tasks_job(&ts2, "j-2"));
    while (tasks_take_ended(&ts2))
        ;
    tasks_release(&ts2);

    /* Its last task pruned, a job is gone. */
    while (tasks_take_ended(ts))
        ;
    tasks_prune(ts, clock_wall_ms() + 10000, 1000);
    assert_null(tasks_job(ts, "j-1"));
    assert_int_equal(ts->jobs_ended, 0);
    assert_int_equal(ts->jobs_active, 1);
    tasks_cancel(ts, c);
    assert_int_equal(ts->jobs_active, 0);
    assert_int_equal(ts->jobs_ended, 1);
}

/* Job j's throttle bookkeeping: never more admitted (ready or running)
 * than the throttle, and held + admitted covers every queued due task. */
static void assert_throttle(const struct tasks *ts, const struct job *j, uint32_t ready,
                            uint32_t held)
{
    assert_int_equal(j->admitted, ready + j->counts[TASK_RUNNING]);
    assert_true(j->admitted <= j->throttle);
    assert_int_equal(j->held.len, held);
    assert_int_equal(tasks_ready(ts), ready);
}

/* --array A-B%2: at most 2 running; one more admitted each time one of its
 * tasks leaves running (ends, retried, lost, cancelled); a retry and a
 * dependency released later take their turn again; a restart counts the
 * running tasks against the throttle. */
static void test_throttle(void **state)
{
    struct fixture *f = *state;
    struct tasks *ts = &f->ts;
    struct job *j = tasks_job_new(ts, "arr", clock_wall_ms());
    tasks_job_throttle(j, 2);
    struct task *t[6];
    char id[8];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "t%d", i);
        t[i] = add_in(ts, id, j);
    }
    assert_int_equal(spec_throttle(t[0]->spec), 2);
    assert_throttle(ts, j, 2, 3);
    assert_ptr_equal(tasks_dispatch(ts, "w1", 0), t[0]);
    assert_ptr_equal(tasks_dispatch(ts, "w1", 0), t[1]);
    assert_null(tasks_dispatch(ts, "w1", 0)); /* 2 running: the rest wait */
    assert_throttle(ts, j, 0, 3);

    /* t0 succeeds: t2 (next in submission order) is admitted. */
    struct attempt_result ok = {.lease = t[0]->lease, .attempt = 1, .ok = true};
    tasks_attempt_result(ts, t[0], &ok);
    assert_throttle(ts, j, 1, 2);
    /* A held task cancelled frees no place; a ready one does. */
    tasks_cancel(ts, t[4]);
    assert_throttle(ts, j, 1, 1);
    /* t1 fails and is retried after a backoff: its place goes to t3. */
    char error[] = "exit status 1";
    struct attempt_result bad = {
        .lease = t[1]->lease, .attempt = 1, .exit_code = 1, .error = error};
    tasks_attempt_result(ts, t[1], &bad);
    assert_int_equal(t[1]->state, TASK_QUEUED);
    assert_throttle(ts, j, 2, 0);
    assert_ptr_equal(tasks_dispatch(ts, "w1", 0), t[2]);
    assert_ptr_equal(tasks_dispatch(ts, "w2", 0), t[3]);
    /* Its backoff over, t1 waits for its turn again. */
    tasks_promote(ts, t[1]->not_before);
    assert_throttle(ts, j, 0, 1);
    /* t3 lost with its worker: re-queued, behind t1 (submitted first). */
    tasks_attempt_lost(ts, t[3], "was declared dead");
    assert_throttle(ts, j, 1, 1);
    assert_ptr_equal(tasks_dispatch(ts, "w1", 0), t[1]);
    /* A throttled task with a dependency: blocked, then through the throttle. */
    struct buf b = BUF_INIT;
    struct task_spec s;
    char err[256];
    const char *user = "{\"argv\":[\"true\"],\"after\":[\"t2\"]}";
    assert_int_equal(spec_parse(user, strlen(user), &s, err, sizeof(err)), 0);
    s.job = strdup(j->id);
    s.throttle = j->throttle;
    spec_encode(&b, &s);
    spec_release(&s);
    t[5] = tasks_add_blocked(ts, "t5", b.data, 9, 3, clock_wall_ms());
    buf_release(&b);
    tasks_set_job(ts, t[5], j);
    tasks_link(ts, t[5]);
    assert_int_equal(t[5]->state, TASK_BLOCKED);
    assert_throttle(ts, j, 0, 1);

    /* A restart: t1 and t2 were running; they hold both places. */
    tasks_save_counters(ts);
    tasks_sync(ts);
    struct tasks ts2;
    tasks_init(&ts2, 5000);
    assert_int_equal(tasks_load(&ts2, f->j, f->w, 0), 0);
    struct job *k = tasks_job(&ts2, "arr");
    assert_non_null(k);
    assert_int_equal(k->throttle, 2);
    assert_int_equal(k->counts[TASK_RUNNING], 2);
    assert_throttle(&ts2, k, 0, 1);
    /* t2 ends: t5 is released, and (priority 9) goes first. */
    struct task *r2 = tasks_find(&ts2, "t2");
    ok.lease = r2->lease;
    tasks_attempt_result(&ts2, r2, &ok);
    assert_throttle(&ts2, k, 1, 1);
    assert_ptr_equal(tasks_dispatch(&ts2, "w1", 0), tasks_find(&ts2, "t5"));
    /* Cancel the running t1: t3 goes. */
    struct task *r1 = tasks_find(&ts2, "t1");
    tasks_cancel(&ts2, r1);
    assert_throttle(&ts2, k, 1, 0);
    while (tasks_take_ended(&ts2))
        ;
    tasks_release(&ts2);

    /* The same moves on the first table, then pruned: the job goes. */
    ok.lease = t[2]->lease;
    tasks_attempt_result(ts, t[2], &ok);
    assert_int_equal(t[5]->state, TASK_QUEUED);
    assert_throttle(ts, j, 1, 1);
}

static void test_list_in_submission_order(void **state)
{
    struct fixture *f = *state;
    struct tasks *ts = &f->ts;
    char id[16];
    for (int i = 0; i < 50; i++) {
        snprintf(id, sizeof(id), "t%d", (i * 17) % 50);
        add(ts, id);
    }
    tasks_dispatch(ts, "w1", 0);
    size_t n;
    struct task **all = tasks_list(ts, -1, &n);
    assert_int_equal(n, 50);
    for (size_t i = 1; i < n; i++)
        assert_true(all[i - 1]->seq < all[i]->seq);
    free(all);
    all = tasks_list(ts, TASK_RUNNING, &n);
    assert_int_equal(n, 1);
    assert_string_equal(all[0]->id, "t0");
    free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_dispatch_succeed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_leaves_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_illegal_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_undone_and_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_attempt_backs_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_expires, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_waits_for_waiters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_in_submission_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throttle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_take_park_unpark, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
