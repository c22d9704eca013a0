/* SPDX-License-Identifier: MIT */
/*
 * Task specs: the user's JSON (a .jsonl line, a submit element) checked
 * field by field, the canonical form the journal stores and workers receive,
 * and the built-in kinds' payloads decoded into plain C for the worker.
 * Running a built-in kind is the worker's (worker/builtin.c); reading specs
 * inside messages is msg.c's and fast.c's.
 */
#include "proto/spec.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "common/hmap.h"
#include "common/parse.h"
#include "common/util.h"
#include "proto/frame.h"
#include "proto/json_internal.h"
#include "sched/resources.h"

static const char *const kind_names[] = {
    [KIND_EXEC] = "exec", [KIND_COMPUTE] = "compute", [KIND_TRANSFORM] = "transform",
    [KIND_ECHO] = "echo", [KIND_SLEEP] = "sleep",     [KIND_NOOP] = "noop",
};
const char *task_kind_name(enum task_kind k)
{
    return (unsigned)k < ARRAY_SIZE(kind_names) ? kind_names[k] : "?";
}

int task_kind_parse(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(kind_names); i++)
        if (!strcmp(name, kind_names[i]))
            return (int)i;
    return -1;
}
/* ---- task specs ---------------------------------------------------------- */

void spec_release(struct task_spec *s)
{
    free(s->id);
    for (size_t i = 0; i < s->argc; i++)
        free(s->argv[i]);
    free(s->argv);
    free(s->cmd);
    for (size_t i = 0; i < s->envc; i++)
        free(s->env[i]);
    free(s->env);
    free(s->cwd);
    free(s->payload);
    for (size_t i = 0; i < s->nlabels; i++)
        free(s->labels[i]);
    free(s->labels);
    spec_free_ids(s->after, s->nafter);
    spec_free_ids(s->after_any, s->nafter_any);
    free(s->job);
    free(s->req);
    memset(s, 0, sizeof(*s));
}

void spec_free_ids(char **ids, size_t n)
{
    if (!ids)
        return;
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

static const char *id_key(const void *item)
{
    return item;
}

/* Reads the dependency lists of o into s: valid ids, none twice, none in
 * both lists, at most MSG_MAX_DEPS in all. */
static int get_deps(json_object *o, struct task_spec *s, char *err, size_t errlen)
{
    int rc;
    if ((rc = pjson_get_ids(o, "after", false, &s->after, &s->nafter, err, errlen)) ||
        (rc = pjson_get_ids(o, "after_any", false, &s->after_any, &s->nafter_any, err, errlen)))
        return rc;
    if (s->after && !s->nafter) { /* [] is no list: one canonical form */
        free(s->after);
        s->after = NULL;
    }
    if (s->after_any && !s->nafter_any) {
        free(s->after_any);
        s->after_any = NULL;
    }
    if (s->nafter + s->nafter_any > MSG_MAX_DEPS)
        return ERR("fields 'after' and 'after_any' name %zu tasks; a task may depend on at most %d",
                   s->nafter + s->nafter_any, MSG_MAX_DEPS);
    if (s->nafter + s->nafter_any < 2)
        return 0;
    struct hmap seen;
    hmap_init(&seen, id_key);
    rc = 0;
    for (size_t i = 0; i < s->nafter + s->nafter_any && !rc; i++) {
        char *id = i < s->nafter ? s->after[i] : s->after_any[i - s->nafter];
        const char *field = i < s->nafter ? "after" : "after_any";
        const char *other = hmap_get(&seen, id);
        if (!other) {
            hmap_put(&seen, id);
            continue;
        }
        bool in_after = false;
        for (size_t k = 0; k < s->nafter && !in_after; k++)
            in_after = s->after[k] == other;
        if (in_after && i >= s->nafter)
            rc = ERR("task '%.128s' is in both 'after' and 'after_any'; name it once", id);
        else
            rc = ERR("field '%s' names task '%.128s' twice", field, id);
    }
    hmap_release(&seen);
    return rc;
}

static bool all_numbers(json_object *a)
{
    size_t n = json_object_array_length(a);
    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(a, i);
        if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
            return false;
        /* json-c reads NaN, Infinity and 1e400 as doubles; none is a number. */
        if (!isfinite(json_object_get_double(v)))
            return false;
    }
    return true;
}

/* The built-in kinds read fixed payload fields: check them at submission so
 * a typo is an error now, not a failed attempt later. */
static int check_payload(enum task_kind kind, json_object *p, char *err, size_t errlen)
{
    json_object *v;
    switch (kind) {
    case KIND_COMPUTE:
        v = p ? pjson_field(p, "numbers") : NULL;
        if (!v || !json_object_is_type(v, json_type_array) || !all_numbers(v))
            return ERR("field 'payload.numbers' must be an array of numbers for a compute task");
        break;
    case KIND_TRANSFORM:
        v = p ? pjson_field(p, "data") : NULL;
        if (!v || !json_object_is_type(v, json_type_string))
            return ERR("field 'payload.data' must be a string for a transform task");
        break;
    case KIND_SLEEP:
        v = p ? pjson_field(p, "seconds") : NULL;
        /* Written so that NaN fails too. */
        if (!v ||
            !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) ||
            !(json_object_get_double(v) >= 0 && json_object_get_double(v) <= 86400 * 365))
            return ERR("field 'payload.seconds' must be a number of seconds for a sleep task");
        break;
    default:
        break;
    }
    return 0;
}

/*
 * A spec travels inside submit (3 levels deep) and run (4 levels) messages,
 * which the decoder takes only up to FRAME_MAX_DEPTH: a payload nested
 * deeper than this could be accepted and then never reach a worker.
 */
#define PAYLOAD_MAX_DEPTH (FRAME_MAX_DEPTH - 8)

/* Where check_payload_value() is, for its error text: "payload.a[2].b". */
struct json_path {
    char s[160];
    size_t len;
};

/* Appends ".key" or "[index]" (key NULL) to p, cut short when full; returns
 * the length to restore afterwards. */
static size_t path_push(struct json_path *p, const char *key, size_t index)
{
    size_t old = p->len;
    int n = key ? snprintf(p->s + old, sizeof(p->s) - old, ".%.40s", key)
                : snprintf(p->s + old, sizeof(p->s) - old, "[%zu]", index);
    p->len = n < 0 ? old : MIN(old + (size_t)n, sizeof(p->s) - 1);
    return old;
}

/*
 * json-c saturates integers past 64 bits instead of failing: 2^64 and more
 * read as 2^64-1, -2^63-1 and less as -2^63. So a payload (at submission)
 * may hold integers from -(2^63-1) to 2^63-1 only: -2^63 itself cannot be
 * told from the numbers clamped to it.
 */
static bool int_out_of_range(json_object *v)
{
    int64_t x = json_object_get_int64(v);
    return x == INT64_MIN || (x == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX);
}

/* Checks that v nests at most `depth` more levels and holds no NaN or
 * infinity (json-c accepts them; other JSON readers of a result do not),
 * nor, when check_ints, an integer json-c clamped (see int_out_of_range). */
static int check_payload_value(json_object *v, int depth, bool check_ints, struct json_path *path,
                               char *err, size_t errlen)
{
    int rc;
    switch (json_object_get_type(v)) {
    case json_type_int:
        if (check_ints && int_out_of_range(v))
            return ERR("field '%s' is an integer outside the 64-bit range (-%" PRId64 " to %" PRId64
                       "); write it with a fraction or an exponent (1e20) for a floating-point "
                       "number",
                       path->s, INT64_MAX, INT64_MAX);
        return 0;
    case json_type_double:
        if (!isfinite(json_object_get_double(v)))
            return ERR("field 'payload' must not hold NaN or infinite numbers");
        return 0;
    case json_type_array:
    case json_type_object:
        if (depth == 0)
            return ERR("field 'payload' nests deeper than %d levels", PAYLOAD_MAX_DEPTH);
        if (json_object_is_type(v, json_type_array)) {
            size_t n = json_object_array_length(v);
            for (size_t i = 0; i < n; i++) {
                size_t old = path_push(path, NULL, i);
                if ((rc = check_payload_value(json_object_array_get_idx(v, i), depth - 1,
                                              check_ints, path, err, errlen)))
                    return rc;
                path->s[path->len = old] = '\0';
            }
        } else {
            json_object_object_foreach(v, key, val)
            {
                size_t old = path_push(path, key, 0);
                if ((rc = check_payload_value(val, depth - 1, check_ints, path, err, errlen)))
                    return rc;
                path->s[path->len = old] = '\0';
            }
        }
        return 0;
    default:
        return 0;
    }
}

/*
 * submit: the spec comes from a user (a submit message, a .jsonl line), not
 * from the master's journal (a run message), and gets the checks added after
 * specs were first stored: a run must still carry what an older master
 * accepted.
 */
int spec_from_json(json_object *o, struct task_spec *s, bool submit, char *err, size_t errlen)
{
    static const char *const keys[] = {"id",     "kind",    "argv",      "cmd",         "env",
                                       "cwd",    "payload", "priority",  "max_retries", "timeout",
                                       "labels", "after",   "after_any", "job",         "throttle",
                                       "cpus",   "mem",     "gpus",      "resources",   NULL};
    int64_t x;
    int rc;
    memset(s, 0, sizeof(*s));
    s->priority = TASK_DEFAULT_PRIORITY;
    s->max_retries = TASK_DEFAULT_RETRIES;
    if (!json_object_is_type(o, json_type_object))
        return ERR("a task must be a JSON object");
    if ((rc = pjson_check_keys(o, keys, "task", err, errlen)))
        return rc;
    if ((rc = pjson_get_str(o, "id", false, MSG_MAX_ID, &s->id, err, errlen)))
        return rc;
    if (s->id && !msg_id_valid(s->id))
        return ERR("field 'id' must be 1 to %d printable characters without spaces", MSG_MAX_ID);

    char *kind = NULL;
    if ((rc = pjson_get_str(o, "kind", false, 32, &kind, err, errlen)))
        return rc;
    if (kind) {
        int k = task_kind_parse(kind);
        free(kind);
        if (k < 0)
            return ERR("field 'kind' must be one of exec, compute, transform, echo, sleep, noop");
        s->kind = (enum task_kind)k;
    }

    json_object *argv;
    size_t argc;
    if ((rc = pjson_get_array(o, "argv", false, MSG_MAX_ARGV, &argv, &argc, err, errlen)))
        return rc;
    if (argv) {
        if (argc == 0)
            return ERR("field 'argv' must not be empty");
        s->argv = xcalloc(argc + 1, sizeof(char *));
        for (size_t i = 0; i < argc; i++) {
            json_object *v = json_object_array_get_idx(argv, i);
            if (!json_object_is_type(v, json_type_string) ||
                (size_t)json_object_get_string_len(v) > MSG_MAX_STR ||
                memchr(json_object_get_string(v), 0, (size_t)json_object_get_string_len(v)))
                return ERR("field 'argv' must be an array of strings (entry %zu is not)", i);
            s->argv[i] = xstrdup(json_object_get_string(v));
            s->argc = i + 1;
        }
    }
    if ((rc = pjson_get_str(o, "cmd", false, MSG_MAX_STR, &s->cmd, err, errlen)))
        return rc;
    if (s->kind == KIND_EXEC) {
        if (!s->argv && (!s->cmd || !*s->cmd))
            return ERR("an exec task needs field 'argv' (program and arguments) or 'cmd' "
                       "(a shell command)");
        if (s->argv && s->cmd)
            return ERR("an exec task takes 'argv' or 'cmd', not both");
    } else if (s->argv || s->cmd) {
        return ERR("fields 'argv' and 'cmd' only apply to exec tasks, not '%s'",
                   task_kind_name(s->kind));
    }

    json_object *env = pjson_field(o, "env");
    if (env) {
        if (!json_object_is_type(env, json_type_object))
            return ERR("field 'env' must be an object of strings");
        size_t n = (size_t)json_object_object_length(env);
        if (n > MSG_MAX_ENV)
            return ERR("field 'env' has more than %d entries", MSG_MAX_ENV);
        s->env = xcalloc(n + 1, sizeof(char *));
        json_object_object_foreach(env, key, val)
        {
            if (!*key || strchr(key, '=') || !json_object_is_type(val, json_type_string))
                return ERR("field 'env' must map names (without '=') to strings");
            const char *sv = json_object_get_string(val);
            size_t svlen = (size_t)json_object_get_string_len(val);
            if (memchr(sv, '\0', svlen))
                return ERR("field 'env': entry '%.64s' must not contain NUL characters", key);
            if (strlen(key) + svlen > MSG_MAX_STR)
                return ERR("field 'env': entry '%.64s' is too long", key);
            struct buf b = BUF_INIT;
            buf_addf(&b, "%s=%s", key, sv);
            s->env[s->envc++] = buf_detach(&b, NULL);
        }
    }
    if ((rc = pjson_get_str(o, "cwd", false, 4096, &s->cwd, err, errlen)))
        return rc;
    json_object *labels = pjson_field(o, "labels");
    if (labels && (rc = labels_from_json(labels, "labels", &s->labels, &s->nlabels, err, errlen)))
        return rc;

    json_object *payload = pjson_field(o, "payload");
    if ((rc = check_payload(s->kind, payload, err, errlen)))
        return rc;
    if (payload) {
        struct json_path path = {"payload", 7};
        if ((rc = check_payload_value(payload, PAYLOAD_MAX_DEPTH, submit, &path, err, errlen)))
            return rc;
        s->payload = pjson_to_text(payload);
        if (strlen(s->payload) > MSG_MAX_STR)
            return ERR("field 'payload' is larger than %u bytes", MSG_MAX_STR);
    }

    json_object *prio = pjson_field(o, "priority");
    if (prio) {
        if (json_object_is_type(prio, json_type_string)) {
            if (priority_parse(json_object_get_string(prio), &s->priority))
                return ERR("field 'priority' must be low, medium, high or an integer");
        } else if ((rc = pjson_get_int(o, "priority", false, INT32_MIN, INT32_MAX, &s->priority,
                                       err, errlen))) {
            return ERR("field 'priority' must be low, medium, high or an integer");
        }
    }
    x = s->max_retries;
    if ((rc = pjson_get_int(o, "max_retries", false, 0, TASK_MAX_RETRIES, &x, err, errlen)))
        return rc;
    s->max_retries = (int)x;

    /* One rule with `dtr submit --timeout`: a timeout is rounded to whole
     * milliseconds and must then be positive; no timeout is spelled by
     * leaving the field out (or null). */
    json_object *to = pjson_field(o, "timeout");
    if (to) {
        if (json_object_is_type(to, json_type_string)) {
            if (duration_parse(json_object_get_string(to), &s->timeout_ms))
                return ERR("field 'timeout' must be a positive duration (500ms, 10s, 2m, 1h)");
            if (!s->timeout_ms)
                return ERR("field 'timeout' " TIMEOUT_RULE);
            /* The same bound as for a number: the canonical form writes
             * seconds, and it must parse again. */
            if (s->timeout_ms >= 86400LL * 365 * 1000)
                return ERR("field 'timeout' must be shorter than 365 days");
        } else if (json_object_is_type(to, json_type_int) ||
                   json_object_is_type(to, json_type_double)) {
            double secs = json_object_get_double(to);
            if (secs == 0)
                return ERR("field 'timeout' " TIMEOUT_RULE);
            if (!(secs > 0 && secs < 86400.0 * 365))
                return ERR("field 'timeout' must be a positive number of seconds");
            s->timeout_ms = (int64_t)(secs * 1000 + 0.5);
            if (s->timeout_ms == 0)
                return ERR("field 'timeout' " TIMEOUT_RULE);
        } else {
            return ERR("field 'timeout' must be a number of seconds or a duration");
        }
    }
    /* The master sets the job (from the submit message); a spec read back
     * from the journal or a run message carries it. */
    if (pjson_field(o, "job")) {
        if (submit)
            return ERR("field 'job' is set by the master (dtr submit --job-name names a job)");
        if ((rc = pjson_get_str(o, "job", false, MSG_MAX_JOB, &s->job, err, errlen)))
            return rc;
        if (s->job && !job_id_valid(s->job))
            return ERR("field 'job' is not a valid job id");
    }
    /* So does the job's throttle, with the job. */
    if (pjson_field(o, "throttle")) {
        if (submit)
            return ERR("field 'throttle' is set by the master (dtr submit --array A-B%%N throttles "
                       "the job)");
        if ((rc = pjson_get_int(o, "throttle", true, 1, MSG_MAX_THROTTLE, &x, err, errlen)))
            return rc;
        if (!s->job)
            return ERR("field 'throttle' comes with a 'job'");
        s->throttle = (uint32_t)x;
    }
    if (pjson_field(o, "cpus") || pjson_field(o, "mem") || pjson_field(o, "gpus") ||
        pjson_field(o, "resources")) {
        struct request r;
        if ((rc = res_from_json(o, &r, 0, err, errlen)))
            return rc;
        if (!res_is_default(&r)) {
            s->req = xmalloc(sizeof(*s->req));
            *s->req = r;
        }
    }
    return get_deps(o, s, err, errlen);
}

int spec_parse(const char *json, size_t len, struct task_spec *spec, char *err, size_t errlen)
{
    if (spec_parse_fast(json, len, spec))
        return 0;
    memset(spec, 0, sizeof(*spec));
    json_object *o = pjson_parse(json, len, err, errlen);
    if (!o)
        return DTR_EINVAL;
    int rc = spec_from_json(o, spec, true, err, errlen);
    json_object_put(o);
    if (rc)
        spec_release(spec);
    return rc;
}

static void encode_ids(struct buf *b, const char *key, char **ids, size_t n)
{
    buf_addstr(b, key);
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_addch(b, ',');
        buf_add_json_cstr(b, ids[i]);
    }
    buf_addch(b, ']');
}

void spec_encode(struct buf *b, const struct task_spec *s)
{
    buf_addstr(b, "{\"id\":");
    buf_add_json_cstr(b, s->id);
    buf_addf(b, ",\"kind\":\"%s\"", task_kind_name(s->kind));
    /* Right after the kind, where spec_deps() reads them, then the labels,
     * where spec_labels() looks for them. */
    if (s->after)
        encode_ids(b, ",\"after\":[", s->after, s->nafter);
    if (s->after_any)
        encode_ids(b, ",\"after_any\":[", s->after_any, s->nafter_any);
    if (s->labels) {
        buf_addstr(b, ",\"labels\":");
        labels_encode(b, s->labels, s->nlabels);
    }
    if (s->argv) {
        buf_addstr(b, ",\"argv\":[");
        for (size_t i = 0; i < s->argc; i++) {
            if (i)
                buf_addch(b, ',');
            buf_add_json_cstr(b, s->argv[i]);
        }
        buf_addch(b, ']');
    }
    if (s->cmd) {
        buf_addstr(b, ",\"cmd\":");
        buf_add_json_cstr(b, s->cmd);
    }
    if (s->env) {
        buf_addstr(b, ",\"env\":{");
        for (size_t i = 0; i < s->envc; i++) {
            const char *eq = strchr(s->env[i], '=');
            if (i)
                buf_addch(b, ',');
            buf_add_json_str(b, s->env[i], (size_t)(eq - s->env[i]));
            buf_addch(b, ':');
            buf_add_json_cstr(b, eq + 1);
        }
        buf_addch(b, '}');
    }
    if (s->cwd) {
        buf_addstr(b, ",\"cwd\":");
        buf_add_json_cstr(b, s->cwd);
    }
    if (s->payload) {
        buf_addstr(b, ",\"payload\":");
        buf_addstr(b, s->payload);
    }
    if (s->req)
        res_encode_fields(b, s->req, false);
    buf_addf(b, ",\"priority\":%" PRId64 ",\"max_retries\":%d", s->priority, s->max_retries);
    if (s->timeout_ms)
        buf_addf(b, ",\"timeout\":%.3f", (double)s->timeout_ms / 1000.0);
    /* Last, where spec_job() reads it back from the end. */
    if (s->job) {
        buf_addstr(b, ",\"job\":");
        buf_add_json_cstr(b, s->job);
        /* After it, where spec_throttle() reads it back. */
        if (s->throttle)
            buf_addf(b, ",\"throttle\":%" PRIu32, s->throttle);
    }
    buf_addch(b, '}');
}
const char *spec_kind(const char *canonical)
{
    /* spec_encode() writes the kind right after the id, and an escaped id
     * cannot hold a bare quote, so the first match is the kind. */
    const char *p = strstr(canonical, ",\"kind\":\"");
    if (!p)
        return "exec";
    p += 9;
    for (size_t i = 0; i < ARRAY_SIZE(kind_names); i++) {
        size_t n = strlen(kind_names[i]);
        if (!strncmp(p, kind_names[i], n) && p[n] == '"')
            return kind_names[i];
    }
    return "exec";
}

/* Reads the JSON string at *p as spec_encode() writes an id (printable
 * ASCII, '"' and '\\' escaped) into a new string; advances *p past it. */
static char *scan_id(const char **p)
{
    const char *q = *p;
    if (*q++ != '"')
        return NULL;
    struct buf b = BUF_INIT;
    for (; *q != '"'; q++) {
        if (*q <= 0x20 || *q >= 0x7f)
            goto fail;
        if (*q == '\\') {
            q++;
            if (*q != '"' && *q != '\\' && *q != '/')
                goto fail;
        }
        buf_addch(&b, *q);
        if (b.len > MSG_MAX_ID)
            goto fail;
    }
    if (!b.len)
        goto fail;
    *p = q + 1;
    return buf_detach(&b, NULL);
fail:
    buf_release(&b);
    return NULL;
}

/* Reads `key` and then a list of ids at *p, when there. Returns 0, or -1. */
static int scan_ids(const char **p, const char *key, char ***ids, size_t *n)
{
    size_t klen = strlen(key), cap = 0;
    if (strncmp(*p, key, klen))
        return 0;
    const char *q = *p + klen;
    do {
        if (*n == MSG_MAX_DEPS)
            return -1;
        char *id = scan_id(&q);
        if (!id)
            return -1;
        if (*n + 1 >= cap) {
            cap = cap ? cap * 2 : 4;
            *ids = xrealloc(*ids, cap * sizeof(char *));
        }
        (*ids)[(*n)++] = id;
        (*ids)[*n] = NULL;
    } while (*q == ',' && q++);
    if (*q != ']')
        return -1;
    *p = q + 1;
    return 0;
}

int spec_deps(const char *canonical, char ***after, size_t *nafter, char ***after_any,
              size_t *nafter_any)
{
    *after = *after_any = NULL;
    *nafter = *nafter_any = 0;
    const char *p = canonical;
    if (strncmp(p, "{\"id\":", 6))
        return -1;
    p += 6;
    if (!strncmp(p, "null", 4)) {
        p += 4;
    } else {
        char *id = scan_id(&p);
        if (!id)
            return -1;
        free(id);
    }
    if (strncmp(p, ",\"kind\":\"", 9))
        return -1;
    p = strchr(p + 9, '"');
    if (!p)
        return -1;
    p++;
    if (scan_ids(&p, ",\"after\":[", after, nafter) ||
        scan_ids(&p, ",\"after_any\":[", after_any, nafter_any)) {
        spec_free_ids(*after, *nafter);
        spec_free_ids(*after_any, *nafter_any);
        *after = *after_any = NULL;
        *nafter = *nafter_any = 0;
        return -1;
    }
    return 0;
}

bool job_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n < 1 || n > MSG_MAX_JOB || !isalnum((unsigned char)id[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && !strchr("._-", id[i]))
            return false;
    return true;
}

bool job_name_free(const char *id)
{
    if (strncmp(id, "j-", 2) || !id[2])
        return true;
    for (const char *p = id + 2; *p; p++)
        if (!isdigit((unsigned char)*p))
            return true;
    return false;
}

/* The length of ,"throttle":N right before the final '}' of canonical spec
 * JSON, or 0 when it does not end so; the number in *v. */
static size_t throttle_suffix(const char *canonical, size_t n, uint32_t *v)
{
    static const char key[] = ",\"throttle\":";
    const size_t klen = sizeof(key) - 1;
    size_t i = n ? n - 1 : 0;
    *v = 0;
    if (n < klen + 2 || canonical[n - 1] != '}')
        return 0;
    while (i > 0 && n - 1 - i < 9 && isdigit((unsigned char)canonical[i - 1]))
        i--;
    size_t digits = n - 1 - i;
    if (!digits || digits > 8 || i < klen || memcmp(canonical + i - klen, key, klen))
        return 0;
    uint32_t x = 0;
    for (size_t k = i; k < n - 1; k++)
        x = x * 10 + (uint32_t)(canonical[k] - '0');
    if (x < 1 || x > MSG_MAX_THROTTLE)
        return 0;
    *v = x;
    return klen + digits;
}

bool spec_job(const char *canonical, char *out, size_t *suffix_len)
{
    /* spec_encode() ends with ,"job":"ID"} when there is a job (or with
     * ,"job":"ID","throttle":N}), and a job id holds no quote; without one
     * it ends with a number and '}'. */
    static const char key[] = ",\"job\":\"";
    const size_t klen = sizeof(key) - 1;
    size_t n = strlen(canonical);
    uint32_t throttle;
    size_t m = n - throttle_suffix(canonical, n, &throttle); /* as if without it */
    *suffix_len = 0;
    if (m < klen + 3 || canonical[m - 2] != '"' || (m == n && canonical[m - 1] != '}'))
        return false;
    const char *close = canonical + m - 2, *open = close - 1;
    while (open > canonical && *open != '"')
        open--;
    size_t len = (size_t)(close - open - 1);
    if ((size_t)(open - canonical) < klen - 1 || len < 1 || len > MSG_MAX_JOB ||
        memcmp(open - (klen - 1), key, klen))
        return false;
    memcpy(out, open + 1, len);
    out[len] = '\0';
    if (!job_id_valid(out))
        return false;
    *suffix_len = (size_t)(canonical + n - (open - (klen - 1))) - 1;
    return true;
}

uint32_t spec_throttle(const char *canonical)
{
    char job[MSG_MAX_JOB + 1];
    size_t suffix;
    uint32_t v;
    if (!throttle_suffix(canonical, strlen(canonical), &v) || !spec_job(canonical, job, &suffix))
        return 0;
    return v;
}

int64_t spec_timeout_ms(const char *canonical)
{
    /* spec_encode() ends with the integer max_retries and then, when set,
     * ,"timeout":S.SSS}: the last ':' belongs to one of those two. */
    static const char key[] = "\"timeout\"";
    const size_t klen = sizeof(key) - 1;
    char job[MSG_MAX_JOB + 1];
    size_t suffix = 0;
    spec_job(canonical, job, &suffix); /* the job, when there, comes after it */
    size_t len = strlen(canonical);
    if (len < suffix + 1 + klen)
        return 0; /* too short to hold a timeout (and no byte before it to read) */
    const char *stop = canonical + len - suffix - 1; /* its '}' or ',' */
    const char *colon = stop;
    while (colon > canonical && *colon != ':')
        colon--;
    if (*colon != ':' || (size_t)(colon - canonical) < klen || memcmp(colon - klen, key, klen))
        return 0;
    char *end;
    double s = strtod(colon + 1, &end);
    if (end == colon + 1 || end != stop || !(s > 0) || s > 366.0 * 86400)
        return 0;
    return (int64_t)llround(s * 1000.0);
}

/* ---- labels -------------------------------------------------------------- */

static bool has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return true;
    return false;
}

static int cmp_label(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t nx = strcspn(x, "="), ny = strcspn(y, "=");
    int c = memcmp(x, y, MIN(nx, ny));
    return c ? c : (nx > ny) - (nx < ny);
}

int labels_from_json(json_object *o, const char *field, char ***out, size_t *n, char *err,
                     size_t errlen)
{
    *out = NULL;
    *n = 0;
    if (!json_object_is_type(o, json_type_object))
        return ERR("field '%s' must be an object of strings", field);
    size_t len = (size_t)json_object_object_length(o);
    if (len > MSG_MAX_LABELS)
        return ERR("field '%s' has %zu labels; the limit is %d", field, len, MSG_MAX_LABELS);
    if (len == 0)
        return 0;
    *out = xcalloc(len + 1, sizeof(char *));
    json_object_object_foreach(o, key, val)
    {
        size_t klen = strlen(key);
        if (!klen || klen > MSG_MAX_LABEL || strchr(key, '=') || has_control(key, klen))
            return ERR("field '%s': key '%.64s' must be 1 to %d bytes without '=' or control "
                       "characters",
                       field, key, MSG_MAX_LABEL);
        if (!json_object_is_type(val, json_type_string))
            return ERR("field '%s': the value of '%.64s' must be a string", field, key);
        const char *v = json_object_get_string(val);
        size_t vlen = (size_t)json_object_get_string_len(val);
        if (vlen > MSG_MAX_LABEL || has_control(v, vlen))
            return ERR("field '%s': the value of '%.64s' must be at most %d bytes without control "
                       "characters",
                       field, key, MSG_MAX_LABEL);
        struct buf b = BUF_INIT;
        buf_addf(&b, "%s=%s", key, v);
        (*out)[(*n)++] = buf_detach(&b, NULL);
    }
    qsort(*out, *n, sizeof(char *), cmp_label);
    for (size_t i = 1; i < *n; i++)
        if (!cmp_label(&(*out)[i - 1], &(*out)[i])) /* a key cut short at a NUL */
            return ERR("field '%s' holds the key '%.64s' twice", field, (*out)[i]);
    return 0;
}

void labels_pair_encode(struct buf *b, const char *label)
{
    const char *eq = strchr(label, '=');
    buf_add_json_str(b, label, (size_t)(eq - label));
    buf_addch(b, ':');
    buf_add_json_cstr(b, eq + 1);
}

void labels_encode(struct buf *b, char *const *labels, size_t n)
{
    buf_addch(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_addch(b, ',');
        labels_pair_encode(b, labels[i]);
    }
    buf_addch(b, '}');
}

/* The end of the JSON string starting at p (a '"'), one past its closing
 * quote, or NULL when end comes first. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

const char *spec_labels(const char *canonical, size_t *len)
{
    static const char key[] = ",\"labels\":{";
    static const char *const deps[] = {",\"after\":[", ",\"after_any\":["};
    const char *p = strstr(canonical, ",\"kind\":\"");
    if (!p || !(p = strchr(p + 9, '"')))
        return NULL;
    const char *end = p + strlen(p);
    p++;
    /* The dependency lists come first (spec_encode()): arrays of strings. */
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(deps[i]);
        if (strncmp(p, deps[i], n))
            continue;
        for (p += n; p < end && *p != ']';) {
            if (*p == ',')
                p++;
            else if (*p != '"' || !(p = skip_string(p, end)))
                return NULL;
        }
        if (p >= end)
            return NULL;
        p++;
    }
    if (strncmp(p, key, sizeof(key) - 1))
        return NULL;
    const char *start = p + sizeof(key) - 2;
    /* Pairs of strings up to the closing brace. */
    for (p = start + 1; p < end && *p != '}';) {
        if (*p == ',' || *p == ':')
            p++;
        else if (*p != '"' || !(p = skip_string(p, end)))
            return NULL;
    }
    if (p >= end)
        return NULL;
    *len = (size_t)(p + 1 - start);
    return start;
}

bool labels_match(const char *obj, size_t len, char *const *want, size_t nwant)
{
    const char *end = obj + len;
    size_t found = 0;
    for (size_t i = 0; i < nwant; i++) {
        bool hit = false;
        /* Each pair of obj: from its key's quote to its value's closing quote. */
        for (const char *p = obj + 1; p < end && *p == '"' && !hit;) {
            const char *k = skip_string(p, end), *v;
            if (!k || k >= end || *k != ':' || !(v = skip_string(k + 1, end)))
                return false;
            hit = (size_t)(v - p) == strlen(want[i]) && !memcmp(p, want[i], (size_t)(v - p));
            p = v < end && *v == ',' ? v + 1 : v;
        }
        found += hit;
    }
    return found == nwant;
}

void payload_args_release(struct payload_args *a)
{
    free(a->numbers);
    free(a->data);
    memset(a, 0, sizeof(*a));
}

int payload_decode(enum task_kind kind, const char *payload, struct payload_args *a, char *err,
                   size_t errlen)
{
    memset(a, 0, sizeof(*a));
    json_object *o =
        pjson_parse(payload ? payload : "{}", payload ? strlen(payload) : 2, err, errlen);
    if (!o)
        return DTR_EINVAL;
    int rc = check_payload(kind, o, err, errlen);
    if (rc)
        goto out;
    if (kind == KIND_COMPUTE) {
        json_object *arr = pjson_field(o, "numbers");
        size_t n = json_object_array_length(arr);
        a->numbers = xcalloc(n + 1, sizeof(*a->numbers));
        a->nnumbers = n;
        for (size_t i = 0; i < n; i++) {
            json_object *v = json_object_array_get_idx(arr, i);
            int64_t x = json_object_get_int64(v);
            /* json-c keeps integers up to 2^64-1, and get_int64() clamps
             * those above INT64_MAX: they count as doubles. */
            bool big = x == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX;
            a->numbers[i].is_int = json_object_is_type(v, json_type_int) && !big;
            a->numbers[i].i = x;
            a->numbers[i].d = json_object_get_double(v);
        }
    } else if (kind == KIND_TRANSFORM) {
        json_object *d = pjson_field(o, "data");
        a->data_len = (size_t)json_object_get_string_len(d);
        a->data = xstrndup(json_object_get_string(d), a->data_len);
    } else if (kind == KIND_SLEEP) {
        a->seconds = json_object_get_double(pjson_field(o, "seconds"));
    }
out:
    json_object_put(o);
    return rc;
}
