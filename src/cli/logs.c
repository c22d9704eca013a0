/* SPDX-License-Identifier: MIT */
/*
 * `dtr logs ID [-f] [--stdout|--stderr] [--attempt N]`: a task's output so
 * far, byte for byte, stdout to stdout and stderr to stderr (a single
 * stream asked for goes to stdout). With -f it follows the task while it
 * runs, attempt after attempt (the master pushes new bytes as they come),
 * and exits once the task ended with the code dtr wait would give it.
 * cli_read_output() is also `dtr result`'s reader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/util.h"

/* Writes all of p to fd; false when fd is gone (a closed pipe). */
static bool write_out(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

int cli_read_output(struct client *c, const char *id, int attempt, int streams, bool follow,
                    bool to_stdout, uint64_t *got)
{
    if (got)
        *got = 0;
    struct buf b = BUF_INIT;
    struct msg req, m;
    memset(&req, 0, sizeof(req));
    req.type = MSG_LOGS;
    req.id = (char *)id;
    req.attempt = attempt;
    req.streams = streams;
    req.follow = follow;
    msg_encode(&b, &req);
    int rc = client_send(c, &b);
    buf_release(&b);
    if (rc)
        return rc;
    for (;;) {
        rc = client_recv(c, &m, -1);
        if (rc)
            return rc;
        if (m.type == MSG_END) {
            msg_release(&m);
            return 0;
        }
        if (m.type != MSG_OUTPUT) {
            cli_error("unexpected '%s' reply from the master", msg_type_name(m.type));
            msg_release(&m);
            return EXIT_UNREACHABLE;
        }
        int fd = to_stdout || m.chunk.stream == OUTPUT_STDOUT ? STDOUT_FILENO : STDERR_FILENO;
        bool ok = write_out(fd, m.chunk.data, m.chunk.len);
        if (got)
            *got += m.chunk.len;
        msg_release(&m);
        if (!ok)
            return EXIT_TASK_FAILED; /* the reader went away (head, a closed pipe) */
    }
}

int cmd_logs(int argc, char **argv)
{
    struct client_flags cf = {0};
    bool follow = false, out_only = false, err_only = false;
    int64_t attempt = 0;
    const struct opt opts[] = {
        {"follow", 'f', OPT_BOOL, &follow, NULL,
         "keep printing while the task runs; exit when it ends, with its status", 0, 0},
        {"stdout", 0, OPT_BOOL, &out_only, NULL, "only stdout", 0, 0},
        {"stderr", 0, OPT_BOOL, &err_only, NULL, "only stderr (printed to stdout)", 0, 0},
        {"attempt", 0, OPT_INT, &attempt, "N", "that attempt's output (default: the latest)", 1,
         INT32_MAX},
        CLIENT_OPTS(cf),
        {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
    };
    char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
    int npos = 0;
    struct client c = {.fd = -1};
    int rc = cli_parse("logs", "logs ID [-f] [--stdout|--stderr] [--attempt N]",
                       "Print a task's output so far; -f follows it until the task ends.", opts,
                       argc, argv, CLI_ONE_TASK_ID, pos, &npos, NULL);
    if (rc >= 0)
        goto out;
    rc = EXIT_USAGE;
    if (out_only && err_only) {
        cli_error("give --stdout or --stderr, not both");
        goto out;
    }
    if (follow && attempt) {
        cli_error("--follow follows the latest attempt; it takes no --attempt");
        goto out;
    }
    if ((rc = client_open(&c, &cf)))
        goto out;
    int streams = out_only ? 1 : err_only ? 2 : 3;
    if ((rc = cli_read_output(&c, pos[0], (int)attempt, streams, follow, streams != 3, NULL)))
        goto out;
    fflush(stdout);
    if (follow) {
        /* The task ended: its status, as dtr wait reports it. */
        struct buf b = BUF_INIT;
        struct msg req, reply;
        memset(&req, 0, sizeof(req));
        req.type = MSG_GET;
        req.id = pos[0];
        msg_encode(&b, &req);
        rc = client_call(&c, &b, MSG_TASK, &reply);
        buf_release(&b);
        if (rc)
            goto out;
        rc = reply.task.state == TASK_SUCCEEDED ? 0 : EXIT_TASK_FAILED;
        if (rc)
            cli_error("task '%s' %s: %s", reply.task.id, task_state_name(reply.task.state),
                      reply.task.error ? reply.task.error : "no error recorded");
        msg_release(&reply);
    }
out:
    client_close(&c);
    free(pos);
    return rc;
}
