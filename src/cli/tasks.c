/* SPDX-License-Identifier: MIT */
/* `dtr tasks`: one line per task, or one JSON object per line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/util.h"

/* req's labels from --label KEY=VALUE flags (borrowed), checked by parsing
 * the request as the master will: the same limits, the same words. */
static int label_filter(struct msg *req, const struct opt_list *l)
{
    char err[512];
    struct buf b = BUF_INIT;
    struct msg check;
    int rc = 0;
    if ((rc = cli_check_labels(l)))
        return rc;
    req->labels = (char **)l->items;
    req->nlabels = l->len;
    msg_encode(&b, req);
    if (msg_parse(b.data, b.len - 1, &check, err, sizeof(err))) {
        cli_error("--label: %s", err);
        rc = EXIT_USAGE;
    } else {
        msg_release(&check);
    }
    buf_release(&b);
    return rc;
}

/* The LABELS column: "KEY=VALUE,KEY=VALUE" or "-". */
static void print_labels(const struct task_info *t)
{
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < t->nlabel_list; i++)
        buf_addf(&b, "%s%s", i ? "," : "", t->label_list[i]);
    printf("%-16s", b.len ? b.data : "-");
    buf_release(&b);
}

int cmd_tasks(int argc, char **argv)
{
    struct client_flags cf = {0};
    bool json = false;
    const char *state = NULL, *job = NULL;
    struct opt_list labels = {0};
    const struct opt opts[] = {
        {"state", 's', OPT_STRING, &state, "STATE",
         "only tasks in this state (blocked, queued, running, succeeded, failed, cancelled)", 0, 0},
        {"label", 'l', OPT_LIST, &labels, "KEY=VALUE",
         "only tasks with this label (repeatable: all must match)", 0, 0},
        {"job", 'j', OPT_STRING, &job, "JOB", "only the tasks of this job (see 'dtr jobs')", 0, 0},
        {"json", 0, OPT_BOOL, &json, NULL, "print JSON Lines: one object per task", 0, 0},
        CLIENT_OPTS(cf),
        {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
    };
    char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
    int npos = 0;
    struct client c = {.fd = -1};
    struct buf b = BUF_INIT;
    struct msg req, m;
    int rc = cli_parse("tasks", "tasks [--state STATE] [--label KEY=VALUE]... [--job JOB] [--json]",
                       "List tasks.", opts, argc, argv, CLI_NO_ARGS, pos, &npos, NULL);
    if (rc >= 0)
        goto out;
    rc = EXIT_USAGE;
    memset(&req, 0, sizeof(req));
    req.type = MSG_LIST;
    req.state = -1;
    if (state && (req.state = task_state_parse(state)) < 0) {
        cli_error("--state '%s' must be blocked, queued, running, succeeded, failed or cancelled",
                  state);
        goto out;
    }
    if (labels.len && label_filter(&req, &labels))
        goto out;
    if (job && !job_id_valid(job)) {
        cli_error("--job '%s' is not a valid job id", job);
        goto out;
    }
    req.job = (char *)job;
    if ((rc = client_open(&c, &cf)))
        goto out;
    msg_encode(&b, &req);
    if ((rc = client_send(&c, &b)))
        goto out;
    if (!json)
        printf("%-24s %-10s %8s %-20s %4s %-16s %s\n", "ID", "STATE", "ATTEMPTS", "WORKER", "EXIT",
               "LABELS", "ERROR");
    while ((rc = client_stream_next(&c, MSG_TASK, &m)) == 1) {
        struct task_info *t = &m.task;
        if (json) {
            buf_reset(&b);
            task_info_encode(&b, t);
            printf("%s\n", b.data);
        } else {
            char code[16] = "-";
            if (t->exit_code >= 0)
                snprintf(code, sizeof(code), "%d", t->exit_code);
            printf("%-24s %-10s %8d %-20s %4s ", t->id, task_state_name(t->state), t->attempts,
                   t->worker ? t->worker : "-", code);
            print_labels(t);
            if (t->waiting)
                printf(" unschedulable: %s\n", t->waiting);
            else
                printf(" %s\n", t->error ? t->error : "");
        }
        msg_release(&m);
    }
out:
    buf_release(&b);
    client_close(&c);
    free(pos);
    opt_list_release(&labels);
    return rc;
}
