/* SPDX-License-Identifier: MIT */
/*
 * The master's durable record of every task, on SQLite in WAL mode. The only
 * module that uses SQLite (journal/sqlite.c loads it).
 *
 * Writes are grouped: journal_save_*() open a transaction on first use and
 * journal_commit() ends it. The master's journal writer thread (writer.h)
 * makes these calls for each batch of loop turns, and the master sends no
 * acknowledgement before that commit, so a task counts as accepted only once
 * it is on disk (group commit). Reads on the same handle see the uncommitted
 * writes. A journal is used by one thread at a time.
 */
#ifndef DTR_JOURNAL_JOURNAL_H
#define DTR_JOURNAL_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/output.h"
#include "sched/task.h"

struct journal;

/*
 * Opens (creating when needed) the journal in directory `dir`: creates the
 * directory, takes an exclusive lock on DIR/master.lock so a second master on
 * the same directory is refused, and opens DIR/journal.db. dir == NULL keeps
 * the journal in memory (no durability; for benchmarks and tests).
 * Returns NULL with a message in err that names the path and what to do.
 */
struct journal *journal_open(const char *dir, char *err, size_t errlen);
/* Commits what is pending, closes, releases the lock. NULL is a no-op. */
void journal_close(struct journal *j);

/*
 * A task as the journal stores it: its persistent fields, one per column of
 * the tasks table, and what the journal writer records of a task. Every
 * field of struct task but the in-memory bookkeeping (deadline, heap_index,
 * worker_node). Strings are borrowed, NULL when absent; state is an
 * enum task_state value.
 *
 * A new persistent field of struct task is added here, in
 * journal_row_from_task() and journal_row_new_task(), and as one line of
 * task_columns[] in journal.c (with a schema migration that adds its
 * column): binding, loading and the SQL all follow that list.
 */
struct journal_row {
    const char *id;
    uint64_t seq; /* the rowid */
    const char *spec;
    int64_t priority;
    int max_retries;
    int64_t state; /* read wide, so that a damaged value cannot pass for a state */
    int attempts;
    int crashes;
    uint64_t lease;
    const char *worker;
    int exit_code;
    const char *error;
    int64_t submitted_at, started_at, finished_at, not_before;
};

/* Fills *r from t; r's strings point into t (valid while t is unchanged). */
void journal_row_from_task(struct journal_row *r, const struct task *t);
/* A new task (task_new(), then every other field) from a row, copying its
 * strings; the caller frees it. NULL when the row cannot be a task (no id
 * or spec, an unknown state): a damaged or tampered file. */
struct task *journal_row_new_task(const struct journal_row *r);
/* Replaces each non-NULL string of r by keep(string, data), for a caller that
 * keeps r beyond the task it came from (the journal writer's copies). */
void journal_row_keep(struct journal_row *r, const char *(*keep)(const char *s, void *data),
                      void *data);

/* Calls fn for each field of r in column order, with its type: 't' a
 * const char * (NULL: absent), 'i' an int, 'l' a 64-bit integer (int64_t or
 * uint64_t): for code that copies rows field by field (journal/entry.c). */
typedef void (*journal_field_fn)(void *arg, char type, void *field);
void journal_row_fields(struct journal_row *r, journal_field_fn fn, void *arg);

/* Inserts or replaces every field of r (and its spec). */
int journal_save_row(struct journal *j, const struct journal_row *r);
/* Saves what a state change alters of a stored row, found by its seq (all
 * of r if not stored). */
int journal_update_row(struct journal *j, const struct journal_row *r);
/* The same for a task: journal_save_row() or journal_update_row() of its row. */
int journal_save_task(struct journal *j, const struct task *t);
int journal_update_task(struct journal *j, const struct task *t);
/* One attempt's record (the attempts table): its outcome and how many
 * bytes of each stream the master keeps in its output files. Strings are
 * borrowed when saving, heap-owned when read (journal_attempts_free()). */
struct journal_attempt {
    uint64_t lease;
    const char *id;
    int attempt;
    const char *worker;
    int exit_code;
    int term_signal;
    const char *error;
    int64_t started_at, finished_at;
    uint64_t out_bytes, err_bytes;
    bool out_truncated, err_truncated;
};
/* Stores (or replaces, by lease) an attempt's record. */
int journal_save_attempt(struct journal *j, const struct journal_attempt *a);
/* Reads task_id's attempt records, oldest first, into a new array *out of
 * *n entries (none: NULL, 0). Caller frees with journal_attempts_free(). */
int journal_get_attempts(struct journal *j, const char *task_id, struct journal_attempt **out,
                         size_t *n);
void journal_attempts_free(struct journal_attempt *a, size_t n);
/* Calls fn for the lease of every attempt record that journal_prune(j,
 * cutoff_ms) will delete (before calling it): their output files go too. */
int journal_pruned_leases(struct journal *j, int64_t cutoff_ms,
                          void (*fn)(void *arg, uint64_t lease), void *arg);
/* For a group member re-seeded from a snapshot (group/catchup.c): calls
 * fn for every attempt whose output the master keeps, oldest lease first:
 * each attempt record (known: its sizes are final), then each running
 * task's attempt (known false, sizes 0: still growing). Reads only (the
 * caller owns the journal: the writer is settled). */
int journal_each_output(struct journal *j,
                        void (*fn)(void *arg, uint64_t lease, const char *id, int attempt,
                                   uint64_t out_bytes, uint64_t err_bytes, bool known),
                        void *arg);
/* Stores the output of t's last attempt (replacing an earlier one). */
int journal_save_output(struct journal *j, const char *task_id, const struct task_output *o);
/* Deletes the task and its output. */
int journal_delete_task(struct journal *j, const char *task_id);
/*
 * Commits the open transaction, if any. Returns 0, or DTR_EIO with a message
 * in err; on failure the transaction is rolled back and nothing of it counts.
 */
int journal_commit(struct journal *j, char *err, size_t errlen);

/*
 * Calls fn for every stored task in submission (seq) order; fn takes
 * ownership of the task. Stops and returns fn's value when it is non-zero.
 */
typedef int (*journal_load_fn)(struct task *t, void *data);
int journal_load(struct journal *j, journal_load_fn fn, void *data);
/* Fills *o with the stored output of task_id (all NULL/0 when none).
 * Returns 0 or DTR_ENOENT. The caller releases *o. */
int journal_get_output(struct journal *j, const char *task_id, struct task_output *o);

/* How many tasks the journal holds, in *n. Returns 0 or DTR_EIO. */
int journal_count_tasks(struct journal *j, uint64_t *n);
/* Small durable counters: the lease bound; the next seq and job as of the
 * last prune (tasks_prune()). */
int journal_get_counter(struct journal *j, const char *name, uint64_t *value);
int journal_set_counter(struct journal *j, const char *name, uint64_t value);

/* Deletes finished tasks whose finished_at is before cutoff_ms; returns how
 * many were deleted in *count. */
int journal_prune(struct journal *j, int64_t cutoff_ms, uint64_t *count);

/* Allocation queues (master/alloc.c): saves id's record (INSERT OR REPLACE),
 * or deletes it when record is NULL; loads them all in id order. */
int journal_save_alloc(struct journal *j, const char *id, const char *record);
typedef int (*journal_alloc_fn)(const char *id, const char *record, void *data);
int journal_load_allocs(struct journal *j, journal_alloc_fn fn, void *data);

/*
 * A master group (group/group.h) ships the journal as a whole to a member
 * that must catch up: journal_image() copies every committed write, in
 * SQLite's own file format, into *data (free() it); journal_restore_image()
 * replaces the journal's content by such an image in one transaction. Both
 * on a journal with nothing pending.
 */
int journal_image(struct journal *j, void **data, size_t *len, char *err, size_t errlen);
int journal_restore_image(struct journal *j, const void *data, size_t len, char *err,
                          size_t errlen);
/* A group member's journal is rebuilt from the group's Raft log at every
 * start (group/group.c), and that log is what is durable: its commits then
 * need not reach the disk before they return (WAL with synchronous=NORMAL:
 * never corrupt, only behind after a power loss). */
int journal_replicated(struct journal *j, char *err, size_t errlen);
/* Empties the journal (the image of a new one), for a member that rebuilds
 * it from the group's log. */
int journal_reset(struct journal *j, char *err, size_t errlen);

#endif
