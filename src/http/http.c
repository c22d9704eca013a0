/* SPDX-License-Identifier: MIT */
/*
 * The HTTP server: libmicrohttpd in its external-epoll mode, driven by the
 * master's libuv loop (http.h). Requests are read here (bounded: headers
 * by HTTP_MEMORY_LIMIT, bodies by HTTP_MAX_BODY, connections by
 * HTTP_MAX_CONNS, idle time by HTTP_TIMEOUT_S), authenticated here, and
 * answered by api.c; a reply that must wait for the journal suspends its
 * connection until http_release() says its epoch is on disk.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/util.h"
#include "http/dashboard.h"
#include "http/mhd.h"
#include "master/master.h"
#include "net/conn.h"
#include "proto/spec.h"
#include "sched/metrics.h"

#define HTTP_MAX_LABELS 64
#define KEEPALIVE_MS 15000
#define COALESCE_MS 500

struct http {
    struct master *m;
    struct MHD_Daemon *d;
    int listen_fd;
    uv_poll_t poll;
    uv_timer_t timer;
    bool handles; /* poll and timer initialised */
    bool stopped;
    bool has_token;
    unsigned char token_hash[crypto_generichash_BYTES];
    bool metrics_open;
    struct list pending; /* struct req suspended until their epoch is durable */
    char *tls_key, *tls_cert;
    /* The event stream reads the master's event log (master/events.c):
     * the events up to its `visible` are durable and may be sent. */
    struct events *ev;
    struct list streams; /* struct req of streams suspended for want of events */
    /* The SSE text of the events first..next-1, formatted once for every
     * stream: event first+i is text[off[i] .. off[i+1]). */
    struct {
        struct buf text;
        size_t *off, cap;
        uint64_t first, next;
    } sse;
    uv_timer_t keepalive;
    uv_timer_t tick; /* wakes coalesced streams whose counts are due */
    bool stopping;
};

/* One request, from its first header to its completion. */
struct req {
    struct http *hs;
    struct MHD_Connection *conn;
    struct buf body;
    bool too_big;
    bool held, ready, epoch_set;
    uint64_t epoch;
    struct api_reply reply;
    struct list node; /* in hs->pending while held, in hs->streams while waiting */
    bool stream;      /* GET /api/v1/events */
    bool waiting;     /* suspended for want of events */
    bool keepalive;   /* a comment is due */
    uint64_t next_event;
    /* ?coalesce=1 (a dashboard): submitted, started and succeeded events
     * are counted here and sent as one "tasks" event at most every
     * COALESCE_MS, so a stream costs the master per tick, not per task. */
    bool coalesce;
    uint64_t counted[3];
    int64_t last_tick; /* uv_now of the last "tasks" event */
};

/* ---- replies ------------------------------------------------------------- */

static enum MHD_Result queue_reply(struct req *r)
{
    struct api_reply *a = &r->reply;
    struct MHD_Response *resp = mhd.create_response_from_buffer(
        a->body.len, a->body.len ? a->body.data : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    mhd.add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            a->ctype ? a->ctype : "application/json");
    mhd.add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    mhd.add_response_header(resp, "X-Content-Type-Options", "nosniff");
    /* the dashboard loads only its own files and talks only to us */
    mhd.add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
    if (a->allow)
        mhd.add_response_header(resp, MHD_HTTP_HEADER_ALLOW, a->allow);
    if (a->attempt[0])
        mhd.add_response_header(resp, "X-Dtr-Attempt", a->attempt);
    if (a->size[0])
        mhd.add_response_header(resp, "X-Dtr-Size", a->size);
    if (a->status == MHD_HTTP_UNAUTHORIZED)
        mhd.add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"dtr\"");
    if (a->status >= 400)
        metrics.http_errors++;
    enum MHD_Result rc = mhd.queue_response(r->conn, a->status, resp);
    mhd.destroy_response(resp);
    return rc;
}

void api_error(struct api_reply *r, unsigned status, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    r->status = status;
    r->ctype = NULL;
    buf_reset(&r->body);
    buf_addstr(&r->body, "{\"error\":");
    buf_add_json_cstr(&r->body, text);
    buf_addstr(&r->body, "}\n");
}

/* ---- the event stream ------------------------------------------------------- */

static void timer_cb(uv_timer_t *t);

/* An event as SSE: "id: N\ndata: {...}\n\n". */
static void format_event(const struct event *e, struct buf *b)
{
    struct event_info info;
    events_info(e, &info);
    buf_addf(b, "id: %" PRIu64 "\ndata: ", e->id);
    event_info_encode(b, &info);
    buf_addstr(b, "\n\n");
}

static int counted_kind(const char *name);

/* A waiting coalesced stream at new events: counts them where it stands,
 * before the ring drops them. Returns whether one must be sent (the
 * stream wakes) rather than counted. */
static bool count_new_events(struct http *hs, struct req *r)
{
    if (r->next_event < events_oldest(hs->ev))
        return true; /* the stream says what is no longer kept */
    for (; r->next_event <= hs->ev->visible; r->next_event++) {
        int k = counted_kind(events_get(hs->ev, r->next_event)->name);
        if (k < 0)
            return true;
        r->counted[k]++;
    }
    return false;
}

/* Resumes the streams waiting for events. With new_events, a coalesced
 * stream counts what it may and sleeps on until its tick (tick_cb) or an
 * event it sends: waking it at every turn's events would cost a resume
 * and a suspend per stream per turn. */
static void wake_some_streams(struct http *hs, bool new_events)
{
    bool any = false;
    struct list *p, *tmp;
    list_for_each_safe(p, tmp, &hs->streams)
    {
        struct req *r = list_entry(p, struct req, node);
        if (new_events && r->coalesce && !count_new_events(hs, r))
            continue;
        list_del(&r->node);
        list_init(&r->node);
        r->waiting = false;
        mhd.resume_connection(r->conn);
        any = true;
    }
    if (any && !hs->stopped)
        uv_timer_start(&hs->timer, timer_cb, 0, 0);
}

static void wake_streams(struct http *hs)
{
    wake_some_streams(hs, false);
}

static void tick_cb(uv_timer_t *t)
{
    wake_streams(t->data);
}

/* The events a coalesced stream counts rather than sends: index into
 * req.counted, or -1. */
static int counted_kind(const char *name)
{
    static const char *const kinds[] = {"submitted", "started", "succeeded"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, kinds[i]))
            return i;
    return -1;
}

/* A coalesced stream's "tasks" event, once COALESCE_MS passed since its
 * last: what it counted, under the id of the last event counted (a
 * reconnect resumes after it). Returns the bytes written to out, 0 when
 * none is due (the tick timer then wakes the stream). */
static size_t coalesced_tick(struct req *r, char *out, size_t room)
{
    struct http *hs = r->hs;
    if (!r->counted[0] && !r->counted[1] && !r->counted[2])
        return 0;
    int64_t now = (int64_t)uv_now(hs->tick.loop);
    if (now - r->last_tick < COALESCE_MS) {
        if (!uv_is_active((uv_handle_t *)&hs->tick))
            uv_timer_start(&hs->tick, tick_cb, (uint64_t)(COALESCE_MS - (now - r->last_tick)), 0);
        return 0;
    }
    char text[256];
    int len = snprintf(
        text, sizeof(text),
        "id: %" PRIu64 "\ndata: {\"event\":\"tasks\",\"at_ms\":%" PRId64 ",\"submitted\":%" PRIu64
        ",\"started\":%" PRIu64 ",\"succeeded\":%" PRIu64 "}\n\n",
        r->next_event - 1, clock_wall_ms(), r->counted[0], r->counted[1], r->counted[2]);
    if (len <= 0 || (size_t)len > room)
        return 0;
    memcpy(out, text, (size_t)len);
    memset(r->counted, 0, sizeof(r->counted));
    r->last_tick = now;
    return (size_t)len;
}

static void keepalive_cb(uv_timer_t *t)
{
    struct http *hs = t->data;
    for (struct list *p = hs->streams.next; p != &hs->streams; p = p->next)
        list_entry(p, struct req, node)->keepalive = true;
    wake_streams(hs);
}

/* Brings the SSE cache up to the visible events, starting it at `from`
 * when it holds nothing still kept. The events the ring dropped leave the
 * cache once they are half of it (amortised O(1) per event), so it holds at
 * most about twice the ring's events. */
static void sse_extend(struct http *hs, uint64_t from)
{
    uint64_t oldest = events_oldest(hs->ev), visible = hs->ev->visible;
    if (hs->sse.next <= oldest || hs->sse.next > visible + 1) {
        hs->sse.first = hs->sse.next = MAX(from, oldest);
        buf_reset(&hs->sse.text);
    } else if (oldest > hs->sse.first &&
               (oldest - hs->sse.first) * 2 >= hs->sse.next - hs->sse.first) {
        size_t drop = (size_t)(oldest - hs->sse.first), cut = hs->sse.off[drop];
        size_t keep = (size_t)(hs->sse.next - oldest);
        memmove(hs->sse.text.data, hs->sse.text.data + cut, hs->sse.text.len - cut);
        hs->sse.text.len -= cut;
        for (size_t i = 0; i <= keep; i++)
            hs->sse.off[i] = hs->sse.off[drop + i] - cut;
        hs->sse.first = oldest;
    }
    while (hs->sse.next <= visible) {
        size_t n = (size_t)(hs->sse.next - hs->sse.first);
        if (n + 2 > hs->sse.cap) {
            hs->sse.cap = MAX(hs->sse.cap * 2, 1024);
            hs->sse.off = xrealloc(hs->sse.off, hs->sse.cap * sizeof(*hs->sse.off));
        }
        hs->sse.off[n] = hs->sse.text.len;
        format_event(events_get(hs->ev, hs->sse.next), &hs->sse.text);
        hs->sse.off[n + 1] = hs->sse.text.len;
        hs->sse.next++;
    }
}

/* MHD asks for more of a stream: the durable events the client has not
 * had (copied from the SSE cache; formatted here only for a stream behind
 * it), or a keep-alive comment, or nothing yet (the connection waits,
 * suspended, for the next events). */
static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct req *r = cls;
    struct http *hs = r->hs;
    (void)pos;
    if (hs->stopping)
        return MHD_CONTENT_READER_END_OF_STREAM;
    struct buf b = BUF_INIT;
    uint64_t oldest = events_oldest(hs->ev);
    if (r->next_event < oldest && r->next_event <= hs->ev->visible) {
        buf_addf(&b, ": events %" PRIu64 " to %" PRIu64 " are no longer kept\n\n", r->next_event,
                 oldest - 1);
        r->next_event = oldest;
    }
    if (r->next_event <= hs->ev->visible)
        sse_extend(hs, r->next_event);
    size_t n = MIN(b.len, max);
    if (n)
        memcpy(out, b.data, n);
    while (r->next_event <= hs->ev->visible) {
        const char *text;
        size_t len;
        buf_reset(&b);
        int k = r->coalesce ? counted_kind(events_get(hs->ev, r->next_event)->name) : -1;
        if (k >= 0) {
            r->counted[k]++;
            r->next_event++;
            continue;
        }
        if (r->next_event >= hs->sse.first && r->next_event < hs->sse.next) {
            size_t i = (size_t)(r->next_event - hs->sse.first);
            text = hs->sse.text.data + hs->sse.off[i];
            len = hs->sse.off[i + 1] - hs->sse.off[i];
        } else {
            format_event(events_get(hs->ev, r->next_event), &b);
            text = b.data;
            len = b.len;
        }
        if (n + len > max)
            break;
        memcpy(out + n, text, len);
        n += len;
        r->next_event++;
    }
    if (r->coalesce)
        n += coalesced_tick(r, out + n, max - n);
    if (!n && r->keepalive) {
        static const char ka[] = ": keep-alive\n\n";
        n = MIN(sizeof(ka) - 1, max);
        memcpy(out, ka, n);
    }
    r->keepalive = false;
    buf_release(&b);
    if (n)
        return (ssize_t)n;
    r->waiting = true;
    list_add_tail(&hs->streams, &r->node);
    mhd.suspend_connection(r->conn);
    if (r->coalesce && !uv_is_active((uv_handle_t *)&hs->tick))
        uv_timer_start(&hs->tick, tick_cb, COALESCE_MS, 0);
    return 0;
}

static enum MHD_Result queue_stream(struct req *r)
{
    struct http *hs = r->hs;
    /* Last-Event-ID (SSE's reconnect): the events after it that are kept;
     * else only what happens from now on. */
    const char *last = mhd.lookup_connection_value(r->conn, MHD_HEADER_KIND, "Last-Event-ID");
    int64_t id;
    r->next_event = hs->ev->visible + 1;
    if (last && int_parse(last, 0, INT64_MAX, &id) == 0 && (uint64_t)id < hs->ev->visible)
        r->next_event = (uint64_t)id + 1;
    r->coalesce = r->reply.coalesce;
    struct MHD_Response *resp =
        mhd.create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_read, r, NULL);
    if (!resp)
        return MHD_NO;
    mhd.add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    mhd.add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc = mhd.queue_response(r->conn, MHD_HTTP_OK, resp);
    mhd.destroy_response(resp);
    return rc;
}

/* ---- authentication -------------------------------------------------------- */

/* Whether the request carries "Authorization: Bearer TOKEN" with our
 * token. Both sides are hashed first, so the comparison takes the same time
 * whatever the length or the first wrong byte. */
static bool authorized(struct http *hs, struct MHD_Connection *conn)
{
    const char *h =
        mhd.lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7))
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    unsigned char got[crypto_generichash_BYTES];
    crypto_generichash(got, sizeof(got), (const unsigned char *)h, strlen(h), NULL, 0);
    return sodium_memcmp(got, hs->token_hash, sizeof(got)) == 0;
}

/* ---- requests ------------------------------------------------------------- */

struct query_labels {
    char **items;
    size_t n;
    bool too_many;
};

static enum MHD_Result collect_label(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    struct query_labels *l = cls;
    (void)kind;
    if (strcmp(key, "label"))
        return MHD_YES;
    if (l->n == HTTP_MAX_LABELS) {
        l->too_many = true;
        return MHD_NO;
    }
    l->items[l->n++] = (char *)(value ? value : "");
    return MHD_YES;
}

static void peer_name(struct MHD_Connection *conn, char *out, size_t outlen)
{
    const union MHD_ConnectionInfo *ci =
        mhd.get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char host[INET6_ADDRSTRLEN + 2] = "?", port[16] = "?";
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        socklen_t len =
            sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        getnameinfo(sa, len, host, sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV);
    }
    snprintf(out, outlen, "http:%s:%s", host, port);
}

static void handle(struct http *hs, struct req *r, const char *url, const char *method)
{
    struct api_reply *a = &r->reply;
    bool metrics_path = !strcmp(url, "/metrics");
    /* The dashboard's own files hold no data and need no token (a browser
     * cannot send one when it opens a URL); the page then asks for the
     * token and sends it with every API request. */
    const struct dash_file *f = dashboard_find(url);
    if (f && (!strcmp(method, "GET") || !strcmp(method, "HEAD"))) {
        a->status = MHD_HTTP_OK;
        a->ctype = f->ctype;
        buf_add(&a->body, f->data, f->len);
        return;
    }
    if (hs->has_token && !(metrics_path && hs->metrics_open) && !authorized(hs, r->conn)) {
        api_error(a, MHD_HTTP_UNAUTHORIZED,
                  "this master needs its token: send 'Authorization: Bearer TOKEN'");
        return;
    }
    if (r->too_big) {
        api_error(a, MHD_HTTP_CONTENT_TOO_LARGE, "the body is larger than %u bytes", HTTP_MAX_BODY);
        return;
    }
    char *labels[HTTP_MAX_LABELS];
    struct query_labels ql = {.items = labels};
    mhd.get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_label, &ql);
    if (ql.too_many) {
        api_error(a, MHD_HTTP_BAD_REQUEST, "at most %d label= arguments", HTTP_MAX_LABELS);
        return;
    }
    char peer[128];
    peer_name(r->conn, peer, sizeof(peer));
    struct api_req q = {
        .method = method,
        .path = url,
        .peer = peer,
        .body = r->body.data ? r->body.data : "",
        .body_len = r->body.len,
        .state = mhd.lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "state"),
        .job = mhd.lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "job"),
        .limit = mhd.lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "limit"),
        .coalesce = mhd.lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "coalesce"),
        .after = mhd.lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "after"),
        .stream = mhd.lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "stream"),
        .attempt = mhd.lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "attempt"),
        .labels = labels,
        .nlabels = ql.n,
    };
    api_handle(hs->m, hs, &q, a);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct http *hs = cls;
    struct req *r = *con_cls;
    (void)version;
    if (!r) {
        r = xcalloc(1, sizeof(*r));
        r->hs = hs;
        r->conn = conn;
        list_init(&r->node);
        *con_cls = r;
        metrics.http_requests++;
        /* A declared body beyond the limit is refused before it is read. */
        const char *cl =
            mhd.lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        int64_t len;
        if (cl && int_parse(cl, 0, INT64_MAX, &len) == 0 && len > (int64_t)HTTP_MAX_BODY) {
            r->too_big = true;
            handle(hs, r, url, method);
            return queue_reply(r);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (r->body.len + *upload_size > HTTP_MAX_BODY) {
            r->too_big = true;
            buf_release(&r->body);
        } else if (!r->too_big) {
            buf_add(&r->body, upload, *upload_size);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->ready)
        return queue_reply(r);
    handle(hs, r, url, method);
    if (r->reply.stream && r->reply.status == MHD_HTTP_OK) {
        r->stream = true;
        return queue_stream(r);
    }
    if (!r->reply.hold)
        return queue_reply(r);
    r->held = true;
    list_add_tail(&hs->pending, &r->node);
    mhd.suspend_connection(conn);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct req *r = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (!r)
        return;
    list_del(&r->node);
    buf_release(&r->body);
    buf_release(&r->reply.body);
    free(r);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char text[512];
    (void)cls;
    vsnprintf(text, sizeof(text), fmt, ap);
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = 0;
    log_debug("http: %s", text);
}

/* ---- the loop ---------------------------------------------------------------- */

static void run(struct http *hs)
{
    if (hs->stopped)
        return;
    mhd.run(hs->d);
    MHD_UNSIGNED_LONG_LONG to;
    if (mhd.get_timeout(hs->d, &to) == MHD_YES)
        uv_timer_start(&hs->timer, timer_cb, to, 0);
    else
        uv_timer_stop(&hs->timer);
}

static void timer_cb(uv_timer_t *t)
{
    run(t->data);
}

static void poll_cb(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run(p->data);
}

void http_hold(struct http *hs, uint64_t epoch)
{
    if (!hs)
        return;
    for (struct list *p = hs->pending.next; p != &hs->pending; p = p->next) {
        struct req *r = list_entry(p, struct req, node);
        if (!r->epoch_set) {
            r->epoch = epoch;
            r->epoch_set = true;
        }
    }
}

bool http_waits(const struct http *hs)
{
    if (!hs)
        return false;
    for (const struct list *p = hs->pending.next; p != &hs->pending; p = p->next)
        if (!list_entry(p, struct req, node)->epoch_set)
            return true;
    return false;
}

static void resume(struct req *r)
{
    list_del(&r->node);
    list_init(&r->node);
    r->held = false;
    r->ready = true;
    mhd.resume_connection(r->conn); /* MHD's wake-up pipe makes the poll fire */
}

void http_release(struct http *hs, uint64_t done, bool new_events)
{
    if (!hs)
        return;
    if (new_events)
        wake_some_streams(hs, true);
    struct list *p, *tmp;
    list_for_each_safe(p, tmp, &hs->pending)
    {
        struct req *r = list_entry(p, struct req, node);
        if (r->epoch_set && r->epoch <= done) {
            resume(r);
            /* MHD picks resumed connections up in its next run */
            if (!hs->stopped)
                uv_timer_start(&hs->timer, timer_cb, 0, 0);
        }
    }
}

size_t http_connections(struct http *hs)
{
    const union MHD_DaemonInfo *di =
        hs && hs->d ? mhd.get_daemon_info(hs->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS) : NULL;
    return di ? di->num_connections : 0;
}

/* ---- start and stop ------------------------------------------------------------ */

/* Binds host:port (port 0: any) and listens; returns the socket or -errno. */
static int bind_one(const char *host, int port, int *family)
{
    char ps[16];
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *res, *ai;
    snprintf(ps, sizeof(ps), "%d", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0)
        return -EINVAL;
    int rc = -EADDRNOTAVAIL;
    for (ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 511) == 0) {
            *family = ai->ai_family;
            freeaddrinfo(res);
            return fd;
        }
        rc = -errno;
        close(fd);
    }
    freeaddrinfo(res);
    return rc;
}

static char *read_pem(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    struct buf b = BUF_INIT;
    char chunk[4096];
    size_t n;
    if (!f) {
        snprintf(err, errlen, "cannot read '%s' for HTTPS: %s", path, strerror(errno));
        return NULL;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len < (1u << 20))
        buf_add(&b, chunk, n);
    fclose(f);
    buf_addch(&b, 0);
    return buf_detach(&b, NULL);
}

/* The host and first port of --http (NULL: the default). */
static int parse_spec(const char *spec, char *host, size_t hostlen, int *port_out, char *err,
                      size_t errlen)
{
    int port = HTTP_DEFAULT_PORT;
    snprintf(host, hostlen, "127.0.0.1");
    if (spec) {
        size_t n = strlen(spec);
        if (n > 2 && !strcmp(spec + n - 2, ":0")) {
            char tmp[ADDR_HOST_MAX + 8];
            snprintf(tmp, sizeof(tmp), "%.*s:1", (int)(n - 2), spec);
            if (addr_parse(tmp, host, hostlen, &port) == 0)
                port = 0;
            else
                port = -1;
        } else if (addr_parse(spec, host, hostlen, &port)) {
            port = -1;
        }
        if (port < 0) {
            snprintf(err, errlen, "--http '%s' must be HOST:PORT or off", spec);
            return DTR_EINVAL;
        }
    }
    *port_out = port;
    return 0;
}

int http_check(const char *spec, bool has_token, bool insecure, char *err, size_t errlen)
{
    char host[ADDR_HOST_MAX];
    int port;
    if (spec && !strcmp(spec, "off"))
        return 0;
    if (parse_spec(spec, host, sizeof(host), &port, err, errlen))
        return DTR_EINVAL;
    return conn_check_exposure(host, has_token, insecure,
                               "read, submit and cancel every task over HTTP", err, errlen);
}

struct http *http_start(struct master *m, const char *spec, char *url, size_t urllen,
                        bool *disabled, char *err, size_t errlen)
{
    char host[ADDR_HOST_MAX];
    int port;
    *disabled = false;
    if (http_check(spec, m->token != NULL, m->opts.insecure, err, errlen) ||
        parse_spec(spec, host, sizeof(host), &port, err, errlen))
        return NULL;
    if (mhd_load(err, errlen))
        return NULL;
    if (m->opts.tls_cert && !mhd.is_feature_supported(MHD_FEATURE_TLS)) {
        snprintf(err, errlen, "this libmicrohttpd has no TLS: run with --http off");
        return NULL;
    }
    struct http *hs = xcalloc(1, sizeof(*hs));
    hs->m = m;
    hs->listen_fd = -1;
    list_init(&hs->pending);
    hs->metrics_open = m->opts.metrics_open;
    list_init(&hs->streams);
    hs->ev = &m->events;
    if (m->token) {
        hs->has_token = true;
        crypto_generichash(hs->token_hash, sizeof(hs->token_hash), (const unsigned char *)m->token,
                           strlen(m->token), NULL, 0);
    }
    int family = AF_INET, fd = -EADDRINUSE;
    int hi = port ? MIN(port + 99, 65535) : 0;
    for (int p = port; p <= hi; p++) {
        fd = bind_one(host, p, &family);
        if (fd >= 0 || (fd != -EADDRINUSE && fd != -EACCES))
            break;
    }
    if (fd < 0) {
        if (port)
            snprintf(err, errlen, "cannot listen for HTTP on %s port %d-%d: %s", host, port, hi,
                     strerror(-fd));
        else
            snprintf(err, errlen, "cannot listen for HTTP on %s: %s", host, strerror(-fd));
        *disabled = !spec && fd == -EADDRINUSE;
        http_free(hs);
        return NULL;
    }
    hs->listen_fd = fd;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (m->opts.tls_cert && m->opts.tls_key) {
        if (!(hs->tls_cert = read_pem(m->opts.tls_cert, err, errlen)) ||
            !(hs->tls_key = read_pem(m->opts.tls_key, err, errlen))) {
            http_free(hs);
            return NULL;
        }
        flags |= MHD_USE_TLS;
    }
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, hs->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, hs->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };
    hs->d = mhd.start_daemon(
        flags, 0, NULL, NULL, on_request, hs, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, hs,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, hs,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNS, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)HTTP_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
        MHD_OPTION_ARRAY, (flags & MHD_USE_TLS) ? tls_opts : tls_opts + 2, MHD_OPTION_END);
    if (!hs->d) {
        snprintf(err, errlen, "cannot start the HTTP server on %s%s", host,
                 (flags & MHD_USE_TLS) ? " (check --tls-cert and --tls-key)" : "");
        http_free(hs);
        return NULL;
    }
    hs->listen_fd = -1; /* the daemon's now */
    const union MHD_DaemonInfo *di = mhd.get_daemon_info(hs->d, MHD_DAEMON_INFO_EPOLL_FD);
    uv_poll_init(m->loop, &hs->poll, di->epoll_fd);
    uv_timer_init(m->loop, &hs->timer);
    uv_timer_init(m->loop, &hs->keepalive);
    uv_timer_init(m->loop, &hs->tick);
    hs->poll.data = hs->timer.data = hs->keepalive.data = hs->tick.data = hs;
    hs->handles = true;
    uv_poll_start(&hs->poll, UV_READABLE, poll_cb);
    uv_timer_start(&hs->timer, timer_cb, 0, 0);
    uv_timer_start(&hs->keepalive, keepalive_cb, KEEPALIVE_MS, KEEPALIVE_MS);

    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char h[INET6_ADDRSTRLEN] = "?", ps[16] = "?";
    const union MHD_DaemonInfo *li = mhd.get_daemon_info(hs->d, MHD_DAEMON_INFO_LISTEN_FD);
    if (li && getsockname(li->listen_fd, (struct sockaddr *)&ss, &sl) == 0)
        getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), ps, sizeof(ps),
                    NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(url, urllen, "%s://%s%s%s:%s/", (flags & MHD_USE_TLS) ? "https" : "http",
             family == AF_INET6 ? "[" : "", h, family == AF_INET6 ? "]" : "", ps);
    return hs;
}

void http_stop(struct http *hs)
{
    if (!hs || hs->stopped)
        return;
    hs->stopping = true; /* streams end */
    wake_streams(hs);
    while (!list_empty(&hs->pending))
        resume(list_entry(hs->pending.next, struct req, node));
    mhd.run(hs->d); /* so no connection is left suspended */
    hs->stopped = true;
    if (hs->handles) {
        uv_poll_stop(&hs->poll);
        uv_timer_stop(&hs->timer);
        uv_timer_stop(&hs->keepalive);
        uv_timer_stop(&hs->tick);
        uv_close((uv_handle_t *)&hs->poll, NULL);
        uv_close((uv_handle_t *)&hs->timer, NULL);
        uv_close((uv_handle_t *)&hs->keepalive, NULL);
        uv_close((uv_handle_t *)&hs->tick, NULL);
    }
}

void http_free(struct http *hs)
{
    if (!hs)
        return;
    if (hs->d) {
        hs->stopping = true;
        wake_streams(hs);
        while (!list_empty(&hs->pending))
            resume(list_entry(hs->pending.next, struct req, node));
        mhd.stop_daemon(hs->d);
    }
    if (hs->listen_fd >= 0)
        close(hs->listen_fd);
    free(hs->tls_cert);
    free(hs->tls_key);
    buf_release(&hs->sse.text);
    free(hs->sse.off);
    free(hs);
}
