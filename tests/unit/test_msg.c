/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for proto/msg: encode/parse round trips of every message type,
 * run messages built from canonical specs, task specs (valid forms and every
 * malformed case we could think of, each refused with an error that names
 * the field), the built-in payloads, spec_kind, and the task and status
 * records clients print. Invalid UTF-8 anywhere in the input is refused.
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

#include "common/err.h"
#include "common/util.h"
#include "proto/frame.h"
#include "proto/msg.h"

static char err[1024];

/* ---- helpers ------------------------------------------------------------- */

/* Checks that text (len bytes) is one strict, valid-UTF-8 JSON value, and
 * returns it as a json-c object (caller puts). */
static json_object *strict_json(const char *text, size_t len)
{
    struct json_tokener *tok = json_tokener_new_ex(FRAME_MAX_DEPTH + 8);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    if (json_tokener_get_error(tok) == json_tokener_continue) {
        /* A bare number or literal ends only at the end of the data. */
        o = json_tokener_parse_ex(tok, "", 1);
    } else {
        assert_int_equal(json_tokener_get_parse_end(tok), len);
    }
    if (json_tokener_get_error(tok) != json_tokener_success)
        fail_msg("not strict JSON (%s): %.300s",
                 json_tokener_error_desc(json_tokener_get_error(tok)), text);
    json_tokener_free(tok);
    return o;
}

static void parse_ok_n(const char *line, size_t len, struct msg *m)
{
    int rc = msg_parse(line, len, m, err, sizeof(err));
    if (rc)
        fail_msg("msg_parse(%.300s) = %d: %s", line, rc, err);
}

static void parse_ok(const char *line, struct msg *m)
{
    parse_ok_n(line, strlen(line), m);
}

static void parse_bad_n(const char *line, size_t len, int want, const char *needle)
{
    struct msg m;
    snprintf(err, sizeof(err), "(untouched)");
    int rc = msg_parse(line, len, &m, err, sizeof(err));
    if (rc != want)
        fail_msg("msg_parse(%.300s) = %d, want %d (%s)", line, rc, want, err);
    if (!strstr(err, needle))
        fail_msg("msg_parse(%.300s): error \"%s\" does not mention \"%s\"", line, err, needle);
}

static void parse_bad(const char *line, const char *needle)
{
    parse_bad_n(line, strlen(line), DTR_EINVAL, needle);
}

/* Encodes in, checks the line (strict JSON, one '\n' at the very end) and
 * parses it into *out as a reader would after framing. */
static void encode_parse(const struct msg *in, struct msg *out)
{
    struct buf b = BUF_INIT;
    msg_encode(&b, in);
    assert_true(b.len > 1);
    assert_int_equal(b.data[b.len - 1], '\n');
    assert_null(memchr(b.data, '\n', b.len - 1));
    json_object_put(strict_json(b.data, b.len - 1));
    parse_ok_n(b.data, b.len - 1, out);
    assert_int_equal(out->type, in->type);
    buf_release(&b);
}

static void spec_ok_n(const char *json, size_t len, struct task_spec *s)
{
    int rc = spec_parse(json, len, s, err, sizeof(err));
    if (rc)
        fail_msg("spec_parse(%.300s) = %d: %s", json, rc, err);
}

static void spec_ok(const char *json, struct task_spec *s)
{
    spec_ok_n(json, strlen(json), s);
}

static void spec_bad_n(const char *json, size_t len, const char *needle)
{
    struct task_spec s;
    snprintf(err, sizeof(err), "(untouched)");
    int rc = spec_parse(json, len, &s, err, sizeof(err));
    if (rc != DTR_EINVAL)
        fail_msg("spec_parse(%.300s) = %d, want DTR_EINVAL", json, rc);
    if (!strstr(err, needle))
        fail_msg("spec_parse(%.300s): error \"%s\" does not mention \"%s\"", json, err, needle);
}

static void spec_bad(const char *json, const char *needle)
{
    spec_bad_n(json, strlen(json), needle);
}

/* The canonical encoding of a spec (caller frees); checks that it is strict
 * JSON and a fixed point: parsing and encoding it again gives it back. */
static char *canon(const char *json)
{
    struct task_spec s, s2;
    struct buf b = BUF_INIT, b2 = BUF_INIT;
    spec_ok(json, &s);
    spec_encode(&b, &s);
    spec_release(&s);
    json_object_put(strict_json(b.data, b.len));
    spec_ok_n(b.data, b.len, &s2);
    spec_encode(&b2, &s2);
    spec_release(&s2);
    assert_string_equal(b.data, b2.data);
    buf_release(&b2);
    return buf_detach(&b, NULL);
}

static void assert_canon(const char *json, const char *want)
{
    char *got = canon(json);
    assert_string_equal(got, want);
    free(got);
}

/* A string of n copies of c (caller frees). */
static char *repeat(char c, size_t n)
{
    char *s = xmalloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

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

/* ---- task specs: valid ------------------------------------------------------ */

static void test_spec_defaults(void **state UNUSED)
{
    struct task_spec s;
    spec_ok("{\"argv\":[\"echo\",\"hi\"]}", &s);
    assert_null(s.id);
    assert_int_equal(s.kind, KIND_EXEC);
    assert_int_equal(s.argc, 2);
    assert_string_equal(s.argv[0], "echo");
    assert_string_equal(s.argv[1], "hi");
    assert_null(s.argv[2]);
    assert_null(s.cmd);
    assert_null(s.env);
    assert_null(s.cwd);
    assert_null(s.payload);
    assert_int_equal(s.priority, TASK_DEFAULT_PRIORITY);
    assert_int_equal(s.max_retries, TASK_DEFAULT_RETRIES);
    assert_int_equal(s.timeout_ms, 0);
    spec_release(&s);
    assert_canon("{\"argv\":[\"echo\",\"hi\"]}",
                 "{\"id\":null,\"kind\":\"exec\",\"argv\":[\"echo\",\"hi\"],\"priority\":2,"
                 "\"max_retries\":3}");
    /* null means absent. */
    assert_canon("{\"id\":null,\"cmd\":\"true\",\"env\":null,\"cwd\":null,\"payload\":null,"
                 "\"priority\":null,\"max_retries\":null,\"timeout\":null,\"kind\":null}",
                 "{\"id\":null,\"kind\":\"exec\",\"cmd\":\"true\",\"priority\":2,"
                 "\"max_retries\":3}");
}

static void test_spec_full_exec(void **state UNUSED)
{
    struct task_spec s;
    spec_ok("{\"id\":\"build-1\",\"kind\":\"exec\",\"cmd\":\"make -j2 && make test\","
            "\"env\":{\"CC\":\"gcc\",\"EMPTY\":\"\",\"EQ\":\"a=b=c\"},\"cwd\":\"/src\","
            "\"priority\":10,\"max_retries\":5,\"timeout\":\"2m\"}",
            &s);
    assert_string_equal(s.id, "build-1");
    assert_string_equal(s.cmd, "make -j2 && make test");
    assert_null(s.argv);
    assert_int_equal(s.envc, 3);
    assert_string_equal(s.env[0], "CC=gcc");
    assert_string_equal(s.env[1], "EMPTY=");
    assert_string_equal(s.env[2], "EQ=a=b=c");
    assert_null(s.env[3]);
    assert_string_equal(s.cwd, "/src");
    assert_int_equal(s.priority, 10);
    assert_int_equal(s.max_retries, 5);
    assert_int_equal(s.timeout_ms, 120000);
    spec_release(&s);

    /* Whitespace around the object is fine (a .jsonl line with "\r\n"). */
    spec_ok("  {\"cmd\":\"x\"}\r\n", &s);
    spec_release(&s);
    /* An argv entry may be empty; only the array may not. */
    spec_ok("{\"argv\":[\"printf\",\"\"]}", &s);
    assert_int_equal(s.argc, 2);
    spec_release(&s);
}

static void test_spec_priority(void **state UNUSED)
{
    static const struct {
        const char *json;
        int64_t want;
    } cases[] = {
        {"\"low\"", 1},           {"\"medium\"", 2}, {"\"high\"", 3},
        {"\"HIGH\"", 3},          {"\"Low\"", 1},    {"0", 0},
        {"-5", -5},               {"100", 100},      {"2147483647", INT32_MAX},
        {"-2147483648", INT32_MIN}, {"\"42\"", 42},  {"\"-3\"", -3},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char json[128];
        struct task_spec s;
        snprintf(json, sizeof(json), "{\"cmd\":\"x\",\"priority\":%s}", cases[i].json);
        spec_ok(json, &s);
        if (s.priority != cases[i].want)
            fail_msg("%s: priority %lld, want %lld", json, (long long)s.priority,
                     (long long)cases[i].want);
        spec_release(&s);
        free(canon(json));
    }
}

static void test_spec_timeout(void **state UNUSED)
{
    static const struct {
        const char *json;
        int64_t ms;
        const char *canonical; /* the "timeout" member of the canonical form */
    } cases[] = {
        {"10", 10000, "10.000"},         {"1.5", 1500, "1.500"},
        {"0.001", 1, "0.001"},           {"0.0005", 1, "0.001"}, /* rounds to 1 ms */
        {"5e-4", 1, "0.001"},            {"2.0004", 2000, "2.000"},
        {"\"0.5ms\"", 1, "0.001"},
        {"\"500ms\"", 500, "0.500"},     {"\"10s\"", 10000, "10.000"},
        {"\"2m\"", 120000, "120.000"},   {"\"1h\"", 3600000, "3600.000"},
        {"\"1.5\"", 1500, "1.500"},      {"\"1ms\"", 1, "0.001"},
        {"31535999.999", 31535999999LL, "31535999.999"},
        {"\"8759h\"", 8759LL * 3600000, "31532400.000"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char json[128], want[256];
        struct task_spec s;
        snprintf(json, sizeof(json), "{\"cmd\":\"x\",\"timeout\":%s}", cases[i].json);
        spec_ok(json, &s);
        if (s.timeout_ms != cases[i].ms)
            fail_msg("%s: timeout %lld ms, want %lld", json, (long long)s.timeout_ms,
                     (long long)cases[i].ms);
        spec_release(&s);
        snprintf(want, sizeof(want),
                 "{\"id\":null,\"kind\":\"exec\",\"cmd\":\"x\",\"priority\":2,"
                 "\"max_retries\":3,\"timeout\":%s}",
                 cases[i].canonical);
        assert_canon(json, want);
    }
}

static void test_spec_retries(void **state UNUSED)
{
    struct task_spec s;
    spec_ok("{\"cmd\":\"x\",\"max_retries\":0}", &s);
    assert_int_equal(s.max_retries, 0);
    spec_release(&s);
    spec_ok("{\"cmd\":\"x\",\"max_retries\":1000}", &s);
    assert_int_equal(s.max_retries, TASK_MAX_RETRIES);
    spec_release(&s);
}

static void test_spec_builtin_kinds(void **state UNUSED)
{
    struct task_spec s;
    spec_ok("{\"kind\":\"compute\",\"payload\":{\"numbers\":[1,-2,3.25,1e3]}}", &s);
    assert_int_equal(s.kind, KIND_COMPUTE);
    assert_string_equal(s.payload, "{\"numbers\":[1,-2,3.25,1e3]}");
    spec_release(&s);
    spec_ok("{\"kind\":\"compute\",\"payload\":{\"numbers\":[]}}", &s);
    spec_release(&s);
    spec_ok("{\"kind\":\"transform\",\"payload\":{\"data\":\"\",\"extra\":[1]}}", &s);
    assert_int_equal(s.kind, KIND_TRANSFORM);
    spec_release(&s);
    spec_ok("{\"kind\":\"sleep\",\"payload\":{\"seconds\":0}}", &s);
    assert_int_equal(s.kind, KIND_SLEEP);
    spec_release(&s);
    spec_ok("{\"kind\":\"sleep\",\"payload\":{\"seconds\":1.5}}", &s);
    spec_release(&s);
    /* echo and noop take any payload, or none. */
    spec_ok("{\"kind\":\"echo\"}", &s);
    assert_int_equal(s.kind, KIND_ECHO);
    assert_null(s.payload);
    spec_release(&s);
    spec_ok("{\"kind\":\"echo\",\"payload\":\"just a string\"}", &s);
    assert_string_equal(s.payload, "\"just a string\"");
    spec_release(&s);
    spec_ok("{\"kind\":\"noop\",\"payload\":{\"a\":{\"b\":[true,false,null]}}}", &s);
    assert_int_equal(s.kind, KIND_NOOP);
    spec_release(&s);
    /* An exec task may carry a payload (unused by the runner). */
    spec_ok("{\"cmd\":\"x\",\"payload\":{\"k\":1}}", &s);
    spec_release(&s);

    /* Payloads are re-serialised compactly; the canonical form is stable. */
    assert_canon("{\"kind\":\"compute\",\"id\":\"c\",\"payload\": { \"numbers\" : [ 1 , 2.50 ] }}",
                 "{\"id\":\"c\",\"kind\":\"compute\",\"payload\":{\"numbers\":[1,2.50]},"
                 "\"priority\":2,\"max_retries\":3}");
    /* json-c keeps a double's source text, some of which is no JSON: those
     * are written from the value. */
    assert_canon("{\"kind\":\"echo\",\"payload\":[01.5,1.,-.5,0318e,1e,2.50,-0.0,1E+2]}",
                 "{\"id\":null,\"kind\":\"echo\","
                 "\"payload\":[1.5,1.0,-0.5,318.0,1.0,2.50,-0.0,1E+2],"
                 "\"priority\":2,\"max_retries\":3}");
    /* A double written like an integer would read back as a (clamped) one. */
    assert_canon("{\"kind\":\"echo\",\"payload\":[1111111111111111111111111111118e]}",
                 "{\"id\":null,\"kind\":\"echo\",\"payload\":[1.1111111111111111e+30],"
                 "\"priority\":2,\"max_retries\":3}");
    assert_canon("{\"kind\":\"echo\",\"payload\":{\"s\":\"a/b\\n\\u00e9\\ud83d\\ude00\"}}",
                 "{\"id\":null,\"kind\":\"echo\","
                 "\"payload\":{\"s\":\"a/b\\n\xc3\xa9\xf0\x9f\x98\x80\"},"
                 "\"priority\":2,\"max_retries\":3}");
}

static void test_spec_ids(void **state UNUSED)
{
    struct task_spec s;
    char json[512];
    char *id = repeat('i', MSG_MAX_ID);
    snprintf(json, sizeof(json), "{\"id\":\"%s\",\"cmd\":\"x\"}", id);
    spec_ok(json, &s);
    assert_string_equal(s.id, id);
    spec_release(&s);
    spec_ok("{\"id\":\"!#$%&'()*+,-./:;<=>?@[]^_`{|}~\",\"cmd\":\"x\"}", &s);
    spec_release(&s);
    spec_ok("{\"id\":\"a\\\"b\\\\c\",\"cmd\":\"x\"}", &s);
    assert_string_equal(s.id, "a\"b\\c");
    spec_release(&s);
    free(id);
}

/* Large but within the limits. */
static void test_spec_limits_ok(void **state UNUSED)
{
    struct buf b = BUF_INIT;
    struct task_spec s;
    char *big = repeat('c', MSG_MAX_STR);
    buf_addf(&b, "{\"cmd\":\"%s\"}", big);
    spec_ok_n(b.data, b.len, &s);
    assert_int_equal(strlen(s.cmd), MSG_MAX_STR);
    spec_release(&s);

    buf_reset(&b);
    buf_addstr(&b, "{\"argv\":[");
    for (int i = 0; i < MSG_MAX_ARGV; i++)
        buf_addf(&b, "%s\"a%d\"", i ? "," : "", i);
    buf_addstr(&b, "]}");
    spec_ok_n(b.data, b.len, &s);
    assert_int_equal(s.argc, MSG_MAX_ARGV);
    spec_release(&s);

    buf_reset(&b);
    buf_addstr(&b, "{\"cmd\":\"x\",\"env\":{");
    for (int i = 0; i < MSG_MAX_ENV; i++)
        buf_addf(&b, "%s\"V%d\":\"%d\"", i ? "," : "", i, i);
    buf_addstr(&b, "}}");
    spec_ok_n(b.data, b.len, &s);
    assert_int_equal(s.envc, MSG_MAX_ENV);
    spec_release(&s);

    buf_reset(&b);
    buf_addf(&b, "{\"cmd\":\"x\",\"cwd\":\"/%s\"}", big + MSG_MAX_STR - 4095);
    spec_ok_n(b.data, b.len, &s);
    assert_int_equal(strlen(s.cwd), 4096);
    spec_release(&s);

    free(big);
    buf_release(&b);
}

/* ---- task specs: malformed ------------------------------------------------------ */

static void test_spec_not_object(void **state UNUSED)
{
    static const char *const cases[] = {
        "[]", "[{\"cmd\":\"x\"}]", "\"cmd\"", "1\n", "-2.5\n", "true\n", "false\n", "null\n",
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        spec_bad(cases[i], "object");
    /* A bare number or literal at the very end is still incomplete to json-c. */
    spec_bad("1", "JSON");
    spec_bad("null", "JSON");
}

/* Each entry is refused with an error naming the field. */
static const struct {
    const char *json;
    const char *field;
} bad_specs[] = {
    /* unknown fields */
    {"{\"cmd\":\"x\",\"bogus\":1}", "'bogus'"},
    {"{\"cmd\":\"x\",\"Cmd\":\"y\"}", "'Cmd'"},
    {"{\"cmd\":\"x\",\"type\":\"submit\"}", "'type'"},
    {"{\"cmd\":\"x\",\"retries\":3}", "'retries'"},
    {"{\"cmd\":\"x\",\"\":3}", "''"},
    /* wrong types */
    {"{\"id\":5,\"cmd\":\"x\"}", "'id'"},
    {"{\"id\":[\"a\"],\"cmd\":\"x\"}", "'id'"},
    {"{\"kind\":1}", "'kind'"},
    {"{\"kind\":true,\"cmd\":\"x\"}", "'kind'"},
    {"{\"argv\":\"echo hi\"}", "'argv'"},
    {"{\"argv\":{\"0\":\"echo\"}}", "'argv'"},
    {"{\"cmd\":[\"echo\"]}", "'cmd'"},
    {"{\"cmd\":1}", "'cmd'"},
    {"{\"cmd\":false}", "'cmd'"},
    {"{\"cmd\":\"x\",\"env\":[\"A=1\"]}", "'env'"},
    {"{\"cmd\":\"x\",\"env\":\"A=1\"}", "'env'"},
    {"{\"cmd\":\"x\",\"env\":{\"A\":1}}", "'env'"},
    {"{\"cmd\":\"x\",\"env\":{\"A\":true}}", "'env'"},
    {"{\"cmd\":\"x\",\"env\":{\"A\":[\"1\"]}}", "'env'"},
    {"{\"cmd\":\"x\",\"env\":{\"A\":{}}}", "'env'"},
    {"{\"cmd\":\"x\",\"cwd\":1}", "'cwd'"},
    {"{\"cmd\":\"x\",\"cwd\":[\"/\"]}", "'cwd'"},
    {"{\"cmd\":\"x\",\"priority\":true}", "'priority'"},
    {"{\"cmd\":\"x\",\"priority\":1.5}", "'priority'"},
    {"{\"cmd\":\"x\",\"priority\":[]}", "'priority'"},
    {"{\"cmd\":\"x\",\"priority\":{}}", "'priority'"},
    {"{\"cmd\":\"x\",\"max_retries\":1.5}", "'max_retries'"},
    {"{\"cmd\":\"x\",\"max_retries\":\"3\"}", "'max_retries'"},
    {"{\"cmd\":\"x\",\"max_retries\":true}", "'max_retries'"},
    {"{\"cmd\":\"x\",\"timeout\":true}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":[]}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":{}}", "'timeout'"},
    /* argv */
    {"{\"argv\":[]}", "'argv'"},
    {"{\"argv\":[1]}", "'argv'"},
    {"{\"argv\":[\"a\",2]}", "'argv'"},
    {"{\"argv\":[\"a\",null]}", "'argv'"},
    {"{\"argv\":[\"a\",[\"b\"]]}", "'argv'"},
    {"{\"argv\":[\"a\",{}]}", "'argv'"},
    {"{\"argv\":[\"a\",true]}", "'argv'"},
    {"{\"argv\":[\"a\\u0000b\"]}", "'argv'"},
    /* argv and cmd */
    {"{\"argv\":[\"a\"],\"cmd\":\"b\"}", "'argv'"},
    {"{\"argv\":[\"a\"],\"cmd\":\"b\"}", "'cmd'"},
    {"{}", "'argv'"},
    {"{}", "'cmd'"},
    {"{\"kind\":\"exec\"}", "'argv'"},
    {"{\"cmd\":\"\"}", "'cmd'"},
    {"{\"cmd\":\"a\\u0000b\"}", "'cmd'"},
    {"{\"id\":\"a\",\"env\":{\"A\":\"1\"}}", "'argv'"},
    /* argv or cmd on a built-in kind */
    {"{\"kind\":\"compute\",\"argv\":[\"a\"],\"payload\":{\"numbers\":[1]}}", "'argv'"},
    {"{\"kind\":\"noop\",\"cmd\":\"a\"}", "'cmd'"},
    {"{\"kind\":\"echo\",\"argv\":[\"a\"]}", "'argv'"},
    {"{\"kind\":\"sleep\",\"cmd\":\"sleep 1\",\"payload\":{\"seconds\":1}}", "'cmd'"},
    /* kind */
    {"{\"kind\":\"shell\",\"cmd\":\"x\"}", "'kind'"},
    {"{\"kind\":\"\",\"cmd\":\"x\"}", "'kind'"},
    {"{\"kind\":\"EXEC\",\"cmd\":\"x\"}", "'kind'"},
    {"{\"kind\":\"exec \",\"cmd\":\"x\"}", "'kind'"},
    {"{\"kind\":\"exec\\u0000\",\"cmd\":\"x\"}", "'kind'"},
    {"{\"kind\":\"computecomputecomputecomputecompute\"}", "'kind'"},
    /* id */
    {"{\"id\":\"\",\"cmd\":\"x\"}", "'id'"},
    {"{\"id\":\"a b\",\"cmd\":\"x\"}", "'id'"},
    {"{\"id\":\" a\",\"cmd\":\"x\"}", "'id'"},
    {"{\"id\":\"a\\tb\",\"cmd\":\"x\"}", "'id'"},
    {"{\"id\":\"a\\nb\",\"cmd\":\"x\"}", "'id'"},
    {"{\"id\":\"a\\u007f\",\"cmd\":\"x\"}", "'id'"},
    {"{\"id\":\"caf\\u00e9\",\"cmd\":\"x\"}", "'id'"},
    {"{\"id\":\"caf\xc3\xa9\",\"cmd\":\"x\"}", "'id'"},
    {"{\"id\":\"a\\u0000b\",\"cmd\":\"x\"}", "'id'"},
    /* env */
    {"{\"cmd\":\"x\",\"env\":{\"A=B\":\"1\"}}", "'env'"},
    {"{\"cmd\":\"x\",\"env\":{\"=\":\"1\"}}", "'env'"},
    {"{\"cmd\":\"x\",\"env\":{\"\":\"1\"}}", "'env'"},
    {"{\"cmd\":\"x\",\"env\":{\"A\":null}}", "'env'"},
    {"{\"cmd\":\"x\",\"env\":{\"A\":\"1\\u0000rm -rf\"}}", "'env'"},
    /* priority */
    {"{\"cmd\":\"x\",\"priority\":2147483648}", "'priority'"},
    {"{\"cmd\":\"x\",\"priority\":-2147483649}", "'priority'"},
    {"{\"cmd\":\"x\",\"priority\":99999999999999999999}", "'priority'"},
    {"{\"cmd\":\"x\",\"priority\":\"2147483648\"}", "'priority'"},
    {"{\"cmd\":\"x\",\"priority\":\"urgent\"}", "'priority'"},
    {"{\"cmd\":\"x\",\"priority\":\"\"}", "'priority'"},
    {"{\"cmd\":\"x\",\"priority\":\" 1\"}", "'priority'"},
    {"{\"cmd\":\"x\",\"priority\":\"1.0\"}", "'priority'"},
    /* max_retries */
    {"{\"cmd\":\"x\",\"max_retries\":-1}", "'max_retries'"},
    {"{\"cmd\":\"x\",\"max_retries\":1001}", "'max_retries'"},
    {"{\"cmd\":\"x\",\"max_retries\":4294967296}", "'max_retries'"},
    /* timeout */
    {"{\"cmd\":\"x\",\"timeout\":0}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":0.0}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":-1}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":-0.5}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":31536000}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":1e300}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":1e400}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":NaN}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":Infinity}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":\"0\"}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":\"0s\"}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":\"0.0001s\"}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":\"-1s\"}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":\"soon\"}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":\"\"}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":\"10 s\"}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":\"1d\"}", "'timeout'"},
    /* One rule with `submit --timeout`: what rounds to 0 ms is refused (it
     * once meant 1 ms here and "no timeout" on the command line). */
    {"{\"cmd\":\"x\",\"timeout\":0.0001}", "omit it for no timeout"},
    {"{\"cmd\":\"x\",\"timeout\":0.00049}", "omit it for no timeout"},
    {"{\"cmd\":\"x\",\"timeout\":1e-9}", "omit it for no timeout"},
    {"{\"cmd\":\"x\",\"timeout\":0}", "omit it for no timeout"},
    {"{\"cmd\":\"x\",\"timeout\":\"0ms\"}", "omit it for no timeout"},
    {"{\"cmd\":\"x\",\"timeout\":\"0.4ms\"}", "omit it for no timeout"},
    /* payload integers past 64 bits: json-c clamps them */
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[18446744073709551616]}}",
     "'payload.numbers[0]' is an integer outside the 64-bit range"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[1,18446744073709551615]}}",
     "'payload.numbers[1]'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[9223372036854775808]}}",
     "'payload.numbers[0]'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[-9223372036854775809]}}",
     "'payload.numbers[0]'"},
    /* -2^63 cannot be told from what json-c clamps to it */
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[-9223372036854775808]}}",
     "'payload.numbers[0]'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[1e3,-99999999999999999999999]}}",
     "'payload.numbers[1]'"},
    {"{\"kind\":\"echo\",\"payload\":{\"a\":{\"b\":[1,{\"c\":18446744073709551616}]}}}",
     "'payload.a.b[1].c'"},
    {"{\"kind\":\"echo\",\"payload\":99999999999999999999}", "'payload'"},
    {"{\"cmd\":\"x\",\"max_retries\":18446744073709551616}", "'max_retries'"},
    /* Durations are capped like numbers (365 days), so the canonical form,
     * which writes seconds, always parses again. */
    {"{\"cmd\":\"x\",\"timeout\":\"8760h\"}", "'timeout'"},
    {"{\"cmd\":\"x\",\"timeout\":\"876000h\"}", "'timeout'"},
    /* compute */
    {"{\"kind\":\"compute\"}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":[1,2]}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":null}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":5}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":\"1,2\"}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[1,\"2\"]}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[1,null]}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[[1]]}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[true]}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[NaN]}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[1e400]}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[-Infinity]}}", "'payload.numbers'"},
    {"{\"kind\":\"compute\",\"payload\":{\"Numbers\":[1]}}", "'payload.numbers'"},
    /* any payload: NaN and infinities are not JSON numbers */
    {"{\"kind\":\"echo\",\"payload\":{\"x\":NaN}}", "'payload'"},
    {"{\"kind\":\"echo\",\"payload\":[1,[2,[-Infinity]]]}", "'payload'"},
    {"{\"cmd\":\"x\",\"payload\":{\"big\":1e400}}", "'payload'"},
    {"{\"kind\":\"transform\",\"payload\":{\"data\":\"d\",\"n\":NaN}}", "'payload'"},
    /* transform */
    {"{\"kind\":\"transform\"}", "'payload.data'"},
    {"{\"kind\":\"transform\",\"payload\":{}}", "'payload.data'"},
    {"{\"kind\":\"transform\",\"payload\":{\"data\":1}}", "'payload.data'"},
    {"{\"kind\":\"transform\",\"payload\":{\"data\":[\"a\"]}}", "'payload.data'"},
    {"{\"kind\":\"transform\",\"payload\":{\"data\":null}}", "'payload.data'"},
    {"{\"kind\":\"transform\",\"payload\":\"abc\"}", "'payload.data'"},
    /* sleep */
    {"{\"kind\":\"sleep\"}", "'payload.seconds'"},
    {"{\"kind\":\"sleep\",\"payload\":{\"seconds\":-1}}", "'payload.seconds'"},
    {"{\"kind\":\"sleep\",\"payload\":{\"seconds\":\"1s\"}}", "'payload.seconds'"},
    {"{\"kind\":\"sleep\",\"payload\":{\"seconds\":31536001}}", "'payload.seconds'"},
    {"{\"kind\":\"sleep\",\"payload\":{\"seconds\":NaN}}", "'payload.seconds'"},
    {"{\"kind\":\"sleep\",\"payload\":{\"seconds\":Infinity}}", "'payload.seconds'"},
    {"{\"kind\":\"sleep\",\"payload\":{\"seconds\":1e400}}", "'payload.seconds'"},
};

static void test_spec_malformed_fields(void **state UNUSED)
{
    for (size_t i = 0; i < ARRAY_SIZE(bad_specs); i++)
        spec_bad(bad_specs[i].json, bad_specs[i].field);
}

/* The same specs inside a submit: refused, the error names the task and the
 * field. */
static void test_submit_malformed(void **state UNUSED)
{
    for (size_t i = 0; i < ARRAY_SIZE(bad_specs); i++) {
        struct buf b = BUF_INIT;
        buf_addf(&b, "{\"type\":\"submit\",\"tasks\":[{\"cmd\":\"ok\"},%s]}", bad_specs[i].json);
        parse_bad(b.data, bad_specs[i].field);
        parse_bad(b.data, "task 2");
        buf_release(&b);
    }
    parse_bad("{\"type\":\"submit\"}", "'tasks'");
    parse_bad("{\"type\":\"submit\",\"tasks\":[]}", "'tasks'");
    parse_bad("{\"type\":\"submit\",\"tasks\":{\"cmd\":\"x\"}}", "'tasks'");
    parse_bad("{\"type\":\"submit\",\"tasks\":[1]}", "object");
    parse_bad("{\"type\":\"submit\",\"tasks\":[{\"cmd\":\"x\"}],\"wait\":true}", "'wait'");
}

static void test_spec_too_big(void **state UNUSED)
{
    struct buf b = BUF_INIT;
    char *big = repeat('c', MSG_MAX_STR + 1);

    buf_addf(&b, "{\"cmd\":\"%s\"}", big);
    spec_bad_n(b.data, b.len, "'cmd'");

    buf_reset(&b);
    buf_addf(&b, "{\"argv\":[\"%s\"]}", big);
    spec_bad_n(b.data, b.len, "'argv'");

    buf_reset(&b);
    buf_addf(&b, "{\"cmd\":\"x\",\"env\":{\"K\":\"%s\"}}", big + 1);
    spec_bad_n(b.data, b.len, "'env'");

    buf_reset(&b);
    buf_addf(&b, "{\"kind\":\"echo\",\"payload\":\"%s\"}", big + 2);
    spec_bad_n(b.data, b.len, "'payload'");

    buf_reset(&b);
    buf_addf(&b, "{\"cmd\":\"x\",\"cwd\":\"%s\"}", big + MSG_MAX_STR - 4096);
    spec_bad_n(b.data, b.len, "'cwd'");

    buf_reset(&b);
    buf_addf(&b, "{\"id\":\"%s\",\"cmd\":\"x\"}", big + MSG_MAX_STR - MSG_MAX_ID);
    spec_bad_n(b.data, b.len, "'id'");

    buf_reset(&b);
    buf_addstr(&b, "{\"argv\":[");
    for (int i = 0; i <= MSG_MAX_ARGV; i++)
        buf_addf(&b, "%s\"a\"", i ? "," : "");
    buf_addstr(&b, "]}");
    spec_bad_n(b.data, b.len, "'argv'");

    buf_reset(&b);
    buf_addstr(&b, "{\"cmd\":\"x\",\"env\":{");
    for (int i = 0; i <= MSG_MAX_ENV; i++)
        buf_addf(&b, "%s\"V%d\":\"\"", i ? "," : "", i);
    buf_addstr(&b, "}}");
    spec_bad_n(b.data, b.len, "'env'");

    free(big);
    buf_release(&b);
}

/* Deep nesting: beyond FRAME_MAX_DEPTH the JSON decoder refuses; a payload
 * nested so deep that the run message carrying it would pass the limit is
 * refused at submission (naming the field) instead of at the worker. */
static void test_spec_nesting(void **state UNUSED)
{
    struct buf b = BUF_INIT;
    struct task_spec s;

    for (int depth = 1; depth <= FRAME_MAX_DEPTH + 2; depth++) {
        buf_reset(&b);
        buf_addstr(&b, "{\"kind\":\"echo\",\"payload\":");
        for (int i = 0; i < depth; i++)
            buf_addch(&b, '[');
        for (int i = 0; i < depth; i++)
            buf_addch(&b, ']');
        buf_addch(&b, '}');
        int rc = spec_parse(b.data, b.len, &s, err, sizeof(err));
        if (rc == 0) {
            /* Whatever is accepted must survive the trip to a worker. */
            struct buf run = BUF_INIT, spec = BUF_INIT;
            struct msg m;
            free(s.id);
            s.id = xstrdup("deep");
            spec_encode(&spec, &s);
            spec_release(&s);
            msg_run_begin(&run);
            msg_run_add(&run, true, 1, 1, spec.data);
            msg_run_end(&run);
            parse_ok(run.data, &m);
            msg_release(&m);
            buf_release(&spec);
            buf_release(&run);
            /* ... and inside a submit. */
            buf_reset(&run);
            buf_addf(&run, "{\"type\":\"submit\",\"tasks\":[%s]}", b.data);
            parse_ok(run.data, &m);
            msg_release(&m);
            buf_release(&run);
            assert_true(depth < FRAME_MAX_DEPTH);
        } else {
            assert_int_equal(rc, DTR_EINVAL);
            if (!strstr(err, "'payload'") && !strstr(err, "nesting"))
                fail_msg("depth %d: error \"%s\" names neither the field nor the nesting",
                         depth, err);
            assert_true(depth > 8);
        }
    }
    /* Nesting in another field: refused by the decoder or by the field's type. */
    buf_reset(&b);
    buf_addstr(&b, "{\"cmd\":\"x\",\"argv\":");
    for (int i = 0; i < FRAME_MAX_DEPTH + 1; i++)
        buf_addch(&b, '[');
    for (int i = 0; i < FRAME_MAX_DEPTH + 1; i++)
        buf_addch(&b, ']');
    buf_addch(&b, '}');
    spec_bad_n(b.data, b.len, "nesting");
    buf_release(&b);
}

static void test_spec_bad_json(void **state UNUSED)
{
    static const char *const trailing[] = {
        "{\"cmd\":\"x\"} x", "{\"cmd\":\"x\"}{}", "{\"cmd\":\"x\"},", "{\"cmd\":\"x\"}]",
        "{\"cmd\":\"x\"}\n{\"cmd\":\"y\"}",
    };
    static const char *const truncated[] = {
        "", "   ", "{", "{\"cmd\"", "{\"cmd\":", "{\"cmd\":\"x\"", "{\"cmd\":\"x",
        "{\"argv\":[\"a\",", "{\"cmd\":\"x\\",
    };
    static const char *const broken[] = {
        "{cmd:\"x\"}", "{\"cmd\" \"x\"}", "{\"cmd\":\"x\"\"y\"}", "{\"cmd\":x}", "}",
        "{\"cmd\":\"\\q\"}", "{\"cmd\":\"\\u12\"}", "{\"cmd\":tru}",
        "{\"cmd\":\"x\"} //", /* json-c reads comments: this one never ends */
    };
    for (size_t i = 0; i < ARRAY_SIZE(trailing); i++)
        spec_bad(trailing[i], "trailing");
    for (size_t i = 0; i < ARRAY_SIZE(truncated); i++)
        spec_bad(truncated[i], "end of input");
    for (size_t i = 0; i < ARRAY_SIZE(broken); i++)
        spec_bad(broken[i], "JSON");
    /* A NUL after the object is not whitespace. */
    spec_bad_n("{\"cmd\":\"x\"}\0", 12, "trailing");
    spec_bad_n("{\"cmd\":\"x\"} \0 ", 14, "trailing");
    /* Only len bytes are read: what follows is not looked at. */
    struct task_spec s;
    spec_ok_n("{\"cmd\":\"x\"}garbage", 11, &s);
    spec_release(&s);
    spec_bad_n("{\"cmd\":\"x\"}", 10, "end of input");
}

/*
 * Invalid UTF-8 is refused everywhere (the error says "UTF-8"): the encoder
 * would turn each bad byte into U+FFFD, so accepting it would change what
 * the user asked for (and could push a field over its limit) between
 * submission and the worker. Valid UTF-8 and \u escapes pass; a lone
 * surrogate escape decodes to U+FFFD.
 */
static void test_spec_utf8(void **state UNUSED)
{
    static const char *const bad[] = {
        "{\"cmd\":\"\x80\"}",
        "{\"cmd\":\"caf\xe9\"}",               /* Latin-1 */
        "{\"cmd\":\"\xc0\x80\"}",              /* overlong NUL */
        "{\"cmd\":\"\xe0\x80\xaf\"}",          /* overlong '/' */
        "{\"cmd\":\"\xed\xa0\x80\"}",          /* UTF-8-encoded surrogate */
        "{\"cmd\":\"\xf4\x90\x80\x80\"}",      /* past U+10FFFF */
        "{\"cmd\":\"\xff\"}",
        "{\"cmd\":\"\xe2\x82\"}",              /* truncated */
        "{\"argv\":[\"\xc3\"]}",
        "{\"cmd\":\"x\",\"env\":{\"K\":\"\xfe\"}}",
        "{\"cmd\":\"x\",\"env\":{\"\xfe\":\"v\"}}",
        "{\"cmd\":\"x\",\"cwd\":\"/tmp/\xe9t\xe9\"}",
        "{\"kind\":\"echo\",\"payload\":{\"\x80\":1}}",
        "{\"kind\":\"transform\",\"payload\":{\"data\":\"\xc3\x28\"}}",
        "\xef\xbb\xbf{\"cmd\":\"x\"}",          /* a BOM is not JSON either */
    };
    struct task_spec s;
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        spec_bad(bad[i], i + 1 < ARRAY_SIZE(bad) ? "UTF-8" : "JSON");

    spec_ok("{\"cmd\":\"echo gr\xc3\xbc\xc3\x9f \xe4\xb8\x96 \xf0\x9f\x98\x80\"}", &s);
    assert_string_equal(s.cmd, "echo gr\xc3\xbc\xc3\x9f \xe4\xb8\x96 \xf0\x9f\x98\x80");
    spec_release(&s);
    spec_ok("{\"cmd\":\"\\u00fc\\ud83d\\ude00\"}", &s);
    assert_string_equal(s.cmd, "\xc3\xbc\xf0\x9f\x98\x80");
    spec_release(&s);
    spec_ok("{\"cmd\":\"\\ud800\"}", &s);
    assert_string_equal(s.cmd, "\xef\xbf\xbd");
    spec_release(&s);
    /* And the canonical form keeps multi-byte text as it is. */
    assert_canon("{\"cmd\":\"\xc3\xa9\",\"env\":{\"\xc3\xa9\":\"\xe2\x82\xac\"}}",
                 "{\"id\":null,\"kind\":\"exec\",\"cmd\":\"\xc3\xa9\",\"env\":{\"\xc3\xa9\":"
                 "\"\xe2\x82\xac\"},\"priority\":2,\"max_retries\":3}");
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

    /* Nesting: FRAME_MAX_DEPTH levels decode, one more does not. */
    struct buf b = BUF_INIT;
    buf_addstr(&b, "{\"type\":\"ping\",\"x\":");
    for (int i = 0; i < FRAME_MAX_DEPTH - 1; i++)
        buf_addch(&b, '[');
    for (int i = 0; i < FRAME_MAX_DEPTH - 1; i++)
        buf_addch(&b, ']');
    buf_addch(&b, '}');
    parse_ok(b.data, &m);
    msg_release(&m);
    buf_reset(&b);
    buf_addstr(&b, "{\"type\":\"ping\",\"x\":");
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
static bool parse_both_ways(const char *line, struct msg *a, struct msg *b)
{
    char slow[1024], e1[512], e2[512];
    snprintf(slow, sizeof(slow), "{ %s", line + 1);
    int ra = msg_parse(line, strlen(line), a, e1, sizeof(e1));
    int rb = msg_parse(slow, strlen(slow), b, e2, sizeof(e2));
    if ((ra == 0) != (rb == 0))
        fail_msg("%s gives %d (%s), the full path %d (%s)", line, ra, ra ? e1 : "ok", rb,
                 rb ? e2 : "ok");
    return ra == 0;
}

/* Result lines in the workers' own spelling take a shortcut past json-c.
 * Each line here is parsed as it is and again with a space after the '{',
 * which no shortcut accepts: both must agree, field by field. */
static void test_msg_result_fast_path_agrees(void **state UNUSED)
{
#define R(rest) "{\"type\":\"result\"," rest
    static const char *const lines[] = {
        R("\"lease\":5,\"id\":\"t-1\",\"attempt\":1,\"ok\":true,\"exit_code\":-1,"
          "\"started_at\":1700000000000,\"finished_at\":1700000000001}"),
        R("\"lease\":7,\"id\":\"x\",\"attempt\":3,\"ok\":false,\"refused\":true,"
          "\"exit_code\":-1,\"signal\":9,\"started_at\":0,\"finished_at\":0}"),
        R("\"lease\":9223372036854775807,\"id\":\"a\",\"attempt\":2147483647,\"ok\":true,"
          "\"exit_code\":255,\"signal\":128,\"started_at\":2305843009213693951,"
          "\"finished_at\":1}"),
        R("\"lease\":9223372036854775808,\"id\":\"a\",\"attempt\":1,\"ok\":true,"
          "\"exit_code\":0,\"started_at\":1,\"finished_at\":1}"),
        R("\"lease\":99999999999999999999999,\"id\":\"a\",\"attempt\":1,\"ok\":true,"
          "\"exit_code\":0,\"started_at\":1,\"finished_at\":1}"),
        R("\"lease\":0,\"id\":\"a\",\"attempt\":1,\"ok\":true,\"exit_code\":0,"
          "\"started_at\":1,\"finished_at\":1}"),
        R("\"lease\":1,\"id\":\"a\",\"attempt\":2147483648,\"ok\":true,\"exit_code\":0,"
          "\"started_at\":1,\"finished_at\":1}"),
        R("\"lease\":1,\"id\":\"a\",\"attempt\":0,\"ok\":true,\"exit_code\":0,"
          "\"started_at\":1,\"finished_at\":1}"),
        R("\"lease\":1,\"id\":\"a\",\"attempt\":1,\"ok\":true,\"exit_code\":256,"
          "\"started_at\":1,\"finished_at\":1}"),
        R("\"lease\":1,\"id\":\"a\",\"attempt\":1,\"ok\":true,\"exit_code\":-2,"
          "\"started_at\":1,\"finished_at\":1}"),
        R("\"lease\":1,\"id\":\"a\",\"attempt\":1,\"ok\":true,\"exit_code\":-0,"
          "\"started_at\":1,\"finished_at\":1}"),
        R("\"lease\":1,\"id\":\"a\",\"attempt\":1,\"ok\":true,\"exit_code\":0,"
          "\"signal\":129,\"started_at\":1,\"finished_at\":1}"),
        R("\"lease\":1,\"id\":\"a\",\"attempt\":1,\"ok\":true,\"exit_code\":0,"
          "\"started_at\":2305843009213693952,\"finished_at\":1}"),
        R("\"lease\":1,\"id\":\"a\",\"attempt\":1,\"ok\":true,\"exit_code\":0,"
          "\"started_at\":1.5,\"finished_at\":1}"),
        R("\"lease\":01,\"id\":\"a\",\"attempt\":1,\"ok\":true,\"exit_code\":0,"
          "\"started_at\":1,\"finished_at\":1}"),
        R("\"lease\":1,\"id\":\"\",\"attempt\":1,\"ok\":true,\"exit_code\":0,"
          "\"started_at\":1,\"finished_at\":1}"),
        R("\"lease\":1,\"id\":\"a b\",\"attempt\":1,\"ok\":true,\"exit_code\":0,"
          "\"started_at\":1,\"finished_at\":1}"),
        R("\"lease\":1,\"id\":\"\\u0041\",\"attempt\":1,\"ok\":true,\"exit_code\":0,"
          "\"started_at\":1,\"finished_at\":1}"),
        R("\"lease\":1,\"id\":\"a\",\"attempt\":1,\"ok\":true,\"exit_code\":0,"
          "\"started_at\":1,\"finished_at\":1,\"x\":1}"),
        R("\"lease\":1,\"id\":\"a\",\"attempt\":1,\"ok\":true,\"exit_code\":0,"
          "\"started_at\":1,\"finished_at\":1}x"),
        R("\"lease\":1,\"id\":\"a\",\"attempt\":1,\"ok\":1,\"exit_code\":0,"
          "\"started_at\":1,\"finished_at\":1}"),
        R("\"lease\":1,\"id\":\"a\",\"attempt\":1,\"ok\":true,\"exit_code\":0,"
          "\"started_at\":1,\"finished_at\":"),
    };
#undef R
    char id129[160];
    memset(id129, 'i', 129);
    id129[129] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(lines) + 2; i++) {
        char line[512];
        if (i < ARRAY_SIZE(lines))
            snprintf(line, sizeof(line), "%s", lines[i]);
        else /* ids of 128 and 129 bytes */
            snprintf(line, sizeof(line),
                     "{\"type\":\"result\",\"lease\":1,\"id\":\"%s\",\"attempt\":1,"
                     "\"ok\":true,\"exit_code\":0,\"started_at\":1,\"finished_at\":1}",
                     id129 + (i == ARRAY_SIZE(lines)));
        struct msg a, b;
        if (parse_both_ways(line, &a, &b)) {
            assert_int_equal(a.type, b.type);
            assert_int_equal(a.result.lease, b.result.lease);
            assert_string_equal(a.result.id, b.result.id);
            assert_int_equal(a.result.attempt, b.result.attempt);
            assert_int_equal(a.result.ok, b.result.ok);
            assert_int_equal(a.result.refused, b.result.refused);
            assert_int_equal(a.result.exit_code, b.result.exit_code);
            assert_int_equal(a.result.term_signal, b.result.term_signal);
            assert_int_equal(a.result.started_at, b.result.started_at);
            assert_int_equal(a.result.finished_at, b.result.finished_at);
            assert_null(a.result.error);
            assert_null(b.result.error);
            assert_null(a.result.out.result);
            assert_null(b.result.out.result);
            msg_release(&a);
            msg_release(&b);
        }
    }
}

static void assert_spec_same(const struct task_spec *a, const struct task_spec *b)
{
    if (a->id || b->id)
        assert_string_equal(a->id, b->id);
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->argc, b->argc);
    for (size_t i = 0; i < a->argc; i++)
        assert_string_equal(a->argv[i], b->argv[i]);
    assert_true((a->argv == NULL) == (b->argv == NULL));
    const char *const pairs[][2] = {{a->cmd, b->cmd}, {a->cwd, b->cwd}, {a->payload, b->payload}};
    for (size_t i = 0; i < ARRAY_SIZE(pairs); i++)
        if (pairs[i][0] || pairs[i][1])
            assert_string_equal(pairs[i][0], pairs[i][1]);
    assert_int_equal(a->envc, b->envc);
    assert_int_equal(a->priority, b->priority);
    assert_int_equal(a->max_retries, b->max_retries);
    assert_int_equal(a->timeout_ms, b->timeout_ms);
}

/* Submit and run lines in dtr's own spelling skip json-c too; as for
 * results, each line is parsed as it is and with a space after its '{'. */
static void test_msg_specs_fast_path_agrees(void **state UNUSED)
{
#define NOOP(id, rest) "{\"id\":" id ",\"kind\":\"noop\"" rest "}"
#define PR ",\"priority\":2,\"max_retries\":3"
    static const char *const lines[] = {
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"payload\":{}" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"payload\":{ }" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"payload\":{\"a\":1}" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[{\"id\":\"x\",\"kind\":\"exec\",\"argv\":[\"a\"],"
        "\"payload\":{},\"priority\":-5,\"max_retries\":0}]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("\"a\"", PR) "," NOOP("\"b-2\"", PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[{\"id\":\"x\",\"kind\":\"exec\",\"argv\":[\"/bin/echo\","
        "\"two words\",\"\"],\"priority\":-5,\"max_retries\":0}]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"priority\":2147483647,"
                                                    "\"max_retries\":1000") "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"priority\":-2147483648,"
                                                    "\"max_retries\":1") "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"priority\":2147483648,"
                                                    "\"max_retries\":1") "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"priority\":1,"
                                                    "\"max_retries\":1001") "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("\"a b\"", PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("\"\"", PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("\"\\u0041\"", PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[]}",
        "{\"type\":\"submit\",\"tasks\":[{\"id\":null,\"kind\":\"exec\",\"argv\":[],"
        "\"priority\":2,\"max_retries\":3}]}",
        "{\"type\":\"submit\",\"tasks\":[{\"id\":null,\"kind\":\"exec\","
        "\"priority\":2,\"max_retries\":3}]}",
        "{\"type\":\"submit\",\"tasks\":[{\"id\":null,\"kind\":\"noop\",\"argv\":[\"x\"],"
        "\"priority\":2,\"max_retries\":3}]}",
        "{\"type\":\"submit\",\"tasks\":[{\"id\":null,\"kind\":\"compute\","
        "\"priority\":2,\"max_retries\":3}]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", PR) "]}x",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", PR) ",]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"priority\":2") "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", PR ",\"timeout\":1.5") "]}",
        "{\"type\":\"submit\",\"tasks\":[{\"id\":\"e\",\"kind\":\"exec\",\"argv\":[\"a\"],"
        "\"cwd\":\"/tmp\",\"priority\":2,\"max_retries\":3}]}",
        "{\"type\":\"run\",\"tasks\":[{\"lease\":1,\"attempt\":1,\"spec\":" NOOP("\"a\"", PR)
        "},{\"lease\":9223372036854775807,\"attempt\":2147483647,\"spec\":{\"id\":\"b\","
        "\"kind\":\"exec\",\"argv\":[\"/bin/true\"],\"priority\":0,\"max_retries\":3}}]}",
        "{\"type\":\"run\",\"tasks\":[{\"lease\":0,\"attempt\":1,\"spec\":" NOOP("\"a\"", PR) "}]}",
        "{\"type\":\"run\",\"tasks\":[{\"lease\":1,\"attempt\":0,\"spec\":" NOOP("\"a\"", PR) "}]}",
        "{\"type\":\"run\",\"tasks\":[{\"lease\":1,\"attempt\":1,\"spec\":" NOOP("null", PR) "}]}",
        "{\"type\":\"run\",\"tasks\":[{\"lease\":1,\"attempt\":1,\"spec\":" NOOP("\"a\"", PR)
        ",\"x\":1}]}",
    };
#undef NOOP
#undef PR
    for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
        struct msg a, b;
        if (!parse_both_ways(lines[i], &a, &b))
            continue;
        assert_int_equal(a.type, b.type);
        assert_int_equal(a.nspecs, b.nspecs);
        for (size_t k = 0; k < a.nspecs; k++)
            assert_spec_same(&a.specs[k], &b.specs[k]);
        assert_int_equal(a.nruns, b.nruns);
        for (size_t k = 0; k < a.nruns; k++) {
            assert_int_equal(a.runs[k].lease, b.runs[k].lease);
            assert_int_equal(a.runs[k].attempt, b.runs[k].attempt);
            assert_spec_same(&a.runs[k].spec, &b.runs[k].spec);
        }
        msg_release(&a);
        msg_release(&b);
    }
}

/* What spec_encode() and msg_run_add() write takes the shortcut and comes
 * back the same (a thousand tasks in one submit and one run). */
static void test_msg_specs_fast_path_roundtrip(void **state UNUSED)
{
    struct msg in = {.type = MSG_SUBMIT}, out;
    struct task_spec specs[1000];
    memset(specs, 0, sizeof(specs));
    char *argv[] = {(char *)"/bin/echo", (char *)"hello world", NULL};
    char ids[1000][16];
    for (int i = 0; i < 1000; i++) {
        snprintf(ids[i], sizeof(ids[i]), "t-%d", i);
        specs[i].id = i % 3 ? ids[i] : NULL;
        specs[i].kind = i % 2 ? KIND_EXEC : KIND_NOOP;
        if (i % 2) {
            specs[i].argv = argv;
            specs[i].argc = 2;
        }
        specs[i].priority = i - 500;
        specs[i].max_retries = i % 7;
        specs[i].payload = i % 4 == 0 ? (char *)"{}" : NULL;
    }
    in.specs = specs;
    in.nspecs = 1000;
    encode_parse(&in, &out);
    assert_int_equal(out.nspecs, 1000);
    for (int i = 0; i < 1000; i++)
        assert_spec_same(&out.specs[i], &specs[i]);
    msg_release(&out);

    struct buf b = BUF_INIT;
    buf_addstr(&b, "{\"type\":\"run\",\"tasks\":[");
    for (int i = 1; i < 1000; i += 3) {
        struct buf sj = BUF_INIT;
        spec_encode(&sj, &specs[i]);
        msg_run_add(&b, i == 1, (uint64_t)i * 7, i % 5 + 1, sj.data);
        buf_release(&sj);
    }
    msg_run_end(&b);
    char why[512];
    assert_int_equal(msg_parse(b.data, b.len - 1, &out, why, sizeof(why)), 0);
    assert_int_equal(out.nruns, 333);
    for (int i = 1, k = 0; i < 1000; i += 3, k++) {
        assert_int_equal(out.runs[k].lease, (uint64_t)i * 7);
        assert_int_equal(out.runs[k].attempt, i % 5 + 1);
        assert_spec_same(&out.runs[k].spec, &specs[i]);
    }
    msg_release(&out);
    buf_release(&b);
}

static void test_msg_heartbeat_lines(void **state UNUSED)
{
    struct msg m;
    parse_ok("{\"type\":\"ping\"}", &m);
    assert_int_equal(m.type, MSG_PING);
    msg_release(&m);
    static const struct {
        const char *line;
        int busy;
    } pongs[] = {
        {"{\"type\":\"pong\",\"busy\":0}", 0},
        {"{\"type\":\"pong\",\"busy\":7}", 7},
        {"{\"type\":\"pong\",\"busy\":1048576}", 1048576},
        {"{\"type\":\"pong\",\"busy\":  12 }", 12},   /* the full path */
        {"{\"busy\":3,\"type\":\"pong\"}", 3},        /* the full path */
        {"{\"type\":\"pong\"}", 0},                    /* busy is optional */
        {"{\"type\": \"ping\"}", -1},
    };
    for (size_t i = 0; i < ARRAY_SIZE(pongs); i++) {
        parse_ok(pongs[i].line, &m);
        assert_int_equal(m.type, pongs[i].busy < 0 ? MSG_PING : MSG_PONG);
        if (pongs[i].busy >= 0)
            assert_int_equal(m.busy, pongs[i].busy);
        msg_release(&m);
    }
    parse_bad("{\"type\":\"pong\",\"busy\":}", "");
    parse_bad("{\"type\":\"pong\",\"busy\":1", "");
    parse_bad("{\"type\":\"pong\",\"busy\":1x}", "");
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
        {"{\"type\":\"status\",\"status\":{\"workers\":[],\"tasks\":{\"queued\":-1}}}",
         "'queued'"},
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
static void test_spec_int_range(void **state UNUSED)
{
    struct task_spec s;
    struct msg m;
    spec_ok("{\"kind\":\"compute\",\"payload\":{\"numbers\":"
            "[9223372036854775807,-9223372036854775807,1.8e19,-1e300]}}",
            &s);
    assert_string_equal(s.payload, "{\"numbers\":[9223372036854775807,-9223372036854775807,"
                                   "1.8e19,-1e300]}");
    spec_release(&s);
    /* A submit names the task, then the field. */
    parse_bad("{\"type\":\"submit\",\"tasks\":[{\"cmd\":\"x\"},{\"kind\":\"compute\","
              "\"payload\":{\"numbers\":[18446744073709551616]}}]}",
              "task 2: field 'payload.numbers[0]' is an integer outside the 64-bit range");
    /* A run carries the master's canonical specs: what an older master
     * accepted (and json-c clamped) still reaches the worker. */
    parse_ok("{\"type\":\"run\",\"tasks\":[{\"lease\":1,\"attempt\":1,\"spec\":{\"id\":\"t\","
             "\"kind\":\"compute\",\"payload\":{\"numbers\":[18446744073709551615]},"
             "\"priority\":2,\"max_retries\":3}}]}",
             &m);
    assert_string_equal(m.runs[0].spec.payload, "{\"numbers\":[18446744073709551615]}");
    msg_release(&m);
    /* Protocol integers: 2^64 is not INT64_MAX. */
    parse_bad("{\"type\":\"result\",\"lease\":18446744073709551616,\"id\":\"t\",\"attempt\":1}",
              "'lease'");
    parse_bad("{\"type\":\"progress\",\"total\":18446744073709551615,\"done\":1}", "'total'");
    parse_bad("{\"type\":\"ack\",\"leases\":[1,18446744073709551616]}", "'leases'");
    parse_ok("{\"type\":\"progress\",\"total\":9223372036854775807,\"done\":1}", &m);
    assert_true(m.total == (uint64_t)INT64_MAX);
    msg_release(&m);
}

/* Only a key with an escaped NUL is refused: not a value, not an escaped
 * backslash before "u0000". */
static void test_msg_nul_keys(void **state UNUSED)
{
    struct task_spec s;
    struct msg m;
    spec_ok("{\"kind\":\"transform\",\"payload\":{\"data\":\"a\\u0000b\"}}", &s);
    spec_release(&s);
    spec_ok("{\"cmd\":\"x\",\"env\":{\"A\\\\u0000\":\"\\\\u0000\"}}", &s);
    assert_string_equal(s.env[0], "A\\u0000=\\u0000");
    spec_release(&s);
    spec_ok("{\"kind\":\"echo\",\"payload\":{\"a\":\"\\u0000\\\":\"}}", &s); /* a value */
    spec_release(&s);
    parse_ok("{\"type\":\"result\",\"lease\":1,\"id\":\"t\",\"attempt\":1,\"stdout\":\"x\\u0000y\"}",
             &m);
    assert_int_equal(m.result.out.out_len, 3);
    msg_release(&m);
    /* json-c would cut "A\u0000B" to "A": refused before any field is read,
     * naming where the key is. */
    static const struct {
        const char *json;
        const char *field;
    } cases[] = {
        {"{\"cmd\":\"x\",\"env\":{\"A\\u0000B\":\"1\"}}", "field 'env' holds a name with a NUL"},
        {"{\"cmd\":\"x\",\"env\":{\"\\u0000\":\"1\"}}", "'env'"},
        {"{\"cmd\":\"x\",\"env\":{\"B\":\"2\", \"A\\u0000\" : \"1\"}}", "'env'"},
        {"{\"kind\":\"echo\",\"payload\":{\"a\\u0000b\":1}}", "'payload'"},
        {"{\"kind\":\"echo\",\"payload\":{\"x\":[1,\"s,[\",{\"k\\u0000\":1}]}}", "'payload.x[2]'"},
        {"{\"cmd\\u0000\":\"x\"}", "a field name holds a NUL"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct buf b = BUF_INIT;
        spec_bad(cases[i].json, cases[i].field);
        buf_addf(&b, "{\"type\":\"submit\",\"tasks\":[{\"cmd\":\"ok\"},%s]}", cases[i].json);
        parse_bad(b.data, i < 5 ? "field 'tasks[1]." : "field 'tasks[1]'");
        buf_release(&b);
    }
    parse_bad("{\"type\\u0000\":\"ping\"}", "a field name holds a NUL character");
}

/* A result line for output bytes (len n) and its parse: the stream travels
 * as the string "stdout" when valid UTF-8, else as "stdout_b64" only. */
static void result_with_output(const char *bytes, size_t n, bool want_b64)
{
    struct msg in = {.type = MSG_RESULT}, out;
    struct buf b = BUF_INIT;
    in.result.lease = 1;
    in.result.id = (char *)"t";
    in.result.attempt = 1;
    in.result.out.out = (char *)bytes;
    in.result.out.out_len = n;
    in.result.out.err = (char *)bytes;
    in.result.out.err_len = n;
    msg_encode(&b, &in);
    json_object *o = strict_json(b.data, b.len - 1);
    assert_int_equal(json_object_object_get_ex(o, "stdout_b64", NULL), want_b64);
    assert_int_equal(json_object_object_get_ex(o, "stderr_b64", NULL), want_b64);
    assert_int_equal(json_object_object_get_ex(o, "stdout", NULL), !want_b64);
    json_object_put(o);
    assert_null(strstr(b.data, "\\ufffd"));
    parse_ok_n(b.data, b.len - 1, &out);
    assert_int_equal(out.result.out.out_len, n);
    assert_memory_equal(out.result.out.out, bytes, n);
    assert_int_equal(out.result.out.err_len, n);
    assert_memory_equal(out.result.out.err, bytes, n);
    msg_release(&out);
    buf_release(&b);
}

static void test_msg_binary_output(void **state UNUSED)
{
    static const char bin[] = {'\xff', '\0', 'a', '\xc3', '(', '\x80', '\n', '\xed', '\xa0',
                               '\x80'};
    result_with_output(bin, sizeof(bin), true);
    result_with_output("\xc3\xa9t\xc3\xa9\0\n", 7, false);
    result_with_output("\x80", 1, true);
    for (size_t n = 1; n <= 5; n++) /* every padding */
        result_with_output("\xfe\xfe\xfe\xfe\xfe", n, true);
    /* 256 KiB of every byte value. */
    char *big = xmalloc(256 * 1024);
    for (size_t i = 0; i < 256 * 1024; i++)
        big[i] = (char)(i * 7 + i / 256);
    result_with_output(big, 256 * 1024, true);

    /* The get reply carries the same rule; the display form for `dtr result
     * --json` always has "stdout" (U+FFFD for bad bytes) and adds
     * "stdout_b64", and still parses back to the exact bytes. */
    struct task_info ti = {.id = (char *)"t", .state = TASK_SUCCEEDED, .exit_code = 0,
                           .has_output = true};
    ti.out.out = (char *)bin;
    ti.out.out_len = sizeof(bin);
    ti.out.err = (char *)"ok";
    ti.out.err_len = 2;
    for (int display = 0; display < 2; display++) {
        struct buf b = BUF_INIT;
        struct msg m;
        buf_addstr(&b, "{\"type\":\"task\",\"task\":");
        if (display)
            task_info_encode_display(&b, &ti);
        else
            task_info_encode(&b, &ti);
        buf_addch(&b, '}');
        json_object *o = strict_json(b.data, b.len), *t = NULL, *v = NULL;
        assert_true(json_object_object_get_ex(o, "task", &t));
        assert_int_equal(json_object_object_get_ex(t, "stdout", &v), display);
        if (display) {
            assert_true(json_object_is_type(v, json_type_string));
            assert_non_null(strstr(json_object_get_string(v), "\xef\xbf\xbd")); /* U+FFFD */
        }
        assert_true(json_object_object_get_ex(t, "stdout_b64", &v));
        assert_string_equal(json_object_get_string(v), "/wBhwyiACu2ggA==");
        assert_true(json_object_object_get_ex(t, "stderr", &v));
        assert_string_equal(json_object_get_string(v), "ok");
        assert_false(json_object_object_get_ex(t, "stderr_b64", NULL));
        json_object_put(o);
        parse_ok(b.data, &m);
        assert_true(m.task.has_output);
        assert_int_equal(m.task.out.out_len, sizeof(bin));
        assert_memory_equal(m.task.out.out, bin, sizeof(bin));
        assert_string_equal(m.task.out.err, "ok");
        msg_release(&m);
        buf_release(&b);
    }
    free(big);
}

static void test_msg_binary_output_bad(void **state UNUSED)
{
#define RES "{\"type\":\"result\",\"lease\":1,\"id\":\"t\",\"attempt\":1,"
    static const struct {
        const char *json;
        const char *field;
    } cases[] = {
        {RES "\"stdout_b64\":5}", "'stdout_b64'"},
        {RES "\"stdout_b64\":[\"QQ==\"]}", "'stdout_b64'"},
        {RES "\"stdout_b64\":\"QQ\"}", "'stdout_b64'"},      /* padding missing */
        {RES "\"stdout_b64\":\"QR==\"}", "'stdout_b64'"},    /* stray bits */
        {RES "\"stdout_b64\":\"QQ==QQ==\"}", "'stdout_b64'"},
        {RES "\"stdout_b64\":\"QQ== \"}", "'stdout_b64'"},
        {RES "\"stdout_b64\":\" QQ==\"}", "'stdout_b64'"},
        {RES "\"stdout_b64\":\"Q\\nQ==\"}", "'stdout_b64'"},
        {RES "\"stdout_b64\":\"QQ=\\u0000\"}", "'stdout_b64'"},
        {RES "\"stdout_b64\":\"-_8=\"}", "'stdout_b64'"},     /* the URL alphabet */
        {RES "\"stdout_b64\":\"A\"}", "'stdout_b64'"},
        {RES "\"stderr_b64\":\"@@@@\"}", "'stderr_b64'"},
        {RES "\"stdout_b64\":\"QQ==\",\"stdout\":1}", "'stdout'"},
        {RES "\"stdout_64\":\"QQ==\"}", "'stdout_64'"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        parse_bad(cases[i].json, cases[i].field);
    struct msg m;
    /* Empty, and a display copy beside the bytes: the bytes win. */
    parse_ok(RES "\"stdout_b64\":\"\",\"stderr\":\"shown\",\"stderr_b64\":\"AP8=\"}", &m);
    assert_int_equal(m.result.out.out_len, 0);
    assert_int_equal(m.result.out.err_len, 2);
    assert_memory_equal(m.result.out.err, "\0\xff", 2);
    msg_release(&m);
    parse_bad("{\"type\":\"task\",\"task\":{\"id\":\"t\",\"state\":\"queued\",\"stdout_b64\":\"*\"}}",
              "'stdout_b64'");
    parse_ok("{\"type\":\"task\",\"task\":{\"id\":\"t\",\"state\":\"queued\",\"stdout_b64\":\"\"}}",
             &m);
    assert_true(m.task.has_output);
    msg_release(&m);
#undef RES
}

/* Arrays at MSG_MAX_BATCH pass and one more is refused. */
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

/* ---- built-in payloads --------------------------------------------------------- */

static void eval_ok(enum task_kind kind, const char *payload, const char *want)
{
    char *result = NULL;
    int64_t sleep_ms = -1;
    int rc = payload_eval(kind, payload, &result, &sleep_ms, err, sizeof(err));
    if (rc)
        fail_msg("payload_eval(%s, %s) = %d: %s", task_kind_name(kind), payload, rc, err);
    assert_non_null(result);
    if (strcmp(result, want))
        fail_msg("payload_eval(%s, %s) = %s, want %s", task_kind_name(kind), payload, result,
                 want);
    json_object_put(strict_json(result, strlen(result)));
    assert_int_equal(sleep_ms, 0);
    free(result);
}

static void eval_bad(enum task_kind kind, const char *payload, const char *field)
{
    char *result = (char *)"sentinel";
    int64_t sleep_ms = -1;
    snprintf(err, sizeof(err), "(untouched)");
    int rc = payload_eval(kind, payload, &result, &sleep_ms, err, sizeof(err));
    if (rc != DTR_EINVAL)
        fail_msg("payload_eval(%s, %s) = %d, want DTR_EINVAL", task_kind_name(kind), payload,
                 rc);
    assert_null(result);
    if (!strstr(err, field))
        fail_msg("payload_eval(%s, %s): error \"%s\" does not mention %s", task_kind_name(kind),
                 payload, err, field);
}

static void test_payload_compute(void **state UNUSED)
{
    eval_ok(KIND_COMPUTE, "{\"numbers\":[1,2,3]}", "6");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[]}", "0");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[-5,2]}", "-3");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[1.5,2]}", "3.5");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[0.1,0.2]}", "0.30000000000000004");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[2.0]}", "2");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[1e3,1]}", "1001");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[9223372036854775806,1]}", "9223372036854775807");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[-9223372036854775807,-1]}", "-9223372036854775808");
    /* Integer overflow falls back to a double sum. */
    eval_ok(KIND_COMPUTE, "{\"numbers\":[9223372036854775807,1]}", "9.2233720368547758e+18");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[-9223372036854775808,-1]}", "-9.2233720368547758e+18");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[9223372036854775807,1,-2]}", "9.2233720368547758e+18");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[1e308,-1e308]}", "0");
    /* Integers above INT64_MAX (json-c keeps them up to 2^64-1). */
    eval_ok(KIND_COMPUTE, "{\"numbers\":[18446744073709551615]}", "1.8446744073709552e+19");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[9223372036854775808,-1]}", "9.2233720368547758e+18");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[9223372036854775807]}", "9223372036854775807");
    eval_ok(KIND_COMPUTE, "{\"numbers\":[1],\"other\":\"ignored\"}", "1");
    /* A sum that leaves the doubles is an error, never "inf" (not JSON). */
    eval_bad(KIND_COMPUTE, "{\"numbers\":[1e308,1e308]}", "'payload.numbers'");
    eval_bad(KIND_COMPUTE, "{\"numbers\":[-1.7e308,-1.7e308]}", "'payload.numbers'");
    eval_bad(KIND_COMPUTE, "{\"numbers\":[NaN]}", "'payload.numbers'");
    eval_bad(KIND_COMPUTE, "{\"numbers\":[1e999]}", "'payload.numbers'");
    eval_bad(KIND_COMPUTE, "{}", "'payload.numbers'");
    eval_bad(KIND_COMPUTE, NULL, "'payload.numbers'");
    eval_bad(KIND_COMPUTE, "{\"numbers\":[\"1\"]}", "'payload.numbers'");
    eval_bad(KIND_COMPUTE, "{\"numbers\":[1", "JSON");
}

static void test_payload_transform(void **state UNUSED)
{
    eval_ok(KIND_TRANSFORM, "{\"data\":\"hello, World 42!\"}", "\"HELLO, WORLD 42!\"");
    eval_ok(KIND_TRANSFORM, "{\"data\":\"\"}", "\"\"");
    /* Only ASCII letters change; the rest is escaped as JSON again. */
    eval_ok(KIND_TRANSFORM, "{\"data\":\"caf\xc3\xa9 \\\"q\\\" a\\\\b\\n\"}",
            "\"CAF\xc3\xa9 \\\"Q\\\" A\\\\B\\n\"");
    eval_ok(KIND_TRANSFORM, "{\"data\":\"a\\u0000b\"}", "\"A\\u0000B\"");
    eval_bad(KIND_TRANSFORM, "{\"data\":5}", "'payload.data'");
    eval_bad(KIND_TRANSFORM, NULL, "'payload.data'");
}

static void test_payload_echo_noop_sleep(void **state UNUSED)
{
    eval_ok(KIND_ECHO, "{\"a\":[1,2,{\"b\":null}]}", "{\"a\":[1,2,{\"b\":null}]}");
    eval_ok(KIND_ECHO, "\"s\"", "\"s\"");
    eval_ok(KIND_ECHO, NULL, "{}");
    eval_ok(KIND_NOOP, NULL, "null");
    eval_ok(KIND_NOOP, "{\"whatever\":1}", "null");

    static const struct {
        const char *payload;
        int64_t ms;
    } sleeps[] = {
        {"{\"seconds\":0}", 0},        {"{\"seconds\":1}", 1000},
        {"{\"seconds\":1.5}", 1500},   {"{\"seconds\":0.0004}", 0},
        {"{\"seconds\":0.0005}", 1},   {"{\"seconds\":31536000}", 31536000000LL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(sleeps); i++) {
        char *result = NULL;
        int64_t ms = -1;
        assert_int_equal(payload_eval(KIND_SLEEP, sleeps[i].payload, &result, &ms, err,
                                      sizeof(err)),
                         0);
        assert_string_equal(result, "null");
        assert_int_equal(ms, sleeps[i].ms);
        free(result);
    }
    eval_bad(KIND_SLEEP, "{\"seconds\":-1}", "'payload.seconds'");
    eval_bad(KIND_SLEEP, "{\"seconds\":NaN}", "'payload.seconds'");
    eval_bad(KIND_SLEEP, "{\"seconds\":1e400}", "'payload.seconds'");
    eval_bad(KIND_SLEEP, "{}", "'payload.seconds'");
}

/* What the worker does with a canonical spec: every accepted built-in
 * spec's payload evaluates. */
static void test_payload_from_specs(void **state UNUSED)
{
    static const struct {
        const char *spec;
        const char *result;
    } cases[] = {
        {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[40,2]}}", "42"},
        {"{\"kind\":\"transform\",\"payload\":{\"data\":\"abc\"}}", "\"ABC\""},
        {"{\"kind\":\"echo\",\"payload\":{\"x\":1.50}}", "{\"x\":1.50}"},
        {"{\"kind\":\"echo\"}", "{}"},
        {"{\"kind\":\"noop\"}", "null"},
        {"{\"kind\":\"sleep\",\"payload\":{\"seconds\":0}}", "null"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct task_spec s;
        spec_ok(cases[i].spec, &s);
        eval_ok(s.kind, s.payload, cases[i].result);
        spec_release(&s);
    }
}

/* ---- spec_kind, names ---------------------------------------------------------- */

static void test_spec_kind(void **state UNUSED)
{
    static const struct {
        const char *spec;
        const char *kind;
    } cases[] = {
        {"{\"cmd\":\"x\"}", "exec"},
        {"{\"kind\":\"exec\",\"argv\":[\"x\"]}", "exec"},
        {"{\"kind\":\"compute\",\"payload\":{\"numbers\":[1]}}", "compute"},
        {"{\"kind\":\"transform\",\"payload\":{\"data\":\"d\"}}", "transform"},
        {"{\"kind\":\"echo\"}", "echo"},
        {"{\"kind\":\"sleep\",\"payload\":{\"seconds\":1}}", "sleep"},
        {"{\"kind\":\"noop\"}", "noop"},
        /* An id cannot fool it: quotes in the id are escaped. */
        {"{\"id\":\"x\\\",\\\"kind\\\":\\\"noop\",\"cmd\":\"x\"}", "exec"},
        {"{\"id\":\"x\\\\\",\"kind\":\"echo\"}", "echo"},
        {"{\"id\":\",\\\"kind\\\":\\\"sleep\\\"\",\"kind\":\"noop\"}", "noop"},
        /* Nor a payload or command that mentions a kind. */
        {"{\"cmd\":\"echo ,\\\"kind\\\":\\\"noop\\\"\"}", "exec"},
        {"{\"kind\":\"echo\",\"payload\":{\"kind\":\"noop\"}}", "echo"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *c = canon(cases[i].spec);
        if (strcmp(spec_kind(c), cases[i].kind))
            fail_msg("spec_kind(%s) = %s, want %s", c, spec_kind(c), cases[i].kind);
        free(c);
    }
    assert_string_equal(spec_kind(""), "exec");
    assert_string_equal(spec_kind("{\"id\":null,\"kind\":\"nonsense\"}"), "exec");
    assert_string_equal(spec_kind("{\"id\":null,\"kind\":\"noopx\"}"), "exec");
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
        "id", "state", "attempts", "worker", "exit_code", "stdout", "stderr", "result",
        "error", "submitted_at", "started_at", "finished_at",
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
    static const char *const required[] = {"id", "addr", "slots", "running", "done",
                                            "last_seen"};
    struct worker_info w[2] = {
        {(char *)"w1", (char *)"127.0.0.1:5001", 4, 2, 17, 1700000000123, false},
        {(char *)"w\"2", NULL, 1, 0, 0, 1700000000000, true},
    };
    uint64_t counts[TASK_NSTATES] = {5, 2, 100, 3, 1};
    struct buf b = BUF_INIT;
    status_encode(&b, w, 2, counts);
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
    msg_release(&m);

    /* No workers. */
    buf_reset(&b);
    buf_reset(&line);
    status_encode(&b, NULL, 0, counts);
    buf_addf(&line, "{\"type\":\"status\",\"status\":%s}", b.data);
    parse_ok(line.data, &m);
    assert_int_equal(m.nworkers, 0);
    msg_release(&m);
    buf_release(&line);
    buf_release(&b);
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
        cmocka_unit_test(test_spec_defaults),
        cmocka_unit_test(test_spec_full_exec),
        cmocka_unit_test(test_spec_priority),
        cmocka_unit_test(test_spec_timeout),
        cmocka_unit_test(test_spec_retries),
        cmocka_unit_test(test_spec_builtin_kinds),
        cmocka_unit_test(test_spec_ids),
        cmocka_unit_test(test_spec_limits_ok),
        cmocka_unit_test(test_spec_not_object),
        cmocka_unit_test(test_spec_malformed_fields),
        cmocka_unit_test(test_submit_malformed),
        cmocka_unit_test(test_spec_too_big),
        cmocka_unit_test(test_spec_nesting),
        cmocka_unit_test(test_spec_bad_json),
        cmocka_unit_test(test_spec_utf8),
        cmocka_unit_test(test_msg_envelope),
        cmocka_unit_test(test_msg_hello_bad),
        cmocka_unit_test(test_msg_heartbeat_lines),
        cmocka_unit_test(test_msg_specs_fast_path_agrees),
        cmocka_unit_test(test_msg_specs_fast_path_roundtrip),
        cmocka_unit_test(test_msg_result_fast_path_agrees),
        cmocka_unit_test(test_msg_bodies_bad),
        cmocka_unit_test(test_msg_result_bad),
        cmocka_unit_test(test_msg_batch_limit),
        cmocka_unit_test(test_spec_int_range),
        cmocka_unit_test(test_msg_nul_keys),
        cmocka_unit_test(test_msg_binary_output),
        cmocka_unit_test(test_msg_binary_output_bad),
        cmocka_unit_test(test_payload_compute),
        cmocka_unit_test(test_payload_transform),
        cmocka_unit_test(test_payload_echo_noop_sleep),
        cmocka_unit_test(test_payload_from_specs),
        cmocka_unit_test(test_spec_kind),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_id_valid),
        cmocka_unit_test(test_task_info_encode),
        cmocka_unit_test(test_status_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
