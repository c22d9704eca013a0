/* SPDX-License-Identifier: MIT */
/* Unit tests for group/transport: three real C-Raft instances (raft_uv_init,
 * each in its own directory under /tmp) on one uv loop, replicating over the
 * authenticated transport on 127.0.0.1; then peers that must not get in: a
 * fourth raft member with the wrong token that campaigns, a raw C-Raft
 * preamble, a hello in the wrong role, an endless line, a silent socket.
 * With TLS: the same group replicates (a large entry too, through the
 * pump's back-pressure), and a member whose certificate another CA signed,
 * or one without TLS, gets nowhere.
 * Waits are for events, bounded by a timer on the loop, never a sleep. */
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
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <ftw.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/buf.h"
#include "common/log.h"
#include "group/transport.h"
#include "net/tls.h"
#include "net/handshake.h"
#include "proto/msg.h"
#include "tls_test.h"

#define WAIT_MS 30000
#define TOKEN "the group's token"

struct member {
    raft_id id;
    char addr[64];
    char dir[64];
    struct raft_uv_transport t;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft raft;
    uint64_t applied, sum;
    bool up, closed;
};

static uv_loop_t loop;
static struct member members[4]; /* [3]: the intruder */
static int ports[4];
static struct tls_ctx *member_tls[4]; /* for member i+1; NULL: plain */

/* ---- the FSM: counts entries and sums their values ---- */

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct member *m = fsm->data;
    uint64_t v;
    assert_true(buf->len >= sizeof(v));
    memcpy(&v, buf->base, sizeof(v));
    /* a large entry: v then a pattern, all of it intact */
    for (size_t i = sizeof(v); i < buf->len; i++)
        if (((const unsigned char *)buf->base)[i] != (unsigned char)(i * 7))
            fail_msg("entry byte %zu of %zu is wrong", i, buf->len);
    m->applied++;
    m->sum += v;
    *result = NULL;
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
    struct member *m = fsm->data;
    *bufs = raft_malloc(sizeof(**bufs));
    (*bufs)->len = 2 * sizeof(uint64_t);
    (*bufs)->base = raft_malloc((*bufs)->len);
    memcpy((*bufs)->base, &m->applied, sizeof(uint64_t));
    memcpy((char *)(*bufs)->base + sizeof(uint64_t), &m->sum, sizeof(uint64_t));
    *n = 1;
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct member *m = fsm->data;
    memcpy(&m->applied, buf->base, sizeof(uint64_t));
    memcpy(&m->sum, (char *)buf->base + sizeof(uint64_t), sizeof(uint64_t));
    raft_free(buf->base);
    return 0;
}

/* ---- waiting on the loop ---- */

static bool timed_out;

static void on_wait_timer(uv_timer_t *t)
{
    (void)t;
    timed_out = true;
}

/* Runs the loop until pred() holds or WAIT_MS pass; returns pred(). */
static bool run_until(bool (*pred)(void))
{
    uv_timer_t timer;
    timed_out = false;
    uv_timer_init(&loop, &timer);
    uv_timer_start(&timer, on_wait_timer, WAIT_MS, 0);
    while (!pred() && !timed_out)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return pred();
}

/* A free port on 127.0.0.1 (bound and released). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* ---- members ---- */

static void member_start(struct member *m, raft_id id, const char *token, int nvoters,
                         unsigned election_ms)
{
    char err[256];
    struct raft_configuration conf;
    memset(m, 0, sizeof(*m));
    m->id = id;
    snprintf(m->addr, sizeof(m->addr), "127.0.0.1:%d", ports[id - 1]);
    snprintf(m->dir, sizeof(m->dir), "/tmp/dtr-test-raft-XXXXXX");
    assert_non_null(mkdtemp(m->dir));
    assert_int_equal(group_transport_init(&m->t, &loop, token, err, sizeof(err)), 0);
    group_transport_set_tls(&m->t, member_tls[id - 1]);
    assert_int_equal(raft_uv_init(&m->io, &loop, m->dir, &m->t), 0);
    raft_uv_set_connect_retry_delay(&m->io, 50);
    m->fsm = (struct raft_fsm){
        .version = 1,
        .data = m,
        .apply = fsm_apply,
        .snapshot = fsm_snapshot,
        .restore = fsm_restore,
    };
    assert_int_equal(raft_init(&m->raft, &m->io, &m->fsm, id, m->addr), 0);
    raft_set_election_timeout(&m->raft, election_ms);
    raft_set_heartbeat_timeout(&m->raft, election_ms / 10);
    raft_configuration_init(&conf);
    for (int i = 1; i <= nvoters; i++) {
        char a[64];
        snprintf(a, sizeof(a), "127.0.0.1:%d", ports[i - 1]);
        assert_int_equal(raft_configuration_add(&conf, (raft_id)i, a, RAFT_VOTER), 0);
    }
    assert_int_equal(raft_bootstrap(&m->raft, &conf), 0);
    raft_configuration_close(&conf);
    int rc = raft_start(&m->raft);
    if (rc != 0)
        fail_msg("raft_start: %s (%s)", raft_strerror(rc), raft_errmsg(&m->raft));
    m->up = true;
}

static void on_raft_closed(struct raft *r)
{
    for (int i = 0; i < 4; i++)
        if (&members[i].raft == r)
            members[i].closed = true;
}

static bool all_closed(void)
{
    for (int i = 0; i < 4; i++)
        if (members[i].up && !members[i].closed)
            return false;
    return true;
}

static void stop_all(void)
{
    for (int i = 0; i < 4; i++)
        if (members[i].up)
            raft_close(&members[i].raft, on_raft_closed);
    assert_true(run_until(all_closed));
    for (int i = 0; i < 4; i++) {
        struct member *m = &members[i];
        if (!m->up)
            continue;
        raft_uv_close(&m->io);
        group_transport_close(&m->t);
        nftw(m->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        m->up = false;
    }
}

static int setup(void **state)
{
    (void)state;
    log_set_level(getenv("DTR_TEST_VERBOSE") ? LOG_LVL_DEBUG
                                             : LOG_LVL_ERROR); /* the refusals this test provokes */
    memset(members, 0, sizeof(members));
    assert_int_equal(uv_loop_init(&loop), 0);
    for (int i = 0; i < 4; i++)
        ports[i] = free_port();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    stop_all();
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    return 0;
}

static struct member *leader(void)
{
    for (int i = 0; i < 3; i++)
        if (members[i].up && raft_state(&members[i].raft) == RAFT_LEADER)
            return &members[i];
    return NULL;
}

static bool have_leader(void)
{
    return leader() != NULL;
}

static uint64_t want_applied;

static bool all_applied(void)
{
    for (int i = 0; i < 3; i++)
        if (members[i].applied < want_applied)
            return false;
    return true;
}

static int apply_status = -1;

static void on_applied(struct raft_apply *req, int status, void *result)
{
    (void)result;
    apply_status = status;
    free(req);
}

/* Applies an entry of len bytes (at least 8): v, then a pattern. */
static void apply_entry(uint64_t v, size_t len)
{
    struct member *l = leader();
    assert_non_null(l);
    struct raft_buffer buf = {.len = len, .base = raft_malloc(len)};
    memcpy(buf.base, &v, sizeof(v));
    for (size_t i = sizeof(v); i < len; i++)
        ((unsigned char *)buf.base)[i] = (unsigned char)(i * 7);
    struct raft_apply *req = calloc(1, sizeof(*req));
    apply_status = -1;
    assert_int_equal(raft_apply(&l->raft, req, &buf, 1, on_applied), 0);
    want_applied++;
    assert_true(run_until(all_applied));
    assert_int_equal(apply_status, 0);
}

static void apply_value(uint64_t v)
{
    apply_entry(v, sizeof(v));
}

static void start_group(const char *token)
{
    for (raft_id id = 1; id <= 3; id++)
        member_start(&members[id - 1], id, token, 3, 1000);
    assert_true(run_until(have_leader));
    want_applied = 0;
}

/* Three members elect a leader over the transport and all apply an entry. */
static void test_three_members_replicate(void **state)
{
    (void)state;
    start_group(TOKEN);
    apply_value(42);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(members[i].applied, 1);
        assert_int_equal(members[i].sum, 42);
        assert_int_equal(group_transport_refused(&members[i].t), 0);
    }
    apply_value(8); /* and again, over the same connections */
    for (int i = 0; i < 3; i++)
        assert_int_equal(members[i].sum, 50);
}

/* Without a token on any member, the group is open (the handshake's rule). */
static void test_open_group(void **state)
{
    (void)state;
    start_group(NULL);
    apply_value(7);
    for (int i = 0; i < 3; i++)
        assert_int_equal(members[i].sum, 7);
}

/* ---- intruders ---- */

struct raw {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    const char *data;
    size_t len;
    char rbuf[4096];
    bool closed;
};

static struct raw raws[4];

static void raw_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct raw *r = h->data;
    (void)suggested;
    *b = uv_buf_init(r->rbuf, sizeof(r->rbuf));
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct raw *r = s->data;
    (void)b;
    if (n < 0) {
        r->closed = true;
        uv_read_stop(s);
    }
}

static void raw_written(uv_write_t *w, int status)
{
    (void)w;
    (void)status;
}

static void raw_connected(uv_connect_t *c, int status)
{
    struct raw *r = c->data;
    assert_int_equal(status, 0);
    if (r->len) {
        uv_buf_t b = uv_buf_init((char *)r->data, (unsigned)r->len);
        assert_int_equal(uv_write(&r->write, (uv_stream_t *)&r->tcp, &b, 1, raw_written), 0);
    }
    uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read);
}

static void raw_dial(struct raw *r, int port, const char *data, size_t len)
{
    struct sockaddr_in a;
    memset(r, 0, sizeof(*r));
    r->data = data;
    r->len = len;
    uv_ip4_addr("127.0.0.1", port, &a);
    uv_tcp_init(&loop, &r->tcp);
    r->tcp.data = r;
    r->connect.data = r;
    assert_int_equal(uv_tcp_connect(&r->connect, &r->tcp, (struct sockaddr *)&a, raw_connected), 0);
}

static raft_term rogue_term_goal;

static bool intruders_done(void)
{
    for (int i = 0; i < 4; i++)
        if (!raws[i].closed)
            return false;
    /* the rogue campaigned many times, and each member refused it */
    if (members[3].raft.current_term < rogue_term_goal)
        return false;
    for (int i = 0; i < 3; i++)
        if (group_transport_refused(&members[i].t) < 2)
            return false;
    return true;
}

/*
 * A fourth raft member with the wrong token, configured with the group's
 * three and itself, campaigns again and again (a short election timeout):
 * had one RequestVote reached a member, that member would have taken the
 * intruder's higher term. Raw sockets send a C-Raft preamble (what the stock
 * transport would take), a hello in the wrong role, a line with no end, and
 * nothing at all. All are refused; the group keeps its term and applies.
 */
static void test_intruders_refused(void **state)
{
    (void)state;
    static char preamble[4096 + 64];
    static char endless[GROUP_TRANSPORT_MAX_LINE + 100];
    static const char wrong_role[] =
        "{\"type\":\"hello\",\"proto\":3,\"role\":\"worker\",\"id\":\"4\",\"slots\":1,"
        "\"nonce\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}\n";
    start_group(TOKEN);
    apply_value(1);
    raft_term before = members[0].raft.current_term;

    /* C-Raft's own preamble: protocol 1, server id 4, address length, address. */
    uint64_t pre[3] = {1, 4, 32};
    memset(preamble, 0, sizeof(preamble));
    memcpy(preamble, pre, sizeof(pre));
    snprintf(preamble + sizeof(pre), 32, "127.0.0.1:%d", ports[3]);
    preamble[sizeof(pre) + 32] = '\n'; /* and garbage after it */
    memset(endless, 'x', sizeof(endless));

    group_transport_set_timeout(&members[0].t, 1000); /* for the silent socket */
    rogue_term_goal = before + 20;
    member_start(&members[3], 4, "not the group's token", 4, 50);
    raw_dial(&raws[0], ports[0], preamble, sizeof(pre) + 33);
    raw_dial(&raws[1], ports[1], wrong_role, strlen(wrong_role));
    raw_dial(&raws[2], ports[2], endless, sizeof(endless));
    raw_dial(&raws[3], ports[0], NULL, 0); /* silent: the handshake deadline */
    assert_true(run_until(intruders_done));

    for (int i = 0; i < 3; i++) {
        assert_true(members[i].raft.current_term < rogue_term_goal);
        assert_int_equal(members[i].applied, 1);
    }
    assert_true(group_transport_refused(&members[3].t) > 0);
    assert_int_equal(members[3].applied, 0);
    for (int i = 0; i < 4; i++)
        uv_close((uv_handle_t *)&raws[i].tcp, NULL);

    apply_value(2);
    for (int i = 0; i < 3; i++)
        assert_int_equal(members[i].sum, 3);
    assert_int_equal(members[3].applied, 0);
}

/* ---- the transport alone, against a hand-driven handshake ---- */

/* A test-side peer: net/handshake.c over a uv stream, which sends `extra`
 * in the same write as its last handshake line (as raft's first message
 * may arrive). */
struct peer {
    uv_tcp_t listener;
    uv_tcp_t tcp;
    uv_connect_t connect;
    struct handshake hs;
    struct buf in;
    struct buf out;
    const char *extra;
    bool dialer, ok, failed;
    char rbuf[512];
};

static struct peer peer;
static struct raft_uv_transport tr;
static bool tr_closed;
/* What the transport handed over. */
static uv_stream_t *handed;
static int handed_status = 1;
static raft_id handed_id;
static char handed_addr[64];
static struct buf handed_bytes;
static char handed_rbuf[512];

static void peer_fill(struct msg *hello, void *data)
{
    (void)data;
    hello->addr = (char *)"127.0.0.1:9";
}

static void peer_flush(void)
{
    if (!peer.out.len)
        return;
    uv_buf_t b = uv_buf_init(peer.out.data, (unsigned)peer.out.len);
    assert_true(uv_try_write((uv_stream_t *)&peer.tcp, &b, 1) == (int)peer.out.len);
    buf_reset(&peer.out);
}

static void peer_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)h;
    (void)suggested;
    *b = uv_buf_init(peer.rbuf, sizeof(peer.rbuf));
}

static void peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    if (n < 0) {
        uv_read_stop(s);
        return;
    }
    buf_add(&peer.in, b->base, (size_t)n);
    char *nl;
    while (!peer.ok && !peer.failed && (nl = memchr(peer.in.data, '\n', peer.in.len))) {
        size_t len = (size_t)(nl - peer.in.data);
        struct msg m;
        char err[256];
        assert_int_equal(msg_parse(peer.in.data, len, &m, err, sizeof(err)), 0);
        enum handshake_result r = handshake_input(&peer.hs, &m, peer.in.data, len, &peer.out);
        msg_release(&m);
        buf_consume(&peer.in, len + 1);
        if (r == HANDSHAKE_FAIL)
            peer.failed = true;
        if (r == HANDSHAKE_OK)
            peer.ok = true;
        /* The last line of ours: the dialer's auth after OK, the acceptor's
         * hello and auth. */
        if ((peer.dialer && r == HANDSHAKE_OK) || (!peer.dialer && peer.out.len))
            buf_addstr(&peer.out, peer.extra);
        peer_flush();
    }
}

static void peer_init(bool dialer, const char *id, const char *extra)
{
    struct handshake_config cfg = {
        .dialer = dialer,
        .role = "master",
        .id = id,
        .token = TOKEN,
        .accept_roles = HANDSHAKE_ROLE_MASTER,
        .fill_hello = peer_fill,
    };
    char nonce[AUTH_NONCE_HEX];
    memset(&peer, 0, sizeof(peer));
    auth_nonce(nonce);
    handshake_init(&peer.hs, &cfg, nonce);
    buf_init(&peer.in);
    buf_init(&peer.out);
    peer.extra = extra;
    peer.dialer = dialer;
    uv_tcp_init(&loop, &peer.tcp);
}

static void handed_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)h;
    (void)suggested;
    *b = uv_buf_init(handed_rbuf, sizeof(handed_rbuf));
}

static void handed_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    if (n < 0) {
        uv_read_stop(s);
        return;
    }
    buf_add(&handed_bytes, b->base, (size_t)n);
}

static void on_accept(struct raft_uv_transport *t, raft_id id, const char *address,
                      uv_stream_t *stream)
{
    assert_ptr_equal(t, &tr);
    handed = stream;
    handed_id = id;
    snprintf(handed_addr, sizeof(handed_addr), "%s", address);
    uv_read_start(stream, handed_alloc, handed_read);
}

static void on_connect(struct raft_uv_connect *req, uv_stream_t *stream, int status)
{
    (void)req;
    handed = stream;
    handed_status = status;
    if (stream)
        uv_read_start(stream, handed_alloc, handed_read);
}

static void on_tr_closed(struct raft_uv_transport *t)
{
    (void)t;
    tr_closed = true;
}

static bool got_extra(void)
{
    return handed_bytes.len >= strlen(peer.extra);
}

static bool tr_done(void)
{
    return tr_closed;
}

static bool connect_done(void)
{
    return handed_status != 1;
}

static void tr_setup(void)
{
    char err[256], addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ports[0]);
    assert_int_equal(group_transport_init(&tr, &loop, TOKEN, err, sizeof(err)), 0);
    assert_int_equal(tr.init(&tr, 1, addr), 0);
    tr_closed = false;
    handed = NULL;
    handed_status = 1;
    buf_init(&handed_bytes);
}

static void tr_teardown(void)
{
    if (handed)
        uv_close((uv_handle_t *)handed, (uv_close_cb)raft_free);
    uv_close((uv_handle_t *)&peer.tcp, NULL);
    tr.close(&tr, on_tr_closed);
    assert_true(run_until(tr_done));
    group_transport_close(&tr);
    handshake_release(&peer.hs);
    buf_release(&peer.in);
    buf_release(&peer.out);
    buf_release(&handed_bytes);
}

static void peer_connected(uv_connect_t *c, int status)
{
    (void)c;
    assert_int_equal(status, 0);
    handshake_start(&peer.hs, &peer.out);
    peer_flush();
    uv_read_start((uv_stream_t *)&peer.tcp, peer_alloc, peer_read);
}

/* The acceptor's side: the bytes a dialer sends right behind its last
 * handshake line reach raft's stream, with the dialer's id and address. */
static void test_accept_keeps_first_bytes(void **state)
{
    (void)state;
    struct sockaddr_in a;
    tr_setup();
    assert_int_equal(tr.listen(&tr, on_accept), 0);
    peer_init(true, "2", "raft's first message");
    uv_ip4_addr("127.0.0.1", ports[0], &a);
    assert_int_equal(
        uv_tcp_connect(&peer.connect, &peer.tcp, (struct sockaddr *)&a, peer_connected), 0);
    assert_true(run_until(got_extra));
    assert_true(peer.ok);
    assert_int_equal(handed_id, 2);
    assert_string_equal(handed_addr, "127.0.0.1:9");
    assert_int_equal(handed_bytes.len, strlen(peer.extra));
    assert_memory_equal(handed_bytes.data, peer.extra, handed_bytes.len);
    assert_int_equal(group_transport_refused(&tr), 0);
    tr_teardown();
}

static void peer_accepted(uv_stream_t *l, int status)
{
    assert_int_equal(status, 0);
    assert_int_equal(uv_accept(l, (uv_stream_t *)&peer.tcp), 0);
    uv_read_start((uv_stream_t *)&peer.tcp, peer_alloc, peer_read);
}

static void peer_listen(void)
{
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", ports[1], &a);
    uv_tcp_init(&loop, &peer.listener);
    assert_int_equal(uv_tcp_bind(&peer.listener, (struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&peer.listener, 8, peer_accepted), 0);
}

/* The dialer's side: bytes right behind the acceptor's last line stay on
 * the stream raft gets; and a member that answers with another raft id than
 * the one dialed is refused. */
static void test_connect_keeps_first_bytes(void **state)
{
    (void)state;
    static struct raft_uv_connect req;
    char addr[64];
    tr_setup();
    peer_init(false, "2", "bytes behind the acceptor's proof");
    peer_listen();
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ports[1]);
    assert_int_equal(tr.connect(&tr, &req, 2, addr, on_connect), 0);
    assert_true(run_until(connect_done));
    assert_int_equal(handed_status, 0);
    assert_true(run_until(got_extra));
    assert_memory_equal(handed_bytes.data, peer.extra, strlen(peer.extra));
    uv_close((uv_handle_t *)&peer.listener, NULL);
    tr_teardown();
}

static void test_connect_wrong_member(void **state)
{
    (void)state;
    static struct raft_uv_connect req;
    char addr[64];
    tr_setup();
    peer_init(false, "3", "");
    peer_listen();
    /* An address that does not parse fails at once, without the callback. */
    assert_int_equal(tr.connect(&tr, &req, 2, "no port", on_connect), RAFT_NOCONNECTION);
    assert_int_equal(handed_status, 1);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ports[1]);
    assert_int_equal(tr.connect(&tr, &req, 2, addr, on_connect), 0);
    assert_true(run_until(connect_done));
    assert_int_equal(handed_status, RAFT_NOCONNECTION);
    assert_null(handed);
    assert_int_equal(group_transport_refused(&tr), 1);
    uv_close((uv_handle_t *)&peer.listener, NULL);
    tr_teardown();
}

/* close() with a handshake in progress: the connect request is cancelled
 * and the close callback still comes. */
static void test_close_cancels_pending(void **state)
{
    (void)state;
    static struct raft_uv_connect req;
    char addr[64];
    tr_setup();
    peer_init(false, "2", "");
    peer_listen();
    peer.failed = true; /* the peer never answers */
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ports[1]);
    assert_int_equal(tr.connect(&tr, &req, 2, addr, on_connect), 0);
    uv_run(&loop, UV_RUN_NOWAIT);
    tr.close(&tr, on_tr_closed);
    assert_true(run_until(tr_done));
    assert_int_equal(handed_status, RAFT_CANCELED);
    assert_null(handed);
    uv_close((uv_handle_t *)&peer.listener, NULL);
    uv_close((uv_handle_t *)&peer.tcp, NULL);
    group_transport_close(&tr);
    handshake_release(&peer.hs);
    buf_release(&peer.in);
    buf_release(&peer.out);
}

/* More silent connections than GROUP_TRANSPORT_MAX_PENDING: the oldest are
 * dropped (long before the handshake deadline), so that a member's dial
 * still gets in. */
static struct raw crowd[GROUP_TRANSPORT_MAX_PENDING + 6];

static bool crowd_evicted(void)
{
    int closed = 0;
    for (size_t i = 0; i < sizeof(crowd) / sizeof(crowd[0]); i++)
        closed += crowd[i].closed;
    return closed >= 6 && group_transport_refused(&tr) >= 6;
}

static void test_pending_capped(void **state)
{
    (void)state;
    int n = (int)(sizeof(crowd) / sizeof(crowd[0]));
    tr_setup();
    peer_init(true, "2", "");
    group_transport_set_timeout(&tr, 600000); /* only the cap closes them */
    assert_int_equal(tr.listen(&tr, on_accept), 0);
    for (int i = 0; i < n; i++)
        raw_dial(&crowd[i], ports[0], NULL, 0);
    assert_true(run_until(crowd_evicted));
    for (int i = 0; i < n; i++)
        uv_close((uv_handle_t *)&crowd[i].tcp, NULL);
    tr_teardown();
}

/* ---- TLS ---- */

static char tlsdir[] = "/tmp/dtr-test-gtls-XXXXXX";

static const char *tls_path(const char *name)
{
    static char bufs[4][128];
    static int next;
    char *p = bufs[next++ % 4];
    snprintf(p, 128, "%s/%s", tlsdir, name);
    return p;
}

static const char *const tls_files[] = {"ca.pem",    "ca.key",    "node.pem",  "node.key",
                                        "other.pem", "other.key", "rogue.pem", "rogue.key"};

/* Members 1-3 get a certificate the group's CA signed; member 4 gets the
 * rogue one when rogue, else none. */
static int setup_tls(void **state)
{
    char err[256];
    if (!mkdtemp(tlsdir))
        return -1;
    write_test_pairs(tlsdir);
    struct tls_ctx *t;
    assert_int_equal(tls_ctx_new(tls_path("node.pem"), tls_path("node.key"), tls_path("ca.pem"), &t,
                                 err, sizeof(err)),
                     0);
    member_tls[0] = member_tls[1] = member_tls[2] = t;
    assert_int_equal(tls_ctx_new(tls_path("rogue.pem"), tls_path("rogue.key"),
                                 tls_path("other.pem"), &member_tls[3], err, sizeof(err)),
                     0);
    return setup(state);
}

static int teardown_tls(void **state)
{
    int rc = teardown(state);
    tls_ctx_free(member_tls[0]);
    tls_ctx_free(member_tls[3]);
    memset(member_tls, 0, sizeof(member_tls));
    for (size_t i = 0; i < sizeof(tls_files) / sizeof(tls_files[0]); i++)
        unlink(tls_path(tls_files[i]));
    rmdir(tlsdir);
    memcpy(tlsdir + strlen(tlsdir) - 6, "XXXXXX", 6);
    return rc;
}

static bool member4_refused(void)
{
    if (group_transport_refused(&members[3].t) < 2)
        return false;
    for (int i = 0; i < 3; i++)
        if (group_transport_refused(&members[i].t) < 1)
            return false;
    return true;
}

/* The group replicates inside TLS: small entries, and entries far larger
 * than the pump's bound (so both of its directions pause and resume). */
static void test_tls_replicates(void **state)
{
    (void)state;
    start_group(TOKEN);
    apply_value(42);
    /* a bound far below an entry: the pumps pause and resume all along */
    uint64_t pauses = 0;
    for (int i = 0; i < 3; i++)
        group_transport_set_pump_limit(&members[i].t, 4096);
    apply_entry(8, 3u << 20);
    apply_entry(50, 1u << 20);
    apply_value(0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(members[i].applied, 4);
        assert_int_equal(members[i].sum, 100);
        assert_int_equal(group_transport_refused(&members[i].t), 0);
        pauses += group_transport_pauses(&members[i].t);
    }
    assert_true(pauses > 0);
}

/* A member whose certificate another CA signed campaigns: every TLS
 * handshake fails both ways, and it never gets an entry. */
static void test_tls_rogue_refused(void **state)
{
    (void)state;
    start_group(TOKEN);
    apply_value(1);
    member_start(&members[3], 4, TOKEN, 4, 50);
    assert_true(run_until(member4_refused));
    apply_value(2);
    for (int i = 0; i < 3; i++)
        assert_int_equal(members[i].sum, 3);
    assert_int_equal(members[3].applied, 0);
}

/* A member without TLS beside TLS ones: refused both ways. */
static void test_tls_plain_refused(void **state)
{
    (void)state;
    tls_ctx_free(member_tls[3]);
    member_tls[3] = NULL;
    start_group(TOKEN);
    apply_value(1);
    member_start(&members[3], 4, TOKEN, 4, 50);
    assert_true(run_until(member4_refused));
    apply_value(2);
    for (int i = 0; i < 3; i++)
        assert_int_equal(members[i].sum, 3);
    assert_int_equal(members[3].applied, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_three_members_replicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_intruders_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accept_keeps_first_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_keeps_first_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_wrong_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_cancels_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_replicates, setup_tls, teardown_tls),
        cmocka_unit_test_setup_teardown(test_tls_rogue_refused, setup_tls, teardown_tls),
        cmocka_unit_test_setup_teardown(test_tls_plain_refused, setup_tls, teardown_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
