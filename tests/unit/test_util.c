/* SPDX-License-Identifier: MIT */
/* Unit tests for common/util's file helpers: file_whole_bytes() counts a
 * file's bytes up to its first hole, so that a file whose last pieces were
 * written before the ones ahead of them is not taken for whole. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"

#define MIB (1024 * 1024)

static char path[4096];

static int make_file(void **state UNUSED)
{
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(path, sizeof(path), "%s/dtr-test-util.XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int remove_file(void **state UNUSED)
{
    unlink(path);
    return 0;
}

static void put(off_t at, size_t len)
{
    char *b = xmalloc(len);
    memset(b, 'x', len);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, b, len, at), (ssize_t)len);
    close(fd);
    free(b);
}

static void test_missing_and_empty(void **state UNUSED)
{
    assert_int_equal(file_whole_bytes("/nonexistent/dtr-test-util"), 0);
    assert_int_equal(file_whole_bytes(path), 0);
}

static void test_written_from_the_start(void **state UNUSED)
{
    put(0, 100);
    assert_int_equal(file_whole_bytes(path), 100);
    put(100, MIB);
    assert_int_equal(file_whole_bytes(path), MIB + 100);
}

static void test_hole_before_the_last_pieces(void **state UNUSED)
{
    /* Whole blocks of the file system: a hole is found in blocks. */
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    close(fd);
    size_t blk = st.st_blksize >= 4096 ? (size_t)st.st_blksize : 4096;
    /* The last piece first: the file has its full size, and nothing whole. */
    put((off_t)(16 * blk), 100);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    off_t hole = lseek(fd, 0, SEEK_HOLE);
    close(fd);
    if (hole != 0)
        skip(); /* this file system reports no holes (or not this one) */
    assert_int_equal(file_whole_bytes(path), 0);
    /* The first block came: whole up to there. */
    put(0, blk);
    assert_int_equal(file_whole_bytes(path), blk);
    /* The rest came: all of it. */
    put((off_t)blk, 15 * blk);
    assert_int_equal(file_whole_bytes(path), 16 * blk + 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_missing_and_empty, make_file, remove_file),
        cmocka_unit_test_setup_teardown(test_written_from_the_start, make_file, remove_file),
        cmocka_unit_test_setup_teardown(test_hole_before_the_last_pieces, make_file, remove_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
