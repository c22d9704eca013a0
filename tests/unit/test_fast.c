/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for proto/fast.c: each shortcut past json-c reads exactly what
 * its encoder writes, and agrees with the full parser on the same line and
 * on lines spelled almost like it.
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
    assert_int_equal(a->nafter, b->nafter);
    for (size_t i = 0; i < a->nafter; i++)
        assert_string_equal(a->after[i], b->after[i]);
    assert_int_equal(a->nafter_any, b->nafter_any);
    for (size_t i = 0; i < a->nafter_any; i++)
        assert_string_equal(a->after_any[i], b->after_any[i]);
    assert_int_equal(a->priority, b->priority);
    assert_int_equal(a->max_retries, b->max_retries);
    assert_int_equal(a->timeout_ms, b->timeout_ms);
    assert_true((a->req == NULL) == (b->req == NULL));
    if (a->req)
        assert_true(res_equal(a->req, b->req));
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
        /* dependencies, as a DAG's tasks name them, and what the full path
         * refuses (twice, in both lists, empty, too long, a space) */
        "{\"type\":\"submit\",\"tasks\":[" NOOP("\"b\"", ",\"after\":[\"a\"]" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("\"b\"", ",\"after\":[\"a\",\"c\"],"
                                                         "\"after_any\":[\"d\"]" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"after_any\":[\"d\"]" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[{\"id\":\"x\",\"kind\":\"exec\",\"after\":[\"a\"],"
        "\"argv\":[\"/bin/true\"],\"priority\":0,\"max_retries\":3}]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("\"b\"", ",\"after\":[\"a\",\"a\"]" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("\"b\"", ",\"after\":[\"a\"],"
                                                         "\"after_any\":[\"a\"]" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("\"b\"", ",\"after\":[]" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("\"b\"", ",\"after\":[\"a b\"]" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("\"b\"", ",\"after\":[\"\"]" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP(
            "\"b\"", ",\"after\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", PR) ",]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"priority\":2") "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", PR ",\"timeout\":1.5") "]}",
        "{\"type\":\"submit\",\"tasks\":[{\"id\":\"e\",\"kind\":\"exec\",\"argv\":[\"a\"],"
        "\"cwd\":\"/tmp\",\"priority\":2,\"max_retries\":3}]}",
        "{\"type\":\"run\",\"tasks\":[{\"lease\":1,\"attempt\":1,\"spec\":" NOOP(
            "\"a\"",
            PR) "},{\"lease\":9223372036854775807,\"attempt\":2147483647,\"spec\":{\"id\":\"b\","
                "\"kind\":\"exec\",\"argv\":[\"/bin/true\"],\"priority\":0,\"max_retries\":3}}]}",
        "{\"type\":\"run\",\"tasks\":[{\"lease\":0,\"attempt\":1,\"spec\":" NOOP("\"a\"", PR) "}]}",
        "{\"type\":\"run\",\"tasks\":[{\"lease\":1,\"attempt\":0,\"spec\":" NOOP("\"a\"", PR) "}]}",
        "{\"type\":\"run\",\"tasks\":[{\"lease\":1,\"attempt\":1,\"spec\":" NOOP("null", PR) "}]}",
        "{\"type\":\"run\",\"tasks\":[{\"lease\":1,\"attempt\":1,\"spec\":" NOOP("\"a\"",
                                                                                 PR) ",\"x\":1}]}",
        /* resource requests, as res_encode_fields() writes them, and what
         * the full path refuses or spells otherwise */
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"cpus\":0.5" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("\"h\"",
                                                ",\"cpus\":2,\"mem\":1073741824,\"gpus\":1,"
                                                "\"resources\":{\"license\":1,\"tape\":2}" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"gpus\":1" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"cpus\":1" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"cpus\":65536" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"cpus\":65536.001" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"cpus\":65537" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"cpus\":0" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"cpus\":0.0" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"cpus\":0.001" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"cpus\":1.500" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"cpus\":1.2345" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"cpus\":1.25000" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"cpus\":01.5" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"cpus\":.5" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"cpus\":5." PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"cpus\":1e3" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"cpus\":2.5e1" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"cpus\":-1" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"cpus\":\"2\"" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"mem\":0" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"mem\":1125899906842624" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"mem\":1125899906842625" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"mem\":\"2G\"" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"gpus\":1025" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"gpus\":0" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP(
            "null", ",\"resources\":{\"tape\":1,\"license\":1}" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"resources\":{\"a\":1,\"a\":2}" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"resources\":{\"License\":1}" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"resources\":{\"cpus\":1}" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"resources\":{\"x\":0}" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null",
                                                ",\"resources\":{\"x\":1000000001}" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"resources\":{}" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP(
            "null", ",\"resources\":{\"a\":1,\"b\":1,\"c\":1,"
                    "\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1}" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null",
                                                ",\"resources\":{\"a\":1,\"b\":1,\"c\":1,"
                                                "\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1}" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP(
            "null", ",\"resources\":{\"abcdefghijklmnopqrstuvwxyz0123456\":1}" PR) "]}",
        "{\"type\":\"submit\",\"tasks\":[" NOOP("null", ",\"gpus\":1,\"cpus\":2" PR) "]}",
        /* a user's line may leave out the id */
        "{\"type\":\"submit\",\"tasks\":[{\"kind\":\"noop\",\"gpus\":1}]}",
        "{\"type\":\"submit\",\"tasks\":[{\"kind\":\"exec\",\"argv\":[\"/bin/true\"],\"cpus\":0.25,"
        "\"priority\":3}]}",
        "{\"type\":\"submit\",\"tasks\":[{\"kind\":\"noop\"},{\"id\":\"x\",\"kind\":\"noop\"}]}",
        "{\"type\":\"submit\",\"tasks\":[{}]}",
        "{\"type\":\"run\",\"tasks\":[{\"lease\":1,\"attempt\":1,\"spec\":{\"kind\":\"noop\"}}]}",
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
    char *after[1000];
    for (int i = 0; i < 1000; i++)
        after[i] = ids[i > 0 ? i - 1 : 0];
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
        if (i % 5 == 1) { /* a task of a DAG: after the one before */
            specs[i].after = &after[i];
            specs[i].nafter = 1;
        }
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
        {"{\"type\":\"pong\",\"busy\":  12 }", 12}, /* the full path */
        {"{\"busy\":3,\"type\":\"pong\"}", 3},      /* the full path */
        {"{\"type\":\"pong\"}", 0},                 /* busy is optional */
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

    /* A master's pong names the heartbeat: the full path, bounded. */
    struct buf b = BUF_INIT;
    msg_encode_pong(&b, 0, 4000);
    parse_ok_n(b.data, b.len - 1, &m);
    assert_int_equal(m.type, MSG_PONG);
    assert_int_equal(m.heartbeat_ms, 4000);
    msg_release(&m);
    buf_release(&b);
    parse_bad("{\"type\":\"pong\",\"busy\":0,\"heartbeat_ms\":5}", "heartbeat_ms");
    parse_bad("{\"type\":\"pong\",\"busy\":0,\"heartbeat_ms\":\"1s\"}", "heartbeat_ms");
}

/* ---- each encoder beside its shortcut ------------------------------------------ */

/* Encodes m as its sender would: msg_encode(), or msg_run_*() for a run. */
static void encode_any(struct buf *b, const struct msg *m)
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

/*
 * The line an encoder wrote (in b, with its '\n') must be taken by the
 * shortcut alone (msg_parse_fast()), and the full parser (the same line with
 * a space after its '{', which no shortcut takes) must read the same
 * message: both encode back to the very line. want_fast false: a line the
 * shortcut must leave to the full parser.
 */
static void assert_pair(const struct buf *b, enum msg_type type, bool want_fast)
{
    struct msg fast, full;
    char e[512];
    assert_true(b->len > 2 && b->data[0] == '{' && b->data[b->len - 1] == '\n');
    size_t len = b->len - 1;
    memset(&fast, 0, sizeof(fast));
    fast.state = -1;
    if (msg_parse_fast(b->data, len, &fast) != want_fast)
        fail_msg("msg_parse_fast(%.300s) is %s", b->data, want_fast ? "false" : "true");
    char *slow = xmalloc(len + 2);
    slow[0] = '{';
    slow[1] = ' ';
    memcpy(slow + 2, b->data + 1, len - 1);
    if (msg_parse(slow, len + 1, &full, e, sizeof(e)))
        fail_msg("the full parser refuses %.300s: %s", b->data, e);
    free(slow);
    assert_int_equal(full.type, type);
    struct buf again = BUF_INIT;
    encode_any(&again, &full);
    assert_string_equal(again.data, b->data);
    if (want_fast) {
        assert_int_equal(fast.type, type);
        buf_reset(&again);
        encode_any(&again, &fast);
        assert_string_equal(again.data, b->data);
        msg_release(&fast);
    }
    buf_release(&again);
    msg_release(&full);
}

static void test_pair_ping(void **state UNUSED)
{
    struct buf b = BUF_INIT;
    msg_encode_ping(&b);
    assert_string_equal(b.data, "{\"type\":\"ping\"}\n");
    assert_pair(&b, MSG_PING, true);
    buf_reset(&b);
    msg_encode(&b, &(struct msg){.type = MSG_PING});
    assert_pair(&b, MSG_PING, true);
    buf_release(&b);
}

static void test_pair_pong(void **state UNUSED)
{
    static const int busy[] = {0, 1, 7, 10, 99, 1048576};
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < ARRAY_SIZE(busy); i++) {
        struct msg m;
        buf_reset(&b);
        msg_encode_pong(&b, busy[i], 0);
        assert_pair(&b, MSG_PONG, true);
        parse_ok_n(b.data, b.len - 1, &m);
        assert_int_equal(m.busy, busy[i]);
        msg_release(&m);
        buf_reset(&b);
        msg_encode(&b, &(struct msg){.type = MSG_PONG, .busy = busy[i]});
        assert_pair(&b, MSG_PONG, true);
    }
    buf_release(&b);
}

static void test_pair_result(void **state UNUSED)
{
    static const struct {
        struct attempt_result r;
        bool fast;
    } cases[] = {
        {{.lease = 1,
          .id = (char *)"t",
          .attempt = 1,
          .ok = true,
          .started_at = 5,
          .finished_at = 6},
         true},
        {{.lease = 7, .id = (char *)"job-2", .attempt = 3, .refused = true, .exit_code = -1}, true},
        {{.lease = INT64_MAX,
          .id = (char *)"x",
          .attempt = INT32_MAX,
          .exit_code = -1,
          .term_signal = 9,
          .started_at = 1,
          .finished_at = 2},
         true},
        {{.lease = 2, .id = (char *)"y", .attempt = 1, .exit_code = 255}, true},
        /* Output, an error or a result: the full path. */
        {{.lease = 3,
          .id = (char *)"z",
          .attempt = 1,
          .ok = true,
          .out = {.out = (char *)"hi\n", .out_len = 3}},
         false},
        {{.lease = 3, .id = (char *)"z", .attempt = 1, .error = (char *)"timed out"}, false},
        {{.lease = 3, .id = (char *)"z", .attempt = 1, .ok = true, .out = {.result = (char *)"42"}},
         false},
        {{.lease = 3,
          .id = (char *)"z",
          .attempt = 1,
          .ok = true,
          .out = {.err = (char *)"\xff", .err_len = 1, .err_truncated = true}},
         false},
        /* An id the shortcut does not take (it needs escaping). */
        {{.lease = 4, .id = (char *)"a\"b", .attempt = 1}, false},
    };
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        buf_reset(&b);
        msg_encode_result(&b, &cases[i].r);
        assert_pair(&b, MSG_RESULT, cases[i].fast);
        buf_reset(&b);
        msg_encode(&b, &(struct msg){.type = MSG_RESULT, .result = cases[i].r});
        assert_pair(&b, MSG_RESULT, cases[i].fast);
    }
    buf_release(&b);
}

/* Specs in the shapes the shortcut takes, and one it leaves alone. */
static struct task_spec pair_specs(size_t i)
{
    static char *argv[] = {(char *)"/bin/echo", (char *)"a b", NULL};
    static char *env[] = {(char *)"A=1", NULL};
    switch (i) {
    case 0:
        return (struct task_spec){.kind = KIND_NOOP, .priority = 0, .max_retries = 3};
    case 1:
        return (struct task_spec){
            .id = (char *)"n-1", .kind = KIND_NOOP, .payload = (char *)"{}", .priority = -5};
    case 2:
        return (struct task_spec){.id = (char *)"e-1",
                                  .kind = KIND_EXEC,
                                  .argv = argv,
                                  .argc = 2,
                                  .priority = 100,
                                  .max_retries = 1000};
    default: /* env: the full path */
        return (struct task_spec){
            .id = (char *)"e-2", .kind = KIND_EXEC, .argv = argv, .argc = 2, .env = env, .envc = 1};
    }
}

static void test_pair_submit(void **state UNUSED)
{
    struct task_spec specs[4];
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < 4; i++)
        specs[i] = pair_specs(i);
    msg_encode_submit(&b, specs, 3, NULL, NULL, 0, false);
    assert_pair(&b, MSG_SUBMIT, true);
    buf_reset(&b);
    msg_encode_submit(&b, specs, 3, "j-7", NULL, 0, false); /* a later batch of a call */
    assert_pair(&b, MSG_SUBMIT, true);
    buf_reset(&b);
    msg_encode_submit(&b, specs, 3, NULL, "nightly.1", 0,
                      false); /* a first batch with --job-name */
    assert_pair(&b, MSG_SUBMIT, true);
    buf_reset(&b);
    msg_encode(&b, &(struct msg){.type = MSG_SUBMIT, .specs = specs, .nspecs = 3});
    assert_pair(&b, MSG_SUBMIT, true);
    buf_reset(&b);
    msg_encode_submit(&b, specs, 4, NULL, NULL, 0, false);
    assert_pair(&b, MSG_SUBMIT, false);
    buf_reset(&b);
    msg_encode_submit(&b, specs, 3, NULL, "arr", 10, false); /* --array A-B%10 */
    assert_pair(&b, MSG_SUBMIT, true);
    buf_reset(&b);
    msg_encode(&b, &(struct msg){.type = MSG_SUBMIT, .specs = specs, .nspecs = 3, .throttle = 3});
    assert_pair(&b, MSG_SUBMIT, true);
    buf_reset(&b);
    msg_encode_submit(&b, specs, 3, "j-7", NULL, 10000000, false); /* a later batch, the largest */
    assert_pair(&b, MSG_SUBMIT, true);
    buf_reset(&b);
    msg_encode_submit(&b, specs, 3, NULL, NULL, 3, true); /* submit --wait */
    assert_pair(&b, MSG_SUBMIT, true);
    /* Resource requests take the shortcut too, as the CLI writes them. */
    struct request reqs[3];
    res_default(&reqs[0]);
    reqs[0].cpus_milli = 500;
    res_default(&reqs[1]);
    reqs[1].gpus = 2;
    reqs[1].mem = 3LL << 30;
    res_default(&reqs[2]);
    reqs[2].cpus_milli = 16250;
    reqs[2].nnamed = 2;
    snprintf(reqs[2].named[0].name, sizeof(reqs[2].named[0].name), "license");
    reqs[2].named[0].n = 1;
    snprintf(reqs[2].named[1].name, sizeof(reqs[2].named[1].name), "tape");
    reqs[2].named[1].n = 4;
    for (size_t i = 0; i < 3; i++)
        specs[i].req = &reqs[i];
    buf_reset(&b);
    msg_encode_submit(&b, specs, 3, NULL, NULL, 0, false);
    assert_pair(&b, MSG_SUBMIT, true);
    buf_release(&b);
}

/* A user's JSON Lines file: the shortcut takes a line without an id and
 * with a request, in the order spec_encode() writes the fields. */
static void test_spec_parse_fast_user_lines(void **state UNUSED)
{
    struct task_spec s;
    const char *line =
        "{\"kind\":\"noop\",\"cpus\":1.5,\"gpus\":1,\"resources\":{\"license\":2}}\n";
    assert_true(spec_parse_fast(line, strlen(line), &s));
    assert_null(s.id);
    assert_non_null(s.req);
    assert_int_equal(s.req->cpus_milli, 1500);
    assert_int_equal(s.req->gpus, 1);
    assert_int_equal(s.req->nnamed, 1);
    assert_string_equal(s.req->named[0].name, "license");
    assert_int_equal(s.req->named[0].n, 2);
    spec_release(&s);
    line = "{\"kind\":\"noop\",\"cpus\":1}"; /* the default request */
    assert_true(spec_parse_fast(line, strlen(line), &s));
    assert_null(s.req);
    spec_release(&s);
    line = "{\"kind\":\"noop\",\"gpus\":1,\"cpus\":2}"; /* another order: the full path */
    assert_false(spec_parse_fast(line, strlen(line), &s));
}

static void test_pair_run(void **state UNUSED)
{
    struct buf b = BUF_INIT, spec = BUF_INIT;
    for (size_t n = 1; n <= 4; n++) {
        buf_reset(&b);
        msg_run_begin(&b);
        for (size_t i = 0; i < n; i++) {
            struct task_spec s = pair_specs(i);
            if (!s.id)
                s.id = (char *)"given"; /* a run's spec always has one */
            buf_reset(&spec);
            spec_encode(&spec, &s);
            msg_run_add(&b, i == 0, 10 + i, (int)i + 1, spec.data);
        }
        msg_run_end(&b);
        assert_pair(&b, MSG_RUN, n < 4);
    }
    /* A task of a throttled job: its spec ends with the job and the throttle. */
    struct task_spec s = pair_specs(2);
    s.job = (char *)"j-3";
    s.throttle = 5;
    buf_reset(&spec);
    spec_encode(&spec, &s);
    assert_non_null(strstr(spec.data, ",\"job\":\"j-3\",\"throttle\":5}"));
    buf_reset(&b);
    msg_run_begin(&b);
    msg_run_add(&b, true, 10, 1, spec.data);
    msg_run_end(&b);
    assert_pair(&b, MSG_RUN, true);
    buf_release(&spec);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_heartbeat_lines),
        cmocka_unit_test(test_msg_specs_fast_path_agrees),
        cmocka_unit_test(test_msg_specs_fast_path_roundtrip),
        cmocka_unit_test(test_msg_result_fast_path_agrees),
        cmocka_unit_test(test_pair_ping),
        cmocka_unit_test(test_pair_pong),
        cmocka_unit_test(test_pair_result),
        cmocka_unit_test(test_pair_submit),
        cmocka_unit_test(test_spec_parse_fast_user_lines),
        cmocka_unit_test(test_pair_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
