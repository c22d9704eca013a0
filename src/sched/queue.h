/* SPDX-License-Identifier: MIT */
/*
 * The ready queue: a binary heap of queued tasks, highest priority first and
 * submission order (seq) within a priority. A second heap holds tasks waiting
 * out a retry backoff, ordered by not_before. Both are O(log n) and store the
 * position in task->heap_index so a task can be removed from the middle
 * (cancel). Pure: no clock reads, times are passed in. The queue does not own
 * the tasks.
 */
#ifndef DTR_SCHED_QUEUE_H
#define DTR_SCHED_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/task.h"

struct heap {
    struct task **items;
    size_t len, cap;
    /* true when a should come out before b */
    int (*before)(const struct task *a, const struct task *b);
};

/*
 * Queue depth by priority (GET /metrics): the ready heap's tasks counted
 * per bucket as they enter and leave it. Priorities QUEUE_PRIO_LOW..
 * QUEUE_PRIO_HIGH have a bucket each; lower ones share bucket 0, higher
 * ones the last, so a scrape has at most QUEUE_PRIO_BUCKETS series.
 */
#define QUEUE_PRIO_LOW (-10)
#define QUEUE_PRIO_HIGH 10
#define QUEUE_PRIO_BUCKETS (QUEUE_PRIO_HIGH - QUEUE_PRIO_LOW + 3)

struct queue {
    struct heap ready;                  /* queued and due */
    struct heap delayed;                /* queued but not before t->not_before */
    uint64_t depth[QUEUE_PRIO_BUCKETS]; /* ready tasks by queue_prio_bucket() */
    uint32_t seen;                      /* bit b: bucket b has held a task */
};

/* Running attempts with a deadline (task->deadline), earliest first. It
 * shares task->heap_index with the queue, which never holds a running task. */
struct deadlines {
    struct heap heap;
};

void queue_init(struct queue *q);
void queue_release(struct queue *q);

/* Adds a queued task: to the ready heap, or the delayed heap when
 * t->not_before > now_ms. A task must not be added twice. */
void queue_push(struct queue *q, struct task *t, int64_t now_ms);
/* Highest-priority ready task, or NULL; the task stays queued. */
struct task *queue_peek(const struct queue *q);
/* Removes and returns the highest-priority ready task, or NULL. */
struct task *queue_pop(struct queue *q);
/* Removes t wherever it is (it must be in the queue). */
void queue_remove(struct queue *q, struct task *t);
/* Moves every delayed task that is due at now_ms into the ready heap. */
void queue_promote(struct queue *q, int64_t now_ms);
/* not_before of the earliest delayed task, or -1 when none waits. */
int64_t queue_next_due(const struct queue *q);
size_t queue_ready_len(const struct queue *q);
/* The depth bucket of a priority: 0 below QUEUE_PRIO_LOW, the last above
 * QUEUE_PRIO_HIGH, else 1 + priority - QUEUE_PRIO_LOW. */
size_t queue_prio_bucket(int64_t priority);
size_t queue_len(const struct queue *q);

/* Whether t is in the queue at all, and whether in the ready heap. */
bool queue_holds(const struct queue *q, const struct task *t);
bool queue_holds_ready(const struct queue *q, const struct task *t);
/* Removes and returns the earliest delayed task due at now_ms, or NULL:
 * queue_promote() one task at a time, for a caller that decides where each
 * goes (a throttled job's held tasks). */
struct task *queue_pop_due(struct queue *q, int64_t now_ms);

/*
 * A throttled job's queued and due tasks that wait for their turn (the
 * master's tasks.c moves them to the ready heap as the job's running tasks
 * end): a heap in the ready heap's order, on the same task->heap_index (a
 * task is in one heap at a time).
 */
void held_init(struct heap *h);
void held_release(struct heap *h);
void held_push(struct heap *h, struct task *t);
/* Removes and returns the first held task, or NULL. */
struct task *held_pop(struct heap *h);
/* Removes t when h holds it; returns whether it did. */
bool held_remove(struct heap *h, struct task *t);

void deadlines_init(struct deadlines *d);
void deadlines_release(struct deadlines *d);
/* Adds t by t->deadline; t must not be held yet. */
void deadlines_add(struct deadlines *d, struct task *t);
/* Removes t when d holds it; returns whether it did. */
bool deadlines_remove(struct deadlines *d, struct task *t);
/* The attempt with the earliest deadline, or NULL. */
struct task *deadlines_first(const struct deadlines *d);

#endif
