/* SPDX-License-Identifier: MIT */
/*
 * The master's event log: task and worker events (submitted, started,
 * succeeded, ..., worker_joined) in a ring of the last EVENTS_KEPT, with
 * ids from 1 rising by one, fed by metrics_event_hook. Two readers share
 * it: the HTTP side's SSE stream (GET /api/v1/events, src/http/http.c),
 * which sends an event once the journal batch that holds what it tells is
 * durable (events_hold/events_durable), and the native `events` sessions
 * (`dtr events`), whose messages go out with the turn's other replies and
 * are held until the same commit by the connection hub.
 */
#ifndef DTR_MASTER_EVENTS_H
#define DTR_MASTER_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/list.h"
#include "proto/msg.h"

#define EVENTS_KEPT 10000 /* events a reconnecting reader may resume from */

struct conn;

struct event {
    uint64_t id;
    uint64_t epoch; /* of the journal batch that holds what it tells; 0: not handed off */
    int64_t at;     /* wall ms */
    const char *name;
    char task[MSG_MAX_ID + 1];
    char job[MSG_MAX_JOB + 1];
    char worker[MSG_MAX_ID + 1];
};

struct events {
    struct event *ring;
    /* next_id: the next event's id. Events up to `visible` are durable;
     * those from `unassigned` on wait for their batch's epoch. */
    uint64_t next_id, visible, unassigned;
    struct list subs; /* struct events_sub: native sessions */
};

/* Allocates the ring and makes ev the hook's sink. */
void events_init(struct events *ev);
/* Ends the sessions (no messages: the master is stopping), frees the ring. */
void events_release(struct events *ev);

/* The oldest event still kept. */
uint64_t events_oldest(const struct events *ev);
/* Event id (events_oldest() <= id < next_id). */
const struct event *events_get(const struct events *ev, uint64_t id);
/* The event as a message's event_info (pointing into e). */
void events_info(const struct event *e, struct event_info *out);

/* The turn's events belong to journal batch epoch. */
void events_hold(struct events *ev, uint64_t epoch);
/* Batches up to done are durable: returns whether more events are visible. */
bool events_durable(struct events *ev, uint64_t done);

/* An events request from client c: starts a session. */
void events_subscribe(struct events *ev, struct conn *c, const struct msg *m);
/* Once a turn, before the journal handoff: sends each session the events
 * it has not had, a bounded amount while its client reads. Returns true
 * when a session has more to send at once. */
bool events_pump(struct events *ev);
/* Client c is going away: drops its session. */
void events_conn_closed(struct events *ev, struct conn *c);

#endif
