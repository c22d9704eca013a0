/* SPDX-License-Identifier: MIT */
/*
 * A master group: three or five masters that are one logical master, kept
 * in step by Raft (C-Raft, on the master's libuv loop). docs/architecture.md,
 * "Master group", tells the whole story; in short:
 *
 * - Every batch of journal writes the leader's loop makes becomes one Raft
 *   entry (journal/writer.h, jwriter_replicate()). A reply, `run` or `ack`
 *   waits for its batch as it does on a single master, and the batch is done
 *   only once a majority has it in its Raft log and this member has
 *   committed it to its own SQLite journal.
 * - Every member applies every committed entry to its own journal, in log
 *   order. A Raft snapshot is the journal itself (journal_image()).
 * - A member is a follower until Raft elects it; then it catches up with
 *   the log, calls lead(), and the master starts as a restarted master
 *   does: it loads its journal and adopts the running attempts.
 * - A leader that loses the leadership starts over as a follower (it runs
 *   its own program again), dropping every connection, so that workers and
 *   clients go to the new leader.
 */
#ifndef DTR_GROUP_GROUP_H
#define DTR_GROUP_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "journal/journal.h"
#include "journal/writer.h"

#define GROUP_MAX_MEMBERS 9
#define GROUP_ADDR_MAX 256

struct group_member {
    uint64_t id;
    char addr[GROUP_ADDR_MAX]; /* replication HOST:PORT */
};

struct tls_ctx;

struct group_config {
    struct group_member members[GROUP_MAX_MEMBERS];
    size_t n;
    uint64_t self; /* --group-id */
    bool join;     /* --group-join: joins a running group (dtr group add) */
    /* The member's TLS files (NULL: plaintext), for its output catch-up,
     * a client of the leader (group/catchup.h). */
    const char *tls_cert, *tls_key, *tls_ca;
    /* The master's TLS context (--tls-*), or NULL: replication runs in TLS
     * with it (group/transport.h). Set by the master, not parsed. */
    struct tls_ctx *tls;
};

/* Parses `--group ID@HOST:PORT,...` and `--group-id ID` into c. Returns 0, or
 * -1 with a message in err that says what to fix. */
int group_parse(const char *spec, const char *self, struct group_config *c, char *err,
                size_t errlen);

struct group;

/*
 * Starts this member over loop: its Raft log and snapshots in dir (the
 * output files it keeps in output_dir, synced before a snapshot), its
 * replication peers authenticated with token (NULL: none). Every committed
 * entry goes to w, which j belongs to. lead(data) is called once, when
 * this member has been elected and has applied and committed every earlier
 * entry. After a snapshot is restored, the output files of the attempts
 * before it are fetched from the leader (group/catchup.h, with token and
 * c's TLS files). Returns NULL with err.
 */
struct group *group_start(uv_loop_t *loop, const struct group_config *c, const char *dir,
                          const char *output_dir, const char *token, struct journal *j,
                          struct jwriter *w, void (*lead)(void *data), void *data, char *err,
                          size_t errlen);
/* The leader tells the group the address its clients and workers dial. */
void group_announce(struct group *g, const char *client_addr);
/* For a follower's redirect: the client address of the current leader, or
 * NULL when none is known (an election is going on). */
const char *group_leader_hint(const struct group *g);

struct group_status {
    uint64_t self, leader; /* ids; leader 0: none known */
    uint64_t term, applied, commit;
    const char *role; /* "leader", "follower", "candidate" or "unavailable" */
};
void group_status(const struct group *g, struct group_status *s);
const struct group_config *group_config(const struct group *g);
/* The group as `dtr status --json` shows it: self, leader, term, applied,
 * and members (id, addr, role; on the leader also match and lag, the
 * entries each member lacks). */
struct buf;
void group_json(const struct group *g, struct buf *b);

/*
 * The leader adds a member (as a voter, once it has caught up with the log)
 * or removes one: at most one change at a time. done(arg, error) is called
 * when the change is committed (error NULL) or has failed, unless
 * group_change_forget(g, arg) was called first (the client left). Returns
 * -1 with err when the change cannot start.
 */
int group_change(struct group *g, bool add, uint64_t id, const char *addr,
                 void (*done)(void *arg, const char *error), void *arg, char *err, size_t errlen);
void group_change_forget(struct group *g, void *arg);

/* Starts closing (from a loop callback); the loop then runs until Raft
 * has let go. */
void group_close(struct group *g);
/* Closes, runs the loop until Raft has let go, and frees; not from a loop
 * callback. NULL is a no-op. */
void group_stop(struct group *g);

#endif
