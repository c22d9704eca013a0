/* SPDX-License-Identifier: MIT */
/*
 * Runs one exec task as a child process: spawn_task() (not uv_spawn, which
 * forks and slows with the parent's size) into a new process group, its
 * stdout and stderr on pipes, its exit watched through a pidfd (struct
 * runners).
 * Output is captured up to a limit per stream; a timeout or runner_kill()
 * sends SIGTERM to the whole group, then SIGKILL after a grace period, so no
 * grandchild outlives its task.
 */
#ifndef DTR_WORKER_RUNNER_H
#define DTR_WORKER_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct runner;
struct guard;

/* The most one output callback hands over. */
#define RUNNER_READ_MAX (64u * 1024)

/*
 * The tasks running on one loop: their exits are watched together, each
 * task's pidfd in one epoll set that the loop polls. Set up once per loop
 * (runners_init()) and closed (runners_close()) once no task is left; the
 * handle keeps the loop alive only while tasks run.
 */
struct runners {
    uv_loop_t *loop;
    int epfd; /* the set, or -1: each task's exit is polled instead */
    uv_poll_t poll;
    int live;  /* tasks whose exit is in the set */
    bool loud; /* the last task to end wrote much: stream the next at once */
    /* A task's pipes join the loop after it has run this long (runners_init:
     * 10; the unit tests set more to test the read at the exit). */
    uint64_t stream_after_ms;
    /* Every read of a task's pipe lands here: the loop reads one at a time
     * (libuv right after alloc_cb), and a 64 KiB buffer zeroed with each
     * task was 3% of a busy worker's CPU. */
    char scratch[RUNNER_READ_MAX];
};

void runners_init(struct runners *rs, uv_loop_t *loop);
/* The handle closes in the loop's next turn. */
void runners_close(struct runners *rs);

struct runner_spec {
    const char *const *argv; /* program and arguments, NULL-terminated; or NULL with cmd */
    const char *cmd;         /* run as /bin/sh -c CMD when argv is NULL */
    const char *const *env;  /* extra "KEY=VALUE" entries added to the worker's environment,
                                NULL-terminated; may be NULL */
    const char *cwd;         /* working directory, or NULL */
    int64_t timeout_ms;      /* 0 = no timeout */
    int64_t kill_grace_ms;   /* between SIGTERM and SIGKILL; 0 means 2000 */
    size_t capture_max;      /* bytes kept per stream; the rest is counted as truncated */
    struct guard *guard;     /* kills the task's group if the worker dies; may be NULL */
    const int *pin_cpus;     /* CPU numbers the task runs on (dtr worker --pin), or NULL */
    int npin_cpus;
    const char *cgroup;            /* the task's memory cgroup (worker/cgroup.h), or NULL */
    const struct cgroups *cgroups; /* where the worker's thread returns to after the spawn */
    /* Called with every piece read from stdout (stream 0) or stderr (1), up
     * to RUNNER_READ_MAX bytes, as it arrives; may be NULL. It may call
     * runner_pause(). */
    void (*output)(struct runner *r, int stream, const char *p, size_t n, void *data);
    /* Called once the process has ended and its group has been killed,
     * before the rest of its output is read and done is called; may be
     * NULL. It may start other tasks. */
    void (*exited)(struct runner *r, void *data);
};

struct runner_result {
    int exit_code;   /* the exit status, or -1 when killed by a signal */
    int term_signal; /* the signal that ended it, or 0 */
    bool timed_out;  /* ended by the timeout */
    bool killed;     /* ended by runner_kill() */
    char *out;       /* captured stdout (NUL-terminated, may hold NULs) */
    size_t out_len;
    bool out_truncated;
    char *err;
    size_t err_len;
    bool err_truncated;
    /* Why the task never ran ("cannot run 'prog': No such file or
     * directory"), or NULL: its exec fails after runner_start() returned. */
    char *error;
};

/* Called once, after the process has exited and its output is drained.
 * res->out, res->err and res->error belong to the callee (free them, or
 * take them). The
 * runner frees itself after the callback returns; do not touch it again. */
typedef void (*runner_done_fn)(struct runner *r, struct runner_result *res, void *data);

/*
 * Starts spec. Returns the runner, or NULL when the process could not be
 * created, with a message in err; a program that cannot be run (no such
 * file, a bad cwd) is reported through done instead, with res->error set:
 * the child finds out after runner_start() has returned. The spec's strings
 * are copied or no longer needed on return.
 */
struct runner *runner_start(struct runners *rs, const struct runner_spec *spec, runner_done_fn done,
                            void *data, char *err, size_t errlen);
/* Ends the task early: SIGTERM to its group, SIGKILL after the grace period.
 * done is still called, with killed set. */
void runner_kill(struct runner *r);
/* Stops reading the task's pipes (it blocks once they are full) until
 * runner_resume(): the back-pressure of a slow consumer. While paused, a
 * task that has exited is not cut off from its unread output. */
void runner_pause(struct runner *r);
void runner_resume(struct runner *r);
/* The child's pid (its process group id too). */
int runner_pid(const struct runner *r);

#endif
