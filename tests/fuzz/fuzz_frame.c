/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for proto/frame: the input's first bytes choose the line
 * limits, when the limit changes and how the rest is chunked; the rest is
 * the byte stream. Each push is drained and the lines must match a plain
 * reference split of the stream, up to the first over-long line, which must
 * be reported as DTR_EMSGSIZE. A line that starts with '#' announces raw
 * bytes after it (its second byte mod 100 of them), taken with
 * frame_payload(): the line comes again until they have all arrived.
 */
#include <stdbool.h>
#include <string.h>

#include "common/err.h"
#include "fuzz.h"
#include "proto/frame.h"

#define HEADER 4

/* A limit from one byte: mostly small, so over-long lines are common. */
static size_t pick_max(uint8_t b)
{
    if (b < 200)
        return b;
    return (size_t)(b - 199) * 1024;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t max = 64, max2 = 64, switch_after = 0;
    uint32_t rng = 1;
    if (size >= HEADER) {
        max = pick_max(data[0]);
        max2 = pick_max(data[1]);
        switch_after = data[2] % 8; /* 0: never */
        rng = (uint32_t)data[3] * 2654435761u + 1;
        data += HEADER;
        size -= HEADER;
    }
    const char *stream = (const char *)data;

    /* The reference: position of the next expected line in the stream, and
     * the limit in force for it. */
    size_t ref = 0, lines = 0, limit = max;
    bool failed = false, waiting = false;

    struct frame_reader fr;
    frame_init(&fr, max);
    for (size_t off = 0; off < size && !failed;) {
        rng = rng * 1103515245u + 12345u;
        size_t n = (rng >> 16) % 64 + 1;
        if ((rng >> 8) % 16 == 0)
            n = (rng >> 4) % 4096 + 1; /* now and then a big chunk */
        if (n > size - off)
            n = size - off;
        frame_push(&fr, stream + off, n);
        off += n;
        for (;;) {
            char *line;
            size_t len;
            int rc = frame_next(&fr, &line, &len);
            /* Where the reference says the next line ends, if it has. */
            const char *nl = memchr(stream + ref, '\n', off - ref);
            size_t raw = nl ? (size_t)(nl - (stream + ref)) : off - ref;
            size_t extra = 0; /* the payload the line announces */
            if (nl && raw >= 2 && stream[ref] == '#')
                extra = (uint8_t)stream[ref + 1] % 100;
            bool whole = nl && off - (ref + raw + 1) >= extra;
            if (rc == 0) {
                /* Needs more bytes: no complete line pending (or not yet
                 * its payload), and the partial one is within the limit. */
                FUZZ_CHECK(!nl || (rc == 0 && waiting && !whole));
                FUZZ_CHECK(raw <= limit);
                break;
            }
            if (rc < 0) {
                FUZZ_CHECK(rc == DTR_EMSGSIZE);
                FUZZ_CHECK(raw > limit);
                failed = true;
                break;
            }
            FUZZ_CHECK(rc == 1);
            FUZZ_CHECK(nl != NULL);
            FUZZ_CHECK(raw <= limit);
            size_t want = raw;
            if (want > 0 && stream[ref + want - 1] == '\r')
                want--;
            FUZZ_CHECK(len == want);
            FUZZ_CHECK(line[len] == '\0');
            FUZZ_CHECK(memcmp(line, stream + ref, len) == 0);
            if (extra) {
                const char *p;
                int got = frame_payload(&fr, extra, &p);
                FUZZ_CHECK(got == (whole ? 1 : 0));
                waiting = !whole;
                if (!whole)
                    continue; /* frame_next() says 0 until it is here */
                FUZZ_CHECK(memcmp(p, stream + ref + raw + 1, extra) == 0);
            }
            waiting = false;
            ref += raw + 1 + extra;
            lines++;
            if (switch_after && lines == switch_after) {
                frame_set_max(&fr, max2);
                limit = max2;
            }
        }
    }
    frame_release(&fr);
    return 0;
}
