/* SPDX-License-Identifier: MIT */
/*
 * The event log and its native sessions (events.h, docs/protocol.md
 * "Events"). Recording an event is a copy of three short strings into the
 * ring, on the loop thread, whether or not anyone listens.
 */
#include "master/events.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/util.h"
#include "net/conn.h"
#include "proto/spec.h"
#include "sched/metrics.h"
#include "sched/task.h"

/* A session stops sending while its client has this much unsent. */
#define SUB_PENDING_MAX (1u * 1024 * 1024)

/* A native events session: one client reading the stream. */
struct events_sub {
    struct conn *conn;
    char job[MSG_MAX_JOB + 1]; /* only this job's task events; "": all */
    uint64_t next;             /* the next event to send */
    struct list node;          /* in events->subs */
};

static struct events *sink; /* the log metrics_event_hook feeds */

static void on_event(const char *name, const struct task *t, const char *worker)
{
    struct events *ev = sink;
    if (!ev)
        return;
    uint64_t id = ev->next_id++;
    struct event *e = &ev->ring[id % EVENTS_KEPT];
    e->id = id;
    e->epoch = 0;
    e->at = clock_wall_ms();
    e->name = name;
    e->task[0] = e->job[0] = e->worker[0] = 0;
    if (t) {
        snprintf(e->task, sizeof(e->task), "%s", t->id);
        size_t suffix;
        if (t->spec && !spec_job(t->spec, e->job, &suffix))
            e->job[0] = 0;
    }
    if (worker)
        snprintf(e->worker, sizeof(e->worker), "%s", worker);
}

void events_init(struct events *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->ring = xcalloc(EVENTS_KEPT, sizeof(*ev->ring));
    ev->next_id = ev->unassigned = 1;
    list_init(&ev->subs);
    sink = ev;
    metrics_event_hook = on_event;
}

void events_release(struct events *ev)
{
    while (!list_empty(&ev->subs)) {
        struct events_sub *s = list_entry(ev->subs.next, struct events_sub, node);
        list_del(&s->node);
        free(s);
    }
    if (sink == ev) {
        sink = NULL;
        metrics_event_hook = NULL;
    }
    free(ev->ring);
    ev->ring = NULL;
}

uint64_t events_oldest(const struct events *ev)
{
    return ev->next_id > EVENTS_KEPT ? ev->next_id - EVENTS_KEPT : 1;
}

const struct event *events_get(const struct events *ev, uint64_t id)
{
    return &ev->ring[id % EVENTS_KEPT];
}

void events_info(const struct event *e, struct event_info *out)
{
    *out = (struct event_info){
        .id = e->id,
        .name = (char *)e->name,
        .task = (char *)e->task,
        .job = (char *)e->job,
        .worker = (char *)e->worker,
        .at = e->at,
    };
}

void events_hold(struct events *ev, uint64_t epoch)
{
    for (uint64_t id = MAX(ev->unassigned, events_oldest(ev)); id < ev->next_id; id++)
        ev->ring[id % EVENTS_KEPT].epoch = epoch;
    ev->unassigned = ev->next_id;
}

bool events_durable(struct events *ev, uint64_t done)
{
    uint64_t was = ev->visible;
    while (ev->visible + 1 < ev->unassigned) {
        const struct event *e = &ev->ring[(ev->visible + 1) % EVENTS_KEPT];
        if (e->id != ev->visible + 1) { /* overwritten before it was sent */
            ev->visible++;
            continue;
        }
        if (e->epoch > done)
            break;
        ev->visible++;
    }
    return ev->visible != was;
}

/* ---- native sessions ---------------------------------------------------------- */

void events_subscribe(struct events *ev, struct conn *c, const struct msg *m)
{
    struct events_sub *s = xcalloc(1, sizeof(*s));
    s->conn = c;
    if (m->job)
        snprintf(s->job, sizeof(s->job), "%s", m->job);
    /* after: resume; else what happens from now on */
    s->next = m->after && m->after < ev->next_id ? m->after + 1 : ev->next_id;
    list_add_tail(&ev->subs, &s->node);
}

void events_conn_closed(struct events *ev, struct conn *c)
{
    struct list *p, *tmp;
    list_for_each_safe(p, tmp, &ev->subs)
    {
        struct events_sub *s = list_entry(p, struct events_sub, node);
        if (s->conn == c) {
            list_del(&s->node);
            free(s);
        }
    }
}

bool events_pump(struct events *ev)
{
    for (struct list *p = ev->subs.next; p != &ev->subs; p = p->next) {
        struct events_sub *s = list_entry(p, struct events_sub, node);
        if (s->next >= ev->next_id)
            continue; /* nothing new: leave the conn alone */
        struct buf *b = conn_out(s->conn);
        if (!b)
            continue; /* closing: events_conn_closed() frees it */
        uint64_t oldest = events_oldest(ev);
        if (s->next < oldest) {
            struct event_info lost = {.lost_from = s->next, .lost_to = oldest - 1};
            msg_encode_event(b, &lost);
            s->next = oldest;
        }
        while (s->next < ev->next_id) {
            /* A slow reader is waited for (its write completing wakes the
             * loop); what the ring drops meanwhile is said so, above. */
            if (conn_pending_bytes(s->conn) + b->len > SUB_PENDING_MAX)
                break;
            const struct event *e = events_get(ev, s->next++);
            if (s->job[0] && strcmp(s->job, e->job))
                continue;
            struct event_info info;
            events_info(e, &info);
            msg_encode_event(b, &info);
        }
    }
    return false;
}
