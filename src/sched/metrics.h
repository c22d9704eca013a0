/* SPDX-License-Identifier: MIT */
/*
 * The master's counters and histograms for GET /metrics, kept as events
 * happen (a task moves, a worker is declared dead, a batch commits), so a
 * scrape reads them without scanning anything. One process-wide instance:
 * a node runs one master at most. The loop thread bumps the counters; the
 * journal writer thread observes the commit histograms, so histograms are
 * updated and read with relaxed atomics (a scrape may see a bucket one
 * observation ahead of the count: harmless for Prometheus).
 */
#ifndef DTR_SCHED_METRICS_H
#define DTR_SCHED_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "sched/task.h"

#define HIST_MAX_BUCKETS 16
#define METRICS_KINDS 6 /* enum task_kind: the histograms by kind */

/* Observations v <= bounds[i] (cumulative when written out), in the
 * histogram's integer unit (ms, us or rows), their count and sum. */
struct hist {
    const uint64_t *bounds;
    size_t nbounds;
    uint64_t
        buckets[HIST_MAX_BUCKETS]; /* not cumulative: bucket i holds bounds[i-1] < v <= bounds[i] */
    uint64_t count, sum;
};

struct metrics {
    uint64_t submitted, succeeded, failed, cancelled, retried, crash_requeued;
    uint64_t attempts_started;
    uint64_t workers_registered, workers_dead;
    uint64_t conns_accepted, bytes_in, bytes_out;
    uint64_t http_requests, http_errors;
    struct hist run_ms[METRICS_KINDS];  /* attempts: start to end, by kind */
    struct hist wait_ms[METRICS_KINDS]; /* first attempts: submission to start, by kind */
    struct hist dispatch_ms;            /* attempts: queued and due to run sent */
    struct hist commit_us;              /* journal commits: begin to commit done */
    struct hist batch;                  /* journal commits: rows written */
};

extern struct metrics metrics;

void hist_observe(struct hist *h, uint64_t v);
/* A consistent-enough copy for a scrape (relaxed atomic loads). */
void hist_read(const struct hist *h, struct hist *out);

/*
 * The event stream's observer (src/http/events.c), or NULL: called on the
 * loop thread for each task event ("submitted", "started", "succeeded",
 * "failed", "cancelled", "requeued": a running task queued again, for a
 * retry or a lost worker; task is set) and worker event ("worker_joined",
 * "worker_lost", "worker_draining"; worker is set). Strings are borrowed.
 */
extern void (*metrics_event_hook)(const char *event, const struct task *task, const char *worker);

/* tasks.c: a task was submitted (counted, and an event). */
void metrics_task_added(const struct task *t);
/* workers.c: a worker event (see metrics_event_hook), counted where
 * counted. */
void metrics_worker_event(const char *event, const char *worker);

/* tasks.c's transition: a task moved from -> to at now (wall ms); its times
 * as task_set_state() stamped them. */
void metrics_task_moved(const struct task *t, enum task_state from, enum task_state to,
                        int64_t now);

#endif
