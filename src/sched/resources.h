/* SPDX-License-Identifier: MIT */
/*
 * Resources (issue 13): what a task requests and what a worker offers, as
 * one vector of counters: CPUs in thousandths (milli-CPUs, so 0.5 is 500),
 * memory in bytes, GPUs, and up to RES_MAX_NAMED named counters
 * ("license=1"). Pure: parsing of the command-line spellings, the fit
 * test and the arithmetic placement (sched/place.c) and the workers use.
 */
#ifndef DTR_SCHED_RESOURCES_H
#define DTR_SCHED_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RES_MAX_NAMED 8         /* named resources of one task or worker */
#define RES_MAX_NAME 32         /* bytes of a name: [a-z][a-z0-9_]* */
#define RES_MAX_CPUS 65536      /* CPUs of a request or an offer */
#define RES_MAX_MEM (1LL << 50) /* bytes (1 PiB) */
#define RES_MAX_GPUS 1024
#define RES_MAX_COUNT 1000000000LL /* units of one named resource */

struct res_named {
    char name[RES_MAX_NAME + 1];
    int64_t n;
};

struct request {
    int64_t cpus_milli; /* thousandths of a CPU */
    int64_t mem;        /* bytes; 0: not accounted */
    int64_t gpus;
    int nnamed; /* sorted by name, no name twice */
    struct res_named named[RES_MAX_NAMED];
};

/* The request of a task that names none: one CPU. */
void res_default(struct request *r);
bool res_is_default(const struct request *r);
bool res_equal(const struct request *a, const struct request *b);

/* Whether need fits in total minus used minus hold (hold may be NULL). A
 * named resource total does not offer counts as 0. */
bool res_fits(const struct request *need, const struct request *total, const struct request *used,
              const struct request *hold);
/* used += r (sign 1) or used -= r (sign -1); named entries are added as
 * needed (at most RES_MAX_NAMED: an offer bounds them). */
void res_add(struct request *used, const struct request *r, int sign);

/*
 * Parsers of the command-line and spec spellings; each returns 0, or -1
 * with a one-line message in err naming what is wrong (what: "--cpus").
 * CPUs: a positive decimal with at most 3 decimals ("2", "0.5"). A size:
 * bytes, or a number with K, M, G, T (powers of 1024; "512M", "1.5G").
 * NAME=N: a name (res_name_valid) and a positive integer.
 */
int res_parse_cpus(const char *s, const char *what, int64_t *milli, char *err, size_t errlen);
int res_parse_size(const char *s, const char *what, int64_t *bytes, char *err, size_t errlen);
/* A whole number from 0 to max ("--gpus"). */
int res_parse_count(const char *s, const char *what, int64_t max, int64_t *out, char *err,
                    size_t errlen);
int res_parse_named(const char *s, struct request *r, char *err, size_t errlen);
/* Checks a number (a JSON value) of CPUs; *milli set on success. */
int res_check_cpus(double v, const char *what, int64_t *milli, char *err, size_t errlen);
/* Adds name=n to r, refusing a bad name, a name twice, n out of range and
 * more than RES_MAX_NAMED names. */
int res_set_named(struct request *r, const char *name, int64_t n, const char *what, char *err,
                  size_t errlen);
bool res_name_valid(const char *name);

/* "0.5", "2": CPUs for display and the canonical spec. */
void res_format_cpus(int64_t milli, char *out, size_t outlen);
/* "512M", "2G" when exact, else bytes. */
void res_format_size(int64_t bytes, char *out, size_t outlen);
/* "cpus 2, mem 1G, gpus 1, license 1": the non-zero parts of r. */
void res_describe(const struct request *r, char *out, size_t outlen);

/* Why need fits no offer among totals[0..n) (it fits none): "needs 4 gpus;
 * the largest worker has 2", or with several short parts, "needs 4 cpus
 * and 2 gpus; no worker has all of it". */
void res_why_unschedulable(const struct request *need, const struct request *const *totals,
                           size_t n, char *out, size_t outlen);

#endif
