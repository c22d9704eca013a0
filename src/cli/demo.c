/* SPDX-License-Identifier: MIT */
/*
 * `dtr demo`: the original walk-through with real processes. Starts three
 * workers (failing 10-20% of attempts on purpose) and a master that finds
 * them by scanning their port range, submits 15 built-in tasks, waits,
 * prints the results and statistics, then stops the master and shows each
 * worker noticing and exiting with status 3.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/clock.h"
#include "common/parse.h"
#include "common/util.h"

#define NWORKERS 3
#define START_TIMEOUT_MS 10000

extern char **environ;

struct child {
    pid_t pid;
    int out; /* read end of its stdout */
    char addr[300];
    char name[32];
};

static struct child kids[NWORKERS + 1];
static int nkids;

static void kill_kids(void)
{
    for (int i = 0; i < nkids; i++)
        if (kids[i].pid > 0) {
            kill(kids[i].pid, SIGKILL);
            waitpid(kids[i].pid, NULL, 0);
            kids[i].pid = 0;
        }
}

/* Starts `dtr ARGS...` and reads its "listening on HOST:PORT" line. */
static int spawn_node(struct child *k, const char *name, const char *const args[])
{
    int fds[2];
    posix_spawn_file_actions_t fa;
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    int rc = posix_spawn(&k->pid, "/proc/self/exe", &fa, NULL, (char *const *)args, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        cli_error("cannot start %s: %s", name, strerror(rc));
        return -1;
    }
    snprintf(k->name, sizeof(k->name), "%s", name);
    k->out = fds[0];
    nkids++;
    char line[512];
    size_t len = 0;
    int64_t deadline = clock_mono_ms() + START_TIMEOUT_MS;
    while (len < sizeof(line) - 1) {
        struct pollfd p = {.fd = k->out, .events = POLLIN};
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t n = read(k->out, line + len, 1);
        if (n <= 0)
            break;
        if (line[len] == '\n') {
            line[len] = '\0';
            const char *at = strstr(line, " listening on ");
            if (!at)
                break;
            snprintf(k->addr, sizeof(k->addr), "%s", at + 14);
            printf("  %s\n", line);
            return 0;
        }
        len++;
    }
    cli_error("%s did not start (see logs/)", name);
    return -1;
}

static int wait_for_workers(struct client *c, int want)
{
    struct buf req = BUF_INIT;
    msg_encode(&req, &(struct msg){.type = MSG_STATUS});
    int64_t deadline = clock_mono_ms() + START_TIMEOUT_MS;
    int rc = -1;
    while (clock_mono_ms() < deadline) {
        struct msg reply;
        if (client_call(c, &req, MSG_STATUS, &reply) != 0)
            break;
        int n = (int)reply.nworkers;
        msg_release(&reply);
        if (n >= want) {
            rc = 0;
            break;
        }
        poll(NULL, 0, 100); /* bounded polling of an observable: the registry */
    }
    buf_release(&req);
    return rc;
}

struct demo_task {
    const char *id, *kind, *priority;
    char payload[128];
};

int cmd_demo(int argc, char **argv)
{
    const struct opt opts[] = {{NULL, 0, 0, NULL, NULL, NULL, 0, 0}};
    char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
    int npos = 0, rc;
    rc = cli_parse("demo", "demo",
                   "Start a master and 3 workers on loopback, run 15 tasks with injected "
                   "failures, then stop the master and watch the workers exit.",
                   opts, argc, argv, 0, pos, &npos, NULL);
    free(pos);
    if (rc >= 0)
        return rc;
    if (npos) {
        cli_error("demo takes no arguments");
        return EXIT_USAGE;
    }
    char state[] = "/tmp/dtr-demo-XXXXXX";
    if (!mkdtemp(state)) {
        cli_error("cannot create a temporary state dir: %s", strerror(errno));
        return 1;
    }
    struct client c = {.fd = -1};
    struct demo_task tasks[15];
    char *ids[15];
    struct msg m;
    struct buf b = BUF_INIT;
    int64_t t0 = clock_mono_ms();
    const char *rates[NWORKERS] = {"0.10", "0.15", "0.20"};
    rc = 1;

    printf("== starting 3 workers (dynamic ports in 5000-5100, failing 10-20%% on purpose)\n");
    int lo = 65535, hi = 0;
    for (int i = 0; i < NWORKERS; i++) {
        char id[16];
        snprintf(id, sizeof(id), "worker-%d", i + 1);
        /* A flag and its value a pair. */
        /* clang-format off */
        const char *args[] = {"dtr", "worker", "--id", id, "--slots", "2",
                              "--fail-rate", rates[i], "--master-timeout", "3s",
                              "--log-dir", "logs", "--port-range", "5000-5100", NULL};
        /* clang-format on */
        if (spawn_node(&kids[i], id, args) != 0)
            goto out;
        char host[ADDR_HOST_MAX];
        int port;
        if (addr_parse(kids[i].addr, host, sizeof(host), &port) == 0) {
            lo = MIN(lo, port);
            hi = MAX(hi, port);
        }
    }
    char discover[64];
    snprintf(discover, sizeof(discover), "127.0.0.1:%d-%d", lo, hi);
    printf("== starting the master; it discovers workers by scanning %s\n", discover);
    /* clang-format off */
    const char *margs[] = {"dtr", "master", "--port", "4999", "--state-dir", state,
                           "--log-dir", "logs", "--discover", discover,
                           "--scan-interval", "1s", "--heartbeat", "500ms", NULL};
    /* clang-format on */
    if (spawn_node(&kids[NWORKERS], "master", margs) != 0)
        goto out;
    struct client_flags cf = {.master = kids[NWORKERS].addr};
    if (client_open(&c, &cf) != 0)
        goto out;
    if (wait_for_workers(&c, NWORKERS) != 0) {
        cli_error("the master did not find all 3 workers within %ds", START_TIMEOUT_MS / 1000);
        goto out;
    }
    printf("  master registered all %d workers\n", NWORKERS);

    printf("== submitting 15 tasks: 10 compute (high/medium), 5 transform (low)\n");
    static const char *words[] = {"alpha", "bravo", "charlie", "delta", "echo"};
    struct task_spec specs[15];
    for (int i = 0; i < 15; i++) {
        struct demo_task *t = &tasks[i];
        char id[16];
        if (i < 10) {
            t->kind = "compute";
            t->priority = i < 5 ? "high" : "medium";
            snprintf(t->payload, sizeof(t->payload), "{\"numbers\":[%d,%d,%d,%d]}", i, i * 2, i * 3,
                     10 + i);
            snprintf(id, sizeof(id), "compute-%d", i + 1);
        } else {
            t->kind = "transform";
            t->priority = "low";
            snprintf(t->payload, sizeof(t->payload), "{\"data\":\"%s task %d\"}", words[i - 10],
                     i - 9);
            snprintf(id, sizeof(id), "transform-%d", i - 9);
        }
        ids[i] = xstrdup(id);
        t->id = ids[i];
        specs[i] = (struct task_spec){.id = ids[i], .payload = t->payload, .max_retries = 8};
        specs[i].kind = i < 10 ? KIND_COMPUTE : KIND_TRANSFORM;
        priority_parse(t->priority, &specs[i].priority);
    }
    msg_encode_submit(&b, specs, 15, NULL, NULL, 0, false);
    if (client_call(&c, &b, MSG_SUBMITTED, &m) != 0)
        goto out_ids;
    msg_release(&m);
    int wrc = cli_wait(&c, ids, 15, false, NULL, 60000);

    printf("\n== results\n%-12s %-10s %-7s %-10s %8s %-10s %s\n", "TASK", "KIND", "PRIO", "STATE",
           "ATTEMPTS", "WORKER", "RESULT");
    int attempts = 0, ok = 0;
    for (int i = 0; i < 15; i++) {
        buf_reset(&b);
        msg_encode(&b, &(struct msg){.type = MSG_GET, .id = ids[i]});
        if (client_call(&c, &b, MSG_TASK, &m) != 0)
            goto out_ids;
        printf("%-12s %-10s %-7s %-10s %8d %-10s %s\n", m.task.id, tasks[i].kind, tasks[i].priority,
               task_state_name(m.task.state), m.task.attempts, m.task.worker ? m.task.worker : "-",
               m.task.out.result ? m.task.out.result : "-");
        attempts += m.task.attempts;
        ok += m.task.state == TASK_SUCCEEDED;
        msg_release(&m);
    }
    buf_reset(&b);
    msg_encode(&b, &(struct msg){.type = MSG_STATUS});
    if (client_call(&c, &b, MSG_STATUS, &m) != 0)
        goto out_ids;
    printf("\n== statistics\n  tasks: 15, succeeded: %d, failed: %d\n", ok, 15 - ok);
    printf("  attempts: %d (%d retries after injected failures)\n", attempts, attempts - 15);
    for (size_t i = 0; i < m.nworkers; i++)
        printf("  %-10s %s  attempts finished: %" PRIu64 "\n", m.workers[i].id,
               m.workers[i].addr ? m.workers[i].addr : "-", m.workers[i].done);
    printf("  elapsed: %.2fs\n", (double)(clock_mono_ms() - t0) / 1000.0);
    msg_release(&m);
    client_close(&c);

    printf("\n== stopping the master; workers notice within their 3s master timeout\n");
    kill(kids[NWORKERS].pid, SIGTERM);
    int status = 0;
    waitpid(kids[NWORKERS].pid, &status, 0);
    kids[NWORKERS].pid = 0;
    printf("  master exited with status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    bool workers_ok = true;
    for (int i = 0; i < NWORKERS; i++) {
        int64_t deadline = clock_mono_ms() + 15000;
        pid_t got = 0;
        while ((got = waitpid(kids[i].pid, &status, WNOHANG)) == 0 && clock_mono_ms() < deadline)
            poll(NULL, 0, 50);
        if (got != kids[i].pid) {
            printf("  %s did not exit\n", kids[i].name);
            workers_ok = false;
            continue;
        }
        kids[i].pid = 0;
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        printf("  %s noticed the master was gone and exited with status %d\n", kids[i].name, code);
        workers_ok = workers_ok && code == 3;
    }
    printf("\nlogs: logs/master.log, logs/worker-1.log ... logs/worker-3.log\n");
    rc = (wrc == 0 && ok == 15 && workers_ok) ? 0 : 1;
out_ids:
    for (int i = 0; i < 15; i++)
        if (tasks[i].id == ids[i])
            free(ids[i]);
out:
    buf_release(&b);
    client_close(&c);
    kill_kids();
    for (int i = 0; i < nkids; i++)
        close(kids[i].out);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "%s/journal.db", state);
    unlink(cmd);
    return rc;
}
