/* SPDX-License-Identifier: MIT */
/* Unit tests for the event log (master/events.c: ids, the ring, events
 * visible only once their journal batch is durable) and the events and
 * event messages (proto/msg.c: round trip, the lost notice, bad input). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "master/events.h"
#include "sched/metrics.h"

static int parse(const char *line, struct msg *m)
{
    char err[512];
    return msg_parse(line, strlen(line), m, err, sizeof(err));
}

static void test_event_round_trip(void **state)
{
    (void)state;
    struct event_info e = {.id = 7,
                           .name = (char *)"started",
                           .task = (char *)"t1",
                           .job = (char *)"j-2",
                           .worker = (char *)"w1",
                           .at = 1796296162219};
    struct buf b = BUF_INIT;
    msg_encode_event(&b, &e);
    struct msg m;
    assert_int_equal(parse(b.data, &m), 0);
    assert_int_equal(m.type, MSG_EVENT);
    assert_int_equal(m.event.id, 7);
    assert_string_equal(m.event.name, "started");
    assert_string_equal(m.event.task, "t1");
    assert_string_equal(m.event.job, "j-2");
    assert_string_equal(m.event.worker, "w1");
    assert_int_equal(m.event.at, 1796296162219);
    msg_release(&m);

    /* a worker event: task and job null */
    struct event_info w = {.id = 8,
                           .name = (char *)"worker_joined",
                           .task = (char *)"",
                           .worker = (char *)"w1",
                           .at = 1};
    buf_reset(&b);
    msg_encode_event(&b, &w);
    assert_non_null(strstr(b.data, "\"task\":null,\"job\":null,\"worker\":\"w1\""));
    assert_int_equal(parse(b.data, &m), 0);
    assert_null(m.event.task);
    assert_null(m.event.job);
    msg_release(&m);

    /* the lost notice */
    struct event_info lost = {.lost_from = 3, .lost_to = 9};
    buf_reset(&b);
    msg_encode_event(&b, &lost);
    assert_int_equal(parse(b.data, &m), 0);
    assert_int_equal(m.event.id, 0);
    assert_int_equal(m.event.lost_from, 3);
    assert_int_equal(m.event.lost_to, 9);
    msg_release(&m);

    /* the request */
    buf_reset(&b);
    msg_encode(&b, &(struct msg){.type = MSG_EVENTS, .job = (char *)"j-3", .after = 12});
    assert_int_equal(parse(b.data, &m), 0);
    assert_int_equal(m.type, MSG_EVENTS);
    assert_string_equal(m.job, "j-3");
    assert_int_equal(m.after, 12);
    msg_release(&m);
    buf_release(&b);
}

static void test_event_bad_input(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"type\":\"events\",\"job\":\"bad job\"}",
        "{\"type\":\"events\",\"after\":-1}",
        "{\"type\":\"events\",\"from\":1}",
        "{\"type\":\"event\"}",
        "{\"type\":\"event\",\"event\":[]}",
        "{\"type\":\"event\",\"event\":{\"id\":0,\"event\":\"x\"}}",
        "{\"type\":\"event\",\"event\":{\"id\":1}}",
        "{\"type\":\"event\",\"event\":{\"id\":1,\"event\":\"x\",\"extra\":1}}",
        "{\"type\":\"event\",\"lost_from\":5,\"lost_to\":4}",
        "{\"type\":\"event\",\"lost_from\":0,\"lost_to\":4}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct msg m;
        if (parse(bad[i], &m) == 0)
            fail_msg("accepted: %s", bad[i]);
        msg_release(&m);
    }
}

/* Events recorded through the hook get ids from 1; they become visible
 * only when their batch is durable; the ring keeps the last EVENTS_KEPT. */
static void test_event_log(void **state)
{
    (void)state;
    struct events ev;
    events_init(&ev);
    assert_ptr_not_equal(metrics_event_hook, NULL);
    metrics_event_hook("worker_joined", NULL, "w1");
    metrics_event_hook("worker_draining", NULL, "w1");
    assert_int_equal(ev.next_id, 3);
    assert_false(events_durable(&ev, 100)); /* not handed off yet */
    events_hold(&ev, 5);
    assert_false(events_durable(&ev, 4));
    assert_int_equal(ev.visible, 0);
    metrics_event_hook("worker_lost", NULL, "w1");
    events_hold(&ev, 6);
    assert_true(events_durable(&ev, 5));
    assert_int_equal(ev.visible, 2);
    assert_string_equal(events_get(&ev, 1)->name, "worker_joined");
    assert_string_equal(events_get(&ev, 2)->worker, "w1");
    assert_true(events_durable(&ev, 6));
    assert_int_equal(ev.visible, 3);
    assert_int_equal(events_oldest(&ev), 1);
    for (int i = 0; i < EVENTS_KEPT + 5; i++)
        metrics_event_hook("worker_joined", NULL, "w2");
    assert_int_equal(events_oldest(&ev), ev.next_id - EVENTS_KEPT);
    events_hold(&ev, 7);
    assert_true(events_durable(&ev, 7));
    assert_int_equal(ev.visible, ev.next_id - 1);
    events_release(&ev);
    assert_null(metrics_event_hook);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_round_trip),
        cmocka_unit_test(test_event_bad_input),
        cmocka_unit_test(test_event_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
