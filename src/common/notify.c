/* SPDX-License-Identifier: MIT */
/*
 * sd_notify without libsystemd (see notify.h): the protocol is a datagram
 * of "KEY=VALUE" lines to $NOTIFY_SOCKET, a path or, starting with '@', an
 * abstract socket name. Errors are ignored: a missing supervisor must not
 * stop the node.
 */
#include "common/notify.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void notify_send(const char *text)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    size_t len;
    int fd;

    if (!path || (path[0] != '/' && path[0] != '@'))
        return;
    len = strlen(path);
    if (len >= sizeof(sa.sun_path))
        return;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return;
    (void)sendto(fd, text, strlen(text), MSG_NOSIGNAL, (struct sockaddr *)&sa,
                 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
    close(fd);
}

void notify_ready(const char *addr)
{
    char text[400];
    snprintf(text, sizeof(text), "READY=1\nSTATUS=listening on %s\nMAINPID=%ld\n", addr,
             (long)getpid());
    notify_send(text);
}

void notify_stopping(void)
{
    notify_send("STOPPING=1\n");
}

/* Milliseconds between watchdog pings, 0 when there is no watchdog. */
static int64_t watchdog_interval_ms(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    char *end;
    long long v;

    if (!usec || !*usec)
        return 0;
    if (pid && *pid && strtol(pid, NULL, 10) != (long)getpid())
        return 0;
    v = strtoll(usec, &end, 10);
    if (*end || v <= 0)
        return 0;
    return v / 2000 > 0 ? v / 2000 : 1; /* half the timeout, as sd_watchdog_enabled(3) advises */
}

void notify_tick(int64_t now_ms)
{
    static int64_t interval = -1, last;

    if (interval < 0)
        interval = watchdog_interval_ms();
    if (interval == 0 || (last && now_ms - last < interval))
        return;
    last = now_ms;
    notify_send("WATCHDOG=1\n");
}
