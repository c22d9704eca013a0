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

void queue_init(struct queue *q)
{
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
        heap_push(&q->ready, t);
}

struct task *queue_peek(const struct queue *q)
{
    return q->ready.len ? q->ready.items[0] : NULL;
}

struct task *queue_pop(struct queue *q)
{
    struct task *t = queue_peek(q);

    if (t)
        heap_remove_at(&q->ready, 0);
    return t;
}

void queue_remove(struct queue *q, struct task *t)
{
    if (heap_holds(&q->ready, t))
        heap_remove_at(&q->ready, t->heap_index);
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
        heap_push(&q->ready, t);
    }
}

int64_t queue_next_due(const struct queue *q)
{
    return q->delayed.len ? q->delayed.items[0]->not_before : -1;
}

bool queue_contains(const struct queue *q, const struct task *t)
{
    return heap_holds(&q->ready, t) || heap_holds(&q->delayed, t);
}

size_t queue_ready_len(const struct queue *q)
{
    return q->ready.len;
}

size_t queue_len(const struct queue *q)
{
    return q->ready.len + q->delayed.len;
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
