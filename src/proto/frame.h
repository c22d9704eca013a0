/* SPDX-License-Identifier: MIT */
/*
 * Line framing: the wire carries one JSON message per '\n'-terminated line.
 * The reader collects bytes and hands out complete lines; a line longer than
 * the limit in force is an error (the caller replies and closes). The limits
 * below are the protocol's and are documented in docs/protocol.md.
 */
#ifndef DTR_PROTO_FRAME_H
#define DTR_PROTO_FRAME_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

/* Before a peer has authenticated, a line may be at most this long: a
 * hello is well under 1 KiB (what a worker holds travels after the
 * handshake, in held messages), so an unproven peer cannot make a node hold
 * much. */
#define FRAME_MAX_HELLO (16u * 1024)
/* Any line after the handshake (a result carries two captured streams of up
 * to 1 MiB each, which JSON escaping can grow up to six times). */
#define FRAME_MAX_LINE (16u * 1024 * 1024)
/* JSON nesting depth accepted by the decoder. */
#define FRAME_MAX_DEPTH 32

/* A frame reader's buffer larger than this is freed once it is empty, so a
 * peer that sent one long line does not keep its memory. */
#define FRAME_KEEP_BYTES (256u * 1024)

struct frame_reader {
    struct buf buf;
    size_t start; /* first byte not yet handed out */
    size_t scan;  /* bytes before this hold no '\n' */
    size_t max;   /* longest line accepted, without its '\n' */
    size_t want;  /* bytes from start that must be here before the next
                   * line is handed out (a line and its payload), or 0 */
    size_t line;  /* where the line handed out last starts */
    size_t nl;    /* and where its '\n' was */
    bool cr;      /* whether a '\r' before it was cut too */
};

void frame_init(struct frame_reader *fr, size_t max);
void frame_release(struct frame_reader *fr);
void frame_set_max(struct frame_reader *fr, size_t max);
/* Appends received bytes. */
void frame_push(struct frame_reader *fr, const char *data, size_t len);
/*
 * Returns the next complete line through *line and *len (without '\n' or a
 * trailing '\r'; NUL-terminated; valid until the next frame_push), 1 when a
 * line was returned, 0 when more bytes are needed, or DTR_EMSGSIZE when the
 * pending line exceeds the limit.
 */
int frame_next(struct frame_reader *fr, char **line, size_t *len);
/*
 * A line may announce raw bytes that follow its '\n' (an output message's
 * "size"): called right after frame_next() returned that line, takes n
 * bytes past it and returns 1 with *p pointing at them (valid until the
 * next frame_push). When fewer are here, returns 0 and puts the line back:
 * frame_next() hands it out again once it and its n bytes have arrived.
 * n is bounded by the caller (the message's own limit).
 */
int frame_payload(struct frame_reader *fr, size_t n, const char **p);
/* Bytes received and not yet handed out: a partial line, and complete lines
 * frame_next() has not returned yet. */
static inline size_t frame_held(const struct frame_reader *fr)
{
    return fr->buf.len - fr->start;
}
/* Frees the buffer when it holds nothing and is larger than FRAME_KEEP_BYTES. */
void frame_shrink(struct frame_reader *fr);

#endif
