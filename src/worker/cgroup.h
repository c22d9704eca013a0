/* SPDX-License-Identifier: MIT */
/*
 * Memory limits per task (issue 13): each exec attempt that requests memory
 * runs in a cgroup of its own with that limit, where the worker can create
 * one; an attempt killed for memory fails with "out of memory (limit 2G)".
 * cgroup v2 is preferred (the unified hierarchy at /sys/fs/cgroup, as on
 * Debian 12): the worker's own cgroup (the `0::` line of /proc/self/cgroup)
 * must offer `memory` in cgroup.controllers and be writable (root, or a
 * subtree delegated by systemd). As a cgroup with controllers enabled for
 * its children may hold no processes, the worker first moves itself into
 * a leaf child `dtr-worker`, then enables memory (and cpu, if offered) in
 * cgroup.subtree_control; each task's cgroup is a sibling of that leaf
 * with memory.max (memory.swap.max 0, memory.oom.group 1 where present)
 * and, for fractional --cpus, cpu.max. As root, where its own cgroup
 * cannot be used so (other processes in it, or no memory offered), task
 * cgroups go under a top-level cgroup /sys/fs/cgroup/dtr and the worker
 * stays where it is. Otherwise the cgroup v1 memory
 * controller (mounted at /sys/fs/cgroup/memory, as on hybrid hosts); with
 * neither the worker says so once at start and accounting still holds
 * (nothing is enforced).
 */
#ifndef DTR_WORKER_CGROUP_H
#define DTR_WORKER_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CGROUP_PATH_MAX 1024

struct cgroups {
    bool on;
    int version;                /* 1 or 2, when on */
    bool cpu;                   /* v2: cpu.max can be set on task cgroups */
    char base[CGROUP_PATH_MAX]; /* where task cgroups are made: the worker's
                                 * own (v1: memory) cgroup */
    char home[CGROUP_PATH_MAX]; /* where the worker itself is: base (v1),
                                 * base/dtr-worker or the root (v2) */
};

/* Finds whether per-task memory cgroups can be made (want: --cgroups is
 * not off); false with the reason in why otherwise. root: "" (tests: a
 * directory standing for /). */
bool cgroups_init(struct cgroups *cg, bool want, const char *root, char *why, size_t whylen);
/* Makes the cgroup of one attempt (name: unique, such as its lease) with a
 * limit of mem bytes (and, v2, a CPU quota of cpus_milli when fractional);
 * its directory into path. Returns 0, or -1 with err. */
int cgroup_task_make(const struct cgroups *cg, const char *name, int64_t mem, int64_t cpus_milli,
                     char *path, size_t pathlen, char *err, size_t errlen);
/* Whether the kernel killed something in the cgroup at path for memory
 * (v2 memory.events oom_kill; v1 memory.oom_control oom_kill or failcnt). */
bool cgroup_task_oom(const char *path);
/* Removes it (once its processes are gone); false when it could not. */
bool cgroup_task_remove(const char *path);
/* Moves the calling thread (v1: its `tasks` file) or, v2, the worker
 * process (cgroup.procs: v2 moves threads of a domain cgroup only
 * together) into the cgroup at path, so a child spawned meanwhile starts
 * inside it; cgroup_leave() moves it back home. Return 0 or an errno
 * value. */
int cgroup_enter(const struct cgroups *cg, const char *path);
int cgroup_leave(const struct cgroups *cg);

#endif
