/* SPDX-License-Identifier: MIT */
/* `dtr group [add ID@HOST:PORT | remove ID]`: a master group's members
 * (group/group.h), and changes to them while it runs. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/parse.h"
#include "common/util.h"

static int parse_member(const char *s, uint64_t *id)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || (*end && *end != '@') || v < 1 || v > INT64_MAX || s[0] == '-')
        return -1;
    *id = v;
    return 0;
}

int cmd_group(int argc, char **argv)
{
    struct client_flags cf = {0};
    bool json = false;
    const struct opt opts[] = {
        {"json", 0, OPT_BOOL, &json, NULL, "print the group as one JSON object", 0, 0},
        CLIENT_OPTS(cf),
        {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
    };
    char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
    int npos = 0;
    struct client c = {.fd = -1};
    struct buf b = BUF_INIT;
    struct msg req, reply;
    char host[ADDR_HOST_MAX];
    int port;
    memset(&req, 0, sizeof(req));
    int rc = cli_parse(
        "group", "group [--json] | group add ID@HOST:PORT | group remove ID",
        "A master group's members, its leader and term, and how far each member is behind "
        "(see dtr master --group). 'add' makes a member started with --group-join part of the "
        "group (it votes once it has caught up with the log); 'remove' takes one out.",
        opts, argc, argv, 0, pos, &npos, NULL);
    if (rc >= 0)
        goto out;
    rc = EXIT_USAGE;
    if (npos) {
        const char *op = pos[0];
        bool add = !strcmp(op, "add");
        if ((!add && strcmp(op, "remove")) || npos != 2) {
            cli_error("usage: dtr group [--json] | group add ID@HOST:PORT | group remove ID");
            goto out;
        }
        const char *at = strchr(pos[1], '@');
        if (parse_member(pos[1], &req.member) != 0 || (add != (at != NULL)) ||
            (add && addr_parse(at + 1, host, sizeof(host), &port) != 0)) {
            cli_error(add ? "group add takes ID@HOST:PORT (the new member's replication address)"
                          : "group remove takes the member's ID");
            goto out;
        }
        req.type = MSG_GROUP;
        req.op = (char *)op;
        req.addr = add ? (char *)at + 1 : NULL;
    } else {
        req.type = MSG_STATUS;
    }
    if ((rc = client_open(&c, &cf)))
        goto out;
    msg_encode(&b, &req);
    if ((rc = client_call(&c, &b, MSG_STATUS, &reply)))
        goto out;
    if (!reply.group_json) {
        cli_error("the master at %s is not a member of a group (dtr master --group)", c.addr);
        rc = 1;
    } else if (json) {
        printf("%s\n", reply.group_json);
        rc = 0;
    } else {
        print_group(reply.group_json);
        rc = 0;
    }
    msg_release(&reply);
out:
    buf_release(&b);
    client_close(&c);
    free(pos);
    return rc;
}
