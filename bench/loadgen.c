/* SPDX-License-Identifier: MIT */
/*
 * loadgen: many simulated dtr workers in one process, for benchmarks.
 *
 *   loadgen --master HOST:PORT --workers N [--slots S] [--prefix P]
 *           [--connect-batch B] [--time SEC]
 *           [--mute-count K] [--mute-after SEC] [--mute-gap SEC]
 *           [--mute-on-signal 1] [--hetero 1]
 *
 * Each simulated worker is one TCP connection to the master (epoll, one
 * thread) that does the real handshake (hello: role worker, id P-INDEX, a
 * fresh nonce, slots S, an empty running list; no token), beats like a
 * real worker (a pong every heartbeat_ms named in the master's hello, or a
 * ping when it has heard nothing from the master for 3.75 s, as a worker with
 * the default --master-timeout does), answers every ping with a pong, and
 * "runs" every entry of every run instantly: it
 * replies with a result ok:true, result:null (what a real worker sends for
 * a noop) for each entry, all of a run in one write. Acks and kills are
 * counted and otherwise ignored.
 *
 * Runs are parsed by a fast scanner that relies on the master's canonical
 * encoding (msg_run_add: lease, attempt, spec with the id first); any line
 * it does not recognise goes through the project's own msg_parse(), so the
 * tool never answers something it did not understand.
 *
 * Dead-worker detection: with --mute-count K, K workers (P-0, P-1, ...) go
 * silent one after another, the first --mute-after seconds after every
 * worker is ready: a muted worker keeps its connection open but never
 * answers again. The master is expected to declare it dead after its
 * --worker-timeout and close the connection; the time from muting to that
 * close is printed as "dead id=ID ms=MS". The next worker is muted a random
 * 0..--mute-gap seconds later (so mutes fall at different points of the
 * heartbeat cycle). With --mute-on-signal 1 the --mute-after delay starts
 * when the process gets SIGUSR1 instead of when every worker is ready.
 *
 * Output (stdout, one line each, flushed):
 *   ready workers=N failed=F ms=MS        every handshake done (or failed)
 *   dead id=ID ms=MS silent_ms=MS2        a muted worker was dropped, MS after
 *                                         it was muted, MS2 after its last pong
 *   done results=R runs=U pings=P acks=A kills=K lost=L errors=E
 *
 * Bounded: at most 20,000 workers; connecting gives up after 120 s; the
 * whole run ends after --time seconds (default 600, at most 3600) or on
 * SIGINT/SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/buf.h"
#include "proto/frame.h"
#include "proto/msg.h"

#define MAX_WORKERS 20000
#define CONNECT_GIVE_UP_S 120.0
#define RECV_CHUNK (256 * 1024)

enum sim_state { S_IDLE, S_CONNECTING, S_HELLO, S_READY, S_MUTED, S_CLOSED };

struct sim {
    int fd;
    enum sim_state st;
    bool want_out; /* EPOLLOUT is registered */
    struct frame_reader rd;
    struct buf out;
    size_t out_off;
    double muted_at;
    double last_sent;  /* when we last sent it anything */
    double last_heard; /* when the master last sent us anything */
    double next_beat;
    double beat; /* the heartbeat the master named (hello, pong) */
};

/* What a worker with --master-timeout 30s does: it asks after 3.75 s of
 * silence, or every other beat when they are slower, at most 7.5 s. */
#define ASK_AFTER_S 3.75
#define ASK_MAX_S 7.5
static double ask_after(const struct sim *s)
{
    double t = s->beat * 2 > ASK_AFTER_S ? s->beat * 2 : ASK_AFTER_S;
    return t < ASK_MAX_S ? t : ASK_MAX_S;
}

static struct sim *sims;
static int nsims, slots = 1, epfd;
/* --hetero 1: offers differ (issue 13): every 4th worker has 2 GPUs, the
 * next a license, the rest CPUs only (as many as its slots). */
static int hetero;
static const char *prefix = "lg";
static struct sockaddr_storage master_sa;
static socklen_t master_salen;
static volatile sig_atomic_t stop_flag, mute_go;
static uint64_t n_results, n_runs, n_pings, n_acks, n_kills, n_lost, n_errors, n_slow;
static int n_ready, n_failed, n_pending;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void on_usr1(int sig)
{
    (void)sig;
    mute_go = 1;
}

static void sim_id(int i, char *out, size_t len)
{
    snprintf(out, len, "%s-%d", prefix, i);
}

static void ep_set(int i, bool out)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0),
                             .data.u32 = (uint32_t)i};
    epoll_ctl(epfd, EPOLL_CTL_MOD, sims[i].fd, &ev);
    sims[i].want_out = out;
}

static void sim_close(int i)
{
    struct sim *s = &sims[i];
    if (s->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
    }
    s->fd = -1;
    s->st = S_CLOSED;
    frame_release(&s->rd);
    buf_release(&s->out);
    s->out_off = 0;
}

/* Writes what is queued; registers for EPOLLOUT when the socket is full. */
static void sim_flush(int i)
{
    struct sim *s = &sims[i];
    while (s->out_off < s->out.len) {
        ssize_t n = send(s->fd, s->out.data + s->out_off, s->out.len - s->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (!s->want_out)
                ep_set(i, true);
            return;
        }
        if (n <= 0) {
            char id[64];
            sim_id(i, id, sizeof(id));
            fprintf(stderr, "loadgen: %s: send: %s\n", id, strerror(errno));
            n_lost++;
            if (s->st == S_CONNECTING || s->st == S_HELLO) {
                n_failed++;
                n_pending--;
            }
            sim_close(i);
            return;
        }
        s->out_off += (size_t)n;
        s->last_sent = now_s();
    }
    buf_reset(&s->out);
    s->out_off = 0;
    if (s->want_out)
        ep_set(i, false);
}

static void send_hello(int i)
{
    struct sim *s = &sims[i];
    char id[64], nonce[AUTH_NONCE_HEX];
    struct msg h;
    sim_id(i, id, sizeof(id));
    auth_nonce(nonce);
    memset(&h, 0, sizeof(h));
    h.type = MSG_HELLO;
    h.proto = PROTO_VERSION;
    h.role = (char *)"worker";
    h.id = id;
    h.nonce = nonce;
    h.slots = slots;
    struct request offer = {.cpus_milli = (int64_t)slots * 1000};
    if (hetero && i % 4 == 0)
        offer.gpus = 2;
    if (hetero && i % 4 == 1) {
        offer.nnamed = 1;
        snprintf(offer.named[0].name, sizeof(offer.named[0].name), "license");
        offer.named[0].n = 1;
    }
    if (hetero)
        h.offer = &offer;
    msg_encode(&s->out, &h);
    /* Nothing held: the master may send work once it reads this. */
    buf_addstr(&s->out, "{\"type\":\"held\",\"attempts\":[]}\n");
    s->st = S_HELLO;
    sim_flush(i);
}

static int start_connect(int i)
{
    struct sim *s = &sims[i];
    int fd = socket(master_sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "loadgen: socket: %s\n", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    s->fd = fd;
    frame_init(&s->rd, FRAME_MAX_LINE);
    buf_init(&s->out);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.u32 = (uint32_t)i};
    s->want_out = true;
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    n_pending++;
    if (connect(fd, (struct sockaddr *)&master_sa, master_salen) == 0) {
        send_hello(i);
        return 0;
    }
    if (errno != EINPROGRESS) {
        fprintf(stderr, "loadgen: connect: %s\n", strerror(errno));
        n_failed++;
        n_pending--;
        sim_close(i);
        return 0;
    }
    s->st = S_CONNECTING;
    return 0;
}

static void add_result(struct buf *b, uint64_t lease, const char *id_json, size_t idlen,
                       int attempt, int64_t now)
{
    buf_addf(b, "{\"type\":\"result\",\"lease\":%" PRIu64 ",\"id\":\"", lease);
    buf_add(b, id_json, idlen);
    /* A real worker's noop result, as msg_encode_result() spells it (the
     * defaults left out), so that the master reads it as it reads theirs. */
    buf_addf(b,
             "\",\"attempt\":%d,\"ok\":true,\"exit_code\":0,\"started_at\":%" PRId64
             ",\"finished_at\":%" PRId64 "}\n",
             attempt, now, now);
    n_results++;
}

static bool lit(const char **p, const char *end, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(end - *p) < n || memcmp(*p, s, n))
        return false;
    *p += n;
    return true;
}

static bool num(const char **p, const char *end, uint64_t *v)
{
    const char *q = *p;
    uint64_t x = 0;
    while (q < end && *q >= '0' && *q <= '9' && q - *p < 19)
        x = x * 10 + (uint64_t)(*q++ - '0');
    if (q == *p)
        return false;
    *v = x;
    *p = q;
    return true;
}

/* Skips a JSON string whose opening quote was consumed; returns false if it
 * does not end on this line. */
static bool skip_str(const char **p, const char *end)
{
    const char *q = *p;
    while (q < end) {
        if (*q == '\\') {
            q += 2;
            continue;
        }
        if (*q == '"') {
            *p = q + 1;
            return true;
        }
        q++;
    }
    return false;
}

/*
 * The fast path for the master's run lines:
 * {"type":"run","tasks":[{"lease":N,"attempt":A,"spec":{"id":"ID",...}},...]}
 * Appends a result per entry to out; returns false (out untouched) if the
 * line is not in exactly that form.
 */
static bool fast_run(const char *line, size_t len, struct buf *out, int64_t now)
{
    const char *p = line, *end = line + len;
    size_t start = out->len;
    uint64_t count = 0;
    if (!lit(&p, end, "{\"type\":\"run\",\"tasks\":["))
        return false;
    for (;;) {
        uint64_t lease, attempt;
        if (!lit(&p, end, "{\"lease\":") || !num(&p, end, &lease) ||
            !lit(&p, end, ",\"attempt\":") || !num(&p, end, &attempt) ||
            !lit(&p, end, ",\"spec\":{\"id\":\""))
            goto bad;
        const char *id = p;
        if (!skip_str(&p, end))
            goto bad;
        size_t idlen = (size_t)(p - 1 - id);
        /* The rest of the spec object: strings skipped, braces counted. */
        int depth = 1;
        while (p < end && depth > 0) {
            char ch = *p++;
            if (ch == '"') {
                if (!skip_str(&p, end))
                    goto bad;
            } else if (ch == '{' || ch == '[') {
                depth++;
            } else if (ch == '}' || ch == ']') {
                depth--;
            }
        }
        if (depth != 0 || !lit(&p, end, "}") || attempt < 1 || attempt > INT32_MAX)
            goto bad;
        add_result(out, lease, id, idlen, (int)attempt, now);
        count++;
        if (lit(&p, end, ","))
            continue;
        if (lit(&p, end, "]}") && p == end)
            break;
        goto bad;
    }
    n_runs++;
    (void)count;
    return true;
bad:
    n_results -= count;
    out->len = start;
    if (out->data)
        out->data[start] = '\0';
    return false;
}

/* Any other line after the handshake: the project's parser decides. */
static void slow_line(int i, const char *line, size_t len, int64_t now)
{
    struct sim *s = &sims[i];
    struct msg m;
    char err[512], id[64];
    n_slow++;
    if (msg_parse(line, len, &m, err, sizeof(err)) != 0) {
        sim_id(i, id, sizeof(id));
        fprintf(stderr, "loadgen: %s: bad line from the master: %s\n", id, err);
        n_errors++;
        return;
    }
    switch (m.type) {
    case MSG_PING:
        buf_addstr(&s->out, "{\"type\":\"pong\",\"busy\":0}\n");
        n_pings++;
        break;
    case MSG_PONG: /* the answer to our ping */
        if (m.heartbeat_ms)
            s->beat = (double)m.heartbeat_ms / 1000;
        break;
    case MSG_ACK:
        n_acks++;
        break;
    case MSG_KILL:
        n_kills++;
        break;
    case MSG_RUN:
        for (size_t k = 0; k < m.nruns; k++) {
            struct buf idb = BUF_INIT;
            buf_add_json_cstr(&idb, m.runs[k].spec.id ? m.runs[k].spec.id : "?");
            /* strip the quotes buf_add_json_cstr wrote */
            add_result(&s->out, m.runs[k].lease, idb.data + 1, idb.len - 2, m.runs[k].attempt, now);
            buf_release(&idb);
        }
        n_runs++;
        break;
    case MSG_ERROR:
        sim_id(i, id, sizeof(id));
        fprintf(stderr, "loadgen: %s: the master says: %s\n", id, m.error);
        n_errors++;
        break;
    default:
        sim_id(i, id, sizeof(id));
        fprintf(stderr, "loadgen: %s: unexpected '%s'\n", id, msg_type_name(m.type));
        n_errors++;
        break;
    }
    msg_release(&m);
}

static void ready_line(int i, const char *line, size_t len, int64_t now)
{
    struct sim *s = &sims[i];
    if (len == 15 && !memcmp(line, "{\"type\":\"ping\"}", 15)) {
        buf_addstr(&s->out, "{\"type\":\"pong\",\"busy\":0}\n");
        n_pings++;
    } else if (len > 14 && !memcmp(line, "{\"type\":\"pong\"", 14)) {
        /* the answer to our ping, which may name a new heartbeat */
        const char *hb = memmem(line, len, "\"heartbeat_ms\":", 15);
        if (hb)
            s->beat = strtod(hb + 15, NULL) / 1000;
    } else if (len > 22 && !memcmp(line, "{\"type\":\"ack\",\"leases\":", 23)) {
        n_acks++;
    } else if (!fast_run(line, len, &s->out, now)) {
        slow_line(i, line, len, now);
    }
}

static void hello_line(int i, const char *line, size_t len)
{
    struct sim *s = &sims[i];
    struct msg m;
    char err[512], id[64];
    sim_id(i, id, sizeof(id));
    n_pending--;
    if (msg_parse(line, len, &m, err, sizeof(err)) != 0) {
        fprintf(stderr, "loadgen: %s: bad hello from the master: %s\n", id, err);
        n_failed++;
        sim_close(i);
        return;
    }
    if (m.type == MSG_HELLO && m.role && !strcmp(m.role, "master") && !m.proof) {
        s->st = S_READY;
        n_ready++;
        s->beat = m.heartbeat_ms ? (double)m.heartbeat_ms / 1000 : 1.0;
        s->last_heard = now_s();
        s->next_beat = s->last_heard + s->beat;
    } else {
        fprintf(stderr, "loadgen: %s: handshake refused: %s\n", id,
                m.type == MSG_ERROR ? m.error : "not a master hello (or it wants a token)");
        n_failed++;
        sim_close(i);
    }
    msg_release(&m);
}

static void on_readable(int i, double now, int64_t wall, char *chunk)
{
    struct sim *s = &sims[i];
    for (;;) {
        ssize_t n = recv(s->fd, chunk, RECV_CHUNK, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            char id[64];
            sim_id(i, id, sizeof(id));
            if (s->st == S_MUTED) {
                printf("dead id=%s ms=%.0f silent_ms=%.0f\n", id, (now - s->muted_at) * 1000,
                       (now - s->last_sent) * 1000);
                fflush(stdout);
            } else {
                fprintf(stderr, "loadgen: %s: the master closed the connection%s\n", id,
                        n < 0 ? strerror(errno) : "");
                n_lost++;
                if (s->st == S_HELLO || s->st == S_CONNECTING) {
                    n_failed++;
                    n_pending--;
                }
            }
            sim_close(i);
            return;
        }
        if (s->st == S_MUTED)
            continue; /* silent: read and forget */
        s->last_heard = now;
        frame_push(&s->rd, chunk, (size_t)n);
        if ((size_t)n < RECV_CHUNK)
            break;
    }
    char *line;
    size_t len;
    int rc;
    while (s->st == S_HELLO || s->st == S_READY) {
        rc = frame_next(&s->rd, &line, &len);
        if (rc == 0)
            break;
        if (rc < 0) {
            fprintf(stderr, "loadgen: line too long from the master\n");
            n_errors++;
            sim_close(i);
            return;
        }
        if (len == 0)
            continue;
        if (s->st == S_HELLO)
            hello_line(i, line, len);
        else
            ready_line(i, line, len, wall);
    }
    if (s->st == S_READY && s->out.len > s->out_off)
        sim_flush(i);
}

/* Heartbeats of every ready worker that is due. */
static void beat_all(double now)
{
    for (int i = 0; i < nsims; i++) {
        struct sim *s = &sims[i];
        if (s->st != S_READY || now < s->next_beat)
            continue;
        bool ask = now - s->last_heard >= ask_after(s);
        if (!ask && now - s->last_sent < s->beat) { /* results beat for it, as a worker's do */
            s->next_beat = s->last_sent + s->beat;
            continue;
        }
        s->next_beat = now + s->beat;
        if (ask) {
            buf_addstr(&s->out, "{\"type\":\"ping\"}\n");
            s->last_heard = now; /* one ask per ask_after() */
        } else {
            buf_addstr(&s->out, "{\"type\":\"pong\",\"busy\":0}\n");
        }
        sim_flush(i);
    }
}

static void on_writable(int i)
{
    struct sim *s = &sims[i];
    if (s->st == S_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof(err);
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            char id[64];
            sim_id(i, id, sizeof(id));
            fprintf(stderr, "loadgen: %s: connect: %s\n", id, strerror(err));
            n_failed++;
            n_pending--;
            sim_close(i);
            return;
        }
        send_hello(i);
        return;
    }
    sim_flush(i);
}

static int parse_master(const char *addr)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof(host))
        return -1;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return -1;
    memcpy(&master_sa, res->ai_addr, res->ai_addrlen);
    master_salen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: loadgen --master HOST:PORT --workers N [--slots S] [--prefix P]\n"
                    "               [--connect-batch B] [--time SEC] [--mute-count K]\n"
                    "               [--mute-after SEC] [--mute-gap SEC] [--mute-on-signal 1]\n"
                    "               [--hetero 1]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *master = NULL;
    /* Handshakes in flight: at most the master's CONN_MAX_PREAUTH_PER_SOURCE,
     * since every simulated worker comes from the same address. */
    int batch = 64, mute_count = 0, mute_wait_signal = 0;
    double run_time = 600, mute_after = 2, mute_gap = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (!strcmp(a, "--master"))
            master = v;
        else if (!strcmp(a, "--workers"))
            nsims = atoi(v);
        else if (!strcmp(a, "--slots"))
            slots = atoi(v);
        else if (!strcmp(a, "--prefix"))
            prefix = v;
        else if (!strcmp(a, "--connect-batch"))
            batch = atoi(v);
        else if (!strcmp(a, "--time"))
            run_time = atof(v);
        else if (!strcmp(a, "--mute-count"))
            mute_count = atoi(v);
        else if (!strcmp(a, "--mute-after"))
            mute_after = atof(v);
        else if (!strcmp(a, "--mute-gap"))
            mute_gap = atof(v);
        else if (!strcmp(a, "--hetero"))
            hetero = atoi(v);
        else if (!strcmp(a, "--mute-on-signal"))
            mute_wait_signal = atoi(v);
        else
            usage();
        i++;
    }
    if (!master || nsims < 1 || nsims > MAX_WORKERS || slots < 1 || slots > 1024 || batch < 1 ||
        run_time <= 0 || run_time > 3600 || mute_count < 0 || mute_count > nsims ||
        mute_after < 0 || mute_gap < 0)
        usage();
    if (parse_master(master) != 0) {
        fprintf(stderr, "loadgen: cannot resolve '%s'\n", master);
        return 2;
    }
    if (auth_init() != 0) {
        fprintf(stderr, "loadgen: cannot initialise libsodium\n");
        return 1;
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t need = (rlim_t)nsims + 64;
    if (rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < need) {
        fprintf(stderr, "loadgen: RLIMIT_NOFILE is %llu, %d workers need %llu\n",
                (unsigned long long)rl.rlim_cur, nsims, (unsigned long long)need);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGUSR1, on_usr1);
    srandom((unsigned)getpid());
    epfd = epoll_create1(EPOLL_CLOEXEC);
    sims = calloc((size_t)nsims, sizeof(*sims));
    for (int i = 0; i < nsims; i++)
        sims[i].fd = -1;
    char *chunk = malloc(RECV_CHUNK);
    struct epoll_event evs[1024];
    double t0 = now_s(), ready_at = 0, end_at = 0, next_mute = 0;
    int next_connect = 0, muted = 0, detected = 0;
    bool all_ready = false, mute_started = false;
    while (!stop_flag) {
        double now = now_s();
        if (!all_ready) {
            while (next_connect < nsims && n_pending < batch)
                if (start_connect(next_connect++) != 0)
                    goto out;
            if (next_connect == nsims && n_pending == 0) {
                all_ready = true;
                ready_at = now;
                end_at = now + run_time;
                mute_started = !mute_wait_signal;
                next_mute = now + mute_after;
                printf("ready workers=%d failed=%d ms=%.0f\n", n_ready, n_failed,
                       (now - t0) * 1000);
                fflush(stdout);
            } else if (now - t0 > CONNECT_GIVE_UP_S) {
                fprintf(stderr, "loadgen: %d handshakes still pending after %.0f s; giving up\n",
                        n_pending, CONNECT_GIVE_UP_S);
                goto out;
            }
        } else {
            if (now >= end_at)
                break;
            if (!mute_started && mute_go) {
                mute_started = true;
                next_mute = now + mute_after;
            }
            /* Mute the next worker once the previous one was dropped. */
            if (mute_started && muted < mute_count && muted == detected && now >= next_mute) {
                int k = muted;
                if (sims[k].st == S_READY) {
                    sims[k].st = S_MUTED;
                    sims[k].muted_at = now;
                    buf_reset(&sims[k].out);
                    sims[k].out_off = 0;
                    if (sims[k].want_out)
                        ep_set(k, false);
                    muted++;
                } else {
                    mute_count = muted; /* that worker is gone already */
                }
            }
        }
        beat_all(now);
        int n = epoll_wait(epfd, evs, 1024, 50);
        if (n < 0 && errno != EINTR) {
            perror("loadgen: epoll_wait");
            break;
        }
        now = now_s();
        int64_t wall = wall_ms();
        for (int e = 0; e < n; e++) {
            int i = (int)evs[e].data.u32;
            if (sims[i].st == S_CLOSED || sims[i].fd < 0)
                continue;
            bool was_muted = sims[i].st == S_MUTED;
            if (evs[e].events & (EPOLLOUT | EPOLLERR) && sims[i].st != S_MUTED)
                on_writable(i);
            if (sims[i].st != S_CLOSED &&
                (evs[e].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                on_readable(i, now, wall, chunk);
            if (was_muted && sims[i].st == S_CLOSED) {
                detected++;
                next_mute = now + mute_gap * (double)random() / (double)RAND_MAX;
            }
        }
    }
out:
    (void)ready_at;
    printf("done results=%" PRIu64 " runs=%" PRIu64 " pings=%" PRIu64 " acks=%" PRIu64
           " kills=%" PRIu64 " lost=%" PRIu64 " errors=%" PRIu64 " slow=%" PRIu64
           " ready=%d failed=%d\n",
           n_results, n_runs, n_pings, n_acks, n_kills, n_lost, n_errors, n_slow, n_ready,
           n_failed);
    fflush(stdout);
    for (int i = 0; i < nsims; i++)
        if (sims[i].st != S_CLOSED && sims[i].st != S_IDLE)
            sim_close(i);
    free(sims);
    free(chunk);
    close(epfd);
    return 0;
}
