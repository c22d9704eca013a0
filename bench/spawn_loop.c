/* SPDX-License-Identifier: MIT */
/*
 * The baseline for the exec benchmark: run PROGRAM N times with at most P
 * running at once, using posix_spawn and waitpid and nothing else.
 *
 *   spawn_loop N P [PROGRAM [ARGS...]]     (default PROGRAM: /bin/true)
 *
 * Prints one line: "tasks=N par=P seconds=S rate=R" (R in tasks/s).
 * Exits 1 if any run failed. Bounded: N <= 10,000,000, and an alarm stops
 * the whole loop after 600 s.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: spawn_loop N P [PROGRAM [ARGS...]]\n");
        return 2;
    }
    long n = strtol(argv[1], NULL, 10), par = strtol(argv[2], NULL, 10);
    if (n < 1 || n > 10000000 || par < 1 || par > 1024) {
        fprintf(stderr, "spawn_loop: N must be 1..10000000 and P 1..1024\n");
        return 2;
    }
    char *def[] = {(char *)"/bin/true", NULL};
    char **cmd = argc > 3 ? argv + 3 : def;
    alarm(600);
    long started = 0, done = 0, failed = 0;
    int running = 0;
    double t0 = now_s();
    while (done < n) {
        while (running < par && started < n) {
            pid_t pid;
            int rc = posix_spawn(&pid, cmd[0], NULL, NULL, cmd, environ);
            if (rc != 0) {
                fprintf(stderr, "spawn_loop: posix_spawn %s: %s\n", cmd[0], strerror(rc));
                return 1;
            }
            started++;
            running++;
        }
        int st;
        pid_t p = waitpid(-1, &st, 0);
        if (p < 0) {
            if (errno == EINTR)
                continue;
            perror("spawn_loop: waitpid");
            return 1;
        }
        running--;
        done++;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed++;
    }
    double dt = now_s() - t0;
    printf("tasks=%ld par=%ld seconds=%.4f rate=%.1f\n", n, par, dt, (double)n / dt);
    if (failed)
        fprintf(stderr, "spawn_loop: %ld runs failed\n", failed);
    return failed ? 1 : 0;
}
