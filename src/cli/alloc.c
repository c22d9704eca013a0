/* SPDX-License-Identifier: MIT */
/* `dtr alloc add|list|remove`: the master's allocation queues (Slurm jobs
 * that run workers while there is work; master/alloc.c). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/clock.h"
#include "common/util.h"

static void fmt_dur(char *out, size_t n, int64_t ms)
{
    if (!ms)
        snprintf(out, n, "-");
    else if (ms % 3600000 == 0)
        snprintf(out, n, "%" PRId64 "h", ms / 3600000);
    else if (ms % 60000 == 0)
        snprintf(out, n, "%" PRId64 "m", ms / 60000);
    else if (ms % 1000 == 0)
        snprintf(out, n, "%" PRId64 "s", ms / 1000);
    else
        snprintf(out, n, "%" PRId64 "ms", ms);
}

static void print_table(const struct msg *m, bool json)
{
    struct buf b = BUF_INIT;
    if (!json)
        printf("%-6s %-6s %7s %7s %7s %9s %9s %6s %-8s %-8s %s\n", "ID", "KIND", "MAX", "PENDING",
               "RUNNING", "SUBMITTED", "FAILURES", "PERJOB", "TIME", "IDLE", "LAST ERROR");
    for (size_t i = 0; i < m->nallocs; i++) {
        const struct alloc_info *a = &m->allocs[i];
        if (json) {
            buf_reset(&b);
            alloc_info_encode(&b, a);
            printf("%s\n", b.data);
            continue;
        }
        char tl[32], idle[32];
        fmt_dur(tl, sizeof(tl), a->time_limit_ms);
        fmt_dur(idle, sizeof(idle), a->idle_timeout_ms);
        printf("%-6s %-6s %7" PRId64 " %7" PRIu64 " %7" PRIu64 " %9" PRIu64 " %9" PRIu64
               " %6" PRId64 " %-8s %-8s %s\n",
               a->id ? a->id : "-", a->kind, a->max_workers, a->pending, a->running, a->submitted,
               a->failures, a->workers_per_job, tl, idle, a->last_error ? a->last_error : "-");
    }
    buf_release(&b);
}

int cmd_alloc(int argc, char **argv)
{
    struct client_flags cf = {0};
    bool json = false;
    int64_t max_workers = 0, per_job = 1, backlog = 1, time_limit = 0, idle = 0;
    const struct opt opts[] = {
        {"max-workers", 0, OPT_INT, &max_workers, "N",
         "add: most workers the queue's Slurm jobs run at once (required)", 1, ALLOC_MAX_WORKERS},
        {"workers-per-job", 0, OPT_INT, &per_job, "K",
         "add: workers per Slurm job: the job gets K tasks (sbatch --ntasks=K) and srun starts "
         "a worker in each (default 1)",
         1, ALLOC_MAX_PER_JOB},
        {"time-limit", 0, OPT_DURATION, &time_limit, "DUR",
         "add: each job's time limit (sbatch --time); its workers drain before it ends and "
         "start no task whose timeout would not fit (default: the partition's)",
         0, ALLOC_MAX_DUR_MS},
        {"idle-timeout", 0, OPT_DURATION, &idle, "DUR",
         "add: a job's worker exits after this long without tasks (default 5m)", 0,
         ALLOC_MAX_DUR_MS},
        {"backlog", 0, OPT_INT, &backlog, "B",
         "add: most jobs waiting in Slurm's queue (default 1)", 1, ALLOC_MAX_BACKLOG},
        {"json", 0, OPT_BOOL, &json, NULL, "list: print JSON Lines, one object per queue", 0, 0},
        CLIENT_OPTS(cf),
        {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
    };
    char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
    int npos = 0, dashdash = -1;
    struct client c = {.fd = -1};
    struct buf b = BUF_INIT;
    struct msg req, reply;
    struct alloc_info a;
    memset(&req, 0, sizeof(req));
    memset(&a, 0, sizeof(a));
    int rc = cli_parse(
        "alloc",
        "alloc add slurm --max-workers N [OPTIONS] [-- SBATCH_ARGS...] | alloc list [--json] | "
        "alloc remove ID",
        "Allocation queues: the master submits Slurm jobs (sbatch) that each run dtr worker "
        "dialing back to it, while tasks are queued, within --max-workers and --backlog; the "
        "workers exit after --idle-timeout without tasks. Arguments after -- go to sbatch "
        "(--partition=debug, --cpus-per-task=8). 'remove' cancels the queue's jobs (scancel); "
        "their workers drain.",
        opts, argc, argv, 0, pos, &npos, &dashdash);
    if (rc >= 0)
        goto out;
    rc = EXIT_USAGE;
    int nflags = dashdash >= 0 ? dashdash : npos;
    const char *op = nflags ? pos[0] : NULL;
    if (!op || (strcmp(op, "add") && strcmp(op, "list") && strcmp(op, "remove"))) {
        cli_error("alloc needs add, list or remove (dtr alloc --help)");
        goto out;
    }
    if (strcmp(op, "add") && dashdash >= 0) {
        cli_error("only 'alloc add' takes arguments after --");
        goto out;
    }
    req.type = MSG_ALLOC;
    req.op = (char *)op;
    if (!strcmp(op, "add")) {
        if (nflags != 2 || strcmp(pos[1], "slurm")) {
            cli_error("usage: dtr alloc add slurm --max-workers N [-- SBATCH_ARGS...] (slurm is "
                      "the only kind)");
            goto out;
        }
        if (!max_workers) {
            cli_error("alloc add needs --max-workers N");
            goto out;
        }
        int nargs = dashdash >= 0 ? npos - dashdash : 0;
        if (nargs > ALLOC_MAX_ARGS) {
            cli_error("at most %d sbatch arguments", ALLOC_MAX_ARGS);
            goto out;
        }
        for (int i = 0; i < nargs; i++)
            if (strlen(pos[dashdash + i]) > ALLOC_MAX_ARG) {
                cli_error("an sbatch argument is longer than %d bytes", ALLOC_MAX_ARG);
                goto out;
            }
        if (per_job > max_workers) {
            cli_error("--workers-per-job %" PRId64 " is above --max-workers %" PRId64, per_job,
                      max_workers);
            goto out;
        }
        a.kind = (char *)"slurm";
        a.max_workers = max_workers;
        a.workers_per_job = per_job;
        a.backlog = backlog;
        a.time_limit_ms = time_limit;
        a.idle_timeout_ms = idle;
        a.args = dashdash >= 0 ? pos + dashdash : NULL;
        a.nargs = (size_t)nargs;
        req.allocs = &a;
        req.nallocs = 1;
    } else if (!strcmp(op, "remove")) {
        if (nflags != 2 || !msg_id_valid(pos[1])) {
            cli_error("usage: dtr alloc remove ID");
            goto out;
        }
        req.id = pos[1];
    } else if (nflags != 1) {
        cli_error("alloc list takes no arguments (got '%s')", pos[1]);
        goto out;
    }
    if ((rc = client_open(&c, &cf)))
        goto out;
    msg_encode(&b, &req);
    if ((rc = client_call(&c, &b, MSG_ALLOCS, &reply)))
        goto out;
    if (!strcmp(op, "list") || json)
        print_table(&reply, json);
    else
        for (size_t i = 0; i < reply.nallocs; i++)
            printf("%s\n", reply.allocs[i].id);
    msg_release(&reply);
    rc = 0;
out:
    buf_release(&b);
    client_close(&c);
    free(pos);
    return rc;
}
