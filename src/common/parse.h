/* SPDX-License-Identifier: MIT */
/* Parsers for the values users type: durations, priorities, addresses and
 * port ranges. Pure; each returns 0 or DTR_EINVAL and never reads past s. */
#ifndef DTR_COMMON_PARSE_H
#define DTR_COMMON_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* "500ms", "10s", "2m", "1h", or a bare number of seconds ("1.5"). Negative,
 * empty, trailing garbage or overflow (> 100 years) are refused. */
int duration_parse(const char *s, int64_t *ms);
/* "low" (1), "medium" (2), "high" (3) or any integer in int32 range. */
int priority_parse(const char *s, int64_t *prio);
/* A base-10 integer in [min, max] with nothing after it. */
int int_parse(const char *s, int64_t min, int64_t max, int64_t *out);
/* A finite decimal number in [min, max]. */
int double_parse(const char *s, double min, double max, double *out);

#define ADDR_HOST_MAX 256
/* "HOST:PORT" (HOST may be "[v6]"); port 1..65535. host gets the bare name. */
int addr_parse(const char *s, char *host, size_t hostlen, int *port);
/* "LO-HI" with 1 <= LO <= HI <= 65535. */
int port_range_parse(const char *s, int *lo, int *hi);
/*
 * The next entry of a comma-separated list ("A,B,C", a master group's
 * addresses), blanks (space, tab, CR) around it dropped and empty entries
 * skipped, copied into out. Returns 1 with *p moved past it, 0 at the end,
 * or DTR_EINVAL (*p moved past it too) when it does not fit in outlen.
 */
int list_next(const char **p, char *out, size_t outlen);
/* "HOST:LO-HI" (the --discover form). */
int addr_range_parse(const char *s, char *host, size_t hostlen, int *lo, int *hi);

/* Array indices run from 0 to ARRAY_MAX_INDEX; one spec makes at most
 * ARRAY_MAX_TASKS tasks. */
#define ARRAY_MAX_INDEX 2147483647
#define ARRAY_MAX_TASKS 10000000
/*
 * Slurm's --array spelling: items separated by commas, each "N", "A-B"
 * (A <= B) or "A-B:S" (every S-th index from A up to B), then optionally
 * the throttle "%N" (at most N of the array's tasks running at once, N from
 * 1 to ARRAY_MAX_TASKS). On success *idx (caller frees) holds the *n
 * indices in ascending order and *throttle N (0: none). An index given
 * twice is refused. Otherwise DTR_EINVAL, *idx NULL, *n and *throttle 0,
 * and one line in err naming the offending part ("'x' in '9-x' is not a
 * number", "'%0': the throttle must be from 1 to ...").
 */
int array_spec_parse(const char *s, int **idx, size_t *n, int *throttle, char *err, size_t errlen);

#endif
