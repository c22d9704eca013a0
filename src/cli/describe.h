/* SPDX-License-Identifier: MIT */
/*
 * What the flag tables say about themselves: man pages (roff) and shell
 * completion are generated from the same struct opt tables that drive
 * parsing and --help, so none of them can drift from the others. A command
 * is described by running it with the describe hook set: its cli_parse()
 * hands the table to the hook and returns 0 before anything else runs.
 */
#ifndef DTR_CLI_DESCRIBE_H
#define DTR_CLI_DESCRIBE_H

#include <stdio.h>

#include "common/opts.h"

/* A subcommand as main() lists it. */
struct describe_cmd {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary; /* one line, lower case: "submit tasks" */
};

/* Set while describing: cli_parse() calls it and returns 0 without parsing. */
extern void (*cli_describe_hook)(const char *cmd, const char *usage, const char *summary,
                                 const struct opt *opts);

/*
 * `dtr __man [COMMAND]`: prints the roff source of dtr(1) (no COMMAND: the
 * command list) or dtr-COMMAND(1) (its flags from its table) to stdout;
 * `dtr __man --dir DIR` writes all of them as DIR/dtr.1, DIR/dtr-COMMAND.1
 * (the build does this). Returns 0, or 2 with an error printed.
 */
int describe_man_main(const struct describe_cmd *cmds, size_t ncmds, int argc, char **argv);
/*
 * `dtr __complete CWORD WORD...`: the bash completion helper. WORDs are
 * COMP_WORDS (WORD 0 is "dtr"), CWORD is COMP_CWORD. Prints the candidates
 * for the word at CWORD that start with it, one a line, or one directive
 * line the completion script acts on: "@files", "@dirs" or "@tasks" (task
 * ids from `dtr tasks`). Always returns 0.
 */
int describe_complete_main(const struct describe_cmd *cmds, size_t ncmds, int argc, char **argv);

#endif
