/* SPDX-License-Identifier: MIT */
/*
 * The built-in task kinds (compute, transform, echo, sleep, noop), run inside
 * the worker process instead of as a child.
 */
#ifndef DTR_WORKER_BUILTIN_H
#define DTR_WORKER_BUILTIN_H

#include <stdint.h>
#include <stddef.h>

#include "proto/spec.h"

/*
 * Runs a built-in kind's payload (JSON text; NULL means {}): sets *result to
 * the result as JSON text (caller frees), or for sleep sets *sleep_ms (and
 * *result to "null"). Returns 0, or DTR_EINVAL with a message naming the
 * payload field (then *result is NULL).
 */
int payload_eval(enum task_kind kind, const char *payload, char **result, int64_t *sleep_ms,
                 char *err, size_t errlen);

#endif
