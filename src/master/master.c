/* SPDX-License-Identifier: MIT */
/*
 * The master's wiring: start-up and recovery from the journal, the listener,
 * the per-turn prepare step (dispatch, group commit, flush), the periodic
 * tick, shutdown, and master_task_transition(), through which every task
 * state change passes. Workers, client requests and discovery live in
 * workers.c, handlers.c and discover.c.
 */
#include "master/master.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "net/tls.h"

#define TICK_MS 100
/* The most one loop turn adds to the listening clock (master_check_cb): a
 * turn is normally the poll (at most a tick) plus a few ms of callbacks;
 * anything longer is a stall (a stopped process, a slow disk, a long
 * callback) during which the master was not listening. */
#define LISTEN_STEP_MAX_MS 250
#define PRUNE_EVERY_MS (60 * 1000)

static const char *task_key(const void *item)
{
    return ((const struct task *)item)->id;
}

void master_journal_failed(struct master *m, const char *what)
{
    (void)m;
    /* Fail-stop: nothing queued for sending this turn leaves the process,
     * so no client or worker is told of a change that is not on disk. */
    log_error("journal write failed; stopping without acknowledging error=%s", log_quote(what));
    fprintf(stderr, "dtr master: journal write failed: %s\n", what);
    fflush(NULL);
    _exit(1);
}

void master_task_save(struct master *m, struct task *t)
{
    jwriter_save_task(m->writer, t);
}

/* Waits until every journal write so far is on disk; the journal may then
 * be read (or pruned) directly. */
void master_journal_sync(struct master *m)
{
    char err[512];
    if (!jwriter_drain(m->writer, err, sizeof(err)))
        master_journal_failed(m, err);
}

/* Gives a running attempt with a timeout (ms, from now) its deadline: the
 * timeout plus the grace, in listening time. */
static void set_deadline(struct master *m, struct task *t, int64_t timeout_ms)
{
    if (timeout_ms <= 0)
        return;
    t->deadline = m->listen_ms + timeout_ms + workers_timeout_grace_ms(m);
    deadlines_add(&m->deadlines, t);
}

void master_task_transition(struct master *m, struct task *t, enum task_state to)
{
    enum task_state from = t->state;
    int64_t now = clock_wall_ms();
    if (task_set_state(t, to, now) != 0) {
        log_error("refused illegal transition task=%s from=%s to=%s", t->id,
                  task_state_name(from), task_state_name(to));
        return;
    }
    m->counts[from]--;
    m->counts[to]++;
    if (from == TASK_RUNNING) {
        struct worker *w = t->worker ? workers_find(m, t->worker) : NULL;
        if (w && !list_empty(&t->worker_node)) {
            list_del(&t->worker_node);
            w->running--;
        }
        deadlines_remove(&m->deadlines, t);
        t->deadline = 0;
        t->lease = 0;
        m->dispatch_needed = true; /* a slot is free */
    }
    if (to == TASK_RUNNING) {
        struct worker *w = workers_find(m, t->worker);
        if (w) {
            list_add_tail(&w->tasks, &t->worker_node);
            w->running++;
        }
        set_deadline(m, t, spec_timeout_ms(t->spec));
    }
    if (to == TASK_QUEUED) {
        queue_push(&m->queue, t, now);
        m->dispatch_needed = true;
    }
    jwriter_update_task(m->writer, t);
    if (task_state_terminal(to))
        waiters_task_ended(m, t);
}

/* ---- recovery ------------------------------------------------------------- */

static int load_task_cb(struct task *t, void *data)
{
    struct master *m = data;
    hmap_put(&m->tasks, t); /* ids are the journal's primary key: no duplicates */
    m->counts[t->state]++;
    if (t->seq >= m->next_seq)
        m->next_seq = t->seq + 1;
    if (t->lease >= m->next_lease)
        m->next_lease = t->lease + 1;
    if (t->state == TASK_QUEUED)
        queue_push(&m->queue, t, clock_wall_ms());
    else if (t->state == TASK_RUNNING) {
        workers_restore(m, t);
        /* What is left of its timeout since it was dispatched (wall clock:
         * the only clock that survives the restart), from now. */
        int64_t timeout = spec_timeout_ms(t->spec);
        if (timeout > 0)
            set_deadline(m, t, MAX(1, t->started_at + timeout - clock_wall_ms()));
    }
    return 0;
}

static int recover(struct master *m, char *err, size_t errlen)
{
    uint64_t v = 0;
    m->next_seq = m->next_lease = 1;
    if (journal_get_counter(m->journal, "lease", &v) == 0 && v > m->next_lease)
        m->next_lease = v;
    if (journal_get_counter(m->journal, "seq", &v) == 0 && v > m->next_seq)
        m->next_seq = v;
    if (journal_load(m->journal, load_task_cb, m) != 0) {
        snprintf(err, errlen, "cannot read the journal in '%s'", m->opts.state_dir);
        return -1;
    }
    return 0;
}

/* ---- the loop ------------------------------------------------------------- */

static void persist_counters(struct master *m)
{
    static uint64_t saved_seq, saved_lease;
    if (m->next_seq != saved_seq) {
        jwriter_set_counter(m->writer, "seq", m->next_seq);
        saved_seq = m->next_seq;
    }
    if (m->next_lease != saved_lease) {
        jwriter_set_counter(m->writer, "lease", m->next_lease);
        saved_lease = m->next_lease;
    }
}

/* Lets out every reply whose journal writes are on disk. */
static void release_durable(struct master *m)
{
    char err[512];
    uint64_t done;
    if (!jwriter_done(m->writer, &done, err, sizeof(err)))
        master_journal_failed(m, err);
    conn_hub_release(&m->hub, done);
}

static void journal_done_cb(uv_async_t *h)
{
    release_durable(h->data);
}

/* Called by the writer thread after each commit. */
static void wake_loop(void *data)
{
    struct master *m = data;
    uv_async_send(&m->journal_done);
}

/* Runs once per loop turn, just before the loop blocks: everything handled
 * in this turn goes to the journal writer as one batch, and the replies of
 * the turn wait for its commit. */
static void master_prepare_cb(uv_prepare_t *h)
{
    struct master *m = h->data;
    if (m->dispatch_needed)
        workers_dispatch(m);
    workers_flush_control(m);
    waiters_flush(m, (int64_t)uv_now(m->loop));
    listings_pump(m);
    persist_counters(m);
    conn_hub_hold(&m->hub, jwriter_handoff(m->writer));
    release_durable(m);
}

static void prune(struct master *m, int64_t now_wall)
{
    int64_t cutoff = now_wall - m->opts.keep_finished_ms;
    uint64_t n = 0;
    char err[512];
    master_journal_sync(m);
    if (journal_prune(m->journal, cutoff, &n) != 0)
        master_journal_failed(m, "cannot prune finished tasks");
    if (journal_commit(m->journal, err, sizeof(err)) != 0)
        master_journal_failed(m, err);
    if (n == 0)
        return;
    for (size_t i = 0; i < m->tasks.cap; i++) {
        struct task *t = m->tasks.slots[i];
        if (t && task_state_terminal(t->state) && t->finished_at && t->finished_at < cutoff) {
            hmap_del(&m->tasks, t->id);
            m->counts[t->state]--;
            task_free(t);
            i--; /* the deletion may have shifted another item into slot i */
        }
    }
    log_info("pruned finished tasks count=%" PRIu64, n);
}

/* Workers beat on their own at the interval the master's hello names. */
static void fill_hello(struct msg *h, void *data)
{
    const struct master *m = data;
    h->heartbeat_ms = m->opts.heartbeat_ms;
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
    int64_t now = (int64_t)uv_now(m->loop); /* updated right after the poll */
    int64_t step = now - m->listen_last;
    m->listen_last = now;
    m->listen_ms += MIN(MAX(step, 0), LISTEN_STEP_MAX_MS);
}

static void master_tick_cb(uv_timer_t *h)
{
    struct master *m = h->data;
    int64_t now = (int64_t)uv_now(m->loop);
    int64_t wall = clock_wall_ms();
    conn_hub_sweep(&m->hub);
    /* Visiting every worker costs with 10,000 of them: do it twice per
     * heartbeat, between every tick and every half second. */
    int64_t sweep_every = MIN(MAX(m->opts.heartbeat_ms / 2, TICK_MS), 500);
    if (now - m->last_workers_tick >= sweep_every) {
        m->last_workers_tick = now;
        workers_tick(m, m->listen_ms);
    }
    workers_expire(m, m->listen_ms);
    size_t before = queue_ready_len(&m->queue);
    queue_promote(&m->queue, wall);
    if (queue_ready_len(&m->queue) != before)
        m->dispatch_needed = true;
    if (m->opts.discover.len && now - m->last_scan >= m->opts.scan_interval_ms) {
        m->last_scan = now;
        discover_scan(m);
    }
    /* Prune at least as often as finished tasks expire, at most once a tick. */
    int64_t every = MIN(PRUNE_EVERY_MS, MAX(m->opts.keep_finished_ms, TICK_MS));
    if (now - m->last_prune >= every) {
        m->last_prune = now;
        prune(m, wall);
    }
}

static void master_stop(struct master *m, const char *why)
{
    char err[512];
    if (m->stopping)
        return;
    m->stopping = true;
    log_info("stopping reason=%s", why);
    conn_listener_close(&m->listener);
    if (!jwriter_drain(m->writer, err, sizeof(err)))
        log_error("final journal commit failed error=%s", log_quote(err));
    conn_hub_close_all(&m->hub, "master is stopping");
    uv_timer_stop(&m->tick);
    uv_prepare_stop(&m->prepare);
    uv_check_stop(&m->check);
    uv_close((uv_handle_t *)&m->tick, NULL);
    uv_close((uv_handle_t *)&m->prepare, NULL);
    uv_close((uv_handle_t *)&m->check, NULL);
    uv_close((uv_handle_t *)&m->sigint, NULL);
    uv_close((uv_handle_t *)&m->sigterm, NULL);
    uv_close((uv_handle_t *)&m->journal_done, NULL);
}

static void master_signal_cb(uv_signal_t *h, int signum)
{
    struct master *m = h->data;
    master_stop(m, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* ---- connections ---------------------------------------------------------- */

static int conn_ready_cb(struct conn *c, struct msg *hello, char *err, size_t errlen)
{
    struct master *m = conn_hub_owner(c);
    if (!strcmp(hello->role, "client")) {
        c->data = client_session_new(m, c);
        return 0;
    }
    return workers_register(m, c, hello, err, errlen);
}

static void conn_message_cb(struct conn *c, struct msg *msg)
{
    struct master *m = conn_hub_owner(c);
    if (!strcmp(conn_peer_role(c), "client"))
        handlers_client_message(m, c, msg);
    else if (c->data)
        workers_message(m, c->data, msg);
}

static void conn_closed_cb(struct conn *c)
{
    struct master *m = conn_hub_owner(c);
    if (!strcmp(conn_peer_role(c), "client")) {
        if (c->data)
            client_session_free(c->data);
    } else if (c->data) {
        workers_conn_closed(m, c->data, conn_reason(c));
    }
    c->data = NULL;
}

const struct conn_ops master_conn_ops = {
    .ready = conn_ready_cb,
    .message = conn_message_cb,
    .closed = conn_closed_cb,
};

static int write_addr_file(const char *dir, const char *addr, char *err, size_t errlen)
{
    char path[900], tmp[1000];
    snprintf(path, sizeof(path), "%s/master.addr", dir);
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
    fprintf(stderr, "dtr master: state dir '%s' is open to others (mode %04o); its files are "
            "private (0600), but run chmod 700 '%s' to hide them too\n", dir,
            (unsigned)(sb.st_mode & 07777), dir);
}

int master_run(const struct master_opts *opts)
{
    heap_tune_for_bursts();
    struct master *m = xcalloc(1, sizeof(*m));
    char err[1024];
    int rc = 1;
    m->opts = *opts;
    m->loop = uv_default_loop();
    hmap_init(&m->tasks, task_key);
    queue_init(&m->queue);
    deadlines_init(&m->deadlines);
    m->listen_ms = m->listen_last = (int64_t)uv_now(m->loop);
    list_init(&m->workers);
    list_init(&m->waiters);
    list_init(&m->clients);
    workers_init(m);

    if (auth_init() != 0 || auth_load_token(opts->token_file, &m->token, err, sizeof(err))) {
        fprintf(stderr, "dtr master: %s\n", err);
        rc = 2; /* a token file to fix: a usage error, as in the CLI */
        goto out;
    }
    if (tls_ctx_new(opts->tls_cert, opts->tls_key, opts->tls_ca, &m->tls, err, sizeof(err))) {
        fprintf(stderr, "dtr master: %s\n", err);
        goto out;
    }
    if (!m->token && !opts->insecure && !conn_host_is_loopback(opts->host)) {
        fprintf(stderr, "dtr master: refusing to listen on '%s' without a token: anyone who "
                "can reach it could run commands on every worker; set --token-file or "
                "DTR_TOKEN, or pass --insecure\n", opts->host);
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
    m->writer = jwriter_start(m->journal, wake_loop, m);
    if (recover(m, err, sizeof(err)) != 0) {
        fprintf(stderr, "dtr master: %s\n", err);
        goto out;
    }
    prune(m, clock_wall_ms()); /* nothing expired is served after a restart */

    static char id[300];
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    snprintf(id, sizeof(id), "master-%s-%d", host, (int)getpid());
    conn_hub_init(&m->hub, m->loop, "master", id, m->token);
    m->hub.tls = m->tls;
    m->hub.owner = m;
    m->hub.fill_hello = fill_hello;
    conn_hub_fit_fd_limit(&m->hub, 64);
    int hi = (int)MIN(opts->port + 99, 65535);
    if (conn_listen(&m->hub, &m->listener, opts->host, (int)opts->port, hi, &master_conn_ops,
                    CONN_ROLE_WORKER | CONN_ROLE_CLIENT, err, sizeof(err)) != 0) {
        fprintf(stderr, "dtr master: %s\n", err);
        log_error("cannot listen error=%s", log_quote(err));
        goto out;
    }
    conn_listener_addr(&m->listener, m->addr, sizeof(m->addr));
    if (mkdir(opts->state_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "dtr master: cannot create state dir '%s': %s\n", opts->state_dir,
                strerror(errno));
        goto out;
    }
    warn_open_state_dir(opts->state_dir);
    if (write_addr_file(opts->state_dir, m->addr, err, sizeof(err)) != 0) {
        fprintf(stderr, "dtr master: %s\n", err);
        goto out;
    }
    log_info("listening addr=%s state_dir=%s tasks=%zu queued=%" PRIu64 " running=%" PRIu64
             " auth=%s tls=%s", m->addr, opts->in_memory ? "(memory)" : opts->state_dir,
             m->tasks.len, m->counts[TASK_QUEUED], m->counts[TASK_RUNNING],
             m->token ? "token" : "none", m->tls ? "on" : "off");
    printf("dtr master listening on %s\n", m->addr);
    fflush(stdout);

    uv_prepare_init(m->loop, &m->prepare);
    m->prepare.data = m;
    uv_prepare_start(&m->prepare, master_prepare_cb);
    uv_check_init(m->loop, &m->check);
    m->check.data = m;
    uv_check_start(&m->check, master_check_cb);
    uv_timer_init(m->loop, &m->tick);
    m->tick.data = m;
    uv_timer_start(&m->tick, master_tick_cb, TICK_MS, TICK_MS);
    uv_signal_init(m->loop, &m->sigint);
    uv_signal_init(m->loop, &m->sigterm);
    m->sigint.data = m->sigterm.data = m;
    uv_signal_start(&m->sigint, master_signal_cb, SIGINT);
    uv_signal_start(&m->sigterm, master_signal_cb, SIGTERM);
    signal(SIGPIPE, SIG_IGN);
    m->last_scan = -opts->scan_interval_ms; /* scan at once */
    m->last_prune = (int64_t)uv_now(m->loop);
    m->dispatch_needed = true;

    uv_run(m->loop, UV_RUN_DEFAULT);
    log_info("stopped");
    rc = 0;
out:
    jwriter_stop(m->writer);
    journal_close(m->journal);
    workers_free_all(m);
    for (size_t i = 0; i < m->tasks.cap; i++)
        if (m->tasks.slots[i])
            task_free(m->tasks.slots[i]);
    hmap_release(&m->tasks);
    queue_release(&m->queue);
    deadlines_release(&m->deadlines);
    free(m->token);
    tls_ctx_free(m->tls);
    free(m);
    uv_loop_close(uv_default_loop());
    log_close();
    return rc;
}
