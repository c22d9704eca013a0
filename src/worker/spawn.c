/* SPDX-License-Identifier: MIT */
/*
 * spawn_task() (see spawn.h): the parent blocks every signal and clones a
 * child that shares its memory and runs on a stack of its own until it
 * execs. The child reads only its slot (a copy of what it needs, taken by
 * the parent before the clone) and makes only raw system calls: while it
 * runs the parent runs too, in the same memory, and a libc call in the
 * child could write the parent's errno or any other state under it. The
 * kernel zeroes the slot's tid word when the child execs or exits
 * (CLONE_CHILD_CLEARTID); until then the slot is the child's.
 */
#include "worker/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

/* The child's stack: its own frames and its path buffer. */
#define STACK_LEN (64 * 1024)
#define PATH_BUF (4096 + 256)
/* How often the set of caught signals is read again (see reset_set()). */
#define CAUGHT_REFRESH 1024

#if defined(__x86_64__) || defined(__aarch64__)
/* The parent goes on at once; the child makes raw system calls. */
#define CLONE_WAIT 0
#else
/* Elsewhere the parent waits for the exec, as posix_spawn() does, and the
 * child may use syscall(): nothing else runs in the memory meanwhile. */
#define CLONE_WAIT CLONE_VFORK
#endif

/* One child between its clone and its exec: what it reads, and where. */
struct slot {
    struct slot *next;
    volatile pid_t tid; /* non-zero from the clone until the exec or exit */
    char *stack;        /* STACK_LEN usable bytes; a guard page below */
    char *data;         /* the arrays and strings below point into it */
    size_t data_cap;
    const char *file;
    char **argv;
    char **sh_argv; /* /bin/sh, then the script, then argv[1...] */
    char **envp;
    const char *cwd;  /* or NULL */
    const char *path; /* the worker's PATH, for a file without '/' */
    int null_fd, out_fd, err_fd;
    int nreset;
    int reset[64]; /* signals set back to SIG_DFL */
    int *err;      /* the caller's: the child's errno when it fails */
};

static struct slot *slots; /* every slot made; free when tid is 0 */
static int null_fd = -1;
static int reset_list[64];
static int nreset;
static unsigned spawns;

/* The worker ignores SIGPIPE, and its tasks must not inherit that; the rest
 * are signals a dtr process may catch (through libuv) or ignore. */
static const int always_reset[] = {SIGPIPE, SIGINT,  SIGTERM, SIGCHLD,
                                   SIGHUP,  SIGQUIT, SIGUSR1, SIGUSR2};

/* ---- the child: raw system calls only --------------------------------------- */

#if defined(__x86_64__)
static inline long raw4(long n, long a, long b, long c, long d)
{
    long ret;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
static inline long raw4(long n, long a, long b, long c, long d)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
    return x0;
}
#else
static inline long raw4(long n, long a, long b, long c, long d)
{
    long r = syscall(n, a, b, c, d); /* CLONE_VFORK: errno is ours alone */
    return r < 0 ? -errno : r;
}
#endif

/* No instrumentation in the child: a sanitizer's or a fuzzer's runtime
 * keeps state in the parent thread's TLS. */
#if defined(__clang__)
#define NO_SANITIZE __attribute__((no_sanitize("address", "undefined", "coverage")))
#elif defined(__GNUC__) && __GNUC__ >= 12
#define NO_SANITIZE __attribute__((no_sanitize("address", "undefined"), no_sanitize_coverage))
#else
#define NO_SANITIZE __attribute__((no_sanitize("address", "undefined")))
#endif

#if !CLONE_WAIT
/* The kernel's struct sigaction on x86-64 and arm64 (SIG_DFL is a zero
 * handler), and its 64-signal set. */
struct ksigaction {
    uintptr_t handler;
    unsigned long flags;
    uintptr_t restorer;
    uint64_t mask;
};

/* Handlers back to SIG_DFL, then an empty mask. Returns 0 or -errno. */
NO_SANITIZE static long child_signals(const struct slot *s)
{
    struct ksigaction dfl = {0};
    uint64_t none = 0;
    for (int i = 0; i < s->nreset; i++)
        raw4(SYS_rt_sigaction, s->reset[i], (long)&dfl, 0, sizeof(uint64_t));
    return raw4(SYS_rt_sigprocmask, SIG_SETMASK, (long)&none, 0, sizeof(none));
}
#else
/* Under CLONE_VFORK libc is safe (and knows this kernel's sigset). */
static long child_signals(const struct slot *s)
{
    struct sigaction dfl;
    sigset_t none;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int i = 0; i < s->nreset; i++)
        sigaction(s->reset[i], &dfl, NULL);
    sigemptyset(&none);
    return sigprocmask(SIG_SETMASK, &none, NULL) < 0 ? -errno : 0;
}
#endif

/* execve(), and the shell for a file the kernel will not run. Returns the
 * negative errno. */
NO_SANITIZE static long child_exec(struct slot *s, const char *file)
{
    long r = raw4(SYS_execve, (long)file, (long)s->argv, (long)s->envp, 0);
    if (r == -ENOEXEC) {
        s->sh_argv[1] = (char *)file;
        r = raw4(SYS_execve, (long)s->sh_argv[0], (long)s->sh_argv, (long)s->envp, 0);
    }
    return r;
}

/* What execvpe() does, in the child's own memory: each PATH entry in turn
 * (an empty one is the working directory, one too long is skipped); EACCES
 * from any of them wins over ENOENT, and any other error ends the search. */
NO_SANITIZE static long child_exec_path(struct slot *s)
{
    const char *f = s->file;
    size_t flen = 0;
    bool slash = false;
    for (; f[flen]; flen++)
        slash |= f[flen] == '/';
    if (slash)
        return child_exec(s, f);
    if (flen == 0 || flen > 255)
        return flen ? -ENAMETOOLONG : -ENOENT;
    char buf[PATH_BUF];
    bool eacces = false;
    long r = -ENOENT;
    const char *p = s->path;
    for (;;) {
        const char *end = p;
        while (*end && *end != ':')
            end++;
        size_t dlen = (size_t)(end - p);
        if (dlen + flen + 2 <= sizeof(buf)) {
            volatile char *b = buf; /* a plain loop might become a memcpy() call */
            size_t k = 0;
            for (size_t i = 0; i < dlen; i++)
                b[k++] = p[i];
            if (dlen)
                b[k++] = '/';
            for (size_t i = 0; i <= flen; i++)
                b[k++] = f[i];
            r = child_exec(s, buf);
            if (r == -EACCES)
                eacces = true;
            else if (r != -ENOENT && r != -ENOTDIR && r != -ESTALE && r != -ENODEV &&
                     r != -ETIMEDOUT)
                return r;
        }
        if (!*end)
            break;
        p = end + 1;
    }
    return eacces ? -EACCES : r;
}

NO_SANITIZE static int child_main(void *arg)
{
    struct slot *s = arg;
    long r;

    /* A group of its own, so that a timeout reaches its grandchildren. */
    if ((r = raw4(SYS_setpgid, 0, 0, 0, 0)) < 0 ||
        (r = raw4(SYS_dup3, s->null_fd, STDIN_FILENO, 0, 0)) < 0 ||
        (r = raw4(SYS_dup3, s->out_fd, STDOUT_FILENO, 0, 0)) < 0 ||
        (r = raw4(SYS_dup3, s->err_fd, STDERR_FILENO, 0, 0)) < 0 ||
        (s->cwd && (r = raw4(SYS_chdir, (long)s->cwd, 0, 0, 0)) < 0) || (r = child_signals(s)) < 0)
        goto fail;
    r = child_exec_path(s);
fail:
    *(volatile int *)s->err = r < 0 ? (int)-r : ENOEXEC;
    raw4(SYS_exit_group, 127, 0, 0, 0);
    return 127;
}

/* ---- the parent --------------------------------------------------------------- */

/* The signals this process has handlers for, from /proc/self/status. */
static void add_caught(sigset_t *set)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    const char *p = strstr(buf, "\nSigCgt:");
    unsigned long long mask;
    if (!p || sscanf(p, "\nSigCgt: %llx", &mask) != 1)
        return;
    for (int s = 1; s < NSIG && s <= 64; s++)
        if (mask & (1ULL << (s - 1)))
            sigaddset(set, s);
}

/*
 * What the child resets to SIG_DFL: between unblocking signals and its
 * exec, a caught one would run the parent's handler in the parent's memory.
 * glibc asks the kernel about all 64 handlers in every child; this asks
 * /proc once per CAUGHT_REFRESH spawns (dtr installs its handlers at start).
 */
static void refresh_reset(void)
{
    if (spawns++ % CAUGHT_REFRESH)
        return;
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof(always_reset) / sizeof(always_reset[0]); i++)
        sigaddset(&set, always_reset[i]);
    add_caught(&set);
    nreset = 0;
    for (int s = 1; s < NSIG && s <= 64; s++)
        if (s != SIGKILL && s != SIGSTOP && sigismember(&set, s) == 1)
            reset_list[nreset++] = s;
}

static int ensure_null_fd(void)
{
    if (null_fd >= 0)
        return 0;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    /* above stdio, so that the child's dup3() onto 0-2 never overwrites it */
    int high = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    int e = high < 0 ? errno : 0;
    close(fd);
    if (e)
        return e;
    null_fd = high;
    return 0;
}

/* A slot no child uses (new if none is free), or NULL with errno set. */
static struct slot *free_slot(void)
{
    for (struct slot *s = slots; s; s = s->next)
        if (__atomic_load_n(&s->tid, __ATOMIC_ACQUIRE) == 0)
            return s;
    long page = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, STACK_LEN + (size_t)page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (mprotect(p, (size_t)page, PROT_NONE) < 0) { /* the guard page */
        int e = errno;
        munmap(p, STACK_LEN + (size_t)page);
        errno = e;
        return NULL;
    }
    struct slot *s = xcalloc(1, sizeof(*s));
    s->stack = p + page;
    s->next = slots;
    slots = s;
    return s;
}

static size_t strv_bytes(char *const *v, size_t *n)
{
    size_t bytes = 0;
    for (*n = 0; v[*n]; (*n)++)
        bytes += strlen(v[*n]) + 1;
    return bytes;
}

/* Copies v into the slot's data at *at (pointers) and *str (strings). */
static char **strv_put(char *const *v, size_t n, char ***at, char **str)
{
    char **out = *at;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(v[i]) + 1;
        memcpy(*str, v[i], len);
        out[i] = *str;
        *str += len;
    }
    out[n] = NULL;
    *at += n + 1;
    return out;
}

/* Fills s with its own copy of req: the caller's memory may change as
 * soon as spawn_task() returns, the child's exec maybe long after. */
static void fill_slot(struct slot *s, const struct spawn_req *req, const char *path, int *err)
{
    size_t argc, envc;
    size_t bytes = strv_bytes(req->argv, &argc) + strv_bytes(req->envp, &envc);
    size_t file_len = strlen(req->file) + 1, cwd_len = req->cwd ? strlen(req->cwd) + 1 : 0;
    size_t path_len = strlen(path) + 1;
    bytes += file_len + cwd_len + path_len + sizeof("/bin/sh");
    size_t ptrs = (argc + 1) + (argc + 2) + (envc + 1);
    size_t need = ptrs * sizeof(char *) + bytes;
    if (need > s->data_cap) {
        free(s->data);
        s->data = xmalloc(need);
        s->data_cap = need;
    }
    char **at = (char **)s->data;
    char *str = s->data + ptrs * sizeof(char *);
    s->argv = strv_put(req->argv, argc, &at, &str);
    s->envp = strv_put(req->envp, envc, &at, &str);
    s->sh_argv = at; /* "/bin/sh", the file (set by the child), argv[1...] */
    memcpy(str, "/bin/sh", sizeof("/bin/sh"));
    s->sh_argv[0] = str;
    str += sizeof("/bin/sh");
    s->sh_argv[1] = NULL;
    for (size_t i = 1; i <= argc; i++)
        s->sh_argv[i + 1] = s->argv[i];
    memcpy(str, req->file, file_len);
    s->file = str;
    str += file_len;
    s->cwd = NULL;
    if (req->cwd) {
        memcpy(str, req->cwd, cwd_len);
        s->cwd = str;
        str += cwd_len;
    }
    memcpy(str, path, path_len);
    s->path = str;
    s->null_fd = null_fd;
    s->out_fd = req->out_fd;
    s->err_fd = req->err_fd;
    s->nreset = nreset;
    memcpy(s->reset, reset_list, (size_t)nreset * sizeof(*s->reset));
    s->err = err;
}

int spawn_task(const struct spawn_req *req, pid_t *pid, int *pidfd, int *child_err)
{
    int e = ensure_null_fd();
    if (e)
        return e;
    struct slot *s = free_slot();
    if (!s)
        return errno;
    refresh_reset();
    const char *path = getenv("PATH");
    *child_err = 0;
    fill_slot(s, req, path ? path : "/bin:/usr/bin", child_err);

    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int fd = -1;
    int flags = CLONE_VM | CLONE_CHILD_CLEARTID | CLONE_WAIT | SIGCHLD;
    s->tid = 1;
    pid_t p = clone(child_main, s->stack + STACK_LEN, flags | CLONE_PIDFD, s, &fd, NULL, &s->tid);
    if (p < 0 && errno == EINVAL) { /* no CLONE_PIDFD before Linux 5.2 */
        fd = -1;
        p = clone(child_main, s->stack + STACK_LEN, flags, s, NULL, NULL, &s->tid);
    }
    e = p < 0 ? errno : 0;
    if (e)
        s->tid = 0;
    else
        setpgid(p, p); /* as the child does: its group exists before it runs */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e)
        return e;
    *pid = p;
    *pidfd = fd;
    return 0;
}
