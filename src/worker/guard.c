/* SPDX-License-Identifier: MIT */
/*
 * The task guard (see guard.h for why): the worker's side (subreaper, the
 * table of running task groups, reaping adopted children, killing what a
 * previous instance left behind) and the guard process, 'dtr __guard'. It
 * does not contain tasks that leave their process group (setsid): cgroups
 * would.
 *
 * The table is the pids file, LOG_DIR/worker-ID.pids, mapped shared by the
 * worker: the header "dtr-pids 1 BOOT_ID\n", then slots of SLOT_LEN bytes,
 * each a line. A slot in use reads "+ PGID LO HI" (LO..HI: the clock ticks
 * since boot within which its leader started, as in field 22 of
 * /proc/PID/stat), padded with spaces; a free one starts with '#'. The
 * worker fills a slot behind its '#' and writes the '+' last, and frees it
 * by writing the '#' back, so a reader never takes a half-written line: a
 * task costs the worker two stores, not a system call. The guard reads the
 * table only once the worker has died (its pipe's EOF), and kills what it
 * lists. The file is not fsynced: it only has to outlive processes, not the
 * machine (a reboot ends the tasks). Where another instance holds the file,
 * the table is a memfd, which the guard still reads.
 */
#include "worker/guard.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"

extern char **environ;

#define PIDS_HEADER "dtr-pids 1"
/* The most of a pids file read: 65,536 slots; a longer file is cut, never
 * trusted blindly (see kill_leftovers). */
#define PIDS_READ_MAX (4 << 20)
/* A slot: "+ PGID LO HI" (at most 2 + 10 + 1 + 19 + 1 + 19 bytes), spaces,
 * '\n'. The table starts with SLOTS_MIN and doubles when full. */
#define SLOT_LEN 64
#define SLOTS_MIN 64
/* How long a starting worker waits for the lock of a previous instance's
 * guard, which releases it once it has killed that instance's tasks. */
#define LOCK_WAIT_MS 3000
/* Children reaped per call at most (memcached's reqs_per_event). */
#define REAP_MAX 256
/* The pipe and the table sit above stdio and the guard's fd 3. */
#define FD_MIN 4
#define GUARD_FD_TABLE 3

struct entry {
    pid_t pgid;
    int64_t lo, hi; /* clock ticks since boot */
};

struct set {
    struct entry *v;
    size_t n, cap;
};

struct guard {
    pid_t pid;         /* the guard process, or 0 when it has to be (re)started */
    int wfd;           /* our end of its pipe (its EOF: we died), or -1 */
    int table_fd;      /* the locked pids file, or a memfd; -1 when neither works */
    bool recorded;     /* table_fd is the pids file */
    char *table;       /* table_fd mapped shared (see may_map()), or NULL */
    size_t header_len; /* the slots start here */
    size_t file_slots; /* slots in table_fd */
    size_t nslots;     /* slots in slot_pgid: file_slots, or more if the file cannot grow */
    pid_t *slot_pgid;  /* which group each slot holds, 0 when free */
    char *log_dir, *id;
    char boot[64];
    bool restart_failed; /* logged once, retried every tick */
    bool full_logged;    /* a task went unrecorded: said once */
};

/* ---- small helpers shared by both sides ---------------------------------- */

static struct entry *set_find(struct set *s, pid_t pgid)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].pgid == pgid)
            return &s->v[i];
    return NULL;
}

static void set_add(struct set *s, struct entry e)
{
    struct entry *old = set_find(s, e.pgid);
    if (old) {
        *old = e;
        return;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = e;
}

static void set_del(struct set *s, pid_t pgid)
{
    struct entry *e = set_find(s, pgid);
    if (e)
        *e = s->v[--s->n];
}

/* Applies one pipe or file line to s. Returns false for a line it does not
 * know (ignored: a torn last line, or the tail of a compaction cut short). */
static bool apply_line(struct set *s, const char *line)
{
    struct entry e = {0};
    int pgid;
    if (sscanf(line, "+ %d %" SCNd64 " %" SCNd64, &pgid, &e.lo, &e.hi) == 3 && pgid > 1) {
        e.pgid = pgid;
        set_add(s, e);
        return true;
    }
    if (sscanf(line, "- %d", &pgid) == 1) {
        set_del(s, pgid);
        return true;
    }
    return false;
}

/* Moves fd to FD_MIN or above, close-on-exec. Returns the fd or -1. */
static int fd_above(int fd)
{
    if (fd < 0 || fd >= FD_MIN)
        return fd;
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, FD_MIN);
    close(fd);
    return nfd;
}

static void read_boot_id(char *out, size_t len)
{
    snprintf(out, len, "unknown");
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (!f)
        return;
    char line[64];
    if (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n ")] = '\0';
        if (*line)
            snprintf(out, len, "%s", line);
    }
    fclose(f);
}

static long hz; /* clock ticks a second, read once */

static long ticks_per_sec(void)
{
    if (!hz) {
        hz = sysconf(_SC_CLK_TCK);
        if (hz <= 0)
            hz = 100;
    }
    return hz;
}

int64_t guard_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the worker's side ------------------------------------------------------- */

/* Unmaps and closes the table file (no slot is written after). */
static void table_close(struct guard *g)
{
    if (g->table)
        munmap(g->table, g->header_len + g->file_slots * SLOT_LEN);
    g->table = NULL;
    g->file_slots = 0;
    if (g->table_fd >= 0)
        close(g->table_fd);
    g->table_fd = -1;
}

static off_t slot_off(const struct guard *g, size_t i)
{
    return (off_t)(g->header_len + i * SLOT_LEN);
}

static void blank_line(char line[SLOT_LEN])
{
    memset(line, ' ', SLOT_LEN - 1);
    line[0] = '#';
    line[SLOT_LEN - 1] = '\n';
}

/*
 * Whether stores into a mapping of fd are safe once its blocks are
 * allocated: where a block is overwritten in place (ext4, xfs, tmpfs and
 * memfds). A copy-on-write file system (btrfs) allocates anew for every
 * write-back, and a store into a full one is a SIGBUS: there the worker
 * writes its slots with pwrite(), which fails with ENOSPC instead.
 */
static bool may_map(int fd)
{
    struct statfs st;
    if (fstatfs(fd, &st) != 0)
        return false;
    return st.f_type == 0xEF53 /* ext2/3/4 */ || st.f_type == 0x58465342 /* xfs */ ||
           st.f_type == 0x01021994 /* tmpfs, memfd */;
}

/* Gives the file slots from..to, blank; mapped or not. Returns 0 or an
 * errno value. */
static int file_extend(struct guard *g, size_t to)
{
    size_t len = g->header_len + to * SLOT_LEN, from = g->file_slots;
    /* Blocks allocated now: a store into a hole of a full disk is a SIGBUS. */
    int e = posix_fallocate(g->table_fd, 0, (off_t)len);
    if (e)
        return e;
    if (g->table) {
        void *p = mremap(g->table, g->header_len + from * SLOT_LEN, len, MREMAP_MAYMOVE);
        if (p == MAP_FAILED)
            return errno;
        g->table = p;
        for (size_t i = from; i < to; i++)
            blank_line(g->table + slot_off(g, i));
    } else {
        char line[SLOT_LEN];
        blank_line(line);
        for (size_t i = from; i < to; i++)
            if (pwrite(g->table_fd, line, SLOT_LEN, slot_off(g, i)) != SLOT_LEN)
                return errno ? errno : ENOSPC;
    }
    g->file_slots = to;
    return 0;
}

/* Writes the header and SLOTS_MIN blank slots to table_fd, and maps it
 * where that is safe. Returns 0 or an errno value. */
static int table_init(struct guard *g)
{
    char header[128];
    g->header_len = (size_t)snprintf(header, sizeof(header), PIDS_HEADER " %s\n", g->boot);
    if (ftruncate(g->table_fd, 0) < 0)
        return errno;
    int e = posix_fallocate(g->table_fd, 0, (off_t)g->header_len);
    if (e)
        return e;
    if (pwrite(g->table_fd, header, g->header_len, 0) != (ssize_t)g->header_len)
        return errno ? errno : ENOSPC;
    if (may_map(g->table_fd)) {
        void *p = mmap(NULL, g->header_len, PROT_READ | PROT_WRITE, MAP_SHARED, g->table_fd, 0);
        if (p != MAP_FAILED)
            g->table = p;
    }
    return file_extend(g, SLOTS_MIN);
}

/* The table: the pids file when we hold it, else (or when it cannot be
 * written) a memfd, which a restarted worker cannot find but the guard
 * reads. Which slot holds which group is kept in memory as well
 * (slot_pgid), whatever becomes of the file. */
static void table_open(struct guard *g)
{
    g->nslots = SLOTS_MIN;
    g->slot_pgid = xcalloc(g->nslots, sizeof(*g->slot_pgid));
    if (g->table_fd >= 0) {
        int e = table_init(g);
        if (!e) {
            g->recorded = true;
            return;
        }
        log_warn("cannot write the pids file error=%s; a restarted worker will not find this "
                 "one's tasks",
                 log_quote(strerror(e)));
        table_close(g);
    }
    g->table_fd = fd_above(memfd_create("dtr-pids", MFD_CLOEXEC));
    int e = g->table_fd < 0 ? errno : table_init(g);
    if (e) {
        log_error("cannot make the task table error=%s; tasks will outlive a killed worker",
                  log_quote(strerror(e)));
        table_close(g);
    }
}

static ssize_t slot_of(const struct guard *g, pid_t pgid)
{
    for (size_t i = 0; i < g->nslots; i++)
        if (g->slot_pgid[i] == pgid)
            return (ssize_t)i;
    return -1;
}

/* Writes slot i's line: the mapped slot filled behind its '#', then the '+'
 * stored last, so that a reader never takes a half-written line. */
static void slot_write(struct guard *g, size_t i, const char line[SLOT_LEN])
{
    if (i >= g->file_slots) {
        if (!g->full_logged)
            log_error("the task table holds only %zu slots; tasks beyond them will outlive a "
                      "killed worker",
                      g->file_slots);
        g->full_logged = true;
        return;
    }
    if (g->table) {
        char *slot = g->table + slot_off(g, i);
        memcpy(slot + 1, line + 1, SLOT_LEN - 1);
        __atomic_store_n(slot, line[0], __ATOMIC_RELEASE);
    } else if (pwrite(g->table_fd, line, SLOT_LEN, slot_off(g, i)) != SLOT_LEN && !g->full_logged) {
        log_error("cannot write the task table error=%s; a task may outlive a killed worker",
                  log_quote(strerror(errno)));
        g->full_logged = true;
    }
}

void guard_task_started(struct guard *g, pid_t pgid, int64_t t0, int64_t t1)
{
    if (!g)
        return;
    ssize_t i = slot_of(g, 0);
    if (i < 0) { /* full: twice the slots, in memory and (if it can) in the file */
        i = (ssize_t)g->nslots;
        g->nslots *= 2;
        g->slot_pgid = xrealloc(g->slot_pgid, g->nslots * sizeof(*g->slot_pgid));
        memset(g->slot_pgid + i, 0, (g->nslots - (size_t)i) * sizeof(*g->slot_pgid));
        int e = g->table_fd >= 0 ? file_extend(g, g->nslots) : 0;
        if (e && !g->full_logged) {
            log_error("cannot grow the task table past %zu slots error=%s; tasks beyond them "
                      "will outlive a killed worker",
                      g->file_slots, log_quote(strerror(e)));
            g->full_logged = true;
        }
    }
    g->slot_pgid[i] = pgid; /* guard_reap() leaves it to its runner */
    if (g->table_fd < 0)
        return;
    int64_t per = 1000000000 / ticks_per_sec();
    /* /proc's start time is the fork's boot-time clock rounded down to a
     * tick; t0 <= fork <= t1, so it falls in [t0/per, t1/per]. */
    char line[SLOT_LEN];
    int n =
        snprintf(line, sizeof(line), "+ %d %" PRId64 " %" PRId64, (int)pgid, t0 / per, t1 / per);
    memset(line + n, ' ', SLOT_LEN - 1 - (size_t)n);
    line[SLOT_LEN - 1] = '\n';
    slot_write(g, (size_t)i, line);
}

void guard_task_ended(struct guard *g, pid_t pgid)
{
    if (!g)
        return;
    ssize_t i = slot_of(g, pgid);
    if (i < 0)
        return;
    g->slot_pgid[i] = 0;
    if (g->table_fd < 0)
        return;
    char line[SLOT_LEN];
    blank_line(line);
    if (g->table && (size_t)i < g->file_slots)
        __atomic_store_n(g->table + slot_off(g, (size_t)i), '#', __ATOMIC_RELEASE);
    else
        slot_write(g, (size_t)i, line);
}

/* Starts the guard process. Returns 0 or an errno value. */
static int spawn_guard(struct guard *g)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none;
    int p[2], e;
    char wpid[24];

    if (pipe2(p, O_CLOEXEC) < 0)
        return errno;
    p[0] = fd_above(p[0]);
    p[1] = fd_above(p[1]);
    if (p[0] < 0 || p[1] < 0) {
        e = errno;
        if (p[0] >= 0)
            close(p[0]);
        if (p[1] >= 0)
            close(p[1]);
        return e;
    }
    snprintf(wpid, sizeof(wpid), "%d", (int)getpid());
    const char *argv[] = {
        "dtr", "__guard", wpid, g->log_dir, g->id, g->boot, g->table_fd >= 0 ? "1" : "0", NULL};
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    sigemptyset(&none);
    e = posix_spawn_file_actions_adddup2(&fa, p[0], STDIN_FILENO);
    if (!e)
        e = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    if (!e && g->table_fd >= 0)
        e = posix_spawn_file_actions_adddup2(&fa, g->table_fd, GUARD_FD_TABLE);
    if (!e)
        e = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    if (!e)
        e = posix_spawnattr_setsigmask(&attr, &none);
    if (!e)
        e = posix_spawn(&g->pid, "/proc/self/exe", &fa, &attr, (char *const *)argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    close(p[0]);
    if (e) {
        close(p[1]);
        g->pid = 0;
        return e;
    }
    g->wfd = p[1];
    return 0;
}

/* Fields of /proc/PID/stat. Returns false when there is no such process. */
static bool read_stat(pid_t pid, char *state, pid_t *pgrp, int64_t *start)
{
    char path[48], text[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return false;
    text[n] = '\0';
    /* comm may hold spaces and parentheses: fields resume after the last ')' */
    char *p = strrchr(text, ')');
    int pg;
    unsigned long long st;
    if (!p || sscanf(p + 1,
                     " %c %*d %d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
                     "%*d %*d %llu",
                     state, &pg, &st) != 3)
        return false;
    *pgrp = pg;
    *start = (int64_t)st;
    return true;
}

/* Whether /proc/PID/environ holds the entry want ("DTR_WORKER_ID=ID"). */
static bool environ_has(pid_t pid, const char *want)
{
    char path[48];
    struct buf b = BUF_INIT;
    bool found = false;
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char chunk[4096];
    ssize_t n;
    while (b.len < PIDS_READ_MAX && (n = read(fd, chunk, sizeof(chunk))) > 0)
        buf_add(&b, chunk, (size_t)n);
    close(fd);
    for (size_t i = 0; i < b.len && !found; i += strlen(b.data + i) + 1)
        found = !strcmp(b.data + i, want);
    buf_release(&b);
    return found;
}

/*
 * Kills the groups in s, saying why in the log. A group whose leader lives
 * (or is a zombie) is killed only when the leader's start time is the
 * recorded one: a pid number is not reused while any process of its group
 * lives, so a process with that pid and another start time means the group
 * is gone. A group whose leader has been reaped is found by scanning /proc,
 * and only those of its processes that started after the leader and still
 * carry this worker's DTR_WORKER_ID are killed.
 */
static void kill_leftovers(struct set *s, const char *id, const char *why)
{
    struct set leaderless = {0};
    char state;
    pid_t pgrp;
    int64_t start;

    for (size_t i = 0; i < s->n; i++) {
        const struct entry *e = &s->v[i];
        if (!read_stat(e->pgid, &state, &pgrp, &start)) {
            set_add(&leaderless, *e);
        } else if (pgrp == e->pgid && start >= e->lo && start <= e->hi) {
            kill(-e->pgid, SIGKILL);
            log_warn("%s pgid=%d", why, (int)e->pgid);
        } else {
            log_debug("not killing pgid=%d: its pid now belongs to another process", (int)e->pgid);
        }
    }
    if (!leaderless.n)
        return;
    char want[300];
    snprintf(want, sizeof(want), "DTR_WORKER_ID=%s", id);
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 1 || pid == getpid())
            continue;
        if (!read_stat((pid_t)pid, &state, &pgrp, &start) || state == 'Z')
            continue;
        struct entry *e = set_find(&leaderless, pgrp);
        if (e && start >= e->lo && environ_has((pid_t)pid, want)) {
            kill((pid_t)pid, SIGKILL);
            log_warn("%s pgid=%d pid=%ld (its leader had exited)", why, (int)pgrp, pid);
        }
    }
    if (d)
        closedir(d);
    free(leaderless.v);
}

/* The groups a table lists (read from fd), when its header names this boot. */
static void read_table(int fd, const char *boot, struct set *s)
{
    struct buf b = BUF_INIT;
    char chunk[4096];
    ssize_t n;
    while (b.len < PIDS_READ_MAX && (n = pread(fd, chunk, sizeof(chunk), (off_t)b.len)) > 0)
        buf_add(&b, chunk, (size_t)n);
    char header[128];
    snprintf(header, sizeof(header), PIDS_HEADER " %s\n", boot);
    if (b.len > strlen(header) && !strncmp(b.data, header, strlen(header))) {
        char *line = b.data + strlen(header);
        while (*line) {
            char *nl = strchr(line, '\n');
            if (!nl)
                break; /* torn */
            *nl = '\0';
            apply_line(s, line);
            line = nl + 1;
        }
    }
    buf_release(&b);
}

/* Reads the pids file a previous instance left and kills what it lists. */
static void clean_previous(struct guard *g)
{
    struct set s = {0};
    read_table(g->table_fd, g->boot, &s);
    kill_leftovers(&s, g->id, "killed a task group left by a previous instance");
    free(s.v);
}

/* Opens and locks LOG_DIR/worker-ID.pids; -1 when another live worker with
 * this id holds it past LOCK_WAIT_MS. */
static int lock_record(const char *log_dir, const char *id)
{
    struct buf path = BUF_INIT;
    buf_addf(&path, "%s/worker-%s.pids", log_dir, id);
    int fd = fd_above(open(path.data, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd < 0) {
        log_warn("cannot open '%s': %s; a restarted worker will not find this one's tasks",
                 path.data, strerror(errno));
        buf_release(&path);
        return -1;
    }
    for (int waited = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; waited += 10) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            log_warn("cannot lock '%s': %s", path.data, strerror(errno));
            close(fd);
            fd = -1;
            break;
        }
        if (waited >= LOCK_WAIT_MS) {
            log_warn("another worker with id '%s' runs here (it holds '%s'); its tasks are left "
                     "alone and this one's are not recorded; give each worker its own --id",
                     id, path.data);
            close(fd);
            fd = -1;
            break;
        }
        struct timespec ten_ms = {0, 10 * 1000 * 1000};
        nanosleep(&ten_ms, NULL);
    }
    buf_release(&path);
    return fd;
}

struct guard *guard_start(const char *log_dir, const char *id, char *err, size_t errlen)
{
    struct guard *g = xcalloc(1, sizeof(*g));
    g->wfd = -1;
    g->table_fd = -1;
    g->log_dir = xstrdup(log_dir);
    g->id = xstrdup(id);
    read_boot_id(g->boot, sizeof(g->boot));
    /* Orphaned grandchildren of tasks become ours, not init's, while we
     * live: still in their task's group, and reaped by guard_reap(). */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        log_warn("cannot become a child subreaper: %s", strerror(errno));
    g->table_fd = lock_record(log_dir, id);
    if (g->table_fd >= 0)
        clean_previous(g);
    table_open(g);
    int e = spawn_guard(g);
    if (e) {
        err_set(err, errlen, "cannot start the task guard '/proc/self/exe __guard': %s",
                strerror(e));
        guard_free(g);
        return NULL;
    }
    log_debug("task guard started pid=%d record=%s", (int)g->pid, g->recorded ? "yes" : "no");
    return g;
}

void guard_free(struct guard *g)
{
    if (!g)
        return;
    if (g->wfd >= 0)
        close(g->wfd);
    table_close(g);
    free(g->slot_pgid);
    free(g->log_dir);
    free(g->id);
    free(g);
}

void guard_reap(struct guard *g)
{
    if (!g)
        return;
    for (int i = 0; i < REAP_MAX; i++) {
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
            break;
        if (slot_of(g, si.si_pid) >= 0)
            break; /* a task leader: its runner reaps it, and then we go on */
        waitpid(si.si_pid, NULL, WNOHANG);
        if (si.si_pid == g->pid) {
            log_warn("the task guard exited pid=%d; restarting it", (int)g->pid);
            g->pid = 0;
        }
    }
    if (g->pid)
        return;
    if (g->wfd >= 0)
        close(g->wfd);
    g->wfd = -1;
    int e = spawn_guard(g);
    if (e && !g->restart_failed)
        log_error("cannot restart the task guard; tasks will outlive a killed worker "
                  "error=%s",
                  log_quote(strerror(e)));
    else if (!e && g->restart_failed)
        log_info("task guard restarted pid=%d", (int)g->pid);
    g->restart_failed = e != 0;
}

/* ---- the guard process ----------------------------------------------------- */

int guard_main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "dtr __guard: an internal command that 'dtr worker' starts\n");
        return 2;
    }
    pid_t worker = (pid_t)atoi(argv[1]);
    int table_fd = !strcmp(argv[5], "1") ? GUARD_FD_TABLE : -1;
    char err[512], file[400], node[300];

    /* Signals aimed at the worker's process group (^C, a shell's kill %1)
     * must leave the guard alive until the worker has gone. */
    int ignored[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU};
    for (size_t i = 0; i < ARRAY_SIZE(ignored); i++)
        signal(ignored[i], SIG_IGN);
    /* Belt and braces beside the pipe's EOF (which a leaked write end could
     * hold off): SIGUSR1 when the worker dies. */
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    int sfd = signalfd(-1, &usr1, SFD_CLOEXEC);
    prctl(PR_SET_PDEATHSIG, SIGUSR1);
    prctl(PR_SET_NAME, "dtr-guard"); /* not "exe", after /proc/self/exe */

    snprintf(file, sizeof(file), "worker-%s.log", argv[3]);
    snprintf(node, sizeof(node), "worker-%s", argv[3]);
    if (log_open(argv[2], file, node, err, sizeof(err)) != 0)
        fprintf(stderr, "dtr __guard: %s\n", err);

    /* Nothing to do until the worker dies: the table is read only then. */
    bool alive = getppid() == worker;
    while (alive) {
        struct pollfd pf[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
                               {.fd = sfd, .events = POLLIN}};
        if (poll(pf, sfd >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (sfd >= 0 && pf[1].revents) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) < 0 || getppid() != worker)
                break;
        }
        if (!pf[0].revents)
            continue;
        char in[256];
        ssize_t n = read(STDIN_FILENO, in, sizeof(in));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break; /* EOF: the worker is gone */
    }

    if (table_fd >= 0) {
        struct set s = {0};
        char why[96];
        snprintf(why, sizeof(why), "guard killed a task group of a dead worker worker_pid=%d",
                 (int)worker);
        read_table(table_fd, argv[4], &s);
        kill_leftovers(&s, argv[3], why);
        free(s.v);
        if (ftruncate(table_fd, 0) < 0)
            log_warn("cannot empty the pids file error=%s", log_quote(strerror(errno)));
    }
    log_close();
    return 0;
}
