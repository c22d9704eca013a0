/* SPDX-License-Identifier: MIT */
/*
 * Journal tests: round trips through a real file in a fresh temp dir per test,
 * group commit and rollback (with the DTR_FAULT_JOURNAL_COMMIT seam), the
 * refusals at open (second master, garbage file, read-only dir, newer
 * schema), counters, pruning, and a rough throughput figure.
 */
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/err.h"
#include "journal/journal.h"

static struct task *mk_task(const char *id, uint64_t seq)
{
    struct task *t = task_new(id, "{\"cmd\":[\"true\"]}", 2, 3, seq, 1700000000000 + (int64_t)seq);
    assert_non_null(t);
    return t;
}

static void free_task(struct task *t)
{
    task_free(t);
}

static void set_str(char **field, const char *s)
{
    free(*field);
    *field = s ? strdup(s) : NULL;
}

/* ---- fixtures: one temp dir per test, removed afterwards ---- */

struct fixture {
    /* Short enough that DIR/state/journal.db fits the tests' PATH_MAX buffers. */
    char dir[1024];   /* the temp dir */
    char state[1040]; /* DIR/state, the journal's dir (created by the journal) */
};

static int setup_dir(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");

    if (!f)
        return -1;
    if (snprintf(f->dir, sizeof(f->dir), "%s/dtr-journal-XXXXXX", tmp && *tmp ? tmp : "/tmp") >=
            (int)sizeof(f->dir) ||
        !mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
    *state = f;
    return 0;
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path) < 0 ? -1 : 0;
}

/* Undoes the read-only tests' chmod so that rm_one can delete. */
static int chmod_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (type == FTW_D || type == FTW_DNR)
        chmod(path, 0700);
    return 0;
}

static int teardown_dir(void **state)
{
    struct fixture *f = *state;
    int rc;

    nftw(f->dir, chmod_one, 16, FTW_PHYS);
    rc = nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return rc;
}

static struct journal *open_ok(const char *dir)
{
    char err[512] = "";
    struct journal *j = journal_open(dir, err, sizeof(err));

    if (!j)
        fail_msg("journal_open(%s): %s", dir ? dir : "NULL", err);
    return j;
}

static void commit_ok(struct journal *j)
{
    char err[512] = "";

    if (journal_commit(j, err, sizeof(err)) != 0)
        fail_msg("journal_commit: %s", err);
}

/* ---- loading into an array ---- */

struct collected {
    struct task *t[64];
    size_t n;
    size_t stop_after; /* 0 = never stop */
};

static int collect(struct task *t, void *data)
{
    struct collected *c = data;

    assert_true(c->n < 64);
    c->t[c->n++] = t;
    if (c->stop_after && c->n == c->stop_after)
        return 42;
    return 0;
}

static void collected_release(struct collected *c)
{
    for (size_t i = 0; i < c->n; i++)
        free_task(c->t[i]);
    c->n = 0;
}

static struct task *find(struct collected *c, const char *id)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->t[i]->id, id) == 0)
            return c->t[i];
    return NULL;
}

static void assert_str_or_null(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void assert_task_equal(const struct task *a, const struct task *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->spec, b->spec);
    assert_int_equal(a->priority, b->priority);
    assert_int_equal(a->seq, b->seq);
    assert_int_equal(a->max_retries, b->max_retries);
    assert_int_equal(a->state, b->state);
    assert_int_equal(a->attempts, b->attempts);
    assert_int_equal(a->crashes, b->crashes);
    assert_true(a->lease == b->lease);
    assert_str_or_null(a->worker, b->worker);
    assert_int_equal(a->exit_code, b->exit_code);
    assert_str_or_null(a->error, b->error);
    assert_int_equal(a->submitted_at, b->submitted_at);
    assert_int_equal(a->started_at, b->started_at);
    assert_int_equal(a->finished_at, b->finished_at);
    assert_int_equal(a->not_before, b->not_before);
}

/* ---- tests ---- */

static void test_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct task *t[5];
    struct collected c = {0};
    struct task_output o = {0}, got;
    static const char bin[] = "line 1\n\0binary\xff tail";
    struct journal *j = open_ok(f->state);

    /* Saved out of seq order: the load must sort them. */
    t[0] = mk_task("t-queued", 5);
    t[0]->priority = -7;
    t[0]->not_before = 1700000009999;
    t[0]->attempts = 1;
    set_str(&t[0]->error, "exit status 1");

    t[1] = mk_task("t-running", 1);
    t[1]->state = TASK_RUNNING;
    t[1]->attempts = 2;
    t[1]->crashes = 1;
    t[1]->lease = UINT64_MAX; /* above INT64_MAX: stored as its bit pattern */
    set_str(&t[1]->worker, "w1");
    t[1]->started_at = 1700000001000;

    t[2] = mk_task("t-succeeded", 3);
    t[2]->state = TASK_SUCCEEDED;
    t[2]->attempts = 1;
    t[2]->lease = 17;
    set_str(&t[2]->worker, "w2");
    t[2]->exit_code = 0;
    t[2]->started_at = 1700000001000;
    t[2]->finished_at = 1700000002000;
    t[2]->spec = "{\"cmd\":[\"sh\",\"-c\",\"echo 'h\\u00e9llo'\"],\"env\":{}}";

    t[3] = mk_task("t-failed", 2);
    t[3]->state = TASK_FAILED;
    t[3]->attempts = 4;
    t[3]->max_retries = 3;
    t[3]->exit_code = 3;
    set_str(&t[3]->error, "exit status 3 (retries exhausted)");
    t[3]->finished_at = 1700000003000;

    t[4] = mk_task("t-cancelled", 4);
    t[4]->state = TASK_CANCELLED;
    t[4]->priority = INT64_MAX;
    t[4]->finished_at = 1700000004000;

    for (int i = 0; i < 5; i++)
        assert_int_equal(journal_save_task(j, t[i]), 0);

    o.out = (char *)bin;
    o.out_len = sizeof(bin) - 1;
    o.out_truncated = true;
    o.err = (char *)"";
    o.err_len = 0;
    o.result = (char *)"{\"ok\":true}";
    assert_int_equal(journal_save_output(j, "t-succeeded", &o), 0);
    o = (struct task_output){.err = (char *)"oops\n", .err_len = 5, .err_truncated = true};
    assert_int_equal(journal_save_output(j, "t-failed", &o), 0);
    commit_ok(j);
    journal_close(j);

    j = open_ok(f->state);
    assert_int_equal(journal_load(j, collect, &c), 0);
    assert_int_equal(c.n, 5);
    for (size_t i = 0; i < c.n; i++) {
        assert_int_equal(c.t[i]->seq, i + 1);
        assert_true(list_empty(&c.t[i]->worker_node));
    }
    for (int i = 0; i < 5; i++)
        assert_task_equal(find(&c, t[i]->id), t[i]);

    assert_int_equal(journal_get_output(j, "t-succeeded", &got), 0);
    assert_int_equal(got.out_len, sizeof(bin) - 1);
    assert_memory_equal(got.out, bin, sizeof(bin) - 1);
    assert_int_equal(got.out[got.out_len], '\0');
    assert_true(got.out_truncated);
    assert_non_null(got.err); /* "" stays "", not NULL */
    assert_int_equal(got.err_len, 0);
    assert_false(got.err_truncated);
    assert_string_equal(got.result, "{\"ok\":true}");
    task_output_release(&got);
    assert_null(got.out);
    assert_int_equal(got.out_len, 0);

    assert_int_equal(journal_get_output(j, "t-failed", &got), 0);
    assert_null(got.out);
    assert_string_equal(got.err, "oops\n");
    assert_int_equal(got.err_len, 5);
    assert_true(got.err_truncated);
    assert_null(got.result);
    task_output_release(&got);

    /* A known task without output: all empty. An unknown one: ENOENT. */
    assert_int_equal(journal_get_output(j, "t-queued", &got), 0);
    assert_null(got.out);
    assert_null(got.err);
    assert_null(got.result);
    assert_int_equal(journal_get_output(j, "nope", &got), DTR_ENOENT);
    task_output_release(&got);

    /* Replacing a task updates it in place. */
    set_str(&t[0]->error, NULL);
    t[0]->state = TASK_RUNNING;
    assert_int_equal(journal_save_task(j, t[0]), 0);
    commit_ok(j);
    collected_release(&c);
    assert_int_equal(journal_load(j, collect, &c), 0);
    assert_int_equal(c.n, 5);
    assert_task_equal(find(&c, "t-queued"), t[0]);

    /* A state change saves what a state change alters (appended to the
     * changes, folded into the row by the load). */
    t[1]->state = TASK_SUCCEEDED;
    t[1]->lease = 0;
    t[1]->exit_code = 0;
    t[1]->finished_at = 1700000005000;
    t[1]->not_before = 1700000006000;
    set_str(&t[1]->worker, "w3");
    set_str(&t[1]->error, "last words");
    t[1]->attempts = 3;
    t[1]->crashes = 2;
    assert_int_equal(journal_update_task(j, t[1]), 0);
    /* ... also for a task not finished (a retry waiting out its backoff). */
    t[0]->state = TASK_QUEUED;
    t[0]->attempts = 2;
    t[0]->lease = 0;
    t[0]->not_before = 1700000007000;
    set_str(&t[0]->worker, "w9");
    set_str(&t[0]->error, "exit status 2");
    assert_int_equal(journal_update_task(j, t[0]), 0);
    /* ... and a change of a task never stored is dropped by the fold. */
    struct task *fresh = mk_task("t-fresh", 6);
    fresh->state = TASK_RUNNING;
    fresh->lease = 99;
    assert_int_equal(journal_update_task(j, fresh), 0);
    commit_ok(j);
    collected_release(&c);
    assert_int_equal(journal_load(j, collect, &c), 0);
    assert_int_equal(c.n, 5);
    assert_task_equal(find(&c, "t-running"), t[1]);
    assert_task_equal(find(&c, "t-queued"), t[0]);
    assert_null(find(&c, "t-fresh"));
    free_task(fresh);
    /* Folded changes survive a reopen; so do changes a crash left unfolded
     * (the open folds them), which a second change then overrides. */
    commit_ok(j);
    journal_close(j);
    j = open_ok(f->state);
    t[2]->state = TASK_CANCELLED;
    t[2]->finished_at = 1700000008000;
    assert_int_equal(journal_update_task(j, t[2]), 0);
    set_str(&t[2]->error, "cancelled");
    assert_int_equal(journal_update_task(j, t[2]), 0);
    commit_ok(j);
    journal_close(j); /* no load, no prune: the changes stay unfolded on disk */
    j = open_ok(f->state);
    collected_release(&c);
    assert_int_equal(journal_load(j, collect, &c), 0);
    assert_int_equal(c.n, 5);
    assert_task_equal(find(&c, "t-running"), t[1]);
    assert_task_equal(find(&c, "t-queued"), t[0]);
    assert_task_equal(find(&c, t[2]->id), t[2]);

    collected_release(&c);
    for (int i = 0; i < 5; i++)
        free_task(t[i]);
    journal_close(j);
}

static void test_uncommitted_visible_and_close_commits(void **state)
{
    struct fixture *f = *state;
    struct journal *j = open_ok(f->state);
    struct task *t = mk_task("a", 1);
    struct task_output o = {.out = (char *)"hi", .out_len = 2}, got;
    struct collected c = {0};

    /* Nothing pending: a cheap no-op. */
    assert_int_equal(journal_commit(j, NULL, 0), 0);

    assert_int_equal(journal_save_task(j, t), 0);
    assert_int_equal(journal_save_output(j, "a", &o), 0);
    assert_int_equal(journal_get_output(j, "a", &got), 0);
    assert_string_equal(got.out, "hi");
    task_output_release(&got);
    assert_int_equal(journal_load(j, collect, &c), 0);
    assert_int_equal(c.n, 1);
    collected_release(&c);

    journal_close(j); /* commits what is pending */
    j = open_ok(f->state);
    assert_int_equal(journal_load(j, collect, &c), 0);
    assert_int_equal(c.n, 1);
    assert_task_equal(c.t[0], t);
    assert_int_equal(journal_get_output(j, "a", &got), 0);
    assert_string_equal(got.out, "hi");
    task_output_release(&got);
    collected_release(&c);
    free_task(t);
    journal_close(j);
}

static void test_fault_rollback(void **state)
{
    struct fixture *f = *state;
    struct task *a = mk_task("a", 1), *b = mk_task("b", 2), *d = mk_task("d", 3);
    struct collected c = {0};
    struct task_output got;
    char err[512] = "";
    struct journal *j;

    setenv("DTR_FAULT_JOURNAL_COMMIT", "2", 1);
    j = open_ok(f->state);
    unsetenv("DTR_FAULT_JOURNAL_COMMIT");

    assert_int_equal(journal_commit(j, err, sizeof(err)), 0); /* empty: not counted */
    assert_int_equal(journal_save_task(j, a), 0);
    assert_int_equal(journal_set_counter(j, "next_seq", 2), 0);
    commit_ok(j); /* 1st */

    assert_int_equal(journal_save_task(j, b), 0);
    assert_int_equal(journal_set_counter(j, "next_seq", 3), 0);
    assert_int_equal(journal_commit(j, err, sizeof(err)), DTR_EIO); /* 2nd: injected */
    assert_non_null(strstr(err, "injected fault"));
    assert_non_null(strstr(err, "journal.db"));

    /* The rollback is visible at once, and the handle keeps working. */
    assert_int_equal(journal_get_output(j, "b", &got), DTR_ENOENT);
    assert_int_equal(journal_save_task(j, d), 0);
    commit_ok(j); /* 3rd */
    journal_close(j);

    j = open_ok(f->state);
    assert_int_equal(journal_load(j, collect, &c), 0);
    assert_int_equal(c.n, 2);
    assert_task_equal(c.t[0], a);
    assert_task_equal(c.t[1], d);
    uint64_t v = 0;
    assert_int_equal(journal_get_counter(j, "next_seq", &v), 0);
    assert_int_equal(v, 2);
    collected_release(&c);
    journal_close(j);
    free_task(a);
    free_task(b);
    free_task(d);
}

/* A failed write poisons the whole group: the commit reports it and rolls
 * back the writes before it too. */
static void test_failed_write_rolls_back_group(void **state)
{
    struct fixture *f = *state;
    struct task *a = mk_task("a", 1), *bad = mk_task("bad", 2), *b = mk_task("b", 3);
    struct collected c = {0};
    char err[512] = "";
    struct journal *j = open_ok(f->state);

    bad->spec = NULL; /* violates NOT NULL */
    assert_int_equal(journal_save_task(j, a), 0);
    assert_int_equal(journal_save_task(j, bad), DTR_EIO);
    assert_int_equal(journal_save_task(j, b), DTR_EIO); /* the group is lost already */
    assert_int_equal(journal_commit(j, err, sizeof(err)), DTR_EIO);
    assert_non_null(strstr(err, "journal.db"));
    assert_non_null(strstr(err, "NOT NULL"));
    assert_int_equal(journal_load(j, collect, &c), 0);
    assert_int_equal(c.n, 0);

    /* The next group starts clean. */
    assert_int_equal(journal_save_task(j, b), 0);
    commit_ok(j);
    assert_int_equal(journal_load(j, collect, &c), 0);
    assert_int_equal(c.n, 1);
    collected_release(&c);
    journal_close(j);
    free_task(a);
    free_task(bad);
    free_task(b);
}

static void test_second_open_in_use(void **state)
{
    struct fixture *f = *state;
    char err[512] = "";
    struct journal *j = open_ok(f->state);

    assert_null(journal_open(f->state, err, sizeof(err)));
    assert_non_null(strstr(err, "in use"));
    assert_non_null(strstr(err, "master.lock"));
    assert_non_null(strstr(err, f->state));
    journal_close(j);

    /* Closing releases the lock. */
    j = open_ok(f->state);
    journal_close(j);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static void test_garbage_db(void **state)
{
    struct fixture *f = *state;
    char path[PATH_MAX + 16], err[512] = "";
    char junk[8192];

    assert_int_equal(mkdir(f->state, 0755), 0);
    snprintf(path, sizeof(path), "%s/journal.db", f->state);
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (char)(i * 131 + 7);
    write_file(path, junk, sizeof(junk));
    assert_null(journal_open(f->state, err, sizeof(err)));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "not a dtr journal"));

    /* A short text file too. */
    write_file(path, "hello\n", 6);
    err[0] = '\0';
    assert_null(journal_open(f->state, err, sizeof(err)));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "not a dtr journal"));

    /* The lock was released on the way out. */
    unlink(path);
    journal_close(open_ok(f->state));
}

static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_foreign_or_newer_db(void **state)
{
    struct fixture *f = *state;
    char path[PATH_MAX + 16], err[512] = "";

    assert_int_equal(mkdir(f->state, 0755), 0);
    snprintf(path, sizeof(path), "%s/journal.db", f->state);

    /* Someone else's database: refused, and left untouched. */
    sql_exec(path, "CREATE TABLE photos (x); PRAGMA user_version=1");
    assert_null(journal_open(f->state, err, sizeof(err)));
    assert_non_null(strstr(err, "not a dtr journal"));
    assert_non_null(strstr(err, path));
    unlink(path);

    /* A journal from a newer dtr. */
    journal_close(open_ok(f->state));
    sql_exec(path, "PRAGMA user_version=99");
    err[0] = '\0';
    assert_null(journal_open(f->state, err, sizeof(err)));
    assert_non_null(strstr(err, "newer"));
    assert_non_null(strstr(err, "99"));
    assert_non_null(strstr(err, path));
}

/* True when this process can create files in a 0555 dir (root can). */
static bool can_write_anyway(const char *dir)
{
    char probe[PATH_MAX + 16];
    int fd;

    snprintf(probe, sizeof(probe), "%s/probe", dir);
    fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        return false;
    close(fd);
    unlink(probe);
    return true;
}

static void test_readonly_dir(void **state)
{
    struct fixture *f = *state;
    char err[512] = "", path[PATH_MAX + 16];

    /* A fresh read-only dir. */
    assert_int_equal(mkdir(f->state, 0755), 0);
    assert_int_equal(chmod(f->state, 0555), 0);
    if (can_write_anyway(f->state))
        skip(); /* root: permissions do not apply */
    assert_null(journal_open(f->state, err, sizeof(err)));
    assert_non_null(strstr(err, f->state));

    /* A journal that exists but whose dir turned read-only. */
    assert_int_equal(chmod(f->state, 0755), 0);
    journal_close(open_ok(f->state));
    assert_int_equal(chmod(f->state, 0555), 0);
    err[0] = '\0';
    assert_null(journal_open(f->state, err, sizeof(err)));
    assert_non_null(strstr(err, f->state));

    /* A writable dir with a read-only journal file. */
    assert_int_equal(chmod(f->state, 0755), 0);
    snprintf(path, sizeof(path), "%s/journal.db", f->state);
    assert_int_equal(chmod(path, 0444), 0);
    err[0] = '\0';
    assert_null(journal_open(f->state, err, sizeof(err)));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "not writable"));
}

static void test_creates_nested_dir(void **state)
{
    struct fixture *f = *state;
    char nested[PATH_MAX + 32], err[512] = "";
    struct stat sb;

    snprintf(nested, sizeof(nested), "%s/a/b/c/", f->dir);
    journal_close(open_ok(nested));
    snprintf(nested, sizeof(nested), "%s/a/b/c/journal.db", f->dir);
    assert_int_equal(stat(nested, &sb), 0);

    /* A regular file where the dir should be. */
    snprintf(nested, sizeof(nested), "%s/file", f->dir);
    write_file(nested, "x", 1);
    assert_null(journal_open(nested, err, sizeof(err)));
    assert_non_null(strstr(err, nested));
}

static void test_counters(void **state)
{
    struct fixture *f = *state;
    struct journal *j = open_ok(f->state);
    uint64_t v = 1;

    assert_int_equal(journal_get_counter(j, "next_lease", &v), 0);
    assert_int_equal(v, 0); /* never set */
    assert_int_equal(journal_set_counter(j, "next_lease", 41), 0);
    assert_int_equal(journal_set_counter(j, "next_lease", 42), 0);
    assert_int_equal(journal_set_counter(j, "big", UINT64_MAX), 0);
    assert_int_equal(journal_get_counter(j, "next_lease", &v), 0);
    assert_int_equal(v, 42);
    commit_ok(j);
    journal_close(j);

    j = open_ok(f->state);
    assert_int_equal(journal_get_counter(j, "next_lease", &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(journal_get_counter(j, "big", &v), 0);
    assert_true(v == UINT64_MAX);
    journal_close(j);
}

static void test_prune(void **state)
{
    struct fixture *f = *state;
    struct journal *j = open_ok(f->state);
    struct {
        const char *id;
        enum task_state st;
        int64_t finished_at;
        bool pruned;
    } rows[] = {
        {"old-ok", TASK_SUCCEEDED, 100, true},
        {"old-failed", TASK_FAILED, 200, true},
        {"old-cancelled", TASK_CANCELLED, 999, true},
        {"edge", TASK_SUCCEEDED, 1000, false}, /* not before the cutoff */
        {"new-ok", TASK_SUCCEEDED, 5000, false},
        {"queued", TASK_QUEUED, 0, false},
        {"running-again", TASK_RUNNING, 100, false}, /* finished_at of an earlier attempt */
        {"cancelled-unstamped", TASK_CANCELLED, 0, false},
    };
    struct task_output o = {.out = (char *)"out", .out_len = 3}, got;
    struct collected c = {0};
    uint64_t n = 99;

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct task *t = mk_task(rows[i].id, i + 1);
        t->state = rows[i].st;
        t->finished_at = rows[i].finished_at;
        assert_int_equal(journal_save_task(j, t), 0);
        assert_int_equal(journal_save_output(j, t->id, &o), 0);
        free_task(t);
    }
    commit_ok(j);

    assert_int_equal(journal_prune(j, 1000, &n), 0);
    assert_int_equal(n, 3);
    commit_ok(j);
    assert_int_equal(journal_load(j, collect, &c), 0);
    assert_int_equal(c.n, 5);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        assert_true((find(&c, rows[i].id) == NULL) == rows[i].pruned);
        assert_int_equal(journal_get_output(j, rows[i].id, &got), rows[i].pruned ? DTR_ENOENT : 0);
        task_output_release(&got);
    }
    collected_release(&c);

    /* The outputs went too: a task re-saved under a pruned id has none. */
    struct task *t = mk_task("old-ok", 100);
    assert_int_equal(journal_save_task(j, t), 0);
    assert_int_equal(journal_get_output(j, "old-ok", &got), 0);
    assert_null(got.out);
    free_task(t);

    assert_int_equal(journal_prune(j, 1000, &n), 0);
    assert_int_equal(n, 0);
    journal_close(j);
}

static int64_t sql_count(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t n = -1;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* State changes are appended and folded into the rows: by a prune (which
 * reads finished_at), and by the commit that finds 50,000 of them. */
static void test_fold(void **state)
{
    struct fixture *f = *state;
    struct journal *j = open_ok(f->state);
    struct task *t[10];
    struct collected c = {0};
    char path[PATH_MAX + 16];
    uint64_t n = 0;

    snprintf(path, sizeof(path), "%s/journal.db", f->state);
    for (int i = 0; i < 10; i++) {
        char id[16];
        snprintf(id, sizeof(id), "f%d", i);
        t[i] = mk_task(id, (uint64_t)i + 1);
        assert_int_equal(journal_save_task(j, t[i]), 0);
    }
    commit_ok(j);
    /* Ended only in a change: the prune still finds it. */
    t[0]->state = TASK_SUCCEEDED;
    t[0]->finished_at = 100;
    assert_int_equal(journal_update_task(j, t[0]), 0);
    commit_ok(j);
    assert_int_equal(journal_prune(j, 1000, &n), 0);
    assert_int_equal(n, 1);
    commit_ok(j);
    /* 50,000 changes in one commit: folded by it, the last of each wins. */
    for (int k = 0; k < 5556; k++) {
        for (int i = 1; i < 10; i++) {
            t[i]->attempts = k + i;
            assert_int_equal(journal_update_task(j, t[i]), 0);
        }
    }
    for (int i = 1; i < 10; i++) {
        t[i]->state = TASK_RUNNING;
        t[i]->lease = 1000 + (uint64_t)i;
        assert_int_equal(journal_update_task(j, t[i]), 0);
    }
    commit_ok(j);
    journal_close(j);
    assert_int_equal(sql_count(path, "SELECT count(*) FROM changes"), 0);
    j = open_ok(f->state);
    assert_int_equal(journal_load(j, collect, &c), 0);
    assert_int_equal(c.n, 9);
    for (int i = 1; i < 10; i++)
        assert_task_equal(find(&c, t[i]->id), t[i]);
    collected_release(&c);
    journal_close(j);
    for (int i = 0; i < 10; i++)
        free_task(t[i]);
}

static void add_lease(void *arg, uint64_t lease)
{
    uint64_t *sum = arg;
    *sum += lease;
}

/* Attempt records (schema 2): saved, read back in attempt order, listed
 * for pruning and pruned with their task; and a schema 1 journal gains the
 * table on open. */
static void test_attempts(void **state)
{
    struct fixture *f = *state;
    struct journal *j = open_ok(f->state);
    struct task *t = mk_task("a", 1), *u = mk_task("b", 2);
    t->state = TASK_SUCCEEDED;
    t->finished_at = 100;
    u->state = TASK_SUCCEEDED;
    u->finished_at = 5000;
    assert_int_equal(journal_save_task(j, t), 0);
    assert_int_equal(journal_save_task(j, u), 0);
    struct journal_attempt in[] = {
        {.lease = 7,
         .id = "a",
         .attempt = 2,
         .worker = "w1",
         .exit_code = 0,
         .started_at = 3,
         .finished_at = 4,
         .out_bytes = 209715200,
         .err_bytes = 0},
        {.lease = 5,
         .id = "a",
         .attempt = 1,
         .worker = "w2",
         .exit_code = -1,
         .term_signal = 9,
         .error = "killed by signal 9",
         .out_bytes = 12,
         .out_truncated = true,
         .err_bytes = 3},
        {.lease = 6, .id = "b", .attempt = 1, .exit_code = 1, .error = "exited with status 1"},
    };
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(journal_save_attempt(j, &in[i]), 0);
    commit_ok(j);

    struct journal_attempt *got;
    size_t n;
    assert_int_equal(journal_get_attempts(j, "a", &got, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(got[0].lease, 5);
    assert_int_equal(got[0].attempt, 1);
    assert_string_equal(got[0].worker, "w2");
    assert_int_equal(got[0].exit_code, -1);
    assert_int_equal(got[0].term_signal, 9);
    assert_string_equal(got[0].error, "killed by signal 9");
    assert_true(got[0].out_truncated);
    assert_false(got[0].err_truncated);
    assert_int_equal(got[0].err_bytes, 3);
    assert_int_equal(got[1].lease, 7);
    assert_int_equal(got[1].out_bytes, 209715200);
    assert_null(got[1].error);
    journal_attempts_free(got, n);
    assert_int_equal(journal_get_attempts(j, "none", &got, &n), 0);
    assert_int_equal(n, 0);

    uint64_t sum = 0, pruned = 0;
    assert_int_equal(journal_pruned_leases(j, 1000, add_lease, &sum), 0);
    assert_int_equal(sum, 5 + 7); /* a's attempts; b finished after the cutoff */
    assert_int_equal(journal_prune(j, 1000, &pruned), 0);
    commit_ok(j);
    assert_int_equal(journal_get_attempts(j, "a", &got, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(journal_get_attempts(j, "b", &got, &n), 0);
    assert_int_equal(n, 1);
    journal_attempts_free(got, n);
    journal_close(j);
    free_task(t);
    free_task(u);

    /* As dtr 0.1 left it: no attempts table, version 1. */
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/journal.db", f->state);
    sql_exec(path,
             "DROP TABLE attempts; DROP TABLE changes; DROP TABLE allocs; PRAGMA user_version=1");
    j = open_ok(f->state);
    assert_int_equal(journal_save_attempt(j, &in[2]), 0);
    commit_ok(j);
    assert_int_equal(journal_get_attempts(j, "b", &got, &n), 0);
    assert_int_equal(n, 1);
    journal_attempts_free(got, n);
    journal_close(j);
}

struct each_seen {
    char line[8][64];
    size_t n;
};

static void each_cb(void *arg, uint64_t lease, const char *id, int attempt, uint64_t out_bytes,
                    uint64_t err_bytes, bool known)
{
    struct each_seen *e = arg;
    assert_true(e->n < 8);
    snprintf(e->line[e->n++], sizeof(e->line[0]), "%llu %s %d %llu %llu %d",
             (unsigned long long)lease, id, attempt, (unsigned long long)out_bytes,
             (unsigned long long)err_bytes, known);
}

/* journal_each_output() (a re-seeded group member's output catch-up): every
 * attempt record, and the attempt of each running task as its newest
 * state change says (folded or not), by lease. */
static void test_each_output(void **state)
{
    struct fixture *f = *state;
    struct journal *j = open_ok(f->state);
    struct task *a = mk_task("a", 1), *r = mk_task("r", 2), *q = mk_task("q", 3),
                *s = mk_task("s", 4), *u = mk_task("u", 5);
    a->state = TASK_SUCCEEDED;
    a->attempts = 2;
    r->state = TASK_RUNNING;
    r->attempts = 2;
    r->lease = 9;
    s->state = TASK_RUNNING;
    s->attempts = 1;
    s->lease = 11;
    struct task *all[] = {a, r, q, s, u};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(journal_save_task(j, all[i]), 0);
    struct journal_attempt in[] = {
        {.lease = 7, .id = "a", .attempt = 2, .out_bytes = 2000000, .err_bytes = 3},
        {.lease = 5, .id = "a", .attempt = 1, .out_bytes = 12},
    };
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(journal_save_attempt(j, &in[i]), 0);
    commit_ok(j);
    /* Changes not folded yet: s ended, u started. */
    s->state = TASK_SUCCEEDED;
    s->lease = 0;
    u->state = TASK_RUNNING;
    u->attempts = 1;
    u->lease = 12;
    assert_int_equal(journal_update_task(j, s), 0);
    assert_int_equal(journal_update_task(j, u), 0);
    commit_ok(j);

    struct each_seen e = {0};
    assert_int_equal(journal_each_output(j, each_cb, &e), 0);
    assert_int_equal(e.n, 4);
    assert_string_equal(e.line[0], "5 a 1 12 0 1");
    assert_string_equal(e.line[1], "7 a 2 2000000 3 1");
    assert_string_equal(e.line[2], "9 r 2 0 0 0");
    assert_string_equal(e.line[3], "12 u 1 0 0 0");
    journal_close(j);
    for (size_t i = 0; i < 5; i++)
        free_task(all[i]);
}

static void test_delete_task(void **state)
{
    struct fixture *f = *state;
    struct journal *j = open_ok(f->state);
    struct task *a = mk_task("a", 1), *b = mk_task("b", 2);
    struct task_output o = {.err = (char *)"e", .err_len = 1}, got;
    struct collected c = {0};

    assert_int_equal(journal_save_task(j, a), 0);
    assert_int_equal(journal_save_task(j, b), 0);
    assert_int_equal(journal_save_output(j, "a", &o), 0);
    commit_ok(j);
    assert_int_equal(journal_delete_task(j, "a"), 0);
    assert_int_equal(journal_delete_task(j, "never-was"), 0);
    commit_ok(j);
    journal_close(j);

    j = open_ok(f->state);
    assert_int_equal(journal_get_output(j, "a", &got), DTR_ENOENT);
    assert_int_equal(journal_load(j, collect, &c), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.t[0]->id, "b");
    collected_release(&c);
    journal_close(j);
    free_task(a);
    free_task(b);
}

static void test_load_stops(void **state)
{
    struct journal *j = open_ok(NULL);
    struct collected c = {.stop_after = 2};
    char id[16];

    (void)state;
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "t%d", i);
        struct task *t = mk_task(id, (uint64_t)i);
        assert_int_equal(journal_save_task(j, t), 0);
        free_task(t);
    }
    assert_int_equal(journal_load(j, collect, &c), 42);
    assert_int_equal(c.n, 2);
    collected_release(&c);
    /* The statement was reset: a second load starts over. */
    c.stop_after = 0;
    assert_int_equal(journal_load(j, collect, &c), 0);
    assert_int_equal(c.n, 5);
    collected_release(&c);
    journal_close(j);
}

static void test_in_memory(void **state)
{
    struct journal *j = open_ok(NULL), *j2 = open_ok(NULL); /* no lock: two at once */
    struct task *t = mk_task("m", 7);
    struct task_output o = {.result = (char *)"{}"}, got;
    struct collected c = {0};
    uint64_t v;

    (void)state;
    assert_int_equal(journal_save_task(j, t), 0);
    assert_int_equal(journal_save_output(j, "m", &o), 0);
    assert_int_equal(journal_set_counter(j, "x", 5), 0);
    commit_ok(j);
    assert_int_equal(journal_load(j, collect, &c), 0);
    assert_int_equal(c.n, 1);
    assert_task_equal(c.t[0], t);
    assert_int_equal(journal_get_output(j, "m", &got), 0);
    assert_string_equal(got.result, "{}");
    task_output_release(&got);
    assert_int_equal(journal_get_counter(j, "x", &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(journal_get_output(j2, "m", &got), DTR_ENOENT);
    collected_release(&c);
    free_task(t);
    journal_close(j);
    journal_close(j2);
    journal_close(NULL);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count_and_free(struct task *t, void *data)
{
    (*(size_t *)data)++;
    free_task(t);
    return 0;
}

/* Not a pass/fail check: prints the rates so regressions are noticed. */
static void test_throughput(void **state)
{
    enum { N = 100000 };
    struct fixture *f = *state;
    struct journal *j = open_ok(f->state);
    struct task *t = mk_task("x", 0);
    char id[32];
    size_t loaded = 0;
    double t0, t1, t2, t3, t4;

    t->id = id; /* reused: saving copies nothing we keep */
    t->spec = ("{\"cmd\":[\"sh\",\"-c\",\"make -C /src/project test TEST=unit/some_test\"],"
               "\"env\":{\"LANG\":\"C.UTF-8\"},\"timeout_ms\":600000,\"cwd\":\"/src\"}");
    t0 = now_s();
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "01HZX%011d", i);
        t->seq = (uint64_t)i;
        assert_int_equal(journal_save_task(j, t), 0);
    }
    commit_ok(j);
    t1 = now_s();

    /* The common update: every task changes state once. */
    t->state = TASK_RUNNING;
    set_str(&t->worker, "worker-1");
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "01HZX%011d", i);
        t->seq = (uint64_t)i;
        assert_int_equal(journal_save_task(j, t), 0);
    }
    commit_ok(j);
    t2 = now_s();
    assert_int_equal(journal_load(j, count_and_free, &loaded), 0);
    t3 = now_s();
    assert_int_equal(loaded, N);

    /* A quiet loop turn: one row, one commit, one fsync. */
    for (int i = 0; i < 100; i++) {
        t->seq = (uint64_t)i;
        assert_int_equal(journal_save_task(j, t), 0);
        commit_ok(j);
    }
    t4 = now_s();

    print_message("journal: insert %d tasks + commit: %.0f rows/s\n", N, N / (t1 - t0));
    print_message("journal: update %d tasks + commit: %.0f rows/s\n", N, N / (t2 - t1));
    print_message("journal: load %d tasks: %.0f rows/s\n", N, N / (t3 - t2));
    print_message("journal: 1-row commit: %.2f ms\n", (t4 - t3) * 1000 / 100);
    t->id = NULL;
    free_task(t);
    journal_close(j);
}

/* A row carries every persistent field from a task and back; a row that
 * cannot be a task is refused. Rows saved and updated directly are what the
 * journal writer does. */
static void test_row(void **state)
{
    struct fixture *f = *state;
    struct task *t = mk_task("r", 9), *back;
    struct journal_row r;
    struct collected c = {0};
    struct journal *j;

    t->state = TASK_RUNNING;
    t->attempts = 2;
    t->crashes = 1;
    t->lease = UINT64_MAX;
    set_str(&t->worker, "w1");
    t->exit_code = 4;
    set_str(&t->error, "lost");
    t->started_at = 1700000001000;
    t->not_before = 1700000000500;
    t->priority = -3;
    t->max_retries = 7;
    journal_row_from_task(&r, t);
    back = journal_row_new_task(&r);
    assert_non_null(back);
    assert_task_equal(back, t);
    free_task(back);

    r.state = TASK_NSTATES;
    assert_null(journal_row_new_task(&r));
    r.state = (int64_t)1 << 32; /* would read as 0 through an int */
    assert_null(journal_row_new_task(&r));
    r.state = TASK_RUNNING;
    r.spec = NULL;
    assert_null(journal_row_new_task(&r));
    r.spec = t->spec;

    /* A saved row, then a state change of it. */
    j = open_ok(f->state);
    assert_int_equal(journal_save_row(j, &r), 0);
    assert_int_equal(task_set_state(t, TASK_SUCCEEDED, 1700000002000), 0);
    journal_row_from_task(&r, t);
    assert_int_equal(journal_update_row(j, &r), 0);
    commit_ok(j);
    journal_close(j);

    j = open_ok(f->state);
    assert_int_equal(journal_load(j, collect, &c), 0);
    assert_int_equal(c.n, 1);
    assert_task_equal(c.t[0], t);
    collected_release(&c);
    journal_close(j);
    free_task(t);
}

/* The WAL is written ahead of SQLite, with zeros, where that spares the
 * inode's write at each commit (ext4, xfs). A master killed with such a
 * WAL loses nothing on reopen: recovery stops at the zeros. */
static void test_wal_written_ahead(void **state)
{
    enum { N = 40 };
    struct fixture *f = *state;
    struct collected c = {0};
    struct statfs fs;
    struct stat sb;
    char wal[PATH_MAX + 16], id[32];
    pid_t pid;
    int status;

    snprintf(wal, sizeof(wal), "%s/journal.db-wal", f->state);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct journal *j = open_ok(f->state);
        char err[512];
        for (int i = 0; i < N; i++) {
            snprintf(id, sizeof(id), "t-%02d", i);
            struct task *t = mk_task(id, (uint64_t)i);
            if (journal_save_task(j, t) != 0 || journal_commit(j, err, sizeof(err)) != 0)
                _exit(1);
            free_task(t);
        }
        _exit(0); /* killed: no close, no checkpoint; the WAL stays */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    assert_int_equal(stat(wal, &sb), 0);
    assert_int_equal(statfs(f->state, &fs), 0);
    if (fs.f_type == 0xEF53 || fs.f_type == 0x58465342) {
        if ((uint64_t)fs.f_bavail * fs.f_bsize > 1024ull * 1024 * 1024)
            assert_true(sb.st_size > 16 * 1024 * 1024);
    } else {
        assert_true(sb.st_size < 4 * 1024 * 1024);
    }

    struct journal *j = open_ok(f->state);
    assert_int_equal(journal_load(j, collect, &c), 0);
    assert_int_equal(c.n, N);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "t-%02d", i);
        assert_non_null(find(&c, id));
    }
    collected_release(&c);
    journal_close(j);
}

#define DIR_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_dir, teardown_dir)

int main(void)
{
    const struct CMUnitTest tests[] = {
        DIR_TEST(test_roundtrip),
        DIR_TEST(test_uncommitted_visible_and_close_commits),
        DIR_TEST(test_fault_rollback),
        DIR_TEST(test_failed_write_rolls_back_group),
        DIR_TEST(test_second_open_in_use),
        DIR_TEST(test_garbage_db),
        DIR_TEST(test_foreign_or_newer_db),
        DIR_TEST(test_readonly_dir),
        DIR_TEST(test_creates_nested_dir),
        DIR_TEST(test_counters),
        DIR_TEST(test_prune),
        DIR_TEST(test_fold),
        DIR_TEST(test_attempts),
        DIR_TEST(test_each_output),
        DIR_TEST(test_delete_task),
        DIR_TEST(test_row),
        DIR_TEST(test_wal_written_ahead),
        cmocka_unit_test(test_load_stops),
        cmocka_unit_test(test_in_memory),
        DIR_TEST(test_throughput),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
