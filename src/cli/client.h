/* SPDX-License-Identifier: MIT */
/*
 * The CLI's connection to the master: blocking sockets (a command makes a
 * few requests and exits, so no event loop), TLS on the socket when
 * --tls-ca is given, the same handshake as every node, and request/reply
 * helpers that map failures to exit codes.
 */
#ifndef DTR_CLI_CLIENT_H
#define DTR_CLI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/opts.h"
#include "net/tls.h"
#include "proto/frame.h"
#include "proto/msg.h"

struct client {
    int fd;
    struct frame_reader rd;
    char addr[MSG_MAX_ADDR + 1]; /* the master dialed last: the one connected once open */
    char *token;
    int64_t deadline_ms;     /* for the current read; 0 = none */
    struct tls_ctx *tls_ctx; /* NULL: plaintext */
    struct tls_sock *tls;
    bool got_bytes; /* something came from the master already */
};

/* Flags every client command shares. */
struct client_flags {
    const char *master;
    const char *token_file;
    const char *tls_cert, *tls_key, *tls_ca;
};

/* Kept as written: clang-format cannot lay out flag tables in a macro. */
/* clang-format off */
#define CLIENT_OPTS(f)                                                                         \
    {"master", 0, OPT_STRING, &(f).master, "HOST:PORT",                                        \
     "the master, or a master group's A,B,C (default: $DTR_MASTER, .dtr/master.addr, "         \
     "127.0.0.1:4999)", 0, 0},                                                                  \
    {"token-file", 0, OPT_STRING, &(f).token_file, "FILE",                                    \
     "shared secret (default: $DTR_TOKEN)", 0, 0},                                             \
    TLS_OPTS((f).tls_cert, (f).tls_key, (f).tls_ca)
/* clang-format on */

/* Finds the master, connects and authenticates. Returns 0 or an enum
 * cli_exit code after printing what went wrong to stderr. */
int client_open(struct client *c, const struct client_flags *f);
void client_close(struct client *c);
/* For a master's own background client (a group member fetching output,
 * group/catchup.c): connects to the one master at addr and authenticates
 * with token (NULL: none), TLS with the files given (all NULL: plaintext).
 * Returns 0, or an exit code with the error told to cli_error(). Close
 * with client_close(). */
int client_dial(struct client *c, const char *addr, const char *token, const char *tls_cert,
                const char *tls_key, const char *tls_ca);
/* From now on this thread's cli_error() writes its message into buf (the
 * last one only) instead of stderr; NULL: stderr again. */
void cli_error_capture(char *buf, size_t len);
/* Sends whole lines. Returns 0 or EXIT_UNREACHABLE (printed). */
int client_send(struct client *c, const struct buf *b);
/*
 * Reads the next message (timeout_ms < 0 waits forever; -ETIMEDOUT, with
 * nothing printed, when it passes). An error reply is
 * printed and returns EXIT_REFUSED (or EXIT_UNREACHABLE for an
 * authentication failure); a lost connection returns EXIT_UNREACHABLE.
 * Returns 0 with *m filled (release it).
 */
int client_recv(struct client *c, struct msg *m, int64_t timeout_ms);
/* Sends a request and reads one reply of type `want`. */
int client_call(struct client *c, const struct buf *req, enum msg_type want, struct msg *reply);
/* Reads one reply of type `want` to a request sent before. */
int client_expect(struct client *c, enum msg_type want, struct msg *reply);

/* Prints "dtr: MESSAGE" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* What a command takes besides its flags, checked by cli_parse() (flags,
 * beside opts_parse()'s OPTS_*). */
enum cli_args {
    CLI_NO_ARGS = 1u << 8,     /* nothing */
    CLI_ONE_TASK_ID = 1u << 9, /* exactly one task id */
    CLI_TASK_IDS = 1u << 10,   /* any number of task ids */
};
/* Parses flags for command `cmd`; prints help or the error. Returns -1 to
 * continue, or the exit code to return now (0 for --help, 2 for errors). */
int cli_parse(const char *cmd, const char *usage, const char *summary, const struct opt *opts,
              int argc, char **argv, unsigned flags, char **pos, int *npos, int *dashdash);
/*
 * Waits until the tasks (or all, when all is set) end, showing a progress
 * bar on stderr when it is a terminal (nothing otherwise), then a summary
 * line on stdout. timeout_ms < 0 waits
 * forever. Returns EXIT_SUCCESS_ when all succeeded, EXIT_TASK_FAILED when
 * any failed or was cancelled or the timeout passed, or a connection error.
 */
int cli_wait(struct client *c, char **ids, size_t n, bool all, const char *job, int64_t timeout_ms);
/* cli_wait() without asking: the progress of a wait asked for already (a
 * submit with `wait`, which the master follows with it). */
int cli_follow(struct client *c, int64_t timeout_ms);
/* --quiet of wait and submit: cli_wait() shows no progress and no summary. */
extern bool cli_quiet;
/* wait --json (and submit --wait --json): the summary is one JSON object
 * {"total", "done", "succeeded", "failed", "timed_out"}, printed after a
 * timeout too. */
extern bool cli_wait_json;
/*
 * Asks for task id's output (attempt 0: the latest; streams 1 stdout, 2
 * stderr, 3 both; follow: until the task ends) and writes it as it comes,
 * each stream to its own fd (both to stdout with to_stdout); *got (may be
 * NULL) counts the bytes. Returns 0 at the master's end, or an exit code
 * with the error printed.
 */
int cli_read_output(struct client *c, const char *id, int attempt, int streams, bool follow,
                    bool to_stdout, uint64_t *got);
/*
 * Reads the next message of a listing the master streams (items of type
 * `item`, then an `end`). Returns 1 with *m filled (release it), 0 at the
 * end, or an exit code with the error printed.
 */
int client_stream_next(struct client *c, enum msg_type item, struct msg *m);
/* Every task state once, in the order a task lives them (the enum keeps
 * the journal's numbers, so blocked comes last there). */
extern const enum task_state cli_state_order[TASK_NSTATES];
/* Checks --label flags: each KEY=VALUE, each key once (the spec parser
 * checks the rest). Returns 0, or EXIT_USAGE with the error printed. */
int cli_check_labels(const struct opt_list *l);

#endif
