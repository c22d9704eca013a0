/* SPDX-License-Identifier: MIT */
/*
 * Connections: libuv TCP streams with line framing, the handshake, a
 * bounded write queue flushed in one write per turn, and one close path.
 * It checks who the peer is; what the peer says afterwards is the owner's
 * business (ops->message). With TLS on, the TLS session (net/tls.c) sits
 * between the socket and everything else here; OpenSSL never sees the socket.
 */
#include "net/conn.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/util.h"
#include "net/tls.h"
#include "sched/metrics.h"

#define READ_CHUNK (64 * 1024)
/* An output buffer larger than this is freed once written. */
#define KEEP_OUT_BYTES (1024 * 1024)

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void start_write(struct conn *c);
static void preauth_leave(struct conn *c);
static void input_account(struct conn *c);

void conn_hub_init(struct conn_hub *hub, uv_loop_t *loop, const char *role, const char *id,
                   const char *token)
{
    memset(hub, 0, sizeof(*hub));
    hub->loop = loop;
    hub->role = role;
    hub->id = id;
    hub->token = token;
    hub->handshake_ms = 10000;
    hub->max_conns = 20000;
    list_init(&hub->all);
    list_init(&hub->dirty);
    list_init(&hub->timed);
    list_init(&hub->held);
    list_init(&hub->resume);
}

/* ---- sources: unauthenticated connections and log limits --------------------- */

static uint32_t source_hash(const unsigned char *key)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    return h;
}

/* The slot of key in hub->sources, or a free slot for it when add is set
 * (count 0: the caller claims it by counting); NULL when there is none. */
static struct conn_source *source_find(struct conn_hub *hub, const unsigned char *key, bool add)
{
    size_t mask = CONN_SOURCE_SLOTS - 1, i = source_hash(key) & mask;
    for (size_t n = 0; n < CONN_SOURCE_SLOTS; n++, i = (i + 1) & mask) {
        struct conn_source *e = &hub->sources[i];
        if (!e->count) {
            if (!add)
                return NULL;
            memcpy(e->key, key, sizeof(e->key));
            return e;
        }
        if (!memcmp(e->key, key, sizeof(e->key)))
            return e;
    }
    return NULL;
}

/* Frees e (its count just fell to 0), shifting back the entries after it
 * that probed past it (linear probing without tombstones, Knuth's R). */
static void source_remove(struct conn_hub *hub, struct conn_source *e)
{
    size_t mask = CONN_SOURCE_SLOTS - 1, i = (size_t)(e - hub->sources), j = i;
    for (;;) {
        j = (j + 1) & mask;
        struct conn_source *f = &hub->sources[j];
        if (!f->count)
            return;
        size_t k = source_hash(f->key) & mask;
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue; /* f's home lies between the hole and f: it stays */
        hub->sources[i] = *f;
        f->count = 0;
        i = j;
    }
}

/* c (accepted, not yet authenticated) no longer counts against its source. */
static void preauth_leave(struct conn *c)
{
    if (!c->counted)
        return;
    c->counted = false;
    c->hub->preauth--;
    struct conn_source *e = source_find(c->hub, c->source, false);
    if (e && --e->count == 0)
        source_remove(c->hub, e);
}

static void log_summary(struct conn_hub *hub, struct conn_log_slot *s)
{
    log_warn("suppressed log lines about unauthenticated peers source=%s count=%" PRIu32
             " seconds=1",
             s->host, s->suppressed);
    s->suppressed = 0;
    hub->suppressing--;
}

bool conn_may_log(struct conn *c)
{
    if (c->dialer || c->authed)
        return true;
    struct conn_hub *hub = c->hub;
    struct conn_log_slot *s = &hub->log_slots[source_hash(c->source) & (CONN_LOG_SLOTS - 1)];
    int64_t now = (int64_t)uv_now(hub->loop);
    if (now - s->window >= 1000) {
        if (s->suppressed)
            log_summary(hub, s);
        s->window = now;
        s->logged = 0;
        snprintf(s->host, sizeof(s->host), "%s", c->host);
    }
    if (s->logged < CONN_LOG_PER_SOURCE) {
        s->logged++;
        return true;
    }
    if (!s->suppressed++)
        hub->suppressing++;
    return false;
}

/* Keeps hub->input_total up to date with what c's reader holds. */
static void input_account(struct conn *c)
{
    size_t held = frame_held(&c->rd);
    c->hub->input_total = c->hub->input_total - c->input_counted + held;
    c->input_counted = held;
}

static struct conn *conn_new(struct conn_hub *hub, const struct conn_ops *ops, bool dialer)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    c->hub = hub;
    c->ops = ops;
    c->dialer = dialer;
    c->state = dialer ? CONN_DIALING : hub->tls ? CONN_TLS : CONN_HELLO;
    if (hub->tls)
        c->tls = tls_conn_new(hub->tls, !dialer);
    frame_init(&c->rd, FRAME_MAX_HELLO);
    buf_init(&c->out);
    buf_init(&c->inflight);
    list_init(&c->dirty_node);
    list_add_tail(&hub->all, &c->node);
    list_add_tail(&hub->timed, &c->timed_node);
    list_init(&c->held_node);
    list_init(&c->resume_node);
    hub->count++;
    c->deadline = (int64_t)uv_now(hub->loop) + hub->handshake_ms;
    uv_tcp_init(hub->loop, &c->tcp);
    c->tcp.data = c;
    snprintf(c->peer, sizeof(c->peer), "?");
    return c;
}

static void conn_free_cb(uv_handle_t *h)
{
    struct conn *c = h->data;
    frame_release(&c->rd);
    buf_release(&c->out);
    buf_release(&c->inflight);
    handshake_release(&c->hs);
    tls_conn_free(c->tls);
    free(c);
}

void conn_close(struct conn *c, const char *reason)
{
    if (c->state == CONN_CLOSING)
        return;
    c->state = CONN_CLOSING;
    if (reason && reason != c->reason_buf) {
        snprintf(c->reason_buf, sizeof(c->reason_buf), "%s", reason);
    }
    c->reason = c->reason_buf;
    list_del(&c->node);
    list_del(&c->dirty_node);
    list_del(&c->timed_node);
    list_del(&c->held_node);
    list_del(&c->resume_node);
    c->hub->count--;
    preauth_leave(c);
    frame_release(&c->rd);
    input_account(c);
    if (c->notified) {
        c->notified = false;
        c->ops->closed(c);
    } else if (c->dialer && c->dial_fail) {
        c->dial_fail(c->data, c->dial_host, c->dial_port, c->reason);
    }
    uv_close((uv_handle_t *)&c->tcp, conn_free_cb);
}

/* Gives c a deadline for closing; conn_hub_sweep() watches it. */
static void close_within(struct conn *c, int64_t ms)
{
    c->deadline = (int64_t)uv_now(c->hub->loop) + ms;
    if (list_empty(&c->timed_node))
        list_add_tail(&c->hub->timed, &c->timed_node);
}

struct buf *conn_out(struct conn *c)
{
    if (c->state == CONN_CLOSING || c->close_when_flushed)
        return NULL;
    if (list_empty(&c->dirty_node))
        list_add_tail(&c->hub->dirty, &c->dirty_node);
    return &c->out;
}

const char *conn_peer(const struct conn *c)
{
    return c->peer;
}

const char *conn_peer_role(const struct conn *c)
{
    return c->hs.peer_role;
}

bool conn_is_ready(const struct conn *c)
{
    return c->state == CONN_READY;
}

bool conn_is_dialer(const struct conn *c)
{
    return c->dialer;
}

const char *conn_reason(const struct conn *c)
{
    return c->reason ? c->reason : "";
}

const char *conn_not_leader(const struct conn *c)
{
    if (!c->dialer || c->hs.step != HANDSHAKE_FAILED ||
        c->hs.error_code != HANDSHAKE_ERR_NOT_LEADER)
        return NULL;
    return c->hs.leader;
}

void *conn_hub_owner(const struct conn *c)
{
    return c->hub->owner;
}

void conn_hand_over(struct conn *c, const struct conn_ops *ops, void *data)
{
    c->ops = ops;
    c->data = data;
    c->dial_fail = NULL;
}

/* The error line is queued: it leaves behind whatever is queued at the next
 * flush (never ahead of the journal commit), and the connection closes. */
static void fail_queued(struct conn *c)
{
    c->close_when_flushed = true;
    preauth_leave(c); /* it can no longer authenticate */
    /* Nothing more is read or handled: give back what the reader holds. */
    frame_release(&c->rd);
    input_account(c);
    /* Stop reading: nothing more from this peer counts. Give the error a
     * short time to leave, then close regardless (a peer that never reads
     * cannot hold the connection open). */
    uv_read_stop((uv_stream_t *)&c->tcp);
    close_within(c, 2000);
    if (c->notified) {
        c->notified = false;
        c->ops->closed(c);
    }
}

void conn_fail(struct conn *c, const char *fmt, ...)
{
    if (c->state == CONN_CLOSING || c->close_when_flushed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->reason_buf, sizeof(c->reason_buf), fmt, ap);
    va_end(ap);
    c->reason = c->reason_buf;
    if (c->state == CONN_TLS) {
        /* No word can reach the peer before the TLS handshake is done. */
        conn_close(c, c->reason_buf);
        return;
    }
    msg_encode_error(conn_out(c), c->reason_buf);
    fail_queued(c);
}

/* Empties inflight; a large buffer is freed rather than kept for later. */
static void drop_inflight(struct conn *c)
{
    if (c->inflight.cap > KEEP_OUT_BYTES)
        buf_release(&c->inflight);
    else
        buf_reset(&c->inflight);
}

static void conn_write_cb(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    c->writing = false;
    drop_inflight(c);
    if (c->state == CONN_CLOSING)
        return;
    if (status < 0) {
        conn_close(c, uv_strerror(status));
        return;
    }
    c->progress = (int64_t)uv_now(c->hub->loop);
    start_write(c);
}

/*
 * TLS: encrypts the released bytes (once the TLS handshake is done) and
 * moves every TLS record waiting for the peer into inflight. Unreleased
 * bytes stay in out as plaintext. Returns 0, or -1 after closing c.
 */
static int tls_seal(struct conn *c)
{
    char err[256];
    if (c->out_ready && c->state != CONN_TLS) {
        if (tls_conn_write(c->tls, c->out.data, c->out_ready, err, sizeof(err)) != 0) {
            log_warn("TLS error peer=%s error=%s", c->peer, log_quote(err));
            conn_close(c, err);
            return -1;
        }
        buf_consume(&c->out, c->out_ready);
        c->out_taken += c->out_ready;
        c->out_ready = 0;
    }
    buf_reset(&c->inflight);
    tls_conn_take(c->tls, &c->inflight);
    return 0;
}

/* Moves what may leave now into inflight; returns false when nothing may. */
static bool take_outgoing(struct conn *c)
{
    if (c->tls) {
        if (tls_seal(c) != 0)
            return false;
        return c->inflight.len > 0;
    }
    if (!c->out_ready)
        return false;
    /* Only the released bytes leave; out keeps collecting behind them. */
    c->out_taken += c->out_ready;
    if (c->out_ready == c->out.len) {
        struct buf tmp = c->inflight;
        c->inflight = c->out;
        c->out = tmp;
        buf_reset(&c->out);
    } else {
        buf_reset(&c->inflight);
        buf_add(&c->inflight, c->out.data, c->out_ready);
        buf_consume(&c->out, c->out_ready);
    }
    c->out_ready = 0;
    return true;
}

/*
 * Sends what may leave. Most writes fit in the socket buffer, so it first
 * tries a plain write: libuv's write request re-arms epoll for every write
 * (an epoll_ctl per message), which at 10,000 idle workers was a third of
 * the master's system calls. Only a remainder goes through uv_write.
 */
static void send_released(struct conn *c)
{
    for (;;) {
        if (c->writing || c->state == CONN_CLOSING || c->state == CONN_DIALING)
            return;
        if (!take_outgoing(c)) {
            if (c->state != CONN_CLOSING && c->close_when_flushed && !c->out.len)
                conn_close(c, c->reason);
            return;
        }
        uv_buf_t b = uv_buf_init(c->inflight.data, (unsigned)c->inflight.len);
        metrics.bytes_out += b.len;
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n < 0 && n != UV_EAGAIN) {
            conn_close(c, uv_strerror(n));
            return;
        }
        if (n > 0)
            c->progress = (int64_t)uv_now(c->hub->loop);
        if (n == (int)b.len) {
            drop_inflight(c);
            continue;
        }
        if (n > 0) {
            b.base += n;
            b.len -= (unsigned)n;
        }
        c->write_req.data = c;
        int rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, conn_write_cb);
        if (rc < 0) {
            conn_close(c, uv_strerror(rc));
            return;
        }
        c->writing = true;
        return;
    }
}

/* ---- back-pressure ------------------------------------------------------------ */

size_t conn_pending_bytes(const struct conn *c)
{
    return c->out.len + c->inflight.len;
}

/* Stops reading c and handling its lines until its output drains. A paused
 * conn is watched by conn_hub_sweep() (CONN_STALL_MS without progress). */
static void pause_reading(struct conn *c)
{
    c->paused = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->progress = (int64_t)uv_now(c->hub->loop);
    if (c->state == CONN_READY && list_empty(&c->timed_node))
        list_add_tail(&c->hub->timed, &c->timed_node);
}

static bool handle_lines(struct conn *c);

/* Lets a resumed conn handle the lines it has buffered, then read again. */
static void resume_reading(struct conn *c)
{
    if (c->state == CONN_CLOSING || c->close_when_flushed || !c->paused || c->held)
        return;
    c->paused = false;
    if (c->state == CONN_READY)
        list_del(&c->timed_node);
    if (!handle_lines(c))
        return;
    input_account(c);
    if (c->paused)
        return;
    frame_shrink(&c->rd);
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, conn_read_cb);
}

/* The idle handle: resumes the conns whose output drained. It runs before
 * the prepare step of the same turn, so their replies are held as usual. */
static void resume_cb(uv_idle_t *h)
{
    struct conn_hub *hub = h->data;
    struct list batch;
    /* Take the list as it is: a conn may be queued again while this runs. */
    batch.next = hub->resume.next;
    batch.prev = hub->resume.prev;
    batch.next->prev = &batch;
    batch.prev->next = &batch;
    list_init(&hub->resume);
    while (!list_empty(&batch)) {
        struct conn *c = list_entry(batch.next, struct conn, resume_node);
        list_del(&c->resume_node);
        c->resuming = false;
        resume_reading(c);
    }
    if (list_empty(&hub->resume))
        uv_idle_stop(h);
}

/* After c's output shrank: a paused conn at or below CONN_OUT_LOW is
 * resumed from the idle handle, never from inside a write or release. */
static void maybe_resume(struct conn *c)
{
    struct conn_hub *hub = c->hub;
    if (c->resuming || c->held || c->state == CONN_CLOSING || c->close_when_flushed ||
        conn_pending_bytes(c) > CONN_OUT_LOW)
        return;
    if (!hub->idle_init) {
        uv_idle_init(hub->loop, &hub->idle);
        hub->idle.data = hub;
        hub->idle_init = true;
    }
    if (uv_is_closing((uv_handle_t *)&hub->idle))
        return;
    c->resuming = true;
    list_add_tail(&hub->resume, &c->resume_node);
    uv_idle_start(&hub->idle, resume_cb);
}

void conn_hold_input(struct conn *c, bool hold)
{
    if (c->held == hold)
        return;
    c->held = hold; /* handle_lines() pauses a held conn before its next line */
    if (!hold && c->paused)
        maybe_resume(c);
}

static void start_write(struct conn *c)
{
    send_released(c);
    if (c->paused)
        maybe_resume(c);
}

void conn_hub_fit_fd_limit(struct conn_hub *hub, size_t reserve)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    size_t usable = rl.rlim_cur > reserve + 16 ? (size_t)rl.rlim_cur - reserve : 16;
    if (hub->max_conns > usable)
        hub->max_conns = usable;
}

/* Takes c off the dirty list. False when it has more queued than a peer
 * that reads would ever leave unread: it is closed then. */
static bool take_dirty(struct conn *c)
{
    list_del(&c->dirty_node);
    if (c->out.len + c->inflight.len <= CONN_MAX_OUT)
        return true;
    log_warn("closing connection peer=%s reason=\"peer is not reading its replies\"", c->peer);
    conn_close(c, "peer is not reading");
    return false;
}

bool conn_hub_dirty(const struct conn_hub *hub)
{
    for (const struct list *pos = hub->dirty.next; pos != &hub->dirty; pos = pos->next) {
        const struct conn *c = list_entry(pos, struct conn, dirty_node);
        if (c->out.len > c->out_ready)
            return true;
    }
    return false;
}

void conn_hub_flush(struct conn_hub *hub)
{
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &hub->dirty)
    {
        struct conn *c = list_entry(pos, struct conn, dirty_node);
        if (!take_dirty(c))
            continue;
        c->out_ready = c->out.len;
        start_write(c);
    }
}

void conn_hub_hold(struct conn_hub *hub, uint64_t epoch)
{
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &hub->dirty)
    {
        struct conn *c = list_entry(pos, struct conn, dirty_node);
        if (!take_dirty(c))
            continue;
        if (c->out_ready == c->out.len)
            continue; /* all of it released (conn_send_now) */
        uint64_t end = c->out_taken + c->out.len;
        int last = c->nmarks - 1;
        if (last >= 0 && c->mark_pos[last] == end)
            continue; /* nothing queued since */
        if (c->nmarks == CONN_MARKS) {
            c->mark_epoch[last] = epoch; /* later, for the earlier bytes too */
            c->mark_pos[last] = end;
        } else {
            c->mark_epoch[c->nmarks] = epoch;
            c->mark_pos[c->nmarks++] = end;
        }
        if (list_empty(&c->held_node))
            list_add_tail(&hub->held, &c->held_node);
    }
}

bool conn_hub_client_waits(const struct conn_hub *hub)
{
    for (const struct list *pos = hub->dirty.next; pos != &hub->dirty; pos = pos->next)
        if (list_entry(pos, struct conn, dirty_node)->paced) /* a client's */
            return true;
    return false;
}

bool conn_send_now(struct conn *c, size_t from)
{
    if (c->nmarks || c->out_ready != from || c->state != CONN_READY)
        return false;
    c->out_ready = c->out.len;
    start_write(c);
    return true;
}

void conn_hub_release(struct conn_hub *hub, uint64_t done)
{
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &hub->held)
    {
        struct conn *c = list_entry(pos, struct conn, held_node);
        int k = 0;
        while (k < c->nmarks && c->mark_epoch[k] <= done)
            k++;
        if (k == 0)
            continue;
        uint64_t end = c->mark_pos[k - 1];
        memmove(c->mark_epoch, c->mark_epoch + k, (size_t)(c->nmarks - k) * sizeof(uint64_t));
        memmove(c->mark_pos, c->mark_pos + k, (size_t)(c->nmarks - k) * sizeof(uint64_t));
        c->nmarks -= k;
        if (!c->nmarks)
            list_del(&c->held_node);
        /* What out holds up to end may leave (less if a failure dropped it). */
        size_t ready = end > c->out_taken ? (size_t)(end - c->out_taken) : 0;
        ready = MIN(ready, c->out.len);
        if (ready > c->out_ready)
            c->out_ready = ready;
        start_write(c);
    }
}

void conn_hub_sweep(struct conn_hub *hub)
{
    int64_t now = (int64_t)uv_now(hub->loop);
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &hub->timed)
    {
        struct conn *c = list_entry(pos, struct conn, timed_node);
        if ((c->close_when_flushed || c->state == CONN_DIALING) && now >= c->deadline) {
            conn_close(c, c->state == CONN_DIALING ? "connect timed out" : c->reason);
        } else if (c->state != CONN_READY && !c->close_when_flushed && now >= c->deadline) {
            if (!c->dialer && conn_may_log(c))
                log_warn("closing connection peer=%s reason=\"no handshake within %lldms\"",
                         c->peer, (long long)hub->handshake_ms);
            conn_fail(c, "no handshake within %lld ms", (long long)hub->handshake_ms);
        } else if (c->paused && !c->held && c->state == CONN_READY && !c->close_when_flushed &&
                   now - c->progress >= CONN_STALL_MS) {
            log_warn("closing connection peer=%s reason=\"peer is not reading its replies\" "
                     "unsent=%zu",
                     c->peer, conn_pending_bytes(c));
            conn_close(c, "peer is not reading");
        }
    }
    if (hub->suppressing) {
        for (size_t i = 0; i < CONN_LOG_SLOTS; i++) {
            struct conn_log_slot *s = &hub->log_slots[i];
            if (s->suppressed && now - s->window >= 1000)
                log_summary(hub, s);
        }
    }
}

void conn_hub_close_all(struct conn_hub *hub, const char *reason)
{
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &hub->all)
    {
        conn_close(list_entry(pos, struct conn, node), reason);
    }
    if (hub->idle_init && !uv_is_closing((uv_handle_t *)&hub->idle))
        uv_close((uv_handle_t *)&hub->idle, NULL);
}

/* ---- handshake ------------------------------------------------------------ */

/* True when one of this node's own open handshakes uses `nonce`: a peer
 * that sends it back is relaying our own hello or proof to us. */
static bool own_nonce(const char *nonce, void *data)
{
    const struct conn_hub *hub = data;
    for (const struct list *p = hub->timed.next; p != &hub->timed; p = p->next) {
        const struct conn *o = list_entry(p, const struct conn, timed_node);
        if (o->state != CONN_READY && !strcasecmp(o->hs.nonce, nonce))
            return true;
    }
    return false;
}

/* Sets up c's handshake (net/handshake.h) once the roles it accepts and the
 * port it dialed are known. */
static void handshake_setup(struct conn *c)
{
    struct conn_hub *hub = c->hub;
    struct handshake_config cfg = {
        .dialer = c->dialer,
        .role = hub->role,
        .id = hub->id,
        .token = hub->token,
        .accept_roles = c->accept_roles,
        .dial_port = c->dial_port,
        .fill_hello = hub->fill_hello,
        .fill_data = hub->owner,
        .own_nonce = own_nonce,
        .own_nonce_data = hub,
        .not_leader = c->dialer ? NULL : hub->not_leader,
        .not_leader_data = hub->owner,
    };
    char nonce[AUTH_NONCE_HEX];
    auth_nonce(nonce);
    handshake_init(&c->hs, &cfg, nonce);
}

static void send_hello(struct conn *c)
{
    handshake_start(&c->hs, conn_out(c));
}

static void become_ready(struct conn *c, struct msg *hello)
{
    char why[256] = "";
    c->state = CONN_READY;
    list_del(&c->timed_node); /* a ready connection has no deadline */
    frame_set_max(&c->rd, FRAME_MAX_LINE);
    if (c->ops->ready(c, hello, why, sizeof(why)) != 0) {
        conn_fail(c, "%s", why[0] ? why : "refused");
        return;
    }
    c->notified = true;
}

/* Feeds one line to the handshake and acts on its answer: sends what it
 * made, logs and refuses, or hands the peer's hello to ops->ready(). */
static void handshake(struct conn *c, struct msg *m, const char *line, size_t len)
{
    struct handshake *h = &c->hs;
    struct buf out = BUF_INIT;
    enum handshake_result r = handshake_input(h, m, line, len, &out);
    /* Through a scratch buffer: a line that makes no answer must not put c
     * on the dirty list. */
    if (out.len)
        buf_add(conn_out(c), out.data, out.len);
    buf_release(&out);
    switch (r) {
    case HANDSHAKE_WAIT:
        if (h->step == HANDSHAKE_AUTH)
            c->state = CONN_AUTH;
        return;
    case HANDSHAKE_OK:
        become_ready(c, &h->peer_hello);
        msg_release(&h->peer_hello);
        return;
    case HANDSHAKE_FAIL:
        break;
    }
    if (h->error_code == HANDSHAKE_ERR_NOT_LEADER) {
        /* A group member that is not the leader, or a dialer sent on by
         * one (its owner logs that, from the dial's fail callback): part
         * of a leader change, not a fault. */
        if (!c->dialer && conn_may_log(c))
            log_info("%s peer=%s role=%s leader=%s", h->event, c->peer,
                     h->peer_role[0] ? h->peer_role : "?", h->leader[0] ? h->leader : "-");
        if (c->dialer) {
            conn_close(c, h->error);
        } else if (!c->close_when_flushed) {
            snprintf(c->reason_buf, sizeof(c->reason_buf), "%s", h->error);
            c->reason = c->reason_buf;
            msg_encode_not_leader(conn_out(c), h->leader);
            fail_queued(c);
        }
        return;
    }
    if (h->error_code == HANDSHAKE_ERR_PEER) {
        if (conn_may_log(c))
            log_warn("%s peer=%s error=%s", h->event, c->peer, log_quote(h->error));
        conn_close(c, h->error);
        return;
    }
    if (conn_may_log(c))
        log_warn("%s peer=%s role=%s error=%s", h->event, c->peer,
                 h->peer_role[0] ? h->peer_role : "?", log_quote(h->error));
    conn_fail(c, "%s", h->error);
}

/* ---- reading -------------------------------------------------------------- */

/* One read buffer and one plaintext buffer for the process: a node runs one
 * loop on one thread, and each read is consumed (copied into the frame
 * reader) before the next begins. */
static char read_chunk[READ_CHUNK];
static char tls_plain[READ_CHUNK];

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)h;
    (void)suggested;
    *b = uv_buf_init(read_chunk, sizeof(read_chunk));
}

/* Handles one line (and the raw bytes it announces); false when those
 * bytes have not all arrived: the reader hands the line out again later. */
static bool handle_line(struct conn *c, const char *line, size_t len)
{
    struct msg m;
    char err[512];
    if (len == 0)
        return true;
    int rc = msg_parse(line, len, &m, err, sizeof(err));
    if (rc) {
        if (conn_may_log(c))
            log_warn("bad message peer=%s error=%s", c->peer, log_quote(err));
        conn_fail(c, "%s", err);
        return true;
    }
    if (msg_wants_payload(&m)) {
        const char *p;
        if (c->state != CONN_READY) {
            msg_release(&m);
            conn_fail(c, "raw output bytes before the handshake");
            return true;
        }
        if (!frame_payload(&c->rd, m.payload, &p)) {
            msg_release(&m);
            return false;
        }
        msg_take_payload(&m, p);
    }
    if (c->state == CONN_READY) {
        if (m.type == MSG_ERROR)
            log_warn("peer reported an error peer=%s error=%s", c->peer, log_quote(m.error));
        c->ops->message(c, &m);
    } else {
        handshake(c, &m, line, len);
        if (c->state == CONN_READY && !c->authed) {
            /* Authenticated: the peer no longer counts as unknown, and a
             * client's requests are paced by their replies. */
            c->authed = true;
            preauth_leave(c);
            c->paced = !c->dialer && !strcmp(c->hs.peer_role, "client");
        }
    }
    msg_release(&m);
    return true;
}

/*
 * Handles the lines c's frame reader holds until it needs more bytes, or c
 * fails or closes (returns false), or, for a paced conn, its unsent output
 * passes CONN_OUT_HIGH: c is then paused, the rest left in the reader. The
 * check before every line bounds what one callback can make (memcached's
 * reqs_per_event): a read full of requests for big replies builds one.
 */
static bool handle_lines(struct conn *c)
{
    for (;;) {
        if (c->held || (c->paced && conn_pending_bytes(c) > CONN_OUT_HIGH)) {
            pause_reading(c);
            return true;
        }
        char *line;
        size_t len;
        int rc = frame_next(&c->rd, &line, &len);
        if (rc == 0)
            return true;
        if (rc < 0) {
            if (conn_may_log(c))
                log_warn("line too long peer=%s limit=%zu", c->peer, c->rd.max);
            conn_fail(c, "line longer than %zu bytes; closing", c->rd.max);
            return false;
        }
        if (!handle_line(c, line, len))
            return true;
        if (c->state == CONN_CLOSING || c->close_when_flushed)
            return false;
    }
}

/* ---- TLS ------------------------------------------------------------------- */

/*
 * The TLS session failed (a refused certificate, a peer without TLS...):
 * logs it with the peer's address, sends the alert OpenSSL made, if any, and
 * closes. Plaintext still queued can never leave, so it is dropped.
 */
static void tls_fail(struct conn *c, const char *why)
{
    if (conn_may_log(c))
        log_warn("TLS %s failed peer=%s error=%s", c->state == CONN_READY ? "session" : "handshake",
                 c->peer, log_quote(why));
    snprintf(c->reason_buf, sizeof(c->reason_buf), "TLS %s failed: %s",
             c->state == CONN_READY ? "session" : "handshake", why);
    c->reason = c->reason_buf;
    if (c->notified) {
        c->notified = false;
        c->ops->closed(c);
    }
    c->out_taken += c->out.len;
    buf_reset(&c->out);
    c->out_ready = 0;
    c->close_when_flushed = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    close_within(c, 2000);
    start_write(c); /* the alert; closes at once when there is none */
}

/* The TLS handshake completed: the dtr handshake starts inside it. */
static void tls_established(struct conn *c)
{
    unsigned char channel[AUTH_HASH_BYTES];
    c->state = CONN_HELLO;
    if (tls_conn_binding(c->tls, channel) != 0) {
        tls_fail(c, "no channel binding from the TLS session");
        return;
    }
    handshake_set_channel(&c->hs, channel);
    /* a client that cannot reach the exporter binds to our certificate */
    if (!c->dialer && tls_conn_end_point(c->tls, channel) == 0)
        handshake_set_end_point(&c->hs, channel);
    log_debug("TLS established peer=%s", c->peer);
    if (c->dialer)
        send_hello(c);
}

/*
 * Feeds ciphertext to the session, advances the TLS handshake, and pushes
 * the plaintext into the frame reader. Returns 0 to go on with the lines, or
 * -1 when c is closing. When the session ended after some plaintext, *end
 * is set (its reason in why) so the caller handles those lines first.
 */
static int tls_input(struct conn *c, const char *data, size_t len, int *end, char *why,
                     size_t whylen)
{
    tls_conn_feed(c->tls, data, len);
    if (c->state == CONN_TLS) {
        int rc = tls_conn_handshake(c->tls, why, whylen);
        if (rc < 0) {
            tls_fail(c, why);
            return -1;
        }
        if (rc == 1)
            tls_established(c);
        start_write(c); /* our handshake records; released plaintext, if any */
        if (c->state == CONN_CLOSING || c->close_when_flushed)
            return -1;
        if (rc == 0)
            return 0;
    }
    /* At most what was fed comes out (64 KiB a read), so this is bounded. */
    for (;;) {
        ssize_t n = tls_conn_read(c->tls, tls_plain, sizeof(tls_plain), why, whylen);
        if (n == 0)
            break;
        if (n < 0) {
            *end = (int)n;
            break;
        }
        frame_push(&c->rd, tls_plain, (size_t)n);
    }
    return 0;
}

/*
 * Without TLS: a peer whose first bytes are a TLS record (handshake 0x16,
 * alert 0x15; no JSON line starts so) runs with TLS. Say so at once rather
 * than wait for a line that never comes.
 */
static bool peer_speaks_tls(struct conn *c, const char *data, size_t len)
{
    if (c->state != CONN_HELLO || c->rd.buf.len || !len)
        return false;
    if ((unsigned char)data[0] != 0x16 && (unsigned char)data[0] != 0x15)
        return false;
    if (conn_may_log(c))
        log_warn("peer speaks TLS but this node runs without it peer=%s", c->peer);
    conn_close(c, "the peer speaks TLS; this node runs without --tls-ca");
    return true;
}

/* Why the peer's end of the stream came, as far as we can tell. */
static const char *eof_reason(const struct conn *c)
{
    if (c->state == CONN_TLS)
        return "connection closed during the TLS handshake";
    if (c->dialer && !c->tls && c->state == CONN_HELLO && !c->rd.buf.len)
        return "connection closed by peer before any reply (does it require TLS?)";
    return "connection closed by peer";
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct conn *c = s->data;
    int tls_end = 0; /* the TLS session ended: after the lines before it */
    char why[256] = "";
    if (nread < 0) {
        conn_close(c, nread == UV_EOF ? eof_reason(c) : uv_strerror((int)nread));
        return;
    }
    if (nread == 0 || c->state == CONN_CLOSING || c->close_when_flushed)
        return;
    metrics.bytes_in += (uint64_t)nread;
    if (c->tls) {
        if (tls_input(c, b->base, (size_t)nread, &tls_end, why, sizeof(why)) != 0)
            return;
    } else {
        if (peer_speaks_tls(c, b->base, (size_t)nread))
            return;
        frame_push(&c->rd, b->base, (size_t)nread);
    }
    size_t before = c->input_counted;
    if (!handle_lines(c))
        return;
    input_account(c);
    if (c->input_counted > before && c->hub->input_total > CONN_MAX_INPUT_TOTAL) {
        /* This read grew what the node holds past its budget: this peer
         * goes, not the ones whose lines are complete. */
        if (conn_may_log(c))
            log_warn("closing connection peer=%s reason=\"unprocessed input of all peers over "
                     "its limit\" held=%zu limit=%u",
                     c->peer, c->input_counted, CONN_MAX_INPUT_TOTAL);
        conn_fail(c,
                  "the %s holds too many bytes of unfinished lines from its peers (limit %u "
                  "in all); send shorter lines or try again later",
                  c->hub->role, CONN_MAX_INPUT_TOTAL);
        return;
    }
    if (!c->paused)
        frame_shrink(&c->rd);
    if (tls_end == -ECONNRESET)
        conn_close(c, "connection closed by peer");
    else if (tls_end)
        tls_fail(c, why);
    else if (c->tls && tls_conn_pending(c->tls))
        start_write(c); /* something OpenSSL answered while reading */
}

static void describe_peer(struct conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        int port = 0;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
            uv_ip4_name(sin, host, sizeof(host));
            port = ntohs(sin->sin_port);
            /* The source key: IPv4 as ::ffff:a.b.c.d */
            c->source[10] = c->source[11] = 0xff;
            memcpy(c->source + 12, &sin->sin_addr, 4);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(sin6, host, sizeof(host));
            port = ntohs(sin6->sin6_port);
            /* An IPv6 host usually owns its whole /64: that is one source. */
            bool mapped = IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr);
            memcpy(c->source, &sin6->sin6_addr, mapped ? 16 : 8);
        }
        snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
        snprintf(c->host, sizeof(c->host), "%s", host);
    }
}

static void start_session(struct conn *c)
{
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, 30);
    describe_peer(c);
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, conn_read_cb);
}

/* ---- listening and dialing -------------------------------------------------- */

/* The oldest unauthenticated conn (from source key, or from any source when
 * key is NULL) if it has waited CONN_PREAUTH_EVICT_MS; else NULL. hub->timed
 * holds them in the order they were accepted. */
static struct conn *preauth_oldest(struct conn_hub *hub, const unsigned char *key)
{
    for (struct list *p = hub->timed.next; p != &hub->timed; p = p->next) {
        struct conn *o = list_entry(p, struct conn, timed_node);
        if (!o->counted || (key && memcmp(o->source, key, sizeof(o->source))))
            continue;
        if ((int64_t)uv_now(hub->loop) - o->accepted_at < CONN_PREAUTH_EVICT_MS)
            return NULL;
        return o;
    }
    return NULL;
}

/*
 * Until it authenticates a peer is unknown: caps how many such connections
 * one source, and all sources, hold open. At a cap the oldest one makes room
 * if it has waited long enough, else c is refused. Returns false when c was.
 */
static bool preauth_admit(struct conn *c)
{
    struct conn_hub *hub = c->hub;
    struct conn_source *e = source_find(hub, c->source, false);
    if (e && e->count >= CONN_MAX_PREAUTH_PER_SOURCE) {
        struct conn *o = preauth_oldest(hub, c->source);
        struct conn *who = o ? o : c;
        if (conn_may_log(who))
            log_warn("%s connection peer=%s reason=\"too many unauthenticated connections from "
                     "this source\" limit=%d",
                     o ? "closing" : "refusing", who->peer, CONN_MAX_PREAUTH_PER_SOURCE);
        conn_fail(who, "too many connections from '%s' waiting for their handshake (limit %d)%s",
                  who->host, CONN_MAX_PREAUTH_PER_SOURCE,
                  o ? "; this one waited longest: finish the handshake sooner"
                    : "; finish or close them, then try again");
        if (!o)
            return false;
    }
    if (hub->preauth >= CONN_MAX_PREAUTH) {
        struct conn *o = preauth_oldest(hub, NULL);
        struct conn *who = o ? o : c;
        if (conn_may_log(who))
            log_warn("%s connection peer=%s reason=\"too many unauthenticated connections\" "
                     "limit=%d",
                     o ? "closing" : "refusing", who->peer, CONN_MAX_PREAUTH);
        conn_fail(
            who, "too many connections waiting for their handshake (limit %d)%s", CONN_MAX_PREAUTH,
            o ? "; this one waited longest: finish the handshake sooner" : "; try again later");
        if (!o)
            return false;
    }
    /* Found again: making room may have moved entries of the table. */
    e = source_find(hub, c->source, true);
    if (!e) { /* cannot happen: the table has room for every counted source */
        conn_fail(c, "too many connections waiting for their handshake; try again later");
        return false;
    }
    e->count++;
    hub->preauth++;
    c->counted = true;
    return true;
}

static void accept_cb(uv_stream_t *server, int status)
{
    struct conn_listener *l = server->data;
    if (status < 0) {
        int64_t now = (int64_t)uv_now(l->hub->loop);
        if (now - l->hub->last_accept_warning >= 1000) {
            l->hub->last_accept_warning = now;
            log_warn("cannot accept a connection error=%s open=%zu", uv_strerror(status),
                     l->hub->count);
        }
        return;
    }
    struct conn *c = conn_new(l->hub, l->ops, false);
    c->accept_roles = l->accept_roles;
    handshake_setup(c);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c, "accept failed");
        return;
    }
    start_session(c);
    metrics.conns_accepted++;
    struct conn_hub *hub = l->hub;
    if (hub->count > hub->max_conns) {
        if (conn_may_log(c))
            log_warn("refusing connection peer=%s reason=\"too many connections\" limit=%zu",
                     c->peer, hub->max_conns);
        conn_fail(c, "too many connections (limit %zu)", hub->max_conns);
        return;
    }
    c->accepted_at = (int64_t)uv_now(hub->loop);
    preauth_admit(c);
}

static int resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    struct addrinfo hints, *res = NULL;
    char ports[16];
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(ports, sizeof(ports), "%d", port);
    int rc = getaddrinfo(host, ports, &hints, &res);
    if (rc != 0 || !res)
        return UV_EAI_NONAME;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int conn_listen(struct conn_hub *hub, struct conn_listener *l, const char *host, int lo, int hi,
                const struct conn_ops *ops, unsigned accept_roles, char *err, size_t errlen)
{
    int last = UV_EADDRINUSE;
    l->hub = hub;
    l->ops = ops;
    l->accept_roles = accept_roles;
    for (int port = lo; port <= hi; port++) {
        struct sockaddr_storage ss;
        socklen_t len;
        if (resolve(host, port, &ss, &len) < 0) {
            snprintf(err, errlen, "cannot resolve host '%s'", host);
            return UV_EAI_NONAME;
        }
        /* Bind with plain syscalls and hand the bound socket to libuv: the
         * port we report is the one we hold, with no probe-then-bind race. */
        int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            last = -errno;
            break;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1024) < 0) {
            last = -errno;
            close(fd);
            if (last == UV_EADDRINUSE || last == UV_EACCES)
                continue;
            break;
        }
        uv_tcp_init(hub->loop, &l->tcp);
        l->tcp.data = l;
        uv_tcp_open(&l->tcp, fd);
        int rc = uv_listen((uv_stream_t *)&l->tcp, 1024, accept_cb);
        if (rc < 0) {
            snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port, uv_strerror(rc));
            return rc;
        }
        l->port = port;
        return 0;
    }
    if (lo == hi)
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host, lo, uv_strerror(last));
    else
        snprintf(err, errlen,
                 "no free port on %s from %d to %d (last error: %s); free one or "
                 "choose another range",
                 host, lo, hi, uv_strerror(last));
    return last;
}

void conn_listener_addr(const struct conn_listener *l, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
        else
            uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
    }
    if (strchr(host, ':'))
        snprintf(out, outlen, "[%s]:%d", host, l->port);
    else
        snprintf(out, outlen, "%s:%d", host, l->port);
}

void conn_listener_close(struct conn_listener *l)
{
    if (!uv_is_closing((uv_handle_t *)&l->tcp))
        uv_close((uv_handle_t *)&l->tcp, NULL);
}

static void connect_cb(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (c->state == CONN_CLOSING)
        return;
    if (status < 0) {
        conn_close(c, uv_strerror(status));
        return;
    }
    start_session(c);
    if (c->tls) {
        /* Our ClientHello goes out now; hello follows the TLS handshake. */
        char why[256];
        c->state = CONN_TLS;
        if (tls_conn_handshake(c->tls, why, sizeof(why)) < 0)
            tls_fail(c, why);
        else
            start_write(c);
        return;
    }
    c->state = CONN_HELLO;
    send_hello(c);
}

struct conn *conn_dial(struct conn_hub *hub, const char *host, int port, unsigned expect_roles,
                       const struct conn_ops *ops, void *data, int64_t timeout_ms,
                       void (*fail)(void *data, const char *host, int port, const char *why),
                       char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (resolve(host, port, &ss, &len) < 0) {
        snprintf(err, errlen, "cannot resolve host '%s'", host);
        return NULL;
    }
    struct conn *c = conn_new(hub, ops, true);
    c->data = data;
    c->accept_roles = expect_roles;
    c->dial_fail = fail;
    snprintf(c->dial_host, sizeof(c->dial_host), "%s", host);
    c->dial_port = port;
    handshake_setup(c);
    snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
    c->deadline = (int64_t)uv_now(hub->loop) + timeout_ms;
    c->connect_req.data = c;
    int rc = uv_tcp_connect(&c->connect_req, &c->tcp, (struct sockaddr *)&ss, connect_cb);
    if (rc < 0) {
        snprintf(err, errlen, "cannot connect to %s:%d: %s", host, port, uv_strerror(rc));
        c->dial_fail = NULL;
        conn_close(c, err);
        return NULL;
    }
    return c;
}

int conn_check_exposure(const char *host, bool has_token, bool insecure, const char *harm,
                        char *err, size_t errlen)
{
    if (has_token || insecure || conn_host_is_loopback(host))
        return 0;
    snprintf(err, errlen,
             "refusing to listen on '%s' without a token: anyone who can reach it could %s; set "
             "--token-file or DTR_TOKEN, or pass --insecure",
             host, harm);
    return DTR_EINVAL;
}

bool conn_host_is_loopback(const char *host)
{
    struct addrinfo hints, *res = NULL;
    bool all = true;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return false;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
            uint32_t a = ntohl(((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr);
            all = all && (a >> 24) == 127;
        } else if (ai->ai_family == AF_INET6) {
            all = all && IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr);
        } else {
            all = false;
        }
    }
    freeaddrinfo(res);
    return all;
}

size_t conn_hub_count(const struct conn_hub *hub)
{
    return hub->count;
}
