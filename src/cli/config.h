/* SPDX-License-Identifier: MIT */
/*
 * Config files: INI (parsed by inih) with one section per command whose keys
 * are the command's long flag names: [master], [worker], [client] for the
 * flags every client command shares (master, token-file, tls-*), and
 * [submit], [wait], ... for one client command's own flags. Values go
 * through the same flag table as the command line, so they are checked the
 * same way. Precedence: flags > environment (DTR_MASTER, DTR_TOKEN) > file.
 */
#ifndef DTR_CLI_CONFIG_H
#define DTR_CLI_CONFIG_H

#include <stddef.h>

#include "cli/describe.h"
#include "common/opts.h"

#define CONFIG_SYSTEM_PATH "/etc/dtr/dtr.conf"
#define CONFIG_HELP                                                                                \
    "read flag defaults from this INI file ('' for none; default " CONFIG_SYSTEM_PATH              \
    " then ~/.config/dtr/dtr.conf, or $DTR_CONFIG)"

/* The commands, so that a section naming another command is not an error. */
void config_set_commands(const struct describe_cmd *cmds, size_t ncmds);

/*
 * Before the command line is parsed: finds which files to read (the
 * "config" entry of `opts` as given in argv; else $DTR_CONFIG, "" meaning
 * none; else /etc/dtr/dtr.conf then $XDG_CONFIG_HOME or ~/.config/dtr/dtr.conf,
 * each if present) and sets the flags of `opts` (ended by a NULL name) from
 * their section(s) for `cmd`, a later file overriding an earlier one.
 * from_file[i] counts the list items opts[i] got from files (caller
 * provides one per entry, zeroed). A command line that does not parse
 * loads nothing (its parse reports the error). Returns 0, or DTR_EINVAL
 * with "FILE:LINE: what is wrong" in err.
 */
int config_load(const char *cmd, const struct opt *opts, int argc, char **argv, unsigned flags,
                size_t *from_file, char *err, size_t errlen);
/* After the command line is parsed: a list flag given there replaces the
 * files' items rather than adding to them. */
void config_finish(const struct opt *opts, const size_t *from_file);

#endif
