/* SPDX-License-Identifier: MIT */
/*
 * dtr: a distributed task runner. Global flags and subcommand dispatch; the
 * exit status of every command is decided here, from the command's return.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "cli/describe.h"
#include "dtr_build.h"
#include "worker/guard.h"

static const struct describe_cmd commands[] = {
    {"master", cmd_master, "run the master (queue, scheduler, journal)"},
    {"worker", cmd_worker, "run a worker that executes tasks"},
    {"submit", cmd_submit, "submit tasks"},
    {"status", cmd_status, "show workers and task counts"},
    {"tasks", cmd_tasks, "list tasks"},
    {"jobs", cmd_jobs, "list jobs (the tasks of each submit call)"},
    {"events", cmd_events, "print task and worker events as they happen"},
    {"result", cmd_result, "show a task's result"},
    {"logs", cmd_logs, "print a task's output; -f follows it live"},
    {"wait", cmd_wait, "wait until tasks end"},
    {"cancel", cmd_cancel, "cancel tasks"},
    {"alloc", cmd_alloc, "grow onto Slurm: queues of batch jobs that run workers"},
    {"group", cmd_group, "show a master group; add or remove a member"},
    {"demo", cmd_demo, "start a master and 3 workers and run the walk-through"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: dtr [--version] [--help] COMMAND [ARGS]\n\n"
               "Run many tasks across a pool of machines; nothing accepted is lost.\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'dtr help COMMAND' or 'dtr COMMAND --help' shows a command's flags.\n");
}

/* `dtr --version`: what a bug report needs: the version, the commit it was
 * built from ("unknown" from a tarball) and what the build can do. */
static void version(void)
{
    printf("dtr %s\n", DTR_VERSION);
    printf("commit: %s\n", DTR_GIT_COMMIT);
    printf("features: tls (OpenSSL %s)", DTR_OPENSSL_VERSION);
    if (DTR_SANITIZERS[0])
        printf(", sanitizers (%s)", DTR_SANITIZERS);
    printf("\nbuild: %s\n", DTR_BUILD_TYPE);
}

static const struct describe_cmd *find(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    config_set_commands(commands, NCOMMANDS);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        version();
        return 0;
    }
    if (!strcmp(cmd, "help")) {
        if (argc < 3) {
            usage(stdout);
            return 0;
        }
        const struct describe_cmd *c = find(argv[2]);
        if (!c) {
            fprintf(stderr, "dtr: unknown command '%s' (see 'dtr --help')\n", argv[2]);
            return EXIT_USAGE;
        }
        char *help[] = {(char *)"--help", NULL};
        return c->run(1, help);
    }
    /* Internal: the process that kills a dead worker's tasks (worker/guard.c);
     * not listed in the usage. */
    if (!strcmp(cmd, "__guard"))
        return guard_main(argc - 1, argv + 1);
    /* Internal: man pages (built by CMake) and the bash completion helper,
     * both from the flag tables (cli/describe.c). */
    if (!strcmp(cmd, "__man"))
        return describe_man_main(commands, NCOMMANDS, argc - 1, argv + 1);
    if (!strcmp(cmd, "__complete"))
        return describe_complete_main(commands, NCOMMANDS, argc - 1, argv + 1);
    if (cmd[0] == '-') {
        fprintf(stderr, "dtr: unknown flag '%s' (see 'dtr --help')\n", cmd);
        return EXIT_USAGE;
    }
    const struct describe_cmd *c = find(cmd);
    if (!c) {
        fprintf(stderr, "dtr: unknown command '%s' (see 'dtr --help')\n", cmd);
        return EXIT_USAGE;
    }
    return c->run(argc - 2, argv + 2);
}
