/* SPDX-License-Identifier: MIT */
/*
 * Decoding and encoding of every protocol message and task spec. Decoding
 * uses json-c with a nesting limit and then checks each field's presence,
 * type and bounds, refusing unknown fields; the error text names the field.
 * Encoding writes JSON by hand into a buf (no intermediate objects), since it
 * sits on the hot path of dispatch and results.
 */
#include "proto/msg.h"

#include <errno.h>
#include <json-c/json.h>
#include <inttypes.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/parse.h"
#include "common/utf8.h"
#include "common/util.h"
#include "proto/frame.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), DTR_EINVAL)

static const char *const type_names[MSG_NTYPES] = {
    [MSG_HELLO] = "hello",         [MSG_AUTH] = "auth",     [MSG_ERROR] = "error",
    [MSG_PING] = "ping",           [MSG_PONG] = "pong",     [MSG_RUN] = "run",
    [MSG_KILL] = "kill",           [MSG_ACK] = "ack",       [MSG_RESULT] = "result",
    [MSG_DRAIN] = "drain",         [MSG_SUBMIT] = "submit", [MSG_SUBMITTED] = "submitted",
    [MSG_STATUS] = "status",       [MSG_LIST] = "list",     [MSG_TASK] = "task",
    [MSG_END] = "end",             [MSG_GET] = "get",       [MSG_WAIT] = "wait",
    [MSG_PROGRESS] = "progress",   [MSG_CANCEL] = "cancel", [MSG_CANCELLED] = "cancelled",
    [MSG_HELD] = "held",
};

static const char *const kind_names[] = {
    [KIND_EXEC] = "exec", [KIND_COMPUTE] = "compute", [KIND_TRANSFORM] = "transform",
    [KIND_ECHO] = "echo", [KIND_SLEEP] = "sleep",     [KIND_NOOP] = "noop",
};

const char *msg_type_name(enum msg_type t)
{
    return (unsigned)t < MSG_NTYPES ? type_names[t] : "?";
}

const char *task_kind_name(enum task_kind k)
{
    return (unsigned)k < ARRAY_SIZE(kind_names) ? kind_names[k] : "?";
}

int task_kind_parse(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(kind_names); i++)
        if (!strcmp(name, kind_names[i]))
            return (int)i;
    return -1;
}

bool msg_id_valid(const char *id)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++, n++)
        if (*p <= 0x20 || *p >= 0x7f)
            return false;
    return n >= 1 && n <= MSG_MAX_ID;
}

/* ---- decoding helpers ---------------------------------------------------- */

/*
 * json-c cuts an object key at an escaped NUL ("A\u0000B" is read as "A"),
 * so such a key would silently become another name (an env variable, a
 * payload field): refuse it, naming the field that holds it
 * ("tasks[1].env"). text is JSON that json-c accepted, so it nests at most
 * FRAME_MAX_DEPTH levels. The scan runs only when the text holds "\u0000".
 */
static int check_nul_keys(const char *text, size_t len, char *err, size_t errlen)
{
    struct {
        bool array;
        size_t index;  /* an array's current element */
        const char *p; /* an object's last key, raw */
        size_t n;
    } lvl[FRAME_MAX_DEPTH + 2];
    int depth = 0;
    if (!memmem(text, len, "\\u0000", 6))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '{' || c == '[') {
            if (depth == FRAME_MAX_DEPTH + 1)
                return ERR("malformed JSON: nested too deeply");
            depth++;
            lvl[depth].array = c == '[';
            lvl[depth].index = 0;
            lvl[depth].p = NULL;
            lvl[depth].n = 0;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        } else if (c == ',' && depth > 0) {
            lvl[depth].index++;
        } else if (c == '"') {
            size_t start = ++i;
            bool nul = false;
            for (; i < len && text[i] != '"'; i++)
                if (text[i] == '\\') {
                    nul |= len - i >= 6 && !memcmp(text + i, "\\u0000", 6);
                    i++;
                }
            size_t end = i, j = i + 1;
            while (j < len && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r' ||
                               text[j] == '\n'))
                j++;
            if (j >= len || text[j] != ':' || depth == 0)
                continue; /* a value, not a key */
            if (nul && depth == 1)
                return ERR("a field name holds a NUL character (\\u0000): names must not "
                           "contain NUL");
            if (nul) {
                struct buf path = BUF_INIT;
                for (int d = 1; d < depth; d++)
                    if (lvl[d].array)
                        buf_addf(&path, "[%zu]", lvl[d].index);
                    else
                        buf_addf(&path, "%s%.*s", d > 1 ? "." : "", (int)MIN(lvl[d].n, 40),
                                 lvl[d].p);
                int rc = ERR("field '%s' holds a name with a NUL character (\\u0000): names "
                             "must not contain NUL",
                             path.data);
                buf_release(&path);
                return rc;
            }
            lvl[depth].p = text + start;
            lvl[depth].n = end - start;
        }
    }
    return 0;
}

/* json-c's own UTF-8 check lets overlong forms and surrogates through, and
 * buf_add_json_str() would turn them into U+FFFD on the way out, changing
 * what was sent: refuse them on the way in. */
static json_object *parse_json(const char *text, size_t len, char *err, size_t errlen)
{
    size_t bad = utf8_invalid_at(text, len);
    if (bad < len) {
        snprintf(err, errlen, "malformed JSON: invalid UTF-8 at byte %zu", bad);
        return NULL;
    }
    /* A fresh parser per message: json-c 0.16's json_tokener_reset() keeps
     * a pending UTF-16 surrogate from an earlier failed parse, which then
     * corrupts the next string (found by fuzz_msg). */
    struct json_tokener *tok = json_tokener_new_ex(FRAME_MAX_DEPTH);
    if (!tok) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    if (!o || jerr != json_tokener_success) {
        if (jerr == json_tokener_continue)
            snprintf(err, errlen, "malformed JSON: unexpected end of input");
        else if (jerr == json_tokener_success) /* the text was "null" */
            snprintf(err, errlen, "expected a JSON object, not null");
        else
            snprintf(err, errlen, "malformed JSON at byte %zu: %s", used,
                     json_tokener_error_desc(jerr));
        json_object_put(o);
        o = NULL;
    } else {
        /* text[used] may be a NUL, which strchr() would find. */
        while (used < len && text[used] && strchr(" \t\r\n", text[used]))
            used++;
        if (used < len) {
            snprintf(err, errlen, "malformed JSON: trailing data at byte %zu", used);
            json_object_put(o);
            o = NULL;
        } else if (check_nul_keys(text, len, err, errlen)) {
            json_object_put(o);
            o = NULL;
        }
    }
    json_tokener_free(tok);
    return o;
}

static int check_keys(json_object *o, const char *const *allowed, const char *what, char *err,
                      size_t errlen)
{
    int n = 0;
    json_object_object_foreach(o, key, val)
    {
        (void)val;
        if (++n > MSG_MAX_KEYS)
            return ERR("%s has more than %d fields", what, MSG_MAX_KEYS);
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (!strcmp(key, *a)) {
                ok = true;
                break;
            }
        if (!ok)
            return ERR("%s: unknown field '%s'", what, key);
    }
    return 0;
}

/* Looks up key; *v is NULL when absent or JSON null. */
static json_object *field(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
        return NULL;
    return v;
}

static int get_str(json_object *o, const char *key, bool required, size_t max, char **out,
                   char *err, size_t errlen)
{
    json_object *v = field(o, key);
    *out = NULL;
    if (!v)
        return required ? ERR("missing field '%s'", key) : 0;
    if (!json_object_is_type(v, json_type_string))
        return ERR("field '%s' must be a string", key);
    size_t n = (size_t)json_object_get_string_len(v);
    if (n > max)
        return ERR("field '%s' is longer than %zu bytes", key, max);
    const char *s = json_object_get_string(v);
    if (memchr(s, '\0', n))
        return ERR("field '%s' must not contain NUL characters", key);
    *out = xstrndup(s, n);
    return 0;
}

/* Like get_str, for a binary-safe blob (captured output). */
static int get_blob(json_object *o, const char *key, size_t max, char **out, size_t *outlen,
                    char *err, size_t errlen)
{
    json_object *v = field(o, key);
    *out = NULL;
    *outlen = 0;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return ERR("field '%s' must be a string", key);
    size_t n = (size_t)json_object_get_string_len(v);
    if (n > max)
        return ERR("field '%s' is longer than %zu bytes", key, max);
    *out = xstrndup(json_object_get_string(v), n);
    *outlen = n;
    return 0;
}

/*
 * One captured stream (docs/protocol.md, "Output"): KEY_b64, when present,
 * holds the exact bytes in standard base64 and wins (a KEY beside it is a
 * display copy); otherwise the JSON string KEY holds them.
 */
static int get_stream(json_object *o, const char *key, char **out, size_t *outlen, char *err,
                      size_t errlen)
{
    char b64key[32];
    snprintf(b64key, sizeof(b64key), "%s_b64", key);
    json_object *v = field(o, b64key);
    if (!v)
        return get_blob(o, key, FRAME_MAX_LINE, out, outlen, err, errlen);
    *out = NULL;
    *outlen = 0;
    json_object *shown = field(o, key);
    if (shown && !json_object_is_type(shown, json_type_string))
        return ERR("field '%s' must be a string", key);
    if (!json_object_is_type(v, json_type_string))
        return ERR("field '%s' must be a base64 string", b64key);
    size_t n = (size_t)json_object_get_string_len(v), got = 0;
    if (n > FRAME_MAX_LINE)
        return ERR("field '%s' is longer than %u bytes", b64key, FRAME_MAX_LINE);
    const char *text = json_object_get_string(v), *end = NULL;
    char *bin = xmalloc(n / 4 * 3 + 4);
    /* Strict: padding required, no blanks, no stray bits, nothing after. */
    if (sodium_base642bin((unsigned char *)bin, n / 4 * 3 + 3, text, n, NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != text + n) {
        free(bin);
        return ERR("field '%s' must be standard base64 with padding (RFC 4648)", b64key);
    }
    bin[got] = '\0';
    *out = bin;
    *outlen = got;
    return 0;
}

static int get_int(json_object *o, const char *key, bool required, int64_t min, int64_t max,
                   int64_t *out, char *err, size_t errlen)
{
    json_object *v = field(o, key);
    if (!v)
        return required ? ERR("missing field '%s'", key) : 0;
    if (!json_object_is_type(v, json_type_int))
        return ERR("field '%s' must be an integer", key);
    errno = 0;
    int64_t x = json_object_get_int64(v);
    /* json-c keeps integers up to 2^64-1 and get_int64() saturates those
     * above INT64_MAX: out of range, not INT64_MAX. */
    if (x == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
        errno = ERANGE;
    if (errno || x < min || x > max)
        return ERR("field '%s' must be an integer from %" PRId64 " to %" PRId64, key, min, max);
    *out = x;
    return 0;
}

static int get_u64(json_object *o, const char *key, bool required, uint64_t *out, char *err,
                   size_t errlen)
{
    int64_t x = 0;
    /* leases start at 1: 0 means "none" in the master */
    int64_t min = strcmp(key, "lease") ? 0 : 1;
    int rc = get_int(o, key, required, min, INT64_MAX, &x, err, errlen);
    if (rc == 0 && field(o, key))
        *out = (uint64_t)x;
    return rc;
}

static int get_bool(json_object *o, const char *key, bool *out, char *err, size_t errlen)
{
    json_object *v = field(o, key);
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_boolean))
        return ERR("field '%s' must be true or false", key);
    *out = json_object_get_boolean(v);
    return 0;
}

static int get_array(json_object *o, const char *key, bool required, size_t max,
                     json_object **out, size_t *n, char *err, size_t errlen)
{
    json_object *v = field(o, key);
    *out = NULL;
    *n = 0;
    if (!v)
        return required ? ERR("missing field '%s'", key) : 0;
    if (!json_object_is_type(v, json_type_array))
        return ERR("field '%s' must be an array", key);
    *n = json_object_array_length(v);
    if (*n > max)
        return ERR("field '%s' has more than %zu entries", key, max);
    *out = v;
    return 0;
}

static int get_ids(json_object *o, const char *key, bool required, char ***ids, size_t *nids,
                   char *err, size_t errlen)
{
    json_object *a;
    size_t n;
    int rc = get_array(o, key, required, MSG_MAX_BATCH, &a, &n, err, errlen);
    if (rc || !a)
        return rc;
    *ids = xcalloc(n + 1, sizeof(char *));
    *nids = n;
    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(a, i);
        if (!json_object_is_type(v, json_type_string) || !msg_id_valid(json_object_get_string(v)))
            return ERR("field '%s': entry %zu is not a valid id (1 to %d printable characters, "
                       "no spaces)", key, i, MSG_MAX_ID);
        (*ids)[i] = xstrdup(json_object_get_string(v));
    }
    return 0;
}

static int get_leases(json_object *o, const char *key, uint64_t **out, size_t *nout, char *err,
                      size_t errlen)
{
    json_object *a;
    size_t n;
    int rc = get_array(o, key, true, MSG_MAX_BATCH, &a, &n, err, errlen);
    if (rc)
        return rc;
    *out = xcalloc(n + 1, sizeof(uint64_t));
    *nout = n;
    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(a, i);
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
            json_object_get_uint64(v) > (uint64_t)INT64_MAX) /* clamped by json-c */
            return ERR("field '%s': entry %zu is not a lease number", key, i);
        (*out)[i] = (uint64_t)json_object_get_int64(v);
    }
    return 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Whether s is a number as JSON (RFC 8259) writes it. */
static bool json_number_ok(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (is_digit(*s))
        while (is_digit(*s))
            s++;
    else
        return false;
    if (*s == '.') {
        if (!is_digit(*++s))
            return false;
        while (is_digit(*s))
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!is_digit(*s))
            return false;
        while (is_digit(*s))
            s++;
    }
    return *s == '\0';
}

/*
 * json-c writes a double back as its source text, and it accepts source text
 * that is no JSON: "01.5", "1.", "-.5", or "0318e" (kept as "0318", which
 * reads back as the integer 318, and "1111111111111111111111e", which reads
 * back as an integer clamped to 2^64-1). Such doubles are written from their
 * value instead, so that what we send is JSON and encodes the same way twice.
 */
static void fix_number_text(json_object *v)
{
    const char *text;
    switch (json_object_get_type(v)) {
    case json_type_double:
        text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
        if (!json_number_ok(text) || !strpbrk(text, ".eE"))
            json_object_set_serializer(v, NULL, NULL, NULL);
        break;
    case json_type_array:
        for (size_t i = 0, n = json_object_array_length(v); i < n; i++)
            fix_number_text(json_object_array_get_idx(v, i));
        break;
    case json_type_object: {
        json_object_object_foreach(v, key, val)
        {
            (void)key;
            fix_number_text(val);
        }
        break;
    }
    default:
        break;
    }
}

static char *to_json_text(json_object *v)
{
    fix_number_text(v);
    return xstrdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE));
}

static int get_time(json_object *o, const char *key, int64_t *out, char *err, size_t errlen)
{
    return get_int(o, key, false, 0, INT64_MAX / 4, out, err, errlen);
}

/* ---- task specs ---------------------------------------------------------- */

void spec_release(struct task_spec *s)
{
    free(s->id);
    for (size_t i = 0; i < s->argc; i++)
        free(s->argv[i]);
    free(s->argv);
    free(s->cmd);
    for (size_t i = 0; i < s->envc; i++)
        free(s->env[i]);
    free(s->env);
    free(s->cwd);
    free(s->payload);
    memset(s, 0, sizeof(*s));
}

static bool all_numbers(json_object *a)
{
    size_t n = json_object_array_length(a);
    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(a, i);
        if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
            return false;
        /* json-c reads NaN, Infinity and 1e400 as doubles; none is a number. */
        if (!isfinite(json_object_get_double(v)))
            return false;
    }
    return true;
}

/* The built-in kinds read fixed payload fields: check them at submission so
 * a typo is an error now, not a failed attempt later. */
static int check_payload(enum task_kind kind, json_object *p, char *err, size_t errlen)
{
    json_object *v;
    switch (kind) {
    case KIND_COMPUTE:
        v = p ? field(p, "numbers") : NULL;
        if (!v || !json_object_is_type(v, json_type_array) || !all_numbers(v))
            return ERR("field 'payload.numbers' must be an array of numbers for a compute task");
        break;
    case KIND_TRANSFORM:
        v = p ? field(p, "data") : NULL;
        if (!v || !json_object_is_type(v, json_type_string))
            return ERR("field 'payload.data' must be a string for a transform task");
        break;
    case KIND_SLEEP:
        v = p ? field(p, "seconds") : NULL;
        /* Written so that NaN fails too. */
        if (!v || !(json_object_is_type(v, json_type_int) ||
                    json_object_is_type(v, json_type_double)) ||
            !(json_object_get_double(v) >= 0 && json_object_get_double(v) <= 86400 * 365))
            return ERR("field 'payload.seconds' must be a number of seconds for a sleep task");
        break;
    default:
        break;
    }
    return 0;
}

/*
 * A spec travels inside submit (3 levels deep) and run (4 levels) messages,
 * which the decoder takes only up to FRAME_MAX_DEPTH: a payload nested
 * deeper than this could be accepted and then never reach a worker.
 */
#define PAYLOAD_MAX_DEPTH (FRAME_MAX_DEPTH - 8)

/* Where check_payload_value() is, for its error text: "payload.a[2].b". */
struct json_path {
    char s[160];
    size_t len;
};

/* Appends ".key" or "[index]" (key NULL) to p, cut short when full; returns
 * the length to restore afterwards. */
static size_t path_push(struct json_path *p, const char *key, size_t index)
{
    size_t old = p->len;
    int n = key ? snprintf(p->s + old, sizeof(p->s) - old, ".%.40s", key)
                : snprintf(p->s + old, sizeof(p->s) - old, "[%zu]", index);
    p->len = n < 0 ? old : MIN(old + (size_t)n, sizeof(p->s) - 1);
    return old;
}

/*
 * json-c saturates integers past 64 bits instead of failing: 2^64 and more
 * read as 2^64-1, -2^63-1 and less as -2^63. So a payload (at submission)
 * may hold integers from -(2^63-1) to 2^63-1 only: -2^63 itself cannot be
 * told from the numbers clamped to it.
 */
static bool int_out_of_range(json_object *v)
{
    int64_t x = json_object_get_int64(v);
    return x == INT64_MIN || (x == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX);
}

/* Checks that v nests at most `depth` more levels and holds no NaN or
 * infinity (json-c accepts them; other JSON readers of a result do not),
 * nor, when check_ints, an integer json-c clamped (see int_out_of_range). */
static int check_payload_value(json_object *v, int depth, bool check_ints, struct json_path *path,
                               char *err, size_t errlen)
{
    int rc;
    switch (json_object_get_type(v)) {
    case json_type_int:
        if (check_ints && int_out_of_range(v))
            return ERR("field '%s' is an integer outside the 64-bit range (-%" PRId64 " to %" PRId64
                       "); write it with a fraction or an exponent (1e20) for a floating-point "
                       "number",
                       path->s, INT64_MAX, INT64_MAX);
        return 0;
    case json_type_double:
        if (!isfinite(json_object_get_double(v)))
            return ERR("field 'payload' must not hold NaN or infinite numbers");
        return 0;
    case json_type_array:
    case json_type_object:
        if (depth == 0)
            return ERR("field 'payload' nests deeper than %d levels", PAYLOAD_MAX_DEPTH);
        if (json_object_is_type(v, json_type_array)) {
            size_t n = json_object_array_length(v);
            for (size_t i = 0; i < n; i++) {
                size_t old = path_push(path, NULL, i);
                if ((rc = check_payload_value(json_object_array_get_idx(v, i), depth - 1,
                                              check_ints, path, err, errlen)))
                    return rc;
                path->s[path->len = old] = '\0';
            }
        } else {
            json_object_object_foreach(v, key, val)
            {
                size_t old = path_push(path, key, 0);
                if ((rc = check_payload_value(val, depth - 1, check_ints, path, err, errlen)))
                    return rc;
                path->s[path->len = old] = '\0';
            }
        }
        return 0;
    default:
        return 0;
    }
}

/*
 * submit: the spec comes from a user (a submit message, a .jsonl line), not
 * from the master's journal (a run message), and gets the checks added after
 * specs were first stored: a run must still carry what an older master
 * accepted.
 */
static int spec_from_json(json_object *o, struct task_spec *s, bool submit, char *err,
                          size_t errlen)
{
    static const char *const keys[] = {"id",       "kind",        "argv",    "cmd",
                                       "env",      "cwd",         "payload", "priority",
                                       "max_retries", "timeout",  NULL};
    int64_t x;
    int rc;
    memset(s, 0, sizeof(*s));
    s->priority = TASK_DEFAULT_PRIORITY;
    s->max_retries = TASK_DEFAULT_RETRIES;
    if (!json_object_is_type(o, json_type_object))
        return ERR("a task must be a JSON object");
    if ((rc = check_keys(o, keys, "task", err, errlen)))
        return rc;
    if ((rc = get_str(o, "id", false, MSG_MAX_ID, &s->id, err, errlen)))
        return rc;
    if (s->id && !msg_id_valid(s->id))
        return ERR("field 'id' must be 1 to %d printable characters without spaces", MSG_MAX_ID);

    char *kind = NULL;
    if ((rc = get_str(o, "kind", false, 32, &kind, err, errlen)))
        return rc;
    if (kind) {
        int k = task_kind_parse(kind);
        free(kind);
        if (k < 0)
            return ERR("field 'kind' must be one of exec, compute, transform, echo, sleep, noop");
        s->kind = (enum task_kind)k;
    }

    json_object *argv;
    size_t argc;
    if ((rc = get_array(o, "argv", false, MSG_MAX_ARGV, &argv, &argc, err, errlen)))
        return rc;
    if (argv) {
        if (argc == 0)
            return ERR("field 'argv' must not be empty");
        s->argv = xcalloc(argc + 1, sizeof(char *));
        for (size_t i = 0; i < argc; i++) {
            json_object *v = json_object_array_get_idx(argv, i);
            if (!json_object_is_type(v, json_type_string) ||
                (size_t)json_object_get_string_len(v) > MSG_MAX_STR ||
                memchr(json_object_get_string(v), 0, (size_t)json_object_get_string_len(v)))
                return ERR("field 'argv' must be an array of strings (entry %zu is not)", i);
            s->argv[i] = xstrdup(json_object_get_string(v));
            s->argc = i + 1;
        }
    }
    if ((rc = get_str(o, "cmd", false, MSG_MAX_STR, &s->cmd, err, errlen)))
        return rc;
    if (s->kind == KIND_EXEC) {
        if (!s->argv && (!s->cmd || !*s->cmd))
            return ERR("an exec task needs field 'argv' (program and arguments) or 'cmd' "
                       "(a shell command)");
        if (s->argv && s->cmd)
            return ERR("an exec task takes 'argv' or 'cmd', not both");
    } else if (s->argv || s->cmd) {
        return ERR("fields 'argv' and 'cmd' only apply to exec tasks, not '%s'",
                   task_kind_name(s->kind));
    }

    json_object *env = field(o, "env");
    if (env) {
        if (!json_object_is_type(env, json_type_object))
            return ERR("field 'env' must be an object of strings");
        size_t n = (size_t)json_object_object_length(env);
        if (n > MSG_MAX_ENV)
            return ERR("field 'env' has more than %d entries", MSG_MAX_ENV);
        s->env = xcalloc(n + 1, sizeof(char *));
        json_object_object_foreach(env, key, val)
        {
            if (!*key || strchr(key, '=') || !json_object_is_type(val, json_type_string))
                return ERR("field 'env' must map names (without '=') to strings");
            const char *sv = json_object_get_string(val);
            size_t svlen = (size_t)json_object_get_string_len(val);
            if (memchr(sv, '\0', svlen))
                return ERR("field 'env': entry '%.64s' must not contain NUL characters", key);
            if (strlen(key) + svlen > MSG_MAX_STR)
                return ERR("field 'env': entry '%.64s' is too long", key);
            struct buf b = BUF_INIT;
            buf_addf(&b, "%s=%s", key, sv);
            s->env[s->envc++] = buf_detach(&b, NULL);
        }
    }
    if ((rc = get_str(o, "cwd", false, 4096, &s->cwd, err, errlen)))
        return rc;

    json_object *payload = field(o, "payload");
    if ((rc = check_payload(s->kind, payload, err, errlen)))
        return rc;
    if (payload) {
        struct json_path path = {"payload", 7};
        if ((rc = check_payload_value(payload, PAYLOAD_MAX_DEPTH, submit, &path, err, errlen)))
            return rc;
        s->payload = to_json_text(payload);
        if (strlen(s->payload) > MSG_MAX_STR)
            return ERR("field 'payload' is larger than %u bytes", MSG_MAX_STR);
    }

    json_object *prio = field(o, "priority");
    if (prio) {
        if (json_object_is_type(prio, json_type_string)) {
            if (priority_parse(json_object_get_string(prio), &s->priority))
                return ERR("field 'priority' must be low, medium, high or an integer");
        } else if ((rc = get_int(o, "priority", false, INT32_MIN, INT32_MAX, &s->priority, err,
                                 errlen))) {
            return ERR("field 'priority' must be low, medium, high or an integer");
        }
    }
    x = s->max_retries;
    if ((rc = get_int(o, "max_retries", false, 0, TASK_MAX_RETRIES, &x, err, errlen)))
        return rc;
    s->max_retries = (int)x;

    /* One rule with `dtr submit --timeout`: a timeout is rounded to whole
     * milliseconds and must then be positive; no timeout is spelled by
     * leaving the field out (or null). */
    json_object *to = field(o, "timeout");
    if (to) {
        if (json_object_is_type(to, json_type_string)) {
            if (duration_parse(json_object_get_string(to), &s->timeout_ms))
                return ERR("field 'timeout' must be a positive duration (500ms, 10s, 2m, 1h)");
            if (!s->timeout_ms)
                return ERR("field 'timeout' " TIMEOUT_RULE);
            /* The same bound as for a number: the canonical form writes
             * seconds, and it must parse again. */
            if (s->timeout_ms >= 86400LL * 365 * 1000)
                return ERR("field 'timeout' must be shorter than 365 days");
        } else if (json_object_is_type(to, json_type_int) ||
                   json_object_is_type(to, json_type_double)) {
            double secs = json_object_get_double(to);
            if (secs == 0)
                return ERR("field 'timeout' " TIMEOUT_RULE);
            if (!(secs > 0 && secs < 86400.0 * 365))
                return ERR("field 'timeout' must be a positive number of seconds");
            s->timeout_ms = (int64_t)(secs * 1000 + 0.5);
            if (s->timeout_ms == 0)
                return ERR("field 'timeout' " TIMEOUT_RULE);
        } else {
            return ERR("field 'timeout' must be a number of seconds or a duration");
        }
    }
    return 0;
}

int spec_parse(const char *json, size_t len, struct task_spec *spec, char *err, size_t errlen)
{
    memset(spec, 0, sizeof(*spec));
    json_object *o = parse_json(json, len, err, errlen);
    if (!o)
        return DTR_EINVAL;
    int rc = spec_from_json(o, spec, true, err, errlen);
    json_object_put(o);
    if (rc)
        spec_release(spec);
    return rc;
}

void spec_encode(struct buf *b, const struct task_spec *s)
{
    buf_addstr(b, "{\"id\":");
    buf_add_json_cstr(b, s->id);
    buf_addf(b, ",\"kind\":\"%s\"", task_kind_name(s->kind));
    if (s->argv) {
        buf_addstr(b, ",\"argv\":[");
        for (size_t i = 0; i < s->argc; i++) {
            if (i)
                buf_addch(b, ',');
            buf_add_json_cstr(b, s->argv[i]);
        }
        buf_addch(b, ']');
    }
    if (s->cmd) {
        buf_addstr(b, ",\"cmd\":");
        buf_add_json_cstr(b, s->cmd);
    }
    if (s->env) {
        buf_addstr(b, ",\"env\":{");
        for (size_t i = 0; i < s->envc; i++) {
            const char *eq = strchr(s->env[i], '=');
            if (i)
                buf_addch(b, ',');
            buf_add_json_str(b, s->env[i], (size_t)(eq - s->env[i]));
            buf_addch(b, ':');
            buf_add_json_cstr(b, eq + 1);
        }
        buf_addch(b, '}');
    }
    if (s->cwd) {
        buf_addstr(b, ",\"cwd\":");
        buf_add_json_cstr(b, s->cwd);
    }
    if (s->payload) {
        buf_addstr(b, ",\"payload\":");
        buf_addstr(b, s->payload);
    }
    buf_addf(b, ",\"priority\":%" PRId64 ",\"max_retries\":%d", s->priority, s->max_retries);
    if (s->timeout_ms)
        buf_addf(b, ",\"timeout\":%.3f", (double)s->timeout_ms / 1000.0);
    buf_addch(b, '}');
}

/* ---- messages ------------------------------------------------------------- */

static void task_info_release(struct task_info *ti)
{
    free(ti->id);
    free(ti->kind);
    free(ti->worker);
    free(ti->error);
    task_output_release(&ti->out);
}

void msg_release(struct msg *m)
{
    free(m->role);
    free(m->id);
    free(m->nonce);
    free(m->proof);
    free(m->addr);
    free(m->instance);
    for (size_t i = 0; i < m->nheld; i++)
        free(m->held[i].id);
    free(m->held);
    free(m->error);
    for (size_t i = 0; i < m->nruns; i++)
        spec_release(&m->runs[i].spec);
    free(m->runs);
    free(m->leases);
    free(m->result.id);
    free(m->result.error);
    task_output_release(&m->result.out);
    for (size_t i = 0; i < m->nspecs; i++)
        spec_release(&m->specs[i]);
    free(m->specs);
    for (size_t i = 0; i < m->nids; i++)
        free(m->ids[i]);
    free(m->ids);
    task_info_release(&m->task);
    for (size_t i = 0; i < m->nworkers; i++) {
        free(m->workers[i].id);
        free(m->workers[i].addr);
    }
    free(m->workers);
    memset(m, 0, sizeof(*m));
}

static int parse_hello(json_object *o, struct msg *m, char *err, size_t errlen)
{
    static const char *const keys[] = {"type",     "proto",   "role",         "id",
                                       "nonce",    "auth",    "addr",         "slots",
                                       "draining", "version", "heartbeat_ms", "instance",
                                       NULL};
    int64_t x = 0;
    int rc;
    if ((rc = check_keys(o, keys, "hello", err, errlen)))
        return rc;
    if ((rc = get_int(o, "proto", true, 0, INT32_MAX, &x, err, errlen)))
        return rc;
    m->proto = (int)x;
    if ((rc = get_str(o, "role", true, 16, &m->role, err, errlen)))
        return rc;
    if (strcmp(m->role, "master") && strcmp(m->role, "worker") && strcmp(m->role, "client"))
        return ERR("field 'role' must be master, worker or client");
    if ((rc = get_str(o, "id", false, MSG_MAX_ID, &m->id, err, errlen)))
        return rc;
    if (m->id && !msg_id_valid(m->id))
        return ERR("field 'id' must be 1 to %d printable characters without spaces", MSG_MAX_ID);
    if ((rc = get_str(o, "nonce", true, 128, &m->nonce, err, errlen)) ||
        (rc = get_bool(o, "auth", &m->auth, err, errlen)) ||
        (rc = get_str(o, "addr", false, 300, &m->addr, err, errlen)) ||
        (rc = get_bool(o, "draining", &m->draining, err, errlen)))
        return rc;
    if (!strcmp(m->role, "worker")) {
        if (!m->id)
            return ERR("a worker's hello needs field 'id'");
        if ((rc = get_int(o, "slots", true, 1, 1024, &x, err, errlen)))
            return rc;
        m->slots = (int)x;
    }
    if ((rc = get_int(o, "heartbeat_ms", false, MSG_MIN_HEARTBEAT_MS, MSG_MAX_HEARTBEAT_MS,
                      &m->heartbeat_ms, err, errlen)))
        return rc;
    if ((rc = get_str(o, "instance", false, MSG_INSTANCE_HEX, &m->instance, err, errlen)))
        return rc;
    if (m->instance && (strlen(m->instance) != MSG_INSTANCE_HEX ||
                        strspn(m->instance, "0123456789abcdef") != MSG_INSTANCE_HEX))
        return ERR("field 'instance' must be %d lowercase hex digits", MSG_INSTANCE_HEX);
    return 0;
}

static int parse_held(json_object *o, struct msg *m, char *err, size_t errlen)
{
    static const char *const keys[] = {"type", "attempts", "more", NULL};
    static const char *const item_keys[] = {"lease", "id", NULL};
    json_object *a;
    size_t n;
    int rc;
    if ((rc = check_keys(o, keys, "held", err, errlen)) ||
        (rc = get_bool(o, "more", &m->more, err, errlen)) ||
        (rc = get_array(o, "attempts", true, MSG_MAX_BATCH, &a, &n, err, errlen)))
        return rc;
    m->held = xcalloc(n + 1, sizeof(*m->held));
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(a, i);
        struct lease_ref *r = &m->held[i];
        m->nheld = i + 1;
        if (!json_object_is_type(e, json_type_object))
            return ERR("field 'attempts': entry %zu must be an object", i);
        if ((rc = check_keys(e, item_keys, "held entry", err, errlen)) ||
            (rc = get_u64(e, "lease", true, &r->lease, err, errlen)) ||
            (rc = get_str(e, "id", true, MSG_MAX_ID, &r->id, err, errlen)))
            return rc;
    }
    return 0;
}

static int parse_run(json_object *o, struct msg *m, char *err, size_t errlen)
{
    static const char *const keys[] = {"type", "tasks", NULL};
    static const char *const item_keys[] = {"lease", "attempt", "spec", NULL};
    json_object *a;
    size_t n;
    int rc;
    if ((rc = check_keys(o, keys, "run", err, errlen)) ||
        (rc = get_array(o, "tasks", true, MSG_MAX_BATCH, &a, &n, err, errlen)))
        return rc;
    m->runs = xcalloc(n + 1, sizeof(*m->runs));
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(a, i);
        struct run_item *r = &m->runs[i];
        int64_t att = 0;
        m->nruns = i + 1;
        if (!json_object_is_type(e, json_type_object))
            return ERR("run: entry %zu must be an object", i);
        if ((rc = check_keys(e, item_keys, "run entry", err, errlen)) ||
            (rc = get_u64(e, "lease", true, &r->lease, err, errlen)) ||
            (rc = get_int(e, "attempt", true, 1, INT32_MAX, &att, err, errlen)))
            return rc;
        r->attempt = (int)att;
        json_object *spec = field(e, "spec");
        if (!spec)
            return ERR("run: entry %zu: missing field 'spec'", i);
        if ((rc = spec_from_json(spec, &r->spec, false, err, errlen)))
            return rc;
        if (!r->spec.id)
            return ERR("run: entry %zu: the spec has no id", i);
    }
    return 0;
}

static int parse_output(json_object *o, struct task_output *out, char *err, size_t errlen)
{
    int rc;
    if ((rc = get_stream(o, "stdout", &out->out, &out->out_len, err, errlen)) ||
        (rc = get_stream(o, "stderr", &out->err, &out->err_len, err, errlen)) ||
        (rc = get_bool(o, "stdout_truncated", &out->out_truncated, err, errlen)) ||
        (rc = get_bool(o, "stderr_truncated", &out->err_truncated, err, errlen)))
        return rc;
    json_object *res = field(o, "result");
    if (res)
        out->result = to_json_text(res);
    return 0;
}

static int parse_result(json_object *o, struct msg *m, char *err, size_t errlen)
{
    static const char *const keys[] = {
        "type",   "lease",  "id",     "attempt",          "ok",
        "refused", "exit_code", "signal", "error",       "stdout",
        "stderr", "stdout_truncated", "stderr_truncated", "result", "started_at",
        "finished_at", "stdout_b64", "stderr_b64", NULL};
    struct attempt_result *r = &m->result;
    int64_t x = 0;
    int rc;
    if ((rc = check_keys(o, keys, "result", err, errlen)) ||
        (rc = get_u64(o, "lease", true, &r->lease, err, errlen)) ||
        (rc = get_str(o, "id", true, MSG_MAX_ID, &r->id, err, errlen)) ||
        (rc = get_int(o, "attempt", true, 1, INT32_MAX, &x, err, errlen)))
        return rc;
    if (!msg_id_valid(r->id))
        return ERR("field 'id' is not a valid task id");
    r->attempt = (int)x;
    x = -1;
    if ((rc = get_bool(o, "ok", &r->ok, err, errlen)) ||
        (rc = get_bool(o, "refused", &r->refused, err, errlen)) ||
        (rc = get_int(o, "exit_code", false, -1, 255, &x, err, errlen)))
        return rc;
    r->exit_code = (int)x;
    x = 0;
    if ((rc = get_int(o, "signal", false, 0, 128, &x, err, errlen)))
        return rc;
    r->term_signal = (int)x;
    if ((rc = get_str(o, "error", false, MSG_MAX_STR, &r->error, err, errlen)) ||
        (rc = parse_output(o, &r->out, err, errlen)) ||
        (rc = get_time(o, "started_at", &r->started_at, err, errlen)) ||
        (rc = get_time(o, "finished_at", &r->finished_at, err, errlen)))
        return rc;
    return 0;
}

static int parse_submit(json_object *o, struct msg *m, char *err, size_t errlen)
{
    static const char *const keys[] = {"type", "tasks", NULL};
    json_object *a;
    size_t n;
    int rc;
    if ((rc = check_keys(o, keys, "submit", err, errlen)) ||
        (rc = get_array(o, "tasks", true, MSG_MAX_BATCH, &a, &n, err, errlen)))
        return rc;
    if (n == 0)
        return ERR("submit: field 'tasks' is empty");
    m->specs = xcalloc(n, sizeof(*m->specs));
    for (size_t i = 0; i < n; i++) {
        char why[512];
        m->nspecs = i + 1;
        if (spec_from_json(json_object_array_get_idx(a, i), &m->specs[i], true, why,
                           sizeof(why)))
            return ERR("task %zu: %s", i + 1, why);
    }
    return 0;
}

static int parse_task_info(json_object *o, struct task_info *ti, char *err, size_t errlen)
{
    int64_t x;
    int rc;
    char *state = NULL;
    if (!json_object_is_type(o, json_type_object))
        return ERR("field 'task' must be an object");
    if ((rc = get_str(o, "id", true, MSG_MAX_ID, &ti->id, err, errlen)) ||
        (rc = get_str(o, "state", true, 16, &state, err, errlen)))
        return rc;
    int s = task_state_parse(state);
    free(state);
    if (s < 0)
        return ERR("field 'state' is not a task state");
    ti->state = (enum task_state)s;
    x = 0;
    if ((rc = get_str(o, "kind", false, 32, &ti->kind, err, errlen)) ||
        (rc = get_int(o, "priority", false, INT32_MIN, INT32_MAX, &x, err, errlen)))
        return rc;
    ti->priority = x;
    x = 0;
    if ((rc = get_int(o, "attempts", false, 0, INT32_MAX, &x, err, errlen)))
        return rc;
    ti->attempts = (int)x;
    x = 0;
    if ((rc = get_int(o, "max_retries", false, 0, INT32_MAX, &x, err, errlen)))
        return rc;
    ti->max_retries = (int)x;
    x = 0;
    if ((rc = get_int(o, "crashes", false, 0, INT32_MAX, &x, err, errlen)))
        return rc;
    ti->crashes = (int)x;
    x = -1;
    if ((rc = get_int(o, "exit_code", false, -1, 255, &x, err, errlen)))
        return rc;
    ti->exit_code = (int)x;
    if ((rc = get_str(o, "worker", false, MSG_MAX_ID, &ti->worker, err, errlen)) ||
        (rc = get_str(o, "error", false, MSG_MAX_STR, &ti->error, err, errlen)) ||
        (rc = get_time(o, "submitted_ms", &ti->submitted_at, err, errlen)) ||
        (rc = get_time(o, "started_ms", &ti->started_at, err, errlen)) ||
        (rc = get_time(o, "finished_ms", &ti->finished_at, err, errlen)))
        return rc;
    json_object *dummy;
    ti->has_output = json_object_object_get_ex(o, "stdout", &dummy) ||
                     json_object_object_get_ex(o, "stdout_b64", &dummy);
    return parse_output(o, &ti->out, err, errlen);
}

static int parse_status(json_object *o, struct msg *m, char *err, size_t errlen)
{
    json_object *a;
    size_t n;
    int rc;
    if ((rc = get_array(o, "workers", true, 1000000, &a, &n, err, errlen)))
        return rc;
    m->workers = xcalloc(n + 1, sizeof(*m->workers));
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(a, i);
        struct worker_info *w = &m->workers[i];
        int64_t x = 0;
        m->nworkers = i + 1;
        if (!json_object_is_type(e, json_type_object))
            return ERR("status: worker %zu must be an object", i);
        if ((rc = get_str(e, "id", true, MSG_MAX_ID, &w->id, err, errlen)) ||
            (rc = get_str(e, "addr", false, 300, &w->addr, err, errlen)) ||
            (rc = get_int(e, "slots", false, 0, 1 << 20, &x, err, errlen)))
            return rc;
        w->slots = (int)x;
        x = 0;
        if ((rc = get_int(e, "running", false, 0, 1 << 20, &x, err, errlen)))
            return rc;
        w->running = (int)x;
        if ((rc = get_u64(e, "done", false, &w->done, err, errlen)) ||
            (rc = get_time(e, "last_seen_ms", &w->last_seen, err, errlen)) ||
            (rc = get_bool(e, "draining", &w->draining, err, errlen)))
            return rc;
    }
    json_object *t = field(o, "tasks");
    if (!t || !json_object_is_type(t, json_type_object))
        return ERR("status: missing object 'tasks'");
    for (int s = 0; s < TASK_NSTATES; s++)
        if ((rc = get_u64(t, task_state_name((enum task_state)s), false, &m->counts[s], err,
                          errlen)))
            return rc;
    return 0;
}

static int parse_body(json_object *o, struct msg *m, char *err, size_t errlen)
{
    int rc;
    int64_t x;
    switch (m->type) {
    case MSG_HELLO:
        return parse_hello(o, m, err, errlen);
    case MSG_AUTH: {
        static const char *const keys[] = {"type", "proof", NULL};
        if ((rc = check_keys(o, keys, "auth", err, errlen)))
            return rc;
        return get_str(o, "proof", true, 128, &m->proof, err, errlen);
    }
    case MSG_HELD:
        return parse_held(o, m, err, errlen);
    case MSG_ERROR:
        return get_str(o, "error", true, MSG_MAX_STR, &m->error, err, errlen);
    case MSG_PING:
    case MSG_DRAIN:
    case MSG_END:
        return 0;
    case MSG_STATUS:
        /* the request is bare; the reply carries {"status":{...}} */
        return field(o, "status") ? parse_status(field(o, "status"), m, err, errlen) : 0;
    case MSG_PONG:
        x = 0;
        rc = get_int(o, "busy", false, 0, 1 << 20, &x, err, errlen);
        m->busy = (int)x;
        return rc;
    case MSG_RUN:
        return parse_run(o, m, err, errlen);
    case MSG_KILL:
    case MSG_ACK:
        return get_leases(o, "leases", &m->leases, &m->nleases, err, errlen);
    case MSG_RESULT:
        return parse_result(o, m, err, errlen);
    case MSG_SUBMIT:
        return parse_submit(o, m, err, errlen);
    case MSG_CANCELLED:
        if ((rc = get_str(o, "error", false, MSG_MAX_STR, &m->error, err, errlen)))
            return rc;
        return get_ids(o, "ids", true, &m->ids, &m->nids, err, errlen);
    case MSG_SUBMITTED:
    case MSG_CANCEL:
        return get_ids(o, "ids", true, &m->ids, &m->nids, err, errlen);
    case MSG_WAIT:
        if ((rc = get_bool(o, "all", &m->all, err, errlen)) ||
            (rc = get_ids(o, "ids", !m->all, &m->ids, &m->nids, err, errlen)))
            return rc;
        return 0;
    case MSG_LIST: {
        char *state = NULL;
        m->state = -1;
        if ((rc = get_str(o, "state", false, 16, &state, err, errlen)))
            return rc;
        if (state) {
            m->state = task_state_parse(state);
            free(state);
            if (m->state < 0)
                return ERR("field 'state' must be queued, running, succeeded, failed or "
                           "cancelled");
        }
        return 0;
    }
    case MSG_TASK:
        return parse_task_info(field(o, "task") ? field(o, "task") : o, &m->task, err, errlen);
    case MSG_GET:
        if ((rc = get_str(o, "id", true, MSG_MAX_ID, &m->id, err, errlen)))
            return rc;
        return msg_id_valid(m->id) ? 0 : ERR("field 'id' is not a valid task id");
    case MSG_PROGRESS:
        if ((rc = get_u64(o, "total", true, &m->total, err, errlen)) ||
            (rc = get_u64(o, "done", true, &m->done, err, errlen)) ||
            (rc = get_u64(o, "failed", false, &m->failed, err, errlen)) ||
            (rc = get_bool(o, "final", &m->final, err, errlen)))
            return rc;
        return 0;
    case MSG_NTYPES:
        break;
    }
    return ERR("unknown message type");
}

/*
 * Heartbeat lines, exactly as dtr nodes write them, skip the JSON parser:
 * 10,000 workers send 10,000 a second, and json-c allocates a parser and a
 * hash table for each. Any other spelling takes the full path.
 */
static bool parse_heartbeat(const char *line, size_t len, struct msg *m)
{
    static const char ping[] = "{\"type\":\"ping\"}", pong[] = "{\"type\":\"pong\",\"busy\":";
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
    if (q >= s->end || *q < '0' || *q > '9' || (*q == '0' && q + 1 < s->end && q[1] >= '0' &&
                                                q[1] <= '9'))
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
 * parse_result(); anything else falls back to the full path.
 */
static bool parse_result_fast(const char *line, size_t len, struct msg *m)
{
    struct scan s = {line, line + len};
    struct attempt_result *r = &m->result;
    int64_t lease, attempt, code, sig = 0, started, finished;
    if (!scan_lit(&s, "{\"type\":\"result\",\"lease\":") ||
        !scan_int(&s, 1, INT64_MAX, &lease) || !scan_lit(&s, ",\"id\":\""))
        return false;
    const char *id = s.p;
    while (s.p < s.end && *s.p > 0x20 && *s.p < 0x7f && *s.p != '"' && *s.p != '\\')
        s.p++;
    size_t idlen = (size_t)(s.p - id);
    if (idlen < 1 || idlen > MSG_MAX_ID || !scan_lit(&s, "\",\"attempt\":") ||
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

/*
 * A task spec exactly as spec_encode() writes it, in its two common shapes:
 * a noop, or an exec with argv, with plain ASCII strings, no cmd, env, cwd
 * or timeout, and no payload but an empty one. The checks are spec_from_json()'s for those
 * fields. Returns false (with *out released) to send the line down the full
 * path, which decides.
 */
static bool scan_spec(struct scan *s, struct task_spec *out)
{
    const char *p;
    size_t n;
    int64_t prio, retries;
    memset(out, 0, sizeof(*out));
    if (!scan_lit(s, "{\"id\":"))
        return false;
    if (!scan_lit(s, "null")) {
        if (!scan_plain_str(s, &p, &n) || n < 1 || n > MSG_MAX_ID || memchr(p, ' ', n))
            return false;
        out->id = xstrndup(p, n);
    }
    if (scan_lit(s, ",\"kind\":\"noop\"")) {
        out->kind = KIND_NOOP;
    } else if (scan_lit(s, ",\"kind\":\"exec\",\"argv\":[")) {
        out->kind = KIND_EXEC;
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
    if (!scan_lit(s, ",\"priority\":") || !scan_int(s, INT32_MIN, INT32_MAX, &prio) ||
        !scan_lit(s, ",\"max_retries\":") || !scan_int(s, 0, TASK_MAX_RETRIES, &retries) ||
        !scan_lit(s, "}"))
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
    size_t n = 0, cap = 0;
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
        }
    } while (scan_lit(&s, ","));
    if (!scan_lit(&s, "]}") || s.p != s.end)
        goto fail;
    if (run) {
        m->type = MSG_RUN;
        m->runs = runs;
        m->nruns = n;
    } else {
        m->type = MSG_SUBMIT;
        m->specs = specs;
        m->nspecs = n;
    }
    return true;
fail:
    for (size_t i = 0; i < n; i++)
        spec_release(run ? &runs[i].spec : &specs[i]);
    free(runs);
    free(specs);
    return false;
}

int msg_parse(const char *line, size_t len, struct msg *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    m->state = -1;
    if (parse_heartbeat(line, len, m) || parse_result_fast(line, len, m) ||
        parse_specs_fast(line, len, m))
        return 0;
    json_object *o = parse_json(line, len, err, errlen);
    if (!o)
        return DTR_EINVAL;
    int rc = DTR_EINVAL;
    if (!json_object_is_type(o, json_type_object)) {
        snprintf(err, errlen, "a message must be a JSON object");
        goto out;
    }
    json_object *t = field(o, "type");
    if (!t || !json_object_is_type(t, json_type_string)) {
        snprintf(err, errlen, "a message needs a string field 'type'");
        goto out;
    }
    const char *name = json_object_get_string(t);
    int type = -1;
    for (int i = 0; i < MSG_NTYPES; i++)
        if (!strcmp(name, type_names[i]))
            type = i;
    if (type < 0) {
        snprintf(err, errlen, "unknown message type '%.40s'", name);
        rc = DTR_EPROTO;
        goto out;
    }
    m->type = (enum msg_type)type;
    rc = parse_body(o, m, err, errlen);
out:
    json_object_put(o);
    if (rc)
        msg_release(m);
    return rc;
}

/* ---- encoding ------------------------------------------------------------- */

/*
 * One captured stream (docs/protocol.md, "Output"): bytes that are valid
 * UTF-8 travel as the JSON string NAME; others as NAME_b64, their exact
 * bytes in standard base64, since a JSON string cannot carry them. With
 * display (`dtr result --json`), NAME is written either way, invalid bytes
 * replaced by U+FFFD, for readers that only show it. Valid output, the
 * common case, is read once, as before.
 */
static void add_stream(struct buf *b, const char *name, const char *p, size_t n, bool display)
{
    size_t mark = b->len;
    buf_addf(b, ",\"%s\":", name);
    if (buf_add_json_str(b, p ? p : "", n) == 0)
        return;
    if (!display) {
        b->len = mark;
        b->data[mark] = '\0';
    }
    size_t enc = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    buf_addf(b, ",\"%s_b64\":\"", name);
    buf_grow(b, enc);
    sodium_bin2base64(b->data + b->len, enc, (const unsigned char *)p, n,
                      sodium_base64_VARIANT_ORIGINAL);
    b->len += enc - 1; /* enc counts the NUL */
    buf_addch(b, '"');
}

static void add_output(struct buf *b, const struct task_output *o, bool display)
{
    add_stream(b, "stdout", o->out, o->out_len, display);
    add_stream(b, "stderr", o->err, o->err_len, display);
    buf_addf(b, ",\"stdout_truncated\":%s,\"stderr_truncated\":%s",
             o->out_truncated ? "true" : "false", o->err_truncated ? "true" : "false");
    buf_addstr(b, ",\"result\":");
    buf_addstr(b, o->result ? o->result : "null");
}

/* The same fields for a worker's result line, leaving out the defaults the
 * decoder assumes (a noop's result is then half as many fields to parse). */
static void add_output_compact(struct buf *b, const struct task_output *o)
{
    if (o->out_len)
        add_stream(b, "stdout", o->out, o->out_len, false);
    if (o->err_len)
        add_stream(b, "stderr", o->err, o->err_len, false);
    if (o->out_truncated)
        buf_addstr(b, ",\"stdout_truncated\":true");
    if (o->err_truncated)
        buf_addstr(b, ",\"stderr_truncated\":true");
    if (o->result && strcmp(o->result, "null")) {
        buf_addstr(b, ",\"result\":");
        buf_addstr(b, o->result);
    }
}

static void add_time(struct buf *b, const char *key, int64_t ms)
{
    char iso[CLOCK_ISO_LEN + 8];
    if (!ms) {
        buf_addf(b, ",\"%s_at\":null", key);
        return;
    }
    clock_iso8601(ms, iso, sizeof(iso));
    buf_addf(b, ",\"%s_at\":\"%s\",\"%s_ms\":%" PRId64, key, iso, key, ms);
}

static void encode_task_info(struct buf *b, const struct task_info *ti, bool display)
{
    buf_addstr(b, "{\"id\":");
    buf_add_json_cstr(b, ti->id);
    buf_addf(b, ",\"state\":\"%s\",\"kind\":", task_state_name(ti->state));
    buf_add_json_cstr(b, ti->kind);
    buf_addf(b, ",\"priority\":%" PRId64 ",\"attempts\":%d,\"max_retries\":%d,\"crashes\":%d",
             ti->priority, ti->attempts, ti->max_retries, ti->crashes);
    buf_addstr(b, ",\"worker\":");
    buf_add_json_cstr(b, ti->worker);
    if (ti->exit_code >= 0)
        buf_addf(b, ",\"exit_code\":%d", ti->exit_code);
    else
        buf_addstr(b, ",\"exit_code\":null");
    buf_addstr(b, ",\"error\":");
    buf_add_json_cstr(b, ti->error);
    add_time(b, "submitted", ti->submitted_at);
    add_time(b, "started", ti->started_at);
    add_time(b, "finished", ti->finished_at);
    if (ti->has_output)
        add_output(b, &ti->out, display);
    buf_addch(b, '}');
}

void task_info_encode(struct buf *b, const struct task_info *ti)
{
    encode_task_info(b, ti, false);
}

void task_info_encode_display(struct buf *b, const struct task_info *ti)
{
    encode_task_info(b, ti, true);
}

void status_encode(struct buf *b, const struct worker_info *w, size_t n,
                   const uint64_t counts[TASK_NSTATES])
{
    char iso[CLOCK_ISO_LEN + 8];
    buf_addstr(b, "{\"workers\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_addch(b, ',');
        buf_addstr(b, "{\"id\":");
        buf_add_json_cstr(b, w[i].id);
        buf_addstr(b, ",\"addr\":");
        buf_add_json_cstr(b, w[i].addr);
        clock_iso8601(w[i].last_seen, iso, sizeof(iso));
        buf_addf(b,
                 ",\"slots\":%d,\"running\":%d,\"done\":%" PRIu64 ",\"draining\":%s"
                 ",\"last_seen\":\"%s\",\"last_seen_ms\":%" PRId64 "}",
                 w[i].slots, w[i].running, w[i].done, w[i].draining ? "true" : "false", iso,
                 w[i].last_seen);
    }
    buf_addstr(b, "],\"tasks\":{");
    for (int s = 0; s < TASK_NSTATES; s++)
        buf_addf(b, "%s\"%s\":%" PRIu64, s ? "," : "", task_state_name((enum task_state)s),
                 counts[s]);
    buf_addstr(b, "}}");
}

static void add_ids(struct buf *b, char *const *ids, size_t n)
{
    buf_addstr(b, ",\"ids\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_addch(b, ',');
        buf_add_json_cstr(b, ids[i]);
    }
    buf_addch(b, ']');
}

static void add_leases(struct buf *b, const uint64_t *l, size_t n)
{
    buf_addstr(b, ",\"leases\":[");
    for (size_t i = 0; i < n; i++)
        buf_addf(b, "%s%" PRIu64, i ? "," : "", l[i]);
    buf_addch(b, ']');
}

static void add_str_field(struct buf *b, const char *key, const char *val)
{
    if (!val)
        return;
    buf_addf(b, ",\"%s\":", key);
    buf_add_json_cstr(b, val);
}

void msg_encode_error(struct buf *b, const char *text)
{
    buf_addstr(b, "{\"type\":\"error\",\"error\":");
    buf_add_json_cstr(b, text);
    buf_addstr(b, "}\n");
}

void msg_encode(struct buf *b, const struct msg *m)
{
    buf_addf(b, "{\"type\":\"%s\"", msg_type_name(m->type));
    switch (m->type) {
    case MSG_HELLO:
        buf_addf(b, ",\"proto\":%d,\"version\":\"%s\"", m->proto, DTR_VERSION);
        add_str_field(b, "role", m->role);
        add_str_field(b, "id", m->id);
        add_str_field(b, "nonce", m->nonce);
        if (m->auth)
            buf_addstr(b, ",\"auth\":true");
        add_str_field(b, "addr", m->addr);
        if (m->slots)
            buf_addf(b, ",\"slots\":%d", m->slots);
        if (m->draining)
            buf_addstr(b, ",\"draining\":true");
        if (m->heartbeat_ms)
            buf_addf(b, ",\"heartbeat_ms\":%" PRId64, m->heartbeat_ms);
        add_str_field(b, "instance", m->instance);
        break;
    case MSG_HELD:
        buf_addstr(b, ",\"attempts\":[");
        for (size_t i = 0; i < m->nheld; i++) {
            buf_addf(b, "%s{\"lease\":%" PRIu64 ",\"id\":", i ? "," : "", m->held[i].lease);
            buf_add_json_cstr(b, m->held[i].id);
            buf_addch(b, '}');
        }
        buf_addch(b, ']');
        if (m->more)
            buf_addstr(b, ",\"more\":true");
        break;
    case MSG_AUTH:
        add_str_field(b, "proof", m->proof);
        break;
    case MSG_ERROR:
        add_str_field(b, "error", m->error);
        break;
    case MSG_PONG:
        buf_addf(b, ",\"busy\":%d", m->busy);
        break;
    case MSG_KILL:
    case MSG_ACK:
        add_leases(b, m->leases, m->nleases);
        break;
    case MSG_RESULT: {
        const struct attempt_result *r = &m->result;
        buf_addf(b, ",\"lease\":%" PRIu64 ",\"id\":", r->lease);
        buf_add_json_cstr(b, r->id);
        buf_addf(b, ",\"attempt\":%d,\"ok\":%s", r->attempt, r->ok ? "true" : "false");
        if (r->refused)
            buf_addstr(b, ",\"refused\":true");
        buf_addf(b, ",\"exit_code\":%d", r->exit_code);
        if (r->term_signal)
            buf_addf(b, ",\"signal\":%d", r->term_signal);
        add_str_field(b, "error", r->error);
        add_output_compact(b, &r->out);
        buf_addf(b, ",\"started_at\":%" PRId64 ",\"finished_at\":%" PRId64, r->started_at,
                 r->finished_at);
        break;
    }
    case MSG_SUBMIT:
        buf_addstr(b, ",\"tasks\":[");
        for (size_t i = 0; i < m->nspecs; i++) {
            if (i)
                buf_addch(b, ',');
            spec_encode(b, &m->specs[i]);
        }
        buf_addch(b, ']');
        break;
    case MSG_SUBMITTED:
    case MSG_CANCEL:
    case MSG_CANCELLED:
        add_ids(b, m->ids, m->nids);
        if (m->type == MSG_CANCELLED)
            add_str_field(b, "error", m->error);
        break;
    case MSG_WAIT:
        if (m->all)
            buf_addstr(b, ",\"all\":true");
        else
            add_ids(b, m->ids, m->nids);
        break;
    case MSG_LIST:
        if (m->state >= 0)
            buf_addf(b, ",\"state\":\"%s\"", task_state_name((enum task_state)m->state));
        break;
    case MSG_GET:
        add_str_field(b, "id", m->id);
        break;
    case MSG_TASK:
        buf_addstr(b, ",\"task\":");
        task_info_encode(b, &m->task);
        break;
    case MSG_PROGRESS:
        buf_addf(b, ",\"total\":%" PRIu64 ",\"done\":%" PRIu64 ",\"failed\":%" PRIu64, m->total,
                 m->done, m->failed);
        if (m->final)
            buf_addstr(b, ",\"final\":true");
        break;
    case MSG_RUN:
    case MSG_PING:
    case MSG_DRAIN:
    case MSG_END:
    case MSG_STATUS:
    case MSG_NTYPES:
        break;
    }
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

const char *spec_kind(const char *canonical)
{
    /* spec_encode() writes the kind right after the id, and an escaped id
     * cannot hold a bare quote, so the first match is the kind. */
    const char *p = strstr(canonical, ",\"kind\":\"");
    if (!p)
        return "exec";
    p += 9;
    for (size_t i = 0; i < ARRAY_SIZE(kind_names); i++) {
        size_t n = strlen(kind_names[i]);
        if (!strncmp(p, kind_names[i], n) && p[n] == '"')
            return kind_names[i];
    }
    return "exec";
}

int64_t spec_timeout_ms(const char *canonical)
{
    /* spec_encode() ends with the integer max_retries and then, when set,
     * ,"timeout":S.SSS}: the last ':' belongs to one of those two. */
    static const char key[] = "\"timeout\"";
    const size_t klen = sizeof(key) - 1;
    const char *colon = strrchr(canonical, ':');
    if (!colon || (size_t)(colon - canonical) < klen || memcmp(colon - klen, key, klen))
        return 0;
    char *end;
    double s = strtod(colon + 1, &end);
    if (end == colon + 1 || *end != '}' || !(s > 0) || s > 366.0 * 86400)
        return 0;
    return (int64_t)llround(s * 1000.0);
}

int payload_eval(enum task_kind kind, const char *payload, char **result, int64_t *sleep_ms,
                 char *err, size_t errlen)
{
    *result = NULL;
    *sleep_ms = 0;
    if (kind == KIND_NOOP) {
        *result = xstrdup("null");
        return 0;
    }
    if (kind == KIND_ECHO) {
        *result = xstrdup(payload ? payload : "{}");
        return 0;
    }
    json_object *o = parse_json(payload ? payload : "{}", payload ? strlen(payload) : 2, err,
                                errlen);
    if (!o)
        return DTR_EINVAL;
    int rc = check_payload(kind, o, err, errlen);
    if (rc)
        goto out;
    struct buf b = BUF_INIT;
    if (kind == KIND_COMPUTE) {
        json_object *a = field(o, "numbers");
        size_t n = json_object_array_length(a);
        bool ints = true;
        int64_t isum = 0;
        double dsum = 0;
        for (size_t i = 0; i < n; i++) {
            json_object *v = json_object_array_get_idx(a, i);
            int64_t x = json_object_get_int64(v);
            /* json-c keeps integers up to 2^64-1, and get_int64() clamps
             * those above INT64_MAX: sum them as doubles. */
            bool big = x == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX;
            if (!json_object_is_type(v, json_type_int) || big ||
                __builtin_add_overflow(isum, x, &isum))
                ints = false;
            dsum += json_object_get_double(v);
        }
        if (ints) {
            buf_addf(&b, "%" PRId64, isum);
        } else if (!isfinite(dsum)) {
            /* "inf" is no JSON: the result message would not parse. */
            rc = ERR("field 'payload.numbers' sums to more than a double holds");
            buf_release(&b);
            goto out;
        } else {
            buf_addf(&b, "%.17g", dsum);
        }
    } else if (kind == KIND_TRANSFORM) {
        json_object *d = field(o, "data");
        size_t n = (size_t)json_object_get_string_len(d);
        char *up = xstrndup(json_object_get_string(d), n);
        for (size_t i = 0; i < n; i++)
            if (up[i] >= 'a' && up[i] <= 'z')
                up[i] = (char)(up[i] - 'a' + 'A');
        buf_add_json_str(&b, up, n);
        free(up);
    } else if (kind == KIND_SLEEP) {
        *sleep_ms = (int64_t)(json_object_get_double(field(o, "seconds")) * 1000 + 0.5);
        buf_addstr(&b, "null");
    }
    *result = buf_detach(&b, NULL);
out:
    json_object_put(o);
    return rc;
}
