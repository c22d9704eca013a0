/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for msg_parse(): any input must be refused cleanly or parse;
 * what parses must encode (as its sender would: msg_encode(), or the
 * msg_run_*() calls for a run) to one line that parses again, and encoding
 * that must give the same line (the encoding is a fixed point). A status
 * reply is also re-encoded with status_encode(), and a task record with
 * task_info_encode_display() (`dtr result --json`), which must read back to
 * the same record, output bytes included. And the shortcuts past
 * json-c for dtr's own spelling must agree with the full parser: the input
 * with a space after its '{' (which no shortcut takes) must parse or fail
 * alike, and encode to the same line.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "fuzz.h"
#include "proto/msg.h"

static void encode(struct buf *b, const struct msg *m)
{
    if (m->type != MSG_RUN) {
        msg_encode(b, m);
        return;
    }
    struct buf spec = BUF_INIT;
    msg_run_begin(b);
    for (size_t i = 0; i < m->nruns; i++) {
        buf_reset(&spec);
        spec_encode(&spec, &m->runs[i].spec);
        msg_run_add(b, i == 0, m->runs[i].lease, m->runs[i].attempt, spec.data);
    }
    msg_run_end(b);
    buf_release(&spec);
}

/* Parses a line we wrote; it must succeed. */
static void reparse(const struct buf *b, struct msg *m)
{
    char err[512];
    FUZZ_CHECK(b->len > 0 && b->data[b->len - 1] == '\n');
    FUZZ_CHECK(memchr(b->data, '\n', b->len - 1) == NULL);
    if (msg_parse(b->data, b->len - 1, m, err, sizeof(err)) != 0) {
        fprintf(stderr, "our own line does not parse: %s\n%.2000s", err, b->data);
        FUZZ_CHECK(!"re-parse");
    }
}

/* Parses data with a space after its leading '{': the full path only. */
static int parse_slow(const uint8_t *data, size_t size, struct msg *m, struct buf *enc)
{
    char err[512];
    char *slow = malloc(size + 1);
    slow[0] = '{';
    slow[1] = ' ';
    memcpy(slow + 2, data + 1, size - 1);
    int rc = msg_parse(slow, size + 1, m, err, sizeof(err));
    free(slow);
    if (rc == 0) {
        encode(enc, m);
        msg_release(m);
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct msg m, m2, m3;
    struct buf b1 = BUF_INIT, b2 = BUF_INIT, bs = BUF_INIT;
    char err[512];

    int rc = msg_parse((const char *)data, size, &m, err, sizeof(err));
    if (size > 0 && data[0] == '{') {
        struct msg ms;
        int rs = parse_slow(data, size, &ms, &bs);
        if ((rc == 0) != (rs == 0)) {
            fprintf(stderr, "the shortcut and the full parser disagree: %d vs %d\n", rc, rs);
            FUZZ_CHECK(!"shortcut");
        }
    }
    if (rc != 0) {
        FUZZ_CHECK(strlen(err) > 0);
        buf_release(&bs);
        return 0;
    }
    encode(&b1, &m);
    if (bs.len && (bs.len != b1.len || memcmp(bs.data, b1.data, b1.len) != 0)) {
        fprintf(stderr, "the shortcut and the full parser read differently:\n%.2000s%.2000s",
                b1.data, bs.data);
        FUZZ_CHECK(!"shortcut");
    }
    buf_release(&bs);
    reparse(&b1, &m2);
    FUZZ_CHECK(m2.type == m.type);
    encode(&b2, &m2);
    if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0) {
        fprintf(stderr, "encoding is not a fixed point:\n%.2000s%.2000s", b1.data, b2.data);
        FUZZ_CHECK(!"fixed point");
    }

    if (m.type == MSG_STATUS && m.workers) {
        buf_reset(&b1);
        buf_addstr(&b1, "{\"type\":\"status\",\"status\":");
        status_encode(&b1, m.workers, m.nworkers, m.counts, m.jobs_active, m.jobs_ended,
                      m.unschedulable);
        buf_addstr(&b1, "}\n");
        reparse(&b1, &m3);
        FUZZ_CHECK(m3.nworkers == m.nworkers);
        msg_release(&m3);
    }

    if (m.type == MSG_TASK) {
        buf_reset(&b1);
        buf_addstr(&b1, "{\"type\":\"task\",\"task\":");
        task_info_encode_display(&b1, &m.task);
        buf_addstr(&b1, "}\n");
        reparse(&b1, &m3);
        buf_reset(&b1);
        encode(&b1, &m3);
        if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0) {
            fprintf(stderr, "the display form reads back differently:\n%.2000s%.2000s", b2.data,
                    b1.data);
            FUZZ_CHECK(!"display");
        }
        msg_release(&m3);
    }

    msg_release(&m2);
    msg_release(&m);
    buf_release(&b1);
    buf_release(&b2);
    return 0;
}
