/* SPDX-License-Identifier: MIT */
/*
 * The master's client side: one session per client connection, its
 * requests (submit, status, list, get, wait, cancel) and the waiters of
 * dtr wait. Tasks change only through the task table (tasks.h).
 */
#ifndef DTR_MASTER_HANDLERS_H
#define DTR_MASTER_HANDLERS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/hmap.h"
#include "common/list.h"
#include "master/tasks.h"
#include "master/workers.h"
#include "net/conn.h"
#include "proto/msg.h"

/* A client connection's requests in progress. */
struct client_session {
    struct conn *conn;
    struct waiter *waiter; /* dtr wait, or NULL */
    char **list_ids;       /* dtr tasks: ids still to stream, in submission order */
    size_t list_len, list_pos;
    int list_state;   /* the state asked for, or -1 */
    bool list_jobs;   /* dtr jobs: list_ids are job ids */
    char *job;        /* the job this connection's submit made (its later batches join it) */
    struct list node; /* in handlers->sessions */
    struct handlers *handlers;
    bool changing_group; /* dtr group add/remove: waits for the change */
};

/* A client waiting for tasks to end (dtr wait). */
struct waiter {
    struct conn *conn;
    struct client_session *session;
    bool all;
    struct hmap pending; /* of struct task *, keyed by id, not yet ended */
    uint64_t total, done, failed;
    bool dirty;
    int64_t last_sent;
    struct list node; /* in handlers->waiters */
};

struct allocs;
struct group;
struct handlers {
    struct list sessions;
    struct list waiters;
    struct tasks *tasks;
    struct workers *workers; /* for status and cancel */
    bool stopping;           /* set by the master: submit is refused */
    struct outputs *outputs; /* logs, and the get reply's output; set by the master */
    struct events *events;   /* events sessions; set by the master */
    struct allocs *allocs;   /* dtr alloc; set by the master */
    struct group *group;     /* a master group, or NULL; set by the master */
};

void handlers_init(struct handlers *h, struct tasks *ts, struct workers *ws);
/* A client's request on c (whose data is its session). */
void handlers_client_message(struct handlers *h, struct conn *c, struct msg *msg);
/* Once a turn: drains the table's ended list into the waiters and sends
 * their progress (now: loop time, ms). */
void waiters_flush(struct handlers *h, int64_t now);
/* Streams pending task listings, a chunk per turn while the client reads. */
void listings_pump(struct handlers *h);
struct client_session *client_session_new(struct handlers *h, struct conn *c);
void client_session_free(struct client_session *cs);

/* ---- shared with the HTTP API (src/http/), so both speak the same JSON ---- */

/* Task t as the record the get reply, `dtr tasks --json` and the API show
 * (fields borrowed from t; nothing to release). */
void handlers_task_info(struct task_info *ti, const struct task *t);
/* The same with the output (up to the get reply's snippet) and the attempts
 * ("history"): what `dtr result --json` and GET /api/v1/tasks/ID show.
 * Release with handlers_task_record_release(). */
void handlers_task_record(const struct handlers *h, struct task_info *ti, const struct task *t);
void handlers_task_record_release(struct task_info *ti);
/* Job j's record (borrowed from j). */
void handlers_job_info(struct job_info *ji, const struct job *j);
/* Every worker, in registration order (*n; the caller frees the array, the
 * strings are borrowed). */
struct worker_info *handlers_workers(const struct handlers *h, size_t *n);
/* The tasks a list request selects (msg's state, job and labels), in
 * submission order: *n of them, the array the caller frees. A scan of the
 * table. An unknown job selects none. */
struct task **handlers_select(struct handlers *h, const struct msg *msg, size_t *n);
/* The same selection, one page of it: the first `limit` tasks (at least
 * 1) past seq `after`, in submission order (*n; the caller frees the
 * array). One pass over the table keeping a heap of `limit`: O(tasks *
 * log limit), with no sort of the whole table. */
struct task **handlers_page(struct handlers *h, const struct msg *msg, uint64_t after, size_t limit,
                            size_t *n);
/* Appends the object `dtr status --json` prints. */
void handlers_status(const struct handlers *h, struct buf *b);
/* Stops running task t on its worker and cancels it (it is unfinished);
 * peer names who asked, in the log. */
void handlers_cancel_task(struct handlers *h, struct task *t, const char *peer);
/* The native submit's checks and store for a batch that joins no earlier
 * job: returns the job made, with the ids appended to ids as comma-separated
 * JSON strings, or NULL with the refusal in err. The replies wait for the
 * turn's journal commit like any other (the caller holds them). */
struct job *handlers_submit(struct handlers *h, struct msg *msg, const char *peer, struct buf *ids,
                            char *err, size_t errlen);

#endif
