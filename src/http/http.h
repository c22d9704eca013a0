/* SPDX-License-Identifier: MIT */
/*
 * The master's HTTP side (docs/http.md): libmicrohttpd driven from the
 * master's own libuv loop (its epoll fd watched by a uv_poll, its timeout by
 * a uv_timer, MHD_run called from them), so request handlers read and change
 * the master's state on the loop thread, like the native handlers, with no
 * lock. A reply that shows or changes state is held (the connection
 * suspended) until the journal commit of the turn that made it, as the
 * native replies are: a 201 for POST /api/v1/tasks means the tasks are on
 * disk.
 */
#ifndef DTR_HTTP_HTTP_H
#define DTR_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct master;
struct http;

#define HTTP_DEFAULT_PORT 8999
#define HTTP_MAX_BODY (16u * 1024 * 1024) /* a request body; beyond: 413 */
#define HTTP_MAX_CONNS 1024               /* at once; beyond: refused at accept */
#define HTTP_MEMORY_LIMIT (64u * 1024)    /* a request's line and headers; beyond: 431 */
#define HTTP_TIMEOUT_S 30                 /* an idle or slow connection is closed */

/*
 * Listens on spec ("HOST:PORT", trying PORT..PORT+99 like the main port;
 * port 0 takes any free port; NULL for the default 127.0.0.1:8999, where
 * finding every port taken is a warning, not an error) and serves from m's
 * loop. Fills url ("http://HOST:PORT/" or https). Returns the server, or
 * NULL with err set (*disabled true when the default ports were all taken).
 */
struct http *http_start(struct master *m, const char *spec, char *url, size_t urllen,
                        bool *disabled, char *err, size_t errlen);
/* Checks --http (spec as for http_start(), or "off") and the loopback
 * rule for it before anything starts: 0, or DTR_EINVAL with err. */
int http_check(const char *spec, bool has_token, bool insecure, char *err, size_t errlen);
/* The turn's journal batch is epoch: replies made this turn wait for it. */
void http_hold(struct http *hs, uint64_t epoch);
/* Whether a request made this turn waits for the turn's batch (hs may be NULL). */
bool http_waits(const struct http *hs);
/* Lets out the replies whose epoch is durable; new_events: the event log
 * has more durable events (events_durable()) for the streams. */
void http_release(struct http *hs, uint64_t done, bool new_events);
/* Releases every held reply, closes every connection and the handles. */
void http_stop(struct http *hs);
/* After the loop ended (or after a failed start-up). */
void http_free(struct http *hs);
/* Connections open now (for /metrics). */
size_t http_connections(struct http *hs);

/* ---- api.c: the routes ---- */

struct api_req {
    const char *method, *path, *peer;
    const char *body;
    size_t body_len;
    const char *state, *job, *limit, *after; /* query arguments, or NULL */
    const char *stream, *attempt;            /* of GET /api/v1/tasks/ID/output */
    const char *coalesce;                    /* of GET /api/v1/events */
    char **labels;                           /* label=KEY=VALUE arguments */
    size_t nlabels;
};

struct api_reply {
    unsigned status;
    struct buf body;
    const char *ctype; /* NULL: application/json */
    const char *allow; /* for a 405 */
    bool hold;         /* wait for the turn's journal commit */
    bool stream;       /* GET /api/v1/events: the event stream follows */
    bool coalesce;     /* ... with the common task events counted, not sent */
    char attempt[24];  /* X-Dtr-Attempt of an output reply, when set */
    char size[24];     /* X-Dtr-Size of an output reply, when set */
};

void api_handle(struct master *m, struct http *hs, const struct api_req *q, struct api_reply *r);
/* {"error":TEXT} with status. */
void api_error(struct api_reply *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- metrics.c: GET /metrics ---- */

/* Appends the Prometheus text exposition of m's counters. No scan of the
 * task table: counts and counters are kept as things happen. */
void http_metrics(struct master *m, struct http *hs, struct buf *b);

#endif
