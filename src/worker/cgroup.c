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

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    size_t n = strlen(text);
    int e = write(fd, text, n) == (ssize_t)n ? 0 : errno;
    if (close(fd) < 0 && !e)
        e = errno;
    return e;
}

bool cgroups_init(struct cgroups *cg, bool want, const char *root, char *why, size_t whylen)
{
    char path[600], line[1024];
    memset(cg, 0, sizeof(*cg));
    if (!want) {
        snprintf(why, whylen, "--no-cgroups");
        return false;
    }
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
        snprintf(why, whylen,
                 "no cgroup v1 memory controller for this process (cgroup v2 is not used yet)");
        return false;
    }
    /* Can we make a child and set its limit? Try one. */
    char probe[CGROUP_PATH_MAX + 64];
    snprintf(probe, sizeof(probe), "%s/dtr-probe-%d", cg->base, (int)getpid());
    if (mkdir(probe, 0755) < 0) {
        snprintf(why, whylen, "cannot create a cgroup under %s: %s", cg->base, strerror(errno));
        return false;
    }
    rmdir(probe);
    cg->on = true;
    return true;
}

int cgroup_task_make(const struct cgroups *cg, const char *name, int64_t mem, char *path,
                     size_t pathlen, char *err, size_t errlen)
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
    snprintf(file, sizeof(file), "%s/memory.oom_control", path);
    FILE *f = fopen(file, "r");
    bool oom = false;
    long long n;
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

int cgroup_enter(const char *path)
{
    return move_thread(path);
}

int cgroup_leave(const struct cgroups *cg)
{
    return move_thread(cg->base);
}
