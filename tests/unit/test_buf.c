/* SPDX-License-Identifier: MIT */
/* Unit tests for common/buf: growth, formatting, consume and detach, and JSON
 * string escaping, whose output must parse back (with json-c) to the input,
 * with every invalid UTF-8 byte replaced by U+FFFD. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/buf.h"
#include "common/utf8.h"
#include "common/util.h"

#define FFFD "\xef\xbf\xbd"

static void test_init_empty(void **state UNUSED)
{
    struct buf b = BUF_INIT;
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    buf_reset(&b); /* fine on a never-used buffer */
    buf_release(&b);
    buf_init(&b);
    buf_add(&b, "", 0);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    buf_release(&b);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
}

static void test_add_and_grow(void **state UNUSED)
{
    struct buf b = BUF_INIT;
    for (int i = 0; i < 10000; i++)
        buf_addch(&b, (char)('a' + i % 26));
    assert_int_equal(b.len, 10000);
    assert_true(b.cap > b.len);
    assert_int_equal(b.data[b.len], '\0');
    for (int i = 0; i < 10000; i++)
        assert_int_equal(b.data[i], 'a' + i % 26);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_addstr(&b, "hello");
    buf_add(&b, " wor", 4);
    buf_addch(&b, 'l');
    buf_add(&b, "d\0x", 3);
    assert_int_equal(b.len, 13);
    assert_memory_equal(b.data, "hello world\0x", 14);
    buf_release(&b);
}

static void test_grow_reserves(void **state UNUSED)
{
    struct buf b = BUF_INIT;
    buf_grow(&b, 1000);
    assert_true(b.cap >= 1001);
    size_t cap = b.cap;
    char *p = b.data;
    for (int i = 0; i < 1000; i++)
        buf_addch(&b, 'q');
    /* No reallocation within what was reserved. */
    assert_ptr_equal(b.data, p);
    assert_int_equal(b.cap, cap);
    buf_release(&b);
}

static void test_addf(void **state UNUSED)
{
    struct buf b = BUF_INIT;
    char big[5000];
    buf_addf(&b, "%d-%s-%c", 42, "x", 'y');
    assert_string_equal(b.data, "42-x-y");
    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    /* Longer than the first guess: formats twice. */
    buf_addf(&b, "[%s]", big);
    assert_int_equal(b.len, 6 + 2 + sizeof(big) - 1);
    assert_int_equal(b.data[6], '[');
    assert_int_equal(b.data[b.len - 1], ']');
    assert_int_equal(b.data[b.len], '\0');
    buf_addf(&b, "%s", "");
    assert_int_equal(b.len, 6 + 2 + sizeof(big) - 1);
    buf_release(&b);
}

static void test_consume(void **state UNUSED)
{
    struct buf b = BUF_INIT;
    buf_addstr(&b, "abcdef");
    buf_consume(&b, 0);
    assert_string_equal(b.data, "abcdef");
    buf_consume(&b, 2);
    assert_string_equal(b.data, "cdef");
    assert_int_equal(b.len, 4);
    buf_consume(&b, 4);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_addstr(&b, "xy");
    buf_consume(&b, 100); /* more than held: empties */
    assert_int_equal(b.len, 0);
    buf_release(&b);
    buf_consume(&b, 1); /* on an unused buffer */
    assert_int_equal(b.len, 0);
}

static void test_detach(void **state UNUSED)
{
    struct buf b = BUF_INIT;
    size_t len = 99;
    char *s = buf_detach(&b, &len);
    /* An unused buffer detaches as an empty heap string. */
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
    buf_addstr(&b, "owned");
    s = buf_detach(&b, &len);
    assert_string_equal(s, "owned");
    assert_int_equal(len, 5);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(s);
    buf_addstr(&b, "again"); /* reusable after detach */
    s = buf_detach(&b, NULL);
    assert_string_equal(s, "again");
    free(s);
}

/* Escapes in (inlen bytes), checks the exact escaped text when want_text is
 * given, then parses it with json-c and checks that it decodes to want
 * (wantlen bytes). */
static void check_json(const char *in, size_t inlen, const char *want_text, const char *want,
                       size_t wantlen)
{
    struct buf b = BUF_INIT;
    size_t replaced = buf_add_json_str(&b, in, inlen);
    /* The count says whether the string carries in exactly: each U+FFFD in
     * the output stands for one byte of in. */
    size_t fffd = 0;
    for (const char *p = b.data; (p = strstr(p, "\\ufffd")); p++)
        fffd++;
    assert_int_equal(replaced, fffd);
    assert_int_equal(replaced == 0, wantlen == inlen && !memcmp(want, in, inlen));
    if (want_text)
        assert_string_equal(b.data, want_text);
    struct json_tokener *tok = json_tokener_new();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *o = json_tokener_parse_ex(tok, b.data, (int)b.len);
    if (!o || json_tokener_get_error(tok) != json_tokener_success)
        fail_msg("escaped text does not parse: %s", b.data);
    assert_int_equal(json_tokener_get_parse_end(tok), b.len);
    assert_true(json_object_is_type(o, json_type_string));
    assert_int_equal((size_t)json_object_get_string_len(o), wantlen);
    assert_memory_equal(json_object_get_string(o), want, wantlen);
    json_object_put(o);
    json_tokener_free(tok);
    buf_release(&b);
}

static void test_json_plain(void **state UNUSED)
{
    check_json("", 0, "\"\"", "", 0);
    check_json("hello world", 11, "\"hello world\"", "hello world", 11);
    check_json("a/b", 3, "\"a/b\"", "a/b", 3);
    check_json("\x7f", 1, "\"\x7f\"", "\x7f", 1);
}

static void test_json_escapes(void **state UNUSED)
{
    check_json("\"", 1, "\"\\\"\"", "\"", 1);
    check_json("\\", 1, "\"\\\\\"", "\\", 1);
    check_json("a\nb\rc\td", 7, "\"a\\nb\\rc\\td\"", "a\nb\rc\td", 7);
    check_json("\b\f", 2, "\"\\u0008\\u000c\"", "\b\f", 2);
    check_json("\x01\x1f", 2, "\"\\u0001\\u001f\"", "\x01\x1f", 2);
    check_json("\"\\\"", 3, "\"\\\"\\\\\\\"\"", "\"\\\"", 3);
}

static void test_json_all_controls(void **state UNUSED)
{
    char in[32];
    for (int i = 0; i < 32; i++)
        in[i] = (char)i;
    check_json(in, sizeof(in), NULL, in, sizeof(in));
}

static void test_json_embedded_nul(void **state UNUSED)
{
    check_json("a\0b", 3, "\"a\\u0000b\"", "a\0b", 3);
    check_json("\0\0", 2, "\"\\u0000\\u0000\"", "\0\0", 2);
}

static void test_json_valid_utf8(void **state UNUSED)
{
    static const char *const ok[] = {
        "\xc2\xa9",         /* U+00A9, 2 bytes */
        "\xdf\xbf",         /* U+07FF, largest 2-byte */
        "\xe0\xa0\x80",     /* U+0800, smallest 3-byte */
        "\xe2\x82\xac",     /* U+20AC euro */
        "\xed\x9f\xbf",     /* U+D7FF, just below the surrogates */
        "\xee\x80\x80",     /* U+E000, just above */
        "\xef\xbf\xbf",     /* U+FFFF */
        "\xf0\x90\x80\x80", /* U+10000, smallest 4-byte */
        "\xf0\x9f\x98\x80", /* U+1F600 */
        "\xf4\x8f\xbf\xbf", /* U+10FFFF, the last code point */
        "gr\xc3\xbc\xc3\x9f dich \xe4\xb8\x96\xe7\x95\x8c",
    };
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        struct buf want = BUF_INIT;
        buf_addch(&want, '"');
        buf_addstr(&want, ok[i]);
        buf_addch(&want, '"');
        /* Passed through byte for byte, not \u-escaped. */
        check_json(ok[i], strlen(ok[i]), want.data, ok[i], strlen(ok[i]));
        buf_release(&want);
    }
}

static void test_json_invalid_utf8(void **state UNUSED)
{
    static const struct {
        const char *in;
        const char *out; /* decoded */
    } cases[] = {
        {"\x80", FFFD}, /* lone continuation byte */
        {"\xbf", FFFD},
        {"a\x80z", "a" FFFD "z"},
        {"\xc0\x80", FFFD FFFD},                                     /* overlong NUL */
        {"\xc1\xbf", FFFD FFFD},                                     /* overlong '\x7f' */
        {"\xe0\x80\x80", FFFD FFFD FFFD},                            /* overlong 3-byte */
        {"\xe0\x9f\xbf", FFFD FFFD FFFD},                            /* overlong U+07FF */
        {"\xf0\x80\x80\x80", FFFD FFFD FFFD FFFD},                   /* overlong 4-byte */
        {"\xf0\x8f\xbf\xbf", FFFD FFFD FFFD FFFD},                   /* overlong U+FFFF */
        {"\xed\xa0\x80", FFFD FFFD FFFD},                            /* U+D800, a surrogate */
        {"\xed\xbf\xbf", FFFD FFFD FFFD},                            /* U+DFFF */
        {"\xed\xa0\xbd\xed\xb8\x80", FFFD FFFD FFFD FFFD FFFD FFFD}, /* CESU pair */
        {"\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD},                   /* U+110000, past the end */
        {"\xf5\x80\x80\x80", FFFD FFFD FFFD FFFD},
        {"\xf8\x88\x80\x80\x80", FFFD FFFD FFFD FFFD FFFD}, /* old 5-byte form */
        {"\xfe", FFFD},
        {"\xff", FFFD},
        {"\xc3", FFFD}, /* truncated at the end */
        {"\xe2\x82", FFFD FFFD},
        {"\xf0\x9f\x98", FFFD FFFD FFFD},
        {"\xe2\x82x", FFFD FFFD "x"},      /* truncated mid-string */
        {"\xc3\"", FFFD "\""},             /* a quote is no continuation */
        {"\xc3\xa9\xa9", "\xc3\xa9" FFFD}, /* one continuation too many */
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        check_json(cases[i].in, strlen(cases[i].in), NULL, cases[i].out, strlen(cases[i].out));
}

/* Every byte value in every position: the output always parses, and valid
 * input always comes back unchanged. */
static void test_json_random_bytes(void **state UNUSED)
{
    uint64_t x = 88172645463325252ull;
    struct buf b = BUF_INIT;
    for (int round = 0; round < 2000; round++) {
        unsigned char in[64];
        size_t n = (size_t)(round % 64);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            in[i] = (unsigned char)x;
        }
        buf_reset(&b);
        size_t replaced = buf_add_json_str(&b, (const char *)in, n);
        json_object *o = json_tokener_parse(b.data);
        if (!o || !json_object_is_type(o, json_type_string))
            fail_msg("round %d: escaped text does not parse: %s", round, b.data);
        /* Nothing replaced exactly when the input was valid UTF-8. */
        assert_int_equal(replaced == 0, utf8_invalid_at((const char *)in, n) == n);
        json_object_put(o);
    }
    buf_release(&b);
}

static void test_json_cstr(void **state UNUSED)
{
    struct buf b = BUF_INIT;
    buf_add_json_cstr(&b, NULL);
    buf_addch(&b, ',');
    buf_add_json_cstr(&b, "q\"");
    buf_addch(&b, ',');
    buf_add_json_cstr(&b, "");
    assert_string_equal(b.data, "null,\"q\\\"\",\"\"");
    buf_release(&b);
}

/* Escaping appends: what was in the buffer stays. */
static void test_json_appends(void **state UNUSED)
{
    struct buf b = BUF_INIT;
    buf_addstr(&b, "{\"k\":");
    buf_add_json_str(&b, "v\n", 2);
    buf_addch(&b, '}');
    assert_string_equal(b.data, "{\"k\":\"v\\n\"}");
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_empty),        cmocka_unit_test(test_add_and_grow),
        cmocka_unit_test(test_grow_reserves),     cmocka_unit_test(test_addf),
        cmocka_unit_test(test_consume),           cmocka_unit_test(test_detach),
        cmocka_unit_test(test_json_plain),        cmocka_unit_test(test_json_escapes),
        cmocka_unit_test(test_json_all_controls), cmocka_unit_test(test_json_embedded_nul),
        cmocka_unit_test(test_json_valid_utf8),   cmocka_unit_test(test_json_invalid_utf8),
        cmocka_unit_test(test_json_random_bytes), cmocka_unit_test(test_json_cstr),
        cmocka_unit_test(test_json_appends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
