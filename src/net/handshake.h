/* SPDX-License-Identifier: MIT */
/*
 * The dtr handshake (docs/protocol.md, section 3) as one pure state machine,
 * driven by both the nodes' event-driven connections (net/conn.c) and the
 * CLI's blocking client (cli/client.c). It never touches a socket, a loop or
 * the log: the driver feeds it each line it reads (raw bytes and parsed
 * message), sends the lines it appends to an output buffer, and on failure
 * decides what to say and log from the answer.
 *
 * Proofs, the transcript and the token rule come from common/auth.h.
 */
#ifndef DTR_NET_HANDSHAKE_H
#define DTR_NET_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/auth.h"
#include "common/buf.h"
#include "proto/msg.h"

/* Which roles a side accepts from its peer (bit mask). */
enum handshake_role_bits {
    HANDSHAKE_ROLE_MASTER = 1,
    HANDSHAKE_ROLE_WORKER = 2,
    HANDSHAKE_ROLE_CLIENT = 4,
};

/* The bit of a role name ("master", "worker", "client"), 0 for others. */
unsigned handshake_role_bit(const char *role);

/* Who we are and what we accept; the strings must outlive the handshake. */
struct handshake_config {
    bool dialer;
    const char *role;      /* ours: "master", "worker" or "client" */
    const char *id;        /* ours, for the hello */
    const char *token;     /* shared secret, or NULL */
    unsigned accept_roles; /* HANDSHAKE_ROLE_* the peer may have */
    /* A dialer that scanned for its peer: the port it dialed, which the
     * peer's hello `addr` must name when it has one. 0: not checked. */
    int dial_port;
    /* Adds the node's own fields to our hello (worker state), or NULL. */
    void (*fill_hello)(struct msg *hello, void *data);
    void *fill_data;
    /* True when another open handshake of this node uses `nonce` (our own
     * nonce on this handshake is always checked). NULL: no others. */
    bool (*own_nonce)(const char *nonce, void *data);
    void *own_nonce_data;
    /* A dialer over TLS: bind the proofs to the server's certificate
     * (tls-server-end-point, declared in our hello) instead of the
     * exporter; handshake_set_end_point() first. */
    bool end_point_binding;
    /* An acceptor that belongs to a master group: asked when a well-formed
     * hello of an accepted role arrives, before the token rule. True: this
     * node is not the group's leader, and `leader` holds the leader's
     * HOST:PORT for the peer's role, or "" when none is known (an election);
     * the handshake then fails with HANDSHAKE_ERR_NOT_LEADER. NULL: never
     * asked (a single master, a worker). */
    bool (*not_leader)(void *data, const char *peer_role, char *leader, size_t len);
    void *not_leader_data;
};

/* The binding a client may declare in its hello. */
#define HANDSHAKE_END_POINT "tls-server-end-point"

enum handshake_step {
    HANDSHAKE_HELLO, /* waiting for the peer's hello */
    HANDSHAKE_AUTH,  /* waiting for the peer's proof */
    HANDSHAKE_DONE,
    HANDSHAKE_FAILED,
};

/* What handshake_input() answers. */
enum handshake_result {
    HANDSHAKE_WAIT = 0, /* send what was appended to out, read another line */
    HANDSHAKE_OK,       /* complete: send what was appended; peer_hello is the peer's */
    HANDSHAKE_FAIL,     /* refused: see error, event and auth */
};

/* Why a handshake failed; the CLI words each in its own way. */
enum handshake_error {
    HANDSHAKE_ERR_NONE = 0,
    HANDSHAKE_ERR_PEER,              /* the peer sent an error line (its text in error) */
    HANDSHAKE_ERR_NOT_HELLO,         /* the first line is not a hello */
    HANDSHAKE_ERR_VERSION,           /* another protocol version */
    HANDSHAKE_ERR_ROLE,              /* a role we do not accept */
    HANDSHAKE_ERR_NONCE,             /* a malformed nonce */
    HANDSHAKE_ERR_RELAY,             /* our own nonce came back */
    HANDSHAKE_ERR_DIALED_PORT,       /* a probe's peer says it listens elsewhere */
    HANDSHAKE_ERR_PEER_WANTS_TOKEN,  /* the peer has a token, we have none */
    HANDSHAKE_ERR_PEER_HAS_NO_TOKEN, /* we have a token, the peer has none */
    HANDSHAKE_ERR_PROOF,             /* a wrong, missing or malformed proof */
    HANDSHAKE_ERR_BINDING,           /* a channel binding we cannot use */
    /* A master group member that is not the leader: an acceptor refuses
     * (send msg_encode_not_leader(out, leader)); a dialer was refused, and
     * leader holds the leader the peer named ("" when it knows none). */
    HANDSHAKE_ERR_NOT_LEADER,
};

struct handshake {
    struct handshake_config cfg;
    enum handshake_step step;
    char nonce[AUTH_NONCE_HEX];               /* ours */
    char peer_role[8];                        /* from the peer's hello, once checked that far */
    struct auth_transcript transcript;        /* what the proofs are bound to */
    unsigned char end_point[AUTH_HASH_BYTES]; /* tls-server-end-point, once set */
    bool has_end_point;
    /* HANDSHAKE_OK: the peer's hello (the caller may steal fields). */
    struct msg peer_hello;
    /* HANDSHAKE_FAIL: */
    enum handshake_error error_code;
    /* The error text for the peer; for HANDSHAKE_ERR_PEER the peer's own
     * text, which is not to be sent back (close without a word). */
    char error[256];
    /* The log line's event ("authentication failed", "peer proved a
     * different token", ...); the driver adds peer= role= error=. */
    const char *event;
    bool auth; /* the failure is about the token or a relay: "authentication failed" */
    /* HANDSHAKE_ERR_NOT_LEADER: the leader's HOST:PORT (checked), or "". */
    char leader[MSG_MAX_ADDR + 1];
};

/*
 * Starts a handshake with our fresh `nonce` (auth_nonce(); passed in so
 * tests can choose it). Copies cfg. The transcript's channel is zero until
 * handshake_set_channel().
 */
void handshake_init(struct handshake *h, const struct handshake_config *cfg,
                    const char nonce[AUTH_NONCE_HEX]);
/* Binds the proofs to a TLS session (its exporter value); call it before
 * our hello is sent or the peer's is read. */
void handshake_set_channel(struct handshake *h, const unsigned char channel[AUTH_HASH_BYTES]);
/* The session's tls-server-end-point value (the SHA-256 of the server's
 * certificate): used instead of the exporter when the dialer declares it
 * (an acceptor: a client's hello with "binding"; a dialer: end_point_binding).
 * Without it, such a hello is refused. */
void handshake_set_end_point(struct handshake *h, const unsigned char hash[AUTH_HASH_BYTES]);
/* The dialer's first move: appends our hello (one line) to out. */
void handshake_start(struct handshake *h, struct buf *out);
/*
 * Consumes one line from the peer: `line`/`len` its bytes as read (without
 * the newline), `m` the message msg_parse() made of them. Appends the lines
 * to send to out, and answers WAIT, OK (h->peer_hello holds the peer's hello,
 * moved out of m or kept from the first line) or FAIL (h->error_code, error,
 * event and auth say why; nothing is appended). m stays the caller's to
 * release; fields moved out of it are NULL. After OK or FAIL, further input
 * answers FAIL again.
 */
enum handshake_result handshake_input(struct handshake *h, struct msg *m, const char *line,
                                      size_t len, struct buf *out);
/* Frees what the handshake holds (the peer's hello). */
void handshake_release(struct handshake *h);

#endif
