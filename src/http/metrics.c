/* SPDX-License-Identifier: MIT */
/*
 * GET /metrics: the Prometheus text format (version 0.0.4) from what the
 * master keeps anyway (the task table's counts, the job counts) and the
 * counters and histograms of sched/metrics.h, bumped where things happen.
 * Nothing here scans the task table; the worker registry is walked once
 * (slots, resources and draining), which is O(workers).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/clock.h"
#include "http/http.h"
#include "master/master.h"
#include "proto/spec.h"
#include "sched/metrics.h"
#include "sched/queue.h"
#include "sched/resources.h"

static void head(struct buf *b, const char *name, const char *type, const char *help)
{
    buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(struct buf *b, const char *name, const char *help, uint64_t v)
{
    head(b, name, "counter", help);
    buf_addf(b, "%s %" PRIu64 "\n", name, v);
}

static void gauge(struct buf *b, const char *name, const char *help, double v)
{
    head(b, name, "gauge", help);
    buf_addf(b, "%s %.17g\n", name, v);
}

/* One series of a histogram whose integer unit is 1/scale of the exported
 * one (ms to seconds: scale 1000; rows: 1); label is "" or `kind="exec"`. */
static void series(struct buf *b, const char *name, const char *label, const struct hist *h,
                   double scale)
{
    struct hist c;
    hist_read(h, &c);
    const char *sep = *label ? "," : "";
    uint64_t cum = 0;
    for (size_t i = 0; i < c.nbounds; i++) {
        cum += c.buckets[i];
        buf_addf(b, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name, label, sep,
                 (double)c.bounds[i] / scale, cum);
    }
    uint64_t count = MAX(c.count, cum);
    buf_addf(b, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, label, sep, count);
    if (*label)
        buf_addf(b, "%s_sum{%s} %.9g\n%s_count{%s} %" PRIu64 "\n", name, label,
                 (double)c.sum / scale, name, label, count);
    else
        buf_addf(b, "%s_sum %.9g\n%s_count %" PRIu64 "\n", name, (double)c.sum / scale, name,
                 count);
}

static void histogram(struct buf *b, const char *name, const char *help, const struct hist *h,
                      double scale)
{
    head(b, name, "histogram", help);
    series(b, name, "", h, scale);
}

/* A histogram of seconds by task kind (hs[kind], in ms). */
static void by_kind(struct buf *b, const char *name, const char *help, const struct hist *hs)
{
    head(b, name, "histogram", help);
    for (int k = 0; k < METRICS_KINDS; k++) {
        char label[64];
        snprintf(label, sizeof(label), "kind=\"%s\"", task_kind_name((enum task_kind)k));
        series(b, name, label, &hs[k], 1000);
    }
}

/* Queue depth by priority: the ready heap's counts (sched/queue.h), a
 * series for each bucket that has held a task and the default priority's. */
static void queue_depth(struct buf *b, const struct queue *q)
{
    head(b, "dtr_queue_depth", "gauge",
         "Tasks ready to run now, by priority (priorities beyond -10..10 share <-10 and >10).");
    for (size_t i = 0; i < QUEUE_PRIO_BUCKETS; i++) {
        if (!(q->seen & (1u << i)) && i != queue_prio_bucket(TASK_DEFAULT_PRIORITY))
            continue;
        if (i == 0)
            buf_addf(b, "dtr_queue_depth{priority=\"<%d\"}", QUEUE_PRIO_LOW);
        else if (i == QUEUE_PRIO_BUCKETS - 1)
            buf_addf(b, "dtr_queue_depth{priority=\">%d\"}", QUEUE_PRIO_HIGH);
        else
            buf_addf(b, "dtr_queue_depth{priority=\"%d\"}", (int)i - 1 + QUEUE_PRIO_LOW);
        buf_addf(b, " %" PRIu64 "\n", q->depth[i]);
    }
}

/* The named resources of all workers, summed by name: at most NAMED_MAX
 * names, the rest summed as "_other" (names start with a letter). */
#define NAMED_MAX 32
struct named_sum {
    size_t n;
    struct {
        const char *name;
        int64_t total, used;
    } v[NAMED_MAX + 1];
};

static void named_add(struct named_sum *s, const char *name, int64_t total, int64_t used)
{
    size_t i = 0;
    while (i < s->n && strcmp(s->v[i].name, name))
        i++;
    if (i == s->n) {
        if (s->n == NAMED_MAX) {
            i = NAMED_MAX;
            s->v[i].name = "_other";
        } else {
            s->v[s->n++].name = name;
        }
    }
    s->v[i].total += total;
    s->v[i].used += used;
}

/* The resources of the registered workers, offered and in use. */
struct res_sums {
    struct request total, used;
    struct named_sum named;
};

static void res_sum_add(struct res_sums *r, const struct worker *w)
{
    r->total.cpus_milli += w->total.cpus_milli;
    r->total.mem += w->total.mem;
    r->total.gpus += w->total.gpus;
    r->used.cpus_milli += w->used.cpus_milli;
    r->used.mem += w->used.mem;
    r->used.gpus += w->used.gpus;
    for (int i = 0; i < w->total.nnamed; i++)
        named_add(&r->named, w->total.named[i].name, w->total.named[i].n, 0);
    for (int i = 0; i < w->used.nnamed; i++)
        named_add(&r->named, w->used.named[i].name, 0, w->used.named[i].n);
}

static void resources(struct buf *b, const struct res_sums *r)
{
    gauge(b, "dtr_resources_cpus", "CPUs the registered workers offer.",
          (double)r->total.cpus_milli / 1000.0);
    gauge(b, "dtr_resources_cpus_in_use", "CPUs the running attempts hold.",
          (double)r->used.cpus_milli / 1000.0);
    gauge(b, "dtr_resources_memory_bytes", "Memory the registered workers offer.",
          (double)r->total.mem);
    gauge(b, "dtr_resources_memory_in_use_bytes", "Memory the running attempts hold.",
          (double)r->used.mem);
    gauge(b, "dtr_resources_gpus", "GPUs the registered workers offer.", (double)r->total.gpus);
    gauge(b, "dtr_resources_gpus_in_use", "GPUs the running attempts hold.", (double)r->used.gpus);
    const struct named_sum *named = &r->named;
    if (!named->n)
        return;
    head(b, "dtr_resources_named", "gauge",
         "Named resources the registered workers offer, by name (at most 32 names, then _other).");
    for (size_t i = 0; i < NAMED_MAX + 1; i++)
        if (named->v[i].name)
            buf_addf(b, "dtr_resources_named{name=\"%s\"} %" PRId64 "\n", named->v[i].name,
                     named->v[i].total);
    head(b, "dtr_resources_named_in_use", "gauge",
         "Named resources the running attempts hold, by name.");
    for (size_t i = 0; i < NAMED_MAX + 1; i++)
        if (named->v[i].name)
            buf_addf(b, "dtr_resources_named_in_use{name=\"%s\"} %" PRId64 "\n", named->v[i].name,
                     named->v[i].used);
}

/* Resident and virtual memory from /proc/self/statm, in bytes. */
static void memory(uint64_t *rss, uint64_t *vsz)
{
    unsigned long long pages = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    *rss = *vsz = 0;
    if (!f)
        return;
    if (fscanf(f, "%llu %llu", &pages, &res) == 2) {
        long ps = sysconf(_SC_PAGESIZE);
        *vsz = pages * (uint64_t)ps;
        *rss = res * (uint64_t)ps;
    }
    fclose(f);
}

void http_metrics(struct master *m, struct http *hs, struct buf *b)
{
    const struct tasks *ts = &m->tasks;
    head(b, "dtr_tasks", "gauge", "Tasks the master holds, by state.");
    for (int s = 0; s < TASK_NSTATES; s++)
        buf_addf(b, "dtr_tasks{state=\"%s\"} %" PRIu64 "\n", task_state_name((enum task_state)s),
                 ts->counts[s]);
    gauge(b, "dtr_tasks_ready", "Queued tasks ready to run now (not in retry backoff).",
          (double)tasks_ready(ts));
    queue_depth(b, &ts->queue);
    head(b, "dtr_jobs", "gauge", "Jobs the master holds: active (a task left to end) or ended.");
    buf_addf(b, "dtr_jobs{state=\"active\"} %" PRIu64 "\ndtr_jobs{state=\"ended\"} %" PRIu64 "\n",
             ts->jobs_active, ts->jobs_ended);
    counter(b, "dtr_tasks_submitted_total", "Tasks accepted since the master started.",
            metrics.submitted);
    counter(b, "dtr_tasks_succeeded_total", "Tasks that succeeded.", metrics.succeeded);
    counter(b, "dtr_tasks_failed_total", "Tasks that failed for good.", metrics.failed);
    counter(b, "dtr_tasks_cancelled_total", "Tasks cancelled (by a client or a dependency).",
            metrics.cancelled);
    counter(b, "dtr_tasks_retried_total", "Failed attempts queued again for a retry.",
            metrics.retried);
    counter(b, "dtr_tasks_crash_requeued_total",
            "Attempts queued again because their worker was lost.", metrics.crash_requeued);
    counter(b, "dtr_attempts_started_total", "Attempts dispatched to a worker.",
            metrics.attempts_started);

    uint64_t connected = 0, draining = 0, slots = 0, busy = 0, ahead = 0;
    struct res_sums res = {0};
    for (struct list *p = m->workers.all.next; p != &m->workers.all; p = p->next) {
        struct worker *w = list_entry(p, struct worker, node);
        res_sum_add(&res, w);
        connected += w->conn != NULL;
        draining += w->draining;
        slots += (uint64_t)w->slots;
        busy += (uint64_t)w->running;
        ahead += w->running > w->slots ? (uint64_t)(w->running - w->slots) : 0;
    }
    gauge(b, "dtr_workers", "Workers registered (connected or not yet declared dead).",
          (double)m->workers.n);
    gauge(b, "dtr_workers_connected", "Workers with a connection now.", (double)connected);
    gauge(b, "dtr_workers_draining", "Workers draining (taking no new tasks).", (double)draining);
    counter(b, "dtr_workers_registered_total", "Worker registrations since the master started.",
            metrics.workers_registered);
    counter(b, "dtr_workers_declared_dead_total", "Workers declared dead.", metrics.workers_dead);
    gauge(b, "dtr_slots", "Task slots of the registered workers.", (double)slots);
    gauge(b, "dtr_slots_in_use", "Attempts running on the registered workers.", (double)busy);
    resources(b, &res);
    gauge(b, "dtr_prefetched", "Attempts leased to workers past their slots (prefetch).",
          (double)ahead);
    counter(b, "dtr_prefetch_revoked_total",
            "Prefetched attempts asked back for a task that comes first.", m->workers.revokes_sent);
    counter(b, "dtr_prefetch_returned_total",
            "Prefetched attempts handed back unstarted and queued again.",
            m->workers.revokes_returned);

    by_kind(b, "dtr_task_run_seconds", "Attempts: time from start to end, by task kind.",
            metrics.run_ms);
    by_kind(b, "dtr_task_queue_wait_seconds",
            "First attempts: time from submission to dispatch, by task kind.", metrics.wait_ms);
    histogram(b, "dtr_dispatch_latency_seconds",
              "Attempts: time from queued and due to the dispatch pass that sends the run.",
              &metrics.dispatch_ms, 1000);
    histogram(b, "dtr_journal_commit_seconds", "Journal commits: time to apply and commit.",
              &metrics.commit_us, 1e6);
    histogram(b, "dtr_journal_commit_rows", "Journal commits: writes in one commit.",
              &metrics.batch, 1);

    gauge(b, "dtr_connections", "Native connections open (workers, clients, probes).",
          (double)conn_hub_count(&m->hub));
    counter(b, "dtr_connections_accepted_total", "Native connections accepted.",
            metrics.conns_accepted);
    counter(b, "dtr_received_bytes_total", "Bytes read from native connections.", metrics.bytes_in);
    counter(b, "dtr_sent_bytes_total", "Bytes written to native connections.", metrics.bytes_out);
    gauge(b, "dtr_http_connections", "HTTP connections open.", (double)http_connections(hs));
    counter(b, "dtr_http_requests_total", "HTTP requests received.", metrics.http_requests);
    counter(b, "dtr_http_errors_total", "HTTP replies with a 4xx or 5xx status.",
            metrics.http_errors);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    head(b, "process_cpu_seconds_total", "counter", "User and system CPU time spent.");
    buf_addf(b, "process_cpu_seconds_total %.6f\n", cpu);
    uint64_t rss, vsz;
    memory(&rss, &vsz);
    gauge(b, "process_resident_memory_bytes", "Resident memory size.", (double)rss);
    gauge(b, "process_virtual_memory_bytes", "Virtual memory size.", (double)vsz);
    gauge(b, "process_start_time_seconds", "Start time since the epoch.",
          (double)m->started_wall / 1000.0);
}
