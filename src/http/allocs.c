/* SPDX-License-Identifier: MIT */
/* GET /api/v1/allocs: the allocation queues, as `dtr status --json` shows them. */
#include "http/allocs.h"

#include <microhttpd.h>
#include <stdlib.h>

#include "master/master.h"

void api_get_allocs(struct master *m, struct api_reply *r)
{
    size_t n;
    struct worker_info *wi = handlers_workers(&m->handlers, &n);
    buf_addstr(&r->body, "{\"allocs\":");
    allocs_view(&m->allocs, wi, n, &r->body);
    buf_addstr(&r->body, "}\n");
    free(wi);
    r->status = MHD_HTTP_OK;
}
