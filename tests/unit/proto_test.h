/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the unit tests of src/proto/ (test_json.c, test_spec.c,
 * test_fast.c, test_msg.c) and test_builtin.c: parse a line or a spec and
 * expect success, or an error that mentions a word; encode and parse back.
 * Include after <cmocka.h>.
 */
#ifndef DTR_TESTS_UNIT_PROTO_TEST_H
#define DTR_TESTS_UNIT_PROTO_TEST_H

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/util.h"
#include "proto/frame.h"
#include "proto/msg.h"

static char err[1024];

/* ---- helpers ------------------------------------------------------------- */

/* Checks that text (len bytes) is one strict, valid-UTF-8 JSON value, and
 * returns it as a json-c object (caller puts). */
static inline json_object *strict_json(const char *text, size_t len)
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

static inline void parse_ok_n(const char *line, size_t len, struct msg *m)
{
    int rc = msg_parse(line, len, m, err, sizeof(err));
    if (rc)
        fail_msg("msg_parse(%.300s) = %d: %s", line, rc, err);
}

static inline void parse_ok(const char *line, struct msg *m)
{
    parse_ok_n(line, strlen(line), m);
}

static inline void parse_bad_n(const char *line, size_t len, int want, const char *needle)
{
    struct msg m;
    snprintf(err, sizeof(err), "(untouched)");
    int rc = msg_parse(line, len, &m, err, sizeof(err));
    if (rc != want)
        fail_msg("msg_parse(%.300s) = %d, want %d (%s)", line, rc, want, err);
    if (!strstr(err, needle))
        fail_msg("msg_parse(%.300s): error \"%s\" does not mention \"%s\"", line, err, needle);
}

static inline void parse_bad(const char *line, const char *needle)
{
    parse_bad_n(line, strlen(line), DTR_EINVAL, needle);
}

/* Encodes in, checks the line (strict JSON, one '\n' at the very end) and
 * parses it into *out as a reader would after framing. */
static inline void encode_parse(const struct msg *in, struct msg *out)
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

static inline void spec_ok_n(const char *json, size_t len, struct task_spec *s)
{
    int rc = spec_parse(json, len, s, err, sizeof(err));
    if (rc)
        fail_msg("spec_parse(%.300s) = %d: %s", json, rc, err);
}

static inline void spec_ok(const char *json, struct task_spec *s)
{
    spec_ok_n(json, strlen(json), s);
}

static inline void spec_bad_n(const char *json, size_t len, const char *needle)
{
    struct task_spec s;
    snprintf(err, sizeof(err), "(untouched)");
    int rc = spec_parse(json, len, &s, err, sizeof(err));
    if (rc != DTR_EINVAL)
        fail_msg("spec_parse(%.300s) = %d, want DTR_EINVAL", json, rc);
    if (!strstr(err, needle))
        fail_msg("spec_parse(%.300s): error \"%s\" does not mention \"%s\"", json, err, needle);
}

static inline void spec_bad(const char *json, const char *needle)
{
    spec_bad_n(json, strlen(json), needle);
}

/* The canonical encoding of a spec (caller frees); checks that it is strict
 * JSON and a fixed point: parsing and encoding it again gives it back. */
static inline char *canon(const char *json)
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

static inline void assert_canon(const char *json, const char *want)
{
    char *got = canon(json);
    assert_string_equal(got, want);
    free(got);
}

/* A string of n copies of c (caller frees). */
static inline char *repeat(char c, size_t n)
{
    char *s = xmalloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

#endif
