/* SPDX-License-Identifier: MIT */
/* `dtr master` and `dtr worker`: their flag tables, and the hand-off to the node. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/parse.h"
#include "common/util.h"
#include "master/master.h"
#include "net/tls.h"
#include "sched/resources.h"
#include "worker/worker.h"

int cmd_master(int argc, char **argv)
{
    struct master_opts o = {
        .host = "127.0.0.1",
        .port = 4999,
        .state_dir = ".dtr",
        .log_dir = "logs",
        .scan_interval_ms = 5000,
        .heartbeat_ms = -1,      /* not given: scaled with the pool (workers.c) */
        .worker_timeout_ms = -1, /* not given: 5s, or 3 beats if they are longer */
        .keep_finished_ms = 7LL * 24 * 3600 * 1000,
        .prefetch = -1,
        .max_output = 64LL << 20,
    };
    const char *max_output = NULL;
    const struct opt opts[] = {
        {"host", 0, OPT_STRING, &o.host, "HOST", "address to listen on (default 127.0.0.1)", 0, 0},
        {"port", 0, OPT_INT, &o.port, "PORT",
         "first port to try; the next 99 are tried too (default 4999)", 1, 65535},
        {"state-dir", 0, OPT_STRING, &o.state_dir, "DIR",
         "journal and master.addr live here (default .dtr)", 0, 0},
        {"log-dir", 0, OPT_STRING, &o.log_dir, "DIR", "master.log goes here (default logs)", 0, 0},
        {"discover", 0, OPT_LIST, &o.discover, "HOST:LO-HI",
         "scan these ports for workers (repeatable)", 0, 0},
        {"scan-interval", 0, OPT_DURATION, &o.scan_interval_ms, "DUR",
         "time between discovery scans (default 5s)", 0, 0},
        {"heartbeat", 0, OPT_DURATION, &o.heartbeat_ms, "DUR",
         "how often each worker beats (default 1s, longer past 2,000 workers: see "
         "README)",
         0, 0},
        {"worker-timeout", 0, OPT_DURATION, &o.worker_timeout_ms, "DUR",
         "a worker silent this long is declared dead (default 5s, or 3 of its beats "
         "if they are longer)",
         0, 0},
        {"keep-finished", 0, OPT_DURATION, &o.keep_finished_ms, "DUR",
         "how long finished tasks stay queryable (default 7d = 168h)", 0, 0},
        {"token-file", 0, OPT_STRING, &o.token_file, "FILE",
         "shared secret every peer must prove (default: $DTR_TOKEN)", 0, 0},
        TLS_OPTS(o.tls_cert, o.tls_key, o.tls_ca),
        {"journal-in-memory", 0, OPT_BOOL, &o.in_memory, NULL,
         "keep the journal in memory: nothing survives a restart (benchmarks)", 0, 0},
        {"insecure", 0, OPT_BOOL, &o.insecure, NULL,
         "allow listening beyond loopback without a token", 0, 0},
        {"prefetch", 0, OPT_INT, &o.prefetch, "N",
         "lease N tasks per worker beyond its slots, so a freed slot need not wait "
         "for the master; such tasks show as running, and one that comes first takes "
         "the place of those not started (default: sized per worker from its task "
         "durations, at most its slots or 64, whichever is more; 0: none)",
         0, 100000},
        {"output-dir", 0, OPT_STRING, &o.output_dir, "DIR",
         "tasks' stdout and stderr files go here (default STATE_DIR/output)", 0, 0},
        {"max-output", 0, OPT_STRING, &max_output, "SIZE",
         "bytes of output kept per attempt, stdout and stderr together (64M, 1G, or bytes); "
         "the rest is dropped and the attempt marked truncated (default 64M)",
         0, 0},
        {"verbose", 'v', OPT_BOOL, &o.verbose, NULL, "log every task event (DEBUG lines)", 0, 0},
        {"http", 0, OPT_STRING, &o.http, "HOST:PORT",
         "serve the HTTP API and /metrics here; the next 99 ports are tried too; off: none "
         "(default 127.0.0.1:8999)",
         0, 0},
        {"metrics-open", 0, OPT_BOOL, &o.metrics_open, NULL,
         "serve /metrics without the token (the API still needs it)", 0, 0},
        {"group", 0, OPT_STRING, &o.group, "ID@HOST:PORT,...",
         "run as one member of a master group: every member's id and replication address "
         "(see README, \"Running a master group\")",
         0, 0},
        {"group-id", 0, OPT_STRING, &o.group_id, "ID", "this member's id in --group", 0, 0},
        {"group-join", 0, OPT_BOOL, &o.group_join, NULL,
         "join a running group: start empty and wait to be added (dtr group add)", 0, 0},
        {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
    };
    char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
    int npos = 0;
    int rc = cli_parse("master", "master [OPTIONS]",
                       "Run the master: queue, schedule and journal tasks for the workers.", opts,
                       argc, argv, 0, pos, &npos, NULL);
    if (rc >= 0)
        goto out;
    rc = EXIT_USAGE;
    if (npos) {
        fprintf(stderr, "dtr master: unexpected argument '%s'\n", pos[0]);
        goto out;
    }
    for (size_t i = 0; i < o.discover.len; i++) {
        char host[ADDR_HOST_MAX];
        int lo, hi;
        if (addr_range_parse(o.discover.items[i], host, sizeof(host), &lo, &hi)) {
            fprintf(stderr, "dtr master: --discover '%s' must be HOST:LO-HI\n",
                    o.discover.items[i]);
            goto out;
        }
    }
    bool tls_on;
    char err[300];
    if (tls_flags_check(o.tls_cert, o.tls_key, o.tls_ca, &tls_on, err, sizeof(err))) {
        fprintf(stderr, "dtr master: %s\n", err);
        goto out;
    }
    if (max_output && res_parse_size(max_output, "--max-output", &o.max_output, err, sizeof(err))) {
        fprintf(stderr, "dtr master: %s\n", err);
        goto out;
    }
    if (!o.heartbeat_ms || !o.worker_timeout_ms || o.scan_interval_ms <= 0) {
        fprintf(stderr, "dtr master: --heartbeat, --worker-timeout and --scan-interval must be "
                        "positive\n");
        goto out;
    }
    if (o.heartbeat_ms != -1 &&
        (o.heartbeat_ms < MSG_MIN_HEARTBEAT_MS || o.heartbeat_ms > MSG_MAX_HEARTBEAT_MS)) {
        fprintf(stderr, "dtr master: --heartbeat must be between %dms and %dh\n",
                MSG_MIN_HEARTBEAT_MS, MSG_MAX_HEARTBEAT_MS / 3600000);
        goto out;
    }
    if ((o.group || o.group_id || o.group_join) &&
        group_parse(o.group ? o.group : "", o.group_id, &o.group_config, err, sizeof(err))) {
        fprintf(stderr, "dtr master: %s\n", err);
        goto out;
    }
    o.group_config.join = o.group_join;
    if (o.group && o.in_memory) {
        fprintf(stderr, "dtr master: --group needs a journal on disk (not --journal-in-memory)\n");
        goto out;
    }
    o.heartbeat_ms = MAX(o.heartbeat_ms, 0); /* 0: automatic */
    o.worker_timeout_ms = MAX(o.worker_timeout_ms, 0);
    rc = master_run(&o);
out:
    opt_list_release(&o.discover);
    free(pos);
    return rc;
}

int cmd_worker(int argc, char **argv)
{
    struct opt_list named = {0};
    const char *max_output = NULL;
    struct worker_opts o = {
        .host = "127.0.0.1",
        .port_range = "5000-5100",
        .slots = 0, /* not given: the CPUs it offers (below) */
        .master_timeout_ms = 30000,
        .log_dir = "logs",
        .drain_timeout_ms = 30000,
        .max_output = 0,
    };
    const struct opt opts[] = {
        {"host", 0, OPT_STRING, &o.host, "HOST", "address to listen on (default 127.0.0.1)", 0, 0},
        {"port-range", 0, OPT_STRING, &o.port_range, "LO-HI",
         "bind the first free port in this range (default 5000-5100)", 0, 0},
        {"master", 0, OPT_STRING, &o.master, "HOST:PORT",
         "also dial this master, or a master group's A,B,C in turn, following the leader "
         "(reconnects with backoff)",
         0, 0},
        {"id", 0, OPT_STRING, &o.id, "ID", "worker id (default HOSTNAME-PID)", 0, 0},
        {"slots", 0, OPT_INT, &o.slots, "N",
         "most tasks run at once (default: the CPUs it offers, at most 1024)", 1, 1024},
        {"cpus", 0, OPT_STRING, &o.res.cpus, "N",
         "CPUs it offers (default: those it may use: its affinity mask and cgroup cpu.max; "
         "at least --slots)",
         0, 0},
        {"mem", 0, OPT_STRING, &o.res.mem, "SIZE",
         "memory it offers (512M, 64G; default: what is available, cgroup-aware)", 0, 0},
        {"gpus", 0, OPT_STRING, &o.res.gpus, "N|LIST",
         "GPUs it offers: a count or ids (0,1) (default: CUDA_VISIBLE_DEVICES, else "
         "/dev/nvidia[0-9]*)",
         0, 0},
        {"resource", 0, OPT_LIST, &named, "NAME=N",
         "a named resource it offers (repeatable, at most 8): license=1", 0, 0},
        {"pin", 0, OPT_BOOL, &o.pin, NULL, "pin each task to the CPU ids it was given", 0, 0},
        {"no-cgroups", 0, OPT_BOOL, &o.no_cgroups, NULL,
         "do not enforce tasks' --mem with cgroups (it is still accounted)", 0, 0},
        {"master-timeout", 0, OPT_DURATION, &o.master_timeout_ms, "DUR",
         "exit with status 3 after this long without word from a master (default 30s; 0 = "
         "never)",
         0, 0},
        {"log-dir", 0, OPT_STRING, &o.log_dir, "DIR", "worker-ID.log goes here (default logs)", 0,
         0},
        {"fail-rate", 0, OPT_DOUBLE, &o.fail_rate, "R",
         "fail this fraction of attempts on purpose (default 0)", 0, 1},
        {"drain-timeout", 0, OPT_DURATION, &o.drain_timeout_ms, "DUR",
         "on SIGTERM, wait this long for running tasks before killing them (default 30s)", 0, 0},
        {"max-output", 0, OPT_STRING, &max_output, "SIZE",
         "bytes of stdout and of stderr streamed to the master per attempt (64M, 1G, or "
         "bytes); the rest is dropped (default 0 = no limit here: the master's --max-output "
         "decides)",
         0, 0},
        {"token-file", 0, OPT_STRING, &o.token_file, "FILE",
         "shared secret every peer must prove (default: $DTR_TOKEN)", 0, 0},
        TLS_OPTS(o.tls_cert, o.tls_key, o.tls_ca),
        {"insecure", 0, OPT_BOOL, &o.insecure, NULL,
         "allow listening beyond loopback without a token", 0, 0},
        {"idle-timeout", 0, OPT_DURATION, &o.idle_timeout_ms, "DUR",
         "drain and exit after this long without tasks (default 0 = never)", 0, 0},
        {"lifetime", 0, OPT_DURATION, &o.lifetime_ms, "DUR",
         "drain and exit this long after starting, and start no task whose timeout would end "
         "later (a batch job's time limit; default 0 = none)",
         0, 0},
        {"verbose", 'v', OPT_BOOL, &o.verbose, NULL, "log every task event (DEBUG lines)", 0, 0},
        {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
    };
    char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
    int npos = 0;
    int rc = cli_parse("worker", "worker [OPTIONS]",
                       "Run a worker: wait to be found by a master (or dial one) and run its "
                       "tasks.",
                       opts, argc, argv, 0, pos, &npos, NULL);
    bool tls_on;
    char err[300];
    if (rc < 0 && npos) {
        fprintf(stderr, "dtr worker: unexpected argument '%s'\n", pos[0]);
        rc = EXIT_USAGE;
    } else if (rc < 0 &&
               tls_flags_check(o.tls_cert, o.tls_key, o.tls_ca, &tls_on, err, sizeof(err))) {
        fprintf(stderr, "dtr worker: %s\n", err);
        rc = EXIT_USAGE;
    } else if (rc < 0 && max_output &&
               res_parse_size(max_output, "--max-output", &o.max_output, err, sizeof(err))) {
        fprintf(stderr, "dtr worker: %s\n", err);
        rc = EXIT_USAGE;
    }
    free(pos);
    if (rc < 0) {
        o.res.slots = o.slots;
        o.res.named = (const char *const *)named.items;
        o.res.nnamed = named.len;
        if (!o.slots) {
            /* The CPUs it offers, whole, within the bounds of --slots. */
            struct wres probe;
            char e2[300];
            if (wres_init(&probe, &o.res, "", e2, sizeof(e2)) == 0)
                o.slots = MAX(1, MIN(1024, probe.total.cpus_milli / 1000));
            else
                o.slots = 1; /* worker_run() reports the error */
            wres_release(&probe);
        }
        rc = worker_run(&o);
    }
    opt_list_release(&named);
    return rc;
}
