/* SPDX-License-Identifier: MIT */
/*
 * Task output on the master (see output.h and docs/protocol.md, "Output"):
 * hands output chunks to the output writer thread (master/owriter.h),
 * which appends them to their files with plain write()s to the page cache
 * (no fsync per chunk: only a result needs the bytes on disk; at an
 * attempt's end it syncs the files, and the journal writer waits for that
 * before the commit that records the attempt), and serves logs sessions
 * from the files. It holds no attempt's output in memory beyond the
 * writer's bounded queue (OWRITER_MAX_QUEUED) and one read buffer. The
 * loop's byte counts (size[]) run ahead of the files by what is queued: a
 * reader that finds fewer bytes tries again when the writer wakes it.
 */
#include "master/output.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"
#include "group/catchup.h"
#include "journal/journal.h"
#include "journal/writer.h"
#include "master/owriter.h"

/* A logs session stops sending while its client has this much unsent, and
 * sends at most this much per turn. */
#define FOLLOW_PENDING_MAX (1u * 1024 * 1024)
#define FOLLOW_TURN_MAX (1u * 1024 * 1024)

static const char *const suffix[2] = {"out", "err"};

/* An attempt whose output is arriving. */
struct ofile {
    char key[24]; /* the lease in decimal */
    uint64_t lease;
    char *id;
    int attempt;
    char *worker;
    int64_t started_at; /* the attempt's dispatch (wall ms) */
    int fd[2];          /* -1: not opened yet */
    bool failed[2];     /* a write failed: keep nothing more */
    uint64_t size[2];   /* bytes kept in each file */
    uint64_t seen[2];   /* the offset the next chunk should start at */
    bool truncated[2];  /* bytes dropped (cap, gap, write error) */
    struct list node;   /* in outputs->open */
};

/* A logs session: one client reading one task's output. */
struct follow {
    struct conn *conn;
    char *id;
    int want;    /* the attempt asked for; 0: the latest, and on with later ones */
    int streams; /* 1 stdout, 2 stderr, 3 both */
    bool follow;
    bool have; /* a source is chosen below */
    uint64_t lease;
    int attempt;
    int fd[2];        /* for reading; -1: not opened (or no file) */
    uint64_t pos[2];  /* bytes sent */
    uint64_t end[2];  /* the file's final size, once the attempt ended */
    bool live;        /* the attempt is running: its size grows */
    bool final_known; /* the attempt ended: final[] are its files' sizes */
    uint64_t final[2];
    struct list node; /* in outputs->follows */
};

static const char *ofile_key(const void *item)
{
    return ((const struct ofile *)item)->key;
}

static void dir_file_path(const char *dir, uint64_t lease, int s, char *out, size_t n)
{
    snprintf(out, n, "%s/%" PRIu64 ".%s", dir, lease, suffix[s]);
}

static void file_path(const struct outputs *os, uint64_t lease, int s, char *out, size_t n)
{
    dir_file_path(os->dir, lease, s, out, n);
}

int outputs_init(struct outputs *os, struct tasks *ts, const char *dir, bool own_dir, uint64_t cap,
                 void (*wake)(void *data), void *data, char *err, size_t errlen)
{
    memset(os, 0, sizeof(*os));
    os->dir = xstrdup(dir);
    os->cap = cap;
    os->ts = ts;
    hmap_init(&os->files, ofile_key);
    list_init(&os->open);
    list_init(&os->follows);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create output dir '%s': %s", dir, strerror(errno));
        return -1;
    }
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "output dir '%s' is not a directory; use another --output-dir", dir);
        return -1;
    }
    /* Tasks' output is as private as the journal (journal.c, FILES): the
     * files are 0600, and STATE_DIR/output is ours, so 0700 as well (a
     * --output-dir is the user's: left as it is). */
    if (own_dir && (st.st_mode & 07777) != 0700)
        chmod(dir, 0700);
    os->ow = owriter_start(wake, data, err, errlen);
    return os->ow ? 0 : -1;
}

static void ofile_free(struct outputs *os, struct ofile *f)
{
    hmap_del(&os->files, f->key);
    list_del(&f->node);
    free(f->id);
    free(f->worker);
    free(f);
}

static void follow_free(struct follow *fo)
{
    for (int s = 0; s < 2; s++)
        if (fo->fd[s] >= 0)
            close(fo->fd[s]);
    list_del(&fo->node);
    free(fo->id);
    free(fo);
}

void outputs_release(struct outputs *os)
{
    while (!list_empty(&os->open)) {
        struct ofile *f = list_entry(os->open.next, struct ofile, node);
        for (int s = 0; s < 2; s++)
            if (f->fd[s] >= 0)
                owriter_close(os->ow, f->fd[s]);
        ofile_free(os, f);
    }
    while (!list_empty(&os->follows))
        follow_free(list_entry(os->follows.next, struct follow, node));
    owriter_stop(os->ow);
    os->ow = NULL;
    hmap_release(&os->files);
    free(os->dir);
}

/* ---- writing --------------------------------------------------------------- */

/* Opens stream s of f for appending. A file already there (this master
 * restarted while the attempt ran) is continued where it ends. */
static bool open_stream(struct outputs *os, struct ofile *f, int s)
{
    char path[4096];
    file_path(os, f->lease, s, path, sizeof(path));
    f->fd[s] = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (f->fd[s] < 0) {
        log_error("cannot open an output file path=%s error=%s", log_quote(path),
                  log_quote(strerror(errno)));
        f->failed[s] = f->truncated[s] = true;
        return false;
    }
    struct stat st;
    if (fstat(f->fd[s], &st) == 0 && st.st_size > 0)
        f->size[s] = f->seen[s] = (uint64_t)st.st_size;
    return true;
}

void outputs_chunk(struct outputs *os, const char *worker_id, struct output_chunk *c)
{
    struct task *t = tasks_find(os->ts, c->id);
    if (!t || t->state != TASK_RUNNING || t->lease != c->lease || !t->worker ||
        strcmp(t->worker, worker_id)) {
        if (os->stale++ % 1000 == 0)
            log_info("ignored output of a superseded attempt task=%s lease=%" PRIu64
                     " worker=%s ignored=%" PRIu64,
                     c->id, c->lease, worker_id, os->stale);
        return;
    }
    char key[24];
    snprintf(key, sizeof(key), "%" PRIu64, c->lease);
    struct ofile *f = hmap_get(&os->files, key);
    if (!f) {
        f = xcalloc(1, sizeof(*f));
        memcpy(f->key, key, sizeof(key));
        f->lease = c->lease;
        f->id = xstrdup(c->id);
        f->attempt = t->attempts;
        f->worker = xstrdup(worker_id);
        f->started_at = t->started_at;
        f->fd[0] = f->fd[1] = -1;
        hmap_put(&os->files, f);
        list_add_tail(&os->open, &f->node);
    }
    int s = c->stream == OUTPUT_STDERR;
    if (f->fd[s] < 0 && !f->failed[s])
        open_stream(os, f, s);
    const char *p = c->data;
    size_t n = c->len;
    if (c->offset < f->seen[s]) {
        /* A resent piece (after a master restart): keep only what is new. */
        uint64_t skip = f->seen[s] - c->offset;
        if (skip >= n)
            return;
        p += skip;
        n -= (size_t)skip;
    } else if (c->offset > f->seen[s]) {
        f->truncated[s] = true; /* bytes lost on the way (a connection died) */
    }
    f->seen[s] = MAX(f->seen[s], c->offset + c->len);
    uint64_t kept = f->size[0] + f->size[1];
    size_t keep = kept >= os->cap ? 0 : (size_t)MIN((uint64_t)n, os->cap - kept);
    if (keep < n)
        f->truncated[s] = true;
    if (!keep || f->failed[s])
        return;
    char what[48];
    snprintf(what, sizeof(what), "%" PRIu64 ".%s", f->lease, suffix[s]);
    if (jwriter_replicated(os->ts->writer)) /* a group: every member keeps it */
        jwriter_save_output_data(os->ts->writer, f->lease, s, f->size[s], p, keep);
    owriter_write_owned(os->ow, f->fd[s], what, c->data, p, keep, f->size[s] + keep);
    c->data = NULL; /* the writer's now: no copy of every byte on the loop */
    f->size[s] += keep;
}

void outputs_want_wake(struct outputs *os, bool held)
{
    bool want = held || !list_empty(&os->follows);
    if (want != os->want_wake) {
        os->want_wake = want;
        owriter_want_wake(os->ow, want);
    }
}

bool outputs_backlog(struct outputs *os, bool resume)
{
    return owriter_queued(os->ow) > (resume ? OWRITER_RESUME : OWRITER_HOLD);
}

/* Hands f's files to the journal writer (synced before the turn's commit)
 * and records the attempt. */
static void ofile_end(struct outputs *os, struct ofile *f, struct journal_attempt *a)
{
    uint64_t seq = 0;
    for (int s = 0; s < 2; s++) {
        char what[48];
        snprintf(what, sizeof(what), "%" PRIu64 ".%s", f->lease, suffix[s]);
        if (f->fd[s] >= 0)
            seq = owriter_sync_close(os->ow, f->fd[s], what);
        f->fd[s] = -1;
    }
    /* The commit that records the attempt (and so its acknowledgement)
     * waits for the writer to have synced its files. */
    if (seq)
        jwriter_wait(os->ts->writer, owriter_wait, os->ow, seq);
    /* Sessions reading it live: its files end here, once written. */
    struct list *p, *q;
    list_for_each_safe(p, q, &os->follows)
    {
        struct follow *fo = list_entry(p, struct follow, node);
        if (fo->have && fo->live && fo->lease == f->lease) {
            fo->final_known = true;
            fo->final[0] = f->size[0];
            fo->final[1] = f->size[1];
        }
    }
    a->out_bytes = f->size[0];
    a->err_bytes = f->size[1];
    a->out_truncated = a->out_truncated || f->truncated[0];
    a->err_truncated = a->err_truncated || f->truncated[1];
    tasks_save_attempt(os->ts, a);
    ofile_free(os, f);
}

void outputs_attempt_result(struct outputs *os, const struct task *t, const char *worker_id,
                            const struct attempt_result *r)
{
    char key[24];
    snprintf(key, sizeof(key), "%" PRIu64, r->lease);
    struct ofile *f = hmap_get(&os->files, key);
    struct journal_attempt a = {
        .lease = r->lease,
        .id = t->id,
        .attempt = t->attempts,
        .worker = worker_id,
        .exit_code = r->exit_code,
        .term_signal = r->term_signal,
        .error = r->ok      ? NULL
                 : r->error ? r->error
                            : "attempt failed",
        .started_at = r->started_at,
        .finished_at = r->finished_at,
        /* Written but not here: dropped by the worker's cap, or lost */
        .out_truncated = r->out_bytes > (f ? f->seen[0] : 0),
        .err_truncated = r->err_bytes > (f ? f->seen[1] : 0),
    };
    if (f) {
        ofile_end(os, f, &a);
        return;
    }
    /* A quiet success needs no record: the task's row says it all. */
    if (!r->ok || a.out_truncated || a.err_truncated || t->attempts > 1)
        tasks_save_attempt(os->ts, &a);
}

void outputs_attempt_lost(struct outputs *os, const struct task *t, const char *why)
{
    char key[24], error[512];
    snprintf(key, sizeof(key), "%" PRIu64, t->lease);
    struct ofile *f = hmap_get(&os->files, key);
    /* How much it wrote is unknown (no result came): what reached the
     * master is kept, and the record says lost, not truncated. */
    snprintf(error, sizeof(error), "%sworker '%s' %s", OUTPUT_LOST, t->worker ? t->worker : "?",
             why);
    struct journal_attempt a = {
        .lease = t->lease,
        .id = t->id,
        .attempt = t->attempts,
        .worker = t->worker,
        .exit_code = -1,
        .error = error,
        .started_at = t->started_at,
        .finished_at = clock_wall_ms(),
    };
    if (f)
        ofile_end(os, f, &a);
    else
        tasks_save_attempt(os->ts, &a);
}

void outputs_sweep(struct outputs *os, int64_t now_wall)
{
    struct list *p, *q;
    list_for_each_safe(p, q, &os->open)
    {
        struct ofile *f = list_entry(p, struct ofile, node);
        struct task *t = tasks_find(os->ts, f->id);
        if (t && t->state == TASK_RUNNING && t->lease == f->lease)
            continue;
        struct journal_attempt a = {
            .lease = f->lease,
            .id = f->id,
            .attempt = f->attempt,
            .worker = f->worker,
            .exit_code = -1,
            .error = t && t->error ? t->error : "the attempt was superseded",
            .started_at = f->started_at,
            .finished_at = now_wall,
        };
        ofile_end(os, f, &a);
    }
}

void outputs_prune_lease(void *arg, uint64_t lease)
{
    struct outputs *os = arg;
    outputs_replica_drop(os->dir, lease);
}

void outputs_replica_drop(void *dir, uint64_t lease)
{
    char path[4096];
    catchup_dropped(lease); /* not fetched again (group/catchup.h) */
    for (int s = 0; s < 2; s++) {
        dir_file_path(dir, lease, s, path, sizeof(path));
        if (unlink(path) < 0 && errno != ENOENT)
            log_warn("cannot delete an output file path=%s error=%s", log_quote(path),
                     log_quote(strerror(errno)));
    }
}

int outputs_replica_write(void *dir, uint64_t lease, int stream, uint64_t offset, const void *data,
                          size_t len, char *err, size_t errlen)
{
    char path[4096];
    dir_file_path(dir, lease, stream, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    /* Past the file's end, the pieces before it are missing: fetched. A
     * piece at 0 leaves no gap, and costs no fstat(). */
    struct stat st;
    if (fd >= 0 && offset > 0 && fstat(fd, &st) == 0 && offset > (uint64_t)st.st_size)
        catchup_gap(lease);
    /* At its offset: an entry applied again (a member restarted) writes
     * the same bytes to the same place. */
    for (size_t done = 0; fd >= 0 && done < len;) {
        ssize_t n = pwrite(fd, (const char *)data + done, len - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            close(fd);
            fd = -1;
            errno = e;
            break;
        }
        done += (size_t)n;
    }
    if (fd < 0) {
        snprintf(err, errlen, "cannot write the output file '%s': %s", path, strerror(errno));
        return -1;
    }
    file_drop_behind(fd, offset + len, len);
    close(fd);
    return 0;
}

/* ---- reading ---------------------------------------------------------------- */

static uint64_t file_size(int fd)
{
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Makes the session read attempt `attempt` (lease), live or ended. */
static void follow_source(struct outputs *os, struct follow *fo, uint64_t lease, int attempt,
                          bool live)
{
    char path[4096];
    for (int s = 0; s < 2; s++) {
        if (fo->fd[s] >= 0)
            close(fo->fd[s]);
        file_path(os, lease, s, path, sizeof(path));
        fo->fd[s] = open(path, O_RDONLY | O_CLOEXEC);
        fo->pos[s] = 0;
        fo->end[s] = live ? 0 : file_size(fo->fd[s]);
    }
    fo->have = true;
    fo->lease = lease;
    fo->attempt = attempt;
    fo->live = live;
}

/* The record of t's attempt number n (the last one with that number), or
 * NULL; from rows[0..nrows). */
static const struct journal_attempt *find_row(const struct journal_attempt *rows, size_t nrows,
                                              int n)
{
    const struct journal_attempt *found = NULL;
    for (size_t i = 0; i < nrows; i++)
        if (rows[i].attempt == n)
            found = &rows[i];
    return found;
}

/* Chooses the attempt a session starts with (its source), or leaves it
 * without one when that attempt wrote nothing. Returns false with err when
 * the attempt asked for does not exist. */
static bool choose_source(struct outputs *os, struct follow *fo, const struct task *t, char *err,
                          size_t errlen)
{
    int n = fo->want ? fo->want : t->attempts;
    if (fo->want > t->attempts) {
        snprintf(err, errlen, "task '%s' has %d attempt%s, not %d", t->id, t->attempts,
                 t->attempts == 1 ? "" : "s", fo->want);
        return false;
    }
    if (t->state == TASK_RUNNING && n == t->attempts) {
        follow_source(os, fo, t->lease, n, true);
        if (!fo->follow) {
            /* what it wrote so far, then the end */
            char key[24];
            snprintf(key, sizeof(key), "%" PRIu64, t->lease);
            const struct ofile *f = hmap_get(&os->files, key);
            fo->live = false;
            fo->end[0] = f ? f->size[0] : 0;
            fo->end[1] = f ? f->size[1] : 0;
        }
        return true;
    }
    struct journal_attempt *rows;
    size_t nrows;
    tasks_get_attempts(os->ts, t->id, &rows, &nrows);
    const struct journal_attempt *row = n ? find_row(rows, nrows, n) : NULL;
    if (row)
        follow_source(os, fo, row->lease, n, false);
    journal_attempts_free(rows, nrows);
    return true;
}

void outputs_logs(struct outputs *os, struct conn *c, const struct msg *m)
{
    char err[300];
    struct task *t = tasks_find(os->ts, m->id);
    if (!t) {
        snprintf(err, sizeof(err), "unknown task '%s'", m->id);
        if (conn_out(c))
            msg_encode_error(conn_out(c), err);
        return;
    }
    struct follow *fo = xcalloc(1, sizeof(*fo));
    fo->conn = c;
    fo->id = xstrdup(t->id);
    fo->want = m->attempt;
    fo->streams = m->streams ? m->streams : 3;
    fo->follow = m->follow && !m->attempt;
    fo->fd[0] = fo->fd[1] = -1;
    list_add_tail(&os->follows, &fo->node);
    if (!choose_source(os, fo, t, err, sizeof(err))) {
        follow_free(fo);
        struct buf *b = conn_out(c);
        if (b)
            msg_encode_error(b, err);
    }
}

void outputs_conn_closed(struct outputs *os, struct conn *c)
{
    struct list *p, *q;
    list_for_each_safe(p, q, &os->follows)
    {
        struct follow *fo = list_entry(p, struct follow, node);
        if (fo->conn == c)
            follow_free(fo);
    }
}

/* Sends what the session's source has beyond what it sent, up to budget
 * bytes. Returns the bytes sent. */
static size_t follow_send(struct outputs *os, struct follow *fo, struct buf *b, size_t budget)
{
    static char chunk[MSG_OUTPUT_CHUNK];
    size_t sent = 0;
    uint64_t avail[2] = {fo->end[0], fo->end[1]};
    if (fo->live) {
        char key[24];
        snprintf(key, sizeof(key), "%" PRIu64, fo->lease);
        const struct ofile *f = hmap_get(&os->files, key);
        for (int s = 0; s < 2; s++)
            avail[s] = f ? f->size[s] : 0;
    }
    for (int s = 0; s < 2; s++) {
        if (!(fo->streams & (1 << s)))
            continue;
        if (fo->fd[s] < 0 && avail[s] > fo->pos[s]) {
            char path[4096];
            file_path(os, fo->lease, s, path, sizeof(path));
            fo->fd[s] = open(path, O_RDONLY | O_CLOEXEC);
        }
        while (fo->fd[s] >= 0 && fo->pos[s] < avail[s] && sent < budget) {
            size_t want = (size_t)MIN(avail[s] - fo->pos[s], (uint64_t)sizeof(chunk));
            ssize_t got = pread(fo->fd[s], chunk, want, (off_t)fo->pos[s]);
            if (got <= 0)
                break;
            struct output_chunk c = {
                .lease = fo->lease,
                .id = fo->id,
                .attempt = fo->attempt,
                .stream = (enum output_stream)s,
                .offset = fo->pos[s],
                .data = chunk,
                .len = (size_t)got,
            };
            msg_encode_output(b, &c);
            fo->pos[s] += (uint64_t)got;
            sent += (size_t)got;
        }
    }
    (void)os;
    return sent;
}

/* Whether the session sent everything of its source. */
static bool follow_drained(const struct follow *fo)
{
    for (int s = 0; s < 2; s++)
        if ((fo->streams & (1 << s)) && fo->fd[s] >= 0 && fo->pos[s] < fo->end[s])
            return false;
    return true;
}

bool outputs_pump(struct outputs *os)
{
    bool more = false;
    struct list *p, *q;
    list_for_each_safe(p, q, &os->follows)
    {
        struct follow *fo = list_entry(p, struct follow, node);
        if (conn_pending_bytes(fo->conn) > FOLLOW_PENDING_MAX)
            continue;
        struct buf *b = conn_out(fo->conn);
        if (!b)
            continue; /* closing: outputs_conn_closed() frees it */
        struct task *t = tasks_find(os->ts, fo->id);
        if (fo->have && fo->live && (!t || t->state != TASK_RUNNING || t->lease != fo->lease)) {
            /* The attempt ended: its files are complete; read them out. */
            for (int s = 0; s < 2; s++)
                fo->end[s] = file_size(fo->fd[s]);
            if (fo->fd[0] < 0 || fo->fd[1] < 0) {
                uint64_t lease = fo->lease;
                uint64_t pos[2] = {fo->pos[0], fo->pos[1]};
                follow_source(os, fo, lease, fo->attempt, false);
                fo->pos[0] = pos[0];
                fo->pos[1] = pos[1];
            }
            if (fo->final_known) { /* the writer may still be behind */
                fo->end[0] = fo->final[0];
                fo->end[1] = fo->final[1];
            }
            fo->live = false;
        }
        if (fo->have && follow_send(os, fo, b, FOLLOW_TURN_MAX) >= FOLLOW_TURN_MAX) {
            more = true;
            continue;
        }
        if (fo->have && (fo->live || !follow_drained(fo)))
            continue;
        /* Everything of the source is sent. Following the latest attempt,
         * go on with a newer one; else, once the task ended, say end. */
        if (fo->follow && t && t->state == TASK_RUNNING && (!fo->have || t->lease != fo->lease)) {
            follow_source(os, fo, t->lease, t->attempts, true);
            continue;
        }
        if (fo->follow && t && !task_state_terminal(t->state))
            continue;
        msg_encode_end(b);
        follow_free(fo);
    }
    return more;
}

/* ---- the get reply ------------------------------------------------------------- */

static void add_attempt_json(struct buf *b, const struct journal_attempt *a, bool first)
{
    char iso[64];
    buf_addf(b, "%s{\"attempt\":%d,\"lease\":%" PRIu64 ",\"worker\":", first ? "" : ",", a->attempt,
             a->lease);
    buf_add_json_cstr(b, a->worker);
    if (a->exit_code >= 0)
        buf_addf(b, ",\"exit_code\":%d", a->exit_code);
    else
        buf_addstr(b, ",\"exit_code\":null");
    if (a->term_signal)
        buf_addf(b, ",\"signal\":%d", a->term_signal);
    buf_addf(b, ",\"status\":\"%s\",\"error\":",
             !a->error                                              ? "succeeded"
             : !strncmp(a->error, OUTPUT_LOST, strlen(OUTPUT_LOST)) ? "lost"
                                                                    : "failed");
    buf_add_json_cstr(b, a->error);
    const int64_t times[2] = {a->started_at, a->finished_at};
    const char *names[2] = {"started_at", "finished_at"};
    for (int i = 0; i < 2; i++) {
        if (times[i]) {
            clock_iso8601(times[i], iso, sizeof(iso));
            buf_addf(b, ",\"%s\":\"%s\"", names[i], iso);
        } else {
            buf_addf(b, ",\"%s\":null", names[i]);
        }
    }
    buf_addf(b,
             ",\"stdout_bytes\":%" PRIu64 ",\"stderr_bytes\":%" PRIu64
             ",\"stdout_truncated\":%s,\"stderr_truncated\":%s}",
             a->out_bytes, a->err_bytes, a->out_truncated ? "true" : "false",
             a->err_truncated ? "true" : "false");
}

/* Fills out's stream s with the first `snippet` bytes of the file. */
static void read_snippet(struct outputs *os, uint64_t lease, int s, size_t snippet,
                         struct task_output *out)
{
    char path[4096];
    file_path(os, lease, s, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    uint64_t size = file_size(fd);
    size_t n = (size_t)MIN(size, (uint64_t)snippet);
    char *p = xmalloc(n + 1);
    ssize_t got = pread(fd, p, n, 0);
    close(fd);
    n = got > 0 ? (size_t)got : 0;
    p[n] = '\0';
    if (s == 0) {
        out->out = p;
        out->out_len = n;
        out->out_truncated = out->out_truncated || size > n;
    } else {
        out->err = p;
        out->err_len = n;
        out->err_truncated = out->err_truncated || size > n;
    }
}

char *outputs_history(struct outputs *os, const struct task *t, struct task_output *out,
                      size_t snippet, size_t *len)
{
    struct journal_attempt *rows;
    size_t nrows;
    tasks_get_attempts(os->ts, t->id, &rows, &nrows);
    struct buf b = BUF_INIT;
    buf_addch(&b, '[');
    bool first = true;
    for (size_t i = 0; i < nrows; i++) {
        add_attempt_json(&b, &rows[i], first);
        first = false;
    }
    /* The last attempt, when it ended quietly (no record of its own). */
    const struct journal_attempt *last = t->attempts ? find_row(rows, nrows, t->attempts) : NULL;
    if (!last && t->attempts && t->state != TASK_RUNNING && t->finished_at) {
        struct journal_attempt a = {
            .lease = 0,
            .attempt = t->attempts,
            .worker = t->worker,
            .exit_code = t->exit_code,
            .error = t->state == TASK_SUCCEEDED ? NULL : t->error,
            .started_at = t->started_at,
            .finished_at = t->finished_at,
        };
        add_attempt_json(&b, &a, first);
    }
    buf_addch(&b, ']');
    if (!out->out && !out->err) {
        uint64_t lease = t->state == TASK_RUNNING ? t->lease : last ? last->lease : 0;
        if (last) {
            out->out_truncated = last->out_truncated;
            out->err_truncated = last->err_truncated;
        }
        if (lease) {
            read_snippet(os, lease, 0, snippet, out);
            read_snippet(os, lease, 1, snippet, out);
        }
    }
    journal_attempts_free(rows, nrows);
    return buf_detach(&b, len);
}

int outputs_read(struct outputs *os, const struct task *t, int attempt, int s, size_t max,
                 struct buf *out, int *which, uint64_t *size, char *err, size_t errlen)
{
    int n = attempt ? attempt : t->attempts;
    *which = n;
    *size = 0;
    if (attempt > t->attempts) {
        snprintf(err, errlen, "task '%s' has %d attempt%s, not %d", t->id, t->attempts,
                 t->attempts == 1 ? "" : "s", attempt);
        return -1;
    }
    uint64_t lease = 0;
    if (t->state == TASK_RUNNING && n == t->attempts) {
        lease = t->lease;
    } else if (n) {
        struct journal_attempt *rows;
        size_t nrows;
        tasks_get_attempts(os->ts, t->id, &rows, &nrows);
        const struct journal_attempt *row = find_row(rows, nrows, n);
        lease = row ? row->lease : 0;
        journal_attempts_free(rows, nrows);
    }
    if (!lease)
        return 0; /* no attempt yet, or it wrote nothing */
    char path[4096];
    file_path(os, lease, s ? 1 : 0, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    *size = file_size(fd);
    size_t want = (size_t)MIN(*size, (uint64_t)max), have = 0;
    buf_grow(out, want + 1);
    while (have < want) {
        ssize_t got = pread(fd, out->data + out->len + have, want - have, (off_t)have);
        if (got <= 0)
            break;
        have += (size_t)got;
    }
    out->len += have;
    close(fd);
    return 0;
}
