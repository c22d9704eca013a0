/* SPDX-License-Identifier: MIT */
/*
 * One connection to a peer over libuv TCP, whoever dialed it: line framing,
 * the hello/auth handshake, and a write queue. The same code serves the
 * master's and the worker's ends.
 *
 * Writes are not sent when queued: conn_hub_flush() releases every
 * connection's pending bytes, and nothing queued after that call leaves
 * before the next one (a write completing early does not send them). The
 * master calls it after its journal commit, so no acknowledgement leaves
 * before what it acknowledges is on disk.
 *
 * TLS (optional, hub->tls set): the TLS handshake runs first, and every
 * byte of the dtr protocol then travels inside the session (net/tls.h).
 * Released plaintext is encrypted when it leaves, so conn_hub_flush() keeps
 * gating it; TLS handshake records and alerts carry no protocol data and are
 * sent as soon as OpenSSL makes them. Nothing can be said to a peer before
 * its TLS handshake completes, so a failure then closes at once.
 *
 * Handshake (docs/protocol.md): the dialer sends hello (role, id, nonce);
 * the acceptor answers hello (its nonce), and with a token an auth line
 * with its proof; the dialer checks it and sends its own auth. Proofs are
 * bound to both hellos as sent and to the TLS session (common/auth.h). A
 * hello carrying a nonce this node itself has out on an open handshake is
 * refused: that is a relay. Until the handshake completes a line may be at
 * most FRAME_MAX_HELLO bytes and nothing else is accepted.
 */
#ifndef DTR_NET_CONN_H
#define DTR_NET_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/auth.h"
#include "common/buf.h"
#include "common/list.h"
#include "proto/frame.h"
#include "proto/msg.h"

struct conn;
struct tls_ctx;
struct tls_conn;

struct conn_ops {
    /* The peer proved itself; hello is its hello (the callee may steal
     * fields). Return 0 to accept, or non-zero with a reason in err to
     * refuse: the reason is sent and the connection closed. */
    int (*ready)(struct conn *c, struct msg *hello, char *err, size_t errlen);
    /* A message after the handshake; released after the call. */
    void (*message)(struct conn *c, struct msg *m);
    /* The connection is going away (c->reason says why). Called once, for
     * connections that reached ready() and accepted. */
    void (*closed)(struct conn *c);
};

/* Per-process set of connections and the identity used in handshakes. */
struct conn_hub {
    uv_loop_t *loop;
    const char *role;  /* "master" or "worker" */
    const char *id;    /* our id for hellos */
    const char *token; /* shared secret, or NULL */
    struct tls_ctx *tls; /* TLS on every connection, or NULL; the owner's */
    /* Adds the node's own fields to an outgoing hello (worker state). */
    void (*fill_hello)(struct msg *hello, void *data);
    void *fill_data;
    int64_t handshake_ms; /* deadline for a handshake to complete */
    struct list all;      /* every open conn */
    struct list dirty;    /* conns with bytes to flush */
    struct list timed;    /* conns with a deadline: not ready yet, or closing */
    struct list held;     /* conns with bytes held until an epoch is durable */
    size_t count;
    size_t max_conns; /* accepted connections beyond this are refused */
    int64_t last_accept_warning; /* loop time, to rate-limit accept errors */
};

struct conn_listener {
    uv_tcp_t tcp;
    struct conn_hub *hub;
    const struct conn_ops *ops;
    unsigned accept_roles; /* bit mask of CONN_ROLE_* */
    int port;
};

enum conn_role_bits { CONN_ROLE_MASTER = 1, CONN_ROLE_WORKER = 2, CONN_ROLE_CLIENT = 4 };

/* CONN_TLS: the TLS handshake, before hello (only with hub->tls). */
enum conn_state { CONN_DIALING, CONN_TLS, CONN_HELLO, CONN_AUTH, CONN_READY, CONN_CLOSING };

#define CONN_MARKS 4 /* held epochs per connection; more are merged into the last */

struct conn {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_write_t write_req;
    struct conn_hub *hub;
    const struct conn_ops *ops;
    void *data; /* the owner's */
    enum conn_state state;
    bool dialer;
    unsigned accept_roles;
    char peer[64];     /* "host:port" for logs */
    char peer_role[8]; /* after hello */
    char nonce[AUTH_NONCE_HEX];
    char peer_nonce[AUTH_NONCE_HEX];
    struct auth_transcript transcript; /* what the proofs are bound to */
    struct msg held_hello; /* the peer's hello, until its proof arrives */
    struct tls_conn *tls;  /* the TLS session when hub->tls, else NULL */
    struct frame_reader rd;
    struct buf out;      /* queued, not yet handed to libuv */
    size_t out_ready;    /* bytes of out that may leave: set by conn_hub_flush() and
                            conn_hub_release() only */
    uint64_t out_taken;  /* bytes ever moved out of out: out's start, as a position */
    /* Held bytes: up to mark_pos[i] (a position) may leave once epoch
     * mark_epoch[i] is durable; oldest first. */
    uint64_t mark_epoch[CONN_MARKS], mark_pos[CONN_MARKS];
    int nmarks;
    struct buf inflight; /* handed to libuv, until its callback */
    bool writing;
    bool close_when_flushed;
    bool notified; /* ready() accepted: closed() is owed */
    int64_t deadline; /* loop time (ms) by which the handshake must finish */
    const char *reason;
    char reason_buf[256];
    void (*dial_fail)(void *data, const char *host, int port, const char *why);
    char dial_host[256];
    int dial_port;
    struct list node;
    struct list dirty_node;
    struct list timed_node;
    struct list held_node;
};

void conn_hub_init(struct conn_hub *hub, uv_loop_t *loop, const char *role, const char *id,
                   const char *token);
/*
 * Raises this process's open-file limit to its hard limit and keeps
 * hub->max_conns below it, leaving `reserve` descriptors for everything else
 * (journal, logs, task pipes), so a flood of connections is refused with an
 * error instead of starving the node of descriptors.
 */
void conn_hub_fit_fd_limit(struct conn_hub *hub, size_t reserve);
/* Sends every queued byte (one write per connection). */
void conn_hub_flush(struct conn_hub *hub);
/*
 * The master's pipelined form of conn_hub_flush(): bytes queued so far may
 * leave once `epoch` is durable (conn_hub_hold), and conn_hub_release() lets
 * out everything held for epochs up to `done`. Epochs only grow.
 */
void conn_hub_hold(struct conn_hub *hub, uint64_t epoch);
void conn_hub_release(struct conn_hub *hub, uint64_t done);
/* Closes connections whose handshake missed its deadline. */
void conn_hub_sweep(struct conn_hub *hub);
/* Closes every connection (shutdown). */
void conn_hub_close_all(struct conn_hub *hub, const char *reason);

/*
 * Binds the first free port from lo to hi on host and listens. Returns 0
 * with l->port set, or a negative errno (UV_EADDRINUSE when every port was
 * taken) with a message in err.
 */
int conn_listen(struct conn_hub *hub, struct conn_listener *l, const char *host, int lo, int hi,
                const struct conn_ops *ops, unsigned accept_roles, char *err, size_t errlen);
/* The bound address "host:port" of a listener. */
void conn_listener_addr(const struct conn_listener *l, char *out, size_t outlen);
void conn_listener_close(struct conn_listener *l);

/*
 * Dials host:port and runs the handshake, expecting a peer of role
 * expect_roles. ops->ready() is called on success; on failure the conn
 * closes without ready()/closed() and fail(data, reason) is called when set.
 * Returns the conn (owned by the hub) or NULL with err.
 */
struct conn *conn_dial(struct conn_hub *hub, const char *host, int port, unsigned expect_roles,
                       const struct conn_ops *ops, void *data, int64_t timeout_ms,
                       void (*fail)(void *data, const char *host, int port, const char *why),
                       char *err, size_t errlen);

/* The output buffer to append whole lines to; the conn is flushed at the
 * next conn_hub_flush(). NULL when the conn is closing (drop the bytes). */
struct buf *conn_out(struct conn *c);
/* Queues an error message and stops reading; the connection closes once the
 * error is written at the next flush (or soon after, if the peer does not read). */
void conn_fail(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Closes now; reason is kept for the closed() callback and logs. */
void conn_close(struct conn *c, const char *reason);

#define CONN_MAX_OUT (256u * 1024 * 1024)

/* True when every address host resolves to is a loopback address. */
bool conn_host_is_loopback(const char *host);

#endif
