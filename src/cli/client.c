/* SPDX-License-Identifier: MIT */
/* The CLI's blocking connection to the master (TLS optional), and shared CLI helpers. */
#include "cli/client.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "cli/describe.h"
#include "common/auth.h"
#include "common/clock.h"
#include "common/parse.h"
#include "common/util.h"
#include "net/handshake.h"

#define CONNECT_TIMEOUT_MS 5000
#define REPLY_TIMEOUT_MS 60000
/* A master group (--master A,B,C): at most this many addresses, this many
 * leader hints followed in one pass over them, and this long waiting for
 * the group to elect a leader when no member knows one. */
#define GROUP_MAX 16
#define GROUP_HOPS 4
#define GROUP_WAIT_MS 10000
#define MASTER_LIST_MAX 4096 /* the --master, DTR_MASTER or master.addr text */

/* While set, cli_error() writes here instead of stderr (one message: the
 * last), so that trying the members of a group says nothing until the end. */
static _Thread_local char *captured;
static _Thread_local size_t captured_len;

void cli_error_capture(char *buf, size_t len)
{
    captured = buf;
    captured_len = len;
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    if (captured) {
        va_start(ap, fmt);
        vsnprintf(captured, captured_len, fmt, ap);
        va_end(ap);
        return;
    }
    fputs("dtr: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* The positional arguments against what the command takes (enum cli_args). */
static int check_args(const char *cmd, unsigned flags, char **pos, int npos)
{
    if ((flags & CLI_NO_ARGS) && npos) {
        cli_error("%s takes no arguments (got '%s')", cmd, pos[0]);
        return EXIT_USAGE;
    }
    if ((flags & CLI_ONE_TASK_ID) && npos != 1) {
        cli_error("%s takes one task id (see 'dtr %s --help')", cmd, cmd);
        return EXIT_USAGE;
    }
    if (flags & (CLI_ONE_TASK_ID | CLI_TASK_IDS))
        for (int i = 0; i < npos; i++)
            if (!msg_id_valid(pos[i])) {
                cli_error("'%s' is not a valid task id", pos[i]);
                return EXIT_USAGE;
            }
    return -1;
}

int cli_parse(const char *cmd, const char *usage, const char *summary, const struct opt *opts,
              int argc, char **argv, unsigned flags, char **pos, int *npos, int *dashdash)
{
    char err[512];
    const char *config = NULL; /* read by config_load() from argv */
    size_t n = 0, *from_file;
    int rc = -1;

    /* The command's table and --config (commands without flags take none). */
    while (opts[n].name)
        n++;
    struct opt *all = xcalloc(n + 2, sizeof(*all));
    memcpy(all, opts, n * sizeof(*all));
    if (n)
        all[n] = (struct opt){"config", 0, OPT_STRING, &config, "FILE", CONFIG_HELP, 0, 0};
    from_file = xcalloc(n + 2, sizeof(*from_file));
    if (cli_describe_hook) {
        /* dtr __man / __complete: describe the table, run nothing. */
        cli_describe_hook(cmd, usage, summary, all);
        rc = 0;
        goto out;
    }
    unsigned oflags = flags & 0xff; /* opts_parse()'s own */
    if (n && config_load(cmd, all, argc, argv, oflags, from_file, err, sizeof(err))) {
        fprintf(stderr, "dtr %s: %s\n", cmd, err);
        rc = EXIT_USAGE;
        goto out;
    }
    int prc = opts_parse(all, argc, argv, oflags, pos, npos, dashdash, err, sizeof(err));
    if (prc == 1) {
        opts_usage(stdout, usage, summary, all);
        rc = 0;
    } else if (prc != 0) {
        fprintf(stderr, "dtr %s: %s (see 'dtr %s --help')\n", cmd, err, cmd);
        rc = EXIT_USAGE;
    } else {
        if (n)
            config_finish(all, from_file);
        rc = check_args(cmd, flags, pos, *npos);
    }
out:
    free(from_file);
    free(all);
    return rc;
}

/* The master's address, or a group's list of them: --master, DTR_MASTER,
 * .dtr/master.addr (every line of it), or the default. */
static void find_master(const struct client_flags *f, char *out, size_t outlen)
{
    const char *env = getenv("DTR_MASTER");
    if (f->master) {
        snprintf(out, outlen, "%s", f->master);
        return;
    }
    if (env && *env) {
        snprintf(out, outlen, "%s", env);
        return;
    }
    FILE *fp = fopen(".dtr/master.addr", "re");
    if (fp) {
        size_t n = fread(out, 1, outlen - 1, fp);
        fclose(fp);
        out[n] = '\0';
        if (n) {
            /* One address per line, or one line of A,B,C: the same list. */
            for (char *p = out; *p; p++)
                if (*p == '\n')
                    *p = ',';
            while (n && strchr(", \t\r", out[n - 1]))
                out[--n] = '\0';
            return;
        }
    }
    snprintf(out, outlen, "127.0.0.1:4999");
}

struct master_list {
    char addr[GROUP_MAX][MSG_MAX_ADDR + 1];
    int n;
};

/* Splits "A,B,C" (blanks and empty entries skipped) and checks each is
 * HOST:PORT. Returns 0, or EXIT_USAGE with the error printed. */
static int parse_master_list(const char *text, struct master_list *l)
{
    char host[ADDR_HOST_MAX], one[sizeof(l->addr[0])];
    const char *p = text;
    int port, rc;
    l->n = 0;
    while ((rc = list_next(&p, one, sizeof(one))) != 0) {
        if (rc < 0 || addr_parse(one, host, sizeof(host), &port) != 0) {
            cli_error("master address '%s' is not HOST:PORT",
                      rc < 0 ? "(longer than 300 bytes)" : one);
            return EXIT_USAGE;
        }
        if (l->n == GROUP_MAX) {
            cli_error("at most %d master addresses, got more in '%.300s'", GROUP_MAX, text);
            return EXIT_USAGE;
        }
        memcpy(l->addr[l->n++], one, sizeof(one));
    }
    if (!l->n) {
        cli_error("master address '%s' is not HOST:PORT", text);
        return EXIT_USAGE;
    }
    return 0;
}

static int connect_to(const char *host, int port, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL, *ai;
    char ports[16];
    int fd = -1, rc = -1;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(ports, sizeof(ports), "%d", port);
    if ((rc = getaddrinfo(host, ports, &hints, &res)) != 0) {
        snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    snprintf(err, errlen, "cannot connect");
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc < 0 && errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int soerr = 0;
            socklen_t len = sizeof(soerr);
            if (poll(&p, 1, CONNECT_TIMEOUT_MS) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0)
                rc = 0;
            else
                errno = soerr ? soerr : ETIMEDOUT;
        }
        if (rc == 0)
            break;
        snprintf(err, errlen, "%s", strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return fd;
}

/* Sends through the TLS session; same contract as client_send. */
static int tls_send(struct client *c, const struct buf *b)
{
    char err[256];
    size_t off = 0;
    while (off < b->len) {
        short ev = 0;
        /* A retry after "would block" must pass the same bytes (OpenSSL's rule): it does. */
        ssize_t n = tls_sock_write(c->tls, b->data + off, b->len - off, &ev, err, sizeof(err));
        if (n < 0) {
            cli_error("lost the connection to the master at %s: %s", c->addr, err);
            return EXIT_UNREACHABLE;
        }
        if (n == 0) {
            struct pollfd p = {.fd = c->fd, .events = ev};
            poll(&p, 1, 1000);
            continue;
        }
        off += (size_t)n;
    }
    return 0;
}

int client_send(struct client *c, const struct buf *b)
{
    size_t off = 0;
    if (c->tls)
        return tls_send(c, b);
    while (off < b->len) {
        ssize_t n = send(c->fd, b->data + off, b->len - off, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd p = {.fd = c->fd, .events = POLLOUT};
            poll(&p, 1, 1000);
            continue;
        }
        if (n <= 0) {
            cli_error("lost the connection to the master at %s: %s", c->addr, strerror(errno));
            return EXIT_UNREACHABLE;
        }
        off += (size_t)n;
    }
    return 0;
}

/* Reads the next line, or returns an exit code. */
static int read_line(struct client *c, char **line, size_t *len, int64_t timeout_ms)
{
    int64_t deadline = timeout_ms >= 0 ? clock_mono_ms() + timeout_ms : -1;
    for (;;) {
        int rc = frame_next(&c->rd, line, len);
        if (rc == 1)
            return 0;
        if (rc < 0) {
            cli_error("the master at %s sent a line longer than %zu bytes", c->addr, c->rd.max);
            return EXIT_UNREACHABLE;
        }
        int wait = -1;
        if (deadline >= 0) {
            int64_t left = deadline - clock_mono_ms();
            if (left <= 0)
                return -ETIMEDOUT;
            wait = (int)MIN(left, 1000000);
        }
        char chunk[65536];
        ssize_t n;
        if (c->tls) {
            /* Read first: the session may hold decrypted bytes the socket no longer shows. */
            char err[256];
            short ev = 0;
            n = tls_sock_read(c->tls, chunk, sizeof(chunk), &ev, err, sizeof(err));
            if (n < 0) {
                cli_error("TLS with the master at %s failed: %s", c->addr, err);
                return EXIT_UNREACHABLE;
            }
            if (n == 0) {
                struct pollfd p = {.fd = c->fd, .events = ev};
                poll(&p, 1, wait);
                continue;
            }
            frame_push(&c->rd, chunk, (size_t)n);
            continue;
        }
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&p, 1, wait);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            continue;
        n = recv(c->fd, chunk, sizeof(chunk), 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0 && !c->got_bytes) {
            cli_error("the master at %s closed the connection without a word (does it "
                      "require TLS? see --tls-ca)",
                      c->addr);
            return EXIT_UNREACHABLE;
        }
        if (n <= 0) {
            cli_error("the master at %s closed the connection", c->addr);
            return EXIT_UNREACHABLE;
        }
        /* A TLS record (handshake 0x16, alert 0x15) where a JSON line belongs. */
        if (!c->got_bytes && (chunk[0] == 0x16 || chunk[0] == 0x15)) {
            cli_error("the master at %s speaks TLS: pass --tls-ca, --tls-cert and --tls-key",
                      c->addr);
            return EXIT_UNREACHABLE;
        }
        c->got_bytes = true;
        frame_push(&c->rd, chunk, (size_t)n);
    }
}

int client_recv(struct client *c, struct msg *m, int64_t timeout_ms)
{
    char *line, err[512];
    size_t len;
    memset(m, 0, sizeof(*m));
    int rc = read_line(c, &line, &len, timeout_ms);
    if (rc)
        return rc;
    if (msg_parse(line, len, m, err, sizeof(err)) != 0) {
        cli_error("bad reply from the master at %s: %s", c->addr, err);
        return EXIT_UNREACHABLE;
    }
    if (msg_wants_payload(m)) { /* raw bytes: only workers send them */
        msg_release(m);
        cli_error("bad reply from the master at %s: output with raw bytes", c->addr);
        return EXIT_UNREACHABLE;
    }
    if (m->type == MSG_ERROR) {
        bool auth = strstr(m->error, "authentication failed") != NULL;
        /* A submit naming an unknown dependency, a cycle or the task
         * itself is a usage error, exit 2 (the Workflows issue), though
         * only the master can tell. */
        bool deps = !strncmp(m->error, "dependency", 10);
        cli_error("%s%s", auth ? "" : "the master refused: ", m->error);
        msg_release(m);
        return auth ? EXIT_UNREACHABLE : deps ? EXIT_USAGE : EXIT_REFUSED;
    }
    return 0;
}

int client_call(struct client *c, const struct buf *req, enum msg_type want, struct msg *reply)
{
    int rc = client_send(c, req);
    return rc ? rc : client_expect(c, want, reply);
}

int client_expect(struct client *c, enum msg_type want, struct msg *reply)
{
    int rc = client_recv(c, reply, REPLY_TIMEOUT_MS);
    if (rc == -ETIMEDOUT) {
        cli_error("no reply from the master at %s within %ds", c->addr, REPLY_TIMEOUT_MS / 1000);
        return EXIT_UNREACHABLE;
    }
    if (rc)
        return rc;
    if (reply->type != want) {
        cli_error("unexpected '%s' reply from the master at %s", msg_type_name(reply->type),
                  c->addr);
        msg_release(reply);
        return EXIT_UNREACHABLE;
    }
    return 0;
}

/* Reads the master's next handshake line into m, and its raw bytes for the
 * transcript into *line. Returns 0 or an exit code (printed). */
static int handshake_line(struct client *c, struct msg *m, char **line, size_t *len)
{
    char err[512];
    memset(m, 0, sizeof(*m));
    int rc = read_line(c, line, len, CONNECT_TIMEOUT_MS);
    if (rc == -ETIMEDOUT) {
        cli_error("%s did not answer the handshake (is it a dtr master?)", c->addr);
        return EXIT_UNREACHABLE;
    }
    if (rc)
        return rc;
    if (msg_parse(*line, *len, m, err, sizeof(err)) != 0) {
        cli_error("%s is not a dtr master of this version (%s)", c->addr, err);
        return EXIT_UNREACHABLE;
    }
    return 0;
}

/* A group member's answer that it is not the leader (protocol.md, section
 * 3): the leader it named, "" when it knows none. */
struct redirect {
    bool not_leader;
    char leader[MSG_MAX_ADDR + 1];
};

/* Says, in the CLI's words, why the handshake failed; m is the master's
 * line that made it fail. Returns the exit code. */
static int handshake_failed(struct client *c, const struct handshake *h, const struct msg *m,
                            struct redirect *r)
{
    switch (h->error_code) {
    case HANDSHAKE_ERR_NOT_LEADER:
        r->not_leader = true;
        snprintf(r->leader, sizeof(r->leader), "%s", h->leader);
        if (h->leader[0])
            cli_error("the master at %s is not the leader of its group (it names %s)", c->addr,
                      h->leader);
        else
            cli_error("the master at %s is not the leader of its group, and no leader is "
                      "elected yet",
                      c->addr);
        break;
    case HANDSHAKE_ERR_PEER:
        cli_error("%s", h->error);
        return h->auth ? EXIT_UNREACHABLE : EXIT_REFUSED;
    case HANDSHAKE_ERR_NOT_HELLO:
    case HANDSHAKE_ERR_VERSION:
    case HANDSHAKE_ERR_ROLE:
        if (m->type != MSG_HELLO || strcmp(m->role, "master"))
            cli_error("%s is not a dtr master (it answered '%s' as a %s)", c->addr,
                      msg_type_name(m->type), m->role ? m->role : "?");
        else
            cli_error("the master at %s speaks protocol version %d, this dtr speaks %d: run the "
                      "same dtr version everywhere",
                      c->addr, m->proto, PROTO_VERSION);
        break;
    case HANDSHAKE_ERR_NONCE:
        cli_error("%s is not a dtr master of this version (%s)", c->addr, h->error);
        break;
    case HANDSHAKE_ERR_RELAY:
        cli_error("%s answered with our own nonce: a relayed handshake; refusing to talk to it",
                  c->addr);
        break;
    case HANDSHAKE_ERR_PEER_WANTS_TOKEN:
        cli_error("the master at %s requires a token: pass --token-file FILE or set DTR_TOKEN",
                  c->addr);
        break;
    case HANDSHAKE_ERR_PEER_HAS_NO_TOKEN:
        cli_error("the master at %s did not prove it knows the token; refusing to talk to it",
                  c->addr);
        break;
    case HANDSHAKE_ERR_PROOF:
        cli_error("authentication failed: the master at %s has a different token", c->addr);
        break;
    case HANDSHAKE_ERR_NONE:
    case HANDSHAKE_ERR_DIALED_PORT:
    case HANDSHAKE_ERR_BINDING:
        cli_error("the master at %s refused the handshake: %s", c->addr, h->error);
        break;
    }
    return EXIT_UNREACHABLE;
}

/* The dialer's side of the handshake (docs/protocol.md, section 3), driving
 * the same state machine as the nodes (net/handshake.h). */
static int handshake(struct client *c, struct redirect *redirect)
{
    char nonce[AUTH_NONCE_HEX], id[64];
    unsigned char channel[AUTH_HASH_BYTES];
    struct handshake h;
    struct buf b = BUF_INIT;
    struct msg m;
    int rc;
    memset(&m, 0, sizeof(m));
    snprintf(id, sizeof(id), "client-%d", (int)getpid());
    struct handshake_config cfg = {
        .dialer = true,
        .role = "client",
        .id = id,
        .token = c->token,
        .accept_roles = HANDSHAKE_ROLE_MASTER,
    };
    auth_nonce(nonce);
    handshake_init(&h, &cfg, nonce);
    if (c->tls) {
        if (tls_sock_binding(c->tls, channel) != 0) {
            cli_error("TLS with the master at %s gave no channel binding", c->addr);
            rc = EXIT_UNREACHABLE;
            goto out;
        }
        handshake_set_channel(&h, channel);
    }
    handshake_start(&h, &b);
    for (;;) {
        if (b.len && (rc = client_send(c, &b)))
            goto out;
        buf_reset(&b);
        if (h.step == HANDSHAKE_DONE) {
            rc = 0;
            goto out;
        }
        char *line;
        size_t len;
        msg_release(&m);
        if ((rc = handshake_line(c, &m, &line, &len)))
            goto out;
        if (handshake_input(&h, &m, line, len, &b) == HANDSHAKE_FAIL) {
            rc = handshake_failed(c, &h, &m, redirect);
            goto out;
        }
    }
out:
    msg_release(&m);
    handshake_release(&h);
    buf_release(&b);
    return rc;
}

/* Drops the connection to one master (keeping the token and the TLS
 * context) so that the next can be tried. */
static void client_disconnect(struct client *c)
{
    tls_sock_free(c->tls);
    c->tls = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    frame_release(&c->rd);
    frame_init(&c->rd, FRAME_MAX_LINE);
    c->got_bytes = false;
}

/* Connects to one master (addr is checked HOST:PORT) and authenticates.
 * Returns 0, or an exit code with the error printed; *r says whether it
 * answered that it is not its group's leader. */
static int open_one(struct client *c, const char *addr, struct redirect *r)
{
    char host[ADDR_HOST_MAX], err[512];
    int port;
    client_disconnect(c);
    memset(r, 0, sizeof(*r));
    snprintf(c->addr, sizeof(c->addr), "%s", addr);
    if (addr_parse(c->addr, host, sizeof(host), &port) != 0) {
        cli_error("master address '%s' is not HOST:PORT", c->addr);
        return EXIT_USAGE;
    }
    c->fd = connect_to(host, port, err, sizeof(err));
    if (c->fd < 0) {
        cli_error("cannot reach the master at %s: %s (is 'dtr master' running? see --master)",
                  c->addr, err);
        return EXIT_UNREACHABLE;
    }
    if (c->tls_ctx) {
        /* OpenSSL writes with write(), not send(MSG_NOSIGNAL): a master that
         * hangs up must give an error, not a SIGPIPE. */
        signal(SIGPIPE, SIG_IGN);
        c->tls = tls_sock_connect(c->tls_ctx, c->fd, CONNECT_TIMEOUT_MS, err, sizeof(err));
        if (!c->tls) {
            cli_error("TLS handshake with the master at %s failed: %s", c->addr, err);
            return EXIT_UNREACHABLE;
        }
    }
    return handshake(c, r);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* What trying the members of a group said, one line per address. */
struct group_report {
    struct {
        char addr[MSG_MAX_ADDR + 1];
        char why[600];
    } line[GROUP_MAX + GROUP_HOPS];
    int n;
    bool redirected; /* some member said it is not the leader */
};

static void report_add(struct group_report *g, const char *addr, const char *why)
{
    int i = 0;
    while (i < g->n && strcmp(g->line[i].addr, addr))
        i++;
    if (i == (int)ARRAY_SIZE(g->line))
        return;
    if (i == g->n)
        g->n++;
    snprintf(g->line[i].addr, sizeof(g->line[i].addr), "%s", addr);
    snprintf(g->line[i].why, sizeof(g->line[i].why), "%s", why);
}

static bool seen(char (*tried)[MSG_MAX_ADDR + 1], int ntried, const char *addr)
{
    for (int i = 0; i < ntried; i++)
        if (!strcmp(tried[i], addr))
            return true;
    return false;
}

/*
 * One pass over the group: each address in turn, and the leader a member
 * names (at most GROUP_HOPS of them, none twice). Returns 0 once connected,
 * else the last failure's exit code; *election is set when a member knows
 * no leader, or named one that did not take us or could not be reached (a
 * leader change under way).
 */
static int open_pass(struct client *c, const struct master_list *l, struct group_report *g,
                     bool *election)
{
    char tried[GROUP_MAX + GROUP_HOPS][MSG_MAX_ADDR + 1], why[600];
    int ntried = 0, hops = 0, rc = EXIT_UNREACHABLE;
    for (int i = 0; i < l->n; i++) {
        char next[MSG_MAX_ADDR + 1];
        bool hinted = false; /* next is a leader some member named */
        snprintf(next, sizeof(next), "%s", l->addr[i]);
        while (next[0] && !seen(tried, ntried, next)) {
            struct redirect r;
            snprintf(tried[ntried++], sizeof(tried[0]), "%s", next);
            why[0] = '\0';
            captured = why;
            captured_len = sizeof(why);
            rc = open_one(c, next, &r);
            captured = NULL;
            if (rc == 0)
                return 0;
            report_add(g, next, why);
            next[0] = '\0';
            if (!r.not_leader) {
                /* A named leader that is gone: the members have not noticed
                 * yet, and will elect another. */
                *election = *election || hinted;
                continue;
            }
            g->redirected = true;
            hinted = false;
            if (r.leader[0] && hops < GROUP_HOPS && !seen(tried, ntried, r.leader)) {
                hops++;
                hinted = true;
                snprintf(next, sizeof(next), "%s", r.leader);
            } else {
                *election = true;
            }
        }
    }
    return rc;
}

int client_open(struct client *c, const struct client_flags *f)
{
    char err[512], text[MASTER_LIST_MAX];
    struct master_list *l = xcalloc(1, sizeof(*l));
    struct group_report *g = xcalloc(1, sizeof(*g));
    int rc;
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    frame_init(&c->rd, FRAME_MAX_LINE);
    find_master(f, text, sizeof(text));
    if ((rc = parse_master_list(text, l)))
        goto out;
    snprintf(c->addr, sizeof(c->addr), "%s", l->addr[0]);
    rc = EXIT_USAGE;
    if (auth_init() != 0 || auth_load_token(f->token_file, &c->token, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        goto out;
    }
    if (tls_ctx_new(f->tls_cert, f->tls_key, f->tls_ca, &c->tls_ctx, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        goto out;
    }
    /* Until some member leads (GROUP_WAIT_MS), waiting a little longer
     * each time between passes. */
    int64_t start = clock_mono_ms(), pause = 100;
    for (;;) {
        bool election = false;
        rc = open_pass(c, l, g, &election);
        int64_t left = GROUP_WAIT_MS - (clock_mono_ms() - start);
        if (rc == 0 || !election || left <= 0)
            break;
        sleep_ms(MIN(pause, left));
        pause = MIN(pause * 2, 1000);
    }
    if (rc == 0)
        goto out;
    /* One master, as always: its own words. */
    if (l->n == 1 && !g->redirected) {
        cli_error("%s", g->line[0].why);
        goto out;
    }
    /* The group as A,B,C, however it was written. */
    text[0] = '\0';
    for (int i = 0, used = 0; i < l->n && used < (int)sizeof(text); i++)
        used +=
            snprintf(text + used, sizeof(text) - (size_t)used, "%s%s", i ? "," : "", l->addr[i]);
    if (g->redirected) {
        cli_error("no master of the group %s is the leader (waited up to %ds for one):", text,
                  GROUP_WAIT_MS / 1000);
        rc = EXIT_UNREACHABLE;
    } else {
        cli_error("no master of the group %s answered:", text);
    }
    for (int i = 0; i < g->n; i++)
        fprintf(stderr, "dtr:   %s\n", g->line[i].why);
out:
    free(l);
    free(g);
    return rc;
}

int client_dial(struct client *c, const char *addr, const char *token, const char *tls_cert,
                const char *tls_key, const char *tls_ca)
{
    char err[512];
    struct redirect r;
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    frame_init(&c->rd, FRAME_MAX_LINE);
    c->token = token ? xstrdup(token) : NULL;
    if (tls_ctx_new(tls_cert, tls_key, tls_ca, &c->tls_ctx, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        return EXIT_USAGE;
    }
    return open_one(c, addr, &r);
}

void client_close(struct client *c)
{
    tls_sock_free(c->tls); /* before the socket closes: it sends close_notify */
    c->tls = NULL;
    tls_ctx_free(c->tls_ctx);
    c->tls_ctx = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    frame_release(&c->rd);
    free(c->token);
    c->token = NULL;
}

int cli_check_labels(const struct opt_list *l)
{
    for (size_t i = 0; i < l->len; i++) {
        const char *kv = l->items[i], *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
            cli_error("--label '%s' must be KEY=VALUE", kv);
            return EXIT_USAGE;
        }
        for (size_t k = 0; k < i; k++)
            if (!strncmp(l->items[k], kv, (size_t)(eq - kv) + 1)) {
                cli_error("--label: key '%.*s' is given twice", (int)(eq - kv), kv);
                return EXIT_USAGE;
            }
    }
    return 0;
}

const enum task_state cli_state_order[TASK_NSTATES] = {TASK_BLOCKED,   TASK_QUEUED, TASK_RUNNING,
                                                       TASK_SUCCEEDED, TASK_FAILED, TASK_CANCELLED};

int client_stream_next(struct client *c, enum msg_type item, struct msg *m)
{
    int rc = client_recv(c, m, REPLY_TIMEOUT_MS);
    if (rc == -ETIMEDOUT) {
        cli_error("no reply from the master at %s within %ds", c->addr, REPLY_TIMEOUT_MS / 1000);
        return EXIT_UNREACHABLE;
    }
    if (rc)
        return rc;
    if (m->type == item)
        return 1;
    if (m->type != MSG_END)
        cli_error("unexpected '%s' reply from the master", msg_type_name(m->type));
    rc = m->type == MSG_END ? 0 : EXIT_UNREACHABLE;
    msg_release(m);
    return rc;
}
