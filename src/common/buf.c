/* SPDX-License-Identifier: MIT */
/* Growable NUL-terminated buffers and JSON string escaping. */
#include "common/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "common/util.h"

void buf_init(struct buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void buf_release(struct buf *b)
{
    free(b->data);
    buf_init(b);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void buf_grow(struct buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void buf_add(struct buf *b, const void *data, size_t len)
{
    buf_grow(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void buf_addstr(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

void buf_addch(struct buf *b, char c)
{
    buf_grow(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

/* fmt is checked where buf_addf() is called; the attribute says so, or
 * clang's -Wformat-nonliteral (from -Wformat=2) fires on vsnprintf below. */
__attribute__((format(printf, 2, 0))) void buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    buf_grow(b, 64);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, cp);
    va_end(cp);
    if (n < 0)
        return;
    if ((size_t)n >= b->cap - b->len) {
        buf_grow(b, (size_t)n);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    }
    b->len += (size_t)n;
}

void buf_addf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vaddf(b, fmt, ap);
    va_end(ap);
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *buf_detach(struct buf *b, size_t *len)
{
    if (!b->data)
        buf_grow(b, 0), b->data[0] = '\0';
    char *s = b->data;
    if (len)
        *len = b->len;
    buf_init(b);
    return s;
}

/* Invalid UTF-8 becomes U+FFFD so that every message we write is valid JSON
 * for any reader; the count returned lets a caller that must keep the bytes
 * (task output) send them another way instead. */
size_t buf_add_json_str(struct buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t replaced = 0;
    buf_grow(b, len + 2);
    buf_addch(b, '"');
    size_t i = 0;
    while (i < len) {
        size_t run = i;
        while (run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            buf_add(b, p + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t n = utf8_seq_len(p + i, len - i);
            if (n == 0) {
                buf_addstr(b, "\\ufffd");
                replaced++;
                i++;
            } else {
                buf_add(b, p + i, n);
                i += n;
            }
            continue;
        }
        switch (c) {
        case '"':
            buf_addstr(b, "\\\"");
            break;
        case '\\':
            buf_addstr(b, "\\\\");
            break;
        case '\n':
            buf_addstr(b, "\\n");
            break;
        case '\r':
            buf_addstr(b, "\\r");
            break;
        case '\t':
            buf_addstr(b, "\\t");
            break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_add(b, esc, sizeof(esc));
        }
        }
        i++;
    }
    buf_addch(b, '"');
    return replaced;
}

void buf_add_json_cstr(struct buf *b, const char *s)
{
    if (s)
        buf_add_json_str(b, s, strlen(s));
    else
        buf_addstr(b, "null");
}
