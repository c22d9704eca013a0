/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the alloc and allocs messages (proto/alloc.c, msg.c):
 * records round-trip, every field is checked, sizes are bounded.
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

#include "proto_test.h"

#define A(rest) "{\"type\":\"alloc\"," rest "}"

static void test_alloc_add_roundtrip(void **state UNUSED)
{
    char *args[] = {(char *)"--partition=debug", (char *)"--cpus-per-task=4", NULL};
    struct alloc_info a = {.kind = (char *)"slurm",
                           .max_workers = 8,
                           .workers_per_job = 2,
                           .backlog = 3,
                           .time_limit_ms = 3600000,
                           .idle_timeout_ms = 60000,
                           .args = args,
                           .nargs = 2};
    struct msg in = {.type = MSG_ALLOC, .op = (char *)"add", .allocs = &a, .nallocs = 1}, out;
    encode_parse(&in, &out);
    assert_string_equal(out.op, "add");
    assert_int_equal(out.nallocs, 1);
    assert_string_equal(out.allocs[0].kind, "slurm");
    assert_int_equal(out.allocs[0].max_workers, 8);
    assert_int_equal(out.allocs[0].workers_per_job, 2);
    assert_int_equal(out.allocs[0].backlog, 3);
    assert_int_equal(out.allocs[0].time_limit_ms, 3600000);
    assert_int_equal(out.allocs[0].idle_timeout_ms, 60000);
    assert_int_equal(out.allocs[0].nargs, 2);
    assert_string_equal(out.allocs[0].args[1], "--cpus-per-task=4");
    msg_release(&out);
}

static void test_allocs_reply_roundtrip(void **state UNUSED)
{
    struct alloc_info a[2] = {
        {.id = (char *)"a1",
         .kind = (char *)"slurm",
         .max_workers = 1,
         .workers_per_job = 1,
         .backlog = 1,
         .pending = 1,
         .running = 2,
         .submitted = 5,
         .ended = 2,
         .failures = 1,
         .retry_at = 1700000000000,
         .last_error = (char *)"sbatch exited 1: \"no\""},
        {.id = (char *)"a2",
         .kind = (char *)"slurm",
         .max_workers = 4,
         .workers_per_job = 1,
         .backlog = 1},
    };
    struct buf b = BUF_INIT;
    struct msg m;
    msg_encode_allocs(&b, a, 2);
    parse_ok(b.data, &m);
    assert_int_equal(m.nallocs, 2);
    assert_string_equal(m.allocs[0].id, "a1");
    assert_int_equal(m.allocs[0].running, 2);
    assert_int_equal(m.allocs[0].submitted, 5);
    assert_int_equal(m.allocs[0].retry_at, 1700000000000);
    assert_string_equal(m.allocs[0].last_error, "sbatch exited 1: \"no\"");
    assert_null(m.allocs[1].last_error);
    msg_release(&m);
    buf_reset(&b);
    msg_encode_allocs(&b, NULL, 0);
    parse_ok(b.data, &m);
    assert_int_equal(m.nallocs, 0);
    msg_release(&m);
    buf_release(&b);
}

static void test_alloc_list_remove(void **state UNUSED)
{
    struct msg m;
    parse_ok(A("\"op\":\"list\""), &m);
    assert_string_equal(m.op, "list");
    msg_release(&m);
    parse_ok(A("\"op\":\"remove\",\"id\":\"a3\""), &m);
    assert_string_equal(m.id, "a3");
    msg_release(&m);
}

static void test_alloc_bad(void **state UNUSED)
{
    parse_bad(A("\"op\":\"grow\""), "add, list or remove");
    parse_bad(A("\"op\":\"remove\""), "id");
    parse_bad(A("\"op\":\"remove\",\"id\":\"a b\""), "valid id");
    parse_bad(A("\"op\":\"list\",\"id\":\"a1\""), "for remove");
    parse_bad(A("\"op\":\"add\""), "needs field 'alloc'");
    parse_bad(A("\"op\":\"list\",\"alloc\":{}"), "only add");
    parse_bad(A("\"op\":\"add\",\"alloc\":[]"), "must be an object");
    parse_bad(A("\"op\":\"add\",\"alloc\":{\"kind\":\"slurm\"}"), "max_workers");
    parse_bad(A("\"op\":\"add\",\"alloc\":{\"kind\":\"pbs\",\"max_workers\":1}"), "only slurm");
    parse_bad(A("\"op\":\"add\",\"alloc\":{\"kind\":\"slurm\",\"max_workers\":0}"), "max_workers");
    parse_bad(A("\"op\":\"add\",\"alloc\":{\"kind\":\"slurm\",\"max_workers\":1,\"nodes\":2}"),
              "nodes");
    parse_bad(A("\"op\":\"add\",\"alloc\":{\"kind\":\"slurm\",\"max_workers\":1,"
                "\"backlog\":1001}"),
              "backlog");
    parse_bad(A("\"op\":\"add\",\"alloc\":{\"kind\":\"slurm\",\"max_workers\":1,\"args\":[1]}"),
              "must be a string");
    parse_bad(A("\"op\":\"add\",\"alloc\":{\"kind\":\"slurm\",\"max_workers\":1,"
                "\"args\":[\"a\\u0000b\"]}"),
              "without NUL");
    /* at most ALLOC_MAX_ARGS arguments, each at most ALLOC_MAX_ARG bytes */
    struct buf b = BUF_INIT;
    buf_addstr(&b, A("\"op\":\"add\",\"alloc\":{\"kind\":\"slurm\",\"max_workers\":1,\"args\":["));
    b.len -= 1; /* drop the closing brace A() wrote */
    b.data[b.len] = '\0';
    for (int i = 0; i <= ALLOC_MAX_ARGS; i++)
        buf_addf(&b, "%s\"x\"", i ? "," : "");
    buf_addstr(&b, "]}}");
    parse_bad(b.data, "args");
    buf_release(&b);
    char *big = repeat('x', ALLOC_MAX_ARG + 1);
    char line[ALLOC_MAX_ARG + 256];
    snprintf(line, sizeof(line),
             A("\"op\":\"add\",\"alloc\":{\"kind\":\"slurm\",\"max_workers\":1,\"args\":[\"%s\"]}"),
             big);
    parse_bad(line, "at most");
    free(big);
}

/* The queues as status shows them: each record with "workers", those whose
 * id is alloc-QUEUE-... (not alloc-QUEUE2-..., not a plain name). */
static void test_alloc_view(void **state UNUSED)
{
    assert_true(alloc_worker_of("alloc-a1-17-0", "a1"));
    assert_false(alloc_worker_of("alloc-a11-17-0", "a1"));
    assert_false(alloc_worker_of("alloc-a1", "a1"));
    assert_false(alloc_worker_of("w-a1-17-0", "a1"));
    assert_false(alloc_worker_of(NULL, "a1"));
    struct alloc_info q[2] = {{.id = (char *)"a1", .kind = (char *)"slurm", .max_workers = 4},
                              {.id = (char *)"a11", .kind = (char *)"slurm", .max_workers = 1}};
    struct worker_info w[3] = {
        {.id = (char *)"alloc-a1-5-0"}, {.id = (char *)"alloc-a1-5-1"}, {.id = (char *)"w1"}};
    struct buf b = BUF_INIT;
    alloc_view_encode(&b, q, 2, w, 3);
    assert_non_null(strstr(b.data, "\"id\":\"a1\","));
    assert_non_null(strstr(b.data, "\"workers\":2},{\"id\":\"a11\""));
    assert_non_null(strstr(b.data, "\"workers\":0}]"));
    assert_int_equal(b.data[0], '[');
    buf_reset(&b);
    alloc_view_encode(&b, NULL, 0, w, 3);
    assert_string_equal(b.data, "[]");
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_add_roundtrip), cmocka_unit_test(test_allocs_reply_roundtrip),
        cmocka_unit_test(test_alloc_list_remove),   cmocka_unit_test(test_alloc_bad),
        cmocka_unit_test(test_alloc_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
