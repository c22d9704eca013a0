/* SPDX-License-Identifier: MIT */
/*
 * The subcommands. Each cmd_* takes the arguments after its name and
 * returns an enum cli_exit value, which main() turns into the exit status.
 */
#ifndef DTR_CLI_CLI_H
#define DTR_CLI_CLI_H

enum cli_exit {
    EXIT_SUCCESS_ = 0,
    EXIT_TASK_FAILED = 1, /* a task failed or was cancelled */
    EXIT_USAGE = 2,       /* bad command line */
    EXIT_UNREACHABLE = 3, /* cannot reach or authenticate with the master */
    EXIT_REFUSED = 4,     /* the master refused the request */
};

int cmd_master(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_tasks(int argc, char **argv);
int cmd_jobs(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_alloc(int argc, char **argv);
int cmd_group(int argc, char **argv);
/* The "group" object of a status reply, as dtr status and dtr group print it. */
void print_group(const char *group_json);
int cmd_result(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_wait(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_demo(int argc, char **argv);

#endif
