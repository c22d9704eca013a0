/* SPDX-License-Identifier: MIT */
/*
 * Task output on the master: the output messages of running attempts
 * appended to one file per attempt and stream (OUTPUT_DIR/LEASE.out and
 * LEASE.err), fenced by lease, capped per attempt; each attempt's record
 * (sizes, truncation, outcome) saved to the journal when it ends; the
 * files made durable before the result that ends them is acknowledged;
 * deleted with their task. And the readers: `dtr logs` (and `dtr result`)
 * sessions, served from the files a bounded piece per turn, following a
 * running task as its output arrives.
 */
#ifndef DTR_MASTER_OUTPUT_H
#define DTR_MASTER_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/hmap.h"
#include "common/list.h"
#include "master/tasks.h"
#include "net/conn.h"
#include "proto/msg.h"

struct outputs {
    /* Private to output.c. */
    char *dir;           /* OUTPUT_DIR */
    uint64_t cap;        /* bytes kept per attempt, both streams together */
    struct tasks *ts;    /* read for fencing; journal writes go through its writer */
    struct hmap files;   /* struct ofile by lease, attempts with output arriving */
    struct list open;    /* the same, for the sweep */
    struct list follows; /* struct follow: logs sessions in progress */
    uint64_t stale;      /* chunks of superseded attempts ignored */
    struct owriter *ow;  /* appends and syncs the files (master/owriter.h) */
    bool want_wake;      /* what outputs_want_wake() told the writer */
};

/* Creates dir (mode 0700) if needed, and sets it to 0700 when own_dir (the
 * default STATE_DIR/output). cap: --max-output. Starts the output writer
 * thread, which calls wake(data) when it caught up. Returns 0, or non-zero
 * with err. */
int outputs_init(struct outputs *os, struct tasks *ts, const char *dir, bool own_dir, uint64_t cap,
                 void (*wake)(void *data), void *data, char *err, size_t errlen);
/* Closes every file (no journal writes: the master is stopping) and stops
 * the output writer once it has written what was queued. */
void outputs_release(struct outputs *os);

/* An output message from worker worker_id. Chunks of an attempt that is
 * not the task's running one on that worker are ignored (fencing). Takes
 * c->data (leaves NULL there) when it queues it for the writer. */
void outputs_chunk(struct outputs *os, const char *worker_id, struct output_chunk *c);
/* Whether the output writer is behind: over OWRITER_HOLD bytes queued
 * (then the caller holds the sending worker's input), or (resume) still
 * over OWRITER_RESUME (held inputs stay held). */
bool outputs_backlog(struct outputs *os, bool resume);
/* The running attempt of t ended with result r (not refused): closes its
 * files (synced before the turn's commit), records the attempt. Call it
 * before tasks_attempt_result(). */
void outputs_attempt_result(struct outputs *os, const struct task *t, const char *worker_id,
                            const struct attempt_result *r);
/* The running attempt of t is lost with its worker (why: "was declared
 * dead"): closes its files and records it at once as lost, its error
 * starting with OUTPUT_LOST. Call it before the task leaves running. */
#define OUTPUT_LOST "lost with its worker: "
void outputs_attempt_lost(struct outputs *os, const struct task *t, const char *why);
/* Once a tick: closes and records the files of attempts that ended
 * without a result (cancelled, expired). */
void outputs_sweep(struct outputs *os, int64_t now_wall);
/* For tasks_prune(): deletes the files of an attempt being pruned. */
void outputs_prune_lease(void *os, uint64_t lease);
/* The other members of a master group keep the leader's output files
 * (journal/writer.h, struct jwriter_files; dir is the output dir): a
 * piece written at its offset, and a pruned attempt's files deleted. */
int outputs_replica_write(void *dir, uint64_t lease, int stream, uint64_t offset, const void *data,
                          size_t len, char *err, size_t errlen);
void outputs_replica_drop(void *dir, uint64_t lease);

/* A logs request from client c: starts a session, or replies an error. */
void outputs_logs(struct outputs *os, struct conn *c, const struct msg *m);
/* Once a turn: sends each session what it has not sent yet, a bounded
 * amount while its client reads, and ends the sessions that are done.
 * Returns true when a session has more to send at once: the caller must
 * then not let the loop sleep (nothing else would wake it). */
bool outputs_pump(struct outputs *os);
/* Once a turn, before outputs_pump() and before held workers are looked
 * at: whether the writer should wake the loop when it has written all
 * (held is: some worker's input is held for it). */
void outputs_want_wake(struct outputs *os, bool held);
/* Client c is going away: drops its sessions. */
void outputs_conn_closed(struct outputs *os, struct conn *c);

/* The get reply's extras for t: its attempts as a JSON array (heap text,
 * caller frees), and, when out has no captured stream, the first
 * `snippet` bytes of each stream of the last attempt (truncated flags set
 * when there is more). */
char *outputs_history(struct outputs *os, const struct task *t, struct task_output *out,
                      size_t snippet, size_t *len);

/* For GET /api/v1/tasks/ID/output: appends to out at most max bytes of
 * stream s (0 stdout, 1 stderr) of t's attempt `attempt` (0: the latest;
 * a running one as far as it got). *which is the attempt read, *size its
 * file's whole size (0 when it wrote nothing). Returns 0, or -1 with err
 * when t has no such attempt. */
int outputs_read(struct outputs *os, const struct task *t, int attempt, int s, size_t max,
                 struct buf *out, int *which, uint64_t *size, char *err, size_t errlen);

#endif
