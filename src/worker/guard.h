/* SPDX-License-Identifier: MIT */
/*
 * Makes a worker's tasks die with it, however it dies. A worker cannot run
 * prctl(PR_SET_PDEATHSIG) in a spawned child, and that would only reach the
 * child, not its process group; so the worker starts a small guard process
 * ('dtr __guard') and lists the process group of every task it runs in a
 * table the two share: LOG_DIR/worker-ID.pids, mapped (locked with flock()
 * while the worker or its guard lives). When the pipe between them reaches
 * EOF (the worker died, even by SIGKILL), the guard kills every group still
 * listed, and exits. A worker restarted with the same id reads the same file
 * and kills what a previous instance left behind when the guard died with
 * it. A task that leaves its process group (setsid, a
 * daemon) escapes both: only cgroups would catch it.
 */
#ifndef DTR_WORKER_GUARD_H
#define DTR_WORKER_GUARD_H

#include <stdint.h>
#include <sys/types.h>

struct guard;

/*
 * Makes the worker a child subreaper, kills the task groups that a previous
 * worker with this id left running (recorded in LOG_DIR/worker-ID.pids, each
 * checked against its recorded start time so that a reused pid is never
 * killed; each kill is logged), and starts the guard process. log_open()
 * must have succeeded, and SIGPIPE must be ignored. Returns NULL with a
 * message in err when the guard cannot be started. Caller frees with
 * guard_free(), which leaves the guard running until the worker exits.
 */
struct guard *guard_start(const char *log_dir, const char *id, char *err, size_t errlen);
void guard_free(struct guard *g);

/* The clock that a task's start time is checked against (CLOCK_BOOTTIME,
 * in ns); read it right before and right after spawning a task. */
int64_t guard_now(void);
/* Records a task's process group (its leader's pid), spawned between the
 * guard_now() readings t0 and t1: a store into the table, no system call
 * (but for the table's doubling). g may be NULL. */
void guard_task_started(struct guard *g, pid_t pgid, int64_t t0, int64_t t1);
/* The group's leader has exited and the group was killed; call it before
 * the leader is reaped, so that its pid cannot have been reused. */
void guard_task_ended(struct guard *g, pid_t pgid);
/* Reaps the worker's children that are not task leaders: the descendants of
 * tasks that the subreaper adopted, and the guard (restarted if it died).
 * Never waits for a task leader, whose runner reaps it. */
void guard_reap(struct guard *g);

/* The guard process: 'dtr __guard WORKER_PID LOG_DIR ID BOOT_ID RECORD'. */
int guard_main(int argc, char **argv);

#endif
