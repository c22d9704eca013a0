/* SPDX-License-Identifier: MIT */
/*
 * The master's wiring: start-up and recovery from the journal, the listener
 * and its connection callbacks, the per-turn prepare step (dispatch, group
 * commit, flush), the periodic tick, signals and shutdown. It changes no
 * task itself: the task table is tasks.c, workers and client requests are
 * workers.c and handlers.c, scans are discover.c.
 */
#include "master/master.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/notify.h"
#include "common/auth.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/util.h"
#include "http/http.h"
#include "net/tls.h"

#define TICK_MS 100
#define PRUNE_EVERY_MS (60 * 1000)

/* ---- recovery ------------------------------------------------------------- */

static int recover(struct master *m, char *err, size_t errlen)
{
    if (tasks_load(&m->tasks, m->journal, m->writer, m->workers.listen_ms) != 0) {
        snprintf(err, errlen, "cannot read the journal in '%s'", m->opts.state_dir);
        return -1;
    }
    size_t n;
    struct task **running = tasks_list(&m->tasks, TASK_RUNNING, &n);
    for (size_t i = 0; i < n; i++)
        workers_restore(&m->workers, running[i]);
    free(running);
    return 0;
}

/* ---- the loop ------------------------------------------------------------- */

/* Lets out every reply whose journal writes are on disk. */
static void release_durable(struct master *m)
{
    char err[512];
    uint64_t done;
    if (!jwriter_done(m->writer, &done, err, sizeof(err)))
        tasks_journal_failed(err);
    tasks_committed(&m->tasks, done);
    conn_hub_release(&m->hub, done);
    http_release(m->http, done, events_durable(&m->events, done));
}

static void journal_done_cb(uv_async_t *h)
{
    struct master *m = h->data;
    if (m->leading) /* a follower's commits answer nobody */
        release_durable(m);
}

/* Called by the writer thread after each commit. */
static void wake_loop(void *data)
{
    struct master *m = data;
    uv_async_send(&m->journal_done);
}

static void output_idle_cb(uv_idle_t *h UNUSED)
{
}

/*
 * A batch that records a waited-for submission whose runs already left
 * (workers.c, send_runs_now()) waits up to this long for their results, so
 * that the acceptance and the result share one commit: on a lone short
 * task's path, one commit instead of two.
 */
#define AWAIT_HOLD_US (WORKERS_AWAIT_HOLD_MS * 1000)

/*
 * Whether this turn's writes may wait for the next turns' and share their
 * commit: while waited-for runs are out (AWAIT_HOLD_US, above); or while
 * commits come at least every COMMIT_GAP_US anyway, and
 * nobody waits for this one: no client reply, no run that its worker
 * starts soon (workers.c, run_starts_soon). Results (whose workers keep
 * them until the ack) and runs deep in a worker's prefetch can wait. A busy
 * 2-slot worker of 1 ms tasks cost 0.33-0.36 commits a task with a 1 ms gap,
 * 0.16 with 3 ms and 0.06 with this one, and the master's CPU per task went
 * 84 -> 60 -> 43 us; the prefetch then covers the gap (workers.c). A lone
 * task never waits.
 */
#define COMMIT_GAP_US 10000

static void commit_timer_cb(uv_timer_t *h UNUSED)
{
    /* nothing: the turn it ends runs master_prepare_cb(), which hands off */
}

static bool commit_may_wait(struct master *m, uint64_t now_us)
{
    if (m->group || m->stopping)
        return false;
    if (m->workers.nholding && !m->hold_since_us)
        m->hold_since_us = now_us;
    bool holding = m->workers.nholding && now_us - m->hold_since_us < AWAIT_HOLD_US;
    if (!holding && (now_us - m->last_handoff_us >= COMMIT_GAP_US || m->workers.run_starts_soon ||
                     m->open_answers))
        return false; /* without walking the connections: the common case */
    if (conn_hub_client_waits(&m->hub) || http_waits(m->http))
        m->open_answers = true;
    return holding || !m->open_answers;
}

/* When the commit timer ends a batch's wait (commit_may_wait()), in ms. */
static uint64_t commit_wait_ms(const struct master *m, uint64_t now_us)
{
    uint64_t until = m->last_handoff_us + COMMIT_GAP_US;
    if (m->workers.nholding && m->hold_since_us + AWAIT_HOLD_US > now_us)
        until = m->hold_since_us + AWAIT_HOLD_US;
    return until > now_us ? (until - now_us + 999) / 1000 : 1;
}

/* Runs once per loop turn, just before the loop blocks: everything handled
 * in this turn goes to the journal writer as one batch (or waits, above, for
 * the next turns'), and the replies of the turn wait for its commit. */
static void master_prepare_cb(uv_prepare_t *h)
{
    struct master *m = h->data;
    if (m->tasks.dispatch_needed)
        workers_dispatch(&m->workers);
    workers_flush_control(&m->workers);
    outputs_want_wake(&m->outputs, m->workers.output_held > 0);
    workers_output_resume(&m->workers);
    waiters_flush(&m->handlers, (int64_t)uv_now(m->loop));
    listings_pump(&m->handlers);
    /* A session with more to send keeps the loop from sleeping. */
    if (outputs_pump(&m->outputs))
        uv_idle_start(&m->output_idle, output_idle_cb);
    else
        uv_idle_stop(&m->output_idle);
    events_pump(&m->events);
    tasks_save_counters(&m->tasks);
    uint64_t now_us = uv_hrtime() / 1000, epoch;
    bool pending = jwriter_pending(m->writer);
    if (pending && commit_may_wait(m, now_us)) {
        epoch = jwriter_open_epoch(m->writer);
        if (!uv_is_active((uv_handle_t *)&m->commit_timer) || m->workers.nholding)
            uv_timer_start(&m->commit_timer, commit_timer_cb, commit_wait_ms(m, now_us), 0);
    } else {
        if (pending)
            m->last_handoff_us = now_us;
        epoch = jwriter_handoff(m->writer);
        uv_timer_stop(&m->commit_timer);
        workers_batch_handed(&m->workers);
        m->open_answers = false;
        m->hold_since_us = 0;
    }
    m->workers.run_starts_soon = false;
    conn_hub_hold(&m->hub, epoch);
    events_hold(&m->events, epoch);
    http_hold(m->http, epoch);
    release_durable(m);
}

/* Workers beat on their own at the interval the master's hello names. */
static void fill_hello(struct msg *h, void *data)
{
    const struct master *m = data;
    h->heartbeat_ms = m->workers.beat_ms;
}

/*
 * Runs right after every poll for I/O, once the read callbacks of that poll
 * have run, whatever the libuv version (1.44 runs timers before the poll,
 * later versions after it), and is the only place the listening clock
 * advances. So by the time a stall shows on the clock, every line that was
 * waiting in a socket when the loop came back has been read, and the stall
 * shows as one LISTEN_STEP_MAX_MS at most: a worker whose beats were held
 * up (both processes paused, a worker's lines behind a stalled master) gets
 * a fair chance to be heard after it. Silence (workers_tick) and attempt
 * deadlines (workers_expire) are judged on this clock only.
 */
static void master_check_cb(uv_check_t *h)
{
    struct master *m = h->data;
    workers_listened(&m->workers, (int64_t)uv_now(m->loop)); /* updated right after the poll */
}

static void master_tick_cb(uv_timer_t *h)
{
    struct master *m = h->data;
    int64_t now = (int64_t)uv_now(m->loop);
    int64_t wall = clock_wall_ms();
    notify_tick(now); /* systemd's watchdog, when it watches */
    conn_hub_sweep(&m->hub);
    /* Visiting every worker costs with 10,000 of them: do it twice per
     * heartbeat, between every tick and every half second, or a quarter
     * of a beat when a big pool slowed them. */
    int64_t beat = m->workers.beat_ms;
    int64_t sweep_every = MIN(MAX(beat / 2, TICK_MS), MAX(500, beat / 4));
    if (now - m->last_workers_tick >= sweep_every) {
        m->last_workers_tick = now;
        workers_tick(&m->workers);
    }
    workers_expire(&m->workers);
    outputs_sweep(&m->outputs, wall);
    tasks_promote(&m->tasks, wall);
    if (m->opts.discover.len && now - m->last_scan >= m->opts.scan_interval_ms) {
        m->last_scan = now;
        discover_scan(m);
    }
    /* Prune at least as often as finished tasks expire, at most once a tick. */
    int64_t every = MIN(PRUNE_EVERY_MS, MAX(m->opts.keep_finished_ms, TICK_MS));
    if (now - m->last_prune >= every) {
        m->last_prune = now;
        tasks_prune(&m->tasks, wall, m->opts.keep_finished_ms);
    }
}

static void master_stop(struct master *m, const char *why)
{
    char err[512];
    if (m->stopping)
        return;
    m->stopping = true;
    if (!m->leading) { /* a group member still following: nothing else runs yet */
        log_info("stopping reason=%s", why);
        conn_listener_close(&m->listener);
        conn_hub_close_all(&m->hub, "master is stopping");
        uv_close((uv_handle_t *)&m->tick, NULL);
        uv_close((uv_handle_t *)&m->prepare, NULL);
        uv_close((uv_handle_t *)&m->sigint, NULL);
        uv_close((uv_handle_t *)&m->sigterm, NULL);
        uv_close((uv_handle_t *)&m->sighup, NULL);
        uv_close((uv_handle_t *)&m->journal_done, NULL);
        group_close(m->group); /* then the loop runs out: follow_group() returns */
        return;
    }
    m->handlers.stopping = true;
    log_info("stopping reason=%s", why);
    notify_stopping();
    conn_listener_close(&m->listener);
    if (!jwriter_drain(m->writer, err, sizeof(err)))
        log_error("final journal commit failed error=%s", log_quote(err));
    conn_hub_close_all(&m->hub, "master is stopping");
    http_release(m->http, UINT64_MAX,
                 events_durable(&m->events, UINT64_MAX)); /* the journal is drained */
    http_stop(m->http);
    allocs_stop(&m->allocs);
    uv_timer_stop(&m->tick);
    uv_prepare_stop(&m->prepare);
    uv_check_stop(&m->check);
    uv_close((uv_handle_t *)&m->tick, NULL);
    uv_close((uv_handle_t *)&m->commit_timer, NULL);
    uv_close((uv_handle_t *)&m->output_idle, NULL);
    uv_close((uv_handle_t *)&m->prepare, NULL);
    uv_close((uv_handle_t *)&m->check, NULL);
    uv_close((uv_handle_t *)&m->sigint, NULL);
    uv_close((uv_handle_t *)&m->sigterm, NULL);
    uv_close((uv_handle_t *)&m->sighup, NULL);
    uv_close((uv_handle_t *)&m->journal_done, NULL);
    group_close(m->group);
}

static void master_signal_cb(uv_signal_t *h, int signum)
{
    struct master *m = h->data;
    master_stop(m, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* SIGHUP: open master.log again (logrotate renamed it). */
static void master_sighup_cb(uv_signal_t *h, int signum)
{
    char err[512];
    (void)h;
    (void)signum;
    if (log_reopen(err, sizeof(err)) < 0)
        log_error("SIGHUP: %s", err);
    else
        log_info("log reopened signal=SIGHUP");
}

/* ---- connections ---------------------------------------------------------- */

static int conn_ready_cb(struct conn *c, struct msg *hello, char *err, size_t errlen)
{
    struct master *m = conn_hub_owner(c);
    if (!strcmp(hello->role, "client")) {
        c->data = client_session_new(&m->handlers, c);
        return 0;
    }
    return workers_register(&m->workers, c, hello, err, errlen);
}

static void conn_message_cb(struct conn *c, struct msg *msg)
{
    struct master *m = conn_hub_owner(c);
    if (!strcmp(conn_peer_role(c), "client"))
        handlers_client_message(&m->handlers, c, msg);
    else if (c->data)
        workers_message(&m->workers, c->data, msg);
}

static void conn_closed_cb(struct conn *c)
{
    struct master *m = conn_hub_owner(c);
    if (!strcmp(conn_peer_role(c), "client")) {
        outputs_conn_closed(&m->outputs, c);
        events_conn_closed(&m->events, c);
        if (c->data)
            client_session_free(c->data);
    } else if (c->data) {
        workers_conn_closed(&m->workers, c->data, conn_reason(c));
    }
    c->data = NULL;
}

const struct conn_ops master_conn_ops = {
    .ready = conn_ready_cb,
    .message = conn_message_cb,
    .closed = conn_closed_cb,
};

static int write_addr_file(const char *dir, const char *name, const char *addr, char *err,
                           size_t errlen)
{
    char path[900], tmp[1000];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    /* 0600 like the journal beside it (the rename keeps the mode); a stale
     * temporary file of a dead master with our pid would keep its own. */
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f && fd >= 0)
        close(fd);
    if (!f || fprintf(f, "%s\n", addr) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The journal's files are 0600 whatever the dir's mode (journal.c), but a
 * dir others may enter shows their names and sizes; one made by hand may be
 * shared on purpose, so it is not changed: say so once. */
static void warn_open_state_dir(const char *dir)
{
    struct stat sb;
    if (stat(dir, &sb) != 0 || !(sb.st_mode & 077))
        return;
    log_warn("state dir is open to others dir=%s mode=%04o", log_quote(dir),
             (unsigned)(sb.st_mode & 07777));
    fprintf(stderr,
            "dtr master: state dir '%s' is open to others (mode %04o); its files are "
            "private (0600), but run chmod 700 '%s' to hide them too\n",
            dir, (unsigned)(sb.st_mode & 07777), dir);
}

static void start_signals(struct master *m)
{
    uv_signal_init(m->loop, &m->sigint);
    uv_signal_init(m->loop, &m->sigterm);
    m->sigint.data = m->sigterm.data = m;
    uv_signal_start(&m->sigint, master_signal_cb, SIGINT);
    uv_signal_start(&m->sigterm, master_signal_cb, SIGTERM);
    uv_signal_init(m->loop, &m->sighup);
    uv_signal_start(&m->sighup, master_sighup_cb, SIGHUP);
    signal(SIGPIPE, SIG_IGN);
}

/* conn_hub.not_leader: until this member leads, every worker and client is
 * sent to the leader the group announced (none known: an election). */
static bool not_leader_cb(void *owner, const char *peer_role, char *leader, size_t len)
{
    struct master *m = owner;
    (void)peer_role; /* workers and clients dial the same address */
    if (m->leading)
        return false;
    const char *hint = group_leader_hint(m->group);
    snprintf(leader, len, "%s", hint ? hint : "");
    return true;
}

/* The listener for workers and clients. A group member opens it while it
 * follows, to send them to the leader (not_leader_cb). */
static int start_listening(struct master *m, char *err, size_t errlen)
{
    const struct master_opts *opts = &m->opts;
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    snprintf(m->id, sizeof(m->id), "master-%s-%d", host, (int)getpid());
    conn_hub_init(&m->hub, m->loop, "master", m->id, m->token);
    m->hub.tls = m->tls;
    m->hub.owner = m;
    m->hub.fill_hello = fill_hello;
    if (m->group)
        m->hub.not_leader = not_leader_cb;
    /* descriptors for the journal, logs and the HTTP side's connections */
    bool http_off = opts->http && !strcmp(opts->http, "off");
    conn_hub_fit_fd_limit(&m->hub, 64 + (http_off ? 0 : HTTP_MAX_CONNS));
    /* A group member's address is in its clients' and workers' lists: it
     * listens there or not at all. */
    int hi = m->group ? (int)opts->port : (int)MIN(opts->port + 99, 65535);
    if (conn_listen(&m->hub, &m->listener, opts->host, (int)opts->port, hi, &master_conn_ops,
                    CONN_ROLE_WORKER | CONN_ROLE_CLIENT, err, errlen) != 0) {
        log_error("cannot listen error=%s", log_quote(err));
        return -1;
    }
    conn_listener_addr(&m->listener, m->addr, sizeof(m->addr));
    m->listening = true;
    return 0;
}

/* While following: only the listener's sweep (handshake deadlines), and
 * each turn the refusals sent (a follower holds nothing for its journal). */
static void follow_tick_cb(uv_timer_t *h)
{
    struct master *m = h->data;
    conn_hub_sweep(&m->hub);
}

static void follow_prepare_cb(uv_prepare_t *h)
{
    struct master *m = h->data;
    conn_hub_flush(&m->hub);
}

static void group_lead_cb(void *data)
{
    struct master *m = data;
    uv_stop(m->loop); /* follow_group() returns: the master starts */
}

/* A member of a master group follows (applies the leader's entries to its
 * journal) until it is elected and has every committed entry; then the
 * master starts on that journal, as a restarted one does. */
static int follow_group(struct master *m, char *err, size_t errlen)
{
    char dir[4200], addr_file[4200], host[ADDR_HOST_MAX];
    const struct group_config *gc = &m->opts.group_config;
    int port;
    /* The replication port takes entries that run commands: the same rule
     * as the listener's. */
    for (size_t i = 0; i < gc->n; i++)
        if (gc->members[i].id == gc->self &&
            (addr_parse(gc->members[i].addr, host, sizeof(host), &port) != 0 ||
             conn_check_exposure(host, m->token != NULL, m->opts.insecure,
                                 "join the master group and run commands on every worker", err,
                                 errlen) != 0))
            return -1;
    if (mkdir(m->opts.state_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create state dir '%s': %s", m->opts.state_dir,
                 strerror(errno));
        return -1;
    }
    /* master.addr names the leader's address: written once this one leads. */
    snprintf(addr_file, sizeof(addr_file), "%s/master.addr", m->opts.state_dir);
    unlink(addr_file);
    /* The leader's output files, kept here too. */
    if (m->opts.output_dir)
        snprintf(m->group_output_dir, sizeof(m->group_output_dir), "%s", m->opts.output_dir);
    else
        snprintf(m->group_output_dir, sizeof(m->group_output_dir), "%s/output", m->opts.state_dir);
    if (mkdir(m->group_output_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create output dir %.900s: %s", m->group_output_dir,
                 strerror(errno));
        return -1;
    }
    jwriter_set_files(
        m->writer,
        &(struct jwriter_files){outputs_replica_write, outputs_replica_drop, m->group_output_dir});
    snprintf(dir, sizeof(dir), "%s/raft", m->opts.state_dir);
    /* A re-seeded member fetches old output from the leader as a client. */
    m->opts.group_config.tls_cert = m->opts.tls_cert;
    m->opts.group_config.tls_key = m->opts.tls_key;
    m->opts.group_config.tls_ca = m->opts.tls_ca;
    m->opts.group_config.tls = m->tls;
    m->group = group_start(m->loop, &m->opts.group_config, dir, m->group_output_dir, m->token,
                           m->journal, m->writer, group_lead_cb, m, err, errlen);
    if (!m->group || start_listening(m, err, errlen) != 0)
        return -1;
    uv_timer_init(m->loop, &m->tick);
    m->tick.data = m;
    uv_timer_start(&m->tick, follow_tick_cb, TICK_MS, TICK_MS);
    uv_prepare_init(m->loop, &m->prepare);
    m->prepare.data = m;
    uv_prepare_start(&m->prepare, follow_prepare_cb);
    printf("dtr master: member %" PRIu64 " of a group of %zu, following\n",
           m->opts.group_config.self, m->opts.group_config.n);
    fflush(stdout);
    uv_run(m->loop, UV_RUN_DEFAULT);
    if (!m->stopping) {
        printf("dtr master: member %" PRIu64 " leads the group\n", m->opts.group_config.self);
        fflush(stdout);
    }
    return 0;
}

/* The HTTP API (on unless --http off), its URL in STATE_DIR/http.addr.
 * The default port range all taken is a warning: the master runs without. */
static int start_http(struct master *m)
{
    char err[1024];
    char path[900];
    bool disabled;
    snprintf(path, sizeof(path), "%s/http.addr", m->opts.state_dir);
    if (m->opts.http && !strcmp(m->opts.http, "off")) {
        unlink(path);
        return 0;
    }
    m->http =
        http_start(m, m->opts.http, m->http_url, sizeof(m->http_url), &disabled, err, sizeof(err));
    if (!m->http && disabled) {
        unlink(path);
        log_warn("no HTTP API error=%s", log_quote(err));
        fprintf(stderr, "dtr master: %s; running without the HTTP API (--http HOST:PORT)\n", err);
        return 0;
    }
    if (!m->http ||
        write_addr_file(m->opts.state_dir, "http.addr", m->http_url, err, sizeof(err)) != 0) {
        fprintf(stderr, "dtr master: %s\n", err);
        log_error("cannot serve HTTP error=%s", log_quote(err));
        return -1;
    }
    log_info("http listening url=%s auth=%s metrics_open=%s", m->http_url,
             m->token ? "token" : "none", m->opts.metrics_open ? "yes" : "no");
    return 0;
}

int master_run(const struct master_opts *opts)
{
    heap_tune_for_bursts();
    struct master *m = xcalloc(1, sizeof(*m));
    char err[1024];
    int rc = 1;
    events_init(&m->events);
    m->opts = *opts;
    m->loop = uv_default_loop();
    m->started_wall = clock_wall_ms();
    struct workers_opts wopts = {
        .heartbeat_ms = opts->heartbeat_ms,
        .worker_timeout_ms = opts->worker_timeout_ms,
        .scan_interval_ms = opts->scan_interval_ms,
        .prefetch = opts->prefetch,
        .runs_before_commit = opts->group_config.n == 0,
    };
    tasks_init(&m->tasks, workers_timeout_grace_ms(&wopts));
    workers_init(&m->workers, &wopts, &m->tasks, (int64_t)uv_now(m->loop));
    handlers_init(&m->handlers, &m->tasks, &m->workers);
    discover_init(m);

    if (auth_init() != 0 || auth_load_token(opts->token_file, &m->token, err, sizeof(err))) {
        fprintf(stderr, "dtr master: %s\n", err);
        rc = 2; /* a token file to fix: a usage error, as in the CLI */
        goto out;
    }
    if (tls_ctx_new(opts->tls_cert, opts->tls_key, opts->tls_ca, &m->tls, err, sizeof(err))) {
        fprintf(stderr, "dtr master: %s\n", err);
        goto out;
    }
    if (conn_check_exposure(opts->host, m->token, opts->insecure, "run commands on every worker",
                            err, sizeof(err)) ||
        http_check(opts->http, m->token != NULL, opts->insecure, err, sizeof(err))) {
        fprintf(stderr, "dtr master: %s\n", err);
        goto out;
    }
    if (opts->verbose)
        log_set_level(LOG_LVL_DEBUG);
    if (log_open(opts->log_dir, "master.log", "master", err, sizeof(err)) != 0) {
        fprintf(stderr, "dtr master: %s\n", err);
        goto out;
    }
    m->journal = journal_open(opts->in_memory ? NULL : opts->state_dir, err, sizeof(err));
    if (!m->journal) {
        fprintf(stderr, "dtr master: %s\n", err);
        log_error("cannot open the journal error=%s", log_quote(err));
        goto out;
    }
    uv_async_init(m->loop, &m->journal_done, journal_done_cb);
    m->journal_done.data = m;
    m->writer = jwriter_start(m->journal, wake_loop, m, err, sizeof(err));
    if (!m->writer) {
        fprintf(stderr, "dtr master: %s\n", err);
        goto out;
    }
    start_signals(m);
    if (opts->group_config.n && follow_group(m, err, sizeof(err)) != 0) {
        fprintf(stderr, "dtr master: %s\n", err);
        goto out;
    }
    if (m->stopping) { /* stopped while following */
        rc = 0;
        goto out;
    }
    if (recover(m, err, sizeof(err)) != 0) {
        fprintf(stderr, "dtr master: %s\n", err);
        goto out;
    }
    char outdir[4096];
    snprintf(outdir, sizeof(outdir), "%s/output", opts->state_dir);
    if (!opts->output_dir && mkdir(opts->state_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "dtr master: cannot create state dir '%s': %s\n", opts->state_dir,
                strerror(errno));
        goto out;
    }
    if (outputs_init(&m->outputs, &m->tasks, opts->output_dir ? opts->output_dir : outdir,
                     !opts->output_dir, (uint64_t)opts->max_output, wake_loop, m, err,
                     sizeof(err)) != 0) {
        fprintf(stderr, "dtr master: %s\n", err);
        goto out;
    }
    m->tasks.prune_lease = outputs_prune_lease;
    m->tasks.prune_arg = &m->outputs;
    m->workers.outputs = &m->outputs;
    m->handlers.outputs = &m->outputs;
    m->handlers.events = &m->events;
    if (allocs_init(&m->allocs, m->loop, &m->tasks, m->journal, m->writer, opts->state_dir, err,
                    sizeof(err)) != 0) {
        fprintf(stderr, "dtr master: %s\n", err);
        goto out;
    }
    m->handlers.allocs = &m->allocs;
    m->handlers.group = m->group;
    /* nothing expired is served after a restart */
    tasks_prune(&m->tasks, clock_wall_ms(), opts->keep_finished_ms);

    if (!m->listening && start_listening(m, err, sizeof(err)) != 0) {
        fprintf(stderr, "dtr master: %s\n", err);
        goto out;
    }
    if (mkdir(opts->state_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "dtr master: cannot create state dir '%s': %s\n", opts->state_dir,
                strerror(errno));
        goto out;
    }
    warn_open_state_dir(opts->state_dir);
    if (write_addr_file(opts->state_dir, "master.addr", m->addr, err, sizeof(err)) != 0) {
        fprintf(stderr, "dtr master: %s\n", err);
        goto out;
    }
    if (start_http(m) != 0)
        goto out;
    allocs_set_tls(&m->allocs, opts->tls_cert, opts->tls_key, opts->tls_ca);
    if (allocs_start(&m->allocs, m->addr, m->token, err, sizeof(err)) != 0) {
        fprintf(stderr, "dtr master: %s\n", err);
        goto out;
    }
    log_info("listening addr=%s state_dir=%s tasks=%zu queued=%" PRIu64 " running=%" PRIu64
             " blocked=%" PRIu64 " auth=%s tls=%s",
             m->addr, opts->in_memory ? "(memory)" : opts->state_dir, m->tasks.map.len,
             m->tasks.counts[TASK_QUEUED], m->tasks.counts[TASK_RUNNING],
             m->tasks.counts[TASK_BLOCKED], m->token ? "token" : "none", m->tls ? "on" : "off");
    printf("dtr master listening on %s\n", m->addr);
    if (m->http)
        printf("dtr master http on %s\n", m->http_url);
    fflush(stdout);
    if (m->group)
        group_announce(m->group, m->addr);
    notify_ready(m->addr);

    if (m->group) /* a group member's ran while it followed */
        uv_prepare_stop(&m->prepare);
    else
        uv_prepare_init(m->loop, &m->prepare);
    m->prepare.data = m;
    uv_prepare_start(&m->prepare, master_prepare_cb);
    uv_check_init(m->loop, &m->check);
    m->check.data = m;
    uv_check_start(&m->check, master_check_cb);
    if (!m->group) /* a group member's tick ran while it followed */
        uv_timer_init(m->loop, &m->tick);
    m->tick.data = m;
    uv_timer_init(m->loop, &m->commit_timer);
    uv_idle_init(m->loop, &m->output_idle);
    uv_timer_start(&m->tick, master_tick_cb, TICK_MS, TICK_MS);
    m->last_scan = -opts->scan_interval_ms; /* scan at once */
    m->last_prune = (int64_t)uv_now(m->loop);
    m->tasks.dispatch_needed = true;
    m->leading = true;

    uv_run(m->loop, UV_RUN_DEFAULT);
    log_info("stopped");
    rc = 0;
out:
    group_stop(m->group);
    jwriter_stop(m->writer);
    journal_close(m->journal);
    workers_free_all(&m->workers);
    if (m->outputs.dir)
        outputs_release(&m->outputs);
    discover_release(m);
    allocs_release(&m->allocs);
    http_free(m->http);
    events_release(&m->events);
    tasks_release(&m->tasks);
    free(m->token);
    tls_ctx_free(m->tls);
    free(m);
    uv_loop_close(uv_default_loop());
    log_close();
    return rc;
}
