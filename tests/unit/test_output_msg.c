/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the output stream's wire pieces: base64 (common/b64.c),
 * the output message (fast path in proto/fast.c and the full parser in
 * proto/msg.c, fed the same input; base64 and raw bytes), the logs request, a result's byte
 * counts and a task record's history.
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

#include "common/b64.h"
#include "proto_test.h"

static void test_b64_roundtrip(void **state UNUSED)
{
    unsigned char in[300], back[300];
    char enc[B64_ENCODED_LEN(300) + 1];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)(i * 7 + 3);
    for (size_t n = 0; n <= sizeof(in); n++) {
        b64_encode(enc, in, n);
        size_t got = 99999;
        assert_true(b64_decode(enc, B64_ENCODED_LEN(n), back, &got));
        assert_int_equal(got, n);
        assert_memory_equal(back, in, n);
    }
    /* The RFC 4648 vectors */
    b64_encode(enc, "foobar", 6);
    assert_memory_equal(enc, "Zm9vYmFy", 8);
    b64_encode(enc, "fo", 2);
    assert_memory_equal(enc, "Zm8=", 4);
    b64_encode(enc, "f", 1);
    assert_memory_equal(enc, "Zg==", 4);
}

static void test_b64_strict(void **state UNUSED)
{
    unsigned char out[16];
    size_t n;
    static const char *const bad[] = {"Zg=",   "Zg===", "Z===",     "Zh==", "Zm9=", "Zm 9",
                                      "Zm9\n", "=Zm9",  "Zg==Zg==", "Zm-v", "Zm_v"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        if (b64_decode(bad[i], strlen(bad[i]), out, &n))
            fail_msg("b64_decode accepted \"%s\"", bad[i]);
    assert_true(b64_decode("", 0, out, &n));
    assert_int_equal(n, 0);
}

/* The decoder checks the characters of full quanta once, after them: any
 * byte out of the alphabet at any place of a long string is still refused,
 * and every byte value survives the round trip. */
static void test_b64_strict_anywhere(void **state UNUSED)
{
    unsigned char in[256], back[256];
    char enc[B64_ENCODED_LEN(256) + 1];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)(255 - i);
    b64_encode(enc, in, sizeof(in));
    size_t len = B64_ENCODED_LEN(sizeof(in)), n;
    assert_true(b64_decode(enc, len, back, &n));
    assert_int_equal(n, sizeof(in));
    assert_memory_equal(back, in, sizeof(in));
    static const char wrong[] = {'=', '-', '_', ' ', '\n', '\0', '"', (char)0x80, (char)0xff};
    for (size_t pos = 0; pos < len - 4; pos++)
        for (size_t k = 0; k < sizeof(wrong); k++) {
            char saved = enc[pos];
            enc[pos] = wrong[k];
            if (b64_decode(enc, len, back, &n))
                fail_msg("b64_decode accepted byte 0x%02x at %zu", (unsigned char)wrong[k], pos);
            enc[pos] = saved;
        }
}

/* Every byte value, NUL and invalid UTF-8 included, in one chunk. */
static void test_output_roundtrip_binary(void **state UNUSED)
{
    char data[512];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)(i & 0xff);
    struct msg in = {.type = MSG_OUTPUT}, out;
    in.chunk = (struct output_chunk){.lease = 42,
                                     .id = (char *)"task-1",
                                     .attempt = 3,
                                     .stream = OUTPUT_STDERR,
                                     .offset = 1u << 20,
                                     .data = data,
                                     .len = sizeof(data)};
    encode_parse(&in, &out);
    assert_int_equal(out.type, MSG_OUTPUT);
    assert_int_equal(out.chunk.lease, 42);
    assert_string_equal(out.chunk.id, "task-1");
    assert_int_equal(out.chunk.attempt, 3);
    assert_int_equal(out.chunk.stream, OUTPUT_STDERR);
    assert_int_equal(out.chunk.offset, 1u << 20);
    assert_int_equal(out.chunk.len, sizeof(data));
    assert_memory_equal(out.chunk.data, data, sizeof(data));
    msg_release(&out);
}

/* The shortcut and json-c read the same line the same way. */
static void test_output_fast_matches_full(void **state UNUSED)
{
    static const char line[] = "{\"type\":\"output\",\"lease\":7,\"id\":\"a\",\"attempt\":2,"
                               "\"stream\":\"stdout\",\"offset\":5,\"data\":\"/wBo\"}";
    struct msg fast, full;
    memset(&fast, 0, sizeof(fast));
    fast.state = -1;
    assert_true(msg_parse_fast(line, strlen(line), &fast));
    /* the same fields in another order: only the full parser reads it */
    static const char other[] = "{\"data\":\"/wBo\",\"type\":\"output\",\"id\":\"a\",\"lease\":7,"
                                "\"offset\":5,\"stream\":\"stdout\",\"attempt\":2}";
    struct msg probe;
    memset(&probe, 0, sizeof(probe));
    assert_false(msg_parse_fast(other, strlen(other), &probe));
    parse_ok(other, &full);
    assert_int_equal(fast.chunk.lease, full.chunk.lease);
    assert_string_equal(fast.chunk.id, full.chunk.id);
    assert_int_equal(fast.chunk.attempt, full.chunk.attempt);
    assert_int_equal(fast.chunk.stream, full.chunk.stream);
    assert_int_equal(fast.chunk.offset, full.chunk.offset);
    assert_int_equal(fast.chunk.len, 3);
    assert_int_equal(full.chunk.len, 3);
    assert_memory_equal(fast.chunk.data, "\xff\0h", 3);
    assert_memory_equal(full.chunk.data, "\xff\0h", 3);
    msg_release(&fast);
    msg_release(&full);
}

static void test_output_bad(void **state UNUSED)
{
    parse_bad("{\"type\":\"output\",\"lease\":1,\"id\":\"a\",\"stream\":\"stdin\",\"offset\":0,"
              "\"data\":\"\"}",
              "field 'stream' must be stdout or stderr");
    parse_bad("{\"type\":\"output\",\"lease\":1,\"id\":\"a\",\"stream\":\"stdout\",\"offset\":0,"
              "\"data\":\"Zg=\"}",
              "field 'data' must be standard base64");
    parse_bad("{\"type\":\"output\",\"lease\":1,\"id\":\"a\",\"attempt\":1,\"stream\":\"stdout\","
              "\"offset\":0,\"data\":\"Zh==\"}",
              "field 'data' must be standard base64");
    parse_bad("{\"type\":\"output\",\"lease\":1,\"id\":\"a\",\"stream\":\"stdout\",\"data\":\"\"}",
              "offset");
    parse_bad("{\"type\":\"output\",\"lease\":1,\"id\":\"a b\",\"stream\":\"stdout\",\"offset\":0,"
              "\"data\":\"\"}",
              "not a valid task id");
    parse_bad("{\"type\":\"output\",\"lease\":1,\"id\":\"a\",\"stream\":\"stdout\",\"offset\":-1,"
              "\"data\":\"\"}",
              "offset");
    /* One byte over the chunk limit, in base64: refused by both paths. */
    size_t n = MSG_OUTPUT_CHUNK + 3;
    char *raw = xcalloc(1, n);
    struct buf b = BUF_INIT;
    buf_addstr(&b,
               "{\"type\":\"output\",\"lease\":1,\"id\":\"a\",\"attempt\":1,\"stream\":\"stdout\","
               "\"offset\":0,\"data\":\"");
    buf_grow(&b, B64_ENCODED_LEN(n) + 4);
    b64_encode(b.data + b.len, raw, n);
    b.len += B64_ENCODED_LEN(n);
    buf_addstr(&b, "\"}");
    struct msg m;
    memset(&m, 0, sizeof(m));
    assert_false(msg_parse_fast(b.data, b.len, &m));
    parse_bad_n(b.data, b.len, DTR_EINVAL, "field 'data'");
    buf_release(&b);
    free(raw);
}

/* A worker's form: the line says "size" and the bytes follow it raw, every
 * byte value (a '\n' among them) kept; both parsers leave them to the
 * reader, and the reader hands them over (msg_take_payload()). */
static void test_output_raw(void **state UNUSED)
{
    char data[300];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)(255 - i);
    struct output_chunk c = {.lease = 9,
                             .id = (char *)"t",
                             .attempt = 1,
                             .stream = OUTPUT_STDOUT,
                             .offset = 70,
                             .data = data,
                             .len = sizeof(data)};
    struct buf b = BUF_INIT;
    msg_encode_output_raw(&b, &c);
    const char *nl = memchr(b.data, '\n', b.len);
    assert_non_null(nl);
    size_t linelen = (size_t)(nl - b.data);
    assert_int_equal(b.len, linelen + 1 + sizeof(data));
    assert_memory_equal(nl + 1, data, sizeof(data));
    struct msg fast, full;
    memset(&fast, 0, sizeof(fast));
    assert_true(msg_parse_fast(b.data, linelen, &fast));
    /* the same line with a space json-c skips and the shortcut does not */
    struct buf spaced = BUF_INIT;
    buf_addstr(&spaced, "{ ");
    buf_add(&spaced, b.data + 1, linelen - 1);
    parse_ok(spaced.data, &full);
    for (struct msg *m = &fast; m; m = m == &fast ? &full : NULL) {
        assert_int_equal(m->type, MSG_OUTPUT);
        assert_null(m->chunk.data);
        assert_int_equal(m->payload, sizeof(data));
        assert_int_equal(m->chunk.offset, 70);
        msg_take_payload(m, nl + 1);
        assert_int_equal(m->payload, 0);
        assert_int_equal(m->chunk.len, sizeof(data));
        assert_memory_equal(m->chunk.data, data, sizeof(data));
        msg_release(m);
    }
    buf_release(&spaced);
    buf_release(&b);
    parse_bad("{\"type\":\"output\",\"id\":\"a\",\"stream\":\"stdout\",\"offset\":0,"
              "\"size\":65537}",
              "size");
    parse_bad("{\"type\":\"output\",\"id\":\"a\",\"stream\":\"stdout\",\"offset\":0,"
              "\"size\":-1}",
              "size");
    parse_bad("{\"type\":\"output\",\"id\":\"a\",\"stream\":\"stdout\",\"offset\":0,"
              "\"size\":1,\"data\":\"Zg==\"}",
              "either 'data' or 'size'");
}

static void test_logs_roundtrip(void **state UNUSED)
{
    struct msg in = {.type = MSG_LOGS}, out;
    in.id = (char *)"t1";
    in.attempt = 2;
    in.streams = 2;
    encode_parse(&in, &out);
    assert_string_equal(out.id, "t1");
    assert_int_equal(out.attempt, 2);
    assert_int_equal(out.streams, 2);
    assert_false(out.follow);
    msg_release(&out);
    in.attempt = 0;
    in.streams = 3;
    in.follow = true;
    encode_parse(&in, &out);
    assert_int_equal(out.attempt, 0);
    assert_int_equal(out.streams, 3);
    assert_true(out.follow);
    msg_release(&out);
    parse_bad("{\"type\":\"logs\",\"id\":\"a\",\"stream\":\"both\"}", "stdout or stderr");
    parse_bad("{\"type\":\"logs\",\"id\":\"a\",\"attempt\":-1}", "attempt");
    parse_bad("{\"type\":\"logs\"}", "id");
}

static void test_result_byte_counts(void **state UNUSED)
{
    struct msg in = {.type = MSG_RESULT}, out;
    in.result.lease = 9;
    in.result.id = (char *)"t";
    in.result.attempt = 1;
    in.result.ok = true;
    in.result.out_bytes = 209715200;
    in.result.err_bytes = 3;
    encode_parse(&in, &out);
    assert_int_equal(out.result.out_bytes, 209715200);
    assert_int_equal(out.result.err_bytes, 3);
    msg_release(&out);
}

static void test_history_truncated(void **state UNUSED)
{
    struct msg m;
    parse_ok("{\"type\":\"task\",\"task\":{\"id\":\"a\",\"state\":\"failed\",\"history\":["
             "{\"attempt\":1,\"stdout_bytes\":65536,\"stdout_truncated\":true,\"stderr_truncated\":"
             "false},"
             "{\"attempt\":2,\"stdout_truncated\":false,\"stderr_truncated\":true}]}}",
             &m);
    bool cut[2];
    uint64_t kept[2];
    msg_history_truncated(&m.task, 0, cut, kept);
    assert_false(cut[0]);
    assert_true(cut[1]);
    msg_history_truncated(&m.task, 1, cut, kept);
    assert_true(cut[0]);
    assert_false(cut[1]);
    assert_int_equal(kept[0], 65536);
    msg_history_truncated(&m.task, 5, cut, kept);
    assert_false(cut[0] || cut[1]);
    msg_release(&m);
    parse_bad("{\"type\":\"task\",\"task\":{\"id\":\"a\",\"state\":\"failed\",\"history\":1}}",
              "field 'history' must be an array");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64_roundtrip),
        cmocka_unit_test(test_b64_strict),
        cmocka_unit_test(test_b64_strict_anywhere),
        cmocka_unit_test(test_output_roundtrip_binary),
        cmocka_unit_test(test_output_fast_matches_full),
        cmocka_unit_test(test_output_bad),
        cmocka_unit_test(test_output_raw),
        cmocka_unit_test(test_logs_roundtrip),
        cmocka_unit_test(test_result_byte_counts),
        cmocka_unit_test(test_history_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
