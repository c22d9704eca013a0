/* SPDX-License-Identifier: MIT */
/* The HTTP API's request bodies, read with the native protocol's rules. */
#ifndef DTR_PROTO_API_H
#define DTR_PROTO_API_H

#include <stddef.h>

#include "proto/msg.h"

/*
 * The body of POST /api/v1/tasks: one task spec (an object) or an array of
 * 1 to MSG_MAX_BATCH of them, each checked as a native submit's. Fills *m
 * as a submit message (release it with msg_release(), even on error).
 * Returns 0, or DTR_EINVAL with one line in err.
 */
int api_parse_submit(const char *body, size_t len, struct msg *m, char *err, size_t errlen);

#endif
