/* SPDX-License-Identifier: MIT */
/*
 * The task table and the only code that changes a task once it exists: its
 * state (through tasks_transition()), its attempt fields, the counters, the
 * queue and the deadlines, and what of it the journal records. It does not
 * know workers or clients: workers.c attaches and detaches attempts, and the
 * waiters in handlers.c drain the list of tasks that ended.
 */
#include "master/tasks.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "sched/resources.h"
#include "sched/metrics.h"

#define BACKOFF_BASE_MS 250
#define BACKOFF_CAP_MS (60 * 1000)
/* Leases reserved in the journal at a time (struct tasks, lease_bound). */
#define LEASE_BLOCK 4096

static const char *task_key(const void *item)
{
    return ((const struct task *)item)->id;
}

/* One edge seen from the task waited for: 16 bytes. */
struct dependent {
    struct task *t;
    bool any; /* after_any: any end releases it */
};

/* The blocked tasks waiting for the task named `id` (borrowed from it: it
 * is live, so in the table, as long as anyone waits for it). One allocation
 * with its edges: most tasks of a pipeline have one dependent, and a second
 * block for it cost more than the edge itself. */
struct dependents {
    const char *id;
    uint32_t n, cap;
    struct dependent v[];
};

static const char *dependents_key(const void *item)
{
    return ((const struct dependents *)item)->id;
}

static const char *job_key(const void *item)
{
    return ((const struct job *)item)->id;
}

/* 0: counted in neither (no task), 1: active, 2: ended. */
static int job_kind(const struct job *j)
{
    return !j->total ? 0 : job_active(j) ? 1 : 2;
}

/* One task of job j moves from state `from` to `to` (-1: none, for a task
 * that joins or leaves the table): keeps the job's counts and the table's
 * counts of active and ended jobs right. O(1). A job left with no task is
 * freed. */
static void job_count(struct tasks *ts, struct job *j, int from, int to)
{
    int before = job_kind(j);
    if (from >= 0) {
        j->counts[from]--;
        j->total--;
    }
    if (to >= 0) {
        j->counts[to]++;
        j->total++;
    }
    int after = job_kind(j);
    if (before != after) {
        if (before)
            (*(before == 1 ? &ts->jobs_active : &ts->jobs_ended))--;
        if (after)
            (*(after == 1 ? &ts->jobs_active : &ts->jobs_ended))++;
    }
    if (!j->total) {
        hmap_del(&ts->jobs, j->id);
        held_release(&j->held);
        free(j);
    }
}

/* ---- the throttle --------------------------------------------------------- */

static bool throttled(const struct task *t)
{
    return t->job && t->job->throttle;
}

/* Admits held tasks of job j to the ready heap while fewer than its
 * throttle are admitted: O(1) when none can move. */
static void throttle_fill(struct tasks *ts, struct job *j, int64_t now)
{
    struct task *t;
    while (j->admitted < j->throttle && (t = held_pop(&j->held))) {
        t->not_before = 0; /* due (below), whatever the wall clock does */
        queue_push(&ts->queue, t, now);
        j->admitted++;
        ts->dispatch_needed = true;
    }
}

/* Queued task t of a throttled job: waits out its backoff in the delayed
 * heap (tasks_promote() brings it back here), then its turn in held. */
static void throttle_enter(struct tasks *ts, struct task *t, int64_t now)
{
    if (t->not_before > now)
        queue_push(&ts->queue, t, now);
    else
        held_push(&t->job->held, t);
}

/* Queued task t leaves wherever it waits, for state `to`: the ready or the
 * delayed heap, its job's held heap, the parked list (it fits no worker),
 * or nowhere (taken off the ready heap for dispatch). A throttled task
 * counts as admitted in the ready heap, taken, parked and running: from
 * there to running it stays admitted; otherwise its place is free. */
static void leave_queue(struct tasks *ts, struct task *t, enum task_state to, bool throttle)
{
    bool admitted = true;
    if (t->waiting) { /* parked */
        list_del(&t->worker_node);
        free(t->waiting);
        t->waiting = NULL;
        ts->nparked--;
    } else if (throttle && held_remove(&t->job->held, t)) {
        admitted = false;
    } else if (queue_holds(&ts->queue, t)) {
        admitted = queue_holds_ready(&ts->queue, t);
        queue_remove(&ts->queue, t);
    }
    if (throttle && admitted && to != TASK_RUNNING)
        t->job->admitted--;
}

void tasks_journal_failed(const char *what)
{
    /* Fail-stop: nothing queued for sending this turn leaves the process,
     * so no client or worker is told of a change that is not on disk. No
     * return to main: its exit path would run the loop's close callbacks,
     * which flush what is held. */
    log_error("journal write failed; stopping without acknowledging error=%s", log_quote(what));
    fprintf(stderr, "dtr master: journal write failed: %s\n", what);
    fflush(NULL);
    _exit(1);
}

void tasks_init(struct tasks *ts, int64_t grace_ms)
{
    memset(ts, 0, sizeof(*ts));
    hmap_init(&ts->map, task_key);
    queue_init(&ts->queue);
    deadlines_init(&ts->deadlines);
    list_init(&ts->ended);
    list_init(&ts->parked);
    hmap_init(&ts->dependents, dependents_key);
    hmap_init(&ts->jobs, job_key);
    ts->next_seq = ts->next_lease = ts->next_job = 1;
    ts->grace_ms = grace_ms;
}

void tasks_release(struct tasks *ts)
{
    for (size_t i = 0; i < ts->map.cap; i++)
        if (ts->map.slots[i])
            task_free(ts->map.slots[i]);
    hmap_release(&ts->map);
    for (size_t i = 0; i < ts->dependents.cap; i++) {
        struct dependents *d = ts->dependents.slots[i];
        if (d) {
            free(d);
        }
    }
    hmap_release(&ts->dependents);
    for (size_t i = 0; i < ts->jobs.cap; i++) {
        struct job *j = ts->jobs.slots[i];
        if (j) {
            held_release(&j->held);
            free(j);
        }
    }
    hmap_release(&ts->jobs);
    free(ts->dep_work);
    free(ts->loaded_blocked);
    queue_release(&ts->queue);
    deadlines_release(&ts->deadlines);
}

void tasks_sync(struct tasks *ts)
{
    char err[512];
    if (!jwriter_drain(ts->writer, err, sizeof(err)))
        tasks_journal_failed(err);
}

/* Gives a running attempt with a timeout (ms, from listen_now) its deadline:
 * the timeout plus the grace, in listening time. */
static void set_deadline(struct tasks *ts, struct task *t, int64_t listen_now, int64_t timeout_ms)
{
    if (timeout_ms <= 0)
        return;
    t->deadline = listen_now + timeout_ms + ts->grace_ms;
    deadlines_add(&ts->deadlines, t);
}

/* ---- recovery and submit -------------------------------------------------- */

/* The task's resource request from its spec: only non-default ones take
 * memory. */
static void set_request(struct task *t)
{
    struct request r;
    spec_request(t->spec, &r);
    if (!res_is_default(&r)) {
        t->req = xmalloc(sizeof(*t->req));
        *t->req = r;
    }
}

struct load_ctx {
    struct tasks *ts;
    int64_t listen_now;
};

static int load_task_cb(struct task *t, void *data)
{
    struct load_ctx *ctx = data;
    struct tasks *ts = ctx->ts;
    hmap_put(&ts->map, t); /* ids are the journal's primary key: no duplicates */
    set_request(t);
    ts->counts[t->state]++;
    char job[MSG_MAX_JOB + 1];
    size_t suffix;
    if (spec_job(t->spec, job, &suffix)) {
        struct job *jb = tasks_job(ts, job);
        if (!jb) {
            jb = tasks_job_new(ts, job, t->submitted_at);
            tasks_job_throttle(jb, spec_throttle(t->spec)); /* each of its tasks has it */
        }
        tasks_set_job(ts, t, jb); /* a running task counts against the throttle */
        /* j-N ids given out before are not given out again. */
        char *end;
        if (!strncmp(job, "j-", 2) && !job_name_free(job)) {
            uint64_t n = strtoull(job + 2, &end, 10);
            if (n >= ts->next_job && n < UINT64_MAX)
                ts->next_job = n + 1;
        }
    }
    if (t->seq >= ts->next_seq)
        ts->next_seq = t->seq + 1;
    if (t->lease >= ts->next_lease)
        ts->next_lease = t->lease + 1;
    if (t->state == TASK_QUEUED) {
        if (throttled(t))
            throttle_enter(ts, t, clock_wall_ms()); /* admitted once every task is in */
        else
            queue_push(&ts->queue, t, clock_wall_ms());
    } else if (t->state == TASK_RUNNING) {
        /* What is left of its timeout since it was dispatched (wall clock:
         * the only clock that survives the restart), from now. */
        int64_t timeout = spec_timeout_ms(t->spec);
        if (timeout > 0)
            set_deadline(ts, t, ctx->listen_now, MAX(1, t->started_at + timeout - clock_wall_ms()));
    } else if (t->state == TASK_BLOCKED) {
        /* Linked once every task is in: its dependencies may come later. */
        if (ts->nloaded_blocked == ts->loaded_blocked_cap) {
            ts->loaded_blocked_cap = ts->loaded_blocked_cap ? ts->loaded_blocked_cap * 2 : 64;
            ts->loaded_blocked =
                xrealloc(ts->loaded_blocked, ts->loaded_blocked_cap * sizeof(*ts->loaded_blocked));
        }
        ts->loaded_blocked[ts->nloaded_blocked++] = t;
    }
    return 0;
}

int tasks_load(struct tasks *ts, struct journal *j, struct jwriter *w, int64_t listen_now)
{
    uint64_t v = 0;
    struct load_ctx ctx = {ts, listen_now};
    ts->journal = j;
    ts->writer = w;
    if (journal_get_counter(ts->journal, "lease", &v) == 0 && v > ts->next_lease)
        ts->next_lease = v;
    ts->lease_bound = ts->lease_durable = ts->next_lease;
    if (journal_get_counter(ts->journal, "seq", &v) == 0 && v > ts->next_seq)
        ts->next_seq = v;
    ts->saved_seq = v; /* 0 (none yet) when the row is missing */
    if (journal_get_counter(ts->journal, "job", &v) == 0 && v > ts->next_job)
        ts->next_job = v;
    ts->saved_job = v;
    if (journal_load(ts->journal, load_task_cb, &ctx) != 0)
        return -1;
    /* Now that every running task is counted against its job's throttle. */
    for (size_t i = 0; i < ts->jobs.cap; i++) {
        struct job *jb = ts->jobs.slots[i];
        if (jb && jb->throttle)
            throttle_fill(ts, jb, clock_wall_ms());
    }
    /* In submission order, so what a restart settles (a dependency that
     * ended or is gone) it settles the same way every time. */
    for (size_t i = 0; i < ts->nloaded_blocked; i++)
        if (ts->loaded_blocked[i]->state == TASK_BLOCKED)
            tasks_link(ts, ts->loaded_blocked[i]);
    free(ts->loaded_blocked);
    ts->loaded_blocked = NULL;
    ts->nloaded_blocked = ts->loaded_blocked_cap = 0;
    return 0;
}

struct task *tasks_add(struct tasks *ts, const char *id, const char *spec, int64_t priority,
                       int max_retries, int64_t now_wall)
{
    struct task *t = task_new(id, spec, priority, max_retries, ts->next_seq++, now_wall);
    set_request(t);
    hmap_put(&ts->map, t);
    ts->counts[TASK_QUEUED]++;
    metrics_task_added(t);
    queue_push(&ts->queue, t, now_wall);
    jwriter_save_task(ts->writer, t);
    ts->dispatch_needed = true;
    return t;
}

struct task *tasks_add_blocked(struct tasks *ts, const char *id, const char *spec, int64_t priority,
                               int max_retries, int64_t now_wall)
{
    struct task *t = task_new(id, spec, priority, max_retries, ts->next_seq++, now_wall);
    t->state = TASK_BLOCKED;
    set_request(t);
    hmap_put(&ts->map, t);
    ts->counts[TASK_BLOCKED]++;
    metrics_task_added(t);
    jwriter_save_task(ts->writer, t);
    return t;
}

/* ---- jobs ----------------------------------------------------------------- */

struct job *tasks_job_new(struct tasks *ts, const char *name, int64_t now_wall)
{
    char id[32];
    if (!name) {
        do
            snprintf(id, sizeof(id), "j-%" PRIu64, ts->next_job++);
        while (tasks_job(ts, id));
        name = id;
    }
    size_t n = strlen(name);
    struct job *j = xcalloc(1, sizeof(*j) + n + 1);
    memcpy(j->id, name, n + 1);
    j->submitted_at = now_wall;
    j->first_seq = UINT64_MAX;
    held_init(&j->held);
    hmap_put(&ts->jobs, j);
    return j;
}

void tasks_job_throttle(struct job *j, uint32_t throttle)
{
    if (j->total)
        DTR_BUG("job %s throttled with %" PRIu64 " tasks", j->id, j->total);
    j->throttle = throttle;
}

struct job *tasks_job(const struct tasks *ts, const char *id)
{
    return hmap_get(&ts->jobs, id);
}

void tasks_job_drop(struct tasks *ts, struct job *j)
{
    if (j->total)
        DTR_BUG("job %s dropped with %" PRIu64 " tasks", j->id, j->total);
    hmap_del(&ts->jobs, j->id);
    held_release(&j->held);
    free(j);
}

static int cmp_job(const void *a, const void *b)
{
    const struct job *x = *(struct job *const *)a, *y = *(struct job *const *)b;
    return x->first_seq < y->first_seq ? -1 : x->first_seq > y->first_seq;
}

struct job **tasks_jobs(const struct tasks *ts, size_t *n)
{
    struct job **all = xcalloc(ts->jobs.len + 1, sizeof(*all));
    *n = 0;
    for (size_t i = 0; i < ts->jobs.cap; i++)
        if (ts->jobs.slots[i])
            all[(*n)++] = ts->jobs.slots[i];
    qsort(all, *n, sizeof(*all), cmp_job);
    return all;
}

void tasks_set_job(struct tasks *ts, struct task *t, struct job *j)
{
    if (t->job)
        DTR_BUG("task %s joins job %s while in %s", t->id, j->id, t->job->id);
    t->job = j;
    if (t->seq < j->first_seq) {
        j->first_seq = t->seq;
        j->submitted_at = t->submitted_at;
    }
    if (task_state_terminal(t->state))
        j->ended_at = MAX(j->ended_at, t->finished_at);
    job_count(ts, j, -1, (int)t->state);
    if (!j->throttle)
        return;
    if (t->state == TASK_RUNNING) {
        j->admitted++; /* loaded running: it counts until it ends or is lost */
    } else if (t->state == TASK_QUEUED && queue_holds(&ts->queue, t)) {
        /* Just submitted (tasks_add() queued it): its turn comes through
         * the throttle. A loaded task is not in the queue yet. */
        int64_t now = clock_wall_ms();
        queue_remove(&ts->queue, t);
        throttle_enter(ts, t, now);
        throttle_fill(ts, j, now);
    }
}

/* ---- dependencies --------------------------------------------------------- */

static void add_dependent(struct tasks *ts, struct task *dep, struct task *t, bool any)
{
    struct dependents *d = hmap_get(&ts->dependents, dep->id);
    if (!d || d->n == d->cap) {
        /* Grows by doubling, so the map sees a moved block rarely. */
        uint32_t cap = d ? d->cap * 2 : 1;
        if (d)
            hmap_del(&ts->dependents, dep->id);
        d = xrealloc(d, sizeof(*d) + cap * sizeof(d->v[0]));
        if (cap == 1)
            d->n = 0;
        d->id = dep->id;
        d->cap = cap;
        hmap_put(&ts->dependents, d);
    }
    d->v[d->n++] = (struct dependent){t, any};
    t->dep_refs++;
    t->unmet++;
}

/* Cancels blocked task t because its dependency dep ended badly. */
static void dependency_failed(struct tasks *ts, struct task *t, const struct task *dep)
{
    char err[300];
    snprintf(err, sizeof(err), "dependency %s %s", dep->id,
             dep->state == TASK_CANCELLED ? "was cancelled" : "failed");
    task_set_error(t, err);
    log_debug("task cancelled: a dependency did not succeed task=%s dependency=%s", t->id, dep->id);
    tasks_transition(ts, t, TASK_CANCELLED);
}

void tasks_link(struct tasks *ts, struct task *t)
{
    char **after, **after_any;
    size_t nafter, nafter_any;
    const struct task *bad = NULL;
    if (t->state != TASK_BLOCKED)
        DTR_BUG("task %s linked while %s", t->id, task_state_name(t->state));
    if (spec_deps(t->spec, &after, &nafter, &after_any, &nafter_any) != 0)
        DTR_BUG("task %s: the dependencies of its spec cannot be read", t->id);
    for (size_t i = 0; i < nafter + nafter_any; i++) {
        bool any = i >= nafter;
        const char *id = any ? after_any[i - nafter] : after[i];
        struct task *dep = tasks_find(ts, id);
        if (!dep) {
            /* Only at load (a submit refuses unknown ids): the dependency
             * was pruned, so it ended, and not badly, or this task would
             * have been cancelled in a commit before the prune. */
        } else if (!task_state_terminal(dep->state)) {
            add_dependent(ts, dep, t, any);
        } else if (!any && dep->state != TASK_SUCCEEDED && !bad) {
            bad = dep;
        }
    }
    if (bad)
        dependency_failed(ts, t, bad);
    else if (t->unmet == 0)
        tasks_transition(ts, t, TASK_QUEUED);
    spec_free_ids(after, nafter);
    spec_free_ids(after_any, nafter_any);
}

/*
 * Task t ended for good: settles the tasks that wait for it, and theirs in
 * turn when that ends them, through a work list rather than recursion (a
 * chain of a million tasks must not need a million stack frames). Each
 * edge is visited once: O(edges), never a scan of the table.
 */
static void dependency_ended(struct tasks *ts, struct task *t)
{
    if (ts->dep_work_len == ts->dep_work_cap) {
        ts->dep_work_cap = ts->dep_work_cap ? ts->dep_work_cap * 2 : 16;
        ts->dep_work = xrealloc(ts->dep_work, ts->dep_work_cap * sizeof(*ts->dep_work));
    }
    ts->dep_work[ts->dep_work_len++] = t;
    if (ts->dep_walking)
        return; /* the walk below takes it */
    ts->dep_walking = true;
    for (size_t k = 0; k < ts->dep_work_len; k++) {
        struct task *dep = ts->dep_work[k];
        struct dependents *d = hmap_del(&ts->dependents, dep->id);
        if (!d)
            continue;
        for (uint32_t i = 0; i < d->n; i++) {
            struct task *w = d->v[i].t;
            w->dep_refs--;
            if (w->state != TASK_BLOCKED)
                continue; /* cancelled already, by another dependency or a user */
            if (dep->state == TASK_SUCCEEDED || d->v[i].any) {
                if (--w->unmet == 0)
                    tasks_transition(ts, w, TASK_QUEUED); /* keeps its priority and seq */
            } else {
                dependency_failed(ts, w, dep); /* appends w to the work list */
            }
        }
        free(d);
    }
    ts->dep_work_len = 0;
    ts->dep_walking = false;
}

/* ---- reading -------------------------------------------------------------- */

struct task *tasks_find(const struct tasks *ts, const char *id)
{
    return hmap_get(&ts->map, id);
}

struct task *tasks_find_stored(const struct tasks *ts, const char *id)
{
    struct task *t = hmap_get(&ts->map, id);
    if (t && task_state_terminal(t->state) && t->finished_at < ts->pruned_before)
        return NULL;
    return t;
}

static int cmp_seq(const void *a, const void *b)
{
    const struct task *x = *(struct task *const *)a, *y = *(struct task *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct task **tasks_list(const struct tasks *ts, int state, size_t *n)
{
    struct task **all = xcalloc(ts->map.len + 1, sizeof(*all));
    *n = 0;
    for (size_t i = 0; i < ts->map.cap; i++) {
        struct task *t = ts->map.slots[i];
        if (t && (state < 0 || (int)t->state == state))
            all[(*n)++] = t;
    }
    qsort(all, *n, sizeof(*all), cmp_seq);
    return all;
}

size_t tasks_ready(const struct tasks *ts)
{
    return queue_ready_len(&ts->queue);
}

/* ---- the transition ------------------------------------------------------- */

int tasks_transition(struct tasks *ts, struct task *t, enum task_state to)
{
    enum task_state from = t->state;
    int64_t now = clock_wall_ms();
    if (from == TASK_RUNNING && !list_empty(&t->worker_node))
        DTR_BUG("task %s leaves running while still on a worker", t->id);
    if (task_set_state(t, to, now) != 0) {
        log_error("refused illegal transition task=%s from=%s to=%s", t->id, task_state_name(from),
                  task_state_name(to));
        return DTR_EINVAL;
    }
    ts->counts[from]--;
    ts->counts[to]++;
    metrics_task_moved(t, from, to, now);
    if (t->job) {
        if (task_state_terminal(to))
            t->job->ended_at = MAX(t->job->ended_at, t->finished_at);
        job_count(ts, t->job, (int)from, (int)to);
    }
    bool throttle = throttled(t);
    if (from == TASK_QUEUED)
        leave_queue(ts, t, to, throttle);
    if (from == TASK_RUNNING) {
        deadlines_remove(&ts->deadlines, t);
        t->deadline = 0;
        t->lease = 0;
        ts->dispatch_needed = true; /* a slot is free */
        if (throttle)
            t->job->admitted--;
    }
    if (to == TASK_QUEUED) {
        if (throttle)
            throttle_enter(ts, t, now);
        else
            queue_push(&ts->queue, t, now);
        ts->dispatch_needed = true;
    }
    /* A release is not journaled: a restart links the task again and finds
     * its dependencies ended (see tasks_link()), so a DAG costs no more
     * journal writes per task than independent tasks. */
    if (!(from == TASK_BLOCKED && to == TASK_QUEUED))
        jwriter_update_task(ts->writer, t);
    /* A task ends once (terminal states have no way out), and it is on no
     * worker by now, so its worker_node is free to hold it here. */
    if (task_state_terminal(to)) {
        list_add_tail(&ts->ended, &t->worker_node);
        dependency_ended(ts, t);
    }
    /* Last, so that the tasks its end released compete for its place. */
    if (throttle)
        throttle_fill(ts, t->job, now);
    return 0;
}

struct task *tasks_take_ended(struct tasks *ts)
{
    if (list_empty(&ts->ended))
        return NULL;
    struct task *t = list_entry(ts->ended.next, struct task, worker_node);
    list_del(&t->worker_node);
    return t;
}

/* ---- attempts ------------------------------------------------------------- */

struct task *tasks_take_ready(struct tasks *ts)
{
    return queue_pop(&ts->queue);
}

void tasks_put_back(struct tasks *ts, struct task *t)
{
    queue_push(&ts->queue, t, clock_wall_ms());
}

void tasks_park(struct tasks *ts, struct task *t, const char *why)
{
    if (!t->waiting || strcmp(t->waiting, why))
        log_debug("task fits no connected worker task=%s reason=%s", t->id, log_quote(why));
    free(t->waiting);
    t->waiting = xstrdup(why);
    list_add_tail(&ts->parked, &t->worker_node);
    ts->nparked++;
}

void tasks_unpark_all(struct tasks *ts)
{
    int64_t now = clock_wall_ms();
    while (!list_empty(&ts->parked)) {
        struct task *t = list_entry(ts->parked.next, struct task, worker_node);
        list_del(&t->worker_node);
        ts->nparked--;
        /* Looked at again: the next dispatch pass parks it anew (with the
         * reason then) or places it. */
        free(t->waiting);
        t->waiting = NULL;
        queue_push(&ts->queue, t, now);
        ts->dispatch_needed = true;
    }
}

void tasks_dispatch_taken(struct tasks *ts, struct task *t, const char *worker_id,
                          int64_t listen_now)
{
    free(t->waiting);
    t->waiting = NULL;
    t->attempts++;
    t->lease = ts->next_lease++;
    t->not_before = 0;
    task_set_worker(t, worker_id);
    tasks_transition(ts, t, TASK_RUNNING);
    set_deadline(ts, t, listen_now, spec_timeout_ms(t->spec));
}

struct task *tasks_dispatch(struct tasks *ts, const char *worker_id, int64_t listen_now)
{
    struct task *t = queue_peek(&ts->queue);
    if (!t)
        return NULL;
    t->attempts++;
    t->lease = ts->next_lease++;
    t->not_before = 0;
    task_set_worker(t, worker_id);
    tasks_transition(ts, t, TASK_RUNNING);
    set_deadline(ts, t, listen_now, spec_timeout_ms(t->spec));
    return t;
}

void tasks_attempt_undone(struct tasks *ts, struct task *t)
{
    t->attempts--;
    tasks_transition(ts, t, TASK_QUEUED);
}

void tasks_attempt_lost(struct tasks *ts, struct task *t, const char *why)
{
    char err[512];
    t->crashes++;
    if (t->crashes >= TASK_CRASH_LIMIT) {
        snprintf(err, sizeof(err), "lost its worker %d times (crash limit); last: worker '%s' %s",
                 t->crashes, t->worker ? t->worker : "?", why);
        task_set_error(t, err);
        log_warn("task failed: crash limit reached task=%s crashes=%d", t->id, t->crashes);
        tasks_transition(ts, t, TASK_FAILED);
        return;
    }
    snprintf(err, sizeof(err), "worker '%s' %s", t->worker ? t->worker : "?", why);
    task_set_error(t, err);
    log_info("re-queued task of a lost worker task=%s worker=%s crashes=%d", t->id,
             t->worker ? t->worker : "?", t->crashes);
    metrics.crash_requeued++;
    tasks_transition(ts, t, TASK_QUEUED);
}

/* The current attempt of running task t failed with `error` (already set
 * as t->error): retry after a backoff while retries are left, else fail. */
static void attempt_failed(struct tasks *ts, struct task *t, const char *error)
{
    int failures = t->attempts - t->crashes;
    if (failures <= t->max_retries) {
        int64_t delay =
            task_backoff_ms(failures, BACKOFF_BASE_MS, BACKOFF_CAP_MS, (uint32_t)random());
        t->not_before = clock_wall_ms() + delay;
        log_info("attempt failed; retrying task=%s attempt=%d worker=%s delay_ms=%" PRId64
                 " error=%s",
                 t->id, t->attempts, t->worker ? t->worker : "?", delay, log_quote(t->error));
        metrics.retried++;
        tasks_transition(ts, t, TASK_QUEUED);
        return;
    }
    char err[1024];
    snprintf(err, sizeof(err), "failed after %d attempts; last: %s", failures, error);
    task_set_error(t, err);
    log_warn("task failed task=%s attempts=%d worker=%s error=%s", t->id, t->attempts,
             t->worker ? t->worker : "?", log_quote(error));
    tasks_transition(ts, t, TASK_FAILED);
}

void tasks_attempt_result(struct tasks *ts, struct task *t, const struct attempt_result *r)
{
    if (r->started_at > 0)
        t->started_at = r->started_at; /* when it really started, not when it was sent */
    t->exit_code = r->exit_code;
    task_set_error(t, r->ok ? NULL : r->error ? r->error : "attempt failed");
    /* An empty first attempt has nothing to store (noop tasks): skip the row.
     * A later attempt always writes, replacing an earlier attempt's output. */
    bool empty = !r->out.out_len && !r->out.err_len && !r->out.out_truncated &&
                 !r->out.err_truncated && (!r->out.result || !strcmp(r->out.result, "null"));
    if (!empty || t->attempts > 1)
        jwriter_save_output(ts->writer, t->id, &r->out);
    if (r->ok) {
        log_debug("task succeeded task=%s attempt=%d worker=%s", t->id, r->attempt,
                  t->worker ? t->worker : "?");
        tasks_transition(ts, t, TASK_SUCCEEDED);
        return;
    }
    attempt_failed(ts, t, r->error ? r->error : "attempt failed");
}

void tasks_attempt_expired(struct tasks *ts, struct task *t, const char *error)
{
    t->exit_code = -1;
    task_set_error(t, error);
    attempt_failed(ts, t, error);
}

void tasks_cancel(struct tasks *ts, struct task *t)
{
    task_set_error(t, "cancelled");
    tasks_transition(ts, t, TASK_CANCELLED);
}

/* ---- time ----------------------------------------------------------------- */

void tasks_promote(struct tasks *ts, int64_t now_wall)
{
    struct task *t;
    while ((t = queue_pop_due(&ts->queue, now_wall))) {
        if (throttled(t)) {
            throttle_enter(ts, t, now_wall); /* a retry waits for its turn again */
            throttle_fill(ts, t->job, now_wall);
        } else {
            queue_push(&ts->queue, t, now_wall);
            ts->dispatch_needed = true;
        }
    }
}

struct task *tasks_expired(struct tasks *ts, int64_t now)
{
    struct task *t = deadlines_first(&ts->deadlines);
    if (!t || t->deadline > now)
        return NULL;
    deadlines_remove(&ts->deadlines, t);
    return t;
}

/* ---- the journal ---------------------------------------------------------- */

/*
 * The next seq (t-N) and job (j-N) are not journaled as they move: a
 * restart finds them past every task loaded (load_task_cb()), and each
 * submit's commit wrote one page more for them (a quarter of a lone
 * task's commit). Only a prune can take away the tasks that hold the
 * highest numbers, so it records both first, in its own transaction
 * (tasks_prune()). Leases are another matter: a worker may hold one whose
 * task record never reached the disk.
 */
void tasks_save_counters(struct tasks *ts)
{
    if (ts->next_lease + LEASE_BLOCK / 2 > ts->lease_bound) {
        ts->lease_bound = ts->next_lease + LEASE_BLOCK;
        jwriter_set_counter(ts->writer, "lease", ts->lease_bound);
        ts->lease_bound_epoch = jwriter_open_epoch(ts->writer);
    }
}

bool tasks_lease_durable(const struct tasks *ts, uint64_t l)
{
    return l < ts->lease_durable;
}

uint64_t tasks_open_epoch(const struct tasks *ts)
{
    return jwriter_open_epoch(ts->writer);
}

void tasks_committed(struct tasks *ts, uint64_t done)
{
    if (ts->lease_bound_epoch && done >= ts->lease_bound_epoch) {
        ts->lease_durable = ts->lease_bound;
        ts->lease_bound_epoch = 0;
    }
}

void tasks_get_output(struct tasks *ts, const struct task *t, struct task_output *o)
{
    tasks_sync(ts); /* the output may still be on its way to disk */
    if (journal_get_output(ts->journal, t->id, o) != 0)
        memset(o, 0, sizeof(*o));
}

void tasks_save_attempt(struct tasks *ts, const struct journal_attempt *a)
{
    jwriter_save_attempt(ts->writer, a);
}

void tasks_get_attempts(struct tasks *ts, const char *id, struct journal_attempt **out, size_t *n)
{
    tasks_sync(ts);
    if (journal_get_attempts(ts->journal, id, out, n) != 0) {
        *out = NULL;
        *n = 0;
    }
}

void tasks_prune(struct tasks *ts, int64_t now_wall, int64_t keep_ms)
{
    int64_t cutoff = now_wall - keep_ms;
    uint64_t n = 0;
    char err[512];
    tasks_sync(ts);
    if (ts->prune_lease &&
        journal_pruned_leases(ts->journal, cutoff, ts->prune_lease, ts->prune_arg) != 0)
        tasks_journal_failed("cannot list the attempts of pruned tasks");
    /* The numbers the pruned tasks held are never given out again; written
     * only when they moved, so that an idle master's prune writes nothing. */
    bool moved = ts->next_seq != ts->saved_seq || ts->next_job != ts->saved_job;
    if (jwriter_replicated(ts->writer)) {
        /* In a group every member prunes alike, in log order. */
        if (moved) {
            jwriter_set_counter(ts->writer, "seq", ts->next_seq);
            jwriter_set_counter(ts->writer, "job", ts->next_job);
        }
        jwriter_prune(ts->writer, cutoff);
        n = 1; /* how many is not known here: look */
    } else {
        if ((moved && (journal_set_counter(ts->journal, "seq", ts->next_seq) != 0 ||
                       journal_set_counter(ts->journal, "job", ts->next_job) != 0)) ||
            journal_prune(ts->journal, cutoff, &n) != 0)
            tasks_journal_failed("cannot prune finished tasks");
        if (journal_commit(ts->journal, err, sizeof(err)) != 0)
            tasks_journal_failed(err);
    }
    ts->saved_seq = ts->next_seq;
    ts->saved_job = ts->next_job;
    ts->pruned_before = MAX(ts->pruned_before, cutoff);
    if (n == 0 && !ts->prune_kept)
        return;
    /* Collect first, delete after: deleting from the map while walking its
     * slots would move items under the walk. A task still on the ended list
     * stays until the waiters have seen it (the next prune takes it). */
    struct task **old = xcalloc(ts->map.len + 1, sizeof(*old));
    size_t nold = 0;
    ts->prune_kept = false;
    for (size_t i = 0; i < ts->map.cap; i++) {
        struct task *t = ts->map.slots[i];
        if (!t || !task_state_terminal(t->state) || !t->finished_at || t->finished_at >= cutoff)
            continue;
        /* Still on a live task's list of dependents: freed by a later prune. */
        if (list_empty(&t->worker_node) && !t->dep_refs)
            old[nold++] = t;
        else
            ts->prune_kept = true;
    }
    for (size_t i = 0; i < nold; i++) {
        hmap_del(&ts->map, old[i]->id);
        ts->counts[old[i]->state]--;
        if (old[i]->job)
            job_count(ts, old[i]->job, (int)old[i]->state, -1); /* the last one frees it */
        task_free(old[i]);
    }
    free(old);
    if (n && !jwriter_replicated(ts->writer))
        log_info("pruned finished tasks count=%" PRIu64, n);
}
