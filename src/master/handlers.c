/* SPDX-License-Identifier: MIT */
/*
 * Client requests: submit, status, list, get, wait and cancel, and the
 * waiters that report progress until their tasks end (they learn it from
 * the task table's ended list). Tasks change only through tasks.c. Replies
 * are queued on the connection and leave after the turn's journal commit.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "group/group.h"
#include "master/events.h"
#include "master/handlers.h"
#include "master/alloc.h"
#include "master/output.h"

#define PROGRESS_EVERY_MS 200
/* Bytes of each stream of the last attempt in a get reply (the contract's
 * 1 MiB); dtr logs and dtr result read the whole output. */
#define GET_SNIPPET_MAX (1u << 20)

static void reply_error(struct conn *c, const char *text)
{
    struct buf *b = conn_out(c);
    if (b)
        msg_encode_error(b, text);
}

/* Where a submit's refusal goes: an error line on a native connection, or
 * a text for the HTTP API (c NULL). */
struct sink {
    struct conn *c;
    char *err;
    size_t errlen;
};

static void sink_error(struct sink *r, const char *text)
{
    if (r->c)
        reply_error(r->c, text);
    else
        snprintf(r->err, r->errlen, "%s", text);
}

/* ---- submit ------------------------------------------------------------------ */

/* "t-SEQ", avoiding ids already taken and the explicit ids of this batch. */
static char *generate_id(struct handlers *h, const struct hmap *batch, uint64_t seq)
{
    char id[48];
    snprintf(id, sizeof(id), "t-%" PRIu64, seq);
    for (uint64_t n = 1; tasks_find(h->tasks, id) || hmap_get(batch, id); n++)
        snprintf(id, sizeof(id), "t-%" PRIu64 "-%" PRIu64, seq, n);
    return xstrdup(id);
}

static const char *str_key(const void *item)
{
    return item;
}

/* Returns 0 when no id in the batch is taken or repeated, else replies.
 * Fills *seen with the batch's explicit ids (release it either way). */
static int check_ids(struct handlers *h, struct sink *c, struct msg *msg, struct hmap *seen_map)
{
    char err[512];
    struct hmap *seen = seen_map;
    int rc = 0;
    for (size_t i = 0; i < msg->nspecs && rc == 0; i++) {
        char *id = msg->specs[i].id;
        if (!id)
            continue;
        if (tasks_find(h->tasks, id)) {
            snprintf(err, sizeof(err),
                     "task %zu: a task with id '%s' already exists; choose "
                     "another id",
                     i + 1, id);
            rc = -1;
        } else if (hmap_get(seen, id)) {
            snprintf(err, sizeof(err), "task %zu: id '%s' appears twice in this batch", i + 1, id);
            rc = -1;
        } else {
            hmap_put(seen, id);
        }
    }
    if (rc)
        sink_error(c, err);
    return rc;
}

static const char *spec_dep(const struct task_spec *s, size_t i);

/* The stored tasks of job j as ids (borrowed), cached across one submit. */
struct job_ids {
    const struct job *job;
    const char **ids;
    size_t n;
};

static struct task **job_tasks(struct handlers *h, const struct job *j, size_t *n);

/* Appends id to the list *out (of *n, capacity *cap) unless seen has it. */
static void add_dep(char ***out, size_t *n, size_t *cap, struct hmap *seen, const char *id)
{
    if (hmap_get(seen, id))
        return;
    if (*n + 1 >= *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *out = xrealloc(*out, *cap * sizeof(char *));
    }
    (*out)[(*n)++] = xstrdup(id);
    (*out)[*n] = NULL;
    hmap_put(seen, (*out)[*n - 1]);
}

/*
 * Dependencies may name a job: "after every task of that job". An id that
 * names no task of the master or of the batch but a job is replaced here,
 * at submit, by the ids of the job's tasks the master holds (a task the job
 * gains later is not waited for), so the stored spec lists tasks only. An id
 * named twice that way counts once (in after when in both lists). Returns
 * 0, or replies an error beginning with "dependency".
 */
static int expand_job_deps(struct handlers *h, struct sink *c, struct msg *msg,
                           const struct hmap *batch)
{
    struct job_ids cache = {0};
    int rc = 0;
    for (size_t i = 0; i < msg->nspecs && !rc; i++) {
        struct task_spec *s = &msg->specs[i];
        bool any_job = false;
        for (size_t k = 0; k < s->nafter + s->nafter_any && !any_job; k++) {
            const char *d = spec_dep(s, k);
            any_job =
                !hmap_get(batch, d) && !tasks_find_stored(h->tasks, d) && tasks_job(h->tasks, d);
        }
        if (!any_job)
            continue;
        char **lists[2] = {NULL, NULL};
        size_t ns[2] = {0, 0}, caps[2] = {0, 0};
        struct hmap seen;
        hmap_init(&seen, str_key);
        for (int l = 0; l < 2; l++) {
            char **in = l ? s->after_any : s->after;
            size_t nin = l ? s->nafter_any : s->nafter;
            for (size_t k = 0; k < nin; k++) {
                struct job *j = NULL;
                if (hmap_get(batch, in[k]) || tasks_find_stored(h->tasks, in[k]) ||
                    !(j = tasks_job(h->tasks, in[k]))) {
                    add_dep(&lists[l], &ns[l], &caps[l], &seen, in[k]);
                    continue;
                }
                if (cache.job != j) {
                    size_t nt;
                    struct task **ts = job_tasks(h, j, &nt);
                    free(cache.ids);
                    cache.ids = xcalloc(nt + 1, sizeof(char *));
                    cache.n = 0;
                    for (size_t t = 0; t < nt; t++)
                        if (tasks_find_stored(h->tasks, ts[t]->id))
                            cache.ids[cache.n++] = ts[t]->id;
                    free(ts);
                    cache.job = j;
                }
                if (ns[0] + ns[1] + cache.n > MSG_MAX_DEPS) {
                    char err[300];
                    snprintf(err, sizeof(err),
                             "dependency '%s' of task %zu is a job of %zu tasks; a task may "
                             "depend on at most %d",
                             in[k], i + 1, cache.n, MSG_MAX_DEPS);
                    sink_error(c, err);
                    rc = -1;
                    break;
                }
                for (size_t t = 0; t < cache.n; t++)
                    add_dep(&lists[l], &ns[l], &caps[l], &seen, cache.ids[t]);
            }
            if (rc)
                break;
        }
        hmap_release(&seen);
        if (rc) {
            spec_free_ids(lists[0], ns[0]);
            spec_free_ids(lists[1], ns[1]);
            break;
        }
        spec_free_ids(s->after, s->nafter);
        spec_free_ids(s->after_any, s->nafter_any);
        s->after = lists[0]; /* NULL when empty: the canonical form has no [] */
        s->nafter = ns[0];
        s->after_any = lists[1];
        s->nafter_any = ns[1];
    }
    free(cache.ids);
    return rc;
}

/* A task of the batch in the dependency check (check_deps). */
struct dep_node {
    const char *id;
    size_t spec;   /* index in the batch */
    size_t next;   /* DFS: the next dependency to follow */
    int color;     /* 0 unseen, 1 on the DFS stack, 2 done */
    size_t parent; /* DFS: the node we came from */
};

static const char *dep_node_key(const void *item)
{
    return ((const struct dep_node *)item)->id;
}

static const char *spec_dep(const struct task_spec *s, size_t i)
{
    return i < s->nafter ? s->after[i] : s->after_any[i - s->nafter];
}

/*
 * Returns 0 when every dependency of the batch names a task in the master
 * or in the batch (by explicit id), none names its own task, and the
 * batch's own edges form no cycle (tasks in the master cannot depend on
 * new ones, so a cycle lies within the batch); else replies with an error
 * that begins with "dependency" (the CLI exits 2 on it). O(edges).
 */
static int check_deps(struct handlers *h, struct sink *c, const struct msg *msg)
{
    char err[1024];
    int rc = 0;
    size_t nnodes = 0;
    for (size_t i = 0; i < msg->nspecs; i++)
        if (msg->specs[i].nafter + msg->specs[i].nafter_any)
            nnodes++;
    if (!nnodes)
        return 0;
    struct dep_node *nodes = xcalloc(msg->nspecs, sizeof(*nodes));
    struct hmap byid;
    hmap_init(&byid, dep_node_key);
    for (size_t i = 0; i < msg->nspecs; i++) {
        nodes[i].id = msg->specs[i].id;
        nodes[i].spec = i;
        if (nodes[i].id)
            hmap_put(&byid, &nodes[i]);
    }
    for (size_t i = 0; i < msg->nspecs && !rc; i++) {
        const struct task_spec *s = &msg->specs[i];
        for (size_t k = 0; k < s->nafter + s->nafter_any && !rc; k++) {
            const char *d = spec_dep(s, k);
            if (s->id && !strcmp(d, s->id)) {
                snprintf(err, sizeof(err), "dependency of task '%s' on itself; drop it", d);
                rc = -1;
            } else if (!hmap_get(&byid, d) && !tasks_find_stored(h->tasks, d)) {
                snprintf(err, sizeof(err),
                         "dependency '%s' of task %zu%s%s%s is unknown: no such task in the "
                         "master or in this batch",
                         d, i + 1, s->id ? " ('" : "", s->id ? s->id : "", s->id ? "')" : "");
                rc = -1;
            }
        }
    }
    /* Iterative DFS over the batch's own edges; a grey node reached again
     * closes a cycle, which the parent links spell backwards. */
    for (size_t root = 0; root < msg->nspecs && !rc; root++) {
        if (!nodes[root].id || nodes[root].color)
            continue;
        size_t cur = root;
        nodes[cur].color = 1;
        nodes[cur].parent = SIZE_MAX;
        while (cur != SIZE_MAX && !rc) {
            const struct task_spec *s = &msg->specs[cur];
            if (nodes[cur].next == s->nafter + s->nafter_any) {
                nodes[cur].color = 2;
                cur = nodes[cur].parent;
                continue;
            }
            struct dep_node *d = hmap_get(&byid, spec_dep(s, nodes[cur].next++));
            if (!d || d->color == 2)
                continue;
            if (d->color == 0) {
                d->color = 1;
                d->parent = cur;
                cur = d->spec;
                continue;
            }
            /* d is on the stack: d -> ... -> cur -> d, read from cur back. */
            size_t len = 0, *path = xcalloc(msg->nspecs + 1, sizeof(size_t));
            for (size_t p = cur; p != d->spec; p = nodes[p].parent)
                path[len++] = p;
            path[len++] = d->spec;
            struct buf b = BUF_INIT;
            buf_addstr(&b, "dependency cycle: ");
            for (size_t k = len; k-- > 0;) {
                buf_addstr(&b, nodes[path[k]].id);
                buf_addstr(&b, " -> ");
                if (b.len > 700) {
                    buf_addstr(&b, "... -> ");
                    break;
                }
            }
            buf_addstr(&b, d->id);
            snprintf(err, sizeof(err), "%s", b.data);
            buf_release(&b);
            free(path);
            rc = -1;
        }
    }
    hmap_release(&byid);
    free(nodes);
    if (rc)
        sink_error(c, err);
    return rc;
}

/*
 * The job a submit joins: the one this connection's first batch made (field
 * job), a new one named job_name, or a new j-N. Returns it, or NULL after
 * replying an error. *made says it is new (dropped if the batch fails).
 */
static struct job *submit_job(struct handlers *h, struct sink *c, const struct msg *msg,
                              const char *conn_job, bool *made)
{
    char err[300];
    struct job *j;
    *made = false;
    if (msg->job) {
        j = tasks_job(h->tasks, msg->job);
        if (!j || !conn_job || strcmp(conn_job, msg->job)) {
            snprintf(err, sizeof(err),
                     "%s job '%s': a submit joins only the job this connection's first submit "
                     "made",
                     j ? "cannot add to" : "unknown", msg->job);
            sink_error(c, err);
            return NULL;
        }
        if (msg->throttle && msg->throttle != j->throttle) {
            snprintf(err, sizeof(err),
                     "job '%s' has throttle %" PRIu32 ": a submit that joins it cannot change it",
                     j->id, j->throttle);
            sink_error(c, err);
            return NULL;
        }
        return j;
    }
    if (msg->job_name && !job_name_free(msg->job_name)) {
        snprintf(err, sizeof(err), "job name '%s' is reserved: the master gives out j-N itself",
                 msg->job_name);
        sink_error(c, err);
        return NULL;
    }
    if (msg->job_name && tasks_job(h->tasks, msg->job_name)) {
        snprintf(err, sizeof(err),
                 "job name '%s' is taken (a job keeps its name until its tasks are pruned)",
                 msg->job_name);
        sink_error(c, err);
        return NULL;
    }
    *made = true;
    j = tasks_job_new(h->tasks, msg->job_name, clock_wall_ms());
    tasks_job_throttle(j, msg->throttle);
    return j;
}

/*
 * One submit batch, accepted whole or not at all: the checks, then the
 * tasks stored into their job (conn_job: the job the connection's first
 * batch made, or NULL). Returns the job, with the tasks' ids appended to
 * ids as JSON strings separated by commas and *made set when the job is
 * new; or NULL after sink_error(). The native submit and POST
 * /api/v1/tasks both come here.
 */
static struct job *submit_batch(struct handlers *h, struct sink *r, struct msg *msg,
                                const char *conn_job, const char *peer, struct buf *ids, bool *made)
{
    struct hmap batch;
    struct job *job = NULL;
    *made = false;
    hmap_init(&batch, str_key);
    if (check_ids(h, r, msg, &batch) || expand_job_deps(h, r, msg, &batch) ||
        check_deps(h, r, msg) || !(job = submit_job(h, r, msg, conn_job, made))) {
        hmap_release(&batch);
        return NULL;
    }
    /* Encode every spec first, so a batch with one oversized spec is
     * refused whole before anything is stored. */
    int64_t now = clock_wall_ms();
    uint64_t first_seq = h->tasks->next_seq;
    char **json = xcalloc(msg->nspecs, sizeof(char *));
    struct buf spec = BUF_INIT;
    for (size_t i = 0; i < msg->nspecs; i++) {
        struct task_spec *s = &msg->specs[i];
        if (!s->id)
            s->id = generate_id(h, &batch, first_seq + i);
        free(s->job);
        s->job = xstrdup(job->id);
        s->throttle = job->throttle;
        buf_reset(&spec);
        spec_encode(&spec, s);
        if (spec.len > MSG_MAX_SPEC) {
            char err[300];
            snprintf(err, sizeof(err), "task %zu: the spec is %zu bytes; the limit is %u", i + 1,
                     spec.len, MSG_MAX_SPEC);
            sink_error(r, err);
            for (size_t k = 0; k < i; k++)
                free(json[k]);
            if (*made)
                tasks_job_drop(h->tasks, job);
            job = NULL;
            goto out;
        }
        json[i] = buf_detach(&spec, NULL);
    }
    struct task **blocked = xcalloc(msg->nspecs, sizeof(*blocked));
    size_t nblocked = 0;
    for (size_t i = 0; i < msg->nspecs; i++) {
        struct task_spec *s = &msg->specs[i];
        bool deps = s->nafter + s->nafter_any > 0;
        struct task *t =
            deps ? tasks_add_blocked(h->tasks, s->id, json[i], s->priority, s->max_retries, now)
                 : tasks_add(h->tasks, s->id, json[i], s->priority, s->max_retries, now);
        free(json[i]);
        tasks_set_job(h->tasks, t, job);
        if (deps)
            blocked[nblocked++] = t;
        else if (msg->wait && msg->nspecs <= WORKERS_AWAIT_MAX)
            workers_await(h->workers, t);
        if (i)
            buf_addch(ids, ',');
        buf_add_json_cstr(ids, t->id);
    }
    /* Every task of the batch is in: a dependency may come later in it. */
    for (size_t i = 0; i < nblocked; i++)
        if (blocked[i]->state == TASK_BLOCKED) /* not cancelled by an earlier one */
            tasks_link(h->tasks, blocked[i]);
    free(blocked);
    log_info("accepted tasks count=%zu job=%s peer=%s", msg->nspecs, job->id, peer);
out:
    free(json);
    buf_release(&spec);
    hmap_release(&batch);
    return job;
}

static void handle_wait(struct handlers *h, struct conn *c, struct msg *msg);

static void handle_submit(struct handlers *h, struct conn *c, struct msg *msg)
{
    struct client_session *cs = c->data;
    struct sink r = {.c = c};
    struct buf ids = BUF_INIT;
    bool made;
    if (!conn_out(c))
        return;
    struct job *job = submit_batch(h, &r, msg, cs->job, conn_peer(c), &ids, &made);
    struct buf *b = conn_out(c);
    if (job && b) {
        msg_ids_begin(b, MSG_SUBMITTED);
        buf_add(b, ids.data, ids.len);
        msg_ids_end_job(b, job->id);
    }
    if (job && made) {
        free(cs->job);
        cs->job = xstrdup(job->id);
    }
    buf_release(&ids);
    if (job && msg->wait) {
        /* As a wait for the batch's ids sent right after it: its progress
         * follows `submitted` without another round trip. */
        struct msg w = {.type = MSG_WAIT, .nids = msg->nspecs};
        w.ids = xcalloc(msg->nspecs, sizeof(*w.ids));
        for (size_t i = 0; i < msg->nspecs; i++)
            w.ids[i] = msg->specs[i].id;
        handle_wait(h, c, &w);
        free(w.ids);
    }
}

struct job *handlers_submit(struct handlers *h, struct msg *msg, const char *peer, struct buf *ids,
                            char *err, size_t errlen)
{
    struct sink r = {.err = err, .errlen = errlen};
    bool made;
    if (h->stopping) {
        snprintf(err, errlen, "the master is stopping; submit again once it is back");
        return NULL;
    }
    return submit_batch(h, &r, msg, NULL, peer, ids, &made);
}

/* ---- queries ------------------------------------------------------------------- */

void handlers_task_info(struct task_info *ti, const struct task *t)
{
    memset(ti, 0, sizeof(*ti));
    ti->id = (char *)t->id; /* borrowed: handlers_task_info()'s output is never released */
    ti->state = t->state;
    ti->kind = (char *)spec_kind(t->spec);
    ti->priority = t->priority;
    ti->attempts = t->attempts;
    ti->max_retries = t->max_retries;
    ti->crashes = t->crashes;
    ti->worker = t->worker;
    ti->exit_code = t->attempts && t->state != TASK_RUNNING ? t->exit_code : -1;
    ti->error = t->error;
    ti->submitted_at = t->submitted_at;
    ti->started_at = t->started_at;
    ti->finished_at = t->finished_at;
    ti->labels = (char *)spec_labels(t->spec, &ti->labels_len);
    ti->job = t->job ? t->job->id : NULL;
    ti->waiting = t->state == TASK_QUEUED ? t->waiting : NULL;
}

struct worker_info *handlers_workers(const struct handlers *h, size_t *nout)
{
    struct worker_info *wi = xcalloc(h->workers->n + 1, sizeof(*wi));
    size_t n = 0;
    for (struct list *p = h->workers->all.next; p != &h->workers->all; p = p->next) {
        struct worker *w = list_entry(p, struct worker, node);
        wi[n].id = w->id;
        wi[n].addr = w->addr;
        wi[n].slots = w->slots;
        wi[n].running = w->running;
        wi[n].done = w->done;
        wi[n].last_seen = w->last_seen_wall;
        wi[n].draining = w->draining;
        wi[n].has_res = true;
        wi[n].total = w->total;
        wi[n].used = w->used;
        n++;
    }
    *nout = n;
    return wi;
}

/* b ends with the status object: in a group, the group goes in it. */
static void add_group(const struct handlers *h, struct buf *b)
{
    if (!h->group || !b->len || b->data[b->len - 1] != '}')
        return;
    b->len--;
    buf_addstr(b, ",\"group\":");
    group_json(h->group, b);
    buf_addch(b, '}');
}

void handlers_status(const struct handlers *h, struct buf *b)
{
    size_t n;
    struct worker_info *wi = handlers_workers(h, &n);
    struct buf st = BUF_INIT;
    status_encode(&st, wi, n, h->tasks->counts, h->tasks->jobs_active, h->tasks->jobs_ended,
                  h->tasks->nparked);
    /* the allocation queues first, as `dtr status --json` puts them */
    buf_addstr(b, "{\"allocs\":");
    if (h->allocs)
        allocs_view(h->allocs, wi, n, b);
    else
        buf_addstr(b, "[]");
    buf_addf(b, ",%s", st.data + 1);
    buf_release(&st);
    free(wi);
    add_group(h, b);
}

static void handle_status(struct handlers *h, struct conn *c)
{
    size_t n;
    struct worker_info *wi = handlers_workers(h, &n);
    struct buf *b = conn_out(c);
    if (b) {
        struct buf st = BUF_INIT;
        status_encode(&st, wi, n, h->tasks->counts, h->tasks->jobs_active, h->tasks->jobs_ended,
                      h->tasks->nparked);
        add_group(h, &st);
        buf_addstr(b, "{\"type\":\"status\",\"status\":");
        buf_add(b, st.data, st.len);
        buf_addstr(b, "}\n");
        buf_release(&st);
    }
    free(wi);
}

/* A membership change ended: the group as it is now, or why not. */
static void group_changed(void *arg, const char *error)
{
    struct client_session *cs = arg;
    char text[600];
    cs->changing_group = false;
    if (error) {
        snprintf(text, sizeof(text), "the membership change failed: %s", error);
        reply_error(cs->conn, text);
    } else {
        handle_status(cs->handlers, cs->conn);
    }
}

static void handle_group(struct handlers *h, struct conn *c, const struct msg *msg)
{
    struct client_session *cs = c->data;
    char err[512];
    if (!h->group) {
        reply_error(c, "this master is not a member of a group (see dtr master --group)");
        return;
    }
    if (cs->changing_group) {
        reply_error(c, "a membership change of this connection is under way");
        return;
    }
    if (group_change(h->group, !strcmp(msg->op, "add"), msg->member, msg->addr, group_changed, cs,
                     err, sizeof(err)) != 0) {
        reply_error(c, err);
        return;
    }
    cs->changing_group = true;
}

#define LIST_CHUNK 2000        /* task records per turn */
#define LIST_WINDOW (1u << 20) /* bytes a client may have unread before we pause */

void handlers_init(struct handlers *h, struct tasks *ts, struct workers *ws)
{
    memset(h, 0, sizeof(*h));
    list_init(&h->sessions);
    list_init(&h->waiters);
    h->tasks = ts;
    h->workers = ws;
}

struct client_session *client_session_new(struct handlers *h, struct conn *c)
{
    struct client_session *cs = xcalloc(1, sizeof(*cs));
    cs->conn = c;
    cs->handlers = h;
    list_add_tail(&h->sessions, &cs->node);
    return cs;
}

static void list_done(struct client_session *cs)
{
    for (size_t i = cs->list_pos; i < cs->list_len; i++)
        free(cs->list_ids[i]);
    free(cs->list_ids);
    cs->list_ids = NULL;
    cs->list_len = cs->list_pos = 0;
    cs->list_jobs = false;
}

/* The job a list, wait or cancel names, or NULL after replying an error. */
static struct job *find_job(struct handlers *h, struct conn *c, const char *id)
{
    struct job *j = tasks_job(h->tasks, id);
    if (!j) {
        char err[300];
        snprintf(err, sizeof(err), "unknown job '%s'", id);
        reply_error(c, err);
    }
    return j;
}

/* The tasks of job j in memory, in submission order (*n of them; the
 * caller frees the array). A scan of the table: a request names a job once. */
static struct task **job_tasks(struct handlers *h, const struct job *j, size_t *n)
{
    struct task **all = tasks_list(h->tasks, -1, n);
    size_t k = 0;
    for (size_t i = 0; i < *n; i++)
        if (all[i]->job == j)
            all[k++] = all[i];
    *n = k;
    return all;
}

/* Waiters keep the tasks they wait for by id. */
static const char *task_key(const void *item)
{
    return ((const struct task *)item)->id;
}

static void waiter_free(struct waiter *w)
{
    hmap_release(&w->pending);
    free(w);
}

void client_session_free(struct client_session *cs)
{
    if (cs->changing_group)
        group_change_forget(cs->handlers->group, cs);
    if (cs->waiter) {
        list_del(&cs->waiter->node);
        waiter_free(cs->waiter);
    }
    list_done(cs);
    free(cs->job);
    list_del(&cs->node);
    cs->conn->data = NULL;
    free(cs);
}

/* The list request's labels as the pairs labels_match() compares. */
static char **label_filter(const struct msg *msg)
{
    char **want = xcalloc(msg->nlabels + 1, sizeof(char *));
    for (size_t i = 0; i < msg->nlabels; i++) {
        struct buf b = BUF_INIT;
        labels_pair_encode(&b, msg->labels[i]);
        want[i] = buf_detach(&b, NULL);
    }
    return want;
}

/* Whether task t carries every label of the filter (labels never change,
 * so the snapshot applies it once, reading them from the stored spec). */
static bool labels_wanted(const struct task *t, char **want, size_t nwant)
{
    size_t len;
    const char *obj;
    if (!nwant)
        return true;
    obj = spec_labels(t->spec, &len);
    return obj && labels_match(obj, len, want, nwant);
}

struct task **handlers_select(struct handlers *h, const struct msg *msg, size_t *nout)
{
    size_t n, k = 0;
    struct job *job = msg->job ? tasks_job(h->tasks, msg->job) : NULL;
    struct task **all = tasks_list(h->tasks, msg->state, &n);
    if (msg->job && !job)
        n = 0;
    char **want = label_filter(msg);
    for (size_t i = 0; i < n; i++)
        if ((!job || all[i]->job == job) && labels_wanted(all[i], want, msg->nlabels))
            all[k++] = all[i];
    for (size_t i = 0; i < msg->nlabels; i++)
        free(want[i]);
    free(want);
    *nout = k;
    return all;
}

/* Max-heap by seq of the tasks kept for a page (handlers_page()). */
static void page_sift_down(struct task **hp, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, top = i;
        if (l < n && hp[l]->seq > hp[top]->seq)
            top = l;
        if (r < n && hp[r]->seq > hp[top]->seq)
            top = r;
        if (top == i)
            return;
        struct task *t = hp[i];
        hp[i] = hp[top];
        hp[top] = t;
        i = top;
    }
}

static int page_cmp_seq(const void *a, const void *b)
{
    const struct task *x = *(struct task *const *)a, *y = *(struct task *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct task **handlers_page(struct handlers *h, const struct msg *msg, uint64_t after, size_t limit,
                            size_t *nout)
{
    const struct hmap *map = &h->tasks->map;
    struct job *job = msg->job ? tasks_job(h->tasks, msg->job) : NULL;
    struct task **hp = xcalloc(limit + 1, sizeof(*hp));
    size_t n = 0;
    char **want = label_filter(msg);
    for (size_t i = 0; i < map->cap && !(msg->job && !job); i++) {
        struct task *t = map->slots[i];
        if (!t || t->seq <= after || (msg->state >= 0 && (int)t->state != msg->state) ||
            (job && t->job != job) || (n == limit && t->seq >= hp[0]->seq) ||
            !labels_wanted(t, want, msg->nlabels))
            continue;
        if (n < limit) { /* sift up */
            size_t k = n++;
            hp[k] = t;
            while (k && hp[(k - 1) / 2]->seq < hp[k]->seq) {
                struct task *p = hp[(k - 1) / 2];
                hp[(k - 1) / 2] = hp[k];
                hp[k] = p;
                k = (k - 1) / 2;
            }
        } else {
            hp[0] = t;
            page_sift_down(hp, n, 0);
        }
    }
    for (size_t i = 0; i < msg->nlabels; i++)
        free(want[i]);
    free(want);
    qsort(hp, n, sizeof(*hp), page_cmp_seq);
    *nout = n;
    return hp;
}

/* Takes a snapshot of the ids (tasks may be pruned while the listing
 * streams) and lets listings_pump() send it a chunk at a time, so a million
 * tasks never sit in one output buffer. */
static void handle_list(struct handlers *h, struct conn *c, const struct msg *msg)
{
    int state = msg->state;
    struct client_session *cs = c->data;
    if (cs->list_ids) {
        reply_error(c, "a listing is already in progress on this connection");
        return;
    }
    size_t n;
    if (msg->job && !find_job(h, c, msg->job))
        return;
    struct task **all = handlers_select(h, msg, &n);
    cs->list_ids = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        cs->list_ids[i] = xstrdup(all[i]->id);
    cs->list_len = n;
    cs->list_pos = 0;
    cs->list_state = state;
    free(all);
    if (n == 0 && conn_out(c)) {
        msg_encode_end(conn_out(c));
        list_done(cs);
    }
}

void listings_pump(struct handlers *h)
{
    for (struct list *p = h->sessions.next; p != &h->sessions; p = p->next) {
        struct client_session *cs = list_entry(p, struct client_session, node);
        struct conn *c = cs->conn;
        if (!cs->list_ids || conn_pending_bytes(c) > LIST_WINDOW)
            continue;
        struct buf *b = conn_out(c);
        if (!b)
            continue;
        for (int k = 0; k < LIST_CHUNK && cs->list_pos < cs->list_len && cs->list_jobs; k++) {
            char *id = cs->list_ids[cs->list_pos++];
            struct job *j = tasks_job(h->tasks, id);
            free(id);
            if (!j)
                continue; /* pruned since the snapshot */
            struct job_info ji;
            handlers_job_info(&ji, j);
            msg_encode_job(b, &ji);
        }
        for (int k = 0; k < LIST_CHUNK && cs->list_pos < cs->list_len && !cs->list_jobs; k++) {
            char *id = cs->list_ids[cs->list_pos++];
            struct task *t = tasks_find(h->tasks, id);
            free(id);
            if (!t || (cs->list_state >= 0 && (int)t->state != cs->list_state))
                continue; /* pruned or moved on since the snapshot */
            struct task_info ti;
            handlers_task_info(&ti, t);
            msg_encode_task(b, &ti);
        }
        if (cs->list_pos == cs->list_len) {
            msg_encode_end(b);
            list_done(cs);
        }
    }
}

void handlers_job_info(struct job_info *ji, const struct job *j)
{
    memset(ji, 0, sizeof(*ji));
    ji->id = (char *)j->id; /* borrowed, like handlers_task_info()'s */
    ji->submitted_at = j->submitted_at;
    ji->throttle = j->throttle;
    memcpy(ji->counts, j->counts, sizeof(ji->counts));
    ji->ended_at = job_active(j) ? 0 : j->ended_at;
}

/* dtr jobs: a snapshot of the job ids, streamed by listings_pump(). */
static void handle_jobs(struct handlers *h, struct conn *c)
{
    struct client_session *cs = c->data;
    if (cs->list_ids) {
        reply_error(c, "a listing is already in progress on this connection");
        return;
    }
    size_t n;
    struct job **all = tasks_jobs(h->tasks, &n);
    cs->list_ids = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        cs->list_ids[i] = xstrdup(all[i]->id);
    free(all);
    cs->list_len = n;
    cs->list_pos = 0;
    cs->list_state = -1;
    cs->list_jobs = true;
    if (n == 0 && conn_out(c)) {
        msg_encode_end(conn_out(c));
        list_done(cs);
    }
}

static void handle_get(struct handlers *h, struct conn *c, const char *id)
{
    char err[300];
    struct task *t = tasks_find(h->tasks, id);
    if (!t) {
        snprintf(err, sizeof(err), "unknown task '%s'", id);
        reply_error(c, err);
        return;
    }
    /* Check first that the reply can go anywhere: reading and escaping two
     * captured streams costs up to 12 MB. How many such replies a client
     * may have unsent is bounded by the connection's back-pressure
     * (CONN_OUT_HIGH): it handles no further request until they drain. */
    struct buf *b = conn_out(c);
    if (!b)
        return;
    struct task_info ti;
    handlers_task_record(h, &ti, t);
    msg_encode_task(b, &ti);
    handlers_task_record_release(&ti);
}

void handlers_task_record(const struct handlers *h, struct task_info *ti, const struct task *t)
{
    handlers_task_info(ti, t);
    ti->has_output = true;
    tasks_get_output(h->tasks, t, &ti->out);
    ti->history = outputs_history(h->outputs, t, &ti->out, GET_SNIPPET_MAX, &ti->history_len);
}

void handlers_task_record_release(struct task_info *ti)
{
    task_output_release(&ti->out);
    free(ti->history);
}

/* ---- cancel ------------------------------------------------------------------- */

void handlers_cancel_task(struct handlers *h, struct task *t, const char *peer)
{
    if (t->state == TASK_RUNNING)
        workers_cancel_attempt(h->workers, t);
    tasks_cancel(h->tasks, t);
    log_info("task cancelled task=%s peer=%s", t->id, peer);
}

static void cancel_one(struct handlers *h, struct conn *c, struct task *t)
{
    handlers_cancel_task(h, t, conn_peer(c));
}

/* Cancels every unfinished task of a job, in submission order; a task that
 * an earlier one's cancel cascaded to (a dependent) is cancelled already. */
static void cancel_job(struct handlers *h, struct conn *c, const char *id)
{
    struct job *j = find_job(h, c, id);
    struct buf *b = conn_out(c);
    if (!j || !b)
        return;
    size_t n, done = 0;
    struct task **ts = job_tasks(h, j, &n);
    msg_ids_begin(b, MSG_CANCELLED);
    for (size_t i = 0; i < n; i++) {
        if (task_state_terminal(ts[i]->state))
            continue;
        cancel_one(h, c, ts[i]);
        if (done++)
            buf_addch(b, ',');
        buf_add_json_cstr(b, ts[i]->id);
    }
    msg_ids_end(b, NULL);
    log_info("job cancelled job=%s tasks=%zu peer=%s", id, done, conn_peer(c));
    free(ts);
}

static void handle_cancel(struct handlers *h, struct conn *c, struct msg *msg)
{
    struct buf errs = BUF_INIT;
    if (msg->job) {
        cancel_job(h, c, msg->job);
        return;
    }
    struct buf *b = conn_out(c);
    if (!b)
        return;
    msg_ids_begin(b, MSG_CANCELLED);
    size_t done = 0;
    for (size_t i = 0; i < msg->nids; i++) {
        struct task *t = tasks_find(h->tasks, msg->ids[i]);
        if (!t) {
            buf_addf(&errs, "%sunknown task '%s'", errs.len ? "; " : "", msg->ids[i]);
            continue;
        }
        if (task_state_terminal(t->state)) {
            buf_addf(&errs, "%stask '%s' already %s", errs.len ? "; " : "", t->id,
                     task_state_name(t->state));
            continue;
        }
        cancel_one(h, c, t);
        if (done++)
            buf_addch(b, ',');
        buf_add_json_cstr(b, t->id);
    }
    msg_ids_end(b, errs.len ? errs.data : NULL);
    buf_release(&errs);
}

/* ---- wait ---------------------------------------------------------------------- */

static void handle_wait(struct handlers *h, struct conn *c, struct msg *msg)
{
    char err[300];
    struct waiter *w = xcalloc(1, sizeof(*w));
    hmap_init(&w->pending, task_key);
    w->conn = c;
    w->all = msg->all;
    struct task **jts = NULL;
    size_t njts = 0;
    if (msg->job) {
        struct job *j = find_job(h, c, msg->job);
        if (!j) {
            waiter_free(w);
            return;
        }
        jts = job_tasks(h, j, &njts);
    }
    for (size_t i = 0; i < msg->nids + njts; i++) {
        struct task *t = i < njts ? jts[i] : tasks_find(h->tasks, msg->ids[i - njts]);
        if (!t) {
            snprintf(err, sizeof(err), "unknown task '%s'", msg->ids[i - njts]);
            reply_error(c, err);
            waiter_free(w);
            free(jts);
            return;
        }
        if (hmap_get(&w->pending, t->id))
            continue;
        w->total++;
        if (task_state_terminal(t->state)) {
            w->done++;
            w->failed += t->state != TASK_SUCCEEDED;
        } else {
            hmap_put(&w->pending, t);
        }
    }
    free(jts);
    struct client_session *cs = c->data;
    if (cs->waiter) {
        list_del(&cs->waiter->node);
        waiter_free(cs->waiter);
    }
    cs->waiter = w;
    w->session = cs;
    w->dirty = true;
    w->last_sent = -PROGRESS_EVERY_MS;
    list_add_tail(&h->waiters, &w->node);
}

static void waiters_task_ended(struct handlers *h, struct task *t)
{
    for (struct list *p = h->waiters.next; p != &h->waiters; p = p->next) {
        struct waiter *w = list_entry(p, struct waiter, node);
        if (w->all) {
            w->dirty = true;
        } else if (hmap_del(&w->pending, t->id)) {
            w->done++;
            w->failed += t->state != TASK_SUCCEEDED;
            w->dirty = true;
        }
    }
}

void waiters_flush(struct handlers *h, int64_t now)
{
    const uint64_t *counts = h->tasks->counts;
    struct task *t;
    while ((t = tasks_take_ended(h->tasks)))
        waiters_task_ended(h, t);
    struct list *p, *tmp;
    list_for_each_safe(p, tmp, &h->waiters)
    {
        struct waiter *w = list_entry(p, struct waiter, node);
        if (!w->dirty)
            continue;
        if (w->all) {
            w->total = w->done = 0;
            for (int s = 0; s < TASK_NSTATES; s++)
                w->total += counts[s];
            w->done = w->total - counts[TASK_QUEUED] - counts[TASK_RUNNING] - counts[TASK_BLOCKED];
            w->failed = counts[TASK_FAILED] + counts[TASK_CANCELLED];
        }
        bool final = w->done == w->total;
        if (!final && now - w->last_sent < PROGRESS_EVERY_MS)
            continue;
        struct buf *b = conn_out(w->conn);
        if (b)
            msg_encode_progress(b, w->total, w->done, w->failed, final);
        w->dirty = false;
        w->last_sent = now;
        if (final) {
            w->session->waiter = NULL;
            list_del(&w->node);
            waiter_free(w);
        }
    }
}

void handlers_client_message(struct handlers *h, struct conn *c, struct msg *msg)
{
    switch (msg->type) {
    case MSG_SUBMIT:
        if (h->stopping)
            reply_error(c, "the master is stopping; submit again once it is back");
        else
            handle_submit(h, c, msg);
        break;
    case MSG_STATUS:
        handle_status(h, c);
        break;
    case MSG_LIST:
        handle_list(h, c, msg);
        break;
    case MSG_GET:
        handle_get(h, c, msg->id);
        break;
    case MSG_WAIT:
        handle_wait(h, c, msg);
        break;
    case MSG_CANCEL:
        handle_cancel(h, c, msg);
        break;
    case MSG_JOBS:
        handle_jobs(h, c);
        break;
    case MSG_LOGS:
        outputs_logs(h->outputs, c, msg);
        break;
    case MSG_EVENTS:
        events_subscribe(h->events, c, msg);
        break;
    case MSG_GROUP:
        handle_group(h, c, msg);
        break;
    case MSG_ALLOC:
        if (h->allocs)
            allocs_message(h->allocs, c, msg);
        else
            reply_error(c, "this master keeps no allocation queues");
        break;
    case MSG_PING:
        if (conn_out(c))
            msg_encode_pong(conn_out(c), 0, 0);
        break;
    default:
        log_warn("refused a client message peer=%s type=%s", conn_peer(c),
                 msg_type_name(msg->type));
        conn_fail(c, "a client may not send '%s'", msg_type_name(msg->type));
        break;
    }
}
