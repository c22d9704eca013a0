/* SPDX-License-Identifier: MIT */
/* Line framing with a bounded line length. Bytes in, lines out; no I/O. */
#include "proto/frame.h"

#include <string.h>

#include "common/err.h"

void frame_init(struct frame_reader *fr, size_t max)
{
    buf_init(&fr->buf);
    fr->start = fr->scan = fr->want = 0;
    fr->max = max;
}

void frame_release(struct frame_reader *fr)
{
    buf_release(&fr->buf);
    fr->start = fr->scan = fr->want = 0;
}

void frame_set_max(struct frame_reader *fr, size_t max)
{
    fr->max = max;
}

void frame_push(struct frame_reader *fr, const char *data, size_t len)
{
    /* Drop what was handed out before growing, so the buffer holds at most
     * one partial line plus the new bytes. */
    if (fr->start > 0) {
        buf_consume(&fr->buf, fr->start);
        fr->scan -= fr->start;
        fr->line = fr->nl = 0; /* no line to put back any more */
        fr->start = 0;
    }
    buf_add(&fr->buf, data, len);
}

int frame_next(struct frame_reader *fr, char **line, size_t *len)
{
    char *base = fr->buf.data;
    if (fr->want) {
        if (fr->buf.len - fr->start < fr->want)
            return 0;
        fr->want = 0;
    }
    if (!base || fr->scan >= fr->buf.len) {
        if (fr->buf.len - fr->start > fr->max)
            return DTR_EMSGSIZE;
        return 0;
    }
    char *nl = memchr(base + fr->scan, '\n', fr->buf.len - fr->scan);
    if (!nl) {
        fr->scan = fr->buf.len;
        if (fr->buf.len - fr->start > fr->max)
            return DTR_EMSGSIZE;
        return 0;
    }
    size_t n = (size_t)(nl - (base + fr->start));
    if (n > fr->max)
        return DTR_EMSGSIZE;
    *line = base + fr->start;
    *nl = '\0';
    fr->line = fr->start;
    fr->nl = (size_t)(nl - base);
    fr->cr = n > 0 && (*line)[n - 1] == '\r';
    if (fr->cr)
        (*line)[--n] = '\0';
    *len = n;
    fr->start = fr->scan = fr->nl + 1;
    return 1;
}

int frame_payload(struct frame_reader *fr, size_t n, const char **p)
{
    if (fr->buf.len - fr->start >= n) {
        *p = fr->buf.data + fr->start;
        fr->start = fr->scan = fr->start + n;
        return 1;
    }
    /* Put the line back as it came, and wait for all of it. */
    fr->buf.data[fr->nl] = '\n';
    if (fr->cr)
        fr->buf.data[fr->nl - 1] = '\r';
    fr->want = fr->nl + 1 - fr->line + n;
    fr->start = fr->scan = fr->line;
    return 0;
}

void frame_shrink(struct frame_reader *fr)
{
    if (fr->start == fr->buf.len && fr->buf.cap > FRAME_KEEP_BYTES) {
        buf_release(&fr->buf);
        fr->start = fr->scan = 0;
    }
}
