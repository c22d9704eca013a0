/* SPDX-License-Identifier: MIT */
/*
 * Man pages and bash completion from the flag tables (see describe.h). The
 * roff is plain man(7) macros that `groff -ww -man` renders without a
 * warning; every text line starts with \& and every '-' and '\' is escaped,
 * so no help text can turn into a request. Nothing here talks to a master:
 * task ids are left to the completion script ("@tasks").
 */
#include "cli/describe.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

void (*cli_describe_hook)(const char *cmd, const char *usage, const char *summary,
                          const struct opt *opts);

/* ---- roff ------------------------------------------------------------------ */

/* Text for a roff text line or macro argument: '\' and '-' escaped. */
static void roff_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", f);
        else if (*s == '-')
            fputs("\\-", f);
        else if (*s == '\n')
            fputc(' ', f);
        else
            fputc(*s, f);
    }
}

/* One text line, safe whatever it starts with. */
static void roff_line(FILE *f, const char *s)
{
    fputs("\\&", f);
    roff_text(f, s);
    fputc('\n', f);
}

static void roff_upper(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '-')
            fputs("\\-", f);
        else
            fputc(*s >= 'a' && *s <= 'z' ? *s - 'a' + 'A' : *s, f);
    }
}

static void man_header(FILE *f, const char *page)
{
    fputs(".TH \"", f);
    roff_upper(f, page);
    fputs("\" 1 \"\" \"dtr " DTR_VERSION "\" \"dtr manual\"\n", f);
}

static bool has_flag(const struct opt *opts, const char *name)
{
    for (const struct opt *o = opts; o && o->name; o++)
        if (!strcmp(o->name, name))
            return true;
    return false;
}

static void man_env_item(FILE *f, const char *name, const char *text)
{
    fprintf(f, ".TP\n.B %s\n", name);
    roff_line(f, text);
}

static void man_exit_status(FILE *f)
{
    static const struct {
        int code;
        const char *text;
    } codes[] = {
        {EXIT_SUCCESS_, "success"},
        {EXIT_TASK_FAILED, "a task failed or was cancelled (wait, submit --wait)"},
        {EXIT_USAGE, "bad command line"},
        {EXIT_UNREACHABLE, "cannot reach or authenticate with the master"},
        {EXIT_REFUSED, "the master refused the request"},
    };
    fputs(".SH EXIT STATUS\n", f);
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        fprintf(f, ".TP\n.B %d\n", codes[i].code);
        roff_line(f, codes[i].text);
    }
}

/* FILES: where the config file is looked for and which sections apply. */
static void man_files(FILE *f, const char *cmd)
{
    char text[400];
    bool client = strcmp(cmd, "master") != 0 && strcmp(cmd, "worker") != 0;

    fputs(".SH FILES\n.TP\n.B /etc/dtr/dtr.conf\n.TQ\n.B ~/.config/dtr/dtr.conf\n", f);
    if (client)
        snprintf(text, sizeof(text),
                 "flag defaults, read in this order when present (~/.config is "
                 "$XDG_CONFIG_HOME when set): INI, sections [client] (master, token-file, "
                 "tls-cert, tls-key, tls-ca) and [%s], keys the long flag names. Flags win "
                 "over the environment, the environment over the files.",
                 cmd);
    else
        snprintf(text, sizeof(text),
                 "flag defaults, read in this order when present (~/.config is "
                 "$XDG_CONFIG_HOME when set): INI, section [%s], keys the long flag names. "
                 "Flags win over the environment, the environment over the files.",
                 cmd);
    roff_line(f, text);
}

/* The command whose page is being written, for the hook. */
static struct {
    FILE *f;
    const struct describe_cmd *cmd;
    bool done;
} man;

static void man_hook(const char *cmd, const char *usage, const char *summary,
                     const struct opt *opts)
{
    FILE *f = man.f;
    char page[64];

    snprintf(page, sizeof(page), "dtr-%s", cmd);
    man_header(f, page);
    fputs(".SH NAME\n", f);
    fputs("\\&", f);
    roff_text(f, page);
    fputs(" \\- ", f);
    roff_text(f, man.cmd->summary);
    fputs("\n.SH SYNOPSIS\n\\fBdtr ", f);
    roff_text(f, cmd);
    fputs("\\fR", f);
    /* usage starts with the command's name */
    if (usage && !strncmp(usage, cmd, strlen(cmd)))
        roff_text(f, usage + strlen(cmd));
    fputs("\n.SH DESCRIPTION\n", f);
    roff_line(f, summary ? summary : man.cmd->summary);
    fputs(".SH OPTIONS\n", f);
    for (const struct opt *o = opts; o && o->name; o++) {
        fputs(".TP\n", f);
        if (o->short_name)
            fprintf(f, "\\fB\\-%c\\fR, ", o->short_name);
        fputs("\\fB\\-\\-", f);
        roff_text(f, o->name);
        fputs("\\fR", f);
        if (o->type != OPT_BOOL && o->arg) {
            fputs(" \\fI", f);
            roff_text(f, o->arg);
            fputs("\\fR", f);
        }
        fputc('\n', f);
        roff_line(f, o->help ? o->help : "");
    }
    fputs(".TP\n\\fB\\-h\\fR, \\fB\\-\\-help\\fR\n\\&show this help\n", f);
    if (has_flag(opts, "master") || has_flag(opts, "token-file") || has_flag(opts, "config")) {
        fputs(".SH ENVIRONMENT\n", f);
        if (has_flag(opts, "master") && strcmp(cmd, "worker") != 0)
            man_env_item(f, "DTR_MASTER",
                         "the master's HOST:PORT (or a master group's A,B,C) when --master is "
                         "not given");
        if (has_flag(opts, "token-file"))
            man_env_item(f, "DTR_TOKEN", "the shared secret when --token-file is not given");
        if (has_flag(opts, "config"))
            man_env_item(f, "DTR_CONFIG",
                         "the config file when --config is not given; set but empty: none");
    }
    if (has_flag(opts, "config"))
        man_files(f, cmd);
    man_exit_status(f);
    fputs(".SH SEE ALSO\n.BR dtr (1)\n", f);
    man.done = true;
}

static int man_index(FILE *f, const struct describe_cmd *cmds, size_t ncmds)
{
    man_header(f, "dtr");
    fputs(".SH NAME\n\\&dtr \\- a distributed task runner\n", f);
    fputs(".SH SYNOPSIS\n\\fBdtr\\fR [\\-\\-version] [\\-\\-help] \\fICOMMAND\\fR "
          "[\\fIARGS\\fR]\n",
          f);
    fputs(".SH DESCRIPTION\n", f);
    roff_line(f, "Run many tasks across a pool of machines; nothing accepted is lost. "
                 "One master queues, schedules and journals tasks; workers run them; the "
                 "other commands are clients of the master.");
    fputs(".PP\n", f);
    roff_line(f, "'dtr help COMMAND' or 'dtr COMMAND --help' shows a command's flags; "
                 "'dtr --version' prints the version, the git commit and the features.");
    fputs(".SH COMMANDS\n", f);
    for (size_t i = 0; i < ncmds; i++) {
        fprintf(f, ".TP\n.BR dtr\\-%s (1)\n", cmds[i].name);
        roff_line(f, cmds[i].summary);
    }
    fputs(".SH ENVIRONMENT\n", f);
    man_env_item(f, "DTR_MASTER",
                 "the master's HOST:PORT (or a master group's A,B,C) for the client commands");
    man_env_item(f, "DTR_TOKEN", "the shared secret when --token-file is not given");
    man_env_item(f, "DTR_CONFIG",
                 "the config file when --config is not given; set but empty: none");
    fputs(".SH FILES\n.TP\n.B /etc/dtr/dtr.conf\n.TQ\n.B ~/.config/dtr/dtr.conf\n", f);
    roff_line(f, "flag defaults (INI, a section per command, keys the long flag names); see "
                 "the FILES section of each command's page");
    man_exit_status(f);
    fputs(".SH SEE ALSO\n", f);
    for (size_t i = 0; i < ncmds; i++)
        fprintf(f, ".BR dtr\\-%s (1)%s\n", cmds[i].name, i + 1 < ncmds ? "," : "");
    return 0;
}

static const struct describe_cmd *find_cmd(const struct describe_cmd *cmds, size_t ncmds,
                                           const char *name)
{
    for (size_t i = 0; i < ncmds; i++)
        if (!strcmp(cmds[i].name, name))
            return &cmds[i];
    return NULL;
}

/* Runs the command with the hook set: its cli_parse() calls the hook. */
static void describe_run(const struct describe_cmd *c,
                         void (*hook)(const char *, const char *, const char *, const struct opt *))
{
    char *argv[] = {NULL};
    cli_describe_hook = hook;
    c->run(0, argv);
    cli_describe_hook = NULL;
}

static int man_page(FILE *f, const struct describe_cmd *c)
{
    man.f = f;
    man.cmd = c;
    man.done = false;
    describe_run(c, man_hook);
    if (!man.done) {
        /* A command that parses its own arguments: a page without flags,
         * so that one such command does not stop the build. */
        fprintf(stderr, "dtr __man: command '%s' does not describe its flags (cli_parse)\n",
                c->name);
        const struct opt none[] = {{NULL, 0, 0, NULL, NULL, NULL, 0, 0}};
        char usage[128];
        snprintf(usage, sizeof(usage), "%s [ARGS]", c->name);
        man_hook(c->name, usage, c->summary, none);
    }
    return 0;
}

/* Writes DIR/dtr.1 and DIR/dtr-COMMAND.1 for every command. */
static int man_dir(const struct describe_cmd *cmds, size_t ncmds, const char *dir)
{
    char path[4096];
    int rc = 0;
    for (size_t i = 0; i <= ncmds && rc == 0; i++) {
        if (i == ncmds)
            snprintf(path, sizeof(path), "%s/dtr.1", dir);
        else
            snprintf(path, sizeof(path), "%s/dtr-%s.1", dir, cmds[i].name);
        FILE *f = fopen(path, "we");
        if (!f) {
            fprintf(stderr, "dtr __man: cannot write '%s': %s\n", path, strerror(errno));
            return EXIT_USAGE;
        }
        rc = i == ncmds ? man_index(f, cmds, ncmds) : man_page(f, &cmds[i]);
        if (fclose(f) != 0 && rc == 0) {
            fprintf(stderr, "dtr __man: cannot write '%s': %s\n", path, strerror(errno));
            rc = EXIT_USAGE;
        }
    }
    return rc;
}

int describe_man_main(const struct describe_cmd *cmds, size_t ncmds, int argc, char **argv)
{
    if (argc < 2)
        return man_index(stdout, cmds, ncmds);
    if (!strcmp(argv[1], "--dir") && argc == 3)
        return man_dir(cmds, ncmds, argv[2]);
    const struct describe_cmd *c = find_cmd(cmds, ncmds, argv[1]);
    if (!c) {
        fprintf(stderr, "dtr __man: unknown command '%s'\n", argv[1]);
        return EXIT_USAGE;
    }
    return man_page(stdout, c);
}

/* ---- completion -------------------------------------------------------------- */

static struct {
    char **words;
    int nwords, cword;
    const char *cur;
} comp;

static void candidate(const char *prefix, const char *word)
{
    size_t plen = strlen(prefix), clen = strlen(comp.cur);
    size_t n = clen < plen ? clen : plen;

    /* prefix + word must start with cur */
    if (strncmp(prefix, comp.cur, n) != 0)
        return;
    if (clen > plen && strncmp(word, comp.cur + plen, clen - plen) != 0)
        return;
    printf("%s%s\n", prefix, word);
}

/* Flags whose value is a task id, and commands whose arguments are. */
static bool takes_task_ids(const char *flag)
{
    return !strcmp(flag, "after") || !strcmp(flag, "after-any");
}

static const struct opt *find_long(const struct opt *opts, const char *word)
{
    if (strncmp(word, "--", 2) != 0)
        return NULL;
    for (const struct opt *o = opts; o && o->name; o++)
        if (!strcmp(o->name, word + 2))
            return o;
    return NULL;
}

static const struct opt *find_short(const struct opt *opts, const char *word)
{
    if (word[0] != '-' || !word[1] || word[2])
        return NULL;
    for (const struct opt *o = opts; o && o->name; o++)
        if (o->short_name == word[1])
            return o;
    return NULL;
}

static void complete_value(const struct opt *o)
{
    if (takes_task_ids(o->name))
        puts("@tasks");
    else if (o->arg && (!strcmp(o->arg, "FILE") || !strcmp(o->arg, "FILE.jsonl")))
        puts("@files");
    else if (o->arg && !strcmp(o->arg, "DIR"))
        puts("@dirs");
    /* Other values (numbers, durations, addresses) have no candidates. */
}

static void complete_hook(const char *cmd, const char *usage, const char *summary,
                          const struct opt *opts)
{
    (void)usage;
    (void)summary;
    bool ended = false; /* after "--" or submit's program: no more flags */
    int npos = 0;

    /* Walk the words before the cursor as opts_parse() would. */
    for (int i = 2; i < comp.cword; i++) {
        const char *w = comp.words[i];
        const struct opt *o;
        if (ended) {
            npos++;
            continue;
        }
        if (!strcmp(w, "--")) {
            ended = true;
            continue;
        }
        if (w[0] != '-' || !w[1]) {
            npos++;
            if (!strcmp(cmd, "submit"))
                ended = true;
            continue;
        }
        o = find_long(opts, w);
        if (!o)
            o = find_short(opts, w);
        if (o && o->type != OPT_BOOL && !strchr(w, '=')) {
            if (i + 1 == comp.cword) {
                complete_value(o);
                return;
            }
            i++;
        }
    }
    if (ended) {
        /* submit's program and its arguments, or words after "--". */
        if (!strcmp(cmd, "submit"))
            puts("@files");
        return;
    }
    if (comp.cur[0] == '-') {
        for (const struct opt *o = opts; o && o->name; o++)
            candidate("--", o->name);
        candidate("", "--help");
        if (!strcmp(cmd, "submit"))
            candidate("", "--");
        return;
    }
    /* result and logs take one task id; wait and cancel any number. */
    bool one = !strcmp(cmd, "result") || !strcmp(cmd, "logs");
    if (one || !strcmp(cmd, "wait") || !strcmp(cmd, "cancel")) {
        if (!one || npos == 0)
            puts("@tasks");
        return;
    }
    if (!strcmp(cmd, "submit"))
        puts("@files");
}

int describe_complete_main(const struct describe_cmd *cmds, size_t ncmds, int argc, char **argv)
{
    /* argv: "__complete" CWORD WORD... */
    if (argc < 3)
        return 0;
    char *end;
    long cword = strtol(argv[1], &end, 10);
    comp.words = argv + 2;
    comp.nwords = argc - 2;
    if (*end || cword < 1 || cword > comp.nwords)
        return 0;
    comp.cword = (int)cword;
    comp.cur = cword < comp.nwords ? comp.words[cword] : "";
    if (cword == 1) {
        for (size_t i = 0; i < ncmds; i++)
            candidate("", cmds[i].name);
        candidate("", "help");
        candidate("", "--help");
        candidate("", "--version");
        return 0;
    }
    const char *name = comp.words[1];
    if (!strcmp(name, "help")) {
        if (cword == 2)
            for (size_t i = 0; i < ncmds; i++)
                candidate("", cmds[i].name);
        return 0;
    }
    const struct describe_cmd *c = find_cmd(cmds, ncmds, name);
    if (c)
        describe_run(c, complete_hook);
    return 0;
}
