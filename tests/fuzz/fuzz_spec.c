/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for spec_parse(): a spec that parses must have a canonical
 * encoding that parses to the same canonical encoding, and must survive the
 * trips the system gives it: inside a submit (client to master), inside a
 * run with an id (master to worker), and through payload_eval() into a
 * result message (worker to master). spec_kind() must agree with the kind,
 * spec_labels() must find exactly the labels, and every label must match,
 * and spec_request() must read back the request.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "fuzz.h"
#include "proto/msg.h"
#include "worker/builtin.h"

/* msg_parse() of a line we built; it must succeed. */
static void must_parse(const struct buf *b, struct msg *m)
{
    char err[512];
    if (msg_parse(b->data, b->len, m, err, sizeof(err)) != 0) {
        fprintf(stderr, "message built from an accepted spec does not parse: %s\n%.2000s\n", err,
                b->data);
        FUZZ_CHECK(!"message parse");
    }
}

/* The master reads labels from canonical text: spec_labels() must find the
 * object labels_encode() wrote, and labels_match() every pair of it. */
static void check_labels(const struct task_spec *s, const char *canonical)
{
    size_t len = 0;
    const char *obj = spec_labels(canonical, &len);
    FUZZ_CHECK((obj != NULL) == (s->nlabels > 0));
    if (!obj)
        return;
    struct buf want = BUF_INIT, pair = BUF_INIT;
    labels_encode(&want, s->labels, s->nlabels);
    FUZZ_CHECK(want.len == len && memcmp(want.data, obj, len) == 0);
    for (size_t i = 0; i < s->nlabels; i++) {
        buf_reset(&pair);
        labels_pair_encode(&pair, s->labels[i]);
        char *one[] = {pair.data};
        FUZZ_CHECK(labels_match(obj, len, one, 1));
    }
    FUZZ_CHECK(labels_match(obj, len, s->labels, 0));
    buf_release(&want);
    buf_release(&pair);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct task_spec s, s2;
    struct buf c1 = BUF_INIT, c2 = BUF_INIT, line = BUF_INIT;
    struct msg m;
    char err[512];

    int rc = spec_parse((const char *)data, size, &s, err, sizeof(err));
    /* The shortcut must agree with the full parser: the same text with a
     * space after its '{' (which no shortcut takes) parses or fails alike,
     * to the same canonical spec. */
    if (size > 0 && data[0] == '{') {
        struct task_spec slow;
        char *text = malloc(size + 1);
        FUZZ_CHECK(text != NULL);
        text[0] = '{';
        text[1] = ' ';
        memcpy(text + 2, data + 1, size - 1);
        int rs = spec_parse(text, size + 1, &slow, err, sizeof(err));
        free(text);
        FUZZ_CHECK((rc == 0) == (rs == 0));
        if (rs == 0) {
            if (rc == 0) {
                spec_encode(&c1, &s);
                spec_encode(&c2, &slow);
                if (strcmp(c1.data, c2.data) != 0) {
                    fprintf(stderr, "the shortcut and the full parser differ:\n%.2000s\n%.2000s\n",
                            c1.data, c2.data);
                    FUZZ_CHECK(!"shortcut");
                }
                buf_reset(&c1);
                buf_reset(&c2);
            }
            spec_release(&slow);
        }
    }
    if (rc != 0) {
        FUZZ_CHECK(strlen(err) > 0);
        return 0;
    }
    spec_encode(&c1, &s);
    if (spec_parse(c1.data, c1.len, &s2, err, sizeof(err)) != 0) {
        fprintf(stderr, "canonical spec does not parse: %s\n%.2000s\n", err, c1.data);
        FUZZ_CHECK(!"canonical parse");
    }
    spec_encode(&c2, &s2);
    if (strcmp(c1.data, c2.data) != 0) {
        fprintf(stderr, "canonical form is not stable:\n%.2000s\n%.2000s\n", c1.data, c2.data);
        FUZZ_CHECK(!"canonical stable");
    }
    FUZZ_CHECK(strcmp(spec_kind(c1.data), task_kind_name(s.kind)) == 0);
    check_labels(&s, c1.data);

    /* spec_deps() reads back exactly the dependencies the spec holds. */
    char **after, **after_any;
    size_t nafter, nafter_any;
    FUZZ_CHECK(spec_deps(c1.data, &after, &nafter, &after_any, &nafter_any) == 0);
    FUZZ_CHECK(nafter == s.nafter && nafter_any == s.nafter_any);
    for (size_t i = 0; i < nafter; i++)
        FUZZ_CHECK(strcmp(after[i], s.after[i]) == 0);
    for (size_t i = 0; i < nafter_any; i++)
        FUZZ_CHECK(strcmp(after_any[i], s.after_any[i]) == 0);
    spec_free_ids(after, nafter);
    spec_free_ids(after_any, nafter_any);

    /* spec_request() (its shortcut first) reads back exactly the request. */
    struct request want, got;
    if (s.req)
        want = *s.req;
    else
        res_default(&want);
    FUZZ_CHECK(spec_request(c1.data, &got) == 0);
    FUZZ_CHECK(res_equal(&want, &got));

    /* Client to master. */
    buf_addstr(&line, "{\"type\":\"submit\",\"tasks\":[");
    buf_add(&line, c1.data, c1.len);
    buf_addstr(&line, "]}");
    must_parse(&line, &m);
    FUZZ_CHECK(m.nspecs == 1);
    msg_release(&m);

    /* Master to worker: the master gives every task an id. */
    if (!s2.id)
        s2.id = strdup("fuzz-1");
    FUZZ_CHECK(s2.id != NULL);
    buf_reset(&c2);
    spec_encode(&c2, &s2);
    buf_reset(&line);
    msg_run_begin(&line);
    msg_run_add(&line, true, 1, 1, c2.data);
    msg_run_end(&line);
    must_parse(&line, &m);
    FUZZ_CHECK(m.nruns == 1);
    buf_reset(&c1);
    spec_encode(&c1, &m.runs[0].spec);
    FUZZ_CHECK(strcmp(c1.data, c2.data) == 0);
    msg_release(&m);

    /* Worker to master: a built-in kind's result. */
    if (s.kind != KIND_EXEC) {
        char *result = NULL;
        int64_t sleep_ms = 0;
        if (payload_eval(s.kind, s.payload, &result, &sleep_ms, err, sizeof(err)) == 0) {
            struct msg r;
            memset(&r, 0, sizeof(r));
            r.type = MSG_RESULT;
            r.result.lease = 1;
            r.result.id = s2.id;
            r.result.attempt = 1;
            r.result.ok = true;
            r.result.out.result = result;
            FUZZ_CHECK(sleep_ms >= 0);
            buf_reset(&line);
            msg_encode(&line, &r);
            must_parse(&line, &m);
            msg_release(&m);
            free(result);
        } else {
            FUZZ_CHECK(result == NULL);
        }
    }

    spec_release(&s);
    spec_release(&s2);
    buf_release(&c1);
    buf_release(&c2);
    buf_release(&line);
    return 0;
}
