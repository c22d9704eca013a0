/* SPDX-License-Identifier: MIT */
/* `dtr status`: the workers and the task counts, as a table or one JSON object. */
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/clock.h"
#include "common/util.h"

/* "    cpus 1/4, mem 0/8G, gpus 1/2, license 0/1": in use of its total. */
static void print_resources(const struct worker_info *w)
{
    char a[32], b[32];
    res_format_cpus(w->used.cpus_milli, a, sizeof(a));
    res_format_cpus(w->total.cpus_milli, b, sizeof(b));
    printf("    cpus %s/%s", a, b);
    if (w->total.mem || w->used.mem) {
        res_format_size(w->used.mem, a, sizeof(a));
        res_format_size(w->total.mem, b, sizeof(b));
        printf(", mem %s/%s", a, b);
    }
    if (w->total.gpus || w->used.gpus)
        printf(", gpus %" PRId64 "/%" PRId64, w->used.gpus, w->total.gpus);
    for (int i = 0; i < w->total.nnamed; i++) {
        int64_t used = 0;
        for (int k = 0; k < w->used.nnamed; k++)
            if (!strcmp(w->used.named[k].name, w->total.named[i].name))
                used = w->used.named[k].n;
        printf(", %s %" PRId64 "/%" PRId64, w->total.named[i].name, used, w->total.named[i].n);
    }
    printf("\n");
}

/* The allocation queues (dtr alloc), when there are any: their Slurm jobs
 * and the workers those started. */
static void print_allocs(const struct msg *allocs, const struct msg *st)
{
    if (!allocs->nallocs)
        return;
    printf("\n%-6s %-6s %12s %12s %8s %s\n", "ALLOC", "KIND", "JOBS PENDING", "JOBS RUNNING",
           "WORKERS", "LAST ERROR");
    for (size_t i = 0; i < allocs->nallocs; i++) {
        const struct alloc_info *a = &allocs->allocs[i];
        size_t workers = 0;
        for (size_t k = 0; k < st->nworkers; k++)
            workers += alloc_worker_of(st->workers[k].id, a->id);
        printf("%-6s %-6s %12" PRIu64 " %12" PRIu64 " %8zu %s\n", a->id,
               a->kind ? a->kind : "slurm", a->pending, a->running, workers,
               a->last_error ? a->last_error : "-");
    }
}

/* The group's members, from the master's "group" object (also dtr group's). */
void print_group(const char *text)
{
    json_object *g = json_tokener_parse(text), *v, *members;
    if (!g)
        return;
    int64_t leader = json_object_object_get_ex(g, "leader", &v) ? json_object_get_int64(v) : 0;
    int64_t term = json_object_object_get_ex(g, "term", &v) ? json_object_get_int64(v) : 0;
    printf("group: leader %" PRId64 ", term %" PRId64 "\n", leader, term);
    if (json_object_object_get_ex(g, "members", &members) &&
        json_object_is_type(members, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(members); i++) {
            json_object *m = json_object_array_get_idx(members, i), *id, *addr, *role, *lag;
            if (!json_object_object_get_ex(m, "id", &id) ||
                !json_object_object_get_ex(m, "addr", &addr) ||
                !json_object_object_get_ex(m, "role", &role))
                continue;
            printf("  member %-4" PRId64 " %-22s %-8s", json_object_get_int64(id),
                   json_object_get_string(addr), json_object_get_string(role));
            if (json_object_object_get_ex(m, "lag", &lag))
                printf(" lag %" PRId64 " entries", json_object_get_int64(lag));
            printf("\n");
        }
    }
    json_object_put(g);
}

int cmd_status(int argc, char **argv)
{
    struct client_flags cf = {0};
    bool json = false;
    const struct opt opts[] = {
        {"json", 0, OPT_BOOL, &json, NULL, "print one JSON object", 0, 0},
        CLIENT_OPTS(cf),
        {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
    };
    char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
    int npos = 0;
    struct client c = {.fd = -1};
    struct msg reply, allocs;
    struct buf b = BUF_INIT;
    int rc = cli_parse("status", "status [--json]", "Show the workers and task counts.", opts, argc,
                       argv, 0, pos, &npos, NULL);
    if (rc >= 0)
        goto out;
    if (npos) {
        cli_error("status takes no arguments (got '%s')", pos[0]);
        rc = EXIT_USAGE;
        goto out;
    }
    if ((rc = client_open(&c, &cf)))
        goto out;
    msg_encode(&b, &(struct msg){.type = MSG_STATUS});
    if ((rc = client_call(&c, &b, MSG_STATUS, &reply)))
        goto out;
    /* the allocation queues, second request on the same connection */
    buf_reset(&b);
    msg_encode(&b, &(struct msg){.type = MSG_ALLOC, .op = (char *)"list"});
    if ((rc = client_call(&c, &b, MSG_ALLOCS, &allocs))) {
        msg_release(&reply);
        goto out;
    }
    if (json) {
        /* {"allocs":[...], then the status object's fields: what GET
         * /api/v1/status answers (handlers_status) */
        struct buf st = BUF_INIT;
        status_encode(&st, reply.workers, reply.nworkers, reply.counts, reply.jobs_active,
                      reply.jobs_ended, reply.unschedulable);
        buf_reset(&b);
        buf_addstr(&b, "{\"allocs\":");
        alloc_view_encode(&b, allocs.allocs, allocs.nallocs, reply.workers, reply.nworkers);
        if (reply.group_json) /* the group goes last in the object */
            st.data[st.len - 1] = '\0';
        printf("%s,%s", b.data, st.data + 1);
        if (reply.group_json)
            printf(",\"group\":%s}", reply.group_json);
        printf("\n");
        buf_release(&st);
    } else {
        int64_t now = clock_wall_ms();
        printf("master %s\n\n", c.addr);
        printf("%-24s %-22s %5s %7s %8s %s\n", "WORKER", "ADDRESS", "SLOTS", "RUNNING", "DONE",
               "LAST SEEN");
        for (size_t i = 0; i < reply.nworkers; i++) {
            struct worker_info *w = &reply.workers[i];
            printf("%-24s %-22s %5d %7d %8" PRIu64 " %.1fs ago%s\n", w->id, w->addr ? w->addr : "-",
                   w->slots, w->running, w->done, (double)(now - w->last_seen) / 1000.0,
                   w->draining ? " (draining)" : "");
            if (w->has_res)
                print_resources(w);
        }
        if (!reply.nworkers)
            printf("(no workers)\n");
        printf("\ntasks:");
        for (size_t i = 0; i < TASK_NSTATES; i++)
            printf("%s %s %" PRIu64, i ? "," : "", task_state_name(cli_state_order[i]),
                   reply.counts[cli_state_order[i]]);
        if (reply.unschedulable)
            printf(" (%" PRIu64 " queued fit no worker: see 'dtr tasks --state queued')",
                   reply.unschedulable);
        printf("\njobs: active %" PRIu64 ", ended %" PRIu64 "\n", reply.jobs_active,
               reply.jobs_ended);
        print_allocs(&allocs, &reply);
        if (reply.group_json) {
            printf("\n");
            print_group(reply.group_json);
        }
    }
    msg_release(&allocs);
    msg_release(&reply);
out:
    buf_release(&b);
    client_close(&c);
    free(pos);
    return rc;
}
