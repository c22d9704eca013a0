/* SPDX-License-Identifier: MIT */
/*
 * A batch of journal writes as one entry of a master group's Raft log
 * (batch.h). Little-endian, length-prefixed, no padding:
 *
 *   "DTRE" u8 format(1) u8 kind u64 incarnation u64 proposal u32 nops
 *   then nops times: u8 op, its fields
 *
 * A string is u32 length then its bytes (0xffffffff: absent); integers are
 * u64 (signed ones as their bit pattern); flags u8. Zero bytes pad an entry
 * to a multiple of 8 bytes: C-Raft's log on disk needs that (it pads when it
 * reads a segment back, not when it writes one). The decoder checks every
 * length against what is left and every value against its range: entries
 * come from other machines.
 */
#include "journal/batch.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"

#define ENTRY_MAGIC "DTRE"
#define ENTRY_FORMAT 1
#define ENTRY_HEAD_LEN (4 + 1 + 1 + 8 + 8 + 4)
#define NO_STRING 0xffffffffu

/* ---- encoding -------------------------------------------------------------- */

static void put_u64(struct buf *b, uint64_t v)
{
    unsigned char c[8];
    for (int i = 0; i < 8; i++)
        c[i] = (unsigned char)(v >> (8 * i));
    buf_add(b, c, 8);
}

static void put_u32(struct buf *b, uint32_t v)
{
    unsigned char c[4];
    for (int i = 0; i < 4; i++)
        c[i] = (unsigned char)(v >> (8 * i));
    buf_add(b, c, 4);
}

static void put_bytes(struct buf *b, const char *s, size_t len)
{
    if (!s) {
        put_u32(b, NO_STRING);
        return;
    }
    put_u32(b, (uint32_t)len);
    buf_add(b, s, len);
}

static void put_str(struct buf *b, const char *s)
{
    put_bytes(b, s, s ? strlen(s) : 0);
}

static void put_head(struct buf *b, int kind, uint64_t incarnation, uint64_t proposal,
                     uint32_t nops)
{
    buf_add(b, ENTRY_MAGIC, 4);
    buf_addch(b, ENTRY_FORMAT);
    buf_addch(b, (char)kind);
    put_u64(b, incarnation);
    put_u64(b, proposal);
    put_u32(b, nops);
}

/* Pads b to a multiple of 8 bytes and detaches it. */
static void *finish(struct buf *b, size_t *len)
{
    static const char zeros[8];
    if (b->len % 8)
        buf_add(b, zeros, 8 - b->len % 8);
    return buf_detach(b, len);
}

static void put_field(void *arg, char type, void *field)
{
    struct buf *b = arg;
    if (type == 't')
        put_str(b, *(const char **)field);
    else if (type == 'i')
        put_u64(b, (uint64_t)(int64_t) * (int *)field);
    else
        put_u64(b, *(uint64_t *)field);
}

static void put_op(struct buf *b, const struct op *o)
{
    buf_addch(b, (char)o->kind);
    switch (o->kind) {
    case OP_SAVE_TASK:
    case OP_UPDATE_TASK: {
        struct journal_row r = o->u.row;
        journal_row_fields(&r, put_field, b);
        break;
    }
    case OP_SAVE_OUTPUT: {
        const struct task_output *t = &o->u.output.out;
        put_str(b, o->u.output.task_id);
        put_bytes(b, t->out, t->out_len);
        buf_addch(b, t->out_truncated);
        put_bytes(b, t->err, t->err_len);
        buf_addch(b, t->err_truncated);
        put_str(b, t->result);
        break;
    }
    case OP_SET_COUNTER:
        put_str(b, o->u.counter.name);
        put_u64(b, o->u.counter.value);
        break;
    case OP_SAVE_ATTEMPT: {
        const struct journal_attempt *a = &o->u.attempt;
        put_u64(b, a->lease);
        put_str(b, a->id);
        put_u64(b, (uint64_t)(int64_t)a->attempt);
        put_str(b, a->worker);
        put_u64(b, (uint64_t)(int64_t)a->exit_code);
        put_u64(b, (uint64_t)(int64_t)a->term_signal);
        put_str(b, a->error);
        put_u64(b, (uint64_t)a->started_at);
        put_u64(b, (uint64_t)a->finished_at);
        put_u64(b, a->out_bytes);
        put_u64(b, a->err_bytes);
        buf_addch(b, a->out_truncated);
        buf_addch(b, a->err_truncated);
        break;
    }
    case OP_SAVE_ALLOC:
        put_str(b, o->u.alloc.id);
        put_str(b, o->u.alloc.record);
        break;
    case OP_PRUNE:
        put_u64(b, (uint64_t)o->u.prune_cutoff);
        break;
    case OP_OUTPUT_DATA:
        put_u64(b, o->u.data.lease);
        buf_addch(b, (char)o->u.data.stream);
        put_u64(b, o->u.data.offset);
        put_bytes(b, o->u.data.data, o->u.data.len);
        break;
    case OP_WAIT:
        break; /* not shipped */
    }
}

void *entry_encode(const struct batch *bt, uint64_t incarnation, uint64_t proposal, size_t *len)
{
    struct buf b;
    uint32_t nops = 0;
    buf_init(&b);
    for (size_t i = 0; i < bt->n; i++)
        nops += bt->ops[i].kind != OP_WAIT;
    put_head(&b, ENTRY_BATCH, incarnation, proposal, nops);
    for (size_t i = 0; i < bt->n; i++)
        if (bt->ops[i].kind != OP_WAIT)
            put_op(&b, &bt->ops[i]);
    return finish(&b, len);
}

void *entry_encode_note(int kind, uint64_t incarnation, const char *text, size_t *len)
{
    struct buf b;
    buf_init(&b);
    put_head(&b, kind, incarnation, 0, 0);
    put_str(&b, text);
    return finish(&b, len);
}

/* ---- decoding -------------------------------------------------------------- */

struct reader {
    const unsigned char *p;
    size_t left;
    bool bad;
    struct batch *b; /* where strings are copied to */
};

/* What is left after the last field: the padding, under 8 zero bytes. */
static bool only_padding(const struct reader *r)
{
    if (r->bad || r->left >= 8)
        return false;
    for (size_t i = 0; i < r->left; i++)
        if (r->p[i])
            return false;
    return true;
}

static bool take(struct reader *r, size_t n)
{
    if (r->bad || r->left < n) {
        r->bad = true;
        return false;
    }
    return true;
}

static uint64_t get_u64(struct reader *r)
{
    uint64_t v = 0;
    if (!take(r, 8))
        return 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += 8;
    r->left -= 8;
    return v;
}

static uint32_t get_u32(struct reader *r)
{
    uint32_t v = 0;
    if (!take(r, 4))
        return 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)r->p[i] << (8 * i);
    r->p += 4;
    r->left -= 4;
    return v;
}

static int get_u8(struct reader *r)
{
    if (!take(r, 1))
        return 0;
    r->left--;
    return *r->p++;
}

static bool get_flag(struct reader *r)
{
    int v = get_u8(r);
    if (v > 1)
        r->bad = true;
    return v == 1;
}

static int get_int(struct reader *r)
{
    int64_t v = (int64_t)get_u64(r);
    if (v < -2147483647 - 1 || v > 2147483647)
        r->bad = true;
    return (int)v;
}

/* A string copied into the batch (NULL when absent); *len its length. */
static const char *get_bytes(struct reader *r, size_t *len)
{
    uint32_t n = get_u32(r);
    *len = 0;
    if (r->bad || n == NO_STRING)
        return NULL;
    if (!take(r, n))
        return NULL;
    const char *s = batch_text(r->b, (const char *)r->p, n);
    r->p += n;
    r->left -= n;
    *len = n;
    return s;
}

/* A text string: no NUL inside. */
static const char *get_str(struct reader *r)
{
    size_t n;
    const char *s = get_bytes(r, &n);
    if (s && strlen(s) != n)
        r->bad = true;
    return s;
}

static const char *get_required(struct reader *r)
{
    const char *s = get_str(r);
    if (!s)
        r->bad = true;
    return s;
}

static void get_field(void *arg, char type, void *field)
{
    struct reader *r = arg;
    if (type == 't')
        *(const char **)field = get_str(r);
    else if (type == 'i')
        *(int *)field = get_int(r);
    else
        *(uint64_t *)field = get_u64(r);
}

static void get_op(struct reader *r)
{
    int kind = get_u8(r);
    if (r->bad)
        return;
    switch (kind) {
    case OP_SAVE_TASK:
    case OP_UPDATE_TASK: {
        struct op *o = batch_op(r->b, (enum op_kind)kind);
        journal_row_fields(&o->u.row, get_field, r);
        const struct journal_row *row = &o->u.row;
        if (!row->id || !row->spec || row->state < 0 || row->state >= TASK_NSTATES)
            r->bad = true;
        break;
    }
    case OP_SAVE_OUTPUT: {
        struct op *o = batch_op(r->b, OP_SAVE_OUTPUT);
        struct task_output *t = &o->u.output.out;
        o->u.output.task_id = get_required(r);
        t->out = (char *)get_bytes(r, &t->out_len);
        t->out_truncated = get_flag(r);
        t->err = (char *)get_bytes(r, &t->err_len);
        t->err_truncated = get_flag(r);
        t->result = (char *)get_str(r);
        break;
    }
    case OP_SET_COUNTER: {
        struct op *o = batch_op(r->b, OP_SET_COUNTER);
        o->u.counter.name = get_required(r);
        o->u.counter.value = get_u64(r);
        break;
    }
    case OP_SAVE_ATTEMPT: {
        struct op *o = batch_op(r->b, OP_SAVE_ATTEMPT);
        struct journal_attempt *a = &o->u.attempt;
        a->lease = get_u64(r);
        a->id = get_required(r);
        a->attempt = get_int(r);
        a->worker = get_str(r);
        a->exit_code = get_int(r);
        a->term_signal = get_int(r);
        a->error = get_str(r);
        a->started_at = (int64_t)get_u64(r);
        a->finished_at = (int64_t)get_u64(r);
        a->out_bytes = get_u64(r);
        a->err_bytes = get_u64(r);
        a->out_truncated = get_flag(r);
        a->err_truncated = get_flag(r);
        break;
    }
    case OP_SAVE_ALLOC: {
        struct op *o = batch_op(r->b, OP_SAVE_ALLOC);
        o->u.alloc.id = get_required(r);
        o->u.alloc.record = get_str(r);
        break;
    }
    case OP_PRUNE:
        batch_op(r->b, OP_PRUNE)->u.prune_cutoff = (int64_t)get_u64(r);
        break;
    case OP_OUTPUT_DATA: {
        struct op *o = batch_op(r->b, OP_OUTPUT_DATA);
        o->u.data.lease = get_u64(r);
        o->u.data.stream = get_u8(r);
        o->u.data.offset = get_u64(r);
        o->u.data.data = get_bytes(r, &o->u.data.len);
        if (o->u.data.stream > 1 || !o->u.data.data || o->u.data.offset > (UINT64_C(1) << 50))
            r->bad = true;
        break;
    }
    default:
        r->bad = true;
    }
}

int entry_head(const void *data, size_t len, struct entry_head *h, char *err, size_t errlen)
{
    struct reader r = {data, len, false, NULL};
    if (len < ENTRY_HEAD_LEN || memcmp(data, ENTRY_MAGIC, 4) != 0) {
        snprintf(err, errlen, "not a dtr journal entry (%zu bytes)", len);
        return -1;
    }
    r.p += 4;
    r.left -= 4;
    int format = get_u8(&r);
    h->kind = get_u8(&r);
    h->incarnation = get_u64(&r);
    h->proposal = get_u64(&r);
    if (format != ENTRY_FORMAT || (h->kind != ENTRY_BATCH && h->kind != ENTRY_LEADER)) {
        snprintf(err, errlen,
                 "a journal entry of format %d kind %d, which this dtr cannot read (every "
                 "member of a group must run the same dtr version)",
                 format, h->kind);
        return -1;
    }
    return 0;
}

struct batch *entry_decode(const void *data, size_t len, char *err, size_t errlen)
{
    struct entry_head h;
    if (entry_head(data, len, &h, err, errlen) != 0)
        return NULL;
    struct reader r = {(const unsigned char *)data + ENTRY_HEAD_LEN - 4, len - (ENTRY_HEAD_LEN - 4),
                       false, batch_new()};
    uint32_t nops = get_u32(&r);
    /* Every op takes at least one byte: a count beyond what is left is a lie. */
    if (nops > r.left)
        r.bad = true;
    for (uint32_t i = 0; i < nops && !r.bad; i++)
        get_op(&r);
    if (!only_padding(&r)) {
        snprintf(err, errlen, "a damaged journal entry (%zu bytes)", len);
        batch_free(r.b);
        return NULL;
    }
    return r.b;
}

char *entry_note(const void *data, size_t len, char *err, size_t errlen)
{
    struct entry_head h;
    if (entry_head(data, len, &h, err, errlen) != 0)
        return NULL;
    struct batch *tmp = batch_new();
    struct reader r = {(const unsigned char *)data + ENTRY_HEAD_LEN, len - ENTRY_HEAD_LEN, false,
                       tmp};
    const char *s = get_required(&r);
    char *copy = only_padding(&r) ? xstrdup(s) : NULL;
    batch_free(tmp);
    if (!copy)
        snprintf(err, errlen, "a damaged group entry (%zu bytes)", len);
    return copy;
}
