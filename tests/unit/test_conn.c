/* SPDX-License-Identifier: MIT */
/* Unit tests for the group-commit core of net/conn: conn_hub_hold() and
 * conn_hub_release() on a real uv loop, one accepted connection over
 * loopback TCP whose peer is a plain socket in this process. No byte may
 * leave before its epoch is durable, whatever happens to the connection.
 * Waits are for events (bounded), never a sleep and an assert. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/buf.h"
#include "common/log.h"
#include "net/conn.h"
#include "proto/msg.h"

#define WAIT_MS 5000

struct fixture {
    uv_loop_t loop;
    struct conn_hub hub;
    struct conn_listener l;
    struct conn *c; /* the accepted end, once ready */
    int ready, closed;
    int fd;            /* the peer */
    uint64_t sent_pos; /* c->out_taken when the test body began */
};

static struct fixture *fx;

static int ready_cb(struct conn *c, struct msg *hello, char *err, size_t errlen)
{
    (void)hello;
    (void)err;
    (void)errlen;
    fx->c = c;
    fx->ready++;
    return 0;
}

static void message_cb(struct conn *c, struct msg *m)
{
    (void)c;
    (void)m;
}

static void closed_cb(struct conn *c)
{
    (void)c;
    fx->closed++;
    fx->c = NULL;
}

static const struct conn_ops ops = {ready_cb, message_cb, closed_cb};

static void timeout_cb(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* Runs the loop until *n reaches want, or fails the test after WAIT_MS. */
static void run_until(int *n, int want)
{
    uv_timer_t t;
    bool late = false;
    uv_timer_init(&fx->loop, &t);
    t.data = &late;
    uv_timer_start(&t, timeout_cb, WAIT_MS, 0);
    while (*n < want && !late)
        uv_run(&fx->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_true(*n >= want);
}

/* Reads exactly len bytes on the peer, letting the loop run meanwhile (a
 * write may be left to libuv); fails after WAIT_MS. */
static void peer_read(char *out, size_t len)
{
    size_t got = 0;
    for (int spins = 0; got < len; spins++) {
        assert_true(spins < WAIT_MS / 10);
        uv_run(&fx->loop, UV_RUN_NOWAIT);
        struct pollfd p = {.fd = fx->fd, .events = POLLIN};
        if (poll(&p, 1, 10) != 1)
            continue;
        ssize_t n = recv(fx->fd, out + got, len - got, 0);
        assert_true(n > 0);
        got += (size_t)n;
    }
}

static void peer_expect(const char *want)
{
    char got[4096];
    size_t len = strlen(want);
    assert_true(len < sizeof(got));
    peer_read(got, len);
    got[len] = '\0';
    assert_string_equal(got, want);
}

/* The peer has nothing to read, and nothing left the conn's queue since
 * the test began: the bytes are still in this process. */
static void peer_has_nothing(void)
{
    char b[64];
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    if (fx->c) {
        assert_true(fx->c->out_taken == fx->sent_pos);
        assert_int_equal(fx->c->inflight.len, 0);
    }
    ssize_t n = recv(fx->fd, b, sizeof(b), MSG_DONTWAIT);
    assert_int_equal(n, -1);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

/* The peer reads to the end of the stream (the conn closed). */
static void peer_expect_eof(void)
{
    char b[4096];
    for (int spins = 0;; spins++) {
        assert_true(spins < WAIT_MS / 10);
        uv_run(&fx->loop, UV_RUN_NOWAIT);
        struct pollfd p = {.fd = fx->fd, .events = POLLIN};
        if (poll(&p, 1, 10) != 1)
            continue;
        ssize_t n = recv(fx->fd, b, sizeof(b), 0);
        if (n <= 0)
            return;
        fail_msg("unexpected %zd bytes before the end", n);
    }
}

static void queue(const char *line)
{
    struct buf *b = conn_out(fx->c);
    assert_non_null(b);
    buf_addstr(b, line);
}

/* A group member that is not the leader names fx's leader (NULL: it leads). */
static const char *group_leader;

static bool not_leader_cb(void *owner, const char *peer_role, char *leader, size_t len)
{
    assert_ptr_equal(owner, fx);
    assert_string_equal(peer_role, "client");
    if (!group_leader)
        return false;
    snprintf(leader, len, "%s", group_leader);
    return true;
}

/* Listens, and the peer dials and says hello as a client without a token;
 * with_hook: the hub is a group member's (not_leader_cb). */
static void listen_and_hello(void **state, bool with_hook)
{
    char err[256], nonce[AUTH_NONCE_HEX];
    fx = calloc(1, sizeof(*fx));
    *state = fx;
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    conn_hub_init(&fx->hub, &fx->loop, "master", "m1", NULL);
    if (with_hook) {
        fx->hub.owner = fx;
        fx->hub.not_leader = not_leader_cb;
    }
    assert_int_equal(conn_listen(&fx->hub, &fx->l, "127.0.0.1", 41000, 49999, &ops,
                                 CONN_ROLE_CLIENT, err, sizeof(err)),
                     0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx->l.port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fx->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fx->fd >= 0);
    assert_int_equal(connect(fx->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    struct msg h;
    struct buf b = BUF_INIT;
    memset(&h, 0, sizeof(h));
    h.type = MSG_HELLO;
    h.proto = PROTO_VERSION;
    h.role = (char *)"client";
    h.id = (char *)"t1";
    auth_nonce(nonce);
    h.nonce = nonce;
    msg_encode(&b, &h);
    assert_int_equal(send(fx->fd, b.data, b.len, 0), (ssize_t)b.len);
    buf_release(&b);
}

static int setup(void **state)
{
    listen_and_hello(state, false);
    run_until(&fx->ready, 1);
    assert_non_null(fx->c);
    assert_true(conn_is_ready(fx->c));
    assert_string_equal(conn_peer_role(fx->c), "client");
    /* Our hello was queued like any reply: it leaves at a flush. */
    peer_has_nothing();
    conn_hub_flush(&fx->hub);
    char line[1024];
    size_t got = 0;
    do {
        peer_read(line + got, 1);
    } while (line[got++] != '\n' && got < sizeof(line));
    assert_non_null(strstr(line, "\"hello\""));
    fx->sent_pos = fx->c->out_taken;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    conn_hub_close_all(&fx->hub, "test over");
    conn_listener_close(&fx->l);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    if (fx->fd >= 0)
        close(fx->fd);
    free(fx);
    fx = NULL;
    return 0;
}

/* Bytes held for an epoch stay until it is durable, then leave in order. */
static void test_held_until_release(void **state)
{
    (void)state;
    queue("one\n");
    conn_hub_hold(&fx->hub, 1);
    peer_has_nothing();
    queue("two\n");
    conn_hub_hold(&fx->hub, 2);
    assert_int_equal(fx->c->nmarks, 2);
    conn_hub_release(&fx->hub, 0);
    peer_has_nothing();
    conn_hub_release(&fx->hub, 1);
    peer_expect("one\n");
    assert_int_equal(conn_pending_bytes(fx->c), 4); /* "two\n" waits for epoch 2 */
    fx->sent_pos = fx->c->out_taken;
    peer_has_nothing();
    conn_hub_release(&fx->hub, 2);
    peer_expect("two\n");
    assert_int_equal(fx->c->nmarks, 0);
    assert_int_equal(conn_pending_bytes(fx->c), 0);
}

/* One release for several epochs lets them all out, in order; a hold with
 * nothing queued since the last one adds no mark. */
static void test_several_epochs(void **state)
{
    (void)state;
    queue("a\n");
    conn_hub_hold(&fx->hub, 1);
    conn_hub_hold(&fx->hub, 2); /* nothing new */
    assert_int_equal(fx->c->nmarks, 1);
    queue("b\n");
    conn_hub_hold(&fx->hub, 3);
    queue("c\n");
    conn_hub_hold(&fx->hub, 4);
    assert_int_equal(fx->c->nmarks, 3);
    peer_has_nothing();
    conn_hub_release(&fx->hub, 3);
    peer_expect("a\nb\n");
    fx->sent_pos = fx->c->out_taken;
    peer_has_nothing();
    conn_hub_release(&fx->hub, 10);
    peer_expect("c\n");
}

/* More held epochs than CONN_MARKS: the last mark takes the later epoch,
 * so its earlier bytes wait for it too, and nothing leaves early. */
static void test_marks_merge(void **state)
{
    (void)state;
    char line[16];
    for (int e = 1; e <= CONN_MARKS + 2; e++) {
        snprintf(line, sizeof(line), "e%d\n", e);
        queue(line);
        conn_hub_hold(&fx->hub, (uint64_t)e);
    }
    assert_int_equal(fx->c->nmarks, CONN_MARKS);
    assert_true(fx->c->mark_epoch[CONN_MARKS - 1] == CONN_MARKS + 2);
    conn_hub_release(&fx->hub, CONN_MARKS - 1);
    char want[64] = "";
    size_t n = 0;
    for (int e = 1; e < CONN_MARKS; e++)
        n += (size_t)snprintf(want + n, sizeof(want) - n, "e%d\n", e);
    peer_expect(want);
    fx->sent_pos = fx->c->out_taken;
    /* The merged mark: epochs CONN_MARKS .. CONN_MARKS + 1 are not enough. */
    conn_hub_release(&fx->hub, CONN_MARKS + 1);
    peer_has_nothing();
    conn_hub_release(&fx->hub, CONN_MARKS + 2);
    n = 0;
    for (int e = CONN_MARKS; e <= CONN_MARKS + 2; e++)
        n += (size_t)snprintf(want + n, sizeof(want) - n, "e%d\n", e);
    peer_expect(want);
    assert_int_equal(fx->c->nmarks, 0);
}

/* conn_hub_flush() lets out everything queued, held or not. */
static void test_flush_releases_all(void **state)
{
    (void)state;
    queue("x\n");
    conn_hub_hold(&fx->hub, 7);
    queue("y\n");
    peer_has_nothing();
    conn_hub_flush(&fx->hub);
    peer_expect("x\ny\n");
    /* The late release of the old mark sends nothing twice. */
    conn_hub_release(&fx->hub, 7);
    assert_int_equal(fx->c->nmarks, 0);
    fx->sent_pos = fx->c->out_taken;
    peer_has_nothing();
}

/* The peer resets the connection while bytes are held: it closes, the
 * release finds nothing to send and nothing breaks. */
static void test_peer_reset_while_held(void **state)
{
    (void)state;
    queue("held\n");
    conn_hub_hold(&fx->hub, 1);
    struct linger lg = {1, 0};
    setsockopt(fx->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fx->fd); /* RST */
    fx->fd = -1;
    run_until(&fx->closed, 1);
    assert_null(fx->c);
    assert_true(list_empty(&fx->hub.held));
    conn_hub_release(&fx->hub, 1);
    conn_hub_flush(&fx->hub);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
}

/* conn_close() while bytes are held: none of them leaves. */
static void test_close_while_held(void **state)
{
    (void)state;
    queue("never\n");
    conn_hub_hold(&fx->hub, 1);
    conn_close(fx->c, "test closes");
    assert_int_equal(fx->closed, 1);
    assert_true(list_empty(&fx->hub.held));
    conn_hub_release(&fx->hub, 1);
    peer_expect_eof();
}

/* conn_fail() while bytes are held: the error goes behind them and waits
 * for the next epoch too; then all leaves in order and the conn closes. */
static void test_fail_while_held(void **state)
{
    (void)state;
    struct conn *c = fx->c;
    queue("reply\n");
    conn_hub_hold(&fx->hub, 1);
    conn_fail(c, "going away");
    assert_int_equal(fx->closed, 1); /* closed() comes at once */
    peer_has_nothing();
    assert_true(c->out_taken == fx->sent_pos);
    conn_hub_release(&fx->hub, 1);
    peer_expect("reply\n");
    /* The error line was queued after the hold: it waits for the next one. */
    conn_hub_hold(&fx->hub, 2);
    conn_hub_release(&fx->hub, 2);
    struct buf want = BUF_INIT;
    msg_encode_error(&want, "going away");
    buf_addch(&want, '\0');
    peer_expect(want.data);
    buf_release(&want);
    peer_expect_eof();
}

/* A group member that is not the leader answers the hello with the error
 * line naming the leader (or none) and closes; ready() is never called. */
static void not_leader(void **state, const char *leader, const char *want)
{
    group_leader = leader;
    listen_and_hello(state, true);
    /* The error leaves at a flush, like any reply. */
    for (int spins = 0;; spins++) {
        assert_true(spins < WAIT_MS / 10);
        uv_run(&fx->loop, UV_RUN_NOWAIT);
        conn_hub_flush(&fx->hub);
        struct pollfd p = {.fd = fx->fd, .events = POLLIN};
        if (poll(&p, 1, 10) == 1)
            break;
    }
    peer_expect(want);
    peer_expect_eof();
    assert_int_equal(fx->ready, 0);
    assert_int_equal(fx->closed, 0);
}

static void test_not_leader_hint(void **state)
{
    not_leader(state, "10.1.2.3:4999",
               "{\"type\":\"error\",\"error\":\"not the leader\",\"leader\":\"10.1.2.3:4999\"}\n");
}

static void test_not_leader_unknown(void **state)
{
    not_leader(state, "", "{\"type\":\"error\",\"error\":\"not the leader\"}\n");
}

/* The leader's hook says "go on": the handshake completes as without it. */
static void test_leader_hook(void **state)
{
    group_leader = NULL;
    listen_and_hello(state, true);
    run_until(&fx->ready, 1);
    assert_true(conn_is_ready(fx->c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_held_until_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_several_epochs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marks_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_releases_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_reset_while_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_while_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_while_held, setup, teardown),
        cmocka_unit_test_teardown(test_not_leader_hint, teardown),
        cmocka_unit_test_teardown(test_not_leader_unknown, teardown),
        cmocka_unit_test_teardown(test_leader_hook, teardown),
    };
    if (auth_init() != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
