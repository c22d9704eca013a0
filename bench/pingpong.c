/* SPDX-License-Identifier: MIT */
/*
 * Loopback round-trip time: a forked child echoes lines over TCP on
 * 127.0.0.1 (TCP_NODELAY, like dtr's connections), the parent sends a
 * 64-byte line and waits for it to come back, N times.
 *
 *   pingpong [N]        (default 10000, at most 10,000,000)
 *
 * Prints "n=N p50_us=.. p99_us=.. min_us=.. max_us=.. mean_us=..".
 * Bounded: an alarm ends both processes after 300 s.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "samples.h"

static int read_full(int fd, char *p, size_t n)
{
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 10000;
    if (n < 1 || n > 10000000) {
        fprintf(stderr, "usage: pingpong [N]  (1..10000000)\n");
        return 2;
    }
    alarm(300);
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof(sa);
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 1) < 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &slen) < 0) {
        perror("pingpong: listen");
        return 1;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("pingpong: fork");
        return 1;
    }
    if (child == 0) {
        int fd = accept(ls, NULL, NULL);
        char buf[4096];
        if (fd < 0)
            _exit(1);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        for (;;) {
            ssize_t r = read(fd, buf, sizeof(buf));
            if (r <= 0)
                _exit(0);
            if (write(fd, buf, (size_t)r) != r)
                _exit(1);
        }
    }
    close(ls);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("pingpong: connect");
        kill(child, SIGKILL);
        return 1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char msg[64], back[64];
    memset(msg, 'x', sizeof(msg));
    msg[63] = '\n';
    double *t = calloc((size_t)n, sizeof(double));
    for (long i = 0; i < 100; i++) /* warm-up */
        if (write(fd, msg, sizeof(msg)) != sizeof(msg) || read_full(fd, back, sizeof(back)))
            goto fail;
    for (long i = 0; i < n; i++) {
        double t0 = mono_us();
        if (write(fd, msg, sizeof(msg)) != sizeof(msg) || read_full(fd, back, sizeof(back)))
            goto fail;
        t[i] = mono_us() - t0;
    }
    close(fd);
    waitpid(child, NULL, 0);
    samples_print(t, n, "us", 1);
    printf("\n");
    free(t);
    return 0;
fail:
    perror("pingpong: round trip");
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return 1;
}
