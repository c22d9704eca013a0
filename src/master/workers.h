/* SPDX-License-Identifier: MIT */
/*
 * The master's worker registry: the workers it knows, the attempts each
 * runs, the listening clock their silence is judged on, dispatch, and
 * worker_declare_dead(). Tasks change only through the task table
 * (tasks.h); the registry attaches and detaches their attempts.
 */
#ifndef DTR_MASTER_WORKERS_H
#define DTR_MASTER_WORKERS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/hmap.h"
#include "common/list.h"
#include "master/tasks.h"
#include "net/conn.h"
#include "proto/msg.h"

/* A worker as the master knows it; lives from registration until declared
 * dead (or it leaves with nothing running). */
struct worker {
    char *id;
    char *addr;        /* where it listens ("host:port"), or NULL */
    struct conn *conn; /* NULL while disconnected */
    int slots;
    int running; /* tasks on the `tasks` list */
    uint64_t done;
    int64_t last_seen;      /* listening time (workers->listen_ms), ms */
    int64_t last_seen_wall; /* wall clock, ms */
    int64_t beat_ms;        /* the heartbeat it was last told (hello or pong) */
    char *instance;         /* its process's secret from a dial-in hello, or NULL */
    bool draining;
    bool output_held; /* its conn's input held: the output writer is behind */
    /* After registering, until its last held message: the leases it says it
     * holds (sorted at the end); nothing is dispatched to it meanwhile. */
    bool reconciling;
    bool same_instance;    /* it proved to be the process we knew: see reconcile() */
    int64_t registered_at; /* listening time, ms */
    uint64_t *held;
    size_t nheld, held_cap;
    struct list tasks; /* running tasks, through task->worker_node */
    struct list node;  /* in workers->all */
    struct buf acks;   /* leases to acknowledge this turn */
    struct buf kills;  /* leases to stop this turn */
    size_t nacks, nkills;
    struct list control_node; /* in workers->control while acks or kills wait */
    /* Resources (issue 13): what it offers (its hello; without an offer,
     * one CPU per slot) and what its attempts hold. An attempt stopped by
     * the master (cancel, expiry) holds its request until the worker
     * reports it ended (its process group is gone): `stopping`. */
    struct request total, used;
    struct stopping *stopping;
    size_t nstopping, stopping_cap;
    /* Prefetch (issue 17): attempts we asked it to hand back (revoke) whose
     * answer has not come yet; they stay attached until it comes. And how
     * long its attempts take (a moving average of the durations its results
     * report, wall ms), which sizes its prefetch. */
    struct revoking *revoking;
    size_t nrevoking, revoking_cap;
    double dur_ms;
    uint32_t dur_samples;
};

struct revoking {
    uint64_t lease;
    char *id;
};

struct stopping {
    uint64_t lease;
    struct request req;
};

struct workers_opts {
    /* 0: automatic. Workers then beat every second up to BEATS_PER_S
     * workers and less often past them (workers_beat_ms()), and a worker is
     * declared dead after 5 s of silence, or 3 of its beats if longer. */
    int64_t heartbeat_ms;
    int64_t worker_timeout_ms;
    int64_t scan_interval_ms;
    /* Tasks leased to a worker beyond its slots: -1 (the default) sizes it
     * per worker from its task durations (at most its slots or 64), 0 is none, N
     * is N. A prefetched task is revoked when one that comes first arrives. */
    int64_t prefetch;
    /* A run may leave before its attempt's record is durable (a single
     * master; never in a group, where the record is a Raft entry first). */
    bool runs_before_commit;
};

struct run_out; /* workers.c: what a dispatch writes to one worker */

/* At most this many tasks of waited-for submissions are held for at once
 * (workers_await()); a submission of more is not held. */
#define WORKERS_AWAIT_MAX 16
/* How long the master holds a batch for the results of waited-for runs
 * (master.c, commit_may_wait()); a worker whose tasks take longer is not
 * waited for. */
#define WORKERS_AWAIT_HOLD_MS 2

struct workers {
    /* Read-only outside workers.c. */
    struct list all; /* every worker, in registration order */
    size_t n;
    int64_t beat_ms; /* the heartbeat workers are told now (hello, pong) */
    /*
     * The listening clock (ms): the time the loop was able to listen, which
     * advances only right after a poll for I/O (workers_listened()), by at
     * most LISTEN_STEP_MAX_MS a loop turn. A worker's silence and an
     * attempt's deadline are judged on it, never on wall or loop time.
     */
    int64_t listen_ms;

    /* Private. */
    int64_t listen_last;
    struct hmap map;     /* by id */
    struct list control; /* workers with acks or kills to send this turn */
    struct workers_opts opts;
    struct tasks *tasks;
    /* The reservation of the last dispatch (sched/place.h): the task and
     * the worker it holds, or NULL. */
    char *resv_task, *resv_worker;
    /* An upper bound (in ready-heap order: priority, then seq) of the
     * tasks waiting on workers past their slots: a ready task that comes
     * after it cannot take any prefetched task's place (workers_dispatch). */
    bool pf_bound_set;
    int64_t pf_bound_prio;
    uint64_t pf_bound_seq;
    uint64_t revokes_sent, revokes_returned; /* leases asked back, handed back */
    /* A run leased this turn starts soon (a free slot waits for it, or the
     * worker's prefetch runs dry within RUN_SOON_MS), so the turn's commit
     * must not wait (master.c); the loop clears it. */
    bool run_starts_soon;
    /* The tasks of this turn's waited-for submissions (workers_await());
     * and the leases of those of them whose runs left before the open
     * batch's commit, results not in yet: while any is, the master may hold
     * the batch (master.c, commit_may_wait()) so that the acceptance and
     * the result share one commit. Reset by workers_batch_handed(). */
    struct awaited {
        const struct task *task;
        uint64_t epoch;            /* the journal batch that accepts it */
        const struct run_out *out; /* during a dispatch: where it went */
    } awaited[WORKERS_AWAIT_MAX];
    size_t nawaited;
    uint64_t holding[WORKERS_AWAIT_MAX];
    size_t nholding;
    struct outputs *outputs; /* set by the master after workers_init() */
    size_t output_held;      /* workers whose input is held (output_held) */
};

/* An empty registry over task table ts; loop_now is the loop's time, where
 * the listening clock starts. */
void workers_init(struct workers *ws, const struct workers_opts *opts, struct tasks *ts,
                  int64_t loop_now);
/* Frees every worker (their tasks stay in the table, unlinked). */
void workers_free_all(struct workers *ws);

/* Advances the listening clock after a poll for I/O (loop_now: the loop's
 * time, just updated). */
void workers_listened(struct workers *ws, int64_t loop_now);
/* How long after its timeout the master expires an attempt itself. */
int64_t workers_timeout_grace_ms(const struct workers_opts *opts);

struct worker *workers_find(struct workers *ws, const char *id);
/* A worker's hello was accepted on c. Returns 0, or non-zero with err. */
int workers_register(struct workers *ws, struct conn *c, struct msg *hello, char *err,
                     size_t errlen);
void workers_conn_closed(struct workers *ws, struct worker *w, const char *reason);
void workers_message(struct workers *ws, struct worker *w, struct msg *msg);
/* Declares w dead: re-queues (or fails, past the crash limit) its tasks. */
void worker_declare_dead(struct workers *ws, struct worker *w, const char *why);
/* Declares dead the workers silent past --worker-timeout of listening time;
 * called from the tick. */
void workers_tick(struct workers *ws);
/* Expires the attempts running past their timeout plus a grace (listening
 * time); called from the tick. */
void workers_expire(struct workers *ws);
/* Hands ready tasks to workers with free slots, least loaded first. */
void workers_dispatch(struct workers *ws);
/* Task t, just queued, has a client waiting for it (a submit with `wait`);
 * this turn's dispatch may then count its run in ws->holding. */
void workers_await(struct workers *ws, const struct task *t);
/* The open batch went to the journal writer: nothing is held for any more. */
void workers_batch_handed(struct workers *ws);
/* Queues the per-worker acks and kills gathered this turn. */
void workers_flush_control(struct workers *ws);
/* Once a turn: reads the workers held for output again once the output
 * writer caught up (outputs_backlog()). */
void workers_output_resume(struct workers *ws);
/* Cancel: asks the worker running t to stop that attempt and detaches it;
 * the caller then ends the task (tasks_cancel()). */
void workers_cancel_attempt(struct workers *ws, struct task *t);
/* Re-creates disconnected workers for tasks recovered as running. */
void workers_restore(struct workers *ws, struct task *t);

#endif
