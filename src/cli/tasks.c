/* SPDX-License-Identifier: MIT */
/* `dtr tasks`: one line per task, or one JSON object per line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/util.h"

int cmd_tasks(int argc, char **argv)
{
    struct client_flags cf = {0};
    bool json = false;
    const char *state = NULL;
    const struct opt opts[] = {
        {"state", 's', OPT_STRING, &state, "STATE",
         "only tasks in this state (blocked, queued, running, succeeded, failed, cancelled)", 0, 0},
        {"json", 0, OPT_BOOL, &json, NULL, "print JSON Lines: one object per task", 0, 0},
        CLIENT_OPTS(cf),
        {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
    };
    char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
    int npos = 0;
    struct client c = {.fd = -1};
    struct buf b = BUF_INIT;
    struct msg req, m;
    int rc = cli_parse("tasks", "tasks [--state STATE] [--json]", "List tasks.", opts, argc, argv,
                       0, pos, &npos, NULL);
    if (rc >= 0)
        goto out;
    rc = EXIT_USAGE;
    if (npos) {
        cli_error("tasks takes no arguments (got '%s')", pos[0]);
        goto out;
    }
    memset(&req, 0, sizeof(req));
    req.type = MSG_LIST;
    req.state = -1;
    if (state && (req.state = task_state_parse(state)) < 0) {
        cli_error("--state '%s' must be blocked, queued, running, succeeded, failed or cancelled",
                  state);
        goto out;
    }
    if ((rc = client_open(&c, &cf)))
        goto out;
    msg_encode(&b, &req);
    if ((rc = client_send(&c, &b)))
        goto out;
    if (!json)
        printf("%-24s %-10s %8s %-20s %4s %s\n", "ID", "STATE", "ATTEMPTS", "WORKER", "EXIT",
               "ERROR");
    while ((rc = client_recv(&c, &m, 60000)) == 0 || rc == -ETIMEDOUT) {
        if (rc) {
            cli_error("no reply from the master at %s within 60s", c.addr);
            rc = EXIT_UNREACHABLE;
            break;
        }
        if (m.type == MSG_END) {
            msg_release(&m);
            break;
        }
        if (m.type != MSG_TASK) {
            cli_error("unexpected '%s' reply from the master", msg_type_name(m.type));
            msg_release(&m);
            rc = EXIT_UNREACHABLE;
            break;
        }
        struct task_info *t = &m.task;
        if (json) {
            buf_reset(&b);
            task_info_encode(&b, t);
            printf("%s\n", b.data);
        } else {
            char code[16] = "-";
            if (t->exit_code >= 0)
                snprintf(code, sizeof(code), "%d", t->exit_code);
            printf("%-24s %-10s %8d %-20s %4s %s\n", t->id, task_state_name(t->state), t->attempts,
                   t->worker ? t->worker : "-", code, t->error ? t->error : "");
        }
        msg_release(&m);
    }
out:
    buf_release(&b);
    client_close(&c);
    free(pos);
    return rc;
}
