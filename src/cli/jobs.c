/* SPDX-License-Identifier: MIT */
/* `dtr jobs`: one line per job (the tasks of one submit call), by state. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/clock.h"
#include "common/util.h"

/* The states in the order a task lives them (status.c has the same). */

static void print_time(int64_t ms)
{
    char iso[CLOCK_ISO_LEN + 8];
    if (!ms) {
        printf(" %-24s", "-");
        return;
    }
    clock_iso8601(ms, iso, sizeof(iso));
    printf(" %-24s", iso);
}

int cmd_jobs(int argc, char **argv)
{
    struct client_flags cf = {0};
    bool json = false;
    const struct opt opts[] = {
        {"json", 0, OPT_BOOL, &json, NULL, "print JSON Lines: one object per job", 0, 0},
        CLIENT_OPTS(cf),
        {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
    };
    char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
    int npos = 0;
    struct client c = {.fd = -1};
    struct buf b = BUF_INIT;
    struct msg m;
    int rc = cli_parse("jobs", "jobs [--json]",
                       "List jobs (each submit call makes one): their tasks by state, when they "
                       "were submitted and when they ended, and their throttle (--array A-B%N: "
                       "at most N running at once).",
                       opts, argc, argv, CLI_NO_ARGS, pos, &npos, NULL);
    if (rc >= 0)
        goto out;
    if ((rc = client_open(&c, &cf)))
        goto out;
    msg_encode(&b, &(struct msg){.type = MSG_JOBS});
    if ((rc = client_send(&c, &b)))
        goto out;
    if (!json) {
        printf("%-24s", "JOB");
        for (size_t i = 0; i < TASK_NSTATES; i++)
            printf(" %9s", task_state_name(cli_state_order[i]));
        printf(" %-24s %-24s %s\n", "SUBMITTED", "ENDED", "THROTTLE");
    }
    while ((rc = client_stream_next(&c, MSG_JOB, &m)) == 1) {
        const struct job_info *j = &m.job_info;
        if (json) {
            buf_reset(&b);
            job_info_encode(&b, j);
            printf("%s\n", b.data);
        } else {
            printf("%-24s", j->id);
            for (size_t i = 0; i < TASK_NSTATES; i++)
                printf(" %9" PRIu64, j->counts[cli_state_order[i]]);
            print_time(j->submitted_at);
            print_time(j->ended_at);
            if (j->throttle)
                printf(" %" PRIu32 "\n", j->throttle);
            else
                printf(" -\n");
        }
        msg_release(&m);
    }
out:
    buf_release(&b);
    client_close(&c);
    free(pos);
    return rc;
}
