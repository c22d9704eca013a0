/* SPDX-License-Identifier: MIT */
/*
 * The worker registry: registration (dial-in or found by a scan) and the
 * reconciliation of what a returning worker still runs, heartbeats and the
 * listening clock, results, dispatch, master-enforced timeouts, and
 * worker_declare_dead(), the one place a worker is declared dead. Tasks
 * change only through tasks.c; here attempts are attached to and detached
 * from their workers.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"
#include "master/workers.h"
#include "sched/place.h"
#include "master/output.h"
#include "sched/metrics.h"

/* The most one loop turn adds to the listening clock (workers_listened): a
 * turn is normally the poll (at most a tick) plus a few ms of callbacks;
 * anything longer is a stall (a stopped process, a slow disk, a long
 * callback) during which the master was not listening. */
#define LISTEN_STEP_MAX_MS 250
/* The least time past its timeout before the master expires an attempt
 * (see workers_timeout_grace_ms). */
#define TIMEOUT_GRACE_MIN_MS 5000
/* A spec is at most MSG_MAX_SPEC bytes, so a run line stays under
 * RUN_LINE_SOFT_MAX + MSG_MAX_SPEC + a little, well within FRAME_MAX_LINE. */
#define RUN_LINE_SOFT_MAX (4u << 20)
/* Leases a returning worker may list in its held messages, in all: far
 * beyond slots + prefetch + unacknowledged results of a real worker. */
#define WORKER_MAX_HELD 1000000
/* Ready tasks a dispatch pass looks at that fit nowhere now (they wait for
 * tasks to end) before it stops: the rest of the queue is not scanned. */
#define PLACE_SCAN_MAX 32
/* Adaptive prefetch: what a worker's queue beyond its slots should cover,
 * a commit held back (master.c, COMMIT_GAP_US), results the worker holds
 * (worker.c, send_hold_ms(): up to half of what its queue covers), one
 * round trip to the master and one journal commit (loopback and a local
 * disk: a few ms, several times that on a loaded machine, where 5 ms left
 * 8-slot workers of 10 ms tasks short), and the attempt duration
 * (moving average) past which nothing is prefetched: a task that long
 * loses a few percent to the wait at most. With 40 ms rather than 20 (and
 * 64 tasks rather than 32, below), the queue of a 2-slot worker of
 * /bin/true covers about 30 ms rather than 15, so its hold reaches its
 * 10 ms cap: 2,080-2,160 tasks/s rather than 2,050-2,110, and 20 us of
 * the master's CPU a task rather than 28. */
#define PREFETCH_COVER_MS 40.0
#define PREFETCH_LONG_MS 250.0
/* A run its worker starts within this long, at its tasks' pace, must not
 * wait for a shared commit: more than the master holds one back
 * (master.c, COMMIT_GAP_US) plus a commit, and less than the most the
 * prefetch holds (PREFETCH_FEW_SLOTS tasks of 1 ms on 2 slots: about
 * 30 ms), or every run counts as soon and commits are not shared: 15 ms
 * gave 0.14 commits a /bin/true task, 12 ms 0.06. Results the worker
 * holds (worker.c, send_hold_ms()) count as ahead, erring towards "later". */
#define RUN_SOON_MS 12.0
/* The most the adaptive prefetch leases past a worker's slots: its slots,
 * or this many for a worker of few slots. Capped at its 2 slots, a 2-slot
 * worker of 1 ms tasks left a CPU idle 20% of the time (9-12% with 10 to
 * 30). The covered time (40 ms of work) is what keeps a worker from
 * holding what another could start. */
#define PREFETCH_FEW_SLOTS 64
/* Ready tasks a dispatch pass places by revoking prefetched ones, at most. */
#define PREEMPT_MAX 64
/*
 * Automatic heartbeats (--heartbeat and --worker-timeout not given): each
 * worker beats every DEFAULT_BEAT_MS until the pool passes BEATS_PER_S
 * workers, then so that all of them together send about BEATS_PER_S beats
 * a second, in steps of BEAT_STEP_MS up to BEAT_MAX_MS; a worker is then
 * declared dead after DEFAULT_SILENCE_MS or SILENT_BEATS of its beats,
 * whichever is longer. Dask scales its heartbeats with the pool the same
 * way: reading 10,000 beats a second was most of an idle master's CPU.
 */
#define DEFAULT_BEAT_MS 1000
#define DEFAULT_SILENCE_MS 5000
#define BEATS_PER_S 2000
#define BEAT_STEP_MS 500
#define BEAT_MAX_MS 10000
#define SILENT_BEATS 3

static const struct request *task_req(const struct task *t)
{
    static const struct request one = {.cpus_milli = 1000};
    return t->req ? t->req : &one;
}

static const char *worker_key(const void *item)
{
    return ((const struct worker *)item)->id;
}

/* The heartbeat to tell workers with n of them in the pool. */
static int64_t beat_for(const struct workers_opts *opts, size_t n)
{
    if (opts->heartbeat_ms)
        return opts->heartbeat_ms;
    int64_t b = (int64_t)(n * 1000 / BEATS_PER_S);
    b = (b + BEAT_STEP_MS - 1) / BEAT_STEP_MS * BEAT_STEP_MS;
    b = MIN(MAX(b, DEFAULT_BEAT_MS), BEAT_MAX_MS);
    /* A --worker-timeout given leaves room for SILENT_BEATS beats. */
    if (opts->worker_timeout_ms)
        b = MIN(b, MAX(DEFAULT_BEAT_MS, opts->worker_timeout_ms / SILENT_BEATS));
    return b;
}

/* How long w may stay silent before it is declared dead. */
static int64_t silence_limit(const struct workers *ws, const struct worker *w)
{
    if (ws->opts.worker_timeout_ms)
        return ws->opts.worker_timeout_ms;
    return MAX(DEFAULT_SILENCE_MS, SILENT_BEATS * w->beat_ms);
}

/* The pool grew or shrank: workers learn the new beat when they next ping
 * (workers_message()) or register. */
static void pool_changed(struct workers *ws)
{
    int64_t b = beat_for(&ws->opts, ws->n);
    if (b != ws->beat_ms && ws->beat_ms)
        log_info("heartbeat now every %.1fs workers=%zu", (double)b / 1000, ws->n);
    ws->beat_ms = b;
}

void workers_init(struct workers *ws, const struct workers_opts *opts, struct tasks *ts,
                  int64_t loop_now)
{
    memset(ws, 0, sizeof(*ws));
    hmap_init(&ws->map, worker_key);
    list_init(&ws->all);
    list_init(&ws->control);
    ws->opts = *opts;
    ws->tasks = ts;
    ws->listen_ms = ws->listen_last = loop_now;
    pool_changed(ws);
}

void workers_listened(struct workers *ws, int64_t loop_now)
{
    int64_t step = loop_now - ws->listen_last;
    ws->listen_last = loop_now;
    ws->listen_ms += MIN(MAX(step, 0), LISTEN_STEP_MAX_MS);
}

struct worker *workers_find(struct workers *ws, const char *id)
{
    return hmap_get(&ws->map, id);
}

/* Attempts are attached here and detached before their task leaves running
 * (tasks_transition() checks). */
static void attach(struct worker *w, struct task *t)
{
    list_add_tail(&w->tasks, &t->worker_node);
    w->running++;
    res_add(&w->used, task_req(t), 1);
}

static void detach(struct workers *ws, struct task *t)
{
    struct worker *w = t->worker ? workers_find(ws, t->worker) : NULL;
    if (list_empty(&t->worker_node))
        return;
    list_del(&t->worker_node);
    if (w) {
        w->running--;
        res_add(&w->used, task_req(t), -1);
    }
}

/* Detaches an attempt the master stopped: its resources stay held on the
 * worker until it reports the attempt ended (release_stopping()). */
static void detach_stopping(struct workers *ws, struct task *t)
{
    struct worker *w = t->worker ? workers_find(ws, t->worker) : NULL;
    if (list_empty(&t->worker_node))
        return;
    detach(ws, t);
    if (!w || !t->lease)
        return;
    if (w->nstopping == w->stopping_cap) {
        w->stopping_cap = w->stopping_cap ? 2 * w->stopping_cap : 8;
        w->stopping = xrealloc(w->stopping, w->stopping_cap * sizeof(*w->stopping));
    }
    w->stopping[w->nstopping].lease = t->lease;
    w->stopping[w->nstopping++].req = *task_req(t);
    res_add(&w->used, task_req(t), 1);
}

/* The worker reported the end of an attempt we had stopped. */
static void release_stopping(struct worker *w, uint64_t lease)
{
    for (size_t i = 0; i < w->nstopping; i++) {
        if (w->stopping[i].lease == lease) {
            res_add(&w->used, &w->stopping[i].req, -1);
            w->stopping[i] = w->stopping[--w->nstopping];
            return;
        }
    }
}

/* The answers to our revokes will not come (the session ended): what the
 * worker still holds it lists again when it returns (reconcile()). */
static void forget_revoking(struct worker *w)
{
    for (size_t i = 0; i < w->nrevoking; i++)
        free(w->revoking[i].id);
    w->nrevoking = 0;
}

static bool is_revoking(const struct worker *w, uint64_t lease)
{
    for (size_t i = 0; i < w->nrevoking; i++)
        if (w->revoking[i].lease == lease)
            return true;
    return false;
}

static struct worker *worker_new(struct workers *ws, const char *id)
{
    struct worker *w = xcalloc(1, sizeof(*w));
    w->id = xstrdup(id);
    list_init(&w->tasks);
    list_init(&w->control_node);
    buf_init(&w->acks);
    buf_init(&w->kills);
    w->last_seen = ws->listen_ms;
    w->last_seen_wall = clock_wall_ms();
    hmap_put(&ws->map, w);
    list_add_tail(&ws->all, &w->node);
    ws->n++;
    pool_changed(ws);
    w->beat_ms = ws->beat_ms;
    metrics_worker_event("worker_joined", w->id);
    return w;
}

static void worker_free(struct workers *ws, struct worker *w)
{
    hmap_del(&ws->map, w->id);
    list_del(&w->node);
    list_del(&w->control_node);
    ws->n--;
    pool_changed(ws);
    buf_release(&w->acks);
    buf_release(&w->kills);
    free(w->held);
    free(w->stopping);
    forget_revoking(w);
    free(w->revoking);
    free(w->id);
    free(w->addr);
    free(w->instance);
    free(w);
}

void workers_free_all(struct workers *ws)
{
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &ws->all)
    {
        struct worker *w = list_entry(pos, struct worker, node);
        struct list *p2, *t2;
        list_for_each_safe(p2, t2, &w->tasks) list_del(p2);
        if (w->conn)
            w->conn->data = NULL;
        worker_free(ws, w);
    }
    hmap_release(&ws->map);
    free(ws->resv_task);
    free(ws->resv_worker);
    ws->resv_task = ws->resv_worker = NULL;
}

static void add_lease(struct workers *ws, struct worker *w, struct buf *b, size_t *n,
                      uint64_t lease)
{
    msg_leases_add(b, lease);
    (*n)++;
    /* Only workers with something to send are visited at flush time. */
    if (list_empty(&w->control_node))
        list_add_tail(&ws->control, &w->control_node);
}

/* An attempt was lost with its worker: re-queued without spending a retry,
 * or failed once it has been lost TASK_CRASH_LIMIT times. */
static void attempt_lost(struct workers *ws, struct task *t, const char *why)
{
    outputs_attempt_lost(ws->outputs, t, why);
    detach(ws, t);
    tasks_attempt_lost(ws->tasks, t, why);
}

void worker_declare_dead(struct workers *ws, struct worker *w, const char *why)
{
    int n = w->running;
    log_warn("worker declared dead id=%s reason=%s requeued=%d", w->id, log_quote(why), n);
    metrics_worker_event("worker_lost", w->id);
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &w->tasks)
    {
        attempt_lost(ws, list_entry(pos, struct task, worker_node), "was declared dead");
    }
    if (w->conn) {
        struct conn *c = w->conn;
        w->conn = NULL;
        c->data = NULL;
        conn_close(c, why);
    }
    worker_free(ws, w);
}

void workers_restore(struct workers *ws, struct task *t)
{
    struct worker *w = workers_find(ws, t->worker ? t->worker : "?");
    if (!w) {
        w = worker_new(ws, t->worker ? t->worker : "?");
        /* Give it a scan interval on top of the worker timeout to come back
         * and claim its tasks before they are re-queued. */
        w->last_seen += ws->opts.scan_interval_ms;
    }
    attach(w, t);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* An attempt that a worker process came back without, in the same
 * instance: it keeps every attempt it received until its result is
 * acknowledged, so the run never reached it (it crossed a cut). Nothing
 * ran and nothing crashed: back to the queue as if never dispatched. */
static void attempt_unreached(struct workers *ws, struct task *t)
{
    log_info("re-queued an attempt that never reached its worker task=%s worker=%s lease=%" PRIu64,
             t->id, t->worker ? t->worker : "?", t->lease);
    detach(ws, t);
    tasks_attempt_undone(ws->tasks, t);
}

/* One held message: remember the leases, and stop at once the attempts we
 * gave to someone else meanwhile (or never gave). */
static int take_held(struct workers *ws, struct worker *w, const struct msg *msg)
{
    if (w->nheld + msg->nheld > WORKER_MAX_HELD) {
        conn_fail(w->conn, "held: more than %d attempts in all", WORKER_MAX_HELD);
        return -1;
    }
    if (w->nheld + msg->nheld > w->held_cap) {
        w->held_cap = MAX(w->held_cap * 2, w->nheld + msg->nheld);
        w->held = xrealloc(w->held, w->held_cap * sizeof(*w->held));
    }
    for (size_t i = 0; i < msg->nheld; i++) {
        const struct lease_ref *r = &msg->held[i];
        struct task *t = tasks_find(ws->tasks, r->id);
        w->held[w->nheld++] = r->lease;
        if (!t || t->state != TASK_RUNNING || t->lease != r->lease || !t->worker ||
            strcmp(t->worker, w->id)) {
            log_info("stopping a superseded attempt on a returning worker task=%s lease=%" PRIu64
                     " worker=%s",
                     r->id, r->lease, w->id);
            add_lease(ws, w, &w->kills, &w->nkills, r->lease);
        }
    }
    return 0;
}

/* The worker's last held message came: keep the attempts it holds, and
 * re-queue ours it no longer has (without a crash when the same process
 * came back: those never reached it). Then it may take new work. */
static void reconcile(struct workers *ws, struct worker *w)
{
    int adopted = 0;
    if (w->nheld) /* held is NULL when nothing was listed */
        qsort(w->held, w->nheld, sizeof(uint64_t), cmp_u64);
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &w->tasks)
    {
        struct task *t = list_entry(pos, struct task, worker_node);
        if (w->nheld && bsearch(&t->lease, w->held, w->nheld, sizeof(uint64_t), cmp_u64))
            adopted++;
        else if (w->same_instance)
            attempt_unreached(ws, t);
        else
            attempt_lost(ws, t, "came back without it");
    }
    log_info("worker reconciled id=%s held=%zu adopted=%d same_instance=%d", w->id, w->nheld,
             adopted, w->same_instance);
    free(w->held);
    w->held = NULL;
    w->nheld = w->held_cap = 0;
    w->reconciling = false;
    ws->tasks->dispatch_needed = true;
}

/* Compares two instance secrets (validated: MSG_INSTANCE_HEX digits each)
 * in time that does not depend on where they differ. */
static bool instance_equal(const char *a, const char *b)
{
    unsigned char diff = 0;
    for (size_t i = 0; i < MSG_INSTANCE_HEX; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

int workers_register(struct workers *ws, struct conn *c, struct msg *hello, char *err,
                     size_t errlen)
{
    struct worker *w = workers_find(ws, hello->id);
    /* The same worker process: only it and this master know its instance
     * (a worker sends it only in hellos to a master it dialed). */
    bool same = w && w->instance && hello->instance && instance_equal(w->instance, hello->instance);
    if (w && w->conn) {
        if (conn_is_dialer(c) && hello->addr && w->addr && !strcmp(hello->addr, w->addr)) {
            snprintf(err, errlen, "worker '%s' is already connected to this master", hello->id);
            return -1;
        }
        /* A second session for a live worker only replaces the first when
         * it proves to come from the same process; anyone else (another
         * worker given the same --id, a token holder) would otherwise evict
         * it and have its attempts counted as crashes. */
        if (!same) {
            log_warn("refused a second session for a live worker id=%s peer=%s connected_from=%s",
                     hello->id, conn_peer(c), conn_peer(w->conn));
            snprintf(err, errlen,
                     "worker id '%s' is already connected from %s; give each "
                     "worker its own --id",
                     hello->id, conn_peer(w->conn));
            return -1;
        }
        struct conn *old = w->conn;
        w->conn = NULL;
        old->data = NULL;
        conn_close(old, "replaced by a newer connection from the same worker");
    }
    if (!w)
        w = worker_new(ws, hello->id);
    w->conn = c;
    c->data = w;
    w->slots = hello->slots;
    w->draining = hello->draining;
    if (hello->offer) {
        w->total = *hello->offer;
    } else {
        memset(&w->total, 0, sizeof(w->total));
        w->total.cpus_milli = (int64_t)w->slots * 1000;
    }
    if (!same) { /* another process: what the old one was stopping is gone */
        for (size_t i = 0; i < w->nstopping; i++)
            res_add(&w->used, &w->stopping[i].req, -1);
        w->nstopping = 0;
    }
    free(w->addr);
    w->addr = hello->addr ? xstrdup(hello->addr) : NULL;
    free(w->instance);
    w->instance = hello->instance ? xstrdup(hello->instance) : NULL;
    forget_revoking(w);
    w->last_seen = ws->listen_ms;
    w->last_seen_wall = clock_wall_ms();
    w->beat_ms = ws->beat_ms; /* as its hello said */
    /* What it holds comes next, in held messages. */
    w->reconciling = true;
    w->same_instance = same;
    w->registered_at = w->last_seen;
    w->nheld = 0;
    char offer[512];
    res_describe(&w->total, offer, sizeof(offer));
    log_info("worker registered id=%s addr=%s slots=%d via=%s same_instance=%d offer=%s", w->id,
             w->addr ? w->addr : "-", w->slots, conn_is_dialer(c) ? "scan" : "dial-in", same,
             log_quote(offer));
    /* Tasks that fit no worker so far may fit this one. */
    tasks_unpark_all(ws->tasks);
    return 0;
}

void workers_conn_closed(struct workers *ws, struct worker *w, const char *reason)
{
    w->conn = NULL;
    w->reconciling = false; /* it lists everything again when it returns */
    w->nheld = 0;
    forget_revoking(w);
    if (w->running == 0) {
        log_info("worker left id=%s reason=%s", w->id, log_quote(reason));
        worker_free(ws, w);
        return;
    }
    log_warn("worker disconnected id=%s reason=%s running=%d; waiting for it to return", w->id,
             log_quote(reason), w->running);
}

static void handle_result(struct workers *ws, struct worker *w, struct attempt_result *r)
{
    for (size_t k = 0; k < ws->nholding; k++)
        if (ws->holding[k] == r->lease) {
            ws->holding[k] = ws->holding[--ws->nholding];
            break;
        }
    struct task *t = tasks_find(ws->tasks, r->id);
    add_lease(ws, w, &w->acks, &w->nacks, r->lease);
    if (!t || t->state != TASK_RUNNING || t->lease != r->lease || !t->worker ||
        strcmp(t->worker, w->id)) {
        log_info("discarded result of a superseded attempt task=%s lease=%" PRIu64 " worker=%s",
                 r->id, r->lease, w->id);
        release_stopping(w, r->lease);
        ws->tasks->dispatch_needed = true;
        return;
    }
    detach(ws, t);
    if (r->refused) {
        tasks_attempt_undone(ws->tasks, t);
        return;
    }
    w->done++;
    if (r->started_at > 0 && r->finished_at >= r->started_at) {
        double d = (double)(r->finished_at - r->started_at);
        w->dur_ms = w->dur_samples ? 0.8 * w->dur_ms + 0.2 * d : d;
        if (w->dur_samples < UINT32_MAX)
            w->dur_samples++;
    }
    outputs_attempt_result(ws->outputs, t, w->id, r);
    tasks_attempt_result(ws->tasks, t, r);
}

/* The answer to a revoke: the attempts it handed back go back to the
 * queue as if never dispatched (lease ended, journaled, no attempt spent);
 * the ones that had started run on and report as usual. */
static void handle_revoked(struct workers *ws, struct worker *w, const struct msg *msg)
{
    size_t back = 0;
    for (int pass = 0; pass < 2; pass++) {
        const uint64_t *l = pass ? msg->started : msg->leases;
        size_t nl = pass ? msg->nstarted : msg->nleases;
        for (size_t i = 0; i < nl; i++) {
            size_t k = 0;
            while (k < w->nrevoking && w->revoking[k].lease != l[i])
                k++;
            if (k == w->nrevoking) {
                conn_fail(w->conn, "revoked: lease %" PRIu64 " was not revoked", l[i]);
                return;
            }
            char *id = w->revoking[k].id;
            w->revoking[k] = w->revoking[--w->nrevoking];
            struct task *t = tasks_find(ws->tasks, id);
            bool current = t && t->state == TASK_RUNNING && t->lease == l[i] && t->worker &&
                           !strcmp(t->worker, w->id);
            if (pass == 0 && current) {
                log_debug("revoked attempt handed back task=%s lease=%" PRIu64 " worker=%s", id,
                          l[i], w->id);
                detach(ws, t);
                tasks_attempt_undone(ws->tasks, t);
                back++;
            } else if (pass == 0) {
                release_stopping(w, l[i]); /* cancelled meanwhile: it never ran */
            }
            free(id);
        }
    }
    ws->revokes_returned += back;
    ws->tasks->dispatch_needed = true;
    log_info("revoked worker=%s returned=%zu started=%zu", w->id, back, msg->nstarted);
}

void workers_message(struct workers *ws, struct worker *w, struct msg *msg)
{
    w->last_seen = ws->listen_ms;
    w->last_seen_wall = clock_wall_ms();
    switch (msg->type) {
    case MSG_PONG: /* its heartbeat */
    case MSG_ERROR:
        break;
    case MSG_PING: { /* it has not heard from us for a while */
        struct buf *b = w->conn ? conn_out(w->conn) : NULL;
        if (b) {
            /* It was just heard from, and beats as told from here on. */
            msg_encode_pong(b, 0, ws->beat_ms);
            w->beat_ms = ws->beat_ms;
        }
        break;
    }
    case MSG_RESULT:
        handle_result(ws, w, &msg->result);
        break;
    case MSG_OUTPUT:
        outputs_chunk(ws->outputs, w->id, &msg->chunk);
        /* Back-pressure: a disk behind stops reading this worker (which
         * then stops reading its tasks' pipes), not the whole loop. */
        if (!w->output_held && w->conn && outputs_backlog(ws->outputs, false)) {
            w->output_held = true;
            ws->output_held++;
            conn_hold_input(w->conn, true);
            log_info("output writer behind; not reading the worker until it catches up "
                     "worker=%s",
                     w->id);
        }
        break;
    case MSG_HELD:
        if (!w->reconciling) {
            conn_fail(w->conn, "held: only after the handshake, until one without 'more'");
            break;
        }
        if (take_held(ws, w, msg) == 0 && !msg->more)
            reconcile(ws, w);
        break;
    case MSG_REVOKED:
        handle_revoked(ws, w, msg);
        break;
    case MSG_DRAIN:
        if (!w->draining) {
            log_info("worker draining id=%s running=%d", w->id, w->running);
            metrics_worker_event("worker_draining", w->id);
        }
        w->draining = true;
        break;
    default:
        conn_fail(w->conn, "a worker may not send '%s'", msg_type_name(msg->type));
        break;
    }
}

/* Where a worker is found dead: silent past --worker-timeout. Workers beat
 * on their own every --heartbeat, so nothing is sent here. */
void workers_tick(struct workers *ws)
{
    int64_t now = ws->listen_ms;
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &ws->all)
    {
        struct worker *w = list_entry(pos, struct worker, node);
        int64_t limit = silence_limit(ws, w);
        if (w->reconciling && w->conn && now - w->registered_at > limit) {
            worker_declare_dead(ws, w, "did not finish listing what it holds");
            continue;
        }
        if (now - w->last_seen > limit) {
            char why[128];
            snprintf(why, sizeof(why), "silent for %.1fs", (double)(now - w->last_seen) / 1000);
            worker_declare_dead(ws, w, why);
        }
    }
}

/*
 * The grace past a task's timeout before the master expires the attempt
 * itself. The worker enforces the timeout first (SIGTERM at the timeout,
 * SIGKILL 2 s later, then the result at once), so the master steps in only
 * when that report is overdue: 5 s covers the kill grace, the reaping and a
 * loaded worker; 2 heartbeats keep it above the pace at which a worker under
 * a slow --heartbeat is heard from. A worker that goes silent altogether is
 * declared dead after --worker-timeout instead.
 */
int64_t workers_timeout_grace_ms(const struct workers_opts *opts)
{
    return MAX(TIMEOUT_GRACE_MIN_MS,
               2 * (opts->heartbeat_ms ? opts->heartbeat_ms : DEFAULT_BEAT_MS));
}

/* Asks the worker running t to stop it. */
static void kill_attempt(struct workers *ws, struct task *t)
{
    struct worker *w = t->worker ? workers_find(ws, t->worker) : NULL;
    if (w && t->lease)
        add_lease(ws, w, &w->kills, &w->nkills, t->lease);
}

/* Attempts past their timeout plus the grace whose worker never reported
 * them (a hung or lying worker that still beats): the master records a
 * timed-out failure, which revokes the lease (a late result is discarded as
 * superseded), asks the worker to kill it, and retries by the same rules as
 * a timeout the worker reported. Only the earliest deadlines are looked at. */
void workers_expire(struct workers *ws)
{
    struct task *t;
    while ((t = tasks_expired(ws->tasks, ws->listen_ms))) {
        char error[160];
        int64_t timeout = spec_timeout_ms(t->spec);
        snprintf(error, sizeof(error),
                 "timed out after %.3fs; expired by the master (no result "
                 "from the worker %.1fs past the timeout)",
                 (double)timeout / 1000, (double)workers_timeout_grace_ms(&ws->opts) / 1000);
        log_warn("expired an attempt past its timeout task=%s lease=%" PRIu64 " worker=%s", t->id,
                 t->lease, t->worker ? t->worker : "?");
        kill_attempt(ws, t);
        detach_stopping(ws, t);
        tasks_attempt_expired(ws->tasks, t, error);
    }
}

void workers_output_resume(struct workers *ws)
{
    if (!ws->output_held || outputs_backlog(ws->outputs, true))
        return;
    log_info("output writer caught up; reading held workers again workers=%zu", ws->output_held);
    struct list *p, *q;
    list_for_each_safe(p, q, &ws->all)
    {
        struct worker *w = list_entry(p, struct worker, node);
        if (!w->output_held)
            continue;
        w->output_held = false;
        if (w->conn)
            conn_hold_input(w->conn, false);
    }
    ws->output_held = 0;
}

void workers_flush_control(struct workers *ws)
{
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &ws->control)
    {
        struct worker *w = list_entry(pos, struct worker, control_node);
        list_del(&w->control_node);
        struct buf *b = w->conn ? conn_out(w->conn) : NULL;
        if (w->nacks && b)
            msg_encode_leases(b, MSG_ACK, w->acks.data);
        if (w->nkills && b)
            msg_encode_leases(b, MSG_KILL, w->kills.data);
        buf_reset(&w->acks);
        buf_reset(&w->kills);
        w->nacks = w->nkills = 0;
    }
}

void workers_cancel_attempt(struct workers *ws, struct task *t)
{
    kill_attempt(ws, t);
    detach_stopping(ws, t);
}

/* How many tasks w may hold past its slots, so that a slot that frees up
 * starts the next task without a round trip to the master: --prefetch N,
 * or by default enough to cover PREFETCH_COVER_MS at its tasks' pace (none
 * before a result told us the pace, none for long tasks), at most its
 * slots or PREFETCH_FEW_SLOTS. Priorities stay strict: see revoke_behind(). */
static int prefetch_of(const struct workers *ws, const struct worker *w)
{
    if (ws->opts.prefetch >= 0)
        return (int)ws->opts.prefetch;
    if (!w->dur_samples || w->dur_ms > PREFETCH_LONG_MS)
        return 0;
    double want = ceil(w->slots * PREFETCH_COVER_MS / MAX(w->dur_ms, 0.5));
    return (int)MIN(want, (double)MAX(w->slots, PREFETCH_FEW_SLOTS));
}

/* How many attempts w may hold: its slots and its prefetch. */
static int capacity(const struct workers *ws, const struct worker *w)
{
    return w->slots + prefetch_of(ws, w);
}

/* Ready-heap order (sched/queue.c): higher priority, then submitted first. */
static bool comes_first(int64_t prio_a, uint64_t seq_a, int64_t prio_b, uint64_t seq_b)
{
    return prio_a != prio_b ? prio_a > prio_b : seq_a < seq_b;
}

static int cmp_load(const void *a, const void *b)
{
    const struct worker *x = *(struct worker *const *)a, *y = *(struct worker *const *)b;
    /* Lower running/slots first; compare by cross-multiplying. */
    int64_t l = (int64_t)x->running * y->slots, r = (int64_t)y->running * x->slots;
    return l < r ? -1 : l > r;
}

/* What one dispatch pass writes to one worker: its run lines (and the
 * revokes before them), from `from` in its connection's output. */
struct run_out {
    struct buf *b;
    size_t from, start;
    int in_msg, n;
    bool waits; /* some of it must wait for the commit (send_runs_now()) */
};

static void run_open(struct worker *w, struct run_out *o)
{
    if (!o->b) {
        o->b = conn_out(w->conn);
        o->from = o->b->len;
    }
}

static void run_add(struct worker *w, struct run_out *o, struct task *t)
{
    run_open(w, o);
    if (o->in_msg == 0) {
        o->start = o->b->len;
        msg_run_begin(o->b);
    } else if (o->b->len - o->start > RUN_LINE_SOFT_MAX) {
        /* Keep every run line well under the frame limit. */
        msg_run_end(o->b);
        o->start = o->b->len;
        msg_run_begin(o->b);
        o->in_msg = 0;
    }
    msg_run_add(o->b, o->in_msg == 0, t->lease, t->attempts, t->spec);
    o->in_msg++;
    o->n++;
}

/* Ends the run line being built, so that another line may go first. */
static void run_break(struct run_out *o)
{
    if (o->b && o->in_msg > 0) {
        msg_run_end(o->b);
        o->in_msg = 0;
    }
}

/*
 * Task t goes to w past its slots. Tasks waiting there past its slots that
 * t comes before in the ready heap's order are asked back first (revoke),
 * in a line that precedes t's run line, so the worker, which starts what it
 * holds in the order received, starts t before any of them; it hands back
 * those it has not started (and says which had), and they return to the
 * queue (handle_revoked()). The waiting part of a worker's list thus stays
 * in the heap's order, and is walked from its end. Returns how many were
 * asked back.
 */
static size_t revoke_behind(struct workers *ws, struct worker *w, struct run_out *o,
                            const struct task *t)
{
    struct buf list;
    size_t n = 0;
    int idx = w->running - 1;
    buf_init(&list);
    for (struct list *p = w->tasks.prev; p != &w->tasks && idx >= w->slots; p = p->prev, idx--) {
        struct task *x = list_entry(p, struct task, worker_node);
        if (is_revoking(w, x->lease))
            continue;
        if (!comes_first(t->priority, t->seq, x->priority, x->seq))
            break;
        if (w->nrevoking == w->revoking_cap) {
            w->revoking_cap = w->revoking_cap ? 2 * w->revoking_cap : 8;
            w->revoking = xrealloc(w->revoking, w->revoking_cap * sizeof(*w->revoking));
        }
        w->revoking[w->nrevoking].lease = x->lease;
        w->revoking[w->nrevoking++].id = xstrdup(x->id);
        msg_leases_add(&list, x->lease);
        n++;
    }
    if (n) {
        run_break(o);
        run_open(w, o);
        o->waits = true;
        msg_encode_leases(o->b, MSG_REVOKE, list.data);
        ws->revokes_sent += n;
        log_info("revoking prefetched attempts for one that comes first task=%s worker=%s "
                 "count=%zu",
                 t->id, w->id, n);
    }
    buf_release(&list);
    return n;
}

/* Whether w starts a task leased to it now within RUN_SOON_MS: a slot is
 * free, or the tasks ahead of it, at w's pace, end that soon. The pace is
 * the tasks' own duration, without the cost of starting them: it errs
 * towards "soon", where a commit is not held back, never towards a worker
 * that runs dry. The floor only keeps noops (0 ms) from counting as
 * free. */
static bool starts_soon(const struct worker *w)
{
    if (w->running < w->slots || !w->dur_samples)
        return true;
    double ahead = (double)(w->running - w->slots + 1);
    return ahead * MAX(w->dur_ms, 0.1) / w->slots < RUN_SOON_MS;
}

/*
 * Whether t's run may leave before the commit that records its attempt
 * (send_runs_now()): t is one of this turn's waited-for tasks, accepted in
 * the batch that records its attempt too (no commit came between, such as
 * a tasks_sync()), so a master killed before that commit never accepted t
 * (its client got no reply, as if the submit had been lost) and cannot
 * start t again as the same attempt; and its lease lies under the durable
 * bound, so a restarted master never gives it out again (a result for a
 * lease it does not know is discarded and acked, as for a superseded
 * attempt). Where t starts at once on w, on a worker of short tasks, notes
 * which run_out carries it, for ws->holding.
 */
static bool may_run_early(struct workers *ws, const struct worker *w, const struct run_out *o,
                          const struct task *t)
{
    for (size_t k = 0; k < ws->nawaited; k++) {
        struct awaited *aw = &ws->awaited[k];
        if (aw->task != t)
            continue;
        if (aw->epoch != tasks_open_epoch(ws->tasks) || !tasks_lease_durable(ws->tasks, t->lease))
            return false;
        if (w->running < w->slots && (!w->dur_samples || w->dur_ms < WORKERS_AWAIT_HOLD_MS))
            aw->out = o;
        return true;
    }
    return false;
}

/* Leases t to w (placed by the caller), after asking back what it passes. */
static void lease_to(struct workers *ws, struct worker *w, struct run_out *o, struct task *t)
{
    if (starts_soon(w))
        ws->run_starts_soon = true;
    if (w->running >= w->slots) {
        revoke_behind(ws, w, o, t);
        if (!ws->pf_bound_set ||
            comes_first(ws->pf_bound_prio, ws->pf_bound_seq, t->priority, t->seq)) {
            ws->pf_bound_set = true;
            ws->pf_bound_prio = t->priority;
            ws->pf_bound_seq = t->seq;
        }
    }
    tasks_dispatch_taken(ws->tasks, t, w->id, ws->listen_ms);
    if (!may_run_early(ws, w, o, t))
        o->waits = true;
    attach(w, t);
    run_add(w, o, t);
}

void workers_await(struct workers *ws, const struct task *t)
{
    if (ws->nawaited < WORKERS_AWAIT_MAX)
        ws->awaited[ws->nawaited++] =
            (struct awaited){.task = t, .epoch = tasks_open_epoch(ws->tasks)};
}

void workers_batch_handed(struct workers *ws)
{
    ws->nholding = 0;
}

/*
 * Sends o's lines to w now, before the commit of the batch that records
 * them, where that keeps every guarantee (may_run_early() for each run):
 * a single master (runs_before_commit), no revoke among them (a worker
 * that handed an attempt back must not meet a master that forgot asking),
 * and nothing held before them on the connection. Returns whether they
 * left.
 */
static bool send_runs_now(struct workers *ws, struct worker *w, const struct run_out *o)
{
    return ws->opts.runs_before_commit && o->n && !o->waits && conn_send_now(w->conn, o->from);
}

/* The last task waiting on w past its slots and not being revoked, or NULL. */
static struct task *last_prefetched(struct worker *w)
{
    int idx = w->running - 1;
    for (struct list *p = w->tasks.prev; p != &w->tasks && idx >= w->slots; p = p->prev, idx--) {
        struct task *x = list_entry(p, struct task, worker_node);
        if (!is_revoking(w, x->lease))
            return x;
    }
    return NULL;
}

/*
 * No worker has room, and ready task t may come before tasks prefetched on
 * some worker (ws->pf_bound): it goes to the worker whose last prefetched
 * task comes last, taking their place (lease_to() revokes them). Returns
 * false, and narrows the bound to the truth, when no prefetched task comes
 * after t.
 */
static bool preempt(struct workers *ws, struct worker **bw, struct run_out *outs, size_t n,
                    int reserved, struct task *t)
{
    static const struct request zero;
    int best = -1;
    struct task *worst = NULL, *best_x = NULL;
    for (size_t i = 0; i < n; i++) {
        struct worker *w = bw[i];
        struct task *x = last_prefetched(w);
        if (!x)
            continue;
        if (!worst || comes_first(worst->priority, worst->seq, x->priority, x->seq))
            worst = x;
        if (!conn_is_ready(w->conn) || w->reconciling || (int)i == reserved ||
            !comes_first(t->priority, t->seq, x->priority, x->seq) ||
            !res_fits(task_req(t), &w->total, &zero, NULL))
            continue;
        if (!best_x || comes_first(best_x->priority, best_x->seq, x->priority, x->seq)) {
            best = (int)i;
            best_x = x;
        }
    }
    if (best < 0) {
        ws->pf_bound_set = worst != NULL;
        if (worst) {
            ws->pf_bound_prio = worst->priority;
            ws->pf_bound_seq = worst->seq;
        }
        return false;
    }
    lease_to(ws, bw[best], &outs[best], t);
    return true;
}

static void set_reservation(struct workers *ws, const struct task *t, const struct worker *w)
{
    free(ws->resv_task);
    free(ws->resv_worker);
    ws->resv_task = t ? xstrdup(t->id) : NULL;
    ws->resv_worker = w ? xstrdup(w->id) : NULL;
}

/*
 * Deals ready tasks in priority order to the workers where all of their
 * request fits (sched/place.h has the rule), round-robin from the least
 * loaded. A task that fits no connected worker's totals is parked with the
 * reason; the first that fits some worker's totals but none now reserves a
 * worker; after PLACE_SCAN_MAX such tasks, or once no worker has room, the
 * pass stops. Tasks looked at and not placed go back to the queue.
 */
static void dispatch_pass(struct workers *ws)
{
    ws->tasks->dispatch_needed = false;
    if (!tasks_ready(ws->tasks))
        return;
    struct worker **bw = xcalloc(ws->n + 1, sizeof(*bw));
    size_t n = 0, open = 0;
    struct list *pos;
    for (pos = ws->all.next; pos != &ws->all; pos = pos->next) {
        struct worker *w = list_entry(pos, struct worker, node);
        if (!w->conn || w->draining)
            continue;
        bw[n++] = w;
        if (conn_is_ready(w->conn) && !w->reconciling && w->running < capacity(ws, w))
            open++;
    }
    if (!open) {
        /* Nothing fits anywhere: only a task that may take a prefetched
         * task's place can move (the common case costs one look). */
        struct task *top = ws->pf_bound_set ? tasks_take_ready(ws->tasks) : NULL;
        bool may = top && comes_first(top->priority, top->seq, ws->pf_bound_prio, ws->pf_bound_seq);
        if (top)
            tasks_put_back(ws->tasks, top);
        if (!may) {
            free(bw);
            return;
        }
    }
    qsort(bw, n, sizeof(*bw), cmp_load);
    struct place_bin *bins = xcalloc(n + 1, sizeof(*bins));
    struct run_out *outs = xcalloc(n + 1, sizeof(*outs));
    int prefer = -1;
    for (size_t i = 0; i < n; i++) {
        struct worker *w = bw[i];
        bins[i].total = w->total;
        bins[i].used = w->used;
        bins[i].open = conn_is_ready(w->conn) && !w->reconciling;
        bins[i].room = bins[i].open ? MAX(0, capacity(ws, w) - w->running) : 0;
        bins[i].load = w->running;
        bins[i].loose_room = MIN(bins[i].room, prefetch_of(ws, w));
        if (ws->resv_worker && !strcmp(ws->resv_worker, w->id))
            prefer = (int)i;
    }
    struct placer p;
    place_init(&p, bins, n);
    struct task **back = xcalloc(PLACE_SCAN_MAX + 1, sizeof(*back));
    size_t nback = 0;
    bool reserved = false;
    const struct request **totals = NULL;
    struct task *t;
    while (place_any_room(&p) && nback < PLACE_SCAN_MAX && (t = tasks_take_ready(ws->tasks))) {
        size_t i;
        switch (place_one(&p, task_req(t), &i)) {
        case PLACE_OK:
            lease_to(ws, bw[i], &outs[i], t);
            break;
        case PLACE_WAIT:
            if (!reserved) {
                bool same = ws->resv_task && !strcmp(ws->resv_task, t->id);
                int r = place_reserve(&p, task_req(t), same ? prefer : -1);
                reserved = true;
                if (r >= 0 && (!same || r != prefer))
                    log_info("reserved a worker for a task that waits for resources task=%s "
                             "worker=%s",
                             t->id, bw[r]->id);
                set_reservation(ws, t, r >= 0 ? bw[r] : NULL);
            }
            back[nback++] = t;
            break;
        case PLACE_NEVER: {
            char why[512];
            if (!totals) { /* once a pass: parking many is O(workers) each */
                totals = xcalloc(n + 1, sizeof(*totals));
                for (size_t k = 0; k < n; k++)
                    totals[k] = &bw[k]->total;
            }
            res_why_unschedulable(task_req(t), totals, n, why, sizeof(why));
            tasks_park(ws->tasks, t, why);
            break;
        }
        }
    }
    if (!reserved && ws->resv_task)
        set_reservation(ws, NULL, NULL);
    for (size_t k = 0; k < nback; k++)
        tasks_put_back(ws->tasks, back[k]);
    /* No room left: a ready task that comes before tasks prefetched on a
     * worker takes their place there. */
    int resv = p.reserved;
    for (int k = 0; k < PREEMPT_MAX && nback == 0 && !place_any_room(&p) && ws->pf_bound_set &&
                    (t = tasks_take_ready(ws->tasks));
         k++) {
        if (!comes_first(t->priority, t->seq, ws->pf_bound_prio, ws->pf_bound_seq) ||
            !preempt(ws, bw, outs, n, resv, t)) {
            tasks_put_back(ws->tasks, t);
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!outs[i].b)
            continue;
        run_break(&outs[i]);
        if (send_runs_now(ws, bw[i], &outs[i]))
            for (size_t k = 0; k < ws->nawaited; k++)
                if (ws->awaited[k].out == &outs[i] && ws->nholding < WORKERS_AWAIT_MAX)
                    ws->holding[ws->nholding++] = ws->awaited[k].task->lease;
        /* Debug: at info, a line a pass was a write and a clock read for
         * every task or two of a busy worker; the events ring keeps each
         * start (started) for the API and the dashboard anyway. */
        if (outs[i].n)
            log_debug("dispatched worker=%s tasks=%d", bw[i]->id, outs[i].n);
    }
    free(totals);
    free(back);
    free(outs);
    free(bins);
    free(bw);
}

void workers_dispatch(struct workers *ws)
{
    dispatch_pass(ws);
    ws->nawaited = 0;
}
