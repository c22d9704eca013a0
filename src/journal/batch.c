/* SPDX-License-Identifier: MIT */
/* A batch of journal writes and the copies of its strings (batch.h). */
#include "journal/batch.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* A batch copies its strings into blocks that double from TEXT_BLOCK_MIN
 * to TEXT_BLOCK_MAX bytes (a longer string gets a block of its own): a
 * batch of one write stays small, and a big one allocates once per many
 * writes. */
#define TEXT_BLOCK_MIN 1024
#define TEXT_BLOCK_MAX 65536

struct batch *batch_new(void)
{
    return xcalloc(1, sizeof(struct batch));
}

void batch_free(struct batch *b)
{
    if (!b)
        return;
    while (b->text) {
        struct text_block *next = b->text->next;
        free(b->text);
        b->text = next;
    }
    free(b->ops);
    free(b);
}

struct op *batch_op(struct batch *b, enum op_kind kind)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->ops = xrealloc(b->ops, b->cap * sizeof(*b->ops));
    }
    struct op *o = &b->ops[b->n++];
    memset(o, 0, sizeof(*o));
    o->kind = kind;
    return o;
}

char *batch_text(struct batch *b, const char *s, size_t len)
{
    if (!s)
        return NULL;
    struct text_block *t = b->text;
    if (!t || t->size - t->used < len + 1) {
        size_t size = t ? MIN(2 * t->size, TEXT_BLOCK_MAX) : TEXT_BLOCK_MIN;
        size = MAX(size, len + 1);
        t = xmalloc(sizeof(*t) + size);
        t->used = 0;
        t->size = size;
        t->next = b->text;
        b->text = t;
    }
    char *copy = t->data + t->used;
    memcpy(copy, s, len);
    copy[len] = '\0';
    t->used += len + 1;
    return copy;
}
