/* SPDX-License-Identifier: MIT */
/*
 * The routes of the HTTP API (docs/http.md): each builds its JSON with the
 * encoders and builders the native replies use (handlers.h, msg.h), so
 * `GET /api/v1/status` is what `dtr status --json` prints, a task record is
 * what `dtr result --json` prints, and a POST goes through the native
 * submit's checks and store.
 */
#include <inttypes.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/parse.h"
#include "common/util.h"
#include "http/allocs.h"
#include "http/http.h"
#include "master/master.h"
#include "proto/api.h"

#define LIST_DEFAULT 1000
#define LIST_MAX 10000
#define OUTPUT_REPLY_MAX (64u * 1024 * 1024) /* bytes of one output reply */

static void ok(struct api_reply *r, unsigned status)
{
    r->status = status;
    buf_addch(&r->body, '\n');
}

static void get_status(struct master *m, struct api_reply *r)
{
    handlers_status(&m->handlers, &r->body);
    ok(r, MHD_HTTP_OK);
}

static void get_workers(struct master *m, struct api_reply *r)
{
    size_t n;
    struct worker_info *wi = handlers_workers(&m->handlers, &n);
    buf_addstr(&r->body, "{\"workers\":");
    workers_encode(&r->body, wi, n);
    buf_addch(&r->body, '}');
    free(wi);
    ok(r, MHD_HTTP_OK);
}

/* The list filters, checked as the native list request is: the request is
 * spelled and parsed back (the same limits and words as `dtr tasks`). */
static int list_filter(const struct api_req *q, struct msg *out, struct api_reply *r)
{
    struct msg req = {.type = MSG_LIST, .state = -1};
    char err[512];
    if (q->state && (req.state = task_state_parse(q->state)) < 0) {
        api_error(r, MHD_HTTP_BAD_REQUEST,
                  "state= must be blocked, queued, running, succeeded, failed or cancelled");
        return -1;
    }
    if (q->job && !job_id_valid(q->job)) {
        api_error(r, MHD_HTTP_BAD_REQUEST, "job= is not a valid job id");
        return -1;
    }
    for (size_t i = 0; i < q->nlabels; i++) {
        const char *eq = strchr(q->labels[i], '=');
        if (!eq || eq == q->labels[i]) {
            api_error(r, MHD_HTTP_BAD_REQUEST, "label= must be KEY=VALUE");
            return -1;
        }
        for (size_t k = 0; k < i; k++)
            if (!strncmp(q->labels[k], q->labels[i], (size_t)(eq - q->labels[i]) + 1)) {
                api_error(r, MHD_HTTP_BAD_REQUEST, "label=: a key is given twice");
                return -1;
            }
    }
    req.job = (char *)q->job;
    req.labels = q->labels;
    req.nlabels = q->nlabels;
    struct buf b = BUF_INIT;
    msg_encode(&b, &req);
    int rc = msg_parse(b.data, b.len - 1, out, err, sizeof(err));
    buf_release(&b);
    if (rc) {
        api_error(r, MHD_HTTP_BAD_REQUEST, "%s", err);
        msg_release(out);
        return -1;
    }
    return 0;
}

/* GET /api/v1/tasks: a page of at most limit records in submission order,
 * starting after the task named by after; "next" names the page's last
 * task when more may follow. */
static void get_tasks(struct master *m, const struct api_req *q, struct api_reply *r)
{
    int64_t limit = LIST_DEFAULT;
    if (q->limit && int_parse(q->limit, 1, LIST_MAX, &limit)) {
        api_error(r, MHD_HTTP_BAD_REQUEST, "limit= must be 1 to %d", LIST_MAX);
        return;
    }
    uint64_t after = 0;
    if (q->after) {
        struct task *t = msg_id_valid(q->after) ? tasks_find(&m->tasks, q->after) : NULL;
        if (!t) {
            api_error(r, MHD_HTTP_BAD_REQUEST,
                      "after= names no task the master holds (pruned, or not an id)");
            return;
        }
        after = t->seq;
    }
    struct msg filter;
    if (list_filter(q, &filter, r))
        return;
    /* one more than the page: whether a next page may exist */
    size_t n;
    struct task **all = handlers_page(&m->handlers, &filter, after, (size_t)limit + 1, &n);
    msg_release(&filter);
    size_t end = MIN(n, (size_t)limit);
    buf_addstr(&r->body, "{\"tasks\":[");
    for (size_t i = 0; i < end; i++) {
        struct task_info ti;
        handlers_task_info(&ti, all[i]);
        if (i)
            buf_addch(&r->body, ',');
        task_info_encode_display(&r->body, &ti);
    }
    buf_addstr(&r->body, "],\"next\":");
    if (end < n)
        buf_add_json_cstr(&r->body, all[end - 1]->id);
    else
        buf_addstr(&r->body, "null");
    buf_addch(&r->body, '}');
    free(all);
    ok(r, MHD_HTTP_OK);
}

static struct task *find_task(struct master *m, const char *id, struct api_reply *r)
{
    struct task *t = msg_id_valid(id) ? tasks_find(&m->tasks, id) : NULL;
    if (!t) {
        if (msg_id_valid(id))
            api_error(r, MHD_HTTP_NOT_FOUND, "unknown task '%s'", id);
        else
            api_error(r, MHD_HTTP_NOT_FOUND, "unknown task (not a valid id)");
    }
    return t;
}

static void get_task(struct master *m, const char *id, struct api_reply *r)
{
    struct task *t = find_task(m, id, r);
    if (!t)
        return;
    struct task_info ti;
    handlers_task_record(&m->handlers, &ti, t);
    task_info_encode_display(&r->body, &ti);
    handlers_task_record_release(&ti);
    ok(r, MHD_HTTP_OK);
}

static void post_tasks(struct master *m, const struct api_req *q, struct api_reply *r)
{
    char err[1024];
    struct msg msg;
    if (api_parse_submit(q->body, q->body_len, &msg, err, sizeof(err))) {
        api_error(r, MHD_HTTP_BAD_REQUEST, "%s", err);
        msg_release(&msg);
        return;
    }
    struct buf ids = BUF_INIT;
    struct job *job = handlers_submit(&m->handlers, &msg, q->peer, &ids, err, sizeof(err));
    msg_release(&msg);
    if (!job) {
        api_error(r, m->handlers.stopping ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_BAD_REQUEST,
                  "%s", err);
        buf_release(&ids);
        return;
    }
    /* the form of `dtr submit --json` */
    buf_addstr(&r->body, "{\"job\":");
    buf_add_json_cstr(&r->body, job->id);
    buf_addstr(&r->body, ",\"tasks\":[");
    buf_add(&r->body, ids.data, ids.len);
    buf_addstr(&r->body, "]}");
    buf_release(&ids);
    ok(r, MHD_HTTP_CREATED);
}

static void post_cancel(struct master *m, const char *id, const char *peer, struct api_reply *r)
{
    struct task *t = find_task(m, id, r);
    if (!t)
        return;
    if (task_state_terminal(t->state)) {
        api_error(r, MHD_HTTP_CONFLICT, "task '%s' already %s", t->id, task_state_name(t->state));
        return;
    }
    handlers_cancel_task(&m->handlers, t, peer);
    buf_addstr(&r->body, "{\"cancelled\":[");
    buf_add_json_cstr(&r->body, t->id);
    buf_addstr(&r->body, "]}");
    ok(r, MHD_HTTP_OK);
}

/* GET /api/v1/tasks/ID/output[?stream=stdout|stderr][&attempt=N]: the
 * bytes as kept (at most OUTPUT_REPLY_MAX), with the attempt read and the
 * file's size in X-Dtr-Attempt and X-Dtr-Size. */
static void get_output(struct master *m, const struct api_req *q, const char *id,
                       struct api_reply *r)
{
    int64_t attempt = 0;
    int s = 0;
    if (q->stream && !strcmp(q->stream, "stderr"))
        s = 1;
    else if (q->stream && strcmp(q->stream, "stdout")) {
        api_error(r, MHD_HTTP_BAD_REQUEST, "stream= must be stdout or stderr");
        return;
    }
    if (q->attempt && int_parse(q->attempt, 1, INT32_MAX, &attempt)) {
        api_error(r, MHD_HTTP_BAD_REQUEST, "attempt= must be a number from 1");
        return;
    }
    struct task *t = find_task(m, id, r);
    if (!t)
        return;
    char err[300];
    int which;
    uint64_t size;
    if (outputs_read(&m->outputs, t, (int)attempt, s, OUTPUT_REPLY_MAX, &r->body, &which, &size,
                     err, sizeof(err))) {
        api_error(r, MHD_HTTP_NOT_FOUND, "%s", err);
        return;
    }
    snprintf(r->attempt, sizeof(r->attempt), "%d", which);
    snprintf(r->size, sizeof(r->size), "%" PRIu64, size);
    r->status = MHD_HTTP_OK;
    r->ctype = "text/plain; charset=utf-8";
}

static void get_jobs(struct master *m, struct api_reply *r)
{
    size_t n;
    struct job **all = tasks_jobs(&m->tasks, &n);
    buf_addstr(&r->body, "{\"jobs\":[");
    for (size_t i = 0; i < n; i++) {
        struct job_info ji;
        handlers_job_info(&ji, all[i]);
        if (i)
            buf_addch(&r->body, ',');
        job_info_encode(&r->body, &ji);
    }
    buf_addstr(&r->body, "]}");
    free(all);
    ok(r, MHD_HTTP_OK);
}

static bool is_get(const char *method)
{
    return !strcmp(method, "GET") || !strcmp(method, "HEAD");
}

/* A route that exists, asked with a method it does not take. */
static void wrong_method(struct api_reply *r, const char *allow)
{
    api_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed here; allowed: %s", allow);
    r->allow = allow;
}

static struct job *find_job(struct master *m, const char *id, struct api_reply *r)
{
    struct job *j = job_id_valid(id) ? tasks_job(&m->tasks, id) : NULL;
    if (!j) {
        if (job_id_valid(id))
            api_error(r, MHD_HTTP_NOT_FOUND, "unknown job '%s'", id);
        else
            api_error(r, MHD_HTTP_NOT_FOUND, "unknown job (not a valid id)");
    }
    return j;
}

/* GET /api/v1/jobs/J: one entry of GET /api/v1/jobs. */
static void get_job(struct master *m, const char *id, struct api_reply *r)
{
    struct job *j = find_job(m, id, r);
    if (!j)
        return;
    struct job_info ji;
    handlers_job_info(&ji, j);
    job_info_encode(&r->body, &ji);
    ok(r, MHD_HTTP_OK);
}

/* POST /api/v1/jobs/J/cancel: `dtr cancel --job J`, every unfinished task
 * of the job in submission order (one that an earlier one's cancel
 * cascaded to is cancelled already); the ids it cancelled, none when the
 * job had ended. A scan of the table, as the native request. */
static void post_cancel_job(struct master *m, const char *id, const char *peer, struct api_reply *r)
{
    struct job *j = find_job(m, id, r);
    if (!j)
        return;
    size_t n, done = 0;
    struct task **all = tasks_list(&m->tasks, -1, &n);
    buf_addstr(&r->body, "{\"job\":");
    buf_add_json_cstr(&r->body, j->id);
    buf_addstr(&r->body, ",\"cancelled\":[");
    for (size_t i = 0; i < n; i++) {
        if (all[i]->job != j || task_state_terminal(all[i]->state))
            continue;
        handlers_cancel_task(&m->handlers, all[i], peer);
        if (done++)
            buf_addch(&r->body, ',');
        buf_add_json_cstr(&r->body, all[i]->id);
    }
    buf_addstr(&r->body, "]}");
    free(all);
    log_info("job cancelled job=%s tasks=%zu peer=%s", id, done, peer);
    ok(r, MHD_HTTP_OK);
}

/* /api/v1/jobs/J and /api/v1/jobs/J/cancel (rest is what follows the
 * prefix); false when rest is no such path. */
static bool job_routes(struct master *m, const struct api_req *q, const char *rest,
                       struct api_reply *r)
{
    char id[MSG_MAX_ID + 1];
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    if (n == 0 || n > MSG_MAX_ID || (slash && strcmp(slash, "/cancel")))
        return false;
    memcpy(id, rest, n);
    id[n] = 0;
    if (!slash) {
        if (!is_get(q->method))
            wrong_method(r, "GET, HEAD");
        else
            get_job(m, id, r);
    } else if (strcmp(q->method, "POST")) {
        wrong_method(r, "POST");
    } else {
        post_cancel_job(m, id, q->peer, r);
    }
    return true;
}

/* Resources read whole, with no id or query: GET and HEAD only. */
static const struct {
    const char *path;
    void (*get)(struct master *m, struct api_reply *r);
} whole_reads[] = {
    {"/api/v1/status", get_status},
    {"/api/v1/workers", get_workers},
    {"/api/v1/allocs", api_get_allocs},
    {"/api/v1/jobs", get_jobs},
};

void api_handle(struct master *m, struct http *hs, const struct api_req *q, struct api_reply *r)
{
    static const char prefix[] = "/api/v1/tasks/", jprefix[] = "/api/v1/jobs/";
    const char *p = q->path;
    bool get = is_get(q->method), post = !strcmp(q->method, "POST");
    r->hold = true; /* what a reply shows is on disk, as with native replies */
    if (!strcmp(p, "/metrics")) {
        r->hold = false; /* counters, not task state */
        if (!get) {
            wrong_method(r, "GET, HEAD");
            return;
        }
        http_metrics(m, hs, &r->body);
        r->status = MHD_HTTP_OK;
        r->ctype = "text/plain; version=0.0.4; charset=utf-8";
        return;
    }
    if (!strcmp(p, "/api/v1/events")) {
        r->hold = false; /* the stream sends durable events only */
        if (!get) {
            wrong_method(r, "GET");
            return;
        }
        if (q->coalesce && strcmp(q->coalesce, "0") && strcmp(q->coalesce, "1")) {
            api_error(r, MHD_HTTP_BAD_REQUEST, "coalesce must be 0 or 1");
            return;
        }
        r->stream = true;
        r->coalesce = q->coalesce && !strcmp(q->coalesce, "1");
        r->status = MHD_HTTP_OK;
        return;
    }
    for (size_t i = 0; i < ARRAY_SIZE(whole_reads); i++) {
        if (!strcmp(p, whole_reads[i].path)) {
            if (get)
                whole_reads[i].get(m, r);
            else
                wrong_method(r, "GET, HEAD");
            return;
        }
    }
    if (!strncmp(p, jprefix, sizeof(jprefix) - 1) && job_routes(m, q, p + sizeof(jprefix) - 1, r))
        return;
    if (!strcmp(p, "/api/v1/tasks")) {
        if (get) {
            get_tasks(m, q, r);
            return;
        }
        if (post) {
            post_tasks(m, q, r);
            return;
        }
        wrong_method(r, "GET, HEAD, POST");
        return;
    }
    if (!strncmp(p, prefix, sizeof(prefix) - 1) && p[sizeof(prefix) - 1]) {
        char id[MSG_MAX_ID + 1];
        const char *rest = p + sizeof(prefix) - 1, *slash = strchr(rest, '/');
        size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
        if (n == 0 || n > MSG_MAX_ID) {
            r->hold = false;
            api_error(r, MHD_HTTP_NOT_FOUND, "no such path");
            return;
        }
        memcpy(id, rest, n);
        id[n] = 0;
        if (!slash) {
            if (!get) {
                wrong_method(r, "GET, HEAD");
                return;
            }
            get_task(m, id, r);
            return;
        }
        if (!strcmp(slash, "/cancel")) {
            if (!post) {
                wrong_method(r, "POST");
                return;
            }
            post_cancel(m, id, q->peer, r);
            return;
        }
        if (!strcmp(slash, "/output")) {
            if (!get) {
                wrong_method(r, "GET, HEAD");
                return;
            }
            get_output(m, q, id, r);
            return;
        }
    }
    r->hold = false;
    api_error(r, MHD_HTTP_NOT_FOUND, "no such path; the API is under /api/v1/ (docs/http.md)");
}
