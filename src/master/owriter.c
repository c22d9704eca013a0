/* SPDX-License-Identifier: MIT */
/* The output writer thread (see owriter.h). The loop and the thread share
 * the queue and the counters under one mutex; an operation belongs to the
 * loop until queued and to the thread after. */
#include "master/owriter.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

enum oop_kind { OOP_WRITE, OOP_SYNC_CLOSE, OOP_CLOSE };

struct oop {
    enum oop_kind kind;
    int fd;
    uint64_t seq;
    size_t len;
    struct oop *next;
    char what[64];    /* the file, for a failure's message */
    const char *data; /* OOP_WRITE: in buf, or in owned */
    void *owned;      /* freed with the operation (owriter_write_owned) */
    uint64_t end;     /* OOP_WRITE: the file's size after it, or 0 if unknown */
    char buf[];
};

struct owriter {
    void (*wake)(void *data);
    void *data;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; /* the thread waits for operations (or stop) */
    pthread_cond_t done; /* the loop (or the journal writer) waits for progress */
    struct oop *head, *tail;
    size_t queued; /* bytes of OOP_WRITEs queued, not yet written */
    uint64_t seq, seq_done;
    bool stop, failed;
    bool want_wake; /* the loop waits for progress (owriter_want_wake) */
    char err[256];
    long delay_us; /* DTR_TEST_OUTPUT_DELAY_US per 64 KiB: a slow disk (tests) */
};

static bool write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return false;
        if (w == 0) {
            errno = EIO;
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Does o; returns errno of a failure, or 0. failed: write nothing. */
static int run_op(const struct oop *o, bool failed)
{
    int e = 0;
    switch (o->kind) {
    case OOP_WRITE:
        if (!failed && !write_all(o->fd, o->data, o->len))
            e = errno;
        else if (!failed && o->end)
            file_drop_behind(o->fd, o->end, o->len);
        break;
    case OOP_SYNC_CLOSE:
        if (!failed && fdatasync(o->fd) < 0)
            e = errno;
        if (close(o->fd) < 0 && !e && !failed && errno != EINTR)
            e = errno;
        break;
    case OOP_CLOSE:
        close(o->fd);
        break;
    }
    return e;
}

static void *owriter_main(void *arg)
{
    struct owriter *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stop)
            pthread_cond_wait(&w->work, &w->mu);
        if (!w->head)
            break;
        struct oop *o = w->head;
        w->head = o->next;
        if (!w->head)
            w->tail = NULL;
        bool failed = w->failed;
        pthread_mutex_unlock(&w->mu);

        if (w->delay_us > 0 && o->kind == OOP_WRITE)
            usleep((useconds_t)((uint64_t)w->delay_us * o->len / 65536));
        int e = run_op(o, failed);

        pthread_mutex_lock(&w->mu);
        if (e && !w->failed) {
            w->failed = true;
            snprintf(w->err, sizeof(w->err), "cannot %s output file %s: %s",
                     o->kind == OOP_WRITE ? "write" : "sync", o->what, strerror(e));
        }
        if (o->kind == OOP_WRITE)
            w->queued -= o->len;
        w->seq_done = o->seq;
        bool idle = !w->head && w->want_wake;
        pthread_cond_broadcast(&w->done);
        pthread_mutex_unlock(&w->mu);
        free(o->owned);
        free(o);
        if (idle && w->wake)
            w->wake(w->data);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

struct owriter *owriter_start(void (*wake)(void *data), void *data, char *err, size_t errlen)
{
    struct owriter *w = xcalloc(1, sizeof(*w));
    w->wake = wake;
    w->data = data;
    const char *delay = getenv("DTR_TEST_OUTPUT_DELAY_US");
    w->delay_us = delay ? MIN(strtol(delay, NULL, 10), 1000000L) : 0;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->done, NULL);
    int rc = pthread_create(&w->thread, NULL, owriter_main, w);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the output writer thread: %s", strerror(rc));
        pthread_cond_destroy(&w->done);
        pthread_cond_destroy(&w->work);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    return w;
}

void owriter_stop(struct owriter *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->done);
    pthread_cond_destroy(&w->work);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* Queues o (under no lock); its sequence number. */
static uint64_t enqueue(struct owriter *w, struct oop *o)
{
    pthread_mutex_lock(&w->mu);
    /* Back-pressure: the loop waits while the disk is this far behind. */
    while (o->kind == OOP_WRITE && w->queued && w->queued + o->len > OWRITER_MAX_QUEUED &&
           !w->failed)
        pthread_cond_wait(&w->done, &w->mu);
    o->seq = ++w->seq;
    if (o->kind == OOP_WRITE)
        w->queued += o->len;
    if (w->tail)
        w->tail->next = o;
    else
        w->head = o;
    w->tail = o;
    pthread_cond_signal(&w->work);
    uint64_t seq = o->seq;
    pthread_mutex_unlock(&w->mu);
    return seq;
}

static struct oop *new_op(enum oop_kind kind, int fd, const char *what, size_t len)
{
    struct oop *o = xmalloc(sizeof(*o) + len);
    o->kind = kind;
    o->fd = fd;
    o->len = len;
    o->next = NULL;
    o->data = o->buf;
    o->owned = NULL;
    o->end = 0;
    snprintf(o->what, sizeof(o->what), "%s", what ? what : "?");
    return o;
}

uint64_t owriter_write(struct owriter *w, int fd, const char *what, const void *data, size_t len)
{
    struct oop *o = new_op(OOP_WRITE, fd, what, len);
    memcpy(o->buf, data, len);
    return enqueue(w, o);
}

uint64_t owriter_write_owned(struct owriter *w, int fd, const char *what, void *mem,
                             const char *data, size_t len, uint64_t end)
{
    struct oop *o = new_op(OOP_WRITE, fd, what, 0);
    o->len = len;
    o->end = end;
    o->data = data;
    o->owned = mem;
    return enqueue(w, o);
}

void owriter_want_wake(struct owriter *w, bool want)
{
    pthread_mutex_lock(&w->mu);
    w->want_wake = want;
    pthread_mutex_unlock(&w->mu);
}

uint64_t owriter_sync_close(struct owriter *w, int fd, const char *what)
{
    return enqueue(w, new_op(OOP_SYNC_CLOSE, fd, what, 0));
}

void owriter_close(struct owriter *w, int fd)
{
    enqueue(w, new_op(OOP_CLOSE, fd, NULL, 0));
}

int owriter_wait(void *arg, uint64_t seq, char *err, size_t errlen)
{
    struct owriter *w = arg;
    pthread_mutex_lock(&w->mu);
    while (w->seq_done < seq && !w->failed)
        pthread_cond_wait(&w->done, &w->mu);
    int rc = 0;
    if (w->failed) {
        snprintf(err, errlen, "%s", w->err);
        rc = -1;
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

size_t owriter_queued(struct owriter *w)
{
    pthread_mutex_lock(&w->mu);
    size_t n = w->queued;
    pthread_mutex_unlock(&w->mu);
    return n;
}
