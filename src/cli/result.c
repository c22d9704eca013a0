/* SPDX-License-Identifier: MIT */
/*
 * `dtr result ID [--attempt N]`: the task's whole stdout on stdout and its
 * stderr on stderr, their exact bytes (or a built-in's result), read from
 * the master's output files; or its record as one JSON object with --json
 * (with the first MiB of each stream and "history", its attempts). Exits
 * 1 unless the task succeeded. Output the master dropped (--max-output) is
 * noted on stderr, so a short output is never taken for the whole.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/util.h"

int cmd_result(int argc, char **argv)
{
    struct client_flags cf = {0};
    bool json = false;
    int64_t attempt = 0;
    const struct opt opts[] = {
        {"json", 0, OPT_BOOL, &json, NULL, "print the whole record as one JSON object", 0, 0},
        {"attempt", 0, OPT_INT, &attempt, "N", "that attempt's output (default: the last)", 1,
         INT32_MAX},
        CLIENT_OPTS(cf),
        {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
    };
    char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
    int npos = 0;
    struct client c = {.fd = -1};
    struct buf b = BUF_INIT;
    struct msg req, reply;
    int rc = cli_parse("result", "result ID [--json] [--attempt N]", "Show a task's result.", opts,
                       argc, argv, CLI_ONE_TASK_ID, pos, &npos, NULL);
    if (rc >= 0)
        goto out;
    if ((rc = client_open(&c, &cf)))
        goto out;
    memset(&req, 0, sizeof(req));
    req.type = MSG_GET;
    req.id = pos[0];
    msg_encode(&b, &req);
    if ((rc = client_call(&c, &b, MSG_TASK, &reply)))
        goto out;
    struct task_info *t = &reply.task;
    if (json) {
        buf_reset(&b);
        task_info_encode_display(&b, t);
        printf("%s\n", b.data);
    } else if (t->out.result && strcmp(t->out.result, "null") && !attempt) {
        printf("%s\n", t->out.result);
    } else {
        fflush(stdout);
        uint64_t got = 0;
        if ((rc = cli_read_output(&c, t->id, (int)attempt, 3, false, false, &got))) {
            msg_release(&reply);
            goto out;
        }
        /* A task finished before output files existed (a journal of an
         * older dtr) has its output in the record only. */
        if (!got && !attempt && t->out.out_len)
            fwrite(t->out.out, 1, t->out.out_len, stdout);
        fflush(stdout);
        if (!got && !attempt && t->out.err_len)
            fwrite(t->out.err, 1, t->out.err_len, stderr);
        bool cut[2];
        uint64_t kept[2];
        msg_history_truncated(t, (int)attempt, cut, kept);
        for (int s = 0; s < 2; s++)
            if (cut[s])
                fprintf(stderr, "note: %s of task '%s' was truncated at %" PRIu64 " bytes\n",
                        s ? "stderr" : "stdout", t->id, kept[s]);
    }
    fflush(stdout);
    if (t->state == TASK_SUCCEEDED) {
        rc = 0;
    } else {
        rc = EXIT_TASK_FAILED;
        if (!json) {
            if (task_state_terminal(t->state))
                cli_error("task '%s' %s: %s", t->id, task_state_name(t->state),
                          t->error ? t->error : "no error recorded");
            else
                cli_error("task '%s' is %s; it has no result yet", t->id,
                          task_state_name(t->state));
        }
    }
    msg_release(&reply);
out:
    buf_release(&b);
    client_close(&c);
    free(pos);
    return rc;
}
