/* SPDX-License-Identifier: MIT */
/* Unit tests for task dependencies: the spec fields after/after_any
 * (src/proto/spec.c: parse, canonical form, spec_deps()), and the graph in
 * the master's task table (src/master/tasks.c): release in order, the
 * cascade of a failure, after_any, cancel, a long chain without deep
 * recursion, and the graph rebuilt from the journal's specs. */
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
#include "common/util.h"
#include "master/tasks.h"

/* ---- the spec ------------------------------------------------------------- */

static void parse_ok(const char *json, struct task_spec *s)
{
    char err[512];
    if (spec_parse(json, strlen(json), s, err, sizeof(err)) != 0)
        fail_msg("refused %s: %s", json, err);
}

static void parse_refused(const char *json, const char *want)
{
    struct task_spec s;
    char err[512] = "";
    assert_int_equal(spec_parse(json, strlen(json), &s, err, sizeof(err)), DTR_EINVAL);
    if (!strstr(err, want))
        fail_msg("error '%s' lacks '%s'", err, want);
}

static void test_spec_fields(void **state UNUSED)
{
    struct task_spec s;
    struct buf b = BUF_INIT;
    parse_ok("{\"id\":\"c\",\"cmd\":\"true\",\"after\":[\"a\",\"x\\\"y\\\\z\"],"
             "\"after_any\":[\"b\"]}",
             &s);
    assert_int_equal(s.nafter, 2);
    assert_string_equal(s.after[1], "x\"y\\z");
    assert_int_equal(s.nafter_any, 1);
    spec_encode(&b, &s);
    spec_release(&s);
    assert_string_equal(b.data, "{\"id\":\"c\",\"kind\":\"exec\",\"after\":[\"a\",\"x\\\"y\\\\z\"],"
                                "\"after_any\":[\"b\"],\"cmd\":\"true\",\"priority\":2,"
                                "\"max_retries\":3}");

    /* spec_deps() reads the canonical text back without json-c. */
    char **after, **any;
    size_t nafter, nany;
    assert_int_equal(spec_deps(b.data, &after, &nafter, &any, &nany), 0);
    assert_int_equal(nafter, 2);
    assert_string_equal(after[0], "a");
    assert_string_equal(after[1], "x\"y\\z");
    assert_int_equal(nany, 1);
    assert_string_equal(any[0], "b");
    spec_free_ids(after, nafter);
    spec_free_ids(any, nany);

    /* The canonical form parses again to itself. */
    parse_ok(b.data, &s);
    struct buf b2 = BUF_INIT;
    spec_encode(&b2, &s);
    spec_release(&s);
    assert_string_equal(b.data, b2.data);
    buf_release(&b2);

    /* No dependencies: none read, none written; [] is the same as none. */
    parse_ok("{\"id\":\"n\",\"kind\":\"noop\",\"after\":[],\"after_any\":[]}", &s);
    assert_null(s.after);
    assert_null(s.after_any);
    buf_reset(&b);
    spec_encode(&b, &s);
    spec_release(&s);
    assert_null(strstr(b.data, "after"));
    assert_int_equal(spec_deps(b.data, &after, &nafter, &any, &nany), 0);
    assert_int_equal(nafter + nany, 0);
    assert_null(after);
    assert_int_equal(spec_deps("not a spec", &after, &nafter, &any, &nany), -1);
    buf_release(&b);
}

static void test_spec_refusals(void **state UNUSED)
{
    parse_refused("{\"cmd\":\"x\",\"after\":\"a\"}", "after");
    parse_refused("{\"cmd\":\"x\",\"after\":[\"a b\"]}", "not a valid id");
    parse_refused("{\"cmd\":\"x\",\"after\":[1]}", "not a valid id");
    parse_refused("{\"cmd\":\"x\",\"after\":[\"a\",\"a\"]}", "field 'after' names task 'a' twice");
    parse_refused("{\"cmd\":\"x\",\"after_any\":[\"b\",\"b\"]}",
                  "'after_any' names task 'b' twice");
    parse_refused("{\"cmd\":\"x\",\"after\":[\"a\"],\"after_any\":[\"a\"]}",
                  "task 'a' is in both 'after' and 'after_any'");

    /* 10000 together is the limit. */
    struct buf j = BUF_INIT;
    buf_addstr(&j, "{\"cmd\":\"x\",\"after\":[");
    for (int i = 0; i < 6000; i++)
        buf_addf(&j, "%s\"a%d\"", i ? "," : "", i);
    buf_addstr(&j, "],\"after_any\":[");
    for (int i = 0; i < 4000; i++)
        buf_addf(&j, "%s\"b%d\"", i ? "," : "", i);
    struct buf k = BUF_INIT;
    buf_addf(&k, "%s]}", j.data);
    struct task_spec s;
    parse_ok(k.data, &s);
    assert_int_equal(s.nafter + s.nafter_any, MSG_MAX_DEPS);
    spec_release(&s);
    buf_reset(&k);
    buf_addf(&k, "%s,\"b-one-more\"]}", j.data);
    parse_refused(k.data, "a task may depend on at most 10000");
    buf_release(&j);
    buf_release(&k);
}

/* ---- the graph in the task table ------------------------------------------ */

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

static void drain_ended(struct tasks *ts)
{
    while (tasks_take_ended(ts))
        ;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    drain_ended(&f->ts);
    jwriter_stop(f->w);
    journal_close(f->j);
    tasks_release(&f->ts);
    free(f);
    return 0;
}

/* Submits a task as handle_submit does: blocked when it has dependencies
 * (the caller links it once its batch is in), else queued. */
static struct task *add(struct tasks *ts, const char *id, int64_t prio, int retries,
                        const char *deps)
{
    char json[512];
    struct task_spec s;
    struct buf b = BUF_INIT;
    snprintf(json, sizeof(json), "{\"id\":\"%s\",\"cmd\":\"true\"%s%s}", id, deps ? "," : "",
             deps ? deps : "");
    parse_ok(json, &s);
    spec_encode(&b, &s);
    bool blocked = s.nafter + s.nafter_any > 0;
    struct task *t = blocked ? tasks_add_blocked(ts, id, b.data, prio, retries, clock_wall_ms())
                             : tasks_add(ts, id, b.data, prio, retries, clock_wall_ms());
    spec_release(&s);
    buf_release(&b);
    return t;
}

/* Runs the next ready task to its end: ok, or a failed attempt. */
static struct task *run_next(struct tasks *ts, bool ok)
{
    struct task *t = tasks_dispatch(ts, "w1", 0);
    assert_non_null(t);
    char error[] = "exited with status 1";
    struct attempt_result r = {.lease = t->lease,
                               .attempt = t->attempts,
                               .ok = ok,
                               .exit_code = ok ? 0 : 1,
                               .error = ok ? NULL : error};
    tasks_attempt_result(ts, t, &r);
    return t;
}

static void test_release_in_order(void **state)
{
    struct fixture *f = *state;
    struct tasks *ts = &f->ts;
    /* A diamond, d named before its dependencies: a -> (b, c) -> d. */
    struct task *d = add(ts, "d", 2, 3, "\"after\":[\"b\",\"c\"]");
    struct task *a = add(ts, "a", 2, 3, NULL);
    struct task *b = add(ts, "b", 1, 3, "\"after\":[\"a\"]");
    struct task *c = add(ts, "c", 3, 3, "\"after\":[\"a\"]");
    tasks_link(ts, d);
    tasks_link(ts, b);
    tasks_link(ts, c);
    assert_int_equal(ts->counts[TASK_BLOCKED], 3);
    assert_int_equal(d->unmet, 2);
    assert_int_equal(tasks_ready(ts), 1);

    assert_ptr_equal(run_next(ts, true), a);
    /* Both released, each with its own priority: c (3) before b (1). */
    assert_int_equal(b->state, TASK_QUEUED);
    assert_int_equal(c->state, TASK_QUEUED);
    assert_int_equal(d->state, TASK_BLOCKED);
    assert_ptr_equal(run_next(ts, true), c);
    assert_int_equal(d->state, TASK_BLOCKED);
    assert_int_equal(d->unmet, 1);
    assert_ptr_equal(run_next(ts, true), b);
    assert_int_equal(d->state, TASK_QUEUED);
    assert_ptr_equal(run_next(ts, true), d);
    assert_int_equal(ts->counts[TASK_SUCCEEDED], 4);
    assert_int_equal(ts->counts[TASK_BLOCKED], 0);
    assert_int_equal(ts->dependents.len, 0);
}

static void test_fan_out(void **state)
{
    struct fixture *f = *state;
    struct tasks *ts = &f->ts;
    /* 100 tasks after one root: its list of dependents grows (and moves)
     * seven times, and every edge still releases its task, in order. */
    struct task *root = add(ts, "root", 2, 3, NULL);
    struct task *leaf[100];
    for (int i = 0; i < 100; i++) {
        char id[16];
        snprintf(id, sizeof(id), "leaf%d", i);
        leaf[i] = add(ts, id, 2, 3, "\"after\":[\"root\"]");
        tasks_link(ts, leaf[i]);
    }
    assert_int_equal(root->dep_refs, 0);
    assert_int_equal(ts->dependents.len, 1);
    assert_ptr_equal(run_next(ts, true), root);
    assert_int_equal(ts->counts[TASK_QUEUED], 100);
    for (int i = 0; i < 100; i++)
        assert_ptr_equal(run_next(ts, true), leaf[i]);
    assert_int_equal(ts->dependents.len, 0);
}

static void test_retry_counts_once_ended(void **state)
{
    struct fixture *f = *state;
    struct tasks *ts = &f->ts;
    struct task *a = add(ts, "a", 2, 1, NULL);
    struct task *b = add(ts, "b", 2, 3, "\"after\":[\"a\"]");
    tasks_link(ts, b);
    run_next(ts, false); /* a fails once, retry left: not the end */
    assert_int_equal(a->state, TASK_QUEUED);
    assert_int_equal(b->state, TASK_BLOCKED);
    tasks_promote(ts, a->not_before);
    assert_ptr_equal(run_next(ts, true), a);
    assert_int_equal(b->state, TASK_QUEUED);
}

static void test_cascade_and_after_any(void **state)
{
    struct fixture *f = *state;
    struct tasks *ts = &f->ts;
    struct task *a = add(ts, "a", 2, 0, NULL);
    struct task *b = add(ts, "b", 2, 3, "\"after\":[\"a\"]");
    struct task *c = add(ts, "c", 2, 3, "\"after\":[\"b\"],\"after_any\":[\"a\"]");
    struct task *d = add(ts, "d", 2, 3, "\"after_any\":[\"a\"]");
    struct task *e = add(ts, "e", 2, 3, "\"after_any\":[\"c\"]");
    struct task *x = add(ts, "x", 2, 3, NULL);
    struct task *g = add(ts, "g", 2, 3, "\"after\":[\"x\",\"c\"]");
    for (const char *id = "bcdeg"; *id; id++) {
        char one[2] = {*id, 0};
        tasks_link(ts, tasks_find(ts, one));
    }
    drain_ended(ts);
    assert_ptr_equal(run_next(ts, false), a); /* no retries: failed */
    assert_int_equal(a->state, TASK_FAILED);
    assert_int_equal(b->state, TASK_CANCELLED);
    assert_string_equal(b->error, "dependency a failed");
    assert_int_equal(c->state, TASK_CANCELLED);
    assert_string_equal(c->error, "dependency b was cancelled");
    assert_int_equal(g->state, TASK_CANCELLED);
    assert_string_equal(g->error, "dependency c was cancelled");
    assert_int_equal(d->state, TASK_QUEUED); /* after_any still runs */
    assert_int_equal(e->state, TASK_QUEUED);
    assert_int_equal(x->state, TASK_QUEUED);
    assert_int_equal(ts->counts[TASK_CANCELLED], 3);
    assert_int_equal(ts->counts[TASK_BLOCKED], 0);
    /* Each ended once, in the order they ended. */
    const char *want[] = {"a", "b", "c", "g"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(tasks_take_ended(ts)->id, want[i]);
    assert_null(tasks_take_ended(ts));

    /* A task submitted after its dependency failed is cancelled at once. */
    struct task *late = add(ts, "late", 2, 3, "\"after\":[\"a\"]");
    struct task *late_any = add(ts, "late-any", 2, 3, "\"after_any\":[\"a\"]");
    tasks_link(ts, late);
    tasks_link(ts, late_any);
    assert_int_equal(late->state, TASK_CANCELLED);
    assert_string_equal(late->error, "dependency a failed");
    assert_int_equal(late_any->state, TASK_QUEUED);
}

static void test_cancel_blocked_and_dependency(void **state)
{
    struct fixture *f = *state;
    struct tasks *ts = &f->ts;
    struct task *a = add(ts, "a", 2, 3, NULL);
    struct task *b = add(ts, "b", 2, 3, "\"after\":[\"a\"]");
    struct task *c = add(ts, "c", 2, 3, "\"after\":[\"b\"]");
    struct task *d = add(ts, "d", 2, 3, "\"after\":[\"a\"]");
    tasks_link(ts, b);
    tasks_link(ts, c);
    tasks_link(ts, d);
    tasks_cancel(ts, b);
    assert_string_equal(b->error, "cancelled");
    assert_int_equal(c->state, TASK_CANCELLED);
    assert_string_equal(c->error, "dependency b was cancelled");
    /* b stays on a's list until a ends: kept from pruning until then. */
    assert_int_equal(b->dep_refs, 1);
    drain_ended(ts);
    tasks_prune(ts, clock_wall_ms() + 10000, 1000);
    assert_ptr_equal(tasks_find(ts, "b"), b);
    assert_null(tasks_find_stored(ts, "b")); /* gone from the journal: unknown to submit */
    assert_ptr_equal(tasks_find_stored(ts, "a"), a);
    assert_null(tasks_find(ts, "c"));
    tasks_cancel(ts, a);
    assert_int_equal(d->state, TASK_CANCELLED);
    assert_string_equal(d->error, "dependency a was cancelled");
    assert_int_equal(b->dep_refs, 0);
    drain_ended(ts);
    tasks_prune(ts, clock_wall_ms() + 10000, 1000);
    assert_null(tasks_find(ts, "b"));
    assert_int_equal(ts->map.len, 0);
}

static void test_long_chain(void **state)
{
    struct fixture *f = *state;
    struct tasks *ts = &f->ts;
    enum { N = 100000 };
    char id[32], deps[64];
    add(ts, "c0", 2, 0, NULL);
    for (int i = 1; i < N; i++) {
        snprintf(id, sizeof(id), "c%d", i);
        snprintf(deps, sizeof(deps), "\"after\":[\"c%d\"]", i - 1);
        tasks_link(ts, add(ts, id, 2, 0, deps));
    }
    assert_int_equal(ts->counts[TASK_BLOCKED], N - 1);
    run_next(ts, false); /* the whole chain goes, without deep recursion */
    assert_int_equal(ts->counts[TASK_CANCELLED], N - 1);
    assert_int_equal(ts->counts[TASK_BLOCKED], 0);
    assert_string_equal(tasks_find(ts, "c99999")->error, "dependency c99998 was cancelled");
}

/* Loads the journal into a second table, as a restarted master would. */
static void reload(struct fixture *f, struct tasks *ts2)
{
    tasks_sync(&f->ts);
    tasks_init(ts2, 5000);
    assert_int_equal(tasks_load(ts2, f->j, f->w, 0), 0);
}

static void release_table(struct tasks *ts2)
{
    drain_ended(ts2);
    tasks_release(ts2);
}

static void test_restart_rebuilds(void **state)
{
    struct fixture *f = *state;
    struct tasks *ts = &f->ts;
    add(ts, "a", 2, 3, NULL);
    struct task *later = add(ts, "m", 2, 3, "\"after\":[\"a\",\"z\"]");
    add(ts, "z", 2, 3, NULL);
    tasks_link(ts, later);
    add(ts, "y", 2, 3, "\"after_any\":[\"m\"]");
    tasks_link(ts, tasks_find(ts, "y"));
    run_next(ts, true); /* a */

    struct tasks ts2;
    reload(f, &ts2);
    struct task *m = tasks_find(&ts2, "m"), *y = tasks_find(&ts2, "y");
    assert_int_equal(m->state, TASK_BLOCKED);
    assert_int_equal(m->unmet, 1); /* a succeeded before the restart */
    assert_int_equal(y->state, TASK_BLOCKED);
    assert_int_equal(ts2.counts[TASK_BLOCKED], 2);
    assert_ptr_equal(run_next(&ts2, true), tasks_find(&ts2, "z"));
    assert_int_equal(m->state, TASK_QUEUED);
    assert_ptr_equal(run_next(&ts2, false), m); /* fails, retried */
    assert_int_equal(y->state, TASK_BLOCKED);
    release_table(&ts2);
}

static void test_restart_settles_ended_and_pruned(void **state)
{
    struct fixture *f = *state;
    struct tasks *ts = &f->ts;
    /* A journal in which blocked tasks outlived what they wait for: settled
     * on load, the same way each time. A dependency no longer in the journal
     * was pruned after it ended, and not badly (a failure cancels its
     * dependents in a commit before any prune), so it counts as met. */
    struct task *ok = add(ts, "ok", 2, 3, NULL), *bad = add(ts, "bad", 2, 0, NULL);
    struct task *p = add(ts, "p", 2, 3, "\"after\":[\"ok\"]");
    struct task *q = add(ts, "q", 2, 3, "\"after\":[\"bad\"]");
    struct task *r = add(ts, "r", 2, 3, "\"after\":[\"q\"]");
    struct task *u = add(ts, "u", 2, 3, "\"after\":[\"gone\"]");
    (void)p, (void)q, (void)r, (void)u, (void)ok, (void)bad;
    run_next(ts, true);
    run_next(ts, false);
    struct tasks ts2;
    reload(f, &ts2);
    assert_int_equal(tasks_find(&ts2, "p")->state, TASK_QUEUED);
    assert_int_equal(tasks_find(&ts2, "q")->state, TASK_CANCELLED);
    assert_string_equal(tasks_find(&ts2, "q")->error, "dependency bad failed");
    assert_int_equal(tasks_find(&ts2, "r")->state, TASK_CANCELLED);
    assert_string_equal(tasks_find(&ts2, "r")->error, "dependency q was cancelled");
    assert_int_equal(tasks_find(&ts2, "u")->state, TASK_QUEUED);
    assert_int_equal(ts2.counts[TASK_BLOCKED], 0);
    release_table(&ts2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_fields),
        cmocka_unit_test(test_spec_refusals),
        cmocka_unit_test_setup_teardown(test_release_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fan_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_counts_once_ended, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cascade_and_after_any, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_blocked_and_dependency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_rebuilds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_settles_ended_and_pruned, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
