/* SPDX-License-Identifier: MIT */
/*
 * The shortcuts past json-c for lines dtr writes itself on hot paths
 * (heartbeats, results, noop and exec specs in submit and run), each beside
 * the encoder whose exact spelling it reads. Any other spelling falls back
 * to msg.c's full parser, which decides; a shortcut never refuses a line.
 */
#include "proto/msg.h"

#include <inttypes.h>
#include <string.h>

#include "common/b64.h"
#include "common/util.h"
#include "proto/json_internal.h"
#include "sched/resources.h"

/* Heartbeats as dtr writes and reads them; other spellings take the full path. */
#define PING_LINE "{\"type\":\"ping\"}"
#define PONG_HEAD "{\"type\":\"pong\",\"busy\":"

/* ---- heartbeats ----------------------------------------------------------- */

/*
 * Heartbeat lines, exactly as dtr nodes write them, skip the JSON parser:
 * 10,000 workers send 10,000 a second, and json-c allocates a parser and a
 * hash table for each. Any other spelling takes the full path.
 */
static bool parse_heartbeat(const char *line, size_t len, struct msg *m)
{
    static const char ping[] = PING_LINE, pong[] = PONG_HEAD;
    const size_t p = sizeof(pong) - 1;
    if (len == sizeof(ping) - 1 && !memcmp(line, ping, len)) {
        m->type = MSG_PING;
        return true;
    }
    /* busy: 1 to 7 digits, no leading zero, at most 1 << 20 */
    if (len < p + 2 || len > p + 8 || memcmp(line, pong, p) || line[len - 1] != '}')
        return false;
    if (line[p] == '0' && len - 1 - p > 1)
        return false;
    int busy = 0;
    for (size_t i = p; i < len - 1; i++) {
        if (line[i] < '0' || line[i] > '9')
            return false;
        busy = busy * 10 + (line[i] - '0');
    }
    if (busy > 1 << 20)
        return false;
    m->type = MSG_PONG;
    m->busy = busy;
    return true;
}

void msg_encode_ping(struct buf *b)
{
    buf_addstr(b, PING_LINE "\n");
}

void msg_encode_pong(struct buf *b, int busy, int64_t heartbeat_ms)
{
    if (heartbeat_ms)
        buf_addf(b, PONG_HEAD "%d,\"heartbeat_ms\":%" PRId64 "}\n", busy, heartbeat_ms);
    else
        buf_addf(b, PONG_HEAD "%d}\n", busy);
}

/* ---- results -------------------------------------------------------------- */

/* A cursor over one line, for parse_result_fast(). */
struct scan {
    const char *p, *end;
};

static bool scan_lit(struct scan *s, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n))
        return false;
    s->p += n;
    return true;
}

/* A decimal in [min, max], spelled as JSON spells integers. */
static bool scan_int(struct scan *s, int64_t min, int64_t max, int64_t *out)
{
    const char *q = s->p;
    bool neg = q < s->end && *q == '-';
    q += neg;
    if (q >= s->end || *q < '0' || *q > '9' ||
        (*q == '0' && q + 1 < s->end && q[1] >= '0' && q[1] <= '9'))
        return false;
    uint64_t v = 0;
    for (; q < s->end && *q >= '0' && *q <= '9'; q++) {
        if (v > (UINT64_MAX - 9) / 10)
            return false; /* far out of any range below */
        v = v * 10 + (uint64_t)(*q - '0');
    }
    if (q < s->end && (*q == '.' || *q == 'e' || *q == 'E'))
        return false;
    if (v > (uint64_t)INT64_MAX)
        return false;
    int64_t x = neg ? -(int64_t)v : (int64_t)v;
    if (x < min || x > max)
        return false;
    *out = x;
    s->p = q;
    return true;
}

/*
 * A result line exactly as dtr workers write it for an attempt without
 * output or error (every noop, most exec tasks): lease, id, attempt, ok,
 * [refused], exit_code, [signal], started_at, finished_at, in that order,
 * with plain ASCII ids. It skips json-c, which spent 40% of the master's
 * time on results with its hash table per object. The checks are those of
 * parse_result() in msg.c; anything else falls back to the full path.
 */
/* The head a worker's result and output lines share, up to the attempt's
 * number: `HEAD` LEASE `,"id":"` ID `","attempt":` (the id printable ASCII
 * without spaces, quotes or escapes, as msg_id_valid() wants it). */
static bool scan_attempt_head(struct scan *s, const char *head, int64_t *lease, const char **id,
                              size_t *idlen)
{
    if (!scan_lit(s, head) || !scan_int(s, 1, INT64_MAX, lease) || !scan_lit(s, ",\"id\":\""))
        return false;
    *id = s->p;
    while (s->p<s->end && * s->p> 0x20 && *s->p < 0x7f && *s->p != '"' && *s->p != '\\')
        s->p++;
    *idlen = (size_t)(s->p - *id);
    return *idlen >= 1 && *idlen <= MSG_MAX_ID && scan_lit(s, "\",\"attempt\":");
}

static bool parse_result_fast(const char *line, size_t len, struct msg *m)
{
    struct scan s = {line, line + len};
    struct attempt_result *r = &m->result;
    int64_t lease, attempt, code, sig = 0, started, finished;
    const char *id;
    size_t idlen;
    if (!scan_attempt_head(&s, "{\"type\":\"result\",\"lease\":", &lease, &id, &idlen) ||
        !scan_int(&s, 1, INT32_MAX, &attempt) || !scan_lit(&s, ",\"ok\":"))
        return false;
    bool ok = scan_lit(&s, "true");
    if (!ok && !scan_lit(&s, "false"))
        return false;
    bool refused = scan_lit(&s, ",\"refused\":true");
    if (!scan_lit(&s, ",\"exit_code\":") || !scan_int(&s, -1, 255, &code))
        return false;
    if (scan_lit(&s, ",\"signal\":") && !scan_int(&s, 0, 128, &sig))
        return false;
    if (!scan_lit(&s, ",\"started_at\":") || !scan_int(&s, 0, INT64_MAX / 4, &started) ||
        !scan_lit(&s, ",\"finished_at\":") || !scan_int(&s, 0, INT64_MAX / 4, &finished) ||
        !scan_lit(&s, "}") || s.p != s.end)
        return false;
    m->type = MSG_RESULT;
    r->lease = (uint64_t)lease;
    r->id = xstrndup(id, idlen);
    r->attempt = (int)attempt;
    r->ok = ok;
    r->refused = refused;
    r->exit_code = (int)code;
    r->term_signal = (int)sig;
    r->started_at = started;
    r->finished_at = finished;
    return true;
}

/* The same fields for a worker's result line, leaving out the defaults the
 * decoder assumes (a noop's result is then half as many fields to parse). */
static void add_output_compact(struct buf *b, const struct task_output *o)
{
    if (o->out_len)
        pjson_add_stream(b, "stdout", o->out, o->out_len, false);
    if (o->err_len)
        pjson_add_stream(b, "stderr", o->err, o->err_len, false);
    if (o->out_truncated)
        buf_addstr(b, ",\"stdout_truncated\":true");
    if (o->err_truncated)
        buf_addstr(b, ",\"stderr_truncated\":true");
    if (o->result && strcmp(o->result, "null")) {
        buf_addstr(b, ",\"result\":");
        buf_addstr(b, o->result);
    }
}
/* The writing side of parse_result_fast() (and of parse_result() for the
 * rest): the order of the fields here is the order it scans. */
void msg_encode_result(struct buf *b, const struct attempt_result *r)
{
    buf_addf(b, "{\"type\":\"result\",\"lease\":%" PRIu64 ",\"id\":", r->lease);
    buf_add_json_cstr(b, r->id);
    buf_addf(b, ",\"attempt\":%d,\"ok\":%s", r->attempt, r->ok ? "true" : "false");
    if (r->refused)
        buf_addstr(b, ",\"refused\":true");
    buf_addf(b, ",\"exit_code\":%d", r->exit_code);
    if (r->term_signal)
        buf_addf(b, ",\"signal\":%d", r->term_signal);
    if (r->error) {
        buf_addstr(b, ",\"error\":");
        buf_add_json_cstr(b, r->error);
    }
    add_output_compact(b, &r->out);
    if (r->out_bytes)
        buf_addf(b, ",\"stdout_bytes\":%" PRIu64, r->out_bytes);
    if (r->err_bytes)
        buf_addf(b, ",\"stderr_bytes\":%" PRIu64, r->err_bytes);
    buf_addf(b, ",\"started_at\":%" PRId64 ",\"finished_at\":%" PRId64 "}\n", r->started_at,
             r->finished_at);
}

/* ---- output ---------------------------------------------------------------- */

/* An output line's fields before its bytes, up to and including the key
 * that carries them. */
static void output_head(struct buf *b, const struct output_chunk *c, const char *key)
{
    /* lease is optional on the wire (0 = none): a line always parses again */
    if (c->lease)
        buf_addf(b, "{\"type\":\"output\",\"lease\":%" PRIu64 ",\"id\":", c->lease);
    else
        buf_addstr(b, "{\"type\":\"output\",\"id\":");
    buf_add_json_cstr(b, c->id);
    buf_addf(b, ",\"attempt\":%d,\"stream\":\"%s\",\"offset\":%" PRIu64 ",\"%s\":", c->attempt,
             c->stream == OUTPUT_STDERR ? "stderr" : "stdout", c->offset, key);
}

void msg_encode_output(struct buf *b, const struct output_chunk *c)
{
    output_head(b, c, "data");
    size_t enc = B64_ENCODED_LEN(c->len);
    buf_grow(b, enc + 5);
    b->data[b->len++] = '"';
    b64_encode(b->data + b->len, c->data, c->len);
    b->len += enc;
    buf_addstr(b, "\"}\n");
}

void msg_encode_output_raw(struct buf *b, const struct output_chunk *c)
{
    output_head(b, c, "size");
    buf_addf(b, "%zu}\n", c->len);
    buf_add(b, c->data, c->len);
}

/*
 * An output line exactly as msg_encode_output() or msg_encode_output_raw()
 * writes it with a plain ASCII id: every byte a task writes passes here, so
 * it skips json-c (whose tokenizer would copy the data string byte by
 * byte). The checks are those of parse_output_chunk() in msg.c.
 */
static bool parse_output_fast(const char *line, size_t len, struct msg *m)
{
    struct scan s = {line, line + len};
    struct output_chunk *c = &m->chunk;
    int64_t lease, attempt, offset, size;
    const char *id;
    size_t idlen;
    if (!scan_attempt_head(&s, "{\"type\":\"output\",\"lease\":", &lease, &id, &idlen) ||
        !scan_int(&s, 0, INT32_MAX, &attempt) || !scan_lit(&s, ",\"stream\":\""))
        return false;
    enum output_stream stream;
    if (scan_lit(&s, "stdout"))
        stream = OUTPUT_STDOUT;
    else if (scan_lit(&s, "stderr"))
        stream = OUTPUT_STDERR;
    else
        return false;
    if (!scan_lit(&s, "\",\"offset\":") || !scan_int(&s, 0, INT64_MAX / 4, &offset))
        return false;
    char *bytes = NULL;
    size_t got = 0;
    if (scan_lit(&s, ",\"size\":")) {
        if (!scan_int(&s, 0, MSG_OUTPUT_CHUNK, &size) || s.end - s.p != 1 || *s.p != '}')
            return false;
        m->payload = (size_t)size;
    } else {
        if (!scan_lit(&s, ",\"data\":\""))
            return false;
        const char *data = s.p;
        const char *q = memchr(data, '"', (size_t)(s.end - data));
        if (!q || (size_t)(q - data) > B64_ENCODED_LEN(MSG_OUTPUT_CHUNK) || s.end - q != 2 ||
            q[1] != '}')
            return false;
        size_t n = (size_t)(q - data);
        bytes = xmalloc(n / 4 * 3 + 1);
        if (!b64_decode(data, n, bytes, &got)) {
            free(bytes);
            return false; /* the full parser says what is wrong */
        }
        bytes[got] = '\0';
    }
    m->type = MSG_OUTPUT;
    c->lease = (uint64_t)lease;
    c->id = xstrndup(id, idlen);
    c->attempt = (int)attempt;
    c->stream = stream;
    c->offset = (uint64_t)offset;
    c->data = bytes;
    c->len = got;
    return true;
}

/* ---- submit and run -------------------------------------------------------- */

/* A JSON string without escapes, of printable ASCII only (which is also
 * valid UTF-8 and holds no NUL): the span between the quotes. */
static bool scan_plain_str(struct scan *s, const char **p, size_t *n)
{
    if (s->p >= s->end || *s->p != '"')
        return false;
    const char *q = s->p + 1;
    while (q < s->end && *q >= 0x20 && *q < 0x7f && *q != '"' && *q != '\\')
        q++;
    if (q >= s->end || *q != '"')
        return false;
    *p = s->p + 1;
    *n = (size_t)(q - *p);
    s->p = q + 1;
    return true;
}

/* The dependencies a spec may name and still take the shortcut: a DAG's
 * tasks name one or two; more go down the full path. */
#define FAST_MAX_DEPS 8

/* An optional list of ids under key (",\"after\":[", say), as spec_encode()
 * writes it: plain ids, never empty. */
static bool scan_dep_ids(struct scan *s, const char *key, char ***ids, size_t *n)
{
    const char *p;
    size_t len;
    if (!scan_lit(s, key))
        return true; /* absent */
    *ids = xcalloc(FAST_MAX_DEPS + 1, sizeof(char *));
    do {
        if (*n == FAST_MAX_DEPS || !scan_plain_str(s, &p, &len) || len < 1 || len > MSG_MAX_ID ||
            memchr(p, ' ', len))
            return false;
        (*ids)[(*n)++] = xstrndup(p, len);
    } while (scan_lit(s, ","));
    return scan_lit(s, "]");
}

/* The dependencies, right after the kind; a task named twice (which the
 * full path refuses, with its words) sends the spec there. */
static bool scan_deps(struct scan *s, struct task_spec *out)
{
    if (!scan_dep_ids(s, ",\"after\":[", &out->after, &out->nafter) ||
        !scan_dep_ids(s, ",\"after_any\":[", &out->after_any, &out->nafter_any))
        return false;
    size_t n = out->nafter + out->nafter_any;
    for (size_t i = 0; i < n; i++) {
        const char *x = i < out->nafter ? out->after[i] : out->after_any[i - out->nafter];
        for (size_t k = i + 1; k < n; k++)
            if (!strcmp(x, k < out->nafter ? out->after[k] : out->after_any[k - out->nafter]))
                return false;
    }
    return true;
}

/* CPUs as res_format_cpus() writes them: digits, and at most 3 decimals
 * after a '.'; positive, at most RES_MAX_CPUS. */
static bool scan_cpus(struct scan *s, int64_t *milli)
{
    int64_t whole, frac = 0;
    const char *q = s->p;
    if (!scan_int(s, 0, RES_MAX_CPUS, &whole)) {
        /* scan_int() refuses a '.' after the digits: take them again */
        s->p = q;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            s->p++;
        size_t n = (size_t)(s->p - q);
        if (n < 1 || n > 5 || (n > 1 && *q == '0') || s->p >= s->end || *s->p != '.')
            return false;
        whole = 0;
        for (const char *d = q; d < s->p; d++)
            whole = whole * 10 + (*d - '0');
        s->p++;
        int digits = 0;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9' && digits < 3) {
            frac = frac * 10 + (*s->p++ - '0');
            digits++;
        }
        if (!digits ||
            (s->p < s->end && ((*s->p >= '0' && *s->p <= '9') || *s->p == 'e' || *s->p == 'E')))
            return false;
        while (digits++ < 3)
            frac *= 10;
    }
    *milli = whole * 1000 + frac;
    return *milli > 0 && *milli <= (int64_t)RES_MAX_CPUS * 1000;
}

/* The request fields as res_encode_fields() writes them (the named
 * resources sorted, each once); the checks of res_from_json(). Sets
 * out->req unless the request is the default one. */
static bool scan_request(struct scan *s, struct task_spec *out)
{
    struct request r;
    res_default(&r);
    if (scan_lit(s, ",\"cpus\":") && !scan_cpus(s, &r.cpus_milli))
        return false;
    if (scan_lit(s, ",\"mem\":") && !scan_int(s, 0, RES_MAX_MEM, &r.mem))
        return false;
    if (scan_lit(s, ",\"gpus\":") && !scan_int(s, 0, RES_MAX_GPUS, &r.gpus))
        return false;
    if (scan_lit(s, ",\"resources\":{")) {
        do {
            const char *p;
            size_t n;
            struct res_named *e = &r.named[r.nnamed];
            if (r.nnamed == RES_MAX_NAMED || !scan_plain_str(s, &p, &n) || n > RES_MAX_NAME ||
                !scan_lit(s, ":") || !scan_int(s, 1, RES_MAX_COUNT, &e->n))
                return false;
            memcpy(e->name, p, n);
            e->name[n] = '\0';
            if (!res_name_valid(e->name) ||
                (r.nnamed && strcmp(r.named[r.nnamed - 1].name, e->name) >= 0))
                return false;
            r.nnamed++;
        } while (scan_lit(s, ","));
        if (!scan_lit(s, "}"))
            return false;
    }
    if (!res_is_default(&r)) {
        out->req = xmalloc(sizeof(*out->req));
        *out->req = r;
    }
    return true;
}

/*
 * A task spec exactly as spec_encode() writes it, in its two common shapes:
 * a noop, or an exec with argv, with plain ASCII strings, no cmd, env, cwd
 * or timeout, and no payload but an empty one; each may name a few
 * dependencies and a resource request. A user's file may leave out the id.
 * The checks are those of spec_from_json() in spec.c for those fields.
 * Returns false (with *out released) to send the line down the full path,
 * which decides.
 */
static bool scan_spec(struct scan *s, struct task_spec *out)
{
    const char *p;
    size_t n;
    int64_t prio, retries, throttle;
    memset(out, 0, sizeof(*out));
    if (scan_lit(s, "{\"id\":")) {
        if (!scan_lit(s, "null")) {
            if (!scan_plain_str(s, &p, &n) || n < 1 || n > MSG_MAX_ID || memchr(p, ' ', n))
                return false;
            out->id = xstrndup(p, n);
        }
        if (!scan_lit(s, ","))
            goto fail;
    } else if (!scan_lit(s, "{")) {
        return false;
    }
    if (scan_lit(s, "\"kind\":\"noop\"")) {
        out->kind = KIND_NOOP;
        if (!scan_deps(s, out))
            goto fail;
    } else if (scan_lit(s, "\"kind\":\"exec\"")) {
        out->kind = KIND_EXEC;
        if (!scan_deps(s, out) || !scan_lit(s, ",\"argv\":["))
            goto fail;
        size_t cap = 0;
        do {
            if (out->argc == MSG_MAX_ARGV || !scan_plain_str(s, &p, &n) || n > MSG_MAX_STR)
                goto fail;
            if (out->argc + 1 >= cap) {
                cap = cap ? cap * 2 : 4;
                out->argv = xrealloc(out->argv, cap * sizeof(char *));
            }
            out->argv[out->argc++] = xstrndup(p, n);
            out->argv[out->argc] = NULL;
        } while (scan_lit(s, ","));
        if (!scan_lit(s, "]"))
            goto fail;
    } else {
        goto fail;
    }
    if (scan_lit(s, ",\"payload\":{}")) /* what the CLI gives a built-in kind */
        out->payload = xstrdup("{}");
    if (!scan_request(s, out))
        goto fail;
    /* Always written by spec_encode(); a user's JSON Lines file may leave
     * them to their defaults. */
    prio = TASK_DEFAULT_PRIORITY;
    retries = TASK_DEFAULT_RETRIES;
    if ((scan_lit(s, ",\"priority\":") && !scan_int(s, INT32_MIN, INT32_MAX, &prio)) ||
        (scan_lit(s, ",\"max_retries\":") && !scan_int(s, 0, TASK_MAX_RETRIES, &retries)))
        goto fail;
    if (scan_lit(s, ",\"job\":")) { /* the master's, last (spec_encode()) */
        if (!scan_plain_str(s, &p, &n) || n < 1 || n > MSG_MAX_JOB)
            goto fail;
        out->job = xstrndup(p, n);
        if (!job_id_valid(out->job))
            goto fail;
        if (scan_lit(s, ",\"throttle\":")) { /* its job's, after it */
            if (!scan_int(s, 1, MSG_MAX_THROTTLE, &throttle))
                goto fail;
            out->throttle = (uint32_t)throttle;
        }
    }
    if (!scan_lit(s, "}"))
        goto fail;
    out->priority = prio;
    out->max_retries = (int)retries;
    return true;
fail:
    spec_release(out);
    return false;
}

/*
 * Submit and run messages as dtr itself writes them, with every spec in a
 * shape scan_spec() takes: json-c built a hash table per spec and freed it
 * again, a third of the master's time while it takes a submission. Anything
 * else falls back to the full path.
 */
static bool parse_specs_fast(const char *line, size_t len, struct msg *m)
{
    struct scan s = {line, line + len};
    bool run = scan_lit(&s, "{\"type\":\"run\",\"tasks\":[");
    if (!run && !scan_lit(&s, "{\"type\":\"submit\",\"tasks\":["))
        return false;
    struct task_spec *specs = NULL;
    struct run_item *runs = NULL;
    size_t n = 0, cap = 0, jlen;
    int64_t throttle = 0;
    char *job = NULL;
    const char *p;
    bool job_name = false, wait = false;
    do {
        if (n == MSG_MAX_BATCH)
            goto fail;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            if (run)
                runs = xrealloc(runs, cap * sizeof(*runs));
            else
                specs = xrealloc(specs, cap * sizeof(*specs));
        }
        if (run) {
            struct run_item *r = &runs[n];
            int64_t lease, attempt;
            if (!scan_lit(&s, "{\"lease\":") || !scan_int(&s, 1, INT64_MAX, &lease) ||
                !scan_lit(&s, ",\"attempt\":") || !scan_int(&s, 1, INT32_MAX, &attempt) ||
                !scan_lit(&s, ",\"spec\":") || !scan_spec(&s, &r->spec))
                goto fail;
            n++;
            r->lease = (uint64_t)lease;
            r->attempt = (int)attempt;
            if (!r->spec.id || !scan_lit(&s, "}"))
                goto fail;
        } else {
            if (!scan_spec(&s, &specs[n]))
                goto fail;
            n++;
            if (specs[n - 1].job)
                goto fail; /* refused by the full path, with its words */
        }
    } while (scan_lit(&s, ","));
    if (!scan_lit(&s, "]"))
        goto fail;
    if (!run && (scan_lit(&s, ",\"job\":") || (job_name = scan_lit(&s, ",\"job_name\":")))) {
        if (!scan_plain_str(&s, &p, &jlen) || jlen < 1 || jlen > MSG_MAX_JOB)
            goto fail;
        job = xstrndup(p, jlen);
        if (!job_id_valid(job))
            goto fail;
    }
    if (!run && scan_lit(&s, ",\"throttle\":") && !scan_int(&s, 1, MSG_MAX_THROTTLE, &throttle))
        goto fail;
    wait = !run && scan_lit(&s, ",\"wait\":true");
    if (!scan_lit(&s, "}") || s.p != s.end)
        goto fail;
    if (run) {
        m->type = MSG_RUN;
        m->runs = runs;
        m->nruns = n;
    } else {
        m->type = MSG_SUBMIT;
        m->specs = specs;
        m->nspecs = n;
        m->throttle = (uint32_t)throttle;
        m->wait = wait;
        if (job_name)
            m->job_name = job;
        else
            m->job = job;
    }
    return true;
fail:
    free(job);
    for (size_t i = 0; i < n; i++)
        spec_release(run ? &runs[i].spec : &specs[i]);
    free(runs);
    free(specs);
    return false;
}

/* The writing side of parse_specs_fast() for submit; run is written by
 * msg_run_*() below. */
void msg_encode_submit(struct buf *b, const struct task_spec *specs, size_t n, const char *job,
                       const char *job_name, uint32_t throttle, bool wait)
{
    buf_addstr(b, "{\"type\":\"submit\",\"tasks\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_addch(b, ',');
        spec_encode(b, &specs[i]);
    }
    buf_addch(b, ']');
    if (job || job_name) {
        buf_addstr(b, job ? ",\"job\":" : ",\"job_name\":");
        buf_add_json_cstr(b, job ? job : job_name);
    }
    if (throttle)
        buf_addf(b, ",\"throttle\":%" PRIu32, throttle);
    if (wait)
        buf_addstr(b, ",\"wait\":true");
    buf_addstr(b, "}\n");
}

void msg_run_begin(struct buf *b)
{
    buf_addstr(b, "{\"type\":\"run\",\"tasks\":[");
}

void msg_run_add(struct buf *b, bool first, uint64_t lease, int attempt, const char *spec_json)
{
    buf_addf(b, "%s{\"lease\":%" PRIu64 ",\"attempt\":%d,\"spec\":", first ? "" : ",", lease,
             attempt);
    buf_addstr(b, spec_json);
    buf_addch(b, '}');
}

void msg_run_end(struct buf *b)
{
    buf_addstr(b, "]}\n");
}

bool spec_parse_fast(const char *json, size_t len, struct task_spec *spec)
{
    while (len > 0 && (json[len - 1] == '\n' || json[len - 1] == '\r'))
        len--; /* a line as getline() gives it */
    struct scan s = {json, json + len};
    if (!scan_spec(&s, spec))
        return false;
    if (s.p != s.end || spec->job) { /* the job is the master's to give */
        spec_release(spec);
        return false;
    }
    return true;
}

bool spec_request_fast(const char *canonical, size_t len, struct request *r)
{
    struct scan s = {canonical, canonical + len};
    struct task_spec spec;
    if (!scan_spec(&s, &spec))
        return false;
    bool whole = s.p == s.end;
    if (whole && spec.req)
        *r = *spec.req;
    else
        res_default(r);
    spec_release(&spec);
    return whole;
}

bool msg_parse_fast(const char *line, size_t len, struct msg *m)
{
    return parse_heartbeat(line, len, m) || parse_result_fast(line, len, m) ||
           parse_output_fast(line, len, m) || parse_specs_fast(line, len, m);
}
