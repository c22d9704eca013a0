/* SPDX-License-Identifier: MIT */
/*
 * The journal writer thread (see writer.h). The loop and the thread share
 * only the queue of handed-off batches and the counters below, under one
 * mutex; a batch belongs to the loop until it is handed off and to the
 * thread after.
 */
#include "journal/writer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/util.h"

/* The loop waits when the thread has this many writes not yet taken up. */
#define MAX_QUEUED_OPS 400000
/*
 * At light load the loop commits a small batch itself, as it did before the
 * thread existed: handing one over costs two thread switches and a wake-up
 * per reply, which at a few hundred exec tasks a second was 40% of the
 * master's CPU and a third of a task's latency. Light: the thread is idle,
 * the batch has at most INLINE_MAX_OPS writes, and fewer than
 * INLINE_MAX_RATE writes were handed off in the last INLINE_WINDOW_MS.
 */
#define INLINE_MAX_OPS 64
#define INLINE_WINDOW_MS 100
#define INLINE_MAX_RATE 2000

#define NONE SIZE_MAX /* an absent string */

enum op_kind { OP_SAVE_TASK, OP_UPDATE_TASK, OP_SAVE_OUTPUT, OP_SET_COUNTER };

/* One recorded write. Strings are offsets into the batch's text. */
struct op {
    enum op_kind kind;
    /* tasks (the counter's value is in seq) */
    uint64_t seq, lease;
    int64_t priority, submitted_at, started_at, finished_at, not_before;
    int max_retries, state, attempts, crashes, exit_code;
    size_t id, spec, worker, error; /* id: also the output's task and the counter's name */
    /* outputs */
    size_t out, out_len, err, err_len, result;
    bool out_truncated, err_truncated;
};

struct batch {
    uint64_t epoch;
    struct op *ops;
    size_t n, cap;
    struct buf text;
    struct batch *next;
};

struct jwriter {
    struct journal *j;
    void (*wake)(void *data);
    void *data;
    pthread_t thread;
    struct batch *open; /* the loop's, being recorded */
    int64_t window_start; /* the loop's: writes handed off since then */
    size_t window_ops, last_window_ops;

    pthread_mutex_t mu;
    pthread_cond_t work; /* the thread waits for batches (or stop) */
    pthread_cond_t idle; /* the loop waits for progress */
    struct batch *head, *tail; /* handed off, not taken up yet */
    size_t queued_ops;
    uint64_t handed, done; /* epochs: the newest handed off, on disk */
    bool busy, stop, failed;
    char err[512];
};

static void batch_free(struct batch *b)
{
    free(b->ops);
    buf_release(&b->text);
    free(b);
}

/* ---- the thread ------------------------------------------------------------ */

static const char *text(const struct batch *b, size_t off)
{
    return off == NONE ? NULL : b->text.data + off;
}

static int apply_op(struct journal *j, const struct batch *b, const struct op *o)
{
    switch (o->kind) {
    case OP_SAVE_TASK:
    case OP_UPDATE_TASK: {
        struct task t;
        memset(&t, 0, sizeof(t));
        t.id = text(b, o->id);
        t.spec = text(b, o->spec);
        t.priority = o->priority;
        t.seq = o->seq;
        t.max_retries = o->max_retries;
        t.state = (enum task_state)o->state;
        t.attempts = o->attempts;
        t.crashes = o->crashes;
        t.lease = o->lease;
        t.worker = (char *)text(b, o->worker);
        t.exit_code = o->exit_code;
        t.error = (char *)text(b, o->error);
        t.submitted_at = o->submitted_at;
        t.started_at = o->started_at;
        t.finished_at = o->finished_at;
        t.not_before = o->not_before;
        return o->kind == OP_SAVE_TASK ? journal_save_task(j, &t) : journal_update_task(j, &t);
    }
    case OP_SAVE_OUTPUT: {
        struct task_output out = {
            .out = (char *)text(b, o->out),
            .out_len = o->out_len,
            .out_truncated = o->out_truncated,
            .err = (char *)text(b, o->err),
            .err_len = o->err_len,
            .err_truncated = o->err_truncated,
            .result = (char *)text(b, o->result),
        };
        return journal_save_output(j, text(b, o->id), &out);
    }
    case OP_SET_COUNTER:
        return journal_set_counter(j, text(b, o->id), o->seq);
    }
    return 0;
}

/* Applies the batches in list (unless a commit failed before) in one
 * transaction and commits; frees them. Returns 0, or non-zero with err. */
static int apply_all(struct journal *j, struct batch *list, bool failed, char *err, size_t errlen)
{
    int rc = 0;
    for (struct batch *b = list; b; b = b->next)
        for (size_t i = 0; i < b->n && !failed && rc == 0; i++)
            rc = apply_op(j, b, &b->ops[i]);
    /* A failed write leaves the transaction failed: the commit reports it
     * and rolls back. After a failure nothing more is applied. */
    if (!failed)
        rc = journal_commit(j, err, errlen);
    while (list) {
        struct batch *next = list->next;
        batch_free(list);
        list = next;
    }
    return rc;
}

/* Records the outcome of committing every epoch up to last; under mu. */
static void finished(struct jwriter *w, int rc, const char *err, uint64_t last)
{
    w->busy = false;
    if (rc && !w->failed) {
        w->failed = true;
        snprintf(w->err, sizeof(w->err), "%s", err);
    } else if (!w->failed) {
        w->done = last;
    }
    pthread_cond_broadcast(&w->idle);
}

static void *writer_main(void *arg)
{
    struct jwriter *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stop)
            pthread_cond_wait(&w->work, &w->mu);
        if (!w->head)
            break; /* stopping, and nothing left */
        /* Everything handed off so far goes into one transaction. */
        struct batch *list = w->head;
        uint64_t last = w->tail->epoch;
        bool failed = w->failed;
        w->head = w->tail = NULL;
        w->queued_ops = 0;
        w->busy = true;
        pthread_cond_broadcast(&w->idle);
        pthread_mutex_unlock(&w->mu);

        char err[512] = "";
        int rc = apply_all(w->j, list, failed, err, sizeof(err));

        pthread_mutex_lock(&w->mu);
        finished(w, rc, err, last);
        pthread_mutex_unlock(&w->mu);
        w->wake(w->data);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ---- the loop's side ------------------------------------------------------- */

struct jwriter *jwriter_start(struct journal *j, void (*wake)(void *data), void *data)
{
    struct jwriter *w = xcalloc(1, sizeof(*w));
    w->j = j;
    w->wake = wake;
    w->data = data;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->idle, NULL);
    int rc = pthread_create(&w->thread, NULL, writer_main, w);
    if (rc != 0) {
        fprintf(stderr, "dtr master: cannot start the journal writer thread: %s\n",
                strerror(rc));
        exit(1);
    }
    return w;
}

void jwriter_stop(struct jwriter *w)
{
    if (!w)
        return;
    char err[512];
    jwriter_drain(w, err, sizeof(err));
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    if (w->open)
        batch_free(w->open);
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->idle);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

static struct op *new_op(struct jwriter *w, enum op_kind kind)
{
    struct batch *b = w->open;
    if (!b)
        b = w->open = xcalloc(1, sizeof(*b));
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->ops = xrealloc(b->ops, b->cap * sizeof(*b->ops));
    }
    struct op *o = &b->ops[b->n++];
    memset(o, 0, sizeof(*o));
    o->kind = kind;
    return o;
}

/* Copies len bytes and a NUL into the open batch; NONE for NULL. */
static size_t add_text(struct jwriter *w, const char *s, size_t len)
{
    if (!s)
        return NONE;
    struct buf *t = &w->open->text;
    size_t off = t->len;
    buf_add(t, s, len);
    buf_addch(t, '\0');
    return off;
}

static size_t add_str(struct jwriter *w, const char *s)
{
    return add_text(w, s, s ? strlen(s) : 0);
}

static void record_task(struct jwriter *w, enum op_kind kind, const struct task *t)
{
    struct op *o = new_op(w, kind);
    o->seq = t->seq;
    o->lease = t->lease;
    o->priority = t->priority;
    o->submitted_at = t->submitted_at;
    o->started_at = t->started_at;
    o->finished_at = t->finished_at;
    o->not_before = t->not_before;
    o->max_retries = t->max_retries;
    o->state = (int)t->state;
    o->attempts = t->attempts;
    o->crashes = t->crashes;
    o->exit_code = t->exit_code;
    /* The spec goes along with updates too: the journal stores the whole
     * task if it finds no row to update. */
    o->id = add_str(w, t->id);
    o->spec = add_str(w, t->spec);
    o->worker = add_str(w, t->worker);
    o->error = add_str(w, t->error);
}

void jwriter_save_task(struct jwriter *w, const struct task *t)
{
    record_task(w, OP_SAVE_TASK, t);
}

void jwriter_update_task(struct jwriter *w, const struct task *t)
{
    record_task(w, OP_UPDATE_TASK, t);
}

void jwriter_save_output(struct jwriter *w, const char *task_id, const struct task_output *out)
{
    struct op *o = new_op(w, OP_SAVE_OUTPUT);
    o->id = add_str(w, task_id);
    o->out = add_text(w, out->out, out->out_len);
    o->out_len = out->out_len;
    o->out_truncated = out->out_truncated;
    o->err = add_text(w, out->err, out->err_len);
    o->err_len = out->err_len;
    o->err_truncated = out->err_truncated;
    o->result = add_str(w, out->result);
}

void jwriter_set_counter(struct jwriter *w, const char *name, uint64_t value)
{
    struct op *o = new_op(w, OP_SET_COUNTER);
    o->id = add_str(w, name);
    o->seq = value;
}

/* True when the loop should commit b itself (see INLINE_MAX_OPS). */
static bool light_load(struct jwriter *w, const struct batch *b)
{
    int64_t now = clock_mono_ms();
    if (now - w->window_start >= INLINE_WINDOW_MS) {
        w->last_window_ops = now - w->window_start < 2 * INLINE_WINDOW_MS ? w->window_ops : 0;
        w->window_ops = 0;
        w->window_start = now;
    }
    w->window_ops += b->n;
    return b->n <= INLINE_MAX_OPS && w->window_ops + w->last_window_ops < INLINE_MAX_RATE;
}

uint64_t jwriter_handoff(struct jwriter *w)
{
    struct batch *b = w->open;
    bool light = b && b->n && light_load(w, b);
    pthread_mutex_lock(&w->mu);
    if (light && !w->head && !w->busy && !w->failed) {
        /* The thread is idle and finds nothing queued: it does not touch
         * the journal while busy is set. */
        w->open = NULL;
        uint64_t epoch = ++w->handed;
        w->busy = true;
        pthread_mutex_unlock(&w->mu);
        char err[512] = "";
        int rc = apply_all(w->j, b, false, err, sizeof(err));
        pthread_mutex_lock(&w->mu);
        finished(w, rc, err, epoch);
    } else if (b && b->n) {
        w->open = NULL;
        b->epoch = ++w->handed;
        if (w->tail)
            w->tail->next = b;
        else
            w->head = b;
        w->tail = b;
        w->queued_ops += b->n;
        pthread_cond_signal(&w->work);
        while (w->queued_ops > MAX_QUEUED_OPS && !w->failed)
            pthread_cond_wait(&w->idle, &w->mu);
    }
    uint64_t epoch = w->handed;
    pthread_mutex_unlock(&w->mu);
    return epoch;
}

bool jwriter_done(struct jwriter *w, uint64_t *epoch, char *err, size_t errlen)
{
    pthread_mutex_lock(&w->mu);
    *epoch = w->done;
    bool ok = !w->failed;
    if (!ok)
        snprintf(err, errlen, "%s", w->err);
    pthread_mutex_unlock(&w->mu);
    return ok;
}

bool jwriter_drain(struct jwriter *w, char *err, size_t errlen)
{
    jwriter_handoff(w);
    pthread_mutex_lock(&w->mu);
    while (!w->failed && (w->head || w->busy))
        pthread_cond_wait(&w->idle, &w->mu);
    bool ok = !w->failed;
    if (!ok)
        snprintf(err, errlen, "%s", w->err);
    pthread_mutex_unlock(&w->mu);
    return ok;
}
