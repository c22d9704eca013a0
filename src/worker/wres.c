/* SPDX-License-Identifier: MIT */
/*
 * A worker's resources: detection, the offer, and per-attempt grants of
 * CPU and GPU ids. See wres.h.
 *
 * Detection reads the affinity mask (sched_getaffinity: exactly the CPUs
 * this process may run on, including a taskset or a cpuset) and the
 * cgroup v2 files directly. hwloc was considered (issue 13): for these two
 * questions it returns the same affinity mask (hwloc_get_cpubind) and it
 * does not read cpu.max or memory.max, so it would add a dependency and
 * its topology discovery at every start for no information we use.
 * Measured on the 2-CPU test VM (libhwloc 2.9, Debian): hwloc_topology_load
 * plus hwloc_get_cpubind took 7 to 700 ms a start (3 runs) and returned
 * the set sched_getaffinity() returns in 2 us ("0-1").
 */
#include "worker/wres.h"

#include <ctype.h>
#include <dirent.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"

static bool read_line(const char *path, char *out, size_t outlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fgets(out, (int)outlen, f) != NULL;
    fclose(f);
    if (ok)
        out[strcspn(out, "\n")] = '\0';
    return ok;
}

/* The directory of this process's cgroup under root: cgroup v2 (v1 NULL),
 * or the v1 hierarchy of controller v1 (mounted at /sys/fs/cgroup/V1, as
 * on hosts that still mount v1); false when there is none. */
static bool cgroup_dir_of(const char *root, const char *v1, char *out, size_t outlen)
{
    char path[512], line[1024], want[64];
    snprintf(path, sizeof(path), "%s/proc/self/cgroup", root);
    snprintf(want, sizeof(want), "%s:", v1 ? v1 : "");
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool found = false;
    while (fgets(line, sizeof(line), f)) {
        /* "0::/path" (v2), "4:memory:/path" (v1) */
        char *c1 = strchr(line, ':');
        if (!c1 || strncmp(c1 + 1, want, strlen(want)) || (!v1 && strncmp(line, "0::", 3)))
            continue;
        line[strcspn(line, "\n")] = '\0';
        const char *cg = c1 + 1 + strlen(want);
        found = (size_t)snprintf(out, outlen, "%s/sys/fs/cgroup%s%s%s", root, v1 ? "/" : "",
                                 v1 ? v1 : "", cg) < outlen;
        break;
    }
    fclose(f);
    return found;
}

static bool cgroup_dir(const char *root, char *out, size_t outlen)
{
    return cgroup_dir_of(root, NULL, out, outlen);
}

/* The least of a v1 limit (ratio of two files, or a file less another)
 * over the cgroup and its ancestors, with v1 the controller's directory
 * name; -1 for none. quota/period: cpu.cfs_quota_us, cpu.cfs_period_us;
 * limit-usage: memory.limit_in_bytes, memory.usage_in_bytes. */
static int64_t cgroup_v1_least(const char *root, const char *v1, const char *a, const char *b,
                               bool ratio)
{
    char dir[1100], path[1200], line[128];
    int64_t best = -1;
    if (!cgroup_dir_of(root, v1, dir, sizeof(dir)))
        return -1;
    size_t stop = strlen(root) + strlen("/sys/fs/cgroup/") + strlen(v1);
    for (;;) {
        long long x, y = 0;
        snprintf(path, sizeof(path), "%s/%s", dir, a);
        if (read_line(path, line, sizeof(line)) && sscanf(line, "%lld", &x) == 1 && x > 0 &&
            x < (1LL << 60)) {
            snprintf(path, sizeof(path), "%s/%s", dir, b);
            if (read_line(path, line, sizeof(line)))
                sscanf(line, "%lld", &y);
            int64_t v = ratio ? (y > 0 ? (int64_t)(x * 1000 / y) : -1) : (x > y ? x - y : 0);
            if (v >= 0 && (best < 0 || v < best))
                best = v;
        }
        char *slash = strrchr(dir, '/');
        if (!slash || (size_t)(slash - dir) < stop)
            break;
        *slash = '\0';
    }
    return best;
}

/* The CPUs cgroup v2 cpu.max allows this process (milli), the least over
 * its cgroup and the ancestors, or -1 for no limit. */
static int64_t cgroup_cpu_milli(const char *root)
{
    char dir[1100], path[1200], line[128];
    int64_t best = -1;
    if (!cgroup_dir(root, dir, sizeof(dir)))
        return -1;
    size_t stop = strlen(root) + strlen("/sys/fs/cgroup");
    for (;;) {
        snprintf(path, sizeof(path), "%s/cpu.max", dir);
        long long quota, period;
        if (read_line(path, line, sizeof(line)) &&
            sscanf(line, "%lld %lld", &quota, &period) == 2 && quota > 0 && period > 0) {
            int64_t m = (int64_t)(quota * 1000 / period);
            if (best < 0 || m < best)
                best = m;
        }
        char *slash = strrchr(dir, '/');
        if (!slash || (size_t)(slash - dir) < stop)
            break;
        *slash = '\0';
    }
    return best;
}

/* Memory available to this process: MemAvailable, less when a cgroup v2
 * memory.max (of its cgroup or an ancestor) leaves less. */
static int64_t detect_mem(const char *root)
{
    char path[1200], line[256], dir[1100];
    int64_t avail = 0;
    snprintf(path, sizeof(path), "%s/proc/meminfo", root);
    FILE *f = fopen(path, "r");
    if (f) {
        long long kb;
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
                avail = (int64_t)kb * 1024;
        fclose(f);
    }
    int64_t v1 =
        cgroup_v1_least(root, "memory", "memory.limit_in_bytes", "memory.usage_in_bytes", false);
    if (v1 >= 0 && (v1 < avail || !avail))
        avail = v1;
    if (!cgroup_dir(root, dir, sizeof(dir)))
        return avail > RES_MAX_MEM ? RES_MAX_MEM : avail;
    size_t stop = strlen(root) + strlen("/sys/fs/cgroup");
    for (;;) {
        char cur[128];
        long long max, used = 0;
        snprintf(path, sizeof(path), "%s/memory.max", dir);
        if (read_line(path, line, sizeof(line)) && sscanf(line, "%lld", &max) == 1) {
            snprintf(path, sizeof(path), "%s/memory.current", dir);
            if (read_line(path, cur, sizeof(cur)))
                sscanf(cur, "%lld", &used);
            int64_t left = max > used ? (int64_t)(max - used) : 0;
            if (left < avail || !avail)
                avail = left;
        }
        char *slash = strrchr(dir, '/');
        if (!slash || (size_t)(slash - dir) < stop)
            break;
        *slash = '\0';
    }
    return avail > RES_MAX_MEM ? RES_MAX_MEM : avail;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void add_gpu(struct wres *r, const char *id, size_t len)
{
    if (len == 0 || len > WRES_MAX_GPU_ID || r->ngpus >= RES_MAX_GPUS)
        return;
    r->gpu_id = xrealloc(r->gpu_id, (size_t)(r->ngpus + 1) * sizeof(*r->gpu_id));
    memcpy(r->gpu_id[r->ngpus], id, len);
    r->gpu_id[r->ngpus][len] = '\0';
    r->ngpus++;
}

/* GPU ids from a comma list ("0,1", CUDA_VISIBLE_DEVICES). */
static int gpus_from_list(struct wres *r, const char *s, bool strict, char *err, size_t errlen)
{
    while (*s) {
        size_t len = strcspn(s, ",");
        bool ok = len > 0 && len <= WRES_MAX_GPU_ID;
        for (size_t i = 0; ok && i < len; i++)
            ok = isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_';
        if (!ok && strict) {
            snprintf(err, errlen,
                     "--gpus must be a count or a comma list of GPU ids (0,1), not '%.48s'", s);
            return -1;
        }
        for (int k = 0; ok && k < r->ngpus; k++)
            if (strlen(r->gpu_id[k]) == len && !memcmp(r->gpu_id[k], s, len)) {
                snprintf(err, errlen, "--gpus names GPU '%.*s' twice", (int)len, s);
                return -1;
            }
        if (ok)
            add_gpu(r, s, len);
        s += len;
        if (*s == ',')
            s++;
    }
    return 0;
}

static void detect_gpus(struct wres *r, const char *root)
{
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    char dummy[8];
    if (cvd && *cvd) {
        gpus_from_list(r, cvd, false, dummy, sizeof(dummy));
        return;
    }
    char path[600];
    snprintf(path, sizeof(path), "%s/dev", root);
    DIR *d = opendir(path);
    if (!d)
        return;
    int ids[RES_MAX_GPUS], n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < RES_MAX_GPUS) {
        const char *p = e->d_name;
        if (strncmp(p, "nvidia", 6) || !p[6] || strspn(p + 6, "0123456789") != strlen(p + 6) ||
            strlen(p + 6) > 4)
            continue;
        ids[n++] = atoi(p + 6);
    }
    closedir(d);
    qsort(ids, (size_t)n, sizeof(int), cmp_int);
    for (int i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof(id), "%d", ids[i]);
        add_gpu(r, id, strlen(id));
    }
}

int wres_init(struct wres *r, const struct wres_flags *f, const char *root, char *err,
              size_t errlen)
{
    memset(r, 0, sizeof(*r));
    cpu_set_t set;
    int aff[CPU_SETSIZE], naff = 0;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        for (int i = 0; i < CPU_SETSIZE; i++)
            if (CPU_ISSET(i, &set))
                aff[naff++] = i;
    if (naff == 0)
        aff[naff++] = 0;
    if (f->cpus) {
        if (res_parse_cpus(f->cpus, "--cpus", &r->total.cpus_milli, err, errlen))
            return -1;
    } else {
        int64_t m = (int64_t)naff * 1000, cg = cgroup_cpu_milli(root);
        int64_t v1 = cgroup_v1_least(root, "cpu", "cpu.cfs_quota_us", "cpu.cfs_period_us", true);
        if (v1 > 0 && (cg < 0 || v1 < cg))
            cg = v1;
        if (cg > 0 && cg < m)
            m = cg < 1000 ? 1000 : cg / 1000 * 1000;
        if (f->slots * 1000 > m)
            m = f->slots * 1000;
        r->total.cpus_milli = m;
    }
    r->ncpus = (int)((r->total.cpus_milli + 999) / 1000);
    r->cpu_id = xcalloc((size_t)r->ncpus, sizeof(int));
    r->cpu_used = xcalloc((size_t)r->ncpus, sizeof(int64_t));
    r->pinnable = r->ncpus <= naff;
    for (int i = 0; i < r->ncpus; i++)
        r->cpu_id[i] = r->pinnable ? aff[i] : i;
    if (f->mem) {
        if (res_parse_size(f->mem, "--mem", &r->total.mem, err, errlen))
            return -1;
    } else {
        r->total.mem = detect_mem(root);
    }
    if (f->gpus) {
        if (strchr(f->gpus, ',')) {
            if (gpus_from_list(r, f->gpus, true, err, errlen))
                return -1;
        } else {
            int64_t n;
            if (res_parse_count(f->gpus, "--gpus", RES_MAX_GPUS, &n, err, errlen))
                return -1;
            for (int64_t i = 0; i < n; i++) {
                char id[24];
                snprintf(id, sizeof(id), "%" PRId64, i);
                add_gpu(r, id, strlen(id));
            }
        }
    } else {
        detect_gpus(r, root);
    }
    r->total.gpus = r->ngpus;
    r->gpu_used = xcalloc((size_t)r->ngpus + 1, sizeof(bool));
    for (size_t i = 0; i < f->nnamed; i++)
        if (res_parse_named(f->named[i], &r->total, err, errlen))
            return -1;
    return 0;
}

void wres_release(struct wres *r)
{
    free(r->cpu_id);
    free(r->cpu_used);
    free(r->gpu_id);
    free(r->gpu_used);
    memset(r, 0, sizeof(*r));
}

bool wres_fits(const struct wres *r, const struct request *req)
{
    return res_fits(req, &r->total, &r->used, NULL);
}

void wres_take(struct wres *r, const struct request *req, struct wres_grant *g)
{
    memset(g, 0, sizeof(*g));
    g->req = *req;
    res_add(&r->used, req, 1);
    /* CPUs: whole free ones first (in order), then the freest for what
     * is left, so whole-CPU tasks get CPUs of their own. */
    int64_t left = req->cpus_milli;
    g->cpu = xcalloc((size_t)r->ncpus + 1, sizeof(int));
    g->milli = xcalloc((size_t)r->ncpus + 1, sizeof(int64_t));
    for (int i = 0; i < r->ncpus && left >= 1000; i++) {
        if (r->cpu_used[i] == 0) {
            r->cpu_used[i] = 1000;
            g->cpu[g->ncpu] = i;
            g->milli[g->ncpu++] = 1000;
            left -= 1000;
        }
    }
    while (left > 0) {
        int best = -1;
        for (int i = 0; i < r->ncpus; i++) {
            bool mine = false;
            for (int k = 0; k < g->ncpu; k++)
                mine |= g->cpu[k] == i;
            if (!mine && r->cpu_used[i] < 1000 && (best < 0 || r->cpu_used[i] < r->cpu_used[best]))
                best = i;
        }
        if (best < 0)
            break; /* the totals said it fits: only a fraction is short */
        int64_t take = MIN(left, 1000 - r->cpu_used[best]);
        r->cpu_used[best] += take;
        g->cpu[g->ncpu] = best;
        g->milli[g->ncpu++] = take;
        left -= take;
    }
    g->gpu = xcalloc((size_t)req->gpus + 1, sizeof(int));
    for (int i = 0; i < r->ngpus && g->ngpu < req->gpus; i++) {
        if (!r->gpu_used[i]) {
            r->gpu_used[i] = true;
            g->gpu[g->ngpu++] = i;
        }
    }
}

void wres_give_back(struct wres *r, struct wres_grant *g)
{
    if (!g->cpu)
        return;
    res_add(&r->used, &g->req, -1);
    for (int k = 0; k < g->ncpu; k++)
        r->cpu_used[g->cpu[k]] -= g->milli[k];
    for (int k = 0; k < g->ngpu; k++)
        r->gpu_used[g->gpu[k]] = false;
    free(g->cpu);
    free(g->milli);
    free(g->gpu);
    memset(g, 0, sizeof(*g));
}

static void push(char ***env, size_t *n, char *s)
{
    *env = xrealloc(*env, (*n + 2) * sizeof(char *));
    (*env)[(*n)++] = s;
    (*env)[*n] = NULL;
}

void wres_env(const struct wres *r, const struct wres_grant *g, char ***env, size_t *n)
{
    struct buf b = BUF_INIT;
    buf_addstr(&b, "DTR_CPUS=");
    for (int k = 0; k < g->ncpu; k++)
        buf_addf(&b, "%s%d", k ? "," : "", r->cpu_id[g->cpu[k]]);
    push(env, n, buf_detach(&b, NULL));
    if (r->ngpus || g->ngpu) {
        buf_addstr(&b, "CUDA_VISIBLE_DEVICES=");
        for (int k = 0; k < g->ngpu; k++)
            buf_addf(&b, "%s%s", k ? "," : "", r->gpu_id[g->gpu[k]]);
        push(env, n, buf_detach(&b, NULL));
    }
    if (g->req.mem) {
        buf_addf(&b, "DTR_MEM=%" PRId64, g->req.mem);
        push(env, n, buf_detach(&b, NULL));
    }
    for (int i = 0; i < g->req.nnamed; i++) {
        buf_addstr(&b, "DTR_RESOURCE_");
        for (const char *p = g->req.named[i].name; *p; p++)
            buf_addch(&b, (char)toupper((unsigned char)*p));
        buf_addf(&b, "=%" PRId64, g->req.named[i].n);
        push(env, n, buf_detach(&b, NULL));
    }
}

int wres_cpu_list(const struct wres *r, const struct wres_grant *g, int *ids, int max)
{
    int n = 0;
    for (int k = 0; k < g->ncpu && n < max; k++)
        ids[n++] = r->cpu_id[g->cpu[k]];
    return n;
}
