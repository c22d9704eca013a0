/* SPDX-License-Identifier: MIT */
/*
 * Two binary min-heaps over "comes out first": ready (priority, then seq)
 * and delayed (not_before, then the ready order). Every move updates
 * task->heap_index, which makes removal from the middle O(log n); which
 * heap holds a task is read off the heaps themselves, not stored.
 */
#include "sched/queue.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define HEAP_MIN_CAP 16

static int ready_before(const struct task *a, const struct task *b)
{
    if (a->priority != b->priority)
        return a->priority > b->priority;
    return a->seq < b->seq;
}

static int delayed_before(const struct task *a, const struct task *b)
{
    if (a->not_before != b->not_before)
        return a->not_before < b->not_before;
    return ready_before(a, b);
}

static void heap_init(struct heap *h, int (*before)(const struct task *, const struct task *))
{
    h->items = NULL;
    h->len = h->cap = 0;
    h->before = before;
}

static bool heap_holds(const struct heap *h, const struct task *t)
{
    return t->heap_index < h->len && h->items[t->heap_index] == t;
}

static void heap_place(struct heap *h, size_t i, struct task *t)
{
    h->items[i] = t;
    t->heap_index = i;
}

static void sift_up(struct heap *h, size_t i)
{
    struct task *t = h->items[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!h->before(t, h->items[parent]))
            break;
        heap_place(h, i, h->items[parent]);
        i = parent;
    }
    heap_place(h, i, t);
}

static void sift_down(struct heap *h, size_t i)
{
    struct task *t = h->items[i];

    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len)
            break;
        if (child + 1 < h->len && h->before(h->items[child + 1], h->items[child]))
            child++;
        if (!h->before(h->items[child], t))
            break;
        heap_place(h, i, h->items[child]);
        i = child;
    }
    heap_place(h, i, t);
}

static void heap_push(struct heap *h, struct task *t)
{
    if (h->len == h->cap) {
        h->cap = h->cap ? h->cap * 2 : HEAP_MIN_CAP;
        h->items = xrealloc(h->items, h->cap * sizeof(*h->items));
    }
    heap_place(h, h->len++, t);
    sift_up(h, h->len - 1);
}

/* Removes the task at index i: the last item fills the hole and then moves
 * up or down, whichever its new neighbours demand. */
static void heap_remove_at(struct heap *h, size_t i)
{
    struct task *t = h->items[i];
    struct task *last = h->items[--h->len];

    t->heap_index = SIZE_MAX;
    if (i == h->len)
        return;
    heap_place(h, i, last);
    if (i > 0 && h->before(last, h->items[(i - 1) / 2]))
        sift_up(h, i);
    else
        sift_down(h, i);
}

size_t queue_prio_bucket(int64_t priority)
{
    if (priority < QUEUE_PRIO_LOW)
        return 0;
    if (priority > QUEUE_PRIO_HIGH)
        return QUEUE_PRIO_BUCKETS - 1;
    return (size_t)(1 + priority - QUEUE_PRIO_LOW);
}

/* Every way into and out of the ready heap goes through these two. */
static void ready_push(struct queue *q, struct task *t)
{
    size_t b = queue_prio_bucket(t->priority);
    q->depth[b]++;
    q->seen |= 1u << b;
    heap_push(&q->ready, t);
}

static void ready_remove_at(struct queue *q, size_t i)
{
    q->depth[queue_prio_bucket(q->ready.items[i]->priority)]--;
    heap_remove_at(&q->ready, i);
}

void queue_init(struct queue *q)
{
    memset(q->depth, 0, sizeof(q->depth));
    q->seen = 0;
    heap_init(&q->ready, ready_before);
    heap_init(&q->delayed, delayed_before);
}

void queue_release(struct queue *q)
{
    free(q->ready.items);
    free(q->delayed.items);
    queue_init(q);
}

void queue_push(struct queue *q, struct task *t, int64_t now_ms)
{
    if (heap_holds(&q->ready, t) || heap_holds(&q->delayed, t))
        DTR_BUG("task %s pushed twice", t->id ? t->id : "?");
    if (t->not_before > now_ms)
        heap_push(&q->delayed, t);
    else
        ready_push(q, t);
}

struct task *queue_peek(const struct queue *q)
{
    return q->ready.len ? q->ready.items[0] : NULL;
}

struct task *queue_pop(struct queue *q)
{
    struct task *t = queue_peek(q);

    if (t)
        ready_remove_at(q, 0);
    return t;
}

void queue_remove(struct queue *q, struct task *t)
{
    if (heap_holds(&q->ready, t))
        ready_remove_at(q, t->heap_index);
    else if (heap_holds(&q->delayed, t))
        heap_remove_at(&q->delayed, t->heap_index);
    else
        DTR_BUG("task %s is not in the queue", t->id ? t->id : "?");
}

void queue_promote(struct queue *q, int64_t now_ms)
{
    while (q->delayed.len && q->delayed.items[0]->not_before <= now_ms) {
        struct task *t = q->delayed.items[0];
        heap_remove_at(&q->delayed, 0);
        ready_push(q, t);
    }
}

int64_t queue_next_due(const struct queue *q)
{
    return q->delayed.len ? q->delayed.items[0]->not_before : -1;
}

size_t queue_ready_len(const struct queue *q)
{
    return q->ready.len;
}

size_t queue_len(const struct queue *q)
{
    return q->ready.len + q->delayed.len;
}

bool queue_holds(const struct queue *q, const struct task *t)
{
    return heap_holds(&q->ready, t) || heap_holds(&q->delayed, t);
}

bool queue_holds_ready(const struct queue *q, const struct task *t)
{
    return heap_holds(&q->ready, t);
}

struct task *queue_pop_due(struct queue *q, int64_t now_ms)
{
    if (!q->delayed.len || q->delayed.items[0]->not_before > now_ms)
        return NULL;
    struct task *t = q->delayed.items[0];
    heap_remove_at(&q->delayed, 0);
    return t;
}

/* ---- held tasks of a throttled job ---------------------------------------- */

void held_init(struct heap *h)
{
    heap_init(h, ready_before);
}

void held_release(struct heap *h)
{
    free(h->items);
    held_init(h);
}

void held_push(struct heap *h, struct task *t)
{
    if (heap_holds(h, t))
        DTR_BUG("task %s held twice", t->id ? t->id : "?");
    heap_push(h, t);
}

struct task *held_pop(struct heap *h)
{
    if (!h->len)
        return NULL;
    struct task *t = h->items[0];
    heap_remove_at(h, 0);
    return t;
}

bool held_remove(struct heap *h, struct task *t)
{
    if (!heap_holds(h, t))
        return false;
    heap_remove_at(h, t->heap_index);
    return true;
}

/* ---- deadlines ------------------------------------------------------------ */

static int deadline_before(const struct task *a, const struct task *b)
{
    return a->deadline < b->deadline;
}

void deadlines_init(struct deadlines *d)
{
    heap_init(&d->heap, deadline_before);
}

void deadlines_release(struct deadlines *d)
{
    free(d->heap.items);
    deadlines_init(d);
}

void deadlines_add(struct deadlines *d, struct task *t)
{
    if (heap_holds(&d->heap, t))
        DTR_BUG("task %s given two deadlines", t->id ? t->id : "?");
    heap_push(&d->heap, t);
}

bool deadlines_remove(struct deadlines *d, struct task *t)
{
    if (!heap_holds(&d->heap, t))
        return false;
    heap_remove_at(&d->heap, t->heap_index);
    return true;
}

struct task *deadlines_first(const struct deadlines *d)
{
    return d->heap.len ? d->heap.items[0] : NULL;
}
