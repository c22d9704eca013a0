/* SPDX-License-Identifier: MIT */
/*
 * The group's replication transport (group/transport.h): libuv TCP (in
 * TLS when the master has it, see below), and dtr's handshake on every
 * connection before raft gets the stream.
 *
 * One connection, dialer D (raft's sending side) and acceptor A (its
 * receiving side), with a token:
 *
 *   D -> A  hello (role master, id = D's raft id, addr = D's address)
 *   A -> D  hello, auth (A's proof)
 *   D -> A  auth (D's proof)            D: done, the stream goes to raft
 *   A reads D's auth line               A: done, the stream goes to raft
 *
 * and without tokens on either side the two hellos only. Raft writes its
 * messages right after D's last line, so they may arrive in the same TCP
 * segment as that line: the handshake must not read past it, or the first
 * bytes of raft's first message would be lost. C-Raft's uv transport reads
 * the stream itself once it has it (its own alloc/read callbacks), and
 * libuv cannot push bytes back, so both sides read the handshake one byte
 * per read(2) (the alloc callback offers a 1-byte buffer) and stop reading
 * inside the read callback that completes the last line: libuv's read loop
 * checks that the handle still reads before each read(2), so no byte past
 * the newline leaves the kernel's socket buffer. A handshake is a few
 * hundred bytes once per connection, and raft keeps its connections open,
 * so the extra system calls do not matter. The other direction needs no
 * care: C-Raft's accepting side never writes on an accepted stream, and its
 * dialing side never reads (and the byte-wise reading would cover it too).
 *
 * A is sure of D once D's proof verified; D is sure of A once A's proof
 * verified, before it sends its own. If A refuses D's proof (only a dialer
 * that lies can make it), A closes and D's raft sees the stream fail and
 * dials again later. Both ends set TCP_NODELAY (raft writes each message
 * with one writev, and Nagle would hold back a small AppendEntries behind an
 * unacknowledged one). Everything read before the handshake completes is
 * bounded (GROUP_TRANSPORT_MAX_LINE per line, the handshake deadline,
 * GROUP_TRANSPORT_MAX_PENDING incoming handshakes) and parsed by msg_parse.
 *
 * With TLS (the master's --tls-* context, group_transport_set_tls), every
 * connection is mutual TLS first (the dialer is the TLS client), verified
 * against the CA exactly as worker and client connections are, and the
 * handshake above runs inside it, its proofs bound to the session's channel
 * binding (tls_conn_binding) as in net/conn.c. The socket then never goes
 * to raft: raft gets one end of an AF_UNIX socketpair, and the pump (below)
 * encrypts what raft writes there to the peer and decrypts what the peer
 * sends to raft. So the handshake reads ahead freely (what follows the last
 * line is the pump's first bytes for raft). A TLS record where a plain
 * member expects a hello, or a hello where a TLS member expects a record,
 * is refused with a log line naming the mismatch.
 */
#include "group/transport.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/buf.h"
#include "common/list.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/util.h"
#include "net/handshake.h"
#include "net/tls.h"
#include "proto/msg.h"

#define ADDR_MAX 320
#define LOG_WINDOW_MS 10000
#define LOG_PER_WINDOW 10
#define READ_CHUNK 65536

struct gt {
    struct raft_uv_transport *t;
    uv_loop_t *loop;
    char *token;
    raft_id id;
    char id_str[24];
    char address[ADDR_MAX];
    uv_tcp_t listener;
    bool listener_open;
    raft_uv_accept_cb accept_cb;
    struct list pending; /* struct hs, oldest first, until done or aborted */
    unsigned pending_in; /* of which incoming */
    unsigned tearing;    /* struct hs whose handles are closing */
    bool closing;
    raft_uv_transport_close_cb close_cb;
    unsigned timeout_ms;
    uint64_t refused;
    uint64_t log_window; /* uv_now() when the current log window began */
    unsigned logged;     /* refusals logged in it */
    uint64_t suppressed; /* refusals not logged in it */
    struct tls_ctx *tls; /* NULL: plain TCP */
    struct list pumps;   /* struct pump, while open or closing */
    size_t pump_limit;   /* GROUP_TRANSPORT_PUMP_MAX, or a test's */
    uint64_t pauses;     /* times a pump stopped reading a side */
};

/* One connection in its handshake. */
struct hs {
    struct gt *gt;
    struct list node;
    bool dialer;
    bool ended;    /* done or aborted: later callbacks only count down */
    bool ok;       /* handshake passed; waiting for our last writes */
    bool started;  /* hs initialised */
    uv_tcp_t *tcp; /* raft_malloc'ed: raft frees it once it owns it */
    uv_timer_t timer;
    uv_connect_t connect;
    unsigned handles; /* of tcp and timer, not yet closed */
    unsigned writes;  /* in flight */
    struct handshake hs;
    char line[GROUP_TRANSPORT_MAX_LINE];
    size_t len;
    char byte;
    bool got_byte; /* any byte read yet (plain) */
    char peer[80]; /* "IP:PORT" for the log */
    /* TLS */
    struct tls_conn *tls; /* NULL: plain */
    bool tls_up;          /* the TLS handshake is complete */
    struct buf rest;      /* plaintext after the last handshake line: raft's */
    /* dialer */
    struct raft_uv_connect *req;
    raft_id target;
    /* acceptor, once done */
    raft_id peer_id;
    char peer_addr[ADDR_MAX];
};

struct wr {
    uv_write_t req;
    struct hs *hs;
    char data[];
};

static void hs_finish(struct hs *h);
static uv_stream_t *pump_start(struct hs *h);

/* Reads from a socket (TLS, the pump) go here: each is used up before the
 * next read (one thread, one loop). */
static char rd_buf[READ_CHUNK];
static char plain_buf[READ_CHUNK];

static void maybe_closed(struct gt *g)
{
    if (!g->closing || g->listener_open || g->tearing || !list_empty(&g->pending) ||
        !list_empty(&g->pumps) || !g->close_cb)
        return;
    raft_uv_transport_close_cb cb = g->close_cb;
    g->close_cb = NULL;
    cb(g->t);
}

/* Refusals are logged, at most LOG_PER_WINDOW per LOG_WINDOW_MS: whoever
 * reaches the port must not be able to fill the log. */
static void refused(struct hs *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refused(struct hs *h, const char *fmt, ...)
{
    struct gt *g = h->gt;
    uint64_t now = uv_now(g->loop);
    char why[512];
    va_list ap;
    g->refused++;
    if (now - g->log_window >= LOG_WINDOW_MS) {
        if (g->suppressed)
            log_warn("group transport: %" PRIu64 " more refused connections not logged",
                     g->suppressed);
        g->log_window = now;
        g->logged = 0;
        g->suppressed = 0;
    }
    if (g->logged >= LOG_PER_WINDOW) {
        g->suppressed++;
        return;
    }
    g->logged++;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    log_warn("group transport: refused a replication connection peer=%s direction=%s error=%s",
             h->peer, h->dialer ? "out" : "in", log_quote(why));
}

static void hs_freed(struct hs *h)
{
    struct gt *g = h->gt;
    if (h->started)
        handshake_release(&h->hs);
    tls_conn_free(h->tls);
    buf_release(&h->rest);
    free(h);
    g->tearing--;
    maybe_closed(g);
}

static void on_abort_closed(uv_handle_t *handle)
{
    struct hs *h = handle->data;
    if (--h->handles)
        return;
    if (h->dialer && h->req) {
        struct raft_uv_connect *req = h->req;
        h->req = NULL;
        req->cb(req, NULL, h->gt->closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
    }
    raft_free(h->tcp);
    hs_freed(h);
}

/* Closes h's connection; a dialer's request then fails. */
static void hs_abort(struct hs *h)
{
    if (h->ended)
        return;
    h->ended = true;
    list_del(&h->node);
    if (!h->dialer)
        h->gt->pending_in--;
    h->gt->tearing++;
    uv_close((uv_handle_t *)h->tcp, on_abort_closed);
    uv_close((uv_handle_t *)&h->timer, on_abort_closed);
}

static void on_timeout(uv_timer_t *timer)
{
    struct hs *h = timer->data;
    if (!h->started) /* still connecting: a member that is away */
        log_debug("group transport: cannot reach member %" PRIu64 " within %u ms",
                  (uint64_t)h->target, h->gt->timeout_ms);
    else
        refused(h, "no handshake within %u ms", h->gt->timeout_ms);
    hs_abort(h);
}

static struct hs *hs_new(struct gt *g, bool dialer)
{
    struct hs *h = xcalloc(1, sizeof(*h));
    h->gt = g;
    h->dialer = dialer;
    snprintf(h->peer, sizeof(h->peer), "?");
    h->tcp = raft_malloc(sizeof(*h->tcp));
    if (!h->tcp) {
        free(h);
        return NULL;
    }
    uv_tcp_init(g->loop, h->tcp);
    h->tcp->data = h;
    uv_timer_init(g->loop, &h->timer);
    h->timer.data = h;
    h->handles = 2;
    uv_timer_start(&h->timer, on_timeout, g->timeout_ms, 0);
    list_add_tail(&g->pending, &h->node);
    if (!dialer)
        g->pending_in++;
    return h;
}

static void on_write(uv_write_t *req, int status)
{
    struct wr *w = req->data;
    struct hs *h = w->hs;
    free(w);
    h->writes--;
    if (h->ended)
        return;
    if (status < 0) {
        refused(h, "write failed: %s", uv_strerror(status));
        hs_abort(h);
        return;
    }
    if (h->ok && !h->writes)
        hs_finish(h);
}

/* Sends out's bytes as they are (if any); false when h was aborted. */
static bool hs_send_raw(struct hs *h, const struct buf *out)
{
    if (!out->len)
        return true;
    struct wr *w = xmalloc(sizeof(*w) + out->len);
    memcpy(w->data, out->data, out->len);
    w->hs = h;
    w->req.data = w;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)out->len);
    int rc = uv_write(&w->req, (uv_stream_t *)h->tcp, &b, 1, on_write);
    if (rc < 0) {
        free(w);
        refused(h, "write failed: %s", uv_strerror(rc));
        hs_abort(h);
        return false;
    }
    h->writes++;
    return true;
}

/* Sends what the TLS session has for the peer; false when h was aborted. */
static bool tls_flush(struct hs *h)
{
    struct buf b = BUF_INIT;
    tls_conn_take(h->tls, &b);
    bool sent = hs_send_raw(h, &b);
    buf_release(&b);
    return sent;
}

/* Sends handshake lines: inside the TLS session when there is one. */
static bool hs_send(struct hs *h, const struct buf *out)
{
    char err[256];
    if (!h->tls)
        return hs_send_raw(h, out);
    if (tls_conn_write(h->tls, out->data, out->len, err, sizeof(err)) != 0) {
        refused(h, "TLS session failed: %s", err);
        hs_abort(h);
        return false;
    }
    return tls_flush(h);
}

/* Tells the peer why, if the socket takes it now, then hangs up. */
static void hs_refuse(struct hs *h, const char *text)
{
    struct buf b = BUF_INIT;
    char err[256];
    if (h->tls) {
        /* Inside the session once it is up; else the alert, if any. */
        if (h->tls_up) {
            struct buf line = BUF_INIT;
            msg_encode_error(&line, text);
            (void)tls_conn_write(h->tls, line.data, line.len, err, sizeof(err));
            buf_release(&line);
        }
        tls_conn_take(h->tls, &b);
    } else {
        msg_encode_error(&b, text);
    }
    uv_buf_t ub = uv_buf_init(b.data, (unsigned)b.len);
    (void)uv_try_write((uv_stream_t *)h->tcp, &ub, 1);
    buf_release(&b);
    hs_abort(h);
}

static void on_timer_closed(uv_handle_t *handle)
{
    hs_freed(handle->data);
}

/* ---- the pump (TLS) -------------------------------------------------------- */

/*
 * With TLS, raft gets one end of a socketpair and the pump serves the
 * other: what raft writes is encrypted to the peer, what the peer sends is
 * decrypted to raft. Each direction holds at most GROUP_TRANSPORT_PUMP_MAX bytes
 * that its destination has not taken (plus one read's worth): beyond that
 * the pump stops reading the source until half of it has left. When either
 * side ends or fails, the pump closes both, so raft sees its stream end
 * (and dials again) and the peer sees the connection end.
 */

struct pump {
    struct gt *g;
    struct list node;
    uv_tcp_t *tcp;        /* the peer: ciphertext (raft_malloc'ed by hs_new) */
    uv_pipe_t pipe;       /* raft's socketpair: plaintext */
    struct tls_conn *tls; /* the session */
    char peer[80];
    size_t to_peer, to_raft; /* bytes written, not yet taken by the kernel */
    bool tcp_paused, pipe_paused;
    bool closing;
    unsigned handles; /* open of tcp and pipe */
};

struct pw {
    uv_write_t req;
    struct pump *p;
    bool to_peer;
    size_t len;
    char *data; /* malloc'ed */
};

static void pump_closed(uv_handle_t *handle)
{
    struct pump *p = handle->data;
    if (--p->handles)
        return;
    struct gt *g = p->g;
    raft_free(p->tcp);
    tls_conn_free(p->tls);
    list_del(&p->node);
    free(p);
    maybe_closed(g);
}

static void pump_close(struct pump *p)
{
    if (p->closing)
        return;
    p->closing = true;
    uv_close((uv_handle_t *)p->tcp, pump_closed);
    uv_close((uv_handle_t *)&p->pipe, pump_closed);
}

/* The TLS session failed, or a write to the peer did: logged (the peer
 * passed the handshake, so it is a member and not rate-limited). */
static void pump_fail(struct pump *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pump_fail(struct pump *p, const char *fmt, ...)
{
    char why[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    log_warn("group transport: replication connection failed peer=%s error=%s", p->peer,
             log_quote(why));
    pump_close(p);
}

static void pump_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *b)
{
    (void)handle;
    (void)suggested;
    *b = uv_buf_init(rd_buf, sizeof(rd_buf));
}

static void pump_resume(struct pump *p);

static void pump_written(uv_write_t *req, int status)
{
    struct pw *w = req->data;
    struct pump *p = w->p;
    if (w->to_peer)
        p->to_peer -= w->len;
    else
        p->to_raft -= w->len;
    bool to_peer = w->to_peer;
    free(w->data);
    free(w);
    if (p->closing)
        return;
    if (status < 0) {
        if (to_peer)
            pump_fail(p, "write failed: %s", uv_strerror(status));
        else /* raft closed its end */
            pump_close(p);
        return;
    }
    pump_resume(p);
}

/* Writes len bytes of data (malloc'ed; now the pump's) to the peer or to
 * raft. False when the pump is closing. */
static bool pump_write(struct pump *p, bool to_peer, char *data, size_t len)
{
    if (!len) {
        free(data);
        return true;
    }
    struct pw *w = xmalloc(sizeof(*w));
    w->p = p;
    w->to_peer = to_peer;
    w->len = len;
    w->data = data;
    w->req.data = w;
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    uv_stream_t *s = to_peer ? (uv_stream_t *)p->tcp : (uv_stream_t *)&p->pipe;
    int rc = uv_write(&w->req, s, &b, 1, pump_written);
    if (rc < 0) {
        free(data);
        free(w);
        if (to_peer)
            pump_fail(p, "write failed: %s", uv_strerror(rc));
        else
            pump_close(p);
        return false;
    }
    if (to_peer)
        p->to_peer += len;
    else
        p->to_raft += len;
    return true;
}

/* Sends the session's ciphertext to the peer. */
static bool pump_flush(struct pump *p)
{
    struct buf b = BUF_INIT;
    size_t len;
    tls_conn_take(p->tls, &b);
    if (!b.len) {
        buf_release(&b);
        return true;
    }
    char *data = buf_detach(&b, &len);
    return pump_write(p, true, data, len);
}

static void pump_read_peer(uv_stream_t *s, ssize_t n, const uv_buf_t *b);
static void pump_read_raft(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

/* Back-pressure: each source reads while its destination has room. */
static void pump_resume(struct pump *p)
{
    size_t limit = p->g->pump_limit;
    if (p->tcp_paused && p->to_raft <= limit / 2) {
        p->tcp_paused = false;
        uv_read_start((uv_stream_t *)p->tcp, pump_alloc, pump_read_peer);
    }
    if (p->pipe_paused && p->to_peer <= limit / 2) {
        p->pipe_paused = false;
        uv_read_start((uv_stream_t *)&p->pipe, pump_alloc, pump_read_raft);
    }
}

static void pump_throttle(struct pump *p)
{
    size_t limit = p->g->pump_limit;
    if (!p->tcp_paused && p->to_raft > limit) {
        p->tcp_paused = true;
        p->g->pauses++;
        uv_read_stop((uv_stream_t *)p->tcp);
    }
    if (!p->pipe_paused && p->to_peer > limit) {
        p->pipe_paused = true;
        p->g->pauses++;
        uv_read_stop((uv_stream_t *)&p->pipe);
    }
}

/* Decrypts what the session holds to raft. False when the pump closes. */
static bool pump_decrypt(struct pump *p)
{
    char why[256];
    for (;;) {
        ssize_t r = tls_conn_read(p->tls, plain_buf, sizeof(plain_buf), why, sizeof(why));
        if (r == 0)
            return pump_flush(p); /* anything OpenSSL answered */
        if (r == -ECONNRESET) {
            log_debug("group transport: the peer ended the TLS session peer=%s", p->peer);
            pump_close(p);
            return false;
        }
        if (r < 0) {
            pump_fail(p, "TLS session failed: %s", why);
            return false;
        }
        char *data = xmalloc((size_t)r);
        memcpy(data, plain_buf, (size_t)r);
        if (!pump_write(p, false, data, (size_t)r))
            return false;
    }
}

/* Ciphertext from the peer. */
static void pump_read_peer(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct pump *p = s->data;
    if (p->closing || n == 0)
        return;
    if (n < 0) {
        if (n == UV_EOF)
            log_debug("group transport: replication connection closed peer=%s", p->peer);
        else
            log_debug("group transport: replication connection failed peer=%s error=%s", p->peer,
                      log_quote(uv_strerror((int)n)));
        pump_close(p);
        return;
    }
    tls_conn_feed(p->tls, b->base, (size_t)n);
    if (pump_decrypt(p))
        pump_throttle(p);
}

/* Plaintext from raft. */
static void pump_read_raft(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct pump *p = s->data;
    char why[256];
    if (p->closing || n == 0)
        return;
    if (n < 0) { /* raft closed its stream (or it failed): so does the pump */
        pump_close(p);
        return;
    }
    if (tls_conn_write(p->tls, b->base, (size_t)n, why, sizeof(why)) != 0) {
        pump_fail(p, "TLS session failed: %s", why);
        return;
    }
    if (pump_flush(p))
        pump_throttle(p);
}

static void raft_free_handle(uv_handle_t *handle)
{
    raft_free(handle);
}

/* A pump that never started: freed once its pipe handle closed. */
static void free_handle_data(uv_handle_t *handle)
{
    free(handle->data);
}

/* h's handshakes passed: makes the socketpair and the pump, and returns
 * raft's end (raft_malloc'ed), or NULL with h aborted. */
static uv_stream_t *pump_start(struct hs *h)
{
    struct gt *g = h->gt;
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        refused(h, "cannot make a socketpair: %s", strerror(errno));
        hs_abort(h);
        return NULL;
    }
    uv_pipe_t *theirs = raft_malloc(sizeof(*theirs));
    int rc = theirs ? 0 : UV_ENOMEM;
    if (theirs) {
        uv_pipe_init(g->loop, theirs, 0);
        if ((rc = uv_pipe_open(theirs, fds[0])) < 0) {
            close(fds[0]);
            uv_close((uv_handle_t *)theirs, raft_free_handle);
        }
    } else {
        close(fds[0]);
    }
    if (rc < 0) {
        close(fds[1]);
        refused(h, "cannot open a socketpair: %s", uv_strerror(rc));
        hs_abort(h);
        return NULL;
    }
    struct pump *p = xcalloc(1, sizeof(*p));
    uv_pipe_init(g->loop, &p->pipe, 0);
    if ((rc = uv_pipe_open(&p->pipe, fds[1])) < 0) {
        close(fds[1]);
        p->pipe.data = p;
        uv_close((uv_handle_t *)&p->pipe, free_handle_data);
        uv_close((uv_handle_t *)theirs, raft_free_handle);
        refused(h, "cannot open a socketpair: %s", uv_strerror(rc));
        hs_abort(h);
        return NULL;
    }
    p->g = g;
    p->tcp = h->tcp;
    p->tls = h->tls;
    p->tcp->data = p;
    p->pipe.data = p;
    snprintf(p->peer, sizeof(p->peer), "%s", h->peer);
    p->handles = 2;
    list_add_tail(&g->pumps, &p->node);
    /* What came after the last handshake line is raft's, then the rest. */
    size_t len;
    char *rest = buf_detach(&h->rest, &len);
    if (pump_write(p, false, rest, len)) {
        uv_read_start((uv_stream_t *)p->tcp, pump_alloc, pump_read_peer);
        uv_read_start((uv_stream_t *)&p->pipe, pump_alloc, pump_read_raft);
        pump_throttle(p);
    }
    return (uv_stream_t *)theirs;
}

/* The handshake passed and our lines are out: the stream is raft's (with
 * TLS, raft's end of a socketpair whose other end the pump serves). */
static void hs_finish(struct hs *h)
{
    struct gt *g = h->gt;
    uv_stream_t *stream = (uv_stream_t *)h->tcp;
    if (h->tls && !(stream = pump_start(h)))
        return;
    h->ended = true;
    list_del(&h->node);
    if (!h->dialer)
        g->pending_in--;
    g->tearing++;
    if (!h->tls) {
        uv_read_stop(stream);
        stream->data = NULL;
    }
    h->tcp = NULL;
    h->tls = NULL;
    uv_timer_stop(&h->timer);
    /* h (and peer_addr) lives until the timer's close callback. */
    uv_close((uv_handle_t *)&h->timer, on_timer_closed);
    if (h->dialer) {
        struct raft_uv_connect *req = h->req;
        h->req = NULL;
        req->cb(req, stream, 0);
    } else {
        g->accept_cb(g->t, h->peer_id, h->peer_addr, stream);
    }
}

/* The peer's hello passed the handshake: is it the member we can name? */
static bool check_peer(struct hs *h, const struct msg *hello, char *why, size_t whylen)
{
    int64_t id;
    if (!hello->id || int_parse(hello->id, 1, INT64_MAX, &id) != 0) {
        snprintf(why, whylen, "the peer's hello has no raft id (field 'id' must be a number)");
        return false;
    }
    if (h->dialer) {
        if ((raft_id)id != h->target) {
            snprintf(why, whylen, "dialed member %" PRIu64 " but member %" PRId64 " answered",
                     (uint64_t)h->target, id);
            return false;
        }
        return true;
    }
    char host[ADDR_HOST_MAX];
    int port;
    if (!hello->addr || addr_parse(hello->addr, host, sizeof(host), &port) != 0) {
        snprintf(why, whylen, "the peer's hello has no replication address (field 'addr')");
        return false;
    }
    h->peer_id = (raft_id)id;
    snprintf(h->peer_addr, sizeof(h->peer_addr), "%s", hello->addr);
    return true;
}

static void on_line(struct hs *h)
{
    struct msg m;
    char err[512];
    if (h->len == 0)
        return;
    if (msg_parse(h->line, h->len, &m, err, sizeof(err)) != 0) {
        refused(h, "%s", err);
        hs_refuse(h, err);
        return;
    }
    struct buf out = BUF_INIT;
    enum handshake_result r = handshake_input(&h->hs, &m, h->line, h->len, &out);
    msg_release(&m);
    h->len = 0;
    if (r == HANDSHAKE_FAIL) {
        buf_release(&out);
        if (h->hs.error_code == HANDSHAKE_ERR_PEER)
            refused(h, "the peer refused: %s", h->hs.error);
        else
            refused(h, "%s", h->hs.error);
        if (h->hs.error_code == HANDSHAKE_ERR_PEER)
            hs_abort(h);
        else
            hs_refuse(h, h->hs.error);
        return;
    }
    if (r == HANDSHAKE_OK) {
        if (!check_peer(h, &h->hs.peer_hello, err, sizeof(err))) {
            buf_release(&out);
            refused(h, "%s", err);
            hs_refuse(h, err);
            return;
        }
        /* Not one byte more: what follows is raft's. */
        uv_read_stop((uv_stream_t *)h->tcp);
        h->ok = true;
    }
    bool sent = hs_send(h, &out);
    buf_release(&out);
    /* With TLS, on_read_tls() finishes once it has kept the rest. */
    if (sent && h->ok && !h->writes && !h->tls)
        hs_finish(h);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *b)
{
    struct hs *h = handle->data;
    (void)suggested;
    /* With TLS the stream never goes to raft, so it may read ahead. */
    if (h->tls)
        *b = uv_buf_init(rd_buf, sizeof(rd_buf));
    else
        *b = uv_buf_init(&h->byte, 1);
}

/* One byte of a handshake line. */
static void hs_byte(struct hs *h, char c)
{
    if (c == '\n') {
        on_line(h);
        return;
    }
    if (h->len >= sizeof(h->line)) {
        refused(h, "a handshake line longer than %d bytes", GROUP_TRANSPORT_MAX_LINE);
        hs_refuse(h, "handshake line too long");
        return;
    }
    h->line[h->len++] = c;
}

/* The TLS handshake completed: dtr's starts inside it, bound to it. */
static bool tls_established(struct hs *h)
{
    unsigned char channel[AUTH_HASH_BYTES];
    h->tls_up = true;
    if (tls_conn_binding(h->tls, channel) != 0) {
        refused(h, "TLS handshake failed: no channel binding from the TLS session");
        hs_abort(h);
        return false;
    }
    handshake_set_channel(&h->hs, channel);
    log_debug("group transport: TLS established peer=%s", h->peer);
    if (!h->dialer)
        return true;
    struct buf out = BUF_INIT;
    handshake_start(&h->hs, &out);
    bool sent = hs_send(h, &out);
    buf_release(&out);
    return sent;
}

/* Ciphertext from the peer during the handshakes. Plaintext after the last
 * handshake line is raft's: kept in h->rest for the pump. */
static void on_read_tls(struct hs *h, const char *data, size_t n)
{
    char why[256];
    tls_conn_feed(h->tls, data, n);
    if (!h->tls_up) {
        int rc = tls_conn_handshake(h->tls, why, sizeof(why));
        if (rc < 0) {
            refused(h, "TLS handshake failed: %s", why);
            hs_refuse(h, why); /* sends OpenSSL's alert */
            return;
        }
        if (!tls_flush(h) || rc == 0)
            return;
        if (!tls_established(h))
            return;
    }
    /* At most what was fed comes out, so h->rest stays within a read. */
    for (;;) {
        ssize_t r = tls_conn_read(h->tls, plain_buf, sizeof(plain_buf), why, sizeof(why));
        if (r == 0)
            break;
        if (r < 0) {
            refused(h, "%s during the handshake",
                    r == -ECONNRESET ? "TLS session closed" : "TLS session failed");
            hs_abort(h);
            return;
        }
        for (ssize_t i = 0; i < r; i++) {
            if (h->ok) {
                buf_add(&h->rest, plain_buf + i, (size_t)(r - i));
                break;
            }
            hs_byte(h, plain_buf[i]);
            if (h->ended)
                return;
        }
    }
    if (!tls_flush(h))
        return;
    if (h->ok && !h->writes)
        hs_finish(h);
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *b)
{
    struct hs *h = stream->data;
    if (h->ended || h->ok || n == 0)
        return;
    if (n < 0) {
        refused(h, "%s during the %s", n == UV_EOF ? "connection closed" : uv_strerror((int)n),
                h->tls && !h->tls_up ? "TLS handshake (does the peer run without --tls-ca?)"
                                     : "handshake");
        hs_abort(h);
        return;
    }
    if (h->tls) {
        on_read_tls(h, b->base, (size_t)n);
        return;
    }
    /* A TLS record (handshake 0x16, alert 0x15) where a hello should be:
     * the peer runs with TLS and we do not. */
    if (!h->got_byte && (h->byte == 0x16 || h->byte == 0x15)) {
        refused(h, "the peer speaks TLS but this member runs without --tls-ca");
        hs_abort(h);
        return;
    }
    h->got_byte = true;
    hs_byte(h, h->byte);
}

static void fill_hello(struct msg *hello, void *data)
{
    struct gt *g = data;
    hello->addr = g->address;
}

static bool other_nonce(const char *nonce, void *data)
{
    const struct gt *g = data;
    for (const struct list *p = g->pending.next; p != &g->pending; p = p->next) {
        const struct hs *o = list_entry(p, const struct hs, node);
        if (o->started && !strcasecmp(o->hs.nonce, nonce))
            return true;
    }
    return false;
}

static void hs_start(struct hs *h)
{
    struct gt *g = h->gt;
    struct handshake_config cfg = {
        .dialer = h->dialer,
        .role = "master",
        .id = g->id_str,
        .token = g->token,
        .accept_roles = HANDSHAKE_ROLE_MASTER,
        .fill_hello = fill_hello,
        .fill_data = g,
        .own_nonce = other_nonce,
        .own_nonce_data = g,
    };
    char nonce[AUTH_NONCE_HEX];
    auth_nonce(nonce);
    handshake_init(&h->hs, &cfg, nonce);
    h->started = true;
}

static void peer_name(struct hs *h)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char ip[64] = "?";
    int port = 0;
    if (uv_tcp_getpeername(h->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
        snprintf(h->peer, sizeof(h->peer), "[%s]:%d", ip, port);
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, sizeof(ip));
        port = ntohs(a->sin_port);
        snprintf(h->peer, sizeof(h->peer), "%s:%d", ip, port);
    }
}

/* ---- raft_uv_transport ---------------------------------------------------- */

/* HOST:PORT to a socket address. A numeric host needs no lookup; a name is
 * resolved with getaddrinfo() on the loop, as conn_dial() does (so /etc/hosts
 * names or numeric addresses keep a member's redials from waiting on DNS). */
static int parse_sockaddr(const char *address, struct sockaddr_storage *ss)
{
    char host[ADDR_HOST_MAX];
    char ports[16];
    int port;
    struct addrinfo hints, *res = NULL;
    if (addr_parse(address, host, sizeof(host), &port) != 0)
        return -1;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(ports, sizeof(ports), "%d", port);
    if (getaddrinfo(host, ports, &hints, &res) != 0 || !res)
        return -1;
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, res->ai_addr, res->ai_addrlen < sizeof(*ss) ? res->ai_addrlen : sizeof(*ss));
    freeaddrinfo(res);
    return 0;
}

static int gt_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    struct gt *g = t->impl;
    if (!id || !address || strlen(address) >= sizeof(g->address)) {
        snprintf(t->errmsg, sizeof(t->errmsg), "bad raft id or address");
        return RAFT_INVALID;
    }
    g->id = id;
    snprintf(g->id_str, sizeof(g->id_str), "%" PRIu64, (uint64_t)id);
    snprintf(g->address, sizeof(g->address), "%s", address);
    return 0;
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct gt *g = listener->data;
    if (status < 0) {
        log_warn("group transport: accept failed error=%s", log_quote(uv_strerror(status)));
        return;
    }
    if (g->pending_in >= GROUP_TRANSPORT_MAX_PENDING) {
        /* Evict the oldest incoming handshake: a newer one may be a member. */
        for (struct list *p = g->pending.next; p != &g->pending; p = p->next) {
            struct hs *o = list_entry(p, struct hs, node);
            if (!o->dialer) {
                refused(o, "too many connections in their handshake (limit %d)",
                        GROUP_TRANSPORT_MAX_PENDING);
                hs_refuse(o, "too many connections in their handshake; try again later");
                break;
            }
        }
    }
    struct hs *h = hs_new(g, false);
    if (!h) {
        log_warn("group transport: out of memory accepting a connection");
        return;
    }
    int rc = uv_accept(listener, (uv_stream_t *)h->tcp);
    if (rc < 0) {
        log_warn("group transport: accept failed error=%s", log_quote(uv_strerror(rc)));
        hs_abort(h);
        return;
    }
    peer_name(h);
    uv_tcp_nodelay(h->tcp, 1);
    hs_start(h);
    if (g->tls)
        h->tls = tls_conn_new(g->tls, true);
    rc = uv_read_start((uv_stream_t *)h->tcp, on_alloc, on_read);
    if (rc < 0) {
        refused(h, "cannot read: %s", uv_strerror(rc));
        hs_abort(h);
    }
}

static int gt_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct gt *g = t->impl;
    struct sockaddr_storage ss;
    int rc;
    if (parse_sockaddr(g->address, &ss) != 0) {
        snprintf(t->errmsg, sizeof(t->errmsg),
                 "cannot resolve replication address '%.200s' (HOST:PORT)", g->address);
        return RAFT_INVALID;
    }
    g->accept_cb = cb;
    uv_tcp_init(g->loop, &g->listener);
    g->listener.data = g;
    g->listener_open = true;
    if ((rc = uv_tcp_bind(&g->listener, (struct sockaddr *)&ss, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&g->listener, 128, on_connection)) < 0) {
        snprintf(t->errmsg, sizeof(t->errmsg), "cannot listen on %.200s: %s", g->address,
                 uv_strerror(rc));
        return RAFT_IOERR;
    }
    return 0;
}

static void on_connected(uv_connect_t *req, int status)
{
    struct hs *h = req->data;
    if (h->ended)
        return;
    if (status < 0) {
        /* A member that is down: raft dials again later. Not a refusal. */
        log_debug("group transport: cannot reach member %" PRIu64 " error=%s", (uint64_t)h->target,
                  log_quote(uv_strerror(status)));
        hs_abort(h);
        return;
    }
    peer_name(h);
    uv_tcp_nodelay(h->tcp, 1);
    hs_start(h);
    if (h->gt->tls) {
        /* TLS first (our ClientHello); our hello once it is up. */
        char why[256];
        h->tls = tls_conn_new(h->gt->tls, false);
        if (tls_conn_handshake(h->tls, why, sizeof(why)) < 0) {
            refused(h, "TLS handshake failed: %s", why);
            hs_abort(h);
            return;
        }
        if (!tls_flush(h))
            return;
    } else {
        struct buf out = BUF_INIT;
        handshake_start(&h->hs, &out);
        bool sent = hs_send(h, &out);
        buf_release(&out);
        if (!sent)
            return;
    }
    int rc = uv_read_start((uv_stream_t *)h->tcp, on_alloc, on_read);
    if (rc < 0) {
        refused(h, "cannot read: %s", uv_strerror(rc));
        hs_abort(h);
    }
}

static int gt_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                      const char *address, raft_uv_connect_cb cb)
{
    struct gt *g = t->impl;
    struct sockaddr_storage ss;
    if (g->closing)
        return RAFT_CANCELED;
    if (parse_sockaddr(address, &ss) != 0) {
        snprintf(t->errmsg, sizeof(t->errmsg),
                 "cannot resolve member %" PRIu64 "'s address '%.200s' (HOST:PORT)", (uint64_t)id,
                 address);
        return RAFT_NOCONNECTION;
    }
    struct hs *h = hs_new(g, true);
    if (!h) {
        snprintf(t->errmsg, sizeof(t->errmsg), "out of memory");
        return RAFT_NOMEM;
    }
    snprintf(h->peer, sizeof(h->peer), "%s", address);
    req->cb = cb;
    h->target = id;
    h->connect.data = h;
    int rc = uv_tcp_connect(&h->connect, h->tcp, (struct sockaddr *)&ss, on_connected);
    if (rc < 0) {
        snprintf(t->errmsg, sizeof(t->errmsg), "connect to %.200s: %s", address, uv_strerror(rc));
        hs_abort(h); /* without req: raft is told by the return value */
        return RAFT_NOCONNECTION;
    }
    h->req = req;
    return 0;
}

static void on_listener_closed(uv_handle_t *handle)
{
    struct gt *g = handle->data;
    g->listener_open = false;
    maybe_closed(g);
}

static void gt_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    struct gt *g = t->impl;
    g->closing = true;
    g->close_cb = cb;
    while (!list_empty(&g->pending))
        hs_abort(list_entry(g->pending.next, struct hs, node));
    for (struct list *q = g->pumps.next; q != &g->pumps; q = q->next)
        pump_close(list_entry(q, struct pump, node));
    if (g->listener_open && !uv_is_closing((uv_handle_t *)&g->listener))
        uv_close((uv_handle_t *)&g->listener, on_listener_closed);
    maybe_closed(g);
}

/* ---- API ------------------------------------------------------------------ */

int group_transport_init(struct raft_uv_transport *t, uv_loop_t *loop, const char *token, char *err,
                         size_t errlen)
{
    void *data = t->data;
    if (auth_init() != 0) {
        snprintf(err, errlen, "cannot initialise libsodium");
        return -1;
    }
    memset(t, 0, sizeof(*t));
    t->data = data;
    struct gt *g = xcalloc(1, sizeof(*g));
    g->t = t;
    g->loop = loop;
    g->token = token ? xstrdup(token) : NULL;
    g->timeout_ms = GROUP_TRANSPORT_TIMEOUT_MS;
    g->pump_limit = GROUP_TRANSPORT_PUMP_MAX;
    list_init(&g->pending);
    list_init(&g->pumps);
    t->impl = g;
    t->init = gt_init;
    t->listen = gt_listen;
    t->connect = gt_connect;
    t->close = gt_close;
    return 0;
}

void group_transport_close(struct raft_uv_transport *t)
{
    struct gt *g = t->impl;
    if (!g)
        return;
    if (g->token)
        explicit_bzero(g->token, strlen(g->token));
    free(g->token);
    free(g);
    t->impl = NULL;
}

void group_transport_set_tls(struct raft_uv_transport *t, struct tls_ctx *tls)
{
    struct gt *g = t->impl;
    g->tls = tls;
}

void group_transport_set_timeout(struct raft_uv_transport *t, unsigned ms)
{
    struct gt *g = t->impl;
    g->timeout_ms = ms ? ms : 1;
}

uint64_t group_transport_refused(const struct raft_uv_transport *t)
{
    const struct gt *g = t->impl;
    return g->refused;
}

void group_transport_set_pump_limit(struct raft_uv_transport *t, size_t bytes)
{
    struct gt *g = t->impl;
    g->pump_limit = bytes ? bytes : 1;
}

uint64_t group_transport_pauses(const struct raft_uv_transport *t)
{
    const struct gt *g = t->impl;
    return g->pauses;
}
