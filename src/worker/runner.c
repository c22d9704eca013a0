/* SPDX-License-Identifier: MIT */
/*
 * Runs one exec task: spawns it (spawn.c) into a new process group with
 * stdout and stderr on pipes that libuv reads, notices its exit at their EOF
 * or through a pidfd (or a waitpid timer where the kernel has none),
 * enforces the timeout with SIGTERM then SIGKILL to the group, and reports
 * once every handle is closed.
 * The group's start and end go to the worker's guard (guard.c), which kills
 * the group if the worker dies first.
 */
#include "worker/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
 * The exit is watched (a pidfd opened and polled in the loop: a pidfd_open,
 * five epoll_ctl, an ioctl and a close a task) only once the task has run
 * this long, or its output ends first
 * without its exit: most tasks close their output as they exit, and a
 * waitid() at the EOF finds them gone. Only a leader that exits while a
 * grandchild holds its output is then noticed up to this late.
 */
#define WATCH_AFTER_MS 10

struct stream {
    uv_pipe_t pipe;
    struct buf buf;
    bool eof;
    bool truncated;
};

struct runner {
    pid_t pid;     /* also the process group id */
    int pidfd;     /* opened by watch_exit(), or -1 (none yet, or polled) */
    bool watching; /* exit_poll is set up on pidfd (a handle to close) */
    size_t capture_max;
    uint64_t grace_ms;
    struct guard *guard; /* told when the group starts and ends, or NULL */
    void (*output)(struct runner *r, int stream, const char *p, size_t n, void *data);
    bool paused;
    runner_done_fn done;
    void *data;

    struct stream out;
    struct stream err;
    uv_poll_t exit_poll;   /* the pidfd turns readable when the child exits */
    uv_timer_t reap_timer; /* WATCH_AFTER_MS, then without a pidfd: polls waitid() */
    uv_timer_t timer;      /* the timeout, then the kill grace, then the drain limit */
    int open_handles;      /* done runs when the last one has closed */

    bool exited;
    bool terminating;
    bool finishing;
    struct runner_result res;
    /* libuv reads synchronously after alloc_cb, so both streams can share it */
    char scratch[RUNNER_READ_MAX];
};

static void finish(struct runner *r);
static void exited_or_watch(struct runner *r);

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

/* Returns 0 with *pid set (see spawn_task()), or the errno value of the
 * failed step, the child's chdir() and exec() included. */
static int spawn_child(const struct runner_spec *spec, int out_fd, int err_fd, pid_t *pid)
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
        e = spawn_task(&req, pid);
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

static void child_exited(struct runner *r)
{
    r->exited = true;
    if (r->watching)
        uv_poll_stop(&r->exit_poll);
    uv_timer_stop(&r->reap_timer);
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

static void exit_poll_cb(uv_poll_t *h, int status, int events UNUSED)
{
    struct runner *r = h->data;

    if (status < 0) {
        /* libuv stopped watching the pidfd after an error: poll instead */
        uv_poll_stop(h);
        uv_timer_start(&r->reap_timer, reap_timer_cb, REAP_POLL_MS, REAP_POLL_MS);
    }
    if (reap(r))
        child_exited(r);
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

static void alloc_cb(uv_handle_t *h, size_t suggested UNUSED, uv_buf_t *b)
{
    struct runner *r = h->data;

    *b = uv_buf_init(r->scratch, sizeof(r->scratch));
}

static void read_cb(uv_stream_t *h, ssize_t nread, const uv_buf_t *b)
{
    struct runner *r = h->data;
    struct stream *s = container_of((uv_pipe_t *)h, struct stream, pipe);

    if (nread > 0) {
        if (r->output)
            r->output(r, s == &r->err, b->base, (size_t)nread, r->data);
        /* Past the limit keep reading, so the child never blocks on a full pipe */
        size_t keep = MIN((size_t)nread, r->capture_max - s->buf.len);
        if (keep)
            buf_add(&s->buf, b->base, keep);
        if ((size_t)nread > keep)
            s->truncated = true;
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
    else if (!r->watching)
        exited_or_watch(r); /* usually gone: its output closed as it exited */
}

static void close_cb(uv_handle_t *h)
{
    struct runner *r = h->data;

    if (h == (uv_handle_t *)&r->exit_poll && r->pidfd >= 0) {
        /* Only now: closing it earlier could let libuv, still holding the
         * number, unregister another handle's fd that reused it. */
        close(r->pidfd);
        r->pidfd = -1;
    }
    if (--r->open_handles > 0)
        return;

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
    close_handle((uv_handle_t *)&r->out.pipe);
    close_handle((uv_handle_t *)&r->err.pipe);
    if (r->watching) {
        close_handle((uv_handle_t *)&r->exit_poll);
    } else if (r->pidfd >= 0) {
        close(r->pidfd);
        r->pidfd = -1;
    }
    close_handle((uv_handle_t *)&r->reap_timer);
    close_handle((uv_handle_t *)&r->timer);
}

/* Takes ownership of fd. A failure here loses the stream's output but not
 * the task, which already runs: the stream just counts as finished. */
static void open_stream(uv_loop_t *loop, struct runner *r, struct stream *s, int fd)
{
    uv_pipe_init(loop, &s->pipe, 0);
    s->pipe.data = r;
    r->open_handles++;
    /* uv_pipe_open() makes fd non-blocking itself (one ioctl) */
    if (uv_pipe_open(&s->pipe, fd) < 0) {
        close(fd);
        s->eof = true;
        return;
    }
    if (uv_read_start((uv_stream_t *)&s->pipe, alloc_cb, read_cb) < 0)
        s->eof = true;
}

/* Watches the exit through a pidfd, or by polling where the kernel gives
 * none (before Linux 5.3) or libuv refuses it. The pid cannot have been
 * reused: only this runner reaps its child (guard_reap() leaves it). */
static void watch_exit(struct runner *r)
{
    uv_loop_t *loop = r->reap_timer.loop;
    uv_timer_stop(&r->reap_timer);
#ifdef SYS_pidfd_open
    if (r->pidfd < 0)
        r->pidfd = (int)syscall(SYS_pidfd_open, r->pid, 0);
#endif
    if (r->pidfd >= 0 && uv_poll_init(loop, &r->exit_poll, r->pidfd) == 0) {
        r->exit_poll.data = r;
        r->open_handles++;
        r->watching = true;
        if (uv_poll_start(&r->exit_poll, UV_READABLE, exit_poll_cb) == 0)
            return;
    }
    uv_timer_start(&r->reap_timer, reap_timer_cb, REAP_POLL_MS, REAP_POLL_MS);
}

/* At its output's EOF or after WATCH_AFTER_MS: the task has exited, or its
 * exit is watched from now on. */
static void exited_or_watch(struct runner *r)
{
    if (reap(r))
        child_exited(r);
    else
        watch_exit(r);
}

static void watch_timer_cb(uv_timer_t *t)
{
    exited_or_watch(t->data);
}

struct runner *runner_start(uv_loop_t *loop, const struct runner_spec *spec, runner_done_fn done,
                            void *data, char *err, size_t errlen)
{
    int out_fds[2], err_fds[2];
    pid_t pid;
    int e;

    if (!loop || !spec || !done)
        DTR_BUG("runner_start: loop, spec and done are required");
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

    int64_t t0 = spec->guard ? guard_now() : 0;
    e = spawn_child(spec, out_fds[1], err_fds[1], &pid);
    if (!e)
        guard_task_started(spec->guard, pid, t0, spec->guard ? guard_now() : 0);
    close(out_fds[1]);
    close(err_fds[1]);
    if (e) {
        close(out_fds[0]);
        close(err_fds[0]);
        int de = spec->cwd ? dir_error(spec->cwd) : 0;
        if (de)
            err_set(err, errlen, "cannot change directory to '%s': %s", spec->cwd, strerror(de));
        else
            err_set(err, errlen, "cannot run '%s': %s", prog, strerror(e));
        return NULL;
    }

    struct runner *r = xcalloc(1, sizeof(*r));
    r->pid = pid;
    r->capture_max = spec->capture_max;
    r->grace_ms = spec->kill_grace_ms > 0 ? (uint64_t)spec->kill_grace_ms : DEFAULT_GRACE_MS;
    r->guard = spec->guard;
    r->output = spec->output;
    r->done = done;
    r->data = data;
    buf_init(&r->out.buf);
    buf_init(&r->err.buf);

    open_stream(loop, r, &r->out, out_fds[0]);
    open_stream(loop, r, &r->err, err_fds[0]);
    uv_timer_init(loop, &r->reap_timer);
    r->reap_timer.data = r;
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    r->open_handles += 2;
    r->pidfd = -1;
    uv_timer_start(&r->reap_timer, watch_timer_cb, WATCH_AFTER_MS, 0);
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
    if (r->finishing)
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
