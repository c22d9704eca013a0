/* SPDX-License-Identifier: MIT */
/*
 * Private to src/proto/: the json-c reading helpers that msg.c and spec.c
 * share, and the one writing helper for captured output. Nothing outside
 * proto/ includes this file, so json-c objects stay inside proto/.
 *
 * Every getter below takes the object `o` and a field name, and returns 0
 * (with *out set, or left alone when the field is absent or null and not
 * required) or DTR_EINVAL with one line in err naming the field.
 */
#ifndef DTR_PROTO_JSON_INTERNAL_H
#define DTR_PROTO_JSON_INTERNAL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/err.h"
#include "proto/msg.h"

/* Writes an error text into err (of errlen bytes); evaluates to DTR_EINVAL. */
#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), DTR_EINVAL)

/*
 * Parses text with json-c, nested at most FRAME_MAX_DEPTH levels, refusing
 * invalid UTF-8, trailing data and keys that hold an escaped NUL. Returns a
 * new object (caller puts it), or NULL with err set.
 */
json_object *pjson_parse(const char *text, size_t len, char *err, size_t errlen);
/*
 * Refuses an object with more than MSG_MAX_KEYS fields, or with a field not
 * in the NULL-terminated list `allowed`; `what` names the object in the error
 * ("hello", "run entry"). The one rule for unknown fields (docs/protocol.md).
 */
int pjson_check_keys(json_object *o, const char *const *allowed, const char *what, char *err,
                     size_t errlen);
/*
 * Entry i of array a, which must be an object with only the fields in
 * `allowed`: borrowed, or NULL with err set ("ENTRY i must be an object",
 * or pjson_check_keys's error naming `what`).
 */
json_object *pjson_entry(json_object *a, size_t i, const char *entry, const char *const *allowed,
                         const char *what, char *err, size_t errlen);
/* The value of key, borrowed from o; NULL when absent or JSON null. */
json_object *pjson_field(json_object *o, const char *key);
/* A string of at most max bytes without NUL; *out is a new copy (caller frees). */
int pjson_get_str(json_object *o, const char *key, bool required, size_t max, char **out, char *err,
                  size_t errlen);
/* A captured stream: KEY_b64 (exact bytes in base64) wins over KEY; *out is
 * a new NUL-terminated copy of *outlen bytes (caller frees). */
int pjson_get_stream(json_object *o, const char *key, char **out, size_t *outlen, char *err,
                     size_t errlen);
/* An integer in [min, max], json-c's saturation at 64 bits counted as out of range. */
int pjson_get_int(json_object *o, const char *key, bool required, int64_t min, int64_t max,
                  int64_t *out, char *err, size_t errlen);
/* A non-negative integer (from 1 for the key "lease"). */
int pjson_get_u64(json_object *o, const char *key, bool required, uint64_t *out, char *err,
                  size_t errlen);
int pjson_get_bool(json_object *o, const char *key, bool *out, char *err, size_t errlen);
/* An array of at most max entries, borrowed from o into *out (NULL when absent). */
int pjson_get_array(json_object *o, const char *key, bool required, size_t max, json_object **out,
                    size_t *n, char *err, size_t errlen);
/* An array of valid ids (msg_id_valid); *ids is NULL-terminated and the
 * caller frees it, with its entries, even on error. */
int pjson_get_ids(json_object *o, const char *key, bool required, char ***ids, size_t *nids,
                  char *err, size_t errlen);
/* An array of lease numbers (1 to INT64_MAX); the caller frees *out, even on error. */
int pjson_get_leases(json_object *o, const char *key, uint64_t **out, size_t *nout, char *err,
                     size_t errlen);
/* A time in ms since the epoch, absent as 0. */
int pjson_get_time(json_object *o, const char *key, int64_t *out, char *err, size_t errlen);
/* v written back as compact JSON text that is JSON (see fix_number_text());
 * caller frees. */
char *pjson_to_text(json_object *v);

/*
 * Appends ,"NAME":"..." for one captured stream, or ,"NAME_b64":"..." when
 * the bytes are not valid UTF-8 (with display, both). The writing side of
 * pjson_get_stream(): docs/protocol.md, "Output".
 */
void pjson_add_stream(struct buf *b, const char *name, const char *p, size_t n, bool display);

/* An object of labels (spec.c: at most MSG_MAX_LABELS, keys and values strings
 * of at most MSG_MAX_LABEL bytes, keys non-empty without '=', neither with
 * control characters) into "KEY=VALUE" strings sorted by key, NULL-terminated;
 * `field` names it in err. The caller frees *out (with its strings) even on
 * error. */
int labels_from_json(json_object *o, const char *field, char ***out, size_t *n, char *err,
                     size_t errlen);
/* Reads one spec object (spec.c); submit adds the checks for user input.
 * On error the caller releases *s. */
int spec_from_json(json_object *o, struct task_spec *s, bool submit, char *err, size_t errlen);

/* The resource fields (cpus, mem, gpus, resources) of a spec (mode 0;
 * absent cpus mean 1), a worker's offer (mode 1) or what is in use (mode 2:
 * cpus may be 0)
 * into *r (res_json.c). */
struct request;
int res_from_json(json_object *o, struct request *r, int mode, char *err, size_t errlen);

/* alloc.c: an allocation queue record from its JSON object (zeroed first,
 * released on error). */
struct alloc_info;
int alloc_from_json(json_object *o, struct alloc_info *a, char *err, size_t errlen);

#endif
