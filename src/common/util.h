/* SPDX-License-Identifier: MIT */
#ifndef DTR_COMMON_UTIL_H
#define DTR_COMMON_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define UNUSED __attribute__((unused))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* A programmer's mistake, never bad input: prints file:line and aborts. */
#define DTR_BUG(...) dtr_bug(__FILE__, __LINE__, __VA_ARGS__)
__attribute__((noreturn, format(printf, 3, 4))) void dtr_bug(const char *file, int line,
                                                             const char *fmt, ...);

/* Writes a message into err (which may be NULL or errlen 0). */
__attribute__((format(printf, 3, 4))) void err_set(char *err, size_t errlen, const char *fmt, ...);

/* Allocation that cannot fail: out of memory aborts with a message (git's xmalloc). */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Tunes malloc for the master, which parses and frees messages in bursts. */
void heap_tune_for_bursts(void);
/*
 * For a file written once from start to end and read rarely (a task's
 * output): after a write of len bytes that ended at offset end, starts the
 * writeback of what lies more than 8 MiB behind end and drops it from the
 * page cache, once per 4 MiB written. A task writing GBs then neither
 * pushes the journal's pages out of memory nor makes the kernel find a new
 * page for every write: the pages just freed are used again (where memory
 * is backed lazily, as in most VMs, a new page costs several times the
 * copy). The last 8 MiB stay cached for `logs -f` and `result`.
 */
void file_drop_behind(int fd, uint64_t end, size_t len);

/*
 * How many bytes of the file at path, from its start, were written: its
 * size, or where its first hole starts when pieces were written at their
 * offsets before the ones ahead of them (a hole reads as zeros, and counts
 * in the size). 0 when it cannot be opened.
 */
uint64_t file_whole_bytes(const char *path);

#endif
