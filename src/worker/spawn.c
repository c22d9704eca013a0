/* SPDX-License-Identifier: MIT */
/*
 * spawn_task() (see spawn.h for why not posix_spawn): the parent blocks
 * every signal and clones a child that shares its memory and runs on a
 * stack of its own until it execs; CLONE_VFORK holds the parent until then.
 * The child may only make system calls and write its errno into the shared
 * struct child: it runs in the parent's memory, with the parent's thread
 * suspended.
 */
#include "worker/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

/* The child's stack: its own frames, and execvpe()'s path buffer (at most
 * PATH_MAX + NAME_MAX) and, for a script without '#!', its copy of argv. */
#define STACK_BASE (64 * 1024)
/* How often the set of caught signals is read again (see reset_set()). */
#define CAUGHT_REFRESH 1024

struct child {
    const struct spawn_req *req;
    const sigset_t *reset; /* handlers set back to SIG_DFL before the exec */
    int null_fd;
    volatile int err; /* the child's errno when it failed before or at exec */
};

static int null_fd = -1;
static char *stack;      /* the usable part; a guard page sits below it */
static size_t stack_len; /* the usable part's length */
static sigset_t reset;
static unsigned spawns;

/* The worker ignores SIGPIPE, and its tasks must not inherit that; the rest
 * are signals a dtr process may catch (through libuv) or ignore. */
static const int always_reset[] = {SIGPIPE, SIGINT,  SIGTERM, SIGCHLD,
                                   SIGHUP,  SIGQUIT, SIGUSR1, SIGUSR2};

/* The signals this process has handlers for, from /proc/self/status. */
static void add_caught(sigset_t *set)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    const char *p = strstr(buf, "\nSigCgt:");
    unsigned long long mask;
    if (!p || sscanf(p, "\nSigCgt: %llx", &mask) != 1)
        return;
    for (int s = 1; s < NSIG && s <= 64; s++)
        if (mask & (1ULL << (s - 1)))
            sigaddset(set, s);
}

/*
 * What the child resets to SIG_DFL: between unblocking signals and its
 * exec, a caught one would run the parent's handler in the parent's memory.
 * glibc asks the kernel about all 64 handlers in every child; this asks
 * /proc once per CAUGHT_REFRESH spawns (dtr installs its handlers at start).
 */
static const sigset_t *reset_set(void)
{
    if (spawns++ % CAUGHT_REFRESH == 0) {
        sigemptyset(&reset);
        for (size_t i = 0; i < sizeof(always_reset) / sizeof(always_reset[0]); i++)
            sigaddset(&reset, always_reset[i]);
        add_caught(&reset);
    }
    return &reset;
}

/* Makes sure the kept stack holds need bytes. Returns 0 or an errno value. */
static int ensure_stack(size_t need)
{
    long page = sysconf(_SC_PAGESIZE);
    if (need <= stack_len)
        return 0;
    need = (need + (size_t)page - 1) / (size_t)page * (size_t)page;
    char *p = mmap(NULL, need + (size_t)page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return errno;
    if (mprotect(p, (size_t)page, PROT_NONE) < 0) { /* the guard page */
        int e = errno;
        munmap(p, need + (size_t)page);
        return e;
    }
    if (stack)
        munmap(stack - page, stack_len + (size_t)page);
    stack = p + page;
    stack_len = need;
    return 0;
}

static int ensure_null_fd(void)
{
    if (null_fd >= 0)
        return 0;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    /* above stdio, so that the child's dup2() onto 0-2 never overwrites it */
    int high = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    int e = high < 0 ? errno : 0;
    close(fd);
    if (e)
        return e;
    null_fd = high;
    return 0;
}

__attribute__((noinline)) static int child_main(void *arg)
{
    struct child *c = arg;
    const struct spawn_req *req = c->req;
    struct sigaction dfl;
    sigset_t none;

    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP && sigismember(c->reset, s) == 1)
            sigaction(s, &dfl, NULL);
    /* A group of its own, so that a timeout reaches its grandchildren. */
    if (setpgid(0, 0) < 0 || dup2(c->null_fd, STDIN_FILENO) < 0 ||
        dup2(req->out_fd, STDOUT_FILENO) < 0 || dup2(req->err_fd, STDERR_FILENO) < 0 ||
        (req->cwd && chdir(req->cwd) < 0))
        goto fail;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvpe(req->file, req->argv, req->envp);
fail:
    c->err = errno ? errno : ENOEXEC;
    _exit(127);
}

int spawn_task(const struct spawn_req *req, pid_t *pid, int *pidfd)
{
    size_t argc = 0;
    while (req->argv[argc])
        argc++;
    int e = ensure_null_fd();
    if (!e)
        e = ensure_stack(STACK_BASE + (argc + 3) * sizeof(char *));
    if (e)
        return e;

    struct child c = {.req = req, .reset = reset_set(), .null_fd = null_fd};
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int fd = -1;
    pid_t p = clone(child_main, stack + stack_len, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD,
                    &c, &fd);
    if (p < 0 && errno == EINVAL) { /* no CLONE_PIDFD before Linux 5.2 */
        fd = -1;
        p = clone(child_main, stack + stack_len, CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
    }
    e = p < 0 ? errno : 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e)
        return e;
    if (c.err) {
        /* it has exited already: CLONE_VFORK resumed us at its _exit() */
        while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
            ;
        if (fd >= 0)
            close(fd);
        return c.err;
    }
    *pid = p;
    *pidfd = fd;
    return 0;
}
