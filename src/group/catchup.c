/* SPDX-License-Identifier: MIT */
/*
 * The output catch-up of a re-seeded group member (catchup.h): a thread
 * that asks the leader for each attempt's output it lacks, as `dtr logs
 * ID --attempt N` does, and writes every piece at its offset.
 *
 * Threads: the loop starts it (catchup_start()), tells it the leader's
 * address and that the member leads; the journal writer's thread tells it
 * of pruned attempts (catchup_dropped()). One mutex (mu) covers all of
 * that and every write to a file, so that once catchup_lead(),
 * catchup_free() or catchup_dropped() returned, the thread writes nothing
 * more (to that attempt's files).
 */
#include "group/catchup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/b64.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"

/* Waits between tries to reach the leader, doubling from MIN to MAX. */
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000
/* A leader that sends nothing for this long is given up on (reconnect). */
#define IDLE_MAX_MS 60000
/* How often progress is logged. */
#define PROGRESS_MS 5000
/* No output file is longer than this (a damaged offset is refused). */
#define OFFSET_MAX (1ull << 50)

struct item {
    uint64_t lease;
    uint64_t bytes[2]; /* stdout, stderr: the journal's sizes when known */
    int attempt;
    bool known;   /* the attempt ended: bytes[] are final */
    bool dropped; /* pruned meanwhile (under mu) */
    char *id;
};

struct catchup {
    char *dir;
    char *token, *tls_cert, *tls_key, *tls_ca;
    struct item *items; /* by lease, ascending */
    size_t n, cap;
    pthread_t thread;
    /* Under mu: */
    pthread_cond_t wake;
    char leader[MSG_MAX_ADDR + 1];
    bool stop, leading;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct catchup *active; /* the running catch-up, for catchup_dropped() (under mu) */
/* Leases whose file had a piece written past its end (catchup_gap()), until
 * fetched whole (under mu). Few: only entries applied after a snapshot make
 * them. */
static uint64_t *gaps;
static size_t ngaps, gaps_cap;

static const char *const suffix[2] = {"out", "err"};

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void add_item(void *arg, uint64_t lease, const char *id, int attempt, uint64_t out_bytes,
                     uint64_t err_bytes, bool known)
{
    struct catchup *cu = arg;
    if (!lease || attempt <= 0)
        return;
    if (cu->n == cu->cap) {
        cu->cap = cu->cap ? cu->cap * 2 : 64;
        cu->items = xrealloc(cu->items, cu->cap * sizeof(*cu->items));
    }
    cu->items[cu->n++] = (struct item){
        .lease = lease,
        .bytes = {out_bytes, err_bytes},
        .attempt = attempt,
        .known = known,
        .id = xstrdup(id),
    };
}

static int by_lease(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    return x->lease < y->lease ? -1 : x->lease > y->lease;
}

/* Whether it's time to stop (under mu). */
static bool stopping_locked(const struct catchup *cu)
{
    return cu->stop || cu->leading;
}

static bool stopping(struct catchup *cu)
{
    pthread_mutex_lock(&mu);
    bool v = stopping_locked(cu);
    pthread_mutex_unlock(&mu);
    return v;
}

/* Sleeps ms, or less when told to stop. Returns false when stopping. */
static bool pause_ms(struct catchup *cu, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&mu);
    while (!stopping_locked(cu) && pthread_cond_timedwait(&cu->wake, &mu, &ts) == 0)
        ;
    bool go_on = !stopping_locked(cu);
    pthread_mutex_unlock(&mu);
    return go_on;
}

static void file_path(const struct catchup *cu, uint64_t lease, int s, char *out, size_t n)
{
    snprintf(out, n, "%s/%" PRIu64 ".%s", cu->dir, lease, suffix[s]);
}

/* Where lease is in gaps, or -1 (under mu). */
static ssize_t gap_of(uint64_t lease)
{
    for (size_t i = 0; i < ngaps; i++)
        if (gaps[i] == lease)
            return (ssize_t)i;
    return -1;
}

static bool gapped(uint64_t lease)
{
    pthread_mutex_lock(&mu);
    bool v = gap_of(lease) >= 0;
    pthread_mutex_unlock(&mu);
    return v;
}

/* The attempt was fetched whole: pieces that came past the end of its file
 * before are in place now. */
static void gap_filled(uint64_t lease)
{
    pthread_mutex_lock(&mu);
    ssize_t i = gap_of(lease);
    if (i >= 0)
        gaps[i] = gaps[--ngaps];
    pthread_mutex_unlock(&mu);
}

/* Whether the member lacks some of its output: *missing is the bytes
 * lacking (0 for a running attempt, whose size is unknown: fetched). Not
 * the file's size alone: the entries applied after the snapshot may have
 * written an attempt's last pieces, at their offsets, past the end of a
 * file that lacks the pieces before the snapshot. Such a file is fetched
 * whole: catchup_gap() marked it, and a hole of whole blocks also tells
 * (file_whole_bytes()), after a restart too. */
static bool needed(const struct catchup *cu, const struct item *it, uint64_t *missing)
{
    char path[4096];
    *missing = 0;
    if (!it->known)
        return true;
    if (gapped(it->lease)) {
        *missing = it->bytes[0] + it->bytes[1];
        return *missing > 0;
    }
    for (int s = 0; s < 2; s++) {
        file_path(cu, it->lease, s, path, sizeof(path));
        uint64_t have = file_whole_bytes(path);
        if (have < it->bytes[s])
            *missing += it->bytes[s] - have;
    }
    return *missing > 0;
}

static bool is_dropped(const struct item *it)
{
    pthread_mutex_lock(&mu);
    bool v = it->dropped;
    pthread_mutex_unlock(&mu);
    return v;
}

/* Writes one piece at its offset into stream s of the attempt's file (opened on
 * first use into fd[s]). Returns 0, 1 when the piece is not to be written
 * (the member stops or leads, or the attempt was pruned: nothing more of
 * it), or -1 when the write failed (logged). */
static int write_piece(struct catchup *cu, const struct item *it, int fd[2], int s, uint64_t offset,
                       const char *data, size_t len)
{
    char path[4096];
    int rc = 0;
    pthread_mutex_lock(&mu);
    if (stopping_locked(cu) || it->dropped) {
        pthread_mutex_unlock(&mu);
        return 1;
    }
    file_path(cu, it->lease, s, path, sizeof(path));
    if (fd[s] < 0)
        fd[s] = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    for (size_t done = 0; fd[s] >= 0 && done < len;) {
        ssize_t n = pwrite(fd[s], data + done, len - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = -1;
            break;
        }
        done += (size_t)n;
    }
    if (fd[s] < 0 || rc < 0) {
        log_warn("output catch-up cannot write path=%s error=\"%s\"", path,
                 strerror(errno ? errno : EIO));
        rc = -1;
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

/* Asks the leader for the attempt's output and writes it. Returns 0 (all of it
 * came), 1 (the leader has no such attempt: the task is gone), -1 (the
 * connection failed or the leader spoke nonsense: try again elsewhere),
 * -2 (stopping), -3 (a write failed: the catch-up gives up). */
static int fetch(struct catchup *cu, struct client *c, const struct item *it, uint64_t *got)
{
    struct buf b = BUF_INIT;
    struct msg req;
    memset(&req, 0, sizeof(req));
    req.type = MSG_LOGS;
    req.id = it->id;
    req.attempt = it->attempt;
    req.streams = 3;
    msg_encode(&b, &req);
    int rc = client_send(c, &b);
    buf_release(&b);
    if (rc)
        return -1;
    int fd[2] = {-1, -1}, ret;
    bool dropped = false; /* pruned meanwhile: the rest is read, not written */
    int64_t last = clock_mono_ms();
    for (;;) {
        struct msg m;
        rc = client_recv(c, &m, 1000);
        if (rc == -ETIMEDOUT) {
            if (stopping(cu)) {
                ret = -2;
                break;
            }
            if (clock_mono_ms() - last > IDLE_MAX_MS) {
                ret = -1;
                break;
            }
            continue;
        }
        if (rc) {
            ret = rc == EXIT_REFUSED ? 1 : -1;
            break;
        }
        last = clock_mono_ms();
        if (m.type == MSG_END) {
            msg_release(&m);
            ret = dropped ? 1 : 0;
            break;
        }
        if (m.type != MSG_OUTPUT) {
            msg_release(&m);
            ret = -1;
            break;
        }
        const struct output_chunk *k = &m.chunk;
        int s = k->stream == OUTPUT_STDERR;
        int w = 0;
        /* Only the attempt asked for (a leader reads it by its number). */
        if (!dropped && k->lease == it->lease && k->offset <= OFFSET_MAX &&
            k->len <= OFFSET_MAX - k->offset)
            w = write_piece(cu, it, fd, s, k->offset, k->data, k->len);
        if (!dropped && w == 0 && k->lease == it->lease)
            *got += k->len;
        msg_release(&m);
        if (w < 0) {
            ret = -3;
            break;
        }
        if (w > 0 && stopping(cu)) {
            ret = -2;
            break;
        }
        dropped |= w > 0;
    }
    for (int s = 0; s < 2; s++)
        if (fd[s] >= 0)
            close(fd[s]);
    return ret;
}

/* A captured client error, made fit for a log value. */
static const char *clean(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == '"' || *p == '\n' || *p == '\r' || *p == '\\')
            *p = ' ';
    return s[0] ? s : "unknown";
}

static void *run(void *arg)
{
    struct catchup *cu = arg;
    char why[600] = "";
    cli_error_capture(why, sizeof(why)); /* not the master's stderr */
    size_t want = 0, running = 0, done = 0, skipped = 0, incomplete = 0;
    bool write_failed = false;
    uint64_t want_bytes = 0, got = 0, missing;
    for (size_t i = 0; i < cu->n; i++)
        if (needed(cu, &cu->items[i], &missing)) {
            want++;
            running += !cu->items[i].known;
            want_bytes += missing;
        }
    if (!want) {
        log_debug("output catch-up: no output missing attempts=%zu", cu->n);
        cli_error_capture(NULL, 0);
        return NULL;
    }
    /* bytes: of the attempts that ended; the running ones' sizes are unknown */
    log_info("output catch-up started attempts=%zu bytes=%" PRIu64 " running=%zu", want, want_bytes,
             running);
    /* DTR_GROUP_CATCHUP_DELAY_MS=N: wait N ms first (a test makes the
     * member lead before its catch-up ends). */
    const char *delay = getenv("DTR_GROUP_CATCHUP_DELAY_MS");
    if (delay && atoi(delay) > 0)
        pause_ms(cu, MIN(atoi(delay), 3600000));
    struct client c;
    bool connected = false;
    char addr[MSG_MAX_ADDR + 1], last_why[600] = "";
    int64_t backoff = BACKOFF_MIN_MS, last_progress = clock_mono_ms();
    size_t i = 0;
    while (i < cu->n && !stopping(cu)) {
        const struct item *it = &cu->items[i];
        if (clock_mono_ms() - last_progress >= PROGRESS_MS) {
            last_progress = clock_mono_ms();
            log_info("output catch-up progress attempts=%zu/%zu bytes=%" PRIu64, done + skipped,
                     want, got);
        }
        if (is_dropped(it) || !needed(cu, it, &missing)) {
            i++;
            continue;
        }
        if (!connected) {
            pthread_mutex_lock(&mu);
            memcpy(addr, cu->leader, sizeof(addr));
            pthread_mutex_unlock(&mu);
            if (!addr[0]) { /* an election: the loop tells us its outcome */
                pause_ms(cu, BACKOFF_MIN_MS);
                continue;
            }
            why[0] = '\0';
            if (client_dial(&c, addr, cu->token, cu->tls_cert, cu->tls_key, cu->tls_ca) != 0) {
                client_close(&c);
                const char *e = clean(why);
                if (strcmp(e, last_why)) /* each new failure once */
                    log_warn("output catch-up cannot reach the leader addr=%s error=\"%s\" "
                             "retry_ms=%" PRId64,
                             addr, e, backoff);
                snprintf(last_why, sizeof(last_why), "%s", e);
                pause_ms(cu, backoff);
                backoff = MIN(backoff * 2, BACKOFF_MAX_MS);
                continue;
            }
            connected = true;
            last_why[0] = '\0';
            log_info("output catch-up fetching from the leader addr=%s", addr);
        }
        uint64_t bytes = 0;
        why[0] = '\0';
        int r = fetch(cu, &c, it, &bytes);
        got += bytes;
        if (r == 0) { /* the connection is in step: the next request */
            gap_filled(it->lease);
            i++;
            done++;
            if (it->known && needed(cu, it, &missing))
                incomplete++; /* the leader has less than its journal says */
            backoff = BACKOFF_MIN_MS;
            continue;
        }
        if (r == 1) {
            i++;
            skipped++; /* deleted or pruned on the leader */
            log_debug("output catch-up skipped task=%s attempt=%d error=\"%s\"", it->id,
                      it->attempt, clean(why));
            continue;
        }
        client_close(&c);
        connected = false;
        if (r == -3) { /* logged: a full or broken disk, where the journal is too */
            write_failed = true;
            break;
        }
        if (r == -2)
            break;
        log_info("output catch-up lost the leader addr=%s error=\"%s\" retry_ms=%" PRId64, addr,
                 clean(why), backoff);
        pause_ms(cu, backoff);
        backoff = MIN(backoff * 2, BACKOFF_MAX_MS);
    }
    if (connected)
        client_close(&c);
    pthread_mutex_lock(&mu);
    bool leading = cu->leading, stop = cu->stop;
    pthread_mutex_unlock(&mu);
    if (leading || stop || write_failed) {
        size_t left = 0, unchecked = 0;
        uint64_t left_bytes = 0;
        for (; i < cu->n; i++)
            if (!is_dropped(&cu->items[i]) && needed(cu, &cu->items[i], &missing)) {
                left += cu->items[i].known;
                unchecked += !cu->items[i].known;
                left_bytes += missing;
            }
        /* unchecked: attempts that were running at the snapshot, of
         * unknown size (their output may or may not be whole here) */
        if (leading)
            log_write(left ? LOG_LVL_WARN : LOG_LVL_INFO,
                      "output catch-up stopped: this member leads; output still missing "
                      "attempts=%zu bytes=%" PRIu64 " unchecked=%zu fetched_attempts=%zu "
                      "fetched_bytes=%" PRIu64,
                      left, left_bytes, unchecked, done, got);
        else if (write_failed)
            log_warn("output catch-up gave up: cannot write an output file; output still missing "
                     "attempts=%zu bytes=%" PRIu64 " unchecked=%zu fetched_attempts=%zu "
                     "fetched_bytes=%" PRIu64,
                     left, left_bytes, unchecked, done, got);
        else
            log_info("output catch-up stopped: the member is stopping attempts_left=%zu "
                     "fetched_attempts=%zu fetched_bytes=%" PRIu64,
                     left, done, got);
    } else {
        log_info("output catch-up done attempts=%zu bytes=%" PRIu64 " skipped=%zu incomplete=%zu",
                 done, got, skipped, incomplete);
    }
    cli_error_capture(NULL, 0);
    return NULL;
}

struct catchup *catchup_start(struct journal *j, const char *output_dir,
                              const struct catchup_creds *cr)
{
    struct catchup *cu = xcalloc(1, sizeof(*cu));
    if (journal_each_output(j, add_item, cu) != 0)
        log_warn("output catch-up cannot list the journal's attempts");
    if (!cu->n) {
        free(cu->items);
        free(cu);
        return NULL;
    }
    qsort(cu->items, cu->n, sizeof(*cu->items), by_lease);
    cu->dir = xstrdup(output_dir);
    cu->token = dup_or_null(cr->token);
    cu->tls_cert = dup_or_null(cr->tls_cert);
    cu->tls_key = dup_or_null(cr->tls_key);
    cu->tls_ca = dup_or_null(cr->tls_ca);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cu->wake, &ca);
    pthread_condattr_destroy(&ca);
    /* base64's tables are built on first use, unguarded: here, on the loop,
     * before the thread decodes output with them. */
    char raw[96] = {0}, enc[B64_ENCODED_LEN(sizeof(raw))], dec[sizeof(raw)];
    size_t declen;
    b64_encode(enc, raw, sizeof(raw));
    b64_decode(enc, sizeof(enc), dec, &declen);
    pthread_mutex_lock(&mu);
    active = cu;
    pthread_mutex_unlock(&mu);
    int rc = pthread_create(&cu->thread, NULL, run, cu);
    if (rc != 0) {
        log_warn("output catch-up cannot start a thread error=\"%s\"", strerror(rc));
        cu->stop = true; /* catchup_free() joins nothing */
        catchup_free(cu);
        return NULL;
    }
    return cu;
}

void catchup_leader(struct catchup *cu, const char *client_addr)
{
    if (!cu)
        return;
    const char *a = client_addr ? client_addr : "";
    pthread_mutex_lock(&mu);
    if (strcmp(cu->leader, a)) {
        snprintf(cu->leader, sizeof(cu->leader), "%s", a);
        pthread_cond_broadcast(&cu->wake);
    }
    pthread_mutex_unlock(&mu);
}

void catchup_lead(struct catchup *cu)
{
    if (!cu)
        return;
    pthread_mutex_lock(&mu);
    cu->leading = true;
    pthread_cond_broadcast(&cu->wake);
    pthread_mutex_unlock(&mu);
}

void catchup_free(struct catchup *cu)
{
    if (!cu)
        return;
    pthread_mutex_lock(&mu);
    bool joinable = !cu->stop;
    cu->stop = true;
    pthread_cond_broadcast(&cu->wake);
    if (active == cu)
        active = NULL;
    pthread_mutex_unlock(&mu);
    if (joinable)
        pthread_join(cu->thread, NULL);
    for (size_t i = 0; i < cu->n; i++)
        free(cu->items[i].id);
    free(cu->items);
    pthread_cond_destroy(&cu->wake);
    free(cu->dir);
    free(cu->token);
    free(cu->tls_cert);
    free(cu->tls_key);
    free(cu->tls_ca);
    free(cu);
}

void catchup_dropped(uint64_t lease)
{
    pthread_mutex_lock(&mu);
    if (active) {
        struct item key = {.lease = lease};
        struct item *it = bsearch(&key, active->items, active->n, sizeof(key), by_lease);
        if (it)
            it->dropped = true;
    }
    pthread_mutex_unlock(&mu);
}

void catchup_gap(uint64_t lease)
{
    pthread_mutex_lock(&mu);
    if (gap_of(lease) < 0) {
        if (ngaps == gaps_cap) {
            gaps_cap = gaps_cap ? 2 * gaps_cap : 16;
            gaps = xrealloc(gaps, gaps_cap * sizeof(*gaps));
        }
        gaps[ngaps++] = lease;
    }
    pthread_mutex_unlock(&mu);
}
