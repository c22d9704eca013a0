/* SPDX-License-Identifier: MIT */
/*
 * Discovery: every --scan-interval, dial each port of each --discover range
 * that is not already a known worker's address, and register whatever
 * answers the handshake as a dtr worker. Anything else (a closed port, a web
 * server) fails its handshake and is forgotten until the next scan.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/parse.h"
#include "common/util.h"
#include "master/master.h"

#define PROBE_TIMEOUT_MS 2000

/* A probe in flight, in m->probes by address, so a slow port is not
 * dialed twice. */
struct probe {
    struct master *m;
    char addr[ADDR_HOST_MAX + 8];
};

static const char *probe_key(const void *item)
{
    return ((const struct probe *)item)->addr;
}

static void probe_done(struct probe *p)
{
    hmap_del(&p->m->probes, p->addr);
    free(p);
}

static void probe_fail_cb(void *data, const char *host, int port, const char *why)
{
    (void)host;
    (void)port;
    (void)why;
    probe_done(data);
}

static int probe_ready_cb(struct conn *c, struct msg *hello, char *err, size_t errlen)
{
    struct probe *p = c->data;
    /* From here the conn is an ordinary worker connection: a refusal below
     * closes it, and the probe must not be reported failed a second time. */
    conn_hand_over(c, &master_conn_ops, NULL);
    probe_done(p);
    return master_conn_ops.ready(c, hello, err, errlen);
}

static void probe_message_cb(struct conn *c, struct msg *m)
{
    master_conn_ops.message(c, m);
}

static void probe_closed_cb(struct conn *c)
{
    master_conn_ops.closed(c);
}

static const struct conn_ops probe_ops = {
    .ready = probe_ready_cb,
    .message = probe_message_cb,
    .closed = probe_closed_cb,
};

static bool known_addr(struct master *m, const char *addr)
{
    if (!strcmp(addr, m->addr))
        return true;
    for (struct list *p = m->workers.all.next; p != &m->workers.all; p = p->next) {
        struct worker *w = list_entry(p, struct worker, node);
        if (w->conn && w->addr && !strcmp(w->addr, addr))
            return true;
    }
    return false;
}

/* The workers report numeric addresses: resolve the scanned host the same
 * way, so a known worker is recognised and not dialed again. */
static void numeric_host(const char *host, char *out, size_t outlen)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    snprintf(out, outlen, "%s", host);
    if (getaddrinfo(host, NULL, &hints, &res) == 0 && res) {
        getnameinfo(res->ai_addr, res->ai_addrlen, out, (socklen_t)outlen, NULL, 0, NI_NUMERICHOST);
        freeaddrinfo(res);
    }
}

void discover_init(struct master *m)
{
    hmap_init(&m->probes, probe_key);
}

void discover_release(struct master *m)
{
    hmap_release(&m->probes);
}

void discover_scan(struct master *m)
{
    for (size_t i = 0; i < m->opts.discover.len; i++) {
        char host[ADDR_HOST_MAX], err[300];
        int lo, hi;
        char name[ADDR_HOST_MAX];
        if (addr_range_parse(m->opts.discover.items[i], name, sizeof(name), &lo, &hi) != 0)
            continue; /* checked at start-up */
        numeric_host(name, host, sizeof(host));
        for (int port = lo; port <= hi; port++) {
            struct probe *p = xcalloc(1, sizeof(*p));
            snprintf(p->addr, sizeof(p->addr), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
            p->m = m;
            if (known_addr(m, p->addr) || hmap_get(&m->probes, p->addr)) {
                free(p);
                continue;
            }
            hmap_put(&m->probes, p);
            if (!conn_dial(&m->hub, host, port, CONN_ROLE_WORKER, &probe_ops, p, PROBE_TIMEOUT_MS,
                           probe_fail_cb, err, sizeof(err))) {
                log_warn("cannot scan addr=%s error=%s", p->addr, log_quote(err));
                probe_done(p);
            }
        }
    }
}
