/* SPDX-License-Identifier: MIT */
/* Allocation queues: Slurm jobs that run workers while there is work (alloc.h). */
#include "master/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "master/tasks.h"

#define ALLOC_TICK_MS 500
#define ALLOC_POLL_MS 2000        /* squeue at most this often */
#define ALLOC_OUT_MAX (64 * 1024) /* bytes kept of a child's stdout and stderr */
#define ALLOC_BACKOFF_MAX_MS (5 * 60 * 1000)
#define ALLOC_MAX_JOBS (ALLOC_MAX_WORKERS + ALLOC_MAX_BACKLOG)
#define ALLOC_DEFAULT_IDLE_MS (5 * 60 * 1000)

enum job_state { JOB_PENDING, JOB_RUNNING };

struct alloc_job {
    char *id; /* Slurm's job id */
    enum job_state state;
    uint64_t gen; /* poll_gen when it was submitted or loaded */
    bool fresh;   /* submitted by this master (not restored) */
};

struct alloc_queue {
    struct alloc_info info; /* config and counters (jobs not in info) */
    struct alloc_job *jobs;
    size_t njobs, cap;
    bool submitting; /* an sbatch in flight */
    bool removed;    /* removed while an sbatch was in flight: free when it ends */
};

/* One child process: sbatch, squeue or scancel. */
struct cmd {
    struct allocs *as;
    uv_process_t proc;
    uv_pipe_t out, err;
    struct buf obuf, ebuf;
    int open; /* handles not yet closed */
    int64_t status;
    int term;
    char spawn_err[160];
    void (*done)(struct cmd *c);
    struct alloc_queue *q;
    uint64_t gen;
};

/* ---- the journal's copy --------------------------------------------------- */

static void save_queue(struct allocs *as, struct alloc_queue *q)
{
    struct buf b = BUF_INIT;
    alloc_info_encode(&b, &q->info);
    /* the live jobs, so a restarted master asks squeue about them */
    buf_addstr(&b, "\n");
    for (size_t i = 0; i < q->njobs; i++)
        buf_addf(&b, "%s%s", i ? " " : "", q->jobs[i].id);
    jwriter_save_alloc(as->writer, q->info.id, b.data);
    buf_release(&b);
}

static void add_job(struct alloc_queue *q, const char *id, enum job_state st, uint64_t gen)
{
    if (q->njobs == q->cap) {
        q->cap = q->cap ? 2 * q->cap : 8;
        q->jobs = xrealloc(q->jobs, q->cap * sizeof(*q->jobs));
    }
    q->jobs[q->njobs++] = (struct alloc_job){.id = xstrdup(id), .state = st, .gen = gen};
}

static void count_jobs(struct alloc_queue *q)
{
    q->info.pending = q->info.running = 0;
    for (size_t i = 0; i < q->njobs; i++) {
        if (q->jobs[i].state == JOB_RUNNING)
            q->info.running++;
        else
            q->info.pending++;
    }
}

static void queue_free(struct alloc_queue *q)
{
    for (size_t i = 0; i < q->njobs; i++)
        free(q->jobs[i].id);
    free(q->jobs);
    alloc_info_release(&q->info);
    free(q);
}

static int load_cb(const char *id, const char *record, void *data)
{
    struct allocs *as = data;
    char err[256];
    const char *nl = strchr(record, '\n');
    size_t len = nl ? (size_t)(nl - record) : strlen(record);
    if (!strcmp(id, "next")) { /* the number the next queue gets (allocs_message) */
        uint64_t next = strtoull(record, NULL, 10);
        if (next > as->next_id)
            as->next_id = next;
        return 0;
    }
    if (as->n >= ALLOC_MAX_QUEUES)
        return 0;
    struct alloc_queue *q = xcalloc(1, sizeof(*q));
    if (alloc_info_parse(record, len, &q->info, err, sizeof(err)) || !q->info.id ||
        strcmp(q->info.id, id)) {
        log_error("alloc: unreadable queue in the journal id=%s error=%s", log_quote(id),
                  log_quote(err));
        free(q);
        return 0;
    }
    if (nl) {
        char *ids = xstrdup(nl + 1), *save = NULL;
        for (char *t = strtok_r(ids, " ", &save); t; t = strtok_r(NULL, " ", &save))
            if (q->njobs < ALLOC_MAX_JOBS)
                add_job(q, t, JOB_PENDING, 0);
        free(ids);
    }
    count_jobs(q);
    uint64_t num = strtoull(id + 1, NULL, 10);
    if (num >= as->next_id)
        as->next_id = num + 1;
    as->q[as->n++] = q;
    log_info("alloc: queue restored id=%s jobs=%zu", id, q->njobs);
    return 0;
}

int allocs_init(struct allocs *as, uv_loop_t *loop, struct tasks *ts, struct journal *j,
                struct jwriter *w, const char *state_dir, char *err, size_t errlen)
{
    memset(as, 0, sizeof(*as));
    as->loop = loop;
    as->tasks = ts;
    as->writer = w;
    as->next_id = 1;
    snprintf(as->dir, sizeof(as->dir), "%s/alloc", state_dir);
    if (journal_load_allocs(j, load_cb, as) != 0) {
        snprintf(err, errlen, "cannot read the allocation queues from the journal");
        return -1;
    }
    return 0;
}

/* ---- child processes ------------------------------------------------------ */

static void cmd_closed(uv_handle_t *h)
{
    struct cmd *c = h->data;
    if (--c->open)
        return;
    c->as->running_cmds--;
    if (c->done)
        c->done(c);
    buf_release(&c->obuf);
    buf_release(&c->ebuf);
    free(c);
}

static void child_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)h;
    static char slab[16384];
    (void)suggested;
    out->base = slab;
    out->len = sizeof(slab);
}

static void cmd_read(uv_stream_t *s, ssize_t n, const uv_buf_t *bf)
{
    struct cmd *c = s->data;
    struct buf *b = (uv_pipe_t *)s == &c->out ? &c->obuf : &c->ebuf;
    if (n > 0) {
        if (b->len + (size_t)n <= ALLOC_OUT_MAX)
            buf_add(b, bf->base, (size_t)n);
        return;
    }
    if (n < 0)
        uv_close((uv_handle_t *)s, cmd_closed);
}

static void cmd_exit(uv_process_t *p, int64_t status, int term)
{
    struct cmd *c = p->data;
    if (c->as->poll_cmd == c)
        c->as->poll_cmd = NULL;
    c->status = status;
    c->term = term;
    uv_close((uv_handle_t *)p, cmd_closed);
}

/* Runs argv (a NULL-terminated list; argv[0] found on PATH) with the
 * master's environment (SLURM_CONF and friends); done() runs once it
 * exited and its output was read. */
static struct cmd *cmd_run(struct allocs *as, const char **argv, void (*done)(struct cmd *c),
                           struct alloc_queue *q)
{
    struct cmd *c = xcalloc(1, sizeof(*c));
    c->as = as;
    c->done = done;
    c->q = q;
    c->gen = as->poll_gen; /* an squeue's own number (poll_jobs) */
    uv_pipe_init(as->loop, &c->out, 0);
    uv_pipe_init(as->loop, &c->err, 0);
    c->out.data = c->err.data = c->proc.data = c;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->out},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->err},
    };
    uv_process_options_t o = {.exit_cb = cmd_exit,
                              .file = argv[0],
                              .args = (char **)argv,
                              .stdio_count = 3,
                              .stdio = stdio};
    as->running_cmds++;
    c->open = 3;
    int rc = uv_spawn(as->loop, &c->proc, &o);
    if (rc) {
        snprintf(c->spawn_err, sizeof(c->spawn_err), "cannot run %s: %s", argv[0], uv_strerror(rc));
        c->status = 127;
        uv_close((uv_handle_t *)&c->proc, cmd_closed);
        uv_close((uv_handle_t *)&c->out, cmd_closed);
        uv_close((uv_handle_t *)&c->err, cmd_closed);
        return NULL;
    }
    uv_read_start((uv_stream_t *)&c->out, child_alloc_cb, cmd_read);
    uv_read_start((uv_stream_t *)&c->err, child_alloc_cb, cmd_read);
    return c;
}

/* The first line of what the command said on stderr (or why it failed). */
static void cmd_error(struct cmd *c, char *out, size_t outlen, const char *what)
{
    const char *e = c->ebuf.data ? c->ebuf.data : "";
    size_t n = strcspn(e, "\n");
    if (c->spawn_err[0])
        snprintf(out, outlen, "%s", c->spawn_err);
    else if (c->term)
        snprintf(out, outlen, "%s killed by signal %d", what, c->term);
    else
        snprintf(out, outlen, "%s exited %" PRId64 "%s%.*s", what, c->status, n ? ": " : "",
                 (int)MIN(n, 300), e);
}

/* ---- submitting jobs ------------------------------------------------------ */

static struct alloc_queue *find_queue(struct allocs *as, const char *id, size_t *at)
{
    for (size_t i = 0; i < as->n; i++)
        if (!strcmp(as->q[i]->info.id, id)) {
            if (at)
                *at = i;
            return as->q[i];
        }
    return NULL;
}

static void set_error(struct alloc_queue *q, const char *text)
{
    free(q->info.last_error);
    size_t n = strlen(text); /* every text here ends in a NUL */
    q->info.last_error = xstrndup(text, MIN(n, (size_t)ALLOC_MAX_ERROR));
}

/* One more failure in a row: no sbatch for 1 s, doubling to 5 min. */
static int64_t backoff(struct alloc_queue *q)
{
    q->info.failures++;
    int64_t wait = MIN((int64_t)1000 << MIN(q->info.failures - 1, 20), ALLOC_BACKOFF_MAX_MS);
    q->info.retry_at = clock_wall_ms() + wait;
    return wait;
}

static void sbatch_done(struct cmd *c)
{
    struct allocs *as = c->as;
    struct alloc_queue *q = c->q;
    q->submitting = false;
    const char *o = c->obuf.data ? c->obuf.data : "";
    char id[64] = "";
    size_t n = strspn(o, "0123456789");
    if (!c->status && !c->term && n && n < sizeof(id))
        memcpy(id, o, n), id[n] = '\0';
    if (q->removed) {
        if (id[0]) {
            const char *argv[] = {"scancel", id, NULL};
            cmd_run(as, argv, NULL, NULL);
        }
        queue_free(q);
        return;
    }
    if (!id[0]) {
        char e[512];
        cmd_error(c, e, sizeof(e), "sbatch");
        if (!c->status && !c->term)
            snprintf(e, sizeof(e), "sbatch printed no job id: %.200s", o);
        set_error(q, e);
        int64_t wait = backoff(q);
        log_warn("alloc: sbatch failed queue=%s failures=%" PRIu64 " retry_in_ms=%" PRId64
                 " error=%s",
                 q->info.id, q->info.failures, wait, log_quote(e));
        save_queue(as, q);
        return;
    }
    q->info.submitted++;
    /* only an squeue started after now may judge it (squeue_done) */
    add_job(q, id, JOB_PENDING, as->poll_gen);
    q->jobs[q->njobs - 1].fresh = true;
    count_jobs(q);
    log_info("alloc: job submitted queue=%s slurm_job=%s pending=%" PRIu64 " running=%" PRIu64,
             q->info.id, id, q->info.pending, q->info.running);
    save_queue(as, q);
}

/* The job script: runs dtr worker, dialing back with the token from a 0600
 * file. With --workers-per-job K above 1 the job has K Slurm tasks
 * (sbatch --ntasks=K; where they go is Slurm's choice, or the queue's
 * --nodes/--ntasks-per-node) and the script starts one worker per task with
 * srun, each offering its task's CPUs (--cpus-per-task, which srun since
 * Slurm 22.05 no longer takes from the job by itself). */
static int write_script(struct allocs *as, struct alloc_queue *q, char *path, size_t pathlen,
                        char *err, size_t errlen)
{
    const struct alloc_info *a = &q->info;
    int64_t idle = a->idle_timeout_ms ? a->idle_timeout_ms : ALLOC_DEFAULT_IDLE_MS;
    /* drain before Slurm's limit: a tenth of it, at least 10s, at most 5min */
    int64_t life = 0;
    if (a->time_limit_ms) {
        int64_t margin = MAX(MIN(a->time_limit_ms / 10, 5 * 60 * 1000), 10 * 1000);
        life = MAX(a->time_limit_ms - margin, a->time_limit_ms / 2);
    }
    if (strchr(as->dir, '\'') || strchr(as->dtr_path, '\'') || strchr(as->master_addr, '\'')) {
        snprintf(err, errlen,
                 "the state dir or dtr's path holds a quote; cannot write the job "
                 "script");
        return -1;
    }
    struct buf b = BUF_INIT;
    snprintf(path, pathlen, "%s/%s.sh", as->dir, a->id);
    buf_addf(&b, "#!/bin/sh\n# dtr alloc queue %s: written by the master\n", a->id);
    if (a->workers_per_job > 1)
        buf_addf(&b,
                 "if [ -z \"${DTR_ALLOC_STEP:-}\" ]; then\n"
                 "    export DTR_ALLOC_STEP=1\n"
                 "    exec srun --ntasks=%" PRId64 " --kill-on-bad-exit=0"
                 " ${SLURM_CPUS_PER_TASK:+--cpus-per-task=\"$SLURM_CPUS_PER_TASK\"} '%s'\n"
                 "fi\n",
                 a->workers_per_job, path);
    /* the CPUs Slurm gave the task, whatever the node has (--cpus-per-task) */
    buf_addf(
        &b,
        "exec '%s' worker --master '%s' --id \"alloc-%s-${SLURM_JOB_ID:-0}-${SLURM_PROCID:-0}\""
        " ${SLURM_CPUS_PER_TASK:+--cpus \"$SLURM_CPUS_PER_TASK\"}"
        " --log-dir '%s/logs' --idle-timeout %" PRId64 "ms",
        as->dtr_path, as->master_addr, a->id, as->dir, idle);
    if (life)
        buf_addf(&b, " --lifetime %" PRId64 "ms", life);
    if (as->has_token)
        buf_addf(&b, " --token-file '%s/token'", as->dir);
    if (as->tls[2])
        buf_addf(
            &b, " --tls-cert '%s/tls-cert.pem' --tls-key '%s/tls-key.pem' --tls-ca '%s/tls-ca.pem'",
            as->dir, as->dir, as->dir);
    buf_addstr(&b, "\n");
    char tmp[4300];
    snprintf(tmp, sizeof(tmp), "%.4200s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
    bool ok = fd >= 0 && write(fd, b.data, b.len) == (ssize_t)b.len;
    if (fd >= 0)
        close(fd);
    buf_release(&b);
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write the job script '%.300s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int prepare_dir(struct allocs *as, char *err, size_t errlen);

static void submit_job(struct allocs *as, struct alloc_queue *q)
{
    char script[4200], err[512], name[160], out[4300], tl[64], ntasks[64];
    if (prepare_dir(as, err, sizeof(err)) ||
        write_script(as, q, script, sizeof(script), err, sizeof(err))) {
        set_error(q, err);
        q->info.retry_at = clock_wall_ms() + 10000;
        return;
    }
    const struct alloc_info *a = &q->info;
    snprintf(name, sizeof(name), "--job-name=dtr-%s", a->id);
    snprintf(out, sizeof(out), "--output=%s/logs/slurm-%%j.out", as->dir);
    const char *argv[ALLOC_MAX_ARGS + 12];
    size_t n = 0;
    argv[n++] = "sbatch";
    argv[n++] = "--parsable";
    argv[n++] = name;
    argv[n++] = out;
    if (a->time_limit_ms) {
        /* minutes, rounded up: Slurm's own unit */
        snprintf(tl, sizeof(tl), "--time=%" PRId64, (a->time_limit_ms + 59999) / 60000);
        argv[n++] = tl;
    }
    if (a->workers_per_job > 1) {
        snprintf(ntasks, sizeof(ntasks), "--ntasks=%" PRId64, a->workers_per_job);
        argv[n++] = ntasks;
    }
    for (size_t i = 0; i < a->nargs; i++)
        argv[n++] = a->args[i];
    argv[n++] = script;
    argv[n] = NULL;
    q->submitting = true;
    cmd_run(as, argv, sbatch_done, q);
}

/* Submits one more job when tasks wait that the queue's pending jobs would
 * not absorb, within --max-workers and --backlog. */
static void consider(struct allocs *as, struct alloc_queue *q, int64_t wall)
{
    if (q->submitting || (q->info.retry_at && wall < q->info.retry_at))
        return;
    uint64_t queued = as->tasks->counts[TASK_QUEUED];
    uint64_t k = (uint64_t)q->info.workers_per_job;
    uint64_t workers = (q->info.pending + q->info.running) * k;
    if (!queued || q->info.pending >= (uint64_t)q->info.backlog ||
        workers + k > (uint64_t)q->info.max_workers || q->info.pending * k >= queued)
        return;
    submit_job(as, q);
}

/* ---- watching jobs -------------------------------------------------------- */

static void squeue_done(struct cmd *c)
{
    struct allocs *as = c->as;
    as->polling = false;
    if (c->status || c->term) {
        char e[512];
        cmd_error(c, e, sizeof(e), "squeue");
        log_warn("alloc: squeue failed error=%s", log_quote(e));
        for (size_t i = 0; i < as->n; i++)
            set_error(as->q[i], e);
        return;
    }
    /* lines "ID STATE" of the jobs that still exist */
    for (size_t i = 0; i < as->n; i++) {
        struct alloc_queue *q = as->q[i];
        bool changed = false;
        for (size_t k = 0; k < q->njobs;) {
            struct alloc_job *j = &q->jobs[k];
            const char *st = NULL;
            size_t idlen = strlen(j->id);
            for (const char *p = c->obuf.data; p && *p;) {
                if (!strncmp(p, j->id, idlen) && p[idlen] == ' ') {
                    st = p + idlen + 1;
                    break;
                }
                p = strchr(p, '\n');
                p = p ? p + 1 : NULL;
            }
            if (!st && j->gen >= c->gen) { /* submitted after this squeue started */
                k++;
                continue;
            }
            if (st && (!strncmp(st, "RUNNING", 7) || !strncmp(st, "COMPLETING", 10))) {
                if (j->state != JOB_RUNNING) {
                    log_info("alloc: job running queue=%s slurm_job=%s", q->info.id, j->id);
                    q->info.failures = 0; /* jobs start again: no more backoff */
                    q->info.retry_at = 0;
                }
                changed |= j->state != JOB_RUNNING;
                j->state = JOB_RUNNING;
                k++;
                continue;
            }
            if (st && (!strncmp(st, "PENDING", 7) || !strncmp(st, "CONFIGURING", 11) ||
                       !strncmp(st, "REQUEUED", 8) || !strncmp(st, "RESIZING", 8) ||
                       !strncmp(st, "SUSPENDED", 9))) {
                k++;
                continue;
            }
            /* gone (or ending in a final state) */
            log_info("alloc: job ended queue=%s slurm_job=%s state=%.20s", q->info.id, j->id,
                     st ? st : "gone");
            /* Submitted by this master and never seen running: it failed
             * to start (bad sbatch arguments, a node that failed): back off
             * as for a failed sbatch. */
            if (j->state == JOB_PENDING && j->fresh) {
                char e[160];
                snprintf(e, sizeof(e), "job %s ended before it was seen running (%.20s)", j->id,
                         st ? st : "gone");
                e[strcspn(e, "\n")] = '\0';
                set_error(q, e);
                backoff(q);
            }
            q->info.ended++;
            free(j->id);
            q->jobs[k] = q->jobs[--q->njobs];
            changed = true;
        }
        if (changed) {
            count_jobs(q);
            save_queue(as, q);
        }
    }
}

static void poll_jobs(struct allocs *as)
{
    size_t jobs = 0;
    for (size_t i = 0; i < as->n; i++)
        jobs += as->q[i]->njobs;
    if (!jobs || as->polling)
        return;
    static char user[256];
    struct passwd *pw = getpwuid(getuid());
    snprintf(user, sizeof(user), "--user=%s", pw ? pw->pw_name : "root");
    const char *argv[] = {"squeue", "--noheader", "--format=%i %T", user, NULL};
    as->poll_gen++;
    as->polling = true;
    as->poll_cmd = cmd_run(as, argv, squeue_done, NULL);
}

static void tick_cb(uv_timer_t *t)
{
    struct allocs *as = t->data;
    if (as->stopping)
        return;
    int64_t now = (int64_t)uv_now(as->loop), wall = clock_wall_ms();
    for (size_t i = 0; i < as->n; i++)
        consider(as, as->q[i], wall);
    if (now - as->last_poll >= ALLOC_POLL_MS) {
        as->last_poll = now;
        poll_jobs(as);
    }
}

#define ALLOC_TLS_FILE_MAX (1024 * 1024) /* bytes of a certificate or key copied */

/* Copies src to dst (mode 0600, through a temporary file and a rename). */
static int copy_file(const char *src, const char *dst, char *err, size_t errlen)
{
    char tmp[4300];
    snprintf(tmp, sizeof(tmp), "%.4200s.tmp", dst);
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1;
    struct stat st;
    if (in < 0 || fstat(in, &st) || st.st_size > ALLOC_TLS_FILE_MAX) {
        snprintf(err, errlen, "cannot copy '%.300s' for the jobs' workers: %s", src,
                 in < 0 || errno ? strerror(errno) : "larger than 1 MiB");
        if (in >= 0)
            close(in);
        return -1;
    }
    char *data = xmalloc((size_t)st.st_size + 1);
    ssize_t n = read(in, data, (size_t)st.st_size + 1);
    close(in);
    out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = n >= 0 && n <= st.st_size && out >= 0 && fchmod(out, 0600) == 0 &&
              write(out, data, (size_t)n) == n;
    if (out >= 0 && close(out))
        ok = false;
    memset(data, 0, (size_t)st.st_size + 1);
    free(data);
    if (!ok || rename(tmp, dst)) {
        snprintf(err, errlen, "cannot write '%.300s': %s", dst, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* STATE_DIR/alloc, its logs and the token (and TLS files') copies: made
 * when the first job is submitted, so that a master without queues leaves
 * no trace. */
static int prepare_dir(struct allocs *as, char *err, size_t errlen)
{
    if (as->dir_ready)
        return 0;
    char logs[4200];
    snprintf(logs, sizeof(logs), "%s/logs", as->dir);
    if ((mkdir(as->dir, 0700) && errno != EEXIST) || (mkdir(logs, 0700) && errno != EEXIST)) {
        snprintf(err, errlen, "cannot create '%.300s': %s", logs, strerror(errno));
        return -1;
    }
    if (as->token) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/token", as->dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        size_t len = strlen(as->token);
        bool ok = fd >= 0 && fchmod(fd, 0600) == 0 && write(fd, as->token, len) == (ssize_t)len &&
                  write(fd, "\n", 1) == 1;
        if (fd >= 0)
            close(fd);
        if (!ok) {
            snprintf(err, errlen, "cannot write '%.300s': %s", path, strerror(errno));
            return -1;
        }
    }
    static const char *const names[3] = {"tls-cert.pem", "tls-key.pem", "tls-ca.pem"};
    for (int i = 0; i < 3 && as->tls[2]; i++) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s", as->dir, names[i]);
        errno = 0;
        if (copy_file(as->tls[i], path, err, errlen))
            return -1;
    }
    as->dir_ready = true;
    return 0;
}

void allocs_set_tls(struct allocs *as, const char *cert, const char *key, const char *ca)
{
    const char *in[3] = {cert, key, ca};
    for (int i = 0; i < 3 && ca; i++) {
        char abs[4096];
        free(as->tls[i]);
        as->tls[i] = in[i] ? xstrdup(realpath(in[i], abs) ? abs : in[i]) : NULL;
    }
}

int allocs_start(struct allocs *as, const char *addr, const char *token, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    /* absolute: the job script runs elsewhere */
    char abs[4096];
    as->dir[strlen(as->dir) - strlen("/alloc")] = '\0';
    if (realpath(as->dir, abs))
        snprintf(as->dir, sizeof(as->dir), "%s", abs);
    strncat(as->dir, "/alloc", sizeof(as->dir) - strlen(as->dir) - 1);
    ssize_t n = readlink("/proc/self/exe", as->dtr_path, sizeof(as->dtr_path) - 1);
    as->dtr_path[n > 0 ? n : 0] = '\0';
    if (n <= 0)
        snprintf(as->dtr_path, sizeof(as->dtr_path), "dtr");
    /* A wildcard listener: the workers dial this host by name. */
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    const char *port = strrchr(addr, ':');
    if (!strncmp(addr, "0.0.0.0:", 8) || !strncmp(addr, "[::]:", 5))
        snprintf(as->master_addr, sizeof(as->master_addr), "%s%s", host, port);
    else
        snprintf(as->master_addr, sizeof(as->master_addr), "%s", addr);
    if (token) {
        as->token = xstrdup(token);
        as->has_token = true;
    }
    uv_timer_init(as->loop, &as->timer);
    as->timer.data = as;
    uv_timer_start(&as->timer, tick_cb, 0, ALLOC_TICK_MS);
    as->started = true;
    return 0;
}

/* ---- client requests ------------------------------------------------------ */

static void reply(struct conn *c, struct alloc_queue *const *qs, size_t n)
{
    struct buf *b = conn_out(c);
    if (!b)
        return;
    struct alloc_info *infos = xcalloc(n + 1, sizeof(*infos));
    for (size_t i = 0; i < n; i++)
        infos[i] = qs[i]->info; /* shallow: encoded at once */
    msg_encode_allocs(b, infos, n);
    free(infos);
}

static void reply_err(struct conn *c, const char *text)
{
    struct buf *b = conn_out(c);
    if (b)
        msg_encode_error(b, text);
}

void allocs_message(struct allocs *as, struct conn *c, struct msg *msg)
{
    if (!strcmp(msg->op, "list")) {
        reply(c, as->q, as->n);
        return;
    }
    if (as->stopping) {
        reply_err(c, "the master is stopping");
        return;
    }
    if (!strcmp(msg->op, "add")) {
        if (as->n >= ALLOC_MAX_QUEUES) {
            reply_err(c, "too many allocation queues (at most 64); remove one first");
            return;
        }
        struct alloc_queue *q = xcalloc(1, sizeof(*q));
        alloc_info_copy(&q->info, &msg->allocs[0]);
        free(q->info.id);
        free(q->info.last_error);
        q->info.last_error = NULL;
        char id[32];
        snprintf(id, sizeof(id), "a%" PRIu64, as->next_id++);
        q->info.id = xstrdup(id);
        q->info.pending = q->info.running = q->info.submitted = q->info.ended = 0;
        q->info.failures = 0;
        q->info.retry_at = 0;
        as->q[as->n++] = q;
        save_queue(as, q);
        /* never the id of a removed queue again, across restarts too: row
         * "next" of the allocs table */
        char next[32];
        snprintf(next, sizeof(next), "%" PRIu64, as->next_id);
        jwriter_save_alloc(as->writer, "next", next);
        log_info("alloc: queue added id=%s max_workers=%" PRId64 " workers_per_job=%" PRId64
                 " backlog=%" PRId64 " time_limit_ms=%" PRId64 " idle_timeout_ms=%" PRId64,
                 id, q->info.max_workers, q->info.workers_per_job, q->info.backlog,
                 q->info.time_limit_ms, q->info.idle_timeout_ms);
        reply(c, &q, 1);
        return;
    }
    size_t at;
    struct alloc_queue *q = find_queue(as, msg->id, &at);
    if (!q) {
        char e[200];
        snprintf(e, sizeof(e), "no allocation queue '%.128s'", msg->id);
        reply_err(c, e);
        return;
    }
    reply(c, &q, 1);
    /* its jobs are cancelled: Slurm's SIGTERM drains their workers */
    if (q->njobs) {
        const char **argv = xcalloc(q->njobs + 2, sizeof(char *));
        argv[0] = "scancel";
        for (size_t i = 0; i < q->njobs; i++)
            argv[i + 1] = q->jobs[i].id;
        cmd_run(as, argv, NULL, NULL);
        free(argv);
    }
    jwriter_save_alloc(as->writer, q->info.id, NULL);
    log_info("alloc: queue removed id=%s cancelled_jobs=%zu", q->info.id, q->njobs);
    as->q[at] = as->q[--as->n];
    if (q->submitting)
        q->removed = true;
    else
        queue_free(q);
}

void allocs_view(const struct allocs *as, const struct worker_info *w, size_t nw, struct buf *b)
{
    struct alloc_info *infos = xcalloc(as->n + 1, sizeof(*infos));
    for (size_t i = 0; i < as->n; i++)
        infos[i] = as->q[i]->info; /* shallow: encoded at once */
    alloc_view_encode(b, infos, as->n, w, nw);
    free(infos);
}

void allocs_stop(struct allocs *as)
{
    as->stopping = true;
    /* an squeue that hangs (slurmctld down) must not hold the master up;
     * an sbatch is left to finish: its job is recorded */
    if (as->poll_cmd)
        uv_process_kill(&as->poll_cmd->proc, SIGTERM);
    if (as->started) {
        uv_timer_stop(&as->timer);
        uv_close((uv_handle_t *)&as->timer, NULL);
    }
}

void allocs_release(struct allocs *as)
{
    for (size_t i = 0; i < as->n; i++)
        queue_free(as->q[i]);
    as->n = 0;
    if (as->token)
        memset(as->token, 0, strlen(as->token));
    free(as->token);
    as->token = NULL;
    for (int i = 0; i < 3; i++) {
        free(as->tls[i]);
        as->tls[i] = NULL;
    }
}
