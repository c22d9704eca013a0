/* SPDX-License-Identifier: MIT */
/*
 * Starts a task's process the cheap way: clone(CLONE_VM | CLONE_PIDFD) on a
 * stack of the worker's, as glibc's posix_spawn does inside, minus what a
 * worker pays for on every task there: a fresh stack mapped and unmapped
 * (the unmap shoots down the TLB of every CPU), a getrlimit per file
 * action, a query and reset of all 64 signal handlers in the child, an
 * open of /dev/null, a pidfd_open() afterwards, and above all the wait for
 * the child's exec (CLONE_VFORK): 100-150 us for /bin/true here, in which
 * a worker's loop read no exit and started no other task (one worker on
 * two slots left an eighth of two cores idle; with 8 slots a sixth). The
 * child gets its own process group, /dev/null on stdin, the given fds on
 * stdout and stderr, default handlers and an empty signal mask.
 *
 * Only one thread may spawn: the worker spawns from its loop thread. On
 * other architectures than x86-64 and arm64 the parent waits for the exec
 * (CLONE_VFORK), as before.
 */
#ifndef DTR_WORKER_SPAWN_H
#define DTR_WORKER_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

struct spawn_req {
    /* Run as is if it holds a '/', else looked up in the worker's PATH; a
     * file the kernel will not exec (a script without "#!") runs under
     * /bin/sh, as execvp() and a shell run it. */
    const char *file;
    char *const *argv;  /* NULL-terminated */
    char *const *envp;  /* NULL-terminated */
    int out_fd, err_fd; /* become the child's stdout and stderr; both > 2 */
    const char *cwd;    /* the child's working directory, or NULL */
};

/*
 * Returns 0 with *pid set, and *pidfd set to a pidfd of the child (close-on-
 * exec) or to -1 where the kernel has no CLONE_PIDFD (before Linux 5.2); or
 * the errno value of the step that failed, with nothing left behind. The
 * child's own steps (chdir(), exec()) fail later: it stores their errno in
 * *child_err and exits with status 127, so *child_err must stay valid until
 * its exit has been seen; it is 0 if the child exec'd (also where the
 * parent waits for the exec: one way to report it everywhere).
 */
int spawn_task(const struct spawn_req *req, pid_t *pid, int *pidfd, int *child_err);

#endif
