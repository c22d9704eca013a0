/* SPDX-License-Identifier: MIT */
/* Unit tests for proto/frame: lines split across pushes, many lines per push,
 * "\r\n", empty lines, NUL bytes, and the line limit at, just over and
 * raised mid-stream, for complete and for still-growing lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/util.h"
#include "proto/frame.h"

/* Pushes a NUL-terminated string. */
static void push(struct frame_reader *fr, const char *s)
{
    frame_push(fr, s, strlen(s));
}

/* Asserts that the next line is exactly want (wantlen bytes). */
static void expect_line_n(struct frame_reader *fr, const char *want, size_t wantlen)
{
    char *line = NULL;
    size_t len = 12345;
    assert_int_equal(frame_next(fr, &line, &len), 1);
    assert_non_null(line);
    assert_int_equal(len, wantlen);
    assert_memory_equal(line, want, wantlen);
    assert_int_equal(line[len], '\0'); /* always NUL-terminated */
}

static void expect_line(struct frame_reader *fr, const char *want)
{
    expect_line_n(fr, want, strlen(want));
}

static void expect_more(struct frame_reader *fr)
{
    char *line;
    size_t len;
    assert_int_equal(frame_next(fr, &line, &len), 0);
}

static void expect_too_long(struct frame_reader *fr)
{
    char *line;
    size_t len;
    assert_int_equal(frame_next(fr, &line, &len), DTR_EMSGSIZE);
}

static void test_empty_reader(void **state UNUSED)
{
    struct frame_reader fr;
    frame_init(&fr, 16);
    expect_more(&fr);
    frame_push(&fr, "", 0);
    expect_more(&fr);
    frame_release(&fr);
    /* Released readers can be released again and reused. */
    frame_release(&fr);
    frame_init(&fr, 16);
    push(&fr, "x\n");
    expect_line(&fr, "x");
    frame_release(&fr);
}

static void test_split_across_pushes(void **state UNUSED)
{
    struct frame_reader fr;
    frame_init(&fr, 1024);
    push(&fr, "{\"type\":");
    expect_more(&fr);
    push(&fr, "\"ping\"");
    expect_more(&fr);
    expect_more(&fr); /* asking again without new bytes changes nothing */
    push(&fr, "}");
    expect_more(&fr);
    push(&fr, "\n{\"ty");
    expect_line(&fr, "{\"type\":\"ping\"}");
    expect_more(&fr);
    push(&fr, "pe\":\"pong\"}\n");
    expect_line(&fr, "{\"type\":\"pong\"}");
    expect_more(&fr);
    frame_release(&fr);
}

static void test_byte_at_a_time(void **state UNUSED)
{
    static const char text[] = "alpha\nbeta\r\n\ngamma\n";
    static const char *const want[] = {"alpha", "beta", "", "gamma"};
    struct frame_reader fr;
    size_t got = 0;
    frame_init(&fr, 8);
    for (size_t i = 0; i < sizeof(text) - 1; i++) {
        char *line;
        size_t len;
        int rc;
        frame_push(&fr, text + i, 1);
        while ((rc = frame_next(&fr, &line, &len)) == 1) {
            assert_true(got < ARRAY_SIZE(want));
            assert_string_equal(line, want[got]);
            assert_int_equal(len, strlen(want[got]));
            got++;
        }
        assert_int_equal(rc, 0);
    }
    assert_int_equal(got, ARRAY_SIZE(want));
    frame_release(&fr);
}

static void test_many_lines_one_push(void **state UNUSED)
{
    struct frame_reader fr;
    struct buf b = BUF_INIT;
    frame_init(&fr, 64);
    for (int i = 0; i < 1000; i++)
        buf_addf(&b, "line %d\n", i);
    buf_addstr(&b, "partial");
    frame_push(&fr, b.data, b.len);
    for (int i = 0; i < 1000; i++) {
        char want[32];
        snprintf(want, sizeof(want), "line %d", i);
        expect_line(&fr, want);
    }
    expect_more(&fr);
    push(&fr, " end\n");
    expect_line(&fr, "partial end");
    expect_more(&fr);
    buf_release(&b);
    frame_release(&fr);
}

/* The buffer must not keep lines already handed out: pushing many short
 * lines and reading each must not grow it without bound. */
static void test_consumed_lines_are_dropped(void **state UNUSED)
{
    struct frame_reader fr;
    frame_init(&fr, 64);
    for (int i = 0; i < 100000; i++) {
        push(&fr, "0123456789abcdef\n");
        expect_line(&fr, "0123456789abcdef");
    }
    assert_true(fr.buf.cap <= 256);
    frame_release(&fr);
}

static void test_crlf(void **state UNUSED)
{
    struct frame_reader fr;
    frame_init(&fr, 64);
    push(&fr, "a\r\nb\r");
    expect_line(&fr, "a");
    expect_more(&fr);
    push(&fr, "\nc\r\r\n\r\n");
    expect_line(&fr, "b");
    /* Only one trailing '\r' is dropped. */
    expect_line(&fr, "c\r");
    expect_line(&fr, "");
    expect_more(&fr);
    /* A '\r' in the middle stays. */
    push(&fr, "x\ry\n");
    expect_line(&fr, "x\ry");
    frame_release(&fr);
}

static void test_empty_lines(void **state UNUSED)
{
    struct frame_reader fr;
    frame_init(&fr, 4);
    push(&fr, "\n\n\r\n");
    expect_line(&fr, "");
    expect_line(&fr, "");
    expect_line(&fr, "");
    expect_more(&fr);
    frame_release(&fr);
}

static void test_nul_inside_line(void **state UNUSED)
{
    static const char data[] = {'a', '\0', 'b', '\n', '\0', '\n', 'c', '\0', '\r', '\n'};
    struct frame_reader fr;
    frame_init(&fr, 16);
    frame_push(&fr, data, sizeof(data));
    expect_line_n(&fr, "a\0b", 3);
    expect_line_n(&fr, "\0", 1);
    expect_line_n(&fr, "c\0", 2);
    expect_more(&fr);
    frame_release(&fr);
}

static void test_exactly_max(void **state UNUSED)
{
    enum { MAX = 100 };
    char line[MAX + 3];
    struct frame_reader fr;
    memset(line, 'x', MAX);
    line[MAX] = '\n';
    frame_init(&fr, MAX);
    frame_push(&fr, line, MAX + 1);
    expect_line_n(&fr, line, MAX);
    expect_more(&fr);
    /* A partial line of exactly max bytes still waits for its '\n'. */
    frame_push(&fr, line, MAX);
    expect_more(&fr);
    push(&fr, "\n");
    expect_line_n(&fr, line, MAX);
    frame_release(&fr);
}

static void test_max_plus_one_complete(void **state UNUSED)
{
    enum { MAX = 100 };
    char line[MAX + 2];
    struct frame_reader fr;
    memset(line, 'y', MAX + 1);
    line[MAX + 1] = '\n';
    frame_init(&fr, MAX);
    frame_push(&fr, line, sizeof(line));
    expect_too_long(&fr);
    expect_too_long(&fr); /* the error sticks: the caller closes */
    frame_release(&fr);
}

/* A good line before the long one is still handed out first. */
static void test_long_line_after_good_one(void **state UNUSED)
{
    struct frame_reader fr;
    frame_init(&fr, 4);
    push(&fr, "ok\n0123456789\n");
    expect_line(&fr, "ok");
    expect_too_long(&fr);
    frame_release(&fr);
}

static void test_max_plus_one_partial(void **state UNUSED)
{
    enum { MAX = 100 };
    char line[MAX + 1];
    struct frame_reader fr;
    memset(line, 'z', sizeof(line));
    frame_init(&fr, MAX);
    /* Grows past max one push at a time: error as soon as it is over. */
    frame_push(&fr, line, MAX - 1);
    expect_more(&fr);
    frame_push(&fr, line, 1);
    expect_more(&fr);
    frame_push(&fr, line, 1);
    expect_too_long(&fr);
    frame_release(&fr);

    /* The same when the whole over-long partial line arrives at once. */
    frame_init(&fr, MAX);
    frame_push(&fr, line, sizeof(line));
    expect_too_long(&fr);
    frame_release(&fr);
}

/* The '\r' of a "\r\n" ending counts toward the limit: the limit is on the
 * bytes before '\n'. */
static void test_crlf_counts_toward_max(void **state UNUSED)
{
    struct frame_reader fr;
    frame_init(&fr, 4);
    push(&fr, "abc\r\n");
    expect_line(&fr, "abc");
    push(&fr, "abcd\r\n");
    expect_too_long(&fr);
    frame_release(&fr);
}

static void test_set_max_mid_stream(void **state UNUSED)
{
    struct frame_reader fr;
    char big[300];
    memset(big, 'b', sizeof(big));
    frame_init(&fr, 16);
    push(&fr, "{\"type\":\"hello\"}\n");
    expect_line(&fr, "{\"type\":\"hello\"}");
    /* The handshake is done: raise the limit, and longer lines pass. */
    frame_set_max(&fr, 512);
    frame_push(&fr, big, sizeof(big));
    expect_more(&fr);
    push(&fr, "\n");
    expect_line_n(&fr, big, sizeof(big));

    /* Raising the limit rescues a partial line that was over the old one. */
    frame_set_max(&fr, 16);
    frame_push(&fr, big, 20);
    expect_too_long(&fr);
    frame_set_max(&fr, 512);
    expect_more(&fr);
    push(&fr, "\n");
    expect_line_n(&fr, big, 20);

    /* Lowering it applies to the pending bytes too. */
    frame_push(&fr, big, 20);
    expect_more(&fr);
    frame_set_max(&fr, 10);
    expect_too_long(&fr);
    frame_release(&fr);
}

/* The line stays valid (and NUL-terminated) until the next push, even when
 * later lines are taken out of the same buffer. */
static void test_line_valid_until_push(void **state UNUSED)
{
    struct frame_reader fr;
    char *a, *b;
    size_t alen, blen;
    frame_init(&fr, 64);
    push(&fr, "first\nsecond\n");
    assert_int_equal(frame_next(&fr, &a, &alen), 1);
    assert_int_equal(frame_next(&fr, &b, &blen), 1);
    assert_string_equal(a, "first");
    assert_string_equal(b, "second");
    frame_release(&fr);
}

/* Random chunking of a known stream gives back exactly its lines. */
static void test_random_chunks(void **state UNUSED)
{
    struct buf text = BUF_INIT;
    struct frame_reader fr;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int nlines = 2000, got = 0;
    for (int i = 0; i < nlines; i++) {
        buf_addf(&text, "%d:", i);
        for (int k = 0; k < i % 37; k++)
            buf_addch(&text, (char)('a' + k % 26));
        buf_addstr(&text, i % 3 ? "\n" : "\r\n");
    }
    frame_init(&fr, 64);
    for (size_t off = 0; off < text.len;) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = MIN((size_t)(x % 97) + 1, text.len - off);
        char *line;
        size_t len;
        frame_push(&fr, text.data + off, n);
        off += n;
        while (frame_next(&fr, &line, &len) == 1) {
            char want[16];
            int w = snprintf(want, sizeof(want), "%d:", got);
            assert_memory_equal(line, want, (size_t)w);
            assert_int_equal(len, (size_t)w + (size_t)(got % 37));
            got++;
        }
    }
    assert_int_equal(got, nlines);
    frame_release(&fr);
    buf_release(&text);
}

/* A line that announces raw bytes: handed out again until they are all
 * here, then the bytes, then the next line, whatever the bytes hold. */
static void test_payload(void **state UNUSED)
{
    static const char stream[] = "head 6\r\nab\ncd\nnext\n";
    struct frame_reader fr;
    frame_init(&fr, 64);
    char *line;
    size_t len;
    const char *p;
    frame_push(&fr, stream, 10); /* "head 6\r\nab" */
    assert_int_equal(frame_next(&fr, &line, &len), 1);
    assert_string_equal(line, "head 6");
    assert_int_equal(frame_payload(&fr, 6, &p), 0);
    assert_int_equal(frame_next(&fr, &line, &len), 0); /* waits for the bytes */
    frame_push(&fr, stream + 10, 3);                   /* "\ncd": one short */
    assert_int_equal(frame_next(&fr, &line, &len), 0);
    frame_push(&fr, stream + 13, sizeof(stream) - 1 - 13);
    assert_int_equal(frame_next(&fr, &line, &len), 1);
    assert_string_equal(line, "head 6"); /* as it came, '\r' cut again */
    assert_int_equal(frame_payload(&fr, 6, &p), 1);
    assert_memory_equal(p, "ab\ncd\n", 6);
    assert_int_equal(frame_next(&fr, &line, &len), 1);
    assert_string_equal(line, "next");
    assert_int_equal(frame_next(&fr, &line, &len), 0);
    assert_int_equal(frame_held(&fr), 0);
    frame_release(&fr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_reader),
        cmocka_unit_test(test_split_across_pushes),
        cmocka_unit_test(test_byte_at_a_time),
        cmocka_unit_test(test_many_lines_one_push),
        cmocka_unit_test(test_consumed_lines_are_dropped),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_empty_lines),
        cmocka_unit_test(test_nul_inside_line),
        cmocka_unit_test(test_exactly_max),
        cmocka_unit_test(test_max_plus_one_complete),
        cmocka_unit_test(test_long_line_after_good_one),
        cmocka_unit_test(test_max_plus_one_partial),
        cmocka_unit_test(test_crlf_counts_toward_max),
        cmocka_unit_test(test_set_max_mid_stream),
        cmocka_unit_test(test_line_valid_until_push),
        cmocka_unit_test(test_random_chunks),
        cmocka_unit_test(test_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
