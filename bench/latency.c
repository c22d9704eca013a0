/* SPDX-License-Identifier: MIT */
/*
 * End-to-end latency of one task: submit one `noop`, wait for its final
 * progress, N times in sequence, over one client connection made with the
 * CLI's own code (cli/client.h). Each round is what `dtr submit --wait`
 * does, without the process start: a submit with "wait":true ->
 * submitted (durable), then the progress that follows it ... final (the
 * task ran on a worker and its result is durable).
 *
 *   latency --master HOST:PORT [-n N] [--warmup W]
 *
 * Prints "n=N p50_ms=.. p99_ms=.. min_ms=.. max_ms=.. mean_ms=..
 * submit_p50_ms=.. run_p50_ms=.." where submit_* is submit -> submitted and
 * run_* is the rest (submitted -> final). Bounded: N <= 100,000 and an alarm
 * after 600 s; a round that gets no final progress within 60 s fails.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "samples.h"

static double now_ms(void)
{
    return mono_us() / 1e3;
}

/* One round; returns 0 and the two durations, or an exit code. */
static int round_trip(struct client *c, double *submit_ms, double *total_ms)
{
    struct buf req = BUF_INIT;
    struct msg reply;
    double t0 = now_ms();
    buf_addstr(&req, "{\"type\":\"submit\",\"tasks\":[{\"kind\":\"noop\"}],\"wait\":true}\n");
    int rc = client_call(c, &req, MSG_SUBMITTED, &reply);
    buf_release(&req);
    if (rc)
        return rc;
    double t1 = now_ms();
    if (reply.nids != 1) {
        fprintf(stderr, "latency: expected one id, got %zu\n", reply.nids);
        msg_release(&reply);
        return 1;
    }
    msg_release(&reply);
    /* The submit said "wait": its progress follows, as dtr submit --wait reads it. */
    while (rc == 0) {
        struct msg p;
        rc = client_recv(c, &p, 60000);
        if (rc == -ETIMEDOUT) {
            fprintf(stderr, "latency: no final progress within 60 s\n");
            return 1;
        }
        if (rc)
            return rc;
        bool done = p.type == MSG_PROGRESS && p.final;
        bool failed = done && p.failed;
        msg_release(&p);
        if (failed) {
            fprintf(stderr, "latency: the noop task failed\n");
            return 1;
        }
        if (done)
            break;
    }
    *submit_ms = t1 - t0;
    *total_ms = now_ms() - t0;
    return rc;
}

int main(int argc, char **argv)
{
    struct client_flags f = {0};
    long n = 1000, warmup = 20;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--master") && i + 1 < argc)
            f.master = argv[++i];
        else if (!strcmp(argv[i], "-n") && i + 1 < argc)
            n = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
            warmup = strtol(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: latency --master HOST:PORT [-n N] [--warmup W]\n");
            return 2;
        }
    }
    if (n < 1 || n > 100000 || warmup < 0 || warmup > 10000) {
        fprintf(stderr, "latency: -n must be 1..100000 and --warmup 0..10000\n");
        return 2;
    }
    alarm(600);
    struct client c;
    int rc = client_open(&c, &f);
    if (rc)
        return rc;
    double *tot = calloc((size_t)n, sizeof(double)), *sub = calloc((size_t)n, sizeof(double));
    double *run = calloc((size_t)n, sizeof(double)), sum = 0;
    for (long i = -warmup; i < n && rc == 0; i++) {
        double s, t;
        rc = round_trip(&c, &s, &t);
        if (rc == 0 && i >= 0) {
            tot[i] = t;
            sub[i] = s;
            run[i] = t - s;
            sum += t;
        }
    }
    client_close(&c);
    if (rc) {
        fprintf(stderr, "latency: stopped with status %d\n", rc);
        return 1;
    }
    samples_sort(tot, n);
    samples_sort(sub, n);
    samples_sort(run, n);
    printf("n=%ld p50_ms=%.3f p99_ms=%.3f min_ms=%.3f max_ms=%.3f mean_ms=%.3f "
           "submit_p50_ms=%.3f submit_p99_ms=%.3f run_p50_ms=%.3f run_p99_ms=%.3f\n",
           n, samples_pct(tot, n, 0.5), samples_pct(tot, n, 0.99), tot[0], tot[n - 1],
           sum / (double)n, samples_pct(sub, n, 0.5), samples_pct(sub, n, 0.99),
           samples_pct(run, n, 0.5), samples_pct(run, n, 0.99));
    free(tot);
    free(sub);
    free(run);
    return 0;
}
