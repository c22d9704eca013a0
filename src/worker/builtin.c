/* SPDX-License-Identifier: MIT */
/*
 * The built-in kinds: sum numbers (compute), upper-case a string
 * (transform), echo the payload, sleep, or nothing (noop). Reading and
 * checking the payload is proto/spec.c's (payload_decode()); this file only
 * computes, and it does no I/O: the worker does the sleeping.
 */
#include "worker/builtin.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/util.h"

/* The sum as JSON: an integer while every number is one and the sum fits in
 * 64 bits, a double otherwise. Returns NULL when even a double overflows
 * ("inf" is no JSON: the result message would not parse). */
static char *compute_sum(const struct payload_args *a)
{
    struct buf b = BUF_INIT;
    bool ints = true;
    int64_t isum = 0;
    double dsum = 0;
    for (size_t i = 0; i < a->nnumbers; i++) {
        const struct payload_number *v = &a->numbers[i];
        if (!v->is_int || __builtin_add_overflow(isum, v->i, &isum))
            ints = false;
        dsum += v->d;
    }
    if (ints)
        buf_addf(&b, "%" PRId64, isum);
    else if (!isfinite(dsum))
        return NULL;
    else
        buf_addf(&b, "%.17g", dsum);
    return buf_detach(&b, NULL);
}

int payload_eval(enum task_kind kind, const char *payload, char **result, int64_t *sleep_ms,
                 char *err, size_t errlen)
{
    struct payload_args a;
    *result = NULL;
    *sleep_ms = 0;
    if (kind == KIND_NOOP) {
        *result = xstrdup("null");
        return 0;
    }
    if (kind == KIND_ECHO) {
        *result = xstrdup(payload ? payload : "{}");
        return 0;
    }
    int rc = payload_decode(kind, payload, &a, err, errlen);
    if (rc)
        goto out;
    struct buf b = BUF_INIT;
    if (kind == KIND_COMPUTE) {
        *result = compute_sum(&a);
        if (!*result) {
            snprintf(err, errlen, "field 'payload.numbers' sums to more than a double holds");
            rc = DTR_EINVAL;
        }
        goto out;
    }
    if (kind == KIND_TRANSFORM) {
        for (size_t i = 0; i < a.data_len; i++)
            if (a.data[i] >= 'a' && a.data[i] <= 'z')
                a.data[i] = (char)(a.data[i] - 'a' + 'A');
        buf_add_json_str(&b, a.data, a.data_len);
    } else if (kind == KIND_SLEEP) {
        *sleep_ms = (int64_t)(a.seconds * 1000 + 0.5);
        buf_addstr(&b, "null");
    }
    *result = buf_detach(&b, NULL);
out:
    payload_args_release(&a);
    return rc;
}
