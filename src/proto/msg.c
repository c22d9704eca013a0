/* SPDX-License-Identifier: MIT */
/*
 * Messages: decoding of every message type with json-c, each field checked
 * for presence, type and bounds, unknown fields refused; and encoding by hand
 * into a buf. Task specs are spec.c's, the JSON getters json.c's, and the
 * shortcuts for dtr's own hot lines (with their encoders) fast.c's.
 */
#include "proto/msg.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/b64.h"
#include "common/clock.h"
#include "common/parse.h"
#include "common/util.h"
#include "proto/json_internal.h"

static const char *const type_names[MSG_NTYPES] = {
    [MSG_HELLO] = "hello",       [MSG_AUTH] = "auth",     [MSG_ERROR] = "error",
    [MSG_PING] = "ping",         [MSG_PONG] = "pong",     [MSG_RUN] = "run",
    [MSG_KILL] = "kill",         [MSG_ACK] = "ack",       [MSG_RESULT] = "result",
    [MSG_DRAIN] = "drain",       [MSG_SUBMIT] = "submit", [MSG_SUBMITTED] = "submitted",
    [MSG_STATUS] = "status",     [MSG_LIST] = "list",     [MSG_TASK] = "task",
    [MSG_END] = "end",           [MSG_GET] = "get",       [MSG_WAIT] = "wait",
    [MSG_PROGRESS] = "progress", [MSG_CANCEL] = "cancel", [MSG_CANCELLED] = "cancelled",
    [MSG_HELD] = "held",         [MSG_JOBS] = "jobs",     [MSG_JOB] = "job",
    [MSG_OUTPUT] = "output",     [MSG_LOGS] = "logs",     [MSG_EVENTS] = "events",
    [MSG_EVENT] = "event",       [MSG_ALLOC] = "alloc",   [MSG_ALLOCS] = "allocs",
    [MSG_REVOKED] = "revoked",   [MSG_REVOKE] = "revoke", [MSG_GROUP] = "group",
};
const char *msg_type_name(enum msg_type t)
{
    return (unsigned)t < MSG_NTYPES ? type_names[t] : "?";
}
bool msg_id_valid(const char *id)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++, n++)
        if (*p <= 0x20 || *p >= 0x7f)
            return false;
    return n >= 1 && n <= MSG_MAX_ID;
}
/* ---- decoding ------------------------------------------------------------- */

static void task_info_release(struct task_info *ti)
{
    free(ti->id);
    free(ti->kind);
    free(ti->worker);
    free(ti->error);
    free(ti->labels);
    free(ti->job);
    free(ti->waiting);
    free(ti->history);
    for (size_t i = 0; i < ti->nlabel_list; i++)
        free(ti->label_list[i]);
    free(ti->label_list);
    task_output_release(&ti->out);
}

static void labels_release(char **labels, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(labels[i]);
    free(labels);
}

void msg_release(struct msg *m)
{
    free(m->role);
    free(m->id);
    free(m->nonce);
    free(m->proof);
    free(m->addr);
    free(m->group_json);
    free(m->offer);
    free(m->instance);
    free(m->binding);
    for (size_t i = 0; i < m->nheld; i++)
        free(m->held[i].id);
    free(m->held);
    free(m->error);
    free(m->leader);
    for (size_t i = 0; i < m->nruns; i++)
        spec_release(&m->runs[i].spec);
    free(m->runs);
    free(m->leases);
    free(m->started);
    free(m->result.id);
    free(m->result.error);
    task_output_release(&m->result.out);
    for (size_t i = 0; i < m->nspecs; i++)
        spec_release(&m->specs[i]);
    free(m->specs);
    for (size_t i = 0; i < m->nids; i++)
        free(m->ids[i]);
    free(m->ids);
    task_info_release(&m->task);
    labels_release(m->labels, m->nlabels);
    for (size_t i = 0; i < m->nworkers; i++) {
        free(m->workers[i].id);
        free(m->workers[i].addr);
    }
    free(m->workers);
    free(m->job);
    free(m->job_name);
    free(m->job_info.id);
    free(m->chunk.id);
    free(m->event.name);
    free(m->event.task);
    free(m->event.job);
    free(m->event.worker);
    free(m->chunk.data);
    free(m->op);
    for (size_t i = 0; i < m->nallocs; i++)
        alloc_info_release(&m->allocs[i]);
    free(m->allocs);
    memset(m, 0, sizeof(*m));
}

static int parse_hello(json_object *o, struct msg *m, char *err, size_t errlen)
{
    static const char *const keys[] = {"type",         "proto",    "role",  "id",       "nonce",
                                       "auth",         "addr",     "slots", "draining", "version",
                                       "heartbeat_ms", "instance", "cpus",  "mem",      "gpus",
                                       "resources",    "binding",  NULL};
    int64_t x = 0;
    int rc;
    if ((rc = pjson_check_keys(o, keys, "hello", err, errlen)))
        return rc;
    if ((rc = pjson_get_int(o, "proto", true, 0, INT32_MAX, &x, err, errlen)))
        return rc;
    m->proto = (int)x;
    if ((rc = pjson_get_str(o, "role", true, 16, &m->role, err, errlen)))
        return rc;
    if (strcmp(m->role, "master") && strcmp(m->role, "worker") && strcmp(m->role, "client"))
        return ERR("field 'role' must be master, worker or client");
    if ((rc = pjson_get_str(o, "id", false, MSG_MAX_ID, &m->id, err, errlen)))
        return rc;
    if (m->id && !msg_id_valid(m->id))
        return ERR("field 'id' must be 1 to %d printable characters without spaces", MSG_MAX_ID);
    if ((rc = pjson_get_str(o, "nonce", true, 128, &m->nonce, err, errlen)) ||
        (rc = pjson_get_bool(o, "auth", &m->auth, err, errlen)) ||
        (rc = pjson_get_str(o, "addr", false, 300, &m->addr, err, errlen)) ||
        (rc = pjson_get_bool(o, "draining", &m->draining, err, errlen)))
        return rc;
    if (!strcmp(m->role, "worker")) {
        if (!m->id)
            return ERR("a worker's hello needs field 'id'");
        if ((rc = pjson_get_int(o, "slots", true, 1, 1024, &x, err, errlen)))
            return rc;
        m->slots = (int)x;
        if (pjson_field(o, "cpus") || pjson_field(o, "mem") || pjson_field(o, "gpus") ||
            pjson_field(o, "resources")) {
            m->offer = xcalloc(1, sizeof(*m->offer));
            if ((rc = res_from_json(o, m->offer, 1, err, errlen)))
                return rc;
            if (!m->offer->cpus_milli)
                return ERR("a worker's hello with resources needs field 'cpus'");
        }
    }
    if ((rc = pjson_get_int(o, "heartbeat_ms", false, MSG_MIN_HEARTBEAT_MS, MSG_MAX_HEARTBEAT_MS,
                            &m->heartbeat_ms, err, errlen)))
        return rc;
    if ((rc = pjson_get_str(o, "instance", false, MSG_INSTANCE_HEX, &m->instance, err, errlen)))
        return rc;
    if (m->instance && (strlen(m->instance) != MSG_INSTANCE_HEX ||
                        strspn(m->instance, "0123456789abcdef") != MSG_INSTANCE_HEX))
        return ERR("field 'instance' must be %d lowercase hex digits", MSG_INSTANCE_HEX);
    if ((rc = pjson_get_str(o, "binding", false, 64, &m->binding, err, errlen)))
        return rc;
    return 0;
}

static int parse_held(json_object *o, struct msg *m, char *err, size_t errlen)
{
    static const char *const keys[] = {"type", "attempts", "more", NULL};
    static const char *const item_keys[] = {"lease", "id", NULL};
    json_object *a;
    size_t n;
    int rc;
    if ((rc = pjson_check_keys(o, keys, "held", err, errlen)) ||
        (rc = pjson_get_bool(o, "more", &m->more, err, errlen)) ||
        (rc = pjson_get_array(o, "attempts", true, MSG_MAX_BATCH, &a, &n, err, errlen)))
        return rc;
    m->held = xcalloc(n + 1, sizeof(*m->held));
    for (size_t i = 0; i < n; i++) {
        json_object *e =
            pjson_entry(a, i, "field 'attempts': entry", item_keys, "held entry", err, errlen);
        struct lease_ref *r = &m->held[i];
        m->nheld = i + 1;
        if (!e)
            return DTR_EINVAL;
        if ((rc = pjson_get_u64(e, "lease", true, &r->lease, err, errlen)) ||
            (rc = pjson_get_str(e, "id", true, MSG_MAX_ID, &r->id, err, errlen)))
            return rc;
    }
    return 0;
}

static int parse_run(json_object *o, struct msg *m, char *err, size_t errlen)
{
    static const char *const keys[] = {"type", "tasks", NULL};
    static const char *const item_keys[] = {"lease", "attempt", "spec", NULL};
    json_object *a;
    size_t n;
    int rc;
    if ((rc = pjson_check_keys(o, keys, "run", err, errlen)) ||
        (rc = pjson_get_array(o, "tasks", true, MSG_MAX_BATCH, &a, &n, err, errlen)))
        return rc;
    m->runs = xcalloc(n + 1, sizeof(*m->runs));
    for (size_t i = 0; i < n; i++) {
        json_object *e = pjson_entry(a, i, "run: entry", item_keys, "run entry", err, errlen);
        struct run_item *r = &m->runs[i];
        int64_t att = 0;
        m->nruns = i + 1;
        if (!e)
            return DTR_EINVAL;
        if ((rc = pjson_get_u64(e, "lease", true, &r->lease, err, errlen)) ||
            (rc = pjson_get_int(e, "attempt", true, 1, INT32_MAX, &att, err, errlen)))
            return rc;
        r->attempt = (int)att;
        json_object *spec = pjson_field(e, "spec");
        if (!spec)
            return ERR("run: entry %zu: missing field 'spec'", i);
        if ((rc = spec_from_json(spec, &r->spec, false, err, errlen)))
            return rc;
        if (!r->spec.id)
            return ERR("run: entry %zu: the spec has no id", i);
    }
    return 0;
}

static int parse_output(json_object *o, struct task_output *out, char *err, size_t errlen)
{
    int rc;
    if ((rc = pjson_get_stream(o, "stdout", &out->out, &out->out_len, err, errlen)) ||
        (rc = pjson_get_stream(o, "stderr", &out->err, &out->err_len, err, errlen)) ||
        (rc = pjson_get_bool(o, "stdout_truncated", &out->out_truncated, err, errlen)) ||
        (rc = pjson_get_bool(o, "stderr_truncated", &out->err_truncated, err, errlen)))
        return rc;
    json_object *res = pjson_field(o, "result");
    if (res)
        out->result = pjson_to_text(res);
    return 0;
}

static int parse_result(json_object *o, struct msg *m, char *err, size_t errlen)
{
    static const char *const keys[] = {"type",
                                       "lease",
                                       "id",
                                       "attempt",
                                       "ok",
                                       "refused",
                                       "exit_code",
                                       "signal",
                                       "error",
                                       "stdout",
                                       "stderr",
                                       "stdout_truncated",
                                       "stderr_truncated",
                                       "result",
                                       "started_at",
                                       "finished_at",
                                       "stdout_b64",
                                       "stderr_b64",
                                       "stdout_bytes",
                                       "stderr_bytes",
                                       NULL};
    struct attempt_result *r = &m->result;
    int64_t x = 0;
    int rc;
    if ((rc = pjson_check_keys(o, keys, "result", err, errlen)) ||
        (rc = pjson_get_u64(o, "lease", true, &r->lease, err, errlen)) ||
        (rc = pjson_get_str(o, "id", true, MSG_MAX_ID, &r->id, err, errlen)) ||
        (rc = pjson_get_int(o, "attempt", true, 1, INT32_MAX, &x, err, errlen)))
        return rc;
    if (!msg_id_valid(r->id))
        return ERR("field 'id' is not a valid task id");
    r->attempt = (int)x;
    x = -1;
    if ((rc = pjson_get_bool(o, "ok", &r->ok, err, errlen)) ||
        (rc = pjson_get_bool(o, "refused", &r->refused, err, errlen)) ||
        (rc = pjson_get_int(o, "exit_code", false, -1, 255, &x, err, errlen)))
        return rc;
    r->exit_code = (int)x;
    x = 0;
    if ((rc = pjson_get_int(o, "signal", false, 0, 128, &x, err, errlen)))
        return rc;
    r->term_signal = (int)x;
    if ((rc = pjson_get_str(o, "error", false, MSG_MAX_STR, &r->error, err, errlen)) ||
        (rc = parse_output(o, &r->out, err, errlen)) ||
        (rc = pjson_get_time(o, "started_at", &r->started_at, err, errlen)) ||
        (rc = pjson_get_time(o, "finished_at", &r->finished_at, err, errlen)) ||
        (rc = pjson_get_u64(o, "stdout_bytes", false, &r->out_bytes, err, errlen)) ||
        (rc = pjson_get_u64(o, "stderr_bytes", false, &r->err_bytes, err, errlen)))
        return rc;
    return 0;
}

/* An optional job id field (job_id_valid()). */
static int get_job(json_object *o, const char *key, char **out, char *err, size_t errlen)
{
    int rc = pjson_get_str(o, key, false, MSG_MAX_JOB, out, err, errlen);
    if (rc)
        return rc;
    if (*out && !job_id_valid(*out))
        return ERR("field '%s' must be 1 to %d letters, digits, '.', '_' or '-', starting with a "
                   "letter or digit",
                   key, MSG_MAX_JOB);
    return 0;
}

static int parse_submit(json_object *o, struct msg *m, char *err, size_t errlen)
{
    static const char *const keys[] = {"type",     "tasks", "job", "job_name",
                                       "throttle", "wait",  NULL};
    json_object *a;
    size_t n;
    int64_t throttle = 0;
    int rc;
    if ((rc = pjson_check_keys(o, keys, "submit", err, errlen)) ||
        (rc = get_job(o, "job", &m->job, err, errlen)) ||
        (rc = get_job(o, "job_name", &m->job_name, err, errlen)) ||
        (rc = pjson_get_int(o, "throttle", false, 1, MSG_MAX_THROTTLE, &throttle, err, errlen)) ||
        (rc = pjson_get_bool(o, "wait", &m->wait, err, errlen)))
        return rc;
    m->throttle = (uint32_t)throttle;
    if (m->job && m->job_name)
        return ERR("submit: give 'job' (a job of this call) or 'job_name' (a new job), not both");
    if ((rc = pjson_get_array(o, "tasks", true, MSG_MAX_BATCH, &a, &n, err, errlen)))
        return rc;
    if (n == 0)
        return ERR("submit: field 'tasks' is empty");
    m->specs = xcalloc(n, sizeof(*m->specs));
    for (size_t i = 0; i < n; i++) {
        char why[512];
        m->nspecs = i + 1;
        if (spec_from_json(json_object_array_get_idx(a, i), &m->specs[i], true, why, sizeof(why)))
            return ERR("task %zu: %s", i + 1, why);
    }
    return 0;
}

/* A task record's fields (encode_task_info()), after "type" for the flat
 * form of a task message. */
static const char *const task_keys[] = {"type",
                                        "id",
                                        "state",
                                        "kind",
                                        "priority",
                                        "attempts",
                                        "max_retries",
                                        "crashes",
                                        "worker",
                                        "exit_code",
                                        "error",
                                        "submitted_at",
                                        "submitted_ms",
                                        "started_at",
                                        "started_ms",
                                        "finished_at",
                                        "finished_ms",
                                        "stdout",
                                        "stderr",
                                        "stdout_b64",
                                        "stderr_b64",
                                        "stdout_truncated",
                                        "stderr_truncated",
                                        "result",
                                        "labels",
                                        "job",
                                        "waiting",
                                        "history",
                                        NULL};

static int parse_task_info(json_object *o, const char *const *keys, struct task_info *ti, char *err,
                           size_t errlen)
{
    int64_t x;
    int rc;
    char *state = NULL;
    if (!json_object_is_type(o, json_type_object))
        return ERR("field 'task' must be an object");
    if ((rc = pjson_check_keys(o, keys, "task", err, errlen)))
        return rc;
    if ((rc = pjson_get_str(o, "id", true, MSG_MAX_ID, &ti->id, err, errlen)) ||
        (rc = pjson_get_str(o, "state", true, 16, &state, err, errlen)))
        return rc;
    int s = task_state_parse(state);
    free(state);
    if (s < 0)
        return ERR("field 'state' is not a task state");
    ti->state = (enum task_state)s;
    x = 0;
    if ((rc = pjson_get_str(o, "kind", false, 32, &ti->kind, err, errlen)) ||
        (rc = pjson_get_int(o, "priority", false, INT32_MIN, INT32_MAX, &x, err, errlen)))
        return rc;
    ti->priority = x;
    x = 0;
    if ((rc = pjson_get_int(o, "attempts", false, 0, INT32_MAX, &x, err, errlen)))
        return rc;
    ti->attempts = (int)x;
    x = 0;
    if ((rc = pjson_get_int(o, "max_retries", false, 0, INT32_MAX, &x, err, errlen)))
        return rc;
    ti->max_retries = (int)x;
    x = 0;
    if ((rc = pjson_get_int(o, "crashes", false, 0, INT32_MAX, &x, err, errlen)))
        return rc;
    ti->crashes = (int)x;
    x = -1;
    if ((rc = pjson_get_int(o, "exit_code", false, -1, 255, &x, err, errlen)))
        return rc;
    ti->exit_code = (int)x;
    if ((rc = pjson_get_str(o, "worker", false, MSG_MAX_ID, &ti->worker, err, errlen)) ||
        (rc = pjson_get_str(o, "error", false, MSG_MAX_STR, &ti->error, err, errlen)) ||
        (rc = pjson_get_time(o, "submitted_ms", &ti->submitted_at, err, errlen)) ||
        (rc = pjson_get_time(o, "started_ms", &ti->started_at, err, errlen)) ||
        (rc = pjson_get_time(o, "finished_ms", &ti->finished_at, err, errlen)))
        return rc;
    json_object *dummy;
    if ((rc = get_job(o, "job", &ti->job, err, errlen)) ||
        (rc = pjson_get_str(o, "waiting", false, 1024, &ti->waiting, err, errlen)))
        return rc;
    json_object *labels = pjson_field(o, "labels");
    if (labels) {
        if ((rc = labels_from_json(labels, "labels", &ti->label_list, &ti->nlabel_list, err,
                                   errlen)))
            return rc;
        struct buf b = BUF_INIT;
        labels_encode(&b, ti->label_list, ti->nlabel_list);
        ti->labels = buf_detach(&b, &ti->labels_len);
    }
    json_object *history = pjson_field(o, "history");
    if (history) {
        if (!json_object_is_type(history, json_type_array))
            return ERR("field 'history' must be an array");
        ti->history = pjson_to_text(history);
        ti->history_len = strlen(ti->history);
    }
    ti->has_output = json_object_object_get_ex(o, "stdout", &dummy) ||
                     json_object_object_get_ex(o, "stdout_b64", &dummy);
    return parse_output(o, &ti->out, err, errlen);
}

static int parse_status(json_object *o, struct msg *m, char *err, size_t errlen)
{
    static const char *const keys[] = {"workers", "tasks", "jobs", "unschedulable", "group", NULL};
    static const char *const job_keys[] = {"active", "ended", NULL};
    static const char *const worker_keys[] = {"id",    "addr",     "slots",     "running",
                                              "done",  "draining", "last_seen", "last_seen_ms",
                                              "total", "used",     NULL};
    const char *state_keys[TASK_NSTATES + 1];
    json_object *a;
    size_t n;
    int rc;
    if (!json_object_is_type(o, json_type_object))
        return ERR("field 'status' must be an object");
    if ((rc = pjson_check_keys(o, keys, "status", err, errlen)) ||
        (rc = pjson_get_array(o, "workers", true, 1000000, &a, &n, err, errlen)))
        return rc;
    m->workers = xcalloc(n + 1, sizeof(*m->workers));
    for (size_t i = 0; i < n; i++) {
        json_object *e =
            pjson_entry(a, i, "status: worker", worker_keys, "status worker", err, errlen);
        struct worker_info *w = &m->workers[i];
        int64_t x = 0;
        m->nworkers = i + 1;
        if (!e)
            return DTR_EINVAL;
        if ((rc = pjson_get_str(e, "id", true, MSG_MAX_ID, &w->id, err, errlen)) ||
            (rc = pjson_get_str(e, "addr", false, 300, &w->addr, err, errlen)) ||
            (rc = pjson_get_int(e, "slots", false, 0, 1 << 20, &x, err, errlen)))
            return rc;
        w->slots = (int)x;
        json_object *tot = pjson_field(e, "total"), *used = pjson_field(e, "used");
        if (tot && used) {
            if (!json_object_is_type(tot, json_type_object) ||
                !json_object_is_type(used, json_type_object))
                return ERR("status worker: fields 'total' and 'used' must be objects");
            /* used may be all zero: read both as requests of "at least 0". */
            if ((rc = res_from_json(tot, &w->total, 1, err, errlen)) ||
                (rc = res_from_json(used, &w->used, 2, err, errlen)))
                return rc;
            w->has_res = true;
        }
        x = 0;
        if ((rc = pjson_get_int(e, "running", false, 0, 1 << 20, &x, err, errlen)))
            return rc;
        w->running = (int)x;
        if ((rc = pjson_get_u64(e, "done", false, &w->done, err, errlen)) ||
            (rc = pjson_get_time(e, "last_seen_ms", &w->last_seen, err, errlen)) ||
            (rc = pjson_get_bool(e, "draining", &w->draining, err, errlen)))
            return rc;
    }
    json_object *t = pjson_field(o, "tasks");
    if (!t || !json_object_is_type(t, json_type_object))
        return ERR("status: missing object 'tasks'");
    for (int s = 0; s < TASK_NSTATES; s++)
        state_keys[s] = task_state_name((enum task_state)s);
    state_keys[TASK_NSTATES] = NULL;
    if ((rc = pjson_check_keys(t, state_keys, "status tasks", err, errlen)))
        return rc;
    for (int s = 0; s < TASK_NSTATES; s++)
        if ((rc = pjson_get_u64(t, task_state_name((enum task_state)s), false, &m->counts[s], err,
                                errlen)))
            return rc;
    if ((rc = pjson_get_u64(o, "unschedulable", false, &m->unschedulable, err, errlen)))
        return rc;
    json_object *g = pjson_field(o, "group");
    if (g) { /* shown as it is (cli/status.c reads what it prints) */
        if (!json_object_is_type(g, json_type_object))
            return ERR("status: field 'group' must be an object");
        m->group_json = xstrdup(json_object_to_json_string_ext(g, JSON_C_TO_STRING_PLAIN));
    }
    json_object *j = pjson_field(o, "jobs");
    if (!j)
        return 0;
    if (!json_object_is_type(j, json_type_object))
        return ERR("status: field 'jobs' must be an object");
    if ((rc = pjson_check_keys(j, job_keys, "status jobs", err, errlen)) ||
        (rc = pjson_get_u64(j, "active", false, &m->jobs_active, err, errlen)) ||
        (rc = pjson_get_u64(j, "ended", false, &m->jobs_ended, err, errlen)))
        return rc;
    return 0;
}

static int parse_job_info(json_object *o, struct job_info *ji, char *err, size_t errlen)
{
    static const char *const keys[] = {"id",       "tasks",    "submitted_at", "submitted_ms",
                                       "ended_at", "ended_ms", "throttle",     NULL};
    const char *state_keys[TASK_NSTATES + 1];
    int rc;
    if (!json_object_is_type(o, json_type_object))
        return ERR("field 'job' must be an object");
    if ((rc = pjson_check_keys(o, keys, "job", err, errlen)) ||
        (rc = get_job(o, "id", &ji->id, err, errlen)))
        return rc;
    if (!ji->id)
        return ERR("job: missing field 'id'");
    json_object *th = pjson_field(o, "throttle");
    if (th && !json_object_is_type(th, json_type_null)) {
        int64_t v;
        if ((rc = pjson_get_int(o, "throttle", true, 1, MSG_MAX_THROTTLE, &v, err, errlen)))
            return rc;
        ji->throttle = (uint32_t)v;
    }
    if ((rc = pjson_get_time(o, "submitted_ms", &ji->submitted_at, err, errlen)) ||
        (rc = pjson_get_time(o, "ended_ms", &ji->ended_at, err, errlen)))
        return rc;
    json_object *t = pjson_field(o, "tasks");
    if (!t || !json_object_is_type(t, json_type_object))
        return ERR("job: missing object 'tasks'");
    for (int s = 0; s < TASK_NSTATES; s++)
        state_keys[s] = task_state_name((enum task_state)s);
    state_keys[TASK_NSTATES] = NULL;
    if ((rc = pjson_check_keys(t, state_keys, "job tasks", err, errlen)))
        return rc;
    for (int s = 0; s < TASK_NSTATES; s++)
        if ((rc = pjson_get_u64(t, task_state_name((enum task_state)s), false, &ji->counts[s], err,
                                errlen)))
            return rc;
    return 0;
}

/* An output message's fields: data is decoded (msg_encode_output()), or,
 * with "size" instead (msg_encode_output_raw()), that many raw bytes follow
 * the line and are the caller's to take (m->payload). */
static int parse_output_chunk(json_object *o, struct msg *m, char *err, size_t errlen)
{
    struct output_chunk *c = &m->chunk;
    int64_t x = 0;
    char *stream = NULL, *data = NULL;
    int rc;
    if ((rc = pjson_get_u64(o, "lease", false, &c->lease, err, errlen)) ||
        (rc = pjson_get_str(o, "id", true, MSG_MAX_ID, &c->id, err, errlen)) ||
        (rc = pjson_get_int(o, "attempt", false, 0, INT32_MAX, &x, err, errlen)) ||
        (rc = pjson_get_u64(o, "offset", true, &c->offset, err, errlen)))
        return rc;
    c->attempt = (int)x;
    if (!msg_id_valid(c->id))
        return ERR("field 'id' is not a valid task id");
    if (c->offset > INT64_MAX / 4)
        return ERR("field 'offset' is out of range");
    if ((rc = pjson_get_str(o, "stream", true, 16, &stream, err, errlen)))
        return rc;
    int s = !strcmp(stream, "stdout") ? 0 : !strcmp(stream, "stderr") ? 1 : -1;
    free(stream);
    if (s < 0)
        return ERR("field 'stream' must be stdout or stderr");
    c->stream = (enum output_stream)s;
    if (pjson_field(o, "size")) {
        if (pjson_field(o, "data"))
            return ERR("an output message has either 'data' or 'size', not both");
        if ((rc = pjson_get_int(o, "size", true, 0, MSG_OUTPUT_CHUNK, &x, err, errlen)))
            return rc;
        m->payload = (size_t)x;
        return 0;
    }
    if ((rc = pjson_get_str(o, "data", true, MSG_OUTPUT_CHUNK / 3 * 4 + 8, &data, err, errlen)))
        return rc;
    size_t n = strlen(data);
    c->data = xmalloc(n / 4 * 3 + 1);
    bool good = b64_decode(data, n, c->data, &c->len);
    free(data);
    c->data[good ? c->len : 0] = '\0';
    if (!good || c->len > MSG_OUTPUT_CHUNK)
        return ERR("field 'data' must be standard base64 of at most %u bytes", MSG_OUTPUT_CHUNK);
    return 0;
}

void msg_take_payload(struct msg *m, const char *p)
{
    m->chunk.data = xmalloc(m->payload + 1);
    memcpy(m->chunk.data, p, m->payload);
    m->chunk.data[m->payload] = '\0';
    m->chunk.len = m->payload;
    m->payload = 0;
}

/* group {"op":"add","member":ID,"addr":"HOST:PORT"} / {"op":"remove","member":ID} */
static int parse_group(json_object *o, struct msg *m, char *err, size_t errlen)
{
    int rc;
    char host[ADDR_HOST_MAX];
    int port;
    if ((rc = pjson_get_str(o, "op", true, 16, &m->op, err, errlen)) ||
        (rc = pjson_get_u64(o, "member", true, &m->member, err, errlen)) ||
        (rc = pjson_get_str(o, "addr", false, 255, &m->addr, err, errlen)))
        return rc;
    bool add = !strcmp(m->op, "add");
    if (!add && strcmp(m->op, "remove"))
        return ERR("group: field 'op' must be add or remove");
    if (m->member < 1 || m->member > INT64_MAX)
        return ERR("group: field 'member' must be an id from 1");
    if (add != (m->addr != NULL))
        return ERR(add ? "group: add needs field 'addr'" : "group: only add takes 'addr'");
    if (add && addr_parse(m->addr, host, sizeof(host), &port) != 0)
        return ERR("group: field 'addr' must be HOST:PORT");
    return 0;
}

/* alloc {"op":"add","alloc":RECORD} / {"op":"list"} / {"op":"remove","id":ID},
 * and its reply allocs {"allocs":[RECORD,...]} (proto/alloc.c reads records). */
static int parse_alloc(json_object *o, struct msg *m, char *err, size_t errlen)
{
    int rc;
    json_object *arr = NULL, *one = pjson_field(o, "alloc");
    size_t n = 0;
    if (m->type == MSG_ALLOCS) {
        if ((rc = pjson_get_array(o, "allocs", true, ALLOC_MAX_QUEUES, &arr, &n, err, errlen)))
            return rc;
    } else {
        if ((rc = pjson_get_str(o, "op", true, 16, &m->op, err, errlen)))
            return rc;
        bool add = !strcmp(m->op, "add"), rm = !strcmp(m->op, "remove");
        if (!add && !rm && strcmp(m->op, "list"))
            return ERR("alloc: field 'op' must be add, list or remove");
        if (add != (one != NULL))
            return ERR(add ? "alloc: add needs field 'alloc'" : "alloc: only add takes 'alloc'");
        if ((rc = pjson_get_str(o, "id", rm, MSG_MAX_ID, &m->id, err, errlen)))
            return rc;
        if (m->id && (!rm || !msg_id_valid(m->id)))
            return ERR("alloc: field 'id' is for remove, and must be a valid id");
        n = add;
    }
    m->allocs = xcalloc(n + 1, sizeof(*m->allocs));
    for (size_t i = 0; i < n; i++) {
        if ((rc = alloc_from_json(arr ? json_object_array_get_idx(arr, i) : one, &m->allocs[i], err,
                                  errlen)))
            return rc;
        m->nallocs++;
    }
    return 0;
}

/*
 * The fields of each message whose parse_*() function does not list its
 * own. One rule for every message (docs/protocol.md, section 1): a field
 * the receiver does not know is refused, never skipped, so a typo or a
 * newer peer's field is an error the sender sees.
 */
#define KEYS(...) ((const char *const[]){"type", __VA_ARGS__})
static const char *const *const body_keys[MSG_NTYPES] = {
    [MSG_ERROR] = KEYS("error", "leader", NULL),
    [MSG_PING] = KEYS(NULL),
    [MSG_PONG] = KEYS("busy", "heartbeat_ms", NULL),
    [MSG_KILL] = KEYS("leases", NULL),
    [MSG_ACK] = KEYS("leases", NULL),
    [MSG_DRAIN] = KEYS(NULL),
    [MSG_SUBMITTED] = KEYS("ids", "job", NULL),
    [MSG_STATUS] = KEYS("status", NULL),
    [MSG_LIST] = KEYS("state", "labels", "job", NULL),
    [MSG_END] = KEYS(NULL),
    [MSG_GET] = KEYS("id", NULL),
    [MSG_WAIT] = KEYS("ids", "all", "job", NULL),
    [MSG_CANCEL] = KEYS("ids", "job", NULL),
    [MSG_JOBS] = KEYS(NULL),
    [MSG_JOB] = KEYS("job", NULL),
    [MSG_CANCELLED] = KEYS("ids", "error", NULL),
    [MSG_PROGRESS] = KEYS("total", "done", "failed", "final", NULL),
    [MSG_OUTPUT] = KEYS("lease", "id", "attempt", "stream", "offset", "data", "size", NULL),
    [MSG_LOGS] = KEYS("id", "attempt", "stream", "follow", NULL),
    [MSG_EVENTS] = KEYS("job", "after", NULL),
    [MSG_EVENT] = KEYS("event", "lost_from", "lost_to", NULL),
    [MSG_ALLOC] = KEYS("op", "id", "alloc", NULL),
    [MSG_ALLOCS] = KEYS("allocs", NULL),
    [MSG_REVOKE] = KEYS("leases", NULL),
    [MSG_REVOKED] = KEYS("returned", "started", NULL),
    [MSG_GROUP] = KEYS("op", "member", "addr", NULL),
};
#undef KEYS

/* An event message: the event object, or the lost notice. */
static int parse_event(json_object *o, struct event_info *e, char *err, size_t errlen)
{
    static const char *const keys[] = {"id", "event", "task", "job", "worker", "at", "at_ms", NULL};
    int rc;
    json_object *v = pjson_field(o, "event");
    if (!v) {
        if ((rc = pjson_get_u64(o, "lost_from", true, &e->lost_from, err, errlen)) ||
            (rc = pjson_get_u64(o, "lost_to", true, &e->lost_to, err, errlen)))
            return rc;
        return e->lost_from && e->lost_from <= e->lost_to ? 0 : ERR("bad lost_from/lost_to");
    }
    if (!json_object_is_type(v, json_type_object))
        return ERR("field 'event' must be an object");
    if ((rc = pjson_check_keys(v, keys, "event", err, errlen)) ||
        (rc = pjson_get_u64(v, "id", true, &e->id, err, errlen)) ||
        (rc = pjson_get_str(v, "event", true, 32, &e->name, err, errlen)) ||
        (rc = pjson_get_str(v, "task", false, MSG_MAX_ID, &e->task, err, errlen)) ||
        (rc = pjson_get_str(v, "job", false, MSG_MAX_JOB, &e->job, err, errlen)) ||
        (rc = pjson_get_str(v, "worker", false, MSG_MAX_ID, &e->worker, err, errlen)) ||
        (rc = pjson_get_time(v, "at_ms", &e->at, err, errlen)))
        return rc;
    return e->id ? 0 : ERR("field 'id' must be at least 1");
}

/* An error line, and the leader a group member names when it is not the
 * leader: HOST:PORT or nothing (it is dialed next, so it is checked here). */
static int parse_error(json_object *o, struct msg *m, char *err, size_t errlen)
{
    char host[ADDR_HOST_MAX];
    int rc, port;
    if ((rc = pjson_get_str(o, "error", true, MSG_MAX_STR, &m->error, err, errlen)) ||
        (rc = pjson_get_str(o, "leader", false, MSG_MAX_ADDR, &m->leader, err, errlen)))
        return rc;
    if (m->leader && addr_parse(m->leader, host, sizeof(host), &port))
        return ERR("field 'leader' must be HOST:PORT");
    return 0;
}

static int parse_body(json_object *o, struct msg *m, char *err, size_t errlen)
{
    int rc;
    int64_t x;
    if (body_keys[m->type] &&
        (rc = pjson_check_keys(o, body_keys[m->type], msg_type_name(m->type), err, errlen)))
        return rc;
    if (m->type == MSG_TASK && pjson_field(o, "task")) {
        static const char *const keys[] = {"type", "task", NULL};
        if ((rc = pjson_check_keys(o, keys, "task", err, errlen)))
            return rc;
    }
    switch (m->type) {
    case MSG_HELLO:
        return parse_hello(o, m, err, errlen);
    case MSG_AUTH: {
        static const char *const keys[] = {"type", "proof", NULL};
        if ((rc = pjson_check_keys(o, keys, "auth", err, errlen)))
            return rc;
        return pjson_get_str(o, "proof", true, 128, &m->proof, err, errlen);
    }
    case MSG_HELD:
        return parse_held(o, m, err, errlen);
    case MSG_ERROR:
        return parse_error(o, m, err, errlen);
    case MSG_PING:
    case MSG_DRAIN:
    case MSG_END:
    case MSG_JOBS:
        return 0;
    case MSG_JOB: {
        json_object *j = pjson_field(o, "job");
        if (!j)
            return ERR("job: missing field 'job'");
        return parse_job_info(j, &m->job_info, err, errlen);
    }
    case MSG_STATUS:
        /* the request is bare; the reply carries {"status":{...}} */
        return pjson_field(o, "status") ? parse_status(pjson_field(o, "status"), m, err, errlen)
                                        : 0;
    case MSG_PONG:
        x = 0;
        rc = pjson_get_int(o, "busy", false, 0, 1 << 20, &x, err, errlen);
        m->busy = (int)x;
        if (!rc)
            rc = pjson_get_int(o, "heartbeat_ms", false, MSG_MIN_HEARTBEAT_MS, MSG_MAX_HEARTBEAT_MS,
                               &m->heartbeat_ms, err, errlen);
        return rc;
    case MSG_RUN:
        return parse_run(o, m, err, errlen);
    case MSG_KILL:
    case MSG_ACK:
    case MSG_REVOKE:
        return pjson_get_leases(o, "leases", &m->leases, &m->nleases, err, errlen);
    case MSG_REVOKED:
        if ((rc = pjson_get_leases(o, "returned", &m->leases, &m->nleases, err, errlen)))
            return rc;
        return pjson_get_leases(o, "started", &m->started, &m->nstarted, err, errlen);
    case MSG_GROUP:
        return parse_group(o, m, err, errlen);
    case MSG_RESULT:
        return parse_result(o, m, err, errlen);
    case MSG_SUBMIT:
        return parse_submit(o, m, err, errlen);
    case MSG_CANCELLED:
        if ((rc = pjson_get_str(o, "error", false, MSG_MAX_STR, &m->error, err, errlen)))
            return rc;
        return pjson_get_ids(o, "ids", true, &m->ids, &m->nids, err, errlen);
    case MSG_SUBMITTED:
        if ((rc = get_job(o, "job", &m->job, err, errlen)))
            return rc;
        return pjson_get_ids(o, "ids", true, &m->ids, &m->nids, err, errlen);
    case MSG_CANCEL:
        /* the ids, or a job (and then ids may be left out) */
        if ((rc = get_job(o, "job", &m->job, err, errlen)) ||
            (rc = pjson_get_ids(o, "ids", !m->job, &m->ids, &m->nids, err, errlen)))
            return rc;
        if (m->job && m->ids)
            return ERR("cancel: give 'ids' or 'job', not both");
        return 0;
    case MSG_WAIT:
        if ((rc = pjson_get_bool(o, "all", &m->all, err, errlen)) ||
            (rc = get_job(o, "job", &m->job, err, errlen)) ||
            (rc = pjson_get_ids(o, "ids", !m->all && !m->job, &m->ids, &m->nids, err, errlen)))
            return rc;
        if (m->job && (m->all || m->ids))
            return ERR("wait: give 'ids', 'all' or 'job', one of them");
        return 0;
    case MSG_LIST: {
        char *state = NULL;
        m->state = -1;
        if ((rc = pjson_get_str(o, "state", false, 16, &state, err, errlen)))
            return rc;
        if ((rc = get_job(o, "job", &m->job, err, errlen))) {
            free(state);
            return rc;
        }
        if (state) {
            m->state = task_state_parse(state);
            free(state);
            if (m->state < 0)
                return ERR("field 'state' must be blocked, queued, running, succeeded, failed or "
                           "cancelled");
        }
        json_object *labels = pjson_field(o, "labels");
        if (labels)
            return labels_from_json(labels, "labels", &m->labels, &m->nlabels, err, errlen);
        return 0;
    }
    case MSG_TASK:
        /* {"type":"task","task":{RECORD}}, or the record's fields beside "type" */
        if (!pjson_field(o, "task"))
            return parse_task_info(o, task_keys, &m->task, err, errlen);
        return parse_task_info(pjson_field(o, "task"), task_keys + 1, &m->task, err, errlen);
    case MSG_GET:
        if ((rc = pjson_get_str(o, "id", true, MSG_MAX_ID, &m->id, err, errlen)))
            return rc;
        return msg_id_valid(m->id) ? 0 : ERR("field 'id' is not a valid task id");
    case MSG_PROGRESS:
        if ((rc = pjson_get_u64(o, "total", true, &m->total, err, errlen)) ||
            (rc = pjson_get_u64(o, "done", true, &m->done, err, errlen)) ||
            (rc = pjson_get_u64(o, "failed", false, &m->failed, err, errlen)) ||
            (rc = pjson_get_bool(o, "final", &m->final, err, errlen)))
            return rc;
        return 0;
    case MSG_OUTPUT:
        return parse_output_chunk(o, m, err, errlen);
    case MSG_EVENTS: {
        int rc2 = get_job(o, "job", &m->job, err, errlen);
        return rc2 ? rc2 : pjson_get_u64(o, "after", false, &m->after, err, errlen);
    }
    case MSG_EVENT:
        return parse_event(o, &m->event, err, errlen);
    case MSG_LOGS: {
        char *stream = NULL;
        x = 0;
        if ((rc = pjson_get_str(o, "id", true, MSG_MAX_ID, &m->id, err, errlen)) ||
            (rc = pjson_get_int(o, "attempt", false, 0, INT32_MAX, &x, err, errlen)) ||
            (rc = pjson_get_bool(o, "follow", &m->follow, err, errlen)) ||
            (rc = pjson_get_str(o, "stream", false, 16, &stream, err, errlen)))
            return rc;
        m->attempt = (int)x;
        m->streams = 3;
        if (stream) {
            m->streams = !strcmp(stream, "stdout") ? 1 : !strcmp(stream, "stderr") ? 2 : 0;
            free(stream);
            if (!m->streams)
                return ERR("field 'stream' must be stdout or stderr");
        }
        return msg_id_valid(m->id) ? 0 : ERR("field 'id' is not a valid task id");
    }
    case MSG_ALLOC:
    case MSG_ALLOCS:
        return parse_alloc(o, m, err, errlen);
    case MSG_NTYPES:
        break;
    }
    return ERR("unknown message type");
}
int msg_parse(const char *line, size_t len, struct msg *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    m->state = -1;
    if (msg_parse_fast(line, len, m))
        return 0;
    json_object *o = pjson_parse(line, len, err, errlen);
    if (!o)
        return DTR_EINVAL;
    int rc = DTR_EINVAL;
    if (!json_object_is_type(o, json_type_object)) {
        snprintf(err, errlen, "a message must be a JSON object");
        goto out;
    }
    json_object *t = pjson_field(o, "type");
    if (!t || !json_object_is_type(t, json_type_string)) {
        snprintf(err, errlen, "a message needs a string field 'type'");
        goto out;
    }
    const char *name = json_object_get_string(t);
    int type = -1;
    for (int i = 0; i < MSG_NTYPES; i++)
        if (!strcmp(name, type_names[i]))
            type = i;
    if (type < 0) {
        snprintf(err, errlen, "unknown message type '%.40s'", name);
        rc = DTR_EPROTO;
        goto out;
    }
    m->type = (enum msg_type)type;
    rc = parse_body(o, m, err, errlen);
out:
    json_object_put(o);
    if (rc)
        msg_release(m);
    return rc;
}

void msg_history_truncated(const struct task_info *ti, int n, bool cut[2], uint64_t kept[2])
{
    char why[64];
    cut[0] = cut[1] = false;
    kept[0] = kept[1] = 0;
    json_object *h =
        ti->history ? pjson_parse(ti->history, ti->history_len, why, sizeof(why)) : NULL;
    if (!h)
        return;
    size_t len = json_object_is_type(h, json_type_array) ? json_object_array_length(h) : 0;
    for (size_t i = 0; i < len; i++) {
        json_object *a = json_object_array_get_idx(h, i);
        json_object *v;
        int num = json_object_object_get_ex(a, "attempt", &v) ? json_object_get_int(v) : 0;
        if (n ? num != n : i + 1 != len)
            continue;
        static const char *const names[2][2] = {{"stdout_truncated", "stdout_bytes"},
                                                {"stderr_truncated", "stderr_bytes"}};
        for (int s = 0; s < 2; s++) {
            cut[s] = json_object_object_get_ex(a, names[s][0], &v) && json_object_get_boolean(v);
            kept[s] = json_object_object_get_ex(a, names[s][1], &v)
                          ? (uint64_t)json_object_get_int64(v)
                          : 0;
        }
    }
    json_object_put(h);
}

/* ---- encoding ------------------------------------------------------------- */

static void add_output(struct buf *b, const struct task_output *o, bool display)
{
    pjson_add_stream(b, "stdout", o->out, o->out_len, display);
    pjson_add_stream(b, "stderr", o->err, o->err_len, display);
    buf_addf(b, ",\"stdout_truncated\":%s,\"stderr_truncated\":%s",
             o->out_truncated ? "true" : "false", o->err_truncated ? "true" : "false");
    buf_addstr(b, ",\"result\":");
    buf_addstr(b, o->result ? o->result : "null");
}

static void add_time(struct buf *b, const char *key, int64_t ms)
{
    char iso[CLOCK_ISO_LEN + 8];
    if (!ms) {
        buf_addf(b, ",\"%s_at\":null", key);
        return;
    }
    clock_iso8601(ms, iso, sizeof(iso));
    buf_addf(b, ",\"%s_at\":\"%s\",\"%s_ms\":%" PRId64, key, iso, key, ms);
}

static void encode_task_info(struct buf *b, const struct task_info *ti, bool display)
{
    buf_addstr(b, "{\"id\":");
    buf_add_json_cstr(b, ti->id);
    buf_addf(b, ",\"state\":\"%s\",\"kind\":", task_state_name(ti->state));
    buf_add_json_cstr(b, ti->kind);
    buf_addf(b, ",\"priority\":%" PRId64 ",\"attempts\":%d,\"max_retries\":%d,\"crashes\":%d",
             ti->priority, ti->attempts, ti->max_retries, ti->crashes);
    buf_addstr(b, ",\"worker\":");
    buf_add_json_cstr(b, ti->worker);
    if (ti->exit_code >= 0)
        buf_addf(b, ",\"exit_code\":%d", ti->exit_code);
    else
        buf_addstr(b, ",\"exit_code\":null");
    buf_addstr(b, ",\"error\":");
    buf_add_json_cstr(b, ti->error);
    add_time(b, "submitted", ti->submitted_at);
    add_time(b, "started", ti->started_at);
    add_time(b, "finished", ti->finished_at);
    buf_addstr(b, ",\"job\":");
    buf_add_json_cstr(b, ti->job);
    if (ti->waiting) {
        buf_addstr(b, ",\"waiting\":");
        buf_add_json_cstr(b, ti->waiting);
    }
    buf_addstr(b, ",\"labels\":");
    if (ti->labels)
        buf_add(b, ti->labels, ti->labels_len);
    else
        buf_addstr(b, "{}");
    if (ti->has_output)
        add_output(b, &ti->out, display);
    if (ti->history) {
        buf_addstr(b, ",\"history\":");
        buf_add(b, ti->history, ti->history_len);
    }
    buf_addch(b, '}');
}

void task_info_encode(struct buf *b, const struct task_info *ti)
{
    encode_task_info(b, ti, false);
}

void task_info_encode_display(struct buf *b, const struct task_info *ti)
{
    encode_task_info(b, ti, true);
}

static void add_counts(struct buf *b, const uint64_t counts[TASK_NSTATES])
{
    buf_addch(b, '{');
    for (int s = 0; s < TASK_NSTATES; s++)
        buf_addf(b, "%s\"%s\":%" PRIu64, s ? "," : "", task_state_name((enum task_state)s),
                 counts[s]);
    buf_addch(b, '}');
}

void job_info_encode(struct buf *b, const struct job_info *ji)
{
    buf_addstr(b, "{\"id\":");
    buf_add_json_cstr(b, ji->id);
    buf_addstr(b, ",\"tasks\":");
    add_counts(b, ji->counts);
    add_time(b, "submitted", ji->submitted_at);
    add_time(b, "ended", ji->ended_at);
    if (ji->throttle)
        buf_addf(b, ",\"throttle\":%" PRIu32 "}", ji->throttle);
    else
        buf_addstr(b, ",\"throttle\":null}");
}

void msg_encode_job(struct buf *b, const struct job_info *ji)
{
    buf_addstr(b, "{\"type\":\"job\",\"job\":");
    job_info_encode(b, ji);
    buf_addstr(b, "}\n");
}

void status_encode(struct buf *b, const struct worker_info *w, size_t n,
                   const uint64_t counts[TASK_NSTATES], uint64_t jobs_active, uint64_t jobs_ended,
                   uint64_t status_unschedulable)
{
    buf_addstr(b, "{\"workers\":");
    workers_encode(b, w, n);
    buf_addstr(b, ",\"tasks\":");
    add_counts(b, counts);
    buf_addf(b, ",\"unschedulable\":%" PRIu64, status_unschedulable);
    buf_addf(b, ",\"jobs\":{\"active\":%" PRIu64 ",\"ended\":%" PRIu64 "}}", jobs_active,
             jobs_ended);
}

void workers_encode(struct buf *b, const struct worker_info *w, size_t n)
{
    char iso[CLOCK_ISO_LEN + 8];
    buf_addch(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_addch(b, ',');
        buf_addstr(b, "{\"id\":");
        buf_add_json_cstr(b, w[i].id);
        buf_addstr(b, ",\"addr\":");
        buf_add_json_cstr(b, w[i].addr);
        clock_iso8601(w[i].last_seen, iso, sizeof(iso));
        buf_addf(b,
                 ",\"slots\":%d,\"running\":%d,\"done\":%" PRIu64 ",\"draining\":%s"
                 ",\"last_seen\":\"%s\",\"last_seen_ms\":%" PRId64 "}",
                 w[i].slots, w[i].running, w[i].done, w[i].draining ? "true" : "false", iso,
                 w[i].last_seen);
        if (w[i].has_res) {
            b->len--; /* the '}' */
            buf_addstr(b, ",\"total\":");
            size_t at = b->len;
            res_encode_fields(b, &w[i].total, true); /* starts with ',"cpus"' */
            b->data[at] = '{';
            buf_addstr(b, "},\"used\":");
            at = b->len;
            res_encode_fields(b, &w[i].used, true);
            b->data[at] = '{';
            buf_addstr(b, "}}");
        }
    }
    buf_addch(b, ']');
}

static void add_ids(struct buf *b, char *const *ids, size_t n)
{
    buf_addstr(b, ",\"ids\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_addch(b, ',');
        buf_add_json_cstr(b, ids[i]);
    }
    buf_addch(b, ']');
}

static void add_leases(struct buf *b, const uint64_t *l, size_t n)
{
    buf_addstr(b, ",\"leases\":[");
    for (size_t i = 0; i < n; i++)
        buf_addf(b, "%s%" PRIu64, i ? "," : "", l[i]);
    buf_addch(b, ']');
}

static void add_lease_list(struct buf *b, const char *key, const uint64_t *l, size_t n)
{
    buf_addf(b, ",\"%s\":[", key);
    for (size_t i = 0; i < n; i++)
        buf_addf(b, "%s%" PRIu64, i ? "," : "", l[i]);
    buf_addch(b, ']');
}

void msg_leases_add(struct buf *list, uint64_t lease)
{
    buf_addf(list, "%s%" PRIu64, list->len ? "," : "", lease);
}

void msg_encode_leases(struct buf *b, enum msg_type type, const char *list)
{
    buf_addf(b, "{\"type\":\"%s\",\"leases\":[%s]}\n", msg_type_name(type), list);
}

static void add_str_field(struct buf *b, const char *key, const char *val)
{
    if (!val)
        return;
    buf_addf(b, ",\"%s\":", key);
    buf_add_json_cstr(b, val);
}

void msg_encode_error(struct buf *b, const char *text)
{
    buf_addstr(b, "{\"type\":\"error\",\"error\":");
    buf_add_json_cstr(b, text);
    buf_addstr(b, "}\n");
}

void msg_encode_not_leader(struct buf *b, const char *leader)
{
    buf_addstr(b, "{\"type\":\"error\",\"error\":\"" MSG_NOT_LEADER "\"");
    if (leader && *leader) {
        buf_addstr(b, ",\"leader\":");
        buf_add_json_cstr(b, leader);
    }
    buf_addstr(b, "}\n");
}

void msg_encode_drain(struct buf *b)
{
    buf_addstr(b, "{\"type\":\"drain\"}\n");
}

void msg_encode_end(struct buf *b)
{
    buf_addstr(b, "{\"type\":\"end\"}\n");
}

void msg_encode_task(struct buf *b, const struct task_info *ti)
{
    buf_addstr(b, "{\"type\":\"task\",\"task\":");
    task_info_encode(b, ti);
    buf_addstr(b, "}\n");
}

void msg_encode_status(struct buf *b, const struct worker_info *w, size_t n,
                       const uint64_t counts[TASK_NSTATES], uint64_t jobs_active,
                       uint64_t jobs_ended, uint64_t unschedulable)
{
    buf_addstr(b, "{\"type\":\"status\",\"status\":");
    status_encode(b, w, n, counts, jobs_active, jobs_ended, unschedulable);
    buf_addstr(b, "}\n");
}

void msg_encode_progress(struct buf *b, uint64_t total, uint64_t done, uint64_t failed, bool final)
{
    buf_addf(b,
             "{\"type\":\"progress\",\"total\":%" PRIu64 ",\"done\":%" PRIu64 ",\"failed\":%" PRIu64
             "%s}\n",
             total, done, failed, final ? ",\"final\":true" : "");
}

void msg_ids_begin(struct buf *b, enum msg_type type)
{
    buf_addf(b, "{\"type\":\"%s\",\"ids\":[", msg_type_name(type));
}

void msg_ids_end(struct buf *b, const char *error)
{
    buf_addch(b, ']');
    add_str_field(b, "error", error);
    buf_addstr(b, "}\n");
}

void msg_ids_end_job(struct buf *b, const char *job)
{
    buf_addch(b, ']');
    add_str_field(b, "job", job);
    buf_addstr(b, "}\n");
}

void msg_encode(struct buf *b, const struct msg *m)
{
    /* The lines fast.c reads back are written beside it. */
    switch (m->type) {
    case MSG_PING:
        msg_encode_ping(b);
        return;
    case MSG_PONG:
        msg_encode_pong(b, m->busy, m->heartbeat_ms);
        return;
    case MSG_RESULT:
        msg_encode_result(b, &m->result);
        return;
    case MSG_SUBMIT:
        msg_encode_submit(b, m->specs, m->nspecs, m->job, m->job_name, m->throttle, m->wait);
        return;
    case MSG_OUTPUT:
        msg_encode_output(b, &m->chunk);
        return;
    case MSG_EVENT:
        msg_encode_event(b, &m->event);
        return;
    default:
        break;
    }
    buf_addf(b, "{\"type\":\"%s\"", msg_type_name(m->type));
    switch (m->type) {
    case MSG_HELLO:
        buf_addf(b, ",\"proto\":%d,\"version\":\"%s\"", m->proto, DTR_VERSION);
        add_str_field(b, "role", m->role);
        add_str_field(b, "id", m->id);
        add_str_field(b, "nonce", m->nonce);
        if (m->auth)
            buf_addstr(b, ",\"auth\":true");
        add_str_field(b, "addr", m->addr);
        if (m->slots)
            buf_addf(b, ",\"slots\":%d", m->slots);
        if (m->draining)
            buf_addstr(b, ",\"draining\":true");
        if (m->offer)
            res_encode_fields(b, m->offer, true);
        if (m->heartbeat_ms)
            buf_addf(b, ",\"heartbeat_ms\":%" PRId64, m->heartbeat_ms);
        add_str_field(b, "instance", m->instance);
        add_str_field(b, "binding", m->binding);
        break;
    case MSG_HELD:
        buf_addstr(b, ",\"attempts\":[");
        for (size_t i = 0; i < m->nheld; i++) {
            buf_addf(b, "%s{\"lease\":%" PRIu64 ",\"id\":", i ? "," : "", m->held[i].lease);
            buf_add_json_cstr(b, m->held[i].id);
            buf_addch(b, '}');
        }
        buf_addch(b, ']');
        if (m->more)
            buf_addstr(b, ",\"more\":true");
        break;
    case MSG_AUTH:
        add_str_field(b, "proof", m->proof);
        break;
    case MSG_ERROR:
        add_str_field(b, "error", m->error);
        add_str_field(b, "leader", m->leader);
        break;
    case MSG_KILL:
    case MSG_ACK:
    case MSG_REVOKE:
        add_leases(b, m->leases, m->nleases);
        break;
    case MSG_REVOKED:
        add_lease_list(b, "returned", m->leases, m->nleases);
        add_lease_list(b, "started", m->started, m->nstarted);
        break;
    case MSG_GROUP:
        add_str_field(b, "op", m->op);
        buf_addf(b, ",\"member\":%" PRIu64, m->member);
        if (m->addr)
            add_str_field(b, "addr", m->addr);
        break;
    case MSG_SUBMITTED:
    case MSG_CANCEL:
    case MSG_CANCELLED:
        if (m->type != MSG_CANCEL || !m->job || m->nids)
            add_ids(b, m->ids, m->nids);
        if (m->type == MSG_CANCELLED)
            add_str_field(b, "error", m->error);
        else
            add_str_field(b, "job", m->job);
        break;
    case MSG_WAIT:
        if (m->all)
            buf_addstr(b, ",\"all\":true");
        else if (!m->job || m->nids)
            add_ids(b, m->ids, m->nids);
        add_str_field(b, "job", m->job);
        break;
    case MSG_LIST:
        if (m->state >= 0)
            buf_addf(b, ",\"state\":\"%s\"", task_state_name((enum task_state)m->state));
        if (m->nlabels) {
            buf_addstr(b, ",\"labels\":");
            labels_encode(b, m->labels, m->nlabels);
        }
        add_str_field(b, "job", m->job);
        break;
    case MSG_GET:
        add_str_field(b, "id", m->id);
        break;
    case MSG_TASK:
        buf_addstr(b, ",\"task\":");
        task_info_encode(b, &m->task);
        break;
    case MSG_JOB:
        buf_addstr(b, ",\"job\":");
        job_info_encode(b, &m->job_info);
        break;
    case MSG_EVENTS:
        add_str_field(b, "job", m->job);
        if (m->after)
            buf_addf(b, ",\"after\":%" PRIu64, m->after);
        break;
    case MSG_LOGS:
        add_str_field(b, "id", m->id);
        if (m->attempt)
            buf_addf(b, ",\"attempt\":%d", m->attempt);
        if (m->streams == 1 || m->streams == 2)
            buf_addf(b, ",\"stream\":\"%s\"", m->streams == 1 ? "stdout" : "stderr");
        if (m->follow)
            buf_addstr(b, ",\"follow\":true");
        break;
    case MSG_PROGRESS:
        buf_addf(b, ",\"total\":%" PRIu64 ",\"done\":%" PRIu64 ",\"failed\":%" PRIu64, m->total,
                 m->done, m->failed);
        if (m->final)
            buf_addstr(b, ",\"final\":true");
        break;
    case MSG_ALLOC:
        add_str_field(b, "op", m->op);
        if (m->id)
            add_str_field(b, "id", m->id);
        if (m->nallocs) {
            buf_addstr(b, ",\"alloc\":");
            alloc_info_encode(b, &m->allocs[0]);
        }
        break;
    case MSG_ALLOCS:
        buf_addstr(b, ",\"allocs\":[");
        for (size_t i = 0; i < m->nallocs; i++) {
            if (i)
                buf_addstr(b, ",");
            alloc_info_encode(b, &m->allocs[i]);
        }
        buf_addstr(b, "]");
        break;
    case MSG_RUN:  /* msg_run_*() */
    case MSG_PING: /* written above */
    case MSG_PONG:
    case MSG_RESULT:
    case MSG_SUBMIT:
    case MSG_DRAIN:
    case MSG_END:
    case MSG_STATUS:
    case MSG_JOBS:
    case MSG_OUTPUT:
    case MSG_EVENT:
    case MSG_NTYPES:
        break;
    }
    buf_addstr(b, "}\n");
}

static void add_opt_str(struct buf *b, const char *key, const char *v)
{
    buf_addf(b, ",\"%s\":", key);
    if (v && *v)
        buf_add_json_cstr(b, v);
    else
        buf_addstr(b, "null");
}

void event_info_encode(struct buf *b, const struct event_info *e)
{
    char iso[CLOCK_ISO_LEN + 8];
    clock_iso8601(e->at, iso, sizeof(iso));
    buf_addf(b, "{\"id\":%" PRIu64 ",\"event\":", e->id);
    buf_add_json_cstr(b, e->name);
    add_opt_str(b, "task", e->task);
    add_opt_str(b, "job", e->job);
    add_opt_str(b, "worker", e->worker);
    buf_addf(b, ",\"at\":\"%s\",\"at_ms\":%" PRId64 "}", iso, e->at);
}

void msg_encode_event(struct buf *b, const struct event_info *e)
{
    if (!e->id) {
        buf_addf(b, "{\"type\":\"event\",\"lost_from\":%" PRIu64 ",\"lost_to\":%" PRIu64 "}\n",
                 e->lost_from, e->lost_to);
        return;
    }
    buf_addstr(b, "{\"type\":\"event\",\"event\":");
    event_info_encode(b, e);
    buf_addstr(b, "}\n");
}

void msg_encode_allocs(struct buf *b, const struct alloc_info *a, size_t n)
{
    msg_encode(b,
               &(struct msg){.type = MSG_ALLOCS, .allocs = (struct alloc_info *)a, .nallocs = n});
}
