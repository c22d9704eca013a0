/* SPDX-License-Identifier: MIT */
/*
 * Task specs: what a user submits, checked field by field, and the canonical
 * JSON the journal stores and a worker receives (docs/protocol.md, "Task
 * specs"). Field limits are in msg.h, which includes this file.
 */
#ifndef DTR_PROTO_SPEC_H
#define DTR_PROTO_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* The rule for a task's timeout, in the spec and on the command line, as
 * the error texts state it after the field's or flag's name: rounded to
 * whole milliseconds, it must be at least 1 ms. */
#define TIMEOUT_RULE "must be positive (omit it for no timeout); it is rounded to whole ms"

enum task_kind { KIND_EXEC, KIND_COMPUTE, KIND_TRANSFORM, KIND_ECHO, KIND_SLEEP, KIND_NOOP };

/* A validated task spec. Strings are heap-owned by the spec. */
struct task_spec {
    char *id; /* NULL: the master generates one */
    enum task_kind kind;
    char **argv; /* NULL-terminated, or NULL */
    size_t argc;
    char *cmd;
    char **env; /* "KEY=VALUE", NULL-terminated, or NULL */
    size_t envc;
    char *cwd;
    char *payload; /* JSON text; NULL means {} */
    int64_t priority;
    int max_retries;
    int64_t timeout_ms; /* 0 = none */
    char **labels;      /* "KEY=VALUE" sorted by key, NULL-terminated, or NULL */
    size_t nlabels;
    /* Dependencies: task ids that must succeed (after), or end in any way
     * (after_any), before this task runs. NULL-terminated, or NULL; no id
     * twice, none in both; at most MSG_MAX_DEPS together. */
    char **after;
    size_t nafter;
    char **after_any;
    size_t nafter_any;
    /* The job the task belongs to (job_id_valid()): set by the master, never
     * by a user; written last in the canonical form. NULL: none. */
    char *job;
    /* Its job's throttle (at most this many of the job's tasks running at
     * once; 0: none): set by the master, never by a user, written after
     * the job. */
    uint32_t throttle;
    /* What it needs to run (sched/resources.h): NULL for the default of
     * one CPU. Written after the payload in the canonical form. */
    struct request *req;
};

/*
 * Parses one user task spec (a line of a .jsonl file, or a submit element)
 * into *spec. Returns 0, or DTR_EINVAL with a message naming the field.
 */
int spec_parse(const char *json, size_t len, struct task_spec *spec, char *err, size_t errlen);
/* The shortcut spec_parse() tries first (fast.c): a spec in spec_encode()'s
 * spelling and field order, priority and max_retries optional, of a common
 * shape. False (nothing held) sends the text down the full path, which
 * decides and says what is wrong. */
bool spec_parse_fast(const char *json, size_t len, struct task_spec *spec);
/* Appends the canonical JSON of spec (no newline): what the journal stores
 * and the worker receives. fast.c's scan_spec() reads this exact spelling
 * back: change both together (tests/unit/test_fast.c). */
void spec_encode(struct buf *b, const struct task_spec *spec);
void spec_release(struct task_spec *spec);
const char *task_kind_name(enum task_kind k);
/* The kind named in canonical spec JSON (from spec_encode), as a static string. */
const char *spec_kind(const char *canonical);
int task_kind_parse(const char *name);
/* The timeout in canonical spec JSON (from spec_encode), in ms; 0 when none. */
int64_t spec_timeout_ms(const char *canonical);

/*
 * Labels ("KEY=VALUE", sorted by key, as task_spec.labels holds them).
 * labels_encode() appends the canonical object {"KEY":"VALUE",...}.
 * spec_labels() finds that object in canonical spec JSON (from spec_encode):
 * a pointer to its '{' and its length in *len, or NULL when the spec has
 * none. labels_match() says whether the object obj (len bytes, as
 * spec_labels() found it) holds every pair of `want`, each written as
 * labels_encode() writes one pair: "KEY":"VALUE" (labels_pair_encode()).
 */
void labels_encode(struct buf *b, char *const *labels, size_t n);
void labels_pair_encode(struct buf *b, const char *label);
const char *spec_labels(const char *canonical, size_t *len);
bool labels_match(const char *obj, size_t len, char *const *want, size_t nwant);

/*
 * The dependencies in canonical spec JSON (from spec_encode): fills
 * *after and *after_any (NULL-terminated arrays the caller frees with
 * spec_free_ids(), NULL when empty) and their lengths. Returns 0, or -1
 * when the text is not a spec (nothing to free then).
 */
int spec_deps(const char *canonical, char ***after, size_t *nafter, char ***after_any,
              size_t *nafter_any);
void spec_free_ids(char **ids, size_t n);

/* Job ids: 1 to MSG_MAX_JOB characters of [A-Za-z0-9._-], starting with a
 * letter or digit. job_name_free(): not of the form j-DIGITS, which the
 * master gives out itself. */
#define MSG_MAX_JOB 64
#define MSG_MAX_THROTTLE 10000000 /* a job's throttle: ARRAY_MAX_TASKS (common/parse.h) */
bool job_id_valid(const char *id);
bool job_name_free(const char *id);
/* The job written at the end of canonical spec JSON (from spec_encode())
 * into out (at least MSG_MAX_JOB + 1 bytes); false when the spec has none.
 * Its length, with its key, in *suffix_len (0 when none). */
bool spec_job(const char *canonical, char *out, size_t *suffix_len);
/* The job's throttle written after the job in canonical spec JSON, or 0
 * when none is (docs/architecture.md, Jobs). */
uint32_t spec_throttle(const char *canonical);

/* One number of a compute payload: an integer json-c holds exactly (i), or
 * not (d only). d is set either way. */
struct payload_number {
    bool is_int;
    int64_t i;
    double d;
};

/* A built-in kind's payload fields, decoded by payload_decode(). */
struct payload_args {
    struct payload_number *numbers; /* compute: payload.numbers */
    size_t nnumbers;
    char *data; /* transform: payload.data, data_len bytes (may hold NUL) */
    size_t data_len;
    double seconds; /* sleep: payload.seconds */
};

/*
 * Decodes the payload (JSON text; NULL means {}) of a built-in kind into *a,
 * with the checks spec_parse() makes at submission. Returns 0, or DTR_EINVAL
 * with a message naming the payload field. Release *a with
 * payload_args_release() either way. Running the kind is the worker's
 * (worker/builtin.h).
 */
int payload_decode(enum task_kind kind, const char *payload, struct payload_args *a, char *err,
                   size_t errlen);
void payload_args_release(struct payload_args *a);

/*
 * Resources (proto/res_json.c, sched/resources.h): res_encode_fields()
 * appends the fields of r (,"cpus":0.5,"mem":N,"gpus":N,"resources":{..}),
 * those that differ from a default request, or all of them for an offer.
 * spec_request() reads a task's request from canonical spec JSON (one CPU
 * when it names none); -1 when the text does not parse (then the default).
 */
struct request;
void res_encode_fields(struct buf *b, const struct request *r, bool offer);
int spec_request(const char *canonical, struct request *r);
/* Its shortcut (fast.c), for a spec scan_spec() takes whole; false sends
 * the text to json-c. */
bool spec_request_fast(const char *canonical, size_t len, struct request *r);

#endif
