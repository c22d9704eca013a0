/* SPDX-License-Identifier: MIT */
/*
 * What a worker offers (issue 13) and which of it each running attempt
 * holds: the totals it advertises in its hello, its CPU ids and GPU ids,
 * and the grants that give an attempt concrete ids (DTR_CPUS,
 * CUDA_VISIBLE_DEVICES). The master counts totals only; the worker picks
 * the ids, so they are never given to two running attempts at once (CPU
 * ids may be shared by fractional requests, each CPU never past 1000
 * milli-CPUs).
 */
#ifndef DTR_WORKER_WRES_H
#define DTR_WORKER_WRES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/resources.h"

#define WRES_MAX_GPU_ID 64 /* bytes of one GPU id (an index or a UUID) */

struct wres {
    struct request total, used;
    int ncpus;         /* ids below: ceil(total CPUs) */
    int *cpu_id;       /* the CPU numbers (the affinity mask's, or 0..N-1) */
    int64_t *cpu_used; /* milli-CPUs held, per id */
    bool pinnable;     /* cpu_id are CPUs this process may run on */
    int ngpus;
    char (*gpu_id)[WRES_MAX_GPU_ID + 1];
    bool *gpu_used;
};

/* An attempt's share: CPU ids with the milli-CPUs of each, GPU indexes. */
struct wres_grant {
    struct request req;
    int ncpu;
    int *cpu;       /* indexes into wres.cpu_id */
    int64_t *milli; /* held of each */
    int ngpu;
    int *gpu; /* indexes into wres.gpu_id */
};

/* The flags of `dtr worker` (NULL: not given). */
struct wres_flags {
    const char *cpus, *mem, *gpus;
    const char *const *named; /* NAME=N, n of them */
    size_t nnamed;
    int64_t slots; /* 0: not given */
};

/*
 * Fills r from the flags, detecting what is not given: CPUs from the
 * affinity mask and cgroup cpu.max (v2) or CFS quota (v1), whole CPUs,
 * memory available (MemAvailable, cgroup v2 memory.max, v1
 * memory.limit_in_bytes less usage), GPUs from CUDA_VISIBLE_DEVICES or
 * /dev/nvidia[0-9]*. An explicit --slots above the CPUs detected raises the
 * CPU offer to it (so `--slots N` alone still runs N one-CPU tasks). root
 * is "" normally, or a directory standing for / (tests). Returns 0, or -1
 * with a message.
 */
int wres_init(struct wres *r, const struct wres_flags *f, const char *root, char *err,
              size_t errlen);
void wres_release(struct wres *r);
bool wres_fits(const struct wres *r, const struct request *req);
/* Takes req's share (wres_fits() must hold) into g. */
void wres_take(struct wres *r, const struct request *req, struct wres_grant *g);
void wres_give_back(struct wres *r, struct wres_grant *g);
/* The environment of an attempt holding g: DTR_CPUS, CUDA_VISIBLE_DEVICES
 * (when the worker has GPUs), DTR_MEM (when set), DTR_RESOURCE_<NAME>;
 * "KEY=VALUE" strings appended to *env (n entries, grown), freed by the
 * caller. */
void wres_env(const struct wres *r, const struct wres_grant *g, char ***env, size_t *n);
/* The grant's CPU numbers, for sched_setaffinity (n of them into ids). */
int wres_cpu_list(const struct wres *r, const struct wres_grant *g, int *ids, int max);

#endif
