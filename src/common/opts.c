/* SPDX-License-Identifier: MIT */
/*
 * Table-driven flag parsing. A subcommand declares its flags once as an
 * array of struct opt ended by an entry whose name is NULL; that table
 * drives parsing, value validation (through common/parse) and the --help
 * text, so the three never drift apart.
 */
#include "common/opts.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/parse.h"
#include "common/util.h"

/* Flag column width in --help: "  --port N            first port ..." */
#define USAGE_COL 20

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return DTR_EINVAL;
}

static const struct opt *find_long(const struct opt *opts, const char *name, size_t n)
{
    for (const struct opt *o = opts; o->name; o++) {
        if (strlen(o->name) == n && memcmp(o->name, name, n) == 0)
            return o;
    }
    return NULL;
}

static const struct opt *find_short(const struct opt *opts, char c)
{
    for (const struct opt *o = opts; o->name; o++) {
        if (o->short_name && o->short_name == c)
            return o;
    }
    return NULL;
}

/* "-?[0-9]+": an integer too large for int64 is out of range, not malformed. */
static bool looks_integer(const char *s)
{
    if (*s == '-')
        s++;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
    }
    return true;
}

static int set_value(const struct opt *o, const char *v, char *err, size_t errlen)
{
    bool bounded = o->min != 0 || o->max != 0;

    switch (o->type) {
    case OPT_BOOL:
        DTR_BUG("bool flag --%s given a value", o->name);
    case OPT_STRING:
        *(const char **)o->dst = v;
        return 0;
    case OPT_LIST: {
        struct opt_list *l = o->dst;
        l->items = xrealloc(l->items, (l->len + 1) * sizeof(*l->items));
        l->items[l->len++] = v;
        return 0;
    }
    case OPT_INT: {
        int64_t n;
        if (int_parse(v, INT64_MIN, INT64_MAX, &n) < 0) {
            if (looks_integer(v))
                return fail(err, errlen, "--%s: '%s' is out of range", o->name, v);
            return fail(err, errlen, "--%s: '%s' is not an integer", o->name, v);
        }
        /* Compare as integers: int64 values past 2^53 do not survive a double. */
        if (bounded && (n < (int64_t)o->min || n > (int64_t)o->max))
            return fail(err, errlen, "--%s: '%s' is out of range %lld..%lld", o->name, v,
                        (long long)o->min, (long long)o->max);
        *(int64_t *)o->dst = n;
        return 0;
    }
    case OPT_DOUBLE: {
        double d;
        if (double_parse(v, -HUGE_VAL, HUGE_VAL, &d) < 0)
            return fail(err, errlen, "--%s: '%s' is not a number", o->name, v);
        if (bounded && (d < o->min || d > o->max))
            return fail(err, errlen, "--%s: '%s' is out of range %g..%g", o->name, v, o->min,
                        o->max);
        *(double *)o->dst = d;
        return 0;
    }
    case OPT_DURATION:
        if (duration_parse(v, o->dst) < 0)
            return fail(err, errlen,
                        "--%s: '%s' is not a duration (use 500ms, 10s, 2m, 1h or seconds)", o->name,
                        v);
        return 0;
    case OPT_PRIORITY:
        if (priority_parse(v, o->dst) < 0)
            return fail(err, errlen,
                        "--%s: '%s' is not a priority (use low, medium, high or an integer)",
                        o->name, v);
        return 0;
    }
    DTR_BUG("flag --%s has unknown type %d", o->name, (int)o->type);
}

int opts_parse(const struct opt *opts, int argc, char **argv, unsigned flags, char **pos, int *npos,
               int *dashdash, char *err, size_t errlen)
{
    int n = 0;
    int i;

    *npos = 0;
    if (dashdash)
        *dashdash = -1;
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        const struct opt *o;
        const char *value = NULL;

        if (strcmp(a, "--") == 0) {
            if (dashdash)
                *dashdash = n;
            i++;
            break;
        }
        /* "-" alone names stdin: a positional like any file name. */
        if (a[0] != '-' || a[1] == '\0') {
            pos[n++] = argv[i];
            if (flags & OPTS_STOP_AT_POSITIONAL) {
                i++;
                break;
            }
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *npos = n;
            return 1;
        }
        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            o = find_long(opts, name, len);
            if (!o)
                return fail(err, errlen, "unknown flag '--%.*s'", (int)len, name);
            if (eq)
                value = eq + 1;
        } else {
            o = a[2] == '\0' ? find_short(opts, a[1]) : NULL;
            if (!o)
                return fail(err, errlen, "unknown flag '%s'", a);
        }

        if (o->type == OPT_BOOL) {
            if (value)
                return fail(err, errlen, "--%s takes no value", o->name);
            *(bool *)o->dst = true;
            continue;
        }
        if (!value) {
            /* Like getopt, the next word is the value even when it starts with '-'. */
            if (i + 1 >= argc)
                return fail(err, errlen, "--%s needs a value", o->name);
            value = argv[++i];
        }
        int rc = set_value(o, value, err, errlen);
        if (rc < 0)
            return rc;
    }
    for (; i < argc; i++)
        pos[n++] = argv[i];
    *npos = n;
    return 0;
}

/* The left column of a help line: "-p, --port N" or "--json". */
static void flag_text(const struct opt *o, char *out, size_t outlen)
{
    char shortpart[8] = "";

    if (o->short_name)
        snprintf(shortpart, sizeof(shortpart), "-%c, ", o->short_name);
    if (o->type == OPT_BOOL || !o->arg)
        snprintf(out, outlen, "%s--%s", shortpart, o->name);
    else
        snprintf(out, outlen, "%s--%s %s", shortpart, o->name, o->arg);
}

void opts_usage(FILE *f, const char *usage, const char *summary, const struct opt *opts)
{
    char text[128];
    size_t width = USAGE_COL;

    /* Widen the column for a long flag rather than run into its help. */
    for (const struct opt *o = opts; o && o->name; o++) {
        flag_text(o, text, sizeof(text));
        if (strlen(text) + 2 > width)
            width = strlen(text) + 2;
    }
    fprintf(f, "usage: dtr %s\n\n", usage ? usage : "");
    if (summary && *summary)
        fprintf(f, "%s\n\n", summary);
    for (const struct opt *o = opts; o && o->name; o++) {
        flag_text(o, text, sizeof(text));
        fprintf(f, "  %-*s%s\n", (int)width, text, o->help ? o->help : "");
    }
    fprintf(f, "  %-*s%s\n", (int)width, "-h, --help", "show this help");
}

void opt_list_release(struct opt_list *l)
{
    free(l->items);
    l->items = NULL;
    l->len = 0;
}

int opts_set(const struct opt *o, const char *value, char *err, size_t errlen)
{
    if (o->type != OPT_BOOL)
        return set_value(o, value, err, errlen);
    if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "on") ||
        !strcmp(value, "1")) {
        *(bool *)o->dst = true;
        return 0;
    }
    if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "off") ||
        !strcmp(value, "0")) {
        *(bool *)o->dst = false;
        return 0;
    }
    return fail(err, errlen, "--%s: '%s' is not a boolean (use true or false)", o->name, value);
}
