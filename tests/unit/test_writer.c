/* SPDX-License-Identifier: MIT */
/*
 * Journal writer tests, on a real journal in a fresh temp dir per test:
 * batches are applied in order, an epoch is reported on disk only once its
 * commit returned, batches handed off while the thread is busy share one
 * commit, a failed commit (the DTR_FAULT_JOURNAL_COMMIT seam) is fail-stop,
 * and stopping commits what was recorded. Nothing sleeps: the tests hold the
 * thread in its wake() callback and wait for its calls.
 */
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "journal/journal.h"
#include "journal/writer.h"

/* Tasks per test: a batch that saves or updates all of them is more than
 * JWRITER_INLINE_MAX_OPS writes, so it always goes to the thread. */
#define NTASKS (JWRITER_INLINE_MAX_OPS + 16)

/* ---- fixture: a temp dir, the journal's tasks, and the wake() gate ---- */

struct fixture {
    char dir[1024];   /* the temp dir */
    char state[1040]; /* DIR/state, the journal's dir */
    struct task *tasks[NTASKS];

    /* wake() counts its calls and, while the gate is closed, holds the
     * writer thread inside itself (after a commit, before it looks for more
     * batches). */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int wakes;
    bool gate_closed;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");

    if (!f)
        return -1;
    if (snprintf(f->dir, sizeof(f->dir), "%s/dtr-writer-XXXXXX", tmp && *tmp ? tmp : "/tmp") >=
            (int)sizeof(f->dir) ||
        !mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
    for (int i = 0; i < NTASKS; i++) {
        char id[32];
        snprintf(id, sizeof(id), "t%d", i);
        f->tasks[i] =
            task_new(id, "{\"cmd\":[\"true\"]}", 2, 3, (uint64_t)i + 1, 1700000000000 + i);
    }
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cond, NULL);
    *state = f;
    return 0;
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc = nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);

    for (int i = 0; i < NTASKS; i++)
        task_free(f->tasks[i]);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->mu);
    free(f);
    return rc;
}

/* The writer's wake(): runs on the writer thread after each commit. */
static void wake(void *data)
{
    struct fixture *f = data;

    pthread_mutex_lock(&f->mu);
    f->wakes++;
    pthread_cond_broadcast(&f->cond);
    while (f->gate_closed)
        pthread_cond_wait(&f->cond, &f->mu);
    pthread_mutex_unlock(&f->mu);
}

static void set_gate(struct fixture *f, bool closed)
{
    pthread_mutex_lock(&f->mu);
    f->gate_closed = closed;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->mu);
}

/* Waits until wake() has been called n times (the test's timeout bounds it). */
static void await_wakes(struct fixture *f, int n)
{
    pthread_mutex_lock(&f->mu);
    while (f->wakes < n)
        pthread_cond_wait(&f->cond, &f->mu);
    pthread_mutex_unlock(&f->mu);
}

static int wakes(struct fixture *f)
{
    pthread_mutex_lock(&f->mu);
    int n = f->wakes;
    pthread_mutex_unlock(&f->mu);
    return n;
}

static struct journal *open_ok(const char *dir)
{
    char err[512] = "";
    struct journal *j = journal_open(dir, err, sizeof(err));

    if (!j)
        fail_msg("journal_open(%s): %s", dir, err);
    return j;
}

/* Opens the journal with its Nth commit made to fail (0: none). */
static struct journal *open_faulty(const char *dir, int nth)
{
    char n[16];
    struct journal *j;

    snprintf(n, sizeof(n), "%d", nth);
    setenv("DTR_FAULT_JOURNAL_COMMIT", n, 1);
    j = open_ok(dir);
    unsetenv("DTR_FAULT_JOURNAL_COMMIT");
    return j;
}

/* The epoch on disk; fails the test when the writer reports a failure. */
static uint64_t done_ok(struct jwriter *w)
{
    char err[512] = "";
    uint64_t epoch = 0;

    if (!jwriter_done(w, &epoch, err, sizeof(err)))
        fail_msg("jwriter_done: %s", err);
    return epoch;
}

static void drain_ok(struct jwriter *w)
{
    char err[512] = "";

    if (!jwriter_drain(w, err, sizeof(err)))
        fail_msg("jwriter_drain: %s", err);
}

/* Moves every task to `to` (at a time derived from `to`) and records it. */
static void record_all(struct fixture *f, struct jwriter *w, enum task_state to)
{
    for (int i = 0; i < NTASKS; i++) {
        struct task *t = f->tasks[i];

        if (to == TASK_RUNNING) {
            t->attempts++;
            t->lease = (uint64_t)i + 100;
            task_set_worker(t, "w1");
        }
        if (to == TASK_SUCCEEDED)
            t->exit_code = 0;
        assert_int_equal(task_set_state(t, to, 1700000001000 + (int64_t)to), 0);
        jwriter_update_task(w, t);
    }
}

static void save_all(struct fixture *f, struct jwriter *w)
{
    for (int i = 0; i < NTASKS; i++)
        jwriter_save_task(w, f->tasks[i]);
}

/* ---- what the journal holds ---- */

struct loaded {
    struct task *t[NTASKS];
    size_t n;
};

static int collect(struct task *t, void *data)
{
    struct loaded *l = data;

    assert_true(l->n < NTASKS);
    l->t[l->n++] = t;
    return 0;
}

static void loaded_release(struct loaded *l)
{
    for (size_t i = 0; i < l->n; i++)
        task_free(l->t[i]);
    l->n = 0;
}

/* Reopens the journal (what is on disk, not what a handle sees) and checks
 * that it holds exactly n tasks, each in state `state`, and the counter. */
static void assert_on_disk(struct fixture *f, size_t n, enum task_state state, uint64_t counter)
{
    struct journal *j = open_ok(f->state);
    struct loaded l = {0};
    uint64_t v = 0;

    assert_int_equal(journal_load(j, collect, &l), 0);
    assert_int_equal(l.n, n);
    for (size_t i = 0; i < l.n; i++) {
        assert_string_equal(l.t[i]->id, f->tasks[i]->id);
        assert_int_equal(l.t[i]->state, state);
        if (state == f->tasks[i]->state) {
            assert_true(l.t[i]->lease == f->tasks[i]->lease);
            assert_int_equal(l.t[i]->attempts, f->tasks[i]->attempts);
            assert_int_equal(l.t[i]->finished_at, f->tasks[i]->finished_at);
        }
    }
    assert_int_equal(journal_get_counter(j, "c", &v), 0);
    assert_int_equal(v, counter);
    loaded_release(&l);
    journal_close(j);
}

/* ---- tests ---- */

/* Batches reach the journal in the order they were handed off, and so do
 * the writes within one: the last state and counter value win. */
static void test_batches_in_order(void **state)
{
    struct fixture *f = *state;
    struct journal *j = open_ok(f->state);
    struct jwriter *w = jwriter_start(j, wake, f, NULL, 0);
    static char bytes[] = "hi\0there", result[] = "{\"n\":1}";
    struct task_output out = {.out = bytes, .out_len = 8, .result = result};
    struct task_output got;
    uint64_t e1, e2, e3;

    save_all(f, w);
    jwriter_set_counter(w, "c", 1);
    e1 = jwriter_handoff(w);
    record_all(f, w, TASK_RUNNING);
    jwriter_set_counter(w, "c", 2);
    e2 = jwriter_handoff(w);
    record_all(f, w, TASK_SUCCEEDED);
    jwriter_save_output(w, f->tasks[0]->id, &out);
    jwriter_set_counter(w, "c", 3);
    jwriter_set_counter(w, "c", 4);
    e3 = jwriter_handoff(w);
    assert_true(e1 < e2 && e2 < e3);
    /* A turn that wrote nothing waits for the newest batch before it. */
    assert_true(jwriter_handoff(w) == e3);

    drain_ok(w);
    assert_true(done_ok(w) == e3);
    /* Drained: the journal may be read directly. */
    assert_int_equal(journal_get_output(j, f->tasks[0]->id, &got), 0);
    assert_int_equal(got.out_len, 8);
    assert_memory_equal(got.out, "hi\0there", 8);
    assert_null(got.err);
    assert_string_equal(got.result, "{\"n\":1}");
    task_output_release(&got);
    jwriter_stop(w);
    journal_close(j);

    assert_on_disk(f, NTASKS, TASK_SUCCEEDED, 4);
}

/*
 * An epoch is on disk only once its commit returned; the batches handed off
 * while the thread was busy go into one transaction, in order.
 */
static void test_epochs_and_group_commit(void **state)
{
    struct fixture *f = *state;
    struct journal *j = open_ok(f->state);
    struct jwriter *w = jwriter_start(j, wake, f, NULL, 0);
    uint64_t e1, e2, e3, e4;

    /* Hold the thread in wake() after its first commit. */
    set_gate(f, true);
    save_all(f, w);
    jwriter_set_counter(w, "c", 1);
    e1 = jwriter_handoff(w);
    await_wakes(f, 1);
    assert_true(done_ok(w) == e1);

    record_all(f, w, TASK_RUNNING);
    jwriter_set_counter(w, "c", 2);
    e2 = jwriter_handoff(w);
    jwriter_set_counter(w, "c", 3);
    e3 = jwriter_handoff(w); /* one write, but the thread has work queued */
    record_all(f, w, TASK_SUCCEEDED);
    jwriter_set_counter(w, "c", 4);
    e4 = jwriter_handoff(w);
    assert_true(e1 < e2 && e2 < e3 && e3 < e4);
    /* Handed off, not committed: not on disk. */
    assert_true(done_ok(w) == e1);
    assert_int_equal(wakes(f), 1);

    set_gate(f, false);
    await_wakes(f, 2);
    assert_true(done_ok(w) == e4);
    drain_ok(w);
    /* Three batches, one commit. */
    assert_int_equal(wakes(f), 2);
    jwriter_stop(w);
    journal_close(j);

    assert_on_disk(f, NTASKS, TASK_SUCCEEDED, 4);
}

/* A quiet writer commits a small batch on the caller's thread: it is on
 * disk when jwriter_handoff() returns, and the thread is not woken. */
static void test_light_load_commits_inline(void **state)
{
    struct fixture *f = *state;
    struct journal *j = open_ok(f->state);
    struct jwriter *w = jwriter_start(j, wake, f, NULL, 0);
    uint64_t e1;

    jwriter_save_task(w, f->tasks[0]);
    jwriter_set_counter(w, "c", 7);
    e1 = jwriter_handoff(w);
    assert_true(done_ok(w) == e1);
    assert_int_equal(wakes(f), 0);
    jwriter_stop(w);
    journal_close(j);

    assert_on_disk(f, 1, TASK_QUEUED, 7);
}

/* An OP_WAIT that stands for a slow disk: the commit it is part of takes
 * 30 ms, above the writer's limit for committing on the loop. */
static int slow_wait(void *arg, uint64_t token, char *err, size_t errlen)
{
    (void)arg, (void)token, (void)err, (void)errlen;
    struct timespec ts = {.tv_nsec = 30 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return 0;
}

/* After a slow commit the loop stops committing inline (a slow fsync would
 * stall it): the next small batch goes to the thread. Once the thread's
 * commit is quick again, small batches are committed inline again. */
static void test_slow_commit_goes_to_thread(void **state)
{
    struct fixture *f = *state;
    struct journal *j = open_ok(f->state);
    struct jwriter *w = jwriter_start(j, wake, f, NULL, 0);
    uint64_t e;

    jwriter_save_task(w, f->tasks[0]);
    jwriter_wait(w, slow_wait, NULL, 0);
    e = jwriter_handoff(w); /* inline, and slow */
    assert_true(done_ok(w) == e);
    assert_int_equal(wakes(f), 0);

    jwriter_set_counter(w, "c", 1);
    e = jwriter_handoff(w); /* to the thread, quick */
    await_wakes(f, 1);
    assert_true(done_ok(w) == e);

    jwriter_set_counter(w, "c", 2);
    e = jwriter_handoff(w); /* inline again */
    assert_true(done_ok(w) == e);
    assert_int_equal(wakes(f), 1);
    jwriter_stop(w);
    journal_close(j);

    assert_on_disk(f, 1, TASK_QUEUED, 2);
}

/*
 * A failed commit is reported, rolls back the whole group, and stops the
 * writer: nothing handed off after it is ever reported on disk, or written.
 */
static void test_failed_commit_is_fail_stop(void **state)
{
    struct fixture *f = *state;
    struct journal *j = open_faulty(f->state, 3);
    struct jwriter *w = jwriter_start(j, wake, f, NULL, 0);
    char err[512] = "";
    uint64_t e1, e2, e4, epoch = 0;

    save_all(f, w);
    jwriter_set_counter(w, "c", 1);
    e1 = jwriter_handoff(w); /* commit 1 */
    await_wakes(f, 1);
    assert_true(done_ok(w) == e1);

    /* Commit 2 goes through; the thread is held after it while two more
     * batches queue up for the failing commit 3. */
    set_gate(f, true);
    record_all(f, w, TASK_RUNNING);
    jwriter_handoff(w);
    await_wakes(f, 2);
    assert_true(done_ok(w) == e1 + 1);
    record_all(f, w, TASK_SUCCEEDED);
    jwriter_set_counter(w, "c", 2);
    e2 = jwriter_handoff(w);
    jwriter_set_counter(w, "c", 3);
    jwriter_handoff(w);
    set_gate(f, false);
    await_wakes(f, 3);

    assert_false(jwriter_done(w, &epoch, err, sizeof(err)));
    assert_non_null(strstr(err, "injected fault"));
    assert_true(epoch == e1 + 1);
    assert_true(epoch < e2);

    /* Later batches are neither applied nor reported, even small ones that
     * a healthy writer would commit inline. */
    jwriter_set_counter(w, "c", 4);
    e4 = jwriter_handoff(w);
    assert_true(e4 > e2);
    await_wakes(f, 4); /* the thread took it up */
    err[0] = '\0';
    assert_false(jwriter_drain(w, err, sizeof(err)));
    assert_non_null(strstr(err, "injected fault"));
    assert_false(jwriter_done(w, &epoch, err, sizeof(err)));
    assert_true(epoch == e1 + 1);
    jwriter_stop(w); /* returns after a failure too */
    journal_close(j);

    /* On disk: commits 1 and 2, nothing of 3 or after. */
    assert_on_disk(f, NTASKS, TASK_RUNNING, 1);
}

/* Stopping hands off what was recorded and commits it before returning. */
static void test_stop_commits_recorded(void **state)
{
    struct fixture *f = *state;
    struct journal *j = open_ok(f->state);
    struct jwriter *w = jwriter_start(j, wake, f, NULL, 0);

    save_all(f, w);
    jwriter_set_counter(w, "c", 5);
    jwriter_stop(w);
    jwriter_stop(NULL);
    journal_close(j);

    assert_on_disk(f, NTASKS, TASK_QUEUED, 5);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_batches_in_order),          TEST(test_epochs_and_group_commit),
        TEST(test_light_load_commits_inline), TEST(test_failed_commit_is_fail_stop),
        TEST(test_stop_commits_recorded),     TEST(test_slow_commit_goes_to_thread),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
