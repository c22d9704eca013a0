/* SPDX-License-Identifier: MIT */
/*
 * The journal writer: a thread that applies the master's journal writes and
 * commits them, so that SQLite (half of the master's time at 70,000 tasks a
 * second) runs beside the loop instead of in it.
 *
 * The loop records writes (copies of what to store) into an open batch. At
 * the end of each loop turn jwriter_handoff() closes the batch and numbers
 * it (its epoch); the thread applies every batch handed off since it last
 * looked in one transaction and commits it (group commit), then calls wake()
 * from its own thread. jwriter_done() tells the loop which epochs are on
 * disk: replies that depend on a batch leave only then (conn_hub_hold and
 * conn_hub_release), so nothing is acknowledged before it is durable, while
 * the loop already works on the next turn. At light load the loop commits a
 * small batch itself instead (see jwriter_handoff()). A failed commit is
 * final: no later epoch is ever reported on disk.
 *
 * Everything else that touches the journal (reads, pruning, recovery) runs
 * on the loop thread after jwriter_drain(), which waits until every batch is
 * committed and the thread is idle.
 */
#ifndef DTR_JOURNAL_WRITER_H
#define DTR_JOURNAL_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal/journal.h"

struct jwriter;

/* Starts the thread over j (which it then owns for writing). wake(data) is
 * called from the writer thread after each commit or failure. Returns NULL
 * with a message in err when the thread cannot be started. */
struct jwriter *jwriter_start(struct journal *j, void (*wake)(void *data), void *data, char *err,
                              size_t errlen);
/* Drains, stops and joins the thread. NULL is a no-op. */
void jwriter_stop(struct jwriter *w);

/* Record a write into the open batch (copies what it needs). */
void jwriter_save_task(struct jwriter *w, const struct task *t);
void jwriter_update_task(struct jwriter *w, const struct task *t);
void jwriter_save_output(struct jwriter *w, const char *task_id, const struct task_output *o);
void jwriter_set_counter(struct jwriter *w, const char *name, uint64_t value);
void jwriter_save_attempt(struct jwriter *w, const struct journal_attempt *a);
/* In the batch, before its commit: wait(arg, token, err, errlen), which
 * blocks until something the commit depends on is done (the output
 * writer's sync of an attempt's files: master/owriter.h). When it fails,
 * the batch is not committed and the writer fails with its message. */
void jwriter_wait(struct jwriter *w,
                  int (*wait)(void *arg, uint64_t token, char *err, size_t errlen), void *arg,
                  uint64_t token);
/* An allocation queue's record, or its deletion (record NULL). */
void jwriter_save_alloc(struct jwriter *w, const char *id, const char *record);

/* A batch of more writes than this always goes to the thread. */
#define JWRITER_INLINE_MAX_OPS 64

/*
 * Closes the open batch and returns the epoch that must be on disk before
 * anything decided in this turn may be told: the new batch's, or when the
 * turn wrote nothing, the newest one handed off before. At light load (the
 * thread idle, at most JWRITER_INLINE_MAX_OPS writes, few handed off lately,
 * the last commit quick)
 * it applies and commits the batch itself, on the caller's thread, before
 * returning (wake() is not called then). Waits while the thread is far
 * behind (backpressure on the loop).
 */
uint64_t jwriter_handoff(struct jwriter *w);
/* Whether the open batch holds writes, and the epoch jwriter_handoff() will
 * give it: replies held for that epoch before the handoff leave once it is
 * on disk, like those of its last turn. */
bool jwriter_pending(const struct jwriter *w);
uint64_t jwriter_open_epoch(const struct jwriter *w);
/* The newest epoch on disk; false with a message in err once a commit has
 * failed (nothing after the last good epoch will ever be). */
bool jwriter_done(struct jwriter *w, uint64_t *epoch, char *err, size_t errlen);
/* Hands off the open batch and waits until every batch is committed and the
 * thread is idle: the journal may then be used directly by the caller. */
bool jwriter_drain(struct jwriter *w, char *err, size_t errlen);
/* The same without handing off the open batch: every batch queued so far
 * is committed (a group's snapshot, taken between two loop turns' writes). */
bool jwriter_settle(struct jwriter *w, char *err, size_t errlen);

/* Deletes finished tasks whose finished_at is before cutoff_ms
 * (journal_prune()), in the batch: how a group prunes every member alike. */
void jwriter_prune(struct jwriter *w, int64_t cutoff_ms);

/*
 * A master group (group/group.h). Once jwriter_replicate() is called,
 * jwriter_handoff() also encodes each batch as an entry (journal/batch.h)
 * numbered with the batch's epoch and passes it to propose(), which takes
 * the malloc'd buffer; the batch is committed here as on a single master.
 * Every member passes each committed entry to jwriter_apply_entry() in log
 * order: another's batch is applied and committed, our own (recognised by
 * incarnation, random per start) only marks its epoch committed by the
 * group. jwriter_done() reports an epoch once both happened. A leader that
 * loses the leadership must start over, its journal rebuilt from the
 * group's log: it may hold batches the group never committed.
 */
void jwriter_replicate(struct jwriter *w, int (*propose)(void *data, void *entry, size_t len),
                       void *data, uint64_t incarnation);
bool jwriter_replicated(const struct jwriter *w);
/* Returns 0 (queued), 1 (not a batch of writes: the caller's kind of
 * entry) or -1 with err (a damaged entry, or one out of order). */
int jwriter_apply_entry(struct jwriter *w, const void *entry, size_t len, char *err, size_t errlen);

/*
 * Output in a group: the leader records each piece of an attempt's output
 * it wrote to its own file (jwriter_save_output_data()), and every other
 * member writes the piece to its file when the entry is applied, through
 * files.write (on the writer thread; non-zero fails the writer). A prune
 * applied calls files.drop for each lease whose files go. Set before the
 * first entry is applied.
 */
void jwriter_save_output_data(struct jwriter *w, uint64_t lease, int stream, uint64_t offset,
                              const char *data, size_t len);
struct jwriter_files {
    int (*write)(void *arg, uint64_t lease, int stream, uint64_t offset, const void *data,
                 size_t len, char *err, size_t errlen);
    void (*drop)(void *arg, uint64_t lease);
    void *arg;
};
void jwriter_set_files(struct jwriter *w, const struct jwriter_files *files);

#endif
