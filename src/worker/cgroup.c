/* SPDX-License-Identifier: MIT */
/* Per-task memory cgroups: see cgroup.h. */
#include "worker/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* create: the v2 files, which a fake root (tests) lacks until written;
 * on cgroupfs O_CREAT|O_TRUNC is what a shell's `echo X > file` does. */
static int write_file_how(const char *path, const char *text, bool create)
{
    int fd = create ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
                    : open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    size_t n = strlen(text);
    int e = write(fd, text, n) == (ssize_t)n ? 0 : errno;
    if (close(fd) < 0 && !e)
        e = errno;
    return e;
}

static int write_file(const char *path, const char *text)
{
    return write_file_how(path, text, false);
}

/* Whether the whitespace-separated words of file hold word. */
static bool has_word(const char *file, const char *word)
{
    char text[4096], *save = NULL;
    FILE *f = fopen(file, "r");
    if (!f)
        return false;
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    for (char *w = strtok_r(text, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save))
        if (!strcmp(w, word))
            return true;
    return false;
}

static int move_process(const char *dir)
{
    char file[CGROUP_PATH_MAX + 32], pid[32];
    snprintf(file, sizeof(file), "%s/cgroup.procs", dir);
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    return write_file_how(file, pid, true);
}

/* Enables memory (required) and cpu (where offered: in the file offered,
 * the cgroup.controllers of cg->base as seen by its children) in
 * cg->base's cgroup.subtree_control, then makes and removes a child. */
static bool enable_children(struct cgroups *cg, const char *offered, char *why, size_t whylen)
{
    char file[CGROUP_PATH_MAX + 64];
    snprintf(file, sizeof(file), "%s/cgroup.subtree_control", cg->base);
    bool mem_on = has_word(file, "memory");
    cg->cpu = has_word(file, "cpu");
    if (!mem_on || !cg->cpu) {
        bool cpu_offered = !cg->cpu && has_word(offered, "cpu");
        int e = 0;
        if (cpu_offered) {
            e = write_file_how(file, mem_on ? "+cpu" : "+memory +cpu", true);
            cg->cpu = !e;
        }
        if (!mem_on && (!cpu_offered || e))
            e = write_file_how(file, "+memory", true);
        if (!mem_on && e) {
            snprintf(why, whylen, "cannot enable the memory controller in %s: %s", file,
                     strerror(e));
            return false;
        }
    }
    /* Can we make a child? Try one. */
    char probe[CGROUP_PATH_MAX + 64];
    snprintf(probe, sizeof(probe), "%s/dtr-probe-%d", cg->base, (int)getpid());
    if (mkdir(probe, 0755) < 0) {
        snprintf(why, whylen, "cannot create a cgroup under %s: %s", cg->base, strerror(errno));
        return false;
    }
    rmdir(probe);
    return true;
}

/* As root, when the worker's own cgroup cannot hand controllers to
 * children (other processes share it, as in a login session's scope):
 * task cgroups go under a top-level cgroup /sys/fs/cgroup/dtr, and the
 * worker stays in own (its home). why already says why own failed. */
static bool v2_top_init(struct cgroups *cg, const char *root, const char *own, char *why,
                        size_t whylen)
{
    char top[CGROUP_PATH_MAX], file[CGROUP_PATH_MAX + 64], why2[CGROUP_PATH_MAX + 128] = "";
    snprintf(top, sizeof(top), "%s/sys/fs/cgroup", root);
    snprintf(file, sizeof(file), "%s/cgroup.controllers", top);
    bool offered = has_word(file, "memory");
    snprintf(file, sizeof(file), "%s/cgroup.subtree_control", top);
    int e = !offered || has_word(file, "memory") ? 0 : write_file_how(file, "+memory", true);
    if (!offered) {
        snprintf(why2, sizeof(why2), "no memory controller in %s/cgroup.controllers", top);
    } else if (e) {
        snprintf(why2, sizeof(why2), "cannot enable the memory controller in %s: %s", file,
                 strerror(e));
    } else if ((size_t)snprintf(cg->base, sizeof(cg->base), "%s/dtr", top) >= sizeof(cg->base) ||
               (mkdir(cg->base, 0755) < 0 && errno != EEXIST)) {
        snprintf(why2, sizeof(why2), "cannot create a cgroup %s/dtr: %s", top, strerror(errno));
    } else {
        snprintf(cg->home, sizeof(cg->home), "%s", own);
        /* What the top's children are offered: the root's subtree_control. */
        if (enable_children(cg, file, why2, sizeof(why2))) {
            cg->version = 2;
            cg->on = true;
            return true;
        }
    }
    size_t n = strlen(why);
    snprintf(why + n, whylen - n, "; nor under %s/dtr: %s", top, why2);
    cg->cpu = false;
    return false;
}

/* cgroup v2 (see cgroup.h): the worker's own cgroup, its leaf, the
 * controllers enabled for children. */
static bool cgroups_v2_init(struct cgroups *cg, const char *root, char *why, size_t whylen)
{
    char path[600], line[1024], file[CGROUP_PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/proc/self/cgroup", root);
    FILE *f = fopen(path, "r");
    bool found = false;
    while (f && !found && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "0::/", 4))
            continue;
        line[strcspn(line, "\n")] = '\0';
        const char *rel = line + 3;
        found = (size_t)snprintf(cg->base, sizeof(cg->base), "%s/sys/fs/cgroup%s", root,
                                 strcmp(rel, "/") ? rel : "") < sizeof(cg->base);
    }
    if (f)
        fclose(f);
    if (!found) {
        snprintf(why, whylen, "no cgroup v2 hierarchy for this process");
        return false;
    }
    bool is_root = !strcmp(cg->base + strlen(root), "/sys/fs/cgroup");
    snprintf(file, sizeof(file), "%s/cgroup.controllers", cg->base);
    if (!has_word(file, "memory")) {
        snprintf(why, whylen, "no cgroup v2 memory controller in %s", cg->base);
        if (is_root || geteuid() != 0)
            return false;
        char own[CGROUP_PATH_MAX];
        memcpy(own, cg->base, sizeof(own));
        return v2_top_init(cg, root, own, why, whylen);
    }
    /* No internal processes: a non-root cgroup that gives its children
     * controllers holds none itself, so the worker lives in a leaf. */
    bool moved = false;
    if (is_root) {
        snprintf(cg->home, sizeof(cg->home), "%s", cg->base);
    } else {
        if ((size_t)snprintf(cg->home, sizeof(cg->home), "%s/dtr-worker", cg->base) >=
            sizeof(cg->home)) {
            snprintf(why, whylen, "cgroup path too long");
            return false;
        }
        int e = mkdir(cg->home, 0755) < 0 && errno != EEXIST ? errno : move_process(cg->home);
        if (e) {
            snprintf(why, whylen, "cannot move the worker into a cgroup %s: %s", cg->home,
                     strerror(e));
            return false;
        }
        moved = true;
    }
    snprintf(file, sizeof(file), "%s/cgroup.controllers", cg->base);
    if (!enable_children(cg, file, why, whylen))
        goto undo;
    cg->version = 2;
    cg->on = true;
    return true;
undo:
    if (moved && !move_process(cg->base))
        rmdir(cg->home);
    cg->cpu = false;
    if (is_root || geteuid() != 0)
        return false;
    char own[CGROUP_PATH_MAX];
    memcpy(own, cg->base, sizeof(own));
    return v2_top_init(cg, root, own, why, whylen);
}

bool cgroups_init(struct cgroups *cg, bool want, const char *root, char *why, size_t whylen)
{
    char path[600], line[1024];
    memset(cg, 0, sizeof(*cg));
    if (!want) {
        snprintf(why, whylen, "--no-cgroups");
        return false;
    }
    char why2[CGROUP_PATH_MAX + 128];
    if (cgroups_v2_init(cg, root, why2, sizeof(why2)))
        return true;
    memset(cg, 0, sizeof(*cg));
    snprintf(path, sizeof(path), "%s/proc/self/cgroup", root);
    FILE *f = fopen(path, "r");
    bool found = false;
    while (f && fgets(line, sizeof(line), f)) {
        char *c1 = strchr(line, ':');
        if (c1 && !strncmp(c1 + 1, "memory:", 7)) {
            line[strcspn(line, "\n")] = '\0';
            found = (size_t)snprintf(cg->base, sizeof(cg->base), "%s/sys/fs/cgroup/memory%s", root,
                                     c1 + 8) < sizeof(cg->base);
            break;
        }
    }
    if (f)
        fclose(f);
    if (!found) {
        snprintf(why, whylen, "%s; no cgroup v1 memory controller for this process", why2);
        return false;
    }
    /* Can we make a child and set its limit? Try one. */
    char probe[CGROUP_PATH_MAX + 64];
    snprintf(probe, sizeof(probe), "%s/dtr-probe-%d", cg->base, (int)getpid());
    if (mkdir(probe, 0755) < 0) {
        snprintf(why, whylen, "%s; cannot create a cgroup under %s: %s", why2, cg->base,
                 strerror(errno));
        return false;
    }
    rmdir(probe);
    snprintf(cg->home, sizeof(cg->home), "%s", cg->base);
    cg->version = 1;
    cg->on = true;
    return true;
}

/* The v2 limits of a task's cgroup at path. */
static int task_limits_v2(const struct cgroups *cg, const char *path, int64_t mem,
                          int64_t cpus_milli, char *err, size_t errlen)
{
    char file[CGROUP_PATH_MAX + 128], num[64];
    struct stat st;
    if (mem > 0) {
        snprintf(num, sizeof(num), "%" PRId64, mem);
        snprintf(file, sizeof(file), "%s/memory.max", path);
        int e = write_file_how(file, num, true);
        if (e) {
            snprintf(err, errlen, "cannot set the memory limit of %s: %s", path, strerror(e));
            return -1;
        }
        /* Swap would let it run past the limit instead of being killed
         * (memory.swap.max is absent without swap accounting); one kill
         * takes the whole task, not one process of it. */
        snprintf(file, sizeof(file), "%s/memory.swap.max", path);
        if (stat(file, &st) == 0)
            write_file_how(file, "0", true);
        snprintf(file, sizeof(file), "%s/memory.oom.group", path);
        if (stat(file, &st) == 0)
            write_file_how(file, "1", true);
    }
    if (cg->cpu && cpus_milli > 0 && cpus_milli % 1000) {
        int64_t quota = cpus_milli * 100; /* µs of a 100 ms period */
        snprintf(num, sizeof(num), "%" PRId64 " 100000", quota < 1000 ? 1000 : quota);
        snprintf(file, sizeof(file), "%s/cpu.max", path);
        int e = write_file_how(file, num, true);
        if (e) {
            snprintf(err, errlen, "cannot set the CPU quota of %s: %s", path, strerror(e));
            return -1;
        }
    }
    return 0;
}

int cgroup_task_make(const struct cgroups *cg, const char *name, int64_t mem, int64_t cpus_milli,
                     char *path, size_t pathlen, char *err, size_t errlen)
{
    char file[CGROUP_PATH_MAX + 128], num[32];
    if ((size_t)snprintf(path, pathlen, "%s/dtr-%d-%s", cg->base, (int)getpid(), name) >= pathlen) {
        snprintf(err, errlen, "cgroup path too long");
        return -1;
    }
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create cgroup %s: %s", path, strerror(errno));
        return -1;
    }
    if (cg->version == 2) {
        if (task_limits_v2(cg, path, mem, cpus_milli, err, errlen)) {
            rmdir(path);
            return -1;
        }
        return 0;
    }
    snprintf(num, sizeof(num), "%" PRId64, mem);
    snprintf(file, sizeof(file), "%s/memory.limit_in_bytes", path);
    int e = write_file(file, num);
    if (!e) {
        /* Swap would let it run past the limit instead of being killed. */
        snprintf(file, sizeof(file), "%s/memory.memsw.limit_in_bytes", path);
        write_file(file, num); /* absent without swap accounting */
        snprintf(file, sizeof(file), "%s/memory.swappiness", path);
        write_file(file, "0");
    }
    if (e) {
        snprintf(err, errlen, "cannot set the memory limit of %s: %s", path, strerror(e));
        rmdir(path);
        return -1;
    }
    return 0;
}

bool cgroup_task_oom(const char *path)
{
    char file[CGROUP_PATH_MAX + 64], line[128];
    bool oom = false;
    long long n;
    /* v2: memory.events counts the kills. */
    snprintf(file, sizeof(file), "%s/memory.events", path);
    FILE *f = fopen(file, "r");
    if (f) {
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "oom_kill %lld", &n) == 1 && n > 0)
                oom = true;
        fclose(f);
        return oom;
    }
    snprintf(file, sizeof(file), "%s/memory.oom_control", path);
    f = fopen(file, "r");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "oom_kill %lld", &n) == 1 && n > 0)
            oom = true;
    if (f)
        fclose(f);
    if (!oom) {
        /* Kernels without the oom_kill counter: the limit was hit. */
        snprintf(file, sizeof(file), "%s/memory.failcnt", path);
        f = fopen(file, "r");
        if (f && fgets(line, sizeof(line), f) && sscanf(line, "%lld", &n) == 1 && n > 0)
            oom = true;
        if (f)
            fclose(f);
    }
    return oom;
}

bool cgroup_task_remove(const char *path)
{
    return rmdir(path) == 0 || errno == ENOENT;
}

static int move_thread(const char *dir)
{
    char file[CGROUP_PATH_MAX + 16], tid[32];
    snprintf(file, sizeof(file), "%s/tasks", dir);
    snprintf(tid, sizeof(tid), "%ld", (long)syscall(SYS_gettid));
    return write_file(file, tid);
}

int cgroup_enter(const struct cgroups *cg, const char *path)
{
    return cg->version == 2 ? move_process(path) : move_thread(path);
}

int cgroup_leave(const struct cgroups *cg)
{
    return cg->version == 2 ? move_process(cg->home) : move_thread(cg->home);
}
