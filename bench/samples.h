/* SPDX-License-Identifier: MIT */
/*
 * Timed samples for the benchmark programs (pingpong, sqlite_commit,
 * latency): a monotonic clock, and percentiles of a set of durations.
 */
#ifndef DTR_BENCH_SAMPLES_H
#define DTR_BENCH_SAMPLES_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Monotonic time in microseconds. */
static inline double mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static inline int samples_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static inline void samples_sort(double *v, long n)
{
    qsort(v, (size_t)n, sizeof(double), samples_cmp);
}

/* The p-quantile of n sorted samples (n > 0). */
static inline double samples_pct(const double *v, long n, double p)
{
    long i = (long)((double)n * p);
    return v[i < n ? i : n - 1];
}

/* Sorts v and prints "n=N p50_U=.. p99_U=.. min_U=.. max_U=.. mean_U=.."
 * (U is unit) with `prec` decimals, without a newline. */
static inline void samples_print(double *v, long n, const char *unit, int prec)
{
    double sum = 0;
    for (long i = 0; i < n; i++)
        sum += v[i];
    samples_sort(v, n);
    printf("n=%ld p50_%s=%.*f p99_%s=%.*f min_%s=%.*f max_%s=%.*f mean_%s=%.*f", n, unit, prec,
           samples_pct(v, n, 0.5), unit, prec, samples_pct(v, n, 0.99), unit, prec, v[0], unit,
           prec, v[n - 1], unit, prec, sum / (double)n);
}

#endif
