/* SPDX-License-Identifier: MIT */
/*
 * The journal writer thread (see writer.h). The loop and the thread share
 * only the queue of handed-off batches and the counters below, under one
 * mutex; a batch belongs to the loop until it is handed off and to the
 * thread after, and the journal to whoever set busy (the thread, or the
 * loop committing inline), or to the loop while the thread is idle.
 */
#include "journal/writer.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/util.h"
#include "journal/batch.h"
#include "sched/metrics.h"

/* The loop waits when the thread has this many writes not yet taken up. */
#define MAX_QUEUED_OPS 400000
/*
 * At light load the loop commits a small batch itself, as it did before the
 * thread existed: handing one over costs two thread switches and a wake-up
 * per reply, which at a few hundred exec tasks a second was 40% of the
 * master's CPU and a third of a task's latency. Light: the thread is idle,
 * the batch has at most JWRITER_INLINE_MAX_OPS writes, and fewer than
 * INLINE_MAX_RATE writes were handed off in the last INLINE_WINDOW_MS.
 */
#define INLINE_WINDOW_MS 100
#define INLINE_MAX_RATE 2000
/*
 * Nor while the disk is slow: a commit inline stalls the whole loop for as
 * long as its fsync takes, and under another process's writeback that was
 * seconds, with no heartbeat read, no worker judged, no client answered.
 * After a commit slower than this the thread takes every batch until one
 * of its commits is fast again.
 */
#define INLINE_MAX_COMMIT_US 20000

struct jwriter {
    struct journal *j;
    void (*wake)(void *data);
    void *data;
    pthread_t thread;
    struct batch *open;   /* the loop's, being recorded */
    int64_t window_start; /* the loop's: writes handed off since then */
    size_t window_ops, last_window_ops;
    /* A master group (jwriter_replicate()): the loop's batches go out as
     * entries and are applied when they come back committed. */
    int (*propose)(void *data, void *entry, size_t len);
    void *propose_data;
    uint64_t incarnation;
    struct jwriter_files files; /* where shipped output goes (thread's) */
    uint64_t last_back;         /* the newest own proposal back committed */

    pthread_mutex_t mu;
    pthread_cond_t work;       /* the thread waits for batches (or stop) */
    pthread_cond_t idle;       /* the loop waits for progress */
    struct batch *head, *tail; /* handed off, not taken up yet */
    size_t queued_ops;
    uint64_t handed, done;   /* epochs: the newest handed off, on disk */
    uint64_t last_commit_us; /* how long the newest commit took */
    bool busy, stop, failed;
    char err[512];
};

/* ---- the thread ------------------------------------------------------------ */

/* apply_op()'s return for a failed OP_WAIT (err set; nothing committed). */
#define OP_WAIT_FAILED (-1000)

static int apply_op(struct jwriter *w, const struct op *o, char *err, size_t errlen)
{
    struct journal *j = w->j;
    switch (o->kind) {
    case OP_SAVE_TASK:
        return journal_save_row(j, &o->u.row);
    case OP_UPDATE_TASK:
        return journal_update_row(j, &o->u.row);
    case OP_SAVE_OUTPUT:
        return journal_save_output(j, o->u.output.task_id, &o->u.output.out);
    case OP_SET_COUNTER:
        return journal_set_counter(j, o->u.counter.name, o->u.counter.value);
    case OP_SAVE_ATTEMPT:
        return journal_save_attempt(j, &o->u.attempt);
    case OP_WAIT:
        return o->u.wait.fn(o->u.wait.arg, o->u.wait.token, err, errlen) ? OP_WAIT_FAILED : 0;
    case OP_SAVE_ALLOC:
        return journal_save_alloc(j, o->u.alloc.id, o->u.alloc.record);
    case OP_PRUNE: {
        uint64_t n;
        if (w->files.drop &&
            journal_pruned_leases(j, o->u.prune_cutoff, w->files.drop, w->files.arg) != 0)
            return -1;
        return journal_prune(j, o->u.prune_cutoff, &n);
    }
    case OP_OUTPUT_DATA:
        if (o->u.data.here || !w->files.write)
            return 0;
        return w->files.write(w->files.arg, o->u.data.lease, o->u.data.stream, o->u.data.offset,
                              o->u.data.data, o->u.data.len, err, errlen)
                   ? OP_WAIT_FAILED
                   : 0;
    }
    return 0;
}

static uint64_t clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Applies the batches in list (unless a commit failed before) in one
 * transaction and commits; frees them; sets *took_us. Returns 0, or
 * non-zero with err. */
static int apply_all(struct jwriter *w, struct batch *list, bool failed, uint64_t *took_us,
                     char *err, size_t errlen)
{
    int rc = 0;
    uint64_t rows = 0, t0 = clock_mono_us();
    for (struct batch *b = list; b; b = b->next) {
        rows += b->n;
        for (size_t i = 0; i < b->n && !failed && rc == 0; i++)
            rc = apply_op(w, &b->ops[i], err, errlen);
    }
    /* A failed write leaves the transaction failed: the commit reports it
     * and rolls back. After a failure nothing more is applied. A failed
     * wait (output not on disk) is not committed at all. */
    if (!failed && rc != OP_WAIT_FAILED)
        rc = journal_commit(w->j, err, errlen);
    *took_us = clock_mono_us() - t0;
    if (!failed && rc == 0) { /* for /metrics */
        hist_observe(&metrics.commit_us, *took_us);
        hist_observe(&metrics.batch, rows);
    }
    while (list) {
        struct batch *next = list->next;
        batch_free(list);
        list = next;
    }
    return rc;
}

/* Records the outcome of committing every epoch up to last, which took
 * took_us; under mu. */
static void finished(struct jwriter *w, int rc, const char *err, uint64_t last, uint64_t took_us)
{
    w->busy = false;
    w->last_commit_us = took_us;
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
        uint64_t took_us;
        int rc = apply_all(w, list, failed, &took_us, err, sizeof(err));

        pthread_mutex_lock(&w->mu);
        finished(w, rc, err, last, took_us);
        pthread_mutex_unlock(&w->mu);
        w->wake(w->data);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ---- the loop's side ------------------------------------------------------- */

struct jwriter *jwriter_start(struct journal *j, void (*wake)(void *data), void *data, char *err,
                              size_t errlen)
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
        snprintf(err, errlen, "cannot start the journal writer thread: %s", strerror(rc));
        pthread_cond_destroy(&w->idle);
        pthread_cond_destroy(&w->work);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
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
    if (!w->open)
        w->open = batch_new();
    return batch_op(w->open, kind);
}

/* Copies len bytes and a NUL into the open batch; NULL for NULL. */
static char *add_text(struct jwriter *w, const char *s, size_t len)
{
    return batch_text(w->open, s, len);
}

static const char *keep_str(const char *s, void *data)
{
    return add_text(data, s, strlen(s));
}

static void record_task(struct jwriter *w, enum op_kind kind, const struct task *t)
{
    struct op *o = new_op(w, kind);
    journal_row_from_task(&o->u.row, t);
    /* The spec goes along with updates too: the journal stores the whole
     * task if it finds no row to update. */
    journal_row_keep(&o->u.row, keep_str, w);
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
    struct task_output *c = &o->u.output.out;
    o->u.output.task_id = add_text(w, task_id, strlen(task_id));
    c->out = add_text(w, out->out, out->out_len);
    c->out_len = out->out_len;
    c->out_truncated = out->out_truncated;
    c->err = add_text(w, out->err, out->err_len);
    c->err_len = out->err_len;
    c->err_truncated = out->err_truncated;
    c->result = add_text(w, out->result, out->result ? strlen(out->result) : 0);
}

void jwriter_save_attempt(struct jwriter *w, const struct journal_attempt *a)
{
    struct op *o = new_op(w, OP_SAVE_ATTEMPT);
    o->u.attempt = *a;
    o->u.attempt.id = add_text(w, a->id, strlen(a->id));
    o->u.attempt.worker = a->worker ? add_text(w, a->worker, strlen(a->worker)) : NULL;
    o->u.attempt.error = a->error ? add_text(w, a->error, strlen(a->error)) : NULL;
}

void jwriter_wait(struct jwriter *w,
                  int (*wait)(void *arg, uint64_t token, char *err, size_t errlen), void *arg,
                  uint64_t token)
{
    struct op *o = new_op(w, OP_WAIT);
    o->u.wait.fn = wait;
    o->u.wait.arg = arg;
    o->u.wait.token = token;
}

void jwriter_set_counter(struct jwriter *w, const char *name, uint64_t value)
{
    struct op *o = new_op(w, OP_SET_COUNTER);
    o->u.counter.name = add_text(w, name, strlen(name));
    o->u.counter.value = value;
}

/* True when the loop should commit b itself (see INLINE_MAX_RATE). */
static bool light_load(struct jwriter *w, const struct batch *b)
{
    int64_t now = clock_mono_ms();
    if (now - w->window_start >= INLINE_WINDOW_MS) {
        w->last_window_ops = now - w->window_start < 2 * INLINE_WINDOW_MS ? w->window_ops : 0;
        w->window_ops = 0;
        w->window_start = now;
    }
    w->window_ops += b->n;
    return b->n <= JWRITER_INLINE_MAX_OPS && w->window_ops + w->last_window_ops < INLINE_MAX_RATE;
}

/* Appends b, numbered epoch, to the list from *head to *tail. */
static void append(struct batch **head, struct batch **tail, struct batch *b, uint64_t epoch)
{
    b->epoch = epoch;
    b->next = NULL;
    if (*tail)
        (*tail)->next = b;
    else
        *head = b;
    *tail = b;
}

/* Queues b for the thread as epoch; under mu. Waits while the thread is far
 * behind (backpressure on the loop). */
static void queue_batch(struct jwriter *w, struct batch *b, uint64_t epoch)
{
    append(&w->head, &w->tail, b, epoch);
    w->queued_ops += b->n;
    pthread_cond_signal(&w->work);
    while (w->queued_ops > MAX_QUEUED_OPS && !w->failed)
        pthread_cond_wait(&w->idle, &w->mu);
}

uint64_t jwriter_handoff(struct jwriter *w)
{
    struct batch *b = w->open;
    /* In a group the batch goes out as an entry numbered with the epoch it
     * gets below, and is committed here at the same time. */
    if (w->propose && b && b->n) {
        size_t len;
        void *entry = entry_encode(b, w->incarnation, w->handed + 1, &len);
        w->propose(w->propose_data, entry, len);
    }
    bool light = b && b->n && light_load(w, b);
    pthread_mutex_lock(&w->mu);
    if (light && !w->head && !w->busy && !w->failed && w->last_commit_us <= INLINE_MAX_COMMIT_US) {
        /* The thread is idle and finds nothing queued: it does not touch
         * the journal while busy is set. */
        w->open = NULL;
        uint64_t epoch = ++w->handed;
        w->busy = true;
        pthread_mutex_unlock(&w->mu);
        char err[512] = "";
        uint64_t took_us;
        int rc = apply_all(w, b, false, &took_us, err, sizeof(err));
        pthread_mutex_lock(&w->mu);
        finished(w, rc, err, epoch, took_us);
    } else if (b && b->n) {
        w->open = NULL;
        queue_batch(w, b, ++w->handed);
    }
    uint64_t epoch = w->handed;
    pthread_mutex_unlock(&w->mu);
    return epoch;
}

/* handed is written by the loop thread only, which also calls these. */
bool jwriter_pending(const struct jwriter *w)
{
    return w->open && w->open->n;
}

uint64_t jwriter_open_epoch(const struct jwriter *w)
{
    return jwriter_pending(w) ? w->handed + 1 : w->handed;
}

bool jwriter_done(struct jwriter *w, uint64_t *epoch, char *err, size_t errlen)
{
    pthread_mutex_lock(&w->mu);
    *epoch = w->propose ? MIN(w->done, w->last_back) : w->done;
    bool ok = !w->failed;
    if (!ok)
        snprintf(err, errlen, "%s", w->err);
    pthread_mutex_unlock(&w->mu);
    return ok;
}

bool jwriter_drain(struct jwriter *w, char *err, size_t errlen)
{
    jwriter_handoff(w);
    return jwriter_settle(w, err, errlen);
}

bool jwriter_settle(struct jwriter *w, char *err, size_t errlen)
{
    pthread_mutex_lock(&w->mu);
    while (!w->failed && (w->head || w->busy))
        pthread_cond_wait(&w->idle, &w->mu);
    bool ok = !w->failed;
    if (!ok)
        snprintf(err, errlen, "%s", w->err);
    pthread_mutex_unlock(&w->mu);
    return ok;
}

void jwriter_save_alloc(struct jwriter *w, const char *id, const char *record)
{
    struct op *o = new_op(w, OP_SAVE_ALLOC);
    o->u.alloc.id = add_text(w, id, strlen(id));
    o->u.alloc.record = record ? add_text(w, record, strlen(record)) : NULL;
}

void jwriter_prune(struct jwriter *w, int64_t cutoff_ms)
{
    new_op(w, OP_PRUNE)->u.prune_cutoff = cutoff_ms;
}

void jwriter_replicate(struct jwriter *w, int (*propose)(void *data, void *entry, size_t len),
                       void *data, uint64_t incarnation)
{
    w->propose = propose;
    w->propose_data = data;
    w->incarnation = incarnation;
}

bool jwriter_replicated(const struct jwriter *w)
{
    return w->propose != NULL;
}

int jwriter_apply_entry(struct jwriter *w, const void *entry, size_t len, char *err, size_t errlen)
{
    struct entry_head h;
    struct batch *b;
    if (entry_head(entry, len, &h, err, errlen) != 0)
        return -1;
    if (h.kind != ENTRY_BATCH)
        return 1;
    if (h.incarnation == w->incarnation) {
        /* Our own batch, back committed: it was applied here when made. */
        if (h.proposal <= w->last_back || h.proposal > w->handed) {
            snprintf(err, errlen, "entry %" PRIu64 " of this process came back out of order",
                     h.proposal);
            return -1;
        }
        w->last_back = h.proposal;
        return 0;
    }
    b = entry_decode(entry, len, err, errlen);
    if (!b)
        return -1;
    pthread_mutex_lock(&w->mu);
    queue_batch(w, b, w->handed);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

void jwriter_save_output_data(struct jwriter *w, uint64_t lease, int stream, uint64_t offset,
                              const char *data, size_t len)
{
    struct op *o = new_op(w, OP_OUTPUT_DATA);
    o->u.data.lease = lease;
    o->u.data.stream = stream;
    o->u.data.offset = offset;
    o->u.data.data = add_text(w, data, len);
    o->u.data.len = len;
    o->u.data.here = true;
}

void jwriter_set_files(struct jwriter *w, const struct jwriter_files *files)
{
    pthread_mutex_lock(&w->mu);
    w->files = *files;
    pthread_mutex_unlock(&w->mu);
}
