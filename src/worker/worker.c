/* SPDX-License-Identifier: MIT */
/*
 * The worker node's wiring: the listener and the dial-in connection with
 * reconnect backoff, the master session (run, kill, ack, ping), attempts
 * (exec through runner.c, built-ins in-process), results kept until acked
 * and re-sent to a returning master, draining, and self-termination.
 */
#include "worker/worker.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "common/notify.h"
#include "common/auth.h"
#include "common/clock.h"
#include "common/hmap.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/util.h"
#include "net/conn.h"
#include "net/tls.h"
#include "proto/msg.h"
#include "worker/builtin.h"
#include "worker/cgroup.h"
#include "worker/guard.h"
#include "worker/runner.h"

#define TICK_MS 100
#define REDIAL_MIN_MS 200
#define REDIAL_MAX_MS 3000
#define DRAIN_REPORT_GRACE_MS 10000
/* Attempts started per loop turn at most, so a large run message cannot
 * keep the loop from answering pings (memcached's reqs_per_event). */
#define STARTS_PER_TURN 32
/* Entries per held message: about 160 KiB with the longest ids. */
#define HELD_CHUNK 1000
/* How often to beat when the master's hello names no interval. */
#define DEFAULT_HEARTBEAT_MS 1000
/* Asking the master for an answer at least this often (see ask_after). */
#define ASK_MAX_MS 5000
/* A master that has not answered for this long (see deaf_since) may be
 * replaced by another (a restarted one whose old connection is half-open). */
#define MASTER_STALE_MS 3000
/* --master A,B,C (a master group): at most this many addresses, and this
 * many leader hints followed before the worker backs off. */
#define MASTERS_MAX 16
#define MASTER_HOPS 4
/* Output back-pressure: with more than this many bytes unsent to the
 * master, the tasks' pipes are no longer read (the tasks block on them)
 * until fewer than OUTPUT_LOW are left. At 100 MB/s of output that is 20 ms
 * of it ahead of a heartbeat or a result. */
#define OUTPUT_HIGH (2u * 1024 * 1024)
#define OUTPUT_LOW (512u * 1024)
/* An attempt's output lines are kept until its result is acknowledged, so
 * that a master that restarted gets them again (it skips what it has), up
 * to this many bytes of lines; past it the sent ones are forgotten (such a
 * master then records the stream as truncated). */
#define OUTPUT_RETAIN_MAX (8u * 1024 * 1024)

struct node;

/* One attempt running here. */
struct attempt {
    struct node *node;
    uint64_t lease;
    int number;
    struct task_spec spec;
    struct runner *runner;
    uv_timer_t timer; /* sleep kind, and its timeout */
    bool timer_used;
    int64_t started_at;
    uint64_t started_ns; /* uv_hrtime() at the start: its run time feeds n->pace_ms */
    int64_t sleep_ms;
    struct wres_grant grant; /* its CPU and GPU ids, while started */
    bool exited;             /* its process has ended: slot and grant are free */
    char *cgroup;            /* its memory cgroup (worker/cgroup.h), or NULL */
    uint64_t written[2];     /* bytes of stdout and stderr the task wrote */
    uint64_t sent[2];        /* of those, bytes streamed (the rest: past --max-output) */
    /* Output lines kept for a returning master (OUTPUT_RETAIN_MAX); those
     * from `unsent` on have not been sent yet (no master, or paused). */
    struct buf retained;
    size_t unsent;
    /* Bytes read but not yet in an output line: the reads of one loop turn
     * are sent together (a task writing 4 KiB at a time would otherwise
     * cost a message per 4 KiB), at the turn's end or once a chunk is full. */
    struct buf held[2];
    struct list held_link; /* on node->held_output while held is not empty */
    bool on_held;
    struct list link;
    char key[24]; /* the lease in decimal: n->by_lease finds it */
};

/* A result not yet acknowledged by a master. */
struct pending {
    uint64_t lease;
    char *id;
    struct buf output; /* the attempt's output lines (retained), sent first */
    struct buf line;
    struct list link;
};

struct node {
    uv_loop_t *loop;
    struct runners runners; /* its exec tasks, their exits watched together */
    int exit_code;          /* what worker_run returns once the tick stopped the loop */
    struct worker_opts opts;
    char *token;
    struct tls_ctx *tls; /* NULL: plaintext */
    struct guard *guard; /* kills the tasks' groups if we die */
    char id[MSG_MAX_ID + 1];
    /* 128 random bits, new in each process: proves to the master that a new
     * session comes from this process (docs/protocol.md, hello). */
    char instance[MSG_INSTANCE_HEX + 1];
    char node_name[MSG_MAX_ID + 16];
    struct conn_hub hub;
    struct conn_listener listener;
    char addr[300];
    struct conn *master; /* current master session, or NULL */
    char master_id[300];
    struct list attempts; /* started */
    int nrunning;
    int nexited;          /* of those, ended but not finished: their slots are free */
    struct list waiting;  /* received, not started yet */
    struct hmap by_lease; /* every attempt in attempts or waiting */
    int nwaiting;
    uv_idle_t pump; /* active while waiting attempts can start */
    struct list results;
    size_t nresults;
    int64_t last_word; /* loop ms of the last message from a master */
    /* Loop ms since when the master has failed to answer: the first
     * unanswered ask, the loss of the connection, or the start; 0 while it
     * answers. --master-timeout counts from here, so a worker never gives
     * up on a master that was merely quiet before it became unreachable. */
    int64_t deaf_since;
    int64_t heartbeat_ms, last_beat, last_ask;
    bool draining, drain_killed;
    int64_t drain_started;
    /* --idle-timeout: when it last had work; --lifetime: when it must be
     * done (loop ms; 0: none) */
    int64_t last_busy, deadline;
    /* --master: one address, or a master group's (dialed in turn, and the
     * leader a member names when it is not the leader) */
    struct master_addr {
        char host[ADDR_HOST_MAX];
        int port;
    } masters[MASTERS_MAX], hint;
    int nmasters;
    int mnext;   /* the address dialed next */
    int tried;   /* addresses that failed since the last backoff */
    int hops;    /* leader hints followed since then */
    bool hinted; /* the next dial goes to hint */
    struct conn *dialing;
    int64_t redial_at, backoff_ms;
    uv_timer_t tick;
    uv_prepare_t prepare;
    uv_timer_t send_timer; /* ends a hold (send_may_wait()) */
    int64_t held_since;    /* loop ms since sends are held; 0: not held */
    int64_t hold_ms;       /* for how long, fixed as the hold starts (send_hold_ms()) */
    double pace_ms;        /* moving average of an attempt's run time (send_hold_ms()) */
    bool send_now;         /* a reply the master waits for (pong, revoke) */
    uv_signal_t sigint, sigterm, sighup;
    struct wres res;         /* what it offers, and the ids its attempts hold */
    struct cgroups cg;       /* per-task memory limits, when cg.on */
    bool output_paused;      /* the tasks' pipes are not read (OUTPUT_HIGH) */
    struct list held_output; /* attempts with output bytes held (struct attempt) */
};

static void redial_later(struct node *n);
static void pump_cb(uv_idle_t *h);
static void start_drain(struct node *n, const char *why);

/* ---- results --------------------------------------------------------------- */

static void send_pending(struct node *n, struct pending *p)
{
    struct buf *b = n->master ? conn_out(n->master) : NULL;
    if (b)
        buf_add(b, p->line.data, p->line.len);
}

/* Sends a's output lines not sent yet (all of them with from_start, for a
 * new master). */
static void send_retained(struct attempt *a, struct buf *b, bool from_start)
{
    size_t from = from_start ? 0 : a->unsent;
    if (a->retained.len > from)
        buf_add(b, a->retained.data + from, a->retained.len - from);
    a->unsent = a->retained.len;
}

static void attempt_free(struct attempt *a)
{
    if (a->on_held)
        list_del(&a->held_link);
    buf_release(&a->held[0]);
    buf_release(&a->held[1]);
    buf_release(&a->retained);
    spec_release(&a->spec);
    free(a->cgroup);
    free(a);
}

static void attempt_timer_closed_cb(uv_handle_t *h)
{
    attempt_free(h->data);
}

static void emit_held(struct attempt *a);

/* Records the end of attempt a, queues its result, and frees a. */
static void finish(struct attempt *a, bool ok, int exit_code, int sig, const char *error,
                   struct task_output *out)
{
    struct node *n = a->node;
    struct msg m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_RESULT;
    m.result.lease = a->lease;
    m.result.id = a->spec.id;
    m.result.attempt = a->number;
    m.result.ok = ok;
    m.result.exit_code = exit_code;
    m.result.term_signal = sig;
    m.result.error = (char *)error;
    if (out)
        m.result.out = *out;
    emit_held(a); /* the output's last bytes go before the result */
    if (a->started_ns) {
        double ms = (double)(uv_hrtime() - a->started_ns) / 1e6;
        n->pace_ms = n->pace_ms > 0 ? n->pace_ms + (ms - n->pace_ms) / 8 : ms;
    }
    m.result.started_at = a->started_at;
    m.result.finished_at = clock_wall_ms();
    m.result.out_bytes = a->written[0];
    m.result.err_bytes = a->written[1];
    struct pending *p = xcalloc(1, sizeof(*p));
    p->lease = a->lease;
    p->id = xstrdup(a->spec.id);
    msg_encode(&p->line, &m);
    /* Output no master has seen yet goes first: the master takes a result
     * as the end of the attempt's output. */
    struct buf *b = n->master ? conn_out(n->master) : NULL;
    if (b)
        send_retained(a, b, false);
    p->output = a->retained;
    buf_init(&a->retained);
    list_add_tail(&n->results, &p->link);
    n->nresults++;
    send_pending(n, p);
    if (ok)
        log_debug("attempt succeeded task=%s attempt=%d lease=%" PRIu64, a->spec.id, a->number,
                  a->lease);
    else
        log_info("attempt failed task=%s attempt=%d lease=%" PRIu64 " error=%s", a->spec.id,
                 a->number, a->lease, log_quote(error));
    list_del(&a->link);
    hmap_del(&n->by_lease, a->key);
    n->nrunning--;
    if (a->exited)
        n->nexited--;
    else
        wres_give_back(&n->res, &a->grant);
    if (n->nwaiting)
        uv_idle_start(&n->pump, pump_cb);
    if (a->timer_used)
        uv_close((uv_handle_t *)&a->timer, attempt_timer_closed_cb);
    else
        attempt_free(a);
}

static void runner_done_cb(struct runner *r, struct runner_result *res, void *data)
{
    struct attempt *a = data;
    char error[256] = "";
    (void)r;
    a->runner = NULL;
    bool oom = false;
    if (res->error) { /* it never ran: no such program, or a bad cwd */
        if (a->cgroup) {
            cgroup_task_remove(a->cgroup);
            free(a->cgroup);
            a->cgroup = NULL;
        }
        finish(a, false, 127, 0, res->error, NULL);
        free(res->error);
        free(res->out);
        free(res->err);
        return;
    }
    if (a->cgroup) {
        oom = res->term_signal == SIGKILL && !res->killed && !res->timed_out &&
              a->spec.req->mem > 0 && cgroup_task_oom(a->cgroup);
        if (!cgroup_task_remove(a->cgroup))
            log_warn("could not remove the cgroup of a finished task task=%s path=%s (processes "
                     "left in it?)",
                     a->spec.id, a->cgroup);
        free(a->cgroup);
        a->cgroup = NULL;
    }
    struct task_output out = {
        .out = res->out,
        .out_len = res->out_len,
        .out_truncated = res->out_truncated,
        .err = res->err,
        .err_len = res->err_len,
        .err_truncated = res->err_truncated,
    };
    bool ok = !res->timed_out && !res->killed && res->term_signal == 0 && res->exit_code == 0;
    char limit[32];
    if (oom) {
        res_format_size(a->spec.req->mem, limit, sizeof(limit));
        snprintf(error, sizeof(error), "out of memory (limit %s)", limit);
    } else if (res->timed_out)
        snprintf(error, sizeof(error), "timed out after %.3fs; killed", a->spec.timeout_ms / 1e3);
    else if (res->killed)
        snprintf(error, sizeof(error), "killed on request");
    else if (res->term_signal)
        snprintf(error, sizeof(error), "killed by signal %d (%s)", res->term_signal,
                 strsignal(res->term_signal));
    else if (res->exit_code != 0)
        snprintf(error, sizeof(error), "exited with status %d", res->exit_code);
    finish(a, ok, res->exit_code, res->term_signal, ok ? NULL : error, &out);
    free(res->out);
    free(res->err);
}

static void sleep_done_cb(uv_timer_t *t)
{
    struct attempt *a = t->data;
    struct task_output out = {.result = (char *)"null"};
    if (a->spec.timeout_ms && a->spec.timeout_ms < a->sleep_ms) {
        char error[128];
        snprintf(error, sizeof(error), "timed out after %.3fs", a->spec.timeout_ms / 1e3);
        finish(a, false, -1, 0, error, NULL);
        return;
    }
    finish(a, true, 0, 0, NULL, &out);
}

/* Stops reading every task's output, until resume_output(). */
static void pause_output(struct node *n)
{
    n->output_paused = true;
    for (struct list *p = n->attempts.next; p != &n->attempts; p = p->next) {
        struct attempt *a = list_entry(p, struct attempt, link);
        if (a->runner)
            runner_pause(a->runner);
    }
}

/* Once a master is there and its connection has room: sends what was
 * written while none was, then reads the tasks' output again. Called before
 * each flush. */
static void resume_output(struct node *n)
{
    if (!n->output_paused || !n->master || conn_pending_bytes(n->master) > OUTPUT_LOW)
        return;
    struct buf *b = conn_out(n->master);
    if (!b)
        return;
    n->output_paused = false;
    for (struct list *p = n->attempts.next; p != &n->attempts; p = p->next) {
        struct attempt *a = list_entry(p, struct attempt, link);
        send_retained(a, b, false);
        if (a->runner)
            runner_resume(a->runner);
    }
}

/* Sends (or keeps, with no master) the bytes held of one stream as an
 * output message with their offset in the stream; pauses every task's
 * output when the master connection has too much unsent. */
static void emit_stream(struct attempt *a, int stream)
{
    struct node *n = a->node;
    struct buf *h = &a->held[stream];
    if (!h->len)
        return;
    struct output_chunk c = {
        .lease = a->lease,
        .id = a->spec.id,
        .attempt = a->number,
        .stream = (enum output_stream)stream,
        .offset = a->sent[stream],
        .data = h->data,
        .len = h->len,
    };
    a->sent[stream] += h->len;
    if (a->unsent == a->retained.len && a->retained.len > OUTPUT_RETAIN_MAX) {
        buf_reset(&a->retained); /* all sent: forget them */
        a->unsent = 0;
    }
    msg_encode_output_raw(&a->retained, &c);
    buf_reset(h);
    struct buf *b = n->master && !n->output_paused ? conn_out(n->master) : NULL;
    if (b)
        send_retained(a, b, false);
    if (!b || conn_pending_bytes(n->master) > OUTPUT_HIGH)
        pause_output(n);
}

static void emit_held(struct attempt *a)
{
    emit_stream(a, 0);
    emit_stream(a, 1);
    if (a->on_held) {
        list_del(&a->held_link);
        a->on_held = false;
    }
}

/* A piece of a task's output: held until the loop turn ends or a chunk is
 * full, then streamed to the master (or kept until one is there), in
 * order. */
static void output_cb(struct runner *r, int stream, const char *p, size_t len, void *data)
{
    struct attempt *a = data;
    struct node *n = a->node;
    a->written[stream] += len;
    uint64_t cap = n->opts.max_output > 0 ? (uint64_t)n->opts.max_output : UINT64_MAX;
    uint64_t taken = a->sent[stream] + a->held[stream].len;
    if (taken >= cap)
        return; /* dropped here; the master sees the result's count is larger */
    len = (size_t)MIN((uint64_t)len, cap - taken);
    while (len) {
        size_t room = MSG_OUTPUT_CHUNK - a->held[stream].len;
        size_t k = MIN(len, room);
        buf_add(&a->held[stream], p, k);
        p += k;
        len -= k;
        if (a->held[stream].len == MSG_OUTPUT_CHUNK)
            emit_stream(a, stream);
    }
    if (a->held[stream].len && !a->on_held) {
        list_add_tail(&n->held_output, &a->held_link);
        a->on_held = true;
    }
    if (n->output_paused)
        runner_pause(r); /* a->runner is not set yet during runner_start() */
}

/* The task's process has ended and its group is gone: its slot takes the
 * next task now, before its output is read and its result sent (on two
 * slots of /bin/true that bookkeeping left a slot empty a tenth of the
 * time). */
static void runner_exited_cb(struct runner *r UNUSED, void *data)
{
    struct attempt *a = data;
    struct node *n = a->node;
    a->exited = true;
    n->nexited++;
    wres_give_back(&n->res, &a->grant);
    if (n->nwaiting)
        pump_cb(&n->pump);
}

static void start_exec(struct attempt *a)
{
    struct node *n = a->node;
    char err[512];
    char **renv = NULL;
    size_t nrenv = 0;
    wres_env(&n->res, &a->grant, &renv, &nrenv);
    size_t extra = a->spec.envc;
    const char **env = xcalloc(extra + nrenv + 4, sizeof(char *));
    char id_env[MSG_MAX_ID + 16], attempt_env[32], worker_env[MSG_MAX_ID + 16];
    for (size_t i = 0; i < extra; i++)
        env[i] = a->spec.env[i];
    snprintf(id_env, sizeof(id_env), "DTR_TASK_ID=%s", a->spec.id);
    snprintf(attempt_env, sizeof(attempt_env), "DTR_ATTEMPT=%d", a->number);
    snprintf(worker_env, sizeof(worker_env), "DTR_WORKER_ID=%s", n->id);
    env[extra] = id_env;
    env[extra + 1] = attempt_env;
    env[extra + 2] = worker_env;
    for (size_t i = 0; i < nrenv; i++)
        env[extra + 3 + i] = renv[i];
    /* A cgroup for a memory limit, or (v2) a fractional CPU quota. */
    if (n->cg.on && a->spec.req &&
        (a->spec.req->mem > 0 || (n->cg.cpu && a->spec.req->cpus_milli % 1000))) {
        char path[CGROUP_PATH_MAX + 64];
        if (cgroup_task_make(&n->cg, a->key, a->spec.req->mem, a->spec.req->cpus_milli, path,
                             sizeof(path), err, sizeof(err))) {
            for (size_t i = 0; i < nrenv; i++)
                free(renv[i]);
            free(renv);
            free(env);
            finish(a, false, 127, 0, err, NULL);
            return;
        }
        a->cgroup = xstrdup(path);
    }
    int cpus[RES_MAX_CPUS > 1024 ? 1024 : RES_MAX_CPUS];
    int ncpus = n->opts.pin ? wres_cpu_list(&n->res, &a->grant, cpus, 1024) : 0;
    struct runner_spec rs = {
        .argv = (const char *const *)a->spec.argv,
        .cmd = a->spec.cmd,
        .env = env,
        .cwd = a->spec.cwd,
        .timeout_ms = a->spec.timeout_ms,
        .capture_max = 0, /* streamed instead (output_cb) */
        .guard = n->guard,
        .pin_cpus = ncpus ? cpus : NULL,
        .npin_cpus = ncpus,
        .cgroup = a->cgroup,
        .cgroups = &n->cg,
        .output = output_cb,
        .exited = runner_exited_cb,
    };
    a->runner = runner_start(&n->runners, &rs, runner_done_cb, a, err, sizeof(err));
    if (!a->runner && a->cgroup) {
        cgroup_task_remove(a->cgroup);
        free(a->cgroup);
        a->cgroup = NULL;
    }
    free(env);
    for (size_t i = 0; i < nrenv; i++)
        free(renv[i]);
    free(renv);
    if (a->runner && n->output_paused)
        runner_pause(a->runner);
    if (!a->runner)
        finish(a, false, 127, 0, err, NULL);
}

static void start_builtin(struct attempt *a)
{
    char err[512];
    char *result = NULL;
    int64_t sleep_ms = 0;
    if (payload_eval(a->spec.kind, a->spec.payload, &result, &sleep_ms, err, sizeof(err))) {
        finish(a, false, -1, 0, err, NULL);
        return;
    }
    if (a->spec.kind == KIND_SLEEP) {
        free(result);
        a->sleep_ms = sleep_ms;
        uv_timer_init(a->node->loop, &a->timer);
        a->timer.data = a;
        a->timer_used = true;
        int64_t wait = sleep_ms;
        if (a->spec.timeout_ms && a->spec.timeout_ms < wait)
            wait = a->spec.timeout_ms;
        uv_timer_start(&a->timer, sleep_done_cb, (uint64_t)wait, 0);
        return;
    }
    struct task_output out = {.result = result};
    finish(a, true, 0, 0, NULL, &out);
    free(result);
}

static const struct request *attempt_req(const struct attempt *a)
{
    static const struct request one = {.cpus_milli = 1000};
    return a->spec.req ? a->spec.req : &one;
}

static void start_attempt(struct node *n, struct attempt *a)
{
    wres_take(&n->res, attempt_req(a), &a->grant);
    a->started_at = clock_wall_ms();
    a->started_ns = uv_hrtime();
    list_add_tail(&n->attempts, &a->link);
    n->nrunning++;
    log_debug("attempt started task=%s attempt=%d lease=%" PRIu64 " kind=%s", a->spec.id, a->number,
              a->lease, task_kind_name(a->spec.kind));
    if (n->opts.fail_rate > 0 && drand48() < n->opts.fail_rate) {
        char error[96];
        snprintf(error, sizeof(error), "injected failure (--fail-rate %g)", n->opts.fail_rate);
        finish(a, false, -1, 0, error, NULL);
        return;
    }
    if (a->spec.kind == KIND_EXEC)
        start_exec(a);
    else
        start_builtin(a);
}

/* Reports an attempt this worker will not run (it is draining); the master
 * re-queues it without counting an attempt. Kept until acknowledged like
 * any result. */
static void refuse(struct node *n, uint64_t lease, const char *id, int attempt)
{
    struct msg m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_RESULT;
    m.result.lease = lease;
    m.result.id = (char *)id;
    m.result.attempt = attempt;
    m.result.refused = true;
    m.result.exit_code = -1;
    m.result.error = (char *)"the worker is draining";
    struct pending *p = xcalloc(1, sizeof(*p));
    p->lease = lease;
    p->id = xstrdup(id);
    msg_encode(&p->line, &m);
    list_add_tail(&n->results, &p->link);
    n->nresults++;
    send_pending(n, p);
}

static const char *attempt_key(const void *item)
{
    return ((const struct attempt *)item)->key;
}

/* The attempt with this lease, running or waiting; a run of 1000 tasks to
 * a worker with 1000 slots must not walk the lists 1000 times. */
static struct attempt *find_attempt(struct node *n, uint64_t lease)
{
    char key[24];
    snprintf(key, sizeof(key), "%" PRIu64, lease);
    return hmap_get(&n->by_lease, key);
}

static int slots_busy(const struct node *n)
{
    return n->nrunning - n->nexited;
}

/* Starts waiting attempts while slots are free, a bounded number per turn. */
static void pump_cb(uv_idle_t *h)
{
    struct node *n = h->data;
    for (int k = 0; k < STARTS_PER_TURN && n->nwaiting && slots_busy(n) < n->opts.slots; k++) {
        struct attempt *a = list_entry(n->waiting.next, struct attempt, link);
        /* The master leases only what fits; with --prefetch an attempt
         * waits here, in order, until what it needs is free. */
        if (!wres_fits(&n->res, attempt_req(a)))
            break;
        list_del(&a->link);
        n->nwaiting--;
        start_attempt(n, a);
    }
    if (!n->nwaiting || slots_busy(n) >= n->opts.slots ||
        !wres_fits(&n->res, attempt_req(list_entry(n->waiting.next, struct attempt, link))))
        uv_idle_stop(&n->pump);
}

static void receive_attempt(struct node *n, struct run_item *item)
{
    struct attempt *a = xcalloc(1, sizeof(*a));
    a->node = n;
    a->lease = item->lease;
    a->number = item->attempt;
    a->spec = item->spec;
    memset(&item->spec, 0, sizeof(item->spec)); /* taken */
    snprintf(a->key, sizeof(a->key), "%" PRIu64, a->lease);
    log_debug("attempt received task=%s attempt=%d lease=%" PRIu64, a->spec.id, a->number,
              a->lease);
    hmap_put(&n->by_lease, a);
    list_add_tail(&n->waiting, &a->link);
    n->nwaiting++;
    uv_idle_start(&n->pump, pump_cb);
}

static void kill_attempt(struct attempt *a)
{
    log_info("stopping attempt task=%s lease=%" PRIu64, a->spec.id, a->lease);
    if (!a->started_at) {
        /* never started: move it to the running list so finish() can end it */
        list_del(&a->link);
        a->node->nwaiting--;
        list_add_tail(&a->node->attempts, &a->link);
        a->node->nrunning++;
        finish(a, false, -1, 0, "killed on request", NULL);
    } else if (a->runner) {
        runner_kill(a->runner);
    } else if (a->timer_used) {
        uv_timer_stop(&a->timer);
        finish(a, false, -1, 0, "killed on request", NULL);
    }
}

/*
 * The master takes back attempts it leased ahead of the free slots (a task
 * of a higher priority came). An attempt still waiting here is handed back:
 * forgotten, never started, no result. Anything else (started, ended,
 * refused, unknown) has or will have its result, and is answered as
 * started. Starting happens only in pump_cb, on this same loop thread, so
 * no attempt is both handed back and started.
 */
static void revoke_attempts(struct node *n, struct conn *c, const struct msg *m)
{
    struct msg r;
    memset(&r, 0, sizeof(r));
    r.type = MSG_REVOKED;
    r.leases = xcalloc(m->nleases + 1, sizeof(uint64_t));
    r.started = xcalloc(m->nleases + 1, sizeof(uint64_t));
    for (size_t i = 0; i < m->nleases; i++) {
        struct attempt *a = find_attempt(n, m->leases[i]);
        if (!a || a->started_at) {
            r.started[r.nstarted++] = m->leases[i];
            continue;
        }
        log_debug("attempt handed back task=%s lease=%" PRIu64, a->spec.id, a->lease);
        list_del(&a->link);
        hmap_del(&n->by_lease, a->key);
        n->nwaiting--;
        attempt_free(a);
        r.leases[r.nleases++] = m->leases[i];
    }
    log_info("revoked returned=%zu started=%zu waiting=%d", r.nleases, r.nstarted, n->nwaiting);
    struct buf *b = conn_out(c);
    if (b)
        msg_encode(b, &r);
    free(r.leases);
    free(r.started);
}

static void pending_free(struct node *n, struct pending *r)
{
    list_del(&r->link);
    n->nresults--;
    buf_release(&r->output);
    buf_release(&r->line);
    free(r->id);
    free(r);
}

static void drop_acked(struct node *n, uint64_t lease)
{
    struct list *p, *tmp;
    list_for_each_safe(p, tmp, &n->results)
    {
        struct pending *r = list_entry(p, struct pending, link);
        if (r->lease == lease) {
            pending_free(n, r);
            return;
        }
    }
}

/* On the way out after the loop stopped: what only the node still points
 * to. Running attempts keep their handles in the loop, which is not run
 * again. */
static void forget_held(struct node *n)
{
    struct list *p, *tmp;
    list_for_each_safe(p, tmp, &n->results)
    {
        pending_free(n, list_entry(p, struct pending, link));
    }
    list_for_each_safe(p, tmp, &n->waiting)
    {
        struct attempt *a = list_entry(p, struct attempt, link);
        list_del(&a->link);
        attempt_free(a);
    }
}

/* ---- the master session --------------------------------------------------- */

static void fill_hello(struct msg *h, void *data)
{
    struct node *n = data;
    h->addr = n->addr;
    h->slots = (int)n->opts.slots;
    h->offer = &n->res.total;
    h->draining = n->draining;
    /* Only to a master we dialed: a worker's own hello to a dialer goes out
     * before the dialer proves anything, and whoever learns the instance
     * could take over this worker's session. */
    if (h->to_acceptor)
        h->instance = n->instance;
}

/* Lists what we hold (attempts running or waiting to start, and results
 * not yet acknowledged) in held messages of at most HELD_CHUNK entries, the
 * last without "more". Sent once the master has proven itself, never in
 * the hello, so no peer learns it before the handshake completes. */
static void send_held(struct node *n, struct conn *c)
{
    struct buf *b = conn_out(c);
    if (!b)
        return;
    struct msg h;
    memset(&h, 0, sizeof(h));
    h.type = MSG_HELD;
    h.held = xcalloc(HELD_CHUNK, sizeof(*h.held));
    struct list *lists[] = {&n->attempts, &n->waiting, &n->results};
    for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
        for (struct list *p = lists[i]->next; p != lists[i]; p = p->next) {
            if (h.nheld == HELD_CHUNK) {
                h.more = true;
                msg_encode(b, &h);
                h.nheld = 0;
            }
            if (i < 2) {
                struct attempt *a = list_entry(p, struct attempt, link);
                h.held[h.nheld].lease = a->lease;
                h.held[h.nheld++].id = a->spec.id;
            } else {
                struct pending *r = list_entry(p, struct pending, link);
                h.held[h.nheld].lease = r->lease;
                h.held[h.nheld++].id = r->id;
            }
        }
    h.more = false;
    msg_encode(b, &h);
    free(h.held); /* the ids are borrowed */
}

/*
 * With no word from the master for this long, the next beat asks for an
 * answer. An idle master then writes to each worker every few seconds
 * instead of every beat. An eighth of --master-timeout bounds how much later
 * than --master-timeout after the master became unreachable the worker
 * gives up. When the master slows the beat for a big pool, the worker asks
 * every other beat, but at least every quarter of --master-timeout.
 */
static int64_t ask_after(const struct node *n)
{
    int64_t mt = n->opts.master_timeout_ms;
    int64_t t = MIN(mt > 0 ? mt / 8 : ASK_MAX_MS, ASK_MAX_MS);
    t = MAX(t, 2 * n->heartbeat_ms);
    return mt > 0 ? MIN(t, mt / 4) : t;
}

/* The heartbeat: a pong every --heartbeat of the master, or a ping when
 * we need to hear from it (the master answers a ping with a pong). */
static void heartbeat(struct node *n, int64_t now)
{
    struct buf *b = n->master ? conn_out(n->master) : NULL;
    if (!b)
        return;
    bool ask = now - n->last_word >= ask_after(n) && now - n->last_ask >= ask_after(n);
    if (!ask && now - n->last_beat < n->heartbeat_ms)
        return;
    n->last_beat = now;
    if (ask) {
        n->last_ask = now;
        if (!n->deaf_since)
            n->deaf_since = now; /* until the answer */
        msg_encode_ping(b);
    } else {
        msg_encode_pong(b, n->nrunning, 0);
    }
}

static int master_ready_cb(struct conn *c, struct msg *hello, char *err, size_t errlen)
{
    struct node *n = conn_hub_owner(c);
    if (n->master && n->master != c) {
        if (!strcmp(n->master_id, hello->id ? hello->id : "")) {
            snprintf(err, errlen, "already connected to this master");
            return -1;
        }
        /* Two masters must not take a worker from each other: the current
         * one keeps it while it is heard from. */
        if (!n->deaf_since || (int64_t)uv_now(n->loop) - n->deaf_since < MASTER_STALE_MS) {
            log_warn("refused a second master master=%s peer=%s serving=%s",
                     hello->id ? hello->id : "?", conn_peer(c), n->master_id);
            snprintf(err, errlen, "this worker is serving master '%s'", n->master_id);
            return -1;
        }
        struct conn *old = n->master;
        n->master = NULL;
        conn_close(old, "replaced by another master");
    }
    if (c == n->dialing)
        n->dialing = NULL;
    n->master = c;
    snprintf(n->master_id, sizeof(n->master_id), "%s", hello->id ? hello->id : "?");
    n->last_word = n->last_beat = n->last_ask = (int64_t)uv_now(n->loop);
    n->deaf_since = 0;
    n->heartbeat_ms = hello->heartbeat_ms ? hello->heartbeat_ms : DEFAULT_HEARTBEAT_MS;
    n->backoff_ms = 0;
    n->tried = n->hops = 0;
    log_info("master connected master=%s peer=%s via=%s held=%d unacked=%zu", n->master_id,
             conn_peer(c), conn_is_dialer(c) ? "dial-in" : "scan", n->nrunning, n->nresults);
    send_held(n, c);
    /* Everything a new master may lack: running attempts' output so far,
     * and each unacknowledged result after its attempt's output. */
    struct buf *b = conn_out(c);
    for (struct list *p = n->attempts.next; b && p != &n->attempts; p = p->next)
        send_retained(list_entry(p, struct attempt, link), b, true);
    for (struct list *p = n->results.next; b && p != &n->results; p = p->next) {
        struct pending *r = list_entry(p, struct pending, link);
        buf_add(b, r->output.data, r->output.len);
        buf_add(b, r->line.data, r->line.len);
    }
    if (n->draining && conn_out(c))
        msg_encode_drain(conn_out(c));
    return 0;
}

static void master_message_cb(struct conn *c, struct msg *m)
{
    struct node *n = conn_hub_owner(c);
    if (c != n->master)
        return;
    n->last_word = (int64_t)uv_now(n->loop);
    n->deaf_since = 0;
    switch (m->type) {
    case MSG_PING: {
        struct buf *b = conn_out(c);
        if (b)
            msg_encode_pong(b, n->nrunning, 0);
        n->send_now = true;
        break;
    }
    case MSG_PONG: /* the answer to our ping, naming the heartbeat from now on */
        if (m->heartbeat_ms && m->heartbeat_ms != n->heartbeat_ms) {
            log_info("heartbeat now every %.1fs (the master's word)",
                     (double)m->heartbeat_ms / 1000);
            n->heartbeat_ms = m->heartbeat_ms;
        }
        break;
    case MSG_RUN:
        for (size_t i = 0; i < m->nruns; i++) {
            struct run_item *r = &m->runs[i];
            if (find_attempt(n, r->lease))
                continue; /* a duplicate of what we hold */
            /* --lifetime: a task whose timeout would end after the deadline
             * is not started; the worker drains (it goes elsewhere). */
            if (!n->draining && n->deadline && r->spec.timeout_ms &&
                (int64_t)uv_now(n->loop) + r->spec.timeout_ms > n->deadline)
                start_drain(n, "lifetime");
            if (n->draining)
                refuse(n, r->lease, r->spec.id, r->attempt);
            else
                receive_attempt(n, r);
        }
        break;
    case MSG_KILL:
        for (size_t i = 0; i < m->nleases; i++) {
            struct attempt *a = find_attempt(n, m->leases[i]);
            if (a)
                kill_attempt(a);
        }
        break;
    case MSG_ACK:
        for (size_t i = 0; i < m->nleases; i++)
            drop_acked(n, m->leases[i]);
        break;
    case MSG_REVOKE:
        revoke_attempts(n, c, m);
        n->send_now = true;
        break;
    case MSG_ERROR:
        break;
    default:
        conn_fail(c, "a master may not send '%s' to a worker", msg_type_name(m->type));
        break;
    }
}

static void master_closed_cb(struct conn *c)
{
    struct node *n = conn_hub_owner(c);
    if (c == n->dialing)
        n->dialing = NULL;
    if (c != n->master)
        return;
    n->master = NULL;
    if (!n->deaf_since)
        n->deaf_since = (int64_t)uv_now(n->loop);
    log_warn("lost the master master=%s reason=%s running=%d", n->master_id,
             log_quote(conn_reason(c)), n->nrunning);
    if (n->nmasters)
        redial_later(n);
}

static const struct conn_ops master_ops = {
    .ready = master_ready_cb,
    .message = master_message_cb,
    .closed = master_closed_cb,
};

/*
 * A dial failed: dial the leader a group member named (at the next tick, at
 * most MASTER_HOPS times), else the next address, and once every address
 * failed, back off as with a single master (which is a list of one).
 */
static void dial_failed(struct node *n, const char *leader)
{
    bool was_hint = n->hinted;
    n->hinted = false;
    if (leader && *leader && n->hops < MASTER_HOPS &&
        addr_parse(leader, n->hint.host, sizeof(n->hint.host), &n->hint.port) == 0) {
        n->hops++;
        n->hinted = true;
        n->redial_at = (int64_t)uv_now(n->loop);
        return;
    }
    if (!was_hint) {
        n->mnext = (n->mnext + 1) % n->nmasters;
        n->tried++;
    }
    if (n->tried < n->nmasters) {
        n->redial_at = (int64_t)uv_now(n->loop);
        return;
    }
    n->tried = n->hops = 0;
    redial_later(n);
}

static void dial_fail_cb(void *data, const char *host, int port, const char *why)
{
    struct node *n = data;
    const char *leader = n->dialing ? conn_not_leader(n->dialing) : NULL;
    n->dialing = NULL;
    if (leader)
        log_info("the master is not the leader of its group addr=%s:%d leader=%s", host, port,
                 leader[0] ? leader : "-");
    else
        log_info("cannot reach the master addr=%s:%d error=%s", host, port, log_quote(why));
    dial_failed(n, leader);
}

static void redial_later(struct node *n)
{
    n->backoff_ms = n->backoff_ms ? MIN(n->backoff_ms * 2, REDIAL_MAX_MS) : REDIAL_MIN_MS;
    n->redial_at = (int64_t)uv_now(n->loop) + n->backoff_ms + (int64_t)(drand48() * 100);
}

static void dial_master(struct node *n)
{
    char err[300];
    const struct master_addr *a = n->hinted ? &n->hint : &n->masters[n->mnext];
    n->redial_at = 0;
    n->dialing = conn_dial(&n->hub, a->host, a->port, CONN_ROLE_MASTER, &master_ops, n, 5000,
                           dial_fail_cb, err, sizeof(err));
    if (!n->dialing) {
        log_warn("cannot dial the master error=%s", log_quote(err));
        dial_failed(n, NULL);
    }
}

/* --master: "HOST:PORT" or a group's "A,B,C". Returns 0, or -1 with the
 * error printed. */
static int parse_masters(struct node *n, const char *list)
{
    char one[MSG_MAX_ADDR + 1];
    const char *p = list;
    int rc;
    while ((rc = list_next(&p, one, sizeof(one))) != 0) {
        if (n->nmasters == MASTERS_MAX) {
            fprintf(stderr, "dtr worker: --master takes at most %d addresses\n", MASTERS_MAX);
            return -1;
        }
        struct master_addr *a = &n->masters[n->nmasters];
        if (rc < 0 || addr_parse(one, a->host, sizeof(a->host), &a->port)) {
            fprintf(stderr, "dtr worker: --master '%.300s' must be HOST:PORT (or A,B,C)\n", list);
            return -1;
        }
        n->nmasters++;
    }
    if (!n->nmasters) {
        fprintf(stderr, "dtr worker: --master '%.300s' must be HOST:PORT (or A,B,C)\n", list);
        return -1;
    }
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------- */

static void kill_all_now(struct node *n)
{
    for (struct list *p = n->attempts.next; p != &n->attempts; p = p->next) {
        struct attempt *a = list_entry(p, struct attempt, link);
        if (a->runner && !a->exited) /* an exited one's group is gone, its pid maybe reused */
            kill(-runner_pid(a->runner), SIGKILL);
    }
}

/* Ends the loop so that worker_run() returns `code` to main (the exit code is
 * chosen there, not in a callback). Nothing more is sent: the prepare step
 * that flushes the connections stops too. */
static void stop_loop(struct node *n, int code)
{
    n->exit_code = code;
    uv_prepare_stop(&n->prepare);
    uv_stop(n->loop);
}

static void worker_tick_cb(uv_timer_t *t)
{
    struct node *n = t->data;
    int64_t now = (int64_t)uv_now(n->loop);
    notify_tick(now); /* systemd's watchdog, when it watches */
    conn_hub_sweep(&n->hub);
    guard_reap(n->guard);
    heartbeat(n, now);
    if (n->opts.master_timeout_ms > 0 && n->deaf_since &&
        now - n->deaf_since > n->opts.master_timeout_ms) {
        log_error("no word from the master for %.1fs (--master-timeout); killing %d running "
                  "tasks and exiting",
                  (double)(now - n->last_word) / 1000, n->nrunning);
        fprintf(stderr, "dtr worker %s: no word from the master for %.1fs; exiting\n", n->id,
                (double)(now - n->last_word) / 1000);
        kill_all_now(n);
        stop_loop(n, 3);
        return;
    }
    if (n->nmasters && !n->master && !n->dialing && n->redial_at && now >= n->redial_at)
        dial_master(n);
    if (n->nrunning || n->nwaiting)
        n->last_busy = now;
    if (!n->draining && n->opts.idle_timeout_ms > 0 &&
        now - n->last_busy >= n->opts.idle_timeout_ms)
        start_drain(n, "idle-timeout");
    if (!n->draining && n->deadline && now >= n->deadline)
        start_drain(n, "lifetime");
    if (!n->draining)
        return;
    if (!n->drain_killed && now - n->drain_started > n->opts.drain_timeout_ms && n->nrunning > 0) {
        log_warn("drain timeout; killing running tasks count=%d", n->nrunning);
        n->drain_killed = true;
        for (struct list *p = n->attempts.next, *q; p != &n->attempts; p = q) {
            q = p->next;
            kill_attempt(list_entry(p, struct attempt, link));
        }
    }
    bool reported = n->nresults == 0;
    bool gave_up = now - n->drain_started > n->opts.drain_timeout_ms + DRAIN_REPORT_GRACE_MS;
    if (n->nrunning == 0 && (reported || gave_up)) {
        if (!reported)
            log_warn("exiting with unreported results count=%zu (no master acknowledged them)",
                     n->nresults);
        log_info("drained; exiting");
        stop_loop(n, 0);
    }
}

/* SIGHUP: open worker-ID.log again (logrotate renamed it). */
static void worker_sighup_cb(uv_signal_t *s, int signum)
{
    char err[512];
    (void)s;
    (void)signum;
    if (log_reopen(err, sizeof(err)) < 0)
        log_error("SIGHUP: %s", err);
    else
        log_info("log reopened signal=SIGHUP");
}

/* Stops taking work: hands back what has not started, tells the master,
 * and exits once the running tasks ended (worker_tick_cb). */
static void start_drain(struct node *n, const char *why)
{
    if (n->draining)
        return;
    n->draining = true;
    n->drain_started = (int64_t)uv_now(n->loop);
    notify_stopping();
    log_info("draining %s=%s running=%d waiting=%d", strncmp(why, "SIG", 3) ? "reason" : "signal",
             why, n->nrunning, n->nwaiting);
    /* Hand back what has not started. */
    while (n->nwaiting) {
        struct attempt *a = list_entry(n->waiting.next, struct attempt, link);
        list_del(&a->link);
        hmap_del(&n->by_lease, a->key);
        n->nwaiting--;
        refuse(n, a->lease, a->spec.id, a->number);
        attempt_free(a);
    }
    struct buf *b = n->master ? conn_out(n->master) : NULL;
    if (b)
        msg_encode_drain(b);
}

static void worker_signal_cb(uv_signal_t *s, int signum)
{
    start_drain(s->data, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/*
 * Takes the secret variable name out of the environment that every task
 * inherits, and wipes its bytes where they lie: the original block is what
 * /proc/PID/environ shows, and a task runs as our user and can read ours.
 */
static void scrub_env(const char *name)
{
    size_t n = strlen(name), k = 0;
    char *found[8];
    for (char **e = environ; e && *e && k < ARRAY_SIZE(found); e++) {
        if (!strncmp(*e, name, n) && (*e)[n] == '=')
            found[k++] = *e;
    }
    unsetenv(name); /* drops every pointer to it, leaves the bytes */
    for (size_t i = 0; i < k; i++)
        memset(found[i], 0, strlen(found[i]));
}

/*
 * How long a busy worker may hold what it sends: half the time that the
 * tasks waiting here keep every slot busy, at their recent pace (the rest
 * leaves the master time to lease more and commit before the queue runs
 * dry), and at most SEND_HOLD_MS. On 2 slots of /bin/true, a hold of up
 * to 2 ms ran 1,970-2,070 tasks/s with a CPU idle 13-14% of the time;
 * this one (and the master's 40 ms of prefetch, workers.c) 2,080-2,200 at
 * 8-9%, with 20 us of the master's CPU a task rather than 28 and 70 of the
 * worker's rather than 77.
 */
#define SEND_HOLD_MS 10

static int64_t send_hold_ms(const struct node *n)
{
    double ms = n->nwaiting * n->pace_ms / (double)n->opts.slots / 2;
    return (int64_t)MIN(ms, (double)SEND_HOLD_MS);
}

/*
 * Whether what this turn queued for the master (results, mostly) may wait
 * for the next turns' and leave in one write: while a round of slots' worth
 * of tasks waits here, the master needs no result to keep us busy, for up
 * to send_hold_ms(). A busy 2-slot worker of /bin/true wrote once, and
 * woke its master once, per task: each loopback write also runs the
 * master's side of TCP on our CPU, and each wake-up of the master takes a
 * CPU from the tasks. A worker near idle, draining or with its pipes paused
 * sends at once, and so does every lone task's result.
 */
static bool send_may_wait(const struct node *n, int64_t now)
{
    if (!n->master || n->send_now || n->draining || n->output_paused || n->nwaiting < n->opts.slots)
        return false;
    /* A hold keeps the length it started with: its timer ends it. */
    return n->held_since ? now - n->held_since < n->hold_ms : send_hold_ms(n) > 0;
}

static void send_timer_cb(uv_timer_t *h UNUSED)
{
    /* nothing: the turn it ends runs worker_prepare_cb(), which sends */
}

static void worker_prepare_cb(uv_prepare_t *p)
{
    struct node *n = p->data;
    while (!list_empty(&n->held_output))
        emit_held(list_entry(n->held_output.next, struct attempt, held_link));
    resume_output(n);
    int64_t now = (int64_t)uv_now(n->loop);
    if (conn_hub_dirty(&n->hub) && send_may_wait(n, now)) {
        if (!n->held_since) {
            n->held_since = now;
            n->hold_ms = send_hold_ms(n);
            uv_timer_start(&n->send_timer, send_timer_cb, (uint64_t)n->hold_ms, 0);
        }
        return;
    }
    n->held_since = 0;
    n->send_now = false;
    uv_timer_stop(&n->send_timer);
    conn_hub_flush(&n->hub);
    /* A turn that read a lot pauses the pipes (OUTPUT_HIGH queued) before
     * the flush; when the flush handed it all to the kernel at once, nothing
     * would wake the loop to resume them until the next timer (a heartbeat):
     * resume now. */
    if (n->output_paused) {
        resume_output(n);
        conn_hub_flush(&n->hub);
    }
}

int worker_run(const struct worker_opts *opts)
{
    struct node *n = xcalloc(1, sizeof(*n));
    char err[1024], host[65] = "localhost";
    int lo, hi, rc = 1;
    n->opts = *opts;
    n->loop = uv_default_loop();
    runners_init(&n->runners, n->loop);
    list_init(&n->attempts);
    list_init(&n->waiting);
    hmap_init(&n->by_lease, attempt_key);
    list_init(&n->results);
    list_init(&n->held_output);
    srand48((long)getpid() ^ (long)clock_wall_ms());

    gethostname(host, sizeof(host) - 1);
    if (opts->id && !msg_id_valid(opts->id)) {
        fprintf(stderr,
                "dtr worker: --id '%s' must be 1 to %d printable characters without "
                "spaces\n",
                opts->id, MSG_MAX_ID);
        rc = 2;
        goto out;
    }
    if (opts->id)
        snprintf(n->id, sizeof(n->id), "%s", opts->id);
    else
        snprintf(n->id, sizeof(n->id), "%.60s-%d", host, (int)getpid());
    if (!msg_id_valid(n->id)) {
        fprintf(stderr, "dtr worker: the default id '%s' is not valid; pass --id\n", n->id);
        goto out;
    }
    if (wres_init(&n->res, &opts->res, "", err, sizeof(err))) {
        fprintf(stderr, "dtr worker: %s\n", err);
        rc = 2;
        goto out;
    }
    if (opts->pin && !n->res.pinnable) {
        fprintf(stderr,
                "dtr worker: --pin needs --cpus at most the CPUs this worker may run on (%d "
                "offered)\n",
                n->res.ncpus);
        rc = 2;
        goto out;
    }
    if (port_range_parse(opts->port_range, &lo, &hi)) {
        fprintf(stderr, "dtr worker: --port-range '%s' must be LO-HI (e.g. 5000-5100)\n",
                opts->port_range);
        rc = 2;
        goto out;
    }
    if (opts->master && parse_masters(n, opts->master)) {
        rc = 2;
        goto out;
    }
    if (auth_init() != 0 || auth_load_token(opts->token_file, &n->token, err, sizeof(err))) {
        fprintf(stderr, "dtr worker: %s\n", err);
        rc = 2; /* a token file to fix: a usage error, as in the CLI */
        goto out;
    }
    /* Loaded (or unused, with --token-file): no task may inherit it. */
    scrub_env("DTR_TOKEN");
    if (tls_ctx_new(opts->tls_cert, opts->tls_key, opts->tls_ca, &n->tls, err, sizeof(err))) {
        fprintf(stderr, "dtr worker: %s\n", err);
        goto out;
    }
    char random[AUTH_NONCE_HEX];
    auth_nonce(random); /* 256 random bits in lowercase hex: keep 128 */
    snprintf(n->instance, sizeof(n->instance), "%.*s", MSG_INSTANCE_HEX, random);
    if (conn_check_exposure(opts->host, n->token, opts->insecure, "make it run commands", err,
                            sizeof(err))) {
        fprintf(stderr, "dtr worker: %s\n", err);
        goto out;
    }
    if (opts->verbose)
        log_set_level(LOG_LVL_DEBUG);
    char file[MSG_MAX_ID + 32];
    snprintf(file, sizeof(file), "worker-%s.log", n->id);
    snprintf(n->node_name, sizeof(n->node_name), "worker-%s", n->id);
    if (log_open(opts->log_dir, file, n->node_name, err, sizeof(err)) != 0) {
        fprintf(stderr, "dtr worker: %s\n", err);
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Cgroups before the guard: a v2 worker alone in its cgroup moves into
     * a child dtr-worker to give memory to task cgroups, which the kernel
     * refuses (EBUSY) while another process, the guard, is still there. */
    char why[CGROUP_PATH_MAX + 128], offer[512];
    bool cg_on = cgroups_init(&n->cg, !opts->no_cgroups, "", why, sizeof(why));
    n->guard = guard_start(opts->log_dir, n->id, err, sizeof(err));
    if (!n->guard) {
        fprintf(stderr, "dtr worker: %s\n", err);
        log_error("cannot start error=%s", log_quote(err));
        goto out;
    }
    conn_hub_init(&n->hub, n->loop, "worker", n->id, n->token);
    n->hub.tls = n->tls;
    n->hub.fill_hello = fill_hello;
    n->hub.owner = n;
    n->hub.max_conns = 64;
    /* each running task holds three descriptors (two pipes, a pidfd); one to spare */
    conn_hub_fit_fd_limit(&n->hub, 64 + 4 * (size_t)opts->slots);
    if (conn_listen(&n->hub, &n->listener, opts->host, lo, hi, &master_ops, CONN_ROLE_MASTER, err,
                    sizeof(err)) != 0) {
        fprintf(stderr, "dtr worker: %s\n", err);
        log_error("cannot listen error=%s", log_quote(err));
        goto out;
    }
    conn_listener_addr(&n->listener, n->addr, sizeof(n->addr));
    log_info("listening addr=%s slots=%" PRId64 " master=%s master_timeout_ms=%" PRId64 " tls=%s",
             n->addr, opts->slots, opts->master ? opts->master : "-", opts->master_timeout_ms,
             n->tls ? "on" : "off");
    res_describe(&n->res.total, offer, sizeof(offer));
    if (cg_on)
        log_info("offer=%s memory limits enforced with cgroups under %s (cgroup v%d%s)",
                 log_quote(offer), n->cg.base, n->cg.version,
                 n->cg.cpu ? ", cpu.max for fractional CPUs" : "");
    else
        log_warn("offer=%s memory limits are not enforced (%s); memory is only accounted",
                 log_quote(offer), why);
    printf("dtr worker %s listening on %s\n", n->id, n->addr);
    fflush(stdout);
    notify_ready(n->addr);

    n->last_word = n->deaf_since = n->last_busy = (int64_t)uv_now(n->loop);
    if (opts->lifetime_ms > 0)
        n->deadline = n->last_busy + opts->lifetime_ms;
    uv_timer_init(n->loop, &n->tick);
    n->tick.data = n;
    uv_timer_start(&n->tick, worker_tick_cb, TICK_MS, TICK_MS);
    uv_idle_init(n->loop, &n->pump);
    n->pump.data = n;
    uv_prepare_init(n->loop, &n->prepare);
    n->prepare.data = n;
    uv_prepare_start(&n->prepare, worker_prepare_cb);
    uv_timer_init(n->loop, &n->send_timer);
    uv_signal_init(n->loop, &n->sigint);
    uv_signal_init(n->loop, &n->sigterm);
    n->sigint.data = n->sigterm.data = n;
    uv_signal_start(&n->sigint, worker_signal_cb, SIGINT);
    uv_signal_start(&n->sigterm, worker_signal_cb, SIGTERM);
    uv_signal_init(n->loop, &n->sighup);
    uv_signal_start(&n->sighup, worker_sighup_cb, SIGHUP);
    if (n->nmasters)
        dial_master(n);
    uv_run(n->loop, UV_RUN_DEFAULT);
    rc = n->exit_code;
    if (rc == 3)
        kill_all_now(n); /* anything the loop's last turn started */
    forget_held(n);
    log_close();
out:
    hmap_release(&n->by_lease);
    guard_free(n->guard);
    free(n->token);
    tls_ctx_free(n->tls);
    wres_release(&n->res);
    free(n);
    return rc;
}
