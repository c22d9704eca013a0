/* SPDX-License-Identifier: MIT */
/* Unit tests for net/handshake: two machines talk through memory, no
 * sockets. Every row of the token table, the refusals of protocol.md section
 * 3 with their texts (relayed and reflected nonces and proofs, a proof moved
 * to another transcript or channel, an error line, a first line that is not
 * a hello, another protocol version, a wrong role, a probe's dialed port). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/auth.h"
#include "common/buf.h"
#include "net/handshake.h"
#include "proto/msg.h"

#define NONCE_D "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define NONCE_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define NONCE_X "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* A worker dialing a master (the nodes' usual pair). */
static void fill_worker(struct msg *h, void *data)
{
    h->addr = data;
    h->slots = 2;
}

static void dialer_init(struct handshake *h, const char *token, const char *nonce)
{
    struct handshake_config cfg = {
        .dialer = true,
        .role = "worker",
        .id = "w1",
        .token = token,
        .accept_roles = HANDSHAKE_ROLE_MASTER,
        .fill_hello = fill_worker,
        .fill_data = (void *)"127.0.0.1:5000",
    };
    handshake_init(h, &cfg, nonce);
}

static const char *others_nonce; /* "another open handshake" of the acceptor */

static bool other_nonce(const char *nonce, void *data)
{
    (void)data;
    return others_nonce && !strcmp(nonce, others_nonce);
}

static void acceptor_init(struct handshake *h, const char *token, const char *nonce)
{
    struct handshake_config cfg = {
        .dialer = false,
        .role = "master",
        .id = "m1",
        .token = token,
        .accept_roles = HANDSHAKE_ROLE_WORKER | HANDSHAKE_ROLE_CLIENT,
        .own_nonce = other_nonce,
    };
    handshake_init(h, &cfg, nonce);
}

/* Feeds every line of `in` to h, one by one, appending h's answers to out.
 * Returns the last answer (WAIT when `in` is empty). */
static enum handshake_result feed(struct handshake *h, struct buf *in, struct buf *out)
{
    enum handshake_result r = HANDSHAKE_WAIT;
    size_t off = 0;
    while (off < in->len) {
        char *nl = memchr(in->data + off, '\n', in->len - off);
        assert_non_null(nl);
        size_t len = (size_t)(nl - (in->data + off));
        struct msg m;
        char err[256];
        assert_int_equal(msg_parse(in->data + off, len, &m, err, sizeof(err)), 0);
        r = handshake_input(h, &m, in->data + off, len, out);
        msg_release(&m);
        off += len + 1;
        if (r != HANDSHAKE_WAIT)
            break;
    }
    buf_reset(in);
    return r;
}

/* Runs a whole handshake; returns which side ended first and how. */
struct run {
    enum handshake_result d, a;
};

static struct run run(struct handshake *d, struct handshake *a)
{
    struct buf to_a = BUF_INIT, to_d = BUF_INIT;
    struct run r = {HANDSHAKE_WAIT, HANDSHAKE_WAIT};
    handshake_start(d, &to_a);
    for (int i = 0; i < 4 && (to_a.len || to_d.len); i++) {
        if (to_a.len && r.a == HANDSHAKE_WAIT)
            r.a = feed(a, &to_a, &to_d);
        buf_reset(&to_a);
        if (r.a == HANDSHAKE_FAIL)
            break;
        if (to_d.len && r.d == HANDSHAKE_WAIT)
            r.d = feed(d, &to_d, &to_a);
        buf_reset(&to_d);
        if (r.d == HANDSHAKE_FAIL)
            break;
    }
    buf_release(&to_a);
    buf_release(&to_d);
    return r;
}

static void line_of(struct buf *b, const struct msg *m)
{
    buf_reset(b);
    msg_encode(b, m);
}

static void hello_msg(struct msg *m, const char *role, const char *nonce, bool auth)
{
    memset(m, 0, sizeof(*m));
    m->type = MSG_HELLO;
    m->proto = PROTO_VERSION;
    m->role = (char *)role;
    m->id = (char *)"peer";
    m->nonce = (char *)nonce;
    m->auth = auth;
    if (!strcmp(role, "worker")) {
        m->slots = 1;
        m->addr = (char *)"127.0.0.1:5000";
    }
}

/* ---- the token table ------------------------------------------------------ */

static void test_open(void **state)
{
    (void)state;
    struct handshake d, a;
    dialer_init(&d, NULL, NONCE_D);
    acceptor_init(&a, NULL, NONCE_A);
    struct run r = run(&d, &a);
    assert_int_equal(r.a, HANDSHAKE_OK);
    assert_int_equal(r.d, HANDSHAKE_OK);
    assert_string_equal(a.peer_hello.role, "worker");
    assert_string_equal(a.peer_hello.addr, "127.0.0.1:5000");
    assert_string_equal(d.peer_hello.role, "master");
    assert_string_equal(a.peer_role, "worker");
    assert_string_equal(d.peer_role, "master");
    handshake_release(&d);
    handshake_release(&a);
}

static void test_both_tokens(void **state)
{
    (void)state;
    struct handshake d, a;
    dialer_init(&d, "s3cret", NONCE_D);
    acceptor_init(&a, "s3cret", NONCE_A);
    struct run r = run(&d, &a);
    assert_int_equal(r.d, HANDSHAKE_OK);
    assert_int_equal(r.a, HANDSHAKE_OK);
    assert_int_equal(d.step, HANDSHAKE_DONE);
    assert_int_equal(a.step, HANDSHAKE_DONE);
    assert_string_equal(a.peer_hello.id, "w1");
    handshake_release(&d);
    handshake_release(&a);
}

/* Dialer without a token, acceptor with one: the acceptor refuses. */
static void test_acceptor_requires_token(void **state)
{
    (void)state;
    struct handshake d, a;
    dialer_init(&d, NULL, NONCE_D);
    acceptor_init(&a, "s3cret", NONCE_A);
    struct run r = run(&d, &a);
    assert_int_equal(r.a, HANDSHAKE_FAIL);
    assert_int_equal(a.error_code, HANDSHAKE_ERR_PEER_HAS_NO_TOKEN);
    assert_true(a.auth);
    assert_string_equal(a.event, "authentication failed");
    assert_string_equal(a.error, "authentication failed: this master requires a token "
                                 "(--token-file or DTR_TOKEN)");
    handshake_release(&d);
    handshake_release(&a);
}

/* Row "none | auth:true": the dialer has no token, the acceptor's hello says
 * it has one. */
static void test_dialer_lacks_token(void **state)
{
    (void)state;
    struct handshake d;
    struct buf b = BUF_INIT, out = BUF_INIT;
    struct msg m;
    dialer_init(&d, NULL, NONCE_D);
    handshake_start(&d, &out);
    buf_reset(&out);
    hello_msg(&m, "master", NONCE_A, true);
    line_of(&b, &m);
    assert_int_equal(feed(&d, &b, &out), HANDSHAKE_FAIL);
    assert_int_equal(out.len, 0);
    assert_int_equal(d.error_code, HANDSHAKE_ERR_PEER_WANTS_TOKEN);
    assert_string_equal(d.event, "peer requires a token we do not have");
    assert_string_equal(d.error, "authentication failed: the master requires a token "
                                 "(--token-file or DTR_TOKEN)");
    buf_release(&b);
    buf_release(&out);
    handshake_release(&d);
}

/* Row "set | no auth": an acceptor without a token answers; the dialer
 * with one hangs up in its own words. */
static void test_acceptor_lacks_token(void **state)
{
    (void)state;
    struct handshake d, a;
    dialer_init(&d, "s3cret", NONCE_D);
    acceptor_init(&a, NULL, NONCE_A);
    struct run r = run(&d, &a);
    assert_int_equal(r.a, HANDSHAKE_OK);
    assert_int_equal(r.d, HANDSHAKE_FAIL);
    assert_int_equal(d.error_code, HANDSHAKE_ERR_PEER_HAS_NO_TOKEN);
    assert_string_equal(d.event, "peer did not prove the token");
    assert_string_equal(d.error, "authentication failed: this worker has a token but the "
                                 "master did not prove it knows it");
    handshake_release(&d);
    handshake_release(&a);
}

/* Row "set | auth:true" with another token: the dialer checks first. */
static void test_different_tokens(void **state)
{
    (void)state;
    struct handshake d, a;
    dialer_init(&d, "one", NONCE_D);
    acceptor_init(&a, "two", NONCE_A);
    struct run r = run(&d, &a);
    assert_int_equal(r.d, HANDSHAKE_FAIL);
    assert_int_equal(d.error_code, HANDSHAKE_ERR_PROOF);
    assert_true(d.auth);
    assert_string_equal(d.event, "peer proved a different token");
    assert_string_equal(d.error, "authentication failed: the master does not know our token");
    assert_int_equal(a.step, HANDSHAKE_AUTH); /* still waiting */
    handshake_release(&d);
    handshake_release(&a);
}

/* ---- proofs ----------------------------------------------------------------- */

/* Brings an acceptor with a token to the point where it waits for the
 * dialer's proof; returns what it sent (its hello and auth lines). */
static void acceptor_waiting(struct handshake *a, struct handshake *d, struct buf *sent)
{
    struct buf to_a = BUF_INIT;
    dialer_init(d, "s3cret", NONCE_D);
    acceptor_init(a, "s3cret", NONCE_A);
    handshake_start(d, &to_a);
    assert_int_equal(feed(a, &to_a, sent), HANDSHAKE_WAIT);
    assert_int_equal(a->step, HANDSHAKE_AUTH);
    buf_release(&to_a);
}

static void test_wrong_proof(void **state)
{
    (void)state;
    struct handshake d, a;
    struct buf sent = BUF_INIT, b = BUF_INIT, out = BUF_INIT;
    struct msg m;
    acceptor_waiting(&a, &d, &sent);
    memset(&m, 0, sizeof(m));
    m.type = MSG_AUTH;
    m.proof = (char *)NONCE_X; /* 64 hex digits, but no proof */
    line_of(&b, &m);
    assert_int_equal(feed(&a, &b, &out), HANDSHAKE_FAIL);
    assert_int_equal(a.error_code, HANDSHAKE_ERR_PROOF);
    assert_string_equal(a.event, "authentication failed");
    assert_string_equal(a.error, "authentication failed: wrong or missing token");
    assert_int_equal(out.len, 0);
    buf_release(&sent);
    buf_release(&b);
    buf_release(&out);
    handshake_release(&d);
    handshake_release(&a);
}

/* Any other message in place of the proof is refused the same way. */
static void test_missing_proof(void **state)
{
    (void)state;
    struct handshake d, a;
    struct buf sent = BUF_INIT, b = BUF_INIT, out = BUF_INIT;
    struct msg m;
    acceptor_waiting(&a, &d, &sent);
    memset(&m, 0, sizeof(m));
    m.type = MSG_PING;
    line_of(&b, &m);
    assert_int_equal(feed(&a, &b, &out), HANDSHAKE_FAIL);
    assert_string_equal(a.error, "authentication failed: wrong or missing token");
    buf_release(&sent);
    buf_release(&b);
    buf_release(&out);
    handshake_release(&d);
    handshake_release(&a);
}

/* The acceptor's own proof sent back to it does not verify: the side is in it. */
static void test_reflected_proof(void **state)
{
    (void)state;
    struct handshake d, a;
    struct buf sent = BUF_INIT, out = BUF_INIT;
    acceptor_waiting(&a, &d, &sent);
    /* sent = acceptor's hello line, then its auth line: reflect the auth. */
    char *nl = memchr(sent.data, '\n', sent.len);
    assert_non_null(nl);
    buf_consume(&sent, (size_t)(nl - sent.data) + 1);
    assert_non_null(strstr(sent.data, "\"auth\""));
    assert_int_equal(feed(&a, &sent, &out), HANDSHAKE_FAIL);
    assert_int_equal(a.error_code, HANDSHAKE_ERR_PROOF);
    buf_release(&sent);
    buf_release(&out);
    handshake_release(&d);
    handshake_release(&a);
}

/* A proof made over one transcript fails over another: the dialer's proof
 * from one connection, shown to an acceptor on a second connection. */
static void test_proof_bound_to_transcript(void **state)
{
    (void)state;
    struct handshake d1, a1, d2, a2;
    struct buf to_a = BUF_INIT, to_d = BUF_INIT, sent2 = BUF_INIT, out = BUF_INIT;
    /* Connection 1 runs to the dialer's proof. */
    acceptor_waiting(&a1, &d1, &to_d);
    assert_int_equal(feed(&d1, &to_d, &to_a), HANDSHAKE_OK);
    assert_non_null(strstr(to_a.data, "\"auth\""));
    /* Connection 2, another dialer nonce: the same proof is refused. */
    dialer_init(&d2, "s3cret", NONCE_X);
    acceptor_init(&a2, "s3cret", NONCE_A);
    handshake_start(&d2, &sent2);
    assert_int_equal(feed(&a2, &sent2, &out), HANDSHAKE_WAIT);
    buf_reset(&out);
    assert_int_equal(feed(&a2, &to_a, &out), HANDSHAKE_FAIL);
    assert_int_equal(a2.error_code, HANDSHAKE_ERR_PROOF);
    buf_release(&to_a);
    buf_release(&to_d);
    buf_release(&sent2);
    buf_release(&out);
    handshake_release(&d1);
    handshake_release(&a1);
    handshake_release(&d2);
    handshake_release(&a2);
}

/* The TLS channel is in the proof: two ends that see different sessions
 * (a relay between two TLS connections) do not authenticate. */
static void test_proof_bound_to_channel(void **state)
{
    (void)state;
    struct handshake d, a;
    unsigned char c1[AUTH_HASH_BYTES], c2[AUTH_HASH_BYTES];
    memset(c1, 1, sizeof(c1));
    memset(c2, 2, sizeof(c2));
    dialer_init(&d, "s3cret", NONCE_D);
    acceptor_init(&a, "s3cret", NONCE_A);
    handshake_set_channel(&d, c1);
    handshake_set_channel(&a, c2);
    struct run r = run(&d, &a);
    assert_int_equal(r.d, HANDSHAKE_FAIL);
    assert_int_equal(d.error_code, HANDSHAKE_ERR_PROOF);
    handshake_release(&d);
    handshake_release(&a);
    /* The same session on both ends: fine. */
    dialer_init(&d, "s3cret", NONCE_D);
    acceptor_init(&a, "s3cret", NONCE_A);
    handshake_set_channel(&d, c1);
    handshake_set_channel(&a, c1);
    r = run(&d, &a);
    assert_int_equal(r.d, HANDSHAKE_OK);
    assert_int_equal(r.a, HANDSHAKE_OK);
    handshake_release(&d);
    handshake_release(&a);
}

/* ---- the tls-server-end-point binding ---------------------------------------- */

/* A client (Python's) dialing over TLS, bound to the server's certificate:
 * `cert` is the hash of the certificate it was shown. */
static void client_init(struct handshake *h, const char *token, unsigned char fill)
{
    struct handshake_config cfg = {
        .dialer = true,
        .role = "client",
        .id = "client-1",
        .token = token,
        .accept_roles = HANDSHAKE_ROLE_MASTER,
        .end_point_binding = true,
    };
    unsigned char cert[AUTH_HASH_BYTES];
    memset(cert, fill, sizeof(cert));
    handshake_init(h, &cfg, NONCE_D);
    handshake_set_end_point(h, cert);
}

/* A master over TLS: its session's exporter value, and its certificate. */
static void tls_acceptor_init(struct handshake *h, const char *token, unsigned char exporter,
                              unsigned char cert)
{
    unsigned char c[AUTH_HASH_BYTES];
    acceptor_init(h, token, NONCE_A);
    memset(c, exporter, sizeof(c));
    handshake_set_channel(h, c);
    memset(c, cert, sizeof(c));
    handshake_set_end_point(h, c);
}

/* The client declares the binding in its hello and both ends bind to the
 * master's certificate: they authenticate, whatever the exporter. */
static void test_end_point_binding(void **state)
{
    (void)state;
    struct handshake d, a;
    struct buf out = BUF_INIT;
    client_init(&d, "s3cret", 7);
    handshake_start(&d, &out);
    assert_non_null(strstr(out.data, "\"binding\":\"tls-server-end-point\""));
    buf_release(&out);
    handshake_release(&d);
    client_init(&d, "s3cret", 7);
    tls_acceptor_init(&a, "s3cret", 1, 7);
    struct run r = run(&d, &a);
    assert_int_equal(r.d, HANDSHAKE_OK);
    assert_int_equal(r.a, HANDSHAKE_OK);
    handshake_release(&d);
    handshake_release(&a);
    /* Without a token there are no proofs; the binding is still checked. */
    client_init(&d, NULL, 7);
    tls_acceptor_init(&a, NULL, 1, 7);
    r = run(&d, &a);
    assert_int_equal(r.d, HANDSHAKE_OK);
    assert_int_equal(r.a, HANDSHAKE_OK);
    handshake_release(&d);
    handshake_release(&a);
}

/* A relay between two TLS sessions shows the client its own certificate
 * (it cannot show the master's without the master's key): the master's
 * proof, bound to its certificate, fails at the client, which never proves. */
static void test_end_point_relay(void **state)
{
    (void)state;
    struct handshake d, a;
    client_init(&d, "s3cret", 9); /* the relay's certificate */
    tls_acceptor_init(&a, "s3cret", 1, 7);
    struct run r = run(&d, &a);
    assert_int_equal(r.d, HANDSHAKE_FAIL);
    assert_int_equal(d.error_code, HANDSHAKE_ERR_PROOF);
    assert_int_equal(r.a, HANDSHAKE_WAIT); /* still waiting for a proof it never gets */
    handshake_release(&d);
    handshake_release(&a);
    /* Stripping the binding from the client's hello (so that the master
     * uses its exporter) changes the hello both proofs cover. */
    struct buf to_a = BUF_INIT, to_d = BUF_INIT, b = BUF_INIT;
    client_init(&d, "s3cret", 7);
    tls_acceptor_init(&a, "s3cret", 1, 7);
    handshake_start(&d, &b);
    struct msg m;
    char err[256];
    assert_int_equal(msg_parse(b.data, b.len - 1, &m, err, sizeof(err)), 0);
    free(m.binding);
    m.binding = NULL;
    line_of(&to_a, &m);
    msg_release(&m);
    assert_int_equal(feed(&a, &to_a, &to_d), HANDSHAKE_WAIT);
    assert_int_equal(feed(&d, &to_d, &to_a), HANDSHAKE_FAIL);
    assert_int_equal(d.error_code, HANDSHAKE_ERR_PROOF);
    buf_release(&to_a);
    buf_release(&to_d);
    buf_release(&b);
    handshake_release(&d);
    handshake_release(&a);
}

/* Only a client, only that binding, only over TLS. */
static void test_end_point_refusals(void **state)
{
    (void)state;
    struct handshake a;
    struct buf b = BUF_INIT, out = BUF_INIT;
    struct msg m;
    static const struct {
        const char *role, *binding;
        bool tls;
        const char *error;
    } cases[] = {
        {"client", "tls-server-end-point", false, "channel binding tls-server-end-point needs TLS"},
        {"client", "tls-unique", true,
         "channel binding 'tls-unique' is not supported (this node knows tls-server-end-point)"},
        {"worker", "tls-server-end-point", true,
         "a worker may not choose the channel binding (clients only)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].tls)
            tls_acceptor_init(&a, "s3cret", 1, 7);
        else
            acceptor_init(&a, "s3cret", NONCE_A);
        hello_msg(&m, cases[i].role, NONCE_D, true);
        m.binding = (char *)cases[i].binding;
        line_of(&b, &m);
        assert_int_equal(feed(&a, &b, &out), HANDSHAKE_FAIL);
        assert_int_equal(a.error_code, HANDSHAKE_ERR_BINDING);
        assert_string_equal(a.error, cases[i].error);
        assert_int_equal(out.len, 0);
        handshake_release(&a);
    }
    buf_release(&b);
    buf_release(&out);
}

/* ---- refusals of the hello --------------------------------------------------- */

/* Feeds one message to a fresh acceptor (or dialer) and expects a refusal. */
static struct handshake refused(bool dialer, const struct msg *m, enum handshake_error code)
{
    struct handshake h;
    struct buf b = BUF_INIT, out = BUF_INIT;
    if (dialer) {
        dialer_init(&h, NULL, NONCE_D);
        handshake_start(&h, &out);
        buf_reset(&out);
    } else {
        acceptor_init(&h, NULL, NONCE_A);
    }
    line_of(&b, m);
    assert_int_equal(feed(&h, &b, &out), HANDSHAKE_FAIL);
    assert_int_equal(h.error_code, code);
    assert_int_equal(h.step, HANDSHAKE_FAILED);
    assert_int_equal(out.len, 0);
    buf_release(&b);
    buf_release(&out);
    return h;
}

static void test_relayed_nonce(void **state)
{
    (void)state;
    struct msg m;
    /* The acceptor's own nonce on this handshake. */
    hello_msg(&m, "client", NONCE_A, false);
    struct handshake h = refused(false, &m, HANDSHAKE_ERR_RELAY);
    assert_true(h.auth);
    assert_string_equal(h.event, "refused a relayed handshake (the peer sent a nonce of our own)");
    assert_string_equal(h.error, "authentication failed: the peer relays another handshake of "
                                 "this master");
    /* Another open handshake's nonce, the hub's walk (case does not matter). */
    others_nonce = NONCE_X;
    hello_msg(&m, "client", NONCE_X, false);
    refused(false, &m, HANDSHAKE_ERR_RELAY);
    others_nonce = NULL;
    /* A dialer meeting its own nonce. */
    hello_msg(&m, "master", "DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD",
              false);
    h = refused(true, &m, HANDSHAKE_ERR_RELAY);
    assert_string_equal(h.error, "authentication failed: the peer relays another handshake of "
                                 "this worker");
}

static void test_error_line(void **state)
{
    (void)state;
    struct msg m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_ERROR;
    m.error = (char *)"a master does not accept connections from a master";
    struct handshake h = refused(true, &m, HANDSHAKE_ERR_PEER);
    assert_string_equal(h.error, m.error);
    assert_string_equal(h.event, "peer refused the connection");
    assert_false(h.auth);
    m.error = (char *)"authentication failed: wrong or missing token";
    h = refused(false, &m, HANDSHAKE_ERR_PEER);
    assert_true(h.auth);
}

/* An error in place of the acceptor's proof: the dialer closes with it. */
static void test_error_line_for_proof(void **state)
{
    (void)state;
    struct handshake d;
    struct buf b = BUF_INIT, out = BUF_INIT;
    struct msg m;
    dialer_init(&d, "s3cret", NONCE_D);
    handshake_start(&d, &out);
    hello_msg(&m, "master", NONCE_A, true);
    line_of(&b, &m);
    assert_int_equal(feed(&d, &b, &out), HANDSHAKE_WAIT);
    assert_int_equal(d.step, HANDSHAKE_AUTH);
    memset(&m, 0, sizeof(m));
    m.type = MSG_ERROR;
    m.error = (char *)"too many connections (limit 1)";
    line_of(&b, &m);
    assert_int_equal(feed(&d, &b, &out), HANDSHAKE_FAIL);
    assert_int_equal(d.error_code, HANDSHAKE_ERR_PEER);
    assert_string_equal(d.error, "too many connections (limit 1)");
    buf_release(&b);
    buf_release(&out);
    handshake_release(&d);
}

/* ---- a master group's "not the leader" (protocol.md, section 3) ------------ */

static const char *group_leader; /* what the hook names; NULL: we lead */
static char hook_role[16];

static bool not_leader_hook(void *data, const char *peer_role, char *leader, size_t len)
{
    assert_string_equal(data, "owner");
    snprintf(hook_role, sizeof(hook_role), "%s", peer_role);
    if (!group_leader)
        return false;
    snprintf(leader, len, "%s", group_leader);
    return true;
}

static void group_acceptor_init(struct handshake *h, const char *token)
{
    struct handshake_config cfg = {
        .dialer = false,
        .role = "master",
        .id = "m2",
        .token = token,
        .accept_roles = HANDSHAKE_ROLE_WORKER | HANDSHAKE_ROLE_CLIENT,
        .not_leader = not_leader_hook,
        .not_leader_data = (void *)"owner",
    };
    handshake_init(h, &cfg, NONCE_A);
}

/* The acceptor refuses at the hello (before the token rule), sends nothing
 * itself, and the line the driver sends makes the dialer fail with the hint. */
static void redirect(const char *leader, const char *want_line, const char *want_hint)
{
    struct handshake d, a;
    struct buf to_a = BUF_INIT, to_d = BUF_INIT;
    group_leader = leader;
    dialer_init(&d, "s3cret", NONCE_D);
    group_acceptor_init(&a, "s3cret");
    handshake_start(&d, &to_a);
    assert_int_equal(feed(&a, &to_a, &to_d), HANDSHAKE_FAIL);
    assert_int_equal(a.error_code, HANDSHAKE_ERR_NOT_LEADER);
    assert_int_equal(to_d.len, 0);
    assert_string_equal(a.error, "not the leader");
    assert_false(a.auth);
    assert_string_equal(hook_role, "worker");
    assert_string_equal(a.leader, want_hint);
    msg_encode_not_leader(&to_d, a.leader);
    assert_int_equal(to_d.len, strlen(want_line));
    assert_memory_equal(to_d.data, want_line, to_d.len);
    assert_int_equal(feed(&d, &to_d, &to_a), HANDSHAKE_FAIL);
    assert_int_equal(d.error_code, HANDSHAKE_ERR_NOT_LEADER);
    assert_string_equal(d.leader, want_hint);
    assert_false(d.auth);
    assert_int_equal(to_a.len, 0);
    buf_release(&to_a);
    buf_release(&to_d);
    handshake_release(&d);
    handshake_release(&a);
}

static void test_not_leader_with_hint(void **state)
{
    (void)state;
    redirect("10.0.0.2:4999",
             "{\"type\":\"error\",\"error\":\"not the leader\",\"leader\":\"10.0.0.2:4999\"}\n",
             "10.0.0.2:4999");
    redirect("[::1]:4999",
             "{\"type\":\"error\",\"error\":\"not the leader\",\"leader\":\"[::1]:4999\"}\n",
             "[::1]:4999");
}

static void test_not_leader_no_hint(void **state)
{
    (void)state;
    redirect("", "{\"type\":\"error\",\"error\":\"not the leader\"}\n", "");
    /* A hook that names something that is not HOST:PORT: no hint is sent. */
    redirect("not an address", "{\"type\":\"error\",\"error\":\"not the leader\"}\n", "");
}

/* The leader answers the hook "go on": the handshake completes as ever. */
static void test_leader_completes(void **state)
{
    (void)state;
    struct handshake d, a;
    group_leader = NULL;
    dialer_init(&d, "s3cret", NONCE_D);
    group_acceptor_init(&a, "s3cret");
    struct run r = run(&d, &a);
    assert_int_equal(r.a, HANDSHAKE_OK);
    assert_int_equal(r.d, HANDSHAKE_OK);
    handshake_release(&d);
    handshake_release(&a);
}

/* The hook is asked only for a well-formed hello of a role we accept. */
static void test_not_leader_after_checks(void **state)
{
    (void)state;
    struct handshake a;
    struct buf b = BUF_INIT, out = BUF_INIT;
    struct msg m;
    group_leader = "10.0.0.2:4999";
    hook_role[0] = '\0';
    group_acceptor_init(&a, NULL);
    hello_msg(&m, "master", NONCE_X, false);
    line_of(&b, &m);
    assert_int_equal(feed(&a, &b, &out), HANDSHAKE_FAIL);
    assert_int_equal(a.error_code, HANDSHAKE_ERR_ROLE);
    assert_string_equal(hook_role, "");
    buf_release(&b);
    buf_release(&out);
    handshake_release(&a);
}

/* What a dialer makes of "not the leader" lines, hostile ones included:
 * msg_parse() refuses a leader that is not a bounded HOST:PORT string. */
static void test_not_leader_lines(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        int parses;
        const char *hint; /* with parses: what the dialer keeps */
    } cases[] = {
        {"{\"type\":\"error\",\"error\":\"not the leader\",\"leader\":\"h:1\"}", 1, "h:1"},
        {"{\"type\":\"error\",\"error\":\"not the leader\"}", 1, ""},
        {"{\"type\":\"error\",\"error\":\"not the leader\",\"leader\":\"h\"}", 0, NULL},
        {"{\"type\":\"error\",\"error\":\"not the leader\",\"leader\":\"h:0\"}", 0, NULL},
        {"{\"type\":\"error\",\"error\":\"not the leader\",\"leader\":\"h:65536\"}", 0, NULL},
        {"{\"type\":\"error\",\"error\":\"not the leader\",\"leader\":\"a b:1\"}", 0, NULL},
        {"{\"type\":\"error\",\"error\":\"not the leader\",\"leader\":\"h\\n:1\"}", 0, NULL},
        {"{\"type\":\"error\",\"error\":\"not the leader\",\"leader\":\"::1:80\"}", 0, NULL},
        {"{\"type\":\"error\",\"error\":\"not the leader\",\"leader\":\"[::1:80\"}", 0, NULL},
        {"{\"type\":\"error\",\"error\":\"not the leader\",\"leader\":\"\"}", 0, NULL},
        {"{\"type\":\"error\",\"error\":\"not the leader\",\"leader\":1}", 0, NULL},
        {"{\"type\":\"error\",\"error\":\"not the leader\",\"leader\":null}", 1, ""},
        {"{\"type\":\"error\",\"error\":\"not the leader\",\"leader\":[\"h:1\"]}", 0, NULL},
        {"{\"type\":\"error\",\"error\":\"not the leader\",\"leader\":\"h:1\",\"x\":1}", 0, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct msg m;
        char err[256];
        int rc = msg_parse(cases[i].line, strlen(cases[i].line), &m, err, sizeof(err));
        if (!cases[i].parses) {
            if (rc == 0)
                fail_msg("parsed: %s", cases[i].line);
            continue;
        }
        assert_int_equal(rc, 0);
        struct handshake d;
        struct buf out = BUF_INIT;
        dialer_init(&d, NULL, NONCE_D);
        handshake_start(&d, &out);
        buf_reset(&out);
        assert_int_equal(handshake_input(&d, &m, cases[i].line, strlen(cases[i].line), &out),
                         HANDSHAKE_FAIL);
        assert_int_equal(d.error_code, HANDSHAKE_ERR_NOT_LEADER);
        assert_string_equal(d.leader, cases[i].hint);
        msg_release(&m);
        buf_release(&out);
        handshake_release(&d);
    }
    /* A hint longer than the bound: refused by the parser. */
    struct buf b = BUF_INIT;
    struct msg m;
    char err[256];
    buf_addstr(&b, "{\"type\":\"error\",\"error\":\"not the leader\",\"leader\":\"");
    for (int i = 0; i < 400; i++)
        buf_addch(&b, 'a');
    buf_addstr(&b, ":1\"}");
    assert_int_not_equal(msg_parse(b.data, b.len, &m, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "leader"));
    buf_release(&b);
    /* A message made by hand (not by msg_parse) with a bad or huge leader:
     * the dialer keeps no hint. */
    char huge[2000];
    memset(huge, 'a', sizeof(huge) - 3);
    memcpy(huge + sizeof(huge) - 3, ":1", 3);
    const char *bad[] = {"nope", huge};
    for (size_t i = 0; i < 2; i++) {
        struct handshake d;
        struct buf out = BUF_INIT;
        memset(&m, 0, sizeof(m));
        m.type = MSG_ERROR;
        m.error = (char *)"not the leader";
        m.leader = (char *)bad[i];
        dialer_init(&d, NULL, NONCE_D);
        handshake_start(&d, &out);
        buf_reset(&out);
        assert_int_equal(handshake_input(&d, &m, "x", 1, &out), HANDSHAKE_FAIL);
        assert_int_equal(d.error_code, HANDSHAKE_ERR_NOT_LEADER);
        assert_string_equal(d.leader, "");
        buf_release(&out);
        handshake_release(&d);
    }
    /* Another error that names a leader is a plain error, and an acceptor
     * never takes "not the leader" from a dialer. */
    memset(&m, 0, sizeof(m));
    m.type = MSG_ERROR;
    m.error = (char *)"too many connections";
    m.leader = (char *)"h:1";
    struct handshake h = refused(true, &m, HANDSHAKE_ERR_PEER);
    assert_string_equal(h.leader, "");
    m.error = (char *)"not the leader";
    h = refused(false, &m, HANDSHAKE_ERR_PEER);
    assert_string_equal(h.leader, "");
}

static void test_not_hello(void **state)
{
    (void)state;
    struct msg m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_AUTH;
    m.proof = (char *)NONCE_X;
    struct handshake h = refused(false, &m, HANDSHAKE_ERR_NOT_HELLO);
    assert_string_equal(h.event, "refused a peer without a hello");
    assert_string_equal(h.error, "expected a hello message first, got 'auth'");
    assert_false(h.auth);
    assert_string_equal(h.peer_role, "");
}

static void test_wrong_version(void **state)
{
    (void)state;
    struct msg m;
    hello_msg(&m, "client", NONCE_X, false);
    m.proto = PROTO_VERSION + 1;
    struct handshake h = refused(false, &m, HANDSHAKE_ERR_VERSION);
    char want[256];
    snprintf(want, sizeof(want),
             "protocol version %d is not supported (this node speaks %d); "
             "run the same dtr version on every node",
             PROTO_VERSION + 1, PROTO_VERSION);
    assert_string_equal(h.error, want);
    assert_string_equal(h.event, "refused a peer speaking another protocol version");
}

static void test_wrong_role(void **state)
{
    (void)state;
    struct msg m;
    hello_msg(&m, "master", NONCE_X, false);
    struct handshake h = refused(false, &m, HANDSHAKE_ERR_ROLE);
    assert_string_equal(h.error, "a master does not accept connections from a master");
    assert_string_equal(h.event, "refused a peer in the wrong role");
    assert_string_equal(h.peer_role, "master");
}

static void test_malformed_nonce(void **state)
{
    (void)state;
    struct msg m;
    hello_msg(&m, "client", "abc", false);
    struct handshake h = refused(false, &m, HANDSHAKE_ERR_NONCE);
    assert_string_equal(h.error, "field 'nonce' must be 64 hex digits");
    hello_msg(&m, "client", "g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
              false);
    refused(false, &m, HANDSHAKE_ERR_NONCE);
}

/* A probe refuses a worker that says it listens on another port. */
static void test_dialed_port(void **state)
{
    (void)state;
    struct handshake h;
    struct buf b = BUF_INIT, out = BUF_INIT;
    struct msg m;
    struct handshake_config cfg = {
        .dialer = true,
        .role = "master",
        .id = "m1",
        .accept_roles = HANDSHAKE_ROLE_WORKER,
        .dial_port = 6000,
    };
    handshake_init(&h, &cfg, NONCE_A);
    handshake_start(&h, &out);
    hello_msg(&m, "worker", NONCE_D, false); /* addr 127.0.0.1:5000 */
    line_of(&b, &m);
    assert_int_equal(feed(&h, &b, &out), HANDSHAKE_FAIL);
    assert_int_equal(h.error_code, HANDSHAKE_ERR_DIALED_PORT);
    assert_string_equal(h.event, "refused a relayed handshake (the peer says it listens "
                                 "elsewhere)");
    assert_string_equal(h.error, "authentication failed: dialed port 6000 but the worker says "
                                 "it listens on '127.0.0.1:5000' (a relay, or a port forward: "
                                 "run the worker on the port that is dialed)");
    /* The right port passes. */
    cfg.dial_port = 5000;
    handshake_init(&h, &cfg, NONCE_A);
    handshake_start(&h, &out);
    line_of(&b, &m);
    assert_int_equal(feed(&h, &b, &out), HANDSHAKE_OK);
    handshake_release(&h);
    buf_release(&b);
    buf_release(&out);
}

/* Our hello, as sent, is what the transcript holds: the acceptor hashes
 * the line it read, so a re-encoding on either side would break proofs. */
static void test_hello_fields(void **state)
{
    (void)state;
    struct handshake d;
    struct buf out = BUF_INIT;
    struct msg m;
    char err[256];
    unsigned char hash[AUTH_HASH_BYTES];
    dialer_init(&d, "s3cret", NONCE_D);
    handshake_start(&d, &out);
    assert_int_equal(out.data[out.len - 1], '\n');
    assert_int_equal(msg_parse(out.data, out.len - 1, &m, err, sizeof(err)), 0);
    assert_int_equal(m.type, MSG_HELLO);
    assert_int_equal(m.proto, PROTO_VERSION);
    assert_string_equal(m.role, "worker");
    assert_string_equal(m.id, "w1");
    assert_string_equal(m.nonce, NONCE_D);
    assert_true(m.auth);
    assert_int_equal(m.slots, 2);
    msg_release(&m);
    auth_hash_line(hash, out.data, out.len - 1);
    assert_memory_equal(hash, d.transcript.dialer_hello, sizeof(hash));
    buf_release(&out);
    handshake_release(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open),
        cmocka_unit_test(test_both_tokens),
        cmocka_unit_test(test_acceptor_requires_token),
        cmocka_unit_test(test_dialer_lacks_token),
        cmocka_unit_test(test_acceptor_lacks_token),
        cmocka_unit_test(test_different_tokens),
        cmocka_unit_test(test_wrong_proof),
        cmocka_unit_test(test_missing_proof),
        cmocka_unit_test(test_reflected_proof),
        cmocka_unit_test(test_proof_bound_to_transcript),
        cmocka_unit_test(test_proof_bound_to_channel),
        cmocka_unit_test(test_end_point_binding),
        cmocka_unit_test(test_end_point_relay),
        cmocka_unit_test(test_end_point_refusals),
        cmocka_unit_test(test_relayed_nonce),
        cmocka_unit_test(test_error_line),
        cmocka_unit_test(test_error_line_for_proof),
        cmocka_unit_test(test_not_hello),
        cmocka_unit_test(test_wrong_version),
        cmocka_unit_test(test_wrong_role),
        cmocka_unit_test(test_malformed_nonce),
        cmocka_unit_test(test_dialed_port),
        cmocka_unit_test(test_hello_fields),
        cmocka_unit_test(test_not_leader_with_hint),
        cmocka_unit_test(test_not_leader_no_hint),
        cmocka_unit_test(test_leader_completes),
        cmocka_unit_test(test_not_leader_after_checks),
        cmocka_unit_test(test_not_leader_lines),
    };
    if (auth_init() != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
