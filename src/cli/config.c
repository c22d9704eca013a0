/* SPDX-License-Identifier: MIT */
/*
 * Config files (see config.h). inih reads the file; we count its lines in
 * our reader so every error names FILE:LINE, and refuse over-long lines
 * rather than let inih split them. Values are copied and kept until exit
 * (the flags point at them). The environment wins over a file: a key whose
 * variable is set (DTR_MASTER for clients, DTR_TOKEN) is skipped.
 */
#include "cli/config.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/util.h"

static const struct describe_cmd *commands;
static size_t ncommands;

/* Values the flags point at, freed at exit. */
static char **kept;
static size_t nkept;

void config_set_commands(const struct describe_cmd *cmds, size_t ncmds)
{
    commands = cmds;
    ncommands = ncmds;
}

static void kept_free(void)
{
    for (size_t i = 0; i < nkept; i++)
        free(kept[i]);
    free(kept);
    kept = NULL;
    nkept = 0;
}

static const char *keep(const char *s)
{
    if (!kept)
        atexit(kept_free);
    kept = xrealloc(kept, (nkept + 1) * sizeof(*kept));
    kept[nkept] = xstrdup(s);
    return kept[nkept++];
}

/* One file being read. */
struct load {
    const char *cmd, *path;
    const struct opt *opts;
    size_t *from_file;
    bool *set_here; /* per opt: a list this file has started to set */
    bool client;    /* cmd is a client command: [client] applies */
    FILE *f;
    int line, section_line; /* the line being read; the last [section] line */
    char err[400];
};

static bool is_client_key(const char *k)
{
    return !strcmp(k, "master") || !strcmp(k, "token-file") || !strcmp(k, "tls-cert") ||
           !strcmp(k, "tls-key") || !strcmp(k, "tls-ca");
}

static bool is_command(const char *name)
{
    for (size_t i = 0; i < ncommands; i++)
        if (!strcmp(commands[i].name, name))
            return true;
    return false;
}

/* The variable that, when set, wins over the file's value of `key`. */
static const char *env_for(const char *cmd, const char *key)
{
    if (!strcmp(key, "token-file"))
        return "DTR_TOKEN";
    if (!strcmp(key, "master") && strcmp(cmd, "worker") != 0 && strcmp(cmd, "master") != 0)
        return "DTR_MASTER";
    return NULL;
}

static int load_fail(struct load *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int load_fail(struct load *L, const char *fmt, ...)
{
    if (!L->err[0]) {
        char msg[300];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(L->err, sizeof(L->err), "%s:%d: %s", L->path, L->line, msg);
    }
    return 0;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    struct load *L = user;
    bool own = !strcmp(section, L->cmd);

    if (L->err[0])
        return 1; /* the first error is the one reported */
    if (!*section)
        return load_fail(L, "key '%s' outside a section (start with [%s])", name, L->cmd);
    if (!own && strcmp(section, "client") != 0) {
        if (is_command(section))
            return 1; /* another command's section */
        L->line = L->section_line;
        return load_fail(L, "unknown section [%s] (use [master], [worker], [client] or a command)",
                         section);
    }
    if (!own && !is_client_key(name))
        return load_fail(L,
                         "unknown key '%s' in [client] (it takes master, token-file, "
                         "tls-cert, tls-key and tls-ca)",
                         name);
    if (!own && !L->client)
        return 1; /* [client] is not for master and worker */
    const struct opt *o = NULL;
    size_t idx = 0;
    for (const struct opt *p = L->opts; p->name; p++, idx++)
        if (!strcmp(p->name, name) && strcmp(name, "config") != 0) {
            o = p;
            break;
        }
    if (!o) {
        if (!own)
            return 1; /* a client key this command has no flag for */
        return load_fail(L, "unknown key '%s' in [%s] (see 'dtr %s --help')", name, section,
                         L->cmd);
    }
    const char *env = env_for(L->cmd, name);
    if (env && getenv(env) && *getenv(env))
        return 1; /* the environment wins over the file */
    if (o->type == OPT_LIST && !L->set_here[idx]) {
        /* A later file's list replaces an earlier file's. */
        ((struct opt_list *)o->dst)->len = 0;
        L->from_file[idx] = 0;
        L->set_here[idx] = true;
    }
    char err[300];
    if (opts_set(o, keep(value), err, sizeof(err)) < 0)
        return load_fail(L, "%s", err);
    if (o->type == OPT_LIST)
        L->from_file[idx]++;
    return 1;
}

/* inih's line reader: counts lines, refuses the ones too long for inih. */
static char *reader(char *str, int num, void *stream)
{
    struct load *L = stream;
    if (!fgets(str, num, L->f))
        return NULL;
    L->line++;
    if (str[strspn(str, " \t")] == '[')
        L->section_line = L->line;
    size_t len = strlen(str);
    if (len + 1 == (size_t)num && str[len - 1] != '\n' && !feof(L->f)) {
        int c;
        load_fail(L, "line longer than %d bytes", num - 2);
        while ((c = fgetc(L->f)) != EOF && c != '\n')
            ;
    }
    return str;
}

static int load_file(const char *cmd, const char *path, bool must_exist, const struct opt *opts,
                     size_t *from_file, char *err, size_t errlen)
{
    size_t n = 0;
    while (opts[n].name)
        n++;
    struct load L = {.cmd = cmd, .path = path, .opts = opts, .from_file = from_file};
    L.client = strcmp(cmd, "master") != 0 && strcmp(cmd, "worker") != 0;
    L.f = fopen(path, "re");
    if (!L.f) {
        if (!must_exist && errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot read config file '%s': %s", path, strerror(errno));
        return DTR_EINVAL;
    }
    L.set_here = xcalloc(n + 1, sizeof(bool));
    int rc = ini_parse_stream(reader, &L, handler, &L);
    fclose(L.f);
    free(L.set_here);
    if (L.err[0]) {
        snprintf(err, errlen, "%s", L.err);
        return DTR_EINVAL;
    }
    if (rc > 0) {
        snprintf(err, errlen, "%s:%d: not '[section]', 'key = value' or a comment", path, rc);
        return DTR_EINVAL;
    }
    if (rc < 0) {
        snprintf(err, errlen, "cannot read config file '%s'", path);
        return DTR_EINVAL;
    }
    return 0;
}

/* Scratch for a trial parse that only looks for --config. */
union scratch {
    bool b;
    const char *s;
    struct opt_list l;
    int64_t i;
    double d;
};

/* The --config of argv: 1 with *path set (NULL when not given), or 0 when
 * the command line does not parse (help, errors). */
static int find_config_flag(const struct opt *opts, int argc, char **argv, unsigned flags,
                            const char **path)
{
    size_t n = 0;
    while (opts[n].name)
        n++;
    struct opt *probe = xcalloc(n + 1, sizeof(*probe));
    union scratch *dst = xcalloc(n + 1, sizeof(*dst));
    char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
    int npos, cfg = -1, ok;
    char err[300];
    for (size_t i = 0; i < n; i++) {
        probe[i] = opts[i];
        probe[i].dst = &dst[i];
        if (!strcmp(opts[i].name, "config"))
            cfg = (int)i;
    }
    ok = opts_parse(probe, argc, argv, flags, pos, &npos, NULL, err, sizeof(err)) == 0;
    *path = ok && cfg >= 0 ? dst[cfg].s : NULL;
    for (size_t i = 0; i < n; i++)
        if (opts[i].type == OPT_LIST)
            opt_list_release(&dst[i].l);
    free(pos);
    free(dst);
    free(probe);
    return ok;
}

int config_load(const char *cmd, const struct opt *opts, int argc, char **argv, unsigned flags,
                size_t *from_file, char *err, size_t errlen)
{
    const char *path, *env;
    char user[4096];
    int rc;

    if (!find_config_flag(opts, argc, argv, flags, &path))
        return 0;
    if (path)
        return *path ? load_file(cmd, path, true, opts, from_file, err, errlen) : 0;
    if ((env = getenv("DTR_CONFIG")))
        return *env ? load_file(cmd, env, true, opts, from_file, err, errlen) : 0;
    if ((rc = load_file(cmd, CONFIG_SYSTEM_PATH, false, opts, from_file, err, errlen)))
        return rc;
    if ((env = getenv("XDG_CONFIG_HOME")) && *env)
        snprintf(user, sizeof(user), "%s/dtr/dtr.conf", env);
    else if ((env = getenv("HOME")) && *env)
        snprintf(user, sizeof(user), "%s/.config/dtr/dtr.conf", env);
    else
        return 0;
    return load_file(cmd, user, false, opts, from_file, err, errlen);
}

void config_finish(const struct opt *opts, const size_t *from_file)
{
    size_t i = 0;
    for (const struct opt *o = opts; o->name; o++, i++) {
        struct opt_list *l = o->dst;
        if (o->type != OPT_LIST || !from_file[i] || l->len <= from_file[i])
            continue;
        /* The command line added items after the files': keep only those. */
        memmove(l->items, l->items + from_file[i], (l->len - from_file[i]) * sizeof(*l->items));
        l->len -= from_file[i];
    }
}
