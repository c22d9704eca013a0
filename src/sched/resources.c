/* SPDX-License-Identifier: MIT */
/*
 * Resource vectors: parsing, the fit test, arithmetic and the words a user
 * sees about them. See resources.h.
 */
#include "sched/resources.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

void res_default(struct request *r)
{
    memset(r, 0, sizeof(*r));
    r->cpus_milli = 1000;
}

bool res_equal(const struct request *a, const struct request *b)
{
    if (a->cpus_milli != b->cpus_milli || a->mem != b->mem || a->gpus != b->gpus ||
        a->nnamed != b->nnamed)
        return false;
    for (int i = 0; i < a->nnamed; i++)
        if (a->named[i].n != b->named[i].n || strcmp(a->named[i].name, b->named[i].name))
            return false;
    return true;
}

bool res_is_default(const struct request *r)
{
    return r->cpus_milli == 1000 && !r->mem && !r->gpus && !r->nnamed;
}

static int64_t named_get(const struct request *r, const char *name)
{
    for (int i = 0; i < r->nnamed; i++)
        if (!strcmp(r->named[i].name, name))
            return r->named[i].n;
    return 0;
}

bool res_fits(const struct request *need, const struct request *total, const struct request *used,
              const struct request *hold)
{
    static const struct request none;
    if (!hold)
        hold = &none;
    /* Only what it needs is looked at: a task of no GPUs is not held back
     * by GPUs another holds, nor by a reservation of them. */
    if (need->cpus_milli &&
        need->cpus_milli > total->cpus_milli - used->cpus_milli - hold->cpus_milli)
        return false;
    if (need->gpus && need->gpus > total->gpus - used->gpus - hold->gpus)
        return false;
    if (need->mem && need->mem > total->mem - used->mem - hold->mem)
        return false;
    for (int i = 0; i < need->nnamed; i++) {
        const char *name = need->named[i].name;
        if (need->named[i].n >
            named_get(total, name) - named_get(used, name) - named_get(hold, name))
            return false;
    }
    return true;
}

static int cmp_named(const void *a, const void *b)
{
    return strcmp(((const struct res_named *)a)->name, ((const struct res_named *)b)->name);
}

void res_add(struct request *used, const struct request *r, int sign)
{
    used->cpus_milli += sign * r->cpus_milli;
    used->mem += sign * r->mem;
    used->gpus += sign * r->gpus;
    for (int i = 0; i < r->nnamed; i++) {
        int k;
        for (k = 0; k < used->nnamed; k++)
            if (!strcmp(used->named[k].name, r->named[i].name))
                break;
        if (k == used->nnamed) {
            if (used->nnamed == RES_MAX_NAMED)
                continue; /* no offer has it: such a task is never placed */
            used->nnamed++;
            memcpy(used->named[k].name, r->named[i].name, sizeof(used->named[k].name));
            used->named[k].n = 0;
        }
        used->named[k].n += sign * r->named[i].n;
    }
}

bool res_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > RES_MAX_NAME || !islower((unsigned char)name[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)name[i]) && !isdigit((unsigned char)name[i]) && name[i] != '_')
            return false;
    return strcmp(name, "cpus") && strcmp(name, "mem") && strcmp(name, "gpus");
}

int res_check_cpus(double v, const char *what, int64_t *milli, char *err, size_t errlen)
{
    if (!isfinite(v) || v <= 0)
        return fail(err, errlen, "%s must be a positive number of CPUs (0.5, 2)", what);
    if (v > RES_MAX_CPUS)
        return fail(err, errlen, "%s: %g CPUs is more than the limit of %d", what, v, RES_MAX_CPUS);
    double m = v * 1000.0;
    if (fabs(m - llround(m)) > 1e-6 || llround(m) < 1) /* 0.0000000001 rounds to none */
        return fail(err, errlen, "%s: at most 3 decimals (thousandths of a CPU)", what);
    *milli = llround(m);
    return 0;
}

int res_parse_cpus(const char *s, const char *what, int64_t *milli, char *err, size_t errlen)
{
    /* Digits with at most one '.', nothing else (no exponent, sign, hex). */
    size_t n = strlen(s), dots = 0;
    bool digit = false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.')
            dots++;
        else if (isdigit((unsigned char)s[i]))
            digit = true;
        else
            return fail(err, errlen, "%s must be a positive number of CPUs (0.5, 2), not '%.32s'",
                        what, s);
    }
    if (!digit || dots > 1 || n > 32)
        return fail(err, errlen, "%s must be a positive number of CPUs (0.5, 2), not '%.32s'", what,
                    s);
    return res_check_cpus(strtod(s, NULL), what, milli, err, errlen);
}

int res_parse_size(const char *s, const char *what, int64_t *bytes, char *err, size_t errlen)
{
    size_t n = strlen(s), i = 0, dots = 0;
    while (i < n && (isdigit((unsigned char)s[i]) || s[i] == '.'))
        dots += s[i++] == '.';
    if (i == 0 || dots > 1 || i > 24 || (i == 1 && s[0] == '.'))
        return fail(err, errlen, "%s must be a size such as 512M or 2G, not '%.32s'", what, s);
    double mult = 1;
    const char *u = s + i;
    switch (toupper((unsigned char)*u)) {
    case '\0':
        break;
    case 'K':
        mult = 1024.0;
        break;
    case 'M':
        mult = 1024.0 * 1024;
        break;
    case 'G':
        mult = 1024.0 * 1024 * 1024;
        break;
    case 'T':
        mult = 1024.0 * 1024 * 1024 * 1024;
        break;
    default:
        return fail(err, errlen, "%s must be a size such as 512M or 2G, not '%.32s'", what, s);
    }
    if (*u && u[1] && strcmp(u + 1, "B") && strcmp(u + 1, "iB"))
        return fail(err, errlen, "%s must be a size such as 512M or 2G, not '%.32s'", what, s);
    if (!*u && dots)
        return fail(err, errlen, "%s: a number of bytes must be whole, not '%.32s'", what, s);
    double v = strtod(s, NULL) * mult;
    if (v >= (double)RES_MAX_MEM + 1)
        return fail(err, errlen, "%s: '%.32s' is more than the limit of 1P", what, s);
    *bytes = (int64_t)v;
    return 0;
}

int res_set_named(struct request *r, const char *name, int64_t n, const char *what, char *err,
                  size_t errlen)
{
    if (!res_name_valid(name))
        return fail(err, errlen,
                    "%s: resource name '%.40s' must be 1 to %d characters of a-z, 0-9 and _, "
                    "starting with a letter (and not cpus, mem or gpus)",
                    what, name, RES_MAX_NAME);
    if (n < 1 || n > RES_MAX_COUNT)
        return fail(err, errlen, "%s: resource '%s' must be an integer from 1 to %lld", what, name,
                    (long long)RES_MAX_COUNT);
    for (int i = 0; i < r->nnamed; i++)
        if (!strcmp(r->named[i].name, name))
            return fail(err, errlen, "%s: resource '%s' given twice", what, name);
    if (r->nnamed == RES_MAX_NAMED)
        return fail(err, errlen, "%s: more than %d named resources", what, RES_MAX_NAMED);
    struct res_named *e = &r->named[r->nnamed++];
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->n = n;
    qsort(r->named, (size_t)r->nnamed, sizeof(r->named[0]), cmp_named);
    return 0;
}

int res_parse_named(const char *s, struct request *r, char *err, size_t errlen)
{
    const char *eq = strchr(s, '=');
    char name[RES_MAX_NAME + 2];
    size_t len = eq ? (size_t)(eq - s) : 0;
    if (!eq || len == 0 || len > RES_MAX_NAME)
        return fail(err, errlen,
                    "--resource must be NAME=N (a name of at most %d characters), not '%.48s'",
                    RES_MAX_NAME, s);
    memcpy(name, s, len);
    name[len] = '\0';
    const char *v = eq + 1;
    if (!*v || strlen(v) > 10 || strspn(v, "0123456789") != strlen(v))
        return fail(err, errlen, "--resource %s: N must be a positive integer, not '%.32s'", name,
                    v);
    return res_set_named(r, name, strtoll(v, NULL, 10), "--resource", err, errlen);
}

void res_format_cpus(int64_t milli, char *out, size_t outlen)
{
    if (milli % 1000 == 0) {
        snprintf(out, outlen, "%" PRId64, milli / 1000);
        return;
    }
    snprintf(out, outlen, "%" PRId64 ".%03" PRId64, milli / 1000, milli % 1000);
    size_t n = strlen(out);
    while (n && out[n - 1] == '0')
        out[--n] = '\0';
}

void res_format_size(int64_t bytes, char *out, size_t outlen)
{
    static const char units[] = "KMGT";
    int u = -1;
    int64_t v = bytes;
    while (u < 3 && v && v % 1024 == 0) {
        v /= 1024;
        u++;
    }
    if (u < 0)
        snprintf(out, outlen, "%" PRId64, bytes);
    else
        snprintf(out, outlen, "%" PRId64 "%c", v, units[u]);
}

void res_describe(const struct request *r, char *out, size_t outlen)
{
    char num[32];
    size_t len = 0;
    out[0] = '\0';
#define PART(...)                                                                                  \
    do {                                                                                           \
        if (len < outlen)                                                                          \
            len += (size_t)snprintf(out + len, outlen - len, __VA_ARGS__);                         \
    } while (0)
    res_format_cpus(r->cpus_milli, num, sizeof(num));
    PART("cpus %s", num);
    if (r->mem) {
        res_format_size(r->mem, num, sizeof(num));
        PART(", mem %s", num);
    }
    if (r->gpus)
        PART(", gpus %" PRId64, r->gpus);
    for (int i = 0; i < r->nnamed; i++)
        PART(", %s %" PRId64, r->named[i].name, r->named[i].n);
#undef PART
}

void res_why_unschedulable(const struct request *need, const struct request *const *totals,
                           size_t n, char *out, size_t outlen)
{
    char parts[RES_MAX_NAMED + 3][RES_MAX_NAME + 48];
    int nparts = 0;
    char a[32], b[32];
    int64_t best = 0;
    size_t i;
    /* One part per dimension that no single worker has enough of. */
    for (i = 0, best = 0; i < n; i++)
        best = totals[i]->cpus_milli > best ? totals[i]->cpus_milli : best;
    if (need->cpus_milli > best) {
        res_format_cpus(need->cpus_milli, a, sizeof(a));
        res_format_cpus(best, b, sizeof(b));
        snprintf(parts[nparts++], sizeof(parts[0]), "%s cpus|%s", a, b);
    }
    for (i = 0, best = 0; i < n; i++)
        best = totals[i]->mem > best ? totals[i]->mem : best;
    if (need->mem > best) {
        res_format_size(need->mem, a, sizeof(a));
        res_format_size(best, b, sizeof(b));
        snprintf(parts[nparts++], sizeof(parts[0]), "%s memory|%s", a, b);
    }
    for (i = 0, best = 0; i < n; i++)
        best = totals[i]->gpus > best ? totals[i]->gpus : best;
    if (need->gpus > best)
        snprintf(parts[nparts++], sizeof(parts[0]), "%" PRId64 " gpus|%" PRId64, need->gpus, best);
    for (int k = 0; k < need->nnamed; k++) {
        for (i = 0, best = 0; i < n; i++) {
            int64_t v = named_get(totals[i], need->named[k].name);
            best = v > best ? v : best;
        }
        if (need->named[k].n > best)
            snprintf(parts[nparts++], sizeof(parts[0]), "%" PRId64 " %s|%" PRId64, need->named[k].n,
                     need->named[k].name, best);
    }
    if (nparts == 0) {
        char d[256];
        res_describe(need, d, sizeof(d));
        snprintf(out, outlen, "needs %s; no worker has all of it", d);
        return;
    }
    if (nparts == 1) {
        char *bar = strchr(parts[0], '|');
        *bar = '\0';
        const char *what = strchr(parts[0], ' ') + 1;
        if (!strcmp(bar + 1, "0"))
            snprintf(out, outlen, "needs %s; no worker offers %s", parts[0], what);
        else
            snprintf(out, outlen, "needs %s; the largest worker has %s", parts[0], bar + 1);
        return;
    }
    size_t len = (size_t)snprintf(out, outlen, "needs");
    for (int k = 0; k < nparts && len < outlen; k++) {
        *strchr(parts[k], '|') = '\0';
        len += (size_t)snprintf(out + len, outlen - len, "%s%s",
                                k == 0 ? " " : (k == nparts - 1 ? " and " : ", "), parts[k]);
    }
    if (len < outlen)
        snprintf(out + len, outlen - len, "; no worker has all of it");
}

int res_parse_count(const char *s, const char *what, int64_t max, int64_t *out, char *err,
                    size_t errlen)
{
    if (!*s || strlen(s) > 18 || strspn(s, "0123456789") != strlen(s))
        return fail(err, errlen, "%s must be an integer from 0 to %" PRId64 ", not '%.32s'", what,
                    max, s);
    int64_t v = strtoll(s, NULL, 10);
    if (v > max)
        return fail(err, errlen, "%s: %" PRId64 " is more than the limit of %" PRId64, what, v,
                    max);
    *out = v;
    return 0;
}
