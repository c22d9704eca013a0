/* SPDX-License-Identifier: MIT */
/* `dtr cancel ID...|--job JOB`: cancels queued tasks and kills running ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/util.h"

int cmd_cancel(int argc, char **argv)
{
    struct client_flags cf = {0};
    const char *job = NULL;
    bool json = false;
    const struct opt opts[] = {
        {"job", 'j', OPT_STRING, &job, "JOB",
         "cancel every unfinished task of this job (see 'dtr jobs')", 0, 0},
        {"json", 0, OPT_BOOL, &json, NULL,
         "print {\"cancelled\": [IDS], \"error\": null or the refusal} instead of the ids", 0, 0},
        CLIENT_OPTS(cf),
        {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
    };
    char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
    int npos = 0;
    struct client c = {.fd = -1};
    struct buf b = BUF_INIT;
    struct msg req, reply;
    int rc =
        cli_parse("cancel", "cancel ID...|--job JOB", "Cancel tasks (running ones are killed).",
                  opts, argc, argv, CLI_TASK_IDS, pos, &npos, NULL);
    if (rc >= 0)
        goto out;
    rc = EXIT_USAGE;
    if (job && npos) {
        cli_error("give task ids or --job, not both");
        goto out;
    }
    if (job && !job_id_valid(job)) {
        cli_error("--job '%s' is not a valid job id", job);
        goto out;
    }
    if (!job && npos < 1) {
        cli_error("cancel needs at least one task id, or --job");
        goto out;
    }
    if ((rc = client_open(&c, &cf)))
        goto out;
    memset(&req, 0, sizeof(req));
    req.type = MSG_CANCEL;
    req.ids = pos;
    req.nids = (size_t)npos;
    req.job = (char *)job;
    msg_encode(&b, &req);
    if ((rc = client_call(&c, &b, MSG_CANCELLED, &reply)))
        goto out;
    if (json) {
        struct buf j = BUF_INIT;
        buf_addstr(&j, "{\"cancelled\":[");
        for (size_t i = 0; i < reply.nids; i++) {
            if (i)
                buf_addstr(&j, ",");
            buf_add_json_cstr(&j, reply.ids[i]);
        }
        buf_addstr(&j, "],\"error\":");
        if (reply.error)
            buf_add_json_cstr(&j, reply.error);
        else
            buf_addstr(&j, "null");
        printf("%s}\n", j.data);
        buf_release(&j);
    } else {
        for (size_t i = 0; i < reply.nids; i++)
            printf("%s\n", reply.ids[i]);
    }
    if (reply.error) {
        cli_error("the master refused: %s", reply.error);
        rc = EXIT_REFUSED;
    }
    msg_release(&reply);
out:
    buf_release(&b);
    client_close(&c);
    free(pos);
    return rc;
}
