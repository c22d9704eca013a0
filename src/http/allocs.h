/* SPDX-License-Identifier: MIT */
/* GET /api/v1/allocs: the allocation queues (dtr alloc), docs/http.md. */
#ifndef DTR_HTTP_ALLOCS_H
#define DTR_HTTP_ALLOCS_H

#include "http/http.h"

/* {"allocs":[...]}: each queue's record (as `dtr alloc list --json`
 * prints it) with "workers", the workers its jobs started. */
void api_get_allocs(struct master *m, struct api_reply *r);

#endif
