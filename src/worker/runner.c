/* SPDX-License-Identifier: MIT */
/*
 * Runs one exec task: spawns it (spawn.c) into a new process group with
 * stdout and stderr on pipes, notices its exit through its pidfd, which
 * waits in one epoll set with those of the loop's other tasks (struct
 * runners), enforces the timeout with SIGTERM then SIGKILL to the group,
 * and reports once every handle is closed. A short task's pipes never join
 * the loop: at its exit they hold all its output and are read in one go;
 * only a task that runs past STREAM_AFTER_MS has them read by libuv as its
 * output comes. Where the kernel has no pidfd, the pipes are read from the
 * start and a timer polls waitid().
 * The group's start and end go to the worker's guard (guard.c), which kills
 * the group if the worker dies first.
 */
#include "worker/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/util.h"
#include "worker/cgroup.h"
#include "worker/guard.h"
#include "worker/spawn.h"

extern char **environ;

#define DEFAULT_GRACE_MS 2000
/* How long to wait for EOF once the child is gone: only a process that left
 * the group (setsid) can still hold the pipes, and it must not stall the task. */
#define DRAIN_MAX_MS 1000
#define REAP_POLL_MS 10
/*
 * A task's pipes join the loop once it has run this long. Before, they
 * cost nothing a task (libuv's open of a pipe is an fcntl, an ioctl and an
 * epoll_ctl to add and one to remove it, and the exiting child woke the
 * worker at each close). A task that fills a pipe sooner would wait for
 * the rest of this time: after a task that wrote LOUD_BYTES or more, the
 * next ones stream from their start.
 */
#define STREAM_AFTER_MS 10
#define LOUD_BYTES (64u * 1024)
/* Reads of each pipe at a task's exit, RUNNER_READ_MAX each (see
 * read_left()): four times what a pipe holds by default. */
#define READ_LEFT_ROUNDS 4
/* Exits handled per epoll_wait() in exits_cb(). */
#define EXITS_BATCH 64

struct stream {
    int fd;         /* the read end until the stream joins the loop; then -1 */
    uv_pipe_t pipe; /* once it has joined (r->streaming) */
    struct buf buf;
    bool eof;
    bool truncated;
};

struct runner {
    struct runners *rs;
    pid_t pid;     /* also the process group id */
    int spawn_err; /* the child's errno when its chdir() or exec() failed */
    char *prog;    /* what it runs, and where: for that error */
    char *cwd;
    int pidfd;      /* in rs->epfd until the exit; -1 after it, or when polled */
    bool streaming; /* the pipes are libuv handles, read as output comes */
    size_t written; /* bytes of output read, both streams */
    size_t capture_max;
    uint64_t grace_ms;
    struct guard *guard; /* told when the group starts and ends, or NULL */
    void (*output)(struct runner *r, int stream, const char *p, size_t n, void *data);
    void (*exited_cb)(struct runner *r, void *data);
    bool paused;
    runner_done_fn done;
    void *data;

    struct stream out;
    struct stream err;
    uv_timer_t reap_timer; /* STREAM_AFTER_MS; without a pidfd, polls waitid() */
    uv_timer_t timer;      /* the timeout, then the kill grace, then the drain limit */
    int open_handles;      /* done runs when the last one has closed */

    bool exited;
    bool terminating;
    bool finishing;
    struct runner_result res;
};

static void finish(struct runner *r);

/*
 * The child dup2()s onto 0, 1 and 2 in turn; a pipe end that sits
 * on one of those (the worker started with a standard fd closed) would be
 * overwritten before its own dup2, so move such ends above stdio.
 */
static int move_above_stdio(int *fd)
{
    if (*fd > STDERR_FILENO)
        return 0;
    int nfd = fcntl(*fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    if (nfd < 0)
        return errno;
    close(*fd);
    *fd = nfd;
    return 0;
}

/* Returns 0 or an errno value. Both ends are close-on-exec so concurrent
 * spawns in other threads never inherit them. */
static int make_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return errno;
    int e = move_above_stdio(&fds[0]);
    if (!e)
        e = move_above_stdio(&fds[1]);
    if (e) {
        close(fds[0]);
        close(fds[1]);
    }
    return e;
}

static bool valid_env_entry(const char *s)
{
    const char *eq = strchr(s, '=');
    return eq && eq != s;
}

/* Whether entry's name (up to '=') is set again by one of extra[from...]. */
static bool overridden(const char *entry, const char *const *extra, size_t from)
{
    size_t n = strcspn(entry, "=");
    for (size_t i = from; extra[i]; i++) {
        if (strncmp(extra[i], entry, n) == 0 && extra[i][n] == '=')
            return true;
    }
    return false;
}

/* The worker's environment plus extra; a later entry wins over an earlier one
 * of the same name. Only the pointer array is allocated. */
static char **build_env(const char *const *extra)
{
    size_t n = 0, m = 0, k = 0;
    while (environ && environ[n])
        n++;
    while (extra[m])
        m++;
    char **envp = xmalloc((n + m + 1) * sizeof(*envp));
    for (size_t i = 0; i < n; i++) {
        if (!overridden(environ[i], extra, 0))
            envp[k++] = environ[i];
    }
    for (size_t i = 0; i < m; i++) {
        if (!overridden(extra[i], extra, i + 1))
            envp[k++] = (char *)extra[i];
    }
    envp[k] = NULL;
    return envp;
}

/* Returns 0 with *pid and *pidfd set (see spawn_task()), or the errno value
 * of the failed step; the child's chdir() and exec() report in *child_err. */
static int spawn_child(const struct runner_spec *spec, int out_fd, int err_fd, pid_t *pid,
                       int *pidfd, int *child_err)
{
    char **envp = environ;
    int e = 0;

    if (spec->env && spec->env[0])
        envp = build_env(spec->env);

    /* --pin: the child inherits the affinity of the thread that spawns it,
     * so the loop thread takes the task's CPUs for the spawn and then its
     * own back (no window in which the task runs elsewhere). */
    cpu_set_t old, pin;
    bool pinned = false;
    if (spec->pin_cpus && spec->npin_cpus > 0 && sched_getaffinity(0, sizeof(old), &old) == 0) {
        CPU_ZERO(&pin);
        for (int i = 0; i < spec->npin_cpus; i++)
            if (spec->pin_cpus[i] >= 0 && spec->pin_cpus[i] < CPU_SETSIZE)
                CPU_SET(spec->pin_cpus[i], &pin);
        if (sched_setaffinity(0, sizeof(pin), &pin) != 0)
            e = errno;
        else
            pinned = true;
    }
    /* A memory limit: the child starts in the task's cgroup, as the thread
     * that spawns it is there for the spawn (no window outside it). */
    bool in_cgroup = false;
    if (!e && spec->cgroup && spec->cgroups) {
        e = cgroup_enter(spec->cgroups, spec->cgroup);
        in_cgroup = !e;
    }
    if (!e) {
        const char *sh_argv[] = {"/bin/sh", "-c", spec->cmd, NULL};
        char *const *argv = (char *const *)(spec->argv ? spec->argv : sh_argv);
        struct spawn_req req = {
            .file = argv[0],
            .argv = argv,
            .envp = envp,
            .out_fd = out_fd,
            .err_fd = err_fd,
            .cwd = spec->cwd,
        };
        e = spawn_task(&req, pid, pidfd, child_err);
    }

    if (pinned)
        sched_setaffinity(0, sizeof(old), &old);
    if (in_cgroup)
        cgroup_leave(spec->cgroups);
    if (envp != environ)
        free(envp);
    return e;
}

/* Why dir cannot be the working directory, as an errno value, or 0. Used only
 * after a failed spawn, to tell a bad cwd from a bad program. */
static int dir_error(const char *dir)
{
    struct stat st;

    if (stat(dir, &st) < 0)
        return errno;
    if (!S_ISDIR(st.st_mode))
        return ENOTDIR;
    if (access(dir, X_OK) < 0)
        return errno;
    return 0;
}

/* Why prog did not start (errno e), as the caller reads it. */
static void start_error(const char *prog, const char *cwd, int e, char *err, size_t errlen)
{
    int de = cwd ? dir_error(cwd) : 0;
    if (de)
        err_set(err, errlen, "cannot change directory to '%s': %s", cwd, strerror(de));
    else
        err_set(err, errlen, "cannot run '%s': %s", prog, strerror(e));
}

/*
 * Checks, without blocking, whether the child has exited, and reaps it if so.
 * The group is killed before the reap: until then the zombie holds the pid,
 * so the group id cannot have been reused by an unrelated process.
 */
static bool reap(struct runner *r)
{
    siginfo_t si;
    int rc, status;
    pid_t w = -1;

    memset(&si, 0, sizeof(si));
    do
        rc = waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOHANG | WNOWAIT);
    while (rc < 0 && errno == EINTR);
    if (rc == 0 && si.si_pid == 0)
        return false;

    /* Also when waitid failed (ECHILD: SIGCHLD is ignored, or someone else
     * reaped it): the child is gone, and grandchildren must not outlive it. */
    kill(-r->pid, SIGKILL);
    guard_task_ended(r->guard, r->pid);
    if (rc == 0) {
        do
            w = waitpid(r->pid, &status, WNOHANG);
        while (w < 0 && errno == EINTR);
    }
    if (w == r->pid && WIFEXITED(status)) {
        r->res.exit_code = WEXITSTATUS(status);
    } else if (w == r->pid && WIFSIGNALED(status)) {
        r->res.exit_code = -1;
        r->res.term_signal = WTERMSIG(status);
    } else {
        r->res.exit_code = -1; /* the status was lost */
    }
    return true;
}

static bool output_done(const struct runner *r)
{
    return r->out.eof && r->err.eof;
}

static void drain_timer_cb(uv_timer_t *t)
{
    struct runner *r = t->data;
    if (r->paused) {
        /* the output is waiting for us, not for a process that left */
        uv_timer_start(&r->timer, drain_timer_cb, DRAIN_MAX_MS, 0);
        return;
    }
    finish(r);
}

/* Keeps what the capture limit allows of a piece of s's output. */
static void take(struct runner *r, struct stream *s, const char *p, size_t n)
{
    r->written += n;
    if (r->output)
        r->output(r, s == &r->err, p, n, r->data);
    /* Past the limit keep reading, so the child never blocks on a full pipe */
    size_t keep = MIN(n, r->capture_max - s->buf.len);
    if (keep)
        buf_add(&s->buf, p, keep);
    if (n > keep)
        s->truncated = true;
}

static void alloc_cb(uv_handle_t *h, size_t suggested UNUSED, uv_buf_t *b)
{
    struct runner *r = h->data;

    *b = uv_buf_init(r->rs->scratch, sizeof(r->rs->scratch));
}

static void child_exited(struct runner *r);

static void read_cb(uv_stream_t *h, ssize_t nread, const uv_buf_t *b)
{
    struct runner *r = h->data;
    struct stream *s = container_of((uv_pipe_t *)h, struct stream, pipe);

    if (nread > 0) {
        take(r, s, b->base, (size_t)nread);
        return;
    }
    if (nread == 0)
        return; /* EAGAIN */
    /* EOF, or a read error: nothing more will come either way */
    uv_read_stop(h);
    s->eof = true;
    if (!output_done(r))
        return;
    if (r->exited)
        finish(r);
    else if (r->pidfd < 0 && reap(r))
        child_exited(r); /* polled: usually gone, its output closed as it exited */
}

/* Takes s's read end into the loop. A failure here loses the stream's
 * output but not the task, which runs on: the stream just counts as
 * finished. */
static void stream_start(struct runner *r, struct stream *s)
{
    int fd = s->fd;
    s->fd = -1;
    uv_pipe_init(r->rs->loop, &s->pipe, 0);
    s->pipe.data = r;
    r->open_handles++;
    if (s->eof) {
        if (fd >= 0)
            close(fd);
        return;
    }
    /* uv_pipe_open() makes fd non-blocking itself (one ioctl) */
    if (uv_pipe_open(&s->pipe, fd) < 0) {
        close(fd);
        s->eof = true;
        return;
    }
    if (!r->paused && uv_read_start((uv_stream_t *)&s->pipe, alloc_cb, read_cb) < 0)
        s->eof = true;
}

/* From now on the pipes are read as output comes. */
static void start_streaming(struct runner *r)
{
    if (r->streaming || r->finishing)
        return;
    r->streaming = true;
    stream_start(r, &r->out);
    stream_start(r, &r->err);
}

static void stream_eof(struct stream *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->eof = true;
}

/*
 * Reads what an exited task left in its pipes, without the loop: a poll()
 * says which hold data or have no writer left, and a read() of one that
 * does cannot block. A task without output costs one poll(). Stops at a
 * pause, at a pipe that a process which left the group still holds, and
 * after READ_LEFT_ROUNDS reads of each pipe (more than a pipe holds): such
 * a process may write on without end, and the loop must go on; the rest
 * is streamed, within the drain limit.
 */
static void read_left(struct runner *r)
{
    struct stream *ss[2] = {&r->out, &r->err};

    for (int round = 0; round < READ_LEFT_ROUNDS && !r->paused; round++) {
        struct pollfd pfd[2];
        struct stream *which[2];
        nfds_t n = 0;
        for (int i = 0; i < 2; i++) {
            if (ss[i]->eof || ss[i]->fd < 0)
                continue;
            pfd[n] = (struct pollfd){.fd = ss[i]->fd, .events = POLLIN};
            which[n++] = ss[i];
        }
        if (n == 0 || poll(pfd, n, 0) <= 0)
            return;
        bool more = false;
        for (nfds_t i = 0; i < n && !r->paused; i++) {
            struct stream *s = which[i];
            if (pfd[i].revents & POLLIN) {
                ssize_t got = read(s->fd, r->rs->scratch, sizeof(r->rs->scratch));
                if (got > 0) {
                    take(r, s, r->rs->scratch, (size_t)got);
                    more = true;
                } else if (got == 0 || errno != EINTR) {
                    stream_eof(s);
                } else {
                    more = true;
                }
            } else if (pfd[i].revents & (POLLHUP | POLLERR | POLLNVAL)) {
                stream_eof(s);
            }
        }
        if (!more)
            return;
    }
}

static void child_exited(struct runner *r)
{
    r->exited = true;
    uv_timer_stop(&r->reap_timer);
    if (r->exited_cb)
        r->exited_cb(r, r->data);
    if (!r->streaming) {
        read_left(r);
        if (!output_done(r))
            start_streaming(r); /* paused, or a pipe still held */
    }
    if (output_done(r)) {
        finish(r);
        return;
    }
    /* uv_timer_start() replaces whatever the timer was counting down */
    uv_timer_start(&r->timer, drain_timer_cb, DRAIN_MAX_MS, 0);
}

static void reap_timer_cb(uv_timer_t *t)
{
    struct runner *r = t->data;

    if (reap(r))
        child_exited(r);
}

/* Closes r's pidfd, whose exit the set has reported (see watch_exit()). */
static void pidfd_drop(struct runner *r)
{
    if (r->pidfd < 0)
        return;
    close(r->pidfd);
    r->pidfd = -1;
    if (--r->rs->live == 0)
        uv_unref((uv_handle_t *)&r->rs->poll);
}

/* The exits set is readable: some tasks have exited. */
static void exits_cb(uv_poll_t *h, int status, int events UNUSED)
{
    struct runners *rs = h->data;
    struct epoll_event ev[EXITS_BATCH];

    if (status < 0) /* libuv stopped the handle; the set still works */
        uv_poll_start(h, UV_READABLE, exits_cb);
    int n = epoll_wait(rs->epfd, ev, EXITS_BATCH, 0);
    for (int i = 0; i < n; i++) {
        struct runner *r = ev[i].data.ptr;
        pidfd_drop(r);
        if (reap(r)) {
            child_exited(r);
        } else { /* cannot be: its pidfd said it exited */
            start_streaming(r);
            uv_timer_start(&r->reap_timer, reap_timer_cb, REAP_POLL_MS, REAP_POLL_MS);
        }
    }
}

static void grace_timer_cb(uv_timer_t *t)
{
    struct runner *r = t->data;

    if (!r->exited)
        kill(-r->pid, SIGKILL);
}

/* SIGTERM to the group now, SIGKILL when it outlives the grace period. */
static void terminate(struct runner *r)
{
    if (r->terminating || r->exited)
        return;
    r->terminating = true;
    kill(-r->pid, SIGTERM);
    uv_timer_start(&r->timer, grace_timer_cb, r->grace_ms, 0);
}

static void timeout_timer_cb(uv_timer_t *t)
{
    struct runner *r = t->data;

    if (r->exited)
        return;
    r->res.timed_out = true;
    terminate(r);
}

static void close_cb(uv_handle_t *h)
{
    struct runner *r = h->data;

    if (--r->open_handles > 0)
        return;
    if (r->spawn_err) { /* it never ran: its exit status is ours, not the task's */
        char msg[512];
        start_error(r->prog, r->cwd, r->spawn_err, msg, sizeof(msg));
        r->res.error = xstrdup(msg);
        r->res.exit_code = 127;
    }
    free(r->prog);
    free(r->cwd);

    r->res.out = buf_detach(&r->out.buf, &r->res.out_len);
    r->res.out_truncated = r->out.truncated;
    r->res.err = buf_detach(&r->err.buf, &r->res.err_len);
    r->res.err_truncated = r->err.truncated;
    r->done(r, &r->res, r->data);
    free(r);
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, close_cb);
}

static void finish(struct runner *r)
{
    if (r->finishing)
        return;
    r->finishing = true;
    r->rs->loud = r->written >= LOUD_BYTES;
    pidfd_drop(r);
    if (r->streaming) {
        close_handle((uv_handle_t *)&r->out.pipe);
        close_handle((uv_handle_t *)&r->err.pipe);
    } else {
        stream_eof(&r->out);
        stream_eof(&r->err);
    }
    close_handle((uv_handle_t *)&r->reap_timer);
    close_handle((uv_handle_t *)&r->timer);
}

static void stream_timer_cb(uv_timer_t *t)
{
    start_streaming(t->data);
}

/*
 * Puts r's exit in rs's set; false where there is no set or no pidfd. Once:
 * closing the pidfd does not always take it out of the set at once. A
 * child between its clone and its exec holds a copy of every fd, and its
 * exec closes them only after it has let the worker go on; the set, level-
 * triggered, would then report an exit already handled, of a runner maybe
 * freed. EPOLLONESHOT reports it once, and r is not freed before that.
 */
static bool watch_exit(struct runners *rs, struct runner *r, int pidfd)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = r};

    if (pidfd < 0 || rs->epfd < 0 || epoll_ctl(rs->epfd, EPOLL_CTL_ADD, pidfd, &ev) < 0)
        return false;
    r->pidfd = pidfd;
    if (rs->live++ == 0)
        uv_ref((uv_handle_t *)&rs->poll);
    return true;
}

void runners_init(struct runners *rs, uv_loop_t *loop)
{
    memset(rs, 0, sizeof(*rs));
    rs->loop = loop;
    rs->stream_after_ms = STREAM_AFTER_MS;
    rs->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (rs->epfd < 0)
        return;
    if (uv_poll_init(loop, &rs->poll, rs->epfd) != 0) {
        close(rs->epfd);
        rs->epfd = -1;
        return;
    }
    rs->poll.data = rs;
    if (uv_poll_start(&rs->poll, UV_READABLE, exits_cb) != 0) {
        uv_close((uv_handle_t *)&rs->poll, NULL);
        close(rs->epfd);
        rs->epfd = -1;
        return;
    }
    /* the loop is kept alive by live tasks only */
    uv_unref((uv_handle_t *)&rs->poll);
}

static void runners_closed_cb(uv_handle_t *h)
{
    struct runners *rs = h->data;
    close(rs->epfd);
    rs->epfd = -1;
}

void runners_close(struct runners *rs)
{
    if (rs->epfd >= 0 && !uv_is_closing((uv_handle_t *)&rs->poll))
        uv_close((uv_handle_t *)&rs->poll, runners_closed_cb);
}

struct runner *runner_start(struct runners *rs, const struct runner_spec *spec, runner_done_fn done,
                            void *data, char *err, size_t errlen)
{
    int out_fds[2], err_fds[2];
    pid_t pid;
    int pidfd = -1;
    int e;

    if (!rs || !rs->loop || !spec || !done)
        DTR_BUG("runner_start: runners, spec and done are required");
    const char *prog = spec->argv ? spec->argv[0] : spec->cmd ? "/bin/sh" : NULL;
    if (!prog) {
        err_set(err, errlen, "no command to run");
        return NULL;
    }
    for (size_t i = 0; spec->env && spec->env[i]; i++) {
        if (!valid_env_entry(spec->env[i])) {
            err_set(err, errlen, "invalid environment entry '%s' (want KEY=VALUE)", spec->env[i]);
            return NULL;
        }
    }

    e = make_pipe(out_fds);
    if (!e) {
        e = make_pipe(err_fds);
        if (e) {
            close(out_fds[0]);
            close(out_fds[1]);
        }
    }
    if (e) {
        err_set(err, errlen, "cannot run '%s': cannot create pipe: %s", prog, strerror(e));
        return NULL;
    }

    struct runner *r = xcalloc(1, sizeof(*r));
    int64_t t0 = spec->guard ? guard_now() : 0;
    e = spawn_child(spec, out_fds[1], err_fds[1], &pid, &pidfd, &r->spawn_err);
    if (!e)
        guard_task_started(spec->guard, pid, t0, spec->guard ? guard_now() : 0);
    close(out_fds[1]);
    close(err_fds[1]);
    if (e) {
        free(r);
        close(out_fds[0]);
        close(err_fds[0]);
        start_error(prog, spec->cwd, e, err, errlen);
        return NULL;
    }

    r->rs = rs;
    r->pid = pid;
    r->pidfd = -1;
    r->prog = xstrdup(prog);
    r->cwd = spec->cwd ? xstrdup(spec->cwd) : NULL;
    r->capture_max = spec->capture_max;
    r->grace_ms = spec->kill_grace_ms > 0 ? (uint64_t)spec->kill_grace_ms : DEFAULT_GRACE_MS;
    r->guard = spec->guard;
    r->output = spec->output;
    r->exited_cb = spec->exited;
    r->done = done;
    r->data = data;
    buf_init(&r->out.buf);
    buf_init(&r->err.buf);
    r->out.fd = out_fds[0];
    r->err.fd = err_fds[0];

    uv_timer_init(rs->loop, &r->reap_timer);
    r->reap_timer.data = r;
    uv_timer_init(rs->loop, &r->timer);
    r->timer.data = r;
    r->open_handles += 2;
    if (watch_exit(rs, r, pidfd)) {
        if (rs->loud)
            start_streaming(r);
        else
            uv_timer_start(&r->reap_timer, stream_timer_cb, rs->stream_after_ms, 0);
    } else {
        if (pidfd >= 0)
            close(pidfd);
        start_streaming(r);
        uv_timer_start(&r->reap_timer, reap_timer_cb, REAP_POLL_MS, REAP_POLL_MS);
    }
    if (spec->timeout_ms > 0)
        uv_timer_start(&r->timer, timeout_timer_cb, (uint64_t)spec->timeout_ms, 0);
    return r;
}

void runner_kill(struct runner *r)
{
    if (r->exited || r->finishing)
        return;
    r->res.killed = true;
    terminate(r);
}

void runner_pause(struct runner *r)
{
    if (r->paused || r->finishing)
        return;
    r->paused = true;
    if (!r->streaming)
        return;
    if (!r->out.eof)
        uv_read_stop((uv_stream_t *)&r->out.pipe);
    if (!r->err.eof)
        uv_read_stop((uv_stream_t *)&r->err.pipe);
}

void runner_resume(struct runner *r)
{
    if (!r->paused)
        return;
    r->paused = false;
    if (r->finishing || !r->streaming)
        return;
    if (!r->out.eof && uv_read_start((uv_stream_t *)&r->out.pipe, alloc_cb, read_cb) < 0)
        r->out.eof = true;
    if (!r->err.eof && uv_read_start((uv_stream_t *)&r->err.pipe, alloc_cb, read_cb) < 0)
        r->err.eof = true;
    if (r->exited && output_done(r))
        finish(r);
}

int runner_pid(const struct runner *r)
{
    return r->pid;
}
