/* SPDX-License-Identifier: MIT */
/* Allocation wrappers that die on exhaustion, and the DTR_BUG() reporter. */
#include "common/util.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void dtr_bug(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "BUG: %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static void *check(void *p, size_t n)
{
    if (!p && n) {
        fprintf(stderr, "dtr: out of memory allocating %zu bytes\n", n);
        abort();
    }
    return p;
}

void *xmalloc(size_t n)
{
    return check(malloc(n ? n : 1), n);
}

void *xcalloc(size_t nmemb, size_t size)
{
    return check(calloc(nmemb ? nmemb : 1, size ? size : 1), nmemb * size);
}

void *xrealloc(void *p, size_t n)
{
    return check(realloc(p, n ? n : 1), n);
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void err_set(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/*
 * The master allocates and frees in bursts: a submit of thousands of specs
 * is parsed, used and freed in one loop turn. By default glibc hands the
 * freed top of the heap back and the next burst faults it in again (half
 * the page faults, a quarter of the CPU, of a 200,000-task submit), and its
 * fast bins defer the freeing of json-c's many small objects to a costly
 * consolidation when the next large block is asked for.
 */
void heap_tune_for_bursts(void)
{
    mallopt(M_TOP_PAD, 16 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_MXFAST, 0);
}

#define DROP_STEP (4u << 20)
#define DROP_LAG (8u << 20)

void file_drop_behind(int fd, uint64_t end, size_t len)
{
    if (end < DROP_LAG || end / DROP_STEP == (end - len) / DROP_STEP)
        return;
    uint64_t to = end - DROP_LAG;
    /* Some steps back too: pages still under writeback the last time. */
    uint64_t from = to > 4 * (uint64_t)DROP_STEP ? to - 4 * (uint64_t)DROP_STEP : 0;
    (void)posix_fadvise(fd, (off_t)from, (off_t)(to - from), POSIX_FADV_DONTNEED);
}

uint64_t file_whole_bytes(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    uint64_t n = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    /* A file system that knows no holes answers the size. */
    off_t hole = n ? lseek(fd, 0, SEEK_HOLE) : 0;
    if (hole >= 0 && (uint64_t)hole < n)
        n = (uint64_t)hole;
    close(fd);
    return n;
}
