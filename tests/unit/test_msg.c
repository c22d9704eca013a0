/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for proto/msg.c: encode/parse round trips of every message
 * type, run messages built from canonical specs, malformed envelopes and
 * bodies, the one rule for unknown fields, and the task and status records
 * clients print.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "proto_test.h"

/* ---- round trips ----------------------------------------------------------- */

static void test_roundtrip_hello(void **state UNUSED)
{
    struct msg in = {.type = MSG_HELLO};
    struct msg out;

    in.proto = PROTO_VERSION;
    in.role = (char *)"worker";
    in.id = (char *)"w1";
    in.nonce = (char *)"abcdef0123";
    in.addr = (char *)"127.0.0.1:5001";
    in.slots = 4;
    in.draining = true;
    encode_parse(&in, &out);
    assert_int_equal(out.proto, PROTO_VERSION);
    assert_string_equal(out.role, "worker");
    assert_string_equal(out.id, "w1");
    assert_string_equal(out.nonce, "abcdef0123");
    assert_false(out.auth);
    assert_string_equal(out.addr, "127.0.0.1:5001");
    assert_int_equal(out.slots, 4);
    assert_true(out.draining);
    msg_release(&out);

    /* The acceptor's reply: a master with a token, no slots. */
    memset(&in, 0, sizeof(in));
    in.type = MSG_HELLO;
    in.proto = PROTO_VERSION;
    in.role = (char *)"master";
    in.nonce = (char *)"n2";
    in.auth = true;
    encode_parse(&in, &out);
    assert_string_equal(out.role, "master");
    assert_null(out.id);
    assert_true(out.auth);
    assert_int_equal(out.slots, 0);
    assert_false(out.draining);
    msg_release(&out);

    /* A client. */
    memset(&in, 0, sizeof(in));
    in.type = MSG_HELLO;
    in.proto = PROTO_VERSION;
    in.role = (char *)"client";
    in.nonce = (char *)"n3";
    encode_parse(&in, &out);
    assert_string_equal(out.role, "client");
    msg_release(&out);
}

static void test_roundtrip_held(void **state UNUSED)
{
    struct lease_ref held[] = {{7, (char *)"t-1"}, {9, (char *)"t-2"}};
    struct msg in = {.type = MSG_HELD};
    struct msg out;
    in.held = held;
    in.nheld = 2;
    in.more = true;
    encode_parse(&in, &out);
    assert_int_equal(out.nheld, 2);
    assert_int_equal(out.held[0].lease, 7);
    assert_string_equal(out.held[0].id, "t-1");
    assert_int_equal(out.held[1].lease, 9);
    assert_string_equal(out.held[1].id, "t-2");
    assert_true(out.more);
    msg_release(&out);

    /* The last one, possibly empty, says no more. */
    in.nheld = 0;
    in.more = false;
    encode_parse(&in, &out);
    assert_int_equal(out.nheld, 0);
    assert_false(out.more);
    msg_release(&out);
}

static void test_roundtrip_simple(void **state UNUSED)
{
    static const enum msg_type bare[] = {MSG_PING, MSG_DRAIN, MSG_END, MSG_STATUS};
    struct msg in, out;

    for (size_t i = 0; i < ARRAY_SIZE(bare); i++) {
        memset(&in, 0, sizeof(in));
        in.type = bare[i];
        encode_parse(&in, &out);
        msg_release(&out);
    }

    memset(&in, 0, sizeof(in));
    in.type = MSG_AUTH;
    in.proof = (char *)"feedface";
    encode_parse(&in, &out);
    assert_string_equal(out.proof, "feedface");
    msg_release(&out);

    memset(&in, 0, sizeof(in));
    in.type = MSG_ERROR;
    in.error = (char *)"field 'x' is \"bad\"\nnext line\t\\";
    encode_parse(&in, &out);
    assert_string_equal(out.error, in.error);
    msg_release(&out);

    memset(&in, 0, sizeof(in));
    in.type = MSG_PONG;
    in.busy = 3;
    encode_parse(&in, &out);
    assert_int_equal(out.busy, 3);
    msg_release(&out);

    memset(&in, 0, sizeof(in));
    in.type = MSG_LIST;
    in.state = -1;
    encode_parse(&in, &out);
    assert_int_equal(out.state, -1);
    msg_release(&out);
    for (int s = 0; s < TASK_NSTATES; s++) {
        in.state = s;
        encode_parse(&in, &out);
        assert_int_equal(out.state, s);
        msg_release(&out);
    }

    memset(&in, 0, sizeof(in));
    in.type = MSG_GET;
    in.id = (char *)"job-42";
    encode_parse(&in, &out);
    assert_string_equal(out.id, "job-42");
    msg_release(&out);

    memset(&in, 0, sizeof(in));
    in.type = MSG_PROGRESS;
    in.total = 100;
    in.done = 40;
    in.failed = 3;
    encode_parse(&in, &out);
    assert_int_equal(out.total, 100);
    assert_int_equal(out.done, 40);
    assert_int_equal(out.failed, 3);
    assert_false(out.final);
    msg_release(&out);
    in.final = true;
    encode_parse(&in, &out);
    assert_true(out.final);
    msg_release(&out);
}

static void test_roundtrip_error_helper(void **state UNUSED)
{
    struct buf b = BUF_INIT;
    struct msg m;
    msg_encode_error(&b, "line too long; closing");
    assert_string_equal(b.data, "{\"type\":\"error\",\"error\":\"line too long; closing\"}\n");
    parse_ok(b.data, &m);
    assert_int_equal(m.type, MSG_ERROR);
    assert_string_equal(m.error, "line too long; closing");
    msg_release(&m);
    buf_release(&b);
}

static void test_roundtrip_leases(void **state UNUSED)
{
    static const enum msg_type types[] = {MSG_KILL, MSG_ACK};
    uint64_t leases[] = {1, 2, 9007199254740993ull, INT64_MAX};
    for (size_t t = 0; t < ARRAY_SIZE(types); t++) {
        struct msg in = {.type = types[t]}, out;
        in.leases = leases;
        in.nleases = ARRAY_SIZE(leases);
        encode_parse(&in, &out);
        assert_int_equal(out.nleases, ARRAY_SIZE(leases));
        for (size_t i = 0; i < ARRAY_SIZE(leases); i++)
            assert_true(out.leases[i] == leases[i]);
        msg_release(&out);
        in.nleases = 0;
        encode_parse(&in, &out);
        assert_int_equal(out.nleases, 0);
        msg_release(&out);
    }
}

static void test_roundtrip_result(void **state UNUSED)
{
    static const char bin[] = {'o', 'u', 't', '\0', '\n', '"', '\\', 0x01, 'x'};
    struct msg in = {.type = MSG_RESULT}, out;
    struct attempt_result *r = &in.result;
    r->lease = 12345;
    r->id = (char *)"task-9";
    r->attempt = 2;
    r->ok = false;
    r->exit_code = 3;
    r->term_signal = 0;
    r->error = (char *)"exit status 3";
    r->out.out = (char *)bin;
    r->out.out_len = sizeof(bin);
    r->out.out_truncated = true;
    r->out.err = (char *)"warn\n";
    r->out.err_len = 5;
    r->out.result = (char *)"{\"sum\":[1,2.5,\"x\"]}";
    r->started_at = 1700000000123;
    r->finished_at = 1700000004567;
    encode_parse(&in, &out);
    assert_int_equal(out.result.lease, 12345);
    assert_string_equal(out.result.id, "task-9");
    assert_int_equal(out.result.attempt, 2);
    assert_false(out.result.ok);
    assert_false(out.result.refused);
    assert_int_equal(out.result.exit_code, 3);
    assert_int_equal(out.result.term_signal, 0);
    assert_string_equal(out.result.error, "exit status 3");
    /* Captured output is binary-safe, NULs included. */
    assert_int_equal(out.result.out.out_len, sizeof(bin));
    assert_memory_equal(out.result.out.out, bin, sizeof(bin));
    assert_true(out.result.out.out_truncated);
    assert_int_equal(out.result.out.err_len, 5);
    assert_string_equal(out.result.out.err, "warn\n");
    assert_false(out.result.out.err_truncated);
    assert_string_equal(out.result.out.result, "{\"sum\":[1,2.5,\"x\"]}");
    assert_int_equal(out.result.started_at, 1700000000123);
    assert_int_equal(out.result.finished_at, 1700000004567);
    msg_release(&out);

    /* Killed by a signal, refused, no output and no result. */
    memset(&in, 0, sizeof(in));
    in.type = MSG_RESULT;
    r->lease = 1;
    r->id = (char *)"t";
    r->attempt = 1;
    r->refused = true;
    r->exit_code = -1;
    r->term_signal = 9;
    encode_parse(&in, &out);
    assert_true(out.result.refused);
    assert_int_equal(out.result.exit_code, -1);
    assert_int_equal(out.result.term_signal, 9);
    assert_null(out.result.error);
    assert_int_equal(out.result.out.out_len, 0);
    assert_null(out.result.out.result);
    msg_release(&out);

    /* A success with a built-in result. */
    r->refused = false;
    r->ok = true;
    r->exit_code = 0;
    r->term_signal = 0;
    r->out.result = (char *)"42";
    encode_parse(&in, &out);
    assert_true(out.result.ok);
    assert_string_equal(out.result.out.result, "42");
    msg_release(&out);
}

static void test_roundtrip_submit(void **state UNUSED)
{
    static const char *const specs[] = {
        ("{\"id\":\"a\",\"argv\":[\"echo\",\"hi there\"],\"env\":{\"K\":\"v=1\"},\"cwd\":\"/tmp\","
         "\"priority\":\"high\",\"max_retries\":0,\"timeout\":\"1.5s\"}"),
        "{\"cmd\":\"exit 3\"}",
        "{\"kind\":\"compute\",\"payload\":{\"numbers\":[1,2,3.5]},\"priority\":-7}",
        "{\"kind\":\"transform\",\"payload\":{\"data\":\"abc\"}}",
        "{\"kind\":\"echo\",\"payload\":[1,{\"x\":null},\"s\"]}",
        "{\"kind\":\"sleep\",\"payload\":{\"seconds\":0.25},\"timeout\":10}",
        "{\"kind\":\"noop\",\"id\":\"n-1\"}",
    };
    struct task_spec parsed[ARRAY_SIZE(specs)];
    struct msg in = {.type = MSG_SUBMIT}, out;
    for (size_t i = 0; i < ARRAY_SIZE(specs); i++)
        spec_ok(specs[i], &parsed[i]);
    in.specs = parsed;
    in.nspecs = ARRAY_SIZE(specs);
    encode_parse(&in, &out);
    assert_int_equal(out.nspecs, ARRAY_SIZE(specs));
    for (size_t i = 0; i < ARRAY_SIZE(specs); i++) {
        struct buf a = BUF_INIT, b = BUF_INIT;
        spec_encode(&a, &parsed[i]);
        spec_encode(&b, &out.specs[i]);
        assert_string_equal(a.data, b.data);
        buf_release(&a);
        buf_release(&b);
    }
    assert_int_equal(out.specs[0].priority, 3);
    assert_int_equal(out.specs[0].timeout_ms, 1500);
    assert_int_equal(out.specs[2].kind, KIND_COMPUTE);
    assert_int_equal(out.specs[2].priority, -7);
    msg_release(&out);
    for (size_t i = 0; i < ARRAY_SIZE(specs); i++)
        spec_release(&parsed[i]);
}

static void test_roundtrip_ids(void **state UNUSED)
{
    static const enum msg_type types[] = {MSG_SUBMITTED, MSG_CANCEL, MSG_CANCELLED, MSG_WAIT};
    char *ids[] = {(char *)"a", (char *)"job-2", (char *)"x\"y\\z{}", NULL};
    char *longid = repeat('L', MSG_MAX_ID);
    ids[2] = longid;
    for (size_t t = 0; t < ARRAY_SIZE(types); t++) {
        struct msg in = {.type = types[t]}, out;
        in.ids = ids;
        in.nids = 3;
        if (types[t] == MSG_CANCELLED)
            in.error = (char *)"task 'a' already ended";
        encode_parse(&in, &out);
        assert_int_equal(out.nids, 3);
        assert_string_equal(out.ids[0], "a");
        assert_string_equal(out.ids[1], "job-2");
        assert_string_equal(out.ids[2], longid);
        if (types[t] == MSG_CANCELLED)
            assert_string_equal(out.error, "task 'a' already ended");
        else
            assert_null(out.error);
        msg_release(&out);
    }
    /* Quotes and backslashes are printable: valid in ids, escaped on the wire. */
    {
        struct msg in = {.type = MSG_CANCEL}, out;
        char *odd[] = {(char *)"q\"\\'`~", NULL};
        in.ids = odd;
        in.nids = 1;
        encode_parse(&in, &out);
        assert_string_equal(out.ids[0], "q\"\\'`~");
        msg_release(&out);
    }
    /* wait --all carries no ids. */
    {
        struct msg in = {.type = MSG_WAIT}, out;
        in.all = true;
        encode_parse(&in, &out);
        assert_true(out.all);
        assert_int_equal(out.nids, 0);
        msg_release(&out);
    }
    free(longid);
}

static void test_roundtrip_task(void **state UNUSED)
{
    struct msg in = {.type = MSG_TASK}, out;
    struct task_info *ti = &in.task;
    ti->id = (char *)"t-7";
    ti->state = TASK_FAILED;
    ti->kind = (char *)"exec";
    ti->priority = 3;
    ti->attempts = 4;
    ti->max_retries = 3;
    ti->crashes = 1;
    ti->worker = (char *)"w2";
    ti->exit_code = 2;
    ti->error = (char *)"exit status 2";
    ti->submitted_at = 1700000000001;
    ti->started_at = 1700000000500;
    ti->finished_at = 1700000001999;
    encode_parse(&in, &out);
    assert_string_equal(out.task.id, "t-7");
    assert_int_equal(out.task.state, TASK_FAILED);
    assert_string_equal(out.task.kind, "exec");
    assert_int_equal(out.task.priority, 3);
    assert_int_equal(out.task.attempts, 4);
    assert_int_equal(out.task.max_retries, 3);
    assert_int_equal(out.task.crashes, 1);
    assert_string_equal(out.task.worker, "w2");
    assert_int_equal(out.task.exit_code, 2);
    assert_string_equal(out.task.error, "exit status 2");
    assert_int_equal(out.task.submitted_at, 1700000000001);
    assert_int_equal(out.task.started_at, 1700000000500);
    assert_int_equal(out.task.finished_at, 1700000001999);
    assert_false(out.task.has_output);
    msg_release(&out);

    /* The get reply: with output. */
    ti->has_output = true;
    ti->out.out = (char *)"hello\n";
    ti->out.out_len = 6;
    ti->out.err = (char *)"";
    ti->out.err_len = 0;
    ti->out.err_truncated = true;
    ti->out.result = (char *)"[1,2]";
    encode_parse(&in, &out);
    assert_true(out.task.has_output);
    assert_int_equal(out.task.out.out_len, 6);
    assert_string_equal(out.task.out.out, "hello\n");
    assert_true(out.task.out.err_truncated);
    assert_string_equal(out.task.out.result, "[1,2]");
    msg_release(&out);

    /* Queued: no worker, no exit code, no times but the submission. */
    memset(&in, 0, sizeof(in));
    in.type = MSG_TASK;
    ti->id = (char *)"q";
    ti->state = TASK_QUEUED;
    ti->exit_code = -1;
    ti->submitted_at = 1;
    encode_parse(&in, &out);
    assert_int_equal(out.task.state, TASK_QUEUED);
    assert_null(out.task.worker);
    assert_null(out.task.kind);
    assert_int_equal(out.task.exit_code, -1);
    assert_int_equal(out.task.submitted_at, 1);
    assert_int_equal(out.task.started_at, 0);
    assert_int_equal(out.task.finished_at, 0);
    msg_release(&out);
}

/* ---- run messages ---------------------------------------------------------- */

static void test_run_message(void **state UNUSED)
{
    static const char *const specs[] = {
        "{\"id\":\"r1\",\"argv\":[\"/bin/true\"],\"timeout\":2}",
        "{\"id\":\"r2\",\"kind\":\"compute\",\"payload\":{\"numbers\":[2,3]},\"priority\":\"low\"}",
        ("{\"id\":\"r3\",\"cmd\":\"echo $HOME\",\"env\":{\"A\":\"\",\"B\":\"\\u00e9\"},"
         "\"max_retries\":1000}"),
    };
    char *canonical[ARRAY_SIZE(specs)];
    struct buf b = BUF_INIT;
    struct msg m;

    msg_run_begin(&b);
    for (size_t i = 0; i < ARRAY_SIZE(specs); i++) {
        canonical[i] = canon(specs[i]);
        msg_run_add(&b, i == 0, 100 + i, (int)i + 1, canonical[i]);
    }
    msg_run_end(&b);
    assert_int_equal(b.data[b.len - 1], '\n');
    assert_null(memchr(b.data, '\n', b.len - 1));
    json_object_put(strict_json(b.data, b.len - 1));
    parse_ok_n(b.data, b.len - 1, &m);
    assert_int_equal(m.type, MSG_RUN);
    assert_int_equal(m.nruns, ARRAY_SIZE(specs));
    for (size_t i = 0; i < ARRAY_SIZE(specs); i++) {
        struct buf e = BUF_INIT;
        assert_int_equal(m.runs[i].lease, 100 + i);
        assert_int_equal(m.runs[i].attempt, (int)i + 1);
        spec_encode(&e, &m.runs[i].spec);
        assert_string_equal(e.data, canonical[i]);
        buf_release(&e);
        free(canonical[i]);
    }
    assert_int_equal(m.runs[0].spec.timeout_ms, 2000);
    assert_int_equal(m.runs[1].spec.kind, KIND_COMPUTE);
    assert_int_equal(m.runs[1].spec.priority, 1);
    assert_int_equal(m.runs[2].spec.envc, 2);
    assert_string_equal(m.runs[2].spec.env[0], "A=");
    assert_string_equal(m.runs[2].spec.env[1], "B=\xc3\xa9");
    assert_int_equal(m.runs[2].spec.max_retries, 1000);
    msg_release(&m);

    /* An empty run parses (nothing to start). */
    buf_reset(&b);
    msg_run_begin(&b);
    msg_run_end(&b);
    parse_ok(b.data, &m);
    assert_int_equal(m.nruns, 0);
    msg_release(&m);
    buf_release(&b);
}

static void test_run_bad(void **state UNUSED)
{
    parse_bad("{\"type\":\"run\"}", "'tasks'");
    parse_bad("{\"type\":\"run\",\"tasks\":{}}", "'tasks'");
    parse_bad("{\"type\":\"run\",\"tasks\":[1]}", "entry 0");
    parse_bad("{\"type\":\"run\",\"tasks\":[{\"lease\":1,\"attempt\":1}]}", "'spec'");
    parse_bad("{\"type\":\"run\",\"tasks\":[{\"attempt\":1,"
              "\"spec\":{\"id\":\"a\",\"cmd\":\"x\"}}]}",
              "'lease'");
    parse_bad("{\"type\":\"run\",\"tasks\":[{\"lease\":1,\"attempt\":0,"
              "\"spec\":{\"id\":\"a\",\"cmd\":\"x\"}}]}",
              "'attempt'");
    parse_bad("{\"type\":\"run\",\"tasks\":[{\"lease\":1,\"attempt\":1,\"spec\":{\"cmd\":\"x\"}}]}",
              "no id");
    parse_bad("{\"type\":\"run\",\"tasks\":[{\"lease\":1,\"attempt\":1,"
              "\"spec\":{\"id\":\"a\",\"cmd\":\"x\",\"kind\":\"bogus\"}}]}",
              "'kind'");
    parse_bad("{\"type\":\"run\",\"tasks\":[{\"lease\":1,\"attempt\":1,\"extra\":1,"
              "\"spec\":{\"id\":\"a\",\"cmd\":\"x\"}}]}",
              "'extra'");
    parse_bad("{\"type\":\"run\",\"tasks\":[],\"more\":1}", "'more'");
}

/* ---- messages: malformed ----------------------------------------------------- */

static void test_msg_envelope(void **state UNUSED)
{
    parse_bad_n("{\"type\":\"frobnicate\"}", 21, DTR_EPROTO, "frobnicate");
    parse_bad_n("{\"type\":\"\"}", 11, DTR_EPROTO, "unknown message type");
    parse_bad_n("{\"type\":\"PING\"}", 15, DTR_EPROTO, "PING");
    parse_bad("{}", "'type'");
    parse_bad("{\"kind\":\"ping\"}", "'type'");
    parse_bad("{\"type\":1}", "'type'");
    parse_bad("{\"type\":null}", "'type'");
    parse_bad("{\"type\":[\"ping\"]}", "'type'");
    parse_bad("{\"type\":{\"ping\":1}}", "'type'");
    parse_bad("[\"ping\"]", "object");
    parse_bad("\"ping\"", "object");
    parse_bad("42 ", "object");
    parse_bad("null ", "object");
    parse_bad("42", "JSON");
    parse_bad("", "end of input");
    parse_bad("{\"type\":\"ping\"", "end of input");
    parse_bad("{\"type\":\"ping\"} {}", "trailing");
    parse_bad("{\"type\":\"ping\"}x", "trailing");
    parse_bad_n("{\"type\":\"ping\"}\0", 16, DTR_EINVAL, "trailing");
    parse_bad("{\"type\":\"ping\",\"x\":\"\xc3\"}", "UTF-8");
    parse_bad("{\"type\":\"error\",\"error\":\"\x80\"}", "UTF-8");

    struct msg m;
    parse_ok("{\"type\":\"ping\"}  \t\r\n", &m);
    msg_release(&m);
    /* Duplicate keys: the last one counts (json-c), and it is still checked. */
    parse_ok("{\"type\":\"nope\",\"type\":\"ping\"}", &m);
    assert_int_equal(m.type, MSG_PING);
    msg_release(&m);

    /* Nesting: FRAME_MAX_DEPTH levels decode, one more does not. (In a
     * result's "result", which takes any JSON: a ping refuses the unknown
     * field "x" this test once used.) */
    static const char deep[] = "{\"type\":\"result\",\"lease\":1,\"id\":\"a\",\"attempt\":1,"
                               "\"result\":";
    struct buf b = BUF_INIT;
    buf_addstr(&b, deep);
    for (int i = 0; i < FRAME_MAX_DEPTH - 1; i++)
        buf_addch(&b, '[');
    for (int i = 0; i < FRAME_MAX_DEPTH - 1; i++)
        buf_addch(&b, ']');
    buf_addch(&b, '}');
    parse_ok(b.data, &m);
    msg_release(&m);
    buf_reset(&b);
    buf_addstr(&b, deep);
    for (int i = 0; i < FRAME_MAX_DEPTH; i++)
        buf_addch(&b, '[');
    for (int i = 0; i < FRAME_MAX_DEPTH; i++)
        buf_addch(&b, ']');
    buf_addch(&b, '}');
    parse_bad(b.data, "nesting");
    buf_release(&b);
}

static void test_msg_hello_bad(void **state UNUSED)
{
#define HELLO "{\"type\":\"hello\","
    struct msg m;
    parse_ok(HELLO "\"proto\":1,\"role\":\"client\",\"nonce\":\"n\"}", &m);
    msg_release(&m);
    parse_ok(HELLO "\"proto\":1,\"role\":\"worker\",\"id\":\"w\",\"nonce\":\"n\",\"slots\":1024,"
                   "\"version\":\"0.1.0\",\"addr\":\"h:1\",\"auth\":true}",
             &m);
    assert_true(m.auth);
    assert_int_equal(m.slots, 1024);
    msg_release(&m);

    parse_bad(HELLO "\"role\":\"client\",\"nonce\":\"n\"}", "'proto'");
    parse_bad(HELLO "\"proto\":\"1\",\"role\":\"client\",\"nonce\":\"n\"}", "'proto'");
    parse_bad(HELLO "\"proto\":-1,\"role\":\"client\",\"nonce\":\"n\"}", "'proto'");
    parse_bad(HELLO "\"proto\":1.0,\"role\":\"client\",\"nonce\":\"n\"}", "'proto'");
    parse_bad(HELLO "\"proto\":4294967296,\"role\":\"client\",\"nonce\":\"n\"}", "'proto'");
    parse_bad(HELLO "\"proto\":1,\"nonce\":\"n\"}", "'role'");
    parse_bad(HELLO "\"proto\":1,\"role\":\"boss\",\"nonce\":\"n\"}", "'role'");
    parse_bad(HELLO "\"proto\":1,\"role\":\"Worker\",\"nonce\":\"n\"}", "'role'");
    parse_bad(HELLO "\"proto\":1,\"role\":7,\"nonce\":\"n\"}", "'role'");
    parse_bad(HELLO "\"proto\":1,\"role\":\"client\"}", "'nonce'");
    parse_bad(HELLO "\"proto\":1,\"role\":\"client\",\"nonce\":5}", "'nonce'");
    parse_bad(HELLO "\"proto\":1,\"role\":\"client\",\"nonce\":\"n\",\"proof\":[]}", "'proof'");
    parse_bad(HELLO "\"proto\":1,\"role\":\"client\",\"nonce\":\"n\",\"addr\":1}", "'addr'");
    parse_bad(HELLO "\"proto\":1,\"role\":\"client\",\"nonce\":\"n\",\"draining\":1}",
              "'draining'");
    parse_bad(HELLO "\"proto\":1,\"role\":\"client\",\"nonce\":\"n\",\"id\":\"a b\"}", "'id'");
    parse_bad(HELLO "\"proto\":1,\"role\":\"client\",\"nonce\":\"n\",\"id\":\"\"}", "'id'");
    parse_bad(HELLO "\"proto\":1,\"role\":\"client\",\"nonce\":\"n\",\"token\":\"s\"}", "'token'");
    parse_bad(HELLO "\"proto\":1,\"role\":\"worker\",\"nonce\":\"n\",\"slots\":1}", "'id'");
    parse_bad(HELLO "\"proto\":1,\"role\":\"worker\",\"id\":\"w\",\"nonce\":\"n\"}", "'slots'");
    parse_bad(HELLO "\"proto\":1,\"role\":\"worker\",\"id\":\"w\",\"nonce\":\"n\",\"slots\":0}",
              "'slots'");
    parse_bad(HELLO "\"proto\":1,\"role\":\"worker\",\"id\":\"w\",\"nonce\":\"n\",\"slots\":1025}",
              "'slots'");
    parse_bad(HELLO "\"proto\":1,\"role\":\"worker\",\"id\":\"w\",\"nonce\":\"n\",\"slots\":\"4\"}",
              "'slots'");
    parse_bad(HELLO "\"proto\":1,\"role\":\"worker\",\"id\":\"w\",\"nonce\":\"n\",\"slots\":-4}",
              "'slots'");
    /* What a worker holds travels after the handshake, never in a hello. */
    parse_bad(HELLO "\"proto\":1,\"role\":\"worker\",\"id\":\"w\",\"nonce\":\"n\",\"slots\":2,"
                    "\"running\":[]}",
              "'running'");
    parse_bad(HELLO "\"proto\":1,\"role\":\"client\",\"nonce\":\"n\",\"auth\":1}", "'auth'");
#define HELD "{\"type\":\"held\","
    parse_ok(HELD "\"attempts\":[{\"lease\":1,\"id\":\"t\"}],\"more\":true}", &m);
    msg_release(&m);
    parse_bad("{\"type\":\"held\"}", "'attempts'");
    parse_bad(HELD "\"attempts\":{}}", "'attempts'");
    parse_bad(HELD "\"attempts\":[5]}", "'attempts'");
    parse_bad(HELD "\"attempts\":[{\"id\":\"t\"}]}", "'lease'");
    parse_bad(HELD "\"attempts\":[{\"lease\":-1,\"id\":\"t\"}]}", "'lease'");
    parse_bad(HELD "\"attempts\":[{\"lease\":0,\"id\":\"t\"}]}", "'lease'");
    parse_bad(HELD "\"attempts\":[{\"lease\":1}]}", "'id'");
    parse_bad(HELD "\"attempts\":[{\"lease\":1,\"id\":\"t\",\"x\":1}]}", "'x'");
    parse_bad(HELD "\"attempts\":[],\"more\":1}", "'more'");
    parse_bad(HELD "\"attempts\":[],\"extra\":1}", "'extra'");
    parse_bad("{\"type\":\"auth\",\"proof\":\"p\",\"extra\":1}", "'extra'");
#undef HELD

    /* Over the size limits of the fields. */
    struct buf b = BUF_INIT;
    char *s = repeat('n', 129);
    buf_addf(&b, HELLO "\"proto\":1,\"role\":\"client\",\"nonce\":\"%s\"}", s);
    parse_bad(b.data, "'nonce'");
    buf_reset(&b);
    buf_addf(&b, HELLO "\"proto\":1,\"role\":\"client\",\"nonce\":\"n\",\"id\":\"%s\"}", s);
    parse_bad(b.data, "'id'");
    free(s);

    /* More than MSG_MAX_KEYS fields. */
    buf_reset(&b);
    buf_addstr(&b, HELLO "\"proto\":1,\"role\":\"client\",\"nonce\":\"n\"");
    for (int i = 0; i < MSG_MAX_KEYS; i++)
        buf_addf(&b, ",\"k%d\":1", i);
    buf_addch(&b, '}');
    parse_bad(b.data, "'k0'"); /* every allowed list is far below MSG_MAX_KEYS */
    buf_release(&b);
#undef HELLO
}

/* Heartbeats take a shortcut past the JSON parser; what it accepts must be
 * what the full path would, and anything else must still reach that. */
/*
 * Parses line as it is (a shortcut may take it) into *a, and with a space
 * after its '{' (only the full parser takes that) into *b; both must succeed
 * or fail alike. Returns true when both parsed (release both then).
 */
/* Jobs on the wire: submit's job and job_name, the submitted reply's job,
 * the job filter of list, wait and cancel, the job record, status's jobs. */
static void test_msg_jobs(void **state UNUSED)
{
    struct msg m;
    struct buf b = BUF_INIT;
    parse_ok("{\"type\":\"submit\",\"tasks\":[{\"cmd\":\"true\"}],\"job_name\":\"nightly\"}", &m);
    assert_string_equal(m.job_name, "nightly");
    assert_null(m.job);
    msg_release(&m);
    parse_ok("{\"type\":\"submitted\",\"ids\":[\"t-1\"],\"job\":\"j-3\"}", &m);
    assert_string_equal(m.job, "j-3");
    msg_release(&m);
    parse_ok("{\"type\":\"cancel\",\"job\":\"j-3\"}", &m);
    assert_string_equal(m.job, "j-3");
    assert_int_equal(m.nids, 0);
    msg_encode(&b, &m);
    assert_string_equal(b.data, "{\"type\":\"cancel\",\"job\":\"j-3\"}\n");
    msg_release(&m);
    parse_ok("{\"type\":\"wait\",\"job\":\"j-3\"}", &m);
    assert_false(m.all);
    buf_reset(&b);
    msg_encode(&b, &m);
    assert_string_equal(b.data, "{\"type\":\"wait\",\"job\":\"j-3\"}\n");
    msg_release(&m);
    parse_ok("{\"type\":\"list\",\"state\":\"queued\",\"job\":\"x\"}", &m);
    assert_string_equal(m.job, "x");
    msg_release(&m);
    parse_ok("{\"type\":\"jobs\"}", &m);
    assert_int_equal(m.type, MSG_JOBS);
    msg_release(&m);

    struct job_info ji = {.id = (char *)"j-9", .submitted_at = 1700000000000, .ended_at = 0};
    ji.counts[TASK_SUCCEEDED] = 5;
    ji.counts[TASK_BLOCKED] = 2;
    buf_reset(&b);
    msg_encode_job(&b, &ji);
    parse_ok_n(b.data, b.len - 1, &m);
    assert_int_equal(m.type, MSG_JOB);
    assert_string_equal(m.job_info.id, "j-9");
    assert_int_equal(m.job_info.counts[TASK_SUCCEEDED], 5);
    assert_int_equal(m.job_info.counts[TASK_BLOCKED], 2);
    assert_int_equal(m.job_info.submitted_at, 1700000000000);
    assert_int_equal(m.job_info.ended_at, 0);
    struct buf again = BUF_INIT;
    msg_encode(&again, &m);
    assert_string_equal(again.data, b.data);
    buf_release(&again);
    msg_release(&m);

    parse_bad(
        "{\"type\":\"submit\",\"tasks\":[{\"cmd\":\"true\"}],\"job\":\"a\",\"job_name\":\"b\"}",
        "not both");
    parse_bad("{\"type\":\"submit\",\"tasks\":[{\"cmd\":\"true\"}],\"job_name\":\"a b\"}",
              "'job_name'");
    parse_bad("{\"type\":\"submit\",\"tasks\":[{\"cmd\":\"true\",\"job\":\"j-1\"}]}", "'job'");
    parse_bad("{\"type\":\"cancel\",\"ids\":[\"a\"],\"job\":\"j-1\"}", "not both");
    parse_bad("{\"type\":\"cancel\"}", "'ids'");
    parse_bad("{\"type\":\"wait\",\"all\":true,\"job\":\"j-1\"}", "one of them");
    parse_bad("{\"type\":\"list\",\"job\":7}", "'job'");
    parse_bad("{\"type\":\"job\",\"job\":{\"id\":\"j-1\",\"tasks\":{\"lost\":1}}}", "lost");
    parse_bad("{\"type\":\"status\",\"status\":{\"workers\":[],\"tasks\":{},\"jobs\":{\"x\":1}}}",
              "'x'");
    buf_release(&b);
}

/* The throttle on the wire: submit's (1..MSG_MAX_THROTTLE), the job
 * record's (null when none), refused in a user's spec. */
static void test_msg_throttle(void **state UNUSED)
{
    struct msg m;
    struct buf b = BUF_INIT;
    parse_ok("{\"type\":\"submit\",\"tasks\":[{\"cmd\":\"true\"}],\"job_name\":\"a\",\"throttle\":"
             "10}",
             &m);
    assert_int_equal(m.throttle, 10);
    msg_encode(&b, &m);
    assert_non_null(strstr(b.data, ",\"job_name\":\"a\",\"throttle\":10}\n"));
    msg_release(&m);
    parse_ok("{\"type\":\"submit\",\"tasks\":[{\"cmd\":\"true\"}]}", &m);
    assert_int_equal(m.throttle, 0);
    msg_release(&m);
    parse_bad("{\"type\":\"submit\",\"tasks\":[{\"cmd\":\"true\"}],\"throttle\":0}",
              "'throttle' must be an integer from 1 to 10000000");
    parse_bad("{\"type\":\"submit\",\"tasks\":[{\"cmd\":\"true\"}],\"throttle\":10000001}",
              "'throttle'");
    parse_bad("{\"type\":\"submit\",\"tasks\":[{\"cmd\":\"true\"}],\"throttle\":\"3\"}",
              "'throttle'");
    parse_bad("{\"type\":\"submit\",\"tasks\":[{\"cmd\":\"true\",\"throttle\":3}]}",
              "'throttle' is set by the master");

    struct job_info ji = {.id = (char *)"arr", .submitted_at = 1700000000000, .throttle = 3};
    for (int k = 0; k < 2; k++) {
        buf_reset(&b);
        msg_encode_job(&b, &ji);
        assert_non_null(strstr(b.data, k ? "\"throttle\":null}" : "\"throttle\":3}"));
        parse_ok_n(b.data, b.len - 1, &m);
        assert_int_equal(m.job_info.throttle, ji.throttle);
        struct buf again = BUF_INIT;
        msg_encode(&again, &m);
        assert_string_equal(again.data, b.data);
        buf_release(&again);
        msg_release(&m);
        ji.throttle = 0;
    }
    parse_bad("{\"type\":\"job\",\"job\":{\"id\":\"j-1\",\"tasks\":{},\"throttle\":0}}",
              "'throttle'");
    buf_release(&b);
}

static void test_msg_bodies_bad(void **state UNUSED)
{
    static const struct {
        const char *json;
        const char *field;
    } cases[] = {
        {"{\"type\":\"auth\"}", "'proof'"},
        {"{\"type\":\"auth\",\"proof\":1}", "'proof'"},
        {"{\"type\":\"error\"}", "'error'"},
        {"{\"type\":\"error\",\"error\":false}", "'error'"},
        {"{\"type\":\"error\",\"error\":\"a\\u0000b\"}", "'error'"},
        {"{\"type\":\"pong\",\"busy\":-1}", "'busy'"},
        {"{\"type\":\"pong\",\"busy\":\"2\"}", "'busy'"},
        {"{\"type\":\"pong\",\"busy\":1048577}", "'busy'"},
        {"{\"type\":\"pong\",\"busy\":99999999}", "'busy'"},
        {"{\"type\":\"pong\",\"busy\":1e3}", "'busy'"},
        {"{\"type\":\"kill\"}", "'leases'"},
        {"{\"type\":\"kill\",\"leases\":1}", "'leases'"},
        {"{\"type\":\"kill\",\"leases\":[0]}", "'leases'"},
        {"{\"type\":\"ack\",\"leases\":[-1]}", "'leases'"},
        {"{\"type\":\"ack\",\"leases\":[\"1\"]}", "'leases'"},
        {"{\"type\":\"ack\",\"leases\":[1.5]}", "'leases'"},
        {"{\"type\":\"ack\",\"leases\":[1,null]}", "'leases'"},
        {"{\"type\":\"revoke\",\"leases\":[0]}", "'leases'"},
        {"{\"type\":\"revoked\",\"started\":[1]}", "'returned'"},
        {"{\"type\":\"revoked\",\"returned\":[1]}", "'started'"},
        {"{\"type\":\"revoked\",\"returned\":[1],\"started\":[-2]}", "'started'"},
        {"{\"type\":\"group\",\"op\":\"add\",\"member\":4}", "'addr'"},
        {"{\"type\":\"group\",\"op\":\"add\",\"member\":0,\"addr\":\"h:1\"}", "'member'"},
        {"{\"type\":\"group\",\"op\":\"remove\",\"member\":2,\"addr\":\"h:1\"}", "'addr'"},
        {"{\"type\":\"group\",\"op\":\"add\",\"member\":4,\"addr\":\"nohost\"}", "HOST:PORT"},
        {"{\"type\":\"group\",\"op\":\"swap\",\"member\":4}", "add or remove"},
        {"{\"type\":\"submitted\"}", "'ids'"},
        {"{\"type\":\"submitted\",\"ids\":\"a\"}", "'ids'"},
        {"{\"type\":\"submitted\",\"ids\":[\"a b\"]}", "'ids'"},
        {"{\"type\":\"cancel\",\"ids\":[\"\"]}", "'ids'"},
        {"{\"type\":\"cancel\",\"ids\":[5]}", "'ids'"},
        {"{\"type\":\"cancel\",\"ids\":[\"ok\",null]}", "'ids'"},
        {"{\"type\":\"cancel\",\"ids\":[\"tab\\there\"]}", "'ids'"},
        {"{\"type\":\"cancel\",\"ids\":[\"caf\xc3\xa9\"]}", "'ids'"},
        {"{\"type\":\"cancelled\",\"ids\":[\"a\"],\"error\":1}", "'error'"},
        {"{\"type\":\"wait\"}", "'ids'"},
        {"{\"type\":\"wait\",\"all\":false}", "'ids'"},
        {"{\"type\":\"wait\",\"all\":\"yes\"}", "'all'"},
        {"{\"type\":\"wait\",\"all\":1}", "'all'"},
        {"{\"type\":\"list\",\"state\":\"done\"}", "'state'"},
        {"{\"type\":\"list\",\"state\":1}", "'state'"},
        {"{\"type\":\"get\"}", "'id'"},
        {"{\"type\":\"get\",\"id\":\"a b\"}", "'id'"},
        {"{\"type\":\"get\",\"id\":\"\"}", "'id'"},
        {"{\"type\":\"get\",\"id\":3}", "'id'"},
        {"{\"type\":\"progress\",\"done\":1}", "'total'"},
        {"{\"type\":\"progress\",\"total\":1}", "'done'"},
        {"{\"type\":\"progress\",\"total\":-1,\"done\":0}", "'total'"},
        {"{\"type\":\"progress\",\"total\":2,\"done\":1,\"failed\":\"0\"}", "'failed'"},
        {"{\"type\":\"progress\",\"total\":2,\"done\":1,\"final\":\"true\"}", "'final'"},
        {"{\"type\":\"task\"}", "'id'"},
        {"{\"type\":\"task\",\"task\":[]}", "'task'"},
        {"{\"type\":\"task\",\"task\":{\"id\":\"a\"}}", "'state'"},
        {"{\"type\":\"task\",\"task\":{\"id\":\"a\",\"state\":\"lost\"}}", "'state'"},
        {"{\"type\":\"task\",\"task\":{\"id\":\"a\",\"state\":\"queued\",\"attempts\":-1}}",
         "'attempts'"},
        {"{\"type\":\"task\",\"task\":{\"id\":\"a\",\"state\":\"failed\",\"exit_code\":256}}",
         "'exit_code'"},
        {"{\"type\":\"task\",\"task\":{\"id\":\"a\",\"state\":\"failed\",\"submitted_ms\":-5}}",
         "'submitted_ms'"},
        {"{\"type\":\"task\",\"task\":{\"id\":\"a\",\"state\":\"failed\",\"stdout\":1}}",
         "'stdout'"},
        {"{\"type\":\"status\",\"status\":{\"tasks\":{}}}", "'workers'"},
        {"{\"type\":\"status\",\"status\":{\"workers\":[]}}", "'tasks'"},
        {"{\"type\":\"status\",\"status\":{\"workers\":[1],\"tasks\":{}}}", "worker 0"},
        {"{\"type\":\"status\",\"status\":{\"workers\":[{}],\"tasks\":{}}}", "'id'"},
        {"{\"type\":\"status\",\"status\":{\"workers\":[],\"tasks\":{\"queued\":-1}}}", "'queued'"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        parse_bad(cases[i].json, cases[i].field);
}

static void test_msg_result_bad(void **state UNUSED)
{
#define RES "{\"type\":\"result\","
    static const struct {
        const char *json;
        const char *field;
    } cases[] = {
        {RES "\"id\":\"t\",\"attempt\":1}", "'lease'"},
        {RES "\"lease\":-1,\"id\":\"t\",\"attempt\":1}", "'lease'"},
        {RES "\"lease\":0,\"id\":\"t\",\"attempt\":1}", "'lease'"}, /* 0 is "no lease" */
        {RES "\"lease\":1,\"id\":\"a b\",\"attempt\":1}", "'id'"},
        {RES "\"lease\":1,\"id\":\"\",\"attempt\":1}", "'id'"},
        {RES "\"lease\":\"1\",\"id\":\"t\",\"attempt\":1}", "'lease'"},
        {RES "\"lease\":1.5,\"id\":\"t\",\"attempt\":1}", "'lease'"},
        {RES "\"lease\":[1],\"id\":\"t\",\"attempt\":1}", "'lease'"},
        {RES "\"lease\":true,\"id\":\"t\",\"attempt\":1}", "'lease'"},
        {RES "\"lease\":1,\"attempt\":1}", "'id'"},
        {RES "\"lease\":1,\"id\":\"t\"}", "'attempt'"},
        {RES "\"lease\":1,\"id\":\"t\",\"attempt\":0}", "'attempt'"},
        {RES "\"lease\":1,\"id\":\"t\",\"attempt\":1,\"ok\":\"yes\"}", "'ok'"},
        {RES "\"lease\":1,\"id\":\"t\",\"attempt\":1,\"refused\":0}", "'refused'"},
        {RES "\"lease\":1,\"id\":\"t\",\"attempt\":1,\"exit_code\":256}", "'exit_code'"},
        {RES "\"lease\":1,\"id\":\"t\",\"attempt\":1,\"exit_code\":-2}", "'exit_code'"},
        {RES "\"lease\":1,\"id\":\"t\",\"attempt\":1,\"signal\":129}", "'signal'"},
        {RES "\"lease\":1,\"id\":\"t\",\"attempt\":1,\"error\":{}}", "'error'"},
        {RES "\"lease\":1,\"id\":\"t\",\"attempt\":1,\"stdout\":[]}", "'stdout'"},
        {RES "\"lease\":1,\"id\":\"t\",\"attempt\":1,\"stderr\":5}", "'stderr'"},
        {RES "\"lease\":1,\"id\":\"t\",\"attempt\":1,\"stdout_truncated\":\"no\"}",
         "'stdout_truncated'"},
        {RES "\"lease\":1,\"id\":\"t\",\"attempt\":1,\"started_at\":-1}", "'started_at'"},
        {RES "\"lease\":1,\"id\":\"t\",\"attempt\":1,\"finished_at\":\"now\"}", "'finished_at'"},
        {RES "\"lease\":1,\"id\":\"t\",\"attempt\":1,\"output\":\"x\"}", "'output'"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        parse_bad(cases[i].json, cases[i].field);

    struct msg m;
    parse_ok(RES "\"lease\":1,\"id\":\"t\",\"attempt\":1,\"stdout\":\"a\\u0000b\"}", &m);
    assert_int_equal(m.result.out.out_len, 3);
    assert_memory_equal(m.result.out.out, "a\0b", 3);
    assert_int_equal(m.result.exit_code, -1); /* absent */
    msg_release(&m);
    /* A result's JSON is re-serialised as JSON, numbers included. */
    parse_ok(RES "\"lease\":1,\"id\":\"t\",\"attempt\":1,\"result\":{\"n\":[0318e,1.,7]}}", &m);
    assert_string_equal(m.result.out.result, "{\"n\":[318.0,1.0,7]}");
    msg_release(&m);
#undef RES
}

/* Integers that json-c would clamp are refused wherever they would change
 * meaning, while the edges of the range still pass exactly. */
static void test_msg_batch_limit(void **state UNUSED)
{
    struct buf b = BUF_INIT;
    struct msg m;

    buf_addstr(&b, "{\"type\":\"ack\",\"leases\":[");
    for (int i = 0; i < MSG_MAX_BATCH; i++)
        buf_addf(&b, "%s%d", i ? "," : "", i + 1);
    buf_addstr(&b, "]}");
    parse_ok_n(b.data, b.len, &m);
    assert_int_equal(m.nleases, MSG_MAX_BATCH);
    msg_release(&m);
    b.len -= 2;
    buf_addstr(&b, ",1]}");
    parse_bad_n(b.data, b.len, DTR_EINVAL, "'leases'");

    buf_reset(&b);
    buf_addstr(&b, "{\"type\":\"cancel\",\"ids\":[");
    for (int i = 0; i <= MSG_MAX_BATCH; i++)
        buf_addf(&b, "%s\"t%d\"", i ? "," : "", i);
    buf_addstr(&b, "]}");
    parse_bad_n(b.data, b.len, DTR_EINVAL, "'ids'");

    buf_reset(&b);
    buf_addstr(&b, "{\"type\":\"submit\",\"tasks\":[");
    for (int i = 0; i <= MSG_MAX_BATCH; i++)
        buf_addf(&b, "%s{}", i ? "," : "");
    buf_addstr(&b, "]}");
    parse_bad_n(b.data, b.len, DTR_EINVAL, "'tasks'");
    buf_release(&b);
}

static void test_names(void **state UNUSED)
{
    for (int k = KIND_EXEC; k <= KIND_NOOP; k++)
        assert_int_equal(task_kind_parse(task_kind_name((enum task_kind)k)), k);
    assert_int_equal(task_kind_parse("bogus"), -1);
    assert_int_equal(task_kind_parse(""), -1);
    assert_string_equal(task_kind_name((enum task_kind)99), "?");
    for (int t = 0; t < MSG_NTYPES; t++) {
        const char *name = msg_type_name((enum msg_type)t);
        assert_string_not_equal(name, "?");
        for (int u = 0; u < t; u++)
            assert_string_not_equal(name, msg_type_name((enum msg_type)u));
    }
    assert_string_equal(msg_type_name(MSG_NTYPES), "?");
}

static void test_id_valid(void **state UNUSED)
{
    char *id = repeat('a', MSG_MAX_ID + 1);
    assert_false(msg_id_valid(id));
    id[MSG_MAX_ID] = '\0';
    assert_true(msg_id_valid(id));
    free(id);
    assert_true(msg_id_valid("a"));
    assert_true(msg_id_valid("~!\"#"));
    assert_false(msg_id_valid(""));
    assert_false(msg_id_valid("a b"));
    assert_false(msg_id_valid("a\x7f"));
    assert_false(msg_id_valid("\x01"));
    assert_false(msg_id_valid("\xc3\xa9"));
}

/* ---- task and status records ----------------------------------------------------- */

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" */
static bool iso_ms(const char *s)
{
    static const char pattern[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (strlen(s) != sizeof(pattern) - 1)
        return false;
    for (size_t i = 0; pattern[i]; i++) {
        if (pattern[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != pattern[i])
            return false;
    }
    return true;
}

static const char *obj_str(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        fail_msg("no field '%s' in %s", key, json_object_to_json_string(o));
    return json_object_is_type(v, json_type_null) ? NULL : json_object_get_string(v);
}

static void test_task_info_encode(void **state UNUSED)
{
    static const char *const required[] = {
        "id",     "state",  "attempts", "worker",       "exit_code",  "stdout",
        "stderr", "result", "error",    "submitted_at", "started_at", "finished_at",
    };
    struct task_info ti = {0};
    struct buf b = BUF_INIT;
    ti.id = (char *)"t1";
    ti.state = TASK_SUCCEEDED;
    ti.kind = (char *)"compute";
    ti.priority = 3;
    ti.attempts = 1;
    ti.max_retries = 3;
    ti.worker = (char *)"w-a";
    ti.exit_code = 0;
    ti.submitted_at = 1700000000123; /* 2023-11-14T22:13:20.123Z */
    ti.started_at = 1700000000999;
    ti.finished_at = 1700000061000;
    ti.has_output = true;
    ti.out.out = (char *)"";
    ti.out.err = (char *)"";
    ti.out.result = (char *)"42";
    task_info_encode(&b, &ti);
    assert_null(strchr(b.data, '\n'));

    json_object *o = strict_json(b.data, b.len);
    for (size_t i = 0; i < ARRAY_SIZE(required); i++)
        if (!json_object_object_get_ex(o, required[i], NULL))
            fail_msg("task record lacks '%s': %s", required[i], b.data);
    assert_string_equal(obj_str(o, "id"), "t1");
    assert_string_equal(obj_str(o, "state"), "succeeded");
    assert_string_equal(obj_str(o, "submitted_at"), "2023-11-14T22:13:20.123Z");
    assert_string_equal(obj_str(o, "started_at"), "2023-11-14T22:13:20.999Z");
    assert_string_equal(obj_str(o, "finished_at"), "2023-11-14T22:14:21.000Z");
    assert_true(iso_ms(obj_str(o, "finished_at")));
    assert_null(obj_str(o, "error"));
    assert_string_equal(obj_str(o, "result"), "42");
    json_object_put(o);

    /* The same text is what a task message carries. */
    struct buf line = BUF_INIT;
    struct msg m;
    buf_addf(&line, "{\"type\":\"task\",\"task\":%s}", b.data);
    parse_ok(line.data, &m);
    assert_string_equal(m.task.id, "t1");
    assert_int_equal(m.task.state, TASK_SUCCEEDED);
    assert_string_equal(m.task.kind, "compute");
    assert_int_equal(m.task.submitted_at, 1700000000123);
    assert_int_equal(m.task.finished_at, 1700000061000);
    assert_true(m.task.has_output);
    assert_string_equal(m.task.out.result, "42");
    msg_release(&m);
    buf_release(&line);

    /* Not yet started: the missing times are null, not 1970. */
    buf_reset(&b);
    memset(&ti, 0, sizeof(ti));
    ti.id = (char *)"q1";
    ti.state = TASK_QUEUED;
    ti.exit_code = -1;
    ti.submitted_at = 86400000; /* 1970-01-02 */
    task_info_encode(&b, &ti);
    o = strict_json(b.data, b.len);
    assert_string_equal(obj_str(o, "submitted_at"), "1970-01-02T00:00:00.000Z");
    assert_null(obj_str(o, "started_at"));
    assert_null(obj_str(o, "finished_at"));
    assert_null(obj_str(o, "exit_code"));
    assert_null(obj_str(o, "worker"));
    /* Without has_output (the tasks listing), no output fields. */
    assert_false(json_object_object_get_ex(o, "stdout", NULL));
    json_object_put(o);
    buf_release(&b);
}

static void test_status_encode(void **state UNUSED)
{
    static const char *const required[] = {"id", "addr", "slots", "running", "done", "last_seen"};
    struct worker_info w[2] = {
        {(char *)"w1", (char *)"127.0.0.1:5001", 4, 2, 17, 1700000000123, false},
        {(char *)"w\"2", NULL, 1, 0, 0, 1700000000000, true},
    };
    uint64_t counts[TASK_NSTATES] = {5, 2, 100, 3, 1};
    struct buf b = BUF_INIT;
    status_encode(&b, w, 2, counts, 3, 9, 0);
    assert_null(strchr(b.data, '\n'));

    json_object *o = strict_json(b.data, b.len), *ws, *ts, *v;
    assert_true(json_object_object_get_ex(o, "workers", &ws));
    assert_int_equal(json_object_array_length(ws), 2);
    for (size_t i = 0; i < 2; i++) {
        json_object *e = json_object_array_get_idx(ws, i);
        for (size_t k = 0; k < ARRAY_SIZE(required); k++)
            if (!json_object_object_get_ex(e, required[k], NULL))
                fail_msg("worker record lacks '%s': %s", required[k], b.data);
        assert_true(iso_ms(obj_str(e, "last_seen")));
    }
    assert_string_equal(obj_str(json_object_array_get_idx(ws, 0), "last_seen"),
                        "2023-11-14T22:13:20.123Z");
    assert_string_equal(obj_str(json_object_array_get_idx(ws, 1), "id"), "w\"2");
    assert_true(json_object_object_get_ex(o, "tasks", &ts));
    for (int s = 0; s < TASK_NSTATES; s++) {
        assert_true(json_object_object_get_ex(ts, task_state_name((enum task_state)s), &v));
        assert_int_equal(json_object_get_int64(v), (int64_t)counts[s]);
    }
    json_object_put(o);

    /* The status reply carries it; the client parses it back. */
    struct buf line = BUF_INIT;
    struct msg m;
    buf_addf(&line, "{\"type\":\"status\",\"status\":%s}", b.data);
    parse_ok(line.data, &m);
    assert_int_equal(m.type, MSG_STATUS);
    assert_int_equal(m.nworkers, 2);
    assert_string_equal(m.workers[0].id, "w1");
    assert_string_equal(m.workers[0].addr, "127.0.0.1:5001");
    assert_int_equal(m.workers[0].slots, 4);
    assert_int_equal(m.workers[0].running, 2);
    assert_int_equal(m.workers[0].done, 17);
    assert_int_equal(m.workers[0].last_seen, 1700000000123);
    assert_false(m.workers[0].draining);
    assert_string_equal(m.workers[1].id, "w\"2");
    assert_null(m.workers[1].addr);
    assert_true(m.workers[1].draining);
    for (int s = 0; s < TASK_NSTATES; s++)
        assert_int_equal(m.counts[s], counts[s]);
    assert_int_equal(m.jobs_active, 3);
    assert_int_equal(m.jobs_ended, 9);
    msg_release(&m);

    /* No workers. */
    buf_reset(&b);
    buf_reset(&line);
    status_encode(&b, NULL, 0, counts, 0, 0, 0);
    buf_addf(&line, "{\"type\":\"status\",\"status\":%s}", b.data);
    parse_ok(line.data, &m);
    assert_int_equal(m.nworkers, 0);
    msg_release(&m);
    buf_release(&line);
    buf_release(&b);
}

/* revoke and its answer (issue 17): spelled by msg_encode_leases() and
 * msg_encode(), read back the same. */
static void test_msg_revoke(void **state UNUSED)
{
    struct buf b = BUF_INIT, list = BUF_INIT;
    struct msg m;
    msg_leases_add(&list, 7);
    msg_leases_add(&list, 9);
    msg_encode_leases(&b, MSG_REVOKE, list.data);
    assert_string_equal(b.data, "{\"type\":\"revoke\",\"leases\":[7,9]}\n");
    b.data[--b.len] = '\0';
    parse_ok(b.data, &m);
    assert_int_equal(m.type, MSG_REVOKE);
    assert_int_equal(m.nleases, 2);
    assert_true(m.leases[0] == 7 && m.leases[1] == 9);
    msg_release(&m);

    uint64_t back[] = {7}, started[] = {9, 11};
    struct msg r;
    memset(&r, 0, sizeof(r));
    r.type = MSG_REVOKED;
    r.leases = back;
    r.nleases = 1;
    r.started = started;
    r.nstarted = 2;
    buf_reset(&b);
    msg_encode(&b, &r);
    assert_string_equal(b.data, "{\"type\":\"revoked\",\"returned\":[7],\"started\":[9,11]}\n");
    b.data[--b.len] = '\0';
    parse_ok(b.data, &m);
    assert_int_equal(m.type, MSG_REVOKED);
    assert_int_equal(m.nleases, 1);
    assert_int_equal(m.nstarted, 2);
    assert_true(m.leases[0] == 7 && m.started[0] == 9 && m.started[1] == 11);
    msg_release(&m);

    r.nleases = r.nstarted = 0; /* both lists may be empty */
    buf_reset(&b);
    msg_encode(&b, &r);
    b.data[--b.len] = '\0';
    parse_ok(b.data, &m);
    assert_int_equal(m.nleases + m.nstarted, 0);
    msg_release(&m);
    buf_release(&b);
    buf_release(&list);
}

/* ---- one rule for unknown fields ---------------------------------------------- */

/* Every message type, as a valid line whose last '}' closes the message:
 * with ,"zz":1 added there it must be refused, naming the field. */
static void test_msg_unknown_fields(void **state UNUSED)
{
    static const char *const lines[] = {
        "{\"type\":\"hello\",\"proto\":3,\"role\":\"client\",\"nonce\":\"n\"}",
        "{\"type\":\"auth\",\"proof\":\"p\"}",
        "{\"type\":\"error\",\"error\":\"e\"}",
        "{\"type\":\"ping\"}",
        "{\"type\":\"pong\",\"busy\":1}",
        "{\"type\":\"pong\",\"busy\":0,\"heartbeat_ms\":1500}",
        "{\"type\":\"run\",\"tasks\":[{\"lease\":1,\"attempt\":1,\"spec\":{\"id\":\"a\","
        "\"kind\":\"noop\"}}]}",
        "{\"type\":\"kill\",\"leases\":[1]}",
        "{\"type\":\"ack\",\"leases\":[1,2]}",
        "{\"type\":\"result\",\"lease\":1,\"id\":\"a\",\"attempt\":1,\"ok\":true}",
        "{\"type\":\"drain\"}",
        "{\"type\":\"submit\",\"tasks\":[{\"kind\":\"noop\"}]}",
        "{\"type\":\"submitted\",\"ids\":[\"a\"]}",
        "{\"type\":\"status\"}",
        "{\"type\":\"status\",\"status\":{\"workers\":[{\"id\":\"w\"}],\"tasks\":{\"queued\":1}}}",
        "{\"type\":\"list\",\"state\":\"queued\"}",
        "{\"type\":\"task\",\"task\":{\"id\":\"a\",\"state\":\"queued\"}}",
        "{\"type\":\"task\",\"id\":\"a\",\"state\":\"queued\"}",
        "{\"type\":\"end\"}",
        "{\"type\":\"get\",\"id\":\"a\"}",
        "{\"type\":\"wait\",\"ids\":[\"a\"]}",
        "{\"type\":\"wait\",\"all\":true}",
        "{\"type\":\"progress\",\"total\":2,\"done\":1,\"failed\":0,\"final\":false}",
        "{\"type\":\"cancel\",\"ids\":[\"a\"]}",
        "{\"type\":\"cancelled\",\"ids\":[\"a\"],\"error\":\"e\"}",
        "{\"type\":\"held\",\"attempts\":[{\"lease\":1,\"id\":\"a\"}],\"more\":true}",
        "{\"type\":\"jobs\"}",
        "{\"type\":\"job\",\"job\":{\"id\":\"j-1\",\"tasks\":{\"queued\":1}}}",
        "{\"type\":\"output\",\"lease\":1,\"id\":\"a\",\"attempt\":1,\"stream\":\"stdout\","
        "\"offset\":0,\"data\":\"aGk=\"}",
        "{\"type\":\"logs\",\"id\":\"a\",\"follow\":true}",
        "{\"type\":\"events\",\"job\":\"j-1\",\"after\":3}",
        "{\"type\":\"event\",\"event\":{\"id\":1,\"event\":\"started\",\"task\":\"a\","
        "\"job\":null,\"worker\":\"w\",\"at\":\"x\",\"at_ms\":5}}",
        "{\"type\":\"alloc\",\"op\":\"list\"}",
        "{\"type\":\"allocs\",\"allocs\":[]}",
        "{\"type\":\"revoke\",\"leases\":[3]}",
        "{\"type\":\"revoked\",\"returned\":[3],\"started\":[]}",
        "{\"type\":\"group\",\"op\":\"remove\",\"member\":2}",
    };
    bool seen[MSG_NTYPES] = {false};
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
        struct msg m;
        parse_ok(lines[i], &m);
        seen[m.type] = true;
        char what[64];
        snprintf(what, sizeof(what), "%s: unknown field 'zz'", msg_type_name(m.type));
        msg_release(&m);
        buf_reset(&b);
        buf_add(&b, lines[i], strlen(lines[i]) - 1);
        buf_addstr(&b, ",\"zz\":1}");
        parse_bad(b.data, what);
        /* null counts as absent, but the name is still unknown */
        buf_reset(&b);
        buf_add(&b, lines[i], strlen(lines[i]) - 1);
        buf_addstr(&b, ",\"zz\":null}");
        parse_bad(b.data, what);
    }
    for (int t = 0; t < MSG_NTYPES; t++)
        if (!seen[t])
            fail_msg("no line of type '%s' in the table", msg_type_name((enum msg_type)t));
    buf_release(&b);

    /* The objects inside a message, under the same rule. */
    static const struct {
        const char *line, *needle;
    } inner[] = {
        {"{\"type\":\"held\",\"attempts\":[{\"lease\":1,\"id\":\"a\",\"zz\":1}]}",
         "held entry: unknown field 'zz'"},
        {"{\"type\":\"run\",\"tasks\":[{\"lease\":1,\"attempt\":1,\"zz\":1,\"spec\":{\"id\":\"a\","
         "\"kind\":\"noop\"}}]}",
         "run entry: unknown field 'zz'"},
        {"{\"type\":\"run\",\"tasks\":[{\"lease\":1,\"attempt\":1,\"spec\":{\"id\":\"a\","
         "\"kind\":\"noop\",\"zz\":1}}]}",
         "task: unknown field 'zz'"},
        {"{\"type\":\"submit\",\"tasks\":[{\"kind\":\"noop\",\"zz\":1}]}",
         "task: unknown field 'zz'"},
        {"{\"type\":\"status\",\"status\":{\"workers\":[],\"tasks\":{},\"zz\":1}}",
         "status: unknown field 'zz'"},
        {"{\"type\":\"status\",\"status\":{\"workers\":[{\"id\":\"w\",\"zz\":1}],\"tasks\":{}}}",
         "status worker: unknown field 'zz'"},
        {"{\"type\":\"status\",\"status\":{\"workers\":[],\"tasks\":{\"zz\":1}}}",
         "status tasks: unknown field 'zz'"},
        {"{\"type\":\"status\",\"status\":{\"workers\":[],\"tasks\":{},\"jobs\":{\"zz\":1}}}",
         "status jobs: unknown field 'zz'"},
        {"{\"type\":\"job\",\"job\":{\"id\":\"j-1\",\"tasks\":{},\"zz\":1}}",
         "job: unknown field 'zz'"},
        {"{\"type\":\"task\",\"task\":{\"id\":\"a\",\"state\":\"queued\",\"zz\":1}}",
         "task: unknown field 'zz'"},
        /* "type" belongs to the message, not to a wrapped record */
        {"{\"type\":\"task\",\"task\":{\"type\":\"task\",\"id\":\"a\",\"state\":\"queued\"}}",
         "task: unknown field 'type'"},
        /* a wrapped record leaves nothing else beside it */
        {"{\"type\":\"task\",\"task\":{\"id\":\"a\",\"state\":\"queued\"},\"id\":\"a\"}",
         "task: unknown field 'id'"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(inner); i++)
        parse_bad(inner[i].line, inner[i].needle);

    /* Names of the sender's choosing stay free: payload, env, result. */
    struct msg m;
    parse_ok("{\"type\":\"submit\",\"tasks\":[{\"kind\":\"echo\",\"payload\":{\"zz\":1},"
             "\"env\":{\"ZZ\":\"1\"}}]}",
             &m);
    msg_release(&m);
    parse_ok("{\"type\":\"result\",\"lease\":1,\"id\":\"a\",\"attempt\":1,\"result\":{\"zz\":1}}",
             &m);
    msg_release(&m);
}

/* The encoders for lines without a shortcut write what msg_encode() writes
 * for the same message, and it parses back. */
static void test_msg_line_encoders(void **state UNUSED)
{
    struct buf b = BUF_INIT, want = BUF_INIT;
    struct msg m;
    char *ids[] = {(char *)"a", (char *)"b\"c", NULL};
    uint64_t leases[] = {1, 22, 9223372036854775807ULL};

    msg_encode_drain(&b);
    msg_encode(&want, &(struct msg){.type = MSG_DRAIN});
    msg_encode_end(&b);
    msg_encode(&want, &(struct msg){.type = MSG_END});
    msg_encode_progress(&b, 5, 3, 1, false);
    msg_encode(&want, &(struct msg){.type = MSG_PROGRESS, .total = 5, .done = 3, .failed = 1});
    msg_encode_progress(&b, 5, 5, 2, true);
    msg_encode(&want, &(struct msg){
                          .type = MSG_PROGRESS, .total = 5, .done = 5, .failed = 2, .final = true});
    msg_ids_begin(&b, MSG_SUBMITTED);
    buf_add_json_cstr(&b, ids[0]);
    buf_addch(&b, ',');
    buf_add_json_cstr(&b, ids[1]);
    msg_ids_end(&b, NULL);
    msg_encode(&want, &(struct msg){.type = MSG_SUBMITTED, .ids = ids, .nids = 2});
    msg_ids_begin(&b, MSG_CANCELLED);
    msg_ids_end(&b, "unknown task 'x'");
    msg_encode(&want, &(struct msg){.type = MSG_CANCELLED, .error = (char *)"unknown task 'x'"});
    struct buf list = BUF_INIT;
    for (size_t i = 0; i < ARRAY_SIZE(leases); i++)
        msg_leases_add(&list, leases[i]);
    msg_encode_leases(&b, MSG_ACK, list.data);
    msg_encode(&want, &(struct msg){.type = MSG_ACK, .leases = leases, .nleases = 3});
    msg_encode_leases(&b, MSG_KILL, list.data);
    msg_encode(&want, &(struct msg){.type = MSG_KILL, .leases = leases, .nleases = 3});
    buf_release(&list);
    struct task_info ti = {.id = (char *)"t",
                           .state = TASK_RUNNING,
                           .kind = (char *)"exec",
                           .exit_code = -1,
                           .submitted_at = 1700000000000};
    msg_encode_task(&b, &ti);
    msg_encode(&want, &(struct msg){.type = MSG_TASK, .task = ti});
    assert_string_equal(b.data, want.data);

    /* Each line parses back. */
    size_t n = 0;
    for (char *p = b.data, *nl; (nl = strchr(p, '\n')); p = nl + 1, n++) {
        parse_ok_n(p, (size_t)(nl - p), &m);
        msg_release(&m);
    }
    assert_int_equal(n, 9);

    /* The status reply wraps status_encode(). */
    struct worker_info w = {.id = (char *)"w1",
                            .addr = (char *)"127.0.0.1:5000",
                            .slots = 4,
                            .running = 1,
                            .done = 9,
                            .last_seen = 1700000000000};
    uint64_t counts[TASK_NSTATES] = {1, 2, 3, 4, 5};
    buf_reset(&b);
    msg_encode_status(&b, &w, 1, counts, 1, 2, 0);
    parse_ok_n(b.data, b.len - 1, &m);
    assert_int_equal(m.type, MSG_STATUS);
    assert_int_equal(m.nworkers, 1);
    assert_string_equal(m.workers[0].id, "w1");
    assert_int_equal(m.counts[TASK_FAILED], counts[TASK_FAILED]);
    msg_release(&m);
    buf_release(&want);
    buf_release(&b);
}

/* The list filter and a task record's labels, both ways, and refusals. */
static void test_msg_labels(void **state UNUSED)
{
    struct msg in, out;
    char *want[] = {(char *)"team=a", (char *)"env=x \"y\"", NULL};
    memset(&in, 0, sizeof(in));
    in.type = MSG_LIST;
    in.state = TASK_QUEUED;
    in.labels = want;
    in.nlabels = 2;
    encode_parse(&in, &out);
    assert_int_equal(out.state, TASK_QUEUED);
    assert_int_equal(out.nlabels, 2);
    assert_string_equal(out.labels[0], "env=x \"y\""); /* sorted */
    assert_string_equal(out.labels[1], "team=a");
    msg_release(&out);

    parse_bad("{\"type\":\"list\",\"labels\":[\"a=b\"]}", "field 'labels' must be an object");
    parse_bad("{\"type\":\"list\",\"labels\":{\"a\":2}}", "the value of 'a' must be a string");
    parse_bad("{\"type\":\"list\",\"labels\":{\"a=\":\"b\"}}", "without '='");
    parse_bad("{\"type\":\"list\",\"label\":{}}", "label");

    parse_ok(
        "{\"type\":\"task\",\"task\":{\"id\":\"t\",\"state\":\"queued\",\"labels\":{\"b\":\"2\","
        "\"a\":\"1\"}}}",
        &out);
    assert_int_equal(out.task.nlabel_list, 2);
    assert_string_equal(out.task.label_list[0], "a=1");
    assert_string_equal(out.task.labels, "{\"a\":\"1\",\"b\":\"2\"}");
    assert_int_equal(out.task.labels_len, strlen(out.task.labels));
    struct buf b = BUF_INIT;
    task_info_encode(&b, &out.task);
    assert_non_null(strstr(b.data, ",\"labels\":{\"a\":\"1\",\"b\":\"2\"}"));
    buf_release(&b);
    msg_release(&out);
    parse_bad(
        "{\"type\":\"task\",\"task\":{\"id\":\"t\",\"state\":\"queued\",\"labels\":{\"a\":1}}}",
        "must be a string");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_hello),
        cmocka_unit_test(test_roundtrip_held),
        cmocka_unit_test(test_roundtrip_simple),
        cmocka_unit_test(test_roundtrip_error_helper),
        cmocka_unit_test(test_roundtrip_leases),
        cmocka_unit_test(test_roundtrip_result),
        cmocka_unit_test(test_roundtrip_submit),
        cmocka_unit_test(test_roundtrip_ids),
        cmocka_unit_test(test_roundtrip_task),
        cmocka_unit_test(test_run_message),
        cmocka_unit_test(test_run_bad),
        cmocka_unit_test(test_msg_envelope),
        cmocka_unit_test(test_msg_hello_bad),
        cmocka_unit_test(test_msg_jobs),
        cmocka_unit_test(test_msg_throttle),
        cmocka_unit_test(test_msg_bodies_bad),
        cmocka_unit_test(test_msg_result_bad),
        cmocka_unit_test(test_msg_batch_limit),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_id_valid),
        cmocka_unit_test(test_task_info_encode),
        cmocka_unit_test(test_status_encode),
        cmocka_unit_test(test_msg_unknown_fields),
        cmocka_unit_test(test_msg_revoke),
        cmocka_unit_test(test_msg_line_encoders),
        cmocka_unit_test(test_msg_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
