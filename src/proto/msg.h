/* SPDX-License-Identifier: MIT */
/*
 * Messages: JSON text <-> struct msg, with every field checked. Everything
 * the network hands us passes through msg_parse() before any other code
 * looks at it, and JSON library objects never leave proto/. Every line dtr
 * sends is written by an encoder declared here. Every message and field is
 * described in docs/protocol.md.
 */
#ifndef DTR_PROTO_MSG_H
#define DTR_PROTO_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/alloc.h"
#include "proto/spec.h"
#include "sched/output.h"
#include "sched/resources.h"
#include "sched/task.h"

/* Protocol version, sent in every hello.
 * 1: first version.
 * 2: proofs bind the whole handshake (both hellos as sent, the TLS session);
 *    the acceptor proves in an auth line of its own; hello says "auth" when
 *    its sender has a token; a worker lists what it holds in held messages
 *    after the handshake instead of in its hello. Later in version 2:
 *    output and logs messages, and stdout_bytes/stderr_bytes in results
 *    (added without a new number: every node runs the same dtr).
 * 3: revoke and revoked; a master's pong names the heartbeat (a pool grows
 *    and the master slows every worker's beat): a node of version 2 would
 *    refuse that field mid-session, so it is refused at the handshake.
 * 4: a worker's output messages carry their bytes raw after the line
 *    ("size") instead of base64 in it ("data"): a third fewer bytes, and
 *    neither side encodes. */
#define PROTO_VERSION 4

/* Field limits (see docs/protocol.md). */
#define MSG_MAX_ID 128          /* task and worker ids, in bytes */
#define MSG_MAX_ARGV 4096       /* argv entries */
#define MSG_MAX_ENV 1024        /* env entries */
#define MSG_MAX_STR (1u << 20)  /* cmd, cwd, an argv or env entry, an error text */
#define MSG_MAX_BATCH 100000    /* tasks in one submit or run, ids in one request */
#define MSG_MAX_SPEC (4u << 20) /* a task spec in canonical form, in bytes */
#define MSG_MAX_DEPS 10000      /* ids in a spec's after and after_any together */
#define MSG_MIN_HEARTBEAT_MS 10 /* a master's --heartbeat */
#define MSG_MAX_HEARTBEAT_MS 3600000
#define MSG_MAX_KEYS 64               /* fields in one object (payload excepted) */
#define MSG_MAX_LABELS 32             /* labels of one task, or of one list filter */
#define MSG_MAX_LABEL 256             /* a label's key or value, in bytes */
#define MSG_MAX_ADDR 300              /* a HOST:PORT field (hello's addr, error's leader) */
#define MSG_INSTANCE_HEX 32           /* a worker's instance: 128 random bits in hex */
#define MSG_OUTPUT_CHUNK (64u * 1024) /* bytes of output in one output message, at most */
#define MSG_MAX_HISTORY (4u << 20)    /* a task record's history array, in bytes of JSON */

enum msg_type {
    MSG_HELLO,     /* both ways, first: role, id, nonce, and a worker's state */
    MSG_AUTH,      /* both ways: proof of the shared token, acceptor first */
    MSG_ERROR,     /* either way: what was wrong */
    MSG_PING,      /* master -> worker */
    MSG_PONG,      /* worker -> master */
    MSG_RUN,       /* master -> worker: attempts to start */
    MSG_KILL,      /* master -> worker: attempts to stop */
    MSG_ACK,       /* master -> worker: results journaled, forget them */
    MSG_RESULT,    /* worker -> master: an attempt ended */
    MSG_DRAIN,     /* worker -> master: send no more work */
    MSG_SUBMIT,    /* client -> master */
    MSG_SUBMITTED, /* master -> client: ids, once durable */
    MSG_STATUS,    /* client -> master, and the reply */
    MSG_LIST,      /* client -> master: stream tasks */
    MSG_TASK,      /* master -> client: one task's record */
    MSG_END,       /* master -> client: end of a stream */
    MSG_GET,       /* client -> master: one task's full result */
    MSG_WAIT,      /* client -> master: report progress until these end */
    MSG_PROGRESS,  /* master -> client */
    MSG_CANCEL,    /* client -> master */
    MSG_CANCELLED, /* master -> client */
    MSG_HELD,      /* worker -> master, after the handshake: what it holds */
    MSG_JOBS,      /* client -> master: stream the jobs */
    MSG_JOB,       /* master -> client: one job's record */
    MSG_OUTPUT,    /* worker -> master: bytes a running attempt wrote; master -> client: logs */
    MSG_LOGS,      /* client -> master: stream a task's output (and follow it) */
    MSG_EVENTS,    /* client -> master: stream the task and worker events */
    MSG_EVENT,     /* master -> client: one event (or the ids no longer kept) */
    MSG_ALLOC,     /* client -> master: add, list or remove allocation queues */
    MSG_ALLOCS,    /* master -> client: allocation queue records */
    MSG_REVOKE,    /* master -> worker: hand back these attempts if not started */
    MSG_REVOKED,   /* worker -> master: which it handed back, which had started */
    MSG_GROUP,     /* client -> master: add or remove a member of the master group */
    MSG_NTYPES
};

struct lease_ref {
    uint64_t lease;
    char *id;
};

struct run_item {
    uint64_t lease;
    int attempt;
    struct task_spec spec;
};

/* The end of one attempt, as a worker reports it. */
struct attempt_result {
    uint64_t lease;
    char *id;
    int attempt;
    bool ok;
    bool refused; /* never started (the worker is draining) */
    int exit_code;
    int term_signal;
    char *error;
    struct task_output out;
    int64_t started_at, finished_at;
    /* Bytes of stdout and stderr the attempt wrote, all streamed before
     * the result in output messages (protocol 3). */
    uint64_t out_bytes, err_bytes;
};

enum output_stream { OUTPUT_STDOUT, OUTPUT_STDERR };

/* One piece of an attempt's output: offset is where data starts in its
 * stream. Worker -> master: lease and id name the attempt; master ->
 * client (logs): attempt names it. data holds len bytes (plus a NUL). */
struct output_chunk {
    uint64_t lease;
    char *id;
    int attempt;
    enum output_stream stream;
    uint64_t offset;
    char *data;
    size_t len;
};

struct worker_info {
    char *id;
    char *addr;
    int slots;
    int running;
    uint64_t done;
    int64_t last_seen; /* wall ms */
    bool draining;
    /* What it offers and has in use (issue 13); has_res: both are set. */
    bool has_res;
    struct request total, used;
};

/* One task as clients see it. */
struct task_info {
    char *id;
    enum task_state state;
    char *kind;
    int64_t priority;
    int attempts;
    int max_retries;
    int crashes;
    char *worker;
    int exit_code; /* -1: none */
    char *error;
    int64_t submitted_at, started_at, finished_at;
    bool has_output; /* out below is filled (the get reply) */
    struct task_output out;
    /* The canonical labels object ({"KEY":"VALUE",...}, labels_encode()),
     * labels_len bytes; NULL: none, written as {} */
    char *labels;
    size_t labels_len;
    /* The same labels as "KEY=VALUE" sorted by key: filled by msg_parse()
     * only (for display), never written */
    char **label_list;
    size_t nlabel_list;
    char *job; /* the task's job, or NULL (written as null) */
    /* Queued but placeable on no connected worker: why ("needs 4 gpus; the
     * largest worker has 2"), or NULL. */
    char *waiting;
    /* The get reply: the attempts as a JSON array (docs/protocol.md,
     * "history"), history_len bytes; NULL: absent */
    char *history;
    size_t history_len;
};

/* One job as clients see it: its tasks by state, when it was submitted
 * (its first task) and when it ended (its last task, once none is left to
 * end; 0 while some is). */
struct job_info {
    char *id;
    uint64_t counts[TASK_NSTATES];
    int64_t submitted_at, ended_at;
    uint32_t throttle; /* 0: none (written as null) */
};

/* One event of the master's event stream (docs/protocol.md "Events", the
 * SSE stream of docs/http.md). */
struct event_info {
    uint64_t id;                 /* from 1, rising by one; 0: a "lost" notice */
    char *name;                  /* submitted, started, ..., worker_joined */
    char *task, *job, *worker;   /* NULL: none */
    int64_t at;                  /* wall ms */
    uint64_t lost_from, lost_to; /* with id 0: these events are no longer kept */
};

struct msg {
    enum msg_type type;
    /* hello */
    int proto;
    char *role;
    char *id;
    char *nonce;
    bool auth;   /* hello: the sender has a token, and proves it with an auth line */
    char *proof; /* auth */
    char *addr;
    int slots;
    bool draining;
    /* A worker's hello: what it offers (cpus, mem, gpus, resources), or
     * NULL when it names none (then: one CPU per slot). Owned like addr. */
    struct request *offer;
    int64_t heartbeat_ms; /* a master's hello or pong: how often workers beat; 0: absent */
    /* held: attempts the worker runs or holds results of; more: another
     * held message follows */
    struct lease_ref *held;
    size_t nheld;
    bool more;
    /* A worker's hello to a master it dialed: a secret random per process
     * (MSG_INSTANCE_HEX hex digits) that proves a new session comes from the
     * same process. NULL: absent. */
    char *instance;
    /* A client's hello over TLS: the channel binding its proof uses instead
     * of the TLS exporter ("tls-server-end-point", docs/protocol.md section
     * 3). NULL: absent (the exporter). */
    char *binding;
    /* Not on the wire: set by conn.c for fill_hello when the hello goes to
     * the peer we dialed. */
    bool to_acceptor;
    /* error */
    char *error;
    /* error "not the leader" from a member of a master group: the leader's
     * HOST:PORT (at most MSG_MAX_ADDR bytes, checked), NULL when none is
     * known (docs/protocol.md, section 3). */
    char *leader;
    /* run */
    struct run_item *runs;
    size_t nruns;
    /* kill, ack, revoke; revoked: the leases handed back ("returned") */
    uint64_t *leases;
    size_t nleases;
    /* revoked: the leases that had started (or ended) before the revoke */
    uint64_t *started;
    size_t nstarted;
    /* result */
    struct attempt_result result;
    /* pong: slots busy (a master's pong carries heartbeat_ms, above) */
    int busy;
    /* submit */
    struct task_spec *specs;
    size_t nspecs;
    /* submitted, wait, cancel, cancelled: ids; wait: all */
    char **ids;
    size_t nids;
    bool all;
    /* list: the state asked for, or -1 for every state */
    int state;
    /* list: only tasks with all these labels ("KEY=VALUE", sorted by key) */
    char **labels;
    size_t nlabels;
    /* task, and get's reply */
    struct task_info task;
    /* status */
    struct worker_info *workers;
    size_t nworkers;
    uint64_t counts[TASK_NSTATES];
    /* progress */
    uint64_t total, done, failed;
    bool final;
    /* submit: the job of this call's earlier batch to add to (job), or the
     * name of the job to make (job_name); neither: a new job j-N.
     * submitted: the job the tasks joined. list, wait, cancel: only the
     * tasks of this job. NULL: absent. */
    char *job;
    char *job_name;
    /* submit: the throttle of the job it makes (at most this many of its
     * tasks running at once), or the same as the job's it joins; 0: none */
    uint32_t throttle;
    /* submit: its client waits for these tasks to end (`dtr submit
     * --wait`), so the master may hold their acceptance a moment to share
     * one commit with their results (docs/protocol.md, "submit") */
    bool wait;
    /* status: jobs with a task left to end, and jobs whose tasks all ended */
    uint64_t jobs_active, jobs_ended;
    uint64_t unschedulable; /* status: queued tasks that fit no connected worker */
    char *group_json;       /* status of a group member: its "group" object as JSON */
    uint64_t member;        /* group: the member's id (its address is addr) */
    /* job */
    struct job_info job_info;
    /* output */
    struct output_chunk chunk;
    size_t payload; /* output with "size": raw bytes after the line (its
                     * chunk.data is NULL until the reader hands them over
                     * with msg_take_payload()) */
    /* logs (id above): the attempt (0: the latest, and with follow every
     * later one), the streams (1 stdout, 2 stderr, 3 both; 0 is read as 3),
     * and whether to follow the task until it ends */
    int attempt;
    int streams;
    bool follow;
    /* events: only this job's (job above), the events after id `after`
     * that are still kept (0: from what happens next); event: one event */
    uint64_t after;
    struct event_info event;
    /* alloc: the operation ("add", "list", "remove"; remove names id);
     * add: one record in allocs; allocs: the records */
    char *op;
    struct alloc_info *allocs;
    size_t nallocs;
};

/*
 * Parses one line into *m (which the caller then releases with
 * msg_release()). Returns 0, or DTR_EINVAL / DTR_EPROTO with one line in err
 * that says what was wrong ("field 'slots' must be an integer from 1 to
 * 1024"). `m` is zeroed first; on error nothing needs releasing.
 */
int msg_parse(const char *line, size_t len, struct msg *m, char *err, size_t errlen);
void msg_release(struct msg *m);

/* Appends m as one line (with '\n'). Only the fields of m's type are used.
 * MSG_RUN is written with msg_run_*() instead. */
void msg_encode(struct buf *b, const struct msg *m);

/*
 * Encoders for single lines, for callers that have no struct msg at hand.
 * Each appends one whole line (with '\n') to b, and none allocates beyond
 * growing b. Strings are escaped as JSON.
 */
/* {"type":"error","error":TEXT} */
void msg_encode_error(struct buf *b, const char *text);
/* The refusal of a group member that is not the leader (docs/protocol.md,
 * section 3): {"type":"error","error":"not the leader","leader":LEADER},
 * without "leader" when leader is NULL or empty (no leader known). */
#define MSG_NOT_LEADER "not the leader"
void msg_encode_not_leader(struct buf *b, const char *leader);
/* {"type":"drain"} */
void msg_encode_drain(struct buf *b);
/* {"type":"end"}: the end of a listing */
void msg_encode_end(struct buf *b);
/* {"type":"task","task":RECORD}: a listing's line, or the get reply */
void msg_encode_task(struct buf *b, const struct task_info *ti);
/* {"type":"status","status":{...}}: the status reply (status_encode()) */
void msg_encode_status(struct buf *b, const struct worker_info *w, size_t n,
                       const uint64_t counts[TASK_NSTATES], uint64_t jobs_active,
                       uint64_t jobs_ended, uint64_t unschedulable);
/* {"type":"job","job":RECORD}: a line of the jobs listing */
void msg_encode_job(struct buf *b, const struct job_info *ji);
/* {"type":"progress",...}: ,"final":true is written only when final */
void msg_encode_progress(struct buf *b, uint64_t total, uint64_t done, uint64_t failed, bool final);
/*
 * A submitted or cancelled reply written while its ids are decided:
 * msg_ids_begin(b, MSG_SUBMITTED), then each id as a JSON string with ','
 * between them (buf_add_json_cstr()), then msg_ids_end(b, error), which adds
 * "error" unless it is NULL.
 */
void msg_ids_begin(struct buf *b, enum msg_type type);
void msg_ids_end(struct buf *b, const char *error);
/* The end of a submitted reply: the job its tasks joined ("job"). */
void msg_ids_end_job(struct buf *b, const char *job);
/*
 * An ack or kill (type MSG_ACK or MSG_KILL) from a list of leases gathered
 * as text: msg_leases_add() appends one lease to `list` (with a ',' when it
 * is not empty), msg_encode_leases() writes {"type":T,"leases":[LIST]}.
 * The master gathers one list per worker and flushes it once per turn.
 */
void msg_leases_add(struct buf *list, uint64_t lease);
void msg_encode_leases(struct buf *b, enum msg_type type, const char *list);

/*
 * Hot lines, written in fast.c beside msg_parse_fast(), which reads exactly
 * this spelling back without json-c (tests/unit/test_fast.c checks each
 * pair). msg_encode() uses them for the same types.
 */
/* {"type":"ping"} */
void msg_encode_ping(struct buf *b);
/* {"type":"pong","busy":N}; with heartbeat_ms (a master's answer to a
 * worker's ping, naming the heartbeat from now on) ,"heartbeat_ms":M too. */
void msg_encode_pong(struct buf *b, int busy, int64_t heartbeat_ms);
/* {"type":"result",...}: fields at their defaults are left out */
void msg_encode_result(struct buf *b, const struct attempt_result *r);
/* {"type":"submit","tasks":[SPEC,...]} with spec_encode()'s spelling */
void msg_encode_submit(struct buf *b, const struct task_spec *specs, size_t n, const char *job,
                       const char *job_name, uint32_t throttle, bool wait);
/* A run message built from canonical spec JSON held by the master:
 * msg_run_begin(), msg_run_add() per attempt (first for the first),
 * msg_run_end(). */
void msg_run_begin(struct buf *b);
void msg_run_add(struct buf *b, bool first, uint64_t lease, int attempt, const char *spec_json);
void msg_run_end(struct buf *b);
/*
 * The shortcut alone: parses line into *m (zeroed and with m->state = -1 by
 * the caller, as msg_parse() does) when it is spelled exactly as the hot
 * encoders above write it, and returns true; otherwise returns false with
 * *m untouched. msg_parse() tries it first; tests and fuzzing call it to
 * compare with the full parser.
 */
bool msg_parse_fast(const char *line, size_t len, struct msg *m);

/* {"type":"output","lease":L,"id":ID,"attempt":A,"stream":S,"offset":O,"data":B64}:
 * data is the chunk's bytes in standard base64 (at most MSG_OUTPUT_CHUNK
 * of them); written in fast.c beside the parser that reads it back. */
void msg_encode_output(struct buf *b, const struct output_chunk *c);
/* The same with the bytes raw after the line ("size"): a worker's output
 * to its master, whose connection reader takes them (frame_payload()). */
void msg_encode_output_raw(struct buf *b, const struct output_chunk *c);
/* Whether raw bytes follow m's line (an output message with "size"). */
static inline bool msg_wants_payload(const struct msg *m)
{
    return m->type == MSG_OUTPUT && !m->chunk.data;
}
/* Makes the m->payload bytes at p the output chunk's data. */
void msg_take_payload(struct msg *m, const char *p);

/* Appends one task record (the object only, no newline): the form of `dtr
 * tasks --json` lines and of the get reply. A captured stream that is not
 * valid UTF-8 is written as stdout_b64/stderr_b64 instead of stdout/stderr
 * (docs/protocol.md, "Output"). */
void task_info_encode(struct buf *b, const struct task_info *ti);
/* The same for `dtr result --json`: stdout and stderr are always strings
 * (invalid UTF-8 replaced by U+FFFD), and the _b64 fields are added beside
 * them when a stream is not valid UTF-8. It parses back to the same bytes. */
void task_info_encode_display(struct buf *b, const struct task_info *ti);
/* Appends the status object: {"workers":[...],"tasks":{...},"jobs":{...}}
 * (no newline). */
void status_encode(struct buf *b, const struct worker_info *w, size_t n,
                   const uint64_t counts[TASK_NSTATES], uint64_t jobs_active, uint64_t jobs_ended,
                   uint64_t unschedulable);
/* Appends the workers array of the status object: [{"id":...},...]. */
void workers_encode(struct buf *b, const struct worker_info *w, size_t n);
/* Appends one job record (the object only): the form of `dtr jobs --json`
 * lines. */
void job_info_encode(struct buf *b, const struct job_info *ji);

/* From ti's history (the get reply): whether attempt n's (0: the last
 * one's) stdout and stderr were truncated, and the bytes kept of each. */
void msg_history_truncated(const struct task_info *ti, int n, bool cut[2], uint64_t kept[2]);

/* {"type":"allocs","allocs":[RECORD,...]}: the reply to alloc */
void msg_encode_allocs(struct buf *b, const struct alloc_info *a, size_t n);

/* Checks an id: 1..MSG_MAX_ID printable, non-space ASCII characters. */
bool msg_id_valid(const char *id);
const char *msg_type_name(enum msg_type t);

/* The event object, as in the SSE stream's data lines: {"id":N,...}. */
void event_info_encode(struct buf *b, const struct event_info *e);
/* {"type":"event","event":{...}}, or the lost notice, and a newline. */
void msg_encode_event(struct buf *b, const struct event_info *e);

#endif
