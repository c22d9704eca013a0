/* SPDX-License-Identifier: MIT */
/*
 * JSON reading helpers for proto/: json-c with a nesting limit and strict
 * UTF-8, then one getter per field type that checks presence, type and
 * bounds and names the field in its error. Also the writer of captured
 * output (UTF-8 text or base64). Knows no message or spec: msg.c and spec.c
 * say which fields exist.
 */
#include "proto/json_internal.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "common/utf8.h"
#include "common/util.h"
#include "proto/frame.h"

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
            while (j < len &&
                   (text[j] == ' ' || text[j] == '\t' || text[j] == '\r' || text[j] == '\n'))
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
json_object *pjson_parse(const char *text, size_t len, char *err, size_t errlen)
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

json_object *pjson_entry(json_object *a, size_t i, const char *entry, const char *const *allowed,
                         const char *what, char *err, size_t errlen)
{
    json_object *e = json_object_array_get_idx(a, i);
    if (!json_object_is_type(e, json_type_object)) {
        snprintf(err, errlen, "%s %zu must be an object", entry, i);
        return NULL;
    }
    return pjson_check_keys(e, allowed, what, err, errlen) ? NULL : e;
}

int pjson_check_keys(json_object *o, const char *const *allowed, const char *what, char *err,
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
json_object *pjson_field(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
        return NULL;
    return v;
}

int pjson_get_str(json_object *o, const char *key, bool required, size_t max, char **out, char *err,
                  size_t errlen)
{
    json_object *v = pjson_field(o, key);
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
    json_object *v = pjson_field(o, key);
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
int pjson_get_stream(json_object *o, const char *key, char **out, size_t *outlen, char *err,
                     size_t errlen)
{
    char b64key[32];
    snprintf(b64key, sizeof(b64key), "%s_b64", key);
    json_object *v = pjson_field(o, b64key);
    if (!v)
        return get_blob(o, key, FRAME_MAX_LINE, out, outlen, err, errlen);
    *out = NULL;
    *outlen = 0;
    json_object *shown = pjson_field(o, key);
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

int pjson_get_int(json_object *o, const char *key, bool required, int64_t min, int64_t max,
                  int64_t *out, char *err, size_t errlen)
{
    json_object *v = pjson_field(o, key);
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

int pjson_get_u64(json_object *o, const char *key, bool required, uint64_t *out, char *err,
                  size_t errlen)
{
    int64_t x = 0;
    /* leases start at 1: 0 means "none" in the master */
    int64_t min = strcmp(key, "lease") ? 0 : 1;
    int rc = pjson_get_int(o, key, required, min, INT64_MAX, &x, err, errlen);
    if (rc == 0 && pjson_field(o, key))
        *out = (uint64_t)x;
    return rc;
}

int pjson_get_bool(json_object *o, const char *key, bool *out, char *err, size_t errlen)
{
    json_object *v = pjson_field(o, key);
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_boolean))
        return ERR("field '%s' must be true or false", key);
    *out = json_object_get_boolean(v);
    return 0;
}

int pjson_get_array(json_object *o, const char *key, bool required, size_t max, json_object **out,
                    size_t *n, char *err, size_t errlen)
{
    json_object *v = pjson_field(o, key);
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

int pjson_get_ids(json_object *o, const char *key, bool required, char ***ids, size_t *nids,
                  char *err, size_t errlen)
{
    json_object *a;
    size_t n;
    int rc = pjson_get_array(o, key, required, MSG_MAX_BATCH, &a, &n, err, errlen);
    if (rc || !a)
        return rc;
    *ids = xcalloc(n + 1, sizeof(char *));
    *nids = n;
    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(a, i);
        if (!json_object_is_type(v, json_type_string) || !msg_id_valid(json_object_get_string(v)))
            return ERR("field '%s': entry %zu is not a valid id (1 to %d printable characters, "
                       "no spaces)",
                       key, i, MSG_MAX_ID);
        (*ids)[i] = xstrdup(json_object_get_string(v));
    }
    return 0;
}

int pjson_get_leases(json_object *o, const char *key, uint64_t **out, size_t *nout, char *err,
                     size_t errlen)
{
    json_object *a;
    size_t n;
    int rc = pjson_get_array(o, key, true, MSG_MAX_BATCH, &a, &n, err, errlen);
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

char *pjson_to_text(json_object *v)
{
    fix_number_text(v);
    return xstrdup(
        json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

int pjson_get_time(json_object *o, const char *key, int64_t *out, char *err, size_t errlen)
{
    return pjson_get_int(o, key, false, 0, INT64_MAX / 4, out, err, errlen);
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
void pjson_add_stream(struct buf *b, const char *name, const char *p, size_t n, bool display)
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
