/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for sched/place.c: matching by request, round-robin, the
 * reservation and what may backfill beside it, unschedulable requests, and
 * for worker/wres.c the CPU and GPU ids given to attempts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sched/place.h"
#include "worker/cgroup.h"
#include "worker/wres.h"

#define UNUSED __attribute__((unused))

static struct request cpus(int64_t n)
{
    struct request r = {.cpus_milli = n * 1000};
    return r;
}

static void bin(struct place_bin *b, int64_t ncpus, int64_t gpus, int room)
{
    memset(b, 0, sizeof(*b));
    b->total = cpus(ncpus);
    b->total.gpus = gpus;
    b->room = room;
    b->open = true;
}

static void test_match(void **state UNUSED)
{
    struct place_bin bins[2];
    bin(&bins[0], 4, 0, 10);
    bin(&bins[1], 2, 2, 10);
    struct placer p;
    place_init(&p, bins, 2);
    struct request g = cpus(1);
    g.gpus = 1;
    size_t i;
    assert_int_equal(place_one(&p, &g, &i), PLACE_OK);
    assert_int_equal(i, 1); /* only bin 1 has GPUs */
    assert_int_equal(place_one(&p, &g, &i), PLACE_OK);
    assert_int_equal(i, 1);
    /* Bin 1 is full now (2 cpus, 2 gpus): a third GPU task waits. */
    assert_int_equal(place_one(&p, &g, &i), PLACE_WAIT);
    /* One CPU tasks go to bin 0 (4 of them), then wait. */
    struct request one = cpus(1);
    for (int k = 0; k < 4; k++) {
        assert_int_equal(place_one(&p, &one, &i), PLACE_OK);
        assert_int_equal(i, 0);
    }
    assert_int_equal(place_one(&p, &one, &i), PLACE_WAIT);
    /* Never: more than any bin has. */
    struct request g4 = cpus(1);
    g4.gpus = 4;
    assert_int_equal(place_one(&p, &g4, &i), PLACE_NEVER);
    struct request lic = cpus(1);
    assert_int_equal(res_set_named(&lic, "license", 1, "t", NULL, 0), 0);
    assert_int_equal(place_one(&p, &lic, &i), PLACE_NEVER);
}

static void test_round_robin_and_room(void **state UNUSED)
{
    struct place_bin bins[3];
    for (int k = 0; k < 3; k++)
        bin(&bins[k], 8, 0, 2);
    struct placer p;
    place_init(&p, bins, 3);
    struct request one = cpus(1);
    size_t i, seen[3] = {0};
    for (int k = 0; k < 6; k++) {
        assert_int_equal(place_one(&p, &one, &i), PLACE_OK);
        assert_int_equal(i, (size_t)(k % 3)); /* dealt in turn */
        seen[i]++;
    }
    assert_false(place_any_room(&p)); /* slots (room) cap them: 2 each */
    assert_int_equal(place_one(&p, &one, &i), PLACE_WAIT);
}

static void test_reservation_backfill(void **state UNUSED)
{
    /* One 4-CPU bin with 3 CPUs in use and a 1-CPU bin. */
    struct place_bin bins[2];
    bin(&bins[0], 4, 0, 10);
    bins[0].used = cpus(3);
    bins[0].load = 3;
    bin(&bins[1], 1, 0, 10);
    struct placer p;
    place_init(&p, bins, 2);
    struct request big = cpus(4), one = cpus(1);
    size_t i;
    assert_int_equal(place_one(&p, &big, &i), PLACE_WAIT);
    assert_int_equal(place_reserve(&p, &big, -1), 0);
    /* The free CPU of bin 0 is held for the big task: small ones go to
     * bin 1 only, then wait. */
    assert_int_equal(place_one(&p, &one, &i), PLACE_OK);
    assert_int_equal(i, 1);
    assert_int_equal(place_one(&p, &one, &i), PLACE_WAIT);
    /* One reservation per pass. */
    assert_int_equal(place_reserve(&p, &one, -1), -1);

    /* A GPU-less reservation does not stop GPU-only work beside it: with
     * cpus held, a task that needs none of what is short still fits. */
    bin(&bins[0], 4, 2, 10);
    bins[0].used = cpus(3);
    place_init(&p, bins, 1);
    assert_int_equal(place_one(&p, &big, &i), PLACE_WAIT);
    assert_int_equal(place_reserve(&p, &big, 0), 0);
    struct request gpu_only = {.cpus_milli = 0, .gpus = 1};
    assert_int_equal(place_one(&p, &gpu_only, &i), PLACE_OK);

    /* Next pass: the tasks on bin 0 ended; the big one goes first. */
    bin(&bins[0], 4, 0, 10);
    place_init(&p, bins, 1);
    assert_int_equal(place_one(&p, &big, &i), PLACE_OK);
    assert_int_equal(place_one(&p, &one, &i), PLACE_WAIT);
}

static void test_reserve_prefers_previous(void **state UNUSED)
{
    struct place_bin bins[3];
    bin(&bins[0], 4, 0, 10);
    bins[0].used = cpus(2);
    bins[0].load = 2;
    bin(&bins[1], 4, 0, 10);
    bins[1].used = cpus(3);
    bins[1].load = 1;
    bin(&bins[2], 2, 0, 10);
    struct placer p;
    place_init(&p, bins, 3);
    struct request big = cpus(4);
    size_t i;
    assert_int_equal(place_one(&p, &big, &i), PLACE_WAIT);
    /* Least loaded whose totals fit: bin 1 (bin 2 is too small). */
    assert_int_equal(place_reserve(&p, &big, -1), 1);
    place_init(&p, bins, 3);
    assert_int_equal(place_one(&p, &big, &i), PLACE_WAIT);
    /* It keeps the worker it had, so it is not passed around. */
    assert_int_equal(place_reserve(&p, &big, 0), 0);
}

static void test_loose(void **state UNUSED)
{
    /* --prefetch: leases past what is free, up to the room; totals only. */
    struct place_bin bins[1];
    bin(&bins[0], 2, 0, 5);
    bins[0].loose = true;
    struct placer p;
    place_init(&p, bins, 1);
    struct request one = cpus(1), three = cpus(3);
    size_t i;
    for (int k = 0; k < 5; k++)
        assert_int_equal(place_one(&p, &one, &i), PLACE_OK);
    assert_false(place_any_room(&p));
    assert_int_equal(place_one(&p, &three, &i), PLACE_NEVER);
}

static void test_loose_room(void **state UNUSED)
{
    /* Adaptive prefetch: what fits in what is free first, then up to
     * loose_room more past it (totals only), never on the reserved bin. */
    struct place_bin bins[2];
    bin(&bins[0], 2, 0, 4);
    bins[0].loose_room = 2;
    bin(&bins[1], 4, 0, 6);
    struct placer p;
    place_init(&p, bins, 2);
    struct request one = cpus(1), four = cpus(4);
    size_t i;
    /* bin 1 is busy: 4 of its 4 CPUs are in use */
    bins[1].used = cpus(4);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(place_one(&p, &one, &i), PLACE_OK);
        assert_int_equal(i, 0); /* fits in what is free on bin 0 */
    }
    assert_int_equal(bins[0].loose_room, 2); /* not spent on what fit */
    /* A 4-CPU task fits only bin 1's totals, nothing now (and bin 1 has no
     * prefetch, else it would wait there): it reserves bin 1. */
    assert_int_equal(place_one(&p, &four, &i), PLACE_WAIT);
    assert_int_equal(place_reserve(&p, &four, -1), 1);
    bins[1].loose_room = 2; /* still never past what is free there */
    /* Past what is free: bin 0's loose room only, the reserved bin never. */
    for (int k = 0; k < 2; k++) {
        assert_int_equal(place_one(&p, &one, &i), PLACE_OK);
        assert_int_equal(i, 0);
    }
    assert_int_equal(bins[0].loose_room, 0);
    assert_int_equal(place_one(&p, &one, &i), PLACE_WAIT);
    assert_int_equal(bins[1].room, 6);
}

static void test_gpu_ids(void **state UNUSED)
{
    struct wres r;
    char err[256];
    struct wres_flags f = {.cpus = "4", .mem = "1G", .gpus = "0,1,2"};
    assert_int_equal(wres_init(&r, &f, "/nonexistent", err, sizeof(err)), 0);
    assert_int_equal(r.total.gpus, 3);
    struct request two = cpus(2), one = cpus(1);
    two.gpus = 2;
    one.gpus = 1;
    struct wres_grant a, b;
    assert_true(wres_fits(&r, &two));
    wres_take(&r, &two, &a);
    assert_int_equal(a.ngpu, 2);
    assert_true(wres_fits(&r, &one));
    wres_take(&r, &one, &b);
    assert_int_equal(b.ngpu, 1);
    /* No GPU id twice, no CPU id twice among whole-CPU grants. */
    assert_true(a.gpu[0] != b.gpu[0] && a.gpu[1] != b.gpu[0]);
    for (int x = 0; x < a.ncpu; x++)
        for (int y = 0; y < b.ncpu; y++)
            assert_int_not_equal(a.cpu[x], b.cpu[y]);
    assert_false(wres_fits(&r, &one)); /* no GPU left */
    char **env = NULL;
    size_t n = 0;
    wres_env(&r, &b, &env, &n);
    assert_int_equal(n, 2);
    assert_string_equal(env[0], "DTR_CPUS=2");
    assert_string_equal(env[1], "CUDA_VISIBLE_DEVICES=2");
    for (size_t k = 0; k < n; k++)
        free(env[k]);
    free(env);
    wres_give_back(&r, &a);
    assert_true(wres_fits(&r, &one));
    wres_take(&r, &one, &a);
    assert_int_equal(a.gpu[0], 0); /* freed ids are given again */
    wres_give_back(&r, &a);
    wres_give_back(&r, &b);
    assert_int_equal(r.used.cpus_milli, 0);
    wres_release(&r);
}

static void test_cpu_fractions(void **state UNUSED)
{
    struct wres r;
    char err[256];
    struct wres_flags f = {.cpus = "2", .mem = "0", .gpus = "0"};
    assert_int_equal(wres_init(&r, &f, "/nonexistent", err, sizeof(err)), 0);
    struct request half = {.cpus_milli = 500}, one = cpus(1);
    struct wres_grant a, b, c;
    wres_take(&r, &half, &a);
    wres_take(&r, &one, &b);
    /* The whole CPU is one the half does not share. */
    assert_int_equal(b.ncpu, 1);
    assert_int_not_equal(a.cpu[0], b.cpu[0]);
    wres_take(&r, &half, &c);
    assert_int_equal(c.cpu[0], a.cpu[0]); /* the halves share one */
    assert_false(wres_fits(&r, &half));
    wres_give_back(&r, &a);
    wres_give_back(&r, &b);
    wres_give_back(&r, &c);
    wres_release(&r);
    /* Bad offers. */
    struct wres_flags bad = {.cpus = "0"};
    assert_int_equal(wres_init(&r, &bad, "/nonexistent", err, sizeof(err)), -1);
    wres_release(&r);
    struct wres_flags bad2 = {.cpus = "1", .gpus = "a b"};
    assert_int_equal(wres_init(&r, &bad2, "/nonexistent", err, sizeof(err)), -1);
    wres_release(&r);
}

static void put(const char *root, const char *rel, const char *text)
{
    char path[1024], cmd[sizeof(path) + 64];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Detection under a fake root: cgroup v2 cpu.max and memory.max (the
 * least over the cgroup and its parent), then v1 quotas; GPUs from
 * /dev/nvidiaN. */
static void test_detect(void **state UNUSED)
{
    char root[] = "/tmp/dtr-test-wres.XXXXXX", err[256], cmd[600];
    assert_non_null(mkdtemp(root));
    put(root, "proc/meminfo", "MemTotal: 8000000 kB\nMemAvailable: 4194304 kB\n");
    put(root, "proc/self/cgroup", "0::/a/b\n");
    put(root, "sys/fs/cgroup/a/cpu.max", "max 100000\n");
    put(root, "sys/fs/cgroup/a/b/cpu.max", "100000 100000\n");
    put(root, "sys/fs/cgroup/a/memory.max", "1073741824\n");
    put(root, "sys/fs/cgroup/a/b/memory.max", "max\n");
    put(root, "dev/nvidia1", "");
    put(root, "dev/nvidia0", "");
    put(root, "dev/nvidiactl", "");
    struct wres r;
    struct wres_flags f = {0};
    unsetenv("CUDA_VISIBLE_DEVICES");
    assert_int_equal(wres_init(&r, &f, root, err, sizeof(err)), 0);
    assert_int_equal(r.total.cpus_milli, 1000); /* cpu.max: 1 CPU */
    assert_int_equal(r.total.mem, 1LL << 30);   /* the parent's memory.max */
    assert_int_equal(r.total.gpus, 2);
    assert_string_equal(r.gpu_id[0], "0");
    wres_release(&r);
    /* An explicit --slots above the CPUs found raises the offer. */
    f.slots = 3;
    assert_int_equal(wres_init(&r, &f, root, err, sizeof(err)), 0);
    assert_int_equal(r.total.cpus_milli, 3000);
    wres_release(&r);
    f.slots = 0;
    /* CUDA_VISIBLE_DEVICES wins over the device files. */
    setenv("CUDA_VISIBLE_DEVICES", "GPU-aaaa,GPU-bbbb,GPU-cccc", 1);
    assert_int_equal(wres_init(&r, &f, root, err, sizeof(err)), 0);
    assert_int_equal(r.total.gpus, 3);
    assert_string_equal(r.gpu_id[2], "GPU-cccc");
    wres_release(&r);
    unsetenv("CUDA_VISIBLE_DEVICES");
    /* cgroup v1 (a hybrid host): quota 0.5 CPU (one whole, at least) and a
     * memory limit less what is used. */
    put(root, "proc/self/cgroup", "4:memory:/job\n1:cpu:/job\n0::/\n");
    put(root, "sys/fs/cgroup/memory/job/memory.limit_in_bytes", "536870912\n");
    put(root, "sys/fs/cgroup/memory/job/memory.usage_in_bytes", "1048576\n");
    put(root, "sys/fs/cgroup/cpu/job/cpu.cfs_quota_us", "50000\n");
    put(root, "sys/fs/cgroup/cpu/job/cpu.cfs_period_us", "100000\n");
    assert_int_equal(wres_init(&r, &f, root, err, sizeof(err)), 0);
    assert_int_equal(r.total.cpus_milli, 1000);
    assert_int_equal(r.total.mem, (512LL << 20) - (1 << 20));
    wres_release(&r);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

/* The cgroup paths under a fake root: off by flag, off without a memory
 * controller, on where a child can be made; the OOM verdict. */
static void test_cgroups(void **state UNUSED)
{
    char root[] = "/tmp/dtr-test-cg.XXXXXX", why[512], cmd[600], dir[600];
    assert_non_null(mkdtemp(root));
    struct cgroups cg;
    assert_false(cgroups_init(&cg, false, root, why, sizeof(why)));
    assert_string_equal(why, "--no-cgroups");
    put(root, "proc/self/cgroup", "0::/\n");
    assert_false(cgroups_init(&cg, true, root, why, sizeof(why)));
    assert_non_null(strstr(why, "no cgroup v1 memory controller"));
    put(root, "proc/self/cgroup", "4:memory:/job\n0::/\n");
    assert_false(cgroups_init(&cg, true, root, why, sizeof(why))); /* no such dir */
    assert_non_null(strstr(why, "cannot create a cgroup"));
    put(root, "sys/fs/cgroup/memory/job/tasks", "");
    assert_true(cgroups_init(&cg, true, root, why, sizeof(why)));
    snprintf(dir, sizeof(dir), "%s/sys/fs/cgroup/memory/job", root);
    assert_string_equal(cg.base, dir);
    /* A task's cgroup: the OOM counter, then failcnt. */
    put(root, "sys/fs/cgroup/memory/job/t1/memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
    snprintf(dir, sizeof(dir), "%s/sys/fs/cgroup/memory/job/t1", root);
    assert_false(cgroup_task_oom(dir));
    put(root, "sys/fs/cgroup/memory/job/t1/memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
    assert_true(cgroup_task_oom(dir));
    put(root, "sys/fs/cgroup/memory/job/t1/memory.oom_control", "oom_kill_disable 0\n");
    put(root, "sys/fs/cgroup/memory/job/t1/memory.failcnt", "3\n");
    assert_true(cgroup_task_oom(dir));
    assert_false(cgroup_task_remove(dir)); /* not empty (a plain directory here) */
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

static void assert_file(const char *root, const char *rel, const char *text)
{
    char path[700], got[256] = "";
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(got, 1, sizeof(got) - 1, f);
    got[n] = '\0';
    fclose(f);
    assert_string_equal(got, text);
}

static bool exists(const char *root, const char *rel)
{
    char path[700];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    return stat(path, &st) == 0;
}

/* cgroup v2 under a fake root: preferred over v1; the worker moves into a
 * leaf and enables memory and cpu for its children; a task's cgroup gets
 * memory.max, memory.swap.max 0 and memory.oom.group 1 where present and
 * cpu.max when its CPUs are fractional; the spawn moves the process there
 * and back; memory.events tells an OOM kill. */
static void test_cgroups_v2(void **state UNUSED)
{
    char root[] = "/tmp/dtr-test-cg2.XXXXXX", why[1024], cmd[600], dir[600], pid[32];
    char path[CGROUP_PATH_MAX + 64], err[256], name[64];
    assert_non_null(mkdtemp(root));
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    struct cgroups cg;
    /* v2 without a memory controller for us, v1 usable: v1, saying why. */
    put(root, "proc/self/cgroup", "4:memory:/job\n0::/svc\n");
    put(root, "sys/fs/cgroup/svc/cgroup.controllers", "cpu io pids\n");
    put(root, "sys/fs/cgroup/memory/job/tasks", "");
    assert_true(cgroups_init(&cg, true, root, why, sizeof(why)));
    assert_int_equal(cg.version, 1);
    assert_false(cg.cpu);
    assert_false(exists(root, "sys/fs/cgroup/svc/dtr-worker"));
    /* Neither: both reasons. */
    put(root, "proc/self/cgroup", "0::/svc\n");
    assert_false(cgroups_init(&cg, true, root, why, sizeof(why)));
    assert_non_null(strstr(why, "no cgroup v2 memory controller in"));
    assert_non_null(strstr(why, "no cgroup v1 memory controller"));
    /* Both usable: v2 wins. */
    put(root, "proc/self/cgroup", "4:memory:/job\n0::/svc\n");
    put(root, "sys/fs/cgroup/svc/cgroup.controllers", "cpu io memory pids\n");
    put(root, "sys/fs/cgroup/svc/cgroup.subtree_control", "");
    assert_true(cgroups_init(&cg, true, root, why, sizeof(why)));
    assert_int_equal(cg.version, 2);
    assert_true(cg.cpu);
    snprintf(dir, sizeof(dir), "%s/sys/fs/cgroup/svc", root);
    assert_string_equal(cg.base, dir);
    snprintf(dir, sizeof(dir), "%s/sys/fs/cgroup/svc/dtr-worker", root);
    assert_string_equal(cg.home, dir);
    assert_file(root, "sys/fs/cgroup/svc/dtr-worker/cgroup.procs", pid);
    assert_file(root, "sys/fs/cgroup/svc/cgroup.subtree_control", "+memory +cpu");
    /* A task with 2G and 0.5 CPU; swap accounting and oom.group present. */
    snprintf(name, sizeof(name), "dtr-%d-L1", (int)getpid());
    snprintf(cmd, sizeof(cmd), "sys/fs/cgroup/svc/%s/memory.swap.max", name);
    put(root, cmd, "max\n");
    snprintf(cmd, sizeof(cmd), "sys/fs/cgroup/svc/%s/memory.oom.group", name);
    put(root, cmd, "0\n");
    assert_int_equal(
        cgroup_task_make(&cg, "L1", 2LL << 30, 500, path, sizeof(path), err, sizeof(err)), 0);
    snprintf(cmd, sizeof(cmd), "%s/sys/fs/cgroup/svc/%s", root, name);
    assert_string_equal(path, cmd);
    snprintf(cmd, sizeof(cmd), "sys/fs/cgroup/svc/%s/memory.max", name);
    assert_file(root, cmd, "2147483648");
    snprintf(cmd, sizeof(cmd), "sys/fs/cgroup/svc/%s/memory.swap.max", name);
    assert_file(root, cmd, "0");
    snprintf(cmd, sizeof(cmd), "sys/fs/cgroup/svc/%s/memory.oom.group", name);
    assert_file(root, cmd, "1");
    snprintf(cmd, sizeof(cmd), "sys/fs/cgroup/svc/%s/cpu.max", name);
    assert_file(root, cmd, "50000 100000");
    /* The spawn: in and back out, the whole process. */
    snprintf(cmd, sizeof(cmd), "sys/fs/cgroup/svc/%s/cgroup.procs", name);
    assert_int_equal(cgroup_enter(&cg, path), 0);
    assert_file(root, cmd, pid);
    put(root, "sys/fs/cgroup/svc/dtr-worker/cgroup.procs", "");
    assert_int_equal(cgroup_leave(&cg), 0);
    assert_file(root, "sys/fs/cgroup/svc/dtr-worker/cgroup.procs", pid);
    /* OOM: memory.events oom_kill, not oom alone (a reclaim that worked). */
    snprintf(cmd, sizeof(cmd), "sys/fs/cgroup/svc/%s/memory.events", name);
    put(root, cmd, "low 0\nhigh 0\nmax 12\noom 1\noom_kill 0\noom_group_kill 0\n");
    assert_false(cgroup_task_oom(path));
    put(root, cmd, "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 1\n");
    assert_true(cgroup_task_oom(path));
    /* Whole CPUs, no swap accounting: memory.max only. */
    assert_int_equal(
        cgroup_task_make(&cg, "L2", 64LL << 20, 2000, path, sizeof(path), err, sizeof(err)), 0);
    snprintf(name, sizeof(name), "dtr-%d-L2", (int)getpid());
    snprintf(cmd, sizeof(cmd), "sys/fs/cgroup/svc/%s/memory.max", name);
    assert_file(root, cmd, "67108864");
    snprintf(cmd, sizeof(cmd), "sys/fs/cgroup/svc/%s/memory.swap.max", name);
    assert_false(exists(root, cmd));
    snprintf(cmd, sizeof(cmd), "sys/fs/cgroup/svc/%s/cpu.max", name);
    assert_false(exists(root, cmd));
    /* A tiny fraction: the kernel's least quota (1 ms). */
    assert_int_equal(cgroup_task_make(&cg, "L3", 0, 5, path, sizeof(path), err, sizeof(err)), 0);
    snprintf(name, sizeof(name), "dtr-%d-L3", (int)getpid());
    snprintf(cmd, sizeof(cmd), "sys/fs/cgroup/svc/%s/memory.max", name);
    assert_false(exists(root, cmd));
    snprintf(cmd, sizeof(cmd), "sys/fs/cgroup/svc/%s/cpu.max", name);
    assert_file(root, cmd, "1000 100000");
    /* Already enabled (say by systemd), no cpu offered: nothing written. */
    put(root, "sys/fs/cgroup/svc/cgroup.controllers", "memory pids\n");
    put(root, "sys/fs/cgroup/svc/cgroup.subtree_control", "memory pids\n");
    assert_true(cgroups_init(&cg, true, root, why, sizeof(why)));
    assert_int_equal(cg.version, 2);
    assert_false(cg.cpu);
    assert_file(root, "sys/fs/cgroup/svc/cgroup.subtree_control", "memory pids\n");
    /* The controller cannot be enabled (here: not a file): the worker
     * goes back where it was and says why. */
    put(root, "proc/self/cgroup", "0::/svc2\n");
    put(root, "sys/fs/cgroup/svc2/cgroup.controllers", "memory\n");
    put(root, "sys/fs/cgroup/svc2/cgroup.subtree_control/x", "");
    assert_false(cgroups_init(&cg, true, root, why, sizeof(why)));
    assert_non_null(strstr(why, "cannot enable the memory controller in"));
    if (geteuid() == 0) /* and no top-level cgroup (no memory at the root) */
        assert_non_null(strstr(why, "; nor under"));
    assert_file(root, "sys/fs/cgroup/svc2/cgroup.procs", pid);
    /* The root cgroup holds processes and children alike: no leaf. */
    put(root, "proc/self/cgroup", "0::/\n");
    put(root, "sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
    put(root, "sys/fs/cgroup/cgroup.subtree_control", "cpu memory\n");
    assert_true(cgroups_init(&cg, true, root, why, sizeof(why)));
    snprintf(dir, sizeof(dir), "%s/sys/fs/cgroup", root);
    assert_string_equal(cg.base, dir);
    assert_string_equal(cg.home, dir);
    assert_true(cg.cpu);
    assert_false(exists(root, "sys/fs/cgroup/dtr-worker"));
    /* As root, where its own cgroup cannot hand controllers down (svc2
     * again): task cgroups under the top-level /sys/fs/cgroup/dtr, the
     * worker staying where it is. */
    if (geteuid() == 0) {
        put(root, "proc/self/cgroup", "0::/svc2\n");
        assert_true(cgroups_init(&cg, true, root, why, sizeof(why)));
        assert_int_equal(cg.version, 2);
        snprintf(dir, sizeof(dir), "%s/sys/fs/cgroup/dtr", root);
        assert_string_equal(cg.base, dir);
        snprintf(dir, sizeof(dir), "%s/sys/fs/cgroup/svc2", root);
        assert_string_equal(cg.home, dir);
        assert_true(cg.cpu);
        assert_file(root, "sys/fs/cgroup/dtr/cgroup.subtree_control", "+memory +cpu");
        put(root, "sys/fs/cgroup/svc2/cgroup.procs", "");
        assert_int_equal(cgroup_leave(&cg), 0);
        assert_file(root, "sys/fs/cgroup/svc2/cgroup.procs", pid);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_round_robin_and_room),
        cmocka_unit_test(test_reservation_backfill),
        cmocka_unit_test(test_reserve_prefers_previous),
        cmocka_unit_test(test_loose),
        cmocka_unit_test(test_loose_room),
        cmocka_unit_test(test_gpu_ids),
        cmocka_unit_test(test_cpu_fractions),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_cgroups),
        cmocka_unit_test(test_cgroups_v2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
