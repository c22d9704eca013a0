/* SPDX-License-Identifier: MIT */
/*
 * Allocation queues (dtr alloc): the master keeps enough Slurm jobs
 * submitted, each running `dtr worker` that dials back, to run the queued
 * tasks, within a queue's --max-workers and --backlog. sbatch, squeue and
 * scancel run as child processes (uv_spawn) whose output is read on the
 * loop; nothing here blocks it. Queues and their live job ids are in the
 * journal (allocs table), so a restarted master asks squeue which of its
 * jobs still exist instead of submitting them again.
 */
#ifndef DTR_MASTER_ALLOC_H
#define DTR_MASTER_ALLOC_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "journal/journal.h"
#include "journal/writer.h"
#include "net/conn.h"
#include "proto/msg.h"

struct tasks;
struct alloc_queue;
struct cmd;

struct allocs {
    uv_loop_t *loop;
    struct tasks *tasks;
    struct jwriter *writer;
    struct alloc_queue *q[ALLOC_MAX_QUEUES];
    size_t n;
    uint64_t next_id;
    uv_timer_t timer;
    bool started, stopping;
    int running_cmds;      /* children not yet reaped */
    bool polling;          /* an squeue in flight */
    struct cmd *poll_cmd;  /* it, while it runs (killed at stop) */
    uint64_t poll_gen;     /* squeue runs started */
    int64_t last_poll;     /* loop ms */
    char dir[4096];        /* STATE_DIR/alloc: job script, token copy, job logs */
    char master_addr[300]; /* what the jobs' workers dial */
    char dtr_path[4096];   /* this binary */
    bool has_token;
    char *token;    /* the master's, for STATE_DIR/alloc/token */
    bool dir_ready; /* STATE_DIR/alloc made (prepare_dir) */
    char *tls[3];   /* the master's --tls-cert, --tls-key, --tls-ca (absolute) or NULL */
};

/* Loads the queues from the journal (before the loop runs). */
int allocs_init(struct allocs *as, uv_loop_t *loop, struct tasks *ts, struct journal *j,
                struct jwriter *w, const char *state_dir, char *err, size_t errlen);
/* Once the master listens: where the workers dial, and its token (written
 * to a 0600 file the job script names). Starts the timer. */
int allocs_start(struct allocs *as, const char *addr, const char *token, char *err, size_t errlen);
/* The master runs with TLS: its certificate, key and CA are copied to
 * STATE_DIR/alloc (0600) for the jobs' workers, which present them. Before
 * allocs_start; paths relative to the master's working directory. */
void allocs_set_tls(struct allocs *as, const char *cert, const char *key, const char *ca);
/* A client's alloc request. */
void allocs_message(struct allocs *as, struct conn *c, struct msg *msg);
/* The queues with the workers their jobs started, as status shows them
 * (alloc_view_encode): a JSON array appended to b. */
void allocs_view(const struct allocs *as, const struct worker_info *w, size_t nw, struct buf *b);
/* The master stops: no new child processes; the timer closes. */
void allocs_stop(struct allocs *as);
void allocs_release(struct allocs *as);

#endif
