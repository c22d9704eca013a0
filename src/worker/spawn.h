/* SPDX-License-Identifier: MIT */
/*
 * Starts a task's process the cheap way: clone(CLONE_VM | CLONE_VFORK |
 * CLONE_PIDFD) on a stack kept from one spawn to the next, as glibc's
 * posix_spawn does inside, minus what a worker pays for on every task
 * there: a fresh stack mapped and unmapped (the unmap shoots down the TLB
 * of every CPU), a getrlimit per file action, a query and reset of all 64
 * signal handlers in the child, an open of /dev/null, and a pidfd_open()
 * afterwards. The child gets its own process group, /dev/null on stdin,
 * the given fds on stdout and stderr, default handlers and an empty signal
 * mask, and the parent resumes once it has exec'd (or failed to).
 *
 * Only one thread may spawn at a time (the stack is shared): the worker
 * spawns from its loop thread.
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
 * the errno value of the step that failed, the child's chdir() and exec()
 * included, with nothing left behind.
 */
int spawn_task(const struct spawn_req *req, pid_t *pid, int *pidfd);

#endif
