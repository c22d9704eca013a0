/* SPDX-License-Identifier: MIT */
/* Intrusive circular doubly linked lists (beanstalkd, libuv's queue). */
#ifndef DTR_COMMON_LIST_H
#define DTR_COMMON_LIST_H

#include <stdbool.h>

struct list {
    struct list *prev, *next;
};

static inline void list_init(struct list *l)
{
    l->prev = l->next = l;
}

static inline bool list_empty(const struct list *l)
{
    return l->next == l;
}

/* Adds n at the tail of head. */
static inline void list_add_tail(struct list *head, struct list *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

/* Removes n and leaves it self-linked, so removing twice is harmless. */
static inline void list_del(struct list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    list_init(n);
}

/* clang-format 14 takes (ptr) - x for a cast. */
/* clang-format off */
#define list_entry(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
/* clang-format on */
/* Safe against removal of the current node. */
#define list_for_each_safe(pos, tmp, head)                                                         \
    for (pos = (head)->next, tmp = pos->next; pos != (head); pos = tmp, tmp = pos->next)

#endif
