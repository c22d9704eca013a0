/* SPDX-License-Identifier: MIT */
/*
 * Parsers for user-typed values: durations, priorities, bounded integers and
 * doubles, HOST:PORT and port ranges. Numbers are first matched against a
 * strict decimal grammar and only then handed to strtoll/strtod, so the
 * libc extras (leading blanks, hex, "inf", "nan") never get through.
 */
#include "common/parse.h"

#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/util.h"

/* 100 years of 365 days: anything longer is a typo, and it keeps every
 * deadline computed from a duration far away from int64 overflow. */
#define DURATION_MAX_MS (100LL * 365 * 24 * 3600 * 1000)

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * Length of the decimal number at the start of s: an optional '-' (when
 * allow_sign), digits with an optional fraction (at least one digit in all)
 * and, when allow_exp, an exponent. Returns 0 when there is none.
 */
static size_t scan_decimal(const char *s, bool allow_sign, bool allow_exp)
{
    size_t i = 0, digits = 0;

    if (allow_sign && s[i] == '-')
        i++;
    while (is_digit(s[i])) {
        i++;
        digits++;
    }
    if (s[i] == '.') {
        i++;
        while (is_digit(s[i])) {
            i++;
            digits++;
        }
    }
    if (!digits)
        return 0;
    if (allow_exp && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (s[j] == '+' || s[j] == '-')
            j++;
        if (is_digit(s[j])) {
            while (is_digit(s[j]))
                j++;
            i = j;
        }
    }
    return i;
}

/* strtod over exactly the first len bytes of s, which scan_decimal() matched. */
static int decimal_value(const char *s, size_t len, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (end != s + len)
        return DTR_EINVAL;
    /* ERANGE on underflow leaves a harmless tiny value; overflow gives inf. */
    if (!isfinite(v))
        return DTR_EINVAL;
    *out = v;
    return 0;
}

int duration_parse(const char *s, int64_t *ms)
{
    static const struct {
        const char *suffix;
        double mult;
    } units[] = {
        {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000},
    };
    size_t len;
    double v;

    if (!s)
        return DTR_EINVAL;
    /* No exponent: "1e3s" reads as a typo, not as 1000 seconds. */
    len = scan_decimal(s, false, false);
    if (!len || decimal_value(s, len, &v) < 0)
        return DTR_EINVAL;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(s + len, units[i].suffix) != 0)
            continue;
        /* Compare before rounding so a huge value never reaches llround(). */
        double total = v * units[i].mult;
        if (!isfinite(total) || total > (double)DURATION_MAX_MS)
            return DTR_EINVAL;
        *ms = (int64_t)llround(total);
        return 0;
    }
    return DTR_EINVAL;
}

int priority_parse(const char *s, int64_t *prio)
{
    static const struct {
        const char *name;
        int64_t value;
    } names[] = {{"low", 1}, {"medium", 2}, {"high", 3}};

    if (!s)
        return DTR_EINVAL;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *prio = names[i].value;
            return 0;
        }
    }
    return int_parse(s, INT32_MIN, INT32_MAX, prio);
}

int int_parse(const char *s, int64_t min, int64_t max, int64_t *out)
{
    const char *p;
    char *end;
    long long v;

    if (!s)
        return DTR_EINVAL;
    /* strtoll would skip blanks and take a '+': demand a plain "-?[0-9]+". */
    p = s[0] == '-' ? s + 1 : s;
    if (!is_digit(*p))
        return DTR_EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno == ERANGE || *end != '\0')
        return DTR_EINVAL;
    if (v < min || v > max)
        return DTR_EINVAL;
    *out = v;
    return 0;
}

int double_parse(const char *s, double min, double max, double *out)
{
    size_t len;
    double v;

    if (!s)
        return DTR_EINVAL;
    len = scan_decimal(s, true, true);
    if (!len || s[len] != '\0' || decimal_value(s, len, &v) < 0)
        return DTR_EINVAL;
    if (v < min || v > max)
        return DTR_EINVAL;
    *out = v;
    return 0;
}

/* Bytes a host name may never hold: blanks, control characters, brackets. */
static bool host_char_ok(unsigned char c)
{
    return c > ' ' && c != 0x7f && c != '[' && c != ']';
}

/*
 * Splits "HOST:REST" or "[V6]:REST". On success host and hostn delimit the
 * bare host inside s and *rest points after the ':'.
 */
static int split_host(const char *s, const char **host, size_t *hostn, const char **rest)
{
    const char *colon;

    if (!s)
        return DTR_EINVAL;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return DTR_EINVAL;
        *host = s + 1;
        *hostn = (size_t)(close - *host);
        colon = close + 1;
        /* Brackets are for IPv6 literals only; "[name]:80" is a mistake. */
        if (!memchr(*host, ':', *hostn))
            return DTR_EINVAL;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return DTR_EINVAL;
        *host = s;
        *hostn = (size_t)(colon - s);
        /* An unbracketed v6 address cannot be told apart from its port. */
        if (memchr(s, ':', *hostn))
            return DTR_EINVAL;
    }
    if (*hostn == 0)
        return DTR_EINVAL;
    for (size_t i = 0; i < *hostn; i++) {
        if (!host_char_ok((unsigned char)(*host)[i]))
            return DTR_EINVAL;
    }
    *rest = colon + 1;
    return 0;
}

static int copy_host(const char *h, size_t n, char *host, size_t hostlen)
{
    if (!host || n >= hostlen)
        return DTR_EINVAL;
    memcpy(host, h, n);
    host[n] = '\0';
    return 0;
}

int list_next(const char **p, char *out, size_t outlen)
{
    while (**p) {
        const char *s = *p, *e = s + strcspn(s, ",");
        *p = *e ? e + 1 : e;
        while (s < e && strchr(" \t\r", *s))
            s++;
        while (e > s && strchr(" \t\r", e[-1]))
            e--;
        if (e == s)
            continue;
        if ((size_t)(e - s) >= outlen)
            return DTR_EINVAL;
        memcpy(out, s, (size_t)(e - s));
        out[e - s] = '\0';
        return 1;
    }
    return 0;
}

int addr_parse(const char *s, char *host, size_t hostlen, int *port)
{
    const char *h, *rest;
    size_t hn;
    int64_t p;

    if (split_host(s, &h, &hn, &rest) < 0 || int_parse(rest, 1, 65535, &p) < 0)
        return DTR_EINVAL;
    if (copy_host(h, hn, host, hostlen) < 0)
        return DTR_EINVAL;
    *port = (int)p;
    return 0;
}

int port_range_parse(const char *s, int *lo, int *hi)
{
    char first[8];
    const char *dash;
    size_t n;
    int64_t l, h;

    if (!s)
        return DTR_EINVAL;
    dash = strchr(s, '-');
    if (!dash)
        return DTR_EINVAL;
    /* A port has at most 5 digits; longer is refused before it is copied. */
    n = (size_t)(dash - s);
    if (n == 0 || n >= sizeof(first))
        return DTR_EINVAL;
    memcpy(first, s, n);
    first[n] = '\0';
    if (int_parse(first, 1, 65535, &l) < 0 || int_parse(dash + 1, 1, 65535, &h) < 0)
        return DTR_EINVAL;
    if (l > h)
        return DTR_EINVAL;
    *lo = (int)l;
    *hi = (int)h;
    return 0;
}

int addr_range_parse(const char *s, char *host, size_t hostlen, int *lo, int *hi)
{
    const char *h, *rest;
    size_t hn;
    int l, r;

    if (split_host(s, &h, &hn, &rest) < 0 || port_range_parse(rest, &l, &r) < 0)
        return DTR_EINVAL;
    if (copy_host(h, hn, host, hostlen) < 0)
        return DTR_EINVAL;
    *lo = l;
    *hi = r;
    return 0;
}

/* ---- --array ------------------------------------------------------------ */

#define AERR(...) (snprintf(err, errlen, __VA_ARGS__), DTR_EINVAL)

/* One index of an array item: digits only, at most ARRAY_MAX_INDEX. */
static int array_number(const char *p, size_t len, int64_t *out)
{
    int64_t v = 0;
    if (len == 0)
        return DTR_EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(p[i]))
            return DTR_EINVAL;
        v = v * 10 + (p[i] - '0');
        if (v > ARRAY_MAX_INDEX)
            return DTR_EINVAL;
    }
    *out = v;
    return 0;
}

/* The item [p, p+len): "N", "A-B" or "A-B:S", as lo, hi and step. */
static int array_item(const char *p, size_t len, int64_t *lo, int64_t *hi, int64_t *step, char *err,
                      size_t errlen)
{
    const char *end = p + len, *dash = memchr(p, '-', len), *colon = memchr(p, ':', len);
    const char *lo_end = dash ? dash : colon ? colon : end;
    const char *hi_end = colon ? colon : end;
    if (len == 0)
        return AERR("an empty item (give N, A-B or A-B:S between the commas)");
    if (len > 64)
        return AERR("'%.32s...' is not an item (N, A-B or A-B:S)", p);
    if (colon && (!dash || colon < dash))
        return AERR("'%.*s': a step needs a range (A-B:S)", (int)len, p);
    if (lo_end == p || (dash && hi_end == dash + 1) || (colon && end == colon + 1))
        return AERR("'%.*s' lacks a number (give N, A-B or A-B:S, from 0 to %d)", (int)len, p,
                    ARRAY_MAX_INDEX);
    if (array_number(p, (size_t)(lo_end - p), lo))
        return AERR("'%.*s' in '%.*s' is not a number from 0 to %d", (int)(lo_end - p), p, (int)len,
                    p, ARRAY_MAX_INDEX);
    *hi = *lo;
    *step = 1;
    if (dash && array_number(dash + 1, (size_t)(hi_end - dash - 1), hi))
        return AERR("'%.*s' in '%.*s' is not a number from 0 to %d", (int)(hi_end - dash - 1),
                    dash + 1, (int)len, p, ARRAY_MAX_INDEX);
    if (colon && (array_number(colon + 1, (size_t)(end - colon - 1), step) || *step < 1))
        return AERR("'%.*s' in '%.*s' is not a step (a number from 1 to %d)",
                    (int)(end - colon - 1), colon + 1, (int)len, p, ARRAY_MAX_INDEX);
    if (*hi < *lo)
        return AERR("'%.*s' runs backwards (A-B needs A <= B)", (int)len, p);
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The throttle after '%' ("%N"): N from 1 to ARRAY_MAX_TASKS. */
static int array_throttle(const char *pct, int *throttle, char *err, size_t errlen)
{
    const char *p = pct + 1;
    int64_t v = 0;
    size_t len = strlen(p);
    if (len == 0)
        return AERR("'%%' lacks the throttle (give %%N, at most N tasks running at once, N from "
                    "1 to %d)",
                    ARRAY_MAX_TASKS);
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(p[i]))
            return AERR("'%.32s%s' is not a throttle (give %%N, N a number from 1 to %d)", pct,
                        len > 31 ? "..." : "", ARRAY_MAX_TASKS);
        if (v <= ARRAY_MAX_TASKS)
            v = v * 10 + (p[i] - '0');
    }
    if (v < 1 || v > ARRAY_MAX_TASKS)
        return AERR("'%.32s%s': the throttle must be from 1 to %d", pct, len > 31 ? "..." : "",
                    ARRAY_MAX_TASKS);
    *throttle = (int)v;
    return 0;
}

int array_spec_parse(const char *s, int **idx, size_t *n, int *throttle, char *err, size_t errlen)
{
    int64_t lo, hi, step;
    uint64_t total = 0;
    int rc;
    *idx = NULL;
    *n = 0;
    *throttle = 0;
    /* Printable ASCII only, so the errors below, which quote the spec,
     * never carry a control character or broken UTF-8. */
    for (size_t i = 0; s[i]; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return AERR("character %zu (0x%02x) is not allowed: give N, A-B or A-B:S, or a "
                        "list of them (1,5,9-12)",
                        i + 1, (unsigned char)s[i]);
    /* The indices end at the throttle, "%N", when there is one. */
    const char *pct = strchr(s, '%'), *stop = pct ? pct : s + strlen(s);
    if (pct && (rc = array_throttle(pct, throttle, err, errlen)))
        return rc;
    if (stop == s) {
        *throttle = 0;
        return AERR("empty (give N, A-B, A-B:S or a list of them: 1,5,9-12)");
    }
    /* Count first, so a huge spec is refused before anything is allocated. */
    for (const char *p = s;; p++) {
        const char *comma = memchr(p, ',', (size_t)(stop - p));
        size_t len = comma ? (size_t)(comma - p) : (size_t)(stop - p);
        if ((rc = array_item(p, len, &lo, &hi, &step, err, errlen))) {
            *throttle = 0;
            return rc;
        }
        total += (uint64_t)((hi - lo) / step) + 1;
        if (total > ARRAY_MAX_TASKS) {
            *throttle = 0;
            return AERR("'%.*s' makes more than %d tasks in all", (int)MIN(len, 64), p,
                        ARRAY_MAX_TASKS);
        }
        if (!comma)
            break;
        p = comma;
    }
    int *v = xcalloc((size_t)total, sizeof(int));
    size_t k = 0;
    for (const char *p = s;; p++) {
        const char *comma = memchr(p, ',', (size_t)(stop - p));
        size_t len = comma ? (size_t)(comma - p) : (size_t)(stop - p);
        array_item(p, len, &lo, &hi, &step, err, errlen);
        for (int64_t i = lo; i <= hi; i += step)
            v[k++] = (int)i;
        if (!comma)
            break;
        p = comma;
    }
    qsort(v, k, sizeof(int), cmp_int);
    for (size_t i = 1; i < k; i++)
        if (v[i] == v[i - 1]) {
            snprintf(err, errlen, "index %d is given twice", v[i]);
            free(v);
            *throttle = 0;
            return DTR_EINVAL;
        }
    *idx = v;
    *n = k;
    return 0;
}
