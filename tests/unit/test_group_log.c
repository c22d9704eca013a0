/* SPDX-License-Identifier: MIT */
/*
 * A master group's log, without Raft: a leader's journal writer in
 * replicated mode hands its batches out as entries (captured here), and a
 * follower's writer applies them. The follower's journal then holds what
 * the leader's does (tasks, state changes, attempts, counters, output
 * pieces, prunes); the leader's own batches come back and count as done
 * only once applied; damaged entries are refused without harm; and a
 * journal image restores another journal whole.
 */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "journal/journal.h"
#include "journal/writer.h"

#define MAX_ENTRIES 64

struct fixture {
    char dir[1024];
    struct journal *ja, *jb;
    struct jwriter *wa, *wb;
    void *entries[MAX_ENTRIES];
    size_t lens[MAX_ENTRIES], n;
    /* what the follower's files.write saw */
    char pieces[4096];
    size_t npieces;
    uint64_t dropped;
};

static void no_wake(void *data)
{
    (void)data;
}

static int capture(void *data, void *entry, size_t len)
{
    struct fixture *f = data;
    assert_true(f->n < MAX_ENTRIES);
    f->entries[f->n] = entry;
    f->lens[f->n++] = len;
    return 0;
}

static int piece(void *arg, uint64_t lease, int stream, uint64_t offset, const void *data,
                 size_t len, char *err, size_t errlen)
{
    struct fixture *f = arg;
    (void)err;
    (void)errlen;
    f->npieces += (size_t)snprintf(f->pieces + f->npieces, sizeof(f->pieces) - f->npieces,
                                   "%llu.%d@%llu:", (unsigned long long)lease, stream,
                                   (unsigned long long)offset);
    assert_true(f->npieces + len + 1 < sizeof(f->pieces));
    memcpy(f->pieces + f->npieces, data, len);
    f->npieces += len;
    f->pieces[f->npieces++] = ';';
    return 0;
}

static void drop(void *arg, uint64_t lease)
{
    struct fixture *f = arg;
    f->dropped = lease;
}

static struct journal *open_at(struct fixture *f, const char *name)
{
    char path[1100], err[512] = "";
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    struct journal *j = journal_open(path, err, sizeof(err));
    if (!j)
        fail_msg("journal_open(%s): %s", path, err);
    return j;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[512];
    snprintf(f->dir, sizeof(f->dir), "/tmp/dtr-grouplog-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->ja = open_at(f, "a");
    f->jb = open_at(f, "b");
    f->wa = jwriter_start(f->ja, no_wake, NULL, err, sizeof(err));
    f->wb = jwriter_start(f->jb, no_wake, NULL, err, sizeof(err));
    jwriter_replicate(f->wa, capture, f, 1111);
    jwriter_replicate(f->wb, capture, f, 2222);
    jwriter_set_files(f->wb, &(struct jwriter_files){piece, drop, f});
    *state = f;
    return 0;
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    jwriter_stop(f->wa);
    jwriter_stop(f->wb);
    journal_close(f->ja);
    journal_close(f->jb);
    for (size_t i = 0; i < f->n; i++)
        free(f->entries[i]);
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Applies entries [from, n) to both writers, in order, and commits. */
static void apply_from(struct fixture *f, size_t from)
{
    char err[512];
    for (size_t i = from; i < f->n; i++) {
        assert_int_equal(jwriter_apply_entry(f->wa, f->entries[i], f->lens[i], err, sizeof(err)),
                         0);
        assert_int_equal(jwriter_apply_entry(f->wb, f->entries[i], f->lens[i], err, sizeof(err)),
                         0);
    }
    assert_true(jwriter_settle(f->wa, err, sizeof(err)));
    assert_true(jwriter_settle(f->wb, err, sizeof(err)));
}

static int count_task(struct task *t, void *data)
{
    struct task **last = data;
    task_free(*last);
    *last = t;
    return 0;
}

static struct task *last_task(struct journal *j)
{
    struct task *t = NULL;
    assert_int_equal(journal_load(j, count_task, &t), 0);
    return t;
}

static void test_follower_holds_what_the_leader_does(void **state)
{
    struct fixture *f = *state;
    char err[512];
    uint64_t done;
    struct task *t = task_new("t1", "{\"cmd\":[\"echo\",\"hi\"]}", 2, 3, 1, 1700000000000);

    jwriter_save_task(f->wa, t);
    jwriter_set_counter(f->wa, "lease", 7);
    uint64_t e1 = jwriter_handoff(f->wa);
    assert_int_equal(e1, 1);
    assert_int_equal(f->n, 1);
    assert_true(jwriter_done(f->wa, &done, err, sizeof(err)));
    assert_int_equal(done, 0); /* not back yet */

    t->state = TASK_SUCCEEDED;
    t->lease = 7;
    t->attempts = 1;
    t->finished_at = 1700000001000;
    jwriter_update_task(f->wa, t);
    jwriter_save_output_data(f->wa, 7, 0, 0, "hello\n", 6);
    jwriter_save_output_data(f->wa, 7, 1, 0, "\0bin\xff", 5);
    struct journal_attempt a = {.lease = 7,
                                .id = "t1",
                                .attempt = 1,
                                .worker = "w1",
                                .exit_code = 0,
                                .started_at = 1700000000500,
                                .finished_at = 1700000001000,
                                .out_bytes = 6,
                                .err_bytes = 5};
    jwriter_save_attempt(f->wa, &a);
    assert_int_equal(jwriter_handoff(f->wa), 2);
    assert_int_equal(jwriter_handoff(f->wa), 2); /* nothing new: the same epoch */
    apply_from(f, 0);
    assert_true(jwriter_done(f->wa, &done, err, sizeof(err)));
    assert_int_equal(done, 2);

    struct task *b = last_task(f->jb);
    assert_non_null(b);
    assert_string_equal(b->id, "t1");
    assert_int_equal(b->state, TASK_SUCCEEDED);
    assert_int_equal(b->lease, 7);
    uint64_t v = 0;
    assert_int_equal(journal_get_counter(f->jb, "lease", &v), 0);
    assert_int_equal(v, 7);
    struct journal_attempt *rows;
    size_t n;
    assert_int_equal(journal_get_attempts(f->jb, "t1", &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].worker, "w1");
    assert_int_equal(rows[0].err_bytes, 5);
    journal_attempts_free(rows, n);
    /* The follower wrote the pieces; the leader, which wrote them itself, did not. */
    assert_memory_equal(f->pieces, "7.0@0:hello\n;7.1@0:\0bin\xff;", 23);
    task_free(b);

    /* A prune goes to every member, files and all. */
    jwriter_prune(f->wa, 1800000000000);
    jwriter_handoff(f->wa);
    apply_from(f, 2);
    assert_null(last_task(f->jb));
    assert_null(last_task(f->ja));
    assert_int_equal(f->dropped, 7);
    task_free(t);
}

static void test_damaged_entries_are_refused(void **state)
{
    struct fixture *f = *state;
    char err[512];
    struct task *t = task_new("t2", "{\"cmd\":[\"true\"]}", 2, 3, 2, 1700000000000);
    jwriter_save_task(f->wa, t);
    jwriter_save_output_data(f->wa, 9, 0, 0, "abc", 3);
    jwriter_handoff(f->wa);
    assert_int_equal(f->n, 1);
    unsigned char *e = f->entries[0];
    size_t len = f->lens[0];
    assert_int_equal(len % 8, 0); /* C-Raft's log wants that */
    unsigned char *copy = malloc(len);

    /* Every truncation, and a flipped byte at every position: refused or
     * applied, never a crash (the sanitizers watch). */
    for (size_t cut = 0; cut < len; cut++) {
        int rc = jwriter_apply_entry(f->wb, e, cut, err, sizeof(err));
        assert_true(rc == -1 || (cut >= len - 7 && rc == 0));
    }
    for (size_t i = 0; i < len; i++) {
        memcpy(copy, e, len);
        copy[i] ^= 0x5a;
        (void)jwriter_apply_entry(f->wb, copy, len, err, sizeof(err));
    }
    memcpy(copy, e, len);
    copy[0] = 'X';
    assert_int_equal(jwriter_apply_entry(f->wb, copy, len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a dtr journal entry"));
    free(copy);
    task_free(t);
}

static void test_image_restores_a_journal(void **state)
{
    struct fixture *f = *state;
    char err[512];
    struct task *t = task_new("t3", "{\"cmd\":[\"true\"]}", 2, 3, 3, 1700000000000);
    assert_int_equal(journal_save_task(f->ja, t), 0);
    assert_int_equal(journal_set_counter(f->ja, "seq", 42), 0);
    assert_int_equal(journal_commit(f->ja, err, sizeof(err)), 0);
    void *img;
    size_t len;
    assert_int_equal(journal_image(f->ja, &img, &len, err, sizeof(err)), 0);
    assert_true(len > 0);
    if (journal_restore_image(f->jb, img, len, err, sizeof(err)) != 0)
        fail_msg("restore: %s", err);
    struct task *b = last_task(f->jb);
    assert_non_null(b);
    assert_string_equal(b->id, "t3");
    uint64_t v = 0;
    assert_int_equal(journal_get_counter(f->jb, "seq", &v), 0);
    assert_int_equal(v, 42);
    task_free(b);
    /* Not an image: refused, the journal untouched. */
    memset(img, 'x', len < 200 ? len : 200);
    assert_int_not_equal(journal_restore_image(f->jb, img, len, err, sizeof(err)), 0);
    b = last_task(f->jb);
    assert_non_null(b);
    task_free(b);
    /* Still a WAL journal that takes writes. */
    assert_int_equal(journal_set_counter(f->jb, "seq", 43), 0);
    assert_int_equal(journal_commit(f->jb, err, sizeof(err)), 0);
    free(img);
    task_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_follower_holds_what_the_leader_does, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_entries_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_restores_a_journal, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
