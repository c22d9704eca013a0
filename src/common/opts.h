/* SPDX-License-Identifier: MIT */
/*
 * Command-line flags, declared once per subcommand as a table: name, type,
 * destination and help. The same table drives parsing, validation and the
 * --help text (Redis's config.c idea).
 */
#ifndef DTR_COMMON_OPTS_H
#define DTR_COMMON_OPTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum opt_type {
    OPT_BOOL,     /* bool *; takes no value */
    OPT_STRING,   /* const char **; last one wins */
    OPT_LIST,     /* struct opt_list *; repeatable */
    OPT_INT,      /* int64_t *; bounded by min/max */
    OPT_DOUBLE,   /* double *; bounded by min/max */
    OPT_DURATION, /* int64_t * milliseconds */
    OPT_PRIORITY, /* int64_t * */
};

struct opt_list {
    const char **items;
    size_t len;
};

struct opt {
    const char *name; /* long name without dashes: "port" for --port */
    char short_name;  /* 0 when none */
    enum opt_type type;
    void *dst;
    const char *arg;  /* value placeholder for help ("N", "DUR"); NULL for bools */
    const char *help; /* one line; mention the default */
    double min, max;  /* for OPT_INT and OPT_DOUBLE; both 0 = unbounded */
};

enum opts_flags {
    OPTS_STOP_AT_POSITIONAL = 1, /* the first non-flag ends the flags (submit PROG ARGS) */
};

/*
 * Parses argv[0..argc) (argv[0] is the first argument after the subcommand
 * name). Accepts "--name value", "--name=value", "-x value" and "--" which
 * ends the flags. Positional arguments are collected, in order, into
 * pos[] (caller provides room for argc entries) and counted in *npos.
 * "--help"/"-h" return 1 (print help, exit 0). Returns 0 on success, or
 * DTR_EINVAL with one line in err naming the flag and what is wrong
 * ("unknown flag '--foo'", "--port: '99999' is out of range 1..65535").
 * Sets *dashdash to the index in pos[] of the first argument after "--", or
 * -1 when there was none (dashdash may be NULL).
 */
int opts_parse(const struct opt *opts, int argc, char **argv, unsigned flags, char **pos, int *npos,
               int *dashdash, char *err, size_t errlen);
/* Prints "usage: dtr USAGE", the summary, then one line per flag. */
void opts_usage(FILE *f, const char *usage, const char *summary, const struct opt *opts);
void opt_list_release(struct opt_list *l);
/*
 * Sets one flag from a text value, as opts_parse() would from "--name=value"
 * (a config file's "name = value"). A bool takes true/yes/on/1 or
 * false/no/off/0. The value is kept by pointer for strings and lists: it
 * must outlive the flag's use. Returns 0, or DTR_EINVAL with the error in
 * err ("--port: 'x' is not an integer").
 */
int opts_set(const struct opt *o, const char *value, char *err, size_t errlen);

#endif
