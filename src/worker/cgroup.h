/* SPDX-License-Identifier: MIT */
/*
 * Memory limits per task (issue 13): each exec attempt that requests memory
 * runs in a cgroup of its own with that limit, where the worker can create
 * one; an attempt killed for memory fails with "out of memory (limit 2G)".
 * Today this uses the cgroup v1 memory controller (mounted at
 * /sys/fs/cgroup/memory, as on hybrid hosts); with none the worker says so
 * once at start and accounting still holds (nothing is enforced).
 */
#ifndef DTR_WORKER_CGROUP_H
#define DTR_WORKER_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CGROUP_PATH_MAX 1024

struct cgroups {
    bool on;
    char base[CGROUP_PATH_MAX]; /* the worker's own memory cgroup */
};

/* Finds whether per-task memory cgroups can be made (want: --cgroups is
 * not off); false with the reason in why otherwise. root: "" (tests: a
 * directory standing for /). */
bool cgroups_init(struct cgroups *cg, bool want, const char *root, char *why, size_t whylen);
/* Makes the cgroup of one attempt (name: unique, such as its lease) with a
 * limit of mem bytes; its directory into path. Returns 0, or -1 with err. */
int cgroup_task_make(const struct cgroups *cg, const char *name, int64_t mem, char *path,
                     size_t pathlen, char *err, size_t errlen);
/* Whether the kernel killed something in the cgroup at path for memory. */
bool cgroup_task_oom(const char *path);
/* Removes it (once its processes are gone); false when it could not. */
bool cgroup_task_remove(const char *path);
/* Moves the calling thread into the cgroup at path (its `tasks` file), so a
 * child spawned meanwhile starts inside it; cgroup_leave() moves it back to
 * base. Return 0 or an errno value. */
int cgroup_enter(const char *path);
int cgroup_leave(const struct cgroups *cg);

#endif
