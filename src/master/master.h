/* SPDX-License-Identifier: MIT */
/*
 * The master node: owns the task table, the queue, the journal and the
 * worker registry, all driven from one libuv loop. Each loop turn ends in
 * master_prepare_cb: dispatch, then the turn's journal writes go to the
 * writer thread as one batch, and every reply of the turn is held until
 * that batch is committed, so acknowledgements follow what they acknowledge
 * onto disk while the loop goes on with the next turn.
 */
#ifndef DTR_MASTER_MASTER_H
#define DTR_MASTER_MASTER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/hmap.h"
#include "common/list.h"
#include "common/opts.h"
#include "journal/journal.h"
#include "journal/writer.h"
#include "net/conn.h"
#include "sched/queue.h"
#include "sched/task.h"

struct master_opts {
    const char *host;
    int64_t port;
    const char *state_dir;
    const char *log_dir;
    struct opt_list discover;
    int64_t scan_interval_ms;
    int64_t heartbeat_ms;
    int64_t worker_timeout_ms;
    int64_t keep_finished_ms;
    int64_t prefetch; /* tasks leased to a worker beyond its slots (0: strict priorities) */
    const char *token_file;
    const char *tls_cert, *tls_key, *tls_ca; /* TLS on when tls_ca is set */
    bool in_memory; /* --journal-in-memory: no durability (benchmarks) */
    bool insecure; /* may listen beyond loopback without a token */
    bool verbose;
};

/* A worker as the master knows it; lives from registration until declared
 * dead (or it leaves with nothing running). */
struct worker {
    char *id;
    char *addr;        /* where it listens ("host:port"), or NULL */
    struct conn *conn; /* NULL while disconnected */
    int slots;
    int running;       /* tasks on the `tasks` list */
    uint64_t done;
    int64_t last_seen;      /* listening time (master->listen_ms), ms */
    int64_t last_seen_wall; /* wall clock, ms */
    char *instance;         /* its process's secret from a dial-in hello, or NULL */
    bool draining;
    /* After registering, until its last held message: the leases it says it
     * holds (sorted at the end); nothing is dispatched to it meanwhile. */
    bool reconciling;
    bool same_instance; /* it proved to be the process we knew: see reconcile() */
    int64_t registered_at; /* loop time, ms */
    uint64_t *held;
    size_t nheld, held_cap;
    struct list tasks; /* running tasks, through task->worker_node */
    struct list node;  /* in master->workers */
    struct buf acks;   /* leases to acknowledge this turn */
    struct buf kills;  /* leases to stop this turn */
    size_t nacks, nkills;
    struct list control_node; /* in master->control while acks or kills wait */
};

/* A client connection's requests in progress. */
struct client_session {
    struct conn *conn;
    struct waiter *waiter; /* dtr wait, or NULL */
    char **list_ids;       /* dtr tasks: ids still to stream, in submission order */
    size_t list_len, list_pos;
    int list_state;        /* the state asked for, or -1 */
    struct list node;      /* in master->clients */
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
    struct list node;
};

struct master {
    uv_loop_t *loop;
    struct master_opts opts;
    char *token;
    struct tls_ctx *tls; /* NULL: plaintext */
    char addr[300];
    struct journal *journal;
    struct jwriter *writer; /* applies and commits the journal writes */
    uv_async_t journal_done; /* the writer committed (or failed) */
    struct conn_hub hub;
    struct conn_listener listener;
    uv_prepare_t prepare;
    uv_check_t check; /* right after each poll for I/O: advances listen_ms */
    uv_timer_t tick;
    uv_signal_t sigint, sigterm;

    struct hmap tasks; /* every task in memory, by id */
    struct queue queue;
    uint64_t counts[TASK_NSTATES];
    uint64_t next_seq, next_lease;

    struct hmap worker_map; /* by id */
    struct list workers;
    size_t nworkers;
    struct list control; /* workers with acks or kills to send this turn */
    struct list waiters;
    struct list clients; /* client sessions */

    /*
     * The listening clock (ms): the time the loop was able to listen, which
     * advances only right after a poll for I/O, by at most LISTEN_STEP_MAX_MS
     * a loop turn. A worker's silence and an attempt's deadline are judged
     * on it, never on wall or loop time (see master_check_cb).
     */
    int64_t listen_ms, listen_last;
    struct deadlines deadlines; /* running attempts with a timeout */

    bool dispatch_needed;
    bool stopping;
    int64_t last_scan, last_prune, last_workers_tick;
    int exit_code;
};

/* Runs a master until SIGINT/SIGTERM. Returns the process exit code. */
int master_run(const struct master_opts *opts);

/* ---- the one place task state changes, and its consequences (master.c) ---- */

/*
 * Moves t to `to`, keeps the counters and the queue right, journals it and
 * tells waiters when it ended. Every state change goes through here.
 */
void master_task_transition(struct master *m, struct task *t, enum task_state to);
/* Journals t's current fields (without a state change). */
void master_task_save(struct master *m, struct task *t);
/* Waits until the journal writer has committed everything recorded so far. */
void master_journal_sync(struct master *m);
/* A fatal journal error: stop the master without acknowledging anything. */
void master_journal_failed(struct master *m, const char *what);

/* ---- workers.c ---- */
struct worker *workers_find(struct master *m, const char *id);
/* A worker's hello was accepted on c. Returns 0, or non-zero with err. */
int workers_register(struct master *m, struct conn *c, struct msg *hello, char *err,
                     size_t errlen);
void workers_conn_closed(struct master *m, struct worker *w, const char *reason);
void workers_message(struct master *m, struct worker *w, struct msg *msg);
/* Declares w dead: re-queues (or fails, past the crash limit) its tasks. */
void worker_declare_dead(struct master *m, struct worker *w, const char *why);
/* Declares dead the workers silent past --worker-timeout of listening time
 * (now: master->listen_ms); called from the tick. */
void workers_tick(struct master *m, int64_t now);
/* Expires the attempts running past their timeout plus a grace (now:
 * master->listen_ms); called from the tick. */
void workers_expire(struct master *m, int64_t now);
/* How long after its timeout the master expires an attempt itself. */
int64_t workers_timeout_grace_ms(const struct master *m);
/* Hands queued tasks to workers with free slots, least loaded first. */
void workers_dispatch(struct master *m);
/* Queues the per-worker acks and kills gathered this turn. */
void workers_flush_control(struct master *m);
/* Asks the worker running t to stop that attempt (cancel). */
void workers_kill_attempt(struct master *m, struct task *t);
/* Re-creates disconnected workers for tasks recovered as running. */
void workers_restore(struct master *m, struct task *t);
void workers_init(struct master *m);
void workers_free_all(struct master *m);

/* ---- handlers.c: client requests ---- */
void handlers_client_message(struct master *m, struct conn *c, struct msg *msg);
void waiters_task_ended(struct master *m, struct task *t);
void waiters_flush(struct master *m, int64_t now);
void waiter_free(struct waiter *w);
/* Streams pending task listings, a chunk per turn while the client reads. */
void listings_pump(struct master *m);
struct client_session *client_session_new(struct master *m, struct conn *c);
void client_session_free(struct client_session *cs);

/* ---- discover.c ---- */
void discover_scan(struct master *m);

#endif
