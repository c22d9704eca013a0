/* SPDX-License-Identifier: MIT */
/*
 * The master's output writer (master/owriter.c): pieces land in their
 * files in order, a sync waits for the writes queued before it, a failed
 * write makes every later wait fail (with the file's name and the errno),
 * and the queue never holds more than OWRITER_MAX_QUEUED bytes (the loop
 * waits instead). And the journal writer's wait operation: a batch whose
 * wait fails is not committed and the writer fails with its message.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "journal/journal.h"
#include "journal/writer.h"
#include "master/owriter.h"

static char *tmpdir(void)
{
    char *d = strdup("/tmp/dtr-test-owriter.XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void rmrf(const char *d)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
}

/* Pieces are appended in order; the sync's wait sees all of them. */
static void test_order_and_sync(void **state)
{
    (void)state;
    char err[256] = "", path[300], got[64] = "";
    char *d = tmpdir();
    snprintf(path, sizeof(path), "%s/1.out", d);
    struct owriter *w = owriter_start(NULL, NULL, err, sizeof(err));
    assert_non_null(w);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    uint64_t s1 = owriter_write(w, fd, "1.out", "hello ", 6);
    uint64_t s2 = owriter_write(w, fd, "1.out", "world\n", 6);
    uint64_t s3 = owriter_sync_close(w, fd, "1.out");
    assert_true(s1 < s2 && s2 < s3);
    assert_int_equal(owriter_wait(w, s3, err, sizeof(err)), 0);
    assert_int_equal(owriter_queued(w), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fread(got, 1, sizeof(got) - 1, f), 12);
    fclose(f);
    assert_string_equal(got, "hello world\n");
    owriter_stop(w);
    owriter_stop(NULL);
    rmrf(d);
    free(d);
}

/* A write that fails (here: a file opened for reading) is final. */
static void test_failure_is_final(void **state)
{
    (void)state;
    char err[256] = "", path[300];
    char *d = tmpdir();
    snprintf(path, sizeof(path), "%s/2.err", d);
    close(open(path, O_WRONLY | O_CREAT, 0600));
    struct owriter *w = owriter_start(NULL, NULL, err, sizeof(err));
    int ro = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(ro >= 0);
    uint64_t s = owriter_write(w, ro, "2.err", "x", 1);
    assert_int_equal(owriter_wait(w, s, err, sizeof(err)), -1);
    assert_string_equal(err, "cannot write output file 2.err: Bad file descriptor");
    /* Later operations are done (files closed) but waits still fail. */
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    owriter_write(w, fd, "2.err", "y", 1);
    s = owriter_sync_close(w, fd, "2.err");
    err[0] = '\0';
    assert_int_equal(owriter_wait(w, s, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "2.err"));
    owriter_close(w, ro);
    owriter_stop(w);
    rmrf(d);
    free(d);
}

/* A slow sink (a pipe read slowly by another thread): the queue stays
 * within its bound, and every byte arrives, in order. */
struct sink {
    int fd;
    size_t total;
    unsigned char next;
    bool bad;
};

static void *drain(void *arg)
{
    struct sink *s = arg;
    unsigned char buf[65536];
    ssize_t n;
    while ((n = read(s->fd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != s->next++)
                s->bad = true;
        s->total += (size_t)n;
        usleep(200); /* slower than the queue fills */
    }
    return NULL;
}

static void test_bounded_queue(void **state)
{
    (void)state;
    char err[256] = "";
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct sink s = {.fd = p[0]};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, drain, &s), 0);
    struct owriter *w = owriter_start(NULL, NULL, err, sizeof(err));
    static unsigned char piece[256 * 1024];
    unsigned char c = 0;
    size_t most = 0;
    uint64_t seq = 0;
    for (int i = 0; i < 160; i++) { /* 40 MiB */
        for (size_t k = 0; k < sizeof(piece); k++)
            piece[k] = c++;
        seq = owriter_write(w, p[1], "pipe", piece, sizeof(piece));
        size_t q = owriter_queued(w);
        most = q > most ? q : most;
        assert_true(q <= OWRITER_MAX_QUEUED);
    }
    assert_int_equal(owriter_wait(w, seq, err, sizeof(err)), 0);
    owriter_close(w, p[1]);
    owriter_stop(w);
    pthread_join(th, NULL);
    close(p[0]);
    assert_int_equal(s.total, 160 * sizeof(piece));
    assert_false(s.bad);
    assert_true(most > OWRITER_MAX_QUEUED / 2); /* it did fill up */
}

/* The journal writer's wait: run before the commit; a failure keeps the
 * batch from being committed and is the writer's error from then on. */
static int wait_calls;
static int wait_ok(void *arg, uint64_t token, char *err, size_t errlen)
{
    (void)arg;
    (void)err;
    (void)errlen;
    assert_true(token == 7);
    wait_calls++;
    return 0;
}

static int wait_fails(void *arg, uint64_t token, char *err, size_t errlen)
{
    (void)arg;
    (void)token;
    snprintf(err, errlen, "cannot sync output file 9.out: Input/output error");
    return -1;
}

static void no_wake(void *data)
{
    (void)data;
}

static void test_jwriter_wait(void **state)
{
    (void)state;
    char err[512] = "";
    char *d = tmpdir();
    struct journal *j = journal_open(d, err, sizeof(err));
    assert_non_null(j);
    struct jwriter *w = jwriter_start(j, no_wake, NULL, err, sizeof(err));
    assert_non_null(w);
    jwriter_set_counter(w, "c", 1);
    jwriter_wait(w, wait_ok, NULL, 7);
    assert_true(jwriter_drain(w, err, sizeof(err)));
    assert_int_equal(wait_calls, 1);
    jwriter_wait(w, wait_fails, NULL, 8);
    jwriter_set_counter(w, "c", 2);
    assert_false(jwriter_drain(w, err, sizeof(err)));
    assert_string_equal(err, "cannot sync output file 9.out: Input/output error");
    jwriter_stop(w);
    journal_close(j);
    /* What is on disk: the first batch only. */
    j = journal_open(d, err, sizeof(err));
    assert_non_null(j);
    uint64_t v = 0;
    assert_int_equal(journal_get_counter(j, "c", &v), 0);
    assert_int_equal(v, 1);
    journal_close(j);
    rmrf(d);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_sync),
        cmocka_unit_test(test_failure_is_final),
        cmocka_unit_test(test_bounded_queue),
        cmocka_unit_test(test_jwriter_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
