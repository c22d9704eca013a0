/* SPDX-License-Identifier: MIT */
/*
 * httpload: HTTP GET load on one path of a dtr master's HTTP side.
 *
 *   httpload --url http://127.0.0.1:8999/ --path /api/v1/status [-c CONNS] [-n REQUESTS]
 *
 * CONNS threads, each with one keep-alive connection, send requests one
 * after another (n / CONNS each) and read each whole reply
 * (Content-Length). Prints one line: "rps=R p50_us=A p99_us=B failed=F".
 * Plain HTTP only.
 */
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char host[256], port[16], path[512];
static long per_thread;

struct worker {
    pthread_t th;
    long *lat_us;
    long done, failed;
};

static long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

static int dial(void)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    int fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* One request and its whole reply; 0 on a 200. */
static int one(int fd, char *buf, size_t cap)
{
    char req[700];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);
    if (write(fd, req, (size_t)n) != n)
        return -1;
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        ssize_t r = read(fd, buf + have, cap - have - 1);
        if (r <= 0)
            return -1;
        have += (size_t)r;
        buf[have] = 0;
        end = strstr(buf, "\r\n\r\n");
        if (!end && have + 1 >= cap)
            return -1;
    }
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    if (!cl)
        return -1;
    size_t len = strtoul(cl + 17, NULL, 10), head = (size_t)(end + 4 - buf);
    size_t left = head + len > have ? head + len - have : 0;
    while (left > 0) {
        ssize_t r = read(fd, buf, left < cap ? left : cap);
        if (r <= 0)
            return -1;
        left -= (size_t)r;
    }
    return strncmp(buf, "HTTP/1.1 200", 12) ? -1 : 0;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    int fd = dial();
    for (long i = 0; i < per_thread; i++) {
        long t0 = now_us();
        if (fd < 0 || one(fd, buf, cap) != 0) {
            w->failed++;
            if (fd >= 0)
                close(fd);
            fd = dial();
            continue;
        }
        w->lat_us[w->done++] = now_us() - t0;
    }
    if (fd >= 0)
        close(fd);
    free(buf);
    return NULL;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *url = NULL;
    long conns = 4, n = 20000;
    snprintf(path, sizeof(path), "/api/v1/status");
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--url"))
            url = argv[i + 1];
        else if (!strcmp(argv[i], "--path"))
            snprintf(path, sizeof(path), "%s", argv[i + 1]);
        else if (!strcmp(argv[i], "-c"))
            conns = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "-n"))
            n = atol(argv[i + 1]);
    }
    if (!url || strncmp(url, "http://", 7) || conns < 1 || n < conns ||
        sscanf(url + 7, "%255[^:/]:%15[0-9]", host, port) != 2) {
        fprintf(stderr, "usage: httpload --url http://HOST:PORT/ [--path P] [-c CONNS] [-n N]\n");
        return 2;
    }
    per_thread = n / conns;
    struct worker *ws = calloc((size_t)conns, sizeof(*ws));
    long t0 = now_us();
    for (long i = 0; i < conns; i++) {
        ws[i].lat_us = calloc((size_t)per_thread, sizeof(long));
        pthread_create(&ws[i].th, NULL, run, &ws[i]);
    }
    long total = 0, failed = 0;
    for (long i = 0; i < conns; i++) {
        pthread_join(ws[i].th, NULL);
        total += ws[i].done;
        failed += ws[i].failed;
    }
    double secs = (double)(now_us() - t0) / 1e6;
    long *all = calloc((size_t)total + 1, sizeof(long)), k = 0;
    for (long i = 0; i < conns; i++)
        for (long j = 0; j < ws[i].done; j++)
            all[k++] = ws[i].lat_us[j];
    qsort(all, (size_t)total, sizeof(long), cmp_long);
    printf("rps=%.0f p50_us=%ld p99_us=%ld failed=%ld\n", secs > 0 ? (double)total / secs : 0.0,
           total ? all[total / 2] : 0, total ? all[total * 99 / 100] : 0, failed);
    return failed ? 1 : 0;
}
