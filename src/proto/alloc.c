/* SPDX-License-Identifier: MIT */
/* Allocation queue records: parsed with every field checked, one spelling. */
#include "proto/alloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/util.h"
#include "proto/json_internal.h"
#include "proto/msg.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), DTR_EINVAL)

void alloc_info_release(struct alloc_info *a)
{
    free(a->id);
    free(a->kind);
    for (size_t i = 0; i < a->nargs; i++)
        free(a->args[i]);
    free(a->args);
    free(a->last_error);
    memset(a, 0, sizeof(*a));
}

void alloc_info_copy(struct alloc_info *dst, const struct alloc_info *src)
{
    *dst = *src;
    dst->id = src->id ? xstrdup(src->id) : NULL;
    dst->kind = src->kind ? xstrdup(src->kind) : NULL;
    dst->last_error = src->last_error ? xstrdup(src->last_error) : NULL;
    dst->args = xcalloc(src->nargs + 1, sizeof(char *));
    for (size_t i = 0; i < src->nargs; i++)
        dst->args[i] = xstrdup(src->args[i]);
}

/* The record's fields, without its closing brace. */
static void encode_fields(struct buf *b, const struct alloc_info *a)
{
    buf_addstr(b, "{");
    if (a->id) {
        buf_addstr(b, "\"id\":");
        buf_add_json_cstr(b, a->id);
        buf_addstr(b, ",");
    }
    buf_addstr(b, "\"kind\":");
    buf_add_json_cstr(b, a->kind ? a->kind : "slurm");
    buf_addf(b,
             ",\"max_workers\":%" PRId64 ",\"workers_per_job\":%" PRId64 ",\"backlog\":%" PRId64
             ",\"time_limit_ms\":%" PRId64 ",\"idle_timeout_ms\":%" PRId64 ",\"args\":[",
             a->max_workers, a->workers_per_job, a->backlog, a->time_limit_ms, a->idle_timeout_ms);
    for (size_t i = 0; i < a->nargs; i++) {
        if (i)
            buf_addstr(b, ",");
        buf_add_json_cstr(b, a->args[i]);
    }
    buf_addf(b,
             "],\"pending\":%" PRIu64 ",\"running\":%" PRIu64 ",\"submitted\":%" PRIu64
             ",\"ended\":%" PRIu64 ",\"failures\":%" PRIu64 ",\"retry_at\":%" PRId64,
             a->pending, a->running, a->submitted, a->ended, a->failures, a->retry_at);
    if (a->last_error) {
        buf_addstr(b, ",\"last_error\":");
        buf_add_json_cstr(b, a->last_error);
    }
}

void alloc_info_encode(struct buf *b, const struct alloc_info *a)
{
    encode_fields(b, a);
    buf_addstr(b, "}");
}

static int from_json(json_object *o, struct alloc_info *a, char *err, size_t errlen)
{
    static const char *const keys[] = {
        "id",       "kind",          "max_workers",     "workers_per_job",
        "backlog",  "time_limit_ms", "idle_timeout_ms", "args",
        "pending",  "running",       "submitted",       "ended",
        "failures", "retry_at",      "last_error",      NULL};
    int rc;
    int64_t x = 0;
    json_object *arr = NULL;
    size_t n = 0;
    if (!json_object_is_type(o, json_type_object))
        return ERR("field 'alloc' must be an object");
    if ((rc = pjson_check_keys(o, keys, "alloc", err, errlen)) ||
        (rc = pjson_get_str(o, "id", false, MSG_MAX_ID, &a->id, err, errlen)) ||
        (rc = pjson_get_str(o, "kind", true, 16, &a->kind, err, errlen)) ||
        (rc = pjson_get_int(o, "max_workers", true, 1, ALLOC_MAX_WORKERS, &a->max_workers, err,
                            errlen)) ||
        (rc = pjson_get_int(o, "workers_per_job", false, 1, ALLOC_MAX_PER_JOB, &a->workers_per_job,
                            err, errlen)) ||
        (rc = pjson_get_int(o, "backlog", false, 1, ALLOC_MAX_BACKLOG, &a->backlog, err, errlen)) ||
        (rc = pjson_get_int(o, "time_limit_ms", false, 0, ALLOC_MAX_DUR_MS, &a->time_limit_ms, err,
                            errlen)) ||
        (rc = pjson_get_int(o, "idle_timeout_ms", false, 0, ALLOC_MAX_DUR_MS, &a->idle_timeout_ms,
                            err, errlen)) ||
        (rc = pjson_get_u64(o, "pending", false, &a->pending, err, errlen)) ||
        (rc = pjson_get_u64(o, "running", false, &a->running, err, errlen)) ||
        (rc = pjson_get_u64(o, "submitted", false, &a->submitted, err, errlen)) ||
        (rc = pjson_get_u64(o, "ended", false, &a->ended, err, errlen)) ||
        (rc = pjson_get_u64(o, "failures", false, &a->failures, err, errlen)) ||
        (rc = pjson_get_int(o, "retry_at", false, 0, INT64_MAX, &x, err, errlen)) ||
        (rc =
             pjson_get_str(o, "last_error", false, ALLOC_MAX_ERROR, &a->last_error, err, errlen)) ||
        (rc = pjson_get_array(o, "args", false, ALLOC_MAX_ARGS, &arr, &n, err, errlen)))
        return rc;
    a->retry_at = x;
    if (a->id && !msg_id_valid(a->id))
        return ERR("alloc: field 'id' is not a valid id");
    if (strcmp(a->kind, "slurm"))
        return ERR("alloc: kind '%.16s' is not known (only slurm is)", a->kind);
    if (!a->workers_per_job)
        a->workers_per_job = 1;
    if (!a->backlog)
        a->backlog = 1;
    a->args = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(e, json_type_string))
            return ERR("alloc: args entry %zu must be a string", i);
        const char *s = json_object_get_string(e);
        size_t len = (size_t)json_object_get_string_len(e);
        if (len > ALLOC_MAX_ARG || strlen(s) != len)
            return ERR("alloc: args entry %zu must be at most %u bytes without NUL", i,
                       ALLOC_MAX_ARG);
        a->args[a->nargs++] = xstrdup(s);
    }
    return 0;
}

int alloc_from_json(json_object *o, struct alloc_info *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    int rc = from_json(o, a, err, errlen);
    if (rc)
        alloc_info_release(a);
    return rc;
}

int alloc_info_parse(const char *text, size_t len, struct alloc_info *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    json_object *o = pjson_parse(text, len, err, errlen);
    if (!o)
        return DTR_EINVAL;
    int rc = alloc_from_json(o, a, err, errlen);
    json_object_put(o);
    return rc;
}

bool alloc_worker_of(const char *worker_id, const char *queue_id)
{
    size_t n = strlen(queue_id);
    return worker_id && !strncmp(worker_id, "alloc-", 6) && !strncmp(worker_id + 6, queue_id, n) &&
           worker_id[6 + n] == '-';
}

void alloc_view_encode(struct buf *b, const struct alloc_info *a, size_t n,
                       const struct worker_info *w, size_t nw)
{
    buf_addch(b, '[');
    for (size_t i = 0; i < n; i++) {
        size_t workers = 0;
        for (size_t k = 0; k < nw; k++)
            workers += a[i].id && alloc_worker_of(w[k].id, a[i].id);
        if (i)
            buf_addch(b, ',');
        encode_fields(b, &a[i]);
        buf_addf(b, ",\"workers\":%zu}", workers);
    }
    buf_addch(b, ']');
}
