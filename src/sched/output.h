/* SPDX-License-Identifier: MIT */
/*
 * What one attempt of a task produced. A worker reports it in a result
 * message (proto/), the master keeps it in the journal only (never in
 * memory), and a client reads it back in a get reply.
 */
#ifndef DTR_SCHED_OUTPUT_H
#define DTR_SCHED_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>

/* Every pointer is heap-owned by the struct (or borrowed, when the owner
 * never calls task_output_release()). out and err hold out_len and err_len
 * bytes plus a NUL; they may hold NUL bytes themselves. */
struct task_output {
    char *out;
    size_t out_len;
    bool out_truncated;
    char *err;
    size_t err_len;
    bool err_truncated;
    char *result; /* JSON text of a built-in kind's result, or NULL */
};

/* Frees o's buffers and zeroes it; o may be NULL. */
void task_output_release(struct task_output *o);

#endif
