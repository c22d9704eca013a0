/* SPDX-License-Identifier: MIT */
/*
 * Allocation queues (dtr alloc, docs/protocol.md "Allocation queues"): the
 * record a client sends to add one and the master lists, its parser (from
 * msg.c's alloc and allocs messages) and its one spelling.
 */
#ifndef DTR_PROTO_ALLOC_H
#define DTR_PROTO_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define ALLOC_MAX_ARGS 32       /* sbatch arguments of one queue */
#define ALLOC_MAX_ARG 1024      /* bytes of one */
#define ALLOC_MAX_WORKERS 10000 /* --max-workers */
#define ALLOC_MAX_PER_JOB 1024  /* --workers-per-job */
#define ALLOC_MAX_BACKLOG 1000  /* --backlog */
#define ALLOC_MAX_QUEUES 64     /* queues one master keeps */
#define ALLOC_MAX_DUR_MS (366LL * 24 * 3600 * 1000)
#define ALLOC_MAX_ERROR 512 /* bytes of last_error */

struct alloc_info {
    /* given by the client (id: chosen by the master, absent in add) */
    char *id;
    char *kind; /* "slurm" */
    int64_t max_workers, workers_per_job, backlog;
    int64_t time_limit_ms, idle_timeout_ms; /* 0: none */
    char **args;                            /* passed to sbatch before the script */
    size_t nargs;
    /* state, in the master's records: Slurm jobs waiting and running now,
     * submitted and ended in all, sbatch failures in a row, the last
     * failure's text (NULL: none) and when the next submit may run (wall ms) */
    uint64_t pending, running, submitted, ended, failures;
    char *last_error;
    int64_t retry_at;
};

void alloc_info_release(struct alloc_info *a);
/* A deep copy. */
void alloc_info_copy(struct alloc_info *dst, const struct alloc_info *src);
/* Appends the record (the object only): the form of `dtr alloc list --json`
 * lines and of the journal's copy. */
void alloc_info_encode(struct buf *b, const struct alloc_info *a);
/* Parses a record (JSON text) into *a (zeroed first; released on error). */
int alloc_info_parse(const char *text, size_t len, struct alloc_info *a, char *err, size_t errlen);

struct worker_info;
/* Whether a worker was started by the queue's jobs: the job script names
 * them alloc-QUEUE-JOBID-PROCID. */
bool alloc_worker_of(const char *worker_id, const char *queue_id);
/* The queues as `dtr status --json`, GET /api/v1/status and GET
 * /api/v1/allocs show them: a JSON array of the records, each with
 * "workers", how many of the nw workers in w its jobs started. */
void alloc_view_encode(struct buf *b, const struct alloc_info *a, size_t n,
                       const struct worker_info *w, size_t nw);

#endif
