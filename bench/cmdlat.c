/* SPDX-License-Identifier: MIT */
/*
 * Latency of a command as a user runs it: start COMMAND, wait for it to
 * exit, N times in sequence, each timed from posix_spawnp to waitpid.
 *
 *   cmdlat N COMMAND [ARGS...]
 *
 * The command's stdin is /dev/null (so `xargs /bin/true` runs /bin/true
 * once) and its stdout too; stderr is inherited. Three warm-up runs are not
 * counted. Prints one line: "n=N p50_ms= p99_ms= min_ms= max_ms=".
 * Exits 1 if any run failed (exit status not 0). Bounded: N <= 100,000,
 * and an alarm stops everything after 600 s.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run_once(char **cmd, double *ms)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    double t0 = now_ms();
    pid_t pid;
    int rc = posix_spawnp(&pid, cmd[0], &fa, NULL, cmd, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "cmdlat: posix_spawnp %s: %s\n", cmd[0], strerror(rc));
        return -1;
    }
    int st;
    if (waitpid(pid, &st, 0) < 0) {
        perror("cmdlat: waitpid");
        return -1;
    }
    *ms = now_ms() - t0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "cmdlat: %s failed (status 0x%x)\n", cmd[0], st);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: cmdlat N COMMAND [ARGS...]\n");
        return 2;
    }
    long n = strtol(argv[1], NULL, 10);
    if (n < 1 || n > 100000) {
        fprintf(stderr, "cmdlat: N must be 1..100000\n");
        return 2;
    }
    double *v = calloc((size_t)n, sizeof *v);
    if (!v) {
        fprintf(stderr, "cmdlat: out of memory\n");
        return 1;
    }
    alarm(600);
    double ms;
    for (int i = 0; i < 3; i++)
        if (run_once(argv + 2, &ms) != 0)
            return 1;
    for (long i = 0; i < n; i++)
        if (run_once(argv + 2, &v[i]) != 0)
            return 1;
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    long p99 = (long)(0.99 * (double)n);
    if (p99 >= n)
        p99 = n - 1;
    printf("n=%ld p50_ms=%.3f p99_ms=%.3f min_ms=%.3f max_ms=%.3f\n", n, v[n / 2], v[p99], v[0],
           v[n - 1]);
    free(v);
    return 0;
}
