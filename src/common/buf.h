/* SPDX-License-Identifier: MIT */
/*
 * A growable byte buffer, always NUL-terminated (git's strbuf). It grows
 * without a limit of its own: callers that take bytes from the network check
 * buf.len against their protocol limit before adding.
 */
#ifndef DTR_COMMON_BUF_H
#define DTR_COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
    char *data; /* NUL-terminated; NULL until the first add */
    size_t len;
    size_t cap;
};

#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void buf_init(struct buf *b);
/* Frees the storage; the buffer is empty and reusable afterwards. */
void buf_release(struct buf *b);
void buf_reset(struct buf *b);
void buf_grow(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t len);
void buf_addstr(struct buf *b, const char *s);
void buf_addch(struct buf *b, char c);
__attribute__((format(printf, 2, 3))) void buf_addf(struct buf *b, const char *fmt, ...);
void buf_vaddf(struct buf *b, const char *fmt, va_list ap);
/* Removes the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Returns the string and leaves b empty; the caller frees the result. */
char *buf_detach(struct buf *b, size_t *len);
/* Appends s (len bytes, may hold NULs) as a quoted, escaped JSON string.
 * Bytes that are not valid UTF-8 become U+FFFD; returns how many were
 * replaced (0: the string carries s exactly). */
size_t buf_add_json_str(struct buf *b, const char *s, size_t len);
/* Appends a quoted JSON string for a NUL-terminated s, or null when s is NULL. */
void buf_add_json_cstr(struct buf *b, const char *s);

#endif
