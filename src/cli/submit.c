/* SPDX-License-Identifier: MIT */
/*
 * `dtr submit`: builds task specs from flags (one task, or one per --array
 * index) or from a JSON Lines file, checks each with the same parser the
 * master uses, and sends them in batches. Ids are printed only once the
 * master has acknowledged them, which it does after its journal commit.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/hmap.h"
#include "common/parse.h"
#include "common/util.h"
#include "sched/resources.h"

#define SUBMIT_BATCH 2000
#define SUBMIT_WINDOW 4 /* batches in flight (see send_batches) */

struct submit_flags {
    struct client_flags c;
    const char *id, *kind, *payload, *file, *array, *cwd, *cmd, *job_name;
    int64_t priority, retries, timeout_ms;
    bool wait, json;
    struct opt_list env, labels;
    bool priority_set;
    struct opt_list after, after_any; /* each entry a comma list of ids */
    uint32_t throttle;                /* from --array A-B%N; 0: none */
    /* Resources: the flags, and the request they make (has_req when any
     * was given). */
    const char *cpus, *mem, *gpus;
    struct opt_list resources;
    struct request req;
    bool has_req;
};

/* The request of --cpus, --mem, --gpus and --resource into f->req. */
static int request_from_flags(struct submit_flags *f)
{
    char err[256];
    res_default(&f->req);
    f->has_req = f->cpus || f->mem || f->gpus || f->resources.len;
    if ((f->cpus && res_parse_cpus(f->cpus, "--cpus", &f->req.cpus_milli, err, sizeof(err))) ||
        (f->mem && res_parse_size(f->mem, "--mem", &f->req.mem, err, sizeof(err))) ||
        (f->gpus &&
         res_parse_count(f->gpus, "--gpus", RES_MAX_GPUS, &f->req.gpus, err, sizeof(err)))) {
        cli_error("%s", err);
        return -1;
    }
    for (size_t i = 0; i < f->resources.len; i++) {
        if (res_parse_named(f->resources.items[i], &f->req, err, sizeof(err))) {
            cli_error("%s", err);
            return -1;
        }
    }
    return 0;
}

/* Appends ,"key":[ids...] for the comma lists of l (nothing when empty). */
static void add_id_lists(struct buf *j, const char *key, const struct opt_list *l)
{
    bool first = true;
    for (size_t i = 0; i < l->len; i++) {
        char *copy = xstrdup(l->items[i]), *save = NULL;
        for (char *id = strtok_r(copy, ",", &save); id; id = strtok_r(NULL, ",", &save)) {
            buf_addf(j, first ? ",\"%s\":[" : ",", key);
            buf_add_json_cstr(j, id);
            first = false;
        }
        free(copy);
    }
    if (!first)
        buf_addch(j, ']');
}

/* Adds the ids of the comma lists of l to *ids (those not already in
 * *ids or in other: the spec refuses an id twice). Returns 0, or -1 for an
 * invalid id (printed). */
static int merge_ids(char ***ids, size_t *n, char **other, size_t nother, const struct opt_list *l)
{
    for (size_t i = 0; i < l->len; i++) {
        char *copy = xstrdup(l->items[i]), *save = NULL;
        for (char *id = strtok_r(copy, ",", &save); id; id = strtok_r(NULL, ",", &save)) {
            if (!msg_id_valid(id)) {
                cli_error("'%s' is not a task id (1 to %d printable characters, no spaces)", id,
                          MSG_MAX_ID);
                free(copy);
                return -1;
            }
            bool dup = false;
            for (size_t k = 0; k < *n && !dup; k++)
                dup = !strcmp((*ids)[k], id);
            for (size_t k = 0; k < nother && !dup; k++)
                dup = !strcmp(other[k], id);
            if (dup)
                continue;
            *ids = xrealloc(*ids, (*n + 2) * sizeof(char *));
            (*ids)[(*n)++] = xstrdup(id);
            (*ids)[*n] = NULL;
        }
        free(copy);
    }
    return 0;
}

/* Appends s with every "{}" replaced by index (when index is given). */
static void add_substituted(struct buf *b, const char *s, const char *index)
{
    struct buf tmp = BUF_INIT;
    const char *p;
    while (index && (p = strstr(s, "{}"))) {
        buf_add(&tmp, s, (size_t)(p - s));
        buf_addstr(&tmp, index);
        s = p + 2;
    }
    buf_addstr(&tmp, s);
    buf_add_json_cstr(b, tmp.data);
    buf_release(&tmp);
}

/* ,"labels":{...} from --label KEY=VALUE flags, checked by cli_check_labels(). */
static void add_labels(struct buf *j, const struct opt_list *l)
{
    buf_addstr(j, ",\"labels\":{");
    for (size_t i = 0; i < l->len; i++) {
        const char *kv = l->items[i], *eq = strchr(kv, '=');
        if (i)
            buf_addch(j, ',');
        buf_add_json_str(j, kv, (size_t)(eq - kv));
        buf_addch(j, ':');
        buf_add_json_cstr(j, eq + 1);
    }
    buf_addch(j, '}');
}

/* One spec from the flags, as JSON, then checked by spec_parse(). */
static int spec_from_flags(const struct submit_flags *f, char **args, int nargs, const char *index,
                           struct task_spec *spec)
{
    struct buf j = BUF_INIT;
    char err[512];
    buf_addstr(&j, "{");
    if (f->id) {
        buf_addstr(&j, "\"id\":");
        if (index) {
            struct buf id = BUF_INIT;
            buf_addf(&id, "%s-%s", f->id, index);
            buf_add_json_cstr(&j, id.data);
            buf_release(&id);
        } else {
            buf_add_json_cstr(&j, f->id);
        }
        buf_addch(&j, ',');
    }
    buf_addstr(&j, "\"kind\":");
    buf_add_json_cstr(&j, f->kind ? f->kind : "exec");
    if (nargs > 0) {
        buf_addstr(&j, ",\"argv\":[");
        for (int i = 0; i < nargs; i++) {
            if (i)
                buf_addch(&j, ',');
            add_substituted(&j, args[i], index);
        }
        buf_addch(&j, ']');
    }
    if (f->cmd) {
        buf_addstr(&j, ",\"cmd\":");
        add_substituted(&j, f->cmd, index);
    }
    if (f->cwd) {
        buf_addstr(&j, ",\"cwd\":");
        buf_add_json_cstr(&j, f->cwd);
    }
    if (f->env.len) {
        buf_addstr(&j, ",\"env\":{");
        for (size_t i = 0; i < f->env.len; i++) {
            const char *kv = f->env.items[i], *eq = strchr(kv, '=');
            if (!eq || eq == kv) {
                cli_error("--env '%s' must be NAME=VALUE", kv);
                buf_release(&j);
                return EXIT_USAGE;
            }
            if (i)
                buf_addch(&j, ',');
            buf_add_json_str(&j, kv, (size_t)(eq - kv));
            buf_addch(&j, ':');
            add_substituted(&j, eq + 1, index);
        }
        buf_addch(&j, '}');
    }
    if (f->labels.len)
        add_labels(&j, &f->labels);
    if (f->payload)
        buf_addf(&j, ",\"payload\":%s", f->payload);
    if (f->has_req)
        res_encode_fields(&j, &f->req, false);
    add_id_lists(&j, "after", &f->after);
    add_id_lists(&j, "after_any", &f->after_any);
    buf_addf(&j, ",\"priority\":%" PRId64 ",\"max_retries\":%" PRId64, f->priority, f->retries);
    if (f->timeout_ms)
        buf_addf(&j, ",\"timeout\":%.3f", (double)f->timeout_ms / 1000.0);
    buf_addch(&j, '}');
    int rc = spec_parse(j.data, j.len, spec, err, sizeof(err));
    buf_release(&j);
    if (rc) {
        cli_error("invalid task: %s", err);
        return EXIT_USAGE;
    }
    return 0;
}

/* --array in Slurm's spelling (common/parse.h); an error names the part. */
static int array_indices(const char *spec, int **index, size_t *n, int *throttle)
{
    char err[256];
    if (array_spec_parse(spec, index, n, throttle, err, sizeof(err))) {
        cli_error("--array: %s", err);
        return EXIT_USAGE;
    }
    return 0;
}

/* Reads specs from a JSON Lines file ("-" = stdin). */
static int specs_from_file(const char *path, struct task_spec **specs, size_t *n)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;
    char *line = NULL, err[512];
    size_t cap = 0, alloc = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    if (!f) {
        cli_error("cannot read '%s': %s", path, strerror(errno));
        return EXIT_USAGE;
    }
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\n' || *p == '\r' || *p == '\0' || *p == '#')
            continue;
        if (*n == alloc) {
            alloc = alloc ? alloc * 2 : 64;
            *specs = xrealloc(*specs, alloc * sizeof(**specs));
        }
        if (spec_parse(line, (size_t)len, &(*specs)[*n], err, sizeof(err)) != 0) {
            cli_error("%s:%d: %s", path, lineno, err);
            rc = EXIT_USAGE;
            break;
        }
        (*n)++;
    }
    free(line);
    if (f != stdin)
        fclose(f);
    if (rc == 0 && *n == 0) {
        cli_error("'%s' holds no tasks (one JSON object per line)", path);
        rc = EXIT_USAGE;
    }
    return rc;
}

struct file_node {
    const char *id;
    size_t i;
};

static const char *file_node_key(const void *item)
{
    return ((const struct file_node *)item)->id;
}

static const char *dep_of(const struct task_spec *s, size_t k)
{
    return k < s->nafter ? s->after[k] : s->after_any[k - s->nafter];
}

/*
 * A file larger than one batch goes out in several, and the master knows
 * only what earlier batches brought: so a task must not come before a task
 * of the file it depends on. When one does, the specs are put in
 * dependency order (Kahn's algorithm, file order among the ready ones); a
 * cycle, which the master could not see whole, is named here (exit 2).
 * O(tasks + edges). Returns 0 or EXIT_USAGE.
 */
static int order_by_deps(const char *path, struct task_spec *specs, size_t n)
{
    struct file_node *nodes = xcalloc(n + 1, sizeof(*nodes));
    struct hmap byid;
    hmap_init(&byid, file_node_key);
    for (size_t i = 0; i < n; i++)
        if (specs[i].id && !hmap_get(&byid, specs[i].id)) {
            nodes[i] = (struct file_node){specs[i].id, i};
            hmap_put(&byid, &nodes[i]);
        }
    /* In-file edges dep -> dependent, as lists: first[dep], next[edge]. */
    size_t *indeg = xcalloc(n + 1, sizeof(size_t)), *first = xcalloc(n + 1, sizeof(size_t));
    size_t nedges = 0, cap = 0, *to = NULL, *next = NULL;
    bool forward = false;
    for (size_t i = 0; i < n; i++)
        first[i] = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < specs[i].nafter + specs[i].nafter_any; k++) {
            struct file_node *d = hmap_get(&byid, dep_of(&specs[i], k));
            if (!d || d->i == i)
                continue; /* a task of the master, or itself: the master's to judge */
            forward |= d->i > i;
            if (nedges == cap) {
                cap = cap ? cap * 2 : 64;
                to = xrealloc(to, cap * sizeof(size_t));
                next = xrealloc(next, cap * sizeof(size_t));
            }
            to[nedges] = i;
            next[nedges] = first[d->i];
            first[d->i] = nedges++;
            indeg[i]++;
        }
    }
    int rc = 0;
    if (!forward)
        goto out;
    size_t *order = xcalloc(n + 1, sizeof(size_t)), len = 0;
    for (size_t i = 0; i < n; i++)
        if (!indeg[i])
            order[len++] = i;
    for (size_t h = 0; h < len; h++)
        for (size_t e = first[order[h]]; e != SIZE_MAX; e = next[e])
            if (--indeg[to[e]] == 0)
                order[len++] = to[e];
    if (len < n) {
        /* What is left all waits on itself: from any of it, follow a
         * dependency still left until a task repeats; that is a cycle. */
        size_t cur = 0, *seen = xcalloc(n + 1, sizeof(size_t)), step = 0;
        while (!indeg[cur])
            cur++;
        while (!seen[cur]) {
            seen[cur] = ++step;
            for (size_t k = 0; k < specs[cur].nafter + specs[cur].nafter_any; k++) {
                struct file_node *d = hmap_get(&byid, dep_of(&specs[cur], k));
                if (d && d->i != cur && indeg[d->i]) {
                    cur = d->i;
                    break;
                }
            }
        }
        struct buf b = BUF_INIT;
        size_t start = cur;
        do {
            buf_addf(&b, "%s -> ", specs[cur].id);
            for (size_t k = 0; k < specs[cur].nafter + specs[cur].nafter_any; k++) {
                struct file_node *d = hmap_get(&byid, dep_of(&specs[cur], k));
                if (d && d->i != cur && indeg[d->i]) { /* the same step as above */
                    cur = d->i;
                    break;
                }
            }
        } while (cur != start && b.len < 800);
        buf_addstr(&b, cur == start ? specs[start].id : "...");
        cli_error("%s: dependency cycle: %s", path, b.data);
        buf_release(&b);
        free(seen);
        rc = EXIT_USAGE;
    } else {
        struct task_spec *sorted = xcalloc(n + 1, sizeof(*sorted));
        for (size_t i = 0; i < n; i++)
            sorted[i] = specs[order[i]];
        memcpy(specs, sorted, n * sizeof(*specs));
        free(sorted);
    }
    free(order);
out:
    free(to);
    free(next);
    free(first);
    free(indeg);
    hmap_release(&byid);
    free(nodes);
    return rc;
}

/* A submission of one batch asks in its submit for the progress that
 * --wait reads (`wait`); a larger one sends a wait request after it. */
static bool submit_follows(size_t n)
{
    return n <= SUBMIT_BATCH;
}

/* Batch k: the first makes the call's job (named --job-name, or j-N), the
 * others join it (job, from the first reply). */
static void encode_batch(struct buf *b, struct task_spec *specs, size_t n, size_t k,
                         const char *job, const struct submit_flags *f)
{
    struct msg m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_SUBMIT;
    m.specs = specs + k * SUBMIT_BATCH;
    m.nspecs = MIN(n - k * SUBMIT_BATCH, SUBMIT_BATCH);
    m.job = k ? (char *)job : NULL;
    m.job_name = k ? NULL : (char *)f->job_name;
    m.throttle = f->throttle; /* the job's: every batch says it, the master checks */
    m.wait = f->wait && submit_follows(n);
    buf_reset(b);
    msg_encode(b, &m);
}

/*
 * Sends the specs in batches, SUBMIT_WINDOW in flight: the master parses
 * one while its journal writer commits another, and dispatches between
 * batches small enough to keep the workers fed. Replies come in order.
 * The first batch goes alone: its reply names the job (*job) the others
 * join, so one call makes one job. After a refused batch nothing more is
 * sent, but batches already on their way may still be accepted: their ids
 * are printed all the same (unless json: the caller prints them).
 */
static int send_batches(struct client *c, struct task_spec *specs, size_t n,
                        const struct submit_flags *f, char **job, char ***ids, size_t *nids)
{
    struct buf b = BUF_INIT;
    size_t nbatches = (n + SUBMIT_BATCH - 1) / SUBMIT_BATCH, sent = 0;
    int rc = 0;
    *ids = xcalloc(n + 1, sizeof(char *));
    for (size_t k = 0; k < nbatches; k++) {
        while (rc == 0 && sent < nbatches && sent < k + (*job ? SUBMIT_WINDOW : 1)) {
            encode_batch(&b, specs, n, sent, *job, f);
            if ((rc = client_send(c, &b)))
                break;
            sent++;
        }
        if (k >= sent)
            break;
        struct msg reply;
        int brc = client_expect(c, MSG_SUBMITTED, &reply);
        if (brc) {
            rc = rc ? rc : brc;
            continue;
        }
        if (!*job && reply.job)
            *job = xstrdup(reply.job);
        for (size_t i = 0; i < reply.nids; i++) {
            if (!f->json)
                printf("%s\n", reply.ids[i]);
            (*ids)[(*nids)++] = xstrdup(reply.ids[i]);
        }
        fflush(stdout);
        msg_release(&reply);
    }
    buf_release(&b);
    return rc;
}

int cmd_submit(int argc, char **argv)
{
    /* timeout_ms -1: not given (no timeout); 0 from the flag is refused. */
    struct submit_flags f = {
        .priority = TASK_DEFAULT_PRIORITY, .retries = TASK_DEFAULT_RETRIES, .timeout_ms = -1};
    const struct opt opts[] = {
        {"id", 0, OPT_STRING, &f.id, "ID", "task id (with --array: ID-INDEX)", 0, 0},
        {"priority", 'p', OPT_PRIORITY, &f.priority, "PRIO",
         "low, medium, high or an integer; higher runs first (default medium)", 0, 0},
        {"retries", 'r', OPT_INT, &f.retries, "N",
         "extra attempts after a failed first one (default 3)", 0, TASK_MAX_RETRIES},
        {"timeout", 't', OPT_DURATION, &f.timeout_ms, "DUR",
         "per-attempt time limit, at least 1ms (0 is refused: omit it for no timeout)", 0, 0},
        {"kind", 'k', OPT_STRING, &f.kind, "KIND",
         "exec (default), compute, transform, echo, sleep or noop", 0, 0},
        {"payload", 0, OPT_STRING, &f.payload, "JSON", "input of a built-in kind", 0, 0},
        {"cmd", 'c', OPT_STRING, &f.cmd, "CMD", "run CMD with /bin/sh -c instead of a program", 0,
         0},
        {"env", 'e', OPT_LIST, &f.env, "NAME=VALUE", "extra environment (repeatable)", 0, 0},
        {"cwd", 0, OPT_STRING, &f.cwd, "DIR", "working directory of the task", 0, 0},
        {"label", 'l', OPT_LIST, &f.labels, "KEY=VALUE",
         "a label (repeatable, at most 32; keys and values up to 256 bytes); 'dtr tasks --label' "
         "filters on them",
         0, 0},
        {"cpus", 0, OPT_STRING, &f.cpus, "N", "CPUs the task needs (default 1; 0.5 is allowed)", 0,
         0},
        {"mem", 0, OPT_STRING, &f.mem, "SIZE",
         "memory the task needs (512M, 2G; default: not accounted)", 0, 0},
        {"gpus", 0, OPT_STRING, &f.gpus, "N", "GPUs the task needs (default 0)", 0, 0},
        {"resource", 0, OPT_LIST, &f.resources, "NAME=N",
         "a named resource the task needs (repeatable, at most 8): license=1", 0, 0},
        {"array", 'a', OPT_STRING, &f.array, "SPEC",
         "one task per index: N, A-B, A-B:S (every S-th) or a list of them (1,5,9-12), then "
         "optionally %N: at most N of them running at once (1-1000%10); {} in the arguments "
         "becomes the index",
         0, 0},
        {"file", 'f', OPT_STRING, &f.file, "FILE", "tasks as JSON Lines ('-' for stdin)", 0, 0},
        {"after", 0, OPT_LIST, &f.after, "ID[,ID...]",
         "run only once these tasks have succeeded (repeatable)", 0, 0},
        {"after-any", 0, OPT_LIST, &f.after_any, "ID[,ID...]",
         "run only once these tasks have ended, however (repeatable)", 0, 0},
        {"job-name", 0, OPT_STRING, &f.job_name, "NAME",
         "name the job this call makes (default j-N); refused while a job of that name is kept", 0,
         0},
        {"json", 0, OPT_BOOL, &f.json, NULL, "print {\"job\": ID, \"tasks\": [IDS]} once stored", 0,
         0},
        {"wait", 'w', OPT_BOOL, &f.wait, NULL, "wait for the tasks to end (exit 1 if any failed)",
         0, 0},
        {"quiet", 'q', OPT_BOOL, &cli_quiet, NULL,
         "with --wait: no progress bar and no summary line (the ids are still printed)", 0, 0},
        CLIENT_OPTS(f.c),
        {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
    };
    char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
    int npos = 0, rc;
    struct task_spec *specs = NULL;
    size_t nspecs = 0, nids = 0;
    char **ids = NULL, *job = NULL;
    struct client c = {.fd = -1};
    rc = cli_parse("submit", "submit [OPTIONS] -- PROGRAM [ARGS...]",
                   "Submit tasks; prints their ids once the master has stored them.", opts, argc,
                   argv, OPTS_STOP_AT_POSITIONAL, pos, &npos, NULL);
    if (rc >= 0)
        goto out;
    rc = EXIT_USAGE;
    if (f.timeout_ms == 0) {
        /* The spec's rule (msg.h): "-t 0" never means "no timeout". */
        cli_error("--timeout " TIMEOUT_RULE);
        goto out;
    }
    if (f.timeout_ms < 0)
        f.timeout_ms = 0;
    if (cli_check_labels(&f.labels) || request_from_flags(&f))
        goto out;
    if (f.job_name && (!job_id_valid(f.job_name) || !job_name_free(f.job_name))) {
        cli_error("--job-name '%s' must be 1 to %d letters, digits, '.', '_' or '-', starting "
                  "with a letter or digit, and not j-N (the master's own ids)",
                  f.job_name, MSG_MAX_JOB);
        goto out;
    }
    if (f.file) {
        if (f.labels.len) {
            cli_error("--file takes the tasks from the file; give each its \"labels\" there "
                      "instead of --label");
            goto out;
        }
        if (f.has_req) {
            cli_error("--file takes the tasks from the file; give each its \"cpus\", \"mem\", "
                      "\"gpus\" or \"resources\" there instead");
            goto out;
        }
        if (npos || f.array || f.cmd || f.id) {
            cli_error("--file takes the tasks from the file; drop the program, --array, --cmd "
                      "and --id");
            goto out;
        }
        if ((rc = specs_from_file(f.file, &specs, &nspecs)))
            goto out;
        /* The flags add to each task's own lists (the master checks the ids). */
        for (size_t i = 0; i < nspecs && (f.after.len || f.after_any.len); i++) {
            struct task_spec *sp = &specs[i];
            rc = EXIT_USAGE;
            if (merge_ids(&sp->after, &sp->nafter, sp->after_any, sp->nafter_any, &f.after) ||
                merge_ids(&sp->after_any, &sp->nafter_any, sp->after, sp->nafter, &f.after_any))
                goto out;
            if (sp->nafter + sp->nafter_any > MSG_MAX_DEPS) {
                cli_error("task %zu of '%s' would depend on more than %d tasks", i + 1, f.file,
                          MSG_MAX_DEPS);
                goto out;
            }
            rc = 0;
        }
        if (nspecs > SUBMIT_BATCH && (rc = order_by_deps(f.file, specs, nspecs)))
            goto out;
    } else {
        bool exec = !f.kind || !strcmp(f.kind, "exec");
        if (exec && !npos && !f.cmd) {
            cli_error("nothing to run: give a program after '--', --cmd, --kind or --file "
                      "(see 'dtr submit --help')");
            goto out;
        }
        if (!exec && !f.payload)
            f.payload = "{}";
        int *index = NULL, throttle = 0;
        if (f.array && array_indices(f.array, &index, &nspecs, &throttle))
            goto out;
        f.throttle = (uint32_t)throttle;
        if (!f.array)
            nspecs = 1;
        specs = xcalloc(nspecs, sizeof(*specs));
        for (size_t i = 0; i < nspecs; i++) {
            char text[24];
            snprintf(text, sizeof(text), "%d", f.array ? index[i] : 0);
            if ((rc = spec_from_flags(&f, pos, npos, f.array ? text : NULL, &specs[i]))) {
                nspecs = i;
                free(index);
                goto out;
            }
        }
        free(index);
    }
    if ((rc = client_open(&c, &f.c)))
        goto out;
    rc = send_batches(&c, specs, nspecs, &f, &job, &ids, &nids);
    if (f.json && (nids || job)) {
        struct buf j = BUF_INIT;
        buf_addstr(&j, "{\"job\":");
        buf_add_json_cstr(&j, job);
        buf_addstr(&j, ",\"tasks\":[");
        for (size_t i = 0; i < nids; i++) {
            if (i)
                buf_addch(&j, ',');
            buf_add_json_cstr(&j, ids[i]);
        }
        buf_addstr(&j, "]}");
        printf("%s\n", j.data);
        fflush(stdout);
        buf_release(&j);
    }
    if (rc)
        goto out;
    if (f.wait) {
        cli_wait_json = f.json;
        rc = submit_follows(nspecs) ? cli_follow(&c, -1) : cli_wait(&c, ids, nids, false, NULL, -1);
    }
out:
    client_close(&c);
    for (size_t i = 0; i < nspecs; i++)
        spec_release(&specs[i]);
    free(specs);
    for (size_t i = 0; i < nids; i++)
        free(ids[i]);
    free(ids);
    free(job);
    free(pos);
    opt_list_release(&f.env);
    opt_list_release(&f.labels);
    opt_list_release(&f.resources);
    opt_list_release(&f.after);
    opt_list_release(&f.after_any);
    return rc;
}
