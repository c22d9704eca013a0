/* SPDX-License-Identifier: MIT */
/* Counters and histograms for /metrics, kept as events happen (metrics.h). */
#include "sched/metrics.h"

#include <string.h>

#include "common/util.h"
#include "proto/spec.h"

static const uint64_t time_ms_bounds[] = {
    1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000, 30000, 60000, 300000, 1800000, 7200000};
static const uint64_t dispatch_ms_bounds[] = {0,   1,    2,    5,     10,    25,     50,     100,
                                              250, 1000, 5000, 30000, 60000, 300000, 3600000};
static const uint64_t commit_us_bounds[] = {100,   250,   500,   1000,   2500,   5000,
                                            10000, 25000, 50000, 100000, 250000, 1000000};
static const uint64_t batch_bounds[] = {1,   2,   5,    10,   20,   50,   100,
                                        200, 500, 1000, 2000, 5000, 10000};

#define NB(a) (sizeof(a) / sizeof((a)[0]))

#define TIME_HIST                                                                                  \
    {                                                                                              \
        .bounds = time_ms_bounds, .nbounds = NB(time_ms_bounds)                                    \
    }
#define TIME_HISTS                                                                                 \
    {                                                                                              \
        TIME_HIST, TIME_HIST, TIME_HIST, TIME_HIST, TIME_HIST, TIME_HIST                           \
    }

struct metrics metrics = {
    .run_ms = TIME_HISTS,
    .wait_ms = TIME_HISTS,
    .dispatch_ms = {.bounds = dispatch_ms_bounds, .nbounds = NB(dispatch_ms_bounds)},
    .commit_us = {.bounds = commit_us_bounds, .nbounds = NB(commit_us_bounds)},
    .batch = {.bounds = batch_bounds, .nbounds = NB(batch_bounds)},
};

void hist_observe(struct hist *h, uint64_t v)
{
    size_t i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    if (i < h->nbounds) /* above the last bound: only in +Inf, which is the count */
        __atomic_fetch_add(&h->buckets[i], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->sum, v, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
}

void hist_read(const struct hist *h, struct hist *out)
{
    out->bounds = h->bounds;
    out->nbounds = h->nbounds;
    out->count = __atomic_load_n(&h->count, __ATOMIC_RELAXED);
    for (size_t i = 0; i < h->nbounds; i++)
        out->buckets[i] = __atomic_load_n(&h->buckets[i], __ATOMIC_RELAXED);
    out->sum = __atomic_load_n(&h->sum, __ATOMIC_RELAXED);
}

/* The kind of t as an index of the histograms by kind. */
static size_t kind_of(const struct task *t)
{
    int k = t->spec ? task_kind_parse(spec_kind(t->spec)) : KIND_EXEC;
    return k >= 0 && k < METRICS_KINDS ? (size_t)k : KIND_EXEC;
}

void (*metrics_event_hook)(const char *event, const struct task *task, const char *worker);

void metrics_task_added(const struct task *t)
{
    metrics.submitted++;
    if (metrics_event_hook)
        metrics_event_hook("submitted", t, NULL);
}

void metrics_worker_event(const char *event, const char *worker)
{
    if (!strcmp(event, "worker_joined"))
        metrics.workers_registered++;
    else if (!strcmp(event, "worker_lost"))
        metrics.workers_dead++;
    if (metrics_event_hook)
        metrics_event_hook(event, NULL, worker);
}

static const char *event_of(enum task_state from, enum task_state to)
{
    switch (to) {
    case TASK_RUNNING:
        return "started";
    case TASK_SUCCEEDED:
        return "succeeded";
    case TASK_FAILED:
        return "failed";
    case TASK_CANCELLED:
        return "cancelled";
    case TASK_QUEUED:
        return from == TASK_RUNNING ? "requeued" : "queued";
    default:
        return NULL;
    }
}

void metrics_task_moved(const struct task *t, enum task_state from, enum task_state to, int64_t now)
{
    const char *ev = metrics_event_hook ? event_of(from, to) : NULL;
    if (ev)
        metrics_event_hook(ev, t, t->worker);
    if (from == TASK_RUNNING && t->started_at > 0 && now >= t->started_at)
        hist_observe(&metrics.run_ms[kind_of(t)], (uint64_t)(now - t->started_at));
    switch (to) {
    case TASK_RUNNING:
        metrics.attempts_started++;
        if (from == TASK_QUEUED && t->queued_ms) {
            /* dispatch latency: from queued and due (a retry's backoff
             * over) to this pass, which sends the run */
            int64_t since = (uint32_t)((uint32_t)now - t->queued_ms);
            if (t->not_before > 0)
                since = MIN(since, now - t->not_before);
            hist_observe(&metrics.dispatch_ms, (uint64_t)MAX(0, since));
        }
        if (t->attempts == 1 && t->submitted_at > 0 && now >= t->submitted_at)
            hist_observe(&metrics.wait_ms[kind_of(t)], (uint64_t)(now - t->submitted_at));
        break;
    case TASK_SUCCEEDED:
        metrics.succeeded++;
        break;
    case TASK_FAILED:
        metrics.failed++;
        break;
    case TASK_CANCELLED:
        metrics.cancelled++;
        break;
    default:
        break;
    }
}
