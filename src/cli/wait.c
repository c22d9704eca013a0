/* SPDX-License-Identifier: MIT */
/*
 * `dtr wait`, and the waiting behind `submit --wait`: the master pushes
 * progress as tasks end; we draw a bar when stderr is a terminal (nothing
 * into pipes and logs, nothing with --quiet), and exit 0 only when every
 * task succeeded.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/clock.h"
#include "common/util.h"

bool cli_quiet;
bool cli_wait_json;

/* The closing line on stdout: text, or one JSON object with --json. */
static void summary(uint64_t total, uint64_t done, uint64_t failed, bool timed_out)
{
    if (cli_wait_json)
        printf("{\"total\":%" PRIu64 ",\"done\":%" PRIu64 ",\"succeeded\":%" PRIu64
               ",\"failed\":%" PRIu64 ",\"timed_out\":%s}\n",
               total, done, done - failed, failed, timed_out ? "true" : "false");
    else if (!cli_quiet && !timed_out)
        printf("%" PRIu64 " tasks: %" PRIu64 " succeeded, %" PRIu64 " failed or cancelled\n", total,
               done - failed, failed);
}

/* The progress bar, redrawn in place on stderr (a terminal). */
static void draw(const struct msg *p, int64_t started, bool final)
{
    double secs = (double)(clock_mono_ms() - started) / 1000.0;
    double rate = secs > 0 ? (double)p->done / secs : 0;
    char eta[32] = "-";
    if (rate > 0 && p->done < p->total)
        snprintf(eta, sizeof(eta), "%.0fs", (double)(p->total - p->done) / rate);
    int width = 30, fill = p->total ? (int)(width * p->done / p->total) : width;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[width] = '\0';
    fprintf(stderr,
            "\r[%s] %" PRIu64 "/%" PRIu64 " done, %" PRIu64 " failed, %.1f/s, ETA %s "
            "\033[K%s",
            bar, p->done, p->total, p->failed, rate, eta, final ? "\n" : "");
}

int cli_wait(struct client *c, char **ids, size_t n, bool all, const char *job, int64_t timeout_ms)
{
    struct buf b = BUF_INIT;
    struct msg req;
    memset(&req, 0, sizeof(req));
    req.type = MSG_WAIT;
    req.ids = ids;
    req.nids = n;
    req.all = all;
    req.job = (char *)job;
    msg_encode(&b, &req);
    int rc = client_send(c, &b);
    buf_release(&b);
    return rc ? rc : cli_follow(c, timeout_ms);
}

int cli_follow(struct client *c, int64_t timeout_ms)
{
    struct msg m;
    int rc = 0;
    /* Progress only for a person watching: a terminal, and not --quiet. */
    bool tty = !cli_quiet && isatty(STDERR_FILENO);
    int64_t started = clock_mono_ms();
    struct {
        uint64_t total, done, failed;
    } last = {0, 0, 0}; /* the latest progress, for --json after a timeout */
    int64_t deadline = timeout_ms >= 0 ? started + timeout_ms : -1;
    while (rc == 0) {
        int64_t left = deadline >= 0 ? deadline - clock_mono_ms() : -1;
        if (deadline >= 0 && left <= 0) {
            if (tty)
                fputc('\n', stderr);
            cli_error("timed out waiting after %.1fs", (double)timeout_ms / 1000.0);
            summary(last.total, last.done, last.failed, true);
            return EXIT_TASK_FAILED;
        }
        rc = client_recv(c, &m, deadline >= 0 ? MIN(left, 1000) : -1);
        if (rc == -ETIMEDOUT) {
            rc = 0;
            continue;
        }
        if (rc)
            return rc;
        if (m.type != MSG_PROGRESS) {
            msg_release(&m);
            continue;
        }
        last.total = m.total;
        last.done = m.done;
        last.failed = m.failed;
        if (tty)
            draw(&m, started, m.final);
        if (m.final) {
            summary(m.total, m.done, m.failed, false);
            rc = m.failed ? EXIT_TASK_FAILED : 0;
            msg_release(&m);
            return rc;
        }
        msg_release(&m);
    }
    return rc;
}

int cmd_wait(int argc, char **argv)
{
    struct client_flags cf = {0};
    bool all = false;
    int64_t timeout_ms = -1;
    const char *job = NULL;
    const struct opt opts[] = {
        {"all", 0, OPT_BOOL, &all, NULL, "wait until no task is queued or running", 0, 0},
        {"job", 'j', OPT_STRING, &job, "JOB", "wait for every task of this job", 0, 0},
        {"timeout", 't', OPT_DURATION, &timeout_ms, "DUR", "give up after this long (exit 1)", 0,
         0},
        {"quiet", 'q', OPT_BOOL, &cli_quiet, NULL,
         "no progress bar and no summary line: the exit status says it all", 0, 0},
        {"json", 0, OPT_BOOL, &cli_wait_json, NULL,
         "end with {\"total\", \"done\", \"succeeded\", \"failed\", \"timed_out\"} "
         "instead of the summary line",
         0, 0},
        CLIENT_OPTS(cf),
        {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
    };
    char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
    int npos = 0;
    struct client c = {.fd = -1};
    int rc = cli_parse("wait", "wait [ID...|--all|--job JOB] [--timeout DUR]",
                       "Wait until tasks end; exit 0 when all succeeded, 1 otherwise.", opts, argc,
                       argv, CLI_TASK_IDS, pos, &npos, NULL);
    if (rc >= 0)
        goto out;
    rc = EXIT_USAGE;
    if ((all && npos) || (job && (all || npos))) {
        cli_error("give task ids, --all or --job, one of them");
        goto out;
    }
    if (job && !job_id_valid(job)) {
        cli_error("--job '%s' is not a valid job id", job);
        goto out;
    }
    if ((rc = client_open(&c, &cf)))
        goto out;
    rc = cli_wait(&c, pos, (size_t)npos, !job && (all || npos == 0), job, timeout_ms);
out:
    client_close(&c);
    free(pos);
    return rc;
}
