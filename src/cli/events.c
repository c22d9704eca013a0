/* SPDX-License-Identifier: MIT */
/*
 * `dtr events [--json] [--job J] [--after N]`: the master's task and worker
 * events as they happen (the stream GET /api/v1/events serves, over the
 * native protocol: docs/protocol.md "Events"), one line each, until
 * interrupted or the master goes away.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/clock.h"
#include "common/parse.h"
#include "common/util.h"

static void print_event(const struct event_info *e, bool json, struct buf *b)
{
    if (!e->id) {
        if (json)
            printf("{\"lost_from\":%" PRIu64 ",\"lost_to\":%" PRIu64 "}\n", e->lost_from,
                   e->lost_to);
        else
            printf("(events %" PRIu64 " to %" PRIu64 " are no longer kept)\n", e->lost_from,
                   e->lost_to);
        return;
    }
    if (json) {
        buf_reset(b);
        event_info_encode(b, e);
        buf_addch(b, 0);
        printf("%s\n", b->data);
        return;
    }
    char iso[CLOCK_ISO_LEN + 8];
    clock_iso8601(e->at, iso, sizeof(iso));
    printf("%s %" PRIu64 " %s", iso, e->id, e->name);
    if (e->task)
        printf(" task=%s", e->task);
    if (e->job)
        printf(" job=%s", e->job);
    if (e->worker)
        printf(" worker=%s", e->worker);
    printf("\n");
}

int cmd_events(int argc, char **argv)
{
    struct client_flags cf = {0};
    bool json = false;
    const char *job = NULL;
    const char *after_s = NULL;
    int64_t after = 0;
    const struct opt opts[] = {
        {"json", 0, OPT_BOOL, &json, NULL, "print JSON Lines: one event object per line", 0, 0},
        {"job", 'j', OPT_STRING, &job, "JOB", "only the task events of this job", 0, 0},
        {"after", 0, OPT_STRING, &after_s, "N",
         "start after event N, if the master still keeps it (default: from now)", 0, 0},
        CLIENT_OPTS(cf),
        {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
    };
    char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
    int npos = 0;
    struct client c = {.fd = -1};
    struct buf b = BUF_INIT;
    struct msg m;
    int rc = cli_parse("events", "events [--json] [--job JOB] [--after N]",
                       "Print the master's task and worker events as they happen (submitted, "
                       "started, succeeded, failed, cancelled, requeued, worker_joined, "
                       "worker_lost, worker_draining), until interrupted.",
                       opts, argc, argv, CLI_NO_ARGS, pos, &npos, NULL);
    if (rc >= 0)
        goto out;
    rc = EXIT_USAGE;
    if (job && !job_id_valid(job)) {
        cli_error("--job '%s' is not a valid job id", job);
        goto out;
    }
    if (after_s && int_parse(after_s, 1, INT64_MAX, &after)) {
        cli_error("--after '%s' must be an event id (a number from 1)", after_s);
        goto out;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if ((rc = client_open(&c, &cf)))
        goto out;
    msg_encode(&b, &(struct msg){.type = MSG_EVENTS, .job = (char *)job, .after = (uint64_t)after});
    if ((rc = client_send(&c, &b)))
        goto out;
    for (;;) {
        if ((rc = client_recv(&c, &m, -1)))
            goto out;
        if (m.type != MSG_EVENT) {
            cli_error("unexpected '%s' reply from the master", msg_type_name(m.type));
            msg_release(&m);
            rc = EXIT_UNREACHABLE;
            goto out;
        }
        print_event(&m.event, json, &b);
        msg_release(&m);
        if (ferror(stdout)) {
            rc = 0; /* the reader went away */
            goto out;
        }
    }
out:
    buf_release(&b);
    client_close(&c);
    free(pos);
    return rc;
}
