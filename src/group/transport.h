/* SPDX-License-Identifier: MIT */
/*
 * The master group's replication transport: a struct raft_uv_transport for
 * C-Raft's libuv I/O (raft_uv_init) that authenticates every connection
 * with dtr's handshake (net/handshake.h, role "master" on both sides, the
 * master's token) before raft sees a byte of it. C-Raft's stock TCP
 * transport (raft_uv_tcp_init) hands any stream that sends its 24-byte
 * preamble to raft, so whoever reaches the port could vote or inject
 * entries; with this one an unauthenticated peer never reaches raft.
 *
 * What it carries: the dialer's raft id and replication address travel in
 * its hello (fields "id" and "addr"), which both proofs cover, instead of
 * C-Raft's preamble; the dialer also checks that the member it reached has
 * the raft id it meant to dial. After the handshake the stream is raft's:
 * the TCP stream itself without TLS; with TLS (group_transport_set_tls) a
 * socketpair whose other end the transport encrypts to the peer and
 * decrypts from it: see docs/architecture.md.
 *
 * Addresses are "HOST:PORT" ("[v6]:PORT" too); a host name is resolved with
 * getaddrinfo() at each dial, as conn_dial() does.
 */
#ifndef DTR_GROUP_TRANSPORT_H
#define DTR_GROUP_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

/* Handshake deadline per connection (connect included), by default. */
#define GROUP_TRANSPORT_TIMEOUT_MS 10000
/* Incoming connections still in their handshake, at most: the oldest is
 * dropped for a newer one beyond this. */
#define GROUP_TRANSPORT_MAX_PENDING 64
/* With TLS, bytes on their way through the pump in one direction (written
 * to the destination, not yet taken by its socket) beyond which the pump
 * stops reading the source, until half of them have left. */
#define GROUP_TRANSPORT_PUMP_MAX (256 * 1024)
/* A handshake line, at most (hellos are a few hundred bytes). */
#define GROUP_TRANSPORT_MAX_LINE 4096

/*
 * Sets up *t (for raft_uv_init()) on `loop`. `token` is the master's token
 * (copied), or NULL: then only peers without a token are accepted, the
 * handshake's usual rule (common/auth.h). t->data is kept (raft_uv_init
 * sets it anyway). Returns 0, or -1 with a message in err.
 */
int group_transport_init(struct raft_uv_transport *t, uv_loop_t *loop, const char *token, char *err,
                         size_t errlen);
/* Frees what init allocated; call it once raft has closed the transport
 * (after raft_close()'s callback, or when raft_init() failed). */
void group_transport_close(struct raft_uv_transport *t);
/*
 * Runs every connection from now on in TLS made from tls (the master's
 * --tls-* context, which must outlive t), or plain with NULL. With TLS the
 * handshake runs inside the session, bound to it, and raft gets one end of
 * a socketpair that the transport pumps to and from the session.
 */
struct tls_ctx;
void group_transport_set_tls(struct raft_uv_transport *t, struct tls_ctx *tls);
/* Overrides GROUP_TRANSPORT_TIMEOUT_MS for connections opened from now on. */
void group_transport_set_timeout(struct raft_uv_transport *t, unsigned ms);
/* Connections refused so far (in both directions): a failed or timed-out
 * handshake, a wrong token, a bad line. For status and tests. */
uint64_t group_transport_refused(const struct raft_uv_transport *t);

/* For tests: overrides GROUP_TRANSPORT_PUMP_MAX; and how many times a pump
 * has stopped reading one side so far. */
void group_transport_set_pump_limit(struct raft_uv_transport *t, size_t bytes);
uint64_t group_transport_pauses(const struct raft_uv_transport *t);

#endif
