/* SPDX-License-Identifier: MIT */
/*
 * The journal: the master's durable record of every task, on SQLite.
 *
 * FILES
 *
 * A state dir holds master.lock and journal.db (plus SQLite's journal.db-wal
 * and journal.db-shm while the database is open). master.lock is an empty
 * file on which the open journal holds flock(LOCK_EX): a second master on the
 * same dir is refused at journal_open() instead of interleaving its writes.
 * The lock is released by the kernel when the process dies, so a crashed
 * master never leaves a stale lock behind.
 *
 * The journal holds every task's spec (its environment, say) and output, so
 * it is private: a state dir we create is 0700, and master.lock and
 * journal.db are created 0600 (SQLite gives the -wal and -shm files the mode
 * of journal.db). Files of ours left with group or other bits (by an older
 * dtr) are set to 0600 at open, once journal.db proved to be a dtr journal.
 * An existing state dir keeps its mode: it may be shared on purpose, and the
 * files in it are private anyway (the master warns).
 *
 * SCHEMA (version 3; PRAGMA user_version, see JOURNAL_SCHEMA_VERSION)
 *
 *   tasks(id TEXT UNIQUE, seq INTEGER PRIMARY KEY, spec, priority, max_retries, state,
 *         attempts, crashes, lease, worker, exit_code, error,
 *         submitted_at, started_at, finished_at, not_before)
 *       One row per task: struct journal_row, every field of struct task
 *       except the in-memory bookkeeping (deadline, heap_index, the list
 *       node); task_columns[] maps fields to columns. state is the integer
 *       value of enum task_state; uint64 fields (seq, lease) are stored as
 *       their int64 bit pattern. Times are wall-clock ms, 0 = not yet.
 *       seq is the rowid: the startup load comes out in submission order
 *       without a sort; the partial index tasks_by_finished (only finished
 *       tasks) makes pruning a range scan.
 *   changes(n INTEGER PRIMARY KEY, seq, state, attempts, crashes, lease,
 *           worker, exit_code, error, started_at, finished_at, not_before)
 *       State changes, appended in order (n), each naming its task's row by
 *       seq and holding the columns a state change may alter (COL_CHANGES:
 *       the column names are the tasks table's). A row of tasks plus its
 *       last change is the task. Appending writes the pages of a commit
 *       side by side however far apart its tasks lie; the changes are
 *       folded into the rows in one pass in row order (each page written
 *       once) when JOURNAL_FOLD_AT have piled up, before a prune (which
 *       reads finished_at), before a load, and at open (what a crash left).
 *   outputs(id TEXT PRIMARY KEY, out BLOB, out_truncated, err BLOB,
 *           err_truncated, result TEXT)
 *       The output of a task's last attempt. Kept out of struct task (and so
 *       out of memory) because it can be large; read back on demand. out
 *       and err are bound and read as blobs: the exact bytes, NULs and
 *       non-UTF-8 included (so since version 1; binary output needs no
 *       migration, and rows of older dtrs read back as they were written).
 *   attempts(lease INTEGER PRIMARY KEY, id TEXT, attempt, worker, exit_code,
 *            signal, error, started_at, finished_at, out_bytes,
 *            out_truncated, err_bytes, err_truncated)   (since version 2)
 *       One row per attempt that wrote output or failed (a quiet success
 *       is the task row itself): what it did and how much of its stdout
 *       and stderr the master keeps in OUTPUT_DIR/LEASE.out and .err (the
 *       bytes live in those files, never here; see master/output.c).
 *       Pruned with its task.
 *   counters(name TEXT PRIMARY KEY, value INTEGER)
 *       Small durable counters, so that nothing is handed out twice
 *       across restarts: the bound of the leases reserved ("lease"), and
 *       the next seq and job number as of the last prune ("seq", "job";
 *       a restart takes the tasks' own past that).
 *   allocs(id TEXT PRIMARY KEY, record TEXT)
 *       One allocation queue (master/alloc.c): its record as JSON, a
 *       newline, and the ids of its Slurm jobs not known to have ended.
 *       Row "next" holds the number the next queue gets (a1, a2, ...).
 *
 * PRAGMA application_id marks the file as a dtr journal, so that another
 * program's SQLite database in the state dir is refused rather than written
 * into.
 *
 * DURABILITY
 *
 * The database runs in WAL mode with synchronous=FULL: every COMMIT appends
 * its pages to journal.db-wal and fsyncs it before returning (into blocks
 * written ahead with zeros, see wal_write_ahead()). Writes are
 * grouped: the first journal_save_*(), journal_update_*(),
 * journal_delete_task(), journal_set_counter() or journal_prune() after a
 * commit runs BEGIN IMMEDIATE, and journal_commit() runs COMMIT. A write
 * counts as durable exactly when the journal_commit() that follows it
 * returns 0; until then it is visible to reads on the same handle but may
 * vanish. If any write of a transaction fails, the whole transaction is
 * poisoned: journal_commit() rolls it back and returns DTR_EIO naming the
 * first failure, and nothing of it counts. The in-memory journal
 * (dir == NULL) is never durable.
 *
 * In the master these calls come from the journal writer (writer.c). The
 * loop records each turn's writes into a batch, and at the end of the turn
 * (master_prepare_cb) jwriter_handoff() numbers it with an epoch. The
 * writer thread applies every batch handed off since it last looked in one
 * transaction and commits it, so one fsync covers several turns when the
 * disk is slow. At light load (the thread idle, a batch of at most 64
 * writes, fewer than 2000 writes handed off in the last 100 ms) the loop
 * thread applies and commits the batch itself, inside jwriter_handoff().
 * Replies wait until jwriter_done() reports their turn's epoch on disk; a
 * failed commit stops the master without releasing them. Recovery, reads
 * and pruning run on the loop thread while the writer is idle: before the
 * first hand-off, or after jwriter_drain(). So one thread at a time uses a
 * journal, and the writer's mutex orders the hand-overs.
 *
 * RECOVERY
 *
 * After a crash (of the master or of the machine) journal_open() does:
 *   1. Take master.lock. The previous owner is gone, so this succeeds.
 *   2. Open journal.db. SQLite finds the WAL left behind and replays it: the
 *      frames up to the last valid commit record (checksums intact) are
 *      applied and anything after it, a commit that was never acknowledged,
 *      is ignored. The database is then exactly as of the last
 *      journal_commit() that returned 0.
 *   3. Check the schema version; refuse a newer one, upgrade an older one
 *      (in one transaction, so an interrupted upgrade is simply redone).
 * The caller then reads everything back with journal_load() and the
 * counters, and decides what to do with tasks that were running when the
 * previous master died (their attempts were lost with it).
 *
 * ERRORS
 *
 * This module never logs: it returns DTR_EIO (or DTR_ENOENT) and, where the
 * API has room for it, a message naming the file and SQLite's error, with
 * the system's cause when SQLite's words hide it: a full disk is "no space
 * left on device" (or "disk quota exceeded") and says to free space, even
 * when SQLite reports it as a "disk I/O error" (the -shm file cannot grow).
 *
 * FAULT INJECTION (tests only)
 *
 * DTR_FAULT_JOURNAL_COMMIT=N in the environment, read once by
 * journal_open(), makes the Nth call of journal_commit() that finds a
 * transaction open fail as if the disk had refused it: the transaction is
 * rolled back and DTR_EIO is returned with "injected fault" in err.
 */
#include "journal/journal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <sqlite3.h>

#include "journal/sqlite.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/util.h"

/*
 * Schema version, stored in PRAGMA user_version. Each version has one step in
 * migrations[] that upgrades the version before it; append, never edit a step
 * that has been released.
 *
 * Changelog:
 *   1  tasks, outputs, counters (dtr 0.1).
 *   2  changes: state changes appended, folded into tasks in bulk.
 *   3  attempts: each attempt's output sizes and outcome; the output
 *      itself moved to files (outputs keeps built-in results only).
 *   4  allocs: allocation queues (dtr alloc) and their live Slurm jobs.
 */
#define JOURNAL_SCHEMA_VERSION 4

/* PRAGMA application_id of a dtr journal: "DTRJ". */
#define JOURNAL_APPLICATION_ID 0x4454524a

/* Time SQLite waits on a lock held by someone else (an inspecting sqlite3
 * shell, say; another master is kept out by master.lock). */
#define JOURNAL_BUSY_TIMEOUT_MS 1000

/* Modes of what journal_open() creates (see FILES). */
#define JOURNAL_DIR_MODE 0700
#define JOURNAL_FILE_MODE 0600

/* The WAL is truncated back to this after a checkpoint, so that one huge
 * transaction does not leave a huge file behind. */
#define JOURNAL_WAL_LIMIT (64 * 1024 * 1024)
/* State changes appended before they are folded into the tasks table in
 * one pass (see journal_commit()). */
#define JOURNAL_FOLD_AT 50000
/* SQLite checkpoints once the WAL holds this many pages, and then writes it
 * again from its head (SQLite's default, set in make_durable() so that
 * wal_write_ahead() knows it). */
#define JOURNAL_CHECKPOINT_PAGES 1000
/* What wal_write_ahead() adds to the WAL per commit. */
#define JOURNAL_WAL_STEP (1024 * 1024)
/* KiB of page cache (see configure()). */
#define JOURNAL_CACHE_KIB "16384"
/* Bytes per page of a new journal file (see configure()). */
#define JOURNAL_PAGE_SIZE "16384"

static const char *const migrations[JOURNAL_SCHEMA_VERSION] = {
    /* 0 -> 1 */
    "CREATE TABLE tasks ("
    "  id TEXT NOT NULL UNIQUE,"
    "  seq INTEGER PRIMARY KEY," /* the rowid: a state change updates the row in place */
    "  spec TEXT NOT NULL,"
    "  priority INTEGER NOT NULL,"
    "  max_retries INTEGER NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  crashes INTEGER NOT NULL,"
    "  lease INTEGER NOT NULL,"
    "  worker TEXT,"
    "  exit_code INTEGER NOT NULL,"
    "  error TEXT,"
    "  submitted_at INTEGER NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  finished_at INTEGER NOT NULL,"
    "  not_before INTEGER NOT NULL"
    ");"
    "CREATE INDEX tasks_by_finished ON tasks(finished_at) WHERE finished_at > 0;"
    "CREATE TABLE outputs ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  out BLOB,"
    "  out_truncated INTEGER NOT NULL,"
    "  err BLOB,"
    "  err_truncated INTEGER NOT NULL,"
    "  result TEXT"
    ");"
    "CREATE TABLE counters ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  value INTEGER NOT NULL"
    ") WITHOUT ROWID;",
    /* 1 -> 2 */
    "CREATE TABLE changes ("
    "  n INTEGER PRIMARY KEY,"
    "  seq INTEGER NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  crashes INTEGER NOT NULL,"
    "  lease INTEGER NOT NULL,"
    "  worker TEXT,"
    "  exit_code INTEGER NOT NULL,"
    "  error TEXT,"
    "  started_at INTEGER NOT NULL,"
    "  finished_at INTEGER NOT NULL,"
    "  not_before INTEGER NOT NULL"
    ");",
    /* 2 -> 3 */
    "CREATE TABLE attempts ("
    "  lease INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL,"
    "  attempt INTEGER NOT NULL,"
    "  worker TEXT,"
    "  exit_code INTEGER NOT NULL,"
    "  signal INTEGER NOT NULL,"
    "  error TEXT,"
    "  started_at INTEGER NOT NULL,"
    "  finished_at INTEGER NOT NULL,"
    "  out_bytes INTEGER NOT NULL,"
    "  out_truncated INTEGER NOT NULL,"
    "  err_bytes INTEGER NOT NULL,"
    "  err_truncated INTEGER NOT NULL"
    ");"
    "CREATE INDEX attempts_by_id ON attempts(id);",
    /* 3 -> 4 */
    "CREATE TABLE allocs ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  record TEXT NOT NULL"
    ") WITHOUT ROWID;",
};

/*
 * The columns of the tasks table and the fields of struct journal_row they
 * hold: the one list from which rows are bound and loaded and the SQL of the
 * save, update and load statements is written (build_task_sql()). Column i
 * is parameter i + 1 of every statement on the table. uint64 fields are
 * COL_INT64: stored as their int64 bit pattern.
 */
enum col_type { COL_TEXT, COL_INT, COL_INT64 };

enum col_flags {
    COL_ROWID = 1 << 0,   /* seq: the key of a state change and of the upsert */
    COL_KEY = 1 << 1,     /* never rewritten once the row exists */
    COL_CHANGES = 1 << 2, /* a state change may alter it: a column of the changes table */
};

struct column {
    const char *name;
    enum col_type type;
    size_t offset; /* of the field in struct journal_row */
    unsigned flags;
};

#define COL_SIZE(type)                                                                             \
    ((type) == COL_TEXT ? sizeof(char *) : (type) == COL_INT ? sizeof(int) : sizeof(int64_t))

/* A column of field; the build fails when the field's size is not its type's. */
#define COLUMN(field, type, flags)                                                                 \
    {                                                                                              \
#field, type,                                                                              \
            offsetof(struct journal_row, field) +                                                  \
                0 * sizeof(struct {                                                                \
                    _Static_assert(sizeof(((struct journal_row *)0)->field) == COL_SIZE(type),     \
                                   "journal_row." #field " does not have the size of its column"); \
                    int unused;                                                                    \
                }),                                                                                \
            flags                                                                                  \
    }

static const struct column task_columns[] = {
    COLUMN(id, COL_TEXT, COL_KEY),
    COLUMN(seq, COL_INT64, COL_KEY | COL_ROWID),
    COLUMN(spec, COL_TEXT, 0),
    COLUMN(priority, COL_INT64, 0),
    COLUMN(max_retries, COL_INT, 0),
    COLUMN(state, COL_INT64, COL_CHANGES),
    COLUMN(attempts, COL_INT, COL_CHANGES),
    COLUMN(crashes, COL_INT, COL_CHANGES),
    COLUMN(lease, COL_INT64, COL_CHANGES),
    COLUMN(worker, COL_TEXT, COL_CHANGES),
    COLUMN(exit_code, COL_INT, COL_CHANGES),
    COLUMN(error, COL_TEXT, COL_CHANGES),
    COLUMN(submitted_at, COL_INT64, 0),
    COLUMN(started_at, COL_INT64, COL_CHANGES),
    COLUMN(finished_at, COL_INT64, COL_CHANGES),
    COLUMN(not_before, COL_INT64, COL_CHANGES),
};

#define TASK_NCOLUMNS (sizeof(task_columns) / sizeof(task_columns[0]))

void journal_row_from_task(struct journal_row *r, const struct task *t)
{
    r->id = t->id;
    r->seq = t->seq;
    r->spec = t->spec;
    r->priority = t->priority;
    r->max_retries = t->max_retries;
    r->state = t->state;
    r->attempts = t->attempts;
    r->crashes = t->crashes;
    r->lease = t->lease;
    r->worker = t->worker;
    r->exit_code = t->exit_code;
    r->error = t->error;
    r->submitted_at = t->submitted_at;
    r->started_at = t->started_at;
    r->finished_at = t->finished_at;
    r->not_before = t->not_before;
}

struct task *journal_row_new_task(const struct journal_row *r)
{
    struct task *t;

    if (!r->id || !r->spec || r->state < 0 || r->state >= TASK_NSTATES)
        return NULL;
    t = task_new(r->id, r->spec, r->priority, r->max_retries, r->seq, 0);
    t->state = (enum task_state)r->state;
    t->attempts = r->attempts;
    t->crashes = r->crashes;
    t->lease = r->lease;
    t->worker = r->worker ? xstrdup(r->worker) : NULL;
    t->exit_code = r->exit_code;
    t->error = r->error ? xstrdup(r->error) : NULL;
    t->submitted_at = r->submitted_at;
    t->started_at = r->started_at;
    t->finished_at = r->finished_at;
    t->not_before = r->not_before;
    return t;
}

/* The field of r that column c holds. */
#define FIELD(r, c) ((const char *)(r) + (c)->offset)

void journal_row_keep(struct journal_row *r, const char *(*keep)(const char *s, void *data),
                      void *data)
{
    for (size_t i = 0; i < TASK_NCOLUMNS; i++) {
        const struct column *c = &task_columns[i];
        const char **s = (const char **)((char *)r + c->offset);

        if (c->type == COL_TEXT && *s)
            *s = keep(*s, data);
    }
}

void journal_row_fields(struct journal_row *r, journal_field_fn fn, void *arg)
{
    for (size_t i = 0; i < TASK_NCOLUMNS; i++) {
        const struct column *c = &task_columns[i];
        char type = c->type == COL_TEXT ? 't' : c->type == COL_INT ? 'i' : 'l';
        fn(arg, type, (char *)r + c->offset);
    }
}

/* The prune condition: ?1 is the cutoff, ?2 the first terminal state, ?3
 * the last (blocked comes after them). The literal "finished_at > 0" lets
 * SQLite use the partial index. */
#define PRUNE_WHERE "state >= ?2 AND state <= ?3 AND finished_at > 0 AND finished_at < ?1"

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVE_TASK,
    ST_ADD_CHANGE,
    ST_FOLD_CHANGES,
    ST_CLEAR_CHANGES,
    ST_SAVE_OUTPUT,
    ST_DELETE_TASK,
    ST_DELETE_OUTPUT,
    ST_LOAD,
    ST_GET_OUTPUT,
    ST_TASK_EXISTS,
    ST_GET_COUNTER,
    ST_SET_COUNTER,
    ST_PRUNE_OUTPUTS,
    ST_PRUNE_ATTEMPTS,
    ST_PRUNE_TASKS,
    ST_SAVE_ATTEMPT,
    ST_GET_ATTEMPTS,
    ST_PRUNED_LEASES,
    ST_SAVE_ALLOC,
    ST_DELETE_ALLOC,
    ST_LOAD_ALLOCS,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    /* ST_SAVE_TASK, ST_ADD_CHANGE, ST_FOLD_CHANGES and ST_LOAD are written
     * from task_columns[] by build_task_sql(). */
    [ST_CLEAR_CHANGES] = "DELETE FROM changes",
    [ST_SAVE_OUTPUT] = "INSERT OR REPLACE INTO outputs "
                       "(id, out, out_truncated, err, err_truncated, result) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_DELETE_TASK] = "DELETE FROM tasks WHERE id = ?1",
    [ST_DELETE_OUTPUT] = "DELETE FROM outputs WHERE id = ?1",
    [ST_GET_OUTPUT] = "SELECT out, out_truncated, err, err_truncated, result "
                      "FROM outputs WHERE id = ?1",
    [ST_TASK_EXISTS] = "SELECT 1 FROM tasks WHERE id = ?1",
    [ST_GET_COUNTER] = "SELECT value FROM counters WHERE name = ?1",
    [ST_SET_COUNTER] = "INSERT OR REPLACE INTO counters (name, value) VALUES (?1, ?2)",
    [ST_SAVE_ALLOC] = "INSERT OR REPLACE INTO allocs (id, record) VALUES (?1, ?2)",
    [ST_DELETE_ALLOC] = "DELETE FROM allocs WHERE id = ?1",
    [ST_LOAD_ALLOCS] = "SELECT id, record FROM allocs ORDER BY id",
    [ST_PRUNE_OUTPUTS] =
        "DELETE FROM outputs WHERE id IN (SELECT id FROM tasks WHERE " PRUNE_WHERE ")",
    [ST_PRUNE_TASKS] = "DELETE FROM tasks WHERE " PRUNE_WHERE,
    [ST_PRUNE_ATTEMPTS] =
        "DELETE FROM attempts WHERE id IN (SELECT id FROM tasks WHERE " PRUNE_WHERE ")",
    [ST_SAVE_ATTEMPT] = "INSERT OR REPLACE INTO attempts (lease, id, attempt, worker, exit_code, "
                        "signal, error, started_at, finished_at, out_bytes, out_truncated, "
                        "err_bytes, err_truncated) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [ST_GET_ATTEMPTS] = "SELECT lease, id, attempt, worker, exit_code, signal, error, "
                        "started_at, finished_at, out_bytes, out_truncated, err_bytes, "
                        "err_truncated FROM attempts WHERE id = ?1 ORDER BY attempt, lease",
    [ST_PRUNED_LEASES] =
        "SELECT lease FROM attempts WHERE id IN (SELECT id FROM tasks WHERE " PRUNE_WHERE ")",
};

struct journal {
    sqlite3 *db;
    char *path;  /* DIR/journal.db or ":memory:", for messages */
    int lock_fd; /* holds flock on DIR/master.lock; -1 in memory */
    sqlite3_stmt *st[ST_COUNT];

    /* A write of the open transaction failed: journal_commit() must roll
     * back and report tx_err instead of committing the rest. */
    bool tx_failed;
    char tx_err[512];

    long nchanges;     /* rows in the changes table (about: see journal_commit()) */
    long fault_commit; /* DTR_FAULT_JOURNAL_COMMIT, 0 = off */
    long commits;      /* journal_commit() calls that found a transaction */

    off_t wal_ahead;     /* length wal_write_ahead() gives the WAL; 0 = none */
    bool wal_ahead_done; /* it has, or it cannot */
};

static int fold_changes(struct journal *j);

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = xmalloc(n);

    snprintf(path, n, "%s/%s", dir, name);
    return path;
}

/* mkdir -p: creates dir with JOURNAL_DIR_MODE and its missing parents with
 * mode 0755 (as `mkdir -p -m 0700` does). */
static int mkdir_p(const char *dir, char *err, size_t errlen)
{
    char *path;
    struct stat sb;
    int ret = 0;

    if (!*dir) {
        err_set(err, errlen, "the state dir is an empty path; give a directory in --state-dir");
        return DTR_EINVAL;
    }
    path = xstrdup(dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            ret = -errno;
            err_set(err, errlen, "cannot create state dir '%s' ('%s': %s)", dir, path,
                    strerror(-ret));
            goto out;
        }
        *p = '/';
    }
    if (mkdir(path, JOURNAL_DIR_MODE) < 0 && errno != EEXIST) {
        ret = -errno;
        err_set(err, errlen, "cannot create state dir '%s': %s", dir, strerror(-ret));
        goto out;
    }
    if (stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
        err_set(err, errlen, "state dir '%s' is not a directory; use another --state-dir", dir);
        ret = DTR_EIO;
    }
out:
    free(path);
    return ret;
}

static int take_lock(struct journal *j, const char *dir, char *err, size_t errlen)
{
    char *lock = path_join(dir, "master.lock");
    int ret = 0;

    j->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, JOURNAL_FILE_MODE);
    if (j->lock_fd < 0) {
        err_set(err, errlen,
                "cannot open lock '%s': %s; fix permissions or use another --state-dir", lock,
                strerror(errno));
        ret = DTR_EIO;
        goto out;
    }
    if (flock(j->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            err_set(err, errlen,
                    "state dir '%s' is in use by another master (lock '%s'); stop it or use "
                    "another --state-dir",
                    dir, lock);
        else
            err_set(err, errlen, "cannot lock '%s': %s", lock, strerror(errno));
        ret = DTR_EIO;
    }
out:
    free(lock);
    return ret;
}

/*
 * Creates journal.db empty with JOURNAL_FILE_MODE when it does not exist
 * (SQLite would create it 0644, less the umask, and the -wal after it); an
 * empty file is an empty database to SQLite. Any other failure is left for
 * sqlite3_open_v2() to report, in its words.
 */
static void create_private(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, JOURNAL_FILE_MODE);

    if (fd >= 0)
        close(fd);
}

/* Sets a regular file of ours that group or others may use to mode 0600 (or
 * less); a missing file, or one owned by someone else, is left alone. */
static int make_private(const char *path, char *err, size_t errlen)
{
    struct stat sb;

    if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode) || !(sb.st_mode & 077) ||
        sb.st_uid != geteuid())
        return 0;
    if (chmod(path, sb.st_mode & 0700) < 0) {
        err_set(err, errlen, "cannot make '%s' private (mode %04o): %s; run chmod 600 '%s'", path,
                (unsigned)(sb.st_mode & 07777), strerror(errno), path);
        return DTR_EIO;
    }
    return 0;
}

/* Makes master.lock, journal.db and SQLite's files beside it private. */
static int make_files_private(const char *dir, char *err, size_t errlen)
{
    static const char *const names[] = {"master.lock", "journal.db", "journal.db-wal",
                                        "journal.db-shm", "journal.db-journal"};
    int ret = 0;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && ret == 0; i++) {
        char *path = path_join(dir, names[i]);
        ret = make_private(path, err, errlen);
        free(path);
    }
    return ret;
}

/*
 * The system's words for the failure behind SQLite's last error, or NULL:
 * SQLite says "disk I/O error" for a full disk when the -shm file cannot
 * grow (SQLITE_IOERR_SHMSIZE, errno ENOSPC), which tells nobody what to do.
 * Sets *full when the cause is a full disk or quota.
 */
static const char *system_cause(struct journal *j, bool *full)
{
    int code = sqlite3_errcode(j->db) & 0xff;
    int sys = sqlite3_system_errno(j->db);

    *full = false;
    if (code == SQLITE_FULL ||
        ((code == SQLITE_IOERR || code == SQLITE_CANTOPEN) && (sys == ENOSPC || sys == EDQUOT))) {
        *full = true;
        return sys == EDQUOT ? "disk quota exceeded" : "no space left on device";
    }
    /* errno is only that of this error for the codes that come from a
     * system call; strerror()'s capital is dropped for our message style. */
    if (sys && (code == SQLITE_IOERR || code == SQLITE_CANTOPEN)) {
        static char buf[128];
        snprintf(buf, sizeof(buf), "%s", strerror(sys));
        buf[0] = (char)tolower((unsigned char)buf[0]);
        return buf;
    }
    return NULL;
}

/* Describes the database's last error during open, with advice for the user. */
static void open_error(struct journal *j, const char *doing, char *err, size_t errlen)
{
    int code = sqlite3_errcode(j->db) & 0xff;
    int sys = sqlite3_system_errno(j->db);
    const char *msg = sqlite3_errmsg(j->db);
    bool full;
    const char *cause = system_cause(j, &full);

    if (full) {
        err_set(err, errlen,
                "cannot write '%s' (or its -wal or -shm file): %s (%s); free space on its file "
                "system or use another --state-dir",
                j->path, cause, msg);
        return;
    }

    if (sqlite3_extended_errcode(j->db) == SQLITE_READONLY_DIRECTORY) {
        /* The WAL and shm files live next to the database. */
        err_set(err, errlen,
                "cannot write '%s': its directory is not writable (%s); fix its permissions "
                "or use another --state-dir",
                j->path, msg);
        return;
    }
    switch (code) {
    case SQLITE_NOTADB:
        err_set(err, errlen,
                "'%s' is not a dtr journal (%s); move it away or use another --state-dir", j->path,
                msg);
        break;
    case SQLITE_READONLY:
        err_set(err, errlen,
                "'%s' is not writable (%s); fix its permissions or use another --state-dir",
                j->path, msg);
        break;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        err_set(err, errlen,
                "cannot open '%s' (%s%s%s); check that it and its directory are writable or "
                "use another --state-dir",
                j->path, msg, sys ? ": " : "", sys ? strerror(sys) : "");
        break;
    case SQLITE_CORRUPT:
        err_set(err, errlen, "'%s' is corrupt (%s); move it away or use another --state-dir",
                j->path, msg);
        break;
    default:
        if (cause)
            err_set(err, errlen, "cannot %s '%s': %s (%s)", doing, j->path, cause, msg);
        else
            err_set(err, errlen, "cannot %s '%s': %s", doing, j->path, msg);
        break;
    }
}

/* Runs a statement that returns at most one integer; *value stays when none. */
static int query_int(struct journal *j, const char *sql, int64_t *value)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(j->db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *value = sqlite3_column_int64(st, 0);
            rc = sqlite3_step(st);
        }
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    /* Finalizing after a failed step keeps the step's error in the handle. */
    sqlite3_finalize(st);
    return rc;
}

static int set_wal(struct journal *j, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int ret = DTR_EIO;
    int rc;

    rc = sqlite3_prepare_v2(j->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        open_error(j, "open", err, errlen);
        goto out;
    }
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    if (!mode || strcmp(mode, "wal") != 0) {
        err_set(err, errlen,
                "cannot switch '%s' to WAL mode (it stays in '%s' mode); use a local file "
                "system for --state-dir",
                j->path, mode ? mode : "unknown");
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}

static int configure(struct journal *j, char *err, size_t errlen)
{
    sqlite3_extended_result_codes(j->db, 1);
    /* For a new file only (SQLite ignores it for an existing one): a commit
     * writes each dirty page with its own pwrite(), and a busy master dirties
     * hundreds of neighbouring rows per commit; bigger pages, fewer calls
     * (the writer thread's time fell by a fifth with 16 KiB pages). */
    sqlite3_exec(j->db, "PRAGMA page_size=" JOURNAL_PAGE_SIZE, NULL, NULL, NULL);
    sqlite3_busy_timeout(j->db, JOURNAL_BUSY_TIMEOUT_MS);
    /* 16 MiB of page cache, not SQLite's 2: the tasks of a DAG end in
     * layers, not in row order, and with a small cache each state change
     * read its page back from disk (a 100,000-task DAG spent a fifth of the
     * writer's time in pread()). */
    sqlite3_exec(j->db, "PRAGMA cache_size=-" JOURNAL_CACHE_KIB, NULL, NULL, NULL);
    /* A file we may not write is opened read-only without a word: say so now
     * rather than at the first commit. */
    if (sqlite3_db_readonly(j->db, "main") == 1) {
        err_set(err, errlen,
                "'%s' is not writable (opened read-only); fix its permissions or use another "
                "--state-dir",
                j->path);
        return DTR_EIO;
    }
    return 0;
}

/* WAL and full sync, once migrate() has made sure the file is ours: a
 * foreign database is refused before anything about it changes. */
static int make_durable(struct journal *j, char *err, size_t errlen)
{
    char sql[128];
    int64_t page_size = 0;

    if (j->lock_fd < 0)
        return 0; /* in memory: nothing to make durable */
    /* Only this master opens the file (the state dir's lock says so): an
     * exclusive lock, taken once, spares six fcntl() calls per commit and
     * keeps the WAL index in memory instead of a -shm file. */
    if (sqlite3_exec(j->db, "PRAGMA locking_mode=EXCLUSIVE", NULL, NULL, NULL) != SQLITE_OK) {
        open_error(j, "configure", err, errlen);
        return DTR_EIO;
    }
    if (set_wal(j, err, errlen) < 0)
        return DTR_EIO;
    snprintf(sql, sizeof(sql), "PRAGMA synchronous=FULL; PRAGMA journal_size_limit=%d",
             JOURNAL_WAL_LIMIT);
    if (sqlite3_exec(j->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_wal_autocheckpoint(j->db, JOURNAL_CHECKPOINT_PAGES) != SQLITE_OK ||
        query_int(j, "PRAGMA page_size", &page_size) != SQLITE_OK) {
        open_error(j, "configure", err, errlen);
        return DTR_EIO;
    }
    /* The WAL's header, the pages after which SQLite checkpoints, and the
     * commit that crosses that line (a few pages; a bigger one grows it). */
    j->wal_ahead = 32 + (JOURNAL_CHECKPOINT_PAGES + 64) * (page_size + 24);
    return 0;
}

/*
 * Writes the WAL ahead of SQLite, with zeros, one JOURNAL_WAL_STEP after
 * each commit, until it is as long as SQLite lets it grow before it
 * checkpoints and writes it again from its head. Until then every commit of
 * a fresh master appends to the file, and an fdatasync() of a file that grew
 * also writes its inode and block maps: on ext4 here, 70 us and a third more
 * CPU per commit than frames written over blocks already on disk. Zeros
 * after SQLite's last frame are no valid frame: its recovery stops there, as
 * at the old frames of a WAL it reuses. Only on file systems that overwrite
 * blocks in place (ext4, xfs), and never into the last of a small disk's
 * space.
 */
static void wal_write_ahead(struct journal *j)
{
    static const char zeros[JOURNAL_WAL_STEP];
    const char *wal = sqlite3_filename_wal(sqlite3_db_filename(j->db, "main"));
    struct statfs fs;
    struct stat sb;
    int fd;

    fd = wal ? open(wal, O_WRONLY | O_CLOEXEC) : -1;
    if (fd < 0) {
        j->wal_ahead_done = true;
        return;
    }
    if (fstat(fd, &sb) != 0 || sb.st_size >= j->wal_ahead || fstatfs(fd, &fs) != 0 ||
        (fs.f_type != 0xEF53 /* ext2/3/4 */ && fs.f_type != 0x58465342 /* xfs */) ||
        (uint64_t)fs.f_bavail * (uint64_t)fs.f_bsize < 8 * (uint64_t)j->wal_ahead) {
        j->wal_ahead_done = true;
    } else {
        size_t n = (size_t)MIN((off_t)sizeof(zeros), j->wal_ahead - sb.st_size);
        if (pwrite(fd, zeros, n, sb.st_size) != (ssize_t)n)
            j->wal_ahead_done = true;
    }
    close(fd);
}

/*
 * Checks that the file is a dtr journal we understand and brings its schema
 * to JOURNAL_SCHEMA_VERSION. Runs in a write transaction even when there is
 * nothing to upgrade, so a journal we cannot write is refused here, at
 * startup, and not at the first commit.
 */
static int migrate(struct journal *j, char *err, size_t errlen)
{
    int64_t version = 0, app_id = 0, objects = 0;
    char sql[128];
    int ret = DTR_EIO;

    if (sqlite3_exec(j->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        open_error(j, "open", err, errlen);
        return DTR_EIO;
    }
    if (query_int(j, "PRAGMA user_version", &version) != SQLITE_OK ||
        query_int(j, "PRAGMA application_id", &app_id) != SQLITE_OK ||
        query_int(j, "SELECT count(*) FROM sqlite_master", &objects) != SQLITE_OK) {
        open_error(j, "read", err, errlen);
        goto out;
    }
    if ((version == 0 && objects > 0) || (version > 0 && app_id != JOURNAL_APPLICATION_ID)) {
        err_set(err, errlen,
                "'%s' is not a dtr journal (another program's SQLite database); move it away "
                "or use another --state-dir",
                j->path);
        goto out;
    }
    if (version > JOURNAL_SCHEMA_VERSION) {
        err_set(err, errlen,
                "'%s' was written by a newer dtr (journal schema version %lld, this dtr knows "
                "up to %d); upgrade dtr or use another --state-dir",
                j->path, (long long)version, JOURNAL_SCHEMA_VERSION);
        goto out;
    }
    for (int64_t v = version; v < JOURNAL_SCHEMA_VERSION; v++) {
        if (sqlite3_exec(j->db, migrations[v], NULL, NULL, NULL) != SQLITE_OK) {
            open_error(j, "upgrade", err, errlen);
            goto out;
        }
    }
    /* Written even when unchanged: this is the write that proves we can. */
    snprintf(sql, sizeof(sql), "PRAGMA application_id=%d; PRAGMA user_version=%d",
             JOURNAL_APPLICATION_ID, JOURNAL_SCHEMA_VERSION);
    if (sqlite3_exec(j->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        open_error(j, "write", err, errlen);
        goto out;
    }
    ret = 0;
out:
    if (!sqlite3_get_autocommit(j->db))
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
    return ret;
}

/*
 * The SQL of the statements on the tasks table, written from task_columns[].
 * For the columns of schema version 1 they read:
 *
 *   ST_SAVE_TASK, an upsert on the rowid: saving a stored task rewrites one
 *   row and touches no index but finished_at's (INSERT OR REPLACE would
 *   delete and re-insert).
 *       INSERT INTO tasks (id, seq, spec, ..., not_before)
 *       VALUES (?1, ?2, ?3, ..., ?16) ON CONFLICT(seq) DO UPDATE SET
 *       spec = excluded.spec, ..., not_before = excluded.not_before
 *   ST_ADD_CHANGE, a state change: what it can alter, appended.
 *       INSERT INTO changes (seq, state, ..., not_before)
 *       VALUES (?2, ?6, ..., ?16)
 *   ST_FOLD_CHANGES, the last change of each task into its row, in row
 *   order (so each page of the table is written once):
 *       UPDATE tasks SET state = c.state, ..., not_before = c.not_before
 *       FROM (SELECT * FROM changes WHERE n IN
 *             (SELECT max(n) FROM changes GROUP BY seq) ORDER BY seq) AS c
 *       WHERE tasks.seq = c.seq
 *   ST_LOAD, in submission order without a sort:
 *       SELECT id, seq, spec, ..., not_before FROM tasks ORDER BY seq
 *
 * Returns NULL for any other statement (stmt_sql[] has it); caller frees.
 */
static char *build_task_sql(enum stmt_id id)
{
    struct buf sql = BUF_INIT;
    const char *rowid = NULL;
    size_t rowid_param = 0;
    const char *sep = "";

    for (size_t i = 0; i < TASK_NCOLUMNS; i++) {
        if (task_columns[i].flags & COL_ROWID) {
            rowid = task_columns[i].name;
            rowid_param = i + 1;
        }
    }
    switch (id) {
    case ST_SAVE_TASK:
        buf_addstr(&sql, "INSERT INTO tasks (");
        for (size_t i = 0; i < TASK_NCOLUMNS; i++)
            buf_addf(&sql, "%s%s", i ? ", " : "", task_columns[i].name);
        buf_addstr(&sql, ") VALUES (");
        for (size_t i = 0; i < TASK_NCOLUMNS; i++)
            buf_addf(&sql, "%s?%zu", i ? ", " : "", i + 1);
        buf_addf(&sql, ") ON CONFLICT(%s) DO UPDATE SET ", rowid);
        for (size_t i = 0; i < TASK_NCOLUMNS; i++) {
            if (task_columns[i].flags & COL_KEY)
                continue;
            buf_addf(&sql, "%s%s = excluded.%s", sep, task_columns[i].name, task_columns[i].name);
            sep = ", ";
        }
        break;
    case ST_ADD_CHANGE:
        buf_addf(&sql, "INSERT INTO changes (%s", rowid);
        for (size_t i = 0; i < TASK_NCOLUMNS; i++)
            if (task_columns[i].flags & COL_CHANGES)
                buf_addf(&sql, ", %s", task_columns[i].name);
        buf_addf(&sql, ") VALUES (?%zu", rowid_param);
        for (size_t i = 0; i < TASK_NCOLUMNS; i++)
            if (task_columns[i].flags & COL_CHANGES)
                buf_addf(&sql, ", ?%zu", i + 1);
        buf_addch(&sql, ')');
        break;
    case ST_FOLD_CHANGES:
        buf_addstr(&sql, "UPDATE tasks SET ");
        for (size_t i = 0; i < TASK_NCOLUMNS; i++) {
            if (!(task_columns[i].flags & COL_CHANGES))
                continue;
            buf_addf(&sql, "%s%s = c.%s", sep, task_columns[i].name, task_columns[i].name);
            sep = ", ";
        }
        buf_addf(&sql,
                 " FROM (SELECT * FROM changes WHERE n IN (SELECT max(n) FROM changes GROUP BY "
                 "%s) ORDER BY %s) AS c WHERE tasks.%s = c.%s",
                 rowid, rowid, rowid, rowid);
        break;
    case ST_LOAD:
        buf_addstr(&sql, "SELECT ");
        for (size_t i = 0; i < TASK_NCOLUMNS; i++)
            buf_addf(&sql, "%s%s", i ? ", " : "", task_columns[i].name);
        buf_addf(&sql, " FROM tasks ORDER BY %s", rowid);
        break;
    default:
        return NULL;
    }
    return buf_detach(&sql, NULL);
}

static int prepare_all(struct journal *j, char *err, size_t errlen)
{
    for (int i = 0; i < ST_COUNT; i++) {
        char *built = build_task_sql((enum stmt_id)i);
        int rc = sqlite3_prepare_v3(j->db, built ? built : stmt_sql[i], -1,
                                    SQLITE_PREPARE_PERSISTENT, &j->st[i], NULL);

        free(built);
        if (rc != SQLITE_OK) {
            open_error(j, "prepare statements for", err, errlen);
            return DTR_EIO;
        }
    }
    return 0;
}

static void journal_free(struct journal *j)
{
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(j->st[i]);
    /* Closing checkpoints the WAL: do it while still holding the lock. */
    sqlite3_close(j->db);
    if (j->lock_fd >= 0)
        close(j->lock_fd);
    free(j->path);
    free(j);
}

struct journal *journal_open(const char *dir, char *err, size_t errlen)
{
    if (sqlite_load(err, errlen) != 0)
        return NULL;
    struct journal *j = xcalloc(1, sizeof(*j));
    const char *fault;
    int rc;

    j->lock_fd = -1;
    if (dir) {
        if (mkdir_p(dir, err, errlen) < 0 || take_lock(j, dir, err, errlen) < 0)
            goto fail;
        j->path = path_join(dir, "journal.db");
        create_private(j->path);
    } else {
        j->path = xstrdup(":memory:");
    }

    /* NOMUTEX: one thread at a time uses a journal (see DURABILITY), and
     * the journal writer's mutex orders the hand-overs. */
    rc = sqlite3_open_v2(j->path, &j->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (!j->db) {
            err_set(err, errlen, "cannot open '%s': %s", j->path, sqlite3_errstr(rc));
            goto fail;
        }
        open_error(j, "open", err, errlen);
        goto fail;
    }
    /* Files are made private only once migrate() has shown journal.db is
     * ours: another program's database is refused untouched. */
    if (configure(j, err, errlen) < 0 || migrate(j, err, errlen) < 0 ||
        (dir && make_files_private(dir, err, errlen) < 0) || make_durable(j, err, errlen) < 0 ||
        prepare_all(j, err, errlen) < 0)
        goto fail;

    /* Changes a crash left unfolded: folded before anything reads the
     * rows, and before the first commit could find them already folded. */
    int64_t pending = 0;
    if (query_int(j, "SELECT count(*) FROM changes", &pending) != SQLITE_OK) {
        open_error(j, "read", err, errlen);
        goto fail;
    }
    if (pending && (fold_changes(j) < 0 || journal_commit(j, err, errlen) < 0)) {
        if (j->tx_failed)
            err_set(err, errlen, "%s", j->tx_err);
        goto fail;
    }

    fault = getenv("DTR_FAULT_JOURNAL_COMMIT");
    if (fault)
        j->fault_commit = strtol(fault, NULL, 10);
    return j;

fail:
    journal_free(j);
    return NULL;
}

void journal_close(struct journal *j)
{
    if (!j)
        return;
    /* Nobody is left to tell about a failure: the rollback is all we can do. */
    journal_commit(j, NULL, 0);
    journal_free(j);
}

/* "cannot DOING PREP 'path': why", with the system's cause when there is
 * one, and what to do when the disk is full. */
static void write_error(struct journal *j, char *err, size_t errlen, const char *doing,
                        const char *prep)
{
    bool full;
    const char *cause = system_cause(j, &full);

    if (cause)
        err_set(err, errlen, "cannot %s %s '%s': %s (%s)%s", doing, prep, j->path, cause,
                sqlite3_errmsg(j->db), full ? "; free space on its file system" : "");
    else
        err_set(err, errlen, "cannot %s %s '%s': %s", doing, prep, j->path, sqlite3_errmsg(j->db));
}

/* Remembers the first failure of the open transaction and returns DTR_EIO. */
static int write_failed(struct journal *j, const char *doing)
{
    if (!j->tx_failed) {
        j->tx_failed = true;
        write_error(j, j->tx_err, sizeof(j->tx_err), doing, "in");
    }
    return DTR_EIO;
}

/* Steps a statement that returns no rows and readies it for the next use. */
static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : DTR_EIO;
}

/* Every write goes through here: the transaction is opened on first use. */
static int write_begin(struct journal *j)
{
    if (j->tx_failed)
        return DTR_EIO; /* the transaction is lost; more writes cannot save it */
    if (!sqlite3_get_autocommit(j->db))
        return 0;
    if (step_done(j->st[ST_BEGIN]) < 0)
        return write_failed(j, "begin a transaction");
    return 0;
}

static void bind_text_or_null(sqlite3_stmt *st, int col, const char *s)
{
    if (s)
        sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, col);
}

static void bind_blob_or_null(sqlite3_stmt *st, int col, const char *p, size_t len)
{
    /* A non-NULL pointer binds a blob even when len is 0, so "" stays "". */
    if (p)
        sqlite3_bind_blob64(st, col, p, len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, col);
}

/* Binds column i of the tasks table to parameter i + 1 of st. */
static void bind_column(sqlite3_stmt *st, const struct journal_row *r, size_t i)
{
    const struct column *c = &task_columns[i];
    const char *field = FIELD(r, c);
    int param = (int)i + 1;

    switch (c->type) {
    case COL_TEXT:
        bind_text_or_null(st, param, *(const char *const *)field);
        break;
    case COL_INT:
        sqlite3_bind_int(st, param, *(const int *)field);
        break;
    case COL_INT64:
        sqlite3_bind_int64(st, param, *(const int64_t *)field);
        break;
    }
}

int journal_save_row(struct journal *j, const struct journal_row *r)
{
    sqlite3_stmt *st = j->st[ST_SAVE_TASK];

    if (write_begin(j) < 0)
        return DTR_EIO;
    for (size_t i = 0; i < TASK_NCOLUMNS; i++)
        bind_column(st, r, i);
    if (step_done(st) < 0)
        return write_failed(j, "save a task");
    return 0;
}

/*
 * A state change is appended to the changes table, not written into the
 * task's row: the tasks that change together (a layer of a DAG, say) lie
 * far apart in the table, and updating their rows in place wrote a whole
 * page per task at each commit (30 times the pages of independent tasks).
 * The changes are folded into the rows in one pass, in row order, once
 * JOURNAL_FOLD_AT of them piled up, before a prune, and at open.
 */
int journal_update_row(struct journal *j, const struct journal_row *r)
{
    sqlite3_stmt *st = j->st[ST_ADD_CHANGE];

    if (write_begin(j) < 0)
        return DTR_EIO;
    for (size_t i = 0; i < TASK_NCOLUMNS; i++)
        if (task_columns[i].flags & (COL_ROWID | COL_CHANGES))
            bind_column(st, r, i);
    if (step_done(st) < 0)
        return write_failed(j, "save a task");
    j->nchanges++;
    return 0;
}

/* Folds the changes into the tasks table and empties it, in the open
 * transaction (or in one of its own). */
static int fold_changes(struct journal *j)
{
    if (write_begin(j) < 0)
        return DTR_EIO;
    if (step_done(j->st[ST_FOLD_CHANGES]) < 0 || step_done(j->st[ST_CLEAR_CHANGES]) < 0)
        return write_failed(j, "fold state changes into the tasks table of");
    j->nchanges = 0;
    return 0;
}

int journal_save_task(struct journal *j, const struct task *t)
{
    struct journal_row r;

    journal_row_from_task(&r, t);
    return journal_save_row(j, &r);
}

int journal_update_task(struct journal *j, const struct task *t)
{
    struct journal_row r;

    journal_row_from_task(&r, t);
    return journal_update_row(j, &r);
}

int journal_save_output(struct journal *j, const char *task_id, const struct task_output *o)
{
    sqlite3_stmt *st = j->st[ST_SAVE_OUTPUT];

    if (write_begin(j) < 0)
        return DTR_EIO;
    sqlite3_bind_text(st, 1, task_id, -1, SQLITE_STATIC);
    bind_blob_or_null(st, 2, o->out, o->out_len);
    sqlite3_bind_int(st, 3, o->out_truncated);
    bind_blob_or_null(st, 4, o->err, o->err_len);
    sqlite3_bind_int(st, 5, o->err_truncated);
    bind_text_or_null(st, 6, o->result);
    if (step_done(st) < 0)
        return write_failed(j, "save an output");
    return 0;
}

int journal_delete_task(struct journal *j, const char *task_id)
{
    if (write_begin(j) < 0)
        return DTR_EIO;
    sqlite3_bind_text(j->st[ST_DELETE_OUTPUT], 1, task_id, -1, SQLITE_STATIC);
    if (step_done(j->st[ST_DELETE_OUTPUT]) < 0)
        return write_failed(j, "delete an output");
    sqlite3_bind_text(j->st[ST_DELETE_TASK], 1, task_id, -1, SQLITE_STATIC);
    if (step_done(j->st[ST_DELETE_TASK]) < 0)
        return write_failed(j, "delete a task");
    return 0;
}

int journal_set_counter(struct journal *j, const char *name, uint64_t value)
{
    sqlite3_stmt *st = j->st[ST_SET_COUNTER];

    if (write_begin(j) < 0)
        return DTR_EIO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)value);
    if (step_done(st) < 0)
        return write_failed(j, "save a counter");
    return 0;
}

int journal_save_attempt(struct journal *j, const struct journal_attempt *a)
{
    sqlite3_stmt *st = j->st[ST_SAVE_ATTEMPT];

    if (write_begin(j) < 0)
        return DTR_EIO;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)a->lease);
    sqlite3_bind_text(st, 2, a->id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, a->attempt);
    bind_text_or_null(st, 4, a->worker);
    sqlite3_bind_int(st, 5, a->exit_code);
    sqlite3_bind_int(st, 6, a->term_signal);
    bind_text_or_null(st, 7, a->error);
    sqlite3_bind_int64(st, 8, a->started_at);
    sqlite3_bind_int64(st, 9, a->finished_at);
    sqlite3_bind_int64(st, 10, (sqlite3_int64)a->out_bytes);
    sqlite3_bind_int(st, 11, a->out_truncated);
    sqlite3_bind_int64(st, 12, (sqlite3_int64)a->err_bytes);
    sqlite3_bind_int(st, 13, a->err_truncated);
    if (step_done(st) < 0)
        return write_failed(j, "save an attempt");
    return 0;
}

int journal_pruned_leases(struct journal *j, int64_t cutoff_ms,
                          void (*fn)(void *arg, uint64_t lease), void *arg)
{
    sqlite3_stmt *st = j->st[ST_PRUNED_LEASES];
    int rc;

    /* What ended is known to the rows only once folded. */
    if (j->nchanges && fold_changes(j) < 0)
        return DTR_EIO;
    sqlite3_bind_int64(st, 1, cutoff_ms);
    sqlite3_bind_int(st, 2, TASK_SUCCEEDED);
    sqlite3_bind_int(st, 3, TASK_CANCELLED);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(arg, (uint64_t)sqlite3_column_int64(st, 0));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : DTR_EIO;
}

int journal_each_output(struct journal *j,
                        void (*fn)(void *arg, uint64_t lease, const char *id, int attempt,
                                   uint64_t out_bytes, uint64_t err_bytes, bool known),
                        void *arg)
{
    /* Running tasks as the rows and their newest unfolded change say (a
     * restored image keeps its changes until the next commit folds them). */
    static const char sql[] =
        "SELECT lease, id, attempt, out_bytes, err_bytes, 1 FROM attempts "
        "UNION ALL "
        "SELECT COALESCE(c.lease, t.lease), t.id, COALESCE(c.attempts, t.attempts), 0, 0, 0 "
        "FROM tasks t LEFT JOIN (SELECT seq, state, attempts, lease, MAX(n) FROM changes "
        "GROUP BY seq) c ON c.seq = t.seq "
        "WHERE COALESCE(c.state, t.state) = ?1 AND COALESCE(c.lease, t.lease) > 0 "
        "AND COALESCE(c.lease, t.lease) NOT IN (SELECT lease FROM attempts) "
        "ORDER BY 1";
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(j->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int(st, 1, TASK_RUNNING);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *id = (const char *)sqlite3_column_text(st, 1);
            if (id)
                fn(arg, (uint64_t)sqlite3_column_int64(st, 0), id, sqlite3_column_int(st, 2),
                   (uint64_t)sqlite3_column_int64(st, 3), (uint64_t)sqlite3_column_int64(st, 4),
                   sqlite3_column_int(st, 5) != 0);
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : DTR_EIO;
}

int journal_prune(struct journal *j, int64_t cutoff_ms, uint64_t *count)
{
    *count = 0;
    /* What ended is known to the rows only once folded. */
    if (j->nchanges && fold_changes(j) < 0)
        return DTR_EIO;
    if (write_begin(j) < 0)
        return DTR_EIO;
    for (int i = ST_PRUNE_OUTPUTS; i <= ST_PRUNE_TASKS; i++) {
        sqlite3_bind_int64(j->st[i], 1, cutoff_ms);
        sqlite3_bind_int(j->st[i], 2, TASK_SUCCEEDED);
        sqlite3_bind_int(j->st[i], 3, TASK_CANCELLED);
        if (step_done(j->st[i]) < 0)
            return write_failed(j, "prune finished tasks");
    }
    /* Counts the rows of the last statement, the tasks delete. */
    *count = (uint64_t)sqlite3_changes64(j->db);
    return 0;
}

int journal_commit(struct journal *j, char *err, size_t errlen)
{
    int ret = 0;

    if (j->tx_failed) {
        err_set(err, errlen, "%s", j->tx_err);
        ret = DTR_EIO;
        goto rollback;
    }
    if (sqlite3_get_autocommit(j->db))
        return 0; /* nothing pending */
    /* In the same transaction: a fold that fails loses the commit, whose
     * changes are still in the table for the next fold. */
    if (j->nchanges >= JOURNAL_FOLD_AT && fold_changes(j) < 0) {
        err_set(err, errlen, "%s", j->tx_err);
        ret = DTR_EIO;
        goto rollback;
    }
    if (j->fault_commit > 0 && ++j->commits == j->fault_commit) {
        err_set(err, errlen, "cannot commit to '%s': injected fault", j->path);
        ret = DTR_EIO;
        goto rollback;
    }
    if (step_done(j->st[ST_COMMIT]) < 0) {
        write_error(j, err, errlen, "commit", "to");
        ret = DTR_EIO;
        goto rollback;
    }
    if (j->wal_ahead && !j->wal_ahead_done)
        wal_write_ahead(j);
    return 0;

rollback:
    /* SQLite may already have rolled back (after an I/O error, say). */
    if (!sqlite3_get_autocommit(j->db))
        step_done(j->st[ST_ROLLBACK]);
    /* A fold may have been undone with it: fold at the next chance. */
    j->nchanges = JOURNAL_FOLD_AT;
    j->tx_failed = false;
    j->tx_err[0] = '\0';
    return ret;
}

/* A heap copy of a text column, or NULL when the column is NULL. */
static char *column_strdup(sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);

    if (!s)
        return NULL;
    return xstrndup(s, (size_t)sqlite3_column_bytes(st, col));
}

/* A NUL-terminated heap copy of a blob column; NULL when the column is NULL. */
static char *column_blobdup(sqlite3_stmt *st, int col, size_t *len)
{
    const void *p;
    size_t n;
    char *copy;

    *len = 0;
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return NULL;
    p = sqlite3_column_blob(st, col);
    n = (size_t)sqlite3_column_bytes(st, col);
    copy = xmalloc(n + 1);
    if (n)
        memcpy(copy, p, n);
    copy[n] = '\0';
    *len = n;
    return copy;
}

/* Reads column i of the tasks table, as st returned it, into r (strings
 * point into st until its next step). */
static void load_column(sqlite3_stmt *st, struct journal_row *r, size_t i)
{
    const struct column *c = &task_columns[i];
    char *field = (char *)r + c->offset;

    switch (c->type) {
    case COL_TEXT:
        *(const char **)field = (const char *)sqlite3_column_text(st, (int)i);
        break;
    case COL_INT:
        *(int *)field = sqlite3_column_int(st, (int)i);
        break;
    case COL_INT64:
        *(int64_t *)field = sqlite3_column_int64(st, (int)i);
        break;
    }
}

int journal_load(struct journal *j, journal_load_fn fn, void *data)
{
    sqlite3_stmt *st = j->st[ST_LOAD];
    struct journal_row r;
    struct task *t;
    int ret = 0;
    int rc;

    /* The rows hold every change once folded (visible to this handle at
     * once; durable with the next commit). */
    if (j->nchanges && fold_changes(j) < 0)
        return DTR_EIO;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (size_t i = 0; i < TASK_NCOLUMNS; i++)
            load_column(st, &r, i);
        /* A row we cannot represent means the file was damaged or tampered with. */
        t = journal_row_new_task(&r);
        if (!t) {
            ret = DTR_EIO;
            goto out;
        }
        ret = fn(t, data);
        if (ret)
            goto out;
    }
    if (rc != SQLITE_DONE)
        ret = DTR_EIO;
out:
    sqlite3_reset(st);
    return ret;
}

int journal_get_output(struct journal *j, const char *task_id, struct task_output *o)
{
    sqlite3_stmt *st = j->st[ST_GET_OUTPUT];
    int ret = 0;
    int rc;

    memset(o, 0, sizeof(*o));
    sqlite3_bind_text(st, 1, task_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        o->out = column_blobdup(st, 0, &o->out_len);
        o->out_truncated = sqlite3_column_int(st, 1) != 0;
        o->err = column_blobdup(st, 2, &o->err_len);
        o->err_truncated = sqlite3_column_int(st, 3) != 0;
        o->result = column_strdup(st, 4);
    } else if (rc != SQLITE_DONE) {
        ret = DTR_EIO;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return ret;

    /* No output: fine for a known task that has not run yet. */
    st = j->st[ST_TASK_EXISTS];
    sqlite3_bind_text(st, 1, task_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        ret = DTR_ENOENT;
    else if (rc != SQLITE_ROW)
        ret = DTR_EIO;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

int journal_get_attempts(struct journal *j, const char *task_id, struct journal_attempt **out,
                         size_t *n)
{
    sqlite3_stmt *st = j->st[ST_GET_ATTEMPTS];
    size_t cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    sqlite3_bind_text(st, 1, task_id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 4;
            *out = xrealloc(*out, cap * sizeof(**out));
        }
        struct journal_attempt *a = &(*out)[(*n)++];
        a->lease = (uint64_t)sqlite3_column_int64(st, 0);
        a->id = column_strdup(st, 1);
        a->attempt = sqlite3_column_int(st, 2);
        a->worker = column_strdup(st, 3);
        a->exit_code = sqlite3_column_int(st, 4);
        a->term_signal = sqlite3_column_int(st, 5);
        a->error = column_strdup(st, 6);
        a->started_at = sqlite3_column_int64(st, 7);
        a->finished_at = sqlite3_column_int64(st, 8);
        a->out_bytes = (uint64_t)sqlite3_column_int64(st, 9);
        a->out_truncated = sqlite3_column_int(st, 10) != 0;
        a->err_bytes = (uint64_t)sqlite3_column_int64(st, 11);
        a->err_truncated = sqlite3_column_int(st, 12) != 0;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        journal_attempts_free(*out, *n);
        *out = NULL;
        *n = 0;
        return DTR_EIO;
    }
    return 0;
}

void journal_attempts_free(struct journal_attempt *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)a[i].id);
        free((char *)a[i].worker);
        free((char *)a[i].error);
    }
    free(a);
}

int journal_count_tasks(struct journal *j, uint64_t *n)
{
    int64_t v = 0;
    if (query_int(j, "SELECT count(*) FROM tasks", &v) != SQLITE_OK)
        return DTR_EIO;
    *n = (uint64_t)v;
    return 0;
}

int journal_get_counter(struct journal *j, const char *name, uint64_t *value)
{
    sqlite3_stmt *st = j->st[ST_GET_COUNTER];
    int ret = 0;
    int rc;

    /* A counter never set reads as 0, so a fresh journal needs no seeding. */
    *value = 0;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *value = (uint64_t)sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE)
        ret = DTR_EIO;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

int journal_save_alloc(struct journal *j, const char *id, const char *record)
{
    sqlite3_stmt *st = j->st[record ? ST_SAVE_ALLOC : ST_DELETE_ALLOC];

    if (write_begin(j) < 0)
        return DTR_EIO;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (record)
        sqlite3_bind_text(st, 2, record, -1, SQLITE_STATIC);
    if (step_done(st) < 0)
        return write_failed(j, "save an allocation queue");
    return 0;
}

int journal_load_allocs(struct journal *j, journal_alloc_fn fn, void *data)
{
    sqlite3_stmt *st = j->st[ST_LOAD_ALLOCS];
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        const char *rec = (const char *)sqlite3_column_text(st, 1);
        if (id && rec && (ret = fn(id, rec, data)))
            break;
    }
    if (!ret && rc != SQLITE_DONE && rc != SQLITE_ROW)
        ret = DTR_EIO;
    sqlite3_reset(st);
    return ret;
}

/* ---- whole images (a master group's snapshots) ---------------------------- */

int journal_image(struct journal *j, void **data, size_t *len, char *err, size_t errlen)
{
    sqlite3_int64 size = 0;
    unsigned char *image = sqlite3_serialize(j->db, "main", &size, 0);
    if (!image) {
        err_set(err, errlen, "cannot copy the journal '%s': %s", j->path, sqlite3_errmsg(j->db));
        return DTR_EIO;
    }
    *data = xmalloc((size_t)size);
    memcpy(*data, image, (size_t)size);
    *len = (size_t)size;
    sqlite3_free(image);
    return 0;
}

int journal_restore_image(struct journal *j, const void *data, size_t len, char *err, size_t errlen)
{
    sqlite3 *mem = NULL;
    unsigned char *copy = len ? sqlite3_malloc64(len) : NULL;
    int64_t app_id = 0, version = 0;
    int ret = DTR_EIO;

    if (!copy || sqlite3_open(":memory:", &mem) != SQLITE_OK) {
        sqlite3_free(copy);
        err_set(err, errlen, "cannot restore the journal '%s': out of memory", j->path);
        goto out;
    }
    memcpy(copy, data, len);
    /* An image of a WAL database says so in its header (bytes 18 and 19);
     * read in memory it must say "rollback journal" (1), or SQLite would
     * look for a WAL beside it. */
    if (len >= 100 && copy[18] == 2 && copy[19] == 2)
        copy[18] = copy[19] = 1;
    if (sqlite3_deserialize(mem, "main", copy, (sqlite3_int64)len, (sqlite3_int64)len,
                            SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_READONLY) !=
        SQLITE_OK) {
        err_set(err, errlen, "cannot restore the journal '%s': the image is not a database",
                j->path);
        goto out;
    }
    struct journal probe = {.db = mem};
    if (query_int(&probe, "PRAGMA application_id", &app_id) != SQLITE_OK ||
        query_int(&probe, "PRAGMA user_version", &version) != SQLITE_OK ||
        app_id != JOURNAL_APPLICATION_ID || version != JOURNAL_SCHEMA_VERSION) {
        err_set(err, errlen,
                "cannot restore the journal '%s': the image is not a dtr journal of schema %d "
                "(every member of a group must run the same dtr version)",
                j->path, JOURNAL_SCHEMA_VERSION);
        goto out;
    }
    sqlite3_backup *bk = sqlite3_backup_init(j->db, "main", mem, "main");
    if (!bk || sqlite3_backup_step(bk, -1) != SQLITE_DONE) {
        sqlite3_backup_finish(bk);
        err_set(err, errlen, "cannot restore the journal '%s': %s", j->path, sqlite3_errmsg(j->db));
        goto out;
    }
    if (sqlite3_backup_finish(bk) != SQLITE_OK) {
        err_set(err, errlen, "cannot restore the journal '%s': %s", j->path, sqlite3_errmsg(j->db));
        goto out;
    }
    /* The image's pending state changes are folded at the next commit. */
    j->nchanges = JOURNAL_FOLD_AT;
    ret = 0;
out:
    sqlite3_close(mem);
    return ret;
}

int journal_reset(struct journal *j, char *err, size_t errlen)
{
    struct journal *empty = journal_open(NULL, err, errlen);
    void *data = NULL;
    size_t len = 0;
    int rc = empty ? journal_image(empty, &data, &len, err, errlen) : DTR_EIO;
    if (rc == 0)
        rc = journal_restore_image(j, data, len, err, errlen);
    free(data);
    journal_close(empty);
    return rc;
}

int journal_replicated(struct journal *j, char *err, size_t errlen)
{
    if (sqlite3_exec(j->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
        err_set(err, errlen, "cannot configure '%s': %s", j->path, sqlite3_errmsg(j->db));
        return DTR_EIO;
    }
    return 0;
}
