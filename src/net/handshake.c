/* SPDX-License-Identifier: MIT */
/*
 * The handshake's steps, written once: check the peer's hello, apply the
 * token rule, answer with our hello and proof, verify the peer's proof.
 * Pure: lines in, lines out and a verdict; reading, sending, logging and the
 * words a user sees are the driver's (net/conn.c, cli/client.c).
 */
#include "net/handshake.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/parse.h"

unsigned handshake_role_bit(const char *role)
{
    if (!role)
        return 0;
    if (!strcmp(role, "master"))
        return HANDSHAKE_ROLE_MASTER;
    if (!strcmp(role, "worker"))
        return HANDSHAKE_ROLE_WORKER;
    if (!strcmp(role, "client"))
        return HANDSHAKE_ROLE_CLIENT;
    return 0;
}

void handshake_init(struct handshake *h, const struct handshake_config *cfg,
                    const char nonce[AUTH_NONCE_HEX])
{
    memset(h, 0, sizeof(*h));
    h->cfg = *cfg;
    h->step = HANDSHAKE_HELLO;
    snprintf(h->nonce, sizeof(h->nonce), "%s", nonce);
}

void handshake_set_channel(struct handshake *h, const unsigned char channel[AUTH_HASH_BYTES])
{
    memcpy(h->transcript.channel, channel, AUTH_HASH_BYTES);
}

void handshake_set_end_point(struct handshake *h, const unsigned char hash[AUTH_HASH_BYTES])
{
    memcpy(h->end_point, hash, AUTH_HASH_BYTES);
    h->has_end_point = true;
}

void handshake_release(struct handshake *h)
{
    msg_release(&h->peer_hello);
}

/* Appends our hello to out and hashes it, as sent, into the transcript. */
static void send_hello(struct handshake *h, struct buf *out)
{
    struct msg m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_HELLO;
    m.proto = PROTO_VERSION;
    m.role = (char *)h->cfg.role;
    m.id = (char *)h->cfg.id;
    m.nonce = h->nonce;
    m.auth = h->cfg.token != NULL;
    m.to_acceptor = h->cfg.dialer;
    if (h->cfg.dialer && h->cfg.end_point_binding) {
        m.binding = (char *)HANDSHAKE_END_POINT;
        memcpy(h->transcript.channel, h->end_point, AUTH_HASH_BYTES);
    }
    if (h->cfg.fill_hello)
        h->cfg.fill_hello(&m, h->cfg.fill_data);
    size_t from = out->len;
    msg_encode(out, &m);
    unsigned char *slot = h->cfg.dialer ? h->transcript.dialer_hello : h->transcript.acceptor_hello;
    auth_hash_line(slot, out->data + from, out->len - from - 1);
}

static void send_auth(struct handshake *h, struct buf *out)
{
    struct msg a;
    char proof[AUTH_PROOF_HEX];
    memset(&a, 0, sizeof(a));
    a.type = MSG_AUTH;
    auth_proof(h->cfg.token, h->cfg.dialer ? AUTH_DIALER : AUTH_ACCEPTOR, &h->transcript, proof);
    a.proof = proof;
    msg_encode(out, &a);
}

static enum handshake_result fail(struct handshake *h, enum handshake_error code, bool auth,
                                  const char *event, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static enum handshake_result fail(struct handshake *h, enum handshake_error code, bool auth,
                                  const char *event, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->error, sizeof(h->error), fmt, ap);
    va_end(ap);
    h->step = HANDSHAKE_FAILED;
    h->error_code = code;
    h->event = event;
    h->auth = auth;
    return HANDSHAKE_FAIL;
}

/* Copies a leader's address into h->leader when it is HOST:PORT and fits;
 * anything else leaves it empty (no leader known). */
static void set_leader(struct handshake *h, const char *leader)
{
    char host[ADDR_HOST_MAX];
    int port;
    h->leader[0] = '\0';
    if (leader && strlen(leader) < sizeof(h->leader) &&
        addr_parse(leader, host, sizeof(host), &port) == 0)
        memcpy(h->leader, leader, strlen(leader) + 1);
}

/* The peer said why it hangs up: nothing is sent back. */
static enum handshake_result peer_error(struct handshake *h, const struct msg *m)
{
    const char *text = m->error ? m->error : "";
    if (h->cfg.dialer && !strcmp(text, MSG_NOT_LEADER)) {
        set_leader(h, m->leader);
        if (h->leader[0])
            return fail(h, HANDSHAKE_ERR_NOT_LEADER, false, "peer is not the leader",
                        "not the leader (the leader is %s)", h->leader);
        return fail(h, HANDSHAKE_ERR_NOT_LEADER, false, "peer is not the leader",
                    "not the leader, and no leader is known yet");
    }
    return fail(h, HANDSHAKE_ERR_PEER, strstr(text, "authentication") != NULL,
                "peer refused the connection", "%s", text);
}

static bool own_nonce(const struct handshake *h, const char *nonce)
{
    if (!strcasecmp(h->nonce, nonce))
        return true;
    return h->cfg.own_nonce && h->cfg.own_nonce(nonce, h->cfg.own_nonce_data);
}

/* Checks the peer's hello (protocol.md, section 3, step 2 and 4); on success
 * it joins the transcript. */
static enum handshake_result check_hello(struct handshake *h, const struct msg *m, const char *line,
                                         size_t len)
{
    const char *role = h->cfg.role;
    if (m->type == MSG_ERROR)
        return peer_error(h, m);
    if (m->type != MSG_HELLO)
        return fail(h, HANDSHAKE_ERR_NOT_HELLO, false, "refused a peer without a hello",
                    "expected a hello message first, got '%s'", msg_type_name(m->type));
    if (m->proto != PROTO_VERSION)
        return fail(h, HANDSHAKE_ERR_VERSION, false,
                    "refused a peer speaking another protocol version",
                    "protocol version %d is not supported (this node speaks %d); run the same "
                    "dtr version on every node",
                    m->proto, PROTO_VERSION);
    snprintf(h->peer_role, sizeof(h->peer_role), "%s", m->role);
    if (!(handshake_role_bit(m->role) & h->cfg.accept_roles))
        return fail(h, HANDSHAKE_ERR_ROLE, false, "refused a peer in the wrong role",
                    "a %s does not accept connections from a %s", role, m->role);
    if (strlen(m->nonce) != AUTH_NONCE_HEX - 1 ||
        strspn(m->nonce, "0123456789abcdefABCDEF") != AUTH_NONCE_HEX - 1)
        return fail(h, HANDSHAKE_ERR_NONCE, false, "refused a malformed nonce",
                    "field 'nonce' must be %d hex digits", AUTH_NONCE_HEX - 1);
    if (own_nonce(h, m->nonce))
        return fail(h, HANDSHAKE_ERR_RELAY, true,
                    "refused a relayed handshake (the peer sent a nonce of our own)",
                    "authentication failed: the peer relays another handshake of this %s", role);
    auth_hash_line(h->cfg.dialer ? h->transcript.acceptor_hello : h->transcript.dialer_hello, line,
                   len);
    return HANDSHAKE_WAIT;
}

/*
 * A dialer that scanned for this peer (it did not know who would answer)
 * refuses one that says it listens on another port: whoever answered is
 * relaying the handshake of a node elsewhere.
 */
static enum handshake_result check_dialed_addr(struct handshake *h, const struct msg *m)
{
    char host[300];
    int port;
    if (!h->cfg.dialer || !m->addr || !h->cfg.dial_port)
        return HANDSHAKE_WAIT;
    if (addr_parse(m->addr, host, sizeof(host), &port) == 0 && port == h->cfg.dial_port)
        return HANDSHAKE_WAIT;
    return fail(h, HANDSHAKE_ERR_DIALED_PORT, true,
                "refused a relayed handshake (the peer says it listens elsewhere)",
                "authentication failed: dialed port %d but the %s says it listens on '%s' (a "
                "relay, or a port forward: run the %s on the port that is dialed)",
                h->cfg.dial_port, m->role, m->addr, m->role);
}

/*
 * An acceptor whose dialer declares a channel binding: only a client may,
 * only tls-server-end-point, only over TLS. The binding name is in the
 * dialer's hello, which both proofs cover, so it cannot be swapped.
 */
static enum handshake_result check_binding(struct handshake *h, const struct msg *m)
{
    if (h->cfg.dialer || !m->binding)
        return HANDSHAKE_WAIT;
    if (strcmp(m->binding, HANDSHAKE_END_POINT))
        return fail(h, HANDSHAKE_ERR_BINDING, false, "refused an unknown channel binding",
                    "channel binding '%.64s' is not supported (this node knows " HANDSHAKE_END_POINT
                    ")",
                    m->binding);
    if (strcmp(m->role, "client"))
        return fail(h, HANDSHAKE_ERR_BINDING, false, "refused a channel binding",
                    "a %s may not choose the channel binding (clients only)", m->role);
    if (!h->has_end_point)
        return fail(h, HANDSHAKE_ERR_BINDING, false, "refused a channel binding without TLS",
                    "channel binding " HANDSHAKE_END_POINT " needs TLS");
    memcpy(h->transcript.channel, h->end_point, AUTH_HASH_BYTES);
    return HANDSHAKE_WAIT;
}

/* The token rule for the peer's hello. */
static enum handshake_result match_tokens(struct handshake *h, const struct msg *m)
{
    switch (auth_match_tokens(h->cfg.token, m->auth)) {
    case AUTH_OPEN:
    case AUTH_PROVE:
        return HANDSHAKE_WAIT;
    case AUTH_PEER_WANTS_TOKEN:
        return fail(h, HANDSHAKE_ERR_PEER_WANTS_TOKEN, true, "peer requires a token we do not have",
                    "authentication failed: the %s requires a token (--token-file or "
                    "DTR_TOKEN)",
                    m->role);
    case AUTH_PEER_HAS_NO_TOKEN:
        if (!h->cfg.dialer)
            return fail(h, HANDSHAKE_ERR_PEER_HAS_NO_TOKEN, true, "authentication failed",
                        "authentication failed: this %s requires a token (--token-file or "
                        "DTR_TOKEN)",
                        h->cfg.role);
        return fail(h, HANDSHAKE_ERR_PEER_HAS_NO_TOKEN, true, "peer did not prove the token",
                    "authentication failed: this %s has a token but the %s did not prove it "
                    "knows it",
                    h->cfg.role, m->role);
    }
    return fail(h, HANDSHAKE_ERR_PEER_HAS_NO_TOKEN, true, "authentication failed",
                "authentication failed");
}

/* An acceptor in a master group that is not the leader sends the dialer
 * on (protocol.md, section 3): the driver answers with the error line. */
static enum handshake_result check_leader(struct handshake *h, const struct msg *m)
{
    char leader[sizeof(h->leader)] = "";
    if (!h->cfg.not_leader(h->cfg.not_leader_data, m->role, leader, sizeof(leader)))
        return HANDSHAKE_WAIT;
    leader[sizeof(leader) - 1] = '\0';
    set_leader(h, leader);
    return fail(h, HANDSHAKE_ERR_NOT_LEADER, false, "sent a peer to the leader", MSG_NOT_LEADER);
}

static enum handshake_result on_hello(struct handshake *h, struct msg *m, const char *line,
                                      size_t len, struct buf *out)
{
    const char *token = h->cfg.token;
    enum handshake_result r = check_hello(h, m, line, len);
    if (r == HANDSHAKE_WAIT && !h->cfg.dialer && h->cfg.not_leader)
        r = check_leader(h, m);
    if (r == HANDSHAKE_WAIT)
        r = check_dialed_addr(h, m);
    if (r == HANDSHAKE_WAIT)
        r = check_binding(h, m);
    /* An acceptor without a token answers one that has one: the dialer
     * says why it hangs up, in its own words. */
    if (r == HANDSHAKE_WAIT && (h->cfg.dialer || token))
        r = match_tokens(h, m);
    if (r != HANDSHAKE_WAIT)
        return r;
    if (!h->cfg.dialer) {
        send_hello(h, out);
        if (token)
            send_auth(h, out); /* the acceptor proves first */
    }
    msg_release(&h->peer_hello);
    h->peer_hello = *m;
    memset(m, 0, sizeof(*m));
    if (!token) {
        h->step = HANDSHAKE_DONE;
        return HANDSHAKE_OK;
    }
    h->step = HANDSHAKE_AUTH;
    return HANDSHAKE_WAIT;
}

static enum handshake_result on_auth(struct handshake *h, const struct msg *m, struct buf *out)
{
    if (m->type == MSG_ERROR && h->cfg.dialer)
        return peer_error(h, m);
    enum auth_side side = h->cfg.dialer ? AUTH_ACCEPTOR : AUTH_DIALER;
    if (m->type != MSG_AUTH || !auth_verify(h->cfg.token, side, &h->transcript, m->proof)) {
        if (h->cfg.dialer)
            return fail(h, HANDSHAKE_ERR_PROOF, true, "peer proved a different token",
                        "authentication failed: the %s does not know our token", h->peer_role);
        return fail(h, HANDSHAKE_ERR_PROOF, true, "authentication failed",
                    "authentication failed: wrong or missing token");
    }
    if (h->cfg.dialer)
        send_auth(h, out);
    h->step = HANDSHAKE_DONE;
    return HANDSHAKE_OK;
}

void handshake_start(struct handshake *h, struct buf *out)
{
    send_hello(h, out);
}

enum handshake_result handshake_input(struct handshake *h, struct msg *m, const char *line,
                                      size_t len, struct buf *out)
{
    switch (h->step) {
    case HANDSHAKE_HELLO:
        return on_hello(h, m, line, len, out);
    case HANDSHAKE_AUTH:
        return on_auth(h, m, out);
    case HANDSHAKE_DONE:
    case HANDSHAKE_FAILED:
        break;
    }
    if (h->step == HANDSHAKE_DONE)
        return fail(h, HANDSHAKE_ERR_NOT_HELLO, false, "handshake input after its end",
                    "the handshake is over");
    return HANDSHAKE_FAIL;
}
