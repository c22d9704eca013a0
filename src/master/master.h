/* SPDX-License-Identifier: MIT */
/*
 * The master node: the task table (tasks.h), the worker registry
 * (workers.h), the client sessions (handlers.h) and the journal, all driven
 * from one libuv loop. Each loop turn ends in master_prepare_cb: dispatch,
 * then the turn's journal writes go to the writer thread as one batch, and
 * every reply of the turn is held until that batch is committed, so
 * acknowledgements follow what they acknowledge onto disk while the loop
 * goes on with the next turn.
 */
#ifndef DTR_MASTER_MASTER_H
#define DTR_MASTER_MASTER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/hmap.h"
#include "common/opts.h"
#include "group/group.h"
#include "journal/journal.h"
#include "journal/writer.h"
#include "master/events.h"
#include "master/alloc.h"
#include "master/handlers.h"
#include "master/output.h"
#include "master/tasks.h"
#include "master/workers.h"
#include "net/conn.h"

struct master_opts {
    const char *host;
    int64_t port;
    const char *state_dir;
    const char *log_dir;
    struct opt_list discover;
    int64_t scan_interval_ms;
    int64_t heartbeat_ms;      /* 0: automatic (workers.h) */
    int64_t worker_timeout_ms; /* 0: automatic */
    int64_t keep_finished_ms;
    int64_t prefetch; /* tasks leased to a worker beyond its slots (-1: adaptive, 0: none) */
    const char *token_file;
    const char *tls_cert, *tls_key, *tls_ca; /* TLS on when tls_ca is set */
    bool in_memory;                          /* --journal-in-memory: no durability (benchmarks) */
    const char *output_dir;                  /* task output files; NULL: STATE_DIR/output */
    int64_t max_output;                      /* bytes of output kept per attempt */
    bool insecure;                           /* may listen beyond loopback without a token */
    bool verbose;
    const char *http;                 /* --http HOST:PORT, "off", or NULL: 127.0.0.1:8999 */
    bool metrics_open;                /* /metrics needs no token */
    const char *group, *group_id;     /* --group, --group-id */
    bool group_join;                  /* --group-join */
    struct group_config group_config; /* parsed; n == 0: a single master */
};

struct master {
    uv_loop_t *loop;
    struct master_opts opts;
    char *token;
    struct tls_ctx *tls; /* NULL: plaintext */
    char addr[300];
    struct journal *journal;
    struct jwriter *writer;  /* applies and commits the journal writes */
    uv_async_t journal_done; /* the writer committed (or failed) */
    struct conn_hub hub;
    struct conn_listener listener;
    uv_prepare_t prepare;
    uv_check_t check; /* right after each poll for I/O: advances the listening clock */
    uv_timer_t tick;
    uv_timer_t commit_timer;  /* ends a commit's wait (commit_may_wait()) */
    uint64_t last_handoff_us; /* when a batch last went to the journal writer */
    /* The open batch (one that waits, commit_may_wait()): it holds replies
     * a client waits for; since when it is held for workers.holding. */
    bool open_answers;
    uint64_t hold_since_us;
    uv_idle_t output_idle; /* active while logs sessions have more to send */
    uv_signal_t sigint, sigterm, sighup;

    struct tasks tasks;       /* the task table: the only writer of tasks */
    struct workers workers;   /* the registry and the listening clock */
    struct handlers handlers; /* client sessions and waiters */
    struct outputs outputs;   /* task output files and logs sessions */
    struct events events;     /* the event log: SSE streams and events sessions */
    struct allocs allocs;     /* allocation queues: Slurm jobs running workers */

    struct hmap probes; /* discover.c: addresses with a probe in flight */

    bool stopping;
    int64_t last_scan, last_prune, last_workers_tick;
    char id[300];        /* "master-HOST-PID", in its hellos */
    struct http *http;   /* the HTTP API (src/http/), or NULL */
    struct group *group; /* a member of a master group, or NULL */
    char group_output_dir[4096];
    bool leading;       /* past start-up: a single master, or the group's leader */
    bool listening;     /* the listener is open (a group member opens it early) */
    char http_url[320]; /* "http://HOST:PORT/" */
    int64_t started_wall;
};

/* Runs a master until SIGINT/SIGTERM. Returns the process exit code. */
int master_run(const struct master_opts *opts);

/* The connection callbacks of the master's listener (discover.c hands the
 * connections it dials over to them). */
extern const struct conn_ops master_conn_ops;

/* ---- discover.c ---- */
void discover_init(struct master *m);
/* Dials every --discover port that is not a known worker or in flight. */
void discover_scan(struct master *m);
/* After the hub closed every connection (which ends every probe). */
void discover_release(struct master *m);

#endif
