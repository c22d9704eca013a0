/* SPDX-License-Identifier: MIT */
/*
 * The master's task table: every task in memory by id, the queue, the
 * deadlines of running attempts, the per-state counters and the sequence
 * numbers (seq, lease). Its functions are the only doors through which a
 * task, a counter or the queue changes, and every change is journaled
 * through the writer here. It knows nothing of workers, clients or sockets:
 * what a change means for them it leaves for the caller to read (a task
 * that ended goes on the ended list; dispatch_needed says work can move).
 */
#ifndef DTR_MASTER_TASKS_H
#define DTR_MASTER_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hmap.h"
#include "common/list.h"
#include "journal/journal.h"
#include "journal/writer.h"
#include "proto/msg.h"
#include "sched/queue.h"
#include "sched/task.h"

/*
 * A job: the tasks of one `dtr submit` call (every submit message makes one,
 * or joins the one its call made first). Its tasks name it in their specs
 * (spec_job()), so the journal needs no table of jobs: tasks_load() builds
 * them again, and a job whose last task is pruned is gone.
 */
struct job {
    uint64_t counts[TASK_NSTATES]; /* its tasks in memory per state */
    uint64_t total;                /* their sum */
    uint64_t first_seq;            /* of its first task: jobs are listed in this order */
    int64_t submitted_at;          /* of its first task */
    int64_t ended_at;              /* the latest finished_at of its tasks */
    /* The throttle (--array A-B%N; 0: none), from the submit that made the
     * job and in every task's spec (spec_throttle()): at most `throttle`
     * of its tasks are admitted, that is in the ready heap or running;
     * its other queued tasks that are due wait in `held`, and one moves
     * to the ready heap each time an admitted task leaves (it ends, is
     * re-queued or cancelled). Kept by tasks_transition(). */
    uint32_t throttle;
    uint32_t admitted;
    struct heap held;
    char id[];
};

/* A job has a task left to end (blocked, queued or running). */
static inline bool job_active(const struct job *j)
{
    return j->counts[TASK_QUEUED] + j->counts[TASK_RUNNING] + j->counts[TASK_BLOCKED] > 0;
}

struct tasks {
    /* Read-only outside tasks.c. */
    struct hmap map;               /* every task in memory, by id */
    uint64_t counts[TASK_NSTATES]; /* tasks in memory per state */
    uint64_t next_seq;             /* the seq the next task added gets */
    /* Set here when a task was queued or a slot freed, and by whoever
     * else makes work possible; workers_dispatch() clears it. */
    bool dispatch_needed;
    struct hmap jobs;                 /* struct job by id */
    uint64_t jobs_active, jobs_ended; /* job_active() or not */
    uint64_t next_job;                /* N of the next j-N */

    /* Private. */
    struct queue queue;
    struct deadlines deadlines; /* running attempts with a timeout */
    uint64_t next_lease;
    uint64_t saved_seq, saved_job; /* as the journal's counters hold them (tasks_prune) */
    /* Leases are reserved in the journal LEASE_BLOCK at a time: the
     * counter holds a bound that no lease given out reaches, so a restarted
     * master never gives out again one that a worker may hold, durable or
     * not. lease_durable is the bound known committed (every lease under it
     * is safe to send before its own record is: tasks_lease_durable()). */
    uint64_t lease_bound, lease_durable;
    uint64_t lease_bound_epoch; /* the commit that makes lease_bound durable; 0: none due */
    struct list ended;          /* through task->worker_node: see tasks_take_ended */
    bool prune_kept;            /* the last prune left ended tasks in memory */
    int64_t pruned_before;      /* the journal holds no task that ended before this */
    int64_t grace_ms;
    struct journal *journal;
    struct jwriter *writer;
    /* Called by tasks_prune() for each attempt record it deletes (the
     * master deletes the attempt's output files); may be NULL. */
    void (*prune_lease)(void *arg, uint64_t lease);
    void *prune_arg;
    /* The dependency graph: for each live task that blocked tasks wait
     * for, the list of them (struct dependents, keyed by the borrowed id
     * of the task waited for). Rebuilt from the specs on load. */
    struct hmap dependents;
    struct task **dep_work; /* tasks that ended, whose dependents are next */
    size_t dep_work_len, dep_work_cap;
    bool dep_walking;
    /* Queued tasks that fit no connected worker (placement, issue 13):
     * out of the queue, through task->worker_node, each with its reason in
     * task->waiting, until tasks_unpark_all() (a worker joined). */
    struct list parked;
    uint64_t nparked;
    struct task **loaded_blocked; /* during tasks_load only */
    size_t nloaded_blocked, loaded_blocked_cap;
};

/*
 * Sets up an empty table. grace_ms is what a running attempt gets past its
 * timeout before its deadline passes (workers_timeout_grace_ms()).
 */
void tasks_init(struct tasks *ts, int64_t grace_ms);
/* Whether lease l lies under a bound known committed, so that a run for
 * it may leave before its attempt's record is durable (workers.c). */
bool tasks_lease_durable(const struct tasks *ts, uint64_t l);
/* The journal has committed up to epoch done (master.c, release_durable). */
void tasks_committed(struct tasks *ts, uint64_t done);
/* The epoch of the journal batch that what is recorded now goes into. */
uint64_t tasks_open_epoch(const struct tasks *ts);
/* Frees every task in the table. Workers must have unlinked theirs. */
void tasks_release(struct tasks *ts);

/*
 * Start-up recovery: loads every task of journal j (queued tasks back into
 * the queue; running ones keep what is left of their timeout, from
 * listen_now on the listening clock) and the sequence numbers; from then on
 * the table records its changes through j's writer w (neither is owned).
 * Returns 0, or -1 when the journal cannot be read. The caller attaches the
 * running tasks to their workers (tasks_list(ts, TASK_RUNNING, ...)).
 */
int tasks_load(struct tasks *ts, struct journal *j, struct jwriter *w, int64_t listen_now);

/*
 * Submit: adds a queued task with the next seq, copying id and spec
 * (canonical JSON). The id must not be in the table. Returns the task, which
 * the table owns.
 */
struct task *tasks_add(struct tasks *ts, const char *id, const char *spec, int64_t priority,
                       int max_retries, int64_t now_wall);
/* Puts task t, just added, in job j (which its spec must name). */
void tasks_set_job(struct tasks *ts, struct task *t, struct job *j);

/*
 * Submit of a task with dependencies: adds it blocked, like tasks_add.
 * Once every task of its batch is added, tasks_link() it.
 */
struct task *tasks_add_blocked(struct tasks *ts, const char *id, const char *spec, int64_t priority,
                               int max_retries, int64_t now_wall);
/*
 * Links blocked task t to the dependencies its spec names (every one of
 * them must be in the table, or t is cancelled as depending on an unknown
 * task): a dependency that already succeeded (or, for after_any, ended) is
 * met; one that failed or was cancelled cancels t, with its dependents;
 * when none is left unmet t is queued. tasks_load() links the tasks it
 * loads blocked itself.
 */
void tasks_link(struct tasks *ts, struct task *t);

/*
 * Makes an empty job: named `name`, or j-N with the next N when name is
 * NULL. The id must not be taken (tasks_job()). The job lives as long as it
 * has a task: give it one in the same turn (tasks_add(), tasks_add_blocked()).
 */
struct job *tasks_job_new(struct tasks *ts, const char *name, int64_t now_wall);
/* Gives job j, just made and still without a task, its throttle (0: none). */
void tasks_job_throttle(struct job *j, uint32_t throttle);
/* The job with this id, or NULL. */
struct job *tasks_job(const struct tasks *ts, const char *id);
/* Every job, in submission order, as an array of *n borrowed pointers that
 * the caller frees (never NULL). */
struct job **tasks_jobs(const struct tasks *ts, size_t *n);
/* An empty job that got no task (its submit was refused): forgets it. */
void tasks_job_drop(struct tasks *ts, struct job *j);

/* The task with this id, or NULL. */
struct task *tasks_find(const struct tasks *ts, const char *id);
/* The same, but NULL for a task already pruned from the journal and only
 * kept in memory a while longer: what a new dependency may name. */
struct task *tasks_find_stored(const struct tasks *ts, const char *id);
/* The tasks in state `state` (-1: all), in submission order, as an array of
 * *n borrowed pointers that the caller frees (never NULL). */
struct task **tasks_list(const struct tasks *ts, int state, size_t *n);
/* Queued tasks whose backoff is over. */
size_t tasks_ready(const struct tasks *ts);

/*
 * The one place a task changes state: checks the move (task_set_state()),
 * keeps the counters right, takes the task out of the queue when it leaves
 * `queued` and puts it back when it returns, revokes the lease and the
 * deadline when it leaves `running`, and journals it. A task that ends goes
 * on the ended list. A task leaving `running` must have been detached from
 * its worker first (workers.c). Returns 0, or DTR_EINVAL (logged) when the
 * move is illegal and nothing changed.
 */
int tasks_transition(struct tasks *ts, struct task *t, enum task_state to);

/*
 * Starts an attempt of the first ready task on worker worker_id: a fresh
 * lease, one more attempt, the deadline of its timeout from listen_now.
 * Returns the task, now running, or NULL when none is ready. The caller
 * attaches it to the worker.
 */
struct task *tasks_dispatch(struct tasks *ts, const char *worker_id, int64_t listen_now);

/*
 * Placement (workers_dispatch, sched/place.c) looks past the head of the
 * queue: tasks_take_ready() takes the next ready task out of the queue (NULL
 * when none); the caller then either starts it (tasks_dispatch_taken()),
 * parks it (tasks_park(): it fits no connected worker, `why` says so), or
 * puts it back (tasks_put_back()). tasks_unpark_all() queues every parked
 * task again: a worker joined.
 */
struct task *tasks_take_ready(struct tasks *ts);
void tasks_dispatch_taken(struct tasks *ts, struct task *t, const char *worker_id,
                          int64_t listen_now);
void tasks_put_back(struct tasks *ts, struct task *t);
void tasks_park(struct tasks *ts, struct task *t, const char *why);
void tasks_unpark_all(struct tasks *ts);
/* The running attempt never ran (refused by its worker, or it never reached
 * it): it does not count; back to the queue. */
void tasks_attempt_undone(struct tasks *ts, struct task *t);
/* The running attempt was lost with its worker (`why` ends the error):
 * re-queued without spending a retry, or failed at TASK_CRASH_LIMIT. */
void tasks_attempt_lost(struct tasks *ts, struct task *t, const char *why);
/* The worker reported the running attempt's result r (its output goes to
 * the journal): succeeded, or retried or failed by the retry rules. */
void tasks_attempt_result(struct tasks *ts, struct task *t, const struct attempt_result *r);
/* The master expired the running attempt with `error`: a failed attempt. */
void tasks_attempt_expired(struct tasks *ts, struct task *t, const char *error);
/* Cancels a queued or running (detached) task. */
void tasks_cancel(struct tasks *ts, struct task *t);

/* Moves the queued tasks whose backoff is over at now_wall to the ready
 * queue (and asks for a dispatch when any moved). */
void tasks_promote(struct tasks *ts, int64_t now_wall);
/* Takes out and returns the running attempt with the earliest deadline when
 * that deadline is at or before now (listening clock), else NULL. */
struct task *tasks_expired(struct tasks *ts, int64_t now);

/*
 * Takes the next task off the ended list (the tasks that ended since the
 * list was last drained, oldest first), or NULL. Waiters drain it every
 * turn; until they have, an ended task is kept from pruning.
 */
struct task *tasks_take_ended(struct tasks *ts);

/* Deletes the tasks that ended before now_wall - keep_ms, from the journal
 * and from memory. Runs on the loop thread after draining the writer. */
void tasks_prune(struct tasks *ts, int64_t now_wall, int64_t keep_ms);

/* Journals a new lease bound when the leases near it (once a turn). */
void tasks_save_counters(struct tasks *ts);
/* Fills *o with t's stored output, once everything recorded is on disk;
 * all empty when there is none. The caller releases *o. */
void tasks_get_output(struct tasks *ts, const struct task *t, struct task_output *o);
/* Attempt records (journal.h, struct journal_attempt), for master/output.c:
 * records one in this turn's batch; reads t's records once everything
 * recorded is on disk (caller frees with journal_attempts_free). */
void tasks_save_attempt(struct tasks *ts, const struct journal_attempt *a);
void tasks_get_attempts(struct tasks *ts, const char *id, struct journal_attempt **out, size_t *n);
/* Waits until the writer has committed everything recorded so far. */
void tasks_sync(struct tasks *ts);

/* The journal cannot be written: stops the process at once (_exit(1)), so
 * nothing held for the failed commit is ever acknowledged. */
void tasks_journal_failed(const char *what);

#endif
