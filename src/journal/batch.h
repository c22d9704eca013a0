/* SPDX-License-Identifier: MIT */
/*
 * A batch of journal writes as the journal writer records them (writer.c),
 * and as a master group ships them (entry.c): internal to src/journal/.
 * Each write is an op whose strings are copies kept in the batch's own text
 * blocks, so a batch outlives what it was recorded from.
 */
#ifndef DTR_JOURNAL_BATCH_H
#define DTR_JOURNAL_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal/journal.h"

enum op_kind {
    OP_SAVE_TASK,
    OP_UPDATE_TASK,
    OP_SAVE_OUTPUT,
    OP_SET_COUNTER,
    OP_SAVE_ATTEMPT,
    OP_WAIT,
    OP_SAVE_ALLOC,
    OP_PRUNE,
    OP_OUTPUT_DATA,
};

/* One recorded write. Its strings point into the batch's text blocks. */
struct op {
    enum op_kind kind;
    union {
        struct journal_row row; /* OP_SAVE_TASK, OP_UPDATE_TASK */
        struct {
            const char *task_id;
            struct task_output out;
        } output; /* OP_SAVE_OUTPUT */
        struct {
            const char *name;
            uint64_t value;
        } counter;                      /* OP_SET_COUNTER */
        struct journal_attempt attempt; /* OP_SAVE_ATTEMPT */
        struct {
            int (*fn)(void *arg, uint64_t token, char *err, size_t errlen);
            void *arg;
            uint64_t token;
        } wait; /* OP_WAIT: local to this process, never shipped */
        struct {
            const char *id, *record; /* record NULL: delete */
        } alloc;                     /* OP_SAVE_ALLOC */
        int64_t prune_cutoff;        /* OP_PRUNE: journal_prune()'s cutoff */
        struct {
            uint64_t lease, offset;
            int stream; /* 0 stdout, 1 stderr */
            const char *data;
            size_t len;
            bool here; /* written to this member's file already (its own batch) */
        } data;        /* OP_OUTPUT_DATA: a piece of an attempt's output file */
    } u;
};

/* Text copied into a batch; blocks never move, so ops may point into them. */
struct text_block {
    struct text_block *next;
    size_t used, size;
    char data[];
};

struct batch {
    uint64_t epoch;
    struct op *ops;
    size_t n, cap;
    struct text_block *text; /* the newest block first */
    struct batch *next;
};

struct batch *batch_new(void);
void batch_free(struct batch *b);
/* A new zeroed op of kind at the end of b. */
struct op *batch_op(struct batch *b, enum op_kind kind);
/* Copies len bytes and a NUL into b; NULL for NULL. */
char *batch_text(struct batch *b, const char *s, size_t len);

/*
 * A master group's Raft entry (entry.c): a header naming the proposing
 * process (its incarnation, random per start) and its proposal number,
 * then the batch's ops but OP_WAIT, in order. entry_encode() returns a
 * malloc'd buffer; entry_decode() checks every length and value (an entry
 * comes from the network) and returns a new batch, or NULL with err.
 */
#define ENTRY_BATCH 1  /* journal writes */
#define ENTRY_LEADER 2 /* a new leader's client address (group/group.c) */

struct entry_head {
    int kind;
    uint64_t incarnation, proposal;
};

void *entry_encode(const struct batch *b, uint64_t incarnation, uint64_t proposal, size_t *len);
/* A small entry of another kind carrying one string (ENTRY_LEADER). */
void *entry_encode_note(int kind, uint64_t incarnation, const char *text, size_t *len);
/* Reads the header; returns 0 or -1 with err. */
int entry_head(const void *data, size_t len, struct entry_head *h, char *err, size_t errlen);
struct batch *entry_decode(const void *data, size_t len, char *err, size_t errlen);
/* The string of a note entry (a copy to free()), or NULL with err. */
char *entry_note(const void *data, size_t len, char *err, size_t errlen);

#endif
