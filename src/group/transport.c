/* SPDX-License-Identifier: MIT */
/*
 * The group's replication transport (group/transport.h): plain libuv TCP,
 * and dtr's handshake on every connection before raft gets the stream.
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
 */
#include "group/transport.h"

#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/auth.h"
#include "common/buf.h"
#include "common/list.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/util.h"
#include "net/handshake.h"
#include "proto/msg.h"

#define ADDR_MAX 320
#define LOG_WINDOW_MS 10000
#define LOG_PER_WINDOW 10

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
    char peer[80]; /* "IP:PORT" for the log */
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

static void maybe_closed(struct gt *g)
{
    if (!g->closing || g->listener_open || g->tearing || !list_empty(&g->pending) || !g->close_cb)
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

/* Sends out's bytes (if any); false when h was aborted. */
static bool hs_send(struct hs *h, const struct buf *out)
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

/* Tells the peer why, if the socket takes it now, then hangs up. */
static void hs_refuse(struct hs *h, const char *text)
{
    struct buf b = BUF_INIT;
    msg_encode_error(&b, text);
    uv_buf_t ub = uv_buf_init(b.data, (unsigned)b.len);
    (void)uv_try_write((uv_stream_t *)h->tcp, &ub, 1);
    buf_release(&b);
    hs_abort(h);
}

static void on_timer_closed(uv_handle_t *handle)
{
    hs_freed(handle->data);
}

/* The handshake passed and our lines are out: the stream is raft's. */
static void hs_finish(struct hs *h)
{
    struct gt *g = h->gt;
    uv_stream_t *stream = (uv_stream_t *)h->tcp;
    h->ended = true;
    list_del(&h->node);
    if (!h->dialer)
        g->pending_in--;
    g->tearing++;
    uv_read_stop(stream);
    stream->data = NULL;
    h->tcp = NULL;
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
    if (sent && h->ok && !h->writes)
        hs_finish(h);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *b)
{
    struct hs *h = handle->data;
    (void)suggested;
    *b = uv_buf_init(&h->byte, 1);
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *b)
{
    struct hs *h = stream->data;
    (void)b;
    if (h->ended || h->ok || n == 0)
        return;
    if (n < 0) {
        refused(h, "%s during the handshake",
                n == UV_EOF ? "connection closed" : uv_strerror((int)n));
        hs_abort(h);
        return;
    }
    if (h->byte == '\n') {
        on_line(h);
        return;
    }
    if (h->len >= sizeof(h->line)) {
        refused(h, "a handshake line longer than %d bytes", GROUP_TRANSPORT_MAX_LINE);
        hs_refuse(h, "handshake line too long");
        return;
    }
    h->line[h->len++] = h->byte;
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
    struct buf out = BUF_INIT;
    handshake_start(&h->hs, &out);
    bool sent = hs_send(h, &out);
    buf_release(&out);
    if (!sent)
        return;
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
    list_init(&g->pending);
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
