/* SPDX-License-Identifier: MIT */
/*
 * The master's view of a task: its spec (canonical JSON, opaque here), its
 * place in the queue and the state of its current attempt. Outputs (stdout,
 * stderr, result) are not kept here: they go straight to the journal.
 *
 * task_set_state() is the one place a task's state changes; it refuses the
 * transitions that docs/task-states.dot does not draw.
 */
#ifndef DTR_SCHED_TASK_H
#define DTR_SCHED_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/list.h"

enum task_state {
    TASK_QUEUED,
    TASK_RUNNING,
    TASK_SUCCEEDED,
    TASK_FAILED,
    TASK_CANCELLED,
    /* Waits for its dependencies (spec fields after, after_any). Last, so
     * the journal's integers for the other states stay what they were. */
    TASK_BLOCKED,
    TASK_NSTATES
};

#define TASK_DEFAULT_PRIORITY 2
#define TASK_DEFAULT_RETRIES 3
#define TASK_CRASH_LIMIT 5
#define TASK_MAX_RETRIES 1000

struct job; /* master/tasks.h */

struct task {
    const char *id;   /* points into this allocation (see task_new) */
    const char *spec; /* canonical spec JSON from spec_encode(); trusted; same */
    int64_t priority;
    uint64_t seq; /* submission order: the tie-break within a priority */
    int max_retries;

    enum task_state state;
    int attempts;   /* attempts started so far */
    int crashes;    /* attempts lost with their worker (do not spend a retry) */
    uint64_t lease; /* fences the current attempt; 0 when none is running */
    char *worker;   /* worker id of the current or last attempt, or NULL */
    int exit_code;  /* of the last finished attempt; -1 when none or killed */
    /* Wall-clock ms it last became queued, modulo 2^32 (a dispatch latency
     * fits, and so does the hole after exit_code: no byte per task more);
     * 0 = unknown (loaded). */
    uint32_t queued_ms;
    char *error;                                   /* why the last attempt failed, or NULL */
    int64_t submitted_at, started_at, finished_at; /* wall-clock ms; 0 = not yet */
    int64_t not_before; /* wall-clock ms: retry backoff, not dispatched before this */
    int64_t deadline;   /* running: the master's listening ms past which it expires
                         * the attempt (timeout plus a grace); 0 = none */

    /* Bookkeeping owned by the queue and the master's task table. */
    size_t heap_index; /* position in whichever heap holds the task */
    /* Dependencies (master/tasks.c): while blocked, the dependencies not
     * yet met; and how many dependents lists of live tasks point here (a
     * task is kept in memory until none does). */
    uint32_t unmet;
    uint32_t dep_refs;
    /* The job the task belongs to (its spec names it), or NULL: owned by the
     * master's task table. */
    struct job *job;
    /* What it needs (sched/resources.h), read from its spec when it is
     * added or loaded; NULL: the default of one CPU. While queued but
     * placeable on no connected worker (master/tasks.c, "parked"): why, or
     * NULL. */
    struct request *req;
    char *waiting;
    /* While running: on its worker's list (master/workers.c). Once ended:
     * on the task table's ended list until the waiters drain it
     * (master/tasks.c). A task is never on both. */
    struct list worker_node;
    char text[]; /* id and spec, NUL-terminated, back to back */
};

/* Allocates a queued task, copying id and spec into the same allocation
 * (a million queued tasks are a million allocations, not three million). */
struct task *task_new(const char *id, const char *spec, int64_t priority, int max_retries,
                      uint64_t seq, int64_t now_ms);
void task_free(struct task *t);

const char *task_state_name(enum task_state s);
/* Returns the state for a name ("queued", ...), or -1 when unknown. */
int task_state_parse(const char *name);
static inline bool task_state_terminal(enum task_state s)
{
    return s >= TASK_SUCCEEDED && s <= TASK_CANCELLED;
}

/*
 * Moves t to state `to` at wall-clock time now_ms, stamping started_at or
 * finished_at. Returns 0, or DTR_EINVAL when the transition is illegal (the
 * task is unchanged). Legal: queued->running|cancelled|failed,
 * running->queued|succeeded|failed|cancelled, blocked->queued|cancelled.
 */
int task_set_state(struct task *t, enum task_state to, int64_t now_ms);

/* Replaces t->error (NULL clears it). */
void task_set_error(struct task *t, const char *error);
void task_set_worker(struct task *t, const char *worker_id);

/*
 * Retry backoff for the attempt that just failed (attempt is 1-based):
 * base * 2^(attempt-1), capped at cap_ms, with up to 25% jitter taken from
 * `random` (any uint32). Pure: the caller passes the randomness.
 */
int64_t task_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms, uint32_t random);

#endif
