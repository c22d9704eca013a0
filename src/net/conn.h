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
 * most FRAME_MAX_HELLO bytes and nothing else is accepted. The steps are
 * net/handshake.c's (shared with the CLI); conn.c feeds it lines, sends its
 * answers, and logs and refuses when it fails.
 */
#ifndef DTR_NET_CONN_H
#define DTR_NET_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/auth.h"
#include "common/buf.h"
#include "common/list.h"
#include "net/handshake.h"
#include "proto/frame.h"
#include "proto/msg.h"

struct conn;
struct conn_hub;
struct tls_ctx;
struct tls_conn;

struct conn_ops {
    /* The peer proved itself; hello is its hello (the callee may steal
     * fields). Return 0 to accept, or non-zero with a reason in err to
     * refuse: the reason is sent and the connection closed. */
    int (*ready)(struct conn *c, struct msg *hello, char *err, size_t errlen);
    /* A message after the handshake; released after the call. */
    void (*message)(struct conn *c, struct msg *m);
    /* The connection is going away (conn_reason() says why). Called once, for
     * connections that reached ready() and accepted. */
    void (*closed)(struct conn *c);
};

/*
 * Limits on what peers may make a node hold (docs/protocol.md, "Limits").
 *
 * Back-pressure: a client connection whose replies not yet sent (queued,
 * held for the journal, or being written) pass CONN_OUT_HIGH bytes is paused:
 * nothing more is read from it and the lines already read wait, until fewer
 * than CONN_OUT_LOW bytes are left. A connection paused for CONN_STALL_MS
 * without a byte leaving is closed (its peer does not read).
 */
#define CONN_OUT_HIGH (4u * 1024 * 1024)
#define CONN_OUT_LOW (1u * 1024 * 1024)
#define CONN_STALL_MS 60000
/* Accepted connections not yet authenticated (TLS, hello or auth pending):
 * from one source (an IPv4 address, an IPv6 /64) and in all. At a cap, a new
 * connection closes the oldest such one if it has waited CONN_PREAUTH_EVICT_MS
 * (idle sockets cannot lock newcomers out), else it is refused itself. */
#define CONN_MAX_PREAUTH_PER_SOURCE 64
#define CONN_MAX_PREAUTH 1024
#define CONN_PREAUTH_EVICT_MS 1000
/* Bytes received but not yet handled (partial lines, lines waiting behind a
 * pause) across every connection of a hub. */
#define CONN_MAX_INPUT_TOTAL (256u * 1024 * 1024)
/* Log lines about unauthenticated peers of one source per second; the rest
 * are counted and summed up in one line when the second is over. */
#define CONN_LOG_PER_SOURCE 10

#define CONN_SOURCE_SLOTS 2048 /* power of two, at least 2 * CONN_MAX_PREAUTH */
#define CONN_LOG_SLOTS 256     /* power of two; sources sharing a slot share a limit */

/* Unauthenticated connections from one source (key: see conn_source_key). */
struct conn_source {
    unsigned char key[16];
    uint32_t count; /* 0: the slot is free */
};

/* One log rate-limit window. */
struct conn_log_slot {
    int64_t window; /* loop time (ms) the current second began */
    uint32_t logged, suppressed;
    char host[48]; /* the source that opened the window, for the summary */
};

/*
 * Per-process set of connections and the identity used in handshakes.
 * Public: the fields above the private mark, set by the node after
 * conn_hub_init() and before the first listen or dial. The rest is net/conn.c's.
 */
struct conn_hub {
    uv_loop_t *loop;     /* read-only */
    const char *role;    /* read-only: "master" or "worker" */
    const char *id;      /* read-only: our id for hellos */
    const char *token;   /* read-only: shared secret, or NULL */
    struct tls_ctx *tls; /* TLS on every connection, or NULL; the owner's */
    /* Adds the node's own fields to an outgoing hello (worker state); gets
     * the hub's owner. */
    void (*fill_hello)(struct msg *hello, void *owner);
    void *owner; /* the node this hub belongs to: see conn_hub_owner() */
    /*
     * A master group member (docs/protocol.md, section 3): asked with the
     * owner when a dialer's hello arrives on an accepted connection
     * (well-formed, of a role the listener accepts; before the token rule).
     * Return false to go on with the handshake. Return true when this node
     * is not the group's leader, with the leader's HOST:PORT for a peer of
     * peer_role ("client" or "worker") in leader, or leader[0] = '\0' when
     * none is known (an election): the dialer gets {"type":"error","error":
     * "not the leader","leader":LEADER} (no "leader" when none) and the
     * connection closes. NULL (the default): never asked, no cost.
     */
    bool (*not_leader)(void *owner, const char *peer_role, char *leader, size_t len);
    int64_t handshake_ms; /* deadline for a handshake to complete */
    size_t max_conns;     /* accepted connections beyond this are refused */

    /* private: */
    struct list all;   /* every open conn */
    struct list dirty; /* conns with bytes to flush */
    struct list timed; /* conns with a deadline: not ready yet, or closing */
    struct list held;  /* conns with bytes held until an epoch is durable */
    size_t count;
    int64_t last_accept_warning; /* loop time, to rate-limit accept errors */
    size_t preauth;              /* accepted connections not yet authenticated */
    size_t input_total;          /* bytes held in the frame readers of all connections */
    struct list resume;          /* paused conns whose output drained: handled from idle */
    uv_idle_t idle;              /* runs the resume list; initialised on first use */
    bool idle_init;
    uint32_t suppressing; /* log slots with suppressed lines to sum up */
    struct conn_source sources[CONN_SOURCE_SLOTS];
    struct conn_log_slot log_slots[CONN_LOG_SLOTS];
};

struct conn_listener {
    uv_tcp_t tcp;
    struct conn_hub *hub;
    const struct conn_ops *ops;
    unsigned accept_roles; /* bit mask of CONN_ROLE_* */
    int port;
};

enum conn_role_bits {
    CONN_ROLE_MASTER = HANDSHAKE_ROLE_MASTER,
    CONN_ROLE_WORKER = HANDSHAKE_ROLE_WORKER,
    CONN_ROLE_CLIENT = HANDSHAKE_ROLE_CLIENT,
};

/* CONN_TLS: the TLS handshake, before hello (only with hub->tls). */
enum conn_state { CONN_DIALING, CONN_TLS, CONN_HELLO, CONN_AUTH, CONN_READY, CONN_CLOSING };

#define CONN_MARKS 4 /* held epochs per connection; more are merged into the last */

/*
 * One connection. Only `data` is public (the owner's, as in libuv); every
 * other field is private to net/conn.c and read from outside through the
 * accessors below. Fields are marked the way libuv's uv.h marks its own, by a
 * "private" section rather than PRIVATE_ names: conn.c keeps its plain names
 * (no churn in the one file that uses them), and a reader of this header
 * sees at once where the public face ends.
 */
struct conn {
    void *data; /* public: the owner's */

    /* private: net/conn.c only */
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_write_t write_req;
    struct conn_hub *hub;
    const struct conn_ops *ops;
    enum conn_state state;
    bool dialer;
    unsigned accept_roles;
    char peer[64];            /* "host:port" for logs */
    char host[48];            /* the peer's address alone */
    unsigned char source[16]; /* the peer's source key (accepted conns) */
    bool counted;             /* counted in hub->preauth and its source: may still
                          authenticate */
    int64_t accepted_at;      /* loop time (ms) */
    bool authed;              /* reached CONN_READY once */
    bool paced;               /* a client: back-pressure applies */
    bool paused;              /* reading paused until the output drains */
    bool held;                /* input held by its owner (conn_hold_input) */
    bool resuming;            /* on hub->resume */
    size_t input_counted;     /* this conn's share of hub->input_total */
    int64_t progress;         /* loop time the output last moved (while paused) */
    struct handshake hs;      /* nonces, transcript, the peer's role and hello */
    struct tls_conn *tls;     /* the TLS session when hub->tls, else NULL */
    struct frame_reader rd;
    struct buf out;     /* queued, not yet handed to libuv */
    size_t out_ready;   /* bytes of out that may leave: set by conn_hub_flush() and
                            conn_hub_release() only */
    uint64_t out_taken; /* bytes ever moved out of out: out's start, as a position */
    /* Held bytes: up to mark_pos[i] (a position) may leave once epoch
     * mark_epoch[i] is durable; oldest first. */
    uint64_t mark_epoch[CONN_MARKS], mark_pos[CONN_MARKS];
    int nmarks;
    struct buf inflight; /* handed to libuv, until its callback */
    bool writing;
    bool close_when_flushed;
    bool notified;    /* ready() accepted: closed() is owed */
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
    struct list resume_node;
};

/* ---- the public face of a conn ---------------------------------------------- */

/* "host:port" of the peer, for logs ("?" until known). */
const char *conn_peer(const struct conn *c);
/* The role the peer's hello named ("master", "worker", "client"), "" before. */
const char *conn_peer_role(const struct conn *c);
/* True once the handshake completed, until conn_close() (a conn that failed
 * stays ready until its error is written and it closes). */
bool conn_is_ready(const struct conn *c);
/* True when this node dialed the connection (a worker's dial, a probe). */
bool conn_is_dialer(const struct conn *c);
/* Replies not yet sent: queued (held or released) and being written. */
size_t conn_pending_bytes(const struct conn *c);
/* Holds c's input (hold: true): no more of its lines are handled, and it is
 * not read, until released (false). For back-pressure from something other
 * than c's own replies (the master's output writer); a held conn is not
 * closed for stalling. */
void conn_hold_input(struct conn *c, bool hold);
/* Why the connection closed or failed (for closed() callbacks), "" before. */
const char *conn_reason(const struct conn *c);
/* A dialed connection refused by a master group member that is not the
 * leader (for the dial's fail callback): the leader it named, HOST:PORT, or
 * "" when it knows none. NULL for any other outcome. */
const char *conn_not_leader(const struct conn *c);
/* The owner of c's hub (hub->owner: the master or the worker node). */
void *conn_hub_owner(const struct conn *c);
/*
 * Hands c to another owner: ops and data are replaced, and the dial's fail
 * callback will no longer be called (a probe that became a worker's
 * connection). Call it from ops->ready() or later.
 */
void conn_hand_over(struct conn *c, const struct conn_ops *ops, void *data);

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
/* Whether a client (not a worker or a master) has bytes queued since the
 * last conn_hub_hold(): a reply someone is waiting for. */
bool conn_hub_client_waits(const struct conn_hub *hub);
void conn_hub_release(struct conn_hub *hub, uint64_t done);
/*
 * Sends c's queued bytes from `from` (an offset in conn_out(c), taken this
 * turn) on now, without waiting for a commit: only when every byte before
 * them has been released already, so nothing held is overtaken. Returns
 * whether it did.
 */
bool conn_send_now(struct conn *c, size_t from);
/* The connections open now (for /metrics). */
size_t conn_hub_count(const struct conn_hub *hub);
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
/* Whether any connection has bytes queued since the last conn_hub_flush()
 * (conn_out() alone marks a connection without queuing anything). */
bool conn_hub_dirty(const struct conn_hub *hub);
/* Queues an error message and stops reading; the connection closes once the
 * error is written at the next flush (or soon after, if the peer does not read). */
void conn_fail(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Closes now; reason is kept for the closed() callback and logs. */
void conn_close(struct conn *c, const char *reason);
/*
 * Whether a log line about c may be written now. Always true for a peer that
 * authenticated and for connections we dialed; for an unauthenticated peer,
 * at most CONN_LOG_PER_SOURCE lines per second per source address (sources
 * may share a limit), the rest counted and summed up in one line ("suppressed
 * log lines about unauthenticated peers") once the second is over. Call it
 * once per line: `if (conn_may_log(c)) log_warn(...)`.
 */
bool conn_may_log(struct conn *c);

#define CONN_MAX_OUT (256u * 1024 * 1024)

/*
 * The rule for listening beyond loopback: refused without a token unless
 * insecure. Returns 0, or DTR_EINVAL with the refusal in err; `harm` says
 * what an anonymous peer could do ("run commands on every worker").
 */
int conn_check_exposure(const char *host, bool has_token, bool insecure, const char *harm,
                        char *err, size_t errlen);
/* True when every address host resolves to is a loopback address. */
bool conn_host_is_loopback(const char *host);

#endif
