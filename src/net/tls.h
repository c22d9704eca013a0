/* SPDX-License-Identifier: MIT */
/*
 * Optional TLS (OpenSSL) under the dtr protocol: one context per process
 * made from three PEM files (our certificate, its key, the cluster CA), and
 * two ways to run a session on it:
 *
 * - tls_conn, for the event loop (net/conn.c): the SSL object works on two
 *   memory BIOs and never touches a socket. The caller feeds ciphertext it
 *   read (tls_conn_feed), advances the handshake, reads plaintext, writes
 *   plaintext, and sends what tls_conn_take() hands it. So libuv keeps doing
 *   all I/O and conn.c keeps its write queue.
 * - tls_sock, for the CLI's blocking client: SSL on the socket itself.
 *
 * Every session is TLS 1.2 or newer and mutual: both sides present their
 * certificate and refuse a peer whose certificate does not chain to the CA.
 * Host names are not checked: any certificate the cluster CA signed is a
 * member of the cluster (docs/protocol.md, section 1). This module does not
 * log; errors come back as text for the caller to log or print.
 */
#ifndef DTR_NET_TLS_H
#define DTR_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/buf.h"
#include "common/opts.h"

struct tls_ctx;
struct tls_conn;
struct tls_sock;

/* The three flags of every node and client command, for struct opt tables. */
/* Kept as written: clang-format cannot lay out flag tables in a macro. */
/* clang-format off */
#define TLS_OPTS(cert, key, ca)                                                                \
    {"tls-cert", 0, OPT_STRING, &(cert), "FILE",                                               \
     "this node's TLS certificate (PEM; with --tls-key and --tls-ca)", 0, 0},                  \
    {"tls-key", 0, OPT_STRING, &(key), "FILE", "the private key of --tls-cert (PEM)", 0, 0},   \
    {"tls-ca", 0, OPT_STRING, &(ca), "FILE",                                                   \
     "turn TLS on: peers must present a certificate signed by this CA (PEM)", 0, 0}
/* clang-format on */

/*
 * Checks that the TLS flags come all together or not at all: 0 (tls_on says
 * which), or DTR_EINVAL with one line in err naming the missing flag.
 */
int tls_flags_check(const char *cert, const char *key, const char *ca, bool *tls_on, char *err,
                    size_t errlen);

/*
 * Makes the context from PEM files: cert (our certificate, possibly followed
 * by intermediates), key (its private key, not encrypted) and ca (the
 * certificates a peer's certificate must chain to). When all three are NULL,
 * TLS is off: returns 0 with *out NULL. Otherwise returns 0 with *out set
 * (free it with tls_ctx_free), or DTR_EINVAL with err naming the flag or the
 * file that is missing, unreadable or wrong.
 */
int tls_ctx_new(const char *cert, const char *key, const char *ca, struct tls_ctx **out, char *err,
                size_t errlen);
/* Frees the context; sessions made from it may outlive it. NULL is fine. */
void tls_ctx_free(struct tls_ctx *t);

/* ---- sessions on memory buffers (the event loop) -------------------------- */

/* A session for one connection: server is true on the accepting side. Out
 * of memory aborts. Free with tls_conn_free. */
struct tls_conn *tls_conn_new(struct tls_ctx *t, bool server);
void tls_conn_free(struct tls_conn *tc);
/* Hands over ciphertext received from the peer (copied; len < 2 GiB). */
void tls_conn_feed(struct tls_conn *tc, const void *data, size_t len);
/*
 * Advances the handshake with what was fed. Returns 1 once it is complete,
 * 0 while it needs more bytes from the peer, or DTR_EPROTO with the reason
 * in err (the peer's certificate was refused, the peer refused ours, the
 * peer does not speak TLS...). Either way, send what tls_conn_take() gives:
 * handshake messages, or the alert that tells the peer why.
 */
int tls_conn_handshake(struct tls_conn *tc, char *err, size_t errlen);
/*
 * Decrypts fed bytes into dst (at most cap). Returns the number of bytes,
 * 0 when it needs more ciphertext, -ECONNRESET when the peer ended the
 * session (close_notify), or DTR_EPROTO with the reason in err. Call it
 * until it returns 0: one feed may hold several records. Afterwards send
 * what tls_conn_take() gives (OpenSSL may have answered something).
 */
ssize_t tls_conn_read(struct tls_conn *tc, void *dst, size_t cap, char *err, size_t errlen);
/* Encrypts len bytes of plaintext (handshake complete). Returns 0, or
 * DTR_EPROTO with err. */
int tls_conn_write(struct tls_conn *tc, const void *data, size_t len, char *err, size_t errlen);
/*
 * The session's channel binding: 32 bytes that both ends of this TLS
 * session, and no other session, derive (a TLS exporter). The token
 * handshake binds its proofs to it, so a proof cannot be relayed from one
 * TLS session into another. Returns 0, or DTR_EPROTO before the handshake
 * is complete.
 */
#define TLS_BINDING_BYTES 32
int tls_conn_binding(struct tls_conn *tc, unsigned char out[TLS_BINDING_BYTES]);
int tls_sock_binding(struct tls_sock *s, unsigned char out[TLS_BINDING_BYTES]);
/*
 * The tls-server-end-point channel binding (docs/protocol.md section 3):
 * SHA-256 of the DER certificate the server side of this session presented:
 * our own on the server side, the peer's on the client side. What a client
 * without access to the exporter (Python's ssl module) binds its proof to.
 * Returns 0, or DTR_EPROTO when there is no such certificate.
 */
int tls_conn_end_point(struct tls_conn *tc, unsigned char out[TLS_BINDING_BYTES]);
int tls_sock_end_point(struct tls_sock *s, unsigned char out[TLS_BINDING_BYTES]);
/* Bytes of ciphertext waiting to be sent to the peer. */
size_t tls_conn_pending(struct tls_conn *tc);
/* Moves every waiting byte of ciphertext to the end of out. */
void tls_conn_take(struct tls_conn *tc, struct buf *out);

/* ---- sessions on a socket (the CLI) ---------------------------------------- */

/*
 * Runs the client side of the handshake on fd (connected, non-blocking),
 * waiting at most timeout_ms. Returns the session, or NULL with the reason
 * in err. The caller still owns fd and closes it after tls_sock_free.
 */
struct tls_sock *tls_sock_connect(struct tls_ctx *t, int fd, int timeout_ms, char *err,
                                  size_t errlen);
/* Sends a close_notify when it can without blocking, and frees the session. */
void tls_sock_free(struct tls_sock *s);
/*
 * Reads or writes up to len bytes without blocking. Returns the number of
 * bytes (> 0); 0 when the call would block, with *events set to the poll()
 * events to wait for before trying again; -1 when the peer closed the
 * session or on error, with the reason in err.
 */
ssize_t tls_sock_read(struct tls_sock *s, void *dst, size_t len, short *events, char *err,
                      size_t errlen);
ssize_t tls_sock_write(struct tls_sock *s, const void *src, size_t len, short *events, char *err,
                       size_t errlen);
/* True when decrypted bytes are waiting inside the session: read them
 * before waiting on the socket. */
bool tls_sock_pending(struct tls_sock *s);

#endif
